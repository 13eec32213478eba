//! `map_partitions` on the cluster: a call function registered in the worker binary runs
//! on each partition where it lives, and the results form a new table of a declared schema.

use super::dataframe::DataFrame;
use super::stored::StoredTable;
use datafusion::arrow::datatypes::SchemaRef;
use std::sync::Arc;
use tessera_core::key::Tokenizer;
use tessera_core::ops::Op;
use tessera_core::{Error, Result, Task, TaskGraph, TaskKey};

impl DataFrame {
    /// Run the call function `name` (see [`crate::register_call`]) with argument bytes
    /// `args` on every partition of this DataFrame; each call gets one table partition
    /// and must return one whose columns are `schema`'s (a partition of another schema
    /// makes the stages that read it err). The result is computed now and kept on the
    /// cluster:
    /// only each partition's row count (8 bytes) comes to the client.
    pub fn map_partitions_call(
        &self,
        name: &str,
        args: Vec<u8>,
        schema: SchemaRef,
    ) -> Result<DataFrame> {
        if name.is_empty() {
            return Err(Error::other(
                "map_partitions: the call function needs a name",
            ));
        }
        let (parts, part_hold) = self.compute_partitions()?;
        let token = Tokenizer::new(name)
            .bytes(&args)
            .value(&parts.iter().map(|k| k.as_str()).collect::<Vec<_>>())
            .value(&schema.to_string())
            .finish();
        let counts_name = Tokenizer::new("row-count").str(&token).finish();
        let op = Op::Call {
            name: name.to_string(),
            args,
        };
        let mut graph = TaskGraph::default();
        let (mut out_keys, mut count_keys) = (Vec::new(), Vec::new());
        for (i, part) in parts.iter().enumerate() {
            let key = TaskKey::chunk(&token, &[i]);
            graph
                .tasks
                .push(Task::new(key.clone(), &op, vec![part.clone()], 0));
            let count = TaskKey::chunk(&counts_name, &[i]);
            graph.tasks.push(Task::new(
                count.clone(),
                &Op::RowCount,
                vec![key.clone()],
                8,
            ));
            out_keys.push(key);
            count_keys.push(count);
        }
        let client = self.context().client();
        let mut wanted = out_keys.clone();
        wanted.extend(count_keys.iter().cloned());
        let hold = client.block_on(client.send_submission(graph, wanted, vec![], vec![], &[]))?;
        let mut rows = 0usize;
        for key in &count_keys {
            let chunk = client.block_on(client.fetch_key(key))?;
            rows += chunk.to_ndarray::<i64>()?.iter().copied().sum::<i64>() as usize;
        }
        drop(part_hold);
        let table = StoredTable::new(schema, out_keys, rows, hold);
        let ctx = self.context().clone();
        ctx.session()
            .read_table(Arc::new(table))
            .map(|df| DataFrame::new(ctx.clone(), df))
            .map_err(super::context::plan_error)
    }
}
