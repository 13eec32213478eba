"""Every Python example under examples/ runs to completion in a fresh interpreter, and
the quickstart's numbers match NumPy."""

import pathlib
import subprocess
import sys

import numpy as np
import pytest

EXAMPLES = pathlib.Path(__file__).resolve().parents[2] / "examples"


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.py")), ids=lambda p: p.name)
def test_example_runs(path):
    done = subprocess.run([sys.executable, str(path)], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr


def test_quickstart_matches_numpy():
    sys.path.insert(0, str(EXAMPLES))
    try:
        import python_arrays
    finally:
        sys.path.remove(str(EXAMPLES))
    means, w, doubled = python_arrays.main(n=200, chunk=64)
    assert means.shape == (200,) and 0.5 < means.mean() < 1.5
    z = np.arange(12.0).reshape(3, 4)
    np.testing.assert_allclose(w, np.sin(z)[1:, ::2].sum(axis=1))
    np.testing.assert_array_equal(doubled, z * 2)
