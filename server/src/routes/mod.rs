//! The HTTP API: one router per resource, merged here under `/api/v1`, with the OpenAPI document
//! generated from the handlers' annotations (so it cannot drift from the code).

use axum::extract::{FromRequest, FromRequestParts};
use axum::response::{IntoResponse, Response};
use axum::Router;
use serde::Serialize;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;

use crate::app::AppState;
use crate::error::AppError;

pub mod audit;
pub mod auth;
pub mod catalog;
pub mod coupons;
pub mod devices;
pub mod edge;
pub mod health;
pub mod locations;
pub mod members;
pub mod orders;
pub mod payments;
pub mod promotions;
pub mod receipts;
pub mod sales;
pub mod staff;
pub mod stock;

/// JSON body extractor and response whose rejections are [`AppError`]s (one error shape).
#[derive(Debug, Clone, Copy, Default, FromRequest)]
#[from_request(via(axum::Json), rejection(AppError))]
pub struct Json<T>(pub T);

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

/// Query-string extractor with [`AppError`] rejections.
#[derive(Debug, Clone, Copy, Default, FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(AppError))]
pub struct Query<T>(pub T);

/// Path extractor with [`AppError`] rejections.
#[derive(Debug, Clone, Copy, Default, FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(AppError))]
pub struct Path<T>(pub T);

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Retail server API",
        description = "One truth for stock, members, points, prices and orders across the online shop and every store. Money is a decimal string with two places (\"12.50\", CNY); times are RFC 3339 UTC; errors are {\"error\": {\"code\", \"message\", \"fields\"}}."
    ),
    modifiers(&BearerAuth),
    components(schemas(crate::error::ErrorBody, crate::error::ErrorDetail))
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "staff",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "staff session token (st_…) from POST /api/v1/auth/login",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "device",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("device credential (dv_…) shown once at registration"))
                    .build(),
            ),
        );
    }
}

/// The API routers merged, with the OpenAPI document they describe.
pub fn api() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    let v1 = OpenApiRouter::new()
        .merge(auth::router())
        .merge(devices::router())
        .merge(edge::router())
        .merge(locations::router())
        .merge(catalog::router())
        .merge(stock::router())
        .merge(members::router())
        .merge(orders::router())
        .merge(payments::router())
        .merge(sales::router())
        .merge(receipts::router())
        .merge(promotions::router())
        .merge(coupons::router())
        .merge(staff::router())
        .merge(audit::router());
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .nest("/api/v1", v1)
        .split_for_parts()
}
