//! Tree reductions: `ReducePartial` folds a chunk into a partial state, `ReduceCombine`
//! merges states, `ReduceFinalize` turns a state into the result (layout: `Reduction` docs).

use super::accumulate::{Acc, MeanAcc, MinMax, ProdF, ProdI, SumF, SumI, VarAcc, reduce};
use super::dynarray::{DynElement, bool_ndarray};
use crate::chunk::Chunk;
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::ops::Reduction;
use ndarray::{ArrayD, ArrayViewD, IxDyn};

/// One flag per axis of an `ndim`-d array, set for the axes in `axes`; errs on an axis out
/// of range or named twice.
pub(super) fn axis_mask(axes: &[usize], ndim: usize, what: &str) -> Result<Vec<bool>> {
    let mut mask = vec![false; ndim];
    for &a in axes {
        let slot = mask.get_mut(a).ok_or_else(|| {
            Error::shape(format!(
                "{what}: axis {a} is out of range for {ndim} dimensions"
            ))
        })?;
        if *slot {
            return Err(Error::shape(format!("{what}: axis {a} is reduced twice")));
        }
        *slot = true;
    }
    Ok(mask)
}

/// `ReducePartial`: fold `axes` of `input` into a state of shape `[K] + input shape` with
/// the reduced axes kept as length 1.
pub(crate) fn partial(red: Reduction, axes: &[usize], input: &Chunk) -> Result<Chunk> {
    let mask = axis_mask(axes, input.shape().len(), "reduce-partial")?;
    if super::nanreduce::handles(red) {
        return super::nanreduce::partial(red, axes, input);
    }
    match input.dtype() {
        DType::Bool => partial_int(red, bool_ndarray(input)?.view(), &mask),
        DType::I32 => partial_int(red, input.view::<i32>()?, &mask),
        DType::I64 => partial_int(red, input.view::<i64>()?, &mask),
        DType::F32 => partial_float(red, input.view::<f32>()?, &mask),
        DType::F64 => partial_float(red, input.view::<f64>()?, &mask),
    }
}

fn partial_int<T: DynElement>(
    red: Reduction,
    x: ArrayViewD<'_, T>,
    mask: &[bool],
) -> Result<Chunk> {
    match red {
        Reduction::Sum => partial_with::<SumI<T>>(x, mask),
        Reduction::Prod => partial_with::<ProdI<T>>(x, mask),
        _ => partial_common(red, x, mask),
    }
}

fn partial_float<T: DynElement>(
    red: Reduction,
    x: ArrayViewD<'_, T>,
    mask: &[bool],
) -> Result<Chunk> {
    match red {
        Reduction::Sum => partial_with::<SumF<T>>(x, mask),
        Reduction::Prod => partial_with::<ProdF<T>>(x, mask),
        _ => partial_common(red, x, mask),
    }
}

fn partial_common<T: DynElement>(
    red: Reduction,
    x: ArrayViewD<'_, T>,
    mask: &[bool],
) -> Result<Chunk> {
    match red {
        Reduction::Min => partial_with::<MinMax<T, false>>(x, mask),
        Reduction::Max => partial_with::<MinMax<T, true>>(x, mask),
        Reduction::Mean => partial_with::<MeanAcc<T>>(x, mask),
        Reduction::Var { .. } | Reduction::Std { .. } => partial_with::<VarAcc<T>>(x, mask),
        _ => Err(Error::other(
            "sum, prod and the NaN-aware reductions are dispatched elsewhere",
        )),
    }
}

pub(super) fn partial_with<A: Acc>(x: ArrayViewD<'_, A::In>, mask: &[bool]) -> Result<Chunk> {
    let keep: Vec<usize> = x
        .shape()
        .iter()
        .zip(mask)
        .map(|(&d, &r)| if r { 1 } else { d })
        .collect();
    let states = reduce::<A>(x, mask);
    write_states(states.iter(), states.len(), &keep)
}

/// Lay `n` states out as a `[K] + shape` chunk, component-major.
fn write_states<'s, A: Acc + 's>(
    states: impl Iterator<Item = &'s A> + Clone,
    n: usize,
    shape: &[usize],
) -> Result<Chunk> {
    let mut values = Vec::with_capacity(A::K * n);
    for j in 0..A::K {
        values.extend(states.clone().map(|s| s.component(j)));
    }
    let mut full = Vec::with_capacity(shape.len() + 1);
    full.push(A::K);
    full.extend_from_slice(shape);
    let a =
        ArrayD::from_shape_vec(IxDyn(&full), values).map_err(|e| Error::shape(e.to_string()))?;
    Ok(A::Out::wrap(a).into_chunk())
}

/// Check that `c` is a state of `red`: at least one axis, whose length is the state's
/// component count. Returns the number of positions per component.
fn state_positions(red: Reduction, c: &Chunk, what: &str) -> Result<usize> {
    match c.shape().first() {
        Some(&k) if k == red.state_len() => Ok(c.len() / k),
        _ => Err(Error::shape(format!(
            "{what}: a {} state has shape [{}, ...], got {:?}",
            red.name(),
            red.state_len(),
            c.shape()
        ))),
    }
}

/// Read the states held in `c` (already validated by [`state_positions`]).
fn read_states<A: Acc>(c: &Chunk, n: usize) -> Result<Vec<A>> {
    let values = A::Out::read(c)?;
    let s = values
        .as_slice()
        .ok_or_else(|| Error::other("state chunk is not contiguous"))?;
    Ok((0..n)
        .map(|i| A::from_components(|j| s[j * n + i]))
        .collect())
}

/// `ReduceCombine`: merge states of equal shape and dtype elementwise.
pub(crate) fn combine(red: Reduction, inputs: &[Chunk]) -> Result<Chunk> {
    let first = inputs
        .first()
        .ok_or_else(|| Error::other("reduce-combine needs at least one partial state"))?;
    state_positions(red, first, "reduce-combine")?;
    for (i, c) in inputs.iter().enumerate().skip(1) {
        if c.shape() != first.shape() || c.dtype() != first.dtype() {
            return Err(Error::shape(format!(
                "reduce-combine: state {i} is {} {:?} but state 0 is {} {:?}",
                c.dtype(),
                c.shape(),
                first.dtype(),
                first.shape()
            )));
        }
    }
    if inputs.len() == 1 {
        return Ok(first.clone());
    }
    if super::nanreduce::handles(red) {
        return super::nanreduce::combine(red, inputs);
    }
    use DType::*;
    use Reduction::*;
    match (red, first.dtype()) {
        (Sum, I64) => combine_with::<SumI<i64>>(inputs),
        (Sum, F32) => combine_with::<SumF<f32>>(inputs),
        (Sum, F64) => combine_with::<SumF<f64>>(inputs),
        (Prod, I64) => combine_with::<ProdI<i64>>(inputs),
        (Prod, F32) => combine_with::<ProdF<f32>>(inputs),
        (Prod, F64) => combine_with::<ProdF<f64>>(inputs),
        (Min, d) => combine_minmax::<false>(d, inputs),
        (Max, d) => combine_minmax::<true>(d, inputs),
        (Mean, F64) => combine_with::<MeanAcc<f64>>(inputs),
        (Var { .. } | Std { .. }, F64) => combine_with::<VarAcc<f64>>(inputs),
        (_, d) => Err(wrong_state_dtype(red, d)),
    }
}

pub(super) fn wrong_state_dtype(red: Reduction, d: DType) -> Error {
    Error::dtype(format!(
        "a {} partial state cannot be of dtype {d}",
        red.name()
    ))
}

fn combine_minmax<const MAX: bool>(d: DType, inputs: &[Chunk]) -> Result<Chunk> {
    match d {
        DType::Bool => combine_with::<MinMax<bool, MAX>>(inputs),
        DType::I32 => combine_with::<MinMax<i32, MAX>>(inputs),
        DType::I64 => combine_with::<MinMax<i64, MAX>>(inputs),
        DType::F32 => combine_with::<MinMax<f32, MAX>>(inputs),
        DType::F64 => combine_with::<MinMax<f64, MAX>>(inputs),
    }
}

pub(super) fn combine_with<A: Acc>(inputs: &[Chunk]) -> Result<Chunk> {
    let n = inputs[0].len() / A::K;
    let mut total = read_states::<A>(&inputs[0], n)?;
    for c in &inputs[1..] {
        let values = A::Out::read(c)?;
        let s = values
            .as_slice()
            .ok_or_else(|| Error::other("state chunk is not contiguous"))?;
        for (i, t) in total.iter_mut().enumerate() {
            t.merge(&A::from_components(|j| s[j * n + i]));
        }
    }
    write_states(total.iter(), n, &inputs[0].shape()[1..])
}

/// `ReduceFinalize`: turn one state into the result, dropping the reduced `axes` (which
/// must have length 1 in the state) and casting to `dtype`.
///
/// Mean of nothing is NaN (0/0). Var/Std with `count <= ddof` is NaN (NumPy warns and
/// gives NaN or inf there; NaN is the one answer that never looks like data). Min/Max
/// of an empty selection errs like NumPy.
pub(crate) fn finalize(
    red: Reduction,
    axes: &[usize],
    dtype: DType,
    input: &Chunk,
) -> Result<Chunk> {
    let n = state_positions(red, input, "reduce-finalize")?;
    let inner = &input.shape()[1..];
    let mask = axis_mask(axes, inner.len(), "reduce-finalize")?;
    if let Some(a) = (0..inner.len()).find(|&a| mask[a] && inner[a] != 1) {
        return Err(Error::shape(format!(
            "reduce-finalize: reduced axis {a} has length {} in the state, not 1",
            inner[a]
        )));
    }
    let out_shape: Vec<usize> = inner
        .iter()
        .zip(&mask)
        .filter(|(_, r)| !**r)
        .map(|(&d, _)| d)
        .collect();
    if super::nanreduce::handles(red) {
        return super::nanreduce::finalize(red, axes, dtype, input, n, &out_shape);
    }
    use DType::*;
    use Reduction::*;
    let out = match (red, input.dtype()) {
        (Sum, I64) => finish::<SumI<i64>, i64>(input, n, &out_shape, |s| Ok(s.component(0)))?,
        (Sum, F32) => finish::<SumF<f32>, f32>(input, n, &out_shape, |s| Ok(s.component(0)))?,
        (Sum, F64) => finish::<SumF<f64>, f64>(input, n, &out_shape, |s| Ok(s.component(0)))?,
        (Prod, I64) => finish::<ProdI<i64>, i64>(input, n, &out_shape, |s| Ok(s.component(0)))?,
        (Prod, F32) => finish::<ProdF<f32>, f32>(input, n, &out_shape, |s| Ok(s.component(0)))?,
        (Prod, F64) => finish::<ProdF<f64>, f64>(input, n, &out_shape, |s| Ok(s.component(0)))?,
        (Min, d) => finish_minmax::<false>(d, input, n, &out_shape)?,
        (Max, d) => finish_minmax::<true>(d, input, n, &out_shape)?,
        (Mean, F64) => finish::<MeanAcc<f64>, f64>(input, n, &out_shape, |s| Ok(s.sum / s.n))?,
        (Var { ddof }, F64) => {
            finish::<VarAcc<f64>, f64>(input, n, &out_shape, |s| Ok(var(s, ddof)))?
        }
        (Std { ddof }, F64) => {
            finish::<VarAcc<f64>, f64>(input, n, &out_shape, |s| Ok(var(s, ddof).sqrt()))?
        }
        (_, d) => return Err(wrong_state_dtype(red, d)),
    };
    Ok(out.cast(dtype).into_chunk())
}

fn var(s: &VarAcc<f64>, ddof: u32) -> f64 {
    let dof = s.n - ddof as f64;
    if dof > 0.0 { s.m2 / dof } else { f64::NAN }
}

fn finish_minmax<const MAX: bool>(
    d: DType,
    c: &Chunk,
    n: usize,
    shape: &[usize],
) -> Result<super::dynarray::DynArray> {
    fn value<T: Copy, const MAX: bool>(s: &MinMax<T, MAX>) -> Result<T> {
        if s.n == 0 {
            let name = if MAX { "max" } else { "min" };
            return Err(Error::shape(format!(
                "zero-size array to reduction operation {name} which has no identity"
            )));
        }
        Ok(s.v)
    }
    match d {
        DType::Bool => finish::<MinMax<bool, MAX>, bool>(c, n, shape, value),
        DType::I32 => finish::<MinMax<i32, MAX>, i32>(c, n, shape, value),
        DType::I64 => finish::<MinMax<i64, MAX>, i64>(c, n, shape, value),
        DType::F32 => finish::<MinMax<f32, MAX>, f32>(c, n, shape, value),
        DType::F64 => finish::<MinMax<f64, MAX>, f64>(c, n, shape, value),
    }
}

pub(super) fn finish<A: Acc, R: DynElement>(
    c: &Chunk,
    n: usize,
    shape: &[usize],
    f: impl Fn(&A) -> Result<R>,
) -> Result<super::dynarray::DynArray> {
    let states = read_states::<A>(c, n)?;
    let values = states.iter().map(f).collect::<Result<Vec<R>>>()?;
    let a =
        ArrayD::from_shape_vec(IxDyn(shape), values).map_err(|e| Error::shape(e.to_string()))?;
    Ok(R::wrap(a))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Axis, array};

    fn run(red: Reduction, a: &Chunk, axes: &[usize], dtype: DType) -> Result<Chunk> {
        let p = partial(red, axes, a)?;
        finalize(red, axes, dtype, &p)
    }

    #[test]
    fn state_layout_matches_the_docs() {
        let a = Chunk::from_ndarray(array![[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]].into_dyn());
        let p = partial(Reduction::Var { ddof: 0 }, &[1], &a).unwrap();
        assert_eq!(p.shape(), &[3, 2, 1]);
        assert_eq!(p.dtype(), DType::F64);
        let v = p.to_ndarray::<f64>().unwrap();
        assert_eq!(
            v.index_axis(Axis(0), 0).iter().copied().collect::<Vec<_>>(),
            vec![3.0, 3.0]
        );
        assert_eq!(
            v.index_axis(Axis(0), 1).iter().copied().collect::<Vec<_>>(),
            vec![2.0, 5.0]
        );
        assert_eq!(
            v.index_axis(Axis(0), 2).iter().copied().collect::<Vec<_>>(),
            vec![2.0, 2.0]
        );
        let s = partial(Reduction::Sum, &[0, 1], &a).unwrap();
        assert_eq!(s.shape(), &[1, 1, 1]);
        let b = Chunk::from_ndarray(array![true, false, true].into_dyn());
        let m = partial(Reduction::Max, &[0], &b).unwrap();
        assert_eq!(m.dtype(), DType::Bool);
        assert_eq!(
            m.to_ndarray::<bool>().unwrap(),
            array![[true], [true]].into_dyn()
        );
        let s = run(Reduction::Sum, &b, &[0], DType::I64).unwrap();
        assert_eq!(s.to_ndarray::<i64>().unwrap(), ndarray::arr0(2).into_dyn());
    }

    #[test]
    fn empty_and_degenerate_results() {
        let e = Chunk::from_ndarray(ArrayD::<f64>::zeros(IxDyn(&[0, 3])));
        let m = run(Reduction::Mean, &e, &[0], DType::F64).unwrap();
        assert!(m.to_ndarray::<f64>().unwrap().iter().all(|x| x.is_nan()));
        let err = run(Reduction::Min, &e, &[0], DType::F64).unwrap_err();
        assert!(
            err.to_string()
                .contains("zero-size array to reduction operation min")
        );
        let s = run(Reduction::Sum, &e, &[0], DType::F64).unwrap();
        assert_eq!(
            s.to_ndarray::<f64>().unwrap(),
            ArrayD::<f64>::zeros(IxDyn(&[3]))
        );
        let p = run(Reduction::Prod, &e, &[0, 1], DType::F64).unwrap();
        assert_eq!(
            p.to_ndarray::<f64>().unwrap(),
            ndarray::arr0(1.0).into_dyn()
        );
        let one = Chunk::from_ndarray(array![5.0].into_dyn());
        let v = run(Reduction::Var { ddof: 1 }, &one, &[0], DType::F64).unwrap();
        assert!(v.to_ndarray::<f64>().unwrap()[[]].is_nan());
        let scalar = Chunk::from_ndarray(ndarray::arr0(4i32).into_dyn());
        let s = run(Reduction::Max, &scalar, &[], DType::I32).unwrap();
        assert_eq!(s.to_ndarray::<i32>().unwrap(), ndarray::arr0(4).into_dyn());
    }

    #[test]
    fn hostile_reductions_err() {
        let a = Chunk::from_ndarray(array![[1.0, 2.0], [3.0, 4.0]].into_dyn());
        assert!(partial(Reduction::Sum, &[2], &a).is_err());
        assert!(partial(Reduction::Sum, &[0, 0], &a).is_err());
        assert!(finalize(Reduction::Sum, &[0], DType::F64, &a).is_err());
        let p = partial(Reduction::Mean, &[0], &a).unwrap();
        assert!(finalize(Reduction::Mean, &[1], DType::F64, &p).is_err());
        assert!(finalize(Reduction::Mean, &[5], DType::F64, &p).is_err());
        assert!(finalize(Reduction::Var { ddof: 0 }, &[0], DType::F64, &p).is_err());
        assert!(combine(Reduction::Mean, &[]).is_err());
        let q = partial(Reduction::Mean, &[1], &a).unwrap();
        assert!(combine(Reduction::Mean, &[p.clone(), q]).is_err());
        let i = Chunk::from_ndarray(array![[1i32, 2]].into_dyn());
        let pi = partial(Reduction::Sum, &[1], &i).unwrap();
        assert!(combine(Reduction::Mean, &[pi.clone(), pi.clone()]).is_err());
        assert!(finalize(Reduction::Mean, &[1], DType::F64, &pi).is_err());
        let pm = partial(Reduction::Min, &[1], &i).unwrap();
        assert!(combine(Reduction::Min, &[pm.clone(), pi]).is_err());
        let nan_count = Chunk::from_ndarray(array![[f64::NAN], [1.0]].into_dyn());
        assert!(finalize(Reduction::Min, &[], DType::F64, &nan_count).is_err());
    }
}
