//! The member centre: sign-up and log-in by phone with a one-time code sent by SMS
//! ([`crate::app::member_login`]; only the demo sandbox shows the code on the page), tier and
//! growth, the points and balance ledgers, the member code QR that the page refreshes before it
//! expires, and the message centre; privacy (PIPL, [`crate::app::privacy`]): the policy at
//! `/privacy` (accepted at sign-up and again when its version changes), the member's data
//! download at `/me/data` and account deletion at `/me/delete`.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use maud::html;
use retail_domain::codes::SignedCode;
use serde::Deserialize;

use super::{cart_count, ensure_session, messages_link, rekey_session, require_member, session};
use crate::actor::ClientAddr;
use crate::app::member_login::{self, CodeSent, LogIn};
use crate::app::members::MEMBER_CODE_TTL_SECS;
use crate::app::privacy::{self, Deleted, PRIVACY_POLICY_VERSION};
use crate::app::AppState;
use crate::error::AppError;
use crate::secrets::new_token;
use crate::storage;
use crate::storage::paging::{Cursor, PAGE_SIZE};
use crate::web::{field, local_path, pager, qr_svg, redirect, set_cookie, shop_page, sid_cookie};
use crate::web::{when, yuan, Ctx, FieldErrors, Form, Lang, WebResult};

/// Member routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/login", get(login_page).post(login))
        .route("/login/code", post(send_code))
        .route("/logout", post(logout))
        .route("/me", get(me))
        .route("/me/code", get(member_code))
        .route("/me/messages", get(messages))
        .route("/me/data", get(my_data))
        .route("/me/delete", get(delete_page).post(delete_account))
        .route("/privacy", get(privacy_page))
        .route("/privacy/accept", post(accept_privacy))
        .route("/me/personalisation", post(set_personalisation))
}

#[derive(Debug, Deserialize, Default)]
struct LoginParams {
    back: Option<String>,
}

#[derive(Debug, Deserialize, Default, Clone)]
struct LoginForm {
    phone: Option<String>,
    code: Option<String>,
    back: Option<String>,
    /// The privacy-policy box (`on` when ticked); a sign-up needs it.
    consent: Option<String>,
}

/// Which step of the log-in the page shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step<'a> {
    /// Asking for the phone number.
    Phone,
    /// Asking for the code; the demo sandbox's code is shown (demo mode only).
    Code(Option<&'a str>),
    /// No SMS provider: log-in by SMS is unavailable.
    Unavailable,
}

fn login_view(ctx: &Ctx, form: &LoginForm, errors: &FieldErrors, step: Step<'_>) -> Response {
    let back = local_path(form.back.as_deref());
    let phone = form.phone.as_deref().unwrap_or("");
    let body = html! {
        div.card {
            @match step {
                Step::Unavailable => {
                    div.notice role="alert" #sms-unavailable {
                        (ctx.t("本店暂未开通短信登录，请稍后再试或到门店收银台办理会员。",
                            "Log-in by SMS is not available here yet; please try later or join at a till."))
                    }
                }
                Step::Phone => {
                    p.muted { (ctx.t("未注册的手机号将自动注册为会员。", "A new phone number signs you up as a member.")) }
                    form method="post" action="/login/code" {
                        (ctx.csrf_field())
                        input type="hidden" name="back" value=(back);
                        (field(ctx.t("手机号", "Mobile number"), "phone", "tel", phone, errors, html!{}))
                        button.btn.block type="submit" { (ctx.t("获取验证码", "Send code")) }
                    }
                }
                Step::Code(shown) => {
                    @if let Some(code) = shown {
                        div.notice role="status" {
                            b { (ctx.t("沙箱短信（演示模式）", "Sandbox SMS (demo mode)")) } ": "
                            (ctx.t("您的验证码是 ", "your code is ")) b #sms-code { (code) } (ctx.t("，5 分钟内有效。", ", valid for 5 minutes."))
                        }
                    } @else {
                        div.notice role="status" #sms-sent {
                            (ctx.t("验证码已通过短信发送至 ", "We sent a code by SMS to "))
                            (storage::members::mask_phone(phone))
                            (ctx.t("，5 分钟内有效。", "; it is valid for 5 minutes."))
                        }
                    }
                    form method="post" action="/login" {
                        (ctx.csrf_field())
                        input type="hidden" name="back" value=(back);
                        input type="hidden" name="phone" value=(phone);
                        p { (ctx.t("手机号 ", "Phone ")) (storage::members::mask_phone(phone)) }
                        (field(ctx.t("验证码", "Code"), "code", "text", "", errors, html!{}))
                        (consent_box(ctx, errors))
                        button.btn.block type="submit" { (ctx.t("登录", "Log in")) }
                    }
                }
            }
        }
    };
    let page = shop_page(ctx, ctx.t("登录 / 注册", "Log in / sign up"), 0, body);
    if step == Step::Unavailable {
        (StatusCode::SERVICE_UNAVAILABLE, page).into_response()
    } else {
        page
    }
}

async fn login_page(
    State(state): State<AppState>,
    ctx: Ctx,
    Query(p): Query<LoginParams>,
) -> Response {
    let step = if member_login::available(&state) {
        Step::Phone
    } else {
        Step::Unavailable
    };
    login_view(
        &ctx,
        &LoginForm {
            back: p.back,
            ..LoginForm::default()
        },
        &FieldErrors::new(),
        step,
    )
}

fn phone_error(ctx: &Ctx) -> FieldErrors {
    let mut errors = FieldErrors::new();
    errors.insert(
        "phone",
        ctx.t("请输入 11 位手机号", "Enter an 11-digit mobile number")
            .into(),
    );
    errors
}

async fn send_code(
    State(state): State<AppState>,
    from: ClientAddr,
    ctx: Ctx,
    Form(form): Form<LoginForm>,
) -> WebResult<Response> {
    if !member_login::available(&state) {
        return Ok(login_view(
            &ctx,
            &form,
            &FieldErrors::new(),
            Step::Unavailable,
        ));
    }
    let Ok(phone) = storage::members::normalize_phone(form.phone.as_deref().unwrap_or("")) else {
        return Ok(login_view(&ctx, &form, &phone_error(&ctx), Step::Phone));
    };
    let sent = match member_login::send_code(&state, from, &phone).await {
        Ok(sent) => sent,
        Err(AppError::Invalid { .. }) => {
            let mut errors = FieldErrors::new();
            errors.insert(
                "phone",
                ctx.t("这个号码无法接收短信", "This number cannot receive SMS")
                    .into(),
            );
            return Ok(login_view(&ctx, &form, &errors, Step::Phone));
        }
        Err(e) => return Err(e.into()),
    };
    let form = LoginForm {
        phone: Some(phone),
        ..form
    };
    let shown = match &sent {
        CodeSent::Shown(code) => Some(code.as_str()),
        CodeSent::Sent => None,
    };
    Ok(login_view(
        &ctx,
        &form,
        &FieldErrors::new(),
        Step::Code(shown),
    ))
}

async fn login(
    State(state): State<AppState>,
    from: ClientAddr,
    ctx: Ctx,
    Form(form): Form<LoginForm>,
) -> WebResult<Response> {
    let Ok(phone) = storage::members::normalize_phone(form.phone.as_deref().unwrap_or("")) else {
        let form = LoginForm {
            phone: None,
            ..form
        };
        return Ok(login_view(&ctx, &form, &phone_error(&ctx), Step::Phone));
    };
    let code = form.code.clone().unwrap_or_default().trim().to_owned();
    let form = LoginForm {
        phone: Some(phone.clone()),
        ..form
    };
    let mut errors = FieldErrors::new();
    let consent = form.consent.as_deref().is_some_and(|v| !v.is_empty());
    let member = match member_login::log_in(&state, from, &phone, &code, consent).await? {
        LogIn::Member(member) => member,
        LogIn::ConsentRequired => {
            errors.insert(
                "consent",
                ctx.t(
                    "注册会员需要先阅读并同意隐私政策",
                    "To sign up, read and accept the privacy policy",
                )
                .into(),
            );
            return Ok(login_view(&ctx, &form, &errors, Step::Code(None)));
        }
        LogIn::WrongCode => {
            errors.insert("code", ctx.t("验证码不正确", "Wrong code").into());
            return Ok(login_view(&ctx, &form, &errors, Step::Code(None)));
        }
        LogIn::Expired => {
            errors.insert(
                "phone",
                ctx.t(
                    "验证码已失效，请重新获取",
                    "The code expired; request a new one",
                )
                .into(),
            );
            return Ok(login_view(&ctx, &form, &errors, Step::Phone));
        }
    };
    let session = ensure_session(&state, &ctx).await?;
    let token = new_token("ws_");
    // Share links this browser opened before logging in count as the member's opens now.
    crate::app::shares::logged_in(&state, &ctx.sid, member).await;
    rekey_session(&state, &ctx, session.id, &token, Some(member)).await?;
    let mut resp = redirect(&local_path(form.back.as_deref()));
    set_cookie(&mut resp, &sid_cookie(&token));
    Ok(resp)
}

async fn logout(
    State(state): State<AppState>,
    ctx: Ctx,
    Form(_): Form<std::collections::HashMap<String, String>>,
) -> WebResult<Response> {
    let mut resp = redirect("/");
    if let Some(session) = session(&state, &ctx).await? {
        let token = new_token("ws_");
        rekey_session(&state, &ctx, session.id, &token, None).await?;
        set_cookie(&mut resp, &sid_cookie(&token));
    }
    Ok(resp)
}

fn signed_member_code(state: &AppState, member: uuid::Uuid) -> WebResult<(String, i64)> {
    let code = storage::members::member_code(member, chrono::Utc::now(), MEMBER_CODE_TTL_SECS);
    let expires_in = (code.expires_at - chrono::Utc::now()).num_seconds();
    let text = state
        .keys
        .signer
        .try_sign(&SignedCode::Member(code))
        .map_err(|e| AppError::Internal(anyhow::anyhow!("signing a member code: {e}")))?;
    Ok((text, expires_in))
}

/// Where each ledger on the member centre starts (a page cursor each).
#[derive(Debug, Deserialize, Default)]
struct LedgerParams {
    /// The points ledger's page cursor.
    points: Option<String>,
    /// The balance ledger's page cursor.
    balance: Option<String>,
    /// The notice of the last perk action (check-in, birthday).
    perk: Option<String>,
}

async fn me(
    State(state): State<AppState>,
    ctx: Ctx,
    Query(p): Query<LedgerParams>,
) -> WebResult<Response> {
    let session = session(&state, &ctx).await?;
    let (_, member_id) = require_member(session.as_ref(), "/me")?;
    if !privacy::has_current_consent(&state, member_id).await? {
        return Ok(accept_view(&ctx));
    }
    let rules = &state.settings.points;
    let member = storage::members::get(&state.store, &state.keys, rules, member_id).await?;
    let (points_at, balance_at) = (p.points.as_deref(), p.balance.as_deref());
    let points = storage::members::points_page(&state.store, member_id, points_at, PAGE_SIZE);
    let points = points.await?;
    let balance = storage::members::balance_page(&state.store, member_id, balance_at, PAGE_SIZE);
    let balance = balance.await?;
    let (code, expires_in) = signed_member_code(&state, member_id)?;
    let count = cart_count(&state, session.as_ref()).await?;
    let unread = storage::notices::unread(&state.store, member_id).await?;
    let chat_unread = crate::app::chat::member_unread(&state, member_id).await?;
    let perks = super::perks::card(&state, &ctx, member_id, p.perk.as_deref()).await?;
    let opted_out = crate::app::events::opted_out(&state, member_id).await?;
    let body = html! {
        div.card {
            div.spread {
                div { b { (member.phone) } br; span.status.paid { (member.tier.name) } }
                form method="post" action="/logout" { (ctx.csrf_field()) button.link type="submit" { (ctx.t("退出登录", "Log out")) } }
            }
            div.kpis style="margin-top:10px" {
                @if member.points < 0 {
                    div.kpi.owed { span.muted { (ctx.t("积分欠款", "Points owed")) } b #points-owed { (member.points.saturating_neg()) } }
                } @else {
                    div.kpi { span.muted { (ctx.t("积分", "Points")) } b #points { (member.points) } }
                }
                div.kpi { span.muted { (ctx.t("余额", "Balance")) } b { (yuan(member.balance.fen())) } }
                div.kpi { span.muted { (ctx.t("成长值", "Growth")) } b { (member.growth) } }
                div.kpi { span.muted { (ctx.t("等级", "Tier")) } b { (member.tier.name) } }
            }
        }
        (perks)
        (messages_link(&ctx, unread))
        a.card.spread #chat-me href="/chat" style="display:flex;color:inherit" {
            span { (ctx.t("在线客服", "Customer service")) }
            @if chat_unread > 0 { span.badge #chat-unread { (chat_unread) } }
        }
        div.card.spread {
            a #my-balance href="/me/balance" { (ctx.t("余额与充值", "Balance & recharge")) }
            a #my-coupons href="/me/coupons" { (ctx.t("我的优惠券", "My coupons")) }
            a #my-addresses href="/me/addresses" { (ctx.t("收货地址", "Addresses")) }
            a #my-reviews-link href="/me/reviews" { (ctx.t("我的评价", "My reviews")) }
            a #my-notifications href="/me/notifications" { (ctx.t("通知设置", "Notification settings")) }
            a href="/coupons" { (ctx.t("领券中心", "Coupon centre")) }
            a #points-mall href="/points-mall" { (ctx.t("积分商城", "Points mall")) }
            a #distributor-link href="/distributor" { (ctx.t("分销中心", "Distributor centre")) }
            a #receipt-link href="/receipt" { (ctx.t("扫小票领积分", "Points from a receipt")) }
        }
        div.card.spread #privacy-links {
            a #my-data href="/me/data" { (ctx.t("下载我的数据", "Download my data")) }
            a #delete-account href="/me/delete" { (ctx.t("注销账户", "Delete my account")) }
            a href="/privacy" { (ctx.t("隐私政策", "Privacy policy")) }
        }
        form.card.spread #personalisation method="post" action="/me/personalisation" {
            (ctx.csrf_field())
            div {
                b { (ctx.t("个性化推荐", "Personalisation")) }
                br;
                span.muted #personalisation-state { @if opted_out {
                    (ctx.t("已关闭：您的浏览与购买行为不再与账户关联。", "Off: what you browse and buy is no longer linked to your account."))
                } @else {
                    (ctx.t("已开启：根据您的浏览与购买推荐商品。", "On: suggestions from what you browse and buy."))
                } }
            }
            input type="hidden" name="out" value=(if opted_out { "0" } else { "1" });
            button.btn.secondary #personalisation-toggle type="submit" {
                @if opted_out { (ctx.t("开启", "Turn on")) } @else { (ctx.t("关闭", "Turn off")) }
            }
        }
        div.card.center data-refresh="/me/code" data-expires-in=(expires_in) {
            b { (ctx.t("会员码", "Member code")) }
            div { div.qr { (qr_svg(&code)) } }
            p.muted { (ctx.t("结账时出示，每分钟自动刷新", "Show it at the till; it refreshes every minute")) }
            span hidden data-code-text { (code) }
        }
        div.card {
            b { (ctx.t("积分明细", "Points history")) }
            @if points.items.is_empty() { p.muted { (ctx.t("暂无记录", "Nothing yet")) } }
            @for e in &points.items {
                div.spread { span { (super::ledger_kind(ctx.lang, &e.kind)) @if !e.reason.is_empty() { " · " (e.reason) } br; span.muted { (when(e.created_at.timestamp_millis())) } }
                    b { @if e.delta > 0 { "+" } (e.delta) } }
            }
            (pager(&ctx, "/me", &[("balance", balance_at.unwrap_or(""))], "points", points_at, points.next_cursor.as_deref()))
        }
        div.card {
            b { (ctx.t("余额明细", "Balance history")) }
            @if balance.items.is_empty() { p.muted { (ctx.t("暂无记录", "Nothing yet")) } }
            @for e in &balance.items {
                div.spread { span { (super::ledger_kind(ctx.lang, &e.kind)) br; span.muted { (when(e.created_at.timestamp_millis())) } } b { (yuan(e.amount.fen())) } }
            }
            (pager(&ctx, "/me", &[("points", points_at.unwrap_or(""))], "balance", balance_at, balance.next_cursor.as_deref()))
        }
    };
    Ok(shop_page(
        &ctx,
        ctx.t("会员中心", "Member centre"),
        count,
        body,
    ))
}

async fn member_code(State(state): State<AppState>, ctx: Ctx) -> WebResult<Response> {
    let session = session(&state, &ctx).await?;
    let Some(member) = session.and_then(|s| s.member_id) else {
        return Err(AppError::Unauthorized("log in".into()).into());
    };
    let (code, expires_in) = signed_member_code(&state, member)?;
    Ok(axum::Json(serde_json::json!({
        "code": code,
        "svg": qr_svg(&code).into_string(),
        "expires_in": expires_in,
    }))
    .into_response())
}

/// The message centre: what happened to the member's orders (ready for pickup, shipped,
/// cancelled by the store…), newest first; opening it marks them read.
/// Where each list of the message centre starts (a page cursor each).
#[derive(Debug, Deserialize, Default)]
struct MessageParams {
    /// The order notices' page cursor.
    orders: Option<String>,
    /// The after-sale notices' page cursor.
    cases: Option<String>,
    /// The account notices' page cursor.
    account: Option<String>,
}

async fn messages(
    State(state): State<AppState>,
    ctx: Ctx,
    Query(p): Query<MessageParams>,
) -> WebResult<Response> {
    let session = session(&state, &ctx).await?;
    let (_, member_id) = require_member(session.as_ref(), "/me/messages")?;
    let (orders_at, cases_at) = (p.orders.as_deref(), p.cases.as_deref());
    let notices = storage::notices::recent(
        &state.store,
        member_id,
        Cursor::parse(orders_at)?.as_ref(),
        PAGE_SIZE,
    )
    .await?;
    let mut rows = Vec::with_capacity(notices.items.len());
    for notice in &notices.items {
        let place = match state
            .catalog_cache
            .location(&state.store, &notice.location_id)
            .await?
        {
            Some(l) if ctx.lang == Lang::Zh => l.name_zh,
            Some(l) => l.name_en,
            None => notice.location_id.clone(),
        };
        rows.push((notice, notice_text(&ctx, notice, &place)));
    }
    let cases = storage::after_sales::notices(
        &state.store,
        member_id,
        Cursor::parse(cases_at)?.as_ref(),
        PAGE_SIZE,
    )
    .await?;
    let templates = crate::app::notifications::templates(&state).await?;
    let unsubscribe_sms = crate::app::notifications::unsubscribe_link(
        &state,
        member_id,
        None,
        Some(crate::app::notifications::Channel::Sms),
    );
    let account_at = p.account.as_deref();
    let account = storage::account_notices::recent(
        &state.store,
        member_id,
        Cursor::parse(account_at)?.as_ref(),
        PAGE_SIZE,
    )
    .await?;
    storage::notices::mark_all_read(&state.store, member_id).await?;
    let count = cart_count(&state, session.as_ref()).await?;
    let body = html! {
        @if rows.is_empty() && cases.items.is_empty() && account.items.is_empty() { div.card { p.muted { (ctx.t("暂无消息", "No messages yet")) } } }
        @for notice in &account.items {
            @let (title, text, href) = account_notice_text(&ctx, notice, &templates);
            a.card.notice-row.account-notice style="display:block;color:inherit" href=(href) {
                div.spread {
                    b { (title) @if !notice.read { " " span.badge { (ctx.t("新", "new")) } } }
                    span.muted { (when(notice.created_at.timestamp_millis())) }
                }
                p { (text) }
            }
        }
        @for notice in &cases.items {
            a.card.notice-row.after-sale-notice style="display:block;color:inherit" href={ "/after-sales/" (notice.after_sale_id) } {
                div.spread {
                    b { (ctx.t("售后进度", "After-sale")) " · " (crate::web::after_sale_text::step_label(ctx.lang, &notice.step))
                        @if !notice.read { " " span.badge { (ctx.t("新", "new")) } } }
                    span.muted { (when(notice.created_at.timestamp_millis())) }
                }
                p { (ctx.t("订单 ", "Order ")) (notice.order_no) }
            }
        }
        @for (notice, (title, text)) in &rows {
            a.card.notice-row style="display:block;color:inherit" href={ "/orders/" (notice.order_id) } {
                div.spread {
                    b { (title) @if !notice.read { " " span.badge { (ctx.t("新", "new")) } } }
                    span.muted { (when(notice.created_at.timestamp_millis())) }
                }
                p { (text) }
            }
        }
        (pager(&ctx, "/me/messages", &[("orders", orders_at.unwrap_or(""))], "cases", cases_at, cases.next_cursor.as_deref()))
        (pager(&ctx, "/me/messages", &[("cases", cases_at.unwrap_or(""))], "orders", orders_at, notices.next_cursor.as_deref()))
        (pager(&ctx, "/me/messages", &[("orders", orders_at.unwrap_or("")), ("cases", cases_at.unwrap_or(""))], "account", account_at, account.next_cursor.as_deref()))
        p.muted {
            a #notification-settings href="/me/notifications" { (ctx.t("通知设置", "Notification settings")) }
            " · "
            a #sms-unsubscribe href=(unsubscribe_sms) { (ctx.t("退订全部短信通知", "Unsubscribe from all SMS notices")) }
        }
    };
    Ok(shop_page(&ctx, ctx.t("消息", "Messages"), count, body))
}

/// An account notice's headline, text and link for people.
fn account_notice_text(
    ctx: &Ctx,
    notice: &storage::account_notices::AccountNotice,
    templates: &[crate::app::notifications::Template],
) -> (String, String, String) {
    let d = &notice.detail;
    match notice.kind.as_str() {
        storage::account_notices::COUPON_EXPIRING => {
            let name =
                if ctx.lang == Lang::En && d["name_en"].as_str().is_some_and(|n| !n.is_empty()) {
                    d["name_en"].as_str().unwrap_or_default()
                } else {
                    d["name_zh"].as_str().unwrap_or_default()
                };
            let until = d["valid_until"].as_i64().map(when).unwrap_or_default();
            (
                ctx.t("优惠券即将过期", "A coupon expires soon").to_owned(),
                format!("{name} · {}{until}", ctx.t("有效期至 ", "valid until ")),
                "/me/coupons".into(),
            )
        }
        storage::account_notices::BIRTHDAY_PERK => {
            let points = d["points"].as_i64().unwrap_or(0);
            let mut text = format!(
                "{}{points}{}",
                ctx.t("生日礼已送达：", "Your birthday perk: "),
                ctx.t(" 积分", " points")
            );
            if let Some(coupon) = d["coupon"].as_str() {
                text.push_str(ctx.t("，和一张", " and a coupon: "));
                text.push_str(coupon);
            }
            (
                ctx.t("生日快乐！", "Happy birthday!").to_owned(),
                text,
                "/me".into(),
            )
        }
        kind @ (storage::account_notices::BARGAIN_HELPED
        | storage::account_notices::BARGAIN_FLOOR) => {
            let name =
                if ctx.lang == Lang::En && d["name_en"].as_str().is_some_and(|n| !n.is_empty()) {
                    d["name_en"].as_str().unwrap_or_default()
                } else {
                    d["name_zh"].as_str().unwrap_or_default()
                };
            let (cut, price) = (
                d["cut"].as_str().unwrap_or_default(),
                d["price"].as_str().unwrap_or_default(),
            );
            let floor = kind == storage::account_notices::BARGAIN_FLOOR;
            (
                if floor {
                    ctx.t("已砍到底价！", "Your bargain is at its floor!")
                } else {
                    ctx.t("好友帮你砍了一刀", "A friend helped your bargain")
                }
                .to_owned(),
                if floor {
                    format!(
                        "{name} · {}¥{price}",
                        ctx.t("快去以底价购买：", "buy it now at ")
                    )
                } else {
                    format!(
                        "{name} · {}¥{cut}{}¥{price}",
                        ctx.t("砍掉 ", "cut "),
                        ctx.t("，当前价 ", ", now ")
                    )
                },
                format!("/bargain/{}", d["run"].as_str().unwrap_or_default()),
            )
        }
        kind => {
            use crate::app::notifications::EventKind as K;
            let Some(template) =
                K::parse(kind).and_then(|k| templates.iter().find(|t| t.kind == k))
            else {
                return (
                    ctx.t("消息", "Message").to_owned(),
                    String::new(),
                    "/me".into(),
                );
            };
            let english = ctx.lang == Lang::En;
            let href = match template.kind {
                K::BalanceChanged => "/me/balance".to_owned(),
                _ => match d["order_id"].as_str() {
                    Some(order) => format!("/orders/{order}"),
                    None => "/me".to_owned(),
                },
            };
            (
                template.title(english).to_owned(),
                template.text(english, d),
                href,
            )
        }
    }
}

/// A notice's headline and text for people.
fn notice_text(
    ctx: &Ctx,
    notice: &storage::notices::Notice,
    place: &str,
) -> (&'static str, String) {
    use storage::notices::NoticeKind as K;
    let no = &notice.order_no;
    match notice.kind {
        K::Paid => (
            ctx.t("支付成功", "Payment received"),
            if ctx.lang == Lang::Zh {
                format!("订单 {no} 已付款，我们正在为您备货。")
            } else {
                format!("Order {no} is paid; we are getting it ready.")
            },
        ),
        K::ReadyForPickup => (
            ctx.t("可以取货了", "Ready for pickup"),
            if ctx.lang == Lang::Zh {
                format!("订单 {no} 已备好，请凭取件码到 {place} 自提。")
            } else {
                format!("Order {no} is ready: collect it at {place} with your pickup code.")
            },
        ),
        K::Shipped => (
            ctx.t("已发货", "Shipped"),
            if ctx.lang == Lang::Zh {
                format!("订单 {no} 已从 {place} 发出。")
            } else {
                format!("Order {no} has left {place}.")
            },
        ),
        K::Delivered => (
            ctx.t("已送达", "Delivered"),
            if ctx.lang == Lang::Zh {
                format!("订单 {no} 已送达，感谢您的惠顾。")
            } else {
                format!("Order {no} has been delivered. Thank you!")
            },
        ),
        K::Cancelled => (
            ctx.t("订单已取消", "Order cancelled"),
            if ctx.lang == Lang::Zh {
                format!("订单 {no} 已取消；已付款项将原路退回。")
            } else {
                format!("Order {no} was cancelled; anything paid goes back the way it came.")
            },
        ),
        K::Refunded => (
            ctx.t("退款完成", "Refunded"),
            if ctx.lang == Lang::Zh {
                format!("订单 {no} 已退款。")
            } else {
                format!("Order {no} has been refunded.")
            },
        ),
        K::OutForDelivery => (
            ctx.t("派送中", "Out for delivery"),
            if ctx.lang == Lang::Zh {
                format!("订单 {no} 的包裹正在派送，请保持电话畅通。")
            } else {
                format!("Order {no} is out for delivery today; keep your phone at hand.")
            },
        ),
        K::DeliveryProblem => (
            ctx.t("配送异常", "Delivery problem"),
            if ctx.lang == Lang::Zh {
                format!("订单 {no} 的包裹配送遇到问题，可在订单页查看物流或申请售后。")
            } else {
                format!("The carrier reported a problem with order {no}: see its tracking, or ask for a refund on its page.")
            },
        ),
        K::GroupFilled => (
            ctx.t("拼团成功", "Group-buy team filled"),
            if ctx.lang == Lang::Zh {
                format!("订单 {no} 的拼团已成团，将按时发货或备货自提。")
            } else {
                format!("The team of order {no} is full: the order goes on to fulfilment.")
            },
        ),
        K::GroupFailed => (
            ctx.t("拼团失败", "Group-buy team failed"),
            if ctx.lang == Lang::Zh {
                format!("订单 {no} 的拼团未能按时成团，订单已取消，款项将原路退回。")
            } else {
                format!("The team of order {no} did not fill in time: the order is cancelled and refunded the way it was paid.")
            },
        ),
    }
}

/// A ledger row's kind for people.
/// The privacy-policy box of the log-in form (required for a sign-up).
fn consent_box(ctx: &Ctx, errors: &FieldErrors) -> maud::Markup {
    let err = errors.get("consent");
    html! {
        div.field.has-error[err.is_some()] {
            label {
                input #consent type="checkbox" name="consent" value="on";
                " " (ctx.t("我已阅读并同意", "I have read and accept the "))
                a href="/privacy" target="_blank" { (ctx.t("隐私政策", "privacy policy")) }
                " (" (PRIVACY_POLICY_VERSION) ")"
            }
            @if let Some(e) = err { p.field-error role="alert" data-field="consent" { (e) } }
        }
    }
}

/// The privacy policy's text (zh and en) for the current [`PRIVACY_POLICY_VERSION`].
fn policy_text(ctx: &Ctx) -> maud::Markup {
    html! {
        p { (ctx.t("版本 ", "Version ")) b #policy-version { (PRIVACY_POLICY_VERSION) } }
        p { (ctx.t(
            "我们收集您的手机号（加密保存，用于登录和识别会员）、订单及其商品、积分与余额明细、优惠券和订单消息，用于提供购物、自提、配送和会员服务。配送地址加密保存，仅用于配送。",
            "We collect your mobile number (stored encrypted; used to log you in and recognise you as a member), your orders and their items, your points and balance history, coupons and order messages, to provide shopping, pickup, delivery and membership. Delivery addresses are stored encrypted and used only for delivery.")) }
        p { (ctx.t(
            "我们不会出售您的个人信息。门店员工只能看到经过遮盖的手机号。",
            "We do not sell your personal information. Store staff see only a masked phone number.")) }
        p { (ctx.t(
            "您可以随时在会员中心下载您的全部数据，或注销账户。注销后，您的手机号和姓名被删除，剩余积分和未使用的优惠券作废；为保持账目完整，订单和积分、余额流水以匿名方式保留。余额不为零或有未完成订单时不能注销。",
            "You can download all your data from the member centre at any time, or delete your account. Deletion removes your phone number and name and forfeits remaining points and unused coupons; orders and the points and balance ledgers are kept, anonymised, so the books stay complete. An account with a balance above zero or an open order cannot be deleted.")) }
    }
}

/// `/privacy`: the policy.
async fn privacy_page(State(state): State<AppState>, ctx: Ctx) -> WebResult<Response> {
    let session = session(&state, &ctx).await?;
    let count = cart_count(&state, session.as_ref()).await?;
    let body = html! { div.card #privacy-policy { (policy_text(&ctx)) } };
    Ok(shop_page(
        &ctx,
        ctx.t("隐私政策", "Privacy policy"),
        count,
        body,
    ))
}

/// The page a logged-in member sees instead of the member centre until they accept the current
/// policy version.
fn accept_view(ctx: &Ctx) -> Response {
    let body = html! {
        div.card #privacy-accept {
            div.notice role="status" { (ctx.t("隐私政策已更新，请阅读并同意后继续使用会员中心。",
                "Our privacy policy has changed; please read and accept it to go on using the member centre.")) }
            (policy_text(ctx))
            form method="post" action="/privacy/accept" {
                (ctx.csrf_field())
                button.btn.block type="submit" { (ctx.t("同意并继续", "Accept and continue")) }
            }
            p.muted { (ctx.t("不同意？您仍可 ", "Do not accept? You can still "))
                a href="/me/data" { (ctx.t("下载您的数据", "download your data")) } (ctx.t(" 或 ", " or "))
                a href="/me/delete" { (ctx.t("注销账户", "delete your account")) } }
        }
    };
    shop_page(ctx, ctx.t("隐私政策", "Privacy policy"), 0, body)
}

/// `POST /privacy/accept`: the logged-in member accepts the current version.
async fn accept_privacy(
    State(state): State<AppState>,
    from: ClientAddr,
    ctx: Ctx,
    Form(_): Form<std::collections::HashMap<String, String>>,
) -> WebResult<Response> {
    let session = session(&state, &ctx).await?;
    let (_, member_id) = require_member(session.as_ref(), "/me")?;
    privacy::accept_policy(&state, member_id, from.0).await?;
    Ok(redirect("/me"))
}

#[derive(Debug, Deserialize)]
struct PersonalisationForm {
    out: String,
}

/// `POST /me/personalisation`: the member opts out of personalisation (`out=1`; their events
/// are stored without their member id from now on) or back in (`out=0`).
async fn set_personalisation(
    State(state): State<AppState>,
    ctx: Ctx,
    Form(form): Form<PersonalisationForm>,
) -> WebResult<Response> {
    let session = session(&state, &ctx).await?;
    let (_, member_id) = require_member(session.as_ref(), "/me")?;
    crate::app::events::set_opt_out(&state, member_id, form.out == "1").await?;
    Ok(redirect("/me"))
}

/// `/me/data`: the member's data as a JSON download.
async fn my_data(State(state): State<AppState>, ctx: Ctx) -> WebResult<Response> {
    let session = session(&state, &ctx).await?;
    let (_, member_id) = require_member(session.as_ref(), "/me/data")?;
    let data = privacy::export(&state, member_id).await?;
    let body = serde_json::to_vec_pretty(&data).map_err(|e| AppError::Internal(e.into()))?;
    Ok((
        [
            (
                axum::http::header::CONTENT_TYPE,
                "application/json; charset=utf-8".to_owned(),
            ),
            (
                axum::http::header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"member-data-{member_id}.json\""),
            ),
            (axum::http::header::CACHE_CONTROL, "no-store".to_owned()),
        ],
        body,
    )
        .into_response())
}

#[derive(Debug, Deserialize, Default)]
struct DeleteForm {
    confirm: Option<String>,
}

fn delete_view(ctx: &Ctx, errors: &FieldErrors) -> Response {
    let body = html! {
        div.card #delete-form {
            b { (ctx.t("注销账户", "Delete my account")) }
            p { (ctx.t(
                "注销后，您的手机号和姓名被删除，剩余积分和未使用的优惠券作废，无法恢复；订单和积分、余额流水以匿名方式保留。余额不为零或有未完成订单时不能注销。",
                "Deleting removes your phone number and name and forfeits your remaining points and unused coupons; it cannot be undone. Orders and ledgers are kept, anonymised. An account with a balance above zero or an open order cannot be deleted.")) }
            p { a href="/me/data" { (ctx.t("先下载我的数据", "Download my data first")) } }
            form method="post" action="/me/delete" {
                (ctx.csrf_field())
                (field(ctx.t("请输入“注销”或 DELETE 确认", "Type DELETE (or 注销) to confirm"), "confirm", "text", "", errors, html!{}))
                button.btn.block type="submit" { (ctx.t("永久注销", "Delete permanently")) }
            }
        }
    };
    shop_page(ctx, ctx.t("注销账户", "Delete my account"), 0, body)
}

/// `/me/delete`: the confirmation form.
async fn delete_page(State(state): State<AppState>, ctx: Ctx) -> WebResult<Response> {
    let session = session(&state, &ctx).await?;
    require_member(session.as_ref(), "/me/delete")?;
    Ok(delete_view(&ctx, &FieldErrors::new()))
}

/// `POST /me/delete`: deletes (anonymises) the account once the confirmation is typed, then
/// logs the browser out. Refusals (balance, open orders) are 409 pages and change nothing.
async fn delete_account(
    State(state): State<AppState>,
    from: ClientAddr,
    ctx: Ctx,
    Form(form): Form<DeleteForm>,
) -> WebResult<Response> {
    let session = session(&state, &ctx).await?;
    let (session_id, member_id) = require_member(session.as_ref(), "/me/delete")?;
    if !privacy::is_delete_confirmation(form.confirm.as_deref().unwrap_or("")) {
        let mut errors = FieldErrors::new();
        errors.insert(
            "confirm",
            ctx.t("请输入“注销”或 DELETE", "Type DELETE (or 注销)")
                .into(),
        );
        let mut resp = delete_view(&ctx, &errors);
        *resp.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
        return Ok(resp);
    }
    let outcome = privacy::delete_account(&state, member_id, from.0).await?;
    let token = new_token("ws_");
    rekey_session(&state, &ctx, session_id, &token, None).await?;
    let body = html! {
        div.card #account-deleted {
            b { (ctx.t("账户已注销", "Your account is deleted")) }
            @if let Deleted::Now { points, coupons } = outcome {
                p.muted { (ctx.t("作废积分 ", "Points forfeited: ")) (points) " · " (ctx.t("作废优惠券 ", "coupons forfeited: ")) (coupons) }
            }
            p { a href="/" { (ctx.t("返回首页", "Back to the shop")) } }
        }
    };
    let mut resp = shop_page(&ctx, ctx.t("账户已注销", "Account deleted"), 0, body);
    set_cookie(&mut resp, &sid_cookie(&token));
    Ok(resp)
}
