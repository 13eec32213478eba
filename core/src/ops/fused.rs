//! The steps of a fused task ([`super::Op::Fused`]): each an op and where its inputs come
//! from (the task's inputs or earlier steps), checked before anything runs.

use super::Op;
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};

/// Most steps one fused task may have.
pub const MAX_FUSED_STEPS: usize = 1024;

/// Where one input of a fused step comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum StepInput {
    /// The task's input with this index.
    Task(u32),
    /// The output of the earlier step with this index.
    Step(u32),
}

/// One step of a fused task. The op travels encoded, so that decoding a task never
/// recurses (a hostile message cannot nest fused ops to exhaust the stack); it is
/// decoded, and refused if it is itself fused or not an array op, when the task runs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FusedStep {
    /// The step's encoded [`Op`].
    #[serde(with = "serde_bytes")]
    pub op: Vec<u8>,
    /// Its inputs, in the op's order.
    pub inputs: Vec<StepInput>,
}

impl FusedStep {
    /// A step running `op` on `inputs`.
    pub fn new(op: &Op, inputs: Vec<StepInput>) -> FusedStep {
        FusedStep {
            op: crate::codec::encode(op).expect("ops always encode"),
            inputs,
        }
    }

    /// The step's op: an array op that works on chunks (not another fused op, a shuffle,
    /// storage or table op).
    pub fn decode_op(&self) -> Result<Op> {
        let op: Op = crate::codec::decode(&self.op)?;
        if !fusable(&op) {
            return Err(Error::decode(format!(
                "a fused task cannot hold a {} step",
                op.name()
            )));
        }
        Ok(op)
    }
}

/// Whether `op` may be a step of a fused task: pure array ops on chunks, without I/O,
/// user code or shuffle service.
pub fn fusable(op: &Op) -> bool {
    matches!(
        op,
        Op::Full { .. }
            | Op::Arange { .. }
            | Op::Random { .. }
            | Op::Elementwise { .. }
            | Op::Transpose { .. }
            | Op::ReducePartial { .. }
            | Op::ReduceCombine { .. }
            | Op::ReduceFinalize { .. }
            | Op::Assemble { .. }
            | Op::Slice { .. }
            | Op::Take { .. }
            | Op::ArgPartial { .. }
            | Op::ArgCombine { .. }
            | Op::ArgFinalize { .. }
            | Op::Contract { .. }
    )
}

/// Check that `steps` form a valid program over `task_inputs` inputs: at least one step,
/// at most [`MAX_FUSED_STEPS`], and every input naming an existing task input or an
/// earlier step.
pub fn check_steps(steps: &[FusedStep], task_inputs: usize) -> Result<()> {
    if steps.is_empty() || steps.len() > MAX_FUSED_STEPS {
        return Err(Error::decode(format!(
            "a fused task needs 1 to {MAX_FUSED_STEPS} steps, got {}",
            steps.len()
        )));
    }
    for (i, step) in steps.iter().enumerate() {
        for input in &step.inputs {
            let ok = match *input {
                StepInput::Task(t) => (t as usize) < task_inputs,
                StepInput::Step(s) => (s as usize) < i,
            };
            if !ok {
                return Err(Error::decode(format!(
                    "fused step {i} reads {input:?}, which does not exist before it \
                     ({task_inputs} task inputs)"
                )));
            }
        }
    }
    Ok(())
}
