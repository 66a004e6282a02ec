//! Refunds to the original tender, for staff: an order's refunds with their provider state, the
//! queue of refunds waiting for a manager's approval, and approving one (which sends it).

use axum::extract::State;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::{Json, Path};
use crate::actor::{Role, StaffActor};
use crate::app::AppState;
use crate::error::AppResult;
use crate::storage;
use crate::storage::refunds::Refund;

/// Refund routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(of_order))
        .routes(routes!(awaiting_approval))
        .routes(routes!(approve))
}

/// An order's refunds through its providers, oldest first, each with where it stands at the
/// provider (`awaiting_approval`, `pending`, `processing`, `success`, `closed`, `abnormal`).
#[utoipa::path(get, path = "/orders/{id}/refunds", tag = "payments", security(("staff" = [])),
    params(("id" = Uuid, Path, description = "order id")),
    responses((status = 200, body = [Refund]), (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)))]
async fn of_order(
    staff: StaffActor,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
) -> AppResult<Json<Vec<Refund>>> {
    let head = storage::orders::head(state.store.reader(), id).await?;
    staff.require_store(&head.location_id)?;
    Ok(Json(storage::refunds::of_order(&state.store, id).await?))
}

/// Refunds waiting for approval (above `payments.refund_approval_above`), oldest first: every
/// store's for head office, their own store's for a store manager.
#[utoipa::path(get, path = "/refunds/awaiting-approval", tag = "payments", security(("staff" = [])),
    responses((status = 200, body = [Refund]), (status = 403, body = crate::error::ErrorBody)))]
async fn awaiting_approval(
    staff: StaffActor,
    State(state): State<AppState>,
) -> AppResult<Json<Vec<Refund>>> {
    staff.require(&[Role::HeadOfficeAdmin, Role::StoreManager])?;
    Ok(Json(
        storage::refunds::awaiting_approval(&state.store, 500)
            .await?
            .into_iter()
            .filter(|(_, store)| staff.require_store(store).is_ok())
            .map(|(refund, _)| refund)
            .collect(),
    ))
}

/// Approves a refund waiting for approval and sends it to its provider: a store manager of the
/// order's store or head office; 409 `not_awaiting_approval` when it is not waiting.
#[utoipa::path(post, path = "/refunds/{id}/approve", tag = "payments", security(("staff" = [])),
    params(("id" = Uuid, Path, description = "refund id")),
    responses((status = 200, body = Refund), (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody),
        (status = 409, body = crate::error::ErrorBody)))]
async fn approve(
    staff: StaffActor,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
) -> AppResult<Json<Refund>> {
    Ok(Json(
        crate::app::refunds::approve(&state, &staff, id).await?,
    ))
}
