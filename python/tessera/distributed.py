"""Clusters and clients with dask.distributed's names: `LocalCluster` starts a scheduler
and Python worker processes, `Client` connects; both clean up on exit, Ctrl-C and at exit."""

import atexit
import builtins
import os
import sys
import threading
import weakref

import numpy as np

from tessera import _core, diagnostics
from tessera import futures as _futures

# Live clusters and clients, closed at interpreter exit (their Rust side also kills the
# processes when garbage-collected, and children die with this process: PDEATHSIG).
_LIVE_CLUSTERS = weakref.WeakSet()
_LIVE_CLIENTS = weakref.WeakSet()
_LOCK = threading.RLock()
_CURRENT = []  # clients made current, most recent last
_DEFAULT = None  # the client started on first use when there is none


class Security:
    """Credentials of a protected cluster, with dask.distributed's names: a shared token
    (`token_file`) and TLS files (`tls_ca_file`, `tls_cert`, `tls_key`, all three or none;
    every member presents its certificate: mutual TLS). `tessera certs --out DIR` writes
    a set; `Security.from_dir(DIR)` names it. `LocalCluster(security=True)` makes one."""

    def __init__(self, token_file=None, tls_ca_file=None, tls_cert=None, tls_key=None):
        tls = [tls_ca_file, tls_cert, tls_key]
        if any(f is not None for f in tls) and not all(f is not None for f in tls):
            raise ValueError("TLS needs all three of tls_ca_file, tls_cert and tls_key")
        self.token_file = None if token_file is None else os.fspath(token_file)
        self.tls_ca_file, self.tls_cert, self.tls_key = (
            None if f is None else os.fspath(f) for f in tls)

    @classmethod
    def from_dir(cls, directory):
        """The files `tessera certs --out DIRECTORY` wrote."""
        d = os.fspath(directory)
        return cls(os.path.join(d, "token"), os.path.join(d, "ca.pem"),
                   os.path.join(d, "cert.pem"), os.path.join(d, "key.pem"))

    def _files(self):
        return (self.token_file, self.tls_ca_file, self.tls_cert, self.tls_key)

    def __repr__(self):
        return (f"Security(token_file={self.token_file!r}, tls_ca_file={self.tls_ca_file!r}, "
                f"tls_cert={self.tls_cert!r}, tls_key={self.tls_key!r})")


def _memory_bytes(memory_limit):
    if memory_limit is None or memory_limit == "auto":
        return None
    if isinstance(memory_limit, str):
        return _core.parse_bytes(memory_limit)
    value = int(memory_limit)
    if value <= 0:
        raise ValueError(f"memory_limit must be positive, not {memory_limit!r}")
    return value


class LocalCluster:
    """A scheduler and `n_workers` worker processes on this machine. Each worker is
    `python -m tessera worker ...`: a Python process hosting the Rust worker, so Python
    functions (`map_blocks`) run next to the data. `worker_timeout` (seconds): a worker
    silent this long is declared dead; `allowed_failures`: a task that was running on this
    many workers that died is erred instead of retried (the scheduler's default, 3)."""

    def __init__(self, n_workers=None, threads_per_worker=None, memory_limit="auto",
                 *, worker_timeout=10.0, allowed_failures=None, security=None,
                 **kwargs):
        cores = os.cpu_count() or 1
        if n_workers is None:
            n_workers = builtins.min(cores, 4) if threads_per_worker is None else builtins.max(
                1, cores // threads_per_worker)
        if threads_per_worker is None:
            threads_per_worker = builtins.max(1, cores // n_workers)
        if int(n_workers) < 1 or int(threads_per_worker) < 1:
            raise ValueError("a LocalCluster needs at least one worker with one thread")
        if allowed_failures is not None and int(allowed_failures) < 1:
            raise ValueError(f"allowed_failures must be at least 1, not {allowed_failures!r}")
        # Workers find the modules of functions shipped by reference on our sys.path.
        previous = os.environ.get("PYTHONPATH")
        paths = [p if p else os.getcwd() for p in sys.path]
        os.environ["PYTHONPATH"] = os.pathsep.join(paths)
        try:
            self._core = _core.LocalCluster(
                int(n_workers), int(threads_per_worker), _memory_bytes(memory_limit),
                [sys.executable, "-m", "tessera", "--managed-by-cluster"],
                int(worker_timeout * 1000),
                security is True,
                security._files() if isinstance(security, Security) else None,
                None if allowed_failures is None else int(allowed_failures),
            )
        finally:
            if previous is None:
                del os.environ["PYTHONPATH"]
            else:
                os.environ["PYTHONPATH"] = previous
        self.n_workers = int(n_workers)
        self.threads_per_worker = int(threads_per_worker)
        files = self._core.security_files
        self.security = Security(*files) if any(f is not None for f in files) else None
        _LIVE_CLUSTERS.add(self)

    @property
    def scheduler_address(self):
        """`127.0.0.1:port` of the scheduler."""
        return self._core.scheduler_address

    @property
    def worker_pids(self):
        """Process ids of the workers."""
        return list(self._core.worker_pids)

    @property
    def scheduler_pid(self):
        """Process id of the scheduler."""
        return self._core.scheduler_pid

    @property
    def dashboard_link(self):
        """The scheduler's dashboard URL, or None when it serves none."""
        with Client(self, set_as_default=False) as c:
            return c.dashboard_link

    def kill_worker(self, index):
        """Kill worker `index` with SIGKILL, as a crash would."""
        self._core.kill_worker(int(index))

    def scale_up(self, n=1):
        """Start `n` more workers."""
        for _ in range(int(n)):
            self._core.add_worker()

    def close(self):
        """Stop every process (idempotent)."""
        self._core.close()

    @property
    def closed(self):
        """Whether the cluster has been closed."""
        return self._core.closed

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def __repr__(self):
        state = "closed" if self.closed else self.scheduler_address
        return (f"LocalCluster({state}, workers={self.n_workers}, "
                f"threads_per_worker={self.threads_per_worker})")


class Client:
    """A connection to a tessera scheduler: `Client("host:port")`, `Client(cluster)`, or
    `Client()` to start a LocalCluster owned by the client. The newest open client is the
    one `compute()` uses."""

    def __init__(self, address=None, *, set_as_default=True, security=None,
                 **cluster_kwargs):
        self._cluster = None
        if security is not None and not isinstance(security, Security):
            raise TypeError(f"security must be a tessera.Security, not {security!r}")
        if address is None:
            self._cluster = LocalCluster(**cluster_kwargs)
            address = self._cluster
        if isinstance(address, LocalCluster):
            security = security or address.security
            address = address.scheduler_address
        elif not isinstance(address, str):
            raise TypeError(f"Client needs an address or a LocalCluster, not {address!r}")
        self._core = _core.Client(address, security._files() if security else None)
        self._dashboard = None
        _LIVE_CLIENTS.add(self)
        if set_as_default:
            with _LOCK:
                _CURRENT.append(self)

    @property
    def scheduler_address(self):
        """The scheduler's `host:port`."""
        return self._core.scheduler_address

    @property
    def cluster(self):
        """The LocalCluster this client started, if any."""
        return self._cluster

    def scheduler_info(self):
        """Workers, their load and the scheduler's counters (a dict)."""
        return self._core.cluster_info()

    @property
    def dashboard_link(self):
        """The scheduler dashboard's URL, or None when the scheduler serves none."""
        if self._dashboard is None:
            address = self.scheduler_info().get("dashboard_address") or ""
            self._dashboard = f"http://{address}/" if address else ""
        return self._dashboard or None

    def compute(self, collections, sync=False, progress=None, **kwargs):
        """Start computing a collection (an array, DataFrame, Series, lazy scalar or
        delayed value, or a list/tuple of them) on the cluster and return at once, as
        dask.distributed does: a `ComputeFuture` (a list/tuple of them) whose `result()`
        is the value (NumPy for arrays, pandas for frames). `sync=True` waits and returns
        the values instead (what `tessera.compute` and `.compute()` do); then a progress
        bar shows for work past a second in a terminal or notebook (`progress=False`
        hides it, `True` forces it, a callable gets `(elapsed_seconds, tasks_done,
        tasks_total)`). Futures of `submit` are returned as they are."""
        if isinstance(collections, (list, tuple)):
            return type(collections)(
                self.compute(c, sync=sync, progress=progress) for c in collections
            )
        if isinstance(collections, _futures.Future):
            return collections.result() if sync else collections
        if sync:
            return self._compute_now(collections, progress)
        self._check_computable(collections)
        return _futures.ComputeFuture(
            self, lambda: self._compute_now(collections, False), type(collections).__name__
        )

    def _check_computable(self, collection):
        from tessera.array import Array

        computable = (Array, _futures.Delayed)
        if not (isinstance(collection, computable) or _is_frame(collection)):
            raise TypeError(f"cannot compute {type(collection).__name__}")

    def _compute_now(self, collection, progress=None):
        """The value of one collection, computed now (see `compute`)."""
        from tessera.array import Array

        if isinstance(collection, _futures.Delayed):
            return collection.compute(client=self)
        if isinstance(collection, _futures.Future):
            return collection.result()
        if _is_frame(collection):
            return collection.compute(progress=progress)
        if not isinstance(collection, Array):
            raise TypeError(f"cannot compute {type(collection).__name__}")
        try:
            with diagnostics.progress_hook(progress) as hook:
                buffer = self._core.compute(collection._core, hook)
        except _core.TaskError as e:
            raise _remote_error(e) from None
        out = np.asarray(buffer)
        return out[()] if out.ndim == 0 else out

    def persist(self, collections, progress=None, **kwargs):
        """Compute on the cluster and keep the chunks there; returns arrays reading them.
        `progress` as for `compute`."""
        from tessera.array import Array

        if isinstance(collections, (list, tuple)):
            return type(collections)(self.persist(c, progress=progress) for c in collections)
        if _is_frame(collections) and hasattr(collections, "persist"):
            return collections.persist()
        try:
            with diagnostics.progress_hook(progress) as hook:
                return Array(self._core.persist(collections._core, hook))
        except _core.TaskError as e:
            raise _remote_error(e) from None

    # ---- futures (see tessera.futures) --------------------------------------------
    def submit(self, func, *args, key=None, pure=True, retries=0, **kwargs):
        """Run `func(*args, **kwargs)` in a worker process; a `Future` of its result.
        Futures among the arguments (also inside lists, tuples and dicts) are replaced by
        their values on the worker. Pure calls with equal arguments share one key and one
        result; `pure=False` gives every call its own. `retries` resubmits a failed task
        (when the future is waited on) that many times."""
        return _futures.submit(self, func, args, kwargs, key=key, pure=pure, retries=retries)

    def map(self, func, *iterables, key=None, pure=True, retries=0, **kwargs):
        """`submit(func, *items)` for each tuple of items from `iterables`, sent to the
        scheduler as one graph; a list of futures. `key`, if given, is a list of keys,
        one per call."""
        if not iterables:
            raise TypeError("map needs at least one iterable")
        calls = list(zip(*iterables))
        keys = [None] * len(calls) if key is None else list(key)
        if len(keys) != len(calls):
            raise ValueError(f"map got {len(keys)} keys for {len(calls)} calls")
        return _futures.submit_many(self, func, calls, keys, kwargs, pure=pure, retries=retries)

    def gather(self, futures, errors="raise"):
        """The values of `futures` (a future, or lists/tuples/dicts of them, in shape)."""
        return _futures.gather(futures, errors=errors)

    def scatter(self, data, broadcast=False, **kwargs):
        """Put `data` on the workers; a future (or a list/tuple/dict of them for one of
        values) that later submissions can read. `broadcast` is accepted for Dask
        compatibility; a worker that needs a value fetches it from the holder."""
        return _futures.scatter(self, data)

    def performance_report(self, filename="tessera-report.html"):
        """A context manager writing an HTML performance report of the block's work on
        this client's cluster to `filename` (see `tessera.performance_report`)."""
        return diagnostics.performance_report(filename, client=self)

    def close(self):
        """Disconnect (and stop the cluster this client started)."""
        with _LOCK:
            while self in _CURRENT:
                _CURRENT.remove(self)
        self._core.close()
        if self._cluster is not None:
            self._cluster.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def __repr__(self):
        return f"<tessera.Client: scheduler={self.scheduler_address!r}>"


def _is_frame(obj):
    """Whether `obj` is a tessera DataFrame, Series or lazy Scalar (without importing
    tessera.dataframe, which needs pandas, when it is not in use)."""
    return type(obj).__module__.startswith("tessera.dataframe.")


def _remote_error(e):
    """The task error, also an instance of the remote exception's builtin type when there
    is one (`except ValueError` catches a ValueError raised in `map_blocks`)."""
    message = getattr(e, "remote_message", "")
    type_name = message.split(":", 1)[0].strip()
    base = getattr(builtins, type_name, None)
    cls = _core.TaskError
    if isinstance(base, type) and issubclass(base, Exception) and base is not _core.TaskError:
        try:
            cls = type(type_name, (_core.TaskError, base), {"__module__": "tessera"})
        except TypeError:  # incompatible layouts (e.g. OSError): the plain TaskError
            cls = _core.TaskError
    err = cls(*e.args)
    for attr in ("key", "worker", "remote_message", "remote_traceback"):
        setattr(err, attr, getattr(e, attr, None))
    return err


def get_client():
    """The newest open client; without one, a client of a local cluster started now and
    kept for the rest of the session (like Dask's default scheduler)."""
    global _DEFAULT
    with _LOCK:
        if _CURRENT:
            return _CURRENT[-1]
        if _DEFAULT is None:
            _DEFAULT = Client(set_as_default=False)
        return _DEFAULT


def compute(*arrays, **kwargs):
    """Compute several arrays (NumPy), DataFrames and Series (pandas), lazy scalars,
    delayed values and futures; a tuple of the results."""
    return tuple(get_client().compute(list(arrays), sync=True, **kwargs))


def persist(*arrays, **kwargs):
    """Persist several arrays; a tuple of arrays reading the kept chunks."""
    out = tuple(get_client().persist(list(arrays)))
    return out[0] if len(out) == 1 else out


@atexit.register
def _close_everything():
    global _DEFAULT
    for client in list(_LIVE_CLIENTS):
        try:
            client.close()
        except Exception:  # noqa: BLE001 - best effort at exit
            pass
    for cluster in list(_LIVE_CLUSTERS):
        try:
            cluster.close()
        except Exception:  # noqa: BLE001
            pass
    _DEFAULT = None
