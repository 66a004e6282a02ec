//! Staff login and logout.

use axum::extract::State;
use axum::http::HeaderMap;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::Json;
use crate::actor::{ClientAddr, StaffActor};
use crate::app::staff::authenticate;
use crate::app::AppState;
use crate::error::AppResult;
use crate::secrets::token_hash;
use crate::storage;

/// Auth routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(login))
        .routes(routes!(logout))
        .routes(routes!(me))
}

/// Login request.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// Login name.
    pub username: String,
    /// Password.
    pub password: String,
}

/// A new session.
#[derive(Debug, Serialize, ToSchema)]
pub struct LoginResponse {
    /// Bearer token for `Authorization: Bearer …`.
    pub token: String,
    /// When it stops working.
    pub expires_at: chrono::DateTime<chrono::Utc>,
    /// Who logged in.
    pub staff: StaffActor,
}

/// Logs a staff member in. Attempts are limited per client address and per user name from
/// that address (429 with `Retry-After`), so guessing from one address does not lock the user
/// out elsewhere.
#[utoipa::path(post, path = "/auth/login", tag = "auth", request_body = LoginRequest,
    responses((status = 200, body = LoginResponse), (status = 401, body = crate::error::ErrorBody),
        (status = 429, body = crate::error::ErrorBody, headers(("Retry-After" = u64, description = "seconds to wait")))))]
async fn login(
    State(state): State<AppState>,
    client: ClientAddr,
    Json(req): Json<LoginRequest>,
) -> AppResult<Json<LoginResponse>> {
    let (token, expires_at, staff) =
        authenticate(&state, client, &req.username, &req.password).await?;
    Ok(Json(LoginResponse {
        token,
        expires_at,
        staff,
    }))
}

/// Ends the caller's session.
#[utoipa::path(post, path = "/auth/logout", tag = "auth", security(("staff" = [])),
    responses((status = 200), (status = 401, body = crate::error::ErrorBody)))]
async fn logout(
    _staff: StaffActor,
    State(state): State<AppState>,
    headers: HeaderMap,
) -> AppResult<Json<serde_json::Value>> {
    if let Some(token) = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    {
        storage::staff::revoke_session(&state.store, &token_hash(token.trim())).await?;
    }
    Ok(Json(serde_json::json!({"ok": true})))
}

/// Who the caller is.
#[utoipa::path(get, path = "/auth/me", tag = "auth", security(("staff" = [])),
    responses((status = 200, body = StaffActor), (status = 401, body = crate::error::ErrorBody)))]
async fn me(staff: StaffActor) -> Json<StaffActor> {
    Json(staff)
}
