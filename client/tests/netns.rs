//! A cluster across Linux network namespaces: scheduler, three workers and the client each
//! in a namespace of their own (`scripts/netns.sh`), computing correctly across them.
//!
//! Then one worker's link is cut (`ip link set w1 down`) mid-computation and the
//! computation still completes correctly on the other two. Needs root and iproute2; where
//! namespaces cannot be made the test prints `skipped: <reason>` and passes. The client
//! is this test binary again, run with `ip netns exec` and [`CLIENT_ENV`] set; it talks
//! to the test over its stdin and stdout. Namespaces are named after this process id
//! (concurrent runs do not meet) and removed when the test ends, also on failure.

mod common;
mod tables_support;

use libtest_mimic::{Arguments, Failed, Trial};
use ndarray::{Array1, Array2, Axis};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};
use tessera::Client;
use tessera::array::random;

/// Set (to the scheduler's address) in the client process, which then runs [`client_role`].
const CLIENT_ENV: &str = "TESSERA_NETNS_CLIENT";

/// The TPC-H directory the client process reads (the namespaces share the filesystem).
const TPCH_ENV: &str = "TESSERA_NETNS_TPCH";

/// Workers in the cluster; `w1` is the one whose link is cut.
const WORKERS: usize = 3;

/// Lines of the client process that the test reads start with this.
const REPLY: &str = "netns-client: ";

/// The private subnet of the namespaces (`scripts/netns.sh`).
const SUBNET: &str = "10.213.0.";

/// Longest any step may take before the test fails instead of hanging.
const STEP_TIMEOUT: Duration = Duration::from_secs(150);

fn main() {
    if let Ok(address) = std::env::var(CLIENT_ENV) {
        if let Err(e) = client_role(&address) {
            println!("{REPLY}error {}", e.message().unwrap_or("failed"));
            std::process::exit(1);
        }
        return;
    }
    let args = Arguments::from_args();
    let trials = vec![Trial::test(
        "scheduler_workers_and_client_in_their_own_network_namespaces",
        across_namespaces,
    )];
    libtest_mimic::run(&args, trials).exit();
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/netns.sh")
}

/// Why namespaces cannot be made here, if they cannot.
fn unavailable() -> Option<String> {
    if !cfg!(target_os = "linux") {
        return Some("network namespaces need Linux".into());
    }
    match Command::new("bash").arg(script()).arg("check").output() {
        Ok(out) if out.status.success() => None,
        Ok(out) => Some(
            String::from_utf8_lossy(&out.stdout).trim().to_string()
                + String::from_utf8_lossy(&out.stderr).trim(),
        ),
        Err(e) => Some(format!("cannot run {}: {e}", script().display())),
    }
}

/// The namespaces of one run and the processes inside them; dropping it kills the
/// processes and removes the namespaces, whatever state the test is in.
struct Namespaces {
    id: String,
    children: Vec<Child>,
}

impl Namespaces {
    fn up(workers: usize) -> Result<Namespaces, Failed> {
        let id = format!("p{}", std::process::id());
        // Constructed first, so that a half-made setup is removed too.
        let ns = Namespaces {
            id,
            children: Vec::new(),
        };
        ns.script(&["up", &ns.id, &workers.to_string()])?;
        Ok(ns)
    }

    fn name(&self, node: &str) -> String {
        format!("tsn-{node}-{}", self.id)
    }

    fn script(&self, args: &[&str]) -> Result<String, Failed> {
        let out = Command::new("bash")
            .arg(script())
            .args(args)
            .stderr(Stdio::inherit())
            .output()
            .map_err(|e| format!("netns.sh {args:?}: {e}"))?;
        if !out.status.success() {
            return Err(format!("netns.sh {args:?} failed with {}", out.status).into());
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    }

    fn addr(&self, node: &str) -> Result<String, Failed> {
        self.script(&["addr", &self.id, node])
    }

    /// Start `program args` inside the namespace of `node`; its stdout is read through
    /// the returned [`Lines`] and its stdin is piped. The child dies with this process.
    fn spawn(
        &mut self,
        node: &str,
        program: &Path,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> Result<(Lines, ChildStdin), Failed> {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.name(node)])
            .arg(program)
            .args(args)
            .envs(env.iter().copied())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        if std::env::var_os("RUST_LOG").is_none() {
            cmd.env("RUST_LOG", "warn");
        }
        #[cfg(target_os = "linux")]
        {
            use std::os::unix::process::CommandExt;
            // SAFETY: prctl is async-signal-safe. `ip netns exec` execs the program in
            // place, so the program keeps the parent-death signal: nothing outlives a
            // crashed test.
            unsafe {
                cmd.pre_exec(|| {
                    libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                    Ok(())
                });
            }
        }
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("ip netns exec {node} {}: {e}", program.display()))?;
        let lines = Lines::new(node, child.stdout.take().expect("piped stdout"));
        let stdin = child.stdin.take().expect("piped stdin");
        self.children.push(child);
        Ok((lines, stdin))
    }
}

impl Drop for Namespaces {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
        }
        for child in &mut self.children {
            let _ = child.wait();
        }
        if let Err(e) = self.script(&["down", &self.id]) {
            eprintln!(
                "removing the namespaces of {}: {}",
                self.id,
                e.message().unwrap_or("failed")
            );
        }
    }
}

/// A child's stdout, line by line, with a timeout.
struct Lines {
    node: String,
    rx: mpsc::Receiver<String>,
}

impl Lines {
    fn new(node: &str, stdout: std::process::ChildStdout) -> Lines {
        let (tx, rx) = mpsc::channel();
        let name = node.to_string();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                eprintln!("[{name}] {line}");
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Lines {
            node: node.to_string(),
            rx,
        }
    }

    /// The rest of the first line that starts with `prefix`.
    fn expect(&self, prefix: &str, timeout: Duration) -> Result<String, Failed> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left) {
                Ok(line) => {
                    if let Some(rest) = line.strip_prefix(prefix) {
                        return Ok(rest.trim().to_string());
                    }
                    if let Some(e) = line.strip_prefix(&format!("{REPLY}error ")) {
                        return Err(format!("{}: {e}", self.node).into());
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    return Err(format!(
                        "{}: no line starting {prefix:?} within {timeout:?}",
                        self.node
                    )
                    .into());
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    return Err(format!(
                        "{}: exited before printing a line starting {prefix:?}",
                        self.node
                    )
                    .into());
                }
            }
        }
    }
}

fn across_namespaces() -> Result<(), Failed> {
    if let Some(reason) = unavailable() {
        println!("skipped: {reason}");
        return Ok(());
    }
    let tpch = tables_support::tpch_data(0.01, 3);
    let tessera = Path::new(env!("CARGO_BIN_EXE_tessera"));
    let mut ns = Namespaces::up(WORKERS)?;

    let sched_ip = ns.addr("sched")?;
    let (sched_out, _sched_in) = ns.spawn(
        "sched",
        tessera,
        &[
            "scheduler",
            "--host",
            &sched_ip,
            "--port",
            "0",
            "--worker-timeout",
            "2s",
            "--dashboard-address",
            "off",
        ],
        &[],
    )?;
    let address = sched_out.expect("tessera scheduler listening on ", STEP_TIMEOUT)?;
    assert!(address.starts_with(SUBNET), "scheduler on {address}");
    let mut keep = vec![sched_out];
    for i in 1..=WORKERS {
        let node = format!("w{i}");
        let ip = ns.addr(&node)?;
        let (out, _) = ns.spawn(
            &node,
            tessera,
            &[
                "worker",
                &address,
                "--host",
                &ip,
                "--port",
                "0",
                "--threads",
                "1",
                "--memory-limit",
                "1GiB",
            ],
            &[],
        )?;
        let data = out.expect("tessera worker ready on ", STEP_TIMEOUT)?;
        assert!(data.starts_with(&ip), "{node} serves on {data}, not {ip}");
        keep.push(out);
    }

    let me = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
    let (client, mut client_in) = ns.spawn(
        "client",
        &me,
        &[],
        &[(CLIENT_ENV, &address), (TPCH_ENV, tpch.to_str().unwrap())],
    )?;
    let workers = client.expect(&format!("{REPLY}workers "), STEP_TIMEOUT)?;
    println!("workers seen by the client: {workers}");
    let phase1 = client.expect(&format!("{REPLY}phase1 ok:"), STEP_TIMEOUT)?;
    println!("across namespaces: {phase1}");

    // Phase 2: computations in flight; cut w1 off the bridge under them.
    let submitted = client.expect(&format!("{REPLY}submitted "), STEP_TIMEOUT)?;
    ns.script(&["cut", &ns.id, "w1"])?;
    let cut_at = Instant::now();
    writeln!(client_in, "cut").map_err(|e| format!("telling the client: {e}"))?;
    client_in.flush().ok();
    println!("cut w1's link with {submitted}");
    let phase2 = client.expect(&format!("{REPLY}phase2 ok:"), STEP_TIMEOUT)?;
    println!(
        "after the cut: {phase2} ({:.1}s after the cut)",
        cut_at.elapsed().as_secs_f64()
    );
    drop(ns);
    drop(keep);
    Ok(())
}

/// The client process, inside the client namespace: computes, checks and reports on
/// stdout; waits for the test's `cut` on stdin between submitting and collecting.
fn client_role(address: &str) -> Result<(), Failed> {
    let client = Client::connect(address)?;
    let deadline = Instant::now() + Duration::from_secs(60);
    let info = loop {
        let info = client.cluster_info()?;
        if info.workers.len() == WORKERS {
            break info;
        }
        if Instant::now() > deadline {
            return Err(format!("{} workers registered", info.workers.len()).into());
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let addresses: Vec<String> = info
        .workers
        .iter()
        .map(|w| w.registration.data_address.clone())
        .collect();
    // Everything this client talks to is inside the namespaces' subnet.
    for a in addresses
        .iter()
        .chain(std::iter::once(&address.to_string()))
    {
        if !a.starts_with(SUBNET) {
            return Err(format!("{a} is outside {SUBNET}0/24").into());
        }
    }
    say(&format!("workers {}", addresses.join(" ")));

    // Phase 1: the array example and a TPC-H join across the namespaces.
    let x = random::<f64>(&[800, 800], &[200, 200], 21);
    let z = (&x + &x.t()).mean_axis(0);
    let v: Array1<f64> = client.compute(&z)?;
    let xs: Array2<f64> = client.compute(&x)?;
    let reference = (&xs + &xs.t()).mean_axis(Axis(0)).unwrap();
    let worst = common::max_abs_diff(&v, &reference);
    if worst > 1e-12 {
        return Err(format!("array example differs from ndarray by {worst}").into());
    }
    let dir = PathBuf::from(std::env::var(TPCH_ENV).map_err(|_| "no TPC-H directory")?);
    let ctx = tessera::table::Context::with_partitions(&client, WORKERS)?;
    for t in tables_support::TABLES {
        ctx.register_parquet(t, dir.join(t).to_str().unwrap())?;
    }
    let sql = tables_support::tpch_query(3);
    let got = ctx.sql(&sql)?.collect()?;
    let runtime = tokio::runtime::Runtime::new()?;
    let want = runtime.block_on(async {
        let reference = tables_support::reference_session(&dir).await;
        reference.sql(&sql).await?.collect().await
    })?;
    tables_support::compare(&got, &want, true).map_err(|d| format!("TPC-H q3: {d}"))?;
    say(&format!(
        "phase1 ok: array example checksum {:.6} (max difference {worst:e}), TPC-H q3 {} rows match DataFusion",
        v.sum(),
        tables_support::rows(&got).len()
    ));

    // Phase 2: several computations in flight when w1's link goes down.
    // The inputs are persisted first, so their chunks live on every worker (w1's must be
    // recomputed from lineage after the cut) and the computations fetch across workers.
    let seeds = [31u64, 32, 33, 34];
    let arrays: Vec<_> = seeds
        .iter()
        .map(|&s| random::<f64>(&[2000, 2000], &[100, 100], s))
        .collect();
    let persisted = arrays
        .iter()
        .map(|x| client.persist(x))
        .collect::<tessera::Result<Vec<_>>>()?;
    let futures = persisted
        .iter()
        .map(|x| client.submit(&(x + &x.t()).mean_axis(0)))
        .collect::<tessera::Result<Vec<_>>>()?;
    say(&format!("submitted {} computations", futures.len()));
    let mut line = String::new();
    std::io::stdin().read_line(&mut line)?;
    if line.trim() != "cut" {
        return Err(format!("expected `cut` from the test, got {line:?}").into());
    }
    let running = futures.iter().filter(|f| !f.done()).count();
    let mut results = Vec::new();
    for f in futures {
        results.push(f.result::<f64, ndarray::Ix1>()?);
    }
    let mut worst = 0.0f64;
    for (x, v) in arrays.iter().zip(&results) {
        let xs: Array2<f64> = client.compute(x)?;
        let reference = (&xs + &xs.t()).mean_axis(Axis(0)).unwrap();
        worst = worst.max(common::max_abs_diff(v, &reference));
    }
    if worst > 1e-12 {
        return Err(format!("after the cut, results differ from ndarray by {worst}").into());
    }
    if running == 0 {
        return Err("every computation had finished before the cut: make them bigger".into());
    }
    // The scheduler has declared w1 dead (2 s without heartbeats) and only it.
    let w1 = format!("{SUBNET}11:");
    let deadline = Instant::now() + Duration::from_secs(30);
    let info = loop {
        let info = client.cluster_info()?;
        let listed = info
            .workers
            .iter()
            .any(|w| w.registration.data_address.starts_with(&w1));
        if !listed && info.workers_lost >= 1 {
            break info;
        }
        if Instant::now() > deadline {
            return Err(format!(
                "w1 still listed or not counted lost 30 s after the computations: {} workers, {} lost",
                info.workers.len(),
                info.workers_lost
            )
            .into());
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    if info.workers.len() != WORKERS - 1 || info.workers_lost != 1 {
        return Err(format!(
            "after the cut: {} workers and {} lost, expected {} and 1",
            info.workers.len(),
            info.workers_lost,
            WORKERS - 1
        )
        .into());
    }
    say(&format!(
        "phase2 ok: {running} of {} computations were running at the cut, all right \
         (max difference {worst:e}); {} workers left, {} lost",
        results.len(),
        info.workers.len(),
        info.workers_lost,
    ));
    Ok(())
}

fn say(line: &str) {
    println!("{REPLY}{line}");
    let _ = std::io::stdout().flush();
}
