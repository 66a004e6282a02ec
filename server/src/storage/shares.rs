//! Share attribution (issue 17): who opened whose share link (once per opener per share), and
//! which paid order came from a share (who shared, who bought).

use uuid::Uuid;

use super::{col, now_ms, uuid_col, Store, Tx};
use crate::error::AppResult;

/// Records that `opener` (`m:<member id>` or `d:<browser hash>`) opened the share of `sharer`
/// on `target`; false when that opener had opened it before (nothing written).
pub async fn record_open(
    store: &Store,
    sharer: Uuid,
    target: &str,
    opener: &str,
    member: Option<Uuid>,
) -> AppResult<bool> {
    Ok(sqlx::query(
        "INSERT INTO share_opens (sharer_id, target, opener, member_id, opened_at) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (sharer_id, target, opener) DO NOTHING",
    )
    .bind(sharer.to_string())
    .bind(target)
    .bind(opener)
    .bind(member.map(|m| m.to_string()))
    .bind(now_ms())
    .execute(store.writer())
    .await?
    .rows_affected()
        == 1)
}

/// The shares `opener` opened since `since_ms`, oldest first, at most 20: (sharer, target).
pub async fn opens_of(
    store: &Store,
    opener: &str,
    since_ms: i64,
) -> AppResult<Vec<(Uuid, String)>> {
    let rows = sqlx::query(
        "SELECT sharer_id, target FROM share_opens WHERE opener = $1 AND opened_at >= $2 \
         ORDER BY opened_at LIMIT 20",
    )
    .bind(opener)
    .bind(since_ms)
    .fetch_all(store.reader())
    .await?;
    rows.iter()
        .map(|r| Ok((uuid_col(r, "sharer_id")?, col(r, "target")?)))
        .collect()
}

/// Whether a member opened someone's share since `since_ms`.
pub async fn opened_since(store: &Store, member: Uuid, since_ms: i64) -> AppResult<bool> {
    Ok(sqlx::query(
        "SELECT 1 AS one FROM share_opens WHERE member_id = $1 AND opened_at >= $2 LIMIT 1",
    )
    .bind(member.to_string())
    .bind(since_ms)
    .fetch_optional(store.reader())
    .await?
    .is_some())
}

/// The share a member opened last since `since_ms` (not one of their own): (sharer, target).
pub async fn last_open_of_member_in_tx(
    tx: &mut Tx,
    member: Uuid,
    since_ms: i64,
) -> AppResult<Option<(Uuid, String)>> {
    let row = sqlx::query(
        "SELECT sharer_id, target FROM share_opens WHERE member_id = $1 AND opened_at >= $2 \
         AND sharer_id <> $1 ORDER BY opened_at DESC LIMIT 1",
    )
    .bind(member.to_string())
    .bind(since_ms)
    .fetch_optional(&mut **tx)
    .await?;
    row.map(|r| Ok((uuid_col(&r, "sharer_id")?, col(&r, "target")?)))
        .transpose()
}

/// Records that `order` was bought by `buyer` after opening `sharer`'s share of `target`
/// (once per order).
pub async fn record_order_in_tx(
    tx: &mut Tx,
    order: Uuid,
    sharer: Uuid,
    buyer: Uuid,
    target: &str,
) -> AppResult<()> {
    sqlx::query(
        "INSERT INTO share_orders (order_id, sharer_id, buyer_id, target, created_at) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (order_id) DO NOTHING",
    )
    .bind(order.to_string())
    .bind(sharer.to_string())
    .bind(buyer.to_string())
    .bind(target)
    .bind(now_ms())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// A sharer's figures: (opens, orders attributed).
pub async fn figures(store: &Store, sharer: Uuid) -> AppResult<(i64, i64)> {
    let row = sqlx::query(
        "SELECT (SELECT COUNT(*) FROM share_opens WHERE sharer_id = $1) AS opens, \
         (SELECT COUNT(*) FROM share_orders WHERE sharer_id = $1) AS orders",
    )
    .bind(sharer.to_string())
    .fetch_one(store.reader())
    .await?;
    Ok((col(&row, "opens")?, col(&row, "orders")?))
}
