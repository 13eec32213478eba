//! Security of real clusters: with TLS and a token, a client without the token, with a
//! wrong one, without a certificate or over plain TCP is refused, and a correct one computes.

use arrow_flight::Ticket;
use arrow_flight::flight_service_client::FlightServiceClient;
use std::time::Duration;
use tessera::{Client, LocalCluster, Security, SecurityFiles, array};
use tessera_core::security::TlsPem;
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint};

fn secure_cluster() -> LocalCluster {
    LocalCluster::builder()
        .workers(2)
        .memory_limit(1 << 30)
        .worker_timeout(Duration::from_secs(5))
        .executable(env!("CARGO_BIN_EXE_tessera"))
        .secure(true)
        .build()
        .expect("secure local cluster starts")
}

/// `sum(arange(n))` computed on the cluster, checked against the formula.
fn check_computes(client: &Client) {
    let n = 10_000usize;
    let x = array::arange::<f64>(0.0, n as f64, 1.0, 1_000);
    let total: ndarray::Array0<f64> = client.compute(&x.sum()).expect("computes");
    assert_eq!(total.into_scalar(), (n * (n - 1) / 2) as f64);
}

fn refusal(result: tessera::Result<Client>) -> String {
    match result {
        Ok(_) => panic!("the client was let in"),
        Err(e) => e.to_string(),
    }
}

fn tls_only(pem: &TlsPem) -> Security {
    Security::none().with_tls(pem.clone())
}

#[test]
fn tls_and_token_refuse_strangers_and_let_members_compute() {
    let cluster = secure_cluster();
    let address = cluster.scheduler_address().to_string();
    let member = cluster.security().clone();
    let pem = member.tls().expect("secure clusters use TLS").clone();

    // The right token and certificate: computes.
    let client = cluster.client().unwrap();
    check_computes(&client);
    let workers = client.cluster_info().unwrap().workers;
    assert_eq!(workers.len(), 2);

    // TLS but no token.
    let e = refusal(Client::connect_with(&address, tls_only(&pem)));
    assert!(e.contains("requires a token"), "{e}");
    // TLS and a wrong token.
    let wrong = tls_only(&pem).with_token("not-the-cluster-token").unwrap();
    let e = refusal(Client::connect_with(&address, wrong));
    assert!(e.contains("wrong token"), "{e}");
    // Plain TCP, even with the right token: the TLS handshake fails.
    let plain = Security::none()
        .with_token(
            &std::fs::read_to_string(cluster.security_files().token_file.as_ref().unwrap())
                .unwrap(),
        )
        .unwrap();
    refusal(Client::connect_with(&address, plain.clone()));

    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        for worker in &workers {
            let data = &worker.registration.data_address;
            // A worker's Flight service: TLS and certificate but no token is refused
            // before the ticket is looked at.
            let channel = tessera_worker::transport::data_endpoint(data, &tls_only(&pem))
                .unwrap()
                .connect()
                .await
                .expect("TLS with the cluster certificate connects");
            let mut flight = FlightServiceClient::new(channel);
            let status = flight
                .do_get(Ticket::new(b"anything".to_vec()))
                .await
                .expect_err("no token");
            assert_eq!(status.code(), tonic::Code::Unauthenticated, "{status}");
            // TLS that trusts the CA but presents no client certificate: mutual TLS
            // refuses the handshake (or the first call).
            let no_cert = Endpoint::from_shared(format!("https://{data}"))
                .unwrap()
                .tls_config(
                    ClientTlsConfig::new()
                        .ca_certificate(Certificate::from_pem(&pem.ca))
                        .domain_name(tessera_core::security::TLS_SERVER_NAME),
                )
                .unwrap();
            if let Ok(channel) = no_cert.connect().await {
                let mut flight = FlightServiceClient::new(channel);
                flight
                    .do_get(Ticket::new(b"anything".to_vec()))
                    .await
                    .expect_err("no client certificate");
            }
            // Plain TCP to a TLS worker.
            if let Ok(channel) = Endpoint::from_shared(format!("http://{data}"))
                .unwrap()
                .connect()
                .await
            {
                let mut flight = FlightServiceClient::new(channel);
                flight
                    .do_get(Ticket::new(b"anything".to_vec()))
                    .await
                    .expect_err("plain TCP to a TLS worker");
            }
        }
    });

    // The refusals left the cluster working.
    check_computes(&cluster.client().unwrap());
    check_computes(&client);
}

#[test]
fn a_token_alone_guards_a_plain_tcp_cluster() {
    let dir = std::env::temp_dir().join(format!("tessera-token-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let token_file = dir.join("token");
    std::fs::write(&token_file, "a-shared-secret\n").unwrap();
    let cluster = LocalCluster::builder()
        .workers(1)
        .memory_limit(1 << 30)
        .executable(env!("CARGO_BIN_EXE_tessera"))
        .security_files(SecurityFiles {
            token_file: Some(token_file),
            ..Default::default()
        })
        .build()
        .expect("token cluster starts");
    check_computes(&cluster.client().unwrap());
    let address = cluster.scheduler_address();
    let e = refusal(Client::connect(address));
    assert!(e.contains("requires a token"), "{e}");
    let wrong = Security::none().with_token("a-shared-secreT").unwrap();
    let e = refusal(Client::connect_with(address, wrong));
    assert!(e.contains("wrong token"), "{e}");
    let right = Security::none().with_token("a-shared-secret").unwrap();
    check_computes(&Client::connect_with(address, right).unwrap());
    drop(cluster);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_command_line_refuses_half_a_tls_configuration_and_writes_certs() {
    let exe = env!("CARGO_BIN_EXE_tessera");
    let out = std::process::Command::new(exe)
        .args(["scheduler", "--port", "0", "--tls-cert", "x.pem"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--tls-ca-file") || stderr.contains("tls"),
        "{stderr}"
    );

    let dir = std::env::temp_dir().join(format!("tessera-certs-cli-{}", std::process::id()));
    let out = std::process::Command::new(exe)
        .args(["certs", "--out"])
        .arg(&dir)
        .args(["--hosts", "node1,10.1.2.3"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let files = SecurityFiles::in_dir(&dir);
    assert!(files.load().unwrap().is_configured());
    // A worker pointed at a scheduler that is not there fails with a clear message, and
    // a missing key file is named.
    let out = std::process::Command::new(exe)
        .args(["worker", "127.0.0.1:1", "--tls-ca-file"])
        .arg(dir.join("ca.pem"))
        .arg("--tls-cert")
        .arg(dir.join("cert.pem"))
        .arg("--tls-key")
        .arg(dir.join("missing.pem"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("missing.pem"), "{stderr}");
    std::fs::remove_dir_all(&dir).unwrap();
}
