//! Table partitions on the workers: DataFusion plan fragments decoded from datafusion-proto
//! and run one partition per task, with leaves bound to the task's gathered inputs.

mod exec;
pub mod plan_codec;
pub mod stage_input;

pub use exec::{configure_memory, run_stage};
pub use plan_codec::{TesseraPlanCodec, plan_from_bytes, plan_to_bytes};
pub use stage_input::{StageInputExec, StageInputs};
