//! The error type shared by every Tessera crate.
//! Each variant names what was wrong so that a user can act on the message.

use serde::{Deserialize, Serialize};

/// Result alias used throughout Tessera.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong, from graph building to the wire.
#[derive(Debug, Clone, thiserror::Error, Serialize, Deserialize, PartialEq)]
pub enum Error {
    /// Shapes that cannot be combined, reshaped or indexed as asked.
    #[error("shape error: {0}")]
    Shape(String),
    /// A dtype that the operation does not support, or a mix it refuses.
    #[error("dtype error: {0}")]
    DType(String),
    /// A chunk specification that does not tile the array.
    #[error("chunk error: {0}")]
    Chunks(String),
    /// Bytes that do not decode into the expected message.
    #[error("decode error: {0}")]
    Decode(String),
    /// A task failed on a worker (or depends on one that did).
    #[error("{0}")]
    Task(TaskError),
    /// The cluster could not be reached or lost a component.
    #[error("cluster error: {0}")]
    Cluster(String),
    /// A table query that cannot be planned: unknown tables or columns, type errors,
    /// malformed SQL (DataFusion's message, naming the offender).
    #[error("plan error: {0}")]
    Plan(String),
    /// Anything else, with its message.
    #[error("{0}")]
    Other(String),
}

/// Why a task erred: the failing task, where it ran and what it said.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TaskError {
    /// Key of the task whose kernel failed (the origin, not the dependent).
    pub key: String,
    /// Data address of the worker that ran it, or "scheduler" when it was erred there.
    pub worker: String,
    /// The kernel's error or panic message.
    pub message: String,
}

impl std::fmt::Display for TaskError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "task {} failed on worker {}: {}",
            self.key, self.worker, self.message
        )
    }
}

impl Error {
    /// Shorthand for [`Error::Shape`].
    pub fn shape(msg: impl Into<String>) -> Self {
        Error::Shape(msg.into())
    }
    /// Shorthand for [`Error::DType`].
    pub fn dtype(msg: impl Into<String>) -> Self {
        Error::DType(msg.into())
    }
    /// Shorthand for [`Error::Decode`].
    pub fn decode(msg: impl Into<String>) -> Self {
        Error::Decode(msg.into())
    }
    /// Shorthand for [`Error::Other`].
    pub fn other(msg: impl Into<String>) -> Self {
        Error::Other(msg.into())
    }
}

impl From<arrow_schema::ArrowError> for Error {
    fn from(e: arrow_schema::ArrowError) -> Self {
        Error::Other(format!("arrow: {e}"))
    }
}
