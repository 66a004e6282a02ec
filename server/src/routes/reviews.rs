//! Reviews with photos (晒单, issue 18) through the API. Anyone reads a product's published
//! reviews with their summary (average, counts per star, how many with photos). The shopper —
//! whoever holds the order's access token (`X-Order-Token`) — uploads photos, reviews a line of a
//! completed order, reads the order's reviews and adds one follow-up. Head office moderates: the
//! queue of held reviews, approve, hide with a reason, hide a follow-up, the merchant's reply,
//! and the rules (banned words, links, points). "Helpful" votes are the shop's (a logged-in
//! member). Thin over [`crate::app::reviews`].

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::HeaderMap;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::orders::require_order_access;
use super::{Json, Path, Query};
use crate::actor::{Caller, StaffActor};
use crate::app::reviews::{self, FollowUpRequest, ReviewRequest, Shopper};
use crate::app::AppState;
use crate::error::{AppError, AppResult};
use crate::storage;
use crate::storage::paging::{self, Cursor, Page};
use crate::storage::reviews::{
    ProductFilter, PublicReview, QueueFilter, Review, ReviewRules, ReviewSummary,
};

/// Review routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(
            OpenApiRouter::new()
                .routes(routes!(upload_photo))
                .layer(DefaultBodyLimit::max(super::MAX_PHOTO_BODY_BYTES)),
        )
        .routes(routes!(of_product))
        .routes(routes!(write, of_order))
        .routes(routes!(follow_up))
        .routes(routes!(queue))
        .routes(routes!(get_review))
        .routes(routes!(approve))
        .routes(routes!(hide))
        .routes(routes!(hide_follow_up))
        .routes(routes!(reply))
        .routes(routes!(rules, set_rules))
}

/// A product's reviews: which, and the page.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ProductReviewsQuery {
    /// Only reviews with photos.
    pub with_photos: Option<bool>,
    /// Only this rating (1–5).
    pub rating: Option<i64>,
    /// `next_cursor` of the previous page (with the same filter); a cursor that is not one is
    /// a 400 `bad_cursor`.
    pub cursor: Option<String>,
    /// Page size (1–200, default 50).
    pub limit: Option<i64>,
}

/// A product's published reviews: the summary and a page.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProductReviews {
    /// All published reviews in numbers (whatever the filter).
    pub summary: ReviewSummary,
    /// The page asked for, newest first.
    pub page: Page<PublicReview>,
}

/// A product's published reviews (public): the summary — count, average rating, counts per
/// star, how many with photos — and a page newest first, optionally only those with photos or
/// of one rating. No member or order is shown. 404 for an unknown product; 422 for a rating
/// outside 1–5.
#[utoipa::path(get, path = "/products/{id}/reviews", tag = "reviews",
    params(("id" = Uuid, Path, description = "product id"), ProductReviewsQuery),
    responses((status = 200, body = ProductReviews), (status = 404, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody)))]
async fn of_product(
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    Query(q): Query<ProductReviewsQuery>,
) -> AppResult<Json<ProductReviews>> {
    if let Some(rating) = q.rating {
        if !(1..=5).contains(&rating) {
            return Err(AppError::field("rating", "1 to 5"));
        }
    }
    if storage::catalog::product(&state.store, id).await?.is_none() {
        return Err(AppError::not_found(format!("product {id} not found")));
    }
    let cursor = Cursor::parse(q.cursor.as_deref())?;
    let filter = ProductFilter {
        with_photos: q.with_photos.unwrap_or(false),
        rating: q.rating,
    };
    Ok(Json(ProductReviews {
        summary: storage::reviews::summary(&state.store, id).await?,
        page: storage::reviews::product_page(
            &state.store,
            id,
            filter,
            cursor.as_ref(),
            paging::api_limit(q.limit),
        )
        .await?,
    }))
}

/// Uploads one photo for a review of the order (its access token), exactly like an after-sale
/// photo: the body is the image (JPEG, PNG or WebP), checked before decoding, re-encoded as
/// JPEG without metadata and thumbnailed. Put the answer's `full.name` in the review's
/// `photos`. A bad image is 422 (`image_empty`, `image_too_large`, `not_an_image`,
/// `image_dimensions_too_large`, `image_unreadable`) and keeps nothing.
#[utoipa::path(post, path = "/orders/{id}/reviews/photos", tag = "reviews",
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
    require_order_access(&state, None, &headers, id).await?;
    Ok(Json(super::store_shopper_photo(&state, body).await?))
}

/// Reviews one line of a completed order (delivered, collected or completed; the order's access
/// token): a rating 1–5, a text of at most 500 characters and up to 9 photos. Published at
/// once — earning the points of head office's rule — unless held for moderation (a banned
/// word, too many links, a text the member wrote before). Errors (nothing changes): 422 on a
/// bad shape, a rating outside 1–5, a text too long, more than 9 photos (`too_many_photos`), a
/// photo never uploaded, a line the order does not have; 409 `not_completed`, `no_member`,
/// `already_reviewed`, `id_in_use`. A retry with the same id answers the first review.
#[utoipa::path(post, path = "/orders/{id}/reviews", tag = "reviews", request_body = ReviewRequest,
    security(()), params(("id" = Uuid, Path, description = "order id")),
    responses((status = 200, body = Review), (status = 401, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody)))]
async fn write(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<Uuid>,
    Json(req): Json<ReviewRequest>,
) -> AppResult<Json<Review>> {
    require_order_access(&state, None, &headers, id).await?;
    Ok(Json(
        reviews::write(&state, Shopper::OrderToken, id, &req).await?,
    ))
}

/// An order's reviews, by line, whatever their status: for the order's access token or its
/// store's staff.
#[utoipa::path(get, path = "/orders/{id}/reviews", tag = "reviews",
    security((), ("staff" = [])), params(("id" = Uuid, Path, description = "order id")),
    responses((status = 200, body = [Review]), (status = 401, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody)))]
async fn of_order(
    caller: Option<Caller>,
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<Uuid>,
) -> AppResult<Json<Vec<Review>>> {
    require_order_access(&state, caller.as_ref(), &headers, id).await?;
    Ok(Json(storage::reviews::of_order(&state.store, id).await?))
}

/// Adds the one follow-up (追评) to a review (its order's access token): 1 to 500 characters and
/// up to 9 photos, held or published by the same rules. A retry with the same id answers the
/// review; 409 `follow_up_exists` for a second one, `review_hidden` for a hidden review.
#[utoipa::path(post, path = "/reviews/{id}/follow-up", tag = "reviews", request_body = FollowUpRequest,
    security(()), params(("id" = Uuid, Path, description = "review id")),
    responses((status = 200, body = Review), (status = 401, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody)))]
async fn follow_up(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<Uuid>,
    Json(req): Json<FollowUpRequest>,
) -> AppResult<Json<Review>> {
    let review = reviews::found(&state, id).await?;
    require_order_access(&state, None, &headers, review.order_id).await?;
    Ok(Json(
        reviews::follow_up(&state, Shopper::OrderToken, id, &req).await?,
    ))
}

/// The moderation queue's filter and page.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct QueueQuery {
    /// `held` (the default: held reviews and held follow-ups, oldest first), `published`,
    /// `hidden` or `all` (newest first).
    pub status: Option<QueueFilter>,
    /// `next_cursor` of the previous page (with the same filter); a cursor that is not one is
    /// a 400 `bad_cursor`.
    pub cursor: Option<String>,
    /// Page size (1–200, default 50).
    pub limit: Option<i64>,
}

/// A page of reviews for moderation (head office).
#[utoipa::path(get, path = "/reviews", tag = "reviews", security(("staff" = [])), params(QueueQuery),
    responses((status = 200, body = Page<Review>), (status = 403, body = crate::error::ErrorBody)))]
async fn queue(
    staff: StaffActor,
    State(state): State<AppState>,
    Query(q): Query<QueueQuery>,
) -> AppResult<Json<Page<Review>>> {
    reviews::require_moderator(&staff)?;
    let cursor = Cursor::parse(q.cursor.as_deref())?;
    Ok(Json(
        storage::reviews::queue(
            &state.store,
            q.status.unwrap_or_default(),
            cursor.as_ref(),
            paging::api_limit(q.limit),
        )
        .await?,
    ))
}

/// One review, whatever its status (head office).
#[utoipa::path(get, path = "/reviews/{id}", tag = "reviews", security(("staff" = [])),
    params(("id" = Uuid, Path, description = "review id")),
    responses((status = 200, body = Review), (status = 403, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody)))]
async fn get_review(
    staff: StaffActor,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
) -> AppResult<Json<Review>> {
    reviews::require_moderator(&staff)?;
    Ok(Json(reviews::found(&state, id).await?))
}

/// Publishes what of a review is held or hidden (head office; audited): the review earns its
/// points (once), a held follow-up shows. Again answers the review.
#[utoipa::path(post, path = "/reviews/{id}/approve", tag = "reviews", security(("staff" = [])),
    params(("id" = Uuid, Path, description = "review id")),
    responses((status = 200, body = Review), (status = 403, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody)))]
async fn approve(
    staff: StaffActor,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
) -> AppResult<Json<Review>> {
    Ok(Json(reviews::approve(&state, &staff, id).await?))
}

/// Why a review (or its follow-up) is hidden.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HideRequest {
    /// The reason (1 to 200 characters, one line).
    pub reason: String,
}

/// Hides a review from the product page with a reason (head office; audited); its points are
/// taken back. Again answers the review.
#[utoipa::path(post, path = "/reviews/{id}/hide", tag = "reviews", request_body = HideRequest,
    security(("staff" = [])), params(("id" = Uuid, Path, description = "review id")),
    responses((status = 200, body = Review), (status = 403, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
async fn hide(
    staff: StaffActor,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    Json(req): Json<HideRequest>,
) -> AppResult<Json<Review>> {
    Ok(Json(reviews::hide(&state, &staff, id, &req.reason).await?))
}

/// Hides only a review's follow-up with a reason (head office; audited). 409 `no_follow_up`.
#[utoipa::path(post, path = "/reviews/{id}/follow-up/hide", tag = "reviews", request_body = HideRequest,
    security(("staff" = [])), params(("id" = Uuid, Path, description = "review id")),
    responses((status = 200, body = Review), (status = 403, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody)))]
async fn hide_follow_up(
    staff: StaffActor,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    Json(req): Json<HideRequest>,
) -> AppResult<Json<Review>> {
    Ok(Json(
        reviews::hide_follow_up(&state, &staff, id, &req.reason).await?,
    ))
}

/// The merchant's reply.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplyRequest {
    /// The reply (1 to 500 characters).
    pub reply: String,
}

/// Writes (or replaces) the merchant's reply shown under a review (head office; audited).
#[utoipa::path(post, path = "/reviews/{id}/reply", tag = "reviews", request_body = ReplyRequest,
    security(("staff" = [])), params(("id" = Uuid, Path, description = "review id")),
    responses((status = 200, body = Review), (status = 403, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
async fn reply(
    staff: StaffActor,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    Json(req): Json<ReplyRequest>,
) -> AppResult<Json<Review>> {
    Ok(Json(reviews::reply(&state, &staff, id, &req.reply).await?))
}

/// The review rules (head office).
#[utoipa::path(get, path = "/reviews/rules", tag = "reviews", security(("staff" = [])),
    responses((status = 200, body = ReviewRules), (status = 403, body = crate::error::ErrorBody)))]
async fn rules(staff: StaffActor, State(state): State<AppState>) -> AppResult<Json<ReviewRules>> {
    reviews::require_moderator(&staff)?;
    Ok(Json(storage::reviews::rules(&state.store).await?))
}

/// Replaces the review rules (head office; audited): banned words, the most links a text may
/// carry, the points a published review earns and the more with photos (0: none).
#[utoipa::path(put, path = "/reviews/rules", tag = "reviews", request_body = ReviewRules,
    security(("staff" = [])),
    responses((status = 200, body = ReviewRules), (status = 403, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody)))]
async fn set_rules(
    staff: StaffActor,
    State(state): State<AppState>,
    Json(req): Json<ReviewRules>,
) -> AppResult<Json<ReviewRules>> {
    Ok(Json(reviews::set_rules(&state, &staff, &req).await?))
}
