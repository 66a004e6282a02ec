//! Payments: QR payment intents for online orders, the provider's signed notifications, and the
//! **sandbox payment provider** — a stand-in for a real QR payment provider that lives in this
//! process but talks to the server exactly as an external one would: the shopper confirms on the
//! provider's page, and the provider POSTs a signed notification to
//! `/api/v1/payments/notify` over HTTP.
//!
//! Notification contract (also what a real provider adapter must produce):
//! `POST /api/v1/payments/notify` with headers `X-Pay-Timestamp: <unix seconds>` and
//! `X-Pay-Signature: hex(HMAC-SHA256(secret, "<timestamp>.<raw body>"))`, body
//! `{"notify_id", "payment_id", "provider_ref", "amount": "12.50", "status": "succeeded"}`.
//! The server checks the signature, that the timestamp is within the tolerance, that the amount
//! equals the payment's and the order's, and accepts each `notify_id` once.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Html;
use axum::routing::get;
use retail_domain::money::Money;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::{Json, Path};
use crate::actor::ClientAddr;
use crate::app::AppState;
use crate::error::{AppError, AppResult};
use crate::secrets::signatures_match;
use crate::storage;
use crate::storage::payments::{PaidNotice, PaymentView};

/// Payment routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_payment))
        .routes(routes!(notify))
}

/// The sandbox payment provider's own pages (outside `/api/v1`).
pub fn sandbox_router() -> axum::Router<AppState> {
    axum::Router::new().route("/sandbox/pay/{id}", get(sandbox_page).post(sandbox_confirm))
}

/// A payment intent request.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreatePayment {
    /// Client id of the payment (UUIDv7); a retry answers the same intent.
    pub id: Uuid,
}

/// A payment intent and where the shopper pays it.
#[derive(Debug, Serialize, ToSchema)]
pub struct PaymentIntent {
    /// The payment.
    pub payment: PaymentView,
    /// The provider's page (shown as a QR on the till or opened on the phone).
    pub pay_url: String,
}

/// Starts a QR payment for a pending order (its full amount). Limited per client address and
/// per the order's member (429 with `Retry-After`).
#[utoipa::path(post, path = "/orders/{id}/payments", tag = "payments", request_body = CreatePayment,
    params(("id" = Uuid, Path, description = "order id")),
    responses((status = 200, body = PaymentIntent), (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody), (status = 429, body = crate::error::ErrorBody)))]
async fn create_payment(
    client: ClientAddr,
    State(state): State<AppState>,
    Path(order_id): Path<Uuid>,
    Json(req): Json<CreatePayment>,
) -> AppResult<Json<PaymentIntent>> {
    retail_domain::ids::require_v7(req.id).map_err(|e| AppError::field("id", e.to_string()))?;
    let (payment, path) =
        crate::app::payments::start_order_payment(&state, &client, req.id, order_id).await?;
    Ok(Json(PaymentIntent {
        pay_url: format!("{}{path}", state.public_url),
        payment,
    }))
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
    let answer = crate::app::payments::take_notification(
        &state,
        &PaidNotice {
            notify_id: &notification.notify_id,
            payment_id: notification.payment_id,
            provider_ref: &notification.provider_ref,
            amount: notification.amount,
        },
    )
    .await?;
    Ok(Json(answer))
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

/// What the sandbox provider shows and pays: an online order's payment or a lane's.
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
async fn sandbox_confirm(
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
) -> AppResult<Html<String>> {
    let payment = payable(&state, id).await?;
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
    let ok = response.status().is_success();
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
