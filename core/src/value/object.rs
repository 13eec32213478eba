//! Opaque objects as values: bytes the engine never interprets (a pickled Python object,
//! a serialized Rust struct), stored as a one-row table partition with one binary column,
//! so stores, spilling and Flight carry them unchanged.

use super::{Partition, Value};
use crate::error::{Error, Result};
use arrow_array::{Array, LargeBinaryArray, RecordBatch};
use arrow_schema::{DataType, Field, Schema};
use std::collections::HashMap;
use std::sync::Arc;

/// Name of the one column of an object value.
pub const OBJECT_COLUMN: &str = "tessera.object";

/// An object value holding `bytes`.
pub fn value(bytes: &[u8]) -> Value {
    let schema = Arc::new(Schema::new_with_metadata(
        vec![Field::new(OBJECT_COLUMN, DataType::LargeBinary, false)],
        HashMap::new(),
    ));
    let column = Arc::new(LargeBinaryArray::from_vec(vec![bytes]));
    let batch = RecordBatch::try_new(schema.clone(), vec![column])
        .expect("one non-null binary column matches its schema");
    Value::Table(Partition::new(schema, vec![batch]).expect("one batch of its own schema"))
}

/// The bytes of an object value; an error for any other value.
pub fn bytes(v: &Value) -> Result<Vec<u8>> {
    let not = |why: &str| Error::other(format!("the value is not an object: {why}"));
    let Value::Table(p) = v else {
        return Err(not("it is an array chunk"));
    };
    let schema = p.schema();
    if schema.fields().len() != 1 || schema.field(0).name() != OBJECT_COLUMN {
        return Err(not("it is a table partition"));
    }
    let batches = p.batches();
    let mut found = None;
    for batch in &batches {
        let column = batch
            .column(0)
            .as_any()
            .downcast_ref::<LargeBinaryArray>()
            .ok_or_else(|| not("its column is not large binary"))?;
        for i in 0..column.len() {
            if found.is_some() || column.is_null(i) {
                return Err(not("it holds more than one row"));
            }
            found = Some(column.value(i).to_vec());
        }
    }
    found.ok_or_else(|| not("it holds no row"))
}

/// Whether `v` is an object value.
pub fn is_object(v: &Value) -> bool {
    matches!(v, Value::Table(p) if p.schema().fields().len() == 1
        && p.schema().field(0).name() == OBJECT_COLUMN)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_round_trip_through_flight_batches() {
        for payload in [&b""[..], b"x", &[0u8, 255, 7][..], &vec![9u8; 100_000][..]] {
            let v = value(payload);
            assert!(is_object(&v));
            assert_eq!(bytes(&v).unwrap(), payload);
            let (schema, batches) = v.to_record_batches().unwrap();
            let back = Value::from_record_batches(schema, batches).unwrap();
            assert_eq!(bytes(&back).unwrap(), payload);
        }
    }

    #[test]
    fn other_values_are_refused() {
        let chunk = Value::Array(crate::Chunk::from_ndarray(ndarray::ArrayD::from_elem(
            ndarray::IxDyn(&[1]),
            1i64,
        )));
        assert!(!is_object(&chunk));
        assert!(
            bytes(&chunk)
                .unwrap_err()
                .to_string()
                .contains("array chunk")
        );
        let two = {
            let schema = Arc::new(Schema::new(vec![Field::new(
                OBJECT_COLUMN,
                DataType::LargeBinary,
                false,
            )]));
            let col = Arc::new(LargeBinaryArray::from_vec(vec![&b"a"[..], b"b"]));
            let batch = RecordBatch::try_new(schema.clone(), vec![col]).unwrap();
            Value::Table(Partition::new(schema, vec![batch]).unwrap())
        };
        assert!(
            bytes(&two)
                .unwrap_err()
                .to_string()
                .contains("more than one row")
        );
    }
}
