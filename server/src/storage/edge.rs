//! What the server keeps for the stores' edge agents beyond the bus itself (migration 0006):
//! commands sent to an agent through the HTTP API with the agent's acknowledgement, and the
//! shelf location of each SKU in each store (printed on pick slips).

use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{col, from_ms, now_ms, uuid_col, Store};
use crate::error::{AppError, AppResult};

/// A command sent to an edge agent, and what became of it.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct DeviceCommand {
    /// The client's id; also the MQTT `message_id` (the agent executes each once).
    pub id: Uuid,
    /// The agent it went to.
    pub device_id: Uuid,
    /// Its store.
    pub location_id: String,
    /// `print_pick_slip`, `print_shipping_label`, `open_gate`, `mark_ready` or `resync`.
    pub kind: String,
    /// The command as sent.
    #[schema(value_type = Object)]
    pub command: serde_json::Value,
    /// `sent` (no acknowledgement yet), `done` or `failed`.
    pub status: String,
    /// The agent's detail (a failure's reason).
    pub detail: Option<String>,
    /// Who asked.
    pub requested_by: String,
    /// When.
    pub requested_at: chrono::DateTime<chrono::Utc>,
    /// When the agent acknowledged it.
    pub acked_at: Option<chrono::DateTime<chrono::Utc>>,
}

fn command_from_row(row: &sqlx::any::AnyRow) -> AppResult<DeviceCommand> {
    Ok(DeviceCommand {
        id: uuid_col(row, "id")?,
        device_id: uuid_col(row, "device_id")?,
        location_id: col(row, "location_id")?,
        kind: col(row, "kind")?,
        command: serde_json::from_str(&col::<String>(row, "command")?)
            .map_err(|e| AppError::Internal(anyhow::anyhow!("stored command: {e}")))?,
        status: col(row, "status")?,
        detail: col(row, "detail")?,
        requested_by: col(row, "requested_by")?,
        requested_at: from_ms(col(row, "requested_at")?),
        acked_at: col::<Option<i64>>(row, "acked_at")?.map(from_ms),
    })
}

/// A command to record before it is sent.
#[derive(Clone, Copy, Debug)]
pub struct NewCommand<'a> {
    /// Client id (the MQTT message id).
    pub id: Uuid,
    /// The agent.
    pub device_id: Uuid,
    /// Its store.
    pub location_id: &'a str,
    /// The command's kind.
    pub kind: &'a str,
    /// The command as sent (JSON).
    pub command: &'a serde_json::Value,
    /// Who asked.
    pub requested_by: &'a str,
}

/// Records a command (idempotent by id). Returns the stored command and whether it is new; a
/// retry with the same id must name the same device and command (409 `id_in_use` otherwise).
pub async fn record_command(
    store: &Store,
    new: NewCommand<'_>,
) -> AppResult<(DeviceCommand, bool)> {
    let mut tx = store.begin().await?;
    let inserted = sqlx::query(
        "INSERT INTO device_commands (id, device_id, location_id, kind, command, status, \
         requested_by, requested_at) VALUES ($1, $2, $3, $4, $5, 'sent', $6, $7) \
         ON CONFLICT (id) DO NOTHING",
    )
    .bind(new.id.to_string())
    .bind(new.device_id.to_string())
    .bind(new.location_id)
    .bind(new.kind)
    .bind(new.command.to_string())
    .bind(new.requested_by)
    .bind(now_ms())
    .execute(&mut *tx)
    .await?
    .rows_affected()
        == 1;
    if inserted {
        // A gate opened by hand, a pickup marked ready by command: on the audit log.
        super::audit::record(
            &mut tx,
            new.requested_by,
            "device.command",
            "device",
            &new.device_id.to_string(),
            serde_json::json!({"command_id": new.id, "location": new.location_id, "command": new.command}),
        )
        .await?;
    }
    tx.commit().await?;
    let stored = command(store, new.id).await?;
    if !inserted
        && (stored.device_id != new.device_id || essence(&stored.command) != essence(new.command))
    {
        return Err(AppError::conflict(
            "id_in_use",
            "a different command was sent with this id",
        ));
    }
    Ok((stored, inserted))
}

/// What makes a command the same command: everything but the `lines` the server fills in
/// (shelves may have changed between a request and its retry).
fn essence(command: &serde_json::Value) -> serde_json::Value {
    let mut command = command.clone();
    if let Some(map) = command.as_object_mut() {
        map.remove("lines");
    }
    command
}

/// One command.
pub async fn command(store: &Store, id: Uuid) -> AppResult<DeviceCommand> {
    let row = sqlx::query(
        "SELECT id, device_id, location_id, kind, command, status, detail, requested_by, \
         requested_at, acked_at FROM device_commands WHERE id = $1",
    )
    .bind(id.to_string())
    .fetch_optional(store.writer())
    .await?
    .ok_or_else(|| AppError::not_found(format!("command {id} not found")))?;
    command_from_row(&row)
}

/// Records a device's acknowledgement of one of its own commands (the first one counts);
/// false when there is no such command of this device still waiting.
pub async fn acknowledge(
    tx: &mut super::Tx,
    device: Uuid,
    command_id: Uuid,
    status: &str,
    detail: Option<&str>,
    at: i64,
) -> AppResult<bool> {
    Ok(sqlx::query(
        "UPDATE device_commands SET status = $3, detail = $4, acked_at = $5 \
         WHERE id = $1 AND device_id = $2 AND status = 'sent'",
    )
    .bind(command_id.to_string())
    .bind(device.to_string())
    .bind(status)
    .bind(detail)
    .bind(at)
    .execute(&mut **tx)
    .await?
    .rows_affected()
        == 1)
}

/// The store's edge agents that are not revoked, oldest first.
pub async fn edge_agents(store: &Store, location: &str) -> AppResult<Vec<Uuid>> {
    let rows = sqlx::query(
        "SELECT id FROM devices WHERE location_id = $1 AND kind = 'edge' AND revoked_at IS NULL \
         ORDER BY created_at, id",
    )
    .bind(location)
    .fetch_all(store.reader())
    .await?;
    rows.iter().map(|r| uuid_col(r, "id")).collect()
}

/// Where a SKU sits in a store.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct ShelfLocation {
    /// The store.
    pub location_id: String,
    /// The SKU.
    pub sku_id: Uuid,
    /// The shelf, e.g. `A3-02`.
    pub shelf: String,
    /// Who set it.
    pub updated_by: String,
    /// When.
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

fn shelf_from_row(row: &sqlx::any::AnyRow) -> AppResult<ShelfLocation> {
    Ok(ShelfLocation {
        location_id: col(row, "location_id")?,
        sku_id: uuid_col(row, "sku_id")?,
        shelf: col(row, "shelf")?,
        updated_by: col(row, "updated_by")?,
        updated_at: from_ms(col(row, "updated_at")?),
    })
}

/// Sets (or, with `None`, clears) a SKU's shelf in a store; idempotent. The SKU must exist.
pub async fn set_shelf(
    store: &Store,
    location: &str,
    sku: Uuid,
    shelf: Option<&str>,
    actor: &str,
) -> AppResult<Option<ShelfLocation>> {
    let known = sqlx::query("SELECT 1 AS x FROM skus WHERE id = $1")
        .bind(sku.to_string())
        .fetch_optional(store.reader())
        .await?
        .is_some();
    if !known {
        return Err(AppError::not_found(format!("SKU {sku} not found")));
    }
    match shelf {
        Some(shelf) => {
            sqlx::query(
                "INSERT INTO shelf_locations (location_id, sku_id, shelf, updated_by, updated_at) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (location_id, sku_id) DO UPDATE SET \
                 shelf = excluded.shelf, updated_by = excluded.updated_by, \
                 updated_at = excluded.updated_at",
            )
            .bind(location)
            .bind(sku.to_string())
            .bind(shelf)
            .bind(actor)
            .bind(now_ms())
            .execute(store.writer())
            .await?;
        }
        None => {
            sqlx::query("DELETE FROM shelf_locations WHERE location_id = $1 AND sku_id = $2")
                .bind(location)
                .bind(sku.to_string())
                .execute(store.writer())
                .await?;
        }
    }
    let row = sqlx::query(
        "SELECT location_id, sku_id, shelf, updated_by, updated_at FROM shelf_locations \
         WHERE location_id = $1 AND sku_id = $2",
    )
    .bind(location)
    .bind(sku.to_string())
    .fetch_optional(store.writer())
    .await?;
    row.as_ref().map(shelf_from_row).transpose()
}

/// A store's shelf locations by SKU id, after `after` (a cursor), at most `limit`.
pub async fn shelves(
    store: &Store,
    location: &str,
    after: Option<Uuid>,
    limit: i64,
) -> AppResult<Vec<ShelfLocation>> {
    let rows = sqlx::query(
        "SELECT location_id, sku_id, shelf, updated_by, updated_at FROM shelf_locations \
         WHERE location_id = $1 AND ($2 IS NULL OR sku_id > $2) ORDER BY sku_id LIMIT $3",
    )
    .bind(location)
    .bind(after.map(|a| a.to_string()))
    .bind(limit)
    .fetch_all(store.reader())
    .await?;
    rows.iter().map(shelf_from_row).collect()
}

/// The shelves of some SKUs in a store: (sku, shelf) for those that have one.
pub async fn shelves_of(
    store: &Store,
    location: &str,
    skus: &[Uuid],
) -> AppResult<Vec<(Uuid, String)>> {
    let mut out = Vec::new();
    // Orders have few lines; one indexed look-up each keeps the SQL in the common dialect.
    for sku in skus {
        let row =
            sqlx::query("SELECT shelf FROM shelf_locations WHERE location_id = $1 AND sku_id = $2")
                .bind(location)
                .bind(sku.to_string())
                .fetch_optional(store.reader())
                .await?;
        if let Some(row) = row {
            out.push((*sku, col(&row, "shelf")?));
        }
    }
    Ok(out)
}
