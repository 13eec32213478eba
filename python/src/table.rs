//! `tessera._core.Context` and `DataFrame`: the Rust distributed tables behind
//! `tessera.dataframe`; Arrow batches cross to and from pyarrow by the C Data Interface.

use crate::array::PyArray;
use crate::cluster::{PyClient, interruptible, interruptible_with};
use crate::errors::{IntoPyResult, table_error};
use crate::expr::{PyExpr, sort_key};
use arrow::datatypes::{DataType, Schema, SchemaRef};
use arrow::pyarrow::{IntoPyArrow, PyArrowType, Table, ToPyArrow};
use arrow::record_batch::RecordBatch;
use datafusion::logical_expr::ExprSchemable;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use std::sync::Arc;
use tessera::table::{Context, CsvReadOptions, DataFrame, JoinType};

/// A table session on a cluster: sources registered by name, SQL, and DataFrames.
#[pyclass(module = "tessera._core", name = "Context", frozen)]
pub struct PyContext {
    inner: Context,
}

/// A lazy distributed DataFrame (`tessera.dataframe.DataFrame` wraps one).
#[pyclass(module = "tessera._core", name = "DataFrame", frozen)]
pub struct PyDataFrame {
    /// The Rust DataFrame (its DataFusion logical plan and context).
    pub inner: DataFrame,
}

impl From<DataFrame> for PyDataFrame {
    fn from(inner: DataFrame) -> Self {
        PyDataFrame { inner }
    }
}

/// How to read CSV files; the owned form of DataFusion's `CsvReadOptions`.
struct CsvOptions {
    has_header: bool,
    delimiter: u8,
    quote: u8,
    comment: Option<u8>,
    schema: Option<Schema>,
    schema_infer_max_records: usize,
    file_extension: String,
    null_regex: Option<String>,
}

impl CsvOptions {
    fn options(&self) -> CsvReadOptions<'_> {
        let mut o = CsvReadOptions::new()
            .has_header(self.has_header)
            .delimiter(self.delimiter)
            .quote(self.quote)
            .schema_infer_max_records(self.schema_infer_max_records)
            .file_extension(&self.file_extension)
            .null_regex(self.null_regex.clone());
        o.comment = self.comment;
        if let Some(s) = &self.schema {
            o = o.schema(s);
        }
        o
    }
}

fn one_byte(what: &str, text: &str) -> PyResult<u8> {
    match text.as_bytes() {
        [b] => Ok(*b),
        _ => Err(PyValueError::new_err(format!(
            "{what} must be one ASCII character, not {text:?}"
        ))),
    }
}

/// Batches from Python with their schema-level metadata (pandas' index notes) removed,
/// so that every batch has the same schema.
fn plain_batches(batches: Vec<PyArrowType<RecordBatch>>) -> PyResult<Vec<RecordBatch>> {
    batches
        .into_iter()
        .map(|b| {
            let b = b.0;
            let schema = Arc::new(Schema::new(b.schema().fields().clone()));
            RecordBatch::try_new(schema, b.columns().to_vec())
                .map_err(|e| PyValueError::new_err(e.to_string()))
        })
        .collect()
}

/// `batches` as one `pyarrow.Table` with `schema` (used when there are no batches);
/// the buffers are exported, not copied.
fn to_pyarrow_table(
    py: Python<'_>,
    batches: Vec<RecordBatch>,
    schema: SchemaRef,
) -> PyResult<Py<PyAny>> {
    let schema = batches.first().map(|b| b.schema()).unwrap_or(schema);
    let batches = batches
        .into_iter()
        .map(|b| {
            if b.schema() == schema {
                Ok(b)
            } else {
                RecordBatch::try_new(schema.clone(), b.columns().to_vec())
            }
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| PyValueError::new_err(format!("result partitions disagree: {e}")))?;
    let table =
        Table::try_new(batches, schema).map_err(|e| PyValueError::new_err(e.to_string()))?;
    Ok(table.into_pyarrow(py)?.unbind())
}

fn join_type(how: &str) -> PyResult<JoinType> {
    Ok(match how {
        "inner" => JoinType::Inner,
        "left" => JoinType::Left,
        "right" => JoinType::Right,
        "outer" | "full" => JoinType::Full,
        "leftsemi" | "left_semi" => JoinType::LeftSemi,
        "leftanti" | "left_anti" => JoinType::LeftAnti,
        "rightsemi" | "right_semi" => JoinType::RightSemi,
        "rightanti" | "right_anti" => JoinType::RightAnti,
        other => {
            return Err(PyValueError::new_err(format!(
                "how must be one of 'inner', 'left', 'right', 'outer', 'leftsemi', \
                 'leftanti', 'rightsemi', 'rightanti', not {other:?}"
            )));
        }
    })
}

#[pymethods]
impl PyContext {
    /// A context on `client`'s cluster planning `partitions` partitions per stage (by
    /// default, as many as the cluster has kernel threads).
    #[new]
    #[pyo3(signature = (client, partitions = None))]
    fn new(py: Python<'_>, client: &PyClient, partitions: Option<usize>) -> PyResult<PyContext> {
        let client = client.client()?;
        let inner = interruptible(py, move || match partitions {
            Some(n) => Context::with_partitions(&client, n),
            None => Context::new(&client),
        })?
        .map_err(table_error)?;
        Ok(PyContext { inner })
    }

    /// A DataFrame reading the Parquet file, directory or glob at `path`.
    fn read_parquet(&self, py: Python<'_>, path: String) -> PyResult<PyDataFrame> {
        let ctx = self.inner.clone();
        interruptible(py, move || ctx.read_parquet(&path))?
            .map(PyDataFrame::from)
            .map_err(table_error)
    }

    /// A DataFrame reading the CSV file(s) at `path`; the schema is inferred from the
    /// first `schema_infer_max_records` rows unless `schema` is given.
    #[pyo3(signature = (path, has_header = true, delimiter = ",", quote = "\"", comment = None,
                        schema = None, schema_infer_max_records = 1000,
                        file_extension = ".csv".to_string(), null_regex = None))]
    #[allow(clippy::too_many_arguments)]
    fn read_csv(
        &self,
        py: Python<'_>,
        path: String,
        has_header: bool,
        delimiter: &str,
        quote: &str,
        comment: Option<&str>,
        schema: Option<PyArrowType<Schema>>,
        schema_infer_max_records: usize,
        file_extension: String,
        null_regex: Option<String>,
    ) -> PyResult<PyDataFrame> {
        let options = CsvOptions {
            has_header,
            delimiter: one_byte("delimiter", delimiter)?,
            quote: one_byte("quotechar", quote)?,
            comment: comment.map(|c| one_byte("comment", c)).transpose()?,
            schema: schema.map(|s| s.0),
            schema_infer_max_records,
            file_extension,
            null_regex,
        };
        let ctx = self.inner.clone();
        interruptible(py, move || ctx.read_csv(&path, options.options()))?
            .map(PyDataFrame::from)
            .map_err(table_error)
    }

    /// A DataFrame over pyarrow record batches, stored on the workers in `partitions`
    /// partitions (the batches are read through the C Data Interface, not copied).
    // Named as on the Rust `Context`: a DataFrame made from data, in this context.
    #[allow(clippy::wrong_self_convention)]
    fn from_batches(
        &self,
        py: Python<'_>,
        batches: Vec<PyArrowType<RecordBatch>>,
        partitions: usize,
    ) -> PyResult<PyDataFrame> {
        let batches = plain_batches(batches)?;
        let ctx = self.inner.clone();
        interruptible(py, move || ctx.from_batches(batches, partitions))?
            .map(PyDataFrame::from)
            .map_err(table_error)
    }

    /// A DataFrame of equal-length 1-d arrays, one column each, built on the cluster.
    // Named as on the Rust `Context`: a DataFrame made from data, in this context.
    #[allow(clippy::wrong_self_convention)]
    fn from_arrays(
        &self,
        py: Python<'_>,
        columns: Vec<(String, PyArray)>,
    ) -> PyResult<PyDataFrame> {
        let ctx = self.inner.clone();
        interruptible(py, move || {
            let refs: Vec<(&str, &tessera::Array)> = columns
                .iter()
                .map(|(n, a)| (n.as_str(), &a.inner))
                .collect();
            ctx.from_arrays(&refs)
        })?
        .map(PyDataFrame::from)
        .map_err(table_error)
    }

    /// Register `df` as table `name` for `sql`.
    fn register_dataframe(&self, name: &str, df: &PyDataFrame) -> PyResult<()> {
        self.inner
            .register_dataframe(name, &df.inner)
            .map_err(table_error)
    }

    /// Plan a SQL query over the registered tables (malformed SQL, unknown tables and
    /// columns are refused here).
    fn sql(&self, py: Python<'_>, query: String) -> PyResult<PyDataFrame> {
        let ctx = self.inner.clone();
        interruptible(py, move || ctx.sql(&query))?
            .map(PyDataFrame::from)
            .map_err(table_error)
    }
}

impl PyDataFrame {
    fn wrap(r: tessera::Result<DataFrame>) -> PyResult<PyDataFrame> {
        r.map(PyDataFrame::from).map_err(table_error)
    }
}

fn exprs(list: &[PyExpr]) -> Vec<datafusion::logical_expr::Expr> {
    list.iter().map(|e| e.inner.clone()).collect()
}

/// The number of partitions the last stage of `df`'s distributed plan computes.
fn npartitions(df: &DataFrame) -> tessera::Result<usize> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| tessera::Error::other(format!("cannot start a runtime: {e}")))?;
    let physical = runtime
        .block_on(df.inner().clone().create_physical_plan())
        .map_err(|e| tessera::Error::Plan(e.to_string()))?;
    let plan = tessera::table::planner::cut(physical)?;
    Ok(plan.stages.last().map(|s| s.tasks).unwrap_or(0))
}

#[pymethods]
impl PyDataFrame {
    /// Column names, in order.
    #[getter]
    fn columns(&self) -> Vec<String> {
        self.inner.columns()
    }

    /// The output schema as a `pyarrow.Schema`.
    fn schema<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.inner.schema().as_ref().to_pyarrow(py)
    }

    /// The Arrow type of `expr` over this DataFrame's columns: unknown columns raise
    /// KeyError and type mismatches TypeError, now rather than when computing.
    fn expr_type<'py>(&self, py: Python<'py>, expr: &PyExpr) -> PyResult<Bound<'py, PyAny>> {
        let t: DataType = expr
            .inner
            .get_type(self.inner.inner().schema())
            .map_err(|e| crate::errors::expr_error(&e.to_string()))?;
        t.to_pyarrow(py)
    }

    /// Keep only these expressions.
    fn select(&self, exprs_: Vec<PyExpr>) -> PyResult<PyDataFrame> {
        Self::wrap(self.inner.select(exprs(&exprs_)))
    }

    /// Keep only these columns, in this order.
    fn select_columns(&self, names: Vec<String>) -> PyResult<PyDataFrame> {
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        Self::wrap(self.inner.select_columns(&names))
    }

    /// The rows where `predicate` is true.
    fn filter(&self, predicate: &PyExpr) -> PyResult<PyDataFrame> {
        Self::wrap(self.inner.filter(predicate.inner.clone()))
    }

    /// Add or replace column `name`.
    fn with_column(&self, name: &str, expr: &PyExpr) -> PyResult<PyDataFrame> {
        Self::wrap(self.inner.with_column(name, expr.inner.clone()))
    }

    /// Drop these columns (unknown names are a KeyError).
    fn drop(&self, names: Vec<String>) -> PyResult<PyDataFrame> {
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        Self::wrap(self.inner.drop(&names))
    }

    /// One row per distinct `group` with the `aggregates`.
    fn aggregate(&self, group: Vec<PyExpr>, aggregates: Vec<PyExpr>) -> PyResult<PyDataFrame> {
        Self::wrap(self.inner.aggregate(exprs(&group), exprs(&aggregates)))
    }

    /// Join with `right` where `left_on[i] == right_on[i]`; `how` is `inner`, `left`,
    /// `right`, `outer`, `leftsemi`, `leftanti`, `rightsemi` or `rightanti`.
    fn join(
        &self,
        right: &PyDataFrame,
        how: &str,
        left_on: Vec<String>,
        right_on: Vec<String>,
    ) -> PyResult<PyDataFrame> {
        let how = join_type(how)?;
        let l: Vec<&str> = left_on.iter().map(String::as_str).collect();
        let r: Vec<&str> = right_on.iter().map(String::as_str).collect();
        Self::wrap(self.inner.join(&right.inner, how, &l, &r, None))
    }

    /// Sort by `(expr, ascending, nulls_first)` keys.
    fn sort(&self, keys: Vec<(PyExpr, bool, bool)>) -> PyResult<PyDataFrame> {
        let by = keys.iter().map(|(e, a, n)| sort_key(e, *a, *n)).collect();
        Self::wrap(self.inner.sort(by))
    }

    /// Skip `skip` rows, then keep at most `fetch`.
    #[pyo3(signature = (skip, fetch = None))]
    fn limit(&self, skip: usize, fetch: Option<usize>) -> PyResult<PyDataFrame> {
        Self::wrap(self.inner.limit(skip, fetch))
    }

    /// Distinct rows.
    fn distinct(&self) -> PyResult<PyDataFrame> {
        Self::wrap(self.inner.distinct())
    }

    /// The rows of both (the schemas must match).
    fn union(&self, other: &PyDataFrame) -> PyResult<PyDataFrame> {
        Self::wrap(self.inner.union(&other.inner))
    }

    /// The stages the query runs as, with their plan fragments.
    fn explain(&self, py: Python<'_>) -> PyResult<String> {
        let df = self.inner.clone();
        interruptible(py, move || df.explain())?.map_err(table_error)
    }

    /// How many partitions the result has (planned, not computed).
    fn npartitions(&self, py: Python<'_>) -> PyResult<usize> {
        let df = self.inner.clone();
        interruptible(py, move || npartitions(&df))?.map_err(table_error)
    }

    /// Run the query on the cluster; the rows as a `pyarrow.Table` (buffers exported,
    /// not copied). `progress(elapsed_seconds, tasks_done, tasks_total)` is called while
    /// waiting, if given.
    #[pyo3(signature = (progress = None))]
    fn collect(&self, py: Python<'_>, progress: Option<Bound<'_, PyAny>>) -> PyResult<Py<PyAny>> {
        let df = self.inner.clone();
        let watch = progress
            .as_ref()
            .map(|hook| (hook, df.context().client().clone()));
        let batches = interruptible_with(py, watch, move || df.collect())?.map_err(table_error)?;
        to_pyarrow_table(py, batches, self.inner.schema())
    }

    /// The number of rows, counted on the cluster.
    fn count(&self, py: Python<'_>) -> PyResult<usize> {
        let df = self.inner.clone();
        interruptible(py, move || df.count())?.map_err(table_error)
    }

    /// Write one Parquet file per partition into directory `dir`; the files written.
    fn to_parquet(&self, py: Python<'_>, dir: String) -> PyResult<Vec<String>> {
        let df = self.inner.clone();
        interruptible(py, move || df.to_parquet(&dir))?.map_err(table_error)
    }

    /// Numeric or boolean column `name` as a 1-d chunked array (one chunk a partition).
    fn column_to_array(&self, py: Python<'_>, name: String) -> PyResult<PyArray> {
        let df = self.inner.clone();
        let array = interruptible(py, move || df.column_to_array(&name))?.py()?;
        PyArray::checked(array)
    }

    /// Run the call function `name` with argument bytes `payload` on every partition, on
    /// the workers; the results (of `schema`) as a new DataFrame kept on the cluster.
    fn map_partitions(
        &self,
        py: Python<'_>,
        name: String,
        payload: Vec<u8>,
        schema: PyArrowType<Schema>,
    ) -> PyResult<PyDataFrame> {
        let df = self.inner.clone();
        let schema = Arc::new(schema.0);
        interruptible(py, move || df.map_partitions_call(&name, payload, schema))
            .and_then(PyDataFrame::wrap)
    }

    fn __repr__(&self) -> String {
        format!("DataFrame(columns={:?})", self.inner.columns())
    }
}
