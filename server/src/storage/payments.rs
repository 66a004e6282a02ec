//! Payments of online orders: payment intents with the (sandbox) provider, the provider's
//! notifications (each accepted once), and refunds.

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
    /// Method.
    pub method: String,
    /// Amount.
    pub amount: Money,
    /// `pending`, `succeeded` or `refunded`.
    pub status: String,
}

fn view(row: &sqlx::any::AnyRow) -> AppResult<PaymentView> {
    Ok(PaymentView {
        id: uuid_col(row, "id")?,
        order_id: uuid_col(row, "order_id")?,
        method: col(row, "method")?,
        amount: Money::from_fen(col(row, "amount_fen")?),
        status: col(row, "status")?,
    })
}

/// Creates (or, on retry with the same id, returns) a QR payment intent for a pending order,
/// for the order's full amount.
pub async fn create_intent(
    store: &Store,
    payment_id: Uuid,
    order_id: Uuid,
) -> AppResult<PaymentView> {
    let mut tx = store.begin().await?;
    let head = lock_head(&mut tx, store, order_id).await?;
    if let Some(existing) =
        sqlx::query("SELECT id, order_id, method, amount_fen, status FROM payments WHERE id = $1")
            .bind(payment_id.to_string())
            .fetch_optional(&mut *tx)
            .await?
    {
        let existing = view(&existing)?;
        if existing.order_id != order_id {
            return Err(AppError::conflict(
                "id_in_use",
                "this payment id belongs to another order",
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
    let now = now_ms();
    sqlx::query(
        "INSERT INTO payments (id, order_id, method, amount_fen, status, created_at, updated_at) \
         VALUES ($1, $2, 'sandbox_qr', $3, 'pending', $4, $4)",
    )
    .bind(payment_id.to_string())
    .bind(order_id.to_string())
    .bind(head.total_fen)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    get(store, payment_id).await
}

/// One payment.
pub async fn get(store: &Store, id: Uuid) -> AppResult<PaymentView> {
    let row =
        sqlx::query("SELECT id, order_id, method, amount_fen, status FROM payments WHERE id = $1")
            .bind(id.to_string())
            .fetch_optional(store.writer())
            .await?
            .ok_or_else(|| AppError::not_found(format!("payment {id} not found")))?;
    view(&row)
}

/// What a verified provider notification says.
#[derive(Clone, Debug)]
pub struct PaidNotice<'a> {
    /// The provider's notification id (replays are refused).
    pub notify_id: &'a str,
    /// Our payment id.
    pub payment_id: Uuid,
    /// The provider's transaction reference.
    pub provider_ref: &'a str,
    /// The amount the provider says was paid.
    pub amount: Money,
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
    let inserted = sqlx::query(&format!(
        "INSERT INTO {table} (notify_id, payment_id, received_at) VALUES ($1, $2, $3) \
         ON CONFLICT (notify_id) DO NOTHING"
    ))
    .bind(notify_id)
    .bind(payment_id.to_string())
    .bind(now_ms())
    .execute(&mut **tx)
    .await?
    .rows_affected();
    if inserted == 0 {
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
        "SELECT id, order_id, method, amount_fen, status FROM payments WHERE id = $1{}",
        store.for_update()
    ))
    .bind(id.to_string())
    .fetch_optional(&mut **tx)
    .await?
    .ok_or_else(|| AppError::not_found("unknown payment"))?;
    view(&row)
}

/// Marks a payment succeeded with the provider's transaction reference.
pub async fn mark_succeeded(tx: &mut Tx, id: Uuid, provider_ref: &str) -> AppResult<()> {
    sqlx::query(
        "UPDATE payments SET status = 'succeeded', provider_ref = $1, updated_at = $2 WHERE id = $3",
    )
    .bind(provider_ref)
    .bind(now_ms())
    .bind(id.to_string())
    .execute(&mut **tx)
    .await?;
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

/// Marks a payment refunded (the sandbox provider refunds at once).
pub async fn mark_refunded(tx: &mut Tx, id: &str) -> AppResult<()> {
    sqlx::query("UPDATE payments SET status = 'refunded', updated_at = $1 WHERE id = $2")
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

/// Marks every succeeded payment of an order refunded (everything was returned).
pub async fn mark_order_refunded(tx: &mut Tx, order: Uuid) -> AppResult<()> {
    sqlx::query(
        "UPDATE payments SET status = 'refunded', updated_at = $1 WHERE order_id = $2 AND status = 'succeeded'",
    )
    .bind(now_ms())
    .bind(order.to_string())
    .execute(&mut **tx)
    .await?;
    Ok(())
}
