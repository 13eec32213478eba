//! Property tests: elementwise, layout and creation kernels against a per-element reference
//! on random shapes (size-0, size-1, 0-d), every dtype, NaN and infinities.

use super::execute;
use super::testutil::{Rng, Values, array, assert_same, from_chunk, scalar, to_chunk};
use crate::chunk::Chunk;
use crate::dtype::DType;
use crate::ops::{BinaryOp, Expr, Op, Piece, RandomDist, UnaryOp};
use crate::scalar::Scalar;
use ndarray::{ArrayD, Dimension, IxDyn};
use proptest::prelude::*;

pub(super) const UNARY: [UnaryOp; 6] = [
    UnaryOp::Neg,
    UnaryOp::Abs,
    UnaryOp::Sqrt,
    UnaryOp::Exp,
    UnaryOp::Log,
    UnaryOp::Not,
];
pub(super) const BINARY: [BinaryOp; 10] = [
    BinaryOp::Add,
    BinaryOp::Sub,
    BinaryOp::Mul,
    BinaryOp::Div,
    BinaryOp::Eq,
    BinaryOp::Ne,
    BinaryOp::Lt,
    BinaryOp::Le,
    BinaryOp::Gt,
    BinaryOp::Ge,
];

fn unary_ok(op: UnaryOp, d: DType) -> bool {
    match op {
        UnaryOp::Neg => d != DType::Bool,
        UnaryOp::Abs => true,
        UnaryOp::Sqrt | UnaryOp::Exp | UnaryOp::Log => d.is_float(),
        UnaryOp::Not => d == DType::Bool,
        // The other ufuncs have their own tests (ufuncs_tests.rs).
        _ => false,
    }
}

fn binary_ok(op: BinaryOp, d: DType) -> bool {
    match op {
        BinaryOp::Sub => d != DType::Bool,
        BinaryOp::Div => d.is_float(),
        _ => true,
    }
}

/// A random expression of dtype `want`, valid except for rare deliberate type errors.
fn gen_expr(rng: &mut Rng, want: DType, depth: usize, ins: &[DType]) -> Expr {
    if rng.chance(0.03) {
        // Deliberately arbitrary: may be ill-typed.
        let (a, b) = (rng.dtype(), rng.dtype());
        return if rng.chance(0.5) {
            Expr::Unary(
                rng.pick(&UNARY),
                Box::new(gen_expr(rng, a, depth.saturating_sub(1), ins)),
            )
        } else {
            let l = gen_expr(rng, a, depth.saturating_sub(1), ins);
            let r = gen_expr(rng, b, depth.saturating_sub(1), ins);
            Expr::Binary(rng.pick(&BINARY), Box::new(l), Box::new(r))
        };
    }
    if depth == 0 || rng.chance(0.25) {
        let same: Vec<usize> = (0..ins.len()).filter(|&i| ins[i] == want).collect();
        return if !same.is_empty() && rng.chance(0.7) {
            Expr::Input(rng.pick(&same))
        } else if !ins.is_empty() && rng.chance(0.6) {
            let i = rng.below(ins.len());
            if ins[i] == want {
                Expr::Input(i)
            } else {
                Expr::Cast(want, Box::new(Expr::Input(i)))
            }
        } else {
            Expr::Scalar(scalar(rng, want, Values::Wild))
        };
    }
    let sub = |rng: &mut Rng, d: DType| Box::new(gen_expr(rng, d, depth - 1, ins));
    match rng.below(4) {
        0 => {
            let ops: Vec<UnaryOp> = UNARY.into_iter().filter(|&o| unary_ok(o, want)).collect();
            let op = rng.pick(&ops);
            Expr::Unary(op, sub(rng, want))
        }
        1 => {
            let ops: Vec<BinaryOp> = BINARY
                .into_iter()
                .filter(|&o| !o.is_comparison() && binary_ok(o, want))
                .collect();
            let op = rng.pick(&ops);
            Expr::Binary(op, sub(rng, want), sub(rng, want))
        }
        2 if want == DType::Bool => {
            let d = rng.dtype();
            let op = rng.pick(&BINARY[4..]);
            Expr::Binary(op, sub(rng, d), sub(rng, d))
        }
        _ => {
            let d = rng.dtype();
            Expr::Cast(want, sub(rng, d))
        }
    }
}

/// The expression's dtype, or `None` when the kernel must refuse it.
fn ref_dtype(e: &Expr, ins: &[DType]) -> Option<DType> {
    match e {
        Expr::Input(i) => ins.get(*i).copied(),
        Expr::Scalar(s) => Some(s.dtype()),
        Expr::Cast(d, a) => ref_dtype(a, ins).map(|_| *d),
        Expr::Unary(op, a) => ref_dtype(a, ins).filter(|&d| unary_ok(*op, d)),
        Expr::Where(..) => None,
        Expr::Binary(op, a, b) => {
            let (da, db) = (ref_dtype(a, ins)?, ref_dtype(b, ins)?);
            (da == db && binary_ok(*op, da)).then_some(if op.is_comparison() {
                DType::Bool
            } else {
                da
            })
        }
    }
}

fn ref_cast(s: Scalar, d: DType) -> Scalar {
    use Scalar::*;
    match d {
        DType::Bool => Bool(s.as_bool()),
        DType::I32 => I32(match s {
            Bool(b) => b as i32,
            I32(v) => v,
            I64(v) => v as i32,
            F32(v) => v as i32,
            F64(v) => v as i32,
        }),
        DType::I64 => I64(s.as_i64()),
        DType::F32 => F32(match s {
            Bool(b) => b as u8 as f32,
            I32(v) => v as f32,
            I64(v) => v as f32,
            F32(v) => v,
            F64(v) => v as f32,
        }),
        DType::F64 => F64(s.as_f64()),
    }
}

fn ref_unary(op: UnaryOp, s: Scalar) -> Scalar {
    use Scalar::*;
    match (op, s) {
        (UnaryOp::Not, Bool(b)) => Bool(!b),
        (UnaryOp::Abs, Bool(b)) => Bool(b),
        (UnaryOp::Neg, I32(v)) => I32(v.wrapping_neg()),
        (UnaryOp::Abs, I32(v)) => I32(v.wrapping_abs()),
        (UnaryOp::Neg, I64(v)) => I64(v.wrapping_neg()),
        (UnaryOp::Abs, I64(v)) => I64(v.wrapping_abs()),
        (op, F32(v)) => F32(match op {
            UnaryOp::Neg => -v,
            UnaryOp::Abs => v.abs(),
            UnaryOp::Sqrt => v.sqrt(),
            UnaryOp::Exp => v.exp(),
            _ => v.ln(),
        }),
        (op, F64(v)) => F64(match op {
            UnaryOp::Neg => -v,
            UnaryOp::Abs => v.abs(),
            UnaryOp::Sqrt => v.sqrt(),
            UnaryOp::Exp => v.exp(),
            _ => v.ln(),
        }),
        _ => unreachable!("ill-typed unary reached the reference"),
    }
}

fn cmp<T: PartialOrd>(op: BinaryOp, x: T, y: T) -> bool {
    match op {
        BinaryOp::Eq => x == y,
        BinaryOp::Ne => x != y,
        BinaryOp::Lt => x < y,
        BinaryOp::Le => x <= y,
        BinaryOp::Gt => x > y,
        _ => x >= y,
    }
}

fn ref_binary(op: BinaryOp, a: Scalar, b: Scalar) -> Scalar {
    use BinaryOp::*;
    use Scalar::*;
    if op.is_comparison() {
        return Bool(match (a, b) {
            (Bool(x), Bool(y)) => cmp(op, x, y),
            (I32(x), I32(y)) => cmp(op, x, y),
            (I64(x), I64(y)) => cmp(op, x, y),
            (F32(x), F32(y)) => cmp(op, x, y),
            (F64(x), F64(y)) => cmp(op, x, y),
            _ => unreachable!(),
        });
    }
    match (a, b) {
        (Bool(x), Bool(y)) => Bool(if op == Add { x || y } else { x && y }),
        (I32(x), I32(y)) => I32(match op {
            Add => x.wrapping_add(y),
            Sub => x.wrapping_sub(y),
            _ => x.wrapping_mul(y),
        }),
        (I64(x), I64(y)) => I64(match op {
            Add => x.wrapping_add(y),
            Sub => x.wrapping_sub(y),
            _ => x.wrapping_mul(y),
        }),
        (F32(x), F32(y)) => F32(match op {
            Add => x + y,
            Sub => x - y,
            Mul => x * y,
            _ => x / y,
        }),
        (F64(x), F64(y)) => F64(match op {
            Add => x + y,
            Sub => x - y,
            Mul => x * y,
            _ => x / y,
        }),
        _ => unreachable!(),
    }
}

fn ref_eval(e: &Expr, ins: &[ArrayD<Scalar>], idx: &[usize]) -> Scalar {
    match e {
        Expr::Input(i) => {
            let a = &ins[*i];
            let skip = idx.len() - a.ndim();
            let j: Vec<usize> = a
                .shape()
                .iter()
                .enumerate()
                .map(|(k, &d)| if d == 1 { 0 } else { idx[skip + k] })
                .collect();
            a[IxDyn(&j)]
        }
        Expr::Scalar(s) => *s,
        Expr::Cast(d, a) => ref_cast(ref_eval(a, ins, idx), *d),
        Expr::Unary(op, a) => ref_unary(*op, ref_eval(a, ins, idx)),
        Expr::Binary(op, a, b) => ref_binary(*op, ref_eval(a, ins, idx), ref_eval(b, ins, idx)),
        Expr::Where(..) => unreachable!("never generated here"),
    }
}

/// An input shape that broadcasts to `out`: leading axes dropped, some axes set to 1.
fn broadcastable(rng: &mut Rng, out: &[usize]) -> Vec<usize> {
    let drop = rng.below(out.len() + 1);
    out[drop..]
        .iter()
        .map(|&d| if rng.chance(0.3) { 1 } else { d })
        .collect()
}

fn check_elementwise(seed: u64) {
    let mut rng = Rng(seed);
    let shape = rng.shape(4, 5);
    let n_in = rng.below(4);
    let dtypes: Vec<DType> = (0..n_in).map(|_| rng.dtype()).collect();
    let ins: Vec<ArrayD<Scalar>> = dtypes
        .iter()
        .map(|&d| {
            let s = broadcastable(&mut rng, &shape);
            array(&mut rng, d, &s, Values::Wild)
        })
        .collect();
    let chunks: Vec<Chunk> = ins
        .iter()
        .zip(&dtypes)
        .map(|(a, &d)| to_chunk(a, d))
        .collect();
    let want_dtype = rng.dtype();
    let depth = rng.below(4);
    let expr = gen_expr(&mut rng, want_dtype, depth, &dtypes);
    let op = Op::Elementwise {
        expr: expr.clone(),
        shape: shape.clone(),
    };
    let got = execute(&op, &chunks);
    match ref_dtype(&expr, &dtypes) {
        None => assert!(got.is_err(), "{expr:?} should be refused"),
        Some(d) => {
            let got = got.unwrap_or_else(|e| panic!("{expr:?}: {e}"));
            assert_eq!(got.dtype(), d, "{expr:?}");
            let want = ArrayD::from_shape_fn(IxDyn(&shape), |ix| ref_eval(&expr, &ins, ix.slice()));
            assert_same(&from_chunk(&got), &want, &format!("{expr:?}"));
        }
    }
}

fn check_transpose(seed: u64) {
    let mut rng = Rng(seed);
    let shape = rng.shape(5, 4);
    let d = rng.dtype();
    let a = array(&mut rng, d, &shape, Values::Wild);
    let axes = rng.permutation(shape.len());
    let got = execute(&Op::Transpose { axes: axes.clone() }, &[to_chunk(&a, d)]).unwrap();
    assert_same(
        &from_chunk(&got),
        &a.view().permuted_axes(axes).to_owned(),
        "transpose",
    );
}

fn check_assemble(seed: u64) {
    let mut rng = Rng(seed);
    let shape = rng.shape(3, 6);
    let d = rng.dtype();
    let ins: Vec<ArrayD<Scalar>> = (0..1 + rng.below(3))
        .map(|_| {
            let s: Vec<usize> = shape.iter().map(|_| rng.below(7)).collect();
            array(&mut rng, d, &s, Values::Wild)
        })
        .collect();
    let mut want = ArrayD::from_elem(IxDyn(&shape), Scalar::F64(0.0).cast(d));
    let mut pieces = Vec::new();
    for _ in 0..rng.below(5) {
        let input = rng.below(ins.len());
        let (mut source, mut offset) = (Vec::new(), Vec::new());
        for (ax, &out_len) in shape.iter().enumerate() {
            let in_len = ins[input].shape()[ax];
            let len = rng.below(in_len.min(out_len) + 1);
            let start = rng.below(in_len - len + 1);
            source.push(start..start + len);
            offset.push(rng.below(out_len - len + 1));
        }
        for (ix, v) in ins[input].indexed_iter() {
            if (0..shape.len()).all(|a| source[a].contains(&ix[a])) {
                let o: Vec<usize> = (0..shape.len())
                    .map(|a| ix[a] - source[a].start + offset[a])
                    .collect();
                want[IxDyn(&o)] = *v;
            }
        }
        pieces.push(Piece {
            input,
            source,
            offset,
        });
    }
    let chunks: Vec<Chunk> = ins.iter().map(|a| to_chunk(a, d)).collect();
    let got = execute(
        &Op::Assemble {
            shape: shape.clone(),
            dtype: d,
            pieces,
        },
        &chunks,
    )
    .unwrap();
    assert_eq!(got.dtype(), d);
    assert_same(&from_chunk(&got), &want, "assemble");
}

fn check_create(seed: u64) {
    let mut rng = Rng(seed);
    let d = rng.dtype();
    let shape = rng.shape(4, 5);
    let v = scalar(&mut rng, d, Values::Wild);
    let got = execute(
        &Op::Full {
            shape: shape.clone(),
            value: v,
        },
        &[],
    )
    .unwrap();
    assert_same(
        &from_chunk(&got),
        &ArrayD::from_elem(IxDyn(&shape), v),
        "full",
    );
    let (start, step) = (
        scalar(&mut rng, DType::F64, Values::Wild).as_f64(),
        rng.unit() * 3.0 - 1.0,
    );
    let len = rng.below(20);
    let got = execute(
        &Op::Arange {
            start,
            step,
            len,
            dtype: d,
        },
        &[],
    )
    .unwrap();
    let want = ArrayD::from_shape_fn(IxDyn(&[len]), |ix| {
        ref_cast(Scalar::F64(start + ix[0] as f64 * step), d)
    });
    assert_same(&from_chunk(&got), &want, "arange");
    let (low, high) = (rng.unit() * 10.0 - 5.0, rng.unit() * 10.0 + 5.0);
    let (seed, stream) = (rng.next(), rng.next());
    let fd = rng.pick(&[DType::F32, DType::F64]);
    let dist = RandomDist::Uniform { low, high };
    let op = Op::Random {
        seed,
        stream,
        shape: shape.clone(),
        dist,
        dtype: fd,
    };
    let got = from_chunk(&execute(&op, &[]).unwrap());
    assert_same(
        &got,
        &from_chunk(&execute(&op, &[]).unwrap()),
        "random twice",
    );
    let (lo, hi) = if fd == DType::F32 {
        (low as f32 as f64, high as f32 as f64)
    } else {
        (low, high)
    };
    assert!(
        got.iter().all(|v| (lo..hi).contains(&v.as_f64())),
        "{got:?} not in [{lo}, {hi})"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn elementwise_matches_reference(seed in any::<u64>()) {
        check_elementwise(seed);
    }

    #[test]
    fn transpose_matches_ndarray(seed in any::<u64>()) {
        check_transpose(seed);
    }

    #[test]
    fn assemble_matches_reference(seed in any::<u64>()) {
        check_assemble(seed);
    }

    #[test]
    fn creation_matches_reference(seed in any::<u64>()) {
        check_create(seed);
    }
}
