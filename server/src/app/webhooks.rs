//! Webhooks for the middle platform (issue 20): head office registers endpoints per event type
//! (the change feeds' names), and a deliverer per active endpoint POSTs each change of those
//! feeds to it, signed, ordered per entity, retried with exponential backoff until it is
//! delivered or its retry window (24 h by default) is over; an endpoint that keeps failing is
//! disabled. Deliveries are claimed with row locks, so with several server instances each is
//! sent by one of them at a time (see [`crate::storage::webhooks`]).
//!
//! Every request carries `X-Retail-Delivery` (the delivery id: the same on every retry, for the
//! receiver to deduplicate), `X-Retail-Event` (`<feed>.<kind>`) and `X-Retail-Signature:
//! t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>" keyed by the endpoint's secret>`. See
//! docs/CONTRACTS.md, "Webhooks".

use std::collections::HashMap;
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde::Serialize;
use serde_json::value::RawValue;
use sha2::Sha256;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::actor::{Role, StaffActor};
use crate::app::AppState;
use crate::error::{AppError, AppResult};
use crate::secrets::{Keys, SealedField};
use crate::storage::changes::Feed;
use crate::storage::webhooks::{self as store_webhooks, Claimed, DisableRule, Endpoint, Outcome};
use crate::storage::{self, from_ms};

/// The header with the delivery id.
pub const DELIVERY_HEADER: &str = "X-Retail-Delivery";
/// The header with the event type.
pub const EVENT_HEADER: &str = "X-Retail-Event";
/// The header with the signature.
pub const SIGNATURE_HEADER: &str = "X-Retail-Signature";

/// The signature header's value for a body sent at `timestamp` (Unix seconds):
/// `t=<timestamp>,v1=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>`.
pub fn signature(secret: &str, timestamp: i64, body: &[u8]) -> String {
    // HMAC takes a key of any length.
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret.as_bytes()) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC accepts keys of any length"),
    };
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!(
        "t={timestamp},v1={}",
        hex::encode(mac.finalize().into_bytes())
    )
}

/// How every endpoint secret begins.
const SECRET_PREFIX: &str = "whsec_";

/// An endpoint's secret as it is kept: sealed with the data key, bound to the endpoint.
fn seal_secret(keys: &Keys, endpoint: Uuid, secret: &str) -> AppResult<String> {
    Ok(keys.seal(SealedField::WebhookSecret, endpoint, secret)?)
}

/// An endpoint's secret from what is kept: opened with the data keys, or as it is when it was
/// kept before secrets were sealed ([`crate::app::privacy::reseal`] seals those at start).
pub fn open_secret(keys: &Keys, endpoint: Uuid, kept: &str) -> anyhow::Result<String> {
    if kept.starts_with(SECRET_PREFIX) {
        return Ok(kept.to_owned());
    }
    keys.open(SealedField::WebhookSecret, endpoint, kept)
}

/// A new endpoint secret: `whsec_` and 32 random bytes.
fn new_secret() -> String {
    format!(
        "{SECRET_PREFIX}{}",
        URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>())
    )
}

/// A registration's answer: the endpoint, with its secret the first time only.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Registered {
    /// The endpoint.
    #[serde(flatten)]
    pub endpoint: Endpoint,
    /// The signing secret: shown at registration only (absent on a retry).
    pub secret: Option<String>,
    /// False when this answers a retry of an earlier registration.
    pub created: bool,
}

/// Registers an endpoint for `events` (feed names; at least one, each known) at `url` (http or
/// https, absolute); idempotent by `id`. Bad input is a 422 naming the field, nothing stored.
pub async fn register(
    state: &AppState,
    id: Uuid,
    url: &str,
    events: &[String],
    description: &str,
    actor: &str,
) -> AppResult<Registered> {
    let parsed = reqwest::Url::parse(url)
        .map_err(|e| AppError::field("url", format!("not an absolute URL: {e}")))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err(AppError::field("url", "must be an http or https URL"));
    }
    if url.len() > 2000 {
        return Err(AppError::field("url", "at most 2000 characters"));
    }
    if description.chars().count() > 200 {
        return Err(AppError::field("description", "at most 200 characters"));
    }
    let mut feeds = Vec::new();
    for name in events {
        let feed: Feed = name
            .parse()
            .map_err(|e: storage::changes::UnknownFeed| AppError::field("events", e.to_string()))?;
        if !feeds.contains(&feed) {
            feeds.push(feed);
        }
    }
    if feeds.is_empty() {
        return Err(AppError::field("events", "name at least one feed"));
    }
    feeds.sort_by_key(|f| f.as_str());
    let secret = new_secret();
    let (endpoint, created) = store_webhooks::create(
        &state.store,
        &store_webhooks::NewEndpoint {
            id,
            url,
            events: &feeds,
            secret: &seal_secret(&state.keys, id, &secret)?,
            description,
        },
        actor,
    )
    .await?;
    Ok(Registered {
        endpoint,
        secret: created.then_some(secret),
        created,
    })
}

/// Enables an endpoint (again: its deliverer resumes from where it stopped, failures cleared) or
/// disables it; head office only, audited. Enabling is refused (409 `backlog_pruned`) when
/// changes it had not received were pruned meanwhile (`changes.retention_days`): it would
/// silently miss them, so the middle platform registers a new endpoint and reads the records
/// again in full instead.
pub async fn set_active(
    state: &AppState,
    staff: &StaffActor,
    id: Uuid,
    active: bool,
) -> AppResult<Endpoint> {
    staff.require(&[Role::HeadOfficeAdmin])?;
    let missing = || AppError::not_found(format!("webhook endpoint {id} not found"));
    match store_webhooks::set_active(&state.store, id, active, &staff.username).await? {
        store_webhooks::Activation::Done => {}
        store_webhooks::Activation::Missing => return Err(missing()),
        store_webhooks::Activation::BacklogPruned(feed) => {
            return Err(AppError::conflict(
                "backlog_pruned",
                format!(
                    "changes of the {feed} feed this endpoint had not received were pruned \
                     while it was disabled (changes.retention_days): register a new \
                     endpoint and read the records again in full"
                ),
            ))
        }
    }
    store_webhooks::get(&state.store, id)
        .await?
        .ok_or_else(missing)
}

/// Runs the deliverers until `cancel`: one task per active endpoint, started when an endpoint
/// becomes active and ending when it is disabled.
pub async fn run(state: AppState, cancel: CancellationToken) {
    let tick = Duration::from_millis(state.settings.webhooks.tick_millis.max(10));
    let mut running: HashMap<Uuid, tokio::task::JoinHandle<()>> = HashMap::new();
    loop {
        running.retain(|_, task| !task.is_finished());
        match store_webhooks::active_ids(&state.store).await {
            Ok(ids) => {
                for id in ids {
                    running.entry(id).or_insert_with(|| {
                        tokio::spawn(deliver_endpoint(state.clone(), id, cancel.clone()))
                    });
                }
            }
            Err(e) => tracing::warn!(error = %e, "listing webhook endpoints failed"),
        }
        tokio::select! {
            _ = cancel.cancelled() => break,
            _ = tokio::time::sleep(tick * 5) => {}
        }
    }
    for (_, task) in running {
        let _ = task.await;
    }
}

/// One endpoint's deliverer: turns new changes into deliveries, sends the due ones, records
/// the outcomes; ends when the endpoint is no longer active.
async fn deliver_endpoint(state: AppState, id: Uuid, cancel: CancellationToken) {
    let tick = Duration::from_millis(state.settings.webhooks.tick_millis.max(10));
    loop {
        if cancel.is_cancelled() {
            return;
        }
        match pass(&state, id).await {
            Ok(Pass::Busy) => continue,
            Ok(Pass::Idle) => {}
            Ok(Pass::Inactive) => return,
            Err(e) => tracing::warn!(endpoint = %id, error = %e, "webhook delivery pass failed"),
        }
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(tick) => {}
        }
    }
}

/// What one pass found.
enum Pass {
    /// Work was done; look again at once.
    Busy,
    /// Nothing to do.
    Idle,
    /// The endpoint is gone or disabled.
    Inactive,
}

/// One pass of an endpoint's deliverer.
async fn pass(state: &AppState, id: Uuid) -> AppResult<Pass> {
    let settings = &state.settings.webhooks;
    let retry_ms = (settings.retry_secs * 1000) as i64;
    let Some((url, kept)) = store_webhooks::secret(&state.store, id).await? else {
        return Ok(Pass::Inactive);
    };
    let secret = open_secret(&state.keys, id, &kept)?;
    let made = store_webhooks::fan_out(&state.store, id, 1000, retry_ms).await?;
    // A claim is leased for longer than its requests can take.
    let lease_ms = (settings.timeout_millis * 2 + 30_000) as i64;
    let claimed = store_webhooks::claim_due(&state.store, id, settings.batch, lease_ms).await?;
    if claimed.is_empty() {
        return match store_webhooks::get(&state.store, id).await? {
            Some(e) if e.status == "active" => Ok(if made > 0 { Pass::Busy } else { Pass::Idle }),
            _ => Ok(Pass::Inactive),
        };
    }
    let outcomes = send_all(state, &url, &secret, claimed).await?;
    let rule = DisableRule {
        failures: settings.disable_after_failures,
        failing_ms: (settings.disable_after_secs * 1000) as i64,
    };
    if store_webhooks::record_outcomes(&state.store, id, &outcomes, rule).await? {
        tracing::warn!(endpoint = %id, %url, "webhook endpoint disabled after persistent failure");
        return Ok(Pass::Inactive);
    }
    // Only failures: wait for the backoff rather than spin.
    Ok(if outcomes.iter().any(|o| o.delivered) {
        Pass::Busy
    } else {
        Pass::Idle
    })
}

/// The body of a delivery.
#[derive(Debug, Serialize)]
struct Payload<'a> {
    id: Uuid,
    #[serde(rename = "type")]
    event: String,
    feed: &'a str,
    kind: &'a str,
    seq: i64,
    entity_id: &'a str,
    committed_at: chrono::DateTime<chrono::Utc>,
    record: &'a RawValue,
}

/// Sends the claimed deliveries (`concurrency` at a time), each with its record as it is now.
async fn send_all(
    state: &AppState,
    url: &str,
    secret: &str,
    claimed: Vec<Claimed>,
) -> AppResult<Vec<Outcome>> {
    let settings = &state.settings.webhooks;
    let mut records: HashMap<(Feed, String), Box<RawValue>> = HashMap::new();
    for feed in Feed::ALL {
        let keys = claimed
            .iter()
            .filter(|c| c.feed == feed)
            .map(|c| c.entity_key.as_str());
        let found = crate::app::changes::records(state, feed, keys).await?;
        records.extend(found.into_iter().map(|(k, v)| ((feed, k), v)));
    }
    let null = crate::app::changes::null_record();
    let mut outcomes = Vec::with_capacity(claimed.len());
    let mut in_flight = tokio::task::JoinSet::new();
    for c in &claimed {
        let record = records
            .get(&(c.feed, c.entity_key.clone()))
            .map_or(&*null, |r| &**r);
        let body = serde_json::to_vec(&Payload {
            id: c.id,
            event: format!("{}.{}", c.feed.as_str(), c.kind),
            feed: c.feed.as_str(),
            kind: &c.kind,
            seq: c.seq,
            entity_id: &c.entity_key,
            committed_at: from_ms(c.committed_at),
            record,
        })
        .map_err(|e| AppError::Internal(e.into()))?;
        let timestamp = chrono::Utc::now().timestamp();
        let request = state
            .http
            .post(url)
            .timeout(Duration::from_millis(settings.timeout_millis))
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(DELIVERY_HEADER, c.id.to_string())
            .header(EVENT_HEADER, format!("{}.{}", c.feed.as_str(), c.kind))
            .header(SIGNATURE_HEADER, signature(secret, timestamp, &body))
            .body(body);
        let claim = c.clone();
        let backoff = (settings.backoff_millis, settings.max_backoff_millis);
        if in_flight.len() >= settings.concurrency {
            if let Some(Ok(outcome)) = in_flight.join_next().await {
                outcomes.push(outcome);
            }
        }
        in_flight.spawn(async move { attempt(request, claim, backoff).await });
    }
    while let Some(done) = in_flight.join_next().await {
        if let Ok(outcome) = done {
            outcomes.push(outcome);
        }
    }
    Ok(outcomes)
}

/// One attempt and what became of it.
async fn attempt(request: reqwest::RequestBuilder, claim: Claimed, backoff: (u64, u64)) -> Outcome {
    let (http_status, error) = match request.send().await {
        Ok(response) if response.status().is_success() => {
            return Outcome {
                id: claim.id,
                http_status: Some(i64::from(response.status().as_u16())),
                delivered: true,
                error: None,
                retry_at: None,
            }
        }
        Ok(response) => (
            Some(i64::from(response.status().as_u16())),
            format!("the receiver answered {}", response.status()),
        ),
        Err(e) if e.is_timeout() => (None, "no answer before the timeout".to_owned()),
        Err(e) => (None, format!("could not reach the receiver: {e}")),
    };
    let now = storage::now_ms();
    let retry_at = now + backoff_ms(claim.attempts, backoff.0, backoff.1);
    Outcome {
        id: claim.id,
        http_status,
        delivered: false,
        error: Some(error),
        retry_at: (retry_at <= claim.retry_until).then_some(retry_at),
    }
}

/// The wait after attempt number `attempts` failed: `base` doubled per earlier attempt, at
/// most `max`.
pub fn backoff_ms(attempts: i64, base: u64, max: u64) -> i64 {
    let doublings = attempts.saturating_sub(1).clamp(0, 40) as u32;
    base.saturating_mul(1u64 << doublings).min(max) as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        assert_eq!(backoff_ms(1, 1000, 10_000), 1000);
        assert_eq!(backoff_ms(2, 1000, 10_000), 2000);
        assert_eq!(backoff_ms(4, 1000, 10_000), 8000);
        assert_eq!(backoff_ms(5, 1000, 10_000), 10_000);
        assert_eq!(backoff_ms(500, 1000, 10_000), 10_000);
    }

    #[test]
    fn signature_is_hmac_of_timestamp_dot_body() {
        let sig = signature("whsec_test", 1_700_000_000, b"{\"a\":1}");
        let mut mac = Hmac::<Sha256>::new_from_slice(b"whsec_test").expect("any key length");
        mac.update(b"1700000000.{\"a\":1}");
        let expected = hex::encode(mac.finalize().into_bytes());
        assert_eq!(sig, format!("t=1700000000,v1={expected}"));
    }
}
