//! catalog routes.

use utoipa_axum::router::OpenApiRouter;

use crate::state::AppState;

/// catalog routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
}
