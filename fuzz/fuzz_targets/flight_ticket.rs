//! Fuzz target `flight_ticket`: Flight tickets (`key` or `key\nbucket`) and DoPut descriptor paths
//! (the input split at NUL bytes), as a worker's data service parses them.
//!
//! Every input must decode or be refused with an error; a panic or abort is a bug.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(
    init: tessera_fuzz::init("flight_ticket"),
    |data: &[u8]| {
        let _ = tessera_worker::flight::parse_ticket(data);
        let _ = tessera_worker::flight::key_from_bytes(data);
        let path: Vec<String> = data
            .split(|b| *b == 0)
            .map(|s| String::from_utf8_lossy(s).into_owned())
            .collect();
        let _ = tessera_core::shuffle::PieceHeader::from_path(&path);
    }
);
