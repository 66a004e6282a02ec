//! `pos-terminal`: the cashier application for one checkout lane (scanner, receipt printer,
//! cash drawer, offline-first local journal), docs/DESIGN.md §5, §7, §8.
//!
//! * [`lane`] — the lane core: a state machine (scan, quantities, voids, park/resume, member,
//!   payment) priced by the shared pricing engine, committing completed sales to the journal;
//! * [`store`] — the lane's SQLite database: catalog copy, pricing context, sale journal;
//! * [`sync`] — catalog pull by cursor, pricing context, batched sale push, MQTT notices;
//! * [`server_api`] — the HTTP client of the central server;
//! * [`display`] — what the customer display facing the shopper shows (total, amount due, QR
//!   payment, change);
//! * [`cash`] — cash control: cash in/out with reasons, hand-over between cashiers, the
//!   manager's switch to offline selling, logged;
//! * [`scale`] — the counter scale at the lane (stable weights, zero between items, tare);
//! * [`customer_screen`] — the one model of what the shopper sees, for the pole display and
//!   the browser display on a second monitor (served by the lane, live by SSE);
//! * [`ui`] — the cashier's screen (ratatui) and its keyboard map;
//! * [`app`] — [`run`]: everything wired together ([`run_with_console`]: headless commands
//!   over channels, several lanes in one process); [`config`] — the configuration file.
//!
//! The devices themselves — the scanner's line protocol and serial port, the ESC/POS receipt
//! encoder, the receipt printer with its real-time status, the customer display's bytes and the
//! virtual devices of `--simulate` — are the `retail-devices` crate ([`retail_devices`]), shared
//! with the edge agent.

#![forbid(unsafe_code)]

pub mod app;
pub mod cash;
pub mod config;
pub mod customer_screen;
pub mod display;
pub mod lane;
pub mod scale;
pub mod server_api;
pub mod store;
pub mod sync;
pub mod ui;

pub use app::{run, run_with_console, LaneConsole};
pub use config::Config;
pub use retail_domain::wire::devices::DeviceIdentity as Identity;

/// Asks the server who this lane is (`GET /devices/me`); fails clearly on a wrong or revoked
/// credential, or a credential of another kind of device.
pub async fn identify(config: &Config) -> anyhow::Result<Identity> {
    config
        .server_api()?
        .identify()
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))
}
