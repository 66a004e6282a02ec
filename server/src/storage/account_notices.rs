//! Account notices: what a member is told that is not about one order or after-sale — a coupon
//! about to expire, the birthday perk granted. One per member, kind and ref (the coupon id, the
//! year), shown in the shop's message centre.

use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::paging::{self, Cursor, Order, Page};
use super::{col, from_ms, now_ms, uuid_col, Store, Tx};
use crate::error::AppResult;

/// A coupon of the member expires soon (ref: the coupon id; detail: `name_zh`, `name_en`,
/// `valid_until` in Unix ms).
pub const COUPON_EXPIRING: &str = "coupon_expiring";
/// The birthday perk was granted (ref: the year; detail: `points`, `coupon`).
pub const BIRTHDAY_PERK: &str = "birthday_perk";
/// Someone helped the member's bargain (ref: `{run}:{slot}`; detail: `run`, `name_zh`,
/// `name_en`, `cut`, `price`, `helps`, `helpers`).
pub const BARGAIN_HELPED: &str = "bargain_helped";
/// The member's bargain reached its floor price (ref: the run; detail as [`BARGAIN_HELPED`]).
pub const BARGAIN_FLOOR: &str = "bargain_floor";

/// One account notice.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct AccountNotice {
    /// Id.
    pub id: Uuid,
    /// [`COUPON_EXPIRING`] or [`BIRTHDAY_PERK`].
    pub kind: String,
    /// What it is about (a coupon id, a year).
    pub subject: String,
    /// The facts the text is made from.
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
    /// When.
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// Opened in the message centre.
    pub read: bool,
}

/// Records a notice once per member, kind and ref; false when it was there already.
pub async fn record_in_tx(
    tx: &mut Tx,
    member: Uuid,
    kind: &str,
    subject: &str,
    detail: &serde_json::Value,
) -> AppResult<bool> {
    Ok(sqlx::query(
        "INSERT INTO account_notices (id, member_id, kind, ref, detail, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (member_id, kind, ref) DO NOTHING",
    )
    .bind(retail_domain::ids::new_id().to_string())
    .bind(member.to_string())
    .bind(kind)
    .bind(subject)
    .bind(detail.to_string())
    .bind(now_ms())
    .execute(&mut **tx)
    .await?
    .rows_affected()
        == 1)
}

/// [`record_in_tx`] in a transaction of its own.
pub async fn record(
    store: &Store,
    member: Uuid,
    kind: &str,
    subject: &str,
    detail: &serde_json::Value,
) -> AppResult<bool> {
    let mut tx = store.begin().await?;
    let new = record_in_tx(&mut tx, member, kind, subject, detail).await?;
    tx.commit().await?;
    Ok(new)
}

/// A page of the member's account notices, newest first.
pub async fn recent(
    store: &Store,
    member: Uuid,
    cursor: Option<&Cursor>,
    limit: i64,
) -> AppResult<Page<AccountNotice>> {
    let limit = limit.clamp(1, 200);
    paging::fetch(
        store.reader(),
        sqlx::query(&format!(
            "SELECT id, kind, ref, detail, created_at, read_at FROM account_notices \
             WHERE member_id = $1 AND {} {} LIMIT $2",
            paging::after("created_at", "id", 3, Order::Desc),
            paging::order_by("created_at", "id", Order::Desc),
        ))
        .bind(member.to_string())
        .bind(paging::fetch_limit(limit)),
        cursor,
        limit,
        |r| {
            let notice = AccountNotice {
                id: uuid_col(r, "id")?,
                kind: col(r, "kind")?,
                subject: col(r, "ref")?,
                detail: serde_json::from_str(&col::<String>(r, "detail")?).unwrap_or_default(),
                created_at: from_ms(col(r, "created_at")?),
                read: col::<Option<i64>>(r, "read_at")?.is_some(),
            };
            Ok((
                Cursor::new(notice.created_at.timestamp_millis(), notice.id),
                notice,
            ))
        },
    )
    .await
}

/// Marks the member's account notices read.
pub async fn mark_read(store: &Store, member: Uuid) -> AppResult<u64> {
    Ok(sqlx::query(
        "UPDATE account_notices SET read_at = $1 WHERE member_id = $2 AND read_at IS NULL",
    )
    .bind(now_ms())
    .bind(member.to_string())
    .execute(store.writer())
    .await?
    .rows_affected())
}
