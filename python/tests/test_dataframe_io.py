"""tessera.dataframe files and errors: CSV and Parquet round trips through tmp_path
(written by the workers, read back by tessera and by pandas), read options, and the
KeyError/TypeError/ValueError raised when a query is built, before anything runs."""

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

import tessera as ts
import tessera.dataframe as td


def sample(n=40):
    rng = np.random.default_rng(7)
    return pd.DataFrame({
        "id": np.arange(n, dtype="int64"),
        "k": rng.integers(0, 4, n).astype("int64"),
        "v": rng.normal(size=n),
        "s": pd.array([f"s{i % 5}" for i in range(n)], dtype="str"),
    })


def test_parquet_round_trip(client, tmp_path):
    pdf = sample()
    df = td.from_pandas(pdf, npartitions=3)
    out = tmp_path / "out"
    written = df[df.k != 2].to_parquet(out)
    assert written and all(p.endswith(".parquet") for p in written)
    assert {pathlib_name(p) for p in written} == {p.name for p in out.iterdir()}
    expected = pdf[pdf.k != 2].reset_index(drop=True)
    back = td.read_parquet(out).sort_values("id").compute()
    pd.testing.assert_frame_equal(back, expected)
    by_pandas = pd.read_parquet(out).sort_values("id").reset_index(drop=True)
    pd.testing.assert_frame_equal(by_pandas, expected, check_dtype=False)
    some = td.read_parquet(out, columns=["id", "s"], filters=[("k", "==", 1), ("v", ">", 0)])
    assert list(some.columns) == ["id", "s"]
    expected = pdf[(pdf.k == 1) & (pdf.v > 0)][["id", "s"]].reset_index(drop=True)
    pd.testing.assert_frame_equal(some.sort_values("id").compute(), expected)
    ored = td.read_parquet(out, filters=[[("k", "==", 0)], [("s", "in", ["s1", "s3"])]])
    expected = pdf[(pdf.k != 2) & ((pdf.k == 0) | pdf.s.isin(["s1", "s3"]))]
    assert sorted(ored.compute().id) == sorted(expected.id)


def pathlib_name(p):
    import os

    return os.path.basename(p)


def test_csv_round_trip_and_options(client, tmp_path):
    pdf = sample(30)
    path = tmp_path / "data.csv"
    pdf.to_csv(path, index=False)
    df = td.read_csv(path)
    assert list(df.columns) == ["id", "k", "v", "s"]
    assert df.dtypes["k"] == np.int64 and df.dtypes["v"] == np.float64
    got = df.sort_values("id").compute()
    pd.testing.assert_frame_equal(got, pdf, check_dtype=False)

    semi = tmp_path / "semi.txt"
    pdf.to_csv(semi, index=False, header=False, sep=";")
    df = td.read_csv(semi, sep=";", header=None, names=["a", "b", "c", "d"], dtype={"b": "float64"})
    assert list(df.columns) == ["a", "b", "c", "d"] and df.dtypes["b"] == np.float64
    got = df.sort_values("a").compute()
    np.testing.assert_allclose(got.b, pdf.k.astype(float))
    assert got.d.tolist() == pdf.s.tolist()

    folder = tmp_path / "parts"
    folder.mkdir()
    pdf.iloc[:10].to_csv(folder / "a.csv", index=False)
    pdf.iloc[10:].to_csv(folder / "b.csv", index=False)
    assert len(td.read_csv(folder)) == 30
    assert len(td.read_csv(str(folder / "*.csv"), usecols=["id", "s"]).columns) == 2
    assert len(td.read_csv([folder / "a.csv", folder / "b.csv"])) == 30

    nulls = tmp_path / "nulls.csv"
    nulls.write_text("a,b\n1,x\nNA,y\n3,NA\n")
    with pytest.raises(NotImplementedError, match="na_values"):
        td.read_csv(nulls, na_values=["NA"])
    empty = tmp_path / "empty_fields.csv"
    empty.write_text("a,b\n1,x\n,y\n3,\n")
    got = td.read_csv(empty, na_values=[""]).compute()
    assert got.a.isna().sum() == 1 and got.b.isna().sum() == 1


def test_unknown_columns_are_key_errors_at_build_time(client):
    df = td.from_pandas(sample(), npartitions=2)
    with pytest.raises(KeyError):
        df["nope"]
    with pytest.raises(KeyError):
        df[["id", "nope"]]
    with pytest.raises(AttributeError):
        df.nope
    with pytest.raises(KeyError):
        df.groupby("nope")
    with pytest.raises(KeyError):
        df.groupby("k").agg({"nope": "sum"})
    with pytest.raises(KeyError):
        df.sort_values("nope")
    with pytest.raises(KeyError):
        df.drop(columns=["nope"])
    with pytest.raises(KeyError):
        df.rename(columns={"nope": "x"}, errors="raise")
    with pytest.raises(KeyError):
        df.merge(df, on="nope")
    with pytest.raises(KeyError):
        ts.sql("SELECT nope FROM t", tables={"t": df})
    with pytest.raises(KeyError):
        ts.sql("SELECT * FROM missing_table", tables={"t": df})
    other = td.from_pandas(pd.DataFrame({"zz": [1]}))
    with pytest.raises(KeyError):
        df[other.zz > 0]


def test_type_problems_are_type_errors_at_build_time(client):
    df = td.from_pandas(sample(), npartitions=2)
    with pytest.raises(TypeError):
        df.s + 1
    with pytest.raises(TypeError):
        df.s > 1
    with pytest.raises(TypeError):
        df.k & df.k
    with pytest.raises(TypeError):
        ~df.v
    with pytest.raises(TypeError):
        df[df.k]
    with pytest.raises(TypeError):
        df.groupby("k").agg({"s": "mean"})
    with pytest.raises(TypeError):
        df.groupby("k").s.sum()
    with pytest.raises(TypeError):
        df.s.astype("category")
    with pytest.raises(TypeError):
        df.assign(z=[1, 2, 3])
    with pytest.raises(TypeError):
        df.merge(td.from_pandas(pd.DataFrame({"k": ["a"]})), on="k")
    with pytest.raises(TypeError):
        df.groupby("k").agg(lambda x: x.sum())
    with pytest.raises(TypeError):
        ts.sql("SELECT s + 1 FROM t", tables={"t": df}).compute()


def test_bad_arguments_are_value_errors(client):
    df = td.from_pandas(sample(), npartitions=2)
    with pytest.raises(ValueError):
        df.merge(df, on="k", how="sideways")
    with pytest.raises(ValueError):
        df.sort_values(["k", "v"], ascending=[True])
    with pytest.raises(ValueError):
        df.groupby("k").agg("median_of_medians")
    with pytest.raises(ValueError):
        df.groupby("k").agg({"v": "sum", "id": "sum"}).merge(df, left_index=True, right_index=True)
    with pytest.raises(ValueError):
        ts.sql("SELEC * FROM t", tables={"t": df})
    with pytest.raises(ValueError):
        td.from_pandas(sample(), npartitions=0)
    with pytest.raises(ValueError):
        bool(df.k > 1)
    with pytest.raises(ValueError):
        df.v.std(ddof=2)


def test_results_cross_as_arrow(client):
    pdf = sample(12)
    table = td.from_pandas(pdf, npartitions=3).to_arrow()
    assert isinstance(table, pa.Table) and table.num_rows == 12
    assert table.schema.field("v").type == pa.float64()
    back = td.from_arrow(table, npartitions=2)
    assert sorted(back.compute().id) == list(range(12))
    indexed = pdf.set_index("id")
    assert "id" in td.from_pandas(indexed).columns
    series = td.from_pandas(pdf.v, npartitions=2)
    assert list(series.columns) == ["v"]
    empty = td.from_pandas(pdf.iloc[:0])
    assert len(empty) == 0 and list(empty.compute().columns) == list(pdf.columns)
