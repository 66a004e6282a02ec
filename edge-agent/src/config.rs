//! The agent's configuration file (TOML): which store and device it is, its credential, where
//! the server and the broker are, the store's device inventory in `firmware-config/`, where it
//! keeps its local database, how long a published event waits for the server's acknowledgement,
//! and the exit gate's audit rules.
//!
//! ```toml
//! store = "SH001"
//! device_id = "01966b3c-…"            # from registration (the MQTT user name)
//! credential = "dv_…"                 # shown once at registration
//! server_url = "https://retail.example.com"  # or http://… for a demo on one machine
//! broker_url = "mqtts://retail.example.com:8883"  # MQTT over TLS; mqtt://… plain
//! ca_file = "/etc/retail/chain-ca.pem"   # the chain's CA, the only one trusted for HTTPS and
//!                                      # MQTTS (without it: the system's roots)
//! firmware_config = "firmware-config"  # profiles/ and stores/
//! inventory = "firmware-config/stores/SH001.toml"
//! data_dir = "edge-data"
//! health_interval_secs = 30
//! ack_wait_secs = 10                  # an event published but not acknowledged by the server
//!                                     # in this time is published again (same message id)
//! code_verifier_key = "…"             # optional: the chain's code-verifier public key (base64),
//!                                     # pinned from the start; without it the first key fetched
//!                                     # with the credential is pinned (see `lib.rs`)
//!
//! scale_poll_secs = 20               # how often the label scales' PLU list is checked (1–60)
//! scale_full_reload_hours = 24        # a full download to each label scale at least this often
//!
//! [[label_scales]]                    # label scales at the fresh counter (see `scales`)
//! name = "scale-1"
//! model = "dahua-tm-a30"              # firmware-config/label-scales/<model>.toml
//! addr = "192.168.10.41:4001"         # host[:port] (the profile's port by default)
//!
//! [gate]
//! audit_share = 0.02        # random share of passes sent to audit
//! audit_over = "500.00"     # passes over this total are audited
//! audit_items_over = 40     # passes with more items than this are audited
//! audit_first_visits = 1    # a shopper's first N scan-and-go visits are audited (0: never)
//! ```

use std::path::{Path, PathBuf};

use anyhow::Context;
use retail_devices::server_link::{parse_broker_url, parse_server_url, warn_if_plain, ServerTrust};
use retail_domain::money::Money;
use serde::Deserialize;
use uuid::Uuid;

/// Configuration of one edge agent.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The store this agent serves, e.g. `SH001`.
    pub store: String,
    /// This agent's device id (its MQTT user name).
    pub device_id: Uuid,
    /// The device credential (`dv_…`).
    pub credential: String,
    /// Base URL of the central server, `https://…` (or `http://…` for a demo).
    pub server_url: String,
    /// The broker, `mqtts://host[:port]` (MQTT over TLS, 8883 by default) or
    /// `mqtt://host[:port]` (plain, 1883).
    pub broker_url: String,
    /// The chain's CA certificate (PEM): when set, the only CA trusted for the server's HTTPS
    /// and the broker's TLS (a certificate from any other CA is refused before anything is
    /// sent), and both addresses must then be TLS. Unset: `https://` and `mqtts://` trust the
    /// operating system's roots (see `retail_devices::server_link`).
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// The `firmware-config` folder (its `profiles/` are loaded).
    pub firmware_config: PathBuf,
    /// The store inventory file.
    pub inventory: PathBuf,
    /// Folder of the agent's SQLite database.
    pub data_dir: PathBuf,
    /// Seconds between health reports.
    #[serde(default = "default_health")]
    pub health_interval_secs: u64,
    /// Seconds an event published to the broker waits for the server's acknowledgement before
    /// it is published again, under the same `message_id` (the server applies each id once).
    #[serde(default = "default_ack_wait")]
    pub ack_wait_secs: u64,
    /// The code-verifier public key (base64) the agent trusts, from provisioning. When set it
    /// is the pinned key (and setting a new one here is how the key is rotated); when not, the
    /// first key fetched from the server with the device credential is pinned.
    #[serde(default)]
    pub code_verifier_key: Option<String>,
    /// Exit gate rules.
    #[serde(default)]
    pub gate: GateRules,
    /// The label scales the agent keeps loaded (issue 21).
    #[serde(default)]
    pub label_scales: Vec<LabelScale>,
    /// Seconds between checks of the label scales' PLU list (1–60): a change at head office
    /// reaches every scale within this plus the download.
    #[serde(default = "default_scale_poll")]
    pub scale_poll_secs: u64,
    /// Hours after which a scale gets a full download even when nothing changed (1–720).
    #[serde(default = "default_full_reload")]
    pub scale_full_reload_hours: u64,
}

/// A label scale at the fresh counter.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LabelScale {
    /// Its name, `[a-z0-9-]{1,32}` (health entry `label-scale-<name>`).
    pub name: String,
    /// Its model: a profile in `firmware-config/label-scales/`.
    pub model: String,
    /// `host:port`, or `host` for the profile's port.
    pub addr: String,
}

fn default_scale_poll() -> u64 {
    20
}

fn default_full_reload() -> u64 {
    24
}

fn default_health() -> u64 {
    30
}

/// The default of [`Config::ack_wait_secs`].
pub const DEFAULT_ACK_WAIT_SECS: u64 = 10;

fn default_ack_wait() -> u64 {
    DEFAULT_ACK_WAIT_SECS
}

/// When the exit gate sends a shopper to audit instead of opening.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GateRules {
    /// Random share of valid passes audited (0.0–1.0).
    #[serde(default = "default_share")]
    pub audit_share: f64,
    /// Passes with a total above this are audited.
    #[serde(default = "default_over")]
    pub audit_over: Money,
    /// Passes with more items than this are audited.
    #[serde(default = "default_items")]
    pub audit_items_over: u32,
    /// A shopper's first this-many scan-and-go visits are audited (the visit number the server
    /// signs into the pass; 0 turns the rule off; passes without a visit number are exempt).
    #[serde(default = "default_first_visits")]
    pub audit_first_visits: u32,
}

fn default_first_visits() -> u32 {
    1
}

fn default_share() -> f64 {
    0.02
}

fn default_over() -> Money {
    Money::from_fen(50_000)
}

fn default_items() -> u32 {
    40
}

impl Default for GateRules {
    fn default() -> Self {
        Self {
            audit_share: default_share(),
            audit_over: default_over(),
            audit_items_over: default_items(),
            audit_first_visits: default_first_visits(),
        }
    }
}

impl Config {
    /// Reads and checks a configuration file.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading the configuration {}", path.display()))?;
        let config: Config = toml::from_str(&text)
            .with_context(|| format!("parsing the configuration {}", path.display()))?;
        config.validate()?;
        Ok(config)
    }

    /// Checks the values.
    pub fn validate(&self) -> anyhow::Result<()> {
        retail_domain::codes::validate_store(&self.store)
            .map_err(|e| anyhow::anyhow!("store {:?}: {e}", self.store))?;
        anyhow::ensure!(
            (0.0..=1.0).contains(&self.gate.audit_share),
            "gate.audit_share must be between 0 and 1"
        );
        anyhow::ensure!(
            self.health_interval_secs > 0,
            "health_interval_secs must be positive"
        );
        anyhow::ensure!(self.ack_wait_secs > 0, "ack_wait_secs must be positive");
        anyhow::ensure!(
            (1..=60).contains(&self.scale_poll_secs),
            "scale_poll_secs must be 1 to 60"
        );
        anyhow::ensure!(
            (1..=720).contains(&self.scale_full_reload_hours),
            "scale_full_reload_hours must be 1 to 720"
        );
        let mut names = std::collections::HashSet::new();
        for scale in &self.label_scales {
            anyhow::ensure!(
                (1..=32).contains(&scale.name.len())
                    && scale
                        .name
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'),
                "label_scales: name {:?} must be 1-32 of a-z, 0-9, -",
                scale.name
            );
            anyhow::ensure!(
                names.insert(scale.name.as_str()),
                "label_scales: {} is named twice",
                scale.name
            );
            anyhow::ensure!(
                !scale.addr.trim().is_empty(),
                "label_scales: {} has no addr",
                scale.name
            );
        }
        if let Some(key) = &self.code_verifier_key {
            retail_domain::codes::CodeVerifier::from_public_b64(key)
                .map_err(|e| anyhow::anyhow!("code_verifier_key: {e}"))?;
        }
        parse_server_url(&self.server_url)?;
        parse_broker_url(&self.broker_url).context("broker_url")?;
        Ok(())
    }

    /// Whom the agent trusts for TLS (the CA of `ca_file` only, or the system's roots), after
    /// checking that a pinned CA goes with `https://` and `mqtts://` addresses; warns about a
    /// plain address to another machine.
    ///
    /// # Errors
    /// When `ca_file` cannot be loaded, or an address is plain while a CA is pinned.
    pub fn trust(&self) -> anyhow::Result<ServerTrust> {
        let trust = ServerTrust::load(self.ca_file.as_deref())?;
        let (_, https) = parse_server_url(&self.server_url)?;
        let broker = parse_broker_url(&self.broker_url).context("broker_url")?;
        trust.require_tls("server_url", &self.server_url, https)?;
        trust.require_tls("broker_url", &self.broker_url, broker.tls)?;
        warn_if_plain("server_url", &self.server_url, https);
        warn_if_plain("broker_url", &self.broker_url, broker.tls);
        Ok(trust)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_acknowledgement_wait_defaults_to_ten_seconds_and_must_be_positive() {
        let text = r#"
            store = "SH001"
            device_id = "0196a000-0000-7000-8000-000000000001"
            credential = "dv_x"
            server_url = "http://127.0.0.1:8080"
            broker_url = "mqtt://127.0.0.1:1884"
            firmware_config = "firmware-config"
            inventory = "firmware-config/stores/SH001.toml"
            data_dir = "edge-data"
        "#;
        let config: Config = toml::from_str(text).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(config.ack_wait_secs, DEFAULT_ACK_WAIT_SECS);
        assert!(config.validate().is_ok());
        let config: Config =
            toml::from_str(&format!("ack_wait_secs = 0\n{text}")).unwrap_or_else(|e| panic!("{e}"));
        assert!(config.validate().is_err());
    }
}
