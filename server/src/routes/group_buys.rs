//! Group-buy (拼团) over the API: head office creates, lists (with participants, teams and GMV),
//! pauses and resumes group-buys; a member (their current member code in `X-Member-Code`) opens
//! a team or joins one by placing its order at the group price; anyone reads a team and the
//! group-buys running on a SKU ([`crate::app::group_buys`]).

use axum::extract::State;
use axum::http::HeaderMap;
use retail_domain::order::Fulfilment;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::{Json, Path};
use crate::actor::{ClientAddr, StaffActor};
use crate::app::checkout::{self, Address};
use crate::app::group_buys::{
    self, GroupBuyReport, Joined, NewGroupBuy, RunningGroupBuy, SeatOrder, Target, TeamView,
};
use crate::app::AppState;
use crate::error::AppResult;
use crate::storage::group_buys::GroupBuy;

/// Group-buy routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create, list))
        .routes(routes!(pause))
        .routes(routes!(resume))
        .routes(routes!(open_team))
        .routes(routes!(join_team))
        .routes(routes!(get_team))
        .routes(routes!(running_for_sku))
}

/// Creates a group-buy on a SKU (head office; by client id: a retry answers the first one):
/// group price, team size (2–50), hours to fill, per-member limit, window, units set aside, new
/// members only. Audited as `group_buy.create`.
#[utoipa::path(post, path = "/group-buys", tag = "group-buys", security(("staff" = [])),
    request_body = NewGroupBuy,
    responses((status = 200, body = GroupBuy), (status = 403, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody)))]
async fn create(
    staff: StaffActor,
    State(state): State<AppState>,
    Json(req): Json<NewGroupBuy>,
) -> AppResult<Json<GroupBuy>> {
    Ok(Json(group_buys::create(&state, &staff, &req).await?))
}

/// Every group-buy (newest first, at most 200) with its figures: teams open, filled and failed,
/// participants, GMV of the filled teams (head office).
#[utoipa::path(get, path = "/group-buys", tag = "group-buys", security(("staff" = [])),
    responses((status = 200, body = Vec<GroupBuyReport>), (status = 403, body = crate::error::ErrorBody)))]
async fn list(
    staff: StaffActor,
    State(state): State<AppState>,
) -> AppResult<Json<Vec<GroupBuyReport>>> {
    staff.require(&[crate::actor::Role::HeadOfficeAdmin])?;
    Ok(Json(group_buys::list_with_reports(&state).await?))
}

/// Pauses a group-buy: no team opens or is joined; open teams run to their deadline.
#[utoipa::path(post, path = "/group-buys/{id}/pause", tag = "group-buys", security(("staff" = [])),
    params(("id" = Uuid, Path, description = "the group-buy")),
    responses((status = 200, body = GroupBuy), (status = 403, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody)))]
async fn pause(
    staff: StaffActor,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
) -> AppResult<Json<GroupBuy>> {
    Ok(Json(
        group_buys::set_paused(&state, &staff, id, true).await?,
    ))
}

/// Resumes a paused group-buy.
#[utoipa::path(post, path = "/group-buys/{id}/resume", tag = "group-buys", security(("staff" = [])),
    params(("id" = Uuid, Path, description = "the group-buy")),
    responses((status = 200, body = GroupBuy), (status = 403, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody)))]
async fn resume(
    staff: StaffActor,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
) -> AppResult<Json<GroupBuy>> {
    Ok(Json(
        group_buys::set_paused(&state, &staff, id, false).await?,
    ))
}

/// A member's order for a seat in a team.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SeatRequest {
    /// The order's client id (UUIDv7); a retry with the same id answers the first result.
    pub id: Uuid,
    /// Units (1 to the group-buy's per-member limit).
    #[serde(default = "one")]
    pub qty: i64,
    /// `delivery` or `pickup` (at `store`).
    pub fulfilment: Fulfilment,
    /// The pickup store (pickup orders).
    #[serde(default)]
    pub store: Option<String>,
    /// Delivery address (delivery orders; this or `address_id`).
    #[serde(default)]
    pub address: Option<Address>,
    /// One of the member's saved addresses, instead of `address`.
    #[serde(default)]
    pub address_id: Option<Uuid>,
    /// Delivery time slot (empty: any time).
    #[serde(default)]
    pub slot: String,
}

fn one() -> i64 {
    1
}

async fn seat(
    state: &AppState,
    headers: &HeaderMap,
    client: ClientAddr,
    target: Target,
    req: SeatRequest,
) -> AppResult<Joined> {
    let member = super::member_from_headers(state, headers)?;
    let address =
        checkout::resolve_address(state, Some(member), req.address, req.address_id).await?;
    group_buys::take_seat(
        state,
        target,
        SeatOrder {
            order_id: req.id,
            member,
            qty: req.qty,
            fulfilment: req.fulfilment,
            store: req.store,
            address,
            slot: req.slot,
            created_by: "shop".into(),
            client,
        },
    )
    .await
}

/// Opens a team of a group-buy: the member's order at the group price is placed (reserving its
/// stock, to pay before its deadline) and holds the team's first seat. The team fills when all
/// its seats are paid, then every order goes on to fulfilment; unfilled at its deadline, every
/// order is cancelled and refunded. 409: `group_buy_not_running`, `group_buy_sold_out`,
/// `group_buy_limit`, `new_members_only`, or the order's own (`out_of_stock`, …).
#[utoipa::path(post, path = "/group-buys/{id}/teams", tag = "group-buys",
    params(("id" = Uuid, Path, description = "the group-buy"),
        ("X-Member-Code" = String, Header, description = "the member's current member code (MC1)")),
    request_body = SeatRequest,
    responses((status = 200, body = Joined), (status = 401, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody), (status = 429, body = crate::error::ErrorBody)))]
async fn open_team(
    client: ClientAddr,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    headers: HeaderMap,
    Json(req): Json<SeatRequest>,
) -> AppResult<Json<Joined>> {
    Ok(Json(
        seat(&state, &headers, client, Target::Open(id), req).await?,
    ))
}

/// Joins an open team: the member's order at the group price takes a seat. 409: `team_full`,
/// `team_closed` (past its deadline or failed), `already_joined`, `group_buy_sold_out`,
/// `group_buy_limit`, `group_buy_not_running` (paused), `new_members_only`, or the order's own.
/// Nothing is changed when refused.
#[utoipa::path(post, path = "/group-teams/{team_id}/join", tag = "group-buys",
    params(("team_id" = Uuid, Path, description = "the team"),
        ("X-Member-Code" = String, Header, description = "the member's current member code (MC1)")),
    request_body = SeatRequest,
    responses((status = 200, body = Joined), (status = 401, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody), (status = 429, body = crate::error::ErrorBody)))]
async fn join_team(
    client: ClientAddr,
    State(state): State<AppState>,
    Path(team_id): Path<Uuid>,
    headers: HeaderMap,
    Json(req): Json<SeatRequest>,
) -> AppResult<Json<Joined>> {
    Ok(Json(
        seat(&state, &headers, client, Target::Join(team_id), req).await?,
    ))
}

/// A team as its share page shows it: members masked, seats left, seconds left.
#[utoipa::path(get, path = "/group-teams/{team_id}", tag = "group-buys",
    params(("team_id" = Uuid, Path, description = "the team")),
    responses((status = 200, body = TeamView), (status = 404, body = crate::error::ErrorBody)))]
async fn get_team(
    State(state): State<AppState>,
    Path(team_id): Path<Uuid>,
) -> AppResult<Json<TeamView>> {
    Ok(Json(group_buys::team_view(&state, team_id).await?))
}

/// The group-buys running on a SKU now, each with its open teams (seats left, deadlines).
#[utoipa::path(get, path = "/skus/{sku_id}/group-buys", tag = "group-buys",
    params(("sku_id" = Uuid, Path, description = "the SKU")),
    responses((status = 200, body = Vec<RunningGroupBuy>)))]
async fn running_for_sku(
    State(state): State<AppState>,
    Path(sku_id): Path<Uuid>,
) -> AppResult<Json<Vec<RunningGroupBuy>>> {
    Ok(Json(group_buys::running_for_sku(&state, sku_id).await?))
}
