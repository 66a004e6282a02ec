//! Console: electronic shelf labels — a store's labels, their queued updates and failures, the
//! batches sent to the vendor with the vendor's answers, a form to link a label to a SKU, and
//! the virtual label wall (each label as it renders, from what the vendor last accepted).

use axum::extract::{Query, State};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use maud::{html, Markup};
use serde::Deserialize;
use uuid::Uuid;

use crate::actor::{Role, StaffActor};
use crate::app::esl::{self, LinkLabel, ShelfTag};
use crate::app::AppState;
use crate::error::AppError;
use crate::web::{console_page, redirect, when, Ctx, Form, Staff, WebResult};

/// ESL pages.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/console/esl", get(page).post(link))
        .route("/console/esl/wall", get(wall))
}

#[derive(Debug, Deserialize, Default)]
struct StoreParams {
    store: Option<String>,
    status: Option<String>,
    done: Option<String>,
}

#[derive(Debug, Deserialize, Default)]
struct LinkForm {
    id: Option<String>,
    store: Option<String>,
    label_id: Option<String>,
    barcode: Option<String>,
}

/// The store the page is for: the manager's own, or the one head office picked (SH001 by
/// default).
fn store_of(staff: &StaffActor, asked: Option<&str>) -> Result<String, AppError> {
    staff.require(&[Role::HeadOfficeAdmin, Role::StoreManager])?;
    let store = match (
        asked.map(str::trim).filter(|s| !s.is_empty()),
        &staff.location_id,
    ) {
        (Some(s), _) => s.to_uppercase(),
        (None, Some(own)) => own.clone(),
        (None, None) => "SH001".to_owned(),
    };
    staff.require_store(&store)?;
    Ok(store)
}

fn store_picker(ctx: &Ctx, action: &str, store: &str) -> Markup {
    html! {
        form.row method="get" action=(action) {
            div.field { label for="store" { (ctx.t("门店", "Store")) } input #store name="store" value=(store); }
            button.btn.secondary type="submit" { (ctx.t("查看", "Show")) }
        }
    }
}

async fn page(
    State(state): State<AppState>,
    ctx: Ctx,
    Staff(staff): Staff,
    Query(p): Query<StoreParams>,
) -> WebResult<Response> {
    let store = store_of(&staff, p.store.as_deref())?;
    view(
        &state,
        &ctx,
        &staff,
        &store,
        p.status.as_deref(),
        p.done
            .is_some()
            .then(|| ctx.t("已保存", "Saved").to_owned()),
        None,
    )
    .await
}

async fn view(
    state: &AppState,
    ctx: &Ctx,
    staff: &StaffActor,
    store: &str,
    only: Option<&str>,
    notice: Option<String>,
    problem: Option<String>,
) -> WebResult<Response> {
    let only = only.filter(|s| !s.is_empty());
    let status = esl::status(state, store, only).await?;
    let count = |k: &str| status.counts.get(k).copied().unwrap_or(0);
    let id = retail_domain::ids::new_id();
    let body = html! {
        @if let Some(n) = notice { div.notice role="status" { (n) } }
        @if let Some(p) = problem { div.notice.err role="alert" data-error="esl" { (p) } }
        (store_picker(ctx, "/console/esl", store))
        div.row #esl-counts {
            span.chip data-count="shown" { (ctx.t("已显示", "Shown")) " " (count("shown")) }
            span.chip data-count="pending" { (ctx.t("待发送", "Pending")) " " (count("pending")) }
            span.chip data-count="failed" { (ctx.t("失败", "Failed")) " " (count("failed")) }
            span.chip data-count="queued" { (ctx.t("队列中", "Queued")) " " (status.queued) }
            " " a href={ "/console/esl/wall?store=" (store) } { (ctx.t("虚拟价签墙", "Virtual label wall")) }
        }
        div.row style="margin:10px 0" {
            a.chip.on[only.is_none()] href={ "/console/esl?store=" (store) } { (ctx.t("全部", "All")) }
            " " a.chip.on[only == Some("failed")] href={ "/console/esl?store=" (store) "&status=failed" } { (ctx.t("失败", "Failed")) }
            " " a.chip.on[only == Some("pending")] href={ "/console/esl?store=" (store) "&status=pending" } { (ctx.t("待发送", "Pending")) }
        }
        div.table-wrap { table #esl-labels {
            tr { th { (ctx.t("价签", "Label")) } th { "SKU" } th { (ctx.t("状态", "Status")) } th { (ctx.t("原因", "Reason")) } th { (ctx.t("显示价", "Shown price")) } th { (ctx.t("重试", "Attempts")) } th { (ctx.t("错误", "Error")) } }
            @for l in &status.labels {
                tr data-label=(l.label_id) data-status=(l.status) {
                    td { (l.label_id) }
                    td { (l.shown.as_ref().and_then(|s| s["sku_code"].as_str()).unwrap_or("")) " " (l.shown.as_ref().and_then(|s| s["name_zh"].as_str()).unwrap_or("")) }
                    td { (l.status) @if l.queued { " ⏳" } }
                    td { (l.reason) }
                    td { (l.shown.as_ref().and_then(|s| s["shelf"]["price"].as_str()).unwrap_or("—")) }
                    td { (l.attempts) }
                    td.err { (l.last_error.as_deref().unwrap_or("")) }
                }
            }
        } }
        h3 { (ctx.t("最近批次", "Recent batches")) }
        div.table-wrap { table #esl-batches {
            tr { th { (ctx.t("时间", "When")) } th { (ctx.t("接口", "Vendor")) } th { (ctx.t("价签", "Labels")) } th { (ctx.t("商品", "Items")) } th { (ctx.t("结果", "Result")) } th { "HTTP" } th { (ctx.t("错误", "Error")) } }
            @for b in &status.batches {
                tr data-batch=(b.id) data-status=(b.status) {
                    td { (when(b.started_at)) }
                    td { (b.vendor) }
                    td { (b.labels) }
                    td { (b.items) }
                    td { (b.status) }
                    td { (b.http_status.map(|s| s.to_string()).unwrap_or_default()) }
                    td.err { (b.error.as_deref().unwrap_or("")) }
                }
            }
        } }
        div.card {
            b { (ctx.t("绑定价签", "Link a label")) }
            form method="post" action="/console/esl" {
                (ctx.csrf_field())
                input type="hidden" name="id" value=(id);
                input type="hidden" name="store" value=(store);
                div.row {
                    div.field { label for="label_id" { (ctx.t("价签条码", "Label barcode")) } input #label_id name="label_id"; }
                    div.field { label for="barcode" { (ctx.t("商品条码", "Product barcode")) } input #barcode name="barcode"; }
                }
                button.btn type="submit" { (ctx.t("绑定", "Link")) }
            }
        }
    };
    Ok(console_page(
        ctx,
        staff,
        ctx.t("电子价签", "Shelf labels"),
        body,
    ))
}

async fn link(
    State(state): State<AppState>,
    ctx: Ctx,
    Staff(staff): Staff,
    Form(form): Form<LinkForm>,
) -> WebResult<Response> {
    let store = store_of(&staff, form.store.as_deref())?;
    let Some(id) = form.id.as_deref().and_then(|i| Uuid::parse_str(i).ok()) else {
        let msg = ctx
            .t("表单已过期，请重试", "The form expired; try again")
            .to_owned();
        return view(&state, &ctx, &staff, &store, None, None, Some(msg)).await;
    };
    let req = LinkLabel {
        id,
        store: store.clone(),
        label_id: form.label_id.unwrap_or_default(),
        barcode: form.barcode,
        sku_id: None,
    };
    match esl::link_label(&state, req).await {
        Ok(_) => Ok(redirect(&format!("/console/esl?store={store}&done=1"))),
        Err(e @ AppError::Invalid { .. }) => {
            view(
                &state,
                &ctx,
                &staff,
                &store,
                None,
                None,
                Some(e.to_string()),
            )
            .await
        }
        Err(e) => Err(e.into()),
    }
}

/// One label as it renders on the shelf.
fn label_card(ctx: &Ctx, label_id: &str, status: &str, tag: Option<&ShelfTag>) -> Markup {
    html! {
        div.esl-label data-label=(label_id) data-status=(status) style="display:inline-block;width:210px;margin:6px;padding:8px;border:2px solid #333;border-radius:6px;background:#fff;vertical-align:top;font-family:sans-serif" {
            @if let Some(t) = tag {
                div style="font-size:13px;font-weight:bold;white-space:nowrap;overflow:hidden" { (t.name_zh) " " (t.spec_zh) }
                @if let Some(p) = &t.shelf.promotion {
                    div.esl-promo style="background:#c00;color:#fff;font-size:11px;padding:1px 4px;display:inline-block" { (p.name.zh) }
                }
                div.esl-price style="font-size:30px;font-weight:bold;color:#c00" {
                    "¥" (t.shelf.price)
                    span style="font-size:12px;color:#333" { "/" (if t.shelf.weighed { "千克" } else { t.unit.as_str() }) }
                }
                @if t.shelf.price < t.shelf.regular_price {
                    div style="font-size:12px" { (ctx.t("原价", "Was")) " " s { "¥" (t.shelf.regular_price) } }
                }
                @if let Some(m) = t.shelf.member_price {
                    div.esl-member style="font-size:12px" { (ctx.t("会员价", "Member")) " ¥" (m) }
                }
                @for u in &t.shelf.unit_prices {
                    div.esl-unit style="font-size:11px;color:#555" { (ctx.t("单价", "Unit price")) " ¥" (u.price) "/" (u.unit_zh) }
                }
                div style="font-size:10px;color:#777" {
                    (t.sku_code) " · " (t.barcode.as_deref().unwrap_or(""))
                    @if let Some(u) = t.shelf.valid_until { br; (ctx.t("有效至", "Until")) " " (when(u.timestamp_millis())) }
                }
            } @else {
                div style="color:#999" { (label_id) " — " (ctx.t("尚未显示", "nothing shown yet")) }
            }
            div style="font-size:10px;color:#999" { (label_id) " · " (status) }
        }
    }
}

async fn wall(
    State(state): State<AppState>,
    ctx: Ctx,
    Staff(staff): Staff,
    Query(p): Query<StoreParams>,
) -> WebResult<Response> {
    let store = store_of(&staff, p.store.as_deref())?;
    let status = esl::status(&state, &store, None).await?;
    let body = html! {
        (store_picker(&ctx, "/console/esl/wall", &store))
        p { (ctx.t("每个价签按供应商最后接受的内容显示（演示模式下为虚拟价签）。", "Each label as the vendor last accepted it (the virtual labels in demo mode).")) }
        div #esl-wall {
            @for l in &status.labels {
                @let tag = l.shown.clone().and_then(|s| serde_json::from_value::<ShelfTag>(s).ok());
                (label_card(&ctx, &l.label_id, &l.status, tag.as_ref()))
            }
        }
    };
    Ok(console_page(
        &ctx,
        &staff,
        ctx.t("虚拟价签墙", "Virtual label wall"),
        body,
    ))
}
