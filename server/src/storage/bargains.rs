//! Bargains (砍价, issue 17): head office's bargains on a SKU, the runs members start from them
//! (each with its schedule of cuts drawn at the start), the helps that use the schedule slot by
//! slot, and the run bought at its current price (migration 0041).
//!
//! A help is one short transaction ([`help_in_tx`]): the run's `helps` is counted up first by a
//! conditional update (only while the run is open, in time and not at its floor: on PostgreSQL
//! that row lock serialises the helps of one run, on SQLite the single writer does), which names
//! the slot; the member's one help per run and helps per day are checked under it; then that
//! slot is given its helper (once: only while it has none) and the run's price falls by its cut.
//! So each slot is used exactly once and the floor is reached exactly at the last one. Unused
//! slots are never read out of this module except by [`start_run`] writing them.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use retail_domain::money::Money;

use super::{col, from_ms, uuid_col, Store, Tx};
use crate::error::AppResult;

/// A bargain as head office sees it.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct Bargain {
    /// Id (the client id it was created with, UUIDv7).
    pub id: Uuid,
    /// The SKU sold at the bargained price.
    pub sku_id: Uuid,
    /// Chinese name.
    pub name_zh: String,
    /// English name.
    pub name_en: String,
    /// The price a run starts at.
    pub start_price: Money,
    /// The lowest price, reached exactly at the last help.
    pub floor_price: Money,
    /// Helps that take a run from its start price to its floor (2–100).
    pub helpers: i64,
    /// Hours a run lasts from its start (helped and bought before then).
    pub hours: i64,
    /// Runs one member may start in this bargain (each buys at most one unit).
    pub per_member_limit: i64,
    /// Start (inclusive).
    pub starts_at: chrono::DateTime<chrono::Utc>,
    /// End (exclusive): no run starts after it (started runs last their hours).
    pub ends_at: chrono::DateTime<chrono::Utc>,
    /// Units set aside for the bargain.
    pub stock_units: i64,
    /// Units taken by runs bought (an order cancelled before payment gives its unit back).
    pub units_taken: i64,
    /// Only members without a paid order before may help.
    pub new_helpers_only: bool,
    /// `active` or `paused` (no run starts, none is helped or bought while paused).
    pub status: String,
    /// When it was created.
    pub created_at: chrono::DateTime<chrono::Utc>,
}

const BARGAIN_COLUMNS: &str = "id, sku_id, name_zh, name_en, start_price_fen, floor_price_fen, \
     helpers, hours, per_member_limit, starts_at, ends_at, stock_units, units_taken, \
     new_helpers_only, status, created_at";

fn bargain_from_row(row: &sqlx::any::AnyRow) -> AppResult<Bargain> {
    Ok(Bargain {
        id: uuid_col(row, "id")?,
        sku_id: uuid_col(row, "sku_id")?,
        name_zh: col(row, "name_zh")?,
        name_en: col(row, "name_en")?,
        start_price: Money::from_fen(col(row, "start_price_fen")?),
        floor_price: Money::from_fen(col(row, "floor_price_fen")?),
        helpers: col(row, "helpers")?,
        hours: col(row, "hours")?,
        per_member_limit: col(row, "per_member_limit")?,
        starts_at: from_ms(col(row, "starts_at")?),
        ends_at: from_ms(col(row, "ends_at")?),
        stock_units: col(row, "stock_units")?,
        units_taken: col(row, "units_taken")?,
        new_helpers_only: col::<i64>(row, "new_helpers_only")? != 0,
        status: col(row, "status")?,
        created_at: from_ms(col(row, "created_at")?),
    })
}

/// Creates a bargain (audited as `bargain.create`); false when one with this id exists already
/// (a retry).
pub async fn insert(store: &Store, b: &Bargain, actor: &str) -> AppResult<bool> {
    let mut tx = store.begin().await?;
    let now = super::now_ms();
    let done = sqlx::query(&format!(
        "INSERT INTO bargains ({BARGAIN_COLUMNS}, created_by, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, 0, $13, 'active', $14, $15, $14) \
         ON CONFLICT (id) DO NOTHING"
    ))
    .bind(b.id.to_string())
    .bind(b.sku_id.to_string())
    .bind(b.name_zh.as_str())
    .bind(b.name_en.as_str())
    .bind(b.start_price.fen())
    .bind(b.floor_price.fen())
    .bind(b.helpers)
    .bind(b.hours)
    .bind(b.per_member_limit)
    .bind(b.starts_at.timestamp_millis())
    .bind(b.ends_at.timestamp_millis())
    .bind(b.stock_units)
    .bind(i64::from(b.new_helpers_only))
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
            "bargain.create",
            "bargain",
            &b.id.to_string(),
            serde_json::json!({"sku_id": b.sku_id, "start_price": b.start_price.to_string(),
                "floor_price": b.floor_price.to_string(), "helpers": b.helpers,
                "stock_units": b.stock_units}),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(done)
}

/// Pauses or resumes a bargain (audited as `bargain.status`); false when there is none.
pub async fn set_status(store: &Store, id: Uuid, status: &str, actor: &str) -> AppResult<bool> {
    super::set_status_audited(
        store,
        "bargains",
        ("bargain.status", "bargain"),
        id,
        status,
        actor,
    )
    .await
}

/// One bargain.
pub async fn get(store: &Store, id: Uuid) -> AppResult<Option<Bargain>> {
    let row = sqlx::query(&format!(
        "SELECT {BARGAIN_COLUMNS} FROM bargains WHERE id = $1"
    ))
    .bind(id.to_string())
    .fetch_optional(store.writer())
    .await?;
    row.as_ref().map(bargain_from_row).transpose()
}

/// Every bargain, newest first (at most `limit`).
pub async fn list(store: &Store, limit: i64) -> AppResult<Vec<Bargain>> {
    let rows = sqlx::query(&format!(
        "SELECT {BARGAIN_COLUMNS} FROM bargains ORDER BY created_at DESC, id DESC LIMIT $1"
    ))
    .bind(limit)
    .fetch_all(store.reader())
    .await?;
    rows.iter().map(bargain_from_row).collect()
}

/// The active bargains of a SKU running at `now`.
pub async fn running_for_sku(store: &Store, sku: Uuid, now: i64) -> AppResult<Vec<Bargain>> {
    let rows = sqlx::query(&format!(
        "SELECT {BARGAIN_COLUMNS} FROM bargains WHERE sku_id = $1 AND status = 'active' \
         AND starts_at <= $2 AND ends_at > $2 ORDER BY created_at, id"
    ))
    .bind(sku.to_string())
    .bind(now)
    .fetch_all(store.reader())
    .await?;
    rows.iter().map(bargain_from_row).collect()
}

/// A member's bargain run (what `/bargain/{id}` shows; never its unused cuts).
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct BargainRun {
    /// Id (the client id it was started with).
    pub id: Uuid,
    /// Its bargain.
    pub bargain_id: Uuid,
    /// The member who started it (the only one who may buy it).
    pub member_id: Uuid,
    /// The price it started at.
    pub start_price: Money,
    /// Its floor.
    pub floor_price: Money,
    /// The price now (what the starter pays when buying now).
    pub price: Money,
    /// Helps that reach the floor.
    pub helpers: i64,
    /// Helps so far.
    pub helps: i64,
    /// `open` or `bought`.
    pub status: String,
    /// The order that bought it.
    pub order_id: Option<Uuid>,
    /// BargainHelped and bought before this.
    pub deadline_at: chrono::DateTime<chrono::Utc>,
    /// When it was started.
    pub created_at: chrono::DateTime<chrono::Utc>,
}

const RUN_COLUMNS: &str = "id, bargain_id, member_id, start_price_fen, floor_price_fen, \
     price_fen, helpers, helps, status, order_id, deadline_at, created_at";

fn run_from_row(row: &sqlx::any::AnyRow) -> AppResult<BargainRun> {
    let order: Option<String> = col(row, "order_id")?;
    Ok(BargainRun {
        id: uuid_col(row, "id")?,
        bargain_id: uuid_col(row, "bargain_id")?,
        member_id: uuid_col(row, "member_id")?,
        start_price: Money::from_fen(col(row, "start_price_fen")?),
        floor_price: Money::from_fen(col(row, "floor_price_fen")?),
        price: Money::from_fen(col(row, "price_fen")?),
        helpers: col(row, "helpers")?,
        helps: col(row, "helps")?,
        status: col(row, "status")?,
        order_id: order.and_then(|o| o.parse().ok()),
        deadline_at: from_ms(col(row, "deadline_at")?),
        created_at: from_ms(col(row, "created_at")?),
    })
}

/// One run (read through the writer: right after a help).
pub async fn run(store: &Store, id: Uuid) -> AppResult<Option<BargainRun>> {
    let row = sqlx::query(&format!(
        "SELECT {RUN_COLUMNS} FROM bargain_runs WHERE id = $1"
    ))
    .bind(id.to_string())
    .fetch_optional(store.writer())
    .await?;
    row.as_ref().map(run_from_row).transpose()
}

/// The run an order bought, if any.
pub async fn run_of_order(store: &Store, order: Uuid) -> AppResult<Option<BargainRun>> {
    let row = sqlx::query(&format!(
        "SELECT {RUN_COLUMNS} FROM bargain_runs WHERE order_id = $1"
    ))
    .bind(order.to_string())
    .fetch_optional(store.reader())
    .await?;
    row.as_ref().map(run_from_row).transpose()
}

/// A member's open runs of a bargain started after `since` (newest first, at most 10).
pub async fn member_runs(
    store: &Store,
    bargain: Uuid,
    member: Uuid,
    since: i64,
) -> AppResult<Vec<BargainRun>> {
    let rows = sqlx::query(&format!(
        "SELECT {RUN_COLUMNS} FROM bargain_runs WHERE bargain_id = $1 AND member_id = $2 \
         AND deadline_at > $3 ORDER BY created_at DESC, id DESC LIMIT 10"
    ))
    .bind(bargain.to_string())
    .bind(member.to_string())
    .bind(since)
    .fetch_all(store.reader())
    .await?;
    rows.iter().map(run_from_row).collect()
}

/// A run to start, with its schedule.
#[derive(Debug)]
pub struct NewBargainRun<'a> {
    /// Its id (the client id).
    pub id: Uuid,
    /// The bargain.
    pub bargain: &'a Bargain,
    /// The member starting it.
    pub member: Uuid,
    /// The cuts, slot 1 first (they sum to the start price minus the floor).
    pub cuts: &'a [i64],
    /// Now (ms).
    pub now: i64,
}

/// Why a run was not started.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StartRefusal {
    /// The bargain is paused, over, or not started.
    NotRunning,
    /// Its units set aside are all taken.
    SoldOut,
    /// The member started as many runs as the per-member limit allows.
    OverLimit,
    /// A run with this id exists (a retry raced the first try).
    Exists,
}

/// Starts a run in one transaction: the bargain's row first (only while active and running; on
/// PostgreSQL the row lock serialises the starts of one bargain), the member's runs counted
/// against the limit, then the run and its schedule. Nothing is written when refused.
pub async fn start_run(
    store: &Store,
    new: &NewBargainRun<'_>,
) -> AppResult<Result<BargainRun, StartRefusal>> {
    let mut tx = store.begin().await?;
    let b = new.bargain;
    let id = b.id.to_string();
    let running = sqlx::query(
        "UPDATE bargains SET updated_at = updated_at WHERE id = $1 AND status = 'active' \
         AND starts_at <= $2 AND ends_at > $2",
    )
    .bind(&id)
    .bind(new.now)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    let refusal = if running == 0 {
        Some(StartRefusal::NotRunning)
    } else {
        let row = sqlx::query(
            "SELECT units_taken, stock_units, \
             (SELECT CAST(COUNT(*) AS BIGINT) FROM bargain_runs WHERE bargain_id = $1 AND member_id = $2) AS runs \
             FROM bargains WHERE id = $1",
        )
        .bind(&id)
        .bind(new.member.to_string())
        .fetch_one(&mut *tx)
        .await?;
        if col::<i64>(&row, "units_taken")? >= col::<i64>(&row, "stock_units")? {
            Some(StartRefusal::SoldOut)
        } else if col::<i64>(&row, "runs")? >= b.per_member_limit {
            Some(StartRefusal::OverLimit)
        } else {
            None
        }
    };
    if let Some(refusal) = refusal {
        tx.rollback().await?;
        return Ok(Err(refusal));
    }
    let deadline = new.now.saturating_add(b.hours.saturating_mul(3_600_000));
    let inserted = sqlx::query(
        "INSERT INTO bargain_runs (id, bargain_id, member_id, start_price_fen, floor_price_fen, \
         price_fen, helpers, helps, status, deadline_at, created_at) \
         VALUES ($1, $2, $3, $4, $5, $4, $6, 0, 'open', $7, $8) ON CONFLICT (id) DO NOTHING",
    )
    .bind(new.id.to_string())
    .bind(&id)
    .bind(new.member.to_string())
    .bind(b.start_price.fen())
    .bind(b.floor_price.fen())
    .bind(b.helpers)
    .bind(deadline)
    .bind(new.now)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if inserted == 0 {
        tx.rollback().await?;
        return Ok(Err(StartRefusal::Exists));
    }
    for (i, cut) in new.cuts.iter().enumerate() {
        sqlx::query("INSERT INTO bargain_cuts (run_id, slot, cut_fen) VALUES ($1, $2, $3)")
            .bind(new.id.to_string())
            .bind(i as i64 + 1)
            .bind(*cut)
            .execute(&mut *tx)
            .await?;
    }
    let row = sqlx::query(&format!(
        "SELECT {RUN_COLUMNS} FROM bargain_runs WHERE id = $1"
    ))
    .bind(new.id.to_string())
    .fetch_one(&mut *tx)
    .await?;
    let run = run_from_row(&row)?;
    tx.commit().await?;
    Ok(Ok(run))
}

/// A help given (a used slot of the schedule).
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct BargainHelp {
    /// The run.
    pub run_id: Uuid,
    /// The slot it used (1 is the first help).
    pub slot: i64,
    /// What it cut off the price.
    pub cut: Money,
    /// The member who helped.
    pub helper_id: Uuid,
    /// The help's client id.
    pub help_id: Uuid,
    /// When.
    pub helped_at: chrono::DateTime<chrono::Utc>,
}

const HELP_COLUMNS: &str = "run_id, slot, cut_fen, helper_id, help_id, helped_at";

fn help_from_row(row: &sqlx::any::AnyRow) -> AppResult<BargainHelp> {
    Ok(BargainHelp {
        run_id: uuid_col(row, "run_id")?,
        slot: col(row, "slot")?,
        cut: Money::from_fen(col(row, "cut_fen")?),
        helper_id: uuid_col(row, "helper_id")?,
        help_id: uuid_col(row, "help_id")?,
        helped_at: from_ms(col(row, "helped_at")?),
    })
}

/// A run's helps (its used slots only), first help first.
pub async fn helps(store: &Store, run: Uuid) -> AppResult<Vec<BargainHelp>> {
    let rows = sqlx::query(&format!(
        "SELECT {HELP_COLUMNS} FROM bargain_cuts WHERE run_id = $1 AND helper_id IS NOT NULL \
         ORDER BY slot"
    ))
    .bind(run.to_string())
    .fetch_all(store.writer())
    .await?;
    rows.iter().map(help_from_row).collect()
}

/// True when `member` helped `run`.
pub async fn helped_by(store: &Store, run: Uuid, member: Uuid) -> AppResult<bool> {
    Ok(
        sqlx::query("SELECT 1 AS helped FROM bargain_cuts WHERE run_id = $1 AND helper_id = $2")
            .bind(run.to_string())
            .bind(member.to_string())
            .fetch_optional(store.writer())
            .await?
            .is_some(),
    )
}

/// A run's price right after the help in `slot` (its start price less the cuts of slots up to
/// it).
pub async fn price_after(store: &Store, run: Uuid, slot: i64) -> AppResult<Money> {
    let row = sqlx::query(
        "SELECT r.start_price_fen - CAST(COALESCE(SUM(c.cut_fen), 0) AS BIGINT) AS price \
         FROM bargain_runs r LEFT JOIN bargain_cuts c ON c.run_id = r.id AND c.slot <= $2 \
         AND c.helper_id IS NOT NULL WHERE r.id = $1 GROUP BY r.start_price_fen",
    )
    .bind(run.to_string())
    .bind(slot)
    .fetch_one(store.writer())
    .await?;
    Ok(Money::from_fen(col(&row, "price")?))
}

/// The help given with this client id, if any.
pub async fn help_by_id(store: &Store, help_id: Uuid) -> AppResult<Option<BargainHelp>> {
    let row = sqlx::query(&format!(
        "SELECT {HELP_COLUMNS} FROM bargain_cuts WHERE help_id = $1"
    ))
    .bind(help_id.to_string())
    .fetch_optional(store.writer())
    .await?;
    row.as_ref().map(help_from_row).transpose()
}

/// Why a help was not given.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HelpRefusal {
    /// The run is past its deadline.
    Expired,
    /// The run reached its floor (every slot used).
    Finished,
    /// The run was bought.
    BargainBought,
    /// The member helped this run already.
    AlreadyHelped,
    /// The member gave as many helps today as allowed.
    DailyLimit,
}

/// A help to give.
#[derive(Clone, Copy, Debug)]
pub struct NewHelp {
    /// The run.
    pub run: Uuid,
    /// The helping member.
    pub helper: Uuid,
    /// The help's client id.
    pub help_id: Uuid,
    /// Now (ms).
    pub now: i64,
    /// Today's China day number.
    pub day: i64,
    /// Helps a member may give a day.
    pub daily_limit: i64,
}

/// Gives a help inside the caller's transaction (see the module's doc): answers the help and the
/// run after it, or why not — the caller rolls back on a refusal (the slot counted up is given
/// back with it).
pub async fn help_in_tx(
    tx: &mut Tx,
    h: &NewHelp,
) -> AppResult<Result<(BargainHelp, BargainRun), HelpRefusal>> {
    let run = h.run.to_string();
    let taken = sqlx::query(
        "UPDATE bargain_runs SET helps = helps + 1 WHERE id = $1 AND status = 'open' \
         AND deadline_at > $2 AND helps < helpers RETURNING helps",
    )
    .bind(&run)
    .bind(h.now)
    .fetch_optional(&mut **tx)
    .await?;
    let Some(taken) = taken else {
        let row = sqlx::query("SELECT status, deadline_at FROM bargain_runs WHERE id = $1")
            .bind(&run)
            .fetch_one(&mut **tx)
            .await?;
        return Ok(Err(if col::<String>(&row, "status")? == "bought" {
            HelpRefusal::BargainBought
        } else if col::<i64>(&row, "deadline_at")? <= h.now {
            HelpRefusal::Expired
        } else {
            HelpRefusal::Finished
        }));
    };
    let slot: i64 = col(&taken, "helps")?;
    let helped =
        sqlx::query("SELECT 1 AS helped FROM bargain_cuts WHERE run_id = $1 AND helper_id = $2")
            .bind(&run)
            .bind(h.helper.to_string())
            .fetch_optional(&mut **tx)
            .await?
            .is_some();
    if helped {
        return Ok(Err(HelpRefusal::AlreadyHelped));
    }
    let counted = sqlx::query(
        "INSERT INTO bargain_help_days (member_id, day, helps) VALUES ($1, $2, 1) \
         ON CONFLICT (member_id, day) DO UPDATE SET helps = bargain_help_days.helps + 1 \
         WHERE bargain_help_days.helps < $3",
    )
    .bind(h.helper.to_string())
    .bind(h.day)
    .bind(h.daily_limit)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    if counted == 0 {
        return Ok(Err(HelpRefusal::DailyLimit));
    }
    let cut = sqlx::query(&format!(
        "UPDATE bargain_cuts SET helper_id = $1, help_id = $2, helped_at = $3 \
         WHERE run_id = $4 AND slot = $5 AND helper_id IS NULL RETURNING {HELP_COLUMNS}"
    ))
    .bind(h.helper.to_string())
    .bind(h.help_id.to_string())
    .bind(h.now)
    .bind(&run)
    .bind(slot)
    .fetch_one(&mut **tx)
    .await?;
    let help = help_from_row(&cut)?;
    let row = sqlx::query(&format!(
        "UPDATE bargain_runs SET price_fen = price_fen - $1 WHERE id = $2 RETURNING {RUN_COLUMNS}"
    ))
    .bind(help.cut.fen())
    .bind(&run)
    .fetch_one(&mut **tx)
    .await?;
    Ok(Ok((help, run_from_row(&row)?)))
}

/// Why a run was not bought.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BuyRefusal {
    /// The run is past its deadline.
    Expired,
    /// The run was bought already (by another order).
    BargainBought,
    /// The bargain's units set aside are all taken.
    SoldOut,
}

/// Marks a run bought by `order` in one transaction: the run first (only while open and in
/// time), then one unit of the bargain's set-aside (only while some is left; a paused bargain's
/// runs may still be bought).
/// Answers the run at the price it is bought at; nothing is written when refused.
pub async fn buy(
    store: &Store,
    run: Uuid,
    order: Uuid,
    now: i64,
) -> AppResult<Result<BargainRun, BuyRefusal>> {
    let mut tx = store.begin().await?;
    let row = sqlx::query(&format!(
        "UPDATE bargain_runs SET status = 'bought', order_id = $1, bought_at = $2 \
         WHERE id = $3 AND status = 'open' AND deadline_at > $2 RETURNING {RUN_COLUMNS}"
    ))
    .bind(order.to_string())
    .bind(now)
    .bind(run.to_string())
    .fetch_optional(&mut *tx)
    .await?;
    let Some(row) = row else {
        let row = sqlx::query("SELECT status FROM bargain_runs WHERE id = $1")
            .bind(run.to_string())
            .fetch_one(&mut *tx)
            .await?;
        let bought = col::<String>(&row, "status")? == "bought";
        tx.rollback().await?;
        return Ok(Err(if bought {
            BuyRefusal::BargainBought
        } else {
            BuyRefusal::Expired
        }));
    };
    let run = run_from_row(&row)?;
    let unit = sqlx::query(
        "UPDATE bargains SET units_taken = units_taken + 1 WHERE id = $1 \
         AND units_taken < stock_units",
    )
    .bind(run.bargain_id.to_string())
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if unit == 0 {
        tx.rollback().await?;
        return Ok(Err(BuyRefusal::SoldOut));
    }
    tx.commit().await?;
    Ok(Ok(run))
}

/// Gives back what buying a run took when its order is cancelled before payment or was never
/// placed: the run is open again (to be bought again before its deadline), its unit back in the
/// bargain's set-aside. True when a run was given back.
pub async fn release_in_tx(tx: &mut Tx, order: Uuid) -> AppResult<bool> {
    let row = sqlx::query(
        "UPDATE bargain_runs SET status = 'open', order_id = NULL, bought_at = NULL \
         WHERE order_id = $1 AND status = 'bought' RETURNING bargain_id",
    )
    .bind(order.to_string())
    .fetch_optional(&mut **tx)
    .await?;
    let Some(row) = row else {
        return Ok(false);
    };
    sqlx::query("UPDATE bargains SET units_taken = units_taken - 1 WHERE id = $1")
        .bind(col::<String>(&row, "bargain_id")?)
        .execute(&mut **tx)
        .await?;
    Ok(true)
}

/// Orders of bought runs that were cancelled (before payment), or never placed (`bought_before`:
/// a run bought before it whose order does not exist), at most `limit`.
pub async fn stale_buys(store: &Store, bought_before: i64, limit: i64) -> AppResult<Vec<Uuid>> {
    let rows = sqlx::query(
        "SELECT r.order_id FROM bargain_runs r LEFT JOIN orders o ON o.id = r.order_id \
         WHERE r.status = 'bought' AND ((o.status = 'cancelled' AND NOT EXISTS \
         (SELECT 1 FROM payments p WHERE p.order_id = r.order_id AND p.status IN ('succeeded', 'refunded'))) \
         OR (o.id IS NULL AND r.bought_at < $1)) LIMIT $2",
    )
    .bind(bought_before)
    .bind(limit)
    .fetch_all(store.reader())
    .await?;
    rows.iter().map(|r| uuid_col(r, "order_id")).collect()
}

/// A bargain's figures for head office.
#[derive(Clone, Debug, Default, Serialize, ToSchema)]
pub struct BargainFigures {
    /// Runs started.
    pub started: i64,
    /// Helps given.
    pub helps: i64,
    /// Distinct members who helped.
    pub helpers: i64,
    /// Runs that reached their floor.
    pub reached_floor: i64,
    /// Runs bought and paid (orders not cancelled and not waiting for payment).
    pub bought: i64,
    /// BargainBought ÷ started (0 when none started).
    pub conversion: f64,
    /// What the paid orders are worth.
    pub gmv: Money,
    /// What the helps took off the runs bought and paid (start price − price paid).
    pub discount_cost: Money,
}

/// The figures of a bargain.
pub async fn report(store: &Store, bargain: Uuid) -> AppResult<BargainFigures> {
    let id = bargain.to_string();
    let row = sqlx::query(
        "SELECT CAST(COUNT(*) AS BIGINT) AS started, \
         CAST(COALESCE(SUM(helps), 0) AS BIGINT) AS helps, \
         CAST(COALESCE(SUM(CASE WHEN helps = helpers THEN 1 ELSE 0 END), 0) AS BIGINT) AS floor \
         FROM bargain_runs WHERE bargain_id = $1",
    )
    .bind(&id)
    .fetch_one(store.reader())
    .await?;
    let mut report = BargainFigures {
        started: col(&row, "started")?,
        helps: col(&row, "helps")?,
        reached_floor: col(&row, "floor")?,
        ..BargainFigures::default()
    };
    let row = sqlx::query(
        "SELECT CAST(COUNT(DISTINCT c.helper_id) AS BIGINT) AS helpers FROM bargain_cuts c \
         JOIN bargain_runs r ON r.id = c.run_id WHERE r.bargain_id = $1 AND c.helper_id IS NOT NULL",
    )
    .bind(&id)
    .fetch_one(store.reader())
    .await?;
    report.helpers = col(&row, "helpers")?;
    let row = sqlx::query(
        "SELECT CAST(COUNT(*) AS BIGINT) AS bought, \
         CAST(COALESCE(SUM(o.total_fen), 0) AS BIGINT) AS gmv, \
         CAST(COALESCE(SUM(r.start_price_fen - r.price_fen), 0) AS BIGINT) AS cost \
         FROM bargain_runs r JOIN orders o ON o.id = r.order_id \
         WHERE r.bargain_id = $1 AND r.status = 'bought' \
         AND o.status NOT IN ('pending_payment', 'cancelled')",
    )
    .bind(&id)
    .fetch_one(store.reader())
    .await?;
    report.bought = col(&row, "bought")?;
    report.gmv = Money::from_fen(col(&row, "gmv")?);
    report.discount_cost = Money::from_fen(col(&row, "cost")?);
    if report.started > 0 {
        report.conversion = report.bought as f64 / report.started as f64;
    }
    Ok(report)
}
