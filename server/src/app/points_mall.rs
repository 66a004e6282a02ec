//! Points-mall goods (积分商城, issue 17): head office offers a SKU for points (points per unit,
//! units set aside, a per-member limit, a window, pause/resume); a member redeems it for pickup
//! or delivery. Coupons bought with points are [`super::coupons::redeem_with_points`].
//!
//! - **Redeeming** ([`redeem`]): in one transaction the item's units are taken (sold out, limit
//!   and window checked) and the member's points taken (`insufficient_points`), keyed by the
//!   order's client id; then the order is placed through the checkout at price 0 — a sale-price
//!   promotion offered to that order alone (`积分兑换 …`, exclusive, members only), so the one
//!   pricing engine prices and explains it and no other basket or lane ever gets it. A pickup
//!   order (nothing to pay) is paid at once with an internal `points` payment of ¥0; a delivery
//!   order's shipping fee is paid as for any order. A refused order gives the points and units
//!   back at once.
//! - **Giving back**: the sweeper ([`sweep`]) gives the points and units back once for a
//!   redemption whose order was cancelled (e.g. a delivery fee left unpaid) or never placed —
//!   driven from the database, so it survives restarts.

use chrono::{DateTime, Utc};
use retail_domain::money::Money;
use retail_domain::order::{Fulfilment, OrderStatus};
use retail_domain::pricing::{Audience, Promotion, PromotionRule, Scope, SkuPrice, Stacking};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::checkout::{self, Address, Checkout};
use super::AppState;
use crate::actor::{ClientAddr, Role, StaffActor};
use crate::error::{AppError, AppResult};
use crate::storage::orders::OrderPlaced;
use crate::storage::points_mall::{Goods, Refusal, Report};
use crate::storage::{self, now_ms};

/// Most points one unit may cost.
pub const MAX_POINTS_PRICE: i64 = 10_000_000;

/// An item to offer.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewGoods {
    /// Client id (UUIDv7); a retry answers the item created first.
    pub id: Uuid,
    /// The SKU (not weighed).
    pub sku_id: Uuid,
    /// Points per unit: 1 to 10,000,000.
    pub points_price: i64,
    /// Units set aside: 1 to 1,000,000.
    pub stock_units: i64,
    /// Units one member may hold: 1 to 99.
    pub per_member_limit: i64,
    /// Start.
    pub starts_at: DateTime<Utc>,
    /// End (after the start, at most a year later).
    pub ends_at: DateTime<Utc>,
}

/// Offers a SKU for points (head office; audited `points_mall.goods_create`). A retry with the
/// same id answers the first.
pub async fn create(state: &AppState, staff: &StaffActor, g: &NewGoods) -> AppResult<Goods> {
    staff.require(&[Role::HeadOfficeAdmin])?;
    retail_domain::ids::require_v7(g.id).map_err(|e| AppError::field("id", e.to_string()))?;
    if let Some(existing) = storage::points_mall::get(&state.store, g.id).await? {
        return Ok(existing);
    }
    let skus = storage::catalog::skus(&state.store, &[g.sku_id], None).await?;
    let sku = skus
        .get(&g.sku_id)
        .ok_or_else(|| AppError::field("sku_id", "no such SKU"))?;
    if sku.weighed {
        return Err(AppError::field(
            "sku_id",
            "a weighed SKU cannot be redeemed for points",
        ));
    }
    for (field, value, min, max) in [
        ("points_price", g.points_price, 1, MAX_POINTS_PRICE),
        ("stock_units", g.stock_units, 1, 1_000_000),
        ("per_member_limit", g.per_member_limit, 1, 99),
    ] {
        if !(min..=max).contains(&value) {
            return Err(AppError::field(field, format!("{min} to {max}")));
        }
    }
    if g.ends_at <= g.starts_at || g.ends_at - g.starts_at > chrono::Duration::days(366) {
        return Err(AppError::field(
            "ends_at",
            "after starts_at, at most a year later",
        ));
    }
    let goods = Goods {
        id: g.id,
        sku_id: g.sku_id,
        points_price: g.points_price,
        stock_units: g.stock_units,
        units_taken: 0,
        per_member_limit: g.per_member_limit,
        starts_at: g.starts_at,
        ends_at: g.ends_at,
        status: "active".into(),
        created_at: Utc::now(),
    };
    storage::points_mall::insert(&state.store, &goods, &staff.actor()).await?;
    get(state, g.id).await
}

/// One item; 404 when unknown.
pub async fn get(state: &AppState, id: Uuid) -> AppResult<Goods> {
    storage::points_mall::get(&state.store, id)
        .await?
        .ok_or_else(|| AppError::not_found(format!("points-mall item {id} not found")))
}

/// Pauses or resumes an item (head office; audited).
pub async fn set_paused(
    state: &AppState,
    staff: &StaffActor,
    id: Uuid,
    paused: bool,
) -> AppResult<Goods> {
    staff.require(&[Role::HeadOfficeAdmin])?;
    let status = if paused { "paused" } else { "active" };
    if !storage::points_mall::set_status(&state.store, id, status, &staff.actor()).await? {
        return Err(AppError::not_found(format!(
            "points-mall item {id} not found"
        )));
    }
    get(state, id).await
}

/// An item as the shop shows it.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ShopGoods {
    /// The item.
    #[serde(flatten)]
    pub goods: Goods,
    /// The SKU's name (Chinese).
    pub name_zh: String,
    /// The SKU's name (English).
    pub name_en: String,
    /// The SKU's regular price, for reference.
    pub regular_price: Money,
    /// Units left.
    pub left: i64,
}

/// Items running now, fewest points first (at most 100).
pub async fn running(state: &AppState) -> AppResult<Vec<ShopGoods>> {
    let goods = storage::points_mall::list(&state.store, Some(now_ms()), 100).await?;
    let ids: Vec<Uuid> = goods.iter().map(|g| g.sku_id).collect();
    let skus = storage::catalog::skus(&state.store, &ids, None).await?;
    Ok(goods
        .into_iter()
        .filter_map(|g| {
            let sku = skus.get(&g.sku_id)?;
            Some(ShopGoods {
                name_zh: format!("{} {}", sku.name_zh, sku.spec_zh).trim().to_owned(),
                name_en: sku.name_en.clone(),
                regular_price: sku.price,
                left: (g.stock_units - g.units_taken).max(0),
                goods: g,
            })
        })
        .collect())
}

/// An item with its figures, for head office.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct GoodsReport {
    /// The item.
    #[serde(flatten)]
    pub goods: Goods,
    /// Its figures.
    pub report: Report,
}

/// Every item (newest first, at most 200) with its figures.
pub async fn list_with_reports(state: &AppState) -> AppResult<Vec<GoodsReport>> {
    let mut out = Vec::new();
    for goods in storage::points_mall::list(&state.store, None, 200).await? {
        let report = storage::points_mall::report(&state.store, goods.id).await?;
        out.push(GoodsReport { goods, report });
    }
    Ok(out)
}

/// The promotion that makes one redemption's order free: a sale price of 0 for the SKU, members
/// only, exclusive (no other promotion, coupon or points on that line).
pub fn redemption_promotion(g: &Goods, name_zh: &str) -> Promotion {
    let now = Utc::now();
    Promotion {
        id: g.id,
        name_zh: format!("积分兑换 {name_zh}（{} 积分/件）", g.points_price),
        name_en: format!("Redeemed for points ({} per unit)", g.points_price),
        starts_at: now - chrono::Duration::minutes(1),
        ends_at: now + chrono::Duration::hours(1),
        stores: Vec::new(),
        audience: Audience::Members,
        scope: Scope::skus([g.sku_id]),
        rule: PromotionRule::SalePrice {
            prices: vec![SkuPrice {
                sku_id: g.sku_id,
                price: Money::ZERO,
            }],
        },
        stacking: Stacking::Exclusive,
        priority: -1000,
    }
}

/// A member's redemption.
#[derive(Debug)]
pub struct Redeem {
    /// The order's client id (UUIDv7); a retry answers the first result.
    pub order_id: Uuid,
    /// The member.
    pub member: Uuid,
    /// Units (1 to the per-member limit).
    pub qty: i64,
    /// Delivery or pickup.
    pub fulfilment: Fulfilment,
    /// The pickup store.
    pub store: Option<String>,
    /// The delivery address.
    pub address: Option<Address>,
    /// The delivery slot.
    pub slot: String,
    /// The client's address.
    pub client: ClientAddr,
}

/// What a redemption placed.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Redeemed {
    /// Points taken.
    pub points: i64,
    /// The order (paid already for pickup; a delivery order's shipping fee is to pay).
    #[serde(flatten)]
    pub order: OrderPlaced,
}

fn refusal(r: Refusal, g: &Goods) -> AppError {
    match r {
        Refusal::NotRunning => AppError::conflict(
            "points_goods_not_running",
            "this item is not in the points mall now (paused, not started or over)",
        ),
        Refusal::SoldOut => {
            AppError::conflict("points_goods_sold_out", "this item has been redeemed out")
        }
        Refusal::OverLimit => AppError::conflict(
            "points_goods_limit",
            format!(
                "a member may redeem at most {} of this item",
                g.per_member_limit
            ),
        ),
    }
}

/// Redeems an item for points: takes the units and the points in one transaction (409
/// `points_goods_not_running`, `points_goods_sold_out`, `points_goods_limit`,
/// `insufficient_points`; nothing changed), then places the order at price 0 and, when nothing
/// is left to pay (pickup), pays it at once; a refused order gives everything back. A retry with
/// the same order id answers the first result and takes nothing more.
pub async fn redeem(state: &AppState, goods_id: Uuid, req: Redeem) -> AppResult<Redeemed> {
    retail_domain::ids::require_v7(req.order_id)
        .map_err(|e| AppError::field("id", e.to_string()))?;
    let g = get(state, goods_id).await?;
    let sku_name = storage::catalog::skus(&state.store, &[g.sku_id], None)
        .await?
        .get(&g.sku_id)
        .map(|s| s.name_zh.clone())
        .unwrap_or_default();
    if let Some(done) = storage::points_mall::redemption(&state.store, req.order_id).await? {
        if done.member_id != req.member || done.goods_id != goods_id {
            return Err(AppError::conflict("id_taken", "this order id is taken"));
        }
        let order = place_order(state, &g, &sku_name, &req).await?;
        let order = settle_if_free(state, order, req.member).await?;
        return Ok(Redeemed {
            points: done.points,
            order,
        });
    }
    if !(1..=g.per_member_limit).contains(&req.qty) {
        return Err(AppError::field(
            "qty",
            format!("1 to {}", g.per_member_limit),
        ));
    }
    let points = g.points_price.saturating_mul(req.qty);
    let mut tx = state.store.begin().await?;
    if let Err(r) = storage::points_mall::take_in_tx(
        &mut tx,
        g.id,
        req.member,
        req.order_id,
        req.qty,
        points,
        now_ms(),
    )
    .await?
    {
        tx.rollback().await?;
        return Err(refusal(r, &g));
    }
    storage::members::redeem_in_tx(
        &mut tx,
        state.store.dialect(),
        req.member,
        points,
        &redeem_ref(req.order_id),
        &format!("member:{}", req.member),
    )
    .await?;
    tx.commit().await?;
    let order = match place_order(state, &g, &sku_name, &req).await {
        Ok(order) => order,
        Err(err) => {
            give_back(state, req.order_id).await?;
            return Err(err);
        }
    };
    let order = settle_if_free(state, order, req.member).await?;
    Ok(Redeemed { points, order })
}

fn redeem_ref(order: Uuid) -> String {
    format!("mall-goods:{order}")
}

async fn place_order(
    state: &AppState,
    g: &Goods,
    name_zh: &str,
    req: &Redeem,
) -> AppResult<OrderPlaced> {
    checkout::place_with(
        state,
        Checkout {
            id: req.order_id,
            fulfilment: req.fulfilment,
            store: req.store.clone(),
            address: req.address.clone(),
            slot: req.slot.clone(),
            lines: vec![(g.sku_id, req.qty)],
            member_id: Some(req.member),
            coupons: Vec::new(),
            points_to_redeem: 0,
            created_by: "points-mall".into(),
            client: req.client,
        },
        &[redemption_promotion(g, name_zh)],
    )
    .await
}

/// Pays an order with nothing to pay (a redemption picked up) with an internal `points`
/// payment of ¥0, once (under the order's row lock); other orders are answered as they are.
async fn settle_if_free(
    state: &AppState,
    order: OrderPlaced,
    member: Uuid,
) -> AppResult<OrderPlaced> {
    if order.total.fen() != 0 || order.status != OrderStatus::PendingPayment {
        return Ok(order);
    }
    let payment_id = retail_domain::ids::new_id();
    let mut tx = state.store.begin().await?;
    let head = storage::orders::lock_head(&mut tx, &state.store, order.id).await?;
    if head.status != OrderStatus::PendingPayment {
        tx.rollback().await?;
        return Ok(OrderPlaced {
            status: head.status,
            ..order
        });
    }
    storage::payments::insert_internal_in_tx(&mut tx, payment_id, order.id, "points", 0).await?;
    let head = super::payments::apply_paid_in_tx(
        &state.settings,
        &mut tx,
        &head,
        payment_id,
        "",
        &format!("member:{member}"),
    )
    .await?;
    tx.commit().await?;
    super::payments::after_paid(state, &head, payment_id).await;
    Ok(OrderPlaced {
        status: head.status,
        expires_at: None,
        ..order
    })
}

/// Gives a redemption back once (its units to the item, its points to the member); false when
/// it was given back before or there is none.
pub async fn give_back(state: &AppState, order: Uuid) -> AppResult<bool> {
    let mut tx = state.store.begin().await?;
    let Some(r) = storage::points_mall::give_back_in_tx(&mut tx, order, now_ms()).await? else {
        tx.rollback().await?;
        return Ok(false);
    };
    storage::members::credit_points_in_tx(
        &mut tx,
        &state.settings.points,
        r.member_id,
        r.points,
        0,
        "积分商城兑换退回 points-mall redemption given back",
        &format!("{}:back", redeem_ref(order)),
        "system",
    )
    .await?;
    tx.commit().await?;
    tracing::info!(order = %order, points = r.points, "points-mall redemption given back");
    Ok(true)
}

/// The sweeper's part: redemptions whose order was cancelled, or never placed (5 minutes on),
/// are given back — each once.
pub async fn sweep(state: &AppState) -> AppResult<usize> {
    let before = now_ms().saturating_sub(5 * 60 * 1000);
    let mut given = 0;
    for order in storage::points_mall::to_give_back(&state.store, before, 200).await? {
        if give_back(state, order).await? {
            given += 1;
        }
    }
    Ok(given)
}
