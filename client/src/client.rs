//! The user's connection to a cluster: submits graphs, tracks wanted keys, and fetches
//! results straight from the workers that hold them. Blocking API over a private runtime.

use crate::array::lower::{Lowered, chunk_keys, lower};
use crate::array::{Array, Node, NodeKind};
use crate::futures::ArrayFuture;
use futures::StreamExt;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;
use tessera_core::chunk::ChunkElement;
use tessera_core::error::TaskError;
use tessera_core::rpc::{MAX_GRPC_MESSAGE, SchedulerClient};
use tessera_core::security::Security;
use tessera_core::wire::{
    ClientEvent, ClientMessage, ClusterInfo, Empty, ScatteredKey, Submission, WhoHasRequest,
};
use tessera_core::{Chunk, Error, Result, TaskKey, Value};
use tessera_worker::peers::PeerPool;
use tessera_worker::transport::{AuthedChannel, authed, scheduler_endpoint};
use tokio::sync::{mpsc, oneshot, watch};
use tokio_stream::wrappers::UnboundedReceiverStream;

mod session;

/// Where a wanted key stands, as last reported by the scheduler.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum KeyStatus {
    Pending,
    InMemory { holders: Vec<String> },
    Erred(TaskError),
    Lost(String),
}

struct KeyEntry {
    status: watch::Sender<KeyStatus>,
    refs: usize,
}

pub(crate) struct ClientInner {
    runtime: Option<tokio::runtime::Runtime>,
    scheduler: SchedulerClient<AuthedChannel>,
    outbound: mpsc::UnboundedSender<ClientMessage>,
    keys: Mutex<HashMap<TaskKey, KeyEntry>>,
    submissions: Mutex<HashMap<u64, oneshot::Sender<Option<String>>>>,
    pub(crate) next_submission: AtomicU64,
    pub(crate) peers: PeerPool,
    address: String,
    /// Why the scheduler session ended, once it has: later calls fail at once.
    closed: std::sync::OnceLock<String>,
    /// Progress of this client's submissions.
    pub(crate) progress: crate::progress::Progress,
}

/// Keys a client keeps alive on the cluster; dropping the hold releases them.
#[derive(Debug)]
pub struct KeyHold {
    keys: Vec<TaskKey>,
    client: Weak<ClientInner>,
    /// Set when the scheduler never counted these references (refused submission):
    /// dropping then only forgets them locally.
    uncounted: std::sync::atomic::AtomicBool,
}

impl KeyHold {
    /// The held keys.
    pub fn keys(&self) -> &[TaskKey] {
        &self.keys
    }
}

impl Drop for KeyHold {
    fn drop(&mut self) {
        if let Some(client) = self.client.upgrade() {
            let tell_scheduler = !self.uncounted.load(Ordering::Relaxed);
            client.release(&self.keys, tell_scheduler);
        }
    }
}

/// A connection to a Tessera scheduler.
#[derive(Clone)]
pub struct Client {
    pub(crate) inner: Arc<ClientInner>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl ClientInner {
    fn runtime(&self) -> &tokio::runtime::Runtime {
        self.runtime.as_ref().expect("runtime lives until drop")
    }

    fn release(&self, keys: &[TaskKey], tell_scheduler: bool) {
        let mut map = lock(&self.keys);
        for key in keys {
            if let Some(entry) = map.get_mut(key) {
                entry.refs -= 1;
                if entry.refs == 0 {
                    map.remove(key);
                }
            }
        }
        drop(map);
        if tell_scheduler {
            let _ = self.outbound.send(ClientMessage::Release(keys.to_vec()));
        }
    }
}

impl Drop for ClientInner {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

/// Longest connecting to the scheduler may take, from the TCP connection to its Welcome.
/// Shorter than the connection's keepalive timeout, so a frozen scheduler gets this
/// error, which says what happened, rather than the transport's.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

impl Client {
    /// Connect to the scheduler at `address` (`host:port`) of a cluster without a token
    /// or TLS.
    pub fn connect(address: &str) -> Result<Client> {
        Client::connect_with(address, Security::none())
    }

    /// Connect to the scheduler at `address` (`host:port`) with `security`'s token and
    /// TLS, which also protect every fetch from and put to the workers.
    pub fn connect_with(address: &str, security: Security) -> Result<Client> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("tessera-client")
            .enable_all()
            .build()
            .map_err(|e| Error::other(format!("cannot start the client runtime: {e}")))?;
        let address = address
            .trim_start_matches("tcp://")
            .trim_start_matches("http://")
            .to_string();
        let handshake = async {
            let channel = scheduler_endpoint(&address, &security)?
                .connect()
                .await
                .map_err(|e| {
                    Error::Cluster(format!("cannot reach the scheduler at {address}: {e}"))
                })?;
            let mut scheduler = SchedulerClient::new(authed(channel, &security))
                .max_decoding_message_size(MAX_GRPC_MESSAGE)
                .max_encoding_message_size(MAX_GRPC_MESSAGE);
            let (outbound, rx) = mpsc::unbounded_channel();
            let mut inbound = scheduler
                .client_session(UnboundedReceiverStream::new(rx))
                .await
                .map_err(|s| {
                    Error::Cluster(format!(
                        "the scheduler at {address} refused the session: {}",
                        s.message()
                    ))
                })?
                .into_inner();
            let first = inbound.message().await.map_err(|s| {
                Error::Cluster(format!(
                    "the session with the scheduler at {address} failed: {}",
                    s.message()
                ))
            })?;
            Ok::<_, Error>((scheduler, inbound, outbound, first))
        };
        // A frozen scheduler accepts the TCP connection (the kernel answers for it) and
        // then says nothing: bound the whole handshake.
        let (mut scheduler, inbound, outbound, first) = runtime
            .block_on(async { tokio::time::timeout(CONNECT_TIMEOUT, handshake).await })
            .map_err(|_| {
                Error::Cluster(format!(
                    "the scheduler at {address} did not answer within {CONNECT_TIMEOUT:?}: \
                     it is frozen, overloaded or not a tessera scheduler"
                ))
            })??;
        // The scheduler's worker timeout also bounds how long it may stay silent here: it
        // sends a heartbeat every interval, so a longer silence means it is frozen or
        // unreachable though the connection looks open.
        let silence_limit = match first.as_deref() {
            Some([ClientEvent::Welcome { timeout_ms, .. }]) => {
                (*timeout_ms > 0).then(|| Duration::from_millis(*timeout_ms))
            }
            _ => {
                return Err(Error::Cluster(format!(
                    "expected Welcome from the scheduler, got {first:?}"
                )));
            }
        };
        let _ = &mut scheduler;
        let inner = Arc::new(ClientInner {
            runtime: Some(runtime),
            scheduler,
            outbound,
            keys: Mutex::new(HashMap::new()),
            submissions: Mutex::new(HashMap::new()),
            next_submission: AtomicU64::new(1),
            progress: crate::progress::Progress::default(),
            peers: PeerPool::new(security.clone()),
            address: address.clone(),
            closed: std::sync::OnceLock::new(),
        });
        let weak = Arc::downgrade(&inner);
        inner
            .runtime()
            .spawn(session::read_events(weak, inbound, address, silence_limit));
        Ok(Client { inner })
    }

    /// The scheduler's address.
    pub fn scheduler_address(&self) -> &str {
        &self.inner.address
    }

    pub(crate) fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        self.inner.runtime().block_on(f)
    }

    /// A snapshot of the cluster: workers, their load, and scheduler counters.
    pub fn cluster_info(&self) -> Result<ClusterInfo> {
        let mut s = self.inner.scheduler.clone();
        self.block_on(async move { s.cluster_info(Empty {}).await })
            .map(|r| r.into_inner())
            .map_err(|s| Error::Cluster(format!("cluster_info: {}", s.message())))
    }

    /// Data addresses of the workers holding each key (empty where none does).
    pub fn who_has(&self, keys: &[TaskKey]) -> Result<Vec<Vec<String>>> {
        self.block_on(self.who_has_async(keys.to_vec()))
    }

    async fn who_has_async(&self, keys: Vec<TaskKey>) -> Result<Vec<Vec<String>>> {
        let mut s = self.inner.scheduler.clone();
        s.who_has(WhoHasRequest { keys })
            .await
            .map(|r| r.into_inner().holders)
            .map_err(|s| Error::Cluster(format!("who_has: {}", s.message())))
    }

    /// Count one more reference to each key and return a hold that releases them.
    /// One hold per key in place of `group`, which is dropped: each key stays counted
    /// once by the scheduler, as the group's were, and is released when its own hold goes.
    pub(crate) fn split_hold(
        &self,
        group: Arc<KeyHold>,
    ) -> std::collections::HashMap<TaskKey, Arc<KeyHold>> {
        let mut map = lock(&self.inner.keys);
        let parts = group
            .keys
            .iter()
            .map(|key| {
                if let Some(entry) = map.get_mut(key) {
                    entry.refs += 1;
                }
                let hold = Arc::new(KeyHold {
                    keys: vec![key.clone()],
                    client: Arc::downgrade(&self.inner),
                    uncounted: std::sync::atomic::AtomicBool::new(
                        group.uncounted.load(Ordering::Relaxed),
                    ),
                });
                (key.clone(), hold)
            })
            .collect();
        drop(map);
        group.uncounted.store(true, Ordering::Relaxed);
        drop(group);
        parts
    }

    pub(crate) fn hold(&self, keys: Vec<TaskKey>) -> Arc<KeyHold> {
        let mut map = lock(&self.inner.keys);
        for key in &keys {
            let entry = map.entry(key.clone()).or_insert_with(|| KeyEntry {
                status: watch::Sender::new(KeyStatus::Pending),
                refs: 0,
            });
            entry.refs += 1;
            // A resubmitted key that erred is retried by the scheduler: wait for news.
            if matches!(
                *entry.status.borrow(),
                KeyStatus::Erred(_) | KeyStatus::Lost(_)
            ) {
                entry.status.send_replace(KeyStatus::Pending);
            }
        }
        Arc::new(KeyHold {
            keys,
            client: Arc::downgrade(&self.inner),
            uncounted: std::sync::atomic::AtomicBool::new(false),
        })
    }

    /// Submit an expression and hold its output keys; results stay on the workers.
    pub(crate) async fn submit_lowered(&self, lowered: Lowered) -> Result<Arc<KeyHold>> {
        // Client data is put on workers once per client and held by its array node, so it
        // stays on the cluster (and is never raced by a release) while the array lives.
        let mut scattered = Vec::new();
        let mut literal_holds = Vec::new();
        for node in &lowered.literals {
            if self.literal_hold(node).is_none() {
                let put = self.scatter(node).await?;
                literal_holds.push((
                    node.clone(),
                    self.hold(put.iter().map(|s| s.key.clone()).collect()),
                ));
                scattered.extend(put);
            }
        }
        let literal_nodes: Vec<Arc<Node>> = literal_holds.iter().map(|(n, _)| n.clone()).collect();
        let extra: Vec<Arc<KeyHold>> = literal_holds.iter().map(|(_, h)| h.clone()).collect();
        let hold = self
            .send_submission(
                lowered.graph,
                lowered.outputs,
                scattered,
                lowered.shuffles,
                &extra,
            )
            .await?;
        for (node, h) in literal_nodes.into_iter().zip(extra) {
            if let NodeKind::Literal { holds, .. } = &node.kind {
                lock(holds).push(h);
            }
        }
        Ok(hold)
    }

    /// Submit `graph`, holding `outputs`; `scattered` are values this client already put
    /// on workers (held by `extra_holds`, which are uncounted again if the scheduler
    /// refuses the submission).
    pub(crate) async fn send_submission(
        &self,
        graph: tessera_core::TaskGraph,
        outputs: Vec<TaskKey>,
        scattered: Vec<ScatteredKey>,
        shuffles: Vec<tessera_core::shuffle::ShuffleSpec>,
        extra_holds: &[Arc<KeyHold>],
    ) -> Result<Arc<KeyHold>> {
        let mut wanted = outputs.clone();
        wanted.extend(scattered.iter().map(|s| s.key.clone()));
        let hold = self.hold(outputs);
        let id = self.inner.next_submission.fetch_add(1, Ordering::Relaxed);
        self.inner.progress.started(id);
        let (tx, rx) = oneshot::channel();
        lock(&self.inner.submissions).insert(id, tx);
        let refuse = || {
            for h in extra_holds.iter().chain(std::iter::once(&hold)) {
                h.uncounted.store(true, Ordering::Relaxed);
            }
        };
        if let Some(reason) = self.inner.closed.get() {
            lock(&self.inner.submissions).remove(&id);
            refuse();
            return Err(Error::Cluster(reason.clone()));
        }
        let submission = Submission {
            id,
            graph,
            wanted,
            scattered,
            shuffles,
        };
        self.inner
            .outbound
            .send(ClientMessage::Submit(submission))
            .map_err(|_| Error::Cluster("the scheduler session is closed".into()))?;
        match rx.await {
            Ok(None) => Ok(hold),
            Ok(Some(error)) => {
                refuse();
                // A lost session answers pending submissions with its reason: say that.
                match self.inner.closed.get() {
                    Some(reason) if *reason == error => Err(Error::Cluster(error)),
                    _ => Err(Error::Cluster(format!("submission refused: {error}"))),
                }
            }
            Err(_) => Err(Error::Cluster(
                "the scheduler session closed during submission".into(),
            )),
        }
    }

    /// Put `values` on the cluster's workers, round robin; each is held by the returned
    /// hold (one reference per key) once submitted with [`Client::send_submission`].
    pub(crate) async fn scatter_values(
        &self,
        values: Vec<(TaskKey, Value)>,
    ) -> Result<Vec<ScatteredKey>> {
        let workers = self.worker_addresses().await?;
        let peers = &self.inner.peers;
        let puts = values.into_iter().enumerate().map(|(i, (key, value))| {
            let worker = workers[i % workers.len()].clone();
            async move {
                peers.put(&worker, &key, &value).await?;
                Ok::<_, Error>(ScatteredKey {
                    key,
                    worker,
                    nbytes: value.nbytes() as u64,
                })
            }
        });
        futures::stream::iter(puts)
            .buffered(8)
            .collect::<Vec<_>>()
            .await
            .into_iter()
            .collect()
    }

    /// Data addresses of the workers, in the order they joined.
    pub(crate) async fn worker_addresses(&self) -> Result<Vec<String>> {
        let mut s = self.inner.scheduler.clone();
        let info = s
            .cluster_info(Empty {})
            .await
            .map_err(|s| Error::Cluster(format!("cluster_info: {}", s.message())))?
            .into_inner();
        let mut workers: Vec<_> = info
            .workers
            .into_iter()
            .map(|w| (w.id, w.registration.data_address))
            .collect();
        workers.sort();
        if workers.is_empty() {
            return Err(Error::Cluster(
                "the cluster has no workers to hold the data".into(),
            ));
        }
        Ok(workers.into_iter().map(|(_, a)| a).collect())
    }

    /// This client's hold on a literal node's chunks, if it has put them already.
    fn literal_hold(&self, node: &Node) -> Option<Arc<KeyHold>> {
        let NodeKind::Literal { holds, .. } = &node.kind else {
            return None;
        };
        let mut holds = lock(holds);
        holds.retain(|h| h.client.strong_count() > 0);
        holds
            .iter()
            .find(|h| std::ptr::eq(h.client.as_ptr(), Arc::as_ptr(&self.inner)))
            .cloned()
    }

    /// Put a literal node's chunks on workers, round robin.
    async fn scatter(&self, node: &Node) -> Result<Vec<ScatteredKey>> {
        let NodeKind::Literal { chunks, .. } = &node.kind else {
            return Ok(vec![]);
        };
        let values = chunk_keys(node)
            .into_iter()
            .zip(chunks)
            .map(|(key, chunk)| (key, Value::Array(chunk.clone())))
            .collect();
        self.scatter_values(values).await
    }

    /// Wait until `key` is in memory somewhere; its holders, or the task's error.
    pub(crate) async fn wait_key(&self, key: &TaskKey) -> Result<Vec<String>> {
        let mut rx = match lock(&self.inner.keys).get(key) {
            Some(entry) => entry.status.subscribe(),
            None => return Err(Error::other(format!("{key} is not held by this client"))),
        };
        if let Some(reason) = self.inner.closed.get()
            && *rx.borrow() == KeyStatus::Pending
        {
            return Err(Error::Cluster(reason.clone()));
        }
        let status = rx
            .wait_for(|s| *s != KeyStatus::Pending)
            .await
            .map_err(|_| Error::Cluster("client closed".into()))?
            .clone();
        match status {
            KeyStatus::InMemory { holders } => Ok(holders),
            KeyStatus::Erred(e) => Err(Error::Task(e)),
            KeyStatus::Lost(reason) => Err(Error::Cluster(reason)),
            KeyStatus::Pending => unreachable!("waited for a non-pending status"),
        }
    }

    /// Whether `key` has a final status (in memory or erred).
    pub(crate) fn key_done(&self, key: &TaskKey) -> bool {
        lock(&self.inner.keys)
            .get(key)
            .is_some_and(|e| *e.status.borrow() != KeyStatus::Pending)
    }

    /// Whether `key` erred (its latest status).
    pub(crate) fn key_erred(&self, key: &TaskKey) -> bool {
        lock(&self.inner.keys)
            .get(key)
            .is_some_and(|e| matches!(*e.status.borrow(), KeyStatus::Erred(_)))
    }

    /// Fetch one computed chunk, following it if its holder dies (the scheduler recomputes it).
    pub(crate) async fn fetch_key(&self, key: &TaskKey) -> Result<Chunk> {
        self.fetch_value(key).await?.into_chunk("an array result")
    }

    /// Fetch one computed value, following it if its holder dies (the scheduler recomputes it).
    pub(crate) async fn fetch_value(&self, key: &TaskKey) -> Result<Value> {
        let mut holders = self.wait_key(key).await?;
        let mut last_error = None;
        for _ in 0..600 {
            if !holders.is_empty() {
                // A new status for the key (lost with its holder, then recomputed
                // elsewhere) ends a fetch stuck on the old holder at once.
                let status = lock(&self.inner.keys)
                    .get(key)
                    .map(|e| e.status.subscribe());
                let superseded = async {
                    let changed = match status {
                        Some(mut rx) => rx.changed().await.is_ok(),
                        None => false,
                    };
                    if !changed {
                        std::future::pending::<()>().await;
                    }
                };
                let fetched = tokio::select! {
                    fetched = self.inner.peers.fetch_any(&holders, key, None) => fetched,
                    () = superseded => {
                        holders = self.wait_key(key).await?;
                        continue;
                    }
                };
                match fetched {
                    Ok(chunk) => return Ok(chunk),
                    // Bytes that do not decode will not decode on a retry either.
                    Err(e @ Error::Decode(_)) => return Err(e),
                    Err(e) => last_error = Some(e),
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
            if let Some(KeyStatus::Erred(e)) = lock(&self.inner.keys)
                .get(key)
                .map(|e| e.status.borrow().clone())
            {
                return Err(Error::Task(e));
            }
            holders = self
                .who_has_async(vec![key.clone()])
                .await?
                .pop()
                .unwrap_or_default();
        }
        Err(last_error.unwrap_or_else(|| Error::Cluster(format!("{key} could not be fetched"))))
    }

    /// Start computing `array` on the cluster; the result stays on the workers until fetched.
    pub fn submit(&self, array: &Array) -> Result<ArrayFuture> {
        let node = array.node()?.clone();
        let hold = self.block_on(self.submit_lowered(lower(&node)))?;
        Ok(ArrayFuture::new(self.clone(), node, hold))
    }

    /// Compute `array` and return it as an ndarray of element type `T` and dimension `D`
    /// (`ndarray::IxDyn` accepts any number of axes).
    pub fn compute<T: ChunkElement, D: ndarray::Dimension>(
        &self,
        array: &Array,
    ) -> Result<ndarray::Array<T, D>> {
        self.submit(array)?.result()
    }

    /// Compute `array` on the cluster and keep its chunks there: the returned array reads
    /// them instead of recomputing. The chunks are released when every copy is dropped.
    pub fn persist(&self, array: &Array) -> Result<Array> {
        let node = array.node()?.clone();
        if let NodeKind::Persisted { .. } = node.kind {
            return Ok(array.clone());
        }
        let hold = self.block_on(self.submit_lowered(lower(&node)))?;
        Ok(Array::wrap(Arc::new(Node {
            name: node.name.clone(),
            shape: node.shape.clone(),
            chunks: node.chunks.clone(),
            dtype: node.dtype,
            kind: NodeKind::Persisted {
                input: node.clone(),
                hold,
            },
        })))
    }

    /// Iterate over `futures` in the order they finish (Dask's `as_completed`).
    pub fn as_completed(&self, futures: Vec<ArrayFuture>) -> crate::futures::AsCompleted {
        crate::futures::AsCompleted::new(self.clone(), futures)
    }

    /// Keys of an array's chunks, in C order (for `who_has` and tests).
    pub fn chunk_keys(&self, array: &Array) -> Result<Vec<TaskKey>> {
        Ok(chunk_keys(array.node()?))
    }
}
