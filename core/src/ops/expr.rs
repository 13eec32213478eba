//! The elementwise expression vocabulary fused into one task: `Expr` trees of unary and
//! binary operators, and the depth guard that keeps decoding them off the wire safe.

use crate::dtype::DType;
use crate::scalar::Scalar;
use serde::{Deserialize, Serialize};

/// An elementwise expression tree (several ops fused into one task).
///
/// Binary operands always have the same dtype: the expression builder inserts
/// [`Expr::Cast`] nodes following NumPy's promotion rules, so kernels never
/// promote. Arithmetic keeps the operand dtype, comparisons give `bool`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Expr {
    /// The task's i-th input chunk, broadcast to the output shape.
    Input(usize),
    /// A constant of its own dtype.
    Scalar(Scalar),
    /// A unary function.
    Unary(UnaryOp, #[serde(deserialize_with = "child")] Box<Expr>),
    /// A binary operator; both sides have the same dtype.
    Binary(
        BinaryOp,
        #[serde(deserialize_with = "child")] Box<Expr>,
        #[serde(deserialize_with = "child")] Box<Expr>,
    ),
    /// Cast to a dtype (NumPy `astype`: floats to ints truncate, non-zero is `true`).
    Cast(DType, #[serde(deserialize_with = "child")] Box<Expr>),
    /// `where(cond, a, b)`: `a` where the bool `cond` is true, else `b` (`a` and `b`
    /// have the same dtype; all three broadcast together).
    Where(
        #[serde(deserialize_with = "child")] Box<Expr>,
        #[serde(deserialize_with = "child")] Box<Expr>,
        #[serde(deserialize_with = "child")] Box<Expr>,
    ),
}

/// Deepest expression accepted off the wire. Decoding is recursive, so a hostile
/// message nesting a million `Neg`s would overflow the stack (an abort, not a panic):
/// depth is counted while decoding and refused past this.
pub const MAX_DECODED_EXPR_DEPTH: usize = 256;

thread_local! {
    static DECODE_DEPTH: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

fn child<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Box<Expr>, D::Error> {
    let depth = DECODE_DEPTH.with(|c| c.get()) + 1;
    if depth > MAX_DECODED_EXPR_DEPTH {
        return Err(serde::de::Error::custom(format!(
            "expression nested deeper than {MAX_DECODED_EXPR_DEPTH} levels"
        )));
    }
    DECODE_DEPTH.with(|c| c.set(depth));
    let result = Expr::deserialize(d).map(Box::new);
    DECODE_DEPTH.with(|c| c.set(depth - 1));
    result
}

/// Unary elementwise functions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum UnaryOp {
    /// `-x` (not for bool).
    Neg,
    /// `|x|`.
    Abs,
    /// Square root (floats only; the builder casts ints to float first).
    Sqrt,
    /// `e^x` (floats only).
    Exp,
    /// Natural logarithm (floats only).
    Log,
    /// Logical not (bool only).
    Not,
    /// Sine (floats only, like every trigonometric and hyperbolic function below).
    Sin,
    /// Cosine.
    Cos,
    /// Tangent.
    Tan,
    /// Inverse sine.
    Arcsin,
    /// Inverse cosine.
    Arccos,
    /// Inverse tangent.
    Arctan,
    /// Hyperbolic sine.
    Sinh,
    /// Hyperbolic cosine.
    Cosh,
    /// Hyperbolic tangent.
    Tanh,
    /// Largest integer not above `x` (floats only).
    Floor,
    /// Smallest integer not below `x` (floats only).
    Ceil,
    /// Integer part, rounding toward zero (floats only).
    Trunc,
    /// Round to `decimals` decimal places, halves to even (NumPy's `round`). Ints keep
    /// their dtype (unchanged for `decimals >= 0`); not for bool.
    Round(i32),
    /// `-1`, `0` or `1` by sign (NaN stays NaN; not for bool).
    Sign,
    /// `2^x` (floats only).
    Exp2,
    /// Base-2 logarithm (floats only).
    Log2,
    /// Base-10 logarithm (floats only).
    Log10,
    /// `ln(1 + x)`, accurate near zero (floats only).
    Log1p,
    /// `e^x - 1`, accurate near zero (floats only).
    Expm1,
    /// `x * x` (ints wrap; not for bool).
    Square,
    /// `1 / x`; for ints NumPy's integer reciprocal (`1/x` truncated, `0` for `x == 0`);
    /// not for bool.
    Reciprocal,
    /// Whether `x` is NaN (any dtype; bool result).
    IsNan,
    /// Whether `x` is infinite (any dtype; bool result).
    IsInf,
    /// Whether `x` is neither NaN nor infinite (any dtype; bool result).
    IsFinite,
    /// Bitwise not: `!x` on ints (two's complement), logical not on bool.
    Invert,
}

impl UnaryOp {
    /// Whether the result is `bool` whatever the input dtype (`isnan`, `isinf`, `isfinite`).
    pub fn is_predicate(self) -> bool {
        matches!(self, UnaryOp::IsNan | UnaryOp::IsInf | UnaryOp::IsFinite)
    }

    /// NumPy's name of the function, for messages and task names.
    pub fn name(self) -> &'static str {
        match self {
            UnaryOp::Neg => "negative",
            UnaryOp::Abs => "absolute",
            UnaryOp::Sqrt => "sqrt",
            UnaryOp::Exp => "exp",
            UnaryOp::Log => "log",
            UnaryOp::Not => "logical_not",
            UnaryOp::Sin => "sin",
            UnaryOp::Cos => "cos",
            UnaryOp::Tan => "tan",
            UnaryOp::Arcsin => "arcsin",
            UnaryOp::Arccos => "arccos",
            UnaryOp::Arctan => "arctan",
            UnaryOp::Sinh => "sinh",
            UnaryOp::Cosh => "cosh",
            UnaryOp::Tanh => "tanh",
            UnaryOp::Floor => "floor",
            UnaryOp::Ceil => "ceil",
            UnaryOp::Trunc => "trunc",
            UnaryOp::Round(_) => "round",
            UnaryOp::Sign => "sign",
            UnaryOp::Exp2 => "exp2",
            UnaryOp::Log2 => "log2",
            UnaryOp::Log10 => "log10",
            UnaryOp::Log1p => "log1p",
            UnaryOp::Expm1 => "expm1",
            UnaryOp::Square => "square",
            UnaryOp::Reciprocal => "reciprocal",
            UnaryOp::IsNan => "isnan",
            UnaryOp::IsInf => "isinf",
            UnaryOp::IsFinite => "isfinite",
            UnaryOp::Invert => "invert",
        }
    }
}

/// Binary elementwise operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum BinaryOp {
    /// `a + b` (logical or on bools).
    Add,
    /// `a - b` (not for bools).
    Sub,
    /// `a * b` (logical and on bools).
    Mul,
    /// `a / b` (floats only; the builder casts ints to `float64` first: true division).
    Div,
    /// `a == b`.
    Eq,
    /// `a != b`.
    Ne,
    /// `a < b`.
    Lt,
    /// `a <= b`.
    Le,
    /// `a > b`.
    Gt,
    /// `a >= b`.
    Ge,
    /// `a` to the power `b`: floats `powf`; ints wrap, and a negative exponent errs
    /// (NumPy: "Integers to negative integer powers are not allowed"); not for bool.
    Pow,
    /// Larger of the two; NaN propagates (NumPy's `maximum`). Bool: logical or.
    Maximum,
    /// Smaller of the two; NaN propagates (NumPy's `minimum`). Bool: logical and.
    Minimum,
    /// Larger of the two, ignoring a NaN operand (NumPy's `fmax`).
    Fmax,
    /// Smaller of the two, ignoring a NaN operand (NumPy's `fmin`).
    Fmin,
    /// Remainder with the sign of the divisor (NumPy's `mod`/`remainder`, Python's `%`);
    /// int division by zero gives 0, float gives NaN. Not for bool.
    Rem,
    /// Division rounded toward negative infinity (NumPy's `floor_divide`, Python's `//`);
    /// int division by zero gives 0. Not for bool.
    FloorDiv,
    /// Angle of the point `(b, a)` (`arctan2(a, b)`; floats only).
    Arctan2,
    /// `sqrt(a^2 + b^2)` without overflow (floats only).
    Hypot,
    /// Bitwise and on ints, logical and on bool (not for floats).
    BitAnd,
    /// Bitwise or on ints, logical or on bool.
    BitOr,
    /// Bitwise exclusive or on ints, logical xor on bool.
    BitXor,
}

impl BinaryOp {
    /// Whether the operator is a comparison (result is `bool`).
    pub fn is_comparison(self) -> bool {
        matches!(
            self,
            BinaryOp::Eq | BinaryOp::Ne | BinaryOp::Lt | BinaryOp::Le | BinaryOp::Gt | BinaryOp::Ge
        )
    }

    /// The operator's symbol, for messages and task names.
    pub fn symbol(self) -> &'static str {
        match self {
            BinaryOp::Add => "+",
            BinaryOp::Sub => "-",
            BinaryOp::Mul => "*",
            BinaryOp::Div => "/",
            BinaryOp::Eq => "==",
            BinaryOp::Ne => "!=",
            BinaryOp::Lt => "<",
            BinaryOp::Le => "<=",
            BinaryOp::Gt => ">",
            BinaryOp::Ge => ">=",
            BinaryOp::Pow => "power",
            BinaryOp::Maximum => "maximum",
            BinaryOp::Minimum => "minimum",
            BinaryOp::Fmax => "fmax",
            BinaryOp::Fmin => "fmin",
            BinaryOp::Rem => "%",
            BinaryOp::FloorDiv => "//",
            BinaryOp::Arctan2 => "arctan2",
            BinaryOp::Hypot => "hypot",
            BinaryOp::BitAnd => "&",
            BinaryOp::BitOr => "|",
            BinaryOp::BitXor => "^",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deeply_nested_expressions_are_refused_at_decode() {
        let mut deep = Expr::Input(0);
        for _ in 0..MAX_DECODED_EXPR_DEPTH {
            deep = Expr::Unary(UnaryOp::Neg, Box::new(deep));
        }
        let ok = crate::codec::encode(&deep).unwrap();
        assert_eq!(crate::codec::decode::<Expr>(&ok).unwrap(), deep);
        // Hand-made hostile bytes: a million nested Neg nodes (no tree is built to encode it).
        let unary =
            crate::codec::encode(&Expr::Unary(UnaryOp::Neg, Box::new(Expr::Input(0)))).unwrap();
        let leaf = crate::codec::encode(&Expr::Input(0)).unwrap();
        let prefix = &unary[..unary.len() - leaf.len()];
        let mut hostile = Vec::new();
        for _ in 0..1_000_000 {
            hostile.extend_from_slice(prefix);
        }
        hostile.extend_from_slice(&leaf);
        let err = crate::codec::decode::<Expr>(&hostile)
            .unwrap_err()
            .to_string();
        assert!(err.contains("nested deeper"), "{err}");
        // The depth counter is back to zero for the next message.
        assert_eq!(crate::codec::decode::<Expr>(&ok).unwrap(), deep);
    }
}
