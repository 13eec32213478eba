"""DuckDB peer of benches/tpch, when the duckdb module is installed (it is optional).

Usage: tpch_duckdb.py DATA_DIR SQL. Registers every table directory of DATA_DIR as a view
over its Parquet files, runs SQL three times on 2 threads and prints `seconds: X` (the
median). Exits with an error when duckdb is not importable, so the benchmark skips it."""
import statistics
import sys
import time

import duckdb

TABLES = ["nation", "region", "part", "supplier", "partsupp", "customer", "orders", "lineitem"]


def main():
    root, sql = sys.argv[1], sys.argv[2]
    con = duckdb.connect()
    con.execute("SET threads TO 2")
    for t in TABLES:
        con.execute(f"CREATE VIEW {t} AS SELECT * FROM read_parquet('{root}/{t}/*.parquet')")
    times = []
    for _ in range(3):
        start = time.perf_counter()
        con.execute(sql).fetchall()
        times.append(time.perf_counter() - start)
    print(f"seconds: {statistics.median(times)}")


if __name__ == "__main__":
    main()
