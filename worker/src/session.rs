//! A worker's life: bind the Flight service, register with the scheduler, then run the
//! commands it sends while streaming batched events and heartbeats back; reconnect if lost.

use crate::executor::Executor;
use crate::flight::{DataService, MAX_FLIGHT_MESSAGE};
use crate::metrics::{Counters, process_memory};
use crate::peers::PeerPool;
use crate::shuffle::ShuffleBuffers;
use crate::store::ChunkStore;
use arrow_flight::flight_service_server::FlightServiceServer;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tessera_core::rpc::{MAX_GRPC_MESSAGE, SchedulerClient};
use tessera_core::security::Security;
use tessera_core::wire::{
    SchedulerMessage, WorkerCommand, WorkerEvent, WorkerMessage, WorkerMetrics, WorkerRegistration,
};
use tessera_core::{Error, Result};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::service::interceptor::InterceptedService;

/// How a worker is started.
#[derive(Clone, Debug)]
pub struct WorkerConfig {
    /// Scheduler address (`host:port`).
    pub scheduler: String,
    /// Address to bind the Flight data service to (port 0 picks a free port).
    pub listen: SocketAddr,
    /// Host name or IP that peers and clients use to reach this worker
    /// (defaults to the listen IP).
    pub advertise_host: Option<String>,
    /// Kernel threads.
    pub threads: usize,
    /// Memory limit in bytes.
    pub memory_limit: u64,
    /// Name shown on the dashboard (defaults to the data address).
    pub name: Option<String>,
    /// Where to serve Prometheus `/metrics` (port 0 picks a free one); `None` serves none.
    pub metrics: Option<SocketAddr>,
    /// Directory under which the worker makes its spill directory (the OS temp
    /// directory if `None`).
    pub spill_dir: Option<std::path::PathBuf>,
    /// Fraction of `memory_limit` that stored values may take in memory before the
    /// least recently used are spilled to disk (Dask's `target`, 0.6 by default).
    pub memory_target: f64,
    /// Fraction of `memory_limit` of resident memory past which kernel threads spill
    /// everything and wait before starting tasks (Dask's `pause`, 0.8 by default).
    pub memory_pause: f64,
    /// Token and TLS for the Flight service and for calls to the scheduler and peers.
    pub security: Security,
    /// How long a worker that lost its scheduler keeps trying to reconnect (keeping its
    /// stored results) before it exits with an error.
    pub reconnect_timeout: Duration,
}

/// How long a worker tries to reconnect to a lost scheduler by default.
pub const DEFAULT_RECONNECT_TIMEOUT: Duration = Duration::from_secs(60);

/// The default fraction of the memory limit that stored values may take in memory.
pub const DEFAULT_MEMORY_TARGET: f64 = 0.6;

static SHIPPED_CODE_ALLOWED: AtomicBool = AtomicBool::new(false);

/// Whether this worker process may run functions shipped to it as code (Python functions
/// sent with cloudpickle): only on a cluster with a token or TLS configured, or one whose
/// worker and scheduler both listen on loopback, where only this machine can submit work.
/// False until a worker runs in this process.
pub fn shipped_code_allowed_here() -> bool {
    SHIPPED_CODE_ALLOWED.load(Ordering::Relaxed)
}

/// The rule of [`shipped_code_allowed_here`] for a worker listening on `listen` that
/// joins the scheduler at `scheduler` (`host:port`).
pub fn shipped_code_allowed(security: &Security, listen: SocketAddr, scheduler: &str) -> bool {
    security.is_configured() || (listen.ip().is_loopback() && is_loopback_host(scheduler))
}

fn is_loopback_host(address: &str) -> bool {
    let host = address.rsplit_once(':').map_or(address, |(h, _)| h);
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Most events sent in one batch.
const MAX_BATCH: usize = 8192;

/// Run a worker until the process is stopped, or until the scheduler is lost (its session
/// closes or fails, or it sends nothing for its worker timeout) and stays unreachable for
/// `reconnect_timeout` (an error). While reconnecting the worker keeps its store and serves
/// it to peers; it registers again listing what it holds.
pub async fn run_worker(config: WorkerConfig) -> Result<()> {
    crate::memory::tune_allocator(config.memory_limit);
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|e| Error::Cluster(format!("cannot bind {}: {e}", config.listen)))?;
    let bound = listener
        .local_addr()
        .map_err(|e| Error::Cluster(format!("no local address: {e}")))?;
    let host = match &config.advertise_host {
        Some(h) => h.clone(),
        None if bound.ip().is_unspecified() => route_ip_to(&config.scheduler).await?,
        None => bound.ip().to_string(),
    };
    let data_address = format!("{host}:{}", bound.port());

    // A table task may use half of its thread's share of the memory limit for sorts,
    // aggregations and joins; DataFusion spills past that (to the OS temp directory).
    let per_task = config.memory_limit / config.threads.max(1) as u64 / 2;
    tessera_core::table::configure_memory(per_task.max(64 << 20) as usize, None);
    let target = (config.memory_limit as f64 * config.memory_target.clamp(0.0, 1.0)) as u64;
    let store = Arc::new(ChunkStore::with_spill(config.spill_dir.as_deref(), target)?);
    let counters = Arc::new(Counters::default());
    let memory = Arc::new(crate::memory::MemoryGuard::new(
        store.clone(),
        config.memory_limit,
        config.memory_pause,
    ));
    let peers = Arc::new(PeerPool::new(config.security.clone()));
    SHIPPED_CODE_ALLOWED.store(
        shipped_code_allowed(&config.security, config.listen, &config.scheduler),
        Ordering::Relaxed,
    );
    let shuffles = Arc::new(ShuffleBuffers::new(config.memory_limit));
    let data = FlightServiceServer::new(DataService::new(
        store.clone(),
        counters.clone(),
        shuffles.clone(),
    ))
    .max_decoding_message_size(MAX_FLIGHT_MESSAGE)
    .max_encoding_message_size(MAX_FLIGHT_MESSAGE);
    let data = InterceptedService::new(data, config.security.server_check());
    let mut data_server = crate::transport::data_server(&config.security)?;
    let server = tokio::spawn(
        data_server
            .add_service(data)
            // `tcp_nodelay` on the builder only covers listeners tonic binds itself; without
            // it here, every small response waits out a 40 ms delayed ACK.
            .serve_with_incoming(
                tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true)),
            ),
    );

    let metrics_address = match config.metrics {
        Some(addr) => {
            let gauges = crate::prom::WorkerGauges {
                counters: counters.clone(),
                store: store.clone(),
                shuffles: shuffles.clone(),
                memory_limit: config.memory_limit,
            };
            let bound = crate::metrics_http::spawn(addr, gauges).await?;
            format!("{host}:{}", bound.port())
        }
        None => String::new(),
    };

    let channel = crate::transport::scheduler_endpoint(&config.scheduler, &config.security)?
        .connect()
        .await
        .map_err(|e| Error::Cluster(format!("cannot reach scheduler {}: {e}", config.scheduler)))?;
    let channel = crate::transport::authed(channel, &config.security);
    let scheduler = SchedulerClient::new(channel)
        .max_decoding_message_size(MAX_GRPC_MESSAGE)
        .max_encoding_message_size(MAX_GRPC_MESSAGE);

    let open = |requests: ReceiverStream<WorkerMessage>| {
        let mut scheduler = scheduler.clone();
        async move { scheduler.worker_session(requests).await }
    };
    // Each registration lists what the store holds: nothing at first; after a lost
    // scheduler, the results this worker kept (see `WorkerRegistration::held`).
    let registration = || WorkerRegistration {
        data_address: data_address.clone(),
        threads: config.threads as u32,
        memory_limit: config.memory_limit,
        pid: std::process::id(),
        name: config.name.clone().unwrap_or_else(|| data_address.clone()),
        metrics_address: metrics_address.clone(),
        held: store.held(),
    };
    let mut session = crate::link::open(&open, registration()).await?;
    tracing::info!(worker_id = session.worker_id, %data_address, scheduler = %config.scheduler, "worker registered");
    // Ready line for LocalCluster and operators.
    // A closed stdout (the reader went away) must not stop the worker.
    {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "tessera worker ready on {data_address}").and_then(|_| out.flush());
    }

    let (events, events_rx) = mpsc::unbounded_channel();
    // Events outlive sessions: while the scheduler is lost they wait here, and each
    // session's forwarder takes the receiver for as long as the session lasts.
    let events_rx = Arc::new(tokio::sync::Mutex::new(events_rx));
    let executor = Executor::new(
        store.clone(),
        peers.clone(),
        counters.clone(),
        config.threads,
        data_address.clone(),
        events.clone(),
        shuffles.clone(),
        memory.clone(),
    )
    .map_err(|e| Error::Cluster(format!("cannot start the kernel pool: {e}")))?;
    tokio::spawn(heartbeats(
        events.clone(),
        memory,
        store.clone(),
        counters,
        shuffles.clone(),
        session.heartbeat_interval,
    ));

    loop {
        let forwarder = tokio::spawn(send_batches(events_rx.clone(), session.outbound.clone()));
        let lost = serve_session(&mut session, &executor, &store, &shuffles, &peers, &events).await;
        forwarder.abort();
        drop(session);
        let scheduler = &config.scheduler;
        tracing::error!(
            "lost the scheduler at {scheduler} ({lost}); reconnecting for up to {:?}, \
             keeping {} stored results",
            config.reconnect_timeout,
            store.len()
        );
        // Every shuffle this worker took part in is over or restarted by now: a restarted
        // scheduler starts afresh, the same one restarts those it owned partitions of.
        shuffles.clear();
        session = match crate::link::reopen(&open, registration, config.reconnect_timeout).await {
            Ok(s) => s,
            Err(e) => {
                server.abort();
                return Err(Error::Cluster(format!(
                    "lost the scheduler at {scheduler} ({lost}) and could not reconnect within \
                     {:?}: {e}",
                    config.reconnect_timeout
                )));
            }
        };
        tracing::warn!(
            worker_id = session.worker_id,
            "reconnected to the scheduler at {scheduler}; reported {} stored results",
            store.len()
        );
    }
}

/// Run one session's commands until the scheduler is lost; returns why.
async fn serve_session(
    session: &mut crate::link::Session,
    executor: &Arc<Executor>,
    store: &ChunkStore,
    shuffles: &ShuffleBuffers,
    peers: &PeerPool,
    events: &mpsc::UnboundedSender<WorkerEvent>,
) -> String {
    loop {
        let commands = match session.next().await {
            Ok(SchedulerMessage::Batch(commands)) => commands,
            Ok(SchedulerMessage::Heartbeat) => continue,
            Ok(SchedulerMessage::Welcome { .. }) => {
                tracing::warn!("ignoring a second Welcome from the scheduler");
                continue;
            }
            Err(lost) => return lost,
        };
        for command in commands {
            match command {
                WorkerCommand::Compute(task) => {
                    // Addresses the scheduler names now are of live workers.
                    let owners = task.shuffle.iter().flat_map(|s| &s.owners);
                    for address in task.inputs.iter().flat_map(|i| &i.holders) {
                        peers.declare_alive(address);
                    }
                    for owner in owners {
                        peers.declare_alive(&owner.address);
                    }
                    executor.compute(task)
                }
                WorkerCommand::Release(keys) => store.remove(&keys),
                WorkerCommand::ForgetShuffle { id, attempt } => shuffles.forget(&id, attempt),
                WorkerCommand::PeerGone { address } => peers.declare_gone(&address),
                WorkerCommand::Steal(key) => {
                    let stolen = executor.steal(&key);
                    let _ = events.send(WorkerEvent::StealAnswer { key, stolen });
                }
            }
        }
    }
}

/// The local IP this machine uses to reach `scheduler` (what peers should dial).
async fn route_ip_to(scheduler: &str) -> Result<String> {
    let stream = tokio::net::TcpStream::connect(scheduler)
        .await
        .map_err(|e| Error::Cluster(format!("cannot reach scheduler {scheduler}: {e}")))?;
    let local = stream
        .local_addr()
        .map_err(|e| Error::Cluster(format!("no local address: {e}")))?;
    Ok(local.ip().to_string())
}

/// Forward events in batches: wait for one, then take whatever else is already queued.
async fn send_batches(
    events: Arc<tokio::sync::Mutex<mpsc::UnboundedReceiver<WorkerEvent>>>,
    outbound: mpsc::Sender<WorkerMessage>,
) {
    let mut events = events.lock().await;
    while let Some(first) = events.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match events.try_recv() {
                Ok(e) => batch.push(e),
                Err(_) => break,
            }
        }
        if outbound.send(WorkerMessage::Batch(batch)).await.is_err() {
            return;
        }
    }
}

async fn heartbeats(
    events: mpsc::UnboundedSender<WorkerEvent>,
    memory: Arc<crate::memory::MemoryGuard>,
    store: Arc<ChunkStore>,
    counters: Arc<Counters>,
    shuffles: Arc<ShuffleBuffers>,
    every: Duration,
) {
    let mut tick = tokio::time::interval(every);
    loop {
        tick.tick().await;
        let metrics = WorkerMetrics {
            process_memory: process_memory(),
            stored_bytes: store.bytes(),
            stored_chunks: store.len() as u64,
            executing: Counters::get(&counters.executing) as u32,
            queued: Counters::get(&counters.queued) as u32,
            bytes_sent: Counters::get(&counters.bytes_sent),
            bytes_received: Counters::get(&counters.bytes_received),
            tasks_done: Counters::get(&counters.tasks_done),
            transfer_rate: counters.transfer_rate(),
            shuffle_bytes: shuffles.bytes(),
            shuffle_bytes_received: shuffles.received(),
            spilled_bytes: store.spilled_bytes(),
            spilled_bytes_total: store.spilled_total(),
            paused: memory.paused(),
        };
        if events.send(WorkerEvent::Heartbeat(metrics)).is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_code_runs_only_on_protected_or_loopback_clusters() {
        let loopback: SocketAddr = "127.0.0.1:0".parse().unwrap();
        let open: SocketAddr = "0.0.0.0:0".parse().unwrap();
        let none = Security::none();
        assert!(shipped_code_allowed(&none, loopback, "127.0.0.1:8786"));
        assert!(shipped_code_allowed(&none, loopback, "localhost:8786"));
        assert!(shipped_code_allowed(
            &none,
            "[::1]:0".parse().unwrap(),
            "[::1]:8786"
        ));
        assert!(!shipped_code_allowed(&none, open, "127.0.0.1:8786"));
        assert!(!shipped_code_allowed(&none, loopback, "10.0.0.5:8786"));
        let token = Security::none().with_token("t0ken").unwrap();
        assert!(shipped_code_allowed(&token, open, "10.0.0.5:8786"));
    }
}
