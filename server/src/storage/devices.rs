//! Registered devices (POS terminals, edge agents) and their credentials.

use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{audit, col, now_ms, parse_col, uuid_col, Store};
use crate::actor::{DeviceActor, DeviceKind};
use crate::error::{AppError, AppResult};

/// A device as listed in the console.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DeviceRecord {
    /// Id.
    pub id: Uuid,
    /// Store.
    pub location_id: String,
    /// Kind.
    pub kind: DeviceKind,
    /// Name.
    pub name: String,
    /// Registration time (RFC 3339).
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// When it was revoked, if it was.
    pub revoked_at: Option<chrono::DateTime<chrono::Utc>>,
}

fn record(row: &sqlx::any::AnyRow) -> AppResult<DeviceRecord> {
    Ok(DeviceRecord {
        id: uuid_col(row, "id")?,
        location_id: col(row, "location_id")?,
        kind: parse_col(row, "kind")?,
        name: col(row, "name")?,
        created_at: super::from_ms(col(row, "created_at")?),
        revoked_at: col::<Option<i64>>(row, "revoked_at")?.map(super::from_ms),
    })
}

/// What is stored of a new device credential (never the credential itself).
#[derive(Clone, Copy, Debug)]
pub struct StoredCredential<'a> {
    /// SHA-256 (hex) of the credential, for HTTP and embedded-broker logins.
    pub secret_hash: &'a str,
    /// Its Mosquitto password-file entry (see `bus::mosquitto`).
    pub mqtt_password: &'a str,
}

/// Registers a device. Idempotent by id: a retry with the same id and store answers the existing
/// device (`Ok(None)`: its credential was already shown once and is not shown again).
pub async fn register(
    store: &Store,
    id: Uuid,
    location_id: &str,
    kind: DeviceKind,
    name: &str,
    credential: StoredCredential<'_>,
    actor: &str,
) -> AppResult<Option<DeviceRecord>> {
    let mut tx = store.begin().await?;
    let inserted = sqlx::query(
        "INSERT INTO devices (id, location_id, kind, name, secret_hash, mqtt_password, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (id) DO NOTHING",
    )
    .bind(id.to_string())
    .bind(location_id)
    .bind(kind.as_str())
    .bind(name)
    .bind(credential.secret_hash)
    .bind(credential.mqtt_password)
    .bind(now_ms())
    .execute(&mut *tx)
    .await?
    .rows_affected()
        == 1;
    if inserted {
        audit::record(
            &mut tx,
            actor,
            "device.register",
            "device",
            &id.to_string(),
            serde_json::json!({"location": location_id, "kind": kind.as_str(), "name": name}),
        )
        .await?;
    }
    tx.commit().await?;
    let device = get(store, id).await?;
    if device.location_id != location_id {
        return Err(AppError::conflict(
            "id_in_use",
            "a device with this id is registered at another store",
        ));
    }
    Ok(inserted.then_some(device))
}

/// One device.
pub async fn get(store: &Store, id: Uuid) -> AppResult<DeviceRecord> {
    let row = sqlx::query(
        "SELECT id, location_id, kind, name, created_at, revoked_at FROM devices WHERE id = $1",
    )
    .bind(id.to_string())
    .fetch_optional(store.writer())
    .await?
    .ok_or_else(|| AppError::not_found(format!("device {id} not found")))?;
    record(&row)
}

/// Devices, optionally of one store and of one merchant's stores.
pub async fn list(
    store: &Store,
    location: Option<&str>,
    merchant: Option<&str>,
) -> AppResult<Vec<DeviceRecord>> {
    let rows = sqlx::query(
        "SELECT d.id, d.location_id, d.kind, d.name, d.created_at, d.revoked_at FROM devices d \
         JOIN locations l ON l.id = d.location_id \
         WHERE ($1 IS NULL OR d.location_id = $1) AND ($2 IS NULL OR l.merchant_id = $2) \
         ORDER BY d.location_id, d.name",
    )
    .bind(location)
    .bind(merchant)
    .fetch_all(store.reader())
    .await?;
    rows.iter().map(record).collect()
}

/// Revokes a device's credential (idempotent).
pub async fn revoke(store: &Store, id: Uuid, actor: &str) -> AppResult<DeviceRecord> {
    let mut tx = store.begin().await?;
    let changed =
        sqlx::query("UPDATE devices SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL")
            .bind(id.to_string())
            .bind(now_ms())
            .execute(&mut *tx)
            .await?
            .rows_affected();
    if changed == 1 {
        audit::record(
            &mut tx,
            actor,
            "device.revoke",
            "device",
            &id.to_string(),
            serde_json::json!({}),
        )
        .await?;
    }
    tx.commit().await?;
    get(store, id).await
}

/// The device behind a credential hash, with its revocation time if revoked.
pub async fn by_secret(
    store: &Store,
    secret_hash: &str,
) -> AppResult<Option<(DeviceActor, Option<i64>)>> {
    let row = sqlx::query(
        "SELECT id, location_id, kind, name, revoked_at FROM devices WHERE secret_hash = $1",
    )
    .bind(secret_hash)
    .fetch_optional(store.reader())
    .await?;
    row.map(|row| {
        Ok((
            DeviceActor {
                id: uuid_col(&row, "id")?,
                location_id: col(&row, "location_id")?,
                kind: parse_col(&row, "kind")?,
                name: col(&row, "name")?,
            },
            col(&row, "revoked_at")?,
        ))
    })
    .transpose()
}
