//! Webhook endpoints and their deliveries (issue 20), on top of the change feeds
//! ([`super::changes`]).
//!
//! Each active endpoint turns the changes of its feeds into deliveries from its own cursor
//! ([`fan_out`]: under the endpoint's row lock, so one instance does it at a time and each change
//! becomes one delivery); due deliveries are claimed with row locks (`FOR UPDATE SKIP LOCKED` on
//! PostgreSQL; SQLite has one writer) and leased while they are sent ([`claim_due`]), never one
//! whose entity has an earlier delivery still pending (order per entity); the outcomes are
//! written in one transaction ([`record_outcomes`]), which also disables an endpoint that keeps
//! failing. See docs/CONTRACTS.md, "Webhooks".

use serde::Serialize;
use sqlx::any::AnyRow;
use utoipa::ToSchema;
use uuid::Uuid;

use super::changes::Feed;
use super::{audit, col, from_ms, now_ms, uuid_col, Dialect, Store};
use crate::error::{AppError, AppResult};

/// A registered endpoint (never its secret).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Endpoint {
    /// Id.
    pub id: Uuid,
    /// Where deliveries are POSTed.
    pub url: String,
    /// The feeds it receives.
    #[schema(value_type = Vec<String>)]
    pub events: Vec<Feed>,
    /// A note for people.
    pub description: String,
    /// `active` or `disabled`.
    pub status: String,
    /// Why it is disabled: `persistent_failure` or `by <staff>`.
    pub disabled_reason: Option<String>,
    /// Failed attempts in a row since the last success.
    pub failures: i64,
    /// Deliveries not yet delivered nor failed.
    pub pending: i64,
    /// The last change turned into deliveries.
    pub cursor: i64,
    /// When it was registered (RFC 3339).
    pub created_at: chrono::DateTime<chrono::Utc>,
}

/// An endpoint to register.
#[derive(Debug, Clone)]
pub struct NewEndpoint<'a> {
    /// The client's id (a retry with the same id answers the first registration).
    pub id: Uuid,
    /// The receiver's URL.
    pub url: &'a str,
    /// The feeds.
    pub events: &'a [Feed],
    /// The HMAC key.
    pub secret: &'a str,
    /// A note.
    pub description: &'a str,
}

const ENDPOINT_SELECT: &str = "SELECT e.id, e.url, e.events, e.description, e.status, \
     e.disabled_reason, e.failures, e.cursor, e.created_at, \
     (SELECT COUNT(*) FROM webhook_deliveries d WHERE d.endpoint_id = e.id AND d.status = 'pending') AS pending \
     FROM webhook_endpoints e";

fn feeds_of(text: &str) -> AppResult<Vec<Feed>> {
    text.split(',')
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse()
                .map_err(|e: super::changes::UnknownFeed| AppError::Internal(e.into()))
        })
        .collect()
}

fn endpoint(row: &AnyRow) -> AppResult<Endpoint> {
    Ok(Endpoint {
        id: uuid_col(row, "id")?,
        url: col(row, "url")?,
        events: feeds_of(&col::<String>(row, "events")?)?,
        description: col(row, "description")?,
        status: col(row, "status")?,
        disabled_reason: col(row, "disabled_reason")?,
        failures: col(row, "failures")?,
        pending: col(row, "pending")?,
        cursor: col(row, "cursor")?,
        created_at: from_ms(col(row, "created_at")?),
    })
}

/// Registers an endpoint whose cursor starts at the newest change (it receives the changes
/// committed from now on); audited. False with the existing endpoint when the id is taken by
/// the same registration (a retry); 409 `id_in_use` when taken by another.
pub async fn create(
    store: &Store,
    new: &NewEndpoint<'_>,
    actor: &str,
) -> AppResult<(Endpoint, bool)> {
    let events = new
        .events
        .iter()
        .map(|f| f.as_str())
        .collect::<Vec<_>>()
        .join(",");
    let mut tx = store.begin().await?;
    let now = now_ms();
    let inserted = sqlx::query(
        "INSERT INTO webhook_endpoints (id, url, events, secret, description, status, cursor, \
         created_by, created_at, updated_at) \
         SELECT $1, $2, $3, $4, $5, 'active', COALESCE(MAX(seq), 0), $6, $7, $7 FROM changes WHERE 1 = 1 \
         ON CONFLICT (id) DO NOTHING",
    )
    .bind(new.id.to_string())
    .bind(new.url)
    .bind(&events)
    .bind(new.secret)
    .bind(new.description)
    .bind(actor)
    .bind(now)
    .execute(&mut *tx)
    .await?
    .rows_affected()
        == 1;
    if inserted {
        audit::record(
            &mut tx,
            actor,
            "webhook_endpoint_created",
            "webhook_endpoint",
            &new.id.to_string(),
            serde_json::json!({ "url": new.url, "events": events }),
        )
        .await?;
    }
    tx.commit().await?;
    let found = get(store, new.id)
        .await?
        .ok_or_else(|| AppError::not_found("webhook endpoint"))?;
    if !inserted && (found.url != new.url || found.events != new.events) {
        return Err(AppError::conflict(
            "id_in_use",
            "this id belongs to another webhook endpoint",
        ));
    }
    Ok((found, inserted))
}

/// One endpoint.
pub async fn get(store: &Store, id: Uuid) -> AppResult<Option<Endpoint>> {
    sqlx::query(&format!("{ENDPOINT_SELECT} WHERE e.id = $1"))
        .bind(id.to_string())
        .fetch_optional(store.writer())
        .await?
        .as_ref()
        .map(endpoint)
        .transpose()
}

/// Every endpoint, newest first.
pub async fn list(store: &Store) -> AppResult<Vec<Endpoint>> {
    sqlx::query(&format!(
        "{ENDPOINT_SELECT} ORDER BY e.created_at DESC, e.id DESC"
    ))
    .fetch_all(store.reader())
    .await?
    .iter()
    .map(endpoint)
    .collect()
}

/// The ids of the active endpoints.
pub async fn active_ids(store: &Store) -> AppResult<Vec<Uuid>> {
    sqlx::query("SELECT id FROM webhook_endpoints WHERE status = 'active'")
        .fetch_all(store.reader())
        .await?
        .iter()
        .map(|row| uuid_col(row, "id"))
        .collect()
}

/// Enables (clearing the failure count) or disables an endpoint; audited. False when there is
/// no such endpoint.
pub async fn set_active(
    store: &Store,
    id: Uuid,
    active: bool,
    actor: &str,
) -> AppResult<Activation> {
    let mut tx = store.begin().await?;
    if active {
        // Under the counter locks of its feeds (in feed order, as pruning takes them one at a
        // time): a prune running now finishes first and is seen, or waits and holds back.
        let Some(endpoint) = get_in(&mut tx, store, id).await? else {
            return Ok(Activation::Missing);
        };
        if endpoint.status != "active" {
            let mut feeds = endpoint.events.clone();
            feeds.sort_by_key(|f| f.as_str());
            for feed in feeds {
                let pruned = super::changes::lock_pruned(&mut tx, store, feed).await?;
                if endpoint.cursor < pruned {
                    return Ok(Activation::BacklogPruned(feed));
                }
            }
        }
    }
    let done = sqlx::query(
        "UPDATE webhook_endpoints SET status = $2, disabled_reason = $3, failures = 0, \
         failing_since = NULL, updated_at = $4 WHERE id = $1",
    )
    .bind(id.to_string())
    .bind(if active { "active" } else { "disabled" })
    .bind((!active).then(|| format!("by {actor}")))
    .bind(now_ms())
    .execute(&mut *tx)
    .await?
    .rows_affected()
        == 1;
    if done {
        audit::record(
            &mut tx,
            actor,
            if active {
                "webhook_endpoint_enabled"
            } else {
                "webhook_endpoint_disabled"
            },
            "webhook_endpoint",
            &id.to_string(),
            serde_json::json!({}),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(if done {
        Activation::Done
    } else {
        Activation::Missing
    })
}

/// What enabling or disabling an endpoint came to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Activation {
    /// Changed (or already so).
    Done,
    /// No such endpoint.
    Missing,
    /// Not enabled: changes of this feed it had not received were pruned meanwhile.
    BacklogPruned(Feed),
}

/// One endpoint inside a transaction, its row locked until the transaction ends (PostgreSQL).
async fn get_in(tx: &mut super::Tx, store: &Store, id: Uuid) -> AppResult<Option<Endpoint>> {
    sqlx::query(&format!(
        "{ENDPOINT_SELECT} WHERE e.id = $1{}",
        store.for_update()
    ))
    .bind(id.to_string())
    .fetch_optional(&mut **tx)
    .await?
    .as_ref()
    .map(endpoint)
    .transpose()
}

/// How far the active endpoints of `feed` have turned its changes into deliveries: the lowest
/// cursor among them (`None` when no active endpoint takes the feed). Changes at or below it are
/// no longer needed by any of them.
pub async fn active_cursor_floor(tx: &mut super::Tx, feed: Feed) -> AppResult<Option<i64>> {
    let rows = sqlx::query("SELECT cursor, events FROM webhook_endpoints WHERE status = 'active'")
        .fetch_all(&mut **tx)
        .await?;
    let mut floor: Option<i64> = None;
    for row in &rows {
        if feeds_of(&col::<String>(row, "events")?)?.contains(&feed) {
            let cursor: i64 = col(row, "cursor")?;
            floor = Some(floor.map_or(cursor, |f| f.min(cursor)));
        }
    }
    Ok(floor)
}

/// ` FOR UPDATE SKIP LOCKED` on PostgreSQL, nothing on SQLite.
fn skip_locked(store: &Store, of: &str) -> String {
    match store.dialect() {
        Dialect::Sqlite => String::new(),
        Dialect::Postgres => format!(" FOR UPDATE{of} SKIP LOCKED"),
    }
}

/// Turns up to `limit` new changes of an active endpoint's feeds into pending deliveries due
/// now (retried until `retry_ms` from now) and moves its cursor past them, in one transaction
/// under the endpoint's row lock (another instance doing it meanwhile is skipped). Answers how
/// many deliveries were made.
pub async fn fan_out(store: &Store, id: Uuid, limit: i64, retry_ms: i64) -> AppResult<usize> {
    let mut tx = store.begin().await?;
    let Some(row) = sqlx::query(&format!(
        "SELECT cursor, events FROM webhook_endpoints WHERE id = $1 AND status = 'active'{}",
        skip_locked(store, "")
    ))
    .bind(id.to_string())
    .fetch_optional(&mut *tx)
    .await?
    else {
        return Ok(0);
    };
    let cursor: i64 = col(&row, "cursor")?;
    let feeds = feeds_of(&col::<String>(&row, "events")?)?;
    if feeds.is_empty() {
        return Ok(0);
    }
    // The feed names are this crate's constants, never input.
    let names = feeds
        .iter()
        .map(|f| format!("'{}'", f.as_str()))
        .collect::<Vec<_>>()
        .join(", ");
    let changes = sqlx::query(&format!(
        "SELECT seq, feed, entity_key, kind FROM changes WHERE seq > $1 AND feed IN ({names}) \
         ORDER BY seq LIMIT $2"
    ))
    .bind(cursor)
    .bind(limit)
    .fetch_all(&mut *tx)
    .await?;
    let Some(last) = changes.last() else {
        return Ok(0);
    };
    let last: i64 = col(last, "seq")?;
    let now = now_ms();
    struct Row {
        id: String,
        seq: i64,
        feed: String,
        entity_key: String,
        kind: String,
    }
    let rows = changes
        .iter()
        .map(|c| {
            Ok(Row {
                id: Uuid::now_v7().to_string(),
                seq: col(c, "seq")?,
                feed: col(c, "feed")?,
                entity_key: col(c, "entity_key")?,
                kind: col(c, "kind")?,
            })
        })
        .collect::<AppResult<Vec<_>>>()?;
    let endpoint = id.to_string();
    super::upsert_rows(
        &mut tx,
        "webhook_deliveries",
        &[
            "id",
            "endpoint_id",
            "seq",
            "feed",
            "entity_key",
            "kind",
            "status",
            "due_at",
            "retry_until",
            "created_at",
        ],
        &rows,
        "ON CONFLICT (endpoint_id, seq) DO NOTHING",
        |q, r| {
            q.bind(r.id.as_str())
                .bind(endpoint.clone())
                .bind(r.seq)
                .bind(r.feed.as_str())
                .bind(r.entity_key.as_str())
                .bind(r.kind.as_str())
                .bind("pending")
                .bind(now)
                .bind(now + retry_ms)
                .bind(now)
        },
    )
    .await?;
    sqlx::query("UPDATE webhook_endpoints SET cursor = $2 WHERE id = $1")
        .bind(id.to_string())
        .bind(last)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(rows.len())
}

/// A delivery claimed for sending.
#[derive(Debug, Clone)]
pub struct Claimed {
    /// The delivery id.
    pub id: Uuid,
    /// The change's position.
    pub seq: i64,
    /// Its feed.
    pub feed: Feed,
    /// The changed record's key.
    pub entity_key: String,
    /// `created`, `updated`, `deleted`.
    pub kind: String,
    /// When the change was committed (Unix ms).
    pub committed_at: i64,
    /// Attempts including this one.
    pub attempts: i64,
    /// Until when it is retried (Unix ms).
    pub retry_until: i64,
}

/// Claims up to `limit` due deliveries of an active endpoint, oldest first, leasing them for
/// `lease_ms` (another claim skips them until then) and counting the attempt. A delivery whose
/// entity has an earlier pending delivery of the endpoint is not due (order per entity), so a
/// claim holds at most one delivery per entity.
pub async fn claim_due(
    store: &Store,
    endpoint: Uuid,
    limit: i64,
    lease_ms: i64,
) -> AppResult<Vec<Claimed>> {
    let now = now_ms();
    let mut tx = store.begin().await?;
    let rows = sqlx::query(&format!(
        "SELECT d.id, d.seq, d.feed, d.entity_key, d.kind, d.attempts, d.retry_until, c.committed_at \
         FROM webhook_deliveries d JOIN changes c ON c.seq = d.seq \
         WHERE d.endpoint_id = $1 AND d.status = 'pending' AND d.due_at <= $2 \
         AND NOT EXISTS (SELECT 1 FROM webhook_deliveries p WHERE p.endpoint_id = d.endpoint_id \
             AND p.entity_key = d.entity_key AND p.feed = d.feed AND p.status = 'pending' AND p.seq < d.seq) \
         ORDER BY d.seq LIMIT $3{}",
        skip_locked(store, " OF d")
    ))
    .bind(endpoint.to_string())
    .bind(now)
    .bind(limit)
    .fetch_all(&mut *tx)
    .await?;
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let mut claimed = Vec::with_capacity(rows.len());
    for row in &rows {
        claimed.push(Claimed {
            id: uuid_col(row, "id")?,
            seq: col(row, "seq")?,
            feed: super::parse_col(row, "feed")?,
            entity_key: col(row, "entity_key")?,
            kind: col(row, "kind")?,
            committed_at: col(row, "committed_at")?,
            attempts: col::<i64>(row, "attempts")? + 1,
            retry_until: col(row, "retry_until")?,
        });
    }
    let ids: Vec<String> = claimed.iter().map(|c| c.id.to_string()).collect();
    let (cond, binds) = super::text_in(&tx, "id", 2, &ids);
    let sql =
        format!("UPDATE webhook_deliveries SET due_at = $1, attempts = attempts + 1 WHERE {cond}");
    let mut query = sqlx::query(&sql).bind(now + lease_ms);
    for bind in &binds {
        query = query.bind(bind.as_str());
    }
    query.execute(&mut *tx).await?;
    tx.commit().await?;
    Ok(claimed)
}

/// What became of one attempt.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The delivery.
    pub id: Uuid,
    /// The receiver's HTTP status, when it answered.
    pub http_status: Option<i64>,
    /// Delivered (a 2xx answer).
    pub delivered: bool,
    /// What went wrong.
    pub error: Option<String>,
    /// When to try again; `None` with `delivered` false: give up (failed).
    pub retry_at: Option<i64>,
}

/// When an endpoint is disabled for failing.
#[derive(Debug, Clone, Copy)]
pub struct DisableRule {
    /// Failed attempts in a row, at least.
    pub failures: i64,
    /// For at least this long since the first of them (ms).
    pub failing_ms: i64,
}

/// Writes the outcomes of an endpoint's attempts in one transaction, and its failure streak: a
/// success clears it; when the streak reaches `rule` the endpoint is disabled
/// (`persistent_failure`). Answers true when this disabled it.
pub async fn record_outcomes(
    store: &Store,
    endpoint: Uuid,
    outcomes: &[Outcome],
    rule: DisableRule,
) -> AppResult<bool> {
    if outcomes.is_empty() {
        return Ok(false);
    }
    let now = now_ms();
    let mut tx = store.begin().await?;
    for o in outcomes {
        let (status, due) = match (o.delivered, o.retry_at) {
            (true, _) => ("delivered", now),
            (false, Some(at)) => ("pending", at),
            (false, None) => ("failed", now),
        };
        sqlx::query(
            "UPDATE webhook_deliveries SET status = $2, due_at = $3, last_status = $4, \
             last_error = $5, delivered_at = $6 WHERE id = $1 AND status = 'pending'",
        )
        .bind(o.id.to_string())
        .bind(status)
        .bind(due)
        .bind(o.http_status)
        .bind(o.error.as_deref())
        .bind(o.delivered.then_some(now))
        .execute(&mut *tx)
        .await?;
    }
    let failed = outcomes.iter().filter(|o| !o.delivered).count() as i64;
    let any_success = outcomes.iter().any(|o| o.delivered);
    let mut disabled = false;
    if any_success && failed == 0 {
        sqlx::query(
            "UPDATE webhook_endpoints SET failures = 0, failing_since = NULL WHERE id = $1 AND failures > 0",
        )
        .bind(endpoint.to_string())
        .execute(&mut *tx)
        .await?;
    } else if failed > 0 {
        let reset = any_success;
        let row = sqlx::query(
            "UPDATE webhook_endpoints SET \
             failures = CASE WHEN $3 = 1 THEN $2 ELSE failures + $2 END, \
             failing_since = CASE WHEN $3 = 1 OR failing_since IS NULL THEN $4 ELSE failing_since END \
             WHERE id = $1 RETURNING failures, failing_since, status",
        )
        .bind(endpoint.to_string())
        .bind(failed)
        .bind(i64::from(reset))
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(row) = row {
            let failures: i64 = col(&row, "failures")?;
            let since: i64 = col(&row, "failing_since")?;
            let status: String = col(&row, "status")?;
            if status == "active" && failures >= rule.failures && now - since >= rule.failing_ms {
                sqlx::query(
                    "UPDATE webhook_endpoints SET status = 'disabled', \
                     disabled_reason = 'persistent_failure', updated_at = $2 WHERE id = $1",
                )
                .bind(endpoint.to_string())
                .bind(now)
                .execute(&mut *tx)
                .await?;
                audit::record(
                    &mut tx,
                    "system",
                    "webhook_endpoint_disabled",
                    "webhook_endpoint",
                    &endpoint.to_string(),
                    serde_json::json!({ "reason": "persistent_failure", "failures": failures }),
                )
                .await?;
                disabled = true;
            }
        }
    }
    tx.commit().await?;
    Ok(disabled)
}

/// One delivery in the log.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Delivery {
    /// The delivery id (`X-Retail-Delivery`).
    pub id: Uuid,
    /// The endpoint.
    pub endpoint_id: Uuid,
    /// The change's position.
    pub seq: i64,
    /// The event type, `<feed>.<kind>`.
    pub event: String,
    /// The changed record's id.
    pub entity_id: String,
    /// `pending`, `delivered` or `failed`.
    pub status: String,
    /// Attempts made.
    pub attempts: i64,
    /// The receiver's last HTTP status.
    pub last_status: Option<i64>,
    /// The last error.
    pub last_error: Option<String>,
    /// When the next attempt may start (pending).
    pub due_at: chrono::DateTime<chrono::Utc>,
    /// When it was made (RFC 3339).
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// When it was delivered.
    pub delivered_at: Option<chrono::DateTime<chrono::Utc>>,
}

const DELIVERY_SELECT: &str = "SELECT id, endpoint_id, seq, feed, kind, entity_key, status, \
     attempts, last_status, last_error, due_at, created_at, delivered_at FROM webhook_deliveries";

fn delivery(row: &AnyRow) -> AppResult<Delivery> {
    Ok(Delivery {
        id: uuid_col(row, "id")?,
        endpoint_id: uuid_col(row, "endpoint_id")?,
        seq: col(row, "seq")?,
        event: format!(
            "{}.{}",
            col::<String>(row, "feed")?,
            col::<String>(row, "kind")?
        ),
        entity_id: col(row, "entity_key")?,
        status: col(row, "status")?,
        attempts: col(row, "attempts")?,
        last_status: col(row, "last_status")?,
        last_error: col(row, "last_error")?,
        due_at: from_ms(col(row, "due_at")?),
        created_at: from_ms(col(row, "created_at")?),
        delivered_at: col::<Option<i64>>(row, "delivered_at")?.map(from_ms),
    })
}

/// An endpoint's deliveries, newest change first, those before change `before` (all without).
pub async fn deliveries(
    store: &Store,
    endpoint: Uuid,
    before: Option<i64>,
    limit: i64,
) -> AppResult<Vec<Delivery>> {
    sqlx::query(&format!(
        "{DELIVERY_SELECT} WHERE endpoint_id = $1 AND ($2 IS NULL OR seq < $2) ORDER BY seq DESC LIMIT $3"
    ))
    .bind(endpoint.to_string())
    .bind(before)
    .bind(limit)
    .fetch_all(store.reader())
    .await?
    .iter()
    .map(delivery)
    .collect()
}

/// One delivery.
pub async fn delivery_by_id(store: &Store, id: Uuid) -> AppResult<Option<Delivery>> {
    sqlx::query(&format!("{DELIVERY_SELECT} WHERE id = $1"))
        .bind(id.to_string())
        .fetch_optional(store.writer())
        .await?
        .as_ref()
        .map(delivery)
        .transpose()
}

/// Sends a delivery again (same delivery id): pending and due now, retried for `retry_ms`
/// more; audited. None when there is no such delivery.
pub async fn replay(
    store: &Store,
    id: Uuid,
    retry_ms: i64,
    actor: &str,
) -> AppResult<Option<Delivery>> {
    let now = now_ms();
    let mut tx = store.begin().await?;
    let done = sqlx::query(
        "UPDATE webhook_deliveries SET status = 'pending', due_at = $2, retry_until = $3 \
         WHERE id = $1",
    )
    .bind(id.to_string())
    .bind(now)
    .bind(now + retry_ms)
    .execute(&mut *tx)
    .await?
    .rows_affected()
        == 1;
    if done {
        audit::record(
            &mut tx,
            actor,
            "webhook_delivery_replayed",
            "webhook_delivery",
            &id.to_string(),
            serde_json::json!({}),
        )
        .await?;
    }
    tx.commit().await?;
    if !done {
        return Ok(None);
    }
    delivery_by_id(store, id).await
}

/// The HMAC key of an endpoint.
pub async fn secret(store: &Store, id: Uuid) -> AppResult<Option<(String, String)>> {
    let row = sqlx::query("SELECT url, secret FROM webhook_endpoints WHERE id = $1")
        .bind(id.to_string())
        .fetch_optional(store.reader())
        .await?;
    row.map(|r| Ok((col(&r, "url")?, col(&r, "secret")?)))
        .transpose()
}
