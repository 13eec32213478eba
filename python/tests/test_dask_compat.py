"""Dask compatibility: typical Dask snippets (arrays, dataframes, futures and delayed),
written as a Dask user writes them, run twice from identical source text: once with the
names bound to Dask (`dask.array as da`, `dask.dataframe as dd`, `dask.delayed`,
`dask.distributed` futures and a distributed `Client`) and once bound to tessera
(`tessera.array as da`, `tessera.dataframe as dd`, `tessera` itself as `dask`, the session
tessera `Client`). The value of each snippet's last expression must be the same.

Only the import header and the `client` object differ between the runs. Snippets read
shared deterministic inputs (`A`, `B`, `V`: NumPy arrays of small integers divided by 4,
so that sums and products are exact in any order; `pdf`, `left`, `right`: pandas frames)
and `path`, an empty directory of their own. Results are compared strictly: NumPy values
by dtype, shape and `assert_allclose(rtol=1e-12)`; pandas objects by dtypes and values,
after mapping Dask's index to tessera's index-free form (named index levels become
columns, as tessera's groupby keys are; an integer row index is dropped) and, unless the
snippet's order is defined (`ordered=True`), after sorting rows by every column. String
columns compare as pandas' `str` dtype (Dask makes them `string[pyarrow]`), and Dask's
`int64[pyarrow]` results as `int64`, the dtypes pandas gives.

The tessera run goes first, so a snippet that raises on tessera fails even where Dask is
not installed; the comparison is skipped then.
"""

import ast
import textwrap

import numpy as np
import pandas as pd
import pytest

DASK_HEADER = """\
import dask
import dask.array as da
import dask.dataframe as dd
from dask import delayed
from dask.distributed import as_completed, wait
"""

TESSERA_HEADER = """\
import tessera as dask
import tessera.array as da
import tessera.dataframe as dd
from tessera import delayed
from tessera import as_completed, wait
"""


def inputs():
    """Fresh copies of the inputs every snippet can read."""
    rng = np.random.default_rng(20240516)
    n = 240
    pdf = pd.DataFrame({
        "id": np.arange(n, dtype="int64"),
        "k": rng.integers(0, 5, n),
        "g": pd.array(rng.choice(["a", "b", "c", "d"], n), dtype="str"),
        "x": rng.integers(-50, 50, n),
        "y": rng.standard_normal(n),
    })
    left = pd.DataFrame({
        "key": rng.integers(0, 30, 80),
        "lval": rng.integers(0, 1000, 80),
        "name": pd.array([f"n{i % 7}" for i in range(80)], dtype="str"),
    })
    right = pd.DataFrame({
        "key": np.arange(0, 40, 2, dtype="int64"),
        "rval": np.arange(20, dtype="float64") * 1.5,
    })
    return {
        "A": rng.integers(-40, 40, (60, 60)).astype("float64") / 4,
        "B": rng.integers(-40, 40, (60, 30)).astype("float64") / 4,
        "V": rng.integers(1, 9, 90).astype("float64") / 4,
        "pdf": pdf,
        "left": left,
        "right": right,
    }


class Snippet:
    """A snippet: its source, whether its result's row order is defined, and for a known
    gap the reason and the exception tessera raises (`xfail`, `raises`)."""

    def __init__(self, name, source, ordered=False, xfail=None, raises=None):
        self.name = name
        self.source = textwrap.dedent(source).strip() + "\n"
        self.ordered = ordered
        self.xfail = xfail
        self.raises = raises


S = Snippet
SNIPPETS = [
    # ---- arrays: creation ------------------------------------------------------------
    S("array-from_array", """
        x = da.from_array(A, chunks=(20, 25))
        x.compute()
    """),
    S("array-ones-zeros-full-arange", """
        a = da.ones((6, 8), chunks=(4, 3))
        b = da.zeros((6, 8), chunks=2) + da.full((6, 8), 2.5, chunks=(3, 4))
        c = da.arange(48, chunks=10).reshape(6, 8)
        (a + b * c).compute()
    """),
    S("array-metadata", """
        x = da.from_array(A, chunks=(25, 20))
        y = x[:, :45].T
        (y.shape, y.chunks, y.ndim, y.size, str(y.dtype), y.numblocks)
    """),
    S("array-ones_like-and-astype", """
        x = da.from_array(A, chunks=20)
        (da.ones_like(x) * 3 + x.astype(np.int32)).compute()
    """),
    # ---- arrays: elementwise ---------------------------------------------------------
    S("array-arithmetic", """
        x = da.from_array(A, chunks=(20, 15))
        y = da.from_array(B, chunks=(30, 10))
        ((x[:, :30] + 1) * 2 - y / 4 + y ** 2 - (x[:, 30:] % 3)).compute()
    """),
    S("array-ufuncs", """
        x = da.from_array(A, chunks=(20, 15))
        (np.sin(x) + np.exp(-abs(x)) + da.sqrt(abs(x)) + np.maximum(x, 0.5)).compute()
    """),
    S("array-broadcasting-and-keepdims", """
        x = da.from_array(A, chunks=(20, 15))
        (x - x.mean(axis=0, keepdims=True) + da.from_array(A[0], chunks=7)).compute()
    """),
    S("array-transpose", """
        x = da.from_array(A, chunks=(20, 15))
        (x + x.T).compute()
    """),
    S("array-transpose-3d", """
        x = da.arange(60, chunks=7).reshape(3, 4, 5)
        da.transpose(x, (2, 0, 1)).compute()
    """),
    # ---- arrays: indexing ------------------------------------------------------------
    S("array-slicing", """
        x = da.from_array(A, chunks=(20, 15))
        x[5:50:3, ::-2][::2, 1:].compute()
    """),
    S("array-integer-and-none-indexing", """
        x = da.from_array(A, chunks=(20, 15))
        (x[7].compute(), x[-1, 3:9].compute(), x[[1, 5, 3]].compute(),
         x[None, 2:4, ..., 0].compute(), x[[1, 5, 3], 10:20][:, None].compute())
    """),
    S("array-boolean-mask", """
        x = da.from_array(V, chunks=25)
        x[x > 1].compute()
    """),
    # ---- arrays: reductions ----------------------------------------------------------
    S("array-reductions-with-axis", """
        x = da.from_array(A, chunks=(20, 15))
        (x.sum(axis=0).compute(), x.max(axis=1).compute(), x.min().compute(),
         da.prod(x[:3, :4] + 20, axis=1).compute(), (x > 0).any(axis=0).compute(),
         (x > -10).all().compute())
    """),
    S("array-mean-std-var", """
        x = da.from_array(A, chunks=(20, 15))
        (x.mean().compute(), x.mean(axis=0).compute(), x.std().compute(),
         x.std(axis=1).compute(), x.var(axis=0, ddof=1).compute(), da.var(x).compute())
    """),
    S("array-argmin-argmax", """
        x = da.from_array(V, chunks=25)
        m = da.from_array(A, chunks=(20, 15))
        (x.argmax().compute(), x.argmin().compute(), m.argmax(axis=0).compute())
    """),
    S("array-cumsum-cumprod", """
        x = da.from_array(A, chunks=(20, 15))
        (x.cumsum(axis=1).compute(), da.cumsum(x, axis=0).compute(),
         da.from_array(V[:20], chunks=6).cumprod(axis=0).compute())
    """),
    S("array-dask-compute-several", """
        x = da.from_array(A, chunks=(20, 15))
        dask.compute(x.sum(), x.mean(axis=1))
    """),
    # ---- arrays: structure -----------------------------------------------------------
    S("array-rechunk", """
        x = da.from_array(A, chunks=(20, 15))
        y = x.rechunk((25, 7))
        (y.chunks, y.sum(axis=0).compute(), x.rechunk(60).chunks)
    """),
    S("array-concatenate-stack", """
        x = da.from_array(A, chunks=(20, 15))
        y = da.from_array(B, chunks=(30, 10))
        (da.concatenate([x, y], axis=1).compute(), da.concatenate([x, x[:10]]).compute(),
         da.stack([x[0], x[1], x[2]]).compute(), da.stack([y, y], axis=-1).compute())
    """),
    S("array-matmul-dot", """
        x = da.from_array(A, chunks=(20, 15))
        y = da.from_array(B, chunks=(15, 10))
        ((x @ y).compute(), da.dot(x, y).compute(), x.dot(x.T).compute(),
         da.matmul(x, da.from_array(V[:60], chunks=20)).compute())
    """),
    S("array-where", """
        x = da.from_array(A, chunks=(20, 15))
        (da.where(x > 0, x, -x * 2).compute(), da.where(x < 1, 0, x).compute())
    """),
    S("array-map_blocks-lambda", """
        x = da.from_array(A, chunks=(20, 15))
        x.map_blocks(lambda b: b * 2 + 1).compute()
    """),
    S("array-map_blocks-dtype-and-blocks", """
        x = da.from_array(A, chunks=(20, 15))
        y = da.map_blocks(lambda a, b: (a + b).astype(np.float32), x, x + 1, dtype=np.float32)
        z = da.map_blocks(lambda a, k, r: a * k - r, x, 3, x[0], dtype=x.dtype)
        (y.compute(), z.compute())
    """),
    S("array-reshape", """
        x = da.arange(120, chunks=10)
        (x.reshape(10, 12).compute(), x.reshape((4, 30)).sum(axis=1).compute(),
         da.reshape(x, (2, 3, 20)).compute())
    """),
    S("array-persist", """
        x = da.from_array(A, chunks=(20, 15))
        y = (x * 2).persist()
        (y + 1).sum(axis=0).compute()
    """),
    S("array-numpy-protocols", """
        x = da.from_array(A, chunks=(20, 15))
        (np.asarray(x + 1), np.mean(x).compute(), float(x[0, 0]))
    """),
    S("array-dtype-rules", """
        i = da.arange(10, chunks=4)
        f = da.ones(10, dtype="float32", chunks=4)
        s = da.arange(10, dtype="int32", chunks=4)
        ((i / 2).compute(), (i // 3).compute(), (f * 2.5).compute(), (s + 1).compute(),
         (s * i).compute(), s.sum().compute(), (i > 4).sum().compute(), i.mean().compute(),
         (f + i).compute(), (s.astype(bool) & (i < 5)).compute())
    """),
    S("array-negative-and-tuple-axes", """
        x = da.from_array(A, chunks=(20, 15))
        (x.sum(axis=-1).compute(), x.mean(axis=(0, 1)).compute(),
         x.max(axis=-2, keepdims=True).compute())
    """),
    S("array-numpy-functions", """
        x = da.from_array(A, chunks=(20, 15))
        y = da.from_array(B, chunks=(15, 10))
        (np.sum(x, axis=0).compute(), np.dot(x, y).compute(),
         np.concatenate([x, x], axis=1).compute(), np.where(x > 0, 1.0, x).compute(),
         np.transpose(y).compute(), np.clip(x, -2, 3).compute(), np.round(x / 3, 2).compute())
    """),
    S("array-2d-boolean-mask", """
        x = da.from_array(A, chunks=(20, 15))
        x[x > 5].compute()
    """),
    S("array-chunks-auto-and-dict-rechunk", """
        x = da.from_array(A, chunks="auto")
        y = da.from_array(A, chunks=(20, 15)).rechunk({0: 30})
        (x.sum(axis=0).compute(), y.chunks, y.mean(axis=1).compute())
    """),
    S("array-tensordot-and-ravel", """
        x = da.from_array(A, chunks=(20, 15))
        y = da.from_array(B, chunks=(15, 10))
        (da.tensordot(x, y, axes=1).compute(), da.tensordot(x, x, axes=([0, 1], [1, 0])).compute(),
         x[:5].ravel().compute())
    """),
    S("array-client-compute-future", """
        x = da.from_array(A, chunks=(20, 15))
        (client.compute(x.sum()).result(), client.gather(client.compute([x.max(), x.min()])),
         client.compute(x.mean(), sync=True))
    """),
    # ---- dataframes ------------------------------------------------------------------
    S("df-from_pandas-compute", """
        df = dd.from_pandas(pdf, npartitions=3)
        df.compute()
    """),
    S("df-npartitions-and-len", """
        df = dd.from_pandas(pdf, npartitions=3)
        (df.npartitions, len(df), len(df[df.x > 0]))
    """),
    S("df-metadata", """
        df = dd.from_pandas(pdf, npartitions=3)
        dtypes = {c: str(t) for c, t in df.dtypes.items() if c != "g"}
        (list(df.columns), dtypes, pd.api.types.is_string_dtype(df.dtypes["g"]), len(df))
    """),
    S("df-column-arithmetic", """
        df = dd.from_pandas(pdf, npartitions=3)
        df["z"] = df.x * 2 + df.y / 4 - 1
        df[["id", "z"]].compute()
    """),
    S("df-boolean-filter", """
        df = dd.from_pandas(pdf, npartitions=3)
        df[(df.x > 3) & ~(df.g == "b") | df.k.isin([0, 4])].compute()
    """),
    S("df-assign", """
        df = dd.from_pandas(pdf, npartitions=3)
        df.assign(z=df.x * df.y, w=df.x.astype("float64") / 3, one=1,
                  big=lambda d: d.x > 10).compute()
    """),
    S("df-column-reductions", """
        df = dd.from_pandas(pdf, npartitions=3)
        (df.x.sum().compute(), df.y.mean().compute(), df.x.min().compute(),
         df.y.max().compute(), df.y.std().compute(), df.x.count().compute())
    """),
    S("df-frame-reductions", """
        df = dd.from_pandas(pdf, npartitions=3)
        (df[["x", "y"]].sum().compute(), df[["k", "x"]].max().compute())
    """),
    S("df-groupby-agg-dict", """
        df = dd.from_pandas(pdf, npartitions=3)
        df.groupby("k").agg({"x": "sum", "y": "mean"}).compute()
    """),
    S("df-groupby-named-aggregation", """
        df = dd.from_pandas(pdf, npartitions=3)
        df.groupby(["k", "g"]).agg(total=("x", "sum"), avg=("y", "mean"), n=("y", "count"),
                                   lo=("x", "min"), hi=("y", "max")).compute()
    """),
    S("df-groupby-column-sum", """
        df = dd.from_pandas(pdf, npartitions=3)
        df.groupby("g").x.sum().compute()
    """),
    S("df-groupby-getitem-mean-std", """
        df = dd.from_pandas(pdf, npartitions=3)
        (df.groupby("k")["y"].mean().compute(), df.groupby("k")["y"].std().compute())
    """),
    S("df-groupby-frame-methods", """
        df = dd.from_pandas(pdf, npartitions=3)
        (df[["k", "x", "y"]].groupby("k").max().compute(),
         df[["g", "x"]].groupby("g").count().compute())
    """),
    S("df-groupby-series-agg-list", """
        df = dd.from_pandas(pdf, npartitions=3)
        df.groupby("k").y.agg(["sum", "mean", "max"]).compute()
    """),
    S("df-groupby-size", """
        df = dd.from_pandas(pdf, npartitions=3)
        df.groupby("g").size().compute()
    """),
    S("df-groupby-reset_index", """
        df = dd.from_pandas(pdf, npartitions=3)
        df.groupby(["k", "g"]).x.sum().reset_index().compute()
    """),
    S("df-groupby-nunique", """
        df = dd.from_pandas(pdf, npartitions=3)
        df.groupby("g").k.nunique().compute()
    """),
    S("df-merge-inner", """
        l = dd.from_pandas(left, npartitions=3)
        r = dd.from_pandas(right, npartitions=2)
        l.merge(r, on="key").compute()
    """),
    S("df-merge-left", """
        l = dd.from_pandas(left, npartitions=3)
        r = dd.from_pandas(right, npartitions=2)
        dd.merge(l, r, on="key", how="left").compute()
    """),
    S("df-merge-left_on-right_on", """
        df = dd.from_pandas(pdf, npartitions=3)
        r = dd.from_pandas(right, npartitions=2)
        df.merge(r, left_on="x", right_on="key", how="inner")[["id", "x", "rval"]].compute()
    """),
    S("df-sort_values", """
        df = dd.from_pandas(pdf, npartitions=3)
        df.sort_values("y").compute()
    """, ordered=True),
    S("df-sort_values-head", """
        df = dd.from_pandas(pdf, npartitions=3)
        df.sort_values("y", ascending=False).head(10)
    """, ordered=True),
    S("df-drop_duplicates", """
        df = dd.from_pandas(pdf, npartitions=3)
        df[["k", "g"]].drop_duplicates().compute()
    """),
    S("df-map_partitions", """
        df = dd.from_pandas(pdf, npartitions=3)
        df.map_partitions(lambda p: p.assign(z=p.x * p.y)).compute()
    """),
    S("df-map_partitions-meta", """
        df = dd.from_pandas(pdf, npartitions=3)
        out = df.map_partitions(lambda p: p[p.x > 0][["id", "y"]],
                                meta={"id": "int64", "y": "float64"})
        out.compute()
    """),
    S("df-parquet-round-trip", """
        df = dd.from_pandas(pdf, npartitions=3)
        df.to_parquet(path)
        dd.read_parquet(path).compute()
    """),
    S("df-read_parquet-columns-filters", """
        dd.from_pandas(pdf, npartitions=3).to_parquet(path)
        dd.read_parquet(path, columns=["id", "x"], filters=[("x", ">", 10)]).compute()
    """),
    S("df-nunique", """
        df = dd.from_pandas(pdf, npartitions=3)
        (df.g.nunique().compute(), df.k.nunique().compute())
    """),
    S("df-value_counts", """
        df = dd.from_pandas(pdf, npartitions=3)
        df.g.value_counts().compute()
    """),
    S("df-value_counts-int", """
        df = dd.from_pandas(pdf, npartitions=3)
        df[df.x > 40].x.value_counts().compute()
    """),
    S("df-loc", """
        df = dd.from_pandas(pdf, npartitions=3)
        (df.loc[df.x > 0, ["id", "y"]].compute(), df.loc[:, ["id", "g"]].compute(),
         df.loc[df.g == "a"].compute(), df.loc[df.k == 2, "y"].sum().compute())
    """),
    S("df-concat", """
        a = dd.from_pandas(left, npartitions=2)
        b = dd.from_pandas(left.assign(lval=left.lval * 10), npartitions=3)
        dd.concat([a, b]).compute()
    """),
    S("df-concat-outer-and-inner", """
        a = dd.from_pandas(left, npartitions=2)
        b = dd.from_pandas(right.assign(lval=right.key * 3), npartitions=2)
        (dd.concat([a, b]).compute(), dd.concat([a, b], join="inner").compute())
    """),
    S("df-read_csv", """
        pdf.to_csv(path + "/data.csv", index=False)
        dd.read_csv(path + "/data.csv").compute()
    """),
    S("df-series-values", """
        df = dd.from_pandas(pdf, npartitions=3)
        np.sort(df.x.values.compute())
    """),
    S("df-series-ops", """
        df = dd.from_pandas(pdf, npartitions=3)
        (df.x.isnull().sum().compute(), (df.y > 0).sum().compute(),
         df[["id", "x"]].assign(z=df.x.astype("float64").fillna(0) * -1).compute())
    """),
    S("df-series-abs-clip", """
        df = dd.from_pandas(pdf, npartitions=3)
        df.assign(a=df.x.abs(), c=df.y.clip(-1, 1), lo=df.y.clip(lower=0),
                  w=df.y.where(df.y > 0, -1.0), m=df.y.mask(df.y > 0))[
            ["id", "a", "c", "lo", "w", "m"]].compute()
    """),
    S("df-dask-compute-several", """
        df = dd.from_pandas(pdf, npartitions=3)
        dask.compute(df.x.sum(), df.y.max())
    """),
    S("df-persist", """
        df = dd.from_pandas(pdf, npartitions=3)
        df = df[df.x > 0].persist()
        df.groupby("k").y.sum().compute()
    """),
    S("df-rename-drop", """
        df = dd.from_pandas(pdf, npartitions=3)
        df.rename(columns={"x": "ex"}).drop(columns=["g"]).compute()
    """),
    S("df-fillna-between-isnull", """
        l = dd.from_pandas(left, npartitions=3)
        r = dd.from_pandas(right, npartitions=2)
        m = l.merge(r, on="key", how="left")
        out = m.assign(filled=m.rval.fillna(-1.0), missing=m.rval.isnull(),
                       mid=m.lval.between(100, 500))
        out[["key", "lval", "filled", "missing", "mid"]].compute()
    """),
    # ---- futures and delayed ---------------------------------------------------------
    S("futures-submit-result", """
        def inc(x):
            return x + 1
        a = client.submit(inc, 1)
        a.result()
    """),
    S("futures-submit-kwargs", """
        def add(x, y=0):
            return x + y
        client.submit(add, 1, y=10).result()
    """),
    S("futures-map-gather", """
        def inc(x):
            return x + 1
        client.gather(client.map(inc, range(10)))
    """),
    S("futures-map-two-iterables", """
        def add(x, y):
            return x + y
        client.gather(client.map(add, range(5), range(5, 10)))
    """),
    S("futures-chained", """
        def inc(x):
            return x + 1
        def add(x, y):
            return x + y
        a = client.submit(inc, 1)
        b = client.submit(inc, a)
        c = client.submit(add, a, b)
        total = client.submit(sum, client.map(inc, range(10)))
        (c.result(), total.result(), client.gather([a, b, c]))
    """),
    S("futures-scatter", """
        data = client.scatter(np.arange(10.0))
        values = client.scatter([1, 2, 3])
        (client.submit(np.sum, data).result(), client.submit(sum, values).result())
    """),
    S("futures-numpy-results", """
        futures = client.map(lambda i: np.full(3, i, dtype=np.int64), range(4))
        client.gather(futures)
    """),
    S("futures-as_completed", """
        def square(x):
            return x * x
        futures = client.map(square, range(8))
        sorted(f.result() for f in as_completed(futures))
    """),
    S("futures-wait", """
        def inc(x):
            return x + 1
        futures = client.map(inc, range(4))
        wait(futures)
        [f.status for f in futures]
    """),
    S("futures-exception-type", """
        def div(x, y):
            return x / y
        f = client.submit(div, 1, 0)
        try:
            f.result()
            caught = None
        except ZeroDivisionError as e:
            caught = type(e).__name__
        (caught, type(f.exception()).__name__, f.status)
    """),
    S("futures-gather-dict", """
        def inc(x):
            return x + 1
        client.gather({"a": client.submit(inc, 1), "b": [client.submit(inc, 2), 7]})
    """),
    S("delayed-method-calls", """
        x = delayed(np.arange)(10)
        (x.sum() + x[3]).compute()
    """),
    S("delayed-graph", """
        @delayed
        def inc(x):
            return x + 1
        @delayed
        def add(x, y):
            return x + y
        total = delayed(sum)([add(inc(i), i) for i in range(10)])
        total.compute()
    """),
    S("delayed-arithmetic", """
        def inc(x):
            return x + 1
        a = delayed(inc)(1)
        b = delayed(inc)(a)
        (a + b * 3 - 1).compute()
    """),
    S("delayed-dask-compute", """
        def double(x):
            return 2 * x
        parts = [delayed(double)(i) for i in range(5)]
        dask.compute(*parts)
    """),
]


def _params():
    out = []
    for s in SNIPPETS:
        marks = [pytest.mark.xfail(strict=True, reason=s.xfail, raises=s.raises)] \
            if s.xfail else []
        out.append(pytest.param(s, id=s.name, marks=marks))
    return out


# ---- running ---------------------------------------------------------------------------


def run(snippet, header, client, path):
    """Execute `header` + the snippet's source; the value of its last expression."""
    path.mkdir(parents=True, exist_ok=True)
    namespace = {"__name__": "__dask_compat_snippet__", "np": np, "pd": pd,
                 "client": client, "path": str(path), **inputs()}
    source = header + snippet.source
    tree = ast.parse(source)
    last = tree.body.pop()
    assert isinstance(last, ast.Expr), "a snippet ends with an expression"
    exec(compile(tree, f"<{snippet.name}>", "exec"), namespace)
    return eval(compile(ast.Expression(last.value), f"<{snippet.name}>", "eval"), namespace)


@pytest.fixture(scope="module")
def dask_client():
    """A getter for a distributed Client of a LocalCluster (threads, two workers), made on
    first use; skips the test when Dask is not installed."""
    made = {}

    def get():
        if "client" not in made:
            pytest.importorskip("dask.array")
            pytest.importorskip("dask.dataframe")
            distributed = pytest.importorskip("distributed")
            cluster = distributed.LocalCluster(
                n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None)
            made["cluster"] = cluster
            made["client"] = distributed.Client(cluster, set_as_default=True)
        return made["client"]

    yield get
    if "client" in made:
        made["client"].close()
        made["cluster"].close()


# ---- comparing -------------------------------------------------------------------------


def _tabular(obj):
    """A pandas DataFrame or Series in tessera's index-free form: named index levels become
    columns (Dask's groupby keys), an unnamed integer index (row positions) is dropped, and
    other unnamed indexes (labels such as column names) become a column `index`."""
    if isinstance(obj, pd.Series):
        if obj.name is None and all(n is None for n in obj.index.names):
            obj = obj.rename(0)
        index = obj.index
        names_set = all(n is not None for n in index.names)
        if names_set or not pd.api.types.is_integer_dtype(index.dtype):
            return obj.reset_index()
        return obj.reset_index(drop=True).to_frame()
    index = obj.index
    if all(n is not None for n in index.names):
        return obj.reset_index()
    if pd.api.types.is_integer_dtype(index.dtype):
        return obj.reset_index(drop=True)
    return obj.reset_index()


def _pandas_dtypes(frame):
    """Columns in the dtypes pandas itself gives: Dask turns `str` columns into
    `string[pyarrow]` (missing values pd.NA) where pandas 3 and tessera keep `str`
    (missing values NaN), and some Dask results (`value_counts` of strings) are
    `int64[pyarrow]` where pandas' are `int64`; the values are the same."""
    casts = {}
    for c, t in frame.dtypes.items():
        if isinstance(t, pd.StringDtype):
            casts[c] = "str"
        elif isinstance(t, pd.ArrowDtype) and t.kind in "iufb" and not frame[c].isna().any():
            casts[c] = t.numpy_dtype
    return frame.astype(casts) if casts else frame


def assert_same(got, expected, ordered, where="result"):
    if isinstance(expected, (pd.DataFrame, pd.Series)):
        assert isinstance(got, (pd.DataFrame, pd.Series)), f"{where}: {type(got)}"
        if isinstance(expected, pd.Series) and expected.name is None and isinstance(
                got, pd.DataFrame):
            # Dask leaves some values unnamed (`groupby(...).size()`); tessera returns them
            # as the last column of a frame and has to name it: any name matches.
            got = got.rename(columns={got.columns[-1]: 0})
        got, expected = _tabular(got), _tabular(expected)
        assert list(got.columns) == list(expected.columns), where
        got, expected = _pandas_dtypes(got), _pandas_dtypes(expected)
        if not ordered:
            by = list(expected.columns)
            got = got.sort_values(by, ignore_index=True)
            expected = expected.sort_values(by, ignore_index=True)
        pd.testing.assert_frame_equal(
            got.reset_index(drop=True), expected.reset_index(drop=True),
            check_index_type=False, rtol=1e-12, obj=where)
    elif isinstance(expected, dict):
        assert isinstance(got, dict) and list(got) == list(expected), where
        for key in expected:
            assert_same(got[key], expected[key], ordered, f"{where}[{key!r}]")
    elif isinstance(expected, (list, tuple)):
        assert type(got) is type(expected), f"{where}: {type(got)} != {type(expected)}"
        assert len(got) == len(expected), where
        for i, (g, e) in enumerate(zip(got, expected)):
            assert_same(g, e, ordered, f"{where}[{i}]")
    elif isinstance(expected, (str, bool, type(None))):
        assert got == expected, f"{where}: {got!r} != {expected!r}"
    else:
        assert not hasattr(expected, "compute"), f"{where}: a snippet's values are computed"
        g, e = np.asarray(got), np.asarray(expected)
        assert type(got) is type(expected) or isinstance(got, type(expected)) or (
            isinstance(expected, np.generic) and isinstance(got, np.generic)
        ), f"{where}: {type(got)} != {type(expected)}"
        assert g.dtype == e.dtype, f"{where}: dtype {g.dtype} != {e.dtype}"
        assert g.shape == e.shape, f"{where}: shape {g.shape} != {e.shape}"
        np.testing.assert_allclose(g, e, rtol=1e-12, atol=0, err_msg=where)


@pytest.mark.parametrize("snippet", _params())
def test_snippet_matches_dask(snippet, client, dask_client, tmp_path):
    got = run(snippet, TESSERA_HEADER, client, tmp_path / "tessera")
    expected = run(snippet, DASK_HEADER, dask_client(), tmp_path / "dask")
    assert_same(got, expected, snippet.ordered)
