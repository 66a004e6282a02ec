//! The stores' edge agents over HTTP: staff send a command to their store's agent through the
//! store bus ([`crate::app::edge`]; docs/DESIGN.md §6: print a pick slip again, print a shipping
//! label, mark a pickup order ready, open a gate, re-sync)
//! and read its acknowledgement; store managers set the shelf location of a SKU in their store
//! (printed on pick slips).

use axum::extract::State;
use retail_domain::wire::bus::Command;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::{Json, Path, Query};
use crate::actor::{Role, StaffActor};
use crate::app::AppState;
use crate::error::{AppError, AppResult};
use crate::storage;
use crate::storage::edge::{DeviceCommand, ShelfLocation};

/// Longest shelf location text.
const MAX_SHELF_LEN: usize = 32;

/// Edge agent routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(send_command))
        .routes(routes!(get_command))
        .routes(routes!(list_shelves))
        .routes(routes!(set_shelf))
}

/// A command for a store's edge agent.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SendCommand {
    /// Client id (UUIDv7), also the bus message id; a retry answers the first result and
    /// sends the command again while it is unacknowledged (the agent executes it once).
    pub id: Uuid,
    /// The agent; may be left out when the store has exactly one.
    pub device_id: Option<Uuid>,
    /// The command, e.g. `{"command": "mark_ready", "order_id": "…"}`.
    pub command: Command,
}

/// Sends a command to a store's edge agent over the store bus (staff of the store, head office).
#[utoipa::path(post, path = "/stores/{store}/edge/commands", tag = "edge", security(("staff" = [])),
    params(("store" = String, Path, description = "store code")), request_body = SendCommand,
    responses((status = 200, body = DeviceCommand), (status = 403, body = crate::error::ErrorBody),
        (status = 409, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody),
        (status = 503, body = crate::error::ErrorBody)))]
async fn send_command(
    staff: StaffActor,
    State(state): State<AppState>,
    Path(store): Path<String>,
    Json(req): Json<SendCommand>,
) -> AppResult<Json<DeviceCommand>> {
    crate::app::edge::send_command(&state, &staff, &store, req.id, req.device_id, req.command)
        .await
        .map(Json)
}

/// A command and its acknowledgement (staff of its store, head office).
#[utoipa::path(get, path = "/edge/commands/{id}", tag = "edge", security(("staff" = [])),
    params(("id" = Uuid, Path, description = "command id")),
    responses((status = 200, body = DeviceCommand), (status = 404, body = crate::error::ErrorBody)))]
async fn get_command(
    staff: StaffActor,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
) -> AppResult<Json<DeviceCommand>> {
    let command = storage::edge::command(&state.store, id).await?;
    staff.require_store(&command.location_id)?;
    Ok(Json(command))
}

/// Paging of shelf locations.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ShelfPage {
    /// Cursor: the last SKU id of the previous page.
    pub after: Option<Uuid>,
    /// Page size (1–1000, default 200).
    pub limit: Option<i64>,
}

/// A page of shelf locations.
#[derive(Debug, Serialize, ToSchema)]
pub struct Shelves {
    /// By SKU id.
    pub items: Vec<ShelfLocation>,
    /// The cursor for the next page, when there may be one.
    pub next_after: Option<Uuid>,
}

/// The store's shelf locations, by SKU id (staff of the store, head office).
#[utoipa::path(get, path = "/stores/{store}/shelves", tag = "edge", security(("staff" = [])),
    params(("store" = String, Path, description = "store code"), ShelfPage),
    responses((status = 200, body = Shelves), (status = 403, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
async fn list_shelves(
    staff: StaffActor,
    State(state): State<AppState>,
    Path(store): Path<String>,
    Query(page): Query<ShelfPage>,
) -> AppResult<Json<Shelves>> {
    staff.require_store(&store)?;
    let limit = page.limit.unwrap_or(200);
    if !(1..=1000).contains(&limit) {
        return Err(AppError::field("limit", "must be 1 to 1000"));
    }
    let items = storage::edge::shelves(&state.store, &store, page.after, limit).await?;
    let next_after = (items.len() as i64 == limit)
        .then(|| items.last().map(|s| s.sku_id))
        .flatten();
    Ok(Json(Shelves { items, next_after }))
}

/// A shelf location to set.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetShelf {
    /// e.g. `A3-02`; `null` clears it.
    pub shelf: Option<String>,
}

/// The answer to setting a shelf.
#[derive(Debug, Serialize, ToSchema)]
pub struct ShelfSet {
    /// The store.
    pub location_id: String,
    /// The SKU.
    pub sku_id: Uuid,
    /// The shelf now (none when cleared).
    pub shelf: Option<ShelfLocation>,
}

/// Sets or clears where a SKU sits in a store (the store's manager, head office); idempotent.
#[utoipa::path(put, path = "/stores/{store}/shelves/{sku_id}", tag = "edge", security(("staff" = [])),
    params(("store" = String, Path, description = "store code"), ("sku_id" = Uuid, Path, description = "SKU id")),
    request_body = SetShelf,
    responses((status = 200, body = ShelfSet), (status = 403, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
async fn set_shelf(
    staff: StaffActor,
    State(state): State<AppState>,
    Path((store, sku_id)): Path<(String, Uuid)>,
    Json(req): Json<SetShelf>,
) -> AppResult<Json<ShelfSet>> {
    staff.require(&[Role::HeadOfficeAdmin, Role::StoreManager])?;
    staff.require_store(&store)?;
    let location = storage::locations::get(&state.store, &store)
        .await
        .map_err(|_| AppError::not_found(format!("store {store} not found")))?;
    if location.kind != "store" {
        return Err(AppError::not_found(format!("{store} is not a store")));
    }
    let shelf = match req.shelf.as_deref().map(str::trim) {
        None => None,
        Some(text) => {
            if text.is_empty()
                || text.chars().count() > MAX_SHELF_LEN
                || text.chars().any(char::is_control)
            {
                return Err(AppError::field(
                    "shelf",
                    format!("1 to {MAX_SHELF_LEN} printable characters, or null to clear"),
                ));
            }
            Some(text)
        }
    };
    let stored =
        storage::edge::set_shelf(&state.store, &store, sku_id, shelf, &staff.actor()).await?;
    Ok(Json(ShelfSet {
        location_id: store,
        sku_id,
        shelf: stored,
    }))
}
