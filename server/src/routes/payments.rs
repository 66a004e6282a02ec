//! Payments: payment intents for online orders through a provider (WeChat Pay, Alipay, the demo's
//! sandbox), the providers' notifications — `POST /payments/wechat_pay/notify` (WeChat Pay API v3:
//! signed headers, encrypted resource; answered 204, or 4xx/5xx `{"code":"FAIL"}` to have it sent
//! again) and `POST /payments/alipay/notify` (a signed form; answered `success`, or `failure` to
//! have it sent again) — and the **sandbox payment provider**, which exists in demo mode only: a
//! stand-in that lives in this process but talks to the server as an external one would: the
//! shopper confirms on the provider's page, and the provider POSTs a signed notification to
//! `/api/v1/payments/notify` over HTTP.
//!
//! A notification that verifies is answered as taken whatever became of it (applied, a retry of
//! one applied before, money refunded because its order was cancelled, or an alert for head
//! office): the provider stops sending it. One that does not verify changes nothing and is
//! refused.
//!
//! Notification contract (also what a real provider adapter must produce):
//! `POST /api/v1/payments/notify` with headers `X-Pay-Timestamp: <unix seconds>` and
//! `X-Pay-Signature: hex(HMAC-SHA256(secret, "<timestamp>.<raw body>"))`, body
//! `{"notify_id", "payment_id", "provider_ref", "amount": "12.50", "status": "succeeded"}`.
//! The server checks the signature, that the timestamp is within the tolerance, that the amount
//! equals the payment's and the order's, and accepts each `notify_id` once.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use retail_domain::money::Money;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::{Json, Path};
use crate::actor::ClientAddr;
use crate::app::payment_providers::Provider;
use crate::app::payments::{PayScene, Taken};
use crate::app::AppState;
use crate::error::{AppError, AppResult};
use crate::secrets::signatures_match;
use crate::storage;
use crate::storage::payments::PaymentView;

/// Payment routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_payment))
        .routes(routes!(notify))
        .routes(routes!(wechat_notify))
        .routes(routes!(alipay_notify))
}

/// The sandbox payment provider's own pages (outside `/api/v1`).
pub fn sandbox_router() -> axum::Router<AppState> {
    axum::Router::new().route("/sandbox/pay/{id}", get(sandbox_page).post(sandbox_confirm))
}

/// Where the shopper pays.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PaymentScene {
    /// A QR code to scan (WeChat Pay Native, Alipay precreate).
    #[default]
    Qr,
    /// A mobile browser (WeChat Pay H5, Alipay wap.pay): a page to open, then `return_url`.
    MobileWeb,
    /// Inside WeChat (JSAPI / mini-program), for `openid`.
    Jsapi,
}

/// A payment intent request.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreatePayment {
    /// Client id of the payment (UUIDv7); a retry answers the same intent.
    pub id: Uuid,
    /// The provider (`wechat_pay`, `alipay`; `sandbox` in demo mode). Default: the first one
    /// this server has, real providers first.
    #[serde(default)]
    pub provider: Option<Provider>,
    /// Where the shopper pays (default `qr`).
    #[serde(default)]
    pub scene: PaymentScene,
    /// `mobile_web`: where the provider sends the shopper back (an address of this server).
    #[serde(default)]
    pub return_url: Option<String>,
    /// `jsapi`: the payer's openid for the merchant's app id.
    #[serde(default)]
    pub openid: Option<String>,
}

/// A payment intent and where the shopper pays it.
#[derive(Debug, Serialize, ToSchema)]
pub struct PaymentIntent {
    /// The payment.
    pub payment: PaymentView,
    /// What pays it: a QR code's text (show it as a QR), or the provider's page to open.
    pub pay_url: String,
    /// The provider's prepay as it gave it: `{"kind":"qr_code","code_url"}`,
    /// `{"kind":"redirect","url"}` or `{"kind":"in_app","params"}` (WeChat's
    /// `requestPayment` parameters).
    #[schema(value_type = Object)]
    pub prepay: retail_payments::Prepay,
}

/// Starts a payment for a pending order (its full amount) through a provider. Limited per client
/// address and per the order's member (429 with `Retry-After`); 422 for a provider not
/// configured here; 503 when none is, or when the provider does not answer (the payment stays
/// pending and is asked about later).
#[utoipa::path(post, path = "/orders/{id}/payments", tag = "payments", request_body = CreatePayment,
    params(("id" = Uuid, Path, description = "order id")),
    responses((status = 200, body = PaymentIntent), (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody), (status = 429, body = crate::error::ErrorBody),
        (status = 503, body = crate::error::ErrorBody)))]
async fn create_payment(
    client: ClientAddr,
    State(state): State<AppState>,
    Path(order_id): Path<Uuid>,
    Json(req): Json<CreatePayment>,
) -> AppResult<Json<PaymentIntent>> {
    let id = req.id;
    let (provider, scene) = payment_choice(&state, req)?;
    let started =
        crate::app::payments::start_order_payment(&state, &client, id, order_id, provider, &scene)
            .await?;
    Ok(Json(PaymentIntent {
        pay_url: started.pay_url(&state.public_url),
        payment: started.payment,
        prepay: started.prepay,
    }))
}

/// The provider and scene a payment request asks for, checked: the id a UUIDv7, the provider
/// one this server has (default: the first it has, real providers first; 503 when none), a
/// `mobile_web` return address of this shop, a `jsapi` payer's openid (WeChat Pay only).
pub(crate) fn payment_choice(
    state: &AppState,
    req: CreatePayment,
) -> AppResult<(Provider, PayScene)> {
    let CreatePayment {
        id,
        provider,
        scene,
        return_url,
        openid,
    } = req;
    retail_domain::ids::require_v7(id).map_err(|e| AppError::field("id", e.to_string()))?;
    let provider = match provider {
        Some(p) if !state.payments.has(p) => {
            return Err(AppError::field(
                "provider",
                format!("{} is not available on this server", p.as_str()),
            ))
        }
        Some(p) => p,
        None => state.payments.available().first().copied().ok_or_else(|| {
            AppError::Unavailable("no payment provider is configured on this server".into())
        })?,
    };
    let scene = match scene {
        PaymentScene::Qr => PayScene::QrCode,
        PaymentScene::MobileWeb => {
            let return_url = return_url.unwrap_or_default();
            if !return_url.is_empty() && !return_url.starts_with(&*state.public_url) {
                return Err(AppError::field(
                    "return_url",
                    "must be an address of this shop",
                ));
            }
            PayScene::MobileWeb { return_url }
        }
        PaymentScene::Jsapi => {
            let openid = openid.unwrap_or_default();
            if openid.is_empty()
                || openid.len() > 128
                || !openid
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
            {
                return Err(AppError::field("openid", "the payer's openid is needed"));
            }
            if provider != Provider::WechatPay {
                return Err(AppError::field("scene", "jsapi is WeChat Pay's"));
            }
            PayScene::WechatJsapi { openid }
        }
    };
    Ok((provider, scene))
}

/// WeChat Pay's answer to a notification (`204`, or a status with `{"code":"FAIL"}`).
fn wechat_answer(answer: retail_payments::wechat::NotificationAnswer) -> Response {
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if answer.body.is_empty() {
        status.into_response()
    } else {
        (
            status,
            [(axum::http::header::CONTENT_TYPE, "application/json")],
            answer.body,
        )
            .into_response()
    }
}

/// Applies a verified notification from `provider`; true when it was taken (answered as such).
async fn take(
    state: &AppState,
    provider: Provider,
    notification: retail_payments::Notification,
) -> AppResult<()> {
    match notification {
        retail_payments::Notification::Paid { notify_id, trade } => {
            let taken =
                crate::app::payments::take_paid(state, provider, &notify_id, &trade).await?;
            tracing::info!(
                provider = provider.as_str(),
                ?taken,
                "payment notification taken"
            );
        }
        retail_payments::Notification::Refund {
            notify_id, refund, ..
        } => {
            crate::app::refunds::take_notification(state, provider, &notify_id, &refund).await?;
        }
        retail_payments::Notification::Closed { .. } => {}
    }
    Ok(())
}

/// Receives WeChat Pay's notifications (payments and refunds): verified with WeChat Pay's key
/// (signature headers, at most 5 minutes of skew), the resource decrypted with the API v3 key,
/// then applied. 204 when taken; 401 `{"code":"FAIL"}` when it does not verify (nothing changes);
/// 500 when it could not be applied now (WeChat Pay sends it again); 404 when WeChat Pay is not
/// configured here.
#[utoipa::path(post, path = "/payments/wechat_pay/notify", tag = "payments",
    request_body(content = String, content_type = "application/json", description = "WeChat Pay's notification envelope"),
    responses((status = 204, description = "taken"), (status = 401, description = "does not verify"),
        (status = 404, body = crate::error::ErrorBody), (status = 500, description = "not applied now; sent again")))]
async fn wechat_notify(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> AppResult<Response> {
    use retail_payments::wechat::NotificationAnswer;
    let wechat = state
        .payments
        .wechat()
        .ok_or_else(|| AppError::not_found("WeChat Pay is not configured on this server"))?;
    let notification = match wechat.verify_notification(&headers, &body) {
        Ok(n) => n,
        Err(e) => {
            tracing::warn!(error = %e, "a WeChat Pay notification was refused");
            return Ok(wechat_answer(NotificationAnswer::failed(
                401,
                "the notification does not verify",
            )));
        }
    };
    match take(&state, Provider::WechatPay, notification).await {
        Ok(()) => Ok(wechat_answer(NotificationAnswer::accepted())),
        Err(e) => {
            tracing::error!(error = %e, "a WeChat Pay notification could not be applied now");
            Ok(wechat_answer(NotificationAnswer::failed(
                500,
                "not applied now; send it again",
            )))
        }
    }
}

/// Receives Alipay's asynchronous notifications (a signed form): verified with Alipay's public
/// key, then applied. `success` when taken; `failure` (400) when it does not verify (nothing
/// changes) or (500) could not be applied now — Alipay sends it again; 404 when Alipay is not
/// configured here.
#[utoipa::path(post, path = "/payments/alipay/notify", tag = "payments",
    request_body(content = std::collections::HashMap<String, String>, content_type = "application/x-www-form-urlencoded", description = "Alipay's notification form"),
    responses((status = 200, description = "`success`: taken", content_type = "text/plain"),
        (status = 400, description = "`failure`: does not verify"),
        (status = 404, body = crate::error::ErrorBody), (status = 500, description = "`failure`: not applied now; sent again")))]
async fn alipay_notify(State(state): State<AppState>, body: Bytes) -> AppResult<Response> {
    use retail_payments::alipay::{NOTIFICATION_NOT_TAKEN, NOTIFICATION_TAKEN};
    let alipay = state
        .payments
        .alipay()
        .ok_or_else(|| AppError::not_found("Alipay is not configured on this server"))?;
    let notification = match alipay.verify_notification(&body) {
        Ok(n) => n,
        Err(e) => {
            tracing::warn!(error = %e, "an Alipay notification was refused");
            return Ok((StatusCode::BAD_REQUEST, NOTIFICATION_NOT_TAKEN).into_response());
        }
    };
    match take(&state, Provider::Alipay, notification).await {
        Ok(()) => Ok((StatusCode::OK, NOTIFICATION_TAKEN).into_response()),
        Err(e) => {
            tracing::error!(error = %e, "an Alipay notification could not be applied now");
            Ok((StatusCode::INTERNAL_SERVER_ERROR, NOTIFICATION_NOT_TAKEN).into_response())
        }
    }
}

/// The body of a provider notification.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PaymentNotification {
    /// The provider's id for this notification (each accepted once).
    pub notify_id: String,
    /// Our payment id.
    pub payment_id: Uuid,
    /// The provider's transaction reference.
    pub provider_ref: String,
    /// Amount paid.
    pub amount: Money,
    /// `succeeded`.
    pub status: String,
}

/// Receives a signed payment notification from the provider.
#[utoipa::path(post, path = "/payments/notify", tag = "payments", request_body = PaymentNotification,
    responses((status = 200), (status = 400, body = crate::error::ErrorBody), (status = 401, body = crate::error::ErrorBody),
        (status = 404, description = "no payment provider sends notifications to this server", body = crate::error::ErrorBody),
        (status = 409, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
async fn notify(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> AppResult<Json<serde_json::Value>> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let notification = read_notification(
        state.keys.payment_secret.as_ref(),
        state.settings.payments.notification_tolerance_secs,
        chrono::Utc::now().timestamp(),
        header("x-pay-timestamp"),
        header("x-pay-signature"),
        &body,
    )?;
    let taken = crate::app::payments::take_paid(
        &state,
        Provider::Sandbox,
        &notification.notify_id,
        &retail_payments::PaidTrade {
            out_trade_no: notification.payment_id.to_string(),
            transaction_id: notification.provider_ref.clone(),
            amount_fen: notification.amount.fen(),
            currency: "CNY".into(),
            paid_at: None,
        },
    )
    .await?;
    Ok(Json(match taken {
        Taken::Applied { order_no } => {
            serde_json::json!({"ok": true, "taken": "applied", "order_no": order_no})
        }
        Taken::Duplicate => serde_json::json!({"ok": true, "taken": "duplicate"}),
        Taken::LatePayment => serde_json::json!({"ok": true, "taken": "late_payment"}),
        Taken::Alerted => serde_json::json!({"ok": true, "taken": "alerted"}),
    }))
}

/// Reads a provider notification as it arrived — the `X-Pay-Timestamp` and `X-Pay-Signature`
/// headers and the raw body — checking, in order: that a provider sends notifications here
/// (`secret`; 404 otherwise), the timestamp (401 when missing or not a number), the signature
/// over the timestamp and the body (401), the timestamp within `tolerance_secs` of `now_secs`
/// (400 `stale_notification`), the body (400), its status (400) and its notification id (422).
/// Nothing is read from the body before its signature is checked.
fn read_notification(
    secret: Option<&[u8; 32]>,
    tolerance_secs: i64,
    now_secs: i64,
    timestamp: Option<&str>,
    signature: Option<&str>,
    body: &[u8],
) -> AppResult<PaymentNotification> {
    let timestamp: i64 = timestamp
        .map(str::trim)
        .and_then(|t| t.parse().ok())
        .ok_or_else(|| AppError::Unauthorized("missing or malformed X-Pay-Timestamp".into()))?;
    let signature = signature
        .map(str::trim)
        .ok_or_else(|| AppError::Unauthorized("missing X-Pay-Signature".into()))?;
    let secret = secret
        .ok_or_else(|| AppError::not_found("no payment provider sends notifications here"))?;
    let expected = crate::secrets::payment_signature(secret, timestamp, body);
    if !signatures_match(&expected, signature) {
        tracing::warn!("payment notification with a bad signature refused");
        return Err(AppError::Unauthorized("bad notification signature".into()));
    }
    // Checked: a signed timestamp may still be any number (i64::MIN has no absolute value).
    let fresh = now_secs
        .checked_sub(timestamp)
        .is_some_and(|age| age.unsigned_abs() <= tolerance_secs.unsigned_abs());
    if !fresh {
        return Err(AppError::bad_request(
            "stale_notification",
            "notification timestamp is too old or in the future",
        ));
    }
    if retail_domain::wire::json_has_nul(body) {
        return Err(AppError::bad_request(
            "invalid_body",
            "text must not contain NUL characters",
        ));
    }
    let notification: PaymentNotification = serde_json::from_slice(body)
        .map_err(|e| AppError::bad_request("invalid_body", format!("invalid notification: {e}")))?;
    if notification.status != "succeeded" {
        return Err(AppError::bad_request(
            "unsupported_status",
            "only succeeded notifications are handled",
        ));
    }
    if notification.notify_id.is_empty() || notification.notify_id.len() > 128 {
        return Err(AppError::field("notify_id", "must be 1 to 128 characters"));
    }
    Ok(notification)
}

/// What the sandbox provider shows and pays: an online order's payment, a lane's, or a
/// member's recharge.
struct Payable {
    id: Uuid,
    amount: Money,
    status: String,
    /// The shop's order page to go back to (none for a payment at a lane).
    return_to: Option<String>,
}

async fn payable(state: &AppState, id: Uuid) -> AppResult<Payable> {
    if let Some(lane) = storage::lane_payments::get(&state.store, id).await? {
        return Ok(Payable {
            id,
            amount: lane.amount,
            status: lane.status.as_str().to_owned(),
            return_to: None,
        });
    }
    if let Some(recharge) = storage::stored_value::recharge_by_id(&state.store, id).await? {
        return Ok(Payable {
            id,
            amount: recharge.pay,
            status: recharge.status,
            return_to: Some("/me/balance".into()),
        });
    }
    if let Some(trade) = storage::checkouts::trade(&state.store, id).await? {
        return Ok(Payable {
            id,
            amount: Money::from_fen(trade.amount_fen),
            status: trade.status,
            return_to: Some(format!("/checkouts/{}", trade.checkout_id)),
        });
    }
    let payment = storage::payments::get(&state.store, id).await?;
    Ok(Payable {
        id,
        amount: payment.amount,
        status: payment.status,
        return_to: Some(format!("/orders/{}", payment.order_id)),
    })
}

async fn sandbox_page(
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
) -> AppResult<Html<String>> {
    let payment = payable(&state, id).await?;
    Ok(Html(format!(
        "<!doctype html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\">\
         <title>沙箱支付 Sandbox pay</title></head><body><h1>沙箱支付 Sandbox payment</h1>\
         <p>金额 Amount: ¥{}</p><p>状态 Status: {}</p>\
         <form method=\"post\"><button type=\"submit\">确认支付 Pay</button></form></body></html>",
        payment.amount, payment.status
    )))
}

/// The shopper confirmed: the provider notifies the server over HTTP, signed, like a real one.
/// Like a real provider it takes no money for a trade that is no longer open (paid already, or
/// cancelled at the lane).
async fn sandbox_confirm(
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
) -> AppResult<Html<String>> {
    let payment = payable(&state, id).await?;
    if payment.status != "pending" {
        return Ok(Html(format!(
            "<!doctype html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\"><title>沙箱支付</title></head><body>\
             <h1>支付未完成 Payment not completed</h1><p>¥{} · {}</p></body></html>",
            payment.amount, payment.status
        )));
    }
    let notification = PaymentNotification {
        notify_id: format!("sbx-{}", retail_domain::ids::new_id().simple()),
        payment_id: payment.id,
        provider_ref: format!("SBX{}", retail_domain::ids::new_id().simple()),
        amount: payment.amount,
        status: "succeeded".into(),
    };
    let body = serde_json::to_vec(&notification).map_err(|e| AppError::Internal(e.into()))?;
    let timestamp = chrono::Utc::now().timestamp();
    let response = state
        .http
        .post(format!("{}/api/v1/payments/notify", state.public_url))
        .header("content-type", "application/json")
        .header("x-pay-timestamp", timestamp.to_string())
        .header(
            "x-pay-signature",
            state
                .keys
                .payment_signature(timestamp, &body)
                .ok_or_else(|| AppError::not_found("the sandbox provider is off"))?,
        )
        .body(body)
        .send()
        .await
        .map_err(|e| {
            AppError::Unavailable(format!(
                "the shop did not answer the payment notification: {e}"
            ))
        })?;
    let ok = response.status().is_success()
        && response
            .json::<serde_json::Value>()
            .await
            .is_ok_and(|answer| answer["taken"] == "applied");
    let back = match &payment.return_to {
        Some(url) => {
            format!("<p><a id=\"return\" href=\"{url}\">返回商户 Return to the shop</a></p>")
        }
        None => "<p>请回到收银台 Back to the till</p>".to_owned(),
    };
    Ok(Html(format!(
        "<!doctype html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\"><title>沙箱支付</title></head><body>\
         <h1>{}</h1><p>¥{}</p>{back}</body></html>",
        if ok { "支付成功 Paid" } else { "支付未完成 Payment not completed" },
        payment.amount,
    )))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const SECRET: [u8; 32] = [7; 32];
    const NOW: i64 = 1_800_000_000;
    const TOLERANCE: i64 = 300;

    fn read(
        timestamp: Option<&str>,
        signature: Option<&str>,
        body: &[u8],
    ) -> AppResult<PaymentNotification> {
        read_notification(Some(&SECRET), TOLERANCE, NOW, timestamp, signature, body)
    }

    fn signed(timestamp: i64, body: &[u8]) -> String {
        crate::secrets::payment_signature(&SECRET, timestamp, body)
    }

    fn notification(notify_id: &str, amount: Money) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({
            "notify_id": notify_id, "payment_id": Uuid::now_v7(), "provider_ref": "ref",
            "amount": amount, "status": "succeeded"
        }))
        .unwrap()
    }

    #[test]
    fn refusals_and_their_statuses() {
        let body = notification("n1", Money::from_fen(1250));
        let ts = NOW.to_string();
        let sig = signed(NOW, &body);
        assert_eq!(read(Some(&ts), Some(&sig), &body).unwrap().notify_id, "n1");
        let status = |r: AppResult<PaymentNotification>| r.unwrap_err().status().as_u16();
        assert_eq!(status(read(None, Some(&sig), &body)), 401);
        assert_eq!(status(read(Some("soon"), Some(&sig), &body)), 401);
        assert_eq!(status(read(Some(&ts), None, &body)), 401);
        assert_eq!(status(read(Some(&ts), Some("00"), &body)), 401);
        let old = (NOW - TOLERANCE - 1).to_string();
        assert_eq!(
            status(read(
                Some(&old),
                Some(&signed(NOW - TOLERANCE - 1, &body)),
                &body
            )),
            400
        );
        let extreme = i64::MIN.to_string();
        assert_eq!(
            status(read(Some(&extreme), Some(&signed(i64::MIN, &body)), &body)),
            400
        );
        assert_eq!(
            status(read_notification(
                None,
                TOLERANCE,
                NOW,
                Some(&ts),
                Some(&sig),
                &body
            )),
            404,
            "no provider outside demo mode"
        );
    }

    proptest! {
        /// Anything posted to the notification endpoint — any headers, any body — is refused
        /// with a clear status unless it carries the provider's signature; never a panic.
        #[test]
        fn any_request_is_read_or_refused(
            timestamp in proptest::option::of(prop_oneof![any::<i64>().prop_map(|t| t.to_string()), ".{0,24}"]),
            signature in proptest::option::of("[0-9a-f]{64}|.{0,70}"),
            body in proptest::collection::vec(any::<u8>(), 0..512),
        ) {
            let result = read(timestamp.as_deref(), signature.as_deref(), &body);
            let err = result.expect_err("an unsigned notification is refused");
            prop_assert_eq!(err.status().as_u16(), 401);
        }

        /// A signed notification is read back as sent when fresh, refused (400) when stale,
        /// whatever its timestamp; a signed body that is not a notification is a 400.
        #[test]
        fn signed_notifications_are_read_back(
            age in any::<i64>(),
            notify_id in "[A-Za-z0-9_-]{1,128}",
            fen in 0i64..=i64::MAX,
            garbage in proptest::collection::vec(any::<u8>(), 0..256),
        ) {
            let timestamp = NOW.wrapping_sub(age);
            let ts = timestamp.to_string();
            let body = notification(&notify_id, Money::from_fen(fen));
            let result = read(Some(&ts), Some(&signed(timestamp, &body)), &body);
            let fresh = NOW.checked_sub(timestamp).is_some_and(|a| a.unsigned_abs() <= TOLERANCE as u64);
            match result {
                Ok(n) => {
                    prop_assert!(fresh);
                    prop_assert_eq!(n.notify_id, notify_id);
                    prop_assert_eq!(n.amount, Money::from_fen(fen));
                }
                Err(e) => {
                    prop_assert!(!fresh);
                    prop_assert_eq!(e.code(), "stale_notification");
                }
            }
            let now = NOW.to_string();
            let signed_garbage = read(Some(&now), Some(&signed(NOW, &garbage)), &garbage);
            if let Err(e) = signed_garbage {
                prop_assert_eq!(e.status().as_u16(), 400);
            }
        }

        /// One byte changed anywhere in a signed body, and it is refused.
        #[test]
        fn a_changed_body_is_refused(at in any::<prop::sample::Index>(), byte in any::<u8>()) {
            let body = notification("n1", Money::from_fen(1250));
            let sig = signed(NOW, &body);
            let mut changed = body.clone();
            let i = at.index(changed.len());
            prop_assume!(changed[i] != byte);
            changed[i] = byte;
            prop_assert_eq!(read(Some(&NOW.to_string()), Some(&sig), &changed).unwrap_err().status().as_u16(), 401);
        }
    }
}
