//! Fuzz target `plan_fragment`: A datafusion-proto plan fragment, as a worker decodes it for a
//! table task.
//!
//! Every input must decode or be refused with an error; a panic or abort is a bug.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(
    init: tessera_fuzz::init("plan_fragment"),
    |data: &[u8]| {
        let ctx = datafusion::execution::TaskContext::default();
        let _ = tessera_core::table::plan_from_bytes(data, &ctx);
    }
);
