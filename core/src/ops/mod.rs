//! What a task does: the operation a worker runs on the task's input chunks.
//! Ops are plain data (serde), built by the client, carried opaquely by the scheduler.

use crate::dtype::DType;
pub use crate::kernels::storage::NpyHeader;
use crate::scalar::Scalar;
use serde::{Deserialize, Serialize};
use std::ops::Range;

mod expr;
mod fused;
mod table;
pub use expr::{BinaryOp, Expr, MAX_DECODED_EXPR_DEPTH, UnaryOp};
pub use fused::{
    FusedStep, MAX_FUSED_STEPS, StepInput, check_steps as fused_check_steps,
    fusable as fusable_step,
};
pub use table::{StageBinding, TableSink, TableStage};

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
    /// Read `region` of the `.npy` file at `path` (no inputs): only the bytes of that
    /// region are read. The kernel re-reads the header and errs if it differs from `header`.
    NpyRead {
        /// File path, as seen by the workers.
        path: String,
        /// The header the client read when the array was built.
        header: NpyHeader,
        /// The region of the file's array this task reads, one range per axis.
        region: Vec<Range<usize>>,
    },
    /// Write the one input chunk into `region` of the `.npy` file at `path`, which already
    /// has `header` and its full length. Output: a chunk of ones along every axis holding the
    /// number of bytes written (`int64`).
    NpyWrite {
        /// File path, as seen by the workers.
        path: String,
        /// The file's header (C order).
        header: NpyHeader,
        /// Where the input chunk goes in the file's array.
        region: Vec<Range<usize>>,
    },
    /// Read `region` of the Zarr v3 array stored at `path` (no inputs); the store must still
    /// have `shape` and `dtype`.
    ZarrRead {
        /// Directory of the array store, as seen by the workers.
        path: String,
        /// The array's shape when it was opened by the client.
        shape: Vec<usize>,
        /// The array's dtype.
        dtype: DType,
        /// The region this task reads.
        region: Vec<Range<usize>>,
    },
    /// Write the one input chunk as chunk `chunk` of the Zarr v3 array at `path` (whose
    /// metadata exists); the input must be that chunk's `region`. Output as for `NpyWrite`.
    ZarrWrite {
        /// Directory of the array store.
        path: String,
        /// The array's shape.
        shape: Vec<usize>,
        /// The array's dtype.
        dtype: DType,
        /// Index of the store chunk in its chunk grid.
        chunk: Vec<usize>,
        /// The region of the array that chunk covers (cut at the array's edge).
        region: Vec<Range<usize>>,
    },
    /// Take a strided selection of the one input chunk (one [`Stride`] per input axis,
    /// negative steps allowed) and lay it out in C order as a chunk of `shape`, which has
    /// the selection's element count (so axes of length 1 may be dropped or inserted:
    /// integer indexing, `newaxis`, chunk-local reshapes).
    Slice {
        /// The selection along each input axis.
        ranges: Vec<Stride>,
        /// Shape of the output chunk.
        shape: Vec<usize>,
    },
    /// Gather positions along `axis` from the inputs (fancy indexing): output position `k`
    /// along `axis` is position `picks[k].1` of input `picks[k].0`. Every input has the same
    /// dtype and the same shape on the other axes.
    Take {
        /// The gathered axis.
        axis: usize,
        /// `(input, position along axis)` for each output position.
        picks: Vec<(usize, usize)>,
    },
    /// First stage of `argmin`/`argmax`: the one input chunk, which sits at `offset` in an
    /// array of `array_shape`, becomes an int64 state `[2] + chunk shape` (reduced axes kept
    /// as length 1) holding the best value's bits and its global index (-1: none yet).
    /// `axis: None` reduces every axis to a flat C-order index, like NumPy.
    ArgPartial {
        /// `argmax` when true, else `argmin`.
        max: bool,
        /// The reduced axis, or every axis.
        axis: Option<usize>,
        /// Position of the chunk's first element in the whole array.
        offset: Vec<usize>,
        /// Shape of the whole array (for flat indices).
        array_shape: Vec<usize>,
    },
    /// Merge `argmin`/`argmax` states of equal shape (first occurrence wins ties; NaN wins).
    ArgCombine {
        /// `argmax` when true.
        max: bool,
        /// Dtype of the values whose bits the states hold.
        dtype: DType,
    },
    /// Last stage of `argmin`/`argmax`: the indices, reduced axes dropped (int64).
    ArgFinalize {
        /// The reduced axis, or every axis.
        axis: Option<usize>,
    },
    /// Scan (`cumsum`, `cumprod`, ...) of the first input chunk along `axis`, starting from
    /// the optional second input: a carry of the chunk's shape with `axis` of length 1
    /// (the total of every earlier chunk along the axis), in the result dtype.
    Scan {
        /// What is accumulated.
        kind: ScanKind,
        /// The scanned axis.
        axis: usize,
    },
    /// Carry of a scan into the next chunk: the total of the first input chunk along
    /// `axis` (kept as length 1), combined with the optional second input (the carry into
    /// that chunk).
    ScanCarry {
        /// What is accumulated.
        kind: ScanKind,
        /// The scanned axis.
        axis: usize,
    },
    /// One partial product of a blockwise contraction (`tensordot`, `matmul`, `dot`):
    /// contract axes `axes_a` of the first input chunk with `axes_b` of the second, both
    /// cast to `dtype` first. The result's axes are the first input's remaining axes, then
    /// the second's, in order (NumPy's `tensordot`).
    Contract {
        /// Contracted axes of the first input.
        axes_a: Vec<usize>,
        /// Contracted axes of the second input, paired with `axes_a`.
        axes_b: Vec<usize>,
        /// Dtype the product is computed and returned in.
        dtype: DType,
    },
    /// A block extended by ghost cells (`map_overlap`): assemble `pieces` of the inputs
    /// into a chunk of `shape` (like [`Op::Assemble`]), then fill the `edges` that lie
    /// outside the array, in order.
    Ghost {
        /// Shape of the padded chunk.
        shape: Vec<usize>,
        /// Element type of the output (every input has it).
        dtype: DType,
        /// Pieces of real data: the block itself, its neighbours' borders, and for
        /// periodic boundaries the wrapped-around borders.
        pieces: Vec<Piece>,
        /// Ghost slabs at the array's boundary filled from the chunk itself or a constant.
        edges: Vec<GhostEdge>,
    },
    /// Count the occurrences of each value `0..length` in the one non-negative int or bool
    /// input chunk: an int64 chunk `[length]`. A value outside `0..length` errs, naming it.
    Bincount {
        /// Number of bins (the result length).
        length: usize,
    },
    /// The `|k|` largest (`k > 0`, descending) or smallest (`k < 0`, ascending) elements
    /// along `axis` of the inputs concatenated along `axis` (all of them when fewer). NaN
    /// counts as the largest value, as in NumPy's sort.
    TopK {
        /// How many, and which end.
        k: i64,
        /// The selection axis.
        axis: usize,
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
    /// The distinct values of all inputs (one int or bool dtype, any shapes), ascending,
    /// as a 1-d chunk (`unique`: per chunk, then merged in a tree with the same op).
    Unique,
    /// One partition of a table stage (a DataFusion plan fragment); inputs and output are
    /// table partitions.
    TableStage(Box<TableStage>),
    /// Column `column` of the one input table partition as a 1-d chunk of `dtype` (the
    /// column must have that type and no nulls).
    ColumnToArray {
        /// Column name.
        column: String,
        /// The column's dtype.
        dtype: DType,
    },
    /// The number of rows of the one input table partition, as an int64 chunk `[1]`.
    RowCount,
    /// A table partition whose columns are the 1-d input chunks (all of one length),
    /// named `names`.
    ArraysToTable {
        /// Column names, one per input.
        names: Vec<String>,
    },
    /// A function registered by name in the worker binary that takes whole values (array
    /// chunks, table partitions, opaque objects) and returns one (`Client::submit_call`,
    /// Python's `client.submit`); an unknown name errs the task, naming it.
    Call {
        /// Registered name.
        name: String,
        /// Arguments, encoded by the caller.
        #[serde(with = "serde_bytes")]
        args: Vec<u8>,
    },
    /// Several array ops run one after another in one task, so their intermediates never
    /// leave the worker (graph optimization fuses a chain of tasks, and inlines cheap
    /// creation ops into their consumers). See [`FusedStep`].
    Fused {
        /// The steps, in order; the last one's output is the task's.
        steps: Vec<FusedStep>,
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
            Op::NpyRead { .. } => "npy-read",
            Op::NpyWrite { .. } => "npy-write",
            Op::ZarrRead { .. } => "zarr-read",
            Op::ZarrWrite { .. } => "zarr-write",
            Op::Slice { .. } => "slice",
            Op::Take { .. } => "take",
            Op::ArgPartial { .. } => "arg-partial",
            Op::ArgCombine { .. } => "arg-combine",
            Op::ArgFinalize { .. } => "arg-finalize",
            Op::Scan { .. } => "scan",
            Op::ScanCarry { .. } => "scan-carry",
            Op::Contract { .. } => "contract",
            Op::Ghost { .. } => "ghost",
            Op::Bincount { .. } => "bincount",
            Op::TopK { .. } => "topk",
            Op::ShuffleTransfer { .. } => "shuffle-transfer",
            Op::ShuffleBarrier { .. } => "shuffle-barrier",
            Op::ShuffleUnpack { .. } => "shuffle-unpack",
            Op::Unique => "unique",
            Op::TableStage(_) => "table-stage",
            Op::ColumnToArray { .. } => "column-to-array",
            Op::RowCount => "row-count",
            Op::Call { name, .. } => name,
            Op::ArraysToTable { .. } => "arrays-to-table",
            Op::Fused { .. } => "fused",
        }
    }
}

/// What a scan ([`Op::Scan`]) accumulates. Results are in `dtype.sum_result()`:
/// bool and ints accumulate in int64 (wrapping), floats in their own type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ScanKind {
    /// Running sum (`cumsum`).
    Sum,
    /// Running product (`cumprod`).
    Prod,
    /// Running sum with NaN counted as zero (`nancumsum`).
    NanSum,
    /// Running product with NaN counted as one (`nancumprod`).
    NanProd,
}

impl ScanKind {
    /// NumPy's name of the scan.
    pub fn name(self) -> &'static str {
        match self {
            ScanKind::Sum => "cumsum",
            ScanKind::Prod => "cumprod",
            ScanKind::NanSum => "nancumsum",
            ScanKind::NanProd => "nancumprod",
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
    /// Whether any element is non-zero (state `[any]` in bool).
    Any,
    /// Whether every element is non-zero (state `[all]` in bool).
    All,
    /// Sum ignoring NaN (state as `Sum`).
    NanSum,
    /// Product ignoring NaN (state as `Prod`).
    NanProd,
    /// Smallest non-NaN element; NaN when all are NaN (state as `Min`, count of non-NaN).
    NanMin,
    /// Largest non-NaN element; NaN when all are NaN.
    NanMax,
    /// Mean of the non-NaN elements (state as `Mean`).
    NanMean,
    /// Variance of the non-NaN elements (state as `Var`).
    NanVar {
        /// Delta degrees of freedom.
        ddof: u32,
    },
    /// Standard deviation of the non-NaN elements.
    NanStd {
        /// Delta degrees of freedom.
        ddof: u32,
    },
    /// Number of non-zero elements (state `[count]` in int64).
    CountNonzero,
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
            Reduction::Any => "any",
            Reduction::All => "all",
            Reduction::NanSum => "nansum",
            Reduction::NanProd => "nanprod",
            Reduction::NanMin => "nanmin",
            Reduction::NanMax => "nanmax",
            Reduction::NanMean => "nanmean",
            Reduction::NanVar { .. } => "nanvar",
            Reduction::NanStd { .. } => "nanstd",
            Reduction::CountNonzero => "count_nonzero",
        }
    }

    /// The result dtype for an input of `input` (NumPy's rules).
    pub fn result_dtype(self, input: DType) -> DType {
        match self {
            Reduction::Any | Reduction::All => DType::Bool,
            Reduction::CountNonzero => DType::I64,
            other => other.plain().result_dtype_plain(input),
        }
    }

    /// The NaN-ignoring variants' plain counterparts (same state layout and dtypes).
    pub fn plain(self) -> Reduction {
        match self {
            Reduction::NanSum => Reduction::Sum,
            Reduction::NanProd => Reduction::Prod,
            Reduction::NanMin => Reduction::Min,
            Reduction::NanMax => Reduction::Max,
            Reduction::NanMean => Reduction::Mean,
            Reduction::NanVar { ddof } => Reduction::Var { ddof },
            Reduction::NanStd { ddof } => Reduction::Std { ddof },
            other => other,
        }
    }

    fn result_dtype_plain(self, input: DType) -> DType {
        match self {
            Reduction::Sum | Reduction::Prod => input.sum_result(),
            Reduction::Mean | Reduction::Var { .. } | Reduction::Std { .. } => input.float_result(),
            _ => input,
        }
    }

    /// The dtype of the partial state for an input of `input`.
    pub fn state_dtype(self, input: DType) -> DType {
        match self.plain() {
            Reduction::Sum | Reduction::Prod => input.sum_result(),
            Reduction::Mean | Reduction::Var { .. } | Reduction::Std { .. } => DType::F64,
            Reduction::Any | Reduction::All => DType::Bool,
            Reduction::CountNonzero => DType::I64,
            _ => input,
        }
    }

    /// Number of components in the partial state (length of its first axis).
    pub fn state_len(self) -> usize {
        match self.plain() {
            Reduction::Min | Reduction::Max | Reduction::Mean => 2,
            Reduction::Var { .. } | Reduction::Std { .. } => 3,
            _ => 1,
        }
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

/// Positions `start, start + step, ...` (`len` of them) along one axis; `step` may be
/// negative (then positions decrease from `start`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Stride {
    /// First position.
    pub start: usize,
    /// Number of positions.
    pub len: usize,
    /// Distance between consecutive positions (non-zero).
    pub step: isize,
}

impl Stride {
    /// Every position of an axis of length `n`, in order.
    pub fn full(n: usize) -> Stride {
        Stride {
            start: 0,
            len: n,
            step: 1,
        }
    }

    /// The `k`-th position (`k < len`), assuming the stride is valid.
    pub fn at(&self, k: usize) -> usize {
        (self.start as isize + k as isize * self.step) as usize
    }
}

/// A ghost slab of [`Op::Ghost`] on one side of one axis, outside the array.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GhostEdge {
    /// The axis.
    pub axis: usize,
    /// `false`: the first `width` positions along `axis`; `true`: the last `width`.
    pub high: bool,
    /// Number of ghost positions.
    pub width: usize,
    /// How they are filled.
    pub fill: GhostFill,
}

/// How a [`GhostEdge`] is filled.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum GhostFill {
    /// Mirror the `width` positions next to the slab, edge included (dask's `reflect`,
    /// NumPy's `pad(mode="symmetric")`).
    Reflect,
    /// A constant, cast to the chunk's dtype.
    Constant(Scalar),
}
