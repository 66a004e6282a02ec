//! The shopper's cart: adding a product (from its page), changing quantities and choosing the
//! lines to check out, choosing the pickup store, and the cart page with the total the pricing
//! engine gives for the chosen lines — at the chosen pickup store's prices and stock once one is
//! chosen, else at those of the place delivery ships from; below it, what is frequently bought
//! together with the cart's SKUs.

use axum::extract::{Query, State};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use maud::html;
use serde::Deserialize;
use uuid::Uuid;

use super::basket::{engine_total, priceable, priced_summary, shown_cart};
use super::{ensure_session, price_location, recommended, session};
use crate::app::shop_session;
use crate::app::AppState;
use crate::error::AppError;
use crate::storage;
use crate::web::{local_path, picture, redirect, shop_page, yuan, Ctx, Form, WebResult};

/// Cart routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/cart", get(cart))
        .route("/cart/add", post(cart_add))
        .route("/cart/update", post(cart_update))
        .route("/pickup-store", post(choose_pickup_store))
}

#[derive(Debug, Deserialize)]
struct PickupStoreForm {
    /// A store's code; empty for delivery (no pickup store).
    store: String,
    back: Option<String>,
}

/// The shopper chooses the store to pick up at (or none, for delivery): the product page and
/// the cart then show that store's prices and stock, and checkout offers it first.
async fn choose_pickup_store(
    State(state): State<AppState>,
    ctx: Ctx,
    Form(f): Form<PickupStoreForm>,
) -> WebResult<Response> {
    let session = ensure_session(&state, &ctx).await?;
    let store = Some(f.store.trim()).filter(|s| !s.is_empty());
    match shop_session::choose_pickup_store(&state, &ctx.sid, &session, store).await {
        Err(AppError::Invalid { .. }) => {
            return Err(AppError::field("store", ctx.t("没有这家门店", "No such store")).into())
        }
        chosen => chosen?,
    }
    Ok(redirect(&local_path(f.back.as_deref())))
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
    let session = ensure_session(&state, &ctx).await?;
    let prices = state
        .catalog_cache
        .sku_prices(
            &state.store,
            &price_location(&state, Some(&session)).await?,
            &[f.sku],
        )
        .await?;
    if !prices.get(&f.sku).is_some_and(|p| p.on_shelf) {
        return Err(AppError::not_found("product").into());
    }
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
    let back = local_path(f.back.as_deref());
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
    let location = price_location(&state, session.as_ref()).await?;
    let lines = match &session {
        Some(s) => shown_cart(&state, &ctx, s.id, &location).await?,
        None => Vec::new(),
    };
    let count: i64 = lines.iter().map(|l| l.qty).sum();
    let member = session.as_ref().and_then(|s| s.member_id);
    let selected = priceable(lines.iter().filter(|l| l.selected));
    let priced = engine_total(&state, &location, member, selected).await;
    let index = state.search.get(&state.store).await?;
    let pickup_store = session.as_ref().and_then(|s| s.pickup_store.clone());
    let stores = state.catalog_cache.stores(&state.store).await?;
    let checkout = match &pickup_store {
        Some(store) => format!("/checkout?mode=pickup&store={store}"),
        None => "/checkout".to_owned(),
    };
    let in_cart: Vec<Uuid> = lines.iter().map(|l| l.sku_id).collect();
    let together = if in_cart.is_empty() {
        html! {}
    } else {
        let recs = crate::app::recommendations::cart_together(&state, &in_cart, 8).await?;
        recommended::section(
            &state,
            &ctx,
            &index,
            "bought-together",
            crate::app::recommendations::TOGETHER,
            ctx.t("常一起买", "Frequently bought together"),
            &recs,
        )
    };
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
                            @if let Some(image) = index.get(l.product_id).and_then(|d| d.row.image.as_ref()) {
                                span.pic.small { (picture(image, 48, &l.name)) }
                            }
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
                        @if pickup_store.is_some() {
                            p.field-error { (ctx.t("库存紧张：该门店仅剩 ", "Low stock: this store has only ")) (l.available) (ctx.t(" 件，可换一家门店", "; try another store")) }
                        } @else {
                            p.field-error { (ctx.t("库存紧张：配送仓仅剩 ", "Low stock: the delivery warehouse has only ")) (l.available) (ctx.t(" 件，可选门店自提", "; try store pickup")) }
                        }
                    }
                }
            }
        }
        @if !lines.is_empty() {
            form.card #pickup-store method="post" action="/pickup-store" {
                (ctx.csrf_field())
                input type="hidden" name="back" value="/cart";
                label for="pickup-store-choice" { (ctx.t("价格与库存按", "Prices and stock at")) }
                div.row {
                    select #pickup-store-choice name="store" {
                        option value="" selected[pickup_store.is_none()] { (ctx.t("配送到家", "Home delivery")) }
                        @for s in &stores {
                            option value=(s.id) selected[pickup_store.as_deref() == Some(s.id.as_str())] {
                                (ctx.t("到店自提：", "Pick up at ")) (ctx.lang.pick(&s.name_zh, &s.name_en))
                            }
                        }
                    }
                    button.btn.secondary type="submit" { (ctx.t("更新", "Update")) }
                }
            }
            div.card.spread {
                div { (priced_summary(&ctx, priced.as_ref())) }
                a.btn #checkout-link href=(checkout) data-track="checkout" { (ctx.t("去结算", "Check out")) }
            }
        }
        (together)
    };
    Ok(shop_page(&ctx, ctx.t("购物车", "Cart"), count, body))
}
