//! The distributed planner: cuts a DataFusion physical plan into stages at its exchanges
//! (repartitions, merges) and turns every partition of every stage into one graph task.

use super::stored::StoredTableExec;
use datafusion::common::JoinType;
use datafusion::physical_plan::Partitioning;
use datafusion::physical_plan::coalesce_partitions::CoalescePartitionsExec;
use datafusion::physical_plan::joins::{
    CrossJoinExec, HashJoinExec, NestedLoopJoinExec, PartitionMode,
};
use datafusion::physical_plan::repartition::RepartitionExec;
use datafusion::physical_plan::scalar_subquery::ScalarSubqueryExec;
use datafusion::physical_plan::sorts::sort_preserving_merge::SortPreservingMergeExec;
use datafusion::physical_plan::union::UnionExec;
use datafusion::physical_plan::{
    ChildrenPropertiesMode, ExecutionPlan, ExecutionPlanProperties, ReplaceChildrenOptions,
    displayable,
};
use std::collections::HashMap;
use std::sync::Arc;
use tessera_core::key::Tokenizer;
use tessera_core::ops::{Op, StageBinding, TableSink, TableStage};
use tessera_core::table::{StageInputExec, plan_to_bytes};
use tessera_core::{Error, Result, Task, TaskGraph, TaskKey};

/// Where a leaf of a stage gets partition `p` from.
#[derive(Clone, Debug)]
pub enum LeafSource {
    /// Bucket `p` of every task of stage `stage` (a hash or round-robin exchange).
    Exchange {
        /// The producing stage.
        stage: usize,
    },
    /// Task `p` of stage `stage`, whole (the input of a coalesce or sort-preserving merge).
    Merge {
        /// The producing stage.
        stage: usize,
    },
    /// Partition `p` of a table the client stored on the cluster.
    Stored {
        /// The stored partitions' keys.
        keys: Vec<TaskKey>,
    },
}

/// One stage: a plan fragment whose leaves read earlier stages or stored partitions.
#[derive(Clone, Debug)]
pub struct Stage {
    /// The fragment (for a splitting stage, a `RepartitionExec` over what each task runs).
    pub plan: Arc<dyn ExecutionPlan>,
    /// Whether tasks split their output into buckets (the producer of an exchange).
    pub split: bool,
    /// Number of tasks (partitions computed).
    pub tasks: usize,
    /// Source of each leaf, by leaf id.
    pub leaves: Vec<LeafSource>,
}

/// A physical plan cut into stages; the last one produces the result.
#[derive(Clone, Debug)]
pub struct DistributedPlan {
    /// Stages in dependency order.
    pub stages: Vec<Stage>,
}

fn replace(
    plan: &Arc<dyn ExecutionPlan>,
    children: Vec<Arc<dyn ExecutionPlan>>,
) -> Result<Arc<dyn ExecutionPlan>> {
    if children.is_empty() {
        return Ok(plan.clone());
    }
    plan.clone()
        .replace_children(
            children,
            ReplaceChildrenOptions::new(ChildrenPropertiesMode::Recompute),
        )
        .map_err(|e| Error::Plan(format!("rebuilding {}: {e}", plan.name())))
}

fn partitions(plan: &Arc<dyn ExecutionPlan>) -> usize {
    plan.output_partitioning().partition_count()
}

/// Cut `plan` into stages.
pub fn cut(plan: Arc<dyn ExecutionPlan>) -> Result<DistributedPlan> {
    let mut planner = Planner { stages: Vec::new() };
    planner.stage(plan, false)?;
    Ok(DistributedPlan {
        stages: planner.stages,
    })
}

struct Planner {
    stages: Vec<Stage>,
}

impl Planner {
    /// Make `root` a stage (for a split, `root` is the repartition) and return its id.
    fn stage(&mut self, root: Arc<dyn ExecutionPlan>, split: bool) -> Result<usize> {
        let mut leaves = Vec::new();
        let (plan, tasks) = if split {
            let child = root.children()[0].clone();
            let child = self.rewrite(&child, &mut leaves)?;
            let tasks = partitions(&child);
            (replace(&root, vec![child])?, tasks)
        } else {
            let plan = self.rewrite(&root, &mut leaves)?;
            let tasks = partitions(&plan);
            (plan, tasks)
        };
        self.stages.push(Stage {
            plan,
            split,
            tasks,
            leaves,
        });
        Ok(self.stages.len() - 1)
    }

    fn rewrite(
        &mut self,
        node: &Arc<dyn ExecutionPlan>,
        leaves: &mut Vec<LeafSource>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        if let Some(single) = single_probe_join(node)? {
            return self.rewrite(&single, leaves);
        }
        if node.is::<ScalarSubqueryExec>() {
            return self.opaque(node, leaves);
        }
        if let Some(stored) = node.downcast_ref::<StoredTableExec>() {
            let id = leaves.len() as u32;
            leaves.push(LeafSource::Stored {
                keys: stored.keys().to_vec(),
            });
            let leaf = StageInputExec::try_new(
                id,
                stored.table_schema().clone(),
                stored.keys().len(),
                stored.projection().map(|p| p.to_vec()),
            )
            .map_err(|e| Error::Plan(e.to_string()))?;
            return Ok(Arc::new(leaf));
        }
        if let Some(repartition) = node.downcast_ref::<RepartitionExec>() {
            if repartition.preserve_order() {
                return Err(Error::Plan(
                    "order-preserving repartitions cannot be distributed yet".into(),
                ));
            }
            let stage = self.stage(node.clone(), true)?;
            let id = leaves.len() as u32;
            leaves.push(LeafSource::Exchange { stage });
            let leaf = StageInputExec::try_new(id, node.schema(), partitions(node), None)
                .map_err(|e| Error::Plan(e.to_string()))?;
            return Ok(Arc::new(leaf));
        }
        let merges = node.is::<CoalescePartitionsExec>() || node.is::<SortPreservingMergeExec>();
        if merges && partitions(node.children()[0]) > 1 {
            let child = node.children()[0].clone();
            let n = partitions(&child);
            let schema = child.schema();
            let stage = self.stage(child, false)?;
            let id = leaves.len() as u32;
            leaves.push(LeafSource::Merge { stage });
            let leaf = StageInputExec::try_new(id, schema, n, None)
                .map_err(|e| Error::Plan(e.to_string()))?;
            return replace(node, vec![Arc::new(leaf)]);
        }
        let children = node
            .children()
            .into_iter()
            .map(|c| self.rewrite(c, leaves))
            .collect::<Result<Vec<_>>>()?;
        replace(node, children)
    }
}

impl Planner {
    /// A subtree that cannot be cut (a scalar subquery's expressions refer to the node
    /// that computes them): it runs whole, in one task, and its rows are repartitioned
    /// as the subtree's own output was for what reads it.
    fn opaque(
        &mut self,
        node: &Arc<dyn ExecutionPlan>,
        leaves: &mut Vec<LeafSource>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let n = partitions(node);
        let whole: Arc<dyn ExecutionPlan> = if n > 1 {
            Arc::new(CoalescePartitionsExec::new(node.clone()))
        } else {
            node.clone()
        };
        let restore = match node.output_partitioning() {
            Partitioning::Hash(exprs, n) => Partitioning::Hash(exprs.clone(), *n),
            other => Partitioning::RoundRobinBatch(other.partition_count()),
        };
        let split: Arc<dyn ExecutionPlan> = Arc::new(
            RepartitionExec::try_new(whole.clone(), restore)
                .map_err(|e| Error::Plan(format!("repartitioning a subquery: {e}")))?,
        );
        self.stages.push(Stage {
            plan: split.clone(),
            split: true,
            tasks: 1,
            leaves: Vec::new(),
        });
        let stage = self.stages.len() - 1;
        let id = leaves.len() as u32;
        leaves.push(LeafSource::Exchange { stage });
        let leaf = StageInputExec::try_new(id, node.schema(), n, None)
            .map_err(|e| Error::Plan(e.to_string()))?;
        Ok(Arc::new(leaf))
    }
}

/// Whether a join with a collected (broadcast) left side must see every probe row in
/// one place: it emits left rows by what no probe partition matched, which DataFusion
/// tracks across the partitions of one process.
fn needs_all_probe_rows(join_type: &JoinType) -> bool {
    matches!(
        join_type,
        JoinType::Left
            | JoinType::Full
            | JoinType::LeftSemi
            | JoinType::LeftAnti
            | JoinType::LeftMark
    )
}

/// A broadcast join that must see every probe row at once, rebuilt to run in one task
/// (its probe side merged), then repartitioned as before for what reads it; `None` for
/// every other node.
fn single_probe_join(node: &Arc<dyn ExecutionPlan>) -> Result<Option<Arc<dyn ExecutionPlan>>> {
    let collects_left = if let Some(join) = node.downcast_ref::<HashJoinExec>() {
        *join.partition_mode() == PartitionMode::CollectLeft
            && (needs_all_probe_rows(join.join_type()) || join.null_aware)
    } else if let Some(join) = node.downcast_ref::<NestedLoopJoinExec>() {
        needs_all_probe_rows(join.join_type())
    } else {
        false
    };
    let children = node.children();
    if !collects_left || partitions(children[1]) <= 1 {
        return Ok(None);
    }
    let probe: Arc<dyn ExecutionPlan> = Arc::new(CoalescePartitionsExec::new(children[1].clone()));
    let single = replace(node, vec![children[0].clone(), probe])?;
    let restore = match node.output_partitioning() {
        Partitioning::Hash(exprs, n) => Partitioning::Hash(exprs.clone(), *n),
        other => Partitioning::RoundRobinBatch(other.partition_count()),
    };
    let repartitioned = RepartitionExec::try_new(single, restore)
        .map_err(|e| Error::Plan(format!("repartitioning a join: {e}")))?;
    Ok(Some(Arc::new(repartitioned)))
}

/// The `(leaf, partition)` pairs that computing partition `j` of `node` reads.
fn touched(node: &Arc<dyn ExecutionPlan>, j: usize, out: &mut Vec<(u32, usize)>) {
    if let Some(leaf) = node.downcast_ref::<StageInputExec>() {
        out.push((leaf.id(), j));
        return;
    }
    let merges = node.is::<CoalescePartitionsExec>() || node.is::<SortPreservingMergeExec>();
    if node.is::<UnionExec>() {
        // A union's partitions are its children's partitions, one after another.
        let mut offset = 0;
        for child in node.children() {
            let n = partitions(child);
            if j >= offset && j < offset + n {
                touched(child, j - offset, out);
            }
            offset += n;
        }
        return;
    }
    // Cross and nested-loop joins collect every partition of their left (build) side
    // inside each task, and stream the right side partition by partition.
    if node.is::<CrossJoinExec>() || node.is::<NestedLoopJoinExec>() {
        let children = node.children();
        for p in 0..partitions(children[0]) {
            touched(children[0], p, out);
        }
        touched(children[1], j, out);
        return;
    }
    let n_out = partitions(node);
    for child in node.children() {
        let n = partitions(child);
        if merges || (n != n_out && n != 1) {
            for p in 0..n {
                touched(child, p, out);
            }
        } else if n == 1 {
            touched(child, 0, out);
        } else {
            touched(child, j, out);
        }
    }
}

/// The tasks of a distributed plan, with the keys of the last stage's tasks in order.
pub struct StageTasks {
    /// Every task of every stage.
    pub graph: TaskGraph,
    /// Keys of the result's partitions.
    pub outputs: Vec<TaskKey>,
}

/// Turn `plan` into tasks; with `sink`, the last stage's task `j` writes its partition
/// where `sink(j)` says instead of keeping it.
pub fn tasks(
    plan: &DistributedPlan,
    sink: Option<&dyn Fn(usize) -> TableSink>,
) -> Result<StageTasks> {
    let mut graph = TaskGraph::default();
    // Identical subplans (a table scanned the same way twice) are one computation: their
    // keys are equal, so their tasks enter the graph once.
    let mut seen: std::collections::HashSet<TaskKey> = std::collections::HashSet::new();
    let mut keys: Vec<Vec<TaskKey>> = Vec::with_capacity(plan.stages.len());
    let last = plan.stages.len() - 1;
    for (s, stage) in plan.stages.iter().enumerate() {
        let bytes = plan_to_bytes(stage.plan.clone())?;
        let runs = if stage.split {
            stage.plan.children()[0].clone()
        } else {
            stage.plan.clone()
        };
        let mut stage_tasks = Vec::with_capacity(stage.tasks);
        for j in 0..stage.tasks {
            let mut reads = Vec::new();
            touched(&runs, j, &mut reads);
            let mut inputs: Vec<TaskKey> = Vec::new();
            let mut index: HashMap<TaskKey, u32> = HashMap::new();
            let mut bindings = Vec::new();
            let mut add = |key: &TaskKey, leaf: u32, partition: usize, bucket: Option<u32>| {
                let input = *index.entry(key.clone()).or_insert_with(|| {
                    inputs.push(key.clone());
                    (inputs.len() - 1) as u32
                });
                bindings.push(StageBinding {
                    input,
                    leaf,
                    partition: partition as u32,
                    bucket,
                });
            };
            for (leaf, p) in reads {
                match &stage.leaves[leaf as usize] {
                    LeafSource::Stored { keys: stored } => {
                        let key = stored.get(p).ok_or_else(|| {
                            Error::Plan(format!("stored table has no partition {p}"))
                        })?;
                        add(key, leaf, p, None);
                    }
                    LeafSource::Merge { stage: t } => add(&keys[*t][p], leaf, p, None),
                    LeafSource::Exchange { stage: t } => {
                        for key in &keys[*t] {
                            add(key, leaf, p, Some(p as u32));
                        }
                    }
                }
            }
            let op = Op::TableStage(Box::new(TableStage {
                plan: bytes.clone(),
                partition: j as u32,
                split: stage.split,
                bindings,
                sink: if s == last { sink.map(|f| f(j)) } else { None },
            }));
            stage_tasks.push((op, inputs));
        }
        let mut token = Tokenizer::new(&stage_group(stage)).bytes(&bytes);
        for (op, inputs) in &stage_tasks {
            token = token.value(op);
            for i in inputs {
                token = token.str(i.as_str());
            }
        }
        let name = token.finish();
        let mut stage_keys = Vec::with_capacity(stage.tasks);
        for (j, (op, inputs)) in stage_tasks.into_iter().enumerate() {
            let key = TaskKey::chunk(&name, &[j]);
            if seen.insert(key.clone()) {
                graph.tasks.push(Task::new(key.clone(), &op, inputs, 0));
            }
            stage_keys.push(key);
        }
        keys.push(stage_keys);
    }
    let outputs = keys.pop().unwrap_or_default();
    Ok(StageTasks { graph, outputs })
}

/// The dashboard group of a stage's tasks: its root operator, `shuffle` for producers.
fn stage_group(stage: &Stage) -> String {
    let root = if stage.split {
        stage.plan.children()[0].clone()
    } else {
        stage.plan.clone()
    };
    let name = root.name().trim_end_matches("Exec").to_lowercase();
    if stage.split {
        format!("{name}+shuffle")
    } else {
        name
    }
}

/// The stages of `plan` as text, for `explain`.
pub fn describe(plan: &DistributedPlan) -> String {
    let mut out = String::new();
    for (s, stage) in plan.stages.iter().enumerate() {
        let reads: Vec<String> = stage
            .leaves
            .iter()
            .enumerate()
            .map(|(id, l)| match l {
                LeafSource::Exchange { stage } => format!("input {id} = shuffle of stage {stage}"),
                LeafSource::Merge { stage } => format!("input {id} = all of stage {stage}"),
                LeafSource::Stored { keys } => {
                    format!("input {id} = {} stored partitions", keys.len())
                }
            })
            .collect();
        let what = if stage.split {
            format!(", each split into {} buckets", partitions(&stage.plan))
        } else {
            String::new()
        };
        out.push_str(&format!("Stage {s}: {} tasks{what}\n", stage.tasks));
        for r in reads {
            out.push_str(&format!("  {r}\n"));
        }
        out.push_str(&format!(
            "{}\n",
            displayable(stage.plan.as_ref()).indent(true)
        ));
    }
    out
}
