//! The audit log: price changes, stock adjustments, refunds, role and device changes.

use serde::Serialize;
use utoipa::ToSchema;

use super::{col, now_ms, Store, Tx};
use crate::error::AppResult;

/// One audit entry.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AuditEntry {
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
    let rows = sqlx::query(
        "SELECT actor, action, entity, entity_id, detail, at FROM audit_log \
         WHERE ($1 IS NULL OR entity_id = $1) ORDER BY at DESC, id DESC LIMIT $2",
    )
    .bind(entity_id)
    .bind(limit)
    .fetch_all(store.reader())
    .await?;
    rows.iter()
        .map(|row| {
            let detail: String = col(row, "detail")?;
            Ok(AuditEntry {
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
