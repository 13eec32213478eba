//! The worker's session with its scheduler: register (listing the results it holds), read
//! commands with a silence limit, and reconnect with backoff after the scheduler is lost.

use std::future::Future;
use std::time::{Duration, Instant};
use tessera_core::wire::{SchedulerMessage, WorkerId, WorkerMessage, WorkerRegistration};
use tessera_core::{Error, Result};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Response, Status, Streaming};

/// Longest a single reconnection attempt may take: a frozen scheduler accepts the TCP
/// connection (the kernel does) but never answers the registration.
const ATTEMPT_LIMIT: Duration = Duration::from_secs(10);
/// First pause between reconnection attempts; it doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
/// Longest pause between reconnection attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(2);

/// One registered session with the scheduler.
pub(crate) struct Session {
    /// Messages from the scheduler.
    inbound: Streaming<SchedulerMessage>,
    /// Messages to the scheduler (the session's request stream).
    pub outbound: mpsc::Sender<WorkerMessage>,
    /// The id the scheduler gave this worker for this session.
    pub worker_id: WorkerId,
    /// How often the scheduler wants heartbeats.
    pub heartbeat_interval: Duration,
    /// Silence after which the scheduler counts as lost (`None`: never).
    silence_limit: Option<Duration>,
}

impl Session {
    /// The next message, or why the scheduler is lost: the session closed or failed, or
    /// nothing (not even a heartbeat) came for longer than the scheduler's worker timeout.
    pub async fn next(&mut self) -> std::result::Result<SchedulerMessage, String> {
        let message = match self.silence_limit {
            Some(limit) => match tokio::time::timeout(limit, self.inbound.message()).await {
                Ok(m) => m,
                Err(_) => {
                    return Err(format!(
                        "no message from it for {:.1} s (the worker timeout); it is frozen \
                         or unreachable",
                        limit.as_secs_f64()
                    ));
                }
            },
            None => self.inbound.message().await,
        };
        match message {
            Ok(Some(m)) => Ok(m),
            Ok(None) => Err("it closed the session".to_string()),
            Err(s) => Err(format!("the session failed: {}", s.message())),
        }
    }
}

/// Open a session: send `registration`, start the stream with `open` (the scheduler
/// client's `worker_session` call) and wait for `Welcome`.
pub(crate) async fn open<F, Fut>(open: &F, registration: WorkerRegistration) -> Result<Session>
where
    F: Fn(ReceiverStream<WorkerMessage>) -> Fut,
    Fut: Future<Output = std::result::Result<Response<Streaming<SchedulerMessage>>, Status>>,
{
    let (outbound, outbound_rx) = mpsc::channel::<WorkerMessage>(64);
    outbound
        .send(WorkerMessage::Register(registration))
        .await
        .map_err(|_| Error::Cluster("session closed before registering".into()))?;
    let mut inbound = open(ReceiverStream::new(outbound_rx))
        .await
        .map_err(|s| match s.code() {
            tonic::Code::Unavailable => {
                Error::Cluster(format!("cannot reach the scheduler: {}", s.message()))
            }
            _ => Error::Cluster(format!("scheduler refused the worker: {}", s.message())),
        })?
        .into_inner();
    match inbound.message().await {
        Ok(Some(SchedulerMessage::Welcome {
            worker_id,
            heartbeat_interval_ms,
            worker_timeout_ms,
        })) => Ok(Session {
            inbound,
            outbound,
            worker_id,
            heartbeat_interval: Duration::from_millis(heartbeat_interval_ms.max(10)),
            silence_limit: (worker_timeout_ms > 0)
                .then(|| Duration::from_millis(worker_timeout_ms)),
        }),
        Ok(other) => Err(Error::Cluster(format!(
            "expected Welcome from the scheduler, got {other:?}"
        ))),
        Err(s) => Err(Error::Cluster(format!(
            "scheduler session failed: {}",
            s.message()
        ))),
    }
}

/// Open a new session after the scheduler was lost, retrying with backoff for up to
/// `within`; each attempt registers with a fresh `registration()` (the held results
/// change while the worker waits). The error says how many attempts failed and how the
/// last one did.
pub(crate) async fn reopen<F, Fut>(
    open_stream: &F,
    registration: impl Fn() -> WorkerRegistration,
    within: Duration,
) -> std::result::Result<Session, String>
where
    F: Fn(ReceiverStream<WorkerMessage>) -> Fut,
    Fut: Future<Output = std::result::Result<Response<Streaming<SchedulerMessage>>, Status>>,
{
    let deadline = Instant::now() + within;
    let mut pause = FIRST_BACKOFF;
    let mut attempts = 0u32;
    let mut last = String::from("no attempt made");
    loop {
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            return Err(format!("{attempts} attempts failed, the last with: {last}"));
        }
        let limit = remaining.min(ATTEMPT_LIMIT);
        attempts += 1;
        last = match tokio::time::timeout(limit, open(open_stream, registration())).await {
            Ok(Ok(session)) => return Ok(session),
            Ok(Err(Error::Cluster(message))) => message,
            Ok(Err(e)) => e.to_string(),
            Err(_) => format!("no answer within {:.1} s", limit.as_secs_f64()),
        };
        tracing::debug!(attempts, "reconnecting to the scheduler failed: {last}");
        let remaining = deadline.saturating_duration_since(Instant::now());
        tokio::time::sleep(pause.min(remaining)).await;
        pause = (pause * 2).min(MAX_BACKOFF);
    }
}
