"""Progress bars and performance reports: a bar in the terminal or notebook for work that
runs past a second, fed by the scheduler's task counts, and Dask's `performance_report`.

A bar shows by default when stderr is a terminal or in a Jupyter kernel, and never when
`TESSERA_PROGRESS=0` or after `tessera.config.set(progress=False)`; `compute(progress=...)`
takes `False`, `True` (a bar even when not a terminal) or any `(elapsed, done, total)`
callable."""

import contextlib
import html
import os
import sys
import time

from tessera import config

# Least time between two redraws of one bar, in seconds.
_REDRAW_EVERY = 0.1


def _in_notebook():
    """Whether this is a Jupyter kernel (IPython's ZMQ shell)."""
    shell = sys.modules.get("IPython")
    if shell is None:
        return False
    try:
        ip = shell.get_ipython()
    except Exception:  # noqa: BLE001 - an IPython without a shell
        return False
    return ip is not None and type(ip).__name__ == "ZMQInteractiveShell"


def _format_seconds(seconds):
    seconds = int(seconds)
    return f"{seconds // 3600:d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


class ProgressBar:
    """A progress bar drawn from `(elapsed_seconds, tasks_done, tasks_total)` calls, as
    `Client.compute` makes them while it waits; nothing shows before `minimum` seconds.
    `out` is a text stream (stderr by default); `notebook=True` draws an HTML bar with
    IPython's display instead. `finish()` draws the final state."""

    def __init__(self, minimum=None, width=40, out=None, notebook=None):
        self.minimum = config.get("progress_minimum") if minimum is None else float(minimum)
        self.width = int(width)
        self.out = out
        self.notebook = _in_notebook() if notebook is None else bool(notebook)
        self.elapsed = 0.0
        self.done = 0
        self.total = 0
        self.shown = False
        self._drawn_at = 0.0
        self._handle = None

    def __call__(self, elapsed, done, total):
        self.elapsed, self.done, self.total = float(elapsed), int(done), int(total)
        if self.elapsed < self.minimum:
            return
        now = time.monotonic()
        if self.shown and now - self._drawn_at < _REDRAW_EVERY:
            return
        self._drawn_at = now
        self._draw(final=False)

    def finish(self, ok=True):
        """Draw the last state (every task done when `ok`) and end the line."""
        if not self.shown:
            return
        if ok:
            self.done = self.total
        self._draw(final=True)

    def text(self):
        """The bar as one line of text."""
        fraction = self.done / self.total if self.total else 0.0
        filled = int(round(fraction * self.width))
        bar = "#" * filled + " " * (self.width - filled)
        return (f"[{bar}] | {fraction * 100:3.0f}% | {self.done}/{self.total} tasks"
                f" | {_format_seconds(self.elapsed)}")

    def _draw(self, final):
        self.shown = True
        if self.notebook:
            self._draw_html()
            return
        out = self.out if self.out is not None else sys.stderr
        out.write("\r" + self.text() + ("\n" if final else ""))
        out.flush()

    def _draw_html(self):
        from IPython.display import HTML, display

        fraction = self.done / self.total if self.total else 0.0
        page = HTML(
            f'<div class="tessera-progress" style="font-family: monospace">'
            f'<progress value="{self.done}" max="{max(self.total, 1)}" '
            f'style="width: 24em"></progress> {fraction * 100:3.0f}% | '
            f"{html.escape(f'{self.done}/{self.total} tasks')} | "
            f"{_format_seconds(self.elapsed)}</div>"
        )
        if self._handle is None:
            self._handle = display(page, display_id=True)
        else:
            self._handle.update(page)


def _default_bar():
    """A bar when one should show by default: in a notebook, or a terminal, unless turned
    off; on stderr even when it is no terminal after `config.set(progress=True)`."""
    if not config.progress_enabled():
        return None
    if _in_notebook():
        return ProgressBar(notebook=True)
    stream = sys.stderr
    tty = stream is not None and hasattr(stream, "isatty") and stream.isatty()
    if tty or config.get("progress") is True:
        return ProgressBar()
    return None


@contextlib.contextmanager
def progress_hook(progress=None):
    """The hook to pass to the extension for one call: `progress` as `compute` takes it
    (`None` for the default). A bar made here is finished when the block ends."""
    if progress is None:
        hook = _default_bar()
    elif progress is True:
        hook = ProgressBar(notebook=_in_notebook())
    elif progress is False:
        hook = None
    elif callable(progress):
        hook = progress
    else:
        raise TypeError(
            f"progress must be True, False, None or a callable, not {type(progress).__name__}")
    ok = False
    try:
        yield hook
        ok = True
    finally:
        if isinstance(hook, ProgressBar):
            hook.finish(ok=ok)


@contextlib.contextmanager
def performance_report(filename="tessera-report.html", client=None):
    """Record what the cluster does inside the block and write a self-contained HTML
    report to `filename` at its end (task stream, time per operation, transfer volume,
    worker memory), like `dask.distributed.performance_report`. Written even when the
    block raises."""
    if client is None:
        from tessera.distributed import get_client

        client = get_client()
    recorder = client._core.start_report()
    try:
        yield
    finally:
        # Let the workers' last heartbeats (memory, transfer) reach the scheduler.
        time.sleep(0.6)
        recorder.stop(os.fspath(filename))
