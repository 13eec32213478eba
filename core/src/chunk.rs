//! One block of a chunked array: an Arrow buffer of one dtype in C order, with its shape.
//! Converts to and from ndarray (zero-copy views for numbers) and to Arrow record batches.

use crate::dtype::{DType, Element};
use crate::error::{Error, Result};
use arrow_array::types::{Float32Type, Float64Type, Int32Type, Int64Type};
use arrow_array::{Array, ArrayRef, BooleanArray, PrimitiveArray, RecordBatch};
use arrow_buffer::ScalarBuffer;
use arrow_schema::{Field, Schema};
use ndarray::{ArrayD, ArrayViewD, IxDyn};
use std::collections::HashMap;
use std::sync::Arc;

/// Schema metadata key holding a chunk's shape (`"20,30"`; empty for 0-d).
pub const SHAPE_METADATA: &str = "tessera.shape";
/// Column name of a chunk's values in its record batch.
pub const VALUES_COLUMN: &str = "values";

/// A block of an N-d array held as one Arrow array without nulls, in C order.
#[derive(Clone, Debug)]
pub struct Chunk {
    shape: Vec<usize>,
    values: ArrayRef,
}

impl Chunk {
    /// Wrap `values` as a chunk of `shape`; the length must be the shape's product.
    pub fn new(shape: Vec<usize>, values: ArrayRef) -> Result<Self> {
        let n: usize = shape.iter().product();
        if values.len() != n {
            return Err(Error::shape(format!(
                "chunk of shape {shape:?} needs {n} values, got {}",
                values.len()
            )));
        }
        if values.null_count() != 0 {
            return Err(Error::other("array chunks cannot hold nulls"));
        }
        DType::from_arrow(values.data_type())?;
        Ok(Chunk { shape, values })
    }

    /// The chunk's shape.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// Whether the chunk holds no elements.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// The chunk's dtype.
    pub fn dtype(&self) -> DType {
        DType::from_arrow(self.values.data_type()).expect("checked in Chunk::new")
    }

    /// The flat Arrow values.
    pub fn values(&self) -> &ArrayRef {
        &self.values
    }

    /// Bytes of memory the values occupy.
    pub fn nbytes(&self) -> usize {
        self.values.get_buffer_memory_size()
    }

    /// Build from an ndarray (no copy when it is already in standard layout).
    pub fn from_ndarray<T: ChunkElement>(a: ArrayD<T>) -> Self {
        T::chunk_from_ndarray(a)
    }

    /// Copy out as an owned ndarray; errs when `T` is not the chunk's dtype.
    pub fn to_ndarray<T: ChunkElement>(&self) -> Result<ArrayD<T>> {
        T::ndarray_from_chunk(self)
    }

    /// Zero-copy ndarray view of a numeric chunk; errs on a dtype mismatch.
    pub fn view<T: NumericElement>(&self) -> Result<ArrayViewD<'_, T>> {
        let values = self
            .values
            .as_any()
            .downcast_ref::<PrimitiveArray<T::Arrow>>()
            .ok_or_else(|| self.dtype_mismatch(T::DTYPE))?;
        let slice: &[T] = values.values().as_ref();
        Ok(
            ArrayViewD::from_shape(IxDyn(&self.shape), slice)
                .expect("length checked in Chunk::new"),
        )
    }

    fn dtype_mismatch(&self, want: DType) -> Error {
        Error::dtype(format!("chunk holds {}, not {}", self.dtype(), want))
    }

    /// The chunk as a one-column record batch whose schema carries the shape;
    /// this is what a Flight `DoGet` of its key returns.
    pub fn to_record_batch(&self) -> RecordBatch {
        let shape = self
            .shape
            .iter()
            .map(|d| d.to_string())
            .collect::<Vec<_>>()
            .join(",");
        let field = Field::new(VALUES_COLUMN, self.values.data_type().clone(), false);
        let schema = Schema::new_with_metadata(
            vec![field],
            HashMap::from([(SHAPE_METADATA.to_string(), shape)]),
        );
        RecordBatch::try_new(Arc::new(schema), vec![self.values.clone()])
            .expect("one non-null column always forms a batch")
    }

    /// Rebuild a chunk from record batches produced by [`Chunk::to_record_batch`]
    /// (a Flight stream may split it into several batches).
    pub fn from_record_batches(batches: &[RecordBatch]) -> Result<Self> {
        let first = batches
            .first()
            .ok_or_else(|| Error::decode("a chunk stream held no record batch"))?;
        let schema = first.schema();
        let shape_text = schema.metadata().get(SHAPE_METADATA).ok_or_else(|| {
            Error::decode(format!("chunk schema lacks the {SHAPE_METADATA} metadata"))
        })?;
        let shape = parse_shape(shape_text)?;
        if schema.fields().len() != 1 {
            return Err(Error::decode(format!(
                "chunk batches need exactly one column, got {}",
                schema.fields().len()
            )));
        }
        let arrays: Vec<&dyn Array> = batches.iter().map(|b| b.column(0).as_ref()).collect();
        let values = if arrays.len() == 1 {
            batches[0].column(0).clone()
        } else {
            arrow_select_concat(&arrays)?
        };
        Chunk::new(shape, values).map_err(|e| Error::decode(e.to_string()))
    }
}

fn parse_shape(text: &str) -> Result<Vec<usize>> {
    if text.is_empty() {
        return Ok(vec![]);
    }
    let shape = text
        .split(',')
        .map(|d| d.trim().parse::<usize>())
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|_| Error::decode(format!("bad chunk shape {text:?}")))?;
    if shape.len() > 32 {
        return Err(Error::decode(format!(
            "chunk shape {text:?} has more than 32 axes"
        )));
    }
    shape
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| Error::decode(format!("chunk shape {text:?} overflows")))?;
    Ok(shape)
}

/// Concatenate same-typed flat arrays (a chunk split over several Flight messages).
fn arrow_select_concat(arrays: &[&dyn Array]) -> Result<ArrayRef> {
    let data_type = arrays[0].data_type().clone();
    if arrays.iter().any(|a| a.data_type() != &data_type) {
        return Err(Error::decode("chunk batches disagree on their type"));
    }
    let datas: Vec<arrow_data::ArrayData> = arrays.iter().map(|a| a.to_data()).collect();
    let refs: Vec<&arrow_data::ArrayData> = datas.iter().collect();
    let mut mutable = arrow_data::transform::MutableArrayData::new(refs, false, 0);
    for (i, a) in arrays.iter().enumerate() {
        mutable.try_extend(i, 0, a.len())?;
    }
    Ok(arrow_array::make_array(mutable.freeze()))
}

/// An element type that converts between ndarray and a chunk.
pub trait ChunkElement: Element {
    /// Build a chunk from an owned ndarray.
    fn chunk_from_ndarray(a: ArrayD<Self>) -> Chunk;
    /// Copy a chunk out as an owned ndarray.
    fn ndarray_from_chunk(c: &Chunk) -> Result<ArrayD<Self>>;
}

/// A numeric element type stored as an Arrow primitive array (viewable without copying).
pub trait NumericElement: ChunkElement + arrow_buffer::ArrowNativeType {
    /// The Arrow primitive type with this native type.
    type Arrow: arrow_array::ArrowPrimitiveType<Native = Self>;
}

macro_rules! numeric {
    ($t:ty, $arrow:ty) => {
        impl NumericElement for $t {
            type Arrow = $arrow;
        }
        impl ChunkElement for $t {
            fn chunk_from_ndarray(a: ArrayD<Self>) -> Chunk {
                let shape = a.shape().to_vec();
                let a = if a.is_standard_layout() {
                    a
                } else {
                    a.as_standard_layout().into_owned()
                };
                let (vec, offset) = a.into_raw_vec_and_offset();
                let offset = offset.unwrap_or(0);
                let n: usize = shape.iter().product();
                let buffer = ScalarBuffer::<$t>::from(vec).slice(offset, n);
                let values: ArrayRef = Arc::new(PrimitiveArray::<$arrow>::new(buffer, None));
                Chunk { shape, values }
            }
            fn ndarray_from_chunk(c: &Chunk) -> Result<ArrayD<Self>> {
                Ok(c.view::<$t>()?.to_owned())
            }
        }
    };
}
numeric!(f64, Float64Type);
numeric!(f32, Float32Type);
numeric!(i64, Int64Type);
numeric!(i32, Int32Type);

impl ChunkElement for bool {
    fn chunk_from_ndarray(a: ArrayD<Self>) -> Chunk {
        let shape = a.shape().to_vec();
        let values: ArrayRef = Arc::new(BooleanArray::from_iter(a.iter().map(|&b| Some(b))));
        Chunk { shape, values }
    }
    fn ndarray_from_chunk(c: &Chunk) -> Result<ArrayD<Self>> {
        let values = c
            .values
            .as_any()
            .downcast_ref::<BooleanArray>()
            .ok_or_else(|| c.dtype_mismatch(DType::Bool))?;
        let v: Vec<bool> = (0..values.len()).map(|i| values.value(i)).collect();
        Ok(ArrayD::from_shape_vec(IxDyn(&c.shape), v).expect("length checked in Chunk::new"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn ndarray_round_trip_for_every_dtype() {
        let a = array![[1.0f64, 2.0, 3.0], [4.0, 5.0, 6.0]].into_dyn();
        let c = Chunk::from_ndarray(a.clone());
        assert_eq!(c.shape(), &[2, 3]);
        assert_eq!(c.to_ndarray::<f64>().unwrap(), a);
        assert_eq!(c.view::<f64>().unwrap(), a.view());
        assert!(c.to_ndarray::<f32>().is_err());

        let t = a.t().to_owned();
        assert_eq!(
            Chunk::from_ndarray(a.t().into_owned())
                .to_ndarray::<f64>()
                .unwrap(),
            t
        );

        let b = array![[true, false], [false, true]].into_dyn();
        assert_eq!(
            Chunk::from_ndarray(b.clone()).to_ndarray::<bool>().unwrap(),
            b
        );
        let i = array![1i32, -2, 3].into_dyn();
        assert_eq!(
            Chunk::from_ndarray(i.clone()).to_ndarray::<i32>().unwrap(),
            i
        );
        let z = ArrayD::<i64>::zeros(IxDyn(&[0, 3]));
        assert_eq!(
            Chunk::from_ndarray(z.clone()).to_ndarray::<i64>().unwrap(),
            z
        );
    }

    #[test]
    fn record_batch_round_trip_keeps_shape() {
        let a = ArrayD::from_shape_fn(IxDyn(&[2, 3, 4]), |ix| {
            (ix[0] * 100 + ix[1] * 10 + ix[2]) as f32
        });
        let c = Chunk::from_ndarray(a.clone());
        let back = Chunk::from_record_batches(&[c.to_record_batch()]).unwrap();
        assert_eq!(back.to_ndarray::<f32>().unwrap(), a);
        let scalar = Chunk::from_ndarray(ArrayD::from_elem(IxDyn(&[]), 7i64));
        let back = Chunk::from_record_batches(&[scalar.to_record_batch()]).unwrap();
        assert_eq!(back.shape(), &[] as &[usize]);
    }

    #[test]
    fn hostile_shapes_are_refused() {
        assert!(parse_shape("1,x").is_err());
        assert!(parse_shape("18446744073709551615,18446744073709551615").is_err());
        let c = Chunk::from_ndarray(ArrayD::from_elem(IxDyn(&[3]), 1.0f64));
        let batch = c.to_record_batch();
        let schema = Schema::new_with_metadata(
            batch.schema().fields().clone(),
            HashMap::from([(SHAPE_METADATA.to_string(), "4".to_string())]),
        );
        let lying = RecordBatch::try_new(Arc::new(schema), vec![batch.column(0).clone()]).unwrap();
        assert!(Chunk::from_record_batches(&[lying]).is_err());
    }
}
