"""Tessera: Dask-style parallel arrays computed by a Rust engine on a real multi-process
cluster. `import tessera as ts; import tessera.array as ta`, then use Dask's names."""

from tessera._core import ClusterError, TaskError
from tessera.distributed import Client, LocalCluster, compute, get_client, persist

from tessera import array  # noqa: E402  (after the classes it uses)

__version__ = "0.1.0"

__all__ = [
    "Client",
    "ClusterError",
    "LocalCluster",
    "TaskError",
    "array",
    "compute",
    "get_client",
    "persist",
]
