//! Tables whose partitions a client put on the workers (`from_batches`, DataFrames kept
//! with `persist`): a DataFusion table provider whose scan the distributed planner reads.

use crate::client::KeyHold;
use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::stats::Precision;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::{Statistics, project_schema};
use datafusion::datasource::TableType;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::TaskContext;
use datafusion::logical_expr::Expr;
use datafusion::physical_expr::{EquivalenceProperties, PhysicalExpr};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, Partitioning, PlanProperties,
    ReplaceChildrenOptions, SendableRecordBatchStream,
};
use std::sync::Arc;
use tessera_core::TaskKey;

/// A table held on the cluster, one stored value per partition.
#[derive(Debug)]
pub struct StoredTable {
    schema: SchemaRef,
    keys: Vec<TaskKey>,
    rows: usize,
    // Keeps the partitions on the cluster while the table is registered or referenced.
    _hold: Arc<KeyHold>,
}

impl StoredTable {
    /// A table of `schema` whose partitions are stored under `keys` (`rows` in all),
    /// kept alive by `hold`.
    pub fn new(schema: SchemaRef, keys: Vec<TaskKey>, rows: usize, hold: Arc<KeyHold>) -> Self {
        StoredTable {
            schema,
            keys,
            rows,
            _hold: hold,
        }
    }
}

#[async_trait]
impl TableProvider for StoredTable {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    async fn scan(
        &self,
        _state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        _limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        Ok(Arc::new(StoredTableExec::try_new(
            self.schema.clone(),
            self.keys.clone(),
            self.rows,
            projection.cloned(),
        )?))
    }

    fn statistics(&self) -> Option<Statistics> {
        Some(Statistics::new_unknown(&self.schema).with_num_rows(Precision::Exact(self.rows)))
    }
}

/// The scan of a [`StoredTable`]; the distributed planner replaces it with a stage input.
/// It never runs on the client.
#[derive(Debug)]
pub struct StoredTableExec {
    schema: SchemaRef,
    keys: Vec<TaskKey>,
    rows: usize,
    projection: Option<Vec<usize>>,
    properties: Arc<PlanProperties>,
}

impl StoredTableExec {
    fn try_new(
        schema: SchemaRef,
        keys: Vec<TaskKey>,
        rows: usize,
        projection: Option<Vec<usize>>,
    ) -> Result<Self> {
        let projected = project_schema(&schema, projection.as_ref())?;
        let properties = PlanProperties::new(
            EquivalenceProperties::new(projected),
            Partitioning::UnknownPartitioning(keys.len().max(1)),
            EmissionType::Incremental,
            Boundedness::Bounded,
        );
        Ok(StoredTableExec {
            schema,
            keys,
            rows,
            projection,
            properties: Arc::new(properties),
        })
    }

    /// The stored partitions' keys.
    pub fn keys(&self) -> &[TaskKey] {
        &self.keys
    }

    /// The table's schema (before projection).
    pub fn table_schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// The scanned columns, if not all.
    pub fn projection(&self) -> Option<&[usize]> {
        self.projection.as_deref()
    }
}

impl DisplayAs for StoredTableExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(f, "StoredTableExec: partitions={}", self.keys.len())
    }
}

impl ExecutionPlan for StoredTableExec {
    fn name(&self) -> &str {
        "StoredTableExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn replace_children(
        self: Arc<Self>,
        _children: Vec<Arc<dyn ExecutionPlan>>,
        _options: ReplaceChildrenOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        Ok(self)
    }

    #[allow(deprecated)]
    fn with_new_children(
        self: Arc<Self>,
        _children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        Ok(self)
    }

    fn execute(
        &self,
        _partition: usize,
        _context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        Err(DataFusionError::Execution(
            "a stored table is read on the cluster, not on the client".into(),
        ))
    }

    fn partition_statistics(&self, partition: Option<usize>) -> Result<Arc<Statistics>> {
        let schema = self.properties.eq_properties.schema().clone();
        let stats = Statistics::new_unknown(&schema);
        Ok(Arc::new(match partition {
            None => stats.with_num_rows(Precision::Exact(self.rows)),
            Some(_) => stats,
        }))
    }
}
