//! Recharges (充值) of a member's stored balance through WeChat Pay or Alipay (the sandbox in
//! demo mode): the packages head office offers (pay ¥100, get ¥110), starting a recharge in the
//! shop, applying the provider's verified notification — the principal and the bonus credited
//! apart in the balance ledger, once — and the settler that asks the providers about recharges
//! left pending.
//!
//! A recharge has no order: its id is the provider's `out_trade_no`, and a notification whose
//! trade is neither an order's payment nor a lane's is looked for here
//! ([`super::payments::take_paid`]). Money that arrives for a recharge closed meanwhile is still
//! credited (the member wanted it, and nothing is lost); an amount that differs changes nothing
//! and raises an alert.

use retail_domain::money::Money;
use retail_payments::{PaidTrade, Prepay, PrepayRequest, TradeState};
use uuid::Uuid;

use super::payment_providers::Provider;
use super::AppState;
use crate::actor::{ClientAddr, Role, StaffActor};
use crate::error::{AppError, AppResult};
use crate::storage;
use crate::storage::payments::Payable;
use crate::storage::refunds::{AlertKind, NewAlert};
use crate::storage::stored_value::{NewPackage, Recharge, RechargePackage};

/// Largest recharge package (¥50,000): stored value is regulated prepaid money.
pub const MAX_PACKAGE_FEN: i64 = 5_000_000;

/// How long a recharge may wait to be paid before it is closed at its provider (2 hours).
const RECHARGE_OPEN_SECS: i64 = 2 * 3600;

/// The packages the shop offers now.
pub async fn offered(state: &AppState) -> AppResult<Vec<RechargePackage>> {
    storage::stored_value::packages(&state.store, false).await
}

/// Every package, retired ones too (head office).
pub async fn all_packages(state: &AppState, staff: &StaffActor) -> AppResult<Vec<RechargePackage>> {
    staff.require(&[Role::HeadOfficeAdmin])?;
    storage::stored_value::packages(&state.store, true).await
}

/// What head office asks for a new package.
#[derive(Clone, Debug)]
pub struct PackageAsk {
    /// The client's id (a retry answers the same package).
    pub id: Uuid,
    /// Name shown in the shop.
    pub name: String,
    /// Paid.
    pub pay: Money,
    /// Added on top.
    pub bonus: Money,
    /// Place in the list.
    pub sort: i64,
}

/// Creates a recharge package (head office only): a name of 1–40 characters, a price from ¥1
/// to ¥50,000 in whole fen, a bonus from zero to the price.
pub async fn create_package(
    state: &AppState,
    staff: &StaffActor,
    ask: &PackageAsk,
) -> AppResult<RechargePackage> {
    staff.require(&[Role::HeadOfficeAdmin])?;
    retail_domain::ids::require_v7(ask.id).map_err(|e| AppError::field("id", e.to_string()))?;
    let name = ask.name.trim();
    if name.is_empty() || name.chars().count() > 40 || name.chars().any(char::is_control) {
        return Err(AppError::field(
            "name",
            "must be 1 to 40 printable characters",
        ));
    }
    if ask.pay.fen() < 100 || ask.pay.fen() > MAX_PACKAGE_FEN {
        return Err(AppError::field("pay", "must be from 1.00 to 50000.00"));
    }
    if ask.bonus.is_negative() || ask.bonus.fen() > ask.pay.fen() {
        return Err(AppError::field("bonus", "must be from 0 to the price paid"));
    }
    if !(0..=10_000).contains(&ask.sort) {
        return Err(AppError::field("sort", "must be from 0 to 10000"));
    }
    storage::stored_value::create_package(
        &state.store,
        &NewPackage {
            id: ask.id,
            name,
            pay: ask.pay,
            bonus: ask.bonus,
            sort: ask.sort,
        },
        &staff.actor(),
    )
    .await
}

/// Offers or retires a package (head office only).
pub async fn set_package_active(
    state: &AppState,
    staff: &StaffActor,
    id: Uuid,
    active: bool,
) -> AppResult<RechargePackage> {
    staff.require(&[Role::HeadOfficeAdmin])?;
    storage::stored_value::set_package_active(&state.store, id, active, &staff.actor()).await
}

/// Records a pending recharge of an offered package for a member through `provider` without
/// asking the provider yet (inside WeChat's browser the shopper's openid comes first); a retry
/// with the same id answers the same recharge. 422 for a package not offered, 409 `not_payable`
/// for a recharge no longer pending. Answers the recharge and its package.
pub async fn reserve(
    state: &AppState,
    member_id: Uuid,
    recharge_id: Uuid,
    package_id: Uuid,
    provider: Provider,
    scene: &super::payment_providers::PayScene,
) -> AppResult<(Recharge, RechargePackage)> {
    let package = storage::stored_value::package_by_id(&state.store, package_id)
        .await?
        .filter(|p| p.active)
        .ok_or_else(|| AppError::field("package", "no such recharge package is offered"))?;
    let recharge = storage::stored_value::create_recharge(
        &state.store,
        recharge_id,
        member_id,
        &package,
        provider.method().as_str(),
        scene.stored(),
    )
    .await?;
    if recharge.status != "pending" {
        return Err(AppError::conflict(
            "not_payable",
            format!("recharge {} is {}", recharge.id, recharge.status),
        ));
    }
    Ok((recharge, package))
}

/// A recharge started: the recharge and what the member pays it with.
#[derive(Clone, Debug)]
pub struct StartedRecharge {
    /// The recharge.
    pub recharge: Recharge,
    /// The provider's prepay (a QR code's text, a page).
    pub prepay: Prepay,
}

/// Starts a recharge of an offered package for a member through `provider`, recorded before the
/// provider is asked; a retry with the same id answers the prepay kept from the first time.
/// Limited like payment intents (per address and per member). 422 for a package not offered;
/// 503 when the provider does not answer (the recharge stays pending and is asked about later).
pub async fn start(
    state: &AppState,
    client: &ClientAddr,
    member_id: Uuid,
    recharge_id: Uuid,
    package_id: Uuid,
    provider: Provider,
    scene: &super::payment_providers::PayScene,
) -> AppResult<StartedRecharge> {
    super::payment_providers::require_provider(state, provider)?;
    let limits = &state.settings.orders;
    state
        .limiter
        .check(
            &format!("intent:{}", client.limit_key()),
            limits.payment_intents_per_minute_per_address,
        )
        .await?;
    state
        .limiter
        .check(
            &format!("intent:member:{member_id}"),
            limits.payment_intents_per_minute_per_member,
        )
        .await?;
    let (recharge, package) =
        reserve(state, member_id, recharge_id, package_id, provider, scene).await?;
    if let Some(kept) =
        storage::payments::prepay(&state.store, Payable::Recharge, recharge.id).await?
    {
        if let Ok(prepay) = serde_json::from_str::<Prepay>(&kept) {
            return Ok(StartedRecharge { recharge, prepay });
        }
    }
    let request = PrepayRequest {
        out_trade_no: recharge.id.simple().to_string(),
        description: format!("会员充值 {}", package.name),
        amount_fen: recharge.pay.fen(),
        notify_url: super::refunds::notify_url(state, provider),
        expires_at: recharge.created_at + chrono::Duration::seconds(RECHARGE_OPEN_SECS),
        scene: scene.prepay_scene(client),
    };
    let prepay = state
        .payments
        .prepay(provider, &request, &format!("/sandbox/pay/{}", recharge.id))
        .await
        .map_err(|e| super::payment_providers::provider_error(provider, e))?;
    if !matches!(prepay, Prepay::InApp { .. }) {
        if let Ok(text) = serde_json::to_string(&prepay) {
            storage::payments::set_prepay(&state.store, Payable::Recharge, recharge.id, &text)
                .await?;
        }
    }
    Ok(StartedRecharge { recharge, prepay })
}

/// What became of a verified notification for a recharge.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RechargeTaken {
    /// Credited now.
    Credited,
    /// Taken before: nothing changed.
    Duplicate,
    /// Nothing credited; an alert raised (amount, currency or provider differs).
    Alerted,
}

/// Applies a verified notification (or a query's answer, `notify_id` `query:<id>`) that a
/// recharge's trade was paid: the recharge paid and the member's balance credited — principal
/// and bonus apart — in one transaction, once per notification and once per recharge.
pub async fn take_paid(
    state: &AppState,
    provider: Provider,
    notify_id: &str,
    recharge: &Recharge,
    trade: &PaidTrade,
) -> AppResult<RechargeTaken> {
    let key = format!("{}:{notify_id}", provider.as_str());
    if recharge.method != provider.method().as_str()
        || trade.currency != "CNY"
        || trade.amount_fen != recharge.pay.fen()
    {
        tracing::error!(provider = provider.as_str(), recharge = %recharge.id, "a recharge notification does not match its recharge");
        storage::refunds::raise_alert(
            &state.store,
            &NewAlert {
                id: key,
                kind: AlertKind::AmountMismatch,
                provider: provider.as_str(),
                payment_id: Some(recharge.id.to_string()),
                order_id: None,
                detail: format!(
                    "{} says {} {} was paid for recharge {}, a {} recharge of {} CNY: nothing credited",
                    provider.label(),
                    Money::from_fen(trade.amount_fen),
                    trade.currency.chars().take(8).collect::<String>(),
                    recharge.id,
                    recharge.method,
                    recharge.pay
                ),
            },
        )
        .await?;
        return Ok(RechargeTaken::Alerted);
    }
    let store = &state.store;
    let mut tx = store.begin().await?;
    let Some(locked) = storage::stored_value::lock_recharge(&mut tx, store, recharge.id).await?
    else {
        return Err(AppError::not_found("unknown recharge"));
    };
    match storage::stored_value::record_recharge_notification(&mut tx, &key, locked.id).await {
        Ok(()) => {}
        Err(e) if e.code() == "replayed_notification" => return Ok(RechargeTaken::Duplicate),
        Err(e) => return Err(e),
    }
    if locked.status == "paid" {
        tx.commit().await?;
        return Ok(RechargeTaken::Duplicate);
    }
    storage::stored_value::mark_recharge_paid(&mut tx, locked.id, &trade.transaction_id).await?;
    storage::members::credit_recharge_in_tx(
        &mut tx,
        locked.member_id,
        locked.pay,
        locked.bonus,
        locked.id,
        &locked.method,
        "payment-provider",
    )
    .await?;
    tx.commit().await?;
    tracing::info!(recharge = %locked.id, provider = provider.as_str(), "recharge credited");
    Ok(RechargeTaken::Credited)
}

/// The settler's part for recharges: asks the providers about recharges pending a while, so a
/// notification that never came credits the balance all the same; unpaid ones past their time
/// are closed at the provider. Answers how many it asked about.
pub async fn settle_pending(state: &AppState) -> AppResult<usize> {
    let after_ms = i64::try_from(state.settings.payments.settle_after_secs)
        .unwrap_or(86_400)
        .saturating_mul(1_000);
    let pending =
        storage::stored_value::pending_recharges(&state.store, storage::now_ms() - after_ms, 20)
            .await?;
    for recharge in &pending {
        if let Err(e) = settle_one(state, recharge).await {
            tracing::warn!(recharge = %recharge.id, error = %e, "settling a pending recharge failed; tried again later");
        }
    }
    Ok(pending.len())
}

async fn settle_one(state: &AppState, recharge: &Recharge) -> AppResult<()> {
    let Some(provider) = Provider::of_method_name(&recharge.method) else {
        return Ok(());
    };
    storage::payments::mark_checked(&state.store, Payable::Recharge, recharge.id).await?;
    if !state.payments.has(provider) {
        return Ok(());
    }
    let trade_no = recharge.id.simple().to_string();
    match state.payments.query(provider, &trade_no).await {
        Ok(TradeState::Paid(trade)) => {
            let taken = take_paid(
                state,
                provider,
                &format!("query:{}", recharge.id),
                recharge,
                &trade,
            )
            .await?;
            tracing::info!(recharge = %recharge.id, ?taken, "a pending recharge was found paid");
        }
        Ok(TradeState::Closed | TradeState::Failed(_)) => {
            storage::stored_value::mark_recharge_closed(&state.store, recharge.id).await?;
        }
        Ok(TradeState::NotPaid | TradeState::UserPaying | TradeState::Refunded) => {
            let open_until = recharge.created_at + chrono::Duration::seconds(RECHARGE_OPEN_SECS);
            if chrono::Utc::now() > open_until {
                match state.payments.close(provider, &trade_no).await {
                    Ok(()) => {
                        storage::stored_value::mark_recharge_closed(&state.store, recharge.id)
                            .await?
                    }
                    Err(e) => {
                        tracing::info!(recharge = %recharge.id, error = %e, "closing a recharge at its provider failed; asked again later")
                    }
                }
            }
        }
        Err(e) => {
            tracing::info!(recharge = %recharge.id, error = %e, "asking about a pending recharge failed; asked again later");
        }
    }
    Ok(())
}
