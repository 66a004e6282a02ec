//! Orders after they are placed: every move of an order's status (checked against the order
//! state machine) with its effects — the stock it reserved released or taken off the shelf, its
//! payments refunded, what its pricing took (flash-sale units, coupons, points) given back, the
//! member's notice — and telling the order's store about pickup events over the store bus (with
//! the lines' shelf locations for the pick slip).

use retail_domain::money::Money;
use retail_domain::order::{check_transition, Channel, OrderStatus, TransitionError};
use uuid::Uuid;

use super::AppState;
use crate::error::{AppError, AppResult};
use crate::storage::orders::{OrderHead, OrderView};
use crate::storage::stock::{Movement, MovementKind};
use crate::storage::{self, Store, Tx};

/// Tells the order's store about a pickup event over the store bus; a `created` notice (paid,
/// to be picked) carries the lines with their shelf locations.
pub async fn announce(state: &AppState, order: &OrderView, event: &str) {
    if let Some(bus) = &state.bus {
        let lines = if event == "created" {
            match pickup_lines(state, order).await {
                Ok(lines) => lines,
                Err(err) => {
                    tracing::warn!(order = %order.order_no, error = %err, "reading shelf locations failed");
                    Vec::new()
                }
            }
        } else {
            Vec::new()
        };
        bus.pickup(
            &order.location_id,
            crate::bus::PickupNotice {
                event,
                order_id: order.id,
                order_no: &order.order_no,
                lines: &lines,
            },
        )
        .await;
    }
}

/// An order's lines as the store picks them: name, quantity and the SKU's shelf in the order's
/// store when one is set.
pub async fn pickup_lines(
    state: &AppState,
    order: &OrderView,
) -> AppResult<Vec<retail_domain::wire::bus::PickupLine>> {
    let skus: Vec<Uuid> = order.lines.iter().map(|l| l.sku_id).collect();
    let shelves: std::collections::HashMap<Uuid, String> =
        storage::edge::shelves_of(&state.store, &order.location_id, &skus)
            .await?
            .into_iter()
            .collect();
    Ok(order
        .lines
        .iter()
        .map(|l| retail_domain::wire::bus::PickupLine {
            sku_id: l.sku_id,
            name: l.name.clone(),
            qty: l.qty,
            shelf: shelves.get(&l.sku_id).cloned(),
        })
        .collect())
}

/// Moves an order to `to`, applying the stock effects of the move: cancelling releases the
/// reservation; shipping, handing over a pickup or completing a scan-and-go basket (at the exit
/// gate) takes the reserved units off the shelf.
/// Repeating a move the order already made is a no-op that answers the order (idempotent).
/// Payment (→ paid) is not done here but by the payment notification path.
pub async fn change_status(
    store: &Store,
    id: Uuid,
    to: OrderStatus,
    actor: &str,
    reason: &str,
) -> AppResult<OrderView> {
    change_status_from(store, id, None, to, actor, reason).await
}

/// Like [`change_status`], but only when the order is still in `expected` (otherwise the order
/// is answered unchanged): the payment-timeout sweep must not cancel an order paid meanwhile.
pub async fn change_status_from(
    store: &Store,
    id: Uuid,
    expected: Option<OrderStatus>,
    to: OrderStatus,
    actor: &str,
    reason: &str,
) -> AppResult<OrderView> {
    let mut tx = store.begin().await?;
    let moved = move_in_tx(&mut tx, store, id, expected, to, actor, reason).await?;
    if moved {
        tx.commit().await?;
    } else {
        // Nothing to write: give the (on SQLite, only) writer connection back before reading.
        tx.rollback().await?;
    }
    let order = storage::orders::get(store, id).await?;
    if moved && to == OrderStatus::PickedUp {
        crate::app::events::record_now(
            store,
            vec![crate::app::events::ServerEvent::new(
                "pickup_handed_over",
                id,
                "online",
                serde_json::json!({"order_no": order.order_no}),
            )
            .order(id)],
        )
        .await;
    }
    Ok(order)
}

/// [`change_status_from`] inside the caller's transaction (so the move commits with whatever
/// caused it); true when the order moved, false when it was left as it was (not in `expected`,
/// or already in `to`).
pub async fn move_in_tx(
    tx: &mut Tx,
    store: &Store,
    id: Uuid,
    expected: Option<OrderStatus>,
    to: OrderStatus,
    actor: &str,
    reason: &str,
) -> AppResult<bool> {
    let head = storage::orders::lock_head(tx, store, id).await?;
    if expected.is_some_and(|e| e != head.status) {
        return Ok(false);
    }
    if to == OrderStatus::Paid {
        return Err(AppError::bad_request(
            "not_allowed",
            "orders become paid through a payment",
        ));
    }
    match check_transition(head.fulfilment, head.status, to) {
        Ok(()) => {}
        Err(TransitionError::AlreadyIn(_)) => return Ok(false),
        Err(err) => return Err(AppError::conflict("invalid_transition", err.to_string())),
    }
    if head.channel == Channel::Online
        && matches!(
            to,
            OrderStatus::ReadyForPickup
                | OrderStatus::PickedUp
                | OrderStatus::Shipped
                | OrderStatus::Delivered
                | OrderStatus::Completed
        )
        && storage::group_buys::held_in_tx(tx, id).await?
    {
        // A group-buy order waits for its team to fill (app::group_buys).
        return Err(AppError::conflict(
            "group_pending",
            "this group-buy order is held until its team fills",
        ));
    }
    let lines = storage::orders::lines_in_tx(tx, id).await?;
    let ref_id = id.to_string();
    let effect = match (head.status, to) {
        (
            OrderStatus::PendingPayment | OrderStatus::Paid | OrderStatus::ReadyForPickup,
            OrderStatus::Cancelled,
        ) => Some((MovementKind::Release, 0, -1)),
        (OrderStatus::Paid, OrderStatus::Shipped | OrderStatus::Completed)
        | (OrderStatus::ReadyForPickup, OrderStatus::PickedUp) => {
            Some((MovementKind::Fulfilment, -1, -1))
        }
        _ => None,
    };
    if let Some((kind, on_hand_sign, reserved_sign)) = effect {
        // Online and scan-and-go orders reserve at placement (POS sales take stock at once).
        if matches!(head.channel, Channel::Online | Channel::ScanAndGo) {
            let movements: Vec<Movement<'_>> = lines
                .iter()
                .map(|(_, sku, qty, _, _)| Movement {
                    location_id: &head.location_id,
                    sku_id: *sku,
                    kind,
                    on_hand_delta: on_hand_sign * qty,
                    reserved_delta: reserved_sign * qty,
                    reason,
                    actor,
                    ref_id: Some(&ref_id),
                    client_ts: storage::now_ms(),
                })
                .collect();
            storage::stock::apply_movements(tx, &movements).await?;
        }
    }
    if to == OrderStatus::Cancelled {
        // A pending order may hold part of its price already (stored balance of a split
        // payment): it goes back too.
        refund_all_in_tx(tx, &head, actor).await?;
    }
    if to == OrderStatus::Cancelled {
        // A paid order's distributors lose its commission (`app::distribution`).
        super::distribution::reverse_in_tx(tx, store, id, None, "cancel").await?;
    }
    if to == OrderStatus::Cancelled && head.channel == Channel::Online {
        // What the order's pricing took comes back: flash-sale units, coupons, points.
        storage::promotions::release_flash(tx, id).await?;
        storage::coupons::release_for_order(tx, id).await?;
        if let (Some(member), true) = (head.member_id, head.points_earned > 0) {
            storage::members::reverse_in_tx(
                tx,
                member,
                head.points_earned,
                head.total_fen.max(0) / 100,
                &format!("{id}:cancel"),
                actor,
            )
            .await?;
        }
        if let Some(member) = head.member_id {
            storage::members::refund_points_in_tx(
                tx,
                member,
                head.points_redeemed,
                &format!("{id}:cancel"),
                actor,
            )
            .await?;
        }
    }
    record_status(tx, &head, to, actor, reason).await?;
    Ok(true)
}

/// Records a move of `head` to `to`: the order's status with its event row, and the notice it
/// sends the order's member, in the caller's transaction.
pub async fn record_status(
    tx: &mut Tx,
    head: &OrderHead,
    to: OrderStatus,
    actor: &str,
    reason: &str,
) -> AppResult<()> {
    record_statuses(tx, &[head], to, actor, reason).await
}

/// [`record_status`] for many orders moving to `to` at once (one statement per step).
pub async fn record_statuses(
    tx: &mut Tx,
    heads: &[&OrderHead],
    to: OrderStatus,
    actor: &str,
    reason: &str,
) -> AppResult<()> {
    storage::orders::set_statuses(tx, heads, to, actor, reason).await?;
    storage::notices::record_moves_in_tx(tx, heads, to, actor).await
}

/// Refunds every succeeded payment of an order to its tender, audited: a provider payment
/// (WeChat Pay, Alipay, the sandbox) through a refund its provider is sent after the commit
/// ([`super::refunds`]), stored balance back to the member's balance. Used when a paid order is
/// cancelled. Answers the amount refunded, in fen.
pub async fn refund_all_in_tx(tx: &mut Tx, head: &OrderHead, actor: &str) -> AppResult<i64> {
    let mut total = 0;
    for (id, method, amount) in storage::payments::succeeded_of_order(tx, head.id).await? {
        if super::refunds::is_provider_tender(&method) {
            let payment_id = Uuid::try_parse(&id)
                .map_err(|e| AppError::Internal(anyhow::anyhow!("payment id {id}: {e}")))?;
            let left: i64 = storage::payments::refundable_of_order(tx, head.id, &method)
                .await?
                .iter()
                .filter(|(p, _, _)| *p == payment_id)
                .map(|(_, amount, refunded)| amount - refunded)
                .sum();
            super::refunds::request_in_tx(
                tx,
                Money::ZERO,
                &super::refunds::RefundAsk {
                    order_id: head.id,
                    payment_id: Some(payment_id),
                    method: &method,
                    amount_fen: left,
                    reason: "订单取消退款 order cancelled",
                    source: storage::refunds::RefundSource::Cancel,
                    source_id: None,
                    requested_by: actor,
                    approved_by: None,
                },
            )
            .await?;
            total += left;
            continue;
        }
        storage::payments::mark_refunded(tx, &id).await?;
        if method == "stored_balance" {
            if let Some(member) = head.member_id {
                storage::members::refund_balance_in_tx(
                    tx,
                    member,
                    Money::from_fen(amount),
                    &id,
                    Some(head.id),
                    actor,
                )
                .await?;
            }
        }
        total += amount;
    }
    if total > 0 {
        storage::audit::record(
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

/// The signed pickup code the shopper's QR shows at the counter (`SignedCode::Pickup`), for an
/// order that has a pickup code while it can be collected (paid, or ready for pickup); none
/// otherwise: before payment the counter could only refuse it, and after the hand-over or a
/// cancellation it is spent. The counter verifies it offline. One rule for every reader (the
/// shop's order page, `GET /orders/{id}`, the orders change feed): a credential to take goods
/// away is only handed out while it can be used, and only then is it signed.
pub fn pickup_qr(keys: &crate::secrets::Keys, order: &OrderView) -> Option<String> {
    use retail_domain::codes::{PickupCode, SignedCode};
    if !matches!(
        order.status,
        OrderStatus::Paid | OrderStatus::ReadyForPickup
    ) {
        return None;
    }
    order.pickup_code.as_ref().map(|short_code| {
        keys.signer.sign(&SignedCode::Pickup(PickupCode {
            order_id: order.id,
            short_code: short_code.clone(),
        }))
    })
}

/// The capability that lets whoever placed an online order through the API see its pickup code
/// and member and cancel it while unpaid: a keyed hash of the order id (HMAC-SHA256 with the
/// look-up key), so nothing is stored, and only the placer — who got it in the answer to
/// `POST /orders` — and the server know it. Sent back as `X-Order-Token`.
pub fn access_token(keys: &crate::secrets::Keys, order_id: uuid::Uuid) -> String {
    format!(
        "ot_{}",
        keys.lookup_hash(&format!("order-access:{order_id}"))
    )
}

/// True when `given` is the order's [`access_token`] (compared in constant time).
pub fn token_matches(keys: &crate::secrets::Keys, order_id: uuid::Uuid, given: &str) -> bool {
    crate::secrets::signatures_match(&access_token(keys, order_id), given.trim())
}
