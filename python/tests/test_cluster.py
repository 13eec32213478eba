"""Clusters are real processes that go away: after `with`, after an exception inside
`with`, at interpreter exit, when the parent is killed, and on Ctrl-C during compute().
Also the default cluster started by compute() without a client."""

import signal
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pytest

import tessera as ts
import tessera.array as ta


def alive(pid):
    """Whether `pid` runs (zombies count as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def wait_gone(pids, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(alive(p) for p in pids):
        time.sleep(0.05)
    return [p for p in pids if alive(p)]


def run_python(code, faulthandler=False, **kwargs):
    flags = ["-X", "faulthandler"] if faulthandler else []
    return subprocess.Popen(
        [sys.executable, *flags, "-c", textwrap.dedent(code)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs,
    )


def test_workers_are_python_processes_and_go_away_after_with():
    with ts.LocalCluster(n_workers=2, threads_per_worker=1) as cluster:
        pids = [cluster.scheduler_pid, *cluster.worker_pids]
        assert len(pids) == 3 and all(alive(p) for p in pids)
        for pid in cluster.worker_pids:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
            assert argv[1:3] == [b"-m", b"tessera"] and b"worker" in argv, argv
        with ts.Client(cluster) as client:
            info = client.scheduler_info()
            assert len(info["workers"]) == 2
            assert client.dashboard_link is None or client.dashboard_link.startswith("http")
            assert ta.ones((10,), chunks=3).sum().compute() == 10
    assert wait_gone(pids) == []


def test_exception_inside_with_cleans_up():
    pids = []
    with pytest.raises(RuntimeError, match="inside"):
        with ts.LocalCluster(n_workers=1, threads_per_worker=1) as cluster:
            pids = [cluster.scheduler_pid, *cluster.worker_pids]
            raise RuntimeError("inside the with block")
    assert pids and wait_gone(pids) == []


def test_client_without_address_owns_its_cluster():
    with ts.Client(n_workers=1, threads_per_worker=1) as client:
        pids = [client.cluster.scheduler_pid, *client.cluster.worker_pids]
        np.testing.assert_array_equal(ta.arange(5, chunks=2).compute(), np.arange(5))
    assert wait_gone(pids) == []


def test_interpreter_exit_and_parent_kill_leave_no_processes():
    code = """
        import tessera as ts
        cluster = ts.LocalCluster(n_workers=1, threads_per_worker=1)
        print(cluster.scheduler_pid, *cluster.worker_pids, flush=True)
        import sys, time
        if sys.argv[1:] == ["hang"]:
            time.sleep(60)
    """
    # Normal exit with the cluster still open: atexit stops it.
    p = run_python(code)
    pids = [int(x) for x in p.stdout.readline().split()]
    assert p.wait(timeout=30) == 0
    assert len(pids) == 2 and wait_gone(pids) == []
    # The parent killed with SIGKILL: the children get the parent-death signal.
    p = subprocess.Popen([sys.executable, "-c", textwrap.dedent(code), "hang"],
                         stdout=subprocess.PIPE, text=True)
    pids = [int(x) for x in p.stdout.readline().split()]
    p.kill()
    p.wait(timeout=10)
    assert len(pids) == 2 and wait_gone(pids) == []


def test_compute_without_client_starts_a_default_cluster():
    p = run_python("""
        import tessera.array as ta
        print(ta.ones((6, 4), chunks=(2, 2)).sum(axis=0).compute().tolist(), flush=True)
    """)
    out, err = p.communicate(timeout=60)
    assert p.returncode == 0, err
    assert out.strip() == "[6.0, 6.0, 6.0, 6.0]"


def test_ctrl_c_interrupts_a_long_compute_and_cleans_up(tmp_path):
    started = tmp_path / "started"
    p = run_python(f"""
        import pathlib, signal, time
        import tessera as ts, tessera.array as ta
        # As in a terminal: a test runner started in the background (`cmd &`) passes
        # SIGINT down ignored, and Python then installs no KeyboardInterrupt handler.
        signal.signal(signal.SIGINT, signal.default_int_handler)
        def slow_block(b):
            pathlib.Path({str(started)!r}).touch()
            time.sleep(120)
            return b
        with ts.LocalCluster(n_workers=1, threads_per_worker=1) as c, ts.Client(c):
            print(c.scheduler_pid, *c.worker_pids, flush=True)
            slow = ta.ones((4,), chunks=2).map_blocks(slow_block, dtype=float)
            try:
                slow.compute()
            except KeyboardInterrupt:
                print("interrupted", flush=True)
                raise
    """, faulthandler=True)
    pids = [int(x) for x in p.stdout.readline().split()]
    assert len(pids) == 2
    # Interrupt once a block is running: compute() is then waiting for it.
    deadline = time.monotonic() + 60
    while not started.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert started.exists(), "the slow block never started"
    time.sleep(0.2)
    p.send_signal(signal.SIGINT)
    try:
        out, err = p.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        # faulthandler prints every thread's stack on SIGABRT: say where it hangs.
        p.send_signal(signal.SIGABRT)
        out, err = p.communicate(timeout=10)
        pytest.fail(f"Ctrl-C did not end the compute within 30 s:\n{out}\n{err}")
    assert "interrupted" in out, err
    assert "KeyboardInterrupt" in err
    assert p.returncode != 0
    assert wait_gone(pids) == []


def test_killed_worker_during_compute_still_gives_the_right_answer():
    with ts.LocalCluster(n_workers=2, threads_per_worker=1, worker_timeout=1.0) as cluster:
        with ts.Client(cluster):
            slow = ta.arange(40, chunks=2, dtype="float64").map_blocks(
                lambda b: (time.sleep(0.1), b * 3)[1], dtype=float)
            killer = threading.Timer(0.5, cluster.kill_worker, (0,))
            killer.start()
            try:
                np.testing.assert_array_equal(slow.compute(), np.arange(40.0) * 3)
            finally:
                killer.join()
            assert not alive(cluster.worker_pids[0])
            np.testing.assert_array_equal((slow + 1).compute(), np.arange(40.0) * 3 + 1)


def test_allowed_failures_errs_a_task_whose_worker_died():
    with pytest.raises(ValueError, match="allowed_failures"):
        ts.LocalCluster(n_workers=1, threads_per_worker=1, allowed_failures=0)
    with ts.LocalCluster(n_workers=2, threads_per_worker=1, allowed_failures=1) as cluster:
        with ts.Client(cluster) as client:
            slow = ta.arange(4, chunks=2, dtype="float64").map_blocks(
                lambda b: (time.sleep(3), b)[1], dtype=float)

            def kill_a_busy_worker():
                deadline = time.monotonic() + 30
                while time.monotonic() < deadline:
                    for w in client.scheduler_info()["workers"]:
                        if w["processing"] > 0:
                            pid = w["registration"]["pid"]
                            cluster.kill_worker(cluster.worker_pids.index(pid))
                            return
                    time.sleep(0.05)

            killer = threading.Thread(target=kill_a_busy_worker)
            killer.start()
            try:
                # One dead worker is enough to err the task it was running.
                with pytest.raises(Exception, match=r"allowed_failures = 1"):
                    slow.compute()
            finally:
                killer.join()
