//! The console's webhooks (issue 20), head office only: register an endpoint (its signing
//! secret shown once), the endpoints with their state, disable and enable, and an endpoint's
//! delivery log with a replay per delivery — through [`crate::app::webhooks`] and
//! [`crate::storage::webhooks`], as the JSON API.

use axum::extract::State;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use maud::{html, Markup};
use serde::Deserialize;
use uuid::Uuid;

use crate::actor::{Role, StaffActor};
use crate::app::webhooks::{self as hooks, Registered};
use crate::app::AppState;
use crate::error::AppError;
use crate::storage::changes::Feed;
use crate::storage::webhooks as store_webhooks;
use crate::web::{console_page, redirect, Ctx, Form, Staff, WebError, WebResult};

/// Webhook routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/console/webhooks", get(page).post(register))
        .route("/console/webhooks/{id}", get(deliveries_page))
        .route("/console/webhooks/{id}/enable", post(enable))
        .route("/console/webhooks/{id}/disable", post(disable))
        .route("/console/webhooks/deliveries/{id}/replay", post(replay))
}

fn feed_label(ctx: &Ctx, feed: Feed) -> String {
    match feed {
        Feed::Orders => ctx.t("订单", "Orders"),
        Feed::Stock => ctx.t("库存", "Stock"),
        Feed::Members => ctx.t("会员", "Members"),
        Feed::Payments => ctx.t("支付", "Payments"),
        Feed::Refunds => ctx.t("退款", "Refunds"),
    }
    .to_owned()
}

async fn view(
    state: &AppState,
    ctx: &Ctx,
    staff: &StaffActor,
    registered: Option<&Registered>,
    error: Option<&str>,
) -> WebResult<Response> {
    let endpoints = store_webhooks::list(&state.store).await?;
    let body = html! {
        @if let Some(e) = error { div.notice.err role="alert" #webhook-error { (e) } }
        @if let Some(r) = registered {
            div.notice.ok role="status" #webhook-created {
                (ctx.t("已添加。签名密钥只显示这一次，请立即保存：", "Added. The signing secret is shown this once; keep it now: "))
                @if let Some(secret) = &r.secret { code #webhook-secret { (secret) } }
            }
        }
        form.card #webhook-form method="post" action="/console/webhooks" {
            (ctx.csrf_field())
            div.field {
                label for="url" { (ctx.t("接收地址（http/https）", "Receiver URL (http/https)")) }
                input #url type="url" name="url" required placeholder="https://example.com/retail/webhook";
            }
            div.field {
                span { (ctx.t("事件类型", "Event types")) }
                @for feed in Feed::ALL {
                    label { input type="checkbox" name=(feed.as_str()) value="on"; " " (feed_label(ctx, feed)) }
                }
            }
            div.field {
                label for="description" { (ctx.t("说明", "Description")) }
                input #description type="text" name="description" maxlength="200";
            }
            input type="hidden" name="id" value=(Uuid::now_v7());
            button.btn type="submit" #webhook-submit { (ctx.t("添加", "Add endpoint")) }
        }
        div.card #webhook-endpoints {
            b { (ctx.t("接收端", "Endpoints")) }
            @if endpoints.is_empty() { p.muted { (ctx.t("暂无。", "None yet.")) } }
            @else {
                div.table-wrap { table {
                    thead { tr {
                        th { (ctx.t("地址", "URL")) } th { (ctx.t("事件", "Events")) } th { (ctx.t("状态", "Status")) }
                        th { (ctx.t("连续失败", "Failures in a row")) } th { (ctx.t("待投递", "Pending")) } th {}
                    } }
                    tbody { @for e in &endpoints {
                        tr data-endpoint=(e.id) data-status=(e.status) {
                            td { a href=(format!("/console/webhooks/{}", e.id)) { code { (e.url) } } br; small.muted { (e.description) } }
                            td { (e.events.iter().map(|f| feed_label(ctx, *f)).collect::<Vec<_>>().join(" · ")) }
                            td {
                                @if e.status == "active" { span.chip { (ctx.t("启用", "active")) } }
                                @else { span.chip { (ctx.t("已停用", "disabled")) } }
                                @if let Some(reason) = &e.disabled_reason {
                                    br; small.muted { @if reason == "persistent_failure" { (ctx.t("持续失败自动停用", "disabled after persistent failure")) } @else { (reason) } }
                                }
                            }
                            td { (e.failures) }
                            td { (e.pending) }
                            td {
                                @let action = if e.status == "active" { "disable" } else { "enable" };
                                form method="post" action=(format!("/console/webhooks/{}/{action}", e.id)) {
                                    (ctx.csrf_field())
                                    button.btn.secondary type="submit" {
                                        @if e.status == "active" { (ctx.t("停用", "Disable")) } @else { (ctx.t("启用", "Enable")) }
                                    }
                                }
                            }
                        }
                    } }
                } }
            }
            p.muted { (ctx.t("每次投递带 X-Retail-Delivery（投递 ID，重试不变）与 X-Retail-Signature: t=…,v1=HMAC-SHA256(密钥, \"t.正文\")。",
                "Each delivery carries X-Retail-Delivery (the delivery id, the same on retries) and X-Retail-Signature: t=…,v1=HMAC-SHA256(secret, \"t.body\").")) }
        }
    };
    Ok(console_page(ctx, staff, ctx.t("Webhook", "Webhooks"), body))
}

async fn page(State(state): State<AppState>, ctx: Ctx, Staff(staff): Staff) -> WebResult<Response> {
    staff.require(&[Role::HeadOfficeAdmin])?;
    view(&state, &ctx, &staff, None, None).await
}

#[derive(Debug, Deserialize)]
struct RegisterForm {
    id: Uuid,
    url: String,
    #[serde(default)]
    description: String,
    orders: Option<String>,
    stock: Option<String>,
    members: Option<String>,
    payments: Option<String>,
    refunds: Option<String>,
}

async fn register(
    State(state): State<AppState>,
    ctx: Ctx,
    Staff(staff): Staff,
    Form(form): Form<RegisterForm>,
) -> WebResult<Response> {
    staff.require(&[Role::HeadOfficeAdmin])?;
    let events: Vec<String> = [
        (&form.orders, Feed::Orders),
        (&form.stock, Feed::Stock),
        (&form.members, Feed::Members),
        (&form.payments, Feed::Payments),
        (&form.refunds, Feed::Refunds),
    ]
    .into_iter()
    .filter(|(on, _)| on.is_some())
    .map(|(_, feed)| feed.as_str().to_owned())
    .collect();
    match hooks::register(
        &state,
        form.id,
        form.url.trim(),
        &events,
        form.description.trim(),
        &staff.username,
    )
    .await
    {
        Ok(registered) => view(&state, &ctx, &staff, Some(&registered), None).await,
        Err(AppError::Invalid { message, .. }) => {
            view(&state, &ctx, &staff, None, Some(&message)).await
        }
        Err(e) => Err(e.into()),
    }
}

async fn set_active(
    state: &AppState,
    staff: &StaffActor,
    id: &str,
    active: bool,
) -> WebResult<Response> {
    let id: Uuid = id
        .parse()
        .map_err(|_| WebError::from(AppError::not_found("webhook endpoint")))?;
    hooks::set_active(state, staff, id, active).await?;
    Ok(redirect("/console/webhooks"))
}

async fn enable(
    State(state): State<AppState>,
    Staff(staff): Staff,
    axum::extract::Path(id): axum::extract::Path<String>,
    Form(_): Form<std::collections::HashMap<String, String>>,
) -> WebResult<Response> {
    set_active(&state, &staff, &id, true).await
}

async fn disable(
    State(state): State<AppState>,
    Staff(staff): Staff,
    axum::extract::Path(id): axum::extract::Path<String>,
    Form(_): Form<std::collections::HashMap<String, String>>,
) -> WebResult<Response> {
    set_active(&state, &staff, &id, false).await
}

fn delivery_rows(ctx: &Ctx, deliveries: &[store_webhooks::Delivery]) -> Markup {
    html! {
        tbody { @for d in deliveries {
            tr data-delivery=(d.id) data-status=(d.status) {
                td { code { (d.id) } }
                td { (d.event) br; small.muted { (d.entity_id) } }
                td { span.chip { (d.status) } }
                td { (d.attempts) }
                td { @if let Some(s) = d.last_status { (s) } " " @if let Some(e) = &d.last_error { small.muted { (e) } } }
                td { (crate::web::when(d.created_at.timestamp_millis())) }
                td {
                    form method="post" action=(format!("/console/webhooks/deliveries/{}/replay", d.id)) {
                        (ctx.csrf_field())
                        button.btn.secondary type="submit" { (ctx.t("重新投递", "Replay")) }
                    }
                }
            }
        } }
    }
}

async fn deliveries_page(
    State(state): State<AppState>,
    ctx: Ctx,
    Staff(staff): Staff,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> WebResult<Response> {
    staff.require(&[Role::HeadOfficeAdmin])?;
    let id: Uuid = id
        .parse()
        .map_err(|_| WebError::from(AppError::not_found("webhook endpoint")))?;
    let Some(endpoint) = store_webhooks::get(&state.store, id).await? else {
        return Err(AppError::not_found("webhook endpoint").into());
    };
    let deliveries = store_webhooks::deliveries(&state.store, id, None, 200).await?;
    let body = html! {
        p { a href="/console/webhooks" { (ctx.t("← 全部接收端", "← All endpoints")) } " · " code { (endpoint.url) } }
        div.card #webhook-deliveries {
            b { (ctx.t("投递记录（最近 200 条）", "Delivery log (latest 200)")) }
            @if deliveries.is_empty() { p.muted { (ctx.t("暂无投递。", "No deliveries yet.")) } }
            @else {
                div.table-wrap { table {
                    thead { tr {
                        th { (ctx.t("投递 ID", "Delivery id")) } th { (ctx.t("事件", "Event")) } th { (ctx.t("状态", "Status")) }
                        th { (ctx.t("尝试", "Attempts")) } th { (ctx.t("最近结果", "Last result")) } th { (ctx.t("时间", "Created")) } th {}
                    } }
                    (delivery_rows(&ctx, &deliveries))
                } }
            }
        }
    };
    Ok(console_page(
        &ctx,
        &staff,
        ctx.t("Webhook 投递", "Webhook deliveries"),
        body,
    ))
}

async fn replay(
    State(state): State<AppState>,
    Staff(staff): Staff,
    axum::extract::Path(id): axum::extract::Path<String>,
    Form(_): Form<std::collections::HashMap<String, String>>,
) -> WebResult<Response> {
    staff.require(&[Role::HeadOfficeAdmin])?;
    let id: Uuid = id
        .parse()
        .map_err(|_| WebError::from(AppError::not_found("webhook delivery")))?;
    let retry_ms = (state.settings.webhooks.retry_secs * 1000) as i64;
    let Some(delivery) =
        store_webhooks::replay(&state.store, id, retry_ms, &staff.username).await?
    else {
        return Err(AppError::not_found("webhook delivery").into());
    };
    Ok(redirect(&format!(
        "/console/webhooks/{}",
        delivery.endpoint_id
    )))
}
