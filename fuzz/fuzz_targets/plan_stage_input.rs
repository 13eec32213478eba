//! Fuzz target `plan_stage_input`: Tessera's own plan node (a stage input) inside a datafusion-
//! proto plan.
//!
//! Every input must decode or be refused with an error; a panic or abort is a bug.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(
    init: tessera_fuzz::init("plan_stage_input"),
    |data: &[u8]| {
        let _ = tessera_core::table::plan_codec::decode_stage_input(data);
    }
);
