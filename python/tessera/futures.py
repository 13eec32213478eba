"""Futures and delayed, with dask.distributed's names: `client.submit(fn, *args)` runs a
Python function in a worker process; futures passed as arguments chain calls there.

Functions travel with cloudpickle and values as pickles held by the workers (the scheduler
never sees them); a remote exception is raised in the caller with its own type, message and
the remote traceback as a note."""

import base64
import collections
import concurrent.futures
import hashlib
import operator
import pickle
import re
import threading
import time
import uuid

import cloudpickle

from tessera import _core
from tessera._worker import PICKLED_EXCEPTION, Input


class Future:
    """A value being computed on the cluster (or scattered to it); held there while this
    object (or a chained call reading it) lives."""

    def __init__(self, core, client):
        self._core = core
        self.client = client

    @property
    def key(self):
        """The value's key on the cluster."""
        return self._core.key

    def done(self):
        """Whether the value is computed or its task failed for good (never blocks)."""
        return self._core.done()

    @property
    def status(self):
        """`pending`, `finished` or `error`."""
        if not self.done():
            return "pending"
        try:
            self._core.wait(0)
        except _core.TaskError:
            return "error"
        return "finished"

    def result(self, timeout=None):
        """The value, waiting up to `timeout` seconds (`TimeoutError` after that); a failed
        task raises the remote exception, with its type and traceback."""
        try:
            if not self._core.wait(timeout):
                raise TimeoutError(f"{self.key} is not finished after {timeout} s")
            data = self._core.result_bytes()
        except _core.TaskError as e:
            raise remote_exception(e) from None
        return pickle.loads(data)

    def exception(self, timeout=None):
        """The remote exception of a failed task, or None when it succeeded."""
        try:
            if not self._core.wait(timeout):
                raise TimeoutError(f"{self.key} is not finished after {timeout} s")
        except _core.TaskError as e:
            return remote_exception(e)
        return None

    def release(self):
        """Stop holding the value now instead of when this object is collected."""
        self._core.release()

    def __repr__(self):
        return f"<tessera.Future: key={self.key!r}, status={self.status}>"

    def __reduce__(self):
        raise TypeError(
            "a tessera Future cannot be pickled; pass it to client.submit as an argument "
            "and the worker receives its value")


def remote_exception(e):
    """The exception a failed task raised, rebuilt from the task error: the original
    object when it pickled, else a TaskError that is also an instance of a builtin type
    of that name. The remote traceback is attached as a note."""
    traceback = getattr(e, "remote_traceback", "") or ""
    blob = None
    if PICKLED_EXCEPTION in traceback:
        traceback, encoded = traceback.split(PICKLED_EXCEPTION, 1)
        try:
            blob = pickle.loads(base64.b64decode(encoded.strip()))
        except Exception:  # noqa: BLE001 - its class may not exist here: fall back
            blob = None
    if isinstance(blob, BaseException):
        where = f"task {getattr(e, 'key', '?')} on worker {getattr(e, 'worker', '?')}"
        blob.add_note(f"Remote traceback ({where}):\n{traceback.rstrip()}")
        return blob
    from tessera.distributed import _remote_error

    err = _remote_error(e)
    err.remote_traceback = traceback
    return err


def _group(func):
    """The operation group of a task running `func` (its name, as Dask keys read)."""
    name = getattr(func, "__name__", None) or type(func).__name__
    name = re.sub(r"[^A-Za-z0-9_.]", "_", name).strip("_") or "call"
    return name


def _extract(obj, found):
    """`obj` with futures replaced by `Input` markers (numbered in `found`, a dict from
    key to (index, future)); walks lists, tuples, sets and dicts."""
    if isinstance(obj, Future):
        entry = found.get(obj.key)
        if entry is None:
            entry = found[obj.key] = (len(found), obj)
        return Input(entry[0])
    if type(obj) in (list, tuple, set, frozenset):
        return type(obj)(_extract(o, found) for o in obj)
    if type(obj) is dict:
        return {k: _extract(v, found) for k, v in obj.items()}
    return obj


def _retries(retries):
    retries = int(retries or 0)
    if retries < 0:
        raise ValueError(f"retries must be at least 0, not {retries}")
    return retries


def _prepare(func, args, kwargs, key, pure):
    """One call as the extension takes it: `(key, payload, input futures)`."""
    if not callable(func):
        raise TypeError(f"submit needs a callable, not {type(func).__name__}")
    found = {}
    call = (func, _extract(tuple(args), found), _extract(dict(kwargs), found))
    try:
        payload = cloudpickle.dumps(call, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as e:
        raise TypeError(f"cannot send {_group(func)} to the workers: {e}") from e
    inputs = [f for _, f in sorted(found.values(), key=lambda p: p[0])]
    if key is None:
        if pure:
            h = hashlib.sha256(payload)
            for f in inputs:
                h.update(f.key.encode())
            token = h.hexdigest()[:32]
        else:
            token = uuid.uuid4().hex
        key = f"{_group(func)}-{token}"
    return str(key), payload, [f._core for f in inputs]


def submit(client, func, args, kwargs, key=None, pure=True, retries=0):
    """`client.submit`: one task running `func(*args, **kwargs)` on a worker."""
    retries = _retries(retries)
    key, payload, inputs = _prepare(func, args, kwargs, key, pure)
    return Future(_core.submit_call(client._core, key, payload, inputs, retries), client)


def submit_many(client, func, calls, keys, kwargs, pure=True, retries=0):
    """`client.map`: `func(*args, **kwargs)` for each args tuple of `calls`, submitted
    to the scheduler as one graph."""
    retries = _retries(retries)
    prepared = [_prepare(func, args, kwargs, k, pure) for args, k in zip(calls, keys)]
    cores = _core.submit_calls(client._core, prepared, retries)
    return [Future(c, client) for c in cores]


def scatter(client, data):
    """`client.scatter`: put values on the workers; futures shaped like `data` (a list,
    tuple or dict of values gives the same of futures)."""
    if type(data) in (list, tuple):
        return type(data)(scatter(client, d) for d in data)
    if type(data) is dict:
        return {k: scatter(client, v) for k, v in data.items()}
    if isinstance(data, Future):
        return data
    blob = cloudpickle.dumps(data, protocol=pickle.HIGHEST_PROTOCOL)
    key = f"{_group(type(data))}-{hashlib.sha256(blob).hexdigest()[:32]}"
    return Future(_core.scatter_object(client._core, key, blob), client)


def gather(futures, errors="raise"):
    """The values of `futures` (a future, or lists/tuples/dicts of them, kept in shape);
    `errors="skip"` leaves failed ones out of lists."""
    if errors not in ("raise", "skip"):
        raise ValueError(f"errors must be 'raise' or 'skip', not {errors!r}")
    if isinstance(futures, (Future, ComputeFuture)):
        return futures.result()
    if type(futures) in (list, tuple, set, frozenset):
        out = []
        for f in futures:
            try:
                out.append(gather(f, errors))
            except Exception:
                if errors == "raise" or not isinstance(f, (Future, ComputeFuture)):
                    raise
        return type(futures)(out)
    if type(futures) is dict:
        return {k: gather(v, errors) for k, v in futures.items()}
    return futures


_COMPUTE_POOL = None
_COMPUTE_POOL_LOCK = threading.Lock()


def _compute_pool():
    global _COMPUTE_POOL
    with _COMPUTE_POOL_LOCK:
        if _COMPUTE_POOL is None:
            _COMPUTE_POOL = concurrent.futures.ThreadPoolExecutor(
                max_workers=8, thread_name_prefix="tessera-compute"
            )
        return _COMPUTE_POOL


class ComputeFuture:
    """What `client.compute(collection)` returns, as in dask.distributed: the collection
    computes on the cluster in the background (the call into Rust releases the GIL) and
    `result()` is its value: NumPy for arrays, pandas for frames."""

    def __init__(self, client, compute, name):
        self.client = client
        self.key = f"{name.lower()}-{uuid.uuid4().hex[:16]}"
        self._future = _compute_pool().submit(compute)

    def done(self):
        """Whether the value is computed or the computation failed (never blocks)."""
        return self._future.done()

    @property
    def status(self):
        """`pending`, `finished`, `error` or `cancelled`."""
        f = self._future
        if f.cancelled():
            return "cancelled"
        if not f.done():
            return "pending"
        return "error" if f.exception() is not None else "finished"

    def result(self, timeout=None):
        """The value, waiting up to `timeout` seconds (`TimeoutError` after that); a
        failed computation raises its exception."""
        try:
            return self._future.result(timeout)
        except concurrent.futures.TimeoutError:
            raise TimeoutError(f"{self.key} is not finished after {timeout} s") from None

    def exception(self, timeout=None):
        """The exception of a failed computation, or None when it succeeded."""
        try:
            return self._future.exception(timeout)
        except concurrent.futures.TimeoutError:
            raise TimeoutError(f"{self.key} is not finished after {timeout} s") from None

    def cancel(self):
        """Do not start the computation if it has not started; whether it was stopped."""
        return self._future.cancel()

    def cancelled(self):
        """Whether `cancel()` stopped it."""
        return self._future.cancelled()

    def add_done_callback(self, fn):
        """Call `fn(self)` once the computation is done."""
        self._future.add_done_callback(lambda _: fn(self))

    def release(self):
        """Accepted for Dask compatibility: the value lives in this process."""

    def __repr__(self):
        return f"<tessera.ComputeFuture: key={self.key!r}, status={self.status}>"

    def __reduce__(self):
        raise TypeError(
            "a tessera ComputeFuture cannot be pickled or passed to client.submit: "
            "pass its result() instead"
        )


def _wait_any(pending, timeout):
    """Index of a done future among `pending` (call futures and compute futures), or
    None after `timeout` seconds."""
    calls = [i for i, f in enumerate(pending) if isinstance(f, Future)]
    if len(calls) == len(pending):
        return _core.wait_first(pending[0].client._core, [f._core for f in pending], timeout)
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        for i, f in enumerate(pending):
            if f.done():
                return i
        if deadline is not None and time.monotonic() >= deadline:
            return None
        if calls:
            # Sleep on the call futures' own wake-up for a short while.
            found = _core.wait_first(
                pending[calls[0]].client._core, [pending[i]._core for i in calls], 0.01
            )
            if found is not None:
                return calls[found]
        else:
            concurrent.futures.wait([f._future for f in pending], timeout=0.05,
                                    return_when=concurrent.futures.FIRST_COMPLETED)


class as_completed:  # noqa: N801 - named like dask.distributed.as_completed
    """Iterate over futures in the order they finish (successfully or not);
    `with_results=True` yields `(future, result)` pairs. `add(future)` adds more."""

    def __init__(self, futures=(), with_results=False, raise_errors=True):
        self._pending = list(futures)
        self._with_results = with_results
        self._raise = raise_errors

    def add(self, future):
        """Also yield `future` when it finishes."""
        self._pending.append(future)

    def count(self):
        """Futures not yielded yet."""
        return len(self._pending)

    def __iter__(self):
        return self

    def __next__(self):
        if not self._pending:
            raise StopIteration
        index = _wait_any(self._pending, None)
        future = self._pending.pop(index)
        if not self._with_results:
            return future
        try:
            return future, future.result()
        except Exception as e:
            if self._raise:
                raise
            return future, e


DoneAndNotDone = collections.namedtuple("DoneAndNotDone", ["done", "not_done"])


def wait(futures, timeout=None, return_when="ALL_COMPLETED"):
    """Wait for `futures` (`ALL_COMPLETED` or `FIRST_COMPLETED`) at most `timeout`
    seconds; `(done, not_done)` sets. Failed futures count as done."""
    if return_when not in ("ALL_COMPLETED", "FIRST_COMPLETED"):
        raise ValueError(f"unknown return_when {return_when!r}")
    futures = [futures] if isinstance(futures, (Future, ComputeFuture)) else list(futures)
    deadline = None if timeout is None else time.monotonic() + timeout
    pending = [f for f in futures if not f.done()]
    if return_when == "FIRST_COMPLETED" and len(pending) < len(futures):
        pending = []  # one is done already
    while pending:
        left = None if deadline is None else max(0.0, deadline - time.monotonic())
        index = _wait_any(pending, left)
        if index is None:
            if timeout is not None:
                raise TimeoutError(f"{len(pending)} futures not finished after {timeout} s")
            break
        pending.pop(index)
        if return_when == "FIRST_COMPLETED":
            break
    done = {f for f in futures if f.done()}
    return DoneAndNotDone(done, {f for f in futures if f not in done})


def progress(*futures, minimum=0.0, out=None):
    """Draw a progress bar over `futures` (or lists of them) until all are done, like
    `dask.distributed.progress`; in a notebook it is an HTML bar."""
    from tessera.diagnostics import ProgressBar

    flat = []
    for f in futures:
        flat.extend(f if isinstance(f, (list, tuple, set)) else [f])
    bar = ProgressBar(minimum=minimum, out=out)
    start = time.monotonic()
    while True:
        done = sum(1 for f in flat if f.done())
        bar(time.monotonic() - start, done, len(flat))
        if done == len(flat):
            break
        time.sleep(0.1)
    bar.finish()


class Delayed:
    """A lazy call (Dask's `delayed`): `compute()` runs it and the calls it reads on the
    cluster, each as a task; arithmetic, indexing and calls build more of them."""

    def __init__(self, func, args=(), kwargs=None, pure=True, name=None):
        self._func = func
        self._args = tuple(args)
        self._kwargs = dict(kwargs or {})
        self._pure = pure
        self._name = name

    def _futures(self, client, memo):
        """Submit this call (after the delayed calls it reads), once per `memo`."""
        done = memo.get(id(self))
        if done is not None:
            return done[1]
        args = _submit_inner(self._args, client, memo)
        kwargs = _submit_inner(self._kwargs, client, memo)
        key = None
        if self._name is not None:
            key = f"{_group(self._func)}-{self._name}"
        future = submit(client, self._func, args, kwargs, key=key, pure=self._pure)
        memo[id(self)] = (self, future)  # keeps self alive so ids stay unique
        return future

    def persist(self, client=None):
        """Submit now; the `Future` of the result."""
        from tessera.distributed import get_client

        return self._futures(client or get_client(), {})

    def compute(self, client=None):
        """Run on the cluster and return the result."""
        return self.persist(client).result()

    def __call__(self, *args, **kwargs):
        return Delayed(_call, (self, args, kwargs))

    def __getitem__(self, index):
        return Delayed(operator.getitem, (self, index))

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        return Delayed(getattr, (self, name))

    def __bool__(self):
        raise TypeError("the truth of a Delayed is unknown until computed; call compute()")

    def __iter__(self):
        raise TypeError("a Delayed cannot be iterated before it is computed")

    def __repr__(self):
        return f"Delayed({_group(self._func)})"


def _call(func, args, kwargs):
    return func(*args, **kwargs)


def _binary(op):
    def forward(self, other):
        return Delayed(op, (self, other))

    def backward(self, other):
        return Delayed(op, (other, self))

    return forward, backward


for _name, _op in [("add", operator.add), ("sub", operator.sub), ("mul", operator.mul),
                   ("truediv", operator.truediv), ("floordiv", operator.floordiv),
                   ("mod", operator.mod), ("pow", operator.pow), ("matmul", operator.matmul),
                   ("and", operator.and_), ("or", operator.or_), ("xor", operator.xor)]:
    _f, _b = _binary(_op)
    setattr(Delayed, f"__{_name}__", _f)
    setattr(Delayed, f"__r{_name}__", _b)
for _name, _op in [("lt", operator.lt), ("le", operator.le), ("gt", operator.gt),
                   ("ge", operator.ge)]:
    setattr(Delayed, f"__{_name}__", _binary(_op)[0])
Delayed.__neg__ = lambda self: Delayed(operator.neg, (self,))
Delayed.__abs__ = lambda self: Delayed(operator.abs, (self,))


def _submit_inner(obj, client, memo):
    """`obj` with every Delayed inside replaced by its submitted future."""
    if isinstance(obj, Delayed):
        return obj._futures(client, memo)
    if type(obj) in (list, tuple, set, frozenset):
        return type(obj)(_submit_inner(o, client, memo) for o in obj)
    if type(obj) is dict:
        return {k: _submit_inner(v, client, memo) for k, v in obj.items()}
    return obj


def delayed(obj=None, *, pure=True, name=None):
    """Wrap a function so that calling it builds a lazy `Delayed` call, as `dask.delayed`
    does (also as a decorator, with or without arguments); a non-callable value becomes a
    Delayed that computes to itself."""
    if obj is None:
        return lambda f: delayed(f, pure=pure, name=name)
    if isinstance(obj, Delayed):
        return obj
    if callable(obj):
        def build(*args, **kwargs):
            return Delayed(obj, args, kwargs, pure=pure, name=name)

        build.__name__ = getattr(obj, "__name__", "delayed")
        build.__doc__ = getattr(obj, "__doc__", None)
        build.__wrapped__ = obj
        return build
    return Delayed(_identity, (obj,), pure=pure, name=name)


def _identity(x):
    return x
