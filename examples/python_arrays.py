"""The Python quickstart: a local cluster of Python worker processes, a lazy array
expression with ufuncs, indexing and a Python map_blocks, computed into NumPy."""

import numpy as np

import tessera as ts
import tessera.array as ta


def main(n=2000, chunk=500):
    with ts.LocalCluster(n_workers=2, threads_per_worker=1) as cluster, ts.Client(cluster) as client:
        x = ta.random.RandomState(42).random_sample((n, n), chunks=(chunk, chunk))
        y = x + x.T
        means = y.mean(axis=0).compute()
        z = ta.from_array(np.arange(12.0).reshape(3, 4), chunks=2)
        w = np.sin(z)[1:, ::2].sum(axis=1).compute()
        doubled = z.map_blocks(lambda b: b * 2).compute()
        print(f"mean of (x + x.T) over axis 0: {means.mean():.6f} (shape {means.shape})")
        print("sin(z)[1:, ::2].sum(axis=1):", w)
        print("map_blocks(b * 2):", doubled.tolist())
        print("dashboard:", client.dashboard_link)
        return means, w, doubled


if __name__ == "__main__":
    main()
