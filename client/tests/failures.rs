//! Failures on a real cluster: a worker SIGKILLed mid-computation, garbage bytes and
//! malformed messages sent to every port. The answer stays right and the cluster stays up.

mod common;

use arrow_flight::flight_service_client::FlightServiceClient;
use arrow_flight::{FlightData, FlightDescriptor, Ticket};
use common::raw_grpc::RawCodec;
use ndarray::{Array1, Array2, Axis};
use std::io::{Read, Write};
use std::time::Duration;
use tessera::array::random;
use tonic::codegen::http::uri::PathAndQuery;

#[test]
fn sigkill_of_a_worker_mid_computation_still_gives_the_right_answer() {
    let mut cluster = common::cluster(3);
    let client = cluster.client().unwrap();
    let x = random::<f64>(&[2400, 2400], &[200, 200], 5);
    let z = (&x + &x.t()).mean_axis(0).sqrt();
    let result = std::thread::scope(|s| {
        let c = client.clone();
        let z = z.clone();
        let handle = s.spawn(move || c.compute::<f64, ndarray::Ix1>(&z));
        std::thread::sleep(Duration::from_millis(400));
        cluster.kill_worker(0).unwrap();
        handle.join().unwrap()
    });
    let v: Array1<f64> = result.expect("the computation survives a dead worker");
    let xs: Array2<f64> = client.compute(&x).unwrap();
    let reference = (&xs + &xs.t()).mean_axis(Axis(0)).unwrap().sqrt();
    let worst = common::max_abs_diff(&v, &reference);
    assert!(worst < 1e-12, "difference {worst}");
    let info = client.cluster_info().unwrap();
    assert_eq!(info.workers.len(), 2);
    assert_eq!(info.workers_lost, 1);
}

#[test]
fn a_frozen_worker_is_declared_dead_and_the_computation_finishes() {
    let cluster = common::cluster(3);
    let client = cluster.client().unwrap();
    let x = random::<f64>(&[2400, 2400], &[200, 200], 9);
    let z = (&x + &x.t()).sum_axis(1);
    let frozen = cluster.worker_pids()[0];
    let result = std::thread::scope(|s| {
        let c = client.clone();
        let z = z.clone();
        let handle = s.spawn(move || c.compute::<f64, ndarray::Ix1>(&z));
        std::thread::sleep(Duration::from_millis(150));
        // SIGSTOP: the process lives and its sockets stay open, but it never answers.
        // SAFETY: signalling our own child process.
        unsafe { libc::kill(frozen as i32, libc::SIGSTOP) };
        handle.join().unwrap()
    });
    let v: Array1<f64> = result.expect("the computation survives a frozen worker");
    // The silent worker is declared dead once its heartbeats are overdue (5 s here).
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while client.cluster_info().unwrap().workers_lost == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "a frozen worker was never declared dead"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(client.cluster_info().unwrap().workers.len(), 2);
    // SAFETY: as above; let it run again so the cluster can reap it.
    unsafe { libc::kill(frozen as i32, libc::SIGCONT) };
    let xs: Array2<f64> = client.compute(&x).unwrap();
    let reference = (&xs + &xs.t()).sum_axis(Axis(1));
    let worst = common::max_abs_diff(&v, &reference);
    assert!(worst < 1e-9, "difference {worst}");
}

fn noise(seed: &mut u64, len: usize) -> Vec<u8> {
    (0..len)
        .map(|_| {
            *seed ^= *seed << 13;
            *seed ^= *seed >> 7;
            *seed ^= *seed << 17;
            *seed as u8
        })
        .collect()
}

#[test]
fn garbage_on_every_port_gets_an_error_not_a_crash() {
    let cluster = common::cluster(2);
    let client = cluster.client().unwrap();
    let info = client.cluster_info().unwrap();
    let mut ports = vec![cluster.scheduler_address().to_string()];
    ports.extend(
        info.workers
            .iter()
            .map(|w| w.registration.data_address.clone()),
    );
    let mut seed = 0x2545F4914F6CDD1Du64;

    // Raw TCP noise, truncated HTTP/2 prefaces, and an early close.
    for address in &ports {
        for len in [0usize, 1, 9, 24, 100, 4096, 65536] {
            let mut s = std::net::TcpStream::connect(address).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
            let mut bytes = noise(&mut seed, len);
            if len == 24 {
                bytes = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
                bytes.extend(noise(&mut seed, 50));
            }
            let _ = s.write_all(&bytes);
            let mut sink = Vec::new();
            let _ = s.read_to_end(&mut sink);
        }
    }

    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let channel = tonic::transport::Endpoint::from_shared(format!("http://{}", ports[0]))
            .unwrap()
            .connect()
            .await
            .unwrap();
        // Malformed payloads in valid gRPC frames, on every scheduler method.
        for method in ["ClusterInfo", "WhoHas", "WorkerSession", "ClientSession"] {
            for len in [1usize, 3, 17, 1000] {
                let mut grpc = tonic::client::Grpc::new(channel.clone());
                grpc.ready().await.unwrap();
                let path = PathAndQuery::try_from(format!("/tessera.Scheduler/{method}")).unwrap();
                let payload = noise(&mut seed, len);
                let result = if method.ends_with("Session") {
                    grpc.streaming(
                        tonic::Request::new(futures::stream::iter(vec![payload])),
                        path,
                        RawCodec,
                    )
                    .await
                    .map(|_| ())
                } else {
                    grpc.unary(tonic::Request::new(payload), path, RawCodec)
                        .await
                        .map(|_| ())
                };
                if let Err(status) = result {
                    assert_ne!(status.code(), tonic::Code::Ok);
                }
            }
        }
        // Flight: bad tickets, missing keys and garbage IPC in DoPut.
        for address in &ports[1..] {
            let channel = tonic::transport::Endpoint::from_shared(format!("http://{address}"))
                .unwrap()
                .connect()
                .await
                .unwrap();
            let mut flight = FlightServiceClient::new(channel);
            let e = flight
                .do_get(Ticket::new(vec![0xff, 0xfe]))
                .await
                .expect_err("non-UTF-8 ticket refused");
            assert_eq!(e.code(), tonic::Code::InvalidArgument);
            let e = flight
                .do_get(Ticket::new(b"no-such-key:0".to_vec()))
                .await
                .expect_err("missing key refused");
            assert_eq!(e.code(), tonic::Code::NotFound);
            let bad = FlightData {
                flight_descriptor: Some(FlightDescriptor::new_path(vec!["evil:0".into()])),
                data_header: noise(&mut seed, 64).into(),
                data_body: noise(&mut seed, 256).into(),
                ..Default::default()
            };
            let r = flight.do_put(futures::stream::iter(vec![bad])).await;
            match r {
                Err(status) => assert_ne!(status.code(), tonic::Code::Ok),
                Ok(resp) => {
                    let mut s = resp.into_inner();
                    let mut erred = false;
                    while let Some(m) = futures::StreamExt::next(&mut s).await {
                        erred |= m.is_err();
                    }
                    assert!(erred, "garbage IPC was accepted");
                }
            }
        }
    });

    // Everyone is still up and computing.
    let x = random::<f64>(&[100, 100], &[30, 30], 1);
    let v: ndarray::Array0<f64> = client.compute(&x.sum()).unwrap();
    assert!(v.into_scalar() > 0.0);
    assert_eq!(client.cluster_info().unwrap().workers.len(), 2);
}
