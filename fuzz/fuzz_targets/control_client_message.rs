//! Fuzz target `control_client_message`: What a client sends the scheduler: graph submissions and
//! releases.
//!
//! Every input must decode or be refused with an error; a panic or abort is a bug.

#![no_main]

use libfuzzer_sys::fuzz_target;
use tessera_core::codec::decode;
use tessera_core::wire::ClientMessage;

fuzz_target!(
    init: tessera_fuzz::init("control_client_message"),
    |data: &[u8]| {
        let _ = decode::<ClientMessage>(data);
    }
);
