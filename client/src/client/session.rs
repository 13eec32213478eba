//! The client's half of the scheduler session: events become key statuses, and a session
//! that ends, fails or falls silent for the scheduler's timeout fails every wait at once.

use super::{ClientInner, KeyStatus, lock};
use std::sync::Weak;
use std::time::Duration;
use tessera_core::TaskKey;
use tessera_core::wire::ClientEvent;

/// Apply the scheduler's events to the client until the session is lost, then fail what
/// waits on it with the reason, which names the scheduler at `address`. `silence_limit`:
/// how long the scheduler may send nothing (it sends a heartbeat every interval) before it
/// counts as frozen or unreachable; `None` waits forever.
pub(super) async fn read_events(
    weak: Weak<ClientInner>,
    mut inbound: tonic::Streaming<Vec<ClientEvent>>,
    address: String,
    silence_limit: Option<Duration>,
) {
    let reason = loop {
        let next = match silence_limit {
            Some(limit) => match tokio::time::timeout(limit, inbound.message()).await {
                Ok(next) => next,
                Err(_) => {
                    break format!(
                        "lost the scheduler at {address}: no message from it for {:.1} s (its \
                         worker timeout); it is frozen or unreachable",
                        limit.as_secs_f64()
                    );
                }
            },
            None => inbound.message().await,
        };
        match next {
            Ok(Some(events)) => {
                let Some(inner) = weak.upgrade() else { return };
                for event in events {
                    inner.handle(event);
                }
            }
            Ok(None) => break format!("the scheduler at {address} closed the session"),
            Err(s) => break format!("lost the scheduler at {address}: {}", s.message()),
        }
    };
    if let Some(inner) = weak.upgrade() {
        tracing::error!("{reason}");
        inner.lose_everything(&reason);
    }
}

impl ClientInner {
    /// Apply one event from the scheduler.
    fn handle(&self, event: ClientEvent) {
        match event {
            ClientEvent::Welcome { client_id, .. } => tracing::debug!(client_id, "connected"),
            ClientEvent::Heartbeat => {}
            ClientEvent::Submitted { id, error } => {
                if let Some(tx) = lock(&self.submissions).remove(&id) {
                    let _ = tx.send(error);
                }
            }
            ClientEvent::InMemory { key, holders, .. } => {
                self.set(&key, KeyStatus::InMemory { holders })
            }
            ClientEvent::Erred { key, error } => self.set(&key, KeyStatus::Erred(error)),
            ClientEvent::Progress(p) => self.progress.update(p),
        }
    }

    /// Publish a wanted key's new status.
    fn set(&self, key: &TaskKey, status: KeyStatus) {
        if let Some(entry) = lock(&self.keys).get(key) {
            entry.status.send_replace(status);
        }
    }

    /// The session is gone: fail every pending wait and submission with `reason`, and
    /// every later call.
    fn lose_everything(&self, reason: &str) {
        let _ = self.closed.set(reason.to_string());
        for entry in lock(&self.keys).values() {
            if matches!(
                *entry.status.borrow(),
                KeyStatus::Pending | KeyStatus::InMemory { .. }
            ) {
                entry
                    .status
                    .send_replace(KeyStatus::Lost(reason.to_string()));
            }
        }
        for (_, tx) in lock(&self.submissions).drain() {
            let _ = tx.send(Some(reason.to_string()));
        }
    }
}
