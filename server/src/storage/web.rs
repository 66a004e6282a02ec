//! Storage for the shop's and the console's pages: shopper sessions and carts, phone log-in
//! codes, scan-and-go sessions, the search index's source rows, and the console's dashboard and
//! order listings.

use std::collections::HashMap;

use uuid::Uuid;

use super::paging::{self, Cursor, Order, Page};
use super::{col, now_ms, placeholders, uuid_col, Store};
use crate::error::{AppError, AppResult};

// ---------------------------------------------------------------------------------------------
// Sessions
// ---------------------------------------------------------------------------------------------

/// A stored shop session.
#[derive(Debug, Clone)]
pub struct WebSession {
    /// Internal id (carts and scan sessions hang off it; never sent to the browser).
    pub id: Uuid,
    /// The logged-in member, if any.
    pub member_id: Option<Uuid>,
    /// The pickup store the shopper chose: the shop prices the product page and cart there.
    pub pickup_store: Option<String>,
}

fn session_from_row(row: &sqlx::any::AnyRow) -> AppResult<WebSession> {
    Ok(WebSession {
        id: uuid_col(row, "id")?,
        member_id: col::<Option<String>>(row, "member_id")?
            .map(|m| Uuid::parse_str(&m))
            .transpose()
            .map_err(|e| AppError::Internal(anyhow::anyhow!("bad member id in session: {e}")))?,
        pickup_store: col(row, "pickup_store")?,
    })
}

/// The live session stored under this token hash, if any.
pub async fn session(store: &Store, token_hash: &str) -> AppResult<Option<WebSession>> {
    session_on(store.reader(), token_hash).await
}

async fn session_on(pool: &sqlx::AnyPool, token_hash: &str) -> AppResult<Option<WebSession>> {
    let row = sqlx::query(
        "SELECT id, member_id, pickup_store FROM web_sessions WHERE token_hash = $1 AND expires_at > $2",
    )
    .bind(token_hash)
    .bind(now_ms())
    .fetch_optional(pool)
    .await?;
    row.as_ref().map(session_from_row).transpose()
}

/// The session under this token hash, created (anonymous) when there is none.
pub async fn ensure_session(store: &Store, token_hash: &str, ttl_ms: i64) -> AppResult<WebSession> {
    if let Some(s) = session_on(store.writer(), token_hash).await? {
        return Ok(s);
    }
    let now = now_ms();
    // An expired row under the same hash is replaced.
    sqlx::query("DELETE FROM web_sessions WHERE token_hash = $1 AND expires_at <= $2")
        .bind(token_hash)
        .bind(now)
        .execute(store.writer())
        .await?;
    sqlx::query(
        "INSERT INTO web_sessions (id, token_hash, member_id, created_at, expires_at) \
         VALUES ($1, $2, NULL, $3, $4) ON CONFLICT (token_hash) DO NOTHING",
    )
    .bind(retail_domain::ids::new_id().to_string())
    .bind(token_hash)
    .bind(now)
    .bind(now.saturating_add(ttl_ms))
    .execute(store.writer())
    .await?;
    session_on(store.writer(), token_hash)
        .await?
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("web session vanished")))
}

/// Remembers (or, with `None`, forgets) the pickup store a session chose.
pub async fn set_pickup_store(
    store: &Store,
    session: Uuid,
    pickup_store: Option<&str>,
) -> AppResult<()> {
    sqlx::query("UPDATE web_sessions SET pickup_store = $2 WHERE id = $1")
        .bind(session.to_string())
        .bind(pickup_store)
        .execute(store.writer())
        .await?;
    Ok(())
}

/// Logs a member in or out of a session and moves it to a new token (no session fixation).
pub async fn rekey_session(
    store: &Store,
    id: Uuid,
    new_token_hash: &str,
    member_id: Option<Uuid>,
    ttl_ms: i64,
) -> AppResult<()> {
    sqlx::query(
        "UPDATE web_sessions SET token_hash = $2, member_id = $3, expires_at = $4 WHERE id = $1",
    )
    .bind(id.to_string())
    .bind(new_token_hash)
    .bind(member_id.map(|m| m.to_string()))
    .bind(now_ms().saturating_add(ttl_ms))
    .execute(store.writer())
    .await?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Phone log-in codes
// ---------------------------------------------------------------------------------------------

/// Stores (replaces) the pending log-in code for a phone.
pub async fn put_login_code(
    store: &Store,
    phone_hash: &str,
    code_hash: &str,
    expires_at: i64,
) -> AppResult<()> {
    sqlx::query(
        "INSERT INTO web_login_codes (phone_hash, code_hash, attempts, expires_at) \
         VALUES ($1, $2, 0, $3) ON CONFLICT (phone_hash) DO UPDATE SET code_hash = $2, \
         attempts = 0, expires_at = $3",
    )
    .bind(phone_hash)
    .bind(code_hash)
    .bind(expires_at)
    .execute(store.writer())
    .await?;
    Ok(())
}

/// How a log-in code check went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeCheck {
    /// Right code (it is used up).
    Accepted,
    /// Wrong code (one attempt counted).
    Wrong,
    /// No code pending, expired, or too many wrong attempts.
    Expired,
}

/// Checks a log-in code: five wrong attempts use the code up.
pub async fn check_login_code(
    store: &Store,
    phone_hash: &str,
    code_hash: &str,
) -> AppResult<CodeCheck> {
    let mut tx = store.begin().await?;
    let row = sqlx::query(&format!(
        "SELECT code_hash, attempts, expires_at FROM web_login_codes WHERE phone_hash = $1{}",
        store.for_update()
    ))
    .bind(phone_hash)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(row) = row else {
        return Ok(CodeCheck::Expired);
    };
    let stored: String = col(&row, "code_hash")?;
    let attempts: i64 = col(&row, "attempts")?;
    let expires_at: i64 = col(&row, "expires_at")?;
    if expires_at <= now_ms() || attempts >= 5 {
        sqlx::query("DELETE FROM web_login_codes WHERE phone_hash = $1")
            .bind(phone_hash)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        return Ok(CodeCheck::Expired);
    }
    let outcome = if crate::secrets::signatures_match(&stored, code_hash) {
        sqlx::query("DELETE FROM web_login_codes WHERE phone_hash = $1")
            .bind(phone_hash)
            .execute(&mut *tx)
            .await?;
        CodeCheck::Accepted
    } else {
        sqlx::query("UPDATE web_login_codes SET attempts = attempts + 1 WHERE phone_hash = $1")
            .bind(phone_hash)
            .execute(&mut *tx)
            .await?;
        CodeCheck::Wrong
    };
    tx.commit().await?;
    Ok(outcome)
}

// ---------------------------------------------------------------------------------------------
// Cart
// ---------------------------------------------------------------------------------------------

/// One cart line.
#[derive(Debug, Clone)]
pub struct CartLine {
    /// SKU.
    pub sku_id: Uuid,
    /// Units.
    pub qty: i64,
    /// Ticked for checkout.
    pub selected: bool,
}

/// Adds units of a SKU (or more of it), up to `max_qty` per line.
pub async fn cart_add(
    store: &Store,
    session: Uuid,
    sku_id: Uuid,
    qty: i64,
    max_qty: i64,
) -> AppResult<()> {
    sqlx::query(
        "INSERT INTO web_cart_lines (session_id, sku_id, qty, selected, added_at) \
         VALUES ($1, $2, $3, 1, $4) ON CONFLICT (session_id, sku_id) DO UPDATE SET \
         qty = CASE WHEN web_cart_lines.qty + $3 > $5 THEN $5 ELSE web_cart_lines.qty + $3 END, \
         selected = 1",
    )
    .bind(session.to_string())
    .bind(sku_id.to_string())
    .bind(qty)
    .bind(now_ms())
    .bind(max_qty)
    .execute(store.writer())
    .await?;
    Ok(())
}

/// Sets a line's quantity and tick (a quantity of 0 removes the line).
pub async fn cart_set(
    store: &Store,
    session: Uuid,
    sku_id: Uuid,
    qty: i64,
    selected: bool,
) -> AppResult<()> {
    if qty <= 0 {
        sqlx::query("DELETE FROM web_cart_lines WHERE session_id = $1 AND sku_id = $2")
            .bind(session.to_string())
            .bind(sku_id.to_string())
            .execute(store.writer())
            .await?;
    } else {
        sqlx::query(
            "UPDATE web_cart_lines SET qty = $3, selected = $4 WHERE session_id = $1 AND sku_id = $2",
        )
        .bind(session.to_string())
        .bind(sku_id.to_string())
        .bind(qty)
        .bind(i64::from(selected))
        .execute(store.writer())
        .await?;
    }
    Ok(())
}

/// Removes the given SKUs from the cart (after they were ordered).
pub async fn cart_remove(store: &Store, session: Uuid, skus: &[Uuid]) -> AppResult<()> {
    for sku in skus {
        sqlx::query("DELETE FROM web_cart_lines WHERE session_id = $1 AND sku_id = $2")
            .bind(session.to_string())
            .bind(sku.to_string())
            .execute(store.writer())
            .await?;
    }
    Ok(())
}

/// The cart, oldest line first.
pub async fn cart(store: &Store, session: Uuid) -> AppResult<Vec<CartLine>> {
    let rows = sqlx::query(
        "SELECT sku_id, qty, selected FROM web_cart_lines WHERE session_id = $1 \
         ORDER BY added_at, sku_id",
    )
    .bind(session.to_string())
    .fetch_all(store.writer())
    .await?;
    rows.iter()
        .map(|r| {
            Ok(CartLine {
                sku_id: uuid_col(r, "sku_id")?,
                qty: col(r, "qty")?,
                selected: col::<i64>(r, "selected")? != 0,
            })
        })
        .collect()
}

/// Available units (on hand − reserved, never below 0) of SKUs at one location.
pub async fn available(
    store: &Store,
    location: &str,
    skus: &[Uuid],
) -> AppResult<HashMap<Uuid, i64>> {
    let mut out = HashMap::new();
    if skus.is_empty() {
        return Ok(out);
    }
    let sql = format!(
        "SELECT sku_id, on_hand - reserved AS available FROM stock WHERE location_id = $1 \
         AND sku_id IN ({})",
        placeholders(2, skus.len())
    );
    let mut query = sqlx::query(&sql).bind(location);
    for sku in skus {
        query = query.bind(sku.to_string());
    }
    for row in query.fetch_all(store.reader()).await? {
        out.insert(
            uuid_col(&row, "sku_id")?,
            col::<i64>(&row, "available")?.max(0),
        );
    }
    Ok(out)
}

/// SKU display facts for pages: product id, names and specs.
#[derive(Debug, Clone)]
pub struct SkuFacts {
    /// SKU.
    pub sku_id: Uuid,
    /// Product.
    pub product_id: Uuid,
    /// Product name (Chinese).
    pub name_zh: String,
    /// Product name (English).
    pub name_en: String,
    /// Spec (Chinese).
    pub spec_zh: String,
    /// Spec (English).
    pub spec_en: String,
    /// Unit.
    pub unit: String,
}

/// Display facts of SKUs.
pub async fn sku_facts(store: &Store, skus: &[Uuid]) -> AppResult<HashMap<Uuid, SkuFacts>> {
    let mut out = HashMap::new();
    for chunk in skus.chunks(64) {
        let sql = format!(
            "SELECT s.id, s.product_id, p.name_zh, p.name_en, s.spec_zh, s.spec_en, s.unit \
             FROM skus s JOIN products p ON p.id = s.product_id WHERE s.id IN ({})",
            placeholders(1, chunk.len())
        );
        let mut query = sqlx::query(&sql);
        for sku in chunk {
            query = query.bind(sku.to_string());
        }
        for r in query.fetch_all(store.reader()).await? {
            let sku_id = uuid_col(&r, "id")?;
            out.insert(
                sku_id,
                SkuFacts {
                    sku_id,
                    product_id: uuid_col(&r, "product_id")?,
                    name_zh: col(&r, "name_zh")?,
                    name_en: col(&r, "name_en")?,
                    spec_zh: col(&r, "spec_zh")?,
                    spec_en: col(&r, "spec_en")?,
                    unit: col(&r, "unit")?,
                },
            );
        }
    }
    Ok(out)
}

/// The SKU with this barcode or SKU code, if any.
pub async fn sku_by_code(store: &Store, code: &str) -> AppResult<Option<Uuid>> {
    let row = sqlx::query(
        "SELECT sku_id AS id FROM barcodes WHERE code = $1 \
         UNION SELECT id FROM skus WHERE sku_code = $1",
    )
    .bind(code)
    .fetch_optional(store.reader())
    .await?;
    row.as_ref().map(|r| uuid_col(r, "id")).transpose()
}

// ---------------------------------------------------------------------------------------------
// Search index source
// ---------------------------------------------------------------------------------------------

/// One on-shelf product as the search index needs it.
#[derive(Debug, Clone)]
pub struct SearchRow {
    /// Product.
    pub id: Uuid,
    /// Product code.
    pub code: String,
    /// Chinese name.
    pub name_zh: String,
    /// English name.
    pub name_en: String,
    /// Brand.
    pub brand: String,
    /// Category code.
    pub category_id: String,
    /// Lowest chain price of its on-shelf SKUs (fen).
    pub price_min_fen: i64,
    /// Units sold in all orders.
    pub sold: i64,
    /// Created (ms).
    pub created_at: i64,
    /// Specs of its SKUs and barcodes (searched too).
    pub extra: String,
    /// Its first image, if it has one.
    pub image: Option<super::media::StoredImage>,
}

/// Every on-shelf product with an on-shelf SKU, with price, sales and SKU texts.
pub async fn search_rows(store: &Store) -> AppResult<Vec<SearchRow>> {
    let rows = sqlx::query(
        "SELECT p.id, p.code, p.name_zh, p.name_en, p.brand, p.category_id, p.created_at, \
         MIN(s.price_fen) AS price_min FROM products p JOIN skus s ON s.product_id = p.id \
         WHERE p.status = 'on_shelf' AND s.status = 'on_shelf' \
         GROUP BY p.id, p.code, p.name_zh, p.name_en, p.brand, p.category_id, p.created_at",
    )
    .fetch_all(store.reader())
    .await?;
    let sold_rows = sqlx::query(
        "SELECT s.product_id, CAST(COALESCE(SUM(l.qty), 0) AS BIGINT) AS sold \
         FROM order_lines l JOIN skus s ON s.id = l.sku_id GROUP BY s.product_id",
    )
    .fetch_all(store.reader())
    .await?;
    let mut sold = HashMap::new();
    for r in &sold_rows {
        sold.insert(col::<String>(r, "product_id")?, col::<i64>(r, "sold")?);
    }
    let extra_rows = sqlx::query(
        "SELECT s.product_id, s.spec_zh, s.spec_en, s.sku_code FROM skus s WHERE s.status = 'on_shelf'",
    )
    .fetch_all(store.reader())
    .await?;
    let mut extra: HashMap<String, String> = HashMap::new();
    for r in &extra_rows {
        let e = extra.entry(col(r, "product_id")?).or_default();
        for name in ["spec_zh", "spec_en", "sku_code"] {
            e.push(' ');
            e.push_str(&col::<String>(r, name)?);
        }
    }
    let mut images = super::product_images::first_images(store).await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        let id: String = col(r, "id")?;
        let product_id = uuid_col(r, "id")?;
        out.push(SearchRow {
            image: images.remove(&product_id),
            id: product_id,
            code: col(r, "code")?,
            name_zh: col(r, "name_zh")?,
            name_en: col(r, "name_en")?,
            brand: col(r, "brand")?,
            category_id: col(r, "category_id")?,
            price_min_fen: col(r, "price_min")?,
            sold: sold.get(&id).copied().unwrap_or(0),
            created_at: col(r, "created_at")?,
            extra: extra.remove(&id).unwrap_or_default(),
        });
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Order listings
// ---------------------------------------------------------------------------------------------

/// An order in a listing.
#[derive(Debug, Clone)]
pub struct OrderRow {
    /// Id.
    pub id: Uuid,
    /// Number.
    pub order_no: String,
    /// Channel.
    pub channel: String,
    /// Fulfilment.
    pub fulfilment: String,
    /// Status.
    pub status: String,
    /// Location.
    pub location_id: String,
    /// Payable (fen).
    pub total_fen: i64,
    /// Created (ms).
    pub created_at: i64,
}

/// Which orders to list.
#[derive(Debug, Clone, Default)]
pub struct OrderQuery {
    /// Only this location.
    pub location: Option<String>,
    /// Only this member.
    pub member: Option<Uuid>,
    /// Only these statuses (empty: all).
    pub statuses: Vec<String>,
    /// Order number contains this.
    pub number: Option<String>,
    /// Created at or after (ms).
    pub since: Option<i64>,
    /// Only this fulfilment (`pickup`, `delivery`, …).
    pub fulfilment: Option<String>,
    /// Start after this order (the last of the previous page; keyset on creation time then id).
    pub cursor: Option<Cursor>,
    /// At most this many.
    pub limit: i64,
}

/// `{select} FROM orders WHERE …` with the filters of `q` (bound by [`bind_orders`]): location,
/// member, number, time, fulfilment at `$1`–`$5`, the page's cursor at `$6`–`$7`, the statuses
/// from `$8`; the next free placeholder is `$8 + statuses`.
fn orders_sql(q: &OrderQuery, select: &str) -> String {
    let mut sql = format!(
        "{select} FROM orders WHERE ($1 IS NULL OR location_id = $1) \
         AND ($2 IS NULL OR member_id = $2) AND ($3 IS NULL OR order_no LIKE $3) \
         AND ($4 IS NULL OR created_at >= $4) AND ($5 IS NULL OR fulfilment = $5) AND {}",
        paging::after("created_at", "id", 6, Order::Desc)
    );
    if !q.statuses.is_empty() {
        sql.push_str(&format!(
            " AND status IN ({})",
            placeholders(8, q.statuses.len())
        ));
    }
    sql
}

/// `sql` (from [`orders_sql`]) with the filters of `q` bound, and the page's `cursor`.
fn bind_orders<'q>(
    sql: &'q str,
    q: &'q OrderQuery,
    cursor: Option<&Cursor>,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    let like = q
        .number
        .as_ref()
        .map(|n| format!("%{}%", n.to_uppercase().replace(['%', '_', '\\'], "")));
    let query = sqlx::query(sql)
        .bind(q.location.as_deref())
        .bind(q.member.map(|m| m.to_string()))
        .bind(like)
        .bind(q.since)
        .bind(q.fulfilment.as_deref());
    let mut query = paging::bind(query, cursor);
    for s in &q.statuses {
        query = query.bind(s.as_str());
    }
    query
}

/// A page of orders, newest first.
pub async fn orders(store: &Store, q: &OrderQuery) -> AppResult<Page<OrderRow>> {
    let sql = format!(
        "{} {} LIMIT ${}",
        orders_sql(
            q,
            "SELECT id, order_no, channel, fulfilment, status, location_id, total_fen, created_at"
        ),
        paging::order_by("created_at", "id", Order::Desc),
        8 + q.statuses.len()
    );
    let rows = bind_orders(&sql, q, q.cursor.as_ref())
        .bind(paging::fetch_limit(q.limit))
        .fetch_all(store.writer())
        .await?;
    let rows = rows
        .iter()
        .map(|r| {
            Ok(OrderRow {
                id: uuid_col(r, "id")?,
                order_no: col(r, "order_no")?,
                channel: col(r, "channel")?,
                fulfilment: col(r, "fulfilment")?,
                status: col(r, "status")?,
                location_id: col(r, "location_id")?,
                total_fen: col(r, "total_fen")?,
                created_at: col(r, "created_at")?,
            })
        })
        .collect::<AppResult<Vec<_>>>()?;
    Ok(paging::page(rows, q.limit, |o| {
        Cursor::new(o.created_at, o.id)
    }))
}

/// How many orders match the filters of `q` (all of them: its cursor and limit are ignored).
pub async fn count_orders(store: &Store, q: &OrderQuery) -> AppResult<i64> {
    let sql = orders_sql(q, "SELECT COUNT(*) AS n");
    let row = bind_orders(&sql, q, None).fetch_one(store.reader()).await?;
    col(&row, "n")
}

// ---------------------------------------------------------------------------------------------
// Dashboard
// ---------------------------------------------------------------------------------------------

/// Paid sales of one store and channel.
#[derive(Debug, Clone)]
pub struct SalesCell {
    /// Location.
    pub location_id: String,
    /// Channel.
    pub channel: String,
    /// Orders.
    pub orders: i64,
    /// Total (fen).
    pub total_fen: i64,
}

/// Paid (not pending, not cancelled) sales since `since_ms`, by location and channel.
pub async fn sales_since(
    store: &Store,
    since_ms: i64,
    location: Option<&str>,
) -> AppResult<Vec<SalesCell>> {
    let rows = sqlx::query(
        "SELECT location_id, channel, COUNT(*) AS n, CAST(COALESCE(SUM(total_fen), 0) AS BIGINT) AS total \
         FROM orders WHERE created_at >= $1 AND ($2 IS NULL OR location_id = $2) \
         AND status NOT IN ('pending_payment', 'cancelled') \
         GROUP BY location_id, channel ORDER BY location_id, channel",
    )
    .bind(since_ms)
    .bind(location)
    .fetch_all(store.reader())
    .await?;
    rows.iter()
        .map(|r| {
            Ok(SalesCell {
                location_id: col(r, "location_id")?,
                channel: col(r, "channel")?,
                orders: col(r, "n")?,
                total_fen: col(r, "total")?,
            })
        })
        .collect()
}

/// A device and when it was last heard of.
#[derive(Debug, Clone)]
pub struct DeviceSeen {
    /// Id.
    pub id: Uuid,
    /// Store.
    pub location_id: String,
    /// `pos` or `edge`.
    pub kind: String,
    /// Name.
    pub name: String,
    /// Last seen (ms).
    pub last_seen_at: Option<i64>,
    /// Revoked (ms).
    pub revoked_at: Option<i64>,
    /// What the device last reported on the store bus (`online`/`offline`), if it ever did.
    pub presence: Option<String>,
    /// The health of the devices it drives (printers, gates, label scales), as last reported.
    pub health: Vec<retail_domain::wire::bus::ComponentHealth>,
}

/// Devices with their last-seen times and their last reported presence and health.
pub async fn devices_seen(store: &Store, location: Option<&str>) -> AppResult<Vec<DeviceSeen>> {
    let rows = sqlx::query(
        "SELECT d.id, d.location_id, d.kind, d.name, d.last_seen_at, d.revoked_at, \
         p.status AS presence, p.health FROM devices d \
         LEFT JOIN device_presence p ON p.device_id = d.id \
         WHERE ($1 IS NULL OR d.location_id = $1) ORDER BY d.location_id, d.name, d.id",
    )
    .bind(location)
    .fetch_all(store.reader())
    .await?;
    rows.iter()
        .map(|r| {
            Ok(DeviceSeen {
                id: uuid_col(r, "id")?,
                location_id: col(r, "location_id")?,
                kind: col(r, "kind")?,
                name: col(r, "name")?,
                last_seen_at: col(r, "last_seen_at")?,
                revoked_at: col(r, "revoked_at")?,
                presence: col(r, "presence")?,
                // Stored from a checked bus message; an unreadable one shows as no entries.
                health: col::<Option<String>>(r, "health")?
                    .and_then(|h| serde_json::from_str(&h).ok())
                    .unwrap_or_default(),
            })
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Scan-and-go
// ---------------------------------------------------------------------------------------------

/// A scan-and-go session.
#[derive(Debug, Clone)]
pub struct ScanSession {
    /// Id (signed into the exit pass).
    pub id: Uuid,
    /// The shop session it belongs to.
    pub web_session: Uuid,
    /// The store.
    pub location_id: String,
    /// `open`, `checkout` (an order is waiting for payment), `paid` or `closed`.
    pub status: String,
    /// The order, once the shopper went to pay.
    pub order_id: Option<Uuid>,
    /// Started (ms).
    pub created_at: i64,
}

fn scan_from_row(row: &sqlx::any::AnyRow) -> AppResult<ScanSession> {
    Ok(ScanSession {
        id: uuid_col(row, "id")?,
        web_session: uuid_col(row, "web_session")?,
        location_id: col(row, "location_id")?,
        status: col(row, "status")?,
        order_id: col::<Option<String>>(row, "order_id")?
            .map(|o| Uuid::parse_str(&o))
            .transpose()
            .map_err(|e| {
                AppError::Internal(anyhow::anyhow!("bad order id in scan session: {e}"))
            })?,
        created_at: col(row, "created_at")?,
    })
}

const SCAN_COLUMNS: &str = "id, web_session, location_id, status, order_id, created_at";

/// Starts a scan-and-go session in a store (closing any open one of the same shop session).
pub async fn scan_start(
    store: &Store,
    id: Uuid,
    web_session: Uuid,
    location: &str,
    member: Option<Uuid>,
) -> AppResult<ScanSession> {
    let now = now_ms();
    let mut tx = store.begin().await?;
    sqlx::query(
        "UPDATE scan_sessions SET status = 'closed', updated_at = $2 \
         WHERE web_session = $1 AND status IN ('open', 'checkout')",
    )
    .bind(web_session.to_string())
    .bind(now)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO scan_sessions (id, web_session, location_id, member_id, status, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, 'open', $5, $5)",
    )
    .bind(id.to_string())
    .bind(web_session.to_string())
    .bind(location)
    .bind(member.map(|m| m.to_string()))
    .bind(now)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    scan_get(store, id)
        .await?
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("scan session vanished")))
}

/// One scan-and-go session.
pub async fn scan_get(store: &Store, id: Uuid) -> AppResult<Option<ScanSession>> {
    let row = sqlx::query(&format!(
        "SELECT {SCAN_COLUMNS} FROM scan_sessions WHERE id = $1"
    ))
    .bind(id.to_string())
    .fetch_optional(store.writer())
    .await?;
    row.as_ref().map(scan_from_row).transpose()
}

/// The shop session's latest scan-and-go session that is not closed.
pub async fn scan_current(store: &Store, web_session: Uuid) -> AppResult<Option<ScanSession>> {
    let row = sqlx::query(&format!(
        "SELECT {SCAN_COLUMNS} FROM scan_sessions WHERE web_session = $1 AND status <> 'closed' \
         ORDER BY created_at DESC, id DESC LIMIT 1"
    ))
    .bind(web_session.to_string())
    .fetch_optional(store.writer())
    .await?;
    row.as_ref().map(scan_from_row).transpose()
}

/// Adds units of a SKU to an open basket (up to `max_qty` per line).
pub async fn scan_add(
    store: &Store,
    scan: Uuid,
    sku_id: Uuid,
    qty: i64,
    max_qty: i64,
) -> AppResult<()> {
    sqlx::query(
        "INSERT INTO scan_lines (scan_session_id, sku_id, qty, added_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (scan_session_id, sku_id) DO UPDATE SET \
         qty = CASE WHEN scan_lines.qty + $3 > $5 THEN $5 ELSE scan_lines.qty + $3 END",
    )
    .bind(scan.to_string())
    .bind(sku_id.to_string())
    .bind(qty)
    .bind(now_ms())
    .bind(max_qty)
    .execute(store.writer())
    .await?;
    Ok(())
}

/// Sets a basket line's quantity (0 removes it).
pub async fn scan_set(store: &Store, scan: Uuid, sku_id: Uuid, qty: i64) -> AppResult<()> {
    if qty <= 0 {
        sqlx::query("DELETE FROM scan_lines WHERE scan_session_id = $1 AND sku_id = $2")
            .bind(scan.to_string())
            .bind(sku_id.to_string())
            .execute(store.writer())
            .await?;
    } else {
        sqlx::query("UPDATE scan_lines SET qty = $3 WHERE scan_session_id = $1 AND sku_id = $2")
            .bind(scan.to_string())
            .bind(sku_id.to_string())
            .bind(qty)
            .execute(store.writer())
            .await?;
    }
    Ok(())
}

/// The basket: (SKU, units), in scanning order.
pub async fn scan_lines(store: &Store, scan: Uuid) -> AppResult<Vec<(Uuid, i64)>> {
    let rows = sqlx::query(
        "SELECT sku_id, qty FROM scan_lines WHERE scan_session_id = $1 ORDER BY added_at, sku_id",
    )
    .bind(scan.to_string())
    .fetch_all(store.writer())
    .await?;
    rows.iter()
        .map(|r| Ok((uuid_col(r, "sku_id")?, col(r, "qty")?)))
        .collect()
}

/// Records the basket's order and the session's new status.
pub async fn scan_set_order(
    store: &Store,
    scan: Uuid,
    order: Option<Uuid>,
    status: &str,
) -> AppResult<()> {
    sqlx::query(
        "UPDATE scan_sessions SET order_id = $2, status = $3, updated_at = $4 WHERE id = $1",
    )
    .bind(scan.to_string())
    .bind(order.map(|o| o.to_string()))
    .bind(status)
    .bind(now_ms())
    .execute(store.writer())
    .await?;
    Ok(())
}
