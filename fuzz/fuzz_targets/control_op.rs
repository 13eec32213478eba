//! Fuzz target `control_op`: A task's encoded op, as a worker decodes it before running the
//! task (for a fused op, its step program and every step's op too).
//! Every input must decode or be refused with an error; a panic or abort is a bug.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(
    init: tessera_fuzz::init("control_op"),
    |data: &[u8]| {
        let _ = tessera_fuzz::decode_op_fully(data, 2);
    }
);
