"""Futures and delayed on a real cluster: submit/map/gather/scatter/as_completed/wait,
chains, retries, remote exceptions with their own types, and delayed graphs."""

import io
import os
import pickle
import time

import numpy as np
import pytest

import tessera as ts
import tessera.array as ta


def inc(x):
    return x + 1


def add(x, y=0):
    return x + y


def slow(x, delay):
    time.sleep(delay)
    return x


def test_submit_runs_in_a_worker_process_and_chains(client):
    assert client.submit(os.getpid).result() != os.getpid()
    a = client.submit(inc, 1)
    b = client.submit(inc, a)
    c = client.submit(add, a, y=b)
    assert (a.result(), b.result(), c.result()) == (2, 3, 5)
    nested = client.submit(sum, [a, b, c, 10])
    assert nested.result() == 20
    d = client.submit(lambda m: {k: v * 2 for k, v in m.items()}, {"a": a, "b": [b]})
    assert d.result() == {"a": 4, "b": [3, 3]}
    assert client.compute(c) is c and client.compute(c, sync=True) == 5
    assert "finished" in repr(c) and c.status == "finished" and c.done()


def test_pure_calls_share_a_key_and_impure_ones_do_not(client):
    assert client.submit(inc, 41).key == client.submit(inc, 41).key
    assert client.submit(inc, 41).key != client.submit(inc, 42).key
    assert client.submit(inc, 1, pure=False).key != client.submit(inc, 1, pure=False).key
    assert client.submit(inc, 1).key.startswith("inc-")
    assert client.submit(inc, 5, key="my-key").key == "my-key"


def test_map_gather_and_as_completed(client):
    futures = client.map(inc, range(20))
    assert client.gather(futures) == list(range(1, 21))
    assert client.gather({"x": futures[0], "y": (futures[1], 7)}) == {"x": 1, "y": (2, 7)}
    sums = client.map(add, range(5), range(5, 10))
    assert client.gather(sums) == [5, 7, 9, 11, 13]
    delays = [0.6, 0.05, 0.3]
    timed = [client.submit(slow, i, d, pure=False) for i, d in enumerate(delays)]
    order = [f.result() for f in ts.as_completed(timed)]
    assert sorted(order) == [0, 1, 2] and order[-1] == 0, order
    pairs = list(ts.as_completed(client.map(inc, [1, 2]), with_results=True))
    assert sorted(r for _, r in pairs) == [2, 3]


def test_scatter_and_numpy_values(client):
    data = np.arange(100_000, dtype=np.float64)
    [fx] = client.scatter([data])
    total = client.submit(np.sum, fx)
    assert total.result() == data.sum()
    back = client.submit(lambda a: a * 2, fx).result()
    np.testing.assert_array_equal(back, data * 2)
    scattered = client.scatter({"a": 1, "b": 2})
    assert client.submit(add, scattered["a"], scattered["b"]).result() == 3
    one = client.scatter("text")
    assert isinstance(one, ts.Future) and one.result() == "text"


def test_remote_exceptions_keep_their_type_message_and_traceback(client):
    class Custom(Exception):
        pass

    def fails(x):
        raise Custom(f"bad value {x}")

    f = client.submit(fails, 3)
    with pytest.raises(Custom, match="bad value 3") as info:
        f.result()
    notes = "\n".join(getattr(info.value, "__notes__", []))
    assert "Remote traceback" in notes and "fails" in notes and f.key in notes
    assert f.status == "error"
    assert isinstance(f.exception(), Custom)
    with pytest.raises(ZeroDivisionError):
        client.submit(lambda: 1 / 0).result()
    with pytest.raises(KeyError):
        client.submit(lambda d: d["missing"], {}).result()
    # A failed input fails what reads it, with the input's exception.
    with pytest.raises(Custom, match="bad value 4"):
        client.submit(inc, client.submit(fails, 4)).result()
    assert client.gather([client.submit(inc, 1), client.submit(fails, 5)],
                         errors="skip") == [2]


def test_retries_rerun_a_failing_task(client, tmp_path):
    def flaky(path, failures):
        n = int(path.read_text()) if path.exists() else 0
        path.write_text(str(n + 1))
        if n < failures:
            raise RuntimeError(f"attempt {n + 1} fails")
        return n + 1

    ok = client.submit(flaky, tmp_path / "a", 2, retries=2, pure=False)
    assert ok.result() == 3
    short = client.submit(flaky, tmp_path / "b", 2, retries=1, pure=False)
    with pytest.raises(RuntimeError, match="attempt 2 fails"):
        short.result()
    with pytest.raises(ValueError, match="retries"):
        client.submit(inc, 1, retries=-1)


def test_wait_timeouts_and_progress(client):
    quick = client.submit(slow, 1, 0.0, pure=False)
    assert quick.result() == 1
    # One future done already: FIRST_COMPLETED returns at once.
    long = client.submit(slow, 2, 1.5, pure=False)
    done, not_done = ts.wait([long, quick], return_when="FIRST_COMPLETED")
    assert quick in done and long in not_done
    other = client.submit(slow, 3, 0.0, pure=False)
    done, not_done = ts.wait([long, other], return_when="FIRST_COMPLETED")
    assert other in done and long in not_done
    with pytest.raises(TimeoutError):
        long.result(timeout=0.05)
    with pytest.raises(TimeoutError):
        ts.wait([long], timeout=0.05)
    out = io.StringIO()
    ts.progress([quick, long], out=out)
    assert long.done() and "2/2 tasks" in out.getvalue().split("\r")[-1]
    done, not_done = ts.wait([quick, long])
    assert done == {quick, long} and not not_done


def test_delayed_builds_graphs_that_run_as_tasks(client):
    dinc = ts.delayed(inc)
    parts = [dinc(i) for i in range(5)]
    total = ts.delayed(sum)(parts)
    assert total.compute() == 15
    x = dinc(1)
    assert ((x + 1) * 2 - x).compute() == 4
    assert (10 - x).compute() == 8
    assert ts.delayed({"k": [1, 2]})["k"][1].compute() == 2
    assert client.compute(ts.delayed(add)(x, y=x)).result() == 4

    @ts.delayed
    def double(v):
        return 2 * v

    assert double(x).compute() == 4
    f = double(3).persist()
    assert isinstance(f, ts.Future) and f.result() == 6
    with pytest.raises(TypeError, match="unknown until computed"):
        bool(x)


def test_bad_calls_are_refused_before_anything_runs(client):
    import threading

    lock = threading.Lock()
    with pytest.raises(TypeError, match="cannot send"):
        client.submit(lambda: lock)
    with pytest.raises(TypeError, match="callable"):
        client.submit(3)
    with pytest.raises(TypeError, match="cannot send"):
        client.submit(inc, [client.submit(inc, 1), lambda: lock])
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(client.submit(inc, 1))
    with pytest.raises(ValueError, match="2 keys for 3 calls"):
        client.map(inc, [1, 2, 3], key=["a", "b"])


def test_client_compute_returns_futures_like_dask(client):
    x = ta.from_array(np.arange(12.0).reshape(3, 4), chunks=2)
    f = client.compute(x.sum())
    assert isinstance(f, ts.ComputeFuture)
    assert f.result(timeout=60) == 66.0 and f.done() and f.status == "finished"
    assert "finished" in repr(f)
    several = client.compute([x.sum(axis=0), x.max(), ts.delayed(add)(1, 2)])
    assert isinstance(several, list) and len(several) == 3
    got = client.gather(several)
    np.testing.assert_array_equal(got[0], np.arange(12.0).reshape(3, 4).sum(axis=0))
    assert got[1:] == [11.0, 3]
    # Mixed with submit futures in as_completed and wait.
    call = client.submit(inc, 1)
    done = {id(g) for g in ts.as_completed([client.compute(x.min()), call])}
    assert id(call) in done and len(done) == 2
    pending = [client.compute(x.mean()), client.submit(inc, 2)]
    finished, not_finished = ts.wait(pending, timeout=60)
    assert len(finished) == 2 and not not_finished
    # Errors come back from result(); a compute future cannot travel to a worker.
    bad = client.compute(ta.map_blocks(_raise_value_error, x))
    with pytest.raises(ValueError, match="no good"):
        bad.result(timeout=60)
    assert bad.status == "error" and isinstance(bad.exception(), ValueError)
    with pytest.raises(TypeError, match="result"):
        client.submit(inc, client.compute(x.sum())).result()
    with pytest.raises(TypeError, match="cannot compute"):
        client.compute(object())


def _raise_value_error(block):
    raise ValueError("no good")
