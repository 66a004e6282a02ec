//! Webhook endpoints for the middle platform (issue 20): head office registers receivers per
//! event type (the change feeds), reads the delivery log, replays a delivery, and disables or
//! enables an endpoint. See docs/CONTRACTS.md, "Webhooks".

use axum::extract::State;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::{Json, Path, Query};
use crate::actor::{Role, StaffActor};
use crate::app::webhooks::{self, Registered};
use crate::app::AppState;
use crate::error::{AppError, AppResult};
use crate::storage::webhooks::{self as store_webhooks, Delivery, Endpoint};

/// Webhook routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(register, list))
        .routes(routes!(enable))
        .routes(routes!(disable))
        .routes(routes!(deliveries))
        .routes(routes!(replay))
}

/// An endpoint to register.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterEndpoint {
    /// The client's id (UUIDv7); a retry with the same id answers the first registration.
    pub id: Uuid,
    /// Where deliveries are POSTed (http or https).
    pub url: String,
    /// The feeds to receive: `orders`, `stock`, `members`, `payments`, `refunds`.
    pub events: Vec<String>,
    /// A note for people.
    #[serde(default)]
    pub description: String,
}

/// Registers a webhook endpoint; the answer holds its signing secret, shown this once. It
/// receives the changes committed from now on. Head office only.
#[utoipa::path(post, path = "/webhooks", tag = "webhooks", security(("staff" = [])),
    request_body = RegisterEndpoint,
    responses((status = 200, body = Registered), (status = 403, body = crate::error::ErrorBody),
        (status = 409, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
async fn register(
    staff: StaffActor,
    State(state): State<AppState>,
    Json(body): Json<RegisterEndpoint>,
) -> AppResult<Json<Registered>> {
    staff.require(&[Role::HeadOfficeAdmin])?;
    Ok(Json(
        webhooks::register(
            &state,
            body.id,
            &body.url,
            &body.events,
            &body.description,
            &staff.username,
        )
        .await?,
    ))
}

/// The webhook endpoints, newest first (never their secrets). Head office only.
#[utoipa::path(get, path = "/webhooks", tag = "webhooks", security(("staff" = [])),
    responses((status = 200, body = [Endpoint]), (status = 403, body = crate::error::ErrorBody)))]
async fn list(staff: StaffActor, State(state): State<AppState>) -> AppResult<Json<Vec<Endpoint>>> {
    staff.require(&[Role::HeadOfficeAdmin])?;
    Ok(Json(store_webhooks::list(&state.store).await?))
}

/// Enables an endpoint (again), clearing its failure count: its deliverer resumes from where
/// it stopped (409 `backlog_pruned` when changes it had not received were pruned meanwhile).
/// Head office only.
#[utoipa::path(post, path = "/webhooks/{id}/enable", tag = "webhooks", security(("staff" = [])),
    params(("id" = Uuid, Path, description = "endpoint id")),
    responses((status = 200, body = Endpoint), (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)))]
async fn enable(
    staff: StaffActor,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
) -> AppResult<Json<Endpoint>> {
    Ok(Json(webhooks::set_active(&state, &staff, id, true).await?))
}

/// Disables an endpoint: nothing more is sent to it (its changes keep waiting). Head office
/// only.
#[utoipa::path(post, path = "/webhooks/{id}/disable", tag = "webhooks", security(("staff" = [])),
    params(("id" = Uuid, Path, description = "endpoint id")),
    responses((status = 200, body = Endpoint), (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)))]
async fn disable(
    staff: StaffActor,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
) -> AppResult<Json<Endpoint>> {
    Ok(Json(webhooks::set_active(&state, &staff, id, false).await?))
}

/// A page of the delivery log.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeliveryQuery {
    /// Only deliveries of changes before this `seq` (the last one of the previous page).
    pub before: Option<i64>,
    /// At most this many (default 50, 1 to 500).
    pub limit: Option<i64>,
}

/// An endpoint's deliveries, newest change first. Head office only.
#[utoipa::path(get, path = "/webhooks/{id}/deliveries", tag = "webhooks", security(("staff" = [])),
    params(("id" = Uuid, Path, description = "endpoint id"), DeliveryQuery),
    responses((status = 200, body = [Delivery]), (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)))]
async fn deliveries(
    staff: StaffActor,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    Query(query): Query<DeliveryQuery>,
) -> AppResult<Json<Vec<Delivery>>> {
    staff.require(&[Role::HeadOfficeAdmin])?;
    if store_webhooks::get(&state.store, id).await?.is_none() {
        return Err(AppError::not_found(format!(
            "webhook endpoint {id} not found"
        )));
    }
    let limit = query.limit.unwrap_or(50).clamp(1, 500);
    Ok(Json(
        store_webhooks::deliveries(&state.store, id, query.before, limit).await?,
    ))
}

/// Sends a delivery again, with the same delivery id (the receiver deduplicates by it), and
/// retries it for another retry window. Head office only.
#[utoipa::path(post, path = "/webhook-deliveries/{id}/replay", tag = "webhooks", security(("staff" = [])),
    params(("id" = Uuid, Path, description = "delivery id")),
    responses((status = 200, body = Delivery), (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)))]
async fn replay(
    staff: StaffActor,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
) -> AppResult<Json<Delivery>> {
    staff.require(&[Role::HeadOfficeAdmin])?;
    let retry_ms = (state.settings.webhooks.retry_secs * 1000) as i64;
    store_webhooks::replay(&state.store, id, retry_ms, &staff.username)
        .await?
        .map(Json)
        .ok_or_else(|| AppError::not_found(format!("webhook delivery {id} not found")))
}
