//! The audit log: price changes, stock adjustments, refunds, role and device changes.

use serde::Serialize;
use utoipa::ToSchema;

use super::{col, now_ms, Store, Tx};
use crate::error::AppResult;

/// One audit entry.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AuditEntry {
    /// The entry's id (UUIDv7): the cursor for the entries before it (`before=`).
    pub id: uuid::Uuid,
    /// Who did it.
    pub actor: String,
    /// What, e.g. `price.change`.
    pub action: String,
    /// The kind of thing it was done to.
    pub entity: String,
    /// Its id.
    pub entity_id: String,
    /// Details (before/after values, reasons).
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
    /// When (RFC 3339).
    pub at: chrono::DateTime<chrono::Utc>,
}

/// Records an entry inside the transaction that makes the change.
pub async fn record(
    tx: &mut Tx,
    actor: &str,
    action: &str,
    entity: &str,
    entity_id: &str,
    detail: serde_json::Value,
) -> AppResult<()> {
    sqlx::query(
        "INSERT INTO audit_log (id, actor, action, entity, entity_id, detail, at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(retail_domain::ids::new_id().to_string())
    .bind(actor)
    .bind(action)
    .bind(entity)
    .bind(entity_id)
    .bind(detail.to_string())
    .bind(now_ms())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The newest entries, optionally for one entity id, newest first.
pub async fn list(
    store: &Store,
    entity_id: Option<&str>,
    limit: i64,
) -> AppResult<Vec<AuditEntry>> {
    list_before(store, entity_id, None, limit).await
}

/// A page of entries, newest first, optionally for one entity id: those before the entry
/// `before` (the last of the previous page; keyset paging on time then id, so entries written
/// meanwhile never shift a page). An unknown `before` answers an empty page.
pub async fn list_before(
    store: &Store,
    entity_id: Option<&str>,
    before: Option<uuid::Uuid>,
    limit: i64,
) -> AppResult<Vec<AuditEntry>> {
    let cursor = match before {
        None => None,
        Some(id) => {
            let row = sqlx::query("SELECT at FROM audit_log WHERE id = $1")
                .bind(id.to_string())
                .fetch_optional(store.reader())
                .await?;
            match row {
                Some(row) => Some((col::<i64>(&row, "at")?, id.to_string())),
                None => return Ok(Vec::new()),
            }
        }
    };
    let (at, id) = cursor.unzip();
    let rows = sqlx::query(
        "SELECT id, actor, action, entity, entity_id, detail, at FROM audit_log \
         WHERE ($1 IS NULL OR entity_id = $1) \
         AND ($2 IS NULL OR at < $2 OR (at = $2 AND id < $3)) \
         ORDER BY at DESC, id DESC LIMIT $4",
    )
    .bind(entity_id)
    .bind(at)
    .bind(id)
    .bind(limit)
    .fetch_all(store.reader())
    .await?;
    rows.iter()
        .map(|row| {
            let detail: String = col(row, "detail")?;
            Ok(AuditEntry {
                id: super::uuid_col(row, "id")?,
                actor: col(row, "actor")?,
                action: col(row, "action")?,
                entity: col(row, "entity")?,
                entity_id: col(row, "entity_id")?,
                detail: serde_json::from_str(&detail).unwrap_or(serde_json::Value::Null),
                at: super::from_ms(col(row, "at")?),
            })
        })
        .collect()
}
