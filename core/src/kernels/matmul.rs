//! `Contract`: one block-pair partial product of a tensordot, as a single 2-d matrix
//! product (floats through `matrixmultiply` via ndarray, ints and bools by wrapping loops).

use super::dynarray::{DynArray, DynCow, DynElement, checked_len, try_full};
use crate::chunk::Chunk;
use crate::dtype::DType;
use crate::error::{Error, Result};
use ndarray::{Array2, ArrayView2, ArrayViewD, IxDyn, Order};

/// `Contract`: NumPy's `tensordot(a, b, (axes_a, axes_b))` of two chunks, both cast to
/// `dtype` first. Axes, lengths and sizes are validated; nothing panics on bad input.
pub(crate) fn contract(
    axes_a: &[usize],
    axes_b: &[usize],
    dtype: DType,
    a: &Chunk,
    b: &Chunk,
) -> Result<Chunk> {
    let (sa, sb) = (a.shape(), b.shape());
    check_axes("first", axes_a, sa)?;
    check_axes("second", axes_b, sb)?;
    if axes_a.len() != axes_b.len() {
        return Err(Error::shape(format!(
            "contract: {} axes {axes_a:?} of the first chunk are paired with {} axes {axes_b:?} of the second",
            axes_a.len(),
            axes_b.len()
        )));
    }
    for (&i, &j) in axes_a.iter().zip(axes_b) {
        if sa[i] != sb[j] {
            return Err(Error::shape(format!(
                "contract: axis {i} of the first chunk (shape {sa:?}) has length {} but axis {j} of the second (shape {sb:?}) has {}",
                sa[i], sb[j]
            )));
        }
    }
    let out_shape: Vec<usize> = free_axes(axes_a, sa.len())
        .map(|i| sa[i])
        .chain(free_axes(axes_b, sb.len()).map(|j| sb[j]))
        .collect();
    checked_len(&out_shape)?;
    let a = typed(a, dtype)?;
    let b = typed(b, dtype)?;
    let out = match (&a, &b) {
        (DynCow::Bool(x), DynCow::Bool(y)) => {
            bool::wrap(product(x.view(), y.view(), axes_a, axes_b)?)
        }
        (DynCow::I32(x), DynCow::I32(y)) => i32::wrap(product(x.view(), y.view(), axes_a, axes_b)?),
        (DynCow::I64(x), DynCow::I64(y)) => i64::wrap(product(x.view(), y.view(), axes_a, axes_b)?),
        (DynCow::F32(x), DynCow::F32(y)) => f32::wrap(product(x.view(), y.view(), axes_a, axes_b)?),
        (DynCow::F64(x), DynCow::F64(y)) => f64::wrap(product(x.view(), y.view(), axes_a, axes_b)?),
        _ => {
            return Err(Error::dtype(
                "contract: operands were not cast to one dtype",
            ));
        }
    };
    Ok(out.into_chunk())
}

/// Refuse axes out of range or repeated.
fn check_axes(which: &str, axes: &[usize], shape: &[usize]) -> Result<()> {
    let mut seen = vec![false; shape.len()];
    for &ax in axes {
        if ax >= shape.len() || std::mem::replace(&mut seen[ax], true) {
            return Err(Error::shape(format!(
                "contract: axes {axes:?} of the {which} chunk are out of range or repeated for its shape {shape:?}"
            )));
        }
    }
    Ok(())
}

fn free_axes(contracted: &[usize], ndim: usize) -> impl Iterator<Item = usize> + '_ {
    (0..ndim).filter(move |i| !contracted.contains(i))
}

/// View a chunk as `dtype`, casting (one copy) only when it holds another dtype.
fn typed(c: &Chunk, dtype: DType) -> Result<DynCow<'_>> {
    if c.dtype() == dtype {
        return DynCow::from_chunk(c);
    }
    Ok(match DynArray::from_chunk(c)?.cast(dtype) {
        DynArray::Bool(x) => DynCow::Bool(x.into()),
        DynArray::I32(x) => DynCow::I32(x.into()),
        DynArray::I64(x) => DynCow::I64(x.into()),
        DynArray::F32(x) => DynCow::F32(x.into()),
        DynArray::F64(x) => DynCow::F64(x.into()),
    })
}

/// Permute free axes to the front of `a` and the back of `b`, merge each side into a
/// matrix (a view when the layout allows, else one copy), multiply, reshape back.
fn product<T: Gemm>(
    a: ArrayViewD<'_, T>,
    b: ArrayViewD<'_, T>,
    axes_a: &[usize],
    axes_b: &[usize],
) -> Result<ndarray::ArrayD<T>> {
    let free_a: Vec<usize> = free_axes(axes_a, a.ndim()).collect();
    let free_b: Vec<usize> = free_axes(axes_b, b.ndim()).collect();
    let len = |shape: &[usize], axes: &[usize]| axes.iter().map(|&i| shape[i]).product::<usize>();
    let (m, k, n) = (
        len(a.shape(), &free_a),
        len(a.shape(), axes_a),
        len(b.shape(), &free_b),
    );
    let out_shape: Vec<usize> = free_a
        .iter()
        .map(|&i| a.shape()[i])
        .chain(free_b.iter().map(|&j| b.shape()[j]))
        .collect();
    let perm_a: Vec<usize> = free_a.iter().chain(axes_a).copied().collect();
    let perm_b: Vec<usize> = axes_b.iter().chain(&free_b).copied().collect();
    let reshape_err = |e: ndarray::ShapeError| Error::shape(format!("contract: {e}"));
    let (a, b) = (a.permuted_axes(perm_a), b.permuted_axes(perm_b));
    let a2 = a.to_shape(((m, k), Order::RowMajor)).map_err(reshape_err)?;
    let b2 = b.to_shape(((k, n), Order::RowMajor)).map_err(reshape_err)?;
    let mut c: Array2<T> = try_full(&[m, n], T::default())?
        .into_dimensionality()
        .map_err(reshape_err)?;
    T::gemm(a2.view(), b2.view(), &mut c);
    c.into_shape_with_order(IxDyn(&out_shape))
        .map_err(reshape_err)
}

/// `c = a @ b` for a zero-filled `c` of the right shape.
trait Gemm: DynElement {
    fn gemm(a: ArrayView2<'_, Self>, b: ArrayView2<'_, Self>, c: &mut Array2<Self>);
}

macro_rules! float_gemm {
    ($t:ty) => {
        impl Gemm for $t {
            /// ndarray's `general_mat_mul`, which runs `matrixmultiply`'s blocked, SIMD
            /// kernels on any strides (no copy of transposed views).
            fn gemm(a: ArrayView2<'_, Self>, b: ArrayView2<'_, Self>, c: &mut Array2<Self>) {
                ndarray::linalg::general_mat_mul(1.0, &a, &b, 0.0, c);
            }
        }
    };
}
float_gemm!(f32);
float_gemm!(f64);

/// Row-major `i-k-j` loop over standard-layout operands: the inner loop streams a row
/// of `b` into a row of `c` and vectorizes. `$mul`/`$add` wrap like NumPy's ints.
macro_rules! loop_gemm {
    ($t:ty, $zero:expr, $mul:expr, $add:expr) => {
        impl Gemm for $t {
            fn gemm(a: ArrayView2<'_, Self>, b: ArrayView2<'_, Self>, c: &mut Array2<Self>) {
                let (a, b) = (a.as_standard_layout(), b.as_standard_layout());
                let n = b.ncols();
                let (Some(a), Some(b), Some(c)) = (a.as_slice(), b.as_slice(), c.as_slice_mut())
                else {
                    unreachable!("standard-layout arrays are contiguous");
                };
                if n == 0 {
                    return;
                }
                let k = b.len() / n;
                for (a_row, c_row) in a.chunks_exact(k.max(1)).zip(c.chunks_exact_mut(n)) {
                    for (&x, b_row) in a_row.iter().zip(b.chunks_exact(n)) {
                        if x == $zero {
                            continue;
                        }
                        for (z, &y) in c_row.iter_mut().zip(b_row) {
                            *z = $add(*z, $mul(x, y));
                        }
                    }
                }
            }
        }
    };
}
loop_gemm!(i32, 0, i32::wrapping_mul, i32::wrapping_add);
loop_gemm!(i64, 0, i64::wrapping_mul, i64::wrapping_add);
loop_gemm!(bool, false, |x: bool, y: bool| x & y, |z: bool, p: bool| z
    | p);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::testutil::Rng;
    use ndarray::{ArrayD, array};
    use proptest::prelude::*;

    /// Direct definition of tensordot by nested loops over f64 values.
    fn reference(
        a: &ArrayD<f64>,
        b: &ArrayD<f64>,
        axes_a: &[usize],
        axes_b: &[usize],
    ) -> ArrayD<f64> {
        let free_a: Vec<usize> = free_axes(axes_a, a.ndim()).collect();
        let free_b: Vec<usize> = free_axes(axes_b, b.ndim()).collect();
        let out_shape: Vec<usize> = free_a
            .iter()
            .map(|&i| a.shape()[i])
            .chain(free_b.iter().map(|&j| b.shape()[j]))
            .collect();
        let k_shape: Vec<usize> = axes_a.iter().map(|&i| a.shape()[i]).collect();
        ArrayD::from_shape_fn(IxDyn(&out_shape), |ix| {
            let mut total = 0.0;
            for kx in ndarray::indices(IxDyn(&k_shape)) {
                let mut ia = vec![0; a.ndim()];
                let mut ib = vec![0; b.ndim()];
                for (p, &f) in free_a.iter().enumerate() {
                    ia[f] = ix[p];
                }
                for (p, &f) in free_b.iter().enumerate() {
                    ib[f] = ix[free_a.len() + p];
                }
                for (p, (&i, &j)) in axes_a.iter().zip(axes_b).enumerate() {
                    ia[i] = kx[p];
                    ib[j] = kx[p];
                }
                total += a[IxDyn(&ia)] * b[IxDyn(&ib)];
            }
            total
        })
    }

    fn random_case(rng: &mut Rng) -> (Vec<usize>, Vec<usize>, Vec<usize>, Vec<usize>) {
        let ncontract = rng.below(3);
        let k: Vec<usize> = (0..ncontract).map(|_| rng.below(5)).collect();
        let fa: Vec<usize> = (0..rng.below(3)).map(|_| rng.below(5)).collect();
        let fb: Vec<usize> = (0..rng.below(3)).map(|_| rng.below(5)).collect();
        // Scatter the contracted axes among the free ones, in random order.
        let place = |rng: &mut Rng, free: &[usize]| {
            let ndim = free.len() + ncontract;
            let perm = rng.permutation(ndim);
            let mut shape = vec![0; ndim];
            let mut axes = vec![0; ncontract];
            for (pos, &p) in perm.iter().enumerate() {
                if p < ncontract {
                    axes[p] = pos;
                    shape[pos] = k[p];
                } else {
                    shape[pos] = free[p - ncontract];
                }
            }
            (shape, axes)
        };
        let (sa, aa) = place(rng, &fa);
        let (sb, ab) = place(rng, &fb);
        (sa, aa, sb, ab)
    }

    fn values(rng: &mut Rng, shape: &[usize]) -> ArrayD<f64> {
        ArrayD::from_shape_fn(IxDyn(shape), |_| (rng.below(11) as f64) - 5.0)
    }

    proptest! {
        #[test]
        fn contract_matches_the_definition_for_every_dtype(seed in any::<u64>()) {
            let mut rng = Rng(seed);
            let (sa, aa, sb, ab) = random_case(&mut rng);
            let (x, y) = (values(&mut rng, &sa), values(&mut rng, &sb));
            let dtype = rng.dtype();
            let cast = |v: &ArrayD<f64>| DynArray::F64(v.clone()).cast(dtype).into_chunk();
            let got = contract(&aa, &ab, dtype, &cast(&x), &cast(&y)).unwrap();
            let as_f64 = DynArray::from_chunk(&got).unwrap().cast(DType::F64);
            let DynArray::F64(got) = as_f64 else { unreachable!() };
            // The reference in the same dtype: small ints are exact in every numeric dtype;
            // bools are "any pair both true".
            let (xr, yr) = match dtype {
                DType::Bool => (x.mapv(|v| (v != 0.0) as u8 as f64), y.mapv(|v| (v != 0.0) as u8 as f64)),
                _ => (x.clone(), y.clone()),
            };
            let mut want = reference(&xr, &yr, &aa, &ab);
            if dtype == DType::Bool {
                want.mapv_inplace(|v| (v != 0.0) as u8 as f64);
            }
            prop_assert_eq!(got, want, "{:?}{:?} . {:?}{:?} as {}", sa, aa, sb, ab, dtype);
        }

        #[test]
        fn mixed_dtypes_are_cast_first(seed in any::<u64>()) {
            let mut rng = Rng(seed);
            let (sa, aa, sb, ab) = random_case(&mut rng);
            let (x, y) = (values(&mut rng, &sa), values(&mut rng, &sb));
            let a = DynArray::F64(x.clone()).cast(rng.dtype()).into_chunk();
            let b = DynArray::F64(y.clone()).cast(DType::I32).into_chunk();
            let got = contract(&aa, &ab, DType::F64, &a, &b).unwrap();
            let xr = DynArray::from_chunk(&a).unwrap().cast(DType::F64);
            let DynArray::F64(xr) = xr else { unreachable!() };
            prop_assert_eq!(got.to_ndarray::<f64>().unwrap(), reference(&xr, &y, &aa, &ab));
        }
    }

    proptest! {
        /// Random axes and shapes off the wire: an error or a correct-shape chunk, no panic.
        #[test]
        fn random_contract_ops_never_panic(seed in any::<u64>()) {
            let mut rng = Rng(seed);
            let (sa, sb) = (rng.shape(3, 4), rng.shape(3, 4));
            let a = DynArray::zeros(rng.dtype(), &sa).unwrap().into_chunk();
            let b = DynArray::zeros(rng.dtype(), &sb).unwrap().into_chunk();
            let axes_a: Vec<usize> = (0..rng.below(3)).map(|_| rng.below(4)).collect();
            let axes_b: Vec<usize> = (0..rng.below(3)).map(|_| rng.below(4)).collect();
            let dtype = rng.dtype();
            if let Ok(c) = contract(&axes_a, &axes_b, dtype, &a, &b) {
                prop_assert_eq!(c.dtype(), dtype);
                prop_assert_eq!(c.shape().len(), sa.len() + sb.len() - 2 * axes_a.len());
            }
        }
    }

    #[test]
    fn floats_keep_nan_and_inf_and_ints_wrap() {
        let a = Chunk::from_ndarray(array![[1.0, f64::NAN], [f64::INFINITY, 1.0]].into_dyn());
        let b = Chunk::from_ndarray(array![[1.0, 0.0], [0.0, 1.0]].into_dyn());
        let c = contract(&[1], &[0], DType::F64, &a, &b)
            .unwrap()
            .to_ndarray::<f64>()
            .unwrap();
        assert!(c[[0, 0]].is_nan() && c[[0, 1]].is_nan() && c[[1, 0]].is_infinite());
        let big = Chunk::from_ndarray(array![[i32::MAX, i32::MAX]].into_dyn());
        let two = Chunk::from_ndarray(array![[2], [1]].into_dyn());
        let c = contract(&[1], &[0], DType::I32, &big, &two).unwrap();
        let want = i32::MAX.wrapping_mul(2).wrapping_add(i32::MAX);
        assert_eq!(c.to_ndarray::<i32>().unwrap(), array![[want]].into_dyn());
        // An empty contracted axis gives zeros; a 0-d result from two vectors.
        let e = Chunk::from_ndarray(ArrayD::<f32>::zeros(IxDyn(&[3, 0])));
        let f = Chunk::from_ndarray(ArrayD::<f32>::zeros(IxDyn(&[0, 2])));
        let z = contract(&[1], &[0], DType::F32, &e, &f).unwrap();
        assert_eq!(
            z.to_ndarray::<f32>().unwrap(),
            ArrayD::<f32>::zeros(IxDyn(&[3, 2]))
        );
        let v = Chunk::from_ndarray(array![1i64, 2, 3].into_dyn());
        let s = contract(&[0], &[0], DType::I64, &v, &v).unwrap();
        assert_eq!(s.shape(), &[] as &[usize]);
        assert_eq!(s.to_ndarray::<i64>().unwrap().into_iter().next(), Some(14));
    }

    #[test]
    fn bad_contractions_err() {
        let a = Chunk::from_ndarray(ArrayD::<f64>::zeros(IxDyn(&[2, 3])));
        let b = Chunk::from_ndarray(ArrayD::<f64>::zeros(IxDyn(&[4, 2])));
        let e = contract(&[1], &[0], DType::F64, &a, &b)
            .unwrap_err()
            .to_string();
        assert!(e.contains("[2, 3]") && e.contains("[4, 2]"), "{e}");
        assert!(contract(&[2], &[0], DType::F64, &a, &b).is_err());
        assert!(contract(&[0, 0], &[1, 1], DType::F64, &a, &b).is_err());
        assert!(contract(&[0], &[], DType::F64, &a, &b).is_err());
        let huge = Chunk::from_ndarray(ArrayD::<f64>::zeros(IxDyn(&[1 << 20, 0])));
        let huge_b = Chunk::from_ndarray(ArrayD::<f64>::zeros(IxDyn(&[0, 1 << 21])));
        assert!(contract(&[1], &[0], DType::F64, &huge, &huge_b).is_err());
    }
}
