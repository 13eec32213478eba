//! The dashboard's cost to the scheduler: scheduler CPU time (from /proc/<pid>/stat) during a
//! 100,000-task computation with a live dashboard event stream connected, and without one.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tessera::array;

/// User plus system CPU seconds of process `pid` so far.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("scheduler /proc stat");
    // Fields after the parenthesized command name; utime and stime are fields 14 and 15.
    let rest = &stat[stat.rfind(')').expect("stat format") + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = f[11].parse::<f64>().unwrap() + f[12].parse::<f64>().unwrap();
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    ticks / hz
}

/// `tessera_scheduler_dashboard_update_seconds_sum` from the scheduler's `/metrics`: the
/// time it has spent building and encoding live dashboard updates.
fn update_seconds(addr: &str) -> f64 {
    let mut s = TcpStream::connect(addr).expect("dashboard reachable");
    write!(
        s,
        "GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).expect("metrics answer");
    text.lines()
        .find_map(|l| l.strip_prefix("tessera_scheduler_dashboard_update_seconds_sum "))
        .and_then(|v| v.trim().parse().ok())
        .expect("the scheduler reports dashboard update time")
}

/// A dashboard page's share of the work: an open `/api/events` stream, read as it comes.
struct EventReader {
    stop: Arc<AtomicBool>,
    bytes: Arc<AtomicU64>,
    thread: Option<std::thread::JoinHandle<()>>,
    stream: TcpStream,
}

impl EventReader {
    fn open(addr: &str) -> Self {
        let mut s = TcpStream::connect(addr).expect("dashboard reachable");
        write!(
            s,
            "GET /api/events HTTP/1.1\r\nHost: {addr}\r\nAccept: text/event-stream\r\n\r\n"
        )
        .unwrap();
        s.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let bytes = Arc::new(AtomicU64::new(0));
        let (st, by, mut rs) = (stop.clone(), bytes.clone(), s.try_clone().unwrap());
        let thread = std::thread::spawn(move || {
            let mut buf = [0u8; 65536];
            while !st.load(Ordering::Relaxed) {
                match rs.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => {
                        by.fetch_add(n as u64, Ordering::Relaxed);
                    }
                    Err(_) => continue, // read timeout: check the flag
                }
            }
        });
        EventReader {
            stop,
            bytes,
            thread: Some(thread),
            stream: s,
        }
    }

    fn close(mut self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.stream.shutdown(Shutdown::Both);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.bytes.load(Ordering::Relaxed)
    }
}

fn main() -> tessera::Result<()> {
    tessera::entry_hook();
    let n = tessera_benches::env_usize("DASHBOARD_OVERHEAD_N", 100_000);
    let rounds = tessera_benches::env_usize("DASHBOARD_OVERHEAD_ROUNDS", 5);
    let cluster = tessera_benches::two_worker_cluster()?;
    let client = cluster.client()?;
    let pid = cluster.scheduler_pid().expect("scheduler runs");
    let link = client.dashboard_link()?.expect("dashboard served");
    let addr = link
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();
    // Per computation: scheduler CPU seconds and wall seconds, closed [0] and open [1].
    let mut cpu: [Vec<f64>; 2] = [Vec::new(), Vec::new()];
    let mut wall: [Vec<f64>; 2] = [Vec::new(), Vec::new()];
    let mut tasks = 0;
    let mut sse_bytes = 0;
    // Per open computation: scheduler seconds spent on dashboard updates.
    let mut update_time = Vec::new();
    // Alternating closed and open, so drift on a shared machine hits both alike.
    for round in 0..rounds * 2 {
        let open = round % 2 == 1;
        let reader = open.then(|| EventReader::open(&addr));
        let x = &array::ones::<f64>(&[n], &[1]) + round as f64;
        let before_tasks = client.cluster_info()?.tasks_completed;
        let u0 = update_seconds(&addr);
        let c0 = cpu_seconds(pid);
        let t = Instant::now();
        let v: ndarray::Array0<f64> = client.compute(&x.sum())?;
        wall[open as usize].push(t.elapsed().as_secs_f64());
        cpu[open as usize].push(cpu_seconds(pid) - c0);
        if open {
            update_time.push(update_seconds(&addr) - u0);
        }
        assert_eq!(v.into_scalar(), n as f64 * (1.0 + round as f64));
        tasks = client.cluster_info()?.tasks_completed - before_tasks;
        if let Some(r) = reader {
            sse_bytes += r.close();
        }
    }
    let median = |v: &[f64]| {
        let mut v = v.to_vec();
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    println!("dashboard overhead: {tasks} tasks per computation, {rounds} computations each way");
    println!(
        "dashboard overhead: scheduler CPU per computation, median: closed {:.3} s, open {:.3} s (wall {:.2} s vs {:.2} s)",
        median(&cpu[0]),
        median(&cpu[1]),
        median(&wall[0]),
        median(&wall[1])
    );
    println!(
        "dashboard overhead: all runs, closed {:?}, open {:?}",
        cpu[0]
            .iter()
            .map(|c| (c * 1000.0).round() / 1000.0)
            .collect::<Vec<_>>(),
        cpu[1]
            .iter()
            .map(|c| (c * 1000.0).round() / 1000.0)
            .collect::<Vec<_>>()
    );
    let shares: Vec<f64> = update_time
        .iter()
        .zip(&cpu[1])
        .map(|(u, c)| u / c.max(1e-9))
        .collect();
    println!(
        "dashboard overhead: updates took {:.4} s of scheduler time per computation, median; {:.2}% of the scheduler's CPU in that computation",
        median(&update_time),
        100.0 * median(&shares)
    );
    println!(
        "dashboard overhead: open / closed = {:.3} ({} bytes of events read, {:.0} per computation)",
        median(&cpu[1]) / median(&cpu[0]).max(1e-9),
        sse_bytes,
        sse_bytes as f64 / rounds as f64
    );
    Ok(())
}
