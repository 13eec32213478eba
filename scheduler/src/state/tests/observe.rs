//! Tests of what the scheduler observes for the dashboard: task stream, progress per group,
//! progress events to clients, errors, worker samples, graphs, and the buffers' bounds.

use super::harness::*;
use crate::state::Outputs;
use crate::state::observe::{Observer, PROGRESS_EVERY_MS, RunTiming};
use tessera_core::key::TaskKey;
use tessera_core::wire::{ClientEvent, ClientId, SubmissionProgress, WorkerEvent, WorkerMetrics};

fn run(key: &str, thread: u32, start: u64, duration: u64) -> WorkerEvent {
    WorkerEvent::TaskFinished {
        key: k(key),
        nbytes: 64,
        duration_us: duration,
        started_unix_us: start,
        thread,
    }
}

fn timing(start: u64, duration: u64) -> RunTiming {
    RunTiming {
        started_unix_us: start,
        thread: 0,
        duration_us: duration,
    }
}

fn progress_events(out: &Outputs, c: ClientId) -> Vec<SubmissionProgress> {
    out.to_clients
        .iter()
        .filter_map(|(cc, e)| match e {
            ClientEvent::Progress(p) if *cc == c => Some(p.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn stream_records_each_accepted_run_with_worker_thread_and_timing() {
    let mut h = H::new();
    let (w, _) = h.worker("w:1", 2);
    let c = h.client();
    let tasks = vec![
        task("ones-a:0", &[]),
        task("ones-a:1", &[]),
        task("sum-b:0", &["ones-a:0", "ones-a:1"]),
    ];
    h.submit(c, tasks, &["sum-b:0"]);
    h.events(
        w,
        vec![run("ones-a:0", 0, 1_000, 10), run("ones-a:1", 1, 1_005, 20)],
    );
    h.events(w, vec![run("sum-b:0", 1, 1_030, 5)]);
    let s = h.s.task_stream(0, 100);
    assert_eq!(s.next_seq, 3);
    assert_eq!(s.skipped, 0);
    let got: Vec<_> = s
        .runs
        .iter()
        .map(|r| {
            (
                r.seq,
                r.key.as_str(),
                r.group.as_str(),
                r.worker,
                r.thread,
                r.start_us,
                r.duration_us,
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (0, "ones-a:0", "ones", w, 0, 1_000, 10),
            (1, "ones-a:1", "ones", w, 1, 1_005, 20),
            (2, "sum-b:0", "sum", w, 1, 1_030, 5),
        ]
    );
    // A result for a key nobody expects is not a run of the computation.
    h.events(w, vec![run("stray-x:0", 0, 2_000, 1)]);
    assert_eq!(h.s.task_stream(0, 100).next_seq, 3);
    assert_eq!(h.s.observed_totals().runs, 3);
}

#[test]
fn progress_counts_per_group_and_marks_completion() {
    let mut h = H::new();
    let (w, _) = h.worker("w:1", 4);
    let c = h.client();
    let tasks = vec![
        task("ones-a:0", &[]),
        task("ones-a:1", &[]),
        task("sum-b:0", &["ones-a:0", "ones-a:1"]),
    ];
    h.submit(c, tasks, &["sum-b:0"]);
    h.now = 10;
    h.events(w, vec![run("ones-a:0", 0, 1, 7)]);
    let p = &h.s.progress(10)[0];
    assert_eq!((p.total, p.done, p.erred, p.finished_ms), (3, 1, 0, None));
    let groups: Vec<_> = p
        .groups
        .iter()
        .map(|g| (g.name.as_str(), g.total, g.done, g.busy_us))
        .collect();
    assert_eq!(groups, vec![("ones", 2, 1, 7), ("sum", 1, 0, 0)]);
    h.now = 20;
    h.events(w, vec![run("ones-a:1", 0, 1, 1), run("sum-b:0", 0, 1, 1)]);
    let p = &h.s.progress(10)[0];
    assert_eq!((p.total, p.done, p.finished_ms), (3, 3, Some(20)));
    assert!(p.has_graph);
}

#[test]
fn progress_events_are_throttled_and_the_last_one_always_sent() {
    let mut h = H::new();
    let (w, _) = h.worker("w:1", 16);
    let c = h.client();
    let keys: Vec<String> = (0..5).map(|i| format!("ones-a:{i}")).collect();
    let tasks = keys.iter().map(|key| task(key, &[])).collect();
    let wanted: Vec<&str> = keys.iter().map(|s| s.as_str()).collect();
    h.submit(c, tasks, &wanted);
    h.now = 1_000;
    let out = h.events(w, vec![run(&keys[0], 0, 1, 1)]);
    let first = progress_events(&out, c);
    assert_eq!(first.len(), 1, "the first progress is sent at once");
    assert_eq!((first[0].total, first[0].done), (5, 1));
    h.now = 1_000 + PROGRESS_EVERY_MS / 2;
    let out = h.events(w, vec![run(&keys[1], 0, 1, 1)]);
    assert!(
        progress_events(&out, c).is_empty(),
        "too soon after the last one"
    );
    h.now = 1_000 + PROGRESS_EVERY_MS;
    let out = h.events(w, vec![run(&keys[2], 0, 1, 1)]);
    assert_eq!(progress_events(&out, c)[0].done, 3);
    let out = h.events(w, vec![run(&keys[3], 0, 1, 1), run(&keys[4], 0, 1, 1)]);
    let last = progress_events(&out, c);
    assert_eq!(last.len(), 1, "completion is sent even within the interval");
    assert_eq!((last[0].done, last[0].total, last[0].erred), (5, 5, 0));
}

#[test]
fn an_error_is_listed_once_and_its_dependents_count_as_erred() {
    let mut h = H::new();
    let (w, _) = h.worker("w:1", 2);
    let c = h.client();
    h.now = 5;
    h.submit(
        c,
        vec![task("load-a:0", &[]), task("inc-b:0", &["load-a:0"])],
        &["inc-b:0"],
    );
    h.fail(w, "load-a:0", "file not found");
    let errors = h.s.recent_errors();
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].key, "load-a:0");
    assert_eq!(errors[0].group, "load");
    assert_eq!(errors[0].worker, "w:1");
    assert!(errors[0].message.contains("file not found"));
    let p = &h.s.progress(1)[0];
    assert_eq!((p.total, p.done, p.erred), (2, 0, 2));
    assert!(p.finished_ms.is_some());
    assert_eq!(h.s.observed_totals().erred, 2);
}

#[test]
fn reused_keys_are_not_counted_again_and_refusals_are_counted() {
    let mut h = H::new();
    h.worker("w:1", 2);
    let c = h.client();
    let out = h.submit(c, vec![task("a-x:0", &[])], &["a-x:0"]);
    run_to_completion(&mut h, out);
    let out = h.submit(
        c,
        vec![task("a-x:0", &[]), task("b-y:0", &["a-x:0"])],
        &["b-y:0"],
    );
    run_to_completion(&mut h, out);
    let p = h.s.progress(10);
    assert_eq!(p.len(), 2);
    assert_eq!(
        (p[1].total, p[1].done),
        (1, 1),
        "only the new task belongs to it"
    );
    h.submit(c, vec![task("c-z:0", &["missing-q:0"])], &["c-z:0"]);
    let t = h.s.observed_totals();
    assert_eq!((t.submissions, t.refused), (2, 1));
}

#[test]
fn tasks_dropped_before_finishing_count_as_cancelled() {
    let mut h = H::new();
    let (w, _) = h.worker("w:1", 1);
    let c = h.client();
    h.submit(
        c,
        vec![task("a-x:0", &[]), task("a-x:1", &[])],
        &["a-x:0", "a-x:1"],
    );
    h.events(w, vec![run("a-x:0", 0, 1, 1)]);
    h.release(c, &["a-x:1"]);
    let p = &h.s.progress(1)[0];
    assert_eq!((p.done, p.cancelled), (1, 1));
    assert!(p.finished_ms.is_some());
}

#[test]
fn small_graphs_are_kept_with_live_states_and_large_ones_are_not() {
    let mut h = H::new();
    let (w, _) = h.worker("w:1", 2);
    let c = h.client();
    h.submit(
        c,
        vec![
            task("a-x:0", &[]),
            task("a-x:1", &[]),
            task("b-y:0", &["a-x:0", "a-x:1"]),
        ],
        &["b-y:0"],
    );
    h.events(w, vec![run("a-x:0", 0, 1, 1)]);
    let g = h.s.graph_view(None).expect("small graph kept");
    assert_eq!(g.nodes.len(), 3);
    assert_eq!(g.edges, vec![(0, 2), (1, 2)]);
    assert_eq!(g.nodes[0].state, "memory");
    assert_eq!(g.nodes[2].state, "waiting");
    let big: Vec<String> = (0..600).map(|i| format!("z-q:{i}")).collect();
    let wanted: Vec<&str> = big.iter().map(|s| s.as_str()).collect();
    h.submit(c, big.iter().map(|s| task(s, &[])).collect(), &wanted);
    let p = h.s.progress(10);
    let last = p.last().unwrap();
    assert_eq!(last.total, 600);
    assert!(!last.has_graph);
    assert!(h.s.graph_view(Some(last.seq)).is_none());
    assert_eq!(h.s.graph_view(None).unwrap().computation, g.computation);
}

#[test]
fn worker_samples_are_rate_limited() {
    let mut h = H::new();
    let (w, _) = h.worker("w:1", 2);
    for (now, mem) in [(0, 10), (100, 20), (300, 30)] {
        h.now = now;
        let m = WorkerMetrics {
            process_memory: mem,
            ..Default::default()
        };
        h.events(w, vec![WorkerEvent::Heartbeat(m)]);
    }
    let hist = h.s.worker_history();
    assert_eq!(hist.len(), 1);
    assert_eq!(hist[0].address, "w:1");
    let mems: Vec<_> = hist[0]
        .samples
        .iter()
        .map(|s| (s.at_ms, s.process_memory))
        .collect();
    assert_eq!(mems, vec![(0, 10), (300, 30)]);
}

#[test]
fn the_stream_ring_is_bounded_and_reports_what_was_skipped() {
    let mut o = Observer::new(10);
    let key = TaskKey::new("f-x:0");
    for i in 0..25u64 {
        o.finished(i as u32, &key, 1, timing(i, 1), 8);
    }
    let s = o.stream_since(0, 100);
    assert_eq!((s.next_seq, s.skipped, s.runs.len()), (25, 15, 10));
    assert_eq!(s.runs[0].seq, 15);
    let s = o.stream_since(20, 3);
    assert_eq!(
        s.runs.iter().map(|r| r.seq).collect::<Vec<_>>(),
        vec![22, 23, 24]
    );
    assert_eq!(s.skipped, 2);
    let s = o.stream_since(u64::MAX, 100);
    assert_eq!((s.next_seq, s.skipped, s.runs.len()), (25, 0, 0));
}

#[test]
fn a_task_run_twice_is_counted_once_in_progress() {
    let mut o = Observer::new(100);
    let key = TaskKey::new("f-x:0");
    o.submitted(1, 1, &[(7, key.clone())], None);
    o.finished(7, &key, 1, timing(0, 5), 8);
    o.finished(7, &key, 2, timing(0, 5), 8);
    let p = &o.computations(1)[0];
    assert_eq!((p.total, p.done), (1, 1));
    assert_eq!(p.groups[0].busy_us, 10);
    assert_eq!(o.totals().runs, 2);
    assert_eq!(o.stream_since(0, 10).runs.len(), 2);
}

#[test]
fn finished_computations_beyond_the_bound_are_dropped_oldest_first() {
    let mut o = Observer::new(100);
    for i in 0..100u32 {
        let key = TaskKey::new(format!("f-x:{i}"));
        o.submitted(1, u64::from(i), &[(i, key.clone())], None);
        o.finished(i, &key, 1, timing(0, 1), 8);
        let _ = o.due_progress();
    }
    let running = TaskKey::new("g-y:0");
    o.submitted(1, 1000, &[(500, running)], None);
    assert_eq!(o.computation_count(), 65);
    let kept = o.computations(100);
    assert_eq!(kept.first().unwrap().submission, 36);
    assert_eq!(kept.last().unwrap().submission, 1000);
}
