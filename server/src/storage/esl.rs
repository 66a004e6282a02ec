//! Electronic shelf labels (issue 21): the labels of each store and their SKUs, the durable
//! per-store queue of label updates (folded into the label rows: a label is queued while its
//! `desired_seq` is above its `sent_seq`), the batches sent to the vendor, and how far the
//! markdown scheduler has looked. See `migrations/0056_esl.sql` and `0061_esl_batches.sql`.

use std::collections::HashMap;

use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{col, next_counter, now_ms, placeholders, uuid_col, Store, Tx, MAX_PARAMS};
use crate::error::{AppError, AppResult};

/// A label as the console shows it.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct LabelView {
    /// The store (location code).
    pub store_id: String,
    /// The vendor's label barcode.
    pub label_id: String,
    /// The SKU shown on it.
    pub sku_id: Uuid,
    /// `pending` (an update is queued), `shown` (the vendor accepted the last update) or
    /// `failed` (the last batch was rejected; it is retried).
    pub status: String,
    /// True while an update is queued.
    pub queued: bool,
    /// Why the last update was queued (`price`, `promotion`, `markdown`, `link`, …).
    pub reason: String,
    /// Rejected attempts since the last success.
    pub attempts: i64,
    /// The vendor's last error, if the last attempt failed.
    pub last_error: Option<String>,
    /// The shelf price last accepted by the vendor (JSON of `app::esl::ShelfTag`).
    #[schema(value_type = Option<Object>)]
    pub shown: Option<serde_json::Value>,
    /// When it was accepted (Unix ms).
    pub shown_at: Option<i64>,
    /// When the queued update was queued (Unix ms).
    pub queued_at: Option<i64>,
}

fn label_from_row(row: &sqlx::any::AnyRow) -> AppResult<LabelView> {
    let desired: i64 = col(row, "desired_seq")?;
    let sent: i64 = col(row, "sent_seq")?;
    let shown: Option<String> = col(row, "shown")?;
    Ok(LabelView {
        store_id: col(row, "store_id")?,
        label_id: col(row, "label_id")?,
        sku_id: uuid_col(row, "sku_id")?,
        status: col(row, "status")?,
        queued: desired > sent,
        reason: col(row, "reason")?,
        attempts: col(row, "attempts")?,
        last_error: col(row, "last_error")?,
        shown: shown.and_then(|s| serde_json::from_str(&s).ok()),
        shown_at: col(row, "shown_at")?,
        queued_at: col(row, "queued_at")?,
    })
}

const LABEL_COLUMNS: &str = "store_id, label_id, sku_id, status, desired_seq, sent_seq, reason, \
     attempts, last_error, shown, shown_at, queued_at";

/// One label of a store.
pub async fn label(store: &Store, store_id: &str, label_id: &str) -> AppResult<Option<LabelView>> {
    let row = sqlx::query(&format!(
        "SELECT {LABEL_COLUMNS} FROM esl_labels WHERE store_id = $1 AND label_id = $2"
    ))
    .bind(store_id)
    .bind(label_id)
    .fetch_optional(store.reader())
    .await?;
    row.as_ref().map(label_from_row).transpose()
}

/// Links `label_id` of `store_id` to `sku_id` and queues its first update, in one transaction.
/// A retry with the same `client_id` changes nothing and answers false; relinking a label to
/// another SKU (a new client id) queues it again.
pub async fn link(
    tx: &mut Tx,
    store_id: &str,
    label_id: &str,
    sku_id: Uuid,
    client_id: Uuid,
) -> AppResult<bool> {
    let existing = sqlx::query(&format!(
        "SELECT client_id FROM esl_labels WHERE store_id = $1 AND label_id = $2{}",
        tx_for_update(tx)
    ))
    .bind(store_id)
    .bind(label_id)
    .fetch_optional(&mut **tx)
    .await?;
    if let Some(row) = existing {
        let stored: String = col(&row, "client_id")?;
        if stored == client_id.to_string() {
            return Ok(false);
        }
    }
    let seq = next_counter(tx, "esl").await?;
    let now = now_ms();
    sqlx::query(
        "INSERT INTO esl_labels (store_id, label_id, sku_id, client_id, linked, desired_seq, \
         effective_at, reason, queued_at, status, created_at) \
         VALUES ($1, $2, $3, $4, 0, $5, $6, 'link', $6, 'pending', $6) \
         ON CONFLICT (store_id, label_id) DO UPDATE SET sku_id = excluded.sku_id, \
         client_id = excluded.client_id, linked = 0, desired_seq = excluded.desired_seq, \
         effective_at = excluded.effective_at, reason = 'link', queued_at = excluded.queued_at, \
         status = 'pending', attempts = 0, next_attempt_at = 0, last_error = NULL",
    )
    .bind(store_id)
    .bind(label_id)
    .bind(sku_id.to_string())
    .bind(client_id.to_string())
    .bind(seq)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(true)
}

fn tx_for_update(tx: &Tx) -> &'static str {
    if tx.backend_name() == "SQLite" {
        ""
    } else {
        " FOR UPDATE"
    }
}

/// A label row to create in bulk ([`link_many`]).
#[derive(Clone, Debug)]
pub struct NewLabel {
    /// The vendor's label barcode.
    pub label_id: String,
    /// The SKU.
    pub sku_id: Uuid,
    /// The request id (idempotency).
    pub client_id: Uuid,
}

/// Creates many labels of a store at once (an import, the bench), each queued. Labels that
/// exist already are left as they are.
pub async fn link_many(tx: &mut Tx, store_id: &str, labels: &[NewLabel]) -> AppResult<()> {
    let seq = next_counter(tx, "esl").await?;
    let now = now_ms();
    super::upsert_rows(
        tx,
        "esl_labels",
        &[
            "store_id",
            "label_id",
            "sku_id",
            "client_id",
            "desired_seq",
            "effective_at",
            "reason",
            "queued_at",
            "created_at",
        ],
        labels,
        " ON CONFLICT (store_id, label_id) DO NOTHING",
        |q, l| {
            q.bind(store_id.to_owned())
                .bind(&l.label_id)
                .bind(l.sku_id.to_string())
                .bind(l.client_id.to_string())
                .bind(seq)
                .bind(now)
                .bind("link")
                .bind(now)
                .bind(now)
        },
    )
    .await
}

/// Which labels a change touches.
#[derive(Clone, Copy, Debug)]
pub enum Touch<'a> {
    /// Every label of every store.
    All,
    /// Every label of these stores.
    Stores(&'a [String]),
    /// The labels of these SKUs in every store.
    Skus(&'a [Uuid]),
    /// The labels of these SKUs in these stores.
    StoreSkus(&'a [String], &'a [Uuid]),
}

/// Queues an update of every label `touch` selects, rendered for `effective_at` (Unix ms),
/// inside the transaction of the change itself (so the queue holds it as soon as the change is
/// visible to anyone, lanes included). Answers the number of labels queued.
pub async fn queue(
    tx: &mut Tx,
    touch: Touch<'_>,
    effective_at: i64,
    reason: &str,
) -> AppResult<u64> {
    let seq = next_counter(tx, "esl").await?;
    let now = now_ms();
    let set = "UPDATE esl_labels SET desired_seq = $1, effective_at = $2, reason = $3, \
               queued_at = $4, status = 'pending', attempts = 0, next_attempt_at = 0";
    let mut total = 0;
    match touch {
        Touch::All => {
            total += exec(tx, set, (seq, effective_at, reason, now), &[], &[]).await?;
        }
        Touch::Stores(stores) => {
            for chunk in stores.chunks(MAX_PARAMS) {
                let sql = format!("{set} WHERE store_id IN ({})", placeholders(5, chunk.len()));
                total += exec(tx, &sql, (seq, effective_at, reason, now), chunk, &[]).await?;
            }
        }
        Touch::Skus(skus) | Touch::StoreSkus(_, skus) => {
            let stores: &[String] = match touch {
                Touch::StoreSkus(stores, _) => stores,
                _ => &[],
            };
            if stores.len() > MAX_PARAMS / 2 {
                return Err(AppError::Internal(anyhow::anyhow!(
                    "too many stores in one change"
                )));
            }
            let ids: Vec<String> = skus.iter().map(Uuid::to_string).collect();
            for chunk in ids.chunks(MAX_PARAMS - stores.len()) {
                let store_clause = if stores.is_empty() {
                    String::new()
                } else {
                    format!("store_id IN ({}) AND ", placeholders(5, stores.len()))
                };
                let sql = format!(
                    "{set} WHERE {store_clause}sku_id IN ({})",
                    placeholders(5 + stores.len(), chunk.len())
                );
                total += exec(tx, &sql, (seq, effective_at, reason, now), stores, chunk).await?;
            }
        }
    }
    Ok(total)
}

/// Runs one queueing `UPDATE` with the queue values and the store and SKU lists bound.
async fn exec(
    tx: &mut Tx,
    sql: &str,
    (seq, effective_at, reason, now): (i64, i64, &str, i64),
    stores: &[String],
    skus: &[String],
) -> AppResult<u64> {
    let mut q = sqlx::query(sql)
        .bind(seq)
        .bind(effective_at)
        .bind(reason.to_owned())
        .bind(now);
    for s in stores.iter().chain(skus) {
        q = q.bind(s.clone());
    }
    Ok(q.persistent(false)
        .execute(&mut **tx)
        .await?
        .rows_affected())
}

/// A queued label update, as the worker sends it.
#[derive(Clone, Debug)]
pub struct Pending {
    /// The label.
    pub label_id: String,
    /// Its SKU.
    pub sku_id: Uuid,
    /// The queue position this update carries.
    pub desired_seq: i64,
    /// The instant to render the price for (Unix ms).
    pub effective_at: i64,
    /// True once the vendor linked the label to the SKU's item.
    pub linked: bool,
    /// The JSON last shown.
    pub shown: Option<String>,
    /// Rejected attempts since the last success.
    pub attempts: i64,
}

/// Stores with labels queued and due at `now`.
pub async fn stores_due(store: &Store, now: i64) -> AppResult<Vec<String>> {
    let rows = sqlx::query(
        "SELECT DISTINCT store_id FROM esl_labels WHERE desired_seq > sent_seq \
         AND next_attempt_at <= $1 ORDER BY store_id",
    )
    .bind(now)
    .fetch_all(store.reader())
    .await?;
    rows.iter().map(|r| col(r, "store_id")).collect()
}

/// Up to `limit` queued labels of `store_id` due at `now`, oldest change first (queue order).
pub async fn due(store: &Store, store_id: &str, now: i64, limit: i64) -> AppResult<Vec<Pending>> {
    let rows = sqlx::query(
        "SELECT label_id, sku_id, desired_seq, effective_at, linked, shown, attempts FROM esl_labels \
         WHERE store_id = $1 AND desired_seq > sent_seq AND next_attempt_at <= $2 \
         ORDER BY desired_seq, label_id LIMIT $3",
    )
    .bind(store_id)
    .bind(now)
    .bind(limit)
    .fetch_all(store.reader())
    .await?;
    rows.iter()
        .map(|r| {
            Ok(Pending {
                label_id: col(r, "label_id")?,
                sku_id: uuid_col(r, "sku_id")?,
                desired_seq: col(r, "desired_seq")?,
                effective_at: col(r, "effective_at")?,
                linked: col::<i64>(r, "linked")? != 0,
                shown: col(r, "shown")?,
                attempts: col(r, "attempts")?,
            })
        })
        .collect()
}

/// Records that the vendor accepted (or nothing needed sending for) these updates of
/// `store_id`: (label, the queue position sent, the JSON now shown). A label queued again
/// meanwhile stays queued.
pub async fn mark_shown(
    store: &Store,
    store_id: &str,
    shown: &[(String, i64, String)],
) -> AppResult<()> {
    let now = now_ms();
    let mut tx = store.begin().await?;
    for (label_id, seq, json) in shown {
        sqlx::query(
            "UPDATE esl_labels SET sent_seq = $3, linked = 1, shown = $4, shown_at = $5, \
             status = CASE WHEN desired_seq = $3 THEN 'shown' ELSE status END, \
             attempts = CASE WHEN desired_seq = $3 THEN 0 ELSE attempts END, \
             last_error = CASE WHEN desired_seq = $3 THEN NULL ELSE last_error END \
             WHERE store_id = $1 AND label_id = $2 AND sent_seq < $3",
        )
        .bind(store_id)
        .bind(label_id)
        .bind(*seq)
        .bind(json)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Records a rejected batch on its labels: (label, queue position); each is retried at
/// `retry_at` (Unix ms) unless queued again meanwhile.
pub async fn mark_failed(
    store: &Store,
    store_id: &str,
    labels: &[(String, i64)],
    error: &str,
    retry_at: i64,
) -> AppResult<()> {
    let mut tx = store.begin().await?;
    for (label_id, seq) in labels {
        sqlx::query(
            "UPDATE esl_labels SET status = 'failed', attempts = attempts + 1, last_error = $4, \
             next_attempt_at = $5 WHERE store_id = $1 AND label_id = $2 AND desired_seq = $3",
        )
        .bind(store_id)
        .bind(label_id)
        .bind(*seq)
        .bind(error)
        .bind(retry_at)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// One batch sent to the vendor.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct BatchView {
    /// Id (UUIDv7).
    pub id: Uuid,
    /// The store.
    pub store_id: String,
    /// The adapter (`pricer`).
    pub vendor: String,
    /// Label updates in it.
    pub labels: i64,
    /// Items sent.
    pub items: i64,
    /// `sent` or `failed`.
    pub status: String,
    /// The vendor's HTTP status, when it answered.
    pub http_status: Option<i64>,
    /// The error, when it failed.
    pub error: Option<String>,
    /// Started (Unix ms).
    pub started_at: i64,
    /// Finished (Unix ms).
    pub finished_at: i64,
}

/// Records a batch.
pub async fn record_batch(store: &Store, b: &BatchView) -> AppResult<()> {
    sqlx::query(
        "INSERT INTO esl_batches (id, store_id, vendor, labels, items, status, http_status, \
         error, started_at, finished_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(b.id.to_string())
    .bind(&b.store_id)
    .bind(&b.vendor)
    .bind(b.labels)
    .bind(b.items)
    .bind(&b.status)
    .bind(b.http_status)
    .bind(b.error.clone())
    .bind(b.started_at)
    .bind(b.finished_at)
    .execute(store.writer())
    .await?;
    Ok(())
}

/// The latest `limit` batches of `store_id`, newest first.
pub async fn batches(store: &Store, store_id: &str, limit: i64) -> AppResult<Vec<BatchView>> {
    let rows = sqlx::query(
        "SELECT id, store_id, vendor, labels, items, status, http_status, error, started_at, \
         finished_at FROM esl_batches WHERE store_id = $1 ORDER BY started_at DESC, id DESC LIMIT $2",
    )
    .bind(store_id)
    .bind(limit)
    .fetch_all(store.reader())
    .await?;
    rows.iter()
        .map(|r| {
            Ok(BatchView {
                id: uuid_col(r, "id")?,
                store_id: col(r, "store_id")?,
                vendor: col(r, "vendor")?,
                labels: col(r, "labels")?,
                items: col(r, "items")?,
                status: col(r, "status")?,
                http_status: col(r, "http_status")?,
                error: col(r, "error")?,
                started_at: col(r, "started_at")?,
                finished_at: col(r, "finished_at")?,
            })
        })
        .collect()
}

/// Labels of `store_id` in label order, at most `limit`, optionally only those with `status`.
pub async fn labels(
    store: &Store,
    store_id: &str,
    status: Option<&str>,
    limit: i64,
) -> AppResult<Vec<LabelView>> {
    let filter = if status.is_some() {
        " AND status = $3"
    } else {
        ""
    };
    let sql = format!(
        "SELECT {LABEL_COLUMNS} FROM esl_labels WHERE store_id = $1{filter} ORDER BY label_id LIMIT $2"
    );
    let mut q = sqlx::query(&sql).bind(store_id).bind(limit);
    if let Some(s) = status {
        q = q.bind(s);
    }
    let rows = q.fetch_all(store.reader()).await?;
    rows.iter().map(label_from_row).collect()
}

/// Labels of `store_id` by status (`pending`, `shown`, `failed`) and how many are queued.
pub async fn counts(store: &Store, store_id: &str) -> AppResult<(HashMap<String, i64>, i64)> {
    let rows = sqlx::query(
        "SELECT status, COUNT(*) AS n, \
         CAST(COALESCE(SUM(CASE WHEN desired_seq > sent_seq THEN 1 ELSE 0 END), 0) AS BIGINT) AS q \
         FROM esl_labels WHERE store_id = $1 GROUP BY status",
    )
    .bind(store_id)
    .fetch_all(store.reader())
    .await?;
    let mut out = HashMap::new();
    let mut queued = 0;
    for r in rows {
        let n: i64 = col(&r, "n")?;
        let q: i64 = col(&r, "q")?;
        out.insert(col(&r, "status")?, n);
        queued += q;
    }
    Ok((out, queued))
}

/// The distinct SKUs on labels of `store_id`.
pub async fn labelled_skus(store: &Store, store_id: &str) -> AppResult<Vec<Uuid>> {
    let rows = sqlx::query("SELECT DISTINCT sku_id FROM esl_labels WHERE store_id = $1")
        .bind(store_id)
        .fetch_all(store.reader())
        .await?;
    rows.iter().map(|r| uuid_col(r, "sku_id")).collect()
}

/// The stores that have labels.
pub async fn label_stores(store: &Store) -> AppResult<Vec<String>> {
    let rows = sqlx::query("SELECT DISTINCT store_id FROM esl_labels ORDER BY store_id")
        .fetch_all(store.reader())
        .await?;
    rows.iter().map(|r| col(r, "store_id")).collect()
}

/// The SKUs of the catalog that are on sale (SKU and product on shelf), in id order.
pub async fn skus_on_shelf(store: &Store, store_id: &str) -> AppResult<Vec<Uuid>> {
    let rows = sqlx::query(
        "SELECT s.id FROM skus s JOIN products p ON p.id = s.product_id \
         LEFT JOIN store_shelf ss ON ss.product_id = p.id AND ss.location_id = $1 \
         WHERE s.status = 'on_shelf' AND p.status = 'on_shelf' AND ss.product_id IS NULL \
         ORDER BY s.id",
    )
    .bind(store_id)
    .fetch_all(store.reader())
    .await?;
    rows.iter().map(|r| uuid_col(r, "id")).collect()
}

/// How far the markdown scheduler has queued boundaries (Unix ms), if it has run.
pub async fn checked_until(store: &Store) -> AppResult<Option<i64>> {
    let row = sqlx::query("SELECT checked_until FROM esl_schedule WHERE name = 'boundaries'")
        .fetch_optional(store.reader())
        .await?;
    row.map(|r| col(&r, "checked_until")).transpose()
}

/// Records how far the scheduler has queued boundaries, in the transaction that queued them.
pub async fn set_checked_until(tx: &mut Tx, until: i64) -> AppResult<()> {
    sqlx::query(
        "INSERT INTO esl_schedule (name, checked_until) VALUES ('boundaries', $1) \
         ON CONFLICT (name) DO UPDATE SET checked_until = excluded.checked_until",
    )
    .bind(until)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Queues the labels a promotion's start, end or window boundary may change, rendered for
/// `effective_at`: its SKUs in its stores for a sale price or a SKU-only scope, else every
/// label of its stores (of every store when chain-wide); the worker sends only the labels
/// whose price really changed.
pub async fn queue_promotion(
    tx: &mut Tx,
    promotion: &retail_domain::pricing::Promotion,
    effective_at: i64,
    reason: &str,
) -> AppResult<u64> {
    use retail_domain::pricing::PromotionRule;
    let skus: Option<Vec<Uuid>> = match &promotion.rule {
        PromotionRule::SalePrice { prices } => Some(prices.iter().map(|p| p.sku_id).collect()),
        _ if !promotion.scope.skus.is_empty()
            && promotion.scope.categories.is_empty()
            && promotion.scope.brands.is_empty() =>
        {
            Some(promotion.scope.skus.clone())
        }
        _ => None,
    };
    let stores = &promotion.stores;
    let touch = match (&skus, stores.is_empty()) {
        (Some(skus), true) => Touch::Skus(skus),
        (Some(skus), false) => Touch::StoreSkus(stores, skus),
        (None, true) => Touch::All,
        (None, false) => Touch::Stores(stores),
    };
    queue(tx, touch, effective_at, reason).await
}

/// Moves the markdown scheduler back to `to` (Unix ms) if it has looked further, so the next
/// run queues the boundaries after `to` again (a promotion created or ended meanwhile).
pub async fn rewind_schedule(tx: &mut Tx, to: i64) -> AppResult<()> {
    sqlx::query("UPDATE esl_schedule SET checked_until = $1 WHERE name = 'boundaries' AND checked_until > $1")
        .bind(to)
        .execute(&mut **tx)
        .await?;
    Ok(())
}
