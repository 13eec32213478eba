//! Workers that register again after losing their scheduler, listing the results they kept:
//! a restarted scheduler releases them all; the same scheduler adopts those still useful.

use super::harness::*;
use crate::state::Outputs;
use tessera_core::wire::{WorkerId, WorkerRegistration};

/// A worker at `addr` registering with `held` results (`(key, nbytes)`).
#[track_caller]
fn rejoin(h: &mut H, addr: &str, held: &[(&str, u64)]) -> (WorkerId, Outputs) {
    let registration = WorkerRegistration {
        held: held.iter().map(|&(key, n)| (k(key), n)).collect(),
        ..reg(addr, 1)
    };
    let r = h.s.add_worker(registration, h.now);
    h.check("add_worker with held results");
    r
}

/// Released keys on `w`, sorted.
fn released_on(out: &Outputs, w: WorkerId) -> Vec<String> {
    let mut keys: Vec<String> = releases(out)
        .into_iter()
        .filter(|(on, _)| *on == w)
        .map(|(_, key)| key)
        .collect();
    keys.sort();
    keys
}

#[test]
fn a_restarted_scheduler_releases_everything_a_returning_worker_holds() {
    let mut h = H::new();
    let (a, out) = rejoin(&mut h, "a:1", &[("x", 100), ("y", 200)]);
    assert_eq!(released_on(&out, a), vec!["x", "y"]);
    assert_eq!(h.s.task_count(), 0, "unknown keys are not tracked");
    let info = h.s.cluster_info();
    assert_eq!(info.workers.len(), 1);
    assert_eq!(info.workers[0].held_keys, 0);
    assert!(
        info.workers[0].registration.held.is_empty(),
        "the held list is consumed, not kept with the registration"
    );
    // The worker is an ordinary worker for new work.
    let c = h.client();
    let out = h.submit(c, vec![task("z", &[])], &["z"]);
    assert_eq!(computes(&out), vec![(a, "z".to_string())]);
}

#[test]
fn a_result_being_recomputed_is_adopted_from_the_returning_worker() {
    let mut h = H::new();
    let c = h.client();
    let (a, _) = h.worker("a:1", 1);
    let out = h.submit(c, vec![task("x", &[]), task("y", &["x"])], &["y"]);
    assert_eq!(computes(&out), vec![(a, "x".to_string())]);
    h.finish(a, "x", 100);
    let (b, _) = h.worker("b:1", 1);
    // The scheduler loses `a` (a network cut): `x` is recomputed on `b`.
    let out = h.kill(a);
    assert_eq!(computes(&out), vec![(b, "x".to_string())]);
    // `a` comes back holding `x`: the result is taken as it is and `y` can run at once.
    let (a2, out) = rejoin(&mut h, "a:1", &[("x", 100)]);
    assert_ne!(a2, a, "a new session gets a new id");
    assert!(released_on(&out, a2).is_empty());
    assert_eq!(h.state("x"), Some("memory"));
    assert_eq!(h.s.who_has(&[k("x")]), vec![vec!["a:1".to_string()]]);
    let ys = computes(&out);
    assert_eq!(ys.len(), 1);
    assert_eq!(ys[0].1, "y");
    // `b`'s duplicate run of `x` is answered with Release.
    let out = h.finish(b, "x", 100);
    assert_eq!(released_on(&out, b), vec!["x"]);
    assert_eq!(h.s.who_has(&[k("x")]), vec![vec!["a:1".to_string()]]);
    let (on, _) = &ys[0];
    let out = h.finish(*on, "y", 8);
    assert_eq!(in_memory(&out, c), vec!["y"]);
}

#[test]
fn a_result_already_in_memory_elsewhere_gains_the_returning_worker_as_holder() {
    let mut h = H::new();
    let c = h.client();
    let (a, _) = h.worker("a:1", 1);
    h.submit(c, vec![task("x", &[])], &["x"]);
    h.finish(a, "x", 100);
    let (b, _) = h.worker("b:1", 1);
    h.kill(a);
    // Recomputed on `b` before `a` is back.
    h.finish(b, "x", 100);
    let (a2, out) = rejoin(&mut h, "a:1", &[("x", 100)]);
    assert!(released_on(&out, a2).is_empty());
    let mut holders = h.s.who_has(&[k("x")]).pop().unwrap();
    holders.sort();
    assert_eq!(holders, vec!["a:1".to_string(), "b:1".to_string()]);
    // Either holder dying leaves the result in memory.
    h.kill(b);
    assert_eq!(h.state("x"), Some("memory"));
}

#[test]
fn results_no_one_needs_any_more_are_released_on_the_returning_worker() {
    let mut h = H::new();
    let c = h.client();
    let (a, _) = h.worker("a:1", 1);
    h.submit(c, vec![task("x", &[]), task("e", &[])], &["x", "e"]);
    h.finish(a, "x", 100);
    h.fail(a, "e", "boom");
    assert_eq!(h.state("e"), Some("erred"));
    h.kill(a);
    // `x` was lost and is wanted: it waits for a worker. Then the client lets it go.
    h.release(c, &["x"]);
    assert_eq!(h.state("x"), None, "forgotten once no one needs it");
    let (a2, out) = rejoin(&mut h, "a:1", &[("x", 100), ("e", 4)]);
    assert_eq!(released_on(&out, a2), vec!["e", "x"]);
    assert_eq!(h.s.cluster_info().workers[0].held_keys, 0);
}

#[test]
fn a_worker_registering_again_before_its_old_session_is_noticed_keeps_its_results() {
    let mut h = H::new();
    let c = h.client();
    let (a, _) = h.worker("a:1", 1);
    h.submit(c, vec![task("x", &[]), task("y", &[])], &["x", "y"]);
    h.finish(a, "x", 100);
    // `a` lost the scheduler while it still ran `y`, and registers again: the old record is
    // removed (same data address), `x` is adopted, `y` is placed again.
    let (a2, out) = rejoin(&mut h, "a:1", &[("x", 100)]);
    assert_eq!(h.s.cluster_info().workers_lost, 1);
    assert_eq!(h.state("x"), Some("memory"));
    assert_eq!(computes(&out), vec![(a2, "y".to_string())]);
    assert!(in_memory(&out, c).contains(&"x".to_string()));
    assert!(released_on(&out, a2).is_empty());
    // The dead session's late report changes nothing.
    assert!(h.finish(a, "y", 8).is_empty());
    let out = h.finish(a2, "y", 8);
    assert_eq!(in_memory(&out, c), vec!["y"]);
}
