//! Online orders: placing (reserving stock), reading, cancelling, and the fulfilment steps
//! (ready for pickup, picked up, shipped, delivered).

use std::collections::HashSet;

use axum::extract::State;
use retail_domain::codes::{PickupCode, SignedCode};
use retail_domain::order::{Channel, Fulfilment, OrderStatus};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::{Json, Path, Query};
use crate::auth::{Caller, Role, StaffActor};
use crate::error::{AppError, AppResult};
use crate::state::AppState;
use crate::storage;
use crate::storage::orders::{NewOrder, NewOrderLine, OrderPlaced, OrderView};

/// Order routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(place, list))
        .routes(routes!(get_order))
        .routes(routes!(cancel))
        .routes(routes!(ready))
        .routes(routes!(hand_over))
        .routes(routes!(ship))
        .routes(routes!(deliver))
}

/// The warehouse online delivery orders ship from.
const DELIVERY_WAREHOUSE: &str = "WH01";

/// One line of a new order.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrderLineRequest {
    /// SKU.
    pub sku_id: Uuid,
    /// Units (1 to the configured maximum).
    pub qty: i64,
}

/// A delivery address (stored encrypted).
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Address {
    /// Recipient.
    pub name: String,
    /// Recipient's phone.
    pub phone: String,
    /// Full address.
    pub address: String,
}

/// A new online order.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlaceOrder {
    /// Client id (UUIDv7); a retry with the same id answers the first result.
    pub id: Uuid,
    /// `delivery` (from the warehouse) or `pickup` (at `store`).
    pub fulfilment: Fulfilment,
    /// The pickup store (pickup orders).
    pub store: Option<String>,
    /// Delivery address (delivery orders).
    pub address: Option<Address>,
    /// Lines.
    pub lines: Vec<OrderLineRequest>,
}

/// Places an online order: reserves the stock at once (or answers 409 `out_of_stock`), and
/// waits for payment until the deadline, after which it is cancelled automatically.
#[utoipa::path(post, path = "/orders", tag = "orders", request_body = PlaceOrder,
    responses((status = 200, body = OrderPlaced), (status = 409, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
async fn place(
    State(state): State<AppState>,
    Json(req): Json<PlaceOrder>,
) -> AppResult<Json<OrderPlaced>> {
    Ok(Json(place_online(&state, &req, None, "shop").await?))
}

/// The one path that places online orders (the API and the shop's pages both come here):
/// validates, prices the lines, reserves the stock through the order intake. `member` is the
/// logged-in shopper, if any; `created_by` is written on the order.
pub(crate) async fn place_online(
    state: &AppState,
    req: &PlaceOrder,
    member: Option<Uuid>,
    created_by: &str,
) -> AppResult<OrderPlaced> {
    retail_domain::ids::require_v7(req.id).map_err(|e| AppError::field("id", e.to_string()))?;
    if req.lines.is_empty() || req.lines.len() > 100 {
        return Err(AppError::field("lines", "an order has 1 to 100 lines"));
    }
    let max_qty = state.settings.orders.max_line_qty;
    let mut skus = HashSet::new();
    for (i, line) in req.lines.iter().enumerate() {
        if line.qty < 1 || line.qty > max_qty {
            return Err(AppError::field(
                &format!("lines[{i}].qty"),
                format!("must be 1 to {max_qty}"),
            ));
        }
        if !skus.insert(line.sku_id) {
            return Err(AppError::field(
                &format!("lines[{i}].sku_id"),
                "appears twice",
            ));
        }
    }
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
            for (field, value, max) in [
                ("address.name", &address.name, 64),
                ("address.phone", &address.phone, 20),
                ("address.address", &address.address, 300),
            ] {
                if value.trim().is_empty() || value.chars().count() > max {
                    return Err(AppError::field(
                        field,
                        format!("must be 1 to {max} characters"),
                    ));
                }
            }
            let json = serde_json::to_string(address).map_err(|e| AppError::Internal(e.into()))?;
            (
                DELIVERY_WAREHOUSE.to_owned(),
                Some(state.keys.seal(&json)?),
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
            member,
            address_enc,
            pickup_code,
            created_by,
        },
        &req.lines,
    )
    .await
}

/// A scan-and-go basket paid on the shopper's phone in `store`: priced and placed through the
/// same path as online orders (channel `scan_and_go`, fulfilment `in_store`, number prefix
/// `G`), reserving the store's stock until the exit gate completes it.
pub(crate) async fn place_scan_and_go(
    state: &AppState,
    id: Uuid,
    store: &str,
    lines: &[OrderLineRequest],
    member: Option<Uuid>,
) -> AppResult<OrderPlaced> {
    retail_domain::ids::require_v7(id).map_err(|e| AppError::field("id", e.to_string()))?;
    if lines.is_empty() || lines.len() > 100 {
        return Err(AppError::field("lines", "a basket has 1 to 100 lines"));
    }
    price_and_place(
        state,
        Placement {
            id,
            prefix: "G",
            channel: Channel::ScanAndGo,
            fulfilment: Fulfilment::InStore,
            location_id: store.to_owned(),
            member,
            address_enc: None,
            pickup_code: None,
            created_by: "scan-and-go",
        },
        lines,
    )
    .await
}

/// Where and for whom an order is placed.
struct Placement<'a> {
    id: Uuid,
    prefix: &'static str,
    channel: Channel,
    fulfilment: Fulfilment,
    location_id: String,
    member: Option<Uuid>,
    address_enc: Option<String>,
    pickup_code: Option<String>,
    created_by: &'a str,
}

/// Prices the lines at the placement's location and places the order through the intake.
async fn price_and_place(
    state: &AppState,
    p: Placement<'_>,
    req_lines: &[OrderLineRequest],
) -> AppResult<OrderPlaced> {
    let Placement {
        id,
        prefix,
        channel,
        fulfilment,
        location_id,
        member,
        address_enc,
        pickup_code,
        created_by,
    } = p;
    let ids: Vec<Uuid> = req_lines.iter().map(|l| l.sku_id).collect();
    let prices = state
        .catalog_cache
        .sku_prices(&state.store, &location_id, &ids)
        .await?;
    let mut lines = Vec::with_capacity(req_lines.len());
    for (i, line) in req_lines.iter().enumerate() {
        let price = prices
            .get(&line.sku_id)
            .filter(|p| p.on_shelf)
            .ok_or_else(|| {
                AppError::field(&format!("lines[{i}].sku_id"), "no such product on sale")
            })?;
        let amount = price
            .price_fen
            .checked_mul(line.qty)
            .ok_or_else(|| AppError::field(&format!("lines[{i}].qty"), "too large"))?;
        lines.push(NewOrderLine {
            sku_id: line.sku_id,
            name: price.name.clone(),
            qty: line.qty,
            unit_price_fen: price.price_fen,
            discount_fen: 0,
            amount_fen: amount,
        });
    }
    let total: i64 = lines.iter().map(|l| l.amount_fen).sum();
    let now = storage::now_ms();
    let timeout_ms = i64::try_from(
        state
            .settings
            .orders
            .payment_timeout_secs
            .saturating_mul(1000),
    )
    .unwrap_or(i64::MAX / 2);
    let order = NewOrder {
        id,
        order_no_prefix: prefix,
        channel,
        fulfilment,
        location_id,
        member_id: member,
        lines,
        subtotal_fen: total,
        discount_fen: 0,
        total_fen: total,
        address_enc,
        pickup_code,
        created_by: created_by.into(),
        client_ts: now,
        expires_at: now.saturating_add(timeout_ms),
    };
    state.intake.place(order).await
}

/// An order with its signed pickup code, as the shopper sees it.
#[derive(Debug, Serialize, ToSchema)]
pub struct OrderDetail {
    /// The order.
    #[serde(flatten)]
    pub order: OrderView,
    /// The signed pickup code for the QR (pickup orders).
    pub pickup_qr: Option<String>,
}

/// One order (the id is the shopper's capability to see it).
#[utoipa::path(get, path = "/orders/{id}", tag = "orders", params(("id" = Uuid, Path, description = "order id")),
    responses((status = 200, body = OrderDetail), (status = 404, body = crate::error::ErrorBody)))]
async fn get_order(
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
) -> AppResult<Json<OrderDetail>> {
    let order = storage::orders::get(&state.store, id).await?;
    let pickup_qr = order.pickup_code.as_ref().map(|short_code| {
        state.keys.signer.sign(&SignedCode::Pickup(PickupCode {
            order_id: order.id,
            short_code: short_code.clone(),
        }))
    });
    Ok(Json(OrderDetail { order, pickup_qr }))
}

/// Order list filter.
#[derive(Debug, Deserialize, IntoParams)]
pub struct OrderFilter {
    /// Location (store or warehouse).
    pub location_id: Option<String>,
    /// Status.
    pub status: Option<OrderStatus>,
    /// At most this many (default 100, max 500).
    pub limit: Option<i64>,
}

/// Orders, newest first (staff; store staff see their store).
#[utoipa::path(get, path = "/orders", tag = "orders", security(("staff" = [])), params(OrderFilter),
    responses((status = 200, body = [OrderPlaced])))]
async fn list(
    staff: StaffActor,
    State(state): State<AppState>,
    Query(filter): Query<OrderFilter>,
) -> AppResult<Json<Vec<OrderPlaced>>> {
    let location = match (staff.role, filter.location_id) {
        (Role::HeadOfficeAdmin, location) => location,
        (_, Some(location)) => {
            staff.require_store(&location)?;
            Some(location)
        }
        (_, None) => staff.location_id.clone(),
    };
    let limit = filter.limit.unwrap_or(100).clamp(1, 500);
    Ok(Json(
        storage::orders::list(&state.store, location.as_deref(), filter.status, limit).await?,
    ))
}

/// Cancellation.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelRequest {
    /// Why.
    #[serde(default)]
    pub reason: String,
}

/// Cancels an order. Shoppers (no credentials) may cancel while payment is pending; staff of
/// the order's location may also cancel a paid order, which refunds it. Releases the stock.
#[utoipa::path(post, path = "/orders/{id}/cancel", tag = "orders", request_body = CancelRequest,
    params(("id" = Uuid, Path, description = "order id")),
    responses((status = 200, body = OrderView), (status = 409, body = crate::error::ErrorBody)))]
async fn cancel(
    staff: Option<StaffActor>,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    Json(req): Json<CancelRequest>,
) -> AppResult<Json<OrderView>> {
    let order = storage::orders::get(&state.store, id).await?;
    let reason = if req.reason.trim().is_empty() {
        "cancelled"
    } else {
        req.reason.trim()
    };
    let (actor, expected) = match &staff {
        Some(staff) => {
            staff.require(&[Role::HeadOfficeAdmin, Role::StoreManager])?;
            staff.require_store(&order.location_id)?;
            (staff.actor(), None)
        }
        None => ("shopper".to_owned(), Some(OrderStatus::PendingPayment)),
    };
    if expected.is_some_and(|e| e != order.status) && order.status != OrderStatus::Cancelled {
        return Err(AppError::conflict(
            "not_cancellable",
            "a paid order can only be cancelled by the store",
        ));
    }
    Ok(Json(
        storage::orders::change_status_from(
            &state.store,
            id,
            expected,
            OrderStatus::Cancelled,
            &actor,
            reason,
        )
        .await?,
    ))
}

/// Marks a paid pickup order ready at its store.
#[utoipa::path(post, path = "/orders/{id}/ready", tag = "orders", security(("staff" = [])),
    params(("id" = Uuid, Path, description = "order id")),
    responses((status = 200, body = OrderView), (status = 409, body = crate::error::ErrorBody)))]
async fn ready(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
) -> AppResult<Json<OrderView>> {
    let order = storage::orders::get(&state.store, id).await?;
    caller.require_store(&order.location_id)?;
    let order = storage::orders::change_status(
        &state.store,
        id,
        OrderStatus::ReadyForPickup,
        &caller.actor(),
        "ready for pickup",
    )
    .await?;
    announce(&state, &order, "ready").await;
    Ok(Json(order))
}

/// Handover at the counter or the POS.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HandOver {
    /// The six-digit pickup code (or the whole signed pickup QR text).
    pub pickup_code: String,
}

/// Hands a ready pickup order over to the shopper, checking the pickup code.
#[utoipa::path(post, path = "/orders/{id}/pickup", tag = "orders", request_body = HandOver,
    params(("id" = Uuid, Path, description = "order id")),
    responses((status = 200, body = OrderView), (status = 409, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
async fn hand_over(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    Json(req): Json<HandOver>,
) -> AppResult<Json<OrderView>> {
    let order = storage::orders::get(&state.store, id).await?;
    caller.require_store(&order.location_id)?;
    state.limiter.check(&format!("pickup:{id}"), 10)?;
    let given = req.pickup_code.trim();
    let short_code = if given.starts_with("PK") {
        match state.keys.verifier().verify(given, chrono::Utc::now()) {
            Ok(SignedCode::Pickup(code)) if code.order_id == id => code.short_code,
            _ => {
                return Err(AppError::field(
                    "pickup_code",
                    "not a valid pickup code for this order",
                ))
            }
        }
    } else {
        given.to_owned()
    };
    if order.pickup_code.as_deref() != Some(short_code.as_str()) {
        return Err(AppError::field("pickup_code", "wrong pickup code"));
    }
    if order.status == OrderStatus::PickedUp {
        return Err(AppError::conflict(
            "already_collected",
            format!("order {} was already collected", order.order_no),
        ));
    }
    if order.status != OrderStatus::ReadyForPickup {
        return Err(AppError::conflict(
            "not_ready",
            format!(
                "order {} is {}, not ready for pickup",
                order.order_no,
                order.status.as_str()
            ),
        ));
    }
    let order = storage::orders::change_status_from(
        &state.store,
        id,
        Some(OrderStatus::ReadyForPickup),
        OrderStatus::PickedUp,
        &caller.actor(),
        "handed over",
    )
    .await?;
    announce(&state, &order, "collected").await;
    Ok(Json(order))
}

/// Tells the order's store about a pickup event over the store bus.
pub(crate) async fn announce(state: &AppState, order: &OrderView, event: &str) {
    if let Some(bus) = &state.bus {
        bus.pickup(
            &order.location_id,
            crate::bus::PickupNotice {
                event,
                order_id: order.id,
                order_no: &order.order_no,
            },
        )
        .await;
    }
}

/// Ships a paid delivery order from the warehouse.
#[utoipa::path(post, path = "/orders/{id}/ship", tag = "orders", security(("staff" = [])),
    params(("id" = Uuid, Path, description = "order id")),
    responses((status = 200, body = OrderView), (status = 409, body = crate::error::ErrorBody)))]
async fn ship(
    staff: StaffActor,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
) -> AppResult<Json<OrderView>> {
    let order = storage::orders::get(&state.store, id).await?;
    staff.require(&[Role::HeadOfficeAdmin, Role::StoreManager])?;
    staff.require_store(&order.location_id)?;
    Ok(Json(
        storage::orders::change_status(
            &state.store,
            id,
            OrderStatus::Shipped,
            &staff.actor(),
            "shipped",
        )
        .await?,
    ))
}

/// Confirms delivery of a shipped order.
#[utoipa::path(post, path = "/orders/{id}/deliver", tag = "orders", security(("staff" = [])),
    params(("id" = Uuid, Path, description = "order id")),
    responses((status = 200, body = OrderView), (status = 409, body = crate::error::ErrorBody)))]
async fn deliver(
    staff: StaffActor,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
) -> AppResult<Json<OrderView>> {
    let order = storage::orders::get(&state.store, id).await?;
    staff.require(&[Role::HeadOfficeAdmin, Role::StoreManager])?;
    staff.require_store(&order.location_id)?;
    Ok(Json(
        storage::orders::change_status(
            &state.store,
            id,
            OrderStatus::Delivered,
            &staff.actor(),
            "delivered",
        )
        .await?,
    ))
}
