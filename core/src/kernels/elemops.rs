//! Typed values of an elementwise expression (a scalar or a broadcastable array per dtype)
//! and the unary, binary and cast operators over them, each a whole-array ndarray loop.

use super::dynarray::{DynElement, checked_len, try_full};
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::ops::{BinaryOp, UnaryOp};
use crate::scalar::Scalar;
use ndarray::{ArrayD, CowArray, IxDyn, Zip};

/// The value of one expression node with a known element type: a scalar (broadcasts to
/// anything) or an array, borrowed from an input chunk or owned by this evaluation.
pub(crate) enum TVal<'a, T> {
    Scalar(T),
    Arr(CowArray<'a, T, IxDyn>),
}

/// The value of one expression node, one arm per dtype.
pub(crate) enum Val<'a> {
    Bool(TVal<'a, bool>),
    I32(TVal<'a, i32>),
    I64(TVal<'a, i64>),
    F32(TVal<'a, f32>),
    F64(TVal<'a, f64>),
}

impl<'a> Val<'a> {
    pub(crate) fn dtype(&self) -> DType {
        match self {
            Val::Bool(_) => DType::Bool,
            Val::I32(_) => DType::I32,
            Val::I64(_) => DType::I64,
            Val::F32(_) => DType::F32,
            Val::F64(_) => DType::F64,
        }
    }

    pub(crate) fn scalar(s: Scalar) -> Val<'a> {
        match s {
            Scalar::Bool(v) => Val::Bool(TVal::Scalar(v)),
            Scalar::I32(v) => Val::I32(TVal::Scalar(v)),
            Scalar::I64(v) => Val::I64(TVal::Scalar(v)),
            Scalar::F32(v) => Val::F32(TVal::Scalar(v)),
            Scalar::F64(v) => Val::F64(TVal::Scalar(v)),
        }
    }
}

/// Element types that can be wrapped back into a [`Val`].
pub(crate) trait ValElement: DynElement {
    fn val(t: TVal<'_, Self>) -> Val<'_>;
}

macro_rules! val_element {
    ($t:ty, $v:ident) => {
        impl ValElement for $t {
            fn val(t: TVal<'_, Self>) -> Val<'_> {
                Val::$v(t)
            }
        }
    };
}
val_element!(bool, Bool);
val_element!(i32, I32);
val_element!(i64, I64);
val_element!(f32, F32);
val_element!(f64, F64);

/// NumPy's broadcast shape of two shapes (trailing axes aligned; equal or 1).
pub(crate) fn co_broadcast(a: &[usize], b: &[usize]) -> Result<Vec<usize>> {
    let n = a.len().max(b.len());
    let mut out = vec![0; n];
    for (i, o) in out.iter_mut().enumerate() {
        let da = if i + a.len() >= n {
            a[i + a.len() - n]
        } else {
            1
        };
        let db = if i + b.len() >= n {
            b[i + b.len() - n]
        } else {
            1
        };
        *o = match (da, db) {
            (x, y) if x == y => x,
            (1, y) => y,
            (x, 1) => x,
            _ => {
                return Err(Error::shape(format!(
                    "shapes {a:?} and {b:?} do not broadcast together"
                )));
            }
        };
    }
    Ok(out)
}

/// Materialize a value as an owned array of exactly `shape` (broadcasting it there).
pub(crate) fn materialize<T: DynElement>(t: TVal<'_, T>, shape: &[usize]) -> Result<ArrayD<T>> {
    match t {
        TVal::Scalar(s) => try_full(shape, s),
        TVal::Arr(a) if a.shape() == shape => Ok(a.into_owned()),
        TVal::Arr(a) => {
            let v = a.broadcast(IxDyn(shape)).ok_or_else(|| {
                Error::shape(format!(
                    "elementwise result of shape {:?} does not broadcast to the task's shape {shape:?}",
                    a.shape()
                ))
            })?;
            // Broadcasting grows the data: allocate fallibly (the shape was size-checked,
            // but may still not fit in memory).
            let mut out = try_full(shape, T::default())?;
            out.assign(&v);
            Ok(out)
        }
    }
}

/// Apply `f` to every element, in place when the array is already owned.
pub(crate) fn map_same<'a, T: Copy>(t: TVal<'a, T>, f: impl Fn(T) -> T) -> TVal<'a, T> {
    match t {
        TVal::Scalar(s) => TVal::Scalar(f(s)),
        TVal::Arr(a) if a.is_owned() => {
            let mut a = a.into_owned();
            a.mapv_inplace(f);
            TVal::Arr(a.into())
        }
        TVal::Arr(a) => TVal::Arr(a.mapv(f).into()),
    }
}

/// Apply `f` to every element, producing a new element type.
pub(crate) fn map_new<'a, T: Copy, U>(t: TVal<'a, T>, f: impl Fn(T) -> U) -> TVal<'a, U> {
    match t {
        TVal::Scalar(s) => TVal::Scalar(f(s)),
        TVal::Arr(a) => TVal::Arr(a.mapv(f).into()),
    }
}

/// `f(l, r)` elementwise with broadcasting, writing into an owned operand when it
/// already has the result's shape (so chains of arithmetic reuse one buffer).
pub(crate) fn zip_same<'a, T: Copy + Default>(
    l: TVal<'a, T>,
    r: TVal<'a, T>,
    f: impl Fn(T, T) -> T,
) -> Result<TVal<'a, T>> {
    Ok(match (l, r) {
        (TVal::Scalar(a), TVal::Scalar(b)) => TVal::Scalar(f(a, b)),
        (TVal::Arr(a), TVal::Scalar(b)) => map_same(TVal::Arr(a), |x| f(x, b)),
        (TVal::Scalar(a), TVal::Arr(b)) => map_same(TVal::Arr(b), |y| f(a, y)),
        (TVal::Arr(a), TVal::Arr(b)) => {
            let shape = co_broadcast(a.shape(), b.shape())?;
            if a.is_owned() && a.shape() == shape.as_slice() {
                let mut a = a.into_owned();
                let bv = broadcast_to(&b, &shape)?;
                Zip::from(&mut a).and(&bv).for_each(|x, &y| *x = f(*x, y));
                TVal::Arr(a.into())
            } else if b.is_owned() && b.shape() == shape.as_slice() {
                let mut b = b.into_owned();
                let av = broadcast_to(&a, &shape)?;
                Zip::from(&mut b).and(&av).for_each(|y, &x| *y = f(x, *y));
                TVal::Arr(b.into())
            } else {
                TVal::Arr(zip_collect(&a, &b, &shape, f)?.into())
            }
        }
    })
}

/// `f(a, b)` over both broadcast to `shape`, into a new array. When broadcasting makes the
/// result larger than either operand (an outer product), the allocation is fallible.
fn zip_collect<T: Copy, U: Clone + Default>(
    a: &CowArray<'_, T, IxDyn>,
    b: &CowArray<'_, T, IxDyn>,
    shape: &[usize],
    f: impl Fn(T, T) -> U,
) -> Result<ArrayD<U>> {
    let av = broadcast_to(a, shape)?;
    let bv = broadcast_to(b, shape)?;
    if checked_len(shape)? > a.len().max(b.len()) {
        let mut out = try_full(shape, U::default())?;
        Zip::from(&mut out)
            .and(&av)
            .and(&bv)
            .for_each(|o, &x, &y| *o = f(x, y));
        Ok(out)
    } else {
        Ok(Zip::from(&av).and(&bv).map_collect(|&x, &y| f(x, y)))
    }
}

/// `f(l, r)` elementwise with broadcasting into a new element type.
pub(crate) fn zip_new<'a, T: Copy, U: Clone + Default>(
    l: TVal<'a, T>,
    r: TVal<'a, T>,
    f: impl Fn(T, T) -> U,
) -> Result<TVal<'a, U>> {
    Ok(match (l, r) {
        (TVal::Scalar(a), TVal::Scalar(b)) => TVal::Scalar(f(a, b)),
        (TVal::Arr(a), TVal::Scalar(b)) => TVal::Arr(a.mapv(|x| f(x, b)).into()),
        (TVal::Scalar(a), TVal::Arr(b)) => TVal::Arr(b.mapv(|y| f(a, y)).into()),
        (TVal::Arr(a), TVal::Arr(b)) => {
            let shape = co_broadcast(a.shape(), b.shape())?;
            TVal::Arr(zip_collect(&a, &b, &shape, f)?.into())
        }
    })
}

fn broadcast_to<'b, T>(
    a: &'b CowArray<'_, T, IxDyn>,
    shape: &[usize],
) -> Result<ndarray::ArrayViewD<'b, T>> {
    a.broadcast(IxDyn(shape)).ok_or_else(|| {
        Error::shape(format!(
            "shape {:?} does not broadcast to {shape:?}",
            a.shape()
        ))
    })
}

/// Float-only math, implemented by `f32` and `f64` (computed in their own precision).
trait Float:
    Copy
    + Default
    + std::ops::Neg<Output = Self>
    + std::ops::Add<Output = Self>
    + std::ops::Sub<Output = Self>
    + std::ops::Mul<Output = Self>
    + std::ops::Div<Output = Self>
{
    fn abs(self) -> Self;
    fn sqrt(self) -> Self;
    fn exp(self) -> Self;
    fn ln(self) -> Self;
}

/// Wrapping integer arithmetic, implemented by `i32` and `i64` (NumPy wraps on overflow).
trait Int: Copy + Default {
    fn wadd(self, o: Self) -> Self;
    fn wsub(self, o: Self) -> Self;
    fn wmul(self, o: Self) -> Self;
    fn wneg(self) -> Self;
    fn wabs(self) -> Self;
}

macro_rules! float {
    ($t:ty) => {
        impl Float for $t {
            #[inline(always)]
            fn abs(self) -> Self {
                <$t>::abs(self)
            }
            #[inline(always)]
            fn sqrt(self) -> Self {
                <$t>::sqrt(self)
            }
            #[inline(always)]
            fn exp(self) -> Self {
                <$t>::exp(self)
            }
            #[inline(always)]
            fn ln(self) -> Self {
                <$t>::ln(self)
            }
        }
    };
}
float!(f32);
float!(f64);

macro_rules! int {
    ($t:ty) => {
        impl Int for $t {
            #[inline(always)]
            fn wadd(self, o: Self) -> Self {
                self.wrapping_add(o)
            }
            #[inline(always)]
            fn wsub(self, o: Self) -> Self {
                self.wrapping_sub(o)
            }
            #[inline(always)]
            fn wmul(self, o: Self) -> Self {
                self.wrapping_mul(o)
            }
            #[inline(always)]
            fn wneg(self) -> Self {
                self.wrapping_neg()
            }
            #[inline(always)]
            fn wabs(self) -> Self {
                self.wrapping_abs()
            }
        }
    };
}
int!(i32);
int!(i64);

pub(crate) fn refuse(op: &str, dtype: DType) -> Error {
    Error::dtype(format!("operator {op} is not defined for {dtype}"))
}

/// Apply a binary operator; both sides must have the same dtype.
pub(crate) fn binary<'a>(op: BinaryOp, l: Val<'a>, r: Val<'a>) -> Result<Val<'a>> {
    let (ld, rd) = (l.dtype(), r.dtype());
    if ld != rd {
        return Err(Error::dtype(format!(
            "operands of {} have dtypes {ld} and {rd}; the expression must cast them to one dtype",
            op.symbol()
        )));
    }
    if super::ufuncs::handles_binary(op) {
        return super::ufuncs::binary(op, l, r);
    }
    if op.is_comparison() {
        let out = match (l, r) {
            (Val::Bool(a), Val::Bool(b)) => compare(op, a, b)?,
            (Val::I32(a), Val::I32(b)) => compare(op, a, b)?,
            (Val::I64(a), Val::I64(b)) => compare(op, a, b)?,
            (Val::F32(a), Val::F32(b)) => compare(op, a, b)?,
            (Val::F64(a), Val::F64(b)) => compare(op, a, b)?,
            _ => return Err(Error::dtype("comparison operands differ in dtype")),
        };
        return Ok(Val::Bool(out));
    }
    match (l, r) {
        (Val::Bool(a), Val::Bool(b)) => Ok(Val::Bool(match op {
            BinaryOp::Add => zip_same(a, b, |x, y| x | y)?,
            BinaryOp::Mul => zip_same(a, b, |x, y| x & y)?,
            _ => return Err(refuse(op.symbol(), DType::Bool)),
        })),
        (Val::I32(a), Val::I32(b)) => int_arith(op, a, b, DType::I32).map(Val::I32),
        (Val::I64(a), Val::I64(b)) => int_arith(op, a, b, DType::I64).map(Val::I64),
        (Val::F32(a), Val::F32(b)) => float_arith(op, a, b).map(Val::F32),
        (Val::F64(a), Val::F64(b)) => float_arith(op, a, b).map(Val::F64),
        _ => Err(Error::dtype("arithmetic operands differ in dtype")),
    }
}

fn compare<'a, T: Copy + PartialOrd + Default>(
    op: BinaryOp,
    a: TVal<'a, T>,
    b: TVal<'a, T>,
) -> Result<TVal<'a, bool>> {
    match op {
        BinaryOp::Eq => zip_new(a, b, |x, y| x == y),
        BinaryOp::Ne => zip_new(a, b, |x, y| x != y),
        BinaryOp::Lt => zip_new(a, b, |x, y| x < y),
        BinaryOp::Le => zip_new(a, b, |x, y| x <= y),
        BinaryOp::Gt => zip_new(a, b, |x, y| x > y),
        BinaryOp::Ge => zip_new(a, b, |x, y| x >= y),
        _ => Err(Error::other(format!("{} is not a comparison", op.symbol()))),
    }
}

fn int_arith<'a, T: Int>(
    op: BinaryOp,
    a: TVal<'a, T>,
    b: TVal<'a, T>,
    d: DType,
) -> Result<TVal<'a, T>> {
    match op {
        BinaryOp::Add => zip_same(a, b, T::wadd),
        BinaryOp::Sub => zip_same(a, b, T::wsub),
        BinaryOp::Mul => zip_same(a, b, T::wmul),
        _ => Err(refuse(op.symbol(), d)),
    }
}

fn float_arith<'a, T: Float>(op: BinaryOp, a: TVal<'a, T>, b: TVal<'a, T>) -> Result<TVal<'a, T>> {
    match op {
        BinaryOp::Add => zip_same(a, b, |x, y| x + y),
        BinaryOp::Sub => zip_same(a, b, |x, y| x - y),
        BinaryOp::Mul => zip_same(a, b, |x, y| x * y),
        BinaryOp::Div => zip_same(a, b, |x, y| x / y),
        _ => Err(Error::other(format!("{} is not arithmetic", op.symbol()))),
    }
}

/// Apply a unary function (see [`UnaryOp`] for which dtypes each accepts).
pub(crate) fn unary(op: UnaryOp, v: Val<'_>) -> Result<Val<'_>> {
    if super::ufuncs::handles_unary(op) {
        return super::ufuncs::unary(op, v);
    }
    let d = v.dtype();
    let refuse = || refuse(op.name(), d);
    Ok(match v {
        Val::Bool(a) => match op {
            UnaryOp::Not => Val::Bool(map_same(a, |x| !x)),
            UnaryOp::Abs => Val::Bool(a),
            _ => return Err(refuse()),
        },
        Val::I32(a) => Val::I32(int_unary(op, a).ok_or_else(refuse)?),
        Val::I64(a) => Val::I64(int_unary(op, a).ok_or_else(refuse)?),
        Val::F32(a) => Val::F32(float_unary(op, a).ok_or_else(refuse)?),
        Val::F64(a) => Val::F64(float_unary(op, a).ok_or_else(refuse)?),
    })
}

fn int_unary<T: Int>(op: UnaryOp, a: TVal<'_, T>) -> Option<TVal<'_, T>> {
    match op {
        UnaryOp::Neg => Some(map_same(a, T::wneg)),
        UnaryOp::Abs => Some(map_same(a, T::wabs)),
        _ => None,
    }
}

fn float_unary<T: Float>(op: UnaryOp, a: TVal<'_, T>) -> Option<TVal<'_, T>> {
    Some(match op {
        UnaryOp::Neg => map_same(a, |x| -x),
        UnaryOp::Abs => map_same(a, T::abs),
        UnaryOp::Sqrt => map_same(a, T::sqrt),
        UnaryOp::Exp => map_same(a, T::exp),
        UnaryOp::Log => map_same(a, T::ln),
        _ => return None,
    })
}

/// Cast to `dtype` like NumPy's `astype` (see [`Cast`]); free when the dtype is unchanged.
pub(crate) fn cast(v: Val<'_>, dtype: DType) -> Val<'_> {
    match v {
        Val::Bool(a) => cast_t(a, dtype),
        Val::I32(a) => cast_t(a, dtype),
        Val::I64(a) => cast_t(a, dtype),
        Val::F32(a) => cast_t(a, dtype),
        Val::F64(a) => cast_t(a, dtype),
    }
}

fn cast_t<T: ValElement>(a: TVal<'_, T>, dtype: DType) -> Val<'_> {
    if T::DTYPE == dtype {
        return T::val(a);
    }
    match dtype {
        DType::Bool => Val::Bool(map_new(a, T::to_bool)),
        DType::I32 => Val::I32(map_new(a, T::to_i32)),
        DType::I64 => Val::I64(map_new(a, T::to_i64)),
        DType::F32 => Val::F32(map_new(a, T::to_f32)),
        DType::F64 => Val::F64(map_new(a, T::to_f64)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broadcast_shapes_follow_numpy() {
        assert_eq!(co_broadcast(&[3, 1], &[4]).unwrap(), vec![3, 4]);
        assert_eq!(co_broadcast(&[], &[2, 0]).unwrap(), vec![2, 0]);
        assert_eq!(co_broadcast(&[1, 0], &[5, 1]).unwrap(), vec![5, 0]);
        assert_eq!(co_broadcast(&[2, 1, 3], &[4, 1]).unwrap(), vec![2, 4, 3]);
        assert!(co_broadcast(&[3], &[4]).is_err());
        assert!(co_broadcast(&[2, 0], &[2, 3]).is_err());
    }

    #[test]
    fn owned_operands_are_reused_in_place() {
        let a: CowArray<'_, f64, IxDyn> = ArrayD::from_elem(IxDyn(&[2, 3]), 1.0).into();
        let ptr = a.as_ptr();
        let b = ArrayD::from_elem(IxDyn(&[3]), 2.0);
        let TVal::Arr(out) =
            zip_same(TVal::Arr(a), TVal::Arr(b.view().into()), |x, y| x + y).unwrap()
        else {
            panic!("expected an array")
        };
        assert_eq!(out.as_ptr(), ptr);
        assert!(out.iter().all(|&x| x == 3.0));
    }
}
