//! The Python issue's benchmarks beside Dask from the same run: 20,000 `client.map` calls
//! of a trivial Python function, and the README example `(x + x.T).mean(axis=0)`, each
//! on a 2-worker x 1-thread LocalCluster with the same script (`benches/python/python_api.py`,
//! only the import differs). Tessera's side runs in `$CARGO_TARGET_DIR/python-venv`, where
//! the test command installs the package. `PY_SUBMIT_N` and `PY_EXAMPLE_N` set sizes.

use std::path::PathBuf;
use tessera_benches::{dask_python, env_usize, report, run_python_peer};

fn main() {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"));
    let tessera_python = std::env::var_os("TESSERA_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| target.join("python-venv/bin/python"));
    let dask = dask_python();
    for (workload, n) in [
        ("submit", env_usize("PY_SUBMIT_N", 20_000)),
        ("example", env_usize("PY_EXAMPLE_N", 20_000)),
    ] {
        println!("== python {workload}: N = {n}, 2 workers x 1 thread");
        let args = |engine: &str| vec![engine.to_string(), workload.to_string(), n.to_string()];
        let Some(ours) = run_python_peer(&tessera_python, "python_api.py", &args("tessera")) else {
            println!(
                "(tessera's Python side did not run: install the package into {})",
                tessera_python.display()
            );
            continue;
        };
        let peer = dask
            .as_ref()
            .and_then(|py| run_python_peer(py, "python_api.py", &args("dask")));
        report(
            &format!("python {workload} vs dask (2 workers x 1 thread)"),
            ours,
            "dask",
            peer,
        );
    }
}
