//! Shared helpers for the benchmarks: medians, printed comparisons, and running the
//! Python peers (Dask) from a virtualenv the benchmarks create for themselves.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

/// The peers' setting: a LocalCluster of 2 workers x 1 thread, with workers started from
/// the benchmark binary itself (which must call `tessera::entry_hook()` first).
pub fn two_worker_cluster() -> tessera::Result<tessera::LocalCluster> {
    tessera::LocalCluster::builder()
        .workers(2)
        .threads_per_worker(1)
        .current_exe()
        .build()
}

/// A size from the environment variable `name`, or `default`.
pub fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Median of some durations.
pub fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

/// Run `f` `runs` times and return the median wall time and the last result.
pub fn time_runs<T>(runs: usize, mut f: impl FnMut() -> T) -> (Duration, T) {
    let mut times = Vec::with_capacity(runs);
    let mut last = None;
    for _ in 0..runs {
        let t = Instant::now();
        last = Some(f());
        times.push(t.elapsed());
    }
    (median(times), last.expect("at least one run"))
}

/// Print one comparison line: `name: tessera X, peer Y, ratio`.
pub fn report(what: &str, tessera: Duration, peer_name: &str, peer: Option<Duration>) {
    match peer {
        Some(p) => println!(
            "{what}: tessera {:.3}s, {peer_name} {:.3}s -> tessera is {:.2}x {}",
            tessera.as_secs_f64(),
            p.as_secs_f64(),
            if tessera <= p {
                p.as_secs_f64() / tessera.as_secs_f64()
            } else {
                tessera.as_secs_f64() / p.as_secs_f64()
            },
            if tessera <= p { "faster" } else { "slower" }
        ),
        None => println!(
            "{what}: tessera {:.3}s, {peer_name}: not measured",
            tessera.as_secs_f64()
        ),
    }
}

/// The Python interpreter of the benchmark virtualenv (`target/bench-venv`), created with
/// Dask installed on first use; `None` (with the reason printed) when that fails.
/// `TESSERA_BENCH_PYTHON` names another interpreter; `TESSERA_BENCH_NO_DASK=1` skips Dask.
pub fn dask_python() -> Option<PathBuf> {
    if std::env::var_os("TESSERA_BENCH_NO_DASK").is_some() {
        println!("(Dask skipped: TESSERA_BENCH_NO_DASK is set)");
        return None;
    }
    if let Some(p) = std::env::var_os("TESSERA_BENCH_PYTHON") {
        return Some(PathBuf::from(p));
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"));
    let venv = target.join("bench-venv");
    let python = venv.join("bin/python");
    let has_dask = |p: &PathBuf| {
        Command::new(p)
            .args([
                "-c",
                "import dask.array, dask.dataframe, distributed, numpy, pyarrow",
            ])
            .status()
            .is_ok_and(|s| s.success())
    };
    if python.exists() && has_dask(&python) {
        return Some(python);
    }
    println!(
        "(creating {} with dask[distributed] for the comparison)",
        venv.display()
    );
    let ok = Command::new("python3")
        .args(["-m", "venv"])
        .arg(&venv)
        .status()
        .is_ok_and(|s| s.success())
        && Command::new(&python)
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "dask[distributed,array,dataframe]",
                "numpy",
                "pyarrow",
            ])
            .status()
            .is_ok_and(|s| s.success());
    if ok && has_dask(&python) {
        Some(python)
    } else {
        println!("(Dask unavailable: could not build the virtualenv)");
        None
    }
}

/// Run a Python peer script under `benches/python/` and read its `seconds: X` line.
pub fn run_python_peer(python: &PathBuf, script: &str, args: &[String]) -> Option<Duration> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("python")
        .join(script);
    let out = Command::new(python).arg(&path).args(args).output().ok()?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        println!(
            "({script} failed: {})",
            String::from_utf8_lossy(&out.stderr)
                .lines()
                .last()
                .unwrap_or("")
        );
        return None;
    }
    for line in stdout.lines() {
        if let Some(rest) = line.strip_prefix("seconds:") {
            return rest.trim().parse::<f64>().ok().map(Duration::from_secs_f64);
        }
        println!("  [{script}] {line}");
    }
    None
}

/// Peak resident memory (`VmHWM`, bytes) of each process in `pids`; 0 where unreadable.
pub fn peak_rss(pids: &[u32]) -> Vec<u64> {
    pids.iter()
        .map(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/status"))
                .ok()
                .and_then(|s| {
                    s.lines()
                        .find_map(|l| l.strip_prefix("VmHWM:"))
                        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
                })
                .map_or(0, |kb| kb * 1024)
        })
        .collect()
}
