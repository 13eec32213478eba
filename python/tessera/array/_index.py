"""NumPy indexing for tessera arrays: basic items (ints, slices, None, Ellipsis) go to
the Rust `index`; one integer array or boolean mask per index becomes `take`/`mask_axis`."""

from numbers import Integral

import numpy as np


def _is_array_like(item):
    return isinstance(item, (list, np.ndarray)) or (
        hasattr(item, "_core") and hasattr(item, "compute")
    )


def _consumed(item):
    """Input axes an index item reads."""
    if item is None or item is Ellipsis:
        return 0
    if isinstance(item, np.ndarray) and item.dtype == bool:
        return item.ndim
    return 1


def split_index(key, ndim):
    """Normalized basic items, and (position, array) of the one fancy item if any."""
    if not isinstance(key, tuple):
        key = (key,)
    if sum(1 for k in key if k is Ellipsis) > 1:
        raise IndexError("an index can only have a single ellipsis ('...')")
    fancy = None
    resolved = []
    for pos, item in enumerate(key):
        if _is_array_like(item):
            if hasattr(item, "_core"):
                item = item.compute()
            item = np.asarray(item)
            if item.dtype != bool and not np.issubdtype(item.dtype, np.integer):
                raise IndexError(
                    "arrays used as indices must be of integer or boolean type, "
                    f"not {item.dtype}"
                )
            if fancy is not None:
                raise NotImplementedError(
                    "tessera supports one integer array or boolean mask per index"
                )
            fancy = (pos, item)
        resolved.append(item)
    used = sum(_consumed(k) for k in resolved)
    if used > ndim:
        raise IndexError(
            f"too many indices for array: array is {ndim}-dimensional, but {used} were indexed"
        )
    return resolved, fancy


def _input_axes(items, ndim):
    """Input axis where each item starts (Ellipsis expanded)."""
    used = sum(_consumed(k) for k in items)
    axes, axis = [], 0
    for item in items:
        axes.append(axis)
        if item is Ellipsis:
            axis += ndim - used
        else:
            axis += _consumed(item)
    return axes


def _output_axis(items, upto, ndim):
    """Output axis produced by item `upto` (items before it are basic or fancy)."""
    used = sum(_consumed(k) for k in items)
    out = 0
    for item in items[:upto]:
        if item is Ellipsis:
            out += ndim - used
        elif isinstance(item, Integral) and not isinstance(item, (bool, np.bool_)):
            out += 0
        else:
            out += 1
    return out


def basic_item(item, size, axis):
    """One normalized item for the Rust `index`, bounds-checking integers."""
    if item is None:
        return ("newaxis",)
    if item is Ellipsis:
        return ("ellipsis",)
    if isinstance(item, slice):
        step = 1 if item.step is None else int(item.step)
        if step == 0:
            raise ValueError("slice step cannot be zero")
        start = None if item.start is None else int(item.start)
        stop = None if item.stop is None else int(item.stop)
        return ("slice", start, stop, step)
    if isinstance(item, (bool, np.bool_)):
        raise IndexError("a boolean scalar is not a valid index for a tessera array")
    if isinstance(item, Integral):
        i = int(item)
        if not -size <= i < size:
            raise IndexError(f"index {i} is out of bounds for axis {axis} with size {size}")
        return ("int", i)
    raise IndexError(
        "only integers, slices (`:`), ellipsis (`...`), None and integer or boolean "
        f"arrays are valid indices, not {type(item).__name__}"
    )


def getitem(array, key):
    """`array[key]` with NumPy's rules; returns the Rust array."""
    core = array._core
    shape = tuple(core.shape)
    ndim = len(shape)
    items, fancy = split_index(key, ndim)
    starts = _input_axes(items, ndim)
    if fancy is not None and fancy[1].dtype == bool and fancy[1].ndim == ndim and ndim > 1:
        if len([k for k in items if k is not Ellipsis]) != 1:
            raise NotImplementedError("a full-shape boolean mask must be the only index")
        mask = fancy[1]
        if mask.shape != shape:
            raise IndexError(
                f"boolean index has shape {mask.shape}, but the array has shape {shape}"
            )
        mask = np.ascontiguousarray(mask).view(np.uint8)
        return core.select(mask, list(shape))
    basic = []
    for pos, item in enumerate(items):
        axis = starts[pos]
        if fancy is not None and pos == fancy[0]:
            basic.append(("slice", None, None, 1))
        else:
            basic.append(basic_item(item, shape[axis] if axis < ndim else 0, axis))
    out = core.index(basic) if basic else core
    if fancy is None:
        return out
    pos, arr = fancy
    axis_in = starts[pos]
    size = shape[axis_in]
    axis_out = _output_axis(items, pos, ndim)
    if arr.dtype == bool:
        if arr.ndim != 1 or arr.shape[0] != size:
            raise IndexError(
                f"boolean index of shape {arr.shape} does not match axis {axis_in} of "
                f"length {size}"
            )
        return out.mask_axis(axis_out, [bool(b) for b in arr])
    if arr.ndim != 1:
        raise NotImplementedError("integer array indices must be one-dimensional")
    bad = arr[(arr < -size) | (arr >= size)]
    if bad.size:
        raise IndexError(
            f"index {int(bad[0])} is out of bounds for axis {axis_in} with size {size}"
        )
    return out.take([int(i) for i in arr], axis_out)
