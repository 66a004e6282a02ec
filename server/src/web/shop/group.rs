//! The shop's group-buy (拼团) pages: a team's share page `/group/{team_id}` (members masked,
//! seats left, a countdown, the share link, "join" for a logged-in member), and the forms that
//! open a team from the product page or join one — each placing a pickup order at the group
//! price through [`crate::app::group_buys::take_seat`] and going on to the order's page to pay.

use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use maud::html;
use retail_domain::order::Fulfilment;
use serde::Deserialize;
use uuid::Uuid;

use super::{cart_count, group_refusal_text, require_member, session};
use crate::app::group_buys::{self, SeatOrder, Target};
use crate::app::shares;
use crate::app::AppState;
use crate::error::AppError;
use crate::web::{redirect, shop_page, urlencode, yuan, Ctx, Form, WebResult};

/// Group-buy page routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/group/open", post(open))
        .route("/group/{team_id}", get(team_page))
        .route("/group/{team_id}/join", post(join))
}

#[derive(Debug, Deserialize, Default)]
struct TeamParams {
    error: Option<String>,
    /// A share code (`crate::app::shares`): the open is recorded when it is valid for this team.
    s: Option<String>,
}

async fn team_page(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(team_id): Path<Uuid>,
    Query(p): Query<TeamParams>,
) -> WebResult<Response> {
    let view = group_buys::team_view(&state, team_id).await?;
    let session = session(&state, &ctx).await?;
    let count = cart_count(&state, session.as_ref()).await?;
    let pickup_store = session.as_ref().and_then(|s| s.pickup_store.clone());
    let stores = state
        .catalog_cache
        .availability(&state.store, view.group_buy.sku_id)
        .await?;
    let g = &view.group_buy;
    let member_id = session.as_ref().and_then(|s| s.member_id);
    let target = shares::ShareTarget::GroupTeam(team_id);
    if let Some(code) = p.s.as_deref() {
        shares::opened(&state, code, target, shares::opener(member_id, &ctx.sid)).await;
    }
    // A logged-in member shares the link with their attribution.
    let share_path = match member_id {
        Some(m) => shares::share_link(&state, m, target).await?,
        None => view.share_path.clone(),
    };
    let share = format!(
        "{}{}",
        state.settings.public_url.trim_end_matches('/'),
        share_path
    );
    let open = view.team.status == "open" && view.seconds_left > 0;
    let body = html! {
        @if let Some(code) = &p.error { div.notice.err role="alert" #group-error { (group_refusal_text(&ctx, code)) } }
        div.card #team {
            h2 { (ctx.lang.pick(&g.name_zh, &g.name_en)) }
            p { span.status.paid { (ctx.t("拼团价", "Group price")) } " " span.price #group-price { (yuan(g.group_price.fen())) }
                " · " (g.team_size) (ctx.t("人团", "-member team")) }
            p #team-status data-status=(view.team.status) {
                @match view.team.status.as_str() {
                    "filled" => { span.status.paid { (ctx.t("已成团", "Team filled")) } }
                    "failed" => { span.status.cancelled { (ctx.t("拼团失败，已退款", "Team failed: refunded")) } }
                    _ => {
                        (ctx.t("还差 ", "")) b #seats-left { (view.seats_left) } (ctx.t(" 人成团", " seats left"))
                        " · " (ctx.t("剩余 ", "ends in ")) span.countdown #team-countdown data-countdown=(view.team.deadline_at.timestamp_millis()) { "--:--:--" }
                    }
                }
            }
            ul #team-members { @for m in &view.members {
                li.member.stand-in[m.stand_in] { (if m.stand_in { ctx.t("虚拟成员（系统补位）", "Virtual member (filled at the deadline)") } else { m.nickname.as_str() }) " " span.muted { (m.phone) }
                    @if m.leader { " " span.status.paid { (ctx.t("团长", "Leader")) } }
                    @if !m.paid { " " span.muted { (ctx.t("待支付", "paying")) } } }
            } }
            p { (ctx.t("分享链接：", "Share link: ")) input #share-link readonly value=(share) style="width:100%"; }
        }
        @if open && view.seats_left > 0 {
            form.card #join-team method="post" action={ "/group/" (view.team.id) "/join" } {
                (ctx.csrf_field())
                input type="hidden" name="id" value=(Uuid::now_v7());
                div.field { label for="store" { (ctx.t("自提门店", "Pickup store")) }
                    select #store name="store" { @for s in &stores {
                        option value=(s.location_id) selected[pickup_store.as_deref() == Some(s.location_id.as_str())] { (ctx.lang.pick(&s.name_zh, &s.name_en)) }
                    } } }
                button.btn #join type="submit" { (ctx.t("立即参团", "Join this team")) " " (yuan(g.group_price.fen())) }
            }
        }
    };
    Ok(shop_page(&ctx, ctx.t("拼团", "Group-buy"), count, body))
}

#[derive(Debug, Deserialize)]
struct SeatForm {
    id: String,
    store: String,
    #[serde(default)]
    group_buy: Option<String>,
}

async fn seat(
    state: &AppState,
    ctx: &Ctx,
    client: crate::actor::ClientAddr,
    target: Target,
    form: SeatForm,
    back: &str,
) -> WebResult<Response> {
    let session = session(state, ctx).await?;
    let (_, member) = require_member(session.as_ref(), back)?;
    let order_id = form
        .id
        .trim()
        .parse::<Uuid>()
        .map_err(|_| AppError::bad_request("invalid_form", "the form could not be read"))?;
    match group_buys::take_seat(
        state,
        target,
        SeatOrder {
            order_id,
            member,
            qty: 1,
            fulfilment: Fulfilment::Pickup,
            store: Some(form.store.trim().to_owned()),
            address: None,
            slot: String::new(),
            created_by: "shop-web".into(),
            client,
        },
    )
    .await
    {
        Ok(joined) => Ok(redirect(&format!("/orders/{}", joined.order.id))),
        Err(AppError::Conflict { code, .. }) => Ok(redirect(&format!(
            "{}{}error={}",
            back,
            if back.contains('?') { "&" } else { "?" },
            urlencode(code)
        ))),
        Err(e) => Err(e.into()),
    }
}

async fn join(
    client: crate::actor::ClientAddr,
    State(state): State<AppState>,
    ctx: Ctx,
    Path(team_id): Path<Uuid>,
    Form(form): Form<SeatForm>,
) -> WebResult<Response> {
    let back = format!("/group/{team_id}");
    seat(&state, &ctx, client, Target::Join(team_id), form, &back).await
}

async fn open(
    client: crate::actor::ClientAddr,
    State(state): State<AppState>,
    ctx: Ctx,
    Form(form): Form<SeatForm>,
) -> WebResult<Response> {
    let gb: Uuid = form
        .group_buy
        .as_deref()
        .and_then(|g| g.trim().parse().ok())
        .ok_or_else(|| AppError::bad_request("invalid_form", "the form could not be read"))?;
    let g = group_buys::get(&state, gb).await?;
    let product = storage_product_of(&state, g.sku_id).await?;
    let back = match product {
        Some(p) => format!("/p/{p}?sku={}", g.sku_id),
        None => "/".into(),
    };
    seat(&state, &ctx, client, Target::Open(gb), form, &back).await
}

/// The product a SKU belongs to.
async fn storage_product_of(state: &AppState, sku: Uuid) -> WebResult<Option<Uuid>> {
    Ok(crate::storage::catalog::skus(&state.store, &[sku], None)
        .await?
        .get(&sku)
        .map(|s| s.product_id))
}
