//! Recharge packages (充值套餐): the ones the shop offers, for anyone, and head office creating,
//! retiring and offering them again. Members recharge in the shop's member centre.

use axum::extract::State;
use retail_domain::money::Money;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::{Json, Path};
use crate::actor::StaffActor;
use crate::app::recharges::PackageAsk;
use crate::app::AppState;
use crate::error::AppResult;
use crate::storage::stored_value::RechargePackage;

/// Recharge package routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(offered, create))
        .routes(routes!(retire))
        .routes(routes!(offer))
}

/// The recharge packages the shop offers now, in its order.
#[utoipa::path(get, path = "/recharge-packages", tag = "members",
    responses((status = 200, body = [RechargePackage])))]
async fn offered(State(state): State<AppState>) -> AppResult<Json<Vec<RechargePackage>>> {
    Ok(Json(crate::app::recharges::offered(&state).await?))
}

/// A new recharge package.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreatePackage {
    /// Client id (UUID v7): a retry answers the same package.
    pub id: Uuid,
    /// Name shown in the shop (1–40 characters), e.g. `充100送10`.
    pub name: String,
    /// Paid, 1.00 to 50000.00.
    pub pay: Money,
    /// Added on top (0 to the price paid): spent last, never paid out.
    pub bonus: Money,
    /// Place in the shop's list (0–10000, smaller first).
    #[serde(default)]
    pub sort: i64,
}

/// Creates a recharge package (head office), offered at once; idempotent by its id (409
/// `id_in_use` for the same id with other values).
#[utoipa::path(post, path = "/recharge-packages", tag = "members", security(("staff" = [])), request_body = CreatePackage,
    responses((status = 200, body = RechargePackage), (status = 403, body = crate::error::ErrorBody),
        (status = 409, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
async fn create(
    staff: StaffActor,
    State(state): State<AppState>,
    Json(req): Json<CreatePackage>,
) -> AppResult<Json<RechargePackage>> {
    let ask = PackageAsk {
        id: req.id,
        name: req.name,
        pay: req.pay,
        bonus: req.bonus,
        sort: req.sort,
    };
    Ok(Json(
        crate::app::recharges::create_package(&state, &staff, &ask).await?,
    ))
}

/// Stops offering a package (head office); recharges that used it keep it.
#[utoipa::path(post, path = "/recharge-packages/{id}/retire", tag = "members", security(("staff" = [])),
    params(("id" = Uuid, Path, description = "package id")),
    responses((status = 200, body = RechargePackage), (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)))]
async fn retire(
    staff: StaffActor,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
) -> AppResult<Json<RechargePackage>> {
    Ok(Json(
        crate::app::recharges::set_package_active(&state, &staff, id, false).await?,
    ))
}

/// Offers a retired package again (head office).
#[utoipa::path(post, path = "/recharge-packages/{id}/offer", tag = "members", security(("staff" = [])),
    params(("id" = Uuid, Path, description = "package id")),
    responses((status = 200, body = RechargePackage), (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)))]
async fn offer(
    staff: StaffActor,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
) -> AppResult<Json<RechargePackage>> {
    Ok(Json(
        crate::app::recharges::set_package_active(&state, &staff, id, true).await?,
    ))
}
