//! The shop: the pages for shoppers, one module per area — [`browse`] (home, categories, search
//! with suggestions, product page with per-store availability), [`cart`], [`checkout`] (pickup
//! or delivery, coupons and points), [`orders`] (the shopper's orders, payment through the
//! provider, the pickup code as a QR), [`member`] (log-in by phone, member centre, member code,
//! messages), [`balance`] (stored value: recharge, payment PIN, paying with the balance),
//! [`coupons`] (coupon centre, my coupons), [`scan`] (scan-and-go) and [`receipts`]
//! (e-receipts, claiming a receipt's points), [`after_sales`] (asking for a refund, a return or an
//! exchange, and following it), [`distributor`] (the distributor centre, 分销). Paying inside WeChat's browser goes through
//! WeChat's authorisation first ([`crate::app::wechat_oauth`]; its callback is in [`orders`]).
//!
//! Prices come from the server's price look-ups (`CatalogCache::sku_prices`); orders are placed
//! through the same path as `POST /api/v1/orders` ([`crate::app::checkout::place`]), so
//! what the order charges is decided there, never here.
//!
//! This module holds what the areas share: the shopper's session (thin wrappers over
//! [`crate::app::shop_session`]), [`require_member`], the link to the messages and the
//! warehouse delivery orders ship from; `basket` shows and prices a cart or a scan-and-go basket
//! with the pricing engine; `recommended` shows recommendation tiles (home, product page, cart).
//! The area modules use these and [`crate::web`], never each other.

use std::collections::HashMap;

use axum::Router;
use maud::html;
use uuid::Uuid;

use super::{redirect, Ctx, WebError, WebResult};
use crate::app::shop_session;
use crate::app::AppState;
use crate::error::AppError;
use crate::storage::web::WebSession;

pub mod addresses;
pub mod after_sales;
pub mod balance;
pub mod bargain;
mod basket;
pub mod browse;
pub mod cart;
pub mod chat;
pub mod checkout;
pub mod checkouts;
pub mod coupons;
pub mod distributor;
pub mod group;
pub mod member;
pub mod merchant;
pub mod notifications;
pub mod orders;
pub mod perks;
pub mod poster;
pub mod receipts;
mod recommended;
pub mod reviews;
pub mod scan;

/// Shop routes: every area's pages.
pub fn router() -> Router<AppState> {
    Router::new()
        .merge(browse::router())
        .merge(merchant::router())
        .merge(cart::router())
        .merge(checkout::router())
        .merge(orders::router())
        .merge(checkouts::router())
        .merge(after_sales::router())
        .merge(reviews::router())
        .merge(member::router())
        .merge(notifications::router())
        .merge(coupons::router())
        .merge(scan::router())
        .merge(receipts::router())
        .merge(balance::router())
        .merge(addresses::router())
        .merge(perks::router())
        .merge(group::router())
        .merge(poster::router())
        .merge(bargain::router())
        .merge(distributor::router())
        .merge(chat::router())
}

/// Where delivery prices are shown from before an address is known (the first warehouse; see
/// [`crate::app::checkout::default_delivery_location`]).
async fn warehouse(state: &AppState) -> WebResult<String> {
    Ok(crate::app::checkout::default_delivery_location(state).await?)
}

/// Where the shop prices the product page and the cart: the pickup store the shopper chose,
/// else where delivery ships from ([`warehouse`]).
async fn price_location(state: &AppState, session: Option<&WebSession>) -> WebResult<String> {
    match session.and_then(|s| s.pickup_store.clone()) {
        Some(store) => Ok(store),
        None => warehouse(state).await,
    }
}

/// Where the JSAPI pages live (`/pay/wechat/{payment}`): WeChat opens its payment sheet only for
/// a page right in a directory registered as the merchant's JSAPI payment directory
/// (支付授权目录, matched exactly), so every JSAPI page sits in this one directory.
pub const WECHAT_PAY_DIRECTORY: &str = "/pay/wechat/";

/// The shopper's stored session, if there is one.
pub async fn session(state: &AppState, ctx: &Ctx) -> WebResult<Option<WebSession>> {
    Ok(shop_session::session(state, &ctx.sid).await?)
}

/// The shopper's session, created when missing.
pub async fn ensure_session(state: &AppState, ctx: &Ctx) -> WebResult<WebSession> {
    Ok(shop_session::ensure_session(state, &ctx.sid).await?)
}

/// Logs a member in (`Some`) or out (`None`) of the shopper's session and moves it to the new
/// token `new_token` (no session fixation).
pub async fn rekey_session(
    state: &AppState,
    ctx: &Ctx,
    session: Uuid,
    new_token: &str,
    member: Option<Uuid>,
) -> WebResult<()> {
    Ok(shop_session::rekey_session(state, &ctx.sid, session, new_token, member).await?)
}

/// Units in the cart (for the tab bar badge).
pub async fn cart_count(state: &AppState, session: Option<&WebSession>) -> WebResult<i64> {
    Ok(shop_session::cart_count(state, session).await?)
}

/// The logged-in member's id, or a redirect to the log-in page.
pub fn require_member(session: Option<&WebSession>, back: &str) -> WebResult<(Uuid, Uuid)> {
    match session {
        Some(WebSession {
            id,
            member_id: Some(m),
            ..
        }) => Ok((*id, *m)),
        _ => Err(WebError::Redirect(format!(
            "/login?back={}",
            super::urlencode(back)
        ))),
    }
}

/// What a group-buy refusal code (`team_full`, `already_joined`, …) says to the shopper.
pub fn group_refusal_text(ctx: &Ctx, code: &str) -> String {
    match code {
        "team_full" => ctx.t(
            "该团已满员，可以自己开团。",
            "This team is full: open one of your own.",
        ),
        "team_closed" => ctx.t("该团已结束。", "This team has closed."),
        "already_joined" => ctx.t("你已在该团中。", "You are in this team already."),
        "group_buy_sold_out" => ctx.t("拼团库存已售罄。", "The group-buy has sold out."),
        "group_buy_limit" => ctx.t(
            "已达到每人限购数量。",
            "You have reached the per-member limit.",
        ),
        "group_buy_not_running" => ctx.t("拼团活动未在进行中。", "The group-buy is not running."),
        "new_members_only" => ctx.t(
            "该拼团仅限新会员参加。",
            "This group-buy is for new members only.",
        ),
        "out_of_stock" => ctx.t(
            "门店库存不足，请换个门店。",
            "Not enough stock at that store: choose another.",
        ),
        _ => ctx.t(
            "暂时无法参团，请稍后再试。",
            "Could not join right now; please try again.",
        ),
    }
    .to_owned()
}

/// What a bargain refusal code (`already_helped`, `bargain_expired`, …) says to the shopper.
pub fn bargain_refusal_text(ctx: &Ctx, code: &str) -> String {
    match code {
        "own_bargain" => ctx.t(
            "不能给自己砍价，快分享给好友吧。",
            "You cannot help your own bargain: share it with friends.",
        ),
        "already_helped" => ctx.t(
            "你已经帮 TA 砍过了。",
            "You have helped this bargain already.",
        ),
        "daily_help_limit" => ctx.t(
            "今天的助力次数已用完，明天再来吧。",
            "You have used today's helps: come back tomorrow.",
        ),
        "bargain_expired" => ctx.t("该砍价已过期。", "This bargain has expired."),
        "bargain_finished" => ctx.t("已经砍到底价啦。", "This bargain is at its floor already."),
        "bargain_bought" => ctx.t("该砍价已购买。", "This bargain has been bought."),
        "bargain_sold_out" => ctx.t("砍价库存已售罄。", "The bargain has sold out."),
        "bargain_limit" => ctx.t(
            "已达到每人可发起的砍价次数。",
            "You have started as many of these bargains as allowed.",
        ),
        "bargain_not_running" => ctx.t("砍价活动未在进行中。", "The bargain is not running."),
        "new_members_only" => ctx.t(
            "该砍价仅限新会员助力。",
            "Only new members may help this bargain.",
        ),
        "not_starter" => ctx.t(
            "只有发起人可以购买。",
            "Only the member who started it may buy it.",
        ),
        "out_of_stock" => ctx.t(
            "门店库存不足，请换个门店。",
            "Not enough stock at that store: choose another.",
        ),
        _ => ctx.t(
            "暂时无法完成，请稍后再试。",
            "Could not do that right now; please try again.",
        ),
    }
    .to_owned()
}

/// The member centre's link to the message centre, with the unread count.
pub fn messages_link(ctx: &Ctx, unread: i64) -> maud::Markup {
    html! {
        a.card.spread #messages-link href="/me/messages" style="display:flex;color:inherit" {
            span { (ctx.t("消息", "Messages")) }
            @if unread > 0 { span.badge #unread { (unread) } }
        }
    }
}

/// Starts a payment of a pending order through the provider the shopper chose (the first one
/// this server has when none was chosen) and sends the shopper on: to the provider's page, or
/// to the page showing its QR code. Inside WeChat's browser, WeChat Pay (when its authorisation
/// is configured) is paid in place by JSAPI: with the openid this session was given, at once;
/// otherwise first through WeChat's authorisation, whose callback pays.
pub async fn start_payment(
    state: &AppState,
    client: &crate::actor::ClientAddr,
    ctx: &Ctx,
    order_id: Uuid,
    chosen: Option<&String>,
) -> WebResult<axum::response::Response> {
    use crate::app::payment_providers::Provider;
    let provider = chosen_provider(state, chosen)?;
    if ctx.wechat_browser
        && provider == Provider::WechatPay
        && crate::app::wechat_oauth::available(state)
    {
        let session = ensure_session(state, ctx).await?;
        return match crate::app::wechat_oauth::session_openid(state, session.id).await? {
            Some(openid) => pay_in_wechat(state, client, order_id, openid).await,
            None => Ok(redirect(
                &crate::app::wechat_oauth::begin(
                    state,
                    client,
                    session.id,
                    crate::app::wechat_oauth::PaidInWechat::Order(order_id),
                )
                .await?,
            )),
        };
    }
    let scene = browser_scene(state, ctx, provider, &format!("/orders/{order_id}"));
    let started = crate::app::payments::start_order_payment(
        state,
        client,
        retail_domain::ids::new_id(),
        order_id,
        provider,
        &scene,
    )
    .await?;
    Ok(match &started.prepay {
        retail_payments::Prepay::Redirect { url } => redirect(url),
        _ => redirect(&format!("/orders/{order_id}/pay/{}", started.payment.id)),
    })
}

/// The provider the shopper chose on a page's pay button, or the first one this server has
/// when none (or one it does not have) was chosen; 503 when it has none.
pub fn chosen_provider(
    state: &AppState,
    chosen: Option<&String>,
) -> WebResult<crate::app::payment_providers::Provider> {
    let available = state.payments.available();
    Ok(chosen
        .and_then(|name| available.iter().find(|p| p.as_str() == name.as_str()))
        .or_else(|| available.first())
        .copied()
        .ok_or_else(|| {
            crate::error::AppError::Unavailable("no payment provider is configured".into())
        })?)
}

/// Where a shopper in this browser pays through `provider`: a phone outside WeChat on the
/// provider's mobile page (coming back to the shop's `return_path`), everything else by QR code.
pub fn browser_scene(
    state: &AppState,
    ctx: &Ctx,
    provider: crate::app::payment_providers::Provider,
    return_path: &str,
) -> crate::app::payments::PayScene {
    use crate::app::payment_providers::Provider;
    if ctx.mobile_browser && provider != Provider::Sandbox {
        crate::app::payments::PayScene::MobileWeb {
            return_url: format!("{}{return_path}", state.public_url),
        }
    } else {
        crate::app::payments::PayScene::QrCode
    }
}

/// The message for what went wrong paying or recharging with the stored balance (a short code
/// in the next page's address, see `balance::error_code`).
pub fn balance_error_text(ctx: &Ctx, code: &str) -> &'static str {
    match code {
        "locked" => ctx.t(
            "支付密码错误次数过多，余额支付已锁定 30 分钟",
            "Too many wrong PINs: the balance is locked for 30 minutes",
        ),
        "no_pin" => ctx.t("请先设置支付密码", "Set a payment PIN first"),
        "balance" => ctx.t("余额不足", "Not enough balance"),
        "not_payable" => ctx.t("订单已无法支付", "This order can no longer be paid"),
        "pin" => ctx.t("支付密码错误", "Wrong payment PIN"),
        "amount" => ctx.t("金额不正确", "That amount cannot be paid"),
        "weak" => ctx.t(
            "支付密码为 6 位数字，不能全部相同或连续",
            "The PIN is 6 digits, not all one digit or a run like 123456",
        ),
        "mismatch" => ctx.t("两次输入不一致", "The two PINs differ"),
        "busy" => ctx.t("操作太频繁，请稍后再试", "Too many tries; wait a moment"),
        _ => ctx.t("操作未完成，请重试", "That did not work; try again"),
    }
}

/// Starts a JSAPI payment of a pending order for the shopper's openid and sends the shopper to
/// its page, which calls WeChat's in-app payment (`/pay/wechat/{payment}`).
pub async fn pay_in_wechat(
    state: &AppState,
    client: &crate::actor::ClientAddr,
    order_id: Uuid,
    openid: String,
) -> WebResult<axum::response::Response> {
    let started = crate::app::payments::start_order_payment(
        state,
        client,
        retail_domain::ids::new_id(),
        order_id,
        crate::app::payment_providers::Provider::WechatPay,
        &crate::app::payments::PayScene::WechatJsapi { openid },
    )
    .await?;
    Ok(redirect(&format!(
        "{}{}",
        WECHAT_PAY_DIRECTORY, started.payment.id
    )))
}

/// A points or balance ledger row's kind for people.
pub fn ledger_kind(lang: crate::web::Lang, kind: &str) -> &'static str {
    match kind {
        "earn" => lang.t("消费获得", "Earned"),
        "redeem" => lang.t("抵扣使用", "Redeemed"),
        "expire" => lang.t("过期", "Expired"),
        "adjust" => lang.t("人工调整", "Adjustment"),
        "reverse" | "refund" => lang.t("退货退回", "Returned"),
        "topup" => lang.t("充值", "Top-up"),
        "pay" => lang.t("支付", "Payment"),
        _ => lang.t("其他", "Other"),
    }
}

/// The JSAPI page's card: WeChat's in-app payment parameters for the page's script
/// (`/static/app.js`, which hands them to `WeixinJSBridge`), where to go once WeChat says paid,
/// and what is paid.
pub fn wechat_pay_card(
    ctx: &Ctx,
    count: i64,
    params: &serde_json::Value,
    done: &str,
    amount: retail_domain::money::Money,
    caption: &str,
    back: &str,
) -> axum::response::Response {
    use crate::app::payment_providers::Provider;
    let body = html! {
        div.card.center #wechat-pay data-params=(params.to_string()) data-done=(done) {
            b { (Provider::WechatPay.label()) }
            p { (ctx.t("在微信中支付 ", "Pay in WeChat ")) b.price { (crate::web::yuan(amount.fen())) } }
            p.muted { (caption) }
            p #wechat-pay-status role="status"
                data-cancelled=(ctx.t("支付已取消。", "The payment was cancelled."))
                data-failed=(ctx.t("支付未完成，请重试。", "The payment did not go through; try again.")) {
                (ctx.t("正在打开微信支付…", "Opening WeChat Pay…"))
            }
            button.btn.block #wechat-pay-again type="button" hidden style="margin-bottom:8px" { (ctx.t("重新支付", "Pay again")) }
            a.btn.secondary.block href=(back) { (ctx.t("返回", "Back")) }
        }
    };
    crate::web::shop_page(ctx, ctx.t("微信支付", "WeChat Pay"), count, body)
}

/// Sends the shopper to the JSAPI page of their pending recharge (which starts it at WeChat Pay
/// for the openid this session was given); a recharge no longer pending goes back to the
/// balance.
pub async fn recharge_in_wechat(
    state: &AppState,
    member: Uuid,
    recharge_id: Uuid,
) -> WebResult<axum::response::Response> {
    let recharge = crate::storage::stored_value::recharge_by_id(&state.store, recharge_id)
        .await?
        .filter(|r| r.member_id == member)
        .ok_or_else(|| crate::error::AppError::not_found("no such recharge"))?;
    if recharge.status != "pending" {
        return Ok(redirect("/me/balance"));
    }
    Ok(redirect(&format!("{WECHAT_PAY_DIRECTORY}{recharge_id}")))
}

/// The JSAPI page of a member's pending recharge (in [`WECHAT_PAY_DIRECTORY`]): parameters
/// signed afresh for this visit, for the openid this session was given.
pub async fn recharge_wechat_page(
    state: &AppState,
    client: &crate::actor::ClientAddr,
    ctx: &Ctx,
    recharge_id: Uuid,
) -> WebResult<axum::response::Response> {
    let session = session(state, ctx).await?;
    let (_, member) = require_member(session.as_ref(), "/me/balance")?;
    let recharge = crate::storage::stored_value::recharge_by_id(&state.store, recharge_id)
        .await?
        .filter(|r| r.member_id == member && r.method == "wechat_pay")
        .ok_or_else(|| crate::error::AppError::not_found("no such payment"))?;
    if recharge.status != "pending" {
        return Ok(redirect("/me/balance"));
    }
    let openid = match &session {
        Some(s) => crate::app::wechat_oauth::session_openid(state, s.id).await?,
        None => None,
    }
    .ok_or_else(|| crate::error::AppError::not_found("this recharge is not paid in WeChat"))?;
    let package = recharge
        .package_id
        .ok_or_else(|| crate::error::AppError::not_found("no such recharge"))?;
    let started = crate::app::recharges::start(
        state,
        client,
        member,
        recharge_id,
        package,
        crate::app::payment_providers::Provider::WechatPay,
        &crate::app::payment_providers::PayScene::WechatJsapi { openid },
    )
    .await?;
    let retail_payments::Prepay::InApp { params } = started.prepay else {
        return Err(
            crate::error::AppError::not_found("this recharge is not paid in WeChat").into(),
        );
    };
    let count = cart_count(state, session.as_ref()).await?;
    Ok(wechat_pay_card(
        ctx,
        count,
        &params,
        &format!("/me/balance/recharge/{recharge_id}"),
        recharge.pay,
        ctx.t("会员充值", "Balance recharge"),
        "/me/balance",
    ))
}

/// The largest form with up to `photos` photo files read (after-sales, reviews): each photo at
/// the media limit's default, and the fields.
pub const fn photo_form_limit(photos: usize) -> usize {
    photos * 15 * 1024 * 1024 + 64 * 1024
}

/// A multipart form's fields and its `photos` files (empty ones left out), its CSRF token
/// checked (after-sales, reviews). A form that cannot be read whole is the inner error
/// `image_too_large`; a NUL in a field `validation_failed`.
pub async fn read_photo_form(
    state: &AppState,
    sid: &str,
    mut multipart: axum::extract::Multipart,
) -> WebResult<Result<(HashMap<String, String>, Vec<bytes::Bytes>), AppError>> {
    let mut fields = HashMap::new();
    let mut photos = Vec::new();
    let unreadable = || {
        AppError::field_code(
            "image_too_large",
            "image",
            "the form could not be read whole",
        )
    };
    loop {
        let part = match multipart.next_field().await {
            Ok(Some(part)) => part,
            Ok(None) => break,
            Err(_) => return Ok(Err(unreadable())),
        };
        let name = part.name().unwrap_or("").to_owned();
        if name == "photos" {
            let bytes = match part.bytes().await {
                Ok(bytes) => bytes,
                Err(_) => return Ok(Err(unreadable())),
            };
            if !bytes.is_empty() {
                photos.push(bytes);
            }
        } else if fields.len() < 200 {
            let text = match part.text().await {
                Ok(text) => text,
                Err(_) => return Ok(Err(unreadable())),
            };
            if text.contains('\0') {
                return Ok(Err(AppError::field("form", "no NUL characters")));
            }
            fields.insert(name, text);
        }
    }
    super::check_csrf(state, sid, fields.get("_csrf").map(String::as_str))?;
    Ok(Ok((fields, photos)))
}

/// Keeps a form's photos through the media module (checked, re-encoded, thumbnailed) and
/// answers their names: more than `max` is 422 `too_many_photos` and keeps none.
pub async fn keep_photos(
    state: &AppState,
    photos: Vec<bytes::Bytes>,
    max: usize,
) -> Result<Vec<String>, AppError> {
    if photos.len() > max {
        return Err(AppError::field_code(
            "too_many_photos",
            "photos",
            format!("at most {max} photos"),
        ));
    }
    let mut names = Vec::with_capacity(photos.len());
    for photo in photos {
        names.push(
            crate::app::media::store_image(state, photo)
                .await?
                .full
                .name,
        );
    }
    Ok(names)
}

/// A delivery order's slot, carrier and waybill, and its tracking events as a timeline, newest
/// first (the shop's order page).
fn tracking_timeline(
    ctx: &Ctx,
    delivery: &crate::storage::delivery::OrderDelivery,
    events: &[crate::storage::delivery::TrackingEvent],
) -> maud::Markup {
    let label = |status: &str| crate::web::tracking_label(ctx.lang, status);
    maud::html! {
        div.card #tracking-timeline {
            b { (ctx.t("物流", "Delivery")) }
            @if !delivery.slot.is_empty() { p.muted { (ctx.t("送达时段 ", "Slot ")) (delivery.slot) } }
            @if let (Some(c), Some(w)) = (&delivery.carrier, &delivery.waybill) { p #order-waybill { (c) " " (w) } }
            @if events.is_empty() && delivery.waybill.is_some() { p.muted { (ctx.t("已发货，等待快递揽收。", "Shipped; waiting for the carrier.")) } }
            ol.timeline {
                @for e in events.iter().rev() {
                    li.tracking-event data-status=(e.status) {
                        b { (label(&e.status)) } " " span.muted { (crate::web::when(e.happened_at.timestamp_millis())) }
                        @if !e.description.is_empty() || !e.location.is_empty() { br; (e.description) @if !e.location.is_empty() { " · " (e.location) } }
                    }
                }
            }
        }
    }
}

/// The message next to a delivery address's field that is wrong (checkout and saved
/// addresses; the fields of [`crate::app::delivery::address_problems`]).
fn address_field_text(lang: crate::web::Lang, field: &str) -> &'static str {
    match field {
        "lat_e6" => lang.t(
            "定位无效，请重新定位或清除定位",
            "The location is not valid: locate again or clear it",
        ),
        "name" => lang.t(
            "请填写收货人（最多 64 字）",
            "Enter the recipient (up to 64 characters)",
        ),
        "phone" => lang.t("请填写 11 位手机号", "Enter an 11-digit mobile number"),
        "city" | "province" => lang.t(
            "省份、城市最多 32 字",
            "Province and city: up to 32 characters",
        ),
        _ => lang.t(
            "请填写详细地址（5 到 300 字）",
            "Enter the full address (5 to 300 characters)",
        ),
    }
}

/// The position fields of an address form: hidden latitude and longitude (micro-degrees) that
/// the button fills from the phone's location (`app.js`, `data-locate`), so that same-city
/// delivery can find the nearest store with stock; without them the region's warehouse ships.
/// `lat_e6`/`lng_e6` are the form's values as posted; one that is not a whole number is not
/// shown again.
fn position_fields(ctx: &Ctx, lat_e6: Option<&str>, lng_e6: Option<&str>) -> maud::Markup {
    let (lat_e6, lng_e6) = match form_position(lat_e6, lng_e6) {
        (Some(i64::MIN), _) | (_, Some(i64::MIN)) => (None, None),
        position => position,
    };
    let located = lat_e6.is_some() && lng_e6.is_some();
    maud::html! {
        div.field #position {
            input type="hidden" name="lat_e6" value=[lat_e6];
            input type="hidden" name="lng_e6" value=[lng_e6];
            button.btn.secondary type="button" #locate data-locate
                data-done=(ctx.t("已定位，可享同城门店配送", "Located: a nearby store can deliver"))
                data-fail=(ctx.t("无法获取位置，将由仓库发货", "No location: the warehouse will ship")) {
                (ctx.t("使用当前位置（同城配送更快）", "Use my location (faster same-city delivery)"))
            }
            " " span.muted #locate-status role="status" {
                @if located { (ctx.t("已定位", "Located")) }
            }
        }
    }
}

/// Latitude and longitude from an address form's hidden fields (micro-degrees); empty is none,
/// and a value that is not a whole number is kept out of range, so the address check names the
/// field (`lat_e6`) instead of dropping it silently.
fn form_position(lat_e6: Option<&str>, lng_e6: Option<&str>) -> (Option<i64>, Option<i64>) {
    let one = |v: Option<&str>| {
        let v = v.map(str::trim).filter(|v| !v.is_empty())?;
        Some(v.parse::<i64>().unwrap_or(i64::MIN))
    };
    (one(lat_e6), one(lng_e6))
}
