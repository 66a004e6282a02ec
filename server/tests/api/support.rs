//! Test support: the workspace's test kit (`retail-testkit`) under this suite's names. Each
//! test gets a real server in-process on an ephemeral port, on its own SQLite file or its own
//! PostgreSQL database, with the demo chain loaded and the store bus off (see
//! `retail_testkit::TestServer`; `crate::both_backends!` runs a test on both).

pub use retail_testkit::{Backend, TestServer as TestApp};
