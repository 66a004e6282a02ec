//! The workspace's one test kit: everything a test (or the store-day harness) needs to start the
//! real parts of the system in one process, each through its public entry point, talking to the
//! others over the network as in production, and never on a fixed port.
//!
//! * [`server`] — the central server in-process ([`TestServer`]) on a fresh SQLite file or a
//!   fresh PostgreSQL database ([`postgres`]), with the demo chain loaded; HTTP and the embedded
//!   MQTT broker on free ports (port 0), the store bus off unless a test turns it on;
//! * [`broker`] — a private Mosquitto ([`Mosquitto`]) on a port of its own, anonymous or with
//!   the password and ACL files the server generates, that can be stopped, killed and started
//!   again;
//! * [`lane`] — a POS lane in-process (`pos_terminal::run_with_console`) with virtual devices,
//!   driven by its headless command lines;
//! * [`edge`] — a store's edge agent in-process (`edge_agent::run_with_devices`) with its gates
//!   on pseudo-terminals and its pickup printer writing to a file;
//! * [`alipay`] — a fake Alipay open-platform gateway ([`FakeAlipay`]) with keys of its own:
//!   checks the client's RSA2-signed requests, signs its answers and notifications, keeps
//!   trades, refunds and the daily bill in memory, and misbehaves on request;
//! * [`fuzzer`] — Schemathesis, the OpenAPI fuzzer, run against a server's live document;
//! * [`tls`] — certificates for TLS tests: the chain's CA with a server certificate, and an
//!   unrelated CA a device must refuse ([`tls::TestPki`], [`tls::serve_tls`]);
//! * [`sms`] — a fake Alibaba Cloud SMS endpoint ([`FakeAliyunSms`]) that checks the
//!   server's signed requests and answers in the real format;
//! * [`wechat_pay`] — a fake WeChat Pay API v3 ([`FakeWechatPay`]) with its own keys, checking
//!   signed requests, signing its answers, keeping trades and refunds, sending notifications;
//! * [`s3`] — a private S3-compatible server (Moto, [`s3::S3Server`]) for the image store's
//!   bucket adapter;
//! * [`both_backends!`] — one test body run against SQLite and PostgreSQL, each test with a
//!   database of its own.
//!
//! Every reference to the server's internals that test support needs is in this crate (mostly
//! [`server`]), so a change there is made once. A dependency that is missing (PostgreSQL,
//! Mosquitto) skips the test with a loud notice, except under `CI=true`, where it fails it
//! ([`skip_unless_ci`]).
//!
//! Use it from integration tests (a crate's `tests/` folder) only: it depends on
//! `retail-server`, `pos-terminal` and `edge-agent` themselves.

#![forbid(unsafe_code)]

pub mod alipay;
pub mod balancer;
pub mod broker;
pub mod chromedriver;
pub mod edge;
mod fake_server;
pub mod fuzzer;
pub mod lane;
mod macros;
pub mod payments;
pub mod postgres;
pub mod pricer;
pub mod s3;
pub mod server;
pub mod sms;
pub mod task;
pub mod tls;
pub mod wechat_pay;
pub mod wechat_subscribe;

use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;

pub use alipay::FakeAlipay;
pub use broker::Mosquitto;
pub use pricer::FakePricer;
pub use server::{Backend, Bus, Database, TestServer};
pub use sms::FakeAliyunSms;
pub use task::StoppableTask;
pub use wechat_pay::FakeWechatPay;
pub use wechat_subscribe::FakeWechatSubscribe;

/// Installs a log subscriber writing to the test's captured output (filter `RUST_LOG`, default
/// `warn`), once per process; later calls (and a subscriber already installed) are ignored.
pub fn init_logs() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_test_writer()
        .try_init();
}

/// The repository's `firmware-config` folder (device profiles and store inventories).
pub fn firmware_dir() -> PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("firmware-config")
}

/// A free TCP port on 127.0.0.1 (bound, then released), for a process that must be told its
/// port up front (a Mosquitto, a WebDriver, a broker a server must find again after a restart).
pub fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// A test dependency is missing (`missing` says which, and why): under `CI=true` this fails
/// the test (panics); elsewhere it prints a loud notice and returns, and the caller skips.
pub fn skip_unless_ci(missing: &str) {
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("required under CI=true: {missing}");
    }
    eprintln!("\n!!! SKIPPING: {missing}\n");
}

/// Polls `check` every 50 ms until it returns `Some`, for at most `deadline`; the error names
/// `what`. Conditions across tasks, processes and networks are waited for, never timed.
pub async fn eventually<T, F, Fut>(
    what: &str,
    deadline: Duration,
    mut check: F,
) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let until = tokio::time::Instant::now() + deadline;
    loop {
        if let Some(value) = check().await {
            return Ok(value);
        }
        if tokio::time::Instant::now() >= until {
            anyhow::bail!("{what}: not within {} s", deadline.as_secs());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Like [`eventually`] for a yes/no condition, failing the test when it does not hold in time.
///
/// # Panics
/// When `check` is still false after `deadline`.
pub async fn wait_until<F, Fut>(what: &str, deadline: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let waited = eventually(what, deadline, || {
        let holds = check();
        async move { holds.await.then_some(()) }
    })
    .await;
    if let Err(e) = waited {
        panic!("{e}");
    }
}
