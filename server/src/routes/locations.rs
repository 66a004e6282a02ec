//! Stores, warehouses and the head office.

use axum::extract::State;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::Json;
use crate::actor::{Role, StaffActor};
use crate::app::AppState;
use crate::error::{AppError, AppResult};
use crate::storage;
use crate::storage::locations::Location;

/// Location routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list, upsert))
}

/// All locations (public: the shop lists stores for pickup).
#[utoipa::path(get, path = "/locations", tag = "locations", responses((status = 200, body = [Location])))]
async fn list(State(state): State<AppState>) -> AppResult<Json<Vec<Location>>> {
    Ok(Json(storage::locations::list(&state.store).await?))
}

/// Creates or updates a store or warehouse (head office; audited).
#[utoipa::path(post, path = "/locations", tag = "locations", security(("staff" = [])), request_body = Location,
    responses((status = 200, body = Location), (status = 403, body = crate::error::ErrorBody),
        (status = 409, description = "kind_mismatch: an existing location's kind cannot change", body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody)))]
async fn upsert(
    staff: StaffActor,
    State(state): State<AppState>,
    Json(location): Json<Location>,
) -> AppResult<Json<Location>> {
    staff.require(&[Role::HeadOfficeAdmin])?;
    let valid_code = !location.id.is_empty()
        && location.id.len() <= 16
        && location
            .id
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-');
    if !valid_code {
        return Err(AppError::field(
            "id",
            "1 to 16 characters of A-Z, 0-9 and -",
        ));
    }
    if !matches!(
        location.kind.as_str(),
        "store" | "warehouse" | "head_office"
    ) {
        return Err(AppError::field("kind", "store, warehouse or head_office"));
    }
    for (field, value) in [
        ("name_zh", &location.name_zh),
        ("name_en", &location.name_en),
    ] {
        if value.trim().is_empty() || value.chars().count() > 64 {
            return Err(AppError::field(field, "must be 1 to 64 characters"));
        }
    }
    if location.address.chars().count() > 300 || location.city.chars().count() > 64 {
        return Err(AppError::field("address", "too long"));
    }
    storage::locations::upsert(&state.store, &location, &staff.actor()).await?;
    Ok(Json(
        storage::locations::get(&state.store, &location.id).await?,
    ))
}
