//! The stored balance as an online tender: the member's payment PIN (支付密码) that confirms
//! spending it, and paying an online or scan-and-go order with it — the whole order, or a part
//! with WeChat Pay or Alipay paying the rest ([`pay_order`]).
//!
//! A split payment takes the balance first (the order stays pending and its other pending
//! provider payments, now for the wrong amount, are closed); the provider payment started after
//! it is for what is left, and the order is paid when it arrives. An order cancelled before that
//! gives the balance back ([`super::orders::refund_all_in_tx`]).

use retail_domain::money::Money;
use retail_domain::order::OrderStatus;
use uuid::Uuid;

use super::member_login::CodeSent;
use super::AppState;
use crate::actor::ClientAddr;
use crate::error::{AppError, AppResult};
use crate::storage;
use crate::storage::payments::PaymentView;
use crate::storage::web::CodeCheck;

/// Wrong PINs in a row before the PIN is locked.
pub const PIN_TRIES: i64 = 5;

/// How long a PIN stays locked after [`PIN_TRIES`] wrong ones (30 minutes).
pub const PIN_LOCK_SECS: i64 = 30 * 60;

/// Checks a new PIN's form: six digits, not all the same, not a run (123456, 654321).
pub fn check_new_pin(pin: &str) -> AppResult<()> {
    if pin.len() != 6 || !pin.bytes().all(|b| b.is_ascii_digit()) {
        return Err(AppError::field("pin", "the payment PIN is 6 digits"));
    }
    if crate::secrets::guessable_pin(pin) {
        return Err(AppError::field(
            "pin",
            "choose a PIN that is not all one digit or a run like 123456",
        ));
    }
    Ok(())
}

/// True when the member has set a payment PIN.
pub async fn has_pin(state: &AppState, member_id: Uuid) -> AppResult<bool> {
    Ok(storage::stored_value::pay_pin(&state.store, member_id)
        .await?
        .hash
        .is_some())
}

/// Sets or changes the member's payment PIN. Changing one needs the current PIN (counted
/// against its tries like a payment).
pub async fn set_pin(
    state: &AppState,
    member_id: Uuid,
    current: Option<&str>,
    new_pin: &str,
) -> AppResult<()> {
    check_new_pin(new_pin)?;
    if has_pin(state, member_id).await? {
        let current =
            current.ok_or_else(|| AppError::field("current_pin", "enter your current PIN"))?;
        confirm(state, member_id, current, "current_pin").await?;
    }
    store_pin(state, member_id, new_pin).await
}

/// The member's own phone number, normalised: 422 on `phone` for a number that is not theirs.
async fn own_phone(state: &AppState, member_id: Uuid, phone: &str) -> AppResult<String> {
    let phone =
        storage::members::normalize_phone(phone).map_err(|m| AppError::field("phone", m))?;
    let owner =
        storage::members::by_phone(&state.store, &state.keys, &state.settings.points, &phone)
            .await?;
    if owner.map(|m| m.id) != Some(member_id) {
        return Err(AppError::field(
            "phone",
            "this is not your member phone number",
        ));
    }
    Ok(phone)
}

/// A forgotten PIN, step one: sends a one-time code by SMS to the member's own phone (the
/// number typed must be theirs), under the log-in codes' limits.
pub async fn send_reset_code(
    state: &AppState,
    from: ClientAddr,
    member_id: Uuid,
    phone: &str,
) -> AppResult<CodeSent> {
    let phone = own_phone(state, member_id, phone).await?;
    super::member_login::send_code(state, from, &phone).await
}

/// A forgotten PIN, step two: the code sent to the member's phone proves it is them, and the
/// new PIN replaces the old one (wrong tries and a lock cleared). 422 on `code` for a wrong or
/// expired code.
pub async fn reset_pin(
    state: &AppState,
    from: ClientAddr,
    member_id: Uuid,
    phone: &str,
    code: &str,
    new_pin: &str,
) -> AppResult<()> {
    check_new_pin(new_pin)?;
    let phone = own_phone(state, member_id, phone).await?;
    match super::member_login::check_code(state, from, &phone, code).await? {
        CodeCheck::Accepted => store_pin(state, member_id, new_pin).await,
        CodeCheck::Wrong | CodeCheck::Expired => {
            Err(AppError::field("code", "wrong or expired code"))
        }
    }
}

async fn store_pin(state: &AppState, member_id: Uuid, pin: &str) -> AppResult<()> {
    let secret = pin.to_owned();
    let hash = tokio::task::spawn_blocking(move || crate::secrets::hash_password(&secret))
        .await
        .map_err(|e| AppError::Internal(e.into()))?
        .map_err(AppError::Internal)?;
    storage::stored_value::set_pay_pin(
        &state.store,
        member_id,
        &hash,
        &format!("member:{member_id}"),
    )
    .await
}

/// Confirms a payment with the member's PIN: 409 `pay_pin_not_set` without one, 409
/// `pay_pin_locked` after [`PIN_TRIES`] wrong ones in a row (for [`PIN_LOCK_SECS`]), 422 on
/// `field` for a wrong one (saying how many tries are left).
pub async fn confirm(state: &AppState, member_id: Uuid, pin: &str, field: &str) -> AppResult<()> {
    let stored = storage::stored_value::pay_pin(&state.store, member_id).await?;
    let Some(hash) = stored.hash else {
        return Err(AppError::conflict(
            "pay_pin_not_set",
            "set a payment PIN in the member centre first",
        ));
    };
    let now = storage::now_ms();
    if stored.locked_until.is_some_and(|until| until > now) {
        return Err(AppError::conflict(
            "pay_pin_locked",
            "too many wrong PINs: the balance cannot be used for 30 minutes",
        ));
    }
    let given = pin.to_owned();
    let right = tokio::task::spawn_blocking(move || {
        given.len() == 6 && crate::secrets::verify_password(&given, &hash)
    })
    .await
    .map_err(|e| AppError::Internal(e.into()))?;
    if right {
        storage::stored_value::pay_pin_passed(&state.store, member_id).await?;
        return Ok(());
    }
    let failures = storage::stored_value::pay_pin_failed(
        &state.store,
        member_id,
        PIN_TRIES,
        now + PIN_LOCK_SECS * 1000,
    )
    .await?;
    tracing::info!(member = %member_id, failures, "a wrong payment PIN");
    if failures >= PIN_TRIES {
        return Err(AppError::conflict(
            "pay_pin_locked",
            "too many wrong PINs: the balance cannot be used for 30 minutes",
        ));
    }
    Err(AppError::field(
        field,
        format!("wrong PIN; {} tries left", PIN_TRIES - failures),
    ))
}

/// What paying with the balance did.
#[derive(Clone, Debug)]
pub struct BalancePaid {
    /// The balance payment.
    pub payment: PaymentView,
    /// What is left to pay through a provider (zero: the order is paid).
    pub left: Money,
}

/// Pays `amount` of a member's pending order from their stored balance, confirmed with their
/// payment PIN, idempotent by the payment's client id `payment_id` (a retry answers the first
/// result without asking for the PIN's tries again). `amount` may be the whole of what is left
/// (the order is paid) or a part (the rest through a provider). 404 for another member's order,
/// 409 `not_payable` for one not pending, 422 `amount` above what is left, 409
/// `insufficient_balance`.
pub async fn pay_order(
    state: &AppState,
    member_id: Uuid,
    order_id: Uuid,
    payment_id: Uuid,
    amount: Money,
    pin: &str,
) -> AppResult<BalancePaid> {
    retail_domain::ids::require_v7(payment_id).map_err(|e| AppError::field("id", e.to_string()))?;
    if amount.fen() <= 0 {
        return Err(AppError::field("amount", "must be positive"));
    }
    let store = &state.store;
    let head = storage::orders::head(store.reader(), order_id).await?;
    if head.member_id != Some(member_id) {
        return Err(AppError::not_found(format!("order {order_id} not found")));
    }
    if let Some(done) = storage::payments::find(store, payment_id).await? {
        return answer_retry(store, &done, order_id, amount).await;
    }
    confirm(state, member_id, pin, "pin").await?;

    let mut tx = store.begin().await?;
    let head = storage::orders::lock_head(&mut tx, store, order_id).await?;
    if let Some(done) = storage::payments::find_in_tx(&mut tx, payment_id).await? {
        tx.rollback().await?;
        return answer_retry(store, &done, order_id, amount).await;
    }
    if head.status != OrderStatus::PendingPayment {
        return Err(AppError::conflict(
            "not_payable",
            format!("order {} is {}", head.order_no, head.status.as_str()),
        ));
    }
    let left = head.total_fen - storage::payments::paid_so_far_in_tx(&mut tx, order_id).await?;
    if amount.fen() > left {
        return Err(AppError::field(
            "amount",
            format!("only {} is left to pay", Money::from_fen(left)),
        ));
    }
    storage::payments::insert_internal_in_tx(
        &mut tx,
        payment_id,
        order_id,
        "stored_balance",
        amount.fen(),
    )
    .await?;
    storage::members::pay_balance_in_tx(
        &mut tx,
        store.dialect(),
        member_id,
        amount,
        &payment_id.to_string(),
        Some(order_id),
        &format!("member:{member_id}"),
    )
    .await?;
    let paid_now = amount.fen() == left;
    let head = if paid_now {
        Some(
            super::payments::apply_paid_in_tx(
                &state.settings,
                &mut tx,
                &head,
                payment_id,
                "",
                &format!("member:{member_id}"),
            )
            .await?,
        )
    } else {
        storage::payments::mark_succeeded(&mut tx, payment_id, "").await?;
        None
    };
    tx.commit().await?;
    tracing::info!(order = %order_id, %amount, paid = paid_now, "paid with the stored balance");
    match &head {
        Some(head) => super::payments::after_paid(state, head, payment_id).await,
        None => {
            // The order's provider payments started before were for the whole amount.
            for other in storage::payments::of_order(store, order_id)
                .await?
                .into_iter()
                .filter(|p| p.status == "pending")
            {
                super::payments::close_pending(state, &other).await;
            }
        }
    }
    Ok(BalancePaid {
        payment: storage::payments::get(store, payment_id).await?,
        left: Money::from_fen(left - amount.fen()),
    })
}

/// The answer to a retry of a balance payment: the first result, when it was this order's
/// balance payment of the same amount; 409 `id_in_use` otherwise.
async fn answer_retry(
    store: &storage::Store,
    done: &PaymentView,
    order_id: Uuid,
    amount: Money,
) -> AppResult<BalancePaid> {
    if done.order_id != order_id || done.method != "stored_balance" || done.amount != amount {
        return Err(AppError::conflict(
            "id_in_use",
            "this payment id was used for another payment",
        ));
    }
    let head = storage::orders::head(store.reader(), order_id).await?;
    let paid: i64 = storage::payments::of_order(store, order_id)
        .await?
        .iter()
        .filter(|p| p.status == "succeeded")
        .map(|p| p.amount.fen())
        .sum();
    Ok(BalancePaid {
        payment: done.clone(),
        left: Money::from_fen((head.total_fen - paid).max(0)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weak_pins_are_refused() {
        for pin in [
            "111111", "123456", "654321", "12345", "1234567", "12a456", "",
        ] {
            assert!(check_new_pin(pin).is_err(), "{pin} should be refused");
        }
        for pin in ["258036", "112233", "901234"] {
            assert!(check_new_pin(pin).is_ok(), "{pin} should be accepted");
        }
    }
}
