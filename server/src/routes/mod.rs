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

pub mod after_sales;
pub mod analytics_sales;
pub mod audit;
pub mod auth;
pub mod bargains;
pub mod cash_control;
pub mod catalog;
pub mod changes;
pub mod checkouts;
pub mod coupons;
pub mod delivery;
pub mod devices;
pub mod distribution;
pub mod edge;
pub mod esl;
pub mod events;
pub mod faq;
pub mod finance;
pub mod group_buys;
pub mod health;
pub mod lane_payments;
pub mod locations;
pub mod member_perks;
pub mod member_tags;
pub mod members;
pub mod merchant_statements;
pub mod merchants;
pub mod notifications;
pub mod orders;
pub mod payments;
pub mod points_mall;
pub mod product_images;
pub mod promotions;
pub mod receipts;
pub mod recharges;
pub mod refunds;
pub mod reviews;
pub mod sales;
pub mod scales;
pub mod search_words;
pub mod staff;
pub mod stock;
pub mod sync;
pub mod webhooks;

/// JSON body extractor and response whose rejections are [`AppError`]s (one error shape). A
/// body whose text holds a NUL character (`\u0000`) is refused with 400 `invalid_body`: no
/// store keeps NULs in text (PostgreSQL refuses them), so neither does any request.
#[derive(Debug, Clone, Copy, Default)]
pub struct Json<T>(pub T);

impl<T, S> FromRequest<S> for Json<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, AppError> {
        let (parts, body) = req.into_parts();
        let bytes = axum::body::Bytes::from_request(
            axum::extract::Request::from_parts(parts.clone(), body),
            state,
        )
        .await
        .map_err(|rejection| AppError::bad_request("invalid_body", rejection.body_text()))?;
        if retail_domain::wire::json_has_nul(&bytes) {
            return Err(AppError::bad_request("invalid_body", NUL_MESSAGE));
        }
        let request = axum::extract::Request::from_parts(parts, axum::body::Body::from(bytes));
        let axum::Json(value) = axum::Json::<T>::from_request(request, state).await?;
        Ok(Json(value))
    }
}

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

/// A page of a list (keyset paging, [`crate::storage::paging`]), for a list without filters of
/// its own.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// `next_cursor` of the previous page; a cursor that is not one is a 400 `bad_cursor`.
    pub cursor: Option<String>,
    /// Rows per page (default 50, at most 200).
    pub limit: Option<i64>,
}

impl PageQuery {
    /// The cursor (none on the first page; 400 `bad_cursor` when it is not one) and page size.
    pub fn read(&self) -> crate::error::AppResult<(Option<crate::storage::paging::Cursor>, i64)> {
        let cursor = crate::storage::paging::Cursor::parse(self.cursor.as_deref())?;
        Ok((cursor, crate::storage::paging::api_limit(self.limit)))
    }
}

/// The largest shopper photo upload read (after-sales and reviews: the media settings'
/// `max_upload_bytes` decides what is kept; this only stops a body far beyond it).
pub(crate) const MAX_PHOTO_BODY_BYTES: usize = 32 * 1024 * 1024;

/// Keeps a shopper's photo upload (after-sales and reviews), its body read whole first (an
/// unreadable body is 422 `image_too_large`): checked, re-encoded and thumbnailed by
/// [`crate::app::media::store_image`].
pub(crate) async fn store_shopper_photo(
    state: &AppState,
    body: Result<axum::body::Bytes, axum::extract::rejection::BytesRejection>,
) -> crate::error::AppResult<crate::app::media::StoredImage> {
    let body = body.map_err(|_| {
        AppError::field_code(
            "image_too_large",
            "image",
            "the upload could not be read whole",
        )
    })?;
    crate::app::media::store_image(state, body).await
}

/// What a request holding a NUL character is told.
const NUL_MESSAGE: &str = "text must not contain NUL characters";

/// Query-string extractor with [`AppError`] rejections; a NUL (`%00`) is refused with 400
/// `invalid_query`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Query<T>(pub T);

impl<T, S> FromRequestParts<S> for Query<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, AppError> {
        if parts.uri.query().is_some_and(|q| q.contains("%00")) {
            return Err(AppError::bad_request("invalid_query", NUL_MESSAGE));
        }
        let axum::extract::Query(value) =
            axum::extract::Query::<T>::from_request_parts(parts, state).await?;
        Ok(Query(value))
    }
}

/// Path extractor with [`AppError`] rejections; a NUL (`%00`) is refused with 400
/// `invalid_path`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Path<T>(pub T);

impl<T, S> FromRequestParts<S> for Path<T>
where
    T: serde::de::DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, AppError> {
        if parts.uri.path().contains("%00") {
            return Err(AppError::bad_request("invalid_path", NUL_MESSAGE));
        }
        let axum::extract::Path(value) =
            axum::extract::Path::<T>::from_request_parts(parts, state).await?;
        Ok(Path(value))
    }
}

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

/// The header a member's own requests carry their current member code (MC1) in.
const MEMBER_CODE: &str = "x-member-code";

/// The member whose current member code `X-Member-Code` carries (401 when it is missing,
/// forged, expired or another kind of code).
pub(crate) fn member_from_headers(
    state: &AppState,
    headers: &axum::http::HeaderMap,
) -> crate::error::AppResult<uuid::Uuid> {
    let code = headers.get(MEMBER_CODE).and_then(|v| v.to_str().ok());
    crate::app::checkout::member_from_credential(state, code)
}

/// The API routers merged, with the OpenAPI document they describe.
pub fn api() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    let v1 = OpenApiRouter::new()
        .merge(auth::router())
        .merge(devices::router())
        .merge(edge::router())
        .merge(locations::router())
        .merge(catalog::router())
        .merge(merchants::router())
        .merge(checkouts::router())
        .merge(merchant_statements::router())
        .merge(product_images::router())
        .merge(stock::router())
        .merge(members::router())
        .merge(member_tags::router())
        .merge(orders::router())
        .merge(payments::router())
        .merge(lane_payments::router())
        .merge(refunds::router())
        .merge(after_sales::router())
        .merge(reviews::router())
        .merge(recharges::router())
        .merge(sales::router())
        .merge(cash_control::router())
        .merge(scales::router())
        .merge(receipts::router())
        .merge(promotions::router())
        .merge(esl::router())
        .merge(coupons::router())
        .merge(staff::router())
        .merge(delivery::router())
        .merge(search_words::router())
        .merge(faq::router())
        .merge(member_perks::router())
        .merge(notifications::router())
        .merge(events::router())
        .merge(analytics_sales::router())
        .merge(group_buys::router())
        .merge(points_mall::router())
        .merge(bargains::router())
        .merge(distribution::router())
        .merge(sync::router())
        .merge(finance::router())
        .merge(audit::router())
        .merge(changes::router())
        .merge(webhooks::router());
    let (router, mut doc) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .nest("/api/v1", v1)
        .split_for_parts();
    CommonResponses.modify(&mut doc);
    (router, doc)
}

/// The answers any operation may give whatever its handler does, added to every operation of
/// the document (after the routers are merged, so none is forgotten), each with the one error
/// shape: 503 with `Retry-After` (a request not answered in time, a busy database); 400 when
/// the operation takes a path, query or body (one that cannot be parsed: `invalid_path`,
/// `invalid_query`, `invalid_body`); 401 when it takes a credential (missing, unknown,
/// expired or revoked); 403 when it takes a staff session (whose password an administrator
/// reset must be changed first). A handler's own answers (403, 404, 409, 422, 429) are in its
/// `#[utoipa::path]`.
struct CommonResponses;

impl Modify for CommonResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{HttpMethod, RefOr};
        let error = |description: &str, retry_after: bool| {
            let mut response = utoipa::openapi::ResponseBuilder::new()
                .description(description)
                .content(
                    "application/json",
                    utoipa::openapi::ContentBuilder::new()
                        .schema(Some(utoipa::openapi::Ref::from_schema_name("ErrorBody")))
                        .build(),
                );
            if retry_after {
                response = response.header(
                    "Retry-After",
                    utoipa::openapi::HeaderBuilder::new()
                        .schema(
                            utoipa::openapi::ObjectBuilder::new()
                                .schema_type(utoipa::openapi::schema::Type::Integer)
                                .minimum(Some(1)),
                        )
                        .description(Some("seconds to wait before retrying"))
                        .build(),
                );
            }
            RefOr::T(response.build())
        };
        for item in openapi.paths.paths.values_mut() {
            let path_parameters = item.parameters.as_ref().is_some_and(|p| !p.is_empty());
            for method in [
                HttpMethod::Get,
                HttpMethod::Put,
                HttpMethod::Post,
                HttpMethod::Delete,
                HttpMethod::Patch,
            ] {
                let operation = match method {
                    HttpMethod::Get => item.get.as_mut(),
                    HttpMethod::Put => item.put.as_mut(),
                    HttpMethod::Post => item.post.as_mut(),
                    HttpMethod::Delete => item.delete.as_mut(),
                    HttpMethod::Patch => item.patch.as_mut(),
                    _ => None,
                };
                let Some(operation) = operation else { continue };
                let takes_input = path_parameters
                    || operation.request_body.is_some()
                    || operation.parameters.as_ref().is_some_and(|p| !p.is_empty());
                let schemes: Vec<String> = operation
                    .security
                    .iter()
                    .flatten()
                    .filter_map(|requirement| serde_json::to_value(requirement).ok())
                    .filter_map(|value| value.as_object().cloned())
                    .flat_map(|object| object.into_iter().map(|(name, _)| name))
                    .collect();
                let takes_credential = !schemes.is_empty();
                let takes_staff = schemes.iter().any(|name| name == "staff");
                let responses = &mut operation.responses.responses;
                if takes_input {
                    responses.entry("400".into()).or_insert_with(|| {
                        error(
                            "the path, query or body cannot be parsed (invalid_path, \
                             invalid_query, invalid_body)",
                            false,
                        )
                    });
                }
                if takes_credential {
                    responses.entry("401".into()).or_insert_with(|| {
                        error(
                            "no credential, or an unknown, expired or revoked one",
                            false,
                        )
                    });
                }
                if takes_staff {
                    responses.entry("403".into()).or_insert_with(|| {
                        error(
                            "not allowed for this role or location, or the staff member must \
                             change the password an administrator reset first",
                            false,
                        )
                    });
                }
                responses.entry("503".into()).or_insert_with(|| {
                    error(
                        "the server is busy (the request was not answered in time, or the \
                         database is busy): retry after Retry-After seconds",
                        true,
                    )
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use utoipa::openapi::path::{Operation, ParameterIn};

    fn operations(doc: &utoipa::openapi::OpenApi) -> Vec<(String, &Operation)> {
        let mut all = Vec::new();
        for (path, item) in &doc.paths.paths {
            for operation in [&item.get, &item.put, &item.post, &item.delete, &item.patch]
                .into_iter()
                .flatten()
            {
                all.push((path.clone(), operation));
            }
        }
        all
    }

    /// A query struct documented without `parameter_in = Query` appears as required path
    /// parameters the path does not have: clients (and the fuzzer) could never send them.
    #[test]
    fn every_parameter_is_where_the_handler_reads_it() {
        let (_, doc) = super::api();
        for (path, operation) in operations(&doc) {
            let in_template: BTreeSet<String> = path
                .split('/')
                .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}').map(str::to_owned))
                .collect();
            let declared: BTreeSet<String> = operation
                .parameters
                .iter()
                .flatten()
                .filter(|p| p.parameter_in == ParameterIn::Path)
                .map(|p| p.name.clone())
                .collect();
            assert_eq!(in_template, declared, "{path}: path parameters");
        }
    }

    /// Every operation may answer 503 (busy), one taking input 400 (unparsable), one taking a
    /// credential 401 — and says so, with the one error shape.
    #[test]
    fn every_operation_documents_the_answers_any_request_may_get() {
        let (_, doc) = super::api();
        for (path, operation) in operations(&doc) {
            let statuses: BTreeSet<&str> = operation
                .responses
                .responses
                .keys()
                .map(String::as_str)
                .collect();
            assert!(statuses.contains("503"), "{path}: {statuses:?}");
            let takes_input = operation.request_body.is_some()
                || operation.parameters.as_ref().is_some_and(|p| !p.is_empty());
            if takes_input {
                assert!(statuses.contains("400"), "{path}: {statuses:?}");
            }
            if operation.security.as_ref().is_some_and(|s| !s.is_empty()) {
                assert!(statuses.contains("401"), "{path}: {statuses:?}");
            }
        }
    }

    /// Every type in the OpenAPI document has a name of its own: utoipa keys component schemas
    /// by name, so two types called the same (a coupon's and a receipt's `ClaimRequest`) would
    /// leave one of them described by the other's schema. Reads the sources of the server and
    /// the domain crate for `ToSchema` types and the name each goes by (`#[schema(as = …)]`).
    #[test]
    fn schema_names_are_unique() {
        fn sources(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
            for entry in std::fs::read_dir(dir).expect("a source folder").flatten() {
                let path = entry.path();
                if path.is_dir() {
                    sources(&path, out);
                } else if path.extension().is_some_and(|e| e == "rs") {
                    out.push(path);
                }
            }
        }
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut files = Vec::new();
        sources(&root.join("src"), &mut files);
        sources(&root.join("../domain/src"), &mut files);
        let mut seen: std::collections::BTreeMap<String, String> = Default::default();
        let mut clashes = Vec::new();
        for file in files {
            let text = std::fs::read_to_string(&file).expect("a readable source");
            let lines: Vec<&str> = text.lines().collect();
            for (i, line) in lines.iter().enumerate() {
                if !(line.trim_start().starts_with("#[derive(") && line.contains("ToSchema")) {
                    continue;
                }
                let mut alias = None;
                for next in lines.iter().skip(i + 1).take(12) {
                    let next = next.trim();
                    if let Some(rest) = next.strip_prefix("#[schema(as = ") {
                        alias = rest.split([')', ',']).next();
                    }
                    let item = next
                        .strip_prefix("pub struct ")
                        .or_else(|| next.strip_prefix("pub enum "));
                    if let Some(item) = item {
                        let name: String = item
                            .chars()
                            .take_while(|c| c.is_alphanumeric() || *c == '_')
                            .collect();
                        let generic = item[name.len()..].starts_with('<');
                        let name = alias.map_or(name, |a| {
                            a.rsplit("::").next().unwrap_or(a).trim().to_owned()
                        });
                        let at = format!("{}:{}", file.display(), i + 1);
                        if !generic {
                            if let Some(first) = seen.insert(name.clone(), at.clone()) {
                                clashes.push(format!("{name}: {first} and {at}"));
                            }
                        }
                        break;
                    }
                }
            }
        }
        assert!(seen.len() > 100, "only {} schema types found", seen.len());
        assert!(clashes.is_empty(), "schema names used twice: {clashes:#?}");
    }
}
