//! Fuzz target `ipc_schema`: An Arrow IPC schema message, as carried inside a plan's stage input
//! node.
//!
//! Every input must decode or be refused with an error; a panic or abort is a bug.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(
    init: tessera_fuzz::init("ipc_schema"),
    |data: &[u8]| {
        let _ = tessera_core::table::plan_codec::schema_from_bytes(data);
    }
);
