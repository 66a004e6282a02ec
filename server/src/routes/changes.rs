//! Change feeds for the middle platform (中台对接, issue 20): every change of orders, stock
//! levels, members, payments and refunds in commit order, paged by an opaque cursor. Head office
//! only. See docs/CONTRACTS.md, "Change feeds".

use axum::extract::State;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{Json, Path, Query};
use crate::actor::{Role, StaffActor};
use crate::app::changes::{self, ChangePage};
use crate::app::AppState;
use crate::error::AppResult;

/// Change-feed routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(read_feed))
}

/// Where to continue a feed.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FeedQuery {
    /// `next_cursor` of the previous page (from the beginning without one); anything else is a
    /// 400 `bad_cursor`.
    pub cursor: Option<String>,
    /// Changes per page (default 100, 1 to 1000).
    pub limit: Option<i64>,
}

/// A page of a change feed (`orders`, `stock`, `members`, `payments` or `refunds`): the changes
/// after `cursor` in commit order, each with its record as it is now, and the cursor to go on
/// from (the same one when nothing is new: poll with it). No change is skipped or repeated,
/// whichever server instance answers. Head office only (403 otherwise); 404 for another feed
/// name.
#[utoipa::path(get, path = "/changes/{feed}", tag = "changes", security(("staff" = [])),
    params(("feed" = String, Path, description = "orders | stock | members | payments | refunds"), FeedQuery),
    responses((status = 200, body = ChangePage), (status = 400, body = crate::error::ErrorBody),
        (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody)))]
async fn read_feed(
    staff: StaffActor,
    State(state): State<AppState>,
    Path(feed): Path<String>,
    Query(query): Query<FeedQuery>,
) -> AppResult<Json<ChangePage>> {
    staff.require(&[Role::HeadOfficeAdmin])?;
    let feed = changes::feed_named(&feed)?;
    Ok(Json(
        changes::read(&state, feed, query.cursor.as_deref(), query.limit).await?,
    ))
}
