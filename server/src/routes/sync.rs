//! Inbound sync from the middle platform (中台, head office's credential): stock levels, member
//! tiers and rights, price lists. Each a batch checked line by line by
//! [`crate::app::platform_sync`]; see docs/CONTRACTS.md, "Middle-platform sync".

use axum::extract::State;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::Json;
use crate::actor::{Role, StaffActor};
use crate::app::platform_sync::{
    self as sync_app, MemberTiersReport, MemberTiersRequest, PriceListReport, PriceListRequest,
    StockLevelsReport, StockLevelsRequest,
};
use crate::app::AppState;
use crate::error::AppResult;

/// Sync routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(stock_levels))
        .routes(routes!(member_tiers))
        .routes(routes!(price_lists))
}

/// Sets absolute stock levels (on hand, reserved units included) per (SKU, location), each with
/// the platform's sequence number: a line whose sequence is not above the last applied one is
/// skipped as `stale`; a bad line (unknown SKU or location, negative count, sequence below 1) is
/// `rejected` with its error and changes nothing; the good lines are applied together as
/// `count_adjustment` movements (reason `platform_sync`). A retry with the same `batch_id`
/// answers the first answer; the same id with other content is 409 `id_in_use`. Head office.
#[utoipa::path(post, path = "/sync/stock-levels", tag = "sync", security(("staff" = [])),
    request_body = StockLevelsRequest,
    responses((status = 200, body = StockLevelsReport),
        (status = 403, body = crate::error::ErrorBody),
        (status = 409, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody)))]
async fn stock_levels(
    staff: StaffActor,
    State(state): State<AppState>,
    Json(req): Json<StockLevelsRequest>,
) -> AppResult<Json<StockLevelsReport>> {
    staff.require(&[Role::HeadOfficeAdmin])?;
    Ok(Json(
        sync_app::push_stock_levels(&state, &staff.actor(), &req).await?,
    ))
}

/// Sets members' tiers and/or rights, each with the platform's sequence number (stale changes
/// skipped, bad ones rejected per change). A tier set here wins over the member's growth at once:
/// in prices and points online and at the lanes, which are told on
/// `retail/v1/stores/{store}/members`. Idempotent by `batch_id` (409 `id_in_use` for other
/// content). Head office.
#[utoipa::path(post, path = "/sync/member-tiers", tag = "sync", security(("staff" = [])),
    request_body = MemberTiersRequest,
    responses((status = 200, body = MemberTiersReport),
        (status = 403, body = crate::error::ErrorBody),
        (status = 409, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody)))]
async fn member_tiers(
    staff: StaffActor,
    State(state): State<AppState>,
    Json(req): Json<MemberTiersRequest>,
) -> AppResult<Json<MemberTiersReport>> {
    staff.require(&[Role::HeadOfficeAdmin])?;
    Ok(Json(
        sync_app::push_member_tiers(&state, &staff.actor(), &req).await?,
    ))
}

/// Applies a price list: chain prices (`store` absent or `all`) and store prices, in fen, each
/// checked as a console price change is (bad lines rejected per line) and applied through the
/// same writes (audited, shelf labels queued, lanes told); a line starting later is kept and
/// applied when it starts. Idempotent by `list_id` (409 `id_in_use` for other content). Head
/// office.
#[utoipa::path(post, path = "/sync/price-lists", tag = "sync", security(("staff" = [])),
    request_body = PriceListRequest,
    responses((status = 200, body = PriceListReport),
        (status = 403, body = crate::error::ErrorBody),
        (status = 409, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody)))]
async fn price_lists(
    staff: StaffActor,
    State(state): State<AppState>,
    Json(req): Json<PriceListRequest>,
) -> AppResult<Json<PriceListReport>> {
    staff.require(&[Role::HeadOfficeAdmin])?;
    Ok(Json(
        sync_app::push_price_list(&state, &staff.actor(), &req).await?,
    ))
}
