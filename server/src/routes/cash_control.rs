//! Cash control at the lanes (issue 21): a lane's push of its cash events (shifts with their Z
//! reports, cash in and out, offline switches), stored exactly once by client id.

use axum::extract::State;
use retail_domain::wire::cash_control::{PushCashEvents, PushCashEventsResult};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::Json;
use crate::actor::DeviceActor;
use crate::app::AppState;
use crate::error::AppResult;

/// Cash control routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(push))
}

/// Pushes a batch of a lane's cash events (at most 500), in one transaction.
///
/// Each event is answered `applied` (stored now), `duplicate` (stored by an earlier push;
/// nothing changed) or `rejected` (bad data, or an id or shift of another lane; not stored,
/// the other events unaffected). A `shift_opened` event starts the lane's shift on the server, a
/// `shift_closed` event closes it with its Z report (head office's cash page lists them).
#[utoipa::path(post, path = "/pos/cash-events", tag = "sales", security(("device" = [])), request_body = PushCashEvents,
    responses((status = 200, body = PushCashEventsResult), (status = 403, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody)))]
async fn push(
    device: DeviceActor,
    State(state): State<AppState>,
    Json(req): Json<PushCashEvents>,
) -> AppResult<Json<PushCashEventsResult>> {
    let results = crate::app::cash_control::push(&state, &device, req.events).await?;
    Ok(Json(PushCashEventsResult { results }))
}
