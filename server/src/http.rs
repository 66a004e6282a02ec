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

/// Answers 503 with `Retry-After` (the JSON error under `/api`, the error page elsewhere) when
/// a request is not answered within `load.request_timeout_secs`, instead of leaving the socket
/// hanging; the handler's work is dropped (an open transaction rolls back; an order already
/// handed to the writer may still be placed, and a retry with its client id answers it).
async fn request_timeout(
    axum::extract::State(state): axum::extract::State<AppState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let limit = std::time::Duration::from_secs(state.settings.load.request_timeout_secs);
    let api = request.uri().path().starts_with("/api/");
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => {
            metrics::counter!("http_request_timeouts_total").increment(1);
            let err = AppError::Unavailable("the server is busy, please retry".into());
            if api {
                err.into_response()
            } else {
                web::WebError::from(err).into_response()
            }
        }
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
    .layer(axum::middleware::from_fn_with_state(
        state.clone(),
        request_timeout,
    ))
    .layer(axum::middleware::from_fn_with_state(
        state.clone(),
        secure_transport,
    ))
    .layer(axum::middleware::from_fn(crate::telemetry::track_requests))
    .layer(TraceLayer::new_for_http())
    .with_state(state)
}

/// `Strict-Transport-Security` sent when shoppers reach the server over HTTPS (one year).
const HSTS: &str = "max-age=31536000";

/// When the server's public address is `https://` (TLS at the server or at a proxy in front
/// of it), every cookie is marked `Secure` (never sent over plain HTTP) and browsers are told
/// to use HTTPS only (HSTS). Over plain HTTP (a laptop, the demo) nothing changes.
async fn secure_transport(
    axum::extract::State(state): axum::extract::State<AppState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let mut response = next.run(request).await;
    if !state.public_url.starts_with("https://") {
        return response;
    }
    let headers = response.headers_mut();
    let cookies: Vec<axum::http::HeaderValue> = headers
        .get_all(axum::http::header::SET_COOKIE)
        .iter()
        .map(|value| match value.to_str() {
            Ok(text) if !text.to_ascii_lowercase().contains("; secure") => {
                axum::http::HeaderValue::from_str(&format!("{text}; Secure"))
                    .unwrap_or_else(|_| value.clone())
            }
            _ => value.clone(),
        })
        .collect();
    if !cookies.is_empty() {
        headers.remove(axum::http::header::SET_COOKIE);
        for cookie in cookies {
            headers.append(axum::http::header::SET_COOKIE, cookie);
        }
    }
    headers.insert(
        axum::http::header::STRICT_TRANSPORT_SECURITY,
        axum::http::HeaderValue::from_static(HSTS),
    );
    response
}
