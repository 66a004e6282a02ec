//! Checkouts and combined payments (issue 20, migration 0071): a cart placed at once as one
//! order per merchant (`checkouts`, `checkout_orders`), and the one trade at a provider that
//! pays several of those orders (`payment_trades`, with a payment row per order carrying
//! `payments.trade_id`). The rules — how a cart splits, what a trade covers, what a paid
//! notification does — are the application layer's ([`crate::app::checkouts`]).

use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{col, now_ms, uuid_col, Store, Tx};
use crate::error::{AppError, AppResult};

/// One order of a checkout.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckoutOrder {
    /// The order's id.
    pub order_id: Uuid,
    /// The merchant whose goods it holds.
    pub merchant_id: String,
    /// Its place in the checkout (0 first; the platform's own goods first when there are any).
    pub position: i64,
}

/// A checkout as recorded.
#[derive(Clone, Debug)]
pub struct CheckoutRecord {
    /// The client's id of the checkout.
    pub id: Uuid,
    /// The member who placed it.
    pub member_id: Option<Uuid>,
    /// `delivery` or `pickup`.
    pub fulfilment: String,
    /// Unix ms.
    pub created_at: i64,
    /// Its orders, by position.
    pub orders: Vec<CheckoutOrder>,
}

/// A checkout to record before its orders are placed.
#[derive(Clone, Debug)]
pub struct NewCheckout<'a> {
    /// The client's id.
    pub id: Uuid,
    /// The member placing it.
    pub member_id: Option<Uuid>,
    /// `delivery` or `pickup`.
    pub fulfilment: &'a str,
    /// Who places it.
    pub created_by: &'a str,
    /// Its orders, by position.
    pub orders: &'a [CheckoutOrder],
}

/// Records a checkout and the orders it will place, once: a retry with the same id answers
/// what was recorded first (the caller compares it with what it asked for).
pub async fn record(store: &Store, new: &NewCheckout<'_>) -> AppResult<CheckoutRecord> {
    let mut tx = store.begin().await?;
    let inserted = sqlx::query(
        "INSERT INTO checkouts (id, member_id, fulfilment, created_by, created_at) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (id) DO NOTHING",
    )
    .bind(new.id.to_string())
    .bind(new.member_id.map(|m| m.to_string()))
    .bind(new.fulfilment)
    .bind(new.created_by)
    .bind(now_ms())
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if inserted == 1 {
        for order in new.orders {
            sqlx::query(
                "INSERT INTO checkout_orders (checkout_id, order_id, merchant_id, position) \
                 VALUES ($1, $2, $3, $4)",
            )
            .bind(new.id.to_string())
            .bind(order.order_id.to_string())
            .bind(order.merchant_id.as_str())
            .bind(order.position)
            .execute(&mut *tx)
            .await?;
        }
    }
    tx.commit().await?;
    get(store, new.id)
        .await?
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("checkout {} not recorded", new.id)))
}

/// A checkout, if it exists.
pub async fn get(store: &Store, id: Uuid) -> AppResult<Option<CheckoutRecord>> {
    let Some(row) =
        sqlx::query("SELECT id, member_id, fulfilment, created_at FROM checkouts WHERE id = $1")
            .bind(id.to_string())
            .fetch_optional(store.writer())
            .await?
    else {
        return Ok(None);
    };
    let member_id = col::<Option<String>>(&row, "member_id")?
        .map(|m| Uuid::parse_str(&m))
        .transpose()
        .map_err(|e| AppError::Internal(anyhow::anyhow!("checkouts.member_id: {e}")))?;
    let orders = sqlx::query(
        "SELECT order_id, merchant_id, position FROM checkout_orders WHERE checkout_id = $1 \
         ORDER BY position",
    )
    .bind(id.to_string())
    .fetch_all(store.writer())
    .await?
    .iter()
    .map(|r| {
        Ok(CheckoutOrder {
            order_id: uuid_col(r, "order_id")?,
            merchant_id: col(r, "merchant_id")?,
            position: col(r, "position")?,
        })
    })
    .collect::<AppResult<Vec<_>>>()?;
    Ok(Some(CheckoutRecord {
        id: uuid_col(&row, "id")?,
        member_id,
        fulfilment: col(&row, "fulfilment")?,
        created_at: col(&row, "created_at")?,
        orders,
    }))
}

/// The checkout an order was placed in, if any.
pub async fn of_order(store: &Store, order_id: Uuid) -> AppResult<Option<Uuid>> {
    sqlx::query("SELECT checkout_id FROM checkout_orders WHERE order_id = $1")
        .bind(order_id.to_string())
        .fetch_optional(store.reader())
        .await?
        .map(|r| uuid_col(&r, "checkout_id"))
        .transpose()
}

/// A combined payment's trade at its provider.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[schema(as = PaymentTrade)]
pub struct Trade {
    /// Its id: the trade's `out_trade_no` at the provider (as 32 hex digits).
    pub id: Uuid,
    /// The checkout whose orders it pays.
    pub checkout_id: Uuid,
    /// The provider's tender: `wechat_pay`, `alipay` or `sandbox_qr`.
    pub method: String,
    /// What the trade asks for, in total (fen).
    pub amount_fen: i64,
    /// `pending`, `succeeded` or `closed` (never paid).
    pub status: String,
    /// The provider's transaction id once paid.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transaction_id: Option<String>,
}

const TRADE_COLUMNS: &str = "id, checkout_id, method, amount_fen, status, provider_ref";

fn trade_of(row: &sqlx::any::AnyRow) -> AppResult<Trade> {
    Ok(Trade {
        id: uuid_col(row, "id")?,
        checkout_id: uuid_col(row, "checkout_id")?,
        method: col(row, "method")?,
        amount_fen: col(row, "amount_fen")?,
        status: col(row, "status")?,
        transaction_id: col(row, "provider_ref")?,
    })
}

/// A trade, if it exists.
pub async fn trade(store: &Store, id: Uuid) -> AppResult<Option<Trade>> {
    sqlx::query(&format!(
        "SELECT {TRADE_COLUMNS} FROM payment_trades WHERE id = $1"
    ))
    .bind(id.to_string())
    .fetch_optional(store.writer())
    .await?
    .as_ref()
    .map(trade_of)
    .transpose()
}

/// The trades of a checkout, oldest first.
pub async fn trades_of(store: &Store, checkout: Uuid) -> AppResult<Vec<Trade>> {
    sqlx::query(&format!(
        "SELECT {TRADE_COLUMNS} FROM payment_trades WHERE checkout_id = $1 ORDER BY created_at, id"
    ))
    .bind(checkout.to_string())
    .fetch_all(store.reader())
    .await?
    .iter()
    .map(trade_of)
    .collect()
}

/// Reads (and on PostgreSQL locks) a trade inside a transaction; `None` for an unknown one.
pub async fn lock_trade(tx: &mut Tx, store: &Store, id: Uuid) -> AppResult<Option<Trade>> {
    sqlx::query(&format!(
        "SELECT {TRADE_COLUMNS} FROM payment_trades WHERE id = $1{}",
        store.for_update()
    ))
    .bind(id.to_string())
    .fetch_optional(&mut **tx)
    .await?
    .as_ref()
    .map(trade_of)
    .transpose()
}

/// Records a trade in the caller's transaction (its payment rows follow with
/// [`insert_trade_payment_in_tx`]).
pub async fn insert_trade_in_tx(
    tx: &mut Tx,
    id: Uuid,
    checkout: Uuid,
    method: &str,
    scene: &str,
    amount_fen: i64,
) -> AppResult<()> {
    let now = now_ms();
    sqlx::query(
        "INSERT INTO payment_trades (id, checkout_id, method, scene, amount_fen, status, \
         created_at, updated_at) VALUES ($1, $2, $3, $4, $5, 'pending', $6, $6)",
    )
    .bind(id.to_string())
    .bind(checkout.to_string())
    .bind(method)
    .bind(scene)
    .bind(amount_fen)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Records one order's share of a trade as a pending payment of that order.
pub async fn insert_trade_payment_in_tx(
    tx: &mut Tx,
    payment: Uuid,
    trade: Uuid,
    order: Uuid,
    method: &str,
    scene: &str,
    amount_fen: i64,
) -> AppResult<()> {
    let now = now_ms();
    sqlx::query(
        "INSERT INTO payments (id, order_id, method, amount_fen, status, scene, trade_id, \
         created_at, updated_at) VALUES ($1, $2, $3, $4, 'pending', $5, $6, $7, $7)",
    )
    .bind(payment.to_string())
    .bind(order.to_string())
    .bind(method)
    .bind(amount_fen)
    .bind(scene)
    .bind(trade.to_string())
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The payment rows of a trade (one per order it pays), by order id.
pub async fn trade_payments_in_tx(
    tx: &mut Tx,
    trade: Uuid,
) -> AppResult<Vec<super::payments::PaymentView>> {
    let rows = sqlx::query(&trade_payments_sql())
        .bind(trade.to_string())
        .fetch_all(&mut **tx)
        .await?;
    rows.iter().map(super::payments::view).collect()
}

/// [`trade_payments_in_tx`] outside a transaction.
pub async fn trade_payments(
    store: &Store,
    trade: Uuid,
) -> AppResult<Vec<super::payments::PaymentView>> {
    let rows = sqlx::query(&trade_payments_sql())
        .bind(trade.to_string())
        .fetch_all(store.writer())
        .await?;
    rows.iter().map(super::payments::view).collect()
}

fn trade_payments_sql() -> String {
    format!(
        "SELECT {} FROM payments WHERE trade_id = $1 ORDER BY order_id",
        super::payments::COLUMNS
    )
}

/// Marks a trade paid with the provider's transaction id (its payment rows are applied one by
/// one by the caller).
pub async fn mark_trade_succeeded_in_tx(
    tx: &mut Tx,
    id: Uuid,
    provider_ref: &str,
) -> AppResult<()> {
    let now = now_ms();
    sqlx::query(
        "UPDATE payment_trades SET status = 'succeeded', provider_ref = $1, paid_at = $2, \
         updated_at = $2 WHERE id = $3",
    )
    .bind(provider_ref)
    .bind(now)
    .bind(id.to_string())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Marks a pending trade closed (never paid) and its payment rows still pending with it; false
/// when it was no longer pending.
pub async fn mark_trade_closed(store: &Store, id: Uuid) -> AppResult<bool> {
    let mut tx = store.begin().await?;
    let now = now_ms();
    let closed = sqlx::query(
        "UPDATE payment_trades SET status = 'closed', updated_at = $1 \
         WHERE id = $2 AND status = 'pending'",
    )
    .bind(now)
    .bind(id.to_string())
    .execute(&mut *tx)
    .await?
    .rows_affected()
        == 1;
    if closed {
        sqlx::query(
            "UPDATE payments SET status = 'closed', updated_at = $1 \
             WHERE trade_id = $2 AND status = 'pending'",
        )
        .bind(now)
        .bind(id.to_string())
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(closed)
}

/// Keeps what the payer was given to pay a pending trade with (the provider's prepay, JSON).
pub async fn set_trade_prepay(store: &Store, id: Uuid, prepay: &str) -> AppResult<()> {
    sqlx::query("UPDATE payment_trades SET prepay = $1 WHERE id = $2")
        .bind(prepay)
        .bind(id.to_string())
        .execute(store.writer())
        .await?;
    Ok(())
}

/// The prepay kept for a trade, if any.
pub async fn trade_prepay(store: &Store, id: Uuid) -> AppResult<Option<String>> {
    let row = sqlx::query("SELECT prepay FROM payment_trades WHERE id = $1")
        .bind(id.to_string())
        .fetch_optional(store.writer())
        .await?;
    Ok(row
        .map(|r| col::<Option<String>>(&r, "prepay"))
        .transpose()?
        .flatten())
}

/// Provider trades still pending that the settler should ask about: started (or last asked
/// about) before `before`, oldest first; the sandbox's are left out.
pub async fn pending_trades_to_settle(
    store: &Store,
    before: i64,
    limit: i64,
) -> AppResult<Vec<Trade>> {
    sqlx::query(&format!(
        "SELECT {TRADE_COLUMNS} FROM payment_trades WHERE status = 'pending' \
         AND method IN ('wechat_pay', 'alipay') AND created_at <= $1 \
         AND (checked_at IS NULL OR checked_at <= $1) ORDER BY created_at, id LIMIT $2"
    ))
    .bind(before)
    .bind(limit)
    .fetch_all(store.reader())
    .await?
    .iter()
    .map(trade_of)
    .collect()
}

/// Notes that the settler asked about a trade now.
pub async fn mark_trade_checked(store: &Store, id: Uuid) -> AppResult<()> {
    sqlx::query("UPDATE payment_trades SET checked_at = $1 WHERE id = $2")
        .bind(now_ms())
        .bind(id.to_string())
        .execute(store.writer())
        .await?;
    Ok(())
}
