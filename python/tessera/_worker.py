"""Worker side of Python `map_blocks`: unpickle the user's function (cached per payload)
and run it on NumPy views of the input chunks; called by the Rust `python` kernel."""

import traceback

import cloudpickle
import numpy as np

_FUNCTIONS: dict = {}
_MAX_CACHED = 64


class KernelFailure(Exception):
    """The user's function raised: the message carries its type, text and traceback."""


def _load(payload: bytes):
    entry = _FUNCTIONS.get(payload)
    if entry is None:
        if len(_FUNCTIONS) >= _MAX_CACHED:
            _FUNCTIONS.clear()
        entry = cloudpickle.loads(payload)
        _FUNCTIONS[payload] = entry
    return entry


def run_block(payload: bytes, blocks: list) -> np.ndarray:
    """Apply the pickled `(function, args, kwargs, dtype)` to the blocks; the result
    must have the first block's shape and is cast to the declared dtype."""
    try:
        func, args, kwargs, dtype = _load(payload)
        arrays = [np.asarray(b) for b in blocks]
        out = np.asarray(func(*arrays, *args, **kwargs))
        expected = arrays[0].shape
        if out.shape != expected:
            raise ValueError(
                f"the map_blocks function returned a block of shape {out.shape}; "
                f"it must keep the input block's shape {expected}"
            )
        return np.ascontiguousarray(out, dtype=dtype)
    except BaseException as e:  # noqa: BLE001 - every failure goes back to the client
        text = "".join(traceback.format_exception(type(e), e, e.__traceback__))
        raise KernelFailure(f"{type(e).__name__}: {e}\nRemote traceback:\n{text}") from None
