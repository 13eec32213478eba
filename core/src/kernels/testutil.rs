//! Test helpers: a tiny seeded generator, random shapes and arrays with special values,
//! and arrays of `Scalar` as a dtype-neutral reference representation of chunks.

use crate::chunk::Chunk;
use crate::dtype::DType;
use crate::scalar::Scalar;
use ndarray::{ArrayD, IxDyn};

/// SplitMix64: enough randomness for test data, seeded from proptest.
pub(crate) struct Rng(pub(crate) u64);

impl Rng {
    pub(crate) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    pub(crate) fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
    pub(crate) fn chance(&mut self, p: f64) -> bool {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }
    pub(crate) fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    pub(crate) fn pick<T: Copy>(&mut self, xs: &[T]) -> T {
        xs[self.below(xs.len())]
    }
    pub(crate) fn dtype(&mut self) -> DType {
        self.pick(&DType::ALL)
    }
    /// A shape of up to `max_ndim` axes, each 0..=`max_dim`, favouring 1 and small sizes.
    pub(crate) fn shape(&mut self, max_ndim: usize, max_dim: usize) -> Vec<usize> {
        let ndim = self.below(max_ndim + 1);
        (0..ndim)
            .map(|_| match self.below(8) {
                0 => 0,
                1 | 2 => 1,
                _ => 1 + self.below(max_dim),
            })
            .collect()
    }
    /// A permutation of `0..n`.
    pub(crate) fn permutation(&mut self, n: usize) -> Vec<usize> {
        let mut p: Vec<usize> = (0..n).collect();
        for i in (1..n).rev() {
            let j = self.below(i + 1);
            p.swap(i, j);
        }
        p
    }
}

/// How wild the generated values are.
#[derive(Clone, Copy, PartialEq)]
pub(crate) enum Values {
    /// Anything: extremes, NaN, infinities, signed zeros.
    Wild,
    /// Moderate magnitudes around `offset` with occasional NaN/inf (for reductions).
    Moderate { offset: f64, specials: bool },
    /// Close to 1 (products that neither overflow nor vanish).
    NearOne,
}

/// One random value of `dtype`.
pub(crate) fn scalar(rng: &mut Rng, dtype: DType, how: Values) -> Scalar {
    let f = match how {
        Values::Wild => match rng.below(12) {
            0 => f64::NAN,
            1 => f64::INFINITY,
            2 => f64::NEG_INFINITY,
            3 => -0.0,
            4 => 0.0,
            5 => 1e300 * (rng.unit() - 0.5),
            6 => (rng.unit() - 0.5) * 1e-300,
            7 => i64::MAX as f64 * (rng.unit() - 0.5) * 2.0,
            _ => ((rng.unit() - 0.5) * 200.0).round() / 4.0,
        },
        Values::Moderate { offset, specials } => {
            if specials && rng.chance(0.01) {
                rng.pick(&[f64::NAN, f64::INFINITY, f64::NEG_INFINITY])
            } else {
                offset + (rng.unit() - 0.5) * 8.0
            }
        }
        Values::NearOne => 0.9 + 0.2 * rng.unit(),
    };
    match dtype {
        DType::Bool => Scalar::Bool(rng.chance(0.5)),
        DType::I32 => Scalar::I32(match how {
            Values::Wild if rng.chance(0.2) => rng.pick(&[i32::MIN, i32::MAX, -1, 0]),
            Values::NearOne => 1 + rng.below(3) as i32 - 1,
            _ if f.is_finite() => f as i32,
            _ => rng.below(100) as i32 - 50,
        }),
        DType::I64 => Scalar::I64(match how {
            Values::Wild if rng.chance(0.2) => rng.pick(&[i64::MIN, i64::MAX, -1, 0]),
            Values::NearOne => 1 + rng.below(3) as i64 - 1,
            _ if f.is_finite() => f as i64,
            _ => rng.below(100) as i64 - 50,
        }),
        DType::F32 => Scalar::F32(f as f32),
        DType::F64 => Scalar::F64(f),
    }
}

/// A random array of `dtype` and `shape` in the reference representation.
pub(crate) fn array(rng: &mut Rng, dtype: DType, shape: &[usize], how: Values) -> ArrayD<Scalar> {
    ArrayD::from_shape_simple_fn(IxDyn(shape), || scalar(rng, dtype, how))
}

/// The chunk holding `a` (every element must be of `dtype`).
pub(crate) fn to_chunk(a: &ArrayD<Scalar>, dtype: DType) -> Chunk {
    match dtype {
        DType::Bool => Chunk::from_ndarray(a.mapv(|s| s.as_bool())),
        DType::I32 => Chunk::from_ndarray(a.mapv(|s| s.as_i64() as i32)),
        DType::I64 => Chunk::from_ndarray(a.mapv(|s| s.as_i64())),
        DType::F32 => Chunk::from_ndarray(a.mapv(|s| s.as_f64() as f32)),
        DType::F64 => Chunk::from_ndarray(a.mapv(|s| s.as_f64())),
    }
}

/// A chunk in the reference representation.
pub(crate) fn from_chunk(c: &Chunk) -> ArrayD<Scalar> {
    match c.dtype() {
        DType::Bool => c.to_ndarray::<bool>().unwrap().mapv(Scalar::Bool),
        DType::I32 => c.to_ndarray::<i32>().unwrap().mapv(Scalar::I32),
        DType::I64 => c.to_ndarray::<i64>().unwrap().mapv(Scalar::I64),
        DType::F32 => c.to_ndarray::<f32>().unwrap().mapv(Scalar::F32),
        DType::F64 => c.to_ndarray::<f64>().unwrap().mapv(Scalar::F64),
    }
}

/// Equal values of equal dtype, NaN equal to NaN (bit patterns of NaN may differ).
pub(crate) fn same(a: Scalar, b: Scalar) -> bool {
    match (a, b) {
        (Scalar::F32(x), Scalar::F32(y)) => {
            x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan())
        }
        (Scalar::F64(x), Scalar::F64(y)) => {
            x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan())
        }
        _ => a == b,
    }
}

/// Assert two reference arrays are identical (shape, dtype and every value).
pub(crate) fn assert_same(got: &ArrayD<Scalar>, want: &ArrayD<Scalar>, what: &str) {
    assert_eq!(got.shape(), want.shape(), "{what}: shapes differ");
    for ((ix, g), w) in got.indexed_iter().zip(want.iter()) {
        assert!(same(*g, *w), "{what}: at {ix:?} got {g:?}, want {w:?}");
    }
}

/// Every reduction, with `ddof` for the variance-based ones.
pub fn all_reductions(ddof: u32) -> [crate::ops::Reduction; 17] {
    use crate::ops::Reduction;
    [
        Reduction::Sum,
        Reduction::Prod,
        Reduction::Min,
        Reduction::Max,
        Reduction::Mean,
        Reduction::Var { ddof },
        Reduction::Std { ddof },
        Reduction::Any,
        Reduction::All,
        Reduction::NanSum,
        Reduction::NanProd,
        Reduction::NanMin,
        Reduction::NanMax,
        Reduction::NanMean,
        Reduction::NanVar { ddof },
        Reduction::NanStd { ddof },
        Reduction::CountNonzero,
    ]
}
