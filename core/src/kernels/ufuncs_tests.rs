//! Tests of the ufunc kernels: known NumPy values for the tricky ones (remainder, floor
//! division, rounding, NaN-aware extrema) and a property test against a per-element reference.

use super::super::execute;
use super::super::testutil::{Rng, Values, array, assert_same, from_chunk, to_chunk};
use crate::chunk::Chunk;
use crate::ops::{BinaryOp, Expr, Op, UnaryOp};
use crate::scalar::Scalar;
use ndarray::{ArrayD, IxDyn, array};
use proptest::prelude::*;

const UNARY: [UnaryOp; 27] = [
    UnaryOp::Sin,
    UnaryOp::Cos,
    UnaryOp::Tan,
    UnaryOp::Arcsin,
    UnaryOp::Arccos,
    UnaryOp::Arctan,
    UnaryOp::Sinh,
    UnaryOp::Cosh,
    UnaryOp::Tanh,
    UnaryOp::Floor,
    UnaryOp::Ceil,
    UnaryOp::Trunc,
    UnaryOp::Round(0),
    UnaryOp::Round(2),
    UnaryOp::Round(-1),
    UnaryOp::Sign,
    UnaryOp::Exp2,
    UnaryOp::Log2,
    UnaryOp::Log10,
    UnaryOp::Log1p,
    UnaryOp::Expm1,
    UnaryOp::Square,
    UnaryOp::Reciprocal,
    UnaryOp::IsNan,
    UnaryOp::IsInf,
    UnaryOp::IsFinite,
    UnaryOp::Invert,
];

const BINARY: [BinaryOp; 12] = [
    BinaryOp::Pow,
    BinaryOp::Maximum,
    BinaryOp::Minimum,
    BinaryOp::Fmax,
    BinaryOp::Fmin,
    BinaryOp::Rem,
    BinaryOp::FloorDiv,
    BinaryOp::Arctan2,
    BinaryOp::Hypot,
    BinaryOp::BitAnd,
    BinaryOp::BitOr,
    BinaryOp::BitXor,
];

fn run(expr: Expr, shape: &[usize], inputs: &[Chunk]) -> crate::error::Result<Chunk> {
    execute(
        &Op::Elementwise {
            expr,
            shape: shape.to_vec(),
        },
        inputs,
    )
}

fn un(op: UnaryOp) -> Expr {
    Expr::Unary(op, Box::new(Expr::Input(0)))
}

fn bin(op: BinaryOp) -> Expr {
    Expr::Binary(op, Box::new(Expr::Input(0)), Box::new(Expr::Input(1)))
}

fn f64s(c: &Chunk) -> Vec<f64> {
    c.to_ndarray::<f64>().unwrap().iter().copied().collect()
}

fn same_f64(got: &[f64], want: &[f64]) {
    assert_eq!(got.len(), want.len());
    for (g, w) in got.iter().zip(want) {
        assert!(
            g.to_bits() == w.to_bits() || (g.is_nan() && w.is_nan()),
            "got {got:?}, want {want:?}"
        );
    }
}

#[test]
fn remainder_and_floor_division_follow_python() {
    // Values from Python's `%` and `//` (which NumPy's remainder/floor_divide follow).
    let a = Chunk::from_ndarray(array![7.0, -7.0, 7.0, -7.0, 1.0, 5.5, 0.0, -0.0, 3.0].into_dyn());
    let b = Chunk::from_ndarray(array![3.0, 3.0, -3.0, -3.0, 0.1, 2.0, -2.0, 2.0, 0.0].into_dyn());
    let ins = [a, b];
    let rem = run(bin(BinaryOp::Rem), &[9], &ins).unwrap();
    same_f64(
        &f64s(&rem),
        &[
            1.0,
            2.0,
            -2.0,
            -1.0,
            0.09999999999999995,
            1.5,
            -0.0,
            0.0,
            f64::NAN,
        ],
    );
    let fd = run(bin(BinaryOp::FloorDiv), &[9], &ins).unwrap();
    same_f64(
        &f64s(&fd),
        &[2.0, -3.0, -3.0, 2.0, 9.0, 2.0, -0.0, -0.0, f64::INFINITY],
    );
    let a = Chunk::from_ndarray(array![7i64, -7, 7, -7, 5, i64::MIN, i64::MIN].into_dyn());
    let b = Chunk::from_ndarray(array![3i64, 3, -3, -3, 0, -1, 2].into_dyn());
    let ins = [a, b];
    let rem = run(bin(BinaryOp::Rem), &[7], &ins).unwrap();
    assert_eq!(
        rem.to_ndarray::<i64>().unwrap(),
        array![1i64, 2, -2, -1, 0, 0, 0].into_dyn()
    );
    let fd = run(bin(BinaryOp::FloorDiv), &[7], &ins).unwrap();
    assert_eq!(
        fd.to_ndarray::<i64>().unwrap(),
        array![2i64, -3, -3, 2, 0, i64::MIN, i64::MIN / 2].into_dyn()
    );
}

#[test]
fn rounding_is_half_to_even_like_numpy() {
    let x =
        Chunk::from_ndarray(array![0.5, 1.5, 2.5, -0.5, -2.5, 2.675, 1234.5, f64::NAN].into_dyn());
    let r0 = run(un(UnaryOp::Round(0)), &[8], std::slice::from_ref(&x)).unwrap();
    same_f64(
        &f64s(&r0),
        &[0.0, 2.0, 2.0, -0.0, -2.0, 3.0, 1234.0, f64::NAN],
    );
    let r2 = run(un(UnaryOp::Round(2)), &[8], std::slice::from_ref(&x)).unwrap();
    // NumPy scales, rounds, unscales: 2.675 * 100 is exactly 267.5 in binary, so 2.68
    // (Python's decimal-exact `round` gives 2.67).
    assert_eq!(f64s(&r2)[5], 2.68);
    let rm = run(un(UnaryOp::Round(-1)), &[8], std::slice::from_ref(&x)).unwrap();
    assert_eq!(f64s(&rm)[6], 1230.0);
    let i = Chunk::from_ndarray(array![15i32, 25, -15, -25, 14, 7].into_dyn());
    let ri = run(un(UnaryOp::Round(-1)), &[6], std::slice::from_ref(&i)).unwrap();
    assert_eq!(
        ri.to_ndarray::<i32>().unwrap(),
        array![20, 20, -20, -20, 10, 10].into_dyn()
    );
    let same = run(un(UnaryOp::Round(3)), &[6], std::slice::from_ref(&i)).unwrap();
    assert_eq!(
        same.to_ndarray::<i32>().unwrap(),
        i.to_ndarray::<i32>().unwrap()
    );
    let huge = run(un(UnaryOp::Round(-30)), &[6], &[i]).unwrap();
    assert!(huge.to_ndarray::<i32>().unwrap().iter().all(|&v| v == 0));
}

#[test]
fn extrema_power_and_where() {
    let a = Chunk::from_ndarray(array![1.0, f64::NAN, 3.0, f64::NAN].into_dyn());
    let b = Chunk::from_ndarray(array![2.0, 0.0, f64::NAN, f64::NAN].into_dyn());
    let ins = [a, b];
    let mx = run(bin(BinaryOp::Maximum), &[4], &ins).unwrap();
    same_f64(&f64s(&mx), &[2.0, f64::NAN, f64::NAN, f64::NAN]);
    let fx = run(bin(BinaryOp::Fmax), &[4], &ins).unwrap();
    same_f64(&f64s(&fx), &[2.0, 0.0, 3.0, f64::NAN]);
    let fm = run(bin(BinaryOp::Fmin), &[4], &ins).unwrap();
    same_f64(&f64s(&fm), &[1.0, 0.0, 3.0, f64::NAN]);
    let base = Chunk::from_ndarray(array![2i32, -3, 0, 7].into_dyn());
    let exp = Chunk::from_ndarray(array![10i32, 3, 0, 40].into_dyn());
    let p = run(bin(BinaryOp::Pow), &[4], &[base.clone(), exp]).unwrap();
    assert_eq!(
        p.to_ndarray::<i32>().unwrap(),
        array![1024, -27, 1, 7i32.wrapping_pow(40)].into_dyn()
    );
    let neg = Chunk::from_ndarray(array![1i32, -1, 0, 0].into_dyn());
    let err = run(bin(BinaryOp::Pow), &[4], &[base, neg]).unwrap_err();
    assert!(err.to_string().contains("negative integer powers"), "{err}");
    // where broadcasts condition (column), choice (row) and a scalar.
    let cond = Chunk::from_ndarray(array![[true], [false]].into_dyn());
    let row = Chunk::from_ndarray(array![1i64, 2, 3].into_dyn());
    let w = Expr::Where(
        Box::new(Expr::Input(0)),
        Box::new(Expr::Input(1)),
        Box::new(Expr::Scalar(Scalar::I64(-1))),
    );
    let out = run(w, &[2, 3], &[cond.clone(), row.clone()]).unwrap();
    assert_eq!(
        out.to_ndarray::<i64>().unwrap(),
        array![[1i64, 2, 3], [-1, -1, -1]].into_dyn()
    );
    // Refused: non-bool condition, mixed choices.
    let bad = Expr::Where(
        Box::new(Expr::Input(1)),
        Box::new(Expr::Input(1)),
        Box::new(Expr::Input(1)),
    );
    assert!(run(bad, &[3], &[cond.clone(), row.clone()]).is_err());
    let mixed = Expr::Where(
        Box::new(Expr::Input(0)),
        Box::new(Expr::Input(1)),
        Box::new(Expr::Scalar(Scalar::F64(1.0))),
    );
    assert!(run(mixed, &[2, 3], &[cond, row]).is_err());
}

/// The reference: one element at a time, written independently of the kernels (integer
/// floor division and remainder in `i128`, float extrema spelled out).
fn ref_unary(op: UnaryOp, x: Scalar) -> Option<Scalar> {
    use Scalar::*;
    let fl = |v: f64| -> f64 {
        match op {
            UnaryOp::Sin => v.sin(),
            UnaryOp::Cos => v.cos(),
            UnaryOp::Tan => v.tan(),
            UnaryOp::Arcsin => v.asin(),
            UnaryOp::Arccos => v.acos(),
            UnaryOp::Arctan => v.atan(),
            UnaryOp::Sinh => v.sinh(),
            UnaryOp::Cosh => v.cosh(),
            UnaryOp::Tanh => v.tanh(),
            UnaryOp::Floor => v.floor(),
            UnaryOp::Ceil => v.ceil(),
            UnaryOp::Trunc => v.trunc(),
            UnaryOp::Sign if v.is_nan() => v,
            UnaryOp::Sign => (v > 0.0) as i32 as f64 - (v < 0.0) as i32 as f64,
            UnaryOp::Exp2 => v.exp2(),
            UnaryOp::Log2 => v.log2(),
            UnaryOp::Log10 => v.log10(),
            UnaryOp::Log1p => v.ln_1p(),
            UnaryOp::Expm1 => v.exp_m1(),
            UnaryOp::Square => v * v,
            UnaryOp::Reciprocal => 1.0 / v,
            _ => unreachable!(),
        }
    };
    let pred = |nan: bool, inf: bool| match op {
        UnaryOp::IsNan => Some(Bool(nan)),
        UnaryOp::IsInf => Some(Bool(inf)),
        _ => Some(Bool(!nan && !inf)),
    };
    if op.is_predicate() {
        return match x {
            F32(v) => pred(v.is_nan(), v.is_infinite()),
            F64(v) => pred(v.is_nan(), v.is_infinite()),
            _ => pred(false, false),
        };
    }
    match (op, x) {
        (UnaryOp::Invert, Bool(v)) => Some(Bool(!v)),
        (UnaryOp::Invert, I32(v)) => Some(I32(!v)),
        (UnaryOp::Invert, I64(v)) => Some(I64(!v)),
        (UnaryOp::Invert, _) | (_, Bool(_)) => None,
        (UnaryOp::Round(_), F32(_) | F64(_)) => None, // checked by known values
        (UnaryOp::Round(d), I32(v)) if d >= 0 => Some(I32(v)),
        (UnaryOp::Round(d), I64(v)) if d >= 0 => Some(I64(v)),
        (UnaryOp::Round(d), I32(v)) => Some(I32(ref_round_int(v as i128, d) as i32)),
        (UnaryOp::Round(d), I64(v)) => Some(I64(ref_round_int(v as i128, d) as i64)),
        (UnaryOp::Sign, I32(v)) => Some(I32(v.signum())),
        (UnaryOp::Sign, I64(v)) => Some(I64(v.signum())),
        (UnaryOp::Square, I32(v)) => Some(I32(v.wrapping_mul(v))),
        (UnaryOp::Square, I64(v)) => Some(I64(v.wrapping_mul(v))),
        (UnaryOp::Reciprocal, I32(v)) => Some(I32(if v.unsigned_abs() == 1 { v } else { 0 })),
        (UnaryOp::Reciprocal, I64(v)) => Some(I64(if v.unsigned_abs() == 1 { v } else { 0 })),
        (_, I32(_) | I64(_)) => None,
        (_, F32(v)) => Some(F32(f32_op(op, v, fl))),
        (_, F64(v)) => Some(F64(fl(v))),
    }
}

/// Nearest multiple of `10^-d` (d < 0), ties to the even multiple.
fn ref_round_int(x: i128, d: i32) -> i128 {
    let f = 10i128.pow(d.unsigned_abs());
    let lo = x.div_euclid(f) * f;
    let hi = lo + f;
    match (x - lo).cmp(&(hi - x)) {
        std::cmp::Ordering::Less => lo,
        std::cmp::Ordering::Greater => hi,
        std::cmp::Ordering::Equal if (lo / f) % 2 == 0 => lo,
        std::cmp::Ordering::Equal => hi,
    }
}

/// The f32 reference computes in f32 where Rust's std does (it has f32 versions of all).
fn f32_op(op: UnaryOp, v: f32, _f64: impl Fn(f64) -> f64) -> f32 {
    match op {
        UnaryOp::Sin => v.sin(),
        UnaryOp::Cos => v.cos(),
        UnaryOp::Tan => v.tan(),
        UnaryOp::Arcsin => v.asin(),
        UnaryOp::Arccos => v.acos(),
        UnaryOp::Arctan => v.atan(),
        UnaryOp::Sinh => v.sinh(),
        UnaryOp::Cosh => v.cosh(),
        UnaryOp::Tanh => v.tanh(),
        UnaryOp::Floor => v.floor(),
        UnaryOp::Ceil => v.ceil(),
        UnaryOp::Trunc => v.trunc(),
        UnaryOp::Sign if v.is_nan() => v,
        UnaryOp::Sign => (v > 0.0) as i32 as f32 - (v < 0.0) as i32 as f32,
        UnaryOp::Exp2 => v.exp2(),
        UnaryOp::Log2 => v.log2(),
        UnaryOp::Log10 => v.log10(),
        UnaryOp::Log1p => v.ln_1p(),
        UnaryOp::Expm1 => v.exp_m1(),
        UnaryOp::Square => v * v,
        _ => 1.0 / v,
    }
}

fn ref_int(op: BinaryOp, a: i128, b: i128) -> Option<i128> {
    Some(match op {
        BinaryOp::Maximum | BinaryOp::Fmax => a.max(b),
        BinaryOp::Minimum | BinaryOp::Fmin => a.min(b),
        BinaryOp::Rem if b == 0 => 0,
        BinaryOp::Rem if b > 0 => a.rem_euclid(b),
        BinaryOp::Rem => -(-a).rem_euclid(-b),
        BinaryOp::FloorDiv if b == 0 => 0,
        BinaryOp::FloorDiv => {
            let q = a / b;
            if a % b != 0 && (a < 0) != (b < 0) {
                q - 1
            } else {
                q
            }
        }
        BinaryOp::BitAnd => a & b,
        BinaryOp::BitOr => a | b,
        BinaryOp::BitXor => a ^ b,
        BinaryOp::Pow if b < 0 => return None,
        BinaryOp::Pow => {
            let (mut acc, mut base, mut e) = (1u64, a as u64, b as u64);
            while e != 0 {
                if e % 2 == 1 {
                    acc = acc.wrapping_mul(base);
                }
                base = base.wrapping_mul(base);
                e /= 2;
            }
            acc as i64 as i128
        }
        _ => return None,
    })
}

fn ref_float(op: BinaryOp, a: f64, b: f64) -> Option<f64> {
    Some(match op {
        BinaryOp::Pow => a.powf(b),
        BinaryOp::Maximum | BinaryOp::Minimum if a.is_nan() || b.is_nan() => f64::NAN,
        BinaryOp::Maximum | BinaryOp::Fmax if b.is_nan() => a,
        BinaryOp::Maximum | BinaryOp::Fmax if a.is_nan() => b,
        BinaryOp::Maximum | BinaryOp::Fmax => {
            if a >= b {
                a
            } else {
                b
            }
        }
        BinaryOp::Minimum | BinaryOp::Fmin if b.is_nan() => a,
        BinaryOp::Minimum | BinaryOp::Fmin if a.is_nan() => b,
        BinaryOp::Minimum | BinaryOp::Fmin => {
            if a <= b {
                a
            } else {
                b
            }
        }
        BinaryOp::Arctan2 => a.atan2(b),
        BinaryOp::Hypot => a.hypot(b),
        _ => return None, // Rem and FloorDiv: checked against Python's values above
    })
}

fn ref_binary(op: BinaryOp, a: Scalar, b: Scalar) -> Option<Scalar> {
    use Scalar::*;
    match (a, b) {
        (Bool(x), Bool(y)) => match op {
            BinaryOp::Maximum | BinaryOp::Fmax | BinaryOp::BitOr => Some(Bool(x | y)),
            BinaryOp::Minimum | BinaryOp::Fmin | BinaryOp::BitAnd => Some(Bool(x & y)),
            BinaryOp::BitXor => Some(Bool(x ^ y)),
            _ => None,
        },
        (I32(x), I32(y)) => ref_int(op, x as i128, y as i128).map(|v| I32(v as i32)),
        (I64(x), I64(y)) => ref_int(op, x as i128, y as i128).map(|v| I64(v as i64)),
        (F32(x), F32(y)) => match op {
            BinaryOp::Pow => Some(F32(x.powf(y))),
            BinaryOp::Arctan2 => Some(F32(x.atan2(y))),
            BinaryOp::Hypot => Some(F32(x.hypot(y))),
            _ => ref_float(op, x as f64, y as f64).map(|v| F32(v as f32)),
        },
        (F64(x), F64(y)) => ref_float(op, x, y).map(F64),
        _ => None,
    }
}

/// Kernel vs reference on random shapes (0-d, empty, size-1, broadcast) and every dtype.
fn check_ufuncs(seed: u64) {
    let mut rng = Rng(seed);
    let shape = rng.shape(3, 4);
    let d = rng.dtype();
    let how = if rng.chance(0.5) {
        Values::Wild
    } else {
        Values::Moderate {
            offset: 0.0,
            specials: true,
        }
    };
    let x = array(&mut rng, d, &shape, how);
    let y_shape: Vec<usize> = shape
        .iter()
        .map(|&s| if rng.chance(0.3) { 1 } else { s })
        .collect();
    let y = array(&mut rng, d, &y_shape, how);
    let ins = [to_chunk(&x, d), to_chunk(&y, d)];
    let op = rng.pick(&UNARY);
    let got = run(un(op), &shape, &ins[..1]);
    let zero = Scalar::F64(0.0).cast(d);
    let float_round = matches!(op, UnaryOp::Round(_)) && d.is_float();
    let typed_ok = float_round || ref_unary(op, zero).is_some();
    assert_eq!(got.is_ok(), typed_ok, "{op:?} on {d}");
    if let Ok(g) = got
        && !float_round
    {
        let w: Vec<Scalar> = x.iter().map(|&v| ref_unary(op, v).unwrap()).collect();
        let w = ArrayD::from_shape_vec(IxDyn(&shape), w).unwrap();
        assert_same(&from_chunk(&g), &w, &format!("{op:?} on {d}"));
    }
    let op = rng.pick(&BINARY);
    let got = run(bin(op), &shape, &ins);
    let yb = y.broadcast(IxDyn(&shape)).unwrap();
    let want: Option<Vec<Scalar>> = x
        .iter()
        .zip(yb.iter())
        .map(|(&a, &b)| ref_binary(op, a, b))
        .collect();
    let unchecked = d.is_float() && matches!(op, BinaryOp::Rem | BinaryOp::FloorDiv);
    let typed_ok = unchecked || ref_binary(op, zero, zero).is_some();
    if !typed_ok {
        assert!(got.is_err(), "{op:?} on {d} must be refused");
    } else if unchecked {
        assert!(got.is_ok(), "{op:?} on {d}");
    } else {
        match (got, want) {
            (Ok(g), Some(w)) => {
                let w = ArrayD::from_shape_vec(IxDyn(&shape), w).unwrap();
                assert_same(&from_chunk(&g), &w, &format!("{op:?} on {d}"));
            }
            (Err(_), None) => {}
            (g, w) => panic!("{op:?} on {d}: kernel {:?}, reference {w:?}", g.map(|_| ())),
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, failure_persistence: None, ..ProptestConfig::default() })]
    #[test]
    fn ufuncs_match_the_reference(seed in any::<u64>()) {
        check_ufuncs(seed);
    }
}
