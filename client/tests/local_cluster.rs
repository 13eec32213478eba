//! Cluster lifecycle with real processes: the `tessera scheduler` / `tessera worker`
//! commands joined by hand, and LocalCluster reaping its children on drop and on panic.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use tessera::Client;
use tessera::array::ones;

fn alive(pid: u32) -> bool {
    // SAFETY: signal 0 only checks that the process exists.
    let exists = unsafe { libc::kill(pid as i32, 0) } == 0;
    // A reaped child is gone; a zombie would still answer, so also look at its state.
    exists
        && std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|s| !s.contains(") Z "))
            .unwrap_or(false)
}

#[test]
fn scheduler_and_worker_commands_form_a_cluster() {
    let bin = env!("CARGO_BIN_EXE_tessera");
    let mut scheduler = Command::new(bin)
        .args(["scheduler", "--host", "127.0.0.1", "--port", "0"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(scheduler.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let address = line
        .trim()
        .strip_prefix("tessera scheduler listening on ")
        .unwrap()
        .to_string();
    let mut workers: Vec<_> = (0..2)
        .map(|_| {
            Command::new(bin)
                .args([
                    "worker",
                    &address,
                    "--threads",
                    "1",
                    "--memory-limit",
                    "1GiB",
                    "--host",
                    "127.0.0.1",
                    "--reconnect-timeout",
                    "2s",
                ])
                .stdout(Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    let client = Client::connect(&address).unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while client.cluster_info().unwrap().workers.len() < 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "workers did not register"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let info = client.cluster_info().unwrap();
    assert!(
        info.workers
            .iter()
            .all(|w| w.registration.memory_limit == 1 << 30 && w.registration.threads == 1)
    );
    let total: ndarray::Array0<f64> = client
        .compute(&ones::<f64>(&[100, 100], &[10, 10]).sum())
        .unwrap();
    assert_eq!(total.into_scalar(), 10_000.0);

    // A worker whose scheduler dies and does not come back within its reconnect timeout
    // exits with an error instead of hanging.
    scheduler.kill().unwrap();
    scheduler.wait().unwrap();
    for w in &mut workers {
        let status = w.wait().unwrap();
        assert!(!status.success());
    }
    assert!(client.cluster_info().is_err());
}

#[test]
fn local_cluster_reaps_its_processes_on_drop_and_on_panic() {
    let cluster = common::cluster(2);
    let pids = cluster.worker_pids();
    assert!(pids.iter().all(|&p| alive(p)));
    drop(cluster);
    assert!(
        pids.iter().all(|&p| !alive(p)),
        "workers outlived the cluster"
    );

    let pids = std::sync::Mutex::new(Vec::new());
    let result = std::panic::catch_unwind(|| {
        let cluster = common::cluster(2);
        pids.lock().unwrap().extend(cluster.worker_pids());
        panic!("the user's program crashes while the cluster runs");
    });
    assert!(result.is_err());
    let pids = pids.into_inner().unwrap();
    assert_eq!(pids.len(), 2);
    assert!(
        pids.iter().all(|&p| !alive(p)),
        "workers outlived a panicking parent"
    );
}

#[test]
fn a_cluster_built_on_a_short_lived_thread_outlives_it() {
    let cluster = std::thread::spawn(|| common::cluster(2)).join().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert!(cluster.worker_pids().iter().all(|&p| alive(p)));
    let client = cluster.client().unwrap();
    let total: ndarray::Array0<f64> = client.compute(&ones::<f64>(&[10], &[3]).sum()).unwrap();
    assert_eq!(total.into_scalar(), 10.0);
}

#[test]
fn bad_cluster_settings_are_errors() {
    assert!(tessera::LocalCluster::builder().workers(0).build().is_err());
    assert!(
        tessera::LocalCluster::builder()
            .executable("/nonexistent/tessera")
            .build()
            .is_err()
    );
    assert!(Client::connect("127.0.0.1:1").is_err());
    assert!(Client::connect("not an address").is_err());
}
