//! Tests of task fusion: what is inlined and chained, what is left alone, and that the
//! fused graph computes what the unfused one does (through the worker's kernels).

use super::*;
use crate::array::lower::{lower, lower_unoptimized};
use crate::array::{Array, Idx, from_ndarray, ones, random};
use ndarray::{ArrayD, IxDyn};
use tessera_core::Chunk;
use tessera_core::kernels::execute;

/// Run a lowered graph in memory with the worker's kernels; the chunks of `outputs`.
fn run(graph: &TaskGraph, outputs: &[TaskKey], literals: &HashMap<TaskKey, Chunk>) -> Vec<Chunk> {
    let mut done: HashMap<TaskKey, Chunk> = literals.clone();
    let mut left: Vec<&Task> = graph.tasks.iter().collect();
    while !left.is_empty() {
        let before = left.len();
        left.retain(|t| {
            if !t.inputs.iter().all(|k| done.contains_key(k)) {
                return true;
            }
            let inputs: Vec<Chunk> = t.inputs.iter().map(|k| done[k].clone()).collect();
            let out = execute(&t.decode_op().unwrap(), &inputs).unwrap();
            done.insert(t.key.clone(), out);
            false
        });
        assert!(
            left.len() < before,
            "the graph has a cycle or a missing input"
        );
    }
    outputs.iter().map(|k| done[k].clone()).collect()
}

fn literals_of(x: &Array) -> HashMap<TaskKey, Chunk> {
    let mut out = HashMap::new();
    for node in lower(x.node().unwrap()).literals {
        if let crate::array::NodeKind::Literal { chunks, .. } = &node.kind {
            for (k, c) in crate::array::lower::chunk_keys(&node)
                .into_iter()
                .zip(chunks.iter())
            {
                out.insert(k, c.clone());
            }
        }
    }
    out
}

fn same_results(x: &Array) {
    let node = x.node().unwrap();
    let fused = lower(node);
    let plain = lower_unoptimized(node);
    let lits = literals_of(x);
    let a = run(&fused.graph, &fused.outputs, &lits);
    let b = run(&plain.graph, &plain.outputs, &lits);
    for (a, b) in a.iter().zip(&b) {
        assert_eq!(a.shape(), b.shape());
        assert_eq!(a.values().as_ref(), b.values().as_ref());
    }
}

#[test]
fn the_readme_example_is_one_task_per_chunk_before_the_tree() {
    // (x + x.T).mean(0) over a 4 x 4 grid: random chunks are inlined into the add tasks
    // (and the transposes), each add is chained into its partial sum, and each column's
    // combine into its finalize: 16 + 4 tasks in all.
    let x = random::<f64>(&[8, 8], &[2, 2], 3);
    let y = (&x + &x.t()).mean_axis(0);
    let stats = y.graph_stats().unwrap();
    assert!(stats.tasks_merged > 0, "{stats:?}");
    let graph = lower(y.node().unwrap()).graph;
    let names: Vec<String> = graph
        .tasks
        .iter()
        .map(|t| t.decode_op().unwrap().name().to_string())
        .collect();
    assert!(
        !names.iter().any(|n| n == "random" || n == "transpose"),
        "{names:?}"
    );
    let fused = names.iter().filter(|n| *n == "fused").count();
    assert_eq!(fused, 20, "{names:?}");
    assert_eq!(graph.len(), 20);
    assert_eq!(stats.tasks_submitted, graph.len());
    same_results(&y);
}

#[test]
fn fused_graphs_compute_what_the_unfused_ones_do() {
    let data = ArrayD::from_shape_fn(IxDyn(&[6, 5]), |i| (i[0] * 5 + i[1]) as f64 - 7.0);
    let lit = from_ndarray(&data, &[4, 2]);
    let r = random::<f64>(&[6, 5], &[4, 2], 9);
    for x in [
        (&r + &lit).sum_axis(1),
        (&r.t() * 2.0).max_axis(0),
        ones::<f64>(&[6, 5], &[3, 5]).sum(),
        (&lit + &r).t().index(&[
            Idx::range(Some(0), Some(4), 1),
            Idx::range(Some(1), None, 2),
        ]),
        r.matmul(&lit.t()),
    ] {
        same_results(&x);
    }
}

#[test]
fn outputs_and_shared_results_keep_their_tasks() {
    // `y` has two consumers: it is computed once, not fused into either.
    let x = random::<f64>(&[4, 4], &[2, 2], 1);
    let y = (&x * 3.0).t();
    let z = &(&y + 1.0) + &y.sum_axis(0).reshape(&[1, 4]);
    let graph = lower(z.node().unwrap()).graph;
    let transposes = graph
        .tasks
        .iter()
        .filter(|t| t.key.to_string().starts_with("transpose"))
        .count();
    assert_eq!(transposes, 4, "the shared transpose stays a task per chunk");
    same_results(&z);
    // The outputs themselves are never merged into anything.
    let lowered = lower(x.node().unwrap());
    assert_eq!(lowered.graph.len(), 4);
}
