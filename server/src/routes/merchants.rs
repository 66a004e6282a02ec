//! Merchants (B2B2C): head office admits and reviews merchants and their products and sets the
//! platform's commission rates; a merchant administrator reads its own merchant
//! ([`crate::app::merchants`]).

use axum::extract::State;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::{Json, Path, Query};
use crate::actor::StaffActor;
use crate::app::merchants::{
    self as merchants_app, CommissionRateRequest, MerchantDecision, MerchantRequest,
    ProductDecision, ReviewDecision,
};
use crate::app::AppState;
use crate::error::AppResult;
use crate::storage::catalog::ProductDetail;
use crate::storage::merchants::{MerchantRecord, MerchantStatus, PlatformCommissionRate};

/// Merchant routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(get))
        .routes(routes!(review))
        .routes(routes!(review_product))
        .routes(routes!(commission_rates, set_commission_rate))
}

/// Which merchants to list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MerchantQuery {
    /// Only merchants in this status.
    pub status: Option<MerchantStatus>,
}

/// The merchants: all of them for head office, its own for a merchant administrator.
#[utoipa::path(get, path = "/merchants", tag = "merchants", security(("staff" = [])),
    params(MerchantQuery),
    responses((status = 200, body = [MerchantRecord]), (status = 403, body = crate::error::ErrorBody)))]
async fn list(
    staff: StaffActor,
    State(state): State<AppState>,
    Query(query): Query<MerchantQuery>,
) -> AppResult<Json<Vec<MerchantRecord>>> {
    Ok(Json(
        merchants_app::list(&state.store, &staff, query.status).await?,
    ))
}

/// Admits a merchant, `pending` until approved (head office; idempotent by its code; audited).
#[utoipa::path(post, path = "/merchants", tag = "merchants", security(("staff" = [])),
    request_body = MerchantRequest,
    responses((status = 200, body = MerchantRecord), (status = 403, body = crate::error::ErrorBody),
        (status = 409, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
async fn create(
    staff: StaffActor,
    State(state): State<AppState>,
    Json(req): Json<MerchantRequest>,
) -> AppResult<Json<MerchantRecord>> {
    Ok(Json(
        merchants_app::create(&state.store, &staff, &req).await?,
    ))
}

/// One merchant (head office; a merchant administrator, its own: another's is 404).
#[utoipa::path(get, path = "/merchants/{id}", tag = "merchants", security(("staff" = [])),
    params(("id" = String, Path, description = "merchant code")),
    responses((status = 200, body = MerchantRecord), (status = 403, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody)))]
async fn get(
    staff: StaffActor,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> AppResult<Json<MerchantRecord>> {
    Ok(Json(merchants_app::get(&state.store, &staff, &id).await?))
}

/// Approves, rejects, suspends or reinstates a merchant (head office; audited). Suspending
/// takes its products off the shelf.
#[utoipa::path(put, path = "/merchants/{id}/review", tag = "merchants", security(("staff" = [])),
    params(("id" = String, Path, description = "merchant code")),
    request_body = ReviewDecision<MerchantDecision>,
    responses((status = 200, body = MerchantRecord), (status = 403, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody)))]
async fn review(
    staff: StaffActor,
    State(state): State<AppState>,
    Path(id): Path<String>,
    Json(req): Json<ReviewDecision<MerchantDecision>>,
) -> AppResult<Json<MerchantRecord>> {
    Ok(Json(
        merchants_app::review(&state, &staff, &id, &req).await?,
    ))
}

/// Approves or rejects a merchant's product (head office; audited). A rejected product leaves
/// the shelf; an approved one may be put on it by its merchant.
#[utoipa::path(put, path = "/products/{id}/review", tag = "merchants", security(("staff" = [])),
    params(("id" = Uuid, Path, description = "product id")),
    request_body = ReviewDecision<ProductDecision>,
    responses((status = 200, body = ProductDetail), (status = 403, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody)))]
async fn review_product(
    staff: StaffActor,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    Json(req): Json<ReviewDecision<ProductDecision>>,
) -> AppResult<Json<ProductDetail>> {
    Ok(Json(
        merchants_app::review_product(&state, &staff, id, &req).await?,
    ))
}

/// The platform's commission rates (head office: all; a merchant administrator: the defaults
/// and its own).
#[utoipa::path(get, path = "/commission-rates", tag = "merchants", security(("staff" = [])),
    responses((status = 200, body = [PlatformCommissionRate]), (status = 403, body = crate::error::ErrorBody)))]
async fn commission_rates(
    staff: StaffActor,
    State(state): State<AppState>,
) -> AppResult<Json<Vec<PlatformCommissionRate>>> {
    Ok(Json(
        merchants_app::commission_rates(&state.store, &staff).await?,
    ))
}

/// Sets or removes a commission rate of a merchant (or `*`, every merchant) in a category
/// (head office; audited as `commission.rate`).
#[utoipa::path(put, path = "/commission-rates", tag = "merchants", security(("staff" = [])),
    request_body = CommissionRateRequest,
    responses((status = 200, body = [PlatformCommissionRate]), (status = 403, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody)))]
async fn set_commission_rate(
    staff: StaffActor,
    State(state): State<AppState>,
    Json(req): Json<CommissionRateRequest>,
) -> AppResult<Json<Vec<PlatformCommissionRate>>> {
    Ok(Json(
        merchants_app::set_commission_rate(&state.store, &staff, &req).await?,
    ))
}
