//! Reduction accumulators (sum, product, min/max, mean, Chan et al.'s variance) and the
//! driver that folds a C-ordered array over any set of axes in cache-friendly passes.

use super::dynarray::{Cast, DynElement};
use ndarray::{ArrayD, ArrayView1, ArrayViewD, Axis, IxDyn, Zip};

/// The running state of one reduction at one output position.
///
/// `push` absorbs one input element, `merge` another state; `K` components of type
/// `Out` are what a partial-state chunk stores (see [`crate::ops::Reduction`]).
pub(crate) trait Acc: Copy + Send + Sync {
    /// Input element type.
    type In: Copy;
    /// Stored state element type.
    type Out: DynElement;
    /// Number of state components.
    const K: usize;
    fn empty() -> Self;
    fn push(&mut self, x: Self::In);
    fn merge(&mut self, o: &Self);
    /// Fold a contiguous run (overridden where a better algorithm than `push` exists).
    fn fold_slice(xs: &[Self::In]) -> Self {
        let mut s = Self::empty();
        for &x in xs {
            s.push(x);
        }
        s
    }
    /// State component `j` (`j < K`).
    fn component(&self, j: usize) -> Self::Out;
    /// Rebuild from components (`get(j)` for `j < K`).
    fn from_components(get: impl Fn(usize) -> Self::Out) -> Self;
}

/// Pairwise summation of `f(x)` (error grows with log n, not n), unrolled at the leaves.
pub(crate) fn pairwise<T: Copy>(xs: &[T], f: &impl Fn(T) -> f64) -> f64 {
    const LEAF: usize = 128;
    if xs.len() <= LEAF {
        let mut acc = [0.0f64; 8];
        let mut chunks = xs.chunks_exact(8);
        for c in &mut chunks {
            for k in 0..8 {
                acc[k] += f(c[k]);
            }
        }
        let mut s =
            ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
        for &x in chunks.remainder() {
            s += f(x);
        }
        s
    } else {
        let mid = (xs.len() / 2).next_multiple_of(8);
        pairwise(&xs[..mid], f) + pairwise(&xs[mid..], f)
    }
}

/// Sum of floats, accumulated in `f64` with pairwise summation, stored as `T`.
#[derive(Clone, Copy)]
pub(crate) struct SumF<T>(f64, std::marker::PhantomData<T>);

impl<T: DynElement> Acc for SumF<T> {
    type In = T;
    type Out = T;
    const K: usize = 1;
    fn empty() -> Self {
        SumF(0.0, Default::default())
    }
    #[inline(always)]
    fn push(&mut self, x: T) {
        self.0 += x.to_f64();
    }
    fn merge(&mut self, o: &Self) {
        self.0 += o.0;
    }
    fn fold_slice(xs: &[T]) -> Self {
        SumF(pairwise(xs, &|x: T| x.to_f64()), Default::default())
    }
    fn component(&self, _: usize) -> T {
        T::from_f64(self.0)
    }
    fn from_components(get: impl Fn(usize) -> T) -> Self {
        SumF(get(0).to_f64(), Default::default())
    }
}

/// Sum of bools or ints as a wrapping `i64` (NumPy's default integer accumulator).
#[derive(Clone, Copy)]
pub(crate) struct SumI<T>(i64, std::marker::PhantomData<T>);

impl<T: Cast + Copy + Send + Sync> Acc for SumI<T> {
    type In = T;
    type Out = i64;
    const K: usize = 1;
    fn empty() -> Self {
        SumI(0, Default::default())
    }
    #[inline(always)]
    fn push(&mut self, x: T) {
        self.0 = self.0.wrapping_add(x.to_i64());
    }
    fn merge(&mut self, o: &Self) {
        self.0 = self.0.wrapping_add(o.0);
    }
    fn component(&self, _: usize) -> i64 {
        self.0
    }
    fn from_components(get: impl Fn(usize) -> i64) -> Self {
        SumI(get(0), Default::default())
    }
}

/// Product of floats, accumulated in `f64`, stored as `T`.
#[derive(Clone, Copy)]
pub(crate) struct ProdF<T>(f64, std::marker::PhantomData<T>);

impl<T: DynElement> Acc for ProdF<T> {
    type In = T;
    type Out = T;
    const K: usize = 1;
    fn empty() -> Self {
        ProdF(1.0, Default::default())
    }
    #[inline(always)]
    fn push(&mut self, x: T) {
        self.0 *= x.to_f64();
    }
    fn merge(&mut self, o: &Self) {
        self.0 *= o.0;
    }
    fn component(&self, _: usize) -> T {
        T::from_f64(self.0)
    }
    fn from_components(get: impl Fn(usize) -> T) -> Self {
        ProdF(get(0).to_f64(), Default::default())
    }
}

/// Product of bools or ints as a wrapping `i64`.
#[derive(Clone, Copy)]
pub(crate) struct ProdI<T>(i64, std::marker::PhantomData<T>);

impl<T: Cast + Copy + Send + Sync> Acc for ProdI<T> {
    type In = T;
    type Out = i64;
    const K: usize = 1;
    fn empty() -> Self {
        ProdI(1, Default::default())
    }
    #[inline(always)]
    fn push(&mut self, x: T) {
        self.0 = self.0.wrapping_mul(x.to_i64());
    }
    fn merge(&mut self, o: &Self) {
        self.0 = self.0.wrapping_mul(o.0);
    }
    fn component(&self, _: usize) -> i64 {
        self.0
    }
    fn from_components(get: impl Fn(usize) -> i64) -> Self {
        ProdI(get(0), Default::default())
    }
}

/// Element count stored in a min/max state of the input dtype (saturating; for bool
/// it is `true` when non-empty). Only "zero or not" matters when reading it back.
fn count_to<T: Cast>(n: u64) -> T {
    if n == 0 {
        T::from_f64(0.0)
    } else {
        T::from_f64((n as f64).min(i32::MAX as f64))
    }
}

fn count_from<T: Cast>(v: T) -> u64 {
    let f = v.to_f64();
    if f >= 1.0 { f as u64 } else { 0 }
}

/// Smallest (`MAX = false`) or largest element with its count; NaN wins, as in NumPy.
#[derive(Clone, Copy)]
pub(crate) struct MinMax<T, const MAX: bool> {
    pub(crate) n: u64,
    pub(crate) v: T,
}

impl<T: DynElement, const MAX: bool> MinMax<T, MAX> {
    #[inline(always)]
    #[allow(clippy::eq_op)]
    fn pick(a: T, b: T) -> T {
        if a != a {
            a
        } else if b != b || (if MAX { b > a } else { b < a }) {
            b
        } else {
            a
        }
    }
}

impl<T: DynElement, const MAX: bool> Acc for MinMax<T, MAX> {
    type In = T;
    type Out = T;
    const K: usize = 2;
    fn empty() -> Self {
        MinMax {
            n: 0,
            v: T::default(),
        }
    }
    #[inline(always)]
    fn push(&mut self, x: T) {
        self.v = if self.n == 0 {
            x
        } else {
            Self::pick(self.v, x)
        };
        self.n += 1;
    }
    fn merge(&mut self, o: &Self) {
        if o.n == 0 {
            return;
        }
        self.v = if self.n == 0 {
            o.v
        } else {
            Self::pick(self.v, o.v)
        };
        self.n = self.n.saturating_add(o.n);
    }
    fn fold_slice(xs: &[T]) -> Self {
        match xs.split_first() {
            None => Self::empty(),
            Some((&first, rest)) => MinMax {
                n: xs.len() as u64,
                v: rest.iter().fold(first, |a, &b| Self::pick(a, b)),
            },
        }
    }
    fn component(&self, j: usize) -> T {
        if j == 0 { count_to(self.n) } else { self.v }
    }
    fn from_components(get: impl Fn(usize) -> T) -> Self {
        MinMax {
            n: count_from(get(0)),
            v: get(1),
        }
    }
}

/// Count and sum in `f64`, for the mean.
#[derive(Clone, Copy)]
pub(crate) struct MeanAcc<T> {
    pub(crate) n: f64,
    pub(crate) sum: f64,
    _t: std::marker::PhantomData<T>,
}

impl<T: Cast + Copy + Send + Sync> Acc for MeanAcc<T> {
    type In = T;
    type Out = f64;
    const K: usize = 2;
    fn empty() -> Self {
        MeanAcc {
            n: 0.0,
            sum: 0.0,
            _t: Default::default(),
        }
    }
    #[inline(always)]
    fn push(&mut self, x: T) {
        self.n += 1.0;
        self.sum += x.to_f64();
    }
    fn merge(&mut self, o: &Self) {
        self.n += o.n;
        self.sum += o.sum;
    }
    fn fold_slice(xs: &[T]) -> Self {
        MeanAcc {
            n: xs.len() as f64,
            sum: pairwise(xs, &|x: T| x.to_f64()),
            _t: Default::default(),
        }
    }
    fn component(&self, j: usize) -> f64 {
        if j == 0 { self.n } else { self.sum }
    }
    fn from_components(get: impl Fn(usize) -> f64) -> Self {
        MeanAcc {
            n: get(0),
            sum: get(1),
            _t: Default::default(),
        }
    }
}

/// Count, mean and sum of squared deviations (m2), merged with Chan et al.'s update.
#[derive(Clone, Copy)]
pub(crate) struct VarAcc<T> {
    pub(crate) n: f64,
    pub(crate) mean: f64,
    pub(crate) m2: f64,
    _t: std::marker::PhantomData<T>,
}

impl<T: Cast + Copy + Send + Sync> Acc for VarAcc<T> {
    type In = T;
    type Out = f64;
    const K: usize = 3;
    fn empty() -> Self {
        VarAcc {
            n: 0.0,
            mean: 0.0,
            m2: 0.0,
            _t: Default::default(),
        }
    }
    #[inline(always)]
    fn push(&mut self, x: T) {
        // Welford's update.
        let x = x.to_f64();
        self.n += 1.0;
        let d = x - self.mean;
        self.mean += d / self.n;
        self.m2 += d * (x - self.mean);
    }
    fn merge(&mut self, o: &Self) {
        // Chan, Golub & LeVeque: combine two (n, mean, m2) without catastrophic cancellation.
        if o.n.is_nan() || o.n <= 0.0 {
            return;
        }
        if self.n.is_nan() || self.n <= 0.0 {
            *self = *o;
            return;
        }
        let n = self.n + o.n;
        let d = o.mean - self.mean;
        self.mean += d * (o.n / n);
        self.m2 += o.m2 + d * d * (self.n * o.n / n);
        self.n = n;
    }
    fn fold_slice(xs: &[T]) -> Self {
        // Two passes over a contiguous run: exact mean first, then squared deviations.
        if xs.is_empty() {
            return Self::empty();
        }
        let n = xs.len() as f64;
        let mean = pairwise(xs, &|x: T| x.to_f64()) / n;
        let m2 = pairwise(xs, &|x: T| {
            let d = x.to_f64() - mean;
            d * d
        });
        VarAcc {
            n,
            mean,
            m2,
            _t: Default::default(),
        }
    }
    fn component(&self, j: usize) -> f64 {
        [self.n, self.mean, self.m2][j.min(2)]
    }
    fn from_components(get: impl Fn(usize) -> f64) -> Self {
        VarAcc {
            n: get(0),
            mean: get(1),
            m2: get(2),
            _t: Default::default(),
        }
    }
}

/// Runs of this many rows are folded into a fresh state before being merged into the
/// total, so that long strided reductions are not one naive running sum.
const BLOCK: usize = 128;

/// Fold a 1-d lane: contiguous lanes use `fold_slice`, strided ones push in blocks.
fn fold_lane<A: Acc>(lane: ArrayView1<'_, A::In>) -> A {
    if let Some(s) = lane.as_slice() {
        return A::fold_slice(s);
    }
    let mut total = A::empty();
    for block in lane.axis_chunks_iter(Axis(0), BLOCK) {
        let mut s = A::empty();
        for &x in block.iter() {
            s.push(x);
        }
        total.merge(&s);
    }
    total
}

/// Merge the states along a 1-d lane.
fn merge_lane<A: Acc>(lane: ArrayView1<'_, A>) -> A {
    let mut total = A::empty();
    for s in lane.iter() {
        total.merge(s);
    }
    total
}

/// Reduce `axis` of `src` into states (the axis removed), absorbing elements with `absorb`.
///
/// When little data lies inside `axis` (few, short rows), fold along lanes; otherwise walk
/// the axis row by row, absorbing each whole (contiguous) row into the state array, which
/// keeps memory access sequential.
fn reduce_axis<I: Copy, A: Acc>(
    src: ArrayViewD<'_, I>,
    axis: usize,
    absorb: impl Fn(&mut A, &I) + Copy,
    lane: impl Fn(ArrayView1<'_, I>) -> A,
) -> ArrayD<A> {
    let mut out_shape = src.shape().to_vec();
    let len = out_shape.remove(axis);
    if axis + 1 == src.ndim()
        && len > 0
        && let Some(flat) = src.as_slice()
    {
        // Trailing axis of a C-ordered array: lanes are consecutive runs of the buffer.
        let states: Vec<A> = flat
            .chunks_exact(len)
            .map(|run| lane(ArrayView1::from(run)))
            .collect();
        return ArrayD::from_shape_vec(IxDyn(&out_shape), states).expect("one state per lane");
    }
    let inner: usize = src.shape()[axis + 1..].iter().product();
    if inner < 16 {
        return Zip::from(src.lanes(Axis(axis))).map_collect(lane);
    }
    let mut total = ArrayD::from_elem(IxDyn(&out_shape), A::empty());
    for block in src.axis_chunks_iter(Axis(axis), BLOCK) {
        if len <= BLOCK {
            for row in block.axis_iter(Axis(axis)) {
                Zip::from(&mut total).and(&row).for_each(absorb);
            }
        } else {
            let mut part = ArrayD::from_elem(IxDyn(&out_shape), A::empty());
            for row in block.axis_iter(Axis(axis)) {
                Zip::from(&mut part).and(&row).for_each(absorb);
            }
            Zip::from(&mut total).and(&part).for_each(|t, p| t.merge(p));
        }
    }
    total
}

/// Reduce the axes of `x` flagged in `reduced` (one flag per axis). Returns the states in
/// C order over the kept axes (the result has `x`'s shape with reduced axes dropped).
pub(crate) fn reduce<A: Acc>(x: ArrayViewD<'_, A::In>, reduced: &[bool]) -> ArrayD<A> {
    let kept: Vec<usize> = x
        .shape()
        .iter()
        .zip(reduced)
        .filter(|(_, r)| !**r)
        .map(|(&d, _)| d)
        .collect();
    if x.is_empty() {
        return ArrayD::from_elem(IxDyn(&kept), A::empty());
    }
    // Merge runs of adjacent axes of the same kind (free on a C-ordered array) and drop
    // length-1 axes, so at most every other axis is reduced.
    let mut dims: Vec<(usize, bool)> = Vec::new();
    for (&d, &r) in x.shape().iter().zip(reduced) {
        if d == 1 {
            continue;
        }
        match dims.last_mut() {
            Some((len, kind)) if *kind == r => *len *= d,
            _ => dims.push((d, r)),
        }
    }
    let merged: Vec<usize> = dims.iter().map(|&(d, _)| d).collect();
    let x = x.as_standard_layout();
    let x = x
        .view()
        .into_shape_with_order(IxDyn(&merged))
        .expect("same element count, C order");
    let mut axes: Vec<usize> = dims
        .iter()
        .enumerate()
        .filter(|(_, d)| d.1)
        .map(|(i, _)| i)
        .collect();
    let states = match axes.pop() {
        None => x.mapv(|v| {
            let mut s = A::empty();
            s.push(v);
            s
        }),
        Some(last) => {
            let mut states = reduce_axis(x, last, |s: &mut A, v| s.push(*v), fold_lane::<A>);
            while let Some(ax) = axes.pop() {
                states = reduce_axis(
                    states.view(),
                    ax,
                    |s: &mut A, o| s.merge(o),
                    merge_lane::<A>,
                );
            }
            states
        }
    };
    let states = if states.is_standard_layout() {
        states
    } else {
        states.as_standard_layout().into_owned()
    };
    states
        .into_shape_with_order(IxDyn(&kept))
        .expect("kept axes hold the same element count")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairwise_is_accurate() {
        let xs: Vec<f32> = vec![0.1; 1_000_003];
        let s = pairwise(&xs, &|x: f32| x as f64);
        assert!((s - 0.1f32 as f64 * 1_000_003.0).abs() < 1e-6);
        assert_eq!(pairwise::<f64>(&[], &|x| x), 0.0);
    }

    #[test]
    fn reduce_matches_sum_axis_in_every_layout() {
        let a = ArrayD::from_shape_fn(IxDyn(&[3, 40, 1, 5, 2]), |ix| {
            (ix[0] * 1000 + ix[1] * 10 + ix[3] * 3 + ix[4]) as f64
        });
        for mask in 0u32..32 {
            let reduced: Vec<bool> = (0..5).map(|i| mask & (1 << i) != 0).collect();
            let got = reduce::<SumF<f64>>(a.view(), &reduced).mapv(|s| s.component(0));
            let mut want = a.clone();
            for ax in (0..5).rev().filter(|&i| reduced[i]) {
                want = want.sum_axis(Axis(ax));
            }
            assert_eq!(got, want, "mask {mask:b}");
        }
    }

    #[test]
    fn min_max_propagate_nan_and_count() {
        let a = ndarray::array![[1.0, f64::NAN, 3.0], [4.0, 5.0, -6.0]].into_dyn();
        let mins = reduce::<MinMax<f64, false>>(a.view(), &[false, true]);
        assert!(mins[[0]].v.is_nan());
        assert_eq!(mins[[1]].v, -6.0);
        assert_eq!(mins[[1]].n, 3);
        let maxs = reduce::<MinMax<f64, true>>(a.view(), &[true, false]);
        assert_eq!(maxs.mapv(|s| s.v).as_slice().unwrap()[0], 4.0);
        assert!(maxs[[1]].v.is_nan());
    }

    #[test]
    fn welford_chan_and_two_pass_agree_with_exact() {
        // Exact reference: shift by the offset (exact here), then compensated two-pass.
        let off = 1e6;
        let xs: Vec<f64> = (0..100_000)
            .map(|i| off + (i as f64 * 0.37).sin())
            .collect();
        let kahan = |it: &mut dyn Iterator<Item = f64>| {
            let (mut s, mut c) = (0.0f64, 0.0f64);
            for x in it {
                let y = x - c;
                let t = s + y;
                c = (t - s) - y;
                s = t;
            }
            s
        };
        let n = xs.len() as f64;
        let my = kahan(&mut xs.iter().map(|x| x - off)) / n;
        let exact = kahan(&mut xs.iter().map(|x| (x - off - my) * (x - off - my)));
        let whole = VarAcc::<f64>::fold_slice(&xs);
        let mut parts = VarAcc::<f64>::empty();
        for c in xs.chunks(77) {
            let mut p = VarAcc::<f64>::empty();
            for &x in c {
                p.push(x);
            }
            parts.merge(&p);
        }
        assert!(
            (whole.m2 - exact).abs() <= 1e-10 * exact,
            "{} vs {exact}",
            whole.m2
        );
        assert!(
            (parts.m2 - exact).abs() <= 1e-10 * exact,
            "{} vs {exact}",
            parts.m2
        );
        assert!((parts.mean - (off + my)).abs() <= 1e-15 * off);
    }
}
