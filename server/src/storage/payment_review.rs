//! What head office reviews about money: payments (order payments, and lane payments whose sale
//! has not reached the server) and refunds searched by order number, provider transaction id,
//! tender and date, and the payment alerts, listed and marked resolved.

use uuid::Uuid;

use super::{col, now_ms, Store, Tx};
use crate::error::{AppError, AppResult};

/// What to look for; every field narrows, `None` does not.
#[derive(Clone, Debug, Default)]
pub struct PaymentQuery {
    /// The order number contains this (upper-cased; `%`, `_` and `\` dropped).
    pub order_no: Option<String>,
    /// The provider's transaction id (a refund: its own refund id or its payment's transaction
    /// id), exactly.
    pub provider_ref: Option<String>,
    /// Only this tender (`wechat_pay`, `alipay`, `cash`, …).
    pub method: Option<String>,
    /// Created at or after (Unix ms).
    pub from_ms: Option<i64>,
    /// Created before (Unix ms).
    pub to_ms: Option<i64>,
    /// Skip this many.
    pub offset: i64,
    /// At most this many.
    pub limit: i64,
}

impl PaymentQuery {
    fn order_like(&self) -> Option<String> {
        self.order_no
            .as_ref()
            .map(|n| format!("%{}%", n.to_uppercase().replace(['%', '_', '\\'], "")))
    }
}

/// `sql` with `$1`…`$5` bound to the query's order number, provider id, tender and range.
fn filtered<'q>(
    sql: &'q str,
    q: &PaymentQuery,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    sqlx::query(sql)
        .bind(q.order_like())
        .bind(q.provider_ref.clone())
        .bind(q.method.clone())
        .bind(q.from_ms)
        .bind(q.to_ms)
}

/// A payment as head office sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PaymentRow {
    /// The payment's id (its `out_trade_no` at a provider, as 32 hex).
    pub id: Uuid,
    /// Its order, when it has one (a lane payment's sale may not have reached the server yet).
    pub order_id: Option<Uuid>,
    /// The order's number.
    pub order_no: Option<String>,
    /// The tender.
    pub method: String,
    /// How it was paid at a provider (`qr`, `jsapi`, `h5`, `code`), when known.
    pub scene: Option<String>,
    /// The amount (fen).
    pub amount_fen: i64,
    /// Refunded so far (fen).
    pub refunded_fen: i64,
    /// `pending`, `succeeded`, `refunded`, `closed`; a lane payment's own states otherwise.
    pub status: String,
    /// The provider's transaction id.
    pub provider_ref: Option<String>,
    /// True for a lane payment whose sale has not reached the server.
    pub at_lane: bool,
    /// True for a member's recharge of their stored balance (no order).
    pub recharge: bool,
    /// When it was paid (Unix ms).
    pub paid_at: Option<i64>,
    /// When it was started (Unix ms).
    pub created_at: i64,
}

fn opt_uuid(row: &sqlx::any::AnyRow, name: &str) -> AppResult<Option<Uuid>> {
    col::<Option<String>>(row, name)?
        .map(|s| Uuid::parse_str(&s))
        .transpose()
        .map_err(|e| AppError::Internal(anyhow::anyhow!("column {name}: {e}")))
}

/// Payments matching `q`, newest first, with how many match.
pub async fn payments(store: &Store, q: &PaymentQuery) -> AppResult<(Vec<PaymentRow>, i64)> {
    // Lane payments have no order number until their sale arrives, members' recharges none at
    // all: a search by order number leaves them out.
    let union = "SELECT p.id, p.order_id, o.order_no, p.method, p.scene, p.amount_fen, \
         p.refunded_fen, p.status, p.provider_ref, CAST(0 AS BIGINT) AS at_lane, p.paid_at, p.created_at \
         FROM payments p JOIN orders o ON o.id = p.order_id \
         WHERE ($1 IS NULL OR o.order_no LIKE $1) AND ($2 IS NULL OR p.provider_ref = $2) \
         AND ($3 IS NULL OR p.method = $3) AND ($4 IS NULL OR p.created_at >= $4) \
         AND ($5 IS NULL OR p.created_at < $5) \
         UNION ALL \
         SELECT lp.id, lp.order_id, NULL AS order_no, lp.method, lp.scene, lp.amount_fen, \
         CAST(0 AS BIGINT) AS refunded_fen, lp.status, lp.provider_ref, \
         CAST(1 AS BIGINT) AS at_lane, \
         CASE WHEN lp.status = 'succeeded' THEN lp.updated_at ELSE NULL END AS paid_at, \
         lp.created_at FROM lane_payments lp \
         WHERE NOT EXISTS (SELECT 1 FROM payments pp WHERE pp.id = lp.id) AND $1 IS NULL \
         AND ($2 IS NULL OR lp.provider_ref = $2) AND ($3 IS NULL OR lp.method = $3) \
         AND ($4 IS NULL OR lp.created_at >= $4) AND ($5 IS NULL OR lp.created_at < $5) \
         UNION ALL \
         SELECT rc.id, NULL AS order_id, NULL AS order_no, rc.method, rc.scene, rc.pay_fen AS amount_fen, \
         CAST(0 AS BIGINT) AS refunded_fen, rc.status, rc.provider_ref, \
         CAST(2 AS BIGINT) AS at_lane, rc.paid_at, rc.created_at FROM recharges rc \
         WHERE $1 IS NULL AND ($2 IS NULL OR rc.provider_ref = $2) AND ($3 IS NULL OR rc.method = $3) \
         AND ($4 IS NULL OR rc.created_at >= $4) AND ($5 IS NULL OR rc.created_at < $5)";
    let page = format!("{union} ORDER BY created_at DESC, id DESC LIMIT $6 OFFSET $7");
    let count = format!("SELECT COUNT(*) AS n FROM ({union}) found");
    super::fetch_page(
        store,
        filtered(&page, q)
            .bind(q.limit.max(1))
            .bind(q.offset.max(0)),
        filtered(&count, q),
        |r| {
            Ok(PaymentRow {
                id: super::uuid_col(r, "id")?,
                order_id: opt_uuid(r, "order_id")?,
                order_no: col(r, "order_no")?,
                method: col(r, "method")?,
                scene: col(r, "scene")?,
                amount_fen: col(r, "amount_fen")?,
                refunded_fen: col(r, "refunded_fen")?,
                status: col(r, "status")?,
                provider_ref: col(r, "provider_ref")?,
                at_lane: col::<i64>(r, "at_lane")? == 1,
                recharge: col::<i64>(r, "at_lane")? == 2,
                paid_at: col(r, "paid_at")?,
                created_at: col(r, "created_at")?,
            })
        },
    )
    .await
}

/// A refund as head office sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RefundRow {
    /// The refund's id (its `out_refund_no` at a provider, as 32 hex).
    pub id: Uuid,
    /// The payment refunded.
    pub payment_id: Uuid,
    /// Its order.
    pub order_id: Uuid,
    /// The order's number.
    pub order_no: String,
    /// The tender the money goes back to.
    pub method: String,
    /// The amount (fen).
    pub amount_fen: i64,
    /// `awaiting_approval`, `pending`, `processing`, `success`, `closed`, `abnormal`.
    pub state: String,
    /// What asked for it (`cancel`, `return`, `late_payment`, `after_sale`, `reversal`).
    pub source: String,
    /// Why.
    pub reason: String,
    /// The provider's refund id.
    pub provider_refund_id: Option<String>,
    /// The payment's transaction id at the provider.
    pub payment_provider_ref: Option<String>,
    /// When it was asked for (Unix ms).
    pub created_at: i64,
    /// Its last change (Unix ms).
    pub updated_at: i64,
}

/// Refunds matching `q`, newest first, with how many match.
pub async fn refunds(store: &Store, q: &PaymentQuery) -> AppResult<(Vec<RefundRow>, i64)> {
    let from = "FROM payment_refunds r JOIN orders o ON o.id = r.order_id \
         LEFT JOIN payments p ON p.id = r.payment_id \
         WHERE ($1 IS NULL OR o.order_no LIKE $1) \
         AND ($2 IS NULL OR r.provider_refund_id = $2 OR p.provider_ref = $2) \
         AND ($3 IS NULL OR r.method = $3) AND ($4 IS NULL OR r.created_at >= $4) \
         AND ($5 IS NULL OR r.created_at < $5)";
    let page = format!(
        "SELECT r.id, r.payment_id, r.order_id, o.order_no, r.method, r.amount_fen, r.state, \
         r.source, r.reason, r.provider_refund_id, p.provider_ref, r.created_at, r.updated_at \
         {from} ORDER BY r.created_at DESC, r.id DESC LIMIT $6 OFFSET $7"
    );
    let count = format!("SELECT COUNT(*) AS n {from}");
    super::fetch_page(
        store,
        filtered(&page, q)
            .bind(q.limit.max(1))
            .bind(q.offset.max(0)),
        filtered(&count, q),
        |r| {
            Ok(RefundRow {
                id: super::uuid_col(r, "id")?,
                payment_id: super::uuid_col(r, "payment_id")?,
                order_id: super::uuid_col(r, "order_id")?,
                order_no: col(r, "order_no")?,
                method: col(r, "method")?,
                amount_fen: col(r, "amount_fen")?,
                state: col(r, "state")?,
                source: col(r, "source")?,
                reason: col(r, "reason")?,
                provider_refund_id: col(r, "provider_refund_id")?,
                payment_provider_ref: col(r, "provider_ref")?,
                created_at: col(r, "created_at")?,
                updated_at: col(r, "updated_at")?,
            })
        },
    )
    .await
}

// ---------------------------------------------------------------------------------------------
// Alerts
// ---------------------------------------------------------------------------------------------

/// A payment alert (migration 0017, `payment_alerts`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AlertRow {
    /// Its id (what raised it: `<provider>:<notification id>`, `refund:<refund id>`, …).
    pub id: String,
    /// `late_payment`, `amount_mismatch`, `refund_failed`, `unknown_payment`, `reversal_failed`.
    pub kind: String,
    /// The provider it came from.
    pub provider: String,
    /// The payment, when known.
    pub payment_id: Option<String>,
    /// The order, when known.
    pub order_id: Option<Uuid>,
    /// The order's number, when known.
    pub order_no: Option<String>,
    /// What happened.
    pub detail: String,
    /// When it was raised (Unix ms).
    pub created_at: i64,
    /// When it was resolved (Unix ms).
    pub resolved_at: Option<i64>,
    /// Who resolved it.
    pub resolved_by: Option<String>,
}

/// Open alerts (`resolved` false) or resolved ones, newest first, `limit` from `offset`, with
/// how many there are.
pub async fn alerts(
    store: &Store,
    resolved: bool,
    offset: i64,
    limit: i64,
) -> AppResult<(Vec<AlertRow>, i64)> {
    let filter = if resolved {
        "a.resolved_at IS NOT NULL"
    } else {
        "a.resolved_at IS NULL"
    };
    let page = format!(
        "SELECT a.id, a.kind, a.provider, a.payment_id, a.order_id, o.order_no, a.detail, \
         a.created_at, a.resolved_at, a.resolved_by FROM payment_alerts a \
         LEFT JOIN orders o ON o.id = a.order_id WHERE {filter} \
         ORDER BY a.created_at DESC, a.id DESC LIMIT $1 OFFSET $2"
    );
    let count = format!("SELECT COUNT(*) AS n FROM payment_alerts a WHERE {filter}");
    super::fetch_page(
        store,
        sqlx::query(&page).bind(limit.max(1)).bind(offset.max(0)),
        sqlx::query(&count),
        |r| {
            Ok(AlertRow {
                id: col(r, "id")?,
                kind: col(r, "kind")?,
                provider: col(r, "provider")?,
                payment_id: col(r, "payment_id")?,
                order_id: opt_uuid(r, "order_id")?,
                order_no: col(r, "order_no")?,
                detail: col(r, "detail")?,
                created_at: col(r, "created_at")?,
                resolved_at: col(r, "resolved_at")?,
                resolved_by: col(r, "resolved_by")?,
            })
        },
    )
    .await
}

/// Marks an open alert resolved by `actor`, inside `tx`. `Ok(false)` when there is no such open
/// alert (unknown, or resolved already).
pub async fn resolve_alert(tx: &mut Tx, id: &str, actor: &str) -> AppResult<bool> {
    let done = sqlx::query(
        "UPDATE payment_alerts SET resolved_at = $1, resolved_by = $2 \
         WHERE id = $3 AND resolved_at IS NULL",
    )
    .bind(now_ms())
    .bind(actor)
    .bind(id.to_string())
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// True when the alert exists, whatever its state.
pub async fn alert_exists(tx: &mut Tx, id: &str) -> AppResult<bool> {
    let row = sqlx::query("SELECT id FROM payment_alerts WHERE id = $1")
        .bind(id)
        .fetch_optional(&mut **tx)
        .await?;
    Ok(row.is_some())
}
