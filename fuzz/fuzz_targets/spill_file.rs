//! Fuzz target `spill_file`: The bytes of a spill file (an Arrow IPC file) read back by a worker.
//! Every input must decode or be refused with an error; a panic or abort is a bug.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(
    init: tessera_fuzz::init("spill_file"),
    |data: &[u8]| {
        let _ = tessera_worker::spill::decode_spill(data.to_vec());
    }
);
