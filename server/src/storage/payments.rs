//! Payments of orders: payment intents with a provider (WeChat Pay, Alipay, the demo's
//! sandbox), the provider's notifications (each accepted once), the pending ones the background
//! settler asks the provider about, and what is left of each to refund.

use std::collections::{HashMap, HashSet};

use retail_domain::money::Money;
use retail_domain::order::OrderStatus;
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::orders::lock_head;
use super::{col, now_ms, uuid_col, Store, Tx};
use crate::error::{AppError, AppResult};

/// A payment intent as shown to the shopper.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct PaymentView {
    /// Payment id.
    pub id: Uuid,
    /// Order.
    pub order_id: Uuid,
    /// Method: `wechat_pay`, `alipay`, `sandbox_qr`, `cash`, `stored_balance`, `points`,
    /// `card`.
    pub method: String,
    /// Amount.
    pub amount: Money,
    /// `pending`, `succeeded`, `refunded` (in full) or `closed` (never paid).
    pub status: String,
    /// The provider's transaction id once paid.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transaction_id: Option<String>,
    /// Refunded so far (asked of the provider or paid back).
    pub refunded: Money,
    /// The combined payment's trade this is one order's share of (a checkout's one payment for
    /// several orders: the provider knows the trade, not this payment).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trade_id: Option<Uuid>,
}

/// The columns [`view`] reads.
pub(crate) const COLUMNS: &str =
    "id, order_id, method, amount_fen, status, provider_ref, refunded_fen, trade_id";

pub(crate) fn view(row: &sqlx::any::AnyRow) -> AppResult<PaymentView> {
    Ok(PaymentView {
        id: uuid_col(row, "id")?,
        order_id: uuid_col(row, "order_id")?,
        method: col(row, "method")?,
        amount: Money::from_fen(col(row, "amount_fen")?),
        status: col(row, "status")?,
        transaction_id: col(row, "provider_ref")?,
        refunded: Money::from_fen(col(row, "refunded_fen")?),
        trade_id: col::<Option<String>>(row, "trade_id")?
            .map(|t| Uuid::parse_str(&t))
            .transpose()
            .map_err(|e| AppError::Internal(anyhow::anyhow!("payments.trade_id: {e}")))?,
    })
}

/// Creates (or, on retry with the same id, returns) a payment intent for a pending order, for
/// what is left to pay of it (its total less what its succeeded payments, e.g. stored balance
/// of a split payment, already took), through `method` (a provider's tender) in `scene` (`qr`, `h5`,
/// `jsapi`). The same id for another order or tender is refused (409 `id_in_use`).
pub async fn create_intent(
    store: &Store,
    payment_id: Uuid,
    order_id: Uuid,
    method: &str,
    scene: &str,
) -> AppResult<PaymentView> {
    let mut tx = store.begin().await?;
    let head = lock_head(&mut tx, store, order_id).await?;
    if let Some(existing) = sqlx::query(&format!("SELECT {COLUMNS} FROM payments WHERE id = $1"))
        .bind(payment_id.to_string())
        .fetch_optional(&mut *tx)
        .await?
    {
        let existing = view(&existing)?;
        if existing.order_id != order_id || existing.method != method {
            return Err(AppError::conflict(
                "id_in_use",
                "this payment id belongs to another order or tender",
            ));
        }
        return Ok(existing);
    }
    if head.status != OrderStatus::PendingPayment {
        return Err(AppError::conflict(
            "not_payable",
            format!("order {} is {}", head.order_no, head.status.as_str()),
        ));
    }
    let left = head.total_fen - paid_so_far_in_tx(&mut tx, order_id).await?;
    if left <= 0 {
        return Err(AppError::conflict(
            "not_payable",
            format!("order {} has nothing left to pay", head.order_no),
        ));
    }
    let now = now_ms();
    sqlx::query(
        "INSERT INTO payments (id, order_id, method, amount_fen, status, scene, created_at, \
         updated_at) VALUES ($1, $2, $3, $4, 'pending', $5, $6, $6)",
    )
    .bind(payment_id.to_string())
    .bind(order_id.to_string())
    .bind(method)
    .bind(left)
    .bind(scene)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    get(store, payment_id).await
}

/// One payment.
pub async fn get(store: &Store, id: Uuid) -> AppResult<PaymentView> {
    find(store, id)
        .await?
        .ok_or_else(|| AppError::not_found(format!("payment {id} not found")))
}

/// One payment, if it exists.
pub async fn find(store: &Store, id: Uuid) -> AppResult<Option<PaymentView>> {
    sqlx::query(&format!("SELECT {COLUMNS} FROM payments WHERE id = $1"))
        .bind(id.to_string())
        .fetch_optional(store.writer())
        .await?
        .as_ref()
        .map(view)
        .transpose()
}

/// The payments with these ids that exist (for the change feed).
pub async fn find_many(store: &Store, ids: &[Uuid]) -> AppResult<Vec<PaymentView>> {
    let keys: Vec<String> = ids.iter().map(Uuid::to_string).collect();
    super::rows_by_keys(
        store,
        &format!("SELECT {COLUMNS} FROM payments"),
        "id",
        "",
        &keys,
    )
    .await?
    .iter()
    .map(view)
    .collect()
}

/// The payments of an order, oldest first.
pub async fn of_order(store: &Store, order_id: Uuid) -> AppResult<Vec<PaymentView>> {
    sqlx::query(&format!(
        "SELECT {COLUMNS} FROM payments WHERE order_id = $1 ORDER BY created_at, id"
    ))
    .bind(order_id.to_string())
    .fetch_all(store.reader())
    .await?
    .iter()
    .map(view)
    .collect()
}

/// Provider payments still pending that the settler should ask about: started (or last asked
/// about) before `before`, oldest first. The sandbox's are left out: it has nothing to ask.
pub async fn pending_to_settle(
    store: &Store,
    before: i64,
    limit: i64,
) -> AppResult<Vec<PaymentView>> {
    sqlx::query(&format!(
        "SELECT {COLUMNS} FROM payments WHERE status = 'pending' AND trade_id IS NULL \
         AND method IN ('wechat_pay', 'alipay') AND created_at <= $1 \
         AND (checked_at IS NULL OR checked_at <= $1) ORDER BY created_at, id LIMIT $2"
    ))
    .bind(before)
    .bind(limit)
    .fetch_all(store.reader())
    .await?
    .iter()
    .map(view)
    .collect()
}

/// What is paid through a provider and keeps the prepay the payer was given: an order's
/// payment or a member's recharge.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Payable {
    /// An order's payment (`payments`).
    Payment,
    /// A member's recharge (`recharges`).
    Recharge,
}

impl Payable {
    fn table(self) -> &'static str {
        match self {
            Payable::Payment => "payments",
            Payable::Recharge => "recharges",
        }
    }
}

/// Keeps what the payer was given to pay a pending payment or recharge with (the provider's
/// prepay, JSON), to show it again.
pub async fn set_prepay(store: &Store, of: Payable, id: Uuid, prepay: &str) -> AppResult<()> {
    sqlx::query(&format!(
        "UPDATE {} SET prepay = $1 WHERE id = $2 AND status = 'pending'",
        of.table()
    ))
    .bind(prepay)
    .bind(id.to_string())
    .execute(store.writer())
    .await?;
    Ok(())
}

/// The prepay kept for a payment or recharge ([`set_prepay`]), if any.
pub async fn prepay(store: &Store, of: Payable, id: Uuid) -> AppResult<Option<String>> {
    let row = sqlx::query(&format!("SELECT prepay FROM {} WHERE id = $1", of.table()))
        .bind(id.to_string())
        .fetch_optional(store.writer())
        .await?;
    match row {
        Some(row) => col(&row, "prepay"),
        None => Ok(None),
    }
}

/// Notes that the settler asked the provider about a pending payment or recharge now.
pub async fn mark_checked(store: &Store, of: Payable, id: Uuid) -> AppResult<()> {
    sqlx::query(&format!(
        "UPDATE {} SET checked_at = $1 WHERE id = $2",
        of.table()
    ))
    .bind(now_ms())
    .bind(id.to_string())
    .execute(store.writer())
    .await?;
    Ok(())
}

/// Marks a pending payment closed (the provider closed the trade unpaid); false when it was no
/// longer pending.
pub async fn mark_closed(store: &Store, id: Uuid) -> AppResult<bool> {
    Ok(sqlx::query(
        "UPDATE payments SET status = 'closed', updated_at = $1 WHERE id = $2 AND status = 'pending'",
    )
    .bind(now_ms())
    .bind(id.to_string())
    .execute(store.writer())
    .await?
    .rows_affected()
        == 1)
}

/// An order's succeeded payments through `method` with something left to refund:
/// (payment id, amount, refunded so far), in fen, oldest first.
pub async fn refundable_of_order(
    tx: &mut Tx,
    order: Uuid,
    method: &str,
) -> AppResult<Vec<(Uuid, i64, i64)>> {
    let rows = sqlx::query(
        "SELECT id, amount_fen, refunded_fen FROM payments WHERE order_id = $1 AND method = $2 \
         AND status = 'succeeded' AND refunded_fen < amount_fen ORDER BY created_at, id",
    )
    .bind(order.to_string())
    .bind(method)
    .fetch_all(&mut **tx)
    .await?;
    rows.iter()
        .map(|row| {
            Ok((
                uuid_col(row, "id")?,
                col(row, "amount_fen")?,
                col(row, "refunded_fen")?,
            ))
        })
        .collect()
}

/// Records a provider notification's id in `table` (`payment_notifications` or
/// `lane_payment_notifications`), inside the transaction that applies it: each id is accepted
/// once (409 `replayed_notification` for one seen before).
pub async fn record_notification(
    tx: &mut Tx,
    table: &'static str,
    notify_id: &str,
    payment_id: Uuid,
) -> AppResult<()> {
    let recorded = record_notifications(tx, table, &[(notify_id.to_owned(), payment_id)]).await?;
    if recorded.is_empty() {
        return Err(AppError::conflict(
            "replayed_notification",
            "this notification was already processed",
        ));
    }
    Ok(())
}

/// Reads (and on PostgreSQL locks) a payment inside a transaction; 404 for an unknown one.
pub async fn lock_payment(tx: &mut Tx, store: &Store, id: Uuid) -> AppResult<PaymentView> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM payments WHERE id = $1{}",
        store.for_update()
    ))
    .bind(id.to_string())
    .fetch_optional(&mut **tx)
    .await?
    .ok_or_else(|| AppError::not_found("unknown payment"))?;
    view(&row)
}

/// Reads (and on PostgreSQL locks, in id order) the payments of `ids` inside a transaction;
/// unknown ids are left out.
pub async fn lock_many(
    tx: &mut Tx,
    store: &Store,
    ids: &[Uuid],
) -> AppResult<HashMap<Uuid, PaymentView>> {
    let mut ids: Vec<String> = ids.iter().map(Uuid::to_string).collect();
    ids.sort();
    ids.dedup();
    let sql = format!(
        "SELECT {COLUMNS} FROM payments WHERE {{in}} ORDER BY id{}",
        store.for_update()
    );
    let rows = super::fetch_where_in(tx, &sql, "id", &ids).await?;
    rows.iter()
        .map(|row| view(row).map(|p| (p.id, p)))
        .collect()
}

/// What the succeeded payments of each of `orders` have taken so far, in fen (orders with none
/// are left out): [`paid_so_far_in_tx`] for many orders in one statement.
pub async fn paid_so_far_many(tx: &mut Tx, orders: &[Uuid]) -> AppResult<HashMap<Uuid, i64>> {
    let orders: Vec<String> = orders.iter().map(Uuid::to_string).collect();
    let rows = super::fetch_where_in(
        tx,
        "SELECT order_id, CAST(COALESCE(SUM(amount_fen), 0) AS BIGINT) AS paid FROM payments \
         WHERE {in} AND status = 'succeeded' GROUP BY order_id",
        "order_id",
        &orders,
    )
    .await?;
    rows.iter()
        .map(|row| Ok((uuid_col(row, "order_id")?, col(row, "paid")?)))
        .collect()
}

/// Records many providers' notification ids at once (`table` as in [`record_notification`]),
/// each with its payment, and answers the ids recorded now: an id recorded before is left out
/// (a replay). The ids must differ from each other.
pub async fn record_notifications(
    tx: &mut Tx,
    table: &'static str,
    notifications: &[(String, Uuid)],
) -> AppResult<HashSet<String>> {
    let mut recorded = HashSet::with_capacity(notifications.len());
    let now = now_ms();
    for chunk in notifications.chunks(super::MAX_PARAMS / 2) {
        let values = (0..chunk.len())
            .map(|i| format!("(${}, ${}, $1)", 2 + 2 * i, 3 + 2 * i))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "INSERT INTO {table} (notify_id, payment_id, received_at) VALUES {values} \
             ON CONFLICT (notify_id) DO NOTHING RETURNING notify_id"
        );
        let mut query = sqlx::query(&sql).bind(now);
        for (notify_id, payment) in chunk {
            query = query.bind(notify_id.as_str()).bind(payment.to_string());
        }
        for row in query.fetch_all(&mut **tx).await? {
            recorded.insert(col(&row, "notify_id")?);
        }
    }
    Ok(recorded)
}

/// What an order's succeeded payments have taken so far, in fen (more than one when it is paid
/// in parts: stored balance, then a provider for the rest).
pub async fn paid_so_far_in_tx(tx: &mut Tx, order: Uuid) -> AppResult<i64> {
    let row = sqlx::query(
        "SELECT CAST(COALESCE(SUM(amount_fen), 0) AS BIGINT) AS paid FROM payments \
         WHERE order_id = $1 AND status = 'succeeded'",
    )
    .bind(order.to_string())
    .fetch_one(&mut **tx)
    .await?;
    col(&row, "paid")
}

/// Reads a payment inside a transaction, if it exists.
pub async fn find_in_tx(tx: &mut Tx, id: Uuid) -> AppResult<Option<PaymentView>> {
    sqlx::query(&format!("SELECT {COLUMNS} FROM payments WHERE id = $1"))
        .bind(id.to_string())
        .fetch_optional(&mut **tx)
        .await?
        .as_ref()
        .map(view)
        .transpose()
}

/// Records a pending payment of `amount_fen` of an order from an internal tender (the stored
/// balance) in the caller's transaction; it succeeds with [`mark_succeeded`].
pub async fn insert_internal_in_tx(
    tx: &mut Tx,
    id: Uuid,
    order: Uuid,
    method: &str,
    amount_fen: i64,
) -> AppResult<()> {
    let now = now_ms();
    sqlx::query(
        "INSERT INTO payments (id, order_id, method, amount_fen, status, scene, created_at, \
         updated_at) VALUES ($1, $2, $3, $4, 'pending', 'online', $5, $5)",
    )
    .bind(id.to_string())
    .bind(order.to_string())
    .bind(method)
    .bind(amount_fen)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Marks a payment succeeded with the provider's transaction reference (empty for an internal
/// tender, which has none).
pub async fn mark_succeeded(tx: &mut Tx, id: Uuid, provider_ref: &str) -> AppResult<()> {
    mark_many_succeeded(tx, &[(id, provider_ref)]).await
}

/// [`mark_succeeded`] for many payments in one statement: (payment, the provider's transaction
/// id) each.
pub async fn mark_many_succeeded(tx: &mut Tx, paid: &[(Uuid, &str)]) -> AppResult<()> {
    let now = now_ms();
    for chunk in paid.chunks(super::MAX_PARAMS / 2 - 1) {
        let cases = (0..chunk.len())
            .map(|i| format!("WHEN ${} THEN ${}", 2 + 2 * i, 3 + 2 * i))
            .collect::<Vec<_>>()
            .join(" ");
        let ids = (0..chunk.len())
            .map(|i| format!("${}", 2 + 2 * i))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "UPDATE payments SET status = 'succeeded', provider_ref = CASE id {cases} END, \
             paid_at = $1, updated_at = $1 WHERE id IN ({ids})"
        );
        let mut query = sqlx::query(&sql).bind(now);
        for (id, provider_ref) in chunk {
            query = query
                .bind(id.to_string())
                .bind((!provider_ref.is_empty()).then_some(*provider_ref));
        }
        query.execute(&mut **tx).await?;
    }
    Ok(())
}

/// The succeeded payments of an order: (payment id, method, amount in fen).
pub async fn succeeded_of_order(tx: &mut Tx, order: Uuid) -> AppResult<Vec<(String, String, i64)>> {
    let rows = sqlx::query(
        "SELECT id, method, amount_fen FROM payments WHERE order_id = $1 AND status = 'succeeded'",
    )
    .bind(order.to_string())
    .fetch_all(&mut **tx)
    .await?;
    rows.iter()
        .map(|row| {
            Ok((
                col(row, "id")?,
                col(row, "method")?,
                col(row, "amount_fen")?,
            ))
        })
        .collect()
}

/// Marks a payment of an internal tender (cash, card, stored balance, points) refunded in full;
/// provider payments are refunded through `payment_refunds` instead.
pub async fn mark_refunded(tx: &mut Tx, id: &str) -> AppResult<()> {
    sqlx::query(
        "UPDATE payments SET status = 'refunded', refunded_fen = amount_fen, updated_at = $1 \
         WHERE id = $2",
    )
    .bind(now_ms())
    .bind(id)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The orders these payment ids belong to, by payment id.
pub async fn orders_of_payments(
    tx: &mut Tx,
    ids: &[String],
) -> AppResult<std::collections::HashMap<String, Uuid>> {
    let mut out = std::collections::HashMap::new();
    for row in super::fetch_in(
        tx,
        "SELECT id, order_id FROM payments WHERE id IN ({})",
        ids,
    )
    .await?
    {
        out.insert(col(&row, "id")?, uuid_col(&row, "order_id")?);
    }
    Ok(out)
}

/// The orders these provider references belong to, by reference.
pub async fn orders_of_provider_refs(
    tx: &mut Tx,
    refs: &[String],
) -> AppResult<std::collections::HashMap<String, Uuid>> {
    let mut out = std::collections::HashMap::new();
    for row in super::fetch_in(
        tx,
        "SELECT provider_ref, order_id FROM payments WHERE provider_ref IN ({})",
        refs,
    )
    .await?
    {
        out.insert(col(&row, "provider_ref")?, uuid_col(&row, "order_id")?);
    }
    Ok(out)
}

/// Marks every succeeded internal-tender payment of an order refunded (everything was
/// returned); its provider payments are marked as their refunds are recorded.
pub async fn mark_order_refunded(tx: &mut Tx, order: Uuid) -> AppResult<()> {
    sqlx::query(
        "UPDATE payments SET status = 'refunded', refunded_fen = amount_fen, updated_at = $1 \
         WHERE order_id = $2 AND status = 'succeeded' \
         AND method NOT IN ('wechat_pay', 'alipay', 'sandbox_qr')",
    )
    .bind(now_ms())
    .bind(order.to_string())
    .execute(&mut **tx)
    .await?;
    Ok(())
}
