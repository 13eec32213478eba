//! The element types a chunked array can hold and NumPy's rules for combining them.
//! The expression builder and the kernels both follow these rules, so they live here once.

use crate::error::{Error, Result};
use arrow_schema::DataType;
use serde::{Deserialize, Serialize};

/// Element type of an array.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum DType {
    /// `bool`, stored as an Arrow boolean (bit-packed) array.
    Bool,
    /// `i32`.
    I32,
    /// `i64`.
    I64,
    /// `f32`.
    F32,
    /// `f64`.
    F64,
}

impl DType {
    /// All supported dtypes.
    pub const ALL: [DType; 5] = [DType::Bool, DType::I32, DType::I64, DType::F32, DType::F64];

    /// NumPy's name for the dtype.
    pub fn name(self) -> &'static str {
        match self {
            DType::Bool => "bool",
            DType::I32 => "int32",
            DType::I64 => "int64",
            DType::F32 => "float32",
            DType::F64 => "float64",
        }
    }

    /// Parse NumPy's name (`float64`, `f8`, `int32`, ...).
    pub fn from_name(name: &str) -> Result<DType> {
        Ok(match name {
            "bool" | "?" | "b1" => DType::Bool,
            "int32" | "i4" => DType::I32,
            "int64" | "i8" | "int" => DType::I64,
            "float32" | "f4" => DType::F32,
            "float64" | "f8" | "float" => DType::F64,
            other => return Err(Error::dtype(format!("unsupported dtype {other:?}"))),
        })
    }

    /// Bytes per element (bool counts one byte, as in NumPy).
    pub fn itemsize(self) -> usize {
        match self {
            DType::Bool => 1,
            DType::I32 | DType::F32 => 4,
            DType::I64 | DType::F64 => 8,
        }
    }

    /// The Arrow type that stores this dtype.
    pub fn arrow(self) -> DataType {
        match self {
            DType::Bool => DataType::Boolean,
            DType::I32 => DataType::Int32,
            DType::I64 => DataType::Int64,
            DType::F32 => DataType::Float32,
            DType::F64 => DataType::Float64,
        }
    }

    /// The dtype stored by an Arrow type, if it is one of ours.
    pub fn from_arrow(dt: &DataType) -> Result<DType> {
        Ok(match dt {
            DataType::Boolean => DType::Bool,
            DataType::Int32 => DType::I32,
            DataType::Int64 => DType::I64,
            DataType::Float32 => DType::F32,
            DataType::Float64 => DType::F64,
            other => {
                return Err(Error::dtype(format!(
                    "arrow type {other} is not an array dtype"
                )));
            }
        })
    }

    /// Whether this is a floating-point dtype.
    pub fn is_float(self) -> bool {
        matches!(self, DType::F32 | DType::F64)
    }

    /// Whether this is an integer dtype.
    pub fn is_int(self) -> bool {
        matches!(self, DType::I32 | DType::I64)
    }

    /// NumPy's `result_type` for two arrays: the smallest dtype both cast to safely
    /// (`int32 + float32 -> float64`, `int64 + float32 -> float64`, `bool + int32 -> int32`).
    pub fn promote(a: DType, b: DType) -> DType {
        use DType::*;
        if a == b {
            return a;
        }
        match (a.min(b), a.max(b)) {
            (Bool, x) => x,
            (I32, I64) => I64,
            (I32 | I64, F32) => F64,
            (_, F64) => F64,
            (lo, hi) => unreachable!("promotion of {lo:?} and {hi:?} is covered above"),
        }
    }

    /// The dtype a floating result has for this input (`sqrt`, `exp`, true division):
    /// `float32` stays, everything else becomes `float64`.
    pub fn float_result(self) -> DType {
        if self == DType::F32 {
            DType::F32
        } else {
            DType::F64
        }
    }

    /// The accumulator dtype of `sum`/`prod`: `bool` and ints widen to `int64`.
    pub fn sum_result(self) -> DType {
        match self {
            DType::Bool | DType::I32 | DType::I64 => DType::I64,
            f => f,
        }
    }
}

impl std::fmt::Display for DType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A Rust element type that an array can hold (`f64`, `f32`, `i64`, `i32`, `bool`).
pub trait Element:
    Copy + Send + Sync + 'static + std::fmt::Debug + PartialEq + PartialOrd + Default
{
    /// The dtype of this element type.
    const DTYPE: DType;
    /// Wrap a value as a typed scalar.
    fn to_scalar(self) -> crate::Scalar;
}

macro_rules! element {
    ($t:ty, $d:ident) => {
        impl Element for $t {
            const DTYPE: DType = DType::$d;
            fn to_scalar(self) -> crate::Scalar {
                crate::Scalar::$d(self)
            }
        }
    };
}
element!(bool, Bool);
element!(i32, I32);
element!(i64, I64);
element!(f32, F32);
element!(f64, F64);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn promotion_follows_numpy() {
        use DType::*;
        assert_eq!(DType::promote(I32, F32), F64);
        assert_eq!(DType::promote(I64, F32), F64);
        assert_eq!(DType::promote(F32, F32), F32);
        assert_eq!(DType::promote(Bool, I32), I32);
        assert_eq!(DType::promote(I32, I64), I64);
        assert_eq!(DType::promote(F32, F64), F64);
        assert_eq!(DType::promote(Bool, F32), F32);
        for a in DType::ALL {
            for b in DType::ALL {
                assert_eq!(DType::promote(a, b), DType::promote(b, a));
            }
        }
    }
}
