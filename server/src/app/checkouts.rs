//! Checkouts (issue 20, docs/CONTRACTS.md "Checkouts"): a shopper's cart with goods of several
//! merchants is placed as **one order per merchant** — each merchant fulfils, ships and takes
//! after-sales for its own order — and paid with **one payment**: a single trade at the
//! provider (a *combined payment*) for what the orders still owe, recorded as one payment row
//! per order carrying the trade's id.
//!
//! - **Splitting** ([`place`]): the cart's lines are grouped by the merchant of their product,
//!   the platform's own goods first, then merchants by id. Each group is priced and placed
//!   through the same path as a single order ([`super::checkout::place_admitted`]), at the same
//!   pickup store or to the same address (each delivery order planned and charged shipping on
//!   its own, as each merchant ships its own parcel). The coupons and points the shopper chose go
//!   to the first order. A cart of one merchant's goods is one order whose id is the checkout's.
//!   The checkout and its orders' ids are recorded before any order is placed, and each order's
//!   id is derived from the checkout's, so a retry places nothing twice. When an order cannot be
//!   placed (out of stock), the orders placed before it are cancelled (their stock, coupons and
//!   points given back) and the error is answered; nothing of the cart stays reserved.
//! - **Paying** ([`start_payment`]): one trade for every order of the checkout still pending
//!   payment, at what each still owes; the provider sees one trade of the sum.
//! - **Paid** ([`take_trade_paid`]): the provider's notification (or the settler's query) names
//!   the trade. Its amount, currency and tender must equal the trade's (else an alert and no
//!   change). Each order's share is then applied in one transaction by the same rules as a single
//!   payment ([`super::payments::take_order_paid_in_tx`]): paid, or — for an order cancelled
//!   meanwhile — its share recorded, refunded and alerted. A notification repeated is answered as
//!   taken.
//! - **Refunds** are per order, as ever: [`super::refunds::send`] sends an order's refund as a
//!   partial refund of its trade (the trade's `out_trade_no` and total).
//! - **Closing**: when one order of a trade is paid otherwise or cancelled, the whole trade is
//!   closed at the provider ([`close_trade`]); the checkout's other orders can be paid with a new
//!   trade.

use retail_domain::money::Money;
use retail_domain::order::OrderStatus;
use retail_payments::{PaidTrade, Prepay, PrepayRequest, TradeState};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::checkout::{self, Checkout};
use super::payment_providers::{provider_error, require_provider, PayScene, Provider};
use super::payments::{NoticeApplied, PaidNotice, Taken};
use super::AppState;
use crate::actor::ClientAddr;
use crate::error::{AppError, AppResult};
use crate::storage;
use crate::storage::checkouts::{CheckoutOrder, NewCheckout, Trade};
use crate::storage::orders::OrderPlaced;

/// The platform's own trade: its goods come first in a checkout.
const PLATFORM: &str = "platform";

/// One order of a placed checkout.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[schema(as = CheckoutPart)]
pub struct PlacedPart {
    /// The merchant whose goods the order holds (`platform`: the operator's own).
    pub merchant_id: String,
    /// The order.
    #[serde(flatten)]
    pub order: OrderPlaced,
}

/// A placed checkout: its orders, by position.
#[derive(Clone, Debug)]
pub struct CheckoutPlaced {
    /// The checkout's id (the client's).
    pub id: Uuid,
    /// Its orders, one per merchant.
    pub orders: Vec<PlacedPart>,
}

impl CheckoutPlaced {
    /// What the orders ask for together.
    pub fn total(&self) -> Money {
        Money::from_fen(self.orders.iter().map(|p| p.order.total.fen()).sum())
    }
}

/// The lines of a cart grouped by the merchant of their product: the platform's first, then
/// merchants by id; lines keep their order within a group. A SKU whose merchant is not known
/// stays with the platform's goods (pricing refuses it with its usual error).
pub fn split_lines(
    lines: &[(Uuid, i64)],
    owners: &std::collections::HashMap<Uuid, String>,
) -> Vec<(String, Vec<(Uuid, i64)>)> {
    let mut groups: std::collections::BTreeMap<(bool, String), Vec<(Uuid, i64)>> =
        std::collections::BTreeMap::new();
    for line in lines {
        let merchant = owners
            .get(&line.0)
            .cloned()
            .unwrap_or_else(|| PLATFORM.to_owned());
        groups
            .entry((merchant != PLATFORM, merchant))
            .or_default()
            .push(*line);
    }
    groups
        .into_iter()
        .map(|((_, merchant), lines)| (merchant, lines))
        .collect()
}

/// The id of a checkout's order for `merchant`: a UUIDv7 with the checkout's time and the rest
/// drawn from a hash of the checkout and the merchant, so a retry derives the same id.
pub fn part_id(checkout: Uuid, merchant: &str) -> Uuid {
    use sha2::{Digest, Sha256};
    let digest = Sha256::new()
        .chain_update(checkout.as_bytes())
        .chain_update(merchant.as_bytes())
        .finalize();
    let mut bytes = *checkout.as_bytes();
    bytes[6..].copy_from_slice(&digest[..10]);
    uuid::Builder::from_bytes(bytes)
        .with_version(uuid::Version::SortRand)
        .with_variant(uuid::Variant::RFC4122)
        .into_uuid()
}

/// Places a cart as one order per merchant (see the module's documentation). Counted once
/// against the order rate limits. 409 `id_in_use` when the id was used for a cart that splits
/// otherwise; 409 `checkout_cancelled` for a retry of a checkout whose orders were cancelled.
pub async fn place(state: &AppState, req: Checkout) -> AppResult<CheckoutPlaced> {
    checkout::admit_order(state, &req.client, req.member_id).await?;
    retail_domain::ids::require_v7(req.id).map_err(|e| AppError::field("id", e.to_string()))?;
    checkout::check_lines(&req.lines, state.settings.orders.max_line_qty)?;
    let skus: Vec<Uuid> = req.lines.iter().map(|l| l.0).collect();
    let owners = state
        .catalog_cache
        .sku_merchants(&state.store, &skus)
        .await?;
    let groups = split_lines(&req.lines, &owners);
    let single = groups.len() == 1;
    let orders: Vec<CheckoutOrder> = groups
        .iter()
        .enumerate()
        .map(|(i, (merchant, _))| CheckoutOrder {
            order_id: if single {
                req.id
            } else {
                part_id(req.id, merchant)
            },
            merchant_id: merchant.clone(),
            position: i64::try_from(i).unwrap_or(i64::MAX),
        })
        .collect();
    let recorded = storage::checkouts::record(
        &state.store,
        &NewCheckout {
            id: req.id,
            member_id: req.member_id,
            fulfilment: req.fulfilment.as_str(),
            created_by: &req.created_by,
            orders: &orders,
        },
    )
    .await?;
    if recorded.orders != orders || recorded.member_id != req.member_id {
        return Err(AppError::conflict(
            "id_in_use",
            "this checkout id was used for another cart",
        ));
    }
    let mut placed: Vec<PlacedPart> = Vec::with_capacity(orders.len());
    for (i, ((merchant, lines), order)) in groups.into_iter().zip(&orders).enumerate() {
        let first = i == 0;
        let part = Checkout {
            id: order.order_id,
            fulfilment: req.fulfilment,
            store: req.store.clone(),
            address: req.address.clone(),
            slot: req.slot.clone(),
            lines,
            member_id: req.member_id,
            coupons: if first {
                req.coupons.clone()
            } else {
                Vec::new()
            },
            points_to_redeem: if first { req.points_to_redeem } else { 0 },
            created_by: req.created_by.clone(),
            client: req.client,
        };
        match checkout::place_admitted(state, part, &[]).await {
            Ok(order) => placed.push(PlacedPart {
                merchant_id: merchant,
                order,
            }),
            Err(err) => {
                undo(state, &placed).await;
                return Err(err);
            }
        }
    }
    if placed
        .iter()
        .any(|p| p.order.status == OrderStatus::Cancelled)
    {
        undo(state, &placed).await;
        return Err(AppError::conflict(
            "checkout_cancelled",
            "this checkout's orders were cancelled; place the cart again with a new id",
        ));
    }
    Ok(CheckoutPlaced {
        id: req.id,
        orders: placed,
    })
}

/// Cancels the orders of a checkout placed before one of its orders failed: their stock,
/// coupons and points go back. One that cannot be cancelled now is left to the payment-timeout
/// sweep, which cancels it at its deadline.
async fn undo(state: &AppState, placed: &[PlacedPart]) {
    for part in placed
        .iter()
        .filter(|p| p.order.status == OrderStatus::PendingPayment)
    {
        if let Err(err) = super::orders::change_status_from(
            &state.store,
            part.order.id,
            Some(OrderStatus::PendingPayment),
            OrderStatus::Cancelled,
            "checkout",
            "另一商家的订单未能下单 another order of the checkout could not be placed",
        )
        .await
        {
            tracing::warn!(order = %part.order.order_no, error = %err, "cancelling an order of a failed checkout failed; its deadline cancels it");
        }
    }
}

/// The checkout an order was placed in together with other merchants' orders, if any.
pub async fn shared_checkout_of(state: &AppState, order: Uuid) -> AppResult<Option<Uuid>> {
    let Some(id) = storage::checkouts::of_order(&state.store, order).await? else {
        return Ok(None);
    };
    Ok(storage::checkouts::get(&state.store, id)
        .await?
        .filter(|c| c.orders.len() > 1)
        .map(|c| c.id))
}

/// The prepay kept for a pending trade (a QR code's text, a page), to show it again.
pub async fn kept_prepay(state: &AppState, trade: Uuid) -> AppResult<Option<Prepay>> {
    Ok(storage::checkouts::trade_prepay(&state.store, trade)
        .await?
        .and_then(|kept| serde_json::from_str(&kept).ok()))
}

/// One order of a checkout as the shopper sees it.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct CheckoutOrderView {
    /// Order id.
    pub order_id: Uuid,
    /// Order number.
    pub order_no: String,
    /// The merchant whose goods it holds.
    pub merchant_id: String,
    /// The merchant's name.
    pub merchant_name: String,
    /// The order's status.
    pub status: OrderStatus,
    /// What the order asks for.
    pub total: Money,
    /// What it still owes (0 unless pending payment).
    pub due: Money,
}

/// A checkout: its orders, what is still due, and its combined payments.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct CheckoutView {
    /// Id.
    pub id: Uuid,
    /// `delivery` or `pickup`.
    pub fulfilment: String,
    /// Its orders, by position.
    pub orders: Vec<CheckoutOrderView>,
    /// What the orders ask for together.
    pub total: Money,
    /// What the orders pending payment still owe together (what one payment takes now).
    pub due: Money,
    /// Its combined payments, oldest first.
    pub trades: Vec<Trade>,
}

/// A checkout and where each of its orders stands; 404 for an unknown one.
pub async fn view(state: &AppState, id: Uuid) -> AppResult<CheckoutView> {
    view_of(state, id, None).await
}

/// [`view`] for the shopper `member` (`Some`): another member's checkout is 404 as well.
pub async fn view_of(state: &AppState, id: Uuid, member: Option<Uuid>) -> AppResult<CheckoutView> {
    let record = storage::checkouts::get(&state.store, id)
        .await?
        .filter(|c| member.is_none() || c.member_id == member)
        .ok_or_else(|| AppError::not_found(format!("checkout {id} not found")))?;
    // A read: the orders' heads and payments from the reader, nothing locked.
    let mut heads = std::collections::HashMap::new();
    let mut paid = std::collections::HashMap::new();
    for o in &record.orders {
        match storage::orders::head(state.store.reader(), o.order_id).await {
            Ok(head) => {
                heads.insert(o.order_id, head);
            }
            Err(AppError::NotFound(_)) => continue,
            Err(e) => return Err(e),
        }
        let taken: i64 = storage::payments::of_order(&state.store, o.order_id)
            .await?
            .iter()
            .filter(|p| p.status == "succeeded")
            .map(|p| p.amount.fen())
            .sum();
        paid.insert(o.order_id, taken);
    }
    let merchants = storage::merchants::list(&state.store, None).await?;
    let mut orders = Vec::new();
    for o in &record.orders {
        // An order recorded but not placed (the client gave up mid-way) is left out.
        let Some(head) = heads.get(&o.order_id) else {
            continue;
        };
        let due = if head.status == OrderStatus::PendingPayment {
            (head.total_fen - paid.get(&o.order_id).copied().unwrap_or(0)).max(0)
        } else {
            0
        };
        orders.push(CheckoutOrderView {
            order_id: o.order_id,
            order_no: head.order_no.clone(),
            merchant_id: o.merchant_id.clone(),
            merchant_name: merchants
                .iter()
                .find(|m| m.id == o.merchant_id)
                .map(|m| m.name_zh.clone())
                .unwrap_or_else(|| o.merchant_id.clone()),
            status: head.status,
            total: Money::from_fen(head.total_fen),
            due: Money::from_fen(due),
        });
    }
    Ok(CheckoutView {
        id,
        fulfilment: record.fulfilment,
        total: Money::from_fen(orders.iter().map(|o| o.total.fen()).sum()),
        due: Money::from_fen(orders.iter().map(|o| o.due.fen()).sum()),
        orders,
        trades: storage::checkouts::trades_of(&state.store, id).await?,
    })
}

/// A combined payment started: its trade, the orders' shares and what the shopper pays with.
#[derive(Clone, Debug)]
pub struct StartedTrade {
    /// The trade.
    pub trade: Trade,
    /// The payment rows, one per order.
    pub payments: Vec<storage::payments::PaymentView>,
    /// The provider's prepay.
    pub prepay: Prepay,
}

impl StartedTrade {
    /// The one address that pays it (as [`super::payments::StartedPayment::pay_url`]).
    pub fn pay_url(&self, public_url: &str) -> String {
        super::payments::pay_url(
            &self.prepay,
            public_url,
            &format!("/checkouts/{}", self.trade.checkout_id),
        )
    }
}

/// Starts one payment through `provider` for every order of the checkout still pending
/// payment, at what each still owes: one trade at the provider, id `trade_id` (the client's;
/// a retry answers the same trade and its kept prepay). Limited like a single payment
/// ([`super::payments::admit_intent`]). 404 for an unknown checkout; 409 `not_payable` when no
/// order of it owes anything, `id_in_use` for an id used by another checkout or tender; 503
/// when the provider does not answer (the trade stays pending and is asked about later).
pub async fn start_payment(
    state: &AppState,
    client: &ClientAddr,
    checkout_id: Uuid,
    trade_id: Uuid,
    provider: Provider,
    scene: &PayScene,
) -> AppResult<StartedTrade> {
    require_provider(state, provider)?;
    let record = storage::checkouts::get(&state.store, checkout_id)
        .await?
        .ok_or_else(|| AppError::not_found(format!("checkout {checkout_id} not found")))?;
    super::payments::admit_intent(state, client, record.member_id).await?;
    let method = provider.method().as_str();
    let store = &state.store;
    let mut tx = store.begin().await?;
    let trade = match storage::checkouts::lock_trade(&mut tx, store, trade_id).await? {
        Some(trade) => {
            tx.rollback().await?;
            if trade.checkout_id != checkout_id || trade.method != method {
                return Err(AppError::conflict(
                    "id_in_use",
                    "this payment id belongs to another checkout or tender",
                ));
            }
            trade
        }
        None => {
            let ids: Vec<Uuid> = record.orders.iter().map(|o| o.order_id).collect();
            let heads = storage::orders::lock_heads(&mut tx, store, &ids).await?;
            let paid = storage::payments::paid_so_far_many(&mut tx, &ids).await?;
            let owed: Vec<(Uuid, i64)> = ids
                .iter()
                .filter_map(|id| heads.get(id))
                .filter(|h| h.status == OrderStatus::PendingPayment)
                .map(|h| (h.id, h.total_fen - paid.get(&h.id).copied().unwrap_or(0)))
                .filter(|(_, left)| *left > 0)
                .collect();
            if owed.is_empty() {
                tx.rollback().await?;
                return Err(AppError::conflict(
                    "not_payable",
                    "no order of this checkout is waiting for payment",
                ));
            }
            let amount: i64 = owed.iter().map(|(_, left)| left).sum();
            storage::checkouts::insert_trade_in_tx(
                &mut tx,
                trade_id,
                checkout_id,
                method,
                scene.stored(),
                amount,
            )
            .await?;
            for (order, left) in &owed {
                storage::checkouts::insert_trade_payment_in_tx(
                    &mut tx,
                    retail_domain::ids::new_id(),
                    trade_id,
                    *order,
                    method,
                    scene.stored(),
                    *left,
                )
                .await?;
            }
            tx.commit().await?;
            storage::checkouts::trade(store, trade_id)
                .await?
                .ok_or_else(|| AppError::Internal(anyhow::anyhow!("trade {trade_id} vanished")))?
        }
    };
    let payments = storage::checkouts::trade_payments(store, trade_id).await?;
    if trade.status != "pending" {
        return Err(AppError::conflict(
            "not_payable",
            format!("payment {} is {}", trade.id, trade.status),
        ));
    }
    if let Some(kept) = storage::checkouts::trade_prepay(store, trade.id).await? {
        if let Ok(prepay) = serde_json::from_str::<Prepay>(&kept) {
            return Ok(StartedTrade {
                trade,
                payments,
                prepay,
            });
        }
    }
    let mut numbers = Vec::new();
    let mut deadline = None::<i64>;
    for p in &payments {
        numbers.push(
            storage::orders::head(store.reader(), p.order_id)
                .await?
                .order_no,
        );
        if let Some(at) = storage::orders::expiry(store.reader(), p.order_id).await? {
            deadline = Some(deadline.map_or(at, |d| d.min(at)));
        }
    }
    let timeout = i64::try_from(state.settings.orders.payment_timeout_secs).unwrap_or(86_400);
    let fallback = chrono::Utc::now() + chrono::Duration::seconds(timeout.min(86_400));
    let request = PrepayRequest {
        out_trade_no: trade.id.simple().to_string(),
        description: clip_description(&format!("订单 {}", numbers.join(" "))),
        amount_fen: trade.amount_fen,
        notify_url: super::refunds::notify_url(state, provider),
        expires_at: deadline
            .map(storage::from_ms)
            .filter(|at| *at > chrono::Utc::now())
            .unwrap_or(fallback),
        scene: scene.prepay_scene(client),
    };
    let prepay = state
        .payments
        .prepay(provider, &request, &format!("/sandbox/pay/{}", trade.id))
        .await
        .map_err(|e| provider_error(provider, e))?;
    if !matches!(prepay, Prepay::InApp { .. }) {
        if let Ok(text) = serde_json::to_string(&prepay) {
            storage::checkouts::set_trade_prepay(store, trade.id, &text).await?;
        }
    }
    Ok(StartedTrade {
        trade,
        payments,
        prepay,
    })
}

/// A trade's description for the provider: at most 127 bytes (WeChat Pay's limit), cut at a
/// character boundary.
fn clip_description(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        if out.len() + c.len_utf8() > 127 {
            break;
        }
        out.push(c);
    }
    out
}

/// Applies a verified paid notification (or a query's answer) for a combined payment's trade
/// (see the module's documentation). `None` when `trade_id` is not a trade (the caller tries
/// other kinds of payment).
pub async fn take_trade_paid(
    state: &AppState,
    provider: Provider,
    notify_id: &str,
    trade_id: Uuid,
    paid: &PaidTrade,
) -> AppResult<Option<Taken>> {
    let store = &state.store;
    let mut tx = store.begin().await?;
    let Some(trade) = storage::checkouts::lock_trade(&mut tx, store, trade_id).await? else {
        tx.rollback().await?;
        return Ok(None);
    };
    let differs = if trade.method != provider.method().as_str() {
        Some(format!(
            "{} says it was paid, but payment {} is a {} payment",
            provider.label(),
            trade.id,
            trade.method
        ))
    } else if paid.currency != "CNY" || paid.amount_fen != trade.amount_fen {
        Some(format!(
            "{} says {} {} was paid for combined payment {}, which is {} CNY",
            provider.label(),
            Money::from_fen(paid.amount_fen),
            paid.currency.chars().take(8).collect::<String>(),
            trade.id,
            Money::from_fen(trade.amount_fen)
        ))
    } else if trade.status == "succeeded"
        && trade.transaction_id.as_deref() != Some(paid.transaction_id.as_str())
    {
        Some(format!(
            "combined payment {} was paid as transaction {:?} and is now reported paid as {:?}",
            trade.id,
            trade.transaction_id,
            paid.transaction_id.chars().take(64).collect::<String>()
        ))
    } else {
        None
    };
    if let Some(detail) = differs {
        tracing::error!(provider = provider.as_str(), trade = %trade.id, %detail, "combined payment notification not applied");
        storage::refunds::raise_alert_in_tx(
            &mut tx,
            &storage::refunds::NewAlert {
                id: format!("{}:{notify_id}", provider.as_str()),
                kind: storage::refunds::AlertKind::AmountMismatch,
                provider: provider.as_str(),
                payment_id: Some(trade.id.to_string()),
                order_id: None,
                detail,
            },
        )
        .await?;
        tx.commit().await?;
        return Ok(Some(Taken::Alerted));
    }
    if trade.status == "succeeded" {
        tx.rollback().await?;
        return Ok(Some(Taken::Duplicate));
    }
    // Pending, or closed here while the shopper paid anyway: the money is real either way.
    storage::checkouts::mark_trade_succeeded_in_tx(&mut tx, trade.id, &paid.transaction_id).await?;
    let shares = storage::checkouts::trade_payments_in_tx(&mut tx, trade.id).await?;
    let mut follow = Vec::new();
    let mut numbers = Vec::new();
    for share in &shares {
        let notice = PaidNotice {
            provider,
            notify_id: format!("{notify_id}/{}", share.id.simple()),
            payment_id: share.id,
            trade: PaidTrade {
                out_trade_no: trade.id.simple().to_string(),
                // The transaction is the trade's (kept on it); the share carries none.
                transaction_id: String::new(),
                amount_fen: share.amount.fen(),
                currency: paid.currency.clone(),
                paid_at: paid.paid_at,
            },
        };
        match super::payments::take_order_paid_in_tx(&mut tx, store, &state.settings, &notice)
            .await?
        {
            NoticeApplied::Order { taken, then } => {
                if let Taken::Applied { order_no: Some(no) } = &taken {
                    numbers.push(no.clone());
                }
                follow.push(then);
            }
            NoticeApplied::NotAnOrderPayment => {}
        }
    }
    tx.commit().await?;
    tracing::info!(trade = %trade.id, provider = provider.as_str(), orders = shares.len(), "combined payment paid");
    for then in follow {
        super::payments::follow_up(state, provider, then).await;
    }
    Ok(Some(Taken::Applied {
        order_no: (!numbers.is_empty()).then(|| numbers.join(",")),
    }))
}

/// Closes a pending trade at its provider and marks it (and its orders' shares still pending)
/// closed; left pending (asked about again later) when the provider does not answer.
pub async fn close_trade(state: &AppState, trade: &Trade) {
    let Some(provider) = Provider::of_method_name(&trade.method) else {
        return;
    };
    if trade.status != "pending" {
        return;
    }
    match state
        .payments
        .close(provider, &trade.id.simple().to_string())
        .await
    {
        Ok(()) => {
            if let Err(e) = storage::checkouts::mark_trade_closed(&state.store, trade.id).await {
                tracing::warn!(trade = %trade.id, error = %e, "marking a combined payment closed failed");
            }
        }
        Err(e) => {
            tracing::info!(trade = %trade.id, error = %e, "closing a combined payment at its provider failed; asked again later");
        }
    }
}

/// The settler's part for combined payments: asks the providers about trades still pending a
/// while after they were started (or last asked about). Paid → applied like a notification;
/// closed or failed → closed; unpaid while none of its orders is payable any more → closed at
/// the provider. Answers how many it asked about.
pub async fn settle_pending(state: &AppState) -> AppResult<usize> {
    let after_ms = i64::try_from(state.settings.payments.settle_after_secs)
        .unwrap_or(86_400)
        .saturating_mul(1_000);
    let pending = storage::checkouts::pending_trades_to_settle(
        &state.store,
        storage::now_ms() - after_ms,
        20,
    )
    .await?;
    for trade in &pending {
        if let Err(e) = settle_one(state, trade).await {
            tracing::warn!(trade = %trade.id, error = %e, "settling a pending combined payment failed; tried again later");
        }
    }
    Ok(pending.len())
}

async fn settle_one(state: &AppState, trade: &Trade) -> AppResult<()> {
    let Some(provider) = Provider::of_method_name(&trade.method) else {
        return Ok(());
    };
    storage::checkouts::mark_trade_checked(&state.store, trade.id).await?;
    if !state.payments.has(provider) {
        return Ok(());
    }
    match state
        .payments
        .query(provider, &trade.id.simple().to_string())
        .await
    {
        Ok(TradeState::Paid(paid)) => {
            let taken = take_trade_paid(
                state,
                provider,
                &format!("query:{}", trade.id),
                trade.id,
                &paid,
            )
            .await?;
            tracing::info!(trade = %trade.id, ?taken, "a pending combined payment was found paid");
        }
        Ok(TradeState::Closed | TradeState::Failed(_)) => {
            storage::checkouts::mark_trade_closed(&state.store, trade.id).await?;
        }
        Ok(TradeState::Refunded) => {
            tracing::error!(trade = %trade.id, "a provider reports a pending combined payment as paid and refunded");
        }
        Ok(TradeState::NotPaid | TradeState::UserPaying) => {
            let shares = storage::checkouts::trade_payments(&state.store, trade.id).await?;
            let mut payable = false;
            for share in &shares {
                let head = storage::orders::head(state.store.reader(), share.order_id).await?;
                payable |= head.status == OrderStatus::PendingPayment;
            }
            if !payable {
                close_trade(state, trade).await;
            }
        }
        Err(e) => {
            tracing::info!(trade = %trade.id, error = %e, "asking about a pending combined payment failed; asked again later");
        }
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn a_cart_splits_platform_first_then_merchants_by_id() {
        let (a, b, c, d) = (
            Uuid::now_v7(),
            Uuid::now_v7(),
            Uuid::now_v7(),
            Uuid::now_v7(),
        );
        let owners = HashMap::from([
            (a, "m-beta".to_owned()),
            (b, PLATFORM.to_owned()),
            (c, "m-alpha".to_owned()),
        ]);
        let groups = split_lines(&[(a, 1), (b, 2), (c, 3), (d, 4)], &owners);
        assert_eq!(
            groups,
            vec![
                (PLATFORM.to_owned(), vec![(b, 2), (d, 4)]),
                ("m-alpha".to_owned(), vec![(c, 3)]),
                ("m-beta".to_owned(), vec![(a, 1)]),
            ]
        );
    }

    #[test]
    fn part_ids_are_stable_v7_and_distinct() {
        let checkout = Uuid::now_v7();
        let a = part_id(checkout, "m-alpha");
        assert_eq!(a, part_id(checkout, "m-alpha"));
        assert_ne!(a, part_id(checkout, "m-beta"));
        assert_ne!(a, checkout);
        assert!(retail_domain::ids::require_v7(a).is_ok());
        assert_eq!(a.as_bytes()[..6], checkout.as_bytes()[..6]);
    }

    #[test]
    fn descriptions_fit_the_providers_limit() {
        let long = "订单 ".to_owned() + &"W202612060001 ".repeat(20);
        let clipped = clip_description(&long);
        assert!(clipped.len() <= 127);
        assert!(long.starts_with(&clipped));
    }
}
