//! Stores, warehouses and the head office (head office; a merchant administrator its own
//! merchant's stores and warehouses: `app::locations`).

use axum::extract::State;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{Json, Query};
use crate::actor::StaffActor;
use crate::app::locations::{self, LocationRequest};
use crate::app::AppState;
use crate::error::AppResult;
use crate::storage::locations::Location;

/// Location routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list, upsert))
}

/// Location list filter.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LocationFilter {
    /// Only this merchant's locations (`platform`: the operator's own).
    pub merchant: Option<String>,
}

/// All locations, or one merchant's (public: the shop lists stores for pickup).
#[utoipa::path(get, path = "/locations", tag = "locations", params(LocationFilter),
    responses((status = 200, body = [Location])))]
async fn list(
    State(state): State<AppState>,
    Query(filter): Query<LocationFilter>,
) -> AppResult<Json<Vec<Location>>> {
    Ok(Json(
        locations::list(&state, filter.merchant.as_deref()).await?,
    ))
}

/// Creates or updates a store or warehouse (head office, for any merchant; a merchant
/// administrator, its own merchant's stores and warehouses; audited).
#[utoipa::path(post, path = "/locations", tag = "locations", security(("staff" = [])), request_body = LocationRequest,
    responses((status = 200, body = Location),
        (status = 403, description = "not head office, or a merchant administrator naming another merchant", body = crate::error::ErrorBody),
        (status = 404, description = "a merchant administrator updating a location not its merchant's", body = crate::error::ErrorBody),
        (status = 409, description = "kind_mismatch: an existing location's kind cannot change; merchant_mismatch: nor its merchant; merchant_not_approved: the merchant is not trading", body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody)))]
async fn upsert(
    staff: StaffActor,
    State(state): State<AppState>,
    Json(req): Json<LocationRequest>,
) -> AppResult<Json<Location>> {
    Ok(Json(locations::upsert(&state, &staff, req).await?))
}
