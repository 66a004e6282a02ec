//! Storage of the daily reconciliation (migration 0018): the payments and refunds of ours a
//! provider's bill of one day is matched against, the runs (one per provider and day) with their
//! items, and the days the job is still waiting for (a bill not made yet, a provider
//! unavailable). The matching itself is [`crate::app::reconciliation`]'s.

use std::str::FromStr;

use uuid::Uuid;

use super::{col, placeholders, Store, Tx};
use crate::error::{AppError, AppResult};

/// Money in or money back.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EntryKind {
    /// A payment (our id: the provider's `out_trade_no`).
    Payment,
    /// A refund (our id: the provider's `out_refund_no`).
    Refund,
}

impl EntryKind {
    /// Its stored name, `payment` or `refund`.
    pub fn as_str(self) -> &'static str {
        match self {
            EntryKind::Payment => "payment",
            EntryKind::Refund => "refund",
        }
    }
}

impl FromStr for EntryKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "payment" => Ok(EntryKind::Payment),
            "refund" => Ok(EntryKind::Refund),
            other => Err(format!("unknown entry kind {other:?}")),
        }
    }
}

/// What a reconciliation item says.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Outcome {
    /// On the bill and on record here, same amount.
    Matched,
    /// On the bill, not on record here.
    MissingOurs,
    /// On record here for that day, not on the bill.
    MissingTheirs,
    /// On both, amounts differ.
    AmountDiffers,
}

impl Outcome {
    /// Every outcome, in the order pages list them.
    pub const ALL: [Outcome; 4] = [
        Outcome::MissingOurs,
        Outcome::MissingTheirs,
        Outcome::AmountDiffers,
        Outcome::Matched,
    ];

    /// Its stored name (`matched`, `missing_ours`, `missing_theirs`, `amount_differs`).
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Matched => "matched",
            Outcome::MissingOurs => "missing_ours",
            Outcome::MissingTheirs => "missing_theirs",
            Outcome::AmountDiffers => "amount_differs",
        }
    }
}

impl FromStr for Outcome {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Outcome::ALL
            .into_iter()
            .find(|o| o.as_str() == s)
            .ok_or_else(|| format!("unknown outcome {s:?}"))
    }
}

/// A payment or refund of ours through one provider.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OurRecord {
    /// Payment or refund.
    pub kind: EntryKind,
    /// Our id at the provider: the payment's id, or the refund's.
    pub id: Uuid,
    /// The payment (the refund's payment for a refund).
    pub payment_id: Uuid,
    /// Its order (none for a lane payment whose sale has not reached the server).
    pub order_id: Option<Uuid>,
    /// The amount in fen.
    pub amount_fen: i64,
    /// When it was paid, or when the refund last changed state (Unix ms).
    pub at_ms: i64,
    /// The provider's transaction id (payments) or refund id (refunds), when known.
    pub provider_ref: Option<String>,
}

fn opt_uuid(row: &sqlx::any::AnyRow, name: &str) -> AppResult<Option<Uuid>> {
    col::<Option<String>>(row, name)?
        .map(|s| Uuid::parse_str(&s))
        .transpose()
        .map_err(|e| AppError::Internal(anyhow::anyhow!("column {name}: {e}")))
}

fn uuid_of(row: &sqlx::any::AnyRow, name: &str) -> AppResult<Uuid> {
    super::uuid_col(row, name)
}

fn record_of(row: &sqlx::any::AnyRow) -> AppResult<OurRecord> {
    Ok(OurRecord {
        kind: super::parse_col(row, "kind")?,
        id: uuid_of(row, "id")?,
        payment_id: uuid_of(row, "payment_id")?,
        order_id: opt_uuid(row, "order_id")?,
        amount_fen: col(row, "amount_fen")?,
        at_ms: col(row, "at")?,
        provider_ref: col(row, "provider_ref")?,
    })
}

/// Payments that were paid (`paid_at` set), through `method`.
const PAYMENTS: &str = "SELECT 'payment' AS kind, p.id, p.id AS payment_id, p.order_id, \
     p.amount_fen, p.paid_at AS at, p.provider_ref FROM payments p \
     WHERE p.method = $1 AND p.paid_at IS NOT NULL AND p.trade_id IS NULL";

/// Combined payments (one trade for a checkout's orders) through `method` that were paid: the
/// provider's bill has one line for the trade, whose orders' shares are payments of their own
/// here (left out of [`PAYMENTS`]).
const TRADES: &str = "SELECT 'payment' AS kind, t.id, t.id AS payment_id, NULL AS order_id, \
     t.amount_fen, t.paid_at AS at, t.provider_ref FROM payment_trades t \
     WHERE t.method = $1 AND t.paid_at IS NOT NULL";

/// Lane payments through `method` that succeeded and whose sale has not reached the server yet
/// (once it has, the payment is in `payments` under the same id).
const LANE_PAYMENTS: &str = "SELECT 'payment' AS kind, lp.id, lp.id AS payment_id, \
     NULL AS order_id, lp.amount_fen, lp.updated_at AS at, lp.provider_ref FROM lane_payments lp \
     WHERE lp.method = $1 AND lp.status = 'succeeded' AND lp.order_id IS NULL \
     AND NOT EXISTS (SELECT 1 FROM payments pp WHERE pp.id = lp.id)";

/// Members' recharges through `method` that were paid (a recharge is a trade of its own at the
/// provider, with no order).
const RECHARGES: &str = "SELECT 'payment' AS kind, rc.id, rc.id AS payment_id, \
     NULL AS order_id, rc.pay_fen AS amount_fen, rc.paid_at AS at, rc.provider_ref FROM recharges rc \
     WHERE rc.method = $1 AND rc.status = 'paid'";

/// Refunds through `method` the provider accepted (`processing`) or made (`success`). A
/// refund's time: when it succeeded (its last change: a final state changes no more), or, still
/// processing, when it was asked for (the settler touches `updated_at` whenever it asks).
const REFUNDS: &str = "SELECT 'refund' AS kind, r.id, \
     COALESCE((SELECT rp.trade_id FROM payments rp WHERE rp.id = r.payment_id), r.payment_id) \
     AS payment_id, r.order_id, r.amount_fen, \
     CASE WHEN r.state = 'success' THEN r.updated_at ELSE r.created_at END AS at, \
     r.provider_refund_id AS provider_ref FROM payment_refunds r \
     WHERE r.method = $1 AND r.state IN ('processing', 'success')";

/// Our payments and refunds through `method` (a tender name, e.g. `wechat_pay`) dated in
/// `[from_ms, to_ms)`: order payments and recharges by when they were paid, lane payments not yet
/// pushed by when they succeeded, refunds by when they succeeded or (still processing) were asked for.
pub async fn ours_of_day(
    store: &Store,
    method: &str,
    from_ms: i64,
    to_ms: i64,
) -> AppResult<Vec<OurRecord>> {
    let sql = format!(
        "{PAYMENTS} AND p.paid_at >= $2 AND p.paid_at < $3 \
         UNION ALL {TRADES} AND t.paid_at >= $2 AND t.paid_at < $3 \
         UNION ALL {LANE_PAYMENTS} AND lp.updated_at >= $2 AND lp.updated_at < $3 \
         UNION ALL {RECHARGES} AND rc.paid_at >= $2 AND rc.paid_at < $3 \
         UNION ALL {REFUNDS} AND ((r.state = 'success' AND r.updated_at >= $2 AND r.updated_at < $3) \
         OR (r.state = 'processing' AND r.created_at >= $2 AND r.created_at < $3))"
    );
    let rows = sqlx::query(&sql)
        .bind(method)
        .bind(from_ms)
        .bind(to_ms)
        .fetch_all(store.reader())
        .await?;
    rows.iter().map(record_of).collect()
}

/// Our payments (by payment id) and refunds (by refund id) through `method`, whatever their
/// day: for bill lines of records dated another day here.
pub async fn ours_by_ids(
    store: &Store,
    method: &str,
    payment_ids: &[Uuid],
    refund_ids: &[Uuid],
) -> AppResult<Vec<OurRecord>> {
    let mut out = Vec::new();
    for chunk in payment_ids.chunks(super::MAX_PARAMS / 2) {
        let list = placeholders(2, chunk.len());
        let sql = format!(
            "{PAYMENTS} AND p.id IN ({list}) UNION ALL {TRADES} AND t.id IN ({list}) \
             UNION ALL {LANE_PAYMENTS} AND lp.id IN ({list}) \
             UNION ALL {RECHARGES} AND rc.id IN ({list})"
        );
        let mut query = sqlx::query(&sql).bind(method);
        for id in chunk {
            query = query.bind(id.to_string());
        }
        for row in query.fetch_all(store.reader()).await? {
            out.push(record_of(&row)?);
        }
    }
    for chunk in refund_ids.chunks(super::MAX_PARAMS) {
        let sql = format!("{REFUNDS} AND r.id IN ({})", placeholders(2, chunk.len()));
        let mut query = sqlx::query(&sql).bind(method);
        for id in chunk {
            query = query.bind(id.to_string());
        }
        for row in query.fetch_all(store.reader()).await? {
            out.push(record_of(&row)?);
        }
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Runs and items
// ---------------------------------------------------------------------------------------------

/// The counts of a run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RunCounts {
    /// Lines on the provider's bill.
    pub bill_lines: i64,
    /// Payments and refunds of ours dated that day.
    pub our_records: i64,
    /// Items matched.
    pub matched: i64,
    /// Bill lines not on record here.
    pub missing_ours: i64,
    /// Records of ours the bill lacks.
    pub missing_theirs: i64,
    /// Items whose amounts differ.
    pub amount_differs: i64,
}

impl RunCounts {
    /// Items that are not matched.
    pub fn mismatches(&self) -> i64 {
        self.missing_ours + self.missing_theirs + self.amount_differs
    }
}

/// One item of a run (see the migration for the columns).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Item {
    /// Payment or refund.
    pub kind: EntryKind,
    /// What it says.
    pub outcome: Outcome,
    /// The provider's `out_trade_no` (ours: the payment id as 32 hex).
    pub out_trade_no: String,
    /// The provider's `out_refund_no` (refunds).
    pub out_refund_no: Option<String>,
    /// The provider's transaction id.
    pub transaction_id: Option<String>,
    /// The provider's refund id.
    pub provider_refund_id: Option<String>,
    /// Our payment.
    pub payment_id: Option<Uuid>,
    /// Our refund.
    pub refund_id: Option<Uuid>,
    /// Our order.
    pub order_id: Option<Uuid>,
    /// Our amount (fen).
    pub our_fen: Option<i64>,
    /// The bill's amount (fen).
    pub their_fen: Option<i64>,
    /// When, by our record (Unix ms).
    pub our_at: Option<i64>,
    /// When, by the bill (Unix ms).
    pub their_at: Option<i64>,
    /// More to say (empty when nothing).
    pub note: String,
}

/// A run as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Run {
    /// Its id.
    pub id: Uuid,
    /// `wechat_pay` or `alipay`.
    pub provider: String,
    /// The day, `YYYY-MM-DD` (Beijing).
    pub bill_date: String,
    /// Its counts.
    pub counts: RunCounts,
    /// `job` or the staff actor who ran it last.
    pub run_by: String,
    /// First run (Unix ms).
    pub created_at: i64,
    /// Last run (Unix ms).
    pub updated_at: i64,
}

const RUN_COLUMNS: &str = "id, provider, bill_date, bill_lines, our_records, matched, \
     missing_ours, missing_theirs, amount_differs, run_by, created_at, updated_at";

fn run_of(row: &sqlx::any::AnyRow) -> AppResult<Run> {
    Ok(Run {
        id: uuid_of(row, "id")?,
        provider: col(row, "provider")?,
        bill_date: col(row, "bill_date")?,
        counts: RunCounts {
            bill_lines: col(row, "bill_lines")?,
            our_records: col(row, "our_records")?,
            matched: col(row, "matched")?,
            missing_ours: col(row, "missing_ours")?,
            missing_theirs: col(row, "missing_theirs")?,
            amount_differs: col(row, "amount_differs")?,
        },
        run_by: col(row, "run_by")?,
        created_at: col(row, "created_at")?,
        updated_at: col(row, "updated_at")?,
    })
}

/// A run to record.
#[derive(Clone, Debug)]
pub struct NewRun<'a> {
    /// `wechat_pay` or `alipay`.
    pub provider: &'a str,
    /// `YYYY-MM-DD`.
    pub bill_date: &'a str,
    /// Its counts.
    pub counts: RunCounts,
    /// `job` or a staff actor.
    pub run_by: &'a str,
    /// Now (Unix ms).
    pub at: i64,
}

/// Records the run of (provider, day) with its items, inside `tx`. When the day has a run
/// already: with `replace`, its counts and items are replaced (same run id); without, nothing
/// is written and `None` comes back. Returns the run's id.
pub async fn save_run(
    tx: &mut Tx,
    run: &NewRun<'_>,
    items: &[Item],
    replace: bool,
) -> AppResult<Option<Uuid>> {
    let c = &run.counts;
    let on_conflict = if replace {
        "ON CONFLICT (provider, bill_date) DO UPDATE SET bill_lines = $4, our_records = $5, \
         matched = $6, missing_ours = $7, missing_theirs = $8, amount_differs = $9, run_by = $10, \
         updated_at = $11"
    } else {
        "ON CONFLICT (provider, bill_date) DO NOTHING"
    };
    let sql = format!(
        "INSERT INTO reconciliation_runs ({RUN_COLUMNS}) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11) {on_conflict} RETURNING id"
    );
    let row = sqlx::query(&sql)
        .bind(retail_domain::ids::new_id().to_string())
        .bind(run.provider)
        .bind(run.bill_date)
        .bind(c.bill_lines)
        .bind(c.our_records)
        .bind(c.matched)
        .bind(c.missing_ours)
        .bind(c.missing_theirs)
        .bind(c.amount_differs)
        .bind(run.run_by)
        .bind(run.at)
        .fetch_optional(&mut **tx)
        .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let id = uuid_of(&row, "id")?;
    sqlx::query("DELETE FROM reconciliation_items WHERE run_id = $1")
        .bind(id.to_string())
        .execute(&mut **tx)
        .await?;
    let numbered: Vec<(i64, &Item)> = (1_i64..).zip(items).collect();
    let run_id = id.to_string();
    super::insert_rows(
        tx,
        "reconciliation_items",
        &[
            "run_id",
            "line_no",
            "kind",
            "outcome",
            "out_trade_no",
            "out_refund_no",
            "transaction_id",
            "provider_refund_id",
            "payment_id",
            "refund_id",
            "order_id",
            "our_fen",
            "their_fen",
            "our_at",
            "their_at",
            "note",
        ],
        &numbered,
        |q, (no, item)| {
            q.bind(run_id.clone())
                .bind(*no)
                .bind(item.kind.as_str())
                .bind(item.outcome.as_str())
                .bind(item.out_trade_no.as_str())
                .bind(item.out_refund_no.as_deref())
                .bind(item.transaction_id.as_deref())
                .bind(item.provider_refund_id.as_deref())
                .bind(item.payment_id.map(|u| u.to_string()))
                .bind(item.refund_id.map(|u| u.to_string()))
                .bind(item.order_id.map(|u| u.to_string()))
                .bind(item.our_fen)
                .bind(item.their_fen)
                .bind(item.our_at)
                .bind(item.their_at)
                .bind(item.note.as_str())
        },
    )
    .await?;
    Ok(Some(id))
}

/// The run of (provider, day), if the day was reconciled.
pub async fn run_of_day(store: &Store, provider: &str, bill_date: &str) -> AppResult<Option<Run>> {
    let row = sqlx::query(&format!(
        "SELECT {RUN_COLUMNS} FROM reconciliation_runs WHERE provider = $1 AND bill_date = $2"
    ))
    .bind(provider)
    .bind(bill_date)
    .fetch_optional(store.reader())
    .await?;
    row.as_ref().map(run_of).transpose()
}

/// A run by id.
pub async fn run(store: &Store, id: Uuid) -> AppResult<Option<Run>> {
    let row = sqlx::query(&format!(
        "SELECT {RUN_COLUMNS} FROM reconciliation_runs WHERE id = $1"
    ))
    .bind(id.to_string())
    .fetch_optional(store.reader())
    .await?;
    row.as_ref().map(run_of).transpose()
}

/// Runs, newest day first (then by provider), `limit` from `offset`, with how many there are.
pub async fn runs(store: &Store, offset: i64, limit: i64) -> AppResult<(Vec<Run>, i64)> {
    newest_days_first(
        store,
        "reconciliation_runs",
        RUN_COLUMNS,
        offset,
        limit,
        run_of,
    )
    .await
}

/// A page of a table keyed by (provider, `bill_date`), newest day first, and its row count.
async fn newest_days_first<T>(
    store: &Store,
    table: &str,
    columns: &str,
    offset: i64,
    limit: i64,
    row: fn(&sqlx::any::AnyRow) -> AppResult<T>,
) -> AppResult<(Vec<T>, i64)> {
    let page = format!(
        "SELECT {columns} FROM {table} ORDER BY bill_date DESC, provider LIMIT $1 OFFSET $2"
    );
    let count = format!("SELECT COUNT(*) AS n FROM {table}");
    super::fetch_page(
        store,
        sqlx::query(&page).bind(limit.max(1)).bind(offset.max(0)),
        sqlx::query(&count),
        row,
    )
    .await
}

/// An item as listed, with its order's number.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ItemRow {
    /// Its place in the run.
    pub line_no: i64,
    /// The item.
    pub item: Item,
    /// The order's number, when the item names an order.
    pub order_no: Option<String>,
}

fn item_of(row: &sqlx::any::AnyRow) -> AppResult<ItemRow> {
    Ok(ItemRow {
        line_no: col(row, "line_no")?,
        order_no: col(row, "order_no")?,
        item: Item {
            kind: super::parse_col(row, "kind")?,
            outcome: super::parse_col(row, "outcome")?,
            out_trade_no: col(row, "out_trade_no")?,
            out_refund_no: col(row, "out_refund_no")?,
            transaction_id: col(row, "transaction_id")?,
            provider_refund_id: col(row, "provider_refund_id")?,
            payment_id: opt_uuid(row, "payment_id")?,
            refund_id: opt_uuid(row, "refund_id")?,
            order_id: opt_uuid(row, "order_id")?,
            our_fen: col(row, "our_fen")?,
            their_fen: col(row, "their_fen")?,
            our_at: col(row, "our_at")?,
            their_at: col(row, "their_at")?,
            note: col(row, "note")?,
        },
    })
}

/// A run's items in order: mismatches only unless `all`; `limit` from `offset`, with how many
/// there are.
pub async fn items(
    store: &Store,
    run_id: Uuid,
    all: bool,
    offset: i64,
    limit: i64,
) -> AppResult<(Vec<ItemRow>, i64)> {
    let filter = if all {
        ""
    } else {
        " AND i.outcome <> 'matched'"
    };
    let page = format!(
        "SELECT i.*, o.order_no FROM reconciliation_items i \
         LEFT JOIN orders o ON o.id = i.order_id \
         WHERE i.run_id = $1{filter} ORDER BY i.line_no LIMIT $2 OFFSET $3"
    );
    let count =
        format!("SELECT COUNT(*) AS n FROM reconciliation_items i WHERE i.run_id = $1{filter}");
    super::fetch_page(
        store,
        sqlx::query(&page)
            .bind(run_id.to_string())
            .bind(limit.max(1))
            .bind(offset.max(0)),
        sqlx::query(&count).bind(run_id.to_string()),
        item_of,
    )
    .await
}

// ---------------------------------------------------------------------------------------------
// Days waited for
// ---------------------------------------------------------------------------------------------

/// A day the daily job could not reconcile yet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Wait {
    /// `wechat_pay` or `alipay`.
    pub provider: String,
    /// `YYYY-MM-DD`.
    pub bill_date: String,
    /// Times the bill was asked for.
    pub attempts: i64,
    /// When it is asked for again (Unix ms); `None`: the job gave up on it.
    pub next_try_at: Option<i64>,
    /// Why the last attempt failed.
    pub last_error: String,
    /// Last attempt (Unix ms).
    pub updated_at: i64,
}

const WAIT_COLUMNS: &str = "provider, bill_date, attempts, next_try_at, last_error, updated_at";

fn wait_of(row: &sqlx::any::AnyRow) -> AppResult<Wait> {
    Ok(Wait {
        provider: col(row, "provider")?,
        bill_date: col(row, "bill_date")?,
        attempts: col(row, "attempts")?,
        next_try_at: col(row, "next_try_at")?,
        last_error: col(row, "last_error")?,
        updated_at: col(row, "updated_at")?,
    })
}

/// The wait of (provider, day), if any.
pub async fn wait_of_day(
    store: &Store,
    provider: &str,
    bill_date: &str,
) -> AppResult<Option<Wait>> {
    let row = sqlx::query(&format!(
        "SELECT {WAIT_COLUMNS} FROM reconciliation_waits WHERE provider = $1 AND bill_date = $2"
    ))
    .bind(provider)
    .bind(bill_date)
    .fetch_optional(store.reader())
    .await?;
    row.as_ref().map(wait_of).transpose()
}

/// Waits due at `now` (Unix ms), oldest day first.
pub async fn waits_due(store: &Store, now: i64) -> AppResult<Vec<Wait>> {
    let rows = sqlx::query(&format!(
        "SELECT {WAIT_COLUMNS} FROM reconciliation_waits \
         WHERE next_try_at IS NOT NULL AND next_try_at <= $1 ORDER BY bill_date, provider"
    ))
    .bind(now)
    .fetch_all(store.reader())
    .await?;
    rows.iter().map(wait_of).collect()
}

/// Every wait, newest day first, `limit` from `offset`, with how many there are.
pub async fn waits(store: &Store, offset: i64, limit: i64) -> AppResult<(Vec<Wait>, i64)> {
    newest_days_first(
        store,
        "reconciliation_waits",
        WAIT_COLUMNS,
        offset,
        limit,
        wait_of,
    )
    .await
}

/// Records a failed attempt at (provider, day): one more attempt, `error` as the reason, asked
/// again at `next_try_at` unless this was attempt `max_attempts` (then given up). Returns the
/// wait as it now is.
pub async fn record_attempt(
    store: &Store,
    provider: &str,
    bill_date: &str,
    error: &str,
    next_try_at: i64,
    max_attempts: i64,
    now: i64,
) -> AppResult<Wait> {
    let row = sqlx::query(&format!(
        "INSERT INTO reconciliation_waits \
         (provider, bill_date, attempts, next_try_at, last_error, created_at, updated_at) \
         VALUES ($1, $2, 1, CASE WHEN $5 <= 1 THEN NULL ELSE $4 END, $3, $6, $6) \
         ON CONFLICT (provider, bill_date) DO UPDATE SET \
         attempts = reconciliation_waits.attempts + 1, \
         next_try_at = CASE WHEN reconciliation_waits.attempts + 1 >= $5 THEN NULL ELSE $4 END, \
         last_error = $3, updated_at = $6 RETURNING {WAIT_COLUMNS}"
    ))
    .bind(provider)
    .bind(bill_date)
    .bind(error)
    .bind(next_try_at)
    .bind(max_attempts)
    .bind(now)
    .fetch_one(store.writer())
    .await?;
    wait_of(&row)
}

/// Forgets the wait of (provider, day) (its run is recorded in the same transaction).
pub async fn delete_wait(tx: &mut Tx, provider: &str, bill_date: &str) -> AppResult<()> {
    sqlx::query("DELETE FROM reconciliation_waits WHERE provider = $1 AND bill_date = $2")
        .bind(provider)
        .bind(bill_date)
        .execute(&mut **tx)
        .await?;
    Ok(())
}
