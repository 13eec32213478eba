//! Tessera errors as Python exceptions with Dask-like types: shape problems are
//! `ValueError`, dtype problems `TypeError`, failed tasks `tessera.TaskError`.

use pyo3::exceptions::{PyIndexError, PyRuntimeError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use tessera::Error;

pyo3::create_exception!(
    tessera,
    TaskError,
    PyRuntimeError,
    "A task failed on a worker; `key`, `worker` and `remote_traceback` say where and why."
);
pyo3::create_exception!(
    tessera,
    ClusterError,
    PyRuntimeError,
    "The cluster could not be reached, refused a request or lost a component."
);

/// Convert a Tessera error into the Python exception a Dask user expects.
pub fn to_py(e: Error) -> PyErr {
    match e {
        // An index past the end is an IndexError in NumPy and Dask.
        Error::Shape(m) if m.contains("out of bounds") && m.contains("index") => {
            PyIndexError::new_err(m)
        }
        Error::Shape(m) | Error::Chunks(m) => PyValueError::new_err(m),
        Error::DType(m) => PyTypeError::new_err(m),
        Error::Task(t) => Python::attach(|py| {
            let err = TaskError::new_err(t.to_string());
            let value = err.value(py);
            // The worker's Python kernel puts the remote traceback after its summary line.
            let (summary, traceback) = match t.message.split_once("\nRemote traceback:\n") {
                Some((s, tb)) => (s.to_string(), tb.to_string()),
                None => (t.message.clone(), String::new()),
            };
            let _ = value.setattr("key", t.key.clone());
            let _ = value.setattr("worker", t.worker.clone());
            let _ = value.setattr("remote_message", summary);
            let _ = value.setattr("remote_traceback", traceback);
            err
        }),
        Error::Cluster(m) => ClusterError::new_err(m),
        Error::Decode(m) => PyRuntimeError::new_err(format!("decode error: {m}")),
        // Unknown tables and columns are KeyErrors, as in pandas and Dask.
        Error::Plan(m) if unknown_name(&m) => pyo3::exceptions::PyKeyError::new_err(m),
        Error::Plan(m) => PyValueError::new_err(m),
        Error::Other(m) => PyValueError::new_err(m),
    }
}

/// Whether a planning message is about an unknown table or column.
fn unknown_name(m: &str) -> bool {
    m.contains("No field named") || m.contains("not found") || m.contains("no column")
}

/// Whether a planning message is about the types of values (an operator, function or
/// aggregate applied to a type it does not take).
fn type_problem(m: &str) -> bool {
    [
        "Cannot coerce",
        "cannot coerce",
        "Failed to coerce",
        "type coercion",
        "No function matches",
        "not supported for",
        "Cannot infer common",
        "Unsupported CAST",
        "Unsupported data type",
    ]
    .iter()
    .any(|p| m.contains(p))
}

/// An error from typing an expression: unknown columns are KeyErrors, the rest
/// (operators or functions applied to types they do not take) TypeErrors.
pub fn expr_error(m: &str) -> PyErr {
    if unknown_name(m) {
        pyo3::exceptions::PyKeyError::new_err(m.to_string())
    } else {
        PyTypeError::new_err(m.to_string())
    }
}

/// A table error: as [`to_py`], with planning errors about value types as TypeErrors.
pub fn table_error(e: Error) -> PyErr {
    match e {
        Error::Plan(m) if !unknown_name(&m) && type_problem(&m) => PyTypeError::new_err(m),
        e => to_py(e),
    }
}

/// `Result<T, tessera::Error>` -> `PyResult<T>`.
pub trait IntoPyResult<T> {
    /// Map the error with [`to_py`].
    fn py(self) -> PyResult<T>;
}

impl<T> IntoPyResult<T> for tessera::Result<T> {
    fn py(self) -> PyResult<T> {
        self.map_err(to_py)
    }
}
