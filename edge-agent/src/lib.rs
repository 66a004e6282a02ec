//! `edge-agent`: the store's edge agent (exit gate, pickup-counter printer, device presence over
//! MQTT; docs/DESIGN.md §2, §6–§8).
//!
//! [`run`] starts it from a [`Config`] file: it loads the device profiles and the store
//! inventory from `firmware-config/`, opens the gates' scanner and relay serial ports, and runs
//! until `shutdown`:
//!
//! * the [store bus link](link): presence (retained, Last Will `offline`), periodic health, the
//!   durable [outbox](store) of events (each kept until the server acknowledges it), commands
//!   and pickup notices;
//! * one [gate] task per exit gate, deciding **offline** with the code-verifier key: the one in
//!   the configuration, or the first one fetched with the device credential, pinned in the local
//!   database (a different key from the network is refused; see `refresh_verifier`);
//! * the handling of commands (open a gate, re-sync) and of passes used at other gates;
//! * the [label scales](scales) of the fresh counter, kept loaded with the store's PLU list.
//!
//! It starts and keeps deciding with the server and the broker both down (once it has the key).
//! [`run_with_devices`] takes already-opened device streams (tests, simulations).

#![forbid(unsafe_code)]

pub mod config;
pub mod display;
pub mod gate;
pub mod link;
pub mod pickup;
pub mod scales;
pub mod simulate;
pub mod store;

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

use anyhow::Context;
use retail_devices::display::DisplayLayout;
use retail_devices::serial::open_stream;
use retail_devices::server_link::ServerTrust;
use retail_domain::codes::CodeVerifier;
use retail_domain::profiles::{DeviceCatalog, StoreInventory};
use retail_domain::wire::bus::{Command, ComponentHealth};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

pub use config::Config;
pub use retail_domain::wire::devices::DeviceIdentity as Identity;

use crate::gate::{GateContext, GateSetup, Verdict};
use crate::link::{Inbound, LinkConfig};
use crate::store::LocalStore;

/// Key of the cached code-verifier key in the local database.
const VERIFIER_KEY: &str = "code_verifier";

/// Why the server could not confirm this device.
#[derive(Debug, thiserror::Error)]
pub enum IdentifyError {
    /// No answer (the agent may start offline), or a TLS handshake refused (the server's
    /// certificate is not from the pinned CA: nothing was sent).
    #[error("cannot reach the server at {url}: {reason}")]
    Unreachable {
        /// The server URL.
        url: String,
        /// Why, with the causes (the TLS reason included).
        reason: String,
    },
    /// The server answered and refused (wrong, revoked or non-edge credential).
    #[error("{0}")]
    Refused(String),
}

/// Asks the server who this device is (`GET /api/v1/devices/me` with `http`, see
/// [`http_client`]); fails clearly on a wrong or revoked credential.
pub async fn identify(
    http: &ServerHttp,
    server_url: &str,
    credential: &str,
) -> Result<Identity, IdentifyError> {
    let response = http
        .client
        .get(format!(
            "{}/api/v1/devices/me",
            server_url.trim_end_matches('/')
        ))
        .bearer_auth(credential)
        .send()
        .await
        .map_err(|err| IdentifyError::Unreachable {
            url: server_url.to_owned(),
            reason: http.trust.explain(&err),
        })?;
    let status = response.status().as_u16();
    let body: serde_json::Value = response.json().await.unwrap_or_default();
    Identity::from_response(status, &body, "edge").map_err(IdentifyError::Refused)
}

/// The agent's HTTP client of the server and whom it trusts (for error messages). Cheap to
/// clone.
#[derive(Clone, Debug)]
pub struct ServerHttp {
    /// The client (5 s timeout).
    pub client: reqwest::Client,
    /// Its TLS trust.
    pub trust: ServerTrust,
}

/// The agent's HTTP client: HTTPS trusting exactly `trust` (the pinned chain CA, or the
/// system's roots), 5 s per call.
///
/// # Errors
/// When the client cannot be built.
pub fn http_client(trust: &ServerTrust) -> anyhow::Result<ServerHttp> {
    let client = trust
        .http_client(reqwest::Client::builder().timeout(std::time::Duration::from_secs(5)))
        .context("building the HTTP client")?;
    Ok(ServerHttp {
        client,
        trust: trust.clone(),
    })
}

/// The code-verifier key the agent would use after a refresh, and why a key the server
/// answered was refused (it differs from the pinned one).
struct VerifierRefresh {
    key: Option<Arc<CodeVerifier>>,
    refused: Option<String>,
}

/// Fetches the code-verifier key with the device credential
/// (`GET /api/v1/devices/me/code-verifier`) and checks it against the pinned key, by the one
/// rule lanes follow too ([`retail_domain::key_pinning`]): the configured `code_verifier_key`
/// if set, else the first key fetched with the credential, kept in the local database; a
/// different key from the network is refused (logged; the gates keep the pinned key); rotation
/// is explicit (docs/CONTRACTS.md, "Code-verifier key").
async fn refresh_verifier(
    config: &Config,
    http: &ServerHttp,
    store: &LocalStore,
) -> anyhow::Result<VerifierRefresh> {
    let pinned = store.get(VERIFIER_KEY).await?;
    let url = format!(
        "{}/api/v1/devices/me/code-verifier",
        config.server_url.trim_end_matches('/')
    );
    let fetched = async {
        let response = http
            .client
            .get(&url)
            .bearer_auth(&config.credential)
            .send()
            .await
            .map_err(|e| anyhow::anyhow!(http.trust.explain(&e)))?
            .error_for_status()?;
        let body: serde_json::Value = response.json().await?;
        let key = body["public_key"]
            .as_str()
            .ok_or_else(|| anyhow::anyhow!("no public_key in the answer"))?
            .to_owned();
        CodeVerifier::from_public_b64(&key).map_err(|e| anyhow::anyhow!("{e}"))?;
        anyhow::Ok(key)
    }
    .await;
    if let Err(err) = &fetched {
        tracing::warn!(error = %err, "could not fetch the code-verifier key; using the pinned one");
    }
    let pin = retail_domain::key_pinning::pin_verifier_key(
        config.code_verifier_key.as_deref(),
        pinned.as_deref(),
        fetched.as_deref().ok(),
    );
    if let Some(key) = &pin.save {
        store.set(VERIFIER_KEY, key).await?;
    }
    pin.log();
    Ok(VerifierRefresh {
        key: pin
            .key
            .and_then(|k| CodeVerifier::from_public_b64(&k).ok())
            .map(Arc::new),
        refused: pin.refused,
    })
}

/// A gate with its opened scanner and relay streams.
pub struct GateDevices {
    /// Name, profiles.
    pub setup: GateSetup,
    /// The scanner line.
    pub scanner: Box<dyn AsyncRead + Send + Unpin>,
    /// The relay line.
    pub relay: Box<dyn AsyncWrite + Send + Unpin>,
    /// The display line, when the gate has a display.
    pub display: Option<Box<dyn AsyncWrite + Send + Unpin>>,
}

/// The devices the agent drives.
#[derive(Default)]
pub struct Devices {
    /// Exit gates.
    pub gates: Vec<GateDevices>,
    /// The pickup-counter printer.
    pub pickup_printer: Option<pickup::CounterPrinter>,
}

/// The pickup-counter printer of an inventory, with its profile resolved.
pub fn counter_printer(
    catalog: &DeviceCatalog,
    inventory: &StoreInventory,
) -> anyhow::Result<Option<pickup::CounterPrinter>> {
    let Some(device) = inventory
        .edge
        .as_ref()
        .and_then(|e| e.pickup_printer.as_ref())
    else {
        return Ok(None);
    };
    let profile = catalog
        .printers
        .get(&device.model)
        .with_context(|| format!("no printer profile {}", device.model))?;
    Ok(Some(pickup::CounterPrinter {
        name: "pickup-printer".to_owned(),
        layout: retail_devices::receipt::ReceiptLayout::from_profile(profile),
        connection: device.connection.clone(),
        serial: profile.serial,
        status: profile
            .real_time_status
            .map(|s| std::time::Duration::from_millis(u64::from(s.timeout_ms))),
    }))
}

/// Queues a device event in the outbox.
async fn emit(
    config: &Config,
    store: &LocalStore,
    outbox: &tokio::sync::Notify,
    event: retail_domain::wire::bus::DeviceEvent,
) {
    let message = retail_domain::wire::bus::EventMessage {
        v: retail_domain::wire::bus::VERSION,
        message_id: uuid::Uuid::now_v7(),
        at: chrono::Utc::now(),
        store: config.store.clone(),
        event,
    };
    let payload = serde_json::to_vec(&message).unwrap_or_default();
    let topic = retail_domain::wire::bus::events_topic(&config.store, config.device_id);
    match store.enqueue(&topic, message.message_id, &payload).await {
        Ok(()) => outbox.notify_one(),
        Err(err) => tracing::error!(error = %err, "queueing an event failed"),
    }
}

/// Fetches a pickup order and prints its pick slip (with the shelves in `lines`); reports the
/// outcome on the bus. Returns what happened: `Ok(detail)` printed, `Err(reason)` not.
#[allow(clippy::too_many_arguments)]
async fn pick_slip(
    config: &Config,
    http: &ServerHttp,
    store: &LocalStore,
    outbox: &tokio::sync::Notify,
    printer: Option<&pickup::CounterPrinter>,
    health: &watch::Sender<Vec<ComponentHealth>>,
    order_id: uuid::Uuid,
    lines: &[retail_domain::wire::bus::PickupLine],
) -> Result<String, String> {
    let Some(printer) = printer else {
        tracing::warn!(%order_id, "no pickup-counter printer in the inventory");
        return Err("no pickup-counter printer in the inventory".into());
    };
    let order = match pickup::fetch_order(http, &config.server_url, &config.credential, order_id)
        .await
    {
        Ok(order) if order.location_id == config.store && order.fulfilment == "pickup" => order,
        Ok(order) => {
            tracing::warn!(%order_id, store = %order.location_id, fulfilment = %order.fulfilment, "not a pickup order of this store; no pick slip");
            return Err(format!(
                "order {} is not a pickup order of this store",
                order.order_no
            ));
        }
        Err(err) => {
            tracing::warn!(%order_id, error = %err, "could not fetch the order for its pick slip");
            return Err(format!("could not fetch the order: {err:#}"));
        }
    };
    let slip = pickup::slip_for(&order, lines);
    let what = format!("pick slip for {}", order.order_no);
    let printed = counter_print(
        config,
        store,
        outbox,
        printer,
        health,
        pickup::CounterPrint::PickSlip(&slip),
        &what,
    )
    .await?;
    emit(
        config,
        store,
        outbox,
        retail_domain::wire::bus::DeviceEvent::PickSlipPrinted { order_id },
    )
    .await;
    Ok(printed)
}

/// Prints on the counter printer and keeps its health: `ok` after a print (with the paper-low
/// warning when the printer says so), `fault` and a `printer_fault` event when it fails. The
/// answer is the command's detail.
async fn counter_print(
    config: &Config,
    store: &LocalStore,
    outbox: &tokio::sync::Notify,
    printer: &pickup::CounterPrinter,
    health: &watch::Sender<Vec<ComponentHealth>>,
    print: pickup::CounterPrint<'_>,
    what: &str,
) -> Result<String, String> {
    let name = printer.name.clone();
    match pickup::print(printer, print).await {
        Ok((bytes, outcome)) => {
            tracing::info!(
                bytes = bytes.len(),
                "{what} printed:\n{}",
                retail_devices::receipt::decode_text(&bytes)
            );
            if outcome.paper_low {
                tracing::warn!(printer = %name, "{}", retail_devices::printer_status::PAPER_LOW);
            }
            health.send_modify(|h| {
                if let Some(entry) = h.iter_mut().find(|e| e.name == name) {
                    entry.state = "ok".into();
                    // Paper near end is a warning: the printer still prints.
                    entry.detail = outcome
                        .paper_low
                        .then(|| retail_devices::printer_status::PAPER_LOW.to_owned());
                }
            });
            let mut done = format!("{what} printed");
            if outcome.paper_low {
                done.push_str("; ");
                done.push_str(retail_devices::printer_status::PAPER_LOW);
            }
            Ok(done)
        }
        Err(err) => {
            let fault = err.to_string();
            tracing::error!(%fault, "printing the {what} failed");
            health.send_modify(|h| {
                if let Some(entry) = h.iter_mut().find(|e| e.name == name) {
                    entry.state = "fault".into();
                    entry.detail = Some(fault.clone());
                }
            });
            emit(
                config,
                store,
                outbox,
                retail_domain::wire::bus::DeviceEvent::PrinterFault {
                    printer: name,
                    fault: fault.clone(),
                },
            )
            .await;
            Err(format!("printing failed: {fault}"))
        }
    }
}

/// Prints a same-city delivery order's shipping label, sent with the command by the server.
async fn shipping_label(
    config: &Config,
    store: &LocalStore,
    outbox: &tokio::sync::Notify,
    printer: Option<&pickup::CounterPrinter>,
    health: &watch::Sender<Vec<ComponentHealth>>,
    order_id: uuid::Uuid,
    label: Option<&retail_domain::wire::bus::ShippingLabel>,
) -> Result<String, String> {
    let Some(printer) = printer else {
        tracing::warn!(%order_id, "no counter printer in the inventory for a shipping label");
        return Err("no pickup-counter printer in the inventory".into());
    };
    let Some(label) = label else {
        tracing::warn!(%order_id, "a print_shipping_label command without its label");
        return Err("the command carries no label".into());
    };
    let what = format!("shipping label for {}", label.order_no);
    counter_print(
        config,
        store,
        outbox,
        printer,
        health,
        pickup::CounterPrint::ShippingLabel(label),
        &what,
    )
    .await
}

/// What carrying out a command needs.
struct CommandTargets<'a> {
    config: &'a Config,
    http: &'a ServerHttp,
    store: &'a LocalStore,
    outbox: &'a tokio::sync::Notify,
    printer: Option<&'a pickup::CounterPrinter>,
    health: &'a watch::Sender<Vec<ComponentHealth>>,
    open_gate: &'a HashMap<String, mpsc::Sender<()>>,
    verifier: &'a watch::Sender<Option<Arc<CodeVerifier>>>,
}

/// Carries out a command from the server and reports the outcome (`command_ack`).
async fn execute(targets: CommandTargets<'_>, message: retail_domain::wire::bus::CommandMessage) {
    let CommandTargets {
        config,
        http,
        store,
        outbox,
        printer,
        health,
        open_gate,
        verifier,
    } = targets;
    let kind = message.command.as_str();
    let result: Result<String, String> = match message.command {
        Command::OpenGate { gate } => match open_gate.get(&gate) {
            Some(tx) => match tx.send(()).await {
                Ok(()) => Ok(format!("{gate} opened")),
                Err(_) => Err(format!("{gate} is stopped")),
            },
            None => {
                tracing::warn!(%gate, "open_gate for an unknown gate");
                Err(format!("no gate {gate} at this agent"))
            }
        },
        Command::Resync => match refresh_verifier(config, http, store).await {
            Ok(VerifierRefresh {
                refused: Some(reason),
                ..
            }) => Err(reason),
            Ok(VerifierRefresh { key: Some(key), .. }) => {
                verifier.send_replace(Some(key));
                Ok("code-verifier key fetched".into())
            }
            Ok(VerifierRefresh { key: None, .. }) => {
                Err("no code-verifier key (server unreachable)".into())
            }
            Err(err) => {
                tracing::warn!(error = %err, "re-sync failed");
                Err(format!("re-sync failed: {err:#}"))
            }
        },
        Command::PrintPickSlip { order_id, lines } => {
            pick_slip(
                config, http, store, outbox, printer, health, order_id, &lines,
            )
            .await
        }
        Command::PrintShippingLabel { order_id, label } => {
            shipping_label(
                config,
                store,
                outbox,
                printer,
                health,
                order_id,
                label.as_ref(),
            )
            .await
        }
        Command::MarkReady { order_id } => {
            match pickup::mark_ready(http, &config.server_url, &config.credential, order_id).await {
                Ok(()) => {
                    tracing::info!(%order_id, "order marked ready");
                    Ok("order marked ready".into())
                }
                Err(err) => {
                    tracing::warn!(%order_id, error = %err, "could not mark the order ready");
                    Err(format!("{err:#}"))
                }
            }
        }
    };
    let (outcome, detail) = match result {
        Ok(detail) => (retail_domain::wire::bus::CommandOutcome::Done, detail),
        Err(detail) => (retail_domain::wire::bus::CommandOutcome::Failed, detail),
    };
    tracing::info!(command = %message.message_id, kind, outcome = outcome.as_str(), %detail, "command handled");
    emit(
        config,
        store,
        outbox,
        retail_domain::wire::bus::DeviceEvent::CommandAck {
            command_id: message.message_id,
            outcome,
            detail: Some(detail),
        },
    )
    .await;
}

/// Loads profiles and the inventory named by the configuration.
pub fn load_inventory(config: &Config) -> anyhow::Result<(DeviceCatalog, StoreInventory)> {
    let catalog = retail_domain::profiles::load_dir(&config.firmware_config)
        .map_err(|e| anyhow::anyhow!("{e}"))
        .with_context(|| format!("loading profiles from {}", config.firmware_config.display()))?;
    let inventory = retail_domain::profiles::load_inventory(&config.inventory, &catalog)
        .map_err(|e| anyhow::anyhow!("{e}"))
        .with_context(|| format!("loading the inventory {}", config.inventory.display()))?;
    anyhow::ensure!(
        inventory.store == config.store,
        "the inventory {} is for store {}, the configuration for {}",
        config.inventory.display(),
        inventory.store,
        config.store
    );
    Ok((catalog, inventory))
}

/// One gate of an inventory with the serial ports of its scanner and relay.
#[derive(Clone, Debug)]
pub struct GatePorts {
    /// Name and profiles.
    pub setup: GateSetup,
    /// Scanner port path.
    pub scanner_port: String,
    /// Scanner serial settings.
    pub scanner_serial: retail_domain::profiles::SerialSettings,
    /// Relay port path.
    pub relay_port: String,
    /// Relay serial settings.
    pub relay_serial: retail_domain::profiles::SerialSettings,
    /// The display's port and serial settings, when the gate has a display.
    pub display_port: Option<(String, retail_domain::profiles::SerialSettings)>,
}

/// The gates of an inventory, with their profiles resolved.
pub fn gate_setups(
    catalog: &DeviceCatalog,
    inventory: &StoreInventory,
) -> anyhow::Result<Vec<GatePorts>> {
    let mut out = Vec::new();
    for gate in inventory.edge.iter().flat_map(|e| e.gates.iter()) {
        let scanner = catalog
            .scanners
            .get(&gate.scanner.model)
            .with_context(|| format!("no scanner profile {}", gate.scanner.model))?;
        let relay = catalog
            .gates
            .get(&gate.relay.model)
            .with_context(|| format!("no gate relay profile {}", gate.relay.model))?;
        let display = match &gate.display {
            Some(device) => Some((
                device,
                catalog
                    .displays
                    .get(&device.model)
                    .with_context(|| format!("no display profile {}", device.model))?,
            )),
            None => None,
        };
        out.push(GatePorts {
            setup: GateSetup {
                name: format!("gate-{}", gate.gate),
                codec: retail_devices::scanner::ScanFrameCodec::from_profile(scanner),
                commands: relay.commands.clone(),
                timing: relay.timing,
                display: display.map(|(_, p)| DisplayLayout::from_profile(p)),
            },
            scanner_port: gate.scanner.port.clone(),
            scanner_serial: scanner.serial,
            relay_port: gate.relay.port.clone(),
            relay_serial: relay.serial,
            display_port: display.map(|(d, p)| (d.port.clone(), p.serial)),
        });
    }
    Ok(out)
}

/// Starts the agent from its configuration: opens the inventory's serial devices, then
/// [`run_with_devices`].
pub async fn run(config: Config, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    let (catalog, inventory) = load_inventory(&config)?;
    let mut devices = Devices::default();
    for gate in gate_setups(&catalog, &inventory)? {
        let scanner = open_stream(&gate.scanner_port, &gate.scanner_serial)?;
        let relay = open_stream(&gate.relay_port, &gate.relay_serial)?;
        let display = match &gate.display_port {
            Some((port, settings)) => {
                Some(Box::new(open_stream(port, settings)?) as Box<dyn AsyncWrite + Send + Unpin>)
            }
            None => None,
        };
        devices.gates.push(GateDevices {
            setup: gate.setup,
            scanner: Box::new(scanner),
            relay: Box::new(relay),
            display,
        });
    }
    devices.pickup_printer = counter_printer(&catalog, &inventory)?;
    run_with_devices(config, devices, None, shutdown).await
}

/// Runs the agent with opened devices until `shutdown`. Gate verdicts are also sent to
/// `verdicts` when given.
pub async fn run_with_devices(
    config: Config,
    devices: Devices,
    verdicts: Option<mpsc::UnboundedSender<Verdict>>,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    config.validate()?;
    let trust = config.trust()?;
    let http = http_client(&trust)?;
    let store = LocalStore::open(&config.data_dir).await?;
    match identify(&http, &config.server_url, &config.credential).await {
        Ok(identity) => {
            anyhow::ensure!(
                identity.id == config.device_id.to_string() && identity.location_id == config.store,
                "the credential belongs to device {} of store {}, not to {} of {}",
                identity.id,
                identity.location_id,
                config.device_id,
                config.store
            );
        }
        Err(err @ IdentifyError::Unreachable { .. }) => {
            tracing::warn!(error = %err, "server unreachable; starting offline");
        }
        Err(err) => return Err(err.into()),
    }
    let verifier = refresh_verifier(&config, &http, &store).await?.key;
    if verifier.is_none() {
        tracing::warn!(
            "no code-verifier key yet: the gates deny every pass until the server is reached once"
        );
    }
    let (verifier_tx, verifier_rx) = watch::channel(verifier);

    let cancel = CancellationToken::new();
    let mut health: Vec<ComponentHealth> = devices
        .gates
        .iter()
        .map(|g| ComponentHealth {
            name: g.setup.name.clone(),
            state: "ok".into(),
            detail: None,
        })
        .collect();
    if let Some(printer) = &devices.pickup_printer {
        health.push(ComponentHealth {
            name: printer.name.clone(),
            state: "ok".into(),
            detail: None,
        });
    }
    let label_scales = scales::setups(&config)?;
    health.extend(label_scales.iter().map(|s| ComponentHealth {
        name: scales::health_name(&s.name),
        state: "ok".into(),
        detail: Some("not loaded yet".into()),
    }));
    let printer = devices.pickup_printer.clone();
    let (health_tx, health_rx) = watch::channel(health);
    let (inbound_tx, mut inbound) = mpsc::channel::<Inbound>(256);
    let broker = retail_devices::server_link::parse_broker_url(&config.broker_url)?;
    let (link, link_task) = link::start(
        LinkConfig {
            tls: broker.tls,
            trust: trust.clone(),
            host: broker.host,
            port: broker.port,
            store: config.store.clone(),
            device: config.device_id,
            credential: config.credential.clone(),
            health_interval: std::time::Duration::from_secs(config.health_interval_secs),
            ack_wait: std::time::Duration::from_secs(config.ack_wait_secs),
        },
        store.clone(),
        health_rx,
        inbound_tx,
        cancel.clone(),
    );

    let ctx = GateContext {
        store_code: config.store.clone(),
        device: config.device_id,
        store: store.clone(),
        verifier: verifier_rx,
        rules: config.gate.clone(),
        outbox: link.outbox.clone(),
    };
    let mut open_gate: HashMap<String, mpsc::Sender<()>> = HashMap::new();
    let mut gate_tasks = Vec::new();
    for (index, gate) in devices.gates.into_iter().enumerate() {
        let (open_tx, open_rx) = mpsc::channel(8);
        open_gate.insert(gate.setup.name.clone(), open_tx);
        let name = gate.setup.name.clone();
        let health = health_tx.clone();
        let task = gate::run_gate(
            gate.setup,
            ctx.clone(),
            gate.scanner,
            gate.relay,
            gate.display,
            open_rx,
            verdicts.clone(),
            cancel.clone(),
        );
        let cancel = cancel.clone();
        gate_tasks.push(tokio::spawn(async move {
            let result = task.await;
            if !cancel.is_cancelled() {
                let detail = match &result {
                    Ok(()) => "scanner line closed".to_owned(),
                    Err(err) => err.to_string(),
                };
                tracing::error!(gate = %name, %detail, "gate stopped");
                health.send_modify(|h| {
                    if let Some(entry) = h.get_mut(index) {
                        entry.state = "fault".into();
                        entry.detail = Some(detail);
                    }
                });
            }
        }));
    }
    let scales_task = tokio::spawn(scales::run(
        config.clone(),
        http.clone(),
        store.clone(),
        label_scales,
        health_tx.clone(),
        cancel.clone(),
    ));
    tracing::info!(store = %config.store, device = %config.device_id, gates = open_gate.len(), "edge agent started");

    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            message = inbound.recv() => {
                let Some(message) = message else { break };
                match message {
                    Inbound::PassUsed(session) => {
                        if let Err(err) = store.mark_pass_used(session, "bus").await {
                            tracing::error!(error = %err, "recording a pass used elsewhere failed");
                        }
                    }
                    Inbound::Command(command) => {
                        let targets = CommandTargets {
                            config: &config,
                            http: &http,
                            store: &store,
                            outbox: &link.outbox,
                            printer: printer.as_ref(),
                            health: &health_tx,
                            open_gate: &open_gate,
                            verifier: &verifier_tx,
                        };
                        execute(targets, command).await;
                    }
                    Inbound::Pickup(notice) => {
                        tracing::info!(event = %notice.event, order = %notice.order_no, "pickup notice");
                        if notice.event == "created" {
                            let _ = pick_slip(&config, &http, &store, &link.outbox, printer.as_ref(), &health_tx, notice.order_id, &notice.lines).await;
                        }
                    }
                }
            }
        }
    }
    cancel.cancel();
    for task in gate_tasks {
        let _ = task.await;
    }
    let _ = scales_task.await;
    let _ = link_task.await;
    store.close().await;
    tracing::info!("edge agent stopped");
    Ok(())
}
