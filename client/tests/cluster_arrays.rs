//! End-to-end array computations on a real 2-worker cluster, checked against ndarray:
//! the classic example, every dtype, persist and reuse, futures, placement, no bytes via scheduler.

mod common;

use ndarray::{Array1, Array2, ArrayD, Axis, IxDyn};
use tessera::array::{arange, from_ndarray, full, ones, randint, random, zeros};
use tessera::{DType, Error};

#[test]
fn classic_example_matches_ndarray() {
    let cluster = common::cluster(2);
    let client = cluster.client().unwrap();
    let x = random::<f64>(&[300, 300], &[70, 70], 42);
    let z = (&x + &x.t()).mean_axis(0);
    let v: Array1<f64> = client.compute(&z).unwrap();
    let xs: Array2<f64> = client.compute(&x).unwrap();
    let reference = (&xs + &xs.t()).mean_axis(Axis(0)).unwrap();
    let worst = common::max_abs_diff(&v, &reference);
    assert!(worst < 1e-12, "difference {worst}");
    assert!(xs.iter().all(|&v| (0.0..1.0).contains(&v)));
    // Same seed, same values; another seed, other values.
    let again: Array2<f64> = client
        .compute(&random::<f64>(&[300, 300], &[70, 70], 42))
        .unwrap();
    assert_eq!(again, xs);
    let other: Array2<f64> = client
        .compute(&random::<f64>(&[300, 300], &[70, 70], 43))
        .unwrap();
    assert_ne!(other, xs);
}

#[test]
fn every_dtype_computes_like_ndarray() {
    let cluster = common::cluster(2);
    let client = cluster.client().unwrap();

    let data = ArrayD::from_shape_fn(IxDyn(&[7, 5]), |ix| (ix[0] as i64 * 5 + ix[1] as i64) - 17);
    let a = from_ndarray(&data, &[3, 2]);
    let got: ArrayD<i64> = client.compute(&(&a * 3i64 - &a.abs())).unwrap();
    assert_eq!(got, data.mapv(|v| v * 3 - v.abs()));
    let total: ndarray::Array0<i64> = client.compute(&a.sum()).unwrap();
    assert_eq!(total.into_scalar(), data.sum());
    let mins: ArrayD<i64> = client.compute(&a.min_axis(1)).unwrap();
    assert_eq!(mins, data.map_axis(Axis(1), |r| *r.iter().min().unwrap()));

    let d32 = data.mapv(|v| v as i32);
    let a32 = from_ndarray(&d32, &[4, 4]);
    let div: ArrayD<f64> = client.compute(&(&a32 / 2)).unwrap();
    assert_eq!(div, d32.mapv(|v| v as f64 / 2.0));
    let s32: ndarray::Array0<i64> = client.compute(&a32.sum()).unwrap();
    assert_eq!(s32.into_scalar(), data.sum());

    let f32s = data.mapv(|v| v as f32 * 0.5);
    let af = from_ndarray(&f32s, &[2, 5]);
    let sq: ArrayD<f32> = client.compute(&af.abs().sqrt()).unwrap();
    assert!(
        sq.iter()
            .zip(f32s.iter())
            .all(|(g, v)| (g - v.abs().sqrt()).abs() < 1e-6)
    );
    assert_eq!(af.mean().dtype().unwrap(), DType::F32);

    let mask: ArrayD<bool> = client.compute(&a.gt(0i64)).unwrap();
    assert_eq!(mask, data.mapv(|v| v > 0));
    let count: ndarray::Array0<i64> = client.compute(&a.gt(0i64).sum()).unwrap();
    assert_eq!(
        count.into_scalar(),
        data.iter().filter(|&&v| v > 0).count() as i64
    );

    let r: Array1<f64> = client.compute(&arange::<f64>(0.0, 10.0, 0.5, 3)).unwrap();
    assert_eq!(r, Array1::from_iter((0..20).map(|i| i as f64 * 0.5)));
    let ri: Array1<i32> = client.compute(&arange::<i32>(3.0, 20.0, 4.0, 2)).unwrap();
    assert_eq!(ri.to_vec(), vec![3, 7, 11, 15, 19]);
    let o: Array2<f32> = client.compute(&ones::<f32>(&[3, 4], &[2, 3])).unwrap();
    assert_eq!(o, Array2::from_elem((3, 4), 1.0f32));
    let z: Array2<bool> = client.compute(&zeros::<bool>(&[2, 2], &[1, 1])).unwrap();
    assert!(z.iter().all(|v| !v));
    let f: Array2<i64> = client.compute(&full(&[2, 3], &[2, 2], 9i64)).unwrap();
    assert!(f.iter().all(|&v| v == 9));
    let ints: Array2<i64> = client
        .compute(&randint::<i64>(-5, 5, &[20, 20], &[7, 7], 1))
        .unwrap();
    assert!(ints.iter().all(|&v| (-5..5).contains(&v)));
    let var: ndarray::Array0<f64> = client.compute(&a.var(1)).unwrap();
    let df = data.mapv(|v| v as f64);
    assert!((var.into_scalar() - df.var(1.0)).abs() < 1e-9);
    let std_axis: Array1<f64> = client.compute(&a.std_axis(0, 0)).unwrap();
    let reference = df.std_axis(Axis(0), 0.0);
    assert!(
        std_axis
            .iter()
            .zip(reference.iter())
            .all(|(g, r)| (g - r).abs() < 1e-9)
    );
}

#[test]
fn empty_and_scalar_shapes() {
    let cluster = common::cluster(2);
    let client = cluster.client().unwrap();
    let e = zeros::<f64>(&[0, 4], &[2, 2]);
    let s: Array1<f64> = client.compute(&e.sum_axis(0)).unwrap();
    assert_eq!(s, Array1::<f64>::zeros(4));
    let m: ndarray::Array0<f64> = client.compute(&e.mean()).unwrap();
    assert!(m.into_scalar().is_nan());
    assert!(e.max().check().is_err());
    let empty: Array2<f64> = client.compute(&(&e + 1.0)).unwrap();
    assert_eq!(empty.shape(), &[0, 4]);
}

#[test]
fn persist_reuses_results_and_futures_complete() {
    let cluster = common::cluster(2);
    let client = cluster.client().unwrap();
    let x = random::<f64>(&[400, 400], &[100, 100], 7);
    let y = client.persist(&(&x * 2.0)).unwrap();
    let first: Array2<f64> = client.compute(&y).unwrap();
    let done_before = client.cluster_info().unwrap().tasks_completed;
    let second: Array2<f64> = client.compute(&y).unwrap();
    assert_eq!(first, second);
    // Re-building the same expression reuses the persisted keys: nothing recomputed.
    let rebuilt: Array2<f64> = client.compute(&(&x * 2.0)).unwrap();
    assert_eq!(first, rebuilt);
    assert_eq!(
        client.cluster_info().unwrap().tasks_completed,
        done_before,
        "persisted results were recomputed"
    );

    let futures: Vec<_> = (0..4)
        .map(|i| client.submit(&(&x + i as f64).sum()).unwrap())
        .collect();
    let mut seen = 0;
    for f in client.as_completed(futures) {
        assert!(f.done());
        let v: ndarray::Array0<f64> = f.result().unwrap();
        assert!(v.into_scalar() > 0.0);
        seen += 1;
    }
    assert_eq!(seen, 4);
    // Asking for the wrong element type or dimension is an error, not a panic.
    let f = client.submit(&x.sum()).unwrap();
    assert!(matches!(
        f.result::<f32, ndarray::Ix0>(),
        Err(Error::DType(_))
    ));
    assert!(matches!(
        f.result::<f64, ndarray::Ix2>(),
        Err(Error::Shape(_))
    ));
}

#[test]
fn tasks_run_where_their_input_lives_and_bytes_skip_the_scheduler() {
    let cluster = common::cluster(2);
    let client = cluster.client().unwrap();
    // 8 MB chunks: moving one costs far more than waiting for a busy worker.
    // Once x is in memory (two chunks per worker), each chunk of y = 3x starts soonest
    // where its input already is.
    let x = client
        .persist(&random::<f64>(&[4000, 1000], &[1000, 1000], 3))
        .unwrap();
    client.submit(&x).unwrap().wait().unwrap();
    let y = client.persist(&(&x * 3.0)).unwrap();
    let xk = client.chunk_keys(&x).unwrap();
    let yk = client.chunk_keys(&y).unwrap();
    let _: Array2<f64> = client.compute(&y).unwrap();
    let xh = client.who_has(&xk).unwrap();
    let yh = client.who_has(&yk).unwrap();
    let distinct: std::collections::HashSet<_> = xh.iter().flatten().collect();
    assert_eq!(
        distinct.len(),
        2,
        "root chunks were spread over both workers: {xh:?}"
    );
    for (a, b) in xh.iter().zip(&yh) {
        assert!(
            !b.is_empty() && a.contains(&b[0]),
            "a task ran away from its input: {xh:?} vs {yh:?}"
        );
    }

    let before = client.cluster_info().unwrap().scheduler_bytes_received;
    let big = random::<f64>(&[2000, 2000], &[500, 500], 11);
    let total: ndarray::Array2<f64> = client.compute(&(&big + &big.t())).unwrap();
    assert_eq!(total.len(), 4_000_000);
    let after = client.cluster_info().unwrap().scheduler_bytes_received;
    let data_bytes = 2000 * 2000 * 8 * 3;
    assert!(
        after - before < (data_bytes / 100) as u64,
        "scheduler read {} bytes while {} bytes of chunks moved",
        after - before,
        data_bytes
    );
}

#[test]
fn client_data_stays_while_its_array_lives_and_is_released_after() {
    let cluster = common::cluster(2);
    let client = cluster.client().unwrap();
    let data = ArrayD::from_shape_fn(IxDyn(&[30, 20]), |ix| (ix[0] * 20 + ix[1]) as f64);
    let a = from_ndarray(&data, &[7, 6]);
    let keys = client.chunk_keys(&a).unwrap();
    // Each computation releases its results right away; the data itself must stay put.
    for i in 0..30 {
        let got: ndarray::Array0<f64> = client.compute(&(&a * i as f64).sum()).unwrap();
        assert_eq!(got.into_scalar(), data.sum() * i as f64);
    }
    assert!(client.who_has(&keys).unwrap().iter().all(|h| h.len() == 1));
    drop(a);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while client.who_has(&keys).unwrap().iter().any(|h| !h.is_empty()) {
        assert!(
            std::time::Instant::now() < deadline,
            "dropped data was never released"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}
