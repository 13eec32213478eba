//! `linalg::norm`: vector and matrix norms composed from elementwise ops and tree
//! reductions (NumPy's `numpy.linalg.norm` orders, except the ones that need an SVD).

use super::Array;
use tessera_core::ops::Reduction;
use tessera_core::{DType, Error, Result};

/// The `ord` argument of [`norm`] (NumPy's names; `None` means the 2-norm of vectors and
/// the Frobenius norm of matrices).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum NormOrd {
    /// Frobenius norm (matrices only): `sqrt(sum(x * x))`.
    Fro,
    /// Nuclear norm (matrices only): refused, it needs singular values.
    Nuc,
    /// `max(abs(x))` for vectors; the largest absolute row sum for matrices.
    Inf,
    /// `min(abs(x))` for vectors; the smallest absolute row sum for matrices.
    NegInf,
    /// `sum(abs(x) ** p) ** (1 / p)` for vectors (`0` counts non-zeros; other than 0, 1 and
    /// 2 it is computed as `exp(log(...))`, to a few ulps); for matrices `1` / `-1` are the
    /// largest / smallest absolute column sums (`2` and `-2` are refused: they need an SVD).
    P(f64),
}

impl From<f64> for NormOrd {
    fn from(p: f64) -> Self {
        if p == f64::INFINITY {
            NormOrd::Inf
        } else if p == f64::NEG_INFINITY {
            NormOrd::NegInf
        } else {
            NormOrd::P(p)
        }
    }
}

/// NumPy's `linalg.norm(x, ord, axis)`: `axis` of one axis gives vector norms along it,
/// two axes (rows, columns) give matrix norms; `None` takes every axis of a 1-d or 2-d
/// array (or, with `ord` `None`, the 2-norm of the flattened array of any rank). Ints
/// and bools are cast to `float64` first; `float32` stays `float32`.
pub fn norm(x: &Array, ord: Option<NormOrd>, axis: Option<&[usize]>) -> Array {
    Array::from_result(try_norm(x, ord, axis))
}

/// [`norm`], returning a build error at once.
pub fn try_norm(x: &Array, ord: Option<NormOrd>, axis: Option<&[usize]>) -> Result<Array> {
    let shape = x.shape()?.to_vec();
    let ndim = shape.len();
    let x = match x.dtype()? {
        DType::F32 | DType::F64 => x.clone(),
        _ => x.astype(DType::F64),
    };
    let axes: Vec<usize> = match axis {
        Some(axes) => {
            for (k, &a) in axes.iter().enumerate() {
                if a >= ndim {
                    return Err(Error::shape(format!(
                        "norm: axis {a} is out of bounds for an array of shape {shape:?}"
                    )));
                }
                if axes[..k].contains(&a) {
                    return Err(Error::shape(format!(
                        "norm: duplicate axes {axes:?} given for an array of shape {shape:?}"
                    )));
                }
            }
            axes.to_vec()
        }
        None if ord.is_none() => return sum_squares(&x, None)?.try_unary_sqrt(),
        None => (0..ndim).collect(),
    };
    match axes[..] {
        [a] => vector(&x, ord, a),
        [r, c] => matrix(&x, ord, r, c),
        _ => Err(Error::shape(format!(
            "norm: improper number of dimensions to norm: axes {axes:?} of an array of shape {shape:?} (1 or 2 needed)"
        ))),
    }
}

impl Array {
    fn try_unary_sqrt(&self) -> Result<Array> {
        self.try_unary(tessera_core::ops::UnaryOp::Sqrt)
    }
}

/// `sum(x * x)` over `axes` (every axis when `None`).
fn sum_squares(x: &Array, axes: Option<&[usize]>) -> Result<Array> {
    (x * x).try_reduce(Reduction::Sum, axes)
}

fn vector(x: &Array, ord: Option<NormOrd>, a: usize) -> Result<Array> {
    let along = |r: Reduction, v: &Array| v.try_reduce(r, Some(&[a]));
    match ord {
        None | Some(NormOrd::P(2.0)) => sum_squares(x, Some(&[a]))?.try_unary_sqrt(),
        Some(NormOrd::Inf) => along(Reduction::Max, &x.abs()),
        Some(NormOrd::NegInf) => along(Reduction::Min, &x.abs()),
        Some(NormOrd::P(0.0)) => along(Reduction::Sum, &x.ne(0.0).astype(x.dtype()?)),
        Some(NormOrd::P(1.0)) => along(Reduction::Sum, &x.abs()),
        Some(NormOrd::P(p)) if p.is_finite() => {
            // |x|^p = exp(p ln|x|): 0 -> 0 for p > 0 and inf for p < 0, as NumPy's power.
            let powered = (x.abs().log() * p).exp();
            let total = along(Reduction::Sum, &powered)?;
            Ok((total.log() * (1.0 / p)).exp())
        }
        Some(ord) => Err(Error::other(format!(
            "norm: invalid norm order {ord:?} for vectors"
        ))),
    }
}

fn matrix(x: &Array, ord: Option<NormOrd>, r: usize, c: usize) -> Result<Array> {
    // After reducing one axis, the other's number shifts down if it came after it.
    let after = |kept: usize, removed: usize| if kept > removed { kept - 1 } else { kept };
    let line_sums = |sum_over: usize, then: Reduction, other: usize| {
        x.abs()
            .try_reduce(Reduction::Sum, Some(&[sum_over]))?
            .try_reduce(then, Some(&[after(other, sum_over)]))
    };
    match ord {
        None | Some(NormOrd::Fro) => sum_squares(x, Some(&[r, c]))?.try_unary_sqrt(),
        Some(NormOrd::Inf) => line_sums(c, Reduction::Max, r),
        Some(NormOrd::NegInf) => line_sums(c, Reduction::Min, r),
        Some(NormOrd::P(1.0)) => line_sums(r, Reduction::Max, c),
        Some(NormOrd::P(-1.0)) => line_sums(r, Reduction::Min, c),
        Some(NormOrd::Nuc) | Some(NormOrd::P(2.0)) | Some(NormOrd::P(-2.0)) => {
            Err(Error::other(format!(
                "norm: the matrix norm {ord:?} needs singular values (an SVD), which tessera does not compute; use Fro, 1, -1, Inf or NegInf (shape {:?})",
                x.shape()?
            )))
        }
        Some(ord) => Err(Error::other(format!(
            "norm: invalid norm order {ord:?} for matrices"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::array::{ones, random};

    #[test]
    fn norms_check_orders_axes_and_dtypes() {
        let m = random::<f32>(&[5, 4], &[2, 3], 1);
        assert_eq!(norm(&m, None, None).shape().unwrap(), &[] as &[usize]);
        assert_eq!(norm(&m, None, None).dtype().unwrap(), DType::F32);
        assert_eq!(
            norm(&m, Some(NormOrd::P(1.0)), Some(&[1])).shape().unwrap(),
            &[5]
        );
        assert_eq!(
            norm(&m, Some(NormOrd::Inf), Some(&[1, 0])).shape().unwrap(),
            &[] as &[usize]
        );
        let i = ones::<i32>(&[3, 2, 2], &[1, 1, 1]);
        assert_eq!(norm(&i, None, None).dtype().unwrap(), DType::F64);
        assert_eq!(norm(&i, None, Some(&[0, 2])).shape().unwrap(), &[2]);
        let e = norm(&i, Some(NormOrd::Fro), None)
            .check()
            .unwrap_err()
            .to_string();
        assert!(e.contains("[3, 2, 2]"), "{e}");
        let e = norm(&m, Some(NormOrd::P(2.0)), None)
            .check()
            .unwrap_err()
            .to_string();
        assert!(e.contains("SVD"), "{e}");
        assert!(norm(&m, Some(NormOrd::Nuc), None).check().is_err());
        assert!(norm(&m, Some(NormOrd::P(3.0)), None).check().is_err());
        assert!(norm(&m, Some(NormOrd::Fro), Some(&[0])).check().is_err());
        assert!(norm(&m, None, Some(&[2])).check().is_err());
        assert!(norm(&m, None, Some(&[1, 1])).check().is_err());
        assert!(
            norm(&m, Some(NormOrd::P(f64::NAN)), Some(&[0]))
                .check()
                .is_err()
        );
        assert_eq!(NormOrd::from(f64::NEG_INFINITY), NormOrd::NegInf);
    }
}
