//! Tests of the scheduler state machine: unit tests per behaviour and a randomized cluster simulation.
//! Every transition goes through the harness, which asserts `check_invariants` afterwards.

mod harness;
mod heartbeats;
mod observe;
mod recovery;
mod rejoin;
mod shuffle;
mod sim;
mod unit;
