"""tessera.array against NumPy on random shapes, chunkings and dtypes (hypothesis):
creation, operators both ways, ufuncs, reductions with axis/keepdims, scans, transposes."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tessera.array as ta

DTYPES = ["float64", "float32", "int64", "int32"]


@st.composite
def chunked(draw, dtypes=DTYPES, min_dims=1, max_dims=3, max_side=9):
    """A random NumPy array and a random chunk spec for it."""
    ndim = draw(st.integers(min_dims, max_dims))
    shape = tuple(draw(st.integers(1, max_side)) for _ in range(ndim))
    chunks = tuple(draw(st.integers(1, d)) for d in shape)
    dtype = draw(st.sampled_from(dtypes))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    if dtype.startswith("float"):
        data = rng.uniform(-10, 10, size=shape).astype(dtype)
    else:
        data = rng.integers(-20, 20, size=shape).astype(dtype)
    return data, chunks


def close(actual, expected, dtype=None):
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.shape == expected.shape
    assert actual.dtype == expected.dtype, (actual.dtype, expected.dtype)
    if expected.dtype.kind == "f":
        tol = 1e-4 if expected.dtype == np.float32 else 1e-9
        np.testing.assert_allclose(actual, expected, rtol=tol, atol=tol)
    else:
        np.testing.assert_array_equal(actual, expected)


@given(chunked())
def test_from_array_round_trips(client, case):
    data, chunks = case
    x = ta.from_array(data, chunks=chunks)
    assert x.shape == data.shape and x.dtype == data.dtype
    assert x.chunks == ta.normalize_chunks(chunks, data.shape)
    close(x.compute(), data)
    close(np.asarray(x), data)


@given(chunked(), st.sampled_from(["+", "-", "*", "/", "**2", "r-", "r/", "<", "=="]))
def test_operators_with_scalars_and_arrays(client, case, op):
    data, chunks = case
    x = ta.from_array(data, chunks=chunks)
    ops = {
        "+": lambda a: a + 3,
        "-": lambda a: a - a.T.T,
        "*": lambda a: a * 2.5,
        "/": lambda a: a / 4,
        "**2": lambda a: a**2,
        "r-": lambda a: 1 - a,
        "r/": lambda a: 10 / (abs(a) + 1),
        "<": lambda a: a < 2,
        "==": lambda a: a == a,
    }
    close(ops[op](x).compute(), ops[op](data))


@given(chunked(dtypes=["float64", "float32"]),
       st.sampled_from([np.sin, np.cos, np.exp, np.tanh, np.floor, np.abs, np.negative]))
def test_ufuncs_are_lazy_and_match_numpy(client, case, ufunc):
    data, chunks = case
    x = ta.from_array(data, chunks=chunks)
    y = ufunc(x)
    assert isinstance(y, ta.Array)
    close(y.compute(), ufunc(data))


@given(chunked(), st.sampled_from(["sum", "mean", "min", "max", "prod", "std", "var"]),
       st.data())
def test_reductions_with_axis_and_keepdims(client, case, name, data_strategy):
    data, chunks = case
    if name == "prod":
        data = np.clip(data, -2, 2)
    x = ta.from_array(data, chunks=chunks)
    axis = data_strategy.draw(
        st.one_of(st.none(), st.integers(-data.ndim, data.ndim - 1),
                  st.sets(st.integers(0, data.ndim - 1), min_size=1).map(tuple)))
    keepdims = data_strategy.draw(st.booleans())
    got = getattr(x, name)(axis=axis, keepdims=keepdims).compute()
    want = getattr(data, name)(axis=axis, keepdims=keepdims)
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape
    np.testing.assert_allclose(got.astype(float), want.astype(float), rtol=1e-3, atol=1e-3)


@given(chunked(), st.sampled_from(["argmin", "argmax"]), st.data())
def test_arg_reductions(client, case, name, data_strategy):
    data, chunks = case
    x = ta.from_array(data, chunks=chunks)
    axis = data_strategy.draw(st.one_of(st.none(), st.integers(0, data.ndim - 1)))
    close(getattr(x, name)(axis=axis).compute(), getattr(data, name)(axis=axis))


@given(chunked(), st.sampled_from(["cumsum", "cumprod"]), st.data())
def test_scans(client, case, name, data_strategy):
    data, chunks = case
    data = np.clip(data, -2, 2)
    x = ta.from_array(data, chunks=chunks)
    axis = data_strategy.draw(st.one_of(st.none(), st.integers(0, data.ndim - 1)))
    got = getattr(x, name)(axis=axis).compute()
    want = getattr(data, name)(axis=axis)
    np.testing.assert_allclose(np.asarray(got, float), want.astype(float), rtol=1e-3)


@given(chunked(min_dims=2))
def test_transpose_reshape_rechunk(client, case):
    data, chunks = case
    x = ta.from_array(data, chunks=chunks)
    close(x.T.compute(), data.T)
    close(x.transpose(1, 0, *range(2, data.ndim)).compute(),
          data.transpose(1, 0, *range(2, data.ndim)))
    close(x.reshape(-1).compute(), data.reshape(-1))
    close(x.rechunk(2).compute(), data)
    assert x.rechunk(2).chunks == ta.normalize_chunks(2, data.shape)
    close(x.astype("float32").compute(), data.astype("float32"))


def test_any_all_on_bools(client):
    data = np.array([[True, False, True], [False, False, True]])
    x = ta.from_array(data, chunks=(1, 2))
    close(x.any(axis=0).compute(), data.any(axis=0))
    close(x.all(axis=1, keepdims=True).compute(), data.all(axis=1, keepdims=True))
    assert bool(x.any().compute()) is True


def test_creation_functions(client):
    close(ta.zeros((3, 4), chunks=2).compute(), np.zeros((3, 4)))
    close(ta.ones((5,), dtype="int32", chunks=2).compute(), np.ones(5, dtype="int32"))
    close(ta.full((2, 3), 7.5, chunks=(1, 2)).compute(), np.full((2, 3), 7.5))
    close(ta.arange(10, chunks=3).compute(), np.arange(10))
    close(ta.arange(0.0, 2.0, 0.25, chunks=3).compute(), np.arange(0.0, 2.0, 0.25))
    r = ta.random.random((50, 40), chunks=(10, 20)).compute()
    assert r.shape == (50, 40) and r.dtype == np.float64 and 0 <= r.min() and r.max() < 1
    i = ta.random.randint(3, 9, size=(30,), chunks=7).compute()
    assert i.dtype == np.int64 and i.min() >= 3 and i.max() < 9
    a = ta.random.RandomState(5).random_sample(20, chunks=5).compute()
    b = ta.random.RandomState(5).random_sample(20, chunks=5).compute()
    np.testing.assert_array_equal(a, b)
    irregular = ta.ones((6,), chunks=((1, 2, 3),))
    assert irregular.chunks == ((1, 2, 3),)
    close(irregular.compute(), np.ones(6))


@pytest.mark.parametrize("dtype", ["float64", "int64", "bool"])
def test_scalar_results_are_numpy_scalars(client, dtype):
    x = ta.ones((4, 4), dtype=dtype, chunks=2)
    s = x.sum().compute()
    assert np.ndim(s) == 0 and s == 16


def test_where_concatenate_stack_matmul(client):
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(6, 4)), rng.normal(size=(4, 5))
    x, y = ta.from_array(a, chunks=(3, 2)), ta.from_array(b, chunks=(2, 5))
    close((x @ y).compute(), a @ b)
    close(ta.matmul(x, y).compute(), a @ b)
    close(x.dot(y).compute(), a.dot(b))
    close(ta.where(x > 0, x, 0.0).compute(), np.where(a > 0, a, 0.0))
    close(ta.concatenate([x, x], axis=1).compute(), np.concatenate([a, a], axis=1))
    close(ta.stack([x, x]).compute(), np.stack([a, a]))
    close(ta.tensordot(x, y, axes=1).compute(), np.tensordot(a, b, axes=1))
    close((a + x).compute(), a + a)  # NumPy array on the left: __radd__ wins
    close(np.sum(x, axis=0).compute(), a.sum(axis=0))  # __array_function__


@given(chunked(dtypes=["float64"]), st.sampled_from(["nansum", "nanmean", "nanmax", "nanmin"]),
       st.data())
def test_nan_reductions(client, case, name, data_strategy):
    data, chunks = case
    data = data.copy()
    data[data > 5] = np.nan
    x = ta.from_array(data, chunks=chunks)
    axis = data_strategy.draw(st.one_of(st.none(), st.integers(0, data.ndim - 1)))
    want_nan_slices = np.isnan(data).all(axis=axis) if axis is not None else np.isnan(data).all()
    if name in ("nanmax", "nanmin", "nanmean") and np.any(want_nan_slices):
        return  # NumPy warns and returns NaN there; compared elsewhere
    got = getattr(ta, name)(x, axis=axis).compute()
    np.testing.assert_allclose(got, getattr(np, name)(data, axis=axis), rtol=1e-9)
    np.testing.assert_array_equal(
        ta.count_nonzero(x > 0, axis=axis).compute(), np.count_nonzero(data > 0, axis=axis))
