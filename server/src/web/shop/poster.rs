//! Share posters in the shop: a page with the product's poster to long-press and save (as
//! WeChat users share), and the PNG itself, drawn by `app::posters`.

use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use maud::html;
use serde::Deserialize;
use uuid::Uuid;

use super::{cart_count, price_location, session};
use crate::app::posters::{self, ProductPosterRequest};
use crate::app::AppState;
use crate::web::{shop_page, Ctx, WebResult};

/// Poster routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/p/{id}/poster", get(poster_page))
        .route("/p/{id}/poster.png", get(poster_png))
}

#[derive(Debug, Deserialize)]
struct PosterParams {
    sku: Option<Uuid>,
}

async fn poster_page(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<Uuid>,
    Query(p): Query<PosterParams>,
) -> WebResult<Response> {
    let session = session(&state, &ctx).await?;
    let count = cart_count(&state, session.as_ref()).await?;
    let src = match p.sku {
        Some(sku) => format!("/p/{id}/poster.png?sku={sku}"),
        None => format!("/p/{id}/poster.png"),
    };
    let back = match p.sku {
        Some(sku) => format!("/p/{id}?sku={sku}"),
        None => format!("/p/{id}"),
    };
    let body = html! {
        div.card.poster {
            h1 { (ctx.t("分享海报", "Share poster")) }
            p.muted { (ctx.t("长按图片保存到相册，发给好友或朋友圈。", "Press and hold the picture to save it, then send it to friends.")) }
            img #poster src=(src) width=(posters::WIDTH / 2) height=(posters::HEIGHT / 2)
                alt=(ctx.t("商品分享海报", "Product share poster")) style="max-width:100%;height:auto;border:1px solid #eee";
            p { a.btn.secondary href=(back) { (ctx.t("返回商品", "Back to the product")) } }
        }
    };
    Ok(shop_page(
        &ctx,
        ctx.t("分享海报", "Share poster"),
        count,
        body,
    ))
}

async fn poster_png(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<Uuid>,
    Query(p): Query<PosterParams>,
) -> WebResult<Response> {
    let session = session(&state, &ctx).await?;
    let png = posters::product_poster(
        &state,
        ProductPosterRequest {
            product_id: id,
            sku_id: p.sku,
            location: price_location(&state, session.as_ref()).await?,
            sharer: session.as_ref().and_then(|s| s.member_id),
        },
    )
    .await?;
    Ok((
        [
            (header::CONTENT_TYPE, "image/png"),
            (header::CACHE_CONTROL, "private, max-age=300"),
        ],
        png,
    )
        .into_response())
}
