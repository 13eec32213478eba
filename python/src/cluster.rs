//! `Client` and `LocalCluster` for Python: every call that waits runs with the GIL
//! released, and waits poll for Ctrl-C so a long `compute()` can be interrupted.

use crate::array::PyArray;
use crate::buffer::HostBuffer;
use crate::errors::{ClusterError, IntoPyResult};
use ndarray::IxDyn;
use pyo3::prelude::*;
use std::sync::Mutex;
use std::sync::mpsc::{RecvTimeoutError, channel};
use std::time::Duration;
use tessera::{DType, LocalCluster};

/// Run `work` on its own thread with the GIL released, checking for signals (Ctrl-C)
/// every 50 ms. On KeyboardInterrupt the work is abandoned: its result is dropped when it
/// finishes, which releases whatever it holds on the cluster.
pub fn interruptible<T: Send + 'static>(
    py: Python<'_>,
    work: impl FnOnce() -> T + Send + 'static,
) -> PyResult<T> {
    interruptible_with(py, None, work)
}

/// A progress hook and the client whose submissions it follows.
pub type ProgressWatch<'a, 'py> = Option<(&'a Bound<'py, PyAny>, tessera::Client)>;

/// [`interruptible`], calling `hook(elapsed_seconds, tasks_done, tasks_total)` at every
/// poll, with the scheduler's counts summed over the client's submissions made during
/// this call (0, 0 until the first report): the Python progress bar's feed.
pub fn interruptible_with<T: Send + 'static>(
    py: Python<'_>,
    watch: ProgressWatch<'_, '_>,
    work: impl FnOnce() -> T + Send + 'static,
) -> PyResult<T> {
    let start = std::time::Instant::now();
    let mark = watch.as_ref().map(|(_, client)| client.progress_mark());
    let (tx, rx) = channel();
    std::thread::Builder::new()
        .name("tessera-wait".into())
        .spawn(move || {
            let _ = tx.send(work());
        })
        .map_err(|e| ClusterError::new_err(format!("cannot start a thread: {e}")))?;
    let mut rx = rx;
    loop {
        // The receiver moves into the GIL-free closure and back (it is not Sync).
        let (received, back) = py.detach(move || (rx.recv_timeout(Duration::from_millis(50)), rx));
        rx = back;
        match received {
            Ok(v) => return Ok(v),
            Err(RecvTimeoutError::Timeout) => {
                py.check_signals()?;
                if let (Some((hook, client)), Some(mark)) = (&watch, mark) {
                    let (done, total) = client
                        .progress_since(mark)
                        .map_or((0, 0), |p| (p.done + p.erred, p.total));
                    hook.call1((start.elapsed().as_secs_f64(), done, total))?;
                }
            }
            Err(RecvTimeoutError::Disconnected) => {
                return Err(ClusterError::new_err("the computation thread panicked"));
            }
        }
    }
}

/// Credentials file names as Python passes them: `(token_file, tls_ca_file, tls_cert,
/// tls_key)`.
pub type FileNames = (
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
);

fn security_files(names: Option<FileNames>) -> tessera::SecurityFiles {
    let (token_file, tls_ca_file, tls_cert, tls_key) = names.unwrap_or_default();
    tessera::SecurityFiles {
        token_file: token_file.map(Into::into),
        tls_ca_file: tls_ca_file.map(Into::into),
        tls_cert: tls_cert.map(Into::into),
        tls_key: tls_key.map(Into::into),
    }
}

/// A connection to a scheduler.
#[pyclass(module = "tessera._core", name = "Client", frozen)]
pub struct PyClient {
    inner: Mutex<Option<tessera::Client>>,
    address: String,
}

impl PyClient {
    /// The Rust client (an error once closed).
    pub(crate) fn client(&self) -> PyResult<tessera::Client> {
        self.inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .ok_or_else(|| ClusterError::new_err("this client is closed"))
    }
}

#[pymethods]
impl PyClient {
    /// Connect to the scheduler at `address` (`host:port`), with the credentials files
    /// `(token_file, tls_ca_file, tls_cert, tls_key)` when the cluster is protected.
    #[new]
    #[pyo3(signature = (address, security = None))]
    fn new(py: Python<'_>, address: String, security: Option<FileNames>) -> PyResult<PyClient> {
        let security = security_files(security).load().py()?;
        let a = address.clone();
        let client =
            interruptible(py, move || tessera::Client::connect_with(&a, security))?.py()?;
        // The Python package draws its own bar (terminal or notebook) from the same events.
        client.set_progress_bars(false);
        Ok(PyClient {
            address: client.scheduler_address().to_string(),
            inner: Mutex::new(Some(client)),
        })
    }

    /// The scheduler's address.
    #[getter]
    fn scheduler_address(&self) -> String {
        self.address.clone()
    }

    /// Compute `array` and return its values as a buffer NumPy wraps without copying;
    /// `progress(elapsed_seconds, tasks_done, tasks_total)` is called while waiting.
    #[pyo3(signature = (array, progress = None))]
    fn compute(
        &self,
        py: Python<'_>,
        array: &PyArray,
        progress: Option<Bound<'_, PyAny>>,
    ) -> PyResult<HostBuffer> {
        let client = self.client()?;
        let a = array.inner.clone();
        let dtype = a.dtype().py()?;
        interruptible_with(
            py,
            progress.as_ref().map(|hook| (hook, client.clone())),
            move || -> tessera::Result<HostBuffer> {
                let future = client.submit(&a)?;
                Ok(match dtype {
                    DType::Bool => HostBuffer::from_bools(future.result::<bool, IxDyn>()?),
                    DType::I32 => HostBuffer::from_owned(future.result::<i32, IxDyn>()?, dtype),
                    DType::I64 => HostBuffer::from_owned(future.result::<i64, IxDyn>()?, dtype),
                    DType::F32 => HostBuffer::from_owned(future.result::<f32, IxDyn>()?, dtype),
                    DType::F64 => HostBuffer::from_owned(future.result::<f64, IxDyn>()?, dtype),
                })
            },
        )?
        .py()
    }

    /// Compute `array` on the cluster and keep its chunks there; `progress` as for
    /// `compute`.
    #[pyo3(signature = (array, progress = None))]
    fn persist(
        &self,
        py: Python<'_>,
        array: &PyArray,
        progress: Option<Bound<'_, PyAny>>,
    ) -> PyResult<PyArray> {
        let client = self.client()?;
        let a = array.inner.clone();
        let watch = progress.as_ref().map(|hook| (hook, client.clone()));
        let persisted = interruptible_with(py, watch, move || client.persist(&a))?.py()?;
        PyArray::checked(persisted)
    }

    /// Workers, their load and the scheduler's counters, as a dict.
    fn cluster_info<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let client = self.client()?;
        let info = interruptible(py, move || client.cluster_info())?.py()?;
        pythonize::pythonize(py, &info).map_err(|e| ClusterError::new_err(e.to_string()))
    }

    /// Keys of an array's chunks, in C order.
    fn chunk_keys(&self, array: &PyArray) -> PyResult<Vec<String>> {
        let keys = self.client()?.chunk_keys(&array.inner).py()?;
        Ok(keys.iter().map(|k| k.to_string()).collect())
    }

    /// Start recording a performance report; `stop(path)` on the recorder writes it.
    fn start_report(&self, py: Python<'_>) -> PyResult<crate::report::PyReportRecorder> {
        let client = self.client()?;
        let recorder = interruptible(py, move || client.start_report())?.py()?;
        Ok(crate::report::PyReportRecorder::new(recorder))
    }

    /// Close the connection (results it holds are released).
    fn close(&self, py: Python<'_>) {
        let client = self.inner.lock().unwrap_or_else(|p| p.into_inner()).take();
        py.detach(move || drop(client));
    }
}

/// A scheduler and worker processes on this machine, stopped by `close()` or when
/// garbage-collected (and, through the parent-death signal, when this process dies).
#[pyclass(module = "tessera._core", name = "LocalCluster", frozen)]
pub struct PyLocalCluster {
    inner: Mutex<Option<LocalCluster>>,
    address: String,
}

impl PyLocalCluster {
    fn with<T>(&self, f: impl FnOnce(&mut LocalCluster) -> T) -> PyResult<T> {
        let mut guard = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let cluster = guard
            .as_mut()
            .ok_or_else(|| ClusterError::new_err("this cluster is closed"))?;
        Ok(f(cluster))
    }
}

#[pymethods]
impl PyLocalCluster {
    /// Start `n_workers` workers as `launcher... worker ADDRESS ...` processes (for
    /// Python: `[sys.executable, "-m", "tessera"]`) and wait until they have joined.
    /// `allowed_failures`: err a task once it has been running on this many workers that
    /// died (the scheduler's default, 3, when `None`).
    #[new]
    #[pyo3(signature = (n_workers, threads_per_worker, memory_limit, launcher, worker_timeout_ms = 10_000, secure = false, security = None, allowed_failures = None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        n_workers: usize,
        threads_per_worker: usize,
        memory_limit: Option<u64>,
        launcher: Vec<String>,
        worker_timeout_ms: u64,
        secure: bool,
        security: Option<FileNames>,
        allowed_failures: Option<u32>,
    ) -> PyResult<PyLocalCluster> {
        let files = security_files(security);
        let Some((program, args)) = launcher.split_first() else {
            return Err(pyo3::exceptions::PyValueError::new_err(
                "launcher must name a program",
            ));
        };
        let args: Vec<String> = args.to_vec();
        let program = program.clone();
        let cluster = interruptible(py, move || {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let mut builder = LocalCluster::builder()
                .launcher(program, &args)
                .workers(n_workers)
                .threads_per_worker(threads_per_worker)
                .worker_timeout(Duration::from_millis(worker_timeout_ms))
                .security_files(files)
                .secure(secure);
            if let Some(m) = memory_limit {
                builder = builder.memory_limit(m);
            }
            if let Some(n) = allowed_failures {
                builder = builder.allowed_failures(n);
            }
            builder.build()
        })?
        .py()?;
        Ok(PyLocalCluster {
            address: cluster.scheduler_address().to_string(),
            inner: Mutex::new(Some(cluster)),
        })
    }

    /// The scheduler's address (`127.0.0.1:port`).
    #[getter]
    fn scheduler_address(&self) -> String {
        self.address.clone()
    }

    /// The credentials files `(token_file, tls_ca_file, tls_cert, tls_key)` the cluster's
    /// processes run with (each `None` when unset).
    #[getter]
    fn security_files(&self) -> PyResult<FileNames> {
        self.with(|c| {
            let f = c.security_files();
            let name = |p: &Option<std::path::PathBuf>| p.as_ref().map(|p| p.display().to_string());
            (
                name(&f.token_file),
                name(&f.tls_ca_file),
                name(&f.tls_cert),
                name(&f.tls_key),
            )
        })
    }

    /// Process ids of the worker processes.
    #[getter]
    fn worker_pids(&self) -> PyResult<Vec<u32>> {
        self.with(|c| c.worker_pids())
    }

    /// Process id of the scheduler process.
    #[getter]
    fn scheduler_pid(&self) -> PyResult<Option<u32>> {
        self.with(|c| c.scheduler_pid())
    }

    /// Kill worker `index` with SIGKILL, as a crash would.
    fn kill_worker(&self, py: Python<'_>, index: usize) -> PyResult<()> {
        py.detach(|| self.with(|c| c.kill_worker(index)))?.py()
    }

    /// Start one more worker.
    fn add_worker(&self, py: Python<'_>) -> PyResult<()> {
        py.detach(|| self.with(|c| c.add_worker()))?.py()
    }

    /// Stop every process now (idempotent).
    fn close(&self, py: Python<'_>) {
        let cluster = self.inner.lock().unwrap_or_else(|p| p.into_inner()).take();
        py.detach(move || drop(cluster));
    }

    /// Whether `close()` has run.
    #[getter]
    fn closed(&self) -> bool {
        self.inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_none()
    }
}
