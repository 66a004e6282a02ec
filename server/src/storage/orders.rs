//! Orders: the statements the order writer (`app::order_intake`) and the order state machine
//! (`app::orders`) are made of — retries found by id, stock rows locked and read, the batch's
//! rows written, status changes with their events — and the order reads.

use std::collections::{BTreeMap, HashMap, HashSet};

use retail_domain::money::Money;
use retail_domain::order::{Channel, Fulfilment, OrderStatus};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{col, from_ms, now_ms, parse_col, placeholders, uuid_col, Store, Tx};
use crate::error::{AppError, AppResult};

use super::{insert_rows, MAX_PARAMS};

/// A line of an order being placed (prices already resolved).
#[derive(Clone, Debug)]
pub struct NewOrderLine {
    /// SKU.
    pub sku_id: Uuid,
    /// Name at the time of the order.
    pub name: String,
    /// Units, or grams for a weighed item.
    pub qty: i64,
    /// Unit price (fen; per kg for a weighed item).
    pub unit_price_fen: i64,
    /// Discount allocated to the line (fen).
    pub discount_fen: i64,
    /// Amount payable for the line (fen).
    pub amount_fen: i64,
    /// A weighed item: `qty` is grams, and the line is one unit toward the unpaid caps.
    pub weighed: bool,
}

impl NewOrderLine {
    /// Units the line counts for toward the unpaid caps: its quantity, or 1 for a weighed item
    /// (whose quantity is grams).
    pub fn units(&self) -> i64 {
        if self.weighed {
            1
        } else {
            self.qty
        }
    }
}

/// An order being placed.
#[derive(Clone, Debug)]
pub struct NewOrder {
    /// Client id.
    pub id: Uuid,
    /// Human-facing order number (attempt 0; collisions are resolved while placing).
    pub order_no_prefix: &'static str,
    /// Channel.
    pub channel: Channel,
    /// Fulfilment.
    pub fulfilment: Fulfilment,
    /// Where stock is reserved (warehouse for delivery, the store for pickup).
    pub location_id: String,
    /// Member, if logged in.
    pub member_id: Option<Uuid>,
    /// Lines.
    pub lines: Vec<NewOrderLine>,
    /// Sum before discounts (fen).
    pub subtotal_fen: i64,
    /// Discounts (fen).
    pub discount_fen: i64,
    /// Payable (fen).
    pub total_fen: i64,
    /// Encrypted delivery address.
    pub address_enc: Option<String>,
    /// 6-digit pickup code for pickup orders.
    pub pickup_code: Option<String>,
    /// Who placed it.
    pub created_by: String,
    /// Client timestamp (ms).
    pub client_ts: i64,
    /// Payment deadline (ms).
    pub expires_at: i64,
    /// Flash-sale units the order takes.
    pub flash_claims: Vec<super::promotions::FlashClaim>,
    /// The member's coupons the order uses.
    pub coupons: Vec<Uuid>,
    /// Points the order redeems.
    pub points_redeemed: i64,
    /// How it was priced (JSON: promotions and coupons applied, explanation).
    pub pricing: Option<String>,
    /// The client address it came from ([`crate::actor::ClientAddr::limit_key`]), for the caps
    /// on unpaid orders per address.
    pub client_key: Option<String>,
}

/// The result of placing an order.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct OrderPlaced {
    /// Order id.
    pub id: Uuid,
    /// Order number.
    pub order_no: String,
    /// Current status.
    pub status: OrderStatus,
    /// Payable.
    pub total: Money,
    /// Payment deadline.
    pub expires_at: Option<chrono::DateTime<chrono::Utc>>,
    /// False when this was a retry of an order placed earlier.
    pub created: bool,
}

/// A whole order, as shown to staff and shoppers.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct OrderView {
    /// Id.
    pub id: Uuid,
    /// Number.
    pub order_no: String,
    /// Channel.
    pub channel: Channel,
    /// Fulfilment.
    pub fulfilment: Fulfilment,
    /// Status.
    pub status: OrderStatus,
    /// Stock location (store for pickup and POS, warehouse for delivery).
    pub location_id: String,
    /// Member.
    pub member_id: Option<Uuid>,
    /// Lines.
    pub lines: Vec<OrderLineView>,
    /// Before discounts.
    pub subtotal: Money,
    /// Discounts.
    pub discount: Money,
    /// Payable.
    pub total: Money,
    /// Points earned.
    pub points_earned: i64,
    /// Pickup code (pickup orders).
    pub pickup_code: Option<String>,
    /// Created.
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// Payment deadline while pending.
    pub expires_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Status history.
    pub events: Vec<OrderEventView>,
}

/// One order line.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct OrderLineView {
    /// Line number.
    pub line_no: i64,
    /// SKU.
    pub sku_id: Uuid,
    /// Name.
    pub name: String,
    /// Units.
    pub qty: i64,
    /// Unit price.
    pub unit_price: Money,
    /// Discount.
    pub discount: Money,
    /// Amount paid for the line.
    pub amount: Money,
    /// Units returned so far.
    pub returned_qty: i64,
}

/// One status change.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct OrderEventView {
    /// From (none for creation).
    pub from: Option<OrderStatus>,
    /// To.
    pub to: OrderStatus,
    /// Who.
    pub actor: String,
    /// Why.
    pub reason: String,
    /// When.
    pub at: chrono::DateTime<chrono::Utc>,
}

/// The orders already placed under these ids (retries), by id.
pub async fn placed_by_ids(tx: &mut Tx, ids: &[String]) -> AppResult<HashMap<Uuid, OrderPlaced>> {
    let mut existing: HashMap<Uuid, OrderPlaced> = HashMap::new();
    for chunk in ids.chunks(super::text_in_chunk(tx, 0)) {
        let (list, binds) = super::text_in(tx, "id", 1, chunk);
        let sql =
            format!("SELECT id, order_no, status, total_fen, expires_at FROM orders WHERE {list}");
        let mut query = sqlx::query(&sql);
        for value in &binds {
            query = query.bind(value.as_str());
        }
        for row in query.fetch_all(&mut **tx).await? {
            let placed = placed_from_row(&row, false)?;
            existing.insert(placed.id, placed);
        }
    }
    Ok(existing)
}

/// What a client or a member holds in unpaid orders: how many, and how many units they reserve.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Unpaid {
    /// Unpaid orders.
    pub orders: i64,
    /// Units those orders reserve.
    pub units: i64,
}

/// The unpaid orders held by each of these client keys (`ip:…`) and members; keys holding none
/// are absent.
pub async fn unpaid_holdings(
    tx: &mut Tx,
    clients: &[String],
    members: &[String],
) -> AppResult<(HashMap<String, Unpaid>, HashMap<Uuid, Unpaid>)> {
    let mut by_client = HashMap::new();
    let mut by_member = HashMap::new();
    for (column, keys, is_member) in [("client_key", clients, false), ("member_id", members, true)]
    {
        for chunk in keys.chunks(super::text_in_chunk(tx, 0)) {
            if chunk.is_empty() {
                continue;
            }
            let (list, binds) = super::text_in(tx, column, 1, chunk);
            let sql = format!(
                "SELECT {column} AS k, COUNT(*) AS n, CAST(COALESCE(SUM(units), 0) AS BIGINT) AS u \
                 FROM orders WHERE status = 'pending_payment' AND {list} GROUP BY {column}"
            );
            let mut query = sqlx::query(&sql);
            for value in &binds {
                query = query.bind(value.as_str());
            }
            for row in query.fetch_all(&mut **tx).await? {
                let held = Unpaid {
                    orders: col(&row, "n")?,
                    units: col(&row, "u")?,
                };
                if is_member {
                    by_member.insert(uuid_col(&row, "k")?, held);
                } else {
                    by_client.insert(col::<String>(&row, "k")?, held);
                }
            }
        }
    }
    Ok((by_client, by_member))
}

/// Locks (on PostgreSQL) and reads the stock rows of these SKUs at these locations, in key order:
/// what is available (on hand − reserved) of each.
pub async fn lock_available(
    tx: &mut Tx,
    store: &Store,
    wanted: &BTreeMap<&str, HashSet<Uuid>>,
) -> AppResult<HashMap<(String, Uuid), i64>> {
    let mut available: HashMap<(String, Uuid), i64> = HashMap::new();
    for (location, skus) in wanted {
        let mut skus: Vec<String> = skus.iter().map(Uuid::to_string).collect();
        skus.sort();
        for chunk in skus.chunks(MAX_PARAMS - 1) {
            let sql = format!(
                "SELECT sku_id, on_hand, reserved FROM stock WHERE location_id = {} AND sku_id IN ({}) ORDER BY sku_id{}",
                super::list_placeholders(tx, 1, 1),
                super::list_placeholders(tx, 2, chunk.len()),
                store.for_update()
            );
            let mut query = sqlx::query(&sql).bind(*location);
            for sku in chunk {
                query = query.bind(sku);
            }
            for row in query.fetch_all(&mut **tx).await? {
                let on_hand: i64 = col(&row, "on_hand")?;
                let reserved: i64 = col(&row, "reserved")?;
                available.insert(
                    ((*location).to_owned(), uuid_col(&row, "sku_id")?),
                    on_hand - reserved,
                );
            }
        }
    }
    Ok(available)
}

/// Which of these new order numbers are taken already.
pub async fn numbers_taken(tx: &mut Tx, all: &[&String]) -> AppResult<HashSet<String>> {
    let mut taken: HashSet<String> = HashSet::new();
    for chunk in all.chunks(super::text_in_chunk(tx, 0)) {
        let (list, binds) = super::text_in(tx, "order_no", 1, chunk);
        let sql = format!("SELECT order_no FROM orders WHERE {list}");
        let mut query = sqlx::query(&sql);
        for value in &binds {
            query = query.bind(value.as_str());
        }
        for row in query.fetch_all(&mut **tx).await? {
            taken.insert(col(&row, "order_no")?);
        }
    }
    Ok(taken)
}

/// Writes the accepted orders of a batch (`accepted` indexes `orders`, with each order's
/// number): the order rows, their lines and their first events, several rows per statement.
pub async fn insert_placed(
    tx: &mut Tx,
    orders: &[NewOrder],
    accepted: &[(usize, String)],
    now: i64,
) -> AppResult<()> {
    struct LineRow<'a> {
        order: &'a NewOrder,
        line_no: i64,
        line: &'a NewOrderLine,
    }
    let line_rows: Vec<LineRow<'_>> = accepted
        .iter()
        .flat_map(|(i, _)| {
            let order = &orders[*i];
            order
                .lines
                .iter()
                .enumerate()
                .map(move |(n, line)| LineRow {
                    order,
                    line_no: n as i64 + 1,
                    line,
                })
        })
        .collect();
    let order_rows: Vec<(&NewOrder, &String, String)> = accepted
        .iter()
        .map(|(i, n)| (&orders[*i], n, retail_domain::ids::new_id().to_string()))
        .collect();
    insert_rows(
        tx,
        "orders",
        &[
            "id",
            "order_no",
            "channel",
            "fulfilment",
            "status",
            "location_id",
            "member_id",
            "subtotal_fen",
            "discount_fen",
            "total_fen",
            "address_enc",
            "pickup_code",
            "created_by",
            "client_ts",
            "created_at",
            "updated_at",
            "expires_at",
            "points_redeemed",
            "pricing",
            "client_key",
            "units",
        ],
        &order_rows,
        |q, (o, n, _)| {
            q.bind(o.id.to_string())
                .bind(n.as_str())
                .bind(o.channel.as_str())
                .bind(o.fulfilment.as_str())
                .bind(OrderStatus::PendingPayment.as_str())
                .bind(o.location_id.as_str())
                .bind(o.member_id.map(|m| m.to_string()))
                .bind(o.subtotal_fen)
                .bind(o.discount_fen)
                .bind(o.total_fen)
                .bind(o.address_enc.as_deref())
                .bind(o.pickup_code.as_deref())
                .bind(o.created_by.as_str())
                .bind(o.client_ts)
                .bind(now)
                .bind(now)
                .bind(o.expires_at)
                .bind(o.points_redeemed)
                .bind(o.pricing.as_deref())
                .bind(o.client_key.as_deref())
                .bind(o.lines.iter().map(NewOrderLine::units).sum::<i64>())
        },
    )
    .await?;
    insert_rows(
        tx,
        "order_lines",
        &[
            "order_id",
            "line_no",
            "sku_id",
            "name",
            "qty",
            "unit_price_fen",
            "discount_fen",
            "amount_fen",
        ],
        &line_rows,
        |q, r| {
            q.bind(r.order.id.to_string())
                .bind(r.line_no)
                .bind(r.line.sku_id.to_string())
                .bind(r.line.name.as_str())
                .bind(r.line.qty)
                .bind(r.line.unit_price_fen)
                .bind(r.line.discount_fen)
                .bind(r.line.amount_fen)
        },
    )
    .await?;
    insert_rows(
        tx,
        "order_events",
        ORDER_EVENT_COLUMNS,
        &order_rows,
        |q, (o, _, event_id)| {
            q.bind(event_id.as_str())
                .bind(o.id.to_string())
                .bind(None::<String>)
                .bind(OrderStatus::PendingPayment.as_str())
                .bind(o.created_by.as_str())
                .bind("placed")
                .bind(now)
        },
    )
    .await?;
    Ok(())
}

/// Of `ids`, the coupons still available (locked until the transaction ends on PostgreSQL).
pub async fn available_coupons(
    tx: &mut Tx,
    store: &Store,
    ids: &[Uuid],
) -> AppResult<HashSet<Uuid>> {
    let mut out = HashSet::new();
    for chunk in ids.chunks(MAX_PARAMS) {
        let sql = format!(
            "SELECT id FROM coupons WHERE status = 'available' AND id IN ({}) ORDER BY id{}",
            placeholders(1, chunk.len()),
            store.for_update()
        );
        let mut query = sqlx::query(&sql);
        for id in chunk {
            query = query.bind(id.to_string());
        }
        for row in query.fetch_all(&mut **tx).await? {
            out.insert(uuid_col(&row, "id")?);
        }
    }
    Ok(out)
}

/// Points balances of `members` (their member rows locked on PostgreSQL).
pub async fn points_balances(
    tx: &mut Tx,
    store: &Store,
    members: &[Uuid],
) -> AppResult<HashMap<Uuid, i64>> {
    let mut out = HashMap::new();
    let mut members: Vec<String> = members.iter().map(Uuid::to_string).collect();
    members.sort();
    members.dedup();
    for chunk in members.chunks(MAX_PARAMS) {
        let lock = format!(
            "SELECT id FROM members WHERE id IN ({}) ORDER BY id{}",
            placeholders(1, chunk.len()),
            store.for_update()
        );
        let mut query = sqlx::query(&lock);
        for id in chunk {
            query = query.bind(id.as_str());
        }
        query.fetch_all(&mut **tx).await?;
        let sql = format!(
            "SELECT member_id, CAST(COALESCE(SUM(delta), 0) AS BIGINT) AS total FROM points_ledger \
             WHERE member_id IN ({}) GROUP BY member_id",
            placeholders(1, chunk.len())
        );
        let mut query = sqlx::query(&sql);
        for id in chunk {
            query = query.bind(id.as_str());
        }
        for row in query.fetch_all(&mut **tx).await? {
            out.insert(uuid_col(&row, "member_id")?, col(&row, "total")?);
        }
    }
    Ok(out)
}

fn placed_from_row(row: &sqlx::any::AnyRow, created: bool) -> AppResult<OrderPlaced> {
    Ok(OrderPlaced {
        id: uuid_col(row, "id")?,
        order_no: col(row, "order_no")?,
        status: parse_col(row, "status")?,
        total: Money::from_fen(col(row, "total_fen")?),
        expires_at: col::<Option<i64>>(row, "expires_at")?.map(from_ms),
        created,
    })
}

/// The header of an order, as locked inside a transaction.
#[derive(Clone, Debug)]
pub struct OrderHead {
    /// Id.
    pub id: Uuid,
    /// Number.
    pub order_no: String,
    /// Channel.
    pub channel: Channel,
    /// Fulfilment.
    pub fulfilment: Fulfilment,
    /// Status.
    pub status: OrderStatus,
    /// Stock location.
    pub location_id: String,
    /// Member.
    pub member_id: Option<Uuid>,
    /// Payable (fen).
    pub total_fen: i64,
    /// Points earned.
    pub points_earned: i64,
    /// Points redeemed on the order.
    pub points_redeemed: i64,
    /// Pickup code.
    pub pickup_code: Option<String>,
}

const HEAD_COLUMNS: &str =
    "id, order_no, channel, fulfilment, status, location_id, member_id, total_fen, \
     points_earned, points_redeemed, pickup_code";

fn head_from_row(row: &sqlx::any::AnyRow) -> AppResult<OrderHead> {
    Ok(OrderHead {
        id: uuid_col(row, "id")?,
        order_no: col(row, "order_no")?,
        channel: parse_col(row, "channel")?,
        fulfilment: parse_col(row, "fulfilment")?,
        status: parse_col(row, "status")?,
        location_id: col(row, "location_id")?,
        member_id: col::<Option<String>>(row, "member_id")?
            .map(|m| m.parse())
            .transpose()
            .map_err(|e: uuid::Error| AppError::Internal(e.into()))?,
        total_fen: col(row, "total_fen")?,
        points_earned: col(row, "points_earned")?,
        points_redeemed: col(row, "points_redeemed")?,
        pickup_code: col(row, "pickup_code")?,
    })
}

/// True when the order exists (read inside a transaction).
pub async fn exists_in_tx(tx: &mut Tx, id: Uuid) -> AppResult<bool> {
    Ok(sqlx::query("SELECT 1 AS found FROM orders WHERE id = $1")
        .bind(id.to_string())
        .fetch_optional(&mut **tx)
        .await?
        .is_some())
}

/// Reads (and on PostgreSQL locks) an order's header inside a transaction.
pub async fn lock_head(tx: &mut Tx, store: &Store, id: Uuid) -> AppResult<OrderHead> {
    let sql = format!(
        "SELECT {HEAD_COLUMNS} FROM orders WHERE id = $1{}",
        store.for_update()
    );
    let row = sqlx::query(&sql)
        .bind(id.to_string())
        .fetch_optional(&mut **tx)
        .await?
        .ok_or_else(|| AppError::not_found(format!("order {id} not found")))?;
    head_from_row(&row)
}

/// The columns of an `order_events` row, in the order their values are bound.
pub(crate) const ORDER_EVENT_COLUMNS: &[&str] = &[
    "id",
    "order_id",
    "from_status",
    "to_status",
    "actor",
    "reason",
    "at",
];

/// Reads (and on PostgreSQL locks, in id order) the headers of the orders `ids` inside a
/// transaction; unknown ids are left out.
pub async fn lock_heads(
    tx: &mut Tx,
    store: &Store,
    ids: &[Uuid],
) -> AppResult<HashMap<Uuid, OrderHead>> {
    let mut ids: Vec<String> = ids.iter().map(Uuid::to_string).collect();
    ids.sort();
    ids.dedup();
    let sql = format!(
        "SELECT {HEAD_COLUMNS} FROM orders WHERE {{in}} ORDER BY id{}",
        store.for_update()
    );
    let rows = super::fetch_where_in(tx, &sql, "id", &ids).await?;
    rows.iter()
        .map(|row| head_from_row(row).map(|h| (h.id, h)))
        .collect()
}

/// An order's payment deadline (Unix ms), while it has one.
pub async fn expiry(pool: &sqlx::AnyPool, id: Uuid) -> AppResult<Option<i64>> {
    let row = sqlx::query("SELECT expires_at FROM orders WHERE id = $1")
        .bind(id.to_string())
        .fetch_optional(pool)
        .await?;
    match row {
        Some(row) => col(&row, "expires_at"),
        None => Ok(None),
    }
}

/// Reads an order's header without a lock.
pub async fn head(pool: &sqlx::AnyPool, id: Uuid) -> AppResult<OrderHead> {
    let row = sqlx::query(&format!("SELECT {HEAD_COLUMNS} FROM orders WHERE id = $1"))
        .bind(id.to_string())
        .fetch_optional(pool)
        .await?
        .ok_or_else(|| AppError::not_found(format!("order {id} not found")))?;
    head_from_row(&row)
}

/// (line_no, sku, qty, amount_fen, returned_qty) of an order's lines.
pub async fn lines_in_tx(tx: &mut Tx, id: Uuid) -> AppResult<Vec<(i64, Uuid, i64, i64, i64)>> {
    let rows = sqlx::query(
        "SELECT line_no, sku_id, qty, amount_fen, returned_qty FROM order_lines WHERE order_id = $1 ORDER BY line_no",
    )
    .bind(id.to_string())
    .fetch_all(&mut **tx)
    .await?;
    rows.iter()
        .map(|r| {
            Ok((
                col(r, "line_no")?,
                uuid_col(r, "sku_id")?,
                col(r, "qty")?,
                col(r, "amount_fen")?,
                col(r, "returned_qty")?,
            ))
        })
        .collect()
}

/// (line_no, name) of an order's lines.
pub async fn line_names_in_tx(tx: &mut Tx, id: Uuid) -> AppResult<Vec<(i64, String)>> {
    let rows =
        sqlx::query("SELECT line_no, name FROM order_lines WHERE order_id = $1 ORDER BY line_no")
            .bind(id.to_string())
            .fetch_all(&mut **tx)
            .await?;
    rows.iter()
        .map(|r| Ok((col(r, "line_no")?, col(r, "name")?)))
        .collect()
}

/// Writes a status change (after [`check_transition`]) with its event row. The application
/// layer adds the member's notice in the same transaction (`app::orders::record_status`).
pub async fn set_status(
    tx: &mut Tx,
    head: &OrderHead,
    to: OrderStatus,
    actor: &str,
    reason: &str,
) -> AppResult<()> {
    set_statuses(tx, &[head], to, actor, reason).await
}

/// [`set_status`] for many orders at once (one update, one multi-row insert of their events),
/// each moving from its own status to `to`.
pub async fn set_statuses(
    tx: &mut Tx,
    heads: &[&OrderHead],
    to: OrderStatus,
    actor: &str,
    reason: &str,
) -> AppResult<()> {
    let now = now_ms();
    let ids: Vec<String> = heads.iter().map(|h| h.id.to_string()).collect();
    for chunk in ids.chunks(super::text_in_chunk(tx, 2)) {
        let (list, binds) = super::text_in(tx, "id", 3, chunk);
        let sql = format!(
            "UPDATE orders SET status = {}, updated_at = {} WHERE {list}",
            super::list_placeholders(tx, 1, 1),
            super::list_placeholders(tx, 2, 1)
        );
        let mut query = sqlx::query(&sql).bind(to.as_str()).bind(now);
        for value in &binds {
            query = query.bind(value.as_str());
        }
        query.execute(&mut **tx).await?;
    }
    let events: Vec<(String, &OrderHead)> = heads
        .iter()
        .map(|h| (retail_domain::ids::new_id().to_string(), *h))
        .collect();
    super::insert_rows(
        tx,
        "order_events",
        ORDER_EVENT_COLUMNS,
        &events,
        |query, (id, head)| {
            query
                .bind(id.as_str())
                .bind(head.id.to_string())
                .bind(head.status.as_str())
                .bind(to.as_str())
                .bind(actor)
                .bind(reason)
                .bind(now)
        },
    )
    .await
}

/// Clears an order's payment deadline (it is paid).
pub async fn clear_expiry(tx: &mut Tx, id: Uuid) -> AppResult<()> {
    clear_expiries(tx, &[id]).await
}

/// [`clear_expiry`] for many orders in one statement.
pub async fn clear_expiries(tx: &mut Tx, ids: &[Uuid]) -> AppResult<()> {
    let ids: Vec<String> = ids.iter().map(Uuid::to_string).collect();
    super::fetch_where_in(
        tx,
        "UPDATE orders SET expires_at = NULL WHERE {in}",
        "id",
        &ids,
    )
    .await?;
    Ok(())
}

/// Records the points an order earned.
pub async fn set_order_points_earned(tx: &mut Tx, id: Uuid, points: i64) -> AppResult<()> {
    sqlx::query("UPDATE orders SET points_earned = $1 WHERE id = $2")
        .bind(points)
        .bind(id.to_string())
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Ids of unpaid orders past their payment deadline (oldest first).
pub async fn overdue_unpaid(store: &Store, now: i64, limit: i64) -> AppResult<Vec<Uuid>> {
    let rows = sqlx::query(
        "SELECT id FROM orders WHERE status = 'pending_payment' AND expires_at <= $1 ORDER BY expires_at LIMIT $2",
    )
    .bind(now)
    .bind(limit)
    .fetch_all(store.reader())
    .await?;
    rows.iter().map(|r| uuid_col(r, "id")).collect()
}

/// The shopper's scan-and-go visit number of `order` (1 = the member's first): how many of the
/// member's scan-and-go orders were paid (not unpaid, not cancelled), counting this one and those
/// placed before it, in every store.
pub async fn scan_and_go_visit(store: &Store, member: Uuid, order: Uuid) -> AppResult<i64> {
    let row = sqlx::query(
        "SELECT COUNT(*) AS n FROM orders o, orders mine \
         WHERE mine.id = $2 AND o.member_id = $1 AND o.channel = 'scan_and_go' \
         AND o.status NOT IN ('pending_payment', 'cancelled') \
         AND (o.created_at < mine.created_at OR (o.created_at = mine.created_at AND o.id <= mine.id))",
    )
    .bind(member.to_string())
    .bind(order.to_string())
    .fetch_one(store.writer())
    .await?;
    col(&row, "n")
}

/// Ids of pickup orders ready since before `ready_before` (ms) and still not collected.
pub async fn uncollected(store: &Store, ready_before: i64, limit: i64) -> AppResult<Vec<Uuid>> {
    let rows = sqlx::query(
        "SELECT id FROM orders WHERE status = 'ready_for_pickup' AND updated_at <= $1 ORDER BY updated_at LIMIT $2",
    )
    .bind(ready_before)
    .bind(limit)
    .fetch_all(store.reader())
    .await?;
    rows.iter().map(|r| uuid_col(r, "id")).collect()
}

/// Keyset paging of order lists, newest first: orders created before the cursor order `$3`
/// (ties by id), at most `$4`.
const NEWEST_BEFORE: &str = "AND ($3 IS NULL OR created_at < (SELECT c.created_at FROM orders c \
     WHERE c.id = $3) OR (created_at = (SELECT c.created_at FROM orders c WHERE c.id = $3) \
     AND id < $3)) ORDER BY created_at DESC, id DESC LIMIT $4";

/// Orders, newest first, optionally at one location and in one status, a page at a time
/// (`before`: the last order of the previous page).
pub async fn list(
    store: &Store,
    location: Option<&str>,
    status: Option<OrderStatus>,
    before: Option<Uuid>,
    limit: i64,
) -> AppResult<Vec<OrderPlaced>> {
    // Keyset paging, newest first: orders created before the cursor order (ties by id).
    let rows = sqlx::query(&format!(
        "SELECT id, order_no, status, total_fen, expires_at FROM orders \
         WHERE ($1 IS NULL OR location_id = $1) AND ($2 IS NULL OR status = $2) {NEWEST_BEFORE}"
    ))
    .bind(location)
    .bind(status.map(|s| s.as_str()))
    .bind(before.map(|b| b.to_string()))
    .bind(limit)
    .fetch_all(store.reader())
    .await?;
    rows.iter().map(|r| placed_from_row(r, false)).collect()
}

/// The merchant whose goods an order holds when every line is one merchant's product (a
/// checkout's order always is); `None` for an order of several merchants' goods or none.
pub async fn merchant_of(store: &Store, id: Uuid) -> AppResult<Option<String>> {
    let row = sqlx::query(
        "SELECT MIN(p.merchant_id) AS low, MAX(p.merchant_id) AS high FROM order_lines ol \
         JOIN skus s ON s.id = ol.sku_id JOIN products p ON p.id = s.product_id \
         WHERE ol.order_id = $1",
    )
    .bind(id.to_string())
    .fetch_one(store.reader())
    .await?;
    let low: Option<String> = col(&row, "low")?;
    let high: Option<String> = col(&row, "high")?;
    Ok(low.filter(|l| Some(l) == high.as_ref()))
}

/// A merchant's orders (every line one of its products), newest first, a page at a time like
/// [`list`].
pub async fn list_of_merchant(
    store: &Store,
    merchant: &str,
    status: Option<OrderStatus>,
    before: Option<Uuid>,
    limit: i64,
) -> AppResult<Vec<OrderPlaced>> {
    let rows = sqlx::query(&format!(
        "SELECT id, order_no, status, total_fen, expires_at FROM orders \
         WHERE id IN (SELECT ol.order_id FROM order_lines ol JOIN skus s ON s.id = ol.sku_id \
                      JOIN products p ON p.id = s.product_id WHERE p.merchant_id = $1) \
         AND NOT EXISTS (SELECT 1 FROM order_lines ol JOIN skus s ON s.id = ol.sku_id \
                         JOIN products p ON p.id = s.product_id \
                         WHERE ol.order_id = orders.id AND p.merchant_id <> $1) \
         AND ($2 IS NULL OR status = $2) {NEWEST_BEFORE}"
    ))
    .bind(merchant)
    .bind(status.map(|s| s.as_str()))
    .bind(before.map(|b| b.to_string()))
    .bind(limit)
    .fetch_all(store.reader())
    .await?;
    rows.iter().map(|r| placed_from_row(r, false)).collect()
}

/// The columns of an order's head that [`view_from_rows`] reads.
const VIEW_COLUMNS: &str = "SELECT id, order_no, channel, fulfilment, status, location_id, member_id, \
     subtotal_fen, discount_fen, total_fen, points_earned, pickup_code, created_at, expires_at FROM orders";
const VIEW_LINES: &str =
    "SELECT order_id, line_no, sku_id, name, qty, unit_price_fen, discount_fen, \
     amount_fen, returned_qty FROM order_lines";
const VIEW_EVENTS: &str =
    "SELECT order_id, from_status, to_status, actor, reason, at FROM order_events";

/// One whole order with lines and history.
pub async fn get(store: &Store, id: Uuid) -> AppResult<OrderView> {
    let pool = store.writer();
    let row = sqlx::query(&format!("{VIEW_COLUMNS} WHERE id = $1"))
        .bind(id.to_string())
        .fetch_optional(pool)
        .await?
        .ok_or_else(|| AppError::not_found(format!("order {id} not found")))?;
    let lines = sqlx::query(&format!(
        "{VIEW_LINES} WHERE order_id = $1 ORDER BY line_no"
    ))
    .bind(id.to_string())
    .fetch_all(pool)
    .await?;
    let events = sqlx::query(&format!(
        "{VIEW_EVENTS} WHERE order_id = $1 ORDER BY at, id"
    ))
    .bind(id.to_string())
    .fetch_all(pool)
    .await?;
    view_from_rows(id, &row, &lines, &events)
}

/// The whole orders with these ids that exist, with lines and history (for the change feed):
/// three reads whatever the number.
pub async fn get_many(store: &Store, ids: &[Uuid]) -> AppResult<HashMap<Uuid, OrderView>> {
    let keys: Vec<String> = ids.iter().map(Uuid::to_string).collect();
    let heads = super::rows_by_keys(store, VIEW_COLUMNS, "id", "", &keys).await?;
    let mut lines: HashMap<String, Vec<sqlx::any::AnyRow>> = HashMap::new();
    for row in super::rows_by_keys(store, VIEW_LINES, "order_id", "ORDER BY line_no", &keys).await?
    {
        lines.entry(col(&row, "order_id")?).or_default().push(row);
    }
    let mut events: HashMap<String, Vec<sqlx::any::AnyRow>> = HashMap::new();
    for row in super::rows_by_keys(store, VIEW_EVENTS, "order_id", "ORDER BY at, id", &keys).await?
    {
        events.entry(col(&row, "order_id")?).or_default().push(row);
    }
    let mut out = HashMap::with_capacity(heads.len());
    for row in &heads {
        let key: String = col(row, "id")?;
        let id = uuid_col(row, "id")?;
        let view = view_from_rows(
            id,
            row,
            lines.get(&key).map(Vec::as_slice).unwrap_or_default(),
            events.get(&key).map(Vec::as_slice).unwrap_or_default(),
        )?;
        out.insert(id, view);
    }
    Ok(out)
}

/// An order's view from its head row, its line rows (by line number) and its event rows (by
/// time).
fn view_from_rows(
    id: Uuid,
    row: &sqlx::any::AnyRow,
    lines: &[sqlx::any::AnyRow],
    events: &[sqlx::any::AnyRow],
) -> AppResult<OrderView> {
    let status: OrderStatus = parse_col(row, "status")?;
    Ok(OrderView {
        id,
        order_no: col(row, "order_no")?,
        channel: parse_col(row, "channel")?,
        fulfilment: parse_col(row, "fulfilment")?,
        status,
        location_id: col(row, "location_id")?,
        member_id: col::<Option<String>>(row, "member_id")?
            .map(|m| m.parse())
            .transpose()
            .map_err(|e: uuid::Error| AppError::Internal(e.into()))?,
        lines: lines
            .iter()
            .map(|l| {
                Ok(OrderLineView {
                    line_no: col(l, "line_no")?,
                    sku_id: uuid_col(l, "sku_id")?,
                    name: col(l, "name")?,
                    qty: col(l, "qty")?,
                    unit_price: Money::from_fen(col(l, "unit_price_fen")?),
                    discount: Money::from_fen(col(l, "discount_fen")?),
                    amount: Money::from_fen(col(l, "amount_fen")?),
                    returned_qty: col(l, "returned_qty")?,
                })
            })
            .collect::<AppResult<_>>()?,
        subtotal: Money::from_fen(col(row, "subtotal_fen")?),
        discount: Money::from_fen(col(row, "discount_fen")?),
        total: Money::from_fen(col(row, "total_fen")?),
        points_earned: col(row, "points_earned")?,
        pickup_code: col(row, "pickup_code")?,
        created_at: from_ms(col(row, "created_at")?),
        expires_at: if status == OrderStatus::PendingPayment {
            col::<Option<i64>>(row, "expires_at")?.map(from_ms)
        } else {
            None
        },
        events: events
            .iter()
            .map(|e| {
                Ok(OrderEventView {
                    from: col::<Option<String>>(e, "from_status")?
                        .map(|s| s.parse())
                        .transpose()
                        .map_err(|e: retail_domain::order::UnknownValue| {
                            AppError::Internal(anyhow::anyhow!("{e}"))
                        })?,
                    to: parse_col(e, "to_status")?,
                    actor: col(e, "actor")?,
                    reason: col(e, "reason")?,
                    at: from_ms(col(e, "at")?),
                })
            })
            .collect::<AppResult<_>>()?,
    })
}

/// Which of these order numbers are taken.
pub async fn taken_order_nos(
    tx: &mut Tx,
    candidates: &[String],
) -> AppResult<std::collections::HashSet<String>> {
    super::fetch_in(
        tx,
        "SELECT order_no FROM orders WHERE order_no IN ({})",
        candidates,
    )
    .await?
    .iter()
    .map(|row| col(row, "order_no"))
    .collect()
}

/// Deletes an order row this transaction inserted and nobody has seen (a pushed sale whose
/// charges failed after its row was claimed).
pub async fn discard_unseen(tx: &mut Tx, id: Uuid) -> AppResult<()> {
    sqlx::query("DELETE FROM orders WHERE id = $1")
        .bind(id.to_string())
        .execute(&mut **tx)
        .await?;
    Ok(())
}
