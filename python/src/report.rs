//! Performance reports from Python: a recorder started by `Client.start_report()` whose
//! `stop(path)` writes the self-contained HTML report of what the cluster did meanwhile.

use crate::cluster::interruptible;
use crate::errors::{ClusterError, IntoPyResult};
use pyo3::prelude::*;
use std::sync::Mutex;

/// A performance report being recorded (stopped once).
#[pyclass(module = "tessera._core", name = "ReportRecorder", frozen)]
pub struct PyReportRecorder {
    inner: Mutex<Option<tessera::ReportRecorder>>,
}

impl PyReportRecorder {
    /// Wrap a started recorder.
    pub fn new(recorder: tessera::ReportRecorder) -> Self {
        PyReportRecorder {
            inner: Mutex::new(Some(recorder)),
        }
    }
}

#[pymethods]
impl PyReportRecorder {
    /// Stop recording and write the report to `path`.
    fn stop(&self, py: Python<'_>, path: std::path::PathBuf) -> PyResult<()> {
        let recorder = self
            .inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
            .ok_or_else(|| ClusterError::new_err("this report was already written"))?;
        interruptible(py, move || recorder.stop(&path))?.py()
    }
}
