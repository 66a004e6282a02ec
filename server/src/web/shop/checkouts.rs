//! A checkout the cart split into one order per merchant ([`crate::app::checkouts`]): the page
//! that lists its orders (each merchant's, with its total and status) and pays what they still
//! owe with one payment, and that payment's QR code page (refreshing until paid).

use std::collections::HashMap;

use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use maud::html;
use retail_payments::Prepay;
use uuid::Uuid;

use super::{cart_count, require_member, session};
use crate::app::checkouts::CheckoutView;
use crate::app::payment_providers::Provider;
use crate::app::AppState;
use crate::error::AppError;
use crate::storage::web::WebSession;
use crate::web::{qr_svg, redirect, shop_page, status_label, yuan, Ctx, Form, WebError, WebResult};

/// The checkout routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/checkouts/{id}", get(checkout))
        .route("/checkouts/{id}/pay", post(pay))
        .route("/checkouts/{id}/pay/{trade}", get(pay_code))
}

/// The shopper's checkout `id` (another member's is not found), with the session.
async fn own_checkout(
    state: &AppState,
    ctx: &Ctx,
    id: Uuid,
) -> WebResult<(Option<WebSession>, CheckoutView)> {
    let session = session(state, ctx).await?;
    let (_, member) = require_member(session.as_ref(), &format!("/checkouts/{id}"))?;
    let view = crate::app::checkouts::view_of(state, id, Some(member)).await?;
    Ok((session, view))
}

async fn checkout(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<Uuid>,
) -> WebResult<Response> {
    let (session, view) = own_checkout(&state, &ctx, id).await?;
    let count = cart_count(&state, session.as_ref()).await?;
    let body = html! {
        div.card #checkout-summary {
            b { (ctx.t("本次结算已按商家拆分为 ", "Your cart was split into ")) (view.orders.len()) (ctx.t(" 个订单", " orders, one per seller")) }
            p.muted { (ctx.t("各商家分别发货、售后；一次支付全部订单。", "Each seller ships and handles after-sales for its own order; one payment pays them all.")) }
        }
        @for o in &view.orders {
            a.card.spread.checkout-order style="display:flex;color:inherit" href={ "/orders/" (o.order_id) } data-order-no=(o.order_no) {
                span {
                    b { (o.merchant_name) } br;
                    span.muted { (o.order_no) }
                }
                span style="text-align:right" {
                    b.price { (yuan(o.total.fen())) } br;
                    span class={ "status " (o.status.as_str()) } { (status_label(ctx.lang, o.status.as_str())) }
                }
            }
        }
        div.card {
            div.spread { span { (ctx.t("合计", "Total")) } b #checkout-total { (yuan(view.total.fen())) } }
            @if view.due.fen() > 0 {
                div.spread { span { (ctx.t("待支付", "To pay")) } b.price #checkout-due { (yuan(view.due.fen())) } }
                form method="post" action={ "/checkouts/" (view.id) "/pay" } style="margin-top:8px" {
                    (ctx.csrf_field())
                    @for provider in state.payments.available() {
                        button.btn.block type="submit" name="provider" value=(provider.as_str()) style="margin-bottom:8px"
                            data-track="pay" data-track-provider=(provider.as_str()) {
                            (ctx.t("合并支付 ", "Pay all ")) (yuan(view.due.fen())) " · " (provider.label())
                        }
                    }
                    @if state.payments.available().is_empty() {
                        p.muted { (ctx.t("暂不支持在线支付", "Online payment is not available")) }
                    }
                }
            } @else {
                p #checkout-settled { (ctx.t("没有待支付的订单。", "Nothing is waiting for payment.")) }
            }
        }
    };
    Ok(shop_page(&ctx, ctx.t("结算", "Checkout"), count, body))
}

async fn pay(
    client: crate::actor::ClientAddr,
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<Uuid>,
    Form(form): Form<HashMap<String, String>>,
) -> WebResult<Response> {
    let (_, view) = own_checkout(&state, &ctx, id).await?;
    if view.due.fen() <= 0 {
        return Ok(redirect(&format!("/checkouts/{id}")));
    }
    let provider = super::chosen_provider(&state, form.get("provider"))?;
    let scene = super::browser_scene(&state, &ctx, provider, &format!("/checkouts/{id}"));
    let started = crate::app::checkouts::start_payment(
        &state,
        &client,
        id,
        retail_domain::ids::new_id(),
        provider,
        &scene,
    )
    .await?;
    Ok(match &started.prepay {
        Prepay::Redirect { url } => redirect(url),
        _ => redirect(&format!("/checkouts/{id}/pay/{}", started.trade.id)),
    })
}

/// A pending combined payment's QR code; the page looks again every few seconds and goes back
/// to the checkout once it is paid (or closed).
async fn pay_code(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((id, trade_id)): Path<(Uuid, Uuid)>,
) -> WebResult<Response> {
    let (session, view) = own_checkout(&state, &ctx, id).await?;
    let trade = view
        .trades
        .iter()
        .find(|t| t.id == trade_id)
        .ok_or_else(|| AppError::not_found("no such payment"))?;
    if trade.status != "pending" {
        return Err(WebError::Redirect(format!("/checkouts/{id}")));
    }
    let code_url = match crate::app::checkouts::kept_prepay(&state, trade_id).await? {
        Some(Prepay::QrCode { code_url }) => code_url,
        _ => return Err(AppError::not_found("this payment has no QR code").into()),
    };
    let count = cart_count(&state, session.as_ref()).await?;
    let provider = Provider::of_method_name(&trade.method);
    let body = html! {
        meta http-equiv="refresh" content="3";
        div.card.center {
            b { @if let Some(p) = provider { (p.label()) } }
            p { (ctx.t("请用手机扫码支付 ", "Scan to pay ")) b.price #trade-amount { (yuan(trade.amount_fen)) } }
            div.qr data-pay-code=(code_url) { (qr_svg(&code_url)) }
            p.muted { @for o in &view.orders { (o.order_no) " " } }
            a.btn.secondary.block href={ "/checkouts/" (id) } { (ctx.t("返回结算", "Back to the checkout")) }
        }
    };
    Ok(shop_page(
        &ctx,
        ctx.t("扫码支付", "Scan to pay"),
        count,
        body,
    ))
}
