//! Failures around the scheduler on real processes: killed, frozen and restarted under its
//! clients and workers, a client process dying mid-computation, and `--allowed-failures`.

mod common;

use common::procs::{self, Proc};
use ndarray::{Array0, Array1, Array2, Axis};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};
use tessera::array::{ones, random};
use tessera::{Client, Error};
use tessera_core::wire::ClusterInfo;

/// Generous bound for anything the cluster must notice: far above the timeouts set here,
/// so a loaded machine does not fail the tests, yet a hang still does.
const NOTICE: Duration = Duration::from_secs(30);

/// Run `f` on a thread; its result, or a panic naming `what` if it takes longer than `within`.
#[track_caller]
fn within<T: Send + 'static>(
    within: Duration,
    what: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(within)
        .unwrap_or_else(|_| panic!("{what}: no answer within {within:?} (it hangs)"))
}

fn tasks_tracked(info: &ClusterInfo) -> u64 {
    info.tasks_by_state.iter().map(|(_, n)| n).sum()
}

#[test]
fn a_client_waiting_in_compute_gets_an_error_when_the_scheduler_is_killed() {
    let (mut scheduler, address) = procs::scheduler(0, &["--worker-timeout", "3s"]);
    // No worker: the computation cannot finish, so the client is surely still waiting.
    let client = Client::connect(&address).unwrap();
    let c = client.clone();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(c.compute::<f64, ndarray::Ix0>(&ones::<f64>(&[100], &[10]).sum()));
    });
    procs::wait_for(NOTICE, "the computation reaches the scheduler", || {
        tasks_tracked(&client.cluster_info().unwrap()) > 0
    });
    let killed = Instant::now();
    scheduler.kill();
    let result = rx
        .recv_timeout(NOTICE)
        .expect("compute() returned after the scheduler died");
    eprintln!("compute() failed {:?} after SIGKILL", killed.elapsed());
    match result {
        Err(Error::Cluster(message)) => {
            assert!(message.contains(&address), "names the scheduler: {message}");
            assert!(message.contains("scheduler"), "{message}");
        }
        other => panic!("expected a cluster error, got {other:?}"),
    }
    // Later calls fail at once with the same news.
    let again = client.compute::<f64, ndarray::Ix0>(&ones::<f64>(&[10], &[5]).sum());
    assert!(matches!(again, Err(Error::Cluster(_))), "{again:?}");
}

#[test]
fn a_frozen_scheduler_is_reported_by_clients_and_workers_and_its_workers_return() {
    let (scheduler, address) = procs::scheduler(0, &["--worker-timeout", "2s"]);
    let worker = procs::worker(&address, &[]);
    let client = Client::connect(&address).unwrap();
    let total: Array0<f64> = client.compute(&ones::<f64>(&[100], &[10]).sum()).unwrap();
    assert_eq!(total.into_scalar(), 100.0);

    // SIGSTOP: its sockets stay open and the kernel still accepts bytes, but it never answers.
    scheduler.signal(libc::SIGSTOP);
    let stopped = Instant::now();
    let c = client.clone();
    let result = within(NOTICE, "compute() on a frozen scheduler", move || {
        c.compute::<f64, ndarray::Ix0>(&ones::<f64>(&[200], &[10]).sum())
    });
    let client_took = stopped.elapsed();
    match result {
        Err(Error::Cluster(message)) => {
            assert!(message.contains(&address), "names the scheduler: {message}");
            assert!(message.contains("frozen or unreachable"), "{message}");
        }
        other => panic!("expected a cluster error, got {other:?}"),
    }
    let lost = format!("lost the scheduler at {address}");
    procs::wait_for(NOTICE, "the worker reports the frozen scheduler", || {
        worker.stderr_has(&lost)
    });
    let worker_took = stopped.elapsed();
    eprintln!(
        "frozen scheduler (worker timeout 2 s) reported by the client after {client_took:?}, \
         by the worker after {worker_took:?}"
    );
    assert!(
        worker.stderr_has("frozen or unreachable"),
        "the worker says why"
    );
    // A new client connecting to the frozen scheduler gets an error, not a hang.
    let a = address.clone();
    let connecting = Instant::now();
    let refused = within(NOTICE, "Client::connect to a frozen scheduler", move || {
        Client::connect(&a).map(|_| ())
    });
    match refused {
        Err(Error::Cluster(message)) => {
            assert!(message.contains(&address), "names the scheduler: {message}");
            assert!(message.contains("did not answer"), "{message}");
        }
        other => panic!("expected a cluster error, got {other:?}"),
    }
    eprintln!(
        "connecting to the frozen scheduler failed after {:?}",
        connecting.elapsed()
    );

    // Thawed, it gets its worker back and serves a new client.
    scheduler.signal(libc::SIGCONT);
    let client = Client::connect(&address).unwrap();
    procs::wait_for(NOTICE, "the worker reconnects", || {
        worker.stderr_has("reconnected to the scheduler")
            && client
                .cluster_info()
                .unwrap()
                .workers
                .iter()
                .any(|w| w.registration.pid == worker.pid())
    });
    let total: Array0<f64> = client.compute(&ones::<f64>(&[300], &[10]).sum()).unwrap();
    assert_eq!(total.into_scalar(), 300.0);
}

#[test]
fn workers_rejoin_a_scheduler_restarted_on_the_same_port() {
    let port = procs::free_port();
    let (mut scheduler, address) = procs::scheduler(port, &["--worker-timeout", "3s"]);
    let workers: Vec<Proc> = (0..2).map(|_| procs::worker(&address, &[])).collect();
    let client = Client::connect(&address).unwrap();
    let x = random::<f64>(&[600, 600], &[100, 100], 7);
    let kept = client.persist(&x).unwrap();
    let _: Array0<f64> = client.compute(&kept.sum()).unwrap();
    procs::wait_for(NOTICE, "the workers hold the 36 persisted chunks", || {
        let info = client.cluster_info().unwrap();
        info.workers.iter().map(|w| w.held_keys).sum::<u64>() == 36
    });

    scheduler.kill();
    let lost = format!("lost the scheduler at {address}");
    procs::wait_for(NOTICE, "both workers report the lost scheduler", || {
        workers.iter().all(|w| w.stderr_has(&lost))
    });
    let err = client.compute::<f64, ndarray::Ix0>(&ones::<f64>(&[10], &[5]).sum());
    assert!(matches!(err, Err(Error::Cluster(_))), "{err:?}");
    drop((kept, client));

    let started = Instant::now();
    let (_scheduler, again) = procs::scheduler(port, &["--worker-timeout", "3s"]);
    assert_eq!(again, address);
    let client = Client::connect(&address).unwrap();
    let pids: Vec<u32> = workers.iter().map(Proc::pid).collect();
    procs::wait_for(NOTICE, "the running workers rejoin", || {
        let info = client.cluster_info().unwrap();
        info.workers.len() == 2
            && info
                .workers
                .iter()
                .all(|w| pids.contains(&w.registration.pid))
    });
    eprintln!(
        "both workers rejoined {:?} after the restart",
        started.elapsed()
    );
    // The new scheduler knows none of the results they kept: they were released.
    procs::wait_for(NOTICE, "the kept results are released", || {
        let info = client.cluster_info().unwrap();
        info.workers
            .iter()
            .all(|w| w.held_keys == 0 && w.metrics.stored_bytes == 0)
    });
    let xs: Array2<f64> = client.compute(&x).unwrap();
    let z: Array1<f64> = client.compute(&(&x + &x.t()).sum_axis(0)).unwrap();
    let reference = (&xs + &xs.t()).sum_axis(Axis(0));
    let worst = common::max_abs_diff(&z, &reference);
    assert!(worst < 1e-9, "difference {worst}");
}

#[test]
fn allowed_failures_from_the_builder_errs_a_task_whose_worker_died() {
    // LocalCluster passes it to `tessera scheduler --allowed-failures`.
    let mut cluster = tessera::LocalCluster::builder()
        .workers(2)
        .threads_per_worker(1)
        .memory_limit(2 << 30)
        .worker_timeout(Duration::from_secs(5))
        .allowed_failures(1)
        .executable(env!("CARGO_BIN_EXE_tessera"))
        .build()
        .unwrap();
    let client = cluster.client().unwrap();
    let big = random::<f64>(&[6000, 6000], &[200, 200], 11);
    let c = client.clone();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(c.compute::<f64, ndarray::Ix0>(&(&big + &big.t()).sum()));
    });
    let mut busy = 0;
    procs::wait_for(NOTICE, "a worker runs a task", || {
        let info = client.cluster_info().unwrap();
        match info.workers.iter().find(|w| w.processing > 0) {
            Some(w) => {
                busy = w.registration.pid;
                true
            }
            None => false,
        }
    });
    let index = cluster
        .worker_pids()
        .iter()
        .position(|&p| p == busy)
        .unwrap();
    cluster.kill_worker(index).unwrap();
    let result = rx
        .recv_timeout(Duration::from_secs(120))
        .expect("compute() returned");
    match result {
        Err(Error::Task(e)) => {
            assert!(e.message.contains("allowed_failures = 1"), "{e}");
            assert!(e.message.contains("died"), "{e}");
        }
        other => panic!("expected the task to err after one dead worker, got {other:?}"),
    }
    // The cluster stays up on the other worker.
    let total: Array0<f64> = client.compute(&ones::<f64>(&[100], &[10]).sum()).unwrap();
    assert_eq!(total.into_scalar(), 100.0);
}

/// Set for the child process of the disconnect test: the scheduler it connects to.
const HELPER_ENV: &str = "TESSERA_TEST_DISCONNECTING_CLIENT";
/// What the child prints once its persisted array is on the workers.
const HELPER_READY: &str = "disconnecting client: persisted, now computing";

/// Not a test on its own: the client process of the disconnect test (this binary run
/// again with [`HELPER_ENV`] set). It persists an array, then waits in a long computation
/// until it is killed.
#[test]
#[ignore = "a helper process started by a_client_that_disconnects_mid_computation_..."]
fn disconnecting_client_process() {
    let Ok(address) = std::env::var(HELPER_ENV) else {
        return;
    };
    let client = Client::connect(&address).unwrap();
    let x = client
        .persist(&random::<f64>(&[2000, 2000], &[250, 250], 3))
        .unwrap();
    let _: Array0<f64> = client.compute(&x.sum()).unwrap();
    println!("{HELPER_READY}");
    // Long enough to be killed in the middle: a 4,000-square matmul is ~128 GFLOP (task
    // fusion makes elementwise work over random data too quick to catch running).
    let big = random::<f64>(&[4000, 4000], &[500, 500], 5);
    let _: Array0<f64> = client
        .compute(&(&big.matmul(&big.t()).sum() + &x.sum()))
        .unwrap();
    println!("disconnecting client: finished (the test meant to kill it before)");
}

#[test]
fn a_client_that_disconnects_mid_computation_has_its_work_cancelled_and_released() {
    let cluster = common::cluster(2);
    let observer = cluster.client().unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "disconnecting_client_process",
            "--ignored",
            "--nocapture",
        ])
        .env(HELPER_ENV, cluster.scheduler_address())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let ready = within(
        Duration::from_secs(120),
        "the client process persists",
        move || {
            BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
                .any(|l| l.contains(HELPER_READY))
        },
    );
    assert!(ready, "the client process ended before persisting");
    // Its persisted 32 MB are on the workers, and its long computation is running.
    procs::wait_for(NOTICE, "the workers report the persisted bytes", || {
        let info = observer.cluster_info().unwrap();
        info.workers
            .iter()
            .map(|w| w.metrics.stored_bytes)
            .sum::<u64>()
            >= 32_000_000
    });
    procs::wait_for(NOTICE, "the long computation runs", || {
        let info = observer.cluster_info().unwrap();
        info.workers.iter().any(|w| w.processing > 0)
    });
    let before = tasks_tracked(&observer.cluster_info().unwrap());
    child.kill().unwrap();
    child.wait().unwrap();
    let died = Instant::now();

    procs::wait_for(NOTICE, "the dead client's tasks are forgotten", || {
        tasks_tracked(&observer.cluster_info().unwrap()) == 0
    });
    let forgotten = died.elapsed();
    procs::wait_for(NOTICE, "the workers drop the dead client's results", || {
        let info = observer.cluster_info().unwrap();
        info.workers
            .iter()
            .all(|w| w.held_keys == 0 && w.metrics.stored_bytes == 0)
    });
    eprintln!(
        "{before} tasks forgotten {forgotten:?} after the client died; stored bytes back to 0 \
         after {:?}",
        died.elapsed()
    );
    assert!(
        before > 100,
        "the computation was still running: {before} tasks"
    );

    // Another client is unaffected.
    let x = random::<f64>(&[300, 300], &[100, 100], 2);
    let xs: Array2<f64> = observer.compute(&x).unwrap();
    let v: Array1<f64> = observer.compute(&(&x + &x.t()).mean_axis(0)).unwrap();
    let reference = (&xs + &xs.t()).mean_axis(Axis(0)).unwrap();
    assert!(common::max_abs_diff(&v, &reference) < 1e-12);
}
