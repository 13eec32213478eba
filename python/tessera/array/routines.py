"""Functions over tessera arrays with dask.array's names: joins, `where`, linear
algebra, module-level reductions and `map_blocks` running Python on the workers."""

import builtins
from numbers import Integral

import cloudpickle
import numpy as np

from tessera import _core
from tessera._worker import Input

from .core import Array, _normalize_axes, _operand, asarray
from ._dtypes import dtype_name


def _axis(axis, ndim):
    (a,) = _normalize_axes(axis, ndim)
    return a


def concatenate(seq, axis=0, **kwargs):
    """Join arrays along an existing axis."""
    arrays = [asarray(a) for a in seq]
    if not arrays:
        raise ValueError("need at least one array to concatenate")
    return Array(_core.concatenate([a._core for a in arrays], _axis(axis, arrays[0].ndim)))


def stack(seq, axis=0, **kwargs):
    """Join arrays along a new axis."""
    arrays = [asarray(a) for a in seq]
    if not arrays:
        raise ValueError("need at least one array to stack")
    return Array(_core.stack([a._core for a in arrays], _axis(axis, arrays[0].ndim + 1)))


def where(condition, x=None, y=None):
    """`x` where `condition` is true, else `y` (arrays or scalars)."""
    if x is None or y is None:
        raise NotImplementedError("where(condition) without x and y is not supported")
    cond = asarray(condition).astype(bool)
    return Array(_core.where(cond._core, _operand(x), _operand(y)))


def matmul(a, b):
    """Matrix product."""
    return asarray(a).matmul(b)


def dot(a, b):
    """NumPy's `dot`."""
    return asarray(a).dot(b)


def tensordot(a, b, axes=2):
    """Sum of products over the given axes (NumPy's `tensordot`)."""
    a, b = asarray(a), asarray(b)
    if isinstance(axes, Integral):
        n = int(axes)
        axes_a, axes_b = list(range(a.ndim - n, a.ndim)), list(range(n))
    else:
        axes_a, axes_b = axes
        axes_a = [axes_a] if isinstance(axes_a, Integral) else list(axes_a)
        axes_b = [axes_b] if isinstance(axes_b, Integral) else list(axes_b)
        axes_a = [_axis(x, a.ndim) for x in axes_a]
        axes_b = [_axis(x, b.ndim) for x in axes_b]
    return Array(a._core.tensordot(b._core, axes_a, axes_b))


def transpose(a, axes=None):
    """Permute the axes."""
    return asarray(a).transpose(axes)


def reshape(a, shape):
    """`a` in a new shape."""
    return asarray(a).reshape(shape)


def rechunk(x, chunks="auto", **kwargs):
    """`x` with new chunk boundaries."""
    return asarray(x).rechunk(chunks)


def squeeze(a, axis=None):
    """Remove length-1 axes."""
    return asarray(a).squeeze(axis)


def expand_dims(a, axis):
    """Insert a length-1 axis at `axis`."""
    a = asarray(a)
    return Array(a._core.expand_dims(_axis(axis, a.ndim + 1)))


def broadcast_to(x, shape, chunks=None):
    """`x` repeated to `shape` with NumPy's broadcasting rules."""
    return Array(asarray(x)._core.broadcast_to([int(d) for d in shape]))


def round(a, decimals=0):
    """Round to `decimals` decimals."""
    return asarray(a).round(decimals)


around = round


def clip(a, a_min=None, a_max=None):
    """Values limited to `[a_min, a_max]`."""
    return asarray(a).clip(a_min, a_max)


def _reduction(name):
    def reduce(a, axis=None, *args, **kwargs):
        return getattr(asarray(a), name)(axis, *args, **kwargs)

    reduce.__name__ = name
    reduce.__doc__ = f"`a.{name}(axis=...)` as a function."
    return reduce


sum = _reduction("sum")
prod = _reduction("prod")
mean = _reduction("mean")
min = _reduction("min")
max = _reduction("max")
var = _reduction("var")
std = _reduction("std")
any = _reduction("any")
all = _reduction("all")
argmin = _reduction("argmin")
argmax = _reduction("argmax")
cumsum = _reduction("cumsum")
cumprod = _reduction("cumprod")
amin = min
amax = max


def _nan_reduction(name):
    def reduce(a, axis=None, keepdims=False, ddof=0, **kwargs):
        return asarray(a)._reduce(name, axis, keepdims, ddof=int(ddof))

    reduce.__name__ = name
    reduce.__doc__ = f"NumPy's `{name}` ignoring NaNs."
    return reduce


nansum = _nan_reduction("nansum")
nanprod = _nan_reduction("nanprod")
nanmean = _nan_reduction("nanmean")
nanmin = _nan_reduction("nanmin")
nanmax = _nan_reduction("nanmax")
nanvar = _nan_reduction("nanvar")
nanstd = _nan_reduction("nanstd")
count_nonzero = _nan_reduction("count_nonzero")


def _meta_dtype(func, template, arrays, kwargs):
    """The dtype `func` returns, found by calling it on small blocks (as Dask does with
    its meta arrays); the first array's dtype when that call fails."""
    try:
        samples = [np.ones((1,) * a.ndim, dtype=a.dtype) for a in arrays]
        call = [samples[t.index] if isinstance(t, Input) else t for t in template]
        return np.asarray(func(*call, **kwargs)).dtype
    except Exception:  # noqa: BLE001 - the real call on the worker will report it
        return arrays[0].dtype


_LETTERS = "abcdefghijklmnopqrstuvwxyz"


def map_blocks(func, *args, dtype=None, chunks=None, drop_axis=None, new_axis=None,
               name=None, meta=None, **kwargs):
    """Apply the Python function `func` to every block of the array arguments; it is
    shipped with cloudpickle and runs in the worker process holding the blocks. Arrays
    are aligned as in Dask: by their last axes (an array with fewer axes lines up with
    the trailing ones), with equal lengths on the axes they share; chunk boundaries
    follow the first array that has the axis. `func` gets, at each array's position among
    the arguments, that array's block (other positional and keyword arguments unchanged),
    and must return a block of the output block's shape (the blocks' broadcast shape)."""
    if drop_axis is not None or new_axis is not None:
        raise NotImplementedError("map_blocks: drop_axis and new_axis are not supported")
    if not callable(func):
        raise TypeError(f"map_blocks needs a callable, not {type(func).__name__}")
    arrays = [a for a in args if isinstance(a, Array)]
    if not arrays:
        raise ValueError("map_blocks needs at least one tessera array argument")
    out_ndim = builtins.max(a.ndim for a in arrays)
    if out_ndim > len(_LETTERS):
        raise ValueError(f"map_blocks: at most {len(_LETTERS)} axes")
    template, slot = [], 0
    for a in args:
        if isinstance(a, Array):
            template.append(Input(slot))
            slot += 1
        else:
            template.append(a)
    out_dtype = dtype_name(
        dtype if dtype is not None else _meta_dtype(func, template, arrays, kwargs)
    )
    payload = cloudpickle.dumps((func, tuple(template), kwargs, out_dtype))
    if len(arrays) == 1:
        x = arrays[0]
        if chunks is not None and tuple(tuple(c) for c in chunks) != x.chunks:
            raise NotImplementedError("map_blocks: blocks must keep their input chunks")
        return Array(x._core.map_blocks(_core.PYTHON_KERNEL, payload, out_dtype))
    out_index = _LETTERS[:out_ndim]
    operands = [(a._core, out_index[out_ndim - a.ndim:]) for a in arrays]
    out = Array(_core.blockwise(_core.PYTHON_KERNEL, out_index, operands, payload, out_dtype))
    if chunks is not None and tuple(tuple(c) for c in chunks) != out.chunks:
        raise NotImplementedError("map_blocks: blocks must keep their input chunks")
    return out
