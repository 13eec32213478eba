//! Scheduler and worker processes started by hand from the `tessera` binary, for tests that
//! kill, freeze or restart the scheduler; each is SIGKILLed when its handle is dropped.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A child process with its stderr lines collected (and echoed to the test's stderr).
pub struct Proc {
    child: Child,
    stderr: Arc<Mutex<Vec<String>>>,
}

impl Proc {
    /// Start `tessera args...`; stdout is read for `ready` (a line prefix) when given,
    /// and what follows the prefix on that line is returned.
    pub fn start(args: &[&str], ready: Option<&str>) -> (Proc, String) {
        let mut child = Command::new(env!("CARGO_BIN_EXE_tessera"))
            .args(args)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start tessera");
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let lines = stderr.clone();
        let err = child.stderr.take().unwrap();
        let name = args.first().copied().unwrap_or("tessera").to_string();
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                eprintln!("[{name}] {line}");
                lines.lock().unwrap().push(line);
            }
        });
        let out = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let prefix = ready.map(str::to_string);
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if let Some(rest) = prefix.as_deref().and_then(|p| line.strip_prefix(p)) {
                    let _ = tx.send(rest.trim().to_string());
                }
            }
        });
        let found = match ready {
            Some(_) => rx
                .recv_timeout(Duration::from_secs(60))
                .expect("the process announced itself"),
            None => String::new(),
        };
        (Proc { child, stderr }, found)
    }

    /// Process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Send `signal` (SIGSTOP, SIGCONT, ...).
    pub fn signal(&self, signal: i32) {
        // SAFETY: signalling our own child process.
        unsafe { libc::kill(self.child.id() as i32, signal) };
    }

    /// SIGKILL and reap.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Whether a stderr line so far contains `text`.
    pub fn stderr_has(&self, text: &str) -> bool {
        self.stderr.lock().unwrap().iter().any(|l| l.contains(text))
    }

    /// Wait up to `within` for the process to exit: its status, `None` if it still runs.
    pub fn wait_exit(&mut self, within: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + within;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A free TCP port on 127.0.0.1 (bound, then released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A scheduler on 127.0.0.1:`port` with no dashboard, plus `extra` flags; its address.
pub fn scheduler(port: u16, extra: &[&str]) -> (Proc, String) {
    let port = port.to_string();
    let mut args = vec![
        "scheduler",
        "--host",
        "127.0.0.1",
        "--port",
        &port,
        "--dashboard-address",
        "off",
    ];
    args.extend_from_slice(extra);
    Proc::start(&args, Some("tessera scheduler listening on "))
}

/// A one-thread worker joining `address`, plus `extra` flags, once it has registered.
pub fn worker(address: &str, extra: &[&str]) -> Proc {
    let mut args = vec![
        "worker",
        address,
        "--host",
        "127.0.0.1",
        "--threads",
        "1",
        "--memory-limit",
        "1GiB",
    ];
    args.extend_from_slice(extra);
    Proc::start(&args, Some("tessera worker ready on ")).0
}

/// Poll `done` every 50 ms until it holds; panics naming `what` after `within`. Returns
/// how long it took.
#[track_caller]
pub fn wait_for(within: Duration, what: &str, mut done: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < within, "{what}: not within {within:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
    start.elapsed()
}
