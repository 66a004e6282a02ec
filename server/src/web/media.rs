//! `GET /media/{name}`: a kept image variant (product images, after-sales photos), by its
//! content address. The name is the SHA-256 of the bytes, so the answer never changes: it is
//! cached for a year (`immutable`), its `ETag` is the name, and a revalidation is answered 304.
//! No session cookie is set on it (it is outside the pages' cookie layer), so shared caches may
//! keep it.

use axum::extract::{Path, State};
use axum::http::header::{
    CACHE_CONTROL, CONTENT_TYPE, ETAG, IF_NONE_MATCH, X_CONTENT_TYPE_OPTIONS,
};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use crate::app::{media, AppState};
use crate::error::AppError;

/// The media route (merged outside the session cookie layer).
pub fn router() -> Router<AppState> {
    Router::new().route("/media/{name}", get(serve))
}

/// One year, never revalidated while fresh.
const CACHE_FOREVER: &str = "public, max-age=31536000, immutable";

async fn serve(
    State(state): State<AppState>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Response {
    let etag = format!("\"{}\"", name.split('.').next().unwrap_or_default());
    let not_found = || super::WebError::from(AppError::not_found("no such image")).into_response();
    let Ok(etag_value) = HeaderValue::from_str(&etag) else {
        return not_found();
    };
    let bytes = match media::load(&state, &name).await {
        Ok(Some(bytes)) => bytes,
        Ok(None) => return not_found(),
        Err(e) => return super::WebError::from(e).into_response(),
    };
    let common = [
        (CACHE_CONTROL, HeaderValue::from_static(CACHE_FOREVER)),
        (ETAG, etag_value),
        (X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
    ];
    let revalidation = headers
        .get(IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    if revalidation {
        return (StatusCode::NOT_MODIFIED, common).into_response();
    }
    (
        common,
        [(CONTENT_TYPE, HeaderValue::from_static(media::CONTENT_TYPE))],
        bytes,
    )
        .into_response()
}
