//! The console's distribution (分销), head office only, at `/console/distribution`: the report,
//! applications to approve or reject, the distributors, commission rates (the default, per
//! category, per SKU), and the withdrawals queue (approve, reject, mark paid offline with a
//! reference) — through [`crate::app::distribution`], as the API.

use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use maud::html;
use serde::Deserialize;
use uuid::Uuid;

use crate::actor::Role;
use crate::app::distribution::{self, WithdrawalStep};
use crate::app::AppState;
use crate::error::AppError;
use crate::storage;
use crate::storage::distribution::CommissionRate;
use crate::web::{console_page, redirect, yuan, Ctx, Form, Staff, WebResult};

/// Distribution routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/console/distribution", get(page))
        .route("/console/distribution/distributors/{member}", post(decide))
        .route("/console/distribution/rates", post(set_rate))
        .route(
            "/console/distribution/withdrawals/{id}",
            post(decide_withdrawal),
        )
}

#[derive(Debug, Deserialize, Default)]
struct PageParams {
    done: Option<String>,
    error: Option<String>,
}

const PAGE: &str = "/console/distribution";

fn bp_text(bp: i64) -> String {
    format!("{}.{:02}%", bp / 100, bp % 100)
}

async fn page(
    State(state): State<AppState>,
    ctx: Ctx,
    Staff(staff): Staff,
    Query(p): Query<PageParams>,
) -> WebResult<Response> {
    let report = distribution::report(&state, &staff).await?;
    let applied = storage::distribution::distributors(&state.store, Some("applied")).await?;
    let active = storage::distribution::distributors(&state.store, Some("active")).await?;
    let rates = storage::distribution::rates(&state.store).await?;
    let queue: Vec<_> = storage::distribution::withdrawals(&state.store, None, None)
        .await?
        .into_iter()
        .take(100)
        .collect();
    let body = html! {
        @if p.done.is_some() { div.notice.ok role="status" #dist-done { (ctx.t("已保存。", "Saved.")) } }
        @if let Some(e) = &p.error { div.notice.err role="alert" #dist-error { (ctx.t("未完成：", "Not done: ")) (e) } }
        div.card #distribution-report {
            b { (ctx.t("分销报表", "Report")) }
            div.spread {
                div.kpi { span.muted { (ctx.t("分销员", "Distributors")) } b { (report.active) } }
                div.kpi { span.muted { (ctx.t("待审核", "Applications")) } b { (report.applied) } }
                div.kpi { span.muted { (ctx.t("分佣订单", "Orders")) } b { (report.orders) } }
                div.kpi { span.muted { (ctx.t("佣金", "Commission")) } b { (yuan(report.commission_fen)) } }
                div.kpi { span.muted { (ctx.t("冲回", "Reversed")) } b { (yuan(report.reversed_fen)) } }
                div.kpi { span.muted { (ctx.t("冻结中", "Frozen")) } b { (yuan(report.frozen_fen)) } }
                div.kpi { span.muted { (ctx.t("可提现", "Available")) } b { (yuan(report.available_fen)) } }
                div.kpi { span.muted { (ctx.t("已提现", "Paid out")) } b { (yuan(report.withdrawn_fen)) } }
            }
        }
        div.card #applications {
            b { (ctx.t("分销员申请", "Applications")) }
            @if applied.is_empty() { p.muted { (ctx.t("暂无待审核申请", "None waiting")) } }
            table { tbody { @for d in &applied {
                tr data-member=(d.member_id) {
                    td { (d.member_id) }
                    td { (d.applied_at.with_timezone(&crate::app::china_offset()).format("%Y-%m-%d %H:%M")) }
                    td { form.inline method="post" action={ "/console/distribution/distributors/" (d.member_id) } {
                        (ctx.csrf_field())
                        input type="hidden" name="action" value="approve";
                        button.btn.approve type="submit" { (ctx.t("通过", "Approve")) }
                    } }
                    td { form.inline method="post" action={ "/console/distribution/distributors/" (d.member_id) } {
                        (ctx.csrf_field())
                        input type="hidden" name="action" value="reject";
                        input name="text" placeholder=(ctx.t("原因", "Reason"));
                        button.btn.secondary type="submit" { (ctx.t("驳回", "Reject")) }
                    } }
                }
            } } }
            p.muted { (ctx.t("分销员 ", "Active distributors: ")) (active.len()) }
        }
        div.card #rates {
            b { (ctx.t("佣金比例（按层级）", "Commission rates (per level)")) }
            table { tbody { @for r in &rates {
                tr { td { (r.scope) } td { (r.scope_id) } td { (bp_text(r.level1_bp)) } td { (bp_text(r.level2_bp)) } td { (bp_text(r.level3_bp)) } }
            } } }
            form.row #rate-form method="post" action="/console/distribution/rates" {
                (ctx.csrf_field())
                select name="scope" aria-label=(ctx.t("范围", "Scope")) {
                    option value="default" { (ctx.t("默认", "Default")) }
                    option value="category" { (ctx.t("分类", "Category")) }
                    option value="sku" { "SKU" }
                }
                input name="scope_id" placeholder=(ctx.t("分类或 SKU ID", "Category or SKU id"));
                input name="level1_bp" inputmode="numeric" placeholder=(ctx.t("一级（基点）", "Level 1 (bp)")) required;
                input name="level2_bp" inputmode="numeric" placeholder=(ctx.t("二级", "Level 2"));
                input name="level3_bp" inputmode="numeric" placeholder=(ctx.t("三级", "Level 3"));
                button.btn type="submit" { (ctx.t("保存", "Save")) }
            }
            p.muted { (ctx.t("基点：100 = 1%；生效层级由配置 [distribution] levels 决定。", "Basis points: 100 = 1%; the levels paid are set by [distribution] levels.")) }
        }
        div.card #withdrawals {
            b { (ctx.t("提现审核", "Withdrawals")) }
            @if queue.is_empty() { p.muted { (ctx.t("暂无", "None")) } }
            table { tbody { @for w in &queue {
                tr data-withdrawal=(w.id) data-status=(w.status) {
                    td { (w.distributor_id) }
                    td.price { (yuan(w.amount_fen)) }
                    td.status { (w.status) @if !w.reference.is_empty() { " · " (w.reference) } @if !w.reason.is_empty() { " · " (w.reason) } }
                    td {
                        @if w.status == "requested" {
                            form.inline method="post" action={ "/console/distribution/withdrawals/" (w.id) } {
                                (ctx.csrf_field())
                                input type="hidden" name="action" value="approve";
                                button.btn.approve-withdrawal type="submit" { (ctx.t("通过", "Approve")) }
                            }
                        }
                        @if w.status == "approved" {
                            form.inline method="post" action={ "/console/distribution/withdrawals/" (w.id) } {
                                (ctx.csrf_field())
                                input type="hidden" name="action" value="paid";
                                input.reference name="text" placeholder=(ctx.t("付款流水号", "Payment reference")) required;
                                button.btn.mark-paid type="submit" { (ctx.t("已线下付款", "Mark paid")) }
                            }
                        }
                        @if w.status == "requested" || w.status == "approved" {
                            form.inline method="post" action={ "/console/distribution/withdrawals/" (w.id) } {
                                (ctx.csrf_field())
                                input type="hidden" name="action" value="reject";
                                input name="text" placeholder=(ctx.t("原因", "Reason"));
                                button.btn.secondary type="submit" { (ctx.t("驳回", "Reject")) }
                            }
                        }
                    }
                }
            } } }
        }
    };
    Ok(console_page(
        &ctx,
        &staff,
        ctx.t("分销", "Distribution"),
        body,
    ))
}

#[derive(Debug, Deserialize)]
struct DecisionForm {
    action: String,
    #[serde(default)]
    text: String,
}

fn outcome<T>(result: Result<T, AppError>) -> WebResult<Response> {
    match result {
        Ok(_) => Ok(redirect(&format!("{PAGE}?done=1"))),
        Err(e @ (AppError::Invalid { .. } | AppError::Conflict { .. })) => Ok(redirect(&format!(
            "{PAGE}?error={}",
            crate::web::urlencode(e.code())
        ))),
        Err(e) => Err(e.into()),
    }
}

async fn decide(
    State(state): State<AppState>,
    Staff(staff): Staff,
    Path(member): Path<Uuid>,
    Form(form): Form<DecisionForm>,
) -> WebResult<Response> {
    staff.require(&[Role::HeadOfficeAdmin])?;
    let approve = form.action == "approve";
    outcome(distribution::decide(&state, &staff, member, approve, &form.text).await)
}

#[derive(Debug, Deserialize)]
struct RateForm {
    scope: String,
    #[serde(default)]
    scope_id: String,
    #[serde(default)]
    level1_bp: String,
    #[serde(default)]
    level2_bp: String,
    #[serde(default)]
    level3_bp: String,
}

async fn set_rate(
    State(state): State<AppState>,
    Staff(staff): Staff,
    Form(form): Form<RateForm>,
) -> WebResult<Response> {
    let bp = |t: &str| -> Result<i64, AppError> {
        match t.trim() {
            "" => Ok(0),
            t => t
                .parse()
                .map_err(|_| AppError::field("level1_bp", "a whole number of basis points")),
        }
    };
    let rate = (|| {
        Ok(CommissionRate {
            scope: form.scope.clone(),
            scope_id: form.scope_id.clone(),
            level1_bp: bp(&form.level1_bp)?,
            level2_bp: bp(&form.level2_bp)?,
            level3_bp: bp(&form.level3_bp)?,
        })
    })();
    match rate {
        Ok(rate) => outcome(distribution::set_rate(&state, &staff, &rate).await),
        Err(e) => outcome::<()>(Err(e)),
    }
}

async fn decide_withdrawal(
    State(state): State<AppState>,
    Staff(staff): Staff,
    Path(id): Path<Uuid>,
    Form(form): Form<DecisionForm>,
) -> WebResult<Response> {
    let step = match form.action.as_str() {
        "approve" => WithdrawalStep::Approve,
        "paid" => WithdrawalStep::MarkPaid,
        _ => WithdrawalStep::Reject,
    };
    outcome(distribution::decide_withdrawal(&state, &staff, id, step, &form.text).await)
}
