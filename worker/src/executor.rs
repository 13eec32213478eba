//! Runs assigned tasks: gathers inputs (local store or peers, concurrently), runs the
//! kernel on the rayon pool with panics caught, stores the result and reports the outcome.

#[path = "shuffle_exec.rs"]
mod shuffle_exec;

use crate::memory::MemoryGuard;
use crate::metrics::Counters;
use crate::peers::PeerPool;
use crate::shuffle::ShuffleBuffers;
use crate::store::ChunkStore;
use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tessera_core::wire::{ComputeTask, InputLocation, WorkerEvent};
use tessera_core::{TaskKey, Value, codec, kernels, ops::Op};
use tokio::sync::{mpsc, oneshot};

const QUEUED: u8 = 0;
const RUNNING: u8 = 1;
const STOLEN: u8 = 2;

/// Executes tasks for one worker.
pub struct Executor {
    store: Arc<ChunkStore>,
    peers: Arc<PeerPool>,
    pool: rayon::ThreadPool,
    events: mpsc::UnboundedSender<WorkerEvent>,
    counters: Arc<Counters>,
    self_address: String,
    slots: Mutex<HashMap<TaskKey, Arc<AtomicU8>>>,
    shuffles: Arc<ShuffleBuffers>,
    memory: Arc<MemoryGuard>,
    /// Tasks that may hold their gathered inputs at once (running or about to): more
    /// queued tasks wait before fetching or reading back their inputs, so that inputs
    /// waiting for a thread cannot fill the worker's memory.
    prefetch: tokio::sync::Semaphore,
}

/// Tasks per kernel thread that may hold their inputs at once (one running, one ready).
const PREFETCH_PER_THREAD: usize = 2;

impl Executor {
    /// An executor with `threads` kernel threads, reporting on `events`; shuffle tasks
    /// use `shuffles` (this worker's buffers); no task starts while `memory` says the
    /// process is past its pause line.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        store: Arc<ChunkStore>,
        peers: Arc<PeerPool>,
        counters: Arc<Counters>,
        threads: usize,
        self_address: String,
        events: mpsc::UnboundedSender<WorkerEvent>,
        shuffles: Arc<ShuffleBuffers>,
        memory: Arc<MemoryGuard>,
    ) -> std::io::Result<Arc<Self>> {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads.max(1))
            .thread_name(|i| format!("tessera-kernel-{i}"))
            .build()
            .map_err(std::io::Error::other)?;
        Ok(Arc::new(Executor {
            store,
            peers,
            pool,
            events,
            counters,
            self_address,
            slots: Mutex::new(HashMap::new()),
            shuffles,
            memory,
            prefetch: tokio::sync::Semaphore::new(threads.max(1) * PREFETCH_PER_THREAD),
        }))
    }

    fn slots(&self) -> std::sync::MutexGuard<'_, HashMap<TaskKey, Arc<AtomicU8>>> {
        self.slots.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Start a task in the background (must be called inside the tokio runtime).
    pub fn compute(self: &Arc<Self>, task: ComputeTask) {
        // A shuffle task always runs: its effect (pieces pushed for its attempt) is not
        // the stored marker.
        if task.shuffle.is_none() && self.store.contains(&task.key) {
            let nbytes = self.store.nbytes(&task.key).unwrap_or(0);
            self.report(WorkerEvent::TaskFinished {
                key: task.key,
                nbytes,
                duration_us: 0,
                started_unix_us: 0,
                thread: 0,
            });
            return;
        }
        let slot = Arc::new(AtomicU8::new(QUEUED));
        if let Some(old) = self.slots().insert(task.key.clone(), slot.clone()) {
            // Assigned again while an earlier run is queued here: the scheduler gave up on
            // that one (an input was lost, the task was re-placed), and this assignment
            // carries fresh input locations. The old run is retired if it has not started;
            // if it is running, both finish and the scheduler accepts the first result.
            if old
                .compare_exchange(QUEUED, STOLEN, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
            {
                Counters::sub(&self.counters.queued, 1);
            }
        }
        Counters::add(&self.counters.queued, 1);
        let this = self.clone();
        tokio::spawn(async move {
            let key = task.key.clone();
            this.run(task, slot.clone()).await;
            let mut slots = this.slots();
            // Only remove our own slot: a newer assignment of the key may have replaced it.
            if slots.get(&key).is_some_and(|s| Arc::ptr_eq(s, &slot)) {
                slots.remove(&key);
            }
        });
    }

    /// Take back a task that has not started; true when it will not run here.
    pub fn steal(&self, key: &TaskKey) -> bool {
        let Some(slot) = self.slots().get(key).cloned() else {
            return false;
        };
        let stolen = slot
            .compare_exchange(QUEUED, STOLEN, Ordering::AcqRel, Ordering::Acquire)
            .is_ok();
        if stolen {
            self.slots().remove(key);
            Counters::sub(&self.counters.queued, 1);
        }
        stolen
    }

    /// Report a result: shuffle tasks name their attempt.
    fn finished(&self, task: &ComputeTask, nbytes: u64, run: crate::timing::RunInfo) {
        crate::prom::task_ran(&task.key, run.elapsed());
        let (key, duration_us) = (task.key.clone(), run.duration_us);
        let (started_unix_us, thread) = (run.started_unix_us, run.thread);
        self.report(match &task.shuffle {
            Some(a) => WorkerEvent::ShuffleTaskFinished {
                key,
                attempt: a.attempt,
                nbytes,
                duration_us,
                started_unix_us,
                thread,
            },
            None => WorkerEvent::TaskFinished {
                key,
                nbytes,
                duration_us,
                started_unix_us,
                thread,
            },
        });
    }

    fn report(&self, event: WorkerEvent) {
        // The session is gone only when the worker is shutting down.
        let _ = self.events.send(event);
    }

    fn fail(&self, key: TaskKey, message: String, missing_inputs: Vec<TaskKey>) {
        self.report(WorkerEvent::TaskFailed {
            key,
            message,
            missing_inputs,
        });
    }

    async fn run(self: &Arc<Self>, task: ComputeTask, slot: Arc<AtomicU8>) {
        let key = task.key.clone();
        let op: Op = match codec::decode(&task.op) {
            Ok(op) => op,
            Err(e) => {
                Counters::sub(&self.counters.queued, 1);
                return self.fail(key, format!("undecodable op: {e}"), vec![]);
            }
        };
        // Barrier and unpack tasks read nothing: their inputs are markers that only order
        // them after the transfers.
        let needs_inputs = !matches!(op, Op::ShuffleBarrier { .. } | Op::ShuffleUnpack { .. });
        // Held until this run ends (the semaphore is never closed).
        let _inputs_permit = if needs_inputs {
            self.prefetch.acquire().await.ok()
        } else {
            None
        };
        if slot.load(Ordering::Acquire) == STOLEN {
            return; // taken back while waiting for a permit
        }
        let buckets = match &op {
            Op::TableStage(stage) => stage.input_buckets(task.inputs.len()),
            _ => vec![None; task.inputs.len()],
        };
        let gathered = if needs_inputs {
            self.gather(&task.inputs, &buckets).await
        } else {
            Ok(Vec::new())
        };
        let step = matches!(op, Op::ShuffleTransfer { .. } | Op::ShuffleUnpack { .. });
        if let Some(assignment) = task.shuffle.clone().filter(|_| step) {
            let chunks = gathered.and_then(|inputs| {
                inputs
                    .into_iter()
                    .map(|v| v.into_chunk(op.name()))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| (vec![], e.to_string()))
            });
            return match chunks {
                Ok(inputs) => self.run_shuffle(key, assignment, op, inputs, slot).await,
                Err((missing, message)) => {
                    if slot.load(Ordering::Acquire) != STOLEN {
                        Counters::sub(&self.counters.queued, 1);
                        self.fail(key, message, missing);
                    }
                }
            };
        }
        let inputs = match gathered {
            Ok(inputs) => inputs,
            Err((missing, message)) => {
                if slot.load(Ordering::Acquire) != STOLEN {
                    Counters::sub(&self.counters.queued, 1);
                    self.fail(key, message, missing);
                }
                return;
            }
        };
        let (tx, rx) = oneshot::channel();
        let counters = self.counters.clone();
        let run_slot = slot.clone();
        let span = tracing::info_span!("task", key = %key);
        let (store, memory, store_key) = (self.store.clone(), self.memory.clone(), key.clone());
        self.pool.spawn(move || {
            let _span = span.enter();
            // Paused for memory, the task stays queued (and can be stolen).
            memory.wait_for_room();
            if run_slot
                .compare_exchange(QUEUED, RUNNING, Ordering::AcqRel, Ordering::Acquire)
                .is_err()
            {
                let _ = tx.send(None);
                return;
            }
            Counters::sub(&counters.queued, 1);
            Counters::add(&counters.executing, 1);
            let clock = crate::timing::RunClock::start();
            let result =
                std::panic::catch_unwind(AssertUnwindSafe(|| kernels::execute_value(&op, inputs)));
            // Stored here, on the kernel thread, where spilling to disk may block.
            let result = result.map(|r| {
                r.map(|value| {
                    let nbytes = value.nbytes() as u64;
                    store.put(store_key, value);
                    nbytes
                })
            });
            Counters::sub(&counters.executing, 1);
            let _ = tx.send(Some((result, clock.stop())));
        });
        let Ok(Some((result, run))) = rx.await else {
            return; // stolen before it started
        };
        match result {
            Ok(Ok(nbytes)) => {
                Counters::add(&self.counters.tasks_done, 1);
                self.finished(&task, nbytes, run);
            }
            Ok(Err(e)) => self.fail(key, e.to_string(), vec![]),
            Err(panic) => {
                let message = kernels::panic_message(panic.as_ref());
                self.fail(key, format!("kernel panicked: {message}"), vec![]);
            }
        }
    }

    /// Collect the inputs: local ones from the store, the rest fetched concurrently (only
    /// the one bucket a table task needs of a shuffle producer's output, where it says so).
    async fn gather(
        &self,
        inputs: &[InputLocation],
        buckets: &[Option<u32>],
    ) -> Result<Vec<Value>, (Vec<TaskKey>, String)> {
        let fetches = inputs
            .iter()
            .zip(buckets)
            .map(|(input, bucket)| async move {
                let local = if self.store.is_spilled(&input.key) {
                    let (store, key) = (self.store.clone(), input.key.clone());
                    tokio::task::spawn_blocking(move || store.get(&key))
                        .await
                        .unwrap_or_else(|e| Err(tessera_core::Error::other(e.to_string())))
                } else {
                    self.store.get(&input.key)
                };
                match local {
                    Ok(Some(value)) => return Ok(value),
                    Ok(None) => {}
                    Err(e) => return Err((input.key.clone(), e.to_string())),
                }
                let holders: Vec<String> = input
                    .holders
                    .iter()
                    .filter(|h| **h != self.self_address)
                    .cloned()
                    .collect();
                let started = Instant::now();
                let chunk = self
                    .peers
                    .fetch_any(&holders, &input.key, *bucket)
                    .await
                    .map_err(|e| (input.key.clone(), e.to_string()))?;
                let nbytes = chunk.nbytes() as u64;
                Counters::add(&self.counters.bytes_received, nbytes);
                Counters::add(&self.counters.fetched_bytes, nbytes);
                Counters::add(
                    &self.counters.fetch_micros,
                    started.elapsed().as_micros().max(1) as u64,
                );
                Ok(chunk)
            });
        let results = futures::future::join_all(fetches).await;
        let mut chunks = Vec::with_capacity(results.len());
        let mut missing = Vec::new();
        let mut messages = Vec::new();
        for r in results {
            match r {
                Ok(c) => chunks.push(c),
                Err((key, message)) => {
                    missing.push(key);
                    messages.push(message);
                }
            }
        }
        if missing.is_empty() {
            Ok(chunks)
        } else {
            Err((missing, messages.join("; ")))
        }
    }
}
