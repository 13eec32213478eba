//! `.npy` region kernels: read or write one rectangular region of the file's array with
//! positioned I/O on the bytes of that region only (Fortran order read as reversed C order).

use super::npy_header::NpyHeader;
use super::{
    StorageElement, check_dtype, check_region, with_storage_type, with_values, write_marker,
};
use crate::chunk::Chunk;
use crate::dtype::DType;
use crate::error::{Error, Result};
use ndarray::{ArrayD, IxDyn};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::ops::Range;
use std::path::Path;

/// Gap between two runs below which they are read in one read.
const PAGE: usize = 4096;
/// Largest single read (a run longer than this is still read whole).
const MAX_READ: usize = 64 << 20;

/// Element strides of a C-order array of `shape`.
fn c_strides(shape: &[usize]) -> Vec<usize> {
    let mut strides = vec![1; shape.len()];
    for a in (0..shape.len().saturating_sub(1)).rev() {
        strides[a] = strides[a + 1] * shape[a + 1];
    }
    strides
}

/// The contiguous runs of `region` in a C-order array of `shape`: the run length in
/// elements and the element offset of each run, in C order of the region.
fn runs(shape: &[usize], region: &[Range<usize>]) -> (usize, Vec<usize>) {
    let strides = c_strides(shape);
    // Axes after `t` are covered whole, so each run spans region[t] times their size.
    let mut t = shape.len().saturating_sub(1);
    while t > 0 && region[t].start == 0 && region[t].end == shape[t] {
        t -= 1;
    }
    if shape.is_empty() {
        return (1, vec![0]);
    }
    let run = (region[t].end - region[t].start) * strides[t];
    let outer: Vec<usize> = region[..t].iter().map(|r| r.end - r.start).collect();
    let count: usize = outer.iter().product();
    let mut offsets = Vec::with_capacity(count);
    let mut idx = vec![0; t];
    for _ in 0..count {
        let off: usize = (0..t)
            .map(|a| (region[a].start + idx[a]) * strides[a])
            .sum::<usize>()
            + region[t].start * strides[t];
        offsets.push(off);
        for a in (0..t).rev() {
            idx[a] += 1;
            if idx[a] < outer[a] {
                break;
            }
            idx[a] = 0;
        }
    }
    (run, offsets)
}

fn io_err(path: &str, what: &str, e: std::io::Error) -> Error {
    Error::other(format!("{path}: cannot {what}: {e}"))
}

/// `NpyRead`: the chunk at `region` of the file's array, in C order.
pub(crate) fn read(path: &str, header: &NpyHeader, region: &[Range<usize>]) -> Result<Chunk> {
    let found = NpyHeader::read(Path::new(path))?;
    if &found != header {
        return Err(Error::other(format!(
            "{path} changed since the array was built: its header is now {found:?}, was {header:?}"
        )));
    }
    let lens = check_region(path, &header.shape, region)?;
    with_storage_type!(header.dtype, T => read_typed::<T>(path, header, region, &lens))
}

fn read_typed<T: StorageElement>(
    path: &str,
    h: &NpyHeader,
    region: &[Range<usize>],
    lens: &[usize],
) -> Result<Chunk> {
    if lens.contains(&0) {
        return Ok(
            T::wrap(ArrayD::from_shape_vec(IxDyn(lens), vec![]).expect("empty")).into_chunk(),
        );
    }
    // A Fortran-order file is the C-order file of the reversed shape: read the reversed
    // region from it, then reverse the axes back.
    let (layout, reg): (Vec<usize>, Vec<Range<usize>>) = if h.fortran_order {
        (
            h.shape.iter().rev().copied().collect(),
            region.iter().rev().cloned().collect(),
        )
    } else {
        (h.shape.clone(), region.to_vec())
    };
    let reg_lens: Vec<usize> = reg.iter().map(|r| r.end - r.start).collect();
    let n: usize = reg_lens.iter().product();
    let mut file = File::open(path).map_err(|e| io_err(path, "open the file", e))?;
    let mut values: Vec<T> = Vec::new();
    values
        .try_reserve_exact(n)
        .map_err(|_| Error::other(format!("{path}: cannot allocate {n} elements")))?;
    // Only this region's runs are read; runs closer than a page are read together (the
    // page is read from disk anyway), in reads of at most MAX_READ bytes.
    let (run, offsets) = runs(&layout, &reg);
    let mut bytes = Vec::new();
    let mut i = 0;
    while i < offsets.len() {
        let mut j = i + 1;
        while j < offsets.len()
            && (offsets[j] - offsets[j - 1] - run) * T::SIZE <= PAGE
            && (offsets[j] + run - offsets[i]) * T::SIZE <= MAX_READ
        {
            j += 1;
        }
        let len = (offsets[j - 1] + run - offsets[i]) * T::SIZE;
        bytes.resize(len, 0);
        file.seek(SeekFrom::Start(
            h.data_offset + (offsets[i] * T::SIZE) as u64,
        ))
        .and_then(|_| file.read_exact(&mut bytes))
        .map_err(|e| io_err(path, "read the data", e))?;
        for &off in &offsets[i..j] {
            let start = (off - offsets[i]) * T::SIZE;
            values.extend(
                bytes[start..start + run * T::SIZE]
                    .chunks_exact(T::SIZE)
                    .map(|b| T::decode(b, h.big_endian)),
            );
        }
        i = j;
    }
    let a = ArrayD::from_shape_vec(IxDyn(&reg_lens), values)
        .map_err(|e| Error::other(format!("{path}: {e}")))?;
    let a = if h.fortran_order {
        let r = a.reversed_axes();
        r.as_standard_layout().into_owned()
    } else {
        a
    };
    Ok(T::wrap(a).into_chunk())
}

/// `NpyWrite`: write `input` at `region` of the (C-order) file; the marker of bytes written.
pub(crate) fn write(
    path: &str,
    header: &NpyHeader,
    region: &[Range<usize>],
    input: &Chunk,
) -> Result<Chunk> {
    if header.fortran_order || header.big_endian {
        return Err(Error::other(format!(
            "{path}: writes go to little-endian C-order files only, the op says {}{}",
            header.descr(),
            if header.fortran_order {
                " Fortran order"
            } else {
                ""
            }
        )));
    }
    let found = NpyHeader::read(Path::new(path))?;
    if &found != header {
        return Err(Error::other(format!(
            "{path} is not the file this write was planned for: its header is {found:?}, expected {header:?}"
        )));
    }
    let lens = check_region(path, &header.shape, region)?;
    check_dtype(path, input, header.dtype)?;
    if input.shape() != lens.as_slice() {
        return Err(Error::shape(format!(
            "{path}: a chunk of shape {:?} cannot fill region {region:?}",
            input.shape()
        )));
    }
    if lens.contains(&0) {
        return Ok(write_marker(region.len(), 0));
    }
    let written =
        with_storage_type!(header.dtype, T => write_typed::<T>(path, header, region, input))?;
    Ok(write_marker(region.len(), written))
}

fn write_typed<T: StorageElement>(
    path: &str,
    h: &NpyHeader,
    region: &[Range<usize>],
    input: &Chunk,
) -> Result<u64> {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(|e| io_err(path, "open the file for writing", e))?;
    let (run, offsets) = runs(&h.shape, region);
    with_values::<T, u64>(input, |values| {
        let mut bytes = Vec::with_capacity(run * T::SIZE);
        for (k, off) in offsets.iter().enumerate() {
            bytes.clear();
            for &v in &values[k * run..(k + 1) * run] {
                v.encode(&mut bytes);
            }
            file.seek(SeekFrom::Start(h.data_offset + (off * T::SIZE) as u64))
                .and_then(|_| file.write_all(&bytes))
                .map_err(|e| io_err(path, "write the data", e))?;
        }
        Ok((values.len() * T::SIZE) as u64)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_cover_regions_in_c_order() {
        assert_eq!(runs(&[4, 5], &[1..3, 0..5]), (10, vec![5]));
        assert_eq!(runs(&[4, 5], &[1..3, 1..3]), (2, vec![6, 11]));
        assert_eq!(runs(&[], &[]), (1, vec![0]));
        assert_eq!(runs(&[2, 3, 4], &[0..2, 1..2, 0..4]), (4, vec![4, 16]));
        assert_eq!(runs(&[2, 3, 4], &[0..2, 0..3, 0..4]), (24, vec![0]));
    }
}
