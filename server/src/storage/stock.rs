//! Stock per (location, SKU) and its append-only movement ledger.
//!
//! Every change goes through [`apply_movements`] inside the caller's transaction: one ledger row
//! per movement and the matching change to the snapshot, so the snapshot always equals the
//! ledger's sums.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use sqlx::AnyConnection;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{audit, col, from_ms, now_ms, placeholders, uuid_col, Store, Tx};
use crate::error::{AppError, AppResult};

/// Why stock moved (the ledger's `kind`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MovementKind {
    /// Opening balance (demo load, new location).
    Opening,
    /// A POS or scan-and-go sale: on hand down.
    Sale,
    /// A return: on hand up.
    Return,
    /// An online order reserved stock: reserved up.
    Reservation,
    /// A reservation released (cancellation, timeout): reserved down.
    Release,
    /// A reserved order left the building (shipped / picked up): on hand and reserved down.
    Fulfilment,
    /// Shipped to another location: on hand down.
    TransferOut,
    /// Received from another location: on hand up.
    TransferIn,
    /// A stock count set on hand to what was counted.
    CountAdjustment,
    /// A manual adjustment with a reason (damage, loss, found).
    Adjustment,
    /// Goods received from a supplier.
    Receipt,
}

impl MovementKind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Opening => "opening",
            Self::Sale => "sale",
            Self::Return => "return",
            Self::Reservation => "reservation",
            Self::Release => "release",
            Self::Fulfilment => "fulfilment",
            Self::TransferOut => "transfer_out",
            Self::TransferIn => "transfer_in",
            Self::CountAdjustment => "count_adjustment",
            Self::Adjustment => "adjustment",
            Self::Receipt => "receipt",
        }
    }
}

/// One change to one (location, SKU).
#[derive(Clone, Debug)]
pub struct Movement<'a> {
    /// Where.
    pub location_id: &'a str,
    /// What.
    pub sku_id: Uuid,
    /// Why.
    pub kind: MovementKind,
    /// Change to on hand.
    pub on_hand_delta: i64,
    /// Change to reserved.
    pub reserved_delta: i64,
    /// Free-text reason (required for adjustments).
    pub reason: &'a str,
    /// Who (e.g. `staff:mgr.sh001`, `device:…`, `shop`).
    pub actor: &'a str,
    /// The order, sale, transfer or count this belongs to.
    pub ref_id: Option<&'a str>,
    /// The client's timestamp (ms), for offline sales.
    pub client_ts: i64,
}

/// Records movements and applies them to the snapshot, inside `tx`. A missing stock row is
/// created (e.g. an offline sale of a SKU never stocked at that store drives it negative, which
/// is flagged for reconciliation rather than refused).
pub async fn apply_movements(tx: &mut Tx, movements: &[Movement<'_>]) -> AppResult<()> {
    if movements.is_empty() {
        return Ok(());
    }
    let now = now_ms();
    // The ledger rows in one multi-row insert.
    let rows: Vec<(String, &Movement<'_>)> = movements
        .iter()
        .map(|m| (retail_domain::ids::new_id().to_string(), m))
        .collect();
    super::insert_rows(
        tx,
        "stock_movements",
        &[
            "id",
            "location_id",
            "sku_id",
            "kind",
            "on_hand_delta",
            "reserved_delta",
            "reason",
            "actor",
            "ref_id",
            "client_ts",
            "created_at",
        ],
        &rows,
        |q, (id, m)| {
            q.bind(id.as_str())
                .bind(m.location_id)
                .bind(m.sku_id.to_string())
                .bind(m.kind.as_str())
                .bind(m.on_hand_delta)
                .bind(m.reserved_delta)
                .bind(m.reason)
                .bind(m.actor)
                .bind(m.ref_id)
                .bind(m.client_ts)
                .bind(now)
        },
    )
    .await?;
    // The snapshot: one change per (location, SKU), in key order so concurrent transactions
    // lock rows in the same order.
    let mut sums: std::collections::BTreeMap<(&str, Uuid), (i64, i64)> =
        std::collections::BTreeMap::new();
    for m in movements {
        let entry = sums.entry((m.location_id, m.sku_id)).or_default();
        entry.0 += m.on_hand_delta;
        entry.1 += m.reserved_delta;
    }
    // Changes that do not lower `reserved` go in one multi-row upsert: their candidate row
    // satisfies the CHECKs, so a missing row is created with the change itself.
    let (raising, lowering): (Vec<_>, Vec<_>) = sums
        .into_iter()
        .partition(|(_, (_, reserved_delta))| *reserved_delta >= 0);
    super::upsert_rows(
        tx,
        "stock",
        &["location_id", "sku_id", "on_hand", "reserved", "updated_at"],
        &raising,
        "ON CONFLICT (location_id, sku_id) DO UPDATE SET on_hand = stock.on_hand + excluded.on_hand, \
         reserved = stock.reserved + excluded.reserved, updated_at = excluded.updated_at",
        |q, ((location_id, sku_id), (on_hand_delta, reserved_delta))| {
            q.bind(*location_id)
                .bind(sku_id.to_string())
                .bind(*on_hand_delta)
                .bind(*reserved_delta)
                .bind(now)
        },
    )
    .await?;
    for ((location_id, sku_id), (on_hand_delta, reserved_delta)) in lowering {
        // Update first: the insert's candidate row must satisfy the CHECKs even when it only
        // conflicts (a release would carry a negative `reserved`).
        let update = || {
            sqlx::query(
                "UPDATE stock SET on_hand = on_hand + $1, reserved = reserved + $2, updated_at = $3 \
                 WHERE location_id = $4 AND sku_id = $5",
            )
            .bind(on_hand_delta)
            .bind(reserved_delta)
            .bind(now)
            .bind(location_id)
            .bind(sku_id.to_string())
        };
        if update().execute(&mut **tx).await?.rows_affected() == 0 {
            // No row yet: create an empty one (another transaction may be doing the same), then
            // apply the change to it.
            sqlx::query(
                "INSERT INTO stock (location_id, sku_id, on_hand, reserved, updated_at) VALUES ($1, $2, 0, 0, $3) \
                 ON CONFLICT (location_id, sku_id) DO NOTHING",
            )
            .bind(location_id)
            .bind(sku_id.to_string())
            .bind(now)
            .execute(&mut **tx)
            .await?;
            update().execute(&mut **tx).await?;
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Reading stock levels and the ledger.
// ---------------------------------------------------------------------------------------------

/// The largest quantity one line, count or adjustment may carry.
pub const MAX_QTY: i64 = 1_000_000;

/// Actions in the audit log whose entity id is a client id of a stock operation (counts,
/// adjustments, receipts): the log doubles as their idempotency record.
const OPERATION_ACTIONS: [&str; 3] = ["stock.count", "stock.adjust", "stock.receipt"];

/// Stock of one SKU at one location.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct StockLevel {
    /// Location code.
    pub location_id: String,
    /// SKU.
    pub sku_id: Uuid,
    /// SKU code.
    pub sku_code: String,
    /// Product name (Chinese).
    pub name_zh: String,
    /// Product name (English).
    pub name_en: String,
    /// Variant spec (Chinese), e.g. "500ml".
    pub spec_zh: String,
    /// Variant spec (English).
    pub spec_en: String,
    /// Physically there (may be negative after offline sales: see `needs_reconciliation`).
    pub on_hand: i64,
    /// Promised to open online orders.
    pub reserved: i64,
    /// `on_hand − reserved`.
    pub available: i64,
    /// Low-stock threshold (0: no alert).
    pub threshold: i64,
    /// `threshold > 0` and `available ≤ threshold`.
    pub low: bool,
    /// On hand is negative: the store must count and reconcile.
    pub needs_reconciliation: bool,
    /// Last change (RFC 3339).
    pub updated_at: DateTime<Utc>,
}

const LEVEL_COLUMNS: &str =
    "st.location_id, st.sku_id, st.on_hand, st.reserved, st.low_stock_threshold, \
     st.updated_at, s.sku_code, s.spec_zh, s.spec_en, p.name_zh, p.name_en \
     FROM stock st JOIN skus s ON s.id = st.sku_id JOIN products p ON p.id = s.product_id";

fn level_from_row(row: &AnyRow) -> AppResult<StockLevel> {
    let on_hand: i64 = col(row, "on_hand")?;
    let reserved: i64 = col(row, "reserved")?;
    let threshold: i64 = col(row, "low_stock_threshold")?;
    let available = on_hand - reserved;
    Ok(StockLevel {
        location_id: col(row, "location_id")?,
        sku_id: uuid_col(row, "sku_id")?,
        sku_code: col(row, "sku_code")?,
        name_zh: col(row, "name_zh")?,
        name_en: col(row, "name_en")?,
        spec_zh: col(row, "spec_zh")?,
        spec_en: col(row, "spec_en")?,
        on_hand,
        reserved,
        available,
        threshold,
        low: threshold > 0 && available <= threshold,
        needs_reconciliation: on_hand < 0,
        updated_at: from_ms(col(row, "updated_at")?),
    })
}

/// Which stock levels to list.
#[derive(Debug, Clone, Default)]
pub struct LevelFilter {
    /// Only this location.
    pub location_id: Option<String>,
    /// Only this SKU.
    pub sku_id: Option<Uuid>,
    /// Continue after this (location, SKU) (the last row of the previous page).
    pub after: Option<(String, Uuid)>,
    /// Only alerts: low (threshold > 0 and available ≤ threshold) or negative on hand.
    pub alerts_only: bool,
    /// Page size.
    pub limit: i64,
}

/// Stock levels ordered by (location, SKU).
pub async fn list_levels(store: &Store, filter: &LevelFilter) -> AppResult<Vec<StockLevel>> {
    let sql = format!(
        "SELECT {LEVEL_COLUMNS} \
         WHERE ($1 IS NULL OR st.location_id = $1) AND ($2 IS NULL OR st.sku_id = $2) \
         AND ($3 IS NULL OR st.location_id > $3 OR (st.location_id = $3 AND st.sku_id > $4)) \
         AND ($5 = 0 OR st.on_hand < 0 OR (st.low_stock_threshold > 0 AND st.on_hand - st.reserved <= st.low_stock_threshold)) \
         ORDER BY st.location_id, st.sku_id LIMIT $6"
    );
    let rows = sqlx::query(&sql)
        .bind(filter.location_id.as_deref())
        .bind(filter.sku_id.map(|s| s.to_string()))
        .bind(filter.after.as_ref().map(|(l, _)| l.clone()))
        .bind(filter.after.as_ref().map(|(_, s)| s.to_string()))
        .bind(i64::from(filter.alerts_only))
        .bind(filter.limit)
        .fetch_all(store.reader())
        .await?;
    rows.iter().map(level_from_row).collect()
}

/// One stock level, if the location has a row for the SKU.
pub async fn get_level(
    store: &Store,
    location_id: &str,
    sku_id: Uuid,
) -> AppResult<Option<StockLevel>> {
    let sql = format!("SELECT {LEVEL_COLUMNS} WHERE st.location_id = $1 AND st.sku_id = $2");
    let row = sqlx::query(&sql)
        .bind(location_id)
        .bind(sku_id.to_string())
        .fetch_optional(store.reader())
        .await?;
    row.as_ref().map(level_from_row).transpose()
}

/// The stock levels of these (location, SKU) pairs that exist (for the change feed): read by
/// SKU (indexed), the other locations' rows left out.
pub async fn levels_of(store: &Store, pairs: &[(String, Uuid)]) -> AppResult<Vec<StockLevel>> {
    let wanted: std::collections::HashSet<(&str, Uuid)> =
        pairs.iter().map(|(l, s)| (l.as_str(), *s)).collect();
    let mut skus: Vec<String> = pairs.iter().map(|(_, s)| s.to_string()).collect();
    skus.sort_unstable();
    skus.dedup();
    let mut out = Vec::with_capacity(pairs.len());
    for row in super::rows_by_keys(
        store,
        &format!("SELECT {LEVEL_COLUMNS}"),
        "st.sku_id",
        "",
        &skus,
    )
    .await?
    {
        let level = level_from_row(&row)?;
        if wanted.contains(&(level.location_id.as_str(), level.sku_id)) {
            out.push(level);
        }
    }
    Ok(out)
}

/// One row of the movement ledger.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MovementRecord {
    /// Id.
    pub id: Uuid,
    /// Location code.
    pub location_id: String,
    /// SKU.
    pub sku_id: Uuid,
    /// `opening`, `sale`, `return`, `reservation`, `release`, `fulfilment`, `transfer_out`,
    /// `transfer_in`, `count_adjustment`, `adjustment` or `receipt`.
    pub kind: String,
    /// Change to on hand.
    pub on_hand_delta: i64,
    /// Change to reserved.
    pub reserved_delta: i64,
    /// Reason.
    pub reason: String,
    /// Who.
    pub actor: String,
    /// The order, sale, transfer, count, adjustment or receipt it belongs to.
    pub ref_id: Option<String>,
    /// The client's time (RFC 3339).
    pub client_ts: DateTime<Utc>,
    /// When it was recorded (RFC 3339).
    pub created_at: DateTime<Utc>,
    /// Recording time in Unix milliseconds (part of the page cursor).
    #[serde(skip)]
    pub created_ms: i64,
}

/// Which movements to list.
#[derive(Debug, Clone, Default)]
pub struct MovementFilter {
    /// Only this location.
    pub location_id: Option<String>,
    /// Only this SKU.
    pub sku_id: Option<Uuid>,
    /// Only movements belonging to this order, transfer, count…
    pub ref_id: Option<String>,
    /// Continue after this (created_at ms, id), the last row of the previous page.
    pub after: Option<(i64, Uuid)>,
    /// Page size.
    pub limit: i64,
}

/// The ledger, newest first.
pub async fn list_movements(
    store: &Store,
    filter: &MovementFilter,
) -> AppResult<Vec<MovementRecord>> {
    let rows = sqlx::query(
        "SELECT id, location_id, sku_id, kind, on_hand_delta, reserved_delta, reason, actor, ref_id, client_ts, \
         created_at FROM stock_movements \
         WHERE ($1 IS NULL OR location_id = $1) AND ($2 IS NULL OR sku_id = $2) AND ($3 IS NULL OR ref_id = $3) \
         AND ($4 IS NULL OR created_at < $4 OR (created_at = $4 AND id < $5)) \
         ORDER BY created_at DESC, id DESC LIMIT $6",
    )
    .bind(filter.location_id.as_deref())
    .bind(filter.sku_id.map(|s| s.to_string()))
    .bind(filter.ref_id.as_deref())
    .bind(filter.after.map(|(at, _)| at))
    .bind(filter.after.map(|(_, id)| id.to_string()))
    .bind(filter.limit)
    .fetch_all(store.reader())
    .await?;
    rows.iter()
        .map(|row| {
            let created_ms: i64 = col(row, "created_at")?;
            Ok(MovementRecord {
                id: uuid_col(row, "id")?,
                location_id: col(row, "location_id")?,
                sku_id: uuid_col(row, "sku_id")?,
                kind: col(row, "kind")?,
                on_hand_delta: col(row, "on_hand_delta")?,
                reserved_delta: col(row, "reserved_delta")?,
                reason: col(row, "reason")?,
                actor: col(row, "actor")?,
                ref_id: col(row, "ref_id")?,
                client_ts: from_ms(col(row, "client_ts")?),
                created_at: from_ms(created_ms),
                created_ms,
            })
        })
        .collect()
}

/// A store's available quantity of one SKU.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StoreAvailability {
    /// Store code.
    pub location_id: String,
    /// Store name (Chinese).
    pub name_zh: String,
    /// Store name (English).
    pub name_en: String,
    /// City.
    pub city: String,
    /// Street address.
    pub address: String,
    /// Available to pick up today (never below zero).
    pub available: i64,
}

/// Available quantity of `sku_id` at every store that has its product on the shelf (0 where it
/// is not stocked), by store code.
pub async fn availability(store: &Store, sku_id: Uuid) -> AppResult<Vec<StoreAvailability>> {
    let rows = sqlx::query(
        "SELECT l.id, l.name_zh, l.name_en, l.city, l.address, st.on_hand, st.reserved \
         FROM locations l LEFT JOIN stock st ON st.location_id = l.id AND st.sku_id = $1 \
         WHERE l.kind = 'store' AND NOT EXISTS (SELECT 1 FROM store_shelf ss JOIN skus k \
           ON k.product_id = ss.product_id WHERE k.id = $1 AND ss.location_id = l.id) \
         ORDER BY l.id",
    )
    .bind(sku_id.to_string())
    .fetch_all(store.reader())
    .await?;
    rows.iter()
        .map(|row| {
            let on_hand: Option<i64> = col(row, "on_hand")?;
            let reserved: Option<i64> = col(row, "reserved")?;
            Ok(StoreAvailability {
                location_id: col(row, "id")?,
                name_zh: col(row, "name_zh")?,
                name_en: col(row, "name_en")?,
                city: col(row, "city")?,
                address: col(row, "address")?,
                available: (on_hand.unwrap_or(0) - reserved.unwrap_or(0)).max(0),
            })
        })
        .collect()
}

/// The SKUs of `skus` that do not exist (in the order given).
pub async fn missing_skus(store: &Store, skus: &[Uuid]) -> AppResult<Vec<Uuid>> {
    let mut found: HashSet<Uuid> = HashSet::new();
    let mut unique: Vec<String> = skus.iter().map(Uuid::to_string).collect();
    unique.sort();
    unique.dedup();
    for chunk in unique.chunks(500) {
        let sql = format!(
            "SELECT id FROM skus WHERE id IN ({})",
            placeholders(1, chunk.len())
        );
        let mut query = sqlx::query(&sql);
        for id in chunk {
            query = query.bind(id);
        }
        for row in query.fetch_all(store.reader()).await? {
            found.insert(uuid_col(&row, "id")?);
        }
    }
    Ok(skus
        .iter()
        .filter(|s| !found.contains(s))
        .copied()
        .collect())
}

// ---------------------------------------------------------------------------------------------
// Ledger consistency.
// ---------------------------------------------------------------------------------------------

/// Every (location, SKU) whose snapshot differs from its ledger's sums, as (location_id, sku_id,
/// snapshot_on_hand, ledger_on_hand, snapshot_reserved, ledger_reserved); empty means the
/// snapshot equals the ledger everywhere (a ledger without a snapshot row counts as snapshot 0).
pub async fn ledger_mismatches(
    store: &Store,
) -> AppResult<Vec<(String, uuid::Uuid, i64, i64, i64, i64)>> {
    let rows = sqlx::query(
        "SELECT location_id, sku_id, \
         CAST(COALESCE(SUM(snap_on_hand), 0) AS BIGINT) AS snapshot_on_hand, \
         CAST(COALESCE(SUM(ledger_on_hand), 0) AS BIGINT) AS ledger_on_hand, \
         CAST(COALESCE(SUM(snap_reserved), 0) AS BIGINT) AS snapshot_reserved, \
         CAST(COALESCE(SUM(ledger_reserved), 0) AS BIGINT) AS ledger_reserved \
         FROM (SELECT location_id, sku_id, on_hand AS snap_on_hand, reserved AS snap_reserved, \
                      CAST(0 AS BIGINT) AS ledger_on_hand, CAST(0 AS BIGINT) AS ledger_reserved FROM stock \
               UNION ALL \
               SELECT location_id, sku_id, CAST(0 AS BIGINT), CAST(0 AS BIGINT), on_hand_delta, reserved_delta \
               FROM stock_movements) t \
         GROUP BY location_id, sku_id \
         HAVING COALESCE(SUM(snap_on_hand), 0) <> COALESCE(SUM(ledger_on_hand), 0) \
             OR COALESCE(SUM(snap_reserved), 0) <> COALESCE(SUM(ledger_reserved), 0) \
         ORDER BY location_id, sku_id",
    )
    .fetch_all(store.reader())
    .await?;
    rows.iter()
        .map(|row| {
            Ok((
                col(row, "location_id")?,
                uuid_col(row, "sku_id")?,
                col(row, "snapshot_on_hand")?,
                col(row, "ledger_on_hand")?,
                col(row, "snapshot_reserved")?,
                col(row, "ledger_reserved")?,
            ))
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Counts, adjustments and receipts (idempotent by their client id).
// ---------------------------------------------------------------------------------------------

/// Makes sure a stock row exists for each SKU (an empty one where none did: that equals its empty
/// ledger), then locks and reads them in SKU order: sku → (on_hand, reserved).
pub(crate) async fn lock_rows(
    tx: &mut Tx,
    store: &Store,
    location_id: &str,
    skus: &[Uuid],
    create_missing: bool,
) -> AppResult<HashMap<Uuid, (i64, i64)>> {
    let mut sorted: Vec<String> = skus.iter().map(Uuid::to_string).collect();
    sorted.sort();
    sorted.dedup();
    if create_missing {
        let now = now_ms();
        for sku in &sorted {
            sqlx::query(
                "INSERT INTO stock (location_id, sku_id, on_hand, reserved, low_stock_threshold, updated_at) \
                 VALUES ($1, $2, 0, 0, 0, $3) ON CONFLICT (location_id, sku_id) DO NOTHING",
            )
            .bind(location_id)
            .bind(sku)
            .bind(now)
            .execute(&mut **tx)
            .await?;
        }
    }
    let mut levels = HashMap::new();
    for chunk in sorted.chunks(500) {
        let sql = format!(
            "SELECT sku_id, on_hand, reserved FROM stock WHERE location_id = $1 AND sku_id IN ({}) \
             ORDER BY sku_id{}",
            placeholders(2, chunk.len()),
            store.for_update()
        );
        let mut query = sqlx::query(&sql).bind(location_id);
        for sku in chunk {
            query = query.bind(sku);
        }
        for row in query.fetch_all(&mut **tx).await? {
            levels.insert(
                uuid_col(&row, "sku_id")?,
                (col(&row, "on_hand")?, col(&row, "reserved")?),
            );
        }
    }
    Ok(levels)
}

/// The first result of the stock operation `id` (`action` in the audit log), if it ran already.
/// An id used for another kind of operation, or at another location, is a conflict.
async fn prior_result<T: DeserializeOwned>(
    tx: &mut Tx,
    id: Uuid,
    action: &str,
    location_id: &str,
) -> AppResult<Option<T>> {
    let sql = format!(
        "SELECT action, detail FROM audit_log WHERE entity_id = $1 AND action IN ({}) ORDER BY at, id LIMIT 1",
        placeholders(2, OPERATION_ACTIONS.len())
    );
    let mut query = sqlx::query(&sql).bind(id.to_string());
    for a in OPERATION_ACTIONS {
        query = query.bind(a);
    }
    let Some(row) = query.fetch_optional(&mut **tx).await? else {
        return Ok(None);
    };
    let found: String = col(&row, "action")?;
    let detail: String = col(&row, "detail")?;
    if found != action {
        return Err(AppError::conflict(
            "id_in_use",
            format!("id {id} was already used for another stock operation ({found})"),
        ));
    }
    let value: serde_json::Value =
        serde_json::from_str(&detail).map_err(|e| AppError::Internal(anyhow::Error::new(e)))?;
    if value.get("location_id").and_then(|l| l.as_str()) != Some(location_id) {
        return Err(AppError::conflict(
            "id_in_use",
            format!("id {id} was already used at another location"),
        ));
    }
    serde_json::from_value(value)
        .map(Some)
        .map_err(|e| AppError::Internal(anyhow::Error::new(e).context("stored stock operation")))
}

/// A stock count: the counted quantities of some SKUs at one location.
#[derive(Debug, Clone)]
pub struct CountInput {
    /// Client id (UUIDv7).
    pub id: Uuid,
    /// Where.
    pub location_id: String,
    /// (SKU, counted), each SKU once.
    pub lines: Vec<(Uuid, i64)>,
    /// Why (may be empty).
    pub reason: String,
}

/// One counted SKU.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CountedLine {
    /// SKU.
    pub sku_id: Uuid,
    /// On hand before the count.
    pub before: i64,
    /// Counted (now on hand).
    pub counted: i64,
    /// `counted − before` (the `count_adjustment` movement; none when 0).
    pub delta: i64,
}

/// The result of a stock count.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CountResult {
    /// The count's client id (`ref_id` of its movements).
    pub id: Uuid,
    /// Where.
    pub location_id: String,
    /// Why.
    pub reason: String,
    /// Each counted SKU.
    pub lines: Vec<CountedLine>,
    /// Who.
    pub actor: String,
    /// When it was applied (RFC 3339).
    pub at: DateTime<Utc>,
}

/// Applies a count: on hand of each SKU becomes the counted quantity, with a `count_adjustment`
/// movement per changed SKU, atomically. A retry (same id) returns the first result and changes
/// nothing.
pub async fn count(store: &Store, input: &CountInput, actor: &str) -> AppResult<CountResult> {
    let mut tx = store.begin().await?;
    let skus: Vec<Uuid> = input.lines.iter().map(|(s, _)| *s).collect();
    let levels = lock_rows(&mut tx, store, &input.location_id, &skus, true).await?;
    if let Some(prior) = prior_result(&mut tx, input.id, "stock.count", &input.location_id).await? {
        tx.rollback().await?;
        return Ok(prior);
    }
    let now = now_ms();
    let mut lines: Vec<CountedLine> = input
        .lines
        .iter()
        .map(|&(sku_id, counted)| {
            let before = levels.get(&sku_id).map(|l| l.0).unwrap_or(0);
            CountedLine {
                sku_id,
                before,
                counted,
                delta: counted - before,
            }
        })
        .collect();
    lines.sort_by_key(|l| l.sku_id.to_string());
    let ref_id = input.id.to_string();
    let movements: Vec<Movement<'_>> = lines
        .iter()
        .filter(|l| l.delta != 0)
        .map(|l| Movement {
            location_id: &input.location_id,
            sku_id: l.sku_id,
            kind: MovementKind::CountAdjustment,
            on_hand_delta: l.delta,
            reserved_delta: 0,
            reason: &input.reason,
            actor,
            ref_id: Some(&ref_id),
            client_ts: now,
        })
        .collect();
    apply_movements(&mut tx, &movements).await?;
    let result = CountResult {
        id: input.id,
        location_id: input.location_id.clone(),
        reason: input.reason.clone(),
        lines,
        actor: actor.to_owned(),
        at: from_ms(now),
    };
    audit::record(
        &mut tx,
        actor,
        "stock.count",
        "stock_count",
        &ref_id,
        to_json(&result)?,
    )
    .await?;
    tx.commit().await?;
    Ok(result)
}

fn to_json<T: Serialize>(value: &T) -> AppResult<serde_json::Value> {
    serde_json::to_value(value).map_err(|e| AppError::Internal(anyhow::Error::new(e)))
}

/// A manual adjustment of one SKU at one location.
#[derive(Debug, Clone)]
pub struct AdjustInput {
    /// Client id (UUIDv7).
    pub id: Uuid,
    /// Where.
    pub location_id: String,
    /// What.
    pub sku_id: Uuid,
    /// Change to on hand (≠ 0).
    pub delta: i64,
    /// Why (damage, loss, found…), not empty.
    pub reason: String,
}

/// The result of a manual adjustment.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AdjustmentResult {
    /// The adjustment's client id (`ref_id` of its movement).
    pub id: Uuid,
    /// Where.
    pub location_id: String,
    /// What.
    pub sku_id: Uuid,
    /// Change to on hand.
    pub delta: i64,
    /// Why.
    pub reason: String,
    /// On hand before.
    pub on_hand_before: i64,
    /// On hand after.
    pub on_hand_after: i64,
    /// Who.
    pub actor: String,
    /// When (RFC 3339).
    pub at: DateTime<Utc>,
}

/// Applies a manual adjustment (an `adjustment` movement). Refused with 409 `insufficient_stock`
/// when it would take on hand below zero (a count corrects such stock). Idempotent by id.
pub async fn adjust(
    store: &Store,
    input: &AdjustInput,
    actor: &str,
) -> AppResult<AdjustmentResult> {
    let mut tx = store.begin().await?;
    let levels = lock_rows(&mut tx, store, &input.location_id, &[input.sku_id], true).await?;
    if let Some(prior) = prior_result(&mut tx, input.id, "stock.adjust", &input.location_id).await?
    {
        tx.rollback().await?;
        return Ok(prior);
    }
    let before = levels.get(&input.sku_id).map(|l| l.0).unwrap_or(0);
    let after = before + input.delta;
    if input.delta < 0 && after < 0 {
        return Err(AppError::conflict(
            "insufficient_stock",
            format!(
                "on hand is {before} at {}: cannot remove {}; count the stock instead",
                input.location_id, -input.delta
            ),
        ));
    }
    let now = now_ms();
    let ref_id = input.id.to_string();
    apply_movements(
        &mut tx,
        &[Movement {
            location_id: &input.location_id,
            sku_id: input.sku_id,
            kind: MovementKind::Adjustment,
            on_hand_delta: input.delta,
            reserved_delta: 0,
            reason: &input.reason,
            actor,
            ref_id: Some(&ref_id),
            client_ts: now,
        }],
    )
    .await?;
    let result = AdjustmentResult {
        id: input.id,
        location_id: input.location_id.clone(),
        sku_id: input.sku_id,
        delta: input.delta,
        reason: input.reason.clone(),
        on_hand_before: before,
        on_hand_after: after,
        actor: actor.to_owned(),
        at: from_ms(now),
    };
    audit::record(
        &mut tx,
        actor,
        "stock.adjust",
        "stock_adjustment",
        &ref_id,
        to_json(&result)?,
    )
    .await?;
    tx.commit().await?;
    Ok(result)
}

/// Goods received from a supplier at one location.
#[derive(Debug, Clone)]
pub struct ReceiptInput {
    /// Client id (UUIDv7).
    pub id: Uuid,
    /// Where.
    pub location_id: String,
    /// (SKU, qty > 0), each SKU once.
    pub lines: Vec<(Uuid, i64)>,
    /// Why / supplier reference (may be empty).
    pub reason: String,
}

/// One received SKU.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ReceivedLine {
    /// SKU.
    pub sku_id: Uuid,
    /// Quantity received.
    pub qty: i64,
    /// On hand after the receipt.
    pub on_hand_after: i64,
}

/// The result of a supplier receipt.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ReceiptResult {
    /// The receipt's client id (`ref_id` of its movements).
    pub id: Uuid,
    /// Where.
    pub location_id: String,
    /// Why / supplier reference.
    pub reason: String,
    /// Each received SKU.
    pub lines: Vec<ReceivedLine>,
    /// Who.
    pub actor: String,
    /// When (RFC 3339).
    pub at: DateTime<Utc>,
}

/// Books a supplier receipt (`receipt` movements). Idempotent by id.
pub async fn receive_goods(
    store: &Store,
    input: &ReceiptInput,
    actor: &str,
) -> AppResult<ReceiptResult> {
    let mut tx = store.begin().await?;
    let skus: Vec<Uuid> = input.lines.iter().map(|(s, _)| *s).collect();
    let levels = lock_rows(&mut tx, store, &input.location_id, &skus, true).await?;
    if let Some(prior) =
        prior_result(&mut tx, input.id, "stock.receipt", &input.location_id).await?
    {
        tx.rollback().await?;
        return Ok(prior);
    }
    let now = now_ms();
    let ref_id = input.id.to_string();
    let mut lines: Vec<ReceivedLine> = input
        .lines
        .iter()
        .map(|&(sku_id, qty)| ReceivedLine {
            sku_id,
            qty,
            on_hand_after: levels.get(&sku_id).map(|l| l.0).unwrap_or(0) + qty,
        })
        .collect();
    lines.sort_by_key(|l| l.sku_id.to_string());
    let movements: Vec<Movement<'_>> = lines
        .iter()
        .map(|l| Movement {
            location_id: &input.location_id,
            sku_id: l.sku_id,
            kind: MovementKind::Receipt,
            on_hand_delta: l.qty,
            reserved_delta: 0,
            reason: &input.reason,
            actor,
            ref_id: Some(&ref_id),
            client_ts: now,
        })
        .collect();
    apply_movements(&mut tx, &movements).await?;
    let result = ReceiptResult {
        id: input.id,
        location_id: input.location_id.clone(),
        reason: input.reason.clone(),
        lines,
        actor: actor.to_owned(),
        at: from_ms(now),
    };
    audit::record(
        &mut tx,
        actor,
        "stock.receipt",
        "stock_receipt",
        &ref_id,
        to_json(&result)?,
    )
    .await?;
    tx.commit().await?;
    Ok(result)
}

/// Sets the low-stock threshold of one SKU at one location (creating an empty stock row where
/// there was none), audited as `stock.threshold`.
pub async fn set_threshold(
    store: &Store,
    location_id: &str,
    sku_id: Uuid,
    threshold: i64,
    actor: &str,
) -> AppResult<()> {
    let mut tx = store.begin().await?;
    let sql = format!(
        "SELECT low_stock_threshold FROM stock WHERE location_id = $1 AND sku_id = $2{}",
        store.for_update()
    );
    let before: Option<i64> = sqlx::query(&sql)
        .bind(location_id)
        .bind(sku_id.to_string())
        .fetch_optional(&mut *tx)
        .await?
        .map(|row| col(&row, "low_stock_threshold"))
        .transpose()?;
    sqlx::query(
        "INSERT INTO stock (location_id, sku_id, on_hand, reserved, low_stock_threshold, updated_at) \
         VALUES ($1, $2, 0, 0, $3, $4) ON CONFLICT (location_id, sku_id) \
         DO UPDATE SET low_stock_threshold = excluded.low_stock_threshold",
    )
    .bind(location_id)
    .bind(sku_id.to_string())
    .bind(threshold)
    .bind(now_ms())
    .execute(&mut *tx)
    .await?;
    if before != Some(threshold) {
        audit::record(
            &mut tx,
            actor,
            "stock.threshold",
            "stock",
            &format!("{location_id}/{sku_id}"),
            serde_json::json!({"location_id": location_id, "sku_id": sku_id, "before": before.unwrap_or(0), "after": threshold}),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Transfers between locations.
// ---------------------------------------------------------------------------------------------

/// One line of a transfer.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TransferLine {
    /// SKU.
    pub sku_id: Uuid,
    /// Quantity shipped.
    pub qty: i64,
}

/// A transfer of stock between two locations.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Transfer {
    /// Client id (`ref_id` of its movements).
    pub id: Uuid,
    /// Source location.
    pub from_location_id: String,
    /// Destination location.
    pub to_location_id: String,
    /// `in_transit` or `received`.
    pub status: String,
    /// Note.
    pub note: String,
    /// Who shipped it.
    pub created_by: String,
    /// When it was shipped (RFC 3339).
    pub shipped_at: DateTime<Utc>,
    /// Who received it.
    pub received_by: Option<String>,
    /// When it was received (RFC 3339).
    pub received_at: Option<DateTime<Utc>>,
    /// The lines, by SKU.
    pub lines: Vec<TransferLine>,
    /// Ship time in Unix milliseconds (part of the page cursor).
    #[serde(skip)]
    pub shipped_ms: i64,
}

const TRANSFER_COLUMNS: &str =
    "id, from_location, to_location, status, note, created_by, shipped_at, received_by, received_at";

fn transfer_from_row(row: &AnyRow) -> AppResult<Transfer> {
    let shipped_ms: i64 = col(row, "shipped_at")?;
    Ok(Transfer {
        id: uuid_col(row, "id")?,
        from_location_id: col(row, "from_location")?,
        to_location_id: col(row, "to_location")?,
        status: col(row, "status")?,
        note: col(row, "note")?,
        created_by: col(row, "created_by")?,
        shipped_at: from_ms(shipped_ms),
        received_by: col(row, "received_by")?,
        received_at: col::<Option<i64>>(row, "received_at")?.map(from_ms),
        lines: Vec::new(),
        shipped_ms,
    })
}

/// Fills in the lines of `transfers`.
async fn attach_lines(conn: &mut AnyConnection, transfers: &mut [Transfer]) -> AppResult<()> {
    if transfers.is_empty() {
        return Ok(());
    }
    let ids: Vec<String> = transfers.iter().map(|t| t.id.to_string()).collect();
    let mut lines: HashMap<Uuid, Vec<TransferLine>> = HashMap::new();
    for chunk in ids.chunks(500) {
        let sql = format!(
            "SELECT transfer_id, sku_id, qty FROM transfer_lines WHERE transfer_id IN ({}) ORDER BY transfer_id, sku_id",
            placeholders(1, chunk.len())
        );
        let mut query = sqlx::query(&sql);
        for id in chunk {
            query = query.bind(id);
        }
        for row in query.fetch_all(&mut *conn).await? {
            lines
                .entry(uuid_col(&row, "transfer_id")?)
                .or_default()
                .push(TransferLine {
                    sku_id: uuid_col(&row, "sku_id")?,
                    qty: col(&row, "qty")?,
                });
        }
    }
    for t in transfers.iter_mut() {
        t.lines = lines.remove(&t.id).unwrap_or_default();
    }
    Ok(())
}

async fn load_transfer(
    conn: &mut AnyConnection,
    id: Uuid,
    lock: &str,
) -> AppResult<Option<Transfer>> {
    let sql = format!("SELECT {TRANSFER_COLUMNS} FROM transfers WHERE id = $1{lock}");
    let Some(row) = sqlx::query(&sql)
        .bind(id.to_string())
        .fetch_optional(&mut *conn)
        .await?
    else {
        return Ok(None);
    };
    let mut transfers = [transfer_from_row(&row)?];
    attach_lines(conn, &mut transfers).await?;
    let [transfer] = transfers;
    Ok(Some(transfer))
}

/// One transfer.
pub async fn get_transfer(store: &Store, id: Uuid) -> AppResult<Transfer> {
    let mut conn = store.reader().acquire().await?;
    load_transfer(&mut conn, id, "")
        .await?
        .ok_or_else(|| AppError::not_found(format!("transfer {id} not found")))
}

/// Which transfers to list.
#[derive(Debug, Clone, Default)]
pub struct TransferFilter {
    /// Only transfers from or to this location.
    pub location_id: Option<String>,
    /// Only this status.
    pub status: Option<String>,
    /// Continue after this (shipped_at ms, id), the last row of the previous page.
    pub after: Option<(i64, Uuid)>,
    /// Page size.
    pub limit: i64,
}

/// Transfers, newest first.
pub async fn list_transfers(store: &Store, filter: &TransferFilter) -> AppResult<Vec<Transfer>> {
    let sql = format!(
        "SELECT {TRANSFER_COLUMNS} FROM transfers \
         WHERE ($1 IS NULL OR from_location = $1 OR to_location = $1) AND ($2 IS NULL OR status = $2) \
         AND ($3 IS NULL OR shipped_at < $3 OR (shipped_at = $3 AND id < $4)) \
         ORDER BY shipped_at DESC, id DESC LIMIT $5"
    );
    let mut conn = store.reader().acquire().await?;
    let rows = sqlx::query(&sql)
        .bind(filter.location_id.as_deref())
        .bind(filter.status.as_deref())
        .bind(filter.after.map(|(at, _)| at))
        .bind(filter.after.map(|(_, id)| id.to_string()))
        .bind(filter.limit)
        .fetch_all(&mut *conn)
        .await?;
    let mut transfers = rows
        .iter()
        .map(transfer_from_row)
        .collect::<AppResult<Vec<_>>>()?;
    attach_lines(&mut conn, &mut transfers).await?;
    Ok(transfers)
}

/// A transfer to ship.
#[derive(Debug, Clone)]
pub struct TransferInput {
    /// Client id (UUIDv7).
    pub id: Uuid,
    /// Source.
    pub from_location_id: String,
    /// Destination.
    pub to_location_id: String,
    /// (SKU, qty > 0), each SKU once.
    pub lines: Vec<(Uuid, i64)>,
    /// Note.
    pub note: String,
}

/// Ships a transfer at once: `transfer_out` movements at the source, status `in_transit`.
/// Refused with 409 `out_of_stock` (nothing changed) when a line exceeds the source's available
/// quantity. Idempotent by id: a retry returns the transfer as it is now.
pub async fn create_transfer(
    store: &Store,
    input: &TransferInput,
    actor: &str,
) -> AppResult<Transfer> {
    let mut tx = store.begin().await?;
    let ref_id = input.id.to_string();
    if let Some(existing) = load_transfer(&mut tx, input.id, "").await? {
        tx.rollback().await?;
        return same_transfer(existing, input);
    }
    let skus: Vec<Uuid> = input.lines.iter().map(|(s, _)| *s).collect();
    let levels = lock_rows(&mut tx, store, &input.from_location_id, &skus, false).await?;
    let mut lines: Vec<(Uuid, i64)> = input.lines.clone();
    lines.sort_by_key(|(sku, _)| sku.to_string());
    for &(sku, qty) in &lines {
        let available = levels
            .get(&sku)
            .map(|(on_hand, reserved)| on_hand - reserved)
            .unwrap_or(0);
        if qty > available {
            return Err(AppError::conflict(
                "out_of_stock",
                format!(
                    "only {} of SKU {sku} available at {}, cannot ship {qty}",
                    available.max(0),
                    input.from_location_id
                ),
            ));
        }
    }
    let now = now_ms();
    let inserted = sqlx::query(
        "INSERT INTO transfers (id, from_location, to_location, status, note, created_by, shipped_at) \
         VALUES ($1, $2, $3, 'in_transit', $4, $5, $6) ON CONFLICT (id) DO NOTHING",
    )
    .bind(&ref_id)
    .bind(&input.from_location_id)
    .bind(&input.to_location_id)
    .bind(&input.note)
    .bind(actor)
    .bind(now)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if inserted == 0 {
        // The same id, shipped concurrently: answer with that one.
        tx.rollback().await?;
        return same_transfer(get_transfer(store, input.id).await?, input);
    }
    for &(sku, qty) in &lines {
        sqlx::query("INSERT INTO transfer_lines (transfer_id, sku_id, qty) VALUES ($1, $2, $3)")
            .bind(&ref_id)
            .bind(sku.to_string())
            .bind(qty)
            .execute(&mut *tx)
            .await?;
    }
    let reason = format!("transfer to {}", input.to_location_id);
    let movements: Vec<Movement<'_>> = lines
        .iter()
        .map(|&(sku_id, qty)| Movement {
            location_id: &input.from_location_id,
            sku_id,
            kind: MovementKind::TransferOut,
            on_hand_delta: -qty,
            reserved_delta: 0,
            reason: &reason,
            actor,
            ref_id: Some(&ref_id),
            client_ts: now,
        })
        .collect();
    apply_movements(&mut tx, &movements).await?;
    audit::record(
        &mut tx,
        actor,
        "stock.transfer",
        "transfer",
        &ref_id,
        serde_json::json!({
            "from_location_id": input.from_location_id,
            "to_location_id": input.to_location_id,
            "lines": lines.iter().map(|(sku, qty)| serde_json::json!({"sku_id": sku, "qty": qty})).collect::<Vec<_>>(),
            "note": input.note,
        }),
    )
    .await?;
    let transfer = load_transfer(&mut tx, input.id, "")
        .await?
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("transfer {} vanished", input.id)))?;
    tx.commit().await?;
    Ok(transfer)
}

/// A retry must name the same route; the id of another transfer is a conflict.
fn same_transfer(existing: Transfer, input: &TransferInput) -> AppResult<Transfer> {
    if existing.from_location_id != input.from_location_id
        || existing.to_location_id != input.to_location_id
    {
        return Err(AppError::conflict(
            "id_in_use",
            format!(
                "transfer {} already exists between other locations",
                input.id
            ),
        ));
    }
    Ok(existing)
}

/// Receives a transfer at its destination: `transfer_in` movements, status `received`. Receiving
/// a received transfer returns it unchanged.
pub async fn receive_transfer(store: &Store, id: Uuid, actor: &str) -> AppResult<Transfer> {
    let mut tx = store.begin().await?;
    let transfer = load_transfer(&mut tx, id, store.for_update())
        .await?
        .ok_or_else(|| AppError::not_found(format!("transfer {id} not found")))?;
    if transfer.status == "received" {
        tx.rollback().await?;
        return Ok(transfer);
    }
    let now = now_ms();
    let ref_id = id.to_string();
    let changed = sqlx::query(
        "UPDATE transfers SET status = 'received', received_by = $2, received_at = $3 \
         WHERE id = $1 AND status = 'in_transit'",
    )
    .bind(&ref_id)
    .bind(actor)
    .bind(now)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if changed != 1 {
        tx.rollback().await?;
        return get_transfer(store, id).await;
    }
    let reason = format!("transfer from {}", transfer.from_location_id);
    let movements: Vec<Movement<'_>> = transfer
        .lines
        .iter()
        .map(|l| Movement {
            location_id: &transfer.to_location_id,
            sku_id: l.sku_id,
            kind: MovementKind::TransferIn,
            on_hand_delta: l.qty,
            reserved_delta: 0,
            reason: &reason,
            actor,
            ref_id: Some(&ref_id),
            client_ts: now,
        })
        .collect();
    apply_movements(&mut tx, &movements).await?;
    audit::record(
        &mut tx,
        actor,
        "stock.transfer_receive",
        "transfer",
        &ref_id,
        serde_json::json!({"to_location_id": transfer.to_location_id}),
    )
    .await?;
    let received = load_transfer(&mut tx, id, "")
        .await?
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("transfer {id} vanished")))?;
    tx.commit().await?;
    Ok(received)
}
