//! Refunds to the original tender, for staff: an order's refunds with their provider state, the
//! queue of refunds waiting for a manager's approval, approving one (which sends it) and
//! rejecting one with a reason (which closes it unsent). Thin over [`crate::app::refunds`].

use axum::extract::State;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::{Json, PageQuery, Path, Query};
use crate::actor::StaffActor;
use crate::app::refunds;
use crate::app::AppState;
use crate::error::AppResult;
use crate::storage;
use crate::storage::paging::Page;
use crate::storage::refunds::Refund;

/// Refund routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(of_order))
        .routes(routes!(awaiting_approval))
        .routes(routes!(approve))
        .routes(routes!(reject))
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

/// A page of the refunds waiting for approval (above `payments.refund_approval_above`), oldest
/// first, that the caller may approve or reject: every store's for head office, their own
/// store's for a store manager; 403 for cashiers. `next_cursor` is absent on the last page.
#[utoipa::path(get, path = "/refunds/awaiting-approval", tag = "payments", security(("staff" = [])),
    params(PageQuery),
    responses((status = 200, body = Page<Refund>), (status = 403, body = crate::error::ErrorBody)))]
async fn awaiting_approval(
    staff: StaffActor,
    State(state): State<AppState>,
    Query(page): Query<PageQuery>,
) -> AppResult<Json<Page<Refund>>> {
    let (cursor, limit) = page.read()?;
    let waiting = refunds::awaiting_approval(&state, &staff, cursor.as_ref(), limit).await?;
    Ok(Json(Page {
        items: waiting.items.into_iter().map(|w| w.refund).collect(),
        next_cursor: waiting.next_cursor,
    }))
}

/// Approves a refund waiting for approval and sends it: a store manager of the order's store or
/// head office (403 otherwise). Approving it again answers it as it stands; 409
/// `not_awaiting_approval` when it was rejected or never needed approval.
#[utoipa::path(post, path = "/refunds/{id}/approve", tag = "payments", security(("staff" = [])),
    params(("id" = Uuid, Path, description = "refund id")),
    responses((status = 200, body = Refund), (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody),
        (status = 409, body = crate::error::ErrorBody)))]
async fn approve(
    staff: StaffActor,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
) -> AppResult<Json<Refund>> {
    Ok(Json(refunds::approve(&state, &staff, id).await?))
}

/// Why a refund is rejected.
#[derive(Debug, Deserialize, ToSchema)]
pub struct RejectRefund {
    /// Why (required, at most 200 characters on one line; kept on the refund and in the audit
    /// log).
    pub reason: String,
}

/// Rejects a refund waiting for approval: it becomes `closed`, is never sent, and its amount is
/// refundable again; `rejected_by` and `rejected_reason` say who and why (audited
/// `refund.reject`). Who may: as for approving. Rejecting it again answers it as it stands (the
/// first reason kept); 409 `not_awaiting_approval` when it was approved or never needed approval;
/// 422 on `reason` when it is blank or too long.
#[utoipa::path(post, path = "/refunds/{id}/reject", tag = "payments", security(("staff" = [])),
    params(("id" = Uuid, Path, description = "refund id")),
    request_body = RejectRefund,
    responses((status = 200, body = Refund), (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody),
        (status = 409, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
async fn reject(
    staff: StaffActor,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    Json(body): Json<RejectRefund>,
) -> AppResult<Json<Refund>> {
    Ok(Json(
        refunds::reject(&state, &staff, id, &body.reason).await?,
    ))
}
