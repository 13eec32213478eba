//! What a task does: the operation a worker runs on the task's input chunks.
//! Ops are plain data (serde), built by the client, carried opaquely by the scheduler.

use crate::dtype::DType;
use crate::scalar::Scalar;
use serde::{Deserialize, Serialize};
use std::ops::Range;

/// One task's operation. Inputs are the task's input chunks, in order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Op {
    /// A chunk of `shape` filled with `value` (already of the array's dtype). No inputs.
    Full {
        /// Shape of the chunk.
        shape: Vec<usize>,
        /// Fill value.
        value: Scalar,
    },
    /// A 1-d chunk whose element `k` is `start + k * step`, cast to `dtype`. No inputs.
    Arange {
        /// Value of the first element.
        start: f64,
        /// Distance between consecutive elements.
        step: f64,
        /// Number of elements.
        len: usize,
        /// Element type.
        dtype: DType,
    },
    /// A chunk of seeded pseudo-random values. No inputs. The same `(seed, stream)`
    /// always gives the same values, on any worker.
    Random {
        /// The user's seed.
        seed: u64,
        /// Which chunk of the array this is (its linear index), so chunks differ.
        stream: u64,
        /// Shape of the chunk.
        shape: Vec<usize>,
        /// Distribution to draw from.
        dist: RandomDist,
        /// Element type (floats for `Uniform`, ints for `Integers`).
        dtype: DType,
    },
    /// An elementwise expression over the inputs, each broadcast (NumPy rules) to `shape`.
    Elementwise {
        /// The expression; `Input(i)` is the task's i-th input chunk.
        expr: Expr,
        /// Shape of the output chunk.
        shape: Vec<usize>,
    },
    /// Permute the axes of the one input chunk (`axes[i]` is the input axis that
    /// becomes output axis `i`), producing a C-ordered chunk.
    Transpose {
        /// The permutation.
        axes: Vec<usize>,
    },
    /// First stage of a tree reduction: reduce `axes` of the one input chunk into a
    /// partial state (see [`Reduction`] for its layout).
    ReducePartial {
        /// What is computed.
        reduction: Reduction,
        /// Axes of the input chunk that are reduced.
        axes: Vec<usize>,
    },
    /// Middle stage: merge several partial states of equal shape into one.
    ReduceCombine {
        /// What is computed.
        reduction: Reduction,
    },
    /// Last stage: turn the one input partial state into the result chunk, dropping
    /// the reduced `axes` (axis numbers of the original array, state axis excluded).
    ReduceFinalize {
        /// What is computed.
        reduction: Reduction,
        /// Reduced axes of the original array, which the result no longer has.
        axes: Vec<usize>,
        /// Result dtype.
        dtype: DType,
    },
    /// Build an output chunk of `shape` from rectangular pieces of the inputs
    /// (how chunk boundaries move: rechunk, concatenation, slicing).
    Assemble {
        /// Shape of the output chunk.
        shape: Vec<usize>,
        /// Element type of the output (every input has it).
        dtype: DType,
        /// Where each piece comes from and goes to; together they cover the output.
        pieces: Vec<Piece>,
    },
    /// A kernel registered by name in the worker binary (`map_blocks`), with opaque
    /// arguments; an unknown name errs the task, naming it.
    Kernel {
        /// Registered name.
        name: String,
        /// Arguments, encoded by the caller.
        #[serde(with = "serde_bytes")]
        args: Vec<u8>,
    },
    /// Shuffle transfer: cut the one input chunk into pieces and push each to the owner of
    /// its output partition (see [`crate::shuffle`]). Runs in a worker's shuffle service.
    ShuffleTransfer {
        /// The shuffle's id.
        shuffle: String,
        /// Which input of the shuffle this is (pieces are keyed by it).
        source: u64,
        /// How the input is cut.
        split: crate::shuffle::Split,
    },
    /// Shuffle barrier: every transfer of the shuffle is done (its inputs). Stores a marker.
    ShuffleBarrier {
        /// The shuffle's id.
        shuffle: String,
    },
    /// Shuffle unpack: build output `partition` from the pieces in the local shuffle
    /// buffer. Must run on the partition's owner; its one input is the barrier.
    ShuffleUnpack {
        /// The shuffle's id.
        shuffle: String,
        /// The output partition.
        partition: u64,
        /// How the pieces are put together.
        merge: crate::shuffle::Merge,
    },
}

impl Op {
    /// Short operation name used in task keys and error messages.
    pub fn name(&self) -> &str {
        match self {
            Op::Full { .. } => "full",
            Op::Arange { .. } => "arange",
            Op::Random { .. } => "random",
            Op::Elementwise { .. } => "elementwise",
            Op::Transpose { .. } => "transpose",
            Op::ReducePartial { .. } => "reduce-partial",
            Op::ReduceCombine { .. } => "reduce-combine",
            Op::ReduceFinalize { .. } => "reduce-finalize",
            Op::Assemble { .. } => "assemble",
            Op::Kernel { name, .. } => name,
            Op::ShuffleTransfer { .. } => "shuffle-transfer",
            Op::ShuffleBarrier { .. } => "shuffle-barrier",
            Op::ShuffleUnpack { .. } => "shuffle-unpack",
        }
    }
}

/// A distribution for [`Op::Random`].
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum RandomDist {
    /// Uniform floats in `[low, high)`.
    Uniform {
        /// Inclusive lower bound.
        low: f64,
        /// Exclusive upper bound.
        high: f64,
    },
    /// Uniform integers in `[low, high)`.
    Integers {
        /// Inclusive lower bound.
        low: i64,
        /// Exclusive upper bound.
        high: i64,
    },
}

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
        }
    }
}

/// A reduction computed as partial -> combine* -> finalize.
///
/// A partial state is a chunk whose first axis indexes the state's components,
/// followed by the input chunk's shape with reduced axes kept as length 1:
/// - `Sum`: `[sum]`, in `dtype.sum_result()`;
/// - `Prod`: `[product]`, in `dtype.sum_result()`;
/// - `Min` / `Max`: `[count, value]` in the input dtype (count guards empty chunks;
///   for bool inputs the count is stored as `true` when non-empty);
/// - `Mean`: `[count, sum]` in `float64`;
/// - `Var` / `Std`: `[count, mean, m2]` in `float64` (Chan et al.'s parallel update).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum Reduction {
    /// Sum of elements.
    Sum,
    /// Product of elements.
    Prod,
    /// Smallest element (NaN propagates, as in NumPy).
    Min,
    /// Largest element (NaN propagates, as in NumPy).
    Max,
    /// Arithmetic mean.
    Mean,
    /// Variance with `ddof` delta degrees of freedom.
    Var {
        /// Delta degrees of freedom (0 for population variance).
        ddof: u32,
    },
    /// Standard deviation with `ddof` delta degrees of freedom.
    Std {
        /// Delta degrees of freedom.
        ddof: u32,
    },
}

impl Reduction {
    /// Short name, for task keys.
    pub fn name(self) -> &'static str {
        match self {
            Reduction::Sum => "sum",
            Reduction::Prod => "prod",
            Reduction::Min => "min",
            Reduction::Max => "max",
            Reduction::Mean => "mean",
            Reduction::Var { .. } => "var",
            Reduction::Std { .. } => "std",
        }
    }

    /// The result dtype for an input of `input` (NumPy's rules).
    pub fn result_dtype(self, input: DType) -> DType {
        match self {
            Reduction::Sum | Reduction::Prod => input.sum_result(),
            Reduction::Min | Reduction::Max => input,
            Reduction::Mean | Reduction::Var { .. } | Reduction::Std { .. } => input.float_result(),
        }
    }

    /// The dtype of the partial state for an input of `input`.
    pub fn state_dtype(self, input: DType) -> DType {
        match self {
            Reduction::Sum | Reduction::Prod => input.sum_result(),
            Reduction::Min | Reduction::Max => input,
            Reduction::Mean | Reduction::Var { .. } | Reduction::Std { .. } => DType::F64,
        }
    }

    /// Number of components in the partial state (length of its first axis).
    pub fn state_len(self) -> usize {
        match self {
            Reduction::Sum | Reduction::Prod => 1,
            Reduction::Min | Reduction::Max | Reduction::Mean => 2,
            Reduction::Var { .. } | Reduction::Std { .. } => 3,
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

/// A rectangular piece of one input chunk copied into an output chunk.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Piece {
    /// Index of the input chunk in the task's inputs.
    pub input: usize,
    /// Region of the input chunk, one range per axis.
    pub source: Vec<Range<usize>>,
    /// Where the region's first element lands in the output chunk, per axis.
    pub offset: Vec<usize>,
}
