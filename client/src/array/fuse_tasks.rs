//! Task-level fusion of a lowered graph: cheap creation tasks are inlined into their
//! consumers and linear chains of array tasks become one task ([`Op::Fused`]).
//!
//! Node-level fusion ([`super::optimize`]) merges elementwise expressions; this pass works
//! on any array op once the graph is lowered. Two rules, both keeping the graph's
//! parallelism and never moving more data than before:
//!
//! - **Inlining**: a task that creates a chunk from nothing (`full`, `arange`, `random`)
//!   and is not an output is copied into each of its consumers (at most
//!   [`MAX_INLINE_CONSUMERS`]), which regenerate the chunk where they run instead of
//!   fetching it from another worker: generating a chunk costs less than moving it.
//! - **Chains**: a task whose only consumer reads nothing but it is merged into that
//!   consumer (Dask's linear fusion): the consumer could not start earlier anyway, and
//!   the intermediate never leaves the worker or its cache.
//!
//! Outputs, shuffle tasks and ops that do I/O, run user code or work on tables are never
//! fused (see [`fusable_step`]).

use std::collections::{HashMap, HashSet};
use tessera_core::ops::{FusedStep, Op, StepInput, fusable_step};
use tessera_core::shuffle::ShuffleSpec;
use tessera_core::{Task, TaskGraph, TaskKey};

/// Most consumers a creation task is copied into; past this it stays a task of its own
/// (a chunk broadcast to very many consumers is cheaper fetched than regenerated).
pub(crate) const MAX_INLINE_CONSUMERS: usize = 16;

/// Longest chain fused into one task.
const MAX_STEPS: usize = 64;

/// A task while the pass works on it: its steps and the task inputs they read.
struct Program {
    key: TaskKey,
    nbytes_hint: u64,
    /// Task inputs (keys), in the order `StepInput::Task` indexes them.
    inputs: Vec<TaskKey>,
    /// The steps; `None` for a task that cannot be fused (kept as it is).
    steps: Option<Vec<(Op, Vec<StepInput>)>>,
    /// The task as lowered, for tasks left unchanged.
    original: Task,
    changed: bool,
}

impl Program {
    fn creates_from_nothing(&self) -> bool {
        matches!(
            self.steps.as_deref(),
            Some([(Op::Full { .. } | Op::Arange { .. } | Op::Random { .. }, _)])
        )
    }
}

/// Fuse the tasks of `graph` as described in the module documentation. `outputs` (the
/// keys the client wants) and every task named by `shuffles` keep their tasks. Returns
/// how many tasks were merged into others.
pub(crate) fn fuse_tasks(
    graph: &mut TaskGraph,
    outputs: &[TaskKey],
    shuffles: &[ShuffleSpec],
) -> usize {
    let mut protected: HashSet<&TaskKey> = outputs.iter().collect();
    for s in shuffles {
        protected.insert(&s.barrier);
        protected.extend(s.transfers.iter());
        protected.extend(s.outputs.iter().map(|(_, k)| k));
    }
    let mut programs: Vec<Program> = graph
        .tasks
        .iter()
        .map(|t| {
            let steps = t.decode_op().ok().filter(fusable_step).map(|op| {
                let inputs = (0..t.inputs.len() as u32).map(StepInput::Task).collect();
                vec![(op, inputs)]
            });
            Program {
                key: t.key.clone(),
                nbytes_hint: t.nbytes_hint,
                inputs: t.inputs.clone(),
                steps,
                original: t.clone(),
                changed: false,
            }
        })
        .collect();
    let protected: HashSet<TaskKey> = protected.into_iter().cloned().collect();
    let index: HashMap<TaskKey, usize> = programs
        .iter()
        .enumerate()
        .map(|(i, p)| (p.key.clone(), i))
        .collect();
    let mut removed = vec![false; programs.len()];

    // Inlining: creation tasks into each consumer.
    let mut consumers: HashMap<usize, Vec<usize>> = HashMap::new();
    for (c, p) in programs.iter().enumerate() {
        let mut seen = HashSet::new();
        for k in &p.inputs {
            if let Some(&i) = index.get(k)
                && seen.insert(i)
            {
                consumers.entry(i).or_default().push(c);
            }
        }
    }
    for i in 0..programs.len() {
        let readers = consumers.get(&i).map_or(&[][..], |v| v.as_slice());
        if protected.contains(&programs[i].key)
            || !programs[i].creates_from_nothing()
            || readers.is_empty()
            || readers.len() > MAX_INLINE_CONSUMERS
            || readers.iter().any(|&c| programs[c].steps.is_none())
        {
            continue;
        }
        let (op, _) = programs[i].steps.as_ref().expect("checked")[0].clone();
        let key = programs[i].key.clone();
        for &c in readers {
            inline_creation(&mut programs[c], &key, &op);
        }
        removed[i] = true;
    }

    // Chains: a task into its only consumer when that consumer reads only it.
    let mut consumers: HashMap<usize, HashSet<usize>> = HashMap::new();
    for (c, p) in programs.iter().enumerate() {
        if removed[c] {
            continue;
        }
        for k in &p.inputs {
            if let Some(&i) = index.get(k) {
                consumers.entry(i).or_default().insert(c);
            }
        }
    }
    // Producers before consumers, so a chain collapses from its start.
    for i in topological_order(&programs, &index, &removed) {
        let Some(readers) = consumers.get(&i) else {
            continue;
        };
        if readers.len() != 1 || protected.contains(&programs[i].key) {
            continue;
        }
        let c = *readers.iter().next().expect("one reader");
        let reads_only_it = programs[c].inputs.iter().all(|k| k == &programs[i].key);
        let fits = |p: &Program| p.steps.as_ref().map(Vec::len);
        let (Some(a), Some(b)) = (fits(&programs[i]), fits(&programs[c])) else {
            continue;
        };
        if !reads_only_it || a + b > MAX_STEPS {
            continue;
        }
        let producer_steps = programs[i].steps.take().expect("checked");
        let producer_inputs = std::mem::take(&mut programs[i].inputs);
        removed[i] = true;
        // The producer's task inputs now belong to the consumer.
        for input in &producer_inputs {
            if let Some(&j) = index.get(input)
                && let Some(set) = consumers.get_mut(&j)
            {
                set.remove(&i);
                set.insert(c);
            }
        }
        prepend_chain(&mut programs[c], producer_steps, producer_inputs);
    }

    let merged = removed.iter().filter(|&&r| r).count();
    let mut out = Vec::with_capacity(programs.len() - merged);
    for (p, gone) in programs.into_iter().zip(removed) {
        if gone {
            continue;
        }
        out.push(finish(p));
    }
    graph.tasks = out;
    merged
}

/// Replace every read of task input `key` in `consumer` by a new first step running `op`.
fn inline_creation(consumer: &mut Program, key: &TaskKey, op: &Op) {
    let steps = consumer.steps.as_mut().expect("fusable consumer");
    let positions: Vec<u32> = consumer
        .inputs
        .iter()
        .enumerate()
        .filter(|(_, k)| *k == key)
        .map(|(i, _)| i as u32)
        .collect();
    // Shift existing steps by one, then point reads of `key` at step 0.
    for (_, inputs) in steps.iter_mut() {
        for input in inputs.iter_mut() {
            *input = match *input {
                StepInput::Step(s) => StepInput::Step(s + 1),
                StepInput::Task(t) if positions.contains(&t) => StepInput::Step(0),
                other => other,
            };
        }
    }
    steps.insert(0, (op.clone(), Vec::new()));
    remove_task_inputs(consumer, &positions);
    consumer.changed = true;
}

/// Drop the task inputs at `positions` (no step reads them any more) and renumber the rest.
fn remove_task_inputs(p: &mut Program, positions: &[u32]) {
    let mut renumber = Vec::with_capacity(p.inputs.len());
    let mut next = 0u32;
    for i in 0..p.inputs.len() as u32 {
        if positions.contains(&i) {
            renumber.push(None);
        } else {
            renumber.push(Some(next));
            next += 1;
        }
    }
    let mut i = 0;
    p.inputs.retain(|_| {
        let keep = renumber[i].is_some();
        i += 1;
        keep
    });
    for (_, inputs) in p.steps.as_mut().expect("fusable").iter_mut() {
        for input in inputs.iter_mut() {
            if let StepInput::Task(t) = *input {
                *input =
                    StepInput::Task(renumber[t as usize].expect("no step reads a removed input"));
            }
        }
    }
}

/// Put a producer's steps (`front`) before `consumer`'s: the consumer's reads of the
/// producer become reads of its last step, and the producer's task inputs become the
/// consumer's.
fn prepend_chain(
    consumer: &mut Program,
    front: Vec<(Op, Vec<StepInput>)>,
    producer_inputs: Vec<TaskKey>,
) {
    let shift = front.len() as u32;
    let last = StepInput::Step(shift - 1);
    let mut steps: Vec<(Op, Vec<StepInput>)> = front;
    for (op, inputs) in consumer.steps.take().expect("fusable consumer") {
        // The consumer reads nothing but the producer: every task input is it.
        let inputs = inputs
            .into_iter()
            .map(|input| match input {
                StepInput::Task(_) => last,
                StepInput::Step(s) => StepInput::Step(s + shift),
            })
            .collect();
        steps.push((op, inputs));
    }
    consumer.steps = Some(steps);
    consumer.inputs = producer_inputs;
    consumer.changed = true;
}

/// Indices of the tasks not removed, each after the tasks it reads.
fn topological_order(
    programs: &[Program],
    index: &HashMap<TaskKey, usize>,
    removed: &[bool],
) -> Vec<usize> {
    let mut order = Vec::with_capacity(programs.len());
    let mut state = vec![0u8; programs.len()]; // 0 new, 1 open, 2 done
    for root in 0..programs.len() {
        if removed[root] || state[root] != 0 {
            continue;
        }
        let mut stack = vec![(root, false)];
        while let Some((i, expanded)) = stack.pop() {
            if expanded {
                state[i] = 2;
                order.push(i);
                continue;
            }
            if state[i] != 0 {
                continue;
            }
            state[i] = 1;
            stack.push((i, true));
            for k in &programs[i].inputs {
                if let Some(&j) = index.get(k)
                    && !removed[j]
                    && state[j] == 0
                {
                    stack.push((j, false));
                }
            }
        }
    }
    order
}

/// The task for a program: unchanged as lowered, or its single step, or a fused op.
fn finish(p: Program) -> Task {
    if !p.changed {
        return p.original;
    }
    let mut steps = p.steps.expect("changed programs are fusable");
    let op = if steps.len() == 1 {
        steps.pop().expect("one step").0
    } else {
        Op::Fused {
            steps: steps
                .iter()
                .map(|(op, inputs)| FusedStep::new(op, inputs.clone()))
                .collect(),
        }
    };
    Task::new(p.key, &op, p.inputs, p.nbytes_hint)
}

#[cfg(test)]
#[path = "fuse_tasks_tests.rs"]
mod tests;
