//! The worker side of Python `map_blocks`: a kernel named `python` that unpickles the
//! user's function and runs it on NumPy views of the input chunks, GIL held only inside.

use crate::buffer::{HostBuffer, with_view};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList};
use tessera::{Chunk, DType, Error, Result};

/// Name under which the kernel is registered.
pub const PYTHON_KERNEL: &str = "python";

/// Register the `python` kernel in this process (a worker started by `python -m tessera`).
pub fn register() {
    tessera::register_kernel(PYTHON_KERNEL, run);
}

/// Refuse to unpickle a shipped function unless this worker's cluster is protected (a
/// token or TLS) or reachable only from this machine (worker and scheduler on loopback):
/// a pickle runs arbitrary code, so an open port must not accept one.
pub fn ensure_shipped_code_allowed() -> Result<()> {
    if tessera::shipped_code_allowed_here() {
        return Ok(());
    }
    Err(Error::other(
        "this worker refuses Python functions: its cluster has no token or TLS and is \
         reachable beyond this machine (start the scheduler and workers with --token-file \
         or --tls-ca-file/--tls-cert/--tls-key, or bind them to 127.0.0.1)",
    ))
}

fn run(inputs: &[Chunk], args: &[u8]) -> Result<Chunk> {
    ensure_shipped_code_allowed()?;
    Python::attach(|py| call(py, inputs, args).map_err(|e| describe(py, e)))
}

/// Call `tessera._worker.run_block(payload, blocks)`; it returns a C-contiguous array.
fn call(py: Python<'_>, inputs: &[Chunk], args: &[u8]) -> PyResult<Chunk> {
    let blocks = inputs
        .iter()
        .map(|c| Py::new(py, HostBuffer::from_chunk(c)?))
        .collect::<PyResult<Vec<_>>>()?;
    let run_block = py.import("tessera._worker")?.getattr("run_block")?;
    let out = run_block.call1((PyBytes::new(py, args), PyList::new(py, blocks)?))?;
    let dtype: String = out.getattr("dtype")?.str()?.extract()?;
    let shape: Vec<usize> = out.getattr("shape")?.extract()?;
    let dtype = crate::buffer::parse_dtype(&dtype)?;
    fn owned<T: pyo3::buffer::Element + Copy + Send + Sync + tessera_core::chunk::ChunkElement>(
        out: &Bound<'_, PyAny>,
        shape: &[usize],
    ) -> PyResult<Chunk> {
        with_view::<T, _>(out, shape, |v| Chunk::from_ndarray(v.to_owned()))
    }
    match dtype {
        DType::Bool => {
            let bytes = out.call_method1("view", ("uint8",))?;
            with_view::<u8, _>(&bytes, &shape, |v| {
                Chunk::from_ndarray::<bool>(v.mapv(|b| b != 0))
            })
        }
        DType::I32 => owned::<i32>(&out, &shape),
        DType::I64 => owned::<i64>(&out, &shape),
        DType::F32 => owned::<f32>(&out, &shape),
        DType::F64 => owned::<f64>(&out, &shape),
    }
}

/// The message for the client: `tessera._worker` has already put the user exception's
/// type, text and traceback into it; other failures (in the bridge itself) say what they are.
pub(crate) fn describe(py: Python<'_>, e: PyErr) -> Error {
    let text = e.value(py).str().map(|s| s.to_string()).unwrap_or_default();
    if text.contains("\nRemote traceback:\n") {
        Error::other(text)
    } else {
        Error::other(format!("python kernel: {e}"))
    }
}
