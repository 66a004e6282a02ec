//! The sales rollup (issue 19, migration 0049): the daily sales per store and channel
//! (`sales_days`) and per SKU (`sales_sku_days`), kept incrementally from orders and refunds by
//! [`rollup_batch`] (exactly once: a marker per order and refund in `sales_rolled`, written in
//! the transaction that adds it), and the reads of the console's sales dashboards, which touch
//! only those tables (and the catalog, for names and categories).

use super::{col, Store};
use crate::error::AppResult;

/// How the rollup names a channel, from `orders.channel` and `orders.fulfilment`.
const CHANNEL: &str = "CASE WHEN o.channel = 'pos' THEN 'lane' \
     WHEN o.channel = 'scan_and_go' THEN 'scan_and_go' \
     WHEN o.fulfilment = 'pickup' THEN 'pickup' ELSE 'delivery' END";

/// The China day (UTC+8) of the order's creation.
const ORDER_DAY: &str = "((o.created_at + 28800000) / 86400000)";

/// The China day (UTC+8) a refund was paid back.
const REFUND_DAY: &str = "((r.updated_at + 28800000) / 86400000)";

/// What one [`rollup_batch`] counted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Batch {
    /// Orders added.
    pub orders: u64,
    /// Refunds subtracted.
    pub refunds: u64,
    /// True when a limit was reached (call again).
    pub more: bool,
}

/// Adds up to `limit` sold orders and `limit` refunds paid back, not yet counted, whose
/// `updated_at` is at or after the job's cursors minus `lag_ms`, in one transaction with their
/// markers and the moved cursors. A refund is counted on the China day it was paid back (its
/// `updated_at` when counted), under its order's store and channel.
pub async fn rollup_batch(store: &Store, lag_ms: i64, limit: i64) -> AppResult<Batch> {
    let mut tx = store.begin().await?;
    // First statement: the state row's lock makes two jobs (two servers) take turns.
    let state = sqlx::query(
        "UPDATE sales_rollup_state SET batch = batch + 1 WHERE name = 'sales' \
         RETURNING batch, orders_cursor, refunds_cursor",
    )
    .fetch_one(&mut *tx)
    .await?;
    let batch: i64 = col(&state, "batch")?;
    let orders_cursor: i64 = col(&state, "orders_cursor")?;
    let refunds_cursor: i64 = col(&state, "refunds_cursor")?;

    let orders = sqlx::query(
        "INSERT INTO sales_rolled (kind, subject_id, batch) \
         SELECT 'order', o.id, $1 FROM orders o \
         WHERE o.updated_at >= $2 \
           AND (o.status NOT IN ('pending_payment', 'cancelled') \
                OR (o.status = 'cancelled' AND EXISTS \
                    (SELECT 1 FROM payments p WHERE p.order_id = o.id AND p.paid_at IS NOT NULL))) \
           AND NOT EXISTS (SELECT 1 FROM sales_rolled m WHERE m.kind = 'order' AND m.subject_id = o.id) \
         ORDER BY o.updated_at LIMIT $3 \
         ON CONFLICT DO NOTHING",
    )
    .bind(batch)
    .bind(orders_cursor - lag_ms)
    .bind(limit)
    .execute(&mut *tx)
    .await?
    .rows_affected();

    if orders > 0 {
        let marked = "FROM sales_rolled m JOIN orders o ON o.id = m.subject_id \
                      WHERE m.kind = 'order' AND m.batch = $1";
        sqlx::query(&format!(
            "INSERT INTO sales_days (day, store_id, channel, orders, member_orders, gmv_fen, discount_fen) \
             SELECT {ORDER_DAY} AS d, o.location_id, {CHANNEL} AS ch, COUNT(*), \
               CAST(COALESCE(SUM(CASE WHEN o.member_id IS NULL THEN 0 ELSE 1 END), 0) AS BIGINT), \
               CAST(COALESCE(SUM(o.total_fen), 0) AS BIGINT), \
               CAST(COALESCE(SUM(o.discount_fen), 0) AS BIGINT) \
             {marked} GROUP BY {ORDER_DAY}, o.location_id, {CHANNEL} \
             ON CONFLICT (day, store_id, channel) DO UPDATE SET \
               orders = sales_days.orders + excluded.orders, \
               member_orders = sales_days.member_orders + excluded.member_orders, \
               gmv_fen = sales_days.gmv_fen + excluded.gmv_fen, \
               discount_fen = sales_days.discount_fen + excluded.discount_fen"
        ))
        .bind(batch)
        .execute(&mut *tx)
        .await?;
        let lines = "FROM sales_rolled m JOIN orders o ON o.id = m.subject_id \
                     JOIN order_lines l ON l.order_id = o.id JOIN skus s ON s.id = l.sku_id \
                     WHERE m.kind = 'order' AND m.batch = $1";
        let cost = "CASE WHEN s.cost_fen IS NULL THEN 0 WHEN s.weighed = 1 \
                    THEN (s.cost_fen * l.qty + 500) / 1000 ELSE s.cost_fen * l.qty END";
        sqlx::query(&format!(
            "INSERT INTO sales_days (day, store_id, channel, items, costed_amount_fen, cost_fen) \
             SELECT {ORDER_DAY} AS d, o.location_id, {CHANNEL} AS ch, \
               CAST(COALESCE(SUM(CASE WHEN s.weighed = 1 THEN 1 ELSE l.qty END), 0) AS BIGINT), \
               CAST(COALESCE(SUM(CASE WHEN s.cost_fen IS NULL THEN 0 ELSE l.amount_fen END), 0) AS BIGINT), \
               CAST(COALESCE(SUM({cost}), 0) AS BIGINT) \
             {lines} GROUP BY {ORDER_DAY}, o.location_id, {CHANNEL} \
             ON CONFLICT (day, store_id, channel) DO UPDATE SET \
               items = sales_days.items + excluded.items, \
               costed_amount_fen = sales_days.costed_amount_fen + excluded.costed_amount_fen, \
               cost_fen = sales_days.cost_fen + excluded.cost_fen"
        ))
        .bind(batch)
        .execute(&mut *tx)
        .await?;
        sqlx::query(&format!(
            "INSERT INTO sales_sku_days (day, store_id, channel, sku_id, qty, amount_fen) \
             SELECT {ORDER_DAY} AS d, o.location_id, {CHANNEL} AS ch, l.sku_id, \
               CAST(COALESCE(SUM(l.qty), 0) AS BIGINT), CAST(COALESCE(SUM(l.amount_fen), 0) AS BIGINT) \
             {lines} GROUP BY {ORDER_DAY}, o.location_id, {CHANNEL}, l.sku_id \
             ON CONFLICT (day, store_id, channel, sku_id) DO UPDATE SET \
               qty = sales_sku_days.qty + excluded.qty, \
               amount_fen = sales_sku_days.amount_fen + excluded.amount_fen"
        ))
        .bind(batch)
        .execute(&mut *tx)
        .await?;
        for span in [7_i64, 28] {
            sqlx::query(&format!(
                "INSERT INTO sales_sku_spans (span_days, start_day, store_id, sku_id, qty, amount_fen) \
                 SELECT {span}, {ORDER_DAY} - (({ORDER_DAY} + 3) % {span}) AS s, o.location_id, l.sku_id, \
                   CAST(COALESCE(SUM(l.qty), 0) AS BIGINT), CAST(COALESCE(SUM(l.amount_fen), 0) AS BIGINT) \
                 {lines} GROUP BY {ORDER_DAY} - (({ORDER_DAY} + 3) % {span}), o.location_id, l.sku_id \
                 ON CONFLICT (span_days, start_day, store_id, sku_id) DO UPDATE SET \
                   qty = sales_sku_spans.qty + excluded.qty, \
                   amount_fen = sales_sku_spans.amount_fen + excluded.amount_fen"
            ))
            .bind(batch)
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query(
            "UPDATE sales_rollup_state SET orders_cursor = \
               (SELECT COALESCE(MAX(o.updated_at), 0) FROM sales_rolled m JOIN orders o ON o.id = m.subject_id \
                WHERE m.kind = 'order' AND m.batch = $1) \
             WHERE name = 'sales' AND orders_cursor < \
               (SELECT COALESCE(MAX(o.updated_at), 0) FROM sales_rolled m JOIN orders o ON o.id = m.subject_id \
                WHERE m.kind = 'order' AND m.batch = $1)",
        )
        .bind(batch)
        .execute(&mut *tx)
        .await?;
    }

    // Refunds paid back, of orders already counted (a refund of an order not yet counted waits
    // for it; the order's marker was written above or before).
    let refunds = sqlx::query(
        "INSERT INTO sales_rolled (kind, subject_id, batch) \
         SELECT 'refund', r.id, $1 FROM payment_refunds r \
         WHERE r.updated_at >= $2 AND r.state = 'success' \
           AND EXISTS (SELECT 1 FROM sales_rolled o WHERE o.kind = 'order' AND o.subject_id = r.order_id) \
           AND NOT EXISTS (SELECT 1 FROM sales_rolled m WHERE m.kind = 'refund' AND m.subject_id = r.id) \
         ORDER BY r.updated_at LIMIT $3 \
         ON CONFLICT DO NOTHING",
    )
    .bind(batch)
    .bind(refunds_cursor - lag_ms)
    .bind(limit)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if refunds > 0 {
        sqlx::query(&format!(
            "INSERT INTO sales_days (day, store_id, channel, refunds, refund_fen) \
             SELECT {REFUND_DAY} AS d, o.location_id, {CHANNEL} AS ch, COUNT(*), \
               CAST(COALESCE(SUM(r.amount_fen), 0) AS BIGINT) \
             FROM sales_rolled m JOIN payment_refunds r ON r.id = m.subject_id \
               JOIN orders o ON o.id = r.order_id \
             WHERE m.kind = 'refund' AND m.batch = $1 \
             GROUP BY {REFUND_DAY}, o.location_id, {CHANNEL} \
             ON CONFLICT (day, store_id, channel) DO UPDATE SET \
               refunds = sales_days.refunds + excluded.refunds, \
               refund_fen = sales_days.refund_fen + excluded.refund_fen"
        ))
        .bind(batch)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE sales_rollup_state SET refunds_cursor = \
               (SELECT COALESCE(MAX(r.updated_at), 0) FROM sales_rolled m JOIN payment_refunds r ON r.id = m.subject_id \
                WHERE m.kind = 'refund' AND m.batch = $1) \
             WHERE name = 'sales' AND refunds_cursor < \
               (SELECT COALESCE(MAX(r.updated_at), 0) FROM sales_rolled m JOIN payment_refunds r ON r.id = m.subject_id \
                WHERE m.kind = 'refund' AND m.batch = $1)",
        )
        .bind(batch)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    let limit = u64::try_from(limit).unwrap_or(0);
    Ok(Batch {
        orders,
        refunds,
        more: orders >= limit || refunds >= limit,
    })
}

/// Sales figures (money in fen).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Figures {
    /// Orders sold.
    pub orders: i64,
    /// Of them by members.
    pub member_orders: i64,
    /// Paid totals.
    pub gmv_fen: i64,
    /// Discounts given.
    pub discount_fen: i64,
    /// Units sold (a weighed line counts one).
    pub items: i64,
    /// Amount of the lines whose SKU has a cost.
    pub costed_amount_fen: i64,
    /// Their cost.
    pub cost_fen: i64,
    /// Refunds paid back.
    pub refunds: i64,
    /// Their amount.
    pub refund_fen: i64,
}

impl Figures {
    /// Adds `other` to these.
    pub fn add(&mut self, other: &Figures) {
        self.orders += other.orders;
        self.member_orders += other.member_orders;
        self.gmv_fen += other.gmv_fen;
        self.discount_fen += other.discount_fen;
        self.items += other.items;
        self.costed_amount_fen += other.costed_amount_fen;
        self.cost_fen += other.cost_fen;
        self.refunds += other.refunds;
        self.refund_fen += other.refund_fen;
    }
}

/// What [`sums`] adds up by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum By {
    /// Per day (`key` is the day number).
    Day,
    /// Per store (`key` is the store id).
    Store,
    /// Per channel.
    Channel,
}

/// The `sales_days` figures from `from` to `to` (both included), of one store or all, added up
/// per day, store or channel (in the database: a few hundred rows come back at most).
pub async fn sums(
    store: &Store,
    from: i64,
    to: i64,
    store_id: Option<&str>,
    by: By,
) -> AppResult<Vec<(String, Figures)>> {
    let key = match by {
        By::Day => "CAST(day AS TEXT)",
        By::Store => "store_id",
        By::Channel => "channel",
    };
    let sum = |c: &str| format!("CAST(COALESCE(SUM({c}), 0) AS BIGINT) AS {c}");
    let cols: Vec<String> = [
        "orders",
        "member_orders",
        "gmv_fen",
        "discount_fen",
        "items",
        "costed_amount_fen",
        "cost_fen",
        "refunds",
        "refund_fen",
    ]
    .iter()
    .map(|c| sum(c))
    .collect();
    let sql = format!(
        "SELECT {key} AS k, {} FROM sales_days \
         WHERE day >= $1 AND day <= $2 AND ($3 = '' OR store_id = $3) GROUP BY {key}",
        cols.join(", ")
    );
    let rows = sqlx::query(&sql)
        .bind(from)
        .bind(to)
        .bind(store_id.unwrap_or(""))
        .fetch_all(store.reader())
        .await?;
    rows.iter()
        .map(|r| {
            Ok((
                col(r, "k")?,
                Figures {
                    orders: col(r, "orders")?,
                    member_orders: col(r, "member_orders")?,
                    gmv_fen: col(r, "gmv_fen")?,
                    discount_fen: col(r, "discount_fen")?,
                    items: col(r, "items")?,
                    costed_amount_fen: col(r, "costed_amount_fen")?,
                    cost_fen: col(r, "cost_fen")?,
                    refunds: col(r, "refunds")?,
                    refund_fen: col(r, "refund_fen")?,
                },
            ))
        })
        .collect()
}

/// A product or category among the best sellers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TopRow {
    /// SKU code or category id.
    pub key: String,
    /// Chinese name.
    pub name_zh: String,
    /// English name.
    pub name_en: String,
    /// Quantity sold (units; grams for weighed SKUs).
    pub qty: i64,
    /// Amount sold (fen).
    pub amount_fen: i64,
}

/// The `limit` best-selling SKUs by amount from `from` to `to`, of one store or all.
pub async fn top_products(
    store: &Store,
    from: i64,
    to: i64,
    store_id: Option<&str>,
    limit: i64,
) -> AppResult<Vec<TopRow>> {
    let sql = format!(
        "SELECT s.sku_code AS k, p.name_zh AS nz, p.name_en AS ne, t.qty AS qty, t.amount AS amount FROM \
           {PER_SKU} t \
         JOIN skus s ON s.id = t.sku_id JOIN products p ON p.id = s.product_id \
         ORDER BY t.amount DESC, s.sku_code LIMIT $2"
    );
    let rows = sqlx::query(&sql).bind(store_id.unwrap_or("")).bind(limit);
    let rows = bind_pieces(rows, &pieces(from, to))
        .fetch_all(store.reader())
        .await?;
    rows.iter().map(top_row).collect()
}

/// The `limit` best-selling categories (of the products) by amount, like [`top_products`].
pub async fn top_categories(
    store: &Store,
    from: i64,
    to: i64,
    store_id: Option<&str>,
    limit: i64,
) -> AppResult<Vec<TopRow>> {
    let sql = format!(
        "SELECT c.id AS k, c.name_zh AS nz, c.name_en AS ne, \
           CAST(SUM(t.qty) AS BIGINT) AS qty, CAST(SUM(t.amount) AS BIGINT) AS amount FROM \
           {PER_SKU} t \
         JOIN skus s ON s.id = t.sku_id JOIN products p ON p.id = s.product_id \
         JOIN categories c ON c.id = p.category_id \
         GROUP BY c.id, c.name_zh, c.name_en \
         ORDER BY amount DESC, c.id LIMIT $2"
    );
    let rows = sqlx::query(&sql).bind(store_id.unwrap_or("")).bind(limit);
    let rows = bind_pieces(rows, &pieces(from, to))
        .fetch_all(store.reader())
        .await?;
    rows.iter().map(top_row).collect()
}

/// Quantity and amount per SKU over the range bound by [`bind_pieces`] (`$3`…`$12`), of the store
/// `$1` (`''`: all): whole 28-day spans, then whole weeks, then the edge days.
const PER_SKU: &str = "(SELECT sku_id, CAST(SUM(qty) AS BIGINT) AS qty, CAST(SUM(amount) AS BIGINT) AS amount FROM ( \
       SELECT sku_id, qty, amount_fen AS amount FROM sales_sku_spans \
         WHERE span_days = 28 AND start_day >= $3 AND start_day < $4 AND ($1 = '' OR store_id = $1) \
       UNION ALL SELECT sku_id, qty, amount_fen FROM sales_sku_spans \
         WHERE span_days = 7 AND ((start_day >= $5 AND start_day < $6) OR (start_day >= $7 AND start_day < $8)) \
           AND ($1 = '' OR store_id = $1) \
       UNION ALL SELECT sku_id, qty, amount_fen FROM sales_sku_days \
         WHERE ((day >= $9 AND day < $10) OR (day >= $11 AND day < $12)) AND ($1 = '' OR store_id = $1) \
     ) u GROUP BY sku_id)";

/// A range of days cut into aligned spans: whole 28-day spans, whole weeks and single days, each
/// half-open `[start, end)` (start days of spans; `(0, 0)` when unused).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pieces {
    /// 28-day spans (their start days).
    pub spans28: (i64, i64),
    /// Weeks (their Mondays), left and right of the 28-day spans.
    pub weeks: [(i64, i64); 2],
    /// Single days left and right of the weeks.
    pub days: [(i64, i64); 2],
}

/// The first start of a `span`-day span at or after `day` (spans start on Mondays; day 0 was a
/// Thursday).
fn align_up(day: i64, span: i64) -> i64 {
    day + (span - (day + 3).rem_euclid(span)).rem_euclid(span)
}

/// The last start of a `span`-day span at or before `day`.
fn align_down(day: i64, span: i64) -> i64 {
    day - (day + 3).rem_euclid(span)
}

/// Cuts the days `from..=to` into [`Pieces`].
pub fn pieces(from: i64, to: i64) -> Pieces {
    let end = to + 1;
    let mut weeks = Vec::new();
    let mut days = Vec::new();
    let mut by_weeks = |lo: i64, hi: i64| {
        if lo >= hi {
            return;
        }
        let (a, b) = (align_up(lo, 7), align_down(hi, 7));
        if a < b {
            weeks.push((a, b));
            days.push((lo, a));
            days.push((b, hi));
        } else {
            days.push((lo, hi));
        }
    };
    let (a, b) = (align_up(from, 28), align_down(end, 28));
    let spans28 = if a < b {
        by_weeks(from, a);
        by_weeks(b, end);
        (a, b)
    } else {
        by_weeks(from, end);
        (0, 0)
    };
    let pick = |v: Vec<(i64, i64)>| {
        let mut v: Vec<(i64, i64)> = v.into_iter().filter(|(a, b)| a < b).collect();
        v.resize(2, (0, 0));
        [v[0], v[1]]
    };
    Pieces {
        spans28,
        weeks: pick(weeks),
        days: pick(days),
    }
}

/// Binds `$3`…`$12` of [`PER_SKU`].
fn bind_pieces<'q>(
    q: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    p: &Pieces,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    q.bind(p.spans28.0)
        .bind(p.spans28.1)
        .bind(p.weeks[0].0)
        .bind(p.weeks[0].1)
        .bind(p.weeks[1].0)
        .bind(p.weeks[1].1)
        .bind(p.days[0].0)
        .bind(p.days[0].1)
        .bind(p.days[1].0)
        .bind(p.days[1].1)
}

fn top_row(r: &sqlx::any::AnyRow) -> AppResult<TopRow> {
    Ok(TopRow {
        key: col(r, "k")?,
        name_zh: col(r, "nz")?,
        name_en: col(r, "ne")?,
        qty: col(r, "qty")?,
        amount_fen: col(r, "amount")?,
    })
}

/// The stores (id, Chinese and English name), by id.
pub async fn stores(store: &Store) -> AppResult<Vec<(String, String, String)>> {
    let rows =
        sqlx::query("SELECT id, name_zh, name_en FROM locations WHERE kind = 'store' ORDER BY id")
            .fetch_all(store.reader())
            .await?;
    rows.iter()
        .map(|r| Ok((col(r, "id")?, col(r, "name_zh")?, col(r, "name_en")?)))
        .collect()
}

/// Sets (or clears) a SKU's cost (fen per selling unit, per kg for weighed SKUs), recorded in
/// the audit log as `sku.cost` by `actor`; false when there is no such SKU.
pub async fn set_cost(
    store: &Store,
    sku_id: &str,
    cost_fen: Option<i64>,
    actor: &str,
) -> AppResult<bool> {
    let mut tx = store.begin().await?;
    let changed = sqlx::query("UPDATE skus SET cost_fen = $1 WHERE id = $2")
        .bind(cost_fen)
        .bind(sku_id)
        .execute(&mut *tx)
        .await?
        .rows_affected()
        > 0;
    if changed {
        super::audit::record(
            &mut tx,
            actor,
            "sku.cost",
            "sku",
            sku_id,
            serde_json::json!({ "cost_fen": cost_fen }),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(changed)
}

/// The costs of a product's SKUs (SKU id → cost in fen; SKUs without a cost left out).
pub async fn product_costs(
    store: &Store,
    product_id: &str,
) -> AppResult<std::collections::HashMap<String, i64>> {
    let rows =
        sqlx::query("SELECT id, cost_fen FROM skus WHERE product_id = $1 AND cost_fen IS NOT NULL")
            .bind(product_id)
            .fetch_all(store.reader())
            .await?;
    rows.iter()
        .map(|r| Ok((col(r, "id")?, col(r, "cost_fen")?)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every day of the range is in exactly one piece, and nothing outside it.
    #[test]
    fn pieces_cover_the_range_once() {
        for from in 20_000..20_060 {
            for len in [1, 2, 6, 7, 8, 13, 27, 28, 29, 55, 56, 57, 90, 200, 366] {
                let to = from + len - 1;
                let p = pieces(from, to);
                let mut covered = vec![0; len as usize];
                let mut mark = |lo: i64, hi: i64, span: i64| {
                    let mut s = lo;
                    while s < hi {
                        assert_eq!(align_down(s, span), s, "{from}+{len}: {s} is a span start");
                        for d in s..s + span {
                            assert!(d >= from && d <= to, "{from}+{len}: day {d} outside");
                            covered[(d - from) as usize] += 1;
                        }
                        s += span;
                    }
                };
                mark(p.spans28.0, p.spans28.1, 28);
                for (lo, hi) in p.weeks {
                    mark(lo, hi, 7);
                }
                for (lo, hi) in p.days {
                    mark(lo, hi, 1);
                }
                assert!(covered.iter().all(|c| *c == 1), "{from}+{len}: {p:?}");
                let days: i64 = p.days.iter().map(|(a, b)| b - a).sum();
                assert!(days <= 12, "{from}+{len}: {days} single days");
            }
        }
    }
}
