//! Inbound sync from the middle platform (中台对接, issue 20): stock levels, member tiers and
//! rights, and price lists pushed by head office's platform. Each push is a batch with the
//! platform's own id (a retry with the same id answers the first answer and changes nothing),
//! checked line by line: good lines are applied, bad ones answered with their error and change
//! nothing. The contract, with the last-writer rules, is in docs/CONTRACTS.md, "Middle-platform
//! sync".

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use retail_domain::money::Money;
use retail_domain::pricing::MAX_UNIT_PRICE_FEN;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;
use uuid::Uuid;

use super::AppState;
use crate::error::{AppError, AppResult};
use crate::storage;
use crate::storage::platform_sync::{
    self as sync, LevelLine, NewBatch, PendingPrice, PlatformTier, PriorBatch,
};
use crate::storage::stock::MAX_QTY;

/// The most lines (or changes) one batch may carry.
pub const MAX_LINES: usize = 5_000;

/// The most rights a member may be given.
pub const MAX_RIGHTS: usize = 32;

/// Why one line was refused.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
pub struct LineError {
    /// `unknown_sku`, `unknown_location`, `not_a_store`, `negative_count`, `too_large`,
    /// `bad_sequence`, `unknown_member`, `unknown_tier`, `bad_right`, `bad_price`,
    /// `bad_valid_from` or `nothing_to_change`.
    pub code: String,
    /// What is wrong, in words.
    pub message: String,
}

fn line_error(code: &str, message: impl Into<String>) -> LineError {
    LineError {
        code: code.to_owned(),
        message: message.into(),
    }
}

/// A batch or list id of the platform's: 1–64 of `A-Z a-z 0-9 _ . : -`.
fn check_batch_id(field: &str, id: &str) -> AppResult<()> {
    let ok = !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b':' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(AppError::field(
            field,
            "must be 1 to 64 of A-Z, a-z, 0-9, _ . : -",
        ))
    }
}

fn check_count(field: &str, n: usize) -> AppResult<()> {
    if n == 0 {
        return Err(AppError::field(field, "must not be empty"));
    }
    if n > MAX_LINES {
        return Err(AppError::field(
            field,
            format!("at most {MAX_LINES} per batch"),
        ));
    }
    Ok(())
}

/// SHA-256 (hex) of a request as received (re-serialised: its fields in a fixed order).
fn request_hash<T: Serialize>(req: &T) -> AppResult<String> {
    let bytes = serde_json::to_vec(req).map_err(|e| AppError::Internal(anyhow::Error::new(e)))?;
    Ok(hex::encode(Sha256::digest(&bytes)))
}

/// The first answer to a batch id used before: the same request gets it again; another kind of
/// batch or other content under the same id is 409 `id_in_use`.
fn replay<T: serde::de::DeserializeOwned>(
    prior: PriorBatch,
    kind: &str,
    hash: &str,
    id: &str,
) -> AppResult<T> {
    if prior.kind != kind || prior.request_sha256 != hash {
        return Err(AppError::conflict(
            "id_in_use",
            format!("batch id {id} was already used for another {}", prior.kind),
        ));
    }
    serde_json::from_value(prior.result)
        .map_err(|e| AppError::Internal(anyhow::Error::new(e).context("stored sync answer")))
}

fn to_json<T: Serialize>(value: &T) -> AppResult<serde_json::Value> {
    serde_json::to_value(value).map_err(|e| AppError::Internal(anyhow::Error::new(e)))
}

// ---------------------------------------------------------------------------------------------
// Stock levels.
// ---------------------------------------------------------------------------------------------

/// A batch of absolute stock levels.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct StockLevelsRequest {
    /// The platform's batch id (1–64 of `A-Z a-z 0-9 _ . : -`): a retry with the same id answers
    /// the first answer and changes nothing.
    pub batch_id: String,
    /// 1 to 5,000 lines, applied in this order.
    pub lines: Vec<StockLevelLine>,
}

/// One absolute stock level.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct StockLevelLine {
    /// The SKU: its id or its SKU code.
    pub sku: String,
    /// The location code (a store or a warehouse).
    pub location: String,
    /// On hand: every unit physically at the location, including units reserved for online
    /// orders not yet picked (0 to 1,000,000).
    pub on_hand: i64,
    /// The platform's sequence number for this (SKU, location), ≥ 1, rising with each change.
    pub seq: i64,
}

/// What became of one stock-level line.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct StockLevelResult {
    /// The line's position in the batch (0-based).
    pub index: usize,
    /// `applied` (on hand set), `unchanged` (on hand was that already; the sequence recorded),
    /// `stale` (its sequence is not above the last applied one: skipped) or `rejected` (see
    /// `error`).
    pub status: String,
    /// The SKU, when known.
    pub sku_id: Option<Uuid>,
    /// The location code as sent.
    pub location: String,
    /// Why it was rejected.
    pub error: Option<LineError>,
    /// The last applied sequence for (SKU, location) before this line (none: never synced).
    pub last_seq: Option<i64>,
    /// On hand before (not for a rejected line).
    pub on_hand_before: Option<i64>,
    /// On hand after.
    pub on_hand_after: Option<i64>,
    /// Reserved for online orders not yet picked: left as it was.
    pub reserved: Option<i64>,
    /// `on_hand_after − reserved` (negative: more is promised than is there; the store's stock
    /// alert shows it).
    pub available: Option<i64>,
}

/// The answer to a stock-level batch.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct StockLevelsReport {
    /// The batch id.
    pub batch_id: String,
    /// Lines applied.
    pub applied: usize,
    /// Lines whose level was already right.
    pub unchanged: usize,
    /// Lines skipped as stale.
    pub stale: usize,
    /// Lines refused.
    pub rejected: usize,
    /// Every line, in batch order.
    pub lines: Vec<StockLevelResult>,
}

/// Applies a batch of absolute stock levels (head office's middle platform). Lines are checked
/// one by one (unknown SKU or location, negative or too large count, sequence below 1); the good
/// ones are applied together in one transaction, each as a `count_adjustment` movement of the
/// difference (reason `platform_sync`, `ref_id` the batch id) unless stale. Idempotent by batch
/// id.
pub async fn push_stock_levels(
    state: &AppState,
    actor: &str,
    req: &StockLevelsRequest,
) -> AppResult<StockLevelsReport> {
    check_batch_id("batch_id", &req.batch_id)?;
    check_count("lines", req.lines.len())?;
    let hash = request_hash(req)?;
    if let Some(prior) = sync::prior_batch(&state.store, &req.batch_id).await? {
        return replay(prior, sync::STOCK_LEVELS, &hash, &req.batch_id);
    }
    let keys: Vec<String> = req.lines.iter().map(|l| l.sku.trim().to_owned()).collect();
    let skus = sync::skus_by_key(&state.store, &keys).await?;
    let locations = sync::location_kinds(&state.store).await?;
    let mut results: Vec<StockLevelResult> = Vec::with_capacity(req.lines.len());
    let mut good: Vec<LevelLine> = Vec::new();
    for (index, line) in req.lines.iter().enumerate() {
        let sku_id = skus.get(line.sku.trim()).copied();
        let location = line.location.trim();
        let error = if sku_id.is_none() {
            Some(line_error("unknown_sku", format!("no SKU {}", line.sku)))
        } else if !locations
            .get(location)
            .is_some_and(|kind| kind == "store" || kind == "warehouse")
        {
            Some(line_error(
                "unknown_location",
                format!("no store or warehouse {}", line.location),
            ))
        } else if line.on_hand < 0 {
            Some(line_error("negative_count", "on_hand must not be negative"))
        } else if line.on_hand > MAX_QTY {
            Some(line_error(
                "too_large",
                format!("on_hand must be at most {MAX_QTY}"),
            ))
        } else if line.seq < 1 {
            Some(line_error("bad_sequence", "seq must be at least 1"))
        } else {
            None
        };
        results.push(StockLevelResult {
            index,
            status: if error.is_some() { "rejected" } else { "" }.into(),
            sku_id,
            location: line.location.clone(),
            error: error.clone(),
            last_seq: None,
            on_hand_before: None,
            on_hand_after: None,
            reserved: None,
            available: None,
        });
        if let (None, Some(sku_id)) = (error, sku_id) {
            good.push(LevelLine {
                index,
                location_id: location.to_owned(),
                sku_id,
                on_hand: line.on_hand,
                seq: line.seq,
            });
        }
    }
    let mut tx = match sync::begin_batch(&state.store, &req.batch_id).await? {
        Ok(tx) => tx,
        Err(prior) => return replay(prior, sync::STOCK_LEVELS, &hash, &req.batch_id),
    };
    let outcomes = sync::apply_levels(&mut tx, &state.store, &req.batch_id, &good, actor).await?;
    for outcome in outcomes {
        let result = &mut results[outcome.index];
        result.status = outcome.status;
        result.last_seq = outcome.last_seq;
        result.on_hand_before = Some(outcome.on_hand_before);
        result.on_hand_after = Some(outcome.on_hand_after);
        result.reserved = Some(outcome.reserved);
        result.available = Some(outcome.on_hand_after - outcome.reserved);
    }
    let count = |s: &str| results.iter().filter(|r| r.status == s).count();
    let report = StockLevelsReport {
        batch_id: req.batch_id.clone(),
        applied: count("applied"),
        unchanged: count("unchanged"),
        stale: count("stale"),
        rejected: count("rejected"),
        lines: results,
    };
    let batch = NewBatch {
        id: &req.batch_id,
        kind: sync::STOCK_LEVELS,
        request_sha256: &hash,
        actor,
    };
    if !sync::record_batch(&mut tx, batch, &to_json(&report)?).await? {
        tx.rollback().await?;
        return match sync::prior_batch(&state.store, &req.batch_id).await? {
            Some(prior) => replay(prior, sync::STOCK_LEVELS, &hash, &req.batch_id),
            None => Err(AppError::Internal(anyhow::anyhow!(
                "sync batch {} conflicted but is not recorded",
                req.batch_id
            ))),
        };
    }
    storage::audit::record(
        &mut tx,
        actor,
        "sync.stock_levels",
        "sync_batch",
        &req.batch_id,
        serde_json::json!({"applied": report.applied, "unchanged": report.unchanged,
            "stale": report.stale, "rejected": report.rejected}),
    )
    .await?;
    tx.commit().await?;
    Ok(report)
}

// ---------------------------------------------------------------------------------------------
// Member tiers and rights.
// ---------------------------------------------------------------------------------------------

/// A batch of member tier and rights changes.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct MemberTiersRequest {
    /// The platform's change id (1–64 of `A-Z a-z 0-9 _ . : -`): a retry with the same id
    /// answers the first answer and changes nothing.
    pub batch_id: String,
    /// 1 to 5,000 changes, applied in this order.
    pub changes: Vec<MemberTierChange>,
}

/// One member's new tier and/or rights.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct MemberTierChange {
    /// The member id (never a phone number).
    pub member_id: String,
    /// A tier code of the points rules (`regular`, `silver`, `gold`, `diamond` by default); `null`
    /// gives the member the tier of their growth again; absent keeps the tier as it is.
    #[serde(
        default,
        deserialize_with = "crate::app::catalog::present",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>)]
    pub tier: Option<Option<String>>,
    /// Right codes (each a lowercase letter then up to 63 of `a-z 0-9 _ - . :`, at most 32):
    /// replace the member's rights; absent keeps them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rights: Option<Vec<String>>,
    /// The platform's sequence number for this member, ≥ 1, rising with each change.
    pub seq: i64,
}

/// What became of one member change.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct MemberTierResult {
    /// The change's position in the batch (0-based).
    pub index: usize,
    /// `applied`, `unchanged`, `stale` (sequence not above the last applied one: skipped) or
    /// `rejected` (see `error`).
    pub status: String,
    /// The member as sent.
    pub member_id: String,
    /// Why it was rejected.
    pub error: Option<LineError>,
    /// The last applied sequence for the member before this change.
    pub last_seq: Option<i64>,
    /// The member's tier code after it (not for a rejected change).
    pub tier: Option<String>,
    /// The member's rights after it.
    pub rights: Option<Vec<String>>,
}

/// The answer to a member-tier batch.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct MemberTiersReport {
    /// The batch id.
    pub batch_id: String,
    /// Changes applied.
    pub applied: usize,
    /// Changes that changed nothing (same tier and rights; the sequence recorded).
    pub unchanged: usize,
    /// Changes skipped as stale.
    pub stale: usize,
    /// Changes refused.
    pub rejected: usize,
    /// Every change, in batch order.
    pub lines: Vec<MemberTierResult>,
}

fn is_right(code: &str) -> bool {
    let mut bytes = code.bytes();
    code.len() <= 64
        && bytes.next().is_some_and(|b| b.is_ascii_lowercase())
        && bytes.all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'-' | b'.' | b':')
        })
}

/// Applies a batch of member tier and rights changes (head office's middle platform), in one
/// transaction: a tier the platform sets wins over the member's growth at once — in every quote
/// (the pricing cache forgets the member), at the lanes (told over the bus on every store's
/// `members` topic) and in points earned. Idempotent by batch id.
pub async fn push_member_tiers(
    state: &AppState,
    actor: &str,
    req: &MemberTiersRequest,
) -> AppResult<MemberTiersReport> {
    check_batch_id("batch_id", &req.batch_id)?;
    check_count("changes", req.changes.len())?;
    let hash = request_hash(req)?;
    if let Some(prior) = sync::prior_batch(&state.store, &req.batch_id).await? {
        return replay(prior, sync::MEMBER_TIERS, &hash, &req.batch_id);
    }
    let rules = &state.settings.points;
    let ids: Vec<Uuid> = req
        .changes
        .iter()
        .filter_map(|c| c.member_id.trim().parse().ok())
        .collect();
    let live = sync::live_members(&state.store, &ids).await?;
    let mut results = Vec::with_capacity(req.changes.len());
    let mut good: Vec<(usize, Uuid)> = Vec::new();
    for (index, change) in req.changes.iter().enumerate() {
        let member = change.member_id.trim().parse::<Uuid>().ok();
        let error = if !member.is_some_and(|m| live.contains(&m)) {
            Some(line_error(
                "unknown_member",
                format!("no member {}", change.member_id),
            ))
        } else if change.seq < 1 {
            Some(line_error("bad_sequence", "seq must be at least 1"))
        } else if let Some(Some(tier)) = change
            .tier
            .as_ref()
            .filter(|t| t.as_ref().is_some_and(|code| rules.tier(code).is_none()))
        {
            Some(line_error("unknown_tier", format!("no tier {tier}")))
        } else if let Some(bad) = change.rights.iter().flatten().find(|r| !is_right(r)) {
            Some(line_error("bad_right", format!("bad right code {bad:?}")))
        } else if change.rights.as_ref().is_some_and(|r| r.len() > MAX_RIGHTS) {
            Some(line_error(
                "bad_right",
                format!("at most {MAX_RIGHTS} rights"),
            ))
        } else if change.tier.is_none() && change.rights.is_none() {
            Some(line_error(
                "nothing_to_change",
                "give a tier, rights or both",
            ))
        } else {
            None
        };
        if let (None, Some(member)) = (&error, member) {
            good.push((index, member));
        }
        results.push(MemberTierResult {
            index,
            status: if error.is_some() { "rejected" } else { "" }.into(),
            member_id: change.member_id.clone(),
            error,
            last_seq: None,
            tier: None,
            rights: None,
        });
    }
    let mut tx = match sync::begin_batch(&state.store, &req.batch_id).await? {
        Ok(tx) => tx,
        Err(prior) => return replay(prior, sync::MEMBER_TIERS, &hash, &req.batch_id),
    };
    // Locked in member order; applied in batch order.
    let mut current: HashMap<Uuid, Option<PlatformTier>> = HashMap::new();
    let mut order: Vec<Uuid> = good.iter().map(|(_, m)| *m).collect();
    order.sort();
    order.dedup();
    for member in &order {
        let row = sync::platform_tier_for_update(&mut tx, &state.store, *member).await?;
        current.insert(*member, row);
    }
    let growth = growth_of(state, &order).await?;
    let mut changed: HashMap<Uuid, PlatformTier> = HashMap::new();
    for (index, member) in &good {
        let change = &req.changes[*index];
        let before = current.get(member).cloned().flatten();
        let last_seq = before.as_ref().map(|b| b.seq);
        let result = &mut results[*index];
        result.last_seq = last_seq;
        let before = before.unwrap_or_default();
        let tier_now = |t: &PlatformTier| {
            storage::members::effective_tier(
                rules,
                growth.get(member).copied().unwrap_or(0),
                t.tier_code.as_deref(),
            )
            .code
            .clone()
        };
        if last_seq.is_some_and(|last| change.seq <= last) {
            result.status = "stale".into();
            result.tier = Some(tier_now(&before));
            result.rights = Some(before.rights.clone());
            continue;
        }
        let after = PlatformTier {
            tier_code: match &change.tier {
                Some(tier) => tier.clone(),
                None => before.tier_code.clone(),
            },
            rights: change
                .rights
                .clone()
                .unwrap_or_else(|| before.rights.clone()),
            seq: change.seq,
        };
        let same = after.tier_code == before.tier_code && after.rights == before.rights;
        result.status = if same { "unchanged" } else { "applied" }.into();
        result.tier = Some(tier_now(&after));
        result.rights = Some(after.rights.clone());
        sync::save_platform_tier(&mut tx, *member, &after, &req.batch_id).await?;
        if !same {
            changed.insert(*member, after.clone());
        }
        current.insert(*member, Some(after));
    }
    let count = |s: &str| results.iter().filter(|r| r.status == s).count();
    let report = MemberTiersReport {
        batch_id: req.batch_id.clone(),
        applied: count("applied"),
        unchanged: count("unchanged"),
        stale: count("stale"),
        rejected: count("rejected"),
        lines: results,
    };
    let batch = NewBatch {
        id: &req.batch_id,
        kind: sync::MEMBER_TIERS,
        request_sha256: &hash,
        actor,
    };
    if !sync::record_batch(&mut tx, batch, &to_json(&report)?).await? {
        tx.rollback().await?;
        return match sync::prior_batch(&state.store, &req.batch_id).await? {
            Some(prior) => replay(prior, sync::MEMBER_TIERS, &hash, &req.batch_id),
            None => Err(AppError::Internal(anyhow::anyhow!(
                "sync batch {} conflicted but is not recorded",
                req.batch_id
            ))),
        };
    }
    for (member, tier) in &changed {
        storage::audit::record(
            &mut tx,
            actor,
            "member.tier_sync",
            "member",
            &member.to_string(),
            serde_json::json!({"batch_id": req.batch_id, "tier": tier.tier_code,
                "rights": tier.rights, "seq": tier.seq}),
        )
        .await?;
    }
    tx.commit().await?;
    // At once: quotes read the member again, and the lanes are told.
    for member in changed.keys() {
        state.pricing.forget_member(*member);
    }
    if let Some(bus) = &state.bus {
        if !changed.is_empty() {
            let stores: Vec<String> = sync::location_kinds(&state.store)
                .await?
                .into_iter()
                .filter(|(_, kind)| kind == "store")
                .map(|(id, _)| id)
                .collect();
            for (member, tier) in &changed {
                let code = storage::members::effective_tier(
                    rules,
                    growth.get(member).copied().unwrap_or(0),
                    tier.tier_code.as_deref(),
                )
                .code
                .clone();
                let notice = retail_domain::wire::bus::MemberTierNotice {
                    event: "tier_changed".into(),
                    member_id: *member,
                    tier: code,
                    rights: tier.rights.clone(),
                    seq: tier.seq,
                };
                for store in &stores {
                    bus.member_changed(store, &notice).await;
                }
            }
        }
    }
    Ok(report)
}

/// The growth of each member (for the tier of members the platform sets none for).
async fn growth_of(state: &AppState, members: &[Uuid]) -> AppResult<HashMap<Uuid, i64>> {
    let mut growth = HashMap::new();
    for member in members {
        if let Some((g, _, _)) = storage::members::pricing_member(&state.store, *member).await? {
            growth.insert(*member, g);
        }
    }
    Ok(growth)
}

// ---------------------------------------------------------------------------------------------
// Price lists.
// ---------------------------------------------------------------------------------------------

/// A price list.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PriceListRequest {
    /// The platform's list id (1–64 of `A-Z a-z 0-9 _ . : -`): a retry with the same id answers
    /// the first answer and changes nothing.
    pub list_id: String,
    /// 1 to 5,000 lines, applied in this order.
    pub lines: Vec<PriceListLine>,
}

/// One price of a price list.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PriceListLine {
    /// The SKU: its id or its SKU code.
    pub sku: String,
    /// A store code (that store's price override), or `all` / absent (the chain price).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store: Option<String>,
    /// The price in fen (more than 0, at most the pricing engine's largest unit price; a
    /// store's price within 50%–200% of the chain price).
    pub price_fen: i64,
    /// When it starts (RFC 3339); absent or past: at once; later: kept and applied when it
    /// starts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_from: Option<DateTime<Utc>>,
}

/// What became of one price-list line.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PriceLineResult {
    /// The line's position in the list (0-based).
    pub index: usize,
    /// `applied` (the price is in force), `scheduled` (applied when it starts) or `rejected`
    /// (see `error`).
    pub status: String,
    /// The SKU, when known.
    pub sku_id: Option<Uuid>,
    /// The store, or none for the chain price.
    pub store: Option<String>,
    /// Why it was rejected.
    pub error: Option<LineError>,
}

/// The answer to a price list.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PriceListReport {
    /// The list id.
    pub list_id: String,
    /// Lines in force.
    pub applied: usize,
    /// Lines waiting for their start.
    pub scheduled: usize,
    /// Lines refused.
    pub rejected: usize,
    /// Every line, in list order.
    pub lines: Vec<PriceLineResult>,
}

/// Checks a price in fen the way a console price change is checked (and a store's price against
/// the chain price).
fn check_line_price(price_fen: i64, chain_fen: Option<i64>) -> Result<i64, LineError> {
    if price_fen <= 0 {
        return Err(line_error("bad_price", "price_fen must be more than 0"));
    }
    if price_fen > MAX_UNIT_PRICE_FEN {
        return Err(line_error(
            "bad_price",
            format!(
                "price_fen must be at most {MAX_UNIT_PRICE_FEN} (the pricing engine sells nothing dearer)"
            ),
        ));
    }
    match chain_fen {
        Some(chain) => crate::app::catalog::check_store_price(
            Money::from_fen(price_fen),
            Money::from_fen(chain),
        )
        .map_err(|e| line_error("bad_price", e.to_string())),
        None => Ok(price_fen),
    }
}

/// Applies one checked price through the catalog's own price writes (audited, shelf labels
/// queued, the catalog sequence moved so the lanes pull), as a console price change does.
async fn apply_price(
    state: &AppState,
    actor: &str,
    sku_id: Uuid,
    store: Option<&str>,
    price_fen: i64,
) -> AppResult<Result<(), LineError>> {
    let Some(sku) = storage::catalog::sku(&state.store, sku_id, None).await? else {
        return Ok(Err(line_error("unknown_sku", format!("no SKU {sku_id}"))));
    };
    let checked = check_line_price(price_fen, store.map(|_| sku.price.fen()));
    let fen = match checked {
        Ok(fen) => fen,
        Err(e) => return Ok(Err(e)),
    };
    match store {
        Some(store) => {
            storage::catalog::set_store_price(&state.store, store, sku_id, Some(fen), actor).await?
        }
        None => storage::catalog::set_sku_price(&state.store, sku_id, fen, None, actor).await?,
    }
    Ok(Ok(()))
}

/// Applies a price list (head office's middle platform): each line checked alone (unknown SKU
/// or store, a price the engine cannot sell, a store price outside 50%–200% of the chain price);
/// a good line starting now is applied at once through the catalog's price writes, one starting
/// later is kept and applied by the sweeper when it starts. Idempotent by list id.
pub async fn push_price_list(
    state: &AppState,
    actor: &str,
    req: &PriceListRequest,
) -> AppResult<PriceListReport> {
    check_batch_id("list_id", &req.list_id)?;
    check_count("lines", req.lines.len())?;
    let hash = request_hash(req)?;
    if let Some(prior) = sync::prior_batch(&state.store, &req.list_id).await? {
        return replay(prior, sync::PRICE_LISTS, &hash, &req.list_id);
    }
    let keys: Vec<String> = req.lines.iter().map(|l| l.sku.trim().to_owned()).collect();
    let skus = sync::skus_by_key(&state.store, &keys).await?;
    let locations = sync::location_kinds(&state.store).await?;
    let now = Utc::now();
    let mut results = Vec::with_capacity(req.lines.len());
    let mut pending = Vec::new();
    for (index, line) in req.lines.iter().enumerate() {
        let sku_id = skus.get(line.sku.trim()).copied();
        let store = line
            .store
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.eq_ignore_ascii_case("all"))
            .map(str::to_owned);
        let mut result = PriceLineResult {
            index,
            status: "rejected".into(),
            sku_id,
            store: store.clone(),
            error: None,
        };
        let checked = match (sku_id, &store) {
            (None, _) => Err(line_error("unknown_sku", format!("no SKU {}", line.sku))),
            (Some(_), Some(s))
                if locations.get(s.as_str()).map(String::as_str) != Some("store") =>
            {
                Err(line_error("not_a_store", format!("no store {s}")))
            }
            (Some(sku_id), _) => check_line_price(line.price_fen, None).map(|_| sku_id),
        };
        match checked {
            Err(e) => result.error = Some(e),
            Ok(sku_id) => match line.valid_from.filter(|from| *from > now) {
                Some(from) => {
                    result.status = "scheduled".into();
                    pending.push(PendingPrice {
                        list_id: req.list_id.clone(),
                        line_no: i64::try_from(index).unwrap_or(i64::MAX),
                        sku_id,
                        location_id: store.clone(),
                        price_fen: line.price_fen,
                        valid_from: from.timestamp_millis(),
                    });
                }
                None => match apply_price(state, actor, sku_id, store.as_deref(), line.price_fen)
                    .await?
                {
                    Ok(()) => result.status = "applied".into(),
                    Err(e) => result.error = Some(e),
                },
            },
        }
        results.push(result);
    }
    let count = |s: &str| results.iter().filter(|r| r.status == s).count();
    let report = PriceListReport {
        list_id: req.list_id.clone(),
        applied: count("applied"),
        scheduled: count("scheduled"),
        rejected: count("rejected"),
        lines: results,
    };
    let batch = NewBatch {
        id: &req.list_id,
        kind: sync::PRICE_LISTS,
        request_sha256: &hash,
        actor,
    };
    let mut tx = match sync::begin_batch(&state.store, &req.list_id).await? {
        Ok(tx) => tx,
        Err(prior) => return replay(prior, sync::PRICE_LISTS, &hash, &req.list_id),
    };
    if !sync::record_batch(&mut tx, batch, &to_json(&report)?).await? {
        tx.rollback().await?;
        return match sync::prior_batch(&state.store, &req.list_id).await? {
            Some(prior) => replay(prior, sync::PRICE_LISTS, &hash, &req.list_id),
            None => Err(AppError::Internal(anyhow::anyhow!(
                "price list {} conflicted but is not recorded",
                req.list_id
            ))),
        };
    }
    sync::save_pending_prices(&mut tx, &pending).await?;
    tx.commit().await?;
    Ok(report)
}

/// Applies the price-list lines whose start has come (called by the sweeper); each line once
/// (claimed by its status), a line that can no longer be applied (its SKU's chain price moved
/// so the store price is out of range) marked failed with why. Returns the lines applied.
pub async fn apply_due_prices(state: &AppState) -> AppResult<usize> {
    let due = sync::due_prices(&state.store, storage::now_ms(), 500).await?;
    let mut applied = 0;
    for line in due {
        let actor = format!("platform:{}", line.list_id);
        let outcome = apply_price(
            state,
            &actor,
            line.sku_id,
            line.location_id.as_deref(),
            line.price_fen,
        )
        .await?;
        let error = outcome.err().map(|e| e.message);
        if sync::finish_price(&state.store, &line.list_id, line.line_no, error.as_deref()).await?
            && error.is_none()
        {
            applied += 1;
        }
    }
    Ok(applied)
}
