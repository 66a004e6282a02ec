//! The console's settlement page (finance export, issue 20), beside the reconciliation: a day's
//! settlement per store (`/console/payments/settlements?date=&store=`) — payments by tender,
//! refunds, commission, fees and net — and its CSV file. Head office only. Thin over
//! [`crate::app::finance`].

use axum::extract::{Query, State};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use maud::html;
use serde::Deserialize;

use super::csv_response;
use crate::actor::Role;
use crate::app::finance;
use crate::app::AppState;
use crate::web::{console_page, Ctx, Staff, WebResult};

/// Settlement routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/console/payments/settlements", get(page))
        .route("/console/payments/settlements.csv", get(csv))
}

#[derive(Debug, Deserialize, Default)]
struct Params {
    date: Option<String>,
    store: Option<String>,
}

impl Params {
    /// The day asked for (yesterday in Beijing by default) and the store, if one.
    fn read(&self) -> Result<(chrono::NaiveDate, Option<String>), crate::error::AppError> {
        let day = match self
            .date
            .as_deref()
            .map(str::trim)
            .filter(|d| !d.is_empty())
        {
            Some(d) => finance::parse_day("date", d)?,
            None => crate::app::reconciliation::beijing_date(chrono::Utc::now())
                .pred_opt()
                .unwrap_or_default(),
        };
        let store = self
            .store
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned);
        Ok((day, store))
    }
}

async fn page(
    State(state): State<AppState>,
    ctx: Ctx,
    Staff(staff): Staff,
    Query(p): Query<Params>,
) -> WebResult<Response> {
    staff.require(&[Role::HeadOfficeAdmin])?;
    let (day, store) = p.read()?;
    let s = finance::settlement(&state, day, store.as_deref(), None).await?;
    let csv_link = format!(
        "/console/payments/settlements.csv?date={}{}",
        s.date,
        store
            .as_deref()
            .map(|st| format!("&store={}", crate::web::urlencode(st)))
            .unwrap_or_default()
    );
    let body = html! {
        div.card.row #payment-tabs {
            a href="/console/payments" { (ctx.t("付款与退款", "Payments and refunds")) }
            a href="/console/payments/reconciliation" { (ctx.t("对账", "Reconciliation")) }
        }
        form.card.row method="get" action="/console/payments/settlements" {
            input #date type="date" name="date" value=(s.date) aria-label=(ctx.t("日期", "Day"));
            input #store name="store" value=(store.clone().unwrap_or_default()) placeholder=(ctx.t("门店（全部）", "Store (all)")) style="max-width:140px";
            button.btn type="submit" { (ctx.t("查看", "Show")) }
            a.btn.secondary #settlement-csv href=(csv_link) { (ctx.t("下载 CSV", "Download CSV")) }
        }
        p.muted { (ctx.t("北京时间当日；付款与退款的日期与对账一致。手续费本系统不记录，为 0。", "The Beijing day; payments and refunds are dated as the reconciliation dates them. Provider fees are not recorded here: 0.00.")) }
        div.table-wrap { table #settlements {
            tr { th { (ctx.t("门店", "Store")) } th.num { (ctx.t("订单", "Orders")) } th.num { (ctx.t("收款", "Payments")) }
                 th.num { (ctx.t("退款", "Refunds")) } th.num { (ctx.t("佣金", "Commission")) } th.num { (ctx.t("手续费", "Fees")) }
                 th.num { (ctx.t("净额", "Net")) } th { (ctx.t("按支付方式", "By tender")) } }
            @for st in &s.stores {
                tr {
                    td { (st.store_id.clone().unwrap_or_else(|| ctx.t("（无门店：充值）", "(no store: recharges)").to_owned())) }
                    td.num { (st.orders) } td.num { (st.payments) } td.num { (st.refunds) }
                    td.num { (st.commission) } td.num { (st.fees) } td.num { b { (st.net) } }
                    td.muted { @for m in &st.by_method { (m.method) " " (m.payments) " / −" (m.refunds) "; " } }
                }
            }
            tr #settlement-total {
                td { b { (ctx.t("合计", "Total")) } } td.num {}
                td.num { (s.totals.payments) } td.num { (s.totals.refunds) } td.num { (s.commission) }
                td.num { (s.fees) } td.num { b { (s.net) } } td {}
            }
        } }
    };
    Ok(console_page(
        &ctx,
        &staff,
        ctx.t("日结算", "Daily settlement"),
        body,
    ))
}

async fn csv(
    State(state): State<AppState>,
    Staff(staff): Staff,
    Query(p): Query<Params>,
) -> WebResult<Response> {
    staff.require(&[Role::HeadOfficeAdmin])?;
    let (day, store) = p.read()?;
    let s = finance::settlement(&state, day, store.as_deref(), None).await?;
    let bytes = finance::settlement_csv(&s)?;
    Ok(csv_response(&format!("settlement-{}.csv", s.date), bytes))
}
