//! Cash control at the lanes (issue 21): the lanes' cash events stored once by client id, and
//! their shifts with the Z report figures (migration 0055).

use retail_domain::wire::cash_control::{LaneCashEvent, ZReport};
use serde::Serialize;
use utoipa::ToSchema;

use super::{col, from_ms, now_ms, Store, Tx};
use crate::error::AppResult;

/// What storing an event did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stored {
    /// Stored now.
    Applied,
    /// The same device stored it before.
    Duplicate,
    /// Another device used this id.
    TakenByOther,
}

/// Stores an event once by its id.
pub async fn insert_event(
    tx: &mut Tx,
    device_id: &str,
    location_id: &str,
    e: &LaneCashEvent,
) -> AppResult<Stored> {
    let done = sqlx::query(
        "INSERT INTO lane_cash_events (id, device_id, location_id, kind, shift_id, cashier, \
         approved_by, amount, reason, occurred_at, received_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT (id) DO NOTHING",
    )
    .bind(e.id.to_string())
    .bind(device_id)
    .bind(location_id)
    .bind(e.kind.as_str())
    .bind(e.shift_id.map(|s| s.to_string()))
    .bind(e.cashier.trim())
    .bind(e.approved_by.as_deref().map(str::trim))
    .bind(e.amount.map(|a| a.fen()))
    .bind(e.reason.as_deref().map(str::trim))
    .bind(e.at.timestamp_millis())
    .bind(now_ms())
    .execute(&mut **tx)
    .await?;
    if done.rows_affected() == 1 {
        return Ok(Stored::Applied);
    }
    let owner: Option<String> =
        sqlx::query_scalar("SELECT device_id FROM lane_cash_events WHERE id = $1")
            .bind(e.id.to_string())
            .fetch_optional(&mut **tx)
            .await?;
    Ok(if owner.as_deref() == Some(device_id) {
        Stored::Duplicate
    } else {
        Stored::TakenByOther
    })
}

/// The device a shift belongs to, if the server knows the shift.
pub async fn shift_device(tx: &mut Tx, shift_id: &str) -> AppResult<Option<String>> {
    Ok(
        sqlx::query_scalar("SELECT device_id FROM lane_shifts WHERE id = $1")
            .bind(shift_id)
            .fetch_optional(&mut **tx)
            .await?,
    )
}

/// Records a shift's opening (the row is created by whichever of its events comes first).
pub async fn open_shift(
    tx: &mut Tx,
    device_id: &str,
    location_id: &str,
    shift_id: &str,
    cashier: &str,
    opened_at_ms: i64,
    opening_fen: i64,
) -> AppResult<()> {
    sqlx::query(
        "INSERT INTO lane_shifts (id, device_id, location_id, cashier, opened_at, opening_cash) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO UPDATE SET \
         opened_at = excluded.opened_at, opening_cash = excluded.opening_cash",
    )
    .bind(shift_id)
    .bind(device_id)
    .bind(location_id)
    .bind(cashier)
    .bind(opened_at_ms)
    .bind(opening_fen)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Records a shift's close with its Z report.
pub async fn close_shift(
    tx: &mut Tx,
    device_id: &str,
    location_id: &str,
    shift_id: &str,
    cashier: &str,
    z: &ZReport,
) -> AppResult<()> {
    let report =
        serde_json::to_string(z).map_err(|e| crate::error::AppError::Internal(e.into()))?;
    sqlx::query(
        "INSERT INTO lane_shifts (id, device_id, location_id, cashier, opened_at, opening_cash, \
         closed_at, sales, sales_total, expected_cash, counted_cash, difference, handed_over_to, \
         z_report) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) \
         ON CONFLICT (id) DO UPDATE SET closed_at = excluded.closed_at, sales = excluded.sales, \
         sales_total = excluded.sales_total, expected_cash = excluded.expected_cash, \
         counted_cash = excluded.counted_cash, difference = excluded.difference, \
         handed_over_to = excluded.handed_over_to, z_report = excluded.z_report",
    )
    .bind(shift_id)
    .bind(device_id)
    .bind(location_id)
    .bind(cashier)
    .bind(z.opened_at.timestamp_millis())
    .bind(z.opening_cash.fen())
    .bind(z.closed_at.timestamp_millis())
    .bind(z.sales)
    .bind(z.sales_total.fen())
    .bind(z.expected_cash.fen())
    .bind(z.counted_cash.fen())
    .bind(z.difference.fen())
    .bind(z.handed_over_to.as_deref())
    .bind(report)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// A closed shift as head office sees it.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ClosedShift {
    /// Shift id (the lane's).
    pub id: String,
    /// Store.
    pub location_id: String,
    /// The lane's device name.
    pub lane: String,
    /// Cashier.
    pub cashier: String,
    /// Opened.
    pub opened_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Closed.
    pub closed_at: chrono::DateTime<chrono::Utc>,
    /// Sales.
    pub sales: i64,
    /// Sales total, fen.
    pub sales_total_fen: i64,
    /// Expected cash, fen.
    pub expected_fen: i64,
    /// Counted cash, fen.
    pub counted_fen: i64,
    /// Counted − expected, fen.
    pub difference_fen: i64,
    /// Handed over to.
    pub handed_over_to: Option<String>,
}

/// Closed shifts, newest first: of one store, or of every store (`None`).
pub async fn closed_shifts(
    store: &Store,
    location: Option<&str>,
    limit: i64,
) -> AppResult<Vec<ClosedShift>> {
    let rows = sqlx::query(
        "SELECT s.id, s.location_id, d.name, s.cashier, s.opened_at, s.closed_at, s.sales, \
         s.sales_total, s.expected_cash, s.counted_cash, s.difference, s.handed_over_to \
         FROM lane_shifts s JOIN devices d ON d.id = s.device_id \
         WHERE s.closed_at IS NOT NULL AND ($1 = '' OR s.location_id = $1) \
         ORDER BY s.closed_at DESC, s.id LIMIT $2",
    )
    .bind(location.unwrap_or(""))
    .bind(limit)
    .fetch_all(store.reader())
    .await?;
    rows.iter()
        .map(|r| {
            Ok(ClosedShift {
                id: col(r, "id")?,
                location_id: col(r, "location_id")?,
                lane: col(r, "name")?,
                cashier: col(r, "cashier")?,
                opened_at: col::<Option<i64>>(r, "opened_at")?.map(from_ms),
                closed_at: from_ms(col(r, "closed_at")?),
                sales: col(r, "sales")?,
                sales_total_fen: col(r, "sales_total")?,
                expected_fen: col(r, "expected_cash")?,
                counted_fen: col(r, "counted_cash")?,
                difference_fen: col(r, "difference")?,
                handed_over_to: col(r, "handed_over_to")?,
            })
        })
        .collect()
}

/// A cash movement or offline switch as head office sees it.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ControlEvent {
    /// Store.
    pub location_id: String,
    /// The lane's device name.
    pub lane: String,
    /// `cash_in`, `cash_out`, `offline_on`, `offline_off`.
    pub kind: String,
    /// Cashier.
    pub cashier: String,
    /// Approving manager.
    pub approved_by: Option<String>,
    /// Amount, fen.
    pub amount_fen: Option<i64>,
    /// Reason.
    pub reason: Option<String>,
    /// When, at the lane.
    pub at: chrono::DateTime<chrono::Utc>,
}

/// Cash movements and offline switches, newest first: of one store or every store.
pub async fn control_events(
    store: &Store,
    location: Option<&str>,
    limit: i64,
) -> AppResult<Vec<ControlEvent>> {
    let rows = sqlx::query(
        "SELECT e.location_id, d.name, e.kind, e.cashier, e.approved_by, e.amount, e.reason, \
         e.occurred_at FROM lane_cash_events e JOIN devices d ON d.id = e.device_id \
         WHERE e.kind IN ('cash_in', 'cash_out', 'offline_on', 'offline_off') \
         AND ($1 = '' OR e.location_id = $1) ORDER BY e.occurred_at DESC, e.id LIMIT $2",
    )
    .bind(location.unwrap_or(""))
    .bind(limit)
    .fetch_all(store.reader())
    .await?;
    rows.iter()
        .map(|r| {
            Ok(ControlEvent {
                location_id: col(r, "location_id")?,
                lane: col(r, "name")?,
                kind: col(r, "kind")?,
                cashier: col(r, "cashier")?,
                approved_by: col(r, "approved_by")?,
                amount_fen: col(r, "amount")?,
                reason: col(r, "reason")?,
                at: from_ms(col(r, "occurred_at")?),
            })
        })
        .collect()
}
