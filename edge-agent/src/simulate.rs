//! `edge-agent simulate`: a store's edge agent with virtual devices, in one command.
//!
//! * Registers an edge device for the store with a store manager's login (the demo's
//!   `mgr.<store>` / `demo1234` by default) the first time, and keeps its configuration in
//!   `<data dir>/<store>/edge.toml` for the next runs.
//! * Each exit gate of the store's inventory gets pseudo-terminal pairs: write scans (text +
//!   CR) to the printed scanner path; the relay commands the gate sends are printed as they
//!   happen (`OPEN A0 01 01 A2`, …), and so is the text on the gate's display, if it has one.
//! * Without label scales in the configuration, a virtual Dahua TM-A30 label scale
//!   (`retail_devices::virtual_label_scale`) listens on a free loopback port and is kept loaded
//!   with the store's PLU list; once loaded it prints a few sample labels (EAN-13 with the PLU
//!   and the price) that scan at the lanes and in scan-and-go.
//! * The pickup-counter printer becomes a file: raw ESC/POS bytes are appended to
//!   `<data dir>/<store>/pick-slips.bin`, and the decoded text of each slip is logged.

use std::path::{Path, PathBuf};

use anyhow::Context;
use retail_devices::pty::raw_pty;
use retail_devices::relay::relay_name;
use retail_domain::profiles::PrinterConnection;
use serde_json::json;
use tokio::io::AsyncReadExt;
use uuid::Uuid;

use crate::{counter_printer, gate_setups, load_inventory, Config, Devices, GateDevices};

/// What to simulate.
#[derive(Clone, Debug)]
pub struct SimulateOptions {
    /// The server.
    pub server_url: String,
    /// The broker devices use.
    pub broker_url: String,
    /// The chain's CA to pin (`ca_file`), for a server with TLS.
    pub ca_file: Option<PathBuf>,
    /// Store code.
    pub store: String,
    /// Staff login that may register devices for the store.
    pub user: String,
    /// Its password.
    pub password: String,
    /// Where configurations, databases and pick slips go.
    pub data_dir: PathBuf,
    /// The `firmware-config` folder.
    pub firmware_config: PathBuf,
}

async fn register(options: &SimulateOptions, dir: &Path) -> anyhow::Result<Config> {
    let http = crate::http_client(&retail_devices::server_link::ServerTrust::load(
        options.ca_file.as_deref(),
    )?)?
    .client;
    let base = options.server_url.trim_end_matches('/');
    let login: serde_json::Value = http
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({"username": options.user, "password": options.password}))
        .send()
        .await
        .with_context(|| format!("cannot reach the server at {base} (start it first)"))?
        .json()
        .await?;
    let token = login["token"]
        .as_str()
        .with_context(|| format!("login as {} refused: {login}", options.user))?;
    let id = Uuid::now_v7();
    let registered: serde_json::Value = http
        .post(format!("{base}/api/v1/devices"))
        .bearer_auth(token)
        .json(
            &json!({"id": id, "location_id": options.store, "kind": "edge",
                      "name": format!("Edge {} (simulated)", options.store)}),
        )
        .send()
        .await?
        .json()
        .await?;
    let credential = registered["credential"]
        .as_str()
        .with_context(|| format!("registering the device failed: {registered}"))?;
    let text = format!(
        "store = \"{}\"\ndevice_id = \"{id}\"\ncredential = \"{credential}\"\nserver_url = \"{}\"\nbroker_url = \"{}\"\nfirmware_config = \"{}\"\ninventory = \"{}\"\ndata_dir = \"{}\"\n",
        options.store,
        options.server_url,
        options.broker_url,
        options.firmware_config.display(),
        options
            .firmware_config
            .join("stores")
            .join(format!("{}.toml", options.store))
            .display(),
        dir.display(),
    );
    let text = match &options.ca_file {
        Some(ca) => format!(
            "{text}ca_file = \"{}\"\n",
            std::path::absolute(ca)?.display()
        ),
        None => text,
    };
    let path = dir.join("edge.toml");
    std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    Config::load(&path)
}

/// Runs the agent with virtual devices until `shutdown`.
pub async fn simulate(
    options: SimulateOptions,
    shutdown: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    let dir = std::path::absolute(options.data_dir.join(&options.store))?;
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("edge.toml");
    let config = if path.exists() {
        Config::load(&path)?
    } else {
        register(&options, &dir).await?
    };
    let mut config = config;
    let (catalog, inventory) = load_inventory(&config)?;
    let mut devices = Devices::default();
    let mut keep = Vec::new();
    println!(
        "Edge agent for {} (device {}), virtual devices:",
        config.store, config.device_id
    );
    for gate in gate_setups(&catalog, &inventory)? {
        let (scanner_master, scanner_slave, scanner_path) = raw_pty()?;
        let (relay_master, relay_slave, _) = raw_pty()?;
        println!(
            "  {}: send scans to {}   e.g.  printf '%s\\r' \"$EXIT_PASS\" > {}",
            gate.setup.name,
            scanner_path.display(),
            scanner_path.display()
        );
        let name = gate.setup.name.clone();
        let commands = gate.setup.commands.clone();
        let mut relay_reader = tokio::fs::File::from_std(std::fs::File::from(relay_slave));
        tokio::spawn(async move {
            let mut buf = vec![0u8; commands.open.len().max(1)];
            while relay_reader.read_exact(&mut buf).await.is_ok() {
                let hex: Vec<String> = buf.iter().map(|b| format!("{b:02X}")).collect();
                println!(
                    "  {name} relay <- {} [{}]",
                    relay_name(&commands, &buf),
                    hex.join(" ")
                );
            }
        });
        keep.push(scanner_slave);
        let display = match &gate.setup.display {
            Some(layout) => {
                let (display_master, display_slave, _) = raw_pty()?;
                let name = gate.setup.name.clone();
                let layout = layout.clone();
                let mut reader = tokio::fs::File::from_std(std::fs::File::from(display_slave));
                // Each message is clear + home + rows × columns bytes; print its text.
                let size = layout.clear.len() + layout.home.len() + layout.rows * layout.columns;
                let skip = layout.init.as_ref().map_or(0, Vec::len);
                tokio::spawn(async move {
                    let mut init = vec![0u8; skip];
                    if reader.read_exact(&mut init).await.is_err() {
                        return;
                    }
                    let mut buf = vec![0u8; size];
                    while reader.read_exact(&mut buf).await.is_ok() {
                        let text = &buf[layout.clear.len() + layout.home.len()..];
                        let rows: Vec<String> = text
                            .chunks(layout.columns.max(1))
                            .map(|row| layout.decode_row(row).trim_end().to_owned())
                            .collect();
                        println!("  {name} display: {}", rows.join(" | "));
                    }
                });
                Some(Box::new(tokio::fs::File::from_std(std::fs::File::from(
                    display_master,
                )))
                    as Box<dyn tokio::io::AsyncWrite + Send + Unpin>)
            }
            None => None,
        };
        devices.gates.push(GateDevices {
            setup: gate.setup,
            scanner: Box::new(tokio::fs::File::from_std(std::fs::File::from(
                scanner_master,
            ))),
            relay: Box::new(tokio::fs::File::from_std(std::fs::File::from(relay_master))),
            display,
        });
    }
    if let Some(mut printer) = counter_printer(&catalog, &inventory)? {
        let slips = dir.join("pick-slips.bin");
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&slips)
            .with_context(|| format!("creating {}", slips.display()))?;
        println!(
            "  pick slips: raw ESC/POS bytes appended to {}; decoded text is logged below",
            slips.display()
        );
        printer.connection = PrinterConnection::UsbLp {
            device: slips.display().to_string(),
        };
        devices.pickup_printer = Some(printer);
    }
    if config.label_scales.is_empty() {
        let scale = retail_devices::virtual_label_scale::VirtualLabelScale::start().await?;
        println!(
            "  label scale scale-1: a virtual Dahua TM-A30 at {} (PLU download, TCP)",
            scale.addr()
        );
        config.label_scales.push(crate::config::LabelScale {
            name: "scale-1".into(),
            model: "dahua-tm-a30".into(),
            addr: scale.addr().to_string(),
        });
        tokio::spawn(print_sample_labels(scale));
    }
    println!("  configuration: {}", path.display());
    let result = crate::run_with_devices(config, devices, None, shutdown).await;
    drop(keep);
    result
}

/// Once the virtual scale holds its PLUs, prints a label for the first few (1.234 kg of a
/// weighed item, 2 pieces of a counted one), as the scale would print them.
async fn print_sample_labels(scale: retail_devices::virtual_label_scale::VirtualLabelScale) {
    while scale.table().is_empty() {
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    let layout = retail_domain::barcode::VariableMeasureLayout::cn_default();
    for (key, plu) in scale.table().into_iter().take(3).chain(
        scale
            .table()
            .into_iter()
            .filter(|(_, p)| p.mode == retail_devices::label_scale::PluMode::Counted)
            .take(1),
    ) {
        let qty = match plu.mode {
            retail_devices::label_scale::PluMode::Weighed => 1234,
            retail_devices::label_scale::PluMode::Counted => 2,
        };
        if let Ok((code, fen)) = scale.print_label(key, qty, &layout) {
            println!(
                "  scale-1 label: {} {} → {code} (¥{}.{:02})",
                plu.name,
                if qty == 2 {
                    "×2".to_owned()
                } else {
                    "1.234 kg".to_owned()
                },
                fen / 100,
                fen % 100
            );
        }
    }
}
