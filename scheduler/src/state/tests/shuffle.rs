//! Unit tests of shuffles in the scheduler: owners and restrictions of unpack tasks, the
//! attempt carried by every shuffle task, restarts when an owner dies or a task reports a
//! broken attempt, stale reports ignored, giving up, and specs that do not match the graph.

use super::harness::*;
use crate::state::Outputs;
use crate::state::shuffle::MAX_SHUFFLE_RESTARTS;
use tessera_core::graph::TaskGraph;
use tessera_core::shuffle::{ShuffleAssignment, ShuffleSpec};
use tessera_core::wire::{ComputeTask, Submission, WorkerCommand, WorkerEvent, WorkerId};

/// Two inputs, two transfers, a barrier and three unpack tasks (partitions 0..3).
fn graph() -> Vec<tessera_core::graph::Task> {
    vec![
        task("i0", &[]),
        task("i1", &[]),
        task("t0", &["i0"]),
        task("t1", &["i1"]),
        task("b", &["t0", "t1"]),
        task("u0", &["b"]),
        task("u1", &["b"]),
        task("u2", &["b"]),
    ]
}

fn spec() -> ShuffleSpec {
    ShuffleSpec {
        id: "s".into(),
        partitions: 3,
        transfers: vec![k("t0"), k("t1")],
        barrier: k("b"),
        outputs: vec![(0, k("u0")), (1, k("u1")), (2, k("u2"))],
    }
}

fn submit(h: &mut H, c: tessera_core::wire::ClientId, spec: ShuffleSpec) -> Outputs {
    h.submit_full(
        c,
        Submission {
            id: 0,
            graph: TaskGraph { tasks: graph() },
            wanted: vec![k("u0"), k("u1"), k("u2")],
            scattered: vec![],
            shuffles: vec![spec],
        },
    )
}

/// Report `task` finished on `w`, naming its attempt when it is a shuffle task.
fn done(h: &mut H, w: WorkerId, task: &ComputeTask) -> Outputs {
    let ev = match &task.shuffle {
        Some(a) => WorkerEvent::ShuffleTaskFinished {
            key: task.key.clone(),
            attempt: a.attempt,
            nbytes: 10,
            duration_us: 100,
            started_unix_us: 0,
            thread: 0,
        },
        None => WorkerEvent::TaskFinished {
            key: task.key.clone(),
            nbytes: 10,
            duration_us: 100,
            started_unix_us: 0,
            thread: 0,
        },
    };
    h.events(w, vec![ev])
}

/// Finish every compute in `out` and what follows; every compute seen, in order.
fn run_all(h: &mut H, out: Outputs) -> Vec<(WorkerId, ComputeTask)> {
    let mut seen = Vec::new();
    let mut pending = vec![out];
    while let Some(out) = pending.pop() {
        assert!(seen.len() < 10_000, "did not converge");
        for (w, t) in compute_tasks(&out) {
            seen.push((w, t.clone()));
            pending.push(done(h, w, &t));
        }
    }
    seen
}

/// Run computes in `out` until the one of `key` shows up (it is not finished); returns it.
fn run_until(h: &mut H, out: Outputs, key: &str) -> (WorkerId, ComputeTask) {
    let mut pending = vec![out];
    while let Some(out) = pending.pop() {
        let tasks = compute_tasks(&out);
        if let Some(found) = tasks.iter().find(|(_, t)| t.key == k(key)) {
            return found.clone();
        }
        for (w, t) in tasks {
            pending.push(done(h, w, &t));
        }
    }
    panic!("{key} was never assigned");
}

fn forgets(out: &Outputs) -> Vec<(WorkerId, String, u64)> {
    out.to_workers
        .iter()
        .filter_map(|(w, c)| match c {
            WorkerCommand::ForgetShuffle { id, attempt } => Some((*w, id.clone(), *attempt)),
            _ => None,
        })
        .collect()
}

fn assignment(t: &ComputeTask) -> &ShuffleAssignment {
    t.shuffle
        .as_ref()
        .expect("a shuffle task carries its assignment")
}

#[test]
fn unpack_tasks_run_on_their_owners_and_buffers_are_dropped_at_the_end() {
    let mut h = H::new();
    let (a, _) = h.worker("a:1", 4);
    let (b, _) = h.worker("b:1", 4);
    let c = h.client();
    let out = submit(&mut h, c, spec());
    let seen = run_all(&mut h, out);
    for key in ["u0", "u1", "u2"] {
        assert!(h.s.is_in_memory(&k(key)), "{key}");
    }
    let get = |key: &str| seen.iter().find(|(_, t)| t.key == k(key)).unwrap().clone();
    // Every shuffle task carries attempt 1 and the same owners: a owns [0, 1), b [1, 3).
    let owners = assignment(&get("t0").1).clone();
    assert_eq!(owners.attempt, 1);
    assert_eq!(owners.owner(0), Some("a:1"));
    assert_eq!(owners.owner(1), Some("b:1"));
    assert_eq!(owners.owner(2), Some("b:1"));
    assert_eq!(owners.owner(3), None);
    for key in ["t1", "b", "u0", "u1", "u2"] {
        assert_eq!(assignment(&get(key).1), &owners, "{key}");
    }
    assert!(get("i0").1.shuffle.is_none());
    assert_eq!(get("u0").0, a);
    assert_eq!(get("u1").0, b);
    assert_eq!(get("u2").0, b);
    // Nothing ran twice.
    assert_eq!(seen.len(), 8);
}

#[test]
fn the_last_unpack_tells_the_owners_to_forget_and_lifts_restrictions() {
    let mut h = H::new();
    let (a, _) = h.worker("a:1", 4);
    let (b, _) = h.worker("b:1", 4);
    let c = h.client();
    let out = submit(&mut h, c, spec());
    let (w0, u0) = run_until(&mut h, out, "u0");
    assert_eq!(w0, a);
    // u1 and u2 were assigned with u0 (all read only the barrier).
    let out = done(&mut h, w0, &u0);
    assert!(forgets(&out).is_empty(), "forgotten before the last unpack");
    let u1 = ComputeTask {
        key: k("u1"),
        op: vec![],
        inputs: vec![],
        shuffle: u0.shuffle.clone(),
    };
    let out = done(&mut h, b, &u1);
    assert!(forgets(&out).is_empty());
    let u2 = ComputeTask { key: k("u2"), ..u1 };
    let out = done(&mut h, b, &u2);
    let mut f = forgets(&out);
    f.sort();
    assert_eq!(f, vec![(a, "s".into(), 1), (b, "s".into(), 1)]);
    // Losing an output after the end recomputes it through a new attempt of the shuffle
    // (its buffers are gone), on whichever workers are alive then.
    let out = h.kill(b);
    let seen = run_all(&mut h, out);
    assert!(seen.iter().all(|(w, _)| *w == a));
    let rerun: Vec<String> = seen.iter().map(|(_, t)| t.key.to_string()).collect();
    for key in ["t0", "t1", "b", "u1", "u2"] {
        assert!(
            rerun.contains(&key.to_string()),
            "{key} not rerun: {rerun:?}"
        );
    }
    for (_, t) in &seen {
        if let Some(s) = &t.shuffle {
            assert_eq!(s.attempt, 2, "{}", t.key);
            assert_eq!(s.owner(2), Some("a:1"));
        }
    }
    for key in ["u0", "u1", "u2"] {
        assert!(h.s.is_in_memory(&k(key)), "{key}");
    }
}

#[test]
fn an_owner_dying_mid_shuffle_restarts_it_and_stale_reports_are_ignored() {
    let mut h = H::new();
    let (a, _) = h.worker("a:1", 4);
    let (b, _) = h.worker("b:1", 4);
    let c = h.client();
    let out = submit(&mut h, c, spec());
    // Run up to the unpacks: every transfer and the barrier are done (attempt 1).
    let (_, u0) = run_until(&mut h, out, "u0");
    assert_eq!(assignment(&u0).attempt, 1);
    let out = h.kill(b);
    // The survivor forgets attempt 1; the transfers run again for attempt 2, owned by `a`.
    assert!(forgets(&out).contains(&(a, "s".into(), 1)));
    let again = compute_tasks(&out);
    assert!(!again.is_empty());
    for (w, t) in &again {
        assert_eq!(*w, a);
        if let Some(s) = &t.shuffle {
            assert_eq!(s.attempt, 2);
            assert_eq!(s.owner(0), Some("a:1"));
            assert_eq!(s.owner(2), Some("a:1"));
        }
    }
    // The old unpack finishing late on `a` is about attempt 1: ignored.
    assert!(computes(&done(&mut h, a, &u0)).is_empty());
    assert!(!h.s.is_in_memory(&k("u0")));
    let seen = run_all(&mut h, out);
    for (w, t) in &seen {
        assert_eq!(*w, a, "{}", t.key);
        assert!(
            t.shuffle.as_ref().is_none_or(|s| s.attempt == 2),
            "{}",
            t.key
        );
    }
    for key in ["u0", "u1", "u2"] {
        assert!(h.s.is_in_memory(&k(key)), "{key}");
    }
}

#[test]
fn a_broken_attempt_restarts_and_too_many_restarts_err_the_outputs() {
    let mut h = H::new();
    let (a, _) = h.worker("a:1", 4);
    h.worker("b:1", 4);
    let c = h.client();
    let mut out = submit(&mut h, c, spec());
    for restart in 0..=MAX_SHUFFLE_RESTARTS {
        let (w, u0) = run_until(&mut h, out, "u0");
        let attempt = assignment(&u0).attempt;
        assert_eq!(attempt, restart as u64 + 1);
        // A report about an older attempt changes nothing.
        if attempt > 1 {
            let stale = h.events(
                w,
                vec![WorkerEvent::ShuffleTaskFailed {
                    key: k("u0"),
                    attempt: attempt - 1,
                    message: "old".into(),
                }],
            );
            assert!(stale.to_workers.is_empty() && stale.to_clients.is_empty());
        }
        out = h.events(
            w,
            vec![WorkerEvent::ShuffleTaskFailed {
                key: k("u0"),
                attempt,
                message: "the piece from input 1 has not arrived".into(),
            }],
        );
        if restart < MAX_SHUFFLE_RESTARTS {
            assert!(erred(&out, c).is_empty());
            assert!(forgets(&out).contains(&(a, "s".into(), attempt)));
        }
    }
    let errs = erred(&out, c);
    assert_eq!(errs.len(), 3, "{errs:?}");
    for (_, e) in errs {
        assert!(e.message.contains("given up"), "{}", e.message);
        assert!(e.message.contains("has not arrived"), "{}", e.message);
    }
    h.drop_client(c);
    assert_eq!(h.s.task_count(), 0);
}

#[test]
fn a_spec_that_does_not_match_the_graph_is_ignored_and_its_tasks_run_plainly() {
    for bad in [
        ShuffleSpec {
            transfers: vec![k("t0")],
            ..spec()
        },
        ShuffleSpec {
            outputs: vec![(3, k("u0"))],
            ..spec()
        },
        ShuffleSpec {
            outputs: vec![(0, k("t0"))],
            ..spec()
        },
        ShuffleSpec {
            barrier: k("nope"),
            ..spec()
        },
    ] {
        let mut h = H::new();
        h.worker("a:1", 4);
        let c = h.client();
        let out = submit(&mut h, c, bad);
        let seen = run_all(&mut h, out);
        assert!(seen.iter().all(|(_, t)| t.shuffle.is_none()));
        assert!(h.s.is_in_memory(&k("u2")));
        h.drop_client(c);
        assert_eq!(h.s.task_count(), 0);
    }
}

#[test]
fn the_same_shuffle_submitted_twice_runs_once() {
    let mut h = H::new();
    h.worker("a:1", 4);
    let c = h.client();
    let c2 = h.client();
    let out = submit(&mut h, c, spec());
    let (w, t0) = run_until(&mut h, out, "t0");
    let out2 = submit(&mut h, c2, spec());
    assert!(computes(&out2).is_empty());
    let out = done(&mut h, w, &t0);
    run_all(&mut h, out);
    run_all(&mut h, out2);
    assert!(h.s.is_in_memory(&k("u1")));
    h.drop_client(c);
    assert!(
        h.s.is_in_memory(&k("u1")),
        "still wanted by the second client"
    );
    h.drop_client(c2);
    assert_eq!(h.s.task_count(), 0);
}
