//! Storage kernels: each task reads or writes its own region of a `.npy` file or a Zarr v3
//! store directly, so chunk bytes never pass through the client or the scheduler.
//!
//! Why here, in core: a storage task is a kernel like any other (an op in, a chunk out),
//! and core already owns the ops, the dtype rules and the validation of everything that
//! arrives off the wire. File I/O is not a socket, so DESIGN.md's boundary holds; putting
//! the kernels in core lets the stock `tessera worker` run them with no registration, and
//! lets the client share the header and metadata code it needs when an array is built.
//! The Zarr side uses `zarrs` with only its `filesystem` and `zstd` features (zstd is what
//! zarr-python writes by default for v3 arrays). Measured with `cargo build --timings` on
//! this 2-core machine: about 60 new crates costing some 300 s of compile time in a cold
//! debug build (zarrs 66 s, the libzstd C build 55 s, derive_more and regex most of the
//! rest), so roughly 2.5 minutes of wall time once; nothing in incremental builds.
//!
//! Every kernel validates its op against the file it finds (shape, dtype, header) and
//! names the file in each error; a panic inside `zarrs` is caught and reported the same way.

mod npy;
pub mod npy_header;
pub mod zarr;

#[cfg(test)]
mod tests;

pub use npy_header::NpyHeader;
pub use zarr::{ZarrInfo, zarr_create, zarr_info};

use crate::chunk::{Chunk, ChunkElement};
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::kernels::dynarray::{DynElement, checked_len};
use crate::ops::Op;
use ndarray::{ArrayD, IxDyn};
use std::ops::Range;

/// Run one storage op (`NpyRead`, `NpyWrite`, `ZarrRead`, `ZarrWrite`).
pub(crate) fn execute(op: &Op, inputs: &[Chunk]) -> Result<Chunk> {
    let run = || match op {
        Op::NpyRead {
            path,
            header,
            region,
        } => {
            expect_none(op, path, inputs)?;
            npy::read(path, header, region)
        }
        Op::NpyWrite {
            path,
            header,
            region,
        } => npy::write(path, header, region, one_input(op, path, inputs)?),
        Op::ZarrRead {
            path,
            shape,
            dtype,
            region,
        } => {
            expect_none(op, path, inputs)?;
            zarr::read(path, shape, *dtype, region)
        }
        Op::ZarrWrite {
            path,
            shape,
            dtype,
            chunk,
            region,
        } => zarr::write(
            path,
            shape,
            *dtype,
            chunk,
            region,
            one_input(op, path, inputs)?,
        ),
        other => Err(Error::other(format!(
            "{} is not a storage op",
            other.name()
        ))),
    };
    // `zarrs` documents panics on some inputs; a hostile store must err the task only.
    super::named::guarded(op.name(), run)
}

fn expect_none(op: &Op, path: &str, inputs: &[Chunk]) -> Result<()> {
    if inputs.is_empty() {
        Ok(())
    } else {
        Err(Error::other(format!(
            "{} of {path} takes no input chunks, got {}",
            op.name(),
            inputs.len()
        )))
    }
}

fn one_input<'a>(op: &Op, path: &str, inputs: &'a [Chunk]) -> Result<&'a Chunk> {
    match inputs {
        [c] => Ok(c),
        _ => Err(Error::other(format!(
            "{} of {path} takes 1 input chunk, got {}",
            op.name(),
            inputs.len()
        ))),
    }
}

/// The output of a write task: a chunk of length 1 on each of `ndim` axes holding the
/// number of bytes written, so a write's result array has one element per chunk.
pub fn write_marker(ndim: usize, bytes: u64) -> Chunk {
    let shape = vec![1; ndim];
    Chunk::from_ndarray(
        ArrayD::from_shape_vec(IxDyn(&shape), vec![bytes as i64]).expect("one element"),
    )
}

/// Check that `region` lies inside `shape` and is not too large; return its shape.
pub(crate) fn check_region(
    path: &str,
    shape: &[usize],
    region: &[Range<usize>],
) -> Result<Vec<usize>> {
    if region.len() != shape.len() {
        return Err(Error::shape(format!(
            "{path}: region {region:?} has {} axes but the stored array has shape {shape:?}",
            region.len()
        )));
    }
    for (axis, (r, &n)) in region.iter().zip(shape).enumerate() {
        if r.start > r.end || r.end > n {
            return Err(Error::shape(format!(
                "{path}: region {region:?} is outside the stored array of shape {shape:?} on axis {axis}"
            )));
        }
    }
    let lens: Vec<usize> = region.iter().map(|r| r.end - r.start).collect();
    checked_len(&lens)?;
    Ok(lens)
}

/// Element types that storage kernels move between files and chunks.
pub(crate) trait StorageElement:
    DynElement + ChunkElement + zarrs::array::Element + zarrs::array::ElementOwned + Default
{
    /// Bytes per element in a file.
    const SIZE: usize;
    /// Decode one little- (or big-) endian element.
    fn decode(bytes: &[u8], big_endian: bool) -> Self;
    /// Append the little-endian encoding.
    fn encode(self, out: &mut Vec<u8>);
}

macro_rules! storage_number {
    ($t:ty) => {
        impl StorageElement for $t {
            const SIZE: usize = std::mem::size_of::<$t>();
            fn decode(bytes: &[u8], big_endian: bool) -> Self {
                let b: [u8; std::mem::size_of::<$t>()] =
                    bytes.try_into().expect("caller passes SIZE bytes");
                if big_endian {
                    <$t>::from_be_bytes(b)
                } else {
                    <$t>::from_le_bytes(b)
                }
            }
            fn encode(self, out: &mut Vec<u8>) {
                out.extend_from_slice(&self.to_le_bytes());
            }
        }
    };
}
storage_number!(i32);
storage_number!(i64);
storage_number!(f32);
storage_number!(f64);

impl StorageElement for bool {
    const SIZE: usize = 1;
    /// NumPy reads any non-zero byte of a `|b1` array as `True`.
    fn decode(bytes: &[u8], _big_endian: bool) -> Self {
        bytes[0] != 0
    }
    fn encode(self, out: &mut Vec<u8>) {
        out.push(self as u8);
    }
}

/// Run `$body` with the type alias `$t` bound to the Rust element type of `$dtype`.
macro_rules! with_storage_type {
    ($dtype:expr, $t:ident => $body:expr) => {
        match $dtype {
            DType::Bool => {
                type $t = bool;
                $body
            }
            DType::I32 => {
                type $t = i32;
                $body
            }
            DType::I64 => {
                type $t = i64;
                $body
            }
            DType::F32 => {
                type $t = f32;
                $body
            }
            DType::F64 => {
                type $t = f64;
                $body
            }
        }
    };
}
pub(crate) use with_storage_type;

/// Call `f` with the chunk's elements in C order (no copy for numeric chunks).
pub(crate) fn with_values<T: StorageElement, R>(
    c: &Chunk,
    f: impl FnOnce(&[T]) -> Result<R>,
) -> Result<R> {
    let a = T::read(c)?;
    match a.as_slice() {
        Some(s) => f(s),
        None => {
            let v: Vec<T> = a.iter().copied().collect();
            f(&v)
        }
    }
}

/// A typed dtype check with the file named.
pub(crate) fn check_dtype(path: &str, chunk: &Chunk, want: DType) -> Result<()> {
    if chunk.dtype() == want {
        Ok(())
    } else {
        Err(Error::dtype(format!(
            "{path}: cannot write a {} chunk into a {want} array",
            chunk.dtype()
        )))
    }
}
