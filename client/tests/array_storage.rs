//! Storage on a real cluster: `.npy` and Zarr v3 round trips for every dtype on random
//! shapes and chunkings, files made and checked by NumPy and zarr-python, hostile files
//! and corrupt chunks erring the task, and write tasks that send only tiny markers back.

mod common;

use ndarray::{ArrayD, IxDyn};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use std::path::{Path, PathBuf};
use std::process::Command;
use tessera::array::{
    from_ndarray, from_npy, from_zarr, from_zarr_chunks, try_from_npy, try_from_zarr,
};
use tessera::{Array, Client, DType, Error};

/// A fresh directory under the system temp directory, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(what: &str) -> TempDir {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("tessera-{what}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
    fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Test data of any dtype, compared exactly (floats bit for bit, so NaN equals NaN).
#[derive(Clone, Debug)]
enum Data {
    Bool(ArrayD<bool>),
    I32(ArrayD<i32>),
    I64(ArrayD<i64>),
    F32(ArrayD<f32>),
    F64(ArrayD<f64>),
}

macro_rules! each {
    ($d:expr, $a:ident => $body:expr) => {
        match $d {
            Data::Bool($a) => $body,
            Data::I32($a) => $body,
            Data::I64($a) => $body,
            Data::F32($a) => $body,
            Data::F64($a) => $body,
        }
    };
}

impl Data {
    /// Random values of `dtype`: floats include NaN, infinities and -0.0; ints their extremes.
    fn random(dtype: DType, shape: &[usize], seed: u64) -> Data {
        let mut s = seed | 1;
        let mut next = move || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            s
        };
        let float = |r: u64| match r % 16 {
            0 => f64::NAN,
            1 => f64::INFINITY,
            2 => f64::NEG_INFINITY,
            3 => -0.0,
            _ => (r >> 11) as f64 / (1u64 << 53) as f64 * 200.0 - 100.0,
        };
        let sh = IxDyn(shape);
        match dtype {
            DType::Bool => Data::Bool(ArrayD::from_shape_simple_fn(sh, || next() % 2 == 0)),
            DType::I32 => Data::I32(ArrayD::from_shape_simple_fn(sh, || match next() % 9 {
                0 => i32::MIN,
                1 => i32::MAX,
                r => r as i32 - 4 + (next() >> 40) as i32,
            })),
            DType::I64 => Data::I64(ArrayD::from_shape_simple_fn(sh, || match next() % 9 {
                0 => i64::MIN,
                1 => i64::MAX,
                _ => next() as i64,
            })),
            DType::F32 => Data::F32(ArrayD::from_shape_simple_fn(sh, || float(next()) as f32)),
            DType::F64 => Data::F64(ArrayD::from_shape_simple_fn(sh, || float(next()))),
        }
    }

    fn dtype(&self) -> DType {
        match self {
            Data::Bool(_) => DType::Bool,
            Data::I32(_) => DType::I32,
            Data::I64(_) => DType::I64,
            Data::F32(_) => DType::F32,
            Data::F64(_) => DType::F64,
        }
    }

    fn shape(&self) -> Vec<usize> {
        each!(self, a => a.shape().to_vec())
    }

    fn array(&self, chunks: &[usize]) -> Array {
        each!(self, a => from_ndarray(a, chunks))
    }

    fn compute(&self, client: &Client, array: &Array) -> Result<Data, Error> {
        Ok(match self {
            Data::Bool(_) => Data::Bool(client.compute(array)?),
            Data::I32(_) => Data::I32(client.compute(array)?),
            Data::I64(_) => Data::I64(client.compute(array)?),
            Data::F32(_) => Data::F32(client.compute(array)?),
            Data::F64(_) => Data::F64(client.compute(array)?),
        })
    }

    /// Little-endian element bytes in C order (NumPy's `tofile`).
    fn raw(&self) -> Vec<u8> {
        match self {
            Data::Bool(a) => a.iter().map(|&b| b as u8).collect(),
            Data::I32(a) => a.iter().flat_map(|v| v.to_le_bytes()).collect(),
            Data::I64(a) => a.iter().flat_map(|v| v.to_le_bytes()).collect(),
            Data::F32(a) => a.iter().flat_map(|v| v.to_le_bytes()).collect(),
            Data::F64(a) => a.iter().flat_map(|v| v.to_le_bytes()).collect(),
        }
    }

    fn from_raw(dtype: DType, shape: &[usize], raw: &[u8]) -> Data {
        let sh = IxDyn(shape);
        let vec = |size: usize| {
            raw.chunks_exact(size)
                .map(|b| b.to_vec())
                .collect::<Vec<_>>()
        };
        match dtype {
            DType::Bool => Data::Bool(
                ArrayD::from_shape_vec(sh, raw.iter().map(|&b| b != 0).collect()).unwrap(),
            ),
            DType::I32 => Data::I32(
                ArrayD::from_shape_vec(
                    sh,
                    vec(4)
                        .iter()
                        .map(|b| i32::from_le_bytes(b[..].try_into().unwrap()))
                        .collect(),
                )
                .unwrap(),
            ),
            DType::I64 => Data::I64(
                ArrayD::from_shape_vec(
                    sh,
                    vec(8)
                        .iter()
                        .map(|b| i64::from_le_bytes(b[..].try_into().unwrap()))
                        .collect(),
                )
                .unwrap(),
            ),
            DType::F32 => Data::F32(
                ArrayD::from_shape_vec(
                    sh,
                    vec(4)
                        .iter()
                        .map(|b| f32::from_le_bytes(b[..].try_into().unwrap()))
                        .collect(),
                )
                .unwrap(),
            ),
            DType::F64 => Data::F64(
                ArrayD::from_shape_vec(
                    sh,
                    vec(8)
                        .iter()
                        .map(|b| f64::from_le_bytes(b[..].try_into().unwrap()))
                        .collect(),
                )
                .unwrap(),
            ),
        }
    }

    /// Exact equality of dtype, shape and every element's bytes.
    fn same(&self, other: &Data) -> bool {
        self.dtype() == other.dtype() && self.shape() == other.shape() && self.raw() == other.raw()
    }
}

fn check_same(got: &Data, want: &Data, what: &str) -> Result<(), TestCaseError> {
    if got.same(want) {
        Ok(())
    } else {
        Err(TestCaseError::fail(format!(
            "{what}: got {got:?}, want {want:?}"
        )))
    }
}

/// The interpreter with numpy and zarr that scripts/test.sh installs, or `None` (with the
/// reason printed) outside CI. In CI a missing interpreter fails the test.
fn python() -> Option<String> {
    match std::env::var("TESSERA_TEST_PYTHON") {
        Ok(p) if !p.is_empty() => Some(p),
        _ => {
            let msg = "TESSERA_TEST_PYTHON is not set: run scripts/test.sh, which creates a \
                       virtualenv with numpy and zarr and exports its python";
            if std::env::var("CI").is_ok_and(|v| v == "true" || v == "1") {
                panic!("{msg}");
            }
            eprintln!("skipping the Python cross-check: {msg}");
            None
        }
    }
}

fn run_python(python: &str, args: &[&str]) -> String {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/storage_check.py");
    let out = Command::new(python)
        .arg(&script)
        .args(args)
        .output()
        .expect("the test python starts");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{} {args:?} failed:\n{stdout}\n{}",
        script.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

fn shape_arg(shape: &[usize]) -> String {
    shape
        .iter()
        .map(|d| d.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

fn dtype_strategy() -> impl Strategy<Value = DType> {
    prop_oneof![
        Just(DType::Bool),
        Just(DType::I32),
        Just(DType::I64),
        Just(DType::F32),
        Just(DType::F64)
    ]
}

/// Shapes of up to 3 axes, with empty and length-1 axes, and chunk lengths per axis.
fn layout_strategy() -> impl Strategy<Value = (Vec<usize>, Vec<usize>, Vec<usize>, Vec<usize>)> {
    (0usize..4).prop_flat_map(|ndim| {
        let dims = proptest::collection::vec(prop_oneof![Just(0usize), Just(1), 1usize..9], ndim);
        let chunks = || proptest::collection::vec(1usize..6, ndim);
        (dims, chunks(), chunks(), chunks())
    })
}

#[test]
fn storage_round_trips_on_a_cluster() {
    let cluster = common::cluster(2);
    let client = cluster.client().unwrap();
    let dir = TempDir::new("storage-prop");
    let mut runner = TestRunner::new(Config {
        cases: 32,
        failure_persistence: None,
        ..Config::default()
    });
    let case = std::cell::Cell::new(0);
    runner
        .run(
            &(
                dtype_strategy(),
                layout_strategy(),
                any::<u64>(),
                any::<bool>(),
            ),
            |(dtype, (shape, chunks, read_chunks, store_chunks), seed, own_grid)| {
                case.set(case.get() + 1);
                let case = case.get();
                let want = Data::random(dtype, &shape, seed);
                let array = want.array(&chunks);
                // .npy: written with one chunking, read back with another.
                let npy = dir.join(&format!("case{case}.npy"));
                let written = client
                    .to_npy(&array, &npy)
                    .map_err(|e| TestCaseError::fail(e.to_string()))?;
                prop_assert_eq!(written as usize, want.raw().len());
                let got = want
                    .compute(&client, &from_npy(&npy, &read_chunks))
                    .map_err(|e| TestCaseError::fail(e.to_string()))?;
                check_same(&got, &want, "npy")?;
                // Zarr: the store's chunks are the array's own or another grid (rechunked).
                let zarr = dir.join(&format!("case{case}.zarr"));
                let store = if own_grid {
                    None
                } else {
                    Some(store_chunks.as_slice())
                };
                client
                    .to_zarr(&array, &zarr, store)
                    .map_err(|e| TestCaseError::fail(e.to_string()))?;
                let stored = from_zarr(&zarr);
                let expect_grid = store.unwrap_or(&chunks);
                let lens: Vec<usize> = stored.chunks().unwrap().iter().map(|l| l[0]).collect();
                let want_lens: Vec<usize> = shape
                    .iter()
                    .zip(expect_grid)
                    .map(|(&n, &c)| c.min(n))
                    .collect();
                if !shape.contains(&0) {
                    prop_assert_eq!(lens, want_lens);
                }
                let got = want
                    .compute(&client, &stored)
                    .map_err(|e| TestCaseError::fail(e.to_string()))?;
                check_same(&got, &want, "zarr")?;
                let got = want
                    .compute(&client, &from_zarr_chunks(&zarr, &read_chunks))
                    .map_err(|e| TestCaseError::fail(e.to_string()))?;
                check_same(&got, &want, "zarr with other chunks")?;
                // Reads compose with other operations.
                if dtype == DType::F64 && !shape.is_empty() {
                    let doubled = &from_npy(&npy, &read_chunks) * 2.0;
                    let got: ArrayD<f64> = client.compute(&doubled).unwrap();
                    let Data::F64(w) = &want else { unreachable!() };
                    let w2 = w.mapv(|v| v * 2.0);
                    prop_assert!(
                        got.iter()
                            .zip(w2.iter())
                            .all(|(a, b)| a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan()))
                    );
                }
                Ok(())
            },
        )
        .unwrap();
}

#[test]
fn python_reads_what_tessera_writes_and_tessera_reads_what_python_writes() {
    let Some(python) = python() else { return };
    let cluster = common::cluster(2);
    let client = cluster.client().unwrap();
    let dir = TempDir::new("storage-python");
    // Tessera writes, NumPy and zarr-python check: non-dividing chunks, an empty array, 0-d.
    let mut verify = String::new();
    let layouts: [(&[usize], &[usize]); 4] = [
        (&[7, 5], &[3, 2]),
        (&[11], &[4]),
        (&[0, 3], &[2, 2]),
        (&[], &[]),
    ];
    for (k, dtype) in DType::ALL.into_iter().enumerate() {
        for (l, (shape, chunks)) in layouts.iter().enumerate() {
            let want = Data::random(dtype, shape, 99 + k as u64 * 7 + l as u64);
            let array = want.array(chunks);
            let (zarr, npy, raw) = (
                dir.join(&format!("t{k}-{l}.zarr")),
                dir.join(&format!("t{k}-{l}.npy")),
                dir.join(&format!("t{k}-{l}.raw")),
            );
            client.to_zarr(&array, &zarr, None).unwrap();
            client.to_npy(&array, &npy).unwrap();
            std::fs::write(&raw, want.raw()).unwrap();
            let got = want.compute(&client, &from_zarr(&zarr)).unwrap();
            assert!(got.same(&want), "tessera re-read of {}", zarr.display());
            verify.push_str(&format!(
                "{} {} {} {} {}\n",
                zarr.display(),
                npy.display(),
                raw.display(),
                dtype.name(),
                shape_arg(shape)
            ));
        }
    }
    let list = dir.join("verify.txt");
    std::fs::write(&list, &verify).unwrap();
    let out = run_python(&python, &["verify", list.to_str().unwrap()]);
    assert!(out.contains(&format!("ok {}", 5 * layouts.len())), "{out}");
    // zarr-python and NumPy write (Fortran order, big-endian, missing all-zero chunks), Tessera reads.
    let made = dir.join("made");
    let manifest = run_python(&python, &["make", made.to_str().unwrap()]);
    let mut cases = 0;
    for line in manifest.lines().filter(|l| l.starts_with("case ")) {
        let f: Vec<&str> = line.split(' ').collect();
        let (kind, path, raw, dtype) = (f[1], f[2], f[3], DType::from_name(f[4]).unwrap());
        let shape: Vec<usize> = f.get(5).filter(|s| !s.is_empty()).map_or(vec![], |s| {
            s.split(',').map(|d| d.parse().unwrap()).collect()
        });
        let want = Data::from_raw(dtype, &shape, &std::fs::read(raw).unwrap());
        let chunks: Vec<usize> = shape.iter().map(|&n| (n / 2).max(1)).collect();
        let array = match kind {
            "npy" => from_npy(path, &chunks),
            "zarr" => from_zarr(path),
            other => panic!("unknown case kind {other}"),
        };
        let got = want.compute(&client, &array).unwrap();
        assert!(got.same(&want), "{line}: got {got:?}, want {want:?}");
        cases += 1;
    }
    assert!(
        cases >= 20,
        "the Python helper made only {cases} cases:\n{manifest}"
    );
}

#[test]
fn hostile_files_and_corrupt_chunks_err_naming_the_file() {
    let cluster = common::cluster(1);
    let client = cluster.client().unwrap();
    let dir = TempDir::new("storage-hostile");
    // Malformed headers are refused when the array is built.
    let bad = dir.join("bad.npy");
    for bytes in [
        &b"\x93NUMPZ\x01\x00"[..],
        b"",
        b"\x93NUMPY\x01\x00\xff\x00{'descr'",
    ] {
        std::fs::write(&bad, bytes).unwrap();
        let err = try_from_npy(&bad, &[2]).unwrap_err().to_string();
        assert!(err.contains("bad.npy"), "{err}");
    }
    let missing = try_from_zarr(dir.join("missing.zarr"))
        .unwrap_err()
        .to_string();
    assert!(missing.contains("missing.zarr"), "{missing}");
    // A file truncated after the array was built errs its tasks, naming the file.
    let npy = dir.join("shrinks.npy");
    let data = Data::random(DType::F64, &[6, 4], 5);
    let source = data.array(&[3, 4]);
    client.to_npy(&source, &npy).unwrap();
    let array = from_npy(&npy, &[3, 4]);
    let len = std::fs::metadata(&npy).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&npy)
        .unwrap()
        .set_len(len - 8)
        .unwrap();
    let err = data.compute(&client, &array).unwrap_err();
    assert!(matches!(err, Error::Task(_)), "{err}");
    assert!(err.to_string().contains("shrinks.npy"), "{err}");
    // A corrupt store chunk errs the task reading it, naming the store.
    let zarr = dir.join("corrupt.zarr");
    client.to_zarr(&source, &zarr, None).unwrap();
    std::fs::write(zarr.join("c").join("1").join("0"), b"garbage, not zstd").unwrap();
    let err = data.compute(&client, &from_zarr(&zarr)).unwrap_err();
    assert!(matches!(err, Error::Task(_)), "{err}");
    assert!(err.to_string().contains("corrupt.zarr"), "{err}");
    // Writing over an existing store is refused when the write is built.
    let again = source.try_to_zarr(&zarr, None).unwrap_err().to_string();
    assert!(again.contains("already exists"), "{again}");
    // The cluster is still healthy.
    let got = data.compute(&client, &data.array(&[2, 2])).unwrap();
    assert!(got.same(&data));
}

#[test]
fn write_tasks_send_only_tiny_markers() {
    let cluster = common::cluster(2);
    let client = cluster.client().unwrap();
    let dir = TempDir::new("storage-markers");
    let data = Data::random(DType::F64, &[300, 400], 17);
    let nbytes = 300 * 400 * 8;
    // One literal for both writes: re-creating an equal literal right after dropping one
    // races the release of its scattered keys (a client/scheduler issue outside storage).
    let array = data.array(&[100, 100]);
    for (what, path) in [("npy", dir.join("big.npy")), ("zarr", dir.join("big.zarr"))] {
        let before = client.cluster_info().unwrap().scheduler_bytes_received;
        let writes = if what == "npy" {
            array.to_npy(&path)
        } else {
            array.to_zarr(&path, None)
        };
        assert_eq!(writes.shape().unwrap(), &[3, 4]);
        let per_chunk: ArrayD<i64> = client.compute(&writes).unwrap();
        assert!(
            per_chunk.iter().all(|&b| b == 100 * 100 * 8),
            "{what}: {per_chunk}"
        );
        let after = client.cluster_info().unwrap().scheduler_bytes_received;
        // The literal's chunks go client -> workers directly; the scheduler sees only
        // control messages, far fewer bytes than the data.
        assert!(
            after - before < (nbytes / 10) as u64,
            "{what}: scheduler got {} bytes",
            after - before
        );
        let back = data
            .compute(
                &client,
                &if what == "npy" {
                    from_npy(&path, &[150, 400])
                } else {
                    from_zarr(&path)
                },
            )
            .unwrap();
        assert!(back.same(&data), "{what}");
    }
    // A write of a computed array: data made on the workers never reaches the client.
    let x = tessera::array::random::<f64>(&[200, 300], &[50, 100], 3);
    let path = dir.join("computed.npy");
    let writes = (&x * 3.0).to_npy(&path);
    let future = client.submit(&writes).unwrap();
    future.wait().unwrap();
    let holders = client.who_has(future.keys()).unwrap();
    assert!(
        holders.iter().all(|h| !h.is_empty()),
        "markers are held on workers"
    );
    let total: ArrayD<i64> = future.result().unwrap();
    assert_eq!(total.sum(), 200 * 300 * 8);
    let want: ArrayD<f64> = client.compute(&(&x * 3.0)).unwrap();
    let got: ArrayD<f64> = client.compute(&from_npy(&path, &[64, 64])).unwrap();
    assert_eq!(got, want);
}
