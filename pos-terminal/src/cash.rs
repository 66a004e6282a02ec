//! Cash control at the lane (issue 21): cash put into or taken out of the drawer during a
//! shift with its reason (`cash in|out AMOUNT REASON…`: journalled, a slip printed, the drawer
//! opened), the hand-over of the drawer from one cashier to the next (`handover USER PIN
//! COUNTED`: the outgoing shift closed with its Z report, the incoming cashier signed in with
//! their PIN and a shift opened with the counted cash), and a store manager's switch of the
//! lane to offline selling and back (`offline on|off MANAGER PIN`), logged.
//!
//! Everything is kept in the lane's database ([`CashBook`]; tables created on first use) so
//! the Z report counts the cash moved and the log survives a restart. Each shift opened or
//! closed (with its Z report), cash movement and offline switch is also queued as a
//! [`LaneCashEvent`] and pushed to the server by the lane's push task ([`CashBook::push_unsent`],
//! `POST /api/v1/pos/cash-events`), exactly once by its client id.

use chrono::{DateTime, Utc};
use retail_domain::money::Money;
use retail_domain::wire::cash_control::{
    CashEventKind, CashEventOutcome, LaneCashEvent, MAX_CASH_EVENTS_PER_PUSH,
};
use sqlx::Row;
use uuid::Uuid;

use crate::lane::LaneError;
use crate::store::LaneDb;

const SCHEMA: &[&str] = &[
    // Cash put into (`in`) or taken out of (`out`) the drawer during a shift.
    "CREATE TABLE IF NOT EXISTS cash_moves (
        id TEXT PRIMARY KEY,
        shift_id TEXT NOT NULL,
        direction TEXT NOT NULL CHECK (direction IN ('in', 'out')),
        amount INTEGER NOT NULL CHECK (amount > 0),
        reason TEXT NOT NULL,
        cashier TEXT NOT NULL,
        at TEXT NOT NULL
    )",
    "CREATE INDEX IF NOT EXISTS cash_moves_by_shift ON cash_moves (shift_id)",
    // The lane's control log: hand-overs, offline switches.
    "CREATE TABLE IF NOT EXISTS control_log (
        id TEXT PRIMARY KEY,
        at TEXT NOT NULL,
        kind TEXT NOT NULL,
        cashier TEXT NOT NULL,
        approved_by TEXT,
        detail TEXT NOT NULL
    )",
    // What the server has not answered yet (issue 21): each event once by its id; `outcome` is
    // the server's (`applied`, `duplicate`, `rejected`) once it answered.
    "CREATE TABLE IF NOT EXISTS cash_outbox (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
        body TEXT NOT NULL,
        outcome TEXT,
        error TEXT
    )",
];

/// The longest reason a cash movement may carry.
pub const MAX_REASON_CHARS: usize = 100;

/// Which way cash moves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// Into the drawer (change float topped up).
    In,
    /// Out of the drawer (a pick-up to the safe, a petty expense).
    Out,
}

impl Direction {
    /// `in` or `out`.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::In => "in",
            Direction::Out => "out",
        }
    }

    /// The slip's title.
    pub fn title(self) -> &'static str {
        match self {
            Direction::In => "入款 CASH IN",
            Direction::Out => "出款 CASH OUT",
        }
    }
}

/// One entry of the control log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogEntry {
    /// When.
    pub at: DateTime<Utc>,
    /// `handover`, `offline_on`, `offline_off`.
    pub kind: String,
    /// Who was signed in.
    pub cashier: String,
    /// Who approved (a manager), when one did.
    pub approved_by: Option<String>,
    /// What happened.
    pub detail: String,
}

/// The lane's cash book: cash movements and the control log.
#[derive(Clone, Debug)]
pub struct CashBook {
    db: LaneDb,
}

impl CashBook {
    /// The book over the lane's database (its tables created when missing).
    ///
    /// # Errors
    /// When SQLite fails.
    pub async fn open(db: LaneDb) -> Result<Self, sqlx::Error> {
        for statement in SCHEMA {
            sqlx::query(statement).execute(db.pool()).await?;
        }
        Ok(Self { db })
    }

    /// Checks and records a cash movement of the open shift.
    ///
    /// # Errors
    /// No amount above zero, no reason, or more taken out than the drawer should hold.
    pub async fn record_move(
        &self,
        shift: Uuid,
        direction: Direction,
        amount: Money,
        reason: &str,
        cashier: &str,
        expected_in_drawer: Money,
    ) -> Result<Uuid, LaneError> {
        if amount.fen() <= 0 {
            return Err(LaneError::BadPayment(
                "the amount must be more than 0.00".into(),
            ));
        }
        let reason = reason.trim();
        if reason.is_empty() {
            return Err(LaneError::NotUsableHere(
                "a reason is required (e.g. cash out 500.00 safe drop)".into(),
            ));
        }
        if reason.chars().count() > MAX_REASON_CHARS || reason.chars().any(char::is_control) {
            return Err(LaneError::NotUsableHere(format!(
                "the reason must be plain text of at most {MAX_REASON_CHARS} characters"
            )));
        }
        if direction == Direction::Out && amount > expected_in_drawer {
            return Err(LaneError::BadPayment(format!(
                "the drawer should hold only {expected_in_drawer}: cannot take out {amount}"
            )));
        }
        let id = retail_domain::ids::new_id();
        sqlx::query(
            "INSERT INTO cash_moves (id, shift_id, direction, amount, reason, cashier, at) \
             VALUES (?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(id.to_string())
        .bind(shift.to_string())
        .bind(direction.as_str())
        .bind(amount.fen())
        .bind(reason)
        .bind(cashier)
        .bind(Utc::now().to_rfc3339())
        .execute(self.db.pool())
        .await
        .map_err(crate::store::StoreError::from)?;
        tracing::info!(%shift, direction = direction.as_str(), %amount, reason, cashier, "cash moved");
        Ok(id)
    }

    /// Cash put in and taken out during a shift, in fen: (in, out).
    ///
    /// # Errors
    /// When SQLite fails.
    pub async fn shift_moves(&self, shift: Uuid) -> Result<(i64, i64), LaneError> {
        let row = sqlx::query(
            "SELECT COALESCE(SUM(CASE WHEN direction = 'in' THEN amount ELSE 0 END), 0) AS cash_in, \
                    COALESCE(SUM(CASE WHEN direction = 'out' THEN amount ELSE 0 END), 0) AS cash_out \
             FROM cash_moves WHERE shift_id = ?",
        )
        .bind(shift.to_string())
        .fetch_one(self.db.pool())
        .await
        .map_err(crate::store::StoreError::from)?;
        Ok((row.get("cash_in"), row.get("cash_out")))
    }

    /// Writes an entry of the control log.
    ///
    /// # Errors
    /// When SQLite fails.
    pub async fn log(
        &self,
        kind: &str,
        cashier: &str,
        approved_by: Option<&str>,
        detail: &str,
    ) -> Result<(), LaneError> {
        sqlx::query(
            "INSERT INTO control_log (id, at, kind, cashier, approved_by, detail) \
             VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(retail_domain::ids::new_id().to_string())
        .bind(Utc::now().to_rfc3339())
        .bind(kind)
        .bind(cashier)
        .bind(approved_by)
        .bind(detail)
        .execute(self.db.pool())
        .await
        .map_err(crate::store::StoreError::from)?;
        tracing::info!(kind, cashier, ?approved_by, detail, "lane control");
        Ok(())
    }

    /// Queues an event for the server.
    ///
    /// # Errors
    /// When SQLite fails.
    pub async fn enqueue(&self, event: &LaneCashEvent) -> Result<(), LaneError> {
        let body = serde_json::to_string(event)
            .map_err(|e| crate::store::StoreError::Corrupt(e.to_string()))?;
        let mut conn = self
            .db
            .pool()
            .acquire()
            .await
            .map_err(crate::store::StoreError::from)?;
        queue_in(&mut conn, event.id, &body).await?;
        Ok(())
    }

    /// A new event of this lane now, for [`CashBook::enqueue`].
    pub fn event(kind: CashEventKind, shift: Option<Uuid>, cashier: &str) -> LaneCashEvent {
        LaneCashEvent {
            id: retail_domain::ids::new_id(),
            kind,
            shift_id: shift,
            cashier: cashier.to_owned(),
            approved_by: None,
            amount: None,
            reason: None,
            at: Utc::now(),
            z_report: None,
        }
    }

    /// Events the server has not answered, oldest first.
    ///
    /// # Errors
    /// When SQLite fails or an event is unreadable.
    pub async fn unsent(&self, limit: i64) -> Result<Vec<LaneCashEvent>, LaneError> {
        let bodies: Vec<String> = sqlx::query_scalar(
            "SELECT body FROM cash_outbox WHERE outcome IS NULL ORDER BY seq LIMIT ?",
        )
        .bind(limit)
        .fetch_all(self.db.pool())
        .await
        .map_err(crate::store::StoreError::from)?;
        bodies
            .iter()
            .map(|b| {
                serde_json::from_str(b).map_err(|e| {
                    LaneError::from(crate::store::StoreError::Corrupt(format!(
                        "cash event: {e}"
                    )))
                })
            })
            .collect()
    }

    /// Pushes every unanswered event in batches and records the server's answers; answers how
    /// many were sent. Exactly once: the server stores each by its id, so a batch sent again
    /// after a crash between sending and recording answers `duplicate`.
    ///
    /// # Errors
    /// The server's or SQLite's.
    pub async fn push_unsent(
        &self,
        api: &crate::server_api::ServerApi,
    ) -> Result<usize, crate::sync::SyncError> {
        let mut sent = 0;
        loop {
            let events = self
                .unsent(MAX_CASH_EVENTS_PER_PUSH as i64)
                .await
                .map_err(|e| crate::server_api::ApiError::Unexpected(e.to_string()))?;
            if events.is_empty() {
                return Ok(sent);
            }
            let n = events.len();
            let answer = api.push_cash_events(events).await?;
            if answer.results.len() != n {
                return Err(crate::server_api::ApiError::Unexpected(format!(
                    "pushed {n} cash events, got {} results",
                    answer.results.len()
                ))
                .into());
            }
            for r in &answer.results {
                let outcome = match r.outcome {
                    CashEventOutcome::Applied => "applied",
                    CashEventOutcome::Duplicate => "duplicate",
                    CashEventOutcome::Rejected => {
                        tracing::warn!(event = %r.id, error = ?r.error, "the server rejected a cash event");
                        "rejected"
                    }
                };
                sqlx::query("UPDATE cash_outbox SET outcome = ?, error = ? WHERE id = ?")
                    .bind(outcome)
                    .bind(r.error.as_deref())
                    .bind(r.id.to_string())
                    .execute(self.db.pool())
                    .await
                    .map_err(|e| crate::server_api::ApiError::Unexpected(e.to_string()))?;
            }
            sent += n;
            if n < MAX_CASH_EVENTS_PER_PUSH {
                return Ok(sent);
            }
        }
    }

    /// Events waiting for the server.
    ///
    /// # Errors
    /// When SQLite fails.
    pub async fn unsent_count(&self) -> Result<i64, LaneError> {
        Ok(
            sqlx::query_scalar("SELECT COUNT(*) FROM cash_outbox WHERE outcome IS NULL")
                .fetch_one(self.db.pool())
                .await
                .map_err(crate::store::StoreError::from)?,
        )
    }

    /// The control log, oldest first.
    ///
    /// # Errors
    /// When SQLite fails or an entry is unreadable.
    pub async fn entries(&self) -> Result<Vec<LogEntry>, LaneError> {
        let rows = sqlx::query(
            "SELECT at, kind, cashier, approved_by, detail FROM control_log ORDER BY at, rowid",
        )
        .fetch_all(self.db.pool())
        .await
        .map_err(crate::store::StoreError::from)?;
        rows.iter()
            .map(|r| {
                let at: String = r.get("at");
                Ok(LogEntry {
                    at: DateTime::parse_from_rfc3339(&at)
                        .map_err(|e| {
                            crate::store::StoreError::Corrupt(format!("control log time: {e}"))
                        })?
                        .with_timezone(&Utc),
                    kind: r.get("kind"),
                    cashier: r.get("cashier"),
                    approved_by: r.get("approved_by"),
                    detail: r.get("detail"),
                })
            })
            .collect()
    }
}

/// Queues an event's JSON `body` in the outbox on `conn` (a connection or a transaction of the
/// lane's database); a second time with the same id changes nothing.
pub(crate) async fn queue_in(
    conn: &mut sqlx::SqliteConnection,
    id: uuid::Uuid,
    body: &str,
) -> Result<(), crate::store::StoreError> {
    sqlx::query("INSERT INTO cash_outbox (id, body) VALUES (?, ?) ON CONFLICT (id) DO NOTHING")
        .bind(id.to_string())
        .bind(body)
        .execute(conn)
        .await?;
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn moves_are_checked_and_summed_per_shift() {
        let dir = tempfile::tempdir().unwrap();
        let db = LaneDb::open(&dir.path().join("lane.db")).await.unwrap();
        let book = CashBook::open(db).await.unwrap();
        let shift = retail_domain::ids::new_id();
        let drawer = Money::from_fen(10_000);
        book.record_move(
            shift,
            Direction::In,
            Money::from_fen(5_000),
            "float",
            "c1",
            drawer,
        )
        .await
        .unwrap();
        book.record_move(
            shift,
            Direction::Out,
            Money::from_fen(2_000),
            "safe drop",
            "c1",
            drawer,
        )
        .await
        .unwrap();
        assert!(book
            .record_move(
                shift,
                Direction::Out,
                Money::from_fen(1),
                "  ",
                "c1",
                drawer
            )
            .await
            .is_err());
        assert!(book
            .record_move(shift, Direction::Out, Money::from_fen(0), "x", "c1", drawer)
            .await
            .is_err());
        assert!(book
            .record_move(
                shift,
                Direction::Out,
                Money::from_fen(10_001),
                "x",
                "c1",
                drawer
            )
            .await
            .is_err());
        assert_eq!(book.shift_moves(shift).await.unwrap(), (5_000, 2_000));
        assert_eq!(
            book.shift_moves(retail_domain::ids::new_id())
                .await
                .unwrap(),
            (0, 0)
        );
        book.log("offline_on", "c1", Some("mgr"), "network down")
            .await
            .unwrap();
        let log = book.entries().await.unwrap();
        assert_eq!(log.len(), 1);
        assert_eq!(log[0].approved_by.as_deref(), Some("mgr"));
    }
}
