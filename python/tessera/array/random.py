"""`tessera.array.random`: seeded random arrays with dask.array.random's names
(`random`, `uniform`, `randint`, `RandomState`, `default_rng`)."""

import random as _pyrandom

import numpy as np

from tessera import _core

from .creation import _grid_call, _shape
from ._dtypes import dtype_name


def _seed(seed):
    if seed is None:
        return _pyrandom.getrandbits(63)
    if isinstance(seed, (int, np.integer)) and int(seed) >= 0:
        return int(seed)
    raise TypeError(f"seed must be a non-negative integer or None, not {seed!r}")


class RandomState:
    """A source of random arrays: each call draws a new seed from this state, so a
    seeded state gives the same arrays in the same order."""

    def __init__(self, seed=None):
        self._rng = _pyrandom.Random(seed)

    def _next(self):
        return self._rng.getrandbits(63)

    def random_sample(self, size=None, chunks="auto", dtype=float, **kwargs):
        """Uniform floats in [0, 1)."""
        return self.uniform(0.0, 1.0, size=size, chunks=chunks, dtype=dtype)

    random = random_sample

    def uniform(self, low=0.0, high=1.0, size=None, chunks="auto", dtype=float, **kwargs):
        """Uniform floats in [low, high)."""
        shape = _shape(() if size is None else size)
        name = dtype_name(dtype)
        if name not in ("float32", "float64"):
            raise TypeError(f"uniform random values cannot have dtype {name}")
        seed = self._next()
        return _grid_call(
            lambda b: _core.random(float(low), float(high), list(shape), b, seed, name),
            shape, chunks, np.dtype(name).itemsize,
        )

    def randint(self, low, high=None, size=None, chunks="auto", dtype=np.int64, **kwargs):
        """Uniform integers in [low, high) (in [0, low) when high is None)."""
        if high is None:
            low, high = 0, low
        if high <= low:
            raise ValueError(f"randint: low >= high ({low} >= {high})")
        shape = _shape(() if size is None else size)
        name = dtype_name(dtype)
        seed = self._next()
        return _grid_call(
            lambda b: _core.randint(int(low), int(high), list(shape), b, seed, name),
            shape, chunks, np.dtype(name).itemsize,
        )


class Generator(RandomState):
    """`default_rng(seed)`: NumPy Generator names over the same sources."""

    def integers(self, low, high=None, size=None, chunks="auto", dtype=np.int64, **kwargs):
        """Uniform integers in [low, high)."""
        return self.randint(low, high, size=size, chunks=chunks, dtype=dtype)


def default_rng(seed=None):
    """A `Generator` seeded with `seed`."""
    return Generator(seed)


_GLOBAL = RandomState()


def seed(value=None):
    """Reseed the module-level state."""
    global _GLOBAL
    _GLOBAL = RandomState(_seed(value))


def random(size=None, chunks="auto", **kwargs):
    """Uniform floats in [0, 1) of shape `size`."""
    return _GLOBAL.random_sample(size=size, chunks=chunks, **kwargs)


random_sample = random


def uniform(low=0.0, high=1.0, size=None, chunks="auto", **kwargs):
    """Uniform floats in [low, high)."""
    return _GLOBAL.uniform(low, high, size=size, chunks=chunks, **kwargs)


def randint(low, high=None, size=None, chunks="auto", **kwargs):
    """Uniform integers in [low, high)."""
    return _GLOBAL.randint(low, high, size=size, chunks=chunks, **kwargs)
