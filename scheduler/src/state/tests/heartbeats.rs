//! What heartbeats tell the scheduler: the figures it keeps, expiry of silent workers, and
//! memory pressure (a paused worker gets no new work while another can take it).

use super::harness::*;
use tessera_core::wire::WorkerEvent;

#[test]
fn heartbeats_update_metrics_and_expiry_removes_silent_workers() {
    let mut h = H::new();
    let (a, _) = h.worker("a:1", 1);
    let (b, _) = h.worker("b:1", 1);
    h.now = 5_000;
    let m = tessera_core::wire::WorkerMetrics {
        stored_bytes: 42,
        ..Default::default()
    };
    h.events(b, vec![WorkerEvent::Heartbeat(m)]);
    h.now = 8_000;
    let (gone, _) = h.expire(5_000);
    assert_eq!(gone, vec![a]);
    let info = h.s.cluster_info();
    assert_eq!(info.workers.len(), 1);
    assert_eq!(info.workers[0].metrics.stored_bytes, 42);
    assert_eq!(info.workers_lost, 1);
    assert_eq!(h.s.data_address(a), None);
}

#[test]
fn a_worker_paused_for_memory_gets_no_new_tasks_while_another_can_take_them() {
    let mut h = H::new();
    let c = h.client();
    let (a, _) = h.worker("a:1", 1);
    let (b, _) = h.worker("b:1", 1);
    let paused = tessera_core::wire::WorkerMetrics {
        paused: true,
        ..Default::default()
    };
    h.events(a, vec![WorkerEvent::Heartbeat(paused)]);
    let tasks: Vec<_> = (0..6).map(|i| task(&format!("r{i}"), &[])).collect();
    let names: Vec<String> = (0..6).map(|i| format!("r{i}")).collect();
    let wanted: Vec<&str> = names.iter().map(String::as_str).collect();
    let out = h.submit(c, tasks, &wanted);
    let assigned = computes(&out);
    assert!(!assigned.is_empty());
    assert!(
        assigned.iter().all(|(w, _)| *w == b),
        "a paused worker got tasks: {assigned:?}"
    );
    // Resumed, it gets work again at its next heartbeat.
    let out = h.events(a, vec![WorkerEvent::Heartbeat(Default::default())]);
    assert!(computes(&out).iter().any(|(w, _)| *w == a));
}

#[test]
fn when_every_worker_is_paused_work_still_goes_out() {
    let mut h = H::new();
    let c = h.client();
    let (a, _) = h.worker("a:1", 1);
    let paused = tessera_core::wire::WorkerMetrics {
        paused: true,
        ..Default::default()
    };
    h.events(a, vec![WorkerEvent::Heartbeat(paused)]);
    let out = h.submit(c, vec![task("x", &[])], &["x"]);
    assert_eq!(computes(&out), vec![(a, "x".to_string())]);
}
