//! The console's group-buys (拼团), head office only: create one on a SKU, pause or resume it,
//! and see each with its teams (open, filled, failed), participants and GMV — through
//! [`crate::app::group_buys`], as the API.

use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use maud::html;
use retail_domain::money::Money;
use serde::Deserialize;
use uuid::Uuid;

use super::{china_time, saved_or_field, whole_number};
use crate::actor::Role;
use crate::app::group_buys::{self, NewGroupBuy};
use crate::app::AppState;
use crate::error::AppError;
use crate::web::{console_page, redirect, yuan, Ctx, Form, Staff, WebResult};

/// Group-buy routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/console/group-buys", get(page).post(create))
        .route("/console/group-buys/{id}/status", post(set_status))
}

#[derive(Debug, Deserialize, Default)]
struct PageParams {
    done: Option<String>,
    error: Option<String>,
}

async fn page(
    State(state): State<AppState>,
    ctx: Ctx,
    Staff(staff): Staff,
    Query(p): Query<PageParams>,
) -> WebResult<Response> {
    staff.require(&[Role::HeadOfficeAdmin])?;
    let all = group_buys::list_with_reports(&state).await?;
    let body = html! {
        @if p.done.is_some() { div.notice.ok role="status" #gb-done { (ctx.t("已保存。", "Saved.")) } }
        @if let Some(field) = &p.error { div.notice.err role="alert" #gb-error {
            (ctx.t("请检查：", "Check: ")) (field)
        } }
        form.card #new-group-buy method="post" action="/console/group-buys" {
            (ctx.csrf_field())
            input type="hidden" name="id" value=(Uuid::now_v7());
            b { (ctx.t("新建拼团", "New group-buy")) }
            div.two {
                div.field { label for="sku_id" { "SKU ID" } input #sku_id name="sku_id" required; }
                div.field { label for="name_zh" { (ctx.t("名称", "Name")) } input #name_zh name="name_zh"; }
            }
            div.two {
                div.field { label for="group_price" { (ctx.t("拼团价（元）", "Group price (yuan)")) } input #group_price name="group_price" inputmode="decimal" required; }
                div.field { label for="team_size" { (ctx.t("成团人数（2–50）", "Team size (2–50)")) } input #team_size name="team_size" value="3" inputmode="numeric"; }
            }
            div.two {
                div.field { label for="fill_hours" { (ctx.t("成团时限（小时）", "Hours to fill")) } input #fill_hours name="fill_hours" value="24" inputmode="numeric"; }
                div.field { label for="per_member_limit" { (ctx.t("每人限购", "Per-member limit")) } input #per_member_limit name="per_member_limit" value="1" inputmode="numeric"; }
            }
            div.two {
                div.field { label for="starts_at" { (ctx.t("开始（北京时间）", "Starts (China time)")) } input #starts_at name="starts_at" type="datetime-local" required; }
                div.field { label for="ends_at" { (ctx.t("结束（北京时间）", "Ends (China time)")) } input #ends_at name="ends_at" type="datetime-local" required; }
            }
            div.two {
                div.field { label for="stock_units" { (ctx.t("活动库存（件）", "Units set aside")) } input #stock_units name="stock_units" value="100" inputmode="numeric"; }
                div.field { label { input #new_members_only type="checkbox" name="new_members_only" value="1"; " " (ctx.t("仅限新会员", "New members only")) } }
            }
            div.field { label { input #virtual_fill type="checkbox" name="virtual_fill" value="1"; " " (ctx.t("到期差一人且已付款时以虚拟成员成团（记入审计）", "At the deadline, fill a team one member short (all paid) with a virtual member (audited)")) } }
            button.btn #create-group-buy type="submit" { (ctx.t("创建", "Create")) }
        }
        div.table-wrap { table #group-buys {
            tr {
                th { (ctx.t("名称", "Name")) } th.num { (ctx.t("拼团价", "Price")) } th.num { (ctx.t("人数", "Size")) }
                th.num { (ctx.t("库存", "Units")) } th.num { (ctx.t("参与人数", "Participants")) }
                th.num { (ctx.t("进行中/成团/失败", "Open/filled/failed")) } th.num { "GMV" } th { (ctx.t("状态", "Status")) } th {}
            }
            @for g in &all {
                tr data-id=(g.group_buy.id) {
                    td { (ctx.lang.pick(&g.group_buy.name_zh, &g.group_buy.name_en)) }
                    td.num { (yuan(g.group_buy.group_price.fen())) }
                    td.num { (g.group_buy.team_size) }
                    td.num { (g.group_buy.units_taken) " / " (g.group_buy.stock_units) }
                    td.num.participants { (g.report.participants) }
                    td.num.teams {
                        (g.report.teams_open) " / " (g.report.teams_filled) " / " (g.report.teams_failed)
                        @if g.report.teams_virtually_filled > 0 { br; small.virtual-filled { (ctx.t("虚拟成团 ", "virtual fills ")) (g.report.teams_virtually_filled) } }
                    }
                    td.num.gmv { (yuan(g.report.gmv.fen())) }
                    td.status { (g.group_buy.status) }
                    td { (super::pause_resume(&ctx, &format!("/console/group-buys/{}/status", g.group_buy.id), g.group_buy.status == "active")) }
                }
            }
        } }
    };
    Ok(console_page(
        &ctx,
        &staff,
        ctx.t("拼团", "Group-buys"),
        body,
    ))
}

#[derive(Debug, Deserialize)]
struct CreateForm {
    id: String,
    sku_id: String,
    #[serde(default)]
    name_zh: String,
    group_price: String,
    team_size: String,
    fill_hours: String,
    per_member_limit: String,
    starts_at: String,
    ends_at: String,
    stock_units: String,
    #[serde(default)]
    new_members_only: Option<String>,
    #[serde(default)]
    virtual_fill: Option<String>,
}

async fn create(
    State(state): State<AppState>,
    Staff(staff): Staff,
    Form(form): Form<CreateForm>,
) -> WebResult<Response> {
    let number = whole_number;
    let parsed = (|| -> Result<NewGroupBuy, AppError> {
        Ok(NewGroupBuy {
            id: form
                .id
                .trim()
                .parse()
                .map_err(|_| AppError::field("id", "an id"))?,
            sku_id: form
                .sku_id
                .trim()
                .parse()
                .map_err(|_| AppError::field("sku_id", "a SKU id"))?,
            name_zh: form.name_zh.clone(),
            name_en: String::new(),
            group_price: Money::parse(form.group_price.trim())
                .map_err(|_| AppError::field("group_price", "an amount in yuan"))?,
            team_size: number("team_size", &form.team_size)?,
            fill_hours: number("fill_hours", &form.fill_hours)?,
            per_member_limit: number("per_member_limit", &form.per_member_limit)?,
            starts_at: china_time("starts_at", &form.starts_at)?,
            ends_at: china_time("ends_at", &form.ends_at)?,
            stock_units: number("stock_units", &form.stock_units)?,
            new_members_only: form.new_members_only.as_deref() == Some("1"),
            virtual_fill: form.virtual_fill.as_deref() == Some("1"),
        })
    })();
    let result = match parsed {
        Ok(g) => group_buys::create(&state, &staff, &g).await.map(|_| ()),
        Err(e) => Err(e),
    };
    saved_or_field(result, "/console/group-buys")
}

#[derive(Debug, Deserialize)]
struct StatusForm {
    paused: String,
}

async fn set_status(
    State(state): State<AppState>,
    Staff(staff): Staff,
    Path(id): Path<Uuid>,
    Form(form): Form<StatusForm>,
) -> WebResult<Response> {
    group_buys::set_paused(&state, &staff, id, form.paused == "1").await?;
    Ok(redirect("/console/group-buys?done=1"))
}
