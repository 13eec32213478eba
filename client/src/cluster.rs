//! `LocalCluster`: a scheduler and N workers as real child processes on 127.0.0.1,
//! started on free ports, waited for, and stopped when dropped (also on panic).

use crate::client::Client;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tessera_core::security::{Security, SecurityFiles};
use tessera_core::{Error, Result};

/// Environment variable that makes a program built with [`crate::entry_hook`] act as a
/// scheduler or worker process instead of running its own `main`.
pub const ENTRY_ENV: &str = "TESSERA_ENTRY";

/// Settings for a [`LocalCluster`].
#[derive(Clone, Debug)]
pub struct LocalClusterBuilder {
    workers: usize,
    threads_per_worker: usize,
    memory_limit: Option<u64>,
    executable: Option<PathBuf>,
    use_current_exe: bool,
    worker_timeout: Duration,
    startup_timeout: Duration,
    /// Arguments placed before the subcommand (`-m tessera` for a Python launcher).
    launcher_args: Vec<String>,
    /// The scheduler's `--dashboard-address`.
    dashboard_address: String,
    /// Whether workers serve `/metrics` (on a free port).
    worker_metrics: bool,
    /// Credentials files handed to every process (and used by [`LocalCluster::client`]).
    security_files: SecurityFiles,
    /// Generate a fresh CA, certificate and token for this cluster.
    secure: bool,
    /// The scheduler's `--allowed-failures` (its default when `None`).
    allowed_failures: Option<u32>,
}

impl Default for LocalClusterBuilder {
    fn default() -> Self {
        LocalClusterBuilder {
            workers: 2,
            threads_per_worker: 1,
            memory_limit: None,
            executable: None,
            use_current_exe: false,
            worker_timeout: Duration::from_secs(10),
            startup_timeout: Duration::from_secs(60),
            launcher_args: Vec::new(),
            dashboard_address: "127.0.0.1:0".to_string(),
            worker_metrics: true,
            security_files: SecurityFiles::default(),
            secure: false,
            allowed_failures: None,
        }
    }
}

impl LocalClusterBuilder {
    /// Number of worker processes (default 2).
    pub fn workers(mut self, n: usize) -> Self {
        self.workers = n;
        self
    }
    /// Kernel threads per worker (default 1).
    pub fn threads_per_worker(mut self, n: usize) -> Self {
        self.threads_per_worker = n;
        self
    }
    /// Memory limit per worker in bytes (default: machine memory divided among workers).
    pub fn memory_limit(mut self, bytes: u64) -> Self {
        self.memory_limit = Some(bytes);
        self
    }
    /// Run processes from this `tessera` binary (default: `$TESSERA_BIN`, then a `tessera`
    /// next to the current executable or its parent folder, then `PATH`).
    pub fn executable(mut self, path: impl Into<PathBuf>) -> Self {
        self.executable = Some(path.into());
        self
    }
    /// Run processes from the current executable, which must call [`crate::entry_hook`]
    /// first thing in `main` (so workers know the kernels it registers).
    pub fn current_exe(mut self) -> Self {
        self.use_current_exe = true;
        self
    }
    /// Run processes as `program args... <subcommand> ...`, e.g. `python -m tessera worker
    /// ...` so that workers host a Python interpreter for Python kernels.
    pub fn launcher(mut self, program: impl Into<PathBuf>, args: &[&str]) -> Self {
        self.executable = Some(program.into());
        self.use_current_exe = false;
        self.launcher_args = args.iter().map(|a| a.to_string()).collect();
        self
    }
    /// How long a silent worker is given before the scheduler declares it dead.
    pub fn worker_timeout(mut self, t: Duration) -> Self {
        self.worker_timeout = t;
        self
    }

    /// Err a task once it has been running on this many workers that died (default 3;
    /// at least 1).
    pub fn allowed_failures(mut self, n: u32) -> Self {
        self.allowed_failures = Some(n);
        self
    }

    /// Where the scheduler serves its dashboard (default `127.0.0.1:0`, a free port;
    /// `off` for none). [`Client::dashboard_link`] tells the bound address.
    pub fn dashboard_address(mut self, address: impl Into<String>) -> Self {
        self.dashboard_address = address.into();
        self
    }

    /// Whether each worker serves Prometheus `/metrics` on a free port (default true);
    /// the addresses are in `ClusterInfo` (`registration.metrics_address`).
    pub fn worker_metrics(mut self, on: bool) -> Self {
        self.worker_metrics = on;
        self
    }

    /// Run every process with these credentials (`--token-file`, `--tls-*`); clients
    /// from [`LocalCluster::client`] use them too.
    pub fn security_files(mut self, files: SecurityFiles) -> Self {
        self.security_files = files;
        self
    }

    /// Protect the cluster with credentials made for it: a fresh CA and certificate
    /// (mutual TLS on every endpoint) and a random token, in a directory readable only by
    /// this user that is removed when the cluster stops.
    pub fn secure(mut self, on: bool) -> Self {
        self.secure = on;
        self
    }

    /// Start the cluster and wait until every worker has registered.
    pub fn build(mut self) -> Result<LocalCluster> {
        if self.workers == 0 || self.threads_per_worker == 0 {
            return Err(Error::other(
                "a LocalCluster needs at least one worker with one thread",
            ));
        }
        let credentials_dir = if self.secure {
            let dir = private_temp_dir()?;
            self.security_files = crate::certs::write_dir(&dir, &[])?;
            Some(dir)
        } else {
            None
        };
        let security = self.security_files.load()?;
        if self.allowed_failures == Some(0) {
            return Err(Error::other("allowed_failures must be at least 1"));
        }
        let (program, entry_env) = if self.use_current_exe {
            let exe =
                std::env::current_exe().map_err(|e| Error::other(format!("current_exe: {e}")))?;
            (exe, true)
        } else {
            (find_tessera_binary(self.executable.clone())?, false)
        };
        let memory_limit = self
            .memory_limit
            .unwrap_or_else(|| total_memory() / self.workers as u64);
        let mut cluster = LocalCluster {
            program,
            launcher_args: self.launcher_args,
            entry_env,
            scheduler: None,
            workers: Vec::new(),
            address: String::new(),
            threads_per_worker: self.threads_per_worker,
            memory_limit,
            startup_timeout: self.startup_timeout,
            worker_metrics: self.worker_metrics,
            security_files: self.security_files,
            security,
            credentials_dir,
        };
        let timeout = format!("{}ms", self.worker_timeout.as_millis());
        let allowed = self.allowed_failures.map(|n| n.to_string());
        let mut args = vec![
            "scheduler",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--worker-timeout",
            &timeout,
            "--dashboard-address",
            &self.dashboard_address,
        ];
        if let Some(n) = &allowed {
            args.extend(["--allowed-failures", n.as_str()]);
        }
        let mut scheduler = cluster.spawn(&args)?;
        let line = read_ready_line(
            &mut scheduler,
            "tessera scheduler listening on ",
            self.startup_timeout,
        );
        cluster.scheduler = Some(scheduler);
        cluster.address = line?;
        for _ in 0..self.workers {
            cluster.add_worker()?;
        }
        Ok(cluster)
    }
}

/// A new directory under the OS temp directory that only this user can read.
fn private_temp_dir() -> Result<PathBuf> {
    use std::os::unix::fs::DirBuilderExt;
    let mut stamp = [0u8; 8];
    getrandom::fill(&mut stamp).map_err(|e| Error::other(format!("no random source: {e}")))?;
    let dir = std::env::temp_dir().join(format!(
        "tessera-credentials-{}-{}",
        std::process::id(),
        u64::from_le_bytes(stamp)
    ));
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(&dir)
        .map_err(|e| Error::other(format!("cannot create {}: {e}", dir.display())))?;
    Ok(dir)
}

/// A scheduler and workers running as child processes of this one.
pub struct LocalCluster {
    program: PathBuf,
    launcher_args: Vec<String>,
    entry_env: bool,
    scheduler: Option<Child>,
    workers: Vec<Child>,
    address: String,
    threads_per_worker: usize,
    memory_limit: u64,
    startup_timeout: Duration,
    worker_metrics: bool,
    security_files: SecurityFiles,
    security: Security,
    /// Generated credentials, removed when the cluster stops.
    credentials_dir: Option<PathBuf>,
}

impl LocalCluster {
    /// Settings with defaults (2 workers, 1 thread each).
    pub fn builder() -> LocalClusterBuilder {
        LocalClusterBuilder::default()
    }

    /// The scheduler's address (`127.0.0.1:port`).
    pub fn scheduler_address(&self) -> &str {
        &self.address
    }

    /// `http://host:port/` of the scheduler's dashboard, if it serves one.
    pub fn dashboard_link(&self) -> Result<Option<String>> {
        self.client()?.dashboard_link()
    }

    /// A client connected to this cluster (with its credentials, if it has any).
    pub fn client(&self) -> Result<Client> {
        Client::connect_with(&self.address, self.security.clone())
    }

    /// The credentials the cluster's processes were started with.
    pub fn security(&self) -> &Security {
        &self.security
    }

    /// The credentials files the cluster's processes were started with (generated ones
    /// for a [`LocalClusterBuilder::secure`] cluster), to hand to other clients.
    pub fn security_files(&self) -> &SecurityFiles {
        &self.security_files
    }

    /// Process ids of the worker processes, in start order.
    pub fn worker_pids(&self) -> Vec<u32> {
        self.workers.iter().map(|w| w.id()).collect()
    }

    /// Process id of the scheduler process, while it runs.
    pub fn scheduler_pid(&self) -> Option<u32> {
        self.scheduler.as_ref().map(|s| s.id())
    }

    /// Start one more worker and wait until it has registered.
    pub fn add_worker(&mut self) -> Result<()> {
        let threads = self.threads_per_worker.to_string();
        let memory = self.memory_limit.to_string();
        let address = self.address.clone();
        let mut args: Vec<&str> = vec![
            "worker",
            &address,
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--threads",
            &threads,
            "--memory-limit",
            &memory,
        ];
        if self.worker_metrics {
            args.extend(["--metrics-address", "127.0.0.1:0"]);
        }
        let mut child = self.spawn(&args)?;
        let ready = read_ready_line(&mut child, "tessera worker ready on ", self.startup_timeout);
        self.workers.push(child);
        ready.map(|_| ())
    }

    /// Kill worker `index` (in start order) with SIGKILL, as a crash would.
    pub fn kill_worker(&mut self, index: usize) -> Result<()> {
        let child = self
            .workers
            .get_mut(index)
            .ok_or_else(|| Error::other(format!("no worker {index}")))?;
        child
            .kill()
            .map_err(|e| Error::other(format!("kill worker {index}: {e}")))?;
        let _ = child.wait();
        Ok(())
    }

    fn spawn(&self, args: &[&str]) -> Result<Child> {
        let mut cmd = Command::new(&self.program);
        cmd.args(&self.launcher_args)
            .args(args)
            .args(self.security_files.to_args())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        if self.entry_env {
            cmd.env(ENTRY_ENV, "1");
        }
        if std::env::var_os("RUST_LOG").is_none() {
            // Children report problems, not routine joins, unless the user asks.
            cmd.env("RUST_LOG", "warn");
        }
        #[cfg(target_os = "linux")]
        {
            use std::os::unix::process::CommandExt;
            // SAFETY: prctl and getppid are async-signal-safe. The child gets SIGKILL when
            // the thread that forked it exits; children are forked by a thread that lives
            // as long as this process (see `spawn_child`), so a crashed or killed parent
            // leaves no orphans, and a parent that died before prctl is caught by getppid.
            let parent = std::process::id() as libc::pid_t;
            unsafe {
                cmd.pre_exec(move || {
                    libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                    if libc::getppid() != parent {
                        libc::_exit(1);
                    }
                    Ok(())
                });
            }
        }
        let description = format!(
            "{} {} {}",
            self.program.display(),
            self.launcher_args.join(" "),
            args.join(" ")
        );
        spawn_child(cmd).map_err(|e| Error::other(format!("cannot start {description}: {e}")))
    }

    /// Stop every process now.
    pub fn shutdown(&mut self) {
        // Signal everyone first, then reap, so nobody lives to log the others' deaths.
        for child in self.scheduler.iter_mut().chain(self.workers.iter_mut()) {
            let _ = child.kill();
        }
        for child in self.scheduler.iter_mut().chain(self.workers.iter_mut()) {
            let _ = child.wait();
        }
        // Killed workers could not remove their spill directories (under the temp
        // directory they inherited): remove them, and any other dead worker's, now.
        if !self.workers.is_empty() {
            tessera_worker::spill::remove_stale_dirs(&std::env::temp_dir());
        }
        self.workers.clear();
        self.scheduler = None;
        if let Some(dir) = self.credentials_dir.take() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

impl Drop for LocalCluster {
    fn drop(&mut self) {
        self.shutdown();
    }
}

type SpawnRequest = (Command, std::sync::mpsc::Sender<std::io::Result<Child>>);

/// Fork `cmd` from a dedicated thread that lives as long as the process. Linux delivers
/// `PR_SET_PDEATHSIG` when the forking *thread* exits, so children forked from a
/// short-lived thread (a `spawn_blocking` worker, a scoped thread) would be killed early.
fn spawn_child(mut cmd: Command) -> std::io::Result<Child> {
    static SPAWNER: std::sync::OnceLock<
        Option<std::sync::Mutex<std::sync::mpsc::Sender<SpawnRequest>>>,
    > = std::sync::OnceLock::new();
    let spawner = SPAWNER.get_or_init(|| {
        let (tx, rx) = std::sync::mpsc::channel::<SpawnRequest>();
        std::thread::Builder::new()
            .name("tessera-spawner".into())
            .spawn(move || {
                for (mut cmd, reply) in rx {
                    let _ = reply.send(cmd.spawn());
                }
            })
            .ok()
            .map(|_| std::sync::Mutex::new(tx))
    });
    let Some(spawner) = spawner else {
        return cmd.spawn();
    };
    let (reply, answer) = std::sync::mpsc::channel();
    spawner
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .send((cmd, reply))
        .map_err(|_| std::io::Error::other("the spawner thread is gone"))?;
    answer
        .recv()
        .map_err(|_| std::io::Error::other("the spawner thread is gone"))?
}

/// Wait for the child's ready line (`prefix` + address) on stdout, then keep draining
/// its stdout to our stderr in the background so it never blocks on a full pipe.
fn read_ready_line(child: &mut Child, prefix: &str, timeout: Duration) -> Result<String> {
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| Error::other("child has no stdout"))?;
    let (tx, rx) = std::sync::mpsc::channel();
    let prefix_owned = prefix.to_string();
    std::thread::spawn(move || {
        let mut lines = BufReader::new(stdout).lines();
        let mut sent = false;
        for line in lines.by_ref() {
            let Ok(line) = line else { break };
            if !sent && let Some(rest) = line.strip_prefix(&prefix_owned) {
                let _ = tx.send(rest.trim().to_string());
                sent = true;
            } else {
                eprintln!("{line}");
            }
        }
    });
    let deadline = Instant::now() + timeout;
    loop {
        match rx.recv_timeout(Duration::from_millis(50)) {
            Ok(address) => return Ok(address),
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                if let Ok(Some(status)) = child.try_wait() {
                    return Err(Error::Cluster(format!(
                        "process exited with {status} before it was ready"
                    )));
                }
                if Instant::now() > deadline {
                    let _ = child.kill();
                    return Err(Error::Cluster(format!(
                        "process not ready after {timeout:?}"
                    )));
                }
            }
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                let status = child.wait().map(|s| s.to_string()).unwrap_or_default();
                return Err(Error::Cluster(format!(
                    "process exited ({status}) before it was ready"
                )));
            }
        }
    }
}

/// Locate the stock `tessera` binary.
fn find_tessera_binary(explicit: Option<PathBuf>) -> Result<PathBuf> {
    if let Some(p) = explicit {
        return Ok(p);
    }
    if let Some(p) = std::env::var_os("TESSERA_BIN") {
        return Ok(PathBuf::from(p));
    }
    let name = format!("tessera{}", std::env::consts::EXE_SUFFIX);
    if let Ok(exe) = std::env::current_exe() {
        if exe.file_name().is_some_and(|f| f == name.as_str()) {
            return Ok(exe);
        }
        // target/<profile>/examples/x or target/<profile>/deps/x -> target/<profile>/tessera
        for dir in exe.ancestors().skip(1).take(3) {
            let candidate = dir.join(&name);
            if candidate.is_file() {
                return Ok(candidate);
            }
        }
    }
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            let candidate = dir.join(&name);
            if candidate.is_file() {
                return Ok(candidate);
            }
        }
    }
    Err(Error::other(
        "cannot find the `tessera` binary: build it (cargo build -p tessera), set TESSERA_BIN, \
         or use LocalCluster::builder().current_exe() with tessera::entry_hook()",
    ))
}

/// Physical memory of the machine in bytes (8 GiB when unknown).
pub fn total_memory() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map(|kb| kb * 1024)
        .unwrap_or(8 << 30)
}
