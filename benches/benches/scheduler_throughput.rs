//! Scheduler throughput: the pure state machine with 1,000 fake workers (2 threads each) and
//! about a million tasks, driven to completion by answering `Compute` with `TaskFinished` batches.
//!
//! The graph is 450,000 root chunks, pairwise sums of them (fan-in 2), an elementwise map
//! (fan-in 1), sums of three (fan-in 3), then a tree reduction with fan-in 4 down to one
//! result, submitted in C order with only the final key wanted. A decision is one `Compute`
//! command. Time covers submit (including graph validation) and all event handling; fake
//! workers do no I/O and ignore `Release`. As on the wire, every key the scheduler receives
//! is its own allocation: the submission is decoded from bytes before each run (untimed), and
//! fake workers report keys as fresh copies (as a decoded `TaskFinished` would carry).

use std::collections::VecDeque;
use std::time::{Duration, Instant};
use tessera_core::codec;
use tessera_core::graph::{Task, TaskGraph};
use tessera_core::key::TaskKey;
use tessera_core::wire::{Submission, WorkerCommand, WorkerEvent, WorkerRegistration};
use tessera_scheduler::{Outputs, SchedulerConfig, SchedulerState};

const WORKERS: usize = 1_000;
const THREADS: usize = 2;
const ROOTS: usize = 450_000;
const RUNS: usize = 3;

fn key(name: &str, i: usize) -> TaskKey {
    TaskKey::new(format!("{name}-6f1c0e9a2b44d1c8a3e0:{i}"))
}

fn layer(tasks: &mut Vec<Task>, name: &str, inputs: &[TaskKey], fan_in: usize) -> Vec<TaskKey> {
    inputs
        .chunks(fan_in)
        .enumerate()
        .map(|(i, chunk)| {
            let k = key(name, i);
            tasks.push(Task {
                key: k.clone(),
                inputs: chunk.to_vec(),
                op: vec![0; 24],
                nbytes_hint: 8 << 20,
            });
            k
        })
        .collect()
}

fn build_graph() -> (Vec<Task>, TaskKey) {
    let mut tasks = Vec::with_capacity(1_000_100);
    let roots: Vec<TaskKey> = (0..ROOTS)
        .map(|i| {
            let k = key("random", i);
            tasks.push(Task {
                key: k.clone(),
                inputs: vec![],
                op: vec![0; 24],
                nbytes_hint: 8 << 20,
            });
            k
        })
        .collect();
    let pairs = layer(&mut tasks, "add", &roots, 2);
    let mapped = layer(&mut tasks, "sqrt", &pairs, 1);
    let mut level = layer(&mut tasks, "sum3", &mapped, 3);
    let mut depth = 0;
    while level.len() > 1 {
        depth += 1;
        level = layer(&mut tasks, &format!("tree{depth}"), &level, 4);
    }
    (tasks, level[0].clone())
}

struct Fake {
    queues: Vec<VecDeque<TaskKey>>,
    answers: Vec<Vec<WorkerEvent>>,
    decisions: u64,
}

impl Fake {
    fn route(&mut self, out: Outputs) {
        for (w, cmd) in out.to_workers {
            let w = w as usize;
            match cmd {
                WorkerCommand::Compute(t) => {
                    self.decisions += 1;
                    self.queues[w].push_back(t.key);
                }
                WorkerCommand::Release(_)
                | WorkerCommand::ForgetShuffle { .. }
                | WorkerCommand::PeerGone { .. } => {}
                WorkerCommand::Steal(key) => {
                    let q = &mut self.queues[w];
                    let pos = q.iter().position(|k| *k == key).filter(|&p| p >= THREADS);
                    if let Some(p) = pos {
                        q.remove(p);
                    }
                    self.answers[w].push(WorkerEvent::StealAnswer {
                        key,
                        stolen: pos.is_some(),
                    });
                }
            }
        }
    }
}

struct Run {
    total: Duration,
    submit: Duration,
    decisions: u64,
}

fn run(sub: Submission) -> Run {
    let wanted = sub.wanted[0].clone();
    // The documented policy, pinned so that the figure does not move with the defaults.
    let config = SchedulerConfig {
        allowed_failures: 3,
        root_slack: 2,
        work_stealing: true,
    };
    let mut s = SchedulerState::new(config);
    let mut fake = Fake {
        queues: vec![VecDeque::new(); WORKERS],
        answers: vec![Vec::new(); WORKERS],
        decisions: 0,
    };
    for i in 0..WORKERS {
        let reg = WorkerRegistration {
            data_address: format!("10.0.{}.{}:7000", i / 250, i % 250),
            threads: THREADS as u32,
            memory_limit: 16 << 30,
            pid: i as u32,
            name: format!("w{i}"),
            metrics_address: String::new(),
            held: Vec::new(),
        };
        let (id, out) = s.add_worker(reg, 0);
        assert_eq!(id as usize, i);
        fake.route(out);
    }
    let client = s.add_client();
    let start = Instant::now();
    let out = s.submit(client, sub);
    let submit = start.elapsed();
    fake.route(out);
    let mut now = 0;
    loop {
        let mut moved = false;
        now += 1;
        for w in 0..WORKERS {
            let mut events = std::mem::take(&mut fake.answers[w]);
            for _ in 0..THREADS {
                let Some(key) = fake.queues[w].pop_front() else {
                    break;
                };
                events.push(WorkerEvent::TaskFinished {
                    key: TaskKey::new(key.as_str()),
                    nbytes: 8 << 20,
                    duration_us: 1_000,
                    started_unix_us: 0,
                    thread: 0,
                });
            }
            if events.is_empty() {
                continue;
            }
            moved = true;
            let out = s.handle_worker_events(w as u64, events, now);
            fake.route(out);
        }
        if !moved {
            break;
        }
    }
    let total = start.elapsed();
    assert!(s.is_in_memory(&wanted), "the final result was not computed");
    Run {
        total,
        submit,
        decisions: fake.decisions,
    }
}

fn main() {
    let (graph, wanted) = build_graph();
    let tasks = graph.len();
    let sub = Submission {
        id: 1,
        graph: TaskGraph { tasks: graph },
        wanted: vec![wanted],
        scattered: vec![],
        shuffles: vec![],
    };
    let bytes = codec::encode(&sub).expect("submission encodes");
    drop(sub);
    let mut runs: Vec<Run> = (0..RUNS)
        .map(|i| {
            let sub: Submission = codec::decode(&bytes).expect("submission decodes");
            let r = run(sub);
            assert!(
                r.decisions >= tasks as u64,
                "only {} decisions",
                r.decisions
            );
            let rate = r.decisions as f64 / r.total.as_secs_f64();
            println!(
                "  run {}: {} decisions in {:.2} s (submit {:.2} s): {:.2} M decisions/s",
                i + 1,
                r.decisions,
                r.total.as_secs_f64(),
                r.submit.as_secs_f64(),
                rate / 1e6
            );
            r
        })
        .collect();
    runs.sort_by(|a, b| {
        let ra = a.decisions as f64 / a.total.as_secs_f64();
        let rb = b.decisions as f64 / b.total.as_secs_f64();
        ra.total_cmp(&rb)
    });
    let m = &runs[RUNS / 2];
    let after_submit = (m.total - m.submit).as_secs_f64();
    println!(
        "scheduler: {tasks} tasks on {WORKERS} workers: {:.2} M decisions/s (median of {RUNS}), \
         total {:.2} s = submit {:.2} s + events {:.2} s ({:.2} M decisions/s after submit)",
        m.decisions as f64 / m.total.as_secs_f64() / 1e6,
        m.total.as_secs_f64(),
        m.submit.as_secs_f64(),
        after_submit,
        m.decisions as f64 / after_submit / 1e6
    );
}
