//! The shopper's openid inside WeChat's browser, for paying by JSAPI: WeChat's web authorisation
//! (网页授权, `snsapi_base`, which shows the shopper nothing) through the official account's
//! client ([`retail_payments::wechat::WechatOauth`], configured with `payments.wechat.app_secret`
//! beside WeChat Pay; see [`super::payment_providers::PaymentProviders::wechat_oauth`]).
//!
//! [`begin`] makes a `state` — 43 random letters and digits (about 256 bits), stored only as its
//! SHA-256, bound to the browser's shop session and the order being paid, usable once within
//! [`STATE_TTL_MS`] — and answers WeChat's authorisation address, which sends the browser back to
//! [`CALLBACK_PATH`] with `code` and `state`. [`finish`] takes the state (deleted by the first
//! callback naming it, whatever follows), refuses one that is unknown, used, expired or made
//! for another session, then exchanges the code for the openid and keeps it with the session,
//! so the session's later payments need no new round trip. Nothing is paid here: the caller
//! starts the JSAPI payment ([`super::payments::start_order_payment`]) with the openid.
//!
//! The openid is kept with the shop session, not the member: it names the WeChat account using
//! this browser, and a member who opens the shop in another person's WeChat must not be given a
//! payment for the first account's openid (WeChat would refuse it). It ends with the session
//! (30 days, or the member's account deletion).

use rand::Rng;
use retail_payments::wechat::oauth::{valid_state, SNAPSHOT_USER};
use retail_payments::ProviderError;
use uuid::Uuid;

use super::AppState;
use crate::actor::ClientAddr;
use crate::error::{AppError, AppResult};
use crate::secrets::token_hash;
use crate::storage;
pub use crate::storage::wechat_oauth::PaidInWechat;

/// How long a `state` may wait for WeChat's callback (10 minutes; WeChat's codes live 5).
pub const STATE_TTL_MS: i64 = 10 * 60 * 1000;

/// The shop's page WeChat sends the browser back to (`public_url` + this).
pub const CALLBACK_PATH: &str = "/wechat/oauth";

/// The length of a `state`: 43 of 62 symbols, about 256 bits.
const STATE_LEN: usize = 43;

/// True when the shop can learn a WeChat shopper's openid (WeChat Pay and its AppSecret are
/// configured).
pub fn available(state: &AppState) -> bool {
    state.payments.wechat_oauth().is_some()
}

/// The openid this shop session was given, if any.
pub async fn session_openid(state: &AppState, session_id: Uuid) -> AppResult<Option<String>> {
    storage::wechat_oauth::session_openid(&state.store, session_id).await
}

fn new_state() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rngs::OsRng;
    (0..STATE_LEN)
        .map(|_| char::from(ALPHABET[rng.gen_range(0..ALPHABET.len())]))
        .collect()
}

fn not_configured() -> AppError {
    AppError::Unavailable("WeChat authorisation is not configured on this server".into())
}

/// Starts an authorisation for paying `target` (an order or a member's recharge) from the shop
/// session `session_id`: records a new `state` and answers the address of WeChat's
/// authorisation page to send the browser to. Limited per client address like payment intents
/// (429 beyond).
pub async fn begin(
    state: &AppState,
    client: &ClientAddr,
    session_id: Uuid,
    target: PaidInWechat,
) -> AppResult<String> {
    let oauth = state.payments.wechat_oauth().ok_or_else(not_configured)?;
    state
        .limiter
        .check(
            &format!("wechat-oauth:{}", client.limit_key()),
            state.settings.orders.payment_intents_per_minute_per_address,
        )
        .await?;
    let token = new_state();
    storage::wechat_oauth::put_state(
        &state.store,
        &token_hash(&token),
        session_id,
        target,
        STATE_TTL_MS,
    )
    .await?;
    let callback = format!("{}{CALLBACK_PATH}", state.public_url.trim_end_matches('/'));
    Ok(oauth.authorize_url(&callback, &token))
}

/// What a finished authorisation gives: what it was started to pay and the shopper's openid
/// (now kept with the session).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Authorised {
    /// The order or recharge being paid.
    pub target: PaidInWechat,
    /// The shopper's openid for the merchant's app id.
    pub openid: String,
}

fn bad_link() -> AppError {
    AppError::bad_request(
        "wechat_state_invalid",
        "微信授权链接无效、已使用或已过期，请回到订单重新支付。\
         The WeChat authorisation link is not valid, was used already or has expired: go back to \
         the order and pay again.",
    )
}

/// WeChat's refusal or silence, as the shopper is told it.
fn exchange_error(err: ProviderError) -> AppError {
    match err {
        ProviderError::Rejected { code, .. } if code == SNAPSHOT_USER => AppError::bad_request(
            "wechat_snapshot_user",
            "当前为微信快照页，无法支付：请点击页面底部的“使用完整服务”后再付款。\
             This is a WeChat snapshot page, which cannot pay: open the full page and pay again.",
        ),
        ProviderError::Rejected { code, message, .. } => AppError::bad_request(
            "wechat_code_refused",
            format!(
                "微信未能确认您的身份（{code}：{message}），请回到订单重新支付。\
                 WeChat did not confirm who you are ({code}: {message}): go back to the order \
                 and pay again."
            ),
        ),
        ProviderError::Config { .. } => {
            tracing::error!(error = %err, "WeChat authorisation not usable");
            not_configured()
        }
        other => {
            tracing::warn!(error = %other, "WeChat authorisation did not answer");
            AppError::Unavailable("WeChat did not answer; please try again".into())
        }
    }
}

/// Finishes an authorisation at WeChat's callback: `state` and `code` as WeChat sent them,
/// `session_id` the browser's shop session (if it has one). The state is taken first (so it is
/// used up whatever follows); unknown, used, expired or another session's → 400
/// `wechat_state_invalid`; no code → 400 `wechat_no_code`; WeChat refusing the code (40029 invalid,
/// 40163 used, …) → 400 `wechat_code_refused`; WeChat not answering → 503. Only a good exchange
/// keeps the openid with the session.
pub async fn finish(
    state: &AppState,
    session_id: Option<Uuid>,
    given_state: Option<&str>,
    code: Option<&str>,
) -> AppResult<Authorised> {
    let oauth = state.payments.wechat_oauth().ok_or_else(not_configured)?;
    let given = given_state
        .filter(|s| valid_state(s))
        .ok_or_else(bad_link)?;
    let taken = storage::wechat_oauth::take_state(&state.store, &token_hash(given))
        .await?
        .ok_or_else(bad_link)?;
    let Some(session_id) = session_id.filter(|s| *s == taken.session_id) else {
        tracing::warn!(target = ?taken.target, "a WeChat authorisation state came back to another browser session");
        return Err(bad_link());
    };
    if taken.expires_at <= storage::now_ms() {
        return Err(bad_link());
    }
    let code = code
        .map(str::trim)
        .filter(|c| !c.is_empty() && c.len() <= 256 && c.bytes().all(|b| b.is_ascii_graphic()))
        .ok_or_else(|| {
            AppError::bad_request(
                "wechat_no_code",
                "微信没有返回授权码，请回到订单重新支付。\
                 WeChat sent no authorisation code back: go back to the order and pay again.",
            )
        })?;
    let openid = oauth.openid(code).await.map_err(exchange_error)?;
    storage::wechat_oauth::set_session_openid(&state.store, session_id, &openid).await?;
    Ok(Authorised {
        target: taken.target,
        openid,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_are_long_random_and_what_wechat_carries() {
        let a = new_state();
        let b = new_state();
        assert_eq!(a.len(), STATE_LEN);
        assert!(valid_state(&a) && valid_state(&b));
        assert_ne!(a, b);
    }
}
