//! Randomized cluster simulation: random DAGs, fake workers that run, fail, die and join,
//! delayed event delivery; the final state must match what the graph and failures imply.

use super::harness::*;
use crate::state::{Outputs, SchedulerConfig};
use proptest::prelude::*;
use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use tessera_core::graph::Task;
use tessera_core::key::TaskKey;
use tessera_core::wire::{
    ClientEvent, ClientId, ComputeTask, InputLocation, WorkerCommand, WorkerEvent, WorkerId,
    WorkerMetrics,
};

/// A fake worker: the first `threads` queue entries count as running (not stealable).
struct SimWorker {
    id: WorkerId,
    addr: String,
    threads: usize,
    queue: VecDeque<ComputeTask>,
    store: HashSet<TaskKey>,
    outbox: Vec<WorkerEvent>,
}

struct Sim {
    h: H,
    rng: Xoshiro256PlusPlus,
    workers: Vec<SimWorker>,
    next_addr: u32,
    bad: HashSet<TaskKey>,
    last_event: HashMap<(ClientId, TaskKey), ClientEvent>,
}

impl Sim {
    fn route(&mut self, out: Outputs) {
        for (w, cmd) in out.to_workers {
            let sw = self
                .workers
                .iter_mut()
                .find(|x| x.id == w)
                .unwrap_or_else(|| panic!("command for a dead or unknown worker {w}: {cmd:?}"));
            match cmd {
                WorkerCommand::Compute(t) => {
                    // A second Compute for a queued key is a no-op.
                    if !sw.queue.iter().any(|q| q.key == t.key) {
                        sw.queue.push_back(t);
                    }
                }
                WorkerCommand::Release(keys) => {
                    for k in keys {
                        sw.store.remove(&k);
                        sw.queue.retain(|q| q.key != k);
                    }
                }
                WorkerCommand::Steal(key) => {
                    let pos = sw.queue.iter().position(|t| t.key == key);
                    let stolen = match pos {
                        Some(p) if p >= sw.threads => {
                            sw.queue.remove(p);
                            true
                        }
                        _ => false,
                    };
                    sw.outbox.push(WorkerEvent::StealAnswer { key, stolen });
                }
                WorkerCommand::ForgetShuffle { .. } | WorkerCommand::PeerGone { .. } => {}
            }
        }
        for (c, ev) in out.to_clients {
            if let ClientEvent::InMemory { key, .. } | ClientEvent::Erred { key, .. } = &ev {
                self.last_event.insert((c, key.clone()), ev.clone());
            }
        }
    }

    fn available(&self, i: usize, inp: &InputLocation) -> bool {
        self.workers[i].store.contains(&inp.key)
            || inp.holders.iter().any(|a| {
                self.workers
                    .iter()
                    .any(|w| &w.addr == a && w.store.contains(&inp.key))
            })
    }

    fn execute(&mut self, i: usize) {
        let n = self.workers[i].queue.len().min(self.workers[i].threads);
        if n == 0 {
            return;
        }
        let p = self.rng.random_range(0..n);
        let Some(t) = self.workers[i].queue.remove(p) else {
            return;
        };
        let missing: Vec<TaskKey> = t
            .inputs
            .iter()
            .filter(|inp| !self.available(i, inp))
            .map(|inp| inp.key.clone())
            .collect();
        let ev = if !missing.is_empty() {
            WorkerEvent::TaskFailed {
                key: t.key,
                message: "fetch failed".into(),
                missing_inputs: missing,
            }
        } else if self.bad.contains(&t.key) {
            WorkerEvent::TaskFailed {
                message: format!("boom in {}", t.key),
                key: t.key,
                missing_inputs: vec![],
            }
        } else {
            self.workers[i].store.insert(t.key.clone());
            WorkerEvent::TaskFinished {
                key: t.key,
                nbytes: self.rng.random_range(1..1_000_000),
                duration_us: self.rng.random_range(10..10_000),
                started_unix_us: 0,
                thread: 0,
            }
        };
        self.workers[i].outbox.push(ev);
    }

    fn deliver(&mut self, i: usize) {
        let evs = std::mem::take(&mut self.workers[i].outbox);
        let id = self.workers[i].id;
        let out = self.h.events(id, evs);
        self.route(out);
    }

    fn add_worker(&mut self) {
        self.next_addr += 1;
        let addr = format!("w{}:1", self.next_addr);
        let threads = self.rng.random_range(1..=3);
        let (id, out) = self.h.worker(&addr, threads as u32);
        self.workers.push(SimWorker {
            id,
            addr,
            threads,
            queue: VecDeque::new(),
            store: HashSet::new(),
            outbox: Vec::new(),
        });
        self.route(out);
    }

    fn kill(&mut self, i: usize) {
        let sw = self.workers.swap_remove(i);
        let out = self.h.kill(sw.id);
        self.route(out);
    }

    /// Run and deliver everything until nothing moves.
    fn drain(&mut self) {
        for round in 0.. {
            assert!(round < 100_000, "simulation did not settle");
            let mut moved = false;
            for i in 0..self.workers.len() {
                while !self.workers[i].queue.is_empty() {
                    self.execute(i);
                    moved = true;
                }
                if !self.workers[i].outbox.is_empty() {
                    self.deliver(i);
                    moved = true;
                }
            }
            if !moved {
                break;
            }
        }
    }
}

/// A random DAG: `t{i}` reads up to four earlier tasks (duplicates allowed).
fn random_graph(rng: &mut Xoshiro256PlusPlus, n: usize) -> Vec<Task> {
    let mut tasks = Vec::with_capacity(n);
    for i in 0..n {
        let fan_in = if i == 0 || rng.random_bool(0.3) {
            0
        } else {
            rng.random_range(1..=4.min(i))
        };
        let inputs: Vec<String> = (0..fan_in)
            .map(|_| format!("t{}", rng.random_range(0..i)))
            .collect();
        let refs: Vec<&str> = inputs.iter().map(String::as_str).collect();
        tasks.push(task(&format!("t{i}"), &refs));
    }
    tasks
}

/// The bad keys among each task's ancestors (itself included).
fn bad_ancestors(tasks: &[Task], bad: &HashSet<TaskKey>) -> HashMap<TaskKey, BTreeSet<String>> {
    let mut m: HashMap<TaskKey, BTreeSet<String>> = HashMap::new();
    for t in tasks {
        let mut s = BTreeSet::new();
        if bad.contains(&t.key) {
            s.insert(t.key.to_string());
        }
        for i in &t.inputs {
            s.extend(m[i].iter().cloned());
        }
        m.insert(t.key.clone(), s);
    }
    m
}

/// The closure of `root` under inputs, in graph order.
fn sub_graph(tasks: &[Task], root: &TaskKey) -> Vec<Task> {
    let by_key: HashMap<&TaskKey, &Task> = tasks.iter().map(|t| (&t.key, t)).collect();
    let mut keep = HashSet::new();
    let mut stack = vec![root];
    while let Some(k) = stack.pop() {
        if keep.insert(k.clone()) {
            stack.extend(by_key[k].inputs.iter());
        }
    }
    tasks
        .iter()
        .filter(|t| keep.contains(&t.key))
        .cloned()
        .collect()
}

fn run_sim(seed: u64) {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let config = SchedulerConfig {
        allowed_failures: 1_000,
        root_slack: rng.random_range(0..3),
        work_stealing: rng.random_bool(0.8),
    };
    let n = rng.random_range(5..60);
    let graph = random_graph(&mut rng, n);
    let bad: HashSet<TaskKey> = graph
        .iter()
        .filter(|_| rng.random_bool(0.05))
        .map(|t| t.key.clone())
        .collect();
    let expect = bad_ancestors(&graph, &bad);
    let mut sim = Sim {
        h: H::with(config),
        rng,
        workers: Vec::new(),
        next_addr: 0,
        bad,
        last_event: HashMap::new(),
    };
    for _ in 0..sim.rng.random_range(0..4) {
        sim.add_worker();
    }
    let c1 = sim.h.client();
    let wanted: Vec<TaskKey> = graph
        .iter()
        .filter(|_| sim.rng.random_bool(0.4))
        .map(|t| t.key.clone())
        .chain(std::iter::once(graph[n - 1].key.clone()))
        .collect();
    let wanted_strs: Vec<String> = wanted.iter().map(|k| k.to_string()).collect();
    let refs: Vec<&str> = wanted_strs.iter().map(String::as_str).collect();
    let out = sim.h.submit(c1, graph.clone(), &refs);
    assert_eq!(submitted(&out, c1), Some(None));
    sim.route(out);

    let mut c2: Option<ClientId> = None;
    let mut kills = sim.rng.random_range(0..6);
    let steps = sim.rng.random_range(100..1_500);
    for _ in 0..steps {
        let roll = sim.rng.random_range(0..100);
        let nw = sim.workers.len();
        match roll {
            0..45 if nw > 0 => {
                let i = sim.rng.random_range(0..nw);
                sim.execute(i);
            }
            45..80 if nw > 0 => {
                let i = sim.rng.random_range(0..nw);
                sim.deliver(i);
            }
            80..83 if nw > 0 && kills > 0 => {
                kills -= 1;
                let i = sim.rng.random_range(0..nw);
                sim.kill(i);
            }
            83..87 if nw < 8 => sim.add_worker(),
            87..90 => match c2.take() {
                None => {
                    let c = sim.h.client();
                    let root = &graph[sim.rng.random_range(0..n)].key;
                    let out = sim.h.submit(c, sub_graph(&graph, root), &[root.as_str()]);
                    sim.route(out);
                    c2 = Some(c);
                }
                Some(c) => {
                    let out = sim.h.drop_client(c);
                    sim.route(out);
                }
            },
            90..93 if nw > 0 => {
                let i = sim.rng.random_range(0..nw);
                let id = sim.workers[i].id;
                let out = sim
                    .h
                    .events(id, vec![WorkerEvent::Heartbeat(WorkerMetrics::default())]);
                sim.route(out);
            }
            _ => {}
        }
    }
    if sim.workers.is_empty() {
        sim.add_worker();
    }
    sim.drain();

    for k in &wanted {
        let origins = &expect[k];
        let ev = sim.last_event.get(&(c1, k.clone()));
        if origins.is_empty() {
            assert!(
                matches!(ev, Some(ClientEvent::InMemory { .. })),
                "seed {seed}: {k} should be in memory, last event {ev:?}"
            );
            assert!(sim.h.s.is_in_memory(k), "seed {seed}: {k} not in memory");
            let holders = &sim.h.s.who_has(std::slice::from_ref(k))[0];
            for a in holders {
                let w = sim.workers.iter().find(|w| &w.addr == a);
                assert!(
                    w.is_some_and(|w| w.store.contains(k)),
                    "seed {seed}: scheduler says {a} holds {k}, it does not"
                );
            }
        } else {
            match ev {
                Some(ClientEvent::Erred { error, .. }) => assert!(
                    origins.contains(&error.key),
                    "seed {seed}: {k} erred from {}, expected one of {origins:?}",
                    error.key
                ),
                other => panic!("seed {seed}: {k} should have erred, last event {other:?}"),
            }
            assert_eq!(sim.h.state(k.as_str()), Some("erred"));
        }
    }
    // Everyone leaves: every result is released and every record forgotten.
    let out = sim.h.drop_client(c1);
    sim.route(out);
    if let Some(c) = c2 {
        let out = sim.h.drop_client(c);
        sim.route(out);
    }
    sim.drain();
    assert_eq!(sim.h.s.task_count(), 0, "seed {seed}: tasks left behind");
    for w in &sim.workers {
        assert!(
            w.store.is_empty(),
            "seed {seed}: {} still stores {:?}",
            w.addr,
            w.store
        );
    }
}

#[test]
fn simulation_fixed_seeds() {
    for seed in 0..500 {
        run_sim(seed);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]
    #[test]
    fn simulation_random_seeds(seed in any::<u64>()) {
        run_sim(seed);
    }
}
