//! POS sales and returns: the lanes' sale push (docs/DESIGN.md §5), returns of sales and collected or
//! delivered online orders, and a sale with its returns.

use axum::extract::{DefaultBodyLimit, State};
use retail_domain::wire::sales::{CreateReturn, PushSales, PushSalesResult, ReturnResult};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::{Json, Path};
use crate::actor::{Caller, DeviceActor};
use crate::app::AppState;
use crate::error::AppResult;
use crate::storage;
use crate::storage::sales::SaleView;

/// Largest push body: 500 sales of many lines are several megabytes of JSON.
const MAX_PUSH_BYTES: usize = 64 * 1024 * 1024;

/// Sales routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(push))
        .layer(DefaultBodyLimit::max(MAX_PUSH_BYTES))
        .routes(routes!(get_sale))
        .routes(routes!(create_return))
}

/// Pushes a batch of completed sales (at most 500) from a POS lane.
///
/// An idempotent upsert by sale id, all in one transaction: each sale is answered `applied`
/// (stored now, with the server's order number and the points earned), `duplicate` (stored by an
/// earlier push; nothing changed) or `rejected` (bad data, with the reason; not stored, and the
/// other sales are not affected). Stock is decremented at once and never refused (on hand may go
/// negative after offline sales). Stored balance and points payments are charged here,
/// idempotently by payment id, so a charge made online at the till is not repeated.
#[utoipa::path(post, path = "/pos/sales", tag = "sales", security(("device" = [])), request_body = PushSales,
    responses((status = 200, body = PushSalesResult), (status = 401, body = crate::error::ErrorBody),
        (status = 403, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
async fn push(
    device: DeviceActor,
    State(state): State<AppState>,
    Json(req): Json<PushSales>,
) -> AppResult<Json<PushSalesResult>> {
    let results = crate::app::lane_sales::push(&state, &device, req.sales).await?;
    Ok(Json(PushSalesResult { results }))
}

/// A sale (or any order) with its lines, status history and returns: for the lanes of its store
/// and the store's staff.
#[utoipa::path(get, path = "/pos/sales/{id}", tag = "sales", security(("device" = []), ("staff" = [])),
    params(("id" = Uuid, Path, description = "sale id")),
    responses((status = 200, body = SaleView), (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)))]
async fn get_sale(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
) -> AppResult<Json<SaleView>> {
    let view = storage::sales::get_sale(&state.store, &state.settings.points, id).await?;
    caller.require_store(&view.sale.location_id)?;
    Ok(Json(view))
}

/// Returns items of a completed POS sale (or a picked-up or delivered online order).
///
/// Refunds what was actually paid for the returned units (for the last units of a line exactly
/// what is left of its amount), puts them back into stock at the order's location, takes back
/// the earned points proportionally and gives back the returned share of stored balance and
/// redeemed points. When everything has come back the order moves to `after_sale` → `refunded`.
/// Idempotent by the return's id: a retry answers the first result. 409 `return_exceeds_sale`
/// when more units are returned than are left on a line.
#[utoipa::path(post, path = "/returns", tag = "sales", security(("device" = []), ("staff" = [])), request_body = CreateReturn,
    responses((status = 200, body = ReturnResult), (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody),
        (status = 409, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
async fn create_return(
    caller: Caller,
    State(state): State<AppState>,
    Json(req): Json<CreateReturn>,
) -> AppResult<Json<ReturnResult>> {
    let result = crate::app::lane_sales::create_return(&state, &caller, &req).await?;
    Ok(Json(result))
}
