//! Electronic shelf labels: a store's shelf prices (from the one pricing engine), linking
//! labels to SKUs, and the labels' and batches' status.

use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{Json, Path, Query};
use crate::actor::{Role, StaffActor};
use crate::app::esl::{self, EslStatus, LinkLabel, ShelfTag};
use crate::app::AppState;
use crate::error::AppResult;
use crate::storage::esl::LabelView;

/// ESL routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(shelf_prices))
        .routes(routes!(link))
        .routes(routes!(status))
}

/// The instant to price for.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ShelfQuery {
    /// RFC 3339 time (default: now).
    pub at: Option<DateTime<Utc>>,
}

/// The shelf price of every SKU on sale at a store (head office, or the store's manager):
/// regular, promotion or markdown, and member price, the unit prices Chinese price-tag rules
/// ask for (per kg and per 500 g for weighed goods), and the window in which each is right.
#[utoipa::path(get, path = "/stores/{store}/shelf-prices", tag = "esl", security(("staff" = [])),
    params(("store" = String, Path, description = "store code"), ShelfQuery),
    responses((status = 200, body = Vec<ShelfTag>), (status = 404, body = crate::error::ErrorBody)))]
async fn shelf_prices(
    staff: StaffActor,
    State(state): State<AppState>,
    Path(store): Path<String>,
    Query(q): Query<ShelfQuery>,
) -> AppResult<Json<Vec<ShelfTag>>> {
    staff.require(&[Role::HeadOfficeAdmin, Role::StoreManager])?;
    staff.require_store(&store)?;
    Ok(Json(
        esl::store_shelf_prices(&state, &store, q.at.unwrap_or_else(Utc::now)).await?,
    ))
}

/// Links a shelf label to a SKU (head office, or the store's manager) and queues its first
/// update. A retry with the same `id` answers the label unchanged.
#[utoipa::path(post, path = "/esl/labels", tag = "esl", security(("staff" = [])), request_body = LinkLabel,
    responses((status = 200, body = LabelView), (status = 422, body = crate::error::ErrorBody)))]
async fn link(
    staff: StaffActor,
    State(state): State<AppState>,
    Json(req): Json<LinkLabel>,
) -> AppResult<Json<LabelView>> {
    staff.require(&[Role::HeadOfficeAdmin, Role::StoreManager])?;
    staff.require_store(&req.store)?;
    Ok(Json(esl::link_label(&state, req).await?))
}

/// Which labels to list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StatusQuery {
    /// Only labels with this status: `pending`, `shown` or `failed`.
    pub status: Option<String>,
}

/// A store's labels (status, queued update, last error, what each shows) and its latest
/// batches to the vendor (head office, or the store's manager).
#[utoipa::path(get, path = "/stores/{store}/esl", tag = "esl", security(("staff" = [])),
    params(("store" = String, Path, description = "store code"), StatusQuery),
    responses((status = 200, body = EslStatus), (status = 422, body = crate::error::ErrorBody)))]
async fn status(
    staff: StaffActor,
    State(state): State<AppState>,
    Path(store): Path<String>,
    Query(q): Query<StatusQuery>,
) -> AppResult<Json<EslStatus>> {
    staff.require(&[Role::HeadOfficeAdmin, Role::StoreManager])?;
    staff.require_store(&store)?;
    Ok(Json(
        esl::status(&state, &store, q.status.as_deref()).await?,
    ))
}
