"""Dask-style chunk specifications (`5`, `(5, 10)`, `((2, 3), (5,))`, `"auto"`, `-1`)
normalized to per-axis chunk lengths, refusing specifications that do not tile the shape."""

import math
from numbers import Integral

AUTO_CHUNK_BYTES = 128 * 2**20


def _auto_block(shape, itemsize):
    """Equal blocks of about AUTO_CHUNK_BYTES (Dask's default `array.chunk-size`)."""
    if not shape:
        return ()
    per_axis = max(1, int((AUTO_CHUNK_BYTES / max(itemsize, 1)) ** (1.0 / len(shape))))
    return tuple(max(1, min(d, per_axis)) for d in shape)


def _lengths(dim, block):
    if dim == 0:
        return (0,)
    full, rest = divmod(dim, block)
    return (block,) * full + ((rest,) if rest else ())


def normalize_chunks(chunks, shape, itemsize=8):
    """Per-axis chunk lengths (a tuple of tuples) for `chunks` over `shape`."""
    shape = tuple(int(d) for d in shape)
    if chunks is None or (isinstance(chunks, str) and chunks == "auto"):
        return tuple(_lengths(d, b) for d, b in zip(shape, _auto_block(shape, itemsize)))
    if isinstance(chunks, Integral):
        chunks = (int(chunks),) * len(shape)
    if isinstance(chunks, dict):
        chunks = tuple(chunks.get(i, chunks.get(i - len(shape), -1)) for i in range(len(shape)))
    chunks = tuple(chunks)
    if len(chunks) != len(shape):
        raise ValueError(
            f"chunks {chunks!r} have {len(chunks)} entries but the shape {shape} has "
            f"{len(shape)} axes"
        )
    auto = _auto_block(shape, itemsize)
    out = []
    for axis, (c, d) in enumerate(zip(chunks, shape)):
        if isinstance(c, str) and c == "auto":
            out.append(_lengths(d, auto[axis]))
        elif c is None or (isinstance(c, Integral) and int(c) == -1):
            out.append((d,))
        elif isinstance(c, Integral):
            if int(c) <= 0:
                raise ValueError(f"chunk length {c} on axis {axis} must be positive")
            out.append(_lengths(d, int(c)))
        else:
            lens = tuple(int(x) for x in c)
            if any(x < 0 for x in lens) or sum(lens) != d:
                raise ValueError(
                    f"chunks {lens} on axis {axis} do not add up to its length {d}"
                )
            out.append(lens if lens else (0,))
    return tuple(out)


def regular_block(grid):
    """The block shape when every chunk but the last on each axis has one length."""
    block = []
    for lens in grid:
        first = lens[0]
        if any(x != first for x in lens[:-1]) or lens[-1] > first:
            return None
        block.append(max(first, 1))
    return tuple(block)


def chunksize(grid):
    """The largest chunk length per axis (Dask's `chunksize`)."""
    return tuple(max(lens) if lens else 0 for lens in grid)


def nchunks(grid):
    """Number of chunks in the grid."""
    return math.prod(len(lens) for lens in grid)
