"""Dask peer of benches/array_ops: one workload per call on a fresh 2-worker LocalCluster.

Usage: array_ops_dask.py WORKLOAD N CHUNK, WORKLOAD in matmul | slice_std | rechunk.
Prints the median wall time of 3 runs as `seconds: X` and each worker's peak resident
memory (ru_maxrss) as `peak_mb: A B`."""
import resource
import statistics
import sys
import time

import dask
import dask.array as da
from distributed import Client, LocalCluster, wait


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run(workload, n, chunk, seed):
    rs = da.random.RandomState(seed)
    if workload == "matmul":
        x = rs.random_sample((n, n), chunks=(chunk, chunk))
        return float((x @ x.T).sum().compute())
    if workload == "slice_std":
        x = rs.random_sample((n, n), chunks=(chunk, chunk))
        return float(x[::2, 1::3].std(axis=0).compute().sum())
    if workload == "rechunk":
        x = rs.random_sample((n, n), chunks=(chunk, n))
        # Dask's own choice of method (p2p on a distributed cluster by default).
        y = x.rechunk((n, chunk)).persist()
        wait(y)
        checksum = float(y[0, :10].sum().compute())
        del y
        return checksum
    raise SystemExit(f"unknown workload {workload}")


def main():
    workload, n, chunk = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, Client(cluster) as client:
        times = []
        for r in range(3):
            t = time.perf_counter()
            checksum = run(workload, n, chunk, 42 + r)
            times.append(time.perf_counter() - t)
        print(f"checksum {checksum:.6f}")
        peaks = client.run(peak_rss_mb)
        print("peak_mb: " + " ".join(f"{v:.0f}" for v in peaks.values()))
        print(f"seconds: {statistics.median(times)}")


if __name__ == "__main__":  # worker processes re-import this module
    main()
