//! Keeps the fuzz crate honest in CI: every target's seeds (compiled from
//! `fuzz/src/lib.rs`, which CI does not otherwise build) decode with that target's decoder.
//!
//! A seed that no longer decodes (a wire type changed under it) would start fuzzing
//! from noise; a fuzz crate that no longer compiles would fail only in `scripts/fuzz.sh`.
//! Crash inputs found by fuzzing are kept next to the decoder they broke
//! (`worker/tests/data/fuzz/`, run by that crate's tests).

#[allow(dead_code)]
#[path = "../../fuzz/src/lib.rs"]
mod tessera_fuzz;

use std::path::Path;
use tessera_core::codec::decode;
use tessera_core::ops::Op;
use tessera_core::wire::*;

/// Decode `data` the way fuzz target `target` does; `Err` names what refused it.
fn decode_as(target: &str, data: &[u8]) -> Result<(), String> {
    let e = |e: &dyn std::fmt::Display| e.to_string();
    match target {
        "control_worker_message" => decode::<WorkerMessage>(data).map(drop).map_err(|x| e(&x)),
        "control_client_message" => decode::<ClientMessage>(data).map(drop).map_err(|x| e(&x)),
        "control_who_has" => decode::<WhoHasRequest>(data)
            .map(drop)
            .or_else(|_| decode::<Empty>(data).map(drop))
            .map_err(|x| e(&x)),
        "control_scheduler_message" => {
            let m = decode::<SchedulerMessage>(data).map_err(|x| e(&x))?;
            if let SchedulerMessage::Batch(commands) = m {
                for c in commands {
                    if let WorkerCommand::Compute(task) = c {
                        decode::<Op>(&task.op).map_err(|x| e(&x))?;
                    }
                }
            }
            Ok(())
        }
        "control_op" => tessera_fuzz::decode_op_fully(data, 2)
            .map(drop)
            .map_err(|x| e(&x)),
        "control_client_replies" => decode::<Vec<ClientEvent>>(data)
            .map(drop)
            .or_else(|_| decode::<ClusterInfo>(data).map(drop))
            .or_else(|_| decode::<WhoHasResponse>(data).map(drop))
            .map_err(|x| e(&x)),
        "flight_ticket" => tessera_worker::flight::parse_ticket(data)
            .map(drop)
            .map_err(|s| s.message().to_string()),
        "flight_value" => {
            tessera_worker::flight::decode_value_from_messages(tessera_fuzz::split_messages(data))
                .map(drop)
                .map_err(|x| e(&x))
        }
        "ipc_schema" => tessera_core::table::plan_codec::schema_from_bytes(data)
            .map(drop)
            .map_err(|x| e(&x)),
        "plan_fragment" => {
            let ctx = datafusion::execution::TaskContext::default();
            tessera_core::table::plan_from_bytes(data, &ctx)
                .map(drop)
                .map_err(|x| e(&x))
        }
        "plan_stage_input" => tessera_core::table::plan_codec::decode_stage_input(data)
            .map(drop)
            .map_err(|x| e(&x)),
        "spill_file" => tessera_worker::spill::decode_spill(data.to_vec())
            .map(drop)
            .map_err(|x| e(&x)),
        other => Err(format!("no decoder known for fuzz target {other:?}")),
    }
}

#[test]
fn every_fuzz_target_has_seeds_that_decode() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/fuzz_targets");
    let mut targets: Vec<String> = std::fs::read_dir(&dir)
        .expect("fuzz/fuzz_targets")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "rs"))
        .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    targets.sort();
    assert_eq!(targets.len(), 12, "targets: {targets:?}");
    for target in &targets {
        let seeds = tessera_fuzz::seeds(target);
        assert!(!seeds.is_empty(), "{target} has no seeds");
        for (i, seed) in seeds.iter().enumerate() {
            decode_as(target, seed).unwrap_or_else(|e| panic!("{target} seed {i}: {e}"));
        }
        // Cut short, a seed is refused (or still decodes), never a panic.
        for seed in &seeds {
            for cut in [
                0,
                1.min(seed.len()),
                seed.len() / 2,
                seed.len().saturating_sub(1),
            ] {
                let _ = decode_as(target, &seed[..cut]);
            }
        }
    }
}
