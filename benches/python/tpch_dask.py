"""Dask peer of benches/tpch: one TPC-H query per call on a fresh 2-worker LocalCluster.

Usage: tpch_dask.py DATA_DIR QUERY, QUERY in 1 3 5 6 9 18. Reads the same Parquet files
as Tessera (decimals become float64 and dates datetime64, as pandas users do), runs the
query with dask.dataframe and prints the median wall time of 3 runs as `seconds: X`."""
import statistics
import sys
import time

import dask.dataframe as dd
import pandas as pd
import pyarrow as pa
from distributed import Client, LocalCluster


def to_pandas_types(part):
    for name, dtype in part.dtypes.items():
        if isinstance(dtype, pd.ArrowDtype):
            t = dtype.pyarrow_dtype
            if pa.types.is_decimal(t):
                part[name] = part[name].astype("float64")
            elif pa.types.is_date(t):
                part[name] = pd.to_datetime(part[name].astype("datetime64[ms][pyarrow]"))
            elif pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
                part[name] = part[name].astype("string[pyarrow]")
    return part


def arrow_types(t):
    """pandas dtypes for the files' Arrow types: pandas' ArrowDtype has no `string_view`
    (the generated files use it), so every string becomes `string[pyarrow]`."""
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return pd.StringDtype("pyarrow")
    return pd.ArrowDtype(t)


def table(root, name, columns):
    df = dd.read_parquet(f"{root}/{name}", columns=columns,
                         arrow_to_pandas={"types_mapper": arrow_types})
    return df.map_partitions(to_pandas_types)


def q1(root):
    li = table(root, "lineitem", ["l_returnflag", "l_linestatus", "l_quantity",
                                  "l_extendedprice", "l_discount", "l_tax", "l_shipdate"])
    li = li[li.l_shipdate <= pd.Timestamp("1998-09-02")]
    li = li.assign(disc_price=li.l_extendedprice * (1 - li.l_discount))
    li = li.assign(charge=li.disc_price * (1 + li.l_tax))
    return (li.groupby(["l_returnflag", "l_linestatus"])
            .agg(sum_qty=("l_quantity", "sum"), sum_base_price=("l_extendedprice", "sum"),
                 sum_disc_price=("disc_price", "sum"), sum_charge=("charge", "sum"),
                 avg_qty=("l_quantity", "mean"), avg_price=("l_extendedprice", "mean"),
                 avg_disc=("l_discount", "mean"), count_order=("l_quantity", "count"))
            .compute().sort_index())


def q3(root):
    c = table(root, "customer", ["c_custkey", "c_mktsegment"])
    o = table(root, "orders", ["o_orderkey", "o_custkey", "o_orderdate", "o_shippriority"])
    li = table(root, "lineitem", ["l_orderkey", "l_extendedprice", "l_discount", "l_shipdate"])
    c = c[c.c_mktsegment == "BUILDING"]
    o = o[o.o_orderdate < pd.Timestamp("1995-03-15")]
    li = li[li.l_shipdate > pd.Timestamp("1995-03-15")]
    j = c.merge(o, left_on="c_custkey", right_on="o_custkey")
    j = j.merge(li, left_on="o_orderkey", right_on="l_orderkey")
    j = j.assign(revenue=j.l_extendedprice * (1 - j.l_discount))
    g = j.groupby(["l_orderkey", "o_orderdate", "o_shippriority"]).revenue.sum().reset_index()
    return g.nlargest(10, "revenue").compute()


def q5(root):
    r = table(root, "region", ["r_regionkey", "r_name"])
    n = table(root, "nation", ["n_nationkey", "n_name", "n_regionkey"])
    c = table(root, "customer", ["c_custkey", "c_nationkey"])
    o = table(root, "orders", ["o_orderkey", "o_custkey", "o_orderdate"])
    li = table(root, "lineitem", ["l_orderkey", "l_suppkey", "l_extendedprice", "l_discount"])
    s = table(root, "supplier", ["s_suppkey", "s_nationkey"])
    r = r[r.r_name == "ASIA"]
    o = o[(o.o_orderdate >= pd.Timestamp("1994-01-01")) & (o.o_orderdate < pd.Timestamp("1995-01-01"))]
    j = r.merge(n, left_on="r_regionkey", right_on="n_regionkey")
    j = j.merge(c, left_on="n_nationkey", right_on="c_nationkey")
    j = j.merge(o, left_on="c_custkey", right_on="o_custkey")
    j = j.merge(li, left_on="o_orderkey", right_on="l_orderkey")
    j = j.merge(s, left_on=["l_suppkey", "n_nationkey"], right_on=["s_suppkey", "s_nationkey"])
    j = j.assign(revenue=j.l_extendedprice * (1 - j.l_discount))
    return j.groupby("n_name").revenue.sum().compute().sort_values(ascending=False)


def q6(root):
    li = table(root, "lineitem", ["l_quantity", "l_extendedprice", "l_discount", "l_shipdate"])
    li = li[(li.l_shipdate >= pd.Timestamp("1994-01-01")) & (li.l_shipdate < pd.Timestamp("1995-01-01"))
            & (li.l_discount >= 0.05) & (li.l_discount <= 0.07) & (li.l_quantity < 24)]
    return (li.l_extendedprice * li.l_discount).sum().compute()


def q9(root):
    p = table(root, "part", ["p_partkey", "p_name"])
    s = table(root, "supplier", ["s_suppkey", "s_nationkey"])
    li = table(root, "lineitem", ["l_orderkey", "l_partkey", "l_suppkey", "l_quantity",
                                  "l_extendedprice", "l_discount"])
    ps = table(root, "partsupp", ["ps_partkey", "ps_suppkey", "ps_supplycost"])
    o = table(root, "orders", ["o_orderkey", "o_orderdate"])
    n = table(root, "nation", ["n_nationkey", "n_name"])
    p = p[p.p_name.str.contains("green")]
    j = p.merge(li, left_on="p_partkey", right_on="l_partkey")
    j = j.merge(ps, left_on=["l_partkey", "l_suppkey"], right_on=["ps_partkey", "ps_suppkey"])
    j = j.merge(s, left_on="l_suppkey", right_on="s_suppkey")
    j = j.merge(o, left_on="l_orderkey", right_on="o_orderkey")
    j = j.merge(n, left_on="s_nationkey", right_on="n_nationkey")
    j = j.assign(o_year=j.o_orderdate.dt.year,
                 amount=j.l_extendedprice * (1 - j.l_discount) - j.ps_supplycost * j.l_quantity)
    return j.groupby(["n_name", "o_year"]).amount.sum().compute().sort_index()


def q18(root):
    c = table(root, "customer", ["c_custkey", "c_name"])
    o = table(root, "orders", ["o_orderkey", "o_custkey", "o_orderdate", "o_totalprice"])
    li = table(root, "lineitem", ["l_orderkey", "l_quantity"])
    big = li.groupby("l_orderkey").l_quantity.sum().reset_index()
    big = big[big.l_quantity > 300][["l_orderkey"]]
    j = o.merge(big, left_on="o_orderkey", right_on="l_orderkey")[
        ["o_orderkey", "o_custkey", "o_orderdate", "o_totalprice"]]
    j = j.merge(c, left_on="o_custkey", right_on="c_custkey")
    j = j.merge(li, left_on="o_orderkey", right_on="l_orderkey")
    g = (j.groupby(["c_name", "c_custkey", "o_orderkey", "o_orderdate", "o_totalprice"])
         .l_quantity.sum().reset_index())
    return g.nlargest(100, "o_totalprice").compute()


QUERIES = {1: q1, 3: q3, 5: q5, 6: q6, 9: q9, 18: q18}


def main():
    root, query = sys.argv[1], int(sys.argv[2])
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster, Client(cluster):
        times = []
        for _ in range(3):
            start = time.perf_counter()
            QUERIES[query](root)
            times.append(time.perf_counter() - start)
    print(f"seconds: {statistics.median(times)}")


if __name__ == "__main__":
    main()
