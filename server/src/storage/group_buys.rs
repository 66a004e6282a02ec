//! Group-buys (拼团, issue 17): head office's group-buys on a SKU, the teams members open and
//! join, and each member's seat with the order that pays for it (migration 0037).
//!
//! A seat is taken in one short transaction ([`take_seat`]): the group-buy's row is updated first
//! (its units set aside counted up under a CHECK; on PostgreSQL that row lock serialises the joins
//! of one group-buy, on SQLite the single writer does), then the team's `seats_taken` is counted
//! up only while the team is open, in time and not full, then the member's seat row is inserted
//! (one per member and team). So the last seat is taken exactly once and a team never exceeds its
//! size. What the seats mean for orders (held until the team fills, refunded when it fails) is
//! [`crate::app::group_buys`]'.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use retail_domain::money::Money;

use super::{col, from_ms, uuid_col, Store, Tx};
use crate::error::{AppError, AppResult};

/// A group-buy as head office sees it.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct GroupBuy {
    /// Id (the client id it was created with, UUIDv7).
    pub id: Uuid,
    /// The SKU sold at the group price.
    pub sku_id: Uuid,
    /// Chinese name.
    pub name_zh: String,
    /// English name.
    pub name_en: String,
    /// The group price per unit.
    pub group_price: Money,
    /// Members per team (2–50), the opener included.
    pub team_size: i64,
    /// Hours a team has to fill from its opening.
    pub fill_hours: i64,
    /// Units one member may hold in this group-buy (over all their teams).
    pub per_member_limit: i64,
    /// Start (inclusive).
    pub starts_at: chrono::DateTime<chrono::Utc>,
    /// End (exclusive): no team opens after it (open teams run to their deadline).
    pub ends_at: chrono::DateTime<chrono::Utc>,
    /// Units set aside for the group-buy.
    pub stock_units: i64,
    /// Units taken by seats held, paid or filled (refunded ones come back).
    pub units_taken: i64,
    /// Only members without a paid order before may open or join a team.
    pub new_members_only: bool,
    /// A team one member short at its deadline (every real seat paid) is filled with a virtual
    /// member instead of failing (off by default; each fill audited).
    #[serde(default)]
    pub virtual_fill: bool,
    /// `active` or `paused` (no team opens or is joined while paused).
    pub status: String,
    /// When it was created.
    pub created_at: chrono::DateTime<chrono::Utc>,
}

const BUY_COLUMNS: &str = "id, sku_id, name_zh, name_en, group_price_fen, team_size, fill_hours, \
     per_member_limit, starts_at, ends_at, stock_units, units_taken, new_members_only, status, created_at, \
     virtual_fill";

fn buy_from_row(row: &sqlx::any::AnyRow) -> AppResult<GroupBuy> {
    Ok(GroupBuy {
        id: uuid_col(row, "id")?,
        sku_id: uuid_col(row, "sku_id")?,
        name_zh: col(row, "name_zh")?,
        name_en: col(row, "name_en")?,
        group_price: Money::from_fen(col(row, "group_price_fen")?),
        team_size: col(row, "team_size")?,
        fill_hours: col(row, "fill_hours")?,
        per_member_limit: col(row, "per_member_limit")?,
        starts_at: from_ms(col(row, "starts_at")?),
        ends_at: from_ms(col(row, "ends_at")?),
        stock_units: col(row, "stock_units")?,
        units_taken: col(row, "units_taken")?,
        new_members_only: col::<i64>(row, "new_members_only")? != 0,
        virtual_fill: col::<i64>(row, "virtual_fill")? != 0,
        status: col(row, "status")?,
        created_at: from_ms(col(row, "created_at")?),
    })
}

/// Creates a group-buy; false when one with this id exists already (a retry).
pub async fn insert(store: &Store, g: &GroupBuy, actor: &str) -> AppResult<bool> {
    let mut tx = store.begin().await?;
    let now = super::now_ms();
    let done = sqlx::query(&format!(
        "INSERT INTO group_buys ({BUY_COLUMNS}, created_by, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 0, $12, 'active', $13, $15, $14, $13) \
         ON CONFLICT (id) DO NOTHING"
    ))
    .bind(g.id.to_string())
    .bind(g.sku_id.to_string())
    .bind(g.name_zh.as_str())
    .bind(g.name_en.as_str())
    .bind(g.group_price.fen())
    .bind(g.team_size)
    .bind(g.fill_hours)
    .bind(g.per_member_limit)
    .bind(g.starts_at.timestamp_millis())
    .bind(g.ends_at.timestamp_millis())
    .bind(g.stock_units)
    .bind(i64::from(g.new_members_only))
    .bind(now)
    .bind(actor)
    .bind(i64::from(g.virtual_fill))
    .execute(&mut *tx)
    .await?
    .rows_affected()
        == 1;
    if done {
        super::audit::record(
            &mut tx,
            actor,
            "group_buy.create",
            "group_buy",
            &g.id.to_string(),
            serde_json::json!({"sku_id": g.sku_id, "group_price": g.group_price.to_string(),
                "team_size": g.team_size, "stock_units": g.stock_units,
                "virtual_fill": g.virtual_fill}),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(done)
}

/// Pauses or resumes a group-buy (audited `group_buy.status`); false when there is none.
pub async fn set_status(store: &Store, id: Uuid, status: &str, actor: &str) -> AppResult<bool> {
    super::set_status_audited(
        store,
        "group_buys",
        ("group_buy.status", "group_buy"),
        id,
        status,
        actor,
    )
    .await
}

/// One group-buy.
pub async fn get(store: &Store, id: Uuid) -> AppResult<Option<GroupBuy>> {
    let row = sqlx::query(&format!(
        "SELECT {BUY_COLUMNS} FROM group_buys WHERE id = $1"
    ))
    .bind(id.to_string())
    .fetch_optional(store.writer())
    .await?;
    row.as_ref().map(buy_from_row).transpose()
}

/// Every group-buy, newest first (at most `limit`).
pub async fn list(store: &Store, limit: i64) -> AppResult<Vec<GroupBuy>> {
    let rows = sqlx::query(&format!(
        "SELECT {BUY_COLUMNS} FROM group_buys ORDER BY created_at DESC, id DESC LIMIT $1"
    ))
    .bind(limit)
    .fetch_all(store.reader())
    .await?;
    rows.iter().map(buy_from_row).collect()
}

/// The active group-buys of a SKU running at `now`.
pub async fn running_for_sku(store: &Store, sku: Uuid, now: i64) -> AppResult<Vec<GroupBuy>> {
    let rows = sqlx::query(&format!(
        "SELECT {BUY_COLUMNS} FROM group_buys WHERE sku_id = $1 AND status = 'active' \
         AND starts_at <= $2 AND ends_at > $2 ORDER BY created_at, id"
    ))
    .bind(sku.to_string())
    .bind(now)
    .fetch_all(store.reader())
    .await?;
    rows.iter().map(buy_from_row).collect()
}

/// A team.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Team {
    /// Id.
    pub id: Uuid,
    /// Its group-buy.
    pub group_buy_id: Uuid,
    /// The member who opened it.
    pub leader_id: Uuid,
    /// Seats.
    pub team_size: i64,
    /// Seats taken (orders placed, paid or not).
    pub seats_taken: i64,
    /// Seats paid.
    pub seats_paid: i64,
    /// Seats filled by a virtual member at the deadline (0 or 1; see `GroupBuy::virtual_fill`).
    pub virtual_seats: i64,
    /// `open`, `filled` or `failed`.
    pub status: String,
    /// When it fails unless filled.
    pub deadline_at: chrono::DateTime<chrono::Utc>,
    /// When it was opened.
    pub created_at: chrono::DateTime<chrono::Utc>,
}

const TEAM_COLUMNS: &str =
    "id, group_buy_id, leader_id, team_size, seats_taken, seats_paid, virtual_seats, status, deadline_at, \
     created_at";

fn team_from_row(row: &sqlx::any::AnyRow) -> AppResult<Team> {
    Ok(Team {
        id: uuid_col(row, "id")?,
        group_buy_id: uuid_col(row, "group_buy_id")?,
        leader_id: uuid_col(row, "leader_id")?,
        team_size: col(row, "team_size")?,
        seats_taken: col(row, "seats_taken")?,
        seats_paid: col(row, "seats_paid")?,
        virtual_seats: col(row, "virtual_seats")?,
        status: col(row, "status")?,
        deadline_at: from_ms(col(row, "deadline_at")?),
        created_at: from_ms(col(row, "created_at")?),
    })
}

/// One team (read through the writer: right after a seat was taken).
pub async fn team(store: &Store, id: Uuid) -> AppResult<Option<Team>> {
    let row = sqlx::query(&format!(
        "SELECT {TEAM_COLUMNS} FROM group_teams WHERE id = $1"
    ))
    .bind(id.to_string())
    .fetch_optional(store.writer())
    .await?;
    row.as_ref().map(team_from_row).transpose()
}

/// A group-buy's open teams with seats left, soonest deadline first.
pub async fn open_teams(
    store: &Store,
    group_buy: Uuid,
    now: i64,
    limit: i64,
) -> AppResult<Vec<Team>> {
    let rows = sqlx::query(&format!(
        "SELECT {TEAM_COLUMNS} FROM group_teams WHERE group_buy_id = $1 AND status = 'open' \
         AND deadline_at > $2 AND seats_taken < team_size ORDER BY deadline_at, id LIMIT $3"
    ))
    .bind(group_buy.to_string())
    .bind(now)
    .bind(limit)
    .fetch_all(store.reader())
    .await?;
    rows.iter().map(team_from_row).collect()
}

/// A seat in a team.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Seat {
    /// The team.
    pub team_id: Uuid,
    /// The member.
    pub member_id: Uuid,
    /// The order paying for it.
    pub order_id: Uuid,
    /// Units bought.
    pub qty: i64,
    /// `held` (order placed, not paid), `paid` or `refunded` (the team failed).
    pub status: String,
    /// When the seat was taken.
    pub joined_at: chrono::DateTime<chrono::Utc>,
}

fn seat_from_row(row: &sqlx::any::AnyRow) -> AppResult<Seat> {
    Ok(Seat {
        team_id: uuid_col(row, "team_id")?,
        member_id: uuid_col(row, "member_id")?,
        order_id: uuid_col(row, "order_id")?,
        qty: col(row, "qty")?,
        status: col(row, "status")?,
        joined_at: from_ms(col(row, "joined_at")?),
    })
}

const SEAT_COLUMNS: &str = "team_id, member_id, order_id, qty, status, joined_at";

/// A team's seats, in joining order.
pub async fn seats(store: &Store, team: Uuid) -> AppResult<Vec<Seat>> {
    let rows = sqlx::query(&format!(
        "SELECT {SEAT_COLUMNS} FROM group_members WHERE team_id = $1 ORDER BY joined_at, member_id"
    ))
    .bind(team.to_string())
    .fetch_all(store.writer())
    .await?;
    rows.iter().map(seat_from_row).collect()
}

/// The seat an order pays for, if any.
pub async fn seat_of_order(store: &Store, order: Uuid) -> AppResult<Option<Seat>> {
    let row = sqlx::query(&format!(
        "SELECT {SEAT_COLUMNS} FROM group_members WHERE order_id = $1"
    ))
    .bind(order.to_string())
    .fetch_optional(store.writer())
    .await?;
    row.as_ref().map(seat_from_row).transpose()
}

/// True when the order pays for a seat (one index read, no transaction).
pub async fn has_seat(store: &Store, order: Uuid) -> AppResult<bool> {
    Ok(
        sqlx::query("SELECT 1 AS seat FROM group_members WHERE order_id = $1")
            .bind(order.to_string())
            .fetch_optional(store.writer())
            .await?
            .is_some(),
    )
}

/// True when the order pays for a seat of a team that has not filled: it is held, not released
/// to pickup or shipping.
pub async fn held_in_tx(tx: &mut Tx, order: Uuid) -> AppResult<bool> {
    Ok(sqlx::query(
        "SELECT 1 AS held FROM group_members gm JOIN group_teams gt ON gt.id = gm.team_id \
         WHERE gm.order_id = $1 AND gt.status <> 'filled'",
    )
    .bind(order.to_string())
    .fetch_optional(&mut **tx)
    .await?
    .is_some())
}

/// [`held_in_tx`] outside a transaction.
pub async fn is_held(store: &Store, order: Uuid) -> AppResult<bool> {
    let mut conn = store.writer().acquire().await?;
    Ok(sqlx::query(
        "SELECT 1 AS held FROM group_members gm JOIN group_teams gt ON gt.id = gm.team_id \
         WHERE gm.order_id = $1 AND gt.status <> 'filled'",
    )
    .bind(order.to_string())
    .fetch_optional(&mut *conn)
    .await?
    .is_some())
}

/// Where a seat is taken: a new team, or an existing one.
#[derive(Clone, Copy, Debug)]
pub enum SeatIn {
    /// Open a new team with this id, failing at this deadline (ms).
    New {
        /// The team's id.
        team_id: Uuid,
        /// Its deadline.
        deadline_at: i64,
    },
    /// Join this team.
    Existing(Uuid),
}

/// Why a seat was not taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SeatRefusal {
    /// The group-buy is paused, over, or unknown.
    NotRunning,
    /// Its units set aside are all taken.
    SoldOut,
    /// The member would hold more than the per-member limit.
    OverLimit,
    /// The team is full.
    TeamFull,
    /// The team is past its deadline, failed or unknown.
    TeamClosed,
    /// The member holds a seat in this team already.
    AlreadyJoined,
}

/// Takes a seat for `member` (with `qty` units, paid for by `order`) in one transaction: the
/// group-buy's units first (its row updated only while active, running and not sold out: on
/// PostgreSQL the row lock serialises the joins of one group-buy), the member's holding checked
/// against the limit, the team's seat counted up only while it is open, in time and not full,
/// then the seat row (one per member and team). Nothing is written when refused.
#[allow(clippy::too_many_arguments)]
pub async fn take_seat(
    store: &Store,
    group_buy: Uuid,
    seat_in: SeatIn,
    member: Uuid,
    order: Uuid,
    qty: i64,
    per_member_limit: i64,
    team_size: i64,
    now: i64,
) -> AppResult<Result<Uuid, SeatRefusal>> {
    let mut tx = store.begin().await?;
    let outcome = take_seat_in_tx(
        &mut tx,
        group_buy,
        seat_in,
        member,
        order,
        qty,
        per_member_limit,
        team_size,
        now,
    )
    .await?;
    if outcome.is_ok() {
        tx.commit().await?;
    } else {
        tx.rollback().await?;
    }
    Ok(outcome)
}

#[allow(clippy::too_many_arguments)]
async fn take_seat_in_tx(
    tx: &mut Tx,
    group_buy: Uuid,
    seat_in: SeatIn,
    member: Uuid,
    order: Uuid,
    qty: i64,
    per_member_limit: i64,
    team_size: i64,
    now: i64,
) -> AppResult<Result<Uuid, SeatRefusal>> {
    let gb = group_buy.to_string();
    let units = sqlx::query(
        "UPDATE group_buys SET units_taken = units_taken + $1 WHERE id = $2 AND status = 'active' \
         AND starts_at <= $3 AND ends_at > $3 AND units_taken + $1 <= stock_units",
    )
    .bind(qty)
    .bind(&gb)
    .bind(now)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    if units == 0 {
        let running = sqlx::query(
            "SELECT 1 AS running FROM group_buys WHERE id = $1 AND status = 'active' \
             AND starts_at <= $2 AND ends_at > $2",
        )
        .bind(&gb)
        .bind(now)
        .fetch_optional(&mut **tx)
        .await?
        .is_some();
        // A team already open may still be joined after the group-buy's end (it runs to its
        // deadline): only opening needs the group-buy running.
        let joining_after_end = matches!(seat_in, SeatIn::Existing(_)) && !running && {
            sqlx::query(
                "UPDATE group_buys SET units_taken = units_taken + $1 WHERE id = $2 \
                 AND status = 'active' AND units_taken + $1 <= stock_units",
            )
            .bind(qty)
            .bind(&gb)
            .execute(&mut **tx)
            .await?
            .rows_affected()
                == 1
        };
        if !joining_after_end {
            return Ok(Err(if running {
                SeatRefusal::SoldOut
            } else {
                SeatRefusal::NotRunning
            }));
        }
    }
    let held: i64 = col(
        &sqlx::query(
            "SELECT CAST(COALESCE(SUM(qty), 0) AS BIGINT) AS held FROM group_members \
             WHERE group_buy_id = $1 AND member_id = $2 AND status <> 'refunded'",
        )
        .bind(&gb)
        .bind(member.to_string())
        .fetch_one(&mut **tx)
        .await?,
        "held",
    )?;
    if held + qty > per_member_limit {
        return Ok(Err(SeatRefusal::OverLimit));
    }
    let team_id = match seat_in {
        SeatIn::New {
            team_id,
            deadline_at,
        } => {
            sqlx::query(
                "INSERT INTO group_teams (id, group_buy_id, leader_id, team_size, seats_taken, \
                 seats_paid, status, deadline_at, created_at) VALUES ($1, $2, $3, $4, 1, 0, 'open', $5, $6)",
            )
            .bind(team_id.to_string())
            .bind(&gb)
            .bind(member.to_string())
            .bind(team_size)
            .bind(deadline_at)
            .bind(now)
            .execute(&mut **tx)
            .await?;
            team_id
        }
        SeatIn::Existing(team_id) => {
            let t = team_id.to_string();
            let joined = sqlx::query(
                "SELECT 1 AS joined FROM group_members WHERE team_id = $1 AND member_id = $2",
            )
            .bind(&t)
            .bind(member.to_string())
            .fetch_optional(&mut **tx)
            .await?
            .is_some();
            if joined {
                return Ok(Err(SeatRefusal::AlreadyJoined));
            }
            let taken = sqlx::query(
                "UPDATE group_teams SET seats_taken = seats_taken + 1 WHERE id = $1 \
                 AND group_buy_id = $2 AND status = 'open' AND deadline_at > $3 \
                 AND seats_taken < team_size",
            )
            .bind(&t)
            .bind(&gb)
            .bind(now)
            .execute(&mut **tx)
            .await?
            .rows_affected();
            if taken == 0 {
                let row = sqlx::query(
                    "SELECT status, seats_taken, team_size, deadline_at FROM group_teams \
                     WHERE id = $1 AND group_buy_id = $2",
                )
                .bind(&t)
                .bind(&gb)
                .fetch_optional(&mut **tx)
                .await?;
                let full = match &row {
                    Some(row) => {
                        let status: String = col(row, "status")?;
                        let deadline: i64 = col(row, "deadline_at")?;
                        status == "filled"
                            || (status == "open"
                                && deadline > now
                                && col::<i64>(row, "seats_taken")? >= col::<i64>(row, "team_size")?)
                    }
                    None => false,
                };
                return Ok(Err(if full {
                    SeatRefusal::TeamFull
                } else {
                    SeatRefusal::TeamClosed
                }));
            }
            team_id
        }
    };
    let inserted = sqlx::query(
        "INSERT INTO group_members (team_id, member_id, group_buy_id, order_id, qty, status, joined_at) \
         VALUES ($1, $2, $3, $4, $5, 'held', $6) ON CONFLICT DO NOTHING",
    )
    .bind(team_id.to_string())
    .bind(member.to_string())
    .bind(&gb)
    .bind(order.to_string())
    .bind(qty)
    .bind(now)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    if inserted == 0 {
        return Ok(Err(SeatRefusal::AlreadyJoined));
    }
    Ok(Ok(team_id))
}

/// Gives back the seat `order` holds in an open team (its order was cancelled or never placed):
/// the seat row goes, the team's seats and the group-buy's units are counted down; a team left
/// without seats fails. True when a seat was given back.
pub async fn release_seat_in_tx(tx: &mut Tx, store: &Store, order: Uuid) -> AppResult<bool> {
    let seat_sql = "SELECT gm.team_id, gm.group_buy_id, gm.qty, gm.status FROM group_members gm \
         JOIN group_teams gt ON gt.id = gm.team_id \
         WHERE gm.order_id = $1 AND gm.status IN ('held', 'paid') AND gt.status = 'open'";
    let Some(row) = sqlx::query(seat_sql)
        .bind(order.to_string())
        .fetch_optional(&mut **tx)
        .await?
    else {
        return Ok(false);
    };
    // The group-buy's row first, as taking a seat does (one lock order, no deadlock), then the
    // seat again under it.
    let gb: String = col(&row, "group_buy_id")?;
    lock_buy_in_tx(tx, store, &gb).await?;
    let Some(row) = sqlx::query(seat_sql)
        .bind(order.to_string())
        .fetch_optional(&mut **tx)
        .await?
    else {
        return Ok(false);
    };
    let team: String = col(&row, "team_id")?;
    let qty: i64 = col(&row, "qty")?;
    let paid = i64::from(col::<String>(&row, "status")? == "paid");
    sqlx::query("DELETE FROM group_members WHERE order_id = $1")
        .bind(order.to_string())
        .execute(&mut **tx)
        .await?;
    sqlx::query(
        "UPDATE group_teams SET seats_taken = seats_taken - 1, seats_paid = seats_paid - $1, \
         status = CASE WHEN seats_taken = 1 THEN 'failed' ELSE status END, \
         closed_at = CASE WHEN seats_taken = 1 THEN $2 ELSE closed_at END WHERE id = $3",
    )
    .bind(paid)
    .bind(super::now_ms())
    .bind(&team)
    .execute(&mut **tx)
    .await?;
    sqlx::query("UPDATE group_buys SET units_taken = units_taken - $1 WHERE id = $2")
        .bind(qty)
        .bind(&gb)
        .execute(&mut **tx)
        .await?;
    Ok(true)
}

/// Locks the group-buy of `team` (as [`lock_buy_in_tx`]); its id, or `None` for no such team.
async fn lock_buy_of_team_in_tx(
    tx: &mut Tx,
    store: &Store,
    team: Uuid,
) -> AppResult<Option<String>> {
    let Some(row) = sqlx::query("SELECT group_buy_id FROM group_teams WHERE id = $1")
        .bind(team.to_string())
        .fetch_optional(&mut **tx)
        .await?
    else {
        return Ok(None);
    };
    let gb: String = col(&row, "group_buy_id")?;
    lock_buy_in_tx(tx, store, &gb).await?;
    Ok(Some(gb))
}

/// Locks a group-buy's row (PostgreSQL; SQLite's single writer serialises anyway).
async fn lock_buy_in_tx(tx: &mut Tx, store: &Store, gb: &str) -> AppResult<()> {
    sqlx::query(&format!(
        "SELECT id FROM group_buys WHERE id = $1{}",
        store.for_update()
    ))
    .bind(gb)
    .fetch_optional(&mut **tx)
    .await?;
    Ok(())
}

/// Marks the seat `order` pays for as paid (once) and counts the team's paid seats up; answers
/// the team when the seat was held in an open team.
pub async fn mark_paid_in_tx(tx: &mut Tx, order: Uuid, now: i64) -> AppResult<Option<Uuid>> {
    let row = sqlx::query(
        "UPDATE group_members SET status = 'paid', paid_at = $1 WHERE order_id = $2 \
         AND status = 'held' AND team_id IN (SELECT id FROM group_teams WHERE status = 'open') \
         RETURNING team_id",
    )
    .bind(now)
    .bind(order.to_string())
    .fetch_optional(&mut **tx)
    .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let team: String = col(&row, "team_id")?;
    sqlx::query("UPDATE group_teams SET seats_paid = seats_paid + 1 WHERE id = $1")
        .bind(&team)
        .execute(&mut **tx)
        .await?;
    Ok(Some(
        team.parse()
            .map_err(|e: uuid::Error| AppError::Internal(e.into()))?,
    ))
}

/// Marks a team filled when every seat is paid (once); answers its orders when it filled now.
pub async fn fill_if_complete_in_tx(
    tx: &mut Tx,
    team: Uuid,
    now: i64,
) -> AppResult<Option<Vec<Uuid>>> {
    let filled = sqlx::query(
        "UPDATE group_teams SET status = 'filled', closed_at = $1 WHERE id = $2 \
         AND status = 'open' AND seats_paid = team_size",
    )
    .bind(now)
    .bind(team.to_string())
    .execute(&mut **tx)
    .await?
    .rows_affected();
    if filled == 0 {
        return Ok(None);
    }
    Ok(Some(orders_of_team_in_tx(tx, team).await?))
}

async fn orders_of_team_in_tx(tx: &mut Tx, team: Uuid) -> AppResult<Vec<Uuid>> {
    let rows =
        sqlx::query("SELECT order_id FROM group_members WHERE team_id = $1 ORDER BY joined_at")
            .bind(team.to_string())
            .fetch_all(&mut **tx)
            .await?;
    rows.iter().map(|r| uuid_col(r, "order_id")).collect()
}

/// Fills a team past its deadline with one virtual seat (once): only when its group-buy allows
/// it, the team is one member short and every real seat is paid. Answers its orders when it was
/// filled now.
pub async fn fill_with_virtual_in_tx(
    tx: &mut Tx,
    store: &Store,
    team: Uuid,
    now: i64,
) -> AppResult<Option<Vec<Uuid>>> {
    let Some(gb) = lock_buy_of_team_in_tx(tx, store, team).await? else {
        return Ok(None);
    };
    let filled = sqlx::query(
        "UPDATE group_teams SET status = 'filled', closed_at = $1, virtual_seats = 1 \
         WHERE id = $2 AND status = 'open' AND deadline_at <= $1 \
         AND seats_taken = team_size - 1 AND seats_paid = seats_taken \
         AND EXISTS (SELECT 1 FROM group_buys WHERE id = $3 AND virtual_fill = 1)",
    )
    .bind(now)
    .bind(team.to_string())
    .bind(&gb)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    if filled == 0 {
        return Ok(None);
    }
    Ok(Some(orders_of_team_in_tx(tx, team).await?))
}

/// Open teams past their deadline (at most `limit`).
pub async fn overdue_teams(store: &Store, now: i64, limit: i64) -> AppResult<Vec<Uuid>> {
    let rows = sqlx::query(
        "SELECT id FROM group_teams WHERE status = 'open' AND deadline_at <= $1 \
         ORDER BY deadline_at, id LIMIT $2",
    )
    .bind(now)
    .bind(limit)
    .fetch_all(store.reader())
    .await?;
    rows.iter().map(|r| uuid_col(r, "id")).collect()
}

/// Fails a team past its deadline (once: false when it was not open any more): its seats are
/// marked refunded and their units go back to the group-buy. Answers the team's orders through
/// `orders` for the caller to cancel in the same transaction.
pub async fn fail_in_tx(
    tx: &mut Tx,
    store: &Store,
    team: Uuid,
    now: i64,
    orders: &mut Vec<Uuid>,
) -> AppResult<bool> {
    let Some(gb) = lock_buy_of_team_in_tx(tx, store, team).await? else {
        return Ok(false);
    };
    let failed = sqlx::query(
        "UPDATE group_teams SET status = 'failed', closed_at = $1 WHERE id = $2 AND status = 'open' \
         AND deadline_at <= $1",
    )
    .bind(now)
    .bind(team.to_string())
    .execute(&mut **tx)
    .await?
    .rows_affected();
    if failed == 0 {
        return Ok(false);
    }
    let t = team.to_string();
    let units: i64 = col(
        &sqlx::query(
            "SELECT CAST(COALESCE(SUM(qty), 0) AS BIGINT) AS units FROM group_members \
             WHERE team_id = $1 AND status <> 'refunded'",
        )
        .bind(&t)
        .fetch_one(&mut **tx)
        .await?,
        "units",
    )?;
    sqlx::query("UPDATE group_members SET status = 'refunded' WHERE team_id = $1")
        .bind(&t)
        .execute(&mut **tx)
        .await?;
    sqlx::query("UPDATE group_buys SET units_taken = units_taken - $1 WHERE id = $2")
        .bind(units)
        .bind(&gb)
        .execute(&mut **tx)
        .await?;
    orders.extend(orders_of_team_in_tx(tx, team).await?);
    Ok(true)
}

/// Seats of open teams whose order was cancelled, or never placed (`joined_before`: a seat
/// taken before it whose order does not exist), at most `limit`: their orders' ids.
pub async fn stale_seats(store: &Store, joined_before: i64, limit: i64) -> AppResult<Vec<Uuid>> {
    let rows = sqlx::query(
        "SELECT gm.order_id FROM group_members gm JOIN group_teams gt ON gt.id = gm.team_id \
         LEFT JOIN orders o ON o.id = gm.order_id \
         WHERE gt.status = 'open' AND gm.status IN ('held', 'paid') \
         AND (o.status = 'cancelled' OR (o.id IS NULL AND gm.joined_at < $1)) LIMIT $2",
    )
    .bind(joined_before)
    .bind(limit)
    .fetch_all(store.reader())
    .await?;
    rows.iter().map(|r| uuid_col(r, "order_id")).collect()
}

/// Held seats of open teams whose order is paid (a payment whose follow-up was lost to a
/// crash), at most `limit`: their orders' ids.
pub async fn paid_but_held(store: &Store, limit: i64) -> AppResult<Vec<Uuid>> {
    let rows = sqlx::query(
        "SELECT gm.order_id FROM group_members gm JOIN group_teams gt ON gt.id = gm.team_id \
         JOIN orders o ON o.id = gm.order_id \
         WHERE gt.status = 'open' AND gm.status = 'held' AND o.status = 'paid' LIMIT $1",
    )
    .bind(limit)
    .fetch_all(store.reader())
    .await?;
    rows.iter().map(|r| uuid_col(r, "order_id")).collect()
}

/// True when the member has a paid online or lane order (not a new member any more).
pub async fn has_bought(store: &Store, member: Uuid) -> AppResult<bool> {
    Ok(sqlx::query(
        "SELECT 1 AS bought FROM orders WHERE member_id = $1 \
         AND status NOT IN ('pending_payment', 'cancelled') LIMIT 1",
    )
    .bind(member.to_string())
    .fetch_optional(store.reader())
    .await?
    .is_some())
}

/// A group-buy's figures for head office.
#[derive(Clone, Debug, Default, Serialize, ToSchema)]
#[schema(as = GroupBuyFigures)]
pub struct Report {
    /// Teams open now.
    pub teams_open: i64,
    /// Teams filled.
    pub teams_filled: i64,
    /// Teams failed.
    pub teams_failed: i64,
    /// Of the teams filled, those filled with a virtual member at their deadline.
    pub teams_virtually_filled: i64,
    /// Members with a seat (held, paid or refunded).
    pub participants: i64,
    /// What the orders of filled teams are worth.
    pub gmv: Money,
}

/// The figures of a group-buy.
pub async fn report(store: &Store, group_buy: Uuid) -> AppResult<Report> {
    let gb = group_buy.to_string();
    let mut report = Report::default();
    for row in sqlx::query(
        "SELECT status, CAST(COUNT(*) AS BIGINT) AS n, \
         CAST(COALESCE(SUM(CASE WHEN virtual_seats > 0 THEN 1 ELSE 0 END), 0) AS BIGINT) AS v \
         FROM group_teams WHERE group_buy_id = $1 GROUP BY status",
    )
    .bind(&gb)
    .fetch_all(store.reader())
    .await?
    {
        let n: i64 = col(&row, "n")?;
        match col::<String>(&row, "status")?.as_str() {
            "open" => report.teams_open = n,
            "filled" => {
                report.teams_filled = n;
                report.teams_virtually_filled = col(&row, "v")?;
            }
            _ => report.teams_failed = n,
        }
    }
    let row = sqlx::query(
        "SELECT CAST(COUNT(DISTINCT gm.member_id) AS BIGINT) AS participants, \
         CAST(COALESCE(SUM(CASE WHEN gt.status = 'filled' THEN o.total_fen ELSE 0 END), 0) AS BIGINT) AS gmv \
         FROM group_members gm JOIN group_teams gt ON gt.id = gm.team_id \
         LEFT JOIN orders o ON o.id = gm.order_id WHERE gm.group_buy_id = $1",
    )
    .bind(&gb)
    .fetch_one(store.reader())
    .await?;
    report.participants = col(&row, "participants")?;
    report.gmv = Money::from_fen(col(&row, "gmv")?);
    Ok(report)
}
