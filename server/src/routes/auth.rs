//! Staff login and logout.

use axum::extract::State;
use axum::http::HeaderMap;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::Json;
use crate::auth::StaffActor;
use crate::error::{AppError, AppResult};
use crate::secrets::{new_token, token_hash, verify_password};
use crate::state::AppState;
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

/// Logs a staff member in.
#[utoipa::path(post, path = "/auth/login", tag = "auth", request_body = LoginRequest,
    responses((status = 200, body = LoginResponse), (status = 401, body = crate::error::ErrorBody), (status = 429, body = crate::error::ErrorBody)))]
async fn login(
    State(state): State<AppState>,
    Json(req): Json<LoginRequest>,
) -> AppResult<Json<LoginResponse>> {
    let (token, expires_at, staff) = authenticate(&state, &req.username, &req.password).await?;
    Ok(Json(LoginResponse {
        token,
        expires_at,
        staff,
    }))
}

/// Checks a staff member's password (rate-limited per user name) and opens a session: the
/// `st_…` token (stored hashed), when it expires, and who it is. Shared by the API login and
/// the console's login form.
pub(crate) async fn authenticate(
    state: &AppState,
    username: &str,
    password: &str,
) -> AppResult<(String, chrono::DateTime<chrono::Utc>, StaffActor)> {
    let username = username.trim().to_lowercase();
    if username.is_empty() || username.len() > 64 || password.len() > 256 {
        return Err(AppError::Unauthorized("wrong username or password".into()));
    }
    let key = format!("login:{username}");
    state
        .limiter
        .check(&key, state.settings.auth.login_attempts_per_minute)?;
    let staff = storage::staff::by_username(&state.store, &username).await?;
    let staff = match staff {
        Some(staff) if staff.active => {
            let (password, hash) = (password.to_owned(), staff.password_hash.clone());
            let ok = tokio::task::spawn_blocking(move || verify_password(&password, &hash))
                .await
                .map_err(|e| AppError::Internal(e.into()))?;
            ok.then_some(staff)
        }
        _ => None,
    }
    .ok_or_else(|| AppError::Unauthorized("wrong username or password".into()))?;
    state.limiter.reset(&key);
    let token = new_token("st_");
    let expires_at = chrono::Utc::now()
        + chrono::Duration::seconds(
            i64::try_from(state.settings.auth.token_ttl_secs).unwrap_or(i64::MAX / 2_000),
        );
    storage::staff::create_session(
        &state.store,
        &token_hash(&token),
        staff.actor.id,
        expires_at.timestamp_millis(),
    )
    .await?;
    tracing::info!(username = %staff.actor.username, "staff logged in");
    Ok((token, expires_at, staff.actor))
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
