//! What several server instances on one database share (issue 20, docs/OPERATIONS.md): job
//! leases (a periodic job run by one instance at a time), fixed-window rate counters, catalog
//! import jobs and their progress, and PostgreSQL `NOTIFY` for cache invalidation and chat.

use super::{col, Store};
use crate::error::AppResult;

/// Takes the lease on `job` for `holder` until `until` (Unix ms) when it is free (its lease
/// ran out before `now`) or already `holder`'s; true when taken. One conditional upsert: of two
/// instances asking at once exactly one wins (the row lock serialises them, and the loser's
/// `WHERE` sees the winner's lease).
pub async fn take_lease(
    store: &Store,
    job: &str,
    holder: &str,
    now: i64,
    until: i64,
) -> AppResult<bool> {
    let done = sqlx::query(
        "INSERT INTO job_leases (job, holder, lease_until, runs, started_at) \
         VALUES ($1, $2, $3, 1, $4) \
         ON CONFLICT (job) DO UPDATE SET holder = excluded.holder, \
         lease_until = excluded.lease_until, runs = job_leases.runs + 1, \
         started_at = excluded.started_at \
         WHERE job_leases.lease_until <= $4 OR job_leases.holder = $2",
    )
    .bind(job)
    .bind(holder)
    .bind(until)
    .bind(now)
    .execute(store.writer())
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Moves `holder`'s lease on `job` to end at `until` (a heartbeat, or at the end of a run the
/// time before the next one is due; `until` ≤ now frees it); false when `holder` no longer
/// holds it.
pub async fn set_lease(store: &Store, job: &str, holder: &str, until: i64) -> AppResult<bool> {
    let done = sqlx::query("UPDATE job_leases SET lease_until = $3 WHERE job = $1 AND holder = $2")
        .bind(job)
        .bind(holder)
        .bind(until)
        .execute(store.writer())
        .await?;
    Ok(done.rows_affected() == 1)
}

/// One job's lease as stored.
#[derive(Clone, Debug)]
pub struct LeaseRow {
    /// The job.
    pub job: String,
    /// The instance that took it last.
    pub holder: String,
    /// Until when (Unix ms).
    pub lease_until: i64,
    /// How often it was taken.
    pub runs: i64,
    /// When it was last taken (Unix ms).
    pub started_at: i64,
}

/// Every job lease, by job name.
pub async fn leases(store: &Store) -> AppResult<Vec<LeaseRow>> {
    let rows = sqlx::query(
        "SELECT job, holder, lease_until, runs, started_at FROM job_leases ORDER BY job",
    )
    .fetch_all(store.reader())
    .await?;
    rows.iter()
        .map(|r| {
            Ok(LeaseRow {
                job: col(r, "job")?,
                holder: col(r, "holder")?,
                lease_until: col(r, "lease_until")?,
                runs: col(r, "runs")?,
                started_at: col(r, "started_at")?,
            })
        })
        .collect()
}

/// Counts one hit for `key` in the window of `window_ms` starting at `start` unless `limit`
/// hits are counted there already; answers the count after this hit, or None when refused.
/// Runs in `tx` so several keys count all or nothing.
pub async fn hit_window(
    tx: &mut super::Tx,
    key: &str,
    window_ms: i64,
    start: i64,
    limit: i64,
) -> AppResult<Option<i64>> {
    let row = sqlx::query(
        "INSERT INTO rate_windows (key, window_ms, window_start, hits, expires_at) \
         VALUES ($1, $2, $3, 1, $4) \
         ON CONFLICT (key, window_ms, window_start) DO UPDATE SET hits = rate_windows.hits + 1 \
         WHERE rate_windows.hits < $5 \
         RETURNING hits",
    )
    .bind(key)
    .bind(window_ms)
    .bind(start)
    .bind(start + window_ms)
    .bind(limit)
    .fetch_optional(&mut **tx)
    .await?;
    row.map(|r| col::<i64>(&r, "hits")).transpose()
}

/// Gives back one hit counted for `key` in the window starting at `start`.
pub async fn unhit_window(store: &Store, key: &str, window_ms: i64, start: i64) -> AppResult<()> {
    sqlx::query(
        "UPDATE rate_windows SET hits = hits - 1 \
         WHERE key = $1 AND window_ms = $2 AND window_start = $3 AND hits > 0",
    )
    .bind(key)
    .bind(window_ms)
    .bind(start)
    .execute(store.writer())
    .await?;
    Ok(())
}

/// Forgets every window of `key` of `window_ms`.
pub async fn clear_windows(store: &Store, key: &str, window_ms: i64) -> AppResult<()> {
    sqlx::query("DELETE FROM rate_windows WHERE key = $1 AND window_ms = $2")
        .bind(key)
        .bind(window_ms)
        .execute(store.writer())
        .await?;
    Ok(())
}

/// Deletes windows over before `now`; answers how many.
pub async fn sweep_windows(store: &Store, now: i64) -> AppResult<u64> {
    Ok(
        sqlx::query("DELETE FROM rate_windows WHERE expires_at <= $1")
            .bind(now)
            .execute(store.writer())
            .await?
            .rows_affected(),
    )
}

/// A catalog import job as stored.
#[derive(Clone, Debug)]
pub struct ImportJobRow {
    /// Who started it (`staff:…`).
    pub owner: String,
    /// `checking`, `importing`, `imported` or `refused`.
    pub phase: String,
    /// Products to write.
    pub total: i64,
    /// Products written.
    pub done: i64,
    /// How many were imported (phase `imported`).
    pub imported: Option<i64>,
    /// The errors as JSON (phase `refused`).
    pub errors: Option<String>,
    /// The instance running it.
    pub holder: String,
    /// Its last progress write (Unix ms).
    pub heartbeat_at: i64,
}

/// Records a new import job; false when `id` is known (a resent form).
pub async fn insert_import_job(
    store: &Store,
    id: &str,
    owner: &str,
    holder: &str,
    now: i64,
) -> AppResult<bool> {
    let done = sqlx::query(
        "INSERT INTO catalog_import_jobs (id, owner, phase, holder, started_at, heartbeat_at) \
         VALUES ($1, $2, 'checking', $3, $4, $4) ON CONFLICT (id) DO NOTHING",
    )
    .bind(id)
    .bind(owner)
    .bind(holder)
    .bind(now)
    .execute(store.writer())
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Writes a running job's phase and counters (and its heartbeat).
pub async fn import_progress(
    store: &Store,
    id: &str,
    phase: &str,
    total: i64,
    done: i64,
    now: i64,
) -> AppResult<()> {
    sqlx::query(
        "UPDATE catalog_import_jobs SET phase = $2, total = $3, done = $4, heartbeat_at = $5 \
         WHERE id = $1 AND phase IN ('checking', 'importing')",
    )
    .bind(id)
    .bind(phase)
    .bind(total)
    .bind(done)
    .bind(now)
    .execute(store.writer())
    .await?;
    Ok(())
}

/// Writes a job's outcome: `imported` with the count, or `refused` with the errors (JSON).
pub async fn finish_import(
    store: &Store,
    id: &str,
    imported: Option<i64>,
    errors: Option<&str>,
    (total, done): (i64, i64),
    now: i64,
) -> AppResult<()> {
    let phase = if imported.is_some() {
        "imported"
    } else {
        "refused"
    };
    sqlx::query(
        "UPDATE catalog_import_jobs SET phase = $2, imported = $3, errors = $4, \
         total = $6, done = $7, heartbeat_at = $5 WHERE id = $1",
    )
    .bind(id)
    .bind(phase)
    .bind(imported)
    .bind(errors)
    .bind(now)
    .bind(total)
    .bind(done)
    .execute(store.writer())
    .await?;
    Ok(())
}

/// The import job `id`, if kept.
pub async fn import_job(store: &Store, id: &str) -> AppResult<Option<ImportJobRow>> {
    let row = sqlx::query(
        "SELECT owner, phase, total, done, imported, errors, holder, heartbeat_at \
         FROM catalog_import_jobs WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(store.reader())
    .await?;
    row.map(|r| {
        Ok(ImportJobRow {
            owner: col(&r, "owner")?,
            phase: col(&r, "phase")?,
            total: col(&r, "total")?,
            done: col(&r, "done")?,
            imported: col(&r, "imported")?,
            errors: col(&r, "errors")?,
            holder: col(&r, "holder")?,
            heartbeat_at: col(&r, "heartbeat_at")?,
        })
    })
    .transpose()
}

/// Deletes import jobs started before `before`; answers how many.
pub async fn sweep_import_jobs(store: &Store, before: i64) -> AppResult<u64> {
    Ok(
        sqlx::query("DELETE FROM catalog_import_jobs WHERE started_at < $1")
            .bind(before)
            .execute(store.writer())
            .await?
            .rows_affected(),
    )
}

/// Lets the transaction's commit return before its record reaches the disk (PostgreSQL
/// `SET LOCAL synchronous_commit = off`; nothing on SQLite): for counts that may lose their last
/// fraction of a second in a crash without harm — the shared rate windows, counted on every
/// request, which would otherwise wait for an fsync each.
pub async fn commit_without_waiting_for_disk(tx: &mut super::Tx) -> AppResult<()> {
    if tx.backend_name() == "PostgreSQL" {
        sqlx::query("SET LOCAL synchronous_commit = off")
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// PostgreSQL `NOTIFY channel, payload` (delivered to every listening session, this one's
/// included, when the statement commits); nothing on SQLite (one instance only).
pub async fn notify(store: &Store, channel: &str, payload: &str) -> AppResult<()> {
    if store.dialect() != super::Dialect::Postgres {
        return Ok(());
    }
    // The void result of pg_notify is never handed to the driver (it has no Any type).
    sqlx::query("SELECT CAST(1 AS BIGINT) AS sent FROM (SELECT pg_notify($1, $2)) AS n")
        .bind(channel)
        .bind(payload)
        .fetch_one(store.writer())
        .await?;
    Ok(())
}

/// A PostgreSQL listener on `channels` (its own connection, outside the pools); None on SQLite.
pub async fn listen(
    store: &Store,
    channels: &[&str],
) -> AppResult<Option<sqlx::postgres::PgListener>> {
    if store.dialect() != super::Dialect::Postgres {
        return Ok(None);
    }
    let mut listener = sqlx::postgres::PgListener::connect(store.url()).await?;
    listener.listen_all(channels.iter().copied()).await?;
    Ok(Some(listener))
}

/// The sequences whose every step changes what instances cache (the catalog; prices and
/// promotions): a step announces itself to every instance when its transaction commits.
const CACHED_SEQUENCES: [&str; 2] = ["catalog", "pricing"];

/// Inside the transaction that steps sequence `name`: on PostgreSQL, when the sequence is one of
/// [`CACHED_SEQUENCES`], `NOTIFY retail_cache, name` (delivered at commit, collapsed to one per
/// transaction; `app::cluster` drops the caches). Nothing otherwise.
pub(crate) async fn notify_cached_in_tx(tx: &mut super::Tx, name: &str) -> AppResult<()> {
    if !CACHED_SEQUENCES.contains(&name) || tx.backend_name() != "PostgreSQL" {
        return Ok(());
    }
    sqlx::query(
        "SELECT CAST(1 AS BIGINT) AS sent FROM (SELECT pg_notify('retail_cache', $1)) AS n",
    )
    .bind(name)
    .fetch_one(&mut **tx)
    .await?;
    Ok(())
}
