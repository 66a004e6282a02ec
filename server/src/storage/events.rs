//! Tracked events (埋点, issue 19): the raw events of the shop's pages and of the server in one
//! table, deduplicated by event id, and the daily counts per event name and channel kept in the
//! same transaction as the events they count (the console reads only those). The schema is
//! `docs/EVENTS.md`; what an event may hold is checked by [`crate::app::events`].

use std::collections::{BTreeMap, HashSet};

use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{col, now_ms, Store};
use crate::error::AppResult;

/// An event to store.
#[derive(Clone, Debug)]
pub struct NewEvent {
    /// The client's UUID, or the server's `<name>:<subject>` key.
    pub event_id: String,
    /// The event's name (`docs/EVENTS.md`).
    pub name: String,
    /// `client` or `server`.
    pub source: &'static str,
    /// The schema version the event follows.
    pub schema_version: i64,
    /// When it happened (Unix ms).
    pub occurred_at: i64,
    /// The China day (UTC+8) of `occurred_at`, which the daily counts go by.
    pub day: i64,
    /// The anonymous device id (client events).
    pub device_id: Option<String>,
    /// The member, when known; stored only when the member has not opted out of
    /// personalisation (checked in the insert itself).
    pub member_id: Option<Uuid>,
    /// The store (location code), when there is one.
    pub store_id: Option<String>,
    /// The channel (`online`, `scan_and_go`, `pos`).
    pub channel: String,
    /// The page's path (client events).
    pub page: Option<String>,
    /// The event's own properties, a JSON object.
    pub props: String,
    /// The order the event is about: its member and store fill in what is not given.
    pub order_id: Option<Uuid>,
}

/// What a batch insert did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Inserted {
    /// Events stored now.
    pub stored: usize,
    /// Events stored before (same event id): nothing changed.
    pub duplicates: usize,
}

/// Most events in one `INSERT` statement ([`PARAMS_PER_EVENT`] parameters each, well under SQLite's and
/// PostgreSQL's limits on bound parameters).
const ROWS_PER_STATEMENT: usize = 250;

/// Bound parameters per event row of the `INSERT`.
const PARAMS_PER_EVENT: usize = 14;

/// Stores `events` in one transaction, each once by its event id (a resend changes nothing),
/// and adds the stored ones to the daily counts (by their `day`) in the same
/// transaction. The member is kept only when they have not opted out of personalisation.
/// When an id comes twice in `events`, the first is the one stored.
pub async fn insert(store: &Store, events: &[NewEvent]) -> AppResult<Inserted> {
    Ok(insert_batches(store, &[events])
        .await?
        .pop()
        .unwrap_or_default())
}

/// The multi-row `INSERT` of `rows` events: with `looked_up`, each row's member (only when they
/// have not opted out of personalisation) and store come from the event's member and order by
/// sub-selects ([`PARAMS_PER_EVENT`] parameters a row); without, the row has no member and its
/// own store (11 parameters). Placeholders by [`super::bulk_marks`].
fn insert_sql(rows: usize, looked_up: bool, sqlite: bool) -> String {
    let per_row = if looked_up { PARAMS_PER_EVENT } else { 11 };
    let mut sql = String::with_capacity(200 + rows * 300);
    sql.push_str(
        "INSERT INTO events (event_id, name, source, schema_version, occurred_at, received_at, \
         device_id, member_id, store_id, channel, page, props) VALUES ",
    );
    for i in 0..rows {
        let p = super::bulk_marks(sqlite, 1 + i * per_row, per_row);
        if i > 0 {
            sql.push_str(", ");
        }
        let head = p[..7].join(", ");
        let tail = p[per_row - 3..].join(", ");
        if looked_up {
            sql.push_str(&format!(
                "({head}, \
                 (SELECT m.id FROM members m WHERE m.personalisation_opt_out = 0 AND m.id = \
                  COALESCE({}, (SELECT o.member_id FROM orders o WHERE o.id = {}))), \
                 COALESCE({}, (SELECT o.location_id FROM orders o WHERE o.id = {})), {tail})",
                p[7], p[8], p[9], p[10],
            ));
        } else {
            sql.push_str(&format!("({head}, NULL, {}, {tail})", p[7]));
        }
    }
    sql.push_str(" ON CONFLICT (event_id) DO NOTHING RETURNING event_id");
    sql
}

/// Stores several batches of events in one transaction (one durable commit for all of them:
/// the event writer's group commit, `app::event_intake`), as [`insert`] would store them one
/// after another: each event once by its id, the first of an id stored (in batch order, then
/// event order) and the others counted as duplicates of the batch they came in. Answers what
/// was done for each batch, in order.
///
/// One multi-row `INSERT … ON CONFLICT DO NOTHING RETURNING event_id` per
/// [`ROWS_PER_STATEMENT`] events and one upsert of the counts, so a group costs a few round
/// trips whatever its size.
pub async fn insert_batches(store: &Store, batches: &[&[NewEvent]]) -> AppResult<Vec<Inserted>> {
    let mut done = vec![Inserted::default(); batches.len()];
    let events: Vec<&NewEvent> = batches.iter().flat_map(|b| b.iter()).collect();
    if events.is_empty() {
        return Ok(done);
    }
    let now = now_ms();
    let mut tx = store.begin().await?;
    let mut stored_ids: HashSet<String> = HashSet::with_capacity(events.len());
    // Most tracked events name neither a member nor an order: their rows need none of the
    // look-ups (each a sub-select SQLite runs per row), so they go in statements of their own.
    let (plain, linked): (Vec<&NewEvent>, Vec<&NewEvent>) = events
        .iter()
        .partition(|e| e.member_id.is_none() && e.order_id.is_none());
    let sqlite = store.dialect() == super::Dialect::Sqlite;
    for (rows, looked_up) in [(plain, false), (linked, true)] {
        let mut rest = rows.as_slice();
        while !rest.is_empty() {
            // Chunks of power-of-two sizes: few statement shapes, each prepared once.
            let size = super::prev_power_of_two(rest.len()).min(ROWS_PER_STATEMENT);
            let (chunk, tail) = rest.split_at(size);
            rest = tail;
            let sql = insert_sql(chunk.len(), looked_up, sqlite);
            let mut query = sqlx::query(&sql);
            for e in chunk {
                let order = e.order_id.map(|o| o.to_string());
                query = query
                    .bind(&e.event_id)
                    .bind(&e.name)
                    .bind(e.source)
                    .bind(e.schema_version)
                    .bind(e.occurred_at)
                    .bind(now)
                    .bind(e.device_id.as_deref());
                query = if looked_up {
                    query
                        .bind(e.member_id.map(|m| m.to_string()))
                        .bind(order.clone())
                        .bind(e.store_id.as_deref())
                        .bind(order)
                } else {
                    query.bind(e.store_id.as_deref())
                };
                query = query
                    .bind(&e.channel)
                    .bind(e.page.as_deref())
                    .bind(&e.props);
            }
            for row in query.fetch_all(&mut *tx).await? {
                stored_ids.insert(col::<String>(&row, "event_id")?);
            }
        }
    }
    // The events stored now, in batch order: the first of each id that came back.
    let mut stored: Vec<&NewEvent> = Vec::with_capacity(stored_ids.len());
    for (batch, outcome) in batches.iter().zip(done.iter_mut()) {
        for e in *batch {
            if stored_ids.remove(&e.event_id) {
                stored.push(e);
                outcome.stored += 1;
            } else {
                outcome.duplicates += 1;
            }
        }
    }
    let mut counts: BTreeMap<(i64, &str, &str), i64> = BTreeMap::new();
    for e in &stored {
        *counts
            .entry((e.day, e.name.as_str(), e.channel.as_str()))
            .or_insert(0) += 1;
    }
    let counts: Vec<_> = counts.into_iter().collect();
    for chunk in counts.chunks(ROWS_PER_STATEMENT) {
        let mut sql = String::from("INSERT INTO event_days (day, name, channel, events) VALUES ");
        for i in 0..chunk.len() {
            if i > 0 {
                sql.push_str(", ");
            }
            sql.push_str(&format!(
                "({})",
                super::bulk_marks(sqlite, 1 + i * 4, 4).join(", ")
            ));
        }
        sql.push_str(
            " ON CONFLICT (day, name, channel) DO UPDATE SET events = event_days.events + excluded.events",
        );
        let mut query = sqlx::query(&sql);
        for ((day, name, channel), n) in chunk {
            query = query.bind(*day).bind(*name).bind(*channel).bind(*n);
        }
        query.execute(&mut *tx).await?;
    }
    super::growth::count(&mut tx, &stored).await?;
    tx.commit().await?;
    Ok(done)
}

/// Events of one name on one day in one channel (the daily counts).
#[derive(Clone, Debug, Serialize, ToSchema, PartialEq, Eq)]
pub struct DayCount {
    /// The China day (UTC+8), `YYYY-MM-DD`.
    pub date: String,
    /// The event's name.
    pub name: String,
    /// The channel.
    pub channel: String,
    /// How many events.
    pub events: i64,
}

/// The daily counts from China day `from` to `to` (day numbers, both included), by day, name
/// and channel.
pub async fn day_counts(store: &Store, from: i64, to: i64) -> AppResult<Vec<(i64, DayCount)>> {
    let rows = sqlx::query(
        "SELECT day, name, channel, events FROM event_days WHERE day >= $1 AND day <= $2 \
         ORDER BY day, name, channel",
    )
    .bind(from)
    .bind(to)
    .fetch_all(store.reader())
    .await?;
    rows.iter()
        .map(|r| {
            let day: i64 = col(r, "day")?;
            let date = chrono::NaiveDate::from_num_days_from_ce_opt(
                i32::try_from(day + 719_163).unwrap_or(719_163),
            )
            .map(|d| d.format("%Y-%m-%d").to_string())
            .unwrap_or_default();
            Ok((
                day,
                DayCount {
                    date,
                    name: col(r, "name")?,
                    channel: col(r, "channel")?,
                    events: col(r, "events")?,
                },
            ))
        })
        .collect()
}

/// Deletes up to `limit` raw events that happened before `before_ms` (the daily counts stay),
/// oldest first through `events_by_occurred`; answers how many.
pub async fn delete_occurred_before(store: &Store, before_ms: i64, limit: i64) -> AppResult<u64> {
    Ok(sqlx::query(
        "DELETE FROM events WHERE event_id IN \
         (SELECT event_id FROM events WHERE occurred_at < $1 ORDER BY occurred_at LIMIT $2)",
    )
    .bind(before_ms)
    .bind(limit)
    .execute(store.writer())
    .await?
    .rows_affected())
}

/// Whether `member` opted out of personalisation.
pub async fn opted_out(store: &Store, member: Uuid) -> AppResult<bool> {
    let row = sqlx::query("SELECT personalisation_opt_out FROM members WHERE id = $1")
        .bind(member.to_string())
        .fetch_optional(store.reader())
        .await?;
    Ok(match row {
        Some(r) => col::<i64>(&r, "personalisation_opt_out")? != 0,
        None => false,
    })
}

/// Sets whether `member` opted out of personalisation (their events are stored without their
/// id from now on).
pub async fn set_opt_out(store: &Store, member: Uuid, out: bool) -> AppResult<()> {
    sqlx::query("UPDATE members SET personalisation_opt_out = $1 WHERE id = $2")
        .bind(i64::from(out))
        .bind(member.to_string())
        .execute(store.writer())
        .await?;
    Ok(())
}

/// The latest `limit` events of `member` (their data download): name, time, channel, page and
/// properties, newest first.
pub async fn of_member(
    store: &Store,
    member: Uuid,
    limit: i64,
) -> AppResult<Vec<serde_json::Value>> {
    let rows = sqlx::query(
        "SELECT name, occurred_at, channel, page, props FROM events WHERE member_id = $1 \
         ORDER BY occurred_at DESC LIMIT $2",
    )
    .bind(member.to_string())
    .bind(limit)
    .fetch_all(store.reader())
    .await?;
    rows.iter()
        .map(|r| {
            let props: String = col(r, "props")?;
            Ok(serde_json::json!({
                "name": col::<String>(r, "name")?,
                "occurred_at": super::from_ms(col(r, "occurred_at")?),
                "channel": col::<String>(r, "channel")?,
                "page": col::<Option<String>>(r, "page")?,
                "props": serde_json::from_str::<serde_json::Value>(&props).unwrap_or_default(),
            }))
        })
        .collect()
}
