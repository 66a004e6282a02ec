//! Points-mall goods over the API: head office offers SKUs for points (create, list with
//! figures, pause, resume); anyone reads what is offered now; a member (their current member code
//! in `X-Member-Code`) redeems an item for pickup or delivery ([`crate::app::points_mall`]).
//! Coupons bought with points are in `routes::coupons`.

use axum::extract::State;
use axum::http::HeaderMap;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::group_buys::SeatRequest;
use super::{Json, Path};
use crate::actor::{ClientAddr, StaffActor};
use crate::app::checkout;
use crate::app::points_mall::{self, GoodsReport, NewGoods, Redeem, Redeemed, ShopGoods};
use crate::app::AppState;
use crate::error::AppResult;
use crate::storage::points_mall::Goods;

/// Points-mall goods routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create, running))
        .routes(routes!(list))
        .routes(routes!(pause))
        .routes(routes!(resume))
        .routes(routes!(redeem))
}

/// Offers a SKU for points (head office; by client id: a retry answers the first): points per
/// unit, units set aside, per-member limit, window. Audited as `points_mall.goods_create`.
#[utoipa::path(post, path = "/points-mall/goods", tag = "points-mall", security(("staff" = [])),
    request_body = NewGoods,
    responses((status = 200, body = Goods), (status = 403, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody)))]
async fn create(
    staff: StaffActor,
    State(state): State<AppState>,
    Json(req): Json<NewGoods>,
) -> AppResult<Json<Goods>> {
    Ok(Json(points_mall::create(&state, &staff, &req).await?))
}

/// What can be redeemed for points now (fewest points first), with units left.
#[utoipa::path(get, path = "/points-mall/goods", tag = "points-mall",
    responses((status = 200, body = Vec<ShopGoods>)))]
async fn running(State(state): State<AppState>) -> AppResult<Json<Vec<ShopGoods>>> {
    Ok(Json(points_mall::running(&state).await?))
}

/// Every item (newest first, at most 200) with its figures: members, units and points kept
/// (head office).
#[utoipa::path(get, path = "/points-mall/goods/all", tag = "points-mall", security(("staff" = [])),
    responses((status = 200, body = Vec<GoodsReport>), (status = 403, body = crate::error::ErrorBody)))]
async fn list(
    staff: StaffActor,
    State(state): State<AppState>,
) -> AppResult<Json<Vec<GoodsReport>>> {
    staff.require(&[crate::actor::Role::HeadOfficeAdmin])?;
    Ok(Json(points_mall::list_with_reports(&state).await?))
}

/// Pauses an item: nothing is redeemed while paused.
#[utoipa::path(post, path = "/points-mall/goods/{id}/pause", tag = "points-mall", security(("staff" = [])),
    params(("id" = Uuid, Path, description = "the item")),
    responses((status = 200, body = Goods), (status = 403, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody)))]
async fn pause(
    staff: StaffActor,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
) -> AppResult<Json<Goods>> {
    Ok(Json(
        points_mall::set_paused(&state, &staff, id, true).await?,
    ))
}

/// Resumes a paused item.
#[utoipa::path(post, path = "/points-mall/goods/{id}/resume", tag = "points-mall", security(("staff" = [])),
    params(("id" = Uuid, Path, description = "the item")),
    responses((status = 200, body = Goods), (status = 403, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody)))]
async fn resume(
    staff: StaffActor,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
) -> AppResult<Json<Goods>> {
    Ok(Json(
        points_mall::set_paused(&state, &staff, id, false).await?,
    ))
}

/// Redeems an item for points: the points and the units are taken together, and an order for
/// the item at price 0 is placed — paid at once for pickup; a delivery order's shipping fee is
/// paid as for any order. 409: `points_goods_not_running`, `points_goods_sold_out`,
/// `points_goods_limit`, `insufficient_points`, or the order's own (`out_of_stock`, …); nothing
/// is changed when refused. A retry with the same order id answers the first result.
#[utoipa::path(post, path = "/points-mall/goods/{id}/redeem", tag = "points-mall",
    params(("id" = Uuid, Path, description = "the item"),
        ("X-Member-Code" = String, Header, description = "the member's current member code (MC1)")),
    request_body = SeatRequest,
    responses((status = 200, body = Redeemed), (status = 401, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody), (status = 429, body = crate::error::ErrorBody)))]
async fn redeem(
    client: ClientAddr,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    headers: HeaderMap,
    Json(req): Json<SeatRequest>,
) -> AppResult<Json<Redeemed>> {
    let member = super::member_from_headers(&state, &headers)?;
    let address =
        checkout::resolve_address(&state, Some(member), req.address, req.address_id).await?;
    Ok(Json(
        points_mall::redeem(
            &state,
            id,
            Redeem {
                order_id: req.id,
                member,
                qty: req.qty,
                fulfilment: req.fulfilment,
                store: req.store,
                address,
                slot: req.slot,
                client,
            },
        )
        .await?,
    ))
}
