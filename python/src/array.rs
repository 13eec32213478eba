//! `tessera._core.Array`: the Rust lazy array behind `tessera.array.Array`, with the
//! operations the Python layer maps dask.array's names and signatures onto.

use crate::buffer::{parse_dtype, with_view};
use crate::errors::IntoPyResult;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyFloat, PyInt, PyTuple};
use tessera::array::{self, Idx, Operand};
use tessera::{Array, DType, Scalar};
use tessera_core::ops::{BinaryOp, Reduction, ScanKind, UnaryOp};

/// A lazy chunked array (the Rust expression; `tessera.array.Array` wraps it).
#[pyclass(module = "tessera._core", name = "Array", frozen, from_py_object)]
#[derive(Clone)]
pub struct PyArray {
    /// The expression; always valid (build errors are raised when it is made).
    pub inner: Array,
}

impl PyArray {
    /// Wrap an array, raising its build error now.
    pub fn checked(a: Array) -> PyResult<PyArray> {
        a.check().py()?;
        Ok(PyArray { inner: a })
    }
}

/// A Python number or NumPy scalar as a Tessera scalar. Python `int`/`float` are weak
/// (NEP 50); NumPy scalars are typed by their dtype.
fn scalar(v: &Bound<'_, PyAny>) -> PyResult<Option<Scalar>> {
    if v.is_instance_of::<PyBool>() {
        return Ok(Some(Scalar::Bool(v.extract()?)));
    }
    if v.is_exact_instance_of::<PyInt>() {
        let i: i64 = v
            .extract()
            .map_err(|_| PyValueError::new_err(format!("integer {v} does not fit in int64")))?;
        return Ok(Some(Scalar::I64(i)));
    }
    if v.is_exact_instance_of::<PyFloat>() {
        return Ok(Some(Scalar::F64(v.extract()?)));
    }
    // NumPy scalars (np.float32(2), np.int64(3), np.bool_(True)) carry a dtype.
    if let Ok(dtype) = v.getattr("dtype")
        && let Ok(name) = dtype.str()
        && v.hasattr("item")?
        && v.getattr("ndim").and_then(|n| n.extract::<usize>()).ok() == Some(0)
    {
        let name = name.to_string();
        let item = v.call_method0("item")?;
        return Ok(Some(match parse_dtype(&name)? {
            DType::Bool => Scalar::Bool(item.extract()?),
            DType::I32 => Scalar::I32(item.extract()?),
            DType::I64 => Scalar::I64(item.extract()?),
            DType::F32 => Scalar::F32(item.extract()?),
            DType::F64 => Scalar::F64(item.extract()?),
        }));
    }
    if v.is_instance_of::<PyInt>() {
        return Ok(Some(Scalar::I64(v.extract()?)));
    }
    if v.is_instance_of::<PyFloat>() {
        return Ok(Some(Scalar::F64(v.extract()?)));
    }
    Ok(None)
}

fn binary_op(name: &str) -> PyResult<BinaryOp> {
    Ok(match name {
        "add" => BinaryOp::Add,
        "subtract" => BinaryOp::Sub,
        "multiply" => BinaryOp::Mul,
        "true_divide" | "divide" => BinaryOp::Div,
        "equal" => BinaryOp::Eq,
        "not_equal" => BinaryOp::Ne,
        "less" => BinaryOp::Lt,
        "less_equal" => BinaryOp::Le,
        "greater" => BinaryOp::Gt,
        "greater_equal" => BinaryOp::Ge,
        "power" => BinaryOp::Pow,
        "maximum" => BinaryOp::Maximum,
        "minimum" => BinaryOp::Minimum,
        "fmax" => BinaryOp::Fmax,
        "fmin" => BinaryOp::Fmin,
        "remainder" | "mod" => BinaryOp::Rem,
        "floor_divide" => BinaryOp::FloorDiv,
        "arctan2" => BinaryOp::Arctan2,
        "hypot" => BinaryOp::Hypot,
        "bitwise_and" => BinaryOp::BitAnd,
        "bitwise_or" => BinaryOp::BitOr,
        "bitwise_xor" => BinaryOp::BitXor,
        other => {
            return Err(PyTypeError::new_err(format!(
                "unknown binary operation {other}"
            )));
        }
    })
}

fn unary_op(name: &str, decimals: i32) -> PyResult<UnaryOp> {
    Ok(match name {
        "negative" => UnaryOp::Neg,
        "absolute" | "abs" => UnaryOp::Abs,
        "sqrt" => UnaryOp::Sqrt,
        "exp" => UnaryOp::Exp,
        "log" => UnaryOp::Log,
        "logical_not" => UnaryOp::Not,
        "sin" => UnaryOp::Sin,
        "cos" => UnaryOp::Cos,
        "tan" => UnaryOp::Tan,
        "arcsin" => UnaryOp::Arcsin,
        "arccos" => UnaryOp::Arccos,
        "arctan" => UnaryOp::Arctan,
        "sinh" => UnaryOp::Sinh,
        "cosh" => UnaryOp::Cosh,
        "tanh" => UnaryOp::Tanh,
        "floor" => UnaryOp::Floor,
        "ceil" => UnaryOp::Ceil,
        "trunc" => UnaryOp::Trunc,
        "round" => UnaryOp::Round(decimals),
        "sign" => UnaryOp::Sign,
        "exp2" => UnaryOp::Exp2,
        "log2" => UnaryOp::Log2,
        "log10" => UnaryOp::Log10,
        "log1p" => UnaryOp::Log1p,
        "expm1" => UnaryOp::Expm1,
        "square" => UnaryOp::Square,
        "reciprocal" => UnaryOp::Reciprocal,
        "isnan" => UnaryOp::IsNan,
        "isinf" => UnaryOp::IsInf,
        "isfinite" => UnaryOp::IsFinite,
        "invert" => UnaryOp::Invert,
        other => return Err(PyTypeError::new_err(format!("unknown ufunc {other}"))),
    })
}

fn reduction(name: &str, ddof: u32) -> PyResult<Reduction> {
    Ok(match name {
        "sum" => Reduction::Sum,
        "prod" => Reduction::Prod,
        "min" => Reduction::Min,
        "max" => Reduction::Max,
        "mean" => Reduction::Mean,
        "var" => Reduction::Var { ddof },
        "std" => Reduction::Std { ddof },
        "any" => Reduction::Any,
        "all" => Reduction::All,
        "nansum" => Reduction::NanSum,
        "nanprod" => Reduction::NanProd,
        "nanmin" => Reduction::NanMin,
        "nanmax" => Reduction::NanMax,
        "nanmean" => Reduction::NanMean,
        "nanvar" => Reduction::NanVar { ddof },
        "nanstd" => Reduction::NanStd { ddof },
        "count_nonzero" => Reduction::CountNonzero,
        other => return Err(PyTypeError::new_err(format!("unknown reduction {other}"))),
    })
}

/// One normalized index item from Python: `("slice", start, stop, step)`, `("int", i)`,
/// `("newaxis",)` or `("ellipsis",)`.
fn index_item(item: &Bound<'_, PyTuple>) -> PyResult<Idx> {
    let kind: String = item.get_item(0)?.extract()?;
    Ok(match kind.as_str() {
        "slice" => {
            let step: isize = item.get_item(3)?.extract()?;
            if step == 0 {
                return Err(PyValueError::new_err("slice step cannot be zero"));
            }
            Idx::range(
                item.get_item(1)?.extract()?,
                item.get_item(2)?.extract()?,
                step,
            )
        }
        "int" => Idx::at(item.get_item(1)?.extract()?),
        "newaxis" => Idx::newaxis(),
        "ellipsis" => Idx::ellipsis(),
        other => return Err(PyTypeError::new_err(format!("unknown index item {other}"))),
    })
}

#[pymethods]
impl PyArray {
    /// The expression's name (`group-token`); equal expressions have equal names.
    #[getter]
    fn name(&self) -> PyResult<String> {
        Ok(self.inner.name().py()?.to_string())
    }

    /// Shape.
    #[getter]
    fn shape(&self) -> PyResult<Vec<usize>> {
        Ok(self.inner.shape().py()?.to_vec())
    }

    /// NumPy dtype name.
    #[getter]
    fn dtype(&self) -> PyResult<&'static str> {
        Ok(self.inner.dtype().py()?.name())
    }

    /// Chunk lengths per axis.
    #[getter]
    fn chunks(&self) -> PyResult<Vec<Vec<usize>>> {
        Ok(self.inner.chunks().py()?.clone())
    }

    /// Tasks in the graph as written, and as submitted after fusion and culling.
    fn graph_stats(&self) -> PyResult<(usize, usize)> {
        let s = self.inner.graph_stats().py()?;
        Ok((s.tasks_before, s.tasks_after))
    }

    /// `self <op> other` (or `other <op> self` when `reflected`); other is an array or a
    /// scalar.
    #[pyo3(signature = (op, other, reflected = false))]
    fn binary(&self, op: &str, other: &Bound<'_, PyAny>, reflected: bool) -> PyResult<PyArray> {
        let op = binary_op(op)?;
        if let Ok(rhs) = other.cast::<PyArray>() {
            let rhs = rhs.get();
            let out = if reflected {
                rhs.inner.try_binary(op, &self.inner)
            } else {
                self.inner.try_binary(op, &rhs.inner)
            };
            return PyArray::checked(out.py()?);
        }
        let Some(s) = scalar(other)? else {
            return Err(PyTypeError::new_err(format!(
                "unsupported operand type for a tessera array: {}",
                other.get_type().name()?
            )));
        };
        let out = if reflected {
            self.inner.try_binary_reflected(op, s)
        } else {
            self.inner.try_binary(op, Operand::Scalar(s))
        };
        PyArray::checked(out.py()?)
    }

    /// An elementwise unary function by NumPy name (`decimals` is for `round`).
    #[pyo3(signature = (op, decimals = 0))]
    fn unary(&self, op: &str, decimals: i32) -> PyResult<PyArray> {
        PyArray::checked(self.inner.try_ufunc(unary_op(op, decimals)?).py()?)
    }

    /// Cast to a dtype by NumPy name.
    fn astype(&self, dtype: &str) -> PyResult<PyArray> {
        PyArray::checked(self.inner.astype(parse_dtype(dtype)?))
    }

    /// Permute the axes.
    fn transpose(&self, axes: Vec<usize>) -> PyResult<PyArray> {
        PyArray::checked(self.inner.try_transpose(&axes).py()?)
    }

    /// A reduction by name over `axes` (all axes when None); removes the reduced axes.
    #[pyo3(signature = (name, axes = None, ddof = 0))]
    fn reduce(&self, name: &str, axes: Option<Vec<usize>>, ddof: u32) -> PyResult<PyArray> {
        let r = reduction(name, ddof)?;
        PyArray::checked(self.inner.try_reduce(r, axes.as_deref()).py()?)
    }

    /// `argmax` (`max`) or `argmin` over one axis or the flattened array.
    #[pyo3(signature = (max, axis = None))]
    fn argreduce(&self, max: bool, axis: Option<usize>) -> PyResult<PyArray> {
        PyArray::checked(self.inner.try_argreduce(max, axis).py()?)
    }

    /// Running `sum`/`prod`/`nansum`/`nanprod` along `axis`.
    fn scan(&self, kind: &str, axis: usize) -> PyResult<PyArray> {
        let kind = match kind {
            "sum" => ScanKind::Sum,
            "prod" => ScanKind::Prod,
            "nansum" => ScanKind::NanSum,
            "nanprod" => ScanKind::NanProd,
            other => return Err(PyTypeError::new_err(format!("unknown scan {other}"))),
        };
        PyArray::checked(self.inner.try_scan(kind, axis).py()?)
    }

    /// Basic NumPy indexing with normalized items (see `tessera.array._index`).
    fn index(&self, items: Vec<Bound<'_, PyTuple>>) -> PyResult<PyArray> {
        let idx = items.iter().map(index_item).collect::<PyResult<Vec<_>>>()?;
        PyArray::checked(self.inner.try_index(&idx).py()?)
    }

    /// Integer-array indexing along one axis.
    fn take(&self, indices: Vec<i64>, axis: usize) -> PyResult<PyArray> {
        PyArray::checked(self.inner.try_take(&indices, axis).py()?)
    }

    /// Boolean-mask indexing along one axis.
    fn mask_axis(&self, axis: usize, mask: Vec<bool>) -> PyResult<PyArray> {
        PyArray::checked(self.inner.try_mask_axis(axis, &mask).py()?)
    }

    /// The elements where a full-shape boolean mask (a NumPy `uint8` view) is true, in C
    /// order (NumPy's `x[mask]`).
    fn select(&self, mask: &Bound<'_, PyAny>, shape: Vec<usize>) -> PyResult<PyArray> {
        let inner = &self.inner;
        let out = with_view::<u8, _>(mask, &shape, |m| inner.try_select(&m.mapv(|b| b != 0)))?;
        PyArray::checked(out.py()?)
    }

    /// New shape (one entry may be -1).
    fn reshape(&self, shape: Vec<isize>) -> PyResult<PyArray> {
        PyArray::checked(self.inner.try_reshape(&shape).py()?)
    }

    /// New chunk boundaries (lengths per axis).
    fn rechunk(&self, grid: Vec<Vec<usize>>) -> PyResult<PyArray> {
        PyArray::checked(self.inner.rechunk_grid(grid))
    }

    /// Remove length-1 axes (all of them when None).
    #[pyo3(signature = (axes = None))]
    fn squeeze(&self, axes: Option<Vec<usize>>) -> PyResult<PyArray> {
        PyArray::checked(self.inner.try_squeeze(axes.as_deref()).py()?)
    }

    /// Insert a length-1 axis at `axis`.
    fn expand_dims(&self, axis: usize) -> PyResult<PyArray> {
        PyArray::checked(self.inner.try_expand_dims(axis).py()?)
    }

    /// Broadcast to `shape`.
    fn broadcast_to(&self, shape: Vec<usize>) -> PyResult<PyArray> {
        PyArray::checked(self.inner.try_broadcast_to(&shape).py()?)
    }

    /// Matrix product with NumPy's `matmul` rules.
    fn matmul(&self, other: &PyArray) -> PyResult<PyArray> {
        PyArray::checked(self.inner.try_matmul(&other.inner).py()?)
    }

    /// NumPy's `dot`.
    fn dot(&self, other: &PyArray) -> PyResult<PyArray> {
        PyArray::checked(self.inner.try_dot(&other.inner).py()?)
    }

    /// Sum of products over `axes_self` of self and `axes_other` of other.
    fn tensordot(
        &self,
        other: &PyArray,
        axes_self: Vec<usize>,
        axes_other: Vec<usize>,
    ) -> PyResult<PyArray> {
        PyArray::checked(
            array::linalg::try_tensordot(&self.inner, &other.inner, &axes_self, &axes_other)
                .py()?,
        )
    }

    /// Apply the worker kernel `kernel` to every chunk, giving chunks of `dtype`.
    fn map_blocks(&self, kernel: &str, args: &[u8], dtype: &str) -> PyResult<PyArray> {
        PyArray::checked(
            self.inner
                .try_map_blocks(kernel, args, parse_dtype(dtype)?)
                .py()?,
        )
    }

    fn __repr__(&self) -> String {
        format!("{:?}", self.inner)
    }
}

/// The worker kernel `kernel` run once per output block over several arrays, dask's
/// `blockwise`: each operand comes with an index string (one letter per axis), and
/// `out_index` names the output's axes (see `tessera::array::blockwise`).
#[pyfunction]
pub fn blockwise(
    kernel: &str,
    out_index: &str,
    operands: Vec<(PyRef<'_, PyArray>, String)>,
    args: &[u8],
    dtype: &str,
) -> PyResult<PyArray> {
    let inputs: Vec<(&Array, &str)> = operands
        .iter()
        .map(|(a, ix)| (&a.inner, ix.as_str()))
        .collect();
    PyArray::checked(
        array::try_blockwise(kernel, out_index, &inputs, args, parse_dtype(dtype)?).py()?,
    )
}

/// An array of `shape` in blocks of `chunks` filled with `value` of `dtype`.
#[pyfunction]
pub fn full(
    shape: Vec<usize>,
    chunks: Vec<usize>,
    value: &Bound<'_, PyAny>,
    dtype: &str,
) -> PyResult<PyArray> {
    let a = match parse_dtype(dtype)? {
        DType::Bool => array::full(&shape, &chunks, value.is_truthy()?),
        DType::I32 => array::full::<i32>(&shape, &chunks, value.extract()?),
        DType::I64 => array::full::<i64>(&shape, &chunks, value.extract()?),
        DType::F32 => array::full::<f32>(&shape, &chunks, value.extract()?),
        DType::F64 => array::full::<f64>(&shape, &chunks, value.extract()?),
    };
    PyArray::checked(a)
}

/// `start, start + step, ...` below `stop`, in chunks of `chunk` elements.
#[pyfunction]
pub fn arange(start: f64, stop: f64, step: f64, chunk: usize, dtype: &str) -> PyResult<PyArray> {
    let a = match parse_dtype(dtype)? {
        DType::Bool => array::arange::<bool>(start, stop, step, chunk),
        DType::I32 => array::arange::<i32>(start, stop, step, chunk),
        DType::I64 => array::arange::<i64>(start, stop, step, chunk),
        DType::F32 => array::arange::<f32>(start, stop, step, chunk),
        DType::F64 => array::arange::<f64>(start, stop, step, chunk),
    };
    PyArray::checked(a)
}

/// Seeded uniform floats in `[low, high)`.
#[pyfunction]
pub fn random(
    low: f64,
    high: f64,
    shape: Vec<usize>,
    chunks: Vec<usize>,
    seed: u64,
    dtype: &str,
) -> PyResult<PyArray> {
    let a = match parse_dtype(dtype)? {
        DType::F32 => array::random_range::<f32>(low, high, &shape, &chunks, seed),
        DType::F64 => array::random_range::<f64>(low, high, &shape, &chunks, seed),
        other => {
            return Err(PyTypeError::new_err(format!(
                "random floats cannot have dtype {}",
                other.name()
            )));
        }
    };
    PyArray::checked(a)
}

/// Seeded uniform integers in `[low, high)`.
#[pyfunction]
pub fn randint(
    low: i64,
    high: i64,
    shape: Vec<usize>,
    chunks: Vec<usize>,
    seed: u64,
    dtype: &str,
) -> PyResult<PyArray> {
    let a = match parse_dtype(dtype)? {
        DType::I32 => array::randint::<i32>(low, high, &shape, &chunks, seed),
        DType::I64 => array::randint::<i64>(low, high, &shape, &chunks, seed),
        other => {
            return Err(PyTypeError::new_err(format!(
                "random integers cannot have dtype {}",
                other.name()
            )));
        }
    };
    PyArray::checked(a)
}

/// A chunked array from a C-contiguous NumPy array (read in place, copied once into
/// chunks). Bool arrays are passed as their `uint8` view.
#[pyfunction]
pub fn from_numpy(
    data: &Bound<'_, PyAny>,
    shape: Vec<usize>,
    dtype: &str,
    chunks: Vec<usize>,
) -> PyResult<PyArray> {
    let chunks = &chunks;
    let a = match parse_dtype(dtype)? {
        DType::Bool => with_view::<u8, _>(data, &shape, |v| {
            array::from_ndarray(&v.mapv(|b| b != 0), chunks)
        })?,
        DType::I32 => with_view::<i32, _>(data, &shape, |v| array::from_ndarray(&v, chunks))?,
        DType::I64 => with_view::<i64, _>(data, &shape, |v| array::from_ndarray(&v, chunks))?,
        DType::F32 => with_view::<f32, _>(data, &shape, |v| array::from_ndarray(&v, chunks))?,
        DType::F64 => with_view::<f64, _>(data, &shape, |v| array::from_ndarray(&v, chunks))?,
    };
    PyArray::checked(a)
}

/// Join arrays along an existing axis.
#[pyfunction]
pub fn concatenate(arrays: Vec<PyArray>, axis: usize) -> PyResult<PyArray> {
    let arrays: Vec<Array> = arrays.into_iter().map(|a| a.inner).collect();
    PyArray::checked(array::try_concatenate(&arrays, axis).py()?)
}

/// Join arrays along a new axis.
#[pyfunction]
pub fn stack(arrays: Vec<PyArray>, axis: usize) -> PyResult<PyArray> {
    let arrays: Vec<Array> = arrays.into_iter().map(|a| a.inner).collect();
    PyArray::checked(array::try_stack(&arrays, axis).py()?)
}

fn operand<'a>(v: &'a Bound<'_, PyAny>, keep: &'a mut Option<PyArray>) -> PyResult<Operand<'a>> {
    if let Ok(a) = v.cast::<PyArray>() {
        *keep = Some(a.get().clone());
        return Ok(Operand::Array(&keep.as_ref().expect("just set").inner));
    }
    scalar(v)?
        .map(Operand::Scalar)
        .ok_or_else(|| PyTypeError::new_err("where() takes tessera arrays or scalars"))
}

/// `a` where `cond` is true, else `b` (each an array or a scalar).
#[pyfunction]
#[pyo3(name = "where")]
pub fn where_(cond: &PyArray, a: &Bound<'_, PyAny>, b: &Bound<'_, PyAny>) -> PyResult<PyArray> {
    let (mut ka, mut kb) = (None, None);
    let (oa, ob) = (operand(a, &mut ka)?, operand(b, &mut kb)?);
    PyArray::checked(array::try_where(&cond.inner, oa, ob).py()?)
}
