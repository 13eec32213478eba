//! `tessera._core.Expr`: DataFusion logical expressions for `tessera.dataframe` (columns,
//! literals from pyarrow scalars, operators, casts, aggregates), built without any I/O.

use arrow::array::{ArrayData, make_array};
use arrow::datatypes::DataType;
use arrow::pyarrow::PyArrowType;
use datafusion::functions_aggregate::expr_fn as agg;
use datafusion::logical_expr::{Expr, Operator, SortExpr, binary_expr, cast};
use datafusion::prelude::{coalesce, ident, lit};
use datafusion::scalar::ScalarValue;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;

/// A logical expression over the columns of a DataFrame (`tessera.dataframe.Series`
/// wraps one, with the DataFrame it refers to).
#[pyclass(module = "tessera._core", name = "Expr", frozen, from_py_object)]
#[derive(Clone)]
pub struct PyExpr {
    /// The DataFusion expression.
    pub inner: Expr,
}

impl From<Expr> for PyExpr {
    fn from(inner: Expr) -> Self {
        PyExpr { inner }
    }
}

/// `CASE WHEN cond THEN then ELSE otherwise END`: `then` where `cond` holds, `otherwise`
/// where it is false or null.
#[pyfunction]
pub fn case_when(cond: &PyExpr, then: &PyExpr, otherwise: &PyExpr) -> PyResult<PyExpr> {
    datafusion::logical_expr::when(cond.inner.clone(), then.inner.clone())
        .otherwise(otherwise.inner.clone())
        .map(PyExpr::from)
        .map_err(|e| PyTypeError::new_err(e.to_string()))
}

/// The column `name`, unqualified and taken literally (dots and capitals are part of it).
#[pyfunction]
pub fn col(name: &str) -> PyExpr {
    ident(name).into()
}

/// The value of a one-element pyarrow array as a literal of that array's type (so
/// dates, timestamps, decimals and strings keep their Arrow types).
#[pyfunction]
pub fn lit_array(value: PyArrowType<ArrayData>) -> PyResult<PyExpr> {
    let array = make_array(value.0);
    if array.len() != 1 {
        return Err(PyValueError::new_err(format!(
            "a literal is one value, not {} values",
            array.len()
        )));
    }
    let scalar = ScalarValue::try_from_array(&array, 0).map_err(|e| {
        PyTypeError::new_err(format!("cannot use this value in an expression: {e}"))
    })?;
    Ok(lit(scalar).into())
}

/// `count(*)`: the number of rows (of each group).
#[pyfunction]
pub fn count_all() -> PyExpr {
    datafusion::functions_aggregate::count::count_all().into()
}

/// Whether Arrow can cast values of type `from` to type `to`.
#[pyfunction]
pub fn can_cast(from: PyArrowType<DataType>, to: PyArrowType<DataType>) -> bool {
    arrow::compute::can_cast_types(&from.0, &to.0)
}

fn operator(op: &str) -> PyResult<Operator> {
    Ok(match op {
        "+" => Operator::Plus,
        "-" => Operator::Minus,
        "*" => Operator::Multiply,
        "/" => Operator::Divide,
        "%" => Operator::Modulo,
        "==" => Operator::Eq,
        "!=" => Operator::NotEq,
        "<" => Operator::Lt,
        "<=" => Operator::LtEq,
        ">" => Operator::Gt,
        ">=" => Operator::GtEq,
        "&" => Operator::And,
        "|" => Operator::Or,
        "||" => Operator::StringConcat,
        other => return Err(PyValueError::new_err(format!("unknown operator {other:?}"))),
    })
}

/// The sort key `expr` in the given direction.
pub fn sort_key(expr: &PyExpr, ascending: bool, nulls_first: bool) -> SortExpr {
    expr.inner.clone().sort(ascending, nulls_first)
}

#[pymethods]
impl PyExpr {
    /// `self <op> other` for `op` in `+ - * / % == != < <= > >= & | ||`.
    fn binary(&self, op: &str, other: &PyExpr) -> PyResult<PyExpr> {
        Ok(binary_expr(self.inner.clone(), operator(op)?, other.inner.clone()).into())
    }

    /// `-self`.
    fn negate(&self) -> PyExpr {
        Expr::Negative(Box::new(self.inner.clone())).into()
    }

    /// Logical `NOT self`.
    fn not_(&self) -> PyExpr {
        Expr::Not(Box::new(self.inner.clone())).into()
    }

    /// Whether the value is null.
    fn is_null(&self) -> PyExpr {
        self.inner.clone().is_null().into()
    }

    /// Whether the value is not null.
    fn is_not_null(&self) -> PyExpr {
        self.inner.clone().is_not_null().into()
    }

    /// Whether the value is one of `values` (a pyarrow array of the column's type).
    #[pyo3(signature = (values, negated = false))]
    fn isin(&self, values: PyArrowType<ArrayData>, negated: bool) -> PyResult<PyExpr> {
        let array = make_array(values.0);
        let list = (0..array.len())
            .map(|i| ScalarValue::try_from_array(&array, i).map(lit))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| PyTypeError::new_err(format!("isin: {e}")))?;
        Ok(self.inner.clone().in_list(list, negated).into())
    }

    /// The value cast to the Arrow type `to`.
    fn cast(&self, to: PyArrowType<DataType>) -> PyExpr {
        cast(self.inner.clone(), to.0).into()
    }

    /// The first non-null of `self` and `other`.
    fn fill_null(&self, other: &PyExpr) -> PyExpr {
        coalesce(vec![self.inner.clone(), other.inner.clone()]).into()
    }

    /// The numeric function `name` of the value: `abs`, `sqrt`, `exp`, `ln`, `floor`,
    /// `ceil`, `signum`.
    fn math(&self, name: &str) -> PyResult<PyExpr> {
        use datafusion::functions::math::expr_fn as m;
        let x = self.inner.clone();
        Ok(match name {
            "abs" => m::abs(x),
            "sqrt" => m::sqrt(x),
            "exp" => m::exp(x),
            "ln" => m::ln(x),
            "floor" => m::floor(x),
            "ceil" => m::ceil(x),
            "signum" => m::signum(x),
            other => return Err(PyValueError::new_err(format!("unknown function {other:?}"))),
        }
        .into())
    }

    /// The same expression under the output name `name`.
    fn alias(&self, name: &str) -> PyExpr {
        self.inner.clone().alias(name).into()
    }

    /// The aggregate `func` of this expression: `sum`, `mean`, `count` (non-null values),
    /// `min`, `max`, `std`/`var` (sample), `std_pop`/`var_pop`, `nunique`, `median`,
    /// `any`, `all`.
    fn aggregate(&self, func: &str) -> PyResult<PyExpr> {
        let e = self.inner.clone();
        Ok(match func {
            "sum" => agg::sum(e),
            "mean" => agg::avg(e),
            "count" => agg::count(e),
            "min" => agg::min(e),
            "max" => agg::max(e),
            "std" => agg::stddev(e),
            "std_pop" => agg::stddev_pop(e),
            "var" => agg::var_sample(e),
            "var_pop" => agg::var_pop(e),
            "nunique" => agg::count_distinct(e),
            "median" => agg::median(e),
            "any" => agg::bool_or(e),
            "all" => agg::bool_and(e),
            other => {
                return Err(PyValueError::new_err(format!(
                    "unknown aggregation {other:?}"
                )));
            }
        }
        .into())
    }

    /// `first_value(self ORDER BY keys)`, keys given as `(expr, ascending, nulls_first)`.
    fn first_ordered(&self, keys: Vec<(PyExpr, bool, bool)>) -> PyExpr {
        let order = keys.iter().map(|(e, a, n)| sort_key(e, *a, *n)).collect();
        agg::first_value(self.inner.clone(), order).into()
    }

    /// The name DataFusion gives this expression's output column.
    fn output_name(&self) -> String {
        self.inner.schema_name().to_string()
    }

    fn __repr__(&self) -> String {
        format!("Expr({})", self.inner)
    }
}
