//! Indexing on a real cluster against ndarray: random basic indices (steps, negative
//! positions, newaxis, ellipsis), slices of slices, take, boolean masks; every dtype.

mod common;

use ndarray::{ArrayD, Axis, IxDyn};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use std::fmt::Debug;
use tessera::array::{Idx, from_ndarray, random};
use tessera::{Array, Client};
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
            i64::MIN
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

/// A tiny deterministic generator for data and indices, seeded by proptest.
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
    fn value(&mut self) -> f64 {
        match self.below(20) {
            0 => f64::NAN,
            1 => f64::INFINITY,
            2 => f64::NEG_INFINITY,
            _ => (self.next() >> 11) as f64 / (1u64 << 53) as f64 * 4.0 - 2.0,
        }
    }
    fn array<T: Gen>(&mut self, shape: &[usize]) -> ArrayD<T> {
        ArrayD::from_shape_simple_fn(IxDyn(shape), || T::gen_from(self.value()))
    }
    fn bound(&mut self) -> Option<isize> {
        (!self.chance(30)).then(|| self.below(19) as isize - 9)
    }
}

/// A random basic index for `shape`: slices, valid integer positions, new axes, an ellipsis.
fn random_index(rng: &mut Rng, shape: &[usize]) -> Vec<Idx> {
    let ndim = shape.len();
    let consumed = rng.below(ndim + 1);
    // Entries after an ellipsis index the last axes.
    let ellipsis = rng.chance(30).then(|| rng.below(consumed + 1));
    let mut index: Vec<Idx> = (0..consumed)
        .map(|j| {
            let axis = match ellipsis {
                Some(p) if j >= p => ndim - consumed + j,
                _ => j,
            };
            let n = shape[axis] as isize;
            if n > 0 && rng.chance(25) {
                Idx::at(rng.below(2 * n as usize) as isize - n)
            } else {
                let step = (1 + rng.below(3) as isize) * if rng.chance(40) { -1 } else { 1 };
                Idx::range(rng.bound(), rng.bound(), step)
            }
        })
        .collect();
    if let Some(p) = ellipsis {
        index.insert(p, Idx::ellipsis());
    }
    for _ in 0..rng.below(3) {
        let at = rng.below(index.len() + 1);
        index.insert(at, Idx::newaxis());
    }
    index
}

/// Python's `range(*slice(start, stop, step).indices(n))`, written as a plain walk.
fn py_positions(start: Option<isize>, stop: Option<isize>, step: isize, n: usize) -> Vec<usize> {
    let (n, step) = (n as i64, step as i64);
    let norm = |v: isize| if v < 0 { v as i64 + n } else { v as i64 };
    let mut out = Vec::new();
    if step > 0 {
        let mut i = start.map(norm).unwrap_or(0).max(0);
        let end = stop.map(norm).unwrap_or(n).min(n);
        while i < end {
            out.push(i as usize);
            i += step;
        }
    } else {
        let mut i = start.map(norm).unwrap_or(n - 1).min(n - 1);
        let end = stop.map(norm).unwrap_or(-1).max(-1);
        while i > end {
            out.push(i as usize);
            i += step;
        }
    }
    out
}

/// NumPy's `a[index]` computed with ndarray's `select`, `index_axis` and `insert_axis`.
fn reference<T: Clone>(a: &ArrayD<T>, index: &[Idx]) -> ArrayD<T> {
    let consuming = index
        .iter()
        .filter(|i| matches!(i, Idx::Range { .. } | Idx::At(_)))
        .count();
    let mut full: Vec<Idx> = Vec::new();
    for &i in index {
        if i == Idx::Ellipsis {
            full.extend(std::iter::repeat_n(Idx::full(), a.ndim() - consuming));
        } else {
            full.push(i);
        }
    }
    let consumed = full.iter().filter(|i| !matches!(i, Idx::NewAxis)).count();
    full.extend(std::iter::repeat_n(Idx::full(), a.ndim() - consumed));
    let mut r = a.clone();
    let mut ax = 0;
    for i in full {
        match i {
            Idx::Range { start, stop, step } => {
                let p = py_positions(start, stop, step, r.shape()[ax]);
                r = r.select(Axis(ax), &p);
                ax += 1;
            }
            Idx::At(i) => {
                let n = r.shape()[ax] as isize;
                r = r
                    .index_axis(Axis(ax), (if i < 0 { i + n } else { i }) as usize)
                    .to_owned();
            }
            Idx::NewAxis => {
                r = r.insert_axis(Axis(ax));
                ax += 1;
            }
            Idx::Ellipsis => unreachable!("expanded above"),
        }
    }
    r
}

/// Same shape and the same elements (compared through `Debug`, so NaN equals NaN and
/// `-0.0` differs from `0.0`).
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

/// One random case of basic indexing (and a second index of its result) for dtype `T`.
fn basic_case<T: Gen>(
    client: &Client,
    rng: &mut Rng,
    shape: &[usize],
    chunks: &[usize],
) -> Result<(), TestCaseError> {
    let data: ArrayD<T> = rng.array(shape);
    let x = literal(&data, chunks);
    let first = random_index(rng, shape);
    let y = x.try_index(&first).map_err(fail)?;
    let want = reference(&data, &first);
    let got: ArrayD<T> = client.compute(&y).map_err(fail)?;
    same(&got, &want).map_err(|m| fail(format!("{shape:?} / {chunks:?} [{first:?}]: {m}")))?;
    let second = random_index(rng, want.shape());
    let z = y.try_index(&second).map_err(fail)?;
    let want2 = reference(&want, &second);
    let got2: ArrayD<T> = client.compute(&z).map_err(fail)?;
    same(&got2, &want2).map_err(|m| {
        fail(format!(
            "{shape:?} / {chunks:?} [{first:?}][{second:?}]: {m}"
        ))
    })?;
    // Combined into one slice of `x`: the graph has only the result's tasks (the input is
    // client data, which is not a task).
    if !want2.is_empty() && z.name().map_err(fail)? != x.name().map_err(fail)? {
        let stats = z.graph_stats().map_err(fail)?;
        prop_assert_eq!(stats.tasks_before, z.num_chunks().map_err(fail)?);
    }
    Ok(())
}

fn shape_and_chunks() -> impl Strategy<Value = (Vec<usize>, Vec<usize>)> {
    (0usize..4).prop_flat_map(|ndim| {
        (
            proptest::collection::vec(prop_oneof![Just(0usize), Just(1), 1usize..9], ndim),
            proptest::collection::vec(1usize..5, ndim),
        )
    })
}

#[test]
fn random_indices_match_ndarray_on_a_cluster() {
    let cluster = common::cluster(2);
    let client: Client = cluster.client().unwrap();
    let mut runner = TestRunner::new(Config {
        cases: 48,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(
            &(shape_and_chunks(), 0usize..5, any::<u64>()),
            |((shape, chunks), dtype, seed)| {
                let rng = &mut Rng(seed | 1);
                match dtype {
                    0 => basic_case::<bool>(&client, rng, &shape, &chunks),
                    1 => basic_case::<i32>(&client, rng, &shape, &chunks),
                    2 => basic_case::<i64>(&client, rng, &shape, &chunks),
                    3 => basic_case::<f32>(&client, rng, &shape, &chunks),
                    _ => basic_case::<f64>(&client, rng, &shape, &chunks),
                }
            },
        )
        .unwrap();
    fancy_indexing_matches_ndarray(&client);
    benchmark_slice_and_errors(&client);
}

/// One random case of `take`, `mask_axis` and `select` for dtype `T`.
fn fancy_case<T: Gen>(
    client: &Client,
    rng: &mut Rng,
    shape: &[usize],
    chunks: &[usize],
) -> Result<(), TestCaseError> {
    let data: ArrayD<T> = rng.array(shape);
    let x = literal(&data, chunks);
    let axis = rng.below(shape.len());
    let n = shape[axis];
    let indices: Vec<i64> = if n == 0 {
        vec![]
    } else {
        (0..rng.below(12))
            .map(|_| rng.below(2 * n) as i64 - n as i64)
            .collect()
    };
    let positions: Vec<usize> = indices
        .iter()
        .map(|&i| {
            if i < 0 {
                (i + n as i64) as usize
            } else {
                i as usize
            }
        })
        .collect();
    let got: ArrayD<T> = client
        .compute(&x.try_take(&indices, axis).map_err(fail)?)
        .map_err(fail)?;
    same(&got, &data.select(Axis(axis), &positions)).map_err(|m| {
        fail(format!(
            "take {indices:?} axis {axis} of {shape:?}/{chunks:?}: {m}"
        ))
    })?;
    let mask: Vec<bool> = (0..n).map(|_| rng.chance(50)).collect();
    let kept: Vec<usize> = (0..n).filter(|&i| mask[i]).collect();
    let got: ArrayD<T> = client
        .compute(&x.try_mask_axis(axis, &mask).map_err(fail)?)
        .map_err(fail)?;
    same(&got, &data.select(Axis(axis), &kept)).map_err(|m| {
        fail(format!(
            "mask {mask:?} axis {axis} of {shape:?}/{chunks:?}: {m}"
        ))
    })?;
    let full_mask = ArrayD::from_shape_simple_fn(IxDyn(shape), || rng.chance(40));
    let want: Vec<T> = data
        .iter()
        .zip(full_mask.iter())
        .filter_map(|(v, &m)| m.then_some(*v))
        .collect();
    let got: ArrayD<T> = client
        .compute(&x.try_select(&full_mask).map_err(fail)?)
        .map_err(fail)?;
    same(
        &got,
        &ArrayD::from_shape_vec(IxDyn(&[want.len()]), want).unwrap(),
    )
    .map_err(|m| fail(format!("select of {shape:?}/{chunks:?}: {m}")))
}

fn fancy_indexing_matches_ndarray(client: &Client) {
    let strategy = (1usize..4).prop_flat_map(|ndim| {
        (
            proptest::collection::vec(prop_oneof![Just(0usize), Just(1), 1usize..9], ndim),
            proptest::collection::vec(1usize..5, ndim),
        )
    });
    let mut runner = TestRunner::new(Config {
        cases: 24,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(
            &(strategy, 0usize..5, any::<u64>()),
            |((shape, chunks), dtype, seed)| {
                let rng = &mut Rng(seed | 1);
                match dtype {
                    0 => fancy_case::<bool>(client, rng, &shape, &chunks),
                    1 => fancy_case::<i32>(client, rng, &shape, &chunks),
                    2 => fancy_case::<i64>(client, rng, &shape, &chunks),
                    3 => fancy_case::<f32>(client, rng, &shape, &chunks),
                    _ => fancy_case::<f64>(client, rng, &shape, &chunks),
                }
            },
        )
        .unwrap();
}

/// The benchmark's `x[::2, 1::3]`, culling and build-time errors that name what is wrong.
fn benchmark_slice_and_errors(client: &Client) {
    let x = random::<f64>(&[50, 40], &[10, 10], 5);
    let data: ArrayD<f64> = client.compute(&x).unwrap();
    let y = x.index(&[Idx::range(None, None, 2), Idx::range(Some(1), None, 3)]);
    let got: ArrayD<f64> = client.compute(&y).unwrap();
    same(
        &got,
        &reference(
            &data,
            &[Idx::range(None, None, 2), Idx::range(Some(1), None, 3)],
        ),
    )
    .unwrap();
    // One corner: only chunk (4, 3) of x is computed.
    let corner = x.index(&[Idx::range(Some(-3), None, 1), Idx::at(-1)]);
    assert_eq!(corner.graph_stats().unwrap().tasks_after, 2);
    let got: ArrayD<f64> = client.compute(&corner).unwrap();
    same(
        &got,
        &data.slice(ndarray::s![47.., 39]).to_owned().into_dyn(),
    )
    .unwrap();

    let err = |a: Array| a.check().unwrap_err().to_string();
    let e = err(x.take(&[0, 40], 1));
    assert!(
        e.contains("index 40") && e.contains("axis 1") && e.contains("[50, 40]"),
        "{e}"
    );
    let e = err(x.take(&[-51], 0));
    assert!(e.contains("index -51") && e.contains("size 50"), "{e}");
    assert!(err(x.take(&[0], 2)).contains("axis 2 is out of bounds"));
    let e = err(x.mask_axis(0, &[true; 3]));
    assert!(e.contains("length 3") && e.contains("length 50"), "{e}");
    let e = err(x.select(&ndarray::Array2::from_elem((50, 4), true)));
    assert!(e.contains("[50, 4]") && e.contains("[50, 40]"), "{e}");
    let e = err(x.index(&[Idx::at(50)]));
    assert!(
        e.contains("index 50") && e.contains("axis 0") && e.contains("size 50"),
        "{e}"
    );
    // Errors carry through later operations.
    assert!(err(x.index(&[Idx::at(50)]).index(&[Idx::full()]) * 2.0).contains("index 50"));
}
