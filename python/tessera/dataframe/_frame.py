"""The tessera DataFrame: Dask's DataFrame API over a lazy DataFusion plan that runs on
the cluster. Frames have no index: keys stay columns and results get a RangeIndex."""

import html

import pyarrow as pa

from tessera import _core, diagnostics
from tessera.dataframe import _types
from tessera.dataframe._series import Scalar, Series


class DataFrame:
    """A lazy, partitioned table on a tessera cluster. Methods return new DataFrames;
    `compute()` runs the query and returns a pandas DataFrame."""

    def __init__(self, core):
        self._core = core
        self._schema = core.schema()
        self._names = [f.name for f in self._schema]

    # -- structure ---------------------------------------------------------------------

    @property
    def columns(self):
        """The column names (a pandas Index)."""
        import pandas as pd

        return pd.Index(self._names, dtype=object)

    @property
    def dtypes(self):
        """The pandas dtype of each column (a pandas Series)."""
        return _types.schema_dtypes(self._schema)

    @property
    def schema(self):
        """The pyarrow schema of the result."""
        return self._schema

    @property
    def _meta(self):
        """An empty pandas DataFrame with the result's columns and dtypes (as Dask's)."""
        return self._schema.empty_table().to_pandas()

    @property
    def npartitions(self):
        """How many partitions the result has (planned, not computed)."""
        return self._core.npartitions()

    def _type_of(self, name):
        return self._schema.field(name).type

    def _check_columns(self, names):
        missing = [n for n in names if n not in self._names]
        if missing:
            raise KeyError(f"{missing} not in columns {self._names}")

    # -- columns and rows --------------------------------------------------------------

    def __getitem__(self, key):
        if isinstance(key, str):
            if key not in self._names:
                raise KeyError(key)
            return Series(self, _core.col(key), key, self._type_of(key))
        if isinstance(key, Series):
            return self._filter(key)
        if isinstance(key, (list, tuple)) or type(key).__name__ == "Index":
            names = list(key)
            if not all(isinstance(n, str) for n in names):
                raise KeyError(f"column names are strings, not {names}")
            self._check_columns(names)
            return DataFrame(self._core.select_columns(names))
        raise TypeError(f"cannot index a DataFrame with {type(key).__name__}")

    def __getattr__(self, name):
        if not name.startswith("_") and name in self.__dict__.get("_names", ()):
            return self[name]
        raise AttributeError(f"'DataFrame' object has no attribute {name!r}")

    def __dir__(self):
        return sorted(set(super().__dir__()) | {n for n in self._names if n.isidentifier()})

    @property
    def loc(self):
        """Dask's `df.loc[rows, columns]` where `rows` is a boolean Series of this frame
        or `:` (there is no index to select labels from) and `columns` a name, a list of
        names or `:`."""
        return _Loc(self)

    def __setitem__(self, key, value):
        if not isinstance(key, str):
            raise TypeError("assign one column at a time, by name")
        new = self.assign(**{key: value})
        self._core, self._schema, self._names = new._core, new._schema, new._names

    def _filter(self, mask):
        t = self._core.expr_type(mask._expr)
        if _types.kind(t) not in ("bool", "null"):
            raise TypeError(f"a filter needs boolean values, not {_types.pandas_dtype(t)}")
        return DataFrame(self._core.filter(mask._expr))

    def _expr_for(self, value):
        if isinstance(value, Series):
            self._core.expr_type(value._expr)  # its columns must be ours
            return value._expr
        if callable(value):
            return self._expr_for(value(self))
        if hasattr(value, "__len__") and not isinstance(value, (str, bytes)):
            raise TypeError(
                f"cannot assign a {type(value).__name__}: tessera DataFrames have no index to "
                "align it on; assign a scalar or an expression of this DataFrame's columns"
            )
        expr, _ = _types.literal(value)
        return expr

    def assign(self, **columns):
        """Add or replace columns: `df.assign(c=df.a + df.b, d=1, e=lambda d: d.c * 2)`."""
        out = self
        for name, value in columns.items():
            out = DataFrame(out._core.with_column(name, out._expr_for(value)))
        return out

    def rename(self, columns=None, errors="ignore", **kwargs):
        """Rename columns with a dict or a function (unknown names are ignored unless
        `errors="raise"`, as in pandas)."""
        if kwargs.get("index") is not None:
            raise ValueError("tessera DataFrames have no index to rename")
        if columns is None:
            raise TypeError("rename needs columns=")
        if callable(columns):
            mapping = {c: str(columns(c)) for c in self._names}
        else:
            mapping = dict(columns)
            if errors == "raise":
                self._check_columns(list(mapping))
        new = [mapping.get(c, c) for c in self._names]
        if len(set(new)) != len(new):
            raise ValueError(f"renaming would duplicate column names: {new}")
        return DataFrame(self._core.select(
            [_core.col(c).alias(n) for c, n in zip(self._names, new)]
        ))

    def drop(self, labels=None, axis=0, columns=None, errors="raise"):
        """Drop columns: `df.drop(columns=["a"])` or `df.drop(["a"], axis=1)`."""
        if columns is None:
            if axis not in (1, "columns"):
                raise ValueError("tessera DataFrames have no index: drop columns (axis=1)")
            columns = labels
        names = [columns] if isinstance(columns, str) else list(columns)
        if errors == "raise":
            self._check_columns(names)
        names = [n for n in names if n in self._names]
        return DataFrame(self._core.drop(names)) if names else self

    def reset_index(self, drop=False):
        """The same DataFrame: there is no index, keys are already columns."""
        return self

    # -- relational --------------------------------------------------------------------

    def groupby(self, by, sort=None, dropna=True, **kwargs):
        """Group rows by key columns; aggregate with `.agg(...)`, `.sum()`, `["x"].mean()`."""
        from tessera.dataframe._groupby import GroupBy

        if kwargs.get("as_index", True) is False:
            kwargs.pop("as_index")  # keys are columns anyway
        if kwargs:
            raise TypeError(f"groupby() got unexpected keyword arguments {sorted(kwargs)}")
        return GroupBy(self, by, sort=sort, dropna=dropna)

    def merge(self, right, how="inner", on=None, left_on=None, right_on=None, **kwargs):
        """Join with `right` on key columns, as `pandas.merge` (see `tessera.dataframe.merge`)."""
        from tessera.dataframe._merge import merge

        return merge(self, right, how=how, on=on, left_on=left_on, right_on=right_on, **kwargs)

    def sort_values(self, by, ascending=True, na_position="last"):
        """Sort by columns; `ascending` is one bool or one per column."""
        by = [by] if isinstance(by, str) else list(by)
        self._check_columns(by)
        asc = [ascending] * len(by) if isinstance(ascending, bool) else list(ascending)
        if len(asc) != len(by):
            raise ValueError(f"ascending has {len(asc)} values for {len(by)} columns")
        if na_position not in ("first", "last"):
            raise ValueError("na_position must be 'first' or 'last'")
        first = na_position == "first"
        return DataFrame(self._core.sort([
            (self._sort_key(c), bool(a), first) for c, a in zip(by, asc)
        ]))

    def _sort_key(self, column):
        """The expression to sort `column` by: floats plus 0.0, so that -0.0 and 0.0 tie
        (and the next key decides) as they do in pandas."""
        key = _core.col(column)
        if pa.types.is_floating(self._type_of(column)):
            zero, _ = _types.literal(0.0)
            key = key.binary("+", zero)
        return key

    def head(self, n=5, npartitions=1, compute=True):
        """The first `n` rows, as a pandas DataFrame (a DataFrame with `compute=False`)."""
        out = DataFrame(self._core.limit(0, int(n)))
        return out.compute() if compute else out

    def drop_duplicates(self, subset=None, keep="first", ignore_index=False, **kwargs):
        """Distinct rows. With `subset`, one row per distinct subset: as there is no row
        order, `keep="first"` keeps the row whose other columns sort first;
        `keep=False` drops every row whose subset repeats."""
        if keep not in ("first", False):
            raise ValueError("keep must be 'first' or False")
        subset = list(self._names) if subset is None else (
            [subset] if isinstance(subset, str) else list(subset))
        self._check_columns(subset)
        if set(subset) == set(self._names) and keep == "first":
            return DataFrame(self._core.distinct())
        others = [c for c in self._names if c not in subset]
        order = [(_core.col(c), True, False) for c in others]
        aggs = [_core.col(c).first_ordered(order).alias(c) for c in others]
        if keep is False:
            aggs.append(_core.count_all().alias("__tessera_rows__"))
        core = self._core.aggregate([_core.col(c) for c in subset], aggs)
        if keep is False:
            one, _ = _types.literal(1)
            core = core.filter(_core.col("__tessera_rows__").binary("==", one))
        return DataFrame(core.select([_core.col(c) for c in self._names]))

    # -- results -----------------------------------------------------------------------

    def to_arrow(self, progress=None):
        """Run the query; the result as a `pyarrow.Table` (exported from Rust, not copied).
        `progress` as for `Client.compute` (a bar past a second in a terminal/notebook)."""
        with diagnostics.progress_hook(progress) as hook:
            return self._core.collect(hook)

    def compute(self, progress=None, **kwargs):
        """Run the query; the result as a pandas DataFrame (with a RangeIndex)."""
        return self.to_arrow(progress).to_pandas()

    def map_partitions(self, func, *args, meta=None, **kwargs):
        """Apply the Python function `func(partition, *args, **kwargs)` to every partition
        as a pandas DataFrame, in the worker processes holding them (shipped with
        cloudpickle). It returns a pandas DataFrame or Series or a pyarrow Table with the
        columns of `meta` (a pandas DataFrame, a pyarrow schema, or `{column: dtype}`),
        inferred by calling `func` on an empty partition when `meta` is not given. The
        result is computed now and kept on the cluster, as a new DataFrame."""
        import cloudpickle

        if not callable(func):
            raise TypeError(f"map_partitions needs a callable, not {type(func).__name__}")
        schema = _meta_schema(meta) if meta is not None else self._infer_schema(func, args, kwargs)
        payload = cloudpickle.dumps((func, args, kwargs, schema))
        try:
            core = self._core.map_partitions(_core.PYTHON_PARTITION, payload, schema)
        except _core.TaskError as e:
            from tessera.futures import remote_exception

            raise remote_exception(e) from None
        return DataFrame(core)

    def persist(self, **kwargs):
        """Compute now and keep the partitions on the cluster (in the workers holding
        them); a DataFrame reading them, so later queries start from the result."""
        import cloudpickle

        # No function: the worker keeps each partition as it is (see _worker.run_partition).
        payload = cloudpickle.dumps((None, (), {}, self._schema))
        try:
            core = self._core.map_partitions(_core.PYTHON_PARTITION, payload, self._schema)
        except _core.TaskError as e:
            from tessera.futures import remote_exception

            raise remote_exception(e) from None
        return DataFrame(core)

    def _infer_schema(self, func, args, kwargs):
        """The schema of `func`'s result on an empty partition (Dask's meta inference)."""
        import pandas as pd

        try:
            out = func(self._meta, *args, **kwargs)
        except Exception as e:
            raise ValueError(
                f"map_partitions could not infer the result's columns by calling "
                f"{getattr(func, '__name__', func)!r} on an empty partition ({e!r}); "
                "pass meta=") from e
        if isinstance(out, pd.Series):
            out = out.to_frame()
        return _meta_schema(out)

    def to_parquet(self, path, **kwargs):
        """Write one Parquet file per partition into directory `path`, each written by the
        worker holding the partition; returns the paths written."""
        if kwargs:
            raise TypeError(f"to_parquet() got unexpected keyword arguments {sorted(kwargs)}")
        import os

        return self._core.to_parquet(os.fspath(path))

    def __len__(self):
        return self._core.count()

    def _reduce(self, func, numeric_only=False):
        from tessera.dataframe._groupby import aggregate_expr

        names = [
            c for c in self._names if not numeric_only or _types.is_numeric(self._type_of(c))
        ]
        exprs = [
            aggregate_expr(self, _core.col(c), self._type_of(c), func).alias(c) for c in names
        ]
        core = self._core.aggregate([], exprs)

        def finish(table):
            import pandas as pd

            row = table.to_pandas()
            return pd.Series([row[c].iloc[0] for c in names], index=names)

        return Scalar(core, finish)

    def count(self):
        """The number of non-missing values of each column (lazy; computes to a Series)."""
        return self._reduce("count")

    def sum(self, numeric_only=False):
        """The sum of each column (lazy; computes to a pandas Series)."""
        return self._reduce("sum", numeric_only)

    def mean(self, numeric_only=False):
        """The mean of each column (lazy; computes to a pandas Series)."""
        return self._reduce("mean", numeric_only)

    def min(self, numeric_only=False):
        """The minimum of each column (lazy; computes to a pandas Series)."""
        return self._reduce("min", numeric_only)

    def max(self, numeric_only=False):
        """The maximum of each column (lazy; computes to a pandas Series)."""
        return self._reduce("max", numeric_only)

    def explain(self):
        """The distributed plan: stages, their tasks, and DataFusion's plan fragments."""
        return self._core.explain()

    # -- display -----------------------------------------------------------------------

    def _structure(self):
        import pandas as pd

        try:
            n = self.npartitions
        except Exception:  # noqa: BLE001 - a repr must not raise
            n = "?"
        dtypes = [str(d) for d in self.dtypes]
        frame = pd.DataFrame([dtypes, ["..."] * len(dtypes)], columns=self._names,
                             index=["", ""])
        frame.index.name = f"npartitions={n}"
        return frame

    def __repr__(self):
        return "tessera DataFrame Structure:\n" + self._structure().to_string()

    def _repr_html_(self):
        return (
            "<div><strong>tessera DataFrame Structure:</strong></div>"
            + self._structure().to_html()
            + f"<div>{html.escape(str(len(self._names)))} columns</div>"
        )


class _Loc:
    """`DataFrame.loc`: rows by a boolean Series or `:`, columns by name(s) or `:`."""

    def __init__(self, frame):
        self._frame = frame

    def __getitem__(self, key):
        rows, columns = key if isinstance(key, tuple) else (key, slice(None))
        if isinstance(key, tuple) and len(key) != 2:
            raise IndexError(f"loc takes [rows] or [rows, columns], not {len(key)} keys")
        frame = self._frame
        if isinstance(rows, Series):
            frame = frame._filter(rows)
        elif not (isinstance(rows, slice) and rows == slice(None)):
            raise NotImplementedError(
                "tessera DataFrames have no index: .loc selects rows with a boolean Series "
                f"or ':', not {rows!r}")
        if isinstance(columns, slice):
            if columns != slice(None):
                raise NotImplementedError("loc selects columns by name, a list of names or ':'")
            return frame
        return frame[columns]


def _meta_schema(meta):
    """The pyarrow schema `meta` describes: a pandas DataFrame, a pyarrow schema or table,
    or a dict of column -> dtype (or a list of such pairs)."""
    import pandas as pd

    if isinstance(meta, pa.Schema):
        schema = meta
    elif isinstance(meta, pa.Table):
        schema = meta.schema
    elif isinstance(meta, pd.DataFrame):
        schema = pa.Table.from_pandas(meta, preserve_index=False).schema
    elif isinstance(meta, (dict, list, tuple)):
        pairs = list(meta.items()) if isinstance(meta, dict) else list(meta)
        frame = pd.DataFrame({name: pd.Series([], dtype=dtype) for name, dtype in pairs})
        schema = pa.Table.from_pandas(frame, preserve_index=False).schema
    else:
        raise TypeError(
            "meta must be a pandas DataFrame, a pyarrow schema or a {column: dtype} dict, "
            f"not {type(meta).__name__}")
    schema = schema.remove_metadata()
    untyped = [f.name for f in schema if pa.types.is_null(f.type)]
    if untyped:
        raise ValueError(
            f"map_partitions cannot tell the type of columns {untyped} from an empty "
            "result; pass meta= with their dtypes")
    return schema
