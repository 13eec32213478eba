//! `tessera._core`: the pyo3 extension behind the Python package `tessera` — arrays,
//! tables, clients, local clusters, and the worker entry point run by `python -m tessera`.

mod array;
mod buffer;
mod calls;
mod cluster;
mod errors;
mod expr;
mod kernel;
mod report;
mod table;

use pyo3::prelude::*;

/// Run the `tessera` command line (`scheduler`, `worker`, `local`) in this process, with
/// the Python kernel registered so workers run Python `map_blocks` functions. The GIL is
/// released while it runs; it returns when the role ends.
#[pyfunction]
fn run_cli(py: Python<'_>, argv: Vec<String>) -> PyResult<()> {
    use clap::Parser;
    let cli = match tessera::cli::Cli::try_parse_from(&argv) {
        Ok(cli) => cli,
        Err(e) => {
            let code = e.exit_code();
            let _ = e.print();
            return Err(pyo3::exceptions::PySystemExit::new_err(code));
        }
    };
    kernel::register();
    calls::register();
    tessera::init_logging();
    py.detach(move || tessera::cli::run(cli))
        .map_err(errors::to_py)
}

/// Parse a size such as `4GiB`, `512MiB`, `2GB` or `1000` into bytes.
#[pyfunction]
fn parse_bytes(text: &str) -> PyResult<u64> {
    tessera::cli::parse_bytes(text).map_err(pyo3::exceptions::PyValueError::new_err)
}

/// The extension module.
#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add_class::<array::PyArray>()?;
    m.add_class::<buffer::HostBuffer>()?;
    m.add_class::<cluster::PyClient>()?;
    m.add_class::<cluster::PyLocalCluster>()?;
    m.add_class::<report::PyReportRecorder>()?;
    m.add_class::<calls::PyValueFuture>()?;
    m.add_function(wrap_pyfunction!(calls::submit_call, m)?)?;
    m.add_function(wrap_pyfunction!(calls::submit_calls, m)?)?;
    m.add_function(wrap_pyfunction!(calls::scatter_object, m)?)?;
    m.add_function(wrap_pyfunction!(calls::wait_first, m)?)?;
    m.add_class::<table::PyContext>()?;
    m.add_class::<table::PyDataFrame>()?;
    m.add_class::<expr::PyExpr>()?;
    m.add_function(wrap_pyfunction!(expr::col, m)?)?;
    m.add_function(wrap_pyfunction!(expr::lit_array, m)?)?;
    m.add_function(wrap_pyfunction!(expr::count_all, m)?)?;
    m.add_function(wrap_pyfunction!(expr::can_cast, m)?)?;
    m.add_function(wrap_pyfunction!(expr::case_when, m)?)?;
    m.add("TaskError", py.get_type::<errors::TaskError>())?;
    m.add("ClusterError", py.get_type::<errors::ClusterError>())?;
    m.add("PYTHON_KERNEL", kernel::PYTHON_KERNEL)?;
    m.add("PYTHON_CALL", calls::PYTHON_CALL)?;
    m.add("PYTHON_PARTITION", calls::PYTHON_PARTITION)?;
    m.add_function(wrap_pyfunction!(run_cli, m)?)?;
    m.add_function(wrap_pyfunction!(parse_bytes, m)?)?;
    m.add_function(wrap_pyfunction!(array::full, m)?)?;
    m.add_function(wrap_pyfunction!(array::blockwise, m)?)?;
    m.add_function(wrap_pyfunction!(array::arange, m)?)?;
    m.add_function(wrap_pyfunction!(array::random, m)?)?;
    m.add_function(wrap_pyfunction!(array::randint, m)?)?;
    m.add_function(wrap_pyfunction!(array::from_numpy, m)?)?;
    m.add_function(wrap_pyfunction!(array::concatenate, m)?)?;
    m.add_function(wrap_pyfunction!(array::stack, m)?)?;
    m.add_function(wrap_pyfunction!(array::where_, m)?)?;
    Ok(())
}
