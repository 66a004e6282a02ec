//! Refunds to the original tender (issue 14): whatever asks for money back — a paid order
//! cancelled, a return at a lane or online, a payment that arrived after its order was
//! cancelled — records refunds of its provider payments here, inside its own transaction
//! ([`request_in_tx`]); stored balance and points go back in that same transaction (their
//! ledgers), cash and card at the till. Each provider refund is then sent to the provider
//! ([`send`], right after the commit and again by the background [`dispatch_due`] until the
//! provider answers), idempotent by our refund id (`out_refund_no`), and tracked through the
//! provider's answers and refund notifications ([`take_notification`]) until final: `success`,
//! or `closed` / `abnormal`, which raise an alert for head office.
//!
//! A refund above `payments.refund_approval_above` that nobody approved yet waits in
//! `awaiting_approval` for a store manager of the order's store or a head-office administrator
//! ([`approve`]) or rejects it with a reason ([`reject`]: `closed`, never sent, the amount
//! refundable again); a return approved with a manager's PIN, a cancelled order and a late
//! payment need no further approval.

use retail_domain::money::Money;
use retail_payments::{ProviderError, RefundRequest, RefundState};
use uuid::Uuid;

use super::payment_providers::Provider;
use super::AppState;
use crate::actor::{Role, StaffActor};
use crate::error::{AppError, AppResult};
use crate::storage;
use crate::storage::paging::{Cursor, Page};
use crate::storage::refunds::{
    AlertKind, AwaitingRefund, NewAlert, NewRefund, Refund, RefundSource, RefundStatus,
};
use crate::storage::Tx;

/// What asks for money back through one provider tender of an order.
#[derive(Clone, Debug)]
pub struct RefundAsk<'a> {
    /// The order.
    pub order_id: Uuid,
    /// Only this payment of the order (a late payment), instead of all of its payments through
    /// the tender.
    pub payment_id: Option<Uuid>,
    /// The tender (`wechat_pay`, `alipay`, `sandbox_qr`).
    pub method: &'a str,
    /// How much, in fen.
    pub amount_fen: i64,
    /// Why (shown to the payer).
    pub reason: &'a str,
    /// What asks.
    pub source: RefundSource,
    /// The return or after-sale it belongs to.
    pub source_id: Option<&'a str>,
    /// Who asks (the actor name written everywhere).
    pub requested_by: &'a str,
    /// Who approved it already (a return's approving manager), if anyone.
    pub approved_by: Option<&'a str>,
}

/// True for a tender refunded through its provider (and so through `payment_refunds`).
pub fn is_provider_tender(method: &str) -> bool {
    Provider::of_method_name(method).is_some()
}

/// Records the refunds of `ask` in the caller's transaction: its amount spread over the order's
/// succeeded payments through that tender, oldest first, each up to what it has left. Answers
/// the refund ids, to [`send_soon`] after the commit. A refund above the approval threshold
/// with nobody's approval (and not a cancellation or a late payment) waits for approval.
///
/// `approval_above` is `payments.refund_approval_above`. The refunds go out when the background
/// dispatcher next runs (within a sweep), or at once with [`send_soon`] after the commit.
pub async fn request_in_tx(
    tx: &mut Tx,
    approval_above: Money,
    ask: &RefundAsk<'_>,
) -> AppResult<Vec<Uuid>> {
    if ask.amount_fen <= 0 {
        return Ok(Vec::new());
    }
    let needs_approval = ask.approved_by.is_none()
        && !matches!(ask.source, RefundSource::Cancel | RefundSource::LatePayment)
        && Money::from_fen(ask.amount_fen) > approval_above;
    let status = if needs_approval {
        RefundStatus::AwaitingApproval
    } else {
        RefundStatus::Pending
    };
    let mut left = ask.amount_fen;
    let mut ids = Vec::new();
    for (payment_id, amount, refunded) in
        storage::payments::refundable_of_order(tx, ask.order_id, ask.method).await?
    {
        if ask.payment_id.is_some_and(|only| only != payment_id) {
            continue;
        }
        if left == 0 {
            break;
        }
        let take = left.min(amount - refunded);
        if take <= 0 {
            continue;
        }
        let refund = storage::refunds::insert_in_tx(
            tx,
            &NewRefund {
                id: retail_domain::ids::new_id(),
                payment_id,
                order_id: ask.order_id,
                method: ask.method,
                amount_fen: take,
                reason: ask.reason,
                source: ask.source,
                source_id: ask.source_id,
                state: status,
                requested_by: ask.requested_by,
                approved_by: ask.approved_by,
            },
        )
        .await?;
        ids.push(refund.id);
        left -= take;
    }
    if left > 0 {
        return Err(AppError::conflict(
            "refund_exceeds_payment",
            format!(
                "the order's {} payments have {} less left to refund than asked",
                ask.method,
                Money::from_fen(left)
            ),
        ));
    }
    Ok(ids)
}

/// Sends the refunds just committed, in the background (the sweeper retries what fails).
pub fn send_soon(state: &AppState, ids: Vec<Uuid>) {
    if ids.is_empty() {
        return;
    }
    let state = state.clone();
    tokio::spawn(async move {
        for id in ids {
            match storage::refunds::get(&state.store, id).await {
                Ok(Some(refund)) if refund.state == RefundStatus::Pending => {
                    if let Err(e) = send(&state, &refund).await {
                        tracing::warn!(refund = %id, error = %e, "sending a refund failed; retried later");
                    }
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(refund = %id, error = %e, "reading a refund failed"),
            }
        }
    });
}

/// Retry delay after `attempts` failed sends: 2 s doubling, at most 10 minutes.
fn backoff_ms(attempts: i64) -> i64 {
    let exp = u32::try_from(attempts.clamp(0, 9)).unwrap_or(9);
    (2_000_i64 << exp).min(600_000)
}

/// Provider refusals worth sending again later (busy, a system error, the merchant's balance
/// short for now); every other refusal is final and needs a person.
fn retryable_refusal(code: &str) -> bool {
    matches!(
        code,
        "FREQUENCY_LIMITED"
            | "SYSTEM_ERROR"
            | "NOT_ENOUGH"
            | "ACQ.SYSTEM_ERROR"
            | "ACQ.SELLER_BALANCE_NOT_ENOUGH"
            | "aop.ACQ.SYSTEM_ERROR"
    )
}

fn status_of(state: &RefundState) -> RefundStatus {
    match state {
        RefundState::Processing => RefundStatus::Processing,
        RefundState::Success => RefundStatus::Success,
        RefundState::Closed => RefundStatus::Closed,
        RefundState::Abnormal => RefundStatus::Abnormal,
    }
}

fn failed_alert(refund: &Refund, provider: Provider, why: &str) -> NewAlert<'static> {
    NewAlert {
        id: format!("refund:{}", refund.id),
        kind: AlertKind::RefundFailed,
        provider: provider.as_str(),
        payment_id: Some(refund.payment_id.to_string()),
        order_id: Some(refund.order_id),
        detail: format!(
            "refund {} of {} ({}) {why}",
            refund.id, refund.amount, refund.reason
        ),
    }
}

/// The URL a provider sends its notifications to.
pub fn notify_url(state: &AppState, provider: Provider) -> String {
    format!(
        "{}/api/v1/payments/{}/notify",
        state.public_url,
        provider.as_str()
    )
}

/// The trade at the provider a refund of `payment` is made against: its `out_trade_no`, the
/// provider's transaction id and the trade's total in fen. A payment's own trade, or — for one
/// order's share of a combined payment — the combined trade, refunded in part.
async fn refunded_trade(
    state: &AppState,
    payment: Uuid,
) -> AppResult<(String, Option<String>, i64)> {
    let payment = storage::payments::get(&state.store, payment).await?;
    Ok(match payment.trade_id {
        Some(trade) => {
            let trade = storage::checkouts::trade(&state.store, trade)
                .await?
                .ok_or_else(|| AppError::Internal(anyhow::anyhow!("trade {trade} not found")))?;
            (
                trade.id.simple().to_string(),
                trade.transaction_id,
                trade.amount_fen,
            )
        }
        None => (
            payment.id.simple().to_string(),
            payment.transaction_id,
            payment.amount.fen(),
        ),
    })
}

/// Sends one pending refund to its provider and records the answer: the provider's state, or
/// for no answer a later retry (never a guess).
pub async fn send(state: &AppState, refund: &Refund) -> AppResult<()> {
    let Some(provider) = Provider::of_method_name(&refund.method) else {
        return Err(AppError::Internal(anyhow::anyhow!(
            "refund {} is of tender {}, which has no provider",
            refund.id,
            refund.method
        )));
    };
    let (out_trade_no, transaction_id, total_fen) =
        refunded_trade(state, refund.payment_id).await?;
    let request = RefundRequest {
        out_refund_no: refund.id.simple().to_string(),
        out_trade_no,
        transaction_id,
        amount_fen: refund.amount.fen(),
        total_fen,
        reason: refund.reason.clone(),
        notify_url: notify_url(state, provider),
    };
    match state.payments.refund(provider, &request).await {
        Ok(outcome) => {
            let status = status_of(&outcome.state);
            record_status(
                state,
                refund,
                provider,
                status,
                outcome.refund_id.as_deref(),
            )
            .await
        }
        Err(ProviderError::Rejected { code, message, .. }) if !retryable_refusal(&code) => {
            tracing::error!(refund = %refund.id, %code, %message, "the provider refused a refund");
            let mut tx = state.store.begin().await?;
            storage::refunds::set_state_in_tx(&mut tx, refund.id, RefundStatus::Abnormal, None)
                .await?;
            storage::refunds::raise_alert_in_tx(
                &mut tx,
                &failed_alert(refund, provider, &format!("was refused: {code}: {message}")),
            )
            .await?;
            tx.commit().await?;
            Ok(())
        }
        Err(e) => {
            let next = storage::now_ms() + backoff_ms(refund.attempts);
            tracing::warn!(refund = %refund.id, error = %e, "a refund did not reach its provider; retried later");
            storage::refunds::record_failure(&state.store, refund.id, &e.to_string(), next).await
        }
    }
}

/// Records a refund's new state; a closed or abnormal one raises an alert, once.
async fn record_status(
    state: &AppState,
    refund: &Refund,
    provider: Provider,
    status: RefundStatus,
    provider_refund_id: Option<&str>,
) -> AppResult<()> {
    let mut tx = state.store.begin().await?;
    let changed =
        storage::refunds::set_state_in_tx(&mut tx, refund.id, status, provider_refund_id).await?;
    if changed.is_some() && matches!(status, RefundStatus::Closed | RefundStatus::Abnormal) {
        storage::refunds::raise_alert_in_tx(
            &mut tx,
            &failed_alert(refund, provider, &format!("is {}", status.as_str())),
        )
        .await?;
    }
    tx.commit().await?;
    if changed.is_some() {
        tracing::info!(refund = %refund.id, state = status.as_str(), "refund state");
        if status == RefundStatus::Success {
            refunded_event(state, refund);
        }
    }
    Ok(())
}

/// Records the event `order_refunded` of a refund paid back (after its commit).
fn refunded_event(state: &AppState, refund: &Refund) {
    crate::app::events::record(
        state,
        vec![crate::app::events::ServerEvent::new(
            "order_refunded",
            refund.id,
            "online",
            serde_json::json!({"refund_id": refund.id.to_string(), "amount_fen": refund.amount.fen()}),
        )
        .order(refund.order_id)],
    );
}

/// Asks the provider about a refund it accepted but has not called final yet.
async fn poll(state: &AppState, refund: &Refund) -> AppResult<()> {
    let Some(provider) = Provider::of_method_name(&refund.method) else {
        return Ok(());
    };
    let (out_trade_no, _, _) = refunded_trade(state, refund.payment_id).await?;
    match state
        .payments
        .query_refund(
            provider,
            &out_trade_no,
            &refund.id.simple().to_string(),
            refund.amount.fen(),
        )
        .await
    {
        Ok(outcome) if outcome.state != RefundState::Processing => {
            record_status(
                state,
                refund,
                provider,
                status_of(&outcome.state),
                outcome.refund_id.as_deref(),
            )
            .await
        }
        Ok(_) => storage::refunds::touch(&state.store, refund.id).await,
        Err(e) => {
            tracing::warn!(refund = %refund.id, error = %e, "asking about a refund failed; asked again later");
            storage::refunds::touch(&state.store, refund.id).await
        }
    }
}

/// The background part: sends the refunds due and asks about those the provider has had for a
/// minute without a final word. Answers how many it looked at.
pub async fn dispatch_due(state: &AppState) -> AppResult<usize> {
    let due = storage::refunds::due(&state.store, storage::now_ms(), 60_000, 20).await?;
    for refund in &due {
        let result = if refund.state == RefundStatus::Pending {
            send(state, refund).await
        } else {
            poll(state, refund).await
        };
        if let Err(e) = result {
            tracing::warn!(refund = %refund.id, error = %e, "refund dispatch failed");
        }
    }
    Ok(due.len())
}

/// Applies a verified refund notification: each notification once (a retry changes nothing and
/// is answered as taken), the refund's state moved on unless it is final already. A refund we
/// do not know raises an alert and is answered as taken (nothing of ours changes).
pub async fn take_notification(
    state: &AppState,
    provider: Provider,
    notify_id: &str,
    outcome: &retail_payments::RefundOutcome,
) -> AppResult<()> {
    let refund = match Uuid::try_parse(&outcome.out_refund_no) {
        Ok(id) => storage::refunds::get(&state.store, id).await?,
        Err(_) => None,
    };
    let Some(refund) = refund else {
        storage::refunds::raise_alert(
            &state.store,
            &NewAlert {
                id: format!("{}:{notify_id}", provider.as_str()),
                kind: AlertKind::UnknownPayment,
                provider: provider.as_str(),
                payment_id: None,
                order_id: None,
                detail: format!(
                    "a refund notification for refund {:?}, which this server does not know",
                    outcome.out_refund_no.chars().take(64).collect::<String>()
                ),
            },
        )
        .await?;
        return Ok(());
    };
    let status = status_of(&outcome.state);
    let mut tx = state.store.begin().await?;
    let key = format!("{}:{notify_id}", provider.as_str());
    if !storage::refunds::record_notification(&mut tx, &key, refund.id).await? {
        return Ok(());
    }
    let changed =
        storage::refunds::set_state_in_tx(&mut tx, refund.id, status, outcome.refund_id.as_deref())
            .await?;
    if changed.is_some() && matches!(status, RefundStatus::Closed | RefundStatus::Abnormal) {
        storage::refunds::raise_alert_in_tx(
            &mut tx,
            &failed_alert(&refund, provider, &format!("is {}", status.as_str())),
        )
        .await?;
    }
    tx.commit().await?;
    if changed.is_some() && status == RefundStatus::Success {
        refunded_event(state, &refund);
    }
    Ok(())
}

/// Longest reason for rejecting a refund, in characters.
pub const MAX_REJECT_REASON: usize = 200;

/// The stores whose refunds `staff` decides on: every store (`None`) for head office, their own
/// for a store manager; 403 for anyone else.
pub fn approver_scope(staff: &StaffActor) -> AppResult<Option<String>> {
    staff.require(&[Role::StoreManager, Role::HeadOfficeAdmin])?;
    match staff.role {
        Role::HeadOfficeAdmin => Ok(None),
        _ => {
            staff.location_id.clone().map(Some).ok_or_else(|| {
                AppError::Forbidden(format!("{} belongs to no store", staff.username))
            })
        }
    }
}

/// True when `staff` may approve or reject refunds (of some store).
pub fn may_decide(staff: &StaffActor) -> bool {
    approver_scope(staff).is_ok()
}

/// A page of the refunds waiting for approval that `staff` may decide on, oldest first (after
/// `cursor`): a store manager's store's, every store's for head office; 403 for anyone else.
pub async fn awaiting_approval(
    state: &AppState,
    staff: &StaffActor,
    cursor: Option<&Cursor>,
    limit: i64,
) -> AppResult<Page<AwaitingRefund>> {
    let scope = approver_scope(staff)?;
    storage::refunds::awaiting_approval(&state.store, scope.as_deref(), cursor, limit).await
}

/// The refund `id`; 404 when there is none.
async fn found(state: &AppState, id: Uuid) -> AppResult<Refund> {
    storage::refunds::get(&state.store, id)
        .await?
        .ok_or_else(|| AppError::not_found(format!("refund {id} not found")))
}

/// The refund `id` with its order's number, once `staff` is known to decide on it: 403 for a
/// role that does not approve or another store's refund, 404 for an unknown refund.
async fn decidable(state: &AppState, staff: &StaffActor, id: Uuid) -> AppResult<(Refund, String)> {
    approver_scope(staff)?;
    let refund = found(state, id).await?;
    let head = storage::orders::head(state.store.reader(), refund.order_id).await?;
    staff.require_store(&head.location_id)?;
    Ok((refund, head.order_no))
}

/// What became of a refund that is no longer waiting for approval.
fn not_awaiting(refund: &Refund) -> AppError {
    let what = match (&refund.rejected_by, &refund.approved_by) {
        (Some(by), _) => format!("was rejected by {by}"),
        (None, Some(by)) => format!("was approved by {by}"),
        (None, None) => format!("is {} and needs no approval", refund.state.as_str()),
    };
    AppError::conflict(
        "not_awaiting_approval",
        format!("refund {} {what}", refund.id),
    )
}

/// Approves a refund waiting for approval (audited `refund.approve`) and sends it: a store
/// manager of the order's store, or a head-office administrator. Answers the refund as it
/// stands. Approving an approved refund again answers it as it stands and changes nothing; a
/// rejected refund (or one that never needed approval) is 409 `not_awaiting_approval`.
pub async fn approve(state: &AppState, staff: &StaffActor, id: Uuid) -> AppResult<Refund> {
    let (refund, order_no) = decidable(state, staff, id).await?;
    let mut tx = state.store.begin().await?;
    if storage::refunds::approve_in_tx(&mut tx, id, &staff.actor()).await? {
        storage::audit::record(
            &mut tx,
            &staff.actor(),
            "refund.approve",
            "order",
            &refund.order_id.to_string(),
            serde_json::json!({"refund_id": id, "amount": refund.amount.to_string(), "order_no": order_no}),
        )
        .await?;
        tx.commit().await?;
        send_soon(state, vec![id]);
    } else {
        drop(tx);
    }
    let now = found(state, id).await?;
    if now.rejected_by.is_some() || now.approved_by.is_none() {
        return Err(not_awaiting(&now));
    }
    Ok(now)
}

/// Rejects a refund waiting for approval: it is `closed` at once and never sent, its amount
/// refundable again, who and why kept on it and in the audit log (`refund.reject`). Who may:
/// as for [`approve`]. `reason` is required (422 on `reason` when blank, longer than
/// [`MAX_REJECT_REASON`] characters or holding control characters). Rejecting a rejected
/// refund again answers it as it stands (the first reason kept); an approved refund (or one that
/// never needed approval) is 409 `not_awaiting_approval`.
pub async fn reject(
    state: &AppState,
    staff: &StaffActor,
    id: Uuid,
    reason: &str,
) -> AppResult<Refund> {
    approver_scope(staff)?;
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(AppError::field("reason", "say why the refund is rejected"));
    }
    if reason.chars().count() > MAX_REJECT_REASON || reason.chars().any(char::is_control) {
        return Err(AppError::field(
            "reason",
            format!("at most {MAX_REJECT_REASON} characters, on one line"),
        ));
    }
    let (refund, order_no) = decidable(state, staff, id).await?;
    let mut tx = state.store.begin().await?;
    if let Some(rejected) =
        storage::refunds::reject_in_tx(&mut tx, id, &staff.actor(), reason).await?
    {
        storage::audit::record(
            &mut tx,
            &staff.actor(),
            "refund.reject",
            "order",
            &refund.order_id.to_string(),
            serde_json::json!({"refund_id": id, "amount": refund.amount.to_string(), "order_no": order_no, "reason": reason}),
        )
        .await?;
        tx.commit().await?;
        tracing::info!(refund = %id, by = %staff.username, "refund rejected");
        return Ok(rejected);
    }
    drop(tx);
    let now = found(state, id).await?;
    if now.rejected_by.is_none() {
        return Err(not_awaiting(&now));
    }
    Ok(now)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_to_ten_minutes() {
        assert_eq!(backoff_ms(0), 2_000);
        assert_eq!(backoff_ms(1), 4_000);
        assert_eq!(backoff_ms(8), 512_000);
        assert_eq!(backoff_ms(9), 600_000);
        assert_eq!(backoff_ms(500), 600_000);
        assert_eq!(backoff_ms(-3), 2_000);
    }

    #[test]
    fn only_provider_tenders_go_through_refund_rows() {
        assert!(is_provider_tender("wechat_pay"));
        assert!(is_provider_tender("alipay"));
        assert!(is_provider_tender("sandbox_qr"));
        assert!(!is_provider_tender("cash"));
        assert!(!is_provider_tender("stored_balance"));
    }
}
