//! Event tracking (埋点, issue 19): the shop pages' events sent in batches by the page's script
//! (`navigator.sendBeacon`, [`ingest`]) and the server's own business events ([`record`]), in one
//! store, following the schema of `docs/EVENTS.md` ([`SCHEMA_VERSION`]).
//!
//! Ingestion needs no credential and no CSRF token (a beacon sends no custom header): an event
//! changes nothing but the counts, each is checked against the schema on its own (a bad one is
//! answered with its index and reason, the good ones of the batch are kept), deduplicated by its
//! client event id, and the batches of one client address are rate-limited. The member is
//! attached only from the shop's own session (the `SameSite=Lax` `sid` cookie, which a
//! cross-site request never carries), and never for a member who opted out of
//! personalisation. No event holds a phone number or an address: the schema has no such
//! field, and a property value that looks like a Chinese mobile number is refused.
//!
//! Server events are recorded after their business write committed ([`record`], written in
//! batches by the sweeper with [`flush`]; [`record_now`] where only the store is at hand): a
//! failure is logged and never fails the write; their ids are `<name>:<subject>`, so a retried
//! write records its event once. Raw events are deleted after `events.retention_days` by the sweeper
//! ([`sweep`]); the daily counts per name and channel (kept as events arrive) stay.

use std::collections::BTreeMap;
use std::sync::Mutex;

use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;
use uuid::Uuid;

use super::{china_day, AppState};
use crate::actor::{ClientAddr, Role, StaffActor};
use crate::error::{AppError, AppResult};
use crate::storage::events::{DayCount, NewEvent};
use crate::storage::{self, Store};

/// The schema version this server accepts and writes (`docs/EVENTS.md`).
pub const SCHEMA_VERSION: i64 = 1;
/// Most events in one batch (more: the whole batch is refused).
pub const MAX_EVENTS_PER_BATCH: usize = 100;
/// Largest batch body, in bytes (more: the whole batch is refused).
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// Longest text property value, page path or device id, in characters.
pub const MAX_TEXT: usize = 200;
/// Oldest event accepted: seven days before the server's clock.
pub const MAX_AGE_MS: i64 = 7 * 86_400_000;
/// Furthest ahead of the server's clock an event may be (clock skew).
pub const MAX_AHEAD_MS: i64 = 10 * 60_000;
/// Longest date range of the daily counts, in days.
pub const MAX_RANGE_DAYS: i64 = 366;

/// The type of an event property.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PropType {
    /// Text, at most [`MAX_TEXT`] characters, never like a mobile number.
    Text,
    /// A whole number, zero or more.
    Count,
}

/// One property of an event's schema: name, type, required.
pub type Prop = (&'static str, PropType, bool);

/// Who emits an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// The shop page's script.
    Client,
    /// The server.
    Server,
}

/// Every event name, who emits it, and its properties (the code side of `docs/EVENTS.md`).
pub const EVENTS: &[(&str, Side, &[Prop])] = &[
    (
        "page_view",
        Side::Client,
        &[
            ("dwell_ms", PropType::Count, true),
            ("referrer", PropType::Text, false),
            ("campaign", PropType::Text, false),
        ],
    ),
    (
        "click",
        Side::Client,
        &[
            ("target", PropType::Text, true),
            ("sku", PropType::Text, false),
            ("provider", PropType::Text, false),
            ("campaign", PropType::Text, false),
            ("list", PropType::Text, false),
        ],
    ),
    ("search", Side::Client, &[("term", PropType::Text, true)]),
    (
        "client_error",
        Side::Client,
        &[
            ("kind", PropType::Text, true),
            ("message", PropType::Text, true),
            ("source", PropType::Text, false),
            ("line", PropType::Count, false),
        ],
    ),
    (
        "anomaly",
        Side::Client,
        &[
            ("kind", PropType::Text, true),
            ("count", PropType::Count, true),
        ],
    ),
    (
        "order_placed",
        Side::Server,
        &[
            ("order_no", PropType::Text, true),
            ("total_fen", PropType::Count, true),
            ("fulfilment", PropType::Text, true),
            ("coupons", PropType::Count, true),
        ],
    ),
    (
        "order_paid",
        Side::Server,
        &[
            ("order_no", PropType::Text, true),
            ("total_fen", PropType::Count, true),
        ],
    ),
    (
        "order_refunded",
        Side::Server,
        &[
            ("refund_id", PropType::Text, true),
            ("amount_fen", PropType::Count, true),
        ],
    ),
    (
        "share_opened",
        Side::Server,
        &[("target", PropType::Text, true)],
    ),
    (
        "share_ordered",
        Side::Server,
        &[("order_no", PropType::Text, true)],
    ),
    (
        "pickup_handed_over",
        Side::Server,
        &[("order_no", PropType::Text, true)],
    ),
    (
        "lane_sale",
        Side::Server,
        &[
            ("sale_no", PropType::Text, true),
            ("total_fen", PropType::Count, true),
            ("lines", PropType::Count, true),
        ],
    ),
    (
        "gate_exit",
        Side::Server,
        &[("order_id", PropType::Text, true)],
    ),
    (
        "coupon_claimed",
        Side::Server,
        &[
            ("template_id", PropType::Text, true),
            ("coupon_id", PropType::Text, true),
        ],
    ),
    (
        "coupon_used",
        Side::Server,
        &[
            ("coupon_id", PropType::Text, true),
            ("order_no", PropType::Text, true),
        ],
    ),
];

/// The channels a client event may name.
pub const CLIENT_CHANNELS: &[&str] = &["online", "scan_and_go"];

/// The values of `click.target` (the shop's `data-track` marks).
pub const CLICK_TARGETS: &[&str] = &[
    "add_to_cart",
    "checkout",
    "place_order",
    "pay",
    "share",
    "recommendation",
];

/// The values of `click.list` (a recommendation tile's list, `app::recommendations`).
pub const RECOMMENDATION_LISTS: &[&str] = &["together", "for_you", "similar", "popular"];

/// The values of `anomaly.kind`.
pub const ANOMALY_KINDS: &[&str] = &["repeated_refresh", "repeated_payment_failure"];

/// The values of `client_error.kind`.
pub const ERROR_KINDS: &[&str] = &["error", "rejection"];

/// One event of a batch that was not stored, and why.
#[derive(Clone, Debug, Serialize, ToSchema, PartialEq, Eq)]
pub struct EventError {
    /// Its position in the batch (from 0).
    pub index: usize,
    /// What is wrong with it.
    pub message: String,
}

/// What became of a batch.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct BatchOutcome {
    /// Events stored now.
    pub accepted: usize,
    /// Events stored before (same id): nothing changed.
    pub duplicates: usize,
    /// Events refused, each with its index and reason (the others are kept).
    pub errors: Vec<EventError>,
}

/// True when `text` holds what looks like a Chinese mobile number: eleven digits `1[3-9]…`
/// (spaces and hyphens between digits ignored, a leading `86` allowed), not part of a longer
/// run of digits.
pub fn looks_like_mobile(text: &str) -> bool {
    let mut runs: Vec<String> = Vec::new();
    let mut run = String::new();
    let chars: Vec<char> = text.chars().collect();
    for (i, c) in chars.iter().enumerate() {
        if c.is_ascii_digit() {
            run.push(*c);
        } else if (*c == ' ' || *c == '-')
            && !run.is_empty()
            && chars.get(i + 1).is_some_and(char::is_ascii_digit)
        {
            // A separator inside a number: skipped.
        } else if !run.is_empty() {
            runs.push(std::mem::take(&mut run));
        }
    }
    if !run.is_empty() {
        runs.push(run);
    }
    runs.iter().any(|r| {
        let digits = r.strip_prefix("86").filter(|d| d.len() == 11).unwrap_or(r);
        digits.len() == 11
            && digits.starts_with('1')
            && digits
                .as_bytes()
                .get(1)
                .is_some_and(|b| (b'3'..=b'9').contains(b))
    })
}

fn schema(name: &str) -> Option<(Side, &'static [Prop])> {
    EVENTS
        .iter()
        .find(|(n, _, _)| *n == name)
        .map(|(_, side, props)| (*side, *props))
}

fn text_ok(value: &str, what: &str) -> Result<(), String> {
    if value.chars().count() > MAX_TEXT {
        return Err(format!("{what}: longer than {MAX_TEXT} characters"));
    }
    if value.chars().any(char::is_control) {
        return Err(format!("{what}: control characters"));
    }
    if looks_like_mobile(value) {
        return Err(format!(
            "{what}: looks like a phone number (no personal data in events)"
        ));
    }
    Ok(())
}

/// Checks one client event against the schema and makes it a row (the member attached later).
pub fn check_client_event(value: &Value, now: i64) -> Result<NewEvent, String> {
    let obj = value.as_object().ok_or("an event is a JSON object")?;
    const ENVELOPE: &[&str] = &[
        "id", "name", "v", "ts", "device", "page", "channel", "props",
    ];
    if let Some(extra) = obj.keys().find(|k| !ENVELOPE.contains(&k.as_str())) {
        return Err(format!("unknown field {extra}"));
    }
    let text = |key: &str| -> Result<&str, String> {
        obj.get(key)
            .and_then(Value::as_str)
            .ok_or_else(|| format!("{key}: required text"))
    };
    let id = Uuid::try_parse(text("id")?).map_err(|_| "id: not a UUID".to_owned())?;
    let name = text("name")?;
    let (side, props_schema) = schema(name).ok_or_else(|| format!("name: unknown event {name}"))?;
    if side != Side::Client {
        return Err(format!("name: {name} is recorded by the server only"));
    }
    match obj.get("v").and_then(Value::as_i64) {
        Some(SCHEMA_VERSION) => {}
        Some(v) => return Err(format!("v: schema version {v} is not supported (1)")),
        None => return Err("v: required schema version".into()),
    }
    let ts = obj
        .get("ts")
        .and_then(Value::as_i64)
        .ok_or("ts: required time (Unix milliseconds)")?;
    if ts > now + MAX_AHEAD_MS {
        return Err("ts: in the future".into());
    }
    if ts < now - MAX_AGE_MS {
        return Err("ts: more than 7 days ago".into());
    }
    let device = Uuid::try_parse(text("device")?).map_err(|_| "device: not a UUID".to_owned())?;
    let page = text("page")?;
    if !page.starts_with('/') || page.contains('?') || page.contains('#') {
        return Err("page: a path (no query, no fragment)".into());
    }
    text_ok(page, "page")?;
    let channel = text("channel")?;
    if !CLIENT_CHANNELS.contains(&channel) {
        return Err(format!("channel: one of {}", CLIENT_CHANNELS.join(", ")));
    }
    let empty = Map::new();
    let props = match obj.get("props") {
        None => &empty,
        Some(Value::Object(p)) => p,
        Some(_) => return Err("props: a JSON object".into()),
    };
    let props = check_props(name, props_schema, props)?;
    Ok(NewEvent {
        event_id: id.to_string(),
        name: name.to_owned(),
        source: "client",
        schema_version: SCHEMA_VERSION,
        occurred_at: ts,
        day: china_day(ts),
        device_id: Some(device.to_string()),
        member_id: None,
        store_id: None,
        channel: channel.to_owned(),
        page: Some(page.to_owned()),
        props,
        order_id: None,
    })
}

fn check_props(name: &str, schema: &[Prop], props: &Map<String, Value>) -> Result<String, String> {
    if let Some(extra) = props
        .keys()
        .find(|k| !schema.iter().any(|(n, _, _)| n == k))
    {
        return Err(format!("props.{extra}: not a property of {name}"));
    }
    for (prop, kind, required) in schema {
        let what = format!("props.{prop}");
        match (props.get(*prop), kind) {
            (None | Some(Value::Null), _) if *required => return Err(format!("{what}: required")),
            (None | Some(Value::Null), _) => {}
            (Some(Value::String(s)), PropType::Text) => text_ok(s, &what)?,
            (Some(v), PropType::Count) if v.as_i64().is_some_and(|n| n >= 0) => {}
            (Some(_), PropType::Text) => return Err(format!("{what}: text")),
            (Some(_), PropType::Count) => return Err(format!("{what}: a whole number, 0 or more")),
        }
    }
    let one_of = |prop: &str, allowed: &[&str]| -> Result<(), String> {
        match props.get(prop).and_then(Value::as_str) {
            Some(v) if !allowed.contains(&v) => {
                Err(format!("props.{prop}: one of {}", allowed.join(", ")))
            }
            _ => Ok(()),
        }
    };
    match name {
        "click" => {
            one_of("target", CLICK_TARGETS)?;
            one_of("list", RECOMMENDATION_LISTS)?
        }
        "anomaly" => one_of("kind", ANOMALY_KINDS)?,
        "client_error" => one_of("kind", ERROR_KINDS)?,
        _ => {}
    }
    serde_json::to_string(props).map_err(|e| e.to_string())
}

/// Takes a batch from the shop page's script (`{"events": [...]}`, sent as `text/plain` or
/// `application/json`): rate-limited per client address, refused whole when larger than
/// [`MAX_BODY_BYTES`] or [`MAX_EVENTS_PER_BATCH`] events or not a batch at all; otherwise each
/// event is checked on its own, the good ones stored (once per id) with `member` attached
/// (unless they opted out), the bad ones answered with their index.
pub async fn ingest(
    state: &AppState,
    client: &ClientAddr,
    member: Option<Uuid>,
    body: &[u8],
) -> AppResult<BatchOutcome> {
    state
        .limiter
        .check(
            &format!("events:{}", client.0),
            state.settings.events.batches_per_minute_per_address,
        )
        .await?;
    if body.len() > MAX_BODY_BYTES {
        return Err(AppError::bad_request(
            "batch_too_large",
            format!("a batch is at most {MAX_BODY_BYTES} bytes"),
        ));
    }
    if retail_domain::wire::json_has_nul(body) {
        return Err(AppError::bad_request(
            "invalid_body",
            "text must not contain NUL characters",
        ));
    }
    let batch: Value = serde_json::from_slice(body)
        .map_err(|e| AppError::bad_request("invalid_body", format!("not JSON: {e}")))?;
    let events = batch
        .get("events")
        .and_then(Value::as_array)
        .ok_or_else(|| AppError::bad_request("invalid_body", "a batch is {\"events\": [...]}"))?;
    if events.len() > MAX_EVENTS_PER_BATCH {
        return Err(AppError::bad_request(
            "batch_too_large",
            format!(
                "a batch is at most {MAX_EVENTS_PER_BATCH} events, got {}",
                events.len()
            ),
        ));
    }
    let now = storage::now_ms();
    let mut rows = Vec::with_capacity(events.len());
    let mut errors = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (index, value) in events.iter().enumerate() {
        match check_client_event(value, now) {
            Ok(mut row) => {
                if !seen.insert(row.event_id.clone()) {
                    errors.push(EventError {
                        index,
                        message: "id: twice in this batch".into(),
                    });
                    continue;
                }
                row.member_id = member;
                rows.push(row);
            }
            Err(message) => errors.push(EventError { index, message }),
        }
    }
    let done = state.event_intake.store(rows).await?;
    Ok(BatchOutcome {
        accepted: done.stored,
        duplicates: done.duplicates,
        errors,
    })
}

/// A business event the server records (`docs/EVENTS.md`, emitted by the server).
#[derive(Clone, Debug)]
pub struct ServerEvent {
    /// The event's name, one of [`EVENTS`] emitted by the server.
    pub name: &'static str,
    /// What it is about (an order, refund, sale or coupon id): the event id is
    /// `<name>:<subject>`, so it is recorded once.
    pub subject: String,
    /// The member, when known (dropped when they opted out; never another personal field).
    pub member: Option<Uuid>,
    /// The store (location code), when known.
    pub store: Option<String>,
    /// The channel.
    pub channel: &'static str,
    /// The order it is about, whose member and store fill in what is not given.
    pub order: Option<Uuid>,
    /// Its properties (the schema's, no personal data).
    pub props: Value,
}

impl ServerEvent {
    /// An event `name` about `subject` in `channel` with `props`.
    pub fn new(
        name: &'static str,
        subject: impl ToString,
        channel: &'static str,
        props: Value,
    ) -> Self {
        Self {
            name,
            subject: subject.to_string(),
            member: None,
            store: None,
            channel,
            order: None,
            props,
        }
    }

    /// Of `member`.
    pub fn member(mut self, member: Option<Uuid>) -> Self {
        self.member = member;
        self
    }

    /// In `store`.
    pub fn store(mut self, store: impl Into<String>) -> Self {
        self.store = Some(store.into());
        self
    }

    /// About `order` (its member and store are used when not given).
    pub fn order(mut self, order: Uuid) -> Self {
        self.order = Some(order);
        self
    }
}

/// Server events recorded and not yet written ([`record`], written by [`flush`]).
#[derive(Debug, Default)]
pub struct PendingEvents {
    waiting: Mutex<Vec<NewEvent>>,
    /// Held through a flush, so one that returns has seen every earlier one committed.
    flushing: tokio::sync::Mutex<()>,
}

/// Most server events kept waiting; past it the oldest are dropped (logged): the database has
/// been failing for a while, and analytics must not eat the server's memory.
pub const MAX_PENDING: usize = 100_000;

fn rows_of(events: Vec<ServerEvent>) -> Vec<NewEvent> {
    let now = storage::now_ms();
    events
        .into_iter()
        .map(|e| NewEvent {
            event_id: format!("{}:{}", e.name, e.subject),
            name: e.name.to_owned(),
            source: "server",
            schema_version: SCHEMA_VERSION,
            occurred_at: now,
            day: china_day(now),
            device_id: None,
            member_id: e.member,
            store_id: e.store,
            channel: e.channel.to_owned(),
            page: None,
            props: e.props.to_string(),
            order_id: e.order,
        })
        .collect()
}

/// Records the server's own events after their business write committed, without waiting:
/// they are written in batches by the sweeper ([`flush`], every sweep and at shutdown), so the
/// hot paths (orders placed and paid, lane sales) pay no extra write. Never fails; a crash
/// loses at most the events of the last sweep interval.
pub fn record(state: &AppState, events: Vec<ServerEvent>) {
    if events.is_empty() {
        return;
    }
    let rows = rows_of(events);
    if let Ok(mut pending) = state.pending_events.waiting.lock() {
        pending.extend(rows);
        if pending.len() > MAX_PENDING {
            let over = pending.len() - MAX_PENDING;
            pending.drain(..over);
            tracing::warn!(
                dropped = over,
                "too many server events waiting; the oldest are lost"
            );
        }
    }
}

/// Writes the server's own events at once (where only the store is at hand: a pickup handed
/// over, a gate exit); never fails: a failure is logged and the events are lost.
pub async fn record_now(store: &Store, events: Vec<ServerEvent>) {
    if events.is_empty() {
        return;
    }
    let rows = rows_of(events);
    if let Err(err) = storage::events::insert(store, &rows).await {
        tracing::warn!(error = %err, events = rows.len(), "recording server events failed; they are lost");
    }
}

/// Writes the server events waiting ([`record`]) in batches of 500; on failure they are kept
/// for the next time. Answers how many were written.
pub async fn flush(state: &AppState) -> AppResult<usize> {
    let _one_at_a_time = state.pending_events.flushing.lock().await;
    let taken: Vec<NewEvent> = match state.pending_events.waiting.lock() {
        Ok(mut pending) => std::mem::take(&mut *pending),
        Err(_) => return Ok(0),
    };
    let mut written = 0;
    for (i, chunk) in taken.chunks(500).enumerate() {
        if let Err(err) = storage::events::insert(&state.store, chunk).await {
            if let Ok(mut pending) = state.pending_events.waiting.lock() {
                let rest: Vec<NewEvent> = taken[i * 500..].to_vec();
                pending.splice(0..0, rest);
            }
            return Err(err);
        }
        written += chunk.len();
    }
    Ok(written)
}

/// Deletes the raw events that happened more than `events.retention_days` ago (the sweeper's
/// part, hourly; a client event is taken at most 7 days late, so none outlives the retention
/// by more than that); answers how many.
pub async fn sweep(state: &AppState) -> AppResult<u64> {
    let days = i64::from(state.settings.events.retention_days.max(1));
    let before = storage::now_ms() - days * 86_400_000;
    let mut deleted = 0;
    loop {
        let n = storage::events::delete_occurred_before(&state.store, before, 5_000).await?;
        deleted += n;
        if n < 5_000 {
            return Ok(deleted);
        }
    }
}

/// Whether `member` opted out of personalisation.
pub async fn opted_out(state: &AppState, member: Uuid) -> AppResult<bool> {
    storage::events::opted_out(&state.store, member).await
}

/// A member opts out of personalisation (`true`) or back in: from now on their events are
/// stored without their member id.
pub async fn set_opt_out(state: &AppState, member: Uuid, out: bool) -> AppResult<()> {
    storage::events::set_opt_out(&state.store, member, out).await
}

/// A China day number from `YYYY-MM-DD`.
pub fn parse_day(text: &str, field: &str) -> AppResult<i64> {
    let date = chrono::NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d")
        .map_err(|_| AppError::field(field, "a date, YYYY-MM-DD"))?;
    let epoch = chrono::NaiveDate::from_ymd_opt(1970, 1, 1)
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("no epoch")))?;
    Ok((date - epoch).num_days())
}

/// The daily counts per event name and channel from `from` to `to` (China days, both
/// included), head office only; read from the counts kept as events arrive, never from the raw
/// events. At most [`MAX_RANGE_DAYS`] days.
pub async fn daily_counts(
    state: &AppState,
    staff: &StaffActor,
    from: i64,
    to: i64,
) -> AppResult<Vec<DayCount>> {
    staff.require(&[Role::HeadOfficeAdmin])?;
    if to < from {
        return Err(AppError::field("to", "on or after from"));
    }
    if to - from >= MAX_RANGE_DAYS {
        return Err(AppError::field("to", "at most 366 days after from"));
    }
    Ok(storage::events::day_counts(&state.store, from, to)
        .await?
        .into_iter()
        .map(|(_, c)| c)
        .collect())
}

/// The daily counts as a table: one row per day, one column per event name (all channels),
/// days and names in order.
pub fn by_day(counts: &[DayCount]) -> (Vec<String>, Vec<(String, Vec<i64>)>) {
    let names: Vec<String> = counts
        .iter()
        .map(|c| c.name.clone())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let mut days: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for c in counts {
        let row = days
            .entry(c.date.clone())
            .or_insert_with(|| vec![0; names.len()]);
        if let Some(i) = names.iter().position(|n| *n == c.name) {
            row[i] += c.events;
        }
    }
    (names, days.into_iter().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mobile_numbers_are_recognised() {
        for yes in [
            "13812345678",
            "call 138 1234 5678",
            "138-1234-5678",
            "+86 13912345678",
            "8613912345678",
            "x19912345678y",
        ] {
            assert!(looks_like_mobile(yes), "{yes}");
        }
        for no in [
            "12812345678",
            "1381234567",
            "138123456789",
            "牛奶 2 盒",
            "01912345-aaaa-7bcd-8123-456789abcdef",
            "W20261205000123",
        ] {
            assert!(!looks_like_mobile(no), "{no}");
        }
    }

    #[test]
    fn every_event_is_in_the_docs() {
        let docs = include_str!("../../../docs/EVENTS.md");
        for (name, _, props) in EVENTS {
            assert!(
                docs.contains(&format!("`{name}`")),
                "{name} in docs/EVENTS.md"
            );
            for (prop, _, _) in *props {
                assert!(
                    docs.contains(&format!("`{prop}`")),
                    "{name}.{prop} in docs/EVENTS.md"
                );
            }
        }
    }
}
