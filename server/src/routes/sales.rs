//! sales routes.

use utoipa_axum::router::OpenApiRouter;

use crate::state::AppState;

/// sales routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
}
