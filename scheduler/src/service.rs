//! The scheduler's tonic service: wraps the pure state machine, feeds it session messages
//! and routes the commands and events it emits, batched per worker and per client.

use crate::http::metrics::SchedulerMetrics;
use crate::state::{Outputs, SchedulerConfig, SchedulerState};
use futures::StreamExt;
use futures::stream::BoxStream;
use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};
use tessera_core::rpc::{self, MAX_GRPC_MESSAGE, Scheduler, SchedulerServer};
use tessera_core::security::Security;
use tessera_core::wire::{
    ClientEvent, ClientId, ClientMessage, ClusterInfo, Empty, SchedulerMessage, WhoHasRequest,
    WhoHasResponse, WorkerCommand, WorkerId, WorkerMessage,
};
use tessera_core::{Error, Result};
use tokio::sync::mpsc;
use tokio_stream::wrappers::UnboundedReceiverStream;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Certificate, Identity, ServerTlsConfig};
use tonic::{Request, Response, Status, Streaming};

/// How the scheduler service runs.
#[derive(Clone, Debug)]
pub struct ServiceConfig {
    /// State-machine settings.
    pub state: SchedulerConfig,
    /// Interval at which workers must send heartbeats.
    pub heartbeat_interval: Duration,
    /// A worker silent this long is declared dead.
    pub worker_timeout: Duration,
    /// Where to serve the dashboard, JSON API and `/metrics` (port 0 picks a free one);
    /// `None` serves none.
    pub dashboard: Option<std::net::SocketAddr>,
    /// Token and TLS every gRPC call must satisfy (none by default).
    pub security: Security,
}

impl Default for ServiceConfig {
    fn default() -> Self {
        ServiceConfig {
            state: SchedulerConfig::default(),
            heartbeat_interval: Duration::from_millis(500),
            worker_timeout: Duration::from_secs(10),
            dashboard: None,
            security: Security::none(),
        }
    }
}

/// How often the scheduler pings each connection (HTTP/2 keepalive).
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(5);
/// How long a ping may go unanswered before the connection is dropped, which ends that
/// worker's or client's session as if it had closed it.
const KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(10);

type WorkerSender = mpsc::UnboundedSender<Result<SchedulerMessage, Status>>;
type ClientSender = mpsc::UnboundedSender<Result<Vec<ClientEvent>, Status>>;

struct Inner {
    state: SchedulerState,
    workers: HashMap<WorkerId, WorkerSender>,
    clients: HashMap<ClientId, ClientSender>,
}

impl Inner {
    /// Send a transition's outputs, one batch per destination, in order.
    fn route(&mut self, outputs: Outputs) {
        let mut per_worker: HashMap<WorkerId, Vec<WorkerCommand>> = HashMap::new();
        for (worker, command) in outputs.to_workers {
            per_worker.entry(worker).or_default().push(command);
        }
        for (worker, commands) in per_worker {
            if let Some(tx) = self.workers.get(&worker) {
                let _ = tx.send(Ok(SchedulerMessage::Batch(commands)));
            }
        }
        let mut per_client: HashMap<ClientId, Vec<ClientEvent>> = HashMap::new();
        for (client, event) in outputs.to_clients {
            per_client.entry(client).or_default().push(event);
        }
        for (client, events) in per_client {
            if let Some(tx) = self.clients.get(&client) {
                let _ = tx.send(Ok(events));
            }
        }
    }
}

/// The gRPC service; clone-cheap handle over the shared state.
#[derive(Clone)]
pub struct SchedulerService {
    inner: Arc<Mutex<Inner>>,
    config: ServiceConfig,
    started: Instant,
    metrics: SchedulerMetrics,
    /// Bound dashboard address, once serving.
    dashboard: Arc<OnceLock<std::net::SocketAddr>>,
    /// Connected dashboard event streams.
    sse_clients: Arc<AtomicI64>,
}

impl SchedulerService {
    /// A service with a fresh state machine.
    pub fn new(config: ServiceConfig) -> Self {
        SchedulerService {
            inner: Arc::new(Mutex::new(Inner {
                state: SchedulerState::new(config.state.clone()),
                workers: HashMap::new(),
                clients: HashMap::new(),
            })),
            config,
            started: Instant::now(),
            metrics: SchedulerMetrics::default(),
            dashboard: Arc::new(OnceLock::new()),
            sse_clients: Arc::new(AtomicI64::new(0)),
        }
    }

    /// Run `f` on the state machine under the service lock (the HTTP layer's only access:
    /// it copies snapshots out and serializes them after the lock is released).
    pub fn read<R>(&self, f: impl FnOnce(&SchedulerState) -> R) -> R {
        f(&self.lock().state)
    }

    /// Metrics the service records.
    pub fn metrics(&self) -> &SchedulerMetrics {
        &self.metrics
    }

    /// Connected dashboard event streams.
    pub fn sse_clients(&self) -> i64 {
        self.sse_clients.load(Ordering::Relaxed)
    }

    /// Count dashboard event streams opening (`+1`) and closing (`-1`).
    pub(crate) fn sse_clients_add(&self, delta: i64) {
        self.sse_clients.fetch_add(delta, Ordering::Relaxed);
    }

    /// The dashboard's bound address, once it serves.
    pub fn dashboard_address(&self) -> Option<std::net::SocketAddr> {
        self.dashboard.get().copied()
    }

    /// Fill in what only the service knows of `ClusterInfo`.
    pub fn complete_info(&self, mut info: ClusterInfo) -> ClusterInfo {
        info.scheduler_bytes_received = rpc::bytes_decoded();
        info.dashboard_address = self
            .dashboard_address()
            .map(|a| a.to_string())
            .unwrap_or_default();
        info
    }

    /// Start the dashboard HTTP server on `config.dashboard` (if set and not yet started);
    /// returns its bound address. `serve` calls it; call it first to learn the address.
    pub async fn start_dashboard(&self) -> Result<Option<std::net::SocketAddr>> {
        if let Some(a) = self.dashboard_address() {
            return Ok(Some(a));
        }
        let Some(addr) = self.config.dashboard else {
            return Ok(None);
        };
        let bound = crate::http::spawn(self.clone(), addr).await?;
        let _ = self.dashboard.set(bound);
        tracing::info!(%bound, "dashboard serving at http://{bound}/");
        Ok(Some(bound))
    }

    /// Time one state-machine call for the scheduling-latency histogram.
    fn timed<R>(&self, f: impl FnOnce() -> R) -> R {
        let t0 = Instant::now();
        let r = f();
        self.metrics
            .batch_seconds
            .observe(t0.elapsed().as_secs_f64());
        r
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // Every transition leaves the state consistent before it can panic-free return;
        // a poisoned lock would only follow a bug, and continuing is the best service.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn now_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    /// Milliseconds since the service started (the clock of observation timestamps).
    pub fn uptime_ms(&self) -> u64 {
        self.now_ms()
    }

    /// Declare silent workers dead and tell every worker and client that the scheduler is
    /// alive (a heartbeat on each session stream), periodically, until the service is
    /// dropped. The heartbeats let both sides notice a frozen or unreachable scheduler whose
    /// connections stay open, within the worker timeout.
    fn spawn_reaper(&self) {
        let this = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(this.config.heartbeat_interval);
            loop {
                tick.tick().await;
                let mut inner = this.lock();
                let (dead, outputs) = inner
                    .state
                    .expire_workers(this.now_ms(), this.config.worker_timeout.as_millis() as u64);
                for id in dead {
                    tracing::warn!(worker = id, "worker missed its heartbeats; declared dead");
                    if let Some(tx) = inner.workers.remove(&id) {
                        let _ = tx.send(Err(Status::deadline_exceeded("heartbeat timeout")));
                    }
                }
                inner.route(outputs);
                for tx in inner.workers.values() {
                    let _ = tx.send(Ok(SchedulerMessage::Heartbeat));
                }
                for tx in inner.clients.values() {
                    let _ = tx.send(Ok(vec![ClientEvent::Heartbeat]));
                }
            }
        });
    }

    /// Serve on `listener` until the process stops. With a token configured, a call
    /// without it is refused before its handler runs; with TLS, every caller must
    /// present a certificate signed by the cluster CA. HTTP/2 pings find clients and
    /// workers that vanished without closing their connection.
    pub async fn serve(self, listener: tokio::net::TcpListener) -> Result<()> {
        self.start_dashboard().await?;
        self.spawn_reaper();
        let security = self.config.security.clone();
        let server = SchedulerServer::new(self)
            .max_decoding_message_size(MAX_GRPC_MESSAGE)
            .max_encoding_message_size(MAX_GRPC_MESSAGE);
        let server = InterceptedService::new(server, security.server_check());
        let mut builder = tonic::transport::Server::builder()
            .tcp_nodelay(true)
            .http2_keepalive_interval(Some(KEEPALIVE_INTERVAL))
            .http2_keepalive_timeout(Some(KEEPALIVE_TIMEOUT));
        if let Some(pem) = security.tls() {
            let tls = ServerTlsConfig::new()
                .identity(Identity::from_pem(&pem.cert, &pem.key))
                .client_ca_root(Certificate::from_pem(&pem.ca))
                .timeout(KEEPALIVE_TIMEOUT);
            builder = builder
                .tls_config(tls)
                .map_err(|e| Error::Cluster(format!("bad TLS certificate or key: {e}")))?;
        }
        builder
            .add_service(server)
            // `tcp_nodelay` on the builder only covers listeners tonic binds itself; without
            // it here, every small response waits out a 40 ms delayed ACK.
            .serve_with_incoming(
                tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true)),
            )
            .await
            .map_err(|e| Error::Cluster(format!("scheduler server failed: {e}")))
    }
}

#[tonic::async_trait]
impl Scheduler for SchedulerService {
    type WorkerSessionStream = BoxStream<'static, Result<SchedulerMessage, Status>>;
    type ClientSessionStream = BoxStream<'static, Result<Vec<ClientEvent>, Status>>;

    async fn worker_session(
        &self,
        request: Request<Streaming<WorkerMessage>>,
    ) -> Result<Response<Self::WorkerSessionStream>, Status> {
        let mut inbound = request.into_inner();
        let registration = match inbound.message().await? {
            Some(WorkerMessage::Register(r)) => r,
            Some(_) => {
                return Err(Status::invalid_argument(
                    "a worker session must start with Register",
                ));
            }
            None => {
                return Err(Status::invalid_argument(
                    "worker session closed before Register",
                ));
            }
        };
        let address = registration.data_address.clone();
        let (tx, rx) = mpsc::unbounded_channel();
        let id = {
            let mut inner = self.lock();
            let (id, outputs) = inner.state.add_worker(registration, self.now_ms());
            let _ = tx.send(Ok(SchedulerMessage::Welcome {
                worker_id: id,
                heartbeat_interval_ms: self.config.heartbeat_interval.as_millis() as u64,
                worker_timeout_ms: self.config.worker_timeout.as_millis() as u64,
            }));
            inner.workers.insert(id, tx);
            inner.route(outputs);
            id
        };
        tracing::info!(worker = id, %address, "worker joined");
        let this = self.clone();
        tokio::spawn(async move {
            let reason = loop {
                match inbound.message().await {
                    Ok(Some(WorkerMessage::Batch(events))) => {
                        let mut inner = this.lock();
                        let now = this.now_ms();
                        let outputs =
                            this.timed(|| inner.state.handle_worker_events(id, events, now));
                        inner.route(outputs);
                    }
                    Ok(Some(WorkerMessage::Register(_))) => {
                        break "sent Register twice".to_string();
                    }
                    Ok(None) => break "closed its session".to_string(),
                    Err(s) => break format!("session failed: {}", s.message()),
                }
            };
            tracing::warn!(worker = id, %address, "worker left: {reason}");
            let mut inner = this.lock();
            if inner.workers.remove(&id).is_some() {
                let outputs = inner.state.remove_worker(id, &reason);
                inner.route(outputs);
            }
        });
        Ok(Response::new(UnboundedReceiverStream::new(rx).boxed()))
    }

    async fn client_session(
        &self,
        request: Request<Streaming<ClientMessage>>,
    ) -> Result<Response<Self::ClientSessionStream>, Status> {
        let mut inbound = request.into_inner();
        let (tx, rx) = mpsc::unbounded_channel();
        let id = {
            let mut inner = self.lock();
            let id = inner.state.add_client();
            let _ = tx.send(Ok(vec![ClientEvent::Welcome {
                client_id: id,
                heartbeat_interval_ms: self.config.heartbeat_interval.as_millis() as u64,
                timeout_ms: self.config.worker_timeout.as_millis() as u64,
            }]));
            inner.clients.insert(id, tx);
            id
        };
        tracing::debug!(client = id, "client connected");
        let this = self.clone();
        tokio::spawn(async move {
            loop {
                let message = match inbound.message().await {
                    Ok(Some(m)) => m,
                    Ok(None) => break,
                    Err(s) => {
                        tracing::debug!(client = id, "client session failed: {}", s.message());
                        break;
                    }
                };
                let mut inner = this.lock();
                inner.state.observe_tick(this.now_ms());
                let outputs = this.timed(|| match message {
                    ClientMessage::Submit(submission) => inner.state.submit(id, submission),
                    ClientMessage::Release(keys) => inner.state.release(id, keys),
                });
                inner.route(outputs);
            }
            tracing::debug!(client = id, "client disconnected");
            let mut inner = this.lock();
            inner.clients.remove(&id);
            let outputs = inner.state.remove_client(id);
            inner.route(outputs);
        });
        Ok(Response::new(UnboundedReceiverStream::new(rx).boxed()))
    }

    async fn cluster_info(&self, _: Request<Empty>) -> Result<Response<ClusterInfo>, Status> {
        let info = self.lock().state.cluster_info();
        Ok(Response::new(self.complete_info(info)))
    }

    async fn who_has(
        &self,
        request: Request<WhoHasRequest>,
    ) -> Result<Response<WhoHasResponse>, Status> {
        let keys = request.into_inner().keys;
        let holders = self.lock().state.who_has(&keys);
        Ok(Response::new(WhoHasResponse { holders }))
    }
}
