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


def test_notebook_runs_headless(tmp_path):
    """examples/quickstart.ipynb executes top to bottom in a fresh kernel (nbclient, the
    package's own interpreter through ipykernel) with no cell raising."""
    import nbformat
    from nbclient import NotebookClient

    path = EXAMPLES / "quickstart.ipynb"
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=180, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    # The rich reprs a notebook user sees: the array's and the client's HTML.
    html = [o["data"]["text/html"] for o in outputs
            if o.output_type == "execute_result" and "text/html" in o.get("data", {})]
    assert any("chunks" in h.lower() for h in html), html
