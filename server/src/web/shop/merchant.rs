//! A merchant's page in the shop (`/m/{id}`, B2B2C): the merchant's name and its products on
//! the shelf, each linking to its product page. Only a trading (approved) merchant has one.

use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use maud::html;

use super::{cart_count, session};
use crate::app::merchants as merchants_app;
use crate::app::AppState;
use crate::storage;
use crate::storage::catalog::ProductFilter;
use crate::web::{shop_page, yuan, Ctx, WebResult};

/// Products on one merchant page.
const PAGE: i64 = 200;

/// Merchant page routes.
pub fn router() -> Router<AppState> {
    Router::new().route("/m/{id}", get(page))
}

async fn page(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> WebResult<Response> {
    let merchant = merchants_app::trading(&state.store, &id).await?;
    let products = storage::catalog::list_products(
        &state.store,
        &ProductFilter {
            limit: PAGE,
            merchant: Some(merchant.id.clone()),
            ..ProductFilter::default()
        },
    )
    .await?;
    let session = session(&state, &ctx).await?;
    let count = cart_count(&state, session.as_ref()).await?;
    let name = ctx.lang.pick(&merchant.name_zh, &merchant.name_en);
    let body = html! {
        div.card #merchant {
            h1 { (name) }
            p.muted { (ctx.t("入驻商家 · 商家发货，售后由商家处理", "A merchant on the platform · ships and handles after-sales itself")) }
        }
        @if products.items.is_empty() {
            p.muted #no-products { (ctx.t("暂无在售商品", "Nothing on sale yet")) }
        }
        div.grid #merchant-products {
            @for item in &products.items {
                @let item_name = ctx.lang.pick(&item.name_zh, &item.name_en);
                a.tile href={ "/p/" (item.id) } data-product=(item.id) {
                    div.ph { (item_name.chars().next().unwrap_or('·')) }
                    span.name { (item_name) }
                    span.muted { (item.brand) }
                    @if let Some(min) = item.price_min { span.price { (yuan(min.fen())) } }
                }
            }
        }
    };
    Ok(shop_page(&ctx, name, count, body))
}
