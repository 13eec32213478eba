"""`tessera.dataframe`: Dask DataFrame's names over tables planned by DataFusion and run on
the tessera cluster. `import tessera.dataframe as td`, then `td.read_parquet`,
`td.read_csv`, `td.from_pandas`, filters, `loc`, `assign`, `groupby(...).agg(...)`,
`merge`, `concat`, `sort_values`, `head`, `persist()`, `compute()` (pandas) and
`to_arrow()` (pyarrow), or `td.sql`.

Differences from Dask: tessera DataFrames have no index (groupby keys stay columns, as
with `as_index=False`, and `value_counts` gives the values and `count` as columns;
results get a RangeIndex; `loc` selects rows by a boolean Series), row order is only kept by
`sort_values`, null join keys never match (SQL semantics), and aggregations with several
functions per column name their columns `col_func`. Needs pandas and pyarrow.
"""

from tessera.dataframe._frame import DataFrame
from tessera.dataframe._groupby import GroupBy, SeriesGroupBy
from tessera.dataframe._io import (
    from_arrow,
    from_dask_array,
    from_pandas,
    read_csv,
    read_parquet,
    sql,
)
from tessera.dataframe._merge import concat, merge
from tessera.dataframe._series import Scalar, Series

__all__ = [
    "DataFrame",
    "GroupBy",
    "Scalar",
    "Series",
    "SeriesGroupBy",
    "concat",
    "from_arrow",
    "from_dask_array",
    "from_pandas",
    "merge",
    "read_csv",
    "read_parquet",
    "sql",
]
