//! The agent's own SQLite database (`<data_dir>/edge.db`, WAL): the durable **outbox** of
//! events waiting for the server, the message ids of commands and notices already handled,
//! the exit passes used at this store's gates (its own and those learned from the bus), and a
//! small key-value table (the code-verifier key, so the gate decides with the server down).
//!
//! An outbox row stays until the server's acknowledgement names its `message_id`
//! ([`LocalStore::acknowledged`]); the broker's PUBACK only marks it published
//! (`published_at`, [`LocalStore::published`]). Databases made before `published_at` existed
//! get the column when they are opened.

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
    created_at INTEGER NOT NULL,
    published_at INTEGER
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

/// One event waiting for the server's acknowledgement.
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

fn outbox_row(row: &sqlx::sqlite::SqliteRow) -> StoreResult<OutboxRow> {
    Ok(OutboxRow {
        seq: row.try_get("seq")?,
        topic: row.try_get("topic")?,
        payload: row.try_get("payload")?,
    })
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
        // An outbox from before end-to-end acknowledgements: add the column, keep the rows.
        let has_published: i64 = sqlx::query(
            "SELECT COUNT(*) AS n FROM pragma_table_info('outbox') WHERE name = 'published_at'",
        )
        .fetch_one(&pool)
        .await?
        .try_get("n")?;
        if has_published == 0 {
            sqlx::query("ALTER TABLE outbox ADD COLUMN published_at INTEGER")
                .execute(&pool)
                .await?;
        }
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

    /// Events not yet acknowledged by the server, after `after`, oldest first.
    pub async fn pending(&self, after: i64, limit: i64) -> StoreResult<Vec<OutboxRow>> {
        let rows = sqlx::query(
            "SELECT seq, topic, payload FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?",
        )
        .bind(after)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(outbox_row).collect()
    }

    /// One event still waiting for the server (to publish it again); `None` once acknowledged.
    pub async fn waiting(&self, seq: i64) -> StoreResult<Option<OutboxRow>> {
        sqlx::query("SELECT seq, topic, payload FROM outbox WHERE seq = ?")
            .bind(seq)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(outbox_row)
            .transpose()
    }

    /// The broker acknowledged (PUBACK) an event: it is published, and stays until the server
    /// acknowledges it.
    pub async fn published(&self, seq: i64) -> StoreResult<()> {
        sqlx::query("UPDATE outbox SET published_at = ? WHERE seq = ?")
            .bind(now_ms())
            .bind(seq)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The server acknowledged these events: they leave the outbox. Returns the `seq` of each
    /// row removed (ids not in the outbox are ignored).
    pub async fn acknowledged(&self, message_ids: &[Uuid]) -> StoreResult<Vec<i64>> {
        let mut tx = self.pool.begin().await?;
        let mut removed = Vec::new();
        for id in message_ids {
            if let Some(row) = sqlx::query("DELETE FROM outbox WHERE message_id = ? RETURNING seq")
                .bind(id.to_string())
                .fetch_optional(&mut *tx)
                .await?
            {
                removed.push(row.try_get("seq")?);
            }
        }
        tx.commit().await?;
        Ok(removed)
    }

    /// Events published to the broker and still waiting for the server's acknowledgement.
    pub async fn published_len(&self) -> StoreResult<i64> {
        Ok(
            sqlx::query("SELECT COUNT(*) AS n FROM outbox WHERE published_at IS NOT NULL")
                .fetch_one(&self.pool)
                .await?
                .try_get("n")?,
        )
    }

    /// Events waiting for the server (published or not).
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

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn rows_leave_only_when_the_server_names_them() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let store = LocalStore::open(dir.path())
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        for id in [a, b, a] {
            store
                .enqueue("t", id, id.to_string().as_bytes())
                .await
                .unwrap_or_else(|e| panic!("{e}"));
        }
        let rows = store.pending(0, 10).await.unwrap_or_default();
        assert_eq!(rows.len(), 2);
        store
            .published(rows[0].seq)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(store.published_len().await.ok(), Some(1));
        assert_eq!(store.outbox_len().await.ok(), Some(2));
        // An unknown id changes nothing; a known one removes its row, once.
        let removed = store
            .acknowledged(&[Uuid::now_v7(), a])
            .await
            .unwrap_or_default();
        assert_eq!(removed, vec![rows[0].seq]);
        assert!(store
            .acknowledged(&[a])
            .await
            .unwrap_or_default()
            .is_empty());
        assert_eq!(store.waiting(rows[0].seq).await.ok(), Some(None));
        assert_eq!(
            store
                .waiting(rows[1].seq)
                .await
                .ok()
                .flatten()
                .map(|r| r.payload),
            Some(b.to_string().into_bytes())
        );
        assert_eq!(store.outbox_len().await.ok(), Some(1));
        assert_eq!(store.published_len().await.ok(), Some(0));
        store.close().await;
    }

    #[tokio::test]
    async fn an_outbox_from_before_acknowledgements_opens_with_its_rows() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        // The outbox as it was: no published_at.
        {
            let options = SqliteConnectOptions::from_str("sqlite://")
                .unwrap_or_else(|e| panic!("{e}"))
                .filename(dir.path().join("edge.db"))
                .create_if_missing(true);
            let pool = SqlitePoolOptions::new()
                .max_connections(1)
                .connect_with(options)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            sqlx::raw_sql(
                "CREATE TABLE outbox (seq INTEGER PRIMARY KEY AUTOINCREMENT, \
                 message_id TEXT NOT NULL UNIQUE, topic TEXT NOT NULL, payload BLOB NOT NULL, \
                 created_at INTEGER NOT NULL); \
                 INSERT INTO outbox (message_id, topic, payload, created_at) \
                 VALUES ('0196a000-0000-7000-8000-000000000001', 't', x'7b7d', 1);",
            )
            .execute(&pool)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
            pool.close().await;
        }
        for _ in 0..2 {
            let store = LocalStore::open(dir.path())
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(store.outbox_len().await.ok(), Some(1));
            store.close().await;
        }
        let store = LocalStore::open(dir.path())
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let rows = store.pending(0, 10).await.unwrap_or_default();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].payload, b"{}".to_vec());
        store
            .published(rows[0].seq)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(store.published_len().await.ok(), Some(1));
        let id: Uuid = "0196a000-0000-7000-8000-000000000001"
            .parse()
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            store.acknowledged(&[id]).await.unwrap_or_default(),
            vec![rows[0].seq]
        );
        store.close().await;
    }
}
