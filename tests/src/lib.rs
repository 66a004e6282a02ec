//! Cross-component scenarios: the real server, POS lanes and edge agents together.
//!
//! This library is the **store-day harness**: it wires, in one process, everything a store's day
//! needs, each part through its own public entry point and talking to the others only over the
//! network as in production. The parts are started with the workspace's test kit
//! (`retail-testkit`): the central server ([`retail_testkit::TestServer`]) on SQLite or
//! PostgreSQL with the embedded MQTT broker or a private Mosquitto
//! ([`retail_testkit::Mosquitto`]) that can be killed and started again mid-day, POS lanes
//! ([`retail_testkit::lane`]) and the store's edge agent ([`retail_testkit::edge`]) with virtual
//! devices. This crate adds:
//!
//! * [`proxy`] — a TCP forwarder that can cut a device off the network and let it back;
//! * [`web`] — an HTTP client for the API and a cookie-keeping one for the shop and console pages
//!   (a shopper's phone, a manager's browser);
//! * [`day`] — all of the above wired for one store: [`day::StoreDay`].
//!
//! The `store-day` binary is the demo built on it; `tests/scenarios/store_day.rs` plays a whole
//! day with it and checks the books.

#![forbid(unsafe_code)]

pub mod day;
pub mod proxy;
pub mod web;
