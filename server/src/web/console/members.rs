//! The console's members (head office and store managers): look a member up by phone (a posted
//! form: phone numbers stay out of URLs, history and access logs), a
//! member's page with points and balance ledgers, and adjusting points by hand (with a reason,
//! recorded in the audit log). A member's page also shows their tags and RFM scores
//! (`app::segments::profile`).

use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use maud::html;
use serde::Deserialize;
use uuid::Uuid;

use crate::actor::{Role, StaffActor};
use crate::app::AppState;
use crate::error::AppError;
use crate::storage;
use crate::storage::paging::PAGE_SIZE;
use crate::web::{
    console_page, field, pager, redirect, when, yuan, Ctx, FieldErrors, Form, Staff, WebResult,
};

/// Member routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/console/members", get(members).post(look_up))
        .route("/console/members/{id}", get(member))
        .route("/console/members/{id}/points", post(adjust_points))
}

#[derive(Debug, Deserialize, Default)]
struct MemberParams {
    phone: Option<String>,
}

async fn members(
    State(_state): State<AppState>,
    ctx: Ctx,
    Staff(staff): Staff,
) -> WebResult<Response> {
    staff.require(&[Role::HeadOfficeAdmin, Role::StoreManager])?;
    Ok(members_view(&ctx, &staff, "", &FieldErrors::new()))
}

fn members_view(ctx: &Ctx, staff: &StaffActor, phone: &str, errors: &FieldErrors) -> Response {
    let body = html! {
        form.card method="post" action="/console/members" {
            (ctx.csrf_field())
            (field(ctx.t("手机号", "Phone"), "phone", "tel", phone, errors, html!{}))
            button.btn type="submit" { (ctx.t("查找", "Look up")) }
        }
    };
    console_page(ctx, staff, ctx.t("会员", "Members"), body)
}

async fn look_up(
    State(state): State<AppState>,
    ctx: Ctx,
    Staff(staff): Staff,
    Form(p): Form<MemberParams>,
) -> WebResult<Response> {
    staff.require(&[Role::HeadOfficeAdmin, Role::StoreManager])?;
    let mut errors = FieldErrors::new();
    let phone = p.phone.as_deref().unwrap_or("");
    match storage::members::normalize_phone(phone) {
        Ok(normalized) => {
            state
                .limiter
                .check(&format!("member-lookup:{}", staff.actor()), 60)
                .await?;
            let found = storage::members::by_phone(
                &state.store,
                &state.keys,
                &state.settings.points,
                &normalized,
            )
            .await?;
            if let Some(m) = found {
                return Ok(redirect(&format!("/console/members/{}", m.id)));
            }
            errors.insert(
                "phone",
                ctx.t("没有这个手机号的会员", "No member with this phone")
                    .into(),
            );
        }
        Err(_) => {
            errors.insert(
                "phone",
                ctx.t("请输入 11 位手机号", "Enter an 11-digit mobile number")
                    .into(),
            );
        }
    }
    Ok(members_view(&ctx, &staff, phone, &errors))
}

#[derive(Debug, Deserialize, Default, Clone)]
struct PointsForm {
    id: Option<String>,
    delta: Option<String>,
    reason: Option<String>,
}

/// A member's page: the notice after an adjustment and where each ledger's page starts.
#[derive(Debug, Deserialize, Default)]
struct MemberPageParams {
    done: Option<String>,
    /// The points ledger's page cursor.
    points: Option<String>,
    /// The balance ledger's page cursor.
    balance: Option<String>,
}

async fn member_view(
    state: &AppState,
    ctx: &Ctx,
    staff: &StaffActor,
    id: Uuid,
    form: &PointsForm,
    errors: &FieldErrors,
    params: &MemberPageParams,
) -> WebResult<Response> {
    let m = storage::members::get(&state.store, &state.keys, &state.settings.points, id).await?;
    let (points_at, balance_at) = (params.points.as_deref(), params.balance.as_deref());
    let points = storage::members::points_page(&state.store, id, points_at, PAGE_SIZE).await?;
    let balance = storage::members::balance_page(&state.store, id, balance_at, PAGE_SIZE).await?;
    let (rfm, tags) = crate::app::segments::profile(state, id).await?;
    let path = format!("/console/members/{id}");
    let done = params.done.is_some();
    let adjust_id = form
        .id
        .clone()
        .unwrap_or_else(|| retail_domain::ids::new_id().to_string());
    let body = html! {
        @if done { div.notice.ok role="status" { (ctx.t("积分已调整并记入审计日志。", "Points adjusted and recorded in the audit log.")) } }
        div.kpis {
            div.kpi { span.muted { (ctx.t("手机", "Phone")) } b { (m.phone) } }
            div.kpi { span.muted { (ctx.t("等级", "Tier")) } b { (m.tier.name) } }
            @if m.points < 0 {
                div.kpi.owed { span.muted { (ctx.t("积分欠款", "Points owed")) } b #member-points-owed { (m.points.saturating_neg()) } }
            } @else {
                div.kpi { span.muted { (ctx.t("积分", "Points")) } b #member-points { (m.points) } }
            }
            div.kpi { span.muted { (ctx.t("余额", "Balance")) } b { (yuan(m.balance.fen())) } }
        }
        div.card #member-profile {
            b { (ctx.t("标签与 RFM", "Tags and RFM")) }
            @if let Some(r) = &rfm {
                p #member-rfm {
                    "R " (r.r_score) " · F " (r.f_score) " · M " (r.m_score) " — "
                    (ctx.t("距上次购买 ", "last purchase ")) (r.recency_days) (ctx.t(" 天，", " days ago, "))
                    (r.frequency) (ctx.t(" 单，", " orders, ")) (yuan(r.monetary_fen))
                }
            } @else {
                p.muted #member-rfm { (ctx.t("暂无已付款订单", "No paid orders yet")) }
            }
            p #member-tags { @for t in &tags { span.tag data-tag=(t.tag) { code { (t.tag) } } " " } }
        }
        form.card method="post" action={ "/console/members/" (m.id) "/points" } {
            b { (ctx.t("手动调整积分", "Adjust points")) }
            (ctx.csrf_field())
            input type="hidden" name="id" value=(adjust_id);
            div.two {
                (field(ctx.t("积分变动（可为负）", "Points (may be negative)"), "delta", "number", form.delta.as_deref().unwrap_or(""), errors, html!{}))
                (field(ctx.t("原因（必填）", "Reason (required)"), "reason", "text", form.reason.as_deref().unwrap_or(""), errors, html!{}))
            }
            button.btn type="submit" { (ctx.t("调整", "Adjust")) }
        }
        div.two {
            div.card { b { (ctx.t("积分流水", "Points ledger")) }
                div.table-wrap { table #points-ledger { @for e in &points.items { tr { td { (when(e.created_at.timestamp_millis())) } td { (e.kind) } td.num { (e.delta) } td { (e.reason) } td { (e.actor) } } } } }
                (pager(ctx, &path, &[("balance", balance_at.unwrap_or(""))], "points", points_at, points.next_cursor.as_deref())) }
            div.card { b { (ctx.t("余额流水", "Balance ledger")) }
                div.table-wrap { table #balance-ledger { @for e in &balance.items { tr { td { (when(e.created_at.timestamp_millis())) } td { (e.kind) } td.num { (yuan(e.amount.fen())) } td { (e.actor) } } } } }
                (pager(ctx, &path, &[("points", points_at.unwrap_or(""))], "balance", balance_at, balance.next_cursor.as_deref())) }
        }
    };
    Ok(console_page(ctx, staff, ctx.t("会员详情", "Member"), body))
}

async fn member(
    State(state): State<AppState>,
    ctx: Ctx,
    Staff(staff): Staff,
    Path(id): Path<Uuid>,
    Query(params): Query<MemberPageParams>,
) -> WebResult<Response> {
    staff.require(&[Role::HeadOfficeAdmin, Role::StoreManager])?;
    member_view(
        &state,
        &ctx,
        &staff,
        id,
        &PointsForm::default(),
        &FieldErrors::new(),
        &params,
    )
    .await
}

async fn adjust_points(
    State(state): State<AppState>,
    ctx: Ctx,
    Staff(staff): Staff,
    Path(id): Path<Uuid>,
    Form(form): Form<PointsForm>,
) -> WebResult<Response> {
    staff.require(&[Role::HeadOfficeAdmin, Role::StoreManager])?;
    let mut errors = FieldErrors::new();
    let delta = form
        .delta
        .as_deref()
        .unwrap_or("")
        .trim()
        .parse::<i64>()
        .ok()
        .filter(|d| *d != 0 && d.abs() <= 1_000_000);
    if delta.is_none() {
        errors.insert(
            "delta",
            ctx.t(
                "请输入非零整数（绝对值不超过 1000000）",
                "Enter a whole number other than 0 (at most 1000000 either way)",
            )
            .into(),
        );
    }
    let reason = form.reason.clone().unwrap_or_default().trim().to_owned();
    if reason.is_empty() || reason.chars().count() > 200 {
        errors.insert(
            "reason",
            ctx.t(
                "请填写原因（最多 200 字）",
                "Give a reason (up to 200 characters)",
            )
            .into(),
        );
    }
    let adjust_id = form
        .id
        .as_deref()
        .and_then(|i| Uuid::parse_str(i).ok())
        .filter(|i| retail_domain::ids::require_v7(*i).is_ok());
    let (Some(delta), Some(adjust_id), true) = (delta, adjust_id, errors.is_empty()) else {
        let params = MemberPageParams::default();
        return member_view(&state, &ctx, &staff, id, &form, &errors, &params).await;
    };
    match storage::members::adjust_points(
        &state.store,
        &state.settings.points,
        id,
        adjust_id,
        delta,
        &reason,
        &staff.actor(),
    )
    .await
    {
        Ok(_) => Ok(redirect(&format!("/console/members/{id}?done=1"))),
        Err(AppError::Conflict {
            code: "insufficient_points",
            ..
        }) => {
            errors.insert(
                "delta",
                ctx.t("积分不足，不能扣成负数", "Not enough points to take")
                    .into(),
            );
            member_view(
                &state,
                &ctx,
                &staff,
                id,
                &PointsForm { id: None, ..form },
                &errors,
                &MemberPageParams::default(),
            )
            .await
        }
        Err(e) => Err(e.into()),
    }
}
