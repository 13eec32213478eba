//! Kernels: run one task's op on its input chunks (or table partitions) and return its output.
//! Pure functions on Arrow-backed chunks; the worker calls them on its rayon pool.
//!
//! Every kernel validates its op and inputs and returns `Err` instead of panicking,
//! whatever arrives off the wire: wrong input counts or dtypes, shapes beyond
//! [`MAX_CHUNK_ELEMENTS`], axes out of range, malformed pieces, deep expressions.
//! Numeric inputs are read through zero-copy ndarray views; bool inputs (bit-packed in
//! Arrow) are unpacked once. Each kernel matches on the dtype once and then runs
//! monomorphic whole-array ndarray loops.

mod accumulate;
mod argreduce;
mod bridge;
mod calls;
mod create;
pub mod dynarray;
mod elementwise;
mod elemops;
mod fused;
mod ghost;
mod layout;
mod matmul;
mod named;
mod nanreduce;
mod ordering;
mod reduce;
mod registry;
mod scan;
mod slicing;
pub mod storage;
mod ufuncs;
mod unique;

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod proptests_hostile;
#[cfg(test)]
mod proptests_reduce;
#[cfg(test)]
mod testutil;

pub use calls::{CallFn, lookup_call, register_call, registered_calls};
pub use create::stream_rng;
pub use dynarray::{DynArray, DynCow, DynElement, MAX_CHUNK_ELEMENTS, MAX_NDIM};
pub use elementwise::MAX_EXPR_DEPTH;
pub use named::panic_message;
pub use registry::{
    KernelFn, lookup_kernel, register_kernel, registered_kernels, unregister_kernel,
};

use crate::chunk::Chunk;
use crate::error::{Error, Result};
use crate::ops::Op;
use crate::value::Value;

/// Run `op` on `inputs` (in the op's input order).
///
/// Never panics on built-in ops, whatever the op and inputs; a panic inside a
/// registered user kernel is caught and returned as an error too.
pub fn execute(op: &Op, inputs: &[Chunk]) -> Result<Chunk> {
    match op {
        Op::Full { shape, value } => {
            expect_inputs(op, inputs, 0)?;
            create::full(shape, *value)
        }
        Op::Arange {
            start,
            step,
            len,
            dtype,
        } => {
            expect_inputs(op, inputs, 0)?;
            create::arange(*start, *step, *len, *dtype)
        }
        Op::Random {
            seed,
            stream,
            shape,
            dist,
            dtype,
        } => {
            expect_inputs(op, inputs, 0)?;
            create::random(*seed, *stream, shape, *dist, *dtype)
        }
        Op::Elementwise { expr, shape } => elementwise::elementwise(expr, shape, inputs),
        Op::Transpose { axes } => {
            expect_inputs(op, inputs, 1)?;
            layout::transpose(axes, &inputs[0])
        }
        Op::ReducePartial { reduction, axes } => {
            expect_inputs(op, inputs, 1)?;
            reduce::partial(*reduction, axes, &inputs[0])
        }
        Op::ReduceCombine { reduction } => reduce::combine(*reduction, inputs),
        Op::ReduceFinalize {
            reduction,
            axes,
            dtype,
        } => {
            expect_inputs(op, inputs, 1)?;
            reduce::finalize(*reduction, axes, *dtype, &inputs[0])
        }
        Op::Assemble {
            shape,
            dtype,
            pieces,
        } => layout::assemble(shape, *dtype, pieces, inputs),
        Op::Kernel { name, args } => registry::run_kernel(name, args, inputs),
        Op::NpyRead { .. } | Op::NpyWrite { .. } | Op::ZarrRead { .. } | Op::ZarrWrite { .. } => {
            storage::execute(op, inputs)
        }
        Op::Slice { ranges, shape } => {
            expect_inputs(op, inputs, 1)?;
            slicing::slice(ranges, shape, &inputs[0])
        }
        Op::Take { axis, picks } => slicing::take(*axis, picks, inputs),
        Op::ArgPartial {
            max,
            axis,
            offset,
            array_shape,
        } => {
            expect_inputs(op, inputs, 1)?;
            argreduce::partial(*max, *axis, offset, array_shape, &inputs[0])
        }
        Op::ArgCombine { max, dtype } => argreduce::combine(*max, *dtype, inputs),
        Op::ArgFinalize { axis } => {
            expect_inputs(op, inputs, 1)?;
            argreduce::finalize(*axis, &inputs[0])
        }
        Op::Scan { kind, axis } => scan::scan(*kind, *axis, inputs),
        Op::ScanCarry { kind, axis } => scan::carry(*kind, *axis, inputs),
        Op::Contract {
            axes_a,
            axes_b,
            dtype,
        } => {
            expect_inputs(op, inputs, 2)?;
            matmul::contract(axes_a, axes_b, *dtype, &inputs[0], &inputs[1])
        }
        Op::Ghost {
            shape,
            dtype,
            pieces,
            edges,
        } => ghost::ghost(shape, *dtype, pieces, edges, inputs),
        Op::Bincount { length } => {
            expect_inputs(op, inputs, 1)?;
            ordering::bincount(*length, &inputs[0])
        }
        Op::TopK { k, axis } => ordering::topk(*k, *axis, inputs),
        Op::Unique => unique::unique(inputs),
        Op::Fused { steps } => fused::run(steps, inputs),
        Op::ShuffleBarrier { .. } => Ok(crate::shuffle::marker()),
        Op::ShuffleTransfer { .. } | Op::ShuffleUnpack { .. } => Err(Error::other(format!(
            "{} runs in a worker's shuffle service, not as a plain kernel",
            op.name()
        ))),
        Op::TableStage(_)
        | Op::ColumnToArray { .. }
        | Op::ArraysToTable { .. }
        | Op::RowCount
        | Op::Call { .. } => Err(Error::other(format!(
            "{} works on whole values: run it with execute_value",
            op.name()
        ))),
    }
}

/// Run `op` on `inputs` of any kind (array chunks or table partitions): table ops run
/// here, array ops go to [`execute`].
pub fn execute_value(op: &Op, inputs: Vec<Value>) -> Result<Value> {
    match op {
        Op::TableStage(stage) => run_stage(stage, inputs),
        Op::ColumnToArray { column, dtype } => {
            let [input] = <[Value; 1]>::try_from(inputs).map_err(|v| {
                Error::other(format!("column-to-array takes 1 input, got {}", v.len()))
            })?;
            let part = input.into_partition("column-to-array")?;
            bridge::column_to_array(&part, column, *dtype).map(Value::Array)
        }
        Op::RowCount => {
            let [input] = <[Value; 1]>::try_from(inputs)
                .map_err(|v| Error::other(format!("row-count takes 1 input, got {}", v.len())))?;
            let rows = input.into_partition("row-count")?.num_rows() as i64;
            Ok(Value::Array(Chunk::from_ndarray(
                ndarray::ArrayD::from_elem(ndarray::IxDyn(&[1]), rows),
            )))
        }
        Op::Call { name, args } => calls::run_call(name, args, &inputs),
        Op::ArraysToTable { names } => {
            let chunks = inputs
                .into_iter()
                .map(|v| v.into_chunk("arrays-to-table"))
                .collect::<Result<Vec<_>>>()?;
            bridge::arrays_to_table(names, &chunks).map(Value::Table)
        }
        _ => {
            let chunks = inputs
                .into_iter()
                .map(|v| v.into_chunk(op.name()))
                .collect::<Result<Vec<_>>>()?;
            execute(op, &chunks).map(Value::Array)
        }
    }
}

#[cfg(feature = "tables")]
fn run_stage(stage: &crate::ops::TableStage, inputs: Vec<Value>) -> Result<Value> {
    crate::table::run_stage(stage, inputs).map(Value::Table)
}

#[cfg(not(feature = "tables"))]
fn run_stage(_: &crate::ops::TableStage, _: Vec<Value>) -> Result<Value> {
    Err(Error::other(
        "this binary was built without table support (tessera-core feature `tables`)",
    ))
}

fn expect_inputs(op: &Op, inputs: &[Chunk], n: usize) -> Result<()> {
    if inputs.len() == n {
        Ok(())
    } else {
        Err(Error::other(format!(
            "{} takes {n} input chunk{}, got {}",
            op.name(),
            if n == 1 { "" } else { "s" },
            inputs.len()
        )))
    }
}
