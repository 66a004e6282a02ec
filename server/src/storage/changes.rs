//! The change feeds (issue 20): one row per change of an order, a stock level, a member, a
//! payment or a refund, numbered in commit order.
//!
//! The rows are written by triggers on the changed tables (`migrations/0062_change_feeds.*.sql`)
//! inside the changing transaction, so every write path — the order intake's group commit, lane
//! sales, payments, refunds, stock movements, bulk loads — records its changes without calling
//! anything here. On SQLite (one writer) a change is numbered when it is written; on PostgreSQL
//! it is numbered by a deferred trigger at COMMIT, under the row lock of `counters.changes`, so
//! numbering order is commit order and a reader that sees `seq` N sees every `seq` below N. See
//! docs/CONTRACTS.md, "Change feeds". Only the key of the changed record is kept: the record is
//! read when the feed is read.

use std::fmt;
use std::str::FromStr;

use crate::error::AppResult;

use super::{col, Store, Tx};

/// A change feed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Feed {
    /// Orders (online and lane sales): created, status changes, lines returned.
    Orders,
    /// Stock levels, one record per (location, SKU).
    Stock,
    /// Members: registration, profile, tier (growth), points and stored balance.
    Members,
    /// Payments of orders.
    Payments,
    /// Refunds of payments.
    Refunds,
}

impl Feed {
    /// Every feed.
    pub const ALL: [Feed; 5] = [
        Feed::Orders,
        Feed::Stock,
        Feed::Members,
        Feed::Payments,
        Feed::Refunds,
    ];

    /// The feed's name, as in the URL and the `changes.feed` column.
    pub fn as_str(self) -> &'static str {
        match self {
            Feed::Orders => "orders",
            Feed::Stock => "stock",
            Feed::Members => "members",
            Feed::Payments => "payments",
            Feed::Refunds => "refunds",
        }
    }
}

impl fmt::Display for Feed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The name is not a feed's.
#[derive(Debug, thiserror::Error)]
#[error("no change feed is called {0:?} (orders, stock, members, payments, refunds)")]
pub struct UnknownFeed(pub String);

impl FromStr for Feed {
    type Err = UnknownFeed;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Feed::ALL
            .into_iter()
            .find(|feed| feed.as_str() == s)
            .ok_or_else(|| UnknownFeed(s.to_owned()))
    }
}

/// One recorded change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// Its position in commit order (one sequence over all feeds).
    pub seq: i64,
    /// The feed.
    pub feed: Feed,
    /// The changed record's id, or `<location>/<sku>` for a stock level.
    pub entity_key: String,
    /// `created`, `updated` or `deleted`.
    pub kind: String,
    /// When it was numbered (at its commit), Unix ms.
    pub committed_at: i64,
}

/// The changes of `feed` after position `after`, oldest first, at most `limit`.
pub async fn page(store: &Store, feed: Feed, after: i64, limit: i64) -> AppResult<Vec<Change>> {
    let rows = sqlx::query(
        "SELECT seq, entity_key, kind, committed_at FROM changes \
         WHERE feed = $1 AND seq > $2 ORDER BY seq LIMIT $3",
    )
    .bind(feed.as_str())
    .bind(after)
    .bind(limit)
    .fetch_all(store.reader())
    .await?;
    rows.iter()
        .map(|row| {
            Ok(Change {
                seq: col(row, "seq")?,
                feed,
                entity_key: col(row, "entity_key")?,
                kind: col(row, "kind")?,
                committed_at: col(row, "committed_at")?,
            })
        })
        .collect()
}

/// The position of the newest change of any feed (0 before the first).
pub async fn head(store: &Store) -> AppResult<i64> {
    let row = sqlx::query("SELECT COALESCE(MAX(seq), 0) AS seq FROM changes")
        .fetch_one(store.reader())
        .await?;
    col(&row, "seq")
}

/// The `counters` row that keeps how far `feed` was pruned.
fn pruned_counter(feed: Feed) -> String {
    format!("changes_pruned.{}", feed.as_str())
}

/// The highest position pruned from `feed` (0 while nothing was): a reader whose cursor is below
/// it has missed changes.
pub async fn pruned_through(store: &Store, feed: Feed) -> AppResult<i64> {
    let row = sqlx::query("SELECT value FROM counters WHERE name = $1")
        .bind(pruned_counter(feed))
        .fetch_optional(store.reader())
        .await?;
    row.map_or(Ok(0), |r| col(&r, "value"))
}

/// Locks `feed`'s pruned-through counter row until `tx` ends (making it first when missing)
/// and answers its value. Pruning and enabling a webhook endpoint both take it first, so they
/// run one after the other: an endpoint enabled meanwhile either holds the prune back or
/// sees what was pruned.
pub async fn lock_pruned(tx: &mut Tx, store: &Store, feed: Feed) -> AppResult<i64> {
    sqlx::query("INSERT INTO counters (name, value) VALUES ($1, 0) ON CONFLICT (name) DO NOTHING")
        .bind(pruned_counter(feed))
        .execute(&mut **tx)
        .await?;
    let row = sqlx::query(&format!(
        "SELECT value FROM counters WHERE name = $1{}",
        store.for_update()
    ))
    .bind(pruned_counter(feed))
    .fetch_one(&mut **tx)
    .await?;
    col(&row, "value")
}

/// Deletes up to `batch` of the oldest changes of `feed` committed before `before_ms` and not
/// past the lowest cursor of the active webhook endpoints that take the feed (what every reader
/// that must not miss one has passed), and records the highest position deleted, in one
/// transaction under the feed's counter lock ([`lock_pruned`]). Answers how many were deleted
/// (0: nothing left to do).
pub async fn prune(store: &Store, feed: Feed, before_ms: i64, batch: i64) -> AppResult<u64> {
    let mut tx = store.begin().await?;
    lock_pruned(&mut tx, store, feed).await?;
    let hold = super::webhooks::active_cursor_floor(&mut tx, feed)
        .await?
        .unwrap_or(i64::MAX);
    let row = sqlx::query(
        "SELECT MAX(seq) AS top FROM (SELECT seq FROM changes WHERE feed = $1 \
         AND committed_at < $2 AND seq <= $3 ORDER BY seq LIMIT $4) oldest",
    )
    .bind(feed.as_str())
    .bind(before_ms)
    .bind(hold)
    .bind(batch)
    .fetch_one(&mut *tx)
    .await?;
    let Some(top) = col::<Option<i64>>(&row, "top")? else {
        return Ok(0);
    };
    let deleted = sqlx::query("DELETE FROM changes WHERE feed = $1 AND seq <= $2")
        .bind(feed.as_str())
        .bind(top)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    sqlx::query(
        "INSERT INTO counters (name, value) VALUES ($1, $2) ON CONFLICT (name) \
         DO UPDATE SET value = CASE WHEN excluded.value > counters.value \
         THEN excluded.value ELSE counters.value END",
    )
    .bind(pruned_counter(feed))
    .bind(top)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(deleted)
}
