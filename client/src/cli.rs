//! The `tessera` command line: `scheduler`, `worker`, `local` and `demo`.
//! Also what a user's program runs as when LocalCluster starts it as a worker.

use crate::cluster::LocalCluster;
use clap::{Parser, Subcommand};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;
use tessera_core::security::SecurityFiles;
use tessera_core::{Error, Result};

/// Tessera: chunked arrays on a multi-process cluster.
#[derive(Parser, Debug)]
#[command(name = "tessera", version, about)]
pub struct Cli {
    /// Log format on stderr: human-readable text, or one JSON object per line.
    #[arg(long, global = true, value_enum, default_value_t = crate::logging::LogFormat::Text)]
    pub log_format: crate::logging::LogFormat,
    /// What to run.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run a scheduler.
    Scheduler {
        /// Interface to listen on.
        #[arg(long, default_value = "0.0.0.0")]
        host: IpAddr,
        /// Port (0 picks a free one).
        #[arg(long, default_value_t = 8786)]
        port: u16,
        /// Declare a worker dead after this long without a heartbeat (e.g. 10s, 500ms).
        #[arg(long, default_value = "10s", value_parser = parse_duration)]
        worker_timeout: Duration,
        /// Err a task once it has been running on this many workers that died (a task
        /// that kills its workers must not take down the whole cluster).
        #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
        allowed_failures: u32,
        /// Address of the dashboard, JSON API and /metrics (port 0 picks a free one;
        /// `off` serves none).
        #[arg(long, default_value = "127.0.0.1:8787", value_parser = parse_optional_addr)]
        dashboard_address: OptionalAddr,
        /// Token and TLS every call must satisfy.
        #[command(flatten)]
        security: SecurityArgs,
    },
    /// Run a worker that joins the scheduler at ADDRESS (host:port).
    Worker {
        /// Scheduler address.
        address: String,
        /// Kernel threads (default: all cores).
        #[arg(long)]
        threads: Option<usize>,
        /// Memory limit, e.g. 4GiB, 512MiB or bytes (default: all memory).
        #[arg(long, value_parser = parse_bytes)]
        memory_limit: Option<u64>,
        /// Interface for the data service.
        #[arg(long, default_value = "0.0.0.0")]
        host: IpAddr,
        /// Port for the data service (0 picks a free one).
        #[arg(long, default_value_t = 0)]
        port: u16,
        /// Host name or IP others use to reach this worker (default: the host, or
        /// this machine's address as seen from the scheduler connection).
        #[arg(long)]
        advertise_host: Option<String>,
        /// Name shown in cluster listings.
        #[arg(long)]
        name: Option<String>,
        /// Serve Prometheus /metrics on this address (port 0 picks a free one); off
        /// unless given.
        #[arg(long)]
        metrics_address: Option<SocketAddr>,
        /// Directory for spill files (default: the OS temp directory).
        #[arg(long)]
        spill_dir: Option<std::path::PathBuf>,
        /// Fraction of the memory limit that stored results may take in memory before
        /// the least recently used are spilled to disk.
        #[arg(long, default_value_t = tessera_worker::session::DEFAULT_MEMORY_TARGET,
              value_parser = parse_fraction)]
        memory_target: f64,
        /// Fraction of the memory limit of resident memory past which no new task
        /// starts until memory falls (everything stored is spilled first).
        #[arg(long, default_value_t = tessera_worker::memory::DEFAULT_MEMORY_PAUSE,
              value_parser = parse_fraction)]
        memory_pause: f64,
        /// Token and TLS for this worker's data service and its calls to the cluster.
        #[command(flatten)]
        security: SecurityArgs,
        /// When the scheduler is lost (its connection closes, or it sends nothing for its
        /// worker timeout), keep trying to reconnect this long, keeping the stored
        /// results, before exiting with an error (e.g. 60s, 5m).
        #[arg(long, default_value = "60s", value_parser = parse_duration)]
        reconnect_timeout: Duration,
    },
    /// Start a scheduler and workers on this machine and wait for Ctrl-C.
    Local {
        /// Number of workers.
        #[arg(long, default_value_t = 2)]
        workers: usize,
        /// Threads per worker.
        #[arg(long, default_value_t = 1)]
        threads_per_worker: usize,
        /// Memory limit per worker (default: machine memory divided among workers).
        #[arg(long, value_parser = parse_bytes)]
        memory_limit: Option<u64>,
        /// Protect the cluster with a fresh CA, certificate and token (mutual TLS on every
        /// endpoint); their files are printed for clients and removed on exit.
        #[arg(long)]
        secure: bool,
        /// Declare a worker dead after this long without a heartbeat (e.g. 10s, 500ms).
        #[arg(long, default_value = "10s", value_parser = parse_duration)]
        worker_timeout: Duration,
        /// Err a task once it has been running on this many workers that died.
        #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
        allowed_failures: u32,
    },
    /// Write a self-signed CA, a certificate every member presents (as server and
    /// client) and a random token into DIR, for `--tls-*` and `--token-file`.
    Certs {
        /// Directory to write `ca.pem`, `cert.pem`, `key.pem` and `token` into.
        #[arg(long, default_value = "tessera-credentials")]
        out: std::path::PathBuf,
        /// Extra host names or IP addresses for the certificate (comma-separated); it
        /// always names `tessera`, `localhost`, 127.0.0.1 and ::1.
        #[arg(long, value_delimiter = ',')]
        hosts: Vec<String>,
    },
    /// Start a local cluster, run the array example and print results and timings.
    Demo(crate::demo::DemoArgs),
}

/// Credentials flags shared by the scheduler and worker commands (Dask's names).
#[derive(clap::Args, Debug, Clone, Default, PartialEq, Eq)]
pub struct SecurityArgs {
    /// File holding a shared token: every call must carry it, and calls without it are
    /// refused before any work is done.
    #[arg(long)]
    pub token_file: Option<std::path::PathBuf>,
    /// The cluster CA certificate (PEM). With --tls-cert and --tls-key, every endpoint
    /// speaks TLS and requires callers to present a certificate signed by this CA.
    #[arg(long, requires_all = ["tls_cert", "tls_key"])]
    pub tls_ca_file: Option<std::path::PathBuf>,
    /// This member's certificate (PEM), naming `tessera` (what `tessera certs` writes).
    #[arg(long, requires_all = ["tls_ca_file", "tls_key"])]
    pub tls_cert: Option<std::path::PathBuf>,
    /// This member's private key (PEM).
    #[arg(long, requires_all = ["tls_ca_file", "tls_cert"])]
    pub tls_key: Option<std::path::PathBuf>,
}

impl SecurityArgs {
    /// The files these flags name.
    pub fn files(&self) -> SecurityFiles {
        SecurityFiles {
            token_file: self.token_file.clone(),
            tls_ca_file: self.tls_ca_file.clone(),
            tls_cert: self.tls_cert.clone(),
            tls_key: self.tls_key.clone(),
        }
    }
}

/// A socket address, or none (`off`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OptionalAddr(pub Option<SocketAddr>);

/// Parse `host:port` or `off`.
pub fn parse_optional_addr(s: &str) -> std::result::Result<OptionalAddr, String> {
    match s.trim() {
        "off" | "none" | "" => Ok(OptionalAddr(None)),
        a => a
            .parse()
            .map(|a| OptionalAddr(Some(a)))
            .map_err(|e| format!("not an address (host:port or off): {s:?}: {e}")),
    }
}

/// Print a status line (read by LocalCluster and operators) and flush it. A closed
/// stdout (the reader went away) is not an error: the process keeps serving.
fn announce(line: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}").and_then(|_| out.flush());
}

/// A fraction in (0, 1], as `--memory-target` takes.
fn parse_fraction(text: &str) -> std::result::Result<f64, String> {
    let f: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("{text:?} is not a number"))?;
    if f > 0.0 && f <= 1.0 {
        Ok(f)
    } else {
        Err(format!("{text} is not a fraction in (0, 1]"))
    }
}

/// Parse `4GiB`, `512MiB`, `2GB`, `1000` into bytes.
pub fn parse_bytes(s: &str) -> std::result::Result<u64, String> {
    let s = s.trim();
    let split = s.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let value: f64 = num
        .trim()
        .parse()
        .map_err(|_| format!("not a size: {s:?}"))?;
    let mult: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "kb" => 1e3,
        "mb" => 1e6,
        "gb" => 1e9,
        "tb" => 1e12,
        "kib" | "k" => 1024.0,
        "mib" | "m" => 1024.0 * 1024.0,
        "gib" | "g" => 1024.0 * 1024.0 * 1024.0,
        "tib" | "t" => 1024.0f64.powi(4),
        other => return Err(format!("unknown size unit {other:?} in {s:?}")),
    };
    if value < 0.0 || !value.is_finite() {
        return Err(format!("size must be positive: {s:?}"));
    }
    Ok((value * mult) as u64)
}

/// Parse `10s`, `500ms`, `2m` or plain seconds.
pub fn parse_duration(s: &str) -> std::result::Result<Duration, String> {
    let s = s.trim();
    let split = s.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let value: f64 = num.parse().map_err(|_| format!("not a duration: {s:?}"))?;
    let secs = match unit {
        "" | "s" => value,
        "ms" => value / 1e3,
        "m" => value * 60.0,
        other => return Err(format!("unknown duration unit {other:?} in {s:?}")),
    };
    if secs <= 0.0 {
        return Err(format!("duration must be positive: {s:?}"));
    }
    Duration::try_from_secs_f64(secs).map_err(|_| format!("duration out of range: {s:?}"))
}

fn runtime(threads: usize) -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()
        .map_err(|e| Error::other(format!("cannot start the runtime: {e}")))
}

/// Run a parsed command line.
pub fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Scheduler {
            host,
            port,
            worker_timeout,
            allowed_failures,
            dashboard_address,
            security,
        } => runtime(2)?.block_on(async move {
            let security = security.files().load()?;
            let listener = tokio::net::TcpListener::bind(SocketAddr::new(host, port))
                .await
                .map_err(|e| Error::Cluster(format!("cannot bind {host}:{port}: {e}")))?;
            let addr = listener
                .local_addr()
                .map_err(|e| Error::other(e.to_string()))?;
            announce(&format!("tessera scheduler listening on {addr}"));
            let config = tessera_scheduler::service::ServiceConfig {
                worker_timeout,
                heartbeat_interval: (worker_timeout / 10)
                    .clamp(Duration::from_millis(50), Duration::from_secs(1)),
                dashboard: dashboard_address.0,
                security,
                state: tessera_scheduler::state::SchedulerConfig {
                    allowed_failures,
                    ..Default::default()
                },
            };
            let service = tessera_scheduler::service::SchedulerService::new(config);
            if let Some(bound) = service.start_dashboard().await? {
                // Read by LocalCluster (after the listening line) and by operators.
                announce(&format!("tessera dashboard at http://{bound}/"));
            }
            service.serve(listener).await
        }),
        Command::Worker {
            address,
            threads,
            memory_limit,
            host,
            port,
            advertise_host,
            name,
            metrics_address,
            spill_dir,
            memory_target,
            memory_pause,
            security,
            reconnect_timeout,
        } => {
            let threads = threads.unwrap_or_else(|| {
                std::thread::available_parallelism()
                    .map(|n| n.get())
                    .unwrap_or(1)
            });
            let config = tessera_worker::WorkerConfig {
                scheduler: address,
                listen: SocketAddr::new(host, port),
                advertise_host: advertise_host
                    .or_else(|| (!host.is_unspecified()).then(|| host.to_string())),
                threads,
                memory_limit: memory_limit.unwrap_or_else(crate::cluster::total_memory),
                name,
                metrics: metrics_address,
                spill_dir,
                memory_target,
                memory_pause,
                security: security.files().load()?,
                reconnect_timeout,
            };
            // Before the runtime starts its threads (see `tune_allocator`).
            tessera_worker::memory::tune_allocator(config.memory_limit);
            runtime(2)?.block_on(tessera_worker::run_worker(config))
        }
        Command::Local {
            workers,
            threads_per_worker,
            memory_limit,
            secure,
            worker_timeout,
            allowed_failures,
        } => {
            let mut builder = LocalCluster::builder()
                .workers(workers)
                .threads_per_worker(threads_per_worker)
                .secure(secure)
                .worker_timeout(worker_timeout)
                .allowed_failures(allowed_failures);
            if let Some(m) = memory_limit {
                builder = builder.memory_limit(m);
            }
            let cluster = builder.build()?;
            println!(
                "scheduler at {}; {} workers; Ctrl-C stops the cluster",
                cluster.scheduler_address(),
                workers
            );
            if secure {
                println!(
                    "clients connect with: {}",
                    cluster.security_files().to_args().join(" ")
                );
            }
            runtime(1)?.block_on(async {
                let _ = tokio::signal::ctrl_c().await;
            });
            drop(cluster);
            Ok(())
        }
        Command::Certs { out, hosts } => {
            let files = crate::certs::write_dir(&out, &hosts)?;
            announce(&format!(
                "wrote {}/{{ca.pem,cert.pem,key.pem,token}}; start every scheduler, worker and \
                 client with: {}",
                out.display(),
                files.to_args().join(" ")
            ));
            Ok(())
        }
        Command::Demo(args) => crate::demo::run(args),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_fractions_parse_and_bad_ones_are_refused() {
        assert_eq!(parse_fraction("0.6").unwrap(), 0.6);
        assert_eq!(parse_fraction("1").unwrap(), 1.0);
        for bad in ["0", "-0.5", "1.5", "NaN", "most"] {
            assert!(parse_fraction(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn sizes_and_durations_parse() {
        assert_eq!(parse_bytes("4GiB").unwrap(), 4 << 30);
        assert_eq!(parse_bytes("512MiB").unwrap(), 512 << 20);
        assert_eq!(parse_bytes("2GB").unwrap(), 2_000_000_000);
        assert_eq!(parse_bytes("1000").unwrap(), 1000);
        assert!(parse_bytes("lots").is_err());
        assert!(parse_bytes("4XB").is_err());
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("10s").unwrap(), Duration::from_secs(10));
        assert!(parse_duration("-1s").is_err());
        assert!(parse_duration("1e30s").is_err());
        assert!(parse_duration("nan").is_err());
        assert!(parse_bytes("1e3GiB").is_err());
        assert_eq!(parse_optional_addr("off").unwrap(), OptionalAddr(None));
        assert_eq!(
            parse_optional_addr("127.0.0.1:0")
                .unwrap()
                .0
                .unwrap()
                .port(),
            0
        );
        assert!(parse_optional_addr("localhost").is_err());
    }

    #[test]
    fn log_format_and_dashboard_flags_parse() {
        use clap::Parser;
        let cli = Cli::try_parse_from([
            "tessera",
            "--log-format",
            "json",
            "scheduler",
            "--dashboard-address",
            "off",
        ])
        .unwrap();
        assert_eq!(cli.log_format, crate::logging::LogFormat::Json);
        assert!(matches!(
            cli.command,
            Command::Scheduler {
                dashboard_address: OptionalAddr(None),
                ..
            }
        ));
        assert!(Cli::try_parse_from(["tessera", "--log-format", "xml", "local"]).is_err());
    }

    #[test]
    fn failure_handling_flags_parse_and_bad_ones_are_refused() {
        use clap::Parser;
        let cli = Cli::try_parse_from(["tessera", "scheduler", "--allowed-failures", "1"]).unwrap();
        assert!(matches!(
            cli.command,
            Command::Scheduler {
                allowed_failures: 1,
                ..
            }
        ));
        let cli = Cli::try_parse_from(["tessera", "scheduler"]).unwrap();
        assert!(matches!(
            cli.command,
            Command::Scheduler {
                allowed_failures: 3,
                ..
            }
        ));
        assert!(Cli::try_parse_from(["tessera", "scheduler", "--allowed-failures", "0"]).is_err());
        let cli = Cli::try_parse_from([
            "tessera",
            "local",
            "--worker-timeout",
            "3s",
            "--allowed-failures",
            "5",
        ])
        .unwrap();
        let Command::Local {
            worker_timeout,
            allowed_failures,
            ..
        } = cli.command
        else {
            panic!("not local: {:?}", cli.command);
        };
        assert_eq!(worker_timeout, Duration::from_secs(3));
        assert_eq!(allowed_failures, 5);
        let cli = Cli::try_parse_from([
            "tessera",
            "worker",
            "127.0.0.1:1",
            "--reconnect-timeout",
            "500ms",
        ])
        .unwrap();
        let Command::Worker {
            reconnect_timeout, ..
        } = cli.command
        else {
            panic!("not worker: {:?}", cli.command);
        };
        assert_eq!(reconnect_timeout, Duration::from_millis(500));
        let cli = Cli::try_parse_from(["tessera", "worker", "127.0.0.1:1"]).unwrap();
        assert!(matches!(
            cli.command,
            Command::Worker {
                reconnect_timeout,
                ..
            } if reconnect_timeout == tessera_worker::session::DEFAULT_RECONNECT_TIMEOUT
        ));
    }
}
