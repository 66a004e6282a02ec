//! The agent's own SQLite database (`<data_dir>/edge.db`, WAL): the durable **outbox** of
//! events waiting for the broker, the message ids of commands and notices already handled,
//! the exit passes used at this store's gates (its own and those learned from the bus), and a
//! small key-value table (the code-verifier key, so the gate decides with the server down).

use std::path::Path;
use std::str::FromStr;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, SqlitePool};
use uuid::Uuid;

/// Errors of the local database.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite failed.
    #[error("local database: {0}")]
    Sql(#[from] sqlx::Error),
    /// Creating its folder failed.
    #[error("local database folder: {0}")]
    Io(#[from] std::io::Error),
}

/// Result of the local database.
pub type StoreResult<T> = Result<T, StoreError>;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS outbox (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    message_id TEXT NOT NULL UNIQUE,
    topic      TEXT NOT NULL,
    payload    BLOB NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS seen_messages (
    message_id TEXT PRIMARY KEY,
    seen_at    INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS used_passes (
    session_id TEXT PRIMARY KEY,
    source     TEXT NOT NULL,
    used_at    INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS kv (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
";

/// One event waiting for the broker.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutboxRow {
    /// Order of production.
    pub seq: i64,
    /// Topic to publish to.
    pub topic: String,
    /// The JSON payload.
    pub payload: Vec<u8>,
}

/// The local database; cheap to clone.
#[derive(Clone, Debug)]
pub struct LocalStore {
    pool: SqlitePool,
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

impl LocalStore {
    /// Opens (creating) `<dir>/edge.db`.
    pub async fn open(dir: &Path) -> StoreResult<Self> {
        std::fs::create_dir_all(dir)?;
        let options = SqliteConnectOptions::from_str("sqlite://")?
            .filename(dir.join("edge.db"))
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(std::time::Duration::from_secs(5));
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options)
            .await?;
        sqlx::raw_sql(SCHEMA).execute(&pool).await?;
        Ok(Self { pool })
    }

    /// Closes the database.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Queues an event (idempotent by message id).
    pub async fn enqueue(&self, topic: &str, message_id: Uuid, payload: &[u8]) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO outbox (message_id, topic, payload, created_at) VALUES (?, ?, ?, ?) \
             ON CONFLICT (message_id) DO NOTHING",
        )
        .bind(message_id.to_string())
        .bind(topic)
        .bind(payload)
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Events not yet acknowledged by the broker, after `after`, oldest first.
    pub async fn pending(&self, after: i64, limit: i64) -> StoreResult<Vec<OutboxRow>> {
        let rows = sqlx::query(
            "SELECT seq, topic, payload FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?",
        )
        .bind(after)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(OutboxRow {
                    seq: r.try_get("seq")?,
                    topic: r.try_get("topic")?,
                    payload: r.try_get("payload")?,
                })
            })
            .collect()
    }

    /// The broker acknowledged an event: it leaves the outbox.
    pub async fn delivered(&self, seq: i64) -> StoreResult<()> {
        sqlx::query("DELETE FROM outbox WHERE seq = ?")
            .bind(seq)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Events waiting.
    pub async fn outbox_len(&self) -> StoreResult<i64> {
        Ok(sqlx::query("SELECT COUNT(*) AS n FROM outbox")
            .fetch_one(&self.pool)
            .await?
            .try_get("n")?)
    }

    /// Records an incoming message id; false when it was handled before.
    pub async fn first_sight(&self, message_id: Uuid) -> StoreResult<bool> {
        Ok(sqlx::query(
            "INSERT INTO seen_messages (message_id, seen_at) VALUES (?, ?) \
             ON CONFLICT (message_id) DO NOTHING",
        )
        .bind(message_id.to_string())
        .bind(now_ms())
        .execute(&self.pool)
        .await?
        .rows_affected()
            == 1)
    }

    /// Marks a pass used (learned from the bus); false if it already was.
    pub async fn mark_pass_used(&self, session: Uuid, source: &str) -> StoreResult<bool> {
        Ok(sqlx::query(
            "INSERT INTO used_passes (session_id, source, used_at) VALUES (?, ?, ?) \
             ON CONFLICT (session_id) DO NOTHING",
        )
        .bind(session.to_string())
        .bind(source)
        .bind(now_ms())
        .execute(&self.pool)
        .await?
        .rows_affected()
            == 1)
    }

    /// Has this pass been used at any gate of the store (as far as this agent knows)?
    pub async fn pass_used(&self, session: Uuid) -> StoreResult<bool> {
        Ok(
            sqlx::query("SELECT 1 AS x FROM used_passes WHERE session_id = ?")
                .bind(session.to_string())
                .fetch_optional(&self.pool)
                .await?
                .is_some(),
        )
    }

    /// In one transaction: uses the pass (when `use_pass`; returns false, changing nothing, if
    /// it was already used) and queues the gate's event.
    pub async fn record_gate_decision(
        &self,
        use_pass: Option<(Uuid, &str)>,
        topic: &str,
        message_id: Uuid,
        payload: &[u8],
    ) -> StoreResult<bool> {
        let mut tx = self.pool.begin().await?;
        if let Some((session, source)) = use_pass {
            let fresh = sqlx::query(
                "INSERT INTO used_passes (session_id, source, used_at) VALUES (?, ?, ?) \
                 ON CONFLICT (session_id) DO NOTHING",
            )
            .bind(session.to_string())
            .bind(source)
            .bind(now_ms())
            .execute(&mut *tx)
            .await?
            .rows_affected()
                == 1;
            if !fresh {
                return Ok(false);
            }
        }
        sqlx::query(
            "INSERT INTO outbox (message_id, topic, payload, created_at) VALUES (?, ?, ?, ?) \
             ON CONFLICT (message_id) DO NOTHING",
        )
        .bind(message_id.to_string())
        .bind(topic)
        .bind(payload)
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// A stored value.
    pub async fn get(&self, key: &str) -> StoreResult<Option<String>> {
        Ok(sqlx::query("SELECT value FROM kv WHERE key = ?")
            .bind(key)
            .fetch_optional(&self.pool)
            .await?
            .map(|r| r.try_get("value"))
            .transpose()?)
    }

    /// Stores a value.
    pub async fn set(&self, key: &str, value: &str) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO kv (key, value) VALUES (?, ?) \
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        )
        .bind(key)
        .bind(value)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}
