//! The records of a daily settlement (finance export): the money that moved on one day, each
//! record with the store it belongs to. Payments and refunds are dated exactly as the
//! reconciliation dates them ([`super::reconciliation::ours_of_day`]), so a day's settlement and
//! its reconciliation add up to the same figures per tender.

use super::{col, Store};
use crate::error::AppResult;

/// One money record of a day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettlementRecord {
    /// `payment`, `refund` or `commission`.
    pub kind: String,
    /// The payment's, refund's or ledger row's id.
    pub id: String,
    /// The tender (`wechat_pay`, `alipay`, `cash`, `stored_balance`, …); empty for a commission.
    pub method: String,
    /// The store (location code) it belongs to; `None` when it belongs to no store (a member's
    /// recharge).
    pub store_id: Option<String>,
    /// The merchant whose order it is (every line of the order one of its products); `platform`
    /// for the operator's own orders, orders of several merchants' goods and money of no order.
    pub merchant_id: String,
    /// Its order, if any.
    pub order_id: Option<String>,
    /// The order's number, if any.
    pub order_no: Option<String>,
    /// Amount in fen: a payment positive, a refund positive (money out), a commission the
    /// distributor's share (a reversal negative).
    pub amount_fen: i64,
    /// When it is dated (Unix ms).
    pub at_ms: i64,
    /// The provider's transaction or refund id, when known.
    pub provider_ref: Option<String>,
}

/// The merchant of the order `o`: the one merchant of all its lines' products, else (several
/// merchants' goods, or no lines) `platform`.
const ORDER_MERCHANT: &str =
    "COALESCE((SELECT CASE WHEN MIN(pr.merchant_id) = MAX(pr.merchant_id) \
     THEN MIN(pr.merchant_id) ELSE 'platform' END FROM order_lines ol \
     JOIN skus s ON s.id = ol.sku_id JOIN products pr ON pr.id = s.product_id \
     WHERE ol.order_id = o.id), 'platform')";

/// Every payment, refund and commission record dated in `[from_ms, to_ms)`, in time order:
/// order payments and recharges by when they were paid, lane payments whose sale has not reached
/// the server by when they succeeded, refunds the provider accepted or made by when they
/// succeeded or (still processing) were asked for — the reconciliation's rules, for every tender
/// — and commission (distribution ledger `commission` and `reversal` rows) by when it was booked.
pub async fn records_of_day(
    store: &Store,
    from_ms: i64,
    to_ms: i64,
) -> AppResult<Vec<SettlementRecord>> {
    let sql = format!(
        "SELECT 'payment' AS kind, p.id, p.method, o.location_id AS store_id, \
         {ORDER_MERCHANT} AS merchant_id, p.order_id, o.order_no, p.amount_fen, p.paid_at AS at, \
         COALESCE(p.provider_ref, (SELECT t.provider_ref FROM payment_trades t \
                                   WHERE t.id = p.trade_id)) AS provider_ref \
         FROM payments p JOIN orders o ON o.id = p.order_id \
         WHERE p.paid_at IS NOT NULL AND p.paid_at >= $1 AND p.paid_at < $2 \
         UNION ALL SELECT 'payment', lp.id, lp.method, lp.location_id, 'platform', NULL, NULL, \
         lp.amount_fen, \
         lp.updated_at, lp.provider_ref FROM lane_payments lp \
         WHERE lp.status = 'succeeded' AND lp.order_id IS NULL \
         AND NOT EXISTS (SELECT 1 FROM payments pp WHERE pp.id = lp.id) \
         AND lp.updated_at >= $1 AND lp.updated_at < $2 \
         UNION ALL SELECT 'payment', rc.id, rc.method, NULL, 'platform', NULL, NULL, rc.pay_fen, \
         rc.paid_at, \
         rc.provider_ref FROM recharges rc \
         WHERE rc.status = 'paid' AND rc.paid_at >= $1 AND rc.paid_at < $2 \
         UNION ALL SELECT 'refund', r.id, r.method, o.location_id, {ORDER_MERCHANT}, r.order_id, \
         o.order_no, \
         r.amount_fen, CASE WHEN r.state = 'success' THEN r.updated_at ELSE r.created_at END, \
         r.provider_refund_id FROM payment_refunds r JOIN orders o ON o.id = r.order_id \
         WHERE (r.state = 'success' AND r.updated_at >= $1 AND r.updated_at < $2) \
         OR (r.state = 'processing' AND r.created_at >= $1 AND r.created_at < $2) \
         UNION ALL SELECT 'commission', d.id, '', o.location_id, {ORDER_MERCHANT}, d.order_id, \
         o.order_no, \
         d.frozen_fen + d.available_fen, d.created_at, NULL \
         FROM distribution_ledger d JOIN orders o ON o.id = d.order_id \
         WHERE d.kind IN ('commission', 'reversal') AND d.created_at >= $1 AND d.created_at < $2 \
         ORDER BY at, kind, id"
    );
    let rows = sqlx::query(&sql)
        .bind(from_ms)
        .bind(to_ms)
        .fetch_all(store.reader())
        .await?;
    rows.iter()
        .map(|row| {
            Ok(SettlementRecord {
                kind: col(row, "kind")?,
                id: col(row, "id")?,
                method: col(row, "method")?,
                store_id: col(row, "store_id")?,
                merchant_id: col(row, "merchant_id")?,
                order_id: col(row, "order_id")?,
                order_no: col(row, "order_no")?,
                amount_fen: col(row, "amount_fen")?,
                at_ms: col(row, "at")?,
                provider_ref: col(row, "provider_ref")?,
            })
        })
        .collect()
}
