//! `blockwise`: a registered kernel over blocks of several arrays matched by dask-style
//! index strings (`"ij"`, `"ji"`); indices missing from the output are contracted.

use super::chunks::{ChunkGrid, chunk_shape, grid_counts, grid_indices};
use super::lower::{LowerNode, TaskSink, nbytes};
use super::{Array, Node, NodeKind};
use std::collections::HashMap;
use std::sync::Arc;
use tessera_core::key::Tokenizer;
use tessera_core::ops::Op;
use tessera_core::{DType, Error, Result, TaskKey};

/// Run the kernel registered as `kernel` once per output block, dask's `blockwise`.
///
/// Each operand comes with an index string, one letter per axis; `out_index` names the
/// output's axes. Axes with the same letter must have the same length; their chunk
/// boundaries are aligned by rechunking later operands to the first one that has the
/// letter. A letter absent from `out_index` is contracted: the kernel receives every
/// block along it. The kernel's inputs are, operand by operand, the operand's blocks
/// for the output block, over all combinations of its contracted letters in C order (the
/// letters taken in the order the operand's index string lists them); an operand
/// without contracted letters gives exactly one block. The kernel must return a chunk
/// of the output block's shape and dtype `dtype`. New axes (output letters that no
/// operand has) and a letter repeated within one index string are refused.
pub fn blockwise(
    kernel: &str,
    out_index: &str,
    inputs: &[(&Array, &str)],
    args: &[u8],
    dtype: DType,
) -> Array {
    Array::from_result(try_blockwise(kernel, out_index, inputs, args, dtype))
}

/// [`blockwise`], returning a build error at once.
pub fn try_blockwise(
    kernel: &str,
    out_index: &str,
    inputs: &[(&Array, &str)],
    args: &[u8],
    dtype: DType,
) -> Result<Array> {
    if kernel.is_empty() || kernel.contains(['-', ':']) {
        return Err(Error::other(format!(
            "kernel name {kernel:?} must be non-empty and contain neither '-' nor ':'"
        )));
    }
    if inputs.is_empty() {
        return Err(Error::other("blockwise: needs at least one operand"));
    }
    let out: Vec<char> = out_index.chars().collect();
    check_unique("the output index", out_index, &out)?;
    // Per letter: its length and chunks, from the first operand that has it.
    let mut letters: HashMap<char, (usize, Vec<usize>, usize)> = HashMap::new();
    let mut operands = Vec::with_capacity(inputs.len());
    for (k, (array, index)) in inputs.iter().enumerate() {
        let node = array.node()?;
        let ix: Vec<char> = index.chars().collect();
        if ix.len() != node.shape.len() {
            return Err(Error::shape(format!(
                "blockwise: index {index:?} of operand {k} has {} letters but its shape {:?} has {} axes",
                ix.len(),
                node.shape,
                node.shape.len()
            )));
        }
        check_unique(&format!("the index of operand {k}"), index, &ix)?;
        for (axis, &c) in ix.iter().enumerate() {
            let (len, _, first) = letters
                .entry(c)
                .or_insert_with(|| (node.shape[axis], node.chunks[axis].clone(), k));
            if *len != node.shape[axis] {
                let (first_node, first_index): (&Arc<Node>, &str) =
                    (inputs[*first].0.node()?, inputs[*first].1);
                return Err(Error::shape(format!(
                    "blockwise: index {c:?} has length {len} in operand {first} (index {first_index:?}, shape {:?}) but {} in operand {k} (index {index:?}, shape {:?})",
                    first_node.shape, node.shape[axis], node.shape
                )));
            }
        }
        operands.push((node.clone(), ix));
    }
    if let Some(c) = out.iter().find(|c| !letters.contains_key(c)) {
        return Err(Error::shape(format!(
            "blockwise: output index {c:?} of {out_index:?} appears in no operand (new axes are not supported)"
        )));
    }
    // Align every operand's chunks with the letters' chunks.
    let mut aligned = Vec::with_capacity(operands.len());
    for (node, ix) in operands {
        let grid: ChunkGrid = ix.iter().map(|c| letters[c].1.clone()).collect();
        let node = if grid == node.chunks {
            node
        } else {
            Array::wrap(node).rechunk_grid(grid).node()?.clone()
        };
        aligned.push((node, ix));
    }
    let shape = out.iter().map(|c| letters[c].0).collect();
    let chunks: ChunkGrid = out.iter().map(|c| letters[c].1.clone()).collect();
    let mut token = Tokenizer::new(kernel)
        .str("blockwise")
        .str(out_index)
        .bytes(args)
        .value(&dtype);
    for (node, ix) in &aligned {
        token = token.str(&node.name).str(&ix.iter().collect::<String>());
    }
    let lowering = Blockwise {
        kernel: kernel.to_string(),
        args: args.to_vec(),
        out,
        indices: aligned.iter().map(|(_, ix)| ix.clone()).collect(),
    };
    Ok(Array::from_node(Node {
        name: token.finish(),
        shape,
        chunks,
        dtype,
        kind: NodeKind::Custom {
            inputs: aligned.into_iter().map(|(n, _)| n).collect(),
            lowering: Box::new(lowering),
        },
    }))
}

fn check_unique(what: &str, text: &str, letters: &[char]) -> Result<()> {
    for (i, c) in letters.iter().enumerate() {
        if letters[..i].contains(c) {
            return Err(Error::shape(format!(
                "blockwise: letter {c:?} is repeated in {what} {text:?} (diagonals are not supported)"
            )));
        }
    }
    Ok(())
}

/// One `Op::Kernel` task per output block, reading the operands' matching blocks.
struct Blockwise {
    kernel: String,
    args: Vec<u8>,
    out: Vec<char>,
    indices: Vec<Vec<char>>,
}

impl LowerNode for Blockwise {
    fn lower(&self, node: &Node, inputs: &[Arc<Node>], tasks: &mut TaskSink<'_>) {
        let op = Op::Kernel {
            name: self.kernel.clone(),
            args: self.args.clone(),
        };
        for out_ix in grid_indices(&grid_counts(&node.chunks)) {
            let mut keys = Vec::new();
            for (input, ix) in inputs.iter().zip(&self.indices) {
                // Axes of this operand whose letter the output lacks, in its own order.
                let contracted: Vec<usize> = (0..ix.len())
                    .filter(|&a| !self.out.contains(&ix[a]))
                    .collect();
                let counts: Vec<usize> =
                    contracted.iter().map(|&a| input.chunks[a].len()).collect();
                for combo in grid_indices(&counts) {
                    let block: Vec<usize> = (0..ix.len())
                        .map(|a| match self.out.iter().position(|c| *c == ix[a]) {
                            Some(p) => out_ix[p],
                            None => combo[contracted.iter().position(|&x| x == a).unwrap_or(0)],
                        })
                        .collect();
                    keys.push(TaskKey::chunk(&input.name, &block));
                }
            }
            let hint = nbytes(node, &chunk_shape(&node.chunks, &out_ix));
            tasks.push(TaskKey::chunk(&node.name, &out_ix), &op, keys, hint);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::array::random;

    #[test]
    fn index_strings_are_checked_and_chunks_aligned() {
        let a = random::<f64>(&[6, 4], &[4, 3], 1);
        let b = random::<f64>(&[4, 6], &[2, 5], 2);
        let c = blockwise("k", "ij", &[(&a, "ij"), (&b, "ji")], &[], DType::F64);
        assert_eq!(c.shape().unwrap(), &[6, 4]);
        assert_eq!(c.chunks().unwrap(), a.chunks().unwrap());
        let l = crate::array::lower::lower(c.node().unwrap());
        l.graph.validate(&|_| false).unwrap();
        let m = blockwise("k", "ik", &[(&a, "ij"), (&b, "jk")], &[], DType::F64);
        assert_eq!(m.shape().unwrap(), &[6, 6]);
        let l = crate::array::lower::lower(m.node().unwrap());
        let kernel_inputs: Vec<usize> = l
            .graph
            .tasks
            .iter()
            .filter(|t| l.outputs.contains(&t.key))
            .map(|t| t.inputs.len())
            .collect();
        // Two blocks along j from each operand (b rechunked to a's [3, 1] along j).
        assert_eq!(kernel_inputs, vec![4; 4]);
        let err = |r: Result<Array>| r.unwrap_err().to_string();
        let e = err(try_blockwise(
            "k",
            "ij",
            &[(&a, "ij"), (&b, "ij")],
            &[],
            DType::F64,
        ));
        assert!(e.contains("[6, 4]") && e.contains("[4, 6]"), "{e}");
        assert!(err(try_blockwise("k", "ij", &[(&a, "i")], &[], DType::F64)).contains("1 letters"));
        assert!(err(try_blockwise("k", "ii", &[(&a, "ij")], &[], DType::F64)).contains("repeated"));
        assert!(err(try_blockwise("k", "i", &[(&a, "ii")], &[], DType::F64)).contains("repeated"));
        assert!(
            err(try_blockwise("k", "ijz", &[(&a, "ij")], &[], DType::F64)).contains("new axes")
        );
        assert!(try_blockwise("k", "", &[], &[], DType::F64).is_err());
        assert!(try_blockwise("a:b", "ij", &[(&a, "ij")], &[], DType::F64).is_err());
    }
}
