//! The shop: home, categories, search with suggestions, product page with per-store
//! availability, cart, checkout (pickup or delivery), payment through the provider, and the
//! shopper's orders with the pickup code as a QR.
//!
//! Prices come from the server's price look-ups (`CatalogCache::sku_prices`); orders are placed
//! through the same path as `POST /api/v1/orders` ([`crate::app::checkout::place`]), so
//! what the order charges is decided there, never here.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use maud::{html, Markup};
use retail_domain::codes::{PickupCode, SignedCode};
use retail_domain::order::{Fulfilment, OrderStatus};
use serde::Deserialize;
use uuid::Uuid;

use super::{
    field, qr_svg, redirect, shop_page, status_label, when, yuan, Ctx, FieldErrors, Form, WebError,
    WebResult,
};
use crate::app::checkout::Address;
use crate::app::search::{Query as SearchQuery, Sort};
use crate::app::shop_session;
use crate::app::AppState;
use crate::error::AppError;
use crate::storage;
use crate::storage::web::WebSession;

/// The warehouse delivery orders ship from (prices shown for delivery are its prices).
const WAREHOUSE: &str = "WH01";

/// Shop routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(home))
        .route("/categories", get(categories))
        .route("/search", get(search))
        .route("/search/suggest", get(suggest))
        .route("/p/{id}", get(product))
        .route("/cart", get(cart))
        .route("/cart/add", post(cart_add))
        .route("/cart/update", post(cart_update))
        .route("/checkout", get(checkout).post(place))
        .route("/orders", get(orders))
        .route("/orders/{id}", get(order))
        .route("/orders/{id}/pay", post(pay))
        .route("/orders/{id}/cancel", post(cancel))
}

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
        }) => Ok((*id, *m)),
        _ => Err(WebError::Redirect(format!(
            "/login?back={}",
            super::urlencode(back)
        ))),
    }
}

fn tile(ctx: &Ctx, doc: &crate::app::search::Doc) -> Markup {
    let name = ctx.lang.pick(&doc.row.name_zh, &doc.row.name_en);
    html! {
        a.tile href={ "/p/" (doc.row.id) } {
            div.ph { (name.chars().next().unwrap_or('·')) }
            span.name { (name) }
            span.muted { (doc.row.brand) }
            span.price { (yuan(doc.row.price_min_fen)) @if doc.row.price_min_fen > 0 { small { " " (ctx.t("起", "from")) } } }
        }
    }
}

async fn home(State(state): State<AppState>, ctx: Ctx) -> WebResult<Response> {
    let index = state.search.get(&state.store).await?;
    let cats = &index.categories;
    let session = session(&state, &ctx).await?;
    let count = cart_count(&state, session.as_ref()).await?;
    let best = index.search(&SearchQuery {
        sort: Sort::Sales,
        limit: 8,
        ..SearchQuery::default()
    });
    let newest = index.search(&SearchQuery {
        sort: Sort::Newest,
        limit: 8,
        ..SearchQuery::default()
    });
    let body = html! {
        div.card {
            div.spread {
                div { b { (ctx.t("到店自提 · 门店当日可取", "Store pickup · ready today")) }
                    p.muted { (ctx.t("在线下单，选择门店，到店出示取货码", "Order online, pick a store, show your pickup code")) } }
                a.btn href="/scan" { (ctx.t("扫码购", "Scan & Go")) }
            }
        }
        div.card.spread {
            div { b { (ctx.t("领券中心", "Coupon centre")) } p.muted { (ctx.t("先领券，结算时直接抵扣", "Claim coupons now, use them at checkout")) } }
            a.btn.secondary #coupon-centre href="/coupons" { (ctx.t("去领券", "Get coupons")) }
        }
        h2 { (ctx.t("分类", "Categories")) }
        div.chips {
            @for c in cats.iter().filter(|c| c.parent_id.is_none()) {
                a.chip href={ "/categories?c=" (c.id) } { (ctx.lang.pick(&c.name_zh, &c.name_en)) }
            }
        }
        h2 { (ctx.t("热销", "Best sellers")) }
        div.grid { @for d in &best.items { (tile(&ctx, d)) } }
        h2 { (ctx.t("新品", "New in")) }
        div.grid { @for d in &newest.items { (tile(&ctx, d)) } }
    };
    Ok(shop_page(&ctx, ctx.t("首页", "Home"), count, body))
}

#[derive(Debug, Deserialize, Default)]
struct CatParams {
    c: Option<String>,
}

async fn categories(
    State(state): State<AppState>,
    ctx: Ctx,
    Query(p): Query<CatParams>,
) -> WebResult<Response> {
    let index = state.search.get(&state.store).await?;
    let cats = &index.categories;
    let current = p.c.as_ref().and_then(|c| cats.iter().find(|x| &x.id == c));
    if p.c.is_some() && current.is_none() {
        return Err(AppError::not_found("category").into());
    }
    let parent = current.map(|c| c.id.clone());
    let children: Vec<_> = cats.iter().filter(|c| c.parent_id == parent).collect();
    // The path from the top to the current category.
    let mut trail = Vec::new();
    let mut at = current;
    while let Some(c) = at {
        trail.push(c);
        at = c
            .parent_id
            .as_ref()
            .and_then(|p| cats.iter().find(|x| &x.id == p));
        if trail.len() > 16 {
            break;
        }
    }
    trail.reverse();
    let hits = index.search(&SearchQuery {
        category: parent.clone(),
        sort: Sort::Sales,
        limit: 40,
        ..SearchQuery::default()
    });
    let session = session(&state, &ctx).await?;
    let count = cart_count(&state, session.as_ref()).await?;
    let title = current
        .map(|c| ctx.lang.pick(&c.name_zh, &c.name_en).to_owned())
        .unwrap_or_else(|| ctx.t("全部分类", "All categories").to_owned());
    let body = html! {
        p.muted {
            a href="/categories" { (ctx.t("全部", "All")) }
            @for c in &trail { " › " a href={ "/categories?c=" (c.id) } { (ctx.lang.pick(&c.name_zh, &c.name_en)) } }
        }
        h1 { (title) }
        @if !children.is_empty() {
            div.chips { @for c in &children {
                a.chip href={ "/categories?c=" (c.id) } { (ctx.lang.pick(&c.name_zh, &c.name_en)) }
            } }
        }
        @if parent.is_some() {
            p.muted { (hits.total) " " (ctx.t("件商品", "products")) }
            div.grid { @for d in &hits.items { (tile(&ctx, d)) } }
        }
    };
    Ok(shop_page(&ctx, &title, count, body))
}

#[derive(Debug, Deserialize, Default)]
struct SearchParams {
    q: Option<String>,
    c: Option<String>,
    brand: Option<String>,
    min: Option<String>,
    max: Option<String>,
    sort: Option<String>,
    page: Option<usize>,
}

/// Parses a yuan amount typed by a person ("12", "12.5") into fen.
fn parse_yuan(text: &str) -> Option<i64> {
    let text = text.trim().trim_start_matches('¥');
    if text.is_empty() {
        return None;
    }
    text.parse::<retail_domain::money::Money>()
        .ok()
        .map(|m| m.fen())
        .filter(|f| *f >= 0)
}

const PAGE: usize = 24;

async fn search(
    State(state): State<AppState>,
    ctx: Ctx,
    Query(p): Query<SearchParams>,
) -> WebResult<Response> {
    let text: String = p.q.clone().unwrap_or_default().chars().take(64).collect();
    let mut errors = FieldErrors::new();
    let min = p.min.as_deref().filter(|s| !s.trim().is_empty());
    let max = p.max.as_deref().filter(|s| !s.trim().is_empty());
    let min_fen = min.and_then(parse_yuan);
    let max_fen = max.and_then(parse_yuan);
    if min.is_some() && min_fen.is_none() {
        errors.insert(
            "min",
            ctx.t("请输入金额，如 9.90", "Enter an amount, e.g. 9.90")
                .into(),
        );
    }
    if max.is_some() && max_fen.is_none() {
        errors.insert(
            "max",
            ctx.t("请输入金额，如 9.90", "Enter an amount, e.g. 9.90")
                .into(),
        );
    }
    let sort = Sort::parse(p.sort.as_deref().unwrap_or(""));
    let page = p.page.unwrap_or(0).min(1000);
    let index = state.search.get(&state.store).await?;
    let category = p.c.clone().filter(|c| !c.is_empty());
    let brand = p.brand.clone().filter(|b| !b.is_empty());
    let hits = index.search(&SearchQuery {
        text: text.clone(),
        category: category.clone(),
        brand: brand.clone(),
        min_fen,
        max_fen,
        sort,
        offset: page * PAGE,
        limit: PAGE,
    });
    let cats = &index.categories;
    let session = session(&state, &ctx).await?;
    let count = cart_count(&state, session.as_ref()).await?;
    let link = |sort: Sort, page: usize| {
        format!(
            "/search?q={}&c={}&brand={}&min={}&max={}&sort={}&page={}",
            super::urlencode(&text),
            super::urlencode(category.as_deref().unwrap_or("")),
            super::urlencode(brand.as_deref().unwrap_or("")),
            super::urlencode(min.unwrap_or("")),
            super::urlencode(max.unwrap_or("")),
            sort.as_str(),
            page
        )
    };
    let sorts = [
        (Sort::Relevance, ctx.t("综合", "Relevance")),
        (Sort::Sales, ctx.t("销量", "Sales")),
        (Sort::PriceAsc, ctx.t("价格↑", "Price ↑")),
        (Sort::PriceDesc, ctx.t("价格↓", "Price ↓")),
        (Sort::Newest, ctx.t("新品", "Newest")),
    ];
    let body = html! {
        h1 { @if text.is_empty() { (ctx.t("全部商品", "All products")) } @else { "“" (text) "”" } }
        div.chips { @for (s, label) in sorts {
            a.chip.on[s == sort] href=(link(s, 0)) { (label) }
        } }
        details.card open[!errors.is_empty()] {
            summary { (ctx.t("筛选", "Filters")) }
            form method="get" action="/search" {
                input type="hidden" name="q" value=(text);
                input type="hidden" name="sort" value=(sort.as_str());
                div.field {
                    label for="c" { (ctx.t("分类", "Category")) }
                    select #c name="c" {
                        option value="" { (ctx.t("全部", "All")) }
                        @for c in cats.iter() {
                            option value=(c.id) selected[category.as_deref() == Some(c.id.as_str())] {
                                @if c.parent_id.is_some() { "— " } (ctx.lang.pick(&c.name_zh, &c.name_en))
                            }
                        }
                    }
                }
                div.field {
                    label for="brand" { (ctx.t("品牌", "Brand")) }
                    select #brand name="brand" {
                        option value="" { (ctx.t("全部", "All")) }
                        @for b in &hits.brands { option value=(b) selected[brand.as_deref() == Some(b.as_str())] { (b) } }
                    }
                }
                div.two {
                    (field(ctx.t("最低价 (元)", "Min price (¥)"), "min", "text", min.unwrap_or(""), &errors, html!{}))
                    (field(ctx.t("最高价 (元)", "Max price (¥)"), "max", "text", max.unwrap_or(""), &errors, html!{}))
                }
                button.btn type="submit" { (ctx.t("应用", "Apply")) }
            }
        }
        p.muted { (hits.total) " " (ctx.t("件商品", "products")) }
        @if hits.total == 0 {
            div.card { (ctx.t("没有找到相关商品，换个词试试。", "Nothing found; try another word.")) }
        }
        div.grid { @for d in &hits.items { (tile(&ctx, d)) } }
        div.row {
            @if page > 0 { a.btn.secondary href=(link(sort, page - 1)) { (ctx.t("上一页", "Previous")) } }
            @if (page + 1) * PAGE < hits.total { a.btn.secondary href=(link(sort, page + 1)) { (ctx.t("下一页", "Next")) } }
        }
    };
    Ok(shop_page(&ctx, ctx.t("搜索", "Search"), count, body))
}

#[derive(Debug, Deserialize)]
struct SuggestParams {
    q: Option<String>,
}

async fn suggest(
    State(state): State<AppState>,
    ctx: Ctx,
    Query(p): Query<SuggestParams>,
) -> WebResult<Response> {
    let text: String = p.q.unwrap_or_default().chars().take(32).collect();
    let index = state.search.get(&state.store).await?;
    let list = index.suggest(&text, 8, ctx.lang == super::Lang::En);
    Ok(axum::Json(list).into_response())
}

#[derive(Debug, Deserialize, Default)]
struct ProductParams {
    sku: Option<Uuid>,
    added: Option<u8>,
}

async fn product(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<Uuid>,
    Query(p): Query<ProductParams>,
) -> WebResult<Response> {
    let detail = state
        .catalog_cache
        .product(&state.store, id)
        .await?
        .filter(|d| d.status.as_str() == "on_shelf")
        .ok_or_else(|| AppError::not_found("product"))?;
    let skus: Vec<_> = detail
        .skus
        .iter()
        .filter(|s| s.status.as_str() == "on_shelf")
        .collect();
    let chosen = p
        .sku
        .and_then(|id| skus.iter().find(|s| s.id == id))
        .or(skus.first())
        .ok_or_else(|| AppError::not_found("product"))?;
    let session = session(&state, &ctx).await?;
    let member = session.as_ref().and_then(|s| s.member_id).is_some();
    let count = cart_count(&state, session.as_ref()).await?;
    let prices = state
        .catalog_cache
        .sku_prices(&state.store, WAREHOUSE, &[chosen.id])
        .await?;
    let price = prices.get(&chosen.id);
    let stores = state
        .catalog_cache
        .availability(&state.store, chosen.id)
        .await?;
    let name = ctx.lang.pick(&detail.name_zh, &detail.name_en);
    let body = html! {
        @if p.added.is_some() { div.notice.ok { (ctx.t("已加入购物车", "Added to cart")) " · " a href="/cart" { (ctx.t("去结算", "Check out")) } } }
        div.card {
            div.tile style="min-height:0" { div.ph style="height:160px;font-size:56px" { (name.chars().next().unwrap_or('·')) } }
            h1 { (name) }
            p.muted { (detail.brand) " · " (detail.code) }
            @if let Some(price) = price {
                p.price style="font-size:22px" { (yuan(price.price_fen)) small { " / " (chosen.unit) } }
                @if let Some(m) = price.member_price_fen {
                    @if member { p { span.status.paid { (ctx.t("会员价", "Member price")) } " " span.price { (yuan(m)) } } }
                    @else { p.muted { (ctx.t("会员价", "Member price")) " " (yuan(m)) " · " a href={ "/login?back=/p/" (detail.id) } { (ctx.t("登录查看", "log in")) } } }
                }
            }
            @if !detail.description.is_empty() { p { (detail.description) } }
        }
        div.card {
            b { (ctx.t("规格", "Options")) }
            div.chips { @for s in &skus {
                a.chip.on[s.id == chosen.id] href={ "/p/" (detail.id) "?sku=" (s.id) } {
                    (ctx.lang.pick(&s.spec_zh, &s.spec_en)) " " (yuan(s.price.fen()))
                }
            } }
            form method="post" action="/cart/add" class="row" {
                (ctx.csrf_field())
                input type="hidden" name="sku" value=(chosen.id);
                input type="hidden" name="back" value={ "/p/" (detail.id) "?sku=" (chosen.id) };
                input.qty type="number" name="qty" value="1" min="1" max="99" aria-label=(ctx.t("数量", "Quantity"));
                button.btn type="submit" { (ctx.t("加入购物车", "Add to cart")) }
            }
        }
        div.card {
            b { (ctx.t("门店自提", "Pick up in store")) }
            @for s in &stores {
                div.spread style="padding:6px 0;border-bottom:1px solid #eee" {
                    span { (ctx.lang.pick(&s.name_zh, &s.name_en)) br; span.muted { (s.address) } }
                    @if s.available > 0 {
                        span.status.paid { (ctx.t("今天可自提", "Pick up today")) " · " (s.available) }
                    } @else {
                        span.status.cancelled { (ctx.t("暂无库存", "Out of stock")) }
                    }
                }
            }
        }
    };
    Ok(shop_page(&ctx, name, count, body))
}

#[derive(Debug, Deserialize)]
struct AddForm {
    sku: Uuid,
    qty: Option<String>,
    back: Option<String>,
}

async fn cart_add(
    State(state): State<AppState>,
    ctx: Ctx,
    Form(f): Form<AddForm>,
) -> WebResult<Response> {
    let qty: i64 = f
        .qty
        .as_deref()
        .unwrap_or("1")
        .trim()
        .parse()
        .ok()
        .filter(|q| (1..=state.settings.orders.max_line_qty).contains(q))
        .ok_or_else(|| {
            AppError::field("qty", ctx.t("数量须为 1 到 99", "Quantity must be 1 to 99"))
        })?;
    let prices = state
        .catalog_cache
        .sku_prices(&state.store, WAREHOUSE, &[f.sku])
        .await?;
    if !prices.get(&f.sku).is_some_and(|p| p.on_shelf) {
        return Err(AppError::not_found("product").into());
    }
    let session = ensure_session(&state, &ctx).await?;
    shop_session::change_cart(
        &state,
        session.id,
        storage::web::cart_add(
            &state.store,
            session.id,
            f.sku,
            qty,
            state.settings.orders.max_line_qty,
        ),
    )
    .await?;
    let back = super::local_path(f.back.as_deref());
    let sep = if back.contains('?') { '&' } else { '?' };
    Ok(redirect(&format!("{back}{sep}added=1")))
}

#[derive(Debug, Deserialize)]
struct UpdateForm {
    sku: Uuid,
    qty: String,
    selected: Option<String>,
    action: Option<String>,
}

async fn cart_update(
    State(state): State<AppState>,
    ctx: Ctx,
    Form(f): Form<UpdateForm>,
) -> WebResult<Response> {
    let Some(session) = session(&state, &ctx).await? else {
        return Ok(redirect("/cart"));
    };
    let qty: i64 = if f.action.as_deref() == Some("remove") {
        0
    } else {
        match f.qty.trim().parse::<i64>() {
            Ok(q) if (0..=state.settings.orders.max_line_qty).contains(&q) => q,
            _ => return Ok(redirect("/cart?error=qty")),
        }
    };
    shop_session::change_cart(
        &state,
        session.id,
        storage::web::cart_set(&state.store, session.id, f.sku, qty, f.selected.is_some()),
    )
    .await?;
    Ok(redirect("/cart"))
}

/// A cart line ready to show.
struct ShownLine {
    sku_id: Uuid,
    product_id: Uuid,
    name: String,
    spec: String,
    qty: i64,
    selected: bool,
    unit_fen: Option<i64>,
    available: i64,
}

async fn shown_cart(
    state: &AppState,
    ctx: &Ctx,
    session: Uuid,
    location: &str,
) -> WebResult<Vec<ShownLine>> {
    let lines = storage::web::cart(&state.store, session).await?;
    let ids: Vec<Uuid> = lines.iter().map(|l| l.sku_id).collect();
    let facts = storage::web::sku_facts(&state.store, &ids).await?;
    let prices = state
        .catalog_cache
        .sku_prices(&state.store, location, &ids)
        .await?;
    let stock = storage::web::available(&state.store, location, &ids).await?;
    Ok(lines
        .iter()
        .filter_map(|l| {
            let f = facts.get(&l.sku_id)?;
            Some(ShownLine {
                sku_id: l.sku_id,
                product_id: f.product_id,
                name: ctx.lang.pick(&f.name_zh, &f.name_en).to_owned(),
                spec: ctx.lang.pick(&f.spec_zh, &f.spec_en).to_owned(),
                qty: l.qty,
                selected: l.selected,
                unit_fen: prices
                    .get(&l.sku_id)
                    .filter(|p| p.on_shelf)
                    .map(|p| p.price_fen),
                available: stock.get(&l.sku_id).copied().unwrap_or(0),
            })
        })
        .collect())
}

/// What the pricing engine charges for these lines at `location` for `member` — the price
/// checkout will charge, promotions and member prices included — or None when they cannot be
/// priced (nothing selected, an item gone off shelf).
pub(crate) async fn engine_total(
    state: &AppState,
    location: &str,
    member: Option<Uuid>,
    lines: Vec<(Uuid, i64)>,
) -> Option<retail_domain::pricing::PricedBasket> {
    if lines.is_empty() {
        return None;
    }
    engine_quote(state, location, member, lines, Vec::new(), 0)
        .await
        .ok()
}

/// What the pricing engine charges for these lines with the member's chosen coupons and points
/// (the same quote checkout places the order with), or why it cannot (e.g. a coupon's minimum
/// spend not reached, points over the cap).
async fn engine_quote(
    state: &AppState,
    location: &str,
    member: Option<Uuid>,
    lines: Vec<(Uuid, i64)>,
    coupons: Vec<Uuid>,
    points_to_redeem: i64,
) -> Result<retail_domain::pricing::PricedBasket, AppError> {
    let request = crate::app::pricing::BasketRequest {
        location: location.to_owned(),
        channel: crate::app::pricing::Channel::Online,
        member_id: member,
        lines,
        label_prices: Default::default(),
        coupons,
        points_to_redeem,
    };
    crate::app::pricing::quote(state, &request)
        .await
        .map(|q| q.basket)
}

/// The lines the engine can price (on shelf, a positive quantity).
fn priceable<'a>(lines: impl Iterator<Item = &'a ShownLine>) -> Vec<(Uuid, i64)> {
    lines
        .filter(|l| l.unit_fen.is_some() && l.qty > 0)
        .map(|l| (l.sku_id, l.qty))
        .collect()
}

/// The total line of a priced basket: amount due, the discount and its explanation.
pub(crate) fn priced_summary(
    ctx: &Ctx,
    priced: Option<&retail_domain::pricing::PricedBasket>,
) -> Markup {
    html! {
        @if let Some(b) = priced {
            div.spread { b { (ctx.t("合计", "Total")) } b.price data-total=(b.amount_due) { (yuan(b.amount_due.fen())) } }
            @if b.discount.fen() > 0 {
                p.muted #explanation { (ctx.t("已优惠 ", "You save ")) (yuan(b.discount.fen())) " · " (ctx.lang.pick(&b.explanation.zh, &b.explanation.en)) }
            }
            @if let Some(p) = &b.points {
                p.muted #points-used { (ctx.lang.pick(&p.explanation.zh, &p.explanation.en)) }
            }
        }
    }
}

#[derive(Debug, Deserialize, Default)]
struct CartParams {
    error: Option<String>,
}

async fn cart(
    State(state): State<AppState>,
    ctx: Ctx,
    Query(p): Query<CartParams>,
) -> WebResult<Response> {
    let session = session(&state, &ctx).await?;
    let lines = match &session {
        Some(s) => shown_cart(&state, &ctx, s.id, WAREHOUSE).await?,
        None => Vec::new(),
    };
    let count: i64 = lines.iter().map(|l| l.qty).sum();
    let member = session.as_ref().and_then(|s| s.member_id);
    let selected = priceable(lines.iter().filter(|l| l.selected));
    let priced = engine_total(&state, WAREHOUSE, member, selected).await;
    let body = html! {
        @if p.error.is_some() { div.notice.err { (ctx.t("数量须为 0 到 99", "Quantity must be 0 to 99")) } }
        @if lines.is_empty() {
            div.card.center { p { (ctx.t("购物车是空的", "Your cart is empty")) } a.btn href="/" { (ctx.t("去逛逛", "Start shopping")) } }
        }
        @for l in &lines {
            div.card {
                form method="post" action="/cart/update" {
                    (ctx.csrf_field())
                    input type="hidden" name="sku" value=(l.sku_id);
                    div.spread {
                        label.row {
                            input type="checkbox" name="selected" value="1" checked[l.selected];
                            a href={ "/p/" (l.product_id) "?sku=" (l.sku_id) } { (l.name) " " span.muted { (l.spec) } }
                        }
                        @match l.unit_fen { Some(u) => span.price { (yuan(u)) }, None => span.status.cancelled { (ctx.t("已下架", "Unavailable")) } }
                    }
                    div.row {
                        input.qty type="number" name="qty" value=(l.qty) min="0" max="99" aria-label=(ctx.t("数量", "Quantity"));
                        button.btn.secondary type="submit" name="action" value="update" { (ctx.t("更新", "Update")) }
                        button.link type="submit" name="action" value="remove" { (ctx.t("删除", "Remove")) }
                    }
                    @if l.qty > l.available {
                        p.field-error { (ctx.t("库存紧张：配送仓仅剩 ", "Low stock: the delivery warehouse has only ")) (l.available) (ctx.t(" 件，可选门店自提", "; try store pickup")) }
                    }
                }
            }
        }
        @if !lines.is_empty() {
            div.card.spread {
                div { (priced_summary(&ctx, priced.as_ref())) }
                a.btn href="/checkout" { (ctx.t("去结算", "Check out")) }
            }
        }
    };
    Ok(shop_page(&ctx, ctx.t("购物车", "Cart"), count, body))
}

#[derive(Debug, Deserialize, Default, Clone)]
struct CheckoutForm {
    id: Option<String>,
    mode: Option<String>,
    store: Option<String>,
    name: Option<String>,
    phone: Option<String>,
    address: Option<String>,
    /// The member's coupon to use (empty: none).
    coupon: Option<String>,
    /// Points to redeem (empty: none).
    points: Option<String>,
}

impl CheckoutForm {
    /// The chosen coupon, if any; `Err` when the field is not a coupon id.
    fn coupons(&self) -> Result<Vec<Uuid>, ()> {
        match self
            .coupon
            .as_deref()
            .map(str::trim)
            .filter(|c| !c.is_empty())
        {
            None => Ok(Vec::new()),
            Some(c) => Uuid::parse_str(c).map(|id| vec![id]).map_err(|_| ()),
        }
    }

    /// The points to redeem; `Err` when the field is not a whole number ≥ 0.
    fn points(&self) -> Result<i64, ()> {
        match self
            .points
            .as_deref()
            .map(str::trim)
            .filter(|p| !p.is_empty())
        {
            None => Ok(0),
            Some(p) => p.parse::<i64>().ok().filter(|p| *p >= 0).ok_or(()),
        }
    }
}

/// The checkout page; the "update total" button sends the form here with GET, so the total
/// follows the chosen coupon and points.
async fn checkout(
    State(state): State<AppState>,
    ctx: Ctx,
    Query(form): Query<CheckoutForm>,
) -> WebResult<Response> {
    let session = session(&state, &ctx).await?;
    let (session_id, member) = require_member(session.as_ref(), "/checkout")?;
    checkout_page(
        &state,
        &ctx,
        (session_id, member),
        &form,
        &FieldErrors::new(),
        None,
    )
    .await
}

async fn checkout_page(
    state: &AppState,
    ctx: &Ctx,
    (session, member): (Uuid, Uuid),
    form: &CheckoutForm,
    errors: &FieldErrors,
    problem: Option<String>,
) -> WebResult<Response> {
    let pickup = form.mode.as_deref() != Some("delivery");
    let stores: Vec<_> = storage::locations::list(&state.store)
        .await?
        .into_iter()
        .filter(|l| l.kind == "store")
        .collect();
    let store = form
        .store
        .clone()
        .filter(|s| stores.iter().any(|l| &l.id == s))
        .or_else(|| stores.first().map(|l| l.id.clone()))
        .unwrap_or_default();
    let location = if pickup { store.as_str() } else { WAREHOUSE };
    let lines: Vec<ShownLine> = shown_cart(state, ctx, session, location)
        .await?
        .into_iter()
        .filter(|l| l.selected)
        .collect();
    let count: i64 = lines.iter().map(|l| l.qty).sum();
    let coupons = storage::coupons::for_member(&state.store, member, true).await?;
    let balance = storage::members::points_balance(&state.store, member).await?;
    let mut errors = errors.clone();
    let chosen = match form.coupons() {
        Ok(ids) => ids,
        Err(()) => {
            errors.insert("coupon", ctx.t("请选择优惠券", "Choose a coupon").into());
            Vec::new()
        }
    };
    let points = match form.points() {
        Ok(p) => p,
        Err(()) => {
            errors.insert(
                "points",
                ctx.t(
                    "积分须为不小于 0 的整数",
                    "Points are a whole number, 0 or more",
                )
                .into(),
            );
            0
        }
    };
    let priceable_lines = priceable(lines.iter());
    // The engine's quote with the choices; when they cannot apply, say why next to the field and
    // show the total without them.
    let priced = if priceable_lines.is_empty() {
        None
    } else {
        match engine_quote(
            state,
            location,
            Some(member),
            priceable_lines.clone(),
            chosen.clone(),
            points,
        )
        .await
        {
            Ok(b) => Some(b),
            Err(e) => {
                let field = match &e {
                    AppError::Invalid { fields, .. } if fields.contains_key("points_to_redeem") => {
                        "points"
                    }
                    _ => "coupon",
                };
                errors.insert(field, e.to_string());
                let coupons_ok = if field == "points" {
                    chosen.clone()
                } else {
                    Vec::new()
                };
                engine_quote(
                    state,
                    location,
                    Some(member),
                    priceable_lines,
                    coupons_ok,
                    0,
                )
                .await
                .ok()
            }
        }
    };
    let max_points = priced.as_ref().map_or(0, |b| b.max_redeemable_points);
    let rules = &state.settings.points;
    let id = form
        .id
        .clone()
        .unwrap_or_else(|| retail_domain::ids::new_id().to_string());
    let chosen_text = chosen.first().map(|c| c.to_string()).unwrap_or_default();
    let body = html! {
        @if let Some(p) = problem { div.notice.err role="alert" { (p) } }
        @if lines.is_empty() { div.card { (ctx.t("没有选中的商品。", "No items selected.")) " " a href="/cart" { (ctx.t("返回购物车", "Back to cart")) } } }
        div.chips {
            a.chip.on[pickup] href={ "/checkout?mode=pickup&store=" (store) } { (ctx.t("门店自提", "Store pickup")) }
            a.chip.on[!pickup] href="/checkout?mode=delivery" { (ctx.t("配送到家", "Delivery")) }
        }
        form #checkout-form method="post" action="/checkout" {
            (ctx.csrf_field())
            input type="hidden" name="id" value=(id);
            input type="hidden" name="mode" value=(if pickup { "pickup" } else { "delivery" });
            @if pickup {
                div.field.has-error[errors.contains_key("store")] {
                    label for="store" { (ctx.t("自提门店", "Pickup store")) }
                    select #store name="store" data-reprice {
                        @for l in &stores { option value=(l.id) selected[l.id == store] { (ctx.lang.pick(&l.name_zh, &l.name_en)) " · " (l.address) } }
                    }
                    @if let Some(e) = errors.get("store") { p.field-error data-field="store" { (e) } }
                }
            } @else {
                (field(ctx.t("收货人", "Recipient"), "name", "text", form.name.as_deref().unwrap_or(""), &errors, html!{}))
                (field(ctx.t("手机号", "Phone"), "phone", "tel", form.phone.as_deref().unwrap_or(""), &errors, html!{}))
                (field(ctx.t("详细地址", "Address"), "address", "text", form.address.as_deref().unwrap_or(""), &errors, html!{}))
            }
            div.card {
                @for l in &lines {
                    div.spread {
                        span { (l.name) " " span.muted { (l.spec) } " × " (l.qty) }
                        @match l.unit_fen { Some(u) => span { (yuan(u)) }, None => span.status.cancelled { (ctx.t("已下架", "Unavailable")) } }
                    }
                    @if l.qty > l.available { p.field-error { (ctx.t("库存不足，仅剩 ", "Not enough stock; only ")) (l.available) } }
                }
                div.field.has-error[errors.contains_key("coupon")] {
                    label for="coupon" { (ctx.t("优惠券", "Coupon")) " " a href="/coupons" { (ctx.t("去领券", "Get coupons")) } }
                    select #coupon name="coupon" data-reprice {
                        option value="" selected[chosen.is_empty()] { (ctx.t("不使用", "None")) " (" (coupons.len()) (ctx.t(" 张可用", " usable")) ")" }
                        @for c in &coupons {
                            option value=(c.id) selected[c.id.to_string() == chosen_text] {
                                (ctx.lang.pick(&c.terms.name_zh, &c.terms.name_en)) " · " (super::coupon_text::rule_text(ctx.lang, &c.terms.rule))
                            }
                        }
                    }
                    @if let Some(e) = errors.get("coupon") { p.field-error data-field="coupon" { (e) } }
                }
                div.field.has-error[errors.contains_key("points")] {
                    label for="points" { (ctx.t("使用积分", "Redeem points")) }
                    input #points name="points" type="number" min="0" max=(max_points) inputmode="numeric" data-reprice
                        value=(form.points.as_deref().unwrap_or(""));
                    p.muted #points-hint {
                        (ctx.t("可用积分 ", "Points balance ")) (balance) " · "
                        (ctx.t("本单最多可用 ", "at most ")) (max_points)
                        (ctx.t("", " on this order")) " · " (rules.redeem_points_per_yuan) (ctx.t(" 积分 = ¥1", " points = ¥1"))
                    }
                    @if let Some(e) = errors.get("points") { p.field-error data-field="points" { (e) } }
                }
                button.btn.secondary #reprice type="submit" formmethod="get" formaction="/checkout" formnovalidate { (ctx.t("更新合计", "Update total")) }
                (priced_summary(ctx, priced.as_ref()))
                p.muted { (ctx.t("实付金额以提交订单后为准。", "The amount due is fixed when the order is placed.")) }
            }
            button.btn.block type="submit" disabled[lines.is_empty()] { (ctx.t("提交订单", "Place order")) }
        }
    };
    Ok(shop_page(ctx, ctx.t("结算", "Checkout"), count, body))
}

async fn place(
    State(state): State<AppState>,
    ctx: Ctx,
    Form(form): Form<CheckoutForm>,
) -> WebResult<Response> {
    let session = session(&state, &ctx).await?;
    let (session_id, member) = require_member(session.as_ref(), "/checkout")?;
    let mut errors = FieldErrors::new();
    let id = form
        .id
        .as_deref()
        .and_then(|i| Uuid::parse_str(i).ok())
        .filter(|i| retail_domain::ids::require_v7(*i).is_ok())
        .ok_or_else(|| AppError::bad_request("invalid_form", "the form could not be read"))?;
    let pickup = form.mode.as_deref() != Some("delivery");
    let mut address = None;
    if pickup {
        if form.store.as_deref().unwrap_or("").is_empty() {
            errors.insert("store", ctx.t("请选择门店", "Choose a store").into());
        }
    } else {
        let name = form.name.clone().unwrap_or_default().trim().to_owned();
        let phone = form.phone.clone().unwrap_or_default().trim().to_owned();
        let addr = form.address.clone().unwrap_or_default().trim().to_owned();
        if name.is_empty() || name.chars().count() > 64 {
            errors.insert(
                "name",
                ctx.t(
                    "请填写收货人（最多 64 字）",
                    "Enter the recipient (up to 64 characters)",
                )
                .into(),
            );
        }
        if storage::members::normalize_phone(&phone).is_err() {
            errors.insert(
                "phone",
                ctx.t("请填写 11 位手机号", "Enter an 11-digit mobile number")
                    .into(),
            );
        }
        if addr.chars().count() < 5 || addr.chars().count() > 300 {
            errors.insert(
                "address",
                ctx.t(
                    "请填写详细地址（5 到 300 字）",
                    "Enter the full address (5 to 300 characters)",
                )
                .into(),
            );
        }
        address = Some(Address {
            name,
            phone,
            address: addr,
        });
    }
    let (Ok(coupons), Ok(points_to_redeem)) = (form.coupons(), form.points()) else {
        // The page says which field is wrong.
        return checkout_page(&state, &ctx, (session_id, member), &form, &errors, None).await;
    };
    if !errors.is_empty() {
        return checkout_page(&state, &ctx, (session_id, member), &form, &errors, None).await;
    }
    let lines: Vec<_> = storage::web::cart(&state.store, session_id)
        .await?
        .into_iter()
        .filter(|l| l.selected)
        .collect();
    if lines.is_empty() {
        return Ok(redirect("/cart"));
    }
    let req = crate::app::checkout::Checkout {
        id,
        fulfilment: if pickup {
            Fulfilment::Pickup
        } else {
            Fulfilment::Delivery
        },
        store: if pickup { form.store.clone() } else { None },
        address,
        lines: lines.iter().map(|l| (l.sku_id, l.qty)).collect(),
        member_id: Some(member),
        coupons,
        points_to_redeem,
        created_by: "shop-web".into(),
    };
    match crate::app::checkout::place(&state, req).await {
        Ok(placed) => {
            let ids: Vec<Uuid> = lines.iter().map(|l| l.sku_id).collect();
            shop_session::change_cart(
                &state,
                session_id,
                storage::web::cart_remove(&state.store, session_id, &ids),
            )
            .await?;
            Ok(redirect(&format!("/orders/{}", placed.id)))
        }
        Err(AppError::Conflict { code, message }) => {
            let text = if code == "out_of_stock" {
                format!(
                    "{} ({message})",
                    ctx.t(
                        "库存不足，请调整数量或换个门店。",
                        "Not enough stock: change the quantity or the store."
                    )
                )
            } else {
                message
            };
            checkout_page(
                &state,
                &ctx,
                (session_id, member),
                &CheckoutForm { id: None, ..form },
                &FieldErrors::new(),
                Some(text),
            )
            .await
        }
        Err(e @ AppError::Invalid { .. }) => {
            let text = e.to_string();
            checkout_page(
                &state,
                &ctx,
                (session_id, member),
                &CheckoutForm { id: None, ..form },
                &FieldErrors::new(),
                Some(text),
            )
            .await
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Debug, Deserialize, Default)]
struct OrdersParams {
    tab: Option<String>,
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
    let rows = storage::web::orders(
        &state.store,
        &storage::web::OrderQuery {
            member: Some(member),
            statuses: tab_statuses(&tab),
            limit: 50,
            ..Default::default()
        },
    )
    .await?;
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
        @if unread > 0 { (super::member::messages_link(&ctx, unread)) }
        div.chips { @for (k, label) in tabs { a.chip.on[k == tab] href={ "/orders?tab=" (k) } { (label) } } }
        @if rows.is_empty() { div.card { (ctx.t("还没有订单", "No orders yet")) } }
        @for o in &rows {
            a.card style="display:block;color:inherit" href={ "/orders/" (o.id) } {
                div.spread { b { (o.order_no) } span class={ "status " (o.status) } { (status_label(ctx.lang, &o.status)) } }
                div.spread { span.muted { (when(o.created_at)) " · " (if o.fulfilment == "pickup" { ctx.t("自提", "Pickup") } else { ctx.t("配送", "Delivery") }) } span.price { (yuan(o.total_fen)) } }
            }
        }
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

async fn order(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<Uuid>,
) -> WebResult<Response> {
    let (session, order) = own_order(&state, &ctx, id).await?;
    let count = cart_count(&state, session.as_ref()).await?;
    let store = state
        .catalog_cache
        .location(&state.store, &order.location_id)
        .await?;
    let pickup_qr = match (&order.pickup_code, order.status) {
        (Some(code), OrderStatus::Paid | OrderStatus::ReadyForPickup) => {
            Some(state.keys.signer.sign(&SignedCode::Pickup(PickupCode {
                order_id: order.id,
                short_code: code.clone(),
            })))
        }
        _ => None,
    };
    let body = html! {
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
                form method="post" action={ "/orders/" (order.id) "/pay" } {
                    (ctx.csrf_field())
                    button.btn.block type="submit" { (ctx.t("去支付 ", "Pay ")) (yuan(order.total.fen())) }
                }
                form method="post" action={ "/orders/" (order.id) "/cancel" } style="margin-top:8px" {
                    (ctx.csrf_field())
                    button.btn.secondary.block type="submit" { (ctx.t("取消订单", "Cancel order")) }
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
            }
            @if order.discount.fen() != 0 { div.spread { span { (ctx.t("优惠", "Discount")) } span { "-" (yuan(order.discount.fen())) } } }
            div.spread { b { (ctx.t("实付", "Total")) } b.price { (yuan(order.total.fen())) } }
            @if order.points_earned > 0 { p.muted { (ctx.t("获得积分 ", "Points earned ")) (order.points_earned) } }
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
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<Uuid>,
    Form(_): Form<HashMap<String, String>>,
) -> WebResult<Response> {
    let (_, order) = own_order(&state, &ctx, id).await?;
    if order.status != OrderStatus::PendingPayment {
        return Ok(redirect(&format!("/orders/{id}")));
    }
    let payment =
        storage::payments::create_intent(&state.store, retail_domain::ids::new_id(), order.id)
            .await?;
    Ok(redirect(&format!("/sandbox/pay/{}", payment.id)))
}

async fn cancel(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<Uuid>,
    Form(_): Form<HashMap<String, String>>,
) -> WebResult<Response> {
    let (_, order) = own_order(&state, &ctx, id).await?;
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
