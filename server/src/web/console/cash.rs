//! The console's lane cash page (issue 21): every lane's Z reports with the cash difference,
//! and the cash put in or taken out and the offline switches — head office for every store (or
//! one, `?store=`), a store manager for their own store only — through
//! [`crate::app::cash_control::overview`].

use axum::extract::{Query, State};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use maud::html;
use retail_domain::money::Money;
use serde::Deserialize;

use crate::app::AppState;
use crate::web::{console_page, Ctx, Staff, WebResult};

/// Cash page routes.
pub fn router() -> Router<AppState> {
    Router::new().route("/console/cash", get(page))
}

#[derive(Debug, Deserialize)]
struct CashParams {
    store: Option<String>,
}

/// Rows the page shows of each list.
const ROWS: i64 = 200;

fn money(fen: i64) -> String {
    Money::from_fen(fen).to_string()
}

fn at(t: chrono::DateTime<chrono::Utc>) -> String {
    crate::web::when(t.timestamp_millis())
}

async fn page(
    State(state): State<AppState>,
    ctx: Ctx,
    Staff(staff): Staff,
    Query(p): Query<CashParams>,
) -> WebResult<Response> {
    let view = crate::app::cash_control::overview(&state, &staff, p.store.as_deref(), ROWS).await?;
    let kind = |k: &str| -> String {
        match k {
            "cash_in" => ctx.t("入款", "Cash in"),
            "cash_out" => ctx.t("出款", "Cash out"),
            "offline_on" => ctx.t("切换离线销售", "Switched offline"),
            "offline_off" => ctx.t("恢复在线销售", "Switched online"),
            other => other,
        }
        .to_owned()
    };
    let body = html! {
        div.card #z-reports {
            b { (ctx.t("交班 Z 报表与现金差额", "Z reports and cash differences")) }
            div.table-wrap { table {
                thead { tr {
                    th { (ctx.t("门店", "Store")) } th { (ctx.t("收银台", "Lane")) }
                    th { (ctx.t("收银员", "Cashier")) } th { (ctx.t("开班", "Opened")) }
                    th { (ctx.t("交班", "Closed")) } th { (ctx.t("笔数", "Sales")) }
                    th { (ctx.t("销售额", "Sales total")) } th { (ctx.t("应有现金", "Expected")) }
                    th { (ctx.t("实点现金", "Counted")) } th { (ctx.t("差额", "Difference")) }
                    th { (ctx.t("交接给", "Handed over to")) }
                } }
                tbody { @for s in &view.shifts {
                    tr.shift data-shift=(s.id) data-store=(s.location_id) {
                        td { (s.location_id) } td.lane { (s.lane) } td.cashier { (s.cashier) }
                        td { (s.opened_at.map(at).unwrap_or_default()) } td { (at(s.closed_at)) }
                        td { (s.sales) } td { (money(s.sales_total_fen)) }
                        td.expected { (money(s.expected_fen)) } td.counted { (money(s.counted_fen)) }
                        td.difference style=(if s.difference_fen != 0 { "color:#c0392b;font-weight:700" } else { "" }) {
                            (money(s.difference_fen))
                        }
                        td { (s.handed_over_to.clone().unwrap_or_default()) }
                    }
                } }
            } }
            @if view.shifts.is_empty() { p.muted { (ctx.t("还没有交班记录。", "No closed shifts yet.")) } }
        }
        div.card #cash-events {
            b { (ctx.t("入款、出款与离线切换", "Cash in / out and offline switches")) }
            div.table-wrap { table {
                thead { tr {
                    th { (ctx.t("时间", "When")) } th { (ctx.t("门店", "Store")) }
                    th { (ctx.t("收银台", "Lane")) } th { (ctx.t("类型", "Kind")) }
                    th { (ctx.t("金额", "Amount")) } th { (ctx.t("原因", "Reason")) }
                    th { (ctx.t("收银员", "Cashier")) } th { (ctx.t("批准", "Approved by")) }
                } }
                tbody { @for e in &view.events {
                    tr.event data-kind=(e.kind) {
                        td { (at(e.at)) } td { (e.location_id) } td { (e.lane) } td { (kind(&e.kind)) }
                        td { (e.amount_fen.map(money).unwrap_or_default()) }
                        td.reason { (e.reason.clone().unwrap_or_default()) }
                        td { (e.cashier) } td { (e.approved_by.clone().unwrap_or_default()) }
                    }
                } }
            } }
        }
    };
    Ok(console_page(
        &ctx,
        &staff,
        ctx.t("收银现金", "Lane cash"),
        body,
    ))
}
