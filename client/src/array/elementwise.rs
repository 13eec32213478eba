//! Elementwise operations: arithmetic, comparisons and unary functions with NumPy's
//! broadcasting and type promotion, checked when built, and Rust's operator traits.

use super::rechunk::rechunk_node;
use super::{Array, Node, NodeKind};
use std::sync::Arc;
use tessera_core::key::Tokenizer;
use tessera_core::ops::{BinaryOp, Expr, UnaryOp};
use tessera_core::{DType, Error, Result, Scalar};

/// The right-hand side of a binary operation: another array or a scalar.
pub enum Operand<'a> {
    /// An array.
    Array(&'a Array),
    /// A scalar. `f64` and `i64` values are Python-style "weak" literals: the array's
    /// dtype wins unless the scalar is of a higher kind (NEP 50). `f32`, `i32` and `bool`
    /// values are typed and promote like a 0-d array of their dtype.
    Scalar(Scalar),
}

impl<'a> From<&'a Array> for Operand<'a> {
    fn from(a: &'a Array) -> Self {
        Operand::Array(a)
    }
}

macro_rules! scalar_operand {
    ($($t:ty),*) => {$(
        impl From<$t> for Operand<'_> {
            fn from(v: $t) -> Self {
                Operand::Scalar(Scalar::from(v))
            }
        }
    )*};
}
scalar_operand!(f64, f32, i64, i32, bool);

/// NumPy's broadcast of several shapes, or an error naming them.
pub fn broadcast_shapes(shapes: &[&[usize]]) -> Result<Vec<usize>> {
    let n = shapes.iter().map(|s| s.len()).max().unwrap_or(0);
    let mut out = vec![1usize; n];
    for shape in shapes {
        let pad = n - shape.len();
        for (i, &d) in shape.iter().enumerate() {
            let o = &mut out[pad + i];
            if *o == 1 {
                *o = d;
            } else if d != 1 && d != *o {
                return Err(Error::shape(format!(
                    "operands could not be broadcast together with shapes {}",
                    shapes
                        .iter()
                        .map(|s| format!("{s:?}"))
                        .collect::<Vec<_>>()
                        .join(" ")
                )));
            }
        }
    }
    Ok(out)
}

fn op_group(op: BinaryOp) -> &'static str {
    match op {
        BinaryOp::Add => "add",
        BinaryOp::Sub => "sub",
        BinaryOp::Mul => "mul",
        BinaryOp::Div => "truediv",
        BinaryOp::Eq => "eq",
        BinaryOp::Ne => "ne",
        BinaryOp::Lt => "lt",
        BinaryOp::Le => "le",
        BinaryOp::Gt => "gt",
        BinaryOp::Ge => "ge",
        other => other.symbol(),
    }
}

/// The dtype a binary op computes in and the dtype of its result.
fn binary_dtypes(op: BinaryOp, compute: DType) -> Result<(DType, DType)> {
    let compute = match op {
        BinaryOp::Div if !compute.is_float() => DType::F64,
        BinaryOp::Sub if compute == DType::Bool => {
            return Err(Error::dtype(
                "numpy boolean subtract, the `-` operator, is not supported; use logical operators",
            ));
        }
        _ => compute,
    };
    let result = if op.is_comparison() {
        DType::Bool
    } else {
        compute
    };
    Ok((compute, result))
}

pub(super) fn cast_to(expr: Expr, from: DType, to: DType) -> Expr {
    if from == to {
        expr
    } else {
        Expr::Cast(to, Box::new(expr))
    }
}

pub(super) fn weak_scalar(s: Scalar, array: DType) -> Result<DType> {
    let ct = s.weak_result(array);
    if ct == DType::I32
        && let Scalar::I64(v) = s
        && i32::try_from(v).is_err()
    {
        return Err(Error::dtype(format!(
            "Python integer {v} out of bounds for int32"
        )));
    }
    Ok(ct)
}

/// Build an elementwise node over `inputs` (aligning their chunks) with `expr`.
pub(super) fn elementwise(
    group: &str,
    expr: Expr,
    inputs: &[Arc<Node>],
    dtype: DType,
) -> Result<Array> {
    let shapes: Vec<&[usize]> = inputs.iter().map(|n| n.shape.as_slice()).collect();
    let shape = broadcast_shapes(&shapes)?;
    let ndim = shape.len();
    // Output chunks per axis: from the first input that spans the axis.
    let mut grid: Vec<Vec<usize>> = Vec::with_capacity(ndim);
    for (axis, &d) in shape.iter().enumerate() {
        let chosen = inputs.iter().find_map(|n| {
            let pad = ndim - n.shape.len();
            (axis >= pad && n.shape[axis - pad] == d).then(|| n.chunks[axis - pad].clone())
        });
        grid.push(chosen.unwrap_or_else(|| vec![d]));
    }
    // Broadcasting can multiply sizes: (2^40, 1) + (1, 2^40) must be refused, not wrapped.
    super::chunks::validate_grid(&shape, &grid)?;
    // Inputs that span an axis with other chunk boundaries are rechunked to match.
    let mut aligned = Vec::with_capacity(inputs.len());
    for n in inputs {
        let pad = ndim - n.shape.len();
        let target: Vec<Vec<usize>> = (0..n.shape.len())
            .map(|a| {
                if n.shape[a] == shape[a + pad] {
                    grid[a + pad].clone()
                } else {
                    n.chunks[a].clone()
                }
            })
            .collect();
        aligned.push(if target == n.chunks {
            n.clone()
        } else {
            rechunk_node(n, target)?
        });
    }
    let mut token = Tokenizer::new(group)
        .value(&expr)
        .value(&shape)
        .value(&grid);
    for n in &aligned {
        token = token.str(&n.name);
    }
    Ok(Array::from_node(Node {
        name: token.finish(),
        shape,
        chunks: grid,
        dtype,
        kind: NodeKind::Elementwise {
            expr,
            inputs: aligned,
        },
    }))
}

impl Array {
    /// `self <op> rhs`, returning a build error at once.
    pub fn try_binary<'a>(&self, op: BinaryOp, rhs: impl Into<Operand<'a>>) -> Result<Array> {
        if super::ufuncs::is_ufunc(op) {
            return self.try_ufunc2(op, rhs);
        }
        let lhs = self.node()?;
        match rhs.into() {
            Operand::Array(r) => {
                let rhs = r.node()?;
                let (ct, rt) = binary_dtypes(op, DType::promote(lhs.dtype, rhs.dtype))?;
                let expr = Expr::Binary(
                    op,
                    Box::new(cast_to(Expr::Input(0), lhs.dtype, ct)),
                    Box::new(cast_to(Expr::Input(1), rhs.dtype, ct)),
                );
                elementwise(op_group(op), expr, &[lhs.clone(), rhs.clone()], rt)
            }
            Operand::Scalar(s) => self.scalar_op(op, s, false),
        }
    }

    /// `s <op> self` with a scalar on the left (`2.0 - x`).
    pub fn try_binary_reflected(&self, op: BinaryOp, s: Scalar) -> Result<Array> {
        self.scalar_op(op, s, true)
    }

    fn scalar_op(&self, op: BinaryOp, s: Scalar, scalar_left: bool) -> Result<Array> {
        let node = self.node()?;
        // `f64` and `i64` scalars are Python-style literals (weak, NEP 50); explicitly typed
        // `f32`, `i32` and `bool` scalars promote like arrays of their dtype.
        let operand = match s {
            Scalar::F64(_) | Scalar::I64(_) => weak_scalar(s, node.dtype)?,
            typed => DType::promote(node.dtype, typed.dtype()),
        };
        let (ct, rt) = binary_dtypes(op, operand)?;
        let a = Box::new(cast_to(Expr::Input(0), node.dtype, ct));
        let b = Box::new(Expr::Scalar(s.cast(ct)));
        let expr = if scalar_left {
            Expr::Binary(op, b, a)
        } else {
            Expr::Binary(op, a, b)
        };
        elementwise(op_group(op), expr, std::slice::from_ref(node), rt)
    }

    fn binary<'a>(&self, op: BinaryOp, rhs: impl Into<Operand<'a>>) -> Array {
        Array::from_result(self.try_binary(op, rhs))
    }

    /// Elementwise `==` (result is bool).
    pub fn eq<'a>(&self, rhs: impl Into<Operand<'a>>) -> Array {
        self.binary(BinaryOp::Eq, rhs)
    }
    /// Elementwise `!=`.
    pub fn ne<'a>(&self, rhs: impl Into<Operand<'a>>) -> Array {
        self.binary(BinaryOp::Ne, rhs)
    }
    /// Elementwise `<`.
    pub fn lt<'a>(&self, rhs: impl Into<Operand<'a>>) -> Array {
        self.binary(BinaryOp::Lt, rhs)
    }
    /// Elementwise `<=`.
    pub fn le<'a>(&self, rhs: impl Into<Operand<'a>>) -> Array {
        self.binary(BinaryOp::Le, rhs)
    }
    /// Elementwise `>`.
    pub fn gt<'a>(&self, rhs: impl Into<Operand<'a>>) -> Array {
        self.binary(BinaryOp::Gt, rhs)
    }
    /// Elementwise `>=`.
    pub fn ge<'a>(&self, rhs: impl Into<Operand<'a>>) -> Array {
        self.binary(BinaryOp::Ge, rhs)
    }

    /// Apply a unary function, returning a build error at once.
    pub fn try_unary(&self, op: UnaryOp) -> Result<Array> {
        let node = self.node()?;
        let (ct, group) = match op {
            UnaryOp::Neg if node.dtype == DType::Bool => {
                return Err(Error::dtype(
                    "the numpy boolean negative, the `-` operator, is not supported; use logical not",
                ));
            }
            UnaryOp::Not if node.dtype != DType::Bool => {
                return Err(Error::dtype(format!(
                    "logical not needs bool, got {}",
                    node.dtype
                )));
            }
            UnaryOp::Neg => (node.dtype, "neg"),
            UnaryOp::Abs => (node.dtype, "abs"),
            UnaryOp::Not => (node.dtype, "invert"),
            UnaryOp::Sqrt => (node.dtype.float_result(), "sqrt"),
            UnaryOp::Exp => (node.dtype.float_result(), "exp"),
            UnaryOp::Log => (node.dtype.float_result(), "log"),
            // The other ufuncs live in `ufuncs.rs`, with their own dtype rules.
            other => return self.try_ufunc(other),
        };
        let expr = Expr::Unary(op, Box::new(cast_to(Expr::Input(0), node.dtype, ct)));
        elementwise(group, expr, std::slice::from_ref(node), ct)
    }

    /// Absolute value.
    pub fn abs(&self) -> Array {
        Array::from_result(self.try_unary(UnaryOp::Abs))
    }
    /// Square root (ints become `float64`).
    pub fn sqrt(&self) -> Array {
        Array::from_result(self.try_unary(UnaryOp::Sqrt))
    }
    /// `e` to the power of each element.
    pub fn exp(&self) -> Array {
        Array::from_result(self.try_unary(UnaryOp::Exp))
    }
    /// Natural logarithm.
    pub fn log(&self) -> Array {
        Array::from_result(self.try_unary(UnaryOp::Log))
    }
    /// Logical not of a bool array.
    pub fn logical_not(&self) -> Array {
        Array::from_result(self.try_unary(UnaryOp::Not))
    }

    /// Cast to another dtype (NumPy's `astype`: floats to ints truncate toward zero).
    pub fn astype(&self, dtype: DType) -> Array {
        Array::from_result((|| {
            let node = self.node()?;
            if node.dtype == dtype {
                return Ok(self.clone());
            }
            let expr = Expr::Cast(dtype, Box::new(Expr::Input(0)));
            elementwise("astype", expr, std::slice::from_ref(node), dtype)
        })())
    }
}

// Operators take `f64` and `i64` scalars only, so that literals (`x * 2.0`, `x + 1`)
// infer without annotations; scalars are "weak", so `f32_array * 2.0` stays `float32`.
macro_rules! binary_operator {
    ($trait:ident, $method:ident, $op:expr) => {
        impl std::ops::$trait<&Array> for &Array {
            type Output = Array;
            fn $method(self, rhs: &Array) -> Array {
                self.binary($op, rhs)
            }
        }
        impl std::ops::$trait<Array> for Array {
            type Output = Array;
            fn $method(self, rhs: Array) -> Array {
                self.binary($op, &rhs)
            }
        }
        impl std::ops::$trait<&Array> for Array {
            type Output = Array;
            fn $method(self, rhs: &Array) -> Array {
                self.binary($op, rhs)
            }
        }
        impl std::ops::$trait<Array> for &Array {
            type Output = Array;
            fn $method(self, rhs: Array) -> Array {
                self.binary($op, &rhs)
            }
        }
        binary_operator!(@scalars $trait, $method, $op, f64, i64);
    };
    (@scalars $trait:ident, $method:ident, $op:expr, $($t:ty),*) => {$(
        impl std::ops::$trait<$t> for &Array {
            type Output = Array;
            fn $method(self, rhs: $t) -> Array {
                self.binary($op, rhs)
            }
        }
        impl std::ops::$trait<$t> for Array {
            type Output = Array;
            fn $method(self, rhs: $t) -> Array {
                self.binary($op, rhs)
            }
        }
        impl std::ops::$trait<&Array> for $t {
            type Output = Array;
            fn $method(self, rhs: &Array) -> Array {
                Array::from_result(rhs.try_binary_reflected($op, Scalar::from(self)))
            }
        }
        impl std::ops::$trait<Array> for $t {
            type Output = Array;
            fn $method(self, rhs: Array) -> Array {
                Array::from_result(rhs.try_binary_reflected($op, Scalar::from(self)))
            }
        }
    )*};
}
binary_operator!(Add, add, BinaryOp::Add);
binary_operator!(Sub, sub, BinaryOp::Sub);
binary_operator!(Mul, mul, BinaryOp::Mul);
binary_operator!(Div, div, BinaryOp::Div);

impl std::ops::Neg for &Array {
    type Output = Array;
    fn neg(self) -> Array {
        Array::from_result(self.try_unary(UnaryOp::Neg))
    }
}
impl std::ops::Neg for Array {
    type Output = Array;
    fn neg(self) -> Array {
        -&self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::array::{ones, random, zeros};

    #[test]
    fn broadcasting_follows_numpy_and_names_shapes() {
        assert_eq!(broadcast_shapes(&[&[3, 1], &[4]]).unwrap(), vec![3, 4]);
        assert_eq!(broadcast_shapes(&[&[], &[2, 2]]).unwrap(), vec![2, 2]);
        let e = broadcast_shapes(&[&[3, 2], &[3]]).unwrap_err().to_string();
        assert!(e.contains("[3, 2]") && e.contains("[3]"), "{e}");
    }

    #[test]
    fn errors_appear_at_build_time() {
        let a = random::<f64>(&[4, 3], &[2, 2], 1);
        let b = random::<f64>(&[4, 2], &[2, 2], 1);
        let c = &a + &b;
        let msg = c.check().unwrap_err().to_string();
        assert!(msg.contains("[4, 3]") && msg.contains("[4, 2]"), "{msg}");
        // The error survives further operations.
        assert!((&c * 2.0).sum().check().is_err());
        assert!((-&ones::<bool>(&[2], &[1])).check().is_err());
        assert!(
            (&ones::<bool>(&[2], &[1]) - &ones::<bool>(&[2], &[1]))
                .check()
                .is_err()
        );
        assert!(random::<i32>(&[2], &[1], 0).check().is_err());
    }

    #[test]
    fn dtypes_follow_numpy() {
        let i = ones::<i32>(&[4], &[2]);
        let f = ones::<f32>(&[4], &[2]);
        assert_eq!((&i + &f).dtype().unwrap(), DType::F64);
        assert_eq!((&i / &i).dtype().unwrap(), DType::F64);
        assert_eq!((&f / 2.0).dtype().unwrap(), DType::F32);
        assert_eq!((&i * 2i64).dtype().unwrap(), DType::I32);
        assert_eq!((&i * 2.5).dtype().unwrap(), DType::F64);
        assert_eq!(i.gt(1i64).dtype().unwrap(), DType::Bool);
        assert_eq!(i.sqrt().dtype().unwrap(), DType::F64);
        assert!((&i + 5_000_000_000i64).check().is_err());
        let l = ones::<i64>(&[4], &[2]);
        assert_eq!(
            l.try_binary(BinaryOp::Add, 2.5f32)
                .unwrap()
                .dtype()
                .unwrap(),
            DType::F64
        );
        assert_eq!(
            f.try_binary(BinaryOp::Add, 2.5f64)
                .unwrap()
                .dtype()
                .unwrap(),
            DType::F32
        );
        assert_eq!(
            i.try_binary(BinaryOp::Mul, true).unwrap().dtype().unwrap(),
            DType::I32
        );
    }

    #[test]
    fn same_expression_gets_same_name() {
        let a = random::<f64>(&[10, 10], &[5, 5], 7);
        let x = (&a + &a.t()).mean_axis(0);
        let y = (&a + &a.t()).mean_axis(0);
        assert_eq!(x.name().unwrap(), y.name().unwrap());
        let z = (&a + &a).mean_axis(0);
        assert_ne!(x.name().unwrap(), z.name().unwrap());
        assert_ne!(
            zeros::<f64>(&[2], &[1]).name().unwrap(),
            ones::<f64>(&[2], &[1]).name().unwrap()
        );
    }

    #[test]
    fn mismatched_chunks_are_aligned() {
        let a = random::<f64>(&[10, 10], &[5, 5], 7);
        let b = random::<f64>(&[10, 10], &[3, 4], 8);
        let c = &a + &b;
        assert_eq!(c.chunks().unwrap(), &vec![vec![5, 5], vec![5, 5]]);
        let row = random::<f64>(&[10], &[3], 9);
        assert_eq!((&a * &row).chunks().unwrap(), &vec![vec![5, 5], vec![5, 5]]);
    }
}
