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
}

fn from_row(row: &sqlx::any::AnyRow) -> AppResult<Location> {
    Ok(Location {
        id: col(row, "id")?,
        kind: col(row, "kind")?,
        name_zh: col(row, "name_zh")?,
        name_en: col(row, "name_en")?,
        city: col(row, "city")?,
        address: col(row, "address")?,
    })
}

/// Creates a location or updates its names and address (audited as `location.upsert`).
pub async fn upsert(store: &Store, location: &Location, actor: &str) -> AppResult<()> {
    let mut tx = store.begin().await?;
    let existing = sqlx::query("SELECT kind FROM locations WHERE id = $1")
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
    }
    sqlx::query(
        "INSERT INTO locations (id, kind, name_zh, name_en, city, address, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) \
         ON CONFLICT (id) DO UPDATE SET name_zh = excluded.name_zh, name_en = excluded.name_en, \
         city = excluded.city, address = excluded.address",
    )
    .bind(&location.id)
    .bind(&location.kind)
    .bind(&location.name_zh)
    .bind(&location.name_en)
    .bind(&location.city)
    .bind(&location.address)
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
    let rows =
        sqlx::query("SELECT id, kind, name_zh, name_en, city, address FROM locations ORDER BY id")
            .fetch_all(store.reader())
            .await?;
    rows.iter().map(from_row).collect()
}

/// One location.
pub async fn get(store: &Store, id: &str) -> AppResult<Location> {
    let row = sqlx::query(
        "SELECT id, kind, name_zh, name_en, city, address FROM locations WHERE id = $1",
    )
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
