"""The Python issue's benchmarks, one engine per run: `python python_api.py ENGINE WORKLOAD N`
with ENGINE `tessera` or `dask` (the same code, only the import differs) and WORKLOAD
`submit` (N `client.map` calls of a trivial function, gathered) or `example` (the README
example: `(x + x.T).mean(axis=0)` of an N x N random array in 2,000-chunks).

Prints the median wall time of 3 runs as `seconds: X`."""
import statistics
import sys
import time


def inc(x):
    return x + 1


def main():
    engine, workload, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    if engine == "tessera":
        import tessera as ts
        import tessera.array as da

        cluster = ts.LocalCluster(n_workers=2, threads_per_worker=1)
        client = ts.Client(cluster)
    else:
        import dask.array as da
        from distributed import Client, LocalCluster

        cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                               dashboard_address=None)
        client = Client(cluster)
    with cluster, client:
        times = []
        for run in range(3):
            t = time.perf_counter()
            if workload == "submit":
                futures = client.map(inc, range(run * n, (run + 1) * n), pure=False)
                out = client.gather(futures)
                assert out[-1] == (run + 1) * n
                del futures
            else:
                chunk = min(2000, n)
                x = da.random.random((n, n), chunks=(chunk, chunk))
                m = (x + x.T).mean(axis=0).compute()
                assert m.shape == (n,)
            times.append(time.perf_counter() - t)
        print(f"seconds: {statistics.median(times)}")


if __name__ == "__main__":  # worker processes re-import this module
    main()
