//! `map_overlap` and `blockwise` on a real cluster whose workers run this test binary:
//! stencils against a padded direct computation per boundary mode, index-string kernels.

use libtest_mimic::{Failed, Trial};
use ndarray::{Array2, ArrayD, Axis, IxDyn};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use tessera::array::{Boundary, blockwise, from_ndarray, randint, try_blockwise};
use tessera::{Chunk, DType, Error, LocalCluster, Scalar};

const DTYPES: [DType; 5] = [DType::Bool, DType::I32, DType::I64, DType::F32, DType::F64];

/// Any chunk's values as f64 (`true` is 1).
fn to_f64(c: &Chunk) -> tessera::Result<ArrayD<f64>> {
    Ok(match c.dtype() {
        DType::Bool => c.to_ndarray::<bool>()?.mapv(|b| b as u8 as f64),
        DType::I32 => c.to_ndarray::<i32>()?.mapv(f64::from),
        DType::I64 => c.to_ndarray::<i64>()?.mapv(|v| v as f64),
        DType::F32 => c.to_ndarray::<f32>()?.mapv(f64::from),
        DType::F64 => c.to_ndarray::<f64>()?,
    })
}

/// A weighted stencil reaching exactly `radius[a]` cells along each axis `a` (every
/// offset 1..=r on both sides, with different weights per side) and the two far corners;
/// neighbours outside the array are clamped to its edge.
fn stencil(x: &ArrayD<f64>, radius: &[usize]) -> ArrayD<f64> {
    let shape = x.shape().to_vec();
    let at = |p: &[isize]| {
        let q: Vec<usize> = p
            .iter()
            .zip(&shape)
            .map(|(&i, &n)| i.clamp(0, n as isize - 1) as usize)
            .collect();
        x[IxDyn(&q)]
    };
    ArrayD::from_shape_fn(IxDyn(&shape), |ix| {
        let p: Vec<isize> = (0..shape.len()).map(|a| ix[a] as isize).collect();
        let mut total = 10.0 * x[&ix];
        for (a, &r) in radius.iter().enumerate() {
            for s in 1..=r as isize {
                let mut lo = p.clone();
                lo[a] -= s;
                let mut hi = p.clone();
                hi[a] += s;
                total += at(&lo) + 3.0 * at(&hi);
            }
        }
        let lo: Vec<isize> = p
            .iter()
            .zip(radius)
            .map(|(&i, &r)| i - r as isize)
            .collect();
        let hi: Vec<isize> = p
            .iter()
            .zip(radius)
            .map(|(&i, &r)| i + r as isize)
            .collect();
        total + 5.0 * at(&lo) + 7.0 * at(&hi)
    })
}

/// Register the kernels these tests use.
pub fn register() {
    // args: one radius byte per axis.
    tessera::register_kernel("stencil", |inputs: &[Chunk], args: &[u8]| {
        let x = to_f64(&inputs[0])?;
        if args.len() != x.ndim() {
            return Err(Error::other("stencil: one radius per axis"));
        }
        let radius: Vec<usize> = args.iter().map(|&r| r as usize).collect();
        Ok(Chunk::from_ndarray(stencil(&x, &radius)))
    });
    tessera::register_kernel("add_transposed", |inputs: &[Chunk], _: &[u8]| {
        let (a, b) = (to_f64(&inputs[0])?, to_f64(&inputs[1])?);
        Ok(Chunk::from_ndarray(&a + &b.t()))
    });
    tessera::register_kernel("block_matmul", |inputs: &[Chunk], _: &[u8]| {
        let n = inputs.len() / 2;
        let two = |c: &Chunk| -> tessera::Result<Array2<f64>> {
            to_f64(c)?
                .into_dimensionality()
                .map_err(|e| Error::other(e.to_string()))
        };
        let mut total: Option<Array2<f64>> = None;
        for j in 0..n {
            let p = two(&inputs[j])?.dot(&two(&inputs[n + j])?);
            total = Some(match total {
                Some(t) => t + p,
                None => p,
            });
        }
        let total = total.ok_or_else(|| Error::other("block_matmul: no blocks"))?;
        Ok(Chunk::from_ndarray(total.into_dyn()))
    });
    tessera::register_kernel("outer", |inputs: &[Chunk], _: &[u8]| {
        let (u, v) = (to_f64(&inputs[0])?, to_f64(&inputs[1])?);
        let (n, m) = (u.len(), v.len());
        Ok(Chunk::from_ndarray(ArrayD::from_shape_fn(
            IxDyn(&[n, m]),
            |ix| u[[ix[0]]] * v[[ix[1]]],
        )))
    });
}

/// The trials, each on its own cluster from `cluster`.
pub fn trials(cluster: fn() -> LocalCluster) -> Vec<Trial> {
    vec![
        Trial::test("map_overlap_matches_a_padded_stencil", move || {
            map_overlap_matches_a_padded_stencil(cluster())
        }),
        Trial::test("blockwise_follows_index_strings", move || {
            blockwise_follows_index_strings(cluster())
        }),
    ]
}

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
}

/// A chunked array of small random integers cast to `dtype`, and its values as f64
/// fetched from the cluster (generated with lineage and a fresh seed: no shared keys).
fn leaf(
    client: &tessera::Client,
    rng: &mut Rng,
    shape: &[usize],
    chunks: &[usize],
    dtype: DType,
) -> Result<(tessera::Array, ArrayD<f64>), TestCaseError> {
    let x = randint::<i64>(-4, 5, shape, chunks, rng.next()).astype(dtype);
    let values = client.compute(&x.astype(DType::F64)).map_err(fail)?;
    Ok((x, values))
}

/// The whole array padded by `depth` as `boundary` says (NumPy's `pad`: symmetric, wrap,
/// constant), the stencil applied, and the padding trimmed off again.
fn padded_reference(
    x: &ArrayD<f64>,
    depth: &[usize],
    boundary: Boundary,
    dtype: DType,
) -> ArrayD<f64> {
    if boundary == Boundary::None {
        return stencil(x, depth);
    }
    let shape = x.shape();
    let padded_shape: Vec<usize> = shape.iter().zip(depth).map(|(&n, &d)| n + 2 * d).collect();
    let constant = match boundary {
        Boundary::Constant(v) => to_f64(&scalar_chunk(v.cast(dtype))).unwrap()[[0]],
        _ => 0.0,
    };
    let padded = ArrayD::from_shape_fn(IxDyn(&padded_shape), |q| {
        let mut src = Vec::with_capacity(shape.len());
        for (a, (&n, &d)) in shape.iter().zip(depth).enumerate() {
            let i = q[a] as isize - d as isize;
            let n = n as isize;
            let j = if (0..n).contains(&i) {
                i
            } else {
                match boundary {
                    Boundary::Reflect if i < 0 => -i - 1,
                    Boundary::Reflect => 2 * n - i - 1,
                    Boundary::Periodic => i.rem_euclid(n),
                    _ => return constant,
                }
            };
            src.push(j as usize);
        }
        x[IxDyn(&src)]
    });
    let out = stencil(&padded, depth);
    let mut trimmed = out.view();
    for (a, (&n, &d)) in shape.iter().zip(depth).enumerate() {
        trimmed.slice_axis_inplace(Axis(a), ndarray::Slice::from(d..d + n));
    }
    trimmed.to_owned()
}

fn scalar_chunk(s: Scalar) -> Chunk {
    match s {
        Scalar::Bool(v) => Chunk::from_ndarray(ndarray::arr1(&[v]).into_dyn()),
        Scalar::I32(v) => Chunk::from_ndarray(ndarray::arr1(&[v]).into_dyn()),
        Scalar::I64(v) => Chunk::from_ndarray(ndarray::arr1(&[v]).into_dyn()),
        Scalar::F32(v) => Chunk::from_ndarray(ndarray::arr1(&[v]).into_dyn()),
        Scalar::F64(v) => Chunk::from_ndarray(ndarray::arr1(&[v]).into_dyn()),
    }
}

fn fail(e: impl std::fmt::Display) -> TestCaseError {
    TestCaseError::fail(e.to_string())
}

fn map_overlap_matches_a_padded_stencil(cluster: LocalCluster) -> Result<(), Failed> {
    let client = cluster.client()?;
    let boundaries = [
        Boundary::Reflect,
        Boundary::Periodic,
        Boundary::Constant(Scalar::F64(2.5)),
        Boundary::None,
    ];
    let mut runner = TestRunner::new(Config {
        cases: 48,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&any::<u64>(), |seed| {
            let mut rng = Rng(seed | 1);
            let ndim = 1 + rng.below(3);
            let boundary = boundaries[rng.below(4)];
            let dtype = DTYPES[rng.below(5)];
            let mut shape = Vec::new();
            let mut depth = Vec::new();
            let mut chunks = Vec::new();
            for _ in 0..ndim {
                let d = rng.below(4);
                // Empty and size-1 axes (depth 0 there), chunks equal to the depth, and
                // chunks that do not divide the axis.
                let n = match rng.below(8) {
                    0 if d == 0 => 0,
                    1 if d <= 1 => 1,
                    _ => d.max(1) + rng.below(9),
                };
                let c = match rng.below(3) {
                    0 => d.max(1),
                    _ => d.max(1) + rng.below(n + 1),
                };
                shape.push(n);
                depth.push(d);
                let c = c.min(n.max(1));
                // A last chunk shorter than the depth is refused (tested below): avoid it.
                let c = if n % c != 0 && n % c < d { n } else { c };
                chunks.push(c);
            }
            let (x, v) = leaf(&client, &mut rng, &shape, &chunks, dtype)?;
            let radius: Vec<u8> = depth.iter().map(|&d| d as u8).collect();
            let y = x
                .try_map_overlap("stencil", &depth, boundary, &radius, DType::F64)
                .map_err(fail)?;
            let got: ArrayD<f64> = client.compute(&y).map_err(fail)?;
            let want = padded_reference(&v, &depth, boundary, dtype);
            prop_assert_eq!(
                &got,
                &want,
                "{:?} {} shape {:?} chunks {:?} depth {:?}",
                boundary,
                dtype,
                shape,
                chunks,
                depth
            );
            Ok(())
        })
        .map_err(|e| Failed::from(e.to_string()))?;
    // Deeper than the smallest chunk: refused when built, naming depth and chunks.
    let x = from_ndarray(&ArrayD::<f64>::zeros(IxDyn(&[10])), &[4]);
    let e = x
        .try_map_overlap("stencil", &[3], Boundary::Periodic, &[3], DType::F64)
        .unwrap_err()
        .to_string();
    assert!(e.contains("depth 3") && e.contains("[4, 4, 2]"), "{e}");
    Ok(())
}

fn blockwise_follows_index_strings(cluster: LocalCluster) -> Result<(), Failed> {
    let client = cluster.client()?;
    let mut runner = TestRunner::new(Config {
        cases: 24,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&any::<u64>(), |seed| {
            let mut rng = Rng(seed | 1);
            let (m, k, n) = (1 + rng.below(7), rng.below(8), 1 + rng.below(7));
            let chunk = |rng: &mut Rng, len: usize| 1 + rng.below(len.max(1));
            let dtype = DTYPES[rng.below(5)];
            let ca = [chunk(&mut rng, m), chunk(&mut rng, k)];
            let (xa, a) = leaf(&client, &mut rng, &[m, k], &ca, dtype)?;
            let cbt = [chunk(&mut rng, k), chunk(&mut rng, m)];
            let (xbt, bt) = leaf(&client, &mut rng, &[k, m], &cbt, DType::F64)?;
            let cb = [chunk(&mut rng, k), chunk(&mut rng, n)];
            let (xb, b) = leaf(&client, &mut rng, &[k, n], &cb, DType::I32)?;
            // Transposed index strings: a[i, j] + bt[j, i].
            let s = blockwise(
                "add_transposed",
                "ij",
                &[(&xa, "ij"), (&xbt, "ji")],
                &[],
                DType::F64,
            );
            let got: ArrayD<f64> = client.compute(&s).map_err(fail)?;
            prop_assert_eq!(got, &a + &bt.t());
            // A contracted index: the kernel gets every block along j and sums the products.
            if k > 0 {
                let p = blockwise(
                    "block_matmul",
                    "ik",
                    &[(&xa, "ij"), (&xb, "jk")],
                    &[],
                    DType::F64,
                );
                let got: Array2<f64> = client.compute(&p).map_err(fail)?;
                let a2: Array2<f64> = a.clone().into_dimensionality().unwrap();
                let b2: Array2<f64> = b.clone().into_dimensionality().unwrap();
                prop_assert_eq!(got, a2.dot(&b2));
            }
            // Disjoint indices: an outer product of two vectors.
            let cu = [chunk(&mut rng, m)];
            let (xu, u) = leaf(&client, &mut rng, &[m], &cu, DType::F64)?;
            let cw = [chunk(&mut rng, n)];
            let (xw, w) = leaf(&client, &mut rng, &[n], &cw, DType::Bool)?;
            let o = blockwise("outer", "ij", &[(&xu, "i"), (&xw, "j")], &[], DType::F64);
            let got: ArrayD<f64> = client.compute(&o).map_err(fail)?;
            let want = ArrayD::from_shape_fn(IxDyn(&[m, n]), |ix| u[[ix[0]]] * w[[ix[1]]]);
            prop_assert_eq!(got, want);
            Ok(())
        })
        .map_err(|e| Failed::from(e.to_string()))?;
    let a = from_ndarray(&ArrayD::<f64>::zeros(IxDyn(&[3, 4])), &[2, 2]);
    let e = try_blockwise(
        "outer",
        "ij",
        &[(&a, "ij"), (&a, "ij"), (&a, "ji")],
        &[],
        DType::F64,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("[3, 4]"), "{e}");
    Ok(())
}
