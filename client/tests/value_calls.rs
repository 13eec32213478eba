//! Futures of single values on a real cluster whose workers run this test binary: call
//! functions registered by name, chained through futures, scattered objects, errors,
//! retries, `wait_first`, and recomputation after the worker holding an input dies.

use datafusion::arrow::array::{Array, Int64Array, RecordBatch};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tessera::{Error, LocalCluster, TaskKey, Value};
use tessera_core::value::object;

fn register() {
    // A table partition with a column `twice` = 2 * `x` appended.
    tessera::register_call("with_twice", |inputs: &[Value], _: &[u8]| {
        let [Value::Table(p)] = inputs else {
            return Err(Error::other("with_twice reads one partition"));
        };
        let schema = Arc::new(Schema::new(vec![
            Field::new("x", DataType::Int64, false),
            Field::new("twice", DataType::Int64, false),
        ]));
        let batches = p
            .batches()
            .iter()
            .map(|b| {
                let x = b.column(0).clone();
                let xs = x.as_any().downcast_ref::<Int64Array>().expect("int64 x");
                let twice: Int64Array = xs.iter().map(|v| v.map(|v| v * 2)).collect();
                RecordBatch::try_new(schema.clone(), vec![x, Arc::new(twice)])
                    .map_err(|e| Error::other(e.to_string()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        tessera::Partition::new(schema.clone(), batches).map(Value::Table)
    });
    // Concatenate the argument bytes and every input object's bytes.
    tessera::register_call("concat", |inputs: &[Value], args: &[u8]| {
        let mut out = args.to_vec();
        for v in inputs {
            out.extend_from_slice(&object::bytes(v)?);
        }
        Ok(object::value(&out))
    });
    // Sleep for the milliseconds in the argument, then return it.
    tessera::register_call("sleep", |_: &[Value], args: &[u8]| {
        let ms: u64 = std::str::from_utf8(args)
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| Error::other("sleep wants milliseconds"))?;
        std::thread::sleep(Duration::from_millis(ms));
        Ok(object::value(args))
    });
    // Fail while the counter file at the argument path counts fewer than 2 attempts.
    tessera::register_call("flaky", |_: &[Value], args: &[u8]| {
        let path = std::path::Path::new(std::str::from_utf8(args).unwrap_or_default());
        let n: u32 = std::fs::read_to_string(path)
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        std::fs::write(path, (n + 1).to_string()).map_err(|e| Error::other(e.to_string()))?;
        if n < 2 {
            return Err(Error::other(format!("attempt {} fails", n + 1)));
        }
        Ok(object::value(format!("attempt {}", n + 1).as_bytes()))
    });
}

fn cluster(workers: usize) -> LocalCluster {
    LocalCluster::builder()
        .workers(workers)
        .memory_limit(1 << 30)
        .worker_timeout(Duration::from_secs(5))
        .current_exe()
        .build()
        .expect("cluster from the test binary starts")
}

fn key(s: &str) -> TaskKey {
    TaskKey::new(format!("{s}-{}", std::process::id()))
}

fn calls_chain_through_futures_and_scattered_objects() -> Result<(), libtest_mimic::Failed> {
    let cluster = cluster(2);
    let client = cluster.client()?;
    let data = client.scatter_value(key("data"), object::value(b"<data>"))?;
    let a = client.submit_call(
        key("a"),
        "concat",
        b"a".to_vec(),
        std::slice::from_ref(&data),
        0,
    )?;
    let b = client.submit_call(key("b"), "concat", b"b".to_vec(), &[a.clone(), data], 0)?;
    assert_eq!(b.object()?, b"ba<data><data>");
    assert_eq!(a.object()?, b"a<data>");
    assert!(a.done() && b.done());
    // Many calls in one submission; repeated keys share one task.
    let calls = (0..50)
        .map(|i| {
            let k = key(&format!("many{}", i % 40));
            (k, format!("{}:", i % 40).into_bytes(), vec![a.clone()])
        })
        .collect();
    let mut many = client.submit_calls("concat", calls, 0)?;
    assert_eq!(many.len(), 50);
    assert_eq!(many[45].object()?, b"5:a<data>");
    assert_eq!(many[45].key(), many[5].key());
    // Dropping the others (one shares its key) leaves the last one's value held.
    let last = many.pop().expect("50 futures");
    drop(many);
    assert_eq!(last.object()?, b"9:a<data>");
    // The same key again reuses the result.
    let again = client.submit_call(key("a"), "concat", b"ignored".to_vec(), &[], 0)?;
    assert_eq!(again.object()?, b"a<data>");
    // An array chunk is a value too; a call expecting an object says what it got.
    let chunk = client.scatter_value(
        key("chunk"),
        Value::Array(tessera::Chunk::from_ndarray(ndarray::ArrayD::from_elem(
            ndarray::IxDyn(&[3]),
            1.0f64,
        ))),
    )?;
    let bad = client.submit_call(key("bad"), "concat", vec![], &[chunk], 0)?;
    let e = bad.wait().expect_err("concat of an array chunk fails");
    assert!(e.to_string().contains("not an object"), "{e}");
    Ok(())
}

fn errors_retries_and_unknown_names() -> Result<(), libtest_mimic::Failed> {
    let cluster = cluster(2);
    let client = cluster.client()?;
    let dir = std::env::temp_dir().join(format!("tessera-value-calls-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let path = |n: &str| dir.join(n).to_string_lossy().into_owned().into_bytes();
    let ok = client.submit_call(key("flaky-ok"), "flaky", path("ok"), &[], 2)?;
    assert_eq!(ok.object()?, b"attempt 3");
    let short = client.submit_call(key("flaky-short"), "flaky", path("short"), &[], 1)?;
    let e = short.wait().expect_err("one retry is not enough");
    let Error::Task(t) = &e else {
        panic!("a task error, got {e:?}")
    };
    assert!(t.message.contains("attempt 2 fails"), "{e}");
    // A call reading a failed future fails too.
    let after = client.submit_call(key("after"), "concat", vec![], &[short], 0)?;
    assert!(after.wait().is_err());
    let unknown = client.submit_call(key("nope"), "no-such-call", vec![], &[], 0)?;
    let e = unknown.wait().expect_err("unknown call");
    assert!(e.to_string().contains("\"no-such-call\""), "{e}");
    assert!(
        client.submit_call(key("x"), "", vec![], &[], 0).is_err(),
        "a call needs a name"
    );
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

fn wait_first_returns_the_quickest() -> Result<(), libtest_mimic::Failed> {
    let cluster = cluster(2);
    let client = cluster.client()?;
    let slow = client.submit_call(key("slow"), "sleep", b"1500".to_vec(), &[], 0)?;
    let quick = client.submit_call(key("quick"), "sleep", b"10".to_vec(), &[], 0)?;
    let t = Instant::now();
    let first = client.wait_first(&[slow.clone(), quick.clone()], None)?;
    assert_eq!(first, Some(1));
    assert!(
        t.elapsed() < Duration::from_millis(1400),
        "{:?}",
        t.elapsed()
    );
    assert!(!slow.done());
    assert_eq!(
        client.wait_first(std::slice::from_ref(&slow), Some(Duration::from_millis(20)))?,
        None
    );
    assert!(!slow.wait_timeout(Duration::from_millis(20))?);
    assert!(slow.wait_timeout(Duration::from_secs(30))?);
    assert_eq!(client.wait_first(&[], None)?, None);
    Ok(())
}

fn lost_inputs_are_recomputed_from_lineage() -> Result<(), libtest_mimic::Failed> {
    let mut cluster = cluster(3);
    let client = cluster.client()?;
    let a = client.submit_call(key("root"), "concat", b"root".to_vec(), &[], 0)?;
    a.wait()?;
    let holders = client.who_has(&[a.key().clone()])?.remove(0);
    let info = client.cluster_info()?;
    let pid = info
        .workers
        .iter()
        .find(|w| holders.contains(&w.registration.data_address))
        .expect("a worker holds the root")
        .registration
        .pid;
    let victim = cluster
        .worker_pids()
        .iter()
        .position(|&p| p == pid)
        .expect("the holder is one of the cluster's workers");
    cluster.kill_worker(victim)?;
    let b = client.submit_call(key("leaf"), "concat", b"leaf-".to_vec(), &[a], 0)?;
    assert_eq!(b.object()?, b"leaf-root");
    Ok(())
}

fn map_partitions_runs_a_call_on_every_partition() -> Result<(), libtest_mimic::Failed> {
    let cluster = cluster(2);
    let client = cluster.client()?;
    let ctx = tessera::table::Context::new(&client)?;
    let input_schema = Arc::new(Schema::new(vec![Field::new("x", DataType::Int64, false)]));
    let batch = RecordBatch::try_new(
        input_schema,
        vec![Arc::new(Int64Array::from_iter_values(0..1000))],
    )?;
    let df = ctx.from_batches(vec![batch], 4)?;
    let out_schema = Arc::new(Schema::new(vec![
        Field::new("x", DataType::Int64, false),
        Field::new("twice", DataType::Int64, false),
    ]));
    let out = df.map_partitions_call("with_twice", vec![], out_schema)?;
    let sums = out
        .aggregate(
            vec![],
            vec![
                datafusion::functions_aggregate::expr_fn::sum(tessera::table::col("twice")),
                datafusion::functions_aggregate::expr_fn::count(tessera::table::col("x")),
            ],
        )?
        .collect()?;
    let b = &sums[0];
    let twice = b.column(0).as_any().downcast_ref::<Int64Array>().unwrap();
    let count = b.column(1).as_any().downcast_ref::<Int64Array>().unwrap();
    assert_eq!((twice.value(0), count.value(0)), (999 * 1000, 1000));
    let err = df
        .map_partitions_call("no-such-call", vec![], df.schema())
        .expect_err("an unknown call fails the tasks");
    assert!(err.to_string().contains("no-such-call"), "{err}");
    Ok(())
}

fn main() {
    register();
    tessera::entry_hook();
    let args = libtest_mimic::Arguments::from_args();
    let tests = vec![
        libtest_mimic::Trial::test(
            "calls_chain_through_futures_and_scattered_objects",
            calls_chain_through_futures_and_scattered_objects,
        ),
        libtest_mimic::Trial::test(
            "errors_retries_and_unknown_names",
            errors_retries_and_unknown_names,
        ),
        libtest_mimic::Trial::test(
            "wait_first_returns_the_quickest",
            wait_first_returns_the_quickest,
        ),
        libtest_mimic::Trial::test(
            "map_partitions_runs_a_call_on_every_partition",
            map_partitions_runs_a_call_on_every_partition,
        ),
        libtest_mimic::Trial::test(
            "lost_inputs_are_recomputed_from_lineage",
            lost_inputs_are_recomputed_from_lineage,
        ),
    ];
    libtest_mimic::run(&args, tests).exit();
}
