//! Payments of online orders: payment intents with the (sandbox) provider, the provider's
//! notifications (each accepted once), and refunds.

use retail_domain::money::Money;
use retail_domain::order::{check_transition, OrderStatus, TransitionError};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::orders::{lock_head, set_status, OrderHead};
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
pub(super) async fn record_notification(
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

/// Applies a (signature- and freshness-checked) payment notification: the amount must equal the
/// payment's and the order's, each notification id is accepted once, and the order moves to
/// paid. Everything or nothing. Returns the order's header after the change (for the pickup
/// notice and points).
pub async fn apply_paid(
    store: &Store,
    rules: &retail_domain::points::PointsRules,
    notice: &PaidNotice<'_>,
    actor: &str,
) -> AppResult<OrderHead> {
    let mut tx = store.begin().await?;
    let row = sqlx::query(&format!(
        "SELECT id, order_id, method, amount_fen, status FROM payments WHERE id = $1{}",
        store.for_update()
    ))
    .bind(notice.payment_id.to_string())
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(|| AppError::not_found("unknown payment"))?;
    let payment = view(&row)?;
    record_notification(
        &mut tx,
        "payment_notifications",
        notice.notify_id,
        payment.id,
    )
    .await?;
    let head = lock_head(&mut tx, store, payment.order_id).await?;
    if notice.amount != payment.amount || payment.amount.fen() != head.total_fen {
        return Err(AppError::bad_request(
            "amount_mismatch",
            format!(
                "notified amount {} does not match the order's {}",
                notice.amount,
                Money::from_fen(head.total_fen)
            ),
        ));
    }
    if payment.status == "succeeded" {
        return Err(AppError::conflict(
            "already_paid",
            "this payment has already succeeded",
        ));
    }
    match check_transition(head.fulfilment, head.status, OrderStatus::Paid) {
        Ok(()) => {}
        Err(TransitionError::AlreadyIn(_)) => {
            return Err(AppError::conflict(
                "already_paid",
                "the order is already paid",
            ));
        }
        Err(_) => {
            return Err(AppError::conflict(
                "not_payable",
                format!(
                    "order {} is {} and can no longer be paid",
                    head.order_no,
                    head.status.as_str()
                ),
            ));
        }
    }
    sqlx::query("UPDATE payments SET status = 'succeeded', provider_ref = $1, updated_at = $2 WHERE id = $3")
        .bind(notice.provider_ref)
        .bind(now_ms())
        .bind(payment.id.to_string())
        .execute(&mut *tx)
        .await?;
    sqlx::query("UPDATE orders SET expires_at = NULL WHERE id = $1")
        .bind(head.id.to_string())
        .execute(&mut *tx)
        .await?;
    set_status(&mut tx, &head, OrderStatus::Paid, actor, "payment received").await?;
    // A member's order earns points on what was paid, once (by order id).
    let mut points_earned = head.points_earned;
    if let Some(member) = head.member_id {
        points_earned = super::members::earn_in_tx(
            &mut tx,
            rules,
            member,
            Money::from_fen(head.total_fen),
            &head.id.to_string(),
            actor,
            now_ms(),
        )
        .await?;
        sqlx::query("UPDATE orders SET points_earned = $1 WHERE id = $2")
            .bind(points_earned)
            .bind(head.id.to_string())
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(OrderHead {
        status: OrderStatus::Paid,
        points_earned,
        ..head
    })
}

/// Marks every succeeded payment of an order refunded (the sandbox provider refunds at once) and
/// returns stored balance to the member; audited. Used when a paid order is cancelled.
pub async fn refund_all_in_tx(tx: &mut Tx, head: &OrderHead, actor: &str) -> AppResult<i64> {
    let rows = sqlx::query(
        "SELECT id, method, amount_fen FROM payments WHERE order_id = $1 AND status = 'succeeded'",
    )
    .bind(head.id.to_string())
    .fetch_all(&mut **tx)
    .await?;
    let mut total = 0;
    for row in &rows {
        let id: String = col(row, "id")?;
        let amount: i64 = col(row, "amount_fen")?;
        let method: String = col(row, "method")?;
        sqlx::query("UPDATE payments SET status = 'refunded', updated_at = $1 WHERE id = $2")
            .bind(now_ms())
            .bind(&id)
            .execute(&mut **tx)
            .await?;
        if method == "stored_balance" {
            if let Some(member) = head.member_id {
                super::members::refund_balance_in_tx(
                    tx,
                    member,
                    Money::from_fen(amount),
                    &id,
                    actor,
                )
                .await?;
            }
        }
        total += amount;
    }
    if total > 0 {
        super::audit::record(
            tx,
            actor,
            "order.refund",
            "order",
            &head.id.to_string(),
            serde_json::json!({"order_no": head.order_no, "amount": Money::from_fen(total).to_string()}),
        )
        .await?;
    }
    Ok(total)
}
