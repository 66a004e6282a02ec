//! Reading the change feeds (issue 20): a page of a feed's changes after a cursor, each with the
//! changed record as it is now (the same JSON as the record's own read, where there is one).
//!
//! The cursor is opaque to clients: a URL-safe encoding of the feed and the last position read.
//! A page always answers the cursor to continue from (the same one when nothing is new), so a
//! reader keeps it across restarts and polls with it; positions are in commit order (see
//! [`crate::storage::changes`]), so no change is skipped or given twice.

use std::collections::HashMap;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::value::RawValue;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::app::AppState;
use crate::error::{AppError, AppResult};
use crate::storage::changes::{self, Feed};
use crate::storage::{self, from_ms};

/// Changes per page when the reader does not say.
pub const DEFAULT_LIMIT: i64 = 100;

/// The most changes on one page.
pub const MAX_LIMIT: i64 = 1000;

/// What a cursor's text starts with.
const CURSOR_PREFIX: &str = "chg1";

/// One change, with the record as it is now.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ChangeEntry {
    /// Position in commit order (rises along a feed; not consecutive, one sequence serves all
    /// feeds).
    pub seq: i64,
    /// `created`, `updated` or `deleted`.
    pub kind: String,
    /// The changed record's id; for stock `<location>/<sku id>`.
    pub entity_id: String,
    /// When the change was committed (RFC 3339).
    pub committed_at: DateTime<Utc>,
    /// The record as it is now (the body of its own read: `GET /orders/{id}` as its staff see
    /// it, with the signed pickup QR, `GET /members/{id}`, a stock level as in `GET /stock`, a payment as in
    /// `POST /orders/{id}/payments`, a refund as in `GET /orders/{id}/refunds`); null once the
    /// record is gone.
    #[schema(value_type = Object)]
    pub record: Box<RawValue>,
}

/// A page of a feed.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ChangePage {
    /// The feed.
    pub feed: String,
    /// The changes after the cursor, oldest first.
    pub items: Vec<ChangeEntry>,
    /// Pass as `cursor` to continue after this page (the same cursor when the page is empty).
    pub next_cursor: String,
    /// True when the page was full: more changes may follow at once.
    pub has_more: bool,
}

/// A feed's opaque cursor for position `seq`.
pub fn encode_cursor(feed: Feed, seq: i64) -> String {
    URL_SAFE_NO_PAD.encode(format!("{CURSOR_PREFIX}:{}:{seq}", feed.as_str()))
}

/// The position a cursor of `feed` stands for (0, the beginning, without one); 400
/// `bad_cursor` when the text is not a cursor of this feed.
pub fn decode_cursor(feed: Feed, cursor: Option<&str>) -> AppResult<i64> {
    let Some(text) = cursor else {
        return Ok(0);
    };
    let bad = || {
        AppError::bad_request(
            "bad_cursor",
            format!("not a cursor of the {feed} feed: pass a next_cursor it answered"),
        )
    };
    if text.len() > 200 {
        return Err(bad());
    }
    let bytes = URL_SAFE_NO_PAD.decode(text).map_err(|_| bad())?;
    let decoded = String::from_utf8(bytes).map_err(|_| bad())?;
    let mut parts = decoded.splitn(3, ':');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(CURSOR_PREFIX), Some(name), Some(seq)) if name == feed.as_str() => {
            seq.parse::<i64>().ok().filter(|s| *s >= 0).ok_or_else(bad)
        }
        _ => Err(bad()),
    }
}

/// The feed named `name`; 404 when there is none.
pub fn feed_named(name: &str) -> AppResult<Feed> {
    name.parse()
        .map_err(|e: changes::UnknownFeed| AppError::not_found(e.to_string()))
}

/// A page of `feed` after `cursor` (from the beginning without one), at most `limit` changes
/// (default [`DEFAULT_LIMIT`], at most [`MAX_LIMIT`]).
pub async fn read(
    state: &AppState,
    feed: Feed,
    cursor: Option<&str>,
    limit: Option<i64>,
) -> AppResult<ChangePage> {
    let after = decode_cursor(feed, cursor)?;
    // Changes up to `pruned` are gone: a reader that had not passed them has missed some and
    // must start again; one without a cursor starts at the oldest change kept.
    let pruned = changes::pruned_through(&state.store, feed).await?;
    let after = match cursor {
        None => after.max(pruned),
        Some(_) if after < pruned => {
            return Err(AppError::conflict(
                "cursor_expired",
                format!(
                    "the {feed} feed's changes up to {pruned} were pruned after \
                     changes.retention_days, and this cursor had not passed them: read the \
                     records again in full, then follow the feed from its beginning (no cursor)"
                ),
            ))
        }
        Some(_) => after,
    };
    let limit = match limit {
        None => DEFAULT_LIMIT,
        Some(n) if (1..=MAX_LIMIT).contains(&n) => n,
        Some(_) => {
            return Err(AppError::field(
                "limit",
                format!("between 1 and {MAX_LIMIT}"),
            ))
        }
    };
    let found = changes::page(&state.store, feed, after, limit).await?;
    let records = records(state, feed, found.iter().map(|c| c.entity_key.as_str())).await?;
    let last = found.last().map(|c| c.seq).unwrap_or(after);
    let has_more = found.len() as i64 == limit;
    let items = found
        .into_iter()
        .map(|change| ChangeEntry {
            record: records
                .get(&change.entity_key)
                .cloned()
                .unwrap_or_else(null_record),
            seq: change.seq,
            kind: change.kind,
            entity_id: change.entity_key,
            committed_at: from_ms(change.committed_at),
        })
        .collect();
    Ok(ChangePage {
        feed: feed.as_str().to_owned(),
        items,
        next_cursor: encode_cursor(feed, last),
        has_more,
    })
}

/// An order as the orders feed gives it: its staff read with the signed pickup QR.
#[derive(Serialize)]
struct OrderRecord<'a> {
    #[serde(flatten)]
    order: &'a storage::orders::OrderView,
    pickup_qr: Option<String>,
}

/// The current records of the changed entities of `feed`, by key (each read once), as JSON
/// text ready to be written into a page or a delivery; a record that is gone is left out.
pub(crate) async fn records<'a>(
    state: &AppState,
    feed: Feed,
    keys: impl Iterator<Item = &'a str>,
) -> AppResult<HashMap<String, Box<RawValue>>> {
    let mut keys: Vec<&str> = keys.collect();
    keys.sort_unstable();
    keys.dedup();
    let store = &state.store;
    let mut out = HashMap::with_capacity(keys.len());
    match feed {
        Feed::Orders => {
            let ids: Vec<Uuid> = keys.iter().filter_map(|k| k.parse().ok()).collect();
            for (id, order) in storage::orders::get_many(store, &ids).await? {
                let record = OrderRecord {
                    pickup_qr: super::orders::pickup_qr(&state.keys, &order),
                    order: &order,
                };
                out.insert(id.to_string(), to_json(&record)?);
            }
        }
        Feed::Stock => {
            let pairs: Vec<(String, Uuid)> = keys
                .iter()
                .filter_map(|k| {
                    let (location, sku) = k.rsplit_once('/')?;
                    Some((location.to_owned(), sku.parse().ok()?))
                })
                .collect();
            for level in storage::stock::levels_of(store, &pairs).await? {
                out.insert(
                    format!("{}/{}", level.location_id, level.sku_id),
                    to_json(&level)?,
                );
            }
        }
        Feed::Members => {
            let ids: Vec<Uuid> = keys.iter().filter_map(|k| k.parse().ok()).collect();
            for member in
                storage::members::find_many(store, &state.keys, &state.settings.points, &ids)
                    .await?
            {
                out.insert(member.id.to_string(), to_json(&member)?);
            }
        }
        Feed::Payments => {
            let ids: Vec<Uuid> = keys.iter().filter_map(|k| k.parse().ok()).collect();
            for payment in storage::payments::find_many(store, &ids).await? {
                out.insert(payment.id.to_string(), to_json(&payment)?);
            }
        }
        Feed::Refunds => {
            let ids: Vec<Uuid> = keys.iter().filter_map(|k| k.parse().ok()).collect();
            for refund in storage::refunds::get_many(store, &ids).await? {
                out.insert(refund.id.to_string(), to_json(&refund)?);
            }
        }
    }
    Ok(out)
}

fn to_json<T: Serialize>(value: &T) -> AppResult<Box<RawValue>> {
    serde_json::value::to_raw_value(value).map_err(|e| AppError::Internal(e.into()))
}

/// The record of an entity that is gone: `null`.
pub(crate) fn null_record() -> Box<RawValue> {
    RawValue::NULL.to_owned()
}

/// Changes deleted per statement by [`prune`].
const PRUNE_BATCH: i64 = 10_000;

/// Deletes the changes past `changes.retention_days` that no active webhook endpoint still has
/// to turn into deliveries (a disabled endpoint holds nothing: enabling it again after its
/// backlog was pruned is refused, see [`crate::app::webhooks::set_active`]). Answers how many
/// were deleted. Run hourly by the sweeper under a job lease.
pub async fn prune(state: &AppState) -> AppResult<u64> {
    let days = state.settings.changes.retention_days;
    if days == 0 {
        return Ok(0);
    }
    let before = storage::now_ms() - i64::from(days) * 86_400_000;
    let mut deleted = 0;
    for feed in Feed::ALL {
        loop {
            let n = changes::prune(&state.store, feed, before, PRUNE_BATCH).await?;
            deleted += n;
            if n == 0 {
                break;
            }
        }
    }
    Ok(deleted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trips_and_refuses_others() {
        let c = encode_cursor(Feed::Orders, 42);
        assert_eq!(decode_cursor(Feed::Orders, Some(&c)).ok(), Some(42));
        assert!(decode_cursor(Feed::Stock, Some(&c)).is_err());
        assert!(decode_cursor(Feed::Orders, Some("nonsense!")).is_err());
        assert_eq!(decode_cursor(Feed::Orders, None).ok(), Some(0));
    }
}
