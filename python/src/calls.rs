//! Python futures on the Rust side: the `python-call` call function that runs a pickled
//! Python call on pickled inputs in a worker, and the client calls behind `Client.submit`.

use crate::cluster::{PyClient, interruptible};
use crate::errors::{ClusterError, IntoPyResult};
use arrow::datatypes::Schema;
use arrow::pyarrow::{IntoPyArrow, PyArrowType, Table};
use arrow::record_batch::RecordBatch;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList};
use std::sync::Arc;
use std::sync::Mutex;
use std::time::Duration;
use tessera::{Result, TaskKey, ValueFuture};
use tessera_core::value::object;
use tessera_core::{Partition, Value};

/// Name under which the call function is registered.
pub const PYTHON_CALL: &str = "python-call";
/// Name of the call function behind `DataFrame.map_partitions`.
pub const PYTHON_PARTITION: &str = "python-partition";

/// Register `python-call` and `python-partition` in this process (a worker started by
/// `python -m tessera`).
pub fn register() {
    tessera::register_call(PYTHON_CALL, run);
    tessera::register_call(PYTHON_PARTITION, run_partition);
}

/// `tessera._worker.run_partition(payload, table)` on the one input partition as a
/// `pyarrow.Table` (exported, not copied); its `(schema, batches)` answer is the result.
fn run_partition(inputs: &[Value], args: &[u8]) -> Result<Value> {
    crate::kernel::ensure_shipped_code_allowed()?;
    let [Value::Table(part)] = inputs else {
        return Err(tessera::Error::other(format!(
            "map_partitions reads one table partition, got {} inputs",
            inputs.len()
        )));
    };
    let (schema, batches) = (part.schema().clone(), part.batches());
    Python::attach(|py| {
        let call = || -> PyResult<Value> {
            let table = Table::try_new(batches, schema)
                .map_err(|e| PyValueError::new_err(e.to_string()))?
                .into_pyarrow(py)?;
            let run = py.import("tessera._worker")?.getattr("run_partition")?;
            let (schema, batches): (PyArrowType<Schema>, Vec<PyArrowType<RecordBatch>>) =
                run.call1((PyBytes::new(py, args), table))?.extract()?;
            let batches = batches.into_iter().map(|b| b.0).collect();
            Partition::new(Arc::new(schema.0), batches)
                .map(Value::Table)
                .map_err(|e| PyValueError::new_err(e.to_string()))
        };
        call().map_err(|e| crate::kernel::describe(py, e))
    })
}

fn run(inputs: &[Value], args: &[u8]) -> Result<Value> {
    crate::kernel::ensure_shipped_code_allowed()?;
    let pickled = inputs
        .iter()
        .map(object::bytes)
        .collect::<Result<Vec<_>>>()?;
    Python::attach(|py| {
        let call = || -> PyResult<Vec<u8>> {
            let run_call = py.import("tessera._worker")?.getattr("run_call")?;
            let inputs = PyList::new(py, pickled.iter().map(|b| PyBytes::new(py, b)))?;
            run_call.call1((PyBytes::new(py, args), inputs))?.extract()
        };
        call().map_err(|e| crate::kernel::describe(py, e))
    })
    .map(|bytes| object::value(&bytes))
}

/// A value on the cluster (a submitted call or a scattered object), held while it lives.
#[pyclass(module = "tessera._core", name = "ValueFuture", frozen)]
pub struct PyValueFuture {
    inner: Mutex<Option<ValueFuture>>,
    key: String,
}

impl PyValueFuture {
    fn new(f: ValueFuture) -> Self {
        PyValueFuture {
            key: f.key().to_string(),
            inner: Mutex::new(Some(f)),
        }
    }

    fn future(&self) -> PyResult<ValueFuture> {
        self.inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .ok_or_else(|| ClusterError::new_err(format!("future {} was released", self.key)))
    }
}

#[pymethods]
impl PyValueFuture {
    /// The value's key.
    #[getter]
    fn key(&self) -> String {
        self.key.clone()
    }

    /// Whether it is computed or erred for good (never blocks).
    fn done(&self) -> PyResult<bool> {
        Ok(self.future()?.done())
    }

    /// Wait up to `timeout` seconds (forever when None); whether it finished. A task
    /// error (after its retries) is raised.
    #[pyo3(signature = (timeout = None))]
    fn wait(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<bool> {
        let f = self.future()?;
        let limit = seconds(timeout)?;
        interruptible(py, move || match limit {
            Some(t) => f.wait_timeout(t),
            None => f.wait().map(|_| true),
        })?
        .py()
    }

    /// Wait and fetch the pickled value.
    fn result_bytes<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        let f = self.future()?;
        let bytes = interruptible(py, move || f.object())?.py()?;
        Ok(PyBytes::new(py, &bytes))
    }

    /// Stop holding the value (the cluster forgets it when nothing else needs it).
    fn release(&self, py: Python<'_>) {
        let f = self.inner.lock().unwrap_or_else(|p| p.into_inner()).take();
        py.detach(move || drop(f));
    }
}

fn seconds(timeout: Option<f64>) -> PyResult<Option<Duration>> {
    match timeout {
        None => Ok(None),
        Some(t) if t.is_finite() && t >= 0.0 => Ok(Some(Duration::from_secs_f64(t))),
        Some(t) => Err(pyo3::exceptions::PyValueError::new_err(format!(
            "timeout must be a non-negative number of seconds, not {t}"
        ))),
    }
}

/// Submit the pickled call `payload` under `key`, reading the values of `inputs`.
#[pyfunction]
pub fn submit_call(
    py: Python<'_>,
    client: &PyClient,
    key: String,
    payload: Vec<u8>,
    inputs: Vec<PyRef<'_, PyValueFuture>>,
    retries: u32,
) -> PyResult<PyValueFuture> {
    let client = client.client()?;
    let inputs = inputs
        .iter()
        .map(|f| f.future())
        .collect::<PyResult<Vec<_>>>()?;
    let f = interruptible(py, move || {
        client.submit_call(TaskKey::new(key), PYTHON_CALL, payload, &inputs, retries)
    })?
    .py()?;
    Ok(PyValueFuture::new(f))
}

/// Submit many pickled calls `(key, payload, inputs)` as one graph.
#[pyfunction]
pub fn submit_calls(
    py: Python<'_>,
    client: &PyClient,
    calls: Vec<(String, Vec<u8>, Vec<PyRef<'_, PyValueFuture>>)>,
    retries: u32,
) -> PyResult<Vec<PyValueFuture>> {
    let client = client.client()?;
    let calls = calls
        .into_iter()
        .map(|(key, payload, inputs)| {
            let inputs = inputs
                .iter()
                .map(|f| f.future())
                .collect::<PyResult<Vec<_>>>()?;
            Ok((TaskKey::new(key), payload, inputs))
        })
        .collect::<PyResult<Vec<_>>>()?;
    let futures =
        interruptible(py, move || client.submit_calls(PYTHON_CALL, calls, retries))?.py()?;
    Ok(futures.into_iter().map(PyValueFuture::new).collect())
}

/// Put the pickled object `data` on a worker under `key`.
#[pyfunction]
pub fn scatter_object(
    py: Python<'_>,
    client: &PyClient,
    key: String,
    data: Vec<u8>,
) -> PyResult<PyValueFuture> {
    let client = client.client()?;
    let f = interruptible(py, move || {
        client.scatter_value(TaskKey::new(key), object::value(&data))
    })?
    .py()?;
    Ok(PyValueFuture::new(f))
}

/// Wait until one of `futures` is done; its index, or None when `timeout` ran out.
#[pyfunction]
#[pyo3(signature = (client, futures, timeout = None))]
pub fn wait_first(
    py: Python<'_>,
    client: &PyClient,
    futures: Vec<PyRef<'_, PyValueFuture>>,
    timeout: Option<f64>,
) -> PyResult<Option<usize>> {
    let client = client.client()?;
    let futures = futures
        .iter()
        .map(|f| f.future())
        .collect::<PyResult<Vec<_>>>()?;
    let limit = seconds(timeout)?;
    interruptible(py, move || client.wait_first(&futures, limit))?.py()
}
