//! `Ghost`: a block padded with ghost cells for stencils (`map_overlap`): real data from
//! the block and its neighbours, then boundary slabs mirrored or set to a constant.

use super::dynarray::{DynArray, DynElement};
use super::layout::assemble;
use crate::chunk::Chunk;
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::ops::{GhostEdge, GhostFill, Piece};
use crate::scalar::Scalar;
use ndarray::{ArrayD, Axis, Slice};

/// `Ghost`: assemble `pieces` into a chunk of `shape`, then fill each edge in order.
/// Edges are validated against the shape (a mirrored slab must fit inside the chunk).
pub(crate) fn ghost(
    shape: &[usize],
    dtype: DType,
    pieces: &[Piece],
    edges: &[GhostEdge],
    inputs: &[Chunk],
) -> Result<Chunk> {
    for (e, edge) in edges.iter().enumerate() {
        let len = *shape.get(edge.axis).ok_or_else(|| {
            Error::shape(format!(
                "ghost: edge {e} is on axis {} of a chunk of shape {shape:?}",
                edge.axis
            ))
        })?;
        let needed = match edge.fill {
            GhostFill::Reflect => edge.width.checked_mul(2),
            GhostFill::Constant(_) => Some(edge.width),
        };
        if needed.is_none_or(|n| n > len) {
            return Err(Error::shape(format!(
                "ghost: edge {e} ({:?} of width {} on axis {}) does not fit the chunk of shape {shape:?}",
                edge.fill, edge.width, edge.axis
            )));
        }
    }
    let assembled = assemble(shape, dtype, pieces, inputs)?;
    if edges.is_empty() {
        return Ok(assembled);
    }
    let filled = match DynArray::from_chunk(&assembled)? {
        DynArray::Bool(a) => fill_edges(a, edges),
        DynArray::I32(a) => fill_edges(a, edges),
        DynArray::I64(a) => fill_edges(a, edges),
        DynArray::F32(a) => fill_edges(a, edges),
        DynArray::F64(a) => fill_edges(a, edges),
    };
    Ok(filled.into_chunk())
}

/// Fill validated edges one after another over the full extent of the other axes, so a
/// corner gets the boundary rule of both of its axes (reflections commute).
fn fill_edges<T: DynElement + FromScalar>(mut a: ArrayD<T>, edges: &[GhostEdge]) -> DynArray {
    for edge in edges {
        let ax = Axis(edge.axis);
        let n = a.len_of(ax);
        let w = edge.width;
        match edge.fill {
            GhostFill::Constant(v) => {
                let range = if edge.high { n - w..n } else { 0..w };
                a.slice_axis_mut(ax, Slice::from(range))
                    .fill(T::from_scalar(v));
            }
            GhostFill::Reflect => {
                for i in 0..w {
                    let (dst, src) = if edge.high {
                        (n - w + i, n - w - 1 - i)
                    } else {
                        (i, 2 * w - 1 - i)
                    };
                    let src = a.index_axis(ax, src).to_owned();
                    a.index_axis_mut(ax, dst).assign(&src);
                }
            }
        }
    }
    T::wrap(a)
}

/// Conversion of a fill value into an element type (NumPy `astype` rules).
trait FromScalar {
    fn from_scalar(s: Scalar) -> Self;
}

macro_rules! from_scalar {
    ($t:ty, $v:ident) => {
        impl FromScalar for $t {
            fn from_scalar(s: Scalar) -> Self {
                match s.cast(DType::$v) {
                    Scalar::$v(x) => x,
                    _ => unreachable!("Scalar::cast returns the requested dtype"),
                }
            }
        }
    };
}
from_scalar!(bool, Bool);
from_scalar!(i32, I32);
from_scalar!(i64, I64);
from_scalar!(f32, F32);
from_scalar!(f64, F64);

#[cfg(test)]
#[allow(clippy::single_range_in_vec_init)]
mod tests {
    use super::*;
    use ndarray::array;

    fn piece(input: usize, source: &[std::ops::Range<usize>], offset: &[usize]) -> Piece {
        Piece {
            input,
            source: source.to_vec(),
            offset: offset.to_vec(),
        }
    }

    fn edge(axis: usize, high: bool, width: usize, fill: GhostFill) -> GhostEdge {
        GhostEdge {
            axis,
            high,
            width,
            fill,
        }
    }

    #[test]
    fn reflect_and_constant_match_numpy_pad() {
        let a = Chunk::from_ndarray(array![[1, 2, 3], [4, 5, 6]].into_dyn());
        // np.pad(a, ((2, 2), (1, 1)), mode="symmetric")
        let edges = [
            edge(0, false, 2, GhostFill::Reflect),
            edge(0, true, 2, GhostFill::Reflect),
            edge(1, false, 1, GhostFill::Reflect),
            edge(1, true, 1, GhostFill::Reflect),
        ];
        let out = ghost(
            &[6, 5],
            DType::I32,
            &[piece(0, &[0..2, 0..3], &[2, 1])],
            &edges,
            std::slice::from_ref(&a),
        )
        .unwrap();
        let want = array![
            [4, 4, 5, 6, 6],
            [1, 1, 2, 3, 3],
            [1, 1, 2, 3, 3],
            [4, 4, 5, 6, 6],
            [4, 4, 5, 6, 6],
            [1, 1, 2, 3, 3]
        ];
        assert_eq!(out.to_ndarray::<i32>().unwrap(), want.into_dyn());
        let edges = [
            edge(1, false, 1, GhostFill::Constant(Scalar::F64(-1.5))),
            edge(1, true, 1, GhostFill::Constant(Scalar::F64(-1.5))),
        ];
        let out = ghost(
            &[2, 5],
            DType::I32,
            &[piece(0, &[0..2, 0..3], &[0, 1])],
            &edges,
            std::slice::from_ref(&a),
        )
        .unwrap();
        assert_eq!(
            out.to_ndarray::<i32>().unwrap(),
            array![[-1, 1, 2, 3, -1], [-1, 4, 5, 6, -1]].into_dyn()
        );
        let b = Chunk::from_ndarray(array![true, false].into_dyn());
        let out = ghost(
            &[4],
            DType::Bool,
            &[piece(0, &[0..2], &[1])],
            &[
                edge(0, false, 1, GhostFill::Reflect),
                edge(0, true, 1, GhostFill::Constant(Scalar::Bool(true))),
            ],
            &[b],
        )
        .unwrap();
        assert_eq!(
            out.to_ndarray::<bool>().unwrap(),
            array![true, true, false, true].into_dyn()
        );
    }

    #[test]
    fn hostile_edges_err() {
        let a = Chunk::from_ndarray(array![1.0, 2.0].into_dyn());
        let ins = std::slice::from_ref(&a);
        let p = [piece(0, &[0..2], &[0])];
        for bad in [
            edge(1, false, 1, GhostFill::Reflect),
            edge(0, false, 2, GhostFill::Reflect),
            edge(0, true, usize::MAX, GhostFill::Reflect),
            edge(0, true, 3, GhostFill::Constant(Scalar::F64(0.0))),
        ] {
            assert!(
                ghost(&[2], DType::F64, &p, std::slice::from_ref(&bad), ins).is_err(),
                "{bad:?}"
            );
        }
        assert!(ghost(&[2], DType::F32, &p, &[], ins).is_err());
    }

    proptest::proptest! {
        /// Random (mostly invalid) pieces and edges off the wire: an error or a chunk of
        /// the asked shape, never a panic.
        #[test]
        fn random_ghost_ops_never_panic(seed in proptest::prelude::any::<u64>()) {
            let mut rng = crate::kernels::testutil::Rng(seed);
            let shape = rng.shape(3, 5);
            let dtype = rng.dtype();
            let input_shape = rng.shape(3, 5);
            let input = DynArray::zeros(dtype, &input_shape).unwrap().into_chunk();
            let range = |rng: &mut crate::kernels::testutil::Rng| {
                let a = rng.below(7);
                a..a + rng.below(4)
            };
            let pieces: Vec<Piece> = (0..rng.below(3))
                .map(|_| Piece {
                    input: rng.below(2),
                    source: (0..rng.below(4)).map(|_| range(&mut rng)).collect(),
                    offset: (0..rng.below(4)).map(|_| rng.below(6)).collect(),
                })
                .collect();
            let edges: Vec<GhostEdge> = (0..rng.below(4))
                .map(|_| GhostEdge {
                    axis: rng.below(4),
                    high: rng.chance(0.5),
                    width: if rng.chance(0.1) { usize::MAX } else { rng.below(6) },
                    fill: if rng.chance(0.5) {
                        GhostFill::Reflect
                    } else {
                        GhostFill::Constant(Scalar::F64(rng.unit()))
                    },
                })
                .collect();
            if let Ok(c) = ghost(&shape, dtype, &pieces, &edges, std::slice::from_ref(&input)) {
                proptest::prop_assert_eq!(c.shape(), &shape[..]);
                proptest::prop_assert_eq!(c.dtype(), dtype);
            }
        }
    }
}
