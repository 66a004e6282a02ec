//! `pos-terminal`: the cashier application for one checkout lane (scanner, receipt printer, cash drawer, offline-first local journal).
//!
//! This crate is at its first step (the full device work is issue #3): it loads its
//! configuration, checks its device credential against the central server
//! (`GET /api/v1/devices/me`), refuses to start with a revoked or wrong credential, and runs
//! until shut down. The library exposes [`run`] so tests start it in-process.

#![forbid(unsafe_code)]

pub mod receipt;

pub mod scanner;

use std::future::Future;

use anyhow::Context;

/// Configuration of one pos device.
#[derive(Clone, Debug)]
pub struct Config {
    /// Base URL of the central server, e.g. `http://127.0.0.1:8080`.
    pub server_url: String,
    /// The device credential (`dv_…`) shown once when the device was registered.
    pub credential: String,
}

impl Config {
    /// Reads `POS_SERVER_URL` (default `http://127.0.0.1:8080`) and `POS_CREDENTIAL`.
    pub fn from_env() -> anyhow::Result<Self> {
        Ok(Self {
            server_url: std::env::var("POS_SERVER_URL")
                .unwrap_or_else(|_| "http://127.0.0.1:8080".into()),
            credential: std::env::var("POS_CREDENTIAL")
                .context("set POS_CREDENTIAL to the device credential shown at registration")?,
        })
    }
}

pub use retail_domain::wire::devices::DeviceIdentity as Identity;

/// Asks the server who this device is; fails clearly on a wrong or revoked credential.
pub async fn identify(config: &Config) -> anyhow::Result<Identity> {
    let response = reqwest::Client::new()
        .get(format!(
            "{}/api/v1/devices/me",
            config.server_url.trim_end_matches('/')
        ))
        .bearer_auth(&config.credential)
        .send()
        .await
        .with_context(|| format!("cannot reach the server at {}", config.server_url))?;
    let status = response.status().as_u16();
    let body: serde_json::Value = response.json().await.unwrap_or_default();
    Identity::from_response(status, &body, "pos").map_err(anyhow::Error::msg)
}

/// Checks the credential, then runs until `shutdown` completes.
pub async fn run(config: Config, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    let identity = identify(&config).await?;
    tracing::info!(device = %identity.name, store = %identity.location_id, "pos-terminal started");
    shutdown.await;
    tracing::info!("pos-terminal stopped");
    Ok(())
}
