//! Merchant settlement statements (issue 20, migration 0070): the rows a day's statements are
//! built from (sold order lines and completed refunds of online orders), the statements and
//! their lines written once per China day, and the reads of the API and the console.
//! The arithmetic (commission, pro-rating, totals) is the application layer's
//! ([`crate::app::merchant_statements`]).

use serde::Serialize;
use utoipa::ToSchema;

use super::{col, Store, Tx};
use crate::error::AppResult;

/// A sold order line of an online order whose payment completed in the asked window.
#[derive(Clone, Debug)]
pub struct SoldLine {
    /// The product's merchant.
    pub merchant_id: String,
    /// The product's category.
    pub category_id: String,
    /// Order id.
    pub order_id: String,
    /// Order number.
    pub order_no: String,
    /// The order line's number.
    pub line_no: i64,
    /// SKU id.
    pub sku_id: String,
    /// Quantity.
    pub qty: i64,
    /// The line's amount (after its discounts), fen.
    pub amount_fen: i64,
    /// When the order's payment completed (its last payment's `paid_at`), Unix ms.
    pub paid_at: i64,
}

/// One line of an order a completed refund belongs to (the refund repeated on each of its lines).
#[derive(Clone, Debug)]
pub struct RefundedLine {
    /// Refund id.
    pub refund_id: String,
    /// The refund's amount, fen.
    pub refund_fen: i64,
    /// When it completed (its `updated_at` once `success`), Unix ms.
    pub at: i64,
    /// The order line, as sold.
    pub line: SoldLine,
}

const LINE_COLUMNS: &str = "p.merchant_id, p.category_id, o.id AS order_id, o.order_no, \
     l.line_no, l.sku_id, l.qty, l.amount_fen";

/// The orders' completed payment time: the last `paid_at` of an order's paid payments.
const PAID: &str = "(SELECT order_id, MAX(paid_at) AS paid_at FROM payments \
     WHERE paid_at IS NOT NULL GROUP BY order_id)";

fn sold_from_row(row: &sqlx::any::AnyRow, paid_at: i64) -> AppResult<SoldLine> {
    Ok(SoldLine {
        merchant_id: col(row, "merchant_id")?,
        category_id: col(row, "category_id")?,
        order_id: col(row, "order_id")?,
        order_no: col(row, "order_no")?,
        line_no: col(row, "line_no")?,
        sku_id: col(row, "sku_id")?,
        qty: col(row, "qty")?,
        amount_fen: col(row, "amount_fen")?,
        paid_at,
    })
}

/// Every line of the online orders whose payment completed in `[from, to)` (Unix ms): paid (no
/// longer `pending_payment`, so an order paid in parts counts once, on its last part's day),
/// ordered by payment time, order and line.
pub async fn sold_lines(tx: &mut Tx, from: i64, to: i64) -> AppResult<Vec<SoldLine>> {
    let rows = sqlx::query(&format!(
        "SELECT {LINE_COLUMNS}, pay.paid_at FROM {PAID} pay \
         JOIN orders o ON o.id = pay.order_id \
         JOIN order_lines l ON l.order_id = o.id \
         JOIN skus s ON s.id = l.sku_id JOIN products p ON p.id = s.product_id \
         WHERE o.channel = 'online' AND o.status <> 'pending_payment' \
           AND pay.paid_at >= $1 AND pay.paid_at < $2 \
         ORDER BY pay.paid_at, o.id, l.line_no"
    ))
    .bind(from)
    .bind(to)
    .fetch_all(&mut **tx)
    .await?;
    rows.iter()
        .map(|r| sold_from_row(r, col(r, "paid_at")?))
        .collect()
}

/// Every line of the online orders of the refunds completed (`success`) in `[from, to)`, once
/// per refund and line, ordered by completion, refund and line.
pub async fn refunded_lines(tx: &mut Tx, from: i64, to: i64) -> AppResult<Vec<RefundedLine>> {
    let rows = sqlx::query(&format!(
        "SELECT {LINE_COLUMNS}, r.id AS refund_id, r.amount_fen AS refund_fen, r.updated_at AS at, \
           COALESCE(pay.paid_at, 0) AS paid_at \
         FROM payment_refunds r JOIN orders o ON o.id = r.order_id \
         JOIN order_lines l ON l.order_id = o.id \
         JOIN skus s ON s.id = l.sku_id JOIN products p ON p.id = s.product_id \
         LEFT JOIN {PAID} pay ON pay.order_id = o.id \
         WHERE o.channel = 'online' AND r.state = 'success' \
           AND r.updated_at >= $1 AND r.updated_at < $2 \
         ORDER BY r.updated_at, r.id, l.line_no"
    ))
    .bind(from)
    .bind(to)
    .fetch_all(&mut **tx)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(RefundedLine {
                refund_id: col(r, "refund_id")?,
                refund_fen: col(r, "refund_fen")?,
                at: col(r, "at")?,
                line: sold_from_row(r, col(r, "paid_at")?)?,
            })
        })
        .collect()
}

/// The rate frozen on the statement line of a sold order line, if it is on a statement.
pub async fn sale_rate(tx: &mut Tx, order_id: &str, order_line_no: i64) -> AppResult<Option<i64>> {
    let row = sqlx::query(
        "SELECT rate_bp FROM merchant_statement_lines \
         WHERE order_id = $1 AND order_line_no = $2 AND kind = 'sale' LIMIT 1",
    )
    .bind(order_id)
    .bind(order_line_no)
    .fetch_optional(&mut **tx)
    .await?;
    row.map(|r| col(&r, "rate_bp")).transpose()
}

/// The earliest time anything a statement holds happened (a completed payment or refund of an
/// online order), if anything did.
pub async fn first_activity(store: &Store) -> AppResult<Option<i64>> {
    let row = sqlx::query(
        "SELECT MIN(t) AS t FROM ( \
           SELECT MIN(p.paid_at) AS t FROM payments p JOIN orders o ON o.id = p.order_id \
             WHERE o.channel = 'online' AND p.paid_at IS NOT NULL \
           UNION ALL \
           SELECT MIN(r.updated_at) AS t FROM payment_refunds r JOIN orders o ON o.id = r.order_id \
             WHERE o.channel = 'online' AND r.state = 'success') a",
    )
    .fetch_one(store.reader())
    .await?;
    col(&row, "t")
}

/// The newest built day (`YYYY-MM-DD`), if any.
pub async fn last_built_day(store: &Store) -> AppResult<Option<String>> {
    let row = sqlx::query("SELECT MAX(period_day) AS d FROM merchant_statement_days")
        .fetch_one(store.reader())
        .await?;
    col(&row, "d")
}

/// Marks `day` built: the day's guard and its transaction's first write. False when it was
/// built already (by this or another instance).
pub async fn claim_day(tx: &mut Tx, day: &str, now: i64) -> AppResult<bool> {
    Ok(sqlx::query(
        "INSERT INTO merchant_statement_days (period_day, built_at) VALUES ($1, $2) \
         ON CONFLICT (period_day) DO NOTHING",
    )
    .bind(day)
    .bind(now)
    .execute(&mut **tx)
    .await?
    .rows_affected()
        == 1)
}

/// Where a statement stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StatementStatus {
    /// Inside the after-sale window: refunds may still come; not to be paid out.
    Frozen,
    /// The window has closed: head office may pay it out.
    Settleable,
    /// Paid out to the merchant.
    PaidOut,
}

impl StatementStatus {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Frozen => "frozen",
            Self::Settleable => "settleable",
            Self::PaidOut => "paid_out",
        }
    }
}

impl std::str::FromStr for StatementStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "frozen" => Ok(Self::Frozen),
            "settleable" => Ok(Self::Settleable),
            "paid_out" => Ok(Self::PaidOut),
            other => Err(format!("unknown statement status {other:?}")),
        }
    }
}

/// A merchant's statement for one China day.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Statement {
    /// Statement id.
    pub id: String,
    /// The merchant.
    pub merchant_id: String,
    /// The China day (UTC+8), `YYYY-MM-DD`.
    pub period_day: String,
    /// Paid amount of the merchant's lines, fen.
    pub paid_fen: i64,
    /// Refunded that day (positive), fen.
    pub refunded_fen: i64,
    /// The platform's commission, net of what refunds gave back, fen.
    pub commission_fen: i64,
    /// What the merchant is owed: paid − refunded − commission, fen.
    pub net_fen: i64,
    /// Lines on the statement.
    pub line_count: i64,
    /// Where it stands (`settleable` once `frozen_until` has passed, even before the job
    /// stored it).
    pub status: StatementStatus,
    /// End of the after-sale window, Unix ms.
    pub frozen_until: i64,
    /// Built, Unix ms.
    pub built_at: i64,
    /// Paid out, Unix ms.
    pub paid_out_at: Option<i64>,
    /// Who marked it paid out.
    pub paid_out_by: Option<String>,
    /// The payout's reference (the bank transfer's).
    pub payout_ref: Option<String>,
}

const COLUMNS: &str = "id, merchant_id, period_day, paid_fen, refunded_fen, commission_fen, \
     net_fen, line_count, status, frozen_until, built_at, paid_out_at, paid_out_by, payout_ref";

fn from_row(row: &sqlx::any::AnyRow) -> AppResult<Statement> {
    Ok(Statement {
        id: col(row, "id")?,
        merchant_id: col(row, "merchant_id")?,
        period_day: col(row, "period_day")?,
        paid_fen: col(row, "paid_fen")?,
        refunded_fen: col(row, "refunded_fen")?,
        commission_fen: col(row, "commission_fen")?,
        net_fen: col(row, "net_fen")?,
        line_count: col(row, "line_count")?,
        status: super::parse_col(row, "status")?,
        frozen_until: col(row, "frozen_until")?,
        built_at: col(row, "built_at")?,
        paid_out_at: col(row, "paid_out_at")?,
        paid_out_by: col(row, "paid_out_by")?,
        payout_ref: col(row, "payout_ref")?,
    })
}

/// One line of a statement.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct StatementLine {
    /// Line number on the statement, from 1.
    pub line_no: i64,
    /// `sale` or `refund`.
    pub kind: String,
    /// Order id.
    pub order_id: String,
    /// Order number.
    pub order_no: String,
    /// The order line's number.
    pub order_line_no: i64,
    /// The refund, for a refund line.
    pub refund_id: Option<String>,
    /// SKU id.
    pub sku_id: String,
    /// Category id.
    pub category_id: String,
    /// Quantity sold (the sold quantity on a refund line too).
    pub qty: i64,
    /// Amount, fen: negative on a refund line.
    pub amount_fen: i64,
    /// Commission rate frozen on the line, basis points.
    pub rate_bp: i64,
    /// Commission, fen: negative (given back) on a refund line.
    pub commission_fen: i64,
    /// When the payment or refund completed, Unix ms.
    pub at: i64,
}

/// Inserts a statement with its lines; false (nothing written) when the merchant has one for
/// that day already.
pub async fn insert(tx: &mut Tx, s: &Statement, lines: &[StatementLine]) -> AppResult<bool> {
    let inserted = sqlx::query(&format!(
        "INSERT INTO merchant_statements ({COLUMNS}) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, NULL, NULL, NULL) \
         ON CONFLICT (merchant_id, period_day) DO NOTHING"
    ))
    .bind(&s.id)
    .bind(&s.merchant_id)
    .bind(&s.period_day)
    .bind(s.paid_fen)
    .bind(s.refunded_fen)
    .bind(s.commission_fen)
    .bind(s.net_fen)
    .bind(s.line_count)
    .bind(s.status.as_str())
    .bind(s.frozen_until)
    .bind(s.built_at)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    if inserted == 0 {
        return Ok(false);
    }
    for l in lines {
        sqlx::query(
            "INSERT INTO merchant_statement_lines (statement_id, line_no, kind, order_id, order_no, \
               order_line_no, refund_id, sku_id, category_id, qty, amount_fen, rate_bp, \
               commission_fen, at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
        )
        .bind(&s.id)
        .bind(l.line_no)
        .bind(&l.kind)
        .bind(&l.order_id)
        .bind(&l.order_no)
        .bind(l.order_line_no)
        .bind(l.refund_id.as_deref())
        .bind(&l.sku_id)
        .bind(&l.category_id)
        .bind(l.qty)
        .bind(l.amount_fen)
        .bind(l.rate_bp)
        .bind(l.commission_fen)
        .bind(l.at)
        .execute(&mut **tx)
        .await?;
    }
    Ok(true)
}

/// Moves every frozen statement whose window has closed by `now` to `settleable`; how many.
pub async fn release_due(store: &Store, now: i64) -> AppResult<u64> {
    Ok(sqlx::query(
        "UPDATE merchant_statements SET status = 'settleable' \
         WHERE status = 'frozen' AND frozen_until <= $1",
    )
    .bind(now)
    .execute(store.writer())
    .await?
    .rows_affected())
}

/// Which statements to list.
#[derive(Clone, Debug, Default)]
pub struct StatementFilter {
    /// Only this merchant's.
    pub merchant_id: Option<String>,
    /// From this day on (`YYYY-MM-DD`).
    pub from: Option<String>,
    /// Up to this day (`YYYY-MM-DD`).
    pub to: Option<String>,
    /// Only in this status (as of `now`).
    pub status: Option<StatementStatus>,
    /// The time the status is read at, Unix ms.
    pub now: i64,
    /// At most this many, newest day first.
    pub limit: i64,
}

/// The statements `filter` asks for, newest day first, then by merchant.
pub async fn list(store: &Store, filter: &StatementFilter) -> AppResult<Vec<Statement>> {
    let status = match filter.status {
        None => "",
        Some(StatementStatus::Frozen) => " AND status = 'frozen' AND frozen_until > $4",
        Some(StatementStatus::Settleable) => {
            " AND (status = 'settleable' OR (status = 'frozen' AND frozen_until <= $4))"
        }
        Some(StatementStatus::PaidOut) => " AND status = 'paid_out'",
    };
    let sql = format!(
        "SELECT {COLUMNS} FROM merchant_statements \
         WHERE ($1 = '' OR merchant_id = $1) AND ($2 = '' OR period_day >= $2) \
           AND ($3 = '' OR period_day <= $3){status} \
         ORDER BY period_day DESC, merchant_id LIMIT {}",
        filter.limit.clamp(1, 1000)
    );
    let rows = sqlx::query(&sql)
        .bind(filter.merchant_id.as_deref().unwrap_or(""))
        .bind(filter.from.as_deref().unwrap_or(""))
        .bind(filter.to.as_deref().unwrap_or(""));
    let rows = if matches!(
        filter.status,
        Some(StatementStatus::Frozen | StatementStatus::Settleable)
    ) {
        rows.bind(filter.now)
    } else {
        rows
    };
    let rows = rows.fetch_all(store.reader()).await?;
    rows.iter().map(from_row).collect()
}

/// One statement by id.
pub async fn get(store: &Store, id: &str) -> AppResult<Option<Statement>> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM merchant_statements WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(store.reader())
    .await?;
    row.map(|r| from_row(&r)).transpose()
}

/// One statement by id inside a transaction, locked until it ends (PostgreSQL).
pub async fn get_for_update(tx: &mut Tx, store: &Store, id: &str) -> AppResult<Option<Statement>> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM merchant_statements WHERE id = $1{}",
        store.for_update()
    ))
    .bind(id)
    .fetch_optional(&mut **tx)
    .await?;
    row.map(|r| from_row(&r)).transpose()
}

/// A statement's lines in order.
pub async fn lines(store: &Store, id: &str) -> AppResult<Vec<StatementLine>> {
    let rows = sqlx::query(
        "SELECT line_no, kind, order_id, order_no, order_line_no, refund_id, sku_id, category_id, \
           qty, amount_fen, rate_bp, commission_fen, at \
         FROM merchant_statement_lines WHERE statement_id = $1 ORDER BY line_no",
    )
    .bind(id)
    .fetch_all(store.reader())
    .await?;
    rows.iter()
        .map(|r| {
            Ok(StatementLine {
                line_no: col(r, "line_no")?,
                kind: col(r, "kind")?,
                order_id: col(r, "order_id")?,
                order_no: col(r, "order_no")?,
                order_line_no: col(r, "order_line_no")?,
                refund_id: col(r, "refund_id")?,
                sku_id: col(r, "sku_id")?,
                category_id: col(r, "category_id")?,
                qty: col(r, "qty")?,
                amount_fen: col(r, "amount_fen")?,
                rate_bp: col(r, "rate_bp")?,
                commission_fen: col(r, "commission_fen")?,
                at: col(r, "at")?,
            })
        })
        .collect()
}

/// Marks a statement paid out (only one not paid out yet); false when it was already.
pub async fn mark_paid_out(
    tx: &mut Tx,
    id: &str,
    reference: &str,
    by: &str,
    now: i64,
) -> AppResult<bool> {
    Ok(sqlx::query(
        "UPDATE merchant_statements SET status = 'paid_out', paid_out_at = $2, paid_out_by = $3, \
           payout_ref = $4 WHERE id = $1 AND status <> 'paid_out'",
    )
    .bind(id)
    .bind(now)
    .bind(by)
    .bind(reference)
    .execute(&mut **tx)
    .await?
    .rows_affected()
        == 1)
}
