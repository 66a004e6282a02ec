//! The shop's member log-in (and sign-up) by phone with a one-time code sent by SMS
//! ([`crate::app::sms`]).
//!
//! A code is six digits, stored only as a keyed hash, lives five minutes, is used up by the
//! right answer (single use) or by five wrong ones, and a new one replaces it. Sending is
//! limited per phone (one per `sms.resend_after_secs`, `sms.codes_per_phone_per_day`) and per
//! client address (per hour and per day); checking is limited per phone and per address. Only
//! the demo sandbox lets the page show the code. An unknown phone that proves it receives the
//! code signs up; the sign-up coupons go to at most `sms.signup_gifts_per_address_per_day`
//! sign-ups per client address per day.

use std::time::Duration;

use rand::Rng;
use uuid::Uuid;

use super::limits::Limit;
use super::sms::SmsError;
use super::AppState;
use crate::actor::ClientAddr;
use crate::error::{AppError, AppResult};
use crate::storage;
use crate::storage::members::Registration;
use crate::storage::web::CodeCheck;

/// Log-in codes live five minutes.
pub const CODE_TTL_MS: i64 = 5 * 60 * 1000;

/// Code checks allowed per phone per minute (on top of five wrong answers using a code up).
const CHECKS_PER_PHONE_PER_MINUTE: u32 = 10;

/// Code checks allowed per client address per minute.
const CHECKS_PER_ADDRESS_PER_MINUTE: u32 = 30;

const DAY: Duration = Duration::from_secs(24 * 3600);
const HOUR: Duration = Duration::from_secs(3600);
const MINUTE: Duration = Duration::from_secs(60);

/// The message of [`AppError::Unavailable`] when no SMS provider is configured.
pub const SMS_UNAVAILABLE: &str =
    "log-in by SMS is not available on this server (no SMS provider is configured)";

/// How a code went out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CodeSent {
    /// The demo sandbox: the page shows this code (demo mode only).
    Shown(String),
    /// Sent by SMS to the phone; the page shows nothing of it.
    Sent,
}

/// How a log-in went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogIn {
    /// The code was right (and is used up): this member (new or existing) is logged in.
    Member(Uuid),
    /// Wrong code (one of five tries counted).
    WrongCode,
    /// No code pending for the phone: it expired, was used, or five wrong tries used it up.
    Expired,
    /// The code was right but the phone is new and the privacy policy was not accepted: nobody
    /// signed up, and the code stays pending so the shopper can tick the box and try again.
    ConsentRequired,
}

/// True when this server can send log-in codes (a provider, or the demo sandbox).
pub fn available(state: &AppState) -> bool {
    state.sms.is_some()
}

/// The stored hash of `code` for `phone` (keyed: a stolen table does not give the codes).
pub fn code_hash(state: &AppState, phone: &str, code: &str) -> String {
    state
        .keys
        .lookup_hash(&format!("login-code:{phone}:{code}"))
}

/// Sends a new code to `phone` (normalised, 11 digits), replacing any pending one.
///
/// # Errors
/// 429 when a limit of the phone or the address is used up (nothing is sent, nothing counted
/// against the other limits); 503 when there is no provider or it fails (the pending code, if
/// any, stays); 422 when the provider refuses the number.
pub async fn send_code(state: &AppState, from: ClientAddr, phone: &str) -> AppResult<CodeSent> {
    let Some(sender) = state.sms.clone() else {
        return Err(AppError::Unavailable(SMS_UNAVAILABLE.into()));
    };
    let rules = &state.settings.sms;
    let phone_key = state.keys.lookup_hash(phone);
    let addr = from.limit_key();
    state
        .limiter
        .check_all(&[
            Limit::new(
                format!("sms-gap:{phone_key}"),
                1,
                Duration::from_secs(rules.resend_after_secs),
            ),
            Limit::new(
                format!("sms-day:{phone_key}"),
                rules.codes_per_phone_per_day,
                DAY,
            ),
            Limit::new(
                format!("sms-hour:{addr}"),
                rules.codes_per_address_per_hour,
                HOUR,
            ),
            Limit::new(
                format!("sms-day:{addr}"),
                rules.codes_per_address_per_day,
                DAY,
            ),
        ])
        .await?;
    let code = format!("{:06}", rand::thread_rng().gen_range(0..1_000_000));
    let masked = storage::members::mask_phone(phone);
    // Sent first, stored after: a failed send leaves the pending code (if any) as it was.
    let message_id = sender
        .send_login_code(phone, &code)
        .await
        .map_err(|e| match e {
            SmsError::Throttled(code) => {
                tracing::warn!(phone = %masked, provider = sender.name(), %code, "SMS provider throttles");
                AppError::RateLimited {
                    retry_after_secs: rules.resend_after_secs,
                }
            }
            SmsError::BadNumber(code) => {
                tracing::info!(phone = %masked, %code, "SMS provider refuses the number");
                AppError::field("phone", "this number cannot receive SMS")
            }
            other => {
                tracing::error!(phone = %masked, provider = sender.name(), error = %other, "sending a log-in code failed");
                AppError::Unavailable(
                    "the SMS service is not answering; try again in a moment".into(),
                )
            }
        })?;
    storage::web::put_login_code(
        &state.store,
        &phone_key,
        &code_hash(state, phone, &code),
        storage::now_ms() + CODE_TTL_MS,
    )
    .await?;
    tracing::info!(phone = %masked, provider = sender.name(), %message_id, "log-in code sent");
    Ok(if sender.shows_code_on_page() {
        CodeSent::Shown(code)
    } else {
        CodeSent::Sent
    })
}

/// Checks `code` for `phone` (normalised) and logs the member in, signing an unknown phone up.
/// A sign-up needs `consent` (the privacy policy, [`crate::config::PRIVACY_POLICY_VERSION`]);
/// when given, the consent is recorded with the version and the client address.
///
/// # Errors
/// 429 when the phone or the address checked too many codes this minute.
pub async fn log_in(
    state: &AppState,
    from: ClientAddr,
    phone: &str,
    code: &str,
    consent: bool,
) -> AppResult<LogIn> {
    match check_code(state, from, phone, code).await? {
        CodeCheck::Accepted => {}
        CodeCheck::Wrong => return Ok(LogIn::WrongCode),
        CodeCheck::Expired => return Ok(LogIn::Expired),
    }
    let phone_key = state.keys.lookup_hash(phone);
    log_in_checked(state, from, phone, &phone_key, code, consent).await
}

/// Checks (and on success uses up) a one-time code sent to `phone` (normalised): also how a
/// member proves it is their phone to reset their payment PIN.
///
/// # Errors
/// 429 when the phone or the address checked too many codes this minute.
pub async fn check_code(
    state: &AppState,
    from: ClientAddr,
    phone: &str,
    code: &str,
) -> AppResult<CodeCheck> {
    let phone_key = state.keys.lookup_hash(phone);
    state
        .limiter
        .check_all(&[
            Limit::new(
                format!("sms-check:{phone_key}"),
                CHECKS_PER_PHONE_PER_MINUTE,
                MINUTE,
            ),
            Limit::new(
                format!("sms-check:{}", from.limit_key()),
                CHECKS_PER_ADDRESS_PER_MINUTE,
                MINUTE,
            ),
        ])
        .await?;
    if code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit()) {
        storage::web::check_login_code(&state.store, &phone_key, &code_hash(state, phone, code))
            .await
    } else {
        Ok(CodeCheck::Wrong)
    }
}

/// The log-in after its code was accepted.
async fn log_in_checked(
    state: &AppState,
    from: ClientAddr,
    phone: &str,
    phone_key: &str,
    code: &str,
    consent: bool,
) -> AppResult<LogIn> {
    let rules = &state.settings.points;
    if let Some(member) =
        storage::members::by_phone(&state.store, &state.keys, rules, phone).await?
    {
        if consent {
            crate::app::privacy::accept_policy(state, member.id, from.0).await?;
        }
        return Ok(LogIn::Member(member.id));
    }
    if !consent {
        // Put the (right) code back so that ticking the box does not need a new SMS.
        storage::web::put_login_code(
            &state.store,
            phone_key,
            &code_hash(state, phone, code),
            storage::now_ms() + CODE_TTL_MS,
        )
        .await?;
        return Ok(LogIn::ConsentRequired);
    }
    // A sign-up: the coupons only for the first few from one address a day.
    let gifts = state
        .limiter
        .check_all(&[Limit::new(
            format!("signup-gifts:{}", from.limit_key()),
            state.settings.sms.signup_gifts_per_address_per_day,
            DAY,
        )])
        .await
        .is_ok();
    if !gifts {
        tracing::warn!(from = %from.0, "sign-up without coupons: the address's daily sign-up gifts are used up");
    }
    let outcome = storage::members::register_with_gifts(
        &state.store,
        &state.keys,
        rules,
        retail_domain::ids::new_id(),
        phone,
        "",
        gifts,
    )
    .await?;
    let member = match outcome {
        Registration::Created(m) | Registration::Existing(m) => m.id,
        Registration::PhoneTaken(id) => id,
    };
    crate::app::privacy::accept_policy(state, member, from.0).await?;
    Ok(LogIn::Member(member))
}
