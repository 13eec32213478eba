//! Unit tests of failure handling: erring and retrying, worker deaths and lineage
//! recomputation, allowed_failures, lost scattered data, and inputs a worker could not fetch.

use super::harness::*;
use crate::state::SchedulerConfig;

#[test]
fn failure_errs_dependents_with_the_origin_and_resubmission_retries() {
    let mut h = H::new();
    let (w, _) = h.worker("a:1", 1);
    let c = h.client();
    let g = || vec![task("a", &[]), task("b", &["a"]), task("c", &["b"])];
    h.submit(c, g(), &["c", "b"]);
    let out = h.fail(w, "a", "kernel panicked: boom");
    let errs = erred(&out, c);
    assert_eq!(errs.len(), 2);
    for (_, e) in &errs {
        assert_eq!(e.key, "a");
        assert_eq!(e.worker, "a:1");
        assert_eq!(e.message, "kernel panicked: boom");
    }
    assert_eq!(h.state("c"), Some("erred"));
    assert_eq!(
        h.state("a"),
        Some("erred"),
        "kept while erred dependents are wanted"
    );
    // Wanting an erred key without resubmitting its graph reports the error at once.
    let c2 = h.client();
    let out = h.submit(c2, vec![], &["c"]);
    assert_eq!(erred(&out, c2)[0].1.key, "a");
    // Resubmitting the graph retries from scratch.
    let out = h.submit(c, g(), &["c"]);
    assert_eq!(computes(&out), vec![(w, "a".to_string())]);
    let all = run_to_completion(&mut h, out);
    assert!(
        all.iter()
            .any(|o| in_memory(o, c).contains(&"c".to_string()))
    );
    assert!(
        all.iter()
            .any(|o| in_memory(o, c2).contains(&"c".to_string()))
    );
    h.drop_client(c);
    h.drop_client(c2);
    assert_eq!(h.s.task_count(), 0);
}

#[test]
fn dead_worker_tasks_are_replaced() {
    let mut h = H::new();
    let (a, _) = h.worker("a:1", 1);
    let c = h.client();
    let out = h.submit(c, vec![task("x", &[]), task("y", &[])], &["x", "y"]);
    assert!(computes(&out).iter().all(|(w, _)| *w == a));
    let (b, _) = h.worker("b:1", 1);
    let out = h.kill(a);
    let mut moved = computes(&out);
    moved.sort();
    assert_eq!(moved, vec![(b, "x".to_string()), (b, "y".to_string())]);
    // The dead worker's late result is ignored (it is gone).
    assert!(h.finish(a, "x", 1).is_empty());
    h.finish(b, "x", 1);
    h.finish(b, "y", 1);
    assert!(h.s.is_in_memory(&k("x")) && h.s.is_in_memory(&k("y")));
    assert_eq!(h.s.cluster_info().workers_lost, 1);
}

#[test]
fn task_on_too_many_dead_workers_errs() {
    let mut h = H::with(SchedulerConfig {
        allowed_failures: 2,
        ..H::new().s.config().clone()
    });
    let c = h.client();
    let (a, _) = h.worker("a:1", 1);
    h.submit(c, vec![task("x", &[]), task("y", &["x"])], &["y"]);
    let (b, _) = h.worker("b:1", 1);
    let out = h.kill(a);
    assert_eq!(computes(&out), vec![(b, "x".to_string())]);
    let out = h.kill(b);
    let errs = erred(&out, c);
    assert_eq!(errs.len(), 1);
    assert_eq!(errs[0].0, "y");
    assert_eq!(errs[0].1.key, "x");
    assert!(
        errs[0].1.message.contains("2 workers that died"),
        "{}",
        errs[0].1.message
    );
    assert_eq!(errs[0].1.worker, "b:1");
}

#[test]
fn lost_results_are_recomputed_from_lineage() {
    let mut h = H::new();
    let (a, _) = h.worker("a:1", 1);
    let c = h.client();
    h.submit(
        c,
        vec![task("x", &[]), task("y", &["x"]), task("z", &["y"])],
        &["z"],
    );
    h.finish(a, "x", 1);
    h.finish(a, "y", 1);
    let out = h.finish(a, "z", 1);
    assert_eq!(in_memory(&out, c), vec!["z"]);
    assert_eq!(h.state("x"), Some("released"));
    // z lives only on a; losing a recomputes z, which needs y, which needs x.
    let (b, _) = h.worker("b:1", 1);
    let out = h.kill(a);
    assert_eq!(computes(&out), vec![(b, "x".to_string())]);
    assert_eq!(h.state("y"), Some("waiting"));
    assert_eq!(h.state("z"), Some("waiting"));
    let all = run_to_completion(&mut h, out);
    assert!(all.iter().any(|o| in_memory(o, c) == vec!["z"]));
    assert_eq!(h.s.who_has(&[k("z")]), vec![vec!["b:1".to_string()]]);
}

#[test]
fn losing_an_input_sends_processing_dependents_back_to_waiting() {
    let mut h = H::new();
    let (a, _) = h.worker("a:1", 1);
    let (b, _) = h.worker("b:1", 1);
    let c = h.client();
    h.scatter(c, "big", "b:1", 1_000_000_000);
    h.submit(c, vec![task("x", &[]), task("y", &["x", "big"])], &["y"]);
    // x runs somewhere; put its result on a explicitly so y goes to b (big input there).
    h.finish(a, "x", 10);
    assert_eq!(h.state("y"), Some("processing"));
    assert_eq!(h.processing(b), 1);
    let out = h.kill(a);
    // x is lost with a; y (processing on b) waits again and x is recomputed on b.
    assert_eq!(computes(&out), vec![(b, "x".to_string())]);
    assert_eq!(h.state("y"), Some("waiting"));
    let out = h.finish(b, "x", 10);
    assert_eq!(computes(&out), vec![(b, "y".to_string())]);
    // The stale run of y on b finishing first is accepted.
    let out = h.finish(b, "y", 10);
    assert_eq!(in_memory(&out, c), vec!["y"]);
}

#[test]
fn lost_scattered_data_errs_what_needs_it() {
    let mut h = H::new();
    let (a, _) = h.worker("a:1", 1);
    h.worker("b:1", 1);
    let c = h.client();
    h.scatter(c, "s", "a:1", 10);
    let out = h.submit(c, vec![task("t", &["s"])], &["t"]);
    assert_eq!(computes(&out), vec![(a, "t".to_string())]);
    let out = h.kill(a);
    assert!(computes(&out).is_empty());
    let errs = erred(&out, c);
    let keys: Vec<&str> = errs.iter().map(|(k, _)| k.as_str()).collect();
    assert!(keys.contains(&"s") && keys.contains(&"t"), "{keys:?}");
    for (_, e) in &errs {
        assert_eq!(e.key, "s");
        assert_eq!(e.worker, "a:1");
        assert!(e.message.contains("scattered") && e.message.contains("cannot be recomputed"));
    }
}

#[test]
fn missing_inputs_are_recomputed_before_the_task_runs_again() {
    let mut h = H::new();
    let (a, _) = h.worker("a:1", 1);
    let c = h.client();
    h.submit(c, vec![task("x", &[]), task("y", &["x"])], &["y"]);
    let out = h.finish(a, "x", 10);
    assert_eq!(computes(&out), vec![(a, "y".to_string())]);
    let out = h.missing(a, "y", &["x"]);
    // The stale copy is released before x is recomputed, on the same worker.
    let cmds: Vec<String> = out
        .to_workers
        .iter()
        .map(|(_, c)| format!("{c:?}").split('(').next().unwrap_or("").to_string())
        .collect();
    assert_eq!(cmds, vec!["Release", "Compute"]);
    assert_eq!(releases(&out), vec![(a, "x".to_string())]);
    assert_eq!(computes(&out), vec![(a, "x".to_string())]);
    assert_eq!(h.state("y"), Some("waiting"));
    let all = run_to_completion(&mut h, out);
    assert!(all.iter().any(|o| in_memory(o, c) == vec!["y"]));
}

#[test]
fn missing_scattered_input_errs_the_task() {
    let mut h = H::new();
    let (a, _) = h.worker("a:1", 1);
    let c = h.client();
    h.scatter(c, "s", "a:1", 10);
    h.submit(c, vec![task("t", &["s"])], &["t"]);
    let out = h.missing(a, "t", &["s"]);
    let errs = erred(&out, c);
    assert!(errs.iter().any(|(k, e)| k == "t" && e.key == "s"));
}

#[test]
fn endless_fetch_failures_eventually_err() {
    let mut h = H::new();
    let (a, _) = h.worker("a:1", 1);
    let c = h.client();
    h.submit(c, vec![task("x", &[]), task("y", &["x"])], &["y"]);
    let mut out = h.finish(a, "x", 10);
    for _ in 0..100 {
        if !erred(&out, c).is_empty() {
            break;
        }
        if computes(&out).iter().any(|(_, k)| k == "x") {
            out = h.finish(a, "x", 10);
        }
        if h.state("y") == Some("processing") {
            out = h.missing(a, "y", &["x"]);
        }
    }
    let errs = erred(&out, c);
    assert_eq!(errs.len(), 1);
    assert!(errs[0].1.message.contains("could not fetch"));
}

#[test]
fn re_registering_an_address_replaces_the_old_worker() {
    let mut h = H::new();
    let (a, _) = h.worker("a:1", 1);
    let c = h.client();
    h.submit(c, vec![task("x", &[])], &["x"]);
    h.finish(a, "x", 10);
    let (a2, out) = h.worker("a:1", 1);
    assert_ne!(a, a2);
    assert_eq!(computes(&out), vec![(a2, "x".to_string())]);
    assert_eq!(h.s.cluster_info().workers.len(), 1);
}

#[test]
fn no_worker_then_worker_arrives() {
    let mut h = H::new();
    let c = h.client();
    let out = h.submit(c, vec![task("x", &[]), task("y", &["x"])], &["y"]);
    assert!(computes(&out).is_empty());
    assert_eq!(h.state("x"), Some("queued"));
    let (a, out) = h.worker("a:1", 4);
    assert_eq!(computes(&out), vec![(a, "x".to_string())]);
    // The only worker dies with x processing: x goes back to the queue until another comes.
    let out = h.kill(a);
    assert!(computes(&out).is_empty());
    assert_eq!(h.state("x"), Some("queued"));
    let (b, out) = h.worker("b:1", 1);
    assert_eq!(computes(&out), vec![(b, "x".to_string())]);
}

#[test]
fn a_dead_worker_is_announced_to_every_other_worker() {
    use tessera_core::wire::WorkerCommand;
    let mut h = H::new();
    let (a, _) = h.worker("a:1", 1);
    let (b, _) = h.worker("b:1", 1);
    let (c, _) = h.worker("c:1", 1);
    let out = h.kill(a);
    let mut told: Vec<_> = out
        .to_workers
        .iter()
        .filter_map(|(w, cmd)| match cmd {
            WorkerCommand::PeerGone { address } => Some((*w, address.as_str())),
            _ => None,
        })
        .collect();
    told.sort();
    assert_eq!(told, vec![(b, "a:1"), (c, "a:1")]);
    h.check("after the kill");
}
