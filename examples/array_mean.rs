//! The classic Dask example on a real two-worker cluster: `(x + x.T).mean(axis=0)`,
//! checked against single-threaded ndarray on the same values.

use std::time::Instant;
use tessera::{LocalCluster, array};

fn main() -> tessera::Result<()> {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(2_000);
    let chunk = (n / 4).max(1);
    let cluster = LocalCluster::builder().workers(2).build()?;
    let client = cluster.client()?;

    let x = array::random::<f64>(&[n, n], &[chunk, chunk], 42);
    let z = (&x + &x.t()).mean_axis(0);
    let t = Instant::now();
    let v: ndarray::Array1<f64> = client.compute(&z)?;
    println!(
        "tessera: {} values in {:.2?}, checksum {:.6}",
        v.len(),
        t.elapsed(),
        v.sum()
    );

    // The same computation with ndarray on the same values.
    let xs: ndarray::Array2<f64> = client.compute(&x)?;
    let reference = (&xs + &xs.t())
        .mean_axis(ndarray::Axis(0))
        .expect("non-empty");
    let worst = v
        .iter()
        .zip(&reference)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max);
    println!("largest difference from ndarray: {worst:e}");
    assert!(worst < 1e-9, "tessera and ndarray disagree");
    Ok(())
}
