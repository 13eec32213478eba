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
