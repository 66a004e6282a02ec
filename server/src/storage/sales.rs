//! POS sales (docs/DESIGN.md §5) and returns.
//!
//! **Sales.** A lane pushes batches of completed sales; `app::lane_sales::apply_push` applies a whole push in one
//! transaction. Each sale is claimed with `INSERT INTO orders … ON CONFLICT DO NOTHING RETURNING
//! id` (one multi-row statement for the push), so a sale pushed again — sequentially, or
//! concurrently from another connection, which waits on the unique index until the first commits —
//! is applied exactly once and answered `duplicate`. The claimed sales then get their member
//! effects (stored balance and points charged idempotently by payment id, points earned by sale
//! id), their lines, events and payments (multi-row inserts) and their `sale` stock movements
//! (never refused: on hand may go negative, docs/DESIGN.md §4).
//!
//! Locks are always taken in the same order — orders, then members (sorted by id), then stock
//! rows (sorted by SKU) — here and in [`create_return`], so concurrent pushes and returns do not
//! deadlock one another.
//!
//! **Returns.** [`create_return`] takes back units of a completed sale (or a collected or
//! delivered online order): refunds what was actually paid for the units, puts them back on the
//! shelf, reverses the earned points proportionally, gives back the returned share of stored
//! balance and redeemed points, and when everything has come back moves the order to
//! `after_sale` → `refunded`. Idempotent by the return's client id.

use std::collections::{HashMap, HashSet};

use retail_domain::money::Money;
use retail_domain::order::{Channel, Fulfilment, OrderStatus};
use retail_domain::points::{points_to_reverse, PointsRules};
use retail_domain::wire::sales::{
    PaymentMethod, PosSale, ReturnLineRequest, ReturnLineResult, ReturnResult, TenderRefund,
};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::orders::{OrderHead, OrderView};
use super::{col, from_ms, insert_rows, placeholders, uuid_col, Store, Tx, MAX_PARAMS};
use crate::error::AppResult;

/// Prefix of the server's order numbers for POS sales (`S20261123-8F3K2Q`).
pub const SALE_NUMBER_PREFIX: &str = "S";

/// Who pushes: the lane and its store.
#[derive(Clone, Debug)]
pub struct PushContext<'a> {
    /// The pushing device's store; every sale must belong to it.
    pub store_id: &'a str,
    /// The pushing device.
    pub device_id: Uuid,
    /// The device's actor name for ledgers (`device:…`).
    pub actor: &'a str,
    /// Points rules (earning).
    pub rules: &'a PointsRules,
}

/// An order found under a pushed sale's id.
#[derive(Clone, Debug)]
pub struct StoredSale {
    /// Its order number.
    pub order_no: String,
    /// Its channel (`pos` for a lane sale).
    pub channel: String,
    /// Its location.
    pub location_id: String,
    /// Points it earned.
    pub points_earned: i64,
}

/// The orders stored under these sale ids.
pub async fn stored_sales(tx: &mut Tx, ids: &[String]) -> AppResult<HashMap<Uuid, StoredSale>> {
    let rows = super::fetch_in(
        tx,
        "SELECT id, order_no, channel, location_id, points_earned FROM orders WHERE id IN ({})",
        ids,
    )
    .await?;
    let mut out = HashMap::with_capacity(rows.len());
    for row in &rows {
        out.insert(
            uuid_col(row, "id")?,
            StoredSale {
                order_no: col(row, "order_no")?,
                channel: col(row, "channel")?,
                location_id: col(row, "location_id")?,
                points_earned: col(row, "points_earned")?,
            },
        );
    }
    Ok(out)
}

const ORDER_COLUMNS: [&str; 18] = [
    "id",
    "order_no",
    "channel",
    "fulfilment",
    "status",
    "location_id",
    "member_id",
    "subtotal_fen",
    "discount_fen",
    "total_fen",
    "points_earned",
    "points_redeemed",
    "device_id",
    "cashier",
    "created_by",
    "client_ts",
    "created_at",
    "updated_at",
];

/// A pushed sale's order row to insert: the sale, the order number claimed for it and the
/// points it redeems.
#[derive(Clone, Copy, Debug)]
pub struct NewSaleOrder<'a> {
    /// The sale.
    pub sale: &'a PosSale,
    /// Its server order number.
    pub order_no: &'a str,
    /// Points redeemed by its `points` payments.
    pub points_redeemed: i64,
}

/// Inserts the order rows of `claims` (`ON CONFLICT DO NOTHING`) and answers the ids inserted.
pub async fn insert_orders(
    tx: &mut Tx,
    ctx: &PushContext<'_>,
    claims: &[NewSaleOrder<'_>],
    now: i64,
) -> AppResult<HashSet<Uuid>> {
    let mut inserted = HashSet::new();
    let per_chunk = MAX_PARAMS / ORDER_COLUMNS.len();
    let device_id = ctx.device_id.to_string();
    for chunk in claims.chunks(per_chunk) {
        let mut sql = format!("INSERT INTO orders ({}) VALUES ", ORDER_COLUMNS.join(", "));
        for i in 0..chunk.len() {
            if i > 0 {
                sql.push_str(", ");
            }
            sql.push('(');
            sql.push_str(&placeholders(
                1 + i * ORDER_COLUMNS.len(),
                ORDER_COLUMNS.len(),
            ));
            sql.push(')');
        }
        sql.push_str(" ON CONFLICT DO NOTHING RETURNING id");
        let mut query = sqlx::query(&sql);
        for claim in chunk {
            let sale = claim.sale;
            query = query
                .bind(sale.id.to_string())
                .bind(claim.order_no)
                .bind(Channel::Pos.as_str())
                .bind(Fulfilment::InStore.as_str())
                .bind(OrderStatus::Completed.as_str())
                .bind(ctx.store_id)
                .bind(sale.member_id.map(|m| m.to_string()))
                .bind(sale.subtotal.fen())
                .bind(sale.discount.fen())
                .bind(sale.total.fen())
                .bind(0_i64)
                .bind(claim.points_redeemed)
                .bind(device_id.as_str())
                .bind(sale.cashier.trim())
                .bind(ctx.actor)
                .bind(sale.completed_at.timestamp_millis())
                .bind(now)
                .bind(now);
        }
        for row in query.fetch_all(&mut **tx).await? {
            inserted.insert(uuid_col(&row, "id")?);
        }
    }
    Ok(inserted)
}

/// Records the points each sale earned: one `UPDATE … CASE` per chunk of sales.
pub async fn set_points_earned(tx: &mut Tx, earned: &[(String, i64)]) -> AppResult<()> {
    for chunk in earned.chunks(MAX_PARAMS / 3) {
        let mut cases = String::new();
        for i in 0..chunk.len() {
            cases.push_str(&format!(
                " WHEN ${} THEN CAST(${} AS BIGINT)",
                2 * i + 1,
                2 * i + 2
            ));
        }
        let sql = format!(
            "UPDATE orders SET points_earned = CASE id{cases} ELSE points_earned END WHERE id IN ({})",
            placeholders(2 * chunk.len() + 1, chunk.len())
        );
        let mut query = sqlx::query(&sql);
        for (id, points) in chunk {
            query = query.bind(id.as_str()).bind(*points);
        }
        for (id, _) in chunk {
            query = query.bind(id.as_str());
        }
        query.execute(&mut **tx).await?;
    }
    Ok(())
}

/// Writes the lines, the completion event and the payments of the applied sales (`applied`
/// indexes `sales`), several rows per statement; answers each applied sale's id as text.
pub async fn insert_sale_rows(
    tx: &mut Tx,
    ctx: &PushContext<'_>,
    sales: &[PosSale],
    applied: &[usize],
    qr_refs: &HashMap<Uuid, String>,
    now: i64,
) -> AppResult<HashMap<usize, String>> {
    let sale_ids: HashMap<usize, String> = applied
        .iter()
        .map(|&i| (i, sales[i].id.to_string()))
        .collect();
    let lines: Vec<(&str, &retail_domain::wire::sales::PosSaleLine)> = applied
        .iter()
        .flat_map(|i| sales[*i].lines.iter().map(move |l| (i, l)))
        .map(|(i, l)| (sale_ids[i].as_str(), l))
        .collect();
    insert_rows(
        tx,
        "order_lines",
        &[
            "order_id",
            "line_no",
            "sku_id",
            "name",
            "qty",
            "unit_price_fen",
            "discount_fen",
            "amount_fen",
        ],
        &lines,
        |q, (order_id, l)| {
            q.bind(*order_id)
                .bind(i64::from(l.line_no))
                .bind(l.sku_id.to_string())
                .bind(l.name.trim())
                .bind(l.qty)
                .bind(l.unit_price.fen())
                .bind(l.discount.fen())
                .bind(l.amount.fen())
        },
    )
    .await?;
    let events: Vec<(String, &str, i64, &str, &str)> = applied
        .iter()
        .map(|&i| {
            let sale = &sales[i];
            let reason = if sale.offline {
                "pos sale (offline)"
            } else {
                "pos sale"
            };
            (
                retail_domain::ids::new_id().to_string(),
                sale_ids[&i].as_str(),
                sale.completed_at.timestamp_millis().min(now),
                reason,
                ctx.actor,
            )
        })
        .collect();
    insert_rows(
        tx,
        "order_events",
        super::orders::ORDER_EVENT_COLUMNS,
        &events,
        |q, (id, order_id, at, reason, actor)| {
            q.bind(id.as_str())
                .bind(*order_id)
                .bind(None::<String>)
                .bind(OrderStatus::Completed.as_str())
                .bind(*actor)
                .bind(*reason)
                .bind(*at)
        },
    )
    .await?;
    let payments: Vec<(&str, &retail_domain::wire::sales::PosPayment)> = applied
        .iter()
        .flat_map(|i| sales[*i].payments.iter().map(move |p| (i, p)))
        .map(|(i, p)| (sale_ids[i].as_str(), p))
        .collect();
    insert_rows(
        tx,
        "payments",
        &[
            "id",
            "order_id",
            "method",
            "amount_fen",
            "status",
            "provider_ref",
            "created_at",
            "updated_at",
        ],
        &payments,
        move |q, (order_id, p)| {
            q.bind(p.id.to_string())
                .bind(*order_id)
                .bind(p.method.as_str())
                .bind(p.amount.fen())
                .bind("succeeded")
                .bind(
                    p.provider_ref
                        .clone()
                        .or_else(|| qr_refs.get(&p.id).cloned()),
                )
                .bind(now)
                .bind(now)
        },
    )
    .await?;
    Ok(sale_ids)
}

// ---------------------------------------------------------------------------------------------
// Returns.
// ---------------------------------------------------------------------------------------------

/// A return to record.
#[derive(Clone, Debug)]
pub struct NewReturn<'a> {
    /// Client id of the return.
    pub id: Uuid,
    /// The order.
    pub order_id: Uuid,
    /// Lines (validated: unique line numbers, positive quantities).
    pub lines: &'a [ReturnLineRequest],
    /// Why.
    pub reason: &'a str,
    /// Who approved it (user name).
    pub approved_by: &'a str,
    /// The cashier who rang it up (user name).
    pub cashier: &'a str,
    /// Give a delivery order's shipping fee back too when this return brings its last units
    /// back (after-sales decide when; lane and staff returns never do).
    pub refund_shipping: bool,
}

/// A sale with its returns.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct SaleView {
    /// The sale (order), its lines and status history.
    #[serde(flatten)]
    pub sale: OrderView,
    /// Its returns, oldest first.
    pub returns: Vec<ReturnResult>,
}

/// How the refunds of an order are split: the returned share of the stored-balance and points
/// payments goes back to the member, the rest through the original tender.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RefundBasis {
    total_fen: i64,
    balance_fen: i64,
    points_fen: i64,
    points_redeemed: i64,
    points_earned: i64,
    growth_earned: i64,
    /// What the points and growth were earned on: the total, or for points claimed from the
    /// receipt after the fact the amount left after the returns made before the claim.
    earned_on_fen: i64,
    /// Refunds made before the points were earned (a claimed sale's earlier returns): they
    /// take nothing back.
    refunded_before_earning_fen: i64,
    /// What each tender (every method but stored balance and points) paid, in the order refunds
    /// go back through them: electronic tenders first, cash last.
    tenders: Vec<(String, i64)>,
}

/// The cumulative split of `refunded` (all returns so far) into (tender, balance, points value,
/// points count), each non-decreasing in `refunded` and exactly the payments at a full refund.
/// So the split of one return — the difference of two cumulative splits — is never negative and
/// the returns of an order add up to its payments exactly.
pub fn split_refunded(basis: &RefundBasis, refunded: i64) -> (i64, i64, i64, i64) {
    let total = i128::from(basis.total_fen.max(0));
    let c = i128::from(refunded.max(0)).min(total);
    if total == 0 {
        return (0, 0, 0, 0);
    }
    let balance = i128::from(basis.balance_fen.max(0));
    let points = i128::from(basis.points_fen.max(0));
    let internal_total = (balance + points).min(total);
    let internal = internal_total * c / total;
    let points_value = if internal_total == 0 {
        0
    } else {
        points.min(internal_total) * internal / internal_total
    };
    let balance_value = internal - points_value;
    let points_count = if points == 0 {
        0
    } else {
        i128::from(basis.points_redeemed.max(0)) * points_value / points
    };
    let fit = |v: i128| i64::try_from(v).unwrap_or(0);
    (
        fit(c - internal),
        fit(balance_value),
        fit(points_value),
        fit(points_count),
    )
}

/// The cumulative split of the tender part of all returns so far (`tender_refunded`, the first
/// value of [`split_refunded`]) over the sale's tenders: each tender in turn up to what it paid
/// (electronic first, cash last), anything beyond (rounding) on the last one. Non-decreasing in
/// `tender_refunded` per tender, so one return's split is a difference of two of these.
pub fn split_tenders(basis: &RefundBasis, tender_refunded: i64) -> Vec<(String, i64)> {
    let mut left = tender_refunded.max(0);
    let mut out = Vec::with_capacity(basis.tenders.len() + 1);
    for (i, (method, paid)) in basis.tenders.iter().enumerate() {
        let take = if i + 1 == basis.tenders.len() {
            left
        } else {
            left.min((*paid).max(0))
        };
        out.push((method.clone(), take));
        left -= take;
    }
    if left > 0 {
        // No tender recorded (an order paid outside the payments table): back in cash.
        out.push((PaymentMethod::Cash.as_str().to_owned(), left));
    }
    out
}

/// What one return gives back through each tender: the difference of the cumulative tender
/// splits after and before it (tenders giving nothing back are left out).
pub fn tender_refunds(
    basis: &RefundBasis,
    tender_before: i64,
    tender_after: i64,
) -> Vec<TenderRefund> {
    let before: HashMap<String, i64> = split_tenders(basis, tender_before).into_iter().collect();
    split_tenders(basis, tender_after)
        .into_iter()
        .filter_map(|(method, after)| {
            let amount = after - before.get(&method).copied().unwrap_or(0);
            (amount > 0).then(|| TenderRefund {
                method,
                amount: Money::from_fen(amount),
            })
        })
        .collect()
}

/// Earned points and growth to have taken back once `refunded` of the order is refunded.
pub fn reversed_by(basis: &RefundBasis, refunded: i64) -> (i64, i64) {
    let base = Money::from_fen(basis.earned_on_fen);
    let refunded = Money::from_fen(refunded.saturating_sub(basis.refunded_before_earning_fen));
    (
        points_to_reverse(basis.points_earned, base, refunded),
        points_to_reverse(basis.growth_earned, base, refunded),
    )
}

/// What the refunds of an order are split by: its payments, the points it redeemed and earned,
/// and what a receipt claim earned them on.
pub async fn refund_basis(
    conn: &mut sqlx::AnyConnection,
    rules: &PointsRules,
    head: &OrderHead,
) -> AppResult<RefundBasis> {
    let rows = sqlx::query(
        "SELECT method, CAST(COALESCE(SUM(amount_fen), 0) AS BIGINT) AS total FROM payments \
         WHERE order_id = $1 AND status IN ('succeeded', 'refunded') GROUP BY method",
    )
    .bind(head.id.to_string())
    .fetch_all(&mut *conn)
    .await?;
    let mut basis = RefundBasis {
        total_fen: head.total_fen,
        points_redeemed: head.points_redeemed,
        points_earned: head.points_earned,
        earned_on_fen: head.total_fen,
        ..RefundBasis::default()
    };
    for row in &rows {
        let method: String = col(row, "method")?;
        let total: i64 = col(row, "total")?;
        match method.as_str() {
            "stored_balance" => basis.balance_fen = total,
            "points" => basis.points_fen = total,
            _ => basis.tenders.push((method, total)),
        }
    }
    basis
        .tenders
        .sort_by(|a, b| (a.0 == "cash", &a.0).cmp(&(b.0 == "cash", &b.0)));
    basis.growth_earned = if head.member_id.is_some() {
        rules.growth_for(Money::from_fen(
            head.total_fen.saturating_sub(basis.points_fen),
        ))
    } else {
        0
    };
    // Points claimed from the receipt after the fact were earned on what was left then.
    if let Some((base, refunded_before)) = super::receipts::claim_basis(conn, head.id).await? {
        basis.earned_on_fen = base;
        basis.refunded_before_earning_fen = refunded_before;
        basis.growth_earned = rules.growth_for(Money::from_fen(base));
    }
    Ok(basis)
}

/// The order a return id was recorded for, if it was.
pub async fn return_order(tx: &mut Tx, return_id: Uuid) -> AppResult<Option<Uuid>> {
    match sqlx::query("SELECT order_id FROM returns WHERE id = $1")
        .bind(return_id.to_string())
        .fetch_optional(&mut **tx)
        .await?
    {
        Some(row) => Ok(Some(uuid_col(&row, "order_id")?)),
        None => Ok(None),
    }
}

/// What each line of an order has refunded through returns so far, by line number.
pub async fn refunded_by_line(tx: &mut Tx, order_id: Uuid) -> AppResult<HashMap<i64, i64>> {
    let rows = sqlx::query(
        "SELECT rl.line_no, CAST(COALESCE(SUM(rl.refund_fen), 0) AS BIGINT) AS refunded \
         FROM return_lines rl JOIN returns r ON r.id = rl.return_id WHERE r.order_id = $1 GROUP BY rl.line_no",
    )
    .bind(order_id.to_string())
    .fetch_all(&mut **tx)
    .await?;
    let mut out = HashMap::new();
    for row in &rows {
        out.insert(col(row, "line_no")?, col(row, "refunded")?);
    }
    Ok(out)
}

/// An order's returns so far: (total refunded in fen, when the last was recorded).
pub async fn returns_total(tx: &mut Tx, order_id: Uuid) -> AppResult<(i64, i64)> {
    let row = sqlx::query(
        "SELECT CAST(COALESCE(SUM(refund_fen), 0) AS BIGINT) AS refunded, \
         CAST(COALESCE(MAX(created_at), 0) AS BIGINT) AS last_at FROM returns WHERE order_id = $1",
    )
    .bind(order_id.to_string())
    .fetch_one(&mut **tx)
    .await?;
    Ok((col(&row, "refunded")?, col(&row, "last_at")?))
}

/// Counts returned units on an order's line.
pub async fn add_returned_qty(
    tx: &mut Tx,
    order_id: Uuid,
    line_no: u32,
    qty: i64,
) -> AppResult<()> {
    sqlx::query(
        "UPDATE order_lines SET returned_qty = returned_qty + $1 WHERE order_id = $2 AND line_no = $3",
    )
    .bind(qty)
    .bind(order_id.to_string())
    .bind(i64::from(line_no))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// A return to write, with what it refunds.
#[derive(Clone, Debug)]
pub struct ReturnRecord<'a> {
    /// Client id.
    pub id: Uuid,
    /// The order.
    pub order_id: Uuid,
    /// Where the units come back.
    pub location_id: &'a str,
    /// Refunded in all (fen).
    pub refund_fen: i64,
    /// Points taken back.
    pub points_reversed: i64,
    /// Why.
    pub reason: &'a str,
    /// Who.
    pub actor: &'a str,
    /// Who approved it (user name).
    pub approved_by: &'a str,
    /// The cashier who rang it up (user name).
    pub cashier: &'a str,
    /// When (ms).
    pub created_at: i64,
    /// Its lines.
    pub lines: &'a [ReturnLineResult],
}

/// Writes a return and its lines.
pub async fn insert_return(tx: &mut Tx, record: &ReturnRecord<'_>) -> AppResult<()> {
    let return_id = record.id.to_string();
    sqlx::query(
        "INSERT INTO returns (id, order_id, location_id, refund_fen, points_reversed, reason, actor, client_ts, created_at, approved_by, cashier) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(&return_id)
    .bind(record.order_id.to_string())
    .bind(record.location_id)
    .bind(record.refund_fen)
    .bind(record.points_reversed)
    .bind(record.reason)
    .bind(record.actor)
    .bind(record.created_at)
    .bind(record.created_at)
    .bind(record.approved_by)
    .bind(record.cashier)
    .execute(&mut **tx)
    .await?;
    let rows: Vec<(&str, &ReturnLineResult)> = record
        .lines
        .iter()
        .map(|l| (return_id.as_str(), l))
        .collect();
    insert_rows(
        tx,
        "return_lines",
        &["return_id", "line_no", "qty", "refund_fen"],
        &rows,
        |q, (id, line)| {
            q.bind(*id)
                .bind(i64::from(line.line_no))
                .bind(line.qty)
                .bind(line.refund.fen())
        },
    )
    .await
}

/// The returns of an order, oldest first, with their refunds split as they were recorded.
pub async fn returns_of(
    store: &Store,
    rules: &PointsRules,
    order_id: Uuid,
) -> AppResult<Vec<ReturnResult>> {
    let pool = store.writer();
    let head = super::orders::head(pool, order_id).await?;
    let basis = refund_basis(&mut *pool.acquire().await?, rules, &head).await?;
    let rows = sqlx::query(
        "SELECT id, refund_fen, points_reversed, reason, actor, created_at, approved_by, cashier FROM returns \
         WHERE order_id = $1 ORDER BY created_at, id",
    )
    .bind(order_id.to_string())
    .fetch_all(pool)
    .await?;
    let line_rows = sqlx::query(
        "SELECT rl.return_id, rl.line_no, rl.qty, rl.refund_fen FROM return_lines rl \
         JOIN returns r ON r.id = rl.return_id WHERE r.order_id = $1 ORDER BY rl.return_id, rl.line_no",
    )
    .bind(order_id.to_string())
    .fetch_all(pool)
    .await?;
    let mut lines: HashMap<Uuid, Vec<ReturnLineResult>> = HashMap::new();
    for row in &line_rows {
        let line_no: i64 = col(row, "line_no")?;
        lines
            .entry(uuid_col(row, "return_id")?)
            .or_default()
            .push(ReturnLineResult {
                line_no: u32::try_from(line_no).unwrap_or(0),
                qty: col(row, "qty")?,
                refund: Money::from_fen(col(row, "refund_fen")?),
            });
    }
    let mut refunded = 0_i64;
    let mut out = Vec::with_capacity(rows.len());
    for row in &rows {
        let id = uuid_col(row, "id")?;
        let refund_fen: i64 = col(row, "refund_fen")?;
        let before = split_refunded(&basis, refunded);
        refunded += refund_fen;
        let after = split_refunded(&basis, refunded);
        let these_lines = lines.remove(&id).unwrap_or_default();
        out.push(ReturnResult {
            return_id: id,
            order_id,
            refund: Money::from_fen(refund_fen),
            shipping_refund: Money::from_fen(
                refund_fen - these_lines.iter().map(|l| l.refund.fen()).sum::<i64>(),
            ),
            balance_refunded: Money::from_fen(after.1 - before.1),
            points_refunded: after.3 - before.3,
            tender_refund: Money::from_fen(after.0 - before.0),
            tenders: tender_refunds(&basis, before.0, after.0),
            approved_by: col(row, "approved_by")?,
            cashier: col(row, "cashier")?,
            points_reversed: col(row, "points_reversed")?,
            reason: col(row, "reason")?,
            actor: col(row, "actor")?,
            created_at: from_ms(col(row, "created_at")?),
            lines: these_lines,
        });
    }
    Ok(out)
}

/// A sale (any order) with its returns; 404 when unknown.
pub async fn get_sale(store: &Store, rules: &PointsRules, id: Uuid) -> AppResult<SaleView> {
    let sale = super::orders::get(store, id).await?;
    let returns = returns_of(store, rules, id).await?;
    Ok(SaleView { sale, returns })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basis(total: i64, balance: i64, points: i64, redeemed: i64) -> RefundBasis {
        RefundBasis {
            total_fen: total,
            balance_fen: balance,
            points_fen: points,
            points_redeemed: redeemed,
            earned_on_fen: total,
            ..RefundBasis::default()
        }
    }

    #[test]
    fn claimed_points_come_back_on_what_they_were_earned_on() {
        // ¥100.00 sold without a member, ¥40.00 returned, then 60 points claimed on ¥60.00.
        let claimed = RefundBasis {
            points_earned: 60,
            growth_earned: 60,
            earned_on_fen: 6_000,
            refunded_before_earning_fen: 4_000,
            ..basis(10_000, 0, 0, 0)
        };
        // The earlier return takes nothing back; half of the rest takes half; all of it all.
        assert_eq!(reversed_by(&claimed, 4_000), (0, 0));
        assert_eq!(reversed_by(&claimed, 7_000), (30, 30));
        assert_eq!(reversed_by(&claimed, 10_000), (60, 60));
        // A member sale: proportionally to the total.
        let member = RefundBasis {
            points_earned: 100,
            growth_earned: 100,
            ..basis(10_000, 0, 0, 0)
        };
        assert_eq!(reversed_by(&member, 2_500), (25, 25));
        assert_eq!(reversed_by(&member, 10_000), (100, 100));
    }

    #[test]
    fn split_is_monotone_and_exact() {
        for b in [
            basis(3, 1, 2, 200),
            basis(10_000, 3_000, 2_000, 2_000),
            basis(999, 0, 0, 0),
            basis(7, 7, 0, 0),
        ] {
            let mut last = (0, 0, 0, 0);
            for c in 0..=b.total_fen.min(2_000) {
                let s = split_refunded(&b, c);
                assert_eq!(s.0 + s.1 + s.2, c);
                assert!(
                    s.0 >= last.0 && s.1 >= last.1 && s.2 >= last.2 && s.3 >= last.3,
                    "{b:?} at {c}"
                );
                last = s;
            }
            let full = split_refunded(&b, b.total_fen);
            assert_eq!(
                (full.1, full.2, full.3),
                (b.balance_fen, b.points_fen, b.points_redeemed)
            );
        }
    }
}
