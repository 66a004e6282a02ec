//! Taking a payment through a provider (WeChat Pay, Alipay, the demo's sandbox): starting one
//! for an online order ([`start_order_payment`]), applying a provider's verified notification
//! or a query's answer ([`take_paid`]) — to a lane's payment, or to an online order, which moves
//! to paid (once per notification, amount and currency checked), earns its member's points and
//! is announced to its store when it is a pickup order — and the background settler that asks
//! the providers about payments left pending ([`settle_pending`]). An online order's
//! notification is applied in a group commit by the payment intake
//! ([`super::payment_intake`], the rules of one notification: [`take_order_paid_in_tx`]).
//!
//! Nothing about money is decided by a guess: a provider that does not answer leaves a payment
//! pending; money that arrives for an order no longer payable is recorded, refunded through
//! [`super::refunds`] and raises an alert; an amount, currency or provider that differs from
//! ours changes nothing and raises an alert.

use retail_domain::money::Money;
use retail_domain::order::{check_transition, Fulfilment, OrderStatus};
use retail_payments::{PaidTrade, Prepay, PrepayRequest, RefundRequest, TradeState};

use super::orders::{announce, record_statuses};
use super::payment_providers::Provider;
pub use super::payment_providers::{provider_error, require_provider, PayScene};
use super::recharges::RechargeTaken;
use super::AppState;
use crate::actor::ClientAddr;
use crate::config::Settings;
use crate::error::{AppError, AppResult};
use crate::storage;
use crate::storage::orders::OrderHead;
use crate::storage::payments::Payable;
use crate::storage::refunds::{AlertKind, NewAlert, RefundSource};

/// A payment started: the payment and what the shopper is given to pay it with.
#[derive(Clone, Debug)]
pub struct StartedPayment {
    /// The payment.
    pub payment: storage::payments::PaymentView,
    /// The provider's prepay (a QR code's text, a page, in-app parameters).
    pub prepay: Prepay,
}

impl StartedPayment {
    /// The one address that pays it: the QR code's text, the page to open, or for in-app
    /// parameters the order's page.
    pub fn pay_url(&self, public_url: &str) -> String {
        pay_url(
            &self.prepay,
            public_url,
            &format!("/orders/{}", self.payment.order_id),
        )
    }
}

/// The one address that pays a prepay: the QR code's text, the page to open (made absolute on
/// `public_url`), or for in-app parameters the shop's page `in_app_page` that pays in WeChat.
pub fn pay_url(prepay: &Prepay, public_url: &str, in_app_page: &str) -> String {
    match prepay {
        Prepay::QrCode { code_url } => code_url.clone(),
        Prepay::Redirect { url } if url.starts_with('/') => format!("{public_url}{url}"),
        Prepay::Redirect { url } => url.clone(),
        Prepay::InApp { .. } => format!("{public_url}{in_app_page}"),
    }
}

/// Starts a payment of a pending order's full amount through `provider`: only with that
/// provider configured ([`require_provider`]), and within the rate limits on payment intents per
/// client address and per the order's member (`orders.payment_intents_per_minute_per_*`; 429
/// with `Retry-After` beyond them). The payment is recorded before the provider is asked; a
/// retry with the same payment id answers the prepay kept from the first time (or asks the
/// provider again for the same trade, which answers the same). A provider that does not answer
/// leaves the payment pending (503; the background settler asks about it later).
pub async fn start_order_payment(
    state: &AppState,
    client: &ClientAddr,
    payment_id: uuid::Uuid,
    order_id: uuid::Uuid,
    provider: Provider,
    scene: &PayScene,
) -> AppResult<StartedPayment> {
    require_provider(state, provider)?;
    let head = storage::orders::head(state.store.reader(), order_id).await?;
    admit_intent(state, client, head.member_id).await?;
    let payment = storage::payments::create_intent(
        &state.store,
        payment_id,
        order_id,
        provider.method().as_str(),
        scene.stored(),
    )
    .await?;
    if payment.status != "pending" {
        return Err(AppError::conflict(
            "not_payable",
            format!("payment {} is {}", payment.id, payment.status),
        ));
    }
    if let Some(kept) =
        storage::payments::prepay(&state.store, Payable::Payment, payment.id).await?
    {
        if let Ok(prepay) = serde_json::from_str::<Prepay>(&kept) {
            return Ok(StartedPayment { payment, prepay });
        }
    }
    let timeout = i64::try_from(state.settings.orders.payment_timeout_secs).unwrap_or(86_400);
    let deadline = chrono::Utc::now() + chrono::Duration::seconds(timeout.min(86_400));
    let request = PrepayRequest {
        out_trade_no: payment.id.simple().to_string(),
        description: format!("订单 {}", head.order_no),
        amount_fen: payment.amount.fen(),
        notify_url: super::refunds::notify_url(state, provider),
        expires_at: storage::orders::expiry(state.store.reader(), order_id)
            .await?
            .map(storage::from_ms)
            .filter(|at| *at > chrono::Utc::now())
            .unwrap_or(deadline),
        scene: scene.prepay_scene(client),
    };
    let prepay = state
        .payments
        .prepay(provider, &request, &format!("/sandbox/pay/{}", payment.id))
        .await
        .map_err(|e| provider_error(provider, e))?;
    // In-app parameters are signed for the moment: asked for again each time.
    if !matches!(prepay, Prepay::InApp { .. }) {
        if let Ok(text) = serde_json::to_string(&prepay) {
            storage::payments::set_prepay(&state.store, Payable::Payment, payment.id, &text)
                .await?;
        }
    }
    Ok(StartedPayment { payment, prepay })
}

/// Counts one payment intent against the rate limits per client address and per member
/// (`orders.payment_intents_per_minute_per_*`): 429 with `Retry-After` beyond them.
pub async fn admit_intent(
    state: &AppState,
    client: &ClientAddr,
    member: Option<uuid::Uuid>,
) -> AppResult<()> {
    let limits = &state.settings.orders;
    state
        .limiter
        .check(
            &format!("intent:{}", client.limit_key()),
            limits.payment_intents_per_minute_per_address,
        )
        .await?;
    if let Some(member) = member {
        state
            .limiter
            .check(
                &format!("intent:member:{member}"),
                limits.payment_intents_per_minute_per_member,
            )
            .await?;
    }
    Ok(())
}

/// What became of a verified notification. Every outcome is answered to the provider as taken
/// (it stops sending it): a payment applied now, one applied before, money refunded because its
/// order was no longer payable, or an alert raised for head office instead of a change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Taken {
    /// Applied now (its order paid, or the lane's payment succeeded).
    Applied {
        /// The order paid (none for a lane payment).
        order_no: Option<String>,
    },
    /// Taken before (a retry, or a payment settled by a query first): nothing changed.
    Duplicate,
    /// Money arrived for an order that was cancelled or paid otherwise (or a lane payment the
    /// lane had cancelled): recorded, refunded automatically, and an alert raised.
    LatePayment,
    /// Nothing applied; an alert raised (amount, currency or provider differs, unknown
    /// payment).
    Alerted,
}

fn alert(
    provider: Provider,
    notify_id: &str,
    kind: AlertKind,
    payment: Option<uuid::Uuid>,
    order: Option<uuid::Uuid>,
    detail: String,
) -> NewAlert<'static> {
    NewAlert {
        id: format!("{}:{notify_id}", provider.as_str()),
        kind,
        provider: provider.as_str(),
        payment_id: payment.map(|p| p.to_string()),
        order_id: order,
        detail,
    }
}

fn clip(text: &str) -> String {
    text.chars().take(64).collect()
}

/// A verified notification (or a query's answer) that a trade was paid, as the payment intake
/// ([`super::payment_intake`]) takes it.
#[derive(Clone, Debug)]
pub struct PaidNotice {
    /// The provider that says so.
    pub provider: Provider,
    /// The provider's id of the notification (`query:<payment>` for a query's answer).
    pub notify_id: String,
    /// Our payment id (the trade's `out_trade_no`).
    pub payment_id: uuid::Uuid,
    /// What the provider says was paid.
    pub trade: PaidTrade,
}

impl PaidNotice {
    /// The key its notification is recorded under (each taken once): the provider and its id.
    pub fn key(&self) -> String {
        format!("{}:{}", self.provider.as_str(), self.notify_id)
    }
}

/// What became of a [`PaidNotice`] inside its batch's transaction.
#[derive(Debug)]
pub enum NoticeApplied {
    /// It was an online order's payment: the outcome, and what follows once the batch committed.
    Order {
        /// The outcome answered to the provider.
        taken: Taken,
        /// The work that waits for the commit.
        then: AfterCommit,
    },
    /// Not an online order's payment (a lane's, a recharge, or unknown here): nothing changed.
    NotAnOrderPayment,
}

impl NoticeApplied {
    /// An online order's payment with `taken` as its outcome and nothing to do after the commit.
    pub fn only(taken: Taken) -> Self {
        Self::Order {
            taken,
            then: AfterCommit::Nothing,
        }
    }
}

/// What a taken notification still has to do once its batch committed.
#[derive(Debug)]
pub enum AfterCommit {
    /// Nothing.
    Nothing,
    /// The order was paid: tell its store, close its other pending payments ([`after_paid`]).
    Paid {
        /// The order after the change.
        head: OrderHead,
        /// The payment that paid it.
        payment_id: uuid::Uuid,
    },
    /// Money came for an order no longer payable: send its refunds.
    Refunds {
        /// The order's number.
        order_no: String,
        /// The payment refunded.
        payment_id: uuid::Uuid,
        /// The refunds recorded.
        ids: Vec<uuid::Uuid>,
    },
}

/// Applies a verified notification (or a query's answer) that a trade was paid, whatever the
/// provider: `notify_id` is the provider's id of the notification (`query:<payment>` for a
/// query's answer). See [`Taken`] for the outcomes; an error means it could not be applied now
/// (the provider is told so and sends it again).
///
/// An online order's payment is applied by the payment intake, in a group commit with the other
/// notifications that arrived meanwhile ([`take_order_paid_in_tx`]); this answers once that
/// batch has committed, and then runs what follows the commit (the store told, the order's other
/// payments closed, refunds sent). A lane's payment or a recharge is applied on its own.
pub async fn take_paid(
    state: &AppState,
    provider: Provider,
    notify_id: &str,
    trade: &PaidTrade,
) -> AppResult<Taken> {
    let Ok(payment_id) = uuid::Uuid::try_parse(&trade.out_trade_no) else {
        return unknown_payment(state, provider, notify_id, trade).await;
    };
    let applied = state
        .payment_intake
        .take(PaidNotice {
            provider,
            notify_id: notify_id.to_owned(),
            payment_id,
            trade: trade.clone(),
        })
        .await?;
    match applied {
        NoticeApplied::Order { taken, then } => {
            follow_up(state, provider, then).await;
            Ok(taken)
        }
        NoticeApplied::NotAnOrderPayment => {
            let store = &state.store;
            if let Some(taken) =
                super::checkouts::take_trade_paid(state, provider, notify_id, payment_id, trade)
                    .await?
            {
                return Ok(taken);
            }
            if let Some(lane) = storage::lane_payments::get(store, payment_id).await? {
                let key = format!("{}:{notify_id}", provider.as_str());
                return take_lane_paid(state, provider, notify_id, &key, &lane, trade).await;
            }
            match storage::stored_value::recharge_by_id(store, payment_id).await? {
                Some(recharge) => Ok(
                    match super::recharges::take_paid(state, provider, notify_id, &recharge, trade)
                        .await?
                    {
                        RechargeTaken::Credited => Taken::Applied { order_no: None },
                        RechargeTaken::Duplicate => Taken::Duplicate,
                        RechargeTaken::Alerted => Taken::Alerted,
                    },
                ),
                None => unknown_payment(state, provider, notify_id, trade).await,
            }
        }
    }
}

/// Does what a taken notification left for after its commit ([`AfterCommit`]): the paid
/// order's follow-up ([`after_paid`]), or the refunds of money that came too late.
pub async fn follow_up(state: &AppState, provider: Provider, then: AfterCommit) {
    match then {
        AfterCommit::Nothing => {}
        AfterCommit::Paid { head, payment_id } => {
            tracing::info!(order = %head.order_no, provider = provider.as_str(), "order paid");
            after_paid(state, &head, payment_id).await;
        }
        AfterCommit::Refunds {
            order_no,
            payment_id,
            ids,
        } => {
            tracing::warn!(order = %order_no, payment = %payment_id, "a payment arrived for an order that is no longer payable; refunding");
            super::refunds::send_soon(state, ids);
        }
    }
}

/// Applies a [`PaidNotice`] for an online order's payment inside the caller's transaction (the
/// payment intake's batch): the payment locked, the notification id recorded once, provider,
/// amount and currency checked, then the order paid — or, for an order no longer payable, the
/// money recorded, a refund requested and an alert raised; or, when something differs, only an
/// alert. Nothing outside the transaction is touched: what must follow the commit is answered
/// as [`AfterCommit`]. A payment that is not an online order's changes nothing
/// ([`NoticeApplied::NotAnOrderPayment`]). On an error the caller undoes what this wrote.
pub async fn take_order_paid_in_tx(
    tx: &mut crate::storage::Tx,
    store: &storage::Store,
    settings: &Settings,
    notice: &PaidNotice,
) -> AppResult<NoticeApplied> {
    let PaidNotice {
        provider,
        notify_id,
        payment_id,
        trade,
    } = notice;
    let provider = *provider;
    let key = notice.key();
    let payment = match storage::payments::lock_payment(tx, store, *payment_id).await {
        Ok(payment) => payment,
        Err(AppError::NotFound(_)) => return Ok(NoticeApplied::NotAnOrderPayment),
        Err(e) => return Err(e),
    };
    let taken = NoticeApplied::only;
    match storage::payments::record_notification(tx, "payment_notifications", &key, payment.id)
        .await
    {
        Ok(()) => {}
        Err(e) if e.code() == "replayed_notification" => return Ok(taken(Taken::Duplicate)),
        Err(e) => return Err(e),
    }
    let head = storage::orders::lock_head(tx, store, payment.order_id).await?;
    // What the order's other payments took already (stored balance of a split payment).
    let paid_before = storage::payments::paid_so_far_in_tx(tx, head.id).await?;
    match judge(provider, &payment, &head, trade, paid_before) {
        Verdict::Differs(detail) => {
            tracing::error!(provider = provider.as_str(), payment = %payment.id, %detail, "payment notification not applied");
            storage::refunds::raise_alert_in_tx(
                tx,
                &alert(
                    provider,
                    notify_id,
                    AlertKind::AmountMismatch,
                    Some(payment.id),
                    Some(head.id),
                    detail,
                ),
            )
            .await?;
            Ok(taken(Taken::Alerted))
        }
        Verdict::AlreadyPaid => Ok(taken(Taken::Duplicate)),
        Verdict::NotPayable => {
            late_payment_in_tx(
                tx,
                settings,
                provider,
                notify_id,
                &payment,
                &head,
                &trade.transaction_id,
            )
            .await
        }
        Verdict::Pay => {
            let head = apply_paid_in_tx(
                settings,
                tx,
                &head,
                payment.id,
                &trade.transaction_id,
                "payment-provider",
            )
            .await?;
            Ok(paid_now(head, payment.id))
        }
    }
}

/// What a verified notification means for its payment and its order (both read in the
/// applying transaction, `paid_before` what the order's succeeded payments took so far), before
/// anything is written: one set of rules whether notifications are applied one by one or many
/// together ([`super::payment_intake`]).
pub fn judge(
    provider: Provider,
    payment: &storage::payments::PaymentView,
    head: &OrderHead,
    trade: &PaidTrade,
    paid_before: i64,
) -> Verdict {
    let paid = Money::from_fen(trade.amount_fen);
    if payment.method != provider.method().as_str() {
        return Verdict::Differs(format!(
            "{} says it was paid, but payment {} is a {} payment",
            provider.label(),
            payment.id,
            payment.method
        ));
    }
    if trade.currency != "CNY" || paid != payment.amount {
        return Verdict::Differs(format!(
            "{} says {paid} {} was paid for payment {} of order {}, which is {} CNY",
            provider.label(),
            clip(&trade.currency),
            payment.id,
            head.order_no,
            payment.amount
        ));
    }
    if matches!(payment.status.as_str(), "succeeded" | "refunded") {
        if payment.transaction_id.as_deref() != Some(trade.transaction_id.as_str()) {
            return Verdict::Differs(format!(
                "payment {} was paid as transaction {:?} and is now reported paid as {:?}",
                payment.id,
                payment.transaction_id,
                clip(&trade.transaction_id)
            ));
        }
        return Verdict::AlreadyPaid;
    }
    let payable = head.status == OrderStatus::PendingPayment
        && payment.amount.fen() + paid_before == head.total_fen
        && check_transition(head.fulfilment, head.status, OrderStatus::Paid).is_ok();
    if payable {
        Verdict::Pay
    } else {
        Verdict::NotPayable
    }
}

/// What [`judge`] makes of a paid notification.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Something differs from what was asked (the provider, the amount or currency, the
    /// transaction of a payment paid before): an alert for head office, nothing else changed.
    Differs(String),
    /// Paid before, as this transaction: nothing to do.
    AlreadyPaid,
    /// The order can no longer take this payment (cancelled, or paid otherwise): the money is
    /// recorded, refunded and an alert raised.
    NotPayable,
    /// The order is paid now.
    Pay,
}

/// The answer for a payment that paid its order now: what follows the commit is the store told
/// and the order's other pending payments closed.
pub fn paid_now(head: OrderHead, payment_id: uuid::Uuid) -> NoticeApplied {
    NoticeApplied::Order {
        taken: Taken::Applied {
            order_no: Some(head.order_no.clone()),
        },
        then: AfterCommit::Paid { head, payment_id },
    }
}

/// Money that came for an order no longer payable: the payment recorded as succeeded (the money
/// is real), a refund of it requested and an alert raised, in the caller's transaction.
async fn late_payment_in_tx(
    tx: &mut crate::storage::Tx,
    settings: &Settings,
    provider: Provider,
    notify_id: &str,
    payment: &storage::payments::PaymentView,
    head: &OrderHead,
    transaction_id: &str,
) -> AppResult<NoticeApplied> {
    storage::payments::mark_succeeded(tx, payment.id, transaction_id).await?;
    let ids = super::refunds::request_in_tx(
        tx,
        settings.payments.refund_approval_above,
        &super::refunds::RefundAsk {
            order_id: head.id,
            payment_id: Some(payment.id),
            method: &payment.method,
            amount_fen: payment.amount.fen(),
            reason: "订单已取消或已支付，自动退款 order no longer payable",
            source: RefundSource::LatePayment,
            source_id: None,
            requested_by: "payment-provider",
            approved_by: None,
        },
    )
    .await?;
    storage::refunds::raise_alert_in_tx(
        tx,
        &alert(
            provider,
            notify_id,
            AlertKind::LatePayment,
            Some(payment.id),
            Some(head.id),
            format!(
                "{} paid {} for order {} after it became {}: refunded automatically",
                provider.label(),
                payment.amount,
                head.order_no,
                head.status.as_str()
            ),
        ),
    )
    .await?;
    Ok(NoticeApplied::Order {
        taken: Taken::LatePayment,
        then: AfterCommit::Refunds {
            order_no: head.order_no.clone(),
            payment_id: payment.id,
            ids,
        },
    })
}

/// A verified notification for a trade this server does not know: an alert, once.
async fn unknown_payment(
    state: &AppState,
    provider: Provider,
    notify_id: &str,
    trade: &PaidTrade,
) -> AppResult<Taken> {
    tracing::error!(provider = provider.as_str(), out_trade_no = %clip(&trade.out_trade_no), "a paid notification for an unknown payment");
    storage::refunds::raise_alert(
        &state.store,
        &alert(
            provider,
            notify_id,
            AlertKind::UnknownPayment,
            None,
            None,
            format!(
                "{} says trade {:?} (transaction {:?}) was paid {}, but this server has no such payment",
                provider.label(),
                clip(&trade.out_trade_no),
                clip(&trade.transaction_id),
                Money::from_fen(trade.amount_fen)
            ),
        ),
    )
    .await?;
    Ok(Taken::Alerted)
}

/// A lane's provider payment paid (its QR): applied to the lane payment; one the lane had
/// cancelled meanwhile is refunded at once and raises an alert.
async fn take_lane_paid(
    state: &AppState,
    provider: Provider,
    notify_id: &str,
    key: &str,
    lane: &storage::lane_payments::LanePaymentRecord,
    trade: &PaidTrade,
) -> AppResult<Taken> {
    if lane.method != provider.method()
        || trade.currency != "CNY"
        || trade.amount_fen != lane.amount.fen()
    {
        storage::refunds::raise_alert(
            &state.store,
            &alert(
                provider,
                notify_id,
                AlertKind::AmountMismatch,
                Some(lane.id),
                None,
                format!(
                    "{} says {} {} was paid for lane payment {}, a {} payment of {} CNY",
                    provider.label(),
                    Money::from_fen(trade.amount_fen),
                    clip(&trade.currency),
                    lane.id,
                    lane.method.as_str(),
                    lane.amount
                ),
            ),
        )
        .await?;
        return Ok(Taken::Alerted);
    }
    match storage::lane_payments::apply_paid(
        &state.store,
        key,
        lane.id,
        &trade.transaction_id,
        lane.amount,
    )
    .await
    {
        Ok(paid) => {
            tracing::info!(payment = %paid.id, store = %paid.location_id, "lane payment paid");
            Ok(Taken::Applied { order_no: None })
        }
        Err(e) if matches!(e.code(), "replayed_notification" | "already_paid") => {
            Ok(Taken::Duplicate)
        }
        Err(e) if e.code() == "not_payable" => {
            // The lane gave up on it before the shopper paid: the money goes back at once.
            let refund = RefundRequest {
                out_refund_no: lane.id.simple().to_string(),
                out_trade_no: lane.id.simple().to_string(),
                transaction_id: Some(trade.transaction_id.clone()),
                amount_fen: trade.amount_fen,
                total_fen: trade.amount_fen,
                reason: "收银台已取消，自动退款 cancelled at the till".into(),
                notify_url: super::refunds::notify_url(state, provider),
            };
            let outcome = state.payments.refund(provider, &refund).await;
            storage::refunds::raise_alert(
                &state.store,
                &alert(
                    provider,
                    notify_id,
                    AlertKind::LatePayment,
                    Some(lane.id),
                    None,
                    format!(
                        "lane payment {} of store {} was paid {} after the lane cancelled it: {}",
                        lane.id,
                        lane.location_id,
                        lane.amount,
                        match &outcome {
                            Ok(o) => format!("refund {:?}", o.state),
                            Err(e) => format!("the refund was NOT sent ({e}): refund it by hand"),
                        }
                    ),
                ),
            )
            .await?;
            Ok(Taken::LatePayment)
        }
        Err(e) => Err(e),
    }
}

/// After an order is paid: the event `order_paid` is recorded, a group-buy order's seat is paid,
/// the share it came from and its distributors' commission recorded
/// (its team may fill), the store hears of a pickup order (a group-buy order only once its team
/// filled), and the order's other pending provider payments (the shopper tried another provider
/// first) are closed at their providers.
pub async fn after_paid(state: &AppState, head: &OrderHead, paid: uuid::Uuid) {
    crate::app::events::record(
        state,
        vec![crate::app::events::ServerEvent::new(
            "order_paid",
            head.id,
            head.channel.as_str(),
            serde_json::json!({"order_no": head.order_no, "total_fen": head.total_fen}),
        )
        .member(head.member_id)
        .store(head.location_id.clone())],
    );
    // A group-buy order's seat is paid now; the order stays held (the store not told) until its
    // team fills (`app::group_buys`).
    let held = match super::group_buys::order_paid(state, head.id).await {
        Ok(held) => held,
        Err(err) => {
            tracing::warn!(order = %head.order_no, error = %err, "recording a group-buy payment failed; the sweeper catches up");
            false
        }
    };
    // Share attribution and the distributors' frozen commission (`app::distribution`).
    if let Err(err) =
        super::distribution::order_paid(state, head.id, head.member_id, &head.order_no).await
    {
        tracing::warn!(order = %head.order_no, error = %err, "deciding an order's commission failed");
    }
    if head.fulfilment == Fulfilment::Pickup && state.bus.is_some() && !held {
        match storage::orders::get(&state.store, head.id).await {
            Ok(order) => announce(state, &order, "created").await,
            Err(err) => {
                tracing::error!(order = %head.order_no, error = %err, "reading a paid pickup order failed; the store is not told")
            }
        }
    }
    let others = match storage::payments::of_order(&state.store, head.id).await {
        Ok(all) => all,
        Err(e) => {
            tracing::warn!(order = %head.order_no, error = %e, "reading an order's payments failed");
            return;
        }
    };
    for other in others
        .into_iter()
        .filter(|p| p.id != paid && p.status == "pending")
    {
        close_pending(state, &other).await;
    }
}

/// Closes a pending provider payment at its provider and marks it closed; left pending (and
/// asked about again later) when the provider does not answer.
pub async fn close_pending(state: &AppState, payment: &storage::payments::PaymentView) {
    let Some(provider) = Provider::of_method_name(&payment.method) else {
        return;
    };
    // One order's share of a combined payment: the provider knows only the trade, which is
    // closed whole (the checkout's other orders are paid with a new one).
    if let Some(trade) = payment.trade_id {
        match storage::checkouts::trade(&state.store, trade).await {
            Ok(Some(trade)) => super::checkouts::close_trade(state, &trade).await,
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(payment = %payment.id, error = %e, "reading a combined payment failed")
            }
        }
        return;
    }
    match state
        .payments
        .close(provider, &payment.id.simple().to_string())
        .await
    {
        Ok(()) => {
            if let Err(e) = storage::payments::mark_closed(&state.store, payment.id).await {
                tracing::warn!(payment = %payment.id, error = %e, "marking a payment closed failed");
            }
        }
        Err(e) => {
            tracing::info!(payment = %payment.id, error = %e, "closing a payment at its provider failed; asked again later");
        }
    }
}

/// The background settler: asks the providers about payments still pending a while after they
/// were started (or last asked about), so a notification that never came, or a provider that
/// timed out, leaves no money unaccounted for. Paid → applied like a notification; closed or
/// failed → closed; unpaid with its order no longer payable → closed at the provider; no answer
/// → asked again later. Answers how many it asked about.
pub async fn settle_pending(state: &AppState) -> AppResult<usize> {
    let after_ms = i64::try_from(state.settings.payments.settle_after_secs)
        .unwrap_or(86_400)
        .saturating_mul(1_000);
    let pending =
        storage::payments::pending_to_settle(&state.store, storage::now_ms() - after_ms, 20)
            .await?;
    for payment in &pending {
        if let Err(e) = settle_one(state, payment).await {
            tracing::warn!(payment = %payment.id, error = %e, "settling a pending payment failed; tried again later");
        }
    }
    Ok(pending.len())
}

async fn settle_one(state: &AppState, payment: &storage::payments::PaymentView) -> AppResult<()> {
    let Some(provider) = Provider::of_method_name(&payment.method) else {
        return Ok(());
    };
    storage::payments::mark_checked(&state.store, Payable::Payment, payment.id).await?;
    if !state.payments.has(provider) {
        return Ok(());
    }
    match state
        .payments
        .query(provider, &payment.id.simple().to_string())
        .await
    {
        Ok(TradeState::Paid(trade)) => {
            let taken =
                take_paid(state, provider, &format!("query:{}", payment.id), &trade).await?;
            tracing::info!(payment = %payment.id, ?taken, "a pending payment was found paid");
        }
        Ok(TradeState::Closed | TradeState::Failed(_)) => {
            storage::payments::mark_closed(&state.store, payment.id).await?;
        }
        Ok(TradeState::Refunded) => {
            storage::refunds::raise_alert(
                &state.store,
                &alert(
                    provider,
                    &format!("refunded:{}", payment.id),
                    AlertKind::UnknownPayment,
                    Some(payment.id),
                    Some(payment.order_id),
                    format!(
                        "{} reports payment {} as paid and refunded, but no notification of it was taken here",
                        provider.label(),
                        payment.id
                    ),
                ),
            )
            .await?;
        }
        Ok(TradeState::NotPaid | TradeState::UserPaying) => {
            let head = storage::orders::head(state.store.reader(), payment.order_id).await?;
            if head.status != OrderStatus::PendingPayment {
                close_pending(state, payment).await;
            }
        }
        Err(e) => {
            tracing::info!(payment = %payment.id, error = %e, "asking about a pending payment failed; asked again later");
        }
    }
    Ok(())
}

/// Moves a payable order to paid inside the caller's transaction: the payment succeeded with
/// the provider's transaction id, the order's payment deadline cleared, its status recorded,
/// and a member's points earned on what was paid (once, by order id). Answers the order's
/// header after the change.
pub async fn apply_paid_in_tx(
    settings: &Settings,
    tx: &mut crate::storage::Tx,
    head: &OrderHead,
    payment_id: uuid::Uuid,
    transaction_id: &str,
    actor: &str,
) -> AppResult<OrderHead> {
    let mut paid = apply_many_paid_in_tx(
        settings,
        tx,
        &[OrderPaid {
            head,
            payment_id,
            transaction_id,
        }],
        actor,
    )
    .await?;
    paid.pop().ok_or_else(|| {
        AppError::Internal(anyhow::anyhow!("order {} paid without an answer", head.id))
    })
}

/// One payable order paid by one payment, for [`apply_many_paid_in_tx`].
#[derive(Clone, Copy, Debug)]
pub struct OrderPaid<'a> {
    /// The order's header, read (and locked) in the transaction.
    pub head: &'a OrderHead,
    /// The payment that paid it.
    pub payment_id: uuid::Uuid,
    /// The provider's transaction id (empty for an internal tender).
    pub transaction_id: &'a str,
}

/// [`apply_paid_in_tx`] for many orders (each a different order) with one statement per step
/// for all of them — the payments, the deadlines, the statuses and their events, the members'
/// notices — and the members' points earned one member after another in member id order (so
/// two transactions at once take the members' rows in the same order). Answers the orders'
/// headers after the change, in the order given.
pub async fn apply_many_paid_in_tx(
    settings: &Settings,
    tx: &mut crate::storage::Tx,
    paid: &[OrderPaid<'_>],
    actor: &str,
) -> AppResult<Vec<OrderHead>> {
    let payments: Vec<(uuid::Uuid, &str)> = paid
        .iter()
        .map(|p| (p.payment_id, p.transaction_id))
        .collect();
    storage::payments::mark_many_succeeded(tx, &payments).await?;
    let ids: Vec<uuid::Uuid> = paid.iter().map(|p| p.head.id).collect();
    storage::orders::clear_expiries(tx, &ids).await?;
    let heads: Vec<&OrderHead> = paid.iter().map(|p| p.head).collect();
    record_statuses(tx, &heads, OrderStatus::Paid, actor, "payment received").await?;
    let mut after: Vec<OrderHead> = heads
        .iter()
        .map(|head| OrderHead {
            status: OrderStatus::Paid,
            ..(*head).clone()
        })
        .collect();
    let mut members: Vec<(uuid::Uuid, usize)> = heads
        .iter()
        .enumerate()
        .filter_map(|(i, head)| head.member_id.map(|m| (m, i)))
        .collect();
    members.sort();
    let now = storage::now_ms();
    for (member, i) in members {
        let head = heads[i];
        let points_earned = storage::members::earn_in_tx(
            tx,
            &settings.points,
            member,
            Money::from_fen(head.total_fen),
            &head.id.to_string(),
            actor,
            now,
        )
        .await?;
        storage::orders::set_order_points_earned(tx, head.id, points_earned).await?;
        after[i].points_earned = points_earned;
    }
    Ok(after)
}
