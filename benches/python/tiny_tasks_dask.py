"""Dask peer of benches/tiny_tasks: a sum over one-element chunks on a 2-worker LocalCluster.

Prints tasks in the graph and the median wall time of 3 runs as `seconds: X`."""
import statistics
import sys
import time

import dask.array as da
from distributed import Client, LocalCluster


def main():
    n = int(sys.argv[1])
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, Client(cluster):
        times = []
        for run in range(3):
            x = da.ones(n, chunks=1) + run
            s = x.sum(split_every=8)
            tasks = len(dict(s.__dask_graph__()))
            t = time.perf_counter()
            s.compute(optimize_graph=False)
            times.append(time.perf_counter() - t)
        print(f"tasks {tasks}")
        print(f"seconds: {statistics.median(times)}")


if __name__ == "__main__":  # worker processes re-import this module
    main()
