//! Promotions, flash sales (秒杀) and per-store pricing settings: what head office created,
//! read back for the pricing engine, and the flash-sale quantities orders take and give back.

use std::collections::{BTreeMap, HashMap};

use retail_domain::pricing::{Promotion, PromotionRule, TillRounding};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::paging::{self, Cursor, Order, Page};
use super::{col, from_ms, next_counter, now_ms, placeholders, uuid_col, Store, Tx};
use crate::error::{AppError, AppResult};

/// The limits that make a sale-price promotion a flash sale.
#[derive(Clone, Debug, PartialEq, Eq, serde::Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FlashLimits {
    /// Units on offer in the whole window.
    pub total_qty: i64,
    /// Most units one member may buy.
    pub per_member_limit: i64,
}

/// A flash sale's state.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct FlashSaleView {
    /// The SKU on offer.
    pub sku_id: Uuid,
    /// Units on offer.
    pub total_qty: i64,
    /// Units held by unpaid or paid orders.
    pub sold_qty: i64,
    /// Most units per member.
    pub per_member_limit: i64,
}

/// A promotion as listed to staff.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct PromotionView {
    /// The promotion (rules, window, scope).
    pub promotion: Promotion,
    /// When staff ended it early.
    pub ended_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Flash-sale limits and progress, for flash sales.
    pub flash_sale: Option<FlashSaleView>,
    /// Who created it.
    pub created_by: String,
    /// When.
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// Whose promotion it is: `platform` (head office's) or a merchant's, which discounts only
    /// that merchant's own SKUs (B2B2C).
    pub merchant_id: String,
}

fn promotion_from_row(row: &sqlx::any::AnyRow) -> AppResult<Promotion> {
    let body: String = col(row, "body")?;
    serde_json::from_str(&body)
        .map_err(|e| AppError::Internal(anyhow::anyhow!("stored promotion does not parse: {e}")))
}

/// Stores a new promotion of `merchant` (and its flash-sale limits). Returns false, changing
/// nothing, when a promotion with this id exists already (a retry).
pub async fn create(
    tx: &mut Tx,
    promotion: &Promotion,
    flash: Option<&FlashLimits>,
    merchant: &str,
    actor: &str,
) -> AppResult<bool> {
    let now = now_ms();
    let body = serde_json::to_string(promotion).map_err(|e| AppError::Internal(e.into()))?;
    let inserted = sqlx::query(
        "INSERT INTO promotions (id, body, starts_at, ends_at, created_by, created_at, updated_at, \
         merchant_id) VALUES ($1, $2, $3, $4, $5, $6, $6, $7) ON CONFLICT (id) DO NOTHING",
    )
    .bind(promotion.id.to_string())
    .bind(body)
    .bind(promotion.starts_at.timestamp_millis())
    .bind(promotion.ends_at.timestamp_millis())
    .bind(actor)
    .bind(now)
    .bind(merchant)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    if inserted == 0 {
        return Ok(false);
    }
    if let Some(flash) = flash {
        let sku = match &promotion.rule {
            PromotionRule::SalePrice { prices } if prices.len() == 1 => prices[0].sku_id,
            _ => {
                return Err(AppError::field(
                    "rule",
                    "a flash sale is a sale price for exactly one SKU",
                ))
            }
        };
        sqlx::query(
            "INSERT INTO flash_sales (id, sku_id, total_qty, per_member_limit) VALUES ($1, $2, $3, $4)",
        )
        .bind(promotion.id.to_string())
        .bind(sku.to_string())
        .bind(flash.total_qty)
        .bind(flash.per_member_limit)
        .execute(&mut **tx)
        .await?;
    }
    next_counter(tx, "pricing").await?;
    super::audit::record(
        tx,
        actor,
        "promotion.create",
        "promotion",
        &promotion.id.to_string(),
        serde_json::json!({ "promotion": promotion, "flash_sale": flash, "merchant_id": merchant }),
    )
    .await?;
    Ok(true)
}

/// Ends a promotion now. Ending one that has ended already changes nothing.
pub async fn end(tx: &mut Tx, id: Uuid, actor: &str) -> AppResult<()> {
    let now = now_ms();
    let row = sqlx::query("SELECT ended_at, ends_at, body FROM promotions WHERE id = $1")
        .bind(id.to_string())
        .fetch_optional(&mut **tx)
        .await?
        .ok_or_else(|| AppError::not_found("no such promotion"))?;
    let ended_at: Option<i64> = col(&row, "ended_at")?;
    let ends_at: i64 = col(&row, "ends_at")?;
    if ended_at.is_some() || ends_at <= now {
        return Ok(());
    }
    // The shelf labels first: queued in this transaction, before any lane can see the end.
    super::esl::queue_promotion(tx, &promotion_from_row(&row)?, now, "promotion").await?;
    sqlx::query("UPDATE promotions SET ended_at = $1, updated_at = $1 WHERE id = $2")
        .bind(now)
        .bind(id.to_string())
        .execute(&mut **tx)
        .await?;
    next_counter(tx, "pricing").await?;
    super::audit::record(
        tx,
        actor,
        "promotion.end",
        "promotion",
        &id.to_string(),
        serde_json::json!({}),
    )
    .await
}

/// Promotions not ended whose window overlaps `[from, until)` (ms), in id order.
pub async fn overlapping(store: &Store, from: i64, until: i64) -> AppResult<Vec<Promotion>> {
    let rows = sqlx::query(
        "SELECT body FROM promotions WHERE ended_at IS NULL AND ends_at > $1 AND starts_at < $2 \
         ORDER BY id",
    )
    .bind(from)
    .bind(until)
    .fetch_all(store.reader())
    .await?;
    rows.iter().map(promotion_from_row).collect()
}

/// Ids of the promotions that are flash sales, among `ids`.
pub async fn flash_sale_ids(store: &Store, ids: &[Uuid]) -> AppResult<Vec<Uuid>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT id FROM flash_sales WHERE id IN ({})",
        placeholders(1, ids.len())
    );
    let mut query = sqlx::query(&sql);
    for id in ids {
        query = query.bind(id.to_string());
    }
    query
        .fetch_all(store.reader())
        .await?
        .iter()
        .map(|row| uuid_col(row, "id"))
        .collect()
}

/// The columns of a [`PromotionView`], from `promotions p` and its flash sale `f` (if any).
const VIEW_SELECT: &str = "SELECT p.body, p.ended_at, p.created_by, p.created_at, \
     p.merchant_id, f.sku_id, f.total_qty, f.sold_qty, f.per_member_limit FROM promotions p \
     LEFT JOIN flash_sales f ON f.id = p.id";

/// Only promotions not ended and not past their window (running or about to), at `$1`.
const CURRENT: &str = "p.ended_at IS NULL AND p.ends_at > $1";

/// A page of the promotions, newest first (keyset on creation time then id, from `cursor`);
/// with `current_only`, those not ended and not past their window; with `merchant`, only that
/// merchant's.
pub async fn page(
    store: &Store,
    current_only: bool,
    merchant: Option<&str>,
    cursor: Option<&Cursor>,
    limit: i64,
) -> AppResult<Page<PromotionView>> {
    let sql = format!(
        "{VIEW_SELECT} WHERE {} AND ($3 IS NULL OR p.merchant_id = $3) AND {} {} LIMIT $2",
        if current_only { CURRENT } else { "$1 = $1" },
        paging::after("p.created_at", "p.id", 4, Order::Desc),
        paging::order_by("p.created_at", "p.id", Order::Desc),
    );
    let query = sqlx::query(&sql)
        .bind(now_ms())
        .bind(paging::fetch_limit(limit))
        .bind(merchant);
    paging::fetch(store.reader(), query, cursor, limit, |row| {
        let p = view_from_row(row)?;
        Ok((
            Cursor::new(p.created_at.timestamp_millis(), p.promotion.id),
            p,
        ))
    })
    .await
}

/// Every flash sale not ended and not past its window (running or about to), newest first:
/// what the shop's product page shows of a running one. Not paged: all of them, however many.
pub async fn current_flash_sales(store: &Store) -> AppResult<Vec<PromotionView>> {
    sqlx::query(&format!(
        "{VIEW_SELECT} WHERE {CURRENT} AND f.id IS NOT NULL \
         ORDER BY p.created_at DESC, p.id DESC"
    ))
    .bind(now_ms())
    .fetch_all(store.reader())
    .await?
    .iter()
    .map(view_from_row)
    .collect()
}

/// The promotion `id`, if there is one.
pub async fn get(store: &Store, id: Uuid) -> AppResult<Option<PromotionView>> {
    sqlx::query(&format!("{VIEW_SELECT} WHERE p.id = $1"))
        .bind(id.to_string())
        .fetch_optional(store.reader())
        .await?
        .as_ref()
        .map(view_from_row)
        .transpose()
}

fn view_from_row(row: &sqlx::any::AnyRow) -> AppResult<PromotionView> {
    let flash_sale = match col::<Option<String>>(row, "sku_id")? {
        Some(sku) => Some(FlashSaleView {
            sku_id: sku
                .parse()
                .map_err(|e| AppError::Internal(anyhow::anyhow!("flash sku: {e}")))?,
            total_qty: col(row, "total_qty")?,
            sold_qty: col(row, "sold_qty")?,
            per_member_limit: col(row, "per_member_limit")?,
        }),
        None => None,
    };
    Ok(PromotionView {
        promotion: promotion_from_row(row)?,
        ended_at: col::<Option<i64>>(row, "ended_at")?.map(from_ms),
        flash_sale,
        created_by: col(row, "created_by")?,
        created_at: from_ms(col(row, "created_at")?),
        merchant_id: col(row, "merchant_id")?,
    })
}

/// The store's till rounding (none when never set).
pub async fn till_rounding(store: &Store, location: &str) -> AppResult<TillRounding> {
    let row = sqlx::query("SELECT till_rounding FROM store_pricing WHERE location_id = $1")
        .bind(location)
        .fetch_optional(store.reader())
        .await?;
    match row {
        None => Ok(TillRounding::None),
        Some(row) => {
            let text: String = col(&row, "till_rounding")?;
            serde_json::from_value(serde_json::Value::String(text))
                .map_err(|e| AppError::Internal(anyhow::anyhow!("till_rounding: {e}")))
        }
    }
}

/// Sets the store's till rounding.
pub async fn set_till_rounding(
    tx: &mut Tx,
    location: &str,
    rounding: TillRounding,
    actor: &str,
) -> AppResult<()> {
    let text = serde_json::to_value(rounding)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_else(|| "none".into());
    sqlx::query(
        "INSERT INTO store_pricing (location_id, till_rounding, updated_at) VALUES ($1, $2, $3) \
         ON CONFLICT (location_id) DO UPDATE SET till_rounding = $2, updated_at = $3",
    )
    .bind(location)
    .bind(text.as_str())
    .bind(now_ms())
    .execute(&mut **tx)
    .await?;
    next_counter(tx, "pricing").await?;
    super::audit::record(
        tx,
        actor,
        "pricing.till_rounding",
        "location",
        location,
        serde_json::json!({ "till_rounding": text }),
    )
    .await
}

/// The pricing context version (bumped by every promotion or settings change).
pub async fn version(store: &Store) -> AppResult<i64> {
    super::counter_value(store, "pricing").await
}

// ---------------------------------------------------------------------------------------------
// Flash-sale quantities
// ---------------------------------------------------------------------------------------------

/// Units of one flash sale an order wants.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlashClaim {
    /// The flash sale (= its promotion id).
    pub flash_sale_id: Uuid,
    /// The member buying.
    pub member_id: Uuid,
    /// Units.
    pub qty: i64,
}

/// What the flash sales involved in a batch of orders have left: per sale, the units left, the
/// per-member limit and each member's units already held.
#[derive(Debug, Default)]
pub struct FlashLedger {
    left: HashMap<Uuid, i64>,
    limit: HashMap<Uuid, i64>,
    held: HashMap<(Uuid, Uuid), i64>,
    taken: BTreeMap<Uuid, i64>,
}

/// Why a flash claim was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum FlashRefusal {
    /// No units left.
    SoldOut,
    /// The member would go over the per-member limit.
    OverLimit(i64),
}

impl FlashLedger {
    /// Reads (locking on PostgreSQL) the flash sales and the members' holdings the claims need.
    pub async fn load(tx: &mut Tx, store: &Store, claims: &[&FlashClaim]) -> AppResult<Self> {
        let mut ledger = FlashLedger::default();
        if claims.is_empty() {
            return Ok(ledger);
        }
        let mut ids: Vec<String> = claims.iter().map(|c| c.flash_sale_id.to_string()).collect();
        ids.sort();
        ids.dedup();
        let sql = format!(
            "SELECT id, total_qty, sold_qty, per_member_limit FROM flash_sales WHERE id IN ({}) \
             ORDER BY id{}",
            placeholders(1, ids.len()),
            store.for_update()
        );
        let mut query = sqlx::query(&sql);
        for id in &ids {
            query = query.bind(id.as_str());
        }
        for row in query.fetch_all(&mut **tx).await? {
            let id = uuid_col(&row, "id")?;
            let total: i64 = col(&row, "total_qty")?;
            let sold: i64 = col(&row, "sold_qty")?;
            ledger.left.insert(id, total - sold);
            ledger.limit.insert(id, col(&row, "per_member_limit")?);
        }
        // Each member's holding, one index look-up per member (per flash sale).
        let mut members: BTreeMap<Uuid, Vec<String>> = BTreeMap::new();
        for c in claims {
            members
                .entry(c.flash_sale_id)
                .or_default()
                .push(c.member_id.to_string());
        }
        for (sale, mut ids) in members {
            ids.sort();
            ids.dedup();
            for chunk in ids.chunks(super::MAX_PARAMS - 1) {
                let sql = format!(
                    "SELECT member_id, held FROM flash_sale_holdings \
                     WHERE flash_sale_id = {} AND member_id IN ({})",
                    super::list_placeholders(tx, 1, 1),
                    super::list_placeholders(tx, 2, chunk.len())
                );
                let mut query = sqlx::query(&sql).bind(sale.to_string());
                for id in chunk {
                    query = query.bind(id.as_str());
                }
                for row in query.fetch_all(&mut **tx).await? {
                    ledger
                        .held
                        .insert((sale, uuid_col(&row, "member_id")?), col(&row, "held")?);
                }
            }
        }
        Ok(ledger)
    }

    /// Checks that every claim of one order fits, without taking anything.
    pub fn check(&self, claims: &[FlashClaim]) -> Result<(), FlashRefusal> {
        let mut want: HashMap<Uuid, i64> = HashMap::new();
        let mut want_member: HashMap<(Uuid, Uuid), i64> = HashMap::new();
        for c in claims {
            *want.entry(c.flash_sale_id).or_default() += c.qty;
            *want_member
                .entry((c.flash_sale_id, c.member_id))
                .or_default() += c.qty;
        }
        for (sale, qty) in &want {
            if self.left.get(sale).copied().unwrap_or(0) < *qty {
                return Err(FlashRefusal::SoldOut);
            }
        }
        for ((sale, member), qty) in &want_member {
            let limit = self.limit.get(sale).copied().unwrap_or(0);
            let held = self.held.get(&(*sale, *member)).copied().unwrap_or(0);
            if held + qty > limit {
                return Err(FlashRefusal::OverLimit(limit));
            }
        }
        Ok(())
    }

    /// Takes the claims of one accepted order (call [`FlashLedger::check`] first).
    pub fn take(&mut self, claims: &[FlashClaim]) {
        for c in claims {
            *self.left.entry(c.flash_sale_id).or_default() -= c.qty;
            *self.held.entry((c.flash_sale_id, c.member_id)).or_default() += c.qty;
            *self.taken.entry(c.flash_sale_id).or_default() += c.qty;
        }
    }

    /// Writes what was taken: the sales' sold quantities and one row per order and sale.
    pub async fn write(&self, tx: &mut Tx, orders: &[(Uuid, &[FlashClaim])]) -> AppResult<()> {
        for (sale, qty) in &self.taken {
            sqlx::query("UPDATE flash_sales SET sold_qty = sold_qty + $1 WHERE id = $2")
                .bind(*qty)
                .bind(sale.to_string())
                .execute(&mut **tx)
                .await?;
        }
        // One row per order and sale, and each member's holding moved by what they took.
        let mut rows: Vec<(Uuid, Uuid, Uuid, i64)> = Vec::new();
        let mut holdings: BTreeMap<(Uuid, Uuid), i64> = BTreeMap::new();
        for (order, claims) in orders {
            let mut per_sale: BTreeMap<Uuid, (Uuid, i64)> = BTreeMap::new();
            for c in claims.iter() {
                per_sale
                    .entry(c.flash_sale_id)
                    .or_insert((c.member_id, 0))
                    .1 += c.qty;
                *holdings.entry((c.flash_sale_id, c.member_id)).or_default() += c.qty;
            }
            rows.extend(
                per_sale
                    .into_iter()
                    .map(|(sale, (member, qty))| (sale, *order, member, qty)),
            );
        }
        super::insert_rows(
            tx,
            "flash_sale_orders",
            &["flash_sale_id", "order_id", "member_id", "qty"],
            &rows,
            |q, (sale, order, member, qty)| {
                q.bind(sale.to_string())
                    .bind(order.to_string())
                    .bind(member.to_string())
                    .bind(*qty)
            },
        )
        .await?;
        let holdings: Vec<((Uuid, Uuid), i64)> = holdings.into_iter().collect();
        super::upsert_rows(
            tx,
            "flash_sale_holdings",
            &["flash_sale_id", "member_id", "held"],
            &holdings,
            "ON CONFLICT (flash_sale_id, member_id) DO UPDATE \
             SET held = flash_sale_holdings.held + excluded.held",
            |q, ((sale, member), qty)| q.bind(sale.to_string()).bind(member.to_string()).bind(*qty),
        )
        .await?;
        Ok(())
    }
}

/// Gives back the flash-sale units an order held (it was cancelled). Idempotent.
pub async fn release_flash(tx: &mut Tx, order_id: Uuid) -> AppResult<()> {
    let rows = sqlx::query(
        "UPDATE flash_sale_orders SET released = 1 WHERE order_id = $1 AND released = 0 \
         RETURNING flash_sale_id, member_id, qty",
    )
    .bind(order_id.to_string())
    .fetch_all(&mut **tx)
    .await?;
    for row in rows {
        let sale: String = col(&row, "flash_sale_id")?;
        let qty: i64 = col(&row, "qty")?;
        let member: String = col(&row, "member_id")?;
        sqlx::query("UPDATE flash_sales SET sold_qty = sold_qty - $1 WHERE id = $2")
            .bind(qty)
            .bind(sale.as_str())
            .execute(&mut **tx)
            .await?;
        sqlx::query(
            "UPDATE flash_sale_holdings SET held = held - $1 WHERE flash_sale_id = $2 AND member_id = $3",
        )
        .bind(qty)
        .bind(sale)
        .bind(member)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}
