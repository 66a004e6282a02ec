//! The console's bargains (砍价), head office only: create one on a SKU, pause or resume it,
//! see each with its figures, and a report page per bargain (runs started, helps, bought and
//! paid, conversion, GMV, discount cost) — through [`crate::app::bargains`], as the API.

use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use maud::html;
use retail_domain::money::Money;
use serde::Deserialize;
use uuid::Uuid;

use super::{china_time, saved_or_field, whole_number};
use crate::app::bargains::{self, NewBargain};
use crate::app::AppState;
use crate::error::AppError;
use crate::web::{console_page, redirect, yuan, Ctx, Form, Staff, WebResult};

/// Bargain routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/console/bargains", get(page).post(create))
        .route("/console/bargains/{id}", get(report_page))
        .route("/console/bargains/{id}/status", post(set_status))
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
    let all = bargains::list_with_reports(&state, &staff).await?;
    let body = html! {
        @if p.done.is_some() { div.notice.ok role="status" #bargain-done { (ctx.t("已保存。", "Saved.")) } }
        @if let Some(field) = &p.error { div.notice.err role="alert" #bargain-error {
            (ctx.t("请检查：", "Check: ")) (field)
        } }
        form.card #new-bargain method="post" action="/console/bargains" {
            (ctx.csrf_field())
            input type="hidden" name="id" value=(Uuid::now_v7());
            b { (ctx.t("新建砍价", "New bargain")) }
            div.two {
                div.field { label for="sku_id" { "SKU ID" } input #sku_id name="sku_id" required; }
                div.field { label for="name_zh" { (ctx.t("名称", "Name")) } input #name_zh name="name_zh"; }
            }
            div.two {
                div.field { label for="start_price" { (ctx.t("起始价（元）", "Start price (yuan)")) } input #start_price name="start_price" inputmode="decimal" required; }
                div.field { label for="floor_price" { (ctx.t("底价（元）", "Floor price (yuan)")) } input #floor_price name="floor_price" inputmode="decimal" required; }
            }
            div.two {
                div.field { label for="helpers" { (ctx.t("砍到底价所需人数（2–100）", "Helps to the floor (2–100)")) } input #helpers name="helpers" value="5" inputmode="numeric"; }
                div.field { label for="hours" { (ctx.t("砍价时限（小时）", "Hours per bargain")) } input #hours name="hours" value="24" inputmode="numeric"; }
            }
            div.two {
                div.field { label for="per_member_limit" { (ctx.t("每人可发起次数", "Bargains per member")) } input #per_member_limit name="per_member_limit" value="1" inputmode="numeric"; }
                div.field { label for="stock_units" { (ctx.t("活动库存（件）", "Units set aside")) } input #stock_units name="stock_units" value="100" inputmode="numeric"; }
            }
            div.two {
                div.field { label for="starts_at" { (ctx.t("开始（北京时间）", "Starts (China time)")) } input #starts_at name="starts_at" type="datetime-local" required; }
                div.field { label for="ends_at" { (ctx.t("结束（北京时间）", "Ends (China time)")) } input #ends_at name="ends_at" type="datetime-local" required; }
            }
            div.field { label { input #new_helpers_only type="checkbox" name="new_helpers_only" value="1"; " " (ctx.t("仅限新会员助力", "Helpers must be new members")) } }
            p.muted { (ctx.t("每次助力砍掉的金额由服务器在发起时随机生成，最后一位助力者恰好砍到底价。", "Each help's cut is drawn by the server when the bargain starts; the last help reaches the floor exactly.")) }
            button.btn #create-bargain type="submit" { (ctx.t("创建", "Create")) }
        }
        div.table-wrap { table #bargains {
            tr {
                th { (ctx.t("名称", "Name")) } th.num { (ctx.t("起始价/底价", "Start/floor")) } th.num { (ctx.t("人数", "Helps")) }
                th.num { (ctx.t("库存", "Units")) } th.num { (ctx.t("发起", "Started")) } th.num { (ctx.t("购买", "Bought")) }
                th.num { "GMV" } th { (ctx.t("状态", "Status")) } th {}
            }
            @for b in &all {
                tr data-id=(b.bargain.id) {
                    td { a href={ "/console/bargains/" (b.bargain.id) } { (ctx.lang.pick(&b.bargain.name_zh, &b.bargain.name_en)) } }
                    td.num { (yuan(b.bargain.start_price.fen())) " / " (yuan(b.bargain.floor_price.fen())) }
                    td.num { (b.bargain.helpers) }
                    td.num { (b.bargain.units_taken) " / " (b.bargain.stock_units) }
                    td.num.started { (b.report.started) }
                    td.num.bought { (b.report.bought) }
                    td.num.gmv { (yuan(b.report.gmv.fen())) }
                    td.status { (b.bargain.status) }
                    td { (super::pause_resume(&ctx, &format!("/console/bargains/{}/status", b.bargain.id), b.bargain.status == "active")) }
                }
            }
        } }
    };
    Ok(console_page(&ctx, &staff, ctx.t("砍价", "Bargains"), body))
}

async fn report_page(
    State(state): State<AppState>,
    ctx: Ctx,
    Staff(staff): Staff,
    Path(id): Path<Uuid>,
) -> WebResult<Response> {
    let r = bargains::report(&state, &staff, id).await?;
    let (b, f) = (&r.bargain, &r.report);
    let body = html! {
        p { a href="/console/bargains" { (ctx.t("← 全部砍价", "← All bargains")) } }
        div.card #bargain-report data-id=(b.id) {
            h2 { (ctx.lang.pick(&b.name_zh, &b.name_en)) }
            p.muted { "SKU " (b.sku_id) " · " (yuan(b.start_price.fen())) " → " (yuan(b.floor_price.fen()))
                " · " (b.helpers) (ctx.t(" 人砍到底", " helps to the floor")) " · " (b.status) }
            table {
                tr { th { (ctx.t("发起", "Started")) } td.num #r-started { (f.started) } }
                tr { th { (ctx.t("助力次数", "Helps")) } td.num #r-helps { (f.helps) } }
                tr { th { (ctx.t("助力人数", "Helpers")) } td.num #r-helpers { (f.helpers) } }
                tr { th { (ctx.t("砍到底价", "Reached the floor")) } td.num #r-floor { (f.reached_floor) } }
                tr { th { (ctx.t("已购买（已支付）", "Bought (paid)")) } td.num #r-bought { (f.bought) } }
                tr { th { (ctx.t("转化率", "Conversion")) } td.num #r-conversion { (format!("{:.1}%", f.conversion * 100.0)) } }
                tr { th { "GMV" } td.num #r-gmv { (yuan(f.gmv.fen())) } }
                tr { th { (ctx.t("优惠成本", "Discount cost")) } td.num #r-cost { (yuan(f.discount_cost.fen())) } }
                tr { th { (ctx.t("活动库存", "Units")) } td.num { (b.units_taken) " / " (b.stock_units) } }
            }
        }
    };
    Ok(console_page(
        &ctx,
        &staff,
        ctx.t("砍价报表", "Bargain report"),
        body,
    ))
}

#[derive(Debug, Deserialize)]
struct CreateForm {
    id: String,
    sku_id: String,
    #[serde(default)]
    name_zh: String,
    start_price: String,
    floor_price: String,
    helpers: String,
    hours: String,
    per_member_limit: String,
    starts_at: String,
    ends_at: String,
    stock_units: String,
    #[serde(default)]
    new_helpers_only: Option<String>,
}

async fn create(
    State(state): State<AppState>,
    Staff(staff): Staff,
    Form(form): Form<CreateForm>,
) -> WebResult<Response> {
    let number = whole_number;
    let amount = |field: &'static str, text: &str| {
        Money::parse(text.trim()).map_err(|_| AppError::field(field, "an amount in yuan"))
    };
    let parsed = (|| -> Result<NewBargain, AppError> {
        Ok(NewBargain {
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
            start_price: amount("start_price", &form.start_price)?,
            floor_price: amount("floor_price", &form.floor_price)?,
            helpers: number("helpers", &form.helpers)?,
            hours: number("hours", &form.hours)?,
            per_member_limit: number("per_member_limit", &form.per_member_limit)?,
            starts_at: china_time("starts_at", &form.starts_at)?,
            ends_at: china_time("ends_at", &form.ends_at)?,
            stock_units: number("stock_units", &form.stock_units)?,
            new_helpers_only: form.new_helpers_only.as_deref() == Some("1"),
        })
    })();
    let result = match parsed {
        Ok(b) => bargains::create(&state, &staff, &b).await.map(|_| ()),
        Err(e) => Err(e),
    };
    saved_or_field(result, "/console/bargains")
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
    bargains::set_paused(&state, &staff, id, form.paused == "1").await?;
    Ok(redirect("/console/bargains?done=1"))
}
