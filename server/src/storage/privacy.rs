//! Privacy (PIPL): consents to the privacy policy, everything the shop holds about one member
//! (for the member's own download) and the anonymisation of a deleted account.
//!
//! A deleted member's row stays (orders and the points and balance ledgers reference it), but
//! its sealed phone and look-up hash are replaced by values that match no phone number (so the
//! number can sign up again as a new member), its name is cleared and `deleted_at` is set.

use serde::Serialize;
use uuid::Uuid;

use super::{col, from_ms, now_ms, Store, Tx};
use crate::error::AppResult;

/// Order statuses that still have something to settle: an account is not deleted while one of
/// its orders is in one of them.
pub const OPEN_ORDER_STATUSES: [&str; 4] =
    ["pending_payment", "paid", "ready_for_pickup", "shipped"];

/// One recorded consent to a version of the privacy policy.
#[derive(Debug, Clone, Serialize)]
pub struct Consent {
    /// The policy version accepted.
    pub policy_version: String,
    /// When (RFC 3339).
    pub accepted_at: chrono::DateTime<chrono::Utc>,
    /// The client address it was accepted from.
    pub client_addr: String,
}

/// Records that `member_id` accepted `version` from `client_addr`; a repeat keeps the first
/// record (idempotent by member and version).
pub async fn record_consent(
    tx: &mut Tx,
    member_id: Uuid,
    version: &str,
    client_addr: &str,
) -> AppResult<()> {
    sqlx::query(
        "INSERT INTO privacy_consents (member_id, policy_version, accepted_at, client_addr) \
         VALUES ($1, $2, $3, $4) ON CONFLICT (member_id, policy_version) DO NOTHING",
    )
    .bind(member_id.to_string())
    .bind(version)
    .bind(now_ms())
    .bind(client_addr)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// True when `member_id` has accepted `version`.
pub async fn has_consent(store: &Store, member_id: Uuid, version: &str) -> AppResult<bool> {
    // Through the writer: read-your-writes right after the acceptance.
    let row = sqlx::query(
        "SELECT COUNT(*) AS n FROM privacy_consents WHERE member_id = $1 AND policy_version = $2",
    )
    .bind(member_id.to_string())
    .bind(version)
    .fetch_one(store.writer())
    .await?;
    Ok(col::<i64>(&row, "n")? > 0)
}

/// A member's consents, oldest first.
pub async fn consents(store: &Store, member_id: Uuid) -> AppResult<Vec<Consent>> {
    let rows = sqlx::query(
        "SELECT policy_version, accepted_at, client_addr FROM privacy_consents \
         WHERE member_id = $1 ORDER BY accepted_at, policy_version",
    )
    .bind(member_id.to_string())
    .fetch_all(store.writer())
    .await?;
    rows.iter()
        .map(|r| {
            Ok(Consent {
                policy_version: col(r, "policy_version")?,
                accepted_at: from_ms(col(r, "accepted_at")?),
                client_addr: col(r, "client_addr")?,
            })
        })
        .collect()
}

/// The member row's personal fields: `(phone_enc, name, name_enc, created_at, deleted_at)`.
#[allow(clippy::type_complexity)]
pub async fn member_row(
    store: &Store,
    member_id: Uuid,
) -> AppResult<Option<(String, String, Option<String>, i64, Option<i64>)>> {
    let row = sqlx::query(
        "SELECT phone_enc, name, name_enc, created_at, deleted_at FROM members WHERE id = $1",
    )
    .bind(member_id.to_string())
    .fetch_optional(store.writer())
    .await?;
    row.map(|r| {
        Ok((
            col(&r, "phone_enc")?,
            col(&r, "name")?,
            col(&r, "name_enc")?,
            col(&r, "created_at")?,
            col(&r, "deleted_at")?,
        ))
    })
    .transpose()
}

/// Runs `sql` (one `$1` = member id) and returns every row as a JSON object of its columns,
/// each column decoded as text, integer or null (the export's generic row shape).
async fn rows_as_json(
    store: &Store,
    sql: &str,
    id: &str,
    text_cols: &[&str],
    int_cols: &[&str],
) -> AppResult<Vec<serde_json::Value>> {
    let rows = sqlx::query(sql).bind(id).fetch_all(store.writer()).await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        let mut obj = serde_json::Map::new();
        for c in text_cols {
            let v: Option<String> = col(r, c)?;
            obj.insert((*c).into(), v.map_or(serde_json::Value::Null, Into::into));
        }
        for c in int_cols {
            let v: Option<i64> = col(r, c)?;
            obj.insert((*c).into(), v.map_or(serde_json::Value::Null, Into::into));
        }
        out.push(serde_json::Value::Object(obj));
    }
    Ok(out)
}

/// Everything about one member's activity, as plain JSON rows (times in Unix ms, money in fen):
/// `points_ledger`, `balance_ledger`, `orders` (each with its `lines`), `coupons`, `notices`,
/// `reviews`, `searches`, `checkins`.
pub async fn activity(store: &Store, member_id: Uuid) -> AppResult<serde_json::Value> {
    let id = member_id.to_string();
    let points = rows_as_json(
        store,
        "SELECT id, kind, reason, ref_id, delta, expires_at, created_at FROM points_ledger \
         WHERE member_id = $1 ORDER BY created_at, id",
        &id,
        &["id", "kind", "reason", "ref_id"],
        &["delta", "expires_at", "created_at"],
    )
    .await?;
    let balance = rows_as_json(
        store,
        "SELECT id, kind, reason, ref_id, delta_fen, created_at FROM balance_ledger \
         WHERE member_id = $1 ORDER BY created_at, id",
        &id,
        &["id", "kind", "reason", "ref_id"],
        &["delta_fen", "created_at"],
    )
    .await?;
    let mut orders = rows_as_json(
        store,
        "SELECT id, order_no, channel, fulfilment, status, location_id, subtotal_fen, \
         discount_fen, total_fen, points_earned, points_redeemed, created_at FROM orders \
         WHERE member_id = $1 ORDER BY created_at, id",
        &id,
        &[
            "id",
            "order_no",
            "channel",
            "fulfilment",
            "status",
            "location_id",
        ],
        &[
            "subtotal_fen",
            "discount_fen",
            "total_fen",
            "points_earned",
            "points_redeemed",
            "created_at",
        ],
    )
    .await?;
    let lines = rows_as_json(
        store,
        "SELECT l.order_id, l.sku_id, l.name, l.line_no, l.qty, l.unit_price_fen, l.discount_fen, \
         l.amount_fen, l.returned_qty FROM order_lines l JOIN orders o ON o.id = l.order_id \
         WHERE o.member_id = $1 ORDER BY l.order_id, l.line_no",
        &id,
        &["order_id", "sku_id", "name"],
        &[
            "line_no",
            "qty",
            "unit_price_fen",
            "discount_fen",
            "amount_fen",
            "returned_qty",
        ],
    )
    .await?;
    for order in &mut orders {
        let order_id = order["id"].clone();
        let mine: Vec<serde_json::Value> = lines
            .iter()
            .filter(|l| l["order_id"] == order_id)
            .cloned()
            .collect();
        if let Some(obj) = order.as_object_mut() {
            obj.insert("lines".into(), mine.into());
        }
    }
    let coupons = rows_as_json(
        store,
        "SELECT c.id, c.template_id, t.body, c.status, c.order_id, c.valid_from, c.valid_until, \
         c.used_at, c.issued_at FROM coupons c JOIN coupon_templates t ON t.id = c.template_id \
         WHERE c.member_id = $1 ORDER BY c.issued_at, c.id",
        &id,
        &["id", "template_id", "body", "status", "order_id"],
        &["valid_from", "valid_until", "used_at", "issued_at"],
    )
    .await?;
    let notices = rows_as_json(
        store,
        "SELECT id, order_id, kind, order_no, location_id, created_at, read_at FROM member_notices \
         WHERE member_id = $1 ORDER BY created_at, id",
        &id,
        &["id", "order_id", "kind", "order_no", "location_id"],
        &["created_at", "read_at"],
    )
    .await?;
    let reviews = rows_as_json(
        store,
        "SELECT id, order_no, line_no, item_name, rating, body, status, follow_up_body, created_at \
         FROM reviews WHERE member_id = $1 ORDER BY created_at, id",
        &id,
        &["id", "order_no", "item_name", "body", "status", "follow_up_body"],
        &["line_no", "rating", "created_at"],
    )
    .await?;
    let searches = rows_as_json(
        store,
        "SELECT term, searched_at FROM member_searches WHERE member_id = $1 ORDER BY searched_at, term",
        &id,
        &["term"],
        &["searched_at"],
    )
    .await?;
    let checkins = rows_as_json(
        store,
        "SELECT day, streak, points, growth, created_at FROM member_checkins WHERE member_id = $1 \
         ORDER BY day",
        &id,
        &[],
        &["day", "streak", "points", "growth", "created_at"],
    )
    .await?;
    let chat = rows_as_json(
        store,
        "SELECT m.conversation_id, m.seq, m.sender, m.kind, m.body, m.created_at FROM chat_messages m \
         JOIN chat_conversations c ON c.id = m.conversation_id WHERE c.member_id = $1 \
         ORDER BY m.created_at, m.seq",
        &id,
        &["conversation_id", "sender", "kind", "body"],
        &["seq", "created_at"],
    )
    .await?;
    Ok(serde_json::json!({
        "chat": chat,
        "points_ledger": points,
        "balance_ledger": balance,
        "orders": orders,
        "coupons": coupons,
        "notices": notices,
        "reviews": reviews,
        "searches": searches,
        "checkins": checkins,
    }))
}

/// How many of the member's orders are still open (see [`OPEN_ORDER_STATUSES`]).
pub async fn open_orders(tx: &mut Tx, member_id: Uuid) -> AppResult<i64> {
    let row = sqlx::query(
        "SELECT COUNT(*) AS n FROM orders WHERE member_id = $1 \
         AND status IN ($2, $3, $4, $5)",
    )
    .bind(member_id.to_string())
    .bind(OPEN_ORDER_STATUSES[0])
    .bind(OPEN_ORDER_STATUSES[1])
    .bind(OPEN_ORDER_STATUSES[2])
    .bind(OPEN_ORDER_STATUSES[3])
    .fetch_one(&mut **tx)
    .await?;
    col(&row, "n")
}

/// The member's stored balance (fen) inside a transaction.
pub async fn balance_fen(tx: &mut Tx, member_id: Uuid) -> AppResult<i64> {
    let row = sqlx::query(
        "SELECT CAST(COALESCE(SUM(delta_fen), 0) AS BIGINT) AS fen FROM balance_ledger WHERE member_id = $1",
    )
    .bind(member_id.to_string())
    .fetch_one(&mut **tx)
    .await?;
    col(&row, "fen")
}

/// Locks the member row (PostgreSQL `FOR UPDATE`; SQLite's single writer serialises) and
/// reads it: `None` for an unknown member, else its `deleted_at` (`None` while live).
pub async fn lock_for_deletion(
    tx: &mut Tx,
    store: &Store,
    member_id: Uuid,
) -> AppResult<Option<Option<i64>>> {
    let row = sqlx::query(&format!(
        "SELECT deleted_at FROM members WHERE id = $1{}",
        store.for_update()
    ))
    .bind(member_id.to_string())
    .fetch_optional(&mut **tx)
    .await?;
    row.map(|r| col(&r, "deleted_at")).transpose()
}

/// Anonymises the member row: `phone_hash` and `phone_enc` replaced by the given values (which
/// match no phone number), name cleared, `deleted_at` set; unspent coupons expire now; shipping
/// addresses on the member's orders are removed; every shop session of the member is logged
/// out. Returns the number of coupons forfeited.
pub async fn anonymise(
    tx: &mut Tx,
    member_id: Uuid,
    phone_hash: &str,
    phone_enc: &str,
    at_ms: i64,
) -> AppResult<u64> {
    let id = member_id.to_string();
    sqlx::query(
        "UPDATE members SET phone_hash = $2, phone_enc = $3, name = '', name_enc = NULL, \
         birthday = NULL, birthday_set_at = NULL, deleted_at = $4 WHERE id = $1",
    )
    .bind(&id)
    .bind(phone_hash)
    .bind(phone_enc)
    .bind(at_ms)
    .execute(&mut **tx)
    .await?;
    let coupons = sqlx::query(
        "UPDATE coupons SET valid_until = $2 WHERE member_id = $1 AND status = 'available' \
         AND valid_until > $2",
    )
    .bind(&id)
    .bind(at_ms)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    sqlx::query(
        "UPDATE orders SET address_enc = NULL WHERE member_id = $1 AND address_enc IS NOT NULL",
    )
    .bind(&id)
    .execute(&mut **tx)
    .await?;
    // Saved delivery addresses go with the account.
    sqlx::query("DELETE FROM member_addresses WHERE member_id = $1")
        .bind(&id)
        .execute(&mut **tx)
        .await?;
    // Their reviews go too: text, photos and follow-up removed, hidden from the product pages
    // (the ratings drop out of the products' summaries); the rows stay for the ledgers' refs.
    sqlx::query(
        "DELETE FROM review_photos WHERE review_id IN (SELECT id FROM reviews WHERE member_id = $1)",
    )
    .bind(&id)
    .execute(&mut **tx)
    .await?;
    sqlx::query(
        "UPDATE reviews SET body = '', body_hash = '', photo_count = 0, status = 'hidden', \
         hide_reason = 'account deleted', follow_up_body = NULL, follow_up_hash = NULL, \
         follow_up_status = CASE WHEN follow_up_status IS NULL THEN NULL ELSE 'hidden' END \
         WHERE member_id = $1",
    )
    .bind(&id)
    .execute(&mut **tx)
    .await?;
    // Their chat: every message of their conversations blanked (agents' answers may quote them),
    // their conversations closed.
    sqlx::query(
        "UPDATE chat_messages SET body = '', kind = 'text' WHERE conversation_id IN \
         (SELECT id FROM chat_conversations WHERE member_id = $1)",
    )
    .bind(&id)
    .execute(&mut **tx)
    .await?;
    sqlx::query(
        "UPDATE chat_conversations SET status = 'closed', closed_at = COALESCE(closed_at, $2) \
         WHERE member_id = $1",
    )
    .bind(&id)
    .bind(super::now_ms())
    .execute(&mut **tx)
    .await?;
    // And what they searched for.
    sqlx::query("DELETE FROM member_searches WHERE member_id = $1")
        .bind(&id)
        .execute(&mut **tx)
        .await?;
    // Their profile (RFM scores, rule tags and imported tags) goes; the segments job never
    // scores them again.
    for table in ["member_tags", "member_rfm", "imported_member_tags"] {
        sqlx::query(&format!("DELETE FROM {table} WHERE member_id = $1"))
            .bind(&id)
            .execute(&mut **tx)
            .await?;
    }
    // Their tracked events stay, anonymous.
    sqlx::query("UPDATE events SET member_id = NULL WHERE member_id = $1")
        .bind(&id)
        .execute(&mut **tx)
        .await?;
    // The growth rollups forget them (the counts stay).
    super::growth::forget_member(tx, &id).await?;
    // Logged out, and the WeChat openid its browser gave forgotten with it.
    sqlx::query(
        "UPDATE web_sessions SET member_id = NULL, wechat_openid = NULL WHERE member_id = $1",
    )
    .bind(&id)
    .execute(&mut **tx)
    .await?;
    Ok(coupons)
}

/// Members with a personal field not sealed with the current data key (`current` is the key's
/// prefix, `v2.<id>.`), or with a name from before names were sealed: `(id, phone_enc, name,
/// name_enc)`, by id after `after`, at most `limit`.
#[allow(clippy::type_complexity)]
pub async fn members_to_reseal(
    store: &Store,
    current: &str,
    after: &str,
    limit: i64,
) -> AppResult<Vec<(Uuid, String, String, Option<String>)>> {
    let rows = sqlx::query(
        "SELECT id, phone_enc, name, name_enc FROM members WHERE id > $1 \
         AND (phone_enc NOT LIKE $2 OR name <> '' OR (name_enc IS NOT NULL AND name_enc NOT LIKE $2)) \
         ORDER BY id LIMIT $3",
    )
    .bind(after)
    .bind(format!("{current}%"))
    .bind(limit)
    .fetch_all(store.reader())
    .await?;
    rows.iter()
        .map(|r| {
            Ok((
                super::uuid_col(r, "id")?,
                col(r, "phone_enc")?,
                col(r, "name")?,
                col(r, "name_enc")?,
            ))
        })
        .collect()
}

/// Writes a member's personal fields sealed again, only if they are still what was read (a
/// change in between, e.g. a deletion, wins): answers whether the row was written.
pub async fn reseal_member(
    store: &Store,
    id: Uuid,
    (old_phone, old_name, old_name_enc): (&str, &str, Option<&str>),
    (phone_enc, name_enc): (&str, Option<&str>),
) -> AppResult<bool> {
    let done = sqlx::query(
        "UPDATE members SET phone_enc = $2, name = '', name_enc = $3 \
         WHERE id = $1 AND phone_enc = $4 AND name = $5 AND COALESCE(name_enc, '') = $6",
    )
    .bind(id.to_string())
    .bind(phone_enc)
    .bind(name_enc)
    .bind(old_phone)
    .bind(old_name)
    .bind(old_name_enc.unwrap_or(""))
    .execute(store.writer())
    .await?;
    Ok(done.rows_affected() > 0)
}

/// The sealed columns [`crate::app::privacy::reseal`] keeps sealed with the current data key,
/// apart from the members' own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SealedColumn {
    /// `orders.address_enc`: each delivery order's address.
    Orders,
    /// `member_addresses.address_enc`: members' saved addresses.
    Saved,
    /// `webhook_endpoints.secret`: endpoints' signing secrets (plain before they were sealed).
    WebhookSecrets,
}

impl SealedColumn {
    fn table(self) -> &'static str {
        match self {
            Self::Orders => "orders",
            Self::Saved => "member_addresses",
            Self::WebhookSecrets => "webhook_endpoints",
        }
    }

    fn column(self) -> &'static str {
        match self {
            Self::Orders | Self::Saved => "address_enc",
            Self::WebhookSecrets => "secret",
        }
    }
}

/// Rows of `sealed`'s table whose value is not sealed with the current data key:
/// `(id, value)`, by id after `after`, at most `limit`.
pub async fn sealed_to_reseal(
    store: &Store,
    sealed: SealedColumn,
    current: &str,
    after: &str,
    limit: i64,
) -> AppResult<Vec<(Uuid, String)>> {
    let (table, column) = (sealed.table(), sealed.column());
    let rows = sqlx::query(&format!(
        "SELECT id, {column} AS value FROM {table} WHERE id > $1 AND {column} IS NOT NULL \
         AND {column} NOT LIKE $2 ORDER BY id LIMIT $3"
    ))
    .bind(after)
    .bind(format!("{current}%"))
    .bind(limit)
    .fetch_all(store.reader())
    .await?;
    rows.iter()
        .map(|r| Ok((super::uuid_col(r, "id")?, col(r, "value")?)))
        .collect()
}

/// Writes a row's value sealed again, only if it is still what was read.
pub async fn reseal_value(
    store: &Store,
    sealed: SealedColumn,
    id: Uuid,
    old: &str,
    new: &str,
) -> AppResult<bool> {
    let (table, column) = (sealed.table(), sealed.column());
    let done = sqlx::query(&format!(
        "UPDATE {table} SET {column} = $2 WHERE id = $1 AND {column} = $3"
    ))
    .bind(id.to_string())
    .bind(new)
    .bind(old)
    .execute(store.writer())
    .await?;
    Ok(done.rows_affected() > 0)
}
