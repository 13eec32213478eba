//! Fuzz target `control_scheduler_message`: What the scheduler sends a worker (decoded by the
//! worker), and the ops inside.
//!
//! Every input must decode or be refused with an error; a panic or abort is a bug.

#![no_main]

use libfuzzer_sys::fuzz_target;
use tessera_core::codec::decode;
use tessera_core::ops::Op;
use tessera_core::wire::{SchedulerMessage, WorkerCommand};

fuzz_target!(
    init: tessera_fuzz::init("control_scheduler_message"),
    |data: &[u8]| {
        if let Ok(SchedulerMessage::Batch(commands)) = decode::<SchedulerMessage>(data) {
            for c in commands {
                if let WorkerCommand::Compute(task) = c {
                    let _ = decode::<Op>(&task.op);
                }
            }
        }
    }
);
