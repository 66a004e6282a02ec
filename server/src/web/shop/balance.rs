//! The member's stored value in the shop: the balance (principal and bonus apart) and its
//! history, recharging with a package through WeChat Pay or Alipay ([`crate::app::recharges`]),
//! the payment PIN, and paying an order with the balance, whole or in part
//! ([`crate::app::balance_pay`]).

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use maud::html;
use retail_domain::money::Money;
use serde::Deserialize;
use uuid::Uuid;

use super::{balance_error_text, cart_count, require_member, session};
use crate::actor::ClientAddr;
use crate::app::member_login::CodeSent;
use crate::app::payment_providers::{PayScene, Provider};
use crate::app::AppState;
use crate::error::AppError;
use crate::storage;
use crate::storage::paging::{Cursor, PAGE_SIZE};
use crate::web::{
    local_path, pager, qr_svg, redirect, shop_page, when, yuan, Ctx, Form, WebResult,
};

/// Stored-value routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/me/balance", get(balance))
        .route("/me/balance/recharge", post(recharge))
        .route("/me/balance/recharge/{id}", get(recharge_code))
        .route("/me/pay-pin", get(pin_page).post(set_pin))
        .route("/me/pay-pin/reset", get(reset_page).post(reset_pin))
        .route("/me/pay-pin/reset/code", post(send_reset_code))
        .route("/orders/{id}/pay-balance", post(pay_with_balance))
}

/// What went wrong, as a short code in the address of the page shown next (no free text).
pub fn error_code(e: &AppError) -> &'static str {
    match e.code() {
        "pay_pin_locked" => "locked",
        "pay_pin_not_set" => "no_pin",
        "insufficient_balance" => "balance",
        "not_payable" => "not_payable",
        _ => match e {
            AppError::Invalid { fields, .. } if fields.contains_key("pin") => "pin",
            AppError::Invalid { fields, .. } if fields.contains_key("current_pin") => "pin",
            AppError::Invalid { fields, .. } if fields.contains_key("amount") => "amount",
            AppError::RateLimited { .. } => "busy",
            _ => "failed",
        },
    }
}

#[derive(Debug, Deserialize, Default)]
struct Notice {
    error: Option<String>,
    done: Option<String>,
    /// The balance ledger's page cursor.
    cursor: Option<String>,
    /// The recharges' page cursor.
    recharges: Option<String>,
}

async fn balance(
    State(state): State<AppState>,
    ctx: Ctx,
    Query(notice): Query<Notice>,
) -> WebResult<Response> {
    let session = session(&state, &ctx).await?;
    let (_, member_id) = require_member(session.as_ref(), "/me/balance")?;
    let split = storage::members::balance_split(&state.store, member_id).await?;
    let packages = crate::app::recharges::offered(&state).await?;
    let recharges_at = notice.recharges.as_deref();
    let recharges = storage::stored_value::recharges_of_member(
        &state.store,
        member_id,
        Cursor::parse(recharges_at)?.as_ref(),
        PAGE_SIZE,
    )
    .await?;
    let ledger = storage::members::balance_page(
        &state.store,
        member_id,
        notice.cursor.as_deref(),
        PAGE_SIZE,
    )
    .await?;
    let has_pin = crate::app::balance_pay::has_pin(&state, member_id).await?;
    let providers: Vec<Provider> = state.payments.available();
    let count = cart_count(&state, session.as_ref()).await?;
    let body = html! {
        @if let Some(code) = &notice.error { div.notice.err role="alert" #balance-error { (balance_error_text(&ctx, code)) } }
        @if notice.done.as_deref() == Some("pin") { div.notice role="status" #pin-set { (ctx.t("支付密码已设置", "Your payment PIN is set")) } }
        div.card {
            div.kpis {
                div.kpi { span.muted { (ctx.t("余额", "Balance")) } b #balance-total { (yuan(split.total().fen())) } }
                div.kpi { span.muted { (ctx.t("本金", "Principal")) } b #balance-principal { (yuan(split.principal.fen())) } }
                div.kpi { span.muted { (ctx.t("赠送", "Bonus")) } b #balance-bonus { (yuan(split.bonus.fen())) } }
            }
            p.muted { (ctx.t("消费时先用本金，后用赠送金额；赠送金额不可提现。", "Spending takes principal first and bonus last; bonus is never paid out.")) }
            a #pay-pin-link href="/me/pay-pin" { @if has_pin { (ctx.t("修改支付密码", "Change payment PIN")) } @else { (ctx.t("设置支付密码", "Set a payment PIN")) } }
        }
        div.card #recharge {
            b { (ctx.t("充值", "Recharge")) }
            @if packages.is_empty() || providers.is_empty() {
                p.muted { (ctx.t("暂不支持在线充值", "Online recharge is not available")) }
            } @else {
                form method="post" action="/me/balance/recharge" {
                    (ctx.csrf_field())
                    input type="hidden" name="id" value=(retail_domain::ids::new_id());
                    @for (i, p) in packages.iter().enumerate() {
                        label.spread style="display:flex;padding:6px 0" {
                            span { input type="radio" name="package" value=(p.id) checked[i == 0] data-package=(p.name); " " (p.name) }
                            span { (yuan(p.pay.fen())) @if !p.bonus.is_zero() { " " span.muted { (ctx.t("送", "+")) (yuan(p.bonus.fen())) } } }
                        }
                    }
                    @for provider in &providers {
                        button.btn.block type="submit" name="provider" value=(provider.as_str()) style="margin-top:8px" {
                            (ctx.t("充值 · ", "Recharge · ")) (provider.label())
                        }
                    }
                }
            }
        }
        @if !recharges.items.is_empty() || recharges_at.is_some() {
            div.card #recharges {
                b { (ctx.t("充值记录", "Recharges")) }
                @for r in &recharges.items {
                    div.spread data-recharge=(r.status) data-recharge-id=(r.id) {
                        span { (yuan(r.pay.fen())) @if !r.bonus.is_zero() { " + " (yuan(r.bonus.fen())) } br; span.muted { (when(r.created_at.timestamp_millis())) } }
                        span { (recharge_status(&ctx, &r.status)) }
                    }
                }
                (pager(&ctx, "/me/balance", &[("cursor", notice.cursor.as_deref().unwrap_or(""))], "recharges", recharges_at, recharges.next_cursor.as_deref()))
            }
        }
        div.card {
            b { (ctx.t("余额明细", "Balance history")) }
            @if ledger.items.is_empty() { p.muted { (ctx.t("暂无记录", "Nothing yet")) } }
            @for e in &ledger.items {
                div.spread {
                    span { (super::ledger_kind(ctx.lang, &e.kind)) br; span.muted { (when(e.created_at.timestamp_millis())) } }
                    b { (yuan(e.amount.fen())) @if !e.bonus.is_zero() { " " span.muted { "(" (ctx.t("赠送 ", "bonus ")) (yuan(e.bonus.fen())) ")" } } }
                }
            }
            (pager(&ctx, "/me/balance", &[("recharges", recharges_at.unwrap_or(""))], "cursor", notice.cursor.as_deref(), ledger.next_cursor.as_deref()))
        }
    };
    Ok(shop_page(
        &ctx,
        ctx.t("我的余额", "My balance"),
        count,
        body,
    ))
}

fn recharge_status(ctx: &Ctx, status: &str) -> &'static str {
    match status {
        "paid" => ctx.t("已到账", "Credited"),
        "closed" => ctx.t("已关闭", "Closed"),
        _ => ctx.t("待支付", "Awaiting payment"),
    }
}

async fn recharge(
    client: ClientAddr,
    State(state): State<AppState>,
    ctx: Ctx,
    Form(form): Form<HashMap<String, String>>,
) -> WebResult<Response> {
    let session = session(&state, &ctx).await?;
    let (_, member_id) = require_member(session.as_ref(), "/me/balance")?;
    let parse = |name: &str| form.get(name).and_then(|v| Uuid::try_parse(v).ok());
    let (Some(id), Some(package)) = (parse("id"), parse("package")) else {
        return Ok(redirect("/me/balance?error=failed"));
    };
    let available = state.payments.available();
    let Some(provider) = form
        .get("provider")
        .and_then(|name| available.iter().find(|p| p.as_str() == name.as_str()))
        .copied()
    else {
        return Ok(redirect("/me/balance?error=failed"));
    };
    // Inside WeChat's browser WeChat Pay is paid in place (JSAPI), for the openid WeChat gives
    // this session (asked for first when it has none).
    if ctx.wechat_browser
        && provider == Provider::WechatPay
        && crate::app::wechat_oauth::available(&state)
    {
        let session = super::ensure_session(&state, &ctx).await?;
        let jsapi = PayScene::WechatJsapi {
            openid: String::new(),
        };
        match crate::app::recharges::reserve(&state, member_id, id, package, provider, &jsapi).await
        {
            Ok(_) => {}
            Err(e @ (AppError::Internal(_) | AppError::Unavailable(_))) => return Err(e.into()),
            Err(e) => return Ok(redirect(&format!("/me/balance?error={}", error_code(&e)))),
        }
        if crate::app::wechat_oauth::session_openid(&state, session.id)
            .await?
            .is_some()
        {
            return super::recharge_in_wechat(&state, member_id, id).await;
        }
        let authorize = crate::app::wechat_oauth::begin(
            &state,
            &client,
            session.id,
            crate::app::wechat_oauth::PaidInWechat::Recharge(id),
        )
        .await?;
        return Ok(redirect(&authorize));
    }
    let scene = if ctx.mobile_browser && provider != Provider::Sandbox {
        PayScene::MobileWeb {
            return_url: format!("{}/me/balance", state.public_url),
        }
    } else {
        PayScene::QrCode
    };
    let started = match crate::app::recharges::start(
        &state, &client, member_id, id, package, provider, &scene,
    )
    .await
    {
        Ok(started) => started,
        Err(e @ (AppError::Internal(_) | AppError::Unavailable(_))) => return Err(e.into()),
        Err(e) => return Ok(redirect(&format!("/me/balance?error={}", error_code(&e)))),
    };
    Ok(match &started.prepay {
        retail_payments::Prepay::Redirect { url } => redirect(url),
        _ => redirect(&format!("/me/balance/recharge/{}", started.recharge.id)),
    })
}

/// A pending recharge's QR code; the page looks again every few seconds and goes back to the
/// balance once it is credited.
async fn recharge_code(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<Uuid>,
) -> WebResult<Response> {
    let session = session(&state, &ctx).await?;
    let (_, member_id) = require_member(session.as_ref(), "/me/balance")?;
    let recharge = storage::stored_value::recharge_by_id(&state.store, id)
        .await?
        .filter(|r| r.member_id == member_id)
        .ok_or_else(|| AppError::not_found("no such recharge"))?;
    if recharge.status != "pending" {
        return Ok(redirect("/me/balance"));
    }
    let code_url =
        storage::payments::prepay(&state.store, storage::payments::Payable::Recharge, id)
            .await?
            .and_then(|kept| serde_json::from_str::<retail_payments::Prepay>(&kept).ok())
            .and_then(|prepay| match prepay {
                retail_payments::Prepay::QrCode { code_url } => Some(code_url),
                _ => None,
            });
    let count = cart_count(&state, session.as_ref()).await?;
    let Some(code_url) = code_url else {
        // Paid in WeChat (no QR): WeChat's word in the browser is not a payment, so this page
        // looks again every two seconds until the provider's notification has credited it.
        let body = html! {
            meta http-equiv="refresh" content="2";
            div.card.center #recharge-confirming {
                p { (ctx.t("正在确认充值结果…", "Confirming the recharge…")) }
                p.muted { (yuan(recharge.pay.fen())) }
                a.btn.secondary.block href="/me/balance" { (ctx.t("返回余额", "Back to my balance")) }
            }
        };
        return Ok(shop_page(
            &ctx,
            ctx.t("确认充值", "Confirming"),
            count,
            body,
        ));
    };
    let provider = Provider::of_method_name(&recharge.method);
    let body = html! {
        meta http-equiv="refresh" content="3";
        div.card.center {
            b { @if let Some(p) = provider { (p.label()) } }
            p { (ctx.t("请用手机扫码充值 ", "Scan to recharge ")) b.price { (yuan(recharge.pay.fen())) } }
            @if !recharge.bonus.is_zero() { p.muted { (ctx.t("到账后赠送 ", "Bonus when paid: ")) (yuan(recharge.bonus.fen())) } }
            div.qr data-pay-code=(code_url) { (qr_svg(&code_url)) }
            a.btn.secondary.block href="/me/balance" { (ctx.t("返回余额", "Back to my balance")) }
        }
    };
    Ok(shop_page(
        &ctx,
        ctx.t("扫码充值", "Scan to recharge"),
        count,
        body,
    ))
}

#[derive(Debug, Deserialize, Default)]
struct PinParams {
    back: Option<String>,
    error: Option<String>,
}

async fn pin_page(
    State(state): State<AppState>,
    ctx: Ctx,
    Query(p): Query<PinParams>,
) -> WebResult<Response> {
    let session = session(&state, &ctx).await?;
    let (_, member_id) = require_member(session.as_ref(), "/me/pay-pin")?;
    let has_pin = crate::app::balance_pay::has_pin(&state, member_id).await?;
    let count = cart_count(&state, session.as_ref()).await?;
    let back = match p.back.as_deref() {
        Some(b) => local_path(Some(b)),
        None => "/me/balance".to_owned(),
    };
    let body = html! {
        @if let Some(code) = &p.error { div.notice.err role="alert" #pin-error { (balance_error_text(&ctx, code)) } }
        form.card method="post" action="/me/pay-pin" {
            (ctx.csrf_field())
            input type="hidden" name="back" value=(back);
            b { @if has_pin { (ctx.t("修改支付密码", "Change payment PIN")) } @else { (ctx.t("设置支付密码", "Set a payment PIN")) } }
            p.muted { (ctx.t("用余额支付时需输入 6 位支付密码。", "Paying with your balance asks for this 6-digit PIN.")) }
            @if has_pin {
                div.field { label for="current_pin" { (ctx.t("当前支付密码", "Current PIN")) }
                    input #current_pin name="current_pin" type="password" inputmode="numeric" maxlength="6" autocomplete="off"; }
            }
            div.field { label for="pin" { (ctx.t("新支付密码", "New PIN")) }
                input #pin name="pin" type="password" inputmode="numeric" maxlength="6" autocomplete="off"; }
            div.field { label for="pin_again" { (ctx.t("再次输入", "New PIN again")) }
                input #pin_again name="pin_again" type="password" inputmode="numeric" maxlength="6" autocomplete="off"; }
            button.btn.block #save-pin type="submit" { (ctx.t("保存", "Save")) }
        }
        @if has_pin { p.center { a #forgot-pin href="/me/pay-pin/reset" { (ctx.t("忘记支付密码？", "Forgot your PIN?")) } } }
    };
    Ok(shop_page(
        &ctx,
        ctx.t("支付密码", "Payment PIN"),
        count,
        body,
    ))
}

async fn set_pin(
    State(state): State<AppState>,
    ctx: Ctx,
    Form(form): Form<HashMap<String, String>>,
) -> WebResult<Response> {
    let session = session(&state, &ctx).await?;
    let (_, member_id) = require_member(session.as_ref(), "/me/pay-pin")?;
    let back = match form.get("back") {
        Some(b) => local_path(Some(b)),
        None => "/me/balance".to_owned(),
    };
    let pin = form.get("pin").map(String::as_str).unwrap_or("");
    let again = form.get("pin_again");
    let fail = |code: &str| {
        redirect(&format!(
            "/me/pay-pin?error={code}&back={}",
            crate::web::urlencode(&back)
        ))
    };
    if again.map(String::as_str) != Some(pin) {
        return Ok(fail("mismatch"));
    }
    if crate::app::balance_pay::check_new_pin(pin).is_err() {
        return Ok(fail("weak"));
    }
    let current = form.get("current_pin").map(String::as_str);
    match crate::app::balance_pay::set_pin(&state, member_id, current, pin).await {
        Ok(()) => {}
        Err(e @ (AppError::Internal(_) | AppError::Unavailable(_))) => return Err(e.into()),
        Err(e) => return Ok(fail(error_code(&e))),
    }
    let sep = if back.contains('?') { '&' } else { '?' };
    Ok(redirect(&format!("{back}{sep}done=pin")))
}

/// Pays the order (or a part of it) with the stored balance, confirmed with the PIN; back to the
/// order either way, with what went wrong in its address.
async fn pay_with_balance(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(order_id): Path<Uuid>,
    Form(form): Form<HashMap<String, String>>,
) -> WebResult<Response> {
    let session = session(&state, &ctx).await?;
    let (_, member_id) = require_member(session.as_ref(), &format!("/orders/{order_id}"))?;
    let back = |code: &str| redirect(&format!("/orders/{order_id}?pay_error={code}"));
    let Some(id) = form.get("id").and_then(|v| Uuid::try_parse(v).ok()) else {
        return Ok(back("failed"));
    };
    let Some(amount) = form.get("amount").and_then(|v| Money::parse(v.trim()).ok()) else {
        return Ok(back("amount"));
    };
    let pin = form.get("pin").map(String::as_str).unwrap_or("");
    match crate::app::balance_pay::pay_order(&state, member_id, order_id, id, amount, pin).await {
        Ok(_) => Ok(redirect(&format!("/orders/{order_id}"))),
        Err(e @ (AppError::Internal(_) | AppError::Unavailable(_) | AppError::NotFound(_))) => {
            Err(e.into())
        }
        Err(e) => Ok(back(error_code(&e))),
    }
}

/// The forgotten-PIN page: a code sent to the member's own phone, then a new PIN with it.
fn reset_view(
    ctx: &Ctx,
    count: i64,
    phone: &str,
    sent: Option<&CodeSent>,
    error: Option<&str>,
) -> Response {
    let body = html! {
        @if let Some(e) = error { div.notice.err role="alert" #pin-error { (e) } }
        form.card method="post" action="/me/pay-pin/reset/code" {
            (ctx.csrf_field())
            b { (ctx.t("重置支付密码", "Reset your payment PIN")) }
            p.muted { (ctx.t("验证码将发送到你的会员手机号。", "A code goes to your member phone number.")) }
            div.field { label for="reset-phone" { (ctx.t("手机号", "Phone number")) }
                input #reset-phone name="phone" inputmode="tel" value=(phone) autocomplete="tel"; }
            button.btn.secondary.block #send-reset-code type="submit" { (ctx.t("发送验证码", "Send a code")) }
            @match sent {
                Some(CodeSent::Shown(code)) => p.muted { (ctx.t("演示模式验证码：", "Demo code: ")) b #sms-code { (code) } },
                Some(CodeSent::Sent) => p.muted #code-sent { (ctx.t("验证码已发送", "The code is on its way")) },
                None => {},
            }
        }
        form.card method="post" action="/me/pay-pin/reset" {
            (ctx.csrf_field())
            input type="hidden" name="phone" value=(phone);
            div.field { label for="code" { (ctx.t("验证码", "Code")) } input #code name="code" inputmode="numeric" maxlength="6" autocomplete="one-time-code"; }
            div.field { label for="pin" { (ctx.t("新支付密码", "New PIN")) }
                input #pin name="pin" type="password" inputmode="numeric" maxlength="6" autocomplete="off"; }
            div.field { label for="pin_again" { (ctx.t("再次输入", "New PIN again")) }
                input #pin_again name="pin_again" type="password" inputmode="numeric" maxlength="6" autocomplete="off"; }
            button.btn.block #reset-pin type="submit" { (ctx.t("重置", "Reset")) }
        }
    };
    shop_page(ctx, ctx.t("重置支付密码", "Reset payment PIN"), count, body)
}

async fn reset_page(State(state): State<AppState>, ctx: Ctx) -> WebResult<Response> {
    let session = session(&state, &ctx).await?;
    require_member(session.as_ref(), "/me/pay-pin/reset")?;
    let count = cart_count(&state, session.as_ref()).await?;
    Ok(reset_view(&ctx, count, "", None, None))
}

/// The reason a reset step was refused, for the page (validation and limits; anything else is
/// an error page).
fn reset_refusal(ctx: &Ctx, e: AppError) -> Result<String, AppError> {
    match e {
        AppError::Invalid { fields, .. } if fields.contains_key("phone") => Ok(ctx
            .t("请输入你的会员手机号", "Enter your member phone number")
            .to_owned()),
        AppError::Invalid { fields, .. } if fields.contains_key("code") => Ok(ctx
            .t("验证码错误或已过期", "Wrong or expired code")
            .to_owned()),
        AppError::Invalid { fields, .. } if fields.contains_key("pin") => {
            Ok(balance_error_text(ctx, "weak").to_owned())
        }
        AppError::RateLimited { .. } => Ok(balance_error_text(ctx, "busy").to_owned()),
        other => Err(other),
    }
}

async fn send_reset_code(
    client: ClientAddr,
    State(state): State<AppState>,
    ctx: Ctx,
    Form(form): Form<HashMap<String, String>>,
) -> WebResult<Response> {
    let session = session(&state, &ctx).await?;
    let (_, member_id) = require_member(session.as_ref(), "/me/pay-pin/reset")?;
    let count = cart_count(&state, session.as_ref()).await?;
    let phone = form
        .get("phone")
        .map(|p| p.trim().to_owned())
        .unwrap_or_default();
    match crate::app::balance_pay::send_reset_code(&state, client, member_id, &phone).await {
        Ok(sent) => Ok(reset_view(&ctx, count, &phone, Some(&sent), None)),
        Err(e) => {
            let refusal = reset_refusal(&ctx, e)?;
            Ok(reset_view(&ctx, count, &phone, None, Some(&refusal)))
        }
    }
}

async fn reset_pin(
    client: ClientAddr,
    State(state): State<AppState>,
    ctx: Ctx,
    Form(form): Form<HashMap<String, String>>,
) -> WebResult<Response> {
    let session = session(&state, &ctx).await?;
    let (_, member_id) = require_member(session.as_ref(), "/me/pay-pin/reset")?;
    let count = cart_count(&state, session.as_ref()).await?;
    let get = |name: &str| {
        form.get(name)
            .map(|v| v.trim().to_owned())
            .unwrap_or_default()
    };
    let (phone, code, pin) = (get("phone"), get("code"), get("pin"));
    if get("pin_again") != pin {
        let text = balance_error_text(&ctx, "mismatch");
        return Ok(reset_view(&ctx, count, &phone, None, Some(text)));
    }
    match crate::app::balance_pay::reset_pin(&state, client, member_id, &phone, &code, &pin).await {
        Ok(()) => Ok(redirect("/me/balance?done=pin")),
        Err(e) => {
            let refusal = reset_refusal(&ctx, e)?;
            Ok(reset_view(&ctx, count, &phone, None, Some(&refusal)))
        }
    }
}
