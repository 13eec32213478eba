//! Runs a fused task ([`Op::Fused`]): its steps in order on chunks, each intermediate
//! dropped as soon as its last reader has run.

use crate::chunk::Chunk;
use crate::error::{Error, Result};
use crate::ops::{FusedStep, Op, StepInput, fused_check_steps};

/// Run `steps` on the task's `inputs`; the last step's output is the result. An error of
/// a step is returned as the step raised it.
pub(crate) fn run(steps: &[FusedStep], inputs: &[Chunk]) -> Result<Chunk> {
    fused_check_steps(steps, inputs.len())?;
    let mut last_reader = vec![usize::MAX; steps.len()];
    for (i, step) in steps.iter().enumerate() {
        for input in &step.inputs {
            if let StepInput::Step(s) = *input {
                last_reader[s as usize] = i;
            }
        }
    }
    let mut outputs: Vec<Option<Chunk>> = vec![None; steps.len()];
    for (i, step) in steps.iter().enumerate() {
        let op = step.decode_op()?;
        let args = step
            .inputs
            .iter()
            .map(|input| match *input {
                StepInput::Task(t) => Ok(inputs[t as usize].clone()),
                StepInput::Step(s) => outputs[s as usize]
                    .clone()
                    .ok_or_else(|| Error::other(format!("fused step {s} has no output"))),
            })
            .collect::<Result<Vec<Chunk>>>()?;
        debug_assert!(!matches!(op, Op::Fused { .. }));
        let out = super::execute(&op, &args)?;
        drop(args);
        for input in &step.inputs {
            if let StepInput::Step(s) = *input
                && last_reader[s as usize] == i
            {
                outputs[s as usize] = None;
            }
        }
        outputs[i] = Some(out);
    }
    outputs
        .pop()
        .flatten()
        .ok_or_else(|| Error::other("a fused task without steps"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::{BinaryOp, Expr, RandomDist};
    use ndarray::{ArrayD, IxDyn};

    fn random(stream: u64) -> Op {
        Op::Random {
            seed: 7,
            stream,
            shape: vec![3, 4],
            dist: RandomDist::Uniform {
                low: 0.0,
                high: 1.0,
            },
            dtype: crate::DType::F64,
        }
    }

    #[test]
    fn a_fused_chain_equals_its_steps_run_one_by_one() {
        let a = super::super::execute(&random(0), &[]).unwrap();
        let b = super::super::execute(&random(1), &[]).unwrap();
        let add = Op::Elementwise {
            expr: Expr::Binary(
                BinaryOp::Add,
                Box::new(Expr::Input(0)),
                Box::new(Expr::Input(1)),
            ),
            shape: vec![3, 4],
        };
        let want = super::super::execute(&add, &[a, b.clone()]).unwrap();
        let steps = vec![
            FusedStep::new(&random(0), vec![]),
            FusedStep::new(&add, vec![StepInput::Step(0), StepInput::Task(0)]),
        ];
        let got = run(&steps, &[b]).unwrap();
        assert_eq!(
            got.to_ndarray::<f64>().unwrap(),
            want.to_ndarray::<f64>().unwrap()
        );
    }

    #[test]
    fn malformed_programs_are_refused() {
        let one = Chunk::from_ndarray(ArrayD::from_elem(IxDyn(&[2]), 1.0f64));
        let full = Op::Full {
            shape: vec![2],
            value: crate::Scalar::F64(1.0),
        };
        let cases: Vec<(Vec<FusedStep>, &str)> = vec![
            (vec![], "steps"),
            (
                vec![FusedStep::new(&full, vec![StepInput::Step(0)])],
                "does not exist",
            ),
            (
                vec![FusedStep::new(&full, vec![StepInput::Task(1)])],
                "does not exist",
            ),
            (
                vec![FusedStep::new(
                    &Op::Fused {
                        steps: vec![FusedStep::new(&full, vec![])],
                    },
                    vec![],
                )],
                "cannot hold a fused step",
            ),
            (
                vec![FusedStep {
                    op: vec![0xff; 3],
                    inputs: vec![],
                }],
                "",
            ),
        ];
        for (steps, message) in cases {
            let err = run(&steps, std::slice::from_ref(&one))
                .unwrap_err()
                .to_string();
            assert!(err.contains(message), "{err}");
        }
    }
}
