"""`tessera.array`: chunked N-d arrays with dask.array's names and signatures, computed
by the Rust engine on a tessera cluster (`import tessera.array as ta`)."""

import numpy as _np

from . import random
from ._chunks import normalize_chunks
from .core import Array
from .creation import (
    arange,
    asarray,
    empty,
    from_array,
    full,
    full_like,
    ones,
    ones_like,
    zeros,
    zeros_like,
)
from .routines import (
    all,
    amax,
    amin,
    any,
    argmax,
    argmin,
    around,
    broadcast_to,
    clip,
    concatenate,
    count_nonzero,
    cumprod,
    cumsum,
    dot,
    expand_dims,
    map_blocks,
    matmul,
    max,
    mean,
    min,
    nanmax,
    nanmean,
    nanmin,
    nanprod,
    nanstd,
    nansum,
    nanvar,
    prod,
    rechunk,
    reshape,
    round,
    squeeze,
    stack,
    std,
    sum,
    tensordot,
    transpose,
    var,
    where,
)

# NumPy's ufuncs dispatch to tessera arrays through `Array.__array_ufunc__`, so the
# module exposes them under dask.array's names (`ta.sin(x)` is lazy).
_UFUNCS = (
    "sin cos tan arcsin arccos arctan sinh cosh tanh floor ceil trunc sign exp exp2 log "
    "log2 log10 log1p expm1 sqrt square reciprocal isnan isinf isfinite invert negative "
    "absolute logical_not power maximum minimum fmax fmin remainder mod floor_divide "
    "arctan2 hypot bitwise_and bitwise_or bitwise_xor logical_and logical_or logical_xor "
    "add subtract multiply divide true_divide equal not_equal less less_equal greater "
    "greater_equal rint"
).split()
for _name in _UFUNCS:
    globals()[_name] = getattr(_np, _name)
abs = _np.absolute
del _name

__all__ = [
    "Array", "random", "normalize_chunks", "arange", "asarray", "empty", "from_array",
    "full", "full_like", "ones", "ones_like", "zeros", "zeros_like", "all", "amax", "amin",
    "any", "argmax", "argmin", "around", "broadcast_to", "clip", "concatenate",
    "count_nonzero", "cumprod", "cumsum", "dot", "expand_dims", "map_blocks", "matmul",
    "max", "mean", "min", "nanmax", "nanmean", "nanmin", "nanprod", "nanstd", "nansum",
    "nanvar", "prod", "rechunk", "reshape", "round", "squeeze", "stack", "std", "sum",
    "tensordot", "transpose", "var", "where", "abs", *_UFUNCS,
]
