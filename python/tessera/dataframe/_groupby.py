"""`df.groupby(by)`: aggregations in the spellings of pandas and Dask (`"sum"`, lists,
dicts, named aggregation, `["col"].sum()`), planned as one distributed aggregate."""

import builtins

import numpy as np
import pyarrow as pa

from tessera import _core
from tessera.dataframe import _types

AGGREGATIONS = (
    "sum", "mean", "count", "min", "max", "std", "var", "nunique", "median", "size", "any",
    "all",
)
_CALLABLES = {
    builtins.sum: "sum", builtins.min: "min", builtins.max: "max", builtins.len: "size",
    builtins.any: "any", builtins.all: "all", np.sum: "sum", np.mean: "mean",
    np.min: "min", np.max: "max", np.std: "std", np.var: "var", np.median: "median",
}
_NUMERIC = ("sum", "mean", "std", "var", "median")


def func_name(func):
    """The aggregation a user spelling names (`"sum"`, `np.sum`, `"avg"`...)."""
    if isinstance(func, str):
        name = {"avg": "mean", "nanmean": "mean", "nansum": "sum"}.get(func, func)
        if name in AGGREGATIONS:
            return name
        raise ValueError(f"unknown aggregation {func!r}; use one of {', '.join(AGGREGATIONS)}")
    if callable(func) and func in _CALLABLES:
        return _CALLABLES[func]
    raise TypeError(
        f"aggregation {func!r} is not supported: use the name of a built-in aggregation "
        f"({', '.join(AGGREGATIONS)})"
    )


def aggregate_expr(frame, expr, arrow_type, func, ddof=1):
    """The aggregate `func` of `expr` (of `arrow_type`) over `frame`, typed now so that
    aggregating the wrong type raises TypeError. Sums of nothing are 0, as in pandas."""
    func = func_name(func)
    if func == "size":
        return _core.count_all()
    if func in _NUMERIC and not _types.is_numeric(arrow_type):
        raise TypeError(f"cannot compute the {func} of {_types.pandas_dtype(arrow_type)} values")
    if func in _NUMERIC and _types.kind(arrow_type) == "bool":
        expr = expr.cast(pa.int64())
    if func == "nunique" and pa.types.is_floating(arrow_type):
        # -0.0 and 0.0 are one value to pandas; adding 0.0 turns -0.0 into 0.0.
        zero, _ = _types.literal(0.0)
        expr = expr.binary("+", zero)
    if func == "median" and _types.kind(arrow_type) in ("bool", "int"):
        expr = expr.cast(pa.float64())  # pandas' median of integers is a float
    if func in ("std", "var"):
        if ddof not in (0, 1):
            raise ValueError(f"ddof must be 0 or 1, not {ddof!r}")
        func = func if ddof == 1 else func + "_pop"
    out = expr.aggregate(func)
    if func == "sum":
        zero, _ = _types.literal(0)
        out = out.fill_null(zero)
    frame._core.expr_type(out)
    return out


def _named(spec):
    """`("col", "sum")` or `pd.NamedAgg(column=, aggfunc=)` as (column, func)."""
    if hasattr(spec, "column") and hasattr(spec, "aggfunc"):
        return spec.column, spec.aggfunc
    if isinstance(spec, tuple) and len(spec) == 2:
        return spec
    raise TypeError(f"a named aggregation is (column, aggfunc), not {spec!r}")


class GroupBy:
    """Rows grouped by key columns; finish with an aggregation. Results have the keys as
    columns (tessera DataFrames have no index) followed by the aggregates."""

    def __init__(self, frame, by, sort=None, dropna=True, selection=None):
        by = [by] if isinstance(by, str) else list(by)
        if not by:
            raise ValueError("groupby needs at least one key")
        missing = [k for k in by if not isinstance(k, str) or k not in frame._names]
        if missing:
            raise KeyError(f"cannot group by {missing}: no such columns {frame._names}")
        if selection is not None:
            absent = [c for c in selection if c not in frame._names]
            if absent:
                raise KeyError(f"columns not found: {absent}")
        self._frame = frame
        self._by = by
        self._sort = bool(sort)
        self._dropna = dropna
        self._selection = selection

    def _values(self):
        if self._selection is not None:
            return list(self._selection)
        return [c for c in self._frame._names if c not in self._by]

    def __getitem__(self, key):
        if isinstance(key, str):
            return SeriesGroupBy(self, key)
        return GroupBy(self._frame, self._by, self._sort, self._dropna, list(key))

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        if name in self._frame._names and name not in self._by:
            return SeriesGroupBy(self, name)
        raise AttributeError(f"'GroupBy' object has no attribute {name!r}")

    def _run(self, specs, ddof=1):
        """One row per group: the keys, then `(output name, column, func)` for each spec."""
        from tessera.dataframe._frame import DataFrame

        names = [n for n, _, _ in specs]
        dup = {n for n in names if names.count(n) > 1 or n in self._by}
        if dup:
            raise ValueError(f"aggregations would produce duplicate columns {sorted(dup)}")
        frame = self._frame
        core = frame._core
        if self._dropna:
            for k in self._by:
                core = core.filter(_core.col(k).is_not_null())
        exprs = []
        for name, column, func in specs:
            if column not in frame._names and func_name(func) != "size":
                raise KeyError(f"no column named {column!r}; columns: {frame._names}")
            column_type = frame._type_of(column) if column in frame._names else pa.null()
            column_expr = _core.col(column) if column is not None else None
            expr = aggregate_expr(frame, column_expr, column_type, func, ddof)
            exprs.append(expr.alias(name))
        out = DataFrame(core.aggregate([_core.col(k) for k in self._by], exprs))
        return out.sort_values(self._by) if self._sort else out

    def agg(self, arg=None, **named):
        """Aggregate: `"sum"` (every column), `["sum", "mean"]` (columns `col_sum`,
        `col_mean`), `{"col": "sum"}`, `{"col": ["sum", "max"]}`, or named aggregation
        `total=("col", "sum")`."""
        if named:
            if arg is not None:
                raise TypeError("pass either an aggregation or named aggregations, not both")
            return self._run([(name, *_named(spec)) for name, spec in named.items()])
        if arg is None:
            raise TypeError("agg needs an aggregation")
        if isinstance(arg, dict):
            flat = all(not isinstance(f, (list, tuple)) for f in arg.values())
            specs = []
            for column, funcs in arg.items():
                if flat:
                    specs.append((column, column, funcs))
                else:
                    funcs = funcs if isinstance(funcs, (list, tuple)) else [funcs]
                    specs.extend((f"{column}_{func_name(f)}", column, f) for f in funcs)
            return self._run(specs)
        if isinstance(arg, (list, tuple)):
            return self._run([
                (f"{c}_{func_name(f)}", c, f) for c in self._values() for f in arg
            ])
        return self._run([(c, c, arg) for c in self._values()])

    aggregate = agg

    def _each(self, func, ddof=1):
        return self._run([(c, c, func) for c in self._values()], ddof)

    def sum(self):
        """The sum of every other column per group."""
        return self._each("sum")

    def mean(self):
        """The mean of every other column per group."""
        return self._each("mean")

    def min(self):
        """The minimum of every other column per group."""
        return self._each("min")

    def max(self):
        """The maximum of every other column per group."""
        return self._each("max")

    def count(self):
        """The number of non-missing values of every other column per group."""
        return self._each("count")

    def std(self, ddof=1):
        """The standard deviation of every other column per group."""
        return self._each("std", ddof)

    def var(self, ddof=1):
        """The variance of every other column per group."""
        return self._each("var", ddof)

    def nunique(self):
        """The number of distinct values of every other column per group."""
        return self._each("nunique")

    def median(self):
        """The median of every other column per group."""
        return self._each("median")

    def size(self):
        """The number of rows per group (column `size`)."""
        return self._run([("size", None, "size")])


class SeriesGroupBy:
    """One column of a grouping: `df.groupby("k")["x"].sum()`; results have the keys and
    the aggregate (named after the column) as columns."""

    def __init__(self, groupby, column):
        if column not in groupby._frame._names:
            raise KeyError(f"no column named {column!r}; columns: {groupby._frame._names}")
        self._groupby = groupby
        self._column = column

    def agg(self, arg=None, **named):
        """`"sum"` (column named after this one), `["sum", "mean"]` (columns `sum`,
        `mean`), or named `total="sum"`."""
        c = self._column
        if named:
            if arg is not None:
                raise TypeError("pass either an aggregation or named aggregations, not both")
            return self._groupby._run([(name, c, f) for name, f in named.items()])
        if isinstance(arg, dict):
            raise ValueError("nested renamer is not supported: use named aggregation")
        if isinstance(arg, (list, tuple)):
            return self._groupby._run([(func_name(f), c, f) for f in arg])
        if arg is None:
            raise TypeError("agg needs an aggregation")
        return self._groupby._run([(c, c, arg)])

    aggregate = agg

    def _one(self, func, ddof=1):
        return self._groupby._run([(self._column, self._column, func)], ddof)

    def sum(self):
        """The sum per group."""
        return self._one("sum")

    def mean(self):
        """The mean per group."""
        return self._one("mean")

    def min(self):
        """The minimum per group."""
        return self._one("min")

    def max(self):
        """The maximum per group."""
        return self._one("max")

    def count(self):
        """The number of non-missing values per group."""
        return self._one("count")

    def std(self, ddof=1):
        """The standard deviation per group (`ddof` 1: sample, 0: population)."""
        return self._one("std", ddof)

    def var(self, ddof=1):
        """The variance per group (`ddof` 1: sample, 0: population)."""
        return self._one("var", ddof)

    def nunique(self):
        """The number of distinct non-missing values per group."""
        return self._one("nunique")

    def median(self):
        """The median per group."""
        return self._one("median")

    def size(self):
        """The number of rows per group (column `size`)."""
        return self._groupby._run([("size", None, "size")])
