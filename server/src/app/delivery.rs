//! Delivery that can be fulfilled: checking a delivery address, the region it falls in (its
//! shipping fee and fulfilling warehouse), the fulfilment location chosen by rule (the nearest
//! store of the same city with every item, within `delivery.same_city_radius_m`, or the region's
//! warehouse), the delivery time slots, the carrier and waybill of a shipped order, and its
//! tracking events (staff's, or the carrier webhook's, signed with a shared secret).
//!
//! The region rule, kept simple: a region is a province, or one city of it. An address matches a
//! city region when its city (or, when it names none, its street address) names that city, and a
//! province region when its province (or street address) names that province; a city region
//! wins. An address in no region is refused with `outside_delivery_area`.

use chrono::{Duration, FixedOffset, Utc};
use hmac::{Hmac, Mac};
use retail_domain::order::OrderStatus;
use retail_domain::wire::bus::ShippingLabel;
use sha2::Sha256;
use uuid::Uuid;

use crate::actor::{Role, StaffActor};
use crate::app::catalog_import::LineError;
use crate::app::AppState;
use crate::error::{AppError, AppResult};
use crate::storage;
use crate::storage::delivery::{Address, NewTrackingEvent, Region};

/// `name` without an administrative suffix (`省`, `市`, `自治区`…), trimmed.
pub fn place_name(name: &str) -> &str {
    let name = name.trim();
    ["特别行政区", "自治区", "省", "市"]
        .iter()
        .find_map(|s| name.strip_suffix(s))
        .unwrap_or(name)
        .trim()
}

/// True when the address's `field` (or, when empty, its street address) names `place`.
fn names(field: &str, street: &str, place: &str) -> bool {
    let place = place_name(place);
    if place.is_empty() {
        return false;
    }
    let field = place_name(field);
    if field.is_empty() {
        street.contains(place)
    } else {
        field == place
    }
}

/// The region an address falls in: a city region first, then a province region.
pub fn region_of<'a>(regions: &'a [Region], address: &Address) -> Option<&'a Region> {
    let city = regions
        .iter()
        .find(|r| !r.city.trim().is_empty() && names(&address.city, &address.address, &r.city));
    city.or_else(|| {
        regions.iter().find(|r| {
            r.city.trim().is_empty() && names(&address.province, &address.address, &r.province)
        })
    })
}

/// The shipping fee of a region for a basket costing `basket_fen` (after discounts).
pub fn shipping_fee(region: &Region, basket_fen: i64) -> i64 {
    match region.free_over_fen {
        Some(free) if basket_fen >= free => 0,
        _ => region.fee_fen,
    }
}

/// Great-circle distance in metres between two points given in micro-degrees.
pub fn distance_m((lat1, lng1): (i64, i64), (lat2, lng2): (i64, i64)) -> f64 {
    const EARTH_RADIUS_M: f64 = 6_371_000.0;
    let rad = |e6: i64| (e6 as f64 / 1e6).to_radians();
    let (p1, p2) = (rad(lat1), rad(lat2));
    let dp = p2 - p1;
    let dl = rad(lng2) - rad(lng1);
    let a = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_M * a.sqrt().asin()
}

/// The fields of a delivery address that are wrong (checked trimmed): `name` (1–64
/// characters), `phone` (an 11-digit mobile number), `city` (province and city up to 32),
/// `address` (5–300), `lat_e6` (latitude and longitude together, on the globe).
pub fn address_problems(a: &Address) -> Vec<&'static str> {
    let len = |s: &str| s.trim().chars().count();
    let mut wrong = Vec::new();
    if a.name.trim().is_empty() || len(&a.name) > 64 {
        wrong.push("name");
    }
    if storage::members::normalize_phone(a.phone.trim()).is_err() {
        wrong.push("phone");
    }
    if len(&a.province) > 32 || len(&a.city) > 32 {
        wrong.push("city");
    }
    if len(&a.address) < 5 || len(&a.address) > 300 {
        wrong.push("address");
    }
    if position(a.lat_e6, a.lng_e6).is_err() {
        wrong.push("lat_e6");
    }
    wrong
}

/// A position as latitude and longitude in micro-degrees (WGS-84): both or neither (`None`),
/// on the globe; anything else is 422 `lat_e6`.
pub fn position(lat_e6: Option<i64>, lng_e6: Option<i64>) -> AppResult<Option<(i64, i64)>> {
    match (lat_e6, lng_e6) {
        (None, None) => Ok(None),
        (Some(lat), Some(lng))
            if (-90_000_000..=90_000_000).contains(&lat)
                && (-180_000_000..=180_000_000).contains(&lng) =>
        {
            Ok(Some((lat, lng)))
        }
        _ => Err(AppError::field(
            "lat_e6",
            "latitude and longitude together, in micro-degrees",
        )),
    }
}

/// Degrees as typed (`31.2304`) in micro-degrees; `None` for an empty field, 422 on `field`
/// for anything that is not a number of degrees.
pub fn micro_degrees(field: &str, text: &str) -> AppResult<Option<i64>> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    let wrong = || AppError::field(field, "a number of degrees");
    let degrees: rust_decimal::Decimal = text.parse().map_err(|_| wrong())?;
    let micro = degrees
        .checked_mul(rust_decimal::Decimal::from(1_000_000))
        .ok_or_else(wrong)?
        .round();
    i64::try_from(micro).map(Some).map_err(|_| wrong())
}

/// Sets (or, with neither coordinate, clears) a store's position for same-city delivery: head
/// office only; audited as `location.position`; 404 for no such store.
pub async fn set_store_position(
    state: &AppState,
    staff: &StaffActor,
    id: &str,
    lat_e6: Option<i64>,
    lng_e6: Option<i64>,
) -> AppResult<()> {
    staff.require(&[Role::HeadOfficeAdmin])?;
    let pair = position(lat_e6, lng_e6)?;
    storage::delivery::set_store_position(&state.store, id, pair, &staff.actor()).await
}

/// Checks a delivery address ([`address_problems`]) and answers it trimmed, with the phone
/// normalised; the first wrong field is a 422 naming it under `prefix` (`address.` for the API).
pub fn check_address(address: &Address, prefix: &str) -> AppResult<Address> {
    if let Some(field) = address_problems(address).first() {
        let message = match *field {
            "name" => "must be 1 to 64 characters",
            "phone" => "an 11-digit mobile number",
            "city" => "province and city: at most 32 characters",
            "address" => "must be 5 to 300 characters",
            _ => "latitude and longitude together, in micro-degrees",
        };
        return Err(AppError::field(&format!("{prefix}{field}"), message));
    }
    let phone = storage::members::normalize_phone(address.phone.trim())
        .map_err(|_| AppError::field(&format!("{prefix}phone"), "an 11-digit mobile number"))?;
    Ok(Address {
        name: address.name.trim().to_owned(),
        phone,
        province: address.province.trim().to_owned(),
        city: address.city.trim().to_owned(),
        address: address.address.trim().to_owned(),
        lat_e6: address.lat_e6,
        lng_e6: address.lng_e6,
    })
}

/// Saves a member's address under the client's id (UUIDv7; a resend changes nothing): checked
/// by [`check_address`], sealed at rest.
pub async fn save_address(
    state: &AppState,
    member: Uuid,
    id: Uuid,
    address: &Address,
    make_default: bool,
) -> AppResult<()> {
    retail_domain::ids::require_v7(id).map_err(|e| AppError::field("id", e.to_string()))?;
    let address = check_address(address, "")?;
    storage::delivery::save_address(
        &state.store,
        &state.keys,
        member,
        id,
        &address,
        make_default,
    )
    .await
}

/// One of a member's saved addresses as the shop lists it (`/me/addresses`; checkout's choice
/// shows the same text) and the API answers it (`GET /api/v1/members/me/addresses`): masked by
/// [`Address::masked`], never in full.
#[derive(Clone, Debug, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct MaskedAddress {
    /// Id (`address_id` of `POST /orders`).
    pub id: Uuid,
    /// The address masked: the recipient's family name, the phone's first three and last four
    /// digits, province and city, the street cut after six characters
    /// (`张* 138****8000 浙江杭州 西湖区文三路****`).
    pub masked: String,
    /// The member's default address.
    pub is_default: bool,
}

/// A member's saved addresses, masked ([`MaskedAddress`]), the default first, then oldest
/// first.
pub async fn masked_addresses(state: &AppState, member: Uuid) -> AppResult<Vec<MaskedAddress>> {
    Ok(
        storage::delivery::addresses(&state.store, &state.keys, member)
            .await?
            .into_iter()
            .map(|a| MaskedAddress {
                id: a.id,
                masked: a.address.masked(),
                is_default: a.is_default,
            })
            .collect(),
    )
}

/// Deletes one of a member's saved addresses (again: nothing changes).
pub async fn delete_address(state: &AppState, member: Uuid, id: Uuid) -> AppResult<()> {
    storage::delivery::delete_address(&state.store, member, id).await
}

/// Makes one of a member's saved addresses the default.
pub async fn set_default_address(state: &AppState, member: Uuid, id: Uuid) -> AppResult<()> {
    storage::delivery::set_default(&state.store, member, id).await
}

/// Checks a delivery region head office saves: a UUIDv7 id, a province (1–32 characters), a
/// city up to 32, a warehouse that exists, a fee and threshold from 0 to ¥10 000.
pub async fn check_region(state: &AppState, region: &Region) -> AppResult<Region> {
    retail_domain::ids::require_v7(region.id).map_err(|e| AppError::field("id", e.to_string()))?;
    let province = place_name(&region.province).to_owned();
    let city = place_name(&region.city).to_owned();
    if province.is_empty() || province.chars().count() > 32 {
        return Err(AppError::field("province", "must be 1 to 32 characters"));
    }
    if city.chars().count() > 32 {
        return Err(AppError::field("city", "at most 32 characters"));
    }
    const MAX_FEN: i64 = 1_000_000;
    if !(0..=MAX_FEN).contains(&region.fee_fen) {
        return Err(AppError::field("fee_fen", "0 to 1000000 fen"));
    }
    if region
        .free_over_fen
        .is_some_and(|f| !(0..=MAX_FEN * 100).contains(&f))
    {
        return Err(AppError::field("free_over_fen", "0 to 100000000 fen"));
    }
    let warehouse = state
        .catalog_cache
        .location(&state.store, &region.warehouse_id)
        .await?;
    if !warehouse.is_some_and(|l| l.kind == "warehouse" || l.kind == "store") {
        return Err(AppError::field(
            "warehouse_id",
            "no such warehouse or store",
        ));
    }
    Ok(Region {
        province,
        city,
        ..region.clone()
    })
}

/// Saves a delivery region (head office; checked by [`check_region`], audited).
pub async fn save_region(state: &AppState, region: &Region, actor: &str) -> AppResult<()> {
    let region = check_region(state, region).await?;
    storage::delivery::save_region(&state.store, &region, actor).await
}

/// A delivery order's full address for a staff member allowed to ship it (head office, or a
/// manager of the location it ships from); the reading is audited (`delivery.address_read`).
/// `None` when the order has no address (pickup, or erased).
pub async fn address_for_staff(
    state: &AppState,
    staff: &crate::actor::StaffActor,
    order_id: Uuid,
) -> AppResult<Option<Address>> {
    crate::app::merchants::require_fulfiller(state, staff, order_id).await?;
    let address = storage::delivery::order_address(&state.store, &state.keys, order_id).await?;
    if address.is_some() {
        storage::delivery::audit_address_read(&state.store, &staff.actor(), order_id).await?;
    }
    Ok(address)
}

/// A delivery order as the staff member allowed to ship it sees it: the order, its full address
/// (the reading audited, see [`address_for_staff`]) and its delivery. 404 for an order that is not
/// a delivery order.
pub async fn order_to_ship(
    state: &AppState,
    staff: &StaffActor,
    order_id: Uuid,
) -> AppResult<(
    storage::orders::OrderView,
    Option<Address>,
    Option<storage::delivery::OrderDelivery>,
)> {
    let address = address_for_staff(state, staff, order_id).await?;
    let order = storage::orders::get(&state.store, order_id).await?;
    if order.fulfilment != retail_domain::order::Fulfilment::Delivery {
        return Err(AppError::not_found(format!(
            "delivery order {order_id} not found"
        )));
    }
    let delivery = storage::delivery::order_delivery(&state.store, order_id).await?;
    Ok((order, address, delivery))
}

/// The shipping label of a delivery order for a staff member allowed to ship it (the address
/// reading audited): carrier and waybill (the order number until it ships), recipient, phone,
/// full address, slot, the units still in the parcel and the shipping location's name.
pub async fn shipping_label(
    state: &AppState,
    staff: &StaffActor,
    order_id: Uuid,
) -> AppResult<ShippingLabel> {
    let (order, address, delivery) = order_to_ship(state, staff, order_id).await?;
    let address = address.unwrap_or_default();
    let full_address = format!("{} {}", address.region(), address.address)
        .trim()
        .to_owned();
    let sender = state
        .catalog_cache
        .location(&state.store, &order.location_id)
        .await?
        .map_or_else(|| order.location_id.clone(), |l| l.name_zh);
    let delivery = delivery.as_ref();
    Ok(ShippingLabel {
        carrier: delivery.and_then(|d| d.carrier.clone()).unwrap_or_default(),
        waybill: delivery
            .and_then(|d| d.waybill.clone())
            .unwrap_or_else(|| order.order_no.clone()),
        recipient: address.name,
        phone: address.phone,
        address: full_address,
        order_no: order.order_no,
        slot: delivery.map(|d| d.slot.clone()).unwrap_or_default(),
        items: order.lines.iter().map(|l| l.qty - l.returned_qty).sum(),
        sender,
    })
}

/// Where a delivery order is fulfilled and what it costs to ship.
#[derive(Clone, Debug, PartialEq)]
pub struct DeliveryPlan {
    /// The region the address falls in.
    pub region: Region,
    /// The location the order ships from (a warehouse, or a store for same-city delivery).
    pub location_id: String,
    /// Delivered from a store of the shopper's city.
    pub same_city: bool,
}

/// The error of an address in no delivery region.
pub fn outside_area() -> AppError {
    AppError::field_code(
        "outside_delivery_area",
        "address",
        "we do not deliver to this address (it is in no delivery region)",
    )
}

/// Chooses where a delivery to `address` of `lines` ships from: the nearest store of the
/// address's city within the configured radius that has every line available, when the address
/// has coordinates; otherwise the region's warehouse. 422 `outside_delivery_area` for an address
/// in no region.
pub async fn plan(
    state: &AppState,
    address: &Address,
    lines: &[(Uuid, i64)],
) -> AppResult<DeliveryPlan> {
    let regions = storage::delivery::regions(&state.store).await?;
    let region = region_of(&regions, address)
        .cloned()
        .ok_or_else(outside_area)?;
    let radius = f64::from(state.settings.delivery.same_city_radius_m);
    if let (Some(lat), Some(lng)) = (address.lat_e6, address.lng_e6) {
        let city = if address.city.is_empty() {
            region.city.as_str()
        } else {
            address.city.as_str()
        };
        let mut stores: Vec<(f64, String)> = storage::delivery::store_positions(&state.store)
            .await?
            .into_iter()
            .filter(|s| !city.is_empty() && place_name(&s.city) == place_name(city))
            .map(|s| (distance_m((lat, lng), (s.lat_e6, s.lng_e6)), s.id))
            .filter(|(d, _)| *d <= radius)
            .collect();
        stores.sort_by(|a, b| a.0.total_cmp(&b.0));
        for (_, store) in stores {
            if storage::delivery::has_stock(&state.store, &store, lines).await? {
                return Ok(DeliveryPlan {
                    region,
                    location_id: store,
                    same_city: true,
                });
            }
        }
    }
    Ok(DeliveryPlan {
        location_id: region.warehouse_id.clone(),
        region,
        same_city: false,
    })
}

/// China Standard Time (the chain's day).
fn cst() -> FixedOffset {
    super::china_offset()
}

/// The delivery time slots a shopper may pick, as `YYYY-MM-DD HH:MM-HH:MM` (China time):
/// same-city delivery in two-hour slots from two hours ahead today and tomorrow (09:00–21:00),
/// other deliveries by half-day from tomorrow for three days.
pub fn slots(now: chrono::DateTime<Utc>, same_city: bool) -> Vec<String> {
    let local = now.with_timezone(&cst());
    let mut out = Vec::new();
    if same_city {
        let earliest = local + Duration::hours(2);
        for day in 0..2 {
            let date = (local + Duration::days(day)).date_naive();
            for start in (9..21).step_by(2) {
                let begins = date
                    .and_hms_opt(start, 0, 0)
                    .map(|t| t.and_local_timezone(cst()));
                if let Some(chrono::LocalResult::Single(begins)) = begins {
                    if begins >= earliest {
                        out.push(format!("{date} {start:02}:00-{:02}:00", start + 2));
                    }
                }
            }
        }
    } else {
        for day in 1..=3 {
            let date = (local + Duration::days(day)).date_naive();
            out.push(format!("{date} 09:00-12:00"));
            out.push(format!("{date} 14:00-18:00"));
        }
    }
    out
}

/// Checks a chosen slot against [`slots`] (empty: any time). 422 `bad_slot` otherwise.
pub fn check_slot(slot: &str, same_city: bool) -> AppResult<String> {
    let slot = slot.trim();
    if slot.is_empty() || slots(Utc::now(), same_city).iter().any(|s| s == slot) {
        Ok(slot.to_owned())
    } else {
        Err(AppError::field_code(
            "bad_slot",
            "slot",
            "not one of the delivery slots offered",
        ))
    }
}

/// Checks a carrier code and waybill number: 1–32 and 1–40 characters of letters, digits and
/// `-`. 422 otherwise.
pub fn check_waybill(carrier: &str, waybill: &str) -> AppResult<(String, String)> {
    let ok = |s: &str, max: usize| {
        !s.is_empty() && s.len() <= max && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    let (carrier, waybill) = (carrier.trim(), waybill.trim());
    if !ok(carrier, 32) {
        return Err(AppError::field("carrier", "1 to 32 letters, digits or -"));
    }
    if !ok(waybill, 40) {
        return Err(AppError::field("waybill", "1 to 40 letters, digits or -"));
    }
    Ok((carrier.to_owned(), waybill.to_owned()))
}

/// Checks that `order` may be shipped with this waybill now: a paid delivery order, or one
/// shipped already with this very waybill (`Ok(false)`: nothing to do). 409 `not_paid` for an
/// unpaid order, `not_delivery` for another fulfilment, `invalid_state` otherwise.
async fn may_ship(
    state: &AppState,
    order: &storage::orders::OrderView,
    carrier: &str,
    waybill: &str,
) -> AppResult<bool> {
    if order.fulfilment.as_str() != "delivery" {
        return Err(AppError::conflict("not_delivery", "not a delivery order"));
    }
    match order.status {
        OrderStatus::Paid => Ok(true),
        OrderStatus::PendingPayment => Err(AppError::conflict(
            "not_paid",
            "the order is not paid: no waybill before payment",
        )),
        OrderStatus::Shipped | OrderStatus::Delivered => {
            let delivery = storage::delivery::order_delivery(&state.store, order.id).await?;
            if delivery.is_some_and(|d| {
                d.carrier.as_deref() == Some(carrier) && d.waybill.as_deref() == Some(waybill)
            }) {
                Ok(false)
            } else {
                Err(AppError::conflict(
                    "invalid_state",
                    "the order has shipped with another waybill",
                ))
            }
        }
        other => Err(AppError::conflict(
            "invalid_state",
            format!("an order {} cannot be shipped", other.as_str()),
        )),
    }
}

/// Inside the caller's transaction: moves a paid order to shipped and records its carrier and
/// waybill (audited as `delivery.waybill`). 409 `invalid_state` when it is no longer paid.
async fn ship_in_tx(
    state: &AppState,
    tx: &mut storage::Tx,
    order_id: Uuid,
    (carrier, waybill): (&str, &str),
    actor: &str,
) -> AppResult<()> {
    // The move first: it locks the order, and answers false when it is no longer paid.
    let moved = crate::app::orders::move_in_tx(
        tx,
        &state.store,
        order_id,
        Some(OrderStatus::Paid),
        OrderStatus::Shipped,
        actor,
        "shipped",
    )
    .await?;
    if !moved {
        return Err(AppError::conflict(
            "invalid_state",
            "the order changed meanwhile; it is no longer waiting to ship",
        ));
    }
    storage::delivery::set_waybill_in_tx(tx, order_id, carrier, waybill).await?;
    storage::audit::record(
        tx,
        actor,
        "delivery.waybill",
        "order",
        &order_id.to_string(),
        serde_json::json!({ "carrier": carrier, "waybill": waybill }),
    )
    .await
}

/// Ships a paid delivery order with its carrier and waybill: the waybill recorded and the order
/// moved to shipped in one transaction. A repeat with the same waybill answers the order as it
/// is. 409 `not_paid` for an order not yet paid (nothing changed), `waybill_in_use` for another
/// order's waybill.
pub async fn ship_with_waybill(
    state: &AppState,
    order_id: Uuid,
    carrier: &str,
    waybill: &str,
    actor: &str,
) -> AppResult<storage::orders::OrderView> {
    let (carrier, waybill) = check_waybill(carrier, waybill)?;
    let order = storage::orders::get(&state.store, order_id).await?;
    if !may_ship(state, &order, &carrier, &waybill).await? {
        return Ok(order);
    }
    let mut tx = state.store.begin().await?;
    ship_in_tx(state, &mut tx, order_id, (&carrier, &waybill), actor).await?;
    tx.commit().await?;
    storage::orders::get(&state.store, order_id).await
}

/// The columns of a batch-shipping file.
pub const SHIPMENT_COLUMNS: [&str; 3] = ["order_id", "carrier", "waybill"];

/// One line of a batch-shipping file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShipmentLine {
    /// Line in the file.
    pub line: usize,
    /// The order.
    pub order_id: Uuid,
    /// Carrier code.
    pub carrier: String,
    /// Waybill number.
    pub waybill: String,
}

/// Parses a batch-shipping CSV (header `order_id,carrier,waybill`, UTF-8, an optional BOM):
/// the good lines, and every bad line with what is wrong (an order or a waybill named twice
/// included).
pub fn parse_shipments(bytes: &[u8]) -> (Vec<ShipmentLine>, Vec<LineError>) {
    let text = bytes.strip_prefix(&[0xEF, 0xBB, 0xBF]).unwrap_or(bytes);
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .from_reader(text);
    let header_ok = reader
        .headers()
        .is_ok_and(|h| h.iter().map(str::trim).collect::<Vec<_>>() == SHIPMENT_COLUMNS);
    if !header_ok {
        let message = format!("the header must be: {}", SHIPMENT_COLUMNS.join(","));
        return (Vec::new(), vec![LineError { line: 1, message }]);
    }
    let mut good: Vec<ShipmentLine> = Vec::new();
    let mut errors = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let line = i + 2;
        let mut bad = |message: String| errors.push(LineError { line, message });
        let record = match record {
            Ok(r) if r.len() == SHIPMENT_COLUMNS.len() => r,
            Ok(r) => {
                bad(format!("has {} fields, expected 3", r.len()));
                continue;
            }
            Err(e) => {
                bad(format!("cannot be read: {e}"));
                continue;
            }
        };
        let Ok(order_id) = Uuid::parse_str(record[0].trim()) else {
            bad("order_id is not an order id".into());
            continue;
        };
        let (carrier, waybill) = match check_waybill(&record[1], &record[2]) {
            Ok(pair) => pair,
            Err(e) => {
                bad(e.to_string());
                continue;
            }
        };
        if good.iter().any(|g| g.order_id == order_id) {
            bad(format!("order {order_id} is named twice"));
            continue;
        }
        if good
            .iter()
            .any(|g| g.carrier == carrier && g.waybill == waybill)
        {
            bad(format!("waybill {carrier} {waybill} is named twice"));
            continue;
        }
        good.push(ShipmentLine {
            line,
            order_id,
            carrier,
            waybill,
        });
    }
    if good.is_empty() && errors.is_empty() {
        errors.push(LineError {
            line: 2,
            message: "the file has no shipment".into(),
        });
    }
    (good, errors)
}

/// Ships a batch of delivery orders from a CSV file, all or nothing: every line is checked
/// first (the order exists, is a paid delivery order the staff member may ship, the waybill is
/// free), and only a file without a bad line is applied, in one transaction. Answers the
/// orders shipped (a line whose order already shipped with that waybill is skipped), or the
/// bad lines (nothing changed).
pub async fn ship_batch(
    state: &AppState,
    staff: &crate::actor::StaffActor,
    bytes: &[u8],
) -> AppResult<Result<Vec<Uuid>, Vec<LineError>>> {
    staff.require(&[
        crate::actor::Role::HeadOfficeAdmin,
        crate::actor::Role::StoreManager,
    ])?;
    if bytes.len() > 1024 * 1024 {
        return Err(AppError::bad_request("too_large", "at most 1 MiB"));
    }
    let (lines, mut errors) = parse_shipments(bytes);
    let mut to_ship = Vec::new();
    for l in &lines {
        let problem = match storage::orders::get(&state.store, l.order_id).await {
            Ok(order) => match staff.require_store(&order.location_id) {
                Err(e) => Some(e.to_string()),
                Ok(()) => match may_ship(state, &order, &l.carrier, &l.waybill).await {
                    Ok(true) => {
                        match storage::delivery::order_of_waybill(
                            &state.store,
                            &l.carrier,
                            &l.waybill,
                        )
                        .await?
                        {
                            Some(other) if other != l.order_id => {
                                Some(format!("waybill {} belongs to another order", l.waybill))
                            }
                            _ => {
                                to_ship.push(l);
                                None
                            }
                        }
                    }
                    Ok(false) => None,
                    Err(e) => Some(e.to_string()),
                },
            },
            Err(AppError::NotFound(_)) => Some(format!("no order {}", l.order_id)),
            Err(e) => return Err(e),
        };
        if let Some(message) = problem {
            errors.push(LineError {
                line: l.line,
                message,
            });
        }
    }
    if !errors.is_empty() {
        errors.sort_by_key(|e| e.line);
        return Ok(Err(errors));
    }
    let mut tx = state.store.begin().await?;
    for l in &to_ship {
        ship_in_tx(
            state,
            &mut tx,
            l.order_id,
            (&l.carrier, &l.waybill),
            &staff.actor(),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(Ok(to_ship.iter().map(|l| l.order_id).collect()))
}

/// Statuses a tracking event may have.
pub const TRACKING_STATUSES: &[&str] = &[
    "picked_up",
    "in_transit",
    "out_for_delivery",
    "delivered",
    "exception",
];

/// A tracking event to record (from staff or the carrier webhook).
#[derive(Clone, Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TrackingInput {
    /// The event's id (a UUIDv7 from staff, the carrier's own id on the webhook): a resend is
    /// kept once.
    pub event_id: String,
    /// One of `picked_up`, `in_transit`, `out_for_delivery`, `delivered`, `exception`.
    pub status: String,
    /// What happened (up to 200 characters).
    #[serde(default)]
    pub description: String,
    /// Where (up to 64 characters).
    #[serde(default)]
    pub location: String,
    /// When it happened (RFC 3339); default: now.
    #[serde(default)]
    pub at: Option<chrono::DateTime<Utc>>,
}

/// Records a tracking event for a shipped (or delivered) order. 409 `not_shipped` before the
/// order shipped; 422 for a bad field. Answers whether it was new.
pub async fn add_tracking(
    state: &AppState,
    order_id: Uuid,
    input: &TrackingInput,
    source: &str,
    actor: &str,
) -> AppResult<bool> {
    let event_id = input.event_id.trim();
    if event_id.is_empty() || event_id.len() > 64 {
        return Err(AppError::field("event_id", "1 to 64 characters"));
    }
    if !TRACKING_STATUSES.contains(&input.status.as_str()) {
        return Err(AppError::field("status", TRACKING_STATUSES.join(", ")));
    }
    if input.description.chars().count() > 200 || input.location.chars().count() > 64 {
        return Err(AppError::field("description", "too long"));
    }
    let order = storage::orders::get(&state.store, order_id).await?;
    if !matches!(
        order.status,
        OrderStatus::Shipped
            | OrderStatus::Delivered
            | OrderStatus::Completed
            | OrderStatus::AfterSale
    ) {
        return Err(AppError::conflict(
            "not_shipped",
            "tracking starts once the order has shipped",
        ));
    }
    storage::delivery::add_tracking_event(
        &state.store,
        &NewTrackingEvent {
            order_id,
            event_id: &format!("{source}:{event_id}"),
            source,
            status: &input.status,
            description: input.description.trim(),
            location: input.location.trim(),
            happened_at: input.at.unwrap_or_else(Utc::now).timestamp_millis(),
            created_by: actor,
        },
    )
    .await
}

/// The header carrying the webhook body's signature: lowercase hex of HMAC-SHA256 over the raw
/// body with `delivery.carrier_webhook_secret`.
pub const SIGNATURE_HEADER: &str = "x-carrier-signature";

/// The carrier webhook's body.
#[derive(Clone, Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CarrierTracking {
    /// Carrier code, as on the waybill.
    pub carrier: String,
    /// Waybill number.
    pub waybill: String,
    /// The event.
    pub event: TrackingInput,
}

/// Checks the webhook's signature in constant time: 401 when the secret is not configured or
/// the signature does not match the body.
pub fn verify_carrier_signature(secret: &str, body: &[u8], signature: &str) -> AppResult<()> {
    if secret.is_empty() {
        return Err(AppError::Unauthorized("bad carrier signature".into()));
    }
    let given = hex::decode(signature.trim())
        .map_err(|_| AppError::Unauthorized("bad carrier signature".into()))?;
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes())
        .map_err(|_| AppError::Unauthorized("bad carrier signature".into()))?;
    mac.update(body);
    // `verify_slice` compares in constant time.
    mac.verify_slice(&given)
        .map_err(|_| AppError::Unauthorized("bad carrier signature".into()))
}

/// Takes a carrier's signed tracking event: signature checked first (401, nothing read
/// further), then the body; the order found by its carrier and waybill (404 when none).
pub async fn take_carrier_tracking(
    state: &AppState,
    body: &[u8],
    signature: &str,
) -> AppResult<bool> {
    verify_carrier_signature(
        &state.settings.delivery.carrier_webhook_secret,
        body,
        signature,
    )?;
    let input: CarrierTracking = serde_json::from_slice(body)
        .map_err(|e| AppError::bad_request("invalid_body", e.to_string()))?;
    let order = storage::delivery::order_of_waybill(
        &state.store,
        input.carrier.trim(),
        input.waybill.trim(),
    )
    .await?
    .ok_or_else(|| AppError::not_found("no order has this waybill"))?;
    add_tracking(
        state,
        order,
        &input.event,
        "carrier",
        &format!("carrier:{}", input.carrier.trim()),
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn region(province: &str, city: &str, fee: i64, free: Option<i64>) -> Region {
        Region {
            id: Uuid::now_v7(),
            province: province.into(),
            city: city.into(),
            warehouse_id: "WH01".into(),
            fee_fen: fee,
            free_over_fen: free,
        }
    }

    fn addr(province: &str, city: &str, street: &str) -> Address {
        Address {
            name: "张三".into(),
            phone: "13800138000".into(),
            province: province.into(),
            city: city.into(),
            address: street.into(),
            ..Address::default()
        }
    }

    #[test]
    fn a_city_region_wins_over_its_province_and_the_street_names_the_place() {
        let regions = vec![
            region("浙江", "", 800, None),
            region("浙江", "杭州", 500, Some(9900)),
        ];
        let hz = region_of(&regions, &addr("浙江省", "杭州市", "西湖区文三路 100 号"))
            .expect("test value");
        assert_eq!(hz.city, "杭州");
        let nb = region_of(&regions, &addr("浙江", "宁波", "海曙区 1 号")).expect("test value");
        assert_eq!(nb.city, "");
        let street =
            region_of(&regions, &addr("", "", "杭州市西湖区文三路 100 号")).expect("test value");
        assert_eq!(street.city, "杭州");
        assert!(region_of(&regions, &addr("广东", "深圳", "南山区 1 号")).is_none());
        assert!(region_of(&regions, &addr("", "", "北京市朝阳区 1 号")).is_none());
    }

    #[test]
    fn delivery_is_free_from_the_threshold() {
        let r = region("上海", "", 600, Some(9900));
        assert_eq!(shipping_fee(&r, 9899), 600);
        assert_eq!(shipping_fee(&r, 9900), 0);
        assert_eq!(shipping_fee(&region("上海", "", 600, None), 1_000_000), 600);
    }

    #[test]
    fn distances_are_great_circle_metres() {
        // People's Square to the Bund, Shanghai: about 1.6 km.
        let d = distance_m((31_230_416, 121_473_701), (31_240_018, 121_490_317));
        assert!((1_700.0..2_000.0).contains(&d), "{d}");
        assert_eq!(distance_m((0, 0), (0, 0)), 0.0);
    }

    #[test]
    fn slots_start_two_hours_ahead_for_same_city_and_tomorrow_otherwise() {
        // 10:30 China time.
        let now = chrono::DateTime::parse_from_rfc3339("2026-12-05T02:30:00Z")
            .expect("test value")
            .with_timezone(&Utc);
        let same = slots(now, true);
        assert_eq!(same.first().expect("test value"), "2026-12-05 13:00-15:00");
        assert!(same.contains(&"2026-12-06 09:00-11:00".to_owned()));
        let far = slots(now, false);
        assert_eq!(far.first().expect("test value"), "2026-12-06 09:00-12:00");
        assert_eq!(far.len(), 6);
    }

    #[test]
    fn addresses_are_checked_field_by_field() {
        let good = check_address(&addr(" 浙江 ", "杭州", " 西湖区文三路 100 号 "), "")
            .expect("test value");
        assert_eq!(good.province, "浙江");
        assert_eq!(good.address, "西湖区文三路 100 号");
        assert!(check_address(&addr("", "", "短"), "").is_err());
        assert!(check_address(
            &Address {
                phone: "12".into(),
                ..good.clone()
            },
            ""
        )
        .is_err());
        assert!(check_address(
            &Address {
                lat_e6: Some(1),
                ..good.clone()
            },
            ""
        )
        .is_err());
        assert!(check_address(
            &Address {
                lat_e6: Some(91_000_000),
                lng_e6: Some(0),
                ..good
            },
            ""
        )
        .is_err());
    }

    #[test]
    fn the_carrier_signature_is_an_hmac_of_the_body() {
        let body = br#"{"carrier":"SF"}"#;
        let mut mac = Hmac::<Sha256>::new_from_slice(b"s3cret").expect("test value");
        mac.update(body);
        let sig = hex::encode(mac.finalize().into_bytes());
        assert!(verify_carrier_signature("s3cret", body, &sig).is_ok());
        assert!(verify_carrier_signature("other", body, &sig).is_err());
        assert!(verify_carrier_signature("s3cret", b"{}", &sig).is_err());
        assert!(verify_carrier_signature("s3cret", body, "zz").is_err());
        assert!(verify_carrier_signature("", body, &sig).is_err());
    }

    #[test]
    fn a_shipment_file_names_each_order_and_waybill_once() {
        let a = Uuid::now_v7();
        let b = Uuid::now_v7();
        let text = format!(
            "\u{feff}order_id,carrier,waybill\n{a},SF,SF001\n{a},SF,SF002\n{b},SF,SF001\nnot-an-id,SF,X\n{b},S F,1\n{b},YTO\n"
        );
        let (good, bad) = parse_shipments(text.as_bytes());
        assert_eq!(good.len(), 1);
        assert_eq!((good[0].line, good[0].order_id), (2, a));
        let lines: Vec<usize> = bad.iter().map(|e| e.line).collect();
        assert_eq!(lines, vec![3, 4, 5, 6, 7]);
        let (good, bad) = parse_shipments(b"id,carrier\n");
        assert!(good.is_empty());
        assert_eq!(bad[0].line, 1);
        assert_eq!(
            parse_shipments(b"order_id,carrier,waybill\n").1.len(),
            1,
            "empty file"
        );
    }

    #[test]
    fn waybills_are_short_codes() {
        assert!(check_waybill("SF", "SF1234567890").is_ok());
        assert!(check_waybill("", "1").is_err());
        assert!(check_waybill("SF", "12 34").is_err());
    }
}
