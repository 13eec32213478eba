//! The scheduler's gRPC service description and the bincode tonic codec it travels with.
//! Generated client stubs and server traits are transport-agnostic: callers bring the socket.

use crate::codec::{self, MAX_MESSAGE_BYTES};
use bytes::{Buf, BufMut};
use serde::{Serialize, de::DeserializeOwned};
use std::marker::PhantomData;
use std::sync::atomic::{AtomicU64, Ordering};
use tonic::Status;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};

#[allow(missing_docs, clippy::all)]
mod generated {
    include!(concat!(env!("OUT_DIR"), "/tessera.Scheduler.rs"));
}
pub use generated::scheduler_client::SchedulerClient;
pub use generated::scheduler_server::{Scheduler, SchedulerServer};

/// Largest gRPC message either side accepts (tonic's default of 4 MiB is too small
/// for a graph of a hundred thousand tasks).
pub const MAX_GRPC_MESSAGE: usize = MAX_MESSAGE_BYTES;

static BYTES_DECODED: AtomicU64 = AtomicU64::new(0);

/// Control-message bytes this process has decoded so far (all services).
pub fn bytes_decoded() -> u64 {
    BYTES_DECODED.load(Ordering::Relaxed)
}

/// tonic codec carrying serde types encoded by [`crate::codec`].
#[derive(Debug)]
pub struct BincodeCodec<E, D>(PhantomData<(E, D)>);

impl<E, D> Default for BincodeCodec<E, D> {
    fn default() -> Self {
        BincodeCodec(PhantomData)
    }
}

impl<E, D> Codec for BincodeCodec<E, D>
where
    E: Serialize + Send + 'static,
    D: DeserializeOwned + Send + 'static,
{
    type Encode = E;
    type Decode = D;
    type Encoder = BincodeEncoder<E>;
    type Decoder = BincodeDecoder<D>;

    fn encoder(&mut self) -> Self::Encoder {
        BincodeEncoder(PhantomData)
    }

    fn decoder(&mut self) -> Self::Decoder {
        BincodeDecoder(PhantomData)
    }
}

/// Encoding half of [`BincodeCodec`].
#[derive(Debug)]
pub struct BincodeEncoder<E>(PhantomData<E>);

impl<E: Serialize> Encoder for BincodeEncoder<E> {
    type Item = E;
    type Error = Status;

    fn encode(&mut self, item: E, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        let bytes = codec::encode(&item).map_err(|e| Status::internal(e.to_string()))?;
        dst.put_slice(&bytes);
        Ok(())
    }
}

/// Decoding half of [`BincodeCodec`]; malformed bytes become `InvalidArgument`.
#[derive(Debug)]
pub struct BincodeDecoder<D>(PhantomData<D>);

impl<D: DeserializeOwned> Decoder for BincodeDecoder<D> {
    type Item = D;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<D>, Status> {
        let len = src.remaining();
        BYTES_DECODED.fetch_add(len as u64, Ordering::Relaxed);
        let bytes = src.copy_to_bytes(len);
        codec::decode(&bytes)
            .map(Some)
            .map_err(|e| Status::invalid_argument(format!("malformed message: {e}")))
    }
}
