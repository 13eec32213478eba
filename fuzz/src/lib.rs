//! Shared pieces of Tessera's fuzz targets: seed inputs made from valid encodings, and the
//! framing that turns one fuzz input into a sequence of Flight messages.
//!
//! Each target calls [`init`] from its `init` block. When `TESSERA_FUZZ_SEED_DIR` names a
//! directory (`scripts/fuzz.sh` sets it to the target's corpus), the target's seeds are
//! written there before libFuzzer reads the corpus, so fuzzing starts from valid bytes.
//! A panic that a decoder catches itself ([`tessera_core::guard::guarded`]: the decoder
//! returns an error) is reported on stderr as `tessera-fuzz: caught panic at ...` and
//! counted by the script; any other panic aborts, as libFuzzer expects of a crash.

use arrow_flight::FlightData;
use std::sync::Arc;
use tessera_core::codec::encode;
use tessera_core::error::TaskError;
use tessera_core::ops::{Expr, Op, Piece, StageBinding, TableStage, UnaryOp};
use tessera_core::shuffle::{Merge, OwnerRange, PlacedPiece, ShuffleAssignment, ShuffleSpec};
use tessera_core::wire::*;
use tessera_core::{Chunk, DType, Partition, Scalar, Task, TaskGraph, TaskKey, Value};

/// Set up a target: write its seeds (see [`write_seeds`]) and let guarded panics pass.
pub fn init(target: &str) {
    write_seeds(target);
    let crash = std::panic::take_hook();
    let seen = std::sync::Mutex::new(std::collections::HashSet::new());
    std::panic::set_hook(Box::new(move |info| {
        if !tessera_core::guard::in_guard() {
            return crash(info);
        }
        let at = info
            .location()
            .map(|l| format!("{}:{}", l.file(), l.line()))
            .unwrap_or_default();
        if seen
            .lock()
            .map(|mut s| s.insert(at.clone()))
            .unwrap_or(false)
        {
            eprintln!("tessera-fuzz: caught panic at {at}: {info}");
        }
    }));
}

/// Write `target`'s seeds into `$TESSERA_FUZZ_SEED_DIR` when that is set.
pub fn write_seeds(target: &str) {
    let Some(dir) = std::env::var_os("TESSERA_FUZZ_SEED_DIR") else {
        return;
    };
    let dir = std::path::PathBuf::from(dir);
    std::fs::create_dir_all(&dir).expect("seed directory");
    for (i, seed) in seeds(target).iter().enumerate() {
        std::fs::write(dir.join(format!("seed-{i}")), seed).expect("seed file");
    }
}

/// Valid encodings for `target` (empty for an unknown target).
pub fn seeds(target: &str) -> Vec<Vec<u8>> {
    match target {
        "control_worker_message" => worker_messages().iter().map(enc).collect(),
        "control_client_message" => client_messages().iter().map(enc).collect(),
        "control_who_has" => vec![
            enc(&WhoHasRequest {
                keys: vec![key("a-0"), key("b-1")],
            }),
            enc(&Empty {}),
        ],
        "control_scheduler_message" => scheduler_messages().iter().map(enc).collect(),
        "control_op" => ops().iter().map(enc).collect(),
        "control_client_replies" => vec![
            enc(&vec![
                ClientEvent::Welcome {
                    client_id: 3,
                    heartbeat_interval_ms: 500,
                    timeout_ms: 2000,
                },
                ClientEvent::Heartbeat,
                ClientEvent::InMemory {
                    key: key("x-1"),
                    holders: vec!["127.0.0.1:4000".into()],
                    nbytes: 80,
                },
                ClientEvent::Erred {
                    key: key("y-2"),
                    error: TaskError {
                        key: "y-1".into(),
                        worker: "127.0.0.1:4001".into(),
                        message: "boom".into(),
                    },
                },
            ]),
            enc(&ClusterInfo {
                tasks_by_state: vec![("memory".into(), 4)],
                dashboard_address: "127.0.0.1:8787".into(),
                ..Default::default()
            }),
            enc(&WhoHasResponse {
                holders: vec![vec!["127.0.0.1:4000".into()], vec![]],
            }),
        ],
        "flight_ticket" => vec![
            b"x-1".to_vec(),
            b"join-3\n7".to_vec(),
            b"tessera-shuffle\0abc\x001\x002\x003".to_vec(),
        ],
        "flight_value" => values()
            .iter()
            .map(|v| frame_messages(&flight_messages(v)))
            .collect(),
        "ipc_schema" => values()
            .iter()
            .map(|v| {
                let (schema, _) = v.to_record_batches().expect("value encodes");
                tessera_core::table::plan_codec::schema_to_bytes(&schema).expect("schema")
            })
            .collect(),
        "spill_file" => values().iter().map(spill_bytes).collect(),
        "plan_fragment" => plans()
            .into_iter()
            .map(|p| tessera_core::table::plan_to_bytes(p).expect("plan encodes"))
            .collect(),
        "plan_stage_input" => plans()
            .into_iter()
            .map(|p| {
                let leaf = leaf_of(p);
                tessera_core::table::plan_codec::encode_stage_input(&leaf).expect("leaf")
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// Decode a task's op as a worker does before running it: the op, and for a fused op its
/// step program (checked against `task_inputs` inputs) and every step's op.
pub fn decode_op_fully(data: &[u8], task_inputs: usize) -> tessera_core::Result<Op> {
    let op: Op = tessera_core::codec::decode(data)?;
    if let Op::Fused { steps } = &op {
        tessera_core::ops::fused_check_steps(steps, task_inputs)?;
        for step in steps {
            step.decode_op()?;
        }
    }
    Ok(op)
}

/// Cut a fuzz input into Flight messages: repeated `[u32 LE header length][header]
/// [u32 LE body length][body]`, each length clamped to the bytes that remain.
pub fn split_messages(mut data: &[u8]) -> Vec<FlightData> {
    let take = |data: &mut &[u8]| -> Vec<u8> {
        let n = match data.get(..4) {
            Some(b) => u32::from_le_bytes(b.try_into().expect("4 bytes")) as usize,
            None => data.len(),
        };
        *data = &data[data.len().min(4)..];
        let n = n.min(data.len());
        let (head, rest) = data.split_at(n);
        *data = rest;
        head.to_vec()
    };
    let mut out = Vec::new();
    while !data.is_empty() && out.len() < 64 {
        let header = take(&mut data);
        let body = take(&mut data);
        out.push(FlightData {
            data_header: header.into(),
            data_body: body.into(),
            ..Default::default()
        });
    }
    out
}

/// The inverse of [`split_messages`].
pub fn frame_messages(messages: &[FlightData]) -> Vec<u8> {
    let mut out = Vec::new();
    for m in messages {
        for part in [&m.data_header, &m.data_body] {
            out.extend((part.len() as u32).to_le_bytes());
            out.extend_from_slice(part);
        }
    }
    out
}

fn enc<T: serde::Serialize>(v: &T) -> Vec<u8> {
    encode(v).expect("seed encodes")
}

fn key(s: &str) -> TaskKey {
    TaskKey::new(s)
}

fn worker_messages() -> Vec<WorkerMessage> {
    vec![
        WorkerMessage::Register(WorkerRegistration {
            data_address: "127.0.0.1:4000".into(),
            threads: 2,
            memory_limit: 1 << 30,
            pid: 42,
            name: "w".into(),
            metrics_address: String::new(),
            held: vec![(key("x-0"), 8)],
        }),
        WorkerMessage::Batch(vec![
            WorkerEvent::TaskFinished {
                key: key("x-1"),
                nbytes: 800,
                duration_us: 12,
                started_unix_us: 1,
                thread: 0,
            },
            WorkerEvent::TaskFailed {
                key: key("x-2"),
                message: "boom".into(),
                missing_inputs: vec![key("x-0")],
            },
            WorkerEvent::StealAnswer {
                key: key("x-3"),
                stolen: true,
            },
            WorkerEvent::Heartbeat(WorkerMetrics::default()),
            WorkerEvent::ShuffleTaskFailed {
                key: key("s-1"),
                attempt: 2,
                message: "gone".into(),
            },
        ]),
    ]
}

fn client_messages() -> Vec<ClientMessage> {
    let tasks = ops()
        .iter()
        .enumerate()
        .map(|(i, op)| Task::new(key(&format!("t-{i}")), op, vec![], 8))
        .collect();
    vec![
        ClientMessage::Submit(Submission {
            id: 1,
            graph: TaskGraph { tasks },
            wanted: vec![key("t-0")],
            scattered: vec![ScatteredKey {
                key: key("s-0"),
                worker: "127.0.0.1:4000".into(),
                nbytes: 8,
            }],
            shuffles: vec![ShuffleSpec {
                id: "sh".into(),
                partitions: 2,
                transfers: vec![key("tr-0")],
                barrier: key("b"),
                outputs: vec![(0, key("u-0"))],
            }],
        }),
        ClientMessage::Release(vec![key("t-0"), key("t-1")]),
    ]
}

fn scheduler_messages() -> Vec<SchedulerMessage> {
    vec![
        SchedulerMessage::Welcome {
            worker_id: 1,
            heartbeat_interval_ms: 500,
            worker_timeout_ms: 2000,
        },
        SchedulerMessage::Heartbeat,
        SchedulerMessage::Batch(vec![
            WorkerCommand::Compute(ComputeTask {
                key: key("t-1"),
                op: enc(&ops()[1]),
                inputs: vec![InputLocation {
                    key: key("t-0"),
                    holders: vec!["127.0.0.1:4001".into()],
                    nbytes: 64,
                }],
                shuffle: Some(ShuffleAssignment {
                    id: "sh".into(),
                    attempt: 1,
                    owners: vec![OwnerRange {
                        end: 2,
                        address: "127.0.0.1:4000".into(),
                    }],
                }),
            }),
            WorkerCommand::Release(vec![key("t-0")]),
            WorkerCommand::Steal(key("t-2")),
            WorkerCommand::ForgetShuffle {
                id: "sh".into(),
                attempt: 1,
            },
            WorkerCommand::PeerGone {
                address: "127.0.0.1:4001".into(),
            },
        ]),
    ]
}

fn ops() -> Vec<Op> {
    let plan = tessera_core::table::plan_to_bytes(plans().remove(0)).expect("plan encodes");
    vec![
        Op::Full {
            shape: vec![2, 3],
            value: Scalar::F64(1.5),
        },
        Op::Elementwise {
            expr: Expr::Unary(UnaryOp::Sqrt, Box::new(Expr::Input(0))),
            shape: vec![4],
        },
        Op::Assemble {
            shape: vec![4, 4],
            dtype: DType::I64,
            pieces: vec![Piece {
                input: 0,
                source: vec![0..2, 0..4],
                offset: vec![2, 0],
            }],
        },
        Op::ShuffleUnpack {
            shuffle: "sh".into(),
            partition: 1,
            merge: Merge::Assemble {
                shape: vec![3],
                dtype: DType::F32,
                pieces: vec![PlacedPiece {
                    source: 0,
                    extent: vec![3],
                    offset: vec![0],
                }],
            },
        },
        Op::Fused {
            steps: vec![
                tessera_core::ops::FusedStep::new(
                    &Op::Full {
                        shape: vec![4],
                        value: Scalar::F64(2.0),
                    },
                    vec![],
                ),
                tessera_core::ops::FusedStep::new(
                    &Op::Elementwise {
                        expr: Expr::Unary(UnaryOp::Sqrt, Box::new(Expr::Input(0))),
                        shape: vec![4],
                    },
                    vec![tessera_core::ops::StepInput::Step(0)],
                ),
            ],
        },
        Op::TableStage(Box::new(TableStage {
            plan,
            partition: 0,
            split: false,
            bindings: vec![StageBinding {
                input: 0,
                leaf: 0,
                partition: 0,
                bucket: Some(1),
            }],
            sink: None,
        })),
    ]
}

fn values() -> Vec<Value> {
    use arrow_array::{ArrayRef, Int64Array, RecordBatch, StringArray};
    use arrow_schema::{DataType, Field, Schema};
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("name", DataType::Utf8, true),
    ]));
    let batch = |from: i64, n: i64| {
        let ids: ArrayRef = Arc::new(Int64Array::from_iter_values(from..from + n));
        let names: ArrayRef = Arc::new(StringArray::from_iter(
            (from..from + n).map(|i| (i % 3 != 0).then(|| format!("r{i}"))),
        ));
        RecordBatch::try_new(schema.clone(), vec![ids, names]).expect("batch")
    };
    let table = Partition::with_buckets(
        schema.clone(),
        vec![vec![batch(0, 3)], vec![], vec![batch(3, 2)]],
    )
    .expect("partition");
    vec![
        Value::Array(Chunk::from_ndarray(ndarray::ArrayD::from_shape_fn(
            ndarray::IxDyn(&[2, 3]),
            |i| (i[0] * 3 + i[1]) as f64,
        ))),
        Value::Array(Chunk::from_ndarray(ndarray::ArrayD::from_elem(
            ndarray::IxDyn(&[5]),
            true,
        ))),
        Value::Table(table),
        tessera_core::value::object::value(b"pickled"),
    ]
}

fn flight_messages(v: &Value) -> Vec<FlightData> {
    futures_lite(tessera_worker::flight::encode_value(v))
}

fn futures_lite(
    s: futures::stream::BoxStream<'static, Result<FlightData, arrow_flight::error::FlightError>>,
) -> Vec<FlightData> {
    use futures::StreamExt;
    futures::executor::block_on(s.map(|m| m.expect("encodes")).collect())
}

fn spill_bytes(v: &Value) -> Vec<u8> {
    let (schema, batches) = v.to_record_batches().expect("value encodes");
    let mut out = Vec::new();
    let mut w = arrow_ipc::writer::FileWriter::try_new(&mut out, &schema).expect("writer");
    for b in &batches {
        w.write(b).expect("write");
    }
    w.finish().expect("finish");
    drop(w);
    out
}

fn plans() -> Vec<Arc<dyn datafusion::physical_plan::ExecutionPlan>> {
    use datafusion::logical_expr::Operator;
    use datafusion::physical_expr::expressions::{BinaryExpr, col, lit};
    use datafusion::physical_plan::filter::FilterExec;
    use datafusion::physical_plan::repartition::RepartitionExec;
    use datafusion::physical_plan::{ExecutionPlan, Partitioning};
    let Value::Table(p) = &values()[2] else {
        unreachable!("the third value is a table")
    };
    let schema = p.schema().clone();
    let leaf: Arc<dyn ExecutionPlan> = Arc::new(
        tessera_core::table::StageInputExec::try_new(0, schema.clone(), 2, Some(vec![0, 1]))
            .expect("leaf"),
    );
    let id = col("id", &schema).expect("column");
    let predicate = Arc::new(BinaryExpr::new(id.clone(), Operator::Gt, lit(5i64)));
    let filter: Arc<dyn ExecutionPlan> =
        Arc::new(FilterExec::try_new(predicate, leaf.clone()).expect("filter"));
    let split: Arc<dyn ExecutionPlan> = Arc::new(
        RepartitionExec::try_new(filter.clone(), Partitioning::Hash(vec![id], 4))
            .expect("repartition"),
    );
    vec![leaf, filter, split]
}

fn leaf_of(
    mut p: Arc<dyn datafusion::physical_plan::ExecutionPlan>,
) -> tessera_core::table::StageInputExec {
    loop {
        if let Some(leaf) = p.downcast_ref::<tessera_core::table::StageInputExec>() {
            return leaf.clone();
        }
        p = p.children()[0].clone();
    }
}
