//! The executor's shuffle steps: a transfer cuts its input and pushes the pieces to their
//! owners, an unpack builds its partition from this worker's shuffle buffer.

use super::{Executor, QUEUED, RUNNING};
use crate::metrics::Counters;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use tessera_core::shuffle::ShuffleAssignment;
use tessera_core::wire::WorkerEvent;
use tessera_core::{Chunk, TaskKey, ops::Op};
use tokio::sync::oneshot;

impl Executor {
    /// Start `f` on the kernel pool with panics caught; await the answer with [`pool_result`].
    /// (A plain function, not an `async fn` borrowing `self`: the future stays `Send` for
    /// every lifetime, which `tokio::spawn` needs.)
    fn on_pool<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> tessera_core::Result<T> + Send + 'static,
    ) -> oneshot::Receiver<std::thread::Result<tessera_core::Result<T>>> {
        let (tx, rx) = oneshot::channel();
        self.pool.spawn(move || {
            let _ = tx.send(std::panic::catch_unwind(AssertUnwindSafe(f)));
        });
        rx
    }

    /// A transfer (cut the input, push the pieces to their owners) or an unpack (build the
    /// partition from the local buffer). A broken attempt (owner unreachable, piece
    /// missing) is reported as `ShuffleTaskFailed`, so the scheduler restarts the shuffle;
    /// a malformed op fails the task like any kernel error.
    pub(super) async fn run_shuffle(
        self: &Arc<Self>,
        key: TaskKey,
        assignment: ShuffleAssignment,
        op: Op,
        inputs: Vec<Chunk>,
        slot: Arc<AtomicU8>,
    ) {
        if slot
            .compare_exchange(QUEUED, RUNNING, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            return; // stolen before it started
        }
        Counters::sub(&self.counters.queued, 1);
        Counters::add(&self.counters.executing, 1);
        let clock = crate::timing::RunClock::start();
        let outcome = self.shuffle_step(&assignment, op, inputs).await;
        Counters::sub(&self.counters.executing, 1);
        match outcome {
            Ok(chunk) => {
                let nbytes = chunk.nbytes() as u64;
                self.store.put(key.clone(), chunk);
                Counters::add(&self.counters.tasks_done, 1);
                let run = clock.stop();
                crate::prom::task_ran(&key, run.elapsed());
                self.report(WorkerEvent::ShuffleTaskFinished {
                    key,
                    attempt: assignment.attempt,
                    nbytes,
                    duration_us: run.duration_us,
                    started_unix_us: run.started_unix_us,
                    thread: run.thread,
                });
            }
            Err(tessera_core::Error::Cluster(message)) => {
                self.report(WorkerEvent::ShuffleTaskFailed {
                    key,
                    attempt: assignment.attempt,
                    message,
                });
            }
            Err(e) => self.fail(key, e.to_string(), vec![]),
        }
    }

    async fn shuffle_step(
        &self,
        assignment: &ShuffleAssignment,
        op: Op,
        inputs: Vec<Chunk>,
    ) -> tessera_core::Result<Chunk> {
        use tessera_core::Error;
        match op {
            Op::ShuffleTransfer {
                shuffle,
                source,
                split,
            } => {
                if shuffle != assignment.id {
                    return Err(Error::other(format!(
                        "transfer of shuffle {shuffle} assigned as part of shuffle {}",
                        assignment.id
                    )));
                }
                let [input] = <[Chunk; 1]>::try_from(inputs).map_err(|v| {
                    Error::other(format!("a shuffle transfer takes 1 input, got {}", v.len()))
                })?;
                let pieces = pool_result(
                    self.on_pool(move || tessera_core::shuffle::split(&split, &input))
                        .await,
                )?;
                crate::shuffle::push_pieces(
                    self.shuffles.clone(),
                    self.peers.clone(),
                    self.counters.clone(),
                    self.self_address.clone(),
                    assignment,
                    source,
                    pieces,
                )
                .await?;
                Ok(tessera_core::shuffle::marker())
            }
            Op::ShuffleUnpack {
                shuffle,
                partition,
                merge,
            } => {
                if shuffle != assignment.id {
                    return Err(Error::other(format!(
                        "unpack of shuffle {shuffle} assigned as part of shuffle {}",
                        assignment.id
                    )));
                }
                let (id, attempt) = (assignment.id.clone(), assignment.attempt);
                let pieces = self.shuffles.pieces(&id, attempt, partition);
                let chunk = pool_result(
                    self.on_pool(move || tessera_core::shuffle::merge(&merge, &pieces))
                        .await,
                )
                .map_err(|e| match e {
                    Error::Cluster(m) => Error::Cluster(format!(
                        "shuffle {id} attempt {attempt} partition {partition}: {m}"
                    )),
                    other => other,
                })?;
                self.shuffles.remove_partition(&id, attempt, partition);
                Ok(chunk)
            }
            other => Err(Error::other(format!(
                "{} is not a shuffle step",
                other.name()
            ))),
        }
    }
}

/// The answer of a closure run with `Executor::on_pool`: its result, or its panic as an error.
fn pool_result<T>(
    answer: Result<std::thread::Result<tessera_core::Result<T>>, oneshot::error::RecvError>,
) -> tessera_core::Result<T> {
    match answer {
        Ok(Ok(r)) => r,
        Ok(Err(panic)) => Err(tessera_core::Error::other(format!(
            "kernel panicked: {}",
            tessera_core::kernels::panic_message(panic.as_ref())
        ))),
        Err(_) => Err(tessera_core::Error::other(
            "the kernel pool dropped the task",
        )),
    }
}
