//! Fuzz target `control_worker_message`: What a worker sends the scheduler (decoded by the
//! scheduler).
//!
//! Every input must decode or be refused with an error; a panic or abort is a bug.

#![no_main]

use libfuzzer_sys::fuzz_target;
use tessera_core::codec::decode;
use tessera_core::wire::WorkerMessage;

fuzz_target!(
    init: tessera_fuzz::init("control_worker_message"),
    |data: &[u8]| {
        let _ = decode::<WorkerMessage>(data);
    }
);
