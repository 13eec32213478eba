//! Shape operations on a real cluster against ndarray: reshape (chunk-local and rechunking),
//! squeeze, expand_dims, swapaxes, moveaxis, broadcast_to, concatenate and stack.

mod common;

use ndarray::{ArrayD, Axis, IxDyn};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use std::fmt::Debug;
use tessera::array::{concatenate, from_ndarray, random, stack, try_concatenate, try_stack};
use tessera::{Array, Client, DType};
use tessera_core::chunk::ChunkElement;

/// `from_ndarray` (arrays are dropped as cases end: equal data built again must still compute).
fn literal<T: ChunkElement>(data: &ArrayD<T>, chunks: &[usize]) -> Array {
    from_ndarray(data, chunks)
}

/// Element types built from a random `f64` (NaN and infinities included for floats).
trait Gen: ChunkElement + Debug {
    fn gen_from(v: f64) -> Self;
}
impl Gen for bool {
    fn gen_from(v: f64) -> Self {
        v > 0.0
    }
}
impl Gen for i32 {
    fn gen_from(v: f64) -> Self {
        if v.is_finite() { (v * 10.0) as i32 } else { -7 }
    }
}
impl Gen for i64 {
    fn gen_from(v: f64) -> Self {
        if v.is_finite() {
            (v * 1e6) as i64
        } else {
            i64::MAX
        }
    }
}
impl Gen for f32 {
    fn gen_from(v: f64) -> Self {
        v as f32
    }
}
impl Gen for f64 {
    fn gen_from(v: f64) -> Self {
        v
    }
}

/// A tiny deterministic generator for data and parameters, seeded by proptest.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
    fn array<T: Gen>(&mut self, shape: &[usize]) -> ArrayD<T> {
        ArrayD::from_shape_simple_fn(IxDyn(shape), || {
            T::gen_from(match self.below(20) {
                0 => f64::NAN,
                1 => f64::NEG_INFINITY,
                _ => (self.next() >> 11) as f64 / (1u64 << 53) as f64 * 4.0 - 2.0,
            })
        })
    }
    fn chunks(&mut self, ndim: usize) -> Vec<usize> {
        (0..ndim).map(|_| 1 + self.below(4)).collect()
    }
}

/// A random shape with `size` elements (some axes of length 1, one maybe `-1`).
fn random_reshape(rng: &mut Rng, size: usize) -> Vec<isize> {
    let mut factors = Vec::new();
    let (mut n, mut p) = (size, 2);
    while n > 1 {
        if n.is_multiple_of(p) {
            factors.push(p);
            n /= p;
        } else {
            p += 1;
        }
    }
    if size == 1 && rng.chance(30) {
        return vec![];
    }
    let ndim = 1 + rng.below(4);
    let mut dims = vec![1usize; ndim];
    for f in factors {
        dims[rng.below(ndim)] *= f;
    }
    if size == 0 {
        dims[rng.below(ndim)] = 0;
    }
    let mut spec: Vec<isize> = dims.iter().map(|&d| d as isize).collect();
    if size > 0 && rng.chance(30) {
        spec[rng.below(ndim)] = -1;
    }
    spec
}

/// Same shape and the same elements (through `Debug`: NaN equals NaN).
fn same<T: Debug>(got: &ArrayD<T>, want: &ArrayD<T>) -> Result<(), String> {
    if got.shape() != want.shape() {
        return Err(format!("shape {:?} != {:?}", got.shape(), want.shape()));
    }
    for ((ix, g), w) in got.indexed_iter().zip(want.iter()) {
        if format!("{g:?}") != format!("{w:?}") {
            return Err(format!("at {ix:?}: got {g:?}, want {w:?}"));
        }
    }
    Ok(())
}

fn fail(e: impl ToString) -> TestCaseError {
    TestCaseError::fail(e.to_string())
}

fn check<T: Gen>(
    client: &Client,
    what: &str,
    a: &Array,
    want: &ArrayD<T>,
) -> Result<(), TestCaseError> {
    let got: ArrayD<T> = client
        .compute(a)
        .map_err(|e| fail(format!("{what}: {e}")))?;
    same(&got, want).map_err(|m| fail(format!("{what}: {m}")))
}

/// One random case of every shape operation for dtype `T`.
fn shape_case<T: Gen>(
    client: &Client,
    rng: &mut Rng,
    shape: &[usize],
) -> Result<(), TestCaseError> {
    let data: ArrayD<T> = rng.array(shape);
    let chunks = rng.chunks(shape.len());
    let x = literal(&data, &chunks);
    let ctx = format!("{shape:?}/{chunks:?}");
    let ndim = shape.len();

    let spec = random_reshape(rng, data.len());
    let new: Vec<usize> = {
        let known: usize = spec
            .iter()
            .filter(|&&d| d >= 0)
            .map(|&d| d as usize)
            .product();
        spec.iter()
            .map(|&d| {
                if d < 0 {
                    data.len() / known
                } else {
                    d as usize
                }
            })
            .collect()
    };
    let want = data.clone().into_shape_with_order(IxDyn(&new)).unwrap();
    check(
        client,
        &format!("reshape {ctx} -> {spec:?}"),
        &x.try_reshape(&spec).map_err(fail)?,
        &want,
    )?;
    // And back, from the reshaped array's own chunks.
    let spec_back: Vec<isize> = shape.iter().map(|&d| d as isize).collect();
    let back = x.reshape(&spec).try_reshape(&spec_back).map_err(fail)?;
    check(
        client,
        &format!("reshape {ctx} -> {spec:?} -> back"),
        &back,
        &data,
    )?;

    let kept: Vec<usize> = shape.iter().copied().filter(|&d| d != 1).collect();
    let squeezed = data.clone().into_shape_with_order(IxDyn(&kept)).unwrap();
    check(
        client,
        &format!("squeeze {ctx}"),
        &x.try_squeeze(None).map_err(fail)?,
        &squeezed,
    )?;
    let axis = rng.below(ndim + 1);
    let expanded = data.clone().insert_axis(Axis(axis));
    check(
        client,
        &format!("expand_dims {ctx} at {axis}"),
        &x.try_expand_dims(axis).map_err(fail)?,
        &expanded,
    )?;
    if ndim > 0 {
        let (a, b) = (rng.below(ndim), rng.below(ndim));
        let mut swapped = data.clone();
        swapped.swap_axes(a, b);
        check(
            client,
            &format!("swapaxes {ctx} {a} {b}"),
            &x.try_swapaxes(a, b).map_err(fail)?,
            &swapped,
        )?;
        let mut perm: Vec<usize> = (0..ndim).filter(|&k| k != a).collect();
        perm.insert(b, a);
        let moved = data.clone().permuted_axes(perm);
        check(
            client,
            &format!("moveaxis {ctx} {a} {b}"),
            &x.try_moveaxis(a, b).map_err(fail)?,
            &moved,
        )?;
    }
    let mut target: Vec<usize> = (0..rng.below(3)).map(|_| rng.below(4)).collect();
    target.extend(shape.iter().map(|&d| if d == 1 { rng.below(4) } else { d }));
    let broadcast = data.broadcast(IxDyn(&target)).unwrap().to_owned();
    check(
        client,
        &format!("broadcast_to {ctx} -> {target:?}"),
        &x.try_broadcast_to(&target).map_err(fail)?,
        &broadcast,
    )?;

    if ndim > 0 {
        // Concatenate with 1-2 more arrays of other lengths along `axis` and other chunks.
        let axis = rng.below(ndim);
        let mut parts = vec![data.clone()];
        let mut arrays = vec![x.clone()];
        for _ in 0..1 + rng.below(2) {
            let mut s = shape.to_vec();
            s[axis] = rng.below(5);
            let p: ArrayD<T> = rng.array(&s);
            arrays.push(literal(&p, &rng.chunks(ndim)));
            parts.push(p);
        }
        let views: Vec<_> = parts.iter().map(|p| p.view()).collect();
        let want = ndarray::concatenate(Axis(axis), &views).unwrap();
        check(
            client,
            &format!("concatenate {ctx} axis {axis}"),
            &try_concatenate(&arrays, axis).map_err(fail)?,
            &want,
        )?;
    }
    let axis = rng.below(ndim + 1);
    let other: ArrayD<T> = rng.array(shape);
    let arrays = [x.clone(), literal(&other, &rng.chunks(ndim))];
    let want = ndarray::stack(Axis(axis), &[data.view(), other.view()]).unwrap();
    check(
        client,
        &format!("stack {ctx} axis {axis}"),
        &try_stack(&arrays, axis).map_err(fail)?,
        &want,
    )
}

#[test]
fn shape_operations_match_ndarray_on_a_cluster() {
    let cluster = common::cluster(2);
    let client: Client = cluster.client().unwrap();
    let shapes = (0usize..4).prop_flat_map(|ndim| {
        proptest::collection::vec(prop_oneof![Just(0usize), Just(1), 1usize..7], ndim)
    });
    let mut runner = TestRunner::new(Config {
        cases: 40,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(
            &(shapes, 0usize..5, any::<u64>()),
            |(shape, dtype, seed)| {
                let rng = &mut Rng(seed | 1);
                match dtype {
                    0 => shape_case::<bool>(&client, rng, &shape),
                    1 => shape_case::<i32>(&client, rng, &shape),
                    2 => shape_case::<i64>(&client, rng, &shape),
                    3 => shape_case::<f32>(&client, rng, &shape),
                    _ => shape_case::<f64>(&client, rng, &shape),
                }
            },
        )
        .unwrap();
    promotion_and_chunk_locality(&client);
}

fn promotion_and_chunk_locality(client: &Client) {
    // bool + int64 -> int64, int32 + float32 -> float64 (NumPy's promotion).
    let b = literal(&ndarray::array![true, false].into_dyn(), &[1]);
    let i = literal(&ndarray::array![7i64, -3, 5].into_dyn(), &[2]);
    let c = concatenate(&[b.clone(), i], 0);
    assert_eq!(c.dtype().unwrap(), DType::I64);
    let got: ArrayD<i64> = client.compute(&c).unwrap();
    assert_eq!(got, ndarray::array![1i64, 0, 7, -3, 5].into_dyn());
    let f = literal(&ndarray::array![0.5f32, 1.5].into_dyn(), &[2]);
    let n = literal(&ndarray::array![2i32, 3].into_dyn(), &[1]);
    let s = stack(&[n, f], 0);
    assert_eq!(s.dtype().unwrap(), DType::F64);
    let got: ArrayD<f64> = client.compute(&s).unwrap();
    assert_eq!(got, ndarray::array![[2.0, 3.0], [0.5, 1.5]].into_dyn());

    // Row chunks with whole rows: the reshape is chunk-local, one task per chunk.
    let x = random::<f64>(&[12, 5, 4], &[3, 5, 4], 9);
    let data: ArrayD<f64> = client.compute(&x).unwrap();
    let r = x.reshape(&[-1, 20]);
    assert_eq!(r.chunks().unwrap(), &vec![vec![3; 4], vec![20]]);
    assert_eq!(r.graph_stats().unwrap().tasks_before, 4 + 4);
    let got: ArrayD<f64> = client.compute(&r).unwrap();
    assert_eq!(
        got,
        data.clone()
            .into_shape_with_order(IxDyn(&[12, 20]))
            .unwrap()
    );
    // Splitting the merged axis back, or into rows of 10, is chunk-local too.
    assert_eq!(
        r.reshape(&[12, 5, 4]).graph_stats().unwrap().tasks_before,
        4 + 4 + 4
    );
    let odd = r.reshape(&[24, 10]);
    assert_eq!(odd.chunks().unwrap(), &vec![vec![6; 4], vec![10]]);
    let split = x.rechunk(&[3, 2, 4]).reshape(&[6, 40]);
    let stats = split.graph_stats().unwrap();
    assert!(
        stats.tasks_before > 12 + 6,
        "a rechunk comes first: {stats:?}"
    );
    let got: ArrayD<f64> = client.compute(&split).unwrap();
    assert_eq!(
        got,
        data.clone().into_shape_with_order(IxDyn(&[6, 40])).unwrap()
    );

    let err = |a: Array| a.check().unwrap_err().to_string();
    let e = err(x.reshape(&[7, -1]));
    assert!(
        e.contains("size 240") && e.contains("[7, -1]") && e.contains("[12, 5, 4]"),
        "{e}"
    );
    assert!(err(x.reshape(&[-1, -1])).contains("only one dimension can be -1"));
    assert!(err(x.reshape(&[241])).contains("cannot reshape"));
    let e = err(concatenate(
        &[x.clone(), random::<f64>(&[12, 4, 4], &[3, 3, 3], 1)],
        0,
    ));
    assert!(e.contains("[12, 4, 4]") && e.contains("[12, 5, 4]"), "{e}");
    assert!(err(concatenate(std::slice::from_ref(&x), 3)).contains("axis 3 is out of bounds"));
    assert!(err(concatenate(&[], 0)).contains("at least one"));
    let e = err(stack(
        &[x.clone(), random::<f64>(&[12, 5, 3], &[3, 3, 3], 1)],
        0,
    ));
    assert!(e.contains("[12, 5, 3]") && e.contains("same shape"), "{e}");
    let e = err(x.broadcast_to(&[12, 5, 3]));
    assert!(e.contains("[12, 5, 4]") && e.contains("[12, 5, 3]"), "{e}");
    let e = err(x.squeeze(Some(&[1])));
    assert!(e.contains("axis 1") && e.contains("length 5"), "{e}");
    assert!(err(x.swapaxes(0, 3)).contains("axis 3"));
    assert!(err(x.moveaxis(3, 0)).contains("axis 3"));
    assert!(err(x.expand_dims(4)).contains("axis 4"));
    assert!(try_stack(&[x.clone(), x.clone()], 3).is_ok());
}
