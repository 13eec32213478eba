//! Storage kernel tests: random round trips through `.npy` files and Zarr stores region by
//! region, NumPy layouts written by hand, and hostile headers, stores and ops.

use super::*;
use crate::kernels::execute;
use crate::kernels::testutil::{Rng, Values, array, assert_same, from_chunk, to_chunk};
use crate::scalar::Scalar;
use ndarray::{ArrayD, SliceInfoElem};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A fresh path under the system temp directory, removed when dropped.
struct TempPath(PathBuf);

impl TempPath {
    fn new(ext: &str) -> TempPath {
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        TempPath(
            std::env::temp_dir().join(format!("tessera-storage-{}-{n}.{ext}", std::process::id())),
        )
    }
    fn s(&self) -> String {
        self.0.display().to_string()
    }
}

impl Drop for TempPath {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Random chunk lengths tiling `n` (not necessarily equal).
fn random_tiling(rng: &mut Rng, n: usize) -> Vec<usize> {
    if n == 0 {
        return vec![0];
    }
    let mut lens = Vec::new();
    let mut left = n;
    while left > 0 {
        let l = 1 + rng.below(left.min(4));
        lens.push(l);
        left -= l;
    }
    lens
}

/// Every region of the grid given by per-axis lengths.
fn regions(grid: &[Vec<usize>]) -> Vec<Vec<Range<usize>>> {
    let mut out = vec![vec![]];
    for lens in grid {
        let mut next = Vec::new();
        for prefix in &out {
            let mut start = 0;
            for &l in lens {
                let mut r = prefix.clone();
                r.push(start..start + l);
                next.push(r);
                start += l;
            }
        }
        out = next;
    }
    out
}

fn slice(a: &ArrayD<Scalar>, region: &[Range<usize>]) -> ArrayD<Scalar> {
    let info: Vec<SliceInfoElem> = region
        .iter()
        .map(|r| SliceInfoElem::Slice {
            start: r.start as isize,
            end: Some(r.end as isize),
            step: 1,
        })
        .collect();
    a.slice(info.as_slice()).to_owned()
}

fn marker_bytes(c: &Chunk) -> i64 {
    c.to_ndarray::<i64>()
        .unwrap()
        .iter()
        .copied()
        .next()
        .unwrap()
}

#[test]
fn npy_round_trips_region_by_region() {
    let mut rng = Rng(7);
    for case in 0..120 {
        let dtype = rng.dtype();
        let shape = rng.shape(3, 7);
        let want = array(&mut rng, dtype, &shape, Values::Wild);
        let file = TempPath::new("npy");
        let header = NpyHeader::c_order(dtype, &shape);
        header.create_file(&file.0).unwrap();
        let write_grid: Vec<Vec<usize>> =
            shape.iter().map(|&n| random_tiling(&mut rng, n)).collect();
        let mut total = 0;
        for region in regions(&write_grid) {
            let op = Op::NpyWrite {
                path: file.s(),
                header: header.clone(),
                region: region.clone(),
            };
            let marker = execute(&op, &[to_chunk(&slice(&want, &region), dtype)]).unwrap();
            assert_eq!(marker.shape(), vec![1; shape.len()].as_slice());
            total += marker_bytes(&marker);
        }
        assert_eq!(total as u64, header.data_len().unwrap(), "case {case}");
        assert_eq!(NpyHeader::read(&file.0).unwrap(), header);
        let read_grid: Vec<Vec<usize>> =
            shape.iter().map(|&n| random_tiling(&mut rng, n)).collect();
        for region in regions(&read_grid) {
            let op = Op::NpyRead {
                path: file.s(),
                header: header.clone(),
                region: region.clone(),
            };
            let got = execute(&op, &[]).unwrap();
            assert_same(
                &from_chunk(&got),
                &slice(&want, &region),
                &format!("case {case} {region:?}"),
            );
        }
    }
}

/// Bytes of `a` in NumPy's layout: C or Fortran order, little- or big-endian.
fn numpy_bytes(a: &ArrayD<Scalar>, dtype: DType, fortran: bool, big: bool) -> Vec<u8> {
    let order: Vec<Scalar> = if fortran {
        a.t().iter().copied().collect()
    } else {
        a.iter().copied().collect()
    };
    let mut out = Vec::new();
    for s in order {
        let mut le = Vec::new();
        match dtype {
            DType::Bool => le.push(s.as_bool() as u8),
            DType::I32 => le.extend((s.as_i64() as i32).to_le_bytes()),
            DType::I64 => le.extend(s.as_i64().to_le_bytes()),
            DType::F32 => le.extend((s.as_f64() as f32).to_le_bytes()),
            DType::F64 => le.extend(s.as_f64().to_le_bytes()),
        }
        if big {
            le.reverse();
        }
        out.extend(le);
    }
    out
}

#[test]
fn fortran_order_and_big_endian_files_read_correctly() {
    let mut rng = Rng(11);
    for case in 0..80 {
        let dtype = rng.dtype();
        let shape = rng.shape(3, 9);
        let want = array(&mut rng, dtype, &shape, Values::Wild);
        let (fortran, big) = (rng.chance(0.6), rng.chance(0.5));
        let mut header = NpyHeader::c_order(dtype, &shape);
        header.fortran_order = fortran;
        header.big_endian = big && dtype != DType::Bool;
        let mut bytes = header.encode();
        header.data_offset = bytes.len() as u64;
        bytes.extend(numpy_bytes(&want, dtype, fortran, header.big_endian));
        let file = TempPath::new("npy");
        std::fs::write(&file.0, &bytes).unwrap();
        assert_eq!(NpyHeader::read(&file.0).unwrap(), header);
        let grid: Vec<Vec<usize>> = shape.iter().map(|&n| random_tiling(&mut rng, n)).collect();
        for region in regions(&grid) {
            let op = Op::NpyRead {
                path: file.s(),
                header: header.clone(),
                region: region.clone(),
            };
            let got = execute(&op, &[]).unwrap();
            assert_same(
                &from_chunk(&got),
                &slice(&want, &region),
                &format!("case {case} fortran={fortran} big={big} {region:?}"),
            );
        }
    }
}

#[test]
fn sparse_regions_read_run_by_run() {
    // A thin column of a wide array: runs far apart, each read alone.
    let shape = [40, 3000];
    let want = ArrayD::from_shape_fn(IxDyn(&shape), |ix| {
        Scalar::F64((ix[0] * 3000 + ix[1]) as f64)
    });
    let file = TempPath::new("npy");
    let header = NpyHeader::c_order(DType::F64, &shape);
    let mut bytes = header.encode();
    bytes.extend(numpy_bytes(&want, DType::F64, false, false));
    std::fs::write(&file.0, &bytes).unwrap();
    let region = vec![3..37, 1000..1002];
    let op = Op::NpyRead {
        path: file.s(),
        header,
        region: region.clone(),
    };
    assert_same(
        &from_chunk(&execute(&op, &[]).unwrap()),
        &slice(&want, &region),
        "column",
    );
}

#[test]
fn hostile_npy_files_err_naming_the_file() {
    let good = NpyHeader::c_order(DType::F64, &[4, 5]);
    let mut valid = good.encode();
    valid.extend(vec![0u8; 160]);
    let dict = |d: &str| {
        let mut b = b"\x93NUMPY\x01\x00".to_vec();
        b.extend((d.len() as u16).to_le_bytes());
        b.extend(d.as_bytes());
        b
    };
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("empty", vec![]),
        ("wrong magic", b"\x93NUMPZ\x01\x00\x10\x00{}".to_vec()),
        ("truncated header", valid[..40].to_vec()),
        ("truncated data", valid[..valid.len() - 1].to_vec()),
        (
            "absurd shape",
            dict(
                "{'descr': '<f8', 'fortran_order': False, 'shape': (4294967296, 4294967296, 4294967296), }",
            ),
        ),
        (
            "shape beyond the file",
            dict("{'descr': '<f8', 'fortran_order': False, 'shape': (1000000,), }"),
        ),
        (
            "huge header length",
            b"\x93NUMPY\x02\x00\xff\xff\xff\x7f".to_vec(),
        ),
        (
            "unsupported dtype",
            dict("{'descr': '<c16', 'fortran_order': False, 'shape': (1,), }"),
        ),
        ("not a dict", dict("[1, 2, 3]")),
    ];
    for (what, bytes) in cases {
        let file = TempPath::new("npy");
        std::fs::write(&file.0, &bytes).unwrap();
        let err = NpyHeader::read(&file.0).unwrap_err().to_string();
        assert!(err.contains(&file.s()), "{what}: {err}");
        let op = Op::NpyRead {
            path: file.s(),
            header: good.clone(),
            region: vec![0..1, 0..1],
        };
        assert!(execute(&op, &[]).is_err(), "{what}");
    }
    // Random corruptions of a valid header never panic.
    let mut rng = Rng(3);
    for _ in 0..300 {
        let mut bytes = valid.clone();
        for _ in 0..1 + rng.below(4) {
            let i = rng.below(good.data_offset as usize);
            bytes[i] = rng.next() as u8;
        }
        let file = TempPath::new("npy");
        std::fs::write(&file.0, &bytes).unwrap();
        let _ = NpyHeader::read(&file.0);
    }
    let missing = TempPath::new("npy");
    assert!(
        NpyHeader::read(&missing.0)
            .unwrap_err()
            .to_string()
            .contains(&missing.s())
    );
}

#[test]
fn hostile_storage_ops_are_refused() {
    let file = TempPath::new("npy");
    let header = NpyHeader::c_order(DType::I32, &[3, 4]);
    header.create_file(&file.0).unwrap();
    let chunk = to_chunk(
        &ArrayD::from_elem(IxDyn(&[2, 2]), Scalar::I32(1)),
        DType::I32,
    );
    let write = |region: Vec<Range<usize>>, h: &NpyHeader, c: &Chunk| {
        execute(
            &Op::NpyWrite {
                path: file.s(),
                header: h.clone(),
                region,
            },
            std::slice::from_ref(c),
        )
    };
    assert!(write(vec![0..2, 0..2], &header, &chunk).is_ok());
    assert!(
        write(vec![2..4, 0..2], &header, &chunk).is_err(),
        "out of bounds"
    );
    assert!(
        write(vec![0..2, 0..3], &header, &chunk).is_err(),
        "shape mismatch"
    );
    #[allow(clippy::single_range_in_vec_init)]
    let one_axis = vec![0..2];
    assert!(write(one_axis, &header, &chunk).is_err(), "axis count");
    #[allow(clippy::reversed_empty_ranges)]
    let backwards = vec![2..1, 0..2];
    assert!(
        write(backwards, &header, &chunk).is_err(),
        "backwards range"
    );
    let f64_chunk = to_chunk(
        &ArrayD::from_elem(IxDyn(&[2, 2]), Scalar::F64(1.0)),
        DType::F64,
    );
    assert!(
        write(vec![0..2, 0..2], &header, &f64_chunk)
            .unwrap_err()
            .to_string()
            .contains("int32")
    );
    let other = NpyHeader::c_order(DType::I32, &[4, 3]);
    assert!(
        write(vec![0..2, 0..2], &other, &chunk).is_err(),
        "header mismatch"
    );
    let read = Op::NpyRead {
        path: file.s(),
        header: header.clone(),
        region: vec![0..1, 0..1],
    };
    assert!(
        execute(&read, std::slice::from_ref(&chunk)).is_err(),
        "inputs to a read"
    );
    let zread = Op::ZarrRead {
        path: file.s(),
        shape: vec![3, 4],
        dtype: DType::I32,
        region: vec![0..1, 0..1],
    };
    let err = execute(&zread, &[]).unwrap_err().to_string();
    assert!(err.contains(&file.s()), "{err}");
}

#[test]
fn zarr_round_trips_every_dtype_with_edge_chunks() {
    let mut rng = Rng(5);
    for case in 0..60 {
        let dtype = DType::ALL[case % 5];
        let shape = rng.shape(3, 7);
        let want = array(&mut rng, dtype, &shape, Values::Wild);
        let chunk_shape: Vec<usize> = shape.iter().map(|&n| 1 + rng.below(n.max(1) + 1)).collect();
        let dir = TempPath::new("zarr");
        zarr_create(&dir.0, &shape, dtype, &chunk_shape).unwrap();
        let info = zarr_info(&dir.0).unwrap();
        assert_eq!(
            (info.shape.as_slice(), info.dtype),
            (shape.as_slice(), dtype)
        );
        let store_regions = regions(&info.grid);
        let counts: Vec<usize> = info.grid.iter().map(|l| l.len()).collect();
        let mut ix = vec![0; shape.len()];
        for region in &store_regions {
            let op = Op::ZarrWrite {
                path: dir.s(),
                shape: shape.clone(),
                dtype,
                chunk: ix.clone(),
                region: region.clone(),
            };
            let marker = execute(&op, &[to_chunk(&slice(&want, region), dtype)]).unwrap();
            assert_eq!(
                marker_bytes(&marker) as usize,
                region.iter().map(|r| r.len()).product::<usize>() * dtype.itemsize()
            );
            for a in (0..ix.len()).rev() {
                ix[a] += 1;
                if ix[a] < counts[a] {
                    break;
                }
                ix[a] = 0;
            }
        }
        let read_grid: Vec<Vec<usize>> =
            shape.iter().map(|&n| random_tiling(&mut rng, n)).collect();
        for region in regions(&read_grid) {
            let op = Op::ZarrRead {
                path: dir.s(),
                shape: shape.clone(),
                dtype,
                region: region.clone(),
            };
            let got = execute(&op, &[]).unwrap();
            assert_same(
                &from_chunk(&got),
                &slice(&want, &region),
                &format!("case {case} {region:?}"),
            );
        }
    }
}

#[test]
fn zarr_refuses_misplaced_writes_and_corrupt_chunks() {
    let dir = TempPath::new("zarr");
    zarr_create(&dir.0, &[5, 4], DType::F64, &[2, 4]).unwrap();
    assert!(
        zarr_create(&dir.0, &[5, 4], DType::F64, &[2, 4]).is_err(),
        "existing store"
    );
    let chunk = to_chunk(
        &ArrayD::from_elem(IxDyn(&[2, 4]), Scalar::F64(2.5)),
        DType::F64,
    );
    let write = |ix: Vec<usize>, region: Vec<Range<usize>>| {
        execute(
            &Op::ZarrWrite {
                path: dir.s(),
                shape: vec![5, 4],
                dtype: DType::F64,
                chunk: ix,
                region,
            },
            std::slice::from_ref(&chunk),
        )
    };
    assert!(write(vec![0, 0], vec![0..2, 0..4]).is_ok());
    assert!(
        write(vec![1, 0], vec![0..2, 0..4]).is_err(),
        "region of another chunk"
    );
    assert!(
        write(vec![9, 0], vec![0..2, 0..4]).is_err(),
        "chunk outside the grid"
    );
    let read = |dtype: DType| {
        execute(
            &Op::ZarrRead {
                path: dir.s(),
                shape: vec![5, 4],
                dtype,
                region: vec![0..5, 0..4],
            },
            &[],
        )
    };
    assert!(
        read(DType::F32)
            .unwrap_err()
            .to_string()
            .contains("changed")
    );
    let got = read(DType::F64).unwrap().to_ndarray::<f64>().unwrap();
    assert_eq!(got[[1, 3]], 2.5);
    assert_eq!(got[[4, 0]], 0.0, "a missing chunk reads as the fill value");
    // Corrupt the stored chunk: the read errs naming the store, it does not panic.
    std::fs::write(dir.0.join("c").join("0").join("0"), b"not zstd at all").unwrap();
    let err = read(DType::F64).unwrap_err().to_string();
    assert!(err.contains(&dir.s()), "{err}");
    // Metadata that is not a Zarr array, and an unsupported data type.
    std::fs::write(dir.0.join("zarr.json"), b"{").unwrap();
    assert!(
        zarr_info(&dir.0)
            .unwrap_err()
            .to_string()
            .contains(&dir.s())
    );
    let u8_dir = TempPath::new("zarr");
    std::fs::create_dir_all(&u8_dir.0).unwrap();
    let meta = r#"{"zarr_format":3,"node_type":"array","shape":[4],"data_type":"uint8",
        "chunk_grid":{"name":"regular","configuration":{"chunk_shape":[2]}},
        "chunk_key_encoding":{"name":"default","configuration":{"separator":"/"}},
        "fill_value":0,"codecs":[{"name":"bytes"}]}"#;
    std::fs::write(u8_dir.0.join("zarr.json"), meta).unwrap();
    let err = zarr_info(&u8_dir.0).unwrap_err();
    assert!(
        matches!(err, Error::DType(_)) && err.to_string().contains("uint8"),
        "{err}"
    );
}

#[test]
fn zero_dimensional_arrays_round_trip() {
    for dtype in DType::ALL {
        let want = ArrayD::from_elem(IxDyn(&[]), Scalar::I64(1).cast(dtype));
        let file = TempPath::new("npy");
        let header = NpyHeader::c_order(dtype, &[]);
        header.create_file(&file.0).unwrap();
        let w = Op::NpyWrite {
            path: file.s(),
            header: header.clone(),
            region: vec![],
        };
        execute(&w, &[to_chunk(&want, dtype)]).unwrap();
        let r = Op::NpyRead {
            path: file.s(),
            header,
            region: vec![],
        };
        assert_same(&from_chunk(&execute(&r, &[]).unwrap()), &want, "npy 0-d");
        let dir = TempPath::new("zarr");
        zarr_create(&dir.0, &[], dtype, &[]).unwrap();
        let w = Op::ZarrWrite {
            path: dir.s(),
            shape: vec![],
            dtype,
            chunk: vec![],
            region: vec![],
        };
        execute(&w, &[to_chunk(&want, dtype)]).unwrap();
        let r = Op::ZarrRead {
            path: dir.s(),
            shape: vec![],
            dtype,
            region: vec![],
        };
        assert_same(&from_chunk(&execute(&r, &[]).unwrap()), &want, "zarr 0-d");
    }
}
