//! The worker's Arrow Flight data service: `DoGet` serves a held chunk or table partition
//! (ticket = key, or key and bucket), `DoPut` stores one a client sends (descriptor path =
//! key) or a shuffle piece a peer pushes (descriptor path = the piece header).

use crate::metrics::Counters;
use crate::shuffle::ShuffleBuffers;
use crate::store::ChunkStore;
use arrow_flight::decode::FlightRecordBatchStream;
use arrow_flight::encode::FlightDataEncoderBuilder;
use arrow_flight::error::FlightError;
use arrow_flight::flight_service_server::FlightService;
use arrow_flight::{
    Action, ActionType, Criteria, Empty, FlightData, FlightDescriptor, FlightInfo,
    HandshakeRequest, HandshakeResponse, PollInfo, PutResult, SchemaResult, Ticket,
};
use futures::stream::{self, BoxStream};
use futures::{StreamExt, TryStreamExt};

use std::sync::Arc;
use tessera_core::shuffle::PieceHeader;
use tessera_core::value::ipc;
use tessera_core::{Chunk, TaskKey, Value};
use tonic::{Request, Response, Status, Streaming};

/// Largest Flight message: a whole chunk travels as one message up to this size,
/// larger chunks are split by the encoder and re-joined by the receiver.
pub const MAX_FLIGHT_MESSAGE: usize = 256 * 1024 * 1024;
/// Size at which the encoder splits a chunk into several messages.
pub const FLIGHT_SPLIT_BYTES: usize = 64 * 1024 * 1024;
/// HTTP/2 flow-control window per data stream. The 64 KiB default makes a 32 MB chunk
/// wait for hundreds of window updates; a large window lets it stream at memory speed.
pub const STREAM_WINDOW: u32 = 32 * 1024 * 1024;
/// HTTP/2 flow-control window per data connection (several streams share it).
pub const CONNECTION_WINDOW: u32 = 128 * 1024 * 1024;
/// HTTP/2 frame size for data connections (default 16 KiB; fewer, larger frames).
pub const FRAME_SIZE: u32 = 1024 * 1024;

/// Longest key accepted in a ticket or descriptor.
pub const MAX_KEY_BYTES: usize = 4096;

/// Flight service over a worker's chunk store.
pub struct DataService {
    store: Arc<ChunkStore>,
    counters: Arc<Counters>,
    shuffles: Arc<ShuffleBuffers>,
}

impl DataService {
    /// Serve `store`, counting bytes in `counters`; shuffle pieces go to `shuffles`.
    pub fn new(
        store: Arc<ChunkStore>,
        counters: Arc<Counters>,
        shuffles: Arc<ShuffleBuffers>,
    ) -> Self {
        DataService {
            store,
            counters,
            shuffles,
        }
    }
}

/// Parse a ticket or descriptor path into a task key, refusing non-UTF-8 and huge keys.
pub fn key_from_bytes(bytes: &[u8]) -> Result<TaskKey, Status> {
    if bytes.is_empty() || bytes.len() > MAX_KEY_BYTES {
        return Err(Status::invalid_argument(format!(
            "a chunk key must be 1 to {MAX_KEY_BYTES} bytes, got {}",
            bytes.len()
        )));
    }
    let key = std::str::from_utf8(bytes)
        .map_err(|_| Status::invalid_argument("chunk key is not UTF-8"))?;
    Ok(TaskKey::new(key))
}

/// Separates the key from the bucket number in a ticket (`key` or `key\nbucket`).
pub const TICKET_BUCKET_SEPARATOR: u8 = b'\n';

/// The ticket naming `key`, or only bucket `bucket` of the table partition under it.
pub fn ticket_bytes(key: &TaskKey, bucket: Option<u32>) -> Vec<u8> {
    let mut out = key.as_str().as_bytes().to_vec();
    if let Some(b) = bucket {
        out.push(TICKET_BUCKET_SEPARATOR);
        out.extend(b.to_string().as_bytes());
    }
    out
}

/// Parse a ticket made by [`ticket_bytes`].
pub fn parse_ticket(bytes: &[u8]) -> Result<(TaskKey, Option<u32>), Status> {
    match bytes.iter().position(|b| *b == TICKET_BUCKET_SEPARATOR) {
        None => Ok((key_from_bytes(bytes)?, None)),
        Some(at) => {
            let bucket = std::str::from_utf8(&bytes[at + 1..])
                .ok()
                .and_then(|s| s.parse::<u32>().ok())
                .ok_or_else(|| Status::invalid_argument("ticket bucket is not a number"))?;
            Ok((key_from_bytes(&bytes[..at])?, Some(bucket)))
        }
    }
}

/// Decode a stream of Flight messages into one value (chunk or table partition). An
/// empty value travels as a schema with no batch, so the schema alone rebuilds it.
/// Messages are gathered first (each is bounded by [`MAX_FLIGHT_MESSAGE`] on the wire),
/// then decoded by [`decode_value_from_messages`].
pub async fn decode_value<S>(messages: S) -> Result<Value, tessera_core::Error>
where
    S: futures::Stream<Item = Result<FlightData, FlightError>> + Send + 'static,
{
    let mut messages = std::pin::pin!(messages);
    let mut gathered = Vec::new();
    while let Some(message) = messages.next().await {
        gathered.push(message.map_err(|e| match e {
            // The transport failed (peer gone, stream cut): worth trying elsewhere.
            FlightError::Tonic(status) => {
                tessera_core::Error::Cluster(status.message().to_string())
            }
            other => tessera_core::Error::decode(other.to_string()),
        })?);
    }
    decode_value_from_messages(gathered)
}

/// Decode Flight messages already in memory into one value. Every message header is
/// checked ([`ipc::check_message`]: buffers inside the body, no compression) before Arrow
/// decodes it, and Arrow runs [`tessera_core::guard::guarded`], so malformed messages are an error, never
/// a panic. This is the entry point of the `flight_value` fuzz target.
pub fn decode_value_from_messages(messages: Vec<FlightData>) -> Result<Value, tessera_core::Error> {
    for m in &messages {
        ipc::check_message(&m.data_header, m.data_body.len())?;
    }
    let (schema, batches) = tessera_core::guard::guarded("a Flight payload", || {
        let mut stream = FlightRecordBatchStream::new_from_flight_data(stream::iter(
            messages.into_iter().map(Ok),
        ));
        // The stream is in memory: every poll is ready at once.
        futures::executor::block_on(async {
            let mut batches = Vec::new();
            while let Some(batch) = stream.next().await {
                batches.push(batch.map_err(|e| tessera_core::Error::decode(e.to_string()))?);
            }
            let schema = match (stream.schema(), batches.first()) {
                (Some(s), _) => s.clone(),
                (None, Some(b)) => b.schema(),
                (None, None) => {
                    return Err(tessera_core::Error::decode(
                        "the stream held neither schema nor data",
                    ));
                }
            };
            Ok((schema, batches))
        })
    })?;
    Value::from_record_batches(schema, batches)
}

/// Decode a stream of Flight messages that must hold an array chunk.
pub async fn decode_chunk<S>(messages: S) -> Result<Chunk, tessera_core::Error>
where
    S: futures::Stream<Item = Result<FlightData, FlightError>> + Send + 'static,
{
    decode_value(messages).await?.into_chunk("this transfer")
}

/// Encode a value as a stream of Flight messages.
pub fn encode_value(value: &Value) -> BoxStream<'static, Result<FlightData, FlightError>> {
    let (schema, batches) = match value.to_record_batches() {
        Ok(x) => x,
        Err(e) => {
            return stream::once(async move { Err(FlightError::ExternalError(Box::new(e))) })
                .boxed();
        }
    };
    FlightDataEncoderBuilder::new()
        .with_max_flight_data_size(FLIGHT_SPLIT_BYTES)
        .with_schema(schema)
        .build(stream::iter(batches.into_iter().map(Ok)))
        .boxed()
}

type Stream<T> = BoxStream<'static, Result<T, Status>>;

fn unsupported<T>(what: &str) -> Result<T, Status> {
    Err(Status::unimplemented(format!(
        "Tessera workers serve chunks with DoGet and accept them with DoPut; {what} is not offered"
    )))
}

#[tonic::async_trait]
impl FlightService for DataService {
    type HandshakeStream = Stream<HandshakeResponse>;
    type ListFlightsStream = Stream<FlightInfo>;
    type DoGetStream = Stream<FlightData>;
    type DoPutStream = Stream<PutResult>;
    type DoExchangeStream = Stream<FlightData>;
    type DoActionStream = Stream<arrow_flight::Result>;
    type ListActionsStream = Stream<ActionType>;

    async fn do_get(
        &self,
        request: Request<Ticket>,
    ) -> Result<Response<Self::DoGetStream>, Status> {
        let (key, bucket) = parse_ticket(&request.into_inner().ticket)?;
        let mut value = self
            .store
            .get(&key)
            .map_err(|e| Status::data_loss(e.to_string()))?
            .ok_or_else(|| Status::not_found(format!("this worker does not hold {key}")))?;
        if let Some(b) = bucket {
            value = value
                .select_bucket(b as usize)
                .map_err(|e| Status::invalid_argument(format!("{key}: {e}")))?;
        }
        Counters::add(&self.counters.bytes_sent, value.nbytes() as u64);
        let out = encode_value(&value).map_err(|e| Status::internal(e.to_string()));
        Ok(Response::new(out.boxed()))
    }

    async fn do_put(
        &self,
        request: Request<Streaming<FlightData>>,
    ) -> Result<Response<Self::DoPutStream>, Status> {
        let mut input = request.into_inner();
        let first = input
            .message()
            .await?
            .ok_or_else(|| Status::invalid_argument("DoPut stream was empty"))?;
        let full_path = first
            .flight_descriptor
            .as_ref()
            .map(|d| d.path.clone())
            .unwrap_or_default();
        let piece = PieceHeader::from_path(&full_path)
            .map_err(|e| Status::invalid_argument(e.to_string()))?;
        let path = full_path.first().ok_or_else(|| {
            Status::invalid_argument("DoPut needs a descriptor whose path is the chunk key")
        })?;
        let key = key_from_bytes(path.as_bytes())?;
        let messages = stream::once(async move { Ok(first) })
            .chain(input.map_err(|s| FlightError::Tonic(Box::new(s))));
        if let Some(header) = piece {
            let what = format!(
                "shuffle {} piece {}<-{}",
                header.shuffle, header.partition, header.source
            );
            let chunk = decode_chunk(messages)
                .await
                .map_err(|e| Status::invalid_argument(format!("{what}: {e}")))?;
            Counters::add(&self.counters.bytes_received, chunk.nbytes() as u64);
            self.shuffles
                .accept(header, chunk)
                .map_err(|e| Status::resource_exhausted(format!("{what}: {e}")))?;
            return Ok(Response::new(
                stream::once(async { Ok(PutResult::default()) }).boxed(),
            ));
        }
        let value = decode_value(messages)
            .await
            .map_err(|e| Status::invalid_argument(format!("chunk {key}: {e}")))?;
        Counters::add(&self.counters.bytes_received, value.nbytes() as u64);
        self.store.put(key, value);
        Ok(Response::new(
            stream::once(async { Ok(PutResult::default()) }).boxed(),
        ))
    }

    async fn handshake(
        &self,
        _: Request<Streaming<HandshakeRequest>>,
    ) -> Result<Response<Self::HandshakeStream>, Status> {
        unsupported("Handshake")
    }
    async fn list_flights(
        &self,
        _: Request<Criteria>,
    ) -> Result<Response<Self::ListFlightsStream>, Status> {
        unsupported("ListFlights")
    }
    async fn get_flight_info(
        &self,
        _: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        unsupported("GetFlightInfo")
    }
    async fn poll_flight_info(
        &self,
        _: Request<FlightDescriptor>,
    ) -> Result<Response<PollInfo>, Status> {
        unsupported("PollFlightInfo")
    }
    async fn get_schema(
        &self,
        _: Request<FlightDescriptor>,
    ) -> Result<Response<SchemaResult>, Status> {
        unsupported("GetSchema")
    }
    async fn do_exchange(
        &self,
        _: Request<Streaming<FlightData>>,
    ) -> Result<Response<Self::DoExchangeStream>, Status> {
        unsupported("DoExchange")
    }
    async fn do_action(
        &self,
        _: Request<Action>,
    ) -> Result<Response<Self::DoActionStream>, Status> {
        unsupported("DoAction")
    }
    async fn list_actions(
        &self,
        _: Request<Empty>,
    ) -> Result<Response<Self::ListActionsStream>, Status> {
        unsupported("ListActions")
    }
}
