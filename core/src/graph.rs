//! Tasks and task graphs: what the client submits and the scheduler tracks.
//! A task is a key, the keys of its inputs, and its encoded operation.

use crate::error::{Error, Result};
use crate::key::TaskKey;
use crate::ops::Op;
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};

/// One task: compute `key` from `inputs` by running `op`.
///
/// The op travels encoded so that the scheduler forwards it without decoding:
/// the scheduler never needs to understand what a task does.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Task {
    /// The key of the task's output.
    pub key: TaskKey,
    /// Keys of the input chunks, in the order the op reads them.
    pub inputs: Vec<TaskKey>,
    /// The encoded [`Op`] (see [`crate::codec`]).
    #[serde(with = "serde_bytes")]
    pub op: Vec<u8>,
    /// Estimated output size in bytes, used for placement before the task has run.
    pub nbytes_hint: u64,
}

impl Task {
    /// Build a task, encoding its op.
    pub fn new(key: TaskKey, op: &Op, inputs: Vec<TaskKey>, nbytes_hint: u64) -> Self {
        Task {
            key,
            inputs,
            op: crate::codec::encode(op).expect("ops always encode"),
            nbytes_hint,
        }
    }

    /// Decode the task's op.
    pub fn decode_op(&self) -> Result<Op> {
        crate::codec::decode(&self.op)
    }
}

/// A set of tasks closed under inputs, except for inputs already held by workers.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TaskGraph {
    /// The tasks, in any order.
    pub tasks: Vec<Task>,
}

impl TaskGraph {
    /// Number of tasks.
    pub fn len(&self) -> usize {
        self.tasks.len()
    }

    /// Whether the graph has no tasks.
    pub fn is_empty(&self) -> bool {
        self.tasks.is_empty()
    }

    /// Add tasks from another graph, skipping keys already present.
    pub fn merge(&mut self, other: TaskGraph) {
        let mut seen: HashSet<TaskKey> = self.tasks.iter().map(|t| t.key.clone()).collect();
        for t in other.tasks {
            if seen.insert(t.key.clone()) {
                self.tasks.push(t);
            }
        }
    }

    /// Check that keys are unique, that every input is either a task of the graph or
    /// in `external` (already held by the cluster), and that there is no cycle.
    pub fn validate(&self, external: &dyn Fn(&TaskKey) -> bool) -> Result<()> {
        let mut index: HashMap<&TaskKey, usize> = HashMap::with_capacity(self.tasks.len());
        for (i, t) in self.tasks.iter().enumerate() {
            if index.insert(&t.key, i).is_some() {
                return Err(Error::other(format!("graph holds key {} twice", t.key)));
            }
        }
        for t in &self.tasks {
            for input in &t.inputs {
                if !index.contains_key(input) && !external(input) {
                    return Err(Error::other(format!(
                        "task {} reads {}, which is neither in the graph nor held by the cluster",
                        t.key, input
                    )));
                }
            }
        }
        // Kahn's algorithm: every task must be reachable in topological order.
        let mut pending: Vec<usize> = self
            .tasks
            .iter()
            .map(|t| t.inputs.iter().filter(|k| index.contains_key(k)).count())
            .collect();
        let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); self.tasks.len()];
        for (i, t) in self.tasks.iter().enumerate() {
            for input in &t.inputs {
                if let Some(&j) = index.get(input) {
                    dependents[j].push(i);
                }
            }
        }
        let mut ready: Vec<usize> = (0..self.tasks.len()).filter(|&i| pending[i] == 0).collect();
        let mut done = 0;
        while let Some(i) = ready.pop() {
            done += 1;
            for &d in &dependents[i] {
                pending[d] -= 1;
                if pending[d] == 0 {
                    ready.push(d);
                }
            }
        }
        if done != self.tasks.len() {
            return Err(Error::other("graph has a cycle"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scalar::Scalar;

    fn task(key: &str, inputs: &[&str]) -> Task {
        let op = Op::Full {
            shape: vec![1],
            value: Scalar::F64(1.0),
        };
        Task::new(
            TaskKey::new(key),
            &op,
            inputs.iter().map(|k| TaskKey::new(*k)).collect(),
            8,
        )
    }

    #[test]
    fn validate_catches_missing_inputs_duplicates_and_cycles() {
        let none = |_: &TaskKey| false;
        let g = TaskGraph {
            tasks: vec![task("a", &[]), task("b", &["a"])],
        };
        assert!(g.validate(&none).is_ok());
        let g = TaskGraph {
            tasks: vec![task("b", &["a"])],
        };
        assert!(g.validate(&none).is_err());
        assert!(g.validate(&|k: &TaskKey| k.as_str() == "a").is_ok());
        let g = TaskGraph {
            tasks: vec![task("a", &[]), task("a", &[])],
        };
        assert!(g.validate(&none).is_err());
        let g = TaskGraph {
            tasks: vec![task("a", &["b"]), task("b", &["a"])],
        };
        assert!(g.validate(&none).is_err());
    }

    #[test]
    fn ops_round_trip_through_tasks() {
        let t = task("a", &[]);
        assert_eq!(
            t.decode_op().unwrap(),
            Op::Full {
                shape: vec![1],
                value: Scalar::F64(1.0)
            }
        );
    }
}
