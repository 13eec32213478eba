//! Fuzz target `control_op`: A task's encoded op, as a worker decodes it before running the task.
//! Every input must decode or be refused with an error; a panic or abort is a bug.

#![no_main]

use libfuzzer_sys::fuzz_target;
use tessera_core::codec::decode;
use tessera_core::ops::Op;

fuzz_target!(
    init: tessera_fuzz::init("control_op"),
    |data: &[u8]| {
        let _ = decode::<Op>(data);
    }
);
