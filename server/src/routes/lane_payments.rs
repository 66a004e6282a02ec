//! A lane's provider payments: the QR a shopper scans at the till (`POST /pos/payments`), where
//! it stands, and cancelling it. The sale the lane pushes later carries the payment's id, and
//! the money is counted with the sale, once.

use axum::extract::State;
use retail_domain::money::Money;
use retail_domain::wire::sales::{CreateLanePayment, LanePayment};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::{Json, Path};
use crate::actor::{DeviceActor, DeviceKind};
use crate::app::payment_providers::Provider;
use crate::app::AppState;
use crate::error::{AppError, AppResult};
use crate::storage;

/// Lane payment routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_lane_payment))
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
    crate::app::payments::require_provider(&state, Provider::Sandbox)?;
    retail_domain::ids::require_v7(req.id).map_err(|e| AppError::field("id", e.to_string()))?;
    retail_domain::ids::require_v7(req.sale_id)
        .map_err(|e| AppError::field("sale_id", e.to_string()))?;
    if req.amount.is_negative()
        || req.amount.is_zero()
        || req.amount > Money::from_fen(MAX_LANE_QR_FEN)
    {
        return Err(AppError::field(
            "amount",
            format!("must be 0.01 to {}", Money::from_fen(MAX_LANE_QR_FEN)),
        ));
    }
    let record = storage::lane_payments::create(
        &state.store,
        &storage::lane_payments::NewLanePayment {
            id: req.id,
            sale_id: req.sale_id,
            location_id: &device.location_id,
            device_id: device.id,
            amount: req.amount,
        },
    )
    .await?;
    Ok(Json(record.to_wire(&state.public_url)))
}

/// Largest QR payment at a lane (¥1,000,000).
const MAX_LANE_QR_FEN: i64 = 100_000_000;

fn require_lane(device: &DeviceActor) -> AppResult<()> {
    if device.kind != DeviceKind::Pos {
        return Err(AppError::Forbidden(
            "only POS terminals take QR payments at a lane".into(),
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

/// A lane's QR payment: where it stands (the lane polls it while the QR is shown).
#[utoipa::path(get, path = "/pos/payments/{id}", tag = "payments", security(("device" = [])),
    params(("id" = Uuid, Path, description = "payment id")),
    responses((status = 200, body = LanePayment), (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)))]
async fn lane_payment(
    device: DeviceActor,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
) -> AppResult<Json<LanePayment>> {
    let record = own_lane_payment(&state, &device, id).await?;
    Ok(Json(record.to_wire(&state.public_url)))
}

/// Cancels a lane's QR payment that was not paid (idempotent); 409 `already_paid` when the
/// shopper paid first (the lane then takes the payment).
#[utoipa::path(post, path = "/pos/payments/{id}/cancel", tag = "payments", security(("device" = [])),
    params(("id" = Uuid, Path, description = "payment id")),
    responses((status = 200, body = LanePayment), (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody),
        (status = 409, body = crate::error::ErrorBody)))]
async fn cancel_lane_payment(
    device: DeviceActor,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
) -> AppResult<Json<LanePayment>> {
    own_lane_payment(&state, &device, id).await?;
    let record = storage::lane_payments::cancel(&state.store, id, &device.location_id).await?;
    Ok(Json(record.to_wire(&state.public_url)))
}
