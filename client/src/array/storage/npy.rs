//! `.npy` files as arrays: `from_npy` reads the header on the client and one region per
//! task on the workers; `Array::to_npy` creates the file and writes one region per task.

use super::{Target, absolute, read_array, stamp, write_array};
use crate::array::Array;
use crate::array::chunks::normalize_chunks;
use std::path::Path;
use tessera_core::Result;
use tessera_core::kernels::storage::NpyHeader;
use tessera_core::key::Tokenizer;

/// The `.npy` file at `path` as an array in blocks of `chunks`. The header is read now (a
/// malformed or unsupported file is refused here); each task later reads only its own
/// chunk's bytes. C and Fortran order, little- and big-endian `f8 f4 i8 i4 b1` are read.
pub fn from_npy(path: impl AsRef<Path>, chunks: &[usize]) -> Array {
    Array::from_result(try_from_npy(path, chunks))
}

/// [`from_npy`], returning the error at once.
pub fn try_from_npy(path: impl AsRef<Path>, chunks: &[usize]) -> Result<Array> {
    let (abs, text) = absolute(path.as_ref())?;
    let header = NpyHeader::read(&abs)?;
    let grid = normalize_chunks(&header.shape, chunks)?;
    let name = Tokenizer::new("from-npy")
        .str(&text)
        .value(&stamp(&abs)?)
        .value(&header)
        .value(&grid)
        .finish();
    Ok(read_array(
        name,
        header.shape.clone(),
        header.dtype,
        grid,
        Target::Npy { path: text, header },
    ))
}

impl Array {
    /// Write this array to a new `.npy` file at `path` (C order, little-endian). The file is
    /// created now with its header and full length; the returned array's tasks (one per
    /// chunk, see [`crate::Client::run_writes`]) each write one chunk's bytes into it.
    pub fn to_npy(&self, path: impl AsRef<Path>) -> Array {
        Array::from_result(self.try_to_npy(path))
    }

    /// [`Array::to_npy`], returning the error at once.
    pub fn try_to_npy(&self, path: impl AsRef<Path>) -> Result<Array> {
        let node = self.node()?;
        let (abs, text) = absolute(path.as_ref())?;
        let header = NpyHeader::c_order(node.dtype, &node.shape);
        header.create_file(&abs)?;
        Ok(write_array(
            "to-npy",
            node,
            &text,
            Target::Npy {
                path: text.clone(),
                header,
            },
        ))
    }
}
