//! Staff administration (head office for every account, store managers for their own store's
//! cashiers, merchant administrators for their own stores' managers and cashiers) and staff
//! changing their own password. The rules live in
//! [`crate::app::staff_admin`].

use axum::extract::State;
use axum::http::HeaderMap;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::{Json, Path, Query};
use crate::actor::StaffActor;
use crate::app::staff_admin::{self, Administrator, NewStaffRequest, StaffUpdate};
use crate::app::AppState;
use crate::error::AppResult;
use crate::secrets::token_hash;
use crate::storage::staff::StaffRecord;

/// Staff routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(get_one, update))
        .routes(routes!(reset_password))
        .routes(routes!(set_pin, clear_pin))
        .routes(routes!(change_own_password))
}

/// Which accounts to list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StaffQuery {
    /// Only the accounts of this store or warehouse.
    pub location: Option<String>,
}

/// A new password set by an administrator.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordReset {
    /// The new password (the account must change it at its next log-in).
    pub password: String,
}

/// A new lane PIN.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PinRequest {
    /// Six digits, not one digit repeated and not a run.
    pub pin: String,
}

/// A member of staff's own password change.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    /// The current password.
    pub old_password: String,
    /// The new password.
    pub password: String,
}

/// Staff accounts (head office: all or one location's; a store manager: their store's; a
/// merchant administrator: those at its own stores and warehouses, another's location is 404).
#[utoipa::path(get, path = "/staff", tag = "staff", security(("staff" = [])), params(StaffQuery),
    responses((status = 200, body = [StaffRecord]), (status = 403, body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody)))]
async fn list(
    staff: StaffActor,
    State(state): State<AppState>,
    Query(q): Query<StaffQuery>,
) -> AppResult<Json<Vec<StaffRecord>>> {
    Ok(Json(
        staff_admin::list(&state.store, &staff, q.location.as_deref()).await?,
    ))
}

/// Creates an account (idempotent by `id`); it must change its password at the first log-in.
#[utoipa::path(post, path = "/staff", tag = "staff", security(("staff" = [])), request_body = NewStaffRequest,
    responses((status = 200, body = StaffRecord), (status = 403, body = crate::error::ErrorBody),
              (status = 409, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
async fn create(
    staff: StaffActor,
    State(state): State<AppState>,
    Json(req): Json<NewStaffRequest>,
) -> AppResult<Json<StaffRecord>> {
    Ok(Json(
        staff_admin::create(&state.store, Administrator::Staff(&staff), &req).await?,
    ))
}

/// One account.
#[utoipa::path(get, path = "/staff/{id}", tag = "staff", security(("staff" = [])),
    params(("id" = Uuid, Path, description = "Staff id")),
    responses((status = 200, body = StaffRecord), (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)))]
async fn get_one(
    staff: StaffActor,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
) -> AppResult<Json<StaffRecord>> {
    Ok(Json(staff_admin::get(&state.store, &staff, id).await?))
}

/// Changes name, role, store or enabled; disabling or moving an account ends its sessions.
#[utoipa::path(patch, path = "/staff/{id}", tag = "staff", security(("staff" = [])), request_body = StaffUpdate,
    params(("id" = Uuid, Path, description = "Staff id")),
    responses((status = 200, body = StaffRecord), (status = 403, body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
async fn update(
    staff: StaffActor,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    Json(change): Json<StaffUpdate>,
) -> AppResult<Json<StaffRecord>> {
    Ok(Json(
        staff_admin::update(&state.store, Administrator::Staff(&staff), id, &change).await?,
    ))
}

/// Sets a new password; the account's sessions end and it must change it at the next log-in.
#[utoipa::path(post, path = "/staff/{id}/password", tag = "staff", security(("staff" = [])), request_body = PasswordReset,
    params(("id" = Uuid, Path, description = "Staff id")),
    responses((status = 200, body = StaffRecord), (status = 403, body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
async fn reset_password(
    staff: StaffActor,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    Json(req): Json<PasswordReset>,
) -> AppResult<Json<StaffRecord>> {
    Ok(Json(
        staff_admin::reset_password(
            &state.store,
            Administrator::Staff(&staff),
            id,
            &req.password,
        )
        .await?,
    ))
}

/// Sets the account's lane PIN.
#[utoipa::path(put, path = "/staff/{id}/pin", tag = "staff", security(("staff" = [])), request_body = PinRequest,
    params(("id" = Uuid, Path, description = "Staff id")),
    responses((status = 200, body = StaffRecord), (status = 403, body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
async fn set_pin(
    staff: StaffActor,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    Json(req): Json<PinRequest>,
) -> AppResult<Json<StaffRecord>> {
    Ok(Json(
        staff_admin::set_pin(
            &state.store,
            Administrator::Staff(&staff),
            id,
            Some(&req.pin),
        )
        .await?,
    ))
}

/// Removes the account's lane PIN (it can no longer log in at a lane).
#[utoipa::path(delete, path = "/staff/{id}/pin", tag = "staff", security(("staff" = [])),
    params(("id" = Uuid, Path, description = "Staff id")),
    responses((status = 200, body = StaffRecord), (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)))]
async fn clear_pin(
    staff: StaffActor,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
) -> AppResult<Json<StaffRecord>> {
    Ok(Json(
        staff_admin::set_pin(&state.store, Administrator::Staff(&staff), id, None).await?,
    ))
}

/// Changes the caller's own password (the only thing a session may do after a reset); the
/// caller's other sessions end.
#[utoipa::path(post, path = "/auth/password", tag = "auth", security(("staff" = [])), request_body = PasswordChange,
    responses((status = 200), (status = 401, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
async fn change_own_password(
    staff: StaffActor,
    State(state): State<AppState>,
    headers: HeaderMap,
    Json(req): Json<PasswordChange>,
) -> AppResult<Json<serde_json::Value>> {
    let session = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|t| token_hash(t.trim()));
    staff_admin::change_own_password(
        &state.store,
        &staff,
        session.as_deref(),
        &req.old_password,
        &req.password,
    )
    .await?;
    Ok(Json(serde_json::json!({"ok": true})))
}
