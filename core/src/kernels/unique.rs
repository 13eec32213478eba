//! The `unique` kernel: the sorted distinct values of int or bool chunks. The per-chunk
//! step and every merge of a tree are the same kernel (distinct values of distinct values).

use super::dynarray::DynElement;
use crate::chunk::Chunk;
use crate::dtype::DType;
use crate::error::{Error, Result};
use ndarray::{ArrayD, IxDyn};

/// `Op::Unique`: the distinct values of all `inputs` (any shapes, one int or bool dtype),
/// ascending, as a 1-d chunk.
pub(crate) fn unique(inputs: &[Chunk]) -> Result<Chunk> {
    let first = inputs
        .first()
        .ok_or_else(|| Error::other("unique needs at least one input chunk"))?;
    if let Some((i, c)) = inputs
        .iter()
        .enumerate()
        .find(|(_, c)| c.dtype() != first.dtype())
    {
        return Err(Error::dtype(format!(
            "unique: input {i} is {}, input 0 is {}",
            c.dtype(),
            first.dtype()
        )));
    }
    match first.dtype() {
        DType::Bool => distinct::<bool>(inputs),
        DType::I32 => distinct::<i32>(inputs),
        DType::I64 => distinct::<i64>(inputs),
        d => Err(Error::dtype(format!(
            "unique needs an int or bool array, got {d}"
        ))),
    }
}

fn distinct<T: DynElement + Ord>(inputs: &[Chunk]) -> Result<Chunk> {
    let mut values: Vec<T> = Vec::new();
    for c in inputs {
        values.extend(T::read(c)?.iter().copied());
    }
    values.sort_unstable();
    values.dedup();
    let n = values.len();
    let out =
        ArrayD::from_shape_vec(IxDyn(&[n]), values).map_err(|e| Error::shape(e.to_string()))?;
    Ok(T::wrap(out).into_chunk())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn distinct_sorted_values_of_all_inputs() {
        let a = Chunk::from_ndarray(array![[3i64, -1, 3], [7, 0, -1]].into_dyn());
        let b = Chunk::from_ndarray(array![0i64, 9].into_dyn());
        let u = unique(&[a.clone(), b]).unwrap();
        assert_eq!(
            u.to_ndarray::<i64>().unwrap(),
            array![-1i64, 0, 3, 7, 9].into_dyn()
        );
        let t = Chunk::from_ndarray(array![true, true].into_dyn());
        assert_eq!(
            unique(std::slice::from_ref(&t))
                .unwrap()
                .to_ndarray::<bool>()
                .unwrap(),
            array![true].into_dyn()
        );
        let e = Chunk::from_ndarray(ArrayD::<i32>::zeros(IxDyn(&[0, 3])));
        assert_eq!(unique(&[e]).unwrap().shape(), &[0]);
        assert!(unique(&[]).is_err());
        let f = Chunk::from_ndarray(array![1.0f64].into_dyn());
        assert!(unique(&[f]).unwrap_err().to_string().contains("float64"));
        assert!(unique(&[a, t]).unwrap_err().to_string().contains("input 1"));
    }
}
