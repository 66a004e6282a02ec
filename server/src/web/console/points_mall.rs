//! The console's points-mall goods (积分商城), head office only: offer a SKU for points, pause or
//! resume it, and see each with the members, units and points redeemed — through
//! [`crate::app::points_mall`], as the API. (Coupons for points are priced on the coupon
//! templates.)

use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use maud::html;
use serde::Deserialize;
use uuid::Uuid;

use super::{china_time, saved_or_field, whole_number};
use crate::actor::Role;
use crate::app::points_mall::{self, NewGoods};
use crate::app::AppState;
use crate::error::AppError;
use crate::web::{console_page, redirect, Ctx, Form, Staff, WebResult};

/// Points-mall routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/console/points-mall", get(page).post(create))
        .route("/console/points-mall/{id}/status", post(set_status))
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
    let all = points_mall::list_with_reports(&state).await?;
    let body = html! {
        @if p.done.is_some() { div.notice.ok role="status" #pm-done { (ctx.t("已保存。", "Saved.")) } }
        @if let Some(field) = &p.error { div.notice.err role="alert" #pm-error {
            (ctx.t("请检查：", "Check: ")) (field)
        } }
        form.card #new-points-goods method="post" action="/console/points-mall" {
            (ctx.csrf_field())
            input type="hidden" name="id" value=(Uuid::now_v7());
            b { (ctx.t("新增积分兑换商品", "Offer goods for points")) }
            div.two {
                div.field { label for="sku_id" { "SKU ID" } input #sku_id name="sku_id" required; }
                div.field { label for="points_price" { (ctx.t("所需积分（每件）", "Points per unit")) } input #points_price name="points_price" inputmode="numeric" required; }
            }
            div.two {
                div.field { label for="stock_units" { (ctx.t("兑换库存（件）", "Units set aside")) } input #stock_units name="stock_units" value="100" inputmode="numeric"; }
                div.field { label for="per_member_limit" { (ctx.t("每人限兑", "Per-member limit")) } input #per_member_limit name="per_member_limit" value="1" inputmode="numeric"; }
            }
            div.two {
                div.field { label for="starts_at" { (ctx.t("开始（北京时间）", "Starts (China time)")) } input #starts_at name="starts_at" type="datetime-local" required; }
                div.field { label for="ends_at" { (ctx.t("结束（北京时间）", "Ends (China time)")) } input #ends_at name="ends_at" type="datetime-local" required; }
            }
            button.btn #create-points-goods type="submit" { (ctx.t("上架", "Offer")) }
        }
        div.table-wrap { table #points-goods {
            tr {
                th { "SKU" } th.num { (ctx.t("积分", "Points")) } th.num { (ctx.t("已兑/库存", "Taken/units")) }
                th.num { (ctx.t("兑换人数", "Members")) } th.num { (ctx.t("消耗积分", "Points spent")) }
                th { (ctx.t("状态", "Status")) } th {}
            }
            @for g in &all {
                tr data-id=(g.goods.id) {
                    td { code { (g.goods.sku_id) } }
                    td.num { (g.goods.points_price) }
                    td.num { (g.goods.units_taken) " / " (g.goods.stock_units) }
                    td.num.members { (g.report.members) }
                    td.num.points { (g.report.points) }
                    td.status { (g.goods.status) }
                    td { (super::pause_resume(&ctx, &format!("/console/points-mall/{}/status", g.goods.id), g.goods.status == "active")) }
                }
            }
        } }
    };
    Ok(console_page(
        &ctx,
        &staff,
        ctx.t("积分商城", "Points mall"),
        body,
    ))
}

#[derive(Debug, Deserialize)]
struct CreateForm {
    id: String,
    sku_id: String,
    points_price: String,
    stock_units: String,
    per_member_limit: String,
    starts_at: String,
    ends_at: String,
}

async fn create(
    State(state): State<AppState>,
    Staff(staff): Staff,
    Form(form): Form<CreateForm>,
) -> WebResult<Response> {
    let number = whole_number;
    let parsed = (|| -> Result<NewGoods, AppError> {
        Ok(NewGoods {
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
            points_price: number("points_price", &form.points_price)?,
            stock_units: number("stock_units", &form.stock_units)?,
            per_member_limit: number("per_member_limit", &form.per_member_limit)?,
            starts_at: china_time("starts_at", &form.starts_at)?,
            ends_at: china_time("ends_at", &form.ends_at)?,
        })
    })();
    let result = match parsed {
        Ok(g) => points_mall::create(&state, &staff, &g).await.map(|_| ()),
        Err(e) => Err(e),
    };
    saved_or_field(result, "/console/points-mall")
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
    points_mall::set_paused(&state, &staff, id, form.paused == "1").await?;
    Ok(redirect("/console/points-mall?done=1"))
}
