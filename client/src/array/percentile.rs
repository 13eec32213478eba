//! `percentile` / `quantile` over the whole array (`axis=None`), exact: NumPy's default
//! `linear` method on the sorted values, which one `topk` merge tree gathers.
//!
//! What is computed: the values are cast to f64, flattened and sorted ascending (NaN last)
//! by `topk(-n)` (per-chunk sorts merged in a tree); for each `q` the virtual index
//! `q / 100 * (n - 1)` is split into `lo = floor` and the fraction `t`, and the result is
//! NumPy's `_lerp(a[lo], a[lo + 1], t)`, so values equal NumPy's up to float rounding (no
//! approximation error). An array holding NaN gives NaN, as `np.percentile` does. The cost:
//! the last merge holds all `n` values in one task, so the array must fit one worker's
//! memory (dask's approximate per-chunk percentiles are the alternative past that size).

use super::Array;
use super::index::Idx;
use super::join::try_stack;
use super::ufuncs::try_where;
use tessera_core::{DType, Error, Result};

impl Array {
    /// The `q`-th percentiles (each in `0..=100`) of all elements, as a 1-d f64 array with
    /// one value per `q` (NumPy's `percentile(x, q)` with the default linear method).
    pub fn percentile(&self, q: &[f64]) -> Array {
        Array::from_result(self.try_percentile(q))
    }

    /// [`Array::percentile`], returning a bad `q` or an empty array at once.
    pub fn try_percentile(&self, q: &[f64]) -> Result<Array> {
        if let Some(bad) = q.iter().find(|q| !(0.0..=100.0).contains(*q)) {
            return Err(Error::shape(format!(
                "percentile: q = {bad} is outside 0..=100"
            )));
        }
        let fractions: Vec<f64> = q.iter().map(|q| q / 100.0).collect();
        self.quantiles_of("percentile", &fractions)
    }

    /// The `q`-th quantiles (each in `0..=1`) of all elements, as a 1-d f64 array
    /// (NumPy's `quantile(x, q)`, linear method).
    pub fn quantile(&self, q: &[f64]) -> Array {
        Array::from_result(self.try_quantile(q))
    }

    /// [`Array::quantile`], returning a bad `q` or an empty array at once.
    pub fn try_quantile(&self, q: &[f64]) -> Result<Array> {
        if let Some(bad) = q.iter().find(|q| !(0.0..=1.0).contains(*q)) {
            return Err(Error::shape(format!(
                "quantile: q = {bad} is outside 0..=1"
            )));
        }
        self.quantiles_of("quantile", q)
    }

    /// Quantiles at `fractions` (checked to lie in `0..=1`).
    fn quantiles_of(&self, what: &str, fractions: &[f64]) -> Result<Array> {
        let node = self.node()?;
        let n: usize = node.shape.iter().product();
        if n == 0 {
            return Err(Error::shape(format!(
                "{what} of an empty array (shape {:?}) is undefined",
                node.shape
            )));
        }
        if fractions.is_empty() {
            return Err(Error::shape(format!("{what}: no q given")));
        }
        let flat = self.astype(DType::F64).try_reshape(&[-1])?;
        let sorted = flat.try_topk(-(n as i64), 0)?;
        let at = |i: usize| sorted.index(&[Idx::At(i as isize)]);
        let any_nan = at(n - 1).isnan();
        let mut values = Vec::with_capacity(fractions.len());
        for &f in fractions {
            let pos = f * (n - 1) as f64;
            let lo = (pos.floor() as usize).min(n - 1);
            let t = pos - lo as f64;
            let (a, b) = (at(lo), at((lo + 1).min(n - 1)));
            let diff = &b - &a;
            // NumPy's `_lerp`: the form that is exact at its nearer end.
            let v = if t >= 0.5 {
                &b - &(&diff * (1.0 - t))
            } else {
                &a + &(&diff * t)
            };
            values.push(try_where(&any_nan, f64::NAN, &v)?);
        }
        try_stack(&values, 0)
    }
}
