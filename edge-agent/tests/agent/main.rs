//! Edge agent integration tests: a real server in-process (SQLite, embedded broker or a
//! Mosquitto of the test's own), the real agent, and pseudo-terminal pairs standing in for the
//! gate's QR scanner and relay board.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

mod acks;
mod commands;
mod gate;
mod keys;
mod outage;
mod pickup;
mod scales;
