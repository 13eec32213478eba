//! The dashboard on a real cluster: the JSON API's counts, `/metrics` of the scheduler and of
//! every worker (parsed as Prometheus text) agree with what was computed; reports name it all.

mod common;

use common::http::{first_event, get, get_json};
use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};
use tessera::LocalCluster;
use tessera::array::{ones, random};

fn cluster() -> LocalCluster {
    common::cluster_threads(2, 2)
}

/// Samples of a Prometheus text answer, by name plus sorted labels.
fn parse_metrics(text: &str) -> prometheus_parse::Scrape {
    prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).expect("parses")
}

/// The value of a counter or gauge sample named `name` (with or without `_total`) whose
/// labels include `labels`.
fn value(s: &prometheus_parse::Scrape, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    s.samples
        .iter()
        .filter(|x| x.metric == name || x.metric == format!("{name}_total"))
        .filter(|x| labels.iter().all(|(k, v)| x.labels.get(k) == Some(*v)))
        .find_map(|x| match &x.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => Some(*v),
            _ => None,
        })
}

/// Observation count of histogram `name` per value of label `label`.
fn histogram_counts(s: &prometheus_parse::Scrape, name: &str, label: &str) -> HashMap<String, f64> {
    let mut out = HashMap::new();
    for x in &s.samples {
        let l = x.labels.get(label).unwrap_or("").to_string();
        match &x.value {
            prometheus_parse::Value::Histogram(buckets) if x.metric == name => {
                let inf = buckets.iter().map(|b| b.count).fold(0.0, f64::max);
                out.insert(l, inf);
            }
            prometheus_parse::Value::Counter(v) | prometheus_parse::Value::Untyped(v)
                if x.metric == format!("{name}_count") =>
            {
                out.insert(l, *v);
            }
            _ => {}
        }
    }
    out
}

/// Wait until the workers' heartbeats report `done` tasks in total.
fn wait_for_heartbeats(client: &tessera::Client, done: u64) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let info = client.cluster_info().unwrap();
        let reported: u64 = info.workers.iter().map(|w| w.metrics.tasks_done).sum();
        if reported >= done {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "heartbeats report {reported} of {done} tasks"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn api_metrics_and_report_agree_with_the_computation() {
    let cluster = cluster();
    let client = cluster.client().unwrap();
    let link = client
        .dashboard_link()
        .unwrap()
        .expect("LocalCluster serves a dashboard");
    let addr = link
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();
    assert_eq!(
        cluster.dashboard_link().unwrap().as_deref(),
        Some(link.as_str())
    );

    let report = std::env::temp_dir().join(format!("tessera-report-{}.html", std::process::id()));
    let x = random::<f64>(&[600, 600], &[100, 100], 3);
    let y = (&x + &ones::<f64>(&[600, 600], &[100, 100])).sum_axis(0);
    let v: ndarray::Array1<f64> = client
        .performance_report(&report, || client.compute(&y))
        .unwrap();
    assert_eq!(v.len(), 600);

    let info = client.cluster_info().unwrap();
    let completed = info.tasks_completed;
    assert!(
        completed >= 36,
        "at least one task per chunk, got {completed}"
    );
    wait_for_heartbeats(&client, completed);

    // JSON API.
    let cluster_json = get_json(&addr, "/api/cluster");
    assert_eq!(cluster_json["tasks_completed"], completed);
    assert_eq!(cluster_json["task_runs"], completed, "no task ran twice");
    assert_eq!(cluster_json["submissions"], 1);
    assert_eq!(cluster_json["dashboard_address"], addr.as_str());
    let workers = get_json(&addr, "/api/workers");
    let workers = workers.as_array().unwrap();
    assert_eq!(workers.len(), 2);
    let ids: BTreeSet<u64> = workers.iter().map(|w| w["id"].as_u64().unwrap()).collect();
    let stream = get_json(&addr, "/api/tasks/stream?since=0&limit=100000");
    let runs = stream["runs"].as_array().unwrap();
    assert_eq!(runs.len() as u64, completed);
    assert_eq!(stream["next_seq"], completed);
    for r in runs {
        assert!(ids.contains(&r["worker"].as_u64().unwrap()));
        assert!(r["thread"].as_u64().unwrap() < 2, "{r}");
        assert!(
            r["start_us"].as_u64().unwrap() > 1_600_000_000_000_000,
            "{r}"
        );
    }
    let per_worker: HashMap<u64, u64> = runs.iter().fold(HashMap::new(), |mut m, r| {
        *m.entry(r["worker"].as_u64().unwrap()).or_default() += 1;
        m
    });
    let progress = get_json(&addr, "/api/progress");
    let comp = &progress.as_array().unwrap()[0];
    assert_eq!(comp["total"], completed);
    assert_eq!(comp["done"], completed);
    assert_eq!(comp["erred"], 0);
    assert!(comp["finished_ms"].is_u64());
    let groups: BTreeSet<String> = comp["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            assert_eq!(g["done"], g["total"]);
            g["name"].as_str().unwrap().to_string()
        })
        .collect();
    let stream_groups: BTreeSet<String> = runs
        .iter()
        .map(|r| r["group"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(groups, stream_groups);
    assert_eq!(get_json(&addr, "/api/errors"), serde_json::json!([]));
    let graph = get_json(&addr, "/api/graph");
    assert_eq!(graph["nodes"].as_array().unwrap().len() as u64, completed);
    assert!(
        graph["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .all(|n| n["state"] != "erred")
    );
    let (event, data) = first_event(&addr, "/api/events");
    assert_eq!(event, "update");
    let update: serde_json::Value = serde_json::from_str(&data).unwrap();
    assert_eq!(update["workers"].as_array().unwrap().len(), 2);
    assert_eq!(update["stream"]["next_seq"], completed);

    // Bad requests are answered, not crashed on.
    assert_eq!(get(&addr, "/api/nope").0, 404);
    assert_eq!(get(&addr, "/no/such/page").0, 404);
    assert_eq!(get(&addr, "/api/tasks/stream?since=abc").0, 400);
    assert_eq!(get(&addr, "/api/graph?computation=999999").0, 404);
    assert_eq!(get(&addr, "/").0, 200);

    // The scheduler's /metrics.
    let (status, text) = get(&addr, "/metrics");
    assert_eq!(status, 200);
    let m = parse_metrics(&text);
    let c = completed as f64;
    assert_eq!(value(&m, "tessera_scheduler_tasks_completed", &[]), Some(c));
    assert_eq!(value(&m, "tessera_scheduler_task_runs", &[]), Some(c));
    assert_eq!(
        value(&m, "tessera_scheduler_graph_submissions", &[]),
        Some(1.0)
    );
    assert_eq!(value(&m, "tessera_scheduler_workers", &[]), Some(2.0));
    assert_eq!(
        value(&m, "tessera_scheduler_worker_threads", &[]),
        Some(4.0)
    );
    let by_state: f64 = ["waiting", "processing", "erred"]
        .iter()
        .map(|s| value(&m, "tessera_scheduler_tasks", &[("state", s)]).expect("state gauge"))
        .sum();
    assert_eq!(by_state, 0.0, "nothing pending after compute");
    let latency = histogram_counts(&m, "tessera_scheduler_batch_seconds", "");
    assert!(latency.values().sum::<f64>() > 0.0, "{text}");
    // The one event read above was measured and counted.
    let updates = histogram_counts(&m, "tessera_scheduler_dashboard_update_seconds", "");
    assert!(updates.values().sum::<f64>() >= 1.0, "{text}");
    let update_bytes = value(&m, "tessera_scheduler_dashboard_update_bytes", &[]).unwrap();
    assert!(
        update_bytes >= data.len() as f64,
        "{update_bytes} < {}",
        data.len()
    );

    // Every worker's /metrics: tasks executed and per-op durations add up.
    let mut executed = 0.0;
    let mut ops_seen = BTreeSet::new();
    for w in workers {
        let maddr = w["registration"]["metrics_address"].as_str().unwrap();
        assert!(
            !maddr.is_empty(),
            "workers of a LocalCluster serve /metrics"
        );
        let (status, text) = get(maddr, "/metrics");
        assert_eq!(status, 200);
        let wm = parse_metrics(&text);
        let n = value(&wm, "tessera_worker_tasks_executed", &[]).expect("tasks executed");
        let id = w["id"].as_u64().unwrap();
        assert_eq!(
            n as u64,
            per_worker.get(&id).copied().unwrap_or(0),
            "worker {id}"
        );
        let durations = histogram_counts(&wm, "tessera_worker_task_duration_seconds", "op");
        assert_eq!(durations.values().sum::<f64>(), n, "{text}");
        ops_seen.extend(durations.into_keys().filter(|k| !k.is_empty()));
        assert!(value(&wm, "tessera_worker_process_memory_bytes", &[]).unwrap() > 0.0);
        assert!(value(&wm, "tessera_worker_sent_bytes", &[]).is_some());
        assert_eq!(get(maddr, "/nope").0, 404);
        executed += n;
    }
    assert_eq!(executed, c);
    assert_eq!(ops_seen, groups);

    // The performance report names every worker and operation.
    let html = std::fs::read_to_string(&report).unwrap();
    let _ = std::fs::remove_file(&report);
    for w in workers {
        let a = w["registration"]["data_address"].as_str().unwrap();
        assert!(
            html.contains(&format!(r#"data-address="{a}""#)),
            "report lacks worker {a}"
        );
    }
    for g in &groups {
        assert!(
            html.contains(&format!(r#"data-op="{g}""#)),
            "report lacks op {g}"
        );
    }
    assert_eq!(html.matches("<rect ").count() as u64, completed);
}

#[test]
fn progress_events_reach_the_client_and_hooks() {
    let cluster = cluster();
    let client = cluster.client().unwrap();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let s = seen.clone();
    client.on_progress(move |p| s.lock().unwrap().push(p.clone()));
    let x = random::<f64>(&[400, 400], &[50, 50], 1);
    let _: ndarray::Array1<f64> = client.compute(&x.sum_axis(1)).unwrap();
    let last = client.progress().expect("progress was reported");
    assert!(last.total > 0);
    assert_eq!(last.done, last.total);
    let seen = seen.lock().unwrap();
    assert!(!seen.is_empty());
    assert!(
        seen.windows(2).all(|w| w[0].done <= w[1].done),
        "progress only grows"
    );
    assert_eq!(seen.last(), Some(&last));
}
