//! Inbound sync from the middle platform (中台): the record of every batch it pushed (the
//! idempotency record), its sequence numbers per (location, SKU) for stock levels and per member
//! for tiers and rights, the stock levels themselves (set through
//! [`super::stock::apply_movements`], so the ledger stays the snapshot's sum) and price-list
//! lines that wait for their start. See docs/CONTRACTS.md, "Middle-platform sync".

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::stock::{apply_movements, lock_rows, Movement, MovementKind};
use super::{col, is_unique_violation, now_ms, placeholders, uuid_col, Store, Tx};
use crate::error::{AppError, AppResult};

/// The kinds of batch the platform pushes.
pub const STOCK_LEVELS: &str = "stock_levels";
/// Member tier and rights changes.
pub const MEMBER_TIERS: &str = "member_tiers";
/// Price lists.
pub const PRICE_LISTS: &str = "price_lists";

/// A batch already taken: what was asked (its hash) and what was answered.
#[derive(Debug, Clone)]
pub struct PriorBatch {
    /// `stock_levels`, `member_tiers` or `price_lists`.
    pub kind: String,
    /// SHA-256 (hex) of the request as first received.
    pub request_sha256: String,
    /// The answer given (JSON).
    pub result: serde_json::Value,
}

fn prior_from_row(row: &sqlx::any::AnyRow) -> AppResult<PriorBatch> {
    let text: String = col(row, "result")?;
    Ok(PriorBatch {
        kind: col(row, "kind")?,
        request_sha256: col(row, "request_sha256")?,
        result: serde_json::from_str(&text)
            .map_err(|e| AppError::Internal(anyhow::Error::new(e).context("stored sync batch")))?,
    })
}

/// The batch `id`, if it was taken already (read outside a transaction).
pub async fn prior_batch(store: &Store, id: &str) -> AppResult<Option<PriorBatch>> {
    let row =
        sqlx::query("SELECT kind, request_sha256, result FROM platform_sync_batches WHERE id = $1")
            .bind(id)
            .fetch_optional(store.reader())
            .await?;
    row.as_ref().map(prior_from_row).transpose()
}

/// The batch `id` inside `tx`, locked (PostgreSQL) so a concurrent twin waits for the first.
async fn prior_batch_in(tx: &mut Tx, store: &Store, id: &str) -> AppResult<Option<PriorBatch>> {
    let row = sqlx::query(&format!(
        "SELECT kind, request_sha256, result FROM platform_sync_batches WHERE id = $1{}",
        store.for_update()
    ))
    .bind(id)
    .fetch_optional(&mut **tx)
    .await?;
    row.as_ref().map(prior_from_row).transpose()
}

/// A new batch to record with its answer.
#[derive(Debug, Clone, Copy)]
pub struct NewBatch<'a> {
    /// The platform's batch id.
    pub id: &'a str,
    /// Its kind.
    pub kind: &'a str,
    /// SHA-256 (hex) of the request.
    pub request_sha256: &'a str,
    /// Who sent it (`staff:<username>`).
    pub actor: &'a str,
}

/// Records a batch and its answer in `tx`. False when another request recorded the same id
/// first (the caller rolls back and answers that one's result).
pub async fn record_batch(
    tx: &mut Tx,
    batch: NewBatch<'_>,
    result: &serde_json::Value,
) -> AppResult<bool> {
    let outcome = sqlx::query(
        "INSERT INTO platform_sync_batches (id, kind, request_sha256, actor, result, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(batch.id)
    .bind(batch.kind)
    .bind(batch.request_sha256)
    .bind(batch.actor)
    .bind(result.to_string())
    .bind(now_ms())
    .execute(&mut **tx)
    .await;
    match outcome {
        Ok(_) => Ok(true),
        Err(err) if is_unique_violation(&err) => Ok(false),
        Err(err) => Err(err.into()),
    }
}

/// Records a batch in a transaction of its own (price lists, whose lines were applied by the
/// catalog's own writes). False when another request recorded the same id first.
pub async fn record_batch_alone(
    store: &Store,
    batch: NewBatch<'_>,
    result: &serde_json::Value,
) -> AppResult<bool> {
    let mut tx = store.begin().await?;
    let recorded = record_batch(&mut tx, batch, result).await?;
    if recorded {
        tx.commit().await?;
    } else {
        tx.rollback().await?;
    }
    Ok(recorded)
}

/// SKU ids by the keys the platform used: a SKU id (UUID) or a SKU code. Keys that name no SKU
/// are left out.
pub async fn skus_by_key(store: &Store, keys: &[String]) -> AppResult<HashMap<String, Uuid>> {
    let mut unique: Vec<&String> = keys.iter().collect();
    unique.sort();
    unique.dedup();
    let mut found = HashMap::new();
    for chunk in unique.chunks(super::MAX_PARAMS / 2) {
        let n = chunk.len();
        let sql = format!(
            "SELECT id, sku_code FROM skus WHERE id IN ({}) OR sku_code IN ({})",
            placeholders(1, n),
            placeholders(n + 1, n)
        );
        let mut query = sqlx::query(&sql);
        for key in chunk {
            query = query.bind(key.as_str());
        }
        for key in chunk {
            query = query.bind(key.as_str());
        }
        for row in query.fetch_all(store.reader()).await? {
            let id: String = col(&row, "id")?;
            let code: String = col(&row, "sku_code")?;
            let sku = uuid_col(&row, "id")?;
            found.insert(id, sku);
            found.insert(code, sku);
        }
    }
    // A UUID key written in another case or without hyphens.
    for key in unique {
        if !found.contains_key(key.as_str()) {
            if let Ok(id) = key.parse::<Uuid>() {
                if let Some(sku) = found.get(&id.to_string()).copied() {
                    found.insert(key.clone(), sku);
                }
            }
        }
    }
    Ok(found)
}

/// The codes of every location, with their kind (`store`, `warehouse`, `head_office`).
pub async fn location_kinds(store: &Store) -> AppResult<HashMap<String, String>> {
    let rows = sqlx::query("SELECT id, kind FROM locations")
        .fetch_all(store.reader())
        .await?;
    rows.iter()
        .map(|row| Ok((col(row, "id")?, col(row, "kind")?)))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Stock levels.
// ---------------------------------------------------------------------------------------------

/// One checked stock-level line to apply.
#[derive(Debug, Clone)]
pub struct LevelLine {
    /// Its position in the batch (0-based).
    pub index: usize,
    /// Where.
    pub location_id: String,
    /// What.
    pub sku_id: Uuid,
    /// The absolute on-hand count.
    pub on_hand: i64,
    /// The platform's sequence number for (SKU, location).
    pub seq: i64,
}

/// What became of one applied or skipped stock-level line.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LevelOutcome {
    /// Its position in the batch.
    pub index: usize,
    /// `applied` (on hand changed), `unchanged` (already that count; the sequence recorded) or
    /// `stale` (sequence not above the last applied one: skipped).
    pub status: String,
    /// The last applied sequence before this line.
    pub last_seq: Option<i64>,
    /// On hand before.
    pub on_hand_before: i64,
    /// On hand after.
    pub on_hand_after: i64,
    /// Reserved for online orders not yet picked (unchanged by the sync).
    pub reserved: i64,
}

/// Applies checked stock-level lines of batch `batch_id` in `tx`, in batch order: a line whose
/// sequence is not above the last applied one for its (location, SKU) is stale and skipped;
/// otherwise on hand becomes its count through a `count_adjustment` movement of the difference
/// (reason `platform_sync`, `ref_id` the batch id) and its sequence is recorded. Reserved units
/// are left as they are. Rows are locked in (location, SKU) order.
pub async fn apply_levels(
    tx: &mut Tx,
    store: &Store,
    batch_id: &str,
    lines: &[LevelLine],
    actor: &str,
) -> AppResult<Vec<LevelOutcome>> {
    let mut by_location: BTreeMap<&str, Vec<Uuid>> = BTreeMap::new();
    for line in lines {
        by_location
            .entry(line.location_id.as_str())
            .or_default()
            .push(line.sku_id);
    }
    // (location, sku) → (on_hand, reserved), locked.
    let mut levels: HashMap<(String, Uuid), (i64, i64)> = HashMap::new();
    let mut seqs: HashMap<(String, Uuid), i64> = HashMap::new();
    for (location, skus) in &by_location {
        for (sku, level) in lock_rows(tx, store, location, skus, true).await? {
            levels.insert(((*location).to_owned(), sku), level);
        }
        let mut sorted: Vec<String> = skus.iter().map(Uuid::to_string).collect();
        sorted.sort();
        sorted.dedup();
        for chunk in sorted.chunks(500) {
            let sql = format!(
                "SELECT sku_id, seq FROM platform_stock_seqs WHERE location_id = $1 AND sku_id IN ({}) \
                 ORDER BY sku_id{}",
                placeholders(2, chunk.len()),
                store.for_update()
            );
            let mut query = sqlx::query(&sql).bind(*location);
            for sku in chunk {
                query = query.bind(sku.as_str());
            }
            for row in query.fetch_all(&mut **tx).await? {
                seqs.insert(
                    ((*location).to_owned(), uuid_col(&row, "sku_id")?),
                    col(&row, "seq")?,
                );
            }
        }
    }
    let mut outcomes = Vec::with_capacity(lines.len());
    let mut deltas: Vec<(usize, i64)> = Vec::new();
    let mut touched: BTreeMap<(String, Uuid), i64> = BTreeMap::new();
    for (i, line) in lines.iter().enumerate() {
        let key = (line.location_id.clone(), line.sku_id);
        let last_seq = seqs.get(&key).copied();
        let (on_hand, reserved) = levels.get(&key).copied().unwrap_or((0, 0));
        if last_seq.is_some_and(|last| line.seq <= last) {
            outcomes.push(LevelOutcome {
                index: line.index,
                status: "stale".into(),
                last_seq,
                on_hand_before: on_hand,
                on_hand_after: on_hand,
                reserved,
            });
            continue;
        }
        let delta = line.on_hand - on_hand;
        if delta != 0 {
            deltas.push((i, delta));
        }
        levels.insert(key.clone(), (line.on_hand, reserved));
        seqs.insert(key.clone(), line.seq);
        touched.insert(key, line.seq);
        outcomes.push(LevelOutcome {
            index: line.index,
            status: if delta == 0 { "unchanged" } else { "applied" }.into(),
            last_seq,
            on_hand_before: on_hand,
            on_hand_after: line.on_hand,
            reserved,
        });
    }
    let now = now_ms();
    let movements: Vec<Movement<'_>> = deltas
        .iter()
        .map(|&(i, delta)| Movement {
            location_id: &lines[i].location_id,
            sku_id: lines[i].sku_id,
            kind: MovementKind::CountAdjustment,
            on_hand_delta: delta,
            reserved_delta: 0,
            reason: "platform_sync",
            actor,
            ref_id: Some(batch_id),
            client_ts: now,
        })
        .collect();
    apply_movements(tx, &movements).await?;
    for ((location, sku), seq) in touched {
        sqlx::query(
            "INSERT INTO platform_stock_seqs (location_id, sku_id, seq, batch_id, updated_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (location_id, sku_id) DO UPDATE SET \
             seq = excluded.seq, batch_id = excluded.batch_id, updated_at = excluded.updated_at",
        )
        .bind(&location)
        .bind(sku.to_string())
        .bind(seq)
        .bind(batch_id)
        .bind(now)
        .execute(&mut **tx)
        .await?;
    }
    Ok(outcomes)
}

/// Opens the transaction a stock-level batch is applied in, answering the prior result when the
/// batch id was taken meanwhile (`Err(Ok(prior))`).
pub async fn begin_batch(store: &Store, id: &str) -> AppResult<Result<Tx, PriorBatch>> {
    let mut tx = store.begin().await?;
    if let Some(prior) = prior_batch_in(&mut tx, store, id).await? {
        tx.rollback().await?;
        return Ok(Err(prior));
    }
    Ok(Ok(tx))
}

// ---------------------------------------------------------------------------------------------
// Member tiers and rights.
// ---------------------------------------------------------------------------------------------

/// The tier and rights the platform set for a member.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PlatformTier {
    /// A tier code (`None`: the tier of the member's growth).
    pub tier_code: Option<String>,
    /// Right codes.
    pub rights: Vec<String>,
    /// The last applied sequence.
    pub seq: i64,
}

fn platform_tier_from_row(row: &sqlx::any::AnyRow) -> AppResult<PlatformTier> {
    let rights: String = col(row, "rights")?;
    Ok(PlatformTier {
        tier_code: col(row, "tier_code")?,
        rights: serde_json::from_str(&rights)
            .map_err(|e| AppError::Internal(anyhow::Error::new(e).context("member rights")))?,
        seq: col(row, "seq")?,
    })
}

/// The tier and rights the platform set for `member_id`, if it ever did.
pub async fn platform_tier(store: &Store, member_id: Uuid) -> AppResult<Option<PlatformTier>> {
    let row = sqlx::query(
        "SELECT tier_code, rights, seq FROM member_platform_tiers WHERE member_id = $1",
    )
    .bind(member_id.to_string())
    .fetch_optional(store.reader())
    .await?;
    row.as_ref().map(platform_tier_from_row).transpose()
}

/// The members of `ids` that exist and are not deleted.
pub async fn live_members(store: &Store, ids: &[Uuid]) -> AppResult<HashSet<Uuid>> {
    let mut unique: Vec<String> = ids.iter().map(Uuid::to_string).collect();
    unique.sort();
    unique.dedup();
    let mut found = HashSet::new();
    for chunk in unique.chunks(500) {
        let sql = format!(
            "SELECT id FROM members WHERE deleted_at IS NULL AND id IN ({})",
            placeholders(1, chunk.len())
        );
        let mut query = sqlx::query(&sql);
        for id in chunk {
            query = query.bind(id.as_str());
        }
        for row in query.fetch_all(store.reader()).await? {
            found.insert(uuid_col(&row, "id")?);
        }
    }
    Ok(found)
}

/// The member's platform tier row in `tx`, locked.
pub async fn platform_tier_for_update(
    tx: &mut Tx,
    store: &Store,
    member_id: Uuid,
) -> AppResult<Option<PlatformTier>> {
    let row = sqlx::query(&format!(
        "SELECT tier_code, rights, seq FROM member_platform_tiers WHERE member_id = $1{}",
        store.for_update()
    ))
    .bind(member_id.to_string())
    .fetch_optional(&mut **tx)
    .await?;
    row.as_ref().map(platform_tier_from_row).transpose()
}

/// Saves the member's platform tier and rights (and the sequence that set them) in `tx`.
pub async fn save_platform_tier(
    tx: &mut Tx,
    member_id: Uuid,
    tier: &PlatformTier,
    batch_id: &str,
) -> AppResult<()> {
    let rights = serde_json::to_string(&tier.rights)
        .map_err(|e| AppError::Internal(anyhow::Error::new(e)))?;
    sqlx::query(
        "INSERT INTO member_platform_tiers (member_id, tier_code, rights, seq, batch_id, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (member_id) DO UPDATE SET \
         tier_code = excluded.tier_code, rights = excluded.rights, seq = excluded.seq, \
         batch_id = excluded.batch_id, updated_at = excluded.updated_at",
    )
    .bind(member_id.to_string())
    .bind(tier.tier_code.as_deref())
    .bind(rights)
    .bind(tier.seq)
    .bind(batch_id)
    .bind(now_ms())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Price lists.
// ---------------------------------------------------------------------------------------------

/// A price-list line that waits for its start.
#[derive(Debug, Clone)]
pub struct PendingPrice {
    /// The list.
    pub list_id: String,
    /// Its position in the list (0-based).
    pub line_no: i64,
    /// What.
    pub sku_id: Uuid,
    /// A store (its override), or `None` for the chain price.
    pub location_id: Option<String>,
    /// The price in fen.
    pub price_fen: i64,
    /// When it starts (Unix ms).
    pub valid_from: i64,
}

/// Keeps price-list lines that start later, in `tx`.
pub async fn save_pending_prices(tx: &mut Tx, lines: &[PendingPrice]) -> AppResult<()> {
    for line in lines {
        sqlx::query(
            "INSERT INTO platform_price_lines (list_id, line_no, sku_id, location_id, price_fen, \
             valid_from, status) VALUES ($1, $2, $3, $4, $5, $6, 'pending') \
             ON CONFLICT (list_id, line_no) DO NOTHING",
        )
        .bind(&line.list_id)
        .bind(line.line_no)
        .bind(line.sku_id.to_string())
        .bind(line.location_id.as_deref())
        .bind(line.price_fen)
        .bind(line.valid_from)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// Pending price-list lines whose start has come (`valid_from ≤ now`), oldest start first, at
/// most `limit`.
pub async fn due_prices(store: &Store, now: i64, limit: i64) -> AppResult<Vec<PendingPrice>> {
    let rows = sqlx::query(
        "SELECT list_id, line_no, sku_id, location_id, price_fen, valid_from FROM platform_price_lines \
         WHERE status = 'pending' AND valid_from <= $1 ORDER BY valid_from, list_id, line_no LIMIT $2",
    )
    .bind(now)
    .bind(limit)
    .fetch_all(store.reader())
    .await?;
    rows.iter()
        .map(|row| {
            Ok(PendingPrice {
                list_id: col(row, "list_id")?,
                line_no: col(row, "line_no")?,
                sku_id: uuid_col(row, "sku_id")?,
                location_id: col(row, "location_id")?,
                price_fen: col(row, "price_fen")?,
                valid_from: col(row, "valid_from")?,
            })
        })
        .collect()
}

/// Marks a pending line applied (no error) or failed (why). False when it was not pending any
/// more (another instance took it).
pub async fn finish_price(
    store: &Store,
    list_id: &str,
    line_no: i64,
    error: Option<&str>,
) -> AppResult<bool> {
    let done = sqlx::query(
        "UPDATE platform_price_lines SET status = $3, error = $4, applied_at = $5 \
         WHERE list_id = $1 AND line_no = $2 AND status = 'pending'",
    )
    .bind(list_id)
    .bind(line_no)
    .bind(if error.is_some() { "failed" } else { "applied" })
    .bind(error)
    .bind(now_ms())
    .execute(store.writer())
    .await?;
    Ok(done.rows_affected() > 0)
}
