//! A lane's provider payments: the QR a shopper scans at the till (`POST /pos/payments`), the
//! payment code (付款码) a lane scans from the shopper's phone (`POST /pos/payments/code`), where
//! a payment stands, and cancelling (reversing) it. The sale the lane pushes later carries the
//! payment's id, and the money is counted with the sale, once. The use cases are
//! [`crate::app::lane_payments`].

use axum::extract::State;
use retail_domain::wire::sales::{CreateCodePayment, CreateLanePayment, LanePayment};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::{Json, Path};
use crate::actor::{ClientAddr, DeviceActor, DeviceKind};
use crate::app::{lane_payments, AppState};
use crate::error::{AppError, AppResult};
use crate::storage;

/// Lane payment routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_lane_payment))
        .routes(routes!(create_code_payment))
        .routes(routes!(lane_payment))
        .routes(routes!(cancel_lane_payment))
}

/// Starts a QR payment at a lane for (part of) the sale being rung up; a retry with the same id
/// answers the same intent. The shopper scans `pay_url`; the lane polls
/// `GET /pos/payments/{id}` until it is `succeeded`, then completes the tender, and the sale it
/// pushes later carries the payment's id (the server counts the money with the sale, once).
#[utoipa::path(post, path = "/pos/payments", tag = "payments", security(("device" = [])),
    request_body = CreateLanePayment,
    responses((status = 200, body = LanePayment), (status = 403, body = crate::error::ErrorBody),
        (status = 409, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
async fn create_lane_payment(
    device: DeviceActor,
    State(state): State<AppState>,
    Json(req): Json<CreateLanePayment>,
) -> AppResult<Json<LanePayment>> {
    require_lane(&device)?;
    let record = lane_payments::create_qr_payment(&state, &device, &req).await?;
    Ok(Json(record.to_wire(&state.public_url)))
}

/// Charges the payment code (付款码) the lane scanned from the shopper's phone, with the provider
/// that issued it (WeChat Pay or Alipay; the sandbox in demo mode when that one is not
/// configured; 503 naming the provider otherwise). The payment is recorded before the provider
/// is asked. The answer says where it stands: `succeeded` (take the tender, `provider_ref` is
/// the provider's transaction id), `user_paying` (the shopper is entering their PIN: poll
/// `GET /pos/payments/{id}`), `failed` (`failure` says why), or `pending` (the provider's answer
/// is not known yet: poll). A retry with the same id charges nothing again.
#[utoipa::path(post, path = "/pos/payments/code", tag = "payments", security(("device" = [])),
    request_body = CreateCodePayment,
    responses((status = 200, body = LanePayment), (status = 403, body = crate::error::ErrorBody),
        (status = 409, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
async fn create_code_payment(
    device: DeviceActor,
    client: ClientAddr,
    State(state): State<AppState>,
    Json(req): Json<CreateCodePayment>,
) -> AppResult<Json<LanePayment>> {
    require_lane(&device)?;
    let record = lane_payments::create_code_payment(&state, &device, client.0, &req).await?;
    Ok(Json(record.to_wire(&state.public_url)))
}

fn require_lane(device: &DeviceActor) -> AppResult<()> {
    if device.kind != DeviceKind::Pos {
        return Err(AppError::Forbidden(
            "only POS terminals take payments at a lane".into(),
        ));
    }
    Ok(())
}

async fn own_lane_payment(
    state: &AppState,
    device: &DeviceActor,
    id: Uuid,
) -> AppResult<storage::lane_payments::LanePaymentRecord> {
    require_lane(device)?;
    let record = storage::lane_payments::get(&state.store, id)
        .await?
        .ok_or_else(|| AppError::not_found(format!("lane payment {id} not found")))?;
    if record.location_id != device.location_id {
        return Err(AppError::Forbidden(
            "this payment belongs to another store".into(),
        ));
    }
    Ok(record)
}

/// A lane's payment: where it stands (the lane polls it while the QR is shown or the shopper
/// confirms a payment code). An open payment code is asked about at its provider first, at most
/// once a second.
#[utoipa::path(get, path = "/pos/payments/{id}", tag = "payments", security(("device" = [])),
    params(("id" = Uuid, Path, description = "payment id")),
    responses((status = 200, body = LanePayment), (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)))]
async fn lane_payment(
    device: DeviceActor,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
) -> AppResult<Json<LanePayment>> {
    let record = own_lane_payment(&state, &device, id).await?;
    let record = lane_payments::refresh(&state, record).await?;
    Ok(Json(record.to_wire(&state.public_url)))
}

/// Cancels a lane's payment that was not paid (idempotent): a QR intent is cancelled, an open
/// payment code is reversed (撤销) at its provider (503 when the provider does not answer: the
/// payment stays open, try again; 409 `reversal_refused` when it refuses). 409 `already_paid`
/// when the shopper paid first (the lane then takes the payment).
#[utoipa::path(post, path = "/pos/payments/{id}/cancel", tag = "payments", security(("device" = [])),
    params(("id" = Uuid, Path, description = "payment id")),
    responses((status = 200, body = LanePayment), (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody),
        (status = 409, body = crate::error::ErrorBody)))]
async fn cancel_lane_payment(
    device: DeviceActor,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
) -> AppResult<Json<LanePayment>> {
    let record = own_lane_payment(&state, &device, id).await?;
    let record = lane_payments::cancel(&state, record).await?;
    Ok(Json(record.to_wire(&state.public_url)))
}
