"""Progress bars fed by the scheduler's task counts, the settings that control them, and
performance reports naming every worker and operation that ran."""

import io
import re
import sys
import time
import types

import numpy as np
import pytest

import tessera as ts
import tessera.array as ta
from tessera import diagnostics


def _slow(block):
    time.sleep(0.25)
    return block * 2


def test_hook_sees_the_scheduler_counts_rise_to_the_total(client):
    x = ta.from_array(np.arange(64.0).reshape(8, 8), chunks=(2, 8))  # 4 blocks
    calls = []
    out = client.compute(ta.map_blocks(_slow, x).sum(), sync=True,
                         progress=lambda e, d, t: calls.append((e, d, t)))
    assert out == np.arange(64.0).sum() * 2
    assert calls, "the hook is called while waiting"
    elapsed = [c[0] for c in calls]
    assert elapsed == sorted(elapsed)
    counted = [c for c in calls if c[2] > 0]
    assert counted, f"the scheduler reported progress: {calls[-5:]}"
    totals = {c[2] for c in counted}
    assert len(totals) == 1, totals
    total = totals.pop()
    assert total >= 5, "4 map_blocks tasks and at least one sum task"
    done = [c[1] for c in counted]
    assert done == sorted(done) and done[-1] <= total
    assert done[-1] >= 1, "some task was seen finished before the result arrived"


def test_bar_draws_after_its_minimum_and_finishes_at_the_total(client):
    x = ta.from_array(np.ones((6, 4)), chunks=(1, 4))
    out = io.StringIO()
    bar = ts.ProgressBar(minimum=0.2, out=out, notebook=False)
    r = client.compute(ta.map_blocks(_slow, x).sum(), sync=True, progress=bar)
    assert r == 48.0
    text = out.getvalue()
    assert bar.shown and text.endswith("\n"), text
    last = text.rstrip("\n").split("\r")[-1]
    m = re.search(r"\|\s*100% \| (\d+)/(\d+) tasks \| 0:00:0\d", last)
    assert m and m.group(1) == m.group(2), last
    assert "#" * 40 in last


def test_short_work_draws_nothing_and_errors_leave_the_bar_unfinished(client):
    out = io.StringIO()
    bar = ts.ProgressBar(minimum=5.0, out=out, notebook=False)
    assert client.compute(ta.ones((4,), chunks=2).sum(), sync=True, progress=bar) == 4.0
    assert out.getvalue() == "" and not bar.shown

    def boom(b):
        time.sleep(0.3)
        raise ValueError("bad block")

    out = io.StringIO()
    bar = ts.ProgressBar(minimum=0.0, out=out, notebook=False)
    with pytest.raises(ValueError, match="bad block"):
        client.compute(ta.map_blocks(boom, ta.ones((4,), chunks=2)), sync=True, progress=bar)
    assert "100%" not in out.getvalue().split("\r")[-1]


def test_dataframe_compute_takes_a_progress_hook(client):
    pd = pytest.importorskip("pandas")
    import tessera.dataframe as td

    df = td.from_pandas(pd.DataFrame({"k": np.arange(200) % 7, "v": np.arange(200.0)}),
                        npartitions=4)
    calls = []
    got = df.groupby("k").v.sum().compute(progress=lambda e, d, t: calls.append((d, t)))
    expected = pd.DataFrame({"k": np.arange(200) % 7, "v": np.arange(200.0)}).groupby("k").v.sum()
    got = got.sort_values("k")
    assert got["k"].tolist() == expected.index.tolist()
    assert got["v"].tolist() == expected.tolist()
    assert all(d <= t for d, t in calls)


def test_settings_choose_the_default_bar(monkeypatch):
    monkeypatch.setenv("TESSERA_PROGRESS", "1")
    with ts.config.set(progress=False):
        assert diagnostics._default_bar() is None
    with ts.config.set(progress=True):
        assert isinstance(diagnostics._default_bar(), ts.ProgressBar)
    # pytest's stderr is no terminal: no bar by default.
    assert diagnostics._default_bar() is None
    monkeypatch.setenv("TESSERA_PROGRESS", "0")
    assert diagnostics._default_bar() is None
    with ts.config.set(progress_minimum=3):
        assert ts.config.get("progress_minimum") == 3.0
        assert ts.ProgressBar().minimum == 3.0
    assert ts.config.get("progress_minimum") == 1.0
    with pytest.raises(KeyError, match="unknown tessera settings"):
        ts.config.set(colour="blue")
    with pytest.raises(TypeError):
        ts.config.set(progress="yes")
    with pytest.raises(TypeError, match="progress must be"):
        with diagnostics.progress_hook(3):
            pass


def test_notebook_bar_updates_one_display(monkeypatch):
    shown = []

    class HTML:
        def __init__(self, data):
            self.data = data

    class Handle:
        def update(self, obj):
            shown.append(("update", obj.data))

    def display(obj, display_id=False):
        assert display_id is True
        shown.append(("display", obj.data))
        return Handle()

    # IPython's display API, as a notebook kernel has it.
    package, module = types.ModuleType("IPython"), types.ModuleType("IPython.display")
    module.HTML, module.display, package.display = HTML, display, module
    monkeypatch.setitem(sys.modules, "IPython", package)
    monkeypatch.setitem(sys.modules, "IPython.display", module)
    bar = ts.ProgressBar(minimum=0, notebook=True)
    bar(0.5, 1, 4)
    time.sleep(0.15)
    bar(0.9, 3, 4)
    bar.finish()
    assert [k for k, _ in shown] == ["display", "update", "update"]
    assert 'value="4" max="4"' in shown[-1][1] and "4/4 tasks" in shown[-1][1]


def test_performance_report_names_every_worker_and_operation(client, tmp_path):
    path = tmp_path / "report.html"
    x = ta.random.random((400, 400), chunks=(100, 100))
    y = x + 1  # read by both reductions, so it stays a task of its own (not fused)
    with ts.performance_report(filename=path):
        (y.sum(axis=0) + y.max(axis=1)).compute()
    page = path.read_text()
    assert page.lstrip().lower().startswith("<!doctype html")
    for w in client.scheduler_info()["workers"]:
        assert f'data-address="{w["registration"]["data_address"]}"' in page
    ops = set(re.findall(r'data-op="([^"]+)"', page))
    assert {"add", "sum", "max"} <= ops, ops
    other = tmp_path / "second.html"
    with client.performance_report(other):
        ta.ones((10,), chunks=5).sum().compute()
    assert other.exists()
