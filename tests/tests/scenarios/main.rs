//! Cross-component scenarios: the real server, POS lanes and edge agents together, in one test
//! binary.

#![allow(clippy::unwrap_used, missing_docs)]

mod devices;
mod instances;
mod pricing_parity;
mod store_day;
mod tls;
