//! The dashboard in a real browser: headless Debian Chromium, driven by Playwright
//! (tests/browser/dashboard.cjs), loads the page of a live cluster after a computation; the
//! DOM shows every worker, the task stream and finished progress bars. A screenshot is saved
//! under the target directory. Skips, saying what is missing, without Node.js, Playwright or
//! Chromium (scripts/test.sh installs all three).

mod common;

use common::http::get_json;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;
use tessera::array::random;

/// The browser driver: Node.js with `playwright-core` on `NODE_PATH` (scripts/test.sh
/// installs both, and Debian's chromium); the error says what is missing.
fn driver() -> Result<(), String> {
    let node = Command::new("node").arg("--version").output();
    if !node.is_ok_and(|o| o.status.success()) {
        return Err("node is not installed".into());
    }
    let found = Command::new("node")
        .args(["-e", "require('playwright-core')"])
        .output()
        .map_err(|e| e.to_string())?;
    if !found.status.success() {
        return Err("playwright-core is not on NODE_PATH (scripts/test.sh installs it)".into());
    }
    let chromium = std::env::var("TESSERA_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    if !std::path::Path::new(&chromium).exists() {
        return Err(format!("{chromium} is not installed"));
    }
    Ok(())
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
    if let Err(missing) = driver() {
        assert!(
            std::env::var_os("TESSERA_REQUIRE_BROWSER").is_none(),
            "the browser test cannot run: {missing}"
        );
        println!("skipping: {missing}");
        return;
    }
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
    let shot = artifacts.join("dashboard.png");
    let _ = std::fs::remove_file(&shot);
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/browser/dashboard.cjs");
    let out = Command::new("node")
        .arg(script)
        .arg(&link)
        .arg(&shot)
        .arg("2")
        .arg(completed.to_string())
        .output()
        .expect("node runs");
    assert!(
        out.status.success(),
        "the browser did not see the expected dashboard: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dom = String::from_utf8_lossy(&out.stdout).into_owned();

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

    let png = std::fs::read(&shot).expect("screenshot written");
    assert!(png.starts_with(b"\x89PNG"), "a PNG");
    println!("dashboard screenshot: {}", shot.display());
}
