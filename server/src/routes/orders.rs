//! Online orders: placing (reserving stock), reading, cancelling, and the fulfilment steps
//! (ready for pickup, picked up, shipped, delivered).

use axum::extract::State;
use axum::http::HeaderMap;
use retail_domain::codes::SignedCode;
use retail_domain::order::{Fulfilment, OrderStatus};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::{Json, Path, Query};
use crate::actor::{Caller, ClientAddr, Role, StaffActor};
use crate::app::checkout;
use crate::app::checkout::Address;
use crate::app::orders::announce;
use crate::app::AppState;
use crate::error::{AppError, AppResult};
use crate::storage;
use crate::storage::orders::{OrderPlaced, OrderView};

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

/// One line of a new order.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrderLineRequest {
    /// SKU.
    pub sku_id: Uuid,
    /// Units (1 to the configured maximum).
    pub qty: i64,
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
    /// Delivery address (delivery orders; this or `address_id`): it must fall in a delivery
    /// region (422 `outside_delivery_area` otherwise); the region's shipping fee is part of the
    /// total.
    pub address: Option<Address>,
    /// One of the member's saved addresses to deliver to (`GET /members/me/addresses`), instead
    /// of `address`: needs `member_code` (the member it belongs to); both `address` and
    /// `address_id`, no member code, or an id that is not one of the member's saved addresses
    /// (422 `unknown_address`) are refused on `address_id`.
    #[serde(default)]
    pub address_id: Option<Uuid>,
    /// Delivery time slot, one of `GET /delivery/slots`' (empty or absent: any time).
    #[serde(default)]
    pub slot: String,
    /// Lines.
    pub lines: Vec<OrderLineRequest>,
    /// The member's current member code (MC1, from the member centre): identifies the member
    /// for member prices, coupons, points and flash sales.
    #[serde(default)]
    pub member_code: Option<String>,
    /// The member's coupons to use.
    #[serde(default)]
    pub coupons: Vec<Uuid>,
    /// Points to redeem (at most the configured share of the order).
    #[serde(default)]
    pub points_to_redeem: i64,
}

impl PlaceOrder {
    /// The basket to place ([`checkout::Checkout`]): the member the member code names and the
    /// delivery address resolved (a saved one opened), placed by the shop's API.
    pub(crate) async fn into_checkout(
        self,
        state: &AppState,
        client: ClientAddr,
    ) -> AppResult<checkout::Checkout> {
        let member_id = match &self.member_code {
            Some(code) => Some(checkout::member_from_code(state, code)?),
            None => None,
        };
        let address =
            checkout::resolve_address(state, member_id, self.address, self.address_id).await?;
        Ok(checkout::Checkout {
            id: self.id,
            fulfilment: self.fulfilment,
            store: self.store,
            address,
            slot: self.slot,
            lines: self.lines.iter().map(|l| (l.sku_id, l.qty)).collect(),
            member_id,
            coupons: self.coupons,
            points_to_redeem: self.points_to_redeem,
            created_by: "shop".into(),
            client,
        })
    }
}

/// Places an online order: prices it with the pricing engine (promotions, the member's prices,
/// coupons, points), reserves the stock at once (or answers 409 `out_of_stock`), takes
/// flash-sale units, coupons and points, and waits for payment until the deadline, after which
/// it is cancelled automatically and gives all of them back.
///
/// Limited per client address and per member: a rate per minute (429 with `Retry-After`) and
/// caps on unpaid orders and the units they reserve (409 `too_many_unpaid_orders`).
///
/// A delivery order goes to `address`, or to one of the member's saved addresses
/// (`address_id` with the member's `member_code`), opened here and kept sealed with the order.
///
/// The answer carries `access_token`: the placer's capability to see the order's pickup code
/// and member (`GET /orders/{id}`) and to cancel it while unpaid, sent as `X-Order-Token`.
#[utoipa::path(post, path = "/orders", tag = "orders", request_body = PlaceOrder,
    responses((status = 200, body = PlacedOrder), (status = 409, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody),
        (status = 429, body = crate::error::ErrorBody), (status = 503, body = crate::error::ErrorBody)))]
async fn place(
    client: ClientAddr,
    State(state): State<AppState>,
    Json(req): Json<PlaceOrder>,
) -> AppResult<Json<PlacedOrder>> {
    let order = req.into_checkout(&state, client).await?;
    let placed = checkout::place(&state, order).await?;
    Ok(Json(PlacedOrder {
        access_token: crate::app::orders::access_token(&state.keys, placed.id),
        placed,
    }))
}

/// A placed order and the placer's capability to see and cancel it.
#[derive(Debug, Serialize, ToSchema)]
pub struct PlacedOrder {
    /// The order.
    #[serde(flatten)]
    pub placed: OrderPlaced,
    /// Send as `X-Order-Token` to see the order's pickup code and member and to cancel it.
    pub access_token: String,
}

/// The header that carries an order's access token.
const ORDER_TOKEN: &str = "x-order-token";

/// May this caller see the whole order? Its staff (the order's location, or head office), a
/// device of its location (the edge agent printing its pick slip), or whoever holds its access
/// token.
pub(super) fn order_access(
    state: &AppState,
    caller: Option<&Caller>,
    headers: &HeaderMap,
    order: &OrderView,
) -> bool {
    let staff_ok = caller.is_some_and(|c| c.require_store(&order.location_id).is_ok());
    let token_ok = headers
        .get(ORDER_TOKEN)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| crate::app::orders::token_matches(&state.keys, order.id, t));
    staff_ok || token_ok
}

/// 401 unless the caller holds the order's access token or is its store's staff (the
/// shopper's after-sales and reviews); 404 for an unknown order.
pub(super) async fn require_order_access(
    state: &AppState,
    caller: Option<&Caller>,
    headers: &HeaderMap,
    order_id: Uuid,
) -> AppResult<()> {
    let order = storage::orders::get(&state.store, order_id).await?;
    if order_access(state, caller, headers, &order) {
        Ok(())
    } else {
        Err(AppError::Unauthorized(
            "this needs the order's access token (X-Order-Token)".into(),
        ))
    }
}

/// An order with its signed pickup code, as the shopper sees it.
#[derive(Debug, Serialize, ToSchema)]
pub struct OrderDetail {
    /// The order.
    #[serde(flatten)]
    pub order: OrderView,
    /// The signed pickup code for the QR: pickup orders while they can be collected (paid, or
    /// ready for pickup); null before payment and after the hand-over or a cancellation.
    pub pickup_qr: Option<String>,
}

/// One order. Its staff and whoever holds its access token (`X-Order-Token`, from
/// `POST /orders`) see all of it; anyone else who knows the id sees its status, lines and
/// totals, but not its pickup code, pickup QR or member.
#[utoipa::path(get, path = "/orders/{id}", tag = "orders", security((), ("staff" = []), ("device" = [])),
    params(("id" = Uuid, Path, description = "order id")),
    responses((status = 200, body = OrderDetail), (status = 404, body = crate::error::ErrorBody)))]
async fn get_order(
    caller: Option<Caller>,
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<Uuid>,
) -> AppResult<Json<OrderDetail>> {
    let mut order = storage::orders::get(&state.store, id).await?;
    if !order_access(&state, caller.as_ref(), &headers, &order) {
        order.pickup_code = None;
        order.member_id = None;
    }
    let pickup_qr = crate::app::orders::pickup_qr(&state.keys, &order);
    Ok(Json(OrderDetail { order, pickup_qr }))
}

/// Order list filter.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OrderFilter {
    /// Location (store or warehouse).
    pub location_id: Option<String>,
    /// Status.
    pub status: Option<OrderStatus>,
    /// At most this many (default 100, max 500).
    pub limit: Option<i64>,
    /// Cursor: only orders older than this one (the `id` of the last order of the previous
    /// page). Page until an answer has fewer than `limit` orders.
    pub before: Option<Uuid>,
}

/// Orders, newest first, a page at a time (staff; store staff see their store; a merchant
/// administrator its merchant's orders — every line one of its products; `before` = the last
/// order's `id` for the next page).
#[utoipa::path(get, path = "/orders", tag = "orders", security(("staff" = [])), params(OrderFilter),
    responses((status = 200, body = [OrderPlaced])))]
async fn list(
    staff: StaffActor,
    State(state): State<AppState>,
    Query(filter): Query<OrderFilter>,
) -> AppResult<Json<Vec<OrderPlaced>>> {
    let limit = filter.limit.unwrap_or(100).clamp(1, 500);
    // A merchant administrator's orders are its merchant's, wherever they are fulfilled.
    if staff.role == Role::MerchantAdmin {
        return Ok(Json(
            crate::app::merchants::orders(&state, &staff, filter.status, filter.before, limit)
                .await?,
        ));
    }
    let location = match (staff.role, filter.location_id) {
        (Role::HeadOfficeAdmin, location) => location,
        (_, Some(location)) => {
            staff.require_store(&location)?;
            Some(location)
        }
        (_, None) => staff.location_id.clone(),
    };
    Ok(Json(
        storage::orders::list(
            &state.store,
            location.as_deref(),
            filter.status,
            filter.before,
            limit,
        )
        .await?,
    ))
}

/// Cancellation.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelRequest {
    /// Why.
    #[serde(default)]
    pub reason: String,
    /// The shopper's client id (UUIDv7) of the cancellation of a paid order (an after-sale
    /// case of kind `cancel`); a retry with the same id answers the first result.
    #[serde(default)]
    pub id: Option<Uuid>,
}

/// Cancels an order. The shopper who placed it (its access token as `X-Order-Token`) may
/// cancel while payment is pending, and a paid order not yet shipped or collected (with a
/// client `id`: an after-sale case of kind `cancel`, approved and refunded to the original
/// tenders at once unless the after-sale rules want the store's review; 409 `not_cancellable`
/// once shipped or collected); staff of the order's location may also cancel a paid order,
/// which refunds it. Releases the stock. Anyone else: 401.
#[utoipa::path(post, path = "/orders/{id}/cancel", tag = "orders", request_body = CancelRequest, security((), ("staff" = [])),
    params(("id" = Uuid, Path, description = "order id")),
    responses((status = 200, body = OrderView), (status = 401, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody),
        (status = 409, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
async fn cancel(
    staff: Option<StaffActor>,
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<Uuid>,
    Json(req): Json<CancelRequest>,
) -> AppResult<Json<OrderView>> {
    let order = storage::orders::get(&state.store, id).await?;
    if staff.is_none() && !order_access(&state, None, &headers, &order) {
        return Err(AppError::Unauthorized(
            "cancelling needs the order's access token (X-Order-Token) or staff".into(),
        ));
    }
    let reason = if req.reason.trim().is_empty() {
        "cancelled"
    } else {
        req.reason.trim()
    };
    if staff.is_none() && order.status != OrderStatus::PendingPayment {
        if order.status == OrderStatus::Cancelled {
            return Ok(Json(order));
        }
        let Some(case_id) = req.id else {
            return Err(AppError::field(
                "id",
                "cancelling a paid order needs a client id (UUIDv7)",
            ));
        };
        crate::app::after_sales::cancel_order(&state, "shopper", id, case_id).await?;
        return Ok(Json(storage::orders::get(&state.store, id).await?));
    }
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
        crate::app::orders::change_status_from(
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
#[utoipa::path(post, path = "/orders/{id}/ready", tag = "orders", security(("staff" = []), ("device" = [])),
    params(("id" = Uuid, Path, description = "order id")),
    responses((status = 200, body = OrderView), (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody),
        (status = 409, body = crate::error::ErrorBody)))]
async fn ready(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
) -> AppResult<Json<OrderView>> {
    let order = storage::orders::get(&state.store, id).await?;
    caller.require_store(&order.location_id)?;
    let order = crate::app::orders::change_status(
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
#[utoipa::path(post, path = "/orders/{id}/pickup", tag = "orders", request_body = HandOver, security(("staff" = []), ("device" = [])),
    params(("id" = Uuid, Path, description = "order id")),
    responses((status = 200, body = OrderView), (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody),
        (status = 409, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody),
        (status = 429, description = "ten pickup-code tries per order a minute", body = crate::error::ErrorBody)))]
async fn hand_over(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    Json(req): Json<HandOver>,
) -> AppResult<Json<OrderView>> {
    let order = storage::orders::get(&state.store, id).await?;
    caller.require_store(&order.location_id)?;
    state.limiter.check(&format!("pickup:{id}"), 10).await?;
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
    let order = crate::app::orders::change_status_from(
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

/// Ships a paid delivery order from the warehouse.
#[utoipa::path(post, path = "/orders/{id}/ship", tag = "orders", security(("staff" = [])),
    params(("id" = Uuid, Path, description = "order id")),
    responses((status = 200, body = OrderView), (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)))]
async fn ship(
    staff: StaffActor,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
) -> AppResult<Json<OrderView>> {
    let order = storage::orders::get(&state.store, id).await?;
    staff.require(&[Role::HeadOfficeAdmin, Role::StoreManager])?;
    staff.require_store(&order.location_id)?;
    Ok(Json(
        crate::app::orders::change_status(
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
    responses((status = 200, body = OrderView), (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)))]
async fn deliver(
    staff: StaffActor,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
) -> AppResult<Json<OrderView>> {
    let order = storage::orders::get(&state.store, id).await?;
    staff.require(&[Role::HeadOfficeAdmin, Role::StoreManager])?;
    staff.require_store(&order.location_id)?;
    Ok(Json(
        crate::app::orders::change_status(
            &state.store,
            id,
            OrderStatus::Delivered,
            &staff.actor(),
            "delivered",
        )
        .await?,
    ))
}
