//! Indexing kernels: `Slice` (a strided, possibly reversed selection of one chunk, laid out
//! in a new shape of the same size) and `Take` (gather positions along one axis of several chunks).

use super::dynarray::{DynElement, checked_len, try_full};
use crate::chunk::Chunk;
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::ops::Stride;
use ndarray::{ArrayD, Axis, IxDyn, Slice as NdSlice};

/// Check that `s` selects positions inside an axis of length `n`.
fn check_stride(ax: usize, s: &Stride, n: usize) -> Result<()> {
    let bad = || {
        Error::shape(format!(
            "slice: stride {s:?} on axis {ax} is outside the input's length {n}"
        ))
    };
    if s.step == 0 {
        return Err(Error::shape(format!("slice: step 0 on axis {ax}")));
    }
    if s.len == 0 {
        return Ok(());
    }
    let last = (s.start as i128)
        .checked_add((s.len as i128 - 1) * s.step as i128)
        .ok_or_else(bad)?;
    if s.start >= n || last < 0 || last >= n as i128 {
        return Err(bad());
    }
    Ok(())
}

/// The ndarray slice selecting exactly the positions of a valid `s`.
fn nd_slice(s: &Stride) -> NdSlice {
    if s.len == 0 {
        return NdSlice::new(0, Some(0), 1);
    }
    let last = s.at(s.len - 1);
    // ndarray walks a negative step from the end of `[lo, hi)`: make `hi - 1` the start.
    let (lo, hi) = if s.step > 0 {
        (s.start, last + 1)
    } else {
        (last, s.start + 1)
    };
    NdSlice::new(lo as isize, Some(hi as isize), s.step)
}

/// `Slice`: the selection `ranges` of `input`, in C order, as a chunk of `shape`.
pub(crate) fn slice(ranges: &[Stride], shape: &[usize], input: &Chunk) -> Result<Chunk> {
    let in_shape = input.shape();
    if ranges.len() != in_shape.len() {
        return Err(Error::shape(format!(
            "slice: {} strides for a chunk of shape {in_shape:?}",
            ranges.len()
        )));
    }
    for (ax, (s, &n)) in ranges.iter().zip(in_shape).enumerate() {
        check_stride(ax, s, n)?;
    }
    let selected: Vec<usize> = ranges.iter().map(|s| s.len).collect();
    let count = checked_len(&selected)?;
    if checked_len(shape)? != count {
        return Err(Error::shape(format!(
            "slice: a selection of shape {selected:?} cannot be laid out as shape {shape:?}"
        )));
    }
    // The whole chunk in order: the same buffer under a new shape.
    if ranges
        .iter()
        .zip(in_shape)
        .all(|(s, &n)| s.len == n && (s.step == 1 || n <= 1) && (n == 0 || s.start == 0))
    {
        return Chunk::new(shape.to_vec(), input.values().clone());
    }
    match input.dtype() {
        DType::Bool => strided::<bool>(ranges, &selected, shape, input),
        DType::I32 => strided::<i32>(ranges, &selected, shape, input),
        DType::I64 => strided::<i64>(ranges, &selected, shape, input),
        DType::F32 => strided::<f32>(ranges, &selected, shape, input),
        DType::F64 => strided::<f64>(ranges, &selected, shape, input),
    }
}

fn strided<T: DynElement>(
    ranges: &[Stride],
    selected: &[usize],
    shape: &[usize],
    input: &Chunk,
) -> Result<Chunk> {
    let a = T::read(input)?;
    let view = a.slice_each_axis(|d| nd_slice(&ranges[d.axis.index()]));
    let mut out: ArrayD<T> = try_full(selected, T::default())?;
    out.assign(&view);
    let out = out
        .into_shape_with_order(IxDyn(shape))
        .map_err(|e| Error::shape(format!("slice: {e}")))?;
    Ok(T::wrap(out).into_chunk())
}

/// `Take`: output position `k` along `axis` is position `picks[k].1` of input `picks[k].0`.
pub(crate) fn take(axis: usize, picks: &[(usize, usize)], inputs: &[Chunk]) -> Result<Chunk> {
    let first = inputs
        .first()
        .ok_or_else(|| Error::other("take needs at least one input chunk"))?;
    let ndim = first.shape().len();
    if axis >= ndim {
        return Err(Error::shape(format!(
            "take: axis {axis} is out of range for a chunk of shape {:?}",
            first.shape()
        )));
    }
    for (i, c) in inputs.iter().enumerate() {
        if c.dtype() != first.dtype() {
            return Err(Error::dtype(format!(
                "take: input {i} is {}, input 0 is {}",
                c.dtype(),
                first.dtype()
            )));
        }
        let same_rest = c.shape().len() == ndim
            && (0..ndim).all(|a| a == axis || c.shape()[a] == first.shape()[a]);
        if !same_rest {
            return Err(Error::shape(format!(
                "take: input {i} of shape {:?} does not match input 0 of shape {:?} off axis {axis}",
                c.shape(),
                first.shape()
            )));
        }
    }
    for (k, &(i, j)) in picks.iter().enumerate() {
        let n = inputs.get(i).map(|c| c.shape()[axis]);
        if n.is_none_or(|n| j >= n) {
            return Err(Error::shape(format!(
                "take: pick {k} reads position {j} of input {i}, which is not there ({} inputs)",
                inputs.len()
            )));
        }
    }
    let mut shape = first.shape().to_vec();
    shape[axis] = picks.len();
    checked_len(&shape)?;
    match first.dtype() {
        DType::Bool => gather::<bool>(axis, picks, &shape, inputs),
        DType::I32 => gather::<i32>(axis, picks, &shape, inputs),
        DType::I64 => gather::<i64>(axis, picks, &shape, inputs),
        DType::F32 => gather::<f32>(axis, picks, &shape, inputs),
        DType::F64 => gather::<f64>(axis, picks, &shape, inputs),
    }
}

fn gather<T: DynElement>(
    axis: usize,
    picks: &[(usize, usize)],
    shape: &[usize],
    inputs: &[Chunk],
) -> Result<Chunk> {
    let read = inputs.iter().map(T::read).collect::<Result<Vec<_>>>()?;
    let mut out: ArrayD<T> = try_full(shape, T::default())?;
    for (k, &(i, j)) in picks.iter().enumerate() {
        out.index_axis_mut(Axis(axis), k)
            .assign(&read[i].index_axis(Axis(axis), j));
    }
    Ok(T::wrap(out).into_chunk())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::testutil::{Rng, Values, array, assert_same, from_chunk, to_chunk};
    use ndarray::Dimension;
    use proptest::prelude::*;

    /// A random valid stride over an axis of length `n`.
    fn random_stride(rng: &mut Rng, n: usize) -> Stride {
        let step = (1 + rng.below(4) as isize) * if rng.chance(0.5) { 1 } else { -1 };
        if n == 0 || rng.chance(0.1) {
            return Stride {
                start: 0,
                len: 0,
                step,
            };
        }
        let start = rng.below(n);
        let room = if step > 0 { n - 1 - start } else { start };
        let len = 1 + rng.below(room / step.unsigned_abs() + 1);
        Stride { start, len, step }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 300, failure_persistence: None, ..ProptestConfig::default() })]

        /// `Slice` gives the positions it names, per element, for every dtype and shape.
        #[test]
        fn slice_matches_per_element_reference(seed in any::<u64>()) {
            let mut rng = Rng(seed);
            let dtype = rng.dtype();
            let shape = rng.shape(4, 6);
            let a = array(&mut rng, dtype, &shape, Values::Wild);
            let ranges: Vec<Stride> = shape.iter().map(|&n| random_stride(&mut rng, n)).collect();
            let selected: Vec<usize> = ranges.iter().map(|s| s.len).collect();
            let want = ArrayD::from_shape_fn(IxDyn(&selected), |ix| {
                let src: Vec<usize> = (0..ix.ndim()).map(|d| ranges[d].at(ix[d])).collect();
                a[IxDyn(&src)]
            });
            // Lay the result out with a size-1 axis inserted in front.
            let mut out_shape = vec![1];
            out_shape.extend(&selected);
            let got = slice(&ranges, &out_shape, &to_chunk(&a, dtype)).unwrap();
            assert_eq!(got.dtype(), dtype);
            let got = from_chunk(&got).into_shape_with_order(IxDyn(&selected)).unwrap();
            assert_same(&got, &want, "slice");
        }

        /// `Take` gathers the named positions, in order and with repeats.
        #[test]
        fn take_matches_per_element_reference(seed in any::<u64>()) {
            let mut rng = Rng(seed);
            let dtype = rng.dtype();
            let mut shape = rng.shape(3, 5);
            if shape.is_empty() {
                shape.push(3);
            }
            let axis = rng.below(shape.len());
            let parts: Vec<ArrayD<_>> = (0..1 + rng.below(3))
                .map(|_| {
                    let mut s = shape.clone();
                    s[axis] = 1 + rng.below(4);
                    array(&mut rng, dtype, &s, Values::Wild)
                })
                .collect();
            let picks: Vec<(usize, usize)> = (0..rng.below(7))
                .map(|_| {
                    let i = rng.below(parts.len());
                    (i, rng.below(parts[i].shape()[axis]))
                })
                .collect();
            let chunks: Vec<Chunk> = parts.iter().map(|p| to_chunk(p, dtype)).collect();
            let got = from_chunk(&take(axis, &picks, &chunks).unwrap());
            let mut want_shape = shape.clone();
            want_shape[axis] = picks.len();
            let want = ArrayD::from_shape_fn(IxDyn(&want_shape), |ix| {
                let mut src: Vec<usize> = (0..ix.ndim()).map(|d| ix[d]).collect();
                let (i, j) = picks[src[axis]];
                src[axis] = j;
                parts[i][IxDyn(&src)]
            });
            assert_same(&got, &want, "take");
        }
    }

    #[test]
    fn whole_chunk_reshapes_share_the_buffer() {
        let c = Chunk::from_ndarray(ArrayD::from_shape_fn(IxDyn(&[2, 3]), |ix| {
            (ix[0] * 3 + ix[1]) as i64
        }));
        let r = slice(&[Stride::full(2), Stride::full(3)], &[3, 1, 2], &c).unwrap();
        assert_eq!(r.shape(), &[3, 1, 2]);
        assert!(std::sync::Arc::ptr_eq(r.values(), c.values()));
        let rev = slice(
            &[
                Stride::full(2),
                Stride {
                    start: 2,
                    len: 3,
                    step: -1,
                },
            ],
            &[2, 3],
            &c,
        )
        .unwrap();
        assert_eq!(
            rev.to_ndarray::<i64>().unwrap(),
            ndarray::array![[2i64, 1, 0], [5, 4, 3]].into_dyn()
        );
        // 0-d in, 0-d out; empty selections of every dtype.
        let z = Chunk::from_ndarray(ndarray::arr0(7.5f64).into_dyn());
        assert_eq!(
            slice(&[], &[], &z).unwrap().to_ndarray::<f64>().unwrap()[[]],
            7.5
        );
        let b = Chunk::from_ndarray(ndarray::array![true, false, true].into_dyn());
        let e = slice(
            &[Stride {
                start: 0,
                len: 0,
                step: 1,
            }],
            &[0, 4],
            &b,
        )
        .unwrap();
        assert_eq!((e.shape(), e.dtype()), (&[0usize, 4][..], DType::Bool));
    }

    #[test]
    fn hostile_strides_and_picks_err() {
        let c = Chunk::from_ndarray(ndarray::array![[1.0, 2.0], [3.0, 4.0]].into_dyn());
        let s = |start, len, step| Stride { start, len, step };
        let bad = [
            vec![s(0, 2, 1)],
            vec![s(0, 3, 1), Stride::full(2)],
            vec![s(2, 1, 1), Stride::full(2)],
            vec![s(1, 2, 1), Stride::full(2)],
            vec![s(0, 2, -1), Stride::full(2)],
            vec![s(0, 1, 0), Stride::full(2)],
            vec![s(1, usize::MAX, isize::MAX), Stride::full(2)],
            vec![s(usize::MAX, 1, 1), Stride::full(2)],
        ];
        for r in bad {
            assert!(slice(&r, &[2, 2], &c).is_err(), "{r:?}");
        }
        // The output shape must hold exactly the selection.
        assert!(slice(&[Stride::full(2), Stride::full(2)], &[3], &c).is_err());
        assert!(slice(&[Stride::full(2), Stride::full(2)], &[usize::MAX, 2], &c).is_err());
        let other = Chunk::from_ndarray(ndarray::array![[1.0f32], [2.0]].into_dyn());
        let wide = Chunk::from_ndarray(ndarray::array![[1.0], [2.0], [3.0]].into_dyn());
        assert!(take(0, &[(0, 2)], std::slice::from_ref(&c)).is_err());
        assert!(take(0, &[(1, 0)], std::slice::from_ref(&c)).is_err());
        assert!(take(2, &[(0, 0)], std::slice::from_ref(&c)).is_err());
        assert!(take(0, &[], &[]).is_err());
        assert!(take(1, &[(1, 0)], &[c.clone(), other]).is_err());
        assert!(take(1, &[(1, 0)], &[c.clone(), wide.clone()]).is_err());
        let ok = take(0, &[(1, 2), (0, 0)], &[c.clone(), c.clone()]);
        assert!(ok.is_err());
        let rows = slice(
            &[
                Stride {
                    start: 0,
                    len: 2,
                    step: 1,
                },
                Stride::full(1),
            ],
            &[2, 1],
            &wide,
        );
        let t = take(1, &[(1, 0), (0, 1), (0, 1)], &[c, rows.unwrap()]).unwrap();
        assert_eq!(
            t.to_ndarray::<f64>().unwrap(),
            ndarray::array![[1.0, 2.0, 2.0], [2.0, 4.0, 4.0]].into_dyn()
        );
    }
}
