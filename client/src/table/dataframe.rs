//! A distributed DataFrame: DataFusion's logical plan builder for the shape of the query,
//! Tessera's planner and cluster for running it (`collect`, `to_parquet`, `explain`).

use super::context::{Context, plan_error};
use super::planner::{self, DistributedPlan};
use crate::client::KeyHold;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::JoinType;
use datafusion::logical_expr::{Expr, SortExpr};
use std::sync::Arc;
use tessera_core::ops::TableSink;
use tessera_core::{Error, Result, TaskKey};

/// A lazy, partitioned table. Every method returns a new DataFrame; nothing runs until
/// [`DataFrame::collect`], [`DataFrame::to_parquet`] or [`DataFrame::count`].
#[derive(Clone)]
pub struct DataFrame {
    ctx: Context,
    df: datafusion::dataframe::DataFrame,
}

impl std::fmt::Debug for DataFrame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DataFrame")
            .field("schema", &self.df.schema().as_arrow())
            .finish()
    }
}

/// A grouping in progress: `df.groupby(keys).agg(aggregates)`.
pub struct GroupBy {
    df: DataFrame,
    keys: Vec<Expr>,
}

impl GroupBy {
    /// One row per group with `aggregates` (any DataFusion aggregate expressions).
    pub fn agg(self, aggregates: Vec<Expr>) -> Result<DataFrame> {
        self.df.aggregate(self.keys, aggregates)
    }
}

/// The partitions of a computed DataFrame, still on the workers.
struct Computed {
    keys: Vec<TaskKey>,
    _hold: Arc<KeyHold>,
}

impl DataFrame {
    pub(crate) fn new(ctx: Context, df: datafusion::dataframe::DataFrame) -> Self {
        DataFrame { ctx, df }
    }

    /// The context this DataFrame belongs to.
    pub fn context(&self) -> &Context {
        &self.ctx
    }

    /// Compute the DataFrame and keep its partitions on the cluster: their keys, in
    /// partition order, and the hold that keeps them.
    pub(crate) fn compute_partitions(&self) -> Result<(Vec<TaskKey>, Arc<KeyHold>)> {
        let computed = self.compute(None)?;
        Ok((computed.keys, computed._hold))
    }

    /// The DataFusion DataFrame this wraps (its logical plan).
    pub fn inner(&self) -> &datafusion::dataframe::DataFrame {
        &self.df
    }

    fn map(
        &self,
        f: impl FnOnce(
            datafusion::dataframe::DataFrame,
        ) -> datafusion::error::Result<datafusion::dataframe::DataFrame>,
    ) -> Result<DataFrame> {
        f(self.df.clone())
            .map(|df| DataFrame::new(self.ctx.clone(), df))
            .map_err(plan_error)
    }

    /// The output schema.
    pub fn schema(&self) -> SchemaRef {
        Arc::new(self.df.schema().as_arrow().clone())
    }

    /// Column names, in order.
    pub fn columns(&self) -> Vec<String> {
        self.df
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect()
    }

    /// Keep only these expressions (columns or computed values, aliased with `alias`).
    pub fn select(&self, exprs: Vec<Expr>) -> Result<DataFrame> {
        self.map(|df| df.select(exprs))
    }

    /// Keep only these columns.
    pub fn select_columns(&self, columns: &[&str]) -> Result<DataFrame> {
        self.map(|df| df.select_columns(columns))
    }

    /// Keep the rows where `predicate` is true.
    pub fn filter(&self, predicate: Expr) -> Result<DataFrame> {
        self.map(|df| df.filter(predicate))
    }

    /// Add (or replace) column `name` computed by `expr`.
    pub fn with_column(&self, name: &str, expr: Expr) -> Result<DataFrame> {
        self.map(|df| df.with_column(name, expr))
    }

    /// Rename column `old` to `new`; an unknown `old` is an error naming it.
    pub fn rename(&self, old: &str, new: &str) -> Result<DataFrame> {
        if !self.columns().iter().any(|c| c == old) {
            return Err(Error::Plan(format!(
                "cannot rename {old:?}: no such column (columns: {:?})",
                self.columns()
            )));
        }
        self.map(|df| df.with_column_renamed(old, new))
    }

    /// Drop these columns; an unknown name is an error naming it.
    pub fn drop(&self, columns: &[&str]) -> Result<DataFrame> {
        let have = self.columns();
        if let Some(missing) = columns.iter().find(|c| !have.iter().any(|h| h == *c)) {
            return Err(Error::Plan(format!(
                "cannot drop {missing:?}: no such column (columns: {have:?})"
            )));
        }
        self.map(|df| df.drop_columns(columns))
    }

    /// Start a grouping by `keys`; finish it with [`GroupBy::agg`].
    pub fn groupby(&self, keys: Vec<Expr>) -> GroupBy {
        GroupBy {
            df: self.clone(),
            keys,
        }
    }

    /// Group by `group` and compute `aggregates` (partial per partition, then final after
    /// a hash exchange; DataFusion plans both).
    pub fn aggregate(&self, group: Vec<Expr>, aggregates: Vec<Expr>) -> Result<DataFrame> {
        self.map(|df| df.aggregate(group, aggregates))
    }

    /// Join with `right` on equal columns (`left_on[i] == right_on[i]`), with an optional
    /// extra `filter`. Small sides are broadcast, large ones hash-partitioned.
    pub fn join(
        &self,
        right: &DataFrame,
        how: JoinType,
        left_on: &[&str],
        right_on: &[&str],
        filter: Option<Expr>,
    ) -> Result<DataFrame> {
        let r = right.df.clone();
        self.map(|df| df.join(r, how, left_on, right_on, filter))
    }

    /// Join with `right` on arbitrary expressions.
    pub fn join_on(&self, right: &DataFrame, how: JoinType, on: Vec<Expr>) -> Result<DataFrame> {
        let r = right.df.clone();
        self.map(|df| df.join_on(r, how, on))
    }

    /// Sort by these expressions (`col("a").sort(true, false)`).
    pub fn sort(&self, by: Vec<SortExpr>) -> Result<DataFrame> {
        self.map(|df| df.sort(by))
    }

    /// Skip `skip` rows, then keep at most `fetch` (all when `None`).
    pub fn limit(&self, skip: usize, fetch: Option<usize>) -> Result<DataFrame> {
        self.map(|df| df.limit(skip, fetch))
    }

    /// The first `n` rows.
    pub fn head(&self, n: usize) -> Result<DataFrame> {
        self.limit(0, Some(n))
    }

    /// Distinct rows.
    pub fn distinct(&self) -> Result<DataFrame> {
        self.map(|df| df.distinct())
    }

    /// The rows of both (`UNION ALL`); the schemas must match.
    pub fn union(&self, other: &DataFrame) -> Result<DataFrame> {
        let o = other.df.clone();
        self.map(|df| df.union(o))
    }

    /// The distinct rows of both (`UNION`).
    pub fn union_distinct(&self, other: &DataFrame) -> Result<DataFrame> {
        let o = other.df.clone();
        self.map(|df| df.union_distinct(o))
    }

    /// Add window-function columns (`row_number().partition_by(..).order_by(..)`, ...).
    pub fn window(&self, exprs: Vec<Expr>) -> Result<DataFrame> {
        self.map(|df| df.window(exprs))
    }

    /// The optimized DataFusion physical plan cut into Tessera stages.
    fn distributed_plan(&self) -> Result<DistributedPlan> {
        let physical = self
            .ctx
            .client()
            .block_on(self.df.clone().create_physical_plan())
            .map_err(plan_error)?;
        planner::cut(physical)
    }

    /// The stages this DataFrame runs as: per stage, its task count, where its inputs come
    /// from (shuffles, merges, stored partitions) and its plan fragment.
    pub fn explain(&self) -> Result<String> {
        Ok(planner::describe(&self.distributed_plan()?))
    }

    fn compute(&self, sink: Option<&dyn Fn(usize) -> TableSink>) -> Result<Computed> {
        let plan = self.distributed_plan()?;
        let tasks = planner::tasks(&plan, sink)?;
        let client = self.ctx.client();
        let keys = tasks.outputs.clone();
        let hold = client.block_on(client.send_submission(
            tasks.graph,
            tasks.outputs,
            vec![],
            vec![],
            &[],
        ))?;
        Ok(Computed { keys, _hold: hold })
    }

    fn fetch(&self, computed: &Computed) -> Result<Vec<RecordBatch>> {
        let client = self.ctx.client();
        let parts = client.block_on(futures::future::join_all(
            computed.keys.iter().map(|k| client.fetch_value(k)),
        ));
        let mut out = Vec::new();
        for part in parts {
            out.extend(part?.into_partition("a table result")?.batches());
        }
        Ok(out)
    }

    /// Run the query on the cluster and bring every row to the client, in the query's
    /// order when it has one.
    pub fn collect(&self) -> Result<Vec<RecordBatch>> {
        let computed = self.compute(None)?;
        self.fetch(&computed)
    }

    /// Run the query and stream the result to the client one partition at a time.
    pub fn execute_stream(&self) -> Result<impl Iterator<Item = Result<RecordBatch>> + use<>> {
        let computed = self.compute(None)?;
        let client = self.ctx.client().clone();
        let mut pending = computed.keys.clone().into_iter();
        let mut ready: std::vec::IntoIter<RecordBatch> = Vec::new().into_iter();
        Ok(std::iter::from_fn(move || {
            let _keep = &computed;
            loop {
                if let Some(b) = ready.next() {
                    return Some(Ok(b));
                }
                let key = pending.next()?;
                match client
                    .block_on(client.fetch_value(&key))
                    .and_then(|v| v.into_partition("a table result"))
                {
                    Ok(p) => ready = p.batches().into_iter(),
                    Err(e) => return Some(Err(e)),
                }
            }
        }))
    }

    /// The number of rows (computed on the cluster).
    pub fn count(&self) -> Result<usize> {
        let counted = self.map(|df| {
            df.aggregate(
                vec![],
                vec![datafusion::functions_aggregate::count::count_all().alias("n")],
            )
        })?;
        let batches = counted.collect()?;
        let column = batches
            .first()
            .map(|b| b.column(0).clone())
            .ok_or_else(|| Error::other("count returned no rows"))?;
        let n = column
            .as_any()
            .downcast_ref::<datafusion::arrow::array::Int64Array>()
            .map(|a| a.value(0))
            .ok_or_else(|| Error::other("count returned a non-integer"))?;
        Ok(n as usize)
    }

    /// Write one Parquet file per partition into directory `dir` (created if missing),
    /// each by the worker that computed the partition. Returns the files written.
    pub fn to_parquet(&self, dir: &str) -> Result<Vec<String>> {
        std::fs::create_dir_all(dir)
            .map_err(|e| Error::other(format!("cannot create {dir}: {e}")))?;
        let base = std::path::Path::new(dir)
            .canonicalize()
            .map_err(|e| Error::other(format!("cannot resolve {dir}: {e}")))?;
        let sink = move |j: usize| TableSink::Parquet {
            path: base
                .join(format!("part-{j:05}.parquet"))
                .to_string_lossy()
                .into_owned(),
        };
        let computed = self.compute(Some(&sink))?;
        let written = self.fetch(&computed)?;
        let mut paths = Vec::new();
        for batch in written {
            let column = batch
                .column(0)
                .as_any()
                .downcast_ref::<datafusion::arrow::array::StringArray>()
                .ok_or_else(|| Error::other("a parquet write returned no path"))?;
            paths.extend(column.iter().flatten().map(str::to_string));
        }
        Ok(paths)
    }
}
