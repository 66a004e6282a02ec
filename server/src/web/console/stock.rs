//! The console's stock: levels by location (low-stock alerts), a SKU's movements, stock counts,
//! and transfers between locations (shipped here, received at the destination). Store staff
//! see and change their own store's stock only; counts and transfers are for managers.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use maud::html;
use serde::Deserialize;
use uuid::Uuid;

use super::{pick_location, scope};
use crate::actor::{Role, StaffActor};
use crate::app::AppState;
use crate::error::AppError;
use crate::storage;
use crate::storage::paging::{self, Cursor, PAGE_SIZE};
use crate::web::{console_page, pager, redirect, urlencode, when, Ctx, Form, Staff, WebResult};

/// Stock routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/console/stock", get(stock))
        .route("/console/stock/movements", get(movements))
        .route("/console/stock/count", post(stock_count))
        .route("/console/stock/receipts", post(goods_receipt))
        .route("/console/stock/thresholds", post(threshold))
        .route("/console/stock/transfers", post(transfer))
        .route(
            "/console/stock/transfers/{id}/receive",
            post(receive_transfer),
        )
}

#[derive(Debug, Deserialize, Default)]
struct StockParams {
    location: Option<String>,
    alerts: Option<String>,
    sku: Option<Uuid>,
    done: Option<String>,
    error: Option<String>,
    /// The levels' (or the movements') page cursor.
    cursor: Option<String>,
    /// The transfers' page cursor.
    transfers: Option<String>,
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
            after: paging::uuid_after(p.cursor.as_deref())?,
            limit: paging::fetch_limit(PAGE_SIZE),
            ..Default::default()
        },
    )
    .await?;
    let levels = paging::page(levels, PAGE_SIZE, |l| {
        Cursor::new(l.location_id.clone(), l.sku_id)
    });
    let locations = storage::locations::list(&state.store).await?;
    let transfers = storage::stock::list_transfers(
        &state.store,
        &storage::stock::TransferFilter {
            location_id: Some(location.clone()),
            status: None,
            after: paging::uuid_after(p.transfers.as_deref())?,
            limit: paging::fetch_limit(PAGE_SIZE),
        },
    )
    .await?;
    let transfers = paging::page(transfers, PAGE_SIZE, |t| Cursor::new(t.shipped_ms, t.id));
    let alerts_filter = if alerts { "1" } else { "" };
    let filters = [("location", location.as_str()), ("alerts", alerts_filter)];
    let manager = staff.role != Role::Cashier;
    let body = html! {
        @if let Some(d) = &p.done { div.notice.ok role="status" { (match d.as_str() {
            "count" => ctx.t("盘点已入账。", "Count applied."),
            "receipt" => ctx.t("收货已入库。", "Goods received into stock."),
            "threshold" => ctx.t("低库存阈值已保存。", "Low-stock threshold saved."),
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
            @for l in &levels.items {
                tr { td { (ctx.lang.pick(&l.name_zh, &l.name_en)) " " span.muted { (ctx.lang.pick(&l.spec_zh, &l.spec_en)) " · " (l.sku_code) } }
                     td.num { (l.on_hand) } td.num { (l.reserved) } td.num { (l.available) @if l.low { " " span.status.pending_payment { (ctx.t("低", "low")) } } } td.num { (l.threshold) }
                     td { a href={ "/console/stock/movements?location=" (location) "&sku=" (l.sku_id) } { (ctx.t("流水", "Movements")) } } }
            }
        } }
        (pager(&ctx, "/console/stock", &[filters[0], filters[1], ("transfers", p.transfers.as_deref().unwrap_or(""))], "cursor", p.cursor.as_deref(), levels.next_cursor.as_deref()))
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
                form.card method="post" action="/console/stock/receipts" #goods-receipt {
                    b { (ctx.t("收货入库", "Goods receipt")) }
                    (ctx.csrf_field())
                    input type="hidden" name="location" value=(location);
                    input type="hidden" name="id" value=(retail_domain::ids::new_id());
                    div.field { label { (ctx.t("条码或 SKU 编码", "Barcode or SKU code")) } input name="code"; }
                    div.field { label { (ctx.t("数量", "Quantity")) } input name="qty" inputmode="numeric"; }
                    div.field { label { (ctx.t("供应商/单号", "Supplier / reference")) } input name="reason"; }
                    button.btn type="submit" { (ctx.t("入库", "Receive")) }
                }
                form.card method="post" action="/console/stock/thresholds" #threshold {
                    b { (ctx.t("低库存阈值", "Low-stock threshold")) }
                    (ctx.csrf_field())
                    input type="hidden" name="location" value=(location);
                    input type="hidden" name="id" value=(retail_domain::ids::new_id());
                    div.field { label { (ctx.t("条码或 SKU 编码", "Barcode or SKU code")) } input name="code"; }
                    div.field { label { (ctx.t("阈值（0 = 不提醒）", "Threshold (0 = no alert)")) } input name="qty" inputmode="numeric"; }
                    button.btn type="submit" { (ctx.t("保存", "Save")) }
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
            @for t in &transfers.items {
                tr { td { (when(t.shipped_ms)) } td { (t.from_location_id) } td { (t.to_location_id) } td { (t.status) }
                     td.num { (t.lines.iter().map(|l| l.qty).sum::<i64>()) }
                     td { @if manager && t.status == "in_transit" && t.to_location_id == location {
                        form method="post" action={ "/console/stock/transfers/" (t.id) "/receive" } { (ctx.csrf_field()) button.link type="submit" { (ctx.t("收货", "Receive")) } } } } }
            }
        } }
        (pager(&ctx, "/console/stock", &[filters[0], filters[1], ("cursor", p.cursor.as_deref().unwrap_or(""))], "transfers", p.transfers.as_deref(), transfers.next_cursor.as_deref()))
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
            after: paging::uuid_after(p.cursor.as_deref())?,
            limit: paging::fetch_limit(PAGE_SIZE),
        },
    )
    .await?;
    let rows = paging::page(rows, PAGE_SIZE, |m| Cursor::new(m.created_ms, m.id));
    let sku = p.sku.map(|s| s.to_string()).unwrap_or_default();
    let filters = [
        ("location", location.as_deref().unwrap_or("")),
        ("sku", sku.as_str()),
    ];
    let body = html! {
        p.muted { (location.as_deref().unwrap_or("*")) " · " @if let Some(s) = p.sku { (s) } }
        div.table-wrap { table {
            tr { th { (ctx.t("时间", "Time")) } th { (ctx.t("类型", "Kind")) } th.num { (ctx.t("在库变动", "On hand Δ")) } th.num { (ctx.t("预留变动", "Reserved Δ")) } th { (ctx.t("原因", "Reason")) } th { (ctx.t("操作人", "Actor")) } }
            @for m in &rows.items {
                tr { td { (when(m.created_ms)) } td { (m.kind) } td.num { (m.on_hand_delta) } td.num { (m.reserved_delta) } td { (m.reason) } td { (m.actor) } }
            }
        } }
        (pager(&ctx, "/console/stock/movements", &filters, "cursor", p.cursor.as_deref(), rows.next_cursor.as_deref()))
    };
    Ok(console_page(
        &ctx,
        &staff,
        ctx.t("库存流水", "Stock movements"),
        body,
    ))
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

/// The form's reason, trimmed to 200 characters.
fn form_reason(f: &StockForm) -> String {
    f.reason
        .as_deref()
        .unwrap_or_default()
        .trim()
        .chars()
        .take(200)
        .collect()
}

fn stock_back(location: &str, what: &str, value: &str) -> Response {
    redirect(&format!(
        "/console/stock?location={}&{what}={value}",
        urlencode(location)
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

/// What a one-line stock form books.
#[derive(Clone, Copy)]
enum LineBooking {
    /// A stock count (the counted quantity, 0 and up).
    Count,
    /// Goods received (a `receipt` movement, 1 and up).
    Receipt,
}

/// Books one line of a count or a goods receipt (the location's manager or head office;
/// audited; idempotent by the form's id) and returns to the stock page.
async fn book_line(
    state: &AppState,
    staff: &StaffActor,
    f: &StockForm,
    booking: LineBooking,
) -> WebResult<Response> {
    let min_qty = match booking {
        LineBooking::Count => 0,
        LineBooking::Receipt => 1,
    };
    let (id, location, sku, qty) = match stock_form(state, staff, f, min_qty).await? {
        Ok(v) => v,
        Err(resp) => return Ok(resp),
    };
    let (location_id, lines, reason) = (location.clone(), vec![(sku, qty)], form_reason(f));
    let done = match booking {
        LineBooking::Count => {
            let input = storage::stock::CountInput {
                id,
                location_id,
                lines,
                reason,
            };
            storage::stock::count(&state.store, &input, &staff.actor()).await?;
            "count"
        }
        LineBooking::Receipt => {
            let input = storage::stock::ReceiptInput {
                id,
                location_id,
                lines,
                reason,
            };
            storage::stock::receive_goods(&state.store, &input, &staff.actor()).await?;
            "receipt"
        }
    };
    Ok(stock_back(&location, "done", done))
}

async fn stock_count(
    State(state): State<AppState>,
    Staff(staff): Staff,
    Form(f): Form<StockForm>,
) -> WebResult<Response> {
    book_line(&state, &staff, &f, LineBooking::Count).await
}

/// Goods received into stock at the location (a `receipt` movement, as `POST /stock/receipts`).
async fn goods_receipt(
    State(state): State<AppState>,
    Staff(staff): Staff,
    Form(f): Form<StockForm>,
) -> WebResult<Response> {
    book_line(&state, &staff, &f, LineBooking::Receipt).await
}

/// A SKU's low-stock threshold at the location (0: no alert; audited as `stock.threshold`).
async fn threshold(
    State(state): State<AppState>,
    Staff(staff): Staff,
    Form(f): Form<StockForm>,
) -> WebResult<Response> {
    let (_, location, sku, qty) = match stock_form(&state, &staff, &f, 0).await? {
        Ok(v) => v,
        Err(resp) => return Ok(resp),
    };
    storage::stock::set_threshold(&state.store, &location, sku, qty, &staff.actor()).await?;
    Ok(stock_back(&location, "done", "threshold"))
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
