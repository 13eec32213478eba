//! NumPy's remaining ufuncs on arrays (trigonometry, rounding, predicates, power, extrema,
//! remainder, bitwise and logical ops, `where`, `clip`) with NumPy's dtype rules; all fuse.

use super::elementwise::{Operand, cast_to, elementwise, weak_scalar};
use super::{Array, Node};
use std::sync::Arc;
use tessera_core::ops::{BinaryOp, Expr, UnaryOp};
use tessera_core::{DType, Error, Result, Scalar};

/// Whether `op` is one of the binary ufuncs built here (not plain arithmetic/comparison).
pub(super) fn is_ufunc(op: BinaryOp) -> bool {
    use BinaryOp::*;
    !matches!(op, Add | Sub | Mul | Div | Eq | Ne | Lt | Le | Gt | Ge)
}

/// The compute and result dtypes of a unary ufunc on `d`, or the refusal.
fn unary_dtypes(op: UnaryOp, d: DType) -> Result<(DType, DType)> {
    use UnaryOp::*;
    let refuse = || {
        Err(Error::dtype(format!(
            "ufunc '{}' is not supported for the input dtype {d}",
            op.name()
        )))
    };
    Ok(match op {
        IsNan | IsInf | IsFinite => (d, DType::Bool),
        Round(_) | Sign | Square | Reciprocal if d == DType::Bool => return refuse(),
        Round(_) | Sign | Square | Reciprocal => (d, d),
        Invert if d.is_float() => return refuse(),
        Invert => (d, d),
        // Neg, Abs, Sqrt, Exp, Log, Not: the arithmetic core's rules (elementwise.rs).
        Neg | Abs | Sqrt | Exp | Log | Not => return refuse(),
        // Everything else is float-only: ints and bool compute in float64, float32 stays.
        _ => (d.float_result(), d.float_result()),
    })
}

/// The compute and result dtypes of a binary ufunc whose operands promote to `d`.
fn binary_dtypes(op: BinaryOp, d: DType) -> Result<(DType, DType)> {
    use BinaryOp::*;
    let refuse = || {
        Err(Error::dtype(format!(
            "ufunc '{}' is not supported for the input dtype {d}",
            op.symbol()
        )))
    };
    Ok(match op {
        Pow | Rem | FloorDiv if d == DType::Bool => return refuse(),
        BitAnd | BitOr | BitXor if d.is_float() => return refuse(),
        Arctan2 | Hypot => (d.float_result(), d.float_result()),
        _ => (d, d),
    })
}

/// Group name of a binary ufunc, for keys.
fn group(op: BinaryOp) -> &'static str {
    use BinaryOp::*;
    match op {
        Pow => "power",
        Maximum => "maximum",
        Minimum => "minimum",
        Fmax => "fmax",
        Fmin => "fmin",
        Rem => "remainder",
        FloorDiv => "floor_divide",
        Arctan2 => "arctan2",
        Hypot => "hypot",
        BitAnd => "bitwise_and",
        BitOr => "bitwise_or",
        BitXor => "bitwise_xor",
        _ => "binary",
    }
}

/// An operand lowered to an expression: an input array or a literal scalar.
enum Side {
    Node(Arc<Node>),
    Scalar(Scalar),
}

impl Side {
    fn of(o: Operand<'_>) -> Result<Side> {
        Ok(match o {
            Operand::Array(a) => Side::Node(a.node()?.clone()),
            Operand::Scalar(s) => Side::Scalar(s),
        })
    }
}

/// The dtype two sides promote to: arrays by NumPy's table, `f64`/`i64` scalars weakly.
fn promote(a: &Side, b: &Side) -> Result<DType> {
    Ok(match (a, b) {
        (Side::Node(x), Side::Node(y)) => DType::promote(x.dtype, y.dtype),
        (Side::Node(n), Side::Scalar(s)) | (Side::Scalar(s), Side::Node(n)) => match s {
            Scalar::F64(_) | Scalar::I64(_) => weak_scalar(*s, n.dtype)?,
            typed => DType::promote(n.dtype, typed.dtype()),
        },
        (Side::Scalar(x), Side::Scalar(y)) => DType::promote(x.dtype(), y.dtype()),
    })
}

/// Turn sides into expressions cast to `ct` over a shared input list.
fn exprs(sides: &[&Side], ct: DType, inputs: &mut Vec<Arc<Node>>) -> Vec<Expr> {
    sides
        .iter()
        .map(|s| match s {
            Side::Node(n) => {
                let i = match inputs.iter().position(|m| m.name == n.name) {
                    Some(i) => i,
                    None => {
                        inputs.push(n.clone());
                        inputs.len() - 1
                    }
                };
                cast_to(Expr::Input(i), n.dtype, ct)
            }
            Side::Scalar(v) => Expr::Scalar(v.cast(ct)),
        })
        .collect()
}

fn binary_node(op: BinaryOp, a: &Side, b: &Side, what: &str) -> Result<Array> {
    let (ct, rt) = binary_dtypes(op, promote(a, b)?)?;
    if op == BinaryOp::Pow
        && ct.is_int()
        && let Side::Scalar(s) = b
        && s.as_i64() < 0
    {
        return Err(Error::dtype(format!(
            "Integers to negative integer powers are not allowed (power({ct} array, {s}))"
        )));
    }
    let mut inputs = Vec::new();
    let mut e = exprs(&[a, b], ct, &mut inputs).into_iter();
    let (l, r) = (e.next(), e.next());
    let (Some(l), Some(r)) = (l, r) else {
        return Err(Error::other("two operands expected"));
    };
    if inputs.is_empty() {
        return Err(Error::other(format!(
            "{what} needs at least one array operand"
        )));
    }
    elementwise(
        what,
        Expr::Binary(op, Box::new(l), Box::new(r)),
        &inputs,
        rt,
    )
}

impl Array {
    /// Apply a unary ufunc (any [`UnaryOp`]), returning a build error at once. Float-only
    /// functions cast ints and bool to `float64` (`float32` stays); `isnan`, `isinf` and
    /// `isfinite` give bool; `round`, `sign`, `square`, `reciprocal` keep the dtype and
    /// refuse bool; `invert` takes ints and bool.
    pub fn try_ufunc(&self, op: UnaryOp) -> Result<Array> {
        use UnaryOp::*;
        if matches!(op, Neg | Abs | Sqrt | Exp | Log | Not) {
            return self.try_unary(op);
        }
        let node = self.node()?;
        let (ct, rt) = unary_dtypes(op, node.dtype)?;
        let expr = Expr::Unary(op, Box::new(cast_to(Expr::Input(0), node.dtype, ct)));
        elementwise(op.name(), expr, std::slice::from_ref(node), rt)
    }

    /// Apply a binary ufunc (any [`BinaryOp`]) with NumPy's promotion, returning a build
    /// error at once (see [`BinaryOp`] for what each accepts). An integer `power` with a
    /// negative scalar exponent is refused here; a negative exponent inside an array errs
    /// the task, as NumPy errs at run time.
    pub fn try_ufunc2<'a>(&self, op: BinaryOp, rhs: impl Into<Operand<'a>>) -> Result<Array> {
        if !is_ufunc(op) {
            return self.try_binary(op, rhs);
        }
        let a = Side::Node(self.node()?.clone());
        let b = Side::of(rhs.into())?;
        binary_node(op, &a, &b, group(op))
    }

    fn ufunc(&self, op: UnaryOp) -> Array {
        Array::from_result(self.try_ufunc(op))
    }

    fn ufunc2<'a>(&self, op: BinaryOp, rhs: impl Into<Operand<'a>>) -> Array {
        Array::from_result(self.try_ufunc2(op, rhs))
    }

    /// Sine (radians).
    pub fn sin(&self) -> Array {
        self.ufunc(UnaryOp::Sin)
    }
    /// Cosine.
    pub fn cos(&self) -> Array {
        self.ufunc(UnaryOp::Cos)
    }
    /// Tangent.
    pub fn tan(&self) -> Array {
        self.ufunc(UnaryOp::Tan)
    }
    /// Inverse sine (NaN outside [-1, 1]).
    pub fn arcsin(&self) -> Array {
        self.ufunc(UnaryOp::Arcsin)
    }
    /// Inverse cosine (NaN outside [-1, 1]).
    pub fn arccos(&self) -> Array {
        self.ufunc(UnaryOp::Arccos)
    }
    /// Inverse tangent.
    pub fn arctan(&self) -> Array {
        self.ufunc(UnaryOp::Arctan)
    }
    /// Hyperbolic sine.
    pub fn sinh(&self) -> Array {
        self.ufunc(UnaryOp::Sinh)
    }
    /// Hyperbolic cosine.
    pub fn cosh(&self) -> Array {
        self.ufunc(UnaryOp::Cosh)
    }
    /// Hyperbolic tangent.
    pub fn tanh(&self) -> Array {
        self.ufunc(UnaryOp::Tanh)
    }
    /// Floor (ints become `float64`, like NumPy 1.x).
    pub fn floor(&self) -> Array {
        self.ufunc(UnaryOp::Floor)
    }
    /// Ceiling (ints become `float64`).
    pub fn ceil(&self) -> Array {
        self.ufunc(UnaryOp::Ceil)
    }
    /// Truncation toward zero (ints become `float64`).
    pub fn trunc(&self) -> Array {
        self.ufunc(UnaryOp::Trunc)
    }
    /// Round to `decimals` places, halves to even (NumPy's `round`; negative `decimals`
    /// round to tens, hundreds, ...). Ints keep their dtype.
    pub fn round(&self, decimals: i32) -> Array {
        self.ufunc(UnaryOp::Round(decimals))
    }
    /// `-1`, `0` or `1` by sign (NaN stays NaN).
    pub fn sign(&self) -> Array {
        self.ufunc(UnaryOp::Sign)
    }
    /// `2^x`.
    pub fn exp2(&self) -> Array {
        self.ufunc(UnaryOp::Exp2)
    }
    /// Base-2 logarithm.
    pub fn log2(&self) -> Array {
        self.ufunc(UnaryOp::Log2)
    }
    /// Base-10 logarithm.
    pub fn log10(&self) -> Array {
        self.ufunc(UnaryOp::Log10)
    }
    /// `ln(1 + x)`.
    pub fn log1p(&self) -> Array {
        self.ufunc(UnaryOp::Log1p)
    }
    /// `e^x - 1`.
    pub fn expm1(&self) -> Array {
        self.ufunc(UnaryOp::Expm1)
    }
    /// `x * x` (ints wrap).
    pub fn square(&self) -> Array {
        self.ufunc(UnaryOp::Square)
    }
    /// `1 / x` (for ints NumPy's integer reciprocal; `0` where `x == 0`).
    pub fn reciprocal(&self) -> Array {
        self.ufunc(UnaryOp::Reciprocal)
    }
    /// Whether each element is NaN (bool).
    pub fn isnan(&self) -> Array {
        self.ufunc(UnaryOp::IsNan)
    }
    /// Whether each element is infinite (bool).
    pub fn isinf(&self) -> Array {
        self.ufunc(UnaryOp::IsInf)
    }
    /// Whether each element is finite (bool).
    pub fn isfinite(&self) -> Array {
        self.ufunc(UnaryOp::IsFinite)
    }
    /// Bitwise not of ints, logical not of bool (NumPy's `invert`, Rust's `!`).
    pub fn invert(&self) -> Array {
        self.ufunc(UnaryOp::Invert)
    }

    /// `self ** rhs` (ints stay ints and wrap; a negative integer exponent is an error).
    pub fn power<'a>(&self, rhs: impl Into<Operand<'a>>) -> Array {
        self.ufunc2(BinaryOp::Pow, rhs)
    }
    /// Elementwise maximum; NaN propagates.
    pub fn maximum<'a>(&self, rhs: impl Into<Operand<'a>>) -> Array {
        self.ufunc2(BinaryOp::Maximum, rhs)
    }
    /// Elementwise minimum; NaN propagates.
    pub fn minimum<'a>(&self, rhs: impl Into<Operand<'a>>) -> Array {
        self.ufunc2(BinaryOp::Minimum, rhs)
    }
    /// Elementwise maximum ignoring NaN (NaN only where both are NaN).
    pub fn fmax<'a>(&self, rhs: impl Into<Operand<'a>>) -> Array {
        self.ufunc2(BinaryOp::Fmax, rhs)
    }
    /// Elementwise minimum ignoring NaN.
    pub fn fmin<'a>(&self, rhs: impl Into<Operand<'a>>) -> Array {
        self.ufunc2(BinaryOp::Fmin, rhs)
    }
    /// Remainder with the divisor's sign (NumPy's `mod`/`remainder`, Python's `%`).
    pub fn remainder<'a>(&self, rhs: impl Into<Operand<'a>>) -> Array {
        self.ufunc2(BinaryOp::Rem, rhs)
    }
    /// Alias of [`Array::remainder`] (NumPy's `mod`).
    pub fn modulo<'a>(&self, rhs: impl Into<Operand<'a>>) -> Array {
        self.remainder(rhs)
    }
    /// Division rounded down (Python's `//`; int division by zero gives 0).
    pub fn floor_divide<'a>(&self, rhs: impl Into<Operand<'a>>) -> Array {
        self.ufunc2(BinaryOp::FloorDiv, rhs)
    }
    /// `arctan2(self, rhs)`: the angle of the point `(rhs, self)`.
    pub fn arctan2<'a>(&self, rhs: impl Into<Operand<'a>>) -> Array {
        self.ufunc2(BinaryOp::Arctan2, rhs)
    }
    /// `sqrt(self^2 + rhs^2)` without intermediate overflow.
    pub fn hypot<'a>(&self, rhs: impl Into<Operand<'a>>) -> Array {
        self.ufunc2(BinaryOp::Hypot, rhs)
    }
    /// Bitwise and of ints or bools (`&`).
    pub fn bitwise_and<'a>(&self, rhs: impl Into<Operand<'a>>) -> Array {
        self.ufunc2(BinaryOp::BitAnd, rhs)
    }
    /// Bitwise or of ints or bools (`|`).
    pub fn bitwise_or<'a>(&self, rhs: impl Into<Operand<'a>>) -> Array {
        self.ufunc2(BinaryOp::BitOr, rhs)
    }
    /// Bitwise xor of ints or bools (`^`).
    pub fn bitwise_xor<'a>(&self, rhs: impl Into<Operand<'a>>) -> Array {
        self.ufunc2(BinaryOp::BitXor, rhs)
    }

    /// Logical `op` of the truth values of both sides (any dtypes; non-zero is true).
    fn logical<'a>(&self, op: BinaryOp, rhs: impl Into<Operand<'a>>) -> Result<Array> {
        let a = Side::Node(self.node()?.clone());
        let b = Side::of(rhs.into())?;
        let mut inputs = Vec::new();
        let l = exprs(&[&a], DType::Bool, &mut inputs).remove(0);
        let r = exprs(&[&b], DType::Bool, &mut inputs).remove(0);
        let name = match op {
            BinaryOp::BitAnd => "logical_and",
            BinaryOp::BitOr => "logical_or",
            _ => "logical_xor",
        };
        elementwise(
            name,
            Expr::Binary(op, Box::new(l), Box::new(r)),
            &inputs,
            DType::Bool,
        )
    }
    /// Logical and (bool result; any dtypes, non-zero is true).
    pub fn logical_and<'a>(&self, rhs: impl Into<Operand<'a>>) -> Array {
        Array::from_result(self.logical(BinaryOp::BitAnd, rhs))
    }
    /// Logical or.
    pub fn logical_or<'a>(&self, rhs: impl Into<Operand<'a>>) -> Array {
        Array::from_result(self.logical(BinaryOp::BitOr, rhs))
    }
    /// Logical xor.
    pub fn logical_xor<'a>(&self, rhs: impl Into<Operand<'a>>) -> Array {
        Array::from_result(self.logical(BinaryOp::BitXor, rhs))
    }

    /// Limit values to `[min, max]` (NumPy's `clip`: `minimum(maximum(x, min), max)`, so
    /// NaN stays NaN); either bound may be `None`. Bounds promote like any operand.
    pub fn try_clip<'a>(
        &self,
        min: Option<Operand<'a>>,
        max: Option<Operand<'a>>,
    ) -> Result<Array> {
        if min.is_none() && max.is_none() {
            return Err(Error::other("clip needs at least one of min and max"));
        }
        let mut out = self.clone();
        if let Some(lo) = min {
            out = out.try_ufunc2(BinaryOp::Maximum, lo)?;
        }
        if let Some(hi) = max {
            out = out.try_ufunc2(BinaryOp::Minimum, hi)?;
        }
        Ok(out)
    }

    /// [`Array::try_clip`] with both bounds, the error carried by the result.
    pub fn clip<'a>(&self, min: impl Into<Operand<'a>>, max: impl Into<Operand<'a>>) -> Array {
        Array::from_result(self.try_clip(Some(min.into()), Some(max.into())))
    }
}

/// `where(cond, a, b)`: elements of `a` where `cond` is true, else of `b` (NumPy's
/// `where`; a non-bool `cond` is true where non-zero). `a` and `b` are arrays or scalars
/// and promote like a binary operation; all three broadcast together.
pub fn try_where<'a, 'b>(
    cond: &Array,
    a: impl Into<Operand<'a>>,
    b: impl Into<Operand<'b>>,
) -> Result<Array> {
    let c = Side::Node(cond.node()?.clone());
    let (a, b) = (Side::of(a.into())?, Side::of(b.into())?);
    let ct = promote(&a, &b)?;
    let mut inputs = Vec::new();
    let ce = exprs(&[&c], DType::Bool, &mut inputs).remove(0);
    let mut e = exprs(&[&a, &b], ct, &mut inputs).into_iter();
    let (Some(ae), Some(be)) = (e.next(), e.next()) else {
        return Err(Error::other("two choices expected"));
    };
    let expr = Expr::Where(Box::new(ce), Box::new(ae), Box::new(be));
    elementwise("where", expr, &inputs, ct)
}

/// [`try_where`], the error carried by the result.
pub fn where_<'a, 'b>(cond: &Array, a: impl Into<Operand<'a>>, b: impl Into<Operand<'b>>) -> Array {
    Array::from_result(try_where(cond, a, b))
}

// Bitwise operators (`&`, `|`, `^`, `!`) on arrays, and with `i64`/`bool` scalars on the
// right, like the arithmetic operators.
macro_rules! bit_operator {
    ($trait:ident, $method:ident, $op:expr) => {
        impl std::ops::$trait<&Array> for &Array {
            type Output = Array;
            fn $method(self, rhs: &Array) -> Array {
                self.ufunc2($op, rhs)
            }
        }
        impl std::ops::$trait<Array> for Array {
            type Output = Array;
            fn $method(self, rhs: Array) -> Array {
                self.ufunc2($op, &rhs)
            }
        }
        impl std::ops::$trait<&Array> for Array {
            type Output = Array;
            fn $method(self, rhs: &Array) -> Array {
                self.ufunc2($op, rhs)
            }
        }
        impl std::ops::$trait<Array> for &Array {
            type Output = Array;
            fn $method(self, rhs: Array) -> Array {
                self.ufunc2($op, &rhs)
            }
        }
        impl std::ops::$trait<i64> for &Array {
            type Output = Array;
            fn $method(self, rhs: i64) -> Array {
                self.ufunc2($op, rhs)
            }
        }
        impl std::ops::$trait<bool> for &Array {
            type Output = Array;
            fn $method(self, rhs: bool) -> Array {
                self.ufunc2($op, rhs)
            }
        }
    };
}
bit_operator!(BitAnd, bitand, BinaryOp::BitAnd);
bit_operator!(BitOr, bitor, BinaryOp::BitOr);
bit_operator!(BitXor, bitxor, BinaryOp::BitXor);

impl std::ops::Not for &Array {
    type Output = Array;
    fn not(self) -> Array {
        self.invert()
    }
}
impl std::ops::Not for Array {
    type Output = Array;
    fn not(self) -> Array {
        self.invert()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::array::{ones, random};

    #[test]
    fn dtypes_follow_numpy() {
        let i = ones::<i32>(&[4], &[2]);
        let f = ones::<f32>(&[4], &[2]);
        let b = ones::<bool>(&[4], &[2]);
        assert_eq!(i.sin().dtype().unwrap(), DType::F64);
        assert_eq!(f.sin().dtype().unwrap(), DType::F32);
        assert_eq!(b.cos().dtype().unwrap(), DType::F64);
        assert_eq!(i.round(0).dtype().unwrap(), DType::I32);
        assert_eq!(f.isnan().dtype().unwrap(), DType::Bool);
        assert_eq!(i.power(2i64).dtype().unwrap(), DType::I32);
        assert_eq!(i.power(0.5).dtype().unwrap(), DType::F64);
        assert_eq!(i.arctan2(&i).dtype().unwrap(), DType::F64);
        assert_eq!(f.hypot(&f).dtype().unwrap(), DType::F32);
        assert_eq!((&i & 3i64).dtype().unwrap(), DType::I32);
        assert_eq!((&b | &b).dtype().unwrap(), DType::Bool);
        assert_eq!(i.logical_and(&f).dtype().unwrap(), DType::Bool);
        assert_eq!(where_(&b, &i, 2.5).dtype().unwrap(), DType::F64);
        assert_eq!(where_(&b, &f, 2.5).dtype().unwrap(), DType::F32);
        assert_eq!(i.clip(0i64, 3i64).dtype().unwrap(), DType::I32);
        assert_eq!((!&i).dtype().unwrap(), DType::I32);
    }

    #[test]
    fn invalid_ufuncs_are_refused_at_build_time() {
        let i = ones::<i64>(&[4], &[2]);
        let f = random::<f64>(&[4], &[2], 1);
        let b = ones::<bool>(&[4], &[2]);
        let msg = i.power(-1i64).check().unwrap_err().to_string();
        assert!(msg.contains("negative integer powers"), "{msg}");
        assert!(f.power(-1i64).check().is_ok());
        let msg = (&f & &f).check().unwrap_err().to_string();
        assert!(msg.contains("float64"), "{msg}");
        assert!((!&f).check().is_err());
        assert!(b.round(0).check().is_err());
        assert!(b.power(&b).check().is_err());
        assert!(b.remainder(&b).check().is_err());
        let other = ones::<f64>(&[3], &[2]);
        let msg = f.maximum(&other).check().unwrap_err().to_string();
        assert!(msg.contains("[4]") && msg.contains("[3]"), "{msg}");
        assert!(where_(&b, &f, &other).check().is_err());
        assert!(f.try_clip(None, None).is_err());
    }
}
