"""Build-time errors with Dask-like types, attributes and reprs, persist, and results
that share memory with the fetched buffers instead of copying them."""

import numpy as np
import pytest

import tessera as ts
import tessera.array as ta


def test_attributes_like_dask(client):
    x = ta.ones((10, 7), chunks=(4, 3), dtype="float32")
    assert x.shape == (10, 7) and x.ndim == 2 and x.size == 70
    assert x.dtype == np.float32 and x.nbytes == 280 and x.itemsize == 4
    assert x.chunks == ((4, 4, 2), (3, 3, 1)) and x.chunksize == (4, 3)
    assert x.numblocks == (3, 3) and x.npartitions == 9
    assert x.name == ta.ones((10, 7), chunks=(4, 3), dtype="float32").name
    assert repr(x).startswith("tessera.array<") and "shape=(10, 7)" in repr(x)
    assert "chunksize=(4, 3)" in repr(x) and "dtype=float32" in repr(x)
    html = x._repr_html_()
    assert "<table>" in html and "280 B" in html and "9 chunks" in html
    assert "float32" in html


def test_build_errors_have_dask_types():
    a, b = ta.ones((3, 4), chunks=2), ta.ones((5,), chunks=2)
    with pytest.raises(ValueError):
        a + b
    with pytest.raises(ValueError):
        a @ ta.ones((5, 2), chunks=2)
    with pytest.raises(ValueError):
        a.reshape(5, 5)
    with pytest.raises(ValueError):
        ta.ones((4,), chunks=((1, 2),))
    with pytest.raises(ValueError):
        ta.concatenate([a, b])
    with pytest.raises(TypeError, match="uint8 is not supported"):
        ta.from_array(np.zeros(3, dtype=np.uint8))
    with pytest.raises(TypeError):
        ta.ones(3, chunks=1) + "text"
    with pytest.raises(TypeError):
        ta.ones(3, chunks=1).astype(complex)
    with pytest.raises(ValueError):
        a.sum(axis=2)
    with pytest.raises(TypeError):
        ta.ones(3, chunks=1, dtype=bool) - ta.ones(3, chunks=1, dtype=bool)


def test_persist_and_reuse(client):
    data = np.random.default_rng(0).normal(size=(12, 12))
    x = ta.from_array(data, chunks=4)
    y = (x + 1).persist()
    assert isinstance(y, ta.Array) and y.shape == x.shape
    np.testing.assert_allclose((y * 2).compute(), (data + 1) * 2)
    np.testing.assert_allclose(ts.persist(y).sum().compute(), (data + 1).sum())
    a, b = ts.compute(x.sum(), x.max())
    np.testing.assert_allclose([a, b], [data.sum(), data.max()])


def test_results_are_numpy_views_of_the_fetched_buffer(client):
    out = ta.arange(10, chunks=3).compute()
    assert isinstance(out, np.ndarray) and out.base is not None
    assert type(out.base).__name__ in ("memoryview", "HostBuffer")
    out[0] = 42  # a result is the caller's own memory
    assert out[0] == 42


def test_numpy_scalars_keep_their_dtype(client):
    x = ta.ones((4,), dtype="float32", chunks=2)
    assert (x + np.float32(1)).dtype == np.float32
    assert (x + 1.0).dtype == np.float32  # Python floats are weak (NEP 50)
    assert (x + np.float64(1)).dtype == np.float64
    assert (ta.ones(3, dtype="int32", chunks=2) * 2).dtype == np.int32
