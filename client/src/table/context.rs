//! The entry point for tables: a DataFusion session whose tables are Parquet and CSV files,
//! in-memory batches stored on the cluster, and DataFrames; queries run on the cluster.

use super::dataframe::DataFrame;
use super::stored::StoredTable;
use crate::client::Client;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::error::DataFusionError;
use datafusion::prelude::{CsvReadOptions, ParquetReadOptions, SessionConfig, SessionContext};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tessera_core::key::Tokenizer;
use tessera_core::{Error, Partition, Result, TaskGraph, TaskKey, Value};

/// A DataFusion error as a Tessera plan error, keeping DataFusion's message.
pub(crate) fn plan_error(e: DataFusionError) -> Error {
    Error::Plan(e.to_string())
}

/// Tables and SQL on a cluster: register sources, then query them with [`Context::sql`]
/// or the [`DataFrame`] API; results are computed by the workers.
#[derive(Clone)]
pub struct Context {
    client: Client,
    session: SessionContext,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("scheduler", &self.client.scheduler_address())
            .finish()
    }
}

impl Context {
    /// A context planning as many partitions per stage as the cluster has kernel threads.
    pub fn new(client: &Client) -> Result<Context> {
        let threads: u64 = client
            .cluster_info()?
            .workers
            .iter()
            .map(|w| w.registration.threads as u64)
            .sum();
        Self::with_partitions(client, threads.clamp(2, 256) as usize)
    }

    /// A context planning `partitions` partitions per stage.
    pub fn with_partitions(client: &Client, partitions: usize) -> Result<Context> {
        if partitions == 0 {
            return Err(Error::other("a table context needs at least one partition"));
        }
        let mut config = SessionConfig::new()
            .with_target_partitions(partitions)
            .with_information_schema(true);
        let options = config.options_mut();
        // Dynamic filters pass information between operators at run time inside one
        // process; stages run in different processes, so they are off.
        options.optimizer.enable_dynamic_filter_pushdown = false;
        options.optimizer.enable_join_dynamic_filter_pushdown = false;
        options.optimizer.enable_topk_dynamic_filter_pushdown = false;
        options.optimizer.enable_aggregate_dynamic_filter_pushdown = false;
        options.optimizer.prefer_existing_sort = false;
        // Each task runs one partition: file streams must not take sibling partitions' files.
        options.execution.enable_file_stream_work_stealing = false;
        Ok(Context {
            client: client.clone(),
            session: SessionContext::new_with_config(config),
        })
    }

    /// The client that runs this context's queries.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The DataFusion session (to register functions, set options, build expressions).
    pub fn session(&self) -> &SessionContext {
        &self.session
    }

    fn wrap(&self, df: datafusion::dataframe::DataFrame) -> DataFrame {
        DataFrame::new(self.clone(), df)
    }

    /// Register the Parquet file, directory or glob at `path` as table `name`.
    pub fn register_parquet(&self, name: &str, path: &str) -> Result<()> {
        self.client
            .block_on(
                self.session
                    .register_parquet(name, path, ParquetReadOptions::default()),
            )
            .map_err(plan_error)
    }

    /// Register CSV files at `path` as table `name` (schema inferred unless `options`
    /// give one).
    pub fn register_csv(&self, name: &str, path: &str, options: CsvReadOptions<'_>) -> Result<()> {
        self.client
            .block_on(self.session.register_csv(name, path, options))
            .map_err(plan_error)
    }

    /// Register `df` as table `name` (a view: it is planned again inside every query).
    pub fn register_dataframe(&self, name: &str, df: &DataFrame) -> Result<()> {
        self.session
            .register_table(name, df.inner().clone().into_view())
            .map(|_| ())
            .map_err(plan_error)
    }

    /// Store `batches` on the cluster in `partitions` partitions and register them as
    /// table `name`.
    pub fn register_batches(
        &self,
        name: &str,
        batches: Vec<RecordBatch>,
        partitions: usize,
    ) -> Result<()> {
        let table = self.store_batches(batches, partitions)?;
        self.session
            .register_table(name, Arc::new(table))
            .map(|_| ())
            .map_err(plan_error)
    }

    /// A DataFrame reading the Parquet file, directory or glob at `path`.
    pub fn read_parquet(&self, path: &str) -> Result<DataFrame> {
        self.client
            .block_on(
                self.session
                    .read_parquet(path, ParquetReadOptions::default()),
            )
            .map(|df| self.wrap(df))
            .map_err(plan_error)
    }

    /// A DataFrame reading CSV files at `path`.
    pub fn read_csv(&self, path: &str, options: CsvReadOptions<'_>) -> Result<DataFrame> {
        self.client
            .block_on(self.session.read_csv(path, options))
            .map(|df| self.wrap(df))
            .map_err(plan_error)
    }

    /// A DataFrame over `batches`, stored on the cluster in `partitions` partitions.
    pub fn from_batches(&self, batches: Vec<RecordBatch>, partitions: usize) -> Result<DataFrame> {
        let table = self.store_batches(batches, partitions)?;
        self.session
            .read_table(Arc::new(table))
            .map(|df| self.wrap(df))
            .map_err(plan_error)
    }

    /// A DataFrame for the registered table `name`.
    pub fn table(&self, name: &str) -> Result<DataFrame> {
        self.client
            .block_on(self.session.table(name))
            .map(|df| self.wrap(df))
            .map_err(plan_error)
    }

    /// Plan a SQL statement over the registered tables. Unknown tables and columns,
    /// type errors and malformed SQL are refused here, with DataFusion's message.
    pub fn sql(&self, sql: &str) -> Result<DataFrame> {
        self.client
            .block_on(self.session.sql(sql))
            .map(|df| self.wrap(df))
            .map_err(plan_error)
    }

    /// Split `batches` into `partitions` partitions of about equal rows, put them on the
    /// workers (round robin) and return the table that reads them.
    fn store_batches(&self, batches: Vec<RecordBatch>, partitions: usize) -> Result<StoredTable> {
        let Some(first) = batches.first() else {
            return Err(Error::other(
                "from_batches needs at least one batch (for the schema)",
            ));
        };
        let schema: SchemaRef = first.schema();
        let parts = split_rows(&schema, batches, partitions.max(1))?;
        let rows: usize = parts.iter().map(|p| p.num_rows()).sum();
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let token = Tokenizer::new("from_batches")
            .u64(std::process::id() as u64)
            .u64(NEXT.fetch_add(1, Ordering::Relaxed))
            .u64(
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_nanos() as u64)
                    .unwrap_or(0),
            )
            .finish();
        let values: Vec<(TaskKey, Value)> = parts
            .into_iter()
            .enumerate()
            .map(|(i, p)| (TaskKey::chunk(&token, &[i]), Value::Table(p)))
            .collect();
        let keys: Vec<TaskKey> = values.iter().map(|(k, _)| k.clone()).collect();
        let client = &self.client;
        let hold = client.block_on(async {
            let scattered = client.scatter_values(values).await?;
            client
                .send_submission(TaskGraph::default(), keys.clone(), scattered, vec![], &[])
                .await
        })?;
        Ok(StoredTable::new(schema, keys, rows, hold))
    }
}

/// `batches` re-cut into `n` partitions of nearly equal row counts (slices, no copies).
fn split_rows(schema: &SchemaRef, batches: Vec<RecordBatch>, n: usize) -> Result<Vec<Partition>> {
    for b in &batches {
        if b.schema().fields() != schema.fields() {
            return Err(Error::other(format!(
                "from_batches: a batch has schema {} but the first has {}",
                b.schema(),
                schema
            )));
        }
    }
    let total: usize = batches.iter().map(|b| b.num_rows()).sum();
    let mut parts = Vec::with_capacity(n);
    let mut rows = batches.into_iter().flat_map(|b| {
        // Normalize every batch to the first one's schema (metadata may differ).
        RecordBatch::try_new(schema.clone(), b.columns().to_vec()).into_iter()
    });
    let mut carry: Option<RecordBatch> = None;
    for i in 0..n {
        let want = total / n + usize::from(i < total % n);
        let mut got = Vec::new();
        let mut need = want;
        while need > 0 {
            let Some(b) = carry.take().or_else(|| rows.next()) else {
                break;
            };
            if b.num_rows() <= need {
                need -= b.num_rows();
                got.push(b);
            } else {
                got.push(b.slice(0, need));
                carry = Some(b.slice(need, b.num_rows() - need));
                need = 0;
            }
        }
        parts.push(Partition::new(schema.clone(), got)?);
    }
    Ok(parts)
}
