//! Online checkout: the one path that turns a shopper's basket into an order, used by the JSON
//! API (`POST /api/v1/orders`) and by the shop pages alike. It prices the basket with the
//! pricing engine ([`crate::app::pricing::quote`]) and hands the order to the group-commit intake,
//! which reserves stock and takes flash-sale units, coupons and points atomically.

use std::collections::HashSet;

use chrono::Utc;
use retail_domain::codes::{ExitPass, PickupCode, SignedCode};
use retail_domain::order::{Channel, Fulfilment};
use uuid::Uuid;

use crate::actor::ClientAddr;
use crate::app::pricing::{self, BasketRequest};
use crate::app::AppState;
use crate::error::{AppError, AppResult};
use crate::storage;
use crate::storage::orders::{NewOrder, NewOrderLine, OrderPlaced};

pub use crate::storage::delivery::Address;

/// Where a delivery basket is priced before its address is known: the first warehouse by code
/// (a delivery order itself is priced at the location chosen for its address, see
/// [`crate::app::delivery::plan`]). 409 `no_warehouse` when the chain has none.
pub async fn default_delivery_location(state: &AppState) -> AppResult<String> {
    state
        .catalog_cache
        .first_warehouse(&state.store)
        .await?
        .map(|l| l.id)
        .ok_or_else(|| AppError::conflict("no_warehouse", "the chain has no warehouse"))
}

/// A basket to place as an online order.
#[derive(Debug)]
pub struct Checkout {
    /// Client id (UUIDv7); a retry answers the first result.
    pub id: Uuid,
    /// Delivery or pickup.
    pub fulfilment: Fulfilment,
    /// The pickup store.
    pub store: Option<String>,
    /// The delivery address (a saved one already opened by [`resolve_address`]).
    pub address: Option<Address>,
    /// The delivery time slot picked (empty: any; see [`crate::app::delivery::slots`]).
    pub slot: String,
    /// SKUs and quantities.
    pub lines: Vec<(Uuid, i64)>,
    /// The logged-in member.
    pub member_id: Option<Uuid>,
    /// The member's coupons to use.
    pub coupons: Vec<Uuid>,
    /// Points to redeem.
    pub points_to_redeem: i64,
    /// Who places it (`shop`, or the page session's actor).
    pub created_by: String,
    /// The network address the order came from (rate limits, caps on unpaid orders).
    pub client: ClientAddr,
}

/// Counts one order attempt against the per-address and per-member rate limits
/// (`orders.orders_per_minute_per_address`, `orders.orders_per_minute_per_member`): 429 with
/// `Retry-After` beyond them.
pub async fn admit_order(
    state: &AppState,
    client: &ClientAddr,
    member: Option<Uuid>,
) -> AppResult<()> {
    let limits = &state.settings.orders;
    state
        .limiter
        .check(
            &format!("order:{}", client.limit_key()),
            limits.orders_per_minute_per_address,
        )
        .await?;
    if let Some(member) = member {
        state
            .limiter
            .check(
                &format!("order:member:{member}"),
                limits.orders_per_minute_per_member,
            )
            .await?;
    }
    Ok(())
}

/// Checks the coupons an order names: each at most once (a coupon named twice would be taken
/// twice by the order writer).
pub fn check_coupons(coupons: &[Uuid]) -> AppResult<()> {
    let mut seen = HashSet::new();
    if let Some(twice) = coupons.iter().find(|c| !seen.insert(**c)) {
        return Err(AppError::field_code(
            "duplicate_coupon",
            "coupons",
            format!("coupon {twice} is named twice"),
        ));
    }
    Ok(())
}

/// The member a member code (MC1) names, if the code is genuine and fresh.
pub fn member_from_code(state: &AppState, code: &str) -> AppResult<Uuid> {
    match state.keys.verify_member_code(code.trim(), Utc::now()) {
        Ok(SignedCode::Member(member)) => Ok(member.member_id),
        Ok(_) => Err(AppError::field("member_code", "this is not a member code")),
        Err(err) => Err(AppError::field("member_code", err.to_string())),
    }
}

/// The member a member code sent as a credential names (`X-Member-Code`): a missing, forged
/// or expired code, or another kind of code, is 401.
pub fn member_from_credential(state: &AppState, code: Option<&str>) -> AppResult<Uuid> {
    let code = code
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .ok_or_else(|| AppError::Unauthorized("a member code is needed (X-Member-Code)".into()))?;
    member_from_code(state, code)
        .map_err(|_| AppError::Unauthorized("the member code is not valid or has expired".into()))
}

/// The delivery address an API order names: the literal `address`, or the member's saved
/// address `address_id` opened (never both: 422 on `address_id`). A saved address needs the
/// member it belongs to (`member`, from the order's member code; 422 on `address_id` without
/// one) and must be one of theirs: 422 `unknown_address` on `address_id` otherwise, the same
/// for another member's address as for none, so an id tells nothing about whose it is. `None`
/// when neither is given (a delivery order is then refused by [`place`]).
pub async fn resolve_address(
    state: &AppState,
    member: Option<Uuid>,
    address: Option<Address>,
    address_id: Option<Uuid>,
) -> AppResult<Option<Address>> {
    let Some(id) = address_id else {
        return Ok(address);
    };
    if address.is_some() {
        return Err(AppError::field(
            "address_id",
            "give either address or address_id, not both",
        ));
    }
    let member = member.ok_or_else(|| {
        AppError::field(
            "address_id",
            "a saved address needs the member code of the member it belongs to",
        )
    })?;
    let saved = storage::delivery::address(&state.store, &state.keys, member, id)
        .await?
        .ok_or_else(|| {
            AppError::field_code(
                "unknown_address",
                "address_id",
                "not one of the member's saved addresses",
            )
        })?;
    Ok(Some(saved.address))
}

/// True when `code` is a store (not a warehouse or the head office).
pub async fn is_store(state: &AppState, code: &str) -> AppResult<bool> {
    Ok(state
        .catalog_cache
        .location(&state.store, code)
        .await?
        .is_some_and(|l| l.kind == "store"))
}

/// Checks the basket's shape: 1–100 lines, sane quantities, no SKU twice.
pub fn check_lines(lines: &[(Uuid, i64)], max_qty: i64) -> AppResult<()> {
    if lines.is_empty() || lines.len() > 100 {
        return Err(AppError::field("lines", "an order has 1 to 100 lines"));
    }
    let mut skus = HashSet::new();
    for (i, (sku, qty)) in lines.iter().enumerate() {
        if *qty < 1 || *qty > max_qty {
            return Err(AppError::field(
                &format!("lines[{i}].qty"),
                format!("must be 1 to {max_qty}"),
            ));
        }
        if !skus.insert(*sku) {
            return Err(AppError::field(
                &format!("lines[{i}].sku_id"),
                "appears twice",
            ));
        }
    }
    Ok(())
}

/// Prices and places an online order (`POST /orders`): the whole basket as one order, whatever
/// its merchants (merchant statements apportion such an order by line); the shop's cart goes
/// through [`crate::app::checkouts::place`] instead, one order per merchant.
pub async fn place(state: &AppState, req: Checkout) -> AppResult<OrderPlaced> {
    place_with(state, req, &[]).await
}

/// [`place`] with promotions offered to this basket alone (a group-buy's price: see
/// [`pricing::quote_for_order_with`]).
pub async fn place_with(
    state: &AppState,
    req: Checkout,
    extra: &[retail_domain::pricing::Promotion],
) -> AppResult<OrderPlaced> {
    admit_order(state, &req.client, req.member_id).await?;
    place_admitted(state, req, extra).await
}

/// [`place_with`] once the attempt was counted against the rate limits ([`admit_order`]): a
/// checkout that splits into several orders counts once ([`crate::app::checkouts::place`]).
pub async fn place_admitted(
    state: &AppState,
    req: Checkout,
    extra: &[retail_domain::pricing::Promotion],
) -> AppResult<OrderPlaced> {
    retail_domain::ids::require_v7(req.id).map_err(|e| AppError::field("id", e.to_string()))?;
    check_lines(&req.lines, state.settings.orders.max_line_qty)?;
    check_coupons(&req.coupons)?;
    if req.points_to_redeem < 0 {
        return Err(AppError::field("points_to_redeem", "must not be negative"));
    }
    if req.points_to_redeem > 0 && req.member_id.is_none() {
        return Err(AppError::field(
            "points_to_redeem",
            "points can only be redeemed by a logged-in member",
        ));
    }
    let mut delivery = None;
    let (location_id, address_enc, pickup_code) = match req.fulfilment {
        Fulfilment::Pickup => {
            let store = req
                .store
                .as_deref()
                .ok_or_else(|| AppError::field("store", "a pickup order needs a store"))?;
            let location = state
                .catalog_cache
                .location(&state.store, store)
                .await?
                .ok_or_else(|| AppError::field("store", "no such store"))?;
            if location.kind != "store" {
                return Err(AppError::field("store", "not a store"));
            }
            (location.id, None, Some(PickupCode::random_short_code()))
        }
        Fulfilment::Delivery => {
            let address = req
                .address
                .as_ref()
                .ok_or_else(|| AppError::field("address", "a delivery order needs an address"))?;
            let address = crate::app::delivery::check_address(address, "address.")?;
            let plan = crate::app::delivery::plan(state, &address, &req.lines).await?;
            let slot = crate::app::delivery::check_slot(&req.slot, plan.same_city)?;
            let json = serde_json::to_string(&address).map_err(|e| AppError::Internal(e.into()))?;
            delivery = Some((plan.region, slot, plan.same_city));
            (
                plan.location_id,
                Some(
                    state
                        .keys
                        .seal(crate::secrets::SealedField::OrderAddress, req.id, &json)?,
                ),
                None,
            )
        }
        Fulfilment::InStore => {
            return Err(AppError::field(
                "fulfilment",
                "online orders are delivery or pickup",
            ))
        }
    };
    price_and_place(
        state,
        Placement {
            id: req.id,
            prefix: "W",
            channel: Channel::Online,
            fulfilment: req.fulfilment,
            location_id,
            address_enc,
            pickup_code,
            delivery,
            labels: Vec::new(),
        },
        req,
        extra,
    )
    .await
}

/// A scan-and-go basket paid on the shopper's phone in `store`: priced and placed through the
/// same path as online orders (channel `scan_and_go`, fulfilment `in_store`, number prefix
/// `G`), reserving the store's stock until the exit gate completes it.
pub async fn place_scan_and_go(
    state: &AppState,
    client: ClientAddr,
    id: Uuid,
    store: &str,
    lines: &[(Uuid, i64)],
    member_id: Option<Uuid>,
) -> AppResult<OrderPlaced> {
    place_scan_and_go_labelled(state, client, id, store, lines, &[], member_id).await
}

/// A scale label in a scan-and-go basket: one line of `sku` sold at the printed `price` (the
/// engine's labelled line, as at the lanes), named with `note` (e.g. the weight). As at the
/// lanes, a weighed item's line is recorded as its weight in grams (the label's, else what its
/// price buys at the per-kg list price) at the per-kg price, so its stock moves by the weight.
#[derive(Clone, Debug)]
pub struct LabelLine {
    /// The SKU the label's PLU names.
    pub sku: Uuid,
    /// The printed price.
    pub price: retail_domain::money::Money,
    /// The printed weight in grams, when the label carries one (0 otherwise).
    pub grams: i64,
    /// Added to the order line's name, e.g. `1.500 kg`.
    pub note: String,
}

/// [`place_scan_and_go`] with scale labels (issue 21): each label is a line of its own after
/// `lines`, priced at its printed price.
pub async fn place_scan_and_go_labelled(
    state: &AppState,
    client: ClientAddr,
    id: Uuid,
    store: &str,
    lines: &[(Uuid, i64)],
    labels: &[LabelLine],
    member_id: Option<Uuid>,
) -> AppResult<OrderPlaced> {
    admit_order(state, &client, member_id).await?;
    retail_domain::ids::require_v7(id).map_err(|e| AppError::field("id", e.to_string()))?;
    if !lines.is_empty() || labels.is_empty() {
        check_lines(lines, state.settings.orders.max_line_qty)?;
    }
    if labels.len() > 50 || lines.len() + labels.len() > 100 {
        return Err(AppError::field(
            "lines",
            "an order has 1 to 100 lines, at most 50 of them scale labels",
        ));
    }
    if labels.iter().any(|l| l.price.fen() <= 0) {
        return Err(AppError::field(
            "labels",
            "a label's price must be above 0.00",
        ));
    }
    if !is_store(state, store).await? {
        return Err(AppError::field("store", "no such store"));
    }
    price_and_place(
        state,
        Placement {
            id,
            prefix: "G",
            channel: Channel::ScanAndGo,
            fulfilment: Fulfilment::InStore,
            location_id: store.to_owned(),
            address_enc: None,
            pickup_code: None,
            delivery: None,
            labels: labels.to_vec(),
        },
        Checkout {
            id,
            fulfilment: Fulfilment::InStore,
            store: Some(store.to_owned()),
            address: None,
            slot: String::new(),
            lines: lines.to_vec(),
            member_id,
            coupons: Vec::new(),
            points_to_redeem: 0,
            created_by: "scan-and-go".into(),
            client,
        },
        &[],
    )
    .await
}

/// Where an order is placed, and how it is numbered.
struct Placement {
    id: Uuid,
    prefix: &'static str,
    channel: Channel,
    fulfilment: Fulfilment,
    location_id: String,
    address_enc: Option<String>,
    pickup_code: Option<String>,
    /// A delivery order's region, slot and whether it ships from a store of the same city.
    delivery: Option<(storage::delivery::Region, String, bool)>,
    /// Scale labels (scan-and-go): lines after the basket's, at their printed prices.
    labels: Vec<LabelLine>,
}

/// Prices the basket with the engine at the placement's location and places the order through
/// the intake.
async fn price_and_place(
    state: &AppState,
    p: Placement,
    req: Checkout,
    extra: &[retail_domain::pricing::Promotion],
) -> AppResult<OrderPlaced> {
    let Placement {
        id,
        prefix,
        channel,
        fulfilment,
        location_id,
        address_enc,
        pickup_code,
        delivery,
        labels,
    } = p;
    let mut basket_lines = req.lines.clone();
    let mut label_prices = std::collections::HashMap::new();
    let mut label_notes = std::collections::HashMap::new();
    let mut label_lines = std::collections::HashMap::new();
    for label in &labels {
        label_prices.insert(basket_lines.len(), label.price);
        label_notes.insert(basket_lines.len(), label.note.clone());
        label_lines.insert(basket_lines.len(), label);
        basket_lines.push((label.sku, 1));
    }
    let quote = pricing::quote_for_order_with(
        state,
        &BasketRequest {
            location: location_id.clone(),
            channel: pricing::Channel::Online,
            member_id: req.member_id,
            lines: basket_lines,
            label_prices,
            coupons: req.coupons.clone(),
            points_to_redeem: req.points_to_redeem,
        },
        extra,
    )
    .await?;
    let basket = &quote.basket;
    let lines: Vec<NewOrderLine> = basket
        .lines
        .iter()
        .enumerate()
        .map(|(i, line)| {
            let mut name = quote
                .skus
                .get(&line.sku_id)
                .map(|s| format!("{} {}", s.name_zh, s.spec_zh).trim().to_owned())
                .unwrap_or_default();
            if let Some(note) = label_notes.get(&i).filter(|n| !n.is_empty()) {
                name = format!("{name} {note}");
            }
            let sku = quote.skus.get(&line.sku_id);
            let weighed = sku.is_some_and(|s| s.weighed);
            let (qty, unit_price) = match (label_lines.get(&i), sku) {
                // A weighed item's label: its weight at the per-kg price, as the lanes record it.
                (Some(label), Some(sku)) if weighed => {
                    let per_kg = sku.effective_price();
                    let grams = if label.grams > 0 {
                        Some(label.grams)
                    } else {
                        retail_domain::pricing::label_grams(label.price, per_kg)
                    };
                    let grams = grams.ok_or_else(|| {
                        AppError::field(
                            "labels",
                            format!("{name} has no price per kg to weigh its label by"),
                        )
                    })?;
                    (grams, per_kg)
                }
                _ => (line.qty, line.list_unit_price),
            };
            Ok(NewOrderLine {
                sku_id: line.sku_id,
                name,
                qty,
                unit_price_fen: unit_price.fen(),
                discount_fen: line.list_amount.fen() - line.amount_due.fen(),
                amount_fen: line.amount_due.fen(),
                weighed,
            })
        })
        .collect::<AppResult<_>>()?;
    /// What the order keeps of its pricing (`orders.pricing`, a record for audits and
    /// support): each discount's source, kind, amount and lines, the points redeemed and earned.
    /// Names and explanations are left out: they follow from the sources, and the column is
    /// written for every order of a flash sale.
    #[derive(serde::Serialize)]
    struct StoredDiscount<'a> {
        source: &'a retail_domain::pricing::DiscountSource,
        kind: &'a retail_domain::pricing::DiscountKind,
        amount: retail_domain::money::Money,
        lines: &'a [u32],
    }
    #[derive(serde::Serialize)]
    struct StoredPricing<'a> {
        applied: Vec<StoredDiscount<'a>>,
        points: &'a Option<retail_domain::pricing::PointsRedemption>,
        points_earned: i64,
    }
    let pricing_json = serde_json::to_string(&StoredPricing {
        applied: basket
            .applied
            .iter()
            .map(|d| StoredDiscount {
                source: &d.source,
                kind: &d.kind,
                amount: d.amount,
                lines: &d.lines,
            })
            .collect(),
        points: &basket.points,
        points_earned: basket.points_earned,
    })
    .map_err(|e| AppError::Internal(e.into()))?;
    let now = storage::now_ms();
    let timeout_ms = i64::try_from(
        state
            .settings
            .orders
            .payment_timeout_secs
            .saturating_mul(1000),
    )
    .unwrap_or(i64::MAX / 2);
    let subtotal_fen: i64 = basket.lines.iter().map(|l| l.list_amount.fen()).sum();
    let goods_fen = basket.amount_due.fen();
    // The shipping fee is part of what the shopper pays; it is kept with the order's delivery
    // (written before the order so the two cannot disagree for a placed order).
    let shipping_fen = match &delivery {
        Some((region, slot, same_city)) => {
            let fee = crate::app::delivery::shipping_fee(region, basket.total.fen());
            storage::delivery::record_order_delivery(
                &state.store,
                &storage::delivery::OrderDelivery {
                    order_id: id,
                    region_id: Some(region.id),
                    shipping_fen: fee,
                    slot: slot.clone(),
                    same_city: *same_city,
                    carrier: None,
                    waybill: None,
                },
            )
            .await?;
            fee
        }
        None => 0,
    };
    let total_fen = goods_fen + shipping_fen;
    let order = NewOrder {
        id,
        order_no_prefix: prefix,
        channel,
        fulfilment,
        location_id,
        member_id: req.member_id,
        lines,
        subtotal_fen,
        discount_fen: subtotal_fen - goods_fen,
        total_fen,
        address_enc,
        pickup_code,
        created_by: req.created_by,
        client_ts: now,
        expires_at: now.saturating_add(timeout_ms),
        flash_claims: quote.flash_claims,
        coupons: req.coupons,
        points_redeemed: basket.points.as_ref().map_or(0, |p| p.points),
        pricing: Some(pricing_json),
        client_key: Some(req.client.limit_key()),
    };
    let member = order.member_id;
    let store = order.location_id.clone();
    let coupons = order.coupons.clone();
    let placed = state.intake.place(order).await?;
    if placed.created {
        use crate::app::events::ServerEvent;
        let channel = channel.as_str();
        let mut events = vec![ServerEvent::new(
            "order_placed",
            placed.id,
            channel,
            serde_json::json!({
                "order_no": placed.order_no,
                "total_fen": placed.total.fen(),
                "fulfilment": fulfilment.as_str(),
                "coupons": coupons.len(),
            }),
        )
        .member(member)
        .store(store.clone())];
        events.extend(coupons.iter().map(|c| {
            ServerEvent::new(
                "coupon_used",
                format!("{c}:{}", placed.id),
                channel,
                serde_json::json!({"coupon_id": c.to_string(), "order_no": placed.order_no}),
            )
            .member(member)
            .store(store.clone())
        }));
        crate::app::events::record(state, events);
    }
    Ok(placed)
}

/// Signs the exit pass of a paid scan-and-go order (docs/DESIGN.md §7): the scan-and-go session, the
/// store, item count and total, an expiry `ttl_secs` from now, and the shopper's scan-and-go
/// visit number ([`storage::orders::scan_and_go_visit`], capped at
/// [`retail_domain::codes::MAX_VISIT`]) so the gate can audit a first visit offline.
pub async fn exit_pass(
    state: &AppState,
    session_id: Uuid,
    order: &storage::orders::OrderView,
    ttl_secs: i64,
) -> AppResult<String> {
    // Items at the gate: a weighed item's line (its quantity is grams) is one item.
    let skus: Vec<Uuid> = order.lines.iter().map(|l| l.sku_id).collect();
    let prices = state
        .catalog_cache
        .sku_prices(&state.store, &order.location_id, &skus)
        .await?;
    let items: i64 = order
        .lines
        .iter()
        .map(|l| {
            if prices.get(&l.sku_id).is_some_and(|p| p.weighed) {
                1
            } else {
                l.qty
            }
        })
        .sum();
    let visit = match order.member_id {
        Some(member) => {
            let n = storage::orders::scan_and_go_visit(&state.store, member, order.id).await?;
            Some(
                u32::try_from(n.max(1))
                    .unwrap_or(u32::MAX)
                    .min(retail_domain::codes::MAX_VISIT),
            )
        }
        None => None,
    };
    let now = Utc::now();
    state
        .keys
        .signer
        .try_sign(&SignedCode::ExitPass(ExitPass {
            session_id,
            store: order.location_id.clone(),
            item_count: u32::try_from(items).unwrap_or(u32::MAX),
            total: order.total,
            expires_at: chrono::DateTime::from_timestamp(now.timestamp() + ttl_secs, 0)
                .unwrap_or(now),
            visit,
        }))
        .map_err(|e| AppError::Internal(anyhow::anyhow!("signing an exit pass: {e}")))
}
