//! Label scales (issue 21; docs/CONTRACTS.md, "Label scales"): a store's PLU list for its edge
//! agent (with an `ETag`, so an unchanged list costs a 304) and for staff, and head office's
//! scale items on SKUs.

use axum::extract::State;
use axum::http::header::{ETAG, IF_NONE_MATCH};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use retail_domain::wire::scales::ScalePluList;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::{Json, Path};
use crate::actor::{DeviceActor, Role, StaffActor};
use crate::app::scales::{item, plu_list, remove_item, set_item, ScaleItemInput};
use crate::app::AppState;
use crate::error::{AppError, AppResult};
use crate::storage::scales::ScaleItem;

/// Label-scale routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(my_scale_plus))
        .routes(routes!(store_scale_plus))
        .routes(routes!(put_scale_item, get_scale_item, delete_scale_item))
}

/// The list, or 304 when the caller's `If-None-Match` names its version.
fn answer(headers: &HeaderMap, list: ScalePluList) -> Response {
    let tag = format!("\"{}\"", list.version);
    let etag = HeaderValue::from_str(&tag).unwrap_or_else(|_| HeaderValue::from_static("\"\""));
    let unchanged = headers
        .get(IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == tag));
    if unchanged {
        return (StatusCode::NOT_MODIFIED, [(ETAG, etag)]).into_response();
    }
    ([(ETAG, etag)], Json(list)).into_response()
}

/// The calling device's store's PLU list for its label scales (edge agents poll it with
/// `If-None-Match`; docs/CONTRACTS.md, "Label scales").
#[utoipa::path(get, path = "/devices/me/scale-plus", tag = "devices", security(("device" = [])),
    responses((status = 200, body = ScalePluList), (status = 304, description = "unchanged since the version in If-None-Match"),
        (status = 401, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)))]
async fn my_scale_plus(
    device: DeviceActor,
    State(state): State<AppState>,
    headers: HeaderMap,
) -> AppResult<Response> {
    let list = plu_list(&state, &device.location_id).await?;
    Ok(answer(&headers, list))
}

/// A store's PLU list as its scales get it (staff of the store, head office).
#[utoipa::path(get, path = "/stores/{store}/scale-plus", tag = "catalog", security(("staff" = [])),
    params(("store" = String, Path, description = "store code")),
    responses((status = 200, body = ScalePluList), (status = 304, description = "unchanged since the version in If-None-Match"),
        (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody),
        (status = 409, body = crate::error::ErrorBody)))]
async fn store_scale_plus(
    staff: StaffActor,
    State(state): State<AppState>,
    Path(store): Path<String>,
    headers: HeaderMap,
) -> AppResult<Response> {
    staff.require_store(&store)?;
    let list = plu_list(&state, &store).await?;
    Ok(answer(&headers, list))
}

/// Sets a SKU's label-scale item: PLU, scale key, tare, shelf life (head office; idempotent;
/// audited `scale_item.set`).
#[utoipa::path(put, path = "/skus/{sku_id}/scale-item", tag = "catalog", security(("staff" = [])),
    params(("sku_id" = Uuid, Path, description = "the SKU")),
    request_body = ScaleItemInput,
    responses((status = 200, body = ScaleItem), (status = 403, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody)))]
async fn put_scale_item(
    staff: StaffActor,
    State(state): State<AppState>,
    Path(sku_id): Path<Uuid>,
    Json(input): Json<ScaleItemInput>,
) -> AppResult<Json<ScaleItem>> {
    staff.require(&[Role::HeadOfficeAdmin])?;
    Ok(Json(
        set_item(&state, sku_id, &input, &staff.actor()).await?,
    ))
}

/// A SKU's label-scale item (staff).
#[utoipa::path(get, path = "/skus/{sku_id}/scale-item", tag = "catalog", security(("staff" = [])),
    params(("sku_id" = Uuid, Path, description = "the SKU")),
    responses((status = 200, body = ScaleItem), (status = 404, body = crate::error::ErrorBody)))]
async fn get_scale_item(
    _staff: StaffActor,
    State(state): State<AppState>,
    Path(sku_id): Path<Uuid>,
) -> AppResult<Json<ScaleItem>> {
    item(&state, sku_id)
        .await?
        .map(Json)
        .ok_or_else(|| AppError::not_found(format!("SKU {sku_id} is not sold through the scales")))
}

/// Takes a SKU off the label scales (head office; idempotent; audited `scale_item.remove`).
#[utoipa::path(delete, path = "/skus/{sku_id}/scale-item", tag = "catalog", security(("staff" = [])),
    params(("sku_id" = Uuid, Path, description = "the SKU")),
    responses((status = 204, description = "removed, or was not on the scales"),
        (status = 403, body = crate::error::ErrorBody)))]
async fn delete_scale_item(
    staff: StaffActor,
    State(state): State<AppState>,
    Path(sku_id): Path<Uuid>,
) -> AppResult<StatusCode> {
    staff.require(&[Role::HeadOfficeAdmin])?;
    remove_item(&state, sku_id, &staff.actor()).await?;
    Ok(StatusCode::NO_CONTENT)
}
