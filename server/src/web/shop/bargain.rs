//! The shop's bargain (砍价) pages: a run's share page `/bargain/{id}` (the product, the start,
//! current and floor prices, a progress bar, the helpers' masked nicknames with their cuts, a
//! countdown; "help" for a logged-in member who is not the starter, "buy" for the starter), and
//! the forms that start a run from the product page, help one, and buy one as a pickup order at
//! its price through [`crate::app::bargains`] (then on to the order's page to pay).

use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use maud::html;
use retail_domain::order::Fulfilment;
use serde::Deserialize;
use uuid::Uuid;

use super::{bargain_refusal_text, cart_count, require_member, session};
use crate::app::bargains::{self, BuyOrder};
use crate::app::AppState;
use crate::error::AppError;
use crate::web::{redirect, shop_page, urlencode, yuan, Ctx, Form, WebResult};

/// Bargain page routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/bargain/start", post(start))
        .route("/bargain/{id}", get(run_page))
        .route("/bargain/{id}/help", post(help))
        .route("/bargain/{id}/buy", post(buy))
}

#[derive(Debug, Deserialize, Default)]
struct RunParams {
    error: Option<String>,
    helped: Option<String>,
}

async fn run_page(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<Uuid>,
    Query(p): Query<RunParams>,
) -> WebResult<Response> {
    let view = bargains::run_view(&state, id).await?;
    let session = session(&state, &ctx).await?;
    let count = cart_count(&state, session.as_ref()).await?;
    let me = session.as_ref().and_then(|s| s.member_id);
    let pickup_store = session.as_ref().and_then(|s| s.pickup_store.clone());
    let b = &view.bargain;
    let run = &view.run;
    let starter = me == Some(run.member_id);
    let stores = if starter {
        state
            .catalog_cache
            .availability(&state.store, b.sku_id)
            .await?
    } else {
        Vec::new()
    };
    let share = format!(
        "{}{}",
        state.settings.public_url.trim_end_matches('/'),
        view.share_path
    );
    let product = crate::storage::catalog::skus(&state.store, &[b.sku_id], None)
        .await?
        .get(&b.sku_id)
        .map(|s| s.product_id);
    let live = view.state == "open" || view.state == "floor";
    let helped = match me {
        Some(m) if !starter => bargains::helped_by(&state, id, m).await?,
        _ => false,
    };
    let body = html! {
        @if let Some(code) = &p.error { div.notice.err role="alert" #bargain-error { (bargain_refusal_text(&ctx, code)) } }
        @if p.helped.is_some() { div.notice.ok role="status" #bargain-helped { (ctx.t("助力成功，谢谢你！", "Thanks for helping!")) } }
        div.card #bargain data-state=(view.state) {
            h2 { @if let Some(p) = product { a href={ "/p/" (p) "?sku=" (b.sku_id) } { (ctx.lang.pick(&b.name_zh, &b.name_en)) } } @else { (ctx.lang.pick(&b.name_zh, &b.name_en)) } }
            p { span.status.paid { (ctx.t("砍价", "Bargain")) } " "
                (ctx.t("当前价 ", "Now ")) span.price #bargain-price { (yuan(run.price.fen())) } }
            p.muted { (ctx.t("原价 ", "Start ")) span #start-price { (yuan(run.start_price.fen())) }
                " · " (ctx.t("底价 ", "Floor ")) span #floor-price { (yuan(run.floor_price.fen())) } }
            progress #bargain-progress max="100" value=(view.progress_percent) style="width:100%" { (view.progress_percent) "%" }
            p #bargain-status {
                @match view.state.as_str() {
                    "bought" => { span.status.paid { (ctx.t("已购买", "Bought")) } }
                    "expired" => { span.status.cancelled { (ctx.t("已过期", "Expired")) } }
                    "floor" => { span.status.paid { (ctx.t("已砍到底价！", "At the floor price!")) } " · "
                        (ctx.t("剩余 ", "ends in ")) span.countdown #bargain-countdown data-countdown=(run.deadline_at.timestamp_millis()) { "--:--:--" } }
                    _ => {
                        (ctx.t("已有 ", "")) b #helps { (run.helps) } (ctx.t(" 人助力，还差 ", " helped, ")) b #helps-left { (run.helpers - run.helps) } (ctx.t(" 人砍到底价", " more to the floor"))
                        " · " (ctx.t("剩余 ", "ends in ")) span.countdown #bargain-countdown data-countdown=(run.deadline_at.timestamp_millis()) { "--:--:--" }
                    }
                }
            }
            ul #bargain-helpers { @for h in &view.helps {
                li.helper { (h.nickname) " " span.muted { (ctx.t("砍掉 ", "cut ")) } span.cut { (yuan(h.cut.fen())) } }
            } }
            p { (ctx.t("分享链接：", "Share link: ")) input #share-link readonly value=(share) style="width:100%"; }
        }
        @if live && starter {
            form.card #buy-bargain method="post" action={ "/bargain/" (run.id) "/buy" } {
                (ctx.csrf_field())
                input type="hidden" name="id" value=(Uuid::now_v7());
                div.field { label for="store" { (ctx.t("自提门店", "Pickup store")) }
                    select #store name="store" { @for s in &stores {
                        option value=(s.location_id) selected[pickup_store.as_deref() == Some(s.location_id.as_str())] { (ctx.lang.pick(&s.name_zh, &s.name_en)) }
                    } } }
                button.btn #buy type="submit" { (ctx.t("以当前价购买", "Buy at this price")) " " (yuan(run.price.fen())) }
                p.muted { (ctx.t("会员专享，线上下单；每次砍价限购一件。", "Members only, online orders; one unit per bargain.")) }
            }
        }
        @if helped && p.helped.is_none() {
            div.card.muted #already-helped { (ctx.t("你已帮 TA 砍过一刀，分享给更多好友吧。", "You have helped this bargain: share it with more friends.")) }
        }
        @if view.state == "open" && !starter && !helped {
            form.card #help-bargain method="post" action={ "/bargain/" (run.id) "/help" } {
                (ctx.csrf_field())
                input type="hidden" name="id" value=(Uuid::now_v7());
                button.btn #help type="submit" { (ctx.t("帮 TA 砍一刀", "Help cut the price")) }
            }
        }
    };
    Ok(shop_page(&ctx, ctx.t("砍价", "Bargain"), count, body))
}

#[derive(Debug, Deserialize)]
struct IdForm {
    id: String,
    #[serde(default)]
    bargain: Option<String>,
    #[serde(default)]
    store: Option<String>,
}

fn form_id(text: &str) -> WebResult<Uuid> {
    Ok(text
        .trim()
        .parse::<Uuid>()
        .map_err(|_| AppError::bad_request("invalid_form", "the form could not be read"))?)
}

/// Back to `back` with the refusal's code in `param`, or the error as it is.
fn refused(back: &str, param: &str, err: AppError) -> WebResult<Response> {
    let code = match err {
        AppError::Conflict { code, .. } => code,
        AppError::Forbidden(_) => "not_starter",
        e => return Err(e.into()),
    };
    Ok(redirect(&format!(
        "{back}{}{param}={}",
        if back.contains('?') { "&" } else { "?" },
        urlencode(code)
    )))
}

async fn start(
    State(state): State<AppState>,
    ctx: Ctx,
    Form(form): Form<IdForm>,
) -> WebResult<Response> {
    let bargain = form_id(form.bargain.as_deref().unwrap_or_default())?;
    let b = bargains::get(&state, bargain).await?;
    let product = crate::storage::catalog::skus(&state.store, &[b.sku_id], None)
        .await?
        .get(&b.sku_id)
        .map(|s| s.product_id);
    let back = match product {
        Some(p) => format!("/p/{p}?sku={}", b.sku_id),
        None => "/".into(),
    };
    let session = session(&state, &ctx).await?;
    let (_, member) = require_member(session.as_ref(), &back)?;
    let run = form_id(&form.id)?;
    match bargains::start(&state, bargain, run, member).await {
        Ok(view) => Ok(redirect(&view.share_path)),
        Err(e) => refused(&back, "bargain_error", e),
    }
}

async fn help(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<Uuid>,
    Form(form): Form<IdForm>,
) -> WebResult<Response> {
    let back = format!("/bargain/{id}");
    let session = session(&state, &ctx).await?;
    let (_, member) = require_member(session.as_ref(), &back)?;
    match bargains::help(&state, id, member, form_id(&form.id)?).await {
        Ok(_) => Ok(redirect(&format!("{back}?helped=1"))),
        Err(e) => refused(&back, "error", e),
    }
}

async fn buy(
    client: crate::actor::ClientAddr,
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<Uuid>,
    Form(form): Form<IdForm>,
) -> WebResult<Response> {
    let back = format!("/bargain/{id}");
    let session = session(&state, &ctx).await?;
    let (_, member) = require_member(session.as_ref(), &back)?;
    let order = BuyOrder {
        order_id: form_id(&form.id)?,
        member,
        fulfilment: Fulfilment::Pickup,
        store: form.store.map(|s| s.trim().to_owned()),
        address: None,
        slot: String::new(),
        created_by: "shop-web".into(),
        client,
    };
    match bargains::buy(&state, id, order).await {
        Ok(bought) => Ok(redirect(&format!("/orders/{}", bought.order.id))),
        Err(e) => refused(&back, "error", e),
    }
}
