//! Order-based kernels: `bincount` of non-negative integers and `topk` along an axis (the
//! per-chunk selection and the merge of selections are the same kernel).

use super::dynarray::{DynElement, MAX_CHUNK_ELEMENTS, bool_ndarray};
use crate::chunk::Chunk;
use crate::dtype::DType;
use crate::error::{Error, Result};
use ndarray::{ArrayD, Axis, IxDyn};
use std::cmp::Ordering;

/// `Op::Bincount`: occurrences of each of `0..length` (int64).
pub(crate) fn bincount(length: usize, input: &Chunk) -> Result<Chunk> {
    if length > MAX_CHUNK_ELEMENTS {
        return Err(Error::shape(format!("bincount: {length} bins is too many")));
    }
    let values: Vec<i64> = match input.dtype() {
        DType::Bool => bool_ndarray(input)?.iter().map(|&b| b as i64).collect(),
        DType::I32 => input.view::<i32>()?.iter().map(|&v| v as i64).collect(),
        DType::I64 => input.view::<i64>()?.iter().copied().collect(),
        d => {
            return Err(Error::dtype(format!(
                "bincount needs non-negative ints, got {d}"
            )));
        }
    };
    let mut counts = super::dynarray::try_filled(length, 0i64)?;
    for v in values {
        let slot = usize::try_from(v)
            .ok()
            .and_then(|i| counts.get_mut(i))
            .ok_or_else(|| {
                Error::shape(format!(
                    "bincount: value {v} is outside 0..{length} (negative, or not below the given length)"
                ))
            })?;
        *slot += 1;
    }
    Ok(Chunk::from_ndarray(
        ArrayD::from_shape_vec(IxDyn(&[length]), counts)
            .map_err(|e| Error::shape(e.to_string()))?,
    ))
}

/// Total order with NaN largest (NumPy's sort order).
#[allow(clippy::eq_op)]
fn order<T: PartialOrd>(a: &T, b: &T) -> Ordering {
    match a.partial_cmp(b) {
        Some(o) => o,
        None => (a != a).cmp(&(b != b)),
    }
}

/// `Op::TopK`: concatenate the inputs along `axis`, keep the `|k|` best of each lane.
pub(crate) fn topk(k: i64, axis: usize, inputs: &[Chunk]) -> Result<Chunk> {
    let first = inputs
        .first()
        .ok_or_else(|| Error::other("topk needs at least one input chunk"))?;
    if k == 0 {
        return Err(Error::other("topk: k must not be 0"));
    }
    let nd = first.shape().len();
    if axis >= nd {
        return Err(Error::shape(format!(
            "topk: axis {axis} is out of range for a chunk of shape {:?}",
            first.shape()
        )));
    }
    for (i, c) in inputs.iter().enumerate() {
        let same_other =
            c.shape().len() == nd && (0..nd).all(|d| d == axis || c.shape()[d] == first.shape()[d]);
        if c.dtype() != first.dtype() || !same_other {
            return Err(Error::shape(format!(
                "topk: input {i} is {} {:?}, input 0 is {} {:?}",
                c.dtype(),
                c.shape(),
                first.dtype(),
                first.shape()
            )));
        }
    }
    match first.dtype() {
        DType::Bool => topk_t::<bool>(k, axis, inputs),
        DType::I32 => topk_t::<i32>(k, axis, inputs),
        DType::I64 => topk_t::<i64>(k, axis, inputs),
        DType::F32 => topk_t::<f32>(k, axis, inputs),
        DType::F64 => topk_t::<f64>(k, axis, inputs),
    }
}

fn topk_t<T: DynElement>(k: i64, axis: usize, inputs: &[Chunk]) -> Result<Chunk> {
    let arrays: Vec<_> = inputs.iter().map(T::read).collect::<Result<_>>()?;
    let views: Vec<_> = arrays.iter().map(|a| a.view()).collect();
    let all = ndarray::concatenate(Axis(axis), &views).map_err(|e| Error::shape(e.to_string()))?;
    let len = all.shape()[axis];
    let keep = (k.unsigned_abs() as usize).min(len);
    let mut out_shape = all.shape().to_vec();
    out_shape[axis] = keep;
    let mut out = super::dynarray::try_full(&out_shape, T::default())?;
    for (lane, mut dst) in all
        .lanes(Axis(axis))
        .into_iter()
        .zip(out.lanes_mut(Axis(axis)))
    {
        let mut v: Vec<T> = lane.iter().copied().collect();
        if k > 0 {
            v.sort_by(|a, b| order(b, a));
        } else {
            v.sort_by(order);
        }
        for (d, s) in dst.iter_mut().zip(v) {
            *d = s;
        }
    }
    Ok(T::wrap(out).into_chunk())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn bincount_counts_and_refuses_out_of_range() {
        let a = Chunk::from_ndarray(array![[0i32, 2, 2], [3, 0, 2]].into_dyn());
        let c = bincount(5, &a).unwrap();
        assert_eq!(
            c.to_ndarray::<i64>().unwrap(),
            array![2i64, 0, 3, 1, 0].into_dyn()
        );
        assert!(bincount(3, &a).unwrap_err().to_string().contains("value 3"));
        let n = Chunk::from_ndarray(array![-1i64].into_dyn());
        assert!(bincount(3, &n).unwrap_err().to_string().contains("-1"));
        let f = Chunk::from_ndarray(array![1.0].into_dyn());
        assert!(bincount(3, &f).is_err());
        let b = Chunk::from_ndarray(array![true, true, false].into_dyn());
        assert_eq!(
            bincount(2, &b).unwrap().to_ndarray::<i64>().unwrap(),
            array![1i64, 2].into_dyn()
        );
    }

    #[test]
    fn topk_merges_selections_and_orders_nan_largest() {
        let a = Chunk::from_ndarray(array![[3.0, f64::NAN], [1.0, 5.0]].into_dyn());
        let b = Chunk::from_ndarray(array![[4.0], [0.0]].into_dyn());
        let top = topk(2, 1, &[a.clone(), b.clone()])
            .unwrap()
            .to_ndarray::<f64>()
            .unwrap();
        assert!(top[[0, 0]].is_nan());
        assert_eq!(top[[0, 1]], 4.0);
        assert_eq!(
            top.index_axis(Axis(0), 1)
                .iter()
                .copied()
                .collect::<Vec<_>>(),
            vec![5.0, 1.0]
        );
        let low = topk(-3, 1, &[a.clone(), b.clone()])
            .unwrap()
            .to_ndarray::<f64>()
            .unwrap();
        assert_eq!(
            low.index_axis(Axis(0), 1)
                .iter()
                .copied()
                .collect::<Vec<_>>(),
            vec![0.0, 1.0, 5.0]
        );
        assert!(low[[0, 2]].is_nan());
        // Fewer elements than k: all of them.
        assert_eq!(
            topk(9, 0, std::slice::from_ref(&b)).unwrap().shape(),
            &[2, 1]
        );
        assert!(topk(0, 0, std::slice::from_ref(&b)).is_err());
        assert!(topk(1, 2, std::slice::from_ref(&b)).is_err());
        let c = Chunk::from_ndarray(array![[1.0, 2.0, 3.0]].into_dyn());
        assert!(topk(1, 1, &[a, c]).is_err());
        assert!(topk(1, 0, &[]).is_err());
    }
}
