//! The whole HTTP application: the JSON API ([`crate::routes`], under `/api/v1`, with its
//! OpenAPI document), the health and metrics endpoints and the pages ([`crate::web`]), merged
//! here in one place so that neither adapter needs the other.

use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use tower_http::trace::TraceLayer;

use crate::app::AppState;
use crate::error::AppError;
use crate::{routes, web};

/// Unknown paths: the JSON error under `/api`, the shop's error page elsewhere.
async fn fallback(uri: axum::http::Uri) -> Response {
    let err = AppError::not_found("no such route");
    if uri.path().starts_with("/api/") {
        err.into_response()
    } else {
        web::WebError::from(err).into_response()
    }
}

/// The whole HTTP application.
pub fn router(state: AppState) -> Router {
    let (api, doc) = routes::api();
    let doc = std::sync::Arc::new(doc);
    // The sandbox payment provider's pages exist in demo mode only (404 otherwise).
    let sandbox = if state.settings.demo {
        routes::payments::sandbox_router()
    } else {
        axum::Router::new()
    };
    api.route(
        "/api/v1/openapi.json",
        get(move || {
            let doc = doc.clone();
            async move { axum::Json(doc.as_ref().clone()) }
        }),
    )
    .merge(routes::health::router())
    .merge(sandbox)
    .merge(web::router())
    .fallback(fallback)
    .layer(axum::middleware::from_fn(crate::telemetry::track_requests))
    .layer(TraceLayer::new_for_http())
    .with_state(state)
}
