//! The shop's coupons: the coupon centre (领券中心: members claim coupons while stock lasts) and
//! "my coupons" in the member centre, and the points mall (积分商城: coupons bought with points,
//! [`crate::app::coupons::redeem_with_points`]). Claiming goes through the same function as the JSON API
//! ([`crate::app::coupons::claim_coupon`]), so the validation is the API's.

use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use maud::{html, Markup};
use retail_domain::pricing::CouponRule;
use serde::Deserialize;
use uuid::Uuid;

use super::{cart_count, require_member, session};
use crate::app::coupons::claim_coupon;
use crate::app::AppState;
use crate::error::AppError;
use crate::storage;
use crate::storage::coupons::{CouponTerms, IssueOn, MemberCoupons};
use crate::storage::paging::{Cursor, PAGE_SIZE};
use crate::web::coupon_text::{percent_text, rule_text};
use crate::web::{pager, redirect, shop_page, when, yuan, Ctx, Form, WebResult};

/// The shop's coupon routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/coupons", get(centre))
        .route("/coupons/{id}/claim", post(claim))
        .route("/me/coupons", get(mine))
        .route("/points-mall", get(points_mall))
        .route("/points-mall/{id}/redeem", post(redeem))
        .route("/points-mall/goods/{id}/redeem", post(redeem_goods))
}

/// One coupon's face: amount or rate, name, rule and validity.
fn coupon_face(ctx: &Ctx, terms: &CouponTerms, until: i64, extra: Markup) -> Markup {
    let big = match &terms.rule {
        CouponRule::Threshold { amount, .. } | CouponRule::NoThreshold { amount } => {
            yuan(amount.fen())
        }
        CouponRule::Percent { price_factor, .. } => percent_text(ctx.lang, *price_factor),
    };
    html! {
        div.card.coupon {
            div.spread {
                b.price { (big) }
                div { b { (ctx.lang.pick(&terms.name_zh, &terms.name_en)) } br;
                    span.muted { (rule_text(ctx.lang, &terms.rule)) } br;
                    span.muted { (ctx.t("有效期至 ", "Valid until ")) (when(until)) } }
                (extra)
            }
        }
    }
}

#[derive(Debug, Deserialize, Default)]
struct CentreParams {
    claimed: Option<String>,
    error: Option<String>,
    /// The page's cursor ([`storage::paging::Cursor`]); none on the first page.
    cursor: Option<String>,
}

async fn centre(
    State(state): State<AppState>,
    ctx: Ctx,
    Query(p): Query<CentreParams>,
) -> WebResult<Response> {
    let session = session(&state, &ctx).await?;
    let count = cart_count(&state, session.as_ref()).await?;
    let cursor = Cursor::parse(p.cursor.as_deref())?;
    let page = storage::coupons::templates(
        &state.store,
        Some(IssueOn::Claim),
        cursor.as_ref(),
        PAGE_SIZE,
    )
    .await?;
    let templates = &page.items;
    let problem = p.error.as_deref().map(|code| match code {
        "coupon_sold_out" => ctx.t("这张券已经领完了", "These coupons have all been claimed"),
        "coupon_limit" => ctx.t("您已领过这张券", "You already hold as many as allowed"),
        _ => ctx.t("这张券现在不能领取", "This coupon cannot be claimed now"),
    });
    let body = html! {
        @if p.claimed.is_some() { div.notice.ok role="status" { (ctx.t("领取成功，已放入我的优惠券", "Claimed: it is in My coupons")) " " a href="/me/coupons" { (ctx.t("查看", "View")) } } }
        @if let Some(msg) = problem { div.notice.err role="alert" data-error="claim" { (msg) } }
        @if templates.is_empty() { div.card.center { p.muted { (ctx.t("暂时没有可领的券", "No coupons to claim right now")) } } }
        @for t in templates {
            @let left = t.stock_total.map(|s| (s - t.issued).max(0));
            (coupon_face(&ctx, &t.terms, t.valid_until.timestamp_millis(), html! {
                form method="post" action={ "/coupons/" (t.id) "/claim" } data-template=(t.id) {
                    (ctx.csrf_field())
                    input type="hidden" name="coupon_id" value=(retail_domain::ids::new_id());
                    @if let Some(left) = left { span.muted.left { (ctx.t("剩 ", "Left ")) (left) } " " }
                    button.btn type="submit" disabled[left == Some(0)] {
                        @if left == Some(0) { (ctx.t("已领完", "All gone")) } @else { (ctx.t("领取", "Claim")) }
                    }
                }
            }))
        }
        (pager(&ctx, "/coupons", &[], "cursor", p.cursor.as_deref(), page.next_cursor.as_deref()))
    };
    Ok(shop_page(
        &ctx,
        ctx.t("领券中心", "Coupon centre"),
        count,
        body,
    ))
}

#[derive(Debug, Deserialize, Default)]
struct ClaimForm {
    coupon_id: Option<String>,
}

/// The logged-in member (else to the log-in page, back to `back`) and the form's coupon id.
async fn member_and_coupon(
    state: &AppState,
    ctx: &Ctx,
    form: &ClaimForm,
    back: &str,
) -> WebResult<(Uuid, Uuid)> {
    let session = session(state, ctx).await?;
    let (_, member) = require_member(session.as_ref(), back)?;
    let coupon_id = form
        .coupon_id
        .as_deref()
        .and_then(|i| Uuid::parse_str(i).ok())
        .ok_or_else(|| AppError::bad_request("invalid_form", "the form could not be read"))?;
    Ok((member, coupon_id))
}

async fn claim(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<Uuid>,
    Form(form): Form<ClaimForm>,
) -> WebResult<Response> {
    let (member, coupon_id) = member_and_coupon(&state, &ctx, &form, "/coupons").await?;
    match claim_coupon(&state, id, member, coupon_id).await {
        Ok(_) => Ok(redirect("/coupons?claimed=1")),
        Err(AppError::Conflict { code, .. }) => Ok(redirect(&format!("/coupons?error={code}"))),
        Err(e) => Err(e.into()),
    }
}

#[derive(Debug, Deserialize, Default)]
struct MallParams {
    done: Option<String>,
    error: Option<String>,
}

/// The points mall: each coupon with its price in points and a button to buy it (members; the
/// member's points shown).
async fn points_mall(
    State(state): State<AppState>,
    ctx: Ctx,
    Query(p): Query<MallParams>,
) -> WebResult<Response> {
    let session = session(&state, &ctx).await?;
    let (_, member) = require_member(session.as_ref(), "/points-mall")?;
    let count = cart_count(&state, session.as_ref()).await?;
    let points = storage::members::points_balance(&state.store, member).await?;
    let items = crate::app::coupons::points_mall(&state).await?;
    let goods = crate::app::points_mall::running(&state).await?;
    let pickup_store = session.as_ref().and_then(|s| s.pickup_store.clone());
    let addresses = if goods.is_empty() {
        Vec::new()
    } else {
        crate::app::delivery::masked_addresses(&state, member).await?
    };
    let mut stores_of = Vec::with_capacity(goods.len());
    for g in &goods {
        stores_of.push(
            state
                .catalog_cache
                .availability(&state.store, g.goods.sku_id)
                .await?,
        );
    }
    let problem = p.error.as_deref().map(|code| match code {
        "insufficient_points" => ctx.t("积分不足", "Not enough points"),
        "points_goods_sold_out" => ctx.t("这件商品已经兑完了", "This item is all gone"),
        "points_goods_limit" => ctx.t("您已达到这件商品的兑换上限", "You hold as many as allowed"),
        "points_goods_not_running" => {
            ctx.t("这件商品现在不能兑换", "This item cannot be redeemed now")
        }
        "out_of_stock" => ctx.t(
            "所选门店暂时缺货，请换一家门店",
            "Out of stock at that store: choose another",
        ),
        "coupon_sold_out" => ctx.t("这张券已经兑完了", "These coupons are all gone"),
        "coupon_limit" => ctx.t("您已兑换过这张券", "You already hold as many as allowed"),
        _ => ctx.t("这张券现在不能兑换", "This coupon cannot be bought now"),
    });
    let body = html! {
        div.card.spread { span { (ctx.t("我的积分", "My points")) } b #mall-points { (points) } }
        @if p.done.is_some() { div.notice.ok role="status" { (ctx.t("兑换成功，已放入我的优惠券", "Bought: it is in My coupons")) " " a href="/me/coupons" { (ctx.t("查看", "View")) } } }
        @if let Some(msg) = problem { div.notice.err role="alert" #mall-error { (msg) } }
        @if !goods.is_empty() {
            h2 { (ctx.t("积分换好物", "Goods for points")) }
            @for (g, stores) in goods.iter().zip(&stores_of) {
                form.card.points-goods method="post" action={ "/points-mall/goods/" (g.goods.id) "/redeem" } data-goods=(g.goods.id) {
                    (ctx.csrf_field())
                    input type="hidden" name="id" value=(retail_domain::ids::new_id());
                    div.spread {
                        b { (ctx.lang.pick(&g.name_zh, &g.name_en)) }
                        span { span.points-price { (g.goods.points_price) (ctx.t(" 积分", " points")) } " " s.muted { (yuan(g.regular_price.fen())) } }
                    }
                    p.muted { (ctx.t("剩余 ", "")) (g.left) (ctx.t(" 件 · 每人限 ", " left · at most ")) (g.goods.per_member_limit) (ctx.t(" 件", " each")) }
                    div.row {
                        select name="store" aria-label=(ctx.t("自提门店或配送地址", "Pickup store or delivery address")) {
                            optgroup label=(ctx.t("门店自提", "Pick up in store")) { @for s in stores {
                                option value=(s.location_id) selected[pickup_store.as_deref() == Some(s.location_id.as_str())] { (ctx.lang.pick(&s.name_zh, &s.name_en)) }
                            } }
                            @if !addresses.is_empty() {
                                optgroup label=(ctx.t("快递配送（运费另付）", "Delivery (shipping fee paid)")) { @for a in &addresses {
                                    option value={ "address:" (a.id) } { (a.masked) }
                                } }
                            }
                        }
                        button.btn type="submit" disabled[g.left == 0 || points < g.goods.points_price] {
                            @if g.left == 0 { (ctx.t("已兑完", "All gone")) } @else { (ctx.t("兑换", "Redeem")) }
                        }
                    }
                }
            }
            h2 { (ctx.t("积分换券", "Coupons for points")) }
        }
        @if items.is_empty() { div.card.center { p.muted { (ctx.t("暂时没有可兑换的券", "Nothing to buy with points right now")) } } }
        @for item in &items {
            @let t = &item.template;
            @let left = t.stock_total.map(|s| (s - t.issued).max(0));
            (coupon_face(&ctx, &t.terms, t.valid_until.timestamp_millis(), html! {
                form method="post" action={ "/points-mall/" (t.id) "/redeem" } data-template=(t.id) {
                    (ctx.csrf_field())
                    input type="hidden" name="coupon_id" value=(retail_domain::ids::new_id());
                    span.points-price { (item.points_price) (ctx.t(" 积分", " points")) } " "
                    button.btn type="submit" disabled[left == Some(0) || points < item.points_price] {
                        @if left == Some(0) { (ctx.t("已兑完", "All gone")) } @else { (ctx.t("兑换", "Buy")) }
                    }
                }
            }))
        }
    };
    Ok(shop_page(
        &ctx,
        ctx.t("积分商城", "Points mall"),
        count,
        body,
    ))
}

async fn redeem(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<Uuid>,
    Form(form): Form<ClaimForm>,
) -> WebResult<Response> {
    let (member, coupon_id) = member_and_coupon(&state, &ctx, &form, "/points-mall").await?;
    match crate::app::coupons::redeem_with_points(&state, id, member, coupon_id).await {
        Ok(_) => Ok(redirect("/points-mall?done=1")),
        Err(AppError::Conflict { code, .. }) => Ok(redirect(&format!("/points-mall?error={code}"))),
        Err(e) => Err(e.into()),
    }
}

#[derive(Debug, Deserialize)]
struct GoodsForm {
    id: String,
    store: String,
}

/// Redeems points-mall goods for pickup at the chosen store (on to the order, paid already) or
/// delivery to one of the member's saved addresses (`address:{id}`: on to the order to pay its
/// shipping fee).
async fn redeem_goods(
    client: crate::actor::ClientAddr,
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<Uuid>,
    Form(form): Form<GoodsForm>,
) -> WebResult<Response> {
    let session = session(&state, &ctx).await?;
    let (_, member) = require_member(session.as_ref(), "/points-mall")?;
    let order_id = form
        .id
        .trim()
        .parse::<Uuid>()
        .map_err(|_| AppError::bad_request("invalid_form", "the form could not be read"))?;
    let (fulfilment, store, address) = match form.store.trim().strip_prefix("address:") {
        Some(address_id) => {
            let address_id = address_id
                .parse::<Uuid>()
                .map_err(|_| AppError::bad_request("invalid_form", "the form could not be read"))?;
            let address =
                crate::app::checkout::resolve_address(&state, Some(member), None, Some(address_id))
                    .await?;
            (retail_domain::order::Fulfilment::Delivery, None, address)
        }
        None => (
            retail_domain::order::Fulfilment::Pickup,
            Some(form.store.trim().to_owned()),
            None,
        ),
    };
    match crate::app::points_mall::redeem(
        &state,
        id,
        crate::app::points_mall::Redeem {
            order_id,
            member,
            qty: 1,
            fulfilment,
            store,
            address,
            slot: String::new(),
            client,
        },
    )
    .await
    {
        Ok(done) => Ok(redirect(&format!("/orders/{}", done.order.id))),
        Err(AppError::Conflict { code, .. }) => Ok(redirect(&format!(
            "/points-mall?error={}",
            crate::web::urlencode(code)
        ))),
        Err(e) => Err(e.into()),
    }
}

/// Where "my coupons" is in each of its two lists.
#[derive(Debug, Deserialize, Default)]
struct MineParams {
    /// The usable coupons' page cursor.
    usable: Option<String>,
    /// The used and expired coupons' page cursor.
    spent: Option<String>,
}

async fn mine(
    State(state): State<AppState>,
    ctx: Ctx,
    Query(p): Query<MineParams>,
) -> WebResult<Response> {
    let session = session(&state, &ctx).await?;
    let (_, member) = require_member(session.as_ref(), "/me/coupons")?;
    let count = cart_count(&state, session.as_ref()).await?;
    let (usable_at, spent_at) = (p.usable.as_deref(), p.spent.as_deref());
    let list = |which, at: Option<&str>| {
        let state = &state;
        let at = at.map(str::to_owned);
        async move {
            let cursor = Cursor::parse(at.as_deref())?;
            storage::coupons::member_coupons(
                &state.store,
                member,
                which,
                cursor.as_ref(),
                PAGE_SIZE,
            )
            .await
        }
    };
    let usable = list(MemberCoupons::Usable, usable_at).await?;
    let spent = list(MemberCoupons::Spent, spent_at).await?;
    let usable_count = storage::coupons::count_usable(&state.store, member).await?;
    let body = html! {
        p { a.btn.secondary href="/coupons" { (ctx.t("去领券中心", "Go to the coupon centre")) } }
        h2 { (ctx.t("可用", "Usable")) " (" span #usable-count { (usable_count) } ")" }
        @if usable.items.is_empty() { p.muted { (ctx.t("暂无可用优惠券", "No usable coupons")) } }
        div #usable {
            @for c in &usable.items {
                (coupon_face(&ctx, &c.terms, c.valid_until.timestamp_millis(), html! {
                    a.btn href="/cart" data-coupon=(c.id) { (ctx.t("去使用", "Use")) }
                }))
            }
        }
        (pager(&ctx, "/me/coupons", &[("spent", spent_at.unwrap_or(""))], "usable", usable_at, usable.next_cursor.as_deref()))
        @if !spent.items.is_empty() {
            h2 { (ctx.t("已使用 / 已过期", "Used / expired")) }
            div #spent {
                @for c in &spent.items {
                    (coupon_face(&ctx, &c.terms, c.valid_until.timestamp_millis(), html! {
                        span.status.cancelled data-coupon=(c.id) { @if c.status == "used" { (ctx.t("已使用", "Used")) } @else { (ctx.t("已过期", "Expired")) } }
                    }))
                }
            }
        }
        (pager(&ctx, "/me/coupons", &[("usable", usable_at.unwrap_or(""))], "spent", spent_at, spent.next_cursor.as_deref()))
    };
    Ok(shop_page(
        &ctx,
        ctx.t("我的优惠券", "My coupons"),
        count,
        body,
    ))
}
