"""`DataFrame.map_partitions`: Python functions on each partition in the workers, with
the result's columns inferred or declared, checked against pandas on the same data."""

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

import tessera as ts
import tessera.dataframe as td


def frame(n=200):
    rng = np.random.default_rng(7)
    return pd.DataFrame({"k": rng.integers(0, 5, n), "x": rng.random(n),
                         "s": [f"v{i % 13}" for i in range(n)]})


def test_inferred_meta_and_pandas_results(client):
    pdf = frame()
    df = td.from_pandas(pdf, npartitions=4)
    out = df.map_partitions(lambda p: p.assign(y=p.x * 2 + p.k))
    assert list(out.columns) == ["k", "x", "s", "y"]
    got = out.compute().sort_values(["k", "x"]).reset_index(drop=True)
    want = pdf.assign(y=pdf.x * 2 + pdf.k).sort_values(["k", "x"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(got, want, check_dtype=False)
    # The result is a DataFrame like any other: filter, group and SQL over it.
    agg = out[out.y > 1].groupby("k").agg(total=("y", "sum")).compute().sort_values("k")
    w = want[want.y > 1].groupby("k").y.sum()
    np.testing.assert_allclose(agg.total.to_numpy(), w.to_numpy())
    assert ts.sql("SELECT COUNT(*) AS n FROM t", tables={"t": out}).compute().n[0] == len(pdf)


def test_worker_side_runs_with_arguments_and_series(client):
    pdf = frame(50)
    df = td.from_pandas(pdf, npartitions=3)
    sizes = df.map_partitions(lambda p, extra: pd.DataFrame({"n": [len(p) + extra]}), 100)
    counts = sizes.compute().n
    assert len(counts) == 3 and counts.sum() == len(pdf) + 300
    scaled = df.map_partitions(lambda p, factor=1: (p.x * factor).rename("x10"), factor=10)
    np.testing.assert_allclose(np.sort(scaled.compute().x10), np.sort(pdf.x * 10))


def test_declared_meta_casts_and_mismatches_are_errors(client):
    df = td.from_pandas(frame(40), npartitions=2)
    typed = df.map_partitions(lambda p: p[["k"]].astype("int32"),
                              meta={"k": "int64"})
    assert typed.schema.field("k").type == pa.int64()
    assert typed.compute().k.dtype == np.int64
    as_schema = df.map_partitions(lambda p: pa.Table.from_pandas(p[["x"]]),
                                  meta=pa.schema([("x", pa.float64())]))
    assert len(as_schema.compute()) == 40
    with pytest.raises(ValueError, match="returned columns"):
        df.map_partitions(lambda p: p[["x"]], meta={"other": "float64"})
    with pytest.raises(ZeroDivisionError):
        df.map_partitions(lambda p: p.assign(z=1 / 0 if len(p) else 0.0),
                          meta={"k": "int64", "x": "float64", "s": "str", "z": "float64"})
    with pytest.raises(ValueError, match="pass meta="):
        df.map_partitions(lambda p: p.x.iloc[0])
    with pytest.raises(TypeError, match="callable"):
        df.map_partitions(3)
