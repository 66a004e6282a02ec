//! The store's edge agent in-process: `edge_agent::run_with_devices` with the store inventory's
//! devices made virtual — each exit gate's scanner and relay on pseudo-terminals, the
//! pickup-counter printer appending raw ESC/POS bytes to `pick-slips.bin` — and the decoded text
//! of the slips kept in `pick-slips.bin.txt` beside it.

use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use edge_agent::config::GateRules;
use edge_agent::gate::Verdict;
use edge_agent::{Config, Devices, GateDevices};
use retail_domain::money::Money;
use retail_domain::profiles::PrinterConnection;
use tokio::io::AsyncReadExt;
use tokio::sync::mpsc;

use crate::task::StoppableTask;

/// What the agent needs to start.
#[derive(Clone, Debug)]
pub struct EdgeOptions {
    /// Store code (its inventory is `firmware-config/stores/<store>.toml`).
    pub store: String,
    /// The agent's device id.
    pub device_id: uuid::Uuid,
    /// Its credential.
    pub credential: String,
    /// The server.
    pub server_url: String,
    /// The store bus, `mqtt://host:port` or `mqtts://host:port`.
    pub broker_url: String,
    /// The chain's CA the agent pins (`ca_file`; see [`crate::tls::TestPki`]).
    pub ca_file: Option<PathBuf>,
    /// The agent's folder (database, pick slips).
    pub data_dir: PathBuf,
    /// Passes over this total are sent to audit.
    pub audit_over: Money,
}

/// One virtual exit gate.
#[derive(Clone, Debug)]
pub struct VirtualGate {
    /// Gate name (`gate-1`).
    pub name: String,
    /// Write a pass and `\r` here, as the gate's scanner would send it.
    pub scanner: PathBuf,
}

/// A running edge agent.
pub struct EdgeHandle {
    /// The gates.
    pub gates: Vec<VirtualGate>,
    /// Raw ESC/POS bytes of the pick slips.
    pub pick_slips: PathBuf,
    /// Their decoded text.
    pub pick_slips_text: PathBuf,
    verdicts: Arc<Mutex<Vec<Verdict>>>,
    relay: Arc<Mutex<Vec<String>>>,
    task: StoppableTask,
    helpers: Vec<tokio::task::JoinHandle<()>>,
    _slaves: Vec<OwnedFd>,
}

impl EdgeHandle {
    /// Starts the agent. With `echo`, gate decisions, relay commands and pick slips are printed.
    pub async fn start(options: EdgeOptions, echo: bool) -> anyhow::Result<EdgeHandle> {
        std::fs::create_dir_all(&options.data_dir)
            .with_context(|| format!("creating {}", options.data_dir.display()))?;
        let firmware = crate::firmware_dir();
        let config = Config {
            store: options.store.clone(),
            device_id: options.device_id,
            credential: options.credential.clone(),
            server_url: options.server_url.clone(),
            broker_url: options.broker_url.clone(),
            ca_file: options.ca_file.clone(),
            inventory: firmware
                .join("stores")
                .join(format!("{}.toml", options.store)),
            firmware_config: firmware,
            data_dir: options.data_dir.join("agent"),
            health_interval_secs: 5,
            ack_wait_secs: edge_agent::config::DEFAULT_ACK_WAIT_SECS,
            code_verifier_key: None,
            gate: GateRules {
                audit_share: 0.0,
                audit_over: options.audit_over,
                audit_items_over: 50,
                // The day's audits come from the basket value; first visits are not audited.
                audit_first_visits: 0,
            },
            label_scales: Vec::new(),
            scale_poll_secs: 20,
            scale_full_reload_hours: 24,
        };
        config.validate()?;
        let (catalog, inventory) = edge_agent::load_inventory(&config)?;
        let mut devices = Devices::default();
        let mut gates = Vec::new();
        let mut slaves = Vec::new();
        let mut helpers = Vec::new();
        let relay = Arc::new(Mutex::new(Vec::new()));
        for gate in edge_agent::gate_setups(&catalog, &inventory)? {
            let (scanner_master, scanner_slave, scanner_path) = retail_devices::pty::raw_pty()?;
            let (relay_master, relay_slave, _) = retail_devices::pty::raw_pty()?;
            let name = gate.setup.name.clone();
            let commands = gate.setup.commands.clone();
            let mut relay_reader = tokio::fs::File::from_std(std::fs::File::from(relay_slave));
            let heard = relay.clone();
            let gate_name = name.clone();
            helpers.push(tokio::spawn(async move {
                let mut buf = vec![0u8; commands.open.len().max(1)];
                while relay_reader.read_exact(&mut buf).await.is_ok() {
                    let what = retail_devices::relay::relay_name(&commands, &buf);
                    if echo {
                        println!("[gate] {gate_name} relay <- {what}");
                    }
                    if let Ok(mut h) = heard.lock() {
                        h.push(what.to_owned());
                    }
                }
            }));
            slaves.push(scanner_slave);
            gates.push(VirtualGate {
                name,
                scanner: scanner_path,
            });
            devices.gates.push(GateDevices {
                setup: gate.setup,
                scanner: Box::new(tokio::fs::File::from_std(std::fs::File::from(
                    scanner_master,
                ))),
                relay: Box::new(tokio::fs::File::from_std(std::fs::File::from(relay_master))),
                display: None,
            });
        }
        let pick_slips = options.data_dir.join("pick-slips.bin");
        let pick_slips_text = options.data_dir.join("pick-slips.bin.txt");
        // Kept across starts (the printer appends).
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&pick_slips)
            .with_context(|| format!("creating {}", pick_slips.display()))?;
        if let Some(mut printer) = edge_agent::counter_printer(&catalog, &inventory)? {
            printer.connection = PrinterConnection::UsbLp {
                device: pick_slips.display().to_string(),
            };
            devices.pickup_printer = Some(printer);
        }
        helpers.push(tokio::spawn(decode_slips(
            pick_slips.clone(),
            pick_slips_text.clone(),
            echo,
        )));
        let verdicts = Arc::new(Mutex::new(Vec::new()));
        let (verdict_tx, mut verdict_rx) = mpsc::unbounded_channel::<Verdict>();
        {
            let verdicts = verdicts.clone();
            helpers.push(tokio::spawn(async move {
                while let Some(v) = verdict_rx.recv().await {
                    if echo {
                        println!(
                            "[gate] {:?}{}",
                            v.decision,
                            v.reason
                                .as_deref()
                                .map(|r| format!(": {r}"))
                                .unwrap_or_default()
                        );
                    }
                    if let Ok(mut all) = verdicts.lock() {
                        all.push(v);
                    }
                }
            }));
        }
        let task = StoppableTask::spawn(|stop| {
            edge_agent::run_with_devices(config, devices, Some(verdict_tx), stop)
        });
        Ok(EdgeHandle {
            gates,
            pick_slips,
            pick_slips_text,
            verdicts,
            relay,
            task,
            helpers,
            _slaves: slaves,
        })
    }

    /// Scans `text` at gate `index` (0-based): the text and `\r` on its scanner line.
    pub fn scan_at_gate(&self, index: usize, text: &str) -> anyhow::Result<()> {
        use std::io::Write as _;
        let gate = self.gates.get(index).context("no such gate")?;
        let mut port = std::fs::OpenOptions::new()
            .write(true)
            .open(&gate.scanner)
            .with_context(|| format!("opening {}", gate.scanner.display()))?;
        port.write_all(format!("{text}\r").as_bytes())
            .and_then(|()| port.flush())
            .with_context(|| format!("writing to {}", gate.scanner.display()))
    }

    /// The gate decisions so far, in order.
    pub fn verdicts(&self) -> Vec<Verdict> {
        self.verdicts.lock().map(|v| v.clone()).unwrap_or_default()
    }

    /// The relay commands the gates sent so far (`OPEN`, `CLOSE`, `ALARM ON`, …).
    pub fn relay_commands(&self) -> Vec<String> {
        self.relay.lock().map(|r| r.clone()).unwrap_or_default()
    }

    /// The decoded text of the pick slips printed so far.
    pub fn pick_slips_text(&self) -> String {
        std::fs::read(&self.pick_slips)
            .map(|bytes| retail_devices::receipt::decode_text(&bytes))
            .unwrap_or_default()
    }

    /// Stops the agent (gates, bus link, local database) and waits for it.
    pub async fn stop(&mut self) -> anyhow::Result<()> {
        self.task.stop().await.context("the edge agent")?;
        for helper in self.helpers.drain(..) {
            helper.abort();
            let _ = helper.await;
        }
        Ok(())
    }
}

impl Drop for EdgeHandle {
    fn drop(&mut self) {
        // The agent itself is told to stop by its task's drop.
        for helper in &self.helpers {
            helper.abort();
        }
    }
}

/// Keeps `text` the decoded text of `raw` (the printer appends whole slips to `raw`).
async fn decode_slips(raw: PathBuf, text: PathBuf, echo: bool) {
    // Slips of an earlier run are decoded once, not announced again.
    let mut seen = usize::MAX;
    loop {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let Ok(bytes) = tokio::fs::read(&raw).await else {
            continue;
        };
        if bytes.len() == seen {
            continue;
        }
        if echo && seen != usize::MAX && bytes.len() > seen {
            println!(
                "[pickup printer] pick slip printed:\n{}",
                retail_devices::receipt::decode_text(bytes.get(seen..).unwrap_or_default())
            );
        }
        seen = bytes.len();
        let _ = tokio::fs::write(&text, retail_devices::receipt::decode_text(&bytes)).await;
    }
}
