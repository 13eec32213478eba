//! Flight clients to other workers: fetch a value (or one bucket of it) by key, put a
//! value under a key.
//! Connections are cached per address; used by workers for inputs and by clients for results.

use crate::flight::{MAX_FLIGHT_MESSAGE, encode_value, ticket_bytes};
use crate::transport::{AuthedChannel, authed};
use arrow_flight::flight_service_client::FlightServiceClient;
use arrow_flight::{FlightData, FlightDescriptor, Ticket};
use futures::{StreamExt, TryStreamExt};
use std::collections::HashMap;
use std::sync::Mutex;
use tessera_core::security::Security;
use tessera_core::{Error, Result, TaskKey, Value};
use tokio::sync::watch;
use tonic::transport::Channel;

/// Longest a fetch may go without progress (the response starting, or the next
/// message of the chunk arriving) before the holder is given up on. A stall, not a
/// total: a large chunk on a slow link may take longer as long as it keeps moving.
pub const STALL_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(20);

/// Longest the connection setup to a peer may take.
pub const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// A cache of Flight connections to workers, by data address.
#[derive(Default)]
pub struct PeerPool {
    channels: Mutex<HashMap<String, Channel>>,
    /// Per address, a flag set when the scheduler declares that worker dead: every
    /// transfer with it watches its flag and fails at once when it is set.
    gone: Mutex<HashMap<String, watch::Sender<bool>>>,
    security: Security,
}

impl PeerPool {
    /// A pool whose connections use `security` (TLS and the token).
    pub fn new(security: Security) -> PeerPool {
        PeerPool {
            channels: Mutex::default(),
            gone: Mutex::default(),
            security,
        }
    }

    /// The (cached) channel to the worker at `address` (`host:port`).
    async fn channel(&self, address: &str) -> Result<Channel> {
        if let Some(c) = self.lock().get(address) {
            return Ok(c.clone());
        }
        let endpoint = crate::transport::data_endpoint(address, &self.security)?;
        // The TCP connect of a frozen peer succeeds (the kernel answers for it) while its
        // HTTP/2 handshake never does: bound the whole connection setup.
        let channel = tokio::time::timeout(CONNECT_TIMEOUT, endpoint.connect())
            .await
            .map_err(|_| {
                Error::Cluster(format!(
                    "worker {address} did not answer within {CONNECT_TIMEOUT:?}"
                ))
            })?
            .map_err(|e| Error::Cluster(format!("cannot reach worker {address}: {e}")))?;
        self.lock().insert(address.to_string(), channel.clone());
        Ok(channel)
    }

    /// Forget the connection to `address` (after it failed).
    pub fn forget(&self, address: &str) {
        self.lock().remove(address);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Channel>> {
        self.channels.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The worker at `address` was declared dead: fail the transfers with it that are in
    /// flight (they would otherwise wait out [`STALL_TIMEOUT`], the connect timeout or
    /// TCP's own on a cut link), drop its connection, and refuse new transfers with it
    /// until [`PeerPool::declare_alive`] (tasks queued before the news still list it).
    pub fn declare_gone(&self, address: &str) {
        self.forget(address);
        self.gone_flags()
            .entry(address.to_string())
            .or_insert_with(|| watch::channel(false).0)
            .send_replace(true);
    }

    /// `address` serves data again: the scheduler named it in a task sent after it
    /// declared the worker there dead (a worker that rejoined on the same address).
    pub fn declare_alive(&self, address: &str) {
        let mut flags = self.gone_flags();
        if flags.get(address).is_some_and(|f| *f.borrow()) {
            // A fresh flag: transfers still watching the old one fail as they should.
            flags.insert(address.to_string(), watch::channel(false).0);
        }
    }

    fn gone_flags(&self) -> std::sync::MutexGuard<'_, HashMap<String, watch::Sender<bool>>> {
        self.gone.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Run `transfer` with the worker at `address` unless it is (or is declared) gone.
    async fn unless_gone<T>(
        &self,
        address: &str,
        what: &str,
        transfer: impl std::future::Future<Output = Result<T>>,
    ) -> Result<T> {
        let mut gone = self
            .gone_flags()
            .entry(address.to_string())
            .or_insert_with(|| watch::channel(false).0)
            .subscribe();
        let refused = || {
            Err(Error::Cluster(format!(
                "{what}: the scheduler declared worker {address} dead"
            )))
        };
        if *gone.borrow_and_update() {
            return refused();
        }
        tokio::select! {
            result = transfer => result,
            _ = gone.wait_for(|&g| g) => refused(),
        }
    }

    async fn client(&self, address: &str) -> Result<FlightServiceClient<AuthedChannel>> {
        let channel = authed(self.channel(address).await?, &self.security);
        Ok(FlightServiceClient::new(channel)
            .max_decoding_message_size(MAX_FLIGHT_MESSAGE)
            .max_encoding_message_size(MAX_FLIGHT_MESSAGE))
    }

    /// Fetch the value `key` (only bucket `bucket` of it, if given) from the worker at
    /// `address`.
    pub async fn fetch(&self, address: &str, key: &TaskKey, bucket: Option<u32>) -> Result<Value> {
        let what = format!("fetching {key} from {address}");
        let result = self
            .unless_gone(address, &what, self.fetch_once(address, key, bucket))
            .await;
        if result.is_err() {
            self.forget(address);
        }
        result
    }

    async fn fetch_once(&self, address: &str, key: &TaskKey, bucket: Option<u32>) -> Result<Value> {
        let mut client = self.client(address).await?;
        let ticket = Ticket::new(ticket_bytes(key, bucket));
        let stalled = || {
            Error::Cluster(format!(
                "{address} made no progress sending {key} for {STALL_TIMEOUT:?}"
            ))
        };
        let stream = tokio::time::timeout(STALL_TIMEOUT, client.do_get(ticket))
            .await
            .map_err(|_| stalled())?
            .map_err(|s| Error::Cluster(format!("fetching {key} from {address}: {}", s.message())))?
            .into_inner()
            .map_err(|s| arrow_flight::error::FlightError::Tonic(Box::new(s)));
        // Every next message must arrive within the stall timeout.
        let stream = tokio_stream::StreamExt::timeout(stream, STALL_TIMEOUT).map(|item| {
            item.unwrap_or_else(|_| {
                Err(arrow_flight::error::FlightError::Tonic(Box::new(
                    tonic::Status::deadline_exceeded("the peer stopped sending the chunk"),
                )))
            })
        });
        crate::flight::decode_value(stream)
            .await
            .map_err(|e| match e {
                Error::Cluster(m) => Error::Cluster(format!("fetching {key} from {address}: {m}")),
                Error::Decode(m) => Error::Decode(format!("chunk {key} from {address}: {m}")),
                other => other,
            })
    }

    /// Fetch `key` (or one bucket of it) from the first of `holders` that answers.
    pub async fn fetch_any(
        &self,
        holders: &[String],
        key: &TaskKey,
        bucket: Option<u32>,
    ) -> Result<Value> {
        let mut last = Error::Cluster(format!("no worker holds {key}"));
        for address in holders {
            match self.fetch(address, key, bucket).await {
                Ok(chunk) => return Ok(chunk),
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    /// Put `chunk` (an array chunk or table partition) under `key` on the worker at `address`.
    pub async fn put(&self, address: &str, key: &TaskKey, chunk: &Value) -> Result<()> {
        self.put_path(address, vec![key.to_string()], chunk).await
    }

    /// Put `chunk` on the worker at `address` with a `DoPut` whose descriptor path is `path`
    /// (a key, or a shuffle piece header). A failed connection is forgotten.
    ///
    /// Boxed, so that callers inside spawned tasks stay `Send` (rustc cannot prove it for
    /// every lifetime of the borrowed arguments through the Flight stream adapters).
    pub fn put_path<'a>(
        &'a self,
        address: &'a str,
        path: Vec<String>,
        chunk: &'a Value,
    ) -> futures::future::BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let what = format!("putting {} on {address}", path.join("/"));
            let result = self
                .unless_gone(address, &what, self.put_once(address, path, chunk))
                .await;
            if result.is_err() {
                self.forget(address);
            }
            result
        })
    }

    async fn put_once(&self, address: &str, path: Vec<String>, chunk: &Value) -> Result<()> {
        let mut client = self.client(address).await?;
        let key = path.join("/");
        let messages = put_messages(chunk, path);
        let mut results = client
            .do_put(tonic::Request::new(messages))
            .await
            .map_err(|s| Error::Cluster(format!("putting {key} on {address}: {}", s.message())))?
            .into_inner();
        while let Some(r) = results.next().await {
            r.map_err(|s| Error::Cluster(format!("putting {key} on {address}: {}", s.message())))?;
        }
        Ok(())
    }
}

/// The `DoPut` messages of `chunk`, the first carrying the descriptor `path`. Encoded up
/// front (the encoder is pure CPU work over shared buffers) into a plain `'static`
/// stream: a stream adapter borrowing anything makes rustc fail to prove the put's
/// future `Send` inside spawned tasks.
fn put_messages(
    chunk: &Value,
    path: Vec<String>,
) -> futures::stream::Iter<std::vec::IntoIter<FlightData>> {
    let encoded: Vec<FlightData> =
        futures::executor::block_on(encode_value(chunk).collect::<Vec<_>>())
            .into_iter()
            .filter_map(|m| {
                m.map_err(|e| tracing::error!("encoding chunk for DoPut: {e}"))
                    .ok()
            })
            .collect();
    let mut encoded = encoded;
    if let Some(first) = encoded.first_mut() {
        first.flight_descriptor = Some(FlightDescriptor::new_path(path));
    }
    futures::stream::iter(encoded)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    /// A port that accepts TCP connections and never speaks HTTP/2: a transfer to it
    /// waits (as with a frozen peer or a cut link) until something ends it.
    fn silent_peer() -> (std::net::TcpListener, String) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap().to_string();
        (listener, address)
    }

    #[tokio::test]
    async fn declaring_a_peer_gone_ends_its_transfers_at_once_until_it_is_named_again() {
        let pool = Arc::new(PeerPool::default());
        let (_listener, address) = silent_peer();
        let key = TaskKey::new("x-1");

        let started = Instant::now();
        let fetch = tokio::spawn({
            let (pool, address, key) = (pool.clone(), address.clone(), key.clone());
            async move { pool.fetch(&address, &key, None).await }
        });
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(!fetch.is_finished(), "the silent peer answered");
        pool.declare_gone(&address);
        let err = fetch.await.unwrap().unwrap_err().to_string();
        assert!(
            err.contains("declared worker") && err.contains(&address),
            "{err}"
        );
        assert!(
            started.elapsed() < CONNECT_TIMEOUT / 2,
            "{:?}",
            started.elapsed()
        );

        // Later transfers (tasks queued before the news) are refused without connecting.
        let started = Instant::now();
        let err = pool
            .fetch(&address, &key, None)
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("declared worker"), "{err}");
        let chunk = Value::from(tessera_core::Chunk::from_ndarray(
            ndarray::ArrayD::from_elem(ndarray::IxDyn(&[1]), 1.0f64),
        ));
        let err = pool
            .put(&address, &key, &chunk)
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("declared worker") && err.contains("putting"),
            "{err}"
        );
        assert!(started.elapsed() < Duration::from_millis(100));

        // Named again by the scheduler: transfers try the address again.
        pool.declare_alive(&address);
        let retry =
            tokio::time::timeout(Duration::from_millis(300), pool.fetch(&address, &key, None))
                .await;
        assert!(retry.is_err(), "the fetch was refused instead of tried");
    }
}
