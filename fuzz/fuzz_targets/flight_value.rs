//! Fuzz target `flight_value`: Flight messages (DoGet answers, DoPut payloads, shuffle pieces)
//! decoded into a value.
//!
//! Every input must decode or be refused with an error; a panic or abort is a bug.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(
    init: tessera_fuzz::init("flight_value"),
    |data: &[u8]| {
        let messages = tessera_fuzz::split_messages(data);
        let _ = tessera_worker::flight::decode_value_from_messages(messages);
    }
);
