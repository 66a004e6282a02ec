//! Electronic shelf labels (issue 21): shelf prices from the one pricing engine, the per-store
//! queue of label updates, the worker that sends them to the ESL vendor in batches, and the
//! scheduler that queues the price changes promotions and time-of-day markdowns make at their
//! boundaries.
//!
//! # Shelf before lanes
//!
//! Every change that can change a shelf price queues the labels it touches **in its own
//! transaction, before it commits** (a SKU or store price edit in `storage::catalog`, a
//! promotion created in [`crate::app::promotions`] or ended in `storage::promotions`): no lane
//! can read a change (the catalog feed, the pricing context) whose label update is not durably
//! queued already, and the worker is woken at once. Changes that happen by the clock — a
//! promotion starting or ending, a markdown's daily window opening or closing — are queued by
//! [`schedule_tick`] `[esl] lead_secs` *before* the boundary, rendered for the boundary's
//! instant, so the labels show the new price before the lanes (which apply promotions by their
//! own clock from the context they hold) start charging it.
//!
//! # The queue
//!
//! A label is queued while its `desired_seq` is above its `sent_seq` (`storage::esl`). The
//! worker takes up to `batch_size` due labels of a store in queue order, renders their shelf
//! prices ([`shelf_tags`]) for the instant each was queued for, leaves out those whose rendered
//! price equals what the label already shows, and sends the rest as one batch through the
//! configured [`vendor::EslVendor`]. A rejected batch marks its labels `failed` with the
//! vendor's error (the console shows it) and they are retried after `retry_secs`, doubling up
//! to `max_retry_secs`; every batch is recorded.

pub mod pricer;
pub mod vendor;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use retail_domain::pricing::{shelf_price, BasketLine, PricingSettings, ShelfContext, ShelfPrice};
use retail_domain::wire::pricing::category_path;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;
use utoipa::ToSchema;
use uuid::Uuid;

use self::vendor::{EslVendor, LabelBatch, VirtualWall};
use super::{checkout, pricing, AppState};
use crate::config::Settings;
use crate::error::{AppError, AppResult};
use crate::storage;
use crate::storage::esl::{BatchView, LabelView};

/// What one SKU's shelf label shows: the SKU's texts and the shelf price.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ShelfTag {
    /// The SKU code (the item id at the ESL vendor).
    pub sku_code: String,
    /// Product name in Chinese.
    pub name_zh: String,
    /// Product name in English.
    pub name_en: String,
    /// Spec in Chinese, e.g. `500g`.
    pub spec_zh: String,
    /// Selling unit (`件`, `kg`).
    pub unit: String,
    /// The first barcode, if any.
    pub barcode: Option<String>,
    /// The prices.
    pub shelf: ShelfPrice,
}

/// The worker's wake-up call (a change was queued).
#[derive(Debug, Default)]
pub struct EslRuntime {
    kick: tokio::sync::Notify,
}

impl EslRuntime {
    /// Wakes the worker now instead of at its next tick.
    pub fn kick(&self) {
        self.kick.notify_one();
    }
}

/// The vendor adapter `[esl]` configures: none (labels queue up, nothing is sent), the Pricer
/// Plaza API, or the virtual label wall (demo mode only; also used in demo mode when no
/// vendor is configured).
pub fn configured_vendor(settings: &Settings) -> AppResult<Option<Arc<dyn EslVendor>>> {
    match settings.esl.vendor.as_str() {
        "pricer" => Ok(Some(Arc::new(
            pricer::PricerPlaza::new(settings.esl.pricer.clone())
                .map_err(|e| AppError::Internal(e.into()))?,
        ))),
        "virtual" if settings.demo => Ok(Some(Arc::new(VirtualWall))),
        "none" if settings.demo => Ok(Some(Arc::new(VirtualWall))),
        _ => Ok(None),
    }
}

/// The promotions that can touch a shelf price at `store_id` from `at_ms` on (those running
/// or starting within 8 days; flash sales, online only, left out), read fresh.
async fn shelf_promotions(
    state: &AppState,
    store_id: &str,
    at_ms: i64,
) -> AppResult<Vec<retail_domain::pricing::Promotion>> {
    let mut promotions: Vec<_> =
        storage::promotions::overlapping(&state.store, at_ms, at_ms + 8 * 86_400_000)
            .await?
            .into_iter()
            .filter(|p| p.stores.is_empty() || p.stores.iter().any(|s| s == store_id))
            .collect();
    let ids: Vec<Uuid> = promotions.iter().map(|p| p.id).collect();
    let flash: HashSet<Uuid> = storage::promotions::flash_sale_ids(&state.store, &ids)
        .await?
        .into_iter()
        .collect();
    promotions.retain(|p| !flash.contains(&p.id));
    Ok(promotions)
}

/// The shelf labels of `skus` at `store_id` for the instant `at`, from the same engine,
/// promotions and rules as the lanes (read fresh, not from the one-second caches, so a change
/// just committed is in). Unknown SKUs are absent.
pub async fn shelf_tags(
    state: &AppState,
    store_id: &str,
    skus: &[Uuid],
    at: chrono::DateTime<chrono::Utc>,
) -> AppResult<HashMap<Uuid, ShelfTag>> {
    let promotions = shelf_promotions(state, store_id, at.timestamp_millis()).await?;
    let parents: HashMap<String, String> = storage::catalog::categories(&state.store)
        .await?
        .into_iter()
        .filter_map(|c| c.parent_id.map(|p| (c.id, p)))
        .collect();
    let records = storage::catalog::skus(&state.store, skus, Some(store_id)).await?;
    let ctx = ShelfContext {
        store: store_id,
        at,
        promotions: &promotions,
        points_rules: &state.settings.points,
        settings: PricingSettings::default(),
    };
    let mut out = HashMap::with_capacity(records.len());
    for (id, sku) in records {
        let path = category_path(&sku.category_id, |c| parents.get(c).map(String::as_str));
        let line = BasketLine::from_sku(1, &sku, path, 1);
        let shelf = shelf_price(&line, &sku.spec_zh, ctx).map_err(pricing::pricing_error)?;
        out.insert(
            id,
            ShelfTag {
                sku_code: sku.sku_code.clone(),
                name_zh: sku.name_zh.clone(),
                name_en: sku.name_en.clone(),
                spec_zh: sku.spec_zh.clone(),
                unit: sku.unit.clone(),
                barcode: sku.barcodes.first().cloned(),
                shelf,
            },
        );
    }
    Ok(out)
}

/// The shelf price of every SKU on sale at `store_id` at `at`, in SKU code order. An unknown
/// store is a 404.
pub async fn store_shelf_prices(
    state: &AppState,
    store_id: &str,
    at: chrono::DateTime<chrono::Utc>,
) -> AppResult<Vec<ShelfTag>> {
    if !checkout::is_store(state, store_id).await? {
        return Err(AppError::not_found(format!("no store {store_id}")));
    }
    let skus = storage::esl::skus_on_shelf(&state.store, store_id).await?;
    let mut tags: Vec<ShelfTag> = shelf_tags(state, store_id, &skus, at)
        .await?
        .into_values()
        .collect();
    tags.sort_by(|a, b| a.sku_code.cmp(&b.sku_code));
    Ok(tags)
}

/// A label to link to a SKU (client id for retries).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LinkLabel {
    /// Client id (UUIDv7): a retry with the same id changes nothing.
    pub id: Uuid,
    /// The store code.
    pub store: String,
    /// The label's barcode (the vendor's label id), 1 to 64 characters of `A-Z a-z 0-9 - _ .`.
    pub label_id: String,
    /// The SKU by a barcode it carries (or give `sku_id`).
    #[serde(default)]
    pub barcode: Option<String>,
    /// The SKU by id.
    #[serde(default)]
    pub sku_id: Option<Uuid>,
}

/// Links a label of a store to a SKU and queues its first update (the caller checked that the
/// actor may manage the store). Bad input changes nothing.
pub async fn link_label(state: &AppState, req: LinkLabel) -> AppResult<LabelView> {
    retail_domain::ids::require_v7(req.id).map_err(|e| AppError::field("id", e.to_string()))?;
    let label = req.label_id.trim();
    if label.is_empty()
        || label.len() > 64
        || !label
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return Err(AppError::field(
            "label_id",
            "1 to 64 characters of A-Z, a-z, 0-9, '-', '_' and '.'",
        ));
    }
    if !checkout::is_store(state, &req.store).await? {
        return Err(AppError::field("store", format!("no store {}", req.store)));
    }
    let sku = match (&req.sku_id, req.barcode.as_deref().map(str::trim)) {
        (Some(id), None) => storage::catalog::sku(&state.store, *id, None)
            .await?
            .ok_or_else(|| AppError::field("sku_id", "no such SKU"))?,
        (None, Some(code)) if !code.is_empty() => {
            storage::catalog::sku_by_barcode(&state.store, code, None)
                .await?
                .ok_or_else(|| AppError::field("barcode", "no SKU carries this barcode"))?
        }
        _ => {
            return Err(AppError::field(
                "sku_id",
                "give exactly one of sku_id and barcode",
            ))
        }
    };
    let mut tx = state.store.begin().await?;
    storage::esl::link(&mut tx, &req.store, label, sku.id, req.id).await?;
    tx.commit().await?;
    state.esl.kick();
    storage::esl::label(&state.store, &req.store, label)
        .await?
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("linked label vanished")))
}

/// What one pass over a store's queue did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SendReport {
    /// Labels accepted by the vendor in this pass.
    pub sent: usize,
    /// Labels whose price had not changed (nothing sent for them).
    pub unchanged: usize,
    /// Labels of rejected batches.
    pub failed: usize,
}

/// Sends `store_id`'s due labels through `vendor`, batch by batch, until none is due.
pub async fn send_due(
    state: &AppState,
    vendor: &dyn EslVendor,
    store_id: &str,
) -> AppResult<SendReport> {
    let mut report = SendReport::default();
    loop {
        let now = storage::now_ms();
        let batch_size = i64::try_from(state.settings.esl.batch_size).unwrap_or(500);
        let due = storage::esl::due(&state.store, store_id, now, batch_size).await?;
        if due.is_empty() {
            return Ok(report);
        }
        let mut by_at: BTreeMap<i64, Vec<Uuid>> = BTreeMap::new();
        for p in &due {
            by_at
                .entry(p.effective_at.max(now))
                .or_default()
                .push(p.sku_id);
        }
        let mut rendered: HashMap<(i64, Uuid), ShelfTag> = HashMap::new();
        for (at, skus) in &by_at {
            for (sku, tag) in shelf_tags(state, store_id, skus, storage::from_ms(*at)).await? {
                rendered.insert((*at, sku), tag);
            }
        }
        let mut unchanged = Vec::new();
        let mut changed: Vec<(String, i64, String)> = Vec::new();
        let mut items: BTreeMap<(i64, Uuid), ShelfTag> = BTreeMap::new();
        let mut links = Vec::new();
        let mut missing = Vec::new();
        let mut max_attempts = 0;
        for p in &due {
            let at = p.effective_at.max(now);
            let Some(tag) = rendered.get(&(at, p.sku_id)) else {
                missing.push((p.label_id.clone(), p.desired_seq));
                continue;
            };
            let json = serde_json::to_string(tag).map_err(|e| AppError::Internal(e.into()))?;
            if p.linked && p.shown.as_deref() == Some(json.as_str()) {
                unchanged.push((p.label_id.clone(), p.desired_seq, json));
                continue;
            }
            max_attempts = max_attempts.max(p.attempts);
            if !p.linked {
                links.push((p.label_id.clone(), tag.sku_code.clone()));
            }
            items.insert((at, p.sku_id), tag.clone());
            changed.push((p.label_id.clone(), p.desired_seq, json));
        }
        let retry_at = |attempts: i64| {
            let esl = &state.settings.esl;
            let secs = esl
                .retry_secs
                .saturating_mul(1u64 << attempts.clamp(0, 16))
                .min(esl.max_retry_secs);
            storage::now_ms() + i64::try_from(secs * 1000).unwrap_or(i64::MAX / 2)
        };
        if !missing.is_empty() {
            let max = i64::try_from(state.settings.esl.max_retry_secs * 1000).unwrap_or(0);
            storage::esl::mark_failed(
                &state.store,
                store_id,
                &missing,
                "the SKU no longer exists",
                storage::now_ms() + max,
            )
            .await?;
            report.failed += missing.len();
        }
        if !unchanged.is_empty() {
            storage::esl::mark_shown(&state.store, store_id, &unchanged).await?;
            report.unchanged += unchanged.len();
        }
        if changed.is_empty() {
            continue;
        }
        // The latest rendering of a SKU last, so the vendor keeps it.
        let mut batch = LabelBatch {
            items: Vec::new(),
            links,
        };
        let mut seen: HashMap<Uuid, usize> = HashMap::new();
        for ((_, sku), tag) in items {
            match seen.get(&sku) {
                Some(&i) => batch.items[i] = tag,
                None => {
                    seen.insert(sku, batch.items.len());
                    batch.items.push(tag);
                }
            }
        }
        let started_at = storage::now_ms();
        let result = vendor.push(store_id, &batch).await;
        let finished_at = storage::now_ms();
        let mut record = BatchView {
            id: retail_domain::ids::new_id(),
            store_id: store_id.to_owned(),
            vendor: vendor.name().to_owned(),
            labels: changed.len() as i64,
            items: batch.items.len() as i64,
            status: "sent".into(),
            http_status: None,
            error: None,
            started_at,
            finished_at,
        };
        match result {
            Ok(status) => {
                record.http_status = (status > 0).then_some(i64::from(status));
                storage::esl::mark_shown(&state.store, store_id, &changed).await?;
                storage::esl::record_batch(&state.store, &record).await?;
                report.sent += changed.len();
            }
            Err(e) => {
                let text: String = e.to_string().chars().take(500).collect();
                tracing::warn!(store = store_id, error = %text, labels = changed.len(), "ESL batch rejected; retried later");
                record.status = "failed".into();
                record.http_status = e.http_status().map(i64::from);
                record.error = Some(text.clone());
                let failed: Vec<(String, i64)> =
                    changed.into_iter().map(|(l, s, _)| (l, s)).collect();
                storage::esl::mark_failed(
                    &state.store,
                    store_id,
                    &failed,
                    &text,
                    retry_at(max_attempts),
                )
                .await?;
                storage::esl::record_batch(&state.store, &record).await?;
                report.failed += failed.len();
            }
        }
    }
}

/// Queues the labels that promotions' starts and ends and markdown window boundaries change
/// between the last run and `now + lead_secs`, each rendered for its boundary (so the shelf
/// has it before the lanes apply it), and records how far it looked, in one transaction.
/// Answers the number of label updates queued.
pub async fn schedule_tick(state: &AppState, now: i64) -> AppResult<u64> {
    let lead = i64::try_from(state.settings.esl.lead_secs * 1000).unwrap_or(0);
    let horizon = now + lead;
    // The first run looks from the present on (`now` may be ahead of the clock in tests).
    let from = storage::esl::checked_until(&state.store)
        .await?
        .unwrap_or_else(|| storage::now_ms().min(now) - 1);
    if horizon <= from {
        return Ok(0);
    }
    let promotions = storage::promotions::overlapping(&state.store, from - 1, horizon + 1).await?;
    let ids: Vec<Uuid> = promotions.iter().map(|p| p.id).collect();
    let flash: HashSet<Uuid> = storage::promotions::flash_sale_ids(&state.store, &ids)
        .await?
        .into_iter()
        .collect();
    let mut tx = state.store.begin().await?;
    let mut queued = 0;
    for p in promotions.iter().filter(|p| !flash.contains(&p.id)) {
        let (starts, ends) = (p.starts_at.timestamp_millis(), p.ends_at.timestamp_millis());
        let mut boundaries: Vec<i64> = [starts, ends]
            .into_iter()
            .filter(|t| from < *t && *t <= horizon)
            .collect();
        let mut t = from.max(starts);
        while let (_, Some(next)) = p.rule.window_boundaries(storage::from_ms(t)) {
            let next = next.timestamp_millis();
            if next > horizon || next >= ends {
                break;
            }
            boundaries.push(next);
            t = next;
        }
        boundaries.sort_unstable();
        let reason = match p.rule {
            retail_domain::pricing::PromotionRule::TimeOfDayMarkdown { .. } => "markdown",
            _ => "promotion",
        };
        for b in boundaries {
            queued += storage::esl::queue_promotion(&mut tx, p, b, reason).await?;
        }
    }
    storage::esl::set_checked_until(&mut tx, horizon).await?;
    tx.commit().await?;
    Ok(queued)
}

/// The ESL worker: every `tick_millis` (or when woken) queues the scheduled boundaries and
/// sends every store's due labels. Runs until `cancel`; without a vendor only the scheduler
/// runs (labels queue up).
pub async fn run(state: AppState, cancel: CancellationToken) {
    let vendor = match configured_vendor(&state.settings) {
        Ok(v) => v,
        Err(e) => {
            tracing::error!(error = %e, "the ESL vendor could not be set up; labels only queue up");
            None
        }
    };
    let every = Duration::from_millis(state.settings.esl.tick_millis.max(50));
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = state.esl.kick.notified() => {}
            _ = tokio::time::sleep(every) => {}
        }
        // One instance at a time schedules and sends (the `esl` job lease).
        let tick = super::cluster::leased(&state, "esl", Duration::ZERO, async {
            match schedule_tick(&state, storage::now_ms()).await {
                Ok(0) => {}
                Ok(n) => {
                    tracing::info!(labels = n, "ESL updates queued for scheduled price changes")
                }
                Err(e) => tracing::warn!(error = %e, "ESL scheduler pass failed"),
            }
            let Some(vendor) = &vendor else {
                return Ok(());
            };
            send_all_due(&state, vendor.as_ref(), &cancel).await;
            Ok(())
        });
        if let Err(e) = tick.await {
            tracing::warn!(error = %e, "the ESL worker's lease failed");
        }
    }
}

/// Sends every store's due labels (the worker, under its lease).
async fn send_all_due(state: &AppState, vendor: &dyn EslVendor, cancel: &CancellationToken) {
    let stores = match storage::esl::stores_due(&state.store, storage::now_ms()).await {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "reading the ESL queue failed");
            return;
        }
    };
    for store_id in stores {
        if cancel.is_cancelled() {
            return;
        }
        if let Err(e) = send_due(state, vendor, &store_id).await {
            tracing::warn!(store = %store_id, error = %e, "sending ESL updates failed");
        }
    }
}

/// A store's labels and recent batches, for the console and the API.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct EslStatus {
    /// The store.
    pub store: String,
    /// Labels by status (`pending`, `shown`, `failed`).
    pub counts: HashMap<String, i64>,
    /// Labels with an update queued.
    pub queued: i64,
    /// The labels (at most 2,000, in label order), optionally only those of one status.
    pub labels: Vec<LabelView>,
    /// The latest 50 batches, newest first.
    pub batches: Vec<BatchView>,
}

/// The ESL status of `store_id`.
pub async fn status(state: &AppState, store_id: &str, only: Option<&str>) -> AppResult<EslStatus> {
    if let Some(s) = only {
        if !matches!(s, "pending" | "shown" | "failed") {
            return Err(AppError::field("status", "pending, shown or failed"));
        }
    }
    let (counts, queued) = storage::esl::counts(&state.store, store_id).await?;
    Ok(EslStatus {
        store: store_id.to_owned(),
        counts,
        queued,
        labels: storage::esl::labels(&state.store, store_id, only, 2000).await?,
        batches: storage::esl::batches(&state.store, store_id, 50).await?,
    })
}
