//! Fresh-food processes (issue 21): shrink and waste (报损) with a reason and photos, splitting
//! a case into units and re-packing (组装拆分), and the shrink report by store and category.
//!
//! Both write `adjustment` movements through [`super::stock::apply_movements`] in the
//! transaction that keeps the record, are keyed by the client id (a replay answers with the
//! first result) and never take on hand below zero.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::any::AnyRow;
use utoipa::ToSchema;
use uuid::Uuid;

use super::stock::{apply_movements, lock_rows, Movement, MovementKind};
use super::store_ops::{sku_labels, SkuLabel, LIST_LIMIT};
use super::{audit, col, from_ms, now_ms, uuid_col, Store};
use crate::error::{AppError, AppResult};

/// Why goods were written off.
pub const SHRINK_REASONS: [&str; 5] = ["expired", "damaged", "quality", "theft", "other"];

/// A write-off to record.
#[derive(Debug, Clone)]
pub struct ShrinkInput {
    /// Client id (UUIDv7).
    pub id: Uuid,
    /// Where.
    pub location_id: String,
    /// What.
    pub sku_id: Uuid,
    /// How many (> 0).
    pub qty: i64,
    /// One of [`SHRINK_REASONS`].
    pub reason: String,
    /// Free text.
    pub note: String,
    /// Names of kept images (the media store).
    pub photos: Vec<String>,
}

/// A recorded write-off.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ShrinkRecord {
    /// Client id (`ref_id` of its movement).
    pub id: Uuid,
    /// Where.
    pub location_id: String,
    /// What.
    pub sku_id: Uuid,
    /// Names.
    #[serde(flatten)]
    pub label: SkuLabel,
    /// The product's category.
    pub category_id: String,
    /// How many.
    pub qty: i64,
    /// Unit price at the time (fen).
    pub unit_price_fen: i64,
    /// Why.
    pub reason: String,
    /// Note.
    pub note: String,
    /// Kept image names.
    pub photos: Vec<String>,
    /// Who.
    pub actor: String,
    /// When (RFC 3339).
    pub created_at: DateTime<Utc>,
}

const SHRINK_COLUMNS: &str =
    "id, location_id, sku_id, category_id, qty, unit_price, reason, note, photos, actor, created_at";

fn shrink_from_row(row: &AnyRow) -> AppResult<ShrinkRecord> {
    let photos: String = col(row, "photos")?;
    Ok(ShrinkRecord {
        id: uuid_col(row, "id")?,
        location_id: col(row, "location_id")?,
        sku_id: uuid_col(row, "sku_id")?,
        label: SkuLabel::default(),
        category_id: col(row, "category_id")?,
        qty: col(row, "qty")?,
        unit_price_fen: col(row, "unit_price")?,
        reason: col(row, "reason")?,
        note: col(row, "note")?,
        photos: serde_json::from_str(&photos).unwrap_or_default(),
        actor: col(row, "actor")?,
        created_at: from_ms(col(row, "created_at")?),
    })
}

async fn label_shrink(store: &Store, records: &mut [ShrinkRecord]) -> AppResult<()> {
    let skus: Vec<Uuid> = records.iter().map(|r| r.sku_id).collect();
    let labels = sku_labels(store, &skus).await?;
    for r in records.iter_mut() {
        r.label = labels.get(&r.sku_id).cloned().unwrap_or_default();
    }
    Ok(())
}

/// One write-off.
pub async fn get_shrink(store: &Store, id: Uuid) -> AppResult<ShrinkRecord> {
    let row = sqlx::query(&format!(
        "SELECT {SHRINK_COLUMNS} FROM shrink_records WHERE id = $1"
    ))
    .bind(id.to_string())
    .fetch_optional(store.reader())
    .await?
    .ok_or_else(|| AppError::not_found(format!("shrink record {id} not found")))?;
    let mut records = [shrink_from_row(&row)?];
    label_shrink(store, &mut records).await?;
    let [record] = records;
    Ok(record)
}

/// Write-offs between `from_ms` (inclusive) and `to_ms` (exclusive), newest first.
pub async fn list_shrink(
    store: &Store,
    location: Option<&str>,
    from_ms: i64,
    to_ms: i64,
) -> AppResult<Vec<ShrinkRecord>> {
    let rows = sqlx::query(&format!(
        "SELECT {SHRINK_COLUMNS} FROM shrink_records \
         WHERE ($1 IS NULL OR location_id = $1) AND created_at >= $2 AND created_at < $3 \
         ORDER BY created_at DESC, id DESC LIMIT $4"
    ))
    .bind(location)
    .bind(from_ms)
    .bind(to_ms)
    .bind(LIST_LIMIT)
    .fetch_all(store.reader())
    .await?;
    let mut records = rows
        .iter()
        .map(shrink_from_row)
        .collect::<AppResult<Vec<_>>>()?;
    label_shrink(store, &mut records).await?;
    Ok(records)
}

/// Records a write-off: an `adjustment` movement taking `qty` off on hand (reason
/// `shrink:<reason>`), the record with the product's category and the SKU's effective price at
/// the location, audited as `stock.shrink`; one transaction. More than on hand is refused (409
/// `insufficient_stock`, nothing changed). Idempotent by id.
pub async fn record_shrink(
    store: &Store,
    input: &ShrinkInput,
    actor: &str,
) -> AppResult<ShrinkRecord> {
    let mut tx = store.begin().await?;
    let levels = lock_rows(&mut tx, store, &input.location_id, &[input.sku_id], true).await?;
    let prior = sqlx::query("SELECT location_id FROM shrink_records WHERE id = $1")
        .bind(input.id.to_string())
        .fetch_optional(&mut *tx)
        .await?;
    if let Some(prior) = prior {
        tx.rollback().await?;
        if col::<String>(&prior, "location_id")? != input.location_id {
            return Err(AppError::conflict(
                "id_in_use",
                format!("id {} was already used at another location", input.id),
            ));
        }
        return get_shrink(store, input.id).await;
    }
    let on_hand = levels.get(&input.sku_id).map(|l| l.0).unwrap_or(0);
    if input.qty > on_hand {
        return Err(AppError::conflict(
            "insufficient_stock",
            format!(
                "on hand is {} at {}: cannot write off {}",
                on_hand.max(0),
                input.location_id,
                input.qty
            ),
        ));
    }
    let row = sqlx::query(
        "SELECT p.category_id, COALESCE(sp.price_fen, s.price_fen) AS unit_price FROM skus s \
         JOIN products p ON p.id = s.product_id \
         LEFT JOIN store_prices sp ON sp.sku_id = s.id AND sp.location_id = $2 WHERE s.id = $1",
    )
    .bind(input.sku_id.to_string())
    .bind(&input.location_id)
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(|| AppError::not_found(format!("SKU {} not found", input.sku_id)))?;
    let category: String = col(&row, "category_id")?;
    let unit_price: i64 = col(&row, "unit_price")?;
    let now = now_ms();
    let id = input.id.to_string();
    let photos = serde_json::to_string(&input.photos)
        .map_err(|e| AppError::Internal(anyhow::Error::new(e)))?;
    sqlx::query(
        "INSERT INTO shrink_records (id, location_id, sku_id, category_id, qty, unit_price, reason, note, photos, actor, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(&id)
    .bind(&input.location_id)
    .bind(input.sku_id.to_string())
    .bind(&category)
    .bind(input.qty)
    .bind(unit_price)
    .bind(&input.reason)
    .bind(&input.note)
    .bind(&photos)
    .bind(actor)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    let reason = format!("shrink:{}", input.reason);
    apply_movements(
        &mut tx,
        &[Movement {
            location_id: &input.location_id,
            sku_id: input.sku_id,
            kind: MovementKind::Adjustment,
            on_hand_delta: -input.qty,
            reserved_delta: 0,
            reason: &reason,
            actor,
            ref_id: Some(&id),
            client_ts: now,
        }],
    )
    .await?;
    audit::record(
        &mut tx,
        actor,
        "stock.shrink",
        "shrink",
        &id,
        serde_json::json!({
            "location_id": input.location_id, "sku_id": input.sku_id, "qty": input.qty,
            "reason": input.reason, "photos": input.photos,
        }),
    )
    .await?;
    tx.commit().await?;
    get_shrink(store, input.id).await
}

/// One row of the shrink report: a store's write-offs in one category.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ShrinkReportRow {
    /// Store.
    pub location_id: String,
    /// Category.
    pub category_id: String,
    /// Category name (Chinese).
    pub category_zh: String,
    /// Category name (English).
    pub category_en: String,
    /// Write-offs.
    pub records: i64,
    /// Units written off.
    pub qty: i64,
    /// Their value at the prices of the time (fen).
    pub value_fen: i64,
    /// Units by reason.
    pub by_reason: BTreeMap<String, i64>,
}

/// Shrink by store and category between `from_ms` (inclusive) and `to_ms` (exclusive), of one
/// store or all, ordered by store then value (largest first).
pub async fn report(
    store: &Store,
    location: Option<&str>,
    from_ms: i64,
    to_ms: i64,
) -> AppResult<Vec<ShrinkReportRow>> {
    let rows = sqlx::query(
        "SELECT r.location_id, r.category_id, r.reason, COALESCE(c.name_zh, r.category_id) AS category_zh, \
         COALESCE(c.name_en, r.category_id) AS category_en, COUNT(*) AS records, \
         CAST(COALESCE(SUM(r.qty), 0) AS BIGINT) AS qty, \
         CAST(COALESCE(SUM(r.qty * r.unit_price), 0) AS BIGINT) AS value_fen \
         FROM shrink_records r LEFT JOIN categories c ON c.id = r.category_id \
         WHERE ($1 IS NULL OR r.location_id = $1) AND r.created_at >= $2 AND r.created_at < $3 \
         GROUP BY r.location_id, r.category_id, r.reason, c.name_zh, c.name_en",
    )
    .bind(location)
    .bind(from_ms)
    .bind(to_ms)
    .fetch_all(store.reader())
    .await?;
    let mut out: BTreeMap<(String, String), ShrinkReportRow> = BTreeMap::new();
    for row in &rows {
        let location_id: String = col(row, "location_id")?;
        let category_id: String = col(row, "category_id")?;
        let qty: i64 = col(row, "qty")?;
        let entry = out
            .entry((location_id.clone(), category_id.clone()))
            .or_insert(ShrinkReportRow {
                location_id,
                category_id,
                category_zh: col(row, "category_zh")?,
                category_en: col(row, "category_en")?,
                records: 0,
                qty: 0,
                value_fen: 0,
                by_reason: BTreeMap::new(),
            });
        entry.records += col::<i64>(row, "records")?;
        entry.qty += qty;
        entry.value_fen += col::<i64>(row, "value_fen")?;
        *entry.by_reason.entry(col(row, "reason")?).or_default() += qty;
    }
    let mut rows: Vec<ShrinkReportRow> = out.into_values().collect();
    rows.sort_by(|a, b| {
        a.location_id
            .cmp(&b.location_id)
            .then(b.value_fen.cmp(&a.value_fen))
            .then(a.category_id.cmp(&b.category_id))
    });
    Ok(rows)
}

// ---------------------------------------------------------------------------------------------
// Splitting and re-packing.
// ---------------------------------------------------------------------------------------------

/// A split or re-pack to book.
#[derive(Debug, Clone)]
pub struct RepackInput {
    /// Client id (UUIDv7).
    pub id: Uuid,
    /// Where.
    pub location_id: String,
    /// Taken from stock: (SKU, qty > 0), each SKU once (the case; the items packed).
    pub inputs: Vec<(Uuid, i64)>,
    /// Put into stock: (SKU, qty > 0), each SKU once, none of the inputs (the units; the pack).
    pub outputs: Vec<(Uuid, i64)>,
    /// Note.
    pub note: String,
}

/// One line of a repack.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RepackLine {
    /// SKU.
    pub sku_id: Uuid,
    /// Names.
    #[serde(flatten)]
    pub label: SkuLabel,
    /// Quantity.
    pub qty: i64,
}

/// A booked split or re-pack.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Repack {
    /// Client id (`ref_id` of its movements).
    pub id: Uuid,
    /// Where.
    pub location_id: String,
    /// Note.
    pub note: String,
    /// Who.
    pub actor: String,
    /// When (RFC 3339).
    pub created_at: DateTime<Utc>,
    /// Taken from stock.
    pub inputs: Vec<RepackLine>,
    /// Put into stock.
    pub outputs: Vec<RepackLine>,
}

/// One repack.
pub async fn get_repack(store: &Store, id: Uuid) -> AppResult<Repack> {
    let row =
        sqlx::query("SELECT id, location_id, note, actor, created_at FROM repacks WHERE id = $1")
            .bind(id.to_string())
            .fetch_optional(store.reader())
            .await?
            .ok_or_else(|| AppError::not_found(format!("repack {id} not found")))?;
    let mut repack = Repack {
        id,
        location_id: col(&row, "location_id")?,
        note: col(&row, "note")?,
        actor: col(&row, "actor")?,
        created_at: from_ms(col(&row, "created_at")?),
        inputs: Vec::new(),
        outputs: Vec::new(),
    };
    let lines = sqlx::query(
        "SELECT direction, sku_id, qty FROM repack_lines WHERE repack_id = $1 ORDER BY direction, sku_id",
    )
    .bind(id.to_string())
    .fetch_all(store.reader())
    .await?;
    let skus: Vec<Uuid> = lines
        .iter()
        .map(|r| uuid_col(r, "sku_id"))
        .collect::<AppResult<_>>()?;
    let labels: HashMap<Uuid, SkuLabel> = sku_labels(store, &skus).await?;
    for r in &lines {
        let sku_id = uuid_col(r, "sku_id")?;
        let line = RepackLine {
            sku_id,
            label: labels.get(&sku_id).cloned().unwrap_or_default(),
            qty: col(r, "qty")?,
        };
        if col::<String>(r, "direction")? == "in" {
            repack.inputs.push(line);
        } else {
            repack.outputs.push(line);
        }
    }
    Ok(repack)
}

/// Repacks at one location, newest first.
pub async fn list_repacks(store: &Store, location: Option<&str>) -> AppResult<Vec<Repack>> {
    let rows = sqlx::query(
        "SELECT id FROM repacks WHERE ($1 IS NULL OR location_id = $1) ORDER BY created_at DESC, id DESC LIMIT $2",
    )
    .bind(location)
    .bind(LIST_LIMIT)
    .fetch_all(store.reader())
    .await?;
    let mut out = Vec::new();
    for r in &rows {
        out.push(get_repack(store, uuid_col(r, "id")?).await?);
    }
    Ok(out)
}

/// Books a split or re-pack: `adjustment` movements taking the inputs off and putting the
/// outputs on (reason `repack`), audited as `stock.repack`, in one transaction. An input above
/// on hand is refused (409 `insufficient_stock`, nothing changed). Idempotent by id.
pub async fn repack(store: &Store, input: &RepackInput, actor: &str) -> AppResult<Repack> {
    let mut tx = store.begin().await?;
    let mut skus: Vec<Uuid> = input.inputs.iter().map(|(s, _)| *s).collect();
    skus.extend(input.outputs.iter().map(|(s, _)| *s));
    let levels = lock_rows(&mut tx, store, &input.location_id, &skus, true).await?;
    let prior = sqlx::query("SELECT location_id FROM repacks WHERE id = $1")
        .bind(input.id.to_string())
        .fetch_optional(&mut *tx)
        .await?;
    if let Some(prior) = prior {
        tx.rollback().await?;
        if col::<String>(&prior, "location_id")? != input.location_id {
            return Err(AppError::conflict(
                "id_in_use",
                format!("id {} was already used at another location", input.id),
            ));
        }
        return get_repack(store, input.id).await;
    }
    for &(sku, qty) in &input.inputs {
        let on_hand = levels.get(&sku).map(|l| l.0).unwrap_or(0);
        if qty > on_hand {
            let labels = sku_labels(store, &[sku]).await?;
            let what = labels
                .get(&sku)
                .map(|l| format!("{} {}", l.sku_code, l.name_zh))
                .unwrap_or_else(|| sku.to_string());
            return Err(AppError::conflict(
                "insufficient_stock",
                format!(
                    "on hand of {what} is {} at {}: cannot take {qty}",
                    on_hand.max(0),
                    input.location_id
                ),
            ));
        }
    }
    let now = now_ms();
    let id = input.id.to_string();
    sqlx::query(
        "INSERT INTO repacks (id, location_id, note, actor, created_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(&id)
    .bind(&input.location_id)
    .bind(&input.note)
    .bind(actor)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    let reason = "repack".to_owned();
    let mut movements = Vec::new();
    for (direction, lines, sign) in [("in", &input.inputs, -1), ("out", &input.outputs, 1)] {
        for &(sku, qty) in lines {
            sqlx::query(
                "INSERT INTO repack_lines (repack_id, direction, sku_id, qty) VALUES ($1, $2, $3, $4)",
            )
            .bind(&id)
            .bind(direction)
            .bind(sku.to_string())
            .bind(qty)
            .execute(&mut *tx)
            .await?;
            movements.push(Movement {
                location_id: &input.location_id,
                sku_id: sku,
                kind: MovementKind::Adjustment,
                on_hand_delta: sign * qty,
                reserved_delta: 0,
                reason: &reason,
                actor,
                ref_id: Some(&id),
                client_ts: now,
            });
        }
    }
    apply_movements(&mut tx, &movements).await?;
    let pairs = |l: &[(Uuid, i64)]| -> Vec<serde_json::Value> {
        l.iter()
            .map(|(s, q)| serde_json::json!({"sku_id": s, "qty": q}))
            .collect()
    };
    audit::record(
        &mut tx,
        actor,
        "stock.repack",
        "repack",
        &id,
        serde_json::json!({"location_id": input.location_id, "inputs": pairs(&input.inputs), "outputs": pairs(&input.outputs)}),
    )
    .await?;
    tx.commit().await?;
    get_repack(store, input.id).await
}
