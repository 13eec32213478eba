use ndarray::{ArrayD, IxDyn, Axis, Zip};
use std::time::Instant;
use tessera_core::kernels::execute;
use tessera_core::ops::*;
use tessera_core::{Chunk, DType};

fn t<R>(name: &str, f: impl Fn() -> R) -> R {
    let _ = f();
    let s = Instant::now();
    let mut r = f();
    for _ in 0..4 { r = f(); }
    println!("{name:40} {:8.2} ms", s.elapsed().as_secs_f64() * 1000.0 / 5.0);
    r
}

fn main() {
    let n = 4000;
    let a = ArrayD::from_shape_fn(IxDyn(&[n, n]), |ix| (ix[0] * 7 + ix[1]) as f64 * 0.001);
    let b = a.mapv(|x| x + 1.0);
    let ca = Chunk::from_ndarray(a.clone());
    let cb = Chunk::from_ndarray(b.clone());
    let row = Chunk::from_ndarray(ArrayD::from_elem(IxDyn(&[n]), 2.0));
    let inp = |i| Box::new(Expr::Input(i));
    t("ndarray a+b", || &a + &b);
    t("ndarray Zip a+b", || Zip::from(&a).and(&b).map_collect(|&x, &y| x + y));
    let add = Op::Elementwise { expr: Expr::Binary(BinaryOp::Add, inp(0), inp(1)), shape: vec![n, n] };
    t("kernel a+b", || execute(&add, &[ca.clone(), cb.clone()]).unwrap());
    let bc = Op::Elementwise { expr: Expr::Binary(BinaryOp::Mul, inp(0), inp(1)), shape: vec![n, n] };
    t("kernel a*row (broadcast)", || execute(&bc, &[ca.clone(), row.clone()]).unwrap());
    let chain = Op::Elementwise {
        expr: Expr::Unary(UnaryOp::Sqrt, Box::new(Expr::Binary(BinaryOp::Add,
            Box::new(Expr::Binary(BinaryOp::Mul, inp(0), inp(0))), Box::new(Expr::Scalar(1.0.into()))))),
        shape: vec![n, n] };
    t("kernel sqrt(a*a+1)", || execute(&chain, &[ca.clone()]).unwrap());
    t("ndarray sqrt(a*a+1)", || a.mapv(|x| (x * x + 1.0).sqrt()));
    let cmp = Op::Elementwise { expr: Expr::Binary(BinaryOp::Lt, inp(0), inp(1)), shape: vec![n, n] };
    t("kernel a<b -> bool", || execute(&cmp, &[ca.clone(), cb.clone()]).unwrap());
    let cast = Op::Elementwise { expr: Expr::Cast(DType::F32, inp(0)), shape: vec![n, n] };
    t("kernel cast f32", || execute(&cast, &[ca.clone()]).unwrap());
    t("ndarray sum all", || a.sum());
    for (name, axes) in [("sum all", vec![0, 1]), ("sum axis0", vec![0]), ("sum axis1", vec![1])] {
        let p = Op::ReducePartial { reduction: Reduction::Sum, axes };
        t(&format!("kernel partial {name}"), || execute(&p, &[ca.clone()]).unwrap());
    }
    t("ndarray sum_axis0", || a.sum_axis(Axis(0)));
    t("ndarray sum_axis1", || a.sum_axis(Axis(1)));
    for (name, axes) in [("var all", vec![0, 1]), ("var axis0", vec![0]), ("var axis1", vec![1])] {
        let p = Op::ReducePartial { reduction: Reduction::Var { ddof: 0 }, axes };
        t(&format!("kernel partial {name}"), || execute(&p, &[ca.clone()]).unwrap());
    }
    for (name, axes) in [("max axis0", vec![0]), ("max axis1", vec![1])] {
        let p = Op::ReducePartial { reduction: Reduction::Max, axes };
        t(&format!("kernel partial {name}"), || execute(&p, &[ca.clone()]).unwrap());
    }
    let tall = Chunk::from_ndarray(ArrayD::from_elem(IxDyn(&[n * n / 4, 4]), 1.0f64));
    let p = Op::ReducePartial { reduction: Reduction::Sum, axes: vec![0] };
    t("kernel partial sum axis0 of [4M,4]", || execute(&p, &[tall.clone()]).unwrap());
    let p = Op::ReducePartial { reduction: Reduction::Sum, axes: vec![1] };
    t("kernel partial sum axis1 of [4M,4]", || execute(&p, &[tall.clone()]).unwrap());
    let tr = Op::Transpose { axes: vec![1, 0] };
    t("kernel transpose", || execute(&tr, &[ca.clone()]).unwrap());
    t("ndarray t().as_standard_layout", || a.t().as_standard_layout().into_owned());
    let asm = Op::Assemble { shape: vec![n, n], dtype: DType::F64, pieces: vec![
        Piece { input: 0, source: vec![0..n/2, 0..n], offset: vec![0, 0] },
        Piece { input: 1, source: vec![0..n/2, 0..n], offset: vec![n/2, 0] }] };
    t("kernel assemble 2 halves", || execute(&asm, &[ca.clone(), cb.clone()]).unwrap());
    let full = Op::Full { shape: vec![n, n], value: 1.0.into() };
    t("kernel full", || execute(&full, &[]).unwrap());
    let rnd = Op::Random { seed: 1, stream: 2, shape: vec![n, n], dist: RandomDist::Uniform { low: 0.0, high: 1.0 }, dtype: DType::F64 };
    t("kernel random", || execute(&rnd, &[]).unwrap());
}
