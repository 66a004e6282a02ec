//! Points-mall goods (积分商城, issue 17; migration 0045): SKUs head office offers for points, and
//! members' redemptions, each keyed by the order it placed.
//!
//! A redemption is taken in the caller's transaction ([`take_in_tx`]): the goods' row is updated
//! first (units counted up under a CHECK, only while active and in its window: on PostgreSQL that
//! row lock serialises the redemptions of one item, on SQLite the single writer does), then the
//! member's units are checked against the limit and the redemption row inserted. Giving one back
//! ([`give_back_in_tx`]) moves it from `placed` to `returned` once and returns its units.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::{col, from_ms, uuid_col, Store, Tx};
use crate::error::AppResult;

/// SKUs offered for points.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct Goods {
    /// Id (the client id it was created with, UUIDv7).
    pub id: Uuid,
    /// The SKU.
    pub sku_id: Uuid,
    /// Points per unit.
    pub points_price: i64,
    /// Units set aside.
    pub stock_units: i64,
    /// Units redeemed and not given back.
    pub units_taken: i64,
    /// Units one member may hold.
    pub per_member_limit: i64,
    /// Start (inclusive).
    pub starts_at: chrono::DateTime<chrono::Utc>,
    /// End (exclusive).
    pub ends_at: chrono::DateTime<chrono::Utc>,
    /// `active` or `paused`.
    pub status: String,
    /// When it was created.
    pub created_at: chrono::DateTime<chrono::Utc>,
}

const GOODS_COLUMNS: &str =
    "id, sku_id, points_price, stock_units, units_taken, per_member_limit, \
     starts_at, ends_at, status, created_at";

fn goods_from_row(row: &sqlx::any::AnyRow) -> AppResult<Goods> {
    Ok(Goods {
        id: uuid_col(row, "id")?,
        sku_id: uuid_col(row, "sku_id")?,
        points_price: col(row, "points_price")?,
        stock_units: col(row, "stock_units")?,
        units_taken: col(row, "units_taken")?,
        per_member_limit: col(row, "per_member_limit")?,
        starts_at: from_ms(col(row, "starts_at")?),
        ends_at: from_ms(col(row, "ends_at")?),
        status: col(row, "status")?,
        created_at: from_ms(col(row, "created_at")?),
    })
}

/// Creates an item (audited `points_mall.goods_create`); false when one with this id exists.
pub async fn insert(store: &Store, g: &Goods, actor: &str) -> AppResult<bool> {
    let mut tx = store.begin().await?;
    let now = super::now_ms();
    let done = sqlx::query(&format!(
        "INSERT INTO points_mall_goods ({GOODS_COLUMNS}, created_by, updated_at) \
         VALUES ($1, $2, $3, $4, 0, $5, $6, $7, 'active', $8, $9, $8) ON CONFLICT (id) DO NOTHING"
    ))
    .bind(g.id.to_string())
    .bind(g.sku_id.to_string())
    .bind(g.points_price)
    .bind(g.stock_units)
    .bind(g.per_member_limit)
    .bind(g.starts_at.timestamp_millis())
    .bind(g.ends_at.timestamp_millis())
    .bind(now)
    .bind(actor)
    .execute(&mut *tx)
    .await?
    .rows_affected()
        == 1;
    if done {
        super::audit::record(
            &mut tx,
            actor,
            "points_mall.goods_create",
            "points_mall_goods",
            &g.id.to_string(),
            serde_json::json!({"sku_id": g.sku_id, "points_price": g.points_price,
                "stock_units": g.stock_units, "per_member_limit": g.per_member_limit}),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(done)
}

/// Pauses or resumes an item (audited `points_mall.goods_status`); false when there is none.
pub async fn set_status(store: &Store, id: Uuid, status: &str, actor: &str) -> AppResult<bool> {
    super::set_status_audited(
        store,
        "points_mall_goods",
        ("points_mall.goods_status", "points_mall_goods"),
        id,
        status,
        actor,
    )
    .await
}

/// One item.
pub async fn get(store: &Store, id: Uuid) -> AppResult<Option<Goods>> {
    let row = sqlx::query(&format!(
        "SELECT {GOODS_COLUMNS} FROM points_mall_goods WHERE id = $1"
    ))
    .bind(id.to_string())
    .fetch_optional(store.reader())
    .await?;
    row.as_ref().map(goods_from_row).transpose()
}

/// Items, newest first (at most `limit`); only those active and in their window at `now` when
/// `running` is set.
pub async fn list(store: &Store, running: Option<i64>, limit: i64) -> AppResult<Vec<Goods>> {
    let rows = match running {
        Some(now) => {
            sqlx::query(&format!(
                "SELECT {GOODS_COLUMNS} FROM points_mall_goods WHERE status = 'active' \
                 AND starts_at <= $1 AND ends_at > $1 ORDER BY points_price, id LIMIT $2"
            ))
            .bind(now)
            .bind(limit)
            .fetch_all(store.reader())
            .await?
        }
        None => {
            sqlx::query(&format!(
            "SELECT {GOODS_COLUMNS} FROM points_mall_goods ORDER BY created_at DESC, id LIMIT $1"
        ))
            .bind(limit)
            .fetch_all(store.reader())
            .await?
        }
    };
    rows.iter().map(goods_from_row).collect()
}

/// Why a redemption was refused (nothing written).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Paused, not started, over or unknown.
    NotRunning,
    /// Not enough units left.
    SoldOut,
    /// The member would hold more than the limit.
    OverLimit,
}

/// A redemption (keyed by its order).
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Redemption {
    /// The order placed for it.
    pub order_id: Uuid,
    /// The item.
    pub goods_id: Uuid,
    /// The member.
    pub member_id: Uuid,
    /// Units.
    pub qty: i64,
    /// Points taken.
    pub points: i64,
    /// `placed` or `returned` (the points given back).
    pub status: String,
}

fn redemption_from_row(row: &sqlx::any::AnyRow) -> AppResult<Redemption> {
    Ok(Redemption {
        order_id: uuid_col(row, "order_id")?,
        goods_id: uuid_col(row, "goods_id")?,
        member_id: uuid_col(row, "member_id")?,
        qty: col(row, "qty")?,
        points: col(row, "points")?,
        status: col(row, "status")?,
    })
}

/// The redemption of `order`, if any.
pub async fn redemption(store: &Store, order: Uuid) -> AppResult<Option<Redemption>> {
    let row = sqlx::query(
        "SELECT order_id, goods_id, member_id, qty, points, status FROM points_mall_redemptions \
         WHERE order_id = $1",
    )
    .bind(order.to_string())
    .fetch_optional(store.writer())
    .await?;
    row.as_ref().map(redemption_from_row).transpose()
}

/// Takes `qty` units of `goods` for `member`'s redemption by `order` (costing `points`), in the
/// caller's transaction: the item's units first (only while active and in its window, not sold
/// out), then the member's holding against `per_member_limit`, then the redemption row. The
/// caller rolls back on a refusal.
pub async fn take_in_tx(
    tx: &mut Tx,
    goods: Uuid,
    member: Uuid,
    order: Uuid,
    qty: i64,
    points: i64,
    now: i64,
) -> AppResult<Result<(), Refusal>> {
    let id = goods.to_string();
    let taken = sqlx::query(
        "UPDATE points_mall_goods SET units_taken = units_taken + $1 WHERE id = $2 \
         AND status = 'active' AND starts_at <= $3 AND ends_at > $3 \
         AND units_taken + $1 <= stock_units",
    )
    .bind(qty)
    .bind(&id)
    .bind(now)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    if taken == 0 {
        let running = sqlx::query(
            "SELECT 1 AS running FROM points_mall_goods WHERE id = $1 AND status = 'active' \
             AND starts_at <= $2 AND ends_at > $2",
        )
        .bind(&id)
        .bind(now)
        .fetch_optional(&mut **tx)
        .await?
        .is_some();
        return Ok(Err(if running {
            Refusal::SoldOut
        } else {
            Refusal::NotRunning
        }));
    }
    let row = sqlx::query(
        "SELECT CAST(COALESCE(SUM(r.qty), 0) AS BIGINT) AS held, MAX(g.per_member_limit) AS lim \
         FROM points_mall_goods g LEFT JOIN points_mall_redemptions r \
         ON r.goods_id = g.id AND r.member_id = $2 AND r.status = 'placed' WHERE g.id = $1",
    )
    .bind(&id)
    .bind(member.to_string())
    .fetch_one(&mut **tx)
    .await?;
    let held: i64 = col(&row, "held")?;
    let limit: i64 = col(&row, "lim")?;
    if held + qty > limit {
        return Ok(Err(Refusal::OverLimit));
    }
    sqlx::query(
        "INSERT INTO points_mall_redemptions (order_id, goods_id, member_id, qty, points, status, \
         created_at) VALUES ($1, $2, $3, $4, $5, 'placed', $6)",
    )
    .bind(order.to_string())
    .bind(&id)
    .bind(member.to_string())
    .bind(qty)
    .bind(points)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(Ok(()))
}

/// Gives the redemption of `order` back (once): `placed` → `returned`, its units back to the
/// item. Answers it when given back now (the caller returns its points), `None` otherwise.
pub async fn give_back_in_tx(tx: &mut Tx, order: Uuid, now: i64) -> AppResult<Option<Redemption>> {
    let moved = sqlx::query(
        "UPDATE points_mall_redemptions SET status = 'returned', returned_at = $1 \
         WHERE order_id = $2 AND status = 'placed'",
    )
    .bind(now)
    .bind(order.to_string())
    .execute(&mut **tx)
    .await?
    .rows_affected();
    if moved == 0 {
        return Ok(None);
    }
    let row = sqlx::query(
        "SELECT order_id, goods_id, member_id, qty, points, status FROM points_mall_redemptions \
         WHERE order_id = $1",
    )
    .bind(order.to_string())
    .fetch_one(&mut **tx)
    .await?;
    let r = redemption_from_row(&row)?;
    sqlx::query("UPDATE points_mall_goods SET units_taken = units_taken - $1 WHERE id = $2")
        .bind(r.qty)
        .bind(r.goods_id.to_string())
        .execute(&mut **tx)
        .await?;
    Ok(Some(r))
}

/// Redemptions to give back (at most `limit`): placed, and their order cancelled, or never
/// placed though taken before `taken_before`.
pub async fn to_give_back(store: &Store, taken_before: i64, limit: i64) -> AppResult<Vec<Uuid>> {
    let rows = sqlx::query(
        "SELECT r.order_id FROM points_mall_redemptions r LEFT JOIN orders o ON o.id = r.order_id \
         WHERE r.status = 'placed' \
         AND (o.status = 'cancelled' OR (o.id IS NULL AND r.created_at < $1)) LIMIT $2",
    )
    .bind(taken_before)
    .bind(limit)
    .fetch_all(store.reader())
    .await?;
    rows.iter().map(|r| uuid_col(r, "order_id")).collect()
}

/// The figures of an item: members who redeemed, units and points (given-back ones left out).
#[derive(Clone, Debug, Default, Serialize, ToSchema)]
#[schema(as = PointsMallReport)]
pub struct Report {
    /// Members with a redemption kept.
    pub members: i64,
    /// Units redeemed and kept.
    pub units: i64,
    /// Points taken and kept.
    pub points: i64,
}

/// The figures of `goods`.
pub async fn report(store: &Store, goods: Uuid) -> AppResult<Report> {
    let row = sqlx::query(
        "SELECT CAST(COUNT(DISTINCT member_id) AS BIGINT) AS members, \
         CAST(COALESCE(SUM(qty), 0) AS BIGINT) AS units, \
         CAST(COALESCE(SUM(points), 0) AS BIGINT) AS points \
         FROM points_mall_redemptions WHERE goods_id = $1 AND status = 'placed'",
    )
    .bind(goods.to_string())
    .fetch_one(store.reader())
    .await?;
    Ok(Report {
        members: col(&row, "members")?,
        units: col(&row, "units")?,
        points: col(&row, "points")?,
    })
}
