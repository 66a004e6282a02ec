//! Event tracking (埋点): the shop page's batches of events (`POST /events`, what
//! `navigator.sendBeacon` sends: no credential, no CSRF token, `text/plain` or
//! `application/json`) and head office's daily counts ([`crate::app::events`]; the schema is
//! `docs/EVENTS.md`).

use axum::extract::State;
use axum::http::HeaderMap;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{Json, Query};
use crate::actor::{ClientAddr, StaffActor};
use crate::app::events::{self as events_app, BatchOutcome};
use crate::app::AppState;
use crate::error::{AppError, AppResult};
use crate::storage::events::DayCount;

/// Event routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(ingest))
        .routes(routes!(daily))
}

/// One event from the shop's page (`docs/EVENTS.md`).
#[derive(Debug, Deserialize, ToSchema)]
#[allow(dead_code)]
pub struct ClientEvent {
    /// The client's event id (a UUID): a resend of the same id changes nothing.
    pub id: String,
    /// `page_view`, `click`, `search`, `client_error` or `anomaly`.
    pub name: String,
    /// The schema version (1).
    pub v: i64,
    /// When it happened, Unix milliseconds (at most 7 days ago, at most 10 minutes ahead).
    pub ts: i64,
    /// The anonymous device id (a random UUID kept in the browser's localStorage).
    pub device: String,
    /// The page's path (no query).
    pub page: String,
    /// `online` or `scan_and_go`.
    pub channel: String,
    /// The event's properties (`docs/EVENTS.md`).
    pub props: Option<serde_json::Value>,
}

/// A batch of events.
#[derive(Debug, Deserialize, ToSchema)]
#[allow(dead_code)]
pub struct EventBatch {
    /// At most 100 events (a body of at most 64 KiB).
    #[schema(max_items = 100)]
    pub events: Vec<ClientEvent>,
}

/// The `sid` cookie of the shop's session, when the browser sent it (only on same-site
/// requests: it is `SameSite=Lax`).
fn shop_sid(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == "sid")
        .map(|(_, v)| v.trim())
        .filter(|s| {
            s.starts_with("ws_")
                && s.len() > 20
                && s.len() < 100
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        })
}

/// Takes a batch of the shop page's events (anyone; no credential, no CSRF token: an event
/// changes nothing but the counts). Each event is checked on its own against the schema:
/// the good ones are stored (a resent id counts as a duplicate and changes nothing), the bad
/// ones answered with their index and reason. The whole batch is refused (400
/// `batch_too_large`) above 100 events or 64 KiB, and 429 past the client address's batches
/// per minute. When the browser's shop session names a logged-in member who has not opted
/// out of personalisation, the events carry their member id.
#[utoipa::path(post, path = "/events", tag = "events",
    request_body(content = EventBatch, content_type = "application/json", description = "a batch as JSON; sent as text/plain by sendBeacon, which is taken the same"),
    responses((status = 200, body = BatchOutcome),
        (status = 429, body = crate::error::ErrorBody)))]
async fn ingest(
    State(state): State<AppState>,
    client: ClientAddr,
    headers: HeaderMap,
    body: Result<axum::body::Bytes, axum::extract::rejection::BytesRejection>,
) -> AppResult<Json<BatchOutcome>> {
    let body = body.map_err(|_| {
        AppError::bad_request(
            "batch_too_large",
            "the batch could not be read whole (at most 64 KiB)",
        )
    })?;
    let member = match shop_sid(&headers) {
        Some(sid) => crate::app::shop_session::session(&state, sid)
            .await?
            .and_then(|s| s.member_id),
        None => None,
    };
    Ok(Json(
        events_app::ingest(&state, &client, member, &body).await?,
    ))
}

/// A date range of the daily counts.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DailyQuery {
    /// First day, `YYYY-MM-DD` (China time).
    pub from: String,
    /// Last day, `YYYY-MM-DD` (China time), at most 366 days after `from`.
    pub to: String,
}

/// Events per day, name and channel over a date range (head office), from the counts kept as
/// events arrive.
#[utoipa::path(get, path = "/events/daily", tag = "events", security(("staff" = [])),
    params(DailyQuery),
    responses((status = 200, body = [DayCount]), (status = 403, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody)))]
async fn daily(
    staff: StaffActor,
    State(state): State<AppState>,
    Query(q): Query<DailyQuery>,
) -> AppResult<Json<Vec<DayCount>>> {
    staff.require(&[crate::actor::Role::HeadOfficeAdmin])?;
    let from = events_app::parse_day(&q.from, "from")?;
    let to = events_app::parse_day(&q.to, "to")?;
    Ok(Json(
        events_app::daily_counts(&state, &staff, from, to).await?,
    ))
}
