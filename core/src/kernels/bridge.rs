//! Where arrays meet tables: a numeric table column as a 1-d chunk, and equal-length
//! 1-d chunks as the columns of a table partition. No copies beyond concatenation.

use crate::chunk::Chunk;
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::value::Partition;
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{Field, Schema};
use std::sync::Arc;

/// Column `column` of `part` (all buckets) as a 1-d chunk of `dtype`.
pub fn column_to_array(part: &Partition, column: &str, dtype: DType) -> Result<Chunk> {
    let index = part.schema().index_of(column).map_err(|_| {
        Error::Plan(format!(
            "no column named {column:?}; the partition has {:?}",
            part.schema()
                .fields()
                .iter()
                .map(|f| f.name())
                .collect::<Vec<_>>()
        ))
    })?;
    let field = part.schema().field(index);
    if field.data_type() != &dtype.arrow() {
        return Err(Error::dtype(format!(
            "column {column:?} is {} but the array was declared {}",
            field.data_type(),
            dtype.name()
        )));
    }
    let pieces: Vec<ArrayRef> = part
        .batches()
        .iter()
        .map(|b| b.column(index).clone())
        .collect();
    let values = match pieces.len() {
        0 => arrow_array::new_empty_array(&dtype.arrow()),
        1 => pieces[0].clone(),
        _ => {
            let refs: Vec<&dyn arrow_array::Array> = pieces.iter().map(|a| a.as_ref()).collect();
            arrow_select::concat::concat(&refs)?
        }
    };
    if values.null_count() > 0 {
        return Err(Error::other(format!(
            "column {column:?} holds {} nulls; an array cannot (fill or filter them first)",
            values.null_count()
        )));
    }
    let len = values.len();
    Chunk::new(vec![len], values)
}

/// A one-bucket partition whose columns `names` are the 1-d `chunks`.
pub fn arrays_to_table(names: &[String], chunks: &[Chunk]) -> Result<Partition> {
    if names.len() != chunks.len() || chunks.is_empty() {
        return Err(Error::other(format!(
            "arrays-to-table needs one name per input chunk and at least one: {} names, {} chunks",
            names.len(),
            chunks.len()
        )));
    }
    let len = chunks[0].len();
    for (name, c) in names.iter().zip(chunks) {
        if c.shape().len() != 1 || c.len() != len {
            return Err(Error::shape(format!(
                "column {name:?} is a chunk of shape {:?}; every column needs shape [{len}]",
                c.shape()
            )));
        }
    }
    let fields: Vec<Field> = names
        .iter()
        .zip(chunks)
        .map(|(n, c)| Field::new(n, c.dtype().arrow(), false))
        .collect();
    let schema = Arc::new(Schema::new(fields));
    let columns: Vec<ArrayRef> = chunks.iter().map(|c| c.values().clone()).collect();
    let batch = RecordBatch::try_new(schema.clone(), columns)?;
    Partition::new(schema, vec![batch])
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::Int64Array;
    use ndarray::{ArrayD, IxDyn};

    #[test]
    fn columns_and_arrays_round_trip() {
        let a = Chunk::from_ndarray(ArrayD::from_shape_vec(IxDyn(&[3]), vec![1i64, 2, 3]).unwrap());
        let b = Chunk::from_ndarray(
            ArrayD::from_shape_vec(IxDyn(&[3]), vec![0.5f64, 1.5, 2.5]).unwrap(),
        );
        let names = vec!["a".to_string(), "b".to_string()];
        let part = arrays_to_table(&names, &[a, b]).unwrap();
        let col = column_to_array(&part, "b", DType::F64).unwrap();
        assert_eq!(
            col.to_ndarray::<f64>().unwrap().into_raw_vec_and_offset().0,
            vec![0.5, 1.5, 2.5]
        );
        assert!(
            column_to_array(&part, "zz", DType::F64)
                .unwrap_err()
                .to_string()
                .contains("zz")
        );
        assert!(column_to_array(&part, "a", DType::F64).is_err());
    }

    #[test]
    fn mismatched_lengths_and_nulls_are_refused() {
        let a = Chunk::from_ndarray(ArrayD::from_shape_vec(IxDyn(&[2]), vec![1i64, 2]).unwrap());
        let b = Chunk::from_ndarray(ArrayD::from_shape_vec(IxDyn(&[1]), vec![1i64]).unwrap());
        let names = vec!["a".to_string(), "b".to_string()];
        assert!(arrays_to_table(&names, &[a, b]).is_err());
        let schema = Arc::new(Schema::new(vec![Field::new(
            "x",
            arrow_schema::DataType::Int64,
            true,
        )]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![Arc::new(Int64Array::from(vec![Some(1), None])) as ArrayRef],
        )
        .unwrap();
        let part = Partition::new(schema, vec![batch]).unwrap();
        assert!(
            column_to_array(&part, "x", DType::I64)
                .unwrap_err()
                .to_string()
                .contains("null")
        );
    }
}
