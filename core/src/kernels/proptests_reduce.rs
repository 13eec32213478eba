//! Property tests of tree reductions: random arrays cut into random chunks, reduced with
//! partial -> combine (random groupings) -> finalize, against a whole-array reference.

use super::execute;
use super::testutil::{Rng, Values, all_reductions, array, from_chunk, same, to_chunk};
use crate::chunk::Chunk;
use crate::dtype::DType;
use crate::ops::{Op, Reduction};
use crate::scalar::Scalar;
use ndarray::{ArrayD, IxDyn, Slice};
use proptest::prelude::*;
use std::collections::BTreeMap;
use std::ops::Range;

/// The expected value at one output position and how far a correct answer may stray.
type Want = (Scalar, f64);

fn float_out(v: f64, out: DType) -> Scalar {
    if out == DType::F32 {
        Scalar::F32(v as f32)
    } else {
        Scalar::F64(v)
    }
}

/// NumPy's answer for one output position, or `None` where NumPy raises.
fn ref_group(red: Reduction, xs: &[Scalar], input: DType) -> Option<Want> {
    let out = red.result_dtype(input);
    let c = if out == DType::F32 { 1e-5 } else { 1e-10 };
    let f: Vec<f64> = xs.iter().map(|s| s.as_f64()).collect();
    let n = f.len() as f64;
    let sum: f64 = f.iter().sum();
    let sum_abs: f64 = f.iter().map(|x| x.abs()).sum();
    let max_abs = f.iter().fold(0.0f64, |m, x| m.max(x.abs()));
    let int_like = !input.is_float();
    Some(match red {
        Reduction::Any => (Scalar::Bool(xs.iter().any(|s| s.as_bool())), 0.0),
        Reduction::All => (Scalar::Bool(xs.iter().all(|s| s.as_bool())), 0.0),
        Reduction::CountNonzero => (
            Scalar::I64(xs.iter().filter(|s| s.as_bool()).count() as i64),
            0.0,
        ),
        // NaN-ignoring: the plain reduction of the non-NaN elements; nanmin/nanmax of
        // only NaN (or nothing: the builder refuses empty axes) give NaN.
        Reduction::NanMin | Reduction::NanMax
            if !int_like && xs.iter().all(|s| s.as_f64().is_nan()) =>
        {
            (float_out(f64::NAN, out), 0.0)
        }
        nan if nan.plain() != nan => {
            let kept: Vec<Scalar> = xs
                .iter()
                .copied()
                .filter(|s| !s.as_f64().is_nan())
                .collect();
            return ref_group(nan.plain(), &kept, input);
        }
        Reduction::Sum if int_like => (
            Scalar::I64(xs.iter().fold(0i64, |a, s| a.wrapping_add(s.as_i64()))),
            0.0,
        ),
        Reduction::Sum => (float_out(sum, out), c * sum_abs),
        Reduction::Prod if int_like => (
            Scalar::I64(xs.iter().fold(1i64, |a, s| a.wrapping_mul(s.as_i64()))),
            0.0,
        ),
        Reduction::Prod => {
            let p: f64 = f.iter().product();
            (float_out(p, out), c * p.abs())
        }
        Reduction::Min | Reduction::Max => {
            let first = *xs.first()?;
            let max = matches!(red, Reduction::Max);
            let pick = |a: Scalar, b: Scalar| -> Scalar {
                let (x, y) = (a.as_f64(), b.as_f64());
                let better = match (a, b) {
                    (Scalar::I64(p), Scalar::I64(q)) => {
                        if max {
                            q > p
                        } else {
                            q < p
                        }
                    }
                    _ => {
                        if max {
                            y > x
                        } else {
                            y < x
                        }
                    }
                };
                if x.is_nan() {
                    a
                } else if y.is_nan() || better {
                    b
                } else {
                    a
                }
            };
            (xs.iter().fold(first, |a, &b| pick(a, b)), 0.0)
        }
        Reduction::Mean => (float_out(sum / n, out), c * sum_abs / n.max(1.0)),
        Reduction::Var { ddof } | Reduction::Std { ddof } => {
            let var = if n <= ddof as f64 {
                f64::NAN
            } else {
                let mean = sum / n;
                f.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / (n - ddof as f64)
            };
            let floor = (1e-14 * max_abs).powi(2) * n;
            let rel = if out == DType::F32 { 1e-6 } else { 1e-9 };
            if matches!(red, Reduction::Std { .. }) {
                (float_out(var.sqrt(), out), rel * var.sqrt() + floor.sqrt())
            } else {
                (float_out(var, out), rel * var.abs() + floor)
            }
        }
        _ => unreachable!("every reduction is covered above"),
    })
}

/// The whole-array reference: per output position (kept axes, C order), or `None` if NumPy
/// would raise.
fn ref_reduce(
    red: Reduction,
    a: &ArrayD<Scalar>,
    input: DType,
    axes: &[usize],
) -> Option<ArrayD<Want>> {
    let kept: Vec<usize> = (0..a.ndim()).filter(|d| !axes.contains(d)).collect();
    let kept_shape: Vec<usize> = kept.iter().map(|&d| a.shape()[d]).collect();
    let mut groups: ArrayD<Vec<Scalar>> = ArrayD::from_elem(IxDyn(&kept_shape), Vec::new());
    for (ix, v) in a.indexed_iter() {
        let k: Vec<usize> = kept.iter().map(|&d| ix[d]).collect();
        groups[IxDyn(&k)].push(*v);
    }
    let wants: Option<Vec<Want>> = groups.iter().map(|xs| ref_group(red, xs, input)).collect();
    Some(ArrayD::from_shape_vec(IxDyn(&kept_shape), wants?).unwrap())
}

fn close(got: Scalar, (want, tol): Want) -> bool {
    if same(got, want) {
        return true;
    }
    match (got, want) {
        (Scalar::F32(_), Scalar::F32(_)) | (Scalar::F64(_), Scalar::F64(_)) => {
            (got.as_f64() - want.as_f64()).abs() <= tol
        }
        _ => false,
    }
}

/// Cut `0..n` into random consecutive ranges (one empty range when `n == 0`).
fn split(rng: &mut Rng, n: usize) -> Vec<Range<usize>> {
    let mut cuts = vec![0];
    for i in 1..n {
        if rng.chance(0.3) {
            cuts.push(i);
        }
    }
    cuts.push(n);
    cuts.windows(2).map(|w| w[0]..w[1]).collect()
}

fn random_reduction(rng: &mut Rng) -> Reduction {
    let ddof = rng.below(3) as u32;
    rng.pick(&all_reductions(ddof))
}

fn values_for(rng: &mut Rng, red: Reduction, dtype: DType) -> Values {
    match (dtype.is_float(), red) {
        (false, _) => Values::Wild,
        (true, Reduction::Prod | Reduction::NanProd) => Values::NearOne,
        // Offsets stay within 1e5 of std ~2.3: a (count, mean, m2) state stores the mean
        // in f64, so merging is accurate to about eps * |mean| / std, which must stay
        // well below the 1e-9 asked of var/std.
        (true, _) => Values::Moderate {
            offset: rng.pick(&[0.0, 1e3, -1e5, 1e5]),
            specials: rng.chance(0.3),
        },
    }
}

/// Merge `states` in random groupings until one is left.
fn combine_randomly(rng: &mut Rng, red: Reduction, mut pool: Vec<Chunk>) -> Chunk {
    while pool.len() > 1 {
        let k = 2 + rng.below(pool.len() - 1);
        let taken: Vec<Chunk> = (0..k)
            .map(|_| pool.swap_remove(rng.below(pool.len())))
            .collect();
        pool.push(execute(&Op::ReduceCombine { reduction: red }, &taken).unwrap());
    }
    pool.pop().unwrap()
}

fn check_tree(seed: u64, max_dim: usize) {
    let mut rng = Rng(seed);
    let shape = rng.shape(3, max_dim);
    let dtype = rng.dtype();
    let red = random_reduction(&mut rng);
    let mut axes: Vec<usize> = (0..shape.len()).filter(|_| rng.chance(0.6)).collect();
    let perm = rng.permutation(axes.len());
    axes = perm.iter().map(|&i| axes[i]).collect();
    let how = values_for(&mut rng, red, dtype);
    let a = array(&mut rng, dtype, &shape, how);
    let out_dtype = red.result_dtype(dtype);
    let what = format!("{red:?} over {axes:?} of {dtype} {shape:?}");

    // Cut into blocks; states of blocks at the same kept position are combined together.
    let bounds: Vec<Vec<Range<usize>>> = shape.iter().map(|&n| split(&mut rng, n)).collect();
    let mut groups: BTreeMap<Vec<usize>, Vec<Chunk>> = BTreeMap::new();
    let n_blocks: Vec<usize> = bounds.iter().map(|b| b.len()).collect();
    for bi in ndarray::indices(IxDyn(&n_blocks)) {
        let block = a.slice_each_axis(|ax| {
            Slice::from(bounds[ax.axis.index()][bi[ax.axis.index()]].clone())
        });
        let op = Op::ReducePartial {
            reduction: red,
            axes: axes.clone(),
        };
        let state = execute(&op, &[to_chunk(&block.to_owned(), dtype)]).unwrap();
        assert_eq!(state.dtype(), red.state_dtype(dtype), "{what}");
        let key: Vec<usize> = (0..shape.len())
            .filter(|d| !axes.contains(d))
            .map(|d| bi[d])
            .collect();
        groups.entry(key).or_default().push(state);
    }
    let kept: Vec<usize> = (0..shape.len()).filter(|d| !axes.contains(d)).collect();
    let kept_shape: Vec<usize> = kept.iter().map(|&d| shape[d]).collect();
    let mut got = ArrayD::from_elem(IxDyn(&kept_shape), Scalar::Bool(false));
    let mut erred = false;
    for (key, states) in groups {
        let state = combine_randomly(&mut rng, red, states);
        let op = Op::ReduceFinalize {
            reduction: red,
            axes: axes.clone(),
            dtype: out_dtype,
        };
        match execute(&op, &[state]) {
            Err(e) => {
                assert!(e.to_string().contains("zero-size array"), "{what}: {e}");
                erred = true;
            }
            Ok(result) => {
                assert_eq!(result.dtype(), out_dtype, "{what}");
                let mut dst = got.slice_each_axis_mut(|ax| {
                    Slice::from(bounds[kept[ax.axis.index()]][key[ax.axis.index()]].clone())
                });
                dst.assign(&from_chunk(&result));
            }
        }
    }
    match ref_reduce(red, &a, dtype, &axes) {
        None => assert!(erred, "{what}: NumPy raises here"),
        Some(want) => {
            assert!(!erred, "{what}: unexpected error");
            for ((ix, g), w) in got.indexed_iter().zip(want.iter()) {
                assert!(close(*g, *w), "{what}: at {ix:?} got {g:?}, want {w:?}");
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn tree_reductions_match_reference(seed in any::<u64>()) {
        check_tree(seed, 7);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn larger_tree_reductions_match_reference(seed in any::<u64>()) {
        check_tree(seed, 60);
    }
}

#[test]
fn variance_is_stable_far_from_zero() {
    // Sum-of-squares would lose three digits of the variance here (1e-3 relative);
    // Chan's merge of two-pass partials must keep 1e-9. (Around 1e9 with variance 0.08
    // even exact partials give 1e-9-level errors: the f64 means of the state round.)
    let mut rng = Rng(7);
    let off = 1e6;
    let xs: Vec<f64> = (0..200_000).map(|_| off + rng.unit()).collect();
    let a = ArrayD::from_shape_vec(IxDyn(&[xs.len()]), xs.clone()).unwrap();
    // Reference on the shifted data (the shift is exact), where naive sums are accurate.
    let mean = xs.iter().map(|x| x - off).sum::<f64>() / xs.len() as f64;
    let want = xs
        .iter()
        .map(|x| (x - off - mean) * (x - off - mean))
        .sum::<f64>()
        / xs.len() as f64;
    let mut states = Vec::new();
    let mut start = 0;
    while start < xs.len() {
        let end = (start + 1 + rng.below(30_000)).min(xs.len());
        let piece = Chunk::from_ndarray(a.slice(ndarray::s![start..end]).to_owned().into_dyn());
        let op = Op::ReducePartial {
            reduction: Reduction::Var { ddof: 0 },
            axes: vec![0],
        };
        states.push(execute(&op, &[piece]).unwrap());
        start = end;
    }
    let state = combine_randomly(&mut rng, Reduction::Var { ddof: 0 }, states);
    let op = Op::ReduceFinalize {
        reduction: Reduction::Var { ddof: 0 },
        axes: vec![0],
        dtype: DType::F64,
    };
    let got = execute(&op, &[state]).unwrap().to_ndarray::<f64>().unwrap()[[]];
    assert!((got - want).abs() <= 1e-9 * want, "got {got}, want {want}");
}

#[test]
fn long_float_sums_are_accurate() {
    let n = 3_000_000;
    for axis_last in [true, false] {
        let shape = if axis_last { [2, n] } else { [n, 2] };
        let a = ArrayD::from_elem(IxDyn(&shape), 0.1f32);
        let axis = if axis_last { 1 } else { 0 };
        let op = Op::ReducePartial {
            reduction: Reduction::Sum,
            axes: vec![axis],
        };
        let state = execute(&op, &[Chunk::from_ndarray(a)]).unwrap();
        let op = Op::ReduceFinalize {
            reduction: Reduction::Sum,
            axes: vec![axis],
            dtype: DType::F32,
        };
        let got = execute(&op, &[state]).unwrap().to_ndarray::<f32>().unwrap();
        let want = (0.1f32 as f64 * n as f64) as f32;
        assert!(got.iter().all(|&g| g == want), "{got:?} vs {want}");
    }
}
