//! Bargain (砍价) over the API: head office creates, lists (with their figures), reports on,
//! pauses and resumes bargains; a member (their current member code in `X-Member-Code`) starts
//! a run, helps someone else's, and buys their own at its price; anyone reads a run (its helps
//! so far, never the cuts to come) and the bargains running on a SKU
//! ([`crate::app::bargains`]).

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
use crate::app::bargains::{
    self, BargainBought, BargainHelped, BargainReport, BargainRunView, BuyOrder, NewBargain,
};
use crate::app::checkout::{self, Address};
use crate::app::AppState;
use crate::error::AppResult;
use crate::storage::bargains::Bargain;

/// Bargain routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create, list))
        .routes(routes!(report))
        .routes(routes!(pause))
        .routes(routes!(resume))
        .routes(routes!(start))
        .routes(routes!(get_run))
        .routes(routes!(help))
        .routes(routes!(buy))
        .routes(routes!(running_for_sku))
}

/// Creates a bargain on a SKU (head office; by client id: a retry answers the first one): start
/// and floor price, helps to reach the floor (2–100), hours a run lasts, runs per member,
/// window, units set aside, helpers must be new members. Audited as `bargain.create`.
#[utoipa::path(post, path = "/bargains", tag = "bargains", security(("staff" = [])),
    request_body = NewBargain,
    responses((status = 200, body = Bargain), (status = 403, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody)))]
async fn create(
    staff: StaffActor,
    State(state): State<AppState>,
    Json(req): Json<NewBargain>,
) -> AppResult<Json<Bargain>> {
    Ok(Json(bargains::create(&state, &staff, &req).await?))
}

/// Every bargain (newest first, at most 200) with its figures: runs started, helps, runs bought
/// and paid, conversion, GMV, discount cost (head office).
#[utoipa::path(get, path = "/bargains", tag = "bargains", security(("staff" = [])),
    responses((status = 200, body = Vec<BargainReport>), (status = 403, body = crate::error::ErrorBody)))]
async fn list(
    staff: StaffActor,
    State(state): State<AppState>,
) -> AppResult<Json<Vec<BargainReport>>> {
    Ok(Json(bargains::list_with_reports(&state, &staff).await?))
}

/// One bargain with its figures (head office).
#[utoipa::path(get, path = "/bargains/{id}", tag = "bargains", security(("staff" = [])),
    params(("id" = Uuid, Path, description = "the bargain")),
    responses((status = 200, body = BargainReport), (status = 403, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody)))]
async fn report(
    staff: StaffActor,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
) -> AppResult<Json<BargainReport>> {
    Ok(Json(bargains::report(&state, &staff, id).await?))
}

/// Pauses a bargain: no run starts and none is helped; started runs may still be bought before
/// their deadline.
#[utoipa::path(post, path = "/bargains/{id}/pause", tag = "bargains", security(("staff" = [])),
    params(("id" = Uuid, Path, description = "the bargain")),
    responses((status = 200, body = Bargain), (status = 403, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody)))]
async fn pause(
    staff: StaffActor,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
) -> AppResult<Json<Bargain>> {
    Ok(Json(bargains::set_paused(&state, &staff, id, true).await?))
}

/// Resumes a paused bargain.
#[utoipa::path(post, path = "/bargains/{id}/resume", tag = "bargains", security(("staff" = [])),
    params(("id" = Uuid, Path, description = "the bargain")),
    responses((status = 200, body = Bargain), (status = 403, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody)))]
async fn resume(
    staff: StaffActor,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
) -> AppResult<Json<Bargain>> {
    Ok(Json(bargains::set_paused(&state, &staff, id, false).await?))
}

/// A client id for a write (UUIDv7): a retry with the same id answers the first result.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BargainClientId {
    /// The client id.
    pub id: Uuid,
}

/// Starts a run of a bargain for the member (the id is the run's: a retry answers the same
/// run). Its schedule of cuts is drawn now and never shown. 409: `bargain_not_running`,
/// `bargain_sold_out`, `bargain_limit`, `id_taken`.
#[utoipa::path(post, path = "/bargains/{id}/runs", tag = "bargains",
    params(("id" = Uuid, Path, description = "the bargain"),
        ("X-Member-Code" = String, Header, description = "the member's current member code (MC1)")),
    request_body = BargainClientId,
    responses((status = 200, body = BargainRunView), (status = 401, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody)))]
async fn start(
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    headers: HeaderMap,
    Json(req): Json<BargainClientId>,
) -> AppResult<Json<BargainRunView>> {
    let member = super::member_from_headers(&state, &headers)?;
    Ok(Json(bargains::start(&state, id, req.id, member).await?))
}

/// A run as its share page shows it: prices (start, now, floor), progress, the helps so far
/// with the helpers' nicknames masked, seconds left.
#[utoipa::path(get, path = "/bargain-runs/{run_id}", tag = "bargains",
    params(("run_id" = Uuid, Path, description = "the run")),
    responses((status = 200, body = BargainRunView), (status = 404, body = crate::error::ErrorBody)))]
async fn get_run(
    State(state): State<AppState>,
    Path(run_id): Path<Uuid>,
) -> AppResult<Json<BargainRunView>> {
    Ok(Json(bargains::run_view(&state, run_id).await?))
}

/// The member helps someone's run: the price falls by the next cut of its schedule (the id is
/// the help's: a retry answers the first help). 409, nothing changed: `own_bargain`,
/// `already_helped`, `daily_help_limit`, `bargain_expired`, `bargain_finished` (at its floor),
/// `bargain_bought`, `bargain_not_running` (paused), `new_members_only`, `id_taken`.
#[utoipa::path(post, path = "/bargain-runs/{run_id}/help", tag = "bargains",
    params(("run_id" = Uuid, Path, description = "the run"),
        ("X-Member-Code" = String, Header, description = "the member's current member code (MC1)")),
    request_body = BargainClientId,
    responses((status = 200, body = BargainHelped), (status = 401, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody)))]
async fn help(
    State(state): State<AppState>,
    Path(run_id): Path<Uuid>,
    headers: HeaderMap,
    Json(req): Json<BargainClientId>,
) -> AppResult<Json<BargainHelped>> {
    let member = super::member_from_headers(&state, &headers)?;
    Ok(Json(bargains::help(&state, run_id, member, req.id).await?))
}

/// The starter's order for their run.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BuyRequest {
    /// The order's client id (UUIDv7); a retry with the same id answers the first result.
    pub id: Uuid,
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

/// The starter buys their run at its current price: one unit, an order through the normal
/// order and payment path, priced by the engine with the bargain price as a promotion line
/// ("砍价 …"), to pay before its deadline. Once per run. 409, nothing changed:
/// `bargain_expired`, `bargain_bought`, `bargain_sold_out`, or the order's own
/// (`out_of_stock`, …); 403 for anyone but the starter.
#[utoipa::path(post, path = "/bargain-runs/{run_id}/buy", tag = "bargains",
    params(("run_id" = Uuid, Path, description = "the run"),
        ("X-Member-Code" = String, Header, description = "the member's current member code (MC1)")),
    request_body = BuyRequest,
    responses((status = 200, body = BargainBought), (status = 401, body = crate::error::ErrorBody),
        (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody),
        (status = 409, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody),
        (status = 429, body = crate::error::ErrorBody)))]
async fn buy(
    client: ClientAddr,
    State(state): State<AppState>,
    Path(run_id): Path<Uuid>,
    headers: HeaderMap,
    Json(req): Json<BuyRequest>,
) -> AppResult<Json<BargainBought>> {
    let member = super::member_from_headers(&state, &headers)?;
    let address =
        checkout::resolve_address(&state, Some(member), req.address, req.address_id).await?;
    Ok(Json(
        bargains::buy(
            &state,
            run_id,
            BuyOrder {
                order_id: req.id,
                member,
                fulfilment: req.fulfilment,
                store: req.store,
                address,
                slot: req.slot,
                created_by: "shop".into(),
                client,
            },
        )
        .await?,
    ))
}

/// The bargains running on a SKU now.
#[utoipa::path(get, path = "/skus/{sku_id}/bargains", tag = "bargains",
    params(("sku_id" = Uuid, Path, description = "the SKU")),
    responses((status = 200, body = Vec<Bargain>)))]
async fn running_for_sku(
    State(state): State<AppState>,
    Path(sku_id): Path<Uuid>,
) -> AppResult<Json<Vec<Bargain>>> {
    Ok(Json(bargains::running_for_sku(&state, sku_id).await?))
}
