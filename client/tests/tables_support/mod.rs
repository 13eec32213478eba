//! Shared helpers for the table tests: TPC-H data from tpchgen written as Parquet (several
//! files per table), and comparison of query results with DataFusion single-node.

#![allow(dead_code)]

use datafusion::arrow::array::{Array, Float32Array, Float64Array};
use datafusion::arrow::datatypes::DataType;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use std::path::{Path, PathBuf};

pub use tessera::tpch::TABLES;

/// TPC-H at scale factor `sf` with `files` Parquet files per table, generated once
/// under the target directory and reused by later runs.
pub fn tpch_data(sf: f64, files: i32) -> PathBuf {
    let root = std::env::var_os("CARGO_TARGET_TMPDIR")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    tessera::tpch::generate(&root, sf, files).expect("TPC-H data generates")
}

/// The text of TPC-H query `n`.
pub fn tpch_query(n: usize) -> String {
    tessera::tpch::query(n).unwrap().to_string()
}

/// One cell: floats as numbers (compared with a relative tolerance), the rest as text.
#[derive(Debug, Clone)]
pub enum Cell {
    /// A float value.
    Float(f64),
    /// Anything else, displayed.
    Text(String),
}

/// The rows of `batches`, cell by cell.
pub fn rows(batches: &[RecordBatch]) -> Vec<Vec<Cell>> {
    let mut out = Vec::new();
    let options = FormatOptions::default().with_null("NULL");
    for batch in batches {
        let formatters: Vec<_> = batch
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &options).unwrap())
            .collect();
        for r in 0..batch.num_rows() {
            let row = batch
                .columns()
                .iter()
                .zip(&formatters)
                .map(|(col, f)| match col.data_type() {
                    DataType::Float64 if col.is_valid(r) => Cell::Float(
                        col.as_any()
                            .downcast_ref::<Float64Array>()
                            .unwrap()
                            .value(r),
                    ),
                    DataType::Float32 if col.is_valid(r) => Cell::Float(
                        col.as_any()
                            .downcast_ref::<Float32Array>()
                            .unwrap()
                            .value(r) as f64,
                    ),
                    _ => Cell::Text(f.value(r).to_string()),
                })
                .collect();
            out.push(row);
        }
    }
    out
}

fn cells_match(a: &Cell, b: &Cell) -> bool {
    match (a, b) {
        (Cell::Float(x), Cell::Float(y)) => {
            (x.is_nan() && y.is_nan()) || x == y || (x - y).abs() <= 1e-9 * x.abs().max(y.abs())
        }
        (Cell::Text(x), Cell::Text(y)) => x == y,
        _ => false,
    }
}

/// Compare two results row by row (`ordered`) or as multisets; `Err` describes the first
/// difference.
pub fn compare(got: &[RecordBatch], want: &[RecordBatch], ordered: bool) -> Result<(), String> {
    let mut g = rows(got);
    let mut w = rows(want);
    if g.len() != w.len() {
        return Err(format!("{} rows, expected {}", g.len(), w.len()));
    }
    if !ordered {
        let key = |r: &Vec<Cell>| format!("{r:?}");
        g.sort_by_key(key);
        w.sort_by_key(key);
    }
    for (i, (a, b)) in g.iter().zip(&w).enumerate() {
        if a.len() != b.len() || !a.iter().zip(b).all(|(x, y)| cells_match(x, y)) {
            return Err(format!("row {i} is {a:?}, expected {b:?}"));
        }
    }
    Ok(())
}

/// A single-node DataFusion session with the TPC-H tables of `dir` registered.
pub async fn reference_session(dir: &Path) -> datafusion::prelude::SessionContext {
    let ctx = datafusion::prelude::SessionContext::new();
    for t in TABLES {
        ctx.register_parquet(
            t,
            dir.join(t).to_str().unwrap(),
            datafusion::prelude::ParquetReadOptions::default(),
        )
        .await
        .unwrap();
    }
    ctx
}
