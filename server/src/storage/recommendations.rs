//! Recommendations (issue 19): what the recommendation job reads (paid orders and lane sales
//! in pages, product-page views of members, the on-shelf catalog, who opted out), the
//! precomputed lists it writes (`rec_lists`, replaced per subject in short transactions), and
//! what the shop reads when it shows them (one indexed range per list, filtered in the same
//! statement by stock at a store and a member's recent purchases), with the impressions
//! counted per day and list.

use std::collections::{HashMap, HashSet};

use uuid::Uuid;

use super::{col, placeholders, uuid_col, Store};
use crate::error::AppResult;

/// An on-shelf SKU with what "similar items" compares.
#[derive(Clone, Debug)]
pub struct CatalogSku {
    /// The SKU.
    pub sku_id: Uuid,
    /// Its product.
    pub product_id: Uuid,
    /// The product's category code.
    pub category_id: String,
    /// The product's brand.
    pub brand: String,
    /// The SKU's chain price (fen).
    pub price_fen: i64,
}

/// Every on-shelf SKU of an on-shelf product.
pub async fn catalog(store: &Store) -> AppResult<Vec<CatalogSku>> {
    let rows = sqlx::query(
        "SELECT s.id, s.product_id, p.category_id, p.brand, s.price_fen FROM skus s \
         JOIN products p ON p.id = s.product_id \
         WHERE s.status = 'on_shelf' AND p.status = 'on_shelf' ORDER BY s.id",
    )
    .fetch_all(store.reader())
    .await?;
    rows.iter()
        .map(|r| {
            Ok(CatalogSku {
                sku_id: uuid_col(r, "id")?,
                product_id: uuid_col(r, "product_id")?,
                category_id: col(r, "category_id")?,
                brand: col(r, "brand")?,
                price_fen: col(r, "price_fen")?,
            })
        })
        .collect()
}

/// A sold order (online, scan-and-go or a lane's sale) with its SKUs.
#[derive(Clone, Debug)]
pub struct SoldOrder {
    /// The order.
    pub id: String,
    /// When it was created (ms).
    pub created_at: i64,
    /// Its member, if any.
    pub member_id: Option<String>,
    /// Its store (location code).
    pub location_id: String,
    /// Its SKUs and units.
    pub lines: Vec<(String, i64)>,
}

/// Orders sold (paid or further on, not cancelled; lane sales included) created at or after
/// `since`, oldest first, after the position `after` (`created_at`, `id`), at most `limit`.
pub async fn sold_orders(
    store: &Store,
    since: i64,
    after: Option<&(i64, String)>,
    limit: i64,
) -> AppResult<Vec<SoldOrder>> {
    let (at, id) = after.cloned().unwrap_or((since - 1, String::new()));
    let rows = sqlx::query(
        "SELECT id, created_at, member_id, location_id FROM orders \
         WHERE created_at >= $1 AND (created_at > $2 OR (created_at = $2 AND id > $3)) \
         AND status NOT IN ('pending_payment', 'cancelled') \
         ORDER BY created_at, id LIMIT $4",
    )
    .bind(since)
    .bind(at)
    .bind(id)
    .bind(limit)
    .fetch_all(store.reader())
    .await?;
    let mut orders: Vec<SoldOrder> = rows
        .iter()
        .map(|r| {
            Ok(SoldOrder {
                id: col(r, "id")?,
                created_at: col(r, "created_at")?,
                member_id: col(r, "member_id")?,
                location_id: col(r, "location_id")?,
                lines: Vec::new(),
            })
        })
        .collect::<AppResult<_>>()?;
    if orders.is_empty() {
        return Ok(orders);
    }
    let sql = format!(
        "SELECT order_id, sku_id, qty FROM order_lines WHERE order_id IN ({})",
        placeholders(1, orders.len())
    );
    let mut query = sqlx::query(&sql);
    for o in &orders {
        query = query.bind(o.id.clone());
    }
    let mut lines: HashMap<String, Vec<(String, i64)>> = HashMap::new();
    for r in query.fetch_all(store.reader()).await? {
        lines
            .entry(col(&r, "order_id")?)
            .or_default()
            .push((col(&r, "sku_id")?, col(&r, "qty")?));
    }
    for o in &mut orders {
        o.lines = lines.remove(&o.id).unwrap_or_default();
    }
    Ok(orders)
}

/// Product-page views of members (`page_view` events on `/p/…` with a member id, which an
/// opted-out member's events never carry) that happened at or after `since`: (event id,
/// member, page), after the event id `after`, at most `limit`.
pub async fn member_views(
    store: &Store,
    since: i64,
    after: &str,
    limit: i64,
) -> AppResult<Vec<(String, String, String)>> {
    let rows = sqlx::query(
        "SELECT event_id, member_id, page FROM events WHERE name = 'page_view' \
         AND member_id IS NOT NULL AND occurred_at >= $1 AND page LIKE '/p/%' AND event_id > $2 \
         ORDER BY event_id LIMIT $3",
    )
    .bind(since)
    .bind(after.to_owned())
    .bind(limit)
    .fetch_all(store.reader())
    .await?;
    rows.iter()
        .map(|r| Ok((col(r, "event_id")?, col(r, "member_id")?, col(r, "page")?)))
        .collect()
}

/// Members who opted out of personalisation.
pub async fn opted_out_members(store: &Store) -> AppResult<HashSet<String>> {
    let rows = sqlx::query("SELECT id FROM members WHERE personalisation_opt_out = 1")
        .fetch_all(store.reader())
        .await?;
    rows.iter().map(|r| col(r, "id")).collect()
}

/// One recommended SKU of a list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListItem {
    /// The SKU.
    pub sku_id: Uuid,
    /// Its product.
    pub product_id: Uuid,
    /// Its score (millionths; higher first).
    pub score: i64,
}

/// Replaces the lists of `kind` for the given subjects (each list ranked as given) in one
/// transaction, stamped with `run_id`.
pub async fn replace_lists(
    store: &Store,
    kind: &str,
    run_id: i64,
    lists: &[(String, Vec<ListItem>)],
) -> AppResult<u64> {
    if lists.is_empty() {
        return Ok(0);
    }
    let mut tx = store.begin().await?;
    for chunk in lists.chunks(500) {
        let sql = format!(
            "DELETE FROM rec_lists WHERE kind = $1 AND subject IN ({})",
            placeholders(2, chunk.len())
        );
        let mut query = sqlx::query(&sql).bind(kind.to_owned());
        for (subject, _) in chunk {
            query = query.bind(subject.clone());
        }
        query.execute(&mut *tx).await?;
    }
    let rows: Vec<(&str, i64, &ListItem)> = lists
        .iter()
        .flat_map(|(subject, items)| {
            items
                .iter()
                .enumerate()
                .map(move |(rank, item)| (subject.as_str(), rank as i64, item))
        })
        .collect();
    super::insert_rows(
        &mut tx,
        "rec_lists",
        &[
            "kind",
            "subject",
            "rank",
            "sku_id",
            "product_id",
            "score",
            "run_id",
        ],
        &rows,
        |q, (subject, rank, item)| {
            q.bind(kind.to_owned())
                .bind(subject.to_string())
                .bind(*rank)
                .bind(item.sku_id.to_string())
                .bind(item.product_id.to_string())
                .bind(item.score)
                .bind(run_id)
        },
    )
    .await?;
    tx.commit().await?;
    Ok(rows.len() as u64)
}

/// Deletes the rows of `kind` that an earlier run than `run_id` wrote (subjects this run no
/// longer has a list for).
pub async fn delete_older(store: &Store, kind: &str, run_id: i64) -> AppResult<u64> {
    let done = sqlx::query("DELETE FROM rec_lists WHERE kind = $1 AND run_id < $2")
        .bind(kind.to_owned())
        .bind(run_id)
        .execute(store.writer())
        .await?;
    Ok(done.rows_affected())
}

/// Records a finished run of the job.
pub async fn record_run(
    store: &Store,
    run_id: i64,
    orders: i64,
    members: i64,
    rows_written: i64,
) -> AppResult<()> {
    sqlx::query(
        "INSERT INTO rec_runs (run_id, finished_at, orders, members, rows_written) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (run_id) DO NOTHING",
    )
    .bind(run_id)
    .bind(super::now_ms())
    .bind(orders)
    .bind(members)
    .bind(rows_written)
    .execute(store.writer())
    .await?;
    Ok(())
}

/// The last finished run: (run id, finished at, orders read, members, rows written).
pub async fn last_run(store: &Store) -> AppResult<Option<(i64, i64, i64, i64, i64)>> {
    let row = sqlx::query(
        "SELECT run_id, finished_at, orders, members, rows_written FROM rec_runs \
         ORDER BY run_id DESC LIMIT 1",
    )
    .fetch_optional(store.reader())
    .await?;
    row.map(|r| {
        Ok((
            col(&r, "run_id")?,
            col(&r, "finished_at")?,
            col(&r, "orders")?,
            col(&r, "members")?,
            col(&r, "rows_written")?,
        ))
    })
    .transpose()
}

fn items(rows: &[sqlx::any::AnyRow]) -> AppResult<Vec<ListItem>> {
    rows.iter()
        .map(|r| {
            Ok(ListItem {
                sku_id: uuid_col(r, "sku_id")?,
                product_id: uuid_col(r, "product_id")?,
                score: col(r, "score")?,
            })
        })
        .collect()
}

/// The first `limit` items of the list of `kind` for `subject`, best first.
pub async fn list(
    store: &Store,
    kind: &str,
    subject: &str,
    limit: i64,
) -> AppResult<Vec<ListItem>> {
    let rows = sqlx::query(
        "SELECT sku_id, product_id, score FROM rec_lists WHERE kind = $1 AND subject = $2 \
         AND rank < $3 ORDER BY rank",
    )
    .bind(kind.to_owned())
    .bind(subject.to_owned())
    .bind(limit)
    .fetch_all(store.reader())
    .await?;
    items(&rows)
}

/// The first `limit` items of the lists of `kind` for each of `subjects` (at most 100), as
/// one list in subject order, then rank.
pub async fn lists(
    store: &Store,
    kind: &str,
    subjects: &[String],
    limit: i64,
) -> AppResult<Vec<ListItem>> {
    let subjects = &subjects[..subjects.len().min(100)];
    if subjects.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT sku_id, product_id, score FROM rec_lists WHERE kind = $1 AND rank < $2 \
         AND subject IN ({}) ORDER BY subject, rank",
        placeholders(3, subjects.len())
    );
    let mut query = sqlx::query(&sql).bind(kind.to_owned()).bind(limit);
    for s in subjects {
        query = query.bind(s.clone());
    }
    items(&query.fetch_all(store.reader()).await?)
}

/// The first `limit` items of the list of `kind` for `subject` (among its first `ranks`) that
/// have stock to sell at `location` and that `member` did not order (any order not cancelled) at
/// or after `since` — one statement, best first. With `personal`, only while the subject (the
/// member) has not opted out of personalisation.
#[allow(clippy::too_many_arguments)]
pub async fn available_list(
    store: &Store,
    kind: &str,
    subject: &str,
    location: &str,
    member: Option<Uuid>,
    since: i64,
    ranks: i64,
    limit: i64,
) -> AppResult<Vec<ListItem>> {
    let personal = if kind == "for_you" {
        " AND EXISTS (SELECT 1 FROM members m WHERE m.id = r.subject \
         AND m.personalisation_opt_out = 0)"
    } else {
        ""
    };
    let sql = format!(
        "SELECT r.sku_id, r.product_id, r.score FROM rec_lists r \
         JOIN stock st ON st.location_id = $3 AND st.sku_id = r.sku_id \
         WHERE r.kind = $1 AND r.subject = $2 AND r.rank < $6 \
         AND st.on_hand - st.reserved > 0{personal} \
         AND NOT EXISTS (SELECT 1 FROM orders o JOIN order_lines l ON l.order_id = o.id \
           WHERE o.member_id = $4 AND o.created_at >= $5 AND o.status <> 'cancelled' \
           AND l.sku_id = r.sku_id) \
         ORDER BY r.rank LIMIT $7"
    );
    let rows = sqlx::query(&sql)
        .bind(kind.to_owned())
        .bind(subject.to_owned())
        .bind(location.to_owned())
        .bind(member.map(|m| m.to_string()))
        .bind(since)
        .bind(ranks)
        .bind(limit)
        .fetch_all(store.reader())
        .await?;
    items(&rows)
}

/// Adds impressions (lists shown) per China day and list kind.
pub async fn add_impressions(store: &Store, counts: &[((i64, String), i64)]) -> AppResult<()> {
    if counts.is_empty() {
        return Ok(());
    }
    let mut tx = store.begin().await?;
    for ((day, list), n) in counts {
        sqlx::query(
            "INSERT INTO rec_impressions (day, list, impressions) VALUES ($1, $2, $3) \
             ON CONFLICT (day, list) DO UPDATE SET impressions = rec_impressions.impressions + $3",
        )
        .bind(*day)
        .bind(list.clone())
        .bind(*n)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Impressions per list kind on the China days `from..=to`.
pub async fn impressions(store: &Store, from: i64, to: i64) -> AppResult<HashMap<String, i64>> {
    let rows = sqlx::query(
        "SELECT list, CAST(COALESCE(SUM(impressions), 0) AS BIGINT) AS n FROM rec_impressions \
         WHERE day >= $1 AND day <= $2 GROUP BY list",
    )
    .bind(from)
    .bind(to)
    .fetch_all(store.reader())
    .await?;
    rows.iter()
        .map(|r| Ok((col(r, "list")?, col(r, "n")?)))
        .collect()
}

/// The properties (JSON text) of recommendation clicks (`click` events whose target is
/// `recommendation`) that happened in `[from, to)` (ms).
pub async fn recommendation_clicks(store: &Store, from: i64, to: i64) -> AppResult<Vec<String>> {
    let rows = sqlx::query(
        "SELECT props FROM events WHERE name = 'click' AND occurred_at >= $1 \
         AND occurred_at < $2 AND props LIKE '%\"recommendation\"%'",
    )
    .bind(from)
    .bind(to)
    .fetch_all(store.reader())
    .await?;
    rows.iter().map(|r| col(r, "props")).collect()
}
