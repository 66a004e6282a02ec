//! Delivery: the delivery regions and their shipping fees (head office), a delivery quote with
//! the fee, store positions for same-city delivery, an order's delivery for the staff who ship
//! it (its full address, audited), shipping with a carrier and waybill one by one or as a CSV
//! batch, tracking events from staff, the carrier's signed tracking webhook, and a member's saved
//! addresses, masked, for a client to offer at checkout.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use retail_domain::pricing::PricedBasket;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::Json;
use crate::actor::{Role, StaffActor};
use crate::app::delivery::{self as delivery_app, MaskedAddress, TrackingInput};
use crate::app::pricing::{self, BasketRequest};
use crate::app::{checkout, AppState};
use crate::error::{AppError, AppResult};
use crate::storage;
use crate::storage::delivery::{Address, OrderDelivery, Region, TrackingEvent};
use crate::storage::orders::OrderView;

/// Delivery routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(regions, save_region))
        .routes(routes!(quote))
        .routes(routes!(set_position))
        .routes(routes!(order_delivery))
        .routes(routes!(ship))
        .routes(routes!(ship_batch))
        .routes(routes!(add_tracking))
        .routes(routes!(carrier_tracking))
        .routes(routes!(my_addresses))
}

/// The delivery regions (public: the shop says where it delivers).
#[utoipa::path(get, path = "/delivery/regions", tag = "delivery", responses((status = 200, body = [Region])))]
async fn regions(State(state): State<AppState>) -> AppResult<Json<Vec<Region>>> {
    Ok(Json(storage::delivery::regions(&state.store).await?))
}

/// Creates or updates a delivery region by its id (head office; audited). A region is a
/// province, or one city of it (a city region wins over its province's for the city).
#[utoipa::path(post, path = "/delivery/regions", tag = "delivery", security(("staff" = [])), request_body = Region,
    responses((status = 200, body = [Region]), (status = 403, body = crate::error::ErrorBody),
        (status = 409, description = "region_exists: another region has this province and city", body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody)))]
async fn save_region(
    staff: StaffActor,
    State(state): State<AppState>,
    Json(region): Json<Region>,
) -> AppResult<Json<Vec<Region>>> {
    staff.require(&[Role::HeadOfficeAdmin])?;
    delivery_app::save_region(&state, &region, &staff.actor()).await?;
    Ok(Json(storage::delivery::regions(&state.store).await?))
}

/// A delivery basket to quote.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeliveryQuoteRequest {
    /// Where to deliver.
    pub address: Address,
    /// Lines.
    pub lines: Vec<super::orders::OrderLineRequest>,
    /// The member's current member code (MC1), for member prices, coupons and points.
    #[serde(default)]
    pub member_code: Option<String>,
    /// The member's coupons to use.
    #[serde(default)]
    pub coupons: Vec<Uuid>,
    /// Points to redeem.
    #[serde(default)]
    pub points_to_redeem: i64,
}

/// What a delivery order will cost, and from where it ships.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryQuote {
    /// The basket as the pricing engine prices it at the fulfilling location.
    pub basket: PricedBasket,
    /// The region the address falls in.
    pub region: Region,
    /// Where it ships from (a warehouse, or a store for same-city delivery).
    pub location_id: String,
    /// Delivered from a store of the same city.
    pub same_city: bool,
    /// Shipping fee in fen.
    pub shipping_fen: i64,
    /// What the shopper pays in fen: the basket's amount due plus shipping.
    pub total_fen: i64,
    /// Delivery slots to pick from (`slot` of `POST /orders`).
    pub slots: Vec<String>,
}

/// Quotes a delivery order exactly as `POST /orders` will price it: the fulfilling location
/// chosen by rule, the basket priced there, the region's shipping fee (free over its
/// threshold) and the slots. 422 `outside_delivery_area` for an address in no region. Changes
/// nothing.
#[utoipa::path(post, path = "/delivery/quote", tag = "delivery", request_body = DeliveryQuoteRequest,
    responses((status = 200, body = DeliveryQuote), (status = 422, body = crate::error::ErrorBody)))]
async fn quote(
    State(state): State<AppState>,
    Json(req): Json<DeliveryQuoteRequest>,
) -> AppResult<Json<DeliveryQuote>> {
    let lines: Vec<(Uuid, i64)> = req.lines.iter().map(|l| (l.sku_id, l.qty)).collect();
    checkout::check_lines(&lines, state.settings.orders.max_line_qty)?;
    if req.points_to_redeem < 0 {
        return Err(AppError::field("points_to_redeem", "must not be negative"));
    }
    let member_id = match &req.member_code {
        Some(code) => Some(checkout::member_from_code(&state, code)?),
        None => None,
    };
    let address = delivery_app::check_address(&req.address, "address.")?;
    let plan = delivery_app::plan(&state, &address, &lines).await?;
    let quote = pricing::quote(
        &state,
        &BasketRequest {
            location: plan.location_id.clone(),
            channel: pricing::Channel::Online,
            member_id,
            lines,
            label_prices: Default::default(),
            coupons: req.coupons,
            points_to_redeem: req.points_to_redeem,
        },
    )
    .await?;
    let shipping_fen = delivery_app::shipping_fee(&plan.region, quote.basket.total.fen());
    Ok(Json(DeliveryQuote {
        total_fen: quote.basket.amount_due.fen() + shipping_fen,
        slots: delivery_app::slots(chrono::Utc::now(), plan.same_city),
        basket: quote.basket,
        region: plan.region,
        location_id: plan.location_id,
        same_city: plan.same_city,
        shipping_fen,
    }))
}

/// A store's position (WGS-84, micro-degrees); both absent clears it.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StorePosition {
    /// Latitude, micro-degrees (−90 000 000 to 90 000 000).
    pub lat_e6: Option<i64>,
    /// Longitude, micro-degrees (−180 000 000 to 180 000 000).
    pub lng_e6: Option<i64>,
}

/// Sets a store's position, for same-city delivery (head office; audited).
#[utoipa::path(put, path = "/locations/{id}/position", tag = "delivery", security(("staff" = [])), request_body = StorePosition,
    params(("id" = String, Path, description = "store code")),
    responses((status = 200, body = StorePosition), (status = 403, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
async fn set_position(
    staff: StaffActor,
    State(state): State<AppState>,
    Path(id): Path<String>,
    Json(position): Json<StorePosition>,
) -> AppResult<Json<StorePosition>> {
    delivery_app::set_store_position(&state, &staff, &id, position.lat_e6, position.lng_e6).await?;
    Ok(Json(position))
}

/// A delivery order as the staff who ship it see it.
#[derive(Debug, Serialize, ToSchema)]
pub struct OrderDeliveryView {
    /// The order.
    pub order: OrderView,
    /// Its delivery (fee, slot, carrier, waybill), when it has one.
    pub delivery: Option<OrderDelivery>,
    /// The full address (reading it is audited as `delivery.address_read`); none once erased.
    pub address: Option<Address>,
    /// Tracking events, oldest first.
    pub tracking: Vec<TrackingEvent>,
}

/// The staff allowed to ship `order`: head office, or a manager of the location it ships from.
async fn shipping_staff(state: &AppState, staff: &StaffActor, order: Uuid) -> AppResult<OrderView> {
    crate::app::merchants::require_fulfiller(state, staff, order).await
}

/// A delivery order for the staff allowed to ship it, with its full address (audited) and
/// tracking.
#[utoipa::path(get, path = "/orders/{id}/delivery", tag = "delivery", security(("staff" = [])),
    params(("id" = Uuid, Path, description = "order id")),
    responses((status = 200, body = OrderDeliveryView), (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)))]
async fn order_delivery(
    staff: StaffActor,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
) -> AppResult<Json<OrderDeliveryView>> {
    let order = shipping_staff(&state, &staff, id).await?;
    let address = delivery_app::address_for_staff(&state, &staff, id).await?;
    Ok(Json(OrderDeliveryView {
        delivery: storage::delivery::order_delivery(&state.store, id).await?,
        tracking: storage::delivery::tracking_events(&state.store, id).await?,
        address,
        order,
    }))
}

/// A carrier and waybill.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = ShipmentWaybill)]
pub struct Waybill {
    /// Carrier code, e.g. `SF` (letters, digits, `-`).
    pub carrier: String,
    /// Waybill number.
    pub waybill: String,
}

/// Ships a paid delivery order with its carrier and waybill (head office or the fulfilling
/// location's manager). Idempotent: the same waybill again answers the order. 409 `not_paid`
/// for an unpaid order, `waybill_in_use` for another order's waybill; nothing changes.
#[utoipa::path(post, path = "/orders/{id}/waybill", tag = "delivery", security(("staff" = [])), request_body = Waybill,
    params(("id" = Uuid, Path, description = "order id")),
    responses((status = 200, body = OrderView), (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody),
        (status = 409, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
async fn ship(
    staff: StaffActor,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    Json(req): Json<Waybill>,
) -> AppResult<Json<OrderView>> {
    shipping_staff(&state, &staff, id).await?;
    Ok(Json(
        delivery_app::ship_with_waybill(&state, id, &req.carrier, &req.waybill, &staff.actor())
            .await?,
    ))
}

/// One bad line of a batch-shipping file.
#[derive(Debug, Serialize, ToSchema)]
pub struct ShipmentError {
    /// Line in the file (1 is the header).
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

/// The result of a batch-shipping file.
#[derive(Debug, Serialize, ToSchema)]
pub struct ShipmentBatch {
    /// The orders shipped.
    pub shipped: Vec<Uuid>,
    /// The bad lines; when there is one, nothing was shipped.
    pub errors: Vec<ShipmentError>,
}

/// Ships delivery orders from a CSV file (`order_id,carrier,waybill`, UTF-8), all or nothing:
/// a file with a bad line ships nothing and answers 422 with every bad line.
#[utoipa::path(post, path = "/delivery/shipments", tag = "delivery", security(("staff" = [])),
    request_body(content = String, content_type = "text/csv"),
    responses((status = 200, body = ShipmentBatch), (status = 403, body = crate::error::ErrorBody),
        (status = 422, description = "bad lines; nothing shipped", body = ShipmentBatch)))]
async fn ship_batch(
    staff: StaffActor,
    State(state): State<AppState>,
    body: Bytes,
) -> AppResult<axum::response::Response> {
    use axum::response::IntoResponse;
    match delivery_app::ship_batch(&state, &staff, &body).await? {
        Ok(shipped) => Ok(Json(ShipmentBatch {
            shipped,
            errors: Vec::new(),
        })
        .into_response()),
        Err(errors) => Ok((
            axum::http::StatusCode::UNPROCESSABLE_ENTITY,
            Json(ShipmentBatch {
                shipped: Vec::new(),
                errors: errors
                    .into_iter()
                    .map(|e| ShipmentError {
                        line: e.line,
                        message: e.message,
                    })
                    .collect(),
            }),
        )
            .into_response()),
    }
}

/// Whether a tracking event was new.
#[derive(Debug, Serialize, ToSchema)]
pub struct TrackingRecorded {
    /// False when the event id was recorded before (nothing changed).
    pub recorded: bool,
}

/// Records a tracking event entered by staff (head office or the fulfilling location's
/// manager; idempotent by `event_id`). 409 `not_shipped` before the order shipped.
#[utoipa::path(post, path = "/orders/{id}/tracking", tag = "delivery", security(("staff" = [])), request_body = TrackingInput,
    params(("id" = Uuid, Path, description = "order id")),
    responses((status = 200, body = TrackingRecorded), (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody),
        (status = 409, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
async fn add_tracking(
    staff: StaffActor,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    Json(req): Json<TrackingInput>,
) -> AppResult<Json<TrackingRecorded>> {
    shipping_staff(&state, &staff, id).await?;
    let recorded = delivery_app::add_tracking(&state, id, &req, "staff", &staff.actor()).await?;
    Ok(Json(TrackingRecorded { recorded }))
}

/// The carriers' tracking webhook: the body (`CarrierTracking`) signed with the shared secret,
/// lowercase hex HMAC-SHA256 of the raw body in `X-Carrier-Signature`. A missing or bad
/// signature: 401, nothing read further, nothing changed. The event is kept once by its id.
#[utoipa::path(post, path = "/carriers/tracking", tag = "delivery", request_body = delivery_app::CarrierTracking,
    params(("X-Carrier-Signature" = String, Header, description = "hex HMAC-SHA256 of the body")),
    responses((status = 200, body = TrackingRecorded), (status = 401, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody)))]
async fn carrier_tracking(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> AppResult<Json<TrackingRecorded>> {
    let signature = headers
        .get(delivery_app::SIGNATURE_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let recorded = delivery_app::take_carrier_tracking(&state, &body, signature).await?;
    Ok(Json(TrackingRecorded { recorded }))
}

/// The member's saved delivery addresses, masked exactly as the shop lists them (the full
/// address never leaves the server), the default first: a client offers them at checkout and
/// places the order with `address_id` (and the same member code). The member is the one the
/// current member code in `X-Member-Code` names; a missing, forged or expired code is 401.
#[utoipa::path(get, path = "/members/me/addresses", tag = "delivery",
    params(("X-Member-Code" = String, Header, description = "the member's current member code (MC1)")),
    responses((status = 200, body = [MaskedAddress]), (status = 401, body = crate::error::ErrorBody)))]
async fn my_addresses(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> AppResult<Json<Vec<MaskedAddress>>> {
    let member = super::member_from_headers(&state, &headers)?;
    Ok(Json(delivery_app::masked_addresses(&state, member).await?))
}
