//! Sales analytics (issue 19): `GET /analytics/sales`, the figures of the console's sales
//! dashboards as JSON ([`crate::app::sales_report::report`]), read from the sales rollup only.
//! Head office sees every store (or one it names), a store manager their own.

use axum::extract::State;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{Json, Query};
use crate::actor::StaffActor;
use crate::app::events::parse_day;
use crate::app::sales_report::{self as sales, Granularity, Report};
use crate::app::AppState;
use crate::error::AppResult;

/// Sales analytics routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(report))
}

/// A date range of the sales report.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SalesQuery {
    /// First day, `YYYY-MM-DD` (China time).
    pub from: String,
    /// Last day, `YYYY-MM-DD` (China time), at most 366 days after `from`.
    pub to: String,
    /// `day` (default) or `week` (Monday to Sunday).
    pub granularity: Option<String>,
    /// A store (location id); a store manager may name only their own (the default).
    pub store: Option<String>,
}

/// The sales report over a date range: GMV, orders, average basket, refunds and margin (over
/// the lines whose SKU has a cost) per day or week, per store and channel (`delivery`,
/// `pickup`, `lane`, `scan_and_go`), and the best-selling products and categories. Money in
/// fen. Head office and store managers (their own store only).
#[utoipa::path(get, path = "/analytics/sales", tag = "analytics", security(("staff" = [])),
    params(SalesQuery),
    responses((status = 200, body = Report), (status = 403, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody)))]
async fn report(
    staff: StaffActor,
    State(state): State<AppState>,
    Query(q): Query<SalesQuery>,
) -> AppResult<Json<Report>> {
    let from = parse_day(&q.from, "from")?;
    let to = parse_day(&q.to, "to")?;
    let granularity = Granularity::parse(q.granularity.as_deref())?;
    Ok(Json(
        sales::report(&state, &staff, from, to, granularity, q.store.as_deref()).await?,
    ))
}
