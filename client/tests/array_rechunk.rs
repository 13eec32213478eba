//! Rechunk on a real cluster: through the worker-to-worker shuffle the values are those of
//! the input for every dtype and chunking, pieces (not whole chunks) move between workers
//! and never through the scheduler, and a worker SIGKILLed mid-shuffle restarts it.

mod common;

use ndarray::{Array2, ArrayD, IxDyn};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use std::time::{Duration, Instant};
use tessera::array::{RechunkMethod, from_ndarray, random};
use tessera::{Array, Client};
use tessera_core::DType;
use tessera_core::wire::ClusterInfo;

/// Deterministic values with NaN, infinities, negative zero and repeats sprinkled in.
fn values(shape: &[usize], seed: u64) -> ArrayD<f64> {
    let mut state = seed | 1;
    ArrayD::from_shape_simple_fn(IxDyn(shape), move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        match state % 23 {
            0 => f64::NAN,
            1 => f64::INFINITY,
            2 => f64::NEG_INFINITY,
            3 => -0.0,
            _ => ((state >> 11) % 2001) as f64 / 10.0 - 100.0,
        }
    })
}

/// Compute `y` as `dtype` and check it equals `data` (bit for bit for floats).
fn check_same(client: &Client, y: &Array, data: &ArrayD<f64>, dtype: DType) {
    match dtype {
        DType::F64 => {
            let got: ArrayD<f64> = client.compute(y).unwrap();
            let same = got
                .iter()
                .zip(data)
                .all(|(a, b)| a.to_bits() == b.to_bits());
            assert!(same && got.shape() == data.shape(), "{got:?} != {data:?}");
        }
        DType::F32 => {
            let got: ArrayD<f32> = client.compute(y).unwrap();
            let want = data.mapv(|v| v as f32);
            let same = got
                .iter()
                .zip(&want)
                .all(|(a, b)| a.to_bits() == b.to_bits());
            assert!(same && got.shape() == want.shape(), "{got:?} != {want:?}");
        }
        DType::I64 => {
            let got: ArrayD<i64> = client.compute(y).unwrap();
            assert_eq!(got, data.mapv(|v| v as i64));
        }
        DType::I32 => {
            let got: ArrayD<i32> = client.compute(y).unwrap();
            assert_eq!(got, data.mapv(|v| v as i32));
        }
        DType::Bool => {
            let got: ArrayD<bool> = client.compute(y).unwrap();
            assert_eq!(got, data.mapv(|v| v > 0.0));
        }
    }
}

/// `data` as a chunked array of `dtype` held by the cluster (put by the client).
fn source(data: &ArrayD<f64>, dtype: DType, chunks: &[usize]) -> Array {
    match dtype {
        DType::F64 => from_ndarray(data, chunks),
        DType::F32 => from_ndarray(&data.mapv(|v| v as f32), chunks),
        DType::I64 => from_ndarray(&data.mapv(|v| v as i64), chunks),
        DType::I32 => from_ndarray(&data.mapv(|v| v as i32), chunks),
        DType::Bool => from_ndarray(&data.mapv(|v| v > 0.0), chunks),
    }
}

fn dtype_strategy() -> impl Strategy<Value = DType> {
    prop_oneof![
        Just(DType::Bool),
        Just(DType::I32),
        Just(DType::I64),
        Just(DType::F32),
        Just(DType::F64),
    ]
}

#[test]
fn random_rechunks_through_the_shuffle_keep_every_value() {
    let cluster = common::cluster(3);
    let client = cluster.client().unwrap();
    let strategy = (
        proptest::collection::vec(0usize..11, 1..4),
        proptest::collection::vec((1usize..6, 1usize..6), 3),
        dtype_strategy(),
        prop_oneof![Just(RechunkMethod::Shuffle), Just(RechunkMethod::Auto)],
        any::<u64>(),
    );
    let mut runner = TestRunner::new(Config {
        cases: 32,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&strategy, |(shape, sides, dtype, method, seed)| {
            let ndim = shape.len();
            let from: Vec<usize> = sides[..ndim].iter().map(|s| s.0).collect();
            let to: Vec<usize> = sides[..ndim].iter().map(|s| s.1).collect();
            let data = values(&shape, seed);
            let x = source(&data, dtype, &from);
            let y = x.rechunk_with(&to, method);
            y.check().unwrap();
            let want: Vec<Vec<usize>> = shape
                .iter()
                .zip(&to)
                .map(|(&n, &c)| {
                    if n == 0 {
                        vec![0]
                    } else {
                        (0..n.div_ceil(c)).map(|i| c.min(n - i * c)).collect()
                    }
                })
                .collect();
            prop_assert_eq!(y.chunks().unwrap(), &want);
            check_same(&client, &y, &data, dtype);
            // A second step from the shuffled result (its chunks are the next inputs).
            let back = y.rechunk_with(&from, RechunkMethod::Shuffle);
            check_same(&client, &(back), &data, dtype);
            Ok(())
        })
        .unwrap();
}

#[test]
fn empty_arrays_and_same_chunks() {
    let cluster = common::cluster(2);
    let client = cluster.client().unwrap();
    for shape in [[0usize, 5], [4, 0], [0, 0]] {
        let data = values(&shape, 3);
        let x = source(&data, DType::F64, &[2, 2]);
        let y = x.rechunk_with(&[3, 1], RechunkMethod::Shuffle);
        check_same(&client, &y, &data, DType::F64);
    }
    // The same chunks: a no-op, the very same array and keys.
    let x = random::<f64>(&[9, 7], &[4, 3], 1);
    let same = x.rechunk(&[4, 3]);
    assert_eq!(
        client.chunk_keys(&same).unwrap(),
        client.chunk_keys(&x).unwrap()
    );
    let a: Array2<f64> = client.compute(&same).unwrap();
    let b: Array2<f64> = client.compute(&x).unwrap();
    assert_eq!(a, b);
    // Bad chunk specs are refused when the expression is built, naming the shape.
    let e = x
        .try_rechunk_with(&[0, 3], RechunkMethod::Shuffle)
        .unwrap_err();
    assert!(e.to_string().contains("[9, 7]"), "{e}");
    let e = x
        .try_rechunk_with(&[3], RechunkMethod::Shuffle)
        .unwrap_err();
    assert!(e.to_string().contains("[9, 7]"), "{e}");
}

/// Wait until the heartbeats report `total` shuffle bytes received in all; the last info.
fn wait_for_shuffle_bytes(client: &Client, total: u64) -> ClusterInfo {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let info = client.cluster_info().unwrap();
        let got: u64 = info
            .workers
            .iter()
            .map(|w| w.metrics.shuffle_bytes_received)
            .sum();
        if got >= total || Instant::now() > deadline {
            return info;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn received(info: &ClusterInfo) -> u64 {
    info.workers.iter().map(|w| w.metrics.bytes_received).sum()
}

#[test]
fn rows_to_columns_moves_pieces_once_and_nothing_through_the_scheduler() {
    let cluster = common::cluster(3);
    let client = cluster.client().unwrap();
    let (n, c) = (1200usize, 100usize);
    let total = (n * n * 8) as u64;
    let x = client.persist(&random::<f64>(&[n, n], &[c, n], 7)).unwrap();
    client.submit(&x).unwrap().wait().unwrap();
    let xs: Array2<f64> = client.compute(&x).unwrap();
    let before = client.cluster_info().unwrap();

    let y = x.rechunk(&[n, c]);
    let got: Array2<f64> = client.compute(&y).unwrap();
    assert_eq!(got, xs);
    let after = wait_for_shuffle_bytes(&client, total);
    // Each of the 3 workers owns 4 of the 12 column chunks and received exactly their
    // pieces: a third of the array, not whole row chunks.
    for w in &after.workers {
        let b = w.metrics.shuffle_bytes_received;
        assert_eq!(b, total / 3, "worker {} received {b} bytes of pieces", w.id);
        assert_eq!(w.metrics.shuffle_bytes, 0, "buffers were not dropped");
    }
    let moved = received(&after) - received(&before);
    assert!(
        moved <= total,
        "workers received {moved} bytes for a {total}-byte rechunk"
    );
    let sched = after.scheduler_bytes_received - before.scheduler_bytes_received;
    assert!(
        sched < total / 100,
        "the scheduler read {sched} bytes for a {total}-byte rechunk"
    );

    // The same rechunk as assemble tasks fetches whole row chunks for every column chunk.
    let before = client.cluster_info().unwrap();
    let z = x.rechunk_with(&[n, c + 1], RechunkMethod::Tasks);
    let got: Array2<f64> = client.compute(&z).unwrap();
    assert_eq!(got, xs);
    std::thread::sleep(Duration::from_millis(1500));
    let tasks_moved = received(&client.cluster_info().unwrap()) - received(&before);
    assert!(
        tasks_moved > 3 * moved,
        "assemble tasks moved {tasks_moved} bytes, the shuffle {moved}"
    );
}

#[test]
fn sigkill_of_a_worker_mid_shuffle_restarts_it_and_the_values_are_right() {
    let mut cluster = common::cluster(3);
    let client = cluster.client().unwrap();
    let x = random::<f64>(&[3000, 3000], &[100, 3000], 21);
    let y = x.rechunk(&[3000, 100]);
    let result = std::thread::scope(|s| {
        let c = client.clone();
        let y = y.clone();
        let handle = s.spawn(move || c.compute::<f64, ndarray::Ix2>(&y));
        // Kill a worker once pieces are arriving (every worker owns partitions).
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline
            && client
                .cluster_info()
                .unwrap()
                .workers
                .iter()
                .all(|w| w.metrics.shuffle_bytes_received == 0)
        {
            std::thread::sleep(Duration::from_millis(20));
        }
        cluster.kill_worker(0).unwrap();
        handle.join().unwrap()
    });
    let got = result.expect("the rechunk survives a dead worker");
    let xs: Array2<f64> = client.compute(&x).unwrap();
    assert_eq!(got, xs);
    let info = client.cluster_info().unwrap();
    assert_eq!(info.workers.len(), 2);
    assert_eq!(info.workers_lost, 1);
    // The survivors drop every buffer once the shuffle is done.
    let deadline = Instant::now() + Duration::from_secs(10);
    while client
        .cluster_info()
        .unwrap()
        .workers
        .iter()
        .any(|w| w.metrics.shuffle_bytes > 0)
    {
        assert!(Instant::now() < deadline, "shuffle buffers left behind");
        std::thread::sleep(Duration::from_millis(100));
    }
}
