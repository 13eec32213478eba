"""Text and HTML summaries of a tessera array, like Dask's: shape, dtype, chunks, bytes
and the number of tasks, without computing anything."""

import html


def _bytes(n):
    for unit in ("B", "kiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.2f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1024
    return f"{n} B"


def text(a):
    """`tessera.array<name, shape=..., dtype=..., chunksize=..., chunktype=numpy.ndarray>`."""
    group = a.name.split("-")[0]
    return (
        f"tessera.array<{group}, shape={a.shape}, dtype={a.dtype}, "
        f"chunksize={a.chunksize}, chunktype=numpy.ndarray>"
    )


def table(a):
    """An HTML table of the array and one chunk, as Dask shows in notebooks."""
    import math

    chunk_bytes = math.prod(a.chunksize) * a.dtype.itemsize
    tasks, _ = a._core.graph_stats()
    rows = [
        ("Bytes", _bytes(a.nbytes), _bytes(chunk_bytes)),
        ("Shape", a.shape, a.chunksize),
        ("Graph", f"{a.npartitions} chunks in {tasks} tasks", ""),
        ("Data type", f"{a.dtype} numpy.ndarray", ""),
    ]
    body = "".join(
        f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td>"
        f"<td>{html.escape(str(c))}</td></tr>"
        for k, v, c in rows
    )
    return (
        f"<table><thead><tr><td></td><th>Array</th><th>Chunk</th></tr></thead>"
        f"<tbody>{body}</tbody></table>"
        f"<p><code>{html.escape(text(a))}</code></p>"
    )
