"""`tessera.array.Array`: a lazy chunked array with dask.array's attributes, operators,
NumPy protocols (`__array__`, `__array_ufunc__`), reductions and `map_blocks`."""

import math
from numbers import Integral, Number

import numpy as np

from tessera import _core

from . import _chunks, _index, _repr
from ._dtypes import dtype_name

# NumPy's AxisError (a ValueError and an IndexError); `np.exceptions` from NumPy 1.25.
_AxisError = getattr(np, "exceptions", np).AxisError

_BINARY_UFUNCS = {
    "add", "subtract", "multiply", "true_divide", "divide", "equal", "not_equal", "less",
    "less_equal", "greater", "greater_equal", "power", "maximum", "minimum", "fmax",
    "fmin", "remainder", "mod", "floor_divide", "arctan2", "hypot", "bitwise_and",
    "bitwise_or", "bitwise_xor", "logical_and", "logical_or", "logical_xor",
}
_UNARY_UFUNCS = {
    "negative", "absolute", "sqrt", "exp", "log", "logical_not", "sin", "cos", "tan",
    "arcsin", "arccos", "arctan", "sinh", "cosh", "tanh", "floor", "ceil", "trunc", "sign",
    "exp2", "log2", "log10", "log1p", "expm1", "square", "reciprocal", "isnan", "isinf",
    "isfinite", "invert", "rint", "positive", "conjugate",
}


def _normalize_axes(axis, ndim):
    """A sorted tuple of non-negative axes, or None for all axes."""
    if axis is None:
        return None
    axes = (axis,) if isinstance(axis, Integral) else tuple(axis)
    out = []
    for a in axes:
        a = int(a)
        if not -ndim <= a < ndim:
            raise _AxisError(a, ndim)
        out.append(a % ndim)
    if len(set(out)) != len(out):
        raise ValueError(f"duplicate value in 'axis': {axis}")
    return tuple(sorted(out))


def asarray(value, chunks=None):
    """A tessera array for a tessera array (as is), a NumPy array or a nested list."""
    if isinstance(value, Array):
        return value
    from .creation import from_array

    arr = np.asarray(value)
    return from_array(arr, chunks=chunks if chunks is not None else -1)


def _operand(value):
    """A `_core.Array` or a scalar for the Rust binary operations; NotImplemented else."""
    if isinstance(value, Array):
        return value._core
    if isinstance(value, np.generic) and value.dtype.name in ("float64", "int64"):
        # Typed 64-bit NumPy scalars promote like arrays (NEP 50), unlike Python's weak
        # int/float (the Rust scalars of these dtypes are weak): pass them as 0-d arrays.
        return asarray(np.asarray(value))._core
    if isinstance(value, (bool, Number, np.generic)) and not isinstance(value, complex):
        if isinstance(value, np.generic) and value.dtype.kind == "c":
            return NotImplemented
        return value
    if isinstance(value, (np.ndarray, list)):
        arr = np.asarray(value)
        if arr.ndim == 0:
            return arr[()]
        return asarray(arr)._core
    return NotImplemented


def _binary(name, left, right, reflected=False):
    other = _operand(right)
    if other is NotImplemented:
        return NotImplemented
    if name in ("logical_and", "logical_or", "logical_xor"):
        a = left.astype(bool)
        b = other if not isinstance(other, _core.Array) else Array(other).astype(bool)._core
        if not isinstance(b, _core.Array):
            b = bool(b)
        op = {"logical_and": "bitwise_and", "logical_or": "bitwise_or",
              "logical_xor": "bitwise_xor"}[name]
        return Array(a._core.binary(op, b, reflected))
    return Array(left._core.binary(name, other, reflected))


class Array:
    """A lazy N-d array split into chunks, computed on a tessera cluster."""

    __array_priority__ = 20

    def __init__(self, core):
        if not isinstance(core, _core.Array):
            raise TypeError("use tessera.array.from_array (or another creation function)")
        self._core = core

    # ---- attributes -------------------------------------------------------------------
    @property
    def shape(self):
        """The shape, a tuple of ints."""
        return tuple(self._core.shape)

    @property
    def dtype(self):
        """The NumPy dtype of the elements."""
        return np.dtype(self._core.dtype)

    @property
    def ndim(self):
        """Number of axes."""
        return len(self._core.shape)

    @property
    def size(self):
        """Number of elements."""
        return math.prod(self.shape)

    @property
    def nbytes(self):
        """Bytes of the computed array."""
        return self.size * self.dtype.itemsize

    @property
    def itemsize(self):
        """Bytes per element."""
        return self.dtype.itemsize

    @property
    def chunks(self):
        """Chunk lengths per axis, as Dask's tuple of tuples."""
        return tuple(tuple(c) for c in self._core.chunks)

    @property
    def chunksize(self):
        """The largest chunk's shape."""
        return _chunks.chunksize(self.chunks)

    @property
    def numblocks(self):
        """Number of chunks along each axis."""
        return tuple(len(c) for c in self.chunks)

    @property
    def npartitions(self):
        """Number of chunks."""
        return math.prod(self.numblocks)

    @property
    def name(self):
        """Deterministic name of the expression (equal expressions, equal names)."""
        return self._core.name

    @property
    def T(self):
        """The array with its axes reversed."""
        return self.transpose()

    def __len__(self):
        if not self.shape:
            raise TypeError("len() of unsized object")
        return self.shape[0]

    def __repr__(self):
        return _repr.text(self)

    def _repr_html_(self):
        return _repr.table(self)

    def __bool__(self):
        if self.size != 1:
            raise ValueError(
                f"the truth value of an array with {self.size} elements is ambiguous; "
                "use .any() or .all()"
            )
        return bool(self.compute())

    def __int__(self):
        return int(self.compute())

    def __float__(self):
        return float(self.compute())

    def __iter__(self):
        for i in range(len(self)):
            yield self[i]

    # ---- computing ----------------------------------------------------------------
    def compute(self, **kwargs):
        """Compute on the current client (a default local cluster without one); a NumPy
        array (a NumPy scalar for 0-d results)."""
        from tessera.distributed import get_client

        return get_client().compute(self, sync=True, **kwargs)

    def persist(self, **kwargs):
        """Compute and keep the chunks on the cluster; later expressions read them."""
        from tessera.distributed import get_client

        return get_client().persist(self, **kwargs)

    def __array__(self, dtype=None, copy=None):
        out = np.asarray(self.compute())
        return out if dtype is None else out.astype(dtype, copy=False)

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        if method != "__call__" or kwargs.get("out") is not None:
            return NotImplemented
        name = ufunc.__name__
        dtype = kwargs.pop("dtype", None)
        if kwargs:
            return NotImplemented
        if ufunc.nin == 1 and name in _UNARY_UFUNCS:
            out = _unary(name, inputs[0])
        elif ufunc.nin == 2 and name in _BINARY_UFUNCS:
            a, b = inputs
            if isinstance(a, Array):
                out = _binary(name, a, b)
            else:
                out = _binary(name, b, a, reflected=True)
        else:
            return NotImplemented
        if out is NotImplemented or dtype is None:
            return out
        return out.astype(dtype)

    def __array_function__(self, func, types, args, kwargs):
        from tessera import array as ta

        impl = getattr(ta, func.__name__, None)
        if impl is None or not callable(impl) or impl is func:
            return NotImplemented
        return impl(*args, **kwargs)

    # ---- operators ----------------------------------------------------------------
    def __add__(self, o):
        return _binary("add", self, o)

    def __radd__(self, o):
        return _binary("add", self, o, True)

    def __sub__(self, o):
        return _binary("subtract", self, o)

    def __rsub__(self, o):
        return _binary("subtract", self, o, True)

    def __mul__(self, o):
        return _binary("multiply", self, o)

    def __rmul__(self, o):
        return _binary("multiply", self, o, True)

    def __truediv__(self, o):
        return _binary("true_divide", self, o)

    def __rtruediv__(self, o):
        return _binary("true_divide", self, o, True)

    def __floordiv__(self, o):
        return _binary("floor_divide", self, o)

    def __rfloordiv__(self, o):
        return _binary("floor_divide", self, o, True)

    def __mod__(self, o):
        return _binary("remainder", self, o)

    def __rmod__(self, o):
        return _binary("remainder", self, o, True)

    def __pow__(self, o):
        return _binary("power", self, o)

    def __rpow__(self, o):
        return _binary("power", self, o, True)

    def __and__(self, o):
        return _binary("bitwise_and", self, o)

    def __rand__(self, o):
        return _binary("bitwise_and", self, o, True)

    def __or__(self, o):
        return _binary("bitwise_or", self, o)

    def __ror__(self, o):
        return _binary("bitwise_or", self, o, True)

    def __xor__(self, o):
        return _binary("bitwise_xor", self, o)

    def __rxor__(self, o):
        return _binary("bitwise_xor", self, o, True)

    def __eq__(self, o):
        return _binary("equal", self, o)

    def __ne__(self, o):
        return _binary("not_equal", self, o)

    def __lt__(self, o):
        return _binary("less", self, o)

    def __le__(self, o):
        return _binary("less_equal", self, o)

    def __gt__(self, o):
        return _binary("greater", self, o)

    def __ge__(self, o):
        return _binary("greater_equal", self, o)

    __hash__ = None

    def __neg__(self):
        return Array(self._core.unary("negative"))

    def __pos__(self):
        return self

    def __abs__(self):
        return Array(self._core.unary("absolute"))

    def __invert__(self):
        return Array(self._core.unary("invert"))

    def __matmul__(self, o):
        return self.matmul(o)

    def __rmatmul__(self, o):
        return asarray(o).matmul(self)

    def __getitem__(self, key):
        return Array(_index.getitem(self, key))

    # ---- methods --------------------------------------------------------------------
    def astype(self, dtype, **kwargs):
        """The values cast to `dtype`."""
        name = dtype_name(dtype)
        return self if name == self._core.dtype else Array(self._core.astype(name))

    def transpose(self, *axes):
        """Permute the axes (reverse them when none are given)."""
        if len(axes) == 1 and (axes[0] is None or not isinstance(axes[0], Integral)):
            axes = axes[0]
        if not axes:
            axes = tuple(reversed(range(self.ndim)))
        if len(axes) != self.ndim:
            raise ValueError("axes don't match array")
        axes = [int(a) % self.ndim if -self.ndim <= int(a) < self.ndim else int(a) for a in axes]
        return Array(self._core.transpose(axes))

    def swapaxes(self, axis1, axis2):
        """Exchange two axes."""
        perm = list(range(self.ndim))
        a, b = _normalize_axes(axis1, self.ndim)[0], _normalize_axes(axis2, self.ndim)[0]
        perm[a], perm[b] = perm[b], perm[a]
        return Array(self._core.transpose(perm))

    def reshape(self, *shape, **kwargs):
        """Same values in a new shape (one length may be -1)."""
        if len(shape) == 1 and not isinstance(shape[0], Integral):
            shape = tuple(shape[0])
        return Array(self._core.reshape([int(s) for s in shape]))

    def ravel(self):
        """The values as one axis, in C order."""
        return self.reshape(-1)

    flatten = ravel

    def squeeze(self, axis=None):
        """Remove length-1 axes."""
        axes = _normalize_axes(axis, self.ndim)
        return Array(self._core.squeeze(list(axes) if axes is not None else None))

    def rechunk(self, chunks="auto", **kwargs):
        """Same values with new chunk boundaries (Dask's chunk specifications). As in
        Dask, axes a dict leaves out, and `None` entries, keep their current chunks."""
        if isinstance(chunks, dict):
            given = {_normalize_axes(a, self.ndim)[0]: c for a, c in chunks.items()}
            chunks = tuple(given.get(i) for i in range(self.ndim))
        if isinstance(chunks, (tuple, list)) and len(chunks) == self.ndim:
            chunks = tuple(old if c is None else c for c, old in zip(chunks, self.chunks))
        grid = _chunks.normalize_chunks(chunks, self.shape, self.dtype.itemsize)
        return Array(self._core.rechunk([list(c) for c in grid]))

    def _reduce(self, name, axis, keepdims, dtype=None, ddof=0):
        axes = _normalize_axes(axis, self.ndim)
        x = self if dtype is None else self.astype(dtype)
        out = Array(x._core.reduce(name, list(axes) if axes is not None else None, ddof))
        if keepdims:
            kept = axes if axes is not None else tuple(range(self.ndim))
            shape = tuple(1 if i in kept else d for i, d in enumerate(self.shape))
            out = out.reshape(shape)
        return out

    def sum(self, axis=None, dtype=None, keepdims=False, split_every=None, out=None):
        """Sum over `axis` (all axes when None)."""
        return self._reduce("sum", axis, keepdims, dtype)

    def prod(self, axis=None, dtype=None, keepdims=False, split_every=None, out=None):
        """Product over `axis`."""
        return self._reduce("prod", axis, keepdims, dtype)

    def mean(self, axis=None, dtype=None, keepdims=False, split_every=None, out=None):
        """Mean over `axis`."""
        return self._reduce("mean", axis, keepdims, dtype)

    def min(self, axis=None, keepdims=False, split_every=None, out=None):
        """Minimum over `axis`."""
        return self._reduce("min", axis, keepdims)

    def max(self, axis=None, keepdims=False, split_every=None, out=None):
        """Maximum over `axis`."""
        return self._reduce("max", axis, keepdims)

    def var(self, axis=None, dtype=None, keepdims=False, ddof=0, split_every=None, out=None):
        """Variance over `axis` with `ddof` delta degrees of freedom."""
        return self._reduce("var", axis, keepdims, dtype, int(ddof))

    def std(self, axis=None, dtype=None, keepdims=False, ddof=0, split_every=None, out=None):
        """Standard deviation over `axis`."""
        return self._reduce("std", axis, keepdims, dtype, int(ddof))

    def any(self, axis=None, keepdims=False, split_every=None, out=None):
        """Whether any element over `axis` is true."""
        return self._reduce("any", axis, keepdims)

    def all(self, axis=None, keepdims=False, split_every=None, out=None):
        """Whether every element over `axis` is true."""
        return self._reduce("all", axis, keepdims)

    def _argreduce(self, maximum, axis, keepdims):
        if axis is None:
            out = Array(self._core.argreduce(maximum, None))
            return out.reshape((1,) * self.ndim) if keepdims else out
        (a,) = _normalize_axes(axis, self.ndim)
        out = Array(self._core.argreduce(maximum, a))
        if keepdims:
            out = out.reshape(tuple(1 if i == a else d for i, d in enumerate(self.shape)))
        return out

    def argmax(self, axis=None, keepdims=False, split_every=None, out=None):
        """Index of the largest element (over the flattened array when axis is None)."""
        return self._argreduce(True, axis, keepdims)

    def argmin(self, axis=None, keepdims=False, split_every=None, out=None):
        """Index of the smallest element."""
        return self._argreduce(False, axis, keepdims)

    def _scan(self, kind, axis, dtype):
        x = self if dtype is None else self.astype(dtype)
        if axis is None:
            x, axis = x.ravel(), 0
        (a,) = _normalize_axes(axis, x.ndim)
        return Array(x._core.scan(kind, a))

    def cumsum(self, axis=None, dtype=None, out=None, method="sequential"):
        """Running sum along `axis` (the flattened array when None)."""
        return self._scan("sum", axis, dtype)

    def cumprod(self, axis=None, dtype=None, out=None, method="sequential"):
        """Running product along `axis`."""
        return self._scan("prod", axis, dtype)

    def matmul(self, other):
        """Matrix product (`@`)."""
        other = _operand(other)
        if not isinstance(other, _core.Array):
            raise ValueError("matmul: an operand is a scalar; use * instead")
        return Array(self._core.matmul(other))

    def dot(self, other):
        """NumPy's `dot`."""
        return Array(self._core.dot(asarray(other)._core))

    def round(self, decimals=0):
        """Round to `decimals` decimal places (half to even, as NumPy)."""
        return Array(self._core.unary("round", int(decimals)))

    def clip(self, min=None, max=None):
        """Values limited to `[min, max]`."""
        out = self
        if min is not None:
            out = _binary("maximum", out, min)
        if max is not None:
            out = _binary("minimum", out, max)
        return out

    def map_blocks(self, func, *args, dtype=None, **kwargs):
        """Apply `func` to every block (see `tessera.array.map_blocks`)."""
        from .routines import map_blocks

        return map_blocks(func, self, *args, dtype=dtype, **kwargs)

    def to_numpy(self):
        """The computed array."""
        return np.asarray(self.compute())


def _unary(name, x):
    if not isinstance(x, Array):
        return NotImplemented
    if name == "positive":
        return x
    if name == "conjugate":
        return x
    if name == "rint":
        return x.round(0)
    return Array(x._core.unary(name))

