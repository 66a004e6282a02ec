//! What the server keeps from the store bus: device presence and health, the message ids it has
//! applied (de-duplication), exit passes used at a store's gates, and device faults; and the
//! device list the Mosquitto password and ACL files are generated from.

use retail_domain::wire::bus::{EventMessage, StatusMessage};
use uuid::Uuid;

use super::{col, now_ms, uuid_col, Store, Tx};
use crate::error::AppResult;

/// Outcome of applying a device message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Applied {
    /// Applied now.
    Applied,
    /// This message id was applied before: nothing changed.
    Duplicate,
}

/// Records the message id; false when it was already there.
pub async fn claim(tx: &mut Tx, message_id: Uuid, device: Uuid, kind: &str) -> AppResult<bool> {
    Ok(sqlx::query(
        "INSERT INTO bus_messages (message_id, device_id, kind, received_at) \
         VALUES ($1, $2, $3, $4) ON CONFLICT (message_id) DO NOTHING",
    )
    .bind(message_id.to_string())
    .bind(device.to_string())
    .bind(kind)
    .bind(now_ms())
    .execute(&mut **tx)
    .await?
    .rows_affected()
        == 1)
}

/// Stores a device's presence and health and its last-seen time. The latest message received
/// wins (a Last Will is composed at connect time, so its own time is older than the statuses
/// sent after it).
pub async fn apply_status(store: &Store, device: Uuid, msg: &StatusMessage) -> AppResult<Applied> {
    let mut tx = store.begin().await?;
    if !claim(&mut tx, msg.message_id, device, "status").await? {
        return Ok(Applied::Duplicate);
    }
    let health = serde_json::to_string(&msg.health).unwrap_or_else(|_| "[]".into());
    let reported = msg.at.timestamp_millis();
    let now = now_ms();
    sqlx::query(
        "INSERT INTO device_presence \
         (device_id, location_id, status, version, health, reported_at, received_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) \
         ON CONFLICT (device_id) DO UPDATE SET status = excluded.status, \
         version = excluded.version, health = excluded.health, \
         reported_at = excluded.reported_at, received_at = excluded.received_at",
    )
    .bind(device.to_string())
    .bind(&msg.store)
    .bind(msg.status.as_str())
    .bind(msg.version.as_deref())
    .bind(health)
    .bind(reported)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    sqlx::query("UPDATE devices SET last_seen_at = $2 WHERE id = $1")
        .bind(device.to_string())
        .bind(now)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(Applied::Applied)
}

/// Records that the exit pass of scan-and-go `session` was used at a gate; false when it was used
/// before (the first use wins; a later report of the same pass changes nothing).
pub async fn mark_pass_used(
    tx: &mut Tx,
    session: Uuid,
    device: Uuid,
    msg: &EventMessage,
    gate: &str,
    decision: &str,
) -> AppResult<bool> {
    Ok(sqlx::query(
        "INSERT INTO exit_passes_used (session_id, location_id, device_id, gate, \
         decision, message_id, used_at, recorded_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (session_id) DO NOTHING",
    )
    .bind(session.to_string())
    .bind(&msg.store)
    .bind(device.to_string())
    .bind(gate)
    .bind(decision)
    .bind(msg.message_id.to_string())
    .bind(msg.at.timestamp_millis())
    .bind(now_ms())
    .execute(&mut **tx)
    .await?
    .rows_affected()
        == 1)
}

/// A scan-and-go session's store and the order it was paid with (if any); None for an unknown
/// session.
pub async fn scan_session_order(
    tx: &mut Tx,
    session: Uuid,
) -> AppResult<Option<(String, Option<Uuid>)>> {
    let Some(row) = sqlx::query("SELECT location_id, order_id FROM scan_sessions WHERE id = $1")
        .bind(session.to_string())
        .fetch_optional(&mut **tx)
        .await?
    else {
        return Ok(None);
    };
    let location: String = col(&row, "location_id")?;
    let order: Option<String> = col(&row, "order_id")?;
    Ok(Some((location, order.and_then(|o| o.parse::<Uuid>().ok()))))
}

/// Records a printer fault a device reported.
pub async fn record_fault(
    tx: &mut Tx,
    device: Uuid,
    msg: &EventMessage,
    printer: &str,
    fault: &str,
) -> AppResult<()> {
    sqlx::query(
        "INSERT INTO device_faults \
         (message_id, device_id, location_id, component, fault, reported_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(msg.message_id.to_string())
    .bind(device.to_string())
    .bind(&msg.store)
    .bind(printer)
    .bind(fault)
    .bind(msg.at.timestamp_millis())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Marks a device offline (it was revoked: its Last Will is no longer accepted).
pub async fn mark_offline(store: &Store, device: Uuid) -> AppResult<()> {
    sqlx::query(
        "UPDATE device_presence SET status = 'offline', received_at = $2 WHERE device_id = $1",
    )
    .bind(device.to_string())
    .bind(now_ms())
    .execute(store.writer())
    .await?;
    Ok(())
}

/// A device's stored presence.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PresenceRecord {
    /// `online` or `offline`.
    pub status: String,
    /// Reported software version.
    pub version: Option<String>,
    /// Health of its components (JSON array).
    pub health: serde_json::Value,
    /// When the device last reported (Unix ms, server clock).
    pub received_at: i64,
}

/// A device's presence, if it ever reported.
pub async fn presence(store: &Store, device: Uuid) -> AppResult<Option<PresenceRecord>> {
    let row = sqlx::query(
        "SELECT status, version, health, received_at FROM device_presence WHERE device_id = $1",
    )
    .bind(device.to_string())
    .fetch_optional(store.reader())
    .await?;
    row.map(|row| {
        Ok(PresenceRecord {
            status: col(&row, "status")?,
            version: col(&row, "version")?,
            health: serde_json::from_str(&col::<String>(&row, "health")?)
                .unwrap_or(serde_json::Value::Null),
            received_at: col(&row, "received_at")?,
        })
    })
    .transpose()
}

/// A used exit pass: (store, gate, decision, the message that reported it).
pub async fn exit_pass_use(
    store: &Store,
    session: Uuid,
) -> AppResult<Option<(String, String, String, Uuid)>> {
    let row = sqlx::query(
        "SELECT location_id, gate, decision, message_id FROM exit_passes_used \
         WHERE session_id = $1",
    )
    .bind(session.to_string())
    .fetch_optional(store.reader())
    .await?;
    row.map(|row| {
        Ok((
            col(&row, "location_id")?,
            col(&row, "gate")?,
            col(&row, "decision")?,
            uuid_col(&row, "message_id")?,
        ))
    })
    .transpose()
}

/// How many exit passes were marked used at a store.
pub async fn exit_passes_used_count(store: &Store, location: &str) -> AppResult<i64> {
    let row = sqlx::query("SELECT COUNT(*) AS n FROM exit_passes_used WHERE location_id = $1")
        .bind(location)
        .fetch_one(store.reader())
        .await?;
    col(&row, "n")
}

/// Faults recorded for a device: (component, fault).
pub async fn faults(store: &Store, device: Uuid) -> AppResult<Vec<(String, String)>> {
    let rows = sqlx::query(
        "SELECT component, fault FROM device_faults WHERE device_id = $1 ORDER BY reported_at",
    )
    .bind(device.to_string())
    .fetch_all(store.reader())
    .await?;
    rows.iter()
        .map(|row| Ok((col(row, "component")?, col(row, "fault")?)))
        .collect()
}

/// The `message_id`s of a device's events the server has applied (each once), in the order
/// they were received.
pub async fn applied_events(store: &Store, device: Uuid) -> AppResult<Vec<Uuid>> {
    let rows = sqlx::query(
        "SELECT message_id FROM bus_messages WHERE device_id = $1 AND kind <> 'status' \
         ORDER BY received_at, message_id",
    )
    .bind(device.to_string())
    .fetch_all(store.reader())
    .await?;
    rows.iter().map(|row| uuid_col(row, "message_id")).collect()
}

/// A device that may log in to an external broker.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BrokerLogin {
    /// Device id (the MQTT user name).
    pub device: Uuid,
    /// Its store.
    pub location_id: String,
    /// Its Mosquitto password-file entry, if one was made when the credential was issued.
    pub mqtt_password: Option<String>,
}

/// Every non-revoked device, for the Mosquitto password and ACL files.
pub async fn broker_logins(store: &Store) -> AppResult<Vec<BrokerLogin>> {
    let rows = sqlx::query(
        "SELECT id, location_id, mqtt_password FROM devices WHERE revoked_at IS NULL \
         ORDER BY location_id, id",
    )
    .fetch_all(store.reader())
    .await?;
    rows.iter()
        .map(|row| {
            Ok(BrokerLogin {
                device: uuid_col(row, "id")?,
                location_id: col(row, "location_id")?,
                mqtt_password: col(row, "mqtt_password")?,
            })
        })
        .collect()
}
