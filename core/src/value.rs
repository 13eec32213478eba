//! What a task's result is: an array chunk or a table partition (split into hash buckets
//! when it feeds a shuffle). Stored by workers, carried by Flight, fetched by clients.

use crate::chunk::{Chunk, SHAPE_METADATA};
use crate::error::{Error, Result};
use arrow_array::RecordBatch;
use arrow_schema::{Schema, SchemaRef};
use std::collections::HashMap;
use std::sync::Arc;

pub mod ipc;
mod ipc_schema;
pub mod object;

/// Schema metadata key marking a Flight stream as a table partition.
pub const TABLE_METADATA: &str = "tessera.table";
/// Schema metadata key holding a partition's rows per bucket (`"10,0,7"`).
pub const BUCKET_ROWS_METADATA: &str = "tessera.bucket_rows";
/// Most buckets one partition may be split into (a shuffle's output partitions).
pub const MAX_BUCKETS: usize = 1 << 16;

/// One task's result.
#[derive(Clone, Debug)]
pub enum Value {
    /// A block of a chunked array.
    Array(Chunk),
    /// A partition of a table.
    Table(Partition),
}

impl Value {
    /// Bytes of memory the value occupies.
    pub fn nbytes(&self) -> usize {
        match self {
            Value::Array(c) => c.nbytes(),
            Value::Table(p) => p.nbytes(),
        }
    }

    /// The array chunk, or an error naming what `what` expected.
    pub fn into_chunk(self, what: &str) -> Result<Chunk> {
        match self {
            Value::Array(c) => Ok(c),
            Value::Table(_) => Err(Error::other(format!(
                "{what} expects an array chunk but got a table partition"
            ))),
        }
    }

    /// The table partition, or an error naming what `what` expected.
    pub fn into_partition(self, what: &str) -> Result<Partition> {
        match self {
            Value::Table(p) => Ok(p),
            Value::Array(_) => Err(Error::other(format!(
                "{what} expects a table partition but got an array chunk"
            ))),
        }
    }

    /// Only bucket `bucket` of a table partition (arrays have no buckets).
    pub fn select_bucket(&self, bucket: usize) -> Result<Value> {
        match self {
            Value::Array(_) => Err(Error::other("an array chunk has no buckets to select from")),
            Value::Table(p) => Ok(Value::Table(p.bucket(bucket)?)),
        }
    }

    /// The record batches that carry the value over Flight, and their common schema.
    /// Arrays carry their shape in the schema metadata, tables their bucket row counts.
    pub fn to_record_batches(&self) -> Result<(SchemaRef, Vec<RecordBatch>)> {
        match self {
            Value::Array(c) => {
                let batch = c.to_record_batch();
                Ok((batch.schema(), vec![batch]))
            }
            Value::Table(p) => p.to_flight_batches(),
        }
    }

    /// Rebuild a value from the batches (and schema) of a Flight stream.
    pub fn from_record_batches(schema: SchemaRef, batches: Vec<RecordBatch>) -> Result<Value> {
        let metadata = schema.metadata();
        if let Some(rows) = metadata.get(BUCKET_ROWS_METADATA) {
            return Ok(Value::Table(Partition::from_flight_batches(
                &schema, rows, batches,
            )?));
        }
        if metadata.contains_key(TABLE_METADATA) {
            return Err(Error::decode("a table stream without bucket row counts"));
        }
        if !metadata.contains_key(SHAPE_METADATA) {
            return Err(Error::decode(
                "stream is neither an array chunk (no shape) nor a table partition",
            ));
        }
        // An array stream has one column of a chunk dtype. Checked before building an empty
        // batch from the schema: Arrow panics on some schemas (an empty union) there.
        let [field] = &schema.fields()[..] else {
            return Err(Error::decode(format!(
                "an array chunk stream needs exactly one column, got {}",
                schema.fields().len()
            )));
        };
        crate::dtype::DType::from_arrow(field.data_type())
            .map_err(|e| Error::decode(format!("an array chunk stream: {e}")))?;
        let batches = if batches.is_empty() {
            vec![RecordBatch::new_empty(schema)]
        } else {
            batches
        };
        Ok(Value::Array(Chunk::from_record_batches(&batches)?))
    }
}

impl From<Chunk> for Value {
    fn from(c: Chunk) -> Self {
        Value::Array(c)
    }
}

impl From<Partition> for Value {
    fn from(p: Partition) -> Self {
        Value::Table(p)
    }
}

/// A table partition: record batches of one schema, in one or more buckets. A partition
/// that feeds a hash shuffle holds one bucket per output partition of the shuffle.
#[derive(Clone, Debug)]
pub struct Partition {
    schema: SchemaRef,
    buckets: Vec<Vec<RecordBatch>>,
}

impl Partition {
    /// A partition of one bucket.
    pub fn new(schema: SchemaRef, batches: Vec<RecordBatch>) -> Result<Self> {
        Self::with_buckets(schema, vec![batches])
    }

    /// A partition split into `buckets`; every batch must have `schema`'s fields.
    pub fn with_buckets(schema: SchemaRef, buckets: Vec<Vec<RecordBatch>>) -> Result<Self> {
        if buckets.is_empty() || buckets.len() > MAX_BUCKETS {
            return Err(Error::other(format!(
                "a partition needs 1 to {MAX_BUCKETS} buckets, got {}",
                buckets.len()
            )));
        }
        let types = |s: &Schema| -> Vec<arrow_schema::DataType> {
            s.fields().iter().map(|f| f.data_type().clone()).collect()
        };
        let want = types(&schema);
        for batch in buckets.iter().flatten() {
            // Column types must agree; names, nullability and metadata may differ between
            // the batches an operator emits and its declared schema.
            if types(&batch.schema()) != want {
                return Err(Error::other(format!(
                    "a batch with schema {} does not belong in a partition of schema {}",
                    batch.schema(),
                    schema
                )));
            }
        }
        Ok(Partition { schema, buckets })
    }

    /// The partition's schema.
    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// Number of buckets.
    pub fn num_buckets(&self) -> usize {
        self.buckets.len()
    }

    /// All batches, bucket after bucket.
    pub fn batches(&self) -> Vec<RecordBatch> {
        self.buckets.iter().flatten().cloned().collect()
    }

    /// The batches of bucket `b`.
    pub fn bucket_batches(&self, b: usize) -> Result<&[RecordBatch]> {
        self.buckets.get(b).map(|v| v.as_slice()).ok_or_else(|| {
            Error::other(format!(
                "bucket {b} does not exist: the partition has {} buckets",
                self.buckets.len()
            ))
        })
    }

    /// A partition holding only bucket `b`.
    pub fn bucket(&self, b: usize) -> Result<Partition> {
        Ok(Partition {
            schema: self.schema.clone(),
            buckets: vec![self.bucket_batches(b)?.to_vec()],
        })
    }

    /// Rows in all buckets.
    pub fn num_rows(&self) -> usize {
        self.buckets.iter().flatten().map(|b| b.num_rows()).sum()
    }

    /// Bytes of memory the batches occupy.
    pub fn nbytes(&self) -> usize {
        self.buckets
            .iter()
            .flatten()
            .map(|b| b.get_array_memory_size())
            .sum()
    }

    fn to_flight_batches(&self) -> Result<(SchemaRef, Vec<RecordBatch>)> {
        let rows: Vec<String> = self
            .buckets
            .iter()
            .map(|b| b.iter().map(|x| x.num_rows()).sum::<usize>().to_string())
            .collect();
        let mut metadata: HashMap<String, String> = self.schema.metadata().clone();
        metadata.insert(TABLE_METADATA.into(), "1".into());
        metadata.insert(BUCKET_ROWS_METADATA.into(), rows.join(","));
        let schema = Arc::new(Schema::new_with_metadata(
            self.schema.fields().clone(),
            metadata,
        ));
        let batches = self
            .buckets
            .iter()
            .flatten()
            .filter(|b| b.num_rows() > 0)
            .map(|b| RecordBatch::try_new(schema.clone(), b.columns().to_vec()))
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| {
                Error::other(format!("a partition's batches do not fit its schema: {e}"))
            })?;
        Ok((schema, batches))
    }

    fn from_flight_batches(
        schema: &SchemaRef,
        rows: &str,
        batches: Vec<RecordBatch>,
    ) -> Result<Partition> {
        let counts: Vec<usize> = rows
            .split(',')
            .map(|s| s.trim().parse::<usize>())
            .collect::<std::result::Result<_, _>>()
            .map_err(|_| Error::decode(format!("bad bucket row counts {rows:?}")))?;
        if counts.is_empty() || counts.len() > MAX_BUCKETS {
            return Err(Error::decode(format!(
                "a partition needs 1 to {MAX_BUCKETS} buckets, the stream says {}",
                counts.len()
            )));
        }
        let total: usize = batches.iter().map(|b| b.num_rows()).sum();
        if counts.iter().try_fold(0usize, |a, &c| a.checked_add(c)) != Some(total) {
            return Err(Error::decode(format!(
                "the stream holds {total} rows but its buckets claim {rows}"
            )));
        }
        let mut metadata = schema.metadata().clone();
        metadata.remove(TABLE_METADATA);
        metadata.remove(BUCKET_ROWS_METADATA);
        let plain = Arc::new(Schema::new_with_metadata(schema.fields().clone(), metadata));
        // Cut the row stream back into buckets by their row counts (the encoder may have
        // split large batches, so batch boundaries are not bucket boundaries).
        let mut buckets = Vec::with_capacity(counts.len());
        let mut pending = batches.into_iter().map(|b| {
            RecordBatch::try_new(plain.clone(), b.columns().to_vec())
                .map_err(|e| Error::decode(e.to_string()))
        });
        let mut current: Option<RecordBatch> = None;
        for want in counts {
            let mut bucket = Vec::new();
            let mut need = want;
            while need > 0 {
                let batch = match current.take() {
                    Some(b) => b,
                    None => pending
                        .next()
                        .ok_or_else(|| Error::decode("table stream ended early"))??,
                };
                if batch.num_rows() <= need {
                    need -= batch.num_rows();
                    if batch.num_rows() > 0 {
                        bucket.push(batch);
                    }
                } else {
                    bucket.push(batch.slice(0, need));
                    current = Some(batch.slice(need, batch.num_rows() - need));
                    need = 0;
                }
            }
            buckets.push(bucket);
        }
        Partition::with_buckets(plain, buckets)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{ArrayRef, Int64Array, StringArray};
    use arrow_schema::{DataType, Field};

    fn batch(schema: &SchemaRef, from: i64, n: usize) -> RecordBatch {
        let ids: ArrayRef = Arc::new(Int64Array::from_iter_values(from..from + n as i64));
        let names: ArrayRef = Arc::new(StringArray::from_iter_values(
            (0..n).map(|i| format!("r{}", from + i as i64)),
        ));
        RecordBatch::try_new(schema.clone(), vec![ids, names]).unwrap()
    }

    fn schema() -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("name", DataType::Utf8, false),
        ]))
    }

    fn ids(batches: &[RecordBatch]) -> Vec<i64> {
        batches
            .iter()
            .flat_map(|b| {
                b.column(0)
                    .as_any()
                    .downcast_ref::<Int64Array>()
                    .unwrap()
                    .values()
                    .to_vec()
            })
            .collect()
    }

    #[test]
    fn buckets_survive_the_flight_batches_even_when_batches_are_resplit() {
        let s = schema();
        let p = Partition::with_buckets(
            s.clone(),
            vec![
                vec![batch(&s, 0, 3), batch(&s, 3, 2)],
                vec![],
                vec![batch(&s, 10, 4)],
            ],
        )
        .unwrap();
        let (wire_schema, batches) = Value::Table(p.clone()).to_record_batches().unwrap();
        // Re-split the stream differently (as a Flight encoder may): one big batch.
        let one = arrow_select::concat::concat_batches(&wire_schema, &batches).unwrap();
        let resplit = vec![one.slice(0, 4), one.slice(4, 5)];
        let back = Value::from_record_batches(wire_schema, resplit)
            .unwrap()
            .into_partition("test")
            .unwrap();
        assert_eq!(back.num_buckets(), 3);
        assert_eq!(ids(back.bucket_batches(0).unwrap()), vec![0, 1, 2, 3, 4]);
        assert!(back.bucket_batches(1).unwrap().is_empty());
        assert_eq!(ids(back.bucket_batches(2).unwrap()), vec![10, 11, 12, 13]);
        assert!(back.schema().metadata().is_empty());
        assert!(back.bucket(3).is_err());
    }

    #[test]
    fn lying_row_counts_are_refused() {
        let s = schema();
        let p = Partition::new(s.clone(), vec![batch(&s, 0, 3)]).unwrap();
        let (wire_schema, batches) = Value::Table(p).to_record_batches().unwrap();
        let mut md = wire_schema.metadata().clone();
        for bad in ["4", "1,1", "x", "", "18446744073709551615,1"] {
            md.insert(BUCKET_ROWS_METADATA.into(), bad.into());
            let schema = Arc::new(Schema::new_with_metadata(
                wire_schema.fields().clone(),
                md.clone(),
            ));
            let batches: Vec<_> = batches
                .iter()
                .map(|b| RecordBatch::try_new(schema.clone(), b.columns().to_vec()).unwrap())
                .collect();
            assert!(
                Value::from_record_batches(schema, batches).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn empty_partitions_and_arrays_round_trip() {
        let s = schema();
        let p = Partition::with_buckets(s.clone(), vec![vec![], vec![]]).unwrap();
        let (ws, batches) = Value::Table(p).to_record_batches().unwrap();
        assert!(batches.is_empty());
        let back = Value::from_record_batches(ws, batches).unwrap();
        assert_eq!(back.into_partition("t").unwrap().num_buckets(), 2);
        let c = Chunk::from_ndarray(ndarray::ArrayD::from_elem(ndarray::IxDyn(&[2, 3]), 1.5f64));
        let (ws, batches) = Value::Array(c).to_record_batches().unwrap();
        let back = Value::from_record_batches(ws, batches)
            .unwrap()
            .into_chunk("t")
            .unwrap();
        assert_eq!(back.shape(), &[2, 3]);
    }

    #[test]
    fn mismatched_batches_are_refused() {
        let s = schema();
        let other = Arc::new(Schema::new(vec![Field::new("x", DataType::Int64, false)]));
        let b = RecordBatch::try_new(
            other.clone(),
            vec![Arc::new(Int64Array::from(vec![1])) as ArrayRef],
        )
        .unwrap();
        assert!(Partition::new(s, vec![b]).is_err());
        assert!(Partition::with_buckets(other, vec![]).is_err());
    }

    #[test]
    fn an_array_stream_of_a_foreign_schema_is_refused() {
        // Found by the `spill_file` fuzz target: an empty union column made Arrow panic
        // while building the empty batch of a chunk with no batches.
        let shape = HashMap::from([(SHAPE_METADATA.to_string(), "0".to_string())]);
        let union = DataType::Union(
            arrow_schema::UnionFields::empty(),
            arrow_schema::UnionMode::Sparse,
        );
        for fields in [
            vec![Field::new("values", union, false)],
            vec![],
            vec![
                Field::new("a", DataType::Float64, false),
                Field::new("b", DataType::Float64, false),
            ],
            vec![Field::new("values", DataType::Utf8, false)],
        ] {
            let schema = Arc::new(Schema::new_with_metadata(fields, shape.clone()));
            assert!(Value::from_record_batches(schema, vec![]).is_err());
        }
    }
}
