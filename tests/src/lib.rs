//! Cross-component scenarios: the real server, POS lanes and edge agents together.
//!
//! This library is the **store-day harness**: it starts, in one process, everything a store's
//! day needs, each part through its own public entry point and talking to the others only over
//! the network as in production:
//!
//! * [`server`] — the central server (`retail_server::Application`) on SQLite or PostgreSQL,
//!   with the embedded MQTT broker or an external one;
//! * [`broker`] — a private Mosquitto process on its own port, configured with the password and
//!   ACL files the server generates, that can be killed and started again mid-day;
//! * [`proxy`] — a TCP forwarder that can cut a device off the network and let it back;
//! * [`lane`] — a POS lane (`pos_terminal::run_with_console`) with a virtual scanner on a
//!   pseudo-terminal and a file printer (raw ESC/POS bytes plus the decoded text), driven by its
//!   headless command lines;
//! * [`edge`] — the store's edge agent (`edge_agent::run_with_devices`) with the exit gate's
//!   scanner and relay on pseudo-terminals and the pickup-counter printer writing to a file;
//! * [`web`] — an HTTP client for the API and a cookie-keeping one for the shop and console pages
//!   (a shopper's phone, a manager's browser);
//! * [`day`] — all of the above wired for one store: [`day::StoreDay`].
//!
//! The `store-day` binary is the demo built on it; `tests/scenarios/store_day.rs` plays a whole
//! day with it and checks the books.

#![forbid(unsafe_code)]

pub mod broker;
pub mod day;
pub mod edge;
pub mod lane;
pub mod proxy;
pub mod server;
pub mod web;

use std::time::Duration;

/// Polls `check` every 100 ms until it returns `Some`, for at most `deadline`; the error names
/// `what`. Conditions across processes and networks are waited for, never timed.
pub async fn eventually<T, F, Fut>(
    what: &str,
    deadline: Duration,
    mut check: F,
) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let until = tokio::time::Instant::now() + deadline;
    loop {
        if let Some(value) = check().await {
            return Ok(value);
        }
        if tokio::time::Instant::now() >= until {
            anyhow::bail!("{what}: not within {} s", deadline.as_secs());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The repository's `firmware-config` folder (device profiles and store inventories).
pub fn firmware_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("firmware-config")
}
