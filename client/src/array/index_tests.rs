//! Unit tests of basic indexing: NumPy's slice semantics, chunk plans, culling to the
//! overlapping chunks, and the combination of a slice of a slice into one slice.

use super::*;
use crate::array::lower::lower_nodes;
use crate::array::random;

fn positions(s: &Stride) -> Vec<usize> {
    (0..s.len).map(|k| s.at(k)).collect()
}

#[test]
fn slices_follow_numpy() {
    let r = |a, b, st| positions(&resolve_range(a, b, st, 10));
    assert_eq!(r(None, None, 2), [0, 2, 4, 6, 8]);
    assert_eq!(r(Some(1), None, 3), [1, 4, 7]);
    assert_eq!(r(None, None, -1), [9, 8, 7, 6, 5, 4, 3, 2, 1, 0]);
    assert_eq!(r(Some(8), Some(2), -2), [8, 6, 4]);
    assert_eq!(r(Some(-3), None, 1), [7, 8, 9]);
    assert_eq!(r(None, Some(-12), -1).len(), 10);
    assert_eq!(r(Some(-20), Some(5), 1), [0, 1, 2, 3, 4]);
    assert_eq!(r(Some(5), Some(100), 1), [5, 6, 7, 8, 9]);
    assert_eq!(r(Some(100), None, -1).len(), 10);
    assert!(r(Some(100), None, 1).is_empty());
    assert!(r(Some(-100), None, -1).is_empty());
    assert!(r(Some(3), Some(3), 1).is_empty());
    assert!(r(Some(2), Some(5), -1).is_empty());
    assert_eq!(r(None, None, -3), [9, 6, 3, 0]);
    assert_eq!(r(Some(-1), Some(-4), -1), [9, 8, 7]);
    assert_eq!(r(None, None, isize::MAX), [0]);
    assert_eq!(r(None, None, isize::MIN), [9]);
    assert!(positions(&resolve_range(None, None, -1, 0)).is_empty());
}

#[test]
fn bad_indices_are_refused_naming_them() {
    let x = random::<f64>(&[4, 5], &[2, 2], 1);
    let err = |ix: &[Idx]| x.try_index(ix).unwrap_err().to_string();
    let e = err(&[Idx::at(4)]);
    assert!(
        e.contains("index 4") && e.contains("axis 0") && e.contains("[4, 5]"),
        "{e}"
    );
    let e = err(&[Idx::full(), Idx::at(-6)]);
    assert!(
        e.contains("index -6") && e.contains("axis 1") && e.contains("size 5"),
        "{e}"
    );
    assert!(err(&[Idx::range(None, None, 0)]).contains("step cannot be zero"));
    let e = err(&[Idx::at(0), Idx::at(0), Idx::at(0)]);
    assert!(
        e.contains("too many indices") && e.contains("[4, 5]"),
        "{e}"
    );
    assert!(err(&[Idx::ellipsis(), Idx::ellipsis()]).contains("single ellipsis"));
    assert_eq!(
        x.index(&[Idx::at(-4), Idx::at(4)]).shape().unwrap(),
        &[] as &[usize]
    );
}

#[test]
fn chunk_plans_follow_the_input_chunks() {
    // Axis of 10 in chunks 4, 4, 2; positions 9, 7, 5, 3, 1.
    let plan = axis_plan(&resolve_range(None, None, -2, 10), &[4, 4, 2]);
    let got: Vec<(usize, Vec<usize>)> = plan.iter().map(|(c, s)| (*c, positions(s))).collect();
    assert_eq!(got, [(2, vec![1]), (1, vec![3, 1]), (0, vec![3, 1])]);
    // Positions 1, 4, 7: chunk 0 holds 1, chunk 1 holds 4 and 7 (local 0 and 3).
    let plan = axis_plan(&resolve_range(Some(1), None, 3, 10), &[4, 4, 2]);
    let got: Vec<(usize, Vec<usize>)> = plan.iter().map(|(c, s)| (*c, positions(s))).collect();
    assert_eq!(got, [(0, vec![1]), (1, vec![0, 3])]);
    let x = random::<f64>(&[10, 6], &[4, 3], 1);
    let y = x.index(&[Idx::range(None, None, -2), Idx::newaxis(), Idx::at(4)]);
    assert_eq!(y.shape().unwrap(), &[5, 1]);
    assert_eq!(y.chunks().unwrap(), &vec![vec![1, 2, 2], vec![1]]);
    let empty = x.index(&[Idx::range(Some(3), Some(3), 1)]);
    assert_eq!(empty.chunks().unwrap(), &vec![vec![0], vec![3, 3]]);
}

#[test]
fn slices_touch_only_the_chunks_they_need() {
    let x = random::<f64>(&[40, 40], &[10, 10], 7);
    // Rows 12..18 and columns 0..40 step 15 (0, 15, 30): input chunk rows {1}, cols {0, 1, 3}.
    let y = x.index(&[
        Idx::range(Some(12), Some(18), 1),
        Idx::range(None, None, 15),
    ]);
    let l = lower_nodes(y.node().unwrap());
    l.graph.validate(&|_| false).unwrap();
    let mut read: Vec<&str> = l
        .graph
        .tasks
        .iter()
        .filter(|t| t.key.group() == "random")
        .map(|t| t.key.as_str().rsplit(':').next().unwrap())
        .collect();
    read.sort();
    assert_eq!(read, ["1,0", "1,1", "1,3"]);
    assert_eq!(y.num_chunks().unwrap(), 3);
    assert_eq!(y.graph_stats().unwrap().tasks_after, 3 + 3);
}

#[test]
fn a_slice_of_a_slice_is_one_slice() {
    let x = random::<f64>(&[30, 20], &[7, 6], 3);
    let twice = x
        .index(&[Idx::range(Some(2), None, 2), Idx::range(None, None, -1)])
        .index(&[Idx::range(Some(1), Some(-1), 3), Idx::at(4)]);
    // Rows 2, 4, ..., 28 then 1..13 step 3: rows 4, 10, 16, 22; columns reversed, then 4: 15.
    let once = x.index(&[Idx::range(Some(4), Some(23), 6), Idx::at(15)]);
    assert_eq!(twice.name().unwrap(), once.name().unwrap());
    assert_eq!(twice.graph_stats().unwrap(), once.graph_stats().unwrap());
    // New axes and integer indices compose too; an empty new-axis slice does not.
    let a = x.index(&[Idx::newaxis(), Idx::at(3)]);
    let b = a.index(&[Idx::at(0), Idx::range(Some(-5), None, 1), Idx::newaxis()]);
    let direct = x.index(&[Idx::at(3), Idx::range(Some(15), None, 1), Idx::newaxis()]);
    assert_eq!(b.name().unwrap(), direct.name().unwrap());
    let c = a.index(&[Idx::range(Some(1), None, 1)]);
    assert_eq!(c.shape().unwrap(), &[0, 20]);
    // The full index is the array itself.
    assert_eq!(
        x.index(&[Idx::ellipsis()]).name().unwrap(),
        x.name().unwrap()
    );
}

#[test]
fn take_reads_only_the_chunks_holding_its_indices() {
    let x = random::<f64>(&[40, 3], &[10, 3], 2);
    // Positions 35, 2, 35, 39 fit one output chunk (runs of 10), reading input chunks 3 and 0.
    let y = x.take(&[35, 2, 35, -1], 0);
    assert_eq!(y.chunks().unwrap(), &vec![vec![4], vec![3]]);
    let l = lower_nodes(y.node().unwrap());
    l.graph.validate(&|_| false).unwrap();
    let mut read: Vec<&str> = l
        .graph
        .tasks
        .iter()
        .filter(|t| t.key.group() == "random")
        .map(|t| t.key.as_str().rsplit(':').next().unwrap())
        .collect();
    read.sort();
    assert_eq!(read, ["0,0", "3,0"]);
    // Twelve positions in chunk 1 only: two output chunks (10 + 2), one input chunk.
    let z = x.take(&[11; 12], 0);
    assert_eq!(z.chunks().unwrap(), &vec![vec![10, 2], vec![3]]);
    assert_eq!(z.graph_stats().unwrap().tasks_after, 1 + 2);
    let m = x.mask_axis(0, &[false; 40]);
    assert_eq!(
        (m.shape().unwrap(), m.num_chunks().unwrap()),
        (&[0, 3][..], 1)
    );
}
