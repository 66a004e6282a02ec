//! Label-scale items (migration 0054): the SKUs sold through the fresh counter's label scales,
//! with their PLU, scale key, tare and shelf life.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::{col, from_ms, now_ms, uuid_col, Store};
use crate::error::{AppError, AppResult};

/// A SKU's label-scale settings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ScaleItem {
    /// The SKU.
    pub sku_id: Uuid,
    /// The PLU printed in labels (digits; one of the SKU's barcodes).
    pub plu: String,
    /// The scale key (slot), 1–9999.
    pub scale_key: i64,
    /// Tare in grams.
    pub tare_g: i64,
    /// Shelf life in days (0: none).
    pub shelf_life_days: i64,
    /// Who set it last.
    pub updated_by: String,
    /// When.
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

/// A scale item with the catalog fields the PLU list needs.
#[derive(Clone, Debug)]
pub struct ScaleItemRow {
    /// The settings.
    pub item: ScaleItem,
    /// Product name (Chinese).
    pub name_zh: String,
    /// SKU spec (Chinese), may be empty.
    pub spec_zh: String,
}

fn item_from_row(row: &sqlx::any::AnyRow) -> AppResult<ScaleItem> {
    Ok(ScaleItem {
        sku_id: uuid_col(row, "sku_id")?,
        plu: col(row, "plu")?,
        scale_key: col(row, "scale_key")?,
        tare_g: col(row, "tare_g")?,
        shelf_life_days: col(row, "shelf_life_days")?,
        updated_by: col(row, "updated_by")?,
        updated_at: from_ms(col(row, "updated_at")?),
    })
}

/// Every scale item with its names, by scale key.
pub async fn list(store: &Store) -> AppResult<Vec<ScaleItemRow>> {
    let rows = sqlx::query(
        "SELECT i.sku_id, i.plu, i.scale_key, i.tare_g, i.shelf_life_days, i.updated_by, \
         i.updated_at, p.name_zh, s.spec_zh FROM scale_items i \
         JOIN skus s ON s.id = i.sku_id JOIN products p ON p.id = s.product_id \
         ORDER BY i.scale_key",
    )
    .fetch_all(store.reader())
    .await?;
    rows.iter()
        .map(|row| {
            Ok(ScaleItemRow {
                item: item_from_row(row)?,
                name_zh: col(row, "name_zh")?,
                spec_zh: col(row, "spec_zh")?,
            })
        })
        .collect()
}

/// One SKU's scale item.
pub async fn get(store: &Store, sku: Uuid) -> AppResult<Option<ScaleItem>> {
    let row = sqlx::query(
        "SELECT sku_id, plu, scale_key, tare_g, shelf_life_days, updated_by, updated_at \
         FROM scale_items WHERE sku_id = $1",
    )
    .bind(sku.to_string())
    .fetch_optional(store.reader())
    .await?;
    row.as_ref().map(item_from_row).transpose()
}

/// What [`set`] writes.
#[derive(Clone, Debug)]
pub struct NewScaleItem<'a> {
    /// The SKU.
    pub sku_id: Uuid,
    /// The PLU.
    pub plu: &'a str,
    /// The scale key.
    pub scale_key: i64,
    /// Tare in grams.
    pub tare_g: i64,
    /// Shelf life in days.
    pub shelf_life_days: i64,
    /// Who.
    pub actor: &'a str,
}

/// Sets a SKU's scale item (idempotent), audited `scale_item.set`. The SKU must exist and
/// `plu` be one of its barcodes (404 / 422); a PLU or key taken by another SKU is 409
/// `plu_in_use` / `scale_key_in_use`.
pub async fn set(store: &Store, new: &NewScaleItem<'_>) -> AppResult<ScaleItem> {
    let sku = new.sku_id.to_string();
    let mut tx = store.begin().await?;
    let known = sqlx::query("SELECT 1 AS x FROM skus WHERE id = $1")
        .bind(&sku)
        .fetch_optional(&mut *tx)
        .await?
        .is_some();
    if !known {
        return Err(AppError::not_found(format!("SKU {sku} not found")));
    }
    let barcode_of = sqlx::query("SELECT sku_id FROM barcodes WHERE code = $1")
        .bind(new.plu)
        .fetch_optional(&mut *tx)
        .await?
        .map(|row| col::<String>(&row, "sku_id"))
        .transpose()?;
    if barcode_of.as_deref() != Some(sku.as_str()) {
        return Err(AppError::field(
            "plu",
            "the PLU must be one of the SKU's barcodes (add it as a barcode first)",
        ));
    }
    for (column, code, value) in [
        ("plu", "plu_in_use", new.plu.to_owned()),
        ("scale_key", "scale_key_in_use", new.scale_key.to_string()),
    ] {
        let sql = format!("SELECT sku_id FROM scale_items WHERE {column} = $1 AND sku_id <> $2");
        let taken = sqlx::query(&sql);
        let taken = if column == "plu" {
            taken.bind(value.clone())
        } else {
            taken.bind(new.scale_key)
        }
        .bind(&sku)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(row) = taken {
            let other: String = col(&row, "sku_id")?;
            return Err(AppError::conflict(
                code,
                format!("{column} {value} is already used by SKU {other}"),
            ));
        }
    }
    sqlx::query(
        "INSERT INTO scale_items (sku_id, plu, scale_key, tare_g, shelf_life_days, updated_by, \
         updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (sku_id) DO UPDATE SET \
         plu = excluded.plu, scale_key = excluded.scale_key, tare_g = excluded.tare_g, \
         shelf_life_days = excluded.shelf_life_days, updated_by = excluded.updated_by, \
         updated_at = excluded.updated_at",
    )
    .bind(&sku)
    .bind(new.plu)
    .bind(new.scale_key)
    .bind(new.tare_g)
    .bind(new.shelf_life_days)
    .bind(new.actor)
    .bind(now_ms())
    .execute(&mut *tx)
    .await?;
    super::audit::record(
        &mut tx,
        new.actor,
        "scale_item.set",
        "sku",
        &sku,
        serde_json::json!({"plu": new.plu, "scale_key": new.scale_key, "tare_g": new.tare_g,
            "shelf_life_days": new.shelf_life_days}),
    )
    .await?;
    tx.commit().await?;
    get(store, new.sku_id)
        .await?
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("scale item vanished")))
}

/// Takes a SKU off the scales (idempotent), audited `scale_item.remove` when there was one.
pub async fn remove(store: &Store, sku: Uuid, actor: &str) -> AppResult<bool> {
    let mut tx = store.begin().await?;
    let gone = sqlx::query("DELETE FROM scale_items WHERE sku_id = $1")
        .bind(sku.to_string())
        .execute(&mut *tx)
        .await?
        .rows_affected()
        > 0;
    if gone {
        super::audit::record(
            &mut tx,
            actor,
            "scale_item.remove",
            "sku",
            &sku.to_string(),
            serde_json::json!({}),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(gone)
}

/// The id of the SKU with this SKU code (demo loading).
pub async fn sku_id_by_code(store: &Store, sku_code: &str) -> AppResult<Option<Uuid>> {
    let row = sqlx::query("SELECT id FROM skus WHERE sku_code = $1")
        .bind(sku_code)
        .fetch_optional(store.reader())
        .await?;
    row.as_ref().map(|r| uuid_col(r, "id")).transpose()
}

/// Adds `code` as a barcode of `sku` unless it is one already (demo loading of counted fresh
/// items' PLUs).
pub async fn add_barcode(store: &Store, sku: Uuid, code: &str) -> AppResult<()> {
    sqlx::query(
        "INSERT INTO barcodes (code, sku_id) VALUES ($1, $2) ON CONFLICT (code) DO NOTHING",
    )
    .bind(code)
    .bind(sku.to_string())
    .execute(store.writer())
    .await?;
    Ok(())
}

/// A scale label in a scan-and-go basket (migration 0059).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScanLabel {
    /// The label's 13 digits.
    pub code: String,
    /// The SKU its PLU names.
    pub sku_id: Uuid,
    /// The weight it stands for, in grams (0 for a counted item).
    pub grams: i64,
    /// The printed price, in fen.
    pub price_fen: i64,
}

/// Adds a label to a scan-and-go basket; the same label again changes nothing. At most
/// `max_labels` labels a basket (409 `too_many_labels` beyond).
pub async fn scan_label_add(
    store: &Store,
    scan: Uuid,
    label: &ScanLabel,
    max_labels: i64,
) -> AppResult<()> {
    let count: i64 = col(
        &sqlx::query("SELECT COUNT(*) AS n FROM scan_label_lines WHERE scan_session_id = $1")
            .bind(scan.to_string())
            .fetch_one(store.writer())
            .await?,
        "n",
    )?;
    if count >= max_labels {
        return Err(AppError::conflict(
            "too_many_labels",
            format!("at most {max_labels} scale labels in a basket"),
        ));
    }
    sqlx::query(
        "INSERT INTO scan_label_lines (scan_session_id, code, sku_id, grams, price_fen, added_at) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (scan_session_id, code) DO NOTHING",
    )
    .bind(scan.to_string())
    .bind(&label.code)
    .bind(label.sku_id.to_string())
    .bind(label.grams)
    .bind(label.price_fen)
    .bind(now_ms())
    .execute(store.writer())
    .await?;
    Ok(())
}

/// The basket's scale labels, in scanning order.
pub async fn scan_labels(store: &Store, scan: Uuid) -> AppResult<Vec<ScanLabel>> {
    let rows = sqlx::query(
        "SELECT code, sku_id, grams, price_fen FROM scan_label_lines \
         WHERE scan_session_id = $1 ORDER BY added_at, code",
    )
    .bind(scan.to_string())
    .fetch_all(store.writer())
    .await?;
    rows.iter()
        .map(|r| {
            Ok(ScanLabel {
                code: col(r, "code")?,
                sku_id: uuid_col(r, "sku_id")?,
                grams: col(r, "grams")?,
                price_fen: col(r, "price_fen")?,
            })
        })
        .collect()
}

/// Takes a label out of a scan-and-go basket (idempotent).
pub async fn scan_label_remove(store: &Store, scan: Uuid, code: &str) -> AppResult<()> {
    sqlx::query("DELETE FROM scan_label_lines WHERE scan_session_id = $1 AND code = $2")
        .bind(scan.to_string())
        .bind(code)
        .execute(store.writer())
        .await?;
    Ok(())
}
