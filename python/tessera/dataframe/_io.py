"""Where tessera DataFrames come from (Parquet, CSV, pandas, pyarrow, tessera arrays) and
`sql`: each is planned in a table context of the current client's cluster."""

import glob as _glob
import os

import pyarrow as pa

from tessera import _core
from tessera.dataframe import _types
from tessera.dataframe._frame import DataFrame


def _client(client=None):
    from tessera.distributed import get_client

    return client if client is not None else get_client()


def _context(client=None):
    """The table context of `client` (the current client by default), made on first use."""
    client = _client(client)
    ctx = getattr(client, "_table_context", None)
    if ctx is None:
        ctx = _core.Context(client._core)
        client._table_context = ctx
    return ctx


def _paths(path):
    if isinstance(path, (list, tuple)):
        return [os.fspath(p) for p in path]
    return [os.fspath(path)]


def _union(frames):
    out = frames[0]
    for f in frames[1:]:
        out = DataFrame(out._core.union(f._core))
    return out


_FILTER_OPS = {"==": "==", "=": "==", "!=": "!=", "<": "<", "<=": "<=", ">": ">", ">=": ">="}


def _filter_expr(frame, filters):
    """pyarrow/Dask `filters` (a list of `(col, op, value)` ANDed, or a list of such lists
    ORed) as one boolean Series of `frame`."""
    groups = filters if filters and isinstance(filters[0], list) else [filters]
    ored = None
    for group in groups:
        anded = None
        for column, op, value in group:
            s = frame[column]
            if op in _FILTER_OPS:
                term = s._compare(_FILTER_OPS[op], value)
            elif op == "in":
                term = s.isin(value)
            elif op == "not in":
                term = ~s.isin(value)
            else:
                raise ValueError(f"unknown filter operator {op!r}")
            anded = term if anded is None else anded & term
        ored = anded if ored is None else ored | anded
    return ored


def read_parquet(path, columns=None, filters=None, client=None, **kwargs):
    """A DataFrame reading Parquet: a file, a directory of files, a glob, or a list of
    them. `columns` selects columns; `filters` keeps rows (`[("a", ">", 1), ...]`)."""
    if kwargs:
        raise TypeError(f"read_parquet() got unexpected keyword arguments {sorted(kwargs)}")
    ctx = _context(client)
    frame = _union([DataFrame(ctx.read_parquet(p)) for p in _paths(path)])
    if filters:
        frame = frame[_filter_expr(frame, filters)]
    if columns is not None:
        frame = frame[[columns] if isinstance(columns, str) else list(columns)]
    return frame


def _extension(path):
    if _glob.has_magic(path):
        return ""  # the glob chooses the files
    if os.path.isdir(path):
        return ".csv"
    return os.path.splitext(path)[1]


def read_csv(path, sep=",", delimiter=None, header="infer", names=None, dtype=None,
             usecols=None, comment=None, quotechar='"', na_values=None,
             schema_infer_max_records=1000, client=None, **kwargs):
    """A DataFrame reading CSV files (a file, a directory of `.csv` files, a glob, or a
    list). Types are inferred from the first `schema_infer_max_records` rows unless
    `dtype` gives them; `header=None` reads a file without a header (with `names`)."""
    if kwargs:
        raise TypeError(f"read_csv() got unsupported keyword arguments {sorted(kwargs)}")
    delimiter = delimiter if delimiter is not None else sep
    if header not in ("infer", 0, None):
        raise ValueError("header must be 'infer', 0 or None")
    has_header = header is not None
    null_regex = None
    if na_values is not None:
        values = [na_values] if isinstance(na_values, str) else list(na_values)
        if any(str(v) != "" for v in values):
            # DataFusion 55 uses its null_regex option when inferring the schema but its
            # CSV reader ignores it, so "NA" in an integer column fails the read.
            raise NotImplementedError(
                "read_csv(na_values=...) is not supported yet: only empty fields are read "
                f"as missing values, not {values!r}"
            )
    ctx = _context(client)

    def read(p, schema=None):
        return DataFrame(ctx.read_csv(
            p, has_header=has_header, delimiter=delimiter, quote=quotechar, comment=comment,
            schema=schema, schema_infer_max_records=int(schema_infer_max_records),
            file_extension=_extension(p), null_regex=null_regex,
        ))

    frames = []
    for p in _paths(path):
        frame = read(p)
        if names is not None or dtype is not None:
            frame = read(p, _schema(frame.schema, names, dtype))
        frames.append(frame)
    frame = _union(frames)
    if usecols is not None:
        frame = frame[list(usecols)]
    return frame


def _schema(inferred, names, dtype):
    """The inferred CSV schema with `names` and `dtype` (one dtype or a dict) applied."""
    fields = list(inferred)
    if names is not None:
        names = list(names)
        if len(names) != len(fields):
            raise ValueError(f"{len(names)} names for {len(fields)} columns")
        fields = [pa.field(n, f.type) for n, f in zip(names, fields)]
    if dtype is not None:
        by_name = dtype if isinstance(dtype, dict) else {f.name: dtype for f in fields}
        missing = [c for c in by_name if c not in [f.name for f in fields]]
        if missing:
            raise KeyError(f"dtype names unknown columns {missing}")
        fields = [
            pa.field(f.name, _types.arrow_type(by_name[f.name])) if f.name in by_name else f
            for f in fields
        ]
    return pa.schema(fields)


def _batches(table):
    batches = table.to_batches()
    if not batches:
        batches = [pa.RecordBatch.from_arrays(
            [pa.array([], type=f.type) for f in table.schema], schema=table.schema
        )]
    return batches


def from_arrow(table, npartitions=1, client=None):
    """A DataFrame of a pyarrow Table (or RecordBatch), stored on the workers in
    `npartitions` partitions; Arrow buffers are read in place, not copied."""
    if isinstance(table, pa.RecordBatch):
        table = pa.Table.from_batches([table])
    if not isinstance(table, pa.Table):
        raise TypeError(f"from_arrow needs a pyarrow Table, not {type(table).__name__}")
    npartitions = int(npartitions)
    if npartitions < 1:
        raise ValueError("npartitions must be at least 1")
    return DataFrame(_context(client).from_batches(_batches(table), npartitions))


def from_pandas(data, npartitions=None, chunksize=None, sort=True, client=None):
    """A DataFrame of a pandas DataFrame (or Series), stored on the workers in
    `npartitions` partitions (or partitions of `chunksize` rows; one by default, as in
    Dask). A non-default index becomes columns: tessera DataFrames have no index."""
    import pandas as pd

    if isinstance(data, pd.Series):
        data = data.to_frame()
    if not isinstance(data, pd.DataFrame):
        raise TypeError(f"from_pandas needs a pandas DataFrame, not {type(data).__name__}")
    if npartitions is not None and chunksize is not None:
        raise ValueError("pass npartitions or chunksize, not both")
    if chunksize is not None:
        if int(chunksize) < 1:
            raise ValueError("chunksize must be at least 1")
        npartitions = max(1, -(-len(data) // int(chunksize)))
    named = any(n is not None for n in data.index.names)
    if named or not isinstance(data.index, pd.RangeIndex):
        data = data.reset_index()
    data = data.rename(columns=str)
    table = pa.Table.from_pandas(data, preserve_index=False)
    return from_arrow(table, 1 if npartitions is None else npartitions, client)


def from_dask_array(x, columns=None, client=None):
    """A DataFrame of a 1-d tessera array (one column) or a 2-d one (one column per array
    column), built on the cluster; columns are named `columns` or 0, 1, ..."""
    from tessera.array import Array

    if not isinstance(x, Array):
        raise TypeError(f"from_dask_array needs a tessera array, not {type(x).__name__}")
    if x.ndim == 1:
        parts = [x]
    elif x.ndim == 2:
        parts = [x[:, i] for i in range(x.shape[1])]
    else:
        raise ValueError(f"from_dask_array needs a 1-d or 2-d array, not {x.ndim}-d")
    if columns is None:
        columns = [str(i) for i in range(len(parts))]
    columns = [columns] if isinstance(columns, str) else [str(c) for c in columns]
    if len(columns) != len(parts):
        raise ValueError(f"{len(columns)} column names for {len(parts)} columns")
    return DataFrame(_context(client).from_arrays(
        [(c, p._core) for c, p in zip(columns, parts)]
    ))


def _as_frame(value, client):
    import pandas as pd

    if isinstance(value, DataFrame):
        return value
    if isinstance(value, (pd.DataFrame, pd.Series)):
        return from_pandas(value, client=client)
    if isinstance(value, (pa.Table, pa.RecordBatch)):
        return from_arrow(value, client=client)
    if isinstance(value, (str, os.PathLike)):
        path = os.fspath(value)
        is_csv = path.endswith(".csv") or (
            os.path.isdir(path) and _glob.glob(os.path.join(path, "*.csv"))
        )
        return read_csv(path, client=client) if is_csv else read_parquet(path, client=client)
    raise TypeError(
        f"a SQL table is a tessera or pandas DataFrame, a pyarrow Table or a path, not "
        f"{type(value).__name__}"
    )


def sql(query, tables=None, client=None):
    """Plan a SQL query (DataFusion's dialect) over `tables` — a dict of table name to a
    tessera DataFrame, pandas DataFrame, pyarrow Table or Parquet/CSV path — and return
    the result as a lazy tessera DataFrame. Malformed SQL raises ValueError, unknown
    tables and columns KeyError."""
    if not isinstance(query, str):
        raise TypeError("the query must be a string")
    client = _client(client)
    ctx = _core.Context(client._core)
    for name, value in (tables or {}).items():
        ctx.register_dataframe(str(name), _as_frame(value, client)._core)
    return DataFrame(ctx.sql(query))
