//! The Flight part of the hostile-ports test: malformed tickets, descriptors and Arrow IPC
//! payloads sent to one worker's data service, each refused with an error status.

use arrow_flight::encode::FlightDataEncoderBuilder;
use arrow_flight::flight_service_client::FlightServiceClient;
use arrow_flight::{Criteria, FlightData, FlightDescriptor, HandshakeRequest, Ticket};
use datafusion::arrow::array::{ArrayRef, Float64Array, RecordBatch};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use futures::StreamExt;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tessera_core::{Chunk, Value};
use tonic::Code;

type Client = FlightServiceClient<tonic::transport::Channel>;

fn chunk(n: usize) -> Value {
    Value::Array(Chunk::from_ndarray(ndarray::ArrayD::from_shape_fn(
        ndarray::IxDyn(&[n]),
        |i| i[0] as f64 * 0.5,
    )))
}

/// The Flight messages of `value`, with `path` as the first message's descriptor.
async fn messages(value: &Value, path: &[&str]) -> Vec<FlightData> {
    let mut m: Vec<FlightData> = tessera_worker::flight::encode_value(value)
        .map(|r| r.unwrap())
        .collect()
        .await;
    describe(&mut m, path);
    m
}

fn describe(m: &mut [FlightData], path: &[&str]) {
    m[0].flight_descriptor = Some(FlightDescriptor::new_path(
        path.iter().map(|s| s.to_string()).collect(),
    ));
}

/// The Flight messages of one batch of `rows` f64s whose schema carries `metadata`.
async fn raw_batch(metadata: &[(&str, &str)], rows: usize, path: &[&str]) -> Vec<FlightData> {
    let metadata: HashMap<String, String> = metadata
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let schema = Arc::new(Schema::new_with_metadata(
        vec![Field::new("values", DataType::Float64, false)],
        metadata,
    ));
    let column: ArrayRef = Arc::new(Float64Array::from_iter_values((0..rows).map(|i| i as f64)));
    let batch = RecordBatch::try_new(schema.clone(), vec![column]).unwrap();
    let mut m: Vec<FlightData> = FlightDataEncoderBuilder::new()
        .with_schema(schema)
        .build(futures::stream::iter([Ok(batch)]))
        .map(|r| r.unwrap())
        .collect()
        .await;
    describe(&mut m, path);
    m
}

/// Put `messages`; the status of the call or of its answer stream.
async fn put(client: &mut Client, messages: Vec<FlightData>) -> Result<(), tonic::Status> {
    let call = async {
        let mut answers = client
            .do_put(futures::stream::iter(messages))
            .await?
            .into_inner();
        while let Some(a) = answers.next().await {
            a?;
        }
        Ok(())
    };
    tokio::time::timeout(Duration::from_secs(10), call)
        .await
        .expect("the worker answers a DoPut within 10 s")
}

async fn get(client: &mut Client, ticket: Vec<u8>) -> Result<Value, tonic::Status> {
    let call = async {
        let stream = client.do_get(Ticket::new(ticket)).await?.into_inner();
        let stream =
            stream.map(|r| r.map_err(|s| arrow_flight::error::FlightError::Tonic(Box::new(s))));
        tessera_worker::flight::decode_value(stream)
            .await
            .map_err(|e| tonic::Status::internal(e.to_string()))
    };
    tokio::time::timeout(Duration::from_secs(10), call)
        .await
        .expect("the worker answers a DoGet within 10 s")
}

fn values_of(v: Value) -> Vec<f64> {
    v.into_chunk("test")
        .unwrap()
        .to_ndarray::<f64>()
        .unwrap()
        .into_raw_vec_and_offset()
        .0
}

/// Every malformed call gets an error status; a valid chunk put first survives intact.
pub async fn attack(address: &str) {
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{address}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut c: Client = FlightServiceClient::new(channel);
    let key = "hostile-target-0";
    put(&mut c, messages(&chunk(10), &[key]).await)
        .await
        .expect("a valid put is accepted");

    let tickets: Vec<(Vec<u8>, Code)> = vec![
        (vec![], Code::InvalidArgument),
        (vec![0xff, 0xfe], Code::InvalidArgument),
        (b"\n".to_vec(), Code::InvalidArgument),
        (format!("{key}\n").into_bytes(), Code::InvalidArgument),
        (format!("{key}\nx").into_bytes(), Code::InvalidArgument),
        (
            format!("{key}\n99999999999").into_bytes(),
            Code::InvalidArgument,
        ),
        (format!("{key}\n-1").into_bytes(), Code::InvalidArgument),
        (format!("{key}\n3").into_bytes(), Code::InvalidArgument),
        (vec![b'a'; 5000], Code::InvalidArgument),
        (b"no-such-key".to_vec(), Code::NotFound),
    ];
    for (ticket, code) in tickets {
        let shown = String::from_utf8_lossy(&ticket[..ticket.len().min(40)]).into_owned();
        let e = get(&mut c, ticket)
            .await
            .expect_err("a bad ticket is refused");
        assert_eq!(e.code(), code, "ticket {shown:?}: {e}");
    }

    let long_key = "k".repeat(5000);
    let mut refused: Vec<(&str, Vec<FlightData>)> = vec![
        ("an empty stream", vec![]),
        ("no descriptor", {
            let mut m = messages(&chunk(4), &["x"]).await;
            m[0].flight_descriptor = None;
            m
        }),
        ("an empty path", messages(&chunk(4), &[]).await),
        ("a 5000-byte key", messages(&chunk(4), &[&long_key]).await),
        (
            "a malformed piece path",
            messages(&chunk(4), &["tessera-shuffle", "x"]).await,
        ),
        ("a piece path with a bad number", {
            messages(&chunk(4), &["tessera-shuffle", "s", "1", "-2", "0"]).await
        }),
        ("a shape that overflows", {
            let shape = "1000000000000,1000000000000";
            raw_batch(&[("tessera.shape", shape)], 10, &["lying-shape"]).await
        }),
        (
            "a shape that disagrees",
            raw_batch(&[("tessera.shape", "11")], 10, &["short"]).await,
        ),
        (
            "neither array nor table",
            raw_batch(&[], 3, &["plain"]).await,
        ),
        ("lying bucket rows", {
            let md = [
                ("tessera.table", "1"),
                ("tessera.bucket_rows", "5,18446744073709551615"),
            ];
            raw_batch(&md, 3, &["lying-buckets"]).await
        }),
    ];
    // Garbage IPC: a noise header, a batch whose body is cut in half, a lone batch.
    let mut m = messages(&chunk(1000), &["cut-body"]).await;
    let body = m[1].data_body.clone();
    m[1].data_body = body.slice(..body.len() / 2);
    refused.push(("a cut body", m));
    let m = messages(&chunk(1000), &["lone-batch"]).await;
    let mut lone = m[1].clone();
    lone.flight_descriptor = m[0].flight_descriptor.clone();
    refused.push(("a batch without schema", vec![lone]));
    refused.push(("noise", {
        let mut m = messages(&chunk(4), &["noise"]).await;
        m[0].data_header = vec![0x5a; 64].into();
        m[0].data_body = vec![0xa5; 256].into();
        m
    }));
    for (what, m) in refused {
        let e = put(&mut c, m).await.expect_err(what);
        assert_ne!(e.code(), Code::Ok, "{what}");
    }

    // Flip bytes all over a valid schema and batch: refused or stored, never a crash.
    let valid = messages(&chunk(6), &["flipped"]).await;
    for (i, at) in (0..2).flat_map(|i| {
        (0..valid[i].data_header.len())
            .step_by(5)
            .map(move |at| (i, at))
    }) {
        let mut m = valid.clone();
        let mut header = m[i].data_header.to_vec();
        header[at] ^= 0xff;
        m[i].data_header = header.into();
        let _ = put(&mut c, m).await;
    }

    let e = c
        .list_flights(Criteria::default())
        .await
        .expect_err("not offered");
    assert_eq!(e.code(), Code::Unimplemented);
    let e = c
        .handshake(futures::stream::iter(vec![HandshakeRequest::default()]))
        .await
        .expect_err("not offered");
    assert_eq!(e.code(), Code::Unimplemented);

    let back = get(&mut c, key.as_bytes().to_vec())
        .await
        .expect("the valid chunk is still there");
    assert_eq!(values_of(back), values_of(chunk(10)));
}
