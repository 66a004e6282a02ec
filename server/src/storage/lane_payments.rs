//! Provider payments taken at a checkout lane (issues 3 and 14): the QR intent a lane asks for
//! while the sale is still being rung up, or a payment code (付款码) the server charges for the
//! lane; the provider's notification or answer that settles it, a cancel or reversal from the
//! lane, and the check made when the sale arrives with its push.
//!
//! The intent is not an order payment: the sale is not on the server yet (it is pushed later,
//! maybe in a batch, maybe after the lane was offline for a while). The row in `payments` that
//! counts the money appears only when the sale is applied, with the same id, and the intent
//! remembers that sale (`order_id`), so the money is counted once.

use std::collections::HashMap;

use retail_domain::money::Money;
use retail_domain::wire::sales::{LanePayment, LanePaymentStatus, PaymentMethod};
use sqlx::any::AnyRow;
use uuid::Uuid;

use super::{col, now_ms, parse_col, placeholders, uuid_col, Store, Tx, MAX_PARAMS};
use crate::error::{AppError, AppResult};

/// How a lane payment is paid.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LanePaymentScene {
    /// The shopper scans a QR code (the sandbox's page, WeChat Native, Alipay precreate).
    Qr,
    /// The lane scanned the shopper's payment code and the server charged it.
    Code,
}

impl LanePaymentScene {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Qr => "qr",
            Self::Code => "code",
        }
    }
}

impl std::str::FromStr for LanePaymentScene {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "qr" => Ok(Self::Qr),
            "code" => Ok(Self::Code),
            other => Err(format!("unknown lane payment scene {other:?}")),
        }
    }
}

/// A lane payment as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LanePaymentRecord {
    /// Payment id.
    pub id: Uuid,
    /// The sale it pays.
    pub sale_id: Uuid,
    /// The store.
    pub location_id: String,
    /// The lane that asked for it.
    pub device_id: Uuid,
    /// Amount.
    pub amount: Money,
    /// The tender: `sandbox_qr`, `wechat_pay` or `alipay`.
    pub method: PaymentMethod,
    /// A QR the shopper scans, or a payment code the server charged.
    pub scene: LanePaymentScene,
    /// Where it stands.
    pub status: LanePaymentStatus,
    /// The provider's reference once paid.
    pub provider_ref: Option<String>,
    /// Why the provider refused it.
    pub failure: Option<String>,
    /// The sale that took it, once applied.
    pub order_id: Option<Uuid>,
    /// When it was created (Unix ms).
    pub created_at: i64,
}

impl LanePaymentRecord {
    /// Whether it may still change: `pending` or `user_paying`.
    pub fn is_open(&self) -> bool {
        matches!(
            self.status,
            LanePaymentStatus::Pending | LanePaymentStatus::UserPaying
        )
    }

    /// The wire form, with the provider's page under `public_url`.
    pub fn to_wire(&self, public_url: &str) -> LanePayment {
        LanePayment {
            id: self.id,
            sale_id: self.sale_id,
            store: self.location_id.clone(),
            amount: self.amount,
            status: self.status,
            provider_ref: self.provider_ref.clone(),
            order_id: self.order_id,
            pay_url: if self.method == PaymentMethod::SandboxQr
                && self.scene == LanePaymentScene::Qr
            {
                format!("{public_url}/sandbox/pay/{}", self.id)
            } else {
                String::new()
            },
            method: self.method,
            failure: self.failure.clone(),
        }
    }
}

/// The columns [`record`] reads.
macro_rules! columns {
    () => {
        "id, sale_id, location_id, device_id, amount_fen, method, scene, status, provider_ref, \
         failure, order_id, created_at"
    };
}

const SELECT: &str = concat!("SELECT ", columns!(), " FROM lane_payments");

/// The statuses in which a lane payment may still change, as SQL.
const OPEN: &str = "status IN ('pending', 'user_paying')";

fn record(row: &AnyRow) -> AppResult<LanePaymentRecord> {
    Ok(LanePaymentRecord {
        id: uuid_col(row, "id")?,
        sale_id: uuid_col(row, "sale_id")?,
        location_id: col(row, "location_id")?,
        device_id: uuid_col(row, "device_id")?,
        amount: Money::from_fen(col(row, "amount_fen")?),
        method: parse_col(row, "method")?,
        scene: parse_col(row, "scene")?,
        status: parse_col(row, "status")?,
        provider_ref: col(row, "provider_ref")?,
        failure: col(row, "failure")?,
        order_id: col::<Option<String>>(row, "order_id")?
            .map(|s| s.parse())
            .transpose()
            .map_err(|e| AppError::Internal(anyhow::anyhow!("order_id: {e}")))?,
        created_at: col(row, "created_at")?,
    })
}

/// A new intent asked for by a lane.
#[derive(Clone, Debug)]
pub struct NewLanePayment<'a> {
    /// Client id.
    pub id: Uuid,
    /// The sale being rung up.
    pub sale_id: Uuid,
    /// The lane's store.
    pub location_id: &'a str,
    /// The lane.
    pub device_id: Uuid,
    /// Amount (positive).
    pub amount: Money,
    /// The tender it will be (`sandbox_qr`, `wechat_pay`, `alipay`).
    pub method: PaymentMethod,
    /// A QR or a payment code.
    pub scene: LanePaymentScene,
}

/// Creates a lane payment, committed before anything is asked of a provider, and answers it
/// with `true`; or answers the one created with the same id (a retry) with `false`. The same id
/// with another sale, store, amount, tender or scene is refused (409 `id_in_use`), as is a sale
/// already on the server (409 `sale_completed`) or an id used by an order payment.
pub async fn create(
    store: &Store,
    new: &NewLanePayment<'_>,
) -> AppResult<(LanePaymentRecord, bool)> {
    let mut tx = store.begin().await?;
    let existing = sqlx::query(&format!("{SELECT} WHERE id = $1"))
        .bind(new.id.to_string())
        .fetch_optional(&mut *tx)
        .await?;
    if let Some(row) = existing {
        let found = record(&row)?;
        if found.sale_id != new.sale_id
            || found.location_id != new.location_id
            || found.amount != new.amount
            || found.method != new.method
            || found.scene != new.scene
        {
            return Err(AppError::conflict(
                "id_in_use",
                "this payment id was used for another sale, amount or tender",
            ));
        }
        return Ok((found, false));
    }
    let clash = sqlx::query("SELECT 1 AS one FROM payments WHERE id = $1")
        .bind(new.id.to_string())
        .fetch_optional(&mut *tx)
        .await?;
    if clash.is_some() {
        return Err(AppError::conflict(
            "id_in_use",
            "this payment id belongs to an order",
        ));
    }
    let sale = sqlx::query("SELECT order_no FROM orders WHERE id = $1")
        .bind(new.sale_id.to_string())
        .fetch_optional(&mut *tx)
        .await?;
    if let Some(row) = sale {
        let order_no: String = col(&row, "order_no")?;
        return Err(AppError::conflict(
            "sale_completed",
            format!("sale {order_no} is already on the server and cannot take a payment"),
        ));
    }
    let now = now_ms();
    sqlx::query(
        "INSERT INTO lane_payments (id, sale_id, location_id, device_id, amount_fen, method, \
         scene, status, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending', $8, $8)",
    )
    .bind(new.id.to_string())
    .bind(new.sale_id.to_string())
    .bind(new.location_id)
    .bind(new.device_id.to_string())
    .bind(new.amount.fen())
    .bind(new.method.as_str())
    .bind(new.scene.as_str())
    .bind(now)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    let created = LanePaymentRecord {
        id: new.id,
        sale_id: new.sale_id,
        location_id: new.location_id.to_owned(),
        device_id: new.device_id,
        amount: new.amount,
        method: new.method,
        scene: new.scene,
        status: LanePaymentStatus::Pending,
        provider_ref: None,
        failure: None,
        order_id: None,
        created_at: now,
    };
    Ok((created, true))
}

/// What a provider said about an open lane payment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Settlement<'a> {
    /// Paid: the provider's transaction id.
    Succeeded {
        /// The provider's transaction id.
        provider_ref: &'a str,
    },
    /// The payer is confirming on their phone.
    UserPaying,
    /// Refused by the provider, for this reason.
    Failed {
        /// Why, for the cashier.
        failure: &'a str,
    },
    /// Cancelled (撤销) or closed at the provider.
    Reversed,
}

/// Settles an open lane payment as the provider said, and answers it as it now stands. A
/// payment no longer open (settled meanwhile by another request) is answered unchanged: a final
/// state is never overwritten.
pub async fn settle(
    store: &Store,
    id: Uuid,
    settlement: Settlement<'_>,
) -> AppResult<LanePaymentRecord> {
    let (status, provider_ref, failure) = match settlement {
        Settlement::Succeeded { provider_ref } => {
            (LanePaymentStatus::Succeeded, Some(provider_ref), None)
        }
        Settlement::UserPaying => (LanePaymentStatus::UserPaying, None, None),
        Settlement::Failed { failure } => (LanePaymentStatus::Failed, None, Some(failure)),
        Settlement::Reversed => (LanePaymentStatus::Reversed, None, None),
    };
    let updated = sqlx::query(&format!(
        "UPDATE lane_payments SET status = $1, provider_ref = COALESCE($2, provider_ref), \
         failure = COALESCE($3, failure), updated_at = $4 WHERE id = $5 AND {OPEN} \
         RETURNING {}",
        columns!()
    ))
    .bind(status.as_str())
    .bind(provider_ref)
    .bind(failure)
    .bind(now_ms())
    .bind(id.to_string())
    .fetch_optional(store.writer())
    .await?;
    match updated {
        Some(row) => record(&row),
        None => get(store, id)
            .await?
            .ok_or_else(|| AppError::not_found(format!("lane payment {id} not found"))),
    }
}

/// Claims the right to ask the provider about an open lane payment now: true (and `checked_at`
/// set to `now`) when it is open and nobody asked since `now - min_gap_ms`. Concurrent callers
/// cannot both win, so a provider is asked at most once per gap per payment.
pub async fn claim_check(store: &Store, id: Uuid, now: i64, min_gap_ms: i64) -> AppResult<bool> {
    let done = sqlx::query(&format!(
        "UPDATE lane_payments SET checked_at = $1 WHERE id = $2 AND {OPEN} \
         AND (checked_at IS NULL OR checked_at <= $3)"
    ))
    .bind(now)
    .bind(id.to_string())
    .bind(now.saturating_sub(min_gap_ms))
    .execute(store.writer())
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Payment-code payments still open that were created before `created_before` (Unix ms),
/// oldest first, at most `limit`: the background settler's work.
pub async fn stale_open_codes(
    store: &Store,
    created_before: i64,
    limit: i64,
) -> AppResult<Vec<LanePaymentRecord>> {
    let rows = sqlx::query(&format!(
        "{SELECT} WHERE {OPEN} AND created_at < $1 AND scene = 'code' ORDER BY created_at LIMIT $2"
    ))
    .bind(created_before)
    .bind(limit)
    .fetch_all(store.reader())
    .await?;
    rows.iter().map(record).collect()
}

/// One lane payment, if there is one with this id.
pub async fn get(store: &Store, id: Uuid) -> AppResult<Option<LanePaymentRecord>> {
    sqlx::query(&format!("{SELECT} WHERE id = $1"))
        .bind(id.to_string())
        .fetch_optional(store.writer())
        .await?
        .as_ref()
        .map(record)
        .transpose()
}

async fn lock(tx: &mut Tx, store: &Store, id: Uuid) -> AppResult<LanePaymentRecord> {
    let row = sqlx::query(&format!("{SELECT} WHERE id = $1{}", store.for_update()))
        .bind(id.to_string())
        .fetch_optional(&mut **tx)
        .await?
        .ok_or_else(|| AppError::not_found(format!("lane payment {id} not found")))?;
    record(&row)
}

/// Cancels a pending intent at the lane's request. Cancelling again answers the cancelled
/// intent; an intent already paid is refused (409 `already_paid`: the lane takes the payment).
pub async fn cancel(store: &Store, id: Uuid, location_id: &str) -> AppResult<LanePaymentRecord> {
    let mut tx = store.begin().await?;
    let found = lock(&mut tx, store, id).await?;
    if found.location_id != location_id {
        return Err(AppError::Forbidden(
            "this payment belongs to another store".into(),
        ));
    }
    match found.status {
        LanePaymentStatus::Cancelled | LanePaymentStatus::Failed | LanePaymentStatus::Reversed => {
            return Ok(found)
        }
        LanePaymentStatus::Succeeded => {
            return Err(AppError::conflict(
                "already_paid",
                "the shopper has paid this QR payment already",
            ))
        }
        LanePaymentStatus::Pending | LanePaymentStatus::UserPaying => {}
    }
    sqlx::query("UPDATE lane_payments SET status = 'cancelled', updated_at = $1 WHERE id = $2")
        .bind(now_ms())
        .bind(id.to_string())
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(LanePaymentRecord {
        status: LanePaymentStatus::Cancelled,
        ..found
    })
}

/// Applies a verified provider notification to a lane payment: each notification id once
/// (409 `replayed_notification`), the amount must be the intent's (400 `amount_mismatch`), a
/// cancelled intent is not paid (409 `not_payable`), a paid one not twice (409 `already_paid`).
/// Everything or nothing.
pub async fn apply_paid(
    store: &Store,
    notify_id: &str,
    id: Uuid,
    provider_ref: &str,
    amount: Money,
) -> AppResult<LanePaymentRecord> {
    let mut tx = store.begin().await?;
    let found = lock(&mut tx, store, id).await?;
    super::payments::record_notification(&mut tx, "lane_payment_notifications", notify_id, id)
        .await?;
    if amount != found.amount {
        return Err(AppError::bad_request(
            "amount_mismatch",
            format!(
                "notified amount {amount} does not match the payment's {}",
                found.amount
            ),
        ));
    }
    match found.status {
        LanePaymentStatus::Succeeded => {
            return Err(AppError::conflict(
                "already_paid",
                "this payment has already succeeded",
            ))
        }
        LanePaymentStatus::Cancelled | LanePaymentStatus::Failed | LanePaymentStatus::Reversed => {
            return Err(AppError::conflict(
                "not_payable",
                "the lane cancelled this payment",
            ))
        }
        LanePaymentStatus::Pending | LanePaymentStatus::UserPaying => {}
    }
    sqlx::query(
        "UPDATE lane_payments SET status = 'succeeded', provider_ref = $1, updated_at = $2 \
         WHERE id = $3",
    )
    .bind(provider_ref)
    .bind(now_ms())
    .bind(id.to_string())
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(LanePaymentRecord {
        status: LanePaymentStatus::Succeeded,
        provider_ref: Some(provider_ref.to_owned()),
        ..found
    })
}

/// The lane payments with these ids, inside a push's transaction (locked on PostgreSQL).
pub async fn for_ids_in_tx(
    tx: &mut Tx,
    store: &Store,
    ids: &[String],
) -> AppResult<HashMap<Uuid, LanePaymentRecord>> {
    let mut out = HashMap::new();
    for chunk in ids.chunks(MAX_PARAMS) {
        let sql = format!(
            "{SELECT} WHERE id IN ({}) ORDER BY id{}",
            placeholders(1, chunk.len()),
            store.for_update()
        );
        let mut query = sqlx::query(&sql);
        for id in chunk {
            query = query.bind(id.as_str());
        }
        for row in query.fetch_all(&mut **tx).await? {
            let r = record(&row)?;
            out.insert(r.id, r);
        }
    }
    Ok(out)
}

/// Records that `order_id` (an applied sale) took the lane payment `id`.
pub async fn mark_taken_in_tx(tx: &mut Tx, id: Uuid, order_id: Uuid) -> AppResult<()> {
    sqlx::query("UPDATE lane_payments SET order_id = $1, updated_at = $2 WHERE id = $3")
        .bind(order_id.to_string())
        .bind(now_ms())
        .bind(id.to_string())
        .execute(&mut **tx)
        .await?;
    Ok(())
}
