//! Tracked events (埋点, issue 19): the raw events of the shop's pages and of the server in one
//! table, deduplicated by event id, and the daily counts per event name and channel kept in the
//! same transaction as the events they count (the console reads only those). The schema is
//! `docs/EVENTS.md`; what an event may hold is checked by [`crate::app::events`].

use std::collections::BTreeMap;

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

/// Stores `events` in one transaction, each once by its event id (a resend changes nothing),
/// and adds the stored ones to the daily counts (by their `day`) in the same
/// transaction. The member is kept only when they have not opted out of personalisation.
pub async fn insert(store: &Store, events: &[NewEvent]) -> AppResult<Inserted> {
    let mut done = Inserted::default();
    if events.is_empty() {
        return Ok(done);
    }
    let now = now_ms();
    let mut counts: BTreeMap<(i64, &str, &str), i64> = BTreeMap::new();
    let mut tx = store.begin().await?;
    let mut stored_now: Vec<&NewEvent> = Vec::new();
    for e in events {
        let stored = sqlx::query(
            "INSERT INTO events (event_id, name, source, schema_version, occurred_at, received_at, \
             device_id, member_id, store_id, channel, page, props) VALUES ($1, $2, $3, $4, $5, $6, $7, \
             (SELECT m.id FROM members m WHERE m.personalisation_opt_out = 0 AND m.id = \
              COALESCE($8, (SELECT o.member_id FROM orders o WHERE o.id = $9))), \
             COALESCE($10, (SELECT o.location_id FROM orders o WHERE o.id = $9)), $11, $12, $13) \
             ON CONFLICT (event_id) DO NOTHING",
        )
        .bind(&e.event_id)
        .bind(&e.name)
        .bind(e.source)
        .bind(e.schema_version)
        .bind(e.occurred_at)
        .bind(now)
        .bind(e.device_id.as_deref())
        .bind(e.member_id.map(|m| m.to_string()))
        .bind(e.order_id.map(|o| o.to_string()))
        .bind(e.store_id.as_deref())
        .bind(&e.channel)
        .bind(e.page.as_deref())
        .bind(&e.props)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if stored == 1 {
            stored_now.push(e);
            done.stored += 1;
            *counts
                .entry((e.day, e.name.as_str(), e.channel.as_str()))
                .or_insert(0) += 1;
        } else {
            done.duplicates += 1;
        }
    }
    for ((day, name, channel), n) in counts {
        sqlx::query(
            "INSERT INTO event_days (day, name, channel, events) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (day, name, channel) DO UPDATE SET events = event_days.events + excluded.events",
        )
        .bind(day)
        .bind(name)
        .bind(channel)
        .bind(n)
        .execute(&mut *tx)
        .await?;
    }
    super::growth::count(&mut tx, &stored_now).await?;
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

/// Deletes up to `limit` raw events received before `before_ms` (the daily counts stay);
/// answers how many.
pub async fn delete_received_before(store: &Store, before_ms: i64, limit: i64) -> AppResult<u64> {
    Ok(sqlx::query(
        "DELETE FROM events WHERE event_id IN \
         (SELECT event_id FROM events WHERE received_at < $1 LIMIT $2)",
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
