"""Worker side of Python functions: `map_blocks` (the Rust `python` kernel, on NumPy views
of chunks) and `Client.submit` calls (the `python-call` function, on pickled values)."""

import base64
import pickle
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
    """Apply the pickled `(function, arguments, kwargs, dtype)` to the blocks (each
    `Input(i)` among the arguments replaced by block `i`); the result must have the
    blocks' broadcast shape and is cast to the declared dtype."""
    try:
        func, template, kwargs, dtype = _load(payload)
        arrays = [np.asarray(b) for b in blocks]
        call = [arrays[t.index] if isinstance(t, Input) else t for t in template]
        out = np.asarray(func(*call, **kwargs))
        expected = np.broadcast_shapes(*(a.shape for a in arrays))
        if out.shape != expected:
            raise ValueError(
                f"the map_blocks function returned a block of shape {out.shape}; "
                f"it must keep the input block's shape {expected}"
            )
        return np.ascontiguousarray(out, dtype=dtype)
    except BaseException as e:  # noqa: BLE001 - every failure goes back to the client
        text = "".join(traceback.format_exception(type(e), e, e.__traceback__))
        raise KernelFailure(f"{type(e).__name__}: {e}\nRemote traceback:\n{text}") from None


# What ends a failure message when the exception itself could be pickled: the client
# unpickles it and raises it with its own type (see tessera.futures).
PICKLED_EXCEPTION = "\nPickled exception (base64): "
# Larger pickled exceptions are left out of the message (its type and text still go).
_MAX_PICKLED_EXCEPTION = 64 << 10


class Input:
    """Stands for input value `index` inside a submitted call's arguments (or block
    `index` among a map_blocks function's arguments)."""

    __slots__ = ("index",)

    def __init__(self, index):
        self.index = index

    def __reduce__(self):
        return (Input, (self.index,))


def _substitute(obj, values):
    """`obj` with every `Input` replaced by its value (inside lists, tuples, sets, dicts)."""
    if isinstance(obj, Input):
        return values[obj.index]
    if type(obj) in (list, tuple, set, frozenset):
        return type(obj)(_substitute(o, values) for o in obj)
    if type(obj) is dict:
        return {k: _substitute(v, values) for k, v in obj.items()}
    return obj


def run_call(payload: bytes, inputs: list) -> bytes:
    """Run the pickled `(function, args, kwargs)` with its `Input`s replaced by the
    unpickled input values; the pickled result. A failure carries the exception's type,
    text and traceback, and the pickled exception when it pickles."""
    try:
        func, args, kwargs = cloudpickle.loads(payload)
        values = [pickle.loads(b) for b in inputs]
        result = func(*_substitute(args, values), **_substitute(kwargs, values))
        return cloudpickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL)
    except BaseException as e:  # noqa: BLE001 - every failure goes back to the client
        raise _failure(e) from None


def _failure(e):
    """A KernelFailure carrying `e`'s type, text and traceback, and `e` pickled."""
    text = "".join(traceback.format_exception(type(e), e, e.__traceback__))
    message = f"{type(e).__name__}: {e}\nRemote traceback:\n{text}"
    try:
        blob = cloudpickle.dumps(e.with_traceback(None))
        if len(blob) <= _MAX_PICKLED_EXCEPTION:
            message += PICKLED_EXCEPTION + base64.b64encode(blob).decode("ascii")
    except Exception:  # noqa: BLE001 - an exception that does not pickle
        pass
    return KernelFailure(message)


def run_partition(payload: bytes, table):
    """`DataFrame.map_partitions` on one partition: the pickled `(function, args, kwargs,
    schema)` runs on the partition as a pandas DataFrame; its result (pandas or pyarrow)
    must have the schema's columns and is cast to it. Returns `(schema, batches)`. No
    function (`DataFrame.persist`) keeps the partition as it is."""
    try:
        import pandas as pd
        import pyarrow as pa

        func, args, kwargs, schema = cloudpickle.loads(payload)
        if func is None:
            return schema, table.cast(schema).to_batches()
        out = func(table.to_pandas(), *args, **kwargs)
        if isinstance(out, pd.Series):
            out = out.to_frame()
        if isinstance(out, pd.DataFrame):
            out = pa.Table.from_pandas(out, preserve_index=False)
        if not isinstance(out, pa.Table):
            raise TypeError(
                "the map_partitions function must return a pandas DataFrame or Series or a "
                f"pyarrow Table, not {type(out).__name__}")
        if out.schema.names != schema.names:
            raise ValueError(
                f"the map_partitions function returned columns {out.schema.names}; "
                f"its meta says {schema.names}")
        out = out.cast(schema)
        return schema, out.to_batches()
    except BaseException as e:  # noqa: BLE001 - every failure goes back to the client
        raise _failure(e) from None
