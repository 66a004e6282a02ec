//! The audit log, for head office.

use axum::extract::State;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{Json, Query};
use crate::actor::{Role, StaffActor};
use crate::app::AppState;
use crate::error::AppResult;
use crate::storage;
use crate::storage::audit::AuditEntry;

/// Audit routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list))
}

/// Audit filter.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditFilter {
    /// Only entries about this entity id.
    pub entity_id: Option<String>,
    /// At most this many (default 100, max 1000).
    pub limit: Option<i64>,
    /// Cursor: only entries older than this one (the `id` of the last entry of the previous
    /// page). Page until an answer has fewer than `limit` entries.
    pub before: Option<uuid::Uuid>,
}

/// The newest audit entries, a page at a time (`before` = the last entry's `id` for the next).
#[utoipa::path(get, path = "/audit", tag = "audit", security(("staff" = [])), params(AuditFilter),
    responses((status = 200, body = [AuditEntry]), (status = 403, body = crate::error::ErrorBody)))]
async fn list(
    staff: StaffActor,
    State(state): State<AppState>,
    Query(filter): Query<AuditFilter>,
) -> AppResult<Json<Vec<AuditEntry>>> {
    staff.require(&[Role::HeadOfficeAdmin])?;
    let limit = filter.limit.unwrap_or(100).clamp(1, 1000);
    Ok(Json(
        storage::audit::list_before(
            &state.store,
            filter.entity_id.as_deref(),
            filter.before,
            limit,
        )
        .await?,
    ))
}
