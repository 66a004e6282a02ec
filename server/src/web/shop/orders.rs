//! The shopper's orders: the list by tab (to pay, to ship, to pick up, done, after-sale), an
//! order's page (the pickup code as a QR, the exit pass of a scan-and-go order, the history, a
//! review link per line once the order is completed),
//! paying a pending order through the provider, and cancelling it before payment.
//!
//! Paying: a QR code's page (refreshing until paid); inside WeChat, WeChat's authorisation
//! callback ([`crate::app::wechat_oauth::CALLBACK_PATH`]: state and code checked, the JSAPI
//! payment started) and the JSAPI page (in [`WECHAT_PAY_DIRECTORY`]), whose script (`/static/app.js`) calls
//! `WeixinJSBridge.invoke('getBrandWCPayRequest', …)` with the freshly signed parameters and,
//! once WeChat says paid, waits on the payment's confirmation page until the notification has
//! paid the order.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use maud::html;
use retail_domain::money::Money;
use retail_domain::order::{Fulfilment, OrderStatus};
use retail_payments::Prepay;
use serde::Deserialize;
use uuid::Uuid;

use super::{cart_count, messages_link, require_member, session, WECHAT_PAY_DIRECTORY};
use crate::app::payment_providers::Provider;
use crate::app::wechat_oauth::PaidInWechat;
use crate::app::AppState;
use crate::error::AppError;
use crate::storage;
use crate::storage::paging::{Cursor, PAGE_SIZE};
use crate::storage::web::WebSession;
use crate::web::{
    pager, qr_svg, redirect, shop_page, status_label, when, yuan, Ctx, Form, WebError, WebResult,
};

/// The shopper's order routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/orders", get(orders))
        .route("/orders/{id}", get(order))
        .route("/orders/{id}/pay", post(pay))
        .route("/orders/{id}/pay/{payment}", get(pay_code))
        .route("/orders/{id}/pay/{payment}/done", get(pay_done))
        .route(
            &format!("{WECHAT_PAY_DIRECTORY}{{payment}}"),
            get(wechat_pay_page),
        )
        .route("/orders/{id}/cancel", post(cancel))
        .route(
            crate::app::wechat_oauth::CALLBACK_PATH,
            get(wechat_callback),
        )
}

#[derive(Debug, Deserialize, Default)]
struct OrdersParams {
    tab: Option<String>,
    /// The page's cursor ([`storage::paging::Cursor`]); none on the first page.
    cursor: Option<String>,
}

/// The shop's order tabs and the statuses each shows.
fn tab_statuses(tab: &str) -> Vec<String> {
    let list: &[&str] = match tab {
        "pending" => &["pending_payment"],
        "ship" => &["paid", "shipped"],
        "pickup" => &["ready_for_pickup"],
        "done" => &["delivered", "picked_up", "completed"],
        "after" => &["after_sale", "refunded", "cancelled"],
        _ => &[],
    };
    list.iter().map(|s| (*s).to_owned()).collect()
}

async fn orders(
    State(state): State<AppState>,
    ctx: Ctx,
    Query(p): Query<OrdersParams>,
) -> WebResult<Response> {
    let session = session(&state, &ctx).await?;
    let (_, member) = require_member(session.as_ref(), "/orders")?;
    let tab = p.tab.unwrap_or_default();
    let page = storage::web::orders(
        &state.store,
        &storage::web::OrderQuery {
            member: Some(member),
            statuses: tab_statuses(&tab),
            cursor: Cursor::parse(p.cursor.as_deref())?,
            limit: PAGE_SIZE,
            ..Default::default()
        },
    )
    .await?;
    let rows = &page.items;
    let count = cart_count(&state, session.as_ref()).await?;
    let unread = storage::notices::unread(&state.store, member).await?;
    let tabs = [
        ("", ctx.t("全部", "All")),
        ("pending", ctx.t("待付款", "To pay")),
        ("ship", ctx.t("待发货", "To ship")),
        ("pickup", ctx.t("待自提", "To pick up")),
        ("done", ctx.t("已完成", "Done")),
        ("after", ctx.t("售后/取消", "After-sale")),
    ];
    let body = html! {
        @if unread > 0 { (messages_link(&ctx, unread)) }
        div.chips { @for (k, label) in tabs { a.chip.on[k == tab] href={ "/orders?tab=" (k) } { (label) } } }
        @if rows.is_empty() { div.card { (ctx.t("还没有订单", "No orders yet")) } }
        @for o in rows {
            a.card style="display:block;color:inherit" href={ "/orders/" (o.id) } {
                div.spread { b { (o.order_no) } span class={ "status " (o.status) } { (status_label(ctx.lang, &o.status)) } }
                div.spread { span.muted { (when(o.created_at)) " · " (if o.fulfilment == "pickup" { ctx.t("自提", "Pickup") } else { ctx.t("配送", "Delivery") }) } span.price { (yuan(o.total_fen)) } }
            }
        }
        (pager(&ctx, "/orders", &[("tab", tab.as_str())], "cursor", p.cursor.as_deref(), page.next_cursor.as_deref()))
    };
    Ok(shop_page(&ctx, ctx.t("我的订单", "My orders"), count, body))
}

async fn own_order(
    state: &AppState,
    ctx: &Ctx,
    id: Uuid,
) -> WebResult<(Option<WebSession>, storage::orders::OrderView)> {
    let session = session(state, ctx).await?;
    let (_, member) = require_member(session.as_ref(), &format!("/orders/{id}"))?;
    let order = storage::orders::get(&state.store, id).await?;
    if order.member_id != Some(member) {
        return Err(AppError::not_found("order").into());
    }
    Ok((session, order))
}

#[derive(Debug, Deserialize, Default)]
struct OrderParams {
    pay_error: Option<String>,
}

async fn order(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<Uuid>,
    Query(params): Query<OrderParams>,
) -> WebResult<Response> {
    let (session, order) = own_order(&state, &ctx, id).await?;
    // Paying a pending order: what is left after its balance part, and the member's balance.
    let (paid_fen, balance, has_pin) = if order.status == OrderStatus::PendingPayment {
        let paid: i64 = storage::payments::of_order(&state.store, id)
            .await?
            .iter()
            .filter(|p| p.status == "succeeded")
            .map(|p| p.amount.fen())
            .sum();
        let member = order.member_id.unwrap_or_default();
        (
            paid,
            storage::members::balance_split(&state.store, member).await?,
            crate::app::balance_pay::has_pin(&state, member).await?,
        )
    } else {
        (0, Default::default(), false)
    };
    let left_fen = order.total.fen() - paid_fen;
    let count = cart_count(&state, session.as_ref()).await?;
    let store = state
        .catalog_cache
        .location(&state.store, &order.location_id)
        .await?;
    let pickup_qr = crate::app::orders::pickup_qr(&state.keys, &order);
    let cases = storage::after_sales::of_order(&state.store, order.id).await?;
    let reviewable = crate::app::reviews::reviewable(order.channel, order.status);
    let reviewed: Vec<i64> = if reviewable {
        storage::reviews::of_order(&state.store, order.id)
            .await?
            .iter()
            .map(|r| r.line_no)
            .collect()
    } else {
        Vec::new()
    };
    let (delivery, tracking) = if order.fulfilment == Fulfilment::Delivery {
        (
            storage::delivery::order_delivery(&state.store, order.id).await?,
            storage::delivery::tracking_events(&state.store, order.id).await?,
        )
    } else {
        (None, Vec::new())
    };
    // A group-buy order: its team (held until the team fills).
    let group_team = match storage::group_buys::seat_of_order(&state.store, order.id).await? {
        Some(seat) => storage::group_buys::team(&state.store, seat.team_id).await?,
        None => None,
    };
    // No pickup code while the team has not filled: the order is not released to the store.
    let pickup_qr = pickup_qr.filter(|_| group_team.as_ref().is_none_or(|t| t.status == "filled"));
    // A bargain's order: what the helps took off.
    let bargain_run = storage::bargains::run_of_order(&state.store, order.id).await?;
    // Placed with other sellers' orders in one checkout: paid together there.
    let shared_checkout = if order.status == OrderStatus::PendingPayment {
        crate::app::checkouts::shared_checkout_of(&state, order.id).await?
    } else {
        None
    };
    let body = html! {
        @if let Some(checkout) = shared_checkout {
            div.card #shared-checkout {
                (ctx.t("此订单与其他商家的订单一同结算。", "This order was placed with other sellers' orders."))
                " " a #pay-together href={ "/checkouts/" (checkout) } { (ctx.t("合并支付", "Pay them together")) }
            }
        }
        @if let Some(run) = &bargain_run {
            div.card #bargain-order {
                b { (ctx.t("砍价订单", "Bargain order")) } " · "
                (ctx.t("砍价 ", "Bargain ")) (yuan(run.start_price.fen())) " → " (yuan(run.price.fen()))
                " (" (run.helps) (ctx.t(" 人助力", " helps")) ")"
                " · " a #bargain-link href={ "/bargain/" (run.id) } { (ctx.t("查看砍价", "See the bargain")) }
            }
        }
        @if let Some(team) = &group_team {
            div.card #group-order data-team-status=(team.status) {
                b { (ctx.t("拼团订单", "Group-buy order")) } " · "
                @match team.status.as_str() {
                    "filled" => { (ctx.t("已成团", "team filled")) }
                    "failed" => { (ctx.t("未成团，已取消并原路退款", "team not filled: cancelled and refunded")) }
                    _ => { (ctx.t("还差 ", "")) (team.team_size - team.seats_paid) (ctx.t(" 人成团，成团后发货或备货", " more to pay; fulfilled once the team fills")) }
                }
                " · " a #group-team-link href={ "/group/" (team.id) } { (ctx.t("查看拼团 / 邀请好友", "See the team / invite friends")) }
            }
        }
        div.card {
            div.spread { b { (order.order_no) } span class={ "status " (order.status.as_str()) } { (status_label(ctx.lang, order.status.as_str())) } }
            p.muted {
                @if order.fulfilment == Fulfilment::Pickup { (ctx.t("门店自提：", "Pickup at: ")) }
                @else if order.fulfilment == Fulfilment::Delivery { (ctx.t("配送 · 发货仓：", "Delivery from: ")) }
                @if let Some(s) = &store { (ctx.lang.pick(&s.name_zh, &s.name_en)) " " (s.address) } @else { (order.location_id) }
            }
        }
        @if order.status == OrderStatus::PendingPayment {
            div.card {
                p { (ctx.t("请在 ", "Please pay by ")) @if let Some(e) = order.expires_at { (when(e.timestamp_millis())) } (ctx.t(" 前完成支付", "")) }
                @if let Some(code) = &params.pay_error { div.notice.err role="alert" #pay-error data-track-failure="payment" { (super::balance_error_text(&ctx, code)) } }
                @if paid_fen > 0 {
                    p #paid-by-balance { (ctx.t("已用余额支付 ", "Paid from your balance: ")) (yuan(paid_fen)) (ctx.t("，还需支付 ", "; left to pay: ")) b.price { (yuan(left_fen)) } }
                }
                @if balance.total().fen() > 0 {
                    form #balance-pay method="post" action={ "/orders/" (order.id) "/pay-balance" } style="margin-bottom:8px" {
                        (ctx.csrf_field())
                        input type="hidden" name="id" value=(retail_domain::ids::new_id());
                        p { (ctx.t("余额 ", "Balance ")) b #order-balance { (yuan(balance.total().fen())) }
                            @if !balance.bonus.is_zero() { span.muted { (ctx.t("（含赠送 ", " (bonus ")) (yuan(balance.bonus.fen())) (ctx.t("）", ")")) } } }
                        @if has_pin {
                            div.field { label for="amount" { (ctx.t("余额支付金额", "Amount from the balance")) }
                                input #amount name="amount" inputmode="decimal" value=(Money::from_fen(left_fen.min(balance.total().fen()))); }
                            div.field { label for="pin" { (ctx.t("支付密码", "Payment PIN")) }
                                input #pin name="pin" type="password" inputmode="numeric" maxlength="6" autocomplete="off"; }
                            button.btn.block #pay-balance type="submit" data-track="pay" data-track-provider="balance" { (ctx.t("余额支付", "Pay with balance")) }
                        } @else {
                            a.btn.secondary.block #set-pin href={ "/me/pay-pin?back=/orders/" (order.id) } { (ctx.t("设置支付密码后可用余额支付", "Set a payment PIN to pay with your balance")) }
                        }
                    }
                }
                form method="post" action={ "/orders/" (order.id) "/pay" } {
                    (ctx.csrf_field())
                    @for provider in state.payments.available() {
                        button.btn.block type="submit" name="provider" value=(provider.as_str()) style="margin-bottom:8px"
                            data-track="pay" data-track-provider=(provider.as_str()) {
                            (ctx.t("去支付 ", "Pay ")) (yuan(left_fen)) " · " (provider.label())
                        }
                    }
                    @if state.payments.available().is_empty() {
                        p.muted { (ctx.t("暂不支持在线支付", "Online payment is not available")) }
                    }
                }
                form method="post" action={ "/orders/" (order.id) "/cancel" } style="margin-top:8px" {
                    (ctx.csrf_field())
                    button.btn.secondary.block type="submit" { (ctx.t("取消订单", "Cancel order")) }
                }
            }
        }
        @if matches!(order.status, OrderStatus::Paid | OrderStatus::ReadyForPickup) && order.channel == retail_domain::order::Channel::Online {
            form.card #cancel-paid method="post" action={ "/orders/" (order.id) "/cancel" } {
                (ctx.csrf_field())
                input type="hidden" name="id" value=(retail_domain::ids::new_id());
                p.muted { (ctx.t("订单尚未发货或自提，可取消并原路退款。", "Not shipped or collected yet: you can cancel it and be refunded the way you paid.")) }
                button.btn.secondary.block type="submit" { (ctx.t("取消订单并退款", "Cancel and refund")) }
            }
        }
        @if !crate::app::after_sales::kinds_open(order.status).is_empty() {
            div.card.center { a.btn.secondary.block #ask-after-sale href={ "/orders/" (order.id) "/after-sale" } { (ctx.t("申请售后", "Return, refund or exchange")) } }
        }
        @if !cases.is_empty() {
            div.card #order-after-sales {
                b { (ctx.t("售后", "After-sales")) }
                @for c in &cases {
                    a.spread style="color:inherit" href={ "/after-sales/" (c.id) } {
                        span { (crate::web::after_sale_text::kind_label(ctx.lang, c.kind)) } span.muted { (crate::web::after_sale_text::status_label(ctx.lang, c.status)) }
                    }
                }
            }
        }
        @if order.channel == retail_domain::order::Channel::ScanAndGo && matches!(order.status, OrderStatus::Paid | OrderStatus::Completed) {
            div.card.center { a.btn.block #show-exit-pass href="/scan/pass" { (ctx.t("出示出场码", "Show the exit pass")) } }
        }
        @if let Some(qr) = &pickup_qr {
            div.card.center {
                b { (ctx.t("取货码", "Pickup code")) }
                div { div.qr { (qr_svg(qr)) } }
                p style="font-size:26px;letter-spacing:4px;margin:4px 0" data-pickup-code { (order.pickup_code.as_deref().unwrap_or("")) }
                p.muted { @if order.status == OrderStatus::ReadyForPickup { (ctx.t("商品已备好，请到店出示此码。", "Your order is ready: show this code at the store.")) } @else { (ctx.t("门店备货中，备好后即可取货。", "The store is preparing your order.")) } }
            }
        }
        div.card {
            @for l in &order.lines {
                div.spread { span { (l.name) " × " (l.qty) } span { (yuan(l.amount.fen())) } }
                @if reviewable {
                    div style="text-align:right;margin:-2px 0 6px" {
                        a.review-link id={ "review-line-" (l.line_no) } href={ "/orders/" (order.id) "/review?line=" (l.line_no) } {
                            @if reviewed.contains(&l.line_no) { (ctx.t("查看评价", "Your review")) } @else { (ctx.t("评价", "Review")) }
                        }
                    }
                }
            }
            @if order.discount.fen() != 0 { div.spread { span { (ctx.t("优惠", "Discount")) } span { "-" (yuan(order.discount.fen())) } } }
            @if let Some(d) = &delivery { div.spread #order-shipping { span { (ctx.t("运费", "Shipping")) } span { (yuan(d.shipping_fen)) } } }
            div.spread { b { (ctx.t("实付", "Total")) } b.price { (yuan(order.total.fen())) } }
            @if order.points_earned > 0 { p.muted { (ctx.t("获得积分 ", "Points earned ")) (order.points_earned) } }
        }
        @if let Some(d) = &delivery {
            @if d.waybill.is_some() || !d.slot.is_empty() || !tracking.is_empty() {
                (super::tracking_timeline(&ctx, d, &tracking))
            }
        }
        div.card {
            b { (ctx.t("订单记录", "History")) }
            @for e in &order.events {
                div.spread.muted { span { (status_label(ctx.lang, e.to.as_str())) } span { (when(e.at.timestamp_millis())) } }
            }
        }
    };
    Ok(shop_page(&ctx, ctx.t("订单详情", "Order"), count, body))
}

async fn pay(
    client: crate::actor::ClientAddr,
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<Uuid>,
    Form(form): Form<HashMap<String, String>>,
) -> WebResult<Response> {
    let (_, order) = own_order(&state, &ctx, id).await?;
    if order.status != OrderStatus::PendingPayment {
        return Ok(redirect(&format!("/orders/{id}")));
    }
    super::start_payment(&state, &client, &ctx, order.id, form.get("provider")).await
}

/// An order waiting for payment, with the shopper's session and the payment.
type PendingPayment = (
    Option<WebSession>,
    storage::orders::OrderView,
    storage::payments::PaymentView,
);

/// The shopper's order `id` and its payment `payment_id` while both wait for payment (with the
/// session); once either has settled, a redirect to the order's page. Another
/// member's order, or a payment of another order, is not found.
async fn pending_payment(
    state: &AppState,
    ctx: &Ctx,
    id: Uuid,
    payment_id: Uuid,
) -> WebResult<PendingPayment> {
    let (session, order) = own_order(state, ctx, id).await?;
    let payment = storage::payments::get(&state.store, payment_id).await?;
    if payment.order_id != order.id {
        return Err(AppError::not_found("no such payment").into());
    }
    if payment.status != "pending" || order.status != OrderStatus::PendingPayment {
        return Err(WebError::Redirect(format!("/orders/{id}")));
    }
    Ok((session, order, payment))
}

/// A pending payment's QR code, for the shopper to scan with the provider's app; the page looks
/// again every few seconds and goes back to the order once it is paid. A WeChat Pay payment with
/// no QR code is paid in WeChat: its JSAPI page.
async fn pay_code(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((id, payment_id)): Path<(Uuid, Uuid)>,
) -> WebResult<Response> {
    let (session, order, payment) = pending_payment(&state, &ctx, id, payment_id).await?;
    let count = cart_count(&state, session.as_ref()).await?;
    let provider = Provider::of_method_name(&payment.method);
    let code_url = match storage::payments::prepay(
        &state.store,
        storage::payments::Payable::Payment,
        payment_id,
    )
    .await?
    .and_then(|kept| serde_json::from_str::<Prepay>(&kept).ok())
    {
        Some(Prepay::QrCode { code_url }) => code_url,
        None if provider == Some(Provider::WechatPay) => {
            return Ok(redirect(&format!("{WECHAT_PAY_DIRECTORY}{payment_id}")))
        }
        _ => return Err(AppError::not_found("this payment has no QR code").into()),
    };
    let body = html! {
        meta http-equiv="refresh" content="3";
        div.card.center {
            b { @if let Some(p) = provider { (p.label()) } }
            p { (ctx.t("请用手机扫码支付 ", "Scan to pay ")) b.price { (yuan(payment.amount.fen())) } }
            div.qr data-pay-code=(code_url) { (qr_svg(&code_url)) }
            p.muted { (order.order_no) }
            a.btn.secondary.block href={ "/orders/" (order.id) } { (ctx.t("返回订单", "Back to the order")) }
        }
    };
    Ok(shop_page(
        &ctx,
        ctx.t("扫码支付", "Scan to pay"),
        count,
        body,
    ))
}

/// A pending WeChat Pay payment paid inside WeChat (JSAPI), for the openid WeChat gave this
/// session: the in-app parameters signed afresh for this visit (the same prepay, asked again),
/// handed by the page's script to `WeixinJSBridge`.
async fn wechat_pay_page(
    client: crate::actor::ClientAddr,
    State(state): State<AppState>,
    ctx: Ctx,
    Path(payment_id): Path<Uuid>,
) -> WebResult<Response> {
    let Some(paid) = storage::payments::find(&state.store, payment_id).await? else {
        // Not an order's payment: a member's recharge paid in WeChat.
        return super::recharge_wechat_page(&state, &client, &ctx, payment_id).await;
    };
    let order_id = paid.order_id;
    let (session, order, payment) = pending_payment(&state, &ctx, order_id, payment_id).await?;
    let openid = match &session {
        Some(s) if Provider::of_method_name(&payment.method) == Some(Provider::WechatPay) => {
            crate::app::wechat_oauth::session_openid(&state, s.id).await?
        }
        _ => None,
    }
    .ok_or_else(|| AppError::not_found("this payment is not paid in WeChat"))?;
    let started = crate::app::payments::start_order_payment(
        &state,
        &client,
        payment.id,
        order.id,
        Provider::WechatPay,
        &crate::app::payments::PayScene::WechatJsapi { openid },
    )
    .await?;
    let Prepay::InApp { params } = started.prepay else {
        return Err(AppError::not_found("this payment is not paid in WeChat").into());
    };
    let count = cart_count(&state, session.as_ref()).await?;
    let done = format!("/orders/{}/pay/{}/done", order.id, payment.id);
    Ok(super::wechat_pay_card(
        &ctx,
        count,
        &params,
        &done,
        payment.amount,
        &order.order_no,
        &format!("/orders/{}", order.id),
    ))
}

/// Where the JSAPI page goes once WeChat says the shopper paid: WeChat's word in the browser is
/// not a payment, so this page looks again every two seconds until the provider's notification
/// (or the settler's query) has settled the payment, then goes back to the order.
async fn pay_done(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((id, payment_id)): Path<(Uuid, Uuid)>,
) -> WebResult<Response> {
    let (session, order, payment) = pending_payment(&state, &ctx, id, payment_id).await?;
    let count = cart_count(&state, session.as_ref()).await?;
    let body = html! {
        meta http-equiv="refresh" content="2";
        div.card.center #pay-confirming {
            p { (ctx.t("正在确认支付结果…", "Confirming the payment…")) }
            p.muted { (order.order_no) " · " (yuan(payment.amount.fen())) }
            a.btn.secondary.block href={ "/orders/" (order.id) } { (ctx.t("返回订单", "Back to the order")) }
        }
    };
    Ok(shop_page(
        &ctx,
        ctx.t("确认支付", "Confirming"),
        count,
        body,
    ))
}

#[derive(Debug, Deserialize)]
struct WechatCallback {
    code: Option<String>,
    state: Option<String>,
}

/// WeChat's authorisation sends the browser back here with `code` and `state`: the state must be
/// this session's and unused, the code is exchanged for the shopper's openid, and the order's
/// JSAPI payment is started. Any failure is a page saying what to do; no payment is started.
async fn wechat_callback(
    client: crate::actor::ClientAddr,
    State(state): State<AppState>,
    ctx: Ctx,
    Query(callback): Query<WechatCallback>,
) -> WebResult<Response> {
    let session = session(&state, &ctx).await?;
    let authorised = crate::app::wechat_oauth::finish(
        &state,
        session.as_ref().map(|s| s.id),
        callback.state.as_deref(),
        callback.code.as_deref(),
    )
    .await?;
    let order_id = match authorised.target {
        PaidInWechat::Order(order_id) => order_id,
        PaidInWechat::Recharge(recharge_id) => {
            let (_, member) = require_member(session.as_ref(), "/me/balance")?;
            return super::recharge_in_wechat(&state, member, recharge_id).await;
        }
    };
    let (_, order) = own_order(&state, &ctx, order_id).await?;
    if order.status != OrderStatus::PendingPayment {
        return Ok(redirect(&format!("/orders/{}", order.id)));
    }
    super::pay_in_wechat(&state, &client, order.id, authorised.openid).await
}

async fn cancel(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<Uuid>,
    Form(form): Form<HashMap<String, String>>,
) -> WebResult<Response> {
    let (session, order) = own_order(&state, &ctx, id).await?;
    if matches!(
        order.status,
        OrderStatus::Paid | OrderStatus::ReadyForPickup
    ) {
        // A paid order not yet shipped or collected: an after-sale case of kind `cancel`,
        // refunded at once unless the rules want the store's review.
        let case_id = form
            .get("id")
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| AppError::field("id", "missing"))?;
        let member = session
            .as_ref()
            .and_then(|s| s.member_id)
            .unwrap_or_default();
        return match crate::app::after_sales::cancel_order(
            &state,
            &format!("member:{member}"),
            id,
            case_id,
        )
        .await
        {
            Ok(Some(case)) => Ok(redirect(&format!("/after-sales/{}", case.id))),
            Ok(None) => Ok(redirect(&format!("/orders/{id}"))),
            Err(AppError::Conflict { .. }) => Ok(redirect(&format!("/orders/{id}"))),
            Err(e) => Err(e.into()),
        };
    }
    if order.status == OrderStatus::PendingPayment {
        crate::app::orders::change_status_from(
            &state.store,
            id,
            Some(OrderStatus::PendingPayment),
            OrderStatus::Cancelled,
            "shopper",
            "cancelled by the shopper",
        )
        .await?;
    }
    Ok(redirect(&format!("/orders/{id}")))
}
