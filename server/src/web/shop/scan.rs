//! Scan-and-go on the shopper's phone: start a session by the store code at the entrance
//! (`ST1.<store>`, typed or scanned) or by picking the store; add items by scanning barcodes
//! with the camera where the browser has `BarcodeDetector`, or by typing the code; the basket is
//! priced for that store — a label printed by the fresh counter's label scale (a price label of
//! the chain's variable-measure layouts) is a line of its own at its printed price, as at the
//! lanes; pay through the provider; the exit pass (`EX1`, signed with the
//! server's Ed25519 key, verified offline by the gate) is shown full-screen.

use axum::extract::{Query, State};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use maud::html;
use retail_domain::codes::{parse_store_code, validate_store};
use retail_domain::order::OrderStatus;
use serde::Deserialize;
use uuid::Uuid;

use super::basket::engine_total;
use super::{cart_count, ensure_session, require_member, session};
use crate::app::AppState;
use crate::error::AppError;
use crate::storage;
use crate::storage::web::ScanSession;
use crate::web::{
    html_response, qr_svg, redirect, shop_page, yuan, Ctx, Form, WebError, WebResult,
};

/// How long an exit pass is valid after it is shown (the gate also accepts it once only).
const EXIT_PASS_TTL_SECS: i64 = 15 * 60;

/// Scan-and-go routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/scan", get(scan_page))
        .route("/scan/start", post(start))
        .route("/scan/add", post(add))
        .route("/scan/update", post(update))
        .route("/scan/label/remove", post(remove_label))
        .route("/scan/pay", post(pay))
        .route("/scan/pass", get(pass))
}

#[derive(Debug, Deserialize, Default)]
struct ScanParams {
    store: Option<String>,
    error: Option<String>,
}

async fn current(state: &AppState, ctx: &Ctx) -> WebResult<(Uuid, Uuid, Option<ScanSession>)> {
    let session = session(state, ctx).await?;
    let (web, member) = require_member(session.as_ref(), "/scan")?;
    let scan = storage::web::scan_current(&state.store, web).await?;
    Ok((web, member, scan))
}

async fn scan_page(
    State(state): State<AppState>,
    ctx: Ctx,
    Query(p): Query<ScanParams>,
) -> WebResult<Response> {
    let (web, member, scan) = current(&state, &ctx).await?;
    let balance = storage::members::balance_split(&state.store, member).await?;
    let count = cart_count(
        &state,
        Some(&storage::web::WebSession {
            id: web,
            member_id: None,
            pickup_store: None,
        }),
    )
    .await?;
    let error = p.error.as_deref().map(|e| match e {
        "store" => ctx.t("不是有效的门店码。", "Not a valid store code."),
        "code" => ctx.t("没有找到这个条码的商品。", "No item with this code."),
        "label" => ctx.t(
            "这张秤签无法使用（商品不在售或不是价格签）。",
            "This scale label cannot be used (item not on sale here, or not a price label).",
        ),
        "empty" => ctx.t("购物袋是空的。", "Your basket is empty."),
        "stock" => ctx.t(
            "门店库存不足，请联系店员。",
            "Not enough stock in the store; ask a member of staff.",
        ),
        _ => ctx.t("操作未完成。", "That did not work."),
    });
    let Some(scan) = scan else {
        let stores = state.catalog_cache.stores(&state.store).await?;
        let body = html! {
            @if let Some(e) = error { div.notice.err role="alert" { (e) } }
            div.card {
                p { (ctx.t("扫描门店入口的门店码开始扫码购，或直接选择门店。", "Scan the store code at the entrance to start, or pick the store.")) }
                form method="post" action="/scan/start" {
                    (ctx.csrf_field())
                    div.field { label for="store_code" { (ctx.t("门店码", "Store code")) }
                        input #store_code name="store_code" placeholder="ST1.SH001" value=(p.store.as_deref().unwrap_or("")); }
                    button.btn.block type="submit" { (ctx.t("开始", "Start")) }
                }
            }
            div.card {
                b { (ctx.t("选择门店", "Pick the store")) }
                @for l in &stores {
                    form.spread method="post" action="/scan/start" style="padding:6px 0;border-bottom:1px solid #eee" {
                        (ctx.csrf_field())
                        input type="hidden" name="store" value=(l.id);
                        span { (ctx.lang.pick(&l.name_zh, &l.name_en)) br; span.muted { (l.address) } }
                        button.btn.secondary type="submit" { (ctx.t("在这里", "I'm here")) }
                    }
                }
            }
        };
        return Ok(shop_page(&ctx, ctx.t("扫码购", "Scan & Go"), count, body));
    };
    if scan.status == "paid" {
        return Ok(redirect("/scan/pass"));
    }
    let location = state
        .catalog_cache
        .location(&state.store, &scan.location_id)
        .await?
        .ok_or_else(|| AppError::not_found("store"))?;
    let lines = storage::web::scan_lines(&state.store, scan.id).await?;
    let labels = storage::scales::scan_labels(&state.store, scan.id).await?;
    let mut ids: Vec<Uuid> = lines.iter().map(|l| l.0).collect();
    ids.extend(labels.iter().map(|l| l.sku_id));
    let prices = state
        .catalog_cache
        .sku_prices(&state.store, &scan.location_id, &ids)
        .await?;
    let facts = storage::web::sku_facts(&state.store, &ids).await?;
    let priceable: Vec<(Uuid, i64)> = lines
        .iter()
        .filter(|(sku, _)| prices.contains_key(sku))
        .copied()
        .collect();
    let priced = if labels.is_empty() {
        engine_total(&state, &scan.location_id, Some(member), priceable).await
    } else {
        labelled_total(&state, &scan.location_id, member, priceable, &labels).await
    };
    let items: i64 = lines.iter().map(|l| l.1).sum::<i64>() + labels.len() as i64;
    let empty = lines.is_empty() && labels.is_empty();
    let body = html! {
        @if let Some(e) = error { div.notice.err role="alert" { (e) } }
        div.card.spread {
            span { b { (ctx.lang.pick(&location.name_zh, &location.name_en)) } br; span.muted { (ctx.t("扫码购进行中", "Scan & Go in progress")) } }
            form method="post" action="/scan/start" { (ctx.csrf_field()) input type="hidden" name="end" value="1"; button.link type="submit" { (ctx.t("结束", "End")) } }
        }
        @if scan.status == "checkout" {
            @if let Some(order) = scan.order_id {
                div.notice { (ctx.t("订单已生成，等待支付。", "Your order is waiting for payment.")) " " a href={ "/orders/" (order) } { (ctx.t("查看订单", "View order")) } }
            }
        }
        div.card {
            form #scan-form method="post" action="/scan/add" {
                (ctx.csrf_field())
                video #scan-video hidden playsinline muted style="width:100%;border-radius:8px"
                    data-scan-form="scan-form" data-scan-input="code" data-scan-formats="ean_13 ean_8 upc_a code_128 qr_code" {}
                div.field { label for="code" { (ctx.t("扫描或输入商品条码", "Scan or type the barcode")) }
                    input #code name="code" inputmode="numeric" autocomplete="off" autofocus; }
                button.btn.block type="submit" { (ctx.t("加入", "Add")) }
            }
        }
        @for (sku, qty) in &lines {
            @if let Some(f) = facts.get(sku) {
                form.card method="post" action="/scan/update" {
                    (ctx.csrf_field())
                    input type="hidden" name="sku" value=(sku);
                    div.spread { span { (ctx.lang.pick(&f.name_zh, &f.name_en)) " " span.muted { (ctx.lang.pick(&f.spec_zh, &f.spec_en)) } }
                        @if let Some(p) = prices.get(sku) { span.price { (yuan(p.price_fen)) } } }
                    div.row {
                        input.qty type="number" name="qty" value=(qty) min="0" max="99" aria-label=(ctx.t("数量", "Quantity"));
                        button.btn.secondary type="submit" { (ctx.t("更新", "Update")) }
                    }
                }
            }
        }
        @for label in &labels {
            @if let Some(f) = facts.get(&label.sku_id) {
                form.card method="post" action="/scan/label/remove" {
                    (ctx.csrf_field())
                    input type="hidden" name="code" value=(label.code);
                    div.spread { span { (ctx.lang.pick(&f.name_zh, &f.name_en)) " " span.muted { (ctx.t("秤签", "scale label")) @if label.grams > 0 { " " (format!("{}.{:03} kg", label.grams / 1000, label.grams % 1000)) } } }
                        span.price { (yuan(label.price_fen)) } }
                    div.row { span.muted { (label.code) } button.btn.secondary type="submit" { (ctx.t("移除", "Remove")) } }
                }
            }
        }
        div.card.spread {
            span { (items) (ctx.t(" 件 · 合计 ", " items · total ")) b.price #scan-total { (priced.as_ref().map(|b| yuan(b.amount_due.fen())).unwrap_or_default()) } }
            form method="post" action="/scan/pay" {
                (ctx.csrf_field())
                button.btn type="submit" disabled[empty] { (ctx.t("去支付", "Pay")) }
                @if balance.total().fen() > 0 {
                    " " button.btn.secondary #scan-pay-balance type="submit" name="provider" value="stored_balance" disabled[empty] { (ctx.t("余额支付", "Pay with balance")) }
                }
            }
        }
    };
    Ok(shop_page(&ctx, ctx.t("扫码购", "Scan & Go"), count, body))
}

#[derive(Debug, Deserialize, Default)]
struct StartForm {
    store: Option<String>,
    store_code: Option<String>,
    end: Option<String>,
}

async fn start(
    State(state): State<AppState>,
    ctx: Ctx,
    Form(f): Form<StartForm>,
) -> WebResult<Response> {
    let session = ensure_session(&state, &ctx).await?;
    let (web, member) = require_member(Some(&session), "/scan")?;
    if f.end.is_some() {
        if let Some(scan) = storage::web::scan_current(&state.store, web).await? {
            storage::web::scan_set_order(&state.store, scan.id, scan.order_id, "closed").await?;
        }
        return Ok(redirect("/scan"));
    }
    let typed = f
        .store_code
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty());
    let store = match (typed, f.store.as_deref()) {
        (Some(code), _) if code.starts_with("ST") => parse_store_code(code).ok().map(|c| c.store),
        (Some(code), _) => validate_store(code).ok().map(|()| code.to_owned()),
        (None, Some(store)) => validate_store(store).ok().map(|()| store.to_owned()),
        (None, None) => None,
    };
    let Some(store) = store else {
        return Ok(redirect("/scan?error=store"));
    };
    match state.catalog_cache.location(&state.store, &store).await? {
        Some(l) if l.kind == "store" => {}
        _ => return Ok(redirect("/scan?error=store")),
    }
    storage::web::scan_start(
        &state.store,
        retail_domain::ids::new_id(),
        web,
        &store,
        Some(member),
    )
    .await?;
    Ok(redirect("/scan"))
}

#[derive(Debug, Deserialize, Default)]
struct AddForm {
    code: Option<String>,
}

async fn open_scan(state: &AppState, ctx: &Ctx) -> WebResult<ScanSession> {
    match current(state, ctx).await? {
        (_, _, Some(scan)) if scan.status == "open" || scan.status == "checkout" => Ok(scan),
        _ => Err(WebError::Redirect("/scan".into())),
    }
}

async fn add(
    State(state): State<AppState>,
    ctx: Ctx,
    Form(f): Form<AddForm>,
) -> WebResult<Response> {
    let scan = open_scan(&state, &ctx).await?;
    let code = f.code.unwrap_or_default().trim().to_owned();
    if code.is_empty()
        || code.len() > 64
        || !code.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    {
        return Ok(redirect("/scan?error=code"));
    }
    // A scale's price label: a line of its own at the printed price.
    match crate::app::scales::read_scan_label(&state, &scan.location_id, &code).await {
        Ok(Some(label)) => {
            return match storage::scales::scan_label_add(&state.store, scan.id, &label, 50).await {
                Ok(()) => Ok(redirect("/scan")),
                Err(AppError::Conflict { .. }) => Ok(redirect("/scan?error=label")),
                Err(e) => Err(e.into()),
            };
        }
        Ok(None) => {}
        Err(AppError::Invalid { .. }) => return Ok(redirect("/scan?error=label")),
        Err(e) => return Err(e.into()),
    }
    let Some(sku) = storage::web::sku_by_code(&state.store, &code).await? else {
        return Ok(redirect("/scan?error=code"));
    };
    let prices = state
        .catalog_cache
        .sku_prices(&state.store, &scan.location_id, &[sku])
        .await?;
    if !prices.get(&sku).is_some_and(|p| p.on_shelf && !p.weighed) {
        return Ok(redirect("/scan?error=code"));
    }
    storage::web::scan_add(
        &state.store,
        scan.id,
        sku,
        1,
        state.settings.orders.max_line_qty,
    )
    .await?;
    Ok(redirect("/scan"))
}

#[derive(Debug, Deserialize, Default)]
struct RemoveLabelForm {
    code: Option<String>,
}

async fn remove_label(
    State(state): State<AppState>,
    ctx: Ctx,
    Form(f): Form<RemoveLabelForm>,
) -> WebResult<Response> {
    let scan = open_scan(&state, &ctx).await?;
    if let Some(code) = f.code.as_deref().map(str::trim).filter(|c| c.len() <= 64) {
        storage::scales::scan_label_remove(&state.store, scan.id, code).await?;
    }
    Ok(redirect("/scan"))
}

/// The basket's total with its scale labels at their printed prices (the engine's labelled
/// lines, as checkout prices them).
async fn labelled_total(
    state: &AppState,
    location: &str,
    member: Uuid,
    lines: Vec<(Uuid, i64)>,
    labels: &[storage::scales::ScanLabel],
) -> Option<retail_domain::pricing::PricedBasket> {
    let mut all = lines;
    let mut label_prices = std::collections::HashMap::new();
    for label in labels {
        label_prices.insert(
            all.len(),
            retail_domain::money::Money::from_fen(label.price_fen),
        );
        all.push((label.sku_id, 1));
    }
    let request = crate::app::pricing::BasketRequest {
        location: location.to_owned(),
        channel: crate::app::pricing::Channel::Online,
        member_id: Some(member),
        lines: all,
        label_prices,
        coupons: Vec::new(),
        points_to_redeem: 0,
    };
    crate::app::pricing::quote(state, &request)
        .await
        .ok()
        .map(|q| q.basket)
}

#[derive(Debug, Deserialize, Default)]
struct UpdateForm {
    sku: Option<Uuid>,
    qty: Option<String>,
}

async fn update(
    State(state): State<AppState>,
    ctx: Ctx,
    Form(f): Form<UpdateForm>,
) -> WebResult<Response> {
    let scan = open_scan(&state, &ctx).await?;
    let qty = f
        .qty
        .as_deref()
        .unwrap_or("")
        .trim()
        .parse::<i64>()
        .ok()
        .filter(|q| (0..=state.settings.orders.max_line_qty).contains(q));
    let (Some(sku), Some(qty)) = (f.sku, qty) else {
        return Ok(redirect("/scan?error=qty"));
    };
    storage::web::scan_set(&state.store, scan.id, sku, qty).await?;
    Ok(redirect("/scan"))
}

async fn pay(
    client: crate::actor::ClientAddr,
    State(state): State<AppState>,
    ctx: Ctx,
    Form(form): Form<std::collections::HashMap<String, String>>,
) -> WebResult<Response> {
    let scan = open_scan(&state, &ctx).await?;
    let (_, member, _) = current(&state, &ctx).await?;
    // A basket already turned into an order that still waits for payment: pay that one.
    if let Some(order_id) = scan.order_id {
        let order = storage::orders::get(&state.store, order_id).await?;
        if order.status == OrderStatus::PendingPayment {
            return pay_order(&state, &client, &ctx, order_id, form.get("provider")).await;
        }
    }
    let lines = storage::web::scan_lines(&state.store, scan.id).await?;
    let labels: Vec<crate::app::checkout::LabelLine> =
        storage::scales::scan_labels(&state.store, scan.id)
            .await?
            .into_iter()
            .map(|l| crate::app::checkout::LabelLine {
                sku: l.sku_id,
                price: retail_domain::money::Money::from_fen(l.price_fen),
                grams: l.grams,
                note: if l.grams > 0 {
                    format!("{}.{:03} kg", l.grams / 1000, l.grams % 1000)
                } else {
                    String::new()
                },
            })
            .collect();
    if lines.is_empty() && labels.is_empty() {
        return Ok(redirect("/scan?error=empty"));
    }
    let placed = match crate::app::checkout::place_scan_and_go_labelled(
        &state,
        client,
        retail_domain::ids::new_id(),
        &scan.location_id,
        &lines,
        &labels,
        Some(member),
    )
    .await
    {
        Ok(p) => p,
        Err(AppError::Conflict { .. }) => return Ok(redirect("/scan?error=stock")),
        Err(e) => return Err(e.into()),
    };
    storage::web::scan_set_order(&state.store, scan.id, Some(placed.id), "checkout").await?;
    pay_order(&state, &client, &ctx, placed.id, form.get("provider")).await
}

/// Pays a scan-and-go order: with the stored balance on the order's page (PIN and amount), or
/// through the provider chosen.
async fn pay_order(
    state: &AppState,
    client: &crate::actor::ClientAddr,
    ctx: &Ctx,
    order_id: uuid::Uuid,
    provider: Option<&String>,
) -> WebResult<Response> {
    if provider.map(String::as_str) == Some("stored_balance") {
        return Ok(redirect(&format!("/orders/{order_id}")));
    }
    super::start_payment(state, client, ctx, order_id, provider).await
}

async fn pass(State(state): State<AppState>, ctx: Ctx) -> WebResult<Response> {
    let (_, member, scan) = current(&state, &ctx).await?;
    let Some(scan) = scan else {
        return Ok(redirect("/scan"));
    };
    let Some(order_id) = scan.order_id else {
        return Ok(redirect("/scan"));
    };
    let order = storage::orders::get(&state.store, order_id).await?;
    if order.member_id != Some(member) {
        return Err(AppError::not_found("order").into());
    }
    if order.status == OrderStatus::PendingPayment {
        return Ok(redirect("/scan"));
    }
    if !matches!(order.status, OrderStatus::Paid | OrderStatus::Completed) {
        return Ok(redirect(&format!("/orders/{order_id}")));
    }
    if scan.status != "paid" {
        storage::web::scan_set_order(&state.store, scan.id, Some(order_id), "paid").await?;
    }
    let items: i64 = order.lines.iter().map(|l| l.qty).sum();
    let code = crate::app::checkout::exit_pass(&state, scan.id, &order, EXIT_PASS_TTL_SECS).await?;
    Ok(html_response(html! {
        (maud::DOCTYPE)
        html lang=(ctx.lang.code()) {
            head { meta charset="utf-8"; meta name="viewport" content="width=device-width, initial-scale=1";
                title { (ctx.t("出场码", "Exit pass")) } link rel="stylesheet" href="/static/app.css"; }
            body { div.fullscreen #exit-pass {
                h1 { (ctx.t("出场码", "Exit pass")) }
                div.qr { (qr_svg(&code)) }
                p { (items) (ctx.t(" 件 · 已付 ", " items · paid ")) (yuan(order.total.fen())) }
                p.muted style="color:#e6f6ee" { (ctx.t("在出口闸机扫描此码，仅可使用一次。", "Scan this at the exit gate; it works once.")) }
                span hidden data-code-text { (code) }
                a.btn.secondary href={ "/orders/" (order_id) } { (ctx.t("查看订单", "View order")) }
            } }
        }
    }))
}
