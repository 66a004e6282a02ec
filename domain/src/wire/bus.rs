//! The store bus (docs/DESIGN.md §6): topic names, who may publish and subscribe where, and the JSON
//! payloads devices and the server exchange over MQTT.
//!
//! Every payload carries `v` (format version, [`VERSION`]), `message_id` (UUIDv7, receivers
//! de-duplicate by it) and `at` (RFC 3339). Payloads larger than [`MAX_PAYLOAD`] are refused.
//!
//! Access rule (enforced by the broker and checked again by the server): a device of store `S`
//! connects only under a client id naming itself ([`client_id_of_device`]), may subscribe only
//! to its own commands and acknowledgements and to `S`'s pickup, catalog and device
//! status/events topics ([`device_may_subscribe`]), and may publish only to its own
//! `retail/v1/stores/S/devices/{device}/status` and `…/events`.
//!
//! Delivery of device events is end to end: the server answers on
//! `retail/v1/stores/S/acks/{device}` ([`AckMessage`]) with the ids of the events it has taken
//! (applied, seen before, or refused for their content), and a device keeps each event until an
//! acknowledgement names it. A broker's PUBACK only says the broker has it: a broker with nobody
//! subscribed acknowledges and drops.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::money::Money;

/// Root of every topic.
pub const TOPIC_ROOT: &str = "retail/v1";

/// Payload format version.
pub const VERSION: u32 = 1;

/// Largest payload a receiver accepts (bytes).
pub const MAX_PAYLOAD: usize = 16 * 1024;

/// Splits a store-bus broker address into what follows its scheme and whether it is MQTT over
/// TLS: `mqtts://…` is TLS; `mqtt://…` and `tcp://…` are plain; anything else is `None`.
pub fn broker_scheme(url: &str) -> Option<(&str, bool)> {
    if let Some(rest) = url.strip_prefix("mqtts://") {
        Some((rest, true))
    } else {
        url.strip_prefix("mqtt://")
            .or_else(|| url.strip_prefix("tcp://"))
            .map(|rest| (rest, false))
    }
}

/// `retail/v1/stores/{store}/devices/{device}/status` (retained presence, also the Last Will).
pub fn status_topic(store: &str, device: Uuid) -> String {
    format!("{TOPIC_ROOT}/stores/{store}/devices/{device}/status")
}

/// `retail/v1/stores/{store}/devices/{device}/events`.
pub fn events_topic(store: &str, device: Uuid) -> String {
    format!("{TOPIC_ROOT}/stores/{store}/devices/{device}/events")
}

/// `retail/v1/stores/{store}/commands/{device}`.
pub fn commands_topic(store: &str, device: Uuid) -> String {
    format!("{TOPIC_ROOT}/stores/{store}/commands/{device}")
}

/// `retail/v1/stores/{store}/acks/{device}`: the server's acknowledgements of the device's
/// events (QoS 1, server → device).
pub fn acks_topic(store: &str, device: Uuid) -> String {
    format!("{TOPIC_ROOT}/stores/{store}/acks/{device}")
}

/// `retail/v1/stores/{store}/pickup`.
pub fn pickup_topic(store: &str) -> String {
    format!("{TOPIC_ROOT}/stores/{store}/pickup")
}

/// `retail/v1/stores/{store}/catalog`.
pub fn catalog_topic(store: &str) -> String {
    format!("{TOPIC_ROOT}/stores/{store}/catalog")
}

/// `retail/v1/stores/{store}/members`: a member's tier or rights changed (the middle platform
/// set them): a lane holding that member re-reads them.
pub fn members_topic(store: &str) -> String {
    format!("{TOPIC_ROOT}/stores/{store}/members")
}

/// `retail/v1/stores/{store}/devices/+/events`: every device event of a store (gates learn
/// passes used at other gates from it).
pub fn store_events_filter(store: &str) -> String {
    format!("{TOPIC_ROOT}/stores/{store}/devices/+/events")
}

/// `retail/v1/stores/{store}/#`: everything of one store (more than any device may read: see
/// [`device_may_subscribe`]).
pub fn store_filter(store: &str) -> String {
    format!("{TOPIC_ROOT}/stores/{store}/#")
}

/// `retail/v1/#`: every topic of the system (the server's own broker login).
pub fn all_topics_filter() -> String {
    format!("{TOPIC_ROOT}/#")
}

/// `retail/v1/stores/+/devices/+/status`: every device's presence and health, in every store.
pub fn all_stores_status_filter() -> String {
    format!("{TOPIC_ROOT}/stores/+/devices/+/status")
}

/// `retail/v1/stores/+/devices/+/events`: every device's events, in every store.
pub fn all_stores_events_filter() -> String {
    format!("{TOPIC_ROOT}/stores/+/devices/+/events")
}

/// The filters the server subscribes to: every store's device status and events.
pub fn server_filters() -> [String; 2] {
    [all_stores_status_filter(), all_stores_events_filter()]
}

/// What a device topic is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeviceTopicKind {
    /// Presence and health.
    Status,
    /// Device events.
    Events,
}

/// A parsed `retail/v1/stores/{store}/devices/{device}/{status|events}` topic.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceTopic {
    /// Store code from the topic.
    pub store: String,
    /// Device id from the topic.
    pub device: Uuid,
    /// Status or events.
    pub kind: DeviceTopicKind,
}

/// Parses a device status/events topic; `None` for anything else.
pub fn parse_device_topic(topic: &str) -> Option<DeviceTopic> {
    let rest = topic.strip_prefix(TOPIC_ROOT)?.strip_prefix("/stores/")?;
    let mut parts = rest.split('/');
    let store = parts.next()?;
    if parts.next()? != "devices" {
        return None;
    }
    let device = parts.next()?.parse::<Uuid>().ok()?;
    let kind = match parts.next()? {
        "status" => DeviceTopicKind::Status,
        "events" => DeviceTopicKind::Events,
        _ => return None,
    };
    if parts.next().is_some() || crate::codes::validate_store(store).is_err() {
        return None;
    }
    Some(DeviceTopic {
        store: store.to_owned(),
        device,
        kind,
    })
}

/// May device `device` of store `store` publish to `topic`? Only to its own status and events.
pub fn device_may_publish(store: &str, device: Uuid, topic: &str) -> bool {
    topic == status_topic(store, device) || topic == events_topic(store, device)
}

/// May device `device` of store `store` subscribe to `filter`? Only to what a device of the
/// store needs, named exactly: its own commands and acknowledgements
/// ([`commands_topic`], [`acks_topic`]), the store's pickup and catalog notices, and the store's
/// device status and events (`devices/+/status|events`, or one device's). Never another
/// device's commands or acknowledgements, never another store, never a wildcard that would
/// cover them (`…/{store}/#`, `…/{store}/+/…`, `…/commands/+`).
pub fn device_may_subscribe(store: &str, device: Uuid, filter: &str) -> bool {
    if filter == commands_topic(store, device)
        || filter == acks_topic(store, device)
        || filter == pickup_topic(store)
        || filter == catalog_topic(store)
        || filter == members_topic(store)
    {
        return true;
    }
    let prefix = format!("{TOPIC_ROOT}/stores/{store}/devices/");
    let Some(rest) = filter.strip_prefix(&prefix) else {
        return false;
    };
    match rest.split_once('/') {
        Some((who, "status" | "events")) => who == "+" || who.parse::<Uuid>().is_ok(),
        _ => false,
    }
}

/// Longest label before a device id in an MQTT client id (`edge-…`, `pos-…`).
const CLIENT_ID_LABEL: usize = 16;

/// Longest suffix after a device id in an MQTT client id.
const CLIENT_ID_SUFFIX: usize = 32;

/// Is `client_id` an MQTT client id of device `device`? A device's client ids name it:
/// `{label}-{device}` or `{label}-{device}-{suffix}`, with the device id hyphenated or simple,
/// `label` 1–16 of `[a-z0-9_]` and `suffix` 1–32 of `[A-Za-z0-9_]` (several connections of one
/// device, e.g. a lane's catalog watcher and a test's listener). So no device can take over
/// another device's session (the broker ends an older connection with the same client id).
pub fn client_id_of_device(client_id: &str, device: Uuid) -> bool {
    let Some((label, rest)) = client_id.split_once('-') else {
        return false;
    };
    if label.is_empty()
        || label.len() > CLIENT_ID_LABEL
        || !label
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    {
        return false;
    }
    let hyphenated = device.hyphenated().to_string();
    let simple = device.simple().to_string();
    let Some(tail) = rest
        .strip_prefix(hyphenated.as_str())
        .or_else(|| rest.strip_prefix(simple.as_str()))
    else {
        return false;
    };
    match tail.strip_prefix('-') {
        None => tail.is_empty(),
        Some(suffix) => {
            !suffix.is_empty()
                && suffix.len() <= CLIENT_ID_SUFFIX
                && suffix
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_')
        }
    }
}

/// Presence of a device.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Presence {
    /// Connected and working.
    Online,
    /// Gone (the Last Will, or a clean stop).
    Offline,
}

impl Presence {
    /// `online` / `offline`.
    pub fn as_str(self) -> &'static str {
        match self {
            Presence::Online => "online",
            Presence::Offline => "offline",
        }
    }
}

/// Health of one device the agent drives (scanner, printer, gate relay, display).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ComponentHealth {
    /// Device name from the store inventory.
    pub name: String,
    /// `ok` or `fault`.
    pub state: String,
    /// What is wrong, when faulty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// `…/devices/{device}/status`, retained; the Last Will carries `status: offline`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusMessage {
    /// Format version.
    pub v: u32,
    /// Message id (UUIDv7).
    pub message_id: Uuid,
    /// When it was produced.
    pub at: DateTime<Utc>,
    /// The device's store (must equal the topic's).
    pub store: String,
    /// Online or offline.
    pub status: Presence,
    /// Software version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Health of each device the agent drives.
    #[serde(default)]
    pub health: Vec<ComponentHealth>,
}

/// The exit gate's decision on a scan.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GateDecision {
    /// The gate opened.
    Open,
    /// The gate stayed shut (reason given).
    Deny,
    /// The gate stayed shut and staff check the basket (the pass is used).
    Audit,
}

impl GateDecision {
    /// `open` / `deny` / `audit`.
    pub fn as_str(self) -> &'static str {
        match self {
            GateDecision::Open => "open",
            GateDecision::Deny => "deny",
            GateDecision::Audit => "audit",
        }
    }

    /// Does this decision use up the pass?
    pub fn uses_pass(self) -> bool {
        matches!(self, GateDecision::Open | GateDecision::Audit)
    }
}

/// What happened at a device.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum DeviceEvent {
    /// A scan at the exit gate and what the gate decided.
    ExitScan {
        /// Gate (inventory device name).
        gate: String,
        /// The pass's session, when the scan was a readable pass.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        session_id: Option<Uuid>,
        /// Open, deny or audit.
        decision: GateDecision,
        /// Why (deny and audit).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
        /// Items on the pass.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        item_count: Option<u32>,
        /// Amount on the pass.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        total: Option<Money>,
    },
    /// A printer reported a fault (paper out, cover open, offline).
    PrinterFault {
        /// Printer (inventory device name).
        printer: String,
        /// What is wrong.
        fault: String,
    },
    /// A pick slip was printed for a pickup order.
    PickSlipPrinted {
        /// The order.
        order_id: Uuid,
    },
    /// The device carried out (or could not carry out) a command.
    CommandAck {
        /// The command's `message_id`.
        command_id: Uuid,
        /// Done or failed.
        outcome: CommandOutcome,
        /// What happened (the failure's reason).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        detail: Option<String>,
    },
}

/// How a command ended at the device.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CommandOutcome {
    /// Carried out.
    Done,
    /// Not carried out (the detail says why).
    Failed,
}

impl CommandOutcome {
    /// `done` / `failed`.
    pub fn as_str(self) -> &'static str {
        match self {
            CommandOutcome::Done => "done",
            CommandOutcome::Failed => "failed",
        }
    }
}

/// One line of a pickup order as the store hears it (to pick it).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PickupLine {
    /// The SKU.
    pub sku_id: Uuid,
    /// Product name.
    pub name: String,
    /// Quantity.
    pub qty: i64,
    /// Where it sits in the store (e.g. `A3-02`), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shelf: Option<String>,
}

/// A shipping label for a delivery order (issue 16): the carrier and waybill large at the top,
/// the recipient, phone and full address, the order number, slot and item count, and a QR code
/// of the waybill (what the carrier's scanner reads). Encoded for a receipt printer by
/// `retail_devices::receipt::encode_label`; sent to a store's edge agent in a
/// [`Command::PrintShippingLabel`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ShippingLabel {
    /// Carrier code, e.g. `SF`.
    pub carrier: String,
    /// Waybill number.
    pub waybill: String,
    /// Recipient.
    pub recipient: String,
    /// Recipient's phone.
    pub phone: String,
    /// Full address (province, city, street), wrapped to the paper.
    pub address: String,
    /// Order number.
    pub order_no: String,
    /// Delivery slot (empty: any time).
    pub slot: String,
    /// Units in the parcel.
    pub items: i64,
    /// The shipping location's name (the sender).
    pub sender: String,
}

/// `…/devices/{device}/events`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventMessage {
    /// Format version.
    pub v: u32,
    /// Message id (UUIDv7); the server applies each id once.
    pub message_id: Uuid,
    /// When it happened (the device's clock).
    pub at: DateTime<Utc>,
    /// The device's store (must equal the topic's).
    pub store: String,
    /// The event.
    #[serde(flatten)]
    pub event: DeviceEvent,
}

/// A command to one device.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "command", rename_all = "snake_case")]
pub enum Command {
    /// Print (again) the pick slip of a pickup order.
    PrintPickSlip {
        /// The order.
        order_id: Uuid,
        /// The lines with their shelf locations (filled in by the server when it sends the
        /// command; ignored in an HTTP request).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        lines: Vec<PickupLine>,
    },
    /// Print a delivery order's shipping label on the store's counter printer (the order ships
    /// from this store: same-city delivery).
    PrintShippingLabel {
        /// The order.
        order_id: Uuid,
        /// The label (filled in by the server when it sends the command, from the full address
        /// whose reading it audits; ignored in an HTTP request).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        label: Option<ShippingLabel>,
    },
    /// Open a gate once (staff override after an audit).
    OpenGate {
        /// Gate (inventory device name).
        gate: String,
    },
    /// Mark a pickup order ready (the agent asks the server with its credential).
    MarkReady {
        /// The order.
        order_id: Uuid,
    },
    /// Fetch the code-verifier key again and republish presence.
    Resync,
}

impl Command {
    /// `print_pick_slip`, `print_shipping_label`, `open_gate`, `mark_ready` or `resync`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Command::PrintPickSlip { .. } => "print_pick_slip",
            Command::PrintShippingLabel { .. } => "print_shipping_label",
            Command::OpenGate { .. } => "open_gate",
            Command::MarkReady { .. } => "mark_ready",
            Command::Resync => "resync",
        }
    }
}

/// `retail/v1/stores/{store}/commands/{device}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandMessage {
    /// Format version.
    pub v: u32,
    /// Message id (UUIDv7); the agent executes each id once.
    pub message_id: Uuid,
    /// When it was sent.
    pub at: DateTime<Utc>,
    /// The command.
    #[serde(flatten)]
    pub command: Command,
}

/// `retail/v1/stores/{store}/pickup`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PickupMessage {
    /// Format version.
    pub v: u32,
    /// Message id (UUIDv7).
    pub message_id: Uuid,
    /// When it was sent.
    pub at: DateTime<Utc>,
    /// `created` (paid, to be picked), `ready`, `collected` or `cancelled`.
    pub event: String,
    /// The order.
    pub order_id: Uuid,
    /// Its number.
    pub order_no: String,
    /// The lines to pick, with shelf locations where known (`created` notices).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lines: Vec<PickupLine>,
}

/// What changed of a member (`retail/v1/stores/{store}/members`): the middle platform set their
/// tier or rights, and a lane holding that member on a sale takes the tier and re-reads them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberTierNotice {
    /// `tier_changed`.
    pub event: String,
    /// The member.
    pub member_id: Uuid,
    /// The member's tier code now (the growth tier again after the platform cleared its own).
    pub tier: String,
    /// The member's rights now (codes the middle platform set).
    #[serde(default)]
    pub rights: Vec<String>,
    /// The middle platform's sequence number of the change.
    pub seq: i64,
}

/// `retail/v1/stores/{store}/members`, as sent: a [`MemberTierNotice`] in the envelope.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberTierMessage {
    /// Format version.
    pub v: u32,
    /// Message id (UUIDv7).
    pub message_id: Uuid,
    /// When it was sent.
    pub at: DateTime<Utc>,
    /// The change.
    #[serde(flatten)]
    pub notice: MemberTierNotice,
}

/// Most event ids one [`AckMessage`] names (about 10 KiB of ids, well under [`MAX_PAYLOAD`]);
/// more are sent in several acknowledgements.
pub const MAX_ACK_IDS: usize = 256;

/// `retail/v1/stores/{store}/acks/{device}`: the device's event messages the server has taken
/// (applied, a duplicate of one applied before, or refused for its content). The device deletes
/// those events from its outbox; ids it does not know are ignored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AckMessage {
    /// Format version.
    pub v: u32,
    /// Message id (UUIDv7) of the acknowledgement itself.
    pub message_id: Uuid,
    /// When it was sent.
    pub at: DateTime<Utc>,
    /// The device's store (must equal the topic's).
    pub store: String,
    /// The `message_id`s of the device's events the server has taken (at most
    /// [`MAX_ACK_IDS`]).
    pub received: Vec<Uuid>,
}

/// Why a payload was refused.
#[derive(Debug, thiserror::Error)]
pub enum PayloadError {
    /// Larger than [`MAX_PAYLOAD`].
    #[error("payload of {0} bytes is over the {MAX_PAYLOAD}-byte limit")]
    TooLarge(usize),
    /// Not the expected JSON.
    #[error("malformed payload: {0}")]
    Malformed(String),
    /// A version this build does not read.
    #[error("unsupported payload version {0}")]
    Version(u32),
}

/// Decodes a payload, refusing oversized and malformed ones (text holding a NUL character
/// included: see [`super::json_has_nul`]).
pub fn decode<T: for<'de> Deserialize<'de>>(payload: &[u8]) -> Result<T, PayloadError> {
    if payload.len() > MAX_PAYLOAD {
        return Err(PayloadError::TooLarge(payload.len()));
    }
    #[derive(Deserialize)]
    struct Head {
        v: u32,
    }
    let head: Head =
        serde_json::from_slice(payload).map_err(|e| PayloadError::Malformed(e.to_string()))?;
    if head.v != VERSION {
        return Err(PayloadError::Version(head.v));
    }
    if super::json_has_nul(payload) {
        return Err(PayloadError::Malformed(
            "text must not contain NUL characters".into(),
        ));
    }
    serde_json::from_slice(payload).map_err(|e| PayloadError::Malformed(e.to_string()))
}

/// The `message_id` of a payload that may be refused for the rest of its content (so its sender
/// can be told it was taken); `None` when it is oversized, not a JSON object, or has no
/// readable id.
pub fn message_id(payload: &[u8]) -> Option<Uuid> {
    if payload.len() > MAX_PAYLOAD {
        return None;
    }
    #[derive(Deserialize)]
    struct Id {
        message_id: Uuid,
    }
    serde_json::from_slice::<Id>(payload)
        .ok()
        .map(|id| id.message_id)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn member_tier_messages_decode_as_the_contract_shows() {
        let text = r#"{"v": 1, "message_id": "0193a1c2-7b4e-7c3d-9e8f-0123456789ab",
            "at": "2026-12-06T08:01:02Z", "event": "tier_changed",
            "member_id": "0193a1c2-7b4e-7c3d-9e8f-0123456789ac", "tier": "gold",
            "rights": ["free_shipping"], "seq": 7}"#;
        let message: MemberTierMessage = decode(text.as_bytes()).unwrap();
        assert_eq!(message.notice.tier, "gold");
        assert_eq!(message.notice.rights, ["free_shipping"]);
        assert_eq!(message.notice.seq, 7);
        let back = serde_json::to_value(&message).unwrap();
        assert_eq!(back["event"], "tier_changed");
        for bad in [
            r#"{"v": 1, "message_id": "x", "at": "2026-12-06T08:01:02Z"}"#,
            r#"{"v": 2, "message_id": "0193a1c2-7b4e-7c3d-9e8f-0123456789ab"}"#,
            "not json",
        ] {
            assert!(
                decode::<MemberTierMessage>(bad.as_bytes()).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn access_rules() {
        let d = Uuid::now_v7();
        let other = Uuid::now_v7();
        assert!(device_may_publish("SH001", d, &status_topic("SH001", d)));
        assert!(device_may_publish("SH001", d, &events_topic("SH001", d)));
        assert!(!device_may_publish("SH001", d, &events_topic("HZ001", d)));
        assert!(!device_may_publish(
            "SH001",
            d,
            &events_topic("SH001", other)
        ));
        assert!(!device_may_publish("SH001", d, &pickup_topic("SH001")));
        assert!(!device_may_publish("SH001", d, "retail/v1/stores/SH001/#"));
        // Subscriptions: what a device of the store needs, named exactly.
        assert!(device_may_subscribe(
            "SH001",
            d,
            &commands_topic("SH001", d)
        ));
        assert!(device_may_subscribe("SH001", d, &acks_topic("SH001", d)));
        assert!(device_may_subscribe("SH001", d, &pickup_topic("SH001")));
        assert!(device_may_subscribe("SH001", d, &catalog_topic("SH001")));
        assert!(device_may_subscribe("SH001", d, &members_topic("SH001")));
        assert!(!device_may_subscribe("SH001", d, &members_topic("SH002")));
        assert!(device_may_subscribe(
            "SH001",
            d,
            &store_events_filter("SH001")
        ));
        assert!(device_may_subscribe(
            "SH001",
            d,
            &events_topic("SH001", other)
        ));
        assert!(device_may_subscribe(
            "SH001",
            d,
            &status_topic("SH001", other)
        ));
        assert!(device_may_subscribe(
            "SH001",
            d,
            "retail/v1/stores/SH001/devices/+/status"
        ));
        // Never another device's commands or acknowledgements, nor a wildcard covering them.
        assert!(!device_may_subscribe(
            "SH001",
            d,
            &commands_topic("SH001", other)
        ));
        assert!(!device_may_subscribe(
            "SH001",
            d,
            &acks_topic("SH001", other)
        ));
        assert!(!device_may_subscribe(
            "SH001",
            d,
            "retail/v1/stores/SH001/#"
        ));
        assert!(!device_may_subscribe(
            "SH001",
            d,
            "retail/v1/stores/SH001/commands/+"
        ));
        assert!(!device_may_subscribe(
            "SH001",
            d,
            "retail/v1/stores/SH001/commands/#"
        ));
        assert!(!device_may_subscribe(
            "SH001",
            d,
            "retail/v1/stores/SH001/+/+"
        ));
        assert!(!device_may_subscribe(
            "SH001",
            d,
            "retail/v1/stores/SH001/devices/#"
        ));
        assert!(!device_may_subscribe(
            "SH001",
            d,
            "retail/v1/stores/SH001/devices/+/#"
        ));
        assert!(!device_may_subscribe(
            "SH001",
            d,
            "retail/v1/stores/SH001/devices/x/events"
        ));
        // Never another store.
        assert!(!device_may_subscribe(
            "SH001",
            d,
            "retail/v1/stores/+/pickup"
        ));
        assert!(!device_may_subscribe("SH001", d, "retail/v1/stores/#"));
        assert!(!device_may_subscribe("SH001", d, "#"));
        assert!(!device_may_subscribe(
            "SH001",
            d,
            "retail/v1/stores/SH0011/#"
        ));
        assert!(!device_may_subscribe("SH001", d, "retail/v1/stores/SH001/"));
        assert!(!device_may_subscribe("HZ001", d, &acks_topic("SH001", d)));
        assert!(!device_may_subscribe(
            "HZ001",
            d,
            &commands_topic("SH001", d)
        ));
        // Acknowledgements are written by the server only.
        assert!(!device_may_publish("SH001", d, &acks_topic("SH001", d)));
        assert!(parse_device_topic(&acks_topic("SH001", d)).is_none());
    }

    #[test]
    fn client_ids_name_their_device() {
        let d = Uuid::now_v7();
        let other = Uuid::now_v7();
        for ok in [
            format!("edge-{}", d.simple()),
            format!("pos-{d}"),
            format!("test-{}-listener2", d.simple()),
            format!("e_1-{d}-x"),
        ] {
            assert!(client_id_of_device(&ok, d), "{ok}");
            assert!(!client_id_of_device(&ok, other), "{ok}");
        }
        for bad in [
            String::new(),
            d.to_string(),
            format!("edge-{}", other.simple()),
            format!("Edge-{}", d.simple()),
            format!("-{d}"),
            format!("edge-{d}-"),
            format!("edge-{d}x"),
            format!("edge-{d}-a/b"),
            format!("edge-{d}-{}", "x".repeat(33)),
            format!("{}-{d}", "a".repeat(17)),
            format!("edge-{}", &d.simple().to_string()[..31]),
            "retail-server".into(),
        ] {
            assert!(!client_id_of_device(&bad, d), "{bad}");
        }
    }

    #[test]
    fn acknowledgements_round_trip_and_ids_are_read_from_refused_payloads() {
        let d = Uuid::now_v7();
        assert_eq!(
            acks_topic("SH001", d),
            format!("retail/v1/stores/SH001/acks/{d}")
        );
        let ack = AckMessage {
            v: VERSION,
            message_id: Uuid::now_v7(),
            at: Utc::now(),
            store: "SH001".into(),
            received: vec![Uuid::now_v7(), Uuid::now_v7()],
        };
        let bytes = serde_json::to_vec(&ack).unwrap_or_default();
        let text = String::from_utf8_lossy(&bytes).into_owned();
        assert!(text.contains(r#""received":["#), "{text}");
        assert_eq!(decode::<AckMessage>(&bytes).ok(), Some(ack.clone()));
        assert!(matches!(
            decode::<AckMessage>(br#"{"v":1,"message_id":"x"}"#),
            Err(PayloadError::Malformed(_))
        ));
        assert!(matches!(
            decode::<AckMessage>(br#"{"v":2}"#),
            Err(PayloadError::Version(2))
        ));
        // The most ids one acknowledgement names fit in a payload.
        let full = AckMessage {
            received: (0..MAX_ACK_IDS).map(|_| Uuid::now_v7()).collect(),
            ..ack
        };
        let bytes = serde_json::to_vec(&full).unwrap_or_default();
        assert!(bytes.len() < MAX_PAYLOAD, "{}", bytes.len());
        assert!(decode::<AckMessage>(&bytes).is_ok());

        // The id of an event refused for its content (a later version, an unknown event).
        let id = Uuid::now_v7();
        let later = format!(r#"{{"v":2,"message_id":"{id}","store":"SH001"}}"#);
        assert_eq!(message_id(later.as_bytes()), Some(id));
        let unknown = format!(r#"{{"v":1,"message_id":"{id}","event":"self_destruct"}}"#);
        assert!(decode::<EventMessage>(unknown.as_bytes()).is_err());
        assert_eq!(message_id(unknown.as_bytes()), Some(id));
        assert_eq!(message_id(b"{not json"), None);
        assert_eq!(message_id(br#"{"v":1,"message_id":"x"}"#), None);
        assert_eq!(message_id(br#"[1,2]"#), None);
        let mut oversized = later.into_bytes();
        oversized.resize(MAX_PAYLOAD + 1, b' ');
        assert_eq!(message_id(&oversized), None);
    }

    /// MQTT filter matching (`+` one level, `#` the rest), for checking the filters above.
    fn matches(filter: &str, topic: &str) -> bool {
        let mut levels = topic.split('/');
        for f in filter.split('/') {
            match (f, levels.next()) {
                ("#", _) => return true,
                ("+", Some(_)) => {}
                (f, Some(level)) if f == level => {}
                _ => return false,
            }
        }
        levels.next().is_none()
    }

    #[test]
    fn filters_cover_what_they_say() {
        let d = Uuid::now_v7();
        let [status, events] = server_filters();
        assert_eq!(status, "retail/v1/stores/+/devices/+/status");
        assert_eq!(events, "retail/v1/stores/+/devices/+/events");
        assert_eq!(all_topics_filter(), "retail/v1/#");
        assert_eq!(store_filter("SH001"), "retail/v1/stores/SH001/#");
        for store in ["SH001", "HZ001"] {
            assert!(matches(&status, &status_topic(store, d)));
            assert!(!matches(&status, &events_topic(store, d)));
            assert!(matches(&events, &events_topic(store, d)));
            assert!(!matches(&events, &status_topic(store, d)));
            // The server hears devices only, not its own notices or acknowledgements.
            for own in [
                acks_topic(store, d),
                commands_topic(store, d),
                pickup_topic(store),
                catalog_topic(store),
            ] {
                assert!(!matches(&status, &own) && !matches(&events, &own), "{own}");
                assert!(matches(&all_topics_filter(), &own), "{own}");
            }
            // A store's filter: that store's topics, which its devices may read.
            assert!(matches(&store_filter(store), &catalog_topic(store)));
            assert!(matches(&store_filter(store), &events_topic(store, d)));
            assert!(!matches(&store_filter("SH002"), &catalog_topic(store)));
            assert!(!device_may_subscribe(store, d, &store_filter(store)));
        }
        assert!(!device_may_subscribe("SH001", d, &status));
        assert!(!device_may_subscribe("SH001", d, &all_topics_filter()));
    }

    #[test]
    fn device_topics_parse() {
        let d = Uuid::now_v7();
        let t = parse_device_topic(&events_topic("SH001", d)).unwrap_or_else(|| panic!("parse"));
        assert_eq!(
            (t.store.as_str(), t.device, t.kind),
            ("SH001", d, DeviceTopicKind::Events)
        );
        assert!(parse_device_topic("retail/v1/stores/SH001/devices/x/events").is_none());
        assert!(parse_device_topic(&format!("{}/more", status_topic("SH001", d))).is_none());
        assert!(parse_device_topic("retail/v1/stores/sh 1/devices/x/status").is_none());
    }

    #[test]
    fn payloads_round_trip_and_refuse_garbage() {
        let m = EventMessage {
            v: VERSION,
            message_id: Uuid::now_v7(),
            at: Utc::now(),
            store: "SH001".into(),
            event: DeviceEvent::ExitScan {
                gate: "gate-1".into(),
                session_id: Some(Uuid::now_v7()),
                decision: GateDecision::Open,
                reason: None,
                item_count: Some(3),
                total: None,
            },
        };
        let bytes = serde_json::to_vec(&m).unwrap_or_default();
        let back: EventMessage = decode(&bytes).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(back, m);
        assert!(matches!(
            decode::<EventMessage>(b"{not json"),
            Err(PayloadError::Malformed(_))
        ));
        assert!(matches!(
            decode::<EventMessage>(br#"{"v":9}"#),
            Err(PayloadError::Version(9))
        ));
        assert!(matches!(
            decode::<EventMessage>(&vec![b' '; MAX_PAYLOAD + 1]),
            Err(PayloadError::TooLarge(_))
        ));
    }

    mod properties {
        use chrono::TimeZone;
        use proptest::prelude::*;

        use super::super::*;

        fn id() -> impl Strategy<Value = Uuid> {
            any::<u128>().prop_map(Uuid::from_u128)
        }

        fn at() -> impl Strategy<Value = DateTime<Utc>> {
            (0i64..4_102_444_800, 0u32..1_000_000_000)
                .prop_map(|(secs, nanos)| Utc.timestamp_opt(secs, nanos).unwrap())
        }

        /// Any text, NULs and non-ASCII included.
        fn text() -> impl Strategy<Value = String> {
            any::<String>()
        }

        fn event() -> impl Strategy<Value = DeviceEvent> {
            let decision = prop_oneof![
                Just(GateDecision::Open),
                Just(GateDecision::Deny),
                Just(GateDecision::Audit)
            ];
            let outcome = prop_oneof![Just(CommandOutcome::Done), Just(CommandOutcome::Failed)];
            prop_oneof![
                (
                    text(),
                    proptest::option::of(id()),
                    decision,
                    proptest::option::of(text()),
                    proptest::option::of(any::<u32>()),
                    proptest::option::of(any::<i64>().prop_map(Money::from_fen)),
                )
                    .prop_map(
                        |(gate, session_id, decision, reason, item_count, total)| {
                            DeviceEvent::ExitScan {
                                gate,
                                session_id,
                                decision,
                                reason,
                                item_count,
                                total,
                            }
                        }
                    ),
                (text(), text())
                    .prop_map(|(printer, fault)| DeviceEvent::PrinterFault { printer, fault }),
                id().prop_map(|order_id| DeviceEvent::PickSlipPrinted { order_id }),
                (id(), outcome, proptest::option::of(text())).prop_map(
                    |(command_id, outcome, detail)| DeviceEvent::CommandAck {
                        command_id,
                        outcome,
                        detail,
                    }
                ),
            ]
        }

        fn event_message() -> impl Strategy<Value = EventMessage> {
            (id(), at(), text(), event()).prop_map(|(message_id, at, store, event)| EventMessage {
                v: VERSION,
                message_id,
                at,
                store,
                event,
            })
        }

        fn status_message() -> impl Strategy<Value = StatusMessage> {
            let health =
                (text(), text(), proptest::option::of(text())).prop_map(|(name, state, detail)| {
                    ComponentHealth {
                        name,
                        state,
                        detail,
                    }
                });
            (
                id(),
                at(),
                text(),
                any::<bool>(),
                proptest::option::of(text()),
                proptest::collection::vec(health, 0..4),
            )
                .prop_map(|(message_id, at, store, online, version, health)| {
                    StatusMessage {
                        v: VERSION,
                        message_id,
                        at,
                        store,
                        status: if online {
                            Presence::Online
                        } else {
                            Presence::Offline
                        },
                        version,
                        health,
                    }
                })
        }

        fn pickup_line() -> impl Strategy<Value = PickupLine> {
            (id(), text(), any::<i64>(), proptest::option::of(text())).prop_map(
                |(sku_id, name, qty, shelf)| PickupLine {
                    sku_id,
                    name,
                    qty,
                    shelf,
                },
            )
        }

        fn shipping_label() -> impl Strategy<Value = ShippingLabel> {
            (
                (text(), text(), text(), text()),
                (text(), text(), text(), any::<i64>(), text()),
            )
                .prop_map(
                    |(
                        (carrier, waybill, recipient, phone),
                        (address, order_no, slot, items, sender),
                    )| {
                        ShippingLabel {
                            carrier,
                            waybill,
                            recipient,
                            phone,
                            address,
                            order_no,
                            slot,
                            items,
                            sender,
                        }
                    },
                )
        }

        fn command_message() -> impl Strategy<Value = CommandMessage> {
            let command = prop_oneof![
                (id(), proptest::collection::vec(pickup_line(), 0..4))
                    .prop_map(|(order_id, lines)| Command::PrintPickSlip { order_id, lines }),
                (id(), proptest::option::of(shipping_label())).prop_map(|(order_id, label)| {
                    Command::PrintShippingLabel { order_id, label }
                }),
                text().prop_map(|gate| Command::OpenGate { gate }),
                id().prop_map(|order_id| Command::MarkReady { order_id }),
                Just(Command::Resync),
            ];
            (id(), at(), command).prop_map(|(message_id, at, command)| CommandMessage {
                v: VERSION,
                message_id,
                at,
                command,
            })
        }

        fn pickup_message() -> impl Strategy<Value = PickupMessage> {
            (
                id(),
                at(),
                text(),
                id(),
                text(),
                proptest::collection::vec(pickup_line(), 0..4),
            )
                .prop_map(|(message_id, at, event, order_id, order_no, lines)| {
                    PickupMessage {
                        v: VERSION,
                        message_id,
                        at,
                        event,
                        order_id,
                        order_no,
                        lines,
                    }
                })
        }

        fn ack_message() -> impl Strategy<Value = AckMessage> {
            (id(), at(), text(), proptest::collection::vec(id(), 0..20)).prop_map(
                |(message_id, at, store, received)| AckMessage {
                    v: VERSION,
                    message_id,
                    at,
                    store,
                    received,
                },
            )
        }

        /// Decodes what was encoded: the same message, or `TooLarge` past the limit, or
        /// `Malformed` for text holding a NUL.
        fn roundtrips<T>(message: &T) -> Result<(), TestCaseError>
        where
            T: Serialize + for<'de> Deserialize<'de> + PartialEq + std::fmt::Debug,
        {
            let bytes = serde_json::to_vec(message).unwrap();
            match decode::<T>(&bytes) {
                Ok(back) => prop_assert_eq!(&back, message),
                Err(PayloadError::TooLarge(n)) => prop_assert!(n > MAX_PAYLOAD),
                Err(PayloadError::Malformed(_)) if crate::wire::json_has_nul(&bytes) => {}
                Err(other) => prop_assert!(false, "{other}: {}", String::from_utf8_lossy(&bytes)),
            }
            Ok(())
        }

        proptest! {
            /// Every payload a device, a broker or an attacker on the bus can send is decoded
            /// or refused with a reason, never a panic, by each message type's reader.
            #[test]
            fn any_payload_is_decoded_or_refused(payload in proptest::collection::vec(any::<u8>(), 0..2048)) {
                let _ = decode::<StatusMessage>(&payload);
                let _ = decode::<EventMessage>(&payload);
                let _ = decode::<CommandMessage>(&payload);
                let _ = decode::<PickupMessage>(&payload);
                let _ = decode::<AckMessage>(&payload);
                let _ = message_id(&payload);
            }

            /// The same for JSON that looks like a message, with any values in its fields.
            #[test]
            fn message_shaped_json_is_decoded_or_refused(
                v in any::<u32>(),
                message_id_text in text(),
                event in "exit_scan|printer_fault|pick_slip_printed|command_ack|.{0,12}",
                values in proptest::collection::vec((text(), any::<i64>(), text()), 0..6),
            ) {
                let mut object = serde_json::json!({
                    "v": v, "message_id": message_id_text, "at": "2026-01-01T00:00:00Z",
                    "store": "SH001", "event": event,
                });
                for (key, number, value) in values {
                    object[key.clone()] = serde_json::json!(value);
                    object[format!("{key}_n")] = serde_json::json!(number);
                }
                let payload = serde_json::to_vec(&object).unwrap();
                let _ = decode::<EventMessage>(&payload);
                let _ = decode::<StatusMessage>(&payload);
                let _ = decode::<CommandMessage>(&payload);
                let _ = message_id(&payload);
            }

            #[test]
            fn events_roundtrip(message in event_message()) {
                roundtrips(&message)?;
                let bytes = serde_json::to_vec(&message).unwrap();
                if bytes.len() <= MAX_PAYLOAD {
                    // Also when the rest is refused: the device is told its event was taken.
                    prop_assert_eq!(message_id(&bytes), Some(message.message_id));
                }
            }

            #[test]
            fn statuses_roundtrip(message in status_message()) {
                roundtrips(&message)?;
            }

            #[test]
            fn commands_roundtrip(message in command_message()) {
                roundtrips(&message)?;
            }

            #[test]
            fn pickup_notices_roundtrip(message in pickup_message()) {
                roundtrips(&message)?;
            }

            #[test]
            fn acknowledgements_roundtrip(message in ack_message()) {
                roundtrips(&message)?;
            }

            /// Topic names, filters and client ids from the network are read without panics,
            /// and the server's own topic names read back as what they name.
            #[test]
            fn topics_and_client_ids(
                text in text(),
                store in "[A-Z0-9-]{1,16}",
                device in id(),
                label in "[a-z0-9_]{1,16}",
                suffix in proptest::option::of("[A-Za-z0-9_]{1,32}"),
            ) {
                let _ = parse_device_topic(&text);
                let _ = device_may_publish(&store, device, &text);
                let _ = device_may_subscribe(&store, device, &text);
                let _ = client_id_of_device(&text, device);
                for (topic, kind) in [
                    (status_topic(&store, device), DeviceTopicKind::Status),
                    (events_topic(&store, device), DeviceTopicKind::Events),
                ] {
                    prop_assert_eq!(
                        parse_device_topic(&topic),
                        Some(DeviceTopic { store: store.clone(), device, kind })
                    );
                    prop_assert!(device_may_publish(&store, device, &topic));
                }
                let client_id = match &suffix {
                    Some(suffix) => format!("{label}-{device}-{suffix}"),
                    None => format!("{label}-{}", device.simple()),
                };
                prop_assert!(client_id_of_device(&client_id, device));
                prop_assert!(!client_id_of_device(&client_id, Uuid::from_u128(device.as_u128() ^ 1)));
            }
        }
    }
}
