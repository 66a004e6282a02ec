//! The shopper's basket as shown and priced, shared by the cart, checkout and scan-and-go: the
//! cart's lines with their names, prices and stock at a location, and the pricing engine's
//! quote — what checkout will charge, promotions, member prices, coupons and points included.

use maud::{html, Markup};
use uuid::Uuid;

use crate::app::AppState;
use crate::error::AppError;
use crate::storage;
use crate::web::{yuan, Ctx, WebResult};

/// A cart line ready to show.
pub(super) struct ShownLine {
    pub(super) sku_id: Uuid,
    pub(super) product_id: Uuid,
    pub(super) name: String,
    pub(super) spec: String,
    pub(super) qty: i64,
    pub(super) selected: bool,
    pub(super) unit_fen: Option<i64>,
    pub(super) available: i64,
}

pub(super) async fn shown_cart(
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
pub(super) async fn engine_total(
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
pub(super) async fn engine_quote(
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
pub(super) fn priceable<'a>(lines: impl Iterator<Item = &'a ShownLine>) -> Vec<(Uuid, i64)> {
    lines
        .filter(|l| l.unit_fen.is_some() && l.qty > 0)
        .map(|l| (l.sku_id, l.qty))
        .collect()
}

/// The total line of a priced basket: amount due, the discount and its explanation.
pub(super) fn priced_summary(
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
