//! Fuzz target `control_who_has`: The scheduler's unary requests: `WhoHas` and `ClusterInfo` (an
//! empty body).
//!
//! Every input must decode or be refused with an error; a panic or abort is a bug.

#![no_main]

use libfuzzer_sys::fuzz_target;
use tessera_core::codec::decode;
use tessera_core::wire::{Empty, WhoHasRequest};

fuzz_target!(
    init: tessera_fuzz::init("control_who_has"),
    |data: &[u8]| {
        let _ = decode::<WhoHasRequest>(data);
        let _ = decode::<Empty>(data);
    }
);
