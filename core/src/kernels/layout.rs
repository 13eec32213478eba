//! Kernels that move elements without computing on them: `Transpose` (permute axes into a
//! C-ordered chunk) and `Assemble` (copy rectangular pieces of inputs into a new chunk).

use super::dynarray::{DynElement, checked_len, try_full};
use crate::chunk::Chunk;
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::ops::Piece;
use ndarray::{ArrayD, Slice};

/// Side of the square tiles a transpose copies at a time (fits comfortably in L1).
const TILE: usize = 32;

/// `Transpose`: output axis `i` is input axis `axes[i]`; the result is C-ordered.
pub(crate) fn transpose(axes: &[usize], input: &Chunk) -> Result<Chunk> {
    let ndim = input.shape().len();
    let mut seen = vec![false; ndim];
    let is_perm = axes.len() == ndim
        && axes
            .iter()
            .all(|&a| a < ndim && !std::mem::replace(&mut seen[a], true));
    if !is_perm {
        return Err(Error::shape(format!(
            "transpose: {axes:?} is not a permutation of the {ndim} axes of a chunk of shape {:?}",
            input.shape()
        )));
    }
    if axes.iter().enumerate().all(|(i, &a)| i == a) {
        return Ok(input.clone());
    }
    match input.dtype() {
        DType::Bool => permute::<bool>(axes, input),
        DType::I32 => permute::<i32>(axes, input),
        DType::I64 => permute::<i64>(axes, input),
        DType::F32 => permute::<f32>(axes, input),
        DType::F64 => permute::<f64>(axes, input),
    }
}

fn permute<T: DynElement>(axes: &[usize], input: &Chunk) -> Result<Chunk> {
    let a = T::read(input)?;
    let view = a.view().permuted_axes(axes.to_vec());
    let mut out = try_full(view.shape(), T::default())?;
    let n = axes.len();
    // Output axis `q` is the input's contiguous last axis. Unless it is also the output's
    // last axis, a plain copy reads one element per cache line; copying in TILE x TILE
    // tiles over axes `q` and `n - 1` reuses each line that is read.
    let q = axes.iter().position(|&a| a == n - 1).unwrap_or(n - 1);
    if q + 1 == n || out.len() < TILE * TILE {
        out.assign(&view);
    } else {
        let (lq, ll) = (out.shape()[q], out.shape()[n - 1]);
        for i in (0..lq).step_by(TILE) {
            for j in (0..ll).step_by(TILE) {
                let tile = |ax: usize| match ax {
                    _ if ax == q => Slice::from(i..(i + TILE).min(lq)),
                    _ if ax == n - 1 => Slice::from(j..(j + TILE).min(ll)),
                    _ => Slice::from(..),
                };
                out.slice_each_axis_mut(|d| tile(d.axis.index()))
                    .assign(&view.slice_each_axis(|d| tile(d.axis.index())));
            }
        }
    }
    Ok(T::wrap(out).into_chunk())
}

/// `Assemble`: a chunk of `shape` and `dtype` whose regions are copied from the inputs as
/// `pieces` say. Parts no piece covers stay zero (`false`). Every index is validated.
pub(crate) fn assemble(
    shape: &[usize],
    dtype: DType,
    pieces: &[Piece],
    inputs: &[Chunk],
) -> Result<Chunk> {
    checked_len(shape)?;
    let mut extents = Vec::with_capacity(pieces.len());
    for (p, piece) in pieces.iter().enumerate() {
        extents.push(check_piece(p, piece, shape, dtype, inputs)?);
    }
    // A single piece that is the whole of an input of the right shape: share its buffer.
    if let [piece] = pieces
        && inputs[piece.input].shape() == shape
        && piece.offset.iter().all(|&o| o == 0)
        && extents[0] == shape
    {
        return Ok(inputs[piece.input].clone());
    }
    match dtype {
        DType::Bool => copy_pieces::<bool>(shape, pieces, inputs),
        DType::I32 => copy_pieces::<i32>(shape, pieces, inputs),
        DType::I64 => copy_pieces::<i64>(shape, pieces, inputs),
        DType::F32 => copy_pieces::<f32>(shape, pieces, inputs),
        DType::F64 => copy_pieces::<f64>(shape, pieces, inputs),
    }
}

/// Validate one piece; return its extent (length per axis).
fn check_piece(
    p: usize,
    piece: &Piece,
    shape: &[usize],
    dtype: DType,
    inputs: &[Chunk],
) -> Result<Vec<usize>> {
    let bad = |msg: String| Error::shape(format!("assemble: piece {p}: {msg}"));
    let input = inputs.get(piece.input).ok_or_else(|| {
        bad(format!(
            "reads input {} but the task has {} inputs",
            piece.input,
            inputs.len()
        ))
    })?;
    if input.dtype() != dtype {
        return Err(Error::dtype(format!(
            "assemble: piece {p}: input {} is {}, the output is {dtype}",
            piece.input,
            input.dtype()
        )));
    }
    let ndim = shape.len();
    if piece.source.len() != ndim || piece.offset.len() != ndim || input.shape().len() != ndim {
        return Err(bad(format!(
            "source {:?} / offset {:?} / input shape {:?} do not all have the output's {ndim} axes",
            piece.source,
            piece.offset,
            input.shape()
        )));
    }
    let mut extent = Vec::with_capacity(ndim);
    let axes = piece
        .source
        .iter()
        .zip(&piece.offset)
        .zip(input.shape().iter().zip(shape));
    for (ax, ((r, &offset), (&in_len, &out_len))) in axes.enumerate() {
        if r.start > r.end || r.end > in_len {
            return Err(bad(format!(
                "source range {r:?} on axis {ax} is outside the input's length {in_len}"
            )));
        }
        let len = r.end - r.start;
        if offset.checked_add(len).is_none_or(|e| e > out_len) {
            return Err(bad(format!(
                "{len} elements at offset {offset} on axis {ax} overflow the output's length {out_len}"
            )));
        }
        extent.push(len);
    }
    Ok(extent)
}

fn copy_pieces<T: DynElement>(
    shape: &[usize],
    pieces: &[Piece],
    inputs: &[Chunk],
) -> Result<Chunk> {
    let mut out: ArrayD<T> = try_full(shape, T::default())?;
    // Bool inputs are unpacked once each, however many pieces read them.
    let mut read: Vec<Option<ndarray::CowArray<'_, T, ndarray::IxDyn>>> =
        (0..inputs.len()).map(|_| None).collect();
    for piece in pieces {
        let src = match &mut read[piece.input] {
            Some(a) => a,
            slot => slot.insert(T::read(&inputs[piece.input])?),
        };
        let region = src.slice_each_axis(|ax| {
            let r = &piece.source[ax.axis.index()];
            Slice::from(r.start..r.end)
        });
        let mut dst = out.slice_each_axis_mut(|ax| {
            let i = ax.axis.index();
            let o = piece.offset[i];
            Slice::from(o..o + (piece.source[i].end - piece.source[i].start))
        });
        dst.assign(&region);
    }
    Ok(T::wrap(out).into_chunk())
}

#[cfg(test)]
#[allow(clippy::single_range_in_vec_init)]
mod tests {
    use super::*;
    use ndarray::{IxDyn, array, s};

    fn piece(input: usize, source: &[std::ops::Range<usize>], offset: &[usize]) -> Piece {
        Piece {
            input,
            source: source.to_vec(),
            offset: offset.to_vec(),
        }
    }

    #[test]
    fn transpose_matches_ndarray() {
        let a = ArrayD::from_shape_fn(IxDyn(&[2, 3, 4]), |ix| {
            (ix[0] * 100 + ix[1] * 10 + ix[2]) as i64
        });
        let c = Chunk::from_ndarray(a.clone());
        let t = transpose(&[2, 0, 1], &c).unwrap();
        assert_eq!(
            t.to_ndarray::<i64>().unwrap(),
            a.view().permuted_axes(vec![2, 0, 1])
        );
        let b = Chunk::from_ndarray(array![[true, false, false], [true, true, false]].into_dyn());
        let t = transpose(&[1, 0], &b).unwrap();
        assert_eq!(
            t.to_ndarray::<bool>().unwrap(),
            array![[true, true], [false, true], [false, false]].into_dyn()
        );
        assert!(std::sync::Arc::ptr_eq(
            transpose(&[0, 1, 2], &c).unwrap().values(),
            c.values()
        ));
        for bad in [&[0, 1][..], &[0, 1, 1], &[0, 1, 3], &[0, 1, 2, 3]] {
            assert!(transpose(bad, &c).is_err());
        }
    }

    #[test]
    fn assemble_concatenates_and_slices() {
        let a = Chunk::from_ndarray(array![[1.0, 2.0], [3.0, 4.0]].into_dyn());
        let b = Chunk::from_ndarray(array![[5.0], [6.0]].into_dyn());
        let out = assemble(
            &[2, 4],
            DType::F64,
            &[
                piece(0, &[0..2, 0..2], &[0, 0]),
                piece(1, &[0..2, 0..1], &[0, 2]),
            ],
            &[a.clone(), b],
        )
        .unwrap();
        assert_eq!(
            out.to_ndarray::<f64>().unwrap(),
            array![[1.0, 2.0, 5.0, 0.0], [3.0, 4.0, 6.0, 0.0]].into_dyn()
        );
        let sl = assemble(
            &[1, 2],
            DType::F64,
            &[piece(0, &[1..2, 0..2], &[0, 0])],
            std::slice::from_ref(&a),
        )
        .unwrap();
        assert_eq!(
            sl.to_ndarray::<f64>().unwrap(),
            a.to_ndarray::<f64>()
                .unwrap()
                .slice(s![1..2, ..])
                .into_dyn()
        );
        let same = assemble(
            &[2, 2],
            DType::F64,
            &[piece(0, &[0..2, 0..2], &[0, 0])],
            std::slice::from_ref(&a),
        )
        .unwrap();
        assert!(std::sync::Arc::ptr_eq(same.values(), a.values()));
        let bools = Chunk::from_ndarray(array![true, true].into_dyn());
        let out = assemble(&[3], DType::Bool, &[piece(0, &[0..2], &[1])], &[bools]).unwrap();
        assert_eq!(
            out.to_ndarray::<bool>().unwrap(),
            array![false, true, true].into_dyn()
        );
    }

    #[test]
    fn hostile_pieces_err() {
        let a = Chunk::from_ndarray(array![[1.0, 2.0], [3.0, 4.0]].into_dyn());
        let ins = std::slice::from_ref(&a);
        let cases = [
            piece(1, &[0..1, 0..1], &[0, 0]),
            piece(0, &[0..3, 0..1], &[0, 0]),
            #[allow(clippy::reversed_empty_ranges)]
            piece(0, &[2..1, 0..1], &[0, 0]),
            piece(0, &[0..1], &[0]),
            piece(0, &[0..2, 0..2], &[1, 0]),
            piece(0, &[0..1, 0..1], &[usize::MAX, 0]),
            piece(0, &[0..1, 0..1], &[0]),
        ];
        for p in cases {
            assert!(
                assemble(&[2, 2], DType::F64, std::slice::from_ref(&p), ins).is_err(),
                "{p:?}"
            );
        }
        assert!(
            assemble(
                &[2, 2],
                DType::F32,
                &[piece(0, &[0..1, 0..1], &[0, 0])],
                ins
            )
            .is_err()
        );
        assert!(assemble(&[usize::MAX, 2], DType::F64, &[], ins).is_err());
        assert_eq!(assemble(&[2, 0], DType::I32, &[], &[]).unwrap().len(), 0);
    }
}
