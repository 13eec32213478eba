"""tessera.dataframe against pandas on random inputs (hypothesis): filters, assign,
groupby aggregations in every spelling, merges of every kind, sorting, head,
drop_duplicates, reductions, and the same query through the DataFrame API and ts.sql."""

import numpy as np
import pandas as pd
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

import tessera as ts
import tessera.array as ta
import tessera.dataframe as td


@st.composite
def frames(draw, min_rows=0, max_rows=24, with_nulls=True):
    """Small frames: `id` unique, `k` a few int keys, `g` a few strings, `x` ints, `y`
    floats (some missing when `with_nulls`)."""
    n = draw(st.integers(min_rows, max_rows))
    ks = draw(st.lists(st.integers(0, 3), min_size=n, max_size=n))
    gs = draw(st.lists(st.sampled_from(["a", "b", "c"]), min_size=n, max_size=n))
    xs = draw(st.lists(st.integers(-20, 20), min_size=n, max_size=n))
    y = st.floats(-100, 100, allow_nan=False, width=32)
    ys = draw(st.lists(st.one_of(st.none(), y) if with_nulls else y, min_size=n, max_size=n))
    return pd.DataFrame({
        "id": np.arange(n, dtype="int64"), "k": np.array(ks, dtype="int64"),
        "g": pd.array(gs, dtype="str"), "x": np.array(xs, dtype="int64"),
        "y": np.array([np.nan if v is None else v for v in ys], dtype="float64"),
    })


def same_rows(got, expected, by=None):
    """Equal up to row order (both sorted by `by`, every column by default)."""
    assert list(got.columns) == list(expected.columns)
    by = list(expected.columns) if by is None else by
    got = got.sort_values(by).reset_index(drop=True)
    expected = expected.sort_values(by).reset_index(drop=True)
    pd.testing.assert_frame_equal(got, expected, check_dtype=False, rtol=1e-9)


def test_structure_without_computing(client):
    pdf = pd.DataFrame({"a": [1, 2, 3], "b": [0.5, 1.5, None], "s": ["x", "y", "z"]})
    df = td.from_pandas(pdf, npartitions=2)
    assert list(df.columns) == ["a", "b", "s"]
    assert list(df.dtypes) == [np.dtype("int64"), np.dtype("float64"), pdf.dtypes["s"]]
    assert df.npartitions >= 1 and len(df) == 3
    assert "npartitions=" in repr(df) and "int64" in repr(df)
    html = df._repr_html_()
    assert "<table" in html and "float64" in html
    assert isinstance(df.to_arrow(), pa.Table)
    assert df.to_arrow().num_rows == 3
    pd.testing.assert_frame_equal(df.compute(), pdf)
    assert isinstance(df.a, td.Series) and df.a.dtype == np.int64
    assert "a" in dir(df)


@given(frames(), st.integers(-20, 20), st.sampled_from(["a", "b", "c"]))
def test_filters_match_pandas(client, pdf, t, g):
    df = td.from_pandas(pdf, npartitions=2)
    same_rows(df[df.x > t].compute(), pdf[pdf.x > t])
    same_rows(df[(df.x <= t) & ~(df.g == g)].compute(), pdf[(pdf.x <= t) & ~(pdf.g == g)])
    same_rows(df[(df.k == 1) | df.y.isnull()].compute(), pdf[(pdf.k == 1) | pdf.y.isnull()])
    same_rows(df[df.k.isin([0, 2])].compute(), pdf[pdf.k.isin([0, 2])])
    same_rows(df[df.g.isin([g, 7])].compute(), pdf[pdf.g.isin([g])])
    same_rows(df[df.x.between(-5, t)].compute(), pdf[pdf.x.between(-5, t)])
    same_rows(df[df.y.notnull()][["id", "y"]].compute(), pdf[pdf.y.notnull()][["id", "y"]])
    same_rows(df[df["y"] >= 0.5 * df.x].compute(), pdf[pdf.y >= 0.5 * pdf.x])


@given(frames())
def test_assign_matches_pandas(client, pdf):
    df = td.from_pandas(pdf, npartitions=3)
    got = df.assign(
        z=df.x * 2 + df.y, w=df.x / 4, neg=-df.x, s=df.g + "!", one=1,
        f=lambda d: d.x.astype("float64") - 0.5, big=df.x > 3, filled=df.y.fillna(0.0),
    )
    expected = pdf.assign(
        z=pdf.x * 2 + pdf.y, w=pdf.x / 4, neg=-pdf.x, s=pdf.g + "!", one=1,
        f=lambda d: d.x.astype("float64") - 0.5, big=pdf.x > 3, filled=pdf.y.fillna(0.0),
    )
    same_rows(got.compute(), expected, by=["id"])
    df["x2"] = df.x * df.x
    same_rows(df[["id", "x2"]].compute(), pd.DataFrame({"id": pdf.id, "x2": pdf.x * pdf.x}))
    renamed = df.rename(columns={"x": "ex", "nope": "ignored"}).drop(columns=["x2"])
    same_rows(renamed.compute(), pdf.rename(columns={"x": "ex"}))


def flat(frame):
    """pandas' MultiIndex aggregation columns as tessera names them (`col_func`)."""
    frame = frame.copy()
    frame.columns = ["_".join(c).rstrip("_") if isinstance(c, tuple) else c
                     for c in frame.columns]
    return frame


@settings(max_examples=15)
@given(frames(min_rows=1))
def test_groupby_spellings_match_pandas(client, pdf):
    df = td.from_pandas(pdf, npartitions=2)
    pg = pdf.groupby("k", as_index=False)
    same_rows(df.groupby("k").agg({"x": "sum", "y": "mean"}).compute(),
              pg.agg({"x": "sum", "y": "mean"}), by=["k"])
    same_rows(df.groupby("k").agg({"x": ["sum", "max"], "y": "count"}).compute(),
              flat(pg.agg({"x": ["sum", "max"], "y": ["count"]})), by=["k"])
    same_rows(df.groupby(["k", "g"]).agg(total=("x", "sum"), n=("y", "count"),
                                         top=pd.NamedAgg("x", "max")).compute(),
              pdf.groupby(["k", "g"], as_index=False).agg(
                  total=("x", "sum"), n=("y", "count"), top=("x", "max")),
              by=["k", "g"])
    same_rows(df.groupby("g")["x"].sum().compute(),
              pdf.groupby("g", as_index=False)["x"].sum(), by=["g"])
    for func in ("mean", "count", "min", "max", "std", "var", "nunique"):
        got = getattr(df.groupby("k")["y"], func)().compute()
        expected = getattr(pdf.groupby("k", as_index=False)["y"], func)()
        same_rows(got, expected, by=["k"])
    same_rows(df.groupby("k")[["x", "y"]].agg(["min", "mean"]).compute(),
              flat(pg[["x", "y"]].agg(["min", "mean"])), by=["k"])
    same_rows(df.groupby("g").size().compute(), pdf.groupby("g", as_index=False).size(),
              by=["g"])
    ordered = df.groupby("k", sort=True).x.agg(["sum", np.mean]).compute()
    assert ordered["k"].tolist() == sorted(pdf.k.unique().tolist())


@settings(max_examples=15)
@given(frames(max_rows=16, with_nulls=False), frames(max_rows=16, with_nulls=False),
       st.sampled_from(["inner", "left", "right", "outer"]))
def test_merges_match_pandas(client, left, right, how):
    lp = left[["k", "x", "g"]]
    rp = right[["k", "x", "y"]]
    l, r = td.from_pandas(lp, npartitions=2), td.from_pandas(rp, npartitions=2)
    same_rows(l.merge(r, on="k", how=how).compute(), lp.merge(rp, on="k", how=how))
    rr = rp.rename(columns={"k": "key"})
    got = td.merge(l, td.from_pandas(rr), left_on="k", right_on="key", how=how,
                   suffixes=("_l", "_r")).compute()
    same_rows(got, lp.merge(rr, left_on="k", right_on="key", how=how, suffixes=("_l", "_r")))
    same_rows(l.merge(r, on=["k", "x"], how=how).compute(), lp.merge(rp, on=["k", "x"], how=how))


@settings(max_examples=15)
@given(frames(max_rows=16), frames(max_rows=16))
def test_semi_and_anti_merges(client, left, right):
    l, r = td.from_pandas(left, npartitions=2), td.from_pandas(right[["k"]], npartitions=2)
    same_rows(l.merge(r, on="k", how="leftsemi").compute(), left[left.k.isin(right.k)])
    same_rows(l.merge(r, on="k", how="leftanti").compute(), left[~left.k.isin(right.k)])


@given(frames(), st.booleans(), st.integers(0, 30))
def test_sort_values_and_head_match_pandas(client, pdf, ascending, n):
    df = td.from_pandas(pdf, npartitions=3)
    by = ["y", "id"]
    got = df.sort_values(by, ascending=ascending).compute()
    expected = pdf.sort_values(by, ascending=ascending).reset_index(drop=True)
    pd.testing.assert_frame_equal(got, expected, check_dtype=False)
    got = df.sort_values(["k", "id"], ascending=[False, True]).head(n)
    expected = pdf.sort_values(["k", "id"], ascending=[False, True]).head(n)
    pd.testing.assert_frame_equal(got, expected.reset_index(drop=True), check_dtype=False)
    assert len(df.head(n)) == min(n, len(pdf))
    first = df.sort_values("y", na_position="first").compute()
    assert first.y.isna().tolist() == sorted(pdf.y.isna().tolist(), reverse=True)


@given(frames())
def test_drop_duplicates_matches_pandas(client, pdf):
    df = td.from_pandas(pdf[["k", "g", "x"]], npartitions=2)
    same_rows(df.drop_duplicates().compute(), pdf[["k", "g", "x"]].drop_duplicates())
    same_rows(df[["k", "g"]].drop_duplicates().compute(), pdf[["k", "g"]].drop_duplicates())
    # keep="first" keeps, per subset, the row whose other columns sort first.
    expected = pdf[["k", "g", "x"]].sort_values(["k", "g", "x"]).drop_duplicates(["k"])
    same_rows(df.drop_duplicates(subset=["k"]).compute(), expected)
    same_rows(df.drop_duplicates(subset=["k", "g"], keep=False).compute(),
              pdf[["k", "g", "x"]].drop_duplicates(["k", "g"], keep=False))


@given(frames(min_rows=1))
def test_reductions_match_pandas(client, pdf):
    df = td.from_pandas(pdf, npartitions=2)
    assert df.x.sum().compute() == pdf.x.sum()
    assert df.x.max().compute() == pdf.x.max()
    np.testing.assert_allclose(df.y.mean().compute(), pdf.y.mean(), equal_nan=True)
    assert df.y.count().compute() == pdf.y.count()
    assert df.g.nunique().compute() == pdf.g.nunique()
    np.testing.assert_allclose(df.x.std().compute(), pdf.x.std(), equal_nan=True)
    counts = df.count().compute()
    assert counts.to_dict() == pdf.count().to_dict()
    pd.testing.assert_series_equal(df[["x", "y"]].sum().compute(), pdf[["x", "y"]].sum(),
                                   check_dtype=False)
    assert len(df) == len(pdf) and len(df[df.x > 0]) == int((pdf.x > 0).sum())


@settings(max_examples=15)
@given(frames(min_rows=1), st.integers(-20, 20))
def test_sql_agrees_with_the_dataframe_api(client, pdf, t):
    df = td.from_pandas(pdf, npartitions=2)
    api = (df[df.x > t].assign(z=df.x * 2).groupby("g")
           .agg(total=("z", "sum"), n=("id", "count")).sort_values("g").compute())
    query = ("SELECT g, SUM(x * 2) AS total, COUNT(id) AS n FROM t WHERE x > "
             f"{t} GROUP BY g ORDER BY g")
    via_sql = ts.sql(query, tables={"t": df}).compute()
    pd.testing.assert_frame_equal(api, via_sql, check_dtype=False)
    from_pandas = ts.sql(query, tables={"t": pdf}).compute()
    pd.testing.assert_frame_equal(via_sql, from_pandas)
    expected = (pdf[pdf.x > t].assign(z=pdf.x * 2).groupby("g", as_index=False)
                .agg(total=("z", "sum"), n=("id", "count")).sort_values("g"))
    pd.testing.assert_frame_equal(api, expected.reset_index(drop=True), check_dtype=False)


def test_sql_joins_tables_of_every_kind(client, tmp_path):
    orders = pd.DataFrame({"o": [1, 2, 3, 4], "c": [10, 20, 10, 30], "amt": [5.0, 1, 2, 8]})
    customers = pa.table({"c": [10, 20, 40], "name": ["ann", "bob", "eve"]})
    path = tmp_path / "orders.parquet"
    orders.to_parquet(path)
    for source in (orders, td.from_pandas(orders, npartitions=2), str(path)):
        out = ts.sql(
            "SELECT name, SUM(amt) AS spent FROM orders JOIN customers USING (c) "
            "GROUP BY name ORDER BY name", tables={"orders": source, "customers": customers},
        )
        assert isinstance(out, td.DataFrame) and list(out.columns) == ["name", "spent"]
        got = out.compute()
        assert got.name.tolist() == ["ann", "bob"] and got.spent.tolist() == [7.0, 1.0]
    assert "stage" in out.explain().lower()


def test_columns_become_arrays_and_arrays_tables(client):
    pdf = pd.DataFrame({"a": np.arange(10, dtype="int64"), "b": np.linspace(0, 1, 10)})
    df = td.from_pandas(pdf, npartitions=3)
    a = df.b.to_dask_array()
    assert isinstance(a, ta.Array) and a.shape == (10,)
    np.testing.assert_allclose(a.compute(), pdf.b.to_numpy())
    np.testing.assert_allclose((df.a * 2).values.sum().compute(), pdf.a.sum() * 2)
    x = ta.from_array(np.arange(12.0).reshape(6, 2), chunks=(2, 2))
    t = td.from_dask_array(x, columns=["p", "q"])
    assert list(t.columns) == ["p", "q"]
    same_rows(t.compute(), pd.DataFrame({"p": np.arange(0, 12, 2.0), "q": np.arange(1, 12, 2.0)}))


@given(frames(), st.floats(-50, 0, width=32), st.floats(0, 50, width=32))
def test_abs_clip_where_mask_match_pandas(client, pdf, lo, hi):
    df = td.from_pandas(pdf, npartitions=2)
    got = df.assign(
        ax=df.x.abs(), ay=abs(df.y), c=df.y.clip(lo, hi), cl=df.x.clip(lower=-3),
        cu=df.y.clip(upper=hi), cx=df.x.clip(df.k, df.k + 5),
        w=df.y.where(df.x > 0, -1.0), wn=df.y.where(df.y > 0), m=df.x.mask(df.k == 1, 0),
    )
    expected = pdf.assign(
        ax=pdf.x.abs(), ay=abs(pdf.y), c=pdf.y.clip(lo, hi), cl=pdf.x.clip(lower=-3),
        cu=pdf.y.clip(upper=hi), cx=pdf.x.clip(pdf.k, pdf.k + 5),
        w=pdf.y.where(pdf.x > 0, -1.0), wn=pdf.y.where(pdf.y > 0), m=pdf.x.mask(pdf.k == 1, 0),
    )
    same_rows(got.compute(), expected, by=["id"])


def test_abs_clip_where_refuse_what_pandas_refuses(client):
    df = td.from_pandas(pd.DataFrame({"g": ["a", "b"], "x": [1, -2]}), npartitions=1)
    for bad in (lambda: df.g.abs(), lambda: df.g.clip(0, 1), lambda: df.x.clip("a"),
                lambda: df.x.where(df.x, 0), lambda: df.x.where([True, False], 0)):
        try:
            bad()
        except TypeError:
            continue
        raise AssertionError("accepted")
