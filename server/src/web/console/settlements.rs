//! The console's merchant settlement (issue 20): merchants' daily statements
//! (`/console/settlements?merchant=&status=&from=&to=`, with totals), one statement with its
//! lines (`/console/settlements/{id}`), its CSV file and head office's payout form. Head office
//! sees every merchant's; a merchant administrator only its own. Thin over
//! [`crate::app::merchant_statements`].

use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use maud::html;
use serde::Deserialize;

use super::csv_response;
use crate::actor::Role;
use crate::app::merchant_statements::{self as statements_app, ListQuery};
use crate::app::AppState;
use crate::error::AppError;
use crate::storage::merchant_statements::StatementStatus;
use crate::storage::now_ms;
use crate::web::{console_page, redirect, urlencode, when, yuan, Ctx, Form, Staff, WebResult};

/// Merchant settlement routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/console/settlements", get(list))
        .route("/console/settlements/{id}", get(detail))
        .route("/console/settlements/{id}/csv", get(csv))
        .route("/console/settlements/{id}/payout", post(payout))
}

#[derive(Debug, Deserialize, Default)]
struct ListParams {
    merchant: Option<String>,
    status: Option<String>,
    from: Option<String>,
    to: Option<String>,
}

fn status_text(ctx: &Ctx, status: StatementStatus) -> &'static str {
    match status {
        StatementStatus::Frozen => ctx.t("冻结中", "Frozen"),
        StatementStatus::Settleable => ctx.t("可结算", "Settleable"),
        StatementStatus::PaidOut => ctx.t("已打款", "Paid out"),
    }
}

async fn list(
    State(state): State<AppState>,
    ctx: Ctx,
    Staff(staff): Staff,
    Query(p): Query<ListParams>,
) -> WebResult<Response> {
    let scope = staff.merchant_scope()?.map(str::to_owned);
    let status = match p.status.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        None => None,
        Some(s) => Some(
            s.parse::<StatementStatus>()
                .map_err(|e| AppError::field("status", e))?,
        ),
    };
    let q = ListQuery {
        merchant: p.merchant.clone(),
        from: p.from.clone(),
        to: p.to.clone(),
        status,
    };
    let rows = statements_app::list(&state.store, &staff, &q, now_ms()).await?;
    let (paid, refunded, commission, net) = rows.iter().fold((0, 0, 0, 0), |t, s| {
        (
            t.0 + s.paid_fen,
            t.1 + s.refunded_fen,
            t.2 + s.commission_fen,
            t.3 + s.net_fen,
        )
    });
    let chosen = status.map(StatementStatus::as_str).unwrap_or("");
    let body = html! {
        form.card.row #settlement-filter method="get" action="/console/settlements" {
            @if scope.is_none() {
                input #merchant name="merchant" value=(p.merchant.clone().unwrap_or_default())
                    placeholder=(ctx.t("商家（全部）", "Merchant (all)")) style="max-width:180px";
            }
            select #status name="status" aria-label=(ctx.t("状态", "Status")) {
                option value="" selected[chosen.is_empty()] { (ctx.t("全部状态", "Any status")) }
                @for s in [StatementStatus::Frozen, StatementStatus::Settleable, StatementStatus::PaidOut] {
                    option value=(s.as_str()) selected[chosen == s.as_str()] { (status_text(&ctx, s)) }
                }
            }
            label for="from" { (ctx.t("从", "From")) }
            input #from type="date" name="from" value=(p.from.clone().unwrap_or_default()) style="max-width:170px";
            label for="to" { (ctx.t("到", "To")) }
            input #to type="date" name="to" value=(p.to.clone().unwrap_or_default()) style="max-width:170px";
            button.btn type="submit" { (ctx.t("查看", "Show")) }
        }
        p.muted { (ctx.t(
            "每个商家每天一张结算单（北京时间）：实付 − 退款 − 平台佣金；售后期内冻结，期满后可打款。",
            "One statement per merchant and day (Beijing time): paid − refunded − platform commission; frozen during the after-sale window, then settleable."
        )) }
        div.table-wrap { table #statements {
            tr {
                th { (ctx.t("日期", "Day")) } th { (ctx.t("商家", "Merchant")) }
                th.num { (ctx.t("实付", "Paid")) } th.num { (ctx.t("退款", "Refunded")) }
                th.num { (ctx.t("佣金", "Commission")) } th.num { (ctx.t("应结", "Net")) }
                th { (ctx.t("状态", "Status")) } th { (ctx.t("冻结至", "Frozen until")) }
            }
            @for s in &rows {
                tr.statement data-id=(s.id) {
                    td { a href={ "/console/settlements/" (s.id) } { (s.period_day) } }
                    td { (s.merchant_id) }
                    td.num { (yuan(s.paid_fen)) } td.num { (yuan(s.refunded_fen)) }
                    td.num { (yuan(s.commission_fen)) } td.num.net { b { (yuan(s.net_fen)) } }
                    td.status { (status_text(&ctx, s.status)) } td.muted { (when(s.frozen_until)) }
                }
            }
            @if rows.is_empty() {
                tr { td colspan="8" { span.muted { (ctx.t("暂无结算单。", "No statements.")) } } }
            }
            tr #statements-total {
                td { b { (ctx.t("合计", "Total")) } } td { (rows.len()) }
                td.num { (yuan(paid)) } td.num { (yuan(refunded)) } td.num { (yuan(commission)) }
                td.num { b { (yuan(net)) } } td {} td {}
            }
        } }
    };
    Ok(console_page(
        &ctx,
        &staff,
        ctx.t("商家结算", "Merchant settlement"),
        body,
    ))
}

#[derive(Debug, Deserialize, Default)]
struct NoticeParams {
    done: Option<String>,
    error: Option<String>,
}

async fn detail(
    State(state): State<AppState>,
    ctx: Ctx,
    Staff(staff): Staff,
    Path(id): Path<String>,
    Query(n): Query<NoticeParams>,
) -> WebResult<Response> {
    let d = statements_app::detail(&state.store, &staff, &id, now_ms()).await?;
    let s = &d.statement;
    let head_office = staff.role == Role::HeadOfficeAdmin;
    let body = html! {
        @if n.done.is_some() { div.notice.ok role="status" { (ctx.t("已标记打款。", "Marked paid out.")) } }
        @if let Some(e) = &n.error { div.notice.err role="alert" #payout-error {
            @if e == "reference" { (ctx.t("请填写 1–64 个字符的打款流水号。", "Enter the transfer's reference, 1–64 characters.")) }
            @else { (ctx.t("无法打款：结算单冻结中或已用其他流水号打款。", "Not paid out: the statement is frozen, or was paid out with another reference.")) }
        } }
        div.card #statement-summary {
            p { (ctx.t("商家", "Merchant")) ": " b { (s.merchant_id) } " · " (ctx.t("日期", "Day")) ": " b { (s.period_day) }
                " · " (ctx.t("状态", "Status")) ": " b #statement-status { (status_text(&ctx, s.status)) } }
            p { (ctx.t("实付", "Paid")) " " (yuan(s.paid_fen)) " − " (ctx.t("退款", "refunded")) " " (yuan(s.refunded_fen))
                " − " (ctx.t("佣金", "commission")) " " (yuan(s.commission_fen)) " = "
                b #statement-net { (yuan(s.net_fen)) } }
            p.muted { (ctx.t("冻结至", "Frozen until")) " " (when(s.frozen_until))
                @if let (Some(at), Some(r)) = (s.paid_out_at, &s.payout_ref) {
                    " · " (ctx.t("已打款", "Paid out")) " " (when(at)) " · " (r)
                    @if let Some(by) = &s.paid_out_by { " · " (by) }
                } }
            a.btn.secondary #statement-csv href={ "/console/settlements/" (urlencode(&s.id)) "/csv" } { (ctx.t("下载 CSV", "Download CSV")) }
        }
        @if head_office && s.status == StatementStatus::Settleable {
            form.card.row #payout-form method="post" action={ "/console/settlements/" (urlencode(&s.id)) "/payout" } {
                (ctx.csrf_field())
                input #reference name="reference" placeholder=(ctx.t("打款流水号", "Transfer reference")) style="max-width:260px";
                button.btn type="submit" { (ctx.t("标记已打款", "Mark paid out")) }
            }
        }
        div.table-wrap { table #statement-lines {
            tr {
                th { "#" } th { (ctx.t("类型", "Kind")) } th { (ctx.t("订单", "Order")) } th { "SKU" }
                th { (ctx.t("分类", "Category")) } th.num { (ctx.t("数量", "Qty")) } th.num { (ctx.t("金额", "Amount")) }
                th.num { (ctx.t("费率", "Rate")) } th.num { (ctx.t("佣金", "Commission")) } th { (ctx.t("时间", "Time")) }
            }
            @for l in &d.lines {
                tr {
                    td { (l.line_no) }
                    td { @if l.kind == "refund" { (ctx.t("退款", "Refund")) } @else { (ctx.t("销售", "Sale")) } }
                    td { (l.order_no) } td.muted { (l.sku_id) } td { (l.category_id) } td.num { (l.qty) }
                    td.num { (yuan(l.amount_fen)) } td.num { (format!("{}.{:02}%", l.rate_bp / 100, l.rate_bp % 100)) }
                    td.num { (yuan(l.commission_fen)) } td.muted { (when(l.at)) }
                }
            }
        } }
        p { a href="/console/settlements" { (ctx.t("← 全部结算单", "← All statements")) } }
    };
    Ok(console_page(
        &ctx,
        &staff,
        ctx.t("结算单", "Statement"),
        body,
    ))
}

async fn csv(
    State(state): State<AppState>,
    Staff(staff): Staff,
    Path(id): Path<String>,
) -> WebResult<Response> {
    let d = statements_app::detail(&state.store, &staff, &id, now_ms()).await?;
    let bytes = statements_app::csv(&d)?;
    Ok(csv_response(
        &format!(
            "statement-{}-{}.csv",
            d.statement.merchant_id, d.statement.period_day
        ),
        bytes,
    ))
}

#[derive(Debug, Deserialize)]
struct PayoutForm {
    #[serde(default)]
    reference: String,
}

async fn payout(
    State(state): State<AppState>,
    Staff(staff): Staff,
    Path(id): Path<String>,
    Form(form): Form<PayoutForm>,
) -> WebResult<Response> {
    let page = format!("/console/settlements/{}", urlencode(&id));
    match statements_app::payout(&state.store, &staff, &id, &form.reference, now_ms()).await {
        Ok(_) => Ok(redirect(&format!("{page}?done=1"))),
        Err(AppError::Invalid { .. }) => Ok(redirect(&format!("{page}?error=reference"))),
        Err(AppError::Conflict { .. }) => Ok(redirect(&format!("{page}?error=conflict"))),
        Err(e) => Err(e.into()),
    }
}
