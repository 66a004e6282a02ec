//! Merchant settlement statements (issue 20): the list, one statement with its lines, its CSV
//! file, and head office's payout — thin over [`crate::app::merchant_statements`]. Head office
//! sees every merchant's; a merchant administrator only its own (another's is not found).

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{Json, Path, Query};
use crate::actor::StaffActor;
use crate::app::merchant_statements::{
    self as statements_app, ListQuery, PayoutRequest, StatementDetail,
};
use crate::app::AppState;
use crate::error::AppResult;
use crate::storage::merchant_statements::{Statement, StatementStatus};
use crate::storage::now_ms;

/// Merchant statement routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(get))
        .routes(routes!(csv))
        .routes(routes!(payout))
}

/// Which statements to list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StatementQuery {
    /// Only this merchant's (head office; a merchant administrator always gets its own).
    pub merchant: Option<String>,
    /// From this China day, `YYYY-MM-DD`.
    pub from: Option<String>,
    /// To this China day, `YYYY-MM-DD`.
    pub to: Option<String>,
    /// Only in this status (as of now).
    pub status: Option<StatementStatus>,
}

/// Merchants' daily statements, newest day first (at most 1000): head office any merchant's,
/// a merchant administrator its own.
#[utoipa::path(get, path = "/merchant-statements", tag = "merchants", security(("staff" = [])),
    params(StatementQuery),
    responses((status = 200, body = [Statement]), (status = 403, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody)))]
async fn list(
    staff: StaffActor,
    State(state): State<AppState>,
    Query(q): Query<StatementQuery>,
) -> AppResult<Json<Vec<Statement>>> {
    let q = ListQuery {
        merchant: q.merchant,
        from: q.from,
        to: q.to,
        status: q.status,
    };
    Ok(Json(
        statements_app::list(&state.store, &staff, &q, now_ms()).await?,
    ))
}

/// One statement with its lines (another merchant's: 404 for a merchant administrator).
#[utoipa::path(get, path = "/merchant-statements/{id}", tag = "merchants", security(("staff" = [])),
    params(("id" = String, Path, description = "Statement id")),
    responses((status = 200, body = StatementDetail), (status = 403, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody)))]
async fn get(
    staff: StaffActor,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> AppResult<Json<StatementDetail>> {
    Ok(Json(
        statements_app::detail(&state.store, &staff, &id, now_ms()).await?,
    ))
}

/// One statement as a CSV file (`statement-<merchant>-<day>.csv`, UTF-8 with a BOM): a header
/// row, one row per line, a totals row; columns in docs/CONTRACTS.md ("Merchant statements").
#[utoipa::path(get, path = "/merchant-statements/{id}/csv", tag = "merchants", security(("staff" = [])),
    params(("id" = String, Path, description = "Statement id")),
    responses((status = 200, content_type = "text/csv", body = String),
        (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)))]
async fn csv(
    staff: StaffActor,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> AppResult<Response> {
    let detail = statements_app::detail(&state.store, &staff, &id, now_ms()).await?;
    let body = statements_app::csv(&detail)?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!(
                    "attachment; filename=\"statement-{}-{}.csv\"",
                    detail.statement.merchant_id, detail.statement.period_day
                ),
            ),
        ],
        body,
    )
        .into_response())
}

/// Marks a settleable statement paid out with the transfer's reference (head office; the same
/// reference again answers it as it is; 409 while frozen or when paid out with another
/// reference; audited as `merchant_statement.payout`).
#[utoipa::path(post, path = "/merchant-statements/{id}/payout", tag = "merchants", security(("staff" = [])),
    params(("id" = String, Path, description = "Statement id")),
    request_body = PayoutRequest,
    responses((status = 200, body = Statement), (status = 403, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody)))]
async fn payout(
    staff: StaffActor,
    State(state): State<AppState>,
    Path(id): Path<String>,
    Json(req): Json<PayoutRequest>,
) -> AppResult<Json<Statement>> {
    Ok(Json(
        statements_app::payout(&state.store, &staff, &id, &req.reference, now_ms()).await?,
    ))
}
