//! Stores, warehouses and the head office.

use axum::extract::State;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::Json;
use crate::error::AppResult;
use crate::state::AppState;
use crate::storage;
use crate::storage::locations::Location;

/// Location routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list))
}

/// All locations (public: the shop lists stores for pickup).
#[utoipa::path(get, path = "/locations", tag = "locations", responses((status = 200, body = [Location])))]
async fn list(State(state): State<AppState>) -> AppResult<Json<Vec<Location>>> {
    Ok(Json(storage::locations::list(&state.store).await?))
}
