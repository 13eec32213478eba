//! The dashboard in a real browser: headless Debian Chromium loads the page of a live cluster
//! after a computation; the DOM shows every worker, the task stream and finished progress bars.
//! A screenshot is saved under the target directory. Skips, saying why, without Chromium.

mod common;

use common::http::get_json;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;
use tessera::array::random;

fn chromium() -> Option<PathBuf> {
    ["chromium", "chromium-browser"].iter().find_map(|name| {
        let out = Command::new("sh")
            .args(["-c", &format!("command -v {name}")])
            .output()
            .ok()?;
        let path = String::from_utf8_lossy(&out.stdout).trim().to_string();
        (out.status.success() && !path.is_empty()).then(|| PathBuf::from(path))
    })
}

/// Run headless Chromium on `url` with `extra` arguments; returns stdout.
fn headless(browser: &PathBuf, profile: &std::path::Path, url: &str, extra: &[&str]) -> String {
    let out = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            "--window-size=1400,1200",
            // Real time for the page's first server-sent update to arrive and be drawn.
            "--virtual-time-budget=5000",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(extra)
        .arg(url)
        .output()
        .expect("chromium runs");
    assert!(
        out.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The value of attribute `attr` on the first element that has `marker` in its tag.
fn attr_after(dom: &str, marker: &str, attr: &str) -> Option<String> {
    let at = dom.find(marker)?;
    let tag_start = dom[..at].rfind('<')?;
    let tag_end = at + dom[at..].find('>')?;
    let tag = &dom[tag_start..tag_end];
    let key = format!("{attr}=\"");
    let v = tag.find(&key)? + key.len();
    Some(tag[v..v + tag[v..].find('"')?].to_string())
}

#[test]
fn headless_chromium_sees_workers_stream_and_progress() {
    let Some(browser) = chromium() else {
        println!(
            "skipping: chromium is not installed (scripts/test.sh installs Debian's chromium)"
        );
        return;
    };
    let cluster = common::cluster_threads(2, 2);
    let client = cluster.client().unwrap();
    let link = client.dashboard_link().unwrap().expect("dashboard served");
    let addr = link
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();
    let x = random::<f64>(&[800, 800], &[100, 100], 11);
    let _: ndarray::Array1<f64> = client.compute(&(&x + &x.t()).sum_axis(0)).unwrap();
    let completed = client.cluster_info().unwrap().tasks_completed;
    // Let a heartbeat carry the final figures.
    std::thread::sleep(Duration::from_millis(700));
    let api_workers = get_json(&addr, "/api/workers");

    let artifacts = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("dashboard");
    std::fs::create_dir_all(&artifacts).unwrap();
    let profile = tempdir(&artifacts, "profile");
    let dom = headless(&browser, &profile, &link, &["--dump-dom"]);

    let rows = dom.matches("class=\"worker-row\"").count();
    assert_eq!(rows, 2, "one row per worker in:\n{dom}");
    for w in api_workers.as_array().unwrap() {
        let a = w["registration"]["data_address"].as_str().unwrap();
        assert!(
            dom.contains(&format!("data-address=\"{a}\"")),
            "row for {a}"
        );
    }
    let total_runs = attr_after(&dom, "id=\"task-stream\"", "data-total-runs").expect("stream");
    assert_eq!(total_runs.parse::<u64>().unwrap(), completed);
    let shown: u64 = attr_after(&dom, "id=\"task-stream\"", "data-shown-runs")
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(shown, completed, "every run of the last minute is drawn");
    assert_eq!(dom.matches("class=\"run\"").count() as u64, completed);
    let total = attr_after(&dom, "class=\"computation\"", "data-total").expect("progress");
    let done = attr_after(&dom, "class=\"computation\"", "data-done").unwrap();
    assert_eq!(total.parse::<u64>().unwrap(), completed);
    assert_eq!(done, total, "the computation's bar is full");
    assert!(dom.matches("class=\"group\"").count() >= 1);
    assert!(dom.contains("badge on"), "live updates connected");

    let shot = artifacts.join("dashboard.png");
    let _ = std::fs::remove_file(&shot);
    let profile = tempdir(&artifacts, "profile-shot");
    headless(
        &browser,
        &profile,
        &link,
        &[&format!("--screenshot={}", shot.display())],
    );
    let png = std::fs::read(&shot).expect("screenshot written");
    assert!(png.starts_with(b"\x89PNG"), "a PNG");
    println!("dashboard screenshot: {}", shot.display());
}

fn tempdir(parent: &std::path::Path, name: &str) -> PathBuf {
    let d = parent.join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}
