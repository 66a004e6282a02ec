//! The server's side of device status and events (DESIGN §6).
//!
//! Every message is checked before anything changes: the topic must be a device
//! status/events topic, the payload at most [`MAX_PAYLOAD`] bytes of the expected JSON and
//! version, the device registered and not revoked, and the topic's store, the payload's store
//! and the device's registered store all the same. A refused message is logged with its reason
//! and changes nothing. Accepted messages are applied once per `message_id`
//! ([`storage::bus`]): presence and health with last-seen time, exit passes marked used,
//! printer faults recorded.

use bytes::Bytes;
use retail_domain::wire::bus::{
    decode, parse_device_topic, DeviceTopicKind, EventMessage, StatusMessage, MAX_PAYLOAD,
};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::storage::bus::Applied;
use crate::storage::{self, Store};

/// The filters the server subscribes to.
pub const FILTERS: [&str; 2] = [
    "retail/v1/stores/+/devices/+/status",
    "retail/v1/stores/+/devices/+/events",
];

/// One message received by the server's client.
#[derive(Clone, Debug)]
pub struct Incoming {
    /// Its topic.
    pub topic: String,
    /// Its payload.
    pub payload: Bytes,
}

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
}

/// Starts the consumer task; returns the sender the bus client feeds.
pub fn start(store: Store, cancel: CancellationToken) -> mpsc::Sender<Incoming> {
    let (tx, mut rx) = mpsc::channel::<Incoming>(1024);
    tokio::spawn(async move {
        loop {
            let incoming = tokio::select! {
                () = cancel.cancelled() => break,
                next = rx.recv() => match next {
                    Some(incoming) => incoming,
                    None => break,
                },
            };
            match handle(&store, &incoming.topic, &incoming.payload).await {
                Outcome::Refused(reason) => {
                    tracing::warn!(topic = %incoming.topic, %reason, "bus message refused");
                }
                Outcome::Duplicate => {
                    tracing::debug!(topic = %incoming.topic, "duplicate bus message ignored");
                }
                Outcome::Applied | Outcome::Cleared => {}
            }
        }
    });
    tx
}

/// Checks and applies one message.
pub async fn handle(store: &Store, topic: &str, payload: &[u8]) -> Outcome {
    let Some(parsed) = parse_device_topic(topic) else {
        return Outcome::Refused("not a device status or events topic".into());
    };
    if payload.is_empty() && parsed.kind == DeviceTopicKind::Status {
        return Outcome::Cleared;
    }
    if payload.len() > MAX_PAYLOAD {
        return Outcome::Refused(format!(
            "payload of {} bytes is over the {MAX_PAYLOAD}-byte limit",
            payload.len()
        ));
    }
    let device = match storage::devices::get(store, parsed.device).await {
        Ok(device) => device,
        Err(_) => return Outcome::Refused(format!("unknown device {}", parsed.device)),
    };
    if device.revoked_at.is_some() {
        return Outcome::Refused(format!("device {} is revoked", parsed.device));
    }
    if device.location_id != parsed.store {
        return Outcome::Refused(format!(
            "device {} belongs to {}, not to the topic's store {}",
            parsed.device, device.location_id, parsed.store
        ));
    }
    let result = match parsed.kind {
        DeviceTopicKind::Status => match decode::<StatusMessage>(payload) {
            Ok(msg) if msg.store != parsed.store => {
                return Outcome::Refused(format!(
                    "payload store {} does not match the topic's {}",
                    msg.store, parsed.store
                ))
            }
            Ok(msg) => storage::bus::apply_status(store, parsed.device, &msg).await,
            Err(err) => return Outcome::Refused(err.to_string()),
        },
        DeviceTopicKind::Events => match decode::<EventMessage>(payload) {
            Ok(msg) if msg.store != parsed.store => {
                return Outcome::Refused(format!(
                    "payload store {} does not match the topic's {}",
                    msg.store, parsed.store
                ))
            }
            Ok(msg) => storage::bus::apply_event(store, parsed.device, &msg).await,
            Err(err) => return Outcome::Refused(err.to_string()),
        },
    };
    match result {
        Ok(Applied::Applied) => Outcome::Applied,
        Ok(Applied::Duplicate) => Outcome::Duplicate,
        Err(err) => Outcome::Refused(format!("storing failed: {err}")),
    }
}
