//! A lane's provider payments (issues 3 and 14): the QR intent a lane shows the shopper, and the
//! payment code (付款码) the lane scans from the shopper's phone, which the server charges with
//! the provider that issued it.
//!
//! **Journal first.** A payment-code charge is written (`pending`, scene `code`) and committed
//! before the provider is asked, so a crash at any point leaves a row to settle: the lane asks
//! again with the same id (which charges nothing again: the provider is queried instead), and a
//! background settler ([`settle_stale`]) queries, then reverses, what is still open
//! [`STALE_CODE_PAYMENT`] after it was created. A provider that does not answer, or answers
//! something unusable, never settles anything: the payment stays open and is asked again. At
//! most one provider query per payment per [`CHECK_GAP_MS`] (`checked_at`), however often the
//! lane polls.
//!
//! A payment's `out_trade_no` at the provider is its id as 32 lowercase hex digits.

use std::time::Duration;

use retail_domain::money::Money;
use retail_domain::payment_code::{classify_payment_code, PaymentCodeProvider};
use retail_domain::wire::sales::{
    CreateCodePayment, CreateLanePayment, LanePaymentStatus, PaymentMethod,
};
use retail_payments::{CodePayOutcome, CodePayRequest, PaidTrade, ProviderError, TradeState};
use uuid::Uuid;

use crate::actor::DeviceActor;
use crate::app::payment_providers::Provider;
use crate::app::AppState;
use crate::error::{AppError, AppResult};
use crate::storage::lane_payments::{
    LanePaymentRecord, LanePaymentScene, NewLanePayment, Settlement,
};
use crate::storage::{self, now_ms};

/// Largest payment at a lane (¥1,000,000).
pub const MAX_LANE_PAYMENT_FEN: i64 = 100_000_000;
/// A payment code still open this long after it was created is queried and, unless paid,
/// reversed by [`settle_stale`].
pub const STALE_CODE_PAYMENT: Duration = Duration::from_secs(5 * 60);
/// At most one provider query per payment in this many milliseconds (the lane polls every 2 s).
pub const CHECK_GAP_MS: i64 = 1_000;
/// How long the background settler waits before asking about the same stale payment again.
const STALE_RECHECK_MS: i64 = 30_000;
/// Stale payments settled per sweep.
const STALE_BATCH: i64 = 50;

/// A payment's merchant order number at the provider: its id as 32 lowercase hex digits.
pub fn out_trade_no(id: Uuid) -> String {
    id.simple().to_string()
}

fn check_request(id: Uuid, sale_id: Uuid, amount: Money) -> AppResult<()> {
    retail_domain::ids::require_v7(id).map_err(|e| AppError::field("id", e.to_string()))?;
    retail_domain::ids::require_v7(sale_id)
        .map_err(|e| AppError::field("sale_id", e.to_string()))?;
    if amount.is_negative() || amount.is_zero() || amount > Money::from_fen(MAX_LANE_PAYMENT_FEN) {
        return Err(AppError::field(
            "amount",
            format!("must be 0.01 to {}", Money::from_fen(MAX_LANE_PAYMENT_FEN)),
        ));
    }
    Ok(())
}

/// Starts a QR payment through the sandbox (demo mode) for (part of) the sale a lane is ringing
/// up; a retry with the same id answers the same intent.
pub async fn create_qr_payment(
    state: &AppState,
    lane: &DeviceActor,
    req: &CreateLanePayment,
) -> AppResult<LanePaymentRecord> {
    crate::app::payments::require_provider(state, Provider::Sandbox)?;
    check_request(req.id, req.sale_id, req.amount)?;
    let (record, _) = storage::lane_payments::create(
        &state.store,
        &new_payment(
            lane,
            req.id,
            req.sale_id,
            req.amount,
            Provider::Sandbox,
            LanePaymentScene::Qr,
        ),
    )
    .await?;
    Ok(record)
}

/// The row a lane's payment starts as.
fn new_payment(
    lane: &DeviceActor,
    id: Uuid,
    sale_id: Uuid,
    amount: Money,
    provider: Provider,
    scene: LanePaymentScene,
) -> NewLanePayment<'_> {
    NewLanePayment {
        id,
        sale_id,
        location_id: &lane.location_id,
        device_id: lane.id,
        amount,
        method: provider.method(),
        scene,
    }
}

/// The provider that charges `auth_code`: the one that issued it when configured; otherwise the
/// sandbox in demo mode; otherwise 503 naming the provider. A text that is no payment code is
/// 422 naming `auth_code`.
pub fn provider_for_code(state: &AppState, auth_code: &str) -> AppResult<Provider> {
    let issuer = classify_payment_code(auth_code).ok_or_else(|| {
        AppError::field(
            "auth_code",
            "is no payment code: WeChat Pay's are 18 digits beginning 10–15, Alipay's 16 to 24 \
             digits beginning 25–30",
        )
    })?;
    let provider = match issuer {
        PaymentCodeProvider::WechatPay => Provider::WechatPay,
        PaymentCodeProvider::Alipay => Provider::Alipay,
    };
    if state.payments.has(provider) {
        Ok(provider)
    } else if state.payments.sandbox() {
        Ok(Provider::Sandbox)
    } else {
        Err(AppError::Unavailable(format!(
            "the payment provider {} is not configured on this server",
            provider.as_str()
        )))
    }
}

/// Charges the payment code a lane scanned (see the module documentation): validated, written
/// and committed, then charged; the answer is where the payment stands (`succeeded`,
/// `user_paying`, `failed`, or `pending` when the provider's answer is not known yet). A retry
/// with the same id charges nothing again: it answers the payment, asking the provider when it
/// is still open.
pub async fn create_code_payment(
    state: &AppState,
    lane: &DeviceActor,
    client_ip: std::net::IpAddr,
    req: &CreateCodePayment,
) -> AppResult<LanePaymentRecord> {
    check_request(req.id, req.sale_id, req.amount)?;
    let auth_code = req.auth_code.trim();
    let provider = provider_for_code(state, auth_code)?;
    let (record, created) = storage::lane_payments::create(
        &state.store,
        &new_payment(
            lane,
            req.id,
            req.sale_id,
            req.amount,
            provider,
            LanePaymentScene::Code,
        ),
    )
    .await?;
    if !created {
        return refresh(state, record).await;
    }
    let request = CodePayRequest {
        out_trade_no: out_trade_no(record.id),
        description: format!("门店消费 {}", record.location_id),
        amount_fen: record.amount.fen(),
        auth_code: auth_code.to_owned(),
        store_id: record.location_id.clone(),
        device_id: lane.id.simple().to_string(),
        client_ip: client_ip.to_string(),
    };
    let outcome = state.payments.code_pay(provider, &request).await;
    let settlement = match outcome {
        Ok(CodePayOutcome::Paid(trade)) => return take_paid(state, record, provider, &trade).await,
        Ok(CodePayOutcome::UserPaying) => Settlement::UserPaying,
        Ok(CodePayOutcome::Failed { code, message }) => {
            let failure = format!("{message} ({code})");
            return storage::lane_payments::settle(
                &state.store,
                record.id,
                Settlement::Failed { failure: &failure },
            )
            .await;
        }
        // A final refusal before anything was charged (a request the provider would not take).
        Err(e @ (ProviderError::Rejected { .. } | ProviderError::Config { .. })) => {
            tracing::warn!(payment = %record.id, provider = provider.as_str(), error = %e,
                "payment code refused");
            let failure = e.to_string();
            return storage::lane_payments::settle(
                &state.store,
                record.id,
                Settlement::Failed { failure: &failure },
            )
            .await;
        }
        Err(e) => {
            tracing::warn!(payment = %record.id, provider = provider.as_str(), error = %e,
                "payment code charge not answered: the payment stays pending and is asked again");
            return Ok(record);
        }
    };
    storage::lane_payments::settle(&state.store, record.id, settlement).await
}

/// The provider of a lane payment, by its tender.
fn provider_of(record: &LanePaymentRecord) -> AppResult<Provider> {
    Provider::of_method(record.method).ok_or_else(|| {
        AppError::Internal(anyhow::anyhow!(
            "lane payment {} has the tender {}, no provider's",
            record.id,
            record.method.as_str()
        ))
    })
}

/// A trade the provider calls paid: taken when its amount and currency are ours; otherwise
/// nothing is applied (the payment stays open), the mismatch is logged as an error and head
/// office gets an `amount_mismatch` alert (once per transaction).
async fn take_paid(
    state: &AppState,
    record: LanePaymentRecord,
    provider: Provider,
    trade: &PaidTrade,
) -> AppResult<LanePaymentRecord> {
    if trade.amount_fen != record.amount.fen() || trade.currency != "CNY" {
        tracing::error!(
            payment = %record.id,
            provider = provider.as_str(),
            transaction_id = %trade.transaction_id,
            ours_fen = record.amount.fen(),
            theirs_fen = trade.amount_fen,
            currency = %trade.currency,
            "the provider reports a lane payment paid with another amount or currency: nothing applied"
        );
        storage::refunds::raise_alert(
            &state.store,
            &storage::refunds::NewAlert {
                id: format!("{}:mismatch:{}", provider.as_str(), trade.transaction_id),
                kind: storage::refunds::AlertKind::AmountMismatch,
                provider: provider.as_str(),
                payment_id: Some(record.id.to_string()),
                order_id: None,
                detail: format!(
                    "{} reports lane payment {} (store {}) paid {} {} as transaction {}; ours is {} CNY: nothing applied",
                    provider.label(),
                    record.id,
                    record.location_id,
                    retail_domain::money::Money::from_fen(trade.amount_fen),
                    trade.currency.chars().take(8).collect::<String>(),
                    trade.transaction_id.chars().take(64).collect::<String>(),
                    record.amount
                ),
            },
        )
        .await?;
        return Ok(record);
    }
    storage::lane_payments::settle(
        &state.store,
        record.id,
        Settlement::Succeeded {
            provider_ref: &trade.transaction_id,
        },
    )
    .await
}

/// Applies a trade state the provider reported. Paid → taken (amount checked); closed or
/// refunded → reversed; failed → failed; the payer confirming → `user_paying`; not paid →
/// unchanged.
async fn apply_trade_state(
    state: &AppState,
    record: LanePaymentRecord,
    provider: Provider,
    trade: TradeState,
) -> AppResult<LanePaymentRecord> {
    let settlement = match trade {
        TradeState::Paid(paid) => return take_paid(state, record, provider, &paid).await,
        TradeState::UserPaying if record.status == LanePaymentStatus::Pending => {
            Settlement::UserPaying
        }
        TradeState::UserPaying | TradeState::NotPaid => return Ok(record),
        TradeState::Closed | TradeState::Refunded => Settlement::Reversed,
        TradeState::Failed(reason) => {
            return storage::lane_payments::settle(
                &state.store,
                record.id,
                Settlement::Failed { failure: &reason },
            )
            .await
        }
    };
    storage::lane_payments::settle(&state.store, record.id, settlement).await
}

/// Where a lane payment stands, for the lane that polls it: an open provider payment is asked
/// about at the provider first (at most once per [`CHECK_GAP_MS`]); the sandbox's QR intents
/// are settled by its notification only.
pub async fn refresh(state: &AppState, record: LanePaymentRecord) -> AppResult<LanePaymentRecord> {
    if !record.is_open()
        || (record.scene == LanePaymentScene::Qr && record.method == PaymentMethod::SandboxQr)
    {
        return Ok(record);
    }
    let provider = provider_of(&record)?;
    if !storage::lane_payments::claim_check(&state.store, record.id, now_ms(), CHECK_GAP_MS).await?
    {
        return Ok(record);
    }
    match state
        .payments
        .query(provider, &out_trade_no(record.id))
        .await
    {
        Ok(trade) => apply_trade_state(state, record, provider, trade).await,
        Err(e) => {
            tracing::debug!(payment = %record.id, provider = provider.as_str(), error = %e,
                "lane payment query not answered; asked again later");
            Ok(record)
        }
    }
}

/// True for a provider's answer that there is no such trade (nothing was charged).
fn no_such_trade(err: &ProviderError) -> bool {
    matches!(err, ProviderError::Rejected { code, .. }
        if code == "ORDER_NOT_EXIST" || code == "ACQ.TRADE_NOT_EXIST")
}

/// Reverses (撤销) an open payment-code payment at its provider → `reversed`. A provider that
/// does not answer → 503 and the payment stays open (ask again); a refusal → 409
/// `reversal_refused`, the payment stays open (logged as an error).
async fn reverse(
    state: &AppState,
    record: LanePaymentRecord,
    provider: Provider,
) -> AppResult<LanePaymentRecord> {
    match state
        .payments
        .reverse(provider, &out_trade_no(record.id))
        .await
    {
        Ok(()) => {
            storage::lane_payments::settle(&state.store, record.id, Settlement::Reversed).await
        }
        Err(e) if no_such_trade(&e) => {
            storage::lane_payments::settle(&state.store, record.id, Settlement::Reversed).await
        }
        Err(e @ ProviderError::Rejected { .. }) => {
            tracing::error!(payment = %record.id, provider = provider.as_str(), error = %e,
                "the provider refused to reverse a payment-code payment: it stays open");
            storage::refunds::raise_alert(
                &state.store,
                &storage::refunds::NewAlert {
                    id: format!("{}:reversal:{}", provider.as_str(), record.id),
                    kind: storage::refunds::AlertKind::ReversalFailed,
                    provider: provider.as_str(),
                    payment_id: Some(record.id.to_string()),
                    order_id: None,
                    detail: format!(
                        "{} refused to reverse lane payment {} of {} (store {}): {e}",
                        provider.label(),
                        record.id,
                        record.amount,
                        record.location_id
                    ),
                },
            )
            .await?;
            Err(AppError::conflict(
                "reversal_refused",
                format!("{} refused the reversal: {e}", provider.label()),
            ))
        }
        Err(e) => Err(AppError::Unavailable(format!(
            "{} did not answer the reversal ({e}): the payment stays open, try again",
            provider.label()
        ))),
    }
}

/// Cancels a lane payment for the lane. A QR intent: cancelled (idempotent). A payment code
/// still open: asked about once more (paid meanwhile → taken, and 409 `already_paid` tells the
/// lane to take it), else reversed at the provider (see [`reverse`]). A paid one → 409
/// `already_paid`; a failed or reversed one is answered as it is.
pub async fn cancel(state: &AppState, record: LanePaymentRecord) -> AppResult<LanePaymentRecord> {
    if record.scene == LanePaymentScene::Qr {
        return storage::lane_payments::cancel(&state.store, record.id, &record.location_id).await;
    }
    let already_paid = || {
        AppError::conflict(
            "already_paid",
            "the shopper has paid this payment already: take it",
        )
    };
    if record.status == LanePaymentStatus::Succeeded {
        return Err(already_paid());
    }
    if !record.is_open() {
        return Ok(record);
    }
    let provider = provider_of(&record)?;
    let record = match state
        .payments
        .query(provider, &out_trade_no(record.id))
        .await
    {
        Ok(trade @ TradeState::Paid(_)) => {
            apply_trade_state(state, record, provider, trade).await?
        }
        _ => record,
    };
    match record.status {
        LanePaymentStatus::Succeeded => Err(already_paid()),
        _ if record.is_open() => reverse(state, record, provider).await,
        _ => Ok(record),
    }
}

/// The safety net: payment-code payments still open [`STALE_CODE_PAYMENT`] after they were
/// created (the lane went away, or never asked again) are queried and, unless paid, reversed.
/// Answers how many were settled.
pub async fn settle_stale(state: &AppState) -> AppResult<usize> {
    let now = now_ms();
    let cutoff = now.saturating_sub(i64::try_from(STALE_CODE_PAYMENT.as_millis()).unwrap_or(0));
    let stale = storage::lane_payments::stale_open_codes(&state.store, cutoff, STALE_BATCH).await?;
    let mut settled = 0;
    for record in stale {
        if !storage::lane_payments::claim_check(&state.store, record.id, now, STALE_RECHECK_MS)
            .await?
        {
            continue;
        }
        let provider = provider_of(&record)?;
        let id = record.id;
        let after = match state.payments.query(provider, &out_trade_no(id)).await {
            Ok(TradeState::NotPaid | TradeState::UserPaying) => {
                reverse(state, record, provider).await
            }
            Ok(trade) => apply_trade_state(state, record, provider, trade).await,
            Err(e) if no_such_trade(&e) => reverse(state, record, provider).await,
            Err(e) => {
                tracing::warn!(payment = %id, provider = provider.as_str(), error = %e,
                    "a stale payment-code payment could not be queried; asked again later");
                continue;
            }
        };
        match after {
            Ok(r) if !r.is_open() => {
                tracing::info!(payment = %id, status = r.status.as_str(),
                    "stale payment-code payment settled");
                settled += 1;
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(payment = %id, error = %e,
                "a stale payment-code payment could not be settled; asked again later"),
        }
    }
    Ok(settled)
}
