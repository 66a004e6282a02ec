//! The lane's configuration file (TOML), e.g.
//!
//! ```toml
//! server_url = "https://retail.example.com"  # or http://127.0.0.1:8080 for a demo on one machine
//! ca_file = "chain-ca.pem"                  # optional: the chain's CA, the only one trusted for
//!                                           # HTTPS and MQTTS (without it: the system's roots)
//! credential = "dv_…"                       # shown once when the device was registered
//! store = "SH001"                           # optional: must be the credential's store
//! mqtt_url = "mqtts://retail.example.com:8883"  # optional: catalog notices (pull at once)
//! code_verifier_key = "…"                   # optional: the chain's code-verifier key (base64),
//!                                           # pinned from the start (else the first fetched)
//! lane = 1
//! data_dir = "./lane-data"                  # the lane's SQLite database (and simulated receipts)
//! firmware_dir = "firmware-config"          # device profiles
//! scanner_profile = "honeywell-voyager-1450g-cdc"
//! scanner_port = "/dev/ttyACM0"             # ignored with --simulate
//! printer_profile = "epson-tm-t88v"
//! printer = "tcp:192.168.10.31:9100"        # file:PATH | tcp:HOST:PORT | serial:PATH[@BAUD]
//! display_profile = "vfd-2x20-epson-dmd"    # optional customer display (total, QR amount)
//! display = "serial:/dev/ttyUSB2@9600"      # its line (data_dir/display.bin with --simulate)
//! code_payment_timeout_secs = 60            # the shopper's PIN for a payment code, then reversed
//! scale_profile = "mettler-toledo-ariva-s-8217"  # optional counter scale (weighed items)
//! scale_port = "/dev/ttyUSB1"               # its serial port (a virtual scale with --simulate)
//! customer_screen = "127.0.0.1:8099"        # optional: the browser customer display's address
//! adverts = ["今日特价 鲜鸡蛋 ¥9.90", "会员积分 双倍"]  # shown in turn on the customer displays when idle
//! ```
//!
//! Nobody is configured to work the lane: cashiers sign in at the lane with their user name and
//! lane PIN, checked offline against the roster the lane pulls from the server; a manager
//! approves voids and returns with theirs.
//!
//! The scales' label layouts (variable-measure EAN-13: PLU and price or weight) are the
//! chain's, set on the server (`barcodes.variable_measure`) and pulled with the pricing context;
//! a lane whose scales print differently overrides them with its own `[[variable_measure]]`
//! tables (the fields of `retail_domain::barcode::VariableMeasureLayout`).

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use retail_devices::server_link::{parse_broker_url, parse_server_url, warn_if_plain, ServerTrust};
use retail_domain::barcode::VariableMeasureLayout;
use serde::Deserialize;

/// Configuration of one lane.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Base URL of the central server, `https://…` (or `http://127.0.0.1:8080` for a demo).
    pub server_url: String,
    /// The chain's CA certificate (PEM; relative to the configuration file): when set, the only
    /// CA trusted for the server's HTTPS and the store bus's TLS (a certificate from any other
    /// CA is refused before anything is sent), and both addresses must then be TLS. Unset:
    /// `https://` and `mqtts://` trust the operating system's roots.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// The device credential (`dv_…`) shown once when the device was registered.
    pub credential: String,
    /// The store bus (`mqtts://host:port`, or plain `mqtt://host:port`); none: the lane polls
    /// only.
    #[serde(default)]
    pub mqtt_url: Option<String>,
    /// The code-verifier public key (base64) the lane trusts, from provisioning: when set it is
    /// the pinned key (setting a new one is how the key is rotated); when not, the first key
    /// the lane fetched with its credential (`GET /pricing/context`) is pinned, and a different
    /// key from the network is refused (`retail_domain::key_pinning`).
    #[serde(default)]
    pub code_verifier_key: Option<String>,
    /// The store this lane stands in (checked against the store the credential belongs to).
    #[serde(default)]
    pub store: Option<String>,
    /// Lane number (1–99).
    pub lane: u32,
    /// The store's name for receipts (default: the store code).
    #[serde(default)]
    pub store_name: Option<String>,
    /// Folder of the lane database.
    pub data_dir: PathBuf,
    /// The `firmware-config` folder.
    pub firmware_dir: PathBuf,
    /// Scanner profile id.
    pub scanner_profile: String,
    /// Scanner serial port.
    #[serde(default)]
    pub scanner_port: Option<String>,
    /// Printer profile id.
    pub printer_profile: String,
    /// Printer: `file:PATH`, `tcp:HOST:PORT` or `serial:PATH[@BAUD]` (default 9600 baud; the
    /// other line settings are the profile's). On `tcp:` and `serial:` a printer whose profile
    /// has `[status] real_time = true` is asked its status before and after each receipt; a
    /// `file:` printer (`/dev/usb/lp0`) is write-only.
    #[serde(default)]
    pub printer: Option<String>,
    /// Customer display profile id (e.g. `vfd-2x20-epson-dmd`); none: no customer display.
    #[serde(default)]
    pub display_profile: Option<String>,
    /// The customer display's line: `serial:PATH[@BAUD]`, `file:PATH` or `tcp:HOST:PORT`
    /// (with `--simulate`, the file `display.bin` in `data_dir` when not set).
    #[serde(default)]
    pub display: Option<String>,
    /// Counter scale profile id (e.g. `mettler-toledo-ariva-s-8217`); none: no counter scale
    /// (weighed items need a scale label).
    #[serde(default)]
    pub scale_profile: Option<String>,
    /// The counter scale's serial port (with `--simulate` and unset: a virtual scale).
    #[serde(default)]
    pub scale_port: Option<String>,
    /// The address (`IP:PORT`) the browser customer display for a second monitor is served on;
    /// none: no browser display.
    #[serde(default)]
    pub customer_screen: Option<String>,
    /// Lines the customer displays show in turn while the lane is idle (default: a welcome).
    #[serde(default)]
    pub adverts: Vec<String>,
    /// Seconds each idle line stays on the customer displays (default 5).
    #[serde(default = "default_advert_secs")]
    pub advert_secs: u64,
    /// Seconds between sale pushes while sales wait (default 5).
    #[serde(default = "default_push_secs")]
    pub push_interval_secs: u64,
    /// Seconds between catalog polls without notices (default 60).
    #[serde(default = "default_poll_secs")]
    pub catalog_poll_secs: u64,
    /// Seconds between asks of an idle printer's real-time status, so the status bar shows
    /// paper out or cover open before the next sale tries to print, and the cashier hears when
    /// a waiting receipt can be reprinted (default 10; 0: only when printing). Only printers
    /// whose profile has real-time status, on `tcp:` or `serial:`.
    #[serde(default = "default_printer_check_secs")]
    pub printer_check_secs: u64,
    /// Seconds the lane waits for the shopper to confirm a payment code (付款码) on their phone
    /// (entering their PIN) before it reverses the payment (default 60).
    #[serde(default = "default_code_payment_timeout_secs")]
    pub code_payment_timeout_secs: u64,
    /// Variable-measure barcode layouts for this lane only, overriding the chain's (which the
    /// server sends with the pricing context; its default is the Chinese price label, prefixes
    /// 20–29). Unset (the default): the chain's.
    #[serde(default)]
    pub variable_measure: Vec<VariableMeasureLayout>,
    /// Receipt footer lines.
    #[serde(default)]
    pub footer: Vec<String>,
    /// Virtual devices (set by `--simulate`).
    #[serde(skip)]
    pub simulate: bool,
    /// Line-oriented command input on stdin instead of the screen (set by `--headless`).
    #[serde(skip)]
    pub headless: bool,
}

fn default_advert_secs() -> u64 {
    5
}

fn default_push_secs() -> u64 {
    5
}

fn default_printer_check_secs() -> u64 {
    10
}

fn default_code_payment_timeout_secs() -> u64 {
    60
}

fn default_poll_secs() -> u64 {
    60
}

impl Config {
    /// Reads and checks a configuration file.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the configuration file {}", path.display()))?;
        let mut config: Config = toml::from_str(&text)
            .with_context(|| format!("configuration file {}", path.display()))?;
        if let Some(dir) = path.parent() {
            // Relative paths are relative to the configuration file.
            for p in [&mut config.data_dir, &mut config.firmware_dir]
                .into_iter()
                .chain(config.ca_file.as_mut())
            {
                if p.is_relative() {
                    *p = dir.join(&*p);
                }
            }
        }
        config.check()?;
        Ok(config)
    }

    /// Checks the values.
    pub fn check(&self) -> anyhow::Result<()> {
        if !(1..=99).contains(&self.lane) {
            bail!("lane must be 1 to 99, got {}", self.lane);
        }
        if !self.credential.starts_with("dv_") {
            bail!("credential must be the device credential (dv_…) shown at registration");
        }
        for layout in &self.variable_measure {
            layout
                .validate()
                .map_err(|e| anyhow::anyhow!("variable_measure: {e}"))?;
        }
        parse_server_url(&self.server_url)?;
        if let Some(url) = &self.mqtt_url {
            parse_broker_url(url).context("mqtt_url")?;
        }
        if let Some(addr) = &self.customer_screen {
            addr.parse::<std::net::SocketAddr>()
                .map_err(|e| anyhow::anyhow!("customer_screen must be IP:PORT ({addr:?}): {e}"))?;
        }
        if let Some(key) = &self.code_verifier_key {
            retail_domain::codes::CodeVerifier::from_public_b64(key)
                .map_err(|e| anyhow::anyhow!("code_verifier_key: {e}"))?;
        }
        Ok(())
    }

    /// Whom the lane trusts for TLS (the CA of `ca_file` only, or the system's roots), after
    /// checking that a pinned CA goes with `https://` and `mqtts://` addresses; warns about a
    /// plain address to another machine.
    ///
    /// # Errors
    /// When `ca_file` cannot be loaded, or an address is plain while a CA is pinned.
    pub fn trust(&self) -> anyhow::Result<ServerTrust> {
        let trust = ServerTrust::load(self.ca_file.as_deref())?;
        let (_, https) = parse_server_url(&self.server_url)?;
        trust.require_tls("server_url", &self.server_url, https)?;
        warn_if_plain("server_url", &self.server_url, https);
        if let Some(url) = &self.mqtt_url {
            let broker = parse_broker_url(url).context("mqtt_url")?;
            trust.require_tls("mqtt_url", url, broker.tls)?;
            warn_if_plain("mqtt_url", url, broker.tls);
        }
        Ok(trust)
    }

    /// The lane's client of the server, trusting what [`Config::trust`] says.
    ///
    /// # Errors
    /// As [`Config::trust`].
    pub fn server_api(&self) -> anyhow::Result<crate::server_api::ServerApi> {
        Ok(crate::server_api::ServerApi::with_trust(
            &self.server_url,
            &self.credential,
            &self.trust()?,
        ))
    }

    /// This lane's own variable-measure layouts (an override of the chain's); empty: the
    /// chain's, from the pricing context.
    pub fn layouts(&self) -> Vec<VariableMeasureLayout> {
        self.variable_measure.clone()
    }
}
