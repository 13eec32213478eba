//! `topk` and `bincount` on a real cluster, compared with a direct computation (a sort of
//! each lane, a count loop) on random shapes, chunkings, dtypes and `k`, including NaN,
//! chunks that do not divide the shape and more chunks than one merge takes.

mod common;

use ndarray::{ArrayD, Axis, IxDyn};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use tessera::array::from_ndarray;

/// Total order with NaN largest (NumPy's sort order), for the reference.
fn nan_last(a: &f64, b: &f64) -> std::cmp::Ordering {
    match a.partial_cmp(b) {
        Some(o) => o,
        None => a.is_nan().cmp(&b.is_nan()),
    }
}

/// Reference topk: sort each lane along `axis`, keep the `|k|` first.
fn topk_reference(data: &ArrayD<f64>, k: i64, axis: usize) -> ArrayD<f64> {
    let keep = k.unsigned_abs() as usize;
    let mut shape = data.shape().to_vec();
    shape[axis] = keep;
    let mut out = ArrayD::zeros(IxDyn(&shape));
    for (lane, mut dst) in data
        .lanes(Axis(axis))
        .into_iter()
        .zip(out.lanes_mut(Axis(axis)))
    {
        let mut v: Vec<f64> = lane.to_vec();
        v.sort_by(nan_last);
        if k > 0 {
            v.reverse();
        }
        for (d, s) in dst.iter_mut().zip(v) {
            *d = s;
        }
    }
    out
}

/// Values in -20..20 with NaN sprinkled in (`nan`), from a xorshift `seed`.
fn values(shape: &[usize], seed: u64, nan: bool) -> ArrayD<f64> {
    let mut state = seed | 1;
    ArrayD::from_shape_simple_fn(IxDyn(shape), move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        if nan && state.is_multiple_of(11) {
            f64::NAN
        } else {
            ((state >> 8) % 40) as f64 - 20.0
        }
    })
}

fn same_bits(a: &ArrayD<f64>, b: &ArrayD<f64>) -> bool {
    a.shape() == b.shape()
        && a.iter()
            .zip(b)
            .all(|(x, y)| x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan()))
}

#[test]
fn random_topk_matches_sorting_each_lane() {
    let cluster = common::cluster(2);
    let client = cluster.client().unwrap();
    let strategy = (
        proptest::collection::vec(1usize..9, 1..4),
        proptest::collection::vec(1usize..5, 3),
        0usize..3,
        any::<u64>(),
        any::<bool>(),
        any::<bool>(),
        any::<prop::sample::Index>(),
    );
    let mut runner = TestRunner::new(Config {
        cases: 24,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(
            &strategy,
            |(shape, chunks, axis, seed, largest, as_int, kpick)| {
                let nd = shape.len();
                let axis = axis % nd;
                let chunks = &chunks[..nd];
                let n = shape[axis];
                let k = (kpick.index(n) + 1) as i64 * if largest { 1 } else { -1 };
                let data = values(&shape, seed, !as_int);
                let want = topk_reference(&data, k, axis);
                if as_int {
                    let x = from_ndarray(&data.mapv(|v| v as i64), chunks);
                    let got: ArrayD<i64> = client.compute(&x.topk(k, axis)).unwrap();
                    prop_assert_eq!(got, want.mapv(|v| v as i64));
                } else {
                    let x = from_ndarray(&data, chunks);
                    let got: ArrayD<f64> = client.compute(&x.topk(k, axis)).unwrap();
                    prop_assert!(same_bits(&got, &want), "{:?} != {:?}", got, want);
                }
                Ok(())
            },
        )
        .unwrap();
}

#[test]
fn topk_over_many_chunks_merges_in_a_tree() {
    let cluster = common::cluster(2);
    let client = cluster.client().unwrap();
    // 40 chunks along the axis: more than one merge takes, so partial selections and
    // a merge layer run.
    let data = values(&[80, 3], 5, true);
    let x = from_ndarray(&data, &[2, 2]);
    for k in [1i64, 5, -7, 80, -80] {
        let got: ArrayD<f64> = client.compute(&x.topk(k, 0)).unwrap();
        let want = topk_reference(&data, k, 0);
        assert!(same_bits(&got, &want), "k = {k}: {got:?} != {want:?}");
    }
    // Refusals name the problem.
    let e = x.try_topk(81, 0).unwrap_err().to_string();
    assert!(e.contains("81") && e.contains("[80, 3]"), "{e}");
    assert!(x.try_topk(0, 0).is_err());
    assert!(x.try_topk(1, 2).unwrap_err().to_string().contains("axis 2"));
}

/// Reference bincount.
fn count(values: impl Iterator<Item = i64>, length: usize) -> ArrayD<i64> {
    let mut c = vec![0i64; length];
    for v in values {
        c[v as usize] += 1;
    }
    ArrayD::from_shape_vec(IxDyn(&[length]), c).unwrap()
}

#[test]
fn random_bincount_matches_a_count_loop() {
    let cluster = common::cluster(2);
    let client = cluster.client().unwrap();
    let strategy = (
        proptest::collection::vec(0usize..9, 1..4),
        proptest::collection::vec(1usize..5, 3),
        1usize..12,
        0u8..3,
        any::<u64>(),
    );
    let mut runner = TestRunner::new(Config {
        cases: 24,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&strategy, |(shape, chunks, length, dtype, seed)| {
            let nd = shape.len();
            let chunks = &chunks[..nd];
            let mut state = seed | 1;
            let data = ArrayD::from_shape_simple_fn(IxDyn(&shape), || {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                (state % length as u64) as i64
            });
            let (got, want): (ArrayD<i64>, ArrayD<i64>) = match dtype {
                0 => {
                    let x = from_ndarray(&data, chunks);
                    (
                        client.compute(&x.bincount(length)).unwrap(),
                        count(data.iter().copied(), length),
                    )
                }
                1 => {
                    let d = data.mapv(|v| v as i32);
                    let x = from_ndarray(&d, chunks);
                    (
                        client.compute(&x.bincount(length)).unwrap(),
                        count(data.iter().copied(), length),
                    )
                }
                _ => {
                    let d = data.mapv(|v| v % 2 == 1);
                    let x = from_ndarray(&d, chunks);
                    let len = length.max(2);
                    (
                        client.compute(&x.bincount(len)).unwrap(),
                        count(d.iter().map(|&b| b as i64), len),
                    )
                }
            };
            prop_assert_eq!(got, want);
            Ok(())
        })
        .unwrap();
}

#[test]
fn bincount_over_many_chunks_and_its_refusals() {
    let cluster = common::cluster(2);
    let client = cluster.client().unwrap();
    let data = ArrayD::from_shape_fn(IxDyn(&[50, 4]), |ix| ((ix[0] * 7 + ix[1]) % 9) as i64);
    // 50 chunks: the partial counts are summed in more than one layer.
    let x = from_ndarray(&data, &[1, 4]);
    let got: ArrayD<i64> = client.compute(&x.bincount(9)).unwrap();
    assert_eq!(got, count(data.iter().copied(), 9));
    // A value past the length errs the computation, naming the value.
    let e = client
        .compute::<i64, ndarray::IxDyn>(&x.bincount(8))
        .unwrap_err()
        .to_string();
    assert!(e.contains("value 8"), "{e}");
    let neg = from_ndarray(&data.mapv(|v| v - 1), &[10, 4]);
    let e = client
        .compute::<i64, ndarray::IxDyn>(&neg.bincount(9))
        .unwrap_err()
        .to_string();
    assert!(e.contains("-1"), "{e}");
    // Floats are refused when the expression is built.
    let f = from_ndarray(&data.mapv(|v| v as f64), &[10, 4]);
    assert!(
        f.try_bincount(9)
            .unwrap_err()
            .to_string()
            .contains("float64")
    );
    // The cluster is still fine afterwards.
    let got: ArrayD<i64> = client.compute(&x.bincount(10)).unwrap();
    assert_eq!(got, count(data.iter().copied(), 10));
}

#[test]
fn random_unique_matches_sort_and_dedup() {
    let cluster = common::cluster(2);
    let client = cluster.client().unwrap();
    let strategy = (
        proptest::collection::vec(0usize..9, 0..4),
        proptest::collection::vec(1usize..5, 3),
        1i64..30,
        0u8..3,
        any::<u64>(),
    );
    let mut runner = TestRunner::new(Config {
        cases: 24,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&strategy, |(shape, chunks, spread, dtype, seed)| {
            let chunks = &chunks[..shape.len()];
            let mut state = seed | 1;
            let data = ArrayD::from_shape_simple_fn(IxDyn(&shape), || {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                (state % (2 * spread as u64)) as i64 - spread
            });
            let mut want: Vec<i64> = data.iter().copied().collect();
            want.sort_unstable();
            want.dedup();
            match dtype {
                0 => {
                    let got = client
                        .compute_unique::<i64>(&from_ndarray(&data, chunks))
                        .unwrap();
                    prop_assert_eq!(got.to_vec(), want);
                }
                1 => {
                    let x = from_ndarray(&data.mapv(|v| v as i32), chunks);
                    let got = client.compute_unique::<i32>(&x).unwrap();
                    let want: Vec<i32> = want.iter().map(|&v| v as i32).collect();
                    prop_assert_eq!(got.to_vec(), want);
                }
                _ => {
                    let d = data.mapv(|v| v > 0);
                    let mut want: Vec<bool> = d.iter().copied().collect();
                    want.sort_unstable();
                    want.dedup();
                    let got = client
                        .compute_unique::<bool>(&from_ndarray(&d, chunks))
                        .unwrap();
                    prop_assert_eq!(got.to_vec(), want);
                }
            }
            Ok(())
        })
        .unwrap();
}

#[test]
fn unique_over_many_chunks_and_its_refusals() {
    let cluster = common::cluster(2);
    let client = cluster.client().unwrap();
    // 60 chunks: partial results are merged in more than one layer.
    let data = ArrayD::from_shape_fn(IxDyn(&[60, 5]), |ix| ((ix[0] * 13 + ix[1] * 7) % 41) as i64);
    let x = from_ndarray(&data, &[1, 5]);
    let got = client.compute_unique::<i64>(&x).unwrap();
    assert_eq!(got.to_vec(), (0..41).collect::<Vec<i64>>());
    // A derived (lazy) array works as well as a literal one.
    let got = client.compute_unique::<i64>(&(&x * 2i64 - 1i64)).unwrap();
    assert_eq!(
        got.to_vec(),
        (0..41).map(|v| 2 * v - 1).collect::<Vec<i64>>()
    );
    let f = from_ndarray(&data.mapv(|v| v as f64), &[10, 5]);
    let e = client.compute_unique::<f64>(&f).unwrap_err().to_string();
    assert!(e.contains("float64") && e.contains("[60, 5]"), "{e}");
    assert!(client.compute_unique::<i32>(&x).is_err());
}

/// Reference percentile: NumPy's linear method on the sorted values (NaN if any).
fn percentile_reference(data: &ArrayD<f64>, q: f64) -> f64 {
    let mut v: Vec<f64> = data.iter().copied().collect();
    if v.iter().any(|x| x.is_nan()) {
        return f64::NAN;
    }
    v.sort_by(nan_last);
    let pos = q / 100.0 * (v.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let t = pos - lo as f64;
    let (a, b) = (v[lo], v[(lo + 1).min(v.len() - 1)]);
    if t >= 0.5 {
        b - (b - a) * (1.0 - t)
    } else {
        a + (b - a) * t
    }
}

#[test]
fn random_percentiles_match_numpys_linear_method() {
    let cluster = common::cluster(2);
    let client = cluster.client().unwrap();
    let strategy = (
        proptest::collection::vec(1usize..8, 1..4),
        proptest::collection::vec(1usize..5, 3),
        proptest::collection::vec(0.0f64..=100.0, 1..4),
        any::<u64>(),
        0u8..3,
    );
    let mut runner = TestRunner::new(Config {
        cases: 24,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&strategy, |(shape, chunks, mut q, seed, kind)| {
            let chunks = &chunks[..shape.len()];
            q.push(0.0);
            q.push(100.0);
            let data = values(&shape, seed, kind == 2);
            let want: Vec<f64> = q.iter().map(|&q| percentile_reference(&data, q)).collect();
            let got: ArrayD<f64> = if kind == 1 {
                let x = from_ndarray(&data.mapv(|v| v as i32), chunks);
                client.compute(&x.percentile(&q)).unwrap()
            } else {
                client
                    .compute(&from_ndarray(&data, chunks).percentile(&q))
                    .unwrap()
            };
            prop_assert_eq!(got.shape(), &[q.len()]);
            for (g, w) in got.iter().zip(&want) {
                prop_assert!(
                    (g.is_nan() && w.is_nan()) || (g - w).abs() <= 1e-9 * w.abs().max(1.0),
                    "{:?} != {:?} for q = {:?}",
                    got,
                    want,
                    q
                );
            }
            // quantile(q / 100) is the same computation.
            let fractions: Vec<f64> = q.iter().map(|q| q / 100.0).collect();
            let x = from_ndarray(&data, chunks);
            let quant: ArrayD<f64> = client.compute(&x.quantile(&fractions)).unwrap();
            let perc: ArrayD<f64> = client.compute(&x.percentile(&q)).unwrap();
            for (a, b) in quant.iter().zip(&perc) {
                prop_assert!(
                    (a.is_nan() && b.is_nan()) || (a - b).abs() <= 1e-9 * b.abs().max(1.0)
                );
            }
            Ok(())
        })
        .unwrap();
}

#[test]
fn percentile_refusals_name_the_problem() {
    let x = from_ndarray(&values(&[4, 3], 1, false), &[2, 2]);
    let e = x.try_percentile(&[101.0]).unwrap_err().to_string();
    assert!(e.contains("101"), "{e}");
    assert!(x.try_percentile(&[f64::NAN]).is_err());
    assert!(x.try_percentile(&[]).is_err());
    assert!(
        x.try_quantile(&[1.5])
            .unwrap_err()
            .to_string()
            .contains("1.5")
    );
    let empty = from_ndarray(&ArrayD::<f64>::zeros(IxDyn(&[0, 3])), &[2, 2]);
    let e = empty.try_percentile(&[50.0]).unwrap_err().to_string();
    assert!(e.contains("[0, 3]"), "{e}");
}
