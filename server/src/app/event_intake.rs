//! The event writer: the shop pages' tracked-event batches (埋点, issue 19) stored by a
//! group commit ([`super::group_commit`]). Every browser's batch is checked on its own
//! ([`super::events::ingest`]); the batches that queue up while one transaction is in flight are
//! stored together by the next ([`storage::events::insert_batches`]: one multi-row insert, one
//! upsert of the daily counts and of the funnel rollups, one durable commit), so a commit and
//! the rollups' row locks are paid once for many browsers instead of once each.
//!
//! Each batch keeps its own answer (events stored, duplicates), exactly as if the batches had
//! been stored one after another in arrival order. When the group's transaction fails, each
//! batch is tried again alone, so a failure is answered to the batch that caused it only.

use super::group_commit::{Batcher, GroupWriter};
use crate::error::AppResult;
use crate::storage::{self, events::Inserted, events::NewEvent, Dialect, Store};

/// Most browsers' batches stored in one transaction on PostgreSQL (each at most
/// [`super::events::MAX_EVENTS_PER_BATCH`] events).
pub const MAX_BATCH: usize = 32;

/// Most browsers' batches stored in one transaction on SQLite. Small: SQLite's commit is cheap
/// (one WAL append and fsync) and its single writer cannot overlap groups, so a large group
/// leaves the writer idle while the next round of requests is checked, and the checking idle
/// while it writes (BENCHMARKS.md, "Event ingestion").
pub const SQLITE_MAX_BATCH: usize = 4;

/// Groups stored at once on PostgreSQL (each on a connection of its own). SQLite has one
/// writer, so one group at a time.
pub const POSTGRES_LOOPS: usize = 2;

/// What the event writer does with a group: [`storage::events::insert_batches`].
#[derive(Clone, Copy, Debug)]
struct EventRows;

impl Batcher for EventRows {
    type Item = Vec<NewEvent>;
    type Answer = Inserted;
    const NAME: &'static str = "event writer";
    const SIZE_METRIC: &'static str = "event_batch_group_size";
    const SECONDS_METRIC: &'static str = "event_batch_group_seconds";

    async fn apply(&mut self, store: &Store, items: &[Vec<NewEvent>]) -> Vec<AppResult<Inserted>> {
        let batches: Vec<&[NewEvent]> = items.iter().map(Vec::as_slice).collect();
        match storage::events::insert_batches(store, &batches).await {
            Ok(done) => done.into_iter().map(Ok).collect(),
            Err(err) if items.len() > 1 => {
                tracing::warn!(error = %err, batches = items.len(), "storing a group of event batches failed; storing each alone");
                let mut answers = Vec::with_capacity(items.len());
                for batch in items {
                    answers.push(storage::events::insert(store, batch).await);
                }
                answers
            }
            Err(err) => vec![Err(err)],
        }
    }
}

/// Handle to the event writer; cheap to clone.
#[derive(Clone)]
pub struct EventIntake(GroupWriter<EventRows>);

impl std::fmt::Debug for EventIntake {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EventIntake")
    }
}

impl EventIntake {
    /// Starts the writer on its own thread (with its own PostgreSQL connections).
    pub async fn start(store: Store) -> anyhow::Result<Self> {
        let (max_batch, loops) = match store.dialect() {
            Dialect::Sqlite => (SQLITE_MAX_BATCH, 1),
            Dialect::Postgres => (MAX_BATCH, POSTGRES_LOOPS),
        };
        Ok(Self(
            GroupWriter::start(store, max_batch, loops, EventRows).await?,
        ))
    }

    /// Stores one browser's checked batch: waits for the group it joined to commit (or fail).
    pub async fn store(&self, events: Vec<NewEvent>) -> AppResult<Inserted> {
        if events.is_empty() {
            return Ok(Inserted::default());
        }
        self.0.submit(events).await
    }

    /// Stops accepting batches, stores what is queued and waits for the writer.
    pub async fn close(&self) {
        self.0.close().await;
    }
}
