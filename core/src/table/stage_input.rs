//! The leaf that feeds a plan fragment with data the cluster already holds: the output of
//! an earlier stage (whole, or one bucket of a shuffle) or a partition a client stored.

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::TaskContext;
use datafusion::physical_expr::{EquivalenceProperties, PhysicalExpr};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::memory::MemoryStream;
use datafusion::physical_plan::{
    ChildrenPropertiesMode, DisplayAs, DisplayFormatType, ExecutionPlan, Partitioning,
    PlanProperties, ReplaceChildrenOptions, SendableRecordBatchStream,
};
use std::collections::HashMap;
use std::sync::Arc;

/// A plan leaf whose partitions are bound, per task, to batches the worker gathered
/// (see [`StageInputs`]). `id` tells leaves of one fragment apart.
#[derive(Debug, Clone)]
pub struct StageInputExec {
    id: u32,
    schema: SchemaRef,
    partitions: usize,
    projection: Option<Vec<usize>>,
    properties: Arc<PlanProperties>,
}

impl StageInputExec {
    /// A leaf `id` of `partitions` partitions whose bound batches have `schema`; with a
    /// `projection`, only those columns (of `schema`) come out.
    pub fn try_new(
        id: u32,
        schema: SchemaRef,
        partitions: usize,
        projection: Option<Vec<usize>>,
    ) -> Result<Self> {
        let output = match &projection {
            Some(p) => Arc::new(schema.project(p)?),
            None => schema.clone(),
        };
        let properties = PlanProperties::new(
            EquivalenceProperties::new(output),
            Partitioning::UnknownPartitioning(partitions.max(1)),
            EmissionType::Incremental,
            Boundedness::Bounded,
        );
        Ok(StageInputExec {
            id,
            schema,
            partitions: partitions.max(1),
            projection,
            properties: Arc::new(properties),
        })
    }

    /// The leaf's id within its fragment.
    pub fn id(&self) -> u32 {
        self.id
    }

    /// Schema of the bound batches (before projection).
    pub fn input_schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// Number of partitions.
    pub fn partitions(&self) -> usize {
        self.partitions
    }

    /// Columns taken from the bound batches, if not all.
    pub fn projection(&self) -> Option<&[usize]> {
        self.projection.as_deref()
    }
}

impl DisplayAs for StageInputExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(
            f,
            "StageInputExec: input={}, partitions={}",
            self.id, self.partitions
        )?;
        if let Some(p) = &self.projection {
            write!(f, ", projection={p:?}")?;
        }
        Ok(())
    }
}

impl ExecutionPlan for StageInputExec {
    fn name(&self) -> &str {
        "StageInputExec"
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
        children: Vec<Arc<dyn ExecutionPlan>>,
        _options: ReplaceChildrenOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        if !children.is_empty() {
            return Err(DataFusionError::Internal(
                "StageInputExec is a leaf and takes no children".into(),
            ));
        }
        Ok(self)
    }

    #[allow(deprecated)]
    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        self.replace_children(
            children,
            ReplaceChildrenOptions::new(ChildrenPropertiesMode::Recompute),
        )
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let inputs = context
            .session_config()
            .get_extension::<StageInputs>()
            .ok_or_else(|| {
                DataFusionError::Execution(
                    "StageInputExec runs only inside a Tessera task (no inputs are bound)".into(),
                )
            })?;
        let batches = inputs.get(self.id, partition).ok_or_else(|| {
            DataFusionError::Execution(format!(
                "input {} partition {partition} is not bound to this task",
                self.id
            ))
        })?;
        Ok(Box::pin(MemoryStream::try_new(
            batches,
            self.schema.clone(),
            self.projection.clone(),
        )?))
    }
}

/// The batches bound to each `(leaf, partition)` of a fragment for one task, handed to
/// [`StageInputExec`] through the task's session config.
#[derive(Debug, Default)]
pub struct StageInputs {
    bound: HashMap<(u32, usize), Vec<RecordBatch>>,
}

impl StageInputs {
    /// Add `batches` to what leaf `leaf` yields for `partition`.
    pub fn bind(&mut self, leaf: u32, partition: usize, batches: Vec<RecordBatch>) {
        self.bound
            .entry((leaf, partition))
            .or_default()
            .extend(batches);
    }

    /// Mark `(leaf, partition)` as bound, possibly to nothing.
    pub fn bind_empty(&mut self, leaf: u32, partition: usize) {
        self.bound.entry((leaf, partition)).or_default();
    }

    /// What leaf `leaf` yields for `partition`, if bound.
    pub fn get(&self, leaf: u32, partition: usize) -> Option<Vec<RecordBatch>> {
        self.bound.get(&(leaf, partition)).cloned()
    }
}
