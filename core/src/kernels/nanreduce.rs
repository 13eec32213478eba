//! The NaN-ignoring reductions (`nansum`, `nanmean`, `nanmin`, ...), `any`/`all` and
//! `count_nonzero`: accumulators plugged into the tree-reduction driver of `reduce.rs`.

use super::accumulate::{Acc, MeanAcc, MinMax, ProdF, SumF, VarAcc};
use super::dynarray::{Cast, DynElement, bool_ndarray};
use super::reduce::{combine_with, finish, partial_with};
use crate::chunk::Chunk;
use crate::dtype::DType;
use crate::error::Result;
use crate::ops::Reduction;
use ndarray::ArrayViewD;

/// Whether this file implements `red` (the others are `reduce.rs`'s own).
pub(super) fn handles(red: Reduction) -> bool {
    red.plain() != red
        || matches!(
            red,
            Reduction::Any | Reduction::All | Reduction::CountNonzero
        )
}

/// Any accumulator with NaN inputs skipped (they are never pushed).
#[derive(Clone, Copy)]
pub(super) struct NanSkip<A>(A);

impl<A: Acc> Acc for NanSkip<A>
where
    A::In: PartialEq,
{
    type In = A::In;
    type Out = A::Out;
    const K: usize = A::K;
    fn empty() -> Self {
        NanSkip(A::empty())
    }
    #[inline(always)]
    #[allow(clippy::eq_op)]
    fn push(&mut self, x: A::In) {
        if x == x {
            self.0.push(x);
        }
    }
    fn merge(&mut self, o: &Self) {
        self.0.merge(&o.0);
    }
    #[allow(clippy::eq_op)]
    fn fold_slice(xs: &[A::In]) -> Self {
        if xs.iter().all(|x| x == x) {
            NanSkip(A::fold_slice(xs))
        } else {
            let kept: Vec<A::In> = xs.iter().copied().filter(|x| x == x).collect();
            NanSkip(A::fold_slice(&kept))
        }
    }
    fn component(&self, j: usize) -> A::Out {
        self.0.component(j)
    }
    fn from_components(get: impl Fn(usize) -> A::Out) -> Self {
        NanSkip(A::from_components(get))
    }
}

/// Whether any (`ALL = false`) or every (`ALL = true`) element is non-zero.
#[derive(Clone, Copy)]
pub(super) struct AnyAll<T, const ALL: bool>(bool, std::marker::PhantomData<T>);

impl<T: Cast + Send + Sync, const ALL: bool> Acc for AnyAll<T, ALL> {
    type In = T;
    type Out = bool;
    const K: usize = 1;
    fn empty() -> Self {
        AnyAll(ALL, Default::default())
    }
    #[inline(always)]
    fn push(&mut self, x: T) {
        if ALL {
            self.0 &= x.to_bool();
        } else {
            self.0 |= x.to_bool();
        }
    }
    fn merge(&mut self, o: &Self) {
        if ALL {
            self.0 &= o.0;
        } else {
            self.0 |= o.0;
        }
    }
    fn component(&self, _: usize) -> bool {
        self.0
    }
    fn from_components(get: impl Fn(usize) -> bool) -> Self {
        AnyAll(get(0), Default::default())
    }
}

/// Number of non-zero elements, as `i64`.
#[derive(Clone, Copy)]
pub(super) struct CountNz<T>(i64, std::marker::PhantomData<T>);

impl<T: Cast + Send + Sync> Acc for CountNz<T> {
    type In = T;
    type Out = i64;
    const K: usize = 1;
    fn empty() -> Self {
        CountNz(0, Default::default())
    }
    #[inline(always)]
    fn push(&mut self, x: T) {
        self.0 += x.to_bool() as i64;
    }
    fn merge(&mut self, o: &Self) {
        self.0 = self.0.saturating_add(o.0);
    }
    fn component(&self, _: usize) -> i64 {
        self.0
    }
    fn from_components(get: impl Fn(usize) -> i64) -> Self {
        CountNz(get(0), Default::default())
    }
}

/// `ReducePartial` of one of [`handles`]'s reductions. On ints and bool (which hold no
/// NaN) the NaN-ignoring ones are their plain counterparts.
pub(super) fn partial(red: Reduction, axes: &[usize], input: &Chunk) -> Result<Chunk> {
    let mask = super::reduce::axis_mask(axes, input.shape().len(), "reduce-partial")?;
    match input.dtype() {
        DType::F32 => typed(red, input.view::<f32>()?, &mask, true),
        DType::F64 => typed(red, input.view::<f64>()?, &mask, true),
        _ if red.plain() != red => super::reduce::partial(red.plain(), axes, input),
        DType::Bool => typed(red, bool_ndarray(input)?.view(), &mask, false),
        DType::I32 => typed(red, input.view::<i32>()?, &mask, false),
        DType::I64 => typed(red, input.view::<i64>()?, &mask, false),
    }
}

fn typed<T: DynElement>(
    red: Reduction,
    x: ArrayViewD<'_, T>,
    mask: &[bool],
    float: bool,
) -> Result<Chunk> {
    use Reduction::*;
    match red {
        Any => partial_with::<AnyAll<T, false>>(x, mask),
        All => partial_with::<AnyAll<T, true>>(x, mask),
        CountNonzero => partial_with::<CountNz<T>>(x, mask),
        NanSum if float => partial_with::<NanSkip<SumF<T>>>(x, mask),
        NanProd if float => partial_with::<NanSkip<ProdF<T>>>(x, mask),
        NanMin if float => partial_with::<NanSkip<MinMax<T, false>>>(x, mask),
        NanMax if float => partial_with::<NanSkip<MinMax<T, true>>>(x, mask),
        NanMean if float => partial_with::<NanSkip<MeanAcc<T>>>(x, mask),
        NanVar { .. } | NanStd { .. } if float => partial_with::<NanSkip<VarAcc<T>>>(x, mask),
        _ => Err(crate::error::Error::other(format!(
            "{} is not a NaN-aware reduction of this dtype",
            red.name()
        ))),
    }
}

/// `ReduceCombine`: NaN-ignoring states merge like their plain counterparts.
pub(super) fn combine(red: Reduction, inputs: &[Chunk]) -> Result<Chunk> {
    match red {
        Reduction::Any => combine_with::<AnyAll<bool, false>>(inputs),
        Reduction::All => combine_with::<AnyAll<bool, true>>(inputs),
        Reduction::CountNonzero => combine_with::<CountNz<i64>>(inputs),
        other => super::reduce::combine(other.plain(), inputs),
    }
}

/// `ReduceFinalize`: as the plain counterpart, except that `nanmin`/`nanmax` of only NaN
/// give NaN (NumPy warns and gives NaN) instead of an error.
pub(super) fn finalize(
    red: Reduction,
    axes: &[usize],
    dtype: DType,
    input: &Chunk,
    n: usize,
    shape: &[usize],
) -> Result<Chunk> {
    let out = match (red, input.dtype()) {
        (Reduction::Any, _) => finish::<AnyAll<bool, false>, bool>(input, n, shape, |s| Ok(s.0))?,
        (Reduction::All, _) => finish::<AnyAll<bool, true>, bool>(input, n, shape, |s| Ok(s.0))?,
        (Reduction::CountNonzero, _) => finish::<CountNz<i64>, i64>(input, n, shape, |s| Ok(s.0))?,
        (Reduction::NanMin, DType::F32) => nan_extreme::<f32, false>(input, n, shape)?,
        (Reduction::NanMin, DType::F64) => nan_extreme::<f64, false>(input, n, shape)?,
        (Reduction::NanMax, DType::F32) => nan_extreme::<f32, true>(input, n, shape)?,
        (Reduction::NanMax, DType::F64) => nan_extreme::<f64, true>(input, n, shape)?,
        (other, _) => return super::reduce::finalize(other.plain(), axes, dtype, input),
    };
    Ok(out.cast(dtype).into_chunk())
}

fn nan_extreme<T: DynElement, const MAX: bool>(
    c: &Chunk,
    n: usize,
    shape: &[usize],
) -> Result<super::dynarray::DynArray> {
    finish::<MinMax<T, MAX>, T>(c, n, shape, |s| {
        Ok(if s.n == 0 { T::from_f64(f64::NAN) } else { s.v })
    })
}
