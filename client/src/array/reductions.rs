//! The NaN-ignoring reductions (`nansum`, `nanmean`, `nanmin`, ...), `any`/`all` and
//! `count_nonzero`, over all axes or one: tree reductions like `sum` (see `reduce.rs`).

use super::Array;
use tessera_core::ops::Reduction;

impl Array {
    /// Whether any element is non-zero (bool, 0-d).
    pub fn any(&self) -> Array {
        self.reduce(Reduction::Any, None)
    }
    /// Whether any element along `axis` is non-zero.
    pub fn any_axis(&self, axis: usize) -> Array {
        self.reduce(Reduction::Any, Some(axis))
    }
    /// Whether every element is non-zero (true for an empty array).
    pub fn all(&self) -> Array {
        self.reduce(Reduction::All, None)
    }
    /// Whether every element along `axis` is non-zero.
    pub fn all_axis(&self, axis: usize) -> Array {
        self.reduce(Reduction::All, Some(axis))
    }
    /// Number of non-zero elements (int64).
    pub fn count_nonzero(&self) -> Array {
        self.reduce(Reduction::CountNonzero, None)
    }
    /// Number of non-zero elements along `axis`.
    pub fn count_nonzero_axis(&self, axis: usize) -> Array {
        self.reduce(Reduction::CountNonzero, Some(axis))
    }
    /// Sum treating NaN as zero.
    pub fn nansum(&self) -> Array {
        self.reduce(Reduction::NanSum, None)
    }
    /// Sum along `axis` treating NaN as zero.
    pub fn nansum_axis(&self, axis: usize) -> Array {
        self.reduce(Reduction::NanSum, Some(axis))
    }
    /// Product treating NaN as one.
    pub fn nanprod(&self) -> Array {
        self.reduce(Reduction::NanProd, None)
    }
    /// Product along `axis` treating NaN as one.
    pub fn nanprod_axis(&self, axis: usize) -> Array {
        self.reduce(Reduction::NanProd, Some(axis))
    }
    /// Mean of the non-NaN elements (NaN when there are none).
    pub fn nanmean(&self) -> Array {
        self.reduce(Reduction::NanMean, None)
    }
    /// Mean of the non-NaN elements along `axis`.
    pub fn nanmean_axis(&self, axis: usize) -> Array {
        self.reduce(Reduction::NanMean, Some(axis))
    }
    /// Smallest non-NaN element (NaN when all are NaN; an empty array is refused).
    pub fn nanmin(&self) -> Array {
        self.reduce(Reduction::NanMin, None)
    }
    /// Smallest non-NaN element along `axis`.
    pub fn nanmin_axis(&self, axis: usize) -> Array {
        self.reduce(Reduction::NanMin, Some(axis))
    }
    /// Largest non-NaN element (NaN when all are NaN; an empty array is refused).
    pub fn nanmax(&self) -> Array {
        self.reduce(Reduction::NanMax, None)
    }
    /// Largest non-NaN element along `axis`.
    pub fn nanmax_axis(&self, axis: usize) -> Array {
        self.reduce(Reduction::NanMax, Some(axis))
    }
    /// Variance of the non-NaN elements with `ddof` delta degrees of freedom.
    pub fn nanvar(&self, ddof: u32) -> Array {
        self.reduce(Reduction::NanVar { ddof }, None)
    }
    /// Variance of the non-NaN elements along `axis`.
    pub fn nanvar_axis(&self, axis: usize, ddof: u32) -> Array {
        self.reduce(Reduction::NanVar { ddof }, Some(axis))
    }
    /// Standard deviation of the non-NaN elements.
    pub fn nanstd(&self, ddof: u32) -> Array {
        self.reduce(Reduction::NanStd { ddof }, None)
    }
    /// Standard deviation of the non-NaN elements along `axis`.
    pub fn nanstd_axis(&self, axis: usize, ddof: u32) -> Array {
        self.reduce(Reduction::NanStd { ddof }, Some(axis))
    }
}

#[cfg(test)]
mod tests {
    use crate::array::{ones, zeros};
    use tessera_core::DType;

    #[test]
    fn dtypes_and_refusals() {
        let i = ones::<i32>(&[4, 3], &[2, 2]);
        let f = ones::<f32>(&[4, 3], &[2, 2]);
        assert_eq!(i.any().dtype().unwrap(), DType::Bool);
        assert_eq!(f.all_axis(1).shape().unwrap(), &[4]);
        assert_eq!(i.count_nonzero().dtype().unwrap(), DType::I64);
        assert_eq!(i.nansum().dtype().unwrap(), DType::I64);
        assert_eq!(f.nanmean().dtype().unwrap(), DType::F32);
        assert_eq!(i.nanmean_axis(0).dtype().unwrap(), DType::F64);
        assert_eq!(f.nanmax().dtype().unwrap(), DType::F32);
        assert!(
            zeros::<f64>(&[0, 3], &[1, 1])
                .nanmin_axis(0)
                .check()
                .is_err()
        );
        assert!(
            zeros::<f64>(&[0, 3], &[1, 1])
                .nansum_axis(0)
                .check()
                .is_ok()
        );
        assert!(f.nanstd_axis(2, 0).check().is_err());
    }
}
