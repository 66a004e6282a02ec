//! The shopper's e-receipt (电子小票) and claiming a receipt's points after the fact
//! (docs/DESIGN.md §7 "receipt code"): scan the QR code on a paper receipt with the phone's
//! camera (where the browser has `BarcodeDetector`) or paste the code; the server verifies it
//! with the registered key of the lane that printed it and shows the sale as on the paper. A
//! logged-in member claims the points of a sale made without a member, once per sale, within the
//! claim window.
//!
//! Everything goes through `app::receipts::{look_up, claim_points}`, as the JSON API does.

use axum::extract::{Query, State};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use maud::{html, Markup};
use retail_domain::order::OrderStatus;
use serde::Deserialize;
use uuid::Uuid;

use super::{cart_count, require_member, session};
use crate::app::receipts::{claim_points, look_up};
use crate::app::AppState;
use crate::error::AppError;
use crate::storage;
use crate::storage::receipts::ReceiptView;
use crate::web::{redirect, shop_page, urlencode, when, yuan, Ctx, Form, Lang, WebResult};

/// E-receipt routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/receipt", get(receipt_page))
        .route("/receipt/claim", post(claim))
}

#[derive(Debug, Deserialize, Default)]
struct ReceiptParams {
    code: Option<String>,
    /// The outcome of a claim, as a machine code (see [`claim_message`]).
    msg: Option<String>,
}

/// A payment method for people.
fn method_label(lang: Lang, method: &str) -> &'static str {
    match method {
        "cash" => lang.t("现金", "Cash"),
        "card" => lang.t("银行卡", "Card"),
        "stored_balance" => lang.t("储值", "Stored balance"),
        "points" => lang.t("积分", "Points"),
        "sandbox_qr" => lang.t("扫码支付", "QR payment"),
        _ => lang.t("其他", "Other"),
    }
}

/// Why a receipt code was not shown, for people.
fn refusal(ctx: &Ctx, err: &AppError) -> Option<&'static str> {
    Some(match err {
        AppError::Invalid { code, .. } => match *code {
            "forged_receipt_code" => ctx.t(
                "小票码校验失败：它被篡改或伪造了。",
                "This receipt code failed its signature check: it is forged or damaged.",
            ),
            "unknown_receipt_key" => ctx.t(
                "无法验证这张小票：打印它的收银台未在系统登记。",
                "This receipt cannot be verified: the till that printed it is not registered.",
            ),
            "revoked_receipt_key" => ctx.t(
                "这张小票的签名密钥已被停用，无法使用。",
                "The key that signed this receipt has been revoked: it cannot be used.",
            ),
            _ => ctx.t(
                "这不是有效的小票码，请扫描小票底部的二维码。",
                "This is not a valid receipt code: scan the QR code at the bottom of the receipt.",
            ),
        },
        AppError::NotFound(_) => ctx.t(
            "这笔交易还没有同步到服务器（收银台联网后会自动上传），请稍后再试。",
            "This sale has not reached the server yet (the till sends it once it is online); \
             try again later.",
        ),
        AppError::RateLimited { .. } => ctx.t(
            "查询太频繁，请一分钟后再试。",
            "Too many look-ups; try again in a minute.",
        ),
        _ => return None,
    })
}

/// A claim's outcome (the `msg` parameter) for people.
fn claim_message(ctx: &Ctx, msg: &str) -> (bool, &'static str) {
    match msg {
        "claimed" => (
            false,
            ctx.t("积分已到账！", "The points are in your account!"),
        ),
        "already_claimed" => (
            true,
            ctx.t(
                "这张小票的积分已被领取。",
                "The points of this receipt have been claimed already.",
            ),
        ),
        "member_sale" => (
            true,
            ctx.t(
                "这笔交易结账时已使用会员，积分已计入该会员。",
                "This sale was made with a member card: its points went to that member.",
            ),
        ),
        "claim_window_closed" => (
            true,
            ctx.t(
                "已超过领取积分的期限。",
                "The time for claiming these points has passed.",
            ),
        ),
        "nothing_to_claim" => (
            true,
            ctx.t(
                "这笔交易没有可领取的积分（已全部退货或金额太小）。",
                "This sale has no points to claim (returned, or too small).",
            ),
        ),
        "busy" => (
            true,
            ctx.t(
                "操作太频繁，请一分钟后再试。",
                "Too many attempts; try again in a minute.",
            ),
        ),
        _ => (
            true,
            ctx.t(
                "积分未能领取，请稍后再试。",
                "The points could not be claimed; try again later.",
            ),
        ),
    }
}

fn qty_text(qty: i64, weighed: bool) -> String {
    if weighed {
        format!("{}.{:03}kg", qty / 1000, qty % 1000)
    } else {
        qty.to_string()
    }
}

/// The sale as on the paper receipt.
fn receipt_card(ctx: &Ctx, view: &ReceiptView) -> Markup {
    html! {
        div.card #e-receipt data-sale=(view.sale_id) {
            div.center {
                b { (ctx.lang.pick(&view.store_name_zh, &view.store_name_en)) }
                p.muted style="margin:2px 0" { (view.store) " · " (when(view.completed_at.timestamp_millis())) }
                p.muted style="margin:2px 0" { (ctx.t("单号 ", "No. ")) span data-order-no { (view.order_no) }
                    @if let Some(c) = &view.cashier { " · " (ctx.t("收银员 ", "Cashier ")) (c) } }
            }
            hr;
            @for l in &view.lines {
                div.spread { span { (l.name) } span { (yuan(l.amount.fen() + l.discount.fen())) } }
                div.spread.muted { span { (qty_text(l.qty, l.weighed)) " × " (yuan(l.unit_price.fen())) }
                    @if l.discount.fen() != 0 { span { (ctx.t("优惠 ", "Discount ")) "-" (yuan(l.discount.fen())) } } }
                @if l.returned_qty > 0 { div.muted { (ctx.t("已退 ", "Returned ")) (qty_text(l.returned_qty, l.weighed)) } }
            }
            hr;
            div.spread { span { (ctx.t("合计", "Subtotal")) } span { (yuan(view.subtotal.fen())) } }
            @if view.discount.fen() != 0 { div.spread { span { (ctx.t("优惠", "Discount")) } span { "-" (yuan(view.discount.fen())) } } }
            div.spread { b { (ctx.t("实付", "Total")) } b.price data-total { (yuan(view.total.fen())) } }
            @for p in &view.payments {
                div.spread.muted { span { (method_label(ctx.lang, &p.method)) } span { (yuan(p.amount.fen())) } }
            }
            @if view.refunded.fen() > 0 {
                div.spread { span { (ctx.t("已退款", "Refunded")) } span { (yuan(view.refunded.fen())) } }
            }
            @if view.points_earned > 0 {
                p.muted { (ctx.t("本单积分 ", "Points earned ")) span data-points { (view.points_earned) } }
            }
        }
    }
}

/// What the shopper can do about the sale's points.
async fn claim_card(
    state: &AppState,
    ctx: &Ctx,
    view: &ReceiptView,
    code: &str,
    member: Option<Uuid>,
) -> WebResult<Markup> {
    let window = state.settings.receipts.claim_window_ms();
    let base = view.total.fen().saturating_sub(view.refunded.fen());
    let closed = chrono::Utc::now().timestamp_millis()
        > view.completed_at.timestamp_millis().saturating_add(window);
    let back = format!("/receipt?code={}", urlencode(code));
    let body = if let Some(claim) = &view.claim {
        if Some(claim.member_id) == member {
            html! { p #claim-state { (ctx.t("您已领取本单积分 ", "You claimed the points of this sale: ")) b { (claim.points) } } }
        } else {
            html! { p #claim-state { (ctx.t("本单积分已被领取。", "The points of this sale have been claimed.")) } }
        }
    } else if view.member_sale {
        html! { p #claim-state { (ctx.t("结账时已使用会员，积分已计入该会员。", "This sale was made with a member card: its points went to that member.")) } }
    } else if view.status == OrderStatus::Refunded || base <= 0 {
        html! { p #claim-state { (ctx.t("本单已全部退货，没有可领取的积分。", "This sale was returned: there are no points to claim.")) } }
    } else if closed {
        html! { p #claim-state { (ctx.t("已超过领取积分的期限（", "The time for claiming has passed (")) (state.settings.receipts.claim_window_days) (ctx.t(" 天）。", " days).")) } }
    } else if let Some(member) = member {
        let rules = &state.settings.points;
        let (growth, platform_tier) = storage::members::pricing_member(&state.store, member)
            .await?
            .map(|(g, _, t)| (g, t))
            .unwrap_or((0, None));
        let points = rules.points_earned(
            retail_domain::money::Money::from_fen(base),
            storage::members::effective_tier(rules, growth, platform_tier.as_deref()),
        );
        html! {
            form #claim-form method="post" action="/receipt/claim" {
                (ctx.csrf_field())
                input type="hidden" name="code" value=(code);
                input type="hidden" name="claim_id" value=(retail_domain::ids::new_id());
                p { (ctx.t("这笔交易未使用会员，可领取积分 ", "This sale was made without a member card; you can claim ")) b #claim-points { (points) }
                    (ctx.t("。", " points.")) }
                button.btn.block type="submit" { (ctx.t("领取积分", "Claim the points")) }
            }
        }
    } else {
        html! {
            p { (ctx.t("这笔交易未使用会员，登录后可领取积分。", "This sale was made without a member card: log in to claim its points.")) }
            a.btn.block #claim-login href={ "/login?back=" (urlencode(&back)) } { (ctx.t("登录领取积分", "Log in to claim the points")) }
        }
    };
    Ok(html! { div.card { b { (ctx.t("积分", "Points")) } (body) } })
}

async fn receipt_page(
    State(state): State<AppState>,
    ctx: Ctx,
    Query(p): Query<ReceiptParams>,
) -> WebResult<Response> {
    let session = session(&state, &ctx).await?;
    let member = session.as_ref().and_then(|s| s.member_id);
    let count = cart_count(&state, session.as_ref()).await?;
    let code = p
        .code
        .as_deref()
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(|c| {
            c.chars()
                .take(retail_domain::codes::MAX_CODE_LEN)
                .collect::<String>()
        });
    let notice = p.msg.as_deref().map(|m| claim_message(&ctx, m));
    let (view, problem) = match &code {
        None => (None, None),
        Some(code) => match look_up(&state, code).await {
            Ok(view) => (Some(view), None),
            Err(err) => match refusal(&ctx, &err) {
                Some(text) => (None, Some(text)),
                None => return Err(err.into()),
            },
        },
    };
    let claim = match (&view, &code) {
        (Some(view), Some(code)) => Some(claim_card(&state, &ctx, view, code, member).await?),
        _ => None,
    };
    let body = html! {
        @if let Some((error, text)) = notice {
            div.notice.err[error] #claim-notice role="status" { (text) }
        }
        @if let Some(text) = problem { div.notice.err #receipt-error role="alert" { (text) } }
        @if let Some(view) = &view { (receipt_card(&ctx, view)) }
        @if let Some(claim) = claim { (claim) }
        div.card {
            form #receipt-form method="get" action="/receipt" {
                video #receipt-video hidden playsinline muted style="width:100%;border-radius:8px"
                    data-scan-form="receipt-form" data-scan-input="receipt-code" data-scan-formats="qr_code" {}
                div.field { label for="receipt-code" { (ctx.t("扫描或粘贴小票底部的二维码内容", "Scan or paste the QR code at the bottom of your receipt")) }
                    input #receipt-code name="code" autocomplete="off" placeholder="RC2.…" value=[code.as_deref().filter(|_| view.is_none())]; }
                button.btn.block type="submit" { (ctx.t("查看电子小票", "Show the e-receipt")) }
            }
        }
    };
    Ok(shop_page(&ctx, ctx.t("电子小票", "E-receipt"), count, body))
}

#[derive(Debug, Deserialize, Default)]
struct ClaimForm {
    code: Option<String>,
    claim_id: Option<Uuid>,
}

async fn claim(
    State(state): State<AppState>,
    ctx: Ctx,
    Form(f): Form<ClaimForm>,
) -> WebResult<Response> {
    let code = f.code.unwrap_or_default().trim().to_owned();
    let back = format!("/receipt?code={}", urlencode(&code));
    let session = session(&state, &ctx).await?;
    let (_, member) = require_member(session.as_ref(), &back)?;
    let Some(claim_id) = f.claim_id else {
        return Ok(redirect(&format!("{back}&msg=failed")));
    };
    let msg = match claim_points(&state, &code, claim_id, member, "shop").await {
        Ok(_) => "claimed",
        Err(AppError::Conflict { code, .. }) => code,
        Err(AppError::RateLimited { .. }) => "busy",
        // A code that no longer verifies or a sale that is gone: the page says why.
        Err(AppError::Invalid { .. } | AppError::NotFound(_)) => "failed",
        Err(e) => return Err(e.into()),
    };
    Ok(redirect(&format!("{back}&msg={msg}")))
}
