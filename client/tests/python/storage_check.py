"""Cross-checks Tessera's storage against NumPy and zarr-python (run by array_storage.rs).

verify LIST: for each line "ZARR NPY RAW DTYPE SHAPE" of the file LIST, the Zarr store and
    the .npy file Tessera wrote hold the array whose little-endian C-order bytes are in
    RAW; prints "ok N" after checking N lines.
make DIR: writes stores and files with zarr-python and NumPy (Fortran order, big-endian,
    chunks left out because they hold only the fill value) plus RAW references; prints
    one line "case KIND PATH RAW DTYPE SHAPE" per case.
"""

import os
import sys

import numpy as np
import zarr


def shape_of(text):
    return tuple(int(d) for d in text.split(",")) if text else ()


def same(got, want, what):
    assert got.dtype == want.dtype, f"{what}: dtype {got.dtype}, want {want.dtype}"
    assert got.shape == want.shape, f"{what}: shape {got.shape}, want {want.shape}"
    assert got.tobytes() == want.tobytes(), f"{what}: values differ\n{got}\n{want}"


def verify(zarr_path, npy_path, raw, dtype, shape):
    want = np.fromfile(raw, dtype=np.dtype(dtype).newbyteorder("<")).reshape(shape_of(shape))
    z = zarr.open_array(zarr_path, mode="r")
    assert z.metadata.zarr_format == 3, z.metadata
    same(z[...], want, zarr_path)
    codecs = [type(c).__name__ for c in z.metadata.codecs]
    assert any("Zstd" in c for c in codecs), codecs
    same(np.load(npy_path), want, npy_path)


def make(out):
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(7)
    n = 0
    for dtype in ["bool", "int32", "int64", "float32", "float64"]:
        for shape, chunks in [((7, 5), (3, 2)), ((10,), (4,)), ((2, 3, 4), (2, 2, 3)), ((0, 4), (2, 2)), ((), ())]:
            n += 1
            if dtype == "bool":
                a = rng.random(shape) < 0.5
            elif dtype.startswith("int"):
                info = np.iinfo(dtype)
                a = rng.integers(info.min, info.max, size=shape, dtype=dtype, endpoint=True)
            else:
                a = (rng.standard_normal(shape) * 100).astype(dtype)
                if a.size > 2:
                    a.flat[0], a.flat[1], a.flat[2] = np.nan, np.inf, -np.inf
            if a.ndim >= 1 and a.shape[0] > 3:
                a[:3] = 0  # whole chunks of the fill value: zarr-python does not store them
            a = np.asarray(a)
            raw = os.path.join(out, f"{n}.raw")
            a.astype(a.dtype.newbyteorder("<")).tofile(raw)
            shape_text = ",".join(str(d) for d in shape)
            zpath = os.path.join(out, f"{n}.zarr")
            z = zarr.create_array(zpath, shape=shape, chunks=chunks, dtype=dtype)
            z[...] = a
            print(f"case zarr {zpath} {raw} {dtype} {shape_text}")
            for layout in ["C", "F", "big"]:
                path = os.path.join(out, f"{n}-{layout}.npy")
                if layout == "C":
                    np.save(path, a.copy(order="C"))
                elif layout == "F":
                    np.save(path, a.copy(order="F"))
                else:
                    np.save(path, a.astype(a.dtype.newbyteorder(">")))
                print(f"case npy {path} {raw} {dtype} {shape_text}")


if __name__ == "__main__":
    if sys.argv[1] == "verify":
        with open(sys.argv[2]) as f:
            cases = [line.rstrip("\n").split(" ") for line in f if line.strip()]
        for case in cases:
            verify(*(case + [""])[:5])
        print(f"ok {len(cases)}")
    elif sys.argv[1] == "make":
        make(sys.argv[2])
    else:
        sys.exit(f"unknown command {sys.argv[1]}")
