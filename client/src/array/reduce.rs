//! Reductions (`sum`, `mean`, `min`, `max`, `var`, `std`, `prod`) over all axes or one,
//! lowered later as tree reductions: per-chunk partials, combines of `split_every`, finalize.

use super::{Array, Node, NodeKind};
use tessera_core::key::Tokenizer;
use tessera_core::ops::Reduction;
use tessera_core::{Error, Result};

/// Default fan-in of the combine tree.
pub const DEFAULT_SPLIT_EVERY: usize = 8;

impl Array {
    /// Reduce over `axes` (all axes when `None`), returning a build error at once.
    pub fn try_reduce(&self, reduction: Reduction, axes: Option<&[usize]>) -> Result<Array> {
        self.try_reduce_split(reduction, axes, DEFAULT_SPLIT_EVERY)
    }

    /// [`Array::try_reduce`] with an explicit fan-in for the combine tree (at least 2).
    pub fn try_reduce_split(
        &self,
        reduction: Reduction,
        axes: Option<&[usize]>,
        split_every: usize,
    ) -> Result<Array> {
        let node = self.node()?;
        let ndim = node.shape.len();
        let axes: Vec<usize> = match axes {
            None => (0..ndim).collect(),
            Some(a) => a.to_vec(),
        };
        let mut seen = vec![false; ndim];
        for &a in &axes {
            if a >= ndim {
                return Err(Error::shape(format!(
                    "axis {a} is out of bounds for an array of shape {:?} ({ndim} axes)",
                    node.shape
                )));
            }
            if std::mem::replace(&mut seen[a], true) {
                return Err(Error::shape(format!("axis {a} repeated in {axes:?}")));
            }
        }
        if split_every < 2 {
            return Err(Error::other(format!(
                "split_every must be at least 2, got {split_every}"
            )));
        }
        if matches!(
            reduction,
            Reduction::Min | Reduction::Max | Reduction::NanMin | Reduction::NanMax
        ) && axes.iter().any(|&a| node.shape[a] == 0)
        {
            return Err(Error::shape(format!(
                "zero-size array to reduction operation {} which has no identity (shape {:?}, axes {axes:?})",
                reduction.name(),
                node.shape
            )));
        }
        let mut sorted = axes.clone();
        sorted.sort_unstable();
        let keep: Vec<usize> = (0..ndim).filter(|a| !sorted.contains(a)).collect();
        let name = Tokenizer::new(reduction.name())
            .str(&node.name)
            .value(&sorted)
            .value(&reduction)
            .u64(split_every as u64)
            .finish();
        Ok(Array::from_node(Node {
            name,
            shape: keep.iter().map(|&a| node.shape[a]).collect(),
            chunks: keep.iter().map(|&a| node.chunks[a].clone()).collect(),
            dtype: reduction.result_dtype(node.dtype),
            kind: NodeKind::Reduce {
                input: node.clone(),
                reduction,
                axes: sorted,
                split_every,
            },
        }))
    }

    pub(super) fn reduce(&self, reduction: Reduction, axis: Option<usize>) -> Array {
        let axes = axis.map(|a| [a]);
        Array::from_result(self.try_reduce(reduction, axes.as_ref().map(|a| a.as_slice())))
    }

    /// Sum of all elements (a 0-d array).
    pub fn sum(&self) -> Array {
        self.reduce(Reduction::Sum, None)
    }
    /// Sum along `axis`.
    pub fn sum_axis(&self, axis: usize) -> Array {
        self.reduce(Reduction::Sum, Some(axis))
    }
    /// Product of all elements.
    pub fn prod(&self) -> Array {
        self.reduce(Reduction::Prod, None)
    }
    /// Product along `axis`.
    pub fn prod_axis(&self, axis: usize) -> Array {
        self.reduce(Reduction::Prod, Some(axis))
    }
    /// Mean of all elements.
    pub fn mean(&self) -> Array {
        self.reduce(Reduction::Mean, None)
    }
    /// Mean along `axis`.
    pub fn mean_axis(&self, axis: usize) -> Array {
        self.reduce(Reduction::Mean, Some(axis))
    }
    /// Smallest element (NaN if any element is NaN).
    pub fn min(&self) -> Array {
        self.reduce(Reduction::Min, None)
    }
    /// Smallest element along `axis`.
    pub fn min_axis(&self, axis: usize) -> Array {
        self.reduce(Reduction::Min, Some(axis))
    }
    /// Largest element (NaN if any element is NaN).
    pub fn max(&self) -> Array {
        self.reduce(Reduction::Max, None)
    }
    /// Largest element along `axis`.
    pub fn max_axis(&self, axis: usize) -> Array {
        self.reduce(Reduction::Max, Some(axis))
    }
    /// Variance of all elements with `ddof` delta degrees of freedom.
    pub fn var(&self, ddof: u32) -> Array {
        self.reduce(Reduction::Var { ddof }, None)
    }
    /// Variance along `axis`.
    pub fn var_axis(&self, axis: usize, ddof: u32) -> Array {
        self.reduce(Reduction::Var { ddof }, Some(axis))
    }
    /// Standard deviation of all elements with `ddof` delta degrees of freedom.
    pub fn std(&self, ddof: u32) -> Array {
        self.reduce(Reduction::Std { ddof }, None)
    }
    /// Standard deviation along `axis`.
    pub fn std_axis(&self, axis: usize, ddof: u32) -> Array {
        self.reduce(Reduction::Std { ddof }, Some(axis))
    }
}

#[cfg(test)]
mod tests {
    use crate::array::{random, zeros};
    use tessera_core::DType;

    #[test]
    fn reductions_check_axes_and_shapes() {
        let a = random::<f32>(&[6, 4], &[4, 3], 1);
        assert_eq!(a.sum_axis(1).shape().unwrap(), &[6]);
        assert_eq!(a.mean().shape().unwrap(), &[] as &[usize]);
        assert_eq!(a.mean().dtype().unwrap(), DType::F32);
        assert!(
            a.sum_axis(2)
                .check()
                .unwrap_err()
                .to_string()
                .contains("out of bounds")
        );
        assert!(zeros::<f64>(&[0, 3], &[1, 1]).max_axis(0).check().is_err());
        assert!(zeros::<f64>(&[0, 3], &[1, 1]).max_axis(1).check().is_ok());
        assert_eq!(zeros::<i32>(&[3], &[1]).sum().dtype().unwrap(), DType::I64);
    }
}
