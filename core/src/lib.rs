//! Tessera's shared vocabulary: keys, dtypes, chunks, operations, task graphs,
//! the kernels that run them, wire messages and their codec. Nothing here opens a socket.

pub mod chunk;
pub mod codec;
pub mod dtype;
pub mod error;
pub mod graph;
pub mod guard;
pub mod kernels;
pub mod key;
pub mod ops;
pub mod rpc;
pub mod scalar;
pub mod security;
pub mod shuffle;
#[cfg(feature = "tables")]
pub mod table;
pub mod value;
pub mod wire;

pub use chunk::Chunk;
pub use dtype::{DType, Element};
pub use error::{Error, Result};
pub use graph::{Task, TaskGraph};
pub use key::TaskKey;
pub use scalar::Scalar;
pub use value::{Partition, Value};
