//! Unit tests of the normal paths: submission and validation, key reuse, releasing,
//! placement by locality and load, root-task withholding and co-assignment, work stealing.

use super::harness::*;
use crate::state::SchedulerConfig;
use tessera_core::key::TaskKey;
use tessera_core::wire::{ClientEvent, WorkerCommand, WorkerEvent};

#[test]
fn single_root_task_runs_and_is_reported() {
    let mut h = H::new();
    let (w, _) = h.worker("a:1", 2);
    let c = h.client();
    let out = h.submit(c, vec![task("x", &[])], &["x"]);
    assert!(matches!(
        out.to_clients[0].1,
        ClientEvent::Submitted { error: None, .. }
    ));
    assert_eq!(computes(&out), vec![(w, "x".to_string())]);
    let cmd = &compute_tasks(&out)[0].1;
    assert_eq!(cmd.op, vec![7, 7]);
    assert!(cmd.inputs.is_empty());
    let out = h.finish(w, "x", 10);
    assert_eq!(in_memory(&out, c), vec!["x"]);
    assert_eq!(
        h.s.who_has(&[k("x"), k("nope")]),
        vec![vec!["a:1".to_string()], vec![]]
    );
    let info = h.s.cluster_info();
    assert_eq!(info.tasks_completed, 1);
    assert_eq!(info.workers.len(), 1);
    assert_eq!(info.workers[0].held_keys, 1);
    assert!(info.tasks_by_state.contains(&("memory".to_string(), 1)));
    assert_eq!(h.s.data_address(w), Some("a:1"));
}

#[test]
fn chain_flows_and_intermediates_are_released() {
    let mut h = H::new();
    let (w, _) = h.worker("a:1", 2);
    let c = h.client();
    let g = vec![task("a", &[]), task("b", &["a"]), task("c", &["b"])];
    let out = h.submit(c, g, &["c"]);
    assert_eq!(computes(&out), vec![(w, "a".to_string())]);
    let out = h.finish(w, "a", 10);
    let cmds = compute_tasks(&out);
    assert_eq!(cmds.len(), 1);
    assert_eq!(cmds[0].1.key, k("b"));
    assert_eq!(cmds[0].1.inputs[0].holders, vec!["a:1".to_string()]);
    assert_eq!(cmds[0].1.inputs[0].nbytes, 10);
    assert!(releases(&out).is_empty(), "a is still needed by b");
    let out = h.finish(w, "b", 10);
    assert_eq!(computes(&out), vec![(w, "c".to_string())]);
    assert_eq!(releases(&out), vec![(w, "a".to_string())]);
    let out = h.finish(w, "c", 10);
    assert_eq!(in_memory(&out, c), vec!["c"]);
    assert_eq!(releases(&out), vec![(w, "b".to_string())]);
    assert_eq!(h.state("a"), Some("released"), "kept for lineage");
    let out = h.release(c, &["c"]);
    assert_eq!(releases(&out), vec![(w, "c".to_string())]);
    assert_eq!(h.s.task_count(), 0, "everything forgotten");
}

#[test]
fn invalid_submissions_are_refused_without_changes() {
    let mut h = H::new();
    h.worker("a:1", 1);
    let c = h.client();
    let out = h.submit(c, vec![task("b", &["zz"])], &["b"]);
    let err = submitted(&out, c).unwrap().unwrap();
    assert!(err.contains("zz"), "{err}");
    let out = h.submit(c, vec![], &["q"]);
    assert!(
        submitted(&out, c)
            .unwrap()
            .unwrap()
            .contains("wanted key q")
    );
    let out = h.submit(c, vec![task("a", &["b"]), task("b", &["a"])], &["a"]);
    assert!(submitted(&out, c).unwrap().unwrap().contains("cycle"));
    let out = h.submit(c, vec![task("a", &[]), task("a", &[])], &["a"]);
    assert!(submitted(&out, c).unwrap().is_some());
    let out = h.scatter(c, "x", "nowhere:9", 5);
    assert!(submitted(&out, c).unwrap().unwrap().contains("nowhere:9"));
    let out = h.submit(999, vec![task("a", &[])], &["a"]);
    assert!(
        submitted(&out, 999)
            .unwrap()
            .unwrap()
            .contains("unknown client")
    );
    assert_eq!(h.s.task_count(), 0);
    assert!(computes(&out).is_empty());
}

#[test]
fn known_keys_are_reused_not_recomputed() {
    let mut h = H::new();
    let (w, _) = h.worker("a:1", 2);
    let c1 = h.client();
    let c2 = h.client();
    let out = h.submit(c1, vec![task("x", &[])], &["x"]);
    assert_eq!(computes(&out).len(), 1);
    let out = h.submit(c2, vec![task("x", &[]), task("y", &["x"])], &["y"]);
    assert!(computes(&out).is_empty(), "x is already processing");
    let out = h.finish(w, "x", 1);
    assert_eq!(in_memory(&out, c1), vec!["x"]);
    assert_eq!(computes(&out), vec![(w, "y".to_string())]);
    let out = h.finish(w, "y", 1);
    assert_eq!(in_memory(&out, c2), vec!["y"]);
    let c3 = h.client();
    let out = h.submit(c3, vec![task("x", &[])], &["x", "x"]);
    assert_eq!(in_memory(&out, c3), vec!["x"], "reported once, right away");
    assert!(computes(&out).is_empty());
    // Two references from c3: the first release keeps it (c1 and c3 still want it).
    h.release(c3, &["x"]);
    h.release(c1, &["x"]);
    assert!(h.s.is_in_memory(&k("x")));
    let out = h.release(c3, &["x"]);
    assert_eq!(releases(&out), vec![(w, "x".to_string())]);
}

#[test]
fn released_results_produce_release_commands() {
    let mut h = H::new();
    let (w1, _) = h.worker("a:1", 1);
    let (w2, _) = h.worker("b:1", 1);
    let c = h.client();
    let out = h.submit(c, vec![task("x", &[]), task("y", &[])], &["x", "y"]);
    let placed = computes(&out);
    assert_eq!(placed.len(), 2);
    for (w, key) in &placed {
        h.finish(*w, key, 5);
    }
    let out = h.release(c, &["x", "y"]);
    let mut rel = releases(&out);
    rel.sort();
    let mut expect = vec![
        (placed[0].0, "x".to_string()),
        (placed[1].0, "y".to_string()),
    ];
    expect.sort();
    assert_eq!(rel, expect);
    assert!(h.s.who_has(&[k("x")])[0].is_empty());
    let _ = w2;
    assert_eq!(h.s.task_count(), 0);
    // A late result for a forgotten key is answered with Release.
    let out = h.finish(w1, "x", 5);
    assert_eq!(releases(&out), vec![(w1, "x".to_string())]);
}

#[test]
fn disconnecting_client_cancels_its_work() {
    let mut h = H::new();
    let (w, _) = h.worker("a:1", 1);
    let c = h.client();
    let roots: Vec<String> = (0..10).map(|i| format!("r{i}")).collect();
    let refs: Vec<&str> = roots.iter().map(String::as_str).collect();
    let g = roots
        .iter()
        .map(|r| task(r, &[]))
        .chain([task("s", &refs)])
        .collect();
    let out = h.submit(c, g, &["s"]);
    assert_eq!(computes(&out).len(), 3, "threads 1 + slack 2");
    let out = h.drop_client(c);
    assert!(out.is_empty());
    assert_eq!(h.s.task_count(), 0);
    let out = h.finish(w, "r0", 5);
    assert_eq!(releases(&out), vec![(w, "r0".to_string())]);
    assert_eq!(h.processing(w), 0);
}

#[test]
fn task_goes_to_the_worker_holding_its_largest_input() {
    for (big_on, small_on) in [("a:1", "b:1"), ("b:1", "a:1")] {
        let mut h = H::new();
        let (wa, _) = h.worker("a:1", 2);
        let (wb, _) = h.worker("b:1", 2);
        let c = h.client();
        h.scatter(c, "big", big_on, 1_000_000_000);
        h.scatter(c, "small", small_on, 10);
        let out = h.submit(c, vec![task("t", &["small", "big"])], &["t"]);
        let cmds = compute_tasks(&out);
        assert_eq!(cmds.len(), 1);
        let expect = if big_on == "a:1" { wa } else { wb };
        assert_eq!(cmds[0].0, expect);
        assert_eq!(cmds[0].1.inputs[1].holders, vec![big_on.to_string()]);
        assert_eq!(cmds[0].1.inputs[1].nbytes, 1_000_000_000);
    }
}

#[test]
fn cheap_inputs_spread_tasks_by_load() {
    let mut h = H::new();
    let (wa, _) = h.worker("a:1", 2);
    let (wb, _) = h.worker("b:1", 2);
    let c = h.client();
    h.scatter(c, "x", "a:1", 100);
    let g: Vec<_> = (0..20).map(|i| task(&format!("t{i}"), &["x"])).collect();
    let wanted: Vec<String> = (0..20).map(|i| format!("t{i}")).collect();
    let wanted: Vec<&str> = wanted.iter().map(String::as_str).collect();
    let out = h.submit(c, g, &wanted);
    let placed = computes(&out);
    assert_eq!(placed.len(), 20, "non-root tasks are not withheld");
    let on_a = placed.iter().filter(|(w, _)| *w == wa).count();
    let on_b = placed.iter().filter(|(w, _)| *w == wb).count();
    assert!(on_a >= 8 && on_b >= 8, "a {on_a}, b {on_b}");
}

#[test]
fn root_tasks_are_withheld() {
    let mut h = H::new();
    let (w, _) = h.worker("a:1", 2);
    let c = h.client();
    let g: Vec<_> = (0..20).map(|i| task(&format!("r{i:02}"), &[])).collect();
    let names: Vec<String> = (0..20).map(|i| format!("r{i:02}")).collect();
    let wanted: Vec<&str> = names.iter().map(String::as_str).collect();
    let out = h.submit(c, g, &wanted);
    let mut queue: Vec<String> = computes(&out).into_iter().map(|(_, k)| k).collect();
    assert_eq!(queue.len(), 4, "threads 2 + slack 2");
    assert_eq!(h.s.state_name(&k("r10")), Some("queued"));
    let mut done = 0;
    while let Some(key) = queue.first().cloned() {
        queue.remove(0);
        let out = h.finish(w, &key, 1);
        done += 1;
        assert!(h.processing(w) <= 4);
        queue.extend(computes(&out).into_iter().map(|(_, k)| k));
        assert!(queue.len() <= 4);
    }
    assert_eq!(done, 20);
    // A second worker joining while roots are queued gets its share at once.
    let c2 = h.client();
    let g: Vec<_> = (0..20).map(|i| task(&format!("q{i:02}"), &[])).collect();
    let names: Vec<String> = (0..20).map(|i| format!("q{i:02}")).collect();
    let wanted: Vec<&str> = names.iter().map(String::as_str).collect();
    h.submit(c2, g, &wanted);
    let (w2, out) = h.worker("b:1", 2);
    assert_eq!(computes(&out).len(), 4);
    assert!(computes(&out).iter().all(|(w, _)| *w == w2));
}

#[test]
fn neighbouring_root_tasks_are_co_assigned() {
    let mut h = H::new();
    let (w0, _) = h.worker("a:1", 2);
    let (w1, _) = h.worker("b:1", 2);
    let c = h.client();
    let n = 32;
    let mut g: Vec<_> = (0..n).map(|i| task(&format!("r{i:02}"), &[])).collect();
    let mut wanted = Vec::new();
    for i in 0..n / 2 {
        let (a, b) = (format!("r{:02}", 2 * i), format!("r{:02}", 2 * i + 1));
        g.push(task(&format!("s{i:02}"), &[&a, &b]));
        wanted.push(format!("s{i:02}"));
    }
    let wanted: Vec<&str> = wanted.iter().map(String::as_str).collect();
    let out = h.submit(c, g, &wanted);
    let first = computes(&out);
    let on = |w| {
        first
            .iter()
            .filter(|(x, _)| *x == w)
            .map(|(_, k)| k.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(on(w0), vec!["r00", "r01", "r02", "r03"]);
    assert_eq!(on(w1), vec!["r08", "r09", "r10", "r11"]);
    // Run everything (FIFO per worker) and count pairs whose roots ran on one worker.
    let mut root_worker = std::collections::HashMap::new();
    let mut queues = vec![
        std::collections::VecDeque::new(),
        std::collections::VecDeque::new(),
    ];
    let mut route = |out: &crate::state::Outputs,
                     queues: &mut Vec<std::collections::VecDeque<String>>| {
        for (w, key) in computes(out) {
            if key.starts_with('r') {
                root_worker.insert(key.clone(), w);
            }
            queues[w as usize].push_back(key);
        }
    };
    route(&out, &mut queues);
    let mut turn = 0;
    while queues.iter().any(|q| !q.is_empty()) {
        turn += 1;
        let w = (turn % 2) as usize;
        if let Some(key) = queues[w].pop_front() {
            let out = h.finish(w as u64, &key, 1000);
            route(&out, &mut queues);
        }
    }
    let together = (0..n / 2)
        .filter(|i| {
            root_worker[&format!("r{:02}", 2 * i)] == root_worker[&format!("r{:02}", 2 * i + 1)]
        })
        .count();
    // Round-robin handing-out would co-locate about half of the pairs.
    assert!(together >= 12, "only {together} of 16 pairs co-located");
    assert!(wanted.iter().all(|s| h.s.is_in_memory(&k(s))));
}

#[test]
fn idle_worker_steals_queued_tasks() {
    let mut h = H::new();
    let (a, _) = h.worker("a:1", 1);
    let c = h.client();
    h.scatter(c, "x", "a:1", 100);
    let g: Vec<_> = (0..10).map(|i| task(&format!("t{i}"), &["x"])).collect();
    let names: Vec<String> = (0..10).map(|i| format!("t{i}")).collect();
    let wanted: Vec<&str> = names.iter().map(String::as_str).collect();
    let out = h.submit(c, g, &wanted);
    assert_eq!(computes(&out).len(), 10);
    assert!(computes(&out).iter().all(|(w, _)| *w == a));
    let (b, out) = h.worker("b:1", 1);
    let st = steals(&out);
    assert_eq!(st.len(), 1, "one per thief thread");
    assert_eq!(st[0].0, a);
    // Refused: the task is running; nothing moves.
    let out = h.events(
        a,
        vec![WorkerEvent::StealAnswer {
            key: k(&st[0].1),
            stolen: false,
        }],
    );
    assert!(computes(&out).is_empty());
    // The refusal leaves b idle, so another request goes out.
    let st = steals(&out);
    assert_eq!(st.len(), 1);
    let out = h.events(
        a,
        vec![WorkerEvent::StealAnswer {
            key: k(&st[0].1),
            stolen: true,
        }],
    );
    assert_eq!(computes(&out), vec![(b, st[0].1.clone())]);
    assert_eq!(h.state(&st[0].1), Some("processing"));
    assert_eq!(h.processing(b), 1);
    assert_eq!(h.processing(a), 9);
    // The victim finishing the stolen task anyway is accepted (the key is deterministic);
    // the thief's duplicate is then released.
    let out = h.finish(a, &st[0].1, 8);
    assert_eq!(in_memory(&out, c), vec![st[0].1.clone()]);
    let out = h.finish(b, &st[0].1, 8);
    assert_eq!(releases(&out), vec![(b, st[0].1.clone())]);
    assert_eq!(h.s.who_has(&[k(&st[0].1)]), vec![vec!["a:1".to_string()]]);
}

#[test]
fn stealing_can_be_disabled() {
    let mut h = H::with(SchedulerConfig {
        work_stealing: false,
        ..H::new().s.config().clone()
    });
    h.worker("a:1", 1);
    let c = h.client();
    h.scatter(c, "x", "a:1", 100);
    let g: Vec<_> = (0..10).map(|i| task(&format!("t{i}"), &["x"])).collect();
    h.submit(c, g, &["t0"]);
    let (_, out) = h.worker("b:1", 1);
    assert!(steals(&out).is_empty());
}

#[test]
fn steal_answer_after_completion_is_ignored() {
    let mut h = H::new();
    let (a, _) = h.worker("a:1", 1);
    let c = h.client();
    h.scatter(c, "x", "a:1", 100);
    let g: Vec<_> = (0..6).map(|i| task(&format!("t{i}"), &["x"])).collect();
    h.submit(c, g, &["t0", "t1", "t2", "t3", "t4", "t5"]);
    let (_, out) = h.worker("b:1", 1);
    let st = steals(&out);
    assert_eq!(st.len(), 1);
    h.finish(a, &st[0].1, 8);
    let out = h.events(
        a,
        vec![WorkerEvent::StealAnswer {
            key: k(&st[0].1),
            stolen: true,
        }],
    );
    assert!(!computes(&out).iter().any(|(_, key)| *key == st[0].1));
    assert!(h.s.is_in_memory(&k(&st[0].1)));
}

#[test]
fn stray_and_malformed_events_are_ignored() {
    let mut h = H::new();
    let (w, _) = h.worker("a:1", 1);
    assert!(
        h.events(
            77,
            vec![WorkerEvent::StealAnswer {
                key: k("q"),
                stolen: true
            }]
        )
        .is_empty()
    );
    assert!(h.kill(77).is_empty());
    let out = h.finish(w, "ghost", 1);
    assert_eq!(
        out.to_workers,
        vec![(w, WorkerCommand::Release(vec![k("ghost")]))]
    );
    assert!(h.fail(w, "ghost", "boom").is_empty());
    assert!(h.missing(w, "ghost", &["x"]).is_empty());
    let c = h.client();
    assert!(h.release(c, &["ghost"]).is_empty());
    assert!(h.release(555, &["ghost"]).is_empty());
    assert!(h.drop_client(555).is_empty());
    // A failure reported by a worker the task is not processing on is ignored.
    h.submit(c, vec![task("x", &[])], &["x"]);
    let (w2, _) = h.worker("b:1", 1);
    assert!(h.fail(w2, "x", "not mine").is_empty());
    assert_eq!(h.state("x"), Some("processing"));
}

#[test]
fn key_index_survives_hash_collisions() {
    use crate::state::key_index::HashIndex;
    let keys = [k("a"), k("b"), k("c")];
    let key_of = |i: u32| &keys[i as usize];
    let mut ix: HashIndex<TaskKey> = HashIndex::default();
    // Force all three keys under one hash: one primary entry, two colliding.
    for i in 0..3 {
        assert_eq!(
            ix.try_insert_hashed(7, keys[i as usize].clone(), i, key_of),
            Ok(())
        );
    }
    assert_eq!(
        ix.try_insert_hashed(7, k("b"), 9, key_of),
        Err(1),
        "duplicate detected"
    );
    assert_eq!(ix.len(), 3);
    for i in 0..3 {
        assert_eq!(ix.get_hashed(7, &keys[i as usize], key_of), Some(i));
    }
    assert_eq!(ix.get_hashed(7, &k("zz"), key_of), None);
    // Removing the primary entry promotes a colliding one (removal rehashes the real key,
    // so use real hashes for this part).
    let mut ix: HashIndex<TaskKey> = HashIndex::default();
    for i in 0..3 {
        let h = ix.hash(&keys[i as usize]);
        ix.insert_hashed(h, || keys[i as usize].clone(), i);
    }
    ix.remove(&keys[0], 0);
    assert_eq!(ix.len(), 2);
    assert_eq!(ix.get_hashed(ix.hash(&keys[1]), &keys[1], key_of), Some(1));
    assert_eq!(ix.get_hashed(ix.hash(&keys[0]), &keys[0], key_of), None);
}

#[test]
fn root_slack_grows_for_tiny_tasks_and_shrinks_back() {
    let mut h = H::new();
    let (w, _) = h.worker("a:1", 2);
    let c = h.client();
    let n = 2000;
    let names: Vec<String> = (0..n).map(|i| format!("r{i:04}")).collect();
    let g: Vec<_> = names.iter().map(|k| task(k, &[])).collect();
    let wanted: Vec<&str> = names.iter().map(String::as_str).collect();
    let out = h.submit(c, g, &wanted);
    let first: Vec<String> = computes(&out).into_iter().map(|(_, k)| k).collect();
    assert_eq!(
        first.len(),
        4,
        "before any measurement: threads 2 + slack 2"
    );
    // Tasks of 10 microseconds: about 2 ms of work (256 tasks at most) is queued.
    let tiny = |key: &str| WorkerEvent::TaskFinished {
        key: k(key),
        nbytes: 8,
        duration_us: 10,
        started_unix_us: 0,
        thread: 0,
    };
    h.events(w, vec![tiny(&first[0])]);
    assert_eq!(h.processing(w), 2 + 256, "tiny tasks get a deep queue");
    // Long tasks bring it back down to threads + slack as the average moves.
    let mut done = 1;
    while done < n {
        let running: Vec<String> = (0..n)
            .map(|i| names[i].clone())
            .filter(|key| h.s.state_name(&k(key)) == Some("processing"))
            .take(8)
            .collect();
        if running.is_empty() {
            break;
        }
        let events = running
            .iter()
            .map(|key| WorkerEvent::TaskFinished {
                key: k(key),
                nbytes: 8,
                duration_us: 200_000,
                started_unix_us: 0,
                thread: 0,
            })
            .collect();
        h.events(w, events);
        done += running.len();
        if h.processing(w) <= 4 {
            break;
        }
    }
    assert!(
        h.processing(w) <= 4,
        "slack did not shrink back: {} processing",
        h.processing(w)
    );
}

#[test]
fn measured_transfer_rates_steer_placement() {
    use tessera_core::wire::WorkerMetrics;
    // y0 and y1 both read a 60 MB chunk held by a; b is idle. At the assumed 100 MB/s,
    // moving it (0.6 s) costs more than queueing behind y0 (0.5 s): both go to a.
    let run = |rate: Option<u64>| {
        let mut h = H::new();
        let (a, _) = h.worker("a:1", 1);
        let (b, _) = h.worker("b:1", 1);
        let c = h.client();
        h.scatter(c, "x", "a:1", 60_000_000);
        if let Some(rate) = rate {
            let beat = WorkerEvent::Heartbeat(WorkerMetrics {
                transfer_rate: rate,
                ..Default::default()
            });
            h.events(b, vec![beat]);
        }
        let out = h.submit(
            c,
            vec![task("y0", &["x"]), task("y1", &["x"])],
            &["y0", "y1"],
        );
        let placed = computes(&out);
        let on = |key: &str| placed.iter().find(|(_, k)| k == key).map(|(w, _)| *w);
        (on("y0"), on("y1"), a, b)
    };
    let (y0, y1, a, _) = run(None);
    assert_eq!((y0, y1), (Some(a), Some(a)));
    // A worker measured 100 GB/s: moving the chunk is now cheaper than waiting.
    let (y0, y1, a, b) = run(Some(100_000_000_000));
    assert_eq!((y0, y1), (Some(a), Some(b)));
}
