//! Locations: the head office, warehouses and stores.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{col, now_ms, Store};
use crate::error::{AppError, AppResult};

/// A store, warehouse or the head office.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Location {
    /// Short code, e.g. `SH001`.
    pub id: String,
    /// `head_office`, `warehouse` or `store`.
    pub kind: String,
    /// Chinese name.
    pub name_zh: String,
    /// English name.
    pub name_en: String,
    /// City.
    pub city: String,
    /// Street address.
    pub address: String,
    /// The merchant whose store or warehouse it is (`platform`: the operator's own; B2B2C).
    #[serde(default = "platform")]
    pub merchant_id: String,
}

fn platform() -> String {
    super::merchants::PLATFORM.to_owned()
}

/// The columns of a [`Location`].
const COLUMNS: &str = "id, kind, name_zh, name_en, city, address, merchant_id";

fn from_row(row: &sqlx::any::AnyRow) -> AppResult<Location> {
    Ok(Location {
        id: col(row, "id")?,
        kind: col(row, "kind")?,
        name_zh: col(row, "name_zh")?,
        name_en: col(row, "name_en")?,
        city: col(row, "city")?,
        address: col(row, "address")?,
        merchant_id: col(row, "merchant_id")?,
    })
}

/// Creates a location or updates its names and address (audited as `location.upsert`). An
/// existing location keeps its kind (409 `kind_mismatch`) and its merchant (409
/// `merchant_mismatch`).
pub async fn upsert(store: &Store, location: &Location, actor: &str) -> AppResult<()> {
    let mut tx = store.begin().await?;
    let existing = sqlx::query(&format!(
        "SELECT kind, merchant_id FROM locations WHERE id = $1{}",
        store.for_update()
    ))
    .bind(&location.id)
    .fetch_optional(&mut *tx)
    .await?;
    if let Some(row) = existing {
        let kind: String = col(&row, "kind")?;
        if kind != location.kind {
            return Err(AppError::conflict(
                "kind_mismatch",
                format!(
                    "location {} is a {kind}; its kind cannot change",
                    location.id
                ),
            ));
        }
        let merchant: String = col(&row, "merchant_id")?;
        if merchant != location.merchant_id {
            return Err(AppError::conflict(
                "merchant_mismatch",
                format!(
                    "location {} belongs to {merchant}; a location never moves to another merchant",
                    location.id
                ),
            ));
        }
    }
    sqlx::query(
        "INSERT INTO locations (id, kind, name_zh, name_en, city, address, merchant_id, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
         ON CONFLICT (id) DO UPDATE SET name_zh = excluded.name_zh, name_en = excluded.name_en, \
         city = excluded.city, address = excluded.address",
    )
    .bind(&location.id)
    .bind(&location.kind)
    .bind(&location.name_zh)
    .bind(&location.name_en)
    .bind(&location.city)
    .bind(&location.address)
    .bind(&location.merchant_id)
    .bind(now_ms())
    .execute(&mut *tx)
    .await?;
    super::audit::record(
        &mut tx,
        actor,
        "location.upsert",
        "location",
        &location.id,
        serde_json::to_value(location).unwrap_or_default(),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// All locations, by code.
pub async fn list(store: &Store) -> AppResult<Vec<Location>> {
    list_of(store, None).await
}

/// The locations of one merchant (every location when `None`), by code.
pub async fn list_of(store: &Store, merchant: Option<&str>) -> AppResult<Vec<Location>> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM locations WHERE ($1 IS NULL OR merchant_id = $1) ORDER BY id"
    ))
    .bind(merchant)
    .fetch_all(store.reader())
    .await?;
    rows.iter().map(from_row).collect()
}

/// One location, or `None` when there is no such location.
pub async fn find(store: &Store, id: &str) -> AppResult<Option<Location>> {
    sqlx::query(&format!("SELECT {COLUMNS} FROM locations WHERE id = $1"))
        .bind(id)
        .fetch_optional(store.reader())
        .await?
        .as_ref()
        .map(from_row)
        .transpose()
}

/// One location.
pub async fn get(store: &Store, id: &str) -> AppResult<Location> {
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM locations WHERE id = $1"))
        .bind(id)
        .fetch_optional(store.reader())
        .await?
        .ok_or_else(|| AppError::not_found(format!("location {id} not found")))?;
    from_row(&row)
}

/// True when there is no location at all (a fresh database).
pub async fn is_empty(store: &Store) -> AppResult<bool> {
    let row = sqlx::query("SELECT COUNT(*) AS n FROM locations")
        .fetch_one(store.reader())
        .await?;
    Ok(col::<i64>(&row, "n")? == 0)
}
