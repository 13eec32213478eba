//! Kernels: run one task's op on its input chunks and return the output chunk.
//! Pure functions on Arrow-backed chunks; the worker calls them on its rayon pool.

use crate::chunk::Chunk;
use crate::error::Result;
use crate::ops::Op;

/// Run `op` on `inputs` (in the op's input order).
pub fn execute(op: &Op, inputs: &[Chunk]) -> Result<Chunk> {
    let _ = (op, inputs);
    Err(crate::Error::other("kernels are not written yet"))
}
