//! Where arrays meet tables on the cluster: a numeric column of a DataFrame becomes a 1-d
//! chunked array (one chunk per partition), and equal-length 1-d arrays become a table.

use super::context::Context;
use super::dataframe::DataFrame;
use super::stored::StoredTable;
use crate::array::{Array, Node, NodeKind};
use datafusion::arrow::datatypes::{Field, Schema};
use std::sync::Arc;
use tessera_core::key::Tokenizer;
use tessera_core::ops::Op;
use tessera_core::{DType, Error, Result, Task, TaskGraph, TaskKey};

impl DataFrame {
    /// Column `column` as a 1-d array with one chunk per partition, computed on the
    /// cluster: only the partitions' row counts (8 bytes each) come to the client.
    pub fn column_to_array(&self, column: &str) -> Result<Array> {
        let schema = self.schema();
        let field = schema.field_with_name(column).map_err(|_| {
            Error::Plan(format!(
                "no column named {column:?} (columns: {:?})",
                self.columns()
            ))
        })?;
        let dtype = DType::from_arrow(field.data_type()).map_err(|_| {
            Error::dtype(format!(
                "column {column:?} is {}; arrays hold bool, int32, int64, float32 or float64",
                field.data_type()
            ))
        })?;
        let (parts, part_hold) = self.compute_partitions()?;
        let name = Tokenizer::new("column")
            .str(column)
            .value(&parts.iter().map(|k| k.as_str()).collect::<Vec<_>>())
            .finish();
        let counts_name = Tokenizer::new("row-count").str(&name).finish();
        let mut graph = TaskGraph::default();
        let mut chunk_keys = Vec::with_capacity(parts.len());
        let mut count_keys = Vec::with_capacity(parts.len());
        for (i, part) in parts.iter().enumerate() {
            let key = TaskKey::chunk(&name, &[i]);
            let op = Op::ColumnToArray {
                column: column.to_string(),
                dtype,
            };
            graph
                .tasks
                .push(Task::new(key.clone(), &op, vec![part.clone()], 0));
            chunk_keys.push(key);
            let count = TaskKey::chunk(&counts_name, &[i]);
            graph.tasks.push(Task::new(
                count.clone(),
                &Op::RowCount,
                vec![part.clone()],
                8,
            ));
            count_keys.push(count);
        }
        let client = self.context().client();
        let mut wanted = chunk_keys.clone();
        wanted.extend(count_keys.iter().cloned());
        let hold = client.block_on(client.send_submission(graph, wanted, vec![], vec![], &[]))?;
        let mut lengths = Vec::with_capacity(count_keys.len());
        for key in &count_keys {
            let chunk = client.block_on(client.fetch_key(key))?;
            let n = chunk
                .to_ndarray::<i64>()?
                .iter()
                .copied()
                .next()
                .unwrap_or(0);
            lengths.push(n as usize);
        }
        drop(part_hold);
        let total = lengths.iter().sum();
        Ok(Array::wrap(Arc::new(Node {
            name,
            shape: vec![total],
            chunks: vec![lengths],
            dtype,
            kind: NodeKind::Held { hold },
        })))
    }
}

impl Context {
    /// A DataFrame whose columns `names` are the equal-length 1-d `arrays`, built on the
    /// cluster (one partition per chunk of the first array; the others are rechunked to
    /// match).
    pub fn from_arrays(&self, columns: &[(&str, &Array)]) -> Result<DataFrame> {
        let Some((_, first)) = columns.first() else {
            return Err(Error::other("from_arrays needs at least one column"));
        };
        let shape = first.shape()?.to_vec();
        if shape.len() != 1 {
            return Err(Error::shape(format!(
                "table columns must be 1-d arrays; {:?} has shape {shape:?}",
                columns[0].0
            )));
        }
        let chunks = first.chunks()?[0].clone();
        let client = self.client();
        let mut fields = Vec::new();
        let mut keys_per_column = Vec::new();
        let mut holds = Vec::new();
        for (name, array) in columns {
            let s = array.shape()?.to_vec();
            if s != shape {
                return Err(Error::shape(format!(
                    "column {name:?} has shape {s:?} but {:?} has shape {shape:?}",
                    columns[0].0
                )));
            }
            let aligned = array.rechunk_grid(vec![chunks.clone()]);
            aligned.shape()?;
            let persisted = client.persist(&aligned)?;
            keys_per_column.push(client.chunk_keys(&persisted)?);
            fields.push(Field::new(*name, array.dtype()?.arrow(), false));
            holds.push(persisted);
        }
        let names: Vec<String> = columns.iter().map(|(n, _)| n.to_string()).collect();
        let table_name = Tokenizer::new("from_arrays")
            .value(&names)
            .value(
                &keys_per_column
                    .iter()
                    .flatten()
                    .map(|k| k.as_str())
                    .collect::<Vec<_>>(),
            )
            .finish();
        let mut graph = TaskGraph::default();
        let mut keys = Vec::new();
        for i in 0..chunks.len() {
            let inputs: Vec<TaskKey> = keys_per_column.iter().map(|k| k[i].clone()).collect();
            let key = TaskKey::chunk(&table_name, &[i]);
            let op = Op::ArraysToTable {
                names: names.clone(),
            };
            graph.tasks.push(Task::new(key.clone(), &op, inputs, 0));
            keys.push(key);
        }
        let hold =
            client.block_on(client.send_submission(graph, keys.clone(), vec![], vec![], &[]))?;
        let schema = Arc::new(Schema::new(fields));
        let table = StoredTable::new(schema, keys, shape[0], hold);
        drop(holds);
        self.session()
            .read_table(Arc::new(table))
            .map(|df| DataFrame::new(self.clone(), df))
            .map_err(super::context::plan_error)
    }
}
