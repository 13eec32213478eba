//! End-to-end tests of the array math on a real cluster: random ufuncs, `where`, `clip`,
//! NaN-aware reductions, argmin/argmax and scans on random shapes, dtypes and chunkings.

mod common;

use ndarray::{ArrayD, Axis, IxDyn};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use tessera::array::{from_ndarray, where_};
use tessera::{Array, Client, DType};

/// One operation under test.
#[derive(Clone, Copy, Debug)]
enum MathOp {
    Unary(usize),
    Binary(usize, bool),
    Where,
    Clip,
    Reduce(usize, Option<usize>),
    Arg(bool, Option<usize>),
    Scan(usize, usize),
}

const UNARY: [&str; 23] = [
    "sin",
    "cos",
    "tan",
    "arcsin",
    "arctan",
    "sinh",
    "tanh",
    "floor",
    "ceil",
    "trunc",
    "round",
    "sign",
    "exp2",
    "log2",
    "log10",
    "log1p",
    "expm1",
    "square",
    "reciprocal",
    "isnan",
    "isinf",
    "isfinite",
    "invert",
];
const BINARY: [&str; 14] = [
    "power",
    "maximum",
    "minimum",
    "fmax",
    "fmin",
    "remainder",
    "floor_divide",
    "arctan2",
    "hypot",
    "and",
    "or",
    "xor",
    "logical_and",
    "logical_xor",
];
const REDUCE: [&str; 10] = [
    "any",
    "all",
    "count_nonzero",
    "nansum",
    "nanprod",
    "nanmean",
    "nanmin",
    "nanmax",
    "nanvar",
    "nanstd",
];
const SCAN: [&str; 3] = ["cumsum", "cumprod", "nancumsum"];

fn unary(name: &str, a: &Array) -> Array {
    match name {
        "sin" => a.sin(),
        "cos" => a.cos(),
        "tan" => a.tan(),
        "arcsin" => a.arcsin(),
        "arctan" => a.arctan(),
        "sinh" => a.sinh(),
        "tanh" => a.tanh(),
        "floor" => a.floor(),
        "ceil" => a.ceil(),
        "trunc" => a.trunc(),
        "round" => a.round(0),
        "sign" => a.sign(),
        "exp2" => a.exp2(),
        "log2" => a.log2(),
        "log10" => a.log10(),
        "log1p" => a.log1p(),
        "expm1" => a.expm1(),
        "square" => a.square(),
        "reciprocal" => a.reciprocal(),
        "isnan" => a.isnan(),
        "isinf" => a.isinf(),
        "isfinite" => a.isfinite(),
        _ => !a,
    }
}

/// NumPy's answer for one element (inputs as f64), or `None` where the dtype is refused.
fn ref_unary(name: &str, d: DType, x: f64) -> Option<f64> {
    let int = !d.is_float();
    if d == DType::Bool && matches!(name, "round" | "sign" | "square" | "reciprocal") {
        return None;
    }
    Some(match name {
        "sin" => x.sin(),
        "cos" => x.cos(),
        "tan" => x.tan(),
        "arcsin" => x.asin(),
        "arctan" => x.atan(),
        "sinh" => x.sinh(),
        "tanh" => x.tanh(),
        "floor" => x.floor(),
        "ceil" => x.ceil(),
        "trunc" => x.trunc(),
        "round" => x.round_ties_even(),
        "sign" if x.is_nan() => x,
        "sign" => (x > 0.0) as i32 as f64 - (x < 0.0) as i32 as f64,
        "exp2" => x.exp2(),
        "log2" => x.log2(),
        "log10" => x.log10(),
        "log1p" => x.ln_1p(),
        "expm1" => x.exp_m1(),
        "square" => x * x,
        "reciprocal" if int => {
            if x.abs() == 1.0 {
                x
            } else {
                0.0
            }
        }
        "reciprocal" => 1.0 / x,
        "isnan" => x.is_nan() as i32 as f64,
        "isinf" => x.is_infinite() as i32 as f64,
        "isfinite" => x.is_finite() as i32 as f64,
        _ if d == DType::Bool => (x == 0.0) as i32 as f64,
        _ if int => -x - 1.0,
        _ => return None,
    })
}

fn binary(name: &str, a: &Array, b: &Array) -> Array {
    match name {
        "power" => a.power(b),
        "maximum" => a.maximum(b),
        "minimum" => a.minimum(b),
        "fmax" => a.fmax(b),
        "fmin" => a.fmin(b),
        "remainder" => a.remainder(b),
        "floor_divide" => a.floor_divide(b),
        "arctan2" => a.arctan2(b),
        "hypot" => a.hypot(b),
        "and" => a & b,
        "or" => a | b,
        "xor" => a ^ b,
        "logical_and" => a.logical_and(b),
        _ => a.logical_xor(b),
    }
}

fn ref_binary(name: &str, d: DType, x: f64, y: f64) -> Option<f64> {
    let (int, boolean) = (d.is_int(), d == DType::Bool);
    let nan = x.is_nan() || y.is_nan();
    Some(match name {
        "power" if boolean => return None,
        "power" if int => x.powi(y as i32),
        "power" => x.powf(y),
        "maximum" if nan => f64::NAN,
        "minimum" if nan => f64::NAN,
        "maximum" | "fmax" => {
            if y.is_nan() || x >= y {
                x
            } else {
                y
            }
        }
        "minimum" | "fmin" => {
            if y.is_nan() || x <= y {
                x
            } else {
                y
            }
        }
        // Tessera refuses bool operands here (NumPy computes them in int8).
        "remainder" | "floor_divide" if boolean => return None,
        "remainder" if !int => npy_divmod(x, y).1,
        "floor_divide" if !int => npy_divmod(x, y).0,
        "remainder" if y == 0.0 => 0.0,
        "remainder" => x - y * (x / y).floor(),
        "floor_divide" if y == 0.0 => 0.0,
        "floor_divide" => (x / y).floor(),
        "arctan2" => x.atan2(y),
        "hypot" => x.hypot(y),
        "and" | "or" | "xor" if d.is_float() => return None,
        "and" => (x as i64 & y as i64) as f64,
        "or" => (x as i64 | y as i64) as f64,
        "xor" => (x as i64 ^ y as i64) as f64,
        "logical_and" => ((x != 0.0) && (y != 0.0)) as i32 as f64,
        _ => ((x != 0.0) != (y != 0.0)) as i32 as f64,
    })
}

/// NumPy's float `divmod` (npymath's `npy_divmod`): floor quotient and remainder.
fn npy_divmod(a: f64, b: f64) -> (f64, f64) {
    let m = a % b;
    if b == 0.0 {
        return (a / b, m);
    }
    let mut div = (a - m) / b;
    let m = if m != 0.0 {
        if (b < 0.0) != (m < 0.0) {
            div -= 1.0;
            m + b
        } else {
            m
        }
    } else {
        0.0f64.copysign(b)
    };
    let q = if div != 0.0 {
        let f = div.floor();
        if div - f > 0.5 { f + 1.0 } else { f }
    } else {
        0.0f64.copysign(a / b)
    };
    (q, m)
}

fn reduce(name: &str, a: &Array, axis: Option<usize>) -> Array {
    let by = |all: fn(&Array) -> Array, one: fn(&Array, usize) -> Array| match axis {
        None => all(a),
        Some(x) => one(a, x),
    };
    match name {
        "any" => by(Array::any, Array::any_axis),
        "all" => by(Array::all, Array::all_axis),
        "count_nonzero" => by(Array::count_nonzero, Array::count_nonzero_axis),
        "nansum" => by(Array::nansum, Array::nansum_axis),
        "nanprod" => by(Array::nanprod, Array::nanprod_axis),
        "nanmean" => by(Array::nanmean, Array::nanmean_axis),
        "nanmin" => by(Array::nanmin, Array::nanmin_axis),
        "nanmax" => by(Array::nanmax, Array::nanmax_axis),
        "nanvar" => by(|a| a.nanvar(0), |a, x| a.nanvar_axis(x, 0)),
        _ => by(|a| a.nanstd(1), |a, x| a.nanstd_axis(x, 1)),
    }
}

fn ref_reduce_lane(name: &str, xs: &[f64]) -> Option<f64> {
    let kept: Vec<f64> = xs.iter().copied().filter(|x| !x.is_nan()).collect();
    let n = kept.len() as f64;
    let var = |ddof: f64| {
        if n <= ddof {
            f64::NAN
        } else {
            let m = kept.iter().sum::<f64>() / n;
            kept.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / (n - ddof)
        }
    };
    Some(match name {
        "any" => xs.iter().any(|&x| x != 0.0) as i32 as f64,
        "all" => xs.iter().all(|&x| x != 0.0) as i32 as f64,
        "count_nonzero" => xs.iter().filter(|&&x| x != 0.0).count() as f64,
        "nansum" => kept.iter().sum(),
        "nanprod" => kept.iter().product(),
        "nanmean" => kept.iter().sum::<f64>() / n,
        "nanmin" | "nanmax" if xs.is_empty() => return None,
        "nanmin" if kept.is_empty() => f64::NAN,
        "nanmax" if kept.is_empty() => f64::NAN,
        "nanmin" => kept.iter().copied().fold(f64::INFINITY, f64::min),
        "nanmax" => kept.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        "nanvar" => var(0.0),
        _ => var(1.0).sqrt(),
    })
}

/// Index of the first best element (NaN wins), or `None` for an empty lane.
fn ref_arg(max: bool, xs: &[f64]) -> Option<f64> {
    if let Some(i) = xs.iter().position(|x| x.is_nan()) {
        return Some(i as f64);
    }
    let mut best = 0;
    for (i, &x) in xs.iter().enumerate() {
        if (max && x > xs[best]) || (!max && x < xs[best]) {
            best = i;
        }
    }
    (!xs.is_empty()).then_some(best as f64)
}

fn ref_scan(name: &str, a: &ArrayD<f64>, axis: usize) -> ArrayD<f64> {
    let mut out = a.clone();
    if name == "nancumsum" {
        out.mapv_inplace(|x| if x.is_nan() { 0.0 } else { x });
    }
    for i in 1..a.shape()[axis] {
        let prev = out.index_axis(Axis(axis), i - 1).to_owned();
        let mut cur = out.index_axis_mut(Axis(axis), i);
        if name == "cumprod" {
            cur *= &prev;
        } else {
            cur += &prev;
        }
    }
    out
}

/// Per-lane reference over `axis` (or the flattened array).
fn per_lane(
    a: &ArrayD<f64>,
    axis: Option<usize>,
    f: impl Fn(&[f64]) -> Option<f64>,
) -> Option<ArrayD<f64>> {
    match axis {
        None => {
            let flat: Vec<f64> = a.iter().copied().collect();
            Some(ArrayD::from_elem(IxDyn(&[]), f(&flat)?))
        }
        Some(ax) if a.shape()[ax] == 0 && f(&[]).is_none() => None,
        Some(ax) => {
            let lanes: Option<Vec<f64>> = a
                .lanes(Axis(ax))
                .into_iter()
                .map(|l| f(&l.iter().copied().collect::<Vec<_>>()))
                .collect();
            let mut shape = a.shape().to_vec();
            shape.remove(ax);
            Some(ArrayD::from_shape_vec(IxDyn(&shape), lanes?).unwrap())
        }
    }
}

/// An array of `d` holding `v` (already representable in `d`), chunked by `chunks`.
fn make(d: DType, v: &ArrayD<f64>, chunks: &[usize]) -> Array {
    match d {
        DType::Bool => from_ndarray(&v.mapv(|x| x != 0.0), chunks),
        DType::I32 => from_ndarray(&v.mapv(|x| x as i32), chunks),
        DType::I64 => from_ndarray(&v.mapv(|x| x as i64), chunks),
        DType::F32 => from_ndarray(&v.mapv(|x| x as f32), chunks),
        DType::F64 => from_ndarray(v, chunks),
    }
}

/// Random values representable in `d`: small ints, 0/1 for bool, floats with specials.
fn values(d: DType, shape: &[usize], seed: &mut u64) -> ArrayD<f64> {
    ArrayD::from_shape_simple_fn(IxDyn(shape), || {
        *seed ^= *seed << 13;
        *seed ^= *seed >> 7;
        *seed ^= *seed << 17;
        let u = (*seed >> 11) as f64 / (1u64 << 53) as f64;
        match d {
            DType::Bool => (u < 0.5) as i32 as f64,
            DType::I32 | DType::I64 => (u * 9.0).floor() - 4.0,
            _ => match *seed % 23 {
                0 => f64::NAN,
                1 => f64::INFINITY,
                2 => 0.0,
                3 => 0.5,
                _ => ((u * 6.0 - 3.0) * 1024.0).round() / 1024.0,
            },
        }
    })
}

fn close(got: &ArrayD<f64>, want: &ArrayD<f64>, tol: f64) -> Result<(), String> {
    if got.shape() != want.shape() {
        return Err(format!("shape {:?} != {:?}", got.shape(), want.shape()));
    }
    for ((ix, g), w) in got.indexed_iter().zip(want.iter()) {
        let ok = (g.is_nan() && w.is_nan()) || g == w || (g - w).abs() <= tol * (1.0 + w.abs());
        if !ok {
            return Err(format!("at {ix:?}: got {g}, want {w}"));
        }
    }
    Ok(())
}

fn op_strategy() -> impl Strategy<Value = MathOp> {
    let axis = prop_oneof![Just(None), (0..3usize).prop_map(Some)];
    prop_oneof![
        (0..UNARY.len()).prop_map(MathOp::Unary),
        (0..BINARY.len(), any::<bool>()).prop_map(|(i, row)| MathOp::Binary(i, row)),
        Just(MathOp::Where),
        Just(MathOp::Clip),
        (0..REDUCE.len(), axis.clone()).prop_map(|(i, a)| MathOp::Reduce(i, a)),
        (any::<bool>(), axis).prop_map(|(m, a)| MathOp::Arg(m, a)),
        (0..SCAN.len(), 0..3usize).prop_map(|(i, a)| MathOp::Scan(i, a)),
    ]
}

/// Build the expression and NumPy's answer; `None` as the answer means "must be refused".
fn case(
    op: MathOp,
    d: DType,
    x: &ArrayD<f64>,
    y: &ArrayD<f64>,
    xa: &Array,
    ya: &Array,
) -> (Array, Option<ArrayD<f64>>) {
    let nd = x.ndim();
    let fix = |a: Option<usize>| a.map(|a| a % nd.max(1));
    match op {
        MathOp::Unary(i) => {
            let w: Option<Vec<f64>> = x.iter().map(|&v| ref_unary(UNARY[i], d, v)).collect();
            let w = ref_unary(UNARY[i], d, 0.0).and(w);
            (
                unary(UNARY[i], xa),
                w.map(|w| ArrayD::from_shape_vec(x.raw_dim(), w).unwrap()),
            )
        }
        MathOp::Binary(i, _) => {
            let name = BINARY[i];
            let yb = y.broadcast(x.raw_dim()).unwrap();
            let w: Option<Vec<f64>> = x
                .iter()
                .zip(yb.iter())
                .map(|(&a, &b)| ref_binary(name, d, a, b))
                .collect();
            let w = ref_binary(name, d, 1.0, 1.0).and(w);
            (
                binary(name, xa, ya),
                w.map(|w| ArrayD::from_shape_vec(x.raw_dim(), w).unwrap()),
            )
        }
        MathOp::Where => {
            let yb = y.broadcast(x.raw_dim()).unwrap();
            let w = ndarray::Zip::from(x)
                .and(&yb)
                .map_collect(|&a, &b| if a > 0.0 { a } else { b });
            (where_(&xa.gt(0i64), xa, ya), Some(w))
        }
        MathOp::Clip => {
            let w = x.mapv(|v| if v.is_nan() { v } else { v.clamp(-1.0, 1.0) });
            (xa.clip(-1i64, 1i64), Some(w))
        }
        MathOp::Reduce(i, axis) => {
            let axis = fix(axis);
            let w = per_lane(x, axis, |l| ref_reduce_lane(REDUCE[i], l));
            (reduce(REDUCE[i], xa, axis), w)
        }
        MathOp::Arg(max, axis) => {
            let axis = fix(axis);
            let w = per_lane(x, axis, |l| ref_arg(max, l));
            let a = match (max, axis) {
                (true, None) => xa.argmax(),
                (true, Some(ax)) => xa.argmax_axis(ax),
                (false, None) => xa.argmin(),
                (false, Some(ax)) => xa.argmin_axis(ax),
            };
            (a, w)
        }
        MathOp::Scan(i, axis) => {
            let axis = axis % nd.max(1);
            (
                xa.try_scan_by_name(SCAN[i], axis),
                Some(ref_scan(SCAN[i], x, axis)),
            )
        }
    }
}

trait ScanByName {
    fn try_scan_by_name(&self, name: &str, axis: usize) -> Array;
}
impl ScanByName for Array {
    fn try_scan_by_name(&self, name: &str, axis: usize) -> Array {
        match name {
            "cumsum" => self.cumsum(axis),
            "cumprod" => self.cumprod(axis),
            _ => self.nancumsum(axis),
        }
    }
}

#[test]
fn random_math_matches_numpy_semantics() {
    let cluster = common::cluster(2);
    let client: Client = cluster.client().unwrap();
    let dims = prop_oneof![Just(0usize), Just(1), 1usize..7];
    let strategy = (
        proptest::collection::vec(dims, 1..4),
        proptest::collection::vec(1usize..4, 3),
        0..5usize,
        op_strategy(),
        any::<u64>(),
    );
    let mut runner = TestRunner::new(Config {
        cases: 160,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&strategy, |(shape, chunks, di, op, seed)| {
            let d = DType::ALL[di];
            let mut s = seed | 1;
            let x = values(d, &shape, &mut s);
            // The second operand: same shape, or a row broadcast along the leading axes.
            let row = matches!(op, MathOp::Binary(_, true));
            let y_shape = if row {
                shape[shape.len() - 1..].to_vec()
            } else {
                shape.clone()
            };
            let mut y = values(d, &y_shape, &mut s);
            if matches!(op, MathOp::Binary(0, _)) && d.is_int() {
                y.mapv_inplace(f64::abs); // integer powers need non-negative exponents
            }
            let xa = make(d, &x, &chunks[..shape.len()]);
            let ya = make(d, &y, &chunks[3 - y_shape.len()..]);
            let (array, want) = case(op, d, &x, &y, &xa, &ya);
            let what = format!("{op:?} on {d} {shape:?} chunks {chunks:?}");
            let Some(want) = want else {
                prop_assert!(array.check().is_err(), "{what}: must be refused");
                return Ok(());
            };
            array
                .check()
                .map_err(|e| TestCaseError::fail(format!("{what}: {e}")))?;
            let out_dtype = array.dtype().unwrap();
            let got: ArrayD<f64> = client
                .compute(&array.astype(DType::F64))
                .map_err(|e| TestCaseError::fail(format!("{what}: {e}")))?;
            let tol = if out_dtype == DType::F32 { 3e-5 } else { 1e-9 };
            close(&got, &want, tol).map_err(|m| TestCaseError::fail(format!("{what}: {m}")))
        })
        .unwrap();
}

#[test]
fn a_chain_of_new_ufuncs_fuses_and_computes() {
    let cluster = common::cluster(1);
    let client: Client = cluster.client().unwrap();
    let data = ArrayD::from_shape_fn(IxDyn(&[7, 5]), |ix| ix[0] as f64 * 0.7 - ix[1] as f64);
    let x = from_ndarray(&data, &[3, 2]);
    let y = where_(
        &x.sin().square().clip(0.1, 0.9).isfinite(),
        &x.tanh().round(1).maximum(-0.5).hypot(1.0),
        f64::NAN,
    );
    let chunks = y.num_chunks().unwrap();
    let stats = y.graph_stats().unwrap();
    assert_eq!(stats.tasks_after, chunks, "{stats:?}");
    assert!(stats.fused_nodes >= 9, "{stats:?}");
    let got: ArrayD<f64> = client.compute(&y).unwrap();
    let want = data.mapv(|v| {
        let s = v.sin() * v.sin();
        let c = s.clamp(0.1, 0.9);
        if c.is_finite() {
            ((v.tanh() * 10.0).round_ties_even() / 10.0)
                .max(-0.5)
                .hypot(1.0)
        } else {
            f64::NAN
        }
    });
    close(&got, &want, 1e-12).unwrap();
    // A scan and an argmax over the same input, computed together on the cluster.
    let c: ArrayD<f64> = client.compute(&x.cumsum(1)).unwrap();
    close(&c, &ref_scan("cumsum", &data, 1), 1e-12).unwrap();
    let am: ndarray::Array0<i64> = client.compute(&x.argmax()).unwrap();
    assert_eq!(
        am[[]],
        ref_arg(true, &data.iter().copied().collect::<Vec<_>>()).unwrap() as i64
    );
}
