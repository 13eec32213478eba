//! Hostile ops: random operations with arbitrary (often absurd) fields on random inputs,
//! as a malicious or corrupted wire message would carry; `execute` must return, not panic.

use super::execute;
use super::proptests::{BINARY, UNARY};
use super::testutil::{Rng, Values, all_reductions, array, scalar, to_chunk};
use crate::chunk::Chunk;
use crate::dtype::DType;
use crate::ops::{Expr, Op, Piece, RandomDist, Reduction};
use crate::scalar::Scalar;
use ndarray::{ArrayD, IxDyn};
use proptest::prelude::*;

fn hostile_usize(rng: &mut Rng) -> usize {
    match rng.below(6) {
        0 => usize::MAX - rng.below(3),
        1 => (1 << 41) + rng.below(1 << 20),
        2 => rng.next() as usize | (1 << 41),
        _ => rng.below(6),
    }
}

fn hostile_shape(rng: &mut Rng) -> Vec<usize> {
    let ndim = if rng.chance(0.05) { 40 } else { rng.below(5) };
    (0..ndim).map(|_| hostile_usize(rng)).collect()
}

fn hostile_expr(rng: &mut Rng, depth: usize) -> Expr {
    match if depth == 0 {
        rng.below(2)
    } else {
        rng.below(5)
    } {
        0 => Expr::Input(hostile_usize(rng)),
        1 => {
            let d = rng.dtype();
            Expr::Scalar(scalar(rng, d, Values::Wild))
        }
        2 => Expr::Unary(rng.pick(&UNARY), Box::new(hostile_expr(rng, depth - 1))),
        3 => Expr::Cast(rng.dtype(), Box::new(hostile_expr(rng, depth - 1))),
        _ => Expr::Binary(
            rng.pick(&BINARY),
            Box::new(hostile_expr(rng, depth - 1)),
            Box::new(hostile_expr(rng, depth - 1)),
        ),
    }
}

fn hostile_reduction(rng: &mut Rng) -> Reduction {
    let ddof = if rng.chance(0.2) {
        u32::MAX
    } else {
        rng.below(3) as u32
    };
    rng.pick(&all_reductions(ddof))
}

fn hostile_axes(rng: &mut Rng) -> Vec<usize> {
    (0..rng.below(4)).map(|_| hostile_usize(rng)).collect()
}

/// Random ops with arbitrary fields on random inputs: `execute` must return, not panic.
fn check_hostile(seed: u64) {
    let mut rng = Rng(seed);
    let inputs: Vec<Chunk> = (0..rng.below(4))
        .map(|_| {
            let d = rng.dtype();
            let s = rng.shape(3, 3);
            to_chunk(&array(&mut rng, d, &s, Values::Wild), d)
        })
        .collect();
    let op = match rng.below(10) {
        0 => Op::Full {
            shape: hostile_shape(&mut rng),
            value: scalar(&mut rng, DType::F64, Values::Wild),
        },
        1 => Op::Arange {
            start: scalar(&mut rng, DType::F64, Values::Wild).as_f64(),
            step: scalar(&mut rng, DType::F64, Values::Wild).as_f64(),
            len: hostile_usize(&mut rng),
            dtype: rng.dtype(),
        },
        2 => Op::Random {
            seed: rng.next(),
            stream: rng.next(),
            shape: hostile_shape(&mut rng),
            dist: if rng.chance(0.5) {
                let low = scalar(&mut rng, DType::F64, Values::Wild).as_f64();
                RandomDist::Uniform {
                    low,
                    high: scalar(&mut rng, DType::F64, Values::Wild).as_f64(),
                }
            } else {
                let low = scalar(&mut rng, DType::I64, Values::Wild).as_i64();
                RandomDist::Integers {
                    low,
                    high: scalar(&mut rng, DType::I64, Values::Wild).as_i64(),
                }
            },
            dtype: rng.dtype(),
        },
        3 => {
            let shape = if rng.chance(0.5) {
                hostile_shape(&mut rng)
            } else {
                rng.shape(3, 3)
            };
            Op::Elementwise {
                expr: hostile_expr(&mut rng, 3),
                shape,
            }
        }
        4 => Op::Transpose {
            axes: hostile_axes(&mut rng),
        },
        5 => Op::ReducePartial {
            reduction: hostile_reduction(&mut rng),
            axes: hostile_axes(&mut rng),
        },
        6 => Op::ReduceCombine {
            reduction: hostile_reduction(&mut rng),
        },
        7 => Op::ReduceFinalize {
            reduction: hostile_reduction(&mut rng),
            axes: hostile_axes(&mut rng),
            dtype: rng.dtype(),
        },
        8 => Op::Assemble {
            shape: if rng.chance(0.5) {
                hostile_shape(&mut rng)
            } else {
                rng.shape(3, 3)
            },
            dtype: rng.dtype(),
            pieces: (0..rng.below(4))
                .map(|_| {
                    let n = rng.below(4);
                    Piece {
                        input: hostile_usize(&mut rng),
                        source: (0..n)
                            .map(|_| hostile_usize(&mut rng)..hostile_usize(&mut rng))
                            .collect(),
                        offset: (0..rng.below(4)).map(|_| hostile_usize(&mut rng)).collect(),
                    }
                })
                .collect(),
        },
        _ => Op::Kernel {
            name: format!("hostile-{}", rng.next()),
            args: vec![1, 2, 3],
        },
    };
    let _ = execute(&op, &inputs);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn hostile_ops_never_panic(seed in any::<u64>()) {
        check_hostile(seed);
    }
}

#[test]
fn every_input_count_mismatch_errs() {
    let c = Chunk::from_ndarray(ArrayD::from_elem(IxDyn(&[2]), 1.0f64));
    let two = [c.clone(), c.clone()];
    let ops = [
        Op::Full {
            shape: vec![2],
            value: Scalar::F64(0.0),
        },
        Op::Arange {
            start: 0.0,
            step: 1.0,
            len: 2,
            dtype: DType::F64,
        },
        Op::Random {
            seed: 0,
            stream: 0,
            shape: vec![2],
            dist: RandomDist::Uniform {
                low: 0.0,
                high: 1.0,
            },
            dtype: DType::F64,
        },
    ];
    for op in &ops {
        assert!(execute(op, std::slice::from_ref(&c)).is_err(), "{op:?}");
    }
    let ops = [
        Op::Transpose { axes: vec![0] },
        Op::ReducePartial {
            reduction: Reduction::Sum,
            axes: vec![0],
        },
        Op::ReduceFinalize {
            reduction: Reduction::Sum,
            axes: vec![],
            dtype: DType::F64,
        },
    ];
    for op in &ops {
        assert!(execute(op, &[]).is_err(), "{op:?}");
        assert!(execute(op, &two).is_err(), "{op:?}");
    }
}
