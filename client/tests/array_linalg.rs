//! Property tests on a real cluster: `matmul`, `dot`, `tensordot` and `linalg::norm` give
//! ndarray's (or a direct loop's) answer on random shapes, dtypes and chunkings.

mod common;

use ndarray::{Array2, ArrayD, Ix2, IxDyn};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use tessera::array::linalg::{NormOrd, norm, try_tensordot_split};
use tessera::array::{from_ndarray, randint, tensordot};
use tessera::{Array, Client, DType};

const DTYPES: [DType; 5] = [DType::Bool, DType::I32, DType::I64, DType::F32, DType::F64];

/// xorshift64, seeded by proptest.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    /// A dimension length favouring 0, 1 and small sizes.
    fn dim(&mut self, max: usize) -> usize {
        match self.below(6) {
            0 => 0,
            1 => 1,
            _ => 1 + self.below(max),
        }
    }
    /// A chunk length for an axis of `n`: often not dividing it.
    fn chunk(&mut self, n: usize) -> usize {
        1 + self.below(n + 1)
    }
    fn chunks(&mut self, shape: &[usize]) -> Vec<usize> {
        shape.iter().map(|&n| self.chunk(n)).collect()
    }
    fn dtype(&mut self) -> DType {
        DTYPES[self.below(5)]
    }
}

/// A chunked array of small random integers (with `special`, some NaN and infinities
/// from divisions by zero) cast to `dtype`, and its values as f64 fetched from the cluster.
/// Generated with lineage rather than scattered from the client, with a fresh seed each
/// time, so no two cases share keys.
fn leaf(
    client: &Client,
    rng: &mut Rng,
    shape: &[usize],
    dtype: DType,
    special: bool,
) -> Result<(Array, ArrayD<f64>), TestCaseError> {
    let chunks = rng.chunks(shape);
    let seed = rng.next();
    let mut x = randint::<i64>(-3, 4, shape, &chunks, seed).astype(DType::F64);
    if special {
        let keep = randint::<i64>(0, 12, shape, &chunks, seed ^ 0x5eed).ne(0i64);
        x = &x / &keep.astype(DType::F64);
    }
    let x = x.astype(dtype);
    let values = client
        .compute(&x.astype(DType::F64))
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    Ok((x, values))
}

/// Compute and fetch as f64 (checking the dtype first).
fn fetch(client: &Client, a: &Array, dtype: DType) -> Result<ArrayD<f64>, TestCaseError> {
    prop_assert_eq!(
        a.dtype().map_err(|e| TestCaseError::fail(e.to_string()))?,
        dtype
    );
    client
        .compute(&a.astype(DType::F64))
        .map_err(|e| TestCaseError::fail(e.to_string()))
}

/// The reference result in the result dtype's terms (bool: any pair both true).
fn finish(want: ArrayD<f64>, dtype: DType) -> ArrayD<f64> {
    if dtype == DType::Bool {
        want.mapv(|x| (x != 0.0) as u8 as f64)
    } else {
        want
    }
}

/// Equal, NaN matching NaN, with a relative tolerance for inexact cases.
fn close(got: &ArrayD<f64>, want: &ArrayD<f64>, tol: f64) -> Result<(), TestCaseError> {
    prop_assert_eq!(got.shape(), want.shape());
    for (g, w) in got.iter().zip(want) {
        let ok = (g.is_nan() && w.is_nan()) || g == w || (g - w).abs() <= tol * (1.0 + w.abs());
        prop_assert!(ok, "{} != {} in\n{:?}\nvs\n{:?}", g, w, got, want);
    }
    Ok(())
}

fn runner(cases: u32) -> TestRunner {
    TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    })
}

/// Direct definition of tensordot by loops over the output and contracted indices.
fn tensordot_loop(
    a: &ArrayD<f64>,
    b: &ArrayD<f64>,
    axes_a: &[usize],
    axes_b: &[usize],
) -> ArrayD<f64> {
    let free_a: Vec<usize> = (0..a.ndim()).filter(|i| !axes_a.contains(i)).collect();
    let free_b: Vec<usize> = (0..b.ndim()).filter(|i| !axes_b.contains(i)).collect();
    let out: Vec<usize> = free_a
        .iter()
        .map(|&i| a.shape()[i])
        .chain(free_b.iter().map(|&j| b.shape()[j]))
        .collect();
    let k: Vec<usize> = axes_a.iter().map(|&i| a.shape()[i]).collect();
    ArrayD::from_shape_fn(IxDyn(&out), |ix| {
        let mut total = 0.0;
        for kx in ndarray::indices(IxDyn(&k)) {
            let (mut ia, mut ib) = (vec![0; a.ndim()], vec![0; b.ndim()]);
            for (p, &f) in free_a.iter().enumerate() {
                ia[f] = ix[p];
            }
            for (p, &f) in free_b.iter().enumerate() {
                ib[f] = ix[free_a.len() + p];
            }
            for (p, (&i, &j)) in axes_a.iter().zip(axes_b).enumerate() {
                ia[i] = kx[p];
                ib[j] = kx[p];
            }
            total += a[IxDyn(&ia)] * b[IxDyn(&ib)];
        }
        total
    })
}

#[test]
fn matmul_matches_ndarray_dot_for_every_dtype_and_chunking() {
    let cluster = common::cluster(2);
    let client = cluster.client().unwrap();
    runner(40)
        .run(&any::<u64>(), |seed| {
            let mut rng = Rng(seed | 1);
            let (m, k, n) = (rng.dim(9), rng.dim(9), rng.dim(9));
            // Either side may be a vector (1-d) instead of a matrix.
            let (left_vec, right_vec) = (rng.below(2) == 1, rng.below(2) == 1);
            let (da, db) = (rng.dtype(), rng.dtype());
            let special = da.is_float() && db.is_float();
            let sa: Vec<usize> = if left_vec { vec![k] } else { vec![m, k] };
            let sb: Vec<usize> = if right_vec { vec![k] } else { vec![k, n] };
            let (x, a) = leaf(&client, &mut rng, &sa, da, special)?;
            let (y, b) = leaf(&client, &mut rng, &sb, db, special)?;
            let dtype = DType::promote(da, db);
            let got = fetch(&client, &x.matmul(&y), dtype)?;
            // ndarray's dot of the same values as 2-d matrices, then the vector axes dropped.
            let a2d: Array2<f64> = a
                .into_shape_with_order(if left_vec { vec![1, k] } else { vec![m, k] })
                .unwrap()
                .into_dimensionality::<Ix2>()
                .unwrap();
            let b2d: Array2<f64> = b
                .into_shape_with_order(if right_vec { vec![k, 1] } else { vec![k, n] })
                .unwrap()
                .into_dimensionality::<Ix2>()
                .unwrap();
            let mut out_shape = vec![];
            if !left_vec {
                out_shape.push(m);
            }
            if !right_vec {
                out_shape.push(n);
            }
            // With NaN and infinities, the reference is the direct loop of the definition.
            let want = if special {
                tensordot_loop(&a2d.into_dyn(), &b2d.into_dyn(), &[1], &[0])
            } else {
                a2d.dot(&b2d).into_dyn()
            };
            let want = finish(
                want.into_shape_with_order(IxDyn(&out_shape)).unwrap(),
                dtype,
            );
            close(&got, &want, 0.0)
        })
        .unwrap();
}

#[test]
fn tensordot_and_dot_match_a_direct_loop() {
    let cluster = common::cluster(2);
    let client = cluster.client().unwrap();
    runner(30)
        .run(&any::<u64>(), |seed| {
            let mut rng = Rng(seed | 1);
            let nk = rng.below(3);
            let k: Vec<usize> = (0..nk).map(|_| rng.dim(4)).collect();
            let operand = |rng: &mut Rng| {
                let nfree = rng.below(3);
                let ndim = nfree + nk;
                // A random placement of the contracted axes among the free ones.
                let mut order: Vec<usize> = (0..ndim).collect();
                for i in (1..ndim).rev() {
                    order.swap(i, rng.below(i + 1));
                }
                let mut shape = vec![0; ndim];
                let mut axes = vec![0; nk];
                for (pos, &o) in order.iter().enumerate() {
                    if o < nk {
                        axes[o] = pos;
                        shape[pos] = k[o];
                    } else {
                        shape[pos] = rng.dim(4);
                    }
                }
                (shape, axes)
            };
            let (sa, axes_a) = operand(&mut rng);
            let (sb, axes_b) = operand(&mut rng);
            let (da, db) = (rng.dtype(), rng.dtype());
            let special = da.is_float() && db.is_float();
            let (x, a) = leaf(&client, &mut rng, &sa, da, special)?;
            let (y, b) = leaf(&client, &mut rng, &sb, db, special)?;
            let dtype = DType::promote(da, db);
            let split = 2 + rng.below(3);
            let t = try_tensordot_split(&x, &y, &axes_a, &axes_b, split)
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            let want = finish(tensordot_loop(&a, &b, &axes_a, &axes_b), dtype);
            close(&fetch(&client, &t, dtype)?, &want, 0.0)?;
            // dot contracts the last axis of x with the second-to-last (or only) axis of z.
            if !sa.is_empty() {
                let kl = sa[sa.len() - 1];
                let nz = 1 + rng.below(3);
                let kz = nz.saturating_sub(2);
                let sz: Vec<usize> = (0..nz)
                    .map(|a| if a == kz { kl } else { rng.dim(3) })
                    .collect();
                let sz = &sz[..];
                let (z, c) = leaf(&client, &mut rng, sz, db, false)?;
                let want = tensordot_loop(&a, &c, &[sa.len() - 1], &[kz]);
                let got = fetch(&client, &x.dot(&z), dtype)?;
                close(&got, &finish(want, dtype), 0.0)?;
            }
            Ok(())
        })
        .unwrap();
}

#[test]
fn contractions_over_many_blocks_and_transposes() {
    let cluster = common::cluster(2);
    let client = cluster.client().unwrap();
    let x = randint::<i64>(-3, 4, &[7, 40], &[3, 1], 7).astype(DType::F64);
    let a: ArrayD<f64> = client.compute(&x).unwrap();
    let a2: Array2<f64> = a.clone().into_dimensionality().unwrap();
    // x @ x.T with 40 contracted blocks summed by a tree (default fan-in 8).
    let got: Array2<f64> = client.compute(&x.matmul(&x.t())).unwrap();
    assert_eq!(got, a2.dot(&a2.t()));
    // (x.T @ x).sum() through the tree, and tensordot over both axes (a 0-d Frobenius product).
    let got: ndarray::Array0<f64> = client.compute(&x.t().matmul(&x).sum()).unwrap();
    assert_eq!(got.into_scalar(), a2.t().dot(&a2).sum());
    let got: ndarray::Array0<f64> = client
        .compute(&tensordot(&x, &x.rechunk(&[2, 5]), &[0, 1], &[0, 1]))
        .unwrap();
    assert_eq!(got.into_scalar(), (&a2 * &a2).sum());
    // An empty contracted dimension gives zeros.
    let e = from_ndarray(&ArrayD::<f64>::zeros(IxDyn(&[3, 0])), &[2, 1]);
    let f = from_ndarray(&ArrayD::<i32>::zeros(IxDyn(&[0, 4])), &[1, 3]);
    let got: ArrayD<f64> = client.compute(&e.matmul(&f)).unwrap();
    assert_eq!(got, ArrayD::<f64>::zeros(IxDyn(&[3, 4])));
    // int32 @ int32 stays int32 and wraps like NumPy.
    let big = from_ndarray(&ndarray::array![[i32::MAX, i32::MAX]], &[1, 1]);
    let two = from_ndarray(&ndarray::array![[2], [1]], &[1, 1]);
    let got: Array2<i32> = client.compute(&big.matmul(&two)).unwrap();
    assert_eq!(got[[0, 0]], i32::MAX.wrapping_mul(2).wrapping_add(i32::MAX));
}

/// A norm computed directly from its definition (`None` if NumPy refuses it).
fn norm_ref(v: &ArrayD<f64>, ord: Option<NormOrd>, axes: &[usize]) -> Option<ArrayD<f64>> {
    let reduce = |axis: usize, a: &ArrayD<f64>, f: &dyn Fn(&[f64]) -> f64| {
        a.map_axis(ndarray::Axis(axis), |lane| f(&lane.to_vec()))
    };
    let abs = v.mapv(f64::abs);
    let sum = |xs: &[f64]| xs.iter().sum::<f64>();
    // NaN propagates through min and max, as in NumPy.
    let nan_or = |xs: &[f64], f: fn(f64, f64) -> f64, init: f64| {
        if xs.iter().any(|x| x.is_nan()) {
            f64::NAN
        } else {
            xs.iter().copied().fold(init, f)
        }
    };
    let max = |xs: &[f64]| nan_or(xs, f64::max, f64::NEG_INFINITY);
    let min = |xs: &[f64]| nan_or(xs, f64::min, f64::INFINITY);
    match (axes, ord) {
        ([a], None | Some(NormOrd::P(2.0))) => Some(reduce(*a, v, &|x| {
            x.iter().map(|y| y * y).sum::<f64>().sqrt()
        })),
        ([a], Some(NormOrd::Inf)) if v.shape()[*a] > 0 => Some(reduce(*a, &abs, &max)),
        ([a], Some(NormOrd::NegInf)) if v.shape()[*a] > 0 => Some(reduce(*a, &abs, &min)),
        ([a], Some(NormOrd::P(0.0))) => Some(reduce(*a, v, &|x| {
            x.iter().filter(|&&y| y != 0.0).count() as f64
        })),
        ([a], Some(NormOrd::P(p))) => Some(reduce(*a, &abs, &|x| {
            x.iter().map(|y| y.powf(p)).sum::<f64>().powf(1.0 / p)
        })),
        ([r, c], None | Some(NormOrd::Fro)) => {
            let s = reduce(*r, &v.mapv(|y| y * y), &sum);
            Some(reduce(if c > r { c - 1 } else { *c }, &s, &sum).mapv(f64::sqrt))
        }
        ([r, c], Some(NormOrd::P(1.0) | NormOrd::P(-1.0) | NormOrd::Inf | NormOrd::NegInf)) => {
            let (over, then) = match ord {
                Some(NormOrd::P(_)) => (*r, *c),
                _ => (*c, *r),
            };
            let then = if then > over { then - 1 } else { then };
            let s = reduce(over, &abs, &sum);
            if s.shape()[then] == 0 {
                return None;
            }
            let pick: &dyn Fn(&[f64]) -> f64 = match ord {
                Some(NormOrd::P(1.0) | NormOrd::Inf) => &max,
                _ => &min,
            };
            Some(reduce(then, &s, pick))
        }
        _ => None,
    }
}

#[test]
fn norms_match_their_definitions() {
    let cluster = common::cluster(2);
    let client = cluster.client().unwrap();
    let ords = [
        None,
        Some(NormOrd::Fro),
        Some(NormOrd::Inf),
        Some(NormOrd::NegInf),
        Some(NormOrd::P(0.0)),
        Some(NormOrd::P(1.0)),
        Some(NormOrd::P(-1.0)),
        Some(NormOrd::P(2.0)),
        Some(NormOrd::P(3.0)),
        Some(NormOrd::P(0.5)),
    ];
    runner(40)
        .run(&any::<u64>(), |seed| {
            let mut rng = Rng(seed | 1);
            let ndim = 1 + rng.below(3);
            let shape: Vec<usize> = (0..ndim).map(|_| rng.dim(6)).collect();
            let dtype = rng.dtype();
            let (x, v) = leaf(&client, &mut rng, &shape, dtype, dtype.is_float())?;
            let ord = ords[rng.below(ords.len())];
            let axes: Vec<usize> = match rng.below(3).min(ndim) {
                1 => vec![rng.below(ndim)],
                2 if ndim >= 2 => {
                    let r = rng.below(ndim);
                    vec![r, (r + 1 + rng.below(ndim - 1)) % ndim]
                }
                _ => (0..ndim).collect(),
            };
            let result = tessera::array::linalg::try_norm(&x, ord, Some(&axes));
            let want_dtype = if dtype == DType::F32 {
                DType::F32
            } else {
                DType::F64
            };
            match (norm_ref(&v, ord, &axes), result) {
                (Some(want), Ok(n)) => {
                    let got = fetch(&client, &n, want_dtype)?;
                    let tol = if dtype == DType::F32 { 1e-5 } else { 1e-12 };
                    close(&got, &want, tol)
                }
                (None, Err(_)) => Ok(()),
                (want, got) => Err(TestCaseError::fail(format!(
                    "{ord:?} over {axes:?} of {shape:?}: reference {want:?}, tessera {:?}",
                    got.map(|a| format!("{a:?}"))
                ))),
            }
        })
        .unwrap();
    // The flattened 2-norm of a 3-d array.
    let x = randint::<i64>(-3, 4, &[3, 4, 5], &[2, 3, 2], 3);
    let v: ArrayD<f64> = client.compute(&x.astype(DType::F64)).unwrap();
    let got: ndarray::Array0<f64> = client.compute(&norm(&x, None, None)).unwrap();
    assert!((got.into_scalar() - v.mapv(|y| y * y).sum().sqrt()).abs() < 1e-12);
}
