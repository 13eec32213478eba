//! Graph optimization before submission: fuse chains of elementwise operations into one
//! task per chunk, and cull tasks the requested result does not need.

use super::{Node, NodeKind};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use tessera_core::ops::Expr;
use tessera_core::{TaskGraph, TaskKey};

/// Deepest expression fusion builds. Kernels accept 256 levels (`MAX_EXPR_DEPTH`); a fused
/// chain longer than this is cut into several tasks, each one pass over memory.
pub(crate) const MAX_FUSED_DEPTH: usize = 64;

/// The fused form of an elementwise node: one expression over the inputs of the whole
/// chain it absorbed.
pub(crate) struct Fused {
    pub expr: Expr,
    pub inputs: Vec<Arc<Node>>,
}

/// Which elementwise nodes absorb which: nodes named in `fused` lower with the fused
/// expression and inputs; the nodes they absorbed produce no tasks.
#[derive(Default)]
pub(crate) struct FusionPlan {
    pub fused: HashMap<String, Fused>,
    /// How many nodes were absorbed into a consumer.
    pub absorbed: usize,
}

impl FusionPlan {
    /// The inputs `node` reads after fusion.
    pub(crate) fn inputs<'a>(&'a self, node: &'a Node) -> Vec<&'a Arc<Node>> {
        match self.fused.get(&node.name) {
            Some(f) => f.inputs.iter().collect(),
            None => node.kind.inputs(),
        }
    }
}

/// Plan the fusion of the expression rooted at `root`.
///
/// An elementwise node `x` is absorbed into its consumer `y` when `y` is elementwise,
/// `y` is the only consumer of `x` in the expression (a shared intermediate is computed
/// once, not once per consumer), `x` has `y`'s shape and chunks (no broadcasting across
/// the seam), and the fused expression stays within [`MAX_FUSED_DEPTH`]. Persisted and
/// client-held nodes are leaves and never absorbed. The root keeps its name, so the
/// result's keys are those of the unoptimized graph.
pub(crate) fn plan_fusion(root: &Arc<Node>) -> FusionPlan {
    let order = post_order(root);
    let mut consumers: HashMap<&str, usize> = HashMap::new();
    consumers.insert(&root.name, 1);
    for node in &order {
        for input in node.kind.inputs() {
            *consumers.entry(input.name.as_str()).or_default() += 1;
        }
    }
    let mut plan = FusionPlan::default();
    // Depth of each node's (possibly fused) expression.
    let mut depths: HashMap<String, usize> = HashMap::new();
    for node in &order {
        let NodeKind::Elementwise { expr, inputs } = &node.kind else {
            continue;
        };
        let own_depth = expr_depth(expr);
        let mut budget = MAX_FUSED_DEPTH.saturating_sub(own_depth);
        let mut new_inputs: Vec<Arc<Node>> = Vec::new();
        let mut absorbed_any = false;
        let mut replacement: Vec<Expr> = Vec::with_capacity(inputs.len());
        for input in inputs {
            let absorbable = matches!(input.kind, NodeKind::Elementwise { .. })
                && consumers.get(input.name.as_str()) == Some(&1)
                && input.shape == node.shape
                && input.chunks == node.chunks;
            let input_depth = depths.get(&input.name).copied().unwrap_or(usize::MAX);
            if absorbable && input_depth <= budget {
                budget -= input_depth;
                absorbed_any = true;
                plan.absorbed += 1;
                let (sub_expr, sub_inputs) = match plan.fused.remove(&input.name) {
                    Some(f) => (f.expr, f.inputs),
                    None => match &input.kind {
                        NodeKind::Elementwise { expr, inputs } => (expr.clone(), inputs.clone()),
                        _ => unreachable!("checked above"),
                    },
                };
                let positions: Vec<usize> = sub_inputs
                    .iter()
                    .map(|n| position_of(&mut new_inputs, n))
                    .collect();
                replacement.push(map_inputs(sub_expr, &mut |j| Expr::Input(positions[j])));
            } else {
                replacement.push(Expr::Input(position_of(&mut new_inputs, input)));
            }
        }
        if absorbed_any {
            let fused_expr = map_inputs(expr.clone(), &mut |i| replacement[i].clone());
            depths.insert(node.name.clone(), expr_depth(&fused_expr));
            plan.fused.insert(
                node.name.clone(),
                Fused {
                    expr: fused_expr,
                    inputs: new_inputs,
                },
            );
        } else {
            depths.insert(node.name.clone(), own_depth);
        }
    }
    plan
}

/// Index of `node` in `inputs`, appending it if absent (inputs are deduplicated by name).
fn position_of(inputs: &mut Vec<Arc<Node>>, node: &Arc<Node>) -> usize {
    match inputs.iter().position(|n| n.name == node.name) {
        Some(i) => i,
        None => {
            inputs.push(node.clone());
            inputs.len() - 1
        }
    }
}

/// Every node reachable from `root`, inputs before consumers, without recursion.
fn post_order(root: &Arc<Node>) -> Vec<Arc<Node>> {
    let mut seen: HashSet<String> = HashSet::new();
    let mut out = Vec::new();
    let mut stack: Vec<(Arc<Node>, bool)> = vec![(root.clone(), false)];
    while let Some((node, expanded)) = stack.pop() {
        if expanded {
            out.push(node);
            continue;
        }
        if !seen.insert(node.name.clone()) {
            continue;
        }
        stack.push((node.clone(), true));
        for input in node.kind.inputs().into_iter().rev() {
            if !seen.contains(&input.name) {
                stack.push((input.clone(), false));
            }
        }
    }
    out
}

/// Levels of an expression tree (a leaf is 1).
fn expr_depth(expr: &Expr) -> usize {
    match expr {
        Expr::Input(_) | Expr::Scalar(_) => 1,
        Expr::Unary(_, a) | Expr::Cast(_, a) => 1 + expr_depth(a),
        Expr::Binary(_, a, b) => 1 + expr_depth(a).max(expr_depth(b)),
        Expr::Where(c, a, b) => 1 + expr_depth(c).max(expr_depth(a)).max(expr_depth(b)),
    }
}

/// Replace every `Input(i)` of `expr` by `f(i)`.
fn map_inputs(expr: Expr, f: &mut impl FnMut(usize) -> Expr) -> Expr {
    match expr {
        Expr::Input(i) => f(i),
        Expr::Scalar(s) => Expr::Scalar(s),
        Expr::Unary(op, a) => Expr::Unary(op, Box::new(map_inputs(*a, f))),
        Expr::Cast(d, a) => Expr::Cast(d, Box::new(map_inputs(*a, f))),
        Expr::Binary(op, a, b) => {
            let a = map_inputs(*a, f);
            let b = map_inputs(*b, f);
            Expr::Binary(op, Box::new(a), Box::new(b))
        }
        Expr::Where(c, a, b) => {
            let c = map_inputs(*c, f);
            let a = map_inputs(*a, f);
            let b = map_inputs(*b, f);
            Expr::Where(Box::new(c), Box::new(a), Box::new(b))
        }
    }
}

/// Drop the tasks of `graph` that none of `outputs` needs (directly or through other
/// tasks), e.g. the chunks of a large array outside a slice of it.
pub(crate) fn cull(graph: &mut TaskGraph, outputs: &[TaskKey]) {
    let index: HashMap<&TaskKey, usize> = graph
        .tasks
        .iter()
        .enumerate()
        .map(|(i, t)| (&t.key, i))
        .collect();
    let mut needed = vec![false; graph.tasks.len()];
    let mut stack: Vec<usize> = outputs
        .iter()
        .filter_map(|k| index.get(k).copied())
        .collect();
    while let Some(i) = stack.pop() {
        if std::mem::replace(&mut needed[i], true) {
            continue;
        }
        for input in &graph.tasks[i].inputs {
            if let Some(&j) = index.get(input)
                && !needed[j]
            {
                stack.push(j);
            }
        }
    }
    let mut keep = needed.into_iter();
    graph.tasks.retain(|_| keep.next().unwrap_or(false));
}

/// Graph sizes before and after optimization, for debugging and tests
/// ([`crate::array::Array::graph_stats`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GraphStats {
    /// Tasks of the expression lowered as written.
    pub tasks_before: usize,
    /// Tasks after fusing elementwise chains.
    pub tasks_after_fusion: usize,
    /// Tasks after fusion and culling.
    pub tasks_after: usize,
    /// Elementwise nodes absorbed into their consumer by fusion.
    pub fused_nodes: usize,
    /// Tasks merged into others by task fusion (creation tasks inlined into their
    /// consumers, linear chains made one task; see `fuse_tasks`).
    pub tasks_merged: usize,
    /// Tasks submitted: `tasks_after` less what task fusion merged.
    pub tasks_submitted: usize,
}

#[cfg(test)]
mod tests {
    use super::super::lower::{chunk_keys, lower, lower_unoptimized};
    use crate::array::{from_ndarray, random};
    use ndarray::ArrayD;

    #[test]
    fn a_chain_of_ten_elementwise_ops_is_one_task_per_chunk() {
        let data = ArrayD::from_shape_fn(vec![10, 9], |ix| (ix[0] * 9 + ix[1]) as f64);
        let x = from_ndarray(&data, &[4, 4]);
        let mut y = x.clone();
        for i in 0..10 {
            y = match i % 3 {
                0 => &y + 1.0,
                1 => &y * 0.5,
                _ => y.abs(),
            };
        }
        let chunks = y.num_chunks().unwrap();
        assert_eq!(chunks, 9);
        let stats = y.graph_stats().unwrap();
        assert_eq!(stats.tasks_before, 10 * chunks);
        assert_eq!(stats.fused_nodes, 9);
        assert_eq!(stats.tasks_after, chunks);
        let lowered = lower(y.node().unwrap());
        assert_eq!(lowered.outputs, chunk_keys(y.node().unwrap()));
        assert!(lowered.graph.tasks.iter().all(|t| t.inputs.len() == 1));
    }

    #[test]
    fn shared_and_broadcast_intermediates_are_not_fused() {
        let x = random::<f64>(&[8, 8], &[4, 4], 1);
        let shared = &x * 2.0;
        // `shared` feeds two nodes: computed once, not absorbed. Its sqrt is absorbed.
        let z = &shared + &shared.sqrt();
        let stats = z.graph_stats().unwrap();
        assert_eq!(stats.fused_nodes, 1);
        assert_eq!(stats.tasks_after, 4 * 3);
        // A (1, 8) row broadcast against (8, 8) keeps its own tasks.
        let row = random::<f64>(&[1, 8], &[1, 4], 2);
        let b = &x + &(&row * 3.0);
        let stats = b.graph_stats().unwrap();
        assert_eq!(stats.fused_nodes, 0);
        assert_eq!(stats.tasks_after, stats.tasks_before);
    }

    #[test]
    fn cull_keeps_exactly_the_ancestors_of_the_outputs() {
        let x = random::<f64>(&[8, 8], &[4, 4], 1);
        let y = (&x + &x.t()).sum_axis(0);
        let mut lowered = lower_unoptimized(y.node().unwrap());
        let total = lowered.graph.len();
        let first = lowered.outputs[0].clone();
        super::cull(&mut lowered.graph, std::slice::from_ref(&first));
        lowered.graph.validate(&|_| false).unwrap();
        assert!(lowered.graph.len() < total);
        // Output chunk 0 of the column sums needs column block 0 of x + x.T: x's (.,0)
        // chunks and x.T's (.,0) chunks, i.e. x's (0,.) chunks: three of x's four.
        let randoms = lowered
            .graph
            .tasks
            .iter()
            .filter(|t| t.key.as_str().starts_with("random"))
            .count();
        assert_eq!(randoms, 3);
        assert!(lowered.graph.tasks.iter().any(|t| t.key == first));
    }
}
