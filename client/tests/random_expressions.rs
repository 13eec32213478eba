//! Property test on a real cluster: random expression trees over random shapes and
//! chunkings give ndarray's answer (elementwise ops, broadcasting, transposes, reductions).

mod common;

use ndarray::{ArrayD, Axis, IxDyn};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use tessera::array::from_ndarray;
use tessera::{Array, Client};

/// An expression over square leaves of side `n`.
#[derive(Clone, Debug)]
enum Expr {
    Leaf(usize),
    Add(Box<Expr>, Box<Expr>),
    Sub(Box<Expr>, Box<Expr>),
    Mul(Box<Expr>, Box<Expr>),
    Div(Box<Expr>, Box<Expr>),
    Scale(f64, Box<Expr>),
    Shift(f64, Box<Expr>),
    Neg(Box<Expr>),
    Abs(Box<Expr>),
    SqrtAbs(Box<Expr>),
    Transpose(Box<Expr>),
    /// Broadcast a row: `e + row` with a 1-d leaf of side n.
    AddRow(Box<Expr>, usize),
}

#[derive(Clone, Copy, Debug)]
enum Root {
    Whole,
    Sum(Option<usize>),
    Mean(Option<usize>),
    Min(Option<usize>),
    Max(Option<usize>),
    Var(Option<usize>),
    Std(Option<usize>),
}

fn expr_strategy(leaves: usize) -> impl Strategy<Value = Expr> {
    let leaf = (0..leaves).prop_map(Expr::Leaf);
    leaf.prop_recursive(5, 24, 2, move |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| Expr::Add(a.into(), b.into())),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| Expr::Sub(a.into(), b.into())),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| Expr::Mul(a.into(), b.into())),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| Expr::Div(a.into(), b.into())),
            (-3.0..3.0f64, inner.clone()).prop_map(|(s, a)| Expr::Scale(s, a.into())),
            (-3.0..3.0f64, inner.clone()).prop_map(|(s, a)| Expr::Shift(s, a.into())),
            inner.clone().prop_map(|a| Expr::Neg(a.into())),
            inner.clone().prop_map(|a| Expr::Abs(a.into())),
            inner.clone().prop_map(|a| Expr::SqrtAbs(a.into())),
            inner.clone().prop_map(|a| Expr::Transpose(a.into())),
            (inner, 0..2usize).prop_map(|(a, r)| Expr::AddRow(a.into(), r)),
        ]
    })
}

fn root_strategy() -> impl Strategy<Value = Root> {
    let axis = prop_oneof![Just(None), (0..2usize).prop_map(Some)];
    prop_oneof![
        Just(Root::Whole),
        axis.clone().prop_map(Root::Sum),
        axis.clone().prop_map(Root::Mean),
        axis.clone().prop_map(Root::Min),
        axis.clone().prop_map(Root::Max),
        axis.clone().prop_map(Root::Var),
        axis.prop_map(Root::Std),
    ]
}

fn build(e: &Expr, leaves: &[Array], rows: &[Array]) -> Array {
    match e {
        Expr::Leaf(i) => leaves[*i].clone(),
        Expr::Add(a, b) => build(a, leaves, rows) + build(b, leaves, rows),
        Expr::Sub(a, b) => build(a, leaves, rows) - build(b, leaves, rows),
        Expr::Mul(a, b) => build(a, leaves, rows) * build(b, leaves, rows),
        Expr::Div(a, b) => build(a, leaves, rows) / build(b, leaves, rows),
        Expr::Scale(s, a) => build(a, leaves, rows) * *s,
        Expr::Shift(s, a) => *s + build(a, leaves, rows),
        Expr::Neg(a) => -build(a, leaves, rows),
        Expr::Abs(a) => build(a, leaves, rows).abs(),
        Expr::SqrtAbs(a) => build(a, leaves, rows).abs().sqrt(),
        Expr::Transpose(a) => build(a, leaves, rows).t(),
        Expr::AddRow(a, r) => build(a, leaves, rows) + &rows[*r],
    }
}

fn reference(e: &Expr, leaves: &[ArrayD<f64>], rows: &[ArrayD<f64>]) -> ArrayD<f64> {
    match e {
        Expr::Leaf(i) => leaves[*i].clone(),
        Expr::Add(a, b) => reference(a, leaves, rows) + reference(b, leaves, rows),
        Expr::Sub(a, b) => reference(a, leaves, rows) - reference(b, leaves, rows),
        Expr::Mul(a, b) => reference(a, leaves, rows) * reference(b, leaves, rows),
        Expr::Div(a, b) => reference(a, leaves, rows) / reference(b, leaves, rows),
        Expr::Scale(s, a) => reference(a, leaves, rows) * *s,
        Expr::Shift(s, a) => reference(a, leaves, rows) + *s,
        Expr::Neg(a) => -reference(a, leaves, rows),
        Expr::Abs(a) => reference(a, leaves, rows).mapv(f64::abs),
        Expr::SqrtAbs(a) => reference(a, leaves, rows).mapv(|v| v.abs().sqrt()),
        Expr::Transpose(a) => reference(a, leaves, rows).t().to_owned(),
        Expr::AddRow(a, r) => reference(a, leaves, rows) + &rows[*r],
    }
}

fn apply_root(root: Root, a: &Array) -> Array {
    let by =
        |axis: Option<usize>, all: fn(&Array) -> Array, one: fn(&Array, usize) -> Array| match axis
        {
            None => all(a),
            Some(ax) => one(a, ax),
        };
    match root {
        Root::Whole => a.clone(),
        Root::Sum(ax) => by(ax, Array::sum, Array::sum_axis),
        Root::Mean(ax) => by(ax, Array::mean, Array::mean_axis),
        Root::Min(ax) => by(ax, Array::min, Array::min_axis),
        Root::Max(ax) => by(ax, Array::max, Array::max_axis),
        Root::Var(ax) => by(ax, |a| a.var(0), |a, x| a.var_axis(x, 0)),
        Root::Std(ax) => by(ax, |a| a.std(1), |a, x| a.std_axis(x, 1)),
    }
}

fn reference_root(root: Root, a: &ArrayD<f64>) -> ArrayD<f64> {
    let reduce = |axis: Option<usize>, f: &dyn Fn(ndarray::ArrayViewD<f64>) -> f64| match axis {
        None => ArrayD::from_elem(IxDyn(&[]), f(a.view())),
        Some(ax) => a.map_axis(Axis(ax), |lane| f(lane.into_dyn())),
    };
    let nanmin = |v: ndarray::ArrayViewD<f64>| {
        v.iter().fold(f64::INFINITY, |m, &x| {
            if x.is_nan() || m.is_nan() {
                f64::NAN
            } else {
                m.min(x)
            }
        })
    };
    let nanmax = |v: ndarray::ArrayViewD<f64>| {
        v.iter().fold(f64::NEG_INFINITY, |m, &x| {
            if x.is_nan() || m.is_nan() {
                f64::NAN
            } else {
                m.max(x)
            }
        })
    };
    let var = |v: ndarray::ArrayViewD<f64>, ddof: f64| {
        let n = v.len() as f64;
        let mean = v.sum() / n;
        v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - ddof)
    };
    match root {
        Root::Whole => a.clone(),
        Root::Sum(ax) => reduce(ax, &|v| v.sum()),
        Root::Mean(ax) => reduce(ax, &|v| v.sum() / v.len() as f64),
        Root::Min(ax) => reduce(ax, &nanmin),
        Root::Max(ax) => reduce(ax, &nanmax),
        Root::Var(ax) => reduce(ax, &|v| var(v, 0.0)),
        Root::Std(ax) => reduce(ax, &|v| var(v, 1.0).sqrt()),
    }
}

fn close(got: &ArrayD<f64>, want: &ArrayD<f64>) -> Result<(), String> {
    if got.shape() != want.shape() {
        return Err(format!("shape {:?} != {:?}", got.shape(), want.shape()));
    }
    for (g, w) in got.iter().zip(want.iter()) {
        let ok = (g.is_nan() && w.is_nan())
            || g == w
            || (g - w).abs() <= 1e-9 * (1.0 + w.abs().max(g.abs()));
        if !ok {
            return Err(format!("{g} != {w}"));
        }
    }
    Ok(())
}

#[test]
fn random_expression_trees_match_ndarray() {
    let cluster = common::cluster(2);
    let client: Client = cluster.client().unwrap();
    let strategy = (
        1usize..14,
        proptest::collection::vec(1usize..8, 5),
        expr_strategy(3),
        root_strategy(),
        any::<u64>(),
    );
    let mut runner = TestRunner::new(Config {
        cases: 24,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&strategy, |(n, chunk_sides, expr, root, seed)| {
            let mut state = seed | 1;
            let mut next = move || {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                // Values in [-2, 2) with occasional exact zeros (division gives inf/NaN).
                if state % 17 == 0 {
                    0.0
                } else {
                    (state >> 11) as f64 / (1u64 << 53) as f64 * 4.0 - 2.0
                }
            };
            let leaves_nd: Vec<ArrayD<f64>> = (0..3)
                .map(|_| ArrayD::from_shape_simple_fn(IxDyn(&[n, n]), &mut next))
                .collect();
            let rows_nd: Vec<ArrayD<f64>> = (0..2)
                .map(|_| ArrayD::from_shape_simple_fn(IxDyn(&[n]), &mut next))
                .collect();
            let leaves: Vec<Array> = leaves_nd
                .iter()
                .enumerate()
                .map(|(i, a)| from_ndarray(a, &[chunk_sides[i], chunk_sides[(i + 1) % 5]]))
                .collect();
            let rows: Vec<Array> = rows_nd
                .iter()
                .enumerate()
                .map(|(i, a)| from_ndarray(a, &[chunk_sides[3 + i]]))
                .collect();
            let array = apply_root(root, &build(&expr, &leaves, &rows));
            let want = reference_root(root, &reference(&expr, &leaves_nd, &rows_nd));
            let got: ArrayD<f64> = client
                .compute(&array)
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            close(&got, &want)
                .map_err(|m| TestCaseError::fail(format!("{expr:?} {root:?} n={n}: {m}")))
        })
        .unwrap();
}
