//! Delivery: members' saved addresses (sealed at rest like phone numbers), the delivery regions
//! with their shipping fee and fulfilling warehouse, store coordinates for same-city delivery,
//! what a delivery order keeps of its delivery (fee, slot, carrier, waybill) and its tracking
//! events.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::{col, from_ms, now_ms, uuid_col, Store, Tx};
use crate::error::{AppError, AppResult};
use crate::secrets::{Keys, SealedField};

/// Most saved addresses a member may keep.
pub const MAX_SAVED_ADDRESSES: i64 = 20;

/// A delivery address (stored sealed, never in clear).
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Address {
    /// Recipient.
    pub name: String,
    /// Recipient's phone.
    pub phone: String,
    /// Province (省), e.g. `上海` or `浙江`; may be left empty when the street address names it.
    #[serde(default)]
    pub province: String,
    /// City (市), e.g. `杭州`; may be left empty when the street address names it.
    #[serde(default)]
    pub city: String,
    /// Full address.
    pub address: String,
    /// Latitude in micro-degrees (WGS-84), when the shopper's device gave one: same-city
    /// delivery from a store needs it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lat_e6: Option<i64>,
    /// Longitude in micro-degrees (WGS-84).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lng_e6: Option<i64>,
}

impl Address {
    /// Province and city as written together (`浙江杭州`; a city that is its own province,
    /// `上海`, once).
    pub fn region(&self) -> String {
        if self.province == self.city {
            self.city.clone()
        } else {
            format!("{}{}", self.province, self.city)
        }
    }

    /// The address masked for lists: the recipient's family name, the phone's first three and
    /// last four digits, the province and city, and the street address cut after its first
    /// six characters.
    pub fn masked(&self) -> String {
        let name: String = self.name.chars().take(1).chain("*".chars()).collect();
        let phone = super::members::mask_phone(&self.phone);
        let street: String = self.address.chars().take(6).collect();
        let more = if self.address.chars().count() > 6 {
            "****"
        } else {
            ""
        };
        format!("{name} {phone} {} {street}{more}", self.region())
    }
}

/// One of a member's saved addresses.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct SavedAddress {
    /// Id (the client's UUIDv7).
    pub id: Uuid,
    /// The address, opened.
    pub address: Address,
    /// The member's default address.
    pub is_default: bool,
}

/// Opens one `member_addresses` row (`id`, `address_enc`, `is_default`).
fn saved_from_row(keys: &Keys, row: &sqlx::any::AnyRow) -> AppResult<SavedAddress> {
    let id = uuid_col(row, "id")?;
    let sealed: String = col(row, "address_enc")?;
    let plain = keys
        .open(SealedField::MemberAddress, id, &sealed)
        .map_err(|e| AppError::Internal(e.context("saved address does not decrypt")))?;
    let address = serde_json::from_str(&plain)
        .map_err(|e| AppError::Internal(anyhow::Error::new(e).context("saved address")))?;
    Ok(SavedAddress {
        id,
        address,
        is_default: col::<i64>(row, "is_default")? != 0,
    })
}

/// A member's saved addresses, the default first, then oldest first.
pub async fn addresses(store: &Store, keys: &Keys, member: Uuid) -> AppResult<Vec<SavedAddress>> {
    let rows = sqlx::query(
        "SELECT id, address_enc, is_default FROM member_addresses WHERE member_id = $1 \
         ORDER BY is_default DESC, created_at, id",
    )
    .bind(member.to_string())
    .fetch_all(store.reader())
    .await?;
    rows.iter().map(|row| saved_from_row(keys, row)).collect()
}

/// One of the member's saved addresses, opened; `None` when there is no such address or it is
/// another member's (the two are not told apart).
pub async fn address(
    store: &Store,
    keys: &Keys,
    member: Uuid,
    id: Uuid,
) -> AppResult<Option<SavedAddress>> {
    let row = sqlx::query(
        "SELECT id, address_enc, is_default FROM member_addresses WHERE id = $1 AND member_id = $2",
    )
    .bind(id.to_string())
    .bind(member.to_string())
    .fetch_optional(store.reader())
    .await?;
    row.map(|row| saved_from_row(keys, &row)).transpose()
}

/// Saves an address under the client's id: a new one, or a new version of the member's own
/// (idempotent: saving the same again changes nothing). The first address, or one saved with
/// `make_default`, becomes the default. 404 when the id is another member's; 409
/// `too_many_addresses` beyond [`MAX_SAVED_ADDRESSES`].
pub async fn save_address(
    store: &Store,
    keys: &Keys,
    member: Uuid,
    id: Uuid,
    address: &Address,
    make_default: bool,
) -> AppResult<()> {
    let json = serde_json::to_string(address).map_err(|e| AppError::Internal(e.into()))?;
    let sealed = keys.seal(SealedField::MemberAddress, id, &json)?;
    let now = now_ms();
    let mut tx = store.begin().await?;
    let owner = sqlx::query("SELECT member_id FROM member_addresses WHERE id = $1")
        .bind(id.to_string())
        .fetch_optional(&mut *tx)
        .await?;
    let count: i64 = col(
        &sqlx::query("SELECT COUNT(*) AS n FROM member_addresses WHERE member_id = $1")
            .bind(member.to_string())
            .fetch_one(&mut *tx)
            .await?,
        "n",
    )?;
    match owner {
        Some(row) => {
            let owner: String = col(&row, "member_id")?;
            if owner != member.to_string() {
                return Err(AppError::not_found(format!("address {id} not found")));
            }
            sqlx::query(
                "UPDATE member_addresses SET address_enc = $2, updated_at = $3 WHERE id = $1",
            )
            .bind(id.to_string())
            .bind(&sealed)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        None => {
            if count >= MAX_SAVED_ADDRESSES {
                return Err(AppError::conflict(
                    "too_many_addresses",
                    format!("at most {MAX_SAVED_ADDRESSES} saved addresses"),
                ));
            }
            sqlx::query(
                "INSERT INTO member_addresses (id, member_id, address_enc, is_default, created_at, updated_at) \
                 VALUES ($1, $2, $3, 0, $4, $4)",
            )
            .bind(id.to_string())
            .bind(member.to_string())
            .bind(&sealed)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
    }
    if make_default || count == 0 {
        set_default_in_tx(&mut tx, member, id).await?;
    }
    tx.commit().await?;
    Ok(())
}

async fn set_default_in_tx(tx: &mut super::Tx, member: Uuid, id: Uuid) -> AppResult<()> {
    sqlx::query(
        "UPDATE member_addresses SET is_default = CASE WHEN id = $2 THEN 1 ELSE 0 END \
         WHERE member_id = $1",
    )
    .bind(member.to_string())
    .bind(id.to_string())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Makes one of the member's addresses the default (404 when it is not theirs).
pub async fn set_default(store: &Store, member: Uuid, id: Uuid) -> AppResult<()> {
    let mut tx = store.begin().await?;
    let found = sqlx::query("SELECT id FROM member_addresses WHERE id = $1 AND member_id = $2")
        .bind(id.to_string())
        .bind(member.to_string())
        .fetch_optional(&mut *tx)
        .await?;
    if found.is_none() {
        return Err(AppError::not_found(format!("address {id} not found")));
    }
    set_default_in_tx(&mut tx, member, id).await?;
    tx.commit().await?;
    Ok(())
}

/// Deletes one of the member's addresses (deleting it again, or one that is not theirs, changes
/// nothing). When it was the default, the oldest remaining one becomes the default.
pub async fn delete_address(store: &Store, member: Uuid, id: Uuid) -> AppResult<()> {
    let mut tx = store.begin().await?;
    sqlx::query("DELETE FROM member_addresses WHERE id = $1 AND member_id = $2")
        .bind(id.to_string())
        .bind(member.to_string())
        .execute(&mut *tx)
        .await?;
    let has_default =
        sqlx::query("SELECT id FROM member_addresses WHERE member_id = $1 AND is_default = 1")
            .bind(member.to_string())
            .fetch_optional(&mut *tx)
            .await?;
    if has_default.is_none() {
        let oldest = sqlx::query(
            "SELECT id FROM member_addresses WHERE member_id = $1 ORDER BY created_at, id LIMIT 1",
        )
        .bind(member.to_string())
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(row) = oldest {
            set_default_in_tx(&mut tx, member, uuid_col(&row, "id")?).await?;
        }
    }
    tx.commit().await?;
    Ok(())
}

/// A delivery region: a province, or one city of it.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Region {
    /// Id (the client's UUIDv7; saving the same id again updates it).
    pub id: Uuid,
    /// Province, e.g. `浙江`.
    pub province: String,
    /// City, e.g. `杭州`; empty for the whole province.
    #[serde(default)]
    pub city: String,
    /// The warehouse that ships there.
    pub warehouse_id: String,
    /// Shipping fee in fen.
    pub fee_fen: i64,
    /// Basket amount (after discounts, in fen) from which delivery is free; none: never free.
    #[serde(default)]
    pub free_over_fen: Option<i64>,
}

fn region_from_row(row: &sqlx::any::AnyRow) -> AppResult<Region> {
    Ok(Region {
        id: uuid_col(row, "id")?,
        province: col(row, "province")?,
        city: col(row, "city")?,
        warehouse_id: col(row, "warehouse_id")?,
        fee_fen: col(row, "fee_fen")?,
        free_over_fen: col(row, "free_over_fen")?,
    })
}

/// Every delivery region, by province and city.
pub async fn regions(store: &Store) -> AppResult<Vec<Region>> {
    let rows = sqlx::query(
        "SELECT id, province, city, warehouse_id, fee_fen, free_over_fen FROM delivery_regions \
         ORDER BY province, city",
    )
    .fetch_all(store.reader())
    .await?;
    rows.iter().map(region_from_row).collect()
}

/// Creates or updates a region (audited as `delivery.region`). 409 `region_exists` when another
/// region has the same province and city.
pub async fn save_region(store: &Store, region: &Region, actor: &str) -> AppResult<()> {
    let mut tx = store.begin().await?;
    let clash = sqlx::query(
        "SELECT id FROM delivery_regions WHERE province = $1 AND city = $2 AND id <> $3",
    )
    .bind(&region.province)
    .bind(&region.city)
    .bind(region.id.to_string())
    .fetch_optional(&mut *tx)
    .await?;
    if clash.is_some() {
        return Err(AppError::conflict(
            "region_exists",
            "another region has this province and city",
        ));
    }
    let now = now_ms();
    sqlx::query(
        "INSERT INTO delivery_regions (id, province, city, warehouse_id, fee_fen, free_over_fen, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $7) \
         ON CONFLICT (id) DO UPDATE SET province = excluded.province, city = excluded.city, \
         warehouse_id = excluded.warehouse_id, fee_fen = excluded.fee_fen, \
         free_over_fen = excluded.free_over_fen, updated_at = excluded.updated_at",
    )
    .bind(region.id.to_string())
    .bind(&region.province)
    .bind(&region.city)
    .bind(&region.warehouse_id)
    .bind(region.fee_fen)
    .bind(region.free_over_fen)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    super::audit::record(
        &mut tx,
        actor,
        "delivery.region",
        "delivery_region",
        &region.id.to_string(),
        serde_json::to_value(region).unwrap_or_default(),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// A store's position and city, for same-city delivery.
#[derive(Clone, Debug, PartialEq)]
pub struct StorePosition {
    /// Store code.
    pub id: String,
    /// Its city.
    pub city: String,
    /// Latitude, micro-degrees.
    pub lat_e6: i64,
    /// Longitude, micro-degrees.
    pub lng_e6: i64,
}

/// The stores with a position.
pub async fn store_positions(store: &Store) -> AppResult<Vec<StorePosition>> {
    let rows = sqlx::query(
        "SELECT id, city, lat_e6, lng_e6 FROM locations WHERE kind = 'store' \
         AND lat_e6 IS NOT NULL AND lng_e6 IS NOT NULL ORDER BY id",
    )
    .fetch_all(store.reader())
    .await?;
    rows.iter()
        .map(|row| {
            Ok(StorePosition {
                id: col(row, "id")?,
                city: col(row, "city")?,
                lat_e6: col(row, "lat_e6")?,
                lng_e6: col(row, "lng_e6")?,
            })
        })
        .collect()
}

/// A store and its position if it has one, as head office sets it.
#[derive(Clone, Debug, PartialEq)]
pub struct StoreOnMap {
    /// Store code.
    pub id: String,
    /// Chinese name.
    pub name_zh: String,
    /// English name.
    pub name_en: String,
    /// Latitude, micro-degrees.
    pub lat_e6: Option<i64>,
    /// Longitude, micro-degrees.
    pub lng_e6: Option<i64>,
}

/// Every store, with its position where it has one.
pub async fn stores_on_map(store: &Store) -> AppResult<Vec<StoreOnMap>> {
    let rows = sqlx::query(
        "SELECT id, name_zh, name_en, lat_e6, lng_e6 FROM locations WHERE kind = 'store' ORDER BY id",
    )
    .fetch_all(store.reader())
    .await?;
    rows.iter()
        .map(|row| {
            Ok(StoreOnMap {
                id: col(row, "id")?,
                name_zh: col(row, "name_zh")?,
                name_en: col(row, "name_en")?,
                lat_e6: col(row, "lat_e6")?,
                lng_e6: col(row, "lng_e6")?,
            })
        })
        .collect()
}

/// Sets (or clears) a store's position (audited as `location.position`); 404 for no such store.
pub async fn set_store_position(
    store: &Store,
    id: &str,
    position: Option<(i64, i64)>,
    actor: &str,
) -> AppResult<()> {
    let mut tx = store.begin().await?;
    let done = sqlx::query(
        "UPDATE locations SET lat_e6 = $2, lng_e6 = $3 WHERE id = $1 AND kind = 'store'",
    )
    .bind(id)
    .bind(position.map(|p| p.0))
    .bind(position.map(|p| p.1))
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() == 0 {
        return Err(AppError::not_found(format!("store {id} not found")));
    }
    super::audit::record(
        &mut tx,
        actor,
        "location.position",
        "location",
        id,
        serde_json::json!({ "lat_e6": position.map(|p| p.0), "lng_e6": position.map(|p| p.1) }),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// True when `location` has every line's quantity available (on hand less reserved).
pub async fn has_stock(store: &Store, location: &str, lines: &[(Uuid, i64)]) -> AppResult<bool> {
    for (sku, qty) in lines {
        let row = sqlx::query(
            "SELECT on_hand - reserved AS available FROM stock WHERE location_id = $1 AND sku_id = $2",
        )
        .bind(location)
        .bind(sku.to_string())
        .fetch_optional(store.reader())
        .await?;
        let available = match row {
            Some(row) => col::<i64>(&row, "available")?,
            None => 0,
        };
        if available < *qty {
            return Ok(false);
        }
    }
    Ok(true)
}

/// What a delivery order keeps of its delivery.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct OrderDelivery {
    /// The order.
    pub order_id: Uuid,
    /// The delivery region it fell in (none for orders placed before regions existed).
    pub region_id: Option<Uuid>,
    /// Shipping fee charged, in fen (part of the order's total).
    pub shipping_fen: i64,
    /// Delivery time slot the shopper picked, e.g. `2026-12-05 18:00-20:00` (empty: any).
    pub slot: String,
    /// Delivered the same day from a store in the shopper's city.
    pub same_city: bool,
    /// Carrier, once shipped with a waybill.
    pub carrier: Option<String>,
    /// Waybill number.
    pub waybill: Option<String>,
}

/// Records an order's delivery before it is placed (a retry with the same order id keeps the
/// first).
pub async fn record_order_delivery(store: &Store, d: &OrderDelivery) -> AppResult<()> {
    let now = now_ms();
    sqlx::query(
        "INSERT INTO order_deliveries (order_id, region_id, shipping_fen, slot, same_city, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $6) ON CONFLICT (order_id) DO NOTHING",
    )
    .bind(d.order_id.to_string())
    .bind(d.region_id.map(|r| r.to_string()))
    .bind(d.shipping_fen)
    .bind(&d.slot)
    .bind(i64::from(d.same_city))
    .bind(now)
    .execute(store.writer())
    .await?;
    Ok(())
}

/// An order's delivery, if it is a delivery order placed with one.
pub async fn order_delivery(store: &Store, order: Uuid) -> AppResult<Option<OrderDelivery>> {
    let row = sqlx::query(
        "SELECT order_id, region_id, shipping_fen, slot, same_city, carrier, waybill \
         FROM order_deliveries WHERE order_id = $1",
    )
    .bind(order.to_string())
    .fetch_optional(store.writer())
    .await?;
    row.map(|row| {
        Ok(OrderDelivery {
            order_id: uuid_col(&row, "order_id")?,
            region_id: col::<Option<String>>(&row, "region_id")?.and_then(|r| r.parse().ok()),
            shipping_fen: col(&row, "shipping_fen")?,
            slot: col(&row, "slot")?,
            same_city: col::<i64>(&row, "same_city")? != 0,
            carrier: col(&row, "carrier")?,
            waybill: col(&row, "waybill")?,
        })
    })
    .transpose()
}

/// The shipping fee a delivery order was charged (0 for an order without a delivery record),
/// read in the transaction that refunds it.
pub async fn shipping_fee_in_tx(tx: &mut Tx, order: Uuid) -> AppResult<i64> {
    let row = sqlx::query("SELECT shipping_fen FROM order_deliveries WHERE order_id = $1")
        .bind(order.to_string())
        .fetch_optional(&mut **tx)
        .await?;
    row.map_or(Ok(0), |row| col(&row, "shipping_fen"))
}

/// Records the carrier and waybill of an order inside the transaction that ships it. 409
/// `waybill_in_use` when the carrier's waybill is another order's.
pub async fn set_waybill_in_tx(
    tx: &mut super::Tx,
    order: Uuid,
    carrier: &str,
    waybill: &str,
) -> AppResult<()> {
    let other = sqlx::query(
        "SELECT order_id FROM order_deliveries WHERE carrier = $1 AND waybill = $2 AND order_id <> $3",
    )
    .bind(carrier)
    .bind(waybill)
    .bind(order.to_string())
    .fetch_optional(&mut **tx)
    .await?;
    if other.is_some() {
        return Err(AppError::conflict(
            "waybill_in_use",
            format!("waybill {carrier} {waybill} belongs to another order"),
        ));
    }
    // Orders placed before delivery regions existed have no row yet: one is made (no fee).
    sqlx::query(
        "INSERT INTO order_deliveries (order_id, shipping_fen, carrier, waybill, created_at, updated_at) \
         VALUES ($1, 0, $2, $3, $4, $4) ON CONFLICT (order_id) DO UPDATE SET \
         carrier = excluded.carrier, waybill = excluded.waybill, updated_at = excluded.updated_at",
    )
    .bind(order.to_string())
    .bind(carrier)
    .bind(waybill)
    .bind(now_ms())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The order whose waybill this is.
pub async fn order_of_waybill(
    store: &Store,
    carrier: &str,
    waybill: &str,
) -> AppResult<Option<Uuid>> {
    let row =
        sqlx::query("SELECT order_id FROM order_deliveries WHERE carrier = $1 AND waybill = $2")
            .bind(carrier)
            .bind(waybill)
            .fetch_optional(store.writer())
            .await?;
    row.map(|r| uuid_col(&r, "order_id")).transpose()
}

/// A delivery order's sealed address (`orders.address_enc`), opened; `None` when it has none
/// (pickup, or erased).
pub async fn order_address(store: &Store, keys: &Keys, order: Uuid) -> AppResult<Option<Address>> {
    let row = sqlx::query("SELECT address_enc FROM orders WHERE id = $1")
        .bind(order.to_string())
        .fetch_optional(store.writer())
        .await?;
    let Some(sealed) = row
        .map(|r| col::<Option<String>>(&r, "address_enc"))
        .transpose()?
        .flatten()
    else {
        return Ok(None);
    };
    let plain = keys
        .open(SealedField::OrderAddress, order, &sealed)
        .map_err(|e| AppError::Internal(e.context("order address does not decrypt")))?;
    Ok(Some(serde_json::from_str(&plain).map_err(|e| {
        AppError::Internal(anyhow::Error::new(e).context("order address"))
    })?))
}

/// One tracking event of a shipped order.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct TrackingEvent {
    /// The client's or carrier's id of the event.
    pub event_id: String,
    /// `staff` or `carrier`.
    pub source: String,
    /// Short status, e.g. `in_transit`, `out_for_delivery`, `delivered`.
    pub status: String,
    /// What happened, as the carrier or staff wrote it.
    pub description: String,
    /// Where.
    pub location: String,
    /// When it happened.
    pub happened_at: chrono::DateTime<chrono::Utc>,
}

/// A tracking event to record.
#[derive(Clone, Debug)]
pub struct NewTrackingEvent<'a> {
    /// The order.
    pub order_id: Uuid,
    /// The event's id (its resend is recorded once).
    pub event_id: &'a str,
    /// `staff` or `carrier`.
    pub source: &'a str,
    /// Short status.
    pub status: &'a str,
    /// Description.
    pub description: &'a str,
    /// Where.
    pub location: &'a str,
    /// When, ms since the epoch.
    pub happened_at: i64,
    /// Who recorded it.
    pub created_by: &'a str,
}

/// Records a tracking event once by its event id (audited as `delivery.tracking`); answers
/// false when it was recorded already.
pub async fn add_tracking_event(store: &Store, e: &NewTrackingEvent<'_>) -> AppResult<bool> {
    let mut tx = store.begin().await?;
    let done = sqlx::query(
        "INSERT INTO tracking_events (id, order_id, event_id, source, status, description, location, happened_at, created_by, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (event_id) DO NOTHING",
    )
    .bind(retail_domain::ids::new_id().to_string())
    .bind(e.order_id.to_string())
    .bind(e.event_id)
    .bind(e.source)
    .bind(e.status)
    .bind(e.description)
    .bind(e.location)
    .bind(e.happened_at)
    .bind(e.created_by)
    .bind(now_ms())
    .execute(&mut *tx)
    .await?;
    let new = done.rows_affected() > 0;
    if new {
        super::audit::record(
            &mut tx,
            e.created_by,
            "delivery.tracking",
            "order",
            &e.order_id.to_string(),
            serde_json::json!({ "event_id": e.event_id, "source": e.source, "status": e.status }),
        )
        .await?;
        let head = super::orders::lock_head(&mut tx, store, e.order_id).await?;
        super::notices::record_tracking_in_tx(&mut tx, &head, e.status).await?;
    }
    tx.commit().await?;
    Ok(new)
}

/// An order's tracking events, oldest first.
pub async fn tracking_events(store: &Store, order: Uuid) -> AppResult<Vec<TrackingEvent>> {
    let rows = sqlx::query(
        "SELECT event_id, source, status, description, location, happened_at FROM tracking_events \
         WHERE order_id = $1 ORDER BY happened_at, created_at, id",
    )
    .bind(order.to_string())
    .fetch_all(store.writer())
    .await?;
    rows.iter()
        .map(|row| {
            Ok(TrackingEvent {
                event_id: col(row, "event_id")?,
                source: col(row, "source")?,
                status: col(row, "status")?,
                description: col(row, "description")?,
                location: col(row, "location")?,
                happened_at: from_ms(col(row, "happened_at")?),
            })
        })
        .collect()
}

/// Paid delivery orders waiting to be shipped from `location` (`None`: every location), oldest
/// first: the pick-and-pack list (group-buy orders only once their team filled).
pub async fn to_ship(store: &Store, location: Option<&str>) -> AppResult<Vec<Uuid>> {
    let rows = sqlx::query(
        "SELECT id FROM orders WHERE fulfilment = 'delivery' AND status = 'paid' \
         AND ($1 IS NULL OR location_id = $1) AND NOT EXISTS (SELECT 1 FROM group_members gm \
         JOIN group_teams gt ON gt.id = gm.team_id WHERE gm.order_id = orders.id \
         AND gt.status <> 'filled') ORDER BY created_at, id",
    )
    .bind(location)
    .fetch_all(store.reader())
    .await?;
    rows.iter().map(|r| uuid_col(r, "id")).collect()
}

/// Records that a staff member was shown an order's full delivery address (audit action
/// `delivery.address_read`).
pub async fn audit_address_read(store: &Store, actor: &str, order: Uuid) -> AppResult<()> {
    let mut tx = store.begin().await?;
    super::audit::record(
        &mut tx,
        actor,
        "delivery.address_read",
        "order",
        &order.to_string(),
        serde_json::json!({}),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masked_address_hides_the_recipient_phone_and_street() {
        let a = Address {
            name: "张三丰".into(),
            phone: "13800138000".into(),
            province: "浙江".into(),
            city: "杭州".into(),
            address: "西湖区文三路 100 号 2 幢".into(),
            ..Address::default()
        };
        let m = a.masked();
        assert_eq!(m, "张* 138****8000 浙江杭州 西湖区文三路****");
        assert!(!m.contains("100"));
        assert!(!m.contains("三丰"));
    }
}
