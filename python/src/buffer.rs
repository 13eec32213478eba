//! Memory shared with NumPy without copying: `HostBuffer` exposes Arrow buffers through
//! the Python buffer protocol, and NumPy arrays are read as ndarray views.

use arrow_array::{Array as _, BooleanArray, PrimitiveArray, types};
use arrow_buffer::{ArrowNativeType, Buffer};
use ndarray::{ArrayD, ArrayViewD, IxDyn};
use pyo3::buffer::PyBuffer;
use pyo3::exceptions::{PyBufferError, PyTypeError, PyValueError};
use pyo3::ffi;
use pyo3::prelude::*;
use std::ffi::{CStr, c_int, c_void};
use tessera::{Chunk, DType};

/// A read-only (or, for results owned by nobody else, writable) N-d block of memory that
/// NumPy wraps without copying: `np.asarray(buffer)`.
#[pyclass(module = "tessera._core", frozen)]
pub struct HostBuffer {
    data: Buffer,
    dtype: DType,
    shape: Vec<isize>,
    strides: Vec<isize>,
    writable: bool,
}

fn format_of(dtype: DType) -> &'static CStr {
    match dtype {
        DType::Bool => c"?",
        DType::I32 => c"i",
        DType::I64 => c"q",
        DType::F32 => c"f",
        DType::F64 => c"d",
    }
}

/// The dtype for a NumPy dtype name; a TypeError names the supported ones otherwise.
pub fn parse_dtype(name: &str) -> PyResult<DType> {
    DType::from_name(name).map_err(|_| {
        PyTypeError::new_err(format!(
            "dtype {name} is not supported; tessera arrays hold bool, int32, int64, float32 \
             or float64"
        ))
    })
}

impl HostBuffer {
    fn new(data: Buffer, dtype: DType, shape: &[usize], writable: bool) -> HostBuffer {
        let item = dtype.itemsize() as isize;
        let mut strides = vec![0isize; shape.len()];
        let mut step = item;
        for (s, &d) in strides.iter_mut().zip(shape).rev() {
            *s = step;
            step *= d.max(1) as isize;
        }
        HostBuffer {
            data,
            dtype,
            shape: shape.iter().map(|&d| d as isize).collect(),
            strides,
            writable,
        }
    }

    /// Take an owned result array (no copy for numeric dtypes); NumPy may write to it.
    pub fn from_owned<T: ArrowNativeType>(a: ArrayD<T>, dtype: DType) -> HostBuffer {
        let shape = a.shape().to_vec();
        let a = if a.is_standard_layout() {
            a
        } else {
            a.as_standard_layout().into_owned()
        };
        let (values, _) = a.into_raw_vec_and_offset();
        HostBuffer::new(Buffer::from_vec(values), dtype, &shape, true)
    }

    /// An owned bool result, stored one byte per element as NumPy does.
    pub fn from_bools(a: ArrayD<bool>) -> HostBuffer {
        let shape = a.shape().to_vec();
        let bytes: Vec<u8> = a.iter().map(|&b| b as u8).collect();
        HostBuffer::new(Buffer::from_vec(bytes), DType::Bool, &shape, true)
    }

    /// Share a chunk's Arrow values (read-only; bools are unpacked to bytes).
    pub fn from_chunk(chunk: &Chunk) -> PyResult<HostBuffer> {
        let values = chunk.values();
        let any = values.as_any();
        fn prim<T: arrow_array::ArrowPrimitiveType>(a: &dyn std::any::Any) -> Option<Buffer> {
            a.downcast_ref::<PrimitiveArray<T>>()
                .map(|p| p.values().inner().clone())
        }
        let data = match chunk.dtype() {
            DType::F64 => prim::<types::Float64Type>(any),
            DType::F32 => prim::<types::Float32Type>(any),
            DType::I64 => prim::<types::Int64Type>(any),
            DType::I32 => prim::<types::Int32Type>(any),
            DType::Bool => any.downcast_ref::<BooleanArray>().map(|b| {
                Buffer::from_vec((0..b.len()).map(|i| b.value(i) as u8).collect::<Vec<u8>>())
            }),
        }
        .ok_or_else(|| PyValueError::new_err("chunk values do not match their dtype"))?;
        Ok(HostBuffer::new(data, chunk.dtype(), chunk.shape(), false))
    }
}

#[pymethods]
impl HostBuffer {
    /// NumPy dtype name of the elements.
    #[getter]
    fn dtype(&self) -> &'static str {
        self.dtype.name()
    }

    /// Shape of the block.
    #[getter]
    fn shape(&self) -> Vec<isize> {
        self.shape.clone()
    }

    unsafe fn __getbuffer__(
        slf: Bound<'_, Self>,
        view: *mut ffi::Py_buffer,
        flags: c_int,
    ) -> PyResult<()> {
        if view.is_null() {
            return Err(PyBufferError::new_err("no view to fill"));
        }
        let me = slf.get();
        if flags & ffi::PyBUF_WRITABLE == ffi::PyBUF_WRITABLE && !me.writable {
            return Err(PyBufferError::new_err("this tessera block is read-only"));
        }
        // SAFETY: `view` is a valid Py_buffer given by the interpreter; the pointers we
        // store (data, format, shape, strides) live as long as `slf`, whose reference the
        // view keeps in `obj` until the consumer releases it.
        unsafe {
            (*view).obj = slf.clone().into_any().into_ptr();
            (*view).buf = me.data.as_ptr() as *mut c_void;
            (*view).len = me.data.len() as isize;
            (*view).readonly = (!me.writable) as c_int;
            (*view).itemsize = me.dtype.itemsize() as isize;
            (*view).format = if flags & ffi::PyBUF_FORMAT == ffi::PyBUF_FORMAT {
                format_of(me.dtype).as_ptr() as *mut _
            } else {
                std::ptr::null_mut()
            };
            (*view).ndim = me.shape.len() as c_int;
            (*view).shape = if flags & ffi::PyBUF_ND == ffi::PyBUF_ND {
                me.shape.as_ptr() as *mut isize
            } else {
                std::ptr::null_mut()
            };
            (*view).strides = if flags & ffi::PyBUF_STRIDES == ffi::PyBUF_STRIDES {
                me.strides.as_ptr() as *mut isize
            } else {
                std::ptr::null_mut()
            };
            (*view).suboffsets = std::ptr::null_mut();
            (*view).internal = std::ptr::null_mut();
        }
        Ok(())
    }
}

/// Run `f` over a zero-copy view of a C-contiguous buffer (a NumPy array) of `T`s.
pub fn with_view<T, R>(
    obj: &Bound<'_, PyAny>,
    shape: &[usize],
    f: impl FnOnce(ArrayViewD<'_, T>) -> R + Send,
) -> PyResult<R>
where
    T: pyo3::buffer::Element + Copy + Send + Sync,
    R: Send,
{
    let buffer = PyBuffer::<T>::get(obj)?;
    if !buffer.is_c_contiguous() {
        return Err(PyValueError::new_err("the array must be C-contiguous"));
    }
    let count = buffer.item_count();
    if count != shape.iter().product::<usize>() {
        return Err(PyValueError::new_err(format!(
            "buffer holds {count} elements, shape {shape:?} needs {}",
            shape.iter().product::<usize>()
        )));
    }
    let ptr = buffer.buf_ptr() as usize;
    let shape = shape.to_vec();
    // SAFETY: the buffer is C-contiguous with `count` items of `T` and stays exported
    // (so its memory lives) until `buffer` is dropped after `f` returns.
    let out = obj.py().detach(move || {
        let slice: &[T] = if count == 0 {
            &[]
        } else {
            unsafe { std::slice::from_raw_parts(ptr as *const T, count) }
        };
        let view = ArrayViewD::from_shape(IxDyn(&shape), slice).expect("length checked above");
        f(view)
    });
    drop(buffer);
    Ok(out)
}
