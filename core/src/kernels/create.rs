//! Kernels that create chunks from nothing: `Full`, `Arange` and `Random`, the last one
//! deterministic per `(seed, stream)` on every machine (our own sampling, no library drift).

use super::dynarray::{DynElement, bool_full_chunk, checked_len, try_from_fn, try_full};
use crate::chunk::Chunk;
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::ops::RandomDist;
use crate::scalar::Scalar;
use ndarray::{ArrayD, IxDyn};
use rand_xoshiro::Xoshiro256PlusPlus;
use rand_xoshiro::rand_core::{RngCore, SeedableRng};

/// `Full`: a chunk of `shape` with every element `value` (the value's dtype is the chunk's).
pub(crate) fn full(shape: &[usize], value: Scalar) -> Result<Chunk> {
    Ok(match value {
        Scalar::Bool(b) => bool_full_chunk(shape, b)?,
        Scalar::I32(v) => Chunk::from_ndarray(try_full(shape, v)?),
        Scalar::I64(v) => Chunk::from_ndarray(try_full(shape, v)?),
        Scalar::F32(v) => Chunk::from_ndarray(try_full(shape, v)?),
        Scalar::F64(v) => Chunk::from_ndarray(try_full(shape, v)?),
    })
}

/// `Arange`: element `k` is `start + k * step` computed in `f64`, then cast like NumPy's
/// `astype` (ints truncate toward zero and saturate, NaN becomes 0, non-zero is `true`).
pub(crate) fn arange(start: f64, step: f64, len: usize, dtype: DType) -> Result<Chunk> {
    checked_len(&[len])?;
    fn make<T: DynElement>(start: f64, step: f64, len: usize) -> Result<Chunk> {
        let v = try_from_fn(len, |k| T::from_f64(start + k as f64 * step))?;
        from_vec(&[len], v)
    }
    match dtype {
        DType::Bool => make::<bool>(start, step, len),
        DType::I32 => make::<i32>(start, step, len),
        DType::I64 => make::<i64>(start, step, len),
        DType::F32 => make::<f32>(start, step, len),
        DType::F64 => make::<f64>(start, step, len),
    }
}

fn from_vec<T: DynElement>(shape: &[usize], v: Vec<T>) -> Result<Chunk> {
    let a = ArrayD::from_shape_vec(IxDyn(shape), v).map_err(|e| Error::shape(e.to_string()))?;
    Ok(T::wrap(a).into_chunk())
}

fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The generator of chunk `stream` of an array seeded with `seed`.
///
/// The 256-bit Xoshiro256++ state is two SplitMix64 outputs of `seed` followed by two of
/// `stream` (xored with a constant). SplitMix64's first output is a bijection of its
/// seed, so distinct `(seed, stream)` pairs always start from distinct states, and the
/// bit mixing makes neighbouring streams statistically unrelated.
pub fn stream_rng(seed: u64, stream: u64) -> Xoshiro256PlusPlus {
    let mut a = seed;
    let mut b = stream ^ 0x6A09_E667_F3BC_C909;
    let words = [
        splitmix64(&mut a),
        splitmix64(&mut a),
        splitmix64(&mut b),
        splitmix64(&mut b),
    ];
    let mut bytes = [0u8; 32];
    for (dst, w) in bytes.chunks_exact_mut(8).zip(words) {
        dst.copy_from_slice(&w.to_le_bytes());
    }
    Xoshiro256PlusPlus::from_seed(bytes)
}

/// A uniform `f64` in `[0, 1)` from the top 53 bits.
fn unit_f64(rng: &mut Xoshiro256PlusPlus) -> f64 {
    (rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// A uniform `f32` in `[0, 1)` from the top 24 bits.
fn unit_f32(rng: &mut Xoshiro256PlusPlus) -> f32 {
    (rng.next_u64() >> 40) as f32 * (1.0 / (1u32 << 24) as f32)
}

/// A uniform integer in `[0, range)` (`range > 0`), unbiased (Lemire's method).
fn bounded(rng: &mut Xoshiro256PlusPlus, range: u64) -> u64 {
    let mut m = rng.next_u64() as u128 * range as u128;
    if (m as u64) < range {
        let threshold = range.wrapping_neg() % range;
        while (m as u64) < threshold {
            m = rng.next_u64() as u128 * range as u128;
        }
    }
    (m >> 64) as u64
}

/// `Random`: values drawn from `dist` for chunk `stream` of an array seeded with `seed`.
///
/// `Uniform{low, high}` gives `float32` (drawn in `f32`) or `float64` in `[low, high)`
/// (bounds must be finite; `low > high` is allowed as in NumPy and gives `(high, low]`).
/// `Integers{low, high}` gives `int32` or `int64` in `[low, high)`, which must be non-empty
/// and, for `int32`, within its range.
pub(crate) fn random(
    seed: u64,
    stream: u64,
    shape: &[usize],
    dist: RandomDist,
    dtype: DType,
) -> Result<Chunk> {
    let n = checked_len(shape)?;
    let mut rng = stream_rng(seed, stream);
    match (dist, dtype) {
        (RandomDist::Uniform { low, high }, DType::F64) => {
            let span = high - low;
            if !span.is_finite() {
                return Err(bad_bounds(dist, dtype));
            }
            let below = high.next_down();
            let v = try_from_fn(n, |_| {
                let x = low + span * unit_f64(&mut rng);
                if span > 0.0 && x >= high { below } else { x }
            })?;
            from_vec(shape, v)
        }
        (RandomDist::Uniform { low, high }, DType::F32) => {
            let (low, high) = (low as f32, high as f32);
            let span = high - low;
            if !span.is_finite() {
                return Err(bad_bounds(dist, dtype));
            }
            let below = high.next_down();
            let v = try_from_fn(n, |_| {
                let x = low + span * unit_f32(&mut rng);
                if span > 0.0 && x >= high { below } else { x }
            })?;
            from_vec(shape, v)
        }
        (RandomDist::Integers { low, high }, DType::I64 | DType::I32) => {
            let fits =
                dtype == DType::I64 || (low >= i32::MIN as i64 && high <= i32::MAX as i64 + 1);
            if high <= low || !fits {
                return Err(bad_bounds(dist, dtype));
            }
            let range = (high as i128 - low as i128) as u64;
            let mut draw = move || low.wrapping_add(bounded(&mut rng, range) as i64);
            if dtype == DType::I64 {
                from_vec(shape, try_from_fn(n, |_| draw())?)
            } else {
                from_vec(shape, try_from_fn(n, |_| draw() as i32)?)
            }
        }
        (dist, dtype) => Err(Error::dtype(format!(
            "random: {dist:?} cannot produce {dtype} (uniform gives float32 or float64, \
             integers gives int32 or int64)"
        ))),
    }
}

fn bad_bounds(dist: RandomDist, dtype: DType) -> Error {
    Error::other(format!(
        "random: bounds of {dist:?} are not a usable range for {dtype}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_and_arange() {
        let f = full(&[2, 3], Scalar::I32(7)).unwrap();
        assert_eq!(
            f.to_ndarray::<i32>().unwrap(),
            ArrayD::from_elem(IxDyn(&[2, 3]), 7)
        );
        let b = full(&[5], Scalar::Bool(true)).unwrap();
        assert_eq!(
            b.to_ndarray::<bool>().unwrap(),
            ArrayD::from_elem(IxDyn(&[5]), true)
        );
        assert_eq!(
            full(&[], Scalar::F32(1.5))
                .unwrap()
                .to_ndarray::<f32>()
                .unwrap()[[]],
            1.5
        );
        let a = arange(1.0, 0.5, 4, DType::F64).unwrap();
        assert_eq!(
            a.to_ndarray::<f64>().unwrap().into_raw_vec_and_offset().0,
            vec![1.0, 1.5, 2.0, 2.5]
        );
        let a = arange(-1.5, 0.75, 5, DType::I32).unwrap();
        assert_eq!(
            a.to_ndarray::<i32>().unwrap().into_raw_vec_and_offset().0,
            vec![-1, 0, 0, 0, 1]
        );
        let a = arange(0.0, 1.0, 3, DType::Bool).unwrap();
        assert_eq!(
            a.to_ndarray::<bool>().unwrap().into_raw_vec_and_offset().0,
            vec![false, true, true]
        );
        assert_eq!(arange(0.0, 1.0, 0, DType::F32).unwrap().len(), 0);
    }

    #[test]
    fn hostile_sizes_err() {
        assert!(full(&[usize::MAX, usize::MAX], Scalar::F64(0.0)).is_err());
        assert!(full(&[1 << 41], Scalar::Bool(true)).is_err());
        assert!(full(&[0, usize::MAX, 3], Scalar::I64(0)).is_err());
        assert!(arange(0.0, 1.0, usize::MAX, DType::F64).is_err());
        let u = RandomDist::Uniform {
            low: 0.0,
            high: 1.0,
        };
        assert!(random(1, 2, &[1 << 40, 2], u, DType::F64).is_err());
    }

    #[test]
    fn random_is_deterministic_and_in_range() {
        let u = RandomDist::Uniform {
            low: -2.0,
            high: 3.0,
        };
        let a = random(42, 7, &[50, 40], u, DType::F64)
            .unwrap()
            .to_ndarray::<f64>()
            .unwrap();
        let b = random(42, 7, &[50, 40], u, DType::F64)
            .unwrap()
            .to_ndarray::<f64>()
            .unwrap();
        let c = random(42, 8, &[50, 40], u, DType::F64)
            .unwrap()
            .to_ndarray::<f64>()
            .unwrap();
        let d = random(43, 7, &[50, 40], u, DType::F64)
            .unwrap()
            .to_ndarray::<f64>()
            .unwrap();
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_ne!(a, d);
        assert!(a.iter().all(|&x| (-2.0..3.0).contains(&x)));
        let mean = a.mean().unwrap();
        assert!((mean - 0.5).abs() < 0.1, "mean {mean}");
        let f = random(1, 0, &[1000], u, DType::F32)
            .unwrap()
            .to_ndarray::<f32>()
            .unwrap();
        assert!(f.iter().all(|&x| (-2.0..3.0).contains(&x)));
        let ints = RandomDist::Integers { low: -3, high: 4 };
        for dtype in [DType::I32, DType::I64] {
            let x = random(5, 1, &[2000], ints, dtype).unwrap();
            let x = as_i64(&x);
            assert!(x.iter().all(|v| (-3..4).contains(v)));
            for v in -3..4 {
                assert!(x.contains(&v), "{v} never drawn");
            }
        }
        let wide = RandomDist::Integers {
            low: i64::MIN,
            high: i64::MAX,
        };
        assert_eq!(random(9, 9, &[10], wide, DType::I64).unwrap().len(), 10);
        let one = RandomDist::Integers { low: 5, high: 6 };
        let x = random(9, 9, &[10], one, DType::I32)
            .unwrap()
            .to_ndarray::<i32>()
            .unwrap();
        assert!(x.iter().all(|&v| v == 5));
    }

    fn as_i64(c: &Chunk) -> Vec<i64> {
        match c.dtype() {
            DType::I32 => c.view::<i32>().unwrap().iter().map(|&v| v as i64).collect(),
            _ => c.view::<i64>().unwrap().iter().copied().collect(),
        }
    }

    #[test]
    fn random_values_are_pinned() {
        // These exact values are part of the contract: a chunk computed on another
        // machine or by another version must be identical. Change them never.
        let u = RandomDist::Uniform {
            low: 0.0,
            high: 1.0,
        };
        let v = random(0, 0, &[3], u, DType::F64)
            .unwrap()
            .to_ndarray::<f64>()
            .unwrap();
        let got: Vec<u64> = v.iter().map(|x| x.to_bits()).collect();
        assert_eq!(got, PINNED_F64, "{v:?}");
        let i = random(
            123,
            4,
            &[4],
            RandomDist::Integers { low: 0, high: 1000 },
            DType::I64,
        )
        .unwrap();
        assert_eq!(
            i.to_ndarray::<i64>().unwrap().into_raw_vec_and_offset().0,
            PINNED_I64
        );
    }

    const PINNED_F64: [u64; 3] = [
        4599928625271291704,
        4606487381532860284,
        4604310307913112721,
    ];
    const PINNED_I64: [i64; 4] = [372, 722, 951, 277];

    #[test]
    fn random_refuses_wrong_dtypes_and_bounds() {
        let u = RandomDist::Uniform {
            low: 0.0,
            high: 1.0,
        };
        let i = RandomDist::Integers { low: 0, high: 10 };
        for d in [DType::Bool, DType::I32, DType::I64] {
            let e = random(0, 0, &[2], u, d).unwrap_err();
            assert!(e.to_string().contains(d.name()), "{e}");
        }
        for d in [DType::Bool, DType::F32, DType::F64] {
            assert!(random(0, 0, &[2], i, d).is_err());
        }
        assert!(
            random(
                0,
                0,
                &[2],
                RandomDist::Integers { low: 3, high: 3 },
                DType::I64
            )
            .is_err()
        );
        assert!(
            random(
                0,
                0,
                &[2],
                RandomDist::Integers {
                    low: 0,
                    high: 1 << 40
                },
                DType::I32
            )
            .is_err()
        );
        let inf = RandomDist::Uniform {
            low: 0.0,
            high: f64::INFINITY,
        };
        assert!(random(0, 0, &[2], inf, DType::F64).is_err());
        let huge = RandomDist::Uniform {
            low: -1e300,
            high: 1e300,
        };
        assert!(random(0, 0, &[2], huge, DType::F32).is_err());
        let nan = RandomDist::Uniform {
            low: f64::NAN,
            high: 1.0,
        };
        assert!(random(0, 0, &[2], nan, DType::F64).is_err());
    }
}
