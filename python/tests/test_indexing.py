"""NumPy indexing of tessera arrays against NumPy: slices with steps and negative
indices, None, Ellipsis, integers, integer arrays and boolean masks; IndexError bounds."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tessera.array as ta


@st.composite
def slices(draw, size):
    start = draw(st.one_of(st.none(), st.integers(-size - 2, size + 2)))
    stop = draw(st.one_of(st.none(), st.integers(-size - 2, size + 2)))
    step = draw(st.one_of(st.none(), st.integers(-3, 3).filter(lambda s: s != 0)))
    return slice(start, stop, step)


@st.composite
def indexed(draw):
    ndim = draw(st.integers(1, 3))
    shape = tuple(draw(st.integers(1, 8)) for _ in range(ndim))
    chunks = tuple(draw(st.integers(1, d)) for d in shape)
    items = []
    for d in shape:
        items.append(draw(st.one_of(slices(d), st.integers(-d, d - 1))))
    if draw(st.booleans()):
        items.insert(draw(st.integers(0, len(items))), None)
    if draw(st.booleans()) and len(items) > 1:
        cut = draw(st.integers(1, len(items) - 1))
        items = items[:cut] + [Ellipsis]
    return shape, chunks, tuple(items)


@given(indexed())
def test_basic_indexing_matches_numpy(client, case):
    shape, chunks, key = case
    data = np.arange(np.prod(shape), dtype=np.float64).reshape(shape)
    x = ta.from_array(data, chunks=chunks)
    got = x[key].compute()
    np.testing.assert_array_equal(np.asarray(got), data[key])


def test_issue_example_index(client):
    data = np.arange(20 * 3 * 4, dtype=np.int64).reshape(20, 3, 4)
    x = ta.from_array(data, chunks=(7, 2, 3))
    key = (slice(1, 10, 2), None, Ellipsis, -1)
    np.testing.assert_array_equal(x[key].compute(), data[key])


@given(st.integers(1, 10), st.integers(1, 10), st.integers(0, 2**31), st.integers(0, 1))
def test_integer_arrays_and_masks_along_one_axis(client, rows, cols, seed, axis):
    rng = np.random.default_rng(seed)
    data = rng.normal(size=(rows, cols))
    x = ta.from_array(data, chunks=(3, 4))
    size = data.shape[axis]
    idx = rng.integers(-size, size, size=rng.integers(0, 6))
    mask = rng.random(size) < 0.5
    key_i = (slice(None), idx) if axis else (idx,)
    key_m = (slice(None), mask) if axis else (mask,)
    np.testing.assert_array_equal(x[key_i].compute(), data[key_i])
    np.testing.assert_array_equal(x[key_m].compute(), data[key_m])


def test_full_boolean_mask(client):
    data = np.arange(12.0).reshape(3, 4) - 5
    x = ta.from_array(data, chunks=2)
    np.testing.assert_array_equal(x[x > 0].compute(), data[data > 0])
    np.testing.assert_array_equal(x[data > 0].compute(), data[data > 0])


def test_out_of_bounds_is_index_error(client):
    x = ta.ones((5, 3), chunks=2)
    with pytest.raises(IndexError, match="out of bounds"):
        x[5]
    with pytest.raises(IndexError, match="out of bounds"):
        x[:, -4]
    with pytest.raises(IndexError, match="out of bounds"):
        x[[0, 7]]
    with pytest.raises(IndexError, match="too many indices"):
        x[0, 0, 0]
    with pytest.raises(IndexError):
        x[1.5]
