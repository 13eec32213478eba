"""Tessera: Dask-style parallel arrays and dataframes computed by a Rust engine on a real
multi-process cluster. `import tessera as ts; import tessera.array as ta;
import tessera.dataframe as td`, then use Dask's names; `ts.sql(...)` queries tables."""

from tessera._core import ClusterError, TaskError
from tessera.distributed import (Client, LocalCluster, Security, compute, get_client,
                                 persist)
from tessera.diagnostics import ProgressBar, performance_report
from tessera.futures import (
    ComputeFuture,
    Delayed,
    Future,
    as_completed,
    delayed,
    progress,
    wait,
)

from tessera import config  # noqa: E402

from tessera import array  # noqa: E402  (after the classes it uses)

__version__ = "0.1.0"


def sql(query, tables=None, client=None):
    """Plan a SQL query over `tables` (name -> tessera or pandas DataFrame, pyarrow Table
    or Parquet/CSV path); a lazy `tessera.dataframe.DataFrame` (needs pandas, pyarrow)."""
    from tessera.dataframe import sql as _sql

    return _sql(query, tables=tables, client=client)


def __getattr__(name):
    # `ts.dataframe` imports pandas and pyarrow only when first used.
    if name == "dataframe":
        import importlib

        return importlib.import_module("tessera.dataframe")
    raise AttributeError(f"module 'tessera' has no attribute {name!r}")

__all__ = [
    "Client",
    "Delayed",
    "ComputeFuture",
    "Future",
    "ClusterError",
    "LocalCluster",
    "Security",
    "TaskError",
    "array",
    "as_completed",
    "ProgressBar",
    "compute",
    "delayed",
    "config",
    "get_client",
    "performance_report",
    "persist",
    "progress",
    "sql",
    "wait",
]
