//! Taking a payment: a provider's notification, once its signature and freshness are checked by
//! the adapter that received it, is applied here — to a lane's QR payment, or to an online
//! order, which moves to paid (once per notification id, with the amount checked against the
//! payment's and the order's), earns its member's points, and is announced to its store when it
//! is a pickup order.

use retail_domain::money::Money;
use retail_domain::order::{check_transition, Fulfilment, OrderStatus, TransitionError};
use serde_json::json;

use super::orders::{announce, record_status};
use super::payment_providers::Provider;
use super::AppState;
use crate::actor::ClientAddr;
use crate::error::{AppError, AppResult};
use crate::storage;
use crate::storage::orders::OrderHead;
use crate::storage::payments::PaidNotice;

/// Fails unless this server takes payments through `provider`. The sandbox exists in demo mode
/// alone (`demo = true`): outside it no sandbox payment can be started and no code path signs a
/// notification for itself.
pub fn require_provider(state: &AppState, provider: Provider) -> AppResult<()> {
    if state.payments.has(provider) {
        Ok(())
    } else {
        Err(AppError::Unavailable(format!(
            "the payment provider {} is not configured on this server",
            provider.as_str()
        )))
    }
}

/// Starts a QR payment of a pending order's full amount and returns it with the path of the
/// provider's page: only with a payment provider ([`require_provider`]), and within the rate
/// limits on payment intents per client address and per the order's member
/// (`orders.payment_intents_per_minute_per_*`; 429 with `Retry-After` beyond them). A retry
/// with the same payment id answers the same intent.
pub async fn start_order_payment(
    state: &AppState,
    client: &ClientAddr,
    payment_id: uuid::Uuid,
    order_id: uuid::Uuid,
) -> AppResult<(storage::payments::PaymentView, String)> {
    require_provider(state, Provider::Sandbox)?;
    let limits = &state.settings.orders;
    state.limiter.check(
        &format!("intent:{}", client.limit_key()),
        limits.payment_intents_per_minute_per_address,
    )?;
    let head = storage::orders::head(state.store.reader(), order_id).await?;
    if let Some(member) = head.member_id {
        state.limiter.check(
            &format!("intent:member:{member}"),
            limits.payment_intents_per_minute_per_member,
        )?;
    }
    let payment = storage::payments::create_intent(&state.store, payment_id, order_id).await?;
    let path = format!("/sandbox/pay/{}", payment.id);
    Ok((payment, path))
}

/// Applies a verified notification that a payment succeeded; answers what the provider is told
/// (`{"ok": true, …}`).
pub async fn take_notification(
    state: &AppState,
    notice: &PaidNotice<'_>,
) -> AppResult<serde_json::Value> {
    if storage::lane_payments::get(&state.store, notice.payment_id)
        .await?
        .is_some()
    {
        let paid = storage::lane_payments::apply_paid(
            &state.store,
            notice.notify_id,
            notice.payment_id,
            notice.provider_ref,
            notice.amount,
        )
        .await?;
        tracing::info!(payment = %paid.id, store = %paid.location_id, "lane QR payment paid");
        return Ok(json!({"ok": true, "payment_id": paid.id}));
    }
    let head = apply_paid(state, notice, "payment-provider").await?;
    tracing::info!(order = %head.order_no, "order paid");
    if head.fulfilment == Fulfilment::Pickup && state.bus.is_some() {
        match storage::orders::get(&state.store, head.id).await {
            Ok(order) => announce(state, &order, "created").await,
            Err(err) => {
                tracing::error!(order = %head.order_no, error = %err, "reading a paid pickup order failed; the store is not told")
            }
        }
    }
    Ok(json!({"ok": true, "order_no": head.order_no}))
}

/// Applies a (signature- and freshness-checked) payment notification to an online order: the
/// amount must equal the payment's and the order's, each notification id is accepted once, and
/// the order moves to paid. Everything or nothing. Returns the order's header after the change
/// (for the pickup notice and points).
pub async fn apply_paid(
    state: &AppState,
    notice: &PaidNotice<'_>,
    actor: &str,
) -> AppResult<OrderHead> {
    let store = &state.store;
    let mut tx = store.begin().await?;
    let payment = storage::payments::lock_payment(&mut tx, store, notice.payment_id).await?;
    storage::payments::record_notification(
        &mut tx,
        "payment_notifications",
        notice.notify_id,
        payment.id,
    )
    .await?;
    let head = storage::orders::lock_head(&mut tx, store, payment.order_id).await?;
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
    storage::payments::mark_succeeded(&mut tx, payment.id, notice.provider_ref).await?;
    storage::orders::clear_expiry(&mut tx, head.id).await?;
    record_status(&mut tx, &head, OrderStatus::Paid, actor, "payment received").await?;
    // A member's order earns points on what was paid, once (by order id).
    let mut points_earned = head.points_earned;
    if let Some(member) = head.member_id {
        points_earned = storage::members::earn_in_tx(
            &mut tx,
            &state.settings.points,
            member,
            Money::from_fen(head.total_fen),
            &head.id.to_string(),
            actor,
            storage::now_ms(),
        )
        .await?;
        storage::orders::set_order_points_earned(&mut tx, head.id, points_earned).await?;
    }
    tx.commit().await?;
    Ok(OrderHead {
        status: OrderStatus::Paid,
        points_earned,
        ..head
    })
}
