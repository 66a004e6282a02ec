//! The lane's integration tests, in one test binary: a real server in-process (SQLite, demo
//! chain), the lane library and the real `pos-terminal` binary, virtual serial devices
//! (pseudo-terminal pairs), a virtual network printer that speaks the ESC/POS status protocol.

#![allow(clippy::unwrap_used, missing_docs)]

mod support;

mod binary;
mod browser;
mod code_pay;
mod core;
mod devices;
mod exactly_once;
mod fresh_counter;
mod keys;
mod markdown;
mod payments;
mod printer;
mod receipts;
mod scale;
mod screen;
mod shift;
mod sign_in;
