//! placeholder
use axum::Router;
use crate::app::AppState;
/// r
pub fn router() -> Router<AppState> { Router::new() }
