//! Refunds of provider payments (`payment_refunds`), their notifications, and the alerts head
//! office looks at (`payment_alerts`).
//!
//! A refund row is written in the transaction that decides it (an order cancelled, a return, a
//! payment that came late), with the payment's `refunded_fen` raised by its amount there, so two
//! refunds can never give back more than was paid. The row is then sent to the provider outside
//! any transaction and tracked until the provider calls it final. A refund waiting for approval
//! is approved ([`approve_in_tx`], then sent) or rejected ([`reject_in_tx`]: `closed` at once,
//! never sent, its amount refundable again; who and why kept, migration 0021).

use retail_domain::money::Money;
use serde::Serialize;
use sqlx::any::AnyRow;
use utoipa::ToSchema;
use uuid::Uuid;

use super::paging::{self, Cursor, Order, Page};
use super::{col, now_ms, uuid_col, Store, Tx};
use crate::error::{AppError, AppResult};

/// What asked for a refund.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RefundSource {
    /// A paid order was cancelled.
    Cancel,
    /// Goods came back (a lane or an online return).
    Return,
    /// The money arrived after its order was cancelled or paid otherwise.
    LatePayment,
    /// An after-sale request of the shopper's.
    AfterSale,
}

impl RefundSource {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            RefundSource::Cancel => "cancel",
            RefundSource::Return => "return",
            RefundSource::LatePayment => "late_payment",
            RefundSource::AfterSale => "after_sale",
        }
    }
}

/// A refund's state (see migration 0017).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RefundStatus {
    /// Above the approval threshold: waits for a store manager.
    AwaitingApproval,
    /// To be sent to the provider (retried until it answers).
    Pending,
    /// Accepted by the provider; money on its way.
    Processing,
    /// Paid back.
    Success,
    /// Closed by the provider without paying out.
    Closed,
    /// Stuck at the provider: needs a person.
    Abnormal,
}

impl RefundStatus {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            RefundStatus::AwaitingApproval => "awaiting_approval",
            RefundStatus::Pending => "pending",
            RefundStatus::Processing => "processing",
            RefundStatus::Success => "success",
            RefundStatus::Closed => "closed",
            RefundStatus::Abnormal => "abnormal",
        }
    }

    /// True once the provider has called it final.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            RefundStatus::Success | RefundStatus::Closed | RefundStatus::Abnormal
        )
    }
}

impl std::str::FromStr for RefundStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "awaiting_approval" => RefundStatus::AwaitingApproval,
            "pending" => RefundStatus::Pending,
            "processing" => RefundStatus::Processing,
            "success" => RefundStatus::Success,
            "closed" => RefundStatus::Closed,
            "abnormal" => RefundStatus::Abnormal,
            other => return Err(format!("unknown refund state {other:?}")),
        })
    }
}

/// A refund as stored.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Refund {
    /// Our refund id (the provider's `out_refund_no`, as 32 hex digits).
    pub id: Uuid,
    /// The payment refunded.
    pub payment_id: Uuid,
    /// Its order.
    pub order_id: Uuid,
    /// The tender (`wechat_pay`, `alipay`, `sandbox_qr`).
    pub method: String,
    /// Amount.
    pub amount: Money,
    /// Why (shown to the payer).
    pub reason: String,
    /// What asked for it: `cancel`, `return`, `late_payment`, `after_sale`.
    pub source: String,
    /// The return (or after-sale) it belongs to.
    pub source_id: Option<String>,
    /// Where it stands.
    pub state: RefundStatus,
    /// The provider's refund id once it has one.
    pub provider_refund_id: Option<String>,
    /// Who asked.
    pub requested_by: String,
    /// Who approved it (above the threshold, or the return's approver).
    pub approved_by: Option<String>,
    /// Who rejected it instead of approving it (then it is `closed`, never sent).
    pub rejected_by: Option<String>,
    /// Why it was rejected.
    pub rejected_reason: Option<String>,
    /// Sends tried.
    pub attempts: i64,
    /// The last failure to reach the provider.
    pub last_error: Option<String>,
    /// When it was asked for (Unix ms).
    pub created_at: i64,
    /// Last change (Unix ms).
    pub updated_at: i64,
}

const SELECT: &str = "SELECT id, payment_id, order_id, method, amount_fen, reason, source, \
     source_id, state, provider_refund_id, requested_by, approved_by, rejected_by, \
     rejected_reason, attempts, last_error, created_at, updated_at FROM payment_refunds";

fn refund(row: &AnyRow) -> AppResult<Refund> {
    Ok(Refund {
        id: uuid_col(row, "id")?,
        payment_id: uuid_col(row, "payment_id")?,
        order_id: uuid_col(row, "order_id")?,
        method: col(row, "method")?,
        amount: Money::from_fen(col(row, "amount_fen")?),
        reason: col(row, "reason")?,
        source: col(row, "source")?,
        source_id: col(row, "source_id")?,
        state: super::parse_col(row, "state")?,
        provider_refund_id: col(row, "provider_refund_id")?,
        requested_by: col(row, "requested_by")?,
        approved_by: col(row, "approved_by")?,
        rejected_by: col(row, "rejected_by")?,
        rejected_reason: col(row, "rejected_reason")?,
        attempts: col(row, "attempts")?,
        last_error: col(row, "last_error")?,
        created_at: col(row, "created_at")?,
        updated_at: col(row, "updated_at")?,
    })
}

/// A refund to record.
#[derive(Clone, Debug)]
pub struct NewRefund<'a> {
    /// Its id (client id or made by the server).
    pub id: Uuid,
    /// The payment.
    pub payment_id: Uuid,
    /// The payment's order.
    pub order_id: Uuid,
    /// The payment's tender.
    pub method: &'a str,
    /// Amount in fen (positive).
    pub amount_fen: i64,
    /// Why.
    pub reason: &'a str,
    /// What asked.
    pub source: RefundSource,
    /// The return or after-sale it belongs to.
    pub source_id: Option<&'a str>,
    /// `pending` or `awaiting_approval`.
    pub state: RefundStatus,
    /// Who asked.
    pub requested_by: &'a str,
    /// Who approved it already.
    pub approved_by: Option<&'a str>,
}

/// Records a refund and raises its payment's `refunded_fen`, in the caller's transaction. A
/// retry with the same id answers the refund recorded first and changes nothing; a refund that
/// would give back more than the payment has left is refused (409 `refund_exceeds_payment`).
pub async fn insert_in_tx(tx: &mut Tx, new: &NewRefund<'_>) -> AppResult<Refund> {
    if let Some(row) = sqlx::query(&format!("{SELECT} WHERE id = $1"))
        .bind(new.id.to_string())
        .fetch_optional(&mut **tx)
        .await?
    {
        return refund(&row);
    }
    let raised = sqlx::query(
        "UPDATE payments SET refunded_fen = refunded_fen + $1, \
         status = CASE WHEN refunded_fen + $1 >= amount_fen THEN 'refunded' ELSE status END, \
         updated_at = $2 \
         WHERE id = $3 AND status IN ('succeeded', 'refunded') AND refunded_fen + $1 <= amount_fen",
    )
    .bind(new.amount_fen)
    .bind(now_ms())
    .bind(new.payment_id.to_string())
    .execute(&mut **tx)
    .await?
    .rows_affected();
    if raised == 0 {
        return Err(AppError::conflict(
            "refund_exceeds_payment",
            format!(
                "payment {} has less than {} left to refund",
                new.payment_id,
                Money::from_fen(new.amount_fen)
            ),
        ));
    }
    let now = now_ms();
    sqlx::query(
        "INSERT INTO payment_refunds (id, payment_id, order_id, method, amount_fen, reason, \
         source, source_id, state, requested_by, approved_by, attempts, next_try_at, created_at, \
         updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 0, $12, $12, $12)",
    )
    .bind(new.id.to_string())
    .bind(new.payment_id.to_string())
    .bind(new.order_id.to_string())
    .bind(new.method)
    .bind(new.amount_fen)
    .bind(new.reason)
    .bind(new.source.as_str())
    .bind(new.source_id)
    .bind(new.state.as_str())
    .bind(new.requested_by)
    .bind(new.approved_by)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    get_in_tx(tx, new.id).await
}

/// One refund.
pub async fn get(store: &Store, id: Uuid) -> AppResult<Option<Refund>> {
    sqlx::query(&format!("{SELECT} WHERE id = $1"))
        .bind(id.to_string())
        .fetch_optional(store.writer())
        .await?
        .as_ref()
        .map(refund)
        .transpose()
}

/// The refunds with these ids that exist (for the change feed).
pub async fn get_many(store: &Store, ids: &[Uuid]) -> AppResult<Vec<Refund>> {
    let keys: Vec<String> = ids.iter().map(Uuid::to_string).collect();
    super::rows_by_keys(store, SELECT, "id", "", &keys)
        .await?
        .iter()
        .map(refund)
        .collect()
}

/// One refund that exists, in the caller's transaction.
async fn get_in_tx(tx: &mut Tx, id: Uuid) -> AppResult<Refund> {
    let row = sqlx::query(&format!("{SELECT} WHERE id = $1"))
        .bind(id.to_string())
        .fetch_one(&mut **tx)
        .await?;
    refund(&row)
}

/// The refunds of an order, oldest first.
pub async fn of_order(store: &Store, order_id: Uuid) -> AppResult<Vec<Refund>> {
    sqlx::query(&format!(
        "{SELECT} WHERE order_id = $1 ORDER BY created_at, id"
    ))
    .bind(order_id.to_string())
    .fetch_all(store.reader())
    .await?
    .iter()
    .map(refund)
    .collect()
}

/// Refunds due to be sent (`pending`, their next try due) and refunds the provider has had for
/// a while without a final word (`processing`, not touched for `stale_ms`), oldest first.
pub async fn due(store: &Store, now: i64, stale_ms: i64, limit: i64) -> AppResult<Vec<Refund>> {
    sqlx::query(&format!(
        "{SELECT} WHERE (state = 'pending' AND next_try_at <= $1) \
         OR (state = 'processing' AND updated_at <= $2) ORDER BY updated_at, id LIMIT $3"
    ))
    .bind(now)
    .bind(now - stale_ms)
    .bind(limit)
    .fetch_all(store.reader())
    .await?
    .iter()
    .map(refund)
    .collect()
}

/// A refund waiting for approval, with what a person deciding on it needs of its order.
#[derive(Clone, Debug)]
pub struct AwaitingRefund {
    /// The refund.
    pub refund: Refund,
    /// The order's number.
    pub order_no: String,
    /// The order's store (location code).
    pub location_id: String,
}

/// The `WHERE` of the approval queue: waiting refunds, of one store's orders when `$1` is set.
const AWAITING: &str = "FROM payment_refunds r JOIN orders o ON o.id = r.order_id \
     WHERE r.state = 'awaiting_approval' AND ($1 IS NULL OR o.location_id = $1)";

/// A page of the refunds waiting for approval, oldest first (keyset on request time then id,
/// from `cursor`): of the orders of `location` (a store code), or of every store when `None`.
pub async fn awaiting_approval(
    store: &Store,
    location: Option<&str>,
    cursor: Option<&Cursor>,
    limit: i64,
) -> AppResult<Page<AwaitingRefund>> {
    let rows = paging::bind(
        sqlx::query(&format!(
            "SELECT r.id, r.payment_id, r.order_id, r.method, r.amount_fen, r.reason, r.source, \
             r.source_id, r.state, r.provider_refund_id, r.requested_by, r.approved_by, \
             r.rejected_by, r.rejected_reason, r.attempts, r.last_error, r.created_at, r.updated_at, \
             o.order_no, o.location_id {AWAITING} AND {} {} LIMIT $2",
            paging::after("r.created_at", "r.id", 3, Order::Asc),
            paging::order_by("r.created_at", "r.id", Order::Asc),
        ))
        .bind(location)
        .bind(paging::fetch_limit(limit)),
        cursor,
    )
    .fetch_all(store.reader())
    .await?;
    let rows = rows
        .iter()
        .map(|row| {
            Ok(AwaitingRefund {
                refund: refund(row)?,
                order_no: col(row, "order_no")?,
                location_id: col(row, "location_id")?,
            })
        })
        .collect::<AppResult<Vec<_>>>()?;
    Ok(paging::page(rows, limit, |w| {
        Cursor::new(w.refund.created_at, w.refund.id)
    }))
}

/// How many refunds wait for approval: of the orders of `location`, or of every store.
pub async fn count_awaiting_approval(store: &Store, location: Option<&str>) -> AppResult<i64> {
    let row = sqlx::query(&format!("SELECT COUNT(*) AS n {AWAITING}"))
        .bind(location)
        .fetch_one(store.reader())
        .await?;
    col(&row, "n")
}

/// Moves a refund awaiting approval to `pending` (due at once), naming the approver, in the
/// caller's transaction; false when it was not awaiting approval (approved or rejected
/// meanwhile).
pub async fn approve_in_tx(tx: &mut Tx, id: Uuid, approver: &str) -> AppResult<bool> {
    let now = now_ms();
    Ok(sqlx::query(
        "UPDATE payment_refunds SET state = 'pending', approved_by = $1, next_try_at = $2, \
         updated_at = $2 WHERE id = $3 AND state = 'awaiting_approval'",
    )
    .bind(approver)
    .bind(now)
    .bind(id.to_string())
    .execute(&mut **tx)
    .await?
    .rows_affected()
        == 1)
}

/// Rejects a refund awaiting approval, in the caller's transaction: `closed` at once (never
/// sent), who rejected it and why kept, and its amount given back to its payment's refundable
/// balance. Answers the refund after the change, or `None` when it was not awaiting approval
/// (approved or rejected meanwhile; nothing changed).
pub async fn reject_in_tx(
    tx: &mut Tx,
    id: Uuid,
    rejecter: &str,
    reason: &str,
) -> AppResult<Option<Refund>> {
    let now = now_ms();
    let updated = sqlx::query(
        "UPDATE payment_refunds SET state = 'closed', rejected_by = $1, rejected_reason = $2, \
         next_try_at = NULL, updated_at = $3 WHERE id = $4 AND state = 'awaiting_approval'",
    )
    .bind(rejecter)
    .bind(reason)
    .bind(now)
    .bind(id.to_string())
    .execute(&mut **tx)
    .await?
    .rows_affected();
    if updated == 0 {
        return Ok(None);
    }
    let found = get_in_tx(tx, id).await?;
    give_back_in_tx(tx, &found, now).await?;
    Ok(Some(found))
}

/// Lowers a refund's payment's `refunded_fen` by its amount (a refund that paid nothing out):
/// the amount is refundable again.
async fn give_back_in_tx(tx: &mut Tx, refund: &Refund, now: i64) -> AppResult<()> {
    sqlx::query(
        "UPDATE payments SET refunded_fen = refunded_fen - $1, \
         status = CASE WHEN status = 'refunded' THEN 'succeeded' ELSE status END, \
         updated_at = $2 WHERE id = $3",
    )
    .bind(refund.amount.fen())
    .bind(now)
    .bind(refund.payment_id.to_string())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Records what the provider said of a refund. A final state is kept once reached (a late
/// "processing" changes nothing); a `closed` refund gives its amount back to the payment's
/// refundable balance. Answers the refund after the change, or `None` when it was final
/// already (nothing changed).
pub async fn set_state(
    store: &Store,
    id: Uuid,
    state: RefundStatus,
    provider_refund_id: Option<&str>,
) -> AppResult<Option<Refund>> {
    let mut tx = store.begin().await?;
    let changed = set_state_in_tx(&mut tx, id, state, provider_refund_id).await?;
    tx.commit().await?;
    Ok(changed)
}

/// [`set_state`] in the caller's transaction.
pub async fn set_state_in_tx(
    tx: &mut Tx,
    id: Uuid,
    state: RefundStatus,
    provider_refund_id: Option<&str>,
) -> AppResult<Option<Refund>> {
    let now = now_ms();
    let updated = sqlx::query(
        "UPDATE payment_refunds SET state = $1, \
         provider_refund_id = COALESCE($2, provider_refund_id), last_error = NULL, \
         updated_at = $3 \
         WHERE id = $4 AND state NOT IN ('success', 'closed', 'abnormal')",
    )
    .bind(state.as_str())
    .bind(provider_refund_id)
    .bind(now)
    .bind(id.to_string())
    .execute(&mut **tx)
    .await?
    .rows_affected();
    if updated == 0 {
        return Ok(None);
    }
    let found = get_in_tx(tx, id).await?;
    if state == RefundStatus::Closed {
        give_back_in_tx(tx, &found, now).await?;
    }
    Ok(Some(found))
}

/// Records a failed send: tried once more, next try at `next_try_at`.
pub async fn record_failure(
    store: &Store,
    id: Uuid,
    error: &str,
    next_try_at: i64,
) -> AppResult<()> {
    sqlx::query(
        "UPDATE payment_refunds SET attempts = attempts + 1, last_error = $1, next_try_at = $2, \
         updated_at = $3 WHERE id = $4 AND state = 'pending'",
    )
    .bind(error.chars().take(500).collect::<String>())
    .bind(next_try_at)
    .bind(now_ms())
    .bind(id.to_string())
    .execute(store.writer())
    .await?;
    Ok(())
}

/// Marks a processing refund as looked at now (its provider query gave no final word).
pub async fn touch(store: &Store, id: Uuid) -> AppResult<()> {
    sqlx::query("UPDATE payment_refunds SET updated_at = $1 WHERE id = $2")
        .bind(now_ms())
        .bind(id.to_string())
        .execute(store.writer())
        .await?;
    Ok(())
}

/// Records a refund notification's id; false when it was taken before (a retry).
pub async fn record_notification(tx: &mut Tx, notify_id: &str, refund_id: Uuid) -> AppResult<bool> {
    Ok(sqlx::query(
        "INSERT INTO refund_notifications (notify_id, refund_id, received_at) VALUES ($1, $2, $3) \
         ON CONFLICT (notify_id) DO NOTHING",
    )
    .bind(notify_id)
    .bind(refund_id.to_string())
    .bind(now_ms())
    .execute(&mut **tx)
    .await?
    .rows_affected()
        == 1)
}

/// What kind of thing an alert is about (see migration 0017).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AlertKind {
    /// Money arrived for an order that was cancelled or paid otherwise (refunded
    /// automatically).
    LatePayment,
    /// A notified amount or currency differs from ours (nothing applied).
    AmountMismatch,
    /// A refund the provider closed, called abnormal or refused.
    RefundFailed,
    /// A verified notification for a payment this server does not know.
    UnknownPayment,
    /// A payment-code reversal that did not go through.
    ReversalFailed,
}

impl AlertKind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertKind::LatePayment => "late_payment",
            AlertKind::AmountMismatch => "amount_mismatch",
            AlertKind::RefundFailed => "refund_failed",
            AlertKind::UnknownPayment => "unknown_payment",
            AlertKind::ReversalFailed => "reversal_failed",
        }
    }
}

/// An alert to raise.
#[derive(Clone, Debug)]
pub struct NewAlert<'a> {
    /// Its id: derived from what raised it, so the same cause raises it once.
    pub id: String,
    /// Kind.
    pub kind: AlertKind,
    /// The provider (`wechat_pay`, `alipay`, `sandbox`).
    pub provider: &'a str,
    /// The payment, when known.
    pub payment_id: Option<String>,
    /// The order, when known.
    pub order_id: Option<Uuid>,
    /// What happened, for a person.
    pub detail: String,
}

/// Raises an alert (once per id), in the caller's transaction.
pub async fn raise_alert_in_tx(tx: &mut Tx, alert: &NewAlert<'_>) -> AppResult<()> {
    sqlx::query(
        "INSERT INTO payment_alerts (id, kind, provider, payment_id, order_id, detail, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (id) DO NOTHING",
    )
    .bind(&alert.id)
    .bind(alert.kind.as_str())
    .bind(alert.provider)
    .bind(alert.payment_id.as_deref())
    .bind(alert.order_id.map(|o| o.to_string()))
    .bind(alert.detail.chars().take(1000).collect::<String>())
    .bind(now_ms())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Raises an alert (once per id) on its own.
pub async fn raise_alert(store: &Store, alert: &NewAlert<'_>) -> AppResult<()> {
    let mut tx = store.begin().await?;
    raise_alert_in_tx(&mut tx, alert).await?;
    tx.commit().await?;
    Ok(())
}
