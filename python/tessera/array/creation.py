"""Creation functions with dask.array's names and signatures: `from_array`, `asarray`,
`zeros`, `ones`, `full`, `*_like`, and `arange`."""

from numbers import Integral

import numpy as np

from tessera import _core

from . import _chunks
from ._dtypes import SUPPORTED, dtype_name
from .core import Array


def _shape(shape):
    if isinstance(shape, Integral):
        return (int(shape),)
    shape = tuple(int(d) for d in shape)
    if any(d < 0 for d in shape):
        raise ValueError(f"negative dimensions are not allowed: {shape}")
    return shape


def _grid_call(make, shape, chunks, itemsize):
    """`make(block_shape)` with a regular block, rechunked to an irregular grid if asked."""
    grid = _chunks.normalize_chunks(chunks, shape, itemsize)
    block = _chunks.regular_block(grid)
    if block is not None:
        return Array(make(list(block)))
    whole = Array(make([max(d, 1) for d in shape]))
    return Array(whole._core.rechunk([list(c) for c in grid]))


def from_array(x, chunks="auto", name=None, asarray=None, **kwargs):
    """A chunked array holding the values of the NumPy array (or array-like) `x`. The
    NumPy memory is read in place (no intermediate copy) and split into chunks once."""
    arr = np.asarray(x)
    if arr.dtype.name not in SUPPORTED:
        dtype_name(arr.dtype)  # raises the TypeError naming the supported dtypes
    arr = np.ascontiguousarray(arr)
    grid = _chunks.normalize_chunks(chunks, arr.shape, arr.dtype.itemsize)
    block = _chunks.regular_block(grid)
    data = arr.view(np.uint8) if arr.dtype == bool else arr
    if block is not None:
        return Array(_core.from_numpy(data, list(arr.shape), arr.dtype.name, list(block)))
    whole = _core.from_numpy(data, list(arr.shape), arr.dtype.name, [max(d, 1) for d in arr.shape])
    return Array(whole.rechunk([list(c) for c in grid]))


def asarray(a, chunks="auto", **kwargs):
    """`a` itself when it is a tessera array, else `from_array(a)`."""
    if isinstance(a, Array):
        return a
    return from_array(a, chunks=chunks)


def full(shape, fill_value, dtype=None, chunks="auto", **kwargs):
    """An array of `shape` filled with `fill_value`."""
    shape = _shape(shape)
    name = dtype_name(dtype if dtype is not None else np.asarray(fill_value).dtype)
    return _grid_call(
        lambda b: _core.full(list(shape), b, fill_value, name), shape, chunks,
        np.dtype(name).itemsize,
    )


def zeros(shape, dtype=float, chunks="auto", **kwargs):
    """An array of zeros."""
    return full(shape, 0, dtype=dtype, chunks=chunks)


def ones(shape, dtype=float, chunks="auto", **kwargs):
    """An array of ones."""
    return full(shape, 1, dtype=dtype, chunks=chunks)


def empty(shape, dtype=float, chunks="auto", **kwargs):
    """An array of `shape` (filled with zeros: tessera has no uninitialized memory)."""
    return zeros(shape, dtype=dtype, chunks=chunks)


def _like(a, dtype, chunks, shape):
    shape = a.shape if shape is None else shape
    chunks = (a.chunks if shape == a.shape else "auto") if chunks is None else chunks
    return shape, (a.dtype if dtype is None else dtype), chunks


def zeros_like(a, dtype=None, chunks=None, shape=None, **kwargs):
    """Zeros with the shape, dtype and chunks of `a`."""
    shape, dtype, chunks = _like(asarray(a), dtype, chunks, shape)
    return zeros(shape, dtype=dtype, chunks=chunks)


def ones_like(a, dtype=None, chunks=None, shape=None, **kwargs):
    """Ones with the shape, dtype and chunks of `a`."""
    shape, dtype, chunks = _like(asarray(a), dtype, chunks, shape)
    return ones(shape, dtype=dtype, chunks=chunks)


def full_like(a, fill_value, dtype=None, chunks=None, shape=None, **kwargs):
    """`fill_value` with the shape, dtype and chunks of `a`."""
    shape, dtype, chunks = _like(asarray(a), dtype, chunks, shape)
    return full(shape, fill_value, dtype=dtype, chunks=chunks)


def arange(start, stop=None, step=1, chunks="auto", dtype=None, **kwargs):
    """`start, start + step, ...` below `stop` (NumPy's `arange`)."""
    if stop is None:
        start, stop = 0, start
    if step == 0:
        raise ValueError("arange: step cannot be zero")
    if dtype is None:
        dtype = np.arange(start, start + step, step).dtype
        if dtype.kind in "iu":
            dtype = np.int64
    name = dtype_name(dtype)
    n = max(0, int(np.ceil((stop - start) / step)))
    (lens,) = _chunks.normalize_chunks(chunks, (n,), np.dtype(name).itemsize)
    out = Array(_core.arange(float(start), float(stop), float(step), max(lens[0], 1), name))
    if _chunks.regular_block((lens,)) is None:
        out = Array(out._core.rechunk([list(lens)]))
    return out
