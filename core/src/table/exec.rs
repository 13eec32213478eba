//! Runs one task of a table stage: binds the gathered partitions to the fragment's leaves,
//! executes one partition with DataFusion and keeps (or writes) what comes out.

use super::plan_codec::plan_from_bytes;
use super::stage_input::StageInputs;
use crate::error::{Error, Result};
use crate::ops::{TableSink, TableStage};
use crate::value::{Partition, Value};
use datafusion::arrow::array::{ArrayRef, Int64Array, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::execution::TaskContext;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::physical_plan::metrics::Time;
use datafusion::physical_plan::repartition::{BatchPartitioner, RepartitionExec};
use datafusion::physical_plan::{ExecutionPlan, ExecutionPlanProperties};
use datafusion::prelude::{SessionConfig, SessionContext};
use futures::StreamExt;
use std::sync::{Arc, OnceLock};

static MEMORY_PER_TASK: OnceLock<(usize, Option<std::path::PathBuf>)> = OnceLock::new();

/// Bound DataFusion's memory per running table task to `bytes` (sorts, aggregations and
/// joins past it spill to files under `spill_dir`, or err where they cannot spill). Call
/// once, before the first table task; later calls are ignored.
pub fn configure_memory(bytes: usize, spill_dir: Option<std::path::PathBuf>) {
    let _ = MEMORY_PER_TASK.set((bytes, spill_dir));
}

fn new_session() -> Result<SessionContext> {
    let mut runtime = RuntimeEnvBuilder::new();
    if let Some((bytes, dir)) = MEMORY_PER_TASK.get() {
        runtime = runtime.with_memory_limit(*bytes, 1.0);
        if let Some(dir) = dir {
            runtime = runtime.with_temp_file_path(dir.clone());
        }
    }
    let runtime = runtime
        .build_arc()
        .map_err(|e| Error::other(format!("cannot set up DataFusion: {e}")))?;
    let mut config = SessionConfig::new();
    // A task runs one partition of a scan; with work stealing, that one file stream
    // would take the files of its sibling partitions (other tasks) too.
    config
        .options_mut()
        .execution
        .enable_file_stream_work_stealing = false;
    Ok(SessionContext::new_with_config_rt(config, runtime))
}

thread_local! {
    // Kernel threads run table tasks one at a time: one DataFusion session (function
    // registry, memory pool) and one current-thread runtime per thread.
    static SESSION: std::cell::OnceCell<SessionContext> = const { std::cell::OnceCell::new() };
    static RUNTIME: std::cell::OnceCell<tokio::runtime::Runtime> = const { std::cell::OnceCell::new() };
}

fn task_context(inputs: StageInputs) -> Result<Arc<TaskContext>> {
    SESSION.with(|cell| {
        if cell.get().is_none() {
            let _ = cell.set(new_session()?);
        }
        let session = cell.get().expect("set above");
        let state = session.state();
        let config = state.config().clone().with_extension(Arc::new(inputs));
        Ok(Arc::new(
            TaskContext::from(&state).with_session_config(config),
        ))
    })
}

fn block_on<F: std::future::Future>(f: F) -> Result<F::Output> {
    RUNTIME.with(|cell| {
        if cell.get().is_none() {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| Error::other(format!("cannot start a table runtime: {e}")))?;
            let _ = cell.set(rt);
        }
        Ok(cell.get().expect("set above").block_on(f))
    })
}

fn bind(stage: &TableStage, inputs: &[Value]) -> Result<StageInputs> {
    let mut bound = StageInputs::default();
    for b in &stage.bindings {
        let value = inputs.get(b.input as usize).ok_or_else(|| {
            Error::other(format!(
                "binding names input {} of a task with {} inputs",
                b.input,
                inputs.len()
            ))
        })?;
        let Value::Table(part) = value else {
            return Err(Error::other("a table stage input is an array chunk"));
        };
        let batches = match b.bucket {
            // A bucket fetched from a peer arrives alone; a local value has them all.
            Some(bucket) if part.num_buckets() > 1 => {
                part.bucket_batches(bucket as usize)?.to_vec()
            }
            _ => part.batches(),
        };
        bound.bind(b.leaf, b.partition as usize, batches);
    }
    Ok(bound)
}

fn df(e: datafusion::error::DataFusionError) -> Error {
    Error::other(e.to_string())
}

/// Run one task of a table stage on its gathered inputs.
pub fn run_stage(stage: &TableStage, inputs: Vec<Value>) -> Result<Partition> {
    let ctx = task_context(bind(stage, &inputs)?)?;
    drop(inputs);
    let plan = plan_from_bytes(&stage.plan, &ctx)?;
    let partition = stage.partition as usize;
    if stage.split && plan.downcast_ref::<RepartitionExec>().is_none() {
        return Err(Error::decode(format!(
            "a splitting stage must have a RepartitionExec at its root, not {}",
            plan.name()
        )));
    }
    let out =
        run_fragment(stage, &plan, partition, ctx).map_err(|e| name_files(e, &plan, partition))?;
    match &stage.sink {
        None => Ok(out),
        Some(TableSink::Parquet { path }) => write_parquet(&out, path),
    }
}

fn run_fragment(
    stage: &TableStage,
    plan: &Arc<dyn ExecutionPlan>,
    partition: usize,
    ctx: Arc<TaskContext>,
) -> Result<Partition> {
    Ok(
        if let Some(repartition) = plan
            .downcast_ref::<RepartitionExec>()
            .filter(|_| stage.split)
        {
            block_on(split(repartition, partition, ctx))??
        } else {
            block_on(collect(plan.clone(), partition, ctx))??
        },
    )
}

/// Add the files this task's scans read to an error (DataFusion's Parquet and CSV
/// errors do not always say which file was unreadable).
fn name_files(e: Error, plan: &Arc<dyn ExecutionPlan>, partition: usize) -> Error {
    let mut files = Vec::new();
    scanned_files(plan, partition, &mut files);
    let Error::Other(message) = e else { return e };
    if files.is_empty() || files.iter().any(|f| message.contains(f.as_str())) {
        return Error::Other(message);
    }
    Error::Other(format!("{message} (while reading {})", files.join(", ")))
}

fn scanned_files(plan: &Arc<dyn ExecutionPlan>, partition: usize, out: &mut Vec<String>) {
    use datafusion::datasource::physical_plan::FileScanConfig;
    use datafusion::datasource::source::DataSourceExec;
    if let Some(scan) = plan.downcast_ref::<DataSourceExec>()
        && let Some(config) = scan.data_source().downcast_ref::<FileScanConfig>()
    {
        // The scan's partition `partition` is file group `partition` when the counts
        // match (the usual case inside a stage); otherwise every file is named.
        let groups: Vec<_> = match config.file_groups.get(partition) {
            Some(g) if config.file_groups.len() == plan.output_partitioning().partition_count() => {
                vec![g]
            }
            _ => config.file_groups.iter().collect(),
        };
        for g in groups {
            out.extend(g.iter().map(|f| f.object_meta.location.to_string()));
        }
    }
    for child in plan.children() {
        scanned_files(child, partition, out);
    }
}

fn check_partition(plan: &Arc<dyn ExecutionPlan>, partition: usize) -> Result<()> {
    let n = plan.output_partitioning().partition_count();
    if partition < n {
        Ok(())
    } else {
        Err(Error::decode(format!(
            "partition {partition} of a fragment with {n} partitions"
        )))
    }
}

async fn collect(
    plan: Arc<dyn ExecutionPlan>,
    partition: usize,
    ctx: Arc<TaskContext>,
) -> Result<Partition> {
    check_partition(&plan, partition)?;
    let mut stream = plan.execute(partition, ctx).map_err(df)?;
    let mut batches = Vec::new();
    while let Some(batch) = stream.next().await {
        let batch = batch.map_err(df)?;
        if batch.num_rows() > 0 {
            batches.push(batch);
        }
    }
    Partition::new(plan.schema(), batches)
}

async fn split(
    repartition: &RepartitionExec,
    partition: usize,
    ctx: Arc<TaskContext>,
) -> Result<Partition> {
    let input = repartition.input().clone();
    check_partition(&input, partition)?;
    let n_in = input.output_partitioning().partition_count();
    let scheme = repartition.partitioning().clone();
    let n_out = scheme.partition_count();
    let mut partitioner =
        BatchPartitioner::try_new(scheme, Time::new(), partition, n_in).map_err(df)?;
    let mut buckets: Vec<Vec<RecordBatch>> = vec![Vec::new(); n_out];
    let mut stream = input.execute(partition, ctx).map_err(df)?;
    while let Some(batch) = stream.next().await {
        partitioner
            .partition(batch.map_err(df)?, |i, b| {
                if b.num_rows() > 0 {
                    buckets[i].push(b);
                }
                Ok(())
            })
            .map_err(df)?;
    }
    Partition::with_buckets(input.schema(), buckets)
}

fn write_parquet(part: &Partition, path: &str) -> Result<Partition> {
    let io = |e: std::io::Error| Error::other(format!("writing {path}: {e}"));
    let file = std::fs::File::create(path).map_err(io)?;
    let mut writer = parquet::arrow::ArrowWriter::try_new(file, part.schema().clone(), None)
        .map_err(|e| Error::other(format!("writing {path}: {e}")))?;
    for batch in part.batches() {
        writer
            .write(&batch)
            .map_err(|e| Error::other(format!("writing {path}: {e}")))?;
    }
    writer
        .close()
        .map_err(|e| Error::other(format!("writing {path}: {e}")))?;
    let schema = Arc::new(Schema::new(vec![
        Field::new("path", DataType::Utf8, false),
        Field::new("rows", DataType::Int64, false),
    ]));
    let columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from(vec![path.to_string()])),
        Arc::new(Int64Array::from(vec![part.num_rows() as i64])),
    ];
    let batch = RecordBatch::try_new(schema.clone(), columns)?;
    Partition::new(schema, vec![batch])
}
