//! `edge-agent`: the store's edge agent (exit gate, pickup-counter printer, device presence over MQTT).
//!
//! This crate is at its first step (the full device work is issue #4): it loads its
//! configuration, checks its device credential against the central server
//! (`GET /api/v1/devices/me`), refuses to start with a revoked or wrong credential, and runs
//! until shut down. The library exposes [`run`] so tests start it in-process.

#![forbid(unsafe_code)]

use std::future::Future;

use anyhow::Context;
use serde::Deserialize;

/// Configuration of one edge device.
#[derive(Clone, Debug)]
pub struct Config {
    /// Base URL of the central server, e.g. `http://127.0.0.1:8080`.
    pub server_url: String,
    /// The device credential (`dv_…`) shown once when the device was registered.
    pub credential: String,
}

impl Config {
    /// Reads `EDGE_SERVER_URL` (default `http://127.0.0.1:8080`) and `EDGE_CREDENTIAL`.
    pub fn from_env() -> anyhow::Result<Self> {
        Ok(Self {
            server_url: std::env::var("EDGE_SERVER_URL")
                .unwrap_or_else(|_| "http://127.0.0.1:8080".into()),
            credential: std::env::var("EDGE_CREDENTIAL")
                .context("set EDGE_CREDENTIAL to the device credential shown at registration")?,
        })
    }
}

/// Who the server says this device is.
#[derive(Clone, Debug, Deserialize)]
pub struct Identity {
    /// Device id.
    pub id: String,
    /// The store it belongs to.
    pub location_id: String,
    /// `pos` or `edge`.
    pub kind: String,
    /// Its name.
    pub name: String,
}

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
    let status = response.status();
    let body: serde_json::Value = response.json().await.unwrap_or_default();
    if !status.is_success() {
        anyhow::bail!(
            "the server refused this device ({status}): {}",
            body["error"]["message"]
                .as_str()
                .unwrap_or("no reason given")
        );
    }
    let identity: Identity =
        serde_json::from_value(body).context("unexpected answer from the server")?;
    anyhow::ensure!(
        identity.kind == "edge",
        "this credential belongs to a {} device, not a edge device",
        identity.kind
    );
    Ok(identity)
}

/// Checks the credential, then runs until `shutdown` completes.
pub async fn run(config: Config, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    let identity = identify(&config).await?;
    tracing::info!(device = %identity.name, store = %identity.location_id, "edge-agent started");
    shutdown.await;
    tracing::info!("edge-agent stopped");
    Ok(())
}
