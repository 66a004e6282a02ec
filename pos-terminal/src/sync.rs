//! Keeping the lane in step with the server (docs/DESIGN.md §5, §6): the catalog pull by cursor (a full
//! download on first start, deltas afterwards), the pricing context and the roster of who may
//! sign in, the lane's receipt key
//! (registered until the server has it) and its store's receipt keys, the background push of
//! journalled sales in batches, and the MQTT catalog notice that makes the lane pull at once.

use std::sync::Arc;
use std::time::Duration;

use retail_devices::server_link::ServerTrust;
use retail_domain::key_pinning;
use retail_domain::wire::bus::{
    catalog_topic, decode, members_topic, MemberTierMessage, MemberTierNotice,
};
use retail_domain::wire::catalog::MAX_PAGE_SIZE;
use retail_domain::wire::sales::{SaleOutcome, MAX_SALES_PER_PUSH};
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use tokio::sync::Notify;

use crate::server_api::{ApiError, ServerApi};
use crate::store::{LaneDb, StoreError};

/// Errors of a sync step.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// The server call failed.
    #[error(transparent)]
    Api(#[from] ApiError),
    /// The local database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl SyncError {
    /// True when the server could not be reached.
    pub fn is_offline(&self) -> bool {
        matches!(self, Self::Api(e) if e.is_offline())
    }
}

/// Progress of a catalog pull: records applied so far of the total announced.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SyncProgress {
    /// Records applied.
    pub done: i64,
    /// Records that changed after the starting cursor.
    pub total: i64,
}

/// Pulls every catalog change since the stored cursor, page by page, applying each page in one
/// transaction with its cursor (a crash mid-pull resumes where it stopped). Marks the catalog
/// synced when the feed is exhausted. Returns the records applied.
pub async fn pull_catalog(
    db: &LaneDb,
    api: &ServerApi,
    mut progress: impl FnMut(SyncProgress),
) -> Result<i64, SyncError> {
    let since = db.catalog_cursor().await?;
    let mut state = SyncProgress::default();
    let fetch = |since: i64| {
        let api = api.clone();
        tokio::spawn(async move { api.catalog_changes(since, MAX_PAGE_SIZE).await })
    };
    // The next page is fetched while the current one is written.
    let mut next = Some(fetch(since));
    while let Some(pending) = next.take() {
        let page = pending
            .await
            .map_err(|e| ApiError::Unexpected(format!("catalog fetch task: {e}")))??;
        if page.has_more {
            next = Some(fetch(page.next_since));
        }
        if state.total == 0 {
            state.total = page.total;
        }
        let applied = db.apply_catalog_page(&page).await;
        if let Err(e) = applied {
            if let Some(pending) = next {
                pending.abort();
            }
            return Err(e.into());
        }
        state.done += page.items.len() as i64;
        state.total = state.total.max(state.done);
        progress(state);
    }
    db.mark_catalog_synced().await?;
    Ok(state.done)
}

/// Fetches the pricing context (see [`ServerApi::pricing_context`]) and the lane roster (who
/// may sign in, with their PIN hashes; [`ServerApi::roster`]) and stores them, the context with the
/// code-verifier key **pinned** by the rule edge agents follow too
/// ([`retail_domain::key_pinning`]): `configured_key` (the lane's `code_verifier_key`) if set,
/// else the first key fetched with the lane's credential. A context carrying a different key is
/// still taken for its promotions and rules, but its key is refused (logged as an error) and the
/// pinned key kept; rotation is an explicit configuration change. Offline, a configured
/// rotation is applied to the stored context all the same.
pub async fn refresh_context(
    db: &LaneDb,
    api: &ServerApi,
    store: &str,
    configured_key: Option<&str>,
) -> Result<(), SyncError> {
    let previous = db.pricing_context().await?;
    let fetched = api.pricing_context().await;
    if let Ok(context) = &fetched {
        if context.store != store {
            return Err(SyncError::Api(ApiError::Unexpected(format!(
                "the server sent the pricing context of store {}, this lane is in {store}",
                context.store
            ))));
        }
    }
    let pinned = db.pinned_verifier_key().await?;
    let pin = key_pinning::pin_verifier_key(
        configured_key,
        pinned.as_deref(),
        fetched.as_ref().ok().map(|c| c.public_key.as_str()),
    );
    if let Some(key) = &pin.save {
        db.pin_verifier_key(key).await?;
    }
    pin.log();
    let (mut context, result) = match fetched {
        Ok(context) => (Some(context), Ok::<(), SyncError>(())),
        Err(err) => (previous.clone(), Err(err.into())),
    };
    if let (Some(context), Some(key)) = (context.as_mut(), pin.key) {
        context.public_key = key;
    }
    if let Some(context) = context {
        if previous.as_ref() != Some(&context) {
            db.save_pricing_context(&context).await?;
        }
    }
    result?;
    let roster = api.roster().await?;
    if db.roster().await?.as_ref() != Some(&roster) {
        db.save_roster(&roster).await?;
    }
    Ok(())
}

/// Registers the lane's receipt-signing key with the server unless the server has confirmed it
/// already (see [`LaneDb::registered_receipt_key`]); answers whether it registered now. Called at
/// start when online and on every sync round until it succeeds: the lane signs offline all along,
/// and its codes verify everywhere once the key is registered.
pub async fn register_receipt_key(db: &LaneDb, api: &ServerApi) -> Result<bool, SyncError> {
    let public_key = db.receipt_signer().await?.verifier().public_b64();
    if db.registered_receipt_key().await?.as_deref() == Some(public_key.as_str()) {
        return Ok(false);
    }
    let key = api.register_receipt_key(&public_key).await?;
    if key.public_key != public_key {
        return Err(ApiError::Unexpected(format!(
            "the server registered another receipt key ({}) than this lane's",
            key.key_id
        ))
        .into());
    }
    db.mark_receipt_key_registered(&public_key).await?;
    tracing::info!(key_id = %key.key_id, "receipt key registered with the server");
    Ok(true)
}

/// Fetches the receipt keys of the lane's store (see [`ServerApi::receipt_keys`]) and stores
/// them; answers whether they changed.
pub async fn refresh_receipt_keys(
    db: &LaneDb,
    api: &ServerApi,
    store: &str,
) -> Result<bool, SyncError> {
    let keys = api.receipt_keys().await?;
    if keys.store != store {
        return Err(SyncError::Api(ApiError::Unexpected(format!(
            "the server sent the receipt keys of store {}, this lane is in {store}",
            keys.store
        ))));
    }
    if db.receipt_keys().await?.as_ref() == Some(&keys) {
        return Ok(false);
    }
    db.save_receipt_keys(&keys).await?;
    Ok(true)
}

/// What one push round did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PushReport {
    /// Sales sent.
    pub sent: usize,
    /// Applied now.
    pub applied: usize,
    /// Already applied by an earlier push.
    pub duplicate: usize,
    /// Refused by the server (kept in the journal with the reason).
    pub rejected: usize,
}

/// Pushes every unsent sale of the journal in batches of at most `batch` (≤ 500) and records the
/// server's answers. Idempotent: the server upserts by sale id, so a batch sent again after a
/// crash between sending and recording answers `duplicate`.
pub async fn push_unsent(
    db: &LaneDb,
    api: &ServerApi,
    batch: usize,
) -> Result<PushReport, SyncError> {
    let batch = batch.clamp(1, MAX_SALES_PER_PUSH) as i64;
    let mut report = PushReport::default();
    loop {
        let sales = db.unsent(batch).await?;
        if sales.is_empty() {
            return Ok(report);
        }
        let n = sales.len();
        let answer = api.push_sales(sales).await?;
        if answer.results.len() != n {
            return Err(ApiError::Unexpected(format!(
                "pushed {n} sales, got {} results",
                answer.results.len()
            ))
            .into());
        }
        db.record_results(&answer.results).await?;
        report.sent += n;
        for r in &answer.results {
            match r.outcome {
                SaleOutcome::Applied => report.applied += 1,
                SaleOutcome::Duplicate => report.duplicate += 1,
                SaleOutcome::Rejected => {
                    tracing::warn!(sale = %r.id, error = ?r.error, "the server rejected a sale");
                    report.rejected += 1
                }
            }
        }
        if (n as i64) < batch {
            return Ok(report);
        }
    }
}

/// Where and how the lane logs in to the store bus.
#[derive(Clone, Debug)]
pub struct BusLogin {
    /// Broker host.
    pub host: String,
    /// Broker port.
    pub port: u16,
    /// MQTT over TLS (`mqtts://`).
    pub tls: bool,
    /// Whom the lane trusts for TLS.
    pub trust: ServerTrust,
    /// Device id (user name).
    pub device_id: String,
    /// Device credential (password).
    pub credential: String,
    /// Store code.
    pub store: String,
}

/// Subscribes to the store's catalog notices ([`catalog_topic`]) and member notices
/// ([`members_topic`]). Wakes `pull` on every catalog notice (and on every (re)connection, since
/// notices may have been missed); hands every well-formed member notice to `on_member` (a
/// malformed one is logged and changes nothing). Runs until cancelled; survives broker outages by
/// reconnecting.
pub async fn watch_store_notices(
    login: BusLogin,
    pull: Arc<Notify>,
    on_member: impl Fn(MemberTierNotice) + Send,
) {
    let client_id = format!("pos-{}", login.device_id);
    let mut options = MqttOptions::new(client_id, login.host.clone(), login.port);
    options.set_credentials(login.device_id.clone(), login.credential.clone());
    options.set_keep_alive(Duration::from_secs(15));
    options.set_transport(login.trust.mqtt_transport(login.tls));
    let (client, mut events) = AsyncClient::new(options, 16);
    let catalog = catalog_topic(&login.store);
    let member_topic = members_topic(&login.store);
    loop {
        match events.poll().await {
            Ok(Event::Incoming(Packet::ConnAck(_))) => {
                tracing::info!(topic = catalog, "store bus connected");
                for topic in [&catalog, &member_topic] {
                    if let Err(e) = client.subscribe(topic.clone(), QoS::AtLeastOnce).await {
                        tracing::warn!(topic, error = %e, "subscribing to store notices failed");
                    }
                }
                pull.notify_one();
            }
            Ok(Event::Incoming(Packet::Publish(p))) if p.topic == catalog => {
                tracing::debug!("catalog notice: pulling now");
                pull.notify_one();
            }
            Ok(Event::Incoming(Packet::Publish(p))) if p.topic == member_topic => {
                match decode::<MemberTierMessage>(&p.payload) {
                    Ok(message) => on_member(message.notice),
                    Err(e) => tracing::warn!(error = %e, "member notice refused"),
                }
            }
            Ok(_) => {}
            Err(e) => {
                if matches!(e, rumqttc::ConnectionError::Tls(_)) {
                    tracing::warn!(reason = %login.trust.explain(&e), "store bus: TLS handshake failed; retrying");
                } else {
                    tracing::debug!(error = %e, "store bus unreachable; retrying");
                }
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
        }
    }
}
