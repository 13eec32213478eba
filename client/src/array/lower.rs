//! Lowering: turn an array expression into tasks, one per output chunk of every node,
//! with deterministic keys so equal sub-expressions become the same tasks.

use super::chunks::{chunk_shape, grid_counts, grid_indices, linear_index, offsets};
use super::fuse_tasks::fuse_tasks;
use super::optimize::{FusionPlan, GraphStats, cull, plan_fusion};
use super::rechunk::rechunk_pieces;
use super::{Node, NodeKind, Source};
use std::collections::HashSet;
use std::sync::Arc;
use tessera_core::key::Tokenizer;
use tessera_core::ops::{Op, Reduction};
use tessera_core::shuffle::ShuffleSpec;
use tessera_core::{Task, TaskGraph, TaskKey};

/// How a [`NodeKind::Custom`] node becomes tasks. Each new operation implements this in
/// its own file; the lowering calls it once per node, after the node's inputs.
pub(crate) trait LowerNode: Send + Sync {
    /// Push one task for every chunk of `node` (keys `TaskKey::chunk(&node.name, ix)`),
    /// plus any intermediate tasks, reading chunks of `inputs` (the node's inputs, in order).
    fn lower(&self, node: &Node, inputs: &[Arc<Node>], tasks: &mut TaskSink<'_>);

    /// The implementation itself, for rewrites that recognise a kind of node (a slice of
    /// a slice becomes one slice); `None` for kinds no rewrite looks at.
    fn as_any(&self) -> Option<&dyn std::any::Any> {
        None
    }
}

/// Where a [`LowerNode`] puts its tasks.
pub(crate) struct TaskSink<'a> {
    graph: &'a mut TaskGraph,
    shuffles: &'a mut Vec<ShuffleSpec>,
}

impl TaskSink<'_> {
    /// Add the task `key` running `op` on `inputs`, expected to produce about `nbytes_hint` bytes.
    pub(crate) fn push(&mut self, key: TaskKey, op: &Op, inputs: Vec<TaskKey>, nbytes_hint: u64) {
        self.graph
            .tasks
            .push(Task::new(key, op, inputs, nbytes_hint));
    }

    /// Declare a shuffle among the pushed tasks (see `tessera_core::shuffle`).
    pub(crate) fn shuffle(&mut self, spec: ShuffleSpec) {
        self.shuffles.push(spec);
    }
}

/// Bytes of a chunk of `shape` with `node`'s dtype (saturating), for size hints.
pub(crate) fn nbytes(node: &Node, shape: &[usize]) -> u64 {
    shape.iter().fold(node.dtype.itemsize() as u64, |acc, &d| {
        acc.saturating_mul(d as u64)
    })
}

/// A lowered expression.
pub(crate) struct Lowered {
    /// Tasks to submit.
    pub graph: TaskGraph,
    /// Keys of the root's chunks, in C order of its chunk grid.
    pub outputs: Vec<TaskKey>,
    /// Nodes of client-held chunks, which must be on workers before the graph runs.
    pub literals: Vec<Arc<Node>>,
    /// The shuffles among the graph's tasks, for the scheduler.
    pub shuffles: Vec<ShuffleSpec>,
}

/// Lower the expression rooted at `root`, optimized: elementwise chains fused, tasks the
/// result does not need culled (see [`super::optimize`]).
pub(crate) fn lower(root: &Arc<Node>) -> Lowered {
    let mut lowered = lower_with(root, plan_fusion(root));
    cull(&mut lowered.graph, &lowered.outputs);
    retain_shuffles(&mut lowered);
    fuse_tasks(&mut lowered.graph, &lowered.outputs, &lowered.shuffles);
    lowered
}

/// Drop from the shuffle specs what culling removed from the graph (a shuffle whose barrier
/// is gone, unpack tasks nothing needs).
fn retain_shuffles(lowered: &mut Lowered) {
    if lowered.shuffles.is_empty() {
        return;
    }
    let present: HashSet<&TaskKey> = lowered.graph.tasks.iter().map(|t| &t.key).collect();
    lowered.shuffles.retain(|s| present.contains(&s.barrier));
    for s in &mut lowered.shuffles {
        s.outputs.retain(|(_, k)| present.contains(k));
    }
}

/// Lower as [`lower`] does, without task fusion: one task per chunk of every node that
/// node fusion and culling keep (for tests of the lowering itself).
#[cfg(test)]
pub(crate) fn lower_nodes(root: &Arc<Node>) -> Lowered {
    let mut lowered = lower_with(root, plan_fusion(root));
    cull(&mut lowered.graph, &lowered.outputs);
    retain_shuffles(&mut lowered);
    lowered
}

/// Lower the expression as written: one layer of tasks per node, nothing removed.
pub(crate) fn lower_unoptimized(root: &Arc<Node>) -> Lowered {
    lower_with(root, FusionPlan::default())
}

fn lower_with(root: &Arc<Node>, plan: FusionPlan) -> Lowered {
    let mut l = Lowering {
        graph: TaskGraph::default(),
        literals: Vec::new(),
        seen: HashSet::new(),
        plan,
        shuffles: Vec::new(),
    };
    l.node(root);
    Lowered {
        graph: l.graph,
        outputs: chunk_keys(root),
        literals: l.literals,
        shuffles: l.shuffles,
    }
}

/// Task counts of `root`'s graph before and after each optimization.
pub(crate) fn graph_stats(root: &Arc<Node>) -> GraphStats {
    let before = lower_unoptimized(root).graph.len();
    let plan = plan_fusion(root);
    let fused_nodes = plan.absorbed;
    let mut lowered = lower_with(root, plan);
    let after_fusion = lowered.graph.len();
    cull(&mut lowered.graph, &lowered.outputs);
    let tasks_after = lowered.graph.len();
    retain_shuffles(&mut lowered);
    let tasks_merged = fuse_tasks(&mut lowered.graph, &lowered.outputs, &lowered.shuffles);
    GraphStats {
        tasks_before: before,
        tasks_after_fusion: after_fusion,
        tasks_after,
        fused_nodes,
        tasks_merged,
        tasks_submitted: lowered.graph.len(),
    }
}

/// Keys of a node's chunks in C order.
pub(crate) fn chunk_keys(node: &Node) -> Vec<TaskKey> {
    grid_indices(&grid_counts(&node.chunks))
        .iter()
        .map(|ix| TaskKey::chunk(&node.name, ix))
        .collect()
}

struct Lowering {
    graph: TaskGraph,
    literals: Vec<Arc<Node>>,
    seen: HashSet<String>,
    plan: FusionPlan,
    shuffles: Vec<ShuffleSpec>,
}

impl Lowering {
    fn push(&mut self, key: TaskKey, op: &Op, inputs: Vec<TaskKey>, nbytes_hint: u64) {
        self.graph
            .tasks
            .push(Task::new(key, op, inputs, nbytes_hint));
    }

    /// Lower `root` and everything it reads, inputs before consumers, without recursion
    /// (a chain of a hundred thousand operations must not overflow the stack).
    fn node(&mut self, root: &Arc<Node>) {
        let mut stack: Vec<(Arc<Node>, bool)> = vec![(root.clone(), false)];
        while let Some((node, expanded)) = stack.pop() {
            if expanded {
                self.emit(&node);
                continue;
            }
            if !self.seen.insert(node.name.clone()) {
                continue;
            }
            stack.push((node.clone(), true));
            for input in self.plan.inputs(&node).into_iter().rev() {
                if !self.seen.contains(&input.name) {
                    stack.push((input.clone(), false));
                }
            }
        }
    }

    /// The tasks of one node (its inputs are lowered already).
    fn emit(&mut self, node: &Arc<Node>) {
        let counts = grid_counts(&node.chunks);
        let indices = grid_indices(&counts);
        match &node.kind {
            NodeKind::Source(src) => {
                for ix in &indices {
                    let shape = chunk_shape(&node.chunks, ix);
                    let op = match src {
                        Source::Full(v) => Op::Full {
                            shape: shape.clone(),
                            value: *v,
                        },
                        Source::Arange { start, step } => Op::Arange {
                            start: start + offsets(&node.chunks[0])[ix[0]] as f64 * step,
                            step: *step,
                            len: shape[0],
                            dtype: node.dtype,
                        },
                        Source::Random { seed, dist } => Op::Random {
                            seed: *seed,
                            stream: linear_index(&counts, ix) as u64,
                            shape: shape.clone(),
                            dist: *dist,
                            dtype: node.dtype,
                        },
                    };
                    self.push(
                        TaskKey::chunk(&node.name, ix),
                        &op,
                        vec![],
                        nbytes(node, &shape),
                    );
                }
            }
            NodeKind::Literal { .. } => self.literals.push(node.clone()),
            NodeKind::Elementwise { expr, inputs } => {
                let (expr, inputs) = match self.plan.fused.get(&node.name) {
                    Some(f) => (f.expr.clone(), f.inputs.clone()),
                    None => (expr.clone(), inputs.clone()),
                };
                let ndim = node.shape.len();
                for ix in &indices {
                    let keys = inputs
                        .iter()
                        .map(|n| {
                            let pad = ndim - n.shape.len();
                            let in_ix: Vec<usize> = (0..n.shape.len())
                                .map(|a| {
                                    if n.shape[a] == 1 && node.shape[a + pad] != 1 {
                                        0
                                    } else {
                                        ix[a + pad]
                                    }
                                })
                                .collect();
                            TaskKey::chunk(&n.name, &in_ix)
                        })
                        .collect();
                    let shape = chunk_shape(&node.chunks, ix);
                    let hint = nbytes(node, &shape);
                    let op = Op::Elementwise {
                        expr: expr.clone(),
                        shape,
                    };
                    self.push(TaskKey::chunk(&node.name, ix), &op, keys, hint);
                }
            }
            NodeKind::Transpose { input, axes } => {
                let op = Op::Transpose { axes: axes.clone() };
                for ix in &indices {
                    let mut in_ix = vec![0; ix.len()];
                    for (k, &a) in axes.iter().enumerate() {
                        in_ix[a] = ix[k];
                    }
                    let hint = nbytes(node, &chunk_shape(&node.chunks, ix));
                    self.push(
                        TaskKey::chunk(&node.name, ix),
                        &op,
                        vec![TaskKey::chunk(&input.name, &in_ix)],
                        hint,
                    );
                }
            }
            NodeKind::Reduce {
                input,
                reduction,
                axes,
                split_every,
            } => {
                self.reduce(node, input, *reduction, axes, *split_every);
            }
            NodeKind::Rechunk { input } => {
                for ix in &indices {
                    let (keys, pieces) = rechunk_pieces(input, &node.chunks, ix);
                    let shape = chunk_shape(&node.chunks, ix);
                    let hint = nbytes(node, &shape);
                    let op = Op::Assemble {
                        shape,
                        dtype: node.dtype,
                        pieces,
                    };
                    self.push(TaskKey::chunk(&node.name, ix), &op, keys, hint);
                }
            }
            NodeKind::Custom { inputs, lowering } => {
                let mut sink = TaskSink {
                    graph: &mut self.graph,
                    shuffles: &mut self.shuffles,
                };
                lowering.lower(node, inputs, &mut sink);
            }
            NodeKind::Persisted { .. } | NodeKind::Held { .. } => {
                // Held by the cluster: its keys are inputs, not tasks.
            }
        }
    }

    fn reduce(
        &mut self,
        node: &Node,
        input: &Node,
        reduction: Reduction,
        axes: &[usize],
        split_every: usize,
    ) {
        let in_counts = grid_counts(&input.chunks);
        let partial_name = Tokenizer::new(&format!("{}-partial", reduction.name()))
            .str(&node.name)
            .finish();
        let partial_op = Op::ReducePartial {
            reduction,
            axes: axes.to_vec(),
        };
        let state_bytes = |shape: &[usize]| {
            let kept: usize = shape
                .iter()
                .enumerate()
                .filter(|(a, _)| !axes.contains(a))
                .map(|(_, &d)| d)
                .product();
            (kept * reduction.state_len() * reduction.state_dtype(input.dtype).itemsize()) as u64
        };
        let kept_axes: Vec<usize> = (0..input.shape.len())
            .filter(|a| !axes.contains(a))
            .collect();
        let reduced_counts: Vec<usize> = axes.iter().map(|&a| in_counts[a]).collect();
        let out_counts = grid_counts(&node.chunks);
        for out_ix in grid_indices(&out_counts) {
            // Partials of every input chunk that reduces into this output chunk, in C order.
            let mut level: Vec<TaskKey> = Vec::new();
            for red_ix in grid_indices(&reduced_counts) {
                let mut in_ix = vec![0; input.shape.len()];
                for (k, &a) in kept_axes.iter().enumerate() {
                    in_ix[a] = out_ix[k];
                }
                for (k, &a) in axes.iter().enumerate() {
                    in_ix[a] = red_ix[k];
                }
                let key = TaskKey::chunk(&partial_name, &in_ix);
                let hint = state_bytes(&chunk_shape(&input.chunks, &in_ix));
                self.push(
                    key.clone(),
                    &partial_op,
                    vec![TaskKey::chunk(&input.name, &in_ix)],
                    hint,
                );
                level.push(key);
            }
            let hint = state_bytes(&chunk_shape(&input.chunks, &vec![0; input.shape.len()]));
            let mut depth = 0u64;
            while level.len() > 1 {
                depth += 1;
                let combine_name = Tokenizer::new(&format!("{}-combine", reduction.name()))
                    .str(&node.name)
                    .u64(depth)
                    .finish();
                let mut next = Vec::with_capacity(level.len().div_ceil(split_every));
                for (g, group) in level.chunks(split_every).enumerate() {
                    if group.len() == 1 {
                        next.push(group[0].clone());
                        continue;
                    }
                    let mut ix = out_ix.clone();
                    ix.push(g);
                    let key = TaskKey::chunk(&combine_name, &ix);
                    self.push(
                        key.clone(),
                        &Op::ReduceCombine { reduction },
                        group.to_vec(),
                        hint,
                    );
                    next.push(key);
                }
                level = next;
            }
            let op = Op::ReduceFinalize {
                reduction,
                axes: axes.to_vec(),
                dtype: node.dtype,
            };
            let out_hint = nbytes(node, &chunk_shape(&node.chunks, &out_ix));
            self.push(TaskKey::chunk(&node.name, &out_ix), &op, level, out_hint);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::array::random;

    #[test]
    fn lowering_is_closed_and_deterministic() {
        let a = random::<f64>(&[10, 10], &[3, 3], 1);
        let z = (&a + &a.t()).mean_axis(0);
        let l = lower_nodes(z.node().unwrap());
        l.graph.validate(&|_| false).unwrap();
        assert_eq!(l.outputs.len(), 4);
        // 16 random + 16 transpose + 16 add + 16 partials + 4 combines + 4 finals.
        assert_eq!(l.graph.len(), 16 * 4 + 4 + 4);
        // With task fusion: 16 fused partials (random, transpose, add, partial sum) and
        // 4 fused combine + finalize.
        let l = lower(z.node().unwrap());
        l.graph.validate(&|_| false).unwrap();
        assert_eq!(l.graph.len(), 16 + 4);
        let again = lower((&a + &a.t()).mean_axis(0).node().unwrap());
        assert_eq!(l.graph, again.graph);
    }

    #[test]
    fn long_chains_lower_and_drop_without_recursion() {
        let mut x = random::<f64>(&[4], &[4], 1);
        for i in 0..100_000 {
            x = &x + i as f64;
        }
        let l = lower_unoptimized(x.node().unwrap());
        assert_eq!(l.graph.len(), 100_001);
        drop(l);
        // Fused into chains of bounded depth: one task per ~MAX_FUSED_DEPTH operations.
        let l = lower(x.node().unwrap());
        l.graph.validate(&|_| false).unwrap();
        assert!(l.graph.len() < 100_000 / 50, "{} tasks", l.graph.len());
        drop(l);
        drop(x);
    }

    #[test]
    fn deep_combine_trees_reduce_to_one_state() {
        let a = random::<f64>(&[100], &[1], 1);
        let l = lower_nodes(
            a.try_reduce_split(Reduction::Sum, None, 2)
                .unwrap()
                .node()
                .unwrap(),
        );
        l.graph.validate(&|_| false).unwrap();
        let finals: Vec<_> = l
            .graph
            .tasks
            .iter()
            .filter(|t| l.outputs.contains(&t.key))
            .collect();
        assert_eq!(finals.len(), 1);
        assert_eq!(finals[0].inputs.len(), 1);
    }
}
