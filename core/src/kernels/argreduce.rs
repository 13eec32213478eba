//! `argmin`/`argmax` as tree reductions: per-chunk states hold the best value (as bits in
//! int64) and its global index, merged so that NaN wins and the first occurrence wins ties.

use super::dynarray::{DynElement, checked_len};
use crate::chunk::Chunk;
use crate::dtype::DType;
use crate::error::{Error, Result};
use ndarray::{ArrayD, ArrayViewD, Axis, IxDyn, Zip};

/// Element types whose values travel as int64 bits inside a state.
trait ArgElem: DynElement {
    fn enc(self) -> i64;
    fn dec(v: i64) -> Self;
}

macro_rules! arg_elem {
    ($t:ty, $enc:expr, $dec:expr) => {
        impl ArgElem for $t {
            #[inline(always)]
            fn enc(self) -> i64 {
                ($enc)(self)
            }
            #[inline(always)]
            fn dec(v: i64) -> Self {
                ($dec)(v)
            }
        }
    };
}
arg_elem!(bool, |x: bool| x as i64, |v: i64| v != 0);
arg_elem!(i32, |x: i32| x as i64, |v: i64| v as i32);
arg_elem!(i64, |x: i64| x, |v: i64| v);
arg_elem!(f32, |x: f32| x.to_bits() as i64, |v: i64| f32::from_bits(
    v as u32
));
arg_elem!(f64, |x: f64| x.to_bits() as i64, |v: i64| f64::from_bits(
    v as u64
));

/// Whether `(new, ni)` replaces `(cur, ci)` as the best: an empty side (index < 0) always
/// loses, the first NaN wins, then the strictly better value, then the smaller index.
#[inline(always)]
#[allow(clippy::eq_op)]
fn replaces<T: PartialOrd + Copy>(max: bool, cur: T, ci: i64, new: T, ni: i64) -> bool {
    if ni < 0 {
        return false;
    }
    if ci < 0 {
        return true;
    }
    let (cur_nan, new_nan) = (cur != cur, new != new);
    if cur_nan || new_nan {
        return new_nan && (!cur_nan || ni < ci);
    }
    if if max { new > cur } else { new < cur } {
        return true;
    }
    new == cur && ni < ci
}

/// Lay out `(value, index)` states as an int64 `[2] + shape` chunk.
fn write(states: &[(i64, i64)], shape: &[usize]) -> Result<Chunk> {
    let mut values: Vec<i64> = states.iter().map(|s| s.0).collect();
    values.extend(states.iter().map(|s| s.1));
    let mut full = vec![2];
    full.extend_from_slice(shape);
    let a =
        ArrayD::from_shape_vec(IxDyn(&full), values).map_err(|e| Error::shape(e.to_string()))?;
    Ok(Chunk::from_ndarray(a))
}

/// `ArgPartial`: the best element of each lane of `axis` (or of the whole chunk).
pub(crate) fn partial(
    max: bool,
    axis: Option<usize>,
    offset: &[usize],
    array_shape: &[usize],
    input: &Chunk,
) -> Result<Chunk> {
    let shape = input.shape();
    let nd = shape.len();
    if offset.len() != nd || array_shape.len() != nd {
        return Err(Error::shape(format!(
            "arg-partial: chunk of shape {shape:?} with offset {offset:?} in an array of shape {array_shape:?}"
        )));
    }
    for d in 0..nd {
        if offset[d]
            .checked_add(shape[d])
            .is_none_or(|end| end > array_shape[d])
        {
            return Err(Error::shape(format!(
                "arg-partial: chunk of shape {shape:?} at {offset:?} exceeds the array shape {array_shape:?}"
            )));
        }
    }
    let total = checked_len(array_shape)?;
    if i64::try_from(total).is_err() {
        return Err(Error::shape(
            "arg-partial: array too large for int64 indices",
        ));
    }
    if let Some(a) = axis
        && a >= nd
    {
        return Err(Error::shape(format!(
            "arg-partial: axis {a} is out of range for {nd} dimensions"
        )));
    }
    match input.dtype() {
        DType::Bool => partial_t::<bool>(max, axis, offset, array_shape, input),
        DType::I32 => partial_t::<i32>(max, axis, offset, array_shape, input),
        DType::I64 => partial_t::<i64>(max, axis, offset, array_shape, input),
        DType::F32 => partial_t::<f32>(max, axis, offset, array_shape, input),
        DType::F64 => partial_t::<f64>(max, axis, offset, array_shape, input),
    }
}

fn partial_t<T: ArgElem>(
    max: bool,
    axis: Option<usize>,
    offset: &[usize],
    array_shape: &[usize],
    input: &Chunk,
) -> Result<Chunk> {
    let x = T::read(input)?;
    let fold = |it: &mut dyn Iterator<Item = (i64, T)>| {
        let mut best = (T::default(), -1i64);
        for (i, v) in it {
            if replaces(max, best.0, best.1, v, i) {
                best = (v, i);
            }
        }
        (best.0.enc(), best.1)
    };
    match axis {
        Some(a) => {
            let base = offset[a] as i64;
            let states: ArrayD<(i64, i64)> = Zip::from(x.lanes(Axis(a))).map_collect(|lane| {
                fold(&mut lane.iter().enumerate().map(|(k, &v)| (base + k as i64, v)))
            });
            let mut out_shape = input.shape().to_vec();
            out_shape[a] = 1;
            let flat: Vec<(i64, i64)> = states.iter().copied().collect();
            write(&flat, &out_shape)
        }
        None => {
            let nd = array_shape.len();
            let mut strides = vec![1i64; nd];
            for d in (0..nd.saturating_sub(1)).rev() {
                strides[d] = strides[d + 1] * array_shape[d + 1] as i64;
            }
            let view: ArrayViewD<'_, T> = x.view();
            let best = fold(&mut view.indexed_iter().map(|(ix, &v)| {
                let flat = (0..nd)
                    .map(|d| (offset[d] + ix[d]) as i64 * strides[d])
                    .sum::<i64>();
                (flat, v)
            }));
            write(&[best], &vec![1; nd])
        }
    }
}

/// Validate an int64 state chunk; return the number of positions per component.
fn positions(c: &Chunk, what: &str) -> Result<usize> {
    if c.dtype() != DType::I64 || c.shape().first() != Some(&2) {
        return Err(Error::shape(format!(
            "{what}: an argmin/argmax state is int64 [2, ...], got {} {:?}",
            c.dtype(),
            c.shape()
        )));
    }
    Ok(c.len() / 2)
}

/// `ArgCombine`: merge states of values of `dtype`, position by position.
pub(crate) fn combine(max: bool, dtype: DType, inputs: &[Chunk]) -> Result<Chunk> {
    let first = inputs
        .first()
        .ok_or_else(|| Error::other("arg-combine needs at least one state"))?;
    let n = positions(first, "arg-combine")?;
    for (i, c) in inputs.iter().enumerate() {
        positions(c, "arg-combine")?;
        if c.shape() != first.shape() {
            return Err(Error::shape(format!(
                "arg-combine: state {i} has shape {:?} but state 0 has {:?}",
                c.shape(),
                first.shape()
            )));
        }
    }
    match dtype {
        DType::Bool => combine_t::<bool>(max, n, inputs),
        DType::I32 => combine_t::<i32>(max, n, inputs),
        DType::I64 => combine_t::<i64>(max, n, inputs),
        DType::F32 => combine_t::<f32>(max, n, inputs),
        DType::F64 => combine_t::<f64>(max, n, inputs),
    }
}

fn combine_t<T: ArgElem>(max: bool, n: usize, inputs: &[Chunk]) -> Result<Chunk> {
    let mut best: Vec<(i64, i64)> = vec![(0, -1); n];
    for c in inputs {
        let v = c.view::<i64>()?;
        let s = v
            .as_slice()
            .ok_or_else(|| Error::other("state chunk is not contiguous"))?;
        for (i, b) in best.iter_mut().enumerate() {
            let (nv, ni) = (s[i], s[n + i]);
            if replaces(max, T::dec(b.0), b.1, T::dec(nv), ni) {
                *b = (nv, ni);
            }
        }
    }
    write(&best, &inputs[0].shape()[1..])
}

/// `ArgFinalize`: the indices of a state, with the reduced axes (length 1) dropped.
pub(crate) fn finalize(axis: Option<usize>, input: &Chunk) -> Result<Chunk> {
    let n = positions(input, "arg-finalize")?;
    let inner = &input.shape()[1..];
    let out_shape: Vec<usize> = match axis {
        None => vec![],
        Some(a) if a < inner.len() => {
            let mut s = inner.to_vec();
            s.remove(a);
            s
        }
        Some(a) => {
            return Err(Error::shape(format!(
                "arg-finalize: axis {a} is out of range for a state of shape {:?}",
                input.shape()
            )));
        }
    };
    if out_shape.iter().product::<usize>() != n {
        return Err(Error::shape(format!(
            "arg-finalize: reduced axes of the state {:?} are not of length 1",
            input.shape()
        )));
    }
    let v = input.view::<i64>()?;
    let s = v
        .as_slice()
        .ok_or_else(|| Error::other("state chunk is not contiguous"))?;
    let idx = s[n..].to_vec();
    if idx.iter().any(|&i| i < 0) {
        return Err(Error::shape(
            "attempt to get argmin/argmax of an empty sequence",
        ));
    }
    let a =
        ArrayD::from_shape_vec(IxDyn(&out_shape), idx).map_err(|e| Error::shape(e.to_string()))?;
    Ok(Chunk::from_ndarray(a))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    fn whole(max: bool, axis: Option<usize>, a: &Chunk) -> Result<Vec<i64>> {
        let nd = a.shape().len();
        let p = partial(max, axis, &vec![0; nd], a.shape(), a)?;
        let out = finalize(axis, &p)?;
        Ok(out.to_ndarray::<i64>()?.iter().copied().collect())
    }

    #[test]
    fn first_occurrence_and_nan_win() {
        let a = Chunk::from_ndarray(array![[1.0, 3.0, 3.0], [f64::NAN, 0.0, f64::NAN]].into_dyn());
        assert_eq!(whole(true, None, &a).unwrap(), vec![3]);
        assert_eq!(whole(true, Some(1), &a).unwrap(), vec![1, 0]);
        assert_eq!(whole(false, Some(0), &a).unwrap(), vec![1, 1, 1]);
        let b = Chunk::from_ndarray(array![false, true, true].into_dyn());
        assert_eq!(whole(true, None, &b).unwrap(), vec![1]);
        assert_eq!(whole(false, None, &b).unwrap(), vec![0]);
    }

    #[test]
    fn states_merge_across_chunks_in_any_order() {
        // [5, 1, 7, 1, 7] split as [5, 1] + [7, 1, 7].
        let shape = [5usize];
        let l = Chunk::from_ndarray(array![5i32, 1].into_dyn());
        let r = Chunk::from_ndarray(array![7i32, 1, 7].into_dyn());
        let pl = partial(false, None, &[0], &shape, &l).unwrap();
        let pr = partial(false, None, &[2], &shape, &r).unwrap();
        for order in [[pl.clone(), pr.clone()], [pr.clone(), pl.clone()]] {
            let c = combine(false, DType::I32, &order).unwrap();
            assert_eq!(
                finalize(None, &c).unwrap().to_ndarray::<i64>().unwrap()[[]],
                1
            );
        }
        let pr = partial(true, Some(0), &[2], &shape, &r).unwrap();
        let pl = partial(true, Some(0), &[0], &shape, &l).unwrap();
        let c = combine(true, DType::I32, &[pr, pl]).unwrap();
        assert_eq!(
            finalize(Some(0), &c).unwrap().to_ndarray::<i64>().unwrap()[[]],
            2
        );
    }

    #[test]
    fn hostile_states_err() {
        let a = Chunk::from_ndarray(array![1.0, 2.0].into_dyn());
        assert!(partial(true, None, &[1], &[2], &a).is_err());
        assert!(partial(true, None, &[0, 0], &[2], &a).is_err());
        assert!(partial(true, Some(1), &[0], &[2], &a).is_err());
        assert!(finalize(None, &a).is_err());
        let e = Chunk::from_ndarray(ArrayD::<f64>::zeros(IxDyn(&[0])));
        assert!(
            whole(true, None, &e)
                .unwrap_err()
                .to_string()
                .contains("empty")
        );
        let p = partial(true, Some(0), &[0], &[2], &a).unwrap();
        let q = partial(
            true,
            None,
            &[0, 0],
            &[1, 2],
            &Chunk::from_ndarray(array![[1.0, 2.0]].into_dyn()),
        )
        .unwrap();
        assert!(combine(true, DType::F64, &[p.clone(), q]).is_err());
        assert!(combine(true, DType::F64, &[]).is_err());
        assert!(finalize(Some(3), &p).is_err());
    }
}
