//! User kernels registered by name, run by workers started from this very test binary
//! (the entry hook): a working kernel, one that errs, one that panics, and an unknown name;
//! `map_overlap` stencils and `blockwise` index strings (kernels in `user_kernels_ext`).

mod user_kernels_ext;

use ndarray::{Array2, ArrayD};
use std::time::Duration;
use tessera::array::random;
use tessera::{Chunk, DType, Error, LocalCluster};

fn register() {
    tessera::register_kernel("double", |inputs: &[Chunk], _args: &[u8]| {
        let a: ArrayD<f64> = inputs[0].to_ndarray()?;
        Ok(Chunk::from_ndarray(a * 2.0))
    });
    tessera::register_kernel("fail", |_: &[Chunk], _: &[u8]| {
        Err(Error::other("refusing on purpose"))
    });
    tessera::register_kernel("explode", |_: &[Chunk], _: &[u8]| {
        panic!("kaboom in a user kernel")
    });
    user_kernels_ext::register();
}

fn cluster() -> LocalCluster {
    LocalCluster::builder()
        .workers(2)
        .memory_limit(1 << 30)
        .worker_timeout(Duration::from_secs(5))
        .current_exe()
        .build()
        .expect("cluster from the test binary starts")
}

fn failing_kernels_err_their_task_and_the_cluster_stays_usable() -> Result<(), libtest_mimic::Failed>
{
    let cluster = cluster();
    let client = cluster.client()?;
    let x = random::<f64>(&[40, 40], &[10, 10], 1);

    let doubled: Array2<f64> = client.compute(&x.map_blocks("double", &[], DType::F64))?;
    let xs: Array2<f64> = client.compute(&x)?;
    assert_eq!(doubled, &xs * 2.0);

    for (kernel, expected) in [
        ("explode", "kaboom in a user kernel"),
        ("fail", "refusing on purpose"),
    ] {
        let err = client
            .compute::<f64, ndarray::Ix0>(&x.map_blocks(kernel, &[], DType::F64).sum())
            .expect_err("a failing kernel must fail the computation");
        let Error::Task(task) = &err else {
            panic!("expected a task error, got {err:?}")
        };
        assert!(task.message.contains(expected), "{err}");
        assert!(
            task.key.starts_with(kernel),
            "error names the failing task: {err}"
        );
        assert!(
            task.worker.starts_with("127.0.0.1:"),
            "error names the worker: {err}"
        );
    }
    let err = client
        .compute::<f64, ndarray::Ix2>(&x.map_blocks("nosuchkernel", &[], DType::F64))
        .expect_err("unknown kernels fail");
    assert!(err.to_string().contains("nosuchkernel"), "{err}");

    // The next computation succeeds on the same cluster, with both workers alive.
    let total: ndarray::Array0<f64> = client.compute(&x.sum())?;
    assert!((total.into_scalar() - xs.sum()).abs() < 1e-9);
    assert_eq!(client.cluster_info()?.workers.len(), 2);
    Ok(())
}

fn main() {
    register();
    tessera::entry_hook();
    let args = libtest_mimic::Arguments::from_args();
    let mut tests = vec![libtest_mimic::Trial::test(
        "failing_kernels_err_their_task_and_the_cluster_stays_usable",
        failing_kernels_err_their_task_and_the_cluster_stays_usable,
    )];
    tests.extend(user_kernels_ext::trials(cluster));
    libtest_mimic::run(&args, tests).exit();
}
