//! The console's orders: the list (by status, store and number) and its CSV export, an order's
//! page with its lines, history and the actions its state allows, and marking a pickup order
//! ready, cancelling it (paid orders are refunded) and handing it over with the pickup code.
//! The page also shows the forms of [`super::fulfilment`] (ship, confirm delivery, after-sale
//! refund), which handles them.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use maud::{html, Markup};
use retail_domain::money::Money;
use retail_domain::order::OrderStatus;
use serde::Deserialize;
use uuid::Uuid;

use super::{channel_label, csv_bytes, csv_response, pick_location, scope, NoticeParams};
use crate::actor::{Role, StaffActor};
use crate::app::AppState;
use crate::error::AppError;
use crate::storage;
use crate::storage::orders::OrderView;
use crate::storage::paging::{Cursor, Page, PAGE_SIZE};
use crate::web::{
    console_page, list_query, pager, redirect, status_label, when, yuan, Ctx, Form, Staff,
    WebResult,
};

/// Order routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/console/orders", get(orders))
        .route("/console/orders.csv", get(orders_csv))
        .route("/console/orders/{id}", get(order))
        .route("/console/orders/{id}/ready", post(order_ready))
        .route("/console/orders/{id}/cancel", post(order_cancel))
        .route("/console/orders/{id}/handover", post(order_handover))
}

#[derive(Debug, Deserialize, Default)]
struct OrderParams {
    status: Option<String>,
    store: Option<String>,
    q: Option<String>,
    /// The page's cursor ([`storage::paging::Cursor`]); none on the first page.
    cursor: Option<String>,
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

/// The `status` filter of the pickup orders awaiting collection (paid or ready).
const AWAITING_PICKUP: &str = "awaiting_pickup";

/// The orders awaiting pickup (paid or ready, to be collected in store) at `location`, or at
/// every one: the dashboard's count and the list's `awaiting_pickup` filter.
pub(super) fn awaiting_pickup(location: Option<String>) -> storage::web::OrderQuery {
    storage::web::OrderQuery {
        location,
        statuses: vec!["paid".into(), "ready_for_pickup".into()],
        fulfilment: Some("pickup".into()),
        ..Default::default()
    }
}

/// Orders a CSV export reads at a time.
const EXPORT_PAGE: i64 = 1_000;

/// A page of the orders the filters pick, starting after `cursor`.
async fn order_rows(
    state: &AppState,
    staff: &StaffActor,
    p: &OrderParams,
    cursor: Option<Cursor>,
    limit: i64,
) -> WebResult<Page<storage::web::OrderRow>> {
    let location = pick_location(staff, p.store.as_deref())?;
    let filter = match p.status.as_deref().filter(|s| !s.is_empty()) {
        Some(AWAITING_PICKUP) => awaiting_pickup(location),
        Some(s) if STATUSES.contains(&s) => storage::web::OrderQuery {
            location,
            statuses: vec![s.to_owned()],
            ..Default::default()
        },
        Some(_) => return Err(AppError::field("status", "unknown status").into()),
        None => storage::web::OrderQuery {
            location,
            ..Default::default()
        },
    };
    Ok(storage::web::orders(
        &state.store,
        &storage::web::OrderQuery {
            number: p
                .q
                .as_deref()
                .map(str::trim)
                .filter(|q| !q.is_empty())
                .map(|q| q.chars().take(32).collect()),
            cursor,
            limit,
            ..filter
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
    let cursor = Cursor::parse(p.cursor.as_deref())?;
    let page = order_rows(&state, &staff, &p, cursor, PAGE_SIZE).await?;
    let rows = &page.items;
    let stores = storage::locations::list(&state.store).await?;
    let status = p.status.clone().unwrap_or_default();
    let filters = [
        ("status", status.as_str()),
        ("store", p.store.as_deref().unwrap_or("")),
        ("q", p.q.as_deref().unwrap_or("")),
    ];
    let export = format!(
        "/console/orders.csv?{}",
        list_query(&filters, "cursor", None)
    );
    let body = html! {
        form.card.row method="get" action="/console/orders" {
            input name="q" value=(p.q.as_deref().unwrap_or("")) placeholder=(ctx.t("订单号", "Order number")) style="max-width:200px";
            select name="status" style="max-width:180px" {
                option value="" { (ctx.t("全部状态", "All statuses")) }
                option value=(AWAITING_PICKUP) selected[status == AWAITING_PICKUP] { (ctx.t("待自提", "Awaiting pickup")) }
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
            @for o in rows {
                tr { td { a href={ "/console/orders/" (o.id) } { (o.order_no) } } td { (when(o.created_at)) } td { (o.location_id) }
                     td { (channel_label(&ctx, &o.channel)) " · " (o.fulfilment) }
                     td { span class={ "status " (o.status) } { (status_label(ctx.lang, &o.status)) } } td.num { (yuan(o.total_fen)) } }
            }
        } }
        (pager(&ctx, "/console/orders", &filters, "cursor", p.cursor.as_deref(), page.next_cursor.as_deref()))
    };
    Ok(console_page(&ctx, &staff, ctx.t("订单", "Orders"), body))
}

async fn orders_csv(
    State(state): State<AppState>,
    Staff(staff): Staff,
    Query(p): Query<OrderParams>,
) -> WebResult<Response> {
    // Every matching order, read a page at a time.
    let mut rows = Vec::new();
    let mut cursor = None;
    loop {
        let page = order_rows(&state, &staff, &p, cursor, EXPORT_PAGE).await?;
        rows.extend(page.items);
        match page.next_cursor {
            Some(next) => cursor = Some(Cursor::decode(&next)?),
            None => break,
        }
    }
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

/// True when the order's state allows an after-sale return (collected, delivered or completed,
/// or already partly returned) and something is left to return.
fn takes_returns(order: &OrderView) -> bool {
    matches!(
        order.status,
        OrderStatus::PickedUp
            | OrderStatus::Delivered
            | OrderStatus::Completed
            | OrderStatus::AfterSale
    ) && order.lines.iter().any(|l| l.qty > l.returned_qty)
}

/// The after-sale form: units to return per line (at most what is left), a reason, and the
/// return's client id so a resent form records it once.
fn return_form(ctx: &Ctx, order: &OrderView) -> Markup {
    html! {
        div.card #after-sale {
            b { (ctx.t("售后退款", "After-sale refund")) }
            p.muted { (ctx.t("退回的商品回到库存，按该商品实际支付的金额退款；赠送的积分按比例扣回。", "Returned items go back into stock and are refunded at what was actually paid for them; earned points are taken back in proportion.")) }
            form method="post" action={ "/console/orders/" (order.id) "/return" } {
                (ctx.csrf_field())
                input type="hidden" name="return_id" value=(retail_domain::ids::new_id());
                div.table-wrap { table {
                    tr { th { (ctx.t("商品", "Item")) } th.num { (ctx.t("可退", "Left")) } th.num { (ctx.t("退货数量", "Return")) } }
                    @for l in order.lines.iter().filter(|l| l.qty > l.returned_qty) {
                        tr { td { (l.name) } td.num { (l.qty - l.returned_qty) }
                            td.num { input.qty type="number" name={ "qty_" (l.line_no) } value="0" min="0" max=(l.qty - l.returned_qty)
                                aria-label=(ctx.t("退货数量", "Units to return")); } }
                    }
                } }
                div.row {
                    input name="reason" placeholder=(ctx.t("原因", "Reason")) style="max-width:220px";
                    button.btn.warn #refund type="submit" { (ctx.t("退货退款", "Return and refund")) }
                }
            }
        }
    }
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
    let cases = storage::after_sales::of_order(&state.store, order.id).await?;
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
            @if manager && order.fulfilment.as_str() == "delivery" {
                a.btn.secondary #delivery-link href={ "/console/orders/" (order.id) "/delivery" } { (ctx.t("配送与面单", "Delivery and label")) }
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
        @if manager && takes_returns(&order) {
            (return_form(&ctx, &order))
        }
        @if !cases.is_empty() {
            div.card #order-after-sales {
                b { (ctx.t("顾客售后申请", "The shopper's after-sales")) }
                @for c in &cases {
                    div.spread { a href={ "/console/after-sales/" (c.id) } { (crate::web::after_sale_text::kind_label(ctx.lang, c.kind)) }
                        span.muted { (crate::web::after_sale_text::status_label(ctx.lang, c.status)) } }
                }
            }
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
    state.limiter.check(&format!("pickup:{id}"), 10).await?;
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
