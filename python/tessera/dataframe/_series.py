"""Columns and column expressions (`df.a`, `df["a"] * 2 > df.b`), typed when built so
that unknown columns raise KeyError and type mismatches TypeError before anything runs;
and lazy scalars from reductions (`df.a.sum()`)."""

import pyarrow as pa

from tessera import _core, diagnostics
from tessera.dataframe import _types

_ORDERING = ("<", "<=", ">", ">=")


def _same_kind(a, b):
    """Whether values of Arrow types `a` and `b` can be ordered against each other."""
    ka, kb = _types.kind(a), _types.kind(b)
    if "null" in (ka, kb):
        return True
    if _types.is_numeric(a) and _types.is_numeric(b):
        return True
    if ka == kb and ka in ("str", "time"):
        return True
    return ka == "time" and kb == "str"


class Series:
    """A lazy column of a tessera DataFrame: a column or an expression over its columns.
    Use it in `df[mask]`, `df.assign(...)`, or compute it into a pandas Series."""

    # NumPy scalars on the left of an operator defer to our reflected methods.
    __array_ufunc__ = None

    def __init__(self, frame, expr, name, dtype=None):
        self._frame = frame
        self._expr = expr
        self.name = name
        # Typing the expression against the frame raises KeyError/TypeError now.
        self._type = dtype if dtype is not None else frame._core.expr_type(expr)

    @property
    def dtype(self):
        """The pandas dtype of the values."""
        return _types.pandas_dtype(self._type)

    @property
    def arrow_type(self):
        """The Arrow type of the values."""
        return self._type

    def _new(self, expr, name):
        return Series(self._frame, expr, name)

    def _operand(self, other):
        if isinstance(other, Series):
            return other._expr, other._type, other.name
        sized = hasattr(other, "__len__") and not isinstance(other, (str, bytes))
        if sized:
            raise TypeError(
                f"cannot combine a tessera Series with {type(other).__name__}: use a scalar "
                "or a Series of the same DataFrame"
            )
        expr, t = _types.literal(other)
        return expr, t, self.name

    def _arith(self, op, other, reflected=False):
        o_expr, o_type, o_name = self._operand(other)
        l_expr, l_type, r_expr, r_type = self._expr, self._type, o_expr, o_type
        if reflected:
            l_expr, l_type, r_expr, r_type = r_expr, r_type, l_expr, l_type
        name = self.name if o_name == self.name else None
        if op == "+" and _types.kind(l_type) == "str" and _types.kind(r_type) == "str":
            return self._new(l_expr.binary("||", r_expr), name)
        if _types.is_numeric(l_type) and _types.is_numeric(r_type):
            # Booleans count as 0/1, as in pandas; `/` is true division.
            if _types.kind(l_type) == "bool":
                l_expr, l_type = l_expr.cast(pa.int64()), pa.int64()
            if _types.kind(r_type) == "bool":
                r_expr, r_type = r_expr.cast(pa.int64()), pa.int64()
            if op == "/" and _types.kind(l_type) != "float" and _types.kind(r_type) != "float":
                l_expr, r_expr = l_expr.cast(pa.float64()), r_expr.cast(pa.float64())
            return self._new(l_expr.binary(op, r_expr), name)
        if "time" in (_types.kind(l_type), _types.kind(r_type)) and op in ("+", "-"):
            return self._new(l_expr.binary(op, r_expr), name)
        raise TypeError(
            f"unsupported operand types for {op}: {_types.pandas_dtype(l_type)} and "
            f"{_types.pandas_dtype(r_type)}"
        )

    def _compare(self, op, other):
        o_expr, o_type, o_name = self._operand(other)
        if op in _ORDERING and not _same_kind(self._type, o_type):
            raise TypeError(
                f"'{op}' not supported between {_types.pandas_dtype(self._type)} and "
                f"{_types.pandas_dtype(o_type)} values"
            )
        name = self.name if o_name == self.name else None
        return self._new(self._expr.binary(op, o_expr), name)

    def _logical(self, op, other, reflected=False):
        o_expr, o_type, o_name = self._operand(other)
        for t in (self._type, o_type):
            if _types.kind(t) not in ("bool", "null"):
                raise TypeError(f"'{op}' needs boolean values, not {_types.pandas_dtype(t)}")
        name = self.name if o_name == self.name else None
        left, right = (o_expr, self._expr) if reflected else (self._expr, o_expr)
        return self._new(left.binary(op, right), name)

    def __add__(self, other):
        return self._arith("+", other)

    def __radd__(self, other):
        return self._arith("+", other, reflected=True)

    def __sub__(self, other):
        return self._arith("-", other)

    def __rsub__(self, other):
        return self._arith("-", other, reflected=True)

    def __mul__(self, other):
        return self._arith("*", other)

    def __rmul__(self, other):
        return self._arith("*", other, reflected=True)

    def __truediv__(self, other):
        return self._arith("/", other)

    def __rtruediv__(self, other):
        return self._arith("/", other, reflected=True)

    def __neg__(self):
        if _types.kind(self._type) not in ("int", "float"):
            raise TypeError(f"cannot negate {self.dtype} values")
        return self._new(self._expr.negate(), self.name)

    def __eq__(self, other):  # noqa: D105 - elementwise, as in pandas
        return self._compare("==", other)

    def __ne__(self, other):
        return self._compare("!=", other)

    def __lt__(self, other):
        return self._compare("<", other)

    def __le__(self, other):
        return self._compare("<=", other)

    def __gt__(self, other):
        return self._compare(">", other)

    def __ge__(self, other):
        return self._compare(">=", other)

    def __and__(self, other):
        return self._logical("&", other)

    def __rand__(self, other):
        return self._logical("&", other, reflected=True)

    def __or__(self, other):
        return self._logical("|", other)

    def __ror__(self, other):
        return self._logical("|", other, reflected=True)

    def __invert__(self):
        if _types.kind(self._type) not in ("bool", "null"):
            raise TypeError(f"'~' needs boolean values, not {self.dtype}")
        return self._new(self._expr.not_(), self.name)

    __hash__ = None

    def __bool__(self):
        raise ValueError(
            "The truth value of a Series is ambiguous: use & | ~ for elementwise logic"
        )

    def isin(self, values):
        """Whether each value is one of `values` (values of another type never match)."""
        if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
            raise TypeError(f"isin needs a list-like of values, not {type(values).__name__}")
        kept = []
        for v in values:
            try:
                kept.append(pa.array([v], type=self._type))
            except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, TypeError):
                continue  # cannot equal any value of this column
        if not kept:
            false, _ = _types.literal(False)
            return Series(self._frame, false, self.name)
        return self._new(self._expr.isin(pa.concat_arrays(kept)), self.name)

    def isnull(self):
        """Whether each value is missing (null or NaN from pandas)."""
        return self._new(self._expr.is_null(), self.name)

    isna = isnull

    def notnull(self):
        """Whether each value is present."""
        return self._new(self._expr.is_not_null(), self.name)

    notna = notnull

    def between(self, left, right, inclusive="both"):
        """`left <= self <= right`; `inclusive` is `both`, `neither`, `left` or `right`."""
        if inclusive not in ("both", "neither", "left", "right"):
            raise ValueError("inclusive must be 'both', 'neither', 'left' or 'right'")
        lo = self >= left if inclusive in ("both", "left") else self > left
        hi = self <= right if inclusive in ("both", "right") else self < right
        return lo & hi

    def astype(self, dtype):
        """The values cast to `dtype` (NumPy/pandas dtype, `str`, or a pyarrow type)."""
        target = _types.arrow_type(dtype)
        if not _core.can_cast(self._type, target):
            raise TypeError(f"cannot cast {self.dtype} values to {dtype!r}")
        return self._new(self._expr.cast(target), self.name)

    def fillna(self, value):
        """Missing values replaced by `value` (a scalar or a Series)."""
        o_expr, o_type, _ = self._operand(value)
        if not (_same_kind(self._type, o_type) or _types.kind(self._type) == _types.kind(o_type)):
            raise TypeError(f"cannot fill {self.dtype} values with {value!r}")
        return self._new(self._expr.fill_null(o_expr), self.name)

    def _numeric(self, what):
        if _types.kind(self._type) not in ("int", "float"):
            raise TypeError(f"{what} needs numeric values, not {self.dtype}")

    def abs(self):
        """The absolute values."""
        self._numeric("abs")
        return self._new(self._expr.math("abs"), self.name)

    __abs__ = abs

    def clip(self, lower=None, upper=None):
        """Values below `lower` raised to it and above `upper` lowered to it (scalars or
        Series; `None` leaves that side open). Missing values stay missing."""
        self._numeric("clip")
        out = self
        for bound, beyond in ((lower, Series.__lt__), (upper, Series.__gt__)):
            if bound is None:
                continue
            b_expr, b_type, _ = out._operand(bound)
            if not _types.is_numeric(b_type):
                raise TypeError(f"clip bounds must be numeric, not {bound!r}")
            out = out._new(_core.case_when(beyond(out, bound)._expr, b_expr, out._expr),
                           self.name)
        return out

    def where(self, cond, other=None):
        """The values where `cond` holds, `other` (default: missing) where it does not
        or is missing, as pandas' `Series.where`."""
        return self._choose(cond, other, keep_where_true=True)

    def mask(self, cond, other=None):
        """The values where `cond` does not hold, `other` (default: missing) where it does."""
        return self._choose(cond, other, keep_where_true=False)

    def _choose(self, cond, other, keep_where_true):
        if not isinstance(cond, Series):
            raise TypeError("cond must be a boolean Series of the same DataFrame")
        if _types.kind(cond._type) != "bool":
            raise TypeError(f"cond must hold booleans, not {cond.dtype}")
        o_expr, o_type, _ = self._operand(other)
        if not (_same_kind(self._type, o_type) or _types.kind(self._type) == _types.kind(o_type)):
            raise TypeError(f"cannot mix {self.dtype} values with {other!r}")
        if keep_where_true:
            expr = _core.case_when(cond._expr, self._expr, o_expr)
        else:
            # pandas keeps the value where cond is missing, as where cond is false.
            expr = _core.case_when(cond._expr, o_expr, self._expr)
        return self._new(expr, self.name)

    def rename(self, name):
        """The same values under another name."""
        return Series(self._frame, self._expr, name, self._type)

    def to_frame(self, name=None):
        """A one-column tessera DataFrame."""
        from tessera.dataframe._frame import DataFrame

        name = name if name is not None else (self.name if self.name is not None else "0")
        return DataFrame(self._frame._core.select([self._expr.alias(str(name))]))

    def compute(self, **kwargs):
        """Compute into a pandas Series."""
        out = self.to_frame("__value__" if self.name is None else str(self.name))
        s = out.compute(**kwargs).iloc[:, 0]
        s.name = self.name
        return s

    def head(self, n=5, compute=True):
        """The first `n` values as a pandas Series."""
        return self.to_frame().head(n).iloc[:, 0].rename(self.name)

    def __len__(self):
        return len(self._frame)

    def to_dask_array(self, lengths=None):
        """The values as a 1-d `tessera.array.Array` (one chunk per partition), computed on
        the cluster; only numeric and boolean columns become arrays."""
        from tessera.array import Array

        frame = self.to_frame("__value__")
        return Array(frame._core.column_to_array("__value__"))

    @property
    def values(self):
        """The values as a tessera array (as Dask's `Series.values`)."""
        return self.to_dask_array()

    def _reduce(self, func, ddof=1):
        from tessera.dataframe._groupby import aggregate_expr

        expr = aggregate_expr(self._frame, self._expr, self._type, func, ddof)
        core = self._frame._core.aggregate([], [expr.alias("__value__")])
        return Scalar(core, lambda table: table.column(0).to_pandas().iloc[0])

    def sum(self):
        """The sum (0 when there are no values), lazily."""
        return self._reduce("sum")

    def mean(self):
        """The mean, lazily."""
        return self._reduce("mean")

    def min(self):
        """The smallest value, lazily."""
        return self._reduce("min")

    def max(self):
        """The largest value, lazily."""
        return self._reduce("max")

    def count(self):
        """The number of non-missing values, lazily."""
        return self._reduce("count")

    def std(self, ddof=1):
        """The standard deviation (`ddof` 1: sample, 0: population), lazily."""
        return self._reduce("std", ddof)

    def var(self, ddof=1):
        """The variance (`ddof` 1: sample, 0: population), lazily."""
        return self._reduce("var", ddof)

    def nunique(self):
        """The number of distinct non-missing values, lazily."""
        return self._reduce("nunique")

    def value_counts(self, sort=True, ascending=False, dropna=True, normalize=False):
        """How many rows hold each distinct value: a lazy DataFrame of the values (a column
        named after this Series, `index` when it has no name) and `count`, the most frequent
        first (Dask returns a Series indexed by the values; tessera has no index)."""
        from tessera.dataframe._groupby import GroupBy

        if normalize:
            raise NotImplementedError("value_counts(normalize=True) is not supported")
        name = "index" if self.name is None else str(self.name)
        if name == "count":
            raise ValueError("value_counts of a Series named 'count' would repeat the name")
        out = GroupBy(self.to_frame(name), [name], dropna=dropna)._run([("count", None, "size")])
        if sort:
            out = out.sort_values(["count", name], ascending=[bool(ascending), True])
        return out

    def __repr__(self):
        return f"tessera.dataframe.Series<name={self.name!r}, dtype={self.dtype}>"


class Scalar:
    """A lazy single value (a reduction); `compute()` runs it on the cluster."""

    def __init__(self, core, finish):
        self._core = core
        self._finish = finish

    def compute(self, progress=None, **kwargs):
        """Compute the value (a NumPy scalar, or a pandas object for frame reductions)."""
        with diagnostics.progress_hook(progress) as hook:
            return self._finish(self._core.collect(hook))

    def __repr__(self):
        return "tessera.dataframe.Scalar<lazy>"
