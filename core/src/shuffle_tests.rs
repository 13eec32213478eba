//! Tests of the shuffle's pure parts: cutting inputs into pieces and assembling partitions
//! reproduce a rechunk exactly; headers, owners and hostile pieces are handled.
// Regions are one range per dimension: a one-element Vec of ranges is a 1-d region here.
#![allow(clippy::single_range_in_vec_init)]

use super::*;
use crate::dtype::DType;
use ndarray::{ArrayD, Dimension, IxDyn, SliceInfoElem};
use proptest::prelude::*;

/// Chunk boundaries of an axis of `len` cut every `step` (last chunk shorter).
fn bounds(len: usize, step: usize) -> Vec<Range<usize>> {
    if len == 0 {
        return vec![0..0];
    }
    (0..len.div_ceil(step))
        .map(|i| i * step..((i + 1) * step).min(len))
        .collect()
}

fn cartesian(axes: &[Vec<Range<usize>>]) -> Vec<Vec<Range<usize>>> {
    let mut out = vec![Vec::new()];
    for a in axes {
        let mut next = Vec::new();
        for prefix in &out {
            for r in a {
                let mut p = prefix.clone();
                p.push(r.clone());
                next.push(p);
            }
        }
        out = next;
    }
    out
}

fn slice(a: &ArrayD<f64>, region: &[Range<usize>]) -> ArrayD<f64> {
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

/// Rechunk `a` from blocks of `src` to blocks of `dst` through split + merge, as the
/// worker does (pieces keyed by source), and return the output blocks with their regions.
fn rechunk_via_shuffle(
    a: &ArrayD<f64>,
    dtype: DType,
    src: &[usize],
    dst: &[usize],
) -> Vec<(Vec<Range<usize>>, Chunk)> {
    let shape = a.shape().to_vec();
    let inputs = cartesian(
        &shape
            .iter()
            .zip(src)
            .map(|(&n, &s)| bounds(n, s))
            .collect::<Vec<_>>(),
    );
    let outputs = cartesian(
        &shape
            .iter()
            .zip(dst)
            .map(|(&n, &s)| bounds(n, s))
            .collect::<Vec<_>>(),
    );
    let overlap = |x: &[Range<usize>], y: &[Range<usize>]| -> Option<Vec<Range<usize>>> {
        let r: Vec<Range<usize>> = x
            .iter()
            .zip(y)
            .map(|(a, b)| a.start.max(b.start)..a.end.min(b.end))
            .collect();
        r.iter().all(|r| r.start < r.end).then_some(r)
    };
    let mut buffers: Vec<HashMap<u64, Chunk>> = vec![HashMap::new(); outputs.len()];
    for (s, inp) in inputs.iter().enumerate() {
        let chunk = crate::kernels::DynArray::from_chunk(&Chunk::from_ndarray(slice(a, inp)))
            .unwrap()
            .cast(dtype)
            .into_chunk();
        let regions = outputs
            .iter()
            .enumerate()
            .filter_map(|(p, out)| {
                overlap(inp, out).map(|o| RegionPiece {
                    partition: p as u64,
                    region: o
                        .iter()
                        .zip(inp)
                        .map(|(o, i)| o.start - i.start..o.end - i.start)
                        .collect(),
                })
            })
            .collect();
        for (p, piece) in super::split(&Split::Regions(regions), &chunk).unwrap() {
            buffers[p as usize].insert(s as u64, piece);
        }
    }
    outputs
        .iter()
        .enumerate()
        .map(|(p, out)| {
            let pieces = inputs
                .iter()
                .enumerate()
                .filter_map(|(s, inp)| {
                    overlap(inp, out).map(|o| PlacedPiece {
                        source: s as u64,
                        extent: o.iter().map(|r| r.end - r.start).collect(),
                        offset: o.iter().zip(out).map(|(o, b)| o.start - b.start).collect(),
                    })
                })
                .collect();
            let m = Merge::Assemble {
                shape: out.iter().map(|r| r.end - r.start).collect(),
                dtype,
                pieces,
            };
            (out.clone(), super::merge(&m, &buffers[p]).unwrap())
        })
        .collect()
}

fn as_f64(c: &Chunk) -> ArrayD<f64> {
    crate::kernels::DynArray::from_chunk(c)
        .unwrap()
        .cast(DType::F64)
        .into_chunk()
        .to_ndarray::<f64>()
        .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn split_then_merge_is_a_rechunk(
        shape in proptest::collection::vec(0usize..9, 1..4),
        steps in proptest::collection::vec((1usize..5, 1usize..5), 3),
        dtype in prop_oneof![
            Just(DType::Bool), Just(DType::I32), Just(DType::I64), Just(DType::F32), Just(DType::F64)
        ],
        seed in 0u64..1000,
    ) {
        let ndim = shape.len();
        let src: Vec<usize> = steps[..ndim].iter().map(|s| s.0).collect();
        let dst: Vec<usize> = steps[..ndim].iter().map(|s| s.1).collect();
        let a = ArrayD::from_shape_fn(IxDyn(&shape), |ix| {
            let lin: usize = ix.slice().iter().fold(0, |acc, &i| acc * 10 + i);
            ((lin as u64 * 2654435761 + seed) % 7) as f64 - 3.0
        });
        let reference = crate::kernels::DynArray::from_chunk(&Chunk::from_ndarray(a.clone()))
            .unwrap()
            .cast(dtype)
            .into_chunk();
        let reference = as_f64(&reference);
        for (region, chunk) in rechunk_via_shuffle(&a, dtype, &src, &dst) {
            prop_assert_eq!(chunk.dtype(), dtype);
            prop_assert_eq!(as_f64(&chunk), slice(&reference, &region));
        }
    }
}

#[test]
fn nan_and_inf_survive_the_trip() {
    let a = ArrayD::from_shape_vec(
        IxDyn(&[2, 3]),
        vec![f64::NAN, 1.0, f64::INFINITY, -0.0, f64::NEG_INFINITY, 2.0],
    )
    .unwrap();
    let out = rechunk_via_shuffle(&a, DType::F64, &[1, 3], &[2, 1]);
    let mut back = ArrayD::<f64>::zeros(IxDyn(&[2, 3]));
    for (region, chunk) in out {
        let v = chunk.to_ndarray::<f64>().unwrap();
        back.slice_mut(ndarray::s![region[0].clone(), region[1].clone()])
            .assign(&v.into_dimensionality::<ndarray::Ix2>().unwrap());
    }
    assert!(back[[0, 0]].is_nan());
    assert_eq!(back[[0, 2]], f64::INFINITY);
    assert_eq!(back[[1, 1]], f64::NEG_INFINITY);
    assert!(back[[1, 0]] == 0.0 && back[[1, 0]].is_sign_negative());
}

#[test]
fn missing_or_misshapen_pieces_are_refused() {
    let m = Merge::Assemble {
        shape: vec![4],
        dtype: DType::F64,
        pieces: vec![
            PlacedPiece {
                source: 0,
                extent: vec![2],
                offset: vec![0],
            },
            PlacedPiece {
                source: 1,
                extent: vec![2],
                offset: vec![2],
            },
        ],
    };
    let two = Chunk::from_ndarray(ArrayD::from_elem(IxDyn(&[2]), 1.0f64));
    let three = Chunk::from_ndarray(ArrayD::from_elem(IxDyn(&[3]), 1.0f64));
    let ints = Chunk::from_ndarray(ArrayD::from_elem(IxDyn(&[2]), 1i64));
    let mut got = HashMap::from([(0u64, two.clone())]);
    let e = super::merge(&m, &got).unwrap_err();
    assert!(matches!(e, Error::Cluster(_)), "{e}");
    assert!(e.to_string().contains("input 1"), "{e}");
    got.insert(1, three);
    assert!(
        super::merge(&m, &got)
            .unwrap_err()
            .to_string()
            .contains("[3]")
    );
    got.insert(1, ints);
    assert!(matches!(
        super::merge(&m, &got).unwrap_err(),
        Error::DType(_)
    ));
    got.insert(1, two);
    assert_eq!(
        super::merge(&m, &got)
            .unwrap()
            .to_ndarray::<f64>()
            .unwrap()
            .len(),
        4
    );
    // A region outside the input is an error, not a panic.
    let bad = Split::Regions(vec![RegionPiece {
        partition: 0,
        region: vec![1..5],
    }]);
    assert!(super::split(&bad, &got[&0]).is_err());
    #[allow(clippy::reversed_empty_ranges)]
    let reversed = Split::Regions(vec![RegionPiece {
        partition: 0,
        region: vec![2..1],
    }]);
    assert!(super::split(&reversed, &got[&0]).is_err());
}

#[test]
fn piece_headers_round_trip_and_hostile_paths_are_refused() {
    let h = PieceHeader {
        shuffle: "rechunk-abc".into(),
        attempt: 3,
        partition: 7,
        source: 11,
    };
    assert_eq!(PieceHeader::from_path(&h.to_path()).unwrap(), Some(h));
    assert_eq!(
        PieceHeader::from_path(&["some-key:0".to_string()]).unwrap(),
        None
    );
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    assert!(PieceHeader::from_path(&s(&[PIECE_PATH_TAG, "x", "1", "2"])).is_err());
    assert!(PieceHeader::from_path(&s(&[PIECE_PATH_TAG, "x", "1", "-2", "0"])).is_err());
    assert!(PieceHeader::from_path(&s(&[PIECE_PATH_TAG, "", "1", "2", "0"])).is_err());
    let long = "y".repeat(MAX_SHUFFLE_ID_BYTES + 1);
    assert!(PieceHeader::from_path(&s(&[PIECE_PATH_TAG, &long, "1", "2", "0"])).is_err());
}

#[test]
fn owners_are_spread_evenly_and_contiguously() {
    assert_eq!(
        spread_owners(10, &['a', 'b', 'c']),
        vec![(3, 'a'), (6, 'b'), (10, 'c')]
    );
    assert_eq!(spread_owners(2, &['a', 'b', 'c']), vec![(1, 'b'), (2, 'c')]);
    assert!(spread_owners::<char>(5, &[]).is_empty());
    assert!(spread_owners(0, &['a']).is_empty());
    let runs = spread_owners(10, &["w0".to_string(), "w1".to_string()]);
    let a = ShuffleAssignment {
        id: "s".into(),
        attempt: 1,
        owners: runs
            .into_iter()
            .map(|(end, address)| OwnerRange { end, address })
            .collect(),
    };
    assert_eq!(a.owner(0), Some("w0"));
    assert_eq!(a.owner(4), Some("w0"));
    assert_eq!(a.owner(5), Some("w1"));
    assert_eq!(a.owner(9), Some("w1"));
    assert_eq!(a.owner(10), None);
}

#[test]
fn markers_are_empty() {
    assert!(marker().is_empty());
    assert_eq!(marker().shape(), &[0]);
}
