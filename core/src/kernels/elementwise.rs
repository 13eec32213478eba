//! `Op::Elementwise`: evaluate a fused expression tree over the input chunks, each
//! broadcast with NumPy's rules to the task's shape, dispatching on dtype once per node.

use super::dynarray::{DynCow, DynElement, checked_len};
use super::elemops::{TVal, Val, binary, cast, co_broadcast, materialize, unary};
use crate::chunk::Chunk;
use crate::error::{Error, Result};
use crate::ops::Expr;
use ndarray::CowArray;

/// Deepest expression tree accepted. Evaluation recurses once per level, so a hostile
/// tree must be refused before it can exhaust a worker thread's stack.
pub const MAX_EXPR_DEPTH: usize = 256;

/// Evaluate `expr` over `inputs` into a chunk of exactly `shape`.
///
/// Every input the expression reads must broadcast to `shape`; the expression's own
/// broadcast shape is then broadcast to `shape` too (so `Scalar(1.0)` alone fills the
/// chunk). Inputs the expression never reads are ignored. Binary operands must share a
/// dtype (the builder inserts casts); see [`crate::ops::UnaryOp`] and
/// [`crate::ops::BinaryOp`] for what each dtype accepts.
pub(crate) fn elementwise(expr: &Expr, shape: &[usize], inputs: &[Chunk]) -> Result<Chunk> {
    checked_len(shape)?;
    let used = referenced_inputs(expr, inputs.len())?;
    let mut views: Vec<Option<DynCow<'_>>> = Vec::with_capacity(inputs.len());
    for (i, chunk) in inputs.iter().enumerate() {
        if !used[i] {
            views.push(None);
            continue;
        }
        let s = co_broadcast(chunk.shape(), shape)
            .ok()
            .filter(|s| s.as_slice() == shape);
        if s.is_none() {
            return Err(Error::shape(format!(
                "elementwise input {i} of shape {:?} does not broadcast to the output shape {shape:?}",
                chunk.shape()
            )));
        }
        views.push(Some(DynCow::from_chunk(chunk)?));
    }
    // A bare input of the right shape is the input itself: share its buffer.
    if let Expr::Input(i) = expr
        && inputs[*i].shape() == shape
    {
        return Ok(inputs[*i].clone());
    }
    let value = eval(expr, &views)?;
    let out = match value {
        Val::Bool(t) => finish(t, shape)?,
        Val::I32(t) => finish(t, shape)?,
        Val::I64(t) => finish(t, shape)?,
        Val::F32(t) => finish(t, shape)?,
        Val::F64(t) => finish(t, shape)?,
    };
    Ok(out)
}

fn finish<T: DynElement>(t: TVal<'_, T>, shape: &[usize]) -> Result<Chunk> {
    Ok(T::wrap(materialize(t, shape)?).into_chunk())
}

/// Check the tree's depth and input indices without recursion; return which inputs it reads.
fn referenced_inputs(expr: &Expr, n_inputs: usize) -> Result<Vec<bool>> {
    let mut used = vec![false; n_inputs];
    let mut stack = vec![(expr, 1usize)];
    while let Some((e, depth)) = stack.pop() {
        if depth > MAX_EXPR_DEPTH {
            return Err(Error::other(format!(
                "elementwise expression is deeper than {MAX_EXPR_DEPTH} levels"
            )));
        }
        match e {
            Expr::Input(i) => {
                let slot = used.get_mut(*i).ok_or_else(|| {
                    Error::other(format!(
                        "elementwise expression reads input {i} but the task has {n_inputs} inputs"
                    ))
                })?;
                *slot = true;
            }
            Expr::Scalar(_) => {}
            Expr::Unary(_, a) | Expr::Cast(_, a) => stack.push((a, depth + 1)),
            Expr::Binary(_, a, b) => {
                stack.push((a, depth + 1));
                stack.push((b, depth + 1));
            }
            Expr::Where(c, a, b) => {
                stack.push((c, depth + 1));
                stack.push((a, depth + 1));
                stack.push((b, depth + 1));
            }
        }
    }
    Ok(used)
}

fn eval<'v>(e: &Expr, inputs: &'v [Option<DynCow<'_>>]) -> Result<Val<'v>> {
    Ok(match e {
        Expr::Input(i) => {
            let view = inputs
                .get(*i)
                .and_then(|v| v.as_ref())
                .ok_or_else(|| Error::other(format!("input {i} was not prepared")))?;
            match view {
                DynCow::Bool(a) => Val::Bool(TVal::Arr(CowArray::from(a.view()))),
                DynCow::I32(a) => Val::I32(TVal::Arr(CowArray::from(a.view()))),
                DynCow::I64(a) => Val::I64(TVal::Arr(CowArray::from(a.view()))),
                DynCow::F32(a) => Val::F32(TVal::Arr(CowArray::from(a.view()))),
                DynCow::F64(a) => Val::F64(TVal::Arr(CowArray::from(a.view()))),
            }
        }
        Expr::Scalar(s) => Val::scalar(*s),
        Expr::Unary(op, a) => unary(*op, eval(a, inputs)?)?,
        Expr::Cast(d, a) => cast(eval(a, inputs)?, *d),
        Expr::Binary(op, a, b) => {
            let l = eval(a, inputs)?;
            let r = eval(b, inputs)?;
            binary(*op, l, r)?
        }
        Expr::Where(c, a, b) => {
            let c = eval(c, inputs)?;
            let a = eval(a, inputs)?;
            let b = eval(b, inputs)?;
            super::ufuncs::where_(c, a, b)?
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dtype::DType;
    use crate::ops::{BinaryOp, UnaryOp};
    use crate::scalar::Scalar;
    use ndarray::{ArrayD, IxDyn, array};

    fn inp(i: usize) -> Box<Expr> {
        Box::new(Expr::Input(i))
    }
    fn bin(op: BinaryOp, a: Box<Expr>, b: Box<Expr>) -> Expr {
        Expr::Binary(op, a, b)
    }
    fn sc(s: impl Into<Scalar>) -> Box<Expr> {
        Box::new(Expr::Scalar(s.into()))
    }
    fn chunk<T: crate::chunk::ChunkElement>(a: ArrayD<T>) -> Chunk {
        Chunk::from_ndarray(a)
    }

    #[test]
    fn broadcasting_binary_matches_ndarray() {
        let a = array![[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]].into_dyn();
        let b = array![10.0, 20.0, 30.0].into_dyn();
        let out = elementwise(
            &bin(BinaryOp::Add, inp(0), inp(1)),
            &[2, 3],
            &[chunk(a.clone()), chunk(b.clone())],
        )
        .unwrap();
        assert_eq!(out.to_ndarray::<f64>().unwrap(), &a + &b);
        let col = array![[1.0], [2.0]].into_dyn();
        let out = elementwise(
            &bin(BinaryOp::Mul, inp(0), inp(1)),
            &[2, 3],
            &[chunk(col.clone()), chunk(b.clone())],
        )
        .unwrap();
        assert_eq!(out.to_ndarray::<f64>().unwrap(), &col * &b);
    }

    #[test]
    fn scalars_fill_and_input_alone_is_shared() {
        let out = elementwise(&Expr::Scalar(Scalar::I32(7)), &[2, 2], &[]).unwrap();
        assert_eq!(
            out.to_ndarray::<i32>().unwrap(),
            ArrayD::from_elem(IxDyn(&[2, 2]), 7)
        );
        let a = chunk(array![1i64, 2, 3].into_dyn());
        let out = elementwise(&Expr::Input(0), &[3], std::slice::from_ref(&a)).unwrap();
        assert!(std::sync::Arc::ptr_eq(out.values(), a.values()));
        let out = elementwise(&Expr::Input(0), &[2, 3], &[a]).unwrap();
        assert_eq!(
            out.to_ndarray::<i64>().unwrap(),
            array![[1i64, 2, 3], [1, 2, 3]].into_dyn()
        );
    }

    #[test]
    fn dtype_rules_are_enforced() {
        let f = chunk(array![1.0f32, -4.0, 0.0].into_dyn());
        let i = chunk(array![i32::MAX, i32::MIN, 3].into_dyn());
        let b = chunk(array![true, false, true].into_dyn());
        let ew = |e: Expr, ins: &[Chunk]| elementwise(&e, &[3], ins);
        assert!(ew(bin(BinaryOp::Add, inp(0), inp(1)), &[f.clone(), i.clone()]).is_err());
        assert!(ew(bin(BinaryOp::Div, inp(0), inp(0)), std::slice::from_ref(&i)).is_err());
        assert!(ew(bin(BinaryOp::Sub, inp(0), inp(0)), std::slice::from_ref(&b)).is_err());
        assert!(ew(Expr::Unary(UnaryOp::Neg, inp(0)), std::slice::from_ref(&b)).is_err());
        assert!(ew(Expr::Unary(UnaryOp::Sqrt, inp(0)), std::slice::from_ref(&i)).is_err());
        assert!(ew(Expr::Unary(UnaryOp::Not, inp(0)), std::slice::from_ref(&f)).is_err());
        let wrapped = ew(
            bin(BinaryOp::Add, inp(0), sc(1i32)),
            std::slice::from_ref(&i),
        )
        .unwrap();
        assert_eq!(
            wrapped.to_ndarray::<i32>().unwrap(),
            array![i32::MIN, i32::MIN + 1, 4].into_dyn()
        );
        let abs = ew(Expr::Unary(UnaryOp::Abs, inp(0)), std::slice::from_ref(&i)).unwrap();
        assert_eq!(
            abs.to_ndarray::<i32>().unwrap(),
            array![i32::MAX, i32::MIN, 3].into_dyn()
        );
        let or = ew(
            bin(BinaryOp::Add, inp(0), sc(false)),
            std::slice::from_ref(&b),
        )
        .unwrap();
        assert_eq!(
            or.to_ndarray::<bool>().unwrap(),
            array![true, false, true].into_dyn()
        );
        let and = ew(
            bin(BinaryOp::Mul, inp(0), sc(false)),
            std::slice::from_ref(&b),
        )
        .unwrap();
        assert_eq!(
            and.to_ndarray::<bool>().unwrap(),
            array![false, false, false].into_dyn()
        );
        let log = ew(Expr::Unary(UnaryOp::Log, inp(0)), std::slice::from_ref(&f)).unwrap();
        let log = log.to_ndarray::<f32>().unwrap();
        assert_eq!(log[0], 0.0);
        assert!(log[1].is_nan());
        assert_eq!(log[2], f32::NEG_INFINITY);
    }

    #[test]
    fn comparisons_and_casts() {
        let f = chunk(array![f64::NAN, 1.5, -2.5].into_dyn());
        let lt = elementwise(
            &bin(BinaryOp::Lt, inp(0), sc(0.0)),
            &[3],
            std::slice::from_ref(&f),
        )
        .unwrap();
        assert_eq!(
            lt.to_ndarray::<bool>().unwrap(),
            array![false, false, true].into_dyn()
        );
        let ne = elementwise(
            &bin(BinaryOp::Ne, inp(0), inp(0)),
            &[3],
            std::slice::from_ref(&f),
        )
        .unwrap();
        assert_eq!(
            ne.to_ndarray::<bool>().unwrap(),
            array![true, false, false].into_dyn()
        );
        let c = elementwise(
            &Expr::Cast(DType::I64, inp(0)),
            &[3],
            std::slice::from_ref(&f),
        )
        .unwrap();
        assert_eq!(c.to_ndarray::<i64>().unwrap(), array![0, 1, -2].into_dyn());
        let c = elementwise(
            &Expr::Cast(DType::Bool, inp(0)),
            &[3],
            std::slice::from_ref(&f),
        )
        .unwrap();
        assert_eq!(
            c.to_ndarray::<bool>().unwrap(),
            array![true, true, true].into_dyn()
        );
    }

    #[test]
    fn hostile_expressions_err() {
        let a = chunk(array![1.0, 2.0].into_dyn());
        assert!(elementwise(&Expr::Input(3), &[2], std::slice::from_ref(&a)).is_err());
        assert!(elementwise(&Expr::Input(0), &[3], std::slice::from_ref(&a)).is_err());
        assert!(elementwise(&Expr::Input(0), &[1], std::slice::from_ref(&a)).is_err());
        assert!(elementwise(&Expr::Scalar(Scalar::F64(0.0)), &[1 << 30, 1 << 30], &[]).is_err());
        let mut deep = Expr::Input(0);
        for _ in 0..10_000 {
            deep = Expr::Unary(UnaryOp::Neg, Box::new(deep));
        }
        assert!(elementwise(&deep, &[2], std::slice::from_ref(&a)).is_err());
        let mut ok = Expr::Input(0);
        for _ in 0..MAX_EXPR_DEPTH - 1 {
            ok = Expr::Unary(UnaryOp::Neg, Box::new(ok));
        }
        let out = elementwise(&ok, &[2], &[a]).unwrap();
        assert_eq!(
            out.to_ndarray::<f64>().unwrap(),
            array![-1.0, -2.0].into_dyn()
        );
        // Dropping a 10,000-deep Box chain recurses too; keep it well within the stack.
        std::mem::forget(deep);
    }
}
