//! Fuzz target `control_client_replies`: What the scheduler answers a client: session events,
//! cluster info, who-has.
//!
//! Every input must decode or be refused with an error; a panic or abort is a bug.

#![no_main]

use libfuzzer_sys::fuzz_target;
use tessera_core::codec::decode;
use tessera_core::wire::{ClientEvent, ClusterInfo, WhoHasResponse};

fuzz_target!(
    init: tessera_fuzz::init("control_client_replies"),
    |data: &[u8]| {
        let _ = decode::<Vec<ClientEvent>>(data);
        let _ = decode::<ClusterInfo>(data);
        let _ = decode::<WhoHasResponse>(data);
    }
);
