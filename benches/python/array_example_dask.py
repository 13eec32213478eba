"""Dask peer of benches/array_example: (x + x.T).mean(axis=0) on a 2-worker LocalCluster.

Prints the median wall time of 3 runs as `seconds: X`."""
import statistics
import sys
import time

import dask.array as da
from distributed import Client, LocalCluster


def main():
    n, chunk = int(sys.argv[1]), int(sys.argv[2])
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, Client(cluster):
        times = []
        for run in range(3):
            x = da.random.RandomState(42 + run).random_sample((n, n), chunks=(chunk, chunk))
            t = time.perf_counter()
            v = (x + x.T).mean(axis=0).compute()
            times.append(time.perf_counter() - t)
        print(f"checksum {v.sum():.6f}")
        print(f"seconds: {statistics.median(times)}")


if __name__ == "__main__":  # worker processes re-import this module
    main()
