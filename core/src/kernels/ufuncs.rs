//! NumPy's remaining ufuncs over expression values: trigonometry, rounding, predicates,
//! power, NaN-aware extrema, Python-style remainder and floor division, bitwise ops, `where`.

use super::elemops::{TVal, Val, co_broadcast, map_new, map_same, refuse, zip_same};
use crate::error::{Error, Result};
use crate::ops::{BinaryOp, UnaryOp};
use ndarray::{ArrayD, CowArray, IxDyn, Zip};

/// Whether [`unary`] (rather than the arithmetic core in `elemops`) implements `op`.
pub(crate) fn handles_unary(op: UnaryOp) -> bool {
    !matches!(
        op,
        UnaryOp::Neg | UnaryOp::Abs | UnaryOp::Sqrt | UnaryOp::Exp | UnaryOp::Log | UnaryOp::Not
    )
}

/// Whether [`binary`] implements `op`.
pub(crate) fn handles_binary(op: BinaryOp) -> bool {
    use BinaryOp::*;
    matches!(
        op,
        Pow | Maximum
            | Minimum
            | Fmax
            | Fmin
            | Rem
            | FloorDiv
            | Arctan2
            | Hypot
            | BitAnd
            | BitOr
            | BitXor
    )
}

/// Float math of the ufuncs, computed in the type's own precision.
trait UFloat: Copy + Default + PartialOrd + 'static {
    fn un(op: UnaryOp, x: Self) -> Self;
    fn bin(op: BinaryOp, a: Self, b: Self) -> Self;
    fn is_nan(self) -> bool;
    fn is_inf(self) -> bool;
}

macro_rules! ufloat {
    ($t:ty) => {
        impl UFloat for $t {
            #[inline(always)]
            fn un(op: UnaryOp, x: $t) -> $t {
                match op {
                    UnaryOp::Sin => x.sin(),
                    UnaryOp::Cos => x.cos(),
                    UnaryOp::Tan => x.tan(),
                    UnaryOp::Arcsin => x.asin(),
                    UnaryOp::Arccos => x.acos(),
                    UnaryOp::Arctan => x.atan(),
                    UnaryOp::Sinh => x.sinh(),
                    UnaryOp::Cosh => x.cosh(),
                    UnaryOp::Tanh => x.tanh(),
                    UnaryOp::Floor => x.floor(),
                    UnaryOp::Ceil => x.ceil(),
                    UnaryOp::Trunc => x.trunc(),
                    UnaryOp::Round(d) => round_float(x as f64, d, |v| v as $t as f64) as $t,
                    UnaryOp::Sign => {
                        if x > 0.0 {
                            1.0
                        } else if x < 0.0 {
                            -1.0
                        } else if x == 0.0 {
                            0.0
                        } else {
                            x
                        }
                    }
                    UnaryOp::Exp2 => x.exp2(),
                    UnaryOp::Log2 => x.log2(),
                    UnaryOp::Log10 => x.log10(),
                    UnaryOp::Log1p => x.ln_1p(),
                    UnaryOp::Expm1 => x.exp_m1(),
                    UnaryOp::Square => x * x,
                    UnaryOp::Reciprocal => 1.0 / x,
                    _ => <$t>::NAN,
                }
            }
            #[inline(always)]
            fn bin(op: BinaryOp, a: $t, b: $t) -> $t {
                match op {
                    BinaryOp::Pow => a.powf(b),
                    BinaryOp::Maximum => {
                        if a.is_nan() || a >= b {
                            a
                        } else {
                            b
                        }
                    }
                    BinaryOp::Minimum => {
                        if a.is_nan() || a <= b {
                            a
                        } else {
                            b
                        }
                    }
                    BinaryOp::Fmax => {
                        if b.is_nan() || a >= b {
                            a
                        } else {
                            b
                        }
                    }
                    BinaryOp::Fmin => {
                        if b.is_nan() || a <= b {
                            a
                        } else {
                            b
                        }
                    }
                    BinaryOp::Rem => {
                        let m = a % b;
                        if m != 0.0 {
                            if (b < 0.0) != (m < 0.0) { m + b } else { m }
                        } else {
                            (0.0 as $t).copysign(b)
                        }
                    }
                    BinaryOp::FloorDiv => {
                        if b == 0.0 {
                            return a / b;
                        }
                        // NumPy's npy_divmod: exact for every finite pair.
                        let m = a % b;
                        let mut div = (a - m) / b;
                        if m != 0.0 && (b < 0.0) != (m < 0.0) {
                            div -= 1.0;
                        }
                        if div != 0.0 {
                            let mut f = div.floor();
                            if div - f > 0.5 {
                                f += 1.0;
                            }
                            f
                        } else {
                            (0.0 as $t).copysign(a / b)
                        }
                    }
                    BinaryOp::Arctan2 => a.atan2(b),
                    BinaryOp::Hypot => a.hypot(b),
                    _ => <$t>::NAN,
                }
            }
            #[inline(always)]
            fn is_nan(self) -> bool {
                <$t>::is_nan(self)
            }
            #[inline(always)]
            fn is_inf(self) -> bool {
                <$t>::is_infinite(self)
            }
        }
    };
}
ufloat!(f32);
ufloat!(f64);

/// NumPy's `round`: scale by `10^decimals`, round halves to even, scale back. `narrow`
/// rounds an intermediate to the element type, so `f32` matches NumPy's float32 loop.
fn round_float(x: f64, decimals: i32, narrow: impl Fn(f64) -> f64) -> f64 {
    if decimals >= 0 {
        let f = narrow(10f64.powi(decimals));
        let y = narrow(x * f);
        narrow(y.round_ties_even()) / f
    } else {
        let f = narrow(10f64.powi(-decimals));
        let y = narrow(x / f);
        narrow(y.round_ties_even()) * f
    }
}

/// Integer math of the ufuncs (wrapping, like NumPy), implemented by `i32` and `i64`.
trait UInt: Copy + Default + Ord + 'static {
    fn un(op: UnaryOp, x: Self) -> Self;
    fn bin(op: BinaryOp, a: Self, b: Self) -> Self;
    fn is_negative(self) -> bool;
}

macro_rules! uint {
    ($t:ty) => {
        impl UInt for $t {
            #[inline(always)]
            fn un(op: UnaryOp, x: $t) -> $t {
                match op {
                    UnaryOp::Round(d) if d < 0 => round_int(x as i128, d) as $t,
                    UnaryOp::Round(_) => x,
                    UnaryOp::Sign => x.signum(),
                    UnaryOp::Square => x.wrapping_mul(x),
                    UnaryOp::Reciprocal => match x {
                        1 => 1,
                        -1 => -1,
                        _ => 0,
                    },
                    UnaryOp::Invert => !x,
                    _ => 0,
                }
            }
            #[inline(always)]
            fn bin(op: BinaryOp, a: $t, b: $t) -> $t {
                match op {
                    BinaryOp::Pow => {
                        // Exponents were checked non-negative; square-and-multiply, wrapping.
                        let (mut base, mut e, mut acc) = (a, b as u64, 1 as $t);
                        while e > 0 {
                            if e & 1 == 1 {
                                acc = acc.wrapping_mul(base);
                            }
                            base = base.wrapping_mul(base);
                            e >>= 1;
                        }
                        acc
                    }
                    BinaryOp::Maximum | BinaryOp::Fmax => a.max(b),
                    BinaryOp::Minimum | BinaryOp::Fmin => a.min(b),
                    BinaryOp::Rem => {
                        if b == 0 {
                            return 0;
                        }
                        let r = a.wrapping_rem(b);
                        if r != 0 && ((r < 0) != (b < 0)) {
                            r + b
                        } else {
                            r
                        }
                    }
                    BinaryOp::FloorDiv => {
                        if b == 0 {
                            return 0;
                        }
                        let q = a.wrapping_div(b);
                        if a.wrapping_rem(b) != 0 && ((a < 0) != (b < 0)) {
                            q - 1
                        } else {
                            q
                        }
                    }
                    BinaryOp::BitAnd => a & b,
                    BinaryOp::BitOr => a | b,
                    BinaryOp::BitXor => a ^ b,
                    _ => 0,
                }
            }
            #[inline(always)]
            fn is_negative(self) -> bool {
                self < 0
            }
        }
    };
}
uint!(i32);
uint!(i64);

/// Round an integer to a negative number of decimals (to tens, hundreds, ...), halves to
/// even; a power of ten beyond the type's range rounds everything to 0.
fn round_int(x: i128, decimals: i32) -> i128 {
    let Some(f) = 10i128
        .checked_pow(decimals.unsigned_abs())
        .filter(|&f| f <= 1 << 64)
    else {
        return 0;
    };
    let q = x.div_euclid(f);
    let r = x.rem_euclid(f);
    let q = if 2 * r > f || (2 * r == f && q % 2 != 0) {
        q + 1
    } else {
        q
    };
    q * f
}

fn float_only(op: UnaryOp) -> bool {
    !matches!(
        op,
        UnaryOp::Round(_)
            | UnaryOp::Sign
            | UnaryOp::Square
            | UnaryOp::Reciprocal
            | UnaryOp::Invert
            | UnaryOp::IsNan
            | UnaryOp::IsInf
            | UnaryOp::IsFinite
    )
}

/// Apply one of the ufuncs of [`handles_unary`] (see [`UnaryOp`] for the dtypes each takes).
pub(crate) fn unary(op: UnaryOp, v: Val<'_>) -> Result<Val<'_>> {
    let d = v.dtype();
    if op.is_predicate() {
        return Ok(Val::Bool(match v {
            Val::F32(a) => float_predicate(op, a),
            Val::F64(a) => float_predicate(op, a),
            Val::Bool(a) => map_new(a, move |_| op == UnaryOp::IsFinite),
            Val::I32(a) => map_new(a, move |_| op == UnaryOp::IsFinite),
            Val::I64(a) => map_new(a, move |_| op == UnaryOp::IsFinite),
        }));
    }
    Ok(match v {
        Val::F32(a) if op != UnaryOp::Invert => Val::F32(map_same(a, move |x| f32::un(op, x))),
        Val::F64(a) if op != UnaryOp::Invert => Val::F64(map_same(a, move |x| f64::un(op, x))),
        Val::I32(a) if !float_only(op) => Val::I32(map_same(a, move |x| i32::un(op, x))),
        Val::I64(a) if !float_only(op) => Val::I64(map_same(a, move |x| i64::un(op, x))),
        Val::Bool(a) if op == UnaryOp::Invert => Val::Bool(map_same(a, |x| !x)),
        _ => return Err(refuse(op.name(), d)),
    })
}

fn float_predicate<T: UFloat>(op: UnaryOp, a: TVal<'_, T>) -> TVal<'_, bool> {
    match op {
        UnaryOp::IsNan => map_new(a, T::is_nan),
        UnaryOp::IsInf => map_new(a, T::is_inf),
        _ => map_new(a, |x: T| !x.is_nan() && !x.is_inf()),
    }
}

/// Apply one of the binary ufuncs of [`handles_binary`]; both sides share a dtype.
pub(crate) fn binary<'a>(op: BinaryOp, l: Val<'a>, r: Val<'a>) -> Result<Val<'a>> {
    use BinaryOp::*;
    let d = l.dtype();
    let bitwise = matches!(op, BitAnd | BitOr | BitXor);
    let float_only = matches!(op, Arctan2 | Hypot);
    Ok(match (l, r) {
        (Val::F32(a), Val::F32(b)) if !bitwise => {
            Val::F32(zip_same(a, b, move |x, y| f32::bin(op, x, y))?)
        }
        (Val::F64(a), Val::F64(b)) if !bitwise => {
            Val::F64(zip_same(a, b, move |x, y| f64::bin(op, x, y))?)
        }
        (Val::I32(a), Val::I32(b)) if !float_only => Val::I32(int_binary(op, a, b)?),
        (Val::I64(a), Val::I64(b)) if !float_only => Val::I64(int_binary(op, a, b)?),
        (Val::Bool(a), Val::Bool(b)) => Val::Bool(match op {
            Maximum | Fmax | BitOr => zip_same(a, b, |x, y| x | y)?,
            Minimum | Fmin | BitAnd => zip_same(a, b, |x, y| x & y)?,
            BitXor => zip_same(a, b, |x, y| x ^ y)?,
            _ => return Err(refuse(op.symbol(), d)),
        }),
        (l, r) if l.dtype() != r.dtype() => {
            return Err(Error::dtype(format!(
                "operands of {} have dtypes {} and {}",
                op.symbol(),
                l.dtype(),
                r.dtype()
            )));
        }
        _ => return Err(refuse(op.symbol(), d)),
    })
}

fn int_binary<'a, T: UInt>(op: BinaryOp, a: TVal<'a, T>, b: TVal<'a, T>) -> Result<TVal<'a, T>> {
    let empty = match (&a, &b) {
        (TVal::Arr(x), TVal::Arr(y)) => co_broadcast(x.shape(), y.shape())?.contains(&0),
        (TVal::Arr(x), _) | (_, TVal::Arr(x)) => x.is_empty(),
        _ => false,
    };
    if op == BinaryOp::Pow && !empty {
        let negative = match &b {
            TVal::Scalar(e) => e.is_negative(),
            TVal::Arr(e) => e.iter().any(|e| e.is_negative()),
        };
        if negative {
            return Err(Error::dtype(
                "Integers to negative integer powers are not allowed (power of an integer array)",
            ));
        }
    }
    zip_same(a, b, move |x, y| T::bin(op, x, y))
}

/// A value as an array (a scalar becomes 0-d), for three-way broadcasting.
fn as_array<T: Clone>(t: TVal<'_, T>) -> CowArray<'_, T, IxDyn> {
    match t {
        TVal::Scalar(s) => ArrayD::from_elem(IxDyn(&[]), s).into(),
        TVal::Arr(a) => a,
    }
}

fn where_t<'a, T: Copy>(c: TVal<'a, bool>, a: TVal<'a, T>, b: TVal<'a, T>) -> Result<TVal<'a, T>> {
    if let (TVal::Scalar(c), TVal::Scalar(x), TVal::Scalar(y)) = (&c, &a, &b) {
        return Ok(TVal::Scalar(if *c { *x } else { *y }));
    }
    let (c, a, b) = (as_array(c), as_array(a), as_array(b));
    let shape = co_broadcast(&co_broadcast(c.shape(), a.shape())?, b.shape())?;
    let view = |s: &[usize]| {
        Error::shape(format!(
            "where: shape {s:?} does not broadcast to {shape:?}"
        ))
    };
    let cv = c.broadcast(IxDyn(&shape)).ok_or_else(|| view(c.shape()))?;
    let av = a.broadcast(IxDyn(&shape)).ok_or_else(|| view(a.shape()))?;
    let bv = b.broadcast(IxDyn(&shape)).ok_or_else(|| view(b.shape()))?;
    let out = Zip::from(&cv)
        .and(&av)
        .and(&bv)
        .map_collect(|&c, &x, &y| if c { x } else { y });
    Ok(TVal::Arr(out.into()))
}

/// `where(cond, a, b)`: `cond` must be bool, `a` and `b` of one dtype.
pub(crate) fn where_<'a>(c: Val<'a>, a: Val<'a>, b: Val<'a>) -> Result<Val<'a>> {
    let Val::Bool(c) = c else {
        return Err(Error::dtype(format!(
            "where needs a bool condition, got {}",
            c.dtype()
        )));
    };
    Ok(match (a, b) {
        (Val::Bool(x), Val::Bool(y)) => Val::Bool(where_t(c, x, y)?),
        (Val::I32(x), Val::I32(y)) => Val::I32(where_t(c, x, y)?),
        (Val::I64(x), Val::I64(y)) => Val::I64(where_t(c, x, y)?),
        (Val::F32(x), Val::F32(y)) => Val::F32(where_t(c, x, y)?),
        (Val::F64(x), Val::F64(y)) => Val::F64(where_t(c, x, y)?),
        (x, y) => {
            return Err(Error::dtype(format!(
                "where: the two choices have dtypes {} and {}; they must share one",
                x.dtype(),
                y.dtype()
            )));
        }
    })
}

#[cfg(test)]
#[path = "ufuncs_tests.rs"]
mod tests;
