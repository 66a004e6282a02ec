//! QR payments taken at a checkout lane (issue 3): the intent a lane asks for while the sale is
//! still being rung up, the provider's notification that pays it, a cancel from the lane, and the
//! check made when the sale arrives with its push.
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
    /// Where it stands.
    pub status: LanePaymentStatus,
    /// The provider's reference once paid.
    pub provider_ref: Option<String>,
    /// Why the provider refused it.
    pub failure: Option<String>,
    /// The sale that took it, once applied.
    pub order_id: Option<Uuid>,
}

impl LanePaymentRecord {
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
            pay_url: if self.method == PaymentMethod::SandboxQr {
                format!("{public_url}/sandbox/pay/{}", self.id)
            } else {
                String::new()
            },
            method: self.method,
            failure: self.failure.clone(),
        }
    }
}

const SELECT: &str = "SELECT id, sale_id, location_id, device_id, amount_fen, method, status, \
     provider_ref, failure, order_id FROM lane_payments";

fn record(row: &AnyRow) -> AppResult<LanePaymentRecord> {
    Ok(LanePaymentRecord {
        id: uuid_col(row, "id")?,
        sale_id: uuid_col(row, "sale_id")?,
        location_id: col(row, "location_id")?,
        device_id: uuid_col(row, "device_id")?,
        amount: Money::from_fen(col(row, "amount_fen")?),
        method: parse_col(row, "method")?,
        status: parse_col(row, "status")?,
        provider_ref: col(row, "provider_ref")?,
        failure: col(row, "failure")?,
        order_id: col::<Option<String>>(row, "order_id")?
            .map(|s| s.parse())
            .transpose()
            .map_err(|e| AppError::Internal(anyhow::anyhow!("order_id: {e}")))?,
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
}

/// Creates an intent, or answers the one created with the same id (a retry). The same id with
/// another sale, store or amount is refused (409 `id_in_use`), as is a sale already on the
/// server (409 `sale_completed`) or an id used by an order payment.
pub async fn create(store: &Store, new: &NewLanePayment<'_>) -> AppResult<LanePaymentRecord> {
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
        {
            return Err(AppError::conflict(
                "id_in_use",
                "this payment id was used for another sale or amount",
            ));
        }
        return Ok(found);
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
        "INSERT INTO lane_payments (id, sale_id, location_id, device_id, amount_fen, status, \
         created_at, updated_at) VALUES ($1, $2, $3, $4, $5, 'pending', $6, $6)",
    )
    .bind(new.id.to_string())
    .bind(new.sale_id.to_string())
    .bind(new.location_id)
    .bind(new.device_id.to_string())
    .bind(new.amount.fen())
    .bind(now)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    get(store, new.id)
        .await?
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("lane payment vanished")))
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
