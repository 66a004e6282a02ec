//! Wire types shared by the server and its clients (HTTP DTOs of the POS and edge sync
//! contracts, docs/DESIGN.md §5; MQTT payloads of the store bus, docs/DESIGN.md §6). Money is a decimal string, times RFC 3339 UTC, ids UUIDv7.

pub mod bus;
pub mod catalog;
pub mod devices;
pub mod pricing;
pub mod receipts;
pub mod sales;
pub mod staff;
