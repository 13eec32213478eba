//! Test harness: wraps every scheduler call and checks the invariants after it,
//! plus helpers to build tasks and to pick commands and events out of `Outputs`.

use crate::state::{Outputs, SchedulerConfig, SchedulerState};
use tessera_core::error::TaskError;
use tessera_core::graph::{Task, TaskGraph};
use tessera_core::key::TaskKey;
use tessera_core::wire::{
    ClientEvent, ClientId, ComputeTask, ScatteredKey, Submission, WorkerCommand, WorkerEvent,
    WorkerId, WorkerRegistration,
};

/// A key from a string.
pub fn k(s: &str) -> TaskKey {
    TaskKey::new(s)
}

/// A task with dummy op bytes (the scheduler never decodes ops).
pub fn task(key: &str, inputs: &[&str]) -> Task {
    Task {
        key: k(key),
        inputs: inputs.iter().map(|s| k(s)).collect(),
        op: vec![7, 7],
        nbytes_hint: 8,
    }
}

/// A registration for a worker at `addr`.
pub fn reg(addr: &str, threads: u32) -> WorkerRegistration {
    WorkerRegistration {
        data_address: addr.to_string(),
        threads,
        memory_limit: 1 << 30,
        pid: 1,
        name: addr.to_string(),
        metrics_address: String::new(),
        held: Vec::new(),
    }
}

/// The scheduler plus a clock; every call checks the invariants.
pub struct H {
    pub s: SchedulerState,
    pub now: u64,
    next_sub: u64,
}

impl H {
    /// The documented policy (allowed_failures 3, root_slack 2, stealing on), pinned so that
    /// tests do not follow changes to `SchedulerConfig::default()`.
    pub fn new() -> Self {
        Self::with(SchedulerConfig {
            allowed_failures: 3,
            root_slack: 2,
            work_stealing: true,
        })
    }

    pub fn with(config: SchedulerConfig) -> Self {
        H {
            s: SchedulerState::new(config),
            now: 0,
            next_sub: 1,
        }
    }

    #[track_caller]
    pub fn check(&self, what: &str) {
        if let Err(e) = self.s.check_invariants() {
            panic!("invariant broken after {what}: {e}");
        }
    }

    #[track_caller]
    pub fn worker(&mut self, addr: &str, threads: u32) -> (WorkerId, Outputs) {
        let r = self.s.add_worker(reg(addr, threads), self.now);
        self.check("add_worker");
        r
    }

    #[track_caller]
    pub fn client(&mut self) -> ClientId {
        let c = self.s.add_client();
        self.check("add_client");
        c
    }

    #[track_caller]
    pub fn submit(&mut self, c: ClientId, tasks: Vec<Task>, wanted: &[&str]) -> Outputs {
        let sub = Submission {
            id: 0,
            graph: TaskGraph { tasks },
            wanted: wanted.iter().map(|s| k(s)).collect(),
            scattered: vec![],
            shuffles: vec![],
        };
        self.submit_full(c, sub)
    }

    #[track_caller]
    pub fn scatter(&mut self, c: ClientId, key: &str, worker: &str, nbytes: u64) -> Outputs {
        let sub = Submission {
            id: 0,
            graph: TaskGraph::default(),
            wanted: vec![k(key)],
            scattered: vec![ScatteredKey {
                key: k(key),
                worker: worker.to_string(),
                nbytes,
            }],
            shuffles: vec![],
        };
        self.submit_full(c, sub)
    }

    #[track_caller]
    pub fn submit_full(&mut self, c: ClientId, mut sub: Submission) -> Outputs {
        if sub.id == 0 {
            sub.id = self.next_sub;
            self.next_sub += 1;
        }
        let out = self.s.submit(c, sub);
        self.check("submit");
        out
    }

    #[track_caller]
    pub fn events(&mut self, w: WorkerId, events: Vec<WorkerEvent>) -> Outputs {
        let out = self.s.handle_worker_events(w, events, self.now);
        self.check("handle_worker_events");
        out
    }

    #[track_caller]
    pub fn finish(&mut self, w: WorkerId, key: &str, nbytes: u64) -> Outputs {
        let ev = WorkerEvent::TaskFinished {
            key: k(key),
            nbytes,
            duration_us: 1000,
            started_unix_us: 0,
            thread: 0,
        };
        self.events(w, vec![ev])
    }

    #[track_caller]
    pub fn fail(&mut self, w: WorkerId, key: &str, message: &str) -> Outputs {
        let ev = WorkerEvent::TaskFailed {
            key: k(key),
            message: message.to_string(),
            missing_inputs: vec![],
        };
        self.events(w, vec![ev])
    }

    #[track_caller]
    pub fn missing(&mut self, w: WorkerId, key: &str, inputs: &[&str]) -> Outputs {
        let ev = WorkerEvent::TaskFailed {
            key: k(key),
            message: "could not fetch".to_string(),
            missing_inputs: inputs.iter().map(|s| k(s)).collect(),
        };
        self.events(w, vec![ev])
    }

    #[track_caller]
    pub fn kill(&mut self, w: WorkerId) -> Outputs {
        let out = self.s.remove_worker(w, "killed by test");
        self.check("remove_worker");
        out
    }

    #[track_caller]
    pub fn release(&mut self, c: ClientId, keys: &[&str]) -> Outputs {
        let out = self.s.release(c, keys.iter().map(|s| k(s)).collect());
        self.check("release");
        out
    }

    #[track_caller]
    pub fn drop_client(&mut self, c: ClientId) -> Outputs {
        let out = self.s.remove_client(c);
        self.check("remove_client");
        out
    }

    #[track_caller]
    pub fn expire(&mut self, timeout_ms: u64) -> (Vec<WorkerId>, Outputs) {
        let r = self.s.expire_workers(self.now, timeout_ms);
        self.check("expire_workers");
        r
    }

    /// Number of tasks processing on a worker, from `cluster_info`.
    pub fn processing(&self, w: WorkerId) -> u64 {
        self.s
            .cluster_info()
            .workers
            .iter()
            .find(|s| s.id == w)
            .map_or(0, |s| s.processing)
    }

    pub fn state(&self, key: &str) -> Option<&'static str> {
        self.s.state_name(&k(key))
    }
}

/// `(worker, key)` of every `Compute` command, in order.
pub fn computes(out: &Outputs) -> Vec<(WorkerId, String)> {
    compute_tasks(out)
        .into_iter()
        .map(|(w, c)| (w, c.key.to_string()))
        .collect()
}

/// Every `Compute` command, in order.
pub fn compute_tasks(out: &Outputs) -> Vec<(WorkerId, ComputeTask)> {
    out.to_workers
        .iter()
        .filter_map(|(w, c)| match c {
            WorkerCommand::Compute(t) => Some((*w, t.clone())),
            _ => None,
        })
        .collect()
}

/// `(worker, key)` for every key in a `Release` command, in order.
pub fn releases(out: &Outputs) -> Vec<(WorkerId, String)> {
    let mut v = Vec::new();
    for (w, c) in &out.to_workers {
        if let WorkerCommand::Release(keys) = c {
            v.extend(keys.iter().map(|key| (*w, key.to_string())));
        }
    }
    v
}

/// `(worker, key)` of every `Steal` command.
pub fn steals(out: &Outputs) -> Vec<(WorkerId, String)> {
    out.to_workers
        .iter()
        .filter_map(|(w, c)| match c {
            WorkerCommand::Steal(key) => Some((*w, key.to_string())),
            _ => None,
        })
        .collect()
}

/// Keys reported `InMemory` to client `c`.
pub fn in_memory(out: &Outputs, c: ClientId) -> Vec<String> {
    out.to_clients
        .iter()
        .filter_map(|(cc, e)| match e {
            ClientEvent::InMemory { key, .. } if *cc == c => Some(key.to_string()),
            _ => None,
        })
        .collect()
}

/// `(key, error)` reported `Erred` to client `c`.
pub fn erred(out: &Outputs, c: ClientId) -> Vec<(String, TaskError)> {
    out.to_clients
        .iter()
        .filter_map(|(cc, e)| match e {
            ClientEvent::Erred { key, error } if *cc == c => Some((key.to_string(), error.clone())),
            _ => None,
        })
        .collect()
}

/// The `Submitted` answer to client `c`: `Some(error)` when refused, `None` when accepted.
pub fn submitted(out: &Outputs, c: ClientId) -> Option<Option<String>> {
    out.to_clients.iter().find_map(|(cc, e)| match e {
        ClientEvent::Submitted { error, .. } if *cc == c => Some(error.clone()),
        _ => None,
    })
}

/// Finish every `Compute` in `out` (recursively, on the worker it was sent to) until no
/// command is left; returns all outputs seen.
pub fn run_to_completion(h: &mut H, out: Outputs) -> Vec<Outputs> {
    let mut all = Vec::new();
    let mut pending = vec![out];
    let mut guard = 0;
    while let Some(out) = pending.pop() {
        guard += 1;
        assert!(guard < 100_000, "did not converge");
        for (w, key) in computes(&out) {
            pending.push(h.finish(w, &key, 100));
        }
        all.push(out);
    }
    all
}
