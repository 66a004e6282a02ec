//! The shopper's after-sales (售后) in the shop: asking for a refund only, a return or an
//! exchange from a fulfilled order (`/orders/{id}/after-sale`: kind, units per line, a reason
//! from the list, a description), and a case's page (`/after-sales/{id}`): where it stands, the
//! progress timeline, answering the store's question, sending the goods back with a waybill and
//! rating the service once it is finished. Thin over [`crate::app::after_sales`]; what goes
//! wrong is shown translated ([`crate::web::after_sale_text::error_text`]) and changes nothing.

use std::collections::HashMap;

use axum::extract::{DefaultBodyLimit, Multipart, Path, Query, State};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use maud::{html, Markup};
use retail_domain::order::OrderStatus;
use serde::Deserialize;
use uuid::Uuid;

use super::{cart_count, require_member, session};
use crate::app::after_sales::{self, AfterSaleRequest, RequestLine, REASONS};
use crate::app::AppState;
use crate::error::AppError;
use crate::storage;
use crate::storage::after_sales::{AfterSale, AfterSaleKind, AfterSaleStatus};
use crate::web::after_sale_text::{
    error_text, kind_label, note_text, reason_label, status_label, step_label,
};
use crate::web::{redirect, shop_page, urlencode, when, yuan, Ctx, Form, Sid, WebResult};

/// The shopper's after-sale routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/orders/{id}/after-sale",
            get(form_page)
                .post(submit)
                .layer(DefaultBodyLimit::max(super::photo_form_limit(
                    after_sales::MAX_PHOTOS,
                ))),
        )
        .route("/after-sales/{id}", get(case_page))
        .route("/after-sales/{id}/answer", post(answer))
        .route("/after-sales/{id}/ship-back", post(ship_back))
        .route("/after-sales/{id}/rating", post(rate))
}

/// The actor name of a member acting in the shop.
fn member_actor(member: Uuid) -> String {
    format!("member:{member}")
}

#[derive(Debug, Deserialize, Default)]
struct ErrorParams {
    error: Option<String>,
}

/// The member's own order; 404 for anyone else's.
async fn own_order(
    state: &AppState,
    ctx: &Ctx,
    id: Uuid,
) -> WebResult<(Uuid, storage::orders::OrderView)> {
    let session = session(state, ctx).await?;
    let (_, member) = require_member(session.as_ref(), &format!("/orders/{id}/after-sale"))?;
    let order = storage::orders::get(&state.store, id).await?;
    if order.member_id != Some(member) {
        return Err(AppError::not_found("order").into());
    }
    Ok((member, order))
}

/// The member's own case; 404 for anyone else's.
async fn own_case(state: &AppState, ctx: &Ctx, id: Uuid) -> WebResult<(Uuid, AfterSale)> {
    let session = session(state, ctx).await?;
    let (_, member) = require_member(session.as_ref(), &format!("/after-sales/{id}"))?;
    let case = after_sales::found(state, id).await?;
    if case.member_id != Some(member) {
        return Err(AppError::not_found("after-sale").into());
    }
    Ok((member, case))
}

fn error_box(ctx: &Ctx, code: Option<&str>) -> Markup {
    html! { @if let Some(code) = code { div.notice.err role="alert" #after-sale-error data-code=(code) { (error_text(ctx.lang, code)) } } }
}

async fn form_page(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<Uuid>,
    Query(p): Query<ErrorParams>,
) -> WebResult<Response> {
    let (_, order) = own_order(&state, &ctx, id).await?;
    let count = cart_count(&state, session(&state, &ctx).await?.as_ref()).await?;
    Ok(shop_page(
        &ctx,
        ctx.t("申请售后", "After-sale request"),
        count,
        request_form(&ctx, &order, p.error.as_deref()),
    ))
}

fn request_form(ctx: &Ctx, order: &storage::orders::OrderView, error: Option<&str>) -> Markup {
    let kinds = crate::app::after_sales::kinds_open(order.status);
    let fulfilled = !kinds.is_empty();
    html! {
        div.card {
            div.spread { b { (order.order_no) } a href={ "/orders/" (order.id) } { (ctx.t("返回订单", "Back to the order")) } }
        }
        (error_box(ctx, error))
        @if !fulfilled {
            div.card { p.muted #not-fulfilled { (ctx.t("订单尚未完成，未发货的订单可在订单页直接取消。", "The order is not fulfilled yet: an order not yet shipped is cancelled on its page.")) } }
        } @else {
            form.card #after-sale-form method="post" enctype="multipart/form-data" action={ "/orders/" (order.id) "/after-sale" } {
                (ctx.csrf_field())
                input type="hidden" name="id" value=(retail_domain::ids::new_id());
                div.field {
                    label { (ctx.t("售后类型", "What you ask for")) }
                    @for (i, kind) in kinds.iter().enumerate() {
                        label style="display:block" { input type="radio" name="kind" value=(kind.as_str()) checked[i == 0] style="width:auto"; " " (kind_label(ctx.lang, *kind)) }
                    }
                    @if order.status == OrderStatus::Shipped {
                        p.muted #in-transit { (ctx.t("包裹尚在途中：可申请仅退款（未收到货）；收货后可申请退货或换货。", "The parcel is on its way: you can ask for a refund (not received); returns and exchanges once it arrives.")) }
                    }
                }
                div.field {
                    label { (ctx.t("商品与数量", "Items and quantities")) }
                    @for l in &order.lines {
                        div.spread {
                            span { (l.name) " × " (l.qty) }
                            input type="number" name={ "qty_" (l.line_no) } min="0" max=(l.qty) value="0" style="width:80px"
                                aria-label={ (l.name) " " (ctx.t("数量", "quantity")) };
                        }
                    }
                }
                div.field {
                    label for="reason" { (ctx.t("原因", "Reason")) }
                    select #reason name="reason" {
                        @for (code, zh, en) in REASONS { option value=(code) { (ctx.t(zh, en)) } }
                    }
                }
                div.field {
                    label for="description" { (ctx.t("问题描述", "What happened")) }
                    textarea #description name="description" maxlength=(after_sales::MAX_TEXT) rows="3" {}
                }
                div.field {
                    label for="photos" { (ctx.t("照片（最多 6 张，JPEG/PNG/WebP）", "Photos (up to 6, JPEG/PNG/WebP)")) }
                    input #photos type="file" name="photos" multiple accept="image/jpeg,image/png,image/webp";
                }
                button.btn.block #submit-after-sale type="submit" { (ctx.t("提交申请", "Send the request")) }
            }
        }
    }
}

/// A request from the form: its lines are the `qty_{line}` fields above 0.
fn request_of(form: &HashMap<String, String>) -> Result<AfterSaleRequest, AppError> {
    let id = form
        .get("id")
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| AppError::field("id", "missing"))?;
    let kind = match form.get("kind").map(String::as_str) {
        Some("refund_only") => AfterSaleKind::RefundOnly,
        Some("exchange") => AfterSaleKind::Exchange,
        Some("return_refund") => AfterSaleKind::ReturnRefund,
        _ => return Err(AppError::field("kind", "choose one")),
    };
    let mut lines = Vec::new();
    for (name, value) in form {
        let Some(no) = name.strip_prefix("qty_") else {
            continue;
        };
        let line_no: i64 = no
            .parse()
            .map_err(|_| AppError::field("lines", "not a line"))?;
        let qty: i64 = value
            .trim()
            .parse()
            .map_err(|_| AppError::field("lines", "quantities are whole numbers"))?;
        if qty > 0 {
            lines.push(RequestLine { line_no, qty });
        }
    }
    if lines.is_empty() {
        return Err(AppError::field("lines", "choose at least one item"));
    }
    lines.sort_by_key(|l| l.line_no);
    Ok(AfterSaleRequest {
        id,
        kind,
        reason: form.get("reason").cloned().unwrap_or_default(),
        description: form.get("description").cloned().unwrap_or_default(),
        lines,
        refund: None,
        photos: Vec::new(),
    })
}

async fn submit(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<Uuid>,
    axum::Extension(sid): axum::Extension<Sid>,
    multipart: Multipart,
) -> WebResult<Response> {
    let (member, order) = own_order(&state, &ctx, id).await?;
    let result = match super::read_photo_form(&state, &sid.0, multipart).await? {
        Ok((form, photos)) => ask(&state, member, order.id, &form, photos).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(case) => Ok(redirect(&format!("/after-sales/{}", case.id))),
        Err(AppError::Internal(e)) => Err(AppError::Internal(e).into()),
        Err(e) => Ok(redirect(&format!(
            "/orders/{id}/after-sale?error={}",
            urlencode(e.code())
        ))),
    }
}

/// Keeps the photos, then asks.
async fn ask(
    state: &AppState,
    member: Uuid,
    order: Uuid,
    form: &HashMap<String, String>,
    photos: Vec<bytes::Bytes>,
) -> Result<AfterSale, AppError> {
    let mut req = request_of(form)?;
    req.photos = super::keep_photos(state, photos, after_sales::MAX_PHOTOS).await?;
    after_sales::request(state, &member_actor(member), order, &req).await
}

async fn case_page(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<Uuid>,
    Query(p): Query<ErrorParams>,
) -> WebResult<Response> {
    let (_, case) = own_case(&state, &ctx, id).await?;
    let count = cart_count(&state, session(&state, &ctx).await?.as_ref()).await?;
    let body = html! {
        div.card {
            div.spread { b { (kind_label(ctx.lang, case.kind)) } span.status #after-sale-status data-status=(case.status.as_str()) { (status_label(ctx.lang, case.status)) } }
            p.muted { (ctx.t("订单 ", "Order ")) a href={ "/orders/" (case.order_id) } { (case.order_no) } " · " (reason_label(ctx.lang, &case.reason)) }
            @for l in &case.lines { div.spread { span { (l.name) " × " (l.qty) } span { (yuan(l.amount.fen())) } } }
            @if case.refunded.fen() > 0 { div.spread { b { (ctx.t("已退款", "Refunded")) } b.price #after-sale-refunded { (yuan(case.refunded.fen())) } } }
            @if !case.photos.is_empty() {
                div.row #after-sale-photos { @for photo in &case.photos {
                    img src=(crate::app::media::url(photo)) width="96" loading="lazy" alt=(ctx.t("照片", "Photo")) style="height:auto;margin:0 6px 6px 0;border-radius:6px";
                } }
            }
            @if let Some(r) = &case.reject_reason { p #reject-reason { (ctx.t("拒绝原因：", "Why rejected: ")) (r) } }
        }
        (error_box(&ctx, p.error.as_deref()))
        @if case.status == AfterSaleStatus::InfoRequested {
            form.card #answer-form method="post" action={ "/after-sales/" (case.id) "/answer" } {
                (ctx.csrf_field())
                p { b { (ctx.t("商家提问：", "The store asks: ")) } (case.question.as_deref().unwrap_or("")) }
                div.field { textarea name="answer" maxlength=(after_sales::MAX_TEXT) rows="3" aria-label=(ctx.t("回复", "Answer")) {} }
                button.btn.block type="submit" { (ctx.t("提交补充信息", "Send the answer")) }
            }
        }
        @if case.status == AfterSaleStatus::Approved {
            form.card #ship-back-form method="post" action={ "/after-sales/" (case.id) "/ship-back" } {
                (ctx.csrf_field())
                p.muted { (ctx.t("请将商品送回门店，或寄回并填写运单号。", "Bring the goods back to the store, or ship them and enter the waybill.")) }
                div.field { label for="carrier" { (ctx.t("快递公司", "Carrier")) } input #carrier name="carrier" maxlength=(after_sales::MAX_WAYBILL); }
                div.field { label for="waybill" { (ctx.t("运单号", "Waybill")) } input #waybill name="waybill" maxlength=(after_sales::MAX_WAYBILL); }
                button.btn.block type="submit" { (ctx.t("已寄回", "Shipped back")) }
            }
        }
        @if case.status.is_final() {
            @if let Some(rating) = case.rating {
                div.card #after-sale-rating { (ctx.t("您的评价：", "Your rating: ")) (rating) "/5 " (case.rating_comment.as_deref().unwrap_or("")) }
            } @else {
                form.card #rating-form method="post" action={ "/after-sales/" (case.id) "/rating" } {
                    (ctx.csrf_field())
                    div.field {
                        label for="rating" { (ctx.t("服务评价", "Rate the service")) }
                        select #rating name="rating" { @for n in (1..=5).rev() { option value=(n) { (n) " ★" } } }
                    }
                    div.field { textarea name="comment" maxlength=(after_sales::MAX_TEXT) rows="2" aria-label=(ctx.t("评价内容", "Comment")) {} }
                    button.btn.block type="submit" { (ctx.t("提交评价", "Send the rating")) }
                }
            }
        }
        div.card #after-sale-timeline {
            b { (ctx.t("售后进度", "Progress")) }
            @for e in case.events.iter().rev() {
                div.spread.timeline-step data-step=(e.step) {
                    span { (step_label(ctx.lang, &e.step)) @if !e.note.is_empty() { span.muted { " · " (note_text(ctx.lang, &e.step, &e.note)) } } }
                    span.muted { (when(e.at.timestamp_millis())) }
                }
            }
        }
    };
    Ok(shop_page(
        &ctx,
        ctx.t("售后详情", "After-sale"),
        count,
        body,
    ))
}

/// After a shopper's step: the case's page, with the error translated when it failed.
fn back_to(id: Uuid, result: Result<AfterSale, AppError>) -> WebResult<Response> {
    match result {
        Ok(_) => Ok(redirect(&format!("/after-sales/{id}"))),
        Err(AppError::Internal(e)) => Err(AppError::Internal(e).into()),
        Err(e) => Ok(redirect(&format!(
            "/after-sales/{id}?error={}",
            urlencode(e.code())
        ))),
    }
}

async fn answer(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<Uuid>,
    Form(form): Form<HashMap<String, String>>,
) -> WebResult<Response> {
    let (member, _) = own_case(&state, &ctx, id).await?;
    let text = form.get("answer").map(String::as_str).unwrap_or("");
    let result = after_sales::answer(&state, &member_actor(member), id, text).await;
    back_to(id, result)
}

async fn ship_back(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<Uuid>,
    Form(form): Form<HashMap<String, String>>,
) -> WebResult<Response> {
    let (member, _) = own_case(&state, &ctx, id).await?;
    let get = |k: &str| form.get(k).map(String::as_str).unwrap_or("");
    let result = after_sales::ship_back(
        &state,
        &member_actor(member),
        id,
        get("carrier"),
        get("waybill"),
    )
    .await;
    back_to(id, result)
}

async fn rate(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<Uuid>,
    Form(form): Form<HashMap<String, String>>,
) -> WebResult<Response> {
    let (member, _) = own_case(&state, &ctx, id).await?;
    let rating: i64 = form
        .get("rating")
        .and_then(|r| r.trim().parse().ok())
        .unwrap_or(0);
    let comment = form.get("comment").map(String::as_str).unwrap_or("");
    let result = after_sales::rate(&state, &member_actor(member), id, rating, comment).await;
    back_to(id, result)
}
