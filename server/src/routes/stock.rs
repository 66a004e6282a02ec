//! stock routes.

use utoipa_axum::router::OpenApiRouter;

use crate::state::AppState;

/// stock routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
}
