//! A product's images over the API (head office): upload one (the image's bytes as the body,
//! JPEG, PNG or WebP; idempotent by `client_id`), list, reorder, remove. Uploads are checked
//! before decoding and re-encoded server-side ([`crate::app::media`]); a refused one is a 422
//! (`image_too_large`, `not_an_image`, `image_dimensions_too_large`, `image_unreadable`,
//! `image_empty`) and keeps nothing.

use axum::body::Body;
use axum::extract::{DefaultBodyLimit, State};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::{Json, Path, Query};
use crate::actor::{Role, StaffActor};
use crate::app::media::MediaError;
use crate::app::{product_images, AppState};
use crate::error::AppResult;
use crate::storage::product_images::ProductImage;

/// Product image routes (the upload reads its own body, up to the configured image size).
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, upload))
        .layer(DefaultBodyLimit::disable())
        .routes(routes!(reorder))
        .routes(routes!(remove))
}

/// The upload's idempotency key.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UploadQuery {
    /// A UUIDv7 the client makes once per image: a retry answers the image it added.
    pub client_id: Uuid,
}

/// A new order of a product's images.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ImageOrder {
    /// Every image id of the product, first to last.
    pub order: Vec<Uuid>,
}

/// A product's images, in order (head office).
#[utoipa::path(get, path = "/products/{id}/images", tag = "catalog", security(("staff" = [])),
    params(("id" = Uuid, Path, description = "product id")),
    responses((status = 200, body = [ProductImage]), (status = 403, body = crate::error::ErrorBody)))]
async fn list(
    staff: StaffActor,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
) -> AppResult<Json<Vec<ProductImage>>> {
    staff.require(&[Role::HeadOfficeAdmin])?;
    Ok(Json(
        crate::storage::product_images::list(&state.store, id).await?,
    ))
}

/// Uploads an image of a product (head office; audited): the body is the image file itself.
/// It is checked (size, then the pixel size its header declares, before anything is decoded),
/// re-encoded as JPEG without metadata and thumbnailed (160/480/960 px wide), and added after
/// the product's other images.
#[utoipa::path(post, path = "/products/{id}/images", tag = "catalog", security(("staff" = [])),
    params(("id" = Uuid, Path, description = "product id"), UploadQuery),
    request_body(content = Vec<u8>, content_type = "application/octet-stream", description = "a JPEG, PNG or WebP file"),
    responses((status = 200, body = ProductImage), (status = 403, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody)))]
async fn upload(
    staff: StaffActor,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    Query(q): Query<UploadQuery>,
    body: Body,
) -> AppResult<Json<ProductImage>> {
    staff.require(&[Role::HeadOfficeAdmin])?;
    let max_bytes = state.settings.media.max_upload_bytes;
    // One byte over the limit is enough to know it is too large; nothing more is read.
    let bytes = axum::body::to_bytes(body, max_bytes)
        .await
        .map_err(|_| MediaError::TooLarge { max_bytes })?;
    Ok(Json(
        product_images::add(&state, &staff.actor(), id, q.client_id, bytes).await?,
    ))
}

/// Puts a product's images in a new order (head office; audited): every image exactly once.
#[utoipa::path(put, path = "/products/{id}/images/order", tag = "catalog", security(("staff" = [])),
    params(("id" = Uuid, Path, description = "product id")), request_body = ImageOrder,
    responses((status = 200, body = [ProductImage]), (status = 403, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
async fn reorder(
    staff: StaffActor,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    Json(req): Json<ImageOrder>,
) -> AppResult<Json<Vec<ProductImage>>> {
    staff.require(&[Role::HeadOfficeAdmin])?;
    Ok(Json(
        product_images::reorder(&state, &staff.actor(), id, &req.order).await?,
    ))
}

/// Removes an image of a product (head office; audited).
#[utoipa::path(delete, path = "/products/{id}/images/{image_id}", tag = "catalog", security(("staff" = [])),
    params(("id" = Uuid, Path, description = "product id"), ("image_id" = Uuid, Path, description = "image id")),
    responses((status = 200, body = ProductImage), (status = 403, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody)))]
async fn remove(
    staff: StaffActor,
    State(state): State<AppState>,
    Path((id, image_id)): Path<(Uuid, Uuid)>,
) -> AppResult<Json<ProductImage>> {
    staff.require(&[Role::HeadOfficeAdmin])?;
    Ok(Json(
        product_images::remove(&state, &staff.actor(), id, image_id).await?,
    ))
}
