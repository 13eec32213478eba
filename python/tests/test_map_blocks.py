"""Python functions shipped with cloudpickle run in the worker processes: map_blocks
with a lambda, with arguments and a closure, dtype inference, and remote exceptions."""

import os

import numpy as np
import pytest

import tessera as ts
import tessera.array as ta


def test_map_blocks_with_a_lambda(client):
    data = np.arange(24.0).reshape(4, 6)
    x = ta.from_array(data, chunks=(2, 3))
    y = x.map_blocks(lambda b: b * 2 + 1)
    assert y.dtype == np.float64
    np.testing.assert_array_equal(y.compute(), data * 2 + 1)


def test_map_blocks_runs_in_the_worker_processes(client, cluster):
    x = ta.zeros((8,), dtype="int64", chunks=2)
    pids = x.map_blocks(lambda b: np.full_like(b, os.getpid()), dtype="int64").compute()
    assert set(pids.tolist()) <= set(cluster.worker_pids)
    assert os.getpid() not in set(pids.tolist())


def test_map_blocks_arguments_closures_and_dtype(client):
    offset = 10

    def shift(block, scale, *, power=1):
        return (block * scale) ** power + offset

    data = np.arange(10, dtype=np.int64)
    x = ta.from_array(data, chunks=4)
    got = ta.map_blocks(shift, x, 3, power=2)
    assert got.dtype == np.int64
    np.testing.assert_array_equal(got.compute(), (data * 3) ** 2 + offset)
    halves = x.map_blocks(lambda b: b / 2)
    assert halves.dtype == np.float64
    np.testing.assert_array_equal(halves.compute(), data / 2)
    flags = x.map_blocks(lambda b: b % 2 == 0, dtype=bool)
    np.testing.assert_array_equal(flags.compute(), data % 2 == 0)


def test_exception_in_map_blocks_reaches_the_caller(client):
    def explode(block):
        if block.sum() > 0:
            raise ValueError("boom in a block")
        return block

    x = ta.arange(6, chunks=3)
    with pytest.raises(ValueError, match="boom in a block") as info:
        x.map_blocks(explode, dtype="int64").compute()
    err = info.value
    assert isinstance(err, ts.TaskError)
    assert "explode" in err.remote_traceback and "boom in a block" in err.remote_traceback
    assert err.key and err.worker
    # The worker survives and the cluster stays usable.
    assert ta.ones(3, chunks=1).sum().compute() == 3


def test_wrong_block_shape_is_reported(client):
    x = ta.ones((4,), chunks=2)
    with pytest.raises(ts.TaskError, match="must keep the input block's shape"):
        x.map_blocks(lambda b: b[:1], dtype=float).compute()


def test_map_blocks_over_several_arrays_aligns_them_like_dask(client):
    rng = np.random.default_rng(5)
    a, b, v = rng.random((7, 9)), rng.random((7, 9)), rng.random(9)
    x = ta.from_array(a, chunks=(3, 4))
    y = ta.from_array(b, chunks=(2, 5))  # other boundaries: aligned to x's
    w = ta.from_array(v, chunks=2)  # fewer axes: lines up with the last one
    got = ta.map_blocks(lambda p, k, q, r: p * k - q + r, x, 2.0, y, w)
    assert got.chunks == x.chunks and got.dtype == np.float64
    np.testing.assert_allclose(got.compute(), a * 2.0 - b + v)
    # The lower-dimensional array first: the output keeps the larger shape.
    got = ta.map_blocks(lambda r, p: (r + p).astype(np.float32), w, x)
    assert got.shape == (7, 9) and got.dtype == np.float32
    np.testing.assert_allclose(got.compute(), (v + a).astype(np.float32))
    with pytest.raises(ValueError):
        ta.map_blocks(np.add, x, ta.from_array(rng.random((7, 8)), chunks=4))
