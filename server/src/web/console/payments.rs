//! The console's money pages (issue 14). For head office: payments and refunds searched by order
//! number, provider transaction id, tender and days (`/console/payments`), the open payment
//! alerts and marking one resolved (`/console/payments/alerts`), and the daily reconciliation —
//! runs by day and provider with their counts, a run's mismatches (or all its items), its CSV
//! export, and reconciling a day now (`/console/payments/reconciliation`). For head office and
//! the stores: the refund approval queue (`/console/payments/approvals`) — the refunds above
//! the approval threshold waiting for a decision, each approved or rejected with a reason by a
//! store manager of the order's store or head office (a cashier sees their store's queue without
//! the buttons); its tab shows how many wait. Thin over [`crate::app::payment_review`],
//! [`crate::app::reconciliation`] and [`crate::app::refunds`], which check the role.

use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use chrono::NaiveDate;
use maud::{html, Markup};
use retail_domain::money::Money;
use serde::Deserialize;
use uuid::Uuid;

use super::{csv_bytes, csv_response, NoticeParams};
use crate::actor::{Role, StaffActor};
use crate::app::payment_review::{self, Page, PaymentSearch};
use crate::app::reconciliation::{self, Attempt, BillProblem};
use crate::app::refunds;
use crate::app::AppState;
use crate::error::AppError;
use crate::storage;
use crate::storage::paging::{Cursor, PAGE_SIZE};
use crate::storage::reconciliation::{EntryKind, Outcome};
use crate::web::{
    console_page, redirect, urlencode, when, yuan, Ctx, Form, Lang, Staff, WebResult,
};

/// Payment, alert and reconciliation routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/console/payments", get(search))
        .route("/console/payments/alerts", get(alerts))
        .route("/console/payments/alerts/{id}/resolve", post(resolve))
        .route("/console/payments/approvals", get(approvals))
        .route("/console/payments/approvals/{id}/approve", post(approve))
        .route("/console/payments/approvals/{id}/reject", post(reject))
        .route(
            "/console/payments/reconciliation",
            get(runs).post(reconcile_now),
        )
        .route("/console/payments/reconciliation/{id}", get(run))
        .route(
            "/console/payments/reconciliation/{id}/items.csv",
            get(run_csv),
        )
}

// ---------------------------------------------------------------------------------------------
// Labels and shared parts
// ---------------------------------------------------------------------------------------------

/// A tender for people.
fn method_label(lang: Lang, method: &str) -> &'static str {
    match method {
        "wechat_pay" => lang.t("微信支付", "WeChat Pay"),
        "alipay" => lang.t("支付宝", "Alipay"),
        "sandbox_qr" => lang.t("沙箱支付", "Sandbox"),
        "card" => lang.t("银行卡", "Card"),
        "cash" => lang.t("现金", "Cash"),
        "stored_balance" => lang.t("储值余额", "Stored balance"),
        "points" => lang.t("积分", "Points"),
        _ => lang.t("其他", "Other"),
    }
}

/// A payment's, lane payment's or refund's state for people.
fn state_label(lang: Lang, state: &str) -> &'static str {
    match state {
        "pending" => lang.t("待支付", "Pending"),
        "user_paying" => lang.t("用户支付中", "Payer confirming"),
        "succeeded" => lang.t("已支付", "Paid"),
        "refunded" => lang.t("已全额退款", "Refunded"),
        "closed" => lang.t("已关闭", "Closed"),
        "cancelled" => lang.t("已取消", "Cancelled"),
        "failed" => lang.t("失败", "Failed"),
        "reversed" => lang.t("已撤销", "Reversed"),
        "awaiting_approval" => lang.t("待审批", "Awaiting approval"),
        "processing" => lang.t("退款中", "Processing"),
        "success" => lang.t("退款成功", "Refunded"),
        "abnormal" => lang.t("退款异常", "Abnormal"),
        _ => lang.t("其他", "Other"),
    }
}

fn outcome_label(lang: Lang, outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Matched => lang.t("一致", "Matched"),
        Outcome::MissingOurs => lang.t("我方缺失", "Missing on our side"),
        Outcome::MissingTheirs => lang.t("对方缺失", "Missing on theirs"),
        Outcome::AmountDiffers => lang.t("金额不一致", "Amount differs"),
    }
}

fn kind_label(lang: Lang, kind: EntryKind) -> &'static str {
    match kind {
        EntryKind::Payment => lang.t("支付", "Payment"),
        EntryKind::Refund => lang.t("退款", "Refund"),
    }
}

fn alert_label(lang: Lang, kind: &str) -> &'static str {
    match kind {
        "late_payment" => lang.t(
            "订单取消后到账（已自动退款）",
            "Paid after cancellation (refunded)",
        ),
        "amount_mismatch" => lang.t("金额或币种不符", "Amount or currency differs"),
        "refund_failed" => lang.t("退款失败", "Refund failed"),
        "unknown_payment" => lang.t("未知支付", "Unknown payment"),
        "reversal_failed" => lang.t("撤销失败", "Reversal failed"),
        _ => lang.t("其他", "Other"),
    }
}

fn provider_label(lang: Lang, provider: &str) -> &'static str {
    match provider {
        "wechat_pay" => lang.t("微信支付", "WeChat Pay"),
        "alipay" => lang.t("支付宝", "Alipay"),
        "sandbox" => lang.t("沙箱支付", "Sandbox"),
        _ => lang.t("其他", "Other"),
    }
}

/// The stores whose approval queue `staff` sees: every store (`None`) for head office, their
/// own for store staff.
fn queue_scope(staff: &StaffActor) -> Result<Option<String>, AppError> {
    match staff.role {
        Role::HeadOfficeAdmin => Ok(None),
        _ => {
            staff.location_id.clone().map(Some).ok_or_else(|| {
                AppError::Forbidden(format!("{} belongs to no store", staff.username))
            })
        }
    }
}

/// The links between the pages, with the number of refunds waiting for approval: all four for
/// head office, the approval queue alone for store staff.
async fn tabs(state: &AppState, ctx: &Ctx, staff: &StaffActor) -> WebResult<Markup> {
    let scope = queue_scope(staff)?;
    let waiting = storage::refunds::count_awaiting_approval(&state.store, scope.as_deref()).await?;
    Ok(html! {
        div.card.row #payment-tabs {
            @if staff.role == Role::HeadOfficeAdmin {
                a href="/console/payments" { (ctx.t("付款与退款", "Payments and refunds")) }
                a href="/console/payments/alerts" { (ctx.t("支付告警", "Alerts")) }
                a href="/console/payments/reconciliation" { (ctx.t("对账", "Reconciliation")) }
                a href="/console/payments/settlements" { (ctx.t("日结算", "Settlements")) }
            }
            a #approvals-tab href="/console/payments/approvals" {
                (ctx.t("退款审批", "Refund approvals"))
                @if waiting > 0 { " " span.badge #approvals-waiting { (waiting) } }
            }
        }
    })
}

/// "Page x of y, n in all" with links to the neighbours; `base` is the list's address with its
/// query, to which `page=` is added.
fn pager<T>(ctx: &Ctx, base: &str, page: &Page<T>, id: &str) -> Markup {
    let join = if base.contains('?') { '&' } else { '?' };
    html! {
        div.spread.pager id=(id) {
            span.muted { (ctx.t("共 ", "")) (page.total) (ctx.t(" 条 · 第 ", " in all · page ")) (page.page) " / " (page.pages()) }
            span {
                @if page.page > 1 { a.btn.secondary rel="prev" href={ (base) (join) "page=" (page.page - 1) } { (ctx.t("上一页", "Previous")) } " " }
                @if page.page < page.pages() { a.btn.secondary rel="next" href={ (base) (join) "page=" (page.page + 1) } { (ctx.t("下一页", "Next")) } }
            }
        }
    }
}

fn page_number(text: Option<&str>) -> i64 {
    text.and_then(|p| p.trim().parse::<i64>().ok())
        .unwrap_or(1)
        .clamp(1, 1_000_000)
}

fn day(field: &str, text: Option<&str>) -> Result<Option<NaiveDate>, AppError> {
    match text.map(str::trim).filter(|t| !t.is_empty()) {
        None => Ok(None),
        Some(t) => NaiveDate::parse_from_str(t, "%Y-%m-%d")
            .map(Some)
            .map_err(|_| AppError::field(field, "a day like 2026-12-05")),
    }
}

fn amount(fen: Option<i64>) -> String {
    fen.map(yuan).unwrap_or_default()
}

fn order_link(order_id: Option<Uuid>, order_no: Option<&str>) -> Markup {
    html! {
        @match (order_id, order_no) {
            (Some(id), Some(no)) => a href={ "/console/orders/" (id) } { (no) },
            (Some(id), None) => a href={ "/console/orders/" (id) } { (id) },
            _ => span.muted { "—" },
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Payments and refunds
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Deserialize, Default)]
struct SearchParams {
    q: Option<String>,
    txn: Option<String>,
    method: Option<String>,
    from: Option<String>,
    to: Option<String>,
    show: Option<String>,
    page: Option<String>,
}

async fn search(
    State(state): State<AppState>,
    ctx: Ctx,
    Staff(staff): Staff,
    Query(p): Query<SearchParams>,
) -> WebResult<Response> {
    let refunds = p.show.as_deref() == Some("refunds");
    let search = PaymentSearch {
        order_no: p.q.clone(),
        provider_ref: p.txn.clone(),
        method: p.method.clone(),
        from: day("from", p.from.as_deref())?,
        to: day("to", p.to.as_deref())?,
        page: page_number(p.page.as_deref()),
    };
    let text = |v: &Option<String>| v.clone().unwrap_or_default();
    let base = format!(
        "/console/payments?show={}&q={}&txn={}&method={}&from={}&to={}",
        if refunds { "refunds" } else { "payments" },
        urlencode(&text(&p.q)),
        urlencode(&text(&p.txn)),
        urlencode(&text(&p.method)),
        urlencode(&text(&p.from)),
        urlencode(&text(&p.to)),
    );
    let list = if refunds {
        refund_table(
            &ctx,
            &base,
            &payment_review::search_refunds(&state, &staff, &search).await?,
        )
    } else {
        payment_table(
            &ctx,
            &base,
            &payment_review::search_payments(&state, &staff, &search).await?,
        )
    };
    let method = text(&p.method);
    let body = html! {
        (tabs(&state, &ctx, &staff).await?)
        form.card.row #payment-search method="get" action="/console/payments" {
            select name="show" style="max-width:140px" aria-label=(ctx.t("查看", "Show")) {
                option value="payments" selected[!refunds] { (ctx.t("付款", "Payments")) }
                option value="refunds" selected[refunds] { (ctx.t("退款", "Refunds")) }
            }
            input #q name="q" value=(text(&p.q)) placeholder=(ctx.t("订单号", "Order number")) style="max-width:180px";
            input #txn name="txn" value=(text(&p.txn)) placeholder=(ctx.t("支付机构交易号", "Provider transaction id")) style="max-width:260px";
            select name="method" style="max-width:160px" aria-label=(ctx.t("支付方式", "Tender")) {
                option value="" { (ctx.t("全部支付方式", "All tenders")) }
                @for m in payment_review::METHODS { option value=(m) selected[m == method] { (method_label(ctx.lang, m)) } }
            }
            label { (ctx.t("从 ", "From ")) input #from type="date" name="from" value=(text(&p.from)); }
            label { (ctx.t("至 ", "to ")) input #to type="date" name="to" value=(text(&p.to)); }
            button.btn type="submit" { (ctx.t("查询", "Search")) }
        }
        (list)
    };
    Ok(console_page(
        &ctx,
        &staff,
        ctx.t("付款与退款", "Payments and refunds"),
        body,
    ))
}

fn payment_table(
    ctx: &Ctx,
    base: &str,
    page: &Page<storage::payment_review::PaymentRow>,
) -> Markup {
    html! {
        div.table-wrap { table #payments {
            tr { th { (ctx.t("订单", "Order")) } th { (ctx.t("时间", "Time")) } th { (ctx.t("支付方式", "Tender")) }
                 th { (ctx.t("交易号", "Transaction id")) } th { (ctx.t("状态", "Status")) }
                 th.num { (ctx.t("金额", "Amount")) } th.num { (ctx.t("已退款", "Refunded")) } }
            @for r in &page.rows {
                tr {
                    td { (order_link(r.order_id, r.order_no.as_deref()))
                         @if r.at_lane { " " span.muted { (ctx.t("门店收银（销售未上传）", "lane (sale not pushed yet)")) } }
                         @if r.recharge { span.muted data-recharge { (ctx.t("会员充值", "member recharge")) } } }
                    td { (when(r.paid_at.unwrap_or(r.created_at))) }
                    td { (method_label(ctx.lang, &r.method)) @if let Some(s) = &r.scene { " · " (s) } }
                    td.txn { (r.provider_ref.as_deref().unwrap_or("")) }
                    td { span class={ "status " (r.status) } { (state_label(ctx.lang, &r.status)) } }
                    td.num { (yuan(r.amount_fen)) }
                    td.num { (yuan(r.refunded_fen)) }
                }
            }
        } }
        (pager(ctx, base, page, "payments-pager"))
    }
}

fn refund_table(ctx: &Ctx, base: &str, page: &Page<storage::payment_review::RefundRow>) -> Markup {
    html! {
        div.table-wrap { table #refunds {
            tr { th { (ctx.t("订单", "Order")) } th { (ctx.t("时间", "Time")) } th { (ctx.t("退回至", "Back to")) }
                 th { (ctx.t("退款单号", "Refund id")) } th { (ctx.t("原交易号", "Payment's transaction id")) }
                 th { (ctx.t("状态", "State")) } th { (ctx.t("原因", "Reason")) } th.num { (ctx.t("金额", "Amount")) } }
            @for r in &page.rows {
                tr {
                    td { (order_link(Some(r.order_id), Some(&r.order_no))) }
                    td { (when(r.created_at)) }
                    td { (method_label(ctx.lang, &r.method)) }
                    td.txn { (r.provider_refund_id.as_deref().unwrap_or("")) }
                    td.txn { (r.payment_provider_ref.as_deref().unwrap_or("")) }
                    td { span class={ "status " (r.state) } { (state_label(ctx.lang, &r.state)) } }
                    td { (r.source) " · " (r.reason) }
                    td.num { (yuan(r.amount_fen)) }
                }
            }
        } }
        (pager(ctx, base, page, "refunds-pager"))
    }
}

// ---------------------------------------------------------------------------------------------
// Alerts
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Deserialize, Default)]
struct AlertParams {
    resolved: Option<String>,
    page: Option<String>,
    done: Option<String>,
    error: Option<String>,
}

async fn alerts(
    State(state): State<AppState>,
    ctx: Ctx,
    Staff(staff): Staff,
    Query(p): Query<AlertParams>,
) -> WebResult<Response> {
    let resolved = p.resolved.as_deref() == Some("1");
    let page =
        payment_review::alerts(&state, &staff, resolved, page_number(p.page.as_deref())).await?;
    let base = format!(
        "/console/payments/alerts?resolved={}",
        if resolved { "1" } else { "0" }
    );
    let body = html! {
        (tabs(&state, &ctx, &staff).await?)
        @if p.done.is_some() { div.notice.ok role="status" { (ctx.t("告警已标记为已处理。", "The alert is marked resolved.")) } }
        @if p.error.is_some() { div.notice.err role="alert" { (ctx.t("该告警已处理过或不存在。", "That alert is resolved already or does not exist.")) } }
        div.card.row {
            @if resolved { a href="/console/payments/alerts" { (ctx.t("查看未处理", "Show open")) } }
            @else { a href="/console/payments/alerts?resolved=1" { (ctx.t("查看已处理", "Show resolved")) } }
        }
        div.table-wrap { table #alerts {
            tr { th { (ctx.t("时间", "Time")) } th { (ctx.t("类型", "Kind")) } th { (ctx.t("支付机构", "Provider")) }
                 th { (ctx.t("订单", "Order")) } th { (ctx.t("详情", "Detail")) } th { } }
            @for a in &page.rows {
                tr {
                    td { (when(a.created_at)) }
                    td.kind { (alert_label(ctx.lang, &a.kind)) }
                    td { (provider_label(ctx.lang, &a.provider)) }
                    td { (order_link(a.order_id, a.order_no.as_deref())) }
                    td { (a.detail) @if let Some(p) = &a.payment_id { br; span.muted { (ctx.t("支付 ", "payment ")) (p) } } }
                    td {
                        @if let (Some(at), Some(by)) = (a.resolved_at, &a.resolved_by) { span.muted { (when(at)) " · " (by) } }
                        @else {
                            form.row method="post" action={ "/console/payments/alerts/" (a.id) "/resolve" } {
                                (ctx.csrf_field())
                                input name="note" placeholder=(ctx.t("处理说明", "What was done")) style="max-width:180px";
                                button.btn type="submit" { (ctx.t("标记已处理", "Mark resolved")) }
                            }
                        }
                    }
                }
            }
        } }
        (pager(&ctx, &base, &page, "alerts-pager"))
    };
    Ok(console_page(
        &ctx,
        &staff,
        ctx.t("支付告警", "Payment alerts"),
        body,
    ))
}

#[derive(Debug, Deserialize, Default)]
struct ResolveForm {
    note: Option<String>,
}

async fn resolve(
    State(state): State<AppState>,
    Staff(staff): Staff,
    Path(id): Path<String>,
    Form(f): Form<ResolveForm>,
) -> WebResult<Response> {
    match payment_review::resolve_alert(&state, &staff, &id, f.note.as_deref().unwrap_or("")).await
    {
        Ok(()) => Ok(redirect("/console/payments/alerts?done=resolved")),
        Err(AppError::Conflict { .. } | AppError::NotFound(_)) => {
            Ok(redirect("/console/payments/alerts?error=resolved"))
        }
        Err(e) => Err(e.into()),
    }
}

// ---------------------------------------------------------------------------------------------
// Refund approvals
// ---------------------------------------------------------------------------------------------

/// The reasons offered for rejecting a refund: (form value, Chinese, English). A free-text note
/// may be added to one, or stand alone.
const REJECT_REASONS: [(&str, &str, &str); 4] = [
    ("goods_not_back", "商品未退回", "goods not returned"),
    ("wrong_amount", "退款金额有误", "wrong amount"),
    ("duplicate", "重复申请", "duplicate request"),
    ("policy", "不符合退款规定", "against the refund policy"),
];

/// What asked for a refund, for people.
fn source_label(lang: Lang, source: &str) -> &'static str {
    match source {
        "cancel" => lang.t("订单取消", "Order cancelled"),
        "return" => lang.t("退货", "Return"),
        "late_payment" => lang.t("取消后到账", "Paid after cancellation"),
        "after_sale" => lang.t("售后", "After-sale"),
        _ => lang.t("其他", "Other"),
    }
}

#[derive(Debug, Deserialize, Default)]
struct ApprovalParams {
    done: Option<String>,
    error: Option<String>,
    /// The queue's page cursor.
    cursor: Option<String>,
}

async fn approvals(
    State(state): State<AppState>,
    ctx: Ctx,
    Staff(staff): Staff,
    Query(p): Query<ApprovalParams>,
) -> WebResult<Response> {
    let scope = queue_scope(&staff)?;
    let cursor = Cursor::parse(p.cursor.as_deref())?;
    let waiting = storage::refunds::awaiting_approval(
        &state.store,
        scope.as_deref(),
        cursor.as_ref(),
        PAGE_SIZE,
    )
    .await?;
    let (next, waiting) = (waiting.next_cursor, waiting.items);
    let deciding = refunds::may_decide(&staff);
    let body = html! {
        (tabs(&state, &ctx, &staff).await?)
        @match p.done.as_deref() {
            Some("approved") => div.notice.ok role="status" #approval-done { (ctx.t("已批准，退款已提交支付机构。", "Approved: the refund is on its way to the provider.")) },
            Some("rejected") => div.notice.ok role="status" #approval-done { (ctx.t("已驳回，该退款不会发出。", "Rejected: the refund will not be sent.")) },
            _ => {},
        }
        @match p.error.as_deref() {
            Some("reason") => div.notice.err role="alert" #approval-error { (ctx.t("驳回需要原因：请选择或填写。", "A rejection needs a reason: choose or write one.")) },
            Some(_) => div.notice.err role="alert" #approval-error { (ctx.t("该退款已由他人处理或不存在。", "That refund was decided already or does not exist.")) },
            None => {},
        }
        @if !deciding {
            p.muted #approval-readonly { (ctx.t("只有本店店长或总部可以审批退款。", "Only a store manager of the store or head office approves refunds.")) }
        }
        @if waiting.is_empty() {
            p.muted #no-approvals { (ctx.t("没有待审批的退款。", "No refunds are waiting for approval.")) }
        } @else {
            div.table-wrap { table #approvals {
                tr { th { (ctx.t("订单", "Order")) } th { (ctx.t("门店", "Store")) } th { (ctx.t("退回至", "Back to")) }
                     th.num { (ctx.t("金额", "Amount")) } th { (ctx.t("原因", "Reason")) } th { (ctx.t("来源", "Source")) }
                     th { (ctx.t("申请人", "Requested by")) } th { (ctx.t("申请时间", "Requested")) }
                     @if deciding { th { } } }
                @for w in &waiting {
                    @let r = &w.refund;
                    tr.approval id={ "refund-" (r.id) } {
                        td style="white-space:nowrap" { (order_link(Some(r.order_id), Some(&w.order_no))) }
                        td { (w.location_id) }
                        td style="white-space:nowrap" { (method_label(ctx.lang, &r.method)) }
                        td.num.amount style="white-space:nowrap" { (yuan(r.amount.fen())) }
                        td { (r.reason) }
                        td style="white-space:nowrap" { (source_label(ctx.lang, &r.source)) }
                        td { (r.requested_by) }
                        td { (when(r.created_at)) }
                        @if deciding {
                            td style="min-width:260px" {
                                form.inline method="post" action={ "/console/payments/approvals/" (r.id) "/approve" } {
                                    (ctx.csrf_field())
                                    button.btn.approve type="submit" { (ctx.t("批准", "Approve")) }
                                }
                                form.row.reject-form method="post" action={ "/console/payments/approvals/" (r.id) "/reject" } style="margin-top:6px" {
                                    (ctx.csrf_field())
                                    select name="preset" style="max-width:150px;padding:5px 6px;font-size:13px" aria-label=(ctx.t("驳回原因", "Reason to reject")) {
                                        option value="" { (ctx.t("选择原因…", "Choose a reason…")) }
                                        @for (value, zh, en) in REJECT_REASONS { option value=(value) { (ctx.t(zh, en)) } }
                                    }
                                    input name="note" maxlength=(refunds::MAX_REJECT_REASON) placeholder=(ctx.t("其他原因或说明", "Other reason or a note"))
                                        aria-label=(ctx.t("驳回说明", "Note")) style="max-width:150px;padding:5px 6px;border:1px solid #d0d7de;border-radius:8px";
                                    button.btn.secondary.reject type="submit" { (ctx.t("驳回", "Reject")) }
                                }
                            }
                        }
                    }
                }
            } }
        }
        (crate::web::pager(&ctx, "/console/payments/approvals", &[], "cursor", p.cursor.as_deref(), next.as_deref()))
    };
    Ok(console_page(
        &ctx,
        &staff,
        ctx.t("退款审批", "Refund approvals"),
        body,
    ))
}

async fn approve(
    State(state): State<AppState>,
    Staff(staff): Staff,
    Path(id): Path<Uuid>,
    Form(_): Form<std::collections::HashMap<String, String>>,
) -> WebResult<Response> {
    match refunds::approve(&state, &staff, id).await {
        Ok(_) => Ok(redirect("/console/payments/approvals?done=approved")),
        Err(AppError::Conflict { .. } | AppError::NotFound(_)) => {
            Ok(redirect("/console/payments/approvals?error=decided"))
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Debug, Deserialize, Default)]
struct RejectForm {
    preset: Option<String>,
    note: Option<String>,
}

/// The reason a reject form gives: the chosen reason (in both languages, as stored reasons are)
/// and the note, either alone; empty when neither (the use case refuses it).
fn reject_reason(form: &RejectForm) -> String {
    let preset = form.preset.as_deref().unwrap_or("");
    let chosen = REJECT_REASONS
        .iter()
        .find(|(value, _, _)| *value == preset)
        .map(|(_, zh, en)| format!("{zh} {en}"));
    let note = form.note.as_deref().unwrap_or("").trim();
    match (chosen, note.is_empty()) {
        (Some(chosen), true) => chosen,
        (Some(chosen), false) => format!("{chosen}: {note}"),
        (None, _) => note.to_owned(),
    }
}

async fn reject(
    State(state): State<AppState>,
    Staff(staff): Staff,
    Path(id): Path<Uuid>,
    Form(form): Form<RejectForm>,
) -> WebResult<Response> {
    match refunds::reject(&state, &staff, id, &reject_reason(&form)).await {
        Ok(_) => Ok(redirect("/console/payments/approvals?done=rejected")),
        Err(AppError::Invalid { .. }) => Ok(redirect("/console/payments/approvals?error=reason")),
        Err(AppError::Conflict { .. } | AppError::NotFound(_)) => {
            Ok(redirect("/console/payments/approvals?error=decided"))
        }
        Err(e) => Err(e.into()),
    }
}

// ---------------------------------------------------------------------------------------------
// Reconciliation
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Deserialize, Default)]
struct RunsParams {
    page: Option<String>,
}

async fn runs(
    State(state): State<AppState>,
    ctx: Ctx,
    Staff(staff): Staff,
    Query(p): Query<RunsParams>,
) -> WebResult<Response> {
    runs_page(&state, &ctx, &staff, page_number(p.page.as_deref()), None).await
}

/// The runs page, with a notice of a bill that could not be had when reconciling by hand.
async fn runs_page(
    state: &AppState,
    ctx: &Ctx,
    staff: &StaffActor,
    page: i64,
    failure: Option<(&str, NaiveDate, &reconciliation::BillFailure)>,
) -> WebResult<Response> {
    let (runs, waits) = reconciliation::runs(state, staff, page).await?;
    let providers: Vec<&str> = reconciliation::RECONCILED
        .into_iter()
        .filter(|p| state.payments.has(*p))
        .map(|p| p.as_str())
        .collect();
    let yesterday = reconciliation::beijing_date(chrono::Utc::now())
        .pred_opt()
        .map(|d| d.format("%Y-%m-%d").to_string())
        .unwrap_or_default();
    let body = html! {
        (tabs(state, ctx, staff).await?)
        @if let Some((provider, date, f)) = failure {
            div.notice.err role="alert" #reconcile-failed {
                (provider_label(ctx.lang, provider)) " " (date) ": "
                (match f.problem {
                    BillProblem::NotReady => ctx.t("账单尚未生成，请稍后再试。", "The bill is not made yet; try again later."),
                    BillProblem::Unavailable => ctx.t("支付机构暂时无法访问，请稍后再试。", "The provider cannot be reached; try again later."),
                    BillProblem::Failed => ctx.t("账单下载失败。", "The bill could not be downloaded."),
                })
                " " span.muted { (f.reason) }
            }
        }
        div.card #reconcile-now {
            b { (ctx.t("立即对账", "Reconcile now")) }
            @if providers.is_empty() {
                p.muted { (ctx.t("本服务器未配置微信支付或支付宝。", "Neither WeChat Pay nor Alipay is configured on this server.")) }
            } @else {
                p.muted { (ctx.t("下载所选日期（北京时间）的账单并与本系统记录逐笔核对；该日已有的对账结果将被替换。", "Downloads the bill of the chosen day (Beijing time) and matches it line by line against our records; the day's earlier result is replaced.")) }
                form.row method="post" action="/console/payments/reconciliation" {
                    (ctx.csrf_field())
                    select #provider name="provider" style="max-width:160px" aria-label=(ctx.t("支付机构", "Provider")) {
                        @for p in &providers { option value=(p) { (provider_label(ctx.lang, p)) } }
                    }
                    input #date type="date" name="date" value=(yesterday) aria-label=(ctx.t("日期", "Day"));
                    button.btn #reconcile type="submit" { (ctx.t("对账", "Reconcile")) }
                }
            }
        }
        div.table-wrap { table #runs {
            tr { th { (ctx.t("日期", "Day")) } th { (ctx.t("支付机构", "Provider")) } th.num { (ctx.t("账单笔数", "Bill lines")) }
                 th.num { (ctx.t("我方笔数", "Ours")) } th.num { (ctx.t("一致", "Matched")) } th.num { (ctx.t("我方缺失", "Missing ours")) }
                 th.num { (ctx.t("对方缺失", "Missing theirs")) } th.num { (ctx.t("金额不一致", "Amount differs")) } th { (ctx.t("对账时间", "Run")) } }
            @for r in &runs.rows {
                tr {
                    td { a href={ "/console/payments/reconciliation/" (r.id) } { (r.bill_date) } }
                    td { (provider_label(ctx.lang, &r.provider)) }
                    td.num { (r.counts.bill_lines) } td.num { (r.counts.our_records) } td.num { (r.counts.matched) }
                    td.num { (r.counts.missing_ours) } td.num { (r.counts.missing_theirs) } td.num { (r.counts.amount_differs) }
                    td { (when(r.updated_at)) " · " (r.run_by) }
                }
            }
        } }
        (pager(ctx, "/console/payments/reconciliation", &runs, "runs-pager"))
        @if !waits.rows.is_empty() {
            h2 { (ctx.t("等待中的账单", "Bills waited for")) }
            div.table-wrap { table #waits {
                tr { th { (ctx.t("日期", "Day")) } th { (ctx.t("支付机构", "Provider")) } th.num { (ctx.t("尝试次数", "Attempts")) }
                     th { (ctx.t("下次尝试", "Next try")) } th { (ctx.t("原因", "Reason")) } }
                @for w in &waits.rows {
                    tr {
                        td { (w.bill_date) } td { (provider_label(ctx.lang, &w.provider)) } td.num { (w.attempts) }
                        td { @match w.next_try_at { Some(t) => (when(t)), None => span.status.cancelled { (ctx.t("已放弃，请手动对账", "Given up: reconcile by hand")) } } }
                        td.muted { (w.last_error) }
                    }
                }
            } }
        }
    };
    Ok(console_page(
        ctx,
        staff,
        ctx.t("对账", "Reconciliation"),
        body,
    ))
}

#[derive(Debug, Deserialize, Default)]
struct ReconcileForm {
    provider: Option<String>,
    date: Option<String>,
}

async fn reconcile_now(
    State(state): State<AppState>,
    ctx: Ctx,
    Staff(staff): Staff,
    Form(f): Form<ReconcileForm>,
) -> WebResult<Response> {
    let date =
        day("date", f.date.as_deref())?.ok_or_else(|| AppError::field("date", "choose a day"))?;
    let provider = f.provider.unwrap_or_default();
    match reconciliation::reconcile_now(&state, &staff, &provider, date).await? {
        Attempt::Reconciled(done) => Ok(redirect(&format!(
            "/console/payments/reconciliation/{}?done=reconciled",
            done.run_id
        ))),
        Attempt::NoBill(failure) => {
            runs_page(&state, &ctx, &staff, 1, Some((&provider, date, &failure))).await
        }
    }
}

#[derive(Debug, Deserialize, Default)]
struct RunParams {
    all: Option<String>,
    page: Option<String>,
    #[serde(flatten)]
    notice: NoticeParams,
}

async fn run(
    State(state): State<AppState>,
    ctx: Ctx,
    Staff(staff): Staff,
    Path(id): Path<Uuid>,
    Query(p): Query<RunParams>,
) -> WebResult<Response> {
    let all = p.all.as_deref() == Some("1");
    let (run, items) =
        reconciliation::run_items(&state, &staff, id, all, page_number(p.page.as_deref())).await?;
    let c = run.counts;
    let base = format!(
        "/console/payments/reconciliation/{id}?all={}",
        if all { "1" } else { "0" }
    );
    let body = html! {
        (tabs(&state, &ctx, &staff).await?)
        @if p.notice.done.is_some() { div.notice.ok role="status" { (ctx.t("对账完成。", "Reconciled.")) } }
        div.card #run-summary {
            div.spread {
                b { (provider_label(ctx.lang, &run.provider)) " · " (run.bill_date) }
                span.muted { (when(run.updated_at)) " · " (run.run_by) }
            }
            p {
                (ctx.t("账单 ", "Bill lines ")) b #bill-lines { (c.bill_lines) } " · "
                (ctx.t("我方 ", "ours ")) b { (c.our_records) } " · "
                (ctx.t("一致 ", "matched ")) b #matched { (c.matched) } " · "
                (ctx.t("我方缺失 ", "missing ours ")) b #missing-ours { (c.missing_ours) } " · "
                (ctx.t("对方缺失 ", "missing theirs ")) b #missing-theirs { (c.missing_theirs) } " · "
                (ctx.t("金额不一致 ", "amount differs ")) b #amount-differs { (c.amount_differs) }
            }
            div.row {
                @if all { a href={ "/console/payments/reconciliation/" (id) } { (ctx.t("只看差异", "Mismatches only")) } }
                @else { a href={ "/console/payments/reconciliation/" (id) "?all=1" } { (ctx.t("查看全部明细", "All items")) } }
                a.btn.secondary #export href={ "/console/payments/reconciliation/" (id) "/items.csv" } { (ctx.t("导出 CSV", "Export CSV")) }
            }
        }
        @if items.rows.is_empty() {
            p.muted #no-items { (ctx.t("没有差异：每一笔都一致。", "No mismatches: every line matched.")) }
        }
        div.table-wrap { table #items {
            tr { th { "#" } th { (ctx.t("类型", "Kind")) } th { (ctx.t("结果", "Outcome")) } th { (ctx.t("订单", "Order")) }
                 th { (ctx.t("商户订单号 / 退款单号", "Out trade / refund no")) } th { (ctx.t("支付机构单号", "Provider's id")) }
                 th.num { (ctx.t("我方金额", "Ours")) } th.num { (ctx.t("账单金额", "Theirs")) } th { (ctx.t("时间", "Time")) } th { (ctx.t("说明", "Note")) } }
            @for r in &items.rows {
                @let i = &r.item;
                tr class={ "item " (i.outcome.as_str()) } {
                    td { (r.line_no) }
                    td style="white-space:nowrap" { (kind_label(ctx.lang, i.kind)) }
                    td.outcome style="white-space:nowrap" { (outcome_label(ctx.lang, i.outcome)) }
                    td { (order_link(i.order_id, r.order_no.as_deref())) }
                    td.txn { (i.out_trade_no) @if let Some(no) = &i.out_refund_no { br; (no) } }
                    td.txn { (i.transaction_id.as_deref().unwrap_or("")) @if let Some(no) = &i.provider_refund_id { br; (no) } }
                    td.num { (amount(i.our_fen)) } td.num { (amount(i.their_fen)) }
                    td { (i.their_at.or(i.our_at).map(when).unwrap_or_default()) }
                    td.muted { (i.note) }
                }
            }
        } }
        (pager(&ctx, &base, &items, "items-pager"))
    };
    Ok(console_page(
        &ctx,
        &staff,
        ctx.t("对账结果", "Reconciliation run"),
        body,
    ))
}

/// The CSV columns of a run's export.
pub const CSV_COLUMNS: [&str; 14] = [
    "line_no",
    "kind",
    "outcome",
    "order_no",
    "out_trade_no",
    "out_refund_no",
    "transaction_id",
    "provider_refund_id",
    "our_amount",
    "their_amount",
    "our_at",
    "their_at",
    "order_id",
    "note",
];

async fn run_csv(
    State(state): State<AppState>,
    Staff(staff): Staff,
    Path(id): Path<Uuid>,
) -> WebResult<Response> {
    let (run, items) = reconciliation::export_items(&state, &staff, id).await?;
    let money = |fen: Option<i64>| {
        fen.map(|f| Money::from_fen(f).to_string())
            .unwrap_or_default()
    };
    let time = |ms: Option<i64>| {
        ms.map(|m| storage::from_ms(m).to_rfc3339())
            .unwrap_or_default()
    };
    let rows = items
        .into_iter()
        .map(|r| {
            let i = r.item;
            vec![
                r.line_no.to_string(),
                i.kind.as_str().to_owned(),
                i.outcome.as_str().to_owned(),
                r.order_no.unwrap_or_default(),
                i.out_trade_no,
                i.out_refund_no.unwrap_or_default(),
                i.transaction_id.unwrap_or_default(),
                i.provider_refund_id.unwrap_or_default(),
                money(i.our_fen),
                money(i.their_fen),
                time(i.our_at),
                time(i.their_at),
                i.order_id.map(|o| o.to_string()).unwrap_or_default(),
                i.note,
            ]
        })
        .collect();
    let bytes = csv_bytes(&CSV_COLUMNS, rows)?;
    Ok(csv_response(
        &format!("reconciliation-{}-{}.csv", run.provider, run.bill_date),
        bytes,
    ))
}
