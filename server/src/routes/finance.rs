//! The finance export (head office): a day's settlement per store as JSON or CSV, built by
//! [`crate::app::finance`]; see docs/CONTRACTS.md, "Finance export".

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{Json, Query};
use crate::actor::{Role, StaffActor};
use crate::app::finance::{self as finance_app, Settlement};
use crate::app::AppState;
use crate::error::AppResult;

/// Finance routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(settlements))
        .routes(routes!(settlements_csv))
}

/// Which settlement.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SettlementQuery {
    /// The day, `YYYY-MM-DD` (Beijing, UTC+8).
    pub date: String,
    /// Only this store (location code); every store when absent.
    pub store: Option<String>,
    /// Only this merchant's orders (`platform`: the operator's own and money of no order);
    /// every merchant when absent.
    pub merchant: Option<String>,
}

async fn read(state: &AppState, staff: &StaffActor, q: &SettlementQuery) -> AppResult<Settlement> {
    staff.require(&[Role::HeadOfficeAdmin])?;
    let day = finance_app::parse_day("date", &q.date)?;
    let store = q.store.as_deref().map(str::trim).filter(|s| !s.is_empty());
    let merchant = q
        .merchant
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty());
    finance_app::settlement(state, day, store, merchant).await
}

/// A day's settlement per store and merchant: payments by tender, refunds, distribution commission, fees
/// (not recorded: 0.00) and net, with every record. Payments and refunds are dated as the
/// reconciliation dates them, so a provider's figures here equal that day's reconciliation.
/// Head office.
#[utoipa::path(get, path = "/finance/settlements", tag = "finance", security(("staff" = [])),
    params(SettlementQuery),
    responses((status = 200, body = Settlement),
        (status = 403, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody)))]
async fn settlements(
    staff: StaffActor,
    State(state): State<AppState>,
    Query(q): Query<SettlementQuery>,
) -> AppResult<Json<Settlement>> {
    Ok(Json(read(&state, &staff, &q).await?))
}

/// The same settlement as a CSV file (`settlement-<date>[-<merchant>][-<store>].csv`, UTF-8
/// with a BOM): one row per record, then a `total` row per store and merchant. Head office.
#[utoipa::path(get, path = "/finance/settlements.csv", tag = "finance", security(("staff" = [])),
    params(SettlementQuery),
    responses((status = 200, content_type = "text/csv", body = String),
        (status = 403, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody)))]
async fn settlements_csv(
    staff: StaffActor,
    State(state): State<AppState>,
    Query(q): Query<SettlementQuery>,
) -> AppResult<Response> {
    let settlement = read(&state, &staff, &q).await?;
    let body = finance_app::settlement_csv(&settlement)?;
    let mut name = format!("settlement-{}", settlement.date);
    for part in [&q.merchant, &q.store] {
        if let Some(part) = part.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            name = format!("{name}-{part}");
        }
    }
    let name = format!("{name}.csv");
    let disposition = format!("attachment; filename=\"{}\"", name.replace('"', ""));
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        body,
    )
        .into_response())
}
