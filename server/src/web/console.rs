//! The console for head office and store staff. Every page checks the role *and* the store:
//! store staff see their own store only; catalog, stores, staff and the audit log are head
//! office's. Actions reuse the same storage calls (and audit records) as the JSON API.

use std::collections::{BTreeMap, HashMap};

use axum::extract::{Multipart, Path, Query, State};
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use maud::{html, Markup};
use retail_domain::money::Money;
use retail_domain::order::OrderStatus;
use serde::Deserialize;
use uuid::Uuid;

use super::{
    check_csrf, console_page, field, html_response, local_path, redirect, role_label, set_cookie,
    status_label, today_start_ms, when, yuan, Ctx, FieldErrors, Form, Sid, Staff, WebError,
    WebResult,
};
use crate::actor::{DeviceKind, Role, StaffActor};
use crate::app::catalog_import::{LineError, CATALOG_COLUMNS};
use crate::app::AppState;
use crate::error::AppError;
use crate::secrets::token_hash;
use crate::storage;

/// Console routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/console/login", get(login_page).post(login))
        .route("/console/logout", post(logout))
        .route("/console", get(dashboard))
        .route("/console/orders", get(orders))
        .route("/console/orders.csv", get(orders_csv))
        .route("/console/orders/{id}", get(order))
        .route("/console/orders/{id}/ready", post(order_ready))
        .route("/console/orders/{id}/cancel", post(order_cancel))
        .route("/console/orders/{id}/handover", post(order_handover))
        .route("/console/catalog", get(catalog))
        .route("/console/catalog.csv", get(catalog_csv))
        .route("/console/catalog/products/{id}", get(product))
        .route(
            "/console/catalog/products/{id}/status",
            post(product_status),
        )
        .route("/console/catalog/skus/{id}/price", post(sku_price))
        .route("/console/catalog/skus/{id}/store-price", post(store_price))
        .route("/console/catalog/skus/{id}/status", post(sku_status))
        .route("/console/catalog/import", get(import_page).post(import))
        .route("/console/stock", get(stock))
        .route("/console/stock/movements", get(movements))
        .route("/console/stock/count", post(stock_count))
        .route("/console/stock/transfers", post(transfer))
        .route(
            "/console/stock/transfers/{id}/receive",
            post(receive_transfer),
        )
        .route("/console/members", get(members))
        .route("/console/members/{id}", get(member))
        .route("/console/members/{id}/points", post(adjust_points))
        .route("/console/audit", get(audit))
        .route("/console/stores", get(stores))
        .route("/console/staff", get(staff_list))
        .route("/console/devices", get(devices).post(register_device))
        .route("/console/devices/{id}/revoke", post(revoke_device))
        .route(
            "/console/devices/{id}/receipt-keys/{key_id}/revoke",
            post(revoke_receipt_key),
        )
}

/// The store a staff member's pages are limited to (none for head office).
fn scope(staff: &StaffActor) -> Option<String> {
    match staff.role {
        Role::HeadOfficeAdmin => None,
        _ => staff.location_id.clone(),
    }
}

/// The location a page shows: head office picks any (or all), store staff their own.
fn pick_location(staff: &StaffActor, asked: Option<&str>) -> WebResult<Option<String>> {
    match (scope(staff), asked.filter(|a| !a.is_empty())) {
        (None, asked) => Ok(asked.map(str::to_owned)),
        (Some(own), Some(asked)) if asked != own => Err(AppError::Forbidden(format!(
            "{} may not see location {asked}",
            staff.username
        ))
        .into()),
        (Some(own), _) => Ok(Some(own)),
    }
}

// ---------------------------------------------------------------------------------------------
// Log-in
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Deserialize, Default, Clone)]
struct LoginForm {
    username: Option<String>,
    password: Option<String>,
    back: Option<String>,
}

fn login_view(
    ctx: &Ctx,
    form: &LoginForm,
    errors: &FieldErrors,
    problem: Option<&str>,
) -> Response {
    let back = local_path(form.back.as_deref().or(Some("/console")));
    html_response(html! {
        (maud::DOCTYPE)
        html lang=(ctx.lang.code()) {
            head { meta charset="utf-8"; meta name="viewport" content="width=device-width, initial-scale=1";
                title { (ctx.t("管理后台登录", "Console log-in")) } link rel="stylesheet" href="/static/app.css"; }
            body.console { main.wrap style="max-width:420px;padding-top:40px" {
                h1 { (ctx.t("鲜邻 管理后台", "FreshNeighbour Console")) }
                @if let Some(p) = problem { div.notice.err role="alert" { (p) } }
                form.card method="post" action="/console/login" {
                    (ctx.csrf_field())
                    input type="hidden" name="back" value=(back);
                    (field(ctx.t("用户名", "User name"), "username", "text", form.username.as_deref().unwrap_or(""), errors, html!{}))
                    (field(ctx.t("密码", "Password"), "password", "password", "", errors, html!{}))
                    button.btn.block type="submit" { (ctx.t("登录", "Log in")) }
                }
                p.muted { a href={ "/lang/" (if ctx.lang == super::Lang::Zh { "en" } else { "zh" }) "?back=/console/login" } { (ctx.t("English", "中文")) } }
            } }
        }
    })
}

#[derive(Debug, Deserialize, Default)]
struct BackParams {
    back: Option<String>,
}

async fn login_page(ctx: Ctx, Query(p): Query<BackParams>) -> Response {
    login_view(
        &ctx,
        &LoginForm {
            back: p.back,
            ..LoginForm::default()
        },
        &FieldErrors::new(),
        None,
    )
}

async fn login(
    State(state): State<AppState>,
    ctx: Ctx,
    Form(form): Form<LoginForm>,
) -> WebResult<Response> {
    let username = form.username.clone().unwrap_or_default();
    let password = form.password.clone().unwrap_or_default();
    let mut errors = FieldErrors::new();
    if username.trim().is_empty() {
        errors.insert(
            "username",
            ctx.t("请输入用户名", "Enter your user name").into(),
        );
    }
    if password.is_empty() {
        errors.insert(
            "password",
            ctx.t("请输入密码", "Enter your password").into(),
        );
    }
    if !errors.is_empty() {
        return Ok(login_view(&ctx, &form, &errors, None));
    }
    match crate::app::staff::authenticate(&state, &username, &password).await {
        Ok((token, _, _)) => {
            let back = local_path(form.back.as_deref());
            let back = if back.starts_with("/console") {
                back
            } else {
                "/console".into()
            };
            let mut resp = redirect(&back);
            set_cookie(
                &mut resp,
                &format!("console={token}; Path=/console; HttpOnly; SameSite=Lax"),
            );
            Ok(resp)
        }
        Err(AppError::Unauthorized(_)) => {
            errors.insert(
                "password",
                ctx.t("用户名或密码不正确", "Wrong user name or password")
                    .into(),
            );
            Ok(login_view(&ctx, &form, &errors, None))
        }
        Err(e) => Err(e.into()),
    }
}

async fn logout(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
    Form(_): Form<HashMap<String, String>>,
) -> WebResult<Response> {
    if let Some(token) = super::cookie(&headers, "console") {
        storage::staff::revoke_session(&state.store, &token_hash(token)).await?;
    }
    let mut resp = redirect("/console/login");
    set_cookie(
        &mut resp,
        "console=; Path=/console; Max-Age=0; HttpOnly; SameSite=Lax",
    );
    Ok(resp)
}

// ---------------------------------------------------------------------------------------------
// Dashboard
// ---------------------------------------------------------------------------------------------

fn channel_label(ctx: &Ctx, channel: &str) -> &'static str {
    match channel {
        "online" => ctx.t("线上", "Online"),
        "pos" => ctx.t("门店收银", "POS"),
        "scan_and_go" => ctx.t("扫码购", "Scan & Go"),
        _ => ctx.t("其他", "Other"),
    }
}

fn bars(rows: &[(String, i64)]) -> Markup {
    let max = rows.iter().map(|r| r.1).max().unwrap_or(0).max(1);
    html! {
        div.bars {
            @for (label, fen) in rows {
                div.bar {
                    span.l { (label) }
                    i style={ "width:" (fen.saturating_mul(60) / max) "%" } {}
                    span { (yuan(*fen)) }
                }
            }
        }
    }
}

async fn dashboard(
    State(state): State<AppState>,
    ctx: Ctx,
    Staff(staff): Staff,
) -> WebResult<Response> {
    let location = scope(&staff);
    let sales =
        storage::web::sales_since(&state.store, today_start_ms(), location.as_deref()).await?;
    let waiting = storage::web::orders(
        &state.store,
        &storage::web::OrderQuery {
            location: location.clone(),
            statuses: vec!["paid".into(), "ready_for_pickup".into()],
            limit: 20,
            ..Default::default()
        },
    )
    .await?;
    let waiting: Vec<_> = waiting
        .into_iter()
        .filter(|o| o.fulfilment == "pickup")
        .collect();
    let low = storage::stock::list_levels(
        &state.store,
        &storage::stock::LevelFilter {
            location_id: location.clone(),
            alerts_only: true,
            limit: 20,
            ..Default::default()
        },
    )
    .await?;
    let devices = storage::web::devices_seen(&state.store, location.as_deref()).await?;
    let now = storage::now_ms();
    let online = |d: &storage::web::DeviceSeen| {
        d.revoked_at.is_none() && d.last_seen_at.is_some_and(|t| now - t < 5 * 60 * 1000)
    };
    let total: i64 = sales.iter().map(|s| s.total_fen).sum();
    let count: i64 = sales.iter().map(|s| s.orders).sum();
    // Stores by code, labelled with their names ("SH001 人民广场店").
    let names: HashMap<String, String> = storage::locations::list(&state.store)
        .await?
        .into_iter()
        .map(|l| {
            let label = format!("{} {}", l.id, ctx.lang.pick(&l.name_zh, &l.name_en));
            (l.id, label)
        })
        .collect();
    let mut by_store: BTreeMap<String, i64> = BTreeMap::new();
    let mut by_channel: BTreeMap<String, i64> = BTreeMap::new();
    for s in &sales {
        let label = names
            .get(&s.location_id)
            .cloned()
            .unwrap_or_else(|| s.location_id.clone());
        *by_store.entry(label).or_default() += s.total_fen;
        *by_channel
            .entry(channel_label(&ctx, &s.channel).to_owned())
            .or_default() += s.total_fen;
    }
    let body = html! {
        div.kpis {
            div.kpi { span.muted { (ctx.t("今日销售额", "Sales today")) } b #kpi-sales { (yuan(total)) } }
            div.kpi { span.muted { (ctx.t("今日订单", "Orders today")) } b { (count) } }
            div.kpi { span.muted { (ctx.t("待自提", "Awaiting pickup")) } b { (waiting.len()) } }
            div.kpi { span.muted { (ctx.t("在线设备", "Devices online")) } b { (devices.iter().filter(|d| online(d)).count()) " / " (devices.iter().filter(|d| d.revoked_at.is_none()).count()) } }
        }
        div.two {
            div.card { b { (ctx.t("按门店", "By store")) } (bars(&by_store.into_iter().collect::<Vec<_>>())) }
            div.card { b { (ctx.t("按渠道", "By channel")) } (bars(&by_channel.into_iter().collect::<Vec<_>>())) }
        }
        h2 { (ctx.t("等待自提的订单", "Orders waiting for pickup")) }
        div.table-wrap { table {
            tr { th { (ctx.t("订单号", "Order")) } th { (ctx.t("门店", "Store")) } th { (ctx.t("状态", "Status")) } th.num { (ctx.t("金额", "Total")) } }
            @for o in &waiting {
                tr { td { a href={ "/console/orders/" (o.id) } { (o.order_no) } } td { (o.location_id) }
                     td { span class={ "status " (o.status) } { (status_label(ctx.lang, &o.status)) } } td.num { (yuan(o.total_fen)) } }
            }
        } }
        h2 { (ctx.t("低库存提醒", "Low-stock alerts")) }
        div.table-wrap { table {
            tr { th { (ctx.t("门店", "Location")) } th { (ctx.t("商品", "Item")) } th.num { (ctx.t("可用", "Available")) } th.num { (ctx.t("阈值", "Threshold")) } }
            @for l in &low {
                tr { td { (l.location_id) } td { (ctx.lang.pick(&l.name_zh, &l.name_en)) " " (ctx.lang.pick(&l.spec_zh, &l.spec_en)) }
                     td.num { (l.available) } td.num { (l.threshold) } }
            }
        } }
        h2 { (ctx.t("设备", "Devices")) }
        div.table-wrap { table {
            tr { th { (ctx.t("门店", "Store")) } th { (ctx.t("名称", "Name")) } th { (ctx.t("状态", "State")) } }
            @for d in &devices {
                tr { td { (d.location_id) } td { (d.name) " (" (d.kind) ")" }
                     td { @if d.revoked_at.is_some() { span.status.cancelled { (ctx.t("已吊销", "Revoked")) } }
                          @else if online(d) { span.status.paid { (ctx.t("在线", "Online")) } }
                          @else { span.status { (ctx.t("离线", "Offline")) } } } }
            }
        } }
    };
    Ok(console_page(&ctx, &staff, ctx.t("概览", "Dashboard"), body))
}

// ---------------------------------------------------------------------------------------------
// Orders
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Deserialize, Default)]
struct OrderParams {
    status: Option<String>,
    store: Option<String>,
    q: Option<String>,
}

const STATUSES: [&str; 10] = [
    "pending_payment",
    "paid",
    "ready_for_pickup",
    "picked_up",
    "shipped",
    "delivered",
    "completed",
    "cancelled",
    "after_sale",
    "refunded",
];

async fn order_rows(
    state: &AppState,
    staff: &StaffActor,
    p: &OrderParams,
    limit: i64,
) -> WebResult<Vec<storage::web::OrderRow>> {
    let location = pick_location(staff, p.store.as_deref())?;
    let statuses = match p.status.as_deref().filter(|s| !s.is_empty()) {
        Some(s) if STATUSES.contains(&s) => vec![s.to_owned()],
        Some(_) => return Err(AppError::field("status", "unknown status").into()),
        None => Vec::new(),
    };
    Ok(storage::web::orders(
        &state.store,
        &storage::web::OrderQuery {
            location,
            statuses,
            number: p
                .q
                .as_deref()
                .map(str::trim)
                .filter(|q| !q.is_empty())
                .map(|q| q.chars().take(32).collect()),
            limit,
            ..Default::default()
        },
    )
    .await?)
}

async fn orders(
    State(state): State<AppState>,
    ctx: Ctx,
    Staff(staff): Staff,
    Query(p): Query<OrderParams>,
) -> WebResult<Response> {
    let rows = order_rows(&state, &staff, &p, 200).await?;
    let stores = storage::locations::list(&state.store).await?;
    let status = p.status.clone().unwrap_or_default();
    let export = format!(
        "/console/orders.csv?status={}&store={}&q={}",
        super::urlencode(&status),
        super::urlencode(p.store.as_deref().unwrap_or("")),
        super::urlencode(p.q.as_deref().unwrap_or(""))
    );
    let body = html! {
        form.card.row method="get" action="/console/orders" {
            input name="q" value=(p.q.as_deref().unwrap_or("")) placeholder=(ctx.t("订单号", "Order number")) style="max-width:200px";
            select name="status" style="max-width:180px" {
                option value="" { (ctx.t("全部状态", "All statuses")) }
                @for s in STATUSES { option value=(s) selected[s == status] { (status_label(ctx.lang, s)) } }
            }
            @if scope(&staff).is_none() {
                select name="store" style="max-width:180px" {
                    option value="" { (ctx.t("全部门店", "All locations")) }
                    @for l in &stores { option value=(l.id) selected[p.store.as_deref() == Some(l.id.as_str())] { (l.id) " " (ctx.lang.pick(&l.name_zh, &l.name_en)) } }
                }
            }
            button.btn type="submit" { (ctx.t("筛选", "Filter")) }
            a.btn.secondary href=(export) { (ctx.t("导出 CSV", "Export CSV")) }
        }
        div.table-wrap { table #orders {
            tr { th { (ctx.t("订单号", "Order")) } th { (ctx.t("时间", "Time")) } th { (ctx.t("门店", "Location")) } th { (ctx.t("渠道", "Channel")) } th { (ctx.t("状态", "Status")) } th.num { (ctx.t("金额", "Total")) } }
            @for o in &rows {
                tr { td { a href={ "/console/orders/" (o.id) } { (o.order_no) } } td { (when(o.created_at)) } td { (o.location_id) }
                     td { (channel_label(&ctx, &o.channel)) " · " (o.fulfilment) }
                     td { span class={ "status " (o.status) } { (status_label(ctx.lang, &o.status)) } } td.num { (yuan(o.total_fen)) } }
            }
        } }
    };
    Ok(console_page(&ctx, &staff, ctx.t("订单", "Orders"), body))
}

fn csv_response(name: &str, bytes: Vec<u8>) -> Response {
    (
        [
            (CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (
                CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        bytes,
    )
        .into_response()
}

fn csv_bytes(header: &[&str], rows: Vec<Vec<String>>) -> WebResult<Vec<u8>> {
    // A UTF-8 byte-order mark so spreadsheet programs read the Chinese correctly.
    let mut w = csv::Writer::from_writer(vec![0xEF, 0xBB, 0xBF]);
    let internal = |e: csv::Error| WebError::App(AppError::Internal(anyhow::anyhow!("csv: {e}")));
    w.write_record(header).map_err(internal)?;
    for r in rows {
        w.write_record(&r).map_err(internal)?;
    }
    w.into_inner()
        .map_err(|e| WebError::App(AppError::Internal(anyhow::anyhow!("csv: {e}"))))
}

async fn orders_csv(
    State(state): State<AppState>,
    Staff(staff): Staff,
    Query(p): Query<OrderParams>,
) -> WebResult<Response> {
    let rows = order_rows(&state, &staff, &p, 100_000).await?;
    let bytes = csv_bytes(
        &[
            "order_no",
            "created_at",
            "location",
            "channel",
            "fulfilment",
            "status",
            "total",
        ],
        rows.into_iter()
            .map(|o| {
                vec![
                    o.order_no,
                    storage::from_ms(o.created_at).to_rfc3339(),
                    o.location_id,
                    o.channel,
                    o.fulfilment,
                    o.status,
                    Money::from_fen(o.total_fen).to_string(),
                ]
            })
            .collect(),
    )?;
    Ok(csv_response("orders.csv", bytes))
}

async fn scoped_order(
    state: &AppState,
    staff: &StaffActor,
    id: Uuid,
) -> WebResult<storage::orders::OrderView> {
    let order = storage::orders::get(&state.store, id).await?;
    staff.require_store(&order.location_id)?;
    Ok(order)
}

#[derive(Debug, Deserialize, Default)]
struct NoticeParams {
    done: Option<String>,
    error: Option<String>,
}

async fn order(
    State(state): State<AppState>,
    ctx: Ctx,
    Staff(staff): Staff,
    Path(id): Path<Uuid>,
    Query(n): Query<NoticeParams>,
) -> WebResult<Response> {
    let order = scoped_order(&state, &staff, id).await?;
    let manager = staff.role != Role::Cashier;
    let cancellable = matches!(
        order.status,
        OrderStatus::PendingPayment | OrderStatus::Paid | OrderStatus::ReadyForPickup
    );
    let body = html! {
        @if let Some(d) = &n.done { div.notice.ok role="status" { (match d.as_str() {
            "ready" => ctx.t("已标记为待自提，已通知门店设备。", "Marked ready for pickup; the store was notified."),
            "cancelled" => ctx.t("订单已取消（已付款的已原路退款）。", "Order cancelled (paid orders were refunded)."),
            "handed" => ctx.t("已交付顾客。", "Handed over."),
            "shipped" => ctx.t("已发货。", "Shipped."),
            "delivered" => ctx.t("已确认送达。", "Delivery confirmed."),
            "returned" => ctx.t("售后退款已登记：退回商品已入库，按实付金额退款。", "After-sale refund recorded: the items are back in stock, refunded at what was paid."),
            _ => ctx.t("已完成。", "Done."),
        }) } }
        @if let Some(e) = &n.error { div.notice.err role="alert" { (match e.as_str() {
            "code" => ctx.t("取货码不正确。", "Wrong pickup code."),
            "return_qty" => ctx.t("请填写退货数量（不超过可退数量）。", "Enter quantities to return (at most what is left)."),
            _ => ctx.t("当前状态不允许此操作。", "Not possible in the order's current state."),
        }) } }
        div.card {
            div.spread { b { (order.order_no) } span class={ "status " (order.status.as_str()) } #order-status { (status_label(ctx.lang, order.status.as_str())) } }
            p.muted { (order.location_id) " · " (order.channel.as_str()) " · " (order.fulfilment.as_str()) " · " (when(order.created_at.timestamp_millis())) }
            div.table-wrap { table {
                tr { th { (ctx.t("商品", "Item")) } th.num { (ctx.t("数量", "Qty")) } th.num { (ctx.t("单价", "Price")) } th.num { (ctx.t("金额", "Amount")) } }
                @for l in &order.lines { tr { td { (l.name) @if l.returned_qty > 0 { " " span.muted.returned { (ctx.t("已退 ", "returned ")) (l.returned_qty) } } } td.num { (l.qty) } td.num { (yuan(l.unit_price.fen())) } td.num { (yuan(l.amount.fen())) } } }
                tr { td colspan="3" { b { (ctx.t("实付", "Total")) } } td.num { b { (yuan(order.total.fen())) } } }
            } }
        }
        div.card.row {
            @if order.status == OrderStatus::Paid && order.fulfilment.as_str() == "pickup" {
                form method="post" action={ "/console/orders/" (order.id) "/ready" } {
                    (ctx.csrf_field()) button.btn #mark-ready type="submit" { (ctx.t("备货完成，通知取货", "Mark ready for pickup")) }
                }
            }
            @if order.status == OrderStatus::ReadyForPickup {
                form.row method="post" action={ "/console/orders/" (order.id) "/handover" } {
                    (ctx.csrf_field())
                    input name="code" placeholder=(ctx.t("取货码", "Pickup code")) style="max-width:140px" inputmode="numeric";
                    button.btn type="submit" { (ctx.t("核销交付", "Hand over")) }
                }
            }
            @if manager && order.status == OrderStatus::Paid && order.fulfilment.as_str() == "delivery" {
                form method="post" action={ "/console/orders/" (order.id) "/ship" } {
                    (ctx.csrf_field()) button.btn #ship type="submit" { (ctx.t("发货", "Ship")) }
                }
            }
            @if manager && order.status == OrderStatus::Shipped {
                form method="post" action={ "/console/orders/" (order.id) "/deliver" } {
                    (ctx.csrf_field()) button.btn #deliver type="submit" { (ctx.t("确认送达", "Confirm delivery")) }
                }
            }
            @if manager && cancellable {
                form method="post" action={ "/console/orders/" (order.id) "/cancel" } {
                    (ctx.csrf_field())
                    input name="reason" placeholder=(ctx.t("原因", "Reason")) style="max-width:160px";
                    button.btn.warn type="submit" {
                        @if order.status == OrderStatus::PendingPayment { (ctx.t("取消订单", "Cancel order")) }
                        @else { (ctx.t("取消并退款", "Cancel and refund")) }
                    }
                }
            }
        }
        @if manager && super::fulfilment::takes_returns(&order) {
            (super::fulfilment::return_form(&ctx, &order))
        }
        div.card {
            b { (ctx.t("订单记录", "History")) }
            div.table-wrap { table {
                @for e in &order.events { tr { td { (when(e.at.timestamp_millis())) } td { (status_label(ctx.lang, e.to.as_str())) } td { (e.actor) } td { (e.reason) } } }
            } }
        }
    };
    Ok(console_page(&ctx, &staff, &order.order_no, body))
}

async fn order_ready(
    State(state): State<AppState>,
    Staff(staff): Staff,
    Path(id): Path<Uuid>,
    Form(_): Form<HashMap<String, String>>,
) -> WebResult<Response> {
    let order = scoped_order(&state, &staff, id).await?;
    match crate::app::orders::change_status(
        &state.store,
        id,
        OrderStatus::ReadyForPickup,
        &staff.actor(),
        "ready for pickup",
    )
    .await
    {
        Ok(order) => {
            crate::app::orders::announce(&state, &order, "ready").await;
            Ok(redirect(&format!(
                "/console/orders/{}?done=ready",
                order.id
            )))
        }
        Err(AppError::Conflict { .. }) => Ok(redirect(&format!(
            "/console/orders/{}?error=state",
            order.id
        ))),
        Err(e) => Err(e.into()),
    }
}

#[derive(Debug, Deserialize, Default)]
struct ReasonForm {
    reason: Option<String>,
    code: Option<String>,
}

async fn order_cancel(
    State(state): State<AppState>,
    Staff(staff): Staff,
    Path(id): Path<Uuid>,
    Form(f): Form<ReasonForm>,
) -> WebResult<Response> {
    staff.require(&[Role::HeadOfficeAdmin, Role::StoreManager])?;
    scoped_order(&state, &staff, id).await?;
    let reason: String = f
        .reason
        .unwrap_or_default()
        .trim()
        .chars()
        .take(200)
        .collect();
    let reason = if reason.is_empty() {
        "cancelled by staff".to_owned()
    } else {
        reason
    };
    match crate::app::orders::change_status_from(
        &state.store,
        id,
        None,
        OrderStatus::Cancelled,
        &staff.actor(),
        &reason,
    )
    .await
    {
        Ok(order) => {
            if order.fulfilment.as_str() == "pickup" {
                crate::app::orders::announce(&state, &order, "cancelled").await;
            }
            Ok(redirect(&format!("/console/orders/{id}?done=cancelled")))
        }
        Err(AppError::Conflict { .. }) => {
            Ok(redirect(&format!("/console/orders/{id}?error=state")))
        }
        Err(e) => Err(e.into()),
    }
}

async fn order_handover(
    State(state): State<AppState>,
    Staff(staff): Staff,
    Path(id): Path<Uuid>,
    Form(f): Form<ReasonForm>,
) -> WebResult<Response> {
    let order = scoped_order(&state, &staff, id).await?;
    state.limiter.check(&format!("pickup:{id}"), 10)?;
    let given = f.code.unwrap_or_default().trim().to_owned();
    if given.is_empty() || order.pickup_code.as_deref() != Some(given.as_str()) {
        return Ok(redirect(&format!("/console/orders/{id}?error=code")));
    }
    match crate::app::orders::change_status_from(
        &state.store,
        id,
        Some(OrderStatus::ReadyForPickup),
        OrderStatus::PickedUp,
        &staff.actor(),
        "handed over",
    )
    .await
    {
        Ok(order) => {
            crate::app::orders::announce(&state, &order, "collected").await;
            Ok(redirect(&format!("/console/orders/{id}?done=handed")))
        }
        Err(AppError::Conflict { .. }) => {
            Ok(redirect(&format!("/console/orders/{id}?error=state")))
        }
        Err(e) => Err(e.into()),
    }
}

// ---------------------------------------------------------------------------------------------
// Catalog
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Deserialize, Default)]
struct CatalogParams {
    q: Option<String>,
    after: Option<String>,
}

async fn catalog(
    State(state): State<AppState>,
    ctx: Ctx,
    Staff(staff): Staff,
    Query(p): Query<CatalogParams>,
) -> WebResult<Response> {
    staff.require(&[Role::HeadOfficeAdmin])?;
    let page = storage::catalog::list_products(
        &state.store,
        &storage::catalog::ProductFilter {
            q: p.q.clone().map(|q| q.trim().chars().take(64).collect()),
            after: p.after.clone(),
            limit: 50,
            include_off_shelf: true,
            ..Default::default()
        },
    )
    .await?;
    let body = html! {
        form.card.row method="get" action="/console/catalog" {
            input name="q" value=(p.q.as_deref().unwrap_or("")) placeholder=(ctx.t("名称、品牌、编码或条码", "Name, brand, code or barcode")) style="max-width:280px";
            button.btn type="submit" { (ctx.t("搜索", "Search")) }
            a.btn.secondary href="/console/catalog.csv" { (ctx.t("导出 CSV", "Export CSV")) }
            a.btn.secondary href="/console/catalog/import" { (ctx.t("导入 CSV", "Import CSV")) }
        }
        div.table-wrap { table #products {
            tr { th { (ctx.t("编码", "Code")) } th { (ctx.t("名称", "Name")) } th { (ctx.t("品牌", "Brand")) } th { (ctx.t("分类", "Category")) } th.num { "SKU" } th.num { (ctx.t("价格", "Price")) } th { (ctx.t("状态", "Status")) } }
            @for pr in &page.items {
                tr { td { a href={ "/console/catalog/products/" (pr.id) } { (pr.code) } } td { (ctx.lang.pick(&pr.name_zh, &pr.name_en)) } td { (pr.brand) } td { (pr.category_id) } td.num { (pr.sku_count) }
                     td.num { @if let Some(m) = pr.price_min { (yuan(m.fen())) } }
                     td { @if pr.status.as_str() == "on_shelf" { span.status.paid { (ctx.t("在售", "On shelf")) } } @else { span.status.cancelled { (ctx.t("下架", "Off shelf")) } } } }
            }
        } }
        @if let Some(next) = &page.next_after {
            p { a.btn.secondary href={ "/console/catalog?q=" (super::urlencode(p.q.as_deref().unwrap_or(""))) "&after=" (super::urlencode(next)) } { (ctx.t("下一页", "Next page")) } }
        }
    };
    Ok(console_page(&ctx, &staff, ctx.t("商品", "Catalog"), body))
}

async fn catalog_csv(State(state): State<AppState>, Staff(staff): Staff) -> WebResult<Response> {
    staff.require(&[Role::HeadOfficeAdmin])?;
    let mut rows = Vec::new();
    let mut after = None;
    loop {
        let page = storage::catalog::list_products(
            &state.store,
            &storage::catalog::ProductFilter {
                after: after.clone(),
                limit: 200,
                include_off_shelf: true,
                ..Default::default()
            },
        )
        .await?;
        for summary in &page.items {
            let Some(p) = storage::catalog::product(&state.store, summary.id).await? else {
                continue;
            };
            for s in &p.skus {
                rows.push(vec![
                    p.code.clone(),
                    p.name_zh.clone(),
                    p.name_en.clone(),
                    p.brand.clone(),
                    p.category_id.clone(),
                    s.sku_code.clone(),
                    s.spec_zh.clone(),
                    s.spec_en.clone(),
                    s.unit.clone(),
                    s.price.to_string(),
                    s.member_price.map(|m| m.to_string()).unwrap_or_default(),
                    s.barcodes.join(" "),
                ]);
            }
        }
        match page.next_after {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    let bytes = csv_bytes(&CATALOG_COLUMNS, rows)?;
    Ok(csv_response("catalog.csv", bytes))
}

pub(crate) fn import_view(
    ctx: &Ctx,
    staff: &StaffActor,
    errors: &[LineError],
    imported: Option<usize>,
) -> Response {
    let body = html! {
        @if let Some(n) = imported { div.notice.ok role="status" #import-ok { (ctx.t("导入成功：", "Imported: ")) (n) (ctx.t(" 个商品", " products")) } }
        @if !errors.is_empty() {
            div.notice.err role="alert" #import-errors {
                b { (ctx.t("文件有错误，未导入任何商品：", "The file has errors; nothing was imported:")) }
                ul { @for e in errors { li data-line=(e.line) { (ctx.t("第 ", "Line ")) (e.line) (ctx.t(" 行：", ": ")) (e.message) } } }
            }
        }
        form.card method="post" action="/console/catalog/import" enctype="multipart/form-data" {
            (ctx.csrf_field())
            input type="hidden" name="job" value=(retail_domain::ids::new_id());
            div.field {
                label for="file" { (ctx.t("CSV 文件（UTF-8，每行一个 SKU）", "CSV file (UTF-8, one line per SKU)")) }
                input #file type="file" name="file" accept=".csv,text/csv" required;
            }
            button.btn type="submit" #import-submit { (ctx.t("校验并导入", "Check and import")) }
        }
        div.card {
            p.muted { (ctx.t("第一行必须是表头：", "The first line must be the header:")) }
            code { (CATALOG_COLUMNS.join(",")) }
            p.muted { (ctx.t("同一 product_code 的多行是同一商品的多个 SKU；多个条码用空格分隔。每一行都会校验，任何一行有错则整个文件都不导入。", "Lines with the same product_code are SKUs of one product; separate several barcodes with spaces. Every line is checked; if any line is wrong, nothing is imported.")) }
        }
    };
    console_page(ctx, staff, ctx.t("导入商品", "Import products"), body)
}

async fn import_page(ctx: Ctx, Staff(staff): Staff) -> WebResult<Response> {
    staff.require(&[Role::HeadOfficeAdmin])?;
    Ok(import_view(&ctx, &staff, &[], None))
}

/// Largest import file (8 MiB).
const MAX_IMPORT_BYTES: usize = 8 << 20;

async fn import(
    State(state): State<AppState>,
    ctx: Ctx,
    Staff(staff): Staff,
    axum::Extension(sid): axum::Extension<Sid>,
    mut multipart: Multipart,
) -> WebResult<Response> {
    staff.require(&[Role::HeadOfficeAdmin])?;
    let mut csrf = None;
    let mut job = None;
    let mut file: Option<Vec<u8>> = None;
    let bad = || {
        WebError::App(AppError::bad_request(
            "invalid_form",
            "the upload could not be read",
        ))
    };
    while let Some(part) = multipart.next_field().await.map_err(|_| bad())? {
        match part.name() {
            Some("_csrf") => csrf = Some(part.text().await.map_err(|_| bad())?),
            Some("job") => job = Some(part.text().await.map_err(|_| bad())?),
            Some("file") => {
                let bytes = part.bytes().await.map_err(|_| bad())?;
                if bytes.len() > MAX_IMPORT_BYTES {
                    return Ok(import_view(
                        &ctx,
                        &staff,
                        &[LineError {
                            line: 0,
                            message: "the file is larger than 8 MiB".into(),
                        }],
                        None,
                    ));
                }
                file = Some(bytes.to_vec());
            }
            _ => {}
        }
    }
    check_csrf(&state, &sid.0, csrf.as_deref())?;
    let Some(job) = job
        .as_deref()
        .and_then(|j| Uuid::parse_str(j.trim()).ok())
        .filter(|j| retail_domain::ids::require_v7(*j).is_ok())
    else {
        return Err(bad());
    };
    let Some(bytes) = file.filter(|b| !b.is_empty()) else {
        return Ok(import_view(
            &ctx,
            &staff,
            &[LineError {
                line: 0,
                message: ctx.t("请选择文件", "Choose a file").into(),
            }],
            None,
        ));
    };
    // Checked and imported in the background; the job's page shows the progress (a resent
    // form with the same job id finds the job already started).
    crate::app::catalog_import::start(&state, job, &staff.actor(), bytes);
    Ok(redirect(&format!("/console/catalog/import/{job}")))
}

// ---------------------------------------------------------------------------------------------
// Stock
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Deserialize, Default)]
struct StockParams {
    location: Option<String>,
    alerts: Option<String>,
    sku: Option<Uuid>,
    done: Option<String>,
    error: Option<String>,
}

async fn stock(
    State(state): State<AppState>,
    ctx: Ctx,
    Staff(staff): Staff,
    Query(p): Query<StockParams>,
) -> WebResult<Response> {
    let location =
        pick_location(&staff, p.location.as_deref())?.unwrap_or_else(|| "SH001".to_owned());
    let alerts = p.alerts.is_some();
    let levels = storage::stock::list_levels(
        &state.store,
        &storage::stock::LevelFilter {
            location_id: Some(location.clone()),
            alerts_only: alerts,
            limit: 500,
            ..Default::default()
        },
    )
    .await?;
    let locations = storage::locations::list(&state.store).await?;
    let transfers = storage::stock::list_transfers(
        &state.store,
        &storage::stock::TransferFilter {
            location_id: Some(location.clone()),
            status: None,
            after: None,
            limit: 20,
        },
    )
    .await?;
    let manager = staff.role != Role::Cashier;
    let body = html! {
        @if let Some(d) = &p.done { div.notice.ok role="status" { (match d.as_str() {
            "count" => ctx.t("盘点已入账。", "Count applied."),
            "transfer" => ctx.t("调拨已发出。", "Transfer shipped."),
            _ => ctx.t("调拨已收货。", "Transfer received."),
        }) } }
        @if let Some(e) = &p.error { div.notice.err role="alert" { (match e.as_str() {
            "code" => ctx.t("没有这个条码或 SKU 编码。", "No SKU with this barcode or code."),
            "qty" => ctx.t("数量须为 0 到 100000 的整数（调拨至少 1）。", "Quantity must be a whole number 0 to 100000 (at least 1 for a transfer)."),
            "to" => ctx.t("请选择另一个目的地。", "Choose another destination."),
            "stock" => ctx.t("可用库存不足，未调拨。", "Not enough available stock; nothing was moved."),
            _ => ctx.t("未完成。", "Not done."),
        }) } }
        form.card.row method="get" action="/console/stock" {
            @if scope(&staff).is_none() {
                select name="location" style="max-width:200px" {
                    @for l in locations.iter().filter(|l| l.kind != "head_office") { option value=(l.id) selected[l.id == location] { (l.id) " " (ctx.lang.pick(&l.name_zh, &l.name_en)) } }
                }
            }
            label.row { input type="checkbox" name="alerts" value="1" checked[alerts]; (ctx.t("只看提醒", "Alerts only")) }
            button.btn type="submit" { (ctx.t("查看", "Show")) }
        }
        div.table-wrap { table {
            tr { th { (ctx.t("商品", "Item")) } th.num { (ctx.t("在库", "On hand")) } th.num { (ctx.t("预留", "Reserved")) } th.num { (ctx.t("可用", "Available")) } th.num { (ctx.t("阈值", "Threshold")) } th {} }
            @for l in &levels {
                tr { td { (ctx.lang.pick(&l.name_zh, &l.name_en)) " " span.muted { (ctx.lang.pick(&l.spec_zh, &l.spec_en)) " · " (l.sku_code) } }
                     td.num { (l.on_hand) } td.num { (l.reserved) } td.num { (l.available) @if l.low { " " span.status.pending_payment { (ctx.t("低", "low")) } } } td.num { (l.threshold) }
                     td { a href={ "/console/stock/movements?location=" (location) "&sku=" (l.sku_id) } { (ctx.t("流水", "Movements")) } } }
            }
        } }
        @if manager {
            div.two style="margin-top:12px" {
                form.card method="post" action="/console/stock/count" {
                    b { (ctx.t("盘点", "Count")) }
                    (ctx.csrf_field())
                    input type="hidden" name="location" value=(location);
                    input type="hidden" name="id" value=(retail_domain::ids::new_id());
                    div.field { label { (ctx.t("条码或 SKU 编码", "Barcode or SKU code")) } input name="code"; }
                    div.field { label { (ctx.t("实盘数量", "Counted")) } input name="qty" inputmode="numeric"; }
                    div.field { label { (ctx.t("原因", "Reason")) } input name="reason"; }
                    button.btn type="submit" { (ctx.t("入账", "Apply")) }
                }
                form.card method="post" action="/console/stock/transfers" {
                    b { (ctx.t("调拨到其他门店/仓库", "Transfer to another location")) }
                    (ctx.csrf_field())
                    input type="hidden" name="location" value=(location);
                    input type="hidden" name="id" value=(retail_domain::ids::new_id());
                    div.field { label { (ctx.t("目的地", "To")) }
                        select name="to" { @for l in locations.iter().filter(|l| l.kind != "head_office" && l.id != location) { option value=(l.id) { (l.id) " " (ctx.lang.pick(&l.name_zh, &l.name_en)) } } } }
                    div.field { label { (ctx.t("条码或 SKU 编码", "Barcode or SKU code")) } input name="code"; }
                    div.field { label { (ctx.t("数量", "Quantity")) } input name="qty" inputmode="numeric"; }
                    button.btn type="submit" { (ctx.t("发出", "Ship")) }
                }
            }
        }
        h2 { (ctx.t("调拨单", "Transfers")) }
        div.table-wrap { table {
            tr { th { (ctx.t("发出", "Shipped")) } th { (ctx.t("从", "From")) } th { (ctx.t("到", "To")) } th { (ctx.t("状态", "Status")) } th.num { (ctx.t("件数", "Units")) } th {} }
            @for t in &transfers {
                tr { td { (when(t.shipped_ms)) } td { (t.from_location_id) } td { (t.to_location_id) } td { (t.status) }
                     td.num { (t.lines.iter().map(|l| l.qty).sum::<i64>()) }
                     td { @if manager && t.status == "in_transit" && t.to_location_id == location {
                        form method="post" action={ "/console/stock/transfers/" (t.id) "/receive" } { (ctx.csrf_field()) button.link type="submit" { (ctx.t("收货", "Receive")) } } } } }
            }
        } }
    };
    Ok(console_page(&ctx, &staff, ctx.t("库存", "Stock"), body))
}

async fn movements(
    State(state): State<AppState>,
    ctx: Ctx,
    Staff(staff): Staff,
    Query(p): Query<StockParams>,
) -> WebResult<Response> {
    let location = pick_location(&staff, p.location.as_deref())?;
    let rows = storage::stock::list_movements(
        &state.store,
        &storage::stock::MovementFilter {
            location_id: location.clone(),
            sku_id: p.sku,
            ref_id: None,
            after: None,
            limit: 200,
        },
    )
    .await?;
    let body = html! {
        p.muted { (location.as_deref().unwrap_or("*")) " · " @if let Some(s) = p.sku { (s) } }
        div.table-wrap { table {
            tr { th { (ctx.t("时间", "Time")) } th { (ctx.t("类型", "Kind")) } th.num { (ctx.t("在库变动", "On hand Δ")) } th.num { (ctx.t("预留变动", "Reserved Δ")) } th { (ctx.t("原因", "Reason")) } th { (ctx.t("操作人", "Actor")) } }
            @for m in &rows {
                tr { td { (when(m.created_ms)) } td { (m.kind) } td.num { (m.on_hand_delta) } td.num { (m.reserved_delta) } td { (m.reason) } td { (m.actor) } }
            }
        } }
    };
    Ok(console_page(
        &ctx,
        &staff,
        ctx.t("库存流水", "Stock movements"),
        body,
    ))
}

// ---------------------------------------------------------------------------------------------
// Members
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Deserialize, Default)]
struct MemberParams {
    phone: Option<String>,
}

async fn members(
    State(state): State<AppState>,
    ctx: Ctx,
    Staff(staff): Staff,
    Query(p): Query<MemberParams>,
) -> WebResult<Response> {
    staff.require(&[Role::HeadOfficeAdmin, Role::StoreManager])?;
    let mut errors = FieldErrors::new();
    let mut found = None;
    if let Some(phone) = p.phone.as_deref().filter(|p| !p.trim().is_empty()) {
        match storage::members::normalize_phone(phone) {
            Ok(phone) => {
                state
                    .limiter
                    .check(&format!("member-lookup:{}", staff.username), 60)?;
                found = storage::members::by_phone(
                    &state.store,
                    &state.keys,
                    &state.settings.points,
                    &phone,
                )
                .await?;
                if found.is_none() {
                    errors.insert(
                        "phone",
                        ctx.t("没有这个手机号的会员", "No member with this phone")
                            .into(),
                    );
                }
            }
            Err(_) => {
                errors.insert(
                    "phone",
                    ctx.t("请输入 11 位手机号", "Enter an 11-digit mobile number")
                        .into(),
                );
            }
        }
    }
    if let Some(m) = found {
        return Ok(redirect(&format!("/console/members/{}", m.id)));
    }
    let body = html! {
        form.card method="get" action="/console/members" {
            (field(ctx.t("手机号", "Phone"), "phone", "tel", p.phone.as_deref().unwrap_or(""), &errors, html!{}))
            button.btn type="submit" { (ctx.t("查找", "Look up")) }
        }
    };
    Ok(console_page(&ctx, &staff, ctx.t("会员", "Members"), body))
}

#[derive(Debug, Deserialize, Default, Clone)]
struct PointsForm {
    id: Option<String>,
    delta: Option<String>,
    reason: Option<String>,
}

async fn member_view(
    state: &AppState,
    ctx: &Ctx,
    staff: &StaffActor,
    id: Uuid,
    form: &PointsForm,
    errors: &FieldErrors,
    done: bool,
) -> WebResult<Response> {
    let m = storage::members::get(&state.store, &state.keys, &state.settings.points, id).await?;
    let points = storage::members::points_page(&state.store, id, None, 50).await?;
    let balance = storage::members::balance_page(&state.store, id, None, 50).await?;
    let adjust_id = form
        .id
        .clone()
        .unwrap_or_else(|| retail_domain::ids::new_id().to_string());
    let body = html! {
        @if done { div.notice.ok role="status" { (ctx.t("积分已调整并记入审计日志。", "Points adjusted and recorded in the audit log.")) } }
        div.kpis {
            div.kpi { span.muted { (ctx.t("手机", "Phone")) } b { (m.phone) } }
            div.kpi { span.muted { (ctx.t("等级", "Tier")) } b { (m.tier.name) } }
            div.kpi { span.muted { (ctx.t("积分", "Points")) } b #member-points { (m.points) } }
            div.kpi { span.muted { (ctx.t("余额", "Balance")) } b { (yuan(m.balance.fen())) } }
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
                div.table-wrap { table { @for e in &points.items { tr { td { (when(e.created_at.timestamp_millis())) } td { (e.kind) } td.num { (e.delta) } td { (e.reason) } td { (e.actor) } } } } } }
            div.card { b { (ctx.t("余额流水", "Balance ledger")) }
                div.table-wrap { table { @for e in &balance.items { tr { td { (when(e.created_at.timestamp_millis())) } td { (e.kind) } td.num { (yuan(e.amount.fen())) } td { (e.actor) } } } } } }
        }
    };
    Ok(console_page(ctx, staff, ctx.t("会员详情", "Member"), body))
}

async fn member(
    State(state): State<AppState>,
    ctx: Ctx,
    Staff(staff): Staff,
    Path(id): Path<Uuid>,
    Query(n): Query<NoticeParams>,
) -> WebResult<Response> {
    staff.require(&[Role::HeadOfficeAdmin, Role::StoreManager])?;
    member_view(
        &state,
        &ctx,
        &staff,
        id,
        &PointsForm::default(),
        &FieldErrors::new(),
        n.done.is_some(),
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
        return member_view(&state, &ctx, &staff, id, &form, &errors, false).await;
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
                false,
            )
            .await
        }
        Err(e) => Err(e.into()),
    }
}

// ---------------------------------------------------------------------------------------------
// Audit, stores, staff, devices
// ---------------------------------------------------------------------------------------------

async fn audit(
    State(state): State<AppState>,
    ctx: Ctx,
    Staff(staff): Staff,
) -> WebResult<Response> {
    staff.require(&[Role::HeadOfficeAdmin])?;
    let entries = storage::audit::list(&state.store, None, 200).await?;
    let body = html! {
        div.table-wrap { table {
            tr { th { (ctx.t("时间", "Time")) } th { (ctx.t("操作人", "Actor")) } th { (ctx.t("操作", "Action")) } th { (ctx.t("对象", "Entity")) } th { (ctx.t("详情", "Detail")) } }
            @for e in &entries {
                tr { td { (when(e.at.timestamp_millis())) } td { (e.actor) } td { (e.action) } td { (e.entity) " " (e.entity_id) } td.muted { (e.detail.to_string().chars().take(160).collect::<String>()) } }
            }
        } }
    };
    Ok(console_page(
        &ctx,
        &staff,
        ctx.t("审计日志", "Audit log"),
        body,
    ))
}

async fn stores(
    State(state): State<AppState>,
    ctx: Ctx,
    Staff(staff): Staff,
) -> WebResult<Response> {
    staff.require(&[Role::HeadOfficeAdmin])?;
    let locations = storage::locations::list(&state.store).await?;
    let body = html! {
        div.table-wrap { table {
            tr { th { (ctx.t("编码", "Code")) } th { (ctx.t("类型", "Kind")) } th { (ctx.t("名称", "Name")) } th { (ctx.t("城市", "City")) } th { (ctx.t("地址", "Address")) } }
            @for l in &locations { tr { td { (l.id) } td { (l.kind) } td { (ctx.lang.pick(&l.name_zh, &l.name_en)) } td { (l.city) } td { (l.address) } } }
        } }
    };
    Ok(console_page(&ctx, &staff, ctx.t("门店", "Stores"), body))
}

async fn staff_list(
    State(state): State<AppState>,
    ctx: Ctx,
    Staff(staff): Staff,
) -> WebResult<Response> {
    staff.require(&[Role::HeadOfficeAdmin])?;
    let people = storage::staff::list(&state.store, None).await?;
    let body = html! {
        div.table-wrap { table {
            tr { th { (ctx.t("用户名", "User name")) } th { (ctx.t("姓名", "Name")) } th { (ctx.t("角色", "Role")) } th { (ctx.t("门店", "Store")) } }
            @for s in &people { tr { td { (s.username) } td { (s.display_name) } td { (role_label(ctx.lang, s.role)) } td { (s.location_id.as_deref().unwrap_or("—")) } } }
        } }
    };
    Ok(console_page(
        &ctx,
        &staff,
        ctx.t("员工与角色", "Staff and roles"),
        body,
    ))
}

#[derive(Debug, Deserialize, Default, Clone)]
struct DeviceForm {
    id: Option<String>,
    location: Option<String>,
    kind: Option<String>,
    name: Option<String>,
}

async fn devices_view(
    state: &AppState,
    ctx: &Ctx,
    staff: &StaffActor,
    form: &DeviceForm,
    errors: &FieldErrors,
    credential: Option<(String, String)>,
) -> WebResult<Response> {
    staff.require(&[Role::HeadOfficeAdmin, Role::StoreManager])?;
    let location = scope(staff);
    let devices = storage::web::devices_seen(&state.store, location.as_deref()).await?;
    let stores: Vec<_> = storage::locations::list(&state.store)
        .await?
        .into_iter()
        .filter(|l| l.kind == "store" && location.as_ref().is_none_or(|own| own == &l.id))
        .collect();
    // The lanes' receipt-signing keys, by device (registered by the lanes themselves).
    let mut receipt_keys: HashMap<Uuid, Vec<retail_domain::wire::receipts::ReceiptKey>> =
        HashMap::new();
    for l in &stores {
        for key in storage::receipts::keys_of_store(&state.store, &l.id).await? {
            receipt_keys.entry(key.device_id).or_default().push(key);
        }
    }
    let head_office = staff.role == Role::HeadOfficeAdmin;
    let id = form
        .id
        .clone()
        .unwrap_or_else(|| retail_domain::ids::new_id().to_string());
    let body = html! {
        @if let Some((name, secret)) = &credential {
            div.notice.ok role="status" {
                b { (name) } " — " (ctx.t("设备凭证（只显示这一次，请立即配置到设备上）：", "device credential (shown only this once; configure the device now):"))
                pre #credential style="white-space:pre-wrap;word-break:break-all" { (secret) }
            }
        }
        form.card method="post" action="/console/devices" {
            b { (ctx.t("登记设备", "Register a device")) }
            (ctx.csrf_field())
            input type="hidden" name="id" value=(id);
            div.two {
                div.field { label for="location" { (ctx.t("门店", "Store")) }
                    select #location name="location" { @for l in &stores { option value=(l.id) selected[form.location.as_deref() == Some(l.id.as_str())] { (l.id) " " (ctx.lang.pick(&l.name_zh, &l.name_en)) } } } }
                div.field { label for="kind" { (ctx.t("类型", "Kind")) }
                    select #kind name="kind" { option value="pos" { (ctx.t("收银机", "POS lane")) } option value="edge" selected[form.kind.as_deref() == Some("edge")] { (ctx.t("门店边缘代理", "Edge agent")) } } }
            }
            (field(ctx.t("名称", "Name"), "name", "text", form.name.as_deref().unwrap_or(""), errors, html!{}))
            button.btn type="submit" { (ctx.t("登记", "Register")) }
        }
        div.table-wrap { table {
            tr { th { (ctx.t("门店", "Store")) } th { (ctx.t("名称", "Name")) } th { (ctx.t("类型", "Kind")) } th { (ctx.t("最近在线", "Last seen")) }
                 th title=(ctx.t("收银机签发小票码所用的密钥；小票码被盗用时吊销", "The keys a lane signs its receipt codes with; revoke one if its codes are being forged")) { (ctx.t("小票密钥", "Receipt keys")) } th {} }
            @for d in &devices {
                tr { td { (d.location_id) } td { (d.name) } td { (d.kind) } td { @if let Some(t) = d.last_seen_at { (when(t)) } @else { "—" } }
                     td.receipt-keys { @for k in receipt_keys.get(&d.id).map(Vec::as_slice).unwrap_or_default() {
                        div { code { (k.key_id) } " "
                            @if k.revoked_at.is_some() { span.status.cancelled { (ctx.t("已吊销", "Revoked")) } }
                            @else if head_office {
                                form style="display:inline" method="post" action={ "/console/devices/" (d.id) "/receipt-keys/" (k.key_id) "/revoke" } {
                                    (ctx.csrf_field()) button.link type="submit" { (ctx.t("吊销密钥", "Revoke key")) } } }
                            @else { span.status.paid { (ctx.t("有效", "Valid")) } } }
                     } }
                     td { @if d.revoked_at.is_some() { span.status.cancelled { (ctx.t("已吊销", "Revoked")) } } @else {
                        form method="post" action={ "/console/devices/" (d.id) "/revoke" } { (ctx.csrf_field()) button.link type="submit" { (ctx.t("吊销", "Revoke")) } } } } }
            }
        } }
    };
    Ok(console_page(ctx, staff, ctx.t("设备", "Devices"), body))
}

async fn devices(
    State(state): State<AppState>,
    ctx: Ctx,
    Staff(staff): Staff,
) -> WebResult<Response> {
    devices_view(
        &state,
        &ctx,
        &staff,
        &DeviceForm::default(),
        &FieldErrors::new(),
        None,
    )
    .await
}

async fn register_device(
    State(state): State<AppState>,
    ctx: Ctx,
    Staff(staff): Staff,
    Form(form): Form<DeviceForm>,
) -> WebResult<Response> {
    staff.require(&[Role::HeadOfficeAdmin, Role::StoreManager])?;
    let mut errors = FieldErrors::new();
    let name = form.name.clone().unwrap_or_default().trim().to_owned();
    if name.is_empty() || name.chars().count() > 64 {
        errors.insert(
            "name",
            ctx.t(
                "请填写名称（最多 64 字）",
                "Enter a name (up to 64 characters)",
            )
            .into(),
        );
    }
    let location = form.location.clone().unwrap_or_default();
    staff.require_store(&location)?;
    let kind = match form.kind.as_deref() {
        Some("edge") => DeviceKind::Edge,
        _ => DeviceKind::Pos,
    };
    let id = form
        .id
        .as_deref()
        .and_then(|i| Uuid::parse_str(i).ok())
        .filter(|i| retail_domain::ids::require_v7(*i).is_ok());
    let located = storage::locations::get(&state.store, &location)
        .await
        .ok()
        .filter(|l| l.kind == "store");
    if located.is_none() {
        errors.insert("location", ctx.t("请选择门店", "Choose a store").into());
    }
    let (Some(id), true) = (id, errors.is_empty()) else {
        return devices_view(&state, &ctx, &staff, &form, &errors, None).await;
    };
    let created =
        crate::app::devices::register_device(&state, id, &location, kind, &name, &staff.actor())
            .await?;
    // A resubmitted form (same id) does not show a new credential: the first one stands.
    let shown = created.map(|(d, credential)| (d.name, credential));
    devices_view(
        &state,
        &ctx,
        &staff,
        &DeviceForm::default(),
        &FieldErrors::new(),
        shown,
    )
    .await
}

async fn revoke_device(
    State(state): State<AppState>,
    Staff(staff): Staff,
    Path(id): Path<Uuid>,
    Form(_): Form<HashMap<String, String>>,
) -> WebResult<Response> {
    staff.require(&[Role::HeadOfficeAdmin, Role::StoreManager])?;
    let device = storage::devices::get(&state.store, id).await?;
    staff.require_store(&device.location_id)?;
    crate::app::devices::revoke_device(&state, id, &staff.actor()).await?;
    Ok(redirect("/console/devices"))
}

async fn revoke_receipt_key(
    State(state): State<AppState>,
    Staff(staff): Staff,
    Path((id, key_id)): Path<(Uuid, String)>,
    Form(_): Form<HashMap<String, String>>,
) -> WebResult<Response> {
    staff.require(&[Role::HeadOfficeAdmin])?;
    storage::receipts::revoke_key(&state.store, id, key_id.trim(), &staff.actor()).await?;
    Ok(redirect("/console/devices"))
}

// ---------------------------------------------------------------------------------------------
// Product: prices (chain, member, per store) and shelf status
// ---------------------------------------------------------------------------------------------

/// Errors of the product page's forms, keyed `<form>-<sku id>`.
/// Messages of the product page's forms, by form (`price-{sku}`, `barcode-{sku}`, `category`…).
pub(crate) type SkuErrors = BTreeMap<String, String>;

pub(crate) async fn product_view(
    state: &AppState,
    ctx: &Ctx,
    staff: &StaffActor,
    id: Uuid,
    errors: &SkuErrors,
    done: bool,
) -> WebResult<Response> {
    staff.require(&[Role::HeadOfficeAdmin])?;
    let p = storage::catalog::product(&state.store, id)
        .await?
        .ok_or_else(|| AppError::not_found("product"))?;
    let stores: Vec<_> = storage::locations::list(&state.store)
        .await?
        .into_iter()
        .filter(|l| l.kind == "store")
        .collect();
    let categories = storage::catalog::categories(&state.store).await?;
    let on = |s: &str| s == "on_shelf";
    let body = html! {
        @if done { div.notice.ok role="status" { (ctx.t("已保存并记入审计日志。", "Saved and recorded in the audit log.")) } }
        div.card.spread {
            span { b { (p.name_zh) } " · " (p.name_en) br; span.muted { (p.code) " · " (p.brand) " · " span #category { (p.category_id) } } }
            form method="post" action={ "/console/catalog/products/" (p.id) "/status" } {
                (ctx.csrf_field())
                input type="hidden" name="status" value=(if on(p.status.as_str()) { "off_shelf" } else { "on_shelf" });
                @if on(p.status.as_str()) { button.btn.warn type="submit" { (ctx.t("下架", "Take off shelf")) } }
                @else { button.btn type="submit" { (ctx.t("上架", "Put on shelf")) } }
            }
        }
        (super::catalog_edit::category_form(ctx, p.id, &p.category_id, &categories, errors.get("category")))
        @for s in &p.skus {
            div.card {
                div.spread {
                    span { b { (s.sku_code) } " " (s.spec_zh) " / " (s.spec_en) " · " (s.unit) br;
                        span.muted { (ctx.t("条码 ", "Barcodes ")) span.barcodes { (s.barcodes.join(" ")) } } }
                    form method="post" action={ "/console/catalog/skus/" (s.id) "/status" } {
                        (ctx.csrf_field())
                        input type="hidden" name="status" value=(if on(s.status.as_str()) { "off_shelf" } else { "on_shelf" });
                        @if on(s.status.as_str()) { button.link type="submit" { (ctx.t("下架此规格", "Take this SKU off shelf")) } }
                        @else { button.link type="submit" { (ctx.t("上架此规格", "Put this SKU on shelf")) } }
                    }
                }
                form.row method="post" action={ "/console/catalog/skus/" (s.id) "/price" } {
                    (ctx.csrf_field())
                    label { (ctx.t("总部价", "Chain price")) " " input.qty style="width:90px!important" name="price" value=(s.price); }
                    label { (ctx.t("会员价", "Member price")) " " input.qty style="width:90px!important" name="member_price" value=(s.member_price.map(|m| m.to_string()).unwrap_or_default()); }
                    button.btn.secondary type="submit" { (ctx.t("保存", "Save")) }
                }
                @if let Some(e) = errors.get(&format!("price-{}", s.id)) { p.field-error role="alert" { (e) } }
                div.muted { (ctx.t("门店价：", "Store prices: "))
                    @if s.store_prices.is_empty() { (ctx.t("无", "none")) }
                    @for sp in &s.store_prices { (sp.location_id) " " (yuan(sp.price.fen())) "　" } }
                form.row method="post" action={ "/console/catalog/skus/" (s.id) "/store-price" } {
                    (ctx.csrf_field())
                    select name="store" style="max-width:160px" { @for l in &stores { option value=(l.id) { (l.id) " " (ctx.lang.pick(&l.name_zh, &l.name_en)) } } }
                    input.qty style="width:90px!important" name="price" placeholder=(ctx.t("空=取消", "empty = remove"));
                    button.btn.secondary type="submit" { (ctx.t("设置门店价", "Set store price")) }
                }
                @if let Some(e) = errors.get(&format!("store-{}", s.id)) { p.field-error role="alert" { (e) } }
                (super::catalog_edit::barcode_forms(ctx, s.id, &s.barcodes, errors.get(&format!("barcode-{}", s.id))))
            }
        }
    };
    Ok(console_page(ctx, staff, &p.name_zh, body))
}

async fn product(
    State(state): State<AppState>,
    ctx: Ctx,
    Staff(staff): Staff,
    Path(id): Path<Uuid>,
    Query(n): Query<NoticeParams>,
) -> WebResult<Response> {
    product_view(
        &state,
        &ctx,
        &staff,
        id,
        &SkuErrors::new(),
        n.done.is_some(),
    )
    .await
}

#[derive(Debug, Deserialize, Default)]
struct StatusForm {
    status: Option<String>,
}

fn shelf(status: Option<&str>) -> WebResult<retail_domain::wire::catalog::ShelfStatus> {
    use retail_domain::wire::catalog::ShelfStatus;
    match status {
        Some("on_shelf") => Ok(ShelfStatus::OnShelf),
        Some("off_shelf") => Ok(ShelfStatus::OffShelf),
        _ => Err(AppError::field("status", "must be on_shelf or off_shelf").into()),
    }
}

async fn product_status(
    State(state): State<AppState>,
    Staff(staff): Staff,
    Path(id): Path<Uuid>,
    Form(f): Form<StatusForm>,
) -> WebResult<Response> {
    staff.require(&[Role::HeadOfficeAdmin])?;
    let status = shelf(f.status.as_deref())?;
    storage::catalog::set_product_status(&state.store, id, status, &staff.actor()).await?;
    state.search.invalidate();
    Ok(redirect(&format!("/console/catalog/products/{id}?done=1")))
}

pub(crate) async fn product_of_sku(state: &AppState, sku: Uuid) -> WebResult<Uuid> {
    let facts = storage::web::sku_facts(&state.store, &[sku]).await?;
    Ok(facts
        .get(&sku)
        .map(|f| f.product_id)
        .ok_or_else(|| AppError::not_found("SKU"))?)
}

async fn sku_status(
    State(state): State<AppState>,
    Staff(staff): Staff,
    Path(id): Path<Uuid>,
    Form(f): Form<StatusForm>,
) -> WebResult<Response> {
    staff.require(&[Role::HeadOfficeAdmin])?;
    let status = shelf(f.status.as_deref())?;
    let product = product_of_sku(&state, id).await?;
    storage::catalog::set_sku_status(&state.store, id, status, &staff.actor()).await?;
    state.search.invalidate();
    Ok(redirect(&format!(
        "/console/catalog/products/{product}?done=1"
    )))
}

/// A price typed into a form: `12.50`, not negative.
fn typed_price(ctx: &Ctx, text: &str) -> Result<i64, String> {
    match text.trim().parse::<Money>() {
        Ok(m) if !m.is_negative() && m.fen() <= 100_000_000 => Ok(m.fen()),
        _ => Err(ctx
            .t("请输入价格，如 12.50", "Enter a price such as 12.50")
            .to_owned()),
    }
}

#[derive(Debug, Deserialize, Default)]
struct PriceForm {
    price: Option<String>,
    member_price: Option<String>,
    store: Option<String>,
}

async fn sku_price(
    State(state): State<AppState>,
    ctx: Ctx,
    Staff(staff): Staff,
    Path(id): Path<Uuid>,
    Form(f): Form<PriceForm>,
) -> WebResult<Response> {
    staff.require(&[Role::HeadOfficeAdmin])?;
    let product = product_of_sku(&state, id).await?;
    let price = typed_price(&ctx, f.price.as_deref().unwrap_or(""));
    let member = match f.member_price.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(m) => typed_price(&ctx, m).map(Some),
    };
    match (price, member) {
        (Ok(price), Ok(member)) => {
            storage::catalog::set_sku_price(&state.store, id, price, Some(member), &staff.actor())
                .await?;
            state.search.invalidate();
            Ok(redirect(&format!(
                "/console/catalog/products/{product}?done=1"
            )))
        }
        (Err(e), _) | (_, Err(e)) => {
            let errors = SkuErrors::from([(format!("price-{id}"), e)]);
            product_view(&state, &ctx, &staff, product, &errors, false).await
        }
    }
}

async fn store_price(
    State(state): State<AppState>,
    ctx: Ctx,
    Staff(staff): Staff,
    Path(id): Path<Uuid>,
    Form(f): Form<PriceForm>,
) -> WebResult<Response> {
    staff.require(&[Role::HeadOfficeAdmin])?;
    let product = product_of_sku(&state, id).await?;
    let store = f.store.clone().unwrap_or_default();
    let located = storage::locations::get(&state.store, &store)
        .await
        .ok()
        .filter(|l| l.kind == "store");
    let price = match f.price.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(p) => typed_price(&ctx, p).map(Some),
    };
    match (located, price) {
        (Some(_), Ok(price)) => {
            storage::catalog::set_store_price(&state.store, &store, id, price, &staff.actor())
                .await?;
            Ok(redirect(&format!(
                "/console/catalog/products/{product}?done=1"
            )))
        }
        (None, _) => {
            let errors = SkuErrors::from([(
                format!("store-{id}"),
                ctx.t("请选择门店", "Choose a store").to_owned(),
            )]);
            product_view(&state, &ctx, &staff, product, &errors, false).await
        }
        (_, Err(e)) => {
            let errors = SkuErrors::from([(format!("store-{id}"), e)]);
            product_view(&state, &ctx, &staff, product, &errors, false).await
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Stock counts and transfers
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Deserialize, Default)]
struct StockForm {
    id: Option<String>,
    location: Option<String>,
    to: Option<String>,
    code: Option<String>,
    qty: Option<String>,
    reason: Option<String>,
}

fn stock_back(location: &str, what: &str, value: &str) -> Response {
    redirect(&format!(
        "/console/stock?location={}&{what}={value}",
        super::urlencode(location)
    ))
}

async fn stock_form(
    state: &AppState,
    staff: &StaffActor,
    f: &StockForm,
    min_qty: i64,
) -> WebResult<Result<(Uuid, String, Uuid, i64), Response>> {
    let location = f.location.clone().unwrap_or_default();
    staff.require(&[Role::HeadOfficeAdmin, Role::StoreManager])?;
    staff.require_store(&location)?;
    let id =
        f.id.as_deref()
            .and_then(|i| Uuid::parse_str(i).ok())
            .filter(|i| retail_domain::ids::require_v7(*i).is_ok())
            .ok_or_else(|| AppError::bad_request("invalid_form", "the form could not be read"))?;
    let code = f.code.clone().unwrap_or_default().trim().to_owned();
    let sku = if code.is_empty() || code.len() > 64 {
        None
    } else {
        storage::web::sku_by_code(&state.store, &code).await?
    };
    let Some(sku) = sku else {
        return Ok(Err(stock_back(&location, "error", "code")));
    };
    let qty = f
        .qty
        .as_deref()
        .unwrap_or("")
        .trim()
        .parse::<i64>()
        .ok()
        .filter(|q| (min_qty..=100_000).contains(q));
    let Some(qty) = qty else {
        return Ok(Err(stock_back(&location, "error", "qty")));
    };
    Ok(Ok((id, location, sku, qty)))
}

async fn stock_count(
    State(state): State<AppState>,
    Staff(staff): Staff,
    Form(f): Form<StockForm>,
) -> WebResult<Response> {
    let (id, location, sku, qty) = match stock_form(&state, &staff, &f, 0).await? {
        Ok(v) => v,
        Err(resp) => return Ok(resp),
    };
    let reason: String = f
        .reason
        .clone()
        .unwrap_or_default()
        .trim()
        .chars()
        .take(200)
        .collect();
    storage::stock::count(
        &state.store,
        &storage::stock::CountInput {
            id,
            location_id: location.clone(),
            lines: vec![(sku, qty)],
            reason,
        },
        &staff.actor(),
    )
    .await?;
    Ok(stock_back(&location, "done", "count"))
}

async fn transfer(
    State(state): State<AppState>,
    Staff(staff): Staff,
    Form(f): Form<StockForm>,
) -> WebResult<Response> {
    let (id, location, sku, qty) = match stock_form(&state, &staff, &f, 1).await? {
        Ok(v) => v,
        Err(resp) => return Ok(resp),
    };
    let to = f.to.clone().unwrap_or_default();
    let valid_to = storage::locations::get(&state.store, &to)
        .await
        .ok()
        .filter(|l| l.kind != "head_office" && l.id != location);
    if valid_to.is_none() {
        return Ok(stock_back(&location, "error", "to"));
    }
    match storage::stock::create_transfer(
        &state.store,
        &storage::stock::TransferInput {
            id,
            from_location_id: location.clone(),
            to_location_id: to,
            lines: vec![(sku, qty)],
            note: String::new(),
        },
        &staff.actor(),
    )
    .await
    {
        Ok(_) => Ok(stock_back(&location, "done", "transfer")),
        Err(AppError::Conflict { .. }) => Ok(stock_back(&location, "error", "stock")),
        Err(e) => Err(e.into()),
    }
}

async fn receive_transfer(
    State(state): State<AppState>,
    Staff(staff): Staff,
    Path(id): Path<Uuid>,
    Form(_): Form<HashMap<String, String>>,
) -> WebResult<Response> {
    staff.require(&[Role::HeadOfficeAdmin, Role::StoreManager])?;
    let t = storage::stock::get_transfer(&state.store, id).await?;
    staff.require_store(&t.to_location_id)?;
    match storage::stock::receive_transfer(&state.store, id, &staff.actor()).await {
        Ok(_) | Err(AppError::Conflict { .. }) => {
            Ok(stock_back(&t.to_location_id, "done", "received"))
        }
        Err(e) => Err(e.into()),
    }
}
