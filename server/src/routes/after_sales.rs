//! After-sales (售后) through the API (issue 16). The shopper — whoever holds the order's access
//! token (`X-Order-Token`, from `POST /orders`) — asks for a refund only, a return or an
//! exchange of units of a fulfilled order, follows the case, answers the store's question,
//! ships the goods back with a waybill and rates the service. Store managers of the order's
//! store or warehouse and head office review the queue: approve, reject with a reason, ask for
//! more information, receive and inspect the goods (the refund goes out), ship an exchange's
//! replacement. Head office sets the rules and reads the ratings report. Thin over
//! [`crate::app::after_sales`].

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::HeaderMap;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::{Json, Path, Query};
use crate::actor::{Caller, Role, StaffActor};
use crate::app::after_sales::{self, AfterSaleRequest};
use crate::app::AppState;
use crate::error::AppResult;
use crate::storage;
use crate::storage::after_sales::{AfterSale, AfterSaleRules, RatingsReport};
use crate::storage::paging::{self, Cursor, Page};

/// After-sale routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(
            OpenApiRouter::new()
                .routes(routes!(upload_photo))
                .layer(DefaultBodyLimit::max(super::MAX_PHOTO_BODY_BYTES)),
        )
        .routes(routes!(request, of_order))
        .routes(routes!(queue))
        .routes(routes!(get_case))
        .routes(routes!(answer))
        .routes(routes!(ship_back))
        .routes(routes!(rate))
        .routes(routes!(approve))
        .routes(routes!(reject))
        .routes(routes!(ask_info))
        .routes(routes!(receive))
        .routes(routes!(ship_replacement))
        .routes(routes!(rules, set_rules))
        .routes(routes!(ratings))
}

/// The actor name of a shopper acting through an order's access token.
const SHOPPER: &str = "shopper";

/// Uploads one photo for an after-sale request of the order (its access token): the body is the
/// image itself (JPEG, PNG or WebP), checked before decoding (size, dimensions), re-encoded as
/// JPEG without metadata and thumbnailed. Put the answer's `full.name` in the request's
/// `photos`. A bad image is 422 (`image_empty`, `image_too_large`, `not_an_image`,
/// `image_dimensions_too_large`, `image_unreadable`) and keeps nothing.
#[utoipa::path(post, path = "/orders/{id}/after-sales/photos", tag = "after-sales",
    request_body(content = Vec<u8>, content_type = "application/octet-stream", description = "the image's bytes"),
    security(()), params(("id" = Uuid, Path, description = "order id")),
    responses((status = 200, body = crate::app::media::StoredImage), (status = 401, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
async fn upload_photo(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<Uuid>,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> AppResult<Json<crate::app::media::StoredImage>> {
    super::orders::require_order_access(&state, None, &headers, id).await?;
    Ok(Json(super::store_shopper_photo(&state, body).await?))
}

/// Asks for an after-sale of units of a delivered, collected or completed order: `refund_only`,
/// `return_refund` or `exchange`, per line and quantity, with a reason code, a description and
/// up to 6 photos (image ids). Needs the order's access token. Errors (nothing changes): 422 on
/// a bad shape, an unknown reason, more than 6 photos, or `refund_exceeds_paid`; 409
/// `not_fulfilled` (cancel the order instead), `outside_return_window`, `return_exceeds_sale`,
/// `after_sale_open` (the line has a case in progress), `id_in_use`. A retry with the same id
/// answers the first case. Under the auto-approval amount it is approved at once (a refund only
/// refunded at once).
#[utoipa::path(post, path = "/orders/{id}/after-sales", tag = "after-sales", request_body = AfterSaleRequest,
    security(()), params(("id" = Uuid, Path, description = "order id")),
    responses((status = 200, body = AfterSale), (status = 401, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody)))]
async fn request(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<Uuid>,
    Json(req): Json<AfterSaleRequest>,
) -> AppResult<Json<AfterSale>> {
    super::orders::require_order_access(&state, None, &headers, id).await?;
    Ok(Json(after_sales::request(&state, SHOPPER, id, &req).await?))
}

/// An order's after-sales, newest first, with their timelines: for the order's access token or
/// its store's staff.
#[utoipa::path(get, path = "/orders/{id}/after-sales", tag = "after-sales",
    security((), ("staff" = [])), params(("id" = Uuid, Path, description = "order id")),
    responses((status = 200, body = [AfterSale]), (status = 401, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody)))]
async fn of_order(
    caller: Option<Caller>,
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<Uuid>,
) -> AppResult<Json<Vec<AfterSale>>> {
    super::orders::require_order_access(&state, caller.as_ref(), &headers, id).await?;
    Ok(Json(
        storage::after_sales::of_order(&state.store, id).await?,
    ))
}

/// The case `id` for whoever may see it: the order's access token or its store's staff.
async fn visible(
    state: &AppState,
    caller: Option<&Caller>,
    headers: &HeaderMap,
    id: Uuid,
) -> AppResult<AfterSale> {
    let case = after_sales::found(state, id).await?;
    super::orders::require_order_access(state, caller, headers, case.order_id).await?;
    Ok(case)
}

/// One after-sale with its lines, photos and timeline: for its order's access token or its
/// store's staff.
#[utoipa::path(get, path = "/after-sales/{id}", tag = "after-sales",
    security((), ("staff" = [])), params(("id" = Uuid, Path, description = "after-sale id")),
    responses((status = 200, body = AfterSale), (status = 401, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody)))]
async fn get_case(
    caller: Option<Caller>,
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<Uuid>,
) -> AppResult<Json<AfterSale>> {
    Ok(Json(visible(&state, caller.as_ref(), &headers, id).await?))
}

/// The shopper's answer to the store's question.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AnswerRequest {
    /// The answer (at most 500 characters).
    pub answer: String,
}

/// The shopper answers the store's question (the order's access token); the case waits for
/// review again. 409 `after_sale_state` when nothing was asked.
#[utoipa::path(post, path = "/after-sales/{id}/answer", tag = "after-sales", request_body = AnswerRequest,
    security(()), params(("id" = Uuid, Path, description = "after-sale id")),
    responses((status = 200, body = AfterSale), (status = 401, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody)))]
async fn answer(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<Uuid>,
    Json(req): Json<AnswerRequest>,
) -> AppResult<Json<AfterSale>> {
    visible(&state, None, &headers, id).await?;
    Ok(Json(
        after_sales::answer(&state, SHOPPER, id, &req.answer).await?,
    ))
}

/// A carrier and waybill.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = ReturnWaybill)]
pub struct Waybill {
    /// The carrier (1 to 40 characters).
    pub carrier: String,
    /// The waybill number (1 to 40 characters).
    pub waybill: String,
}

/// The shopper ships the goods of an approved return or exchange back (the order's access
/// token). 409 `after_sale_state` unless approved.
#[utoipa::path(post, path = "/after-sales/{id}/ship-back", tag = "after-sales", request_body = Waybill,
    security(()), params(("id" = Uuid, Path, description = "after-sale id")),
    responses((status = 200, body = AfterSale), (status = 401, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody)))]
async fn ship_back(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<Uuid>,
    Json(req): Json<Waybill>,
) -> AppResult<Json<AfterSale>> {
    visible(&state, None, &headers, id).await?;
    Ok(Json(
        after_sales::ship_back(&state, SHOPPER, id, &req.carrier, &req.waybill).await?,
    ))
}

/// The shopper's rating of the service.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RatingRequest {
    /// 1 to 5.
    pub rating: i64,
    /// A comment (at most 500 characters).
    #[serde(default)]
    pub comment: String,
}

/// The shopper rates a finished case's service once (the order's access token); again answers
/// the first rating. 409 `after_sale_state` while the case is open.
#[utoipa::path(post, path = "/after-sales/{id}/rating", tag = "after-sales", request_body = RatingRequest,
    security(()), params(("id" = Uuid, Path, description = "after-sale id")),
    responses((status = 200, body = AfterSale), (status = 401, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody)))]
async fn rate(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<Uuid>,
    Json(req): Json<RatingRequest>,
) -> AppResult<Json<AfterSale>> {
    visible(&state, None, &headers, id).await?;
    Ok(Json(
        after_sales::rate(&state, SHOPPER, id, req.rating, &req.comment).await?,
    ))
}

/// The review queue's filter and page.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct QueueQuery {
    /// Only this location (store managers: their own, the default).
    pub location_id: Option<String>,
    /// Finished cases too (default: open ones only).
    pub all: Option<bool>,
    /// `next_cursor` of the previous page (with the same filter); a cursor that is not one is
    /// a 400 `bad_cursor`.
    pub cursor: Option<String>,
    /// Page size (1–200, default 50).
    pub limit: Option<i64>,
}

/// A page of the after-sales to review, oldest first: every location's for head office (or
/// one), their own store's for a store manager, the cases about its own goods for a merchant
/// administrator; 403 for cashiers and other stores.
/// `next_cursor` is absent on the last page.
#[utoipa::path(get, path = "/after-sales", tag = "after-sales", security(("staff" = [])), params(QueueQuery),
    responses((status = 200, body = Page<AfterSale>), (status = 403, body = crate::error::ErrorBody)))]
async fn queue(
    staff: StaffActor,
    State(state): State<AppState>,
    Query(q): Query<QueueQuery>,
) -> AppResult<Json<Page<AfterSale>>> {
    if staff.role == Role::MerchantAdmin {
        let cursor = Cursor::parse(q.cursor.as_deref())?;
        return Ok(Json(
            after_sales::merchant_queue(
                &state,
                &staff,
                q.all.unwrap_or(false),
                cursor.as_ref(),
                paging::api_limit(q.limit),
            )
            .await?,
        ));
    }
    let scope = after_sales::reviewer_scope(&staff)?;
    let location = match (scope, q.location_id) {
        (None, location) => location,
        (Some(_), Some(asked)) => {
            staff.require_store(&asked)?;
            Some(asked)
        }
        (Some(own), None) => Some(own),
    };
    let cursor = Cursor::parse(q.cursor.as_deref())?;
    let page = storage::after_sales::queue(
        &state.store,
        location.as_deref(),
        q.all.unwrap_or(false),
        cursor.as_ref(),
        paging::api_limit(q.limit),
    )
    .await?;
    Ok(Json(page))
}

/// Approves a case waiting for review (store manager of the order's store or warehouse, or head
/// office; audited): a refund only is refunded at once through the original tenders, a return
/// or exchange waits for the goods. Again answers the case; 409 `after_sale_state` otherwise.
#[utoipa::path(post, path = "/after-sales/{id}/approve", tag = "after-sales", security(("staff" = [])),
    params(("id" = Uuid, Path, description = "after-sale id")),
    responses((status = 200, body = AfterSale), (status = 403, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)))]
async fn approve(
    staff: StaffActor,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
) -> AppResult<Json<AfterSale>> {
    Ok(Json(after_sales::approve(&state, &staff, id).await?))
}

/// Why a case is rejected.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RejectRequest {
    /// The reason (1 to 200 characters, one line).
    pub reason: String,
}

/// Rejects a case waiting for review with a reason (audited). Again answers the case.
#[utoipa::path(post, path = "/after-sales/{id}/reject", tag = "after-sales", request_body = RejectRequest,
    security(("staff" = [])), params(("id" = Uuid, Path, description = "after-sale id")),
    responses((status = 200, body = AfterSale), (status = 403, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody)))]
async fn reject(
    staff: StaffActor,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    Json(req): Json<RejectRequest>,
) -> AppResult<Json<AfterSale>> {
    Ok(Json(
        after_sales::reject(&state, &staff, id, &req.reason).await?,
    ))
}

/// The store's question.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QuestionRequest {
    /// The question (1 to 500 characters, one line).
    pub question: String,
}

/// Asks the shopper for more information (audited); the case waits for their answer.
#[utoipa::path(post, path = "/after-sales/{id}/ask-info", tag = "after-sales", request_body = QuestionRequest,
    security(("staff" = [])), params(("id" = Uuid, Path, description = "after-sale id")),
    responses((status = 200, body = AfterSale), (status = 403, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody)))]
async fn ask_info(
    staff: StaffActor,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    Json(req): Json<QuestionRequest>,
) -> AppResult<Json<AfterSale>> {
    Ok(Json(
        after_sales::ask_info(&state, &staff, id, &req.question).await?,
    ))
}

/// The inspection of goods received.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = AfterSaleReceiveRequest)]
pub struct ReceiveRequest {
    /// `resaleable` (back to stock) or `damaged` (to the damaged location, or written off).
    pub inspection: String,
}

/// Goods of an approved return or exchange received and inspected (audited): a return is
/// refunded at once through the original tenders; an exchange waits for its replacement.
#[utoipa::path(post, path = "/after-sales/{id}/receive", tag = "after-sales", request_body = ReceiveRequest,
    security(("staff" = [])), params(("id" = Uuid, Path, description = "after-sale id")),
    responses((status = 200, body = AfterSale), (status = 403, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody)))]
async fn receive(
    staff: StaffActor,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    Json(req): Json<ReceiveRequest>,
) -> AppResult<Json<AfterSale>> {
    Ok(Json(
        after_sales::receive(&state, &staff, id, &req.inspection).await?,
    ))
}

/// Ships a received exchange's replacement (audited).
#[utoipa::path(post, path = "/after-sales/{id}/ship-replacement", tag = "after-sales", request_body = Waybill,
    security(("staff" = [])), params(("id" = Uuid, Path, description = "after-sale id")),
    responses((status = 200, body = AfterSale), (status = 403, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody)))]
async fn ship_replacement(
    staff: StaffActor,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    Json(req): Json<Waybill>,
) -> AppResult<Json<AfterSale>> {
    Ok(Json(
        after_sales::ship_replacement(&state, &staff, id, &req.carrier, &req.waybill).await?,
    ))
}

/// The after-sale rules (any staff may read them).
#[utoipa::path(get, path = "/after-sales/rules", tag = "after-sales", security(("staff" = [])),
    responses((status = 200, body = AfterSaleRules)))]
async fn rules(
    _staff: StaffActor,
    State(state): State<AppState>,
) -> AppResult<Json<AfterSaleRules>> {
    Ok(Json(storage::after_sales::rules(&state.store).await?))
}

/// Replaces the after-sale rules (head office; audited).
#[utoipa::path(put, path = "/after-sales/rules", tag = "after-sales", request_body = AfterSaleRules,
    security(("staff" = [])),
    responses((status = 200, body = AfterSaleRules), (status = 403, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody)))]
async fn set_rules(
    staff: StaffActor,
    State(state): State<AppState>,
    Json(req): Json<AfterSaleRules>,
) -> AppResult<Json<AfterSaleRules>> {
    Ok(Json(after_sales::set_rules(&state, &staff, &req).await?))
}

/// Ratings and reasons by store and product (head office).
#[utoipa::path(get, path = "/after-sales/ratings", tag = "after-sales", security(("staff" = [])),
    responses((status = 200, body = RatingsReport), (status = 403, body = crate::error::ErrorBody)))]
async fn ratings(
    staff: StaffActor,
    State(state): State<AppState>,
) -> AppResult<Json<RatingsReport>> {
    staff.require(&[Role::HeadOfficeAdmin])?;
    Ok(Json(
        storage::after_sales::ratings_report(&state.store).await?,
    ))
}
