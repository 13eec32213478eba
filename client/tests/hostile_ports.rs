//! Hostile bytes on every port of a real cluster (scheduler gRPC, worker Flight, dashboard
//! and metrics HTTP); afterwards every process lives and the cluster computes right.
//!
//! Each test starts its own cluster and sends one kind of attack: raw TCP noise and
//! truncations, HTTP/2 frames with lying gRPC lengths, well-formed gRPC calls with garbage
//! bodies, malformed Flight tickets and payloads, broken HTTP requests. Everything is bounded
//! in count, size and time, and only ever sent to 127.0.0.1.

mod common;

use common::raw_grpc::RawCodec;
use futures::StreamExt;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;
use tessera::LocalCluster;
use tessera::array::random;
use tessera_core::TaskKey;
use tessera_core::codec::{decode, encode};
use tessera_core::wire::{ClientMessage, WhoHasRequest, WorkerMessage, WorkerRegistration};
use tonic::codegen::http::uri::PathAndQuery;

/// The cluster under attack and the addresses of its ports.
struct Target {
    cluster: LocalCluster,
    scheduler: String,
    flight: Vec<String>,
    dashboard: String,
    metrics: Vec<String>,
}

fn start() -> Target {
    let cluster = LocalCluster::builder()
        .workers(2)
        .threads_per_worker(1)
        .memory_limit(1 << 30)
        .worker_timeout(Duration::from_secs(10))
        .worker_metrics(true)
        .executable(env!("CARGO_BIN_EXE_tessera"))
        .build()
        .expect("local cluster starts");
    let info = cluster.client().unwrap().cluster_info().unwrap();
    let reg = |f: fn(&WorkerRegistration) -> &String| -> Vec<String> {
        info.workers
            .iter()
            .map(|w| f(&w.registration).clone())
            .collect()
    };
    let target = Target {
        scheduler: cluster.scheduler_address().to_string(),
        flight: reg(|r| &r.data_address),
        dashboard: info.dashboard_address.clone(),
        metrics: reg(|r| &r.metrics_address),
        cluster,
    };
    assert!(!target.dashboard.is_empty(), "the dashboard is on");
    assert!(
        target.metrics.iter().all(|m| !m.is_empty()),
        "worker metrics are on"
    );
    target
}

/// Whether process `pid` runs (exists and is not a zombie).
fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !matches!(
            stat.rsplit_once(") ")
                .and_then(|(_, rest)| rest.chars().next()),
            Some('Z' | 'X')
        ),
        Err(_) => false,
    }
}

/// Every process lives, both workers are registered, every port still answers and the
/// cluster computes the right answer.
fn assert_healthy(t: &Target) {
    let pids: Vec<u32> = t
        .cluster
        .scheduler_pid()
        .into_iter()
        .chain(t.cluster.worker_pids())
        .collect();
    assert_eq!(pids.len(), 3);
    for pid in pids {
        assert!(alive(pid), "process {pid} died");
    }
    let client = t.cluster.client().unwrap();
    let info = client.cluster_info().unwrap();
    assert_eq!(info.workers.len(), 2, "a worker was lost");
    assert_eq!(info.workers_lost, 0);
    let x = random::<f64>(&[120, 120], &[50, 50], 7);
    let got: ndarray::Array1<f64> = client.compute(&(&x + &x.t()).sum_axis(0)).unwrap();
    let xs: ndarray::Array2<f64> = client.compute(&x).unwrap();
    let want = (&xs + &xs.t()).sum_axis(ndarray::Axis(0));
    assert!(common::max_abs_diff(&got, &want) < 1e-9);
    assert_eq!(common::http::get(&t.dashboard, "/").0, 200);
    for m in &t.metrics {
        assert_eq!(common::http::get(m, "/metrics").0, 200);
    }
}

fn noise(seed: &mut u64, len: usize) -> Vec<u8> {
    (0..len)
        .map(|_| {
            *seed ^= *seed << 13;
            *seed ^= *seed >> 7;
            *seed ^= *seed << 17;
            (*seed >> 24) as u8
        })
        .collect()
}

const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// An HTTP/2 frame: `[length:24][type:8][flags:8][stream:32]` then the payload.
fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let mut out = (payload.len() as u32).to_be_bytes()[1..].to_vec();
    out.extend([kind, flags]);
    out.extend(stream.to_be_bytes());
    out.extend(payload);
    out
}

/// An HPACK block of literal header fields (no indexing, no Huffman coding).
fn hpack(headers: &[(&str, &str)]) -> Vec<u8> {
    let mut out = Vec::new();
    let string = |out: &mut Vec<u8>, s: &str| {
        // 7-bit prefix integer (RFC 7541, 5.1).
        let mut n = s.len();
        if n < 127 {
            out.push(n as u8);
        } else {
            out.push(127);
            n -= 127;
            while n >= 128 {
                out.push((n % 128) as u8 | 0x80);
                n /= 128;
            }
            out.push(n as u8);
        }
        out.extend(s.as_bytes());
    };
    for (name, value) in headers {
        out.push(0);
        string(&mut out, name);
        string(&mut out, value);
    }
    out
}

/// The frames of a gRPC call to `path` on stream 1 whose DATA is `body`, ending the stream.
fn grpc_call(address: &str, path: &str, body: &[u8]) -> Vec<u8> {
    let mut out = PREFACE.to_vec();
    out.extend(frame(4, 0, 0, &[]));
    let headers = hpack(&[
        (":method", "POST"),
        (":scheme", "http"),
        (":path", path),
        (":authority", address),
        ("content-type", "application/grpc"),
        ("te", "trailers"),
    ]);
    out.extend(frame(1, 0x4, 1, &headers));
    out.extend(frame(0, 0x1, 1, body));
    out
}

/// Send `bytes` on a fresh connection, half-close, and read what comes back (bounded by
/// size and time). Errors are expected: the server may reset the connection.
fn poke(address: &str, bytes: &[u8]) -> Vec<u8> {
    let Ok(mut s) = TcpStream::connect(address) else {
        panic!("cannot connect to {address}: the server is gone");
    };
    s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    s.set_write_timeout(Some(Duration::from_secs(3))).unwrap();
    let _ = s.write_all(bytes);
    let _ = s.shutdown(std::net::Shutdown::Write);
    let mut answer = Vec::new();
    let _ = (&mut s).take(1 << 20).read_to_end(&mut answer);
    answer
}

/// Raw payloads every port gets: noise, truncated and lying HTTP/2, broken HTTP/1.
fn raw_payloads(address: &str, seed: &mut u64) -> Vec<Vec<u8>> {
    let mut p: Vec<Vec<u8>> = [0usize, 1, 7, 100, 4096, 65536]
        .iter()
        .map(|&n| noise(seed, n))
        .collect();
    p.push(PREFACE[..10].to_vec());
    p.push([PREFACE, &noise(seed, 300)].concat());
    // A SETTINGS frame claiming 16 MiB but carrying 6 bytes; a frame of an unknown type.
    let mut lying = PREFACE.to_vec();
    lying.extend([0xff, 0xff, 0xff, 4, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 1]);
    p.push(lying);
    p.push([PREFACE, &frame(0xee, 0xff, 7, &noise(seed, 40))].concat());
    // HEADERS with a garbage HPACK block, and a HEADERS frame cut in the middle.
    let mut bad_hpack = [PREFACE, &frame(4, 0, 0, &[])].concat();
    bad_hpack.extend(frame(1, 0x5, 1, &noise(seed, 64)));
    p.push(bad_hpack);
    let call = grpc_call(address, "/tessera.Scheduler/ClusterInfo", &[0, 0, 0, 0, 0]);
    p.push(call[..call.len() - 12].to_vec());
    p.push(b"GET /metr".to_vec());
    p.push(b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999\r\n\r\nabc".to_vec());
    p.push(
        [
            b"GET / HTTP/1.1\r\nX-Long: ".as_slice(),
            &vec![b'a'; 200_000],
        ]
        .concat(),
    );
    p
}

#[test]
fn raw_tcp_noise_and_truncations_on_every_port() {
    let t = start();
    let mut ports = vec![t.scheduler.clone(), t.dashboard.clone()];
    ports.extend(t.flight.iter().cloned());
    ports.extend(t.metrics.iter().cloned());
    let mut seed = 0x2545_F491_4F6C_DD1D_u64;
    // Idle connections held open (half a preface each) while the others run.
    let idle: Vec<TcpStream> = ports
        .iter()
        .flat_map(|a| (0..4).map(move |_| a))
        .map(|a| {
            let mut s = TcpStream::connect(a).unwrap();
            let _ = s.write_all(&PREFACE[..12]);
            s
        })
        .collect();
    std::thread::scope(|scope| {
        for address in &ports {
            for payload in raw_payloads(address, &mut seed) {
                scope.spawn(move || poke(address, &payload));
            }
        }
    });
    drop(idle);
    assert_healthy(&t);
}

#[test]
fn http2_frames_with_lying_grpc_lengths() {
    let t = start();
    let mut seed = 0x9E37_79B9_7F4A_7C15_u64;
    let calls = [
        (t.scheduler.as_str(), "/tessera.Scheduler/ClusterInfo"),
        (t.scheduler.as_str(), "/tessera.Scheduler/WorkerSession"),
        (t.scheduler.as_str(), "/tessera.Scheduler/WhoHas"),
        (
            t.flight[0].as_str(),
            "/arrow.flight.protocol.FlightService/DoGet",
        ),
        (
            t.flight[0].as_str(),
            "/arrow.flight.protocol.FlightService/DoPut",
        ),
    ];
    for (address, path) in calls {
        let mut bodies = vec![
            // Over the message limit, under it but cut short, bad compression flags.
            [&[0u8, 0x7f, 0xff, 0xff, 0xff][..], &noise(&mut seed, 10)].concat(),
            [&[0u8, 0x10, 0, 0, 0][..], &noise(&mut seed, 10)].concat(),
            [&[1u8, 0, 0, 0, 4][..], &noise(&mut seed, 4)].concat(),
            [&[7u8, 0, 0, 0, 4][..], &noise(&mut seed, 4)].concat(),
            vec![0, 0, 0],
        ];
        // A valid frame prefix around garbage.
        let garbage = noise(&mut seed, 200);
        let mut framed = vec![0u8];
        framed.extend((garbage.len() as u32).to_be_bytes());
        framed.extend(&garbage);
        bodies.push(framed);
        std::thread::scope(|scope| {
            for body in &bodies {
                scope.spawn(move || poke(address, &grpc_call(address, path, body)));
            }
        });
    }
    assert_healthy(&t);
}

/// Every prefix-cut of `valid` (at up to 24 points), it with a byte appended, and noise;
/// only payloads that really fail to decode as `T` are kept.
fn malformed<T: serde::de::DeserializeOwned>(valid: &[u8], seed: &mut u64) -> Vec<Vec<u8>> {
    let step = (valid.len() / 24).max(1);
    let mut out: Vec<Vec<u8>> = (0..valid.len())
        .step_by(step)
        .map(|n| valid[..n].to_vec())
        .collect();
    out.push([valid, &[0]].concat());
    // A length prefix of u64::MAX elements with nothing behind it.
    out.push(vec![253, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
    out.push([&[0u8, 253][..], &[0xff; 8]].concat());
    out.extend(
        [1usize, 3, 17, 1000, 1 << 20]
            .iter()
            .map(|&n| noise(seed, n)),
    );
    out.retain(|p| decode::<T>(p).is_err());
    out
}

async fn drain<T>(result: Result<tonic::Response<tonic::Streaming<T>>, tonic::Status>) {
    if let Ok(response) = result {
        let mut s = response.into_inner();
        while let Ok(Some(Ok(_))) = tokio::time::timeout(Duration::from_secs(5), s.next()).await {}
    }
}

#[test]
fn grpc_calls_with_garbage_bodies_are_refused() {
    let t = start();
    let mut seed = 0xD1B5_4A32_D192_ED03_u64;
    let register = encode(&WorkerMessage::Register(WorkerRegistration {
        data_address: "127.0.0.1:1".into(),
        threads: 1,
        memory_limit: 1,
        pid: 1,
        name: "evil".into(),
        metrics_address: String::new(),
        // Claims to hold a result nobody computed, of an absurd size.
        held: vec![(TaskKey::new("k-1"), u64::MAX)],
    }))
    .unwrap();
    let release = encode(&ClientMessage::Release(vec![TaskKey::new("k-1"); 3])).unwrap();
    let who = encode(&WhoHasRequest {
        keys: vec![TaskKey::new("k-1")],
    })
    .unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let channel = tonic::transport::Endpoint::from_shared(format!("http://{}", t.scheduler))
            .unwrap()
            .connect()
            .await
            .unwrap();
        let cases = [
            (
                "WorkerSession",
                malformed::<WorkerMessage>(&register, &mut seed),
            ),
            (
                "ClientSession",
                malformed::<ClientMessage>(&release, &mut seed),
            ),
            ("WhoHas", malformed::<WhoHasRequest>(&who, &mut seed)),
            (
                "ClusterInfo",
                malformed::<tessera_core::wire::Empty>(&[], &mut seed),
            ),
        ];
        for (method, payloads) in cases {
            assert!(payloads.len() > 5, "{method}: too few malformed payloads");
            let path = PathAndQuery::try_from(format!("/tessera.Scheduler/{method}")).unwrap();
            for payload in payloads {
                let mut grpc = tonic::client::Grpc::new(channel.clone());
                grpc.ready().await.unwrap();
                if method.ends_with("Session") {
                    let request = tonic::Request::new(futures::stream::iter(vec![payload]));
                    let call = grpc.streaming(request, path.clone(), RawCodec);
                    drain(
                        tokio::time::timeout(Duration::from_secs(5), call)
                            .await
                            .unwrap(),
                    )
                    .await;
                } else {
                    let call = grpc.unary(tonic::Request::new(payload), path.clone(), RawCodec);
                    let status = tokio::time::timeout(Duration::from_secs(5), call)
                        .await
                        .unwrap()
                        .expect_err("a malformed request is refused");
                    assert_eq!(status.code(), tonic::Code::InvalidArgument, "{method}");
                }
            }
        }
        // Garbage protobuf on the Flight methods.
        for address in &t.flight {
            let channel = tonic::transport::Endpoint::from_shared(format!("http://{address}"))
                .unwrap()
                .connect()
                .await
                .unwrap();
            for (method, len) in [("DoGet", 50), ("DoPut", 300), ("GetFlightInfo", 9)] {
                let path = format!("/arrow.flight.protocol.FlightService/{method}");
                let path = PathAndQuery::try_from(path).unwrap();
                let mut grpc = tonic::client::Grpc::new(channel.clone());
                grpc.ready().await.unwrap();
                let request =
                    tonic::Request::new(futures::stream::iter(vec![noise(&mut seed, len)]));
                let call = grpc.streaming(request, path, RawCodec);
                drain(
                    tokio::time::timeout(Duration::from_secs(5), call)
                        .await
                        .unwrap(),
                )
                .await;
            }
        }
    });
    assert_healthy(&t);
}

#[path = "hostile_ports/flight.rs"]
mod flight;

#[test]
fn flight_calls_with_malformed_tickets_and_payloads_are_refused() {
    let t = start();
    let rt = tokio::runtime::Runtime::new().unwrap();
    for address in &t.flight {
        rt.block_on(flight::attack(address));
    }
    assert_healthy(&t);
}

#[test]
fn broken_http_requests_to_the_dashboard_and_metrics() {
    let t = start();
    let mut ports = vec![t.dashboard.clone()];
    ports.extend(t.metrics.iter().cloned());
    let requests: Vec<Vec<u8>> = vec![
        b"GET /api/tasks/stream?since=abc&limit=-1 HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
        b"GET /api/tasks/stream?limit=99999999999999999999999 HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
        b"GET /api/graph?%ff%fe=%00 HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
        b"GET /api/progress?limit=18446744073709551616 HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
        b"GET /%00%ff/../../etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
        [
            b"GET /".as_slice(),
            &vec![b'a'; 20_000],
            b" HTTP/1.1\r\n\r\n",
        ]
        .concat(),
        b"BREW /metrics HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
        b"POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello".to_vec(),
        b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzzzz\r\nabc\r\n".to_vec(),
        b"GET / HTTP/1.1\r\nHost: \xff\xfe\r\nX: \x00\x01\r\n\r\n".to_vec(),
        b"GET / HTTP/9.9\r\n\r\n".to_vec(),
        b"GET /api/events HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
        b"\r\n\r\n\r\n".to_vec(),
    ];
    std::thread::scope(|scope| {
        for address in &ports {
            for r in &requests {
                scope.spawn(move || poke(address, r));
            }
        }
    });
    assert_healthy(&t);
}
