//! Distributed tables: a [`Context`] of registered sources and SQL, [`DataFrame`]s planned
//! by DataFusion and cut by Tessera's planner into stages that run as graph tasks.

mod bridge;
mod context;
mod dataframe;
mod partitions;
pub mod planner;
mod stored;

pub use context::Context;
pub use dataframe::{DataFrame, GroupBy};
pub use datafusion::common::JoinType;
pub use datafusion::prelude::{CsvReadOptions, col, lit};
pub use stored::{StoredTable, StoredTableExec};
