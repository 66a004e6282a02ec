//! The console's after-sales (售后, issue 16). For store managers (their store's or warehouse's
//! cases) and head office (every location's): the review queue (`/console/after-sales`, open
//! cases or all of them, paged), a case's page with its lines, photos, timeline and the next
//! step — approve, reject with a reason, ask the shopper for more information, goods received
//! and inspected (the refund goes out), an exchange's replacement shipped with a waybill. For
//! head office: the ratings and reasons by store and product (`/console/after-sales/ratings`)
//! and the rules (`/console/after-sales/rules`: return windows by category, auto-approval under
//! an amount, unshipped cancellations approved at once, the damaged location). Thin over
//! [`crate::app::after_sales`], which checks the role and store and audits every decision.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use maud::html;
use retail_domain::money::Money;
use serde::Deserialize;
use uuid::Uuid;

use super::NoticeParams;
use crate::actor::Role;
use crate::app::after_sales;
use crate::app::AppState;
use crate::error::AppError;
use crate::storage;
use crate::storage::after_sales::{AfterSaleKind, AfterSaleRules, AfterSaleStatus, CategoryWindow};
use crate::storage::paging::{Cursor, PAGE_SIZE};
use crate::web::after_sale_text::{
    error_text, kind_label, note_text, reason_label, status_label, step_label,
};
use crate::web::{
    console_page, pager, redirect, urlencode, when, yuan, Ctx, Form, Staff, WebResult,
};

/// After-sale routes of the console.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/console/after-sales", get(queue))
        .route("/console/after-sales/ratings", get(ratings))
        .route(
            "/console/after-sales/rules",
            get(rules_page).post(save_rules),
        )
        .route("/console/after-sales/{id}", get(case_page))
        .route("/console/after-sales/{id}/{step}", post(step))
}

#[derive(Debug, Deserialize, Default)]
struct QueueParams {
    all: Option<String>,
    /// The queue's page cursor ([`storage::paging::Cursor`]); none on the first page.
    cursor: Option<String>,
}

async fn queue(
    State(state): State<AppState>,
    ctx: Ctx,
    Staff(staff): Staff,
    Query(p): Query<QueueParams>,
) -> WebResult<Response> {
    let scope = after_sales::reviewer_scope(&staff)?;
    let all = p.all.as_deref() == Some("1");
    let cursor = Cursor::parse(p.cursor.as_deref())?;
    let page = storage::after_sales::queue(
        &state.store,
        scope.as_deref(),
        all,
        cursor.as_ref(),
        PAGE_SIZE,
    )
    .await?;
    let cases = &page.items;
    let head_office = staff.role == Role::HeadOfficeAdmin;
    let body = html! {
        div.row style="margin-bottom:10px" {
            a.chip.on[!all] href="/console/after-sales" { (ctx.t("待处理", "Open")) }
            " " a.chip.on[all] href="/console/after-sales?all=1" { (ctx.t("全部", "All")) }
            @if head_office {
                " " a href="/console/after-sales/ratings" { (ctx.t("评价与原因", "Ratings and reasons")) }
                " " a href="/console/after-sales/rules" { (ctx.t("售后规则", "Rules")) }
            }
        }
        @if cases.is_empty() {
            p.muted #no-after-sales { (ctx.t("没有售后申请。", "No after-sales.")) }
        } @else {
            div.table-wrap { table #after-sales {
                tr { th { (ctx.t("订单", "Order")) } th { (ctx.t("门店/仓", "Location")) } th { (ctx.t("类型", "Kind")) }
                     th { (ctx.t("原因", "Reason")) } th.num { (ctx.t("金额", "Amount")) } th { (ctx.t("状态", "Status")) } th { (ctx.t("申请时间", "Requested")) } }
                @for c in cases {
                    tr.after-sale id={ "case-" (c.id) } {
                        td { a href={ "/console/after-sales/" (c.id) } { (c.order_no) } }
                        td { (c.location_id) }
                        td { (kind_label(ctx.lang, c.kind)) }
                        td { (reason_label(ctx.lang, &c.reason)) }
                        td.num { (yuan(c.amount.fen())) }
                        td { (status_label(ctx.lang, c.status)) }
                        td { (when(c.created_at.timestamp_millis())) }
                    }
                }
            } }
        }
        (pager(&ctx, "/console/after-sales", &[("all", if all { "1" } else { "" })], "cursor", p.cursor.as_deref(), page.next_cursor.as_deref()))
    };
    Ok(console_page(
        &ctx,
        &staff,
        ctx.t("售后", "After-sales"),
        body,
    ))
}

async fn case_page(
    State(state): State<AppState>,
    ctx: Ctx,
    Staff(staff): Staff,
    Path(id): Path<Uuid>,
    Query(p): Query<NoticeParams>,
) -> WebResult<Response> {
    let case = after_sales::reviewable(&state, &staff, id).await?;
    let waiting = matches!(
        case.status,
        AfterSaleStatus::Requested | AfterSaleStatus::InfoRequested
    );
    let goods_back = matches!(
        case.kind,
        AfterSaleKind::ReturnRefund | AfterSaleKind::Exchange
    ) && matches!(
        case.status,
        AfterSaleStatus::Approved | AfterSaleStatus::Returning
    );
    let action = |step: &str| format!("/console/after-sales/{}/{step}", case.id);
    let body = html! {
        @if let Some(done) = &p.done { div.notice.ok role="status" #after-sale-done { (step_label(ctx.lang, done)) } }
        @if let Some(code) = &p.error { div.notice.err role="alert" #after-sale-error { (error_text(ctx.lang, code)) } }
        div.card {
            p { b { (kind_label(ctx.lang, case.kind)) } " · " span #case-status data-status=(case.status.as_str()) { (status_label(ctx.lang, case.status)) } }
            p { (ctx.t("订单 ", "Order ")) a href={ "/console/orders/" (case.order_id) } { (case.order_no) } " · " (case.location_id)
                " · " (reason_label(ctx.lang, &case.reason)) }
            @if !case.description.is_empty() { p #case-description { (case.description) } }
            table {
                @for l in &case.lines { tr { td { (l.name) } td.num { "× " (l.qty) } td.num { (yuan(l.amount.fen())) } } }
                tr { th { (ctx.t("申请退款", "Refund asked")) } td {} td.num { (yuan(case.amount.fen())) } }
                @if case.refunded.fen() > 0 { tr { th { (ctx.t("已退款", "Refunded")) } td {} td.num #case-refunded { (yuan(case.refunded.fen())) } } }
            }
            @if !case.photos.is_empty() {
                div.row #case-photos { @for photo in &case.photos {
                    a href=(crate::app::media::url(photo)) target="_blank" {
                        img.case-photo src=(crate::app::media::url(photo)) width="160" loading="lazy" alt=(ctx.t("顾客照片", "Shopper's photo")) style="height:auto;margin:0 6px 6px 0;border-radius:6px";
                    }
                } }
            }
            @if let Some(a) = &case.answer { p { (ctx.t("顾客补充：", "The shopper adds: ")) (a) } }
            @if let (Some(c), Some(w)) = (&case.return_carrier, &case.return_waybill) { p { (ctx.t("退回运单：", "Return waybill: ")) (c) " " (w) } }
            @if let Some(r) = &case.reject_reason { p { (ctx.t("拒绝原因：", "Why rejected: ")) (r) } }
            @if let Some(rating) = case.rating { p { (ctx.t("顾客评价：", "Rating: ")) (rating) "/5 " (case.rating_comment.as_deref().unwrap_or("")) } }
        }
        @if waiting {
            div.card {
                form.inline method="post" action=(action("approve")) {
                    (ctx.csrf_field())
                    button.btn #approve-after-sale type="submit" { (ctx.t("同意", "Approve")) }
                }
                form.row method="post" action=(action("reject")) style="margin-top:8px" {
                    (ctx.csrf_field())
                    input name="text" maxlength="200" placeholder=(ctx.t("拒绝原因", "Why rejected")) aria-label=(ctx.t("拒绝原因", "Why rejected"));
                    button.btn.secondary #reject-after-sale type="submit" { (ctx.t("拒绝", "Reject")) }
                }
                @if case.status == AfterSaleStatus::Requested {
                    form.row method="post" action=(action("ask-info")) style="margin-top:8px" {
                        (ctx.csrf_field())
                        input name="text" maxlength=(after_sales::MAX_TEXT) placeholder=(ctx.t("需要顾客补充什么？", "What should the shopper add?")) aria-label=(ctx.t("问题", "Question"));
                        button.btn.secondary #ask-info type="submit" { (ctx.t("请顾客补充信息", "Ask for more information")) }
                    }
                }
            }
        }
        @if goods_back {
            form.card.row method="post" action=(action("receive")) {
                (ctx.csrf_field())
                label for="inspection" { (ctx.t("已收货，验货结果", "Received; inspection")) }
                select #inspection name="text" {
                    option value="resaleable" { (ctx.t("完好，退回库存", "Resaleable: back to stock")) }
                    option value="damaged" { (ctx.t("损坏，转残次", "Damaged: to the damaged location")) }
                }
                button.btn #receive-after-sale type="submit" { (ctx.t("确认收货", "Goods received")) }
            }
        }
        @if case.status == AfterSaleStatus::Received {
            form.card.row method="post" action=(action("ship-replacement")) {
                (ctx.csrf_field())
                input name="carrier" maxlength=(after_sales::MAX_WAYBILL) placeholder=(ctx.t("快递公司", "Carrier")) aria-label=(ctx.t("快递公司", "Carrier"));
                input name="text" maxlength=(after_sales::MAX_WAYBILL) placeholder=(ctx.t("运单号", "Waybill")) aria-label=(ctx.t("运单号", "Waybill"));
                button.btn #ship-replacement type="submit" { (ctx.t("换货已发出", "Replacement shipped")) }
            }
        }
        div.card #case-timeline {
            b { (ctx.t("进度", "Timeline")) }
            table { @for e in &case.events {
                tr { td { (when(e.at.timestamp_millis())) } td { (step_label(ctx.lang, &e.step)) } td { (e.actor) } td { (note_text(ctx.lang, &e.step, &e.note)) } }
            } }
        }
    };
    Ok(console_page(
        &ctx,
        &staff,
        ctx.t("售后详情", "After-sale"),
        body,
    ))
}

async fn step(
    State(state): State<AppState>,
    Staff(staff): Staff,
    Path((id, step)): Path<(Uuid, String)>,
    Form(form): Form<HashMap<String, String>>,
) -> WebResult<Response> {
    let text = form.get("text").map(String::as_str).unwrap_or("");
    let result = match step.as_str() {
        "approve" => after_sales::approve(&state, &staff, id).await,
        "reject" => after_sales::reject(&state, &staff, id, text).await,
        "ask-info" => after_sales::ask_info(&state, &staff, id, text).await,
        "receive" => after_sales::receive(&state, &staff, id, text).await,
        "ship-replacement" => {
            let carrier = form.get("carrier").map(String::as_str).unwrap_or("");
            after_sales::ship_replacement(&state, &staff, id, carrier, text).await
        }
        _ => return Err(AppError::not_found("no such step").into()),
    };
    match result {
        Ok(case) => {
            let done = case
                .events
                .last()
                .map(|e| e.step.clone())
                .unwrap_or_default();
            Ok(redirect(&format!(
                "/console/after-sales/{id}?done={}",
                urlencode(&done)
            )))
        }
        Err(e @ (AppError::Invalid { .. } | AppError::Conflict { .. })) => Ok(redirect(&format!(
            "/console/after-sales/{id}?error={}",
            urlencode(e.code())
        ))),
        Err(e) => Err(e.into()),
    }
}

async fn ratings(
    State(state): State<AppState>,
    ctx: Ctx,
    Staff(staff): Staff,
) -> WebResult<Response> {
    staff.require(&[Role::HeadOfficeAdmin])?;
    let report = storage::after_sales::ratings_report(&state.store).await?;
    let average = |sum: i64, rated: i64| {
        if rated == 0 {
            "—".to_owned()
        } else {
            format!("{:.1}", sum as f64 / rated as f64)
        }
    };
    let table = |id: &'static str,
                 title: &'static str,
                 rows: &[storage::after_sales::RatingRow]| {
        html! {
            h2 { (title) }
            div.table-wrap { table id=(id) {
                tr { th { } th.num { (ctx.t("售后数", "Cases")) } th.num { (ctx.t("评价数", "Rated")) } th.num { (ctx.t("平均分", "Average")) } }
                @for r in rows { tr { td { (r.key) } td.num { (r.cases) } td.num { (r.rated) } td.num { (average(r.rating_sum, r.rated)) } } }
            } }
        }
    };
    let body = html! {
        (table("ratings-by-store", ctx.t("按门店/仓", "By store or warehouse"), &report.by_store))
        (table("ratings-by-product", ctx.t("按商品", "By product"), &report.by_product))
        h2 { (ctx.t("售后原因", "Reasons")) }
        div.table-wrap { table #reasons {
            tr { th { (ctx.t("门店/仓", "Location")) } th { (ctx.t("原因", "Reason")) } th.num { (ctx.t("售后数", "Cases")) } }
            @for r in &report.reasons { tr { td { (r.location_id) } td { (reason_label(ctx.lang, &r.reason)) } td.num { (r.cases) } } }
        } }
    };
    Ok(console_page(
        &ctx,
        &staff,
        ctx.t("售后评价与原因", "After-sale ratings"),
        body,
    ))
}

async fn rules_page(
    State(state): State<AppState>,
    ctx: Ctx,
    Staff(staff): Staff,
    Query(p): Query<NoticeParams>,
) -> WebResult<Response> {
    staff.require(&[Role::HeadOfficeAdmin])?;
    let rules = storage::after_sales::rules(&state.store).await?;
    let windows: String = rules
        .category_windows
        .iter()
        .map(|w| format!("{}={}\n", w.category_id, w.days))
        .collect();
    let body = html! {
        @if p.done.is_some() { div.notice.ok role="status" #rules-saved { (ctx.t("已保存。", "Saved.")) } }
        @if p.error.is_some() { div.notice.err role="alert" #rules-error { (ctx.t("请检查：天数 0–365，金额不为负，分类与地点须存在，每行“分类=天数”。", "Please check: days 0–365, an amount not negative, existing categories and location, one “category=days” a line.")) } }
        form.card method="post" action="/console/after-sales/rules" {
            (ctx.csrf_field())
            div.field { label for="days" { (ctx.t("默认售后期限（天，自签收/自提起）", "Default return window (days from receipt)")) }
                input #days name="days" inputmode="numeric" value=(rules.return_window_days); }
            div.field { label for="windows" { (ctx.t("分类售后期限（每行：分类=天数）", "Windows by category (one category=days a line)")) }
                textarea #windows name="windows" rows="4" { (windows) } }
            div.field { label for="auto" { (ctx.t("低于此金额自动同意（0 为不自动）", "Approve automatically under (0: never)")) }
                input #auto name="auto" inputmode="decimal" value=(rules.auto_approve_under); }
            div.field { label { input type="checkbox" name="cancel_auto" value="1" checked[rules.cancel_auto_approve] style="width:auto";
                " " (ctx.t("未发货订单取消自动同意并退款", "Cancelling an unshipped order is approved and refunded at once")) } }
            div.field { label for="damaged" { (ctx.t("残次品库位（留空则报损）", "Damaged location (empty: written off)")) }
                input #damaged name="damaged" value=(rules.damaged_location_id.as_deref().unwrap_or("")); }
            button.btn type="submit" { (ctx.t("保存", "Save")) }
        }
    };
    Ok(console_page(
        &ctx,
        &staff,
        ctx.t("售后规则", "After-sale rules"),
        body,
    ))
}

/// The rules a form gives; `None` when a number does not parse.
fn rules_of(form: &HashMap<String, String>) -> Option<AfterSaleRules> {
    let field = |k: &str| form.get(k).map(|v| v.trim()).unwrap_or("");
    let mut category_windows = Vec::new();
    for line in field("windows")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
    {
        let (category, days) = line.split_once('=')?;
        category_windows.push(CategoryWindow {
            category_id: category.trim().to_owned(),
            days: days.trim().parse().ok()?,
        });
    }
    Some(AfterSaleRules {
        return_window_days: field("days").parse().ok()?,
        auto_approve_under: field("auto").parse::<Money>().ok()?,
        cancel_auto_approve: field("cancel_auto") == "1",
        damaged_location_id: Some(field("damaged").to_owned()).filter(|d| !d.is_empty()),
        category_windows,
    })
}

async fn save_rules(
    State(state): State<AppState>,
    Staff(staff): Staff,
    Form(form): Form<HashMap<String, String>>,
) -> WebResult<Response> {
    staff.require(&[Role::HeadOfficeAdmin])?;
    let Some(rules) = rules_of(&form) else {
        return Ok(redirect("/console/after-sales/rules?error=form"));
    };
    match after_sales::set_rules(&state, &staff, &rules).await {
        Ok(_) => Ok(redirect("/console/after-sales/rules?done=saved")),
        Err(AppError::Invalid { .. }) => Ok(redirect("/console/after-sales/rules?error=form")),
        Err(e) => Err(e.into()),
    }
}
