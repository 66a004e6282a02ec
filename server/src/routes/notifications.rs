//! Notifications over the API: the mini-program records what the member answered to
//! `wx.requestSubscribeMessage` (their current member code in `X-Member-Code`), and a member
//! reads their notification preferences ([`crate::app::notifications`]).

use axum::extract::State;
use axum::http::HeaderMap;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::Json;
use crate::app::notifications::{self, Preference, SubscriptionResult, SubscriptionsRecorded};
use crate::app::AppState;
use crate::error::AppResult;

/// Notification routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(record_subscriptions))
        .routes(routes!(my_preferences))
}

/// Records the member's answers to `wx.requestSubscribeMessage` (each `accept` allows one
/// subscribe message of that template), with a fresh `wx.login` code for their openid.
/// Idempotent by `request_id`. 422 on malformed input (nothing recorded); 409
/// `wechat_not_configured` without a mini-program.
#[utoipa::path(post, path = "/members/me/notification-subscriptions", tag = "members",
    params(("X-Member-Code" = String, Header, description = "the member's current member code (MC1)")),
    request_body = SubscriptionResult,
    responses((status = 200, body = SubscriptionsRecorded), (status = 401, body = crate::error::ErrorBody),
        (status = 409, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
async fn record_subscriptions(
    State(state): State<AppState>,
    headers: HeaderMap,
    Json(body): Json<SubscriptionResult>,
) -> AppResult<Json<SubscriptionsRecorded>> {
    let member = super::member_from_headers(&state, &headers)?;
    Ok(Json(
        notifications::record_subscriptions(&state, member, &body).await?,
    ))
}

/// The member's notification preferences: every event kind on SMS and WeChat, their choice or
/// the default (in-app is always on).
#[utoipa::path(get, path = "/members/me/notification-preferences", tag = "members",
    params(("X-Member-Code" = String, Header, description = "the member's current member code (MC1)")),
    responses((status = 200, body = [Preference]), (status = 401, body = crate::error::ErrorBody)))]
async fn my_preferences(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> AppResult<Json<Vec<Preference>>> {
    let member = super::member_from_headers(&state, &headers)?;
    Ok(Json(notifications::preferences(&state, member).await?))
}
