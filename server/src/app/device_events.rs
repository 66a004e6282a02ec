//! Taking device status and events from the store bus: the server's side of the device topics
//! (see `docs/CONTRACTS.md`).
//!
//! Every message is checked before anything changes: the topic must be a device
//! status/events topic, the payload at most [`MAX_PAYLOAD`] bytes of the expected JSON and
//! version, the device registered and not revoked, and the topic's store, the payload's store
//! and the device's registered store all the same. A refused message is logged with its reason
//! and changes nothing. Accepted messages are applied once per `message_id`
//! ([`storage::bus`]): presence and health with last-seen time, exit passes marked used,
//! printer faults recorded.
//!
//! **Gate exits.** Only an edge agent reports gate scans, and a shopper leaving (a scan that
//! uses the pass: `open`, `audit`) only for an existing scan-and-go session of its own store:
//! an exit from a POS device, for another store's session or for no session at all is refused
//! (logged, acknowledged — the device need not send it again — and nothing changes: the pass
//! stays unused and the order paid).
//!
//! **Acknowledgements.** Once the consumer has decided on an event of a registered, non-revoked
//! device published under that device's own store — applied it, found it a duplicate, or refused
//! it for its content after reading its `message_id` — it tells the device so on
//! `retail/v1/stores/{store}/acks/{device}` ([`AckMessage`](retail_domain::wire::bus::AckMessage)),
//! and the device deletes the event from its outbox. Nothing is acknowledged for an unknown or
//! revoked device, a topic of another store, a payload without a readable id, or a storage
//! failure (the device sends the event again and it is decided then). Status messages are not
//! acknowledged: they are retained and the next one supersedes them. Acknowledgements waiting
//! together for the same device go out in one message.

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use retail_domain::wire::bus::{
    self, decode, parse_device_topic, DeviceEvent, DeviceTopicKind, EventMessage, StatusMessage,
    MAX_PAYLOAD,
};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::actor::DeviceKind;
use crate::bus::{Bus, Incoming};
use crate::error::AppResult;
use crate::storage::bus::Applied;
use crate::storage::devices::DeviceRecord;
use crate::storage::{self, Store};
use retail_domain::order::OrderStatus;

/// Acknowledgements decided but not yet handed to the bus client; beyond this many the next is
/// dropped (logged): its device sends the event again, and it is acknowledged as a duplicate.
const ACK_QUEUE: usize = 4096;

/// Most acknowledgements gathered into one round of messages.
const ACK_BATCH: usize = 1024;

/// What became of a message.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Applied.
    Applied,
    /// Seen before (same message id): nothing changed.
    Duplicate,
    /// An empty retained payload (a cleared status): nothing to do.
    Cleared,
    /// Refused, with the reason.
    Refused(String),
    /// Not stored (the database failed), with the reason: nothing changed, and an event is not
    /// acknowledged, so its device sends it again.
    Failed(String),
}

/// An event the server has decided on, to be acknowledged to its device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ack {
    /// The device's store (the topic's, which is the device's registered store).
    pub store: String,
    /// The device.
    pub device: Uuid,
    /// The event's `message_id`.
    pub message_id: Uuid,
}

/// What became of a message, and the acknowledgement its device gets.
#[derive(Debug, PartialEq, Eq)]
pub struct Decision {
    /// What became of it.
    pub outcome: Outcome,
    /// The acknowledgement to send (events the server has taken only).
    pub ack: Option<Ack>,
}

/// The publisher acknowledgements go out through: the server's bus client, set once when it
/// exists (the consumer is started first, because the client is built with the consumer's
/// sender). Until then acknowledgements are dropped; their devices send the events again.
#[derive(Clone, Debug, Default)]
pub struct AckPublisher {
    bus: Arc<OnceLock<Bus>>,
}

impl AckPublisher {
    /// Sets the bus client (only the first call counts).
    pub fn set(&self, bus: Bus) {
        let _ = self.bus.set(bus);
    }
}

/// Starts the consumer task (and the task that sends its acknowledgements through `acks`);
/// returns the sender the bus client feeds.
pub fn start(
    store: Store,
    acks: AckPublisher,
    cancel: CancellationToken,
) -> mpsc::Sender<Incoming> {
    let (tx, mut rx) = mpsc::channel::<Incoming>(1024);
    let (ack_tx, ack_rx) = mpsc::channel::<Ack>(ACK_QUEUE);
    tokio::spawn(send_acks(ack_rx, acks, cancel.clone()));
    tokio::spawn(async move {
        loop {
            let incoming = tokio::select! {
                () = cancel.cancelled() => break,
                next = rx.recv() => match next {
                    Some(incoming) => incoming,
                    None => break,
                },
            };
            let decision = decide(&store, &incoming.topic, &incoming.payload).await;
            match decision.outcome {
                Outcome::Refused(reason) => {
                    tracing::warn!(topic = %incoming.topic, %reason, "bus message refused");
                }
                Outcome::Failed(reason) => {
                    tracing::error!(topic = %incoming.topic, %reason, "bus message not stored");
                }
                Outcome::Duplicate => {
                    tracing::debug!(topic = %incoming.topic, "duplicate bus message ignored");
                }
                Outcome::Applied | Outcome::Cleared => {}
            }
            if let Some(ack) = decision.ack {
                // Never wait here: the bus client's loop may be waiting on this consumer.
                if let Err(err) = ack_tx.try_send(ack) {
                    tracing::warn!(error = %err, "acknowledgement dropped; the device will send the event again");
                }
            }
        }
    });
    tx
}

/// Sends acknowledgements as they come, one message per device for those waiting together.
async fn send_acks(
    mut rx: mpsc::Receiver<Ack>,
    publisher: AckPublisher,
    cancel: CancellationToken,
) {
    loop {
        let first = tokio::select! {
            () = cancel.cancelled() => break,
            next = rx.recv() => match next {
                Some(ack) => ack,
                None => break,
            },
        };
        let mut batch: BTreeMap<(String, Uuid), Vec<Uuid>> = BTreeMap::new();
        let mut add = |ack: Ack| {
            batch
                .entry((ack.store, ack.device))
                .or_default()
                .push(ack.message_id);
        };
        add(first);
        for _ in 1..ACK_BATCH {
            match rx.try_recv() {
                Ok(ack) => add(ack),
                Err(_) => break,
            }
        }
        let Some(bus) = publisher.bus.get() else {
            tracing::warn!("no bus client yet; acknowledgements dropped");
            continue;
        };
        for ((store, device), received) in batch {
            bus.acknowledge(&store, device, &received).await;
        }
    }
}

/// Checks and applies one message; [`decide`] also says what to acknowledge.
pub async fn handle(store: &Store, topic: &str, payload: &[u8]) -> Outcome {
    decide(store, topic, payload).await.outcome
}

/// Checks and applies one message, and decides whether its device is told the server has it.
pub async fn decide(store: &Store, topic: &str, payload: &[u8]) -> Decision {
    let refused = |reason: String| Decision {
        outcome: Outcome::Refused(reason),
        ack: None,
    };
    let Some(parsed) = parse_device_topic(topic) else {
        return refused("not a device status or events topic".into());
    };
    if payload.is_empty() && parsed.kind == DeviceTopicKind::Status {
        return Decision {
            outcome: Outcome::Cleared,
            ack: None,
        };
    }
    if payload.len() > MAX_PAYLOAD {
        return refused(format!(
            "payload of {} bytes is over the {MAX_PAYLOAD}-byte limit",
            payload.len()
        ));
    }
    let device = match storage::devices::get(store, parsed.device).await {
        Ok(device) => device,
        Err(_) => return refused(format!("unknown device {}", parsed.device)),
    };
    if device.revoked_at.is_some() {
        return refused(format!("device {} is revoked", parsed.device));
    }
    if device.location_id != parsed.store {
        return refused(format!(
            "device {} belongs to {}, not to the topic's store {}",
            parsed.device, device.location_id, parsed.store
        ));
    }
    let store_mismatch = |payload_store: &str| {
        format!(
            "payload store {payload_store} does not match the topic's {}",
            parsed.store
        )
    };
    match parsed.kind {
        DeviceTopicKind::Status => {
            let outcome = match decode::<StatusMessage>(payload) {
                Ok(msg) if msg.store != parsed.store => {
                    Outcome::Refused(store_mismatch(&msg.store))
                }
                Ok(msg) => stored(storage::bus::apply_status(store, parsed.device, &msg).await),
                Err(err) => Outcome::Refused(err.to_string()),
            };
            Decision { outcome, ack: None }
        }
        DeviceTopicKind::Events => {
            let (outcome, message_id) = match decode::<EventMessage>(payload) {
                Ok(msg) if msg.store != parsed.store => (
                    Outcome::Refused(store_mismatch(&msg.store)),
                    Some(msg.message_id),
                ),
                Ok(msg) => (
                    match apply_event(store, &device, &msg).await {
                        Ok(outcome) => outcome,
                        Err(err) => Outcome::Failed(format!("storing failed: {err}")),
                    },
                    Some(msg.message_id),
                ),
                Err(err) => (Outcome::Refused(err.to_string()), bus::message_id(payload)),
            };
            // A storage failure is no decision: the device sends the event again.
            let decided = !matches!(outcome, Outcome::Failed(_));
            let ack = message_id.filter(|_| decided).map(|message_id| Ack {
                store: parsed.store.clone(),
                device: parsed.device,
                message_id,
            });
            Decision { outcome, ack }
        }
    }
}

fn stored(result: crate::error::AppResult<Applied>) -> Outcome {
    match result {
        Ok(Applied::Applied) => Outcome::Applied,
        Ok(Applied::Duplicate) => Outcome::Duplicate,
        Err(err) => Outcome::Failed(format!("storing failed: {err}")),
    }
}

/// Why `device` may not report this gate scan, or None when it may: only an edge agent reports
/// gate scans, and a scan that uses a pass (`open`, `audit`) must name a scan-and-go session of
/// the agent's own store (`session_store`: the session's store, None for no such session). A
/// denied scan of another store's pass is the agent's own record and is taken.
fn exit_refusal(
    device: &DeviceRecord,
    session: Option<Uuid>,
    uses_pass: bool,
    session_store: Option<&str>,
) -> Option<String> {
    if device.kind != DeviceKind::Edge {
        return Some(format!(
            "device {} is a {} device; only an edge agent reports gate exits",
            device.id,
            device.kind.as_str()
        ));
    }
    let session = session.filter(|_| uses_pass)?;
    match session_store {
        None => Some(format!("no scan-and-go session {session}")),
        Some(store) if store != device.location_id => Some(format!(
            "scan-and-go session {session} belongs to {store}, not to the device's store {}",
            device.location_id
        )),
        Some(_) => None,
    }
}

/// Applies a device event once: an exit pass that opened the gate (or went to audit) is marked
/// used and completes its paid scan-and-go order, a printer fault is recorded, a command's
/// acknowledgement closes the command. A gate exit reported by anything but an edge agent of
/// the session's store is [`Outcome::Refused`] and changes nothing (see `exit_refusal`).
pub async fn apply_event(
    store: &Store,
    record: &DeviceRecord,
    msg: &EventMessage,
) -> AppResult<Outcome> {
    let device = record.id;
    let mut tx = store.begin().await?;
    // Who may report an exit is decided before anything is written (the transaction is
    // dropped, so not even the message id is recorded).
    let mut session_order = None;
    if let DeviceEvent::ExitScan {
        session_id,
        decision,
        ..
    } = &msg.event
    {
        let found = match session_id {
            Some(session) => storage::bus::scan_session_order(&mut tx, *session).await?,
            None => None,
        };
        if let Some(reason) = exit_refusal(
            record,
            *session_id,
            decision.uses_pass(),
            found.as_ref().map(|(s, _)| s.as_str()),
        ) {
            return Ok(Outcome::Refused(reason));
        }
        session_order = found.and_then(|(_, order)| order);
    }
    let mut exited = None;
    let kind = match &msg.event {
        DeviceEvent::ExitScan { .. } => "exit_scan",
        DeviceEvent::PrinterFault { .. } => "printer_fault",
        DeviceEvent::PickSlipPrinted { .. } => "pick_slip_printed",
        DeviceEvent::CommandAck { .. } => "command_ack",
    };
    if !storage::bus::claim(&mut tx, msg.message_id, device, kind).await? {
        return Ok(Outcome::Duplicate);
    }
    match &msg.event {
        DeviceEvent::ExitScan {
            gate,
            session_id: Some(session),
            decision,
            ..
        } if decision.uses_pass() => {
            let first_use = storage::bus::mark_pass_used(
                &mut tx,
                *session,
                device,
                msg,
                gate,
                decision.as_str(),
            )
            .await?;
            if first_use {
                // The shopper left with the basket (through the gate, or after the audit): its
                // paid scan-and-go order is completed, taking the reserved units off the shelf —
                // in this transaction, so the pass is never used without it. Only a paid order
                // moves (anything else is left as it is).
                if let Some(order) = session_order {
                    exited = Some(order);
                    super::orders::move_in_tx(
                        &mut tx,
                        store,
                        order,
                        Some(OrderStatus::Paid),
                        OrderStatus::Completed,
                        &format!("device:{device}"),
                        &format!("left through {gate}"),
                    )
                    .await?;
                }
            }
        }
        DeviceEvent::PrinterFault { printer, fault } => {
            storage::bus::record_fault(&mut tx, device, msg, printer, fault).await?;
        }
        DeviceEvent::CommandAck {
            command_id,
            outcome,
            detail,
        } => {
            // Only the device's own, still waiting commands; anything else changes nothing.
            let acked = storage::edge::acknowledge(
                &mut tx,
                device,
                *command_id,
                outcome.as_str(),
                detail.as_deref(),
                storage::now_ms(),
            )
            .await?;
            if !acked {
                tracing::warn!(%device, %command_id, "acknowledgement of no waiting command of this device");
            }
        }
        _ => {}
    }
    tx.commit().await?;
    if let Some(order) = exited {
        crate::app::events::record_now(
            store,
            vec![crate::app::events::ServerEvent::new(
                "gate_exit",
                order,
                "scan_and_go",
                serde_json::json!({"order_id": order.to_string()}),
            )
            .order(order)],
        )
        .await;
    }
    Ok(Outcome::Applied)
}
