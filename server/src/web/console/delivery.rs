//! Console: delivery. An order's delivery page for the staff allowed to ship it (head office, or
//! a manager of the location it ships from): the full address (the reading audited), fee, slot,
//! shipping with a carrier and waybill, tracking events, and the shipping label — printable HTML
//! with a QR code of the waybill, ESC/POS bytes for a receipt printer
//! ([`retail_devices::receipt::encode_label`]), or printed on the shipping store's counter
//! printer through its edge agent ([`crate::app::edge`]). The pick-and-pack list of paid delivery orders
//! with batch shipping by CSV (all or nothing), and head office's delivery regions with their
//! shipping fees. Writes go through [`crate::app::delivery`].

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequest, Multipart, Path, Query, Request, State};
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use maud::{html, Markup, DOCTYPE};
use retail_devices::receipt::{encode_label, ReceiptLayout};
use retail_domain::order::OrderStatus;
use serde::Deserialize;
use uuid::Uuid;

use super::{scope, NoticeParams};
use crate::actor::{Role, StaffActor};
use crate::app::catalog_import::LineError;
use crate::app::delivery::{self as delivery_app, TrackingInput, TRACKING_STATUSES};
use crate::app::AppState;
use crate::error::AppError;
use crate::storage;
use crate::storage::delivery::{Address, Region};
use crate::web::{
    check_csrf, console_page, html_response, qr_svg, redirect, status_label, when, yuan, Ctx, Form,
    Sid, Staff, WebError, WebResult,
};

/// Largest batch-shipping file.
const MAX_SHIPMENTS_BYTES: usize = 1 << 20;

/// Delivery routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/console/orders/{id}/delivery", get(order_page))
        .route("/console/orders/{id}/waybill", post(ship))
        .route("/console/orders/{id}/tracking", post(add_tracking))
        .route("/console/orders/{id}/label", get(label_page))
        .route("/console/orders/{id}/label.bin", get(label_bytes))
        .route("/console/orders/{id}/label/print", post(print_label))
        .route(
            "/console/delivery",
            get(pick_list)
                .post(upload_shipments)
                .layer(DefaultBodyLimit::max(MAX_SHIPMENTS_BYTES + (64 << 10))),
        )
        .route("/console/delivery/regions", get(regions).post(save_region))
        .route("/console/delivery/positions", post(save_position))
}

/// A tracking status for people.
fn tracking_label(ctx: &Ctx, status: &str) -> &'static str {
    crate::web::tracking_label(ctx.lang, status)
}

fn address_block(ctx: &Ctx, address: Option<&Address>) -> Markup {
    html! {
        @match address {
            Some(a) => div #ship-to {
                b { (a.name) } " " span #ship-phone { (a.phone) } br;
                span #ship-address { (a.region()) " " (a.address) }
            },
            None => p.muted { (ctx.t("无收货地址（已删除）。", "No address (erased).")) },
        }
    }
}

async fn order_page(
    State(state): State<AppState>,
    ctx: Ctx,
    Staff(staff): Staff,
    Path(id): Path<Uuid>,
    Query(n): Query<NoticeParams>,
) -> WebResult<Response> {
    let (order, address, delivery) = delivery_app::order_to_ship(&state, &staff, id).await?;
    let tracking = storage::delivery::tracking_events(&state.store, id).await?;
    let shipped = matches!(
        order.status,
        OrderStatus::Shipped | OrderStatus::Delivered | OrderStatus::Completed
    );
    let body = html! {
        @if let Some(d) = &n.done { div.notice.ok role="status" { (match d.as_str() {
            "shipped" => ctx.t("已发货，运单已登记。", "Shipped; the waybill is recorded."),
            "label_sent" => ctx.t("面单已发送到门店打印机。", "The label was sent to the store's printer."),
            _ => ctx.t("物流轨迹已登记。", "Tracking event recorded."),
        }) } }
        @if let Some(e) = &n.error { div.notice.err role="alert" #delivery-error { (match e.as_str() {
            "not_paid" => ctx.t("订单尚未付款，不能登记运单。", "The order is not paid: no waybill before payment."),
            "waybill_in_use" => ctx.t("该运单号已用于其他订单。", "This waybill belongs to another order."),
            "waybill" => ctx.t("请填写快递公司和运单号（字母、数字或 -）。", "Enter the carrier and waybill (letters, digits or -)."),
            "tracking" => ctx.t("请选择状态并填写说明（最多 200 字）。", "Choose a status; the description is up to 200 characters."),
            "no_edge_agent" => ctx.t("发货地没有门店代理，不能在门店打印机打印；请下载 ESC/POS 面单。", "The shipping location has no edge agent to print on; download the ESC/POS label instead."),
            "print" => ctx.t("发货地有多个门店代理或订单不从门店发货，请通过 API 指定设备。", "The shipping location has several edge agents, or the order does not ship from a store: name the device through the API."),
            "bus_off" => ctx.t("门店消息总线未开启，不能在门店打印机打印。", "The store bus is off: the store's printer cannot be reached."),
            _ => ctx.t("当前状态不允许此操作。", "Not possible in the order's current state."),
        }) } }
        div.card {
            div.spread { b { a href={ "/console/orders/" (order.id) } { (order.order_no) } } span class={ "status " (order.status.as_str()) } #order-status { (status_label(ctx.lang, order.status.as_str())) } }
            p.muted { (ctx.t("发货地 ", "Ships from ")) (order.location_id)
                @if delivery.as_ref().is_some_and(|d| d.same_city) { " · " (ctx.t("同城配送", "same-city")) } }
            (address_block(&ctx, address.as_ref()))
            @if let Some(d) = &delivery {
                p { (ctx.t("运费 ", "Shipping ")) span #shipping { (yuan(d.shipping_fen)) }
                    @if !d.slot.is_empty() { " · " (ctx.t("送达时段 ", "Slot ")) (d.slot) } }
                @if let (Some(c), Some(w)) = (&d.carrier, &d.waybill) { p #waybill { (ctx.t("运单 ", "Waybill ")) (c) " " (w) } }
            }
            p { a.btn.secondary #label-link href={ "/console/orders/" (order.id) "/label" } target="_blank" { (ctx.t("打印面单", "Print label")) }
                " " a.btn.secondary href={ "/console/orders/" (order.id) "/label.bin" } { (ctx.t("面单 ESC/POS", "Label (ESC/POS)")) } }
            form.row #label-print-form method="post" action={ "/console/orders/" (order.id) "/label/print" } {
                (ctx.csrf_field())
                input type="hidden" name="command_id" value=(retail_domain::ids::new_id());
                button.btn.secondary #label-print type="submit" { (ctx.t("在发货门店的打印机打印面单", "Print the label on the shipping store's printer")) }
            }
        }
        @if order.status == OrderStatus::Paid || order.status == OrderStatus::PendingPayment {
            form.card.row #ship-form method="post" action={ "/console/orders/" (order.id) "/waybill" } {
                (ctx.csrf_field())
                input name="carrier" placeholder=(ctx.t("快递公司，如 SF", "Carrier, e.g. SF")) style="max-width:160px";
                input name="waybill" placeholder=(ctx.t("运单号", "Waybill")) style="max-width:220px";
                button.btn #ship-waybill type="submit" { (ctx.t("登记运单并发货", "Ship with waybill")) }
            }
        }
        @if shipped {
            form.card.row #tracking-form method="post" action={ "/console/orders/" (order.id) "/tracking" } {
                (ctx.csrf_field())
                input type="hidden" name="event_id" value=(retail_domain::ids::new_id());
                select name="status" { @for s in TRACKING_STATUSES { option value=(s) { (tracking_label(&ctx, s)) } } }
                input name="description" placeholder=(ctx.t("说明", "Description")) style="max-width:260px";
                input name="location" placeholder=(ctx.t("地点", "Where")) style="max-width:160px";
                button.btn #add-tracking type="submit" { (ctx.t("登记物流", "Add tracking")) }
            }
        }
        div.card #tracking {
            b { (ctx.t("物流轨迹", "Tracking")) }
            @if tracking.is_empty() { p.muted { (ctx.t("暂无物流信息。", "No tracking yet.")) } }
            div.table-wrap { table {
                @for e in &tracking { tr { td { (when(e.happened_at.timestamp_millis())) } td { (tracking_label(&ctx, &e.status)) } td { (e.description) } td { (e.location) } td.muted { (e.source) } } }
            } }
        }
    };
    Ok(console_page(
        &ctx,
        &staff,
        &format!("{} · {}", order.order_no, ctx.t("配送", "Delivery")),
        body,
    ))
}

#[derive(Debug, Deserialize)]
struct WaybillForm {
    carrier: String,
    waybill: String,
}

/// The page's error code for a failed write.
fn error_code(e: &AppError) -> &'static str {
    match e {
        AppError::Conflict { code, .. } => match *code {
            "not_paid" | "waybill_in_use" => code,
            _ => "state",
        },
        _ => "waybill",
    }
}

async fn ship(
    State(state): State<AppState>,
    Staff(staff): Staff,
    Path(id): Path<Uuid>,
    Form(form): Form<WaybillForm>,
) -> WebResult<Response> {
    delivery_app::order_to_ship(&state, &staff, id).await?;
    match delivery_app::ship_with_waybill(&state, id, &form.carrier, &form.waybill, &staff.actor())
        .await
    {
        Ok(_) => Ok(redirect(&format!(
            "/console/orders/{id}/delivery?done=shipped"
        ))),
        Err(e @ (AppError::Conflict { .. } | AppError::Invalid { .. })) => Ok(redirect(&format!(
            "/console/orders/{id}/delivery?error={}",
            error_code(&e)
        ))),
        Err(e) => Err(e.into()),
    }
}

#[derive(Debug, Deserialize)]
struct TrackingForm {
    event_id: String,
    status: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    location: String,
}

async fn add_tracking(
    State(state): State<AppState>,
    Staff(staff): Staff,
    Path(id): Path<Uuid>,
    Form(form): Form<TrackingForm>,
) -> WebResult<Response> {
    delivery_app::order_to_ship(&state, &staff, id).await?;
    let input = TrackingInput {
        event_id: form.event_id,
        status: form.status,
        description: form.description,
        location: form.location,
        at: None,
    };
    match delivery_app::add_tracking(&state, id, &input, "staff", &staff.actor()).await {
        Ok(_) => Ok(redirect(&format!(
            "/console/orders/{id}/delivery?done=tracking"
        ))),
        Err(AppError::Invalid { .. }) => Ok(redirect(&format!(
            "/console/orders/{id}/delivery?error=tracking"
        ))),
        Err(AppError::Conflict { .. }) => Ok(redirect(&format!(
            "/console/orders/{id}/delivery?error=state"
        ))),
        Err(e) => Err(e.into()),
    }
}

/// The printable label: a page of its own (no console frame), 100 × 150 mm, printed with the
/// browser's print dialog.
async fn label_page(
    State(state): State<AppState>,
    ctx: Ctx,
    Staff(staff): Staff,
    Path(id): Path<Uuid>,
) -> WebResult<Response> {
    let l = delivery_app::shipping_label(&state, &staff, id).await?;
    Ok(html_response(html! {
        (DOCTYPE)
        html lang=(ctx.lang.code()) {
            head {
                meta charset="utf-8";
                title { (ctx.t("面单 ", "Label ")) (l.order_no) }
                style { "@page{size:100mm 150mm;margin:4mm}body{font:14px sans-serif;margin:0}.label{width:92mm;border:2px solid #000;padding:3mm}.big{font-size:22px;font-weight:bold}.qr svg{width:36mm;height:36mm}hr{border:0;border-top:1px dashed #000}@media print{.noprint{display:none}}" }
            }
            body {
                div.label #label {
                    div.big #label-waybill { (l.carrier) " " (l.waybill) }
                    hr;
                    div { b { (ctx.t("收件人 ", "To ")) } span #label-recipient { (l.recipient) } " " (l.phone) }
                    div #label-address { (l.address) }
                    hr;
                    div { (ctx.t("订单 ", "Order ")) span #label-order { (l.order_no) } }
                    @if !l.slot.is_empty() { div { (ctx.t("送达时段 ", "Slot ")) (l.slot) } }
                    div { (ctx.t("件数 ", "Items ")) (l.items) " · " (ctx.t("寄件 ", "From ")) (l.sender) }
                    div.qr #label-qr { (qr_svg(&l.waybill)) }
                }
                p.noprint { button onclick="window.print()" { (ctx.t("打印", "Print")) } }
            }
        }
    }))
}

#[derive(Debug, Deserialize, Default)]
struct LabelParams {
    /// `58` for 58 mm paper (32 columns, QR as an image); 80 mm otherwise.
    paper: Option<String>,
}

/// The label as ESC/POS bytes for the store's receipt printer (80 mm: 48 columns and a native
/// QR code; `?paper=58`: 32 columns and a raster QR code), to send to the printer as they are.
async fn label_bytes(
    State(state): State<AppState>,
    Staff(staff): Staff,
    Path(id): Path<Uuid>,
    Query(p): Query<LabelParams>,
) -> WebResult<Response> {
    let label = delivery_app::shipping_label(&state, &staff, id).await?;
    let layout = if p.paper.as_deref() == Some("58") {
        ReceiptLayout {
            columns: 32,
            native_qr: false,
            qr_module_size: 4,
            cut: Vec::new(),
            drawer_kick: Vec::new(),
        }
    } else {
        ReceiptLayout {
            columns: 48,
            native_qr: true,
            qr_module_size: 6,
            cut: vec![0x1D, 0x56, 0x42, 0x00],
            drawer_kick: Vec::new(),
        }
    };
    let bytes = encode_label(&label, &layout)
        .map_err(|e| AppError::Internal(anyhow::anyhow!("encoding a label: {e}")))?;
    Ok((
        [
            (CONTENT_TYPE, "application/octet-stream".to_owned()),
            (
                CONTENT_DISPOSITION,
                format!("attachment; filename=\"label-{}.bin\"", label.order_no),
            ),
        ],
        bytes,
    )
        .into_response())
}

#[derive(Debug, Deserialize)]
struct PrintLabelForm {
    /// The command's client id, made with the page (a resubmission prints once).
    command_id: Uuid,
}

/// Sends the label to the edge agent of the location the order ships from, which prints it on
/// its counter printer ([`crate::app::edge::send_command`]).
async fn print_label(
    State(state): State<AppState>,
    Staff(staff): Staff,
    Path(id): Path<Uuid>,
    Form(form): Form<PrintLabelForm>,
) -> WebResult<Response> {
    let order = storage::orders::get(&state.store, id).await?;
    let command = retail_domain::wire::bus::Command::PrintShippingLabel {
        order_id: id,
        label: None,
    };
    let back = |query: &str| redirect(&format!("/console/orders/{id}/delivery?{query}"));
    match crate::app::edge::send_command(
        &state,
        &staff,
        &order.location_id,
        form.command_id,
        None,
        command,
    )
    .await
    {
        Ok(_) => Ok(back("done=label_sent")),
        Err(AppError::Conflict {
            code: "no_edge_agent",
            ..
        }) => Ok(back("error=no_edge_agent")),
        Err(AppError::Invalid { .. }) => Ok(back("error=print")),
        Err(AppError::Unavailable(_)) => Ok(back("error=bus_off")),
        Err(e) => Err(e.into()),
    }
}

/// The pick-and-pack list: paid delivery orders waiting at the staff member's location (head
/// office: everywhere), oldest first, with their items; and the batch-shipping upload.
async fn pick_list(
    State(state): State<AppState>,
    ctx: Ctx,
    Staff(staff): Staff,
) -> WebResult<Response> {
    pick_list_page(&state, &ctx, &staff, &[], None).await
}

async fn pick_list_page(
    state: &AppState,
    ctx: &Ctx,
    staff: &StaffActor,
    errors: &[LineError],
    shipped: Option<usize>,
) -> WebResult<Response> {
    staff.require(&[Role::HeadOfficeAdmin, Role::StoreManager])?;
    let ids = storage::delivery::to_ship(&state.store, scope(staff).as_deref()).await?;
    let mut orders = Vec::with_capacity(ids.len());
    for id in ids {
        let order = storage::orders::get(&state.store, id).await?;
        let slot = storage::delivery::order_delivery(&state.store, id)
            .await?
            .map(|d| d.slot)
            .unwrap_or_default();
        orders.push((order, slot));
    }
    let body = html! {
        @if let Some(n) = shipped { div.notice.ok role="status" #shipments-ok { (ctx.t("已发货 ", "Shipped ")) (n) (ctx.t(" 单。", " orders.")) } }
        @if !errors.is_empty() {
            div.notice.err role="alert" #shipment-errors {
                b { (ctx.t("文件有错误，未发货任何订单：", "The file has errors; nothing was shipped:")) }
                ul { @for e in errors { li data-line=(e.line) { (ctx.t("第 ", "Line ")) (e.line) (ctx.t(" 行：", ": ")) (e.message) } } }
            }
        }
        div.card #pick-list {
            b { (ctx.t("拣货打包单", "Pick and pack")) " (" (orders.len()) ")" }
            @if orders.is_empty() { p.muted { (ctx.t("没有待发货的配送订单。", "No delivery orders waiting to ship.")) } }
            @for (o, slot) in &orders {
                div.pick data-order=(o.id) {
                    div.spread { a href={ "/console/orders/" (o.id) "/delivery" } { b { (o.order_no) } }
                        span.muted { (o.location_id) @if !slot.is_empty() { " · " (slot) } " · " (when(o.created_at.timestamp_millis())) } }
                    ul { @for l in &o.lines { li { (l.name) " × " (l.qty) } } }
                }
            }
        }
        form.card #shipments-form method="post" action="/console/delivery" enctype="multipart/form-data" {
            b { (ctx.t("批量发货（CSV）", "Batch shipping (CSV)")) }
            p.muted { (ctx.t("列：order_id,carrier,waybill。有任何一行出错则整份文件都不发货。", "Columns: order_id,carrier,waybill. A file with any bad line ships nothing.")) }
            (ctx.csrf_field())
            input type="file" name="file" accept=".csv,text/csv";
            button.btn #upload-shipments type="submit" { (ctx.t("上传并发货", "Upload and ship")) }
        }
    };
    Ok(console_page(
        ctx,
        staff,
        ctx.t("配送发货", "Delivery"),
        body,
    ))
}

async fn upload_shipments(
    State(state): State<AppState>,
    ctx: Ctx,
    Staff(staff): Staff,
    axum::Extension(sid): axum::Extension<Sid>,
    request: Request,
) -> WebResult<Response> {
    let bad = || {
        WebError::App(AppError::bad_request(
            "invalid_form",
            "the upload could not be read",
        ))
    };
    let mut multipart = Multipart::from_request(request, &state)
        .await
        .map_err(|_| bad())?;
    let mut csrf = None;
    let mut file: Option<Bytes> = None;
    while let Some(part) = multipart.next_field().await.map_err(|_| bad())? {
        match part.name() {
            Some("_csrf") => csrf = Some(part.text().await.map_err(|_| bad())?),
            Some("file") => file = Some(part.bytes().await.map_err(|_| bad())?),
            _ => {}
        }
    }
    check_csrf(&state, &sid.0, csrf.as_deref())?;
    let file = file.unwrap_or_default();
    if file.len() > MAX_SHIPMENTS_BYTES {
        let message = ctx
            .t("文件超过 1 MiB", "The file is larger than 1 MiB")
            .into();
        return pick_list_page(
            &state,
            &ctx,
            &staff,
            &[LineError { line: 0, message }],
            None,
        )
        .await;
    }
    match delivery_app::ship_batch(&state, &staff, &file).await? {
        Ok(shipped) => pick_list_page(&state, &ctx, &staff, &[], Some(shipped.len())).await,
        Err(errors) => pick_list_page(&state, &ctx, &staff, &errors, None).await,
    }
}

/// Head office's delivery regions: province or city, fulfilling warehouse, fee and free-over
/// threshold.
async fn regions(
    State(state): State<AppState>,
    ctx: Ctx,
    Staff(staff): Staff,
    Query(n): Query<NoticeParams>,
) -> WebResult<Response> {
    staff.require(&[Role::HeadOfficeAdmin])?;
    let regions = storage::delivery::regions(&state.store).await?;
    let stores = storage::delivery::stores_on_map(&state.store).await?;
    let degrees = |e6: Option<i64>| {
        e6.map(|v| format!("{:.6}", v as f64 / 1e6))
            .unwrap_or_default()
    };
    let warehouses: Vec<_> = storage::locations::list(&state.store)
        .await?
        .into_iter()
        .filter(|l| l.kind == "warehouse")
        .collect();
    let body = html! {
        @if n.done.as_deref() == Some("position") { div.notice.ok role="status" #position-saved { (ctx.t("门店坐标已保存。", "Store position saved.")) } }
        @else if n.done.is_some() { div.notice.ok role="status" { (ctx.t("配送区域已保存。", "Delivery region saved.")) } }
        @if let Some(e) = &n.error { div.notice.err role="alert" #region-error { (match e.as_str() {
            "region_exists" => ctx.t("该省市已有配送区域。", "This province and city already has a region."),
            "position" => ctx.t("坐标须同时填写纬度（-90 至 90）与经度（-180 至 180），或都留空。", "Give latitude (−90 to 90) and longitude (−180 to 180) together, or leave both empty."),
            _ => ctx.t("请检查省份（必填）、城市、仓库与金额（元，不小于 0）。", "Check the province (required), city, warehouse and amounts (yuan, 0 or more)."),
        }) } }
        div.card { div.table-wrap { table #regions {
            tr { th { (ctx.t("省份", "Province")) } th { (ctx.t("城市", "City")) } th { (ctx.t("发货仓", "Warehouse")) } th.num { (ctx.t("运费", "Fee")) } th.num { (ctx.t("满额包邮", "Free from")) } }
            @for r in &regions { tr data-region=(r.id) { td { (r.province) } td { (r.city) } td { (r.warehouse_id) } td.num { (yuan(r.fee_fen)) }
                td.num { @match r.free_over_fen { Some(f) => (yuan(f)), None => "—" } } } }
        } } }
        form.card #region-form method="post" action="/console/delivery/regions" {
            b { (ctx.t("新增或修改配送区域（同省市即修改）", "Add or change a region (the same province and city changes it)")) }
            (ctx.csrf_field())
            div.row {
                input name="province" placeholder=(ctx.t("省份，如 浙江", "Province, e.g. 浙江")) style="max-width:140px";
                input name="city" placeholder=(ctx.t("城市（空：全省）", "City (empty: whole province)")) style="max-width:180px";
                select name="warehouse_id" { @for w in &warehouses { option value=(w.id) { (w.id) " " (ctx.lang.pick(&w.name_zh, &w.name_en)) } } }
                input name="fee" placeholder=(ctx.t("运费（元）", "Fee (yuan)")) inputmode="decimal" style="max-width:110px";
                input name="free_over" placeholder=(ctx.t("满额包邮（元，可空）", "Free from (yuan, optional)")) inputmode="decimal" style="max-width:170px";
                button.btn #save-region type="submit" { (ctx.t("保存", "Save")) }
            }
        }
        div.card #store-positions {
            b { (ctx.t("门店坐标（同城配送：半径内最近且有货的门店发货）", "Store positions (same-city delivery: the nearest store with stock within the radius ships)")) }
            p.muted { (ctx.t("纬度、经度（WGS-84，度）；都留空则该店不做同城配送。", "Latitude and longitude (WGS-84, degrees); leave both empty and the store does no same-city delivery.")) }
            @for s in &stores {
                form.row method="post" action="/console/delivery/positions" data-store=(s.id) {
                    (ctx.csrf_field())
                    input type="hidden" name="store" value=(s.id);
                    span style="min-width:160px" { (s.id) " " (ctx.lang.pick(&s.name_zh, &s.name_en)) }
                    input name="lat" value=(degrees(s.lat_e6)) placeholder=(ctx.t("纬度", "Latitude")) inputmode="decimal" style="max-width:140px" aria-label=(ctx.t("纬度", "Latitude"));
                    input name="lng" value=(degrees(s.lng_e6)) placeholder=(ctx.t("经度", "Longitude")) inputmode="decimal" style="max-width:140px" aria-label=(ctx.t("经度", "Longitude"));
                    button.btn.secondary type="submit" { (ctx.t("保存", "Save")) }
                }
            }
        }
    };
    Ok(console_page(
        &ctx,
        &staff,
        ctx.t("配送区域与运费", "Delivery regions and fees"),
        body,
    ))
}

#[derive(Debug, Deserialize)]
struct PositionForm {
    store: String,
    #[serde(default)]
    lat: String,
    #[serde(default)]
    lng: String,
}

/// Head office sets (or clears) a store's position, typed in degrees.
async fn save_position(
    State(state): State<AppState>,
    Staff(staff): Staff,
    Form(form): Form<PositionForm>,
) -> WebResult<Response> {
    let (Ok(lat), Ok(lng)) = (
        delivery_app::micro_degrees("lat", &form.lat),
        delivery_app::micro_degrees("lng", &form.lng),
    ) else {
        return Ok(redirect("/console/delivery/regions?error=position"));
    };
    match delivery_app::set_store_position(&state, &staff, form.store.trim(), lat, lng).await {
        Ok(()) => Ok(redirect("/console/delivery/regions?done=position")),
        Err(AppError::Invalid { .. }) => Ok(redirect("/console/delivery/regions?error=position")),
        Err(e) => Err(e.into()),
    }
}

#[derive(Debug, Deserialize)]
struct RegionForm {
    province: String,
    #[serde(default)]
    city: String,
    warehouse_id: String,
    fee: String,
    #[serde(default)]
    free_over: String,
}

/// Yuan as typed (`8`, `8.5`, `8.50`) in fen; `None` when it is not an amount ≥ 0.
fn fen_of(text: &str) -> Option<i64> {
    let m: retail_domain::money::Money = text.trim().parse().ok()?;
    (!m.is_negative()).then(|| m.fen())
}

async fn save_region(
    State(state): State<AppState>,
    Staff(staff): Staff,
    Form(form): Form<RegionForm>,
) -> WebResult<Response> {
    staff.require(&[Role::HeadOfficeAdmin])?;
    let free_over = match form.free_over.trim() {
        "" => Some(None),
        f => fen_of(f).map(Some),
    };
    let (Some(fee_fen), Some(free_over_fen)) = (fen_of(&form.fee), free_over) else {
        return Ok(redirect("/console/delivery/regions?error=invalid"));
    };
    let existing = storage::delivery::regions(&state.store)
        .await?
        .into_iter()
        .find(|r| {
            r.province == delivery_app::place_name(&form.province)
                && r.city == delivery_app::place_name(&form.city)
        });
    let region = Region {
        id: existing.map_or_else(retail_domain::ids::new_id, |r| r.id),
        province: form.province,
        city: form.city,
        warehouse_id: form.warehouse_id,
        fee_fen,
        free_over_fen,
    };
    match delivery_app::save_region(&state, &region, &staff.actor()).await {
        Ok(()) => Ok(redirect("/console/delivery/regions?done=saved")),
        Err(AppError::Conflict { .. }) => {
            Ok(redirect("/console/delivery/regions?error=region_exists"))
        }
        Err(AppError::Invalid { .. }) => Ok(redirect("/console/delivery/regions?error=invalid")),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_are_typed_in_yuan() {
        assert_eq!(fen_of("8"), Some(800));
        assert_eq!(fen_of(" 8.5 "), Some(850));
        assert_eq!(fen_of("99.00"), Some(9900));
        assert_eq!(fen_of("-1"), None);
        assert_eq!(fen_of("abc"), None);
    }
}
