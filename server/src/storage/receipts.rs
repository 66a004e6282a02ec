//! Receipt codes (docs/DESIGN.md §7): the lanes' registered receipt keys, the e-receipt of a POS sale,
//! and points claimed after the fact for a sale made without a member.
//!
//! **Keys.** A lane registers the public key it signs receipt codes with ([`register_key`]);
//! every key a device registered is kept with its registration time. A revoked device cannot
//! register keys, but its keys stay valid (the shopper still has the paper); head office can
//! revoke a single key ([`revoke_key`]).
//!
//! **Claims.** [`claim`] credits a member with the points a sale made without a member would
//! have earned — the member-sale earning rules (`members::earn_in_tx`: the claiming member's tier
//! multiplier, on the paid amount minus what was refunded before) — once per sale, and makes the
//! sale the member's, so a later return takes those points back as it does for a member sale
//! (`app::lane_sales::apply_return` reads the claim's base through `sales::refund_basis`). Idempotent by the
//! client's claim id. Locks: the order, then the member (the order every writer uses).

use chrono::{DateTime, Utc};
use retail_domain::codes::CodeVerifier;
use retail_domain::money::Money;
use retail_domain::order::{Channel, OrderStatus};
use retail_domain::points::PointsRules;
use retail_domain::wire::receipts::ReceiptKey;
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::orders::lock_head;
use super::{audit, col, from_ms, members, now_ms, parse_col, uuid_col, Store};
use crate::actor::DeviceActor;
use crate::error::{AppError, AppResult};

const KEY_COLUMNS: &str = "public_key, key_id, device_id, location_id, registered_at, revoked_at";

fn key_from_row(row: &sqlx::any::AnyRow) -> AppResult<ReceiptKey> {
    Ok(ReceiptKey {
        key_id: col(row, "key_id")?,
        public_key: col(row, "public_key")?,
        store: col(row, "location_id")?,
        device_id: uuid_col(row, "device_id")?,
        registered_at: from_ms(col(row, "registered_at")?),
        revoked_at: col::<Option<i64>>(row, "revoked_at")?.map(from_ms),
    })
}

/// Registers `key` as a receipt key of `device`. Answers the key and whether it was new: the
/// same key again is answered as first registered. 401 when the device has been revoked
/// meanwhile, 409 `key_in_use` when another device registered this key.
pub async fn register_key(
    store: &Store,
    device: &DeviceActor,
    key: &CodeVerifier,
) -> AppResult<(ReceiptKey, bool)> {
    let mut tx = store.begin().await?;
    let row = sqlx::query(&format!(
        "SELECT revoked_at FROM devices WHERE id = $1{}",
        store.for_update()
    ))
    .bind(device.id.to_string())
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(|| AppError::Unauthorized("unknown device".into()))?;
    if col::<Option<i64>>(&row, "revoked_at")?.is_some() {
        return Err(AppError::Unauthorized(
            "this device has been revoked: it cannot register receipt keys".into(),
        ));
    }
    let public_key = key.public_b64();
    let inserted = sqlx::query(
        "INSERT INTO receipt_keys (public_key, key_id, device_id, location_id, registered_at) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (public_key) DO NOTHING",
    )
    .bind(&public_key)
    .bind(key.key_id())
    .bind(device.id.to_string())
    .bind(&device.location_id)
    .bind(now_ms())
    .execute(&mut *tx)
    .await?
    .rows_affected()
        == 1;
    let row = sqlx::query(&format!(
        "SELECT {KEY_COLUMNS} FROM receipt_keys WHERE public_key = $1"
    ))
    .bind(&public_key)
    .fetch_one(&mut *tx)
    .await?;
    let stored = key_from_row(&row)?;
    if stored.device_id != device.id {
        return Err(AppError::conflict(
            "key_in_use",
            "this receipt key is registered by another device",
        ));
    }
    if inserted {
        audit::record(
            &mut tx,
            &device.actor(),
            "device.receipt_key",
            "device",
            &device.id.to_string(),
            serde_json::json!({"key_id": stored.key_id, "public_key": public_key}),
        )
        .await?;
    }
    tx.commit().await?;
    Ok((stored, inserted))
}

/// Every receipt key registered by the lanes of `location`, oldest first (revoked ones too).
pub async fn keys_of_store(store: &Store, location: &str) -> AppResult<Vec<ReceiptKey>> {
    let rows = sqlx::query(&format!(
        "SELECT {KEY_COLUMNS} FROM receipt_keys WHERE location_id = $1 \
         ORDER BY registered_at, public_key"
    ))
    .bind(location)
    .fetch_all(store.reader())
    .await?;
    rows.iter().map(key_from_row).collect()
}

/// Revokes the receipt key `key_id` of `device` (head office; audited; idempotent): receipt codes
/// it signed are refused from then on. 404 when the device has no such key.
pub async fn revoke_key(
    store: &Store,
    device: Uuid,
    key_id: &str,
    actor: &str,
) -> AppResult<Vec<ReceiptKey>> {
    let mut tx = store.begin().await?;
    let changed = sqlx::query(
        "UPDATE receipt_keys SET revoked_at = $3, revoked_by = $4 \
         WHERE device_id = $1 AND key_id = $2 AND revoked_at IS NULL",
    )
    .bind(device.to_string())
    .bind(key_id)
    .bind(now_ms())
    .bind(actor)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    let rows = sqlx::query(&format!(
        "SELECT {KEY_COLUMNS} FROM receipt_keys WHERE device_id = $1 AND key_id = $2"
    ))
    .bind(device.to_string())
    .bind(key_id)
    .fetch_all(&mut *tx)
    .await?;
    if rows.is_empty() {
        return Err(AppError::not_found(format!(
            "device {device} has no receipt key {key_id}"
        )));
    }
    if changed > 0 {
        audit::record(
            &mut tx,
            actor,
            "receipt_key.revoke",
            "device",
            &device.to_string(),
            serde_json::json!({"key_id": key_id}),
        )
        .await?;
    }
    tx.commit().await?;
    rows.iter().map(key_from_row).collect()
}

/// One line of an e-receipt.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ReceiptLineView {
    /// Line number.
    pub line_no: i64,
    /// Name as sold.
    pub name: String,
    /// Units, or grams for a weighed item.
    pub qty: i64,
    /// Whether `qty` is grams (sold by weight; `unit_price` is then per kg).
    pub weighed: bool,
    /// Unit price (per kg for weighed items).
    pub unit_price: Money,
    /// Discount on the line.
    pub discount: Money,
    /// Amount paid for the line.
    pub amount: Money,
    /// Units (grams) returned since.
    pub returned_qty: i64,
}

/// One payment of an e-receipt.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ReceiptPaymentView {
    /// `cash`, `card`, `stored_balance`, `points` or `sandbox_qr`.
    pub method: String,
    /// Amount.
    pub amount: Money,
}

/// The claim of a sale's points, when made.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ClaimView {
    /// The claim's id.
    pub claim_id: Uuid,
    /// When.
    pub claimed_at: DateTime<Utc>,
    /// Points credited.
    pub points: i64,
    /// The member who claimed (not shown to others).
    #[serde(skip)]
    pub member_id: Uuid,
}

/// A POS sale as on its paper receipt, for the shopper who scanned its receipt code.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ReceiptView {
    /// The sale.
    pub sale_id: Uuid,
    /// The server's order number.
    pub order_no: String,
    /// Store code.
    pub store: String,
    /// Store name (Chinese).
    pub store_name_zh: String,
    /// Store name (English).
    pub store_name_en: String,
    /// When the sale was completed at the lane.
    pub completed_at: DateTime<Utc>,
    /// The cashier.
    pub cashier: Option<String>,
    /// The sale's state (`completed`, `after_sale`, `refunded`).
    pub status: OrderStatus,
    /// Lines.
    pub lines: Vec<ReceiptLineView>,
    /// Before discounts.
    pub subtotal: Money,
    /// Discounts.
    pub discount: Money,
    /// Paid.
    pub total: Money,
    /// Payments.
    pub payments: Vec<ReceiptPaymentView>,
    /// Refunded by returns so far.
    pub refunded: Money,
    /// Whether the sale was made with a member (its points went to that member).
    pub member_sale: bool,
    /// Points the sale earned (at the till, or by the claim).
    pub points_earned: i64,
    /// The claim of its points, once made.
    pub claim: Option<ClaimView>,
    /// The member of the sale (not shown).
    #[serde(skip)]
    pub member_id: Option<Uuid>,
}

/// The POS sale `sale_id` as on its receipt; `None` when the server has no POS sale with this id
/// (the lane has not pushed it yet).
pub async fn receipt(store: &Store, sale_id: Uuid) -> AppResult<Option<ReceiptView>> {
    let pool = store.writer();
    let Some(row) = sqlx::query(
        "SELECT o.order_no, o.channel, o.status, o.location_id, o.member_id, o.subtotal_fen, \
         o.discount_fen, o.total_fen, o.points_earned, o.cashier, o.client_ts, \
         l.name_zh, l.name_en FROM orders o JOIN locations l ON l.id = o.location_id WHERE o.id = $1",
    )
    .bind(sale_id.to_string())
    .fetch_optional(pool)
    .await?
    else {
        return Ok(None);
    };
    let channel: Channel = parse_col(&row, "channel")?;
    if channel != Channel::Pos {
        return Ok(None);
    }
    let lines = sqlx::query(
        "SELECT ol.line_no, ol.name, ol.qty, ol.unit_price_fen, ol.discount_fen, ol.amount_fen, \
         ol.returned_qty, COALESCE(s.weighed, 0) AS weighed FROM order_lines ol \
         LEFT JOIN skus s ON s.id = ol.sku_id WHERE ol.order_id = $1 ORDER BY ol.line_no",
    )
    .bind(sale_id.to_string())
    .fetch_all(pool)
    .await?;
    let payments = sqlx::query(
        "SELECT method, amount_fen FROM payments WHERE order_id = $1 ORDER BY created_at, id",
    )
    .bind(sale_id.to_string())
    .fetch_all(pool)
    .await?;
    let refunded = sqlx::query(
        "SELECT CAST(COALESCE(SUM(refund_fen), 0) AS BIGINT) AS refunded FROM returns WHERE order_id = $1",
    )
    .bind(sale_id.to_string())
    .fetch_one(pool)
    .await?;
    let claim = sqlx::query(
        "SELECT id, member_id, points, created_at FROM receipt_claims WHERE sale_id = $1",
    )
    .bind(sale_id.to_string())
    .fetch_optional(pool)
    .await?
    .map(|r| -> AppResult<ClaimView> {
        Ok(ClaimView {
            claim_id: uuid_col(&r, "id")?,
            claimed_at: from_ms(col(&r, "created_at")?),
            points: col(&r, "points")?,
            member_id: uuid_col(&r, "member_id")?,
        })
    })
    .transpose()?;
    let member_id = col::<Option<String>>(&row, "member_id")?
        .map(|m| m.parse::<Uuid>())
        .transpose()
        .map_err(|e| AppError::Internal(e.into()))?;
    Ok(Some(ReceiptView {
        sale_id,
        order_no: col(&row, "order_no")?,
        store: col(&row, "location_id")?,
        store_name_zh: col(&row, "name_zh")?,
        store_name_en: col(&row, "name_en")?,
        completed_at: from_ms(col(&row, "client_ts")?),
        cashier: col(&row, "cashier")?,
        status: parse_col(&row, "status")?,
        lines: lines
            .iter()
            .map(|l| {
                Ok(ReceiptLineView {
                    line_no: col(l, "line_no")?,
                    name: col(l, "name")?,
                    qty: col(l, "qty")?,
                    weighed: col::<i64>(l, "weighed")? != 0,
                    unit_price: Money::from_fen(col(l, "unit_price_fen")?),
                    discount: Money::from_fen(col(l, "discount_fen")?),
                    amount: Money::from_fen(col(l, "amount_fen")?),
                    returned_qty: col(l, "returned_qty")?,
                })
            })
            .collect::<AppResult<_>>()?,
        subtotal: Money::from_fen(col(&row, "subtotal_fen")?),
        discount: Money::from_fen(col(&row, "discount_fen")?),
        total: Money::from_fen(col(&row, "total_fen")?),
        payments: payments
            .iter()
            .map(|p| {
                Ok(ReceiptPaymentView {
                    method: col(p, "method")?,
                    amount: Money::from_fen(col(p, "amount_fen")?),
                })
            })
            .collect::<AppResult<_>>()?,
        refunded: Money::from_fen(col(&refunded, "refunded")?),
        member_sale: member_id.is_some() && claim.is_none(),
        points_earned: col(&row, "points_earned")?,
        claim,
        member_id,
    }))
}

/// A claim to record.
#[derive(Clone, Debug)]
pub struct NewClaim<'a> {
    /// The client's claim id (UUIDv7).
    pub id: Uuid,
    /// The sale (from a verified receipt code).
    pub sale_id: Uuid,
    /// The member claiming.
    pub member_id: Uuid,
    /// Claims are accepted until this long after the sale (ms).
    pub window_ms: i64,
    /// Where it came from: `shop` or `api`.
    pub channel: &'a str,
}

/// A claim made.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ReceiptClaim {
    /// The client's claim id.
    pub claim_id: Uuid,
    /// The sale.
    pub sale_id: Uuid,
    /// The sale's order number.
    pub order_no: String,
    /// Points credited.
    pub points: i64,
    /// What they were earned on: the amount paid minus what had been refunded before.
    pub earned_on: Money,
    /// The member's points balance after the claim.
    pub points_balance: i64,
    /// When the claim was made.
    pub claimed_at: DateTime<Utc>,
    /// False when this answers a retry of a claim made earlier.
    pub created: bool,
}

/// Credits the member with the points of a sale made without a member (see the module docs).
///
/// Refused, changing nothing: 404 when the server does not have the sale (not pushed yet),
/// 409 `already_claimed` (by anyone), `member_sale` (made with a member), `claim_window_closed`,
/// `nothing_to_claim` (returned completely, or too small to earn a point), `id_in_use` (the claim
/// id names another claim).
pub async fn claim(
    store: &Store,
    rules: &PointsRules,
    input: &NewClaim<'_>,
) -> AppResult<ReceiptClaim> {
    let claim_id = input.id.to_string();
    let sale = input.sale_id.to_string();
    let actor = format!("member:{}", input.member_id);
    let mut tx = store.begin().await?;
    let head = match lock_head(&mut tx, store, input.sale_id).await {
        Ok(head) if head.channel == Channel::Pos => head,
        Ok(_) | Err(AppError::NotFound(_)) => {
            return Err(AppError::not_found(
                "the server does not have this sale yet: the lane sends it once it is online",
            ))
        }
        Err(e) => return Err(e),
    };
    // A retry of this claim answers it; its id on another claim is refused.
    if let Some(row) = sqlx::query(
        "SELECT sale_id, member_id, points, base_fen, created_at FROM receipt_claims WHERE id = $1",
    )
    .bind(&claim_id)
    .fetch_optional(&mut *tx)
    .await?
    {
        let (sale_id, member) = (uuid_col(&row, "sale_id")?, uuid_col(&row, "member_id")?);
        if sale_id != input.sale_id || member != input.member_id {
            return Err(AppError::conflict(
                "id_in_use",
                "this claim id belongs to another claim",
            ));
        }
        drop(tx);
        return Ok(ReceiptClaim {
            claim_id: input.id,
            sale_id,
            order_no: head.order_no,
            points: col(&row, "points")?,
            earned_on: Money::from_fen(col(&row, "base_fen")?),
            points_balance: members::points_balance(store, member).await?,
            claimed_at: from_ms(col(&row, "created_at")?),
            created: false,
        });
    }
    if let Some(row) = sqlx::query("SELECT member_id FROM receipt_claims WHERE sale_id = $1")
        .bind(&sale)
        .fetch_optional(&mut *tx)
        .await?
    {
        let message = if uuid_col(&row, "member_id")? == input.member_id {
            format!(
                "you have claimed the points of sale {} already",
                head.order_no
            )
        } else {
            format!(
                "the points of sale {} have been claimed already",
                head.order_no
            )
        };
        return Err(AppError::conflict("already_claimed", message));
    }
    if head.member_id.is_some() {
        return Err(AppError::conflict(
            "member_sale",
            format!(
                "sale {} was made with a member card: its points went to that member",
                head.order_no
            ),
        ));
    }
    let row = sqlx::query(
        "SELECT o.client_ts, CAST(COALESCE(SUM(r.refund_fen), 0) AS BIGINT) AS refunded \
         FROM orders o LEFT JOIN returns r ON r.order_id = o.id WHERE o.id = $1 GROUP BY o.client_ts",
    )
    .bind(&sale)
    .fetch_one(&mut *tx)
    .await?;
    let sold_at: i64 = col(&row, "client_ts")?;
    let refunded: i64 = col(&row, "refunded")?;
    let now = now_ms();
    if now > sold_at.saturating_add(input.window_ms) {
        return Err(AppError::conflict(
            "claim_window_closed",
            format!(
                "points can be claimed up to {} days after the sale; sale {} is older",
                input.window_ms / 86_400_000,
                head.order_no
            ),
        ));
    }
    let base = head.total_fen.saturating_sub(refunded);
    if head.status == OrderStatus::Refunded || base <= 0 {
        return Err(AppError::conflict(
            "nothing_to_claim",
            format!("sale {} has been returned completely", head.order_no),
        ));
    }
    let points = members::earn_in_tx(
        &mut tx,
        rules,
        input.member_id,
        Money::from_fen(base),
        &sale,
        &actor,
        now,
    )
    .await?;
    if points <= 0 {
        // Dropping the transaction undoes the (empty) earn row.
        return Err(AppError::conflict(
            "nothing_to_claim",
            format!("sale {} is too small to earn points", head.order_no),
        ));
    }
    sqlx::query(
        "UPDATE orders SET member_id = $2, points_earned = $3, updated_at = $4 WHERE id = $1",
    )
    .bind(&sale)
    .bind(input.member_id.to_string())
    .bind(points)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO receipt_claims (id, sale_id, member_id, points, base_fen, refunded_before_fen, channel, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&claim_id)
    .bind(&sale)
    .bind(input.member_id.to_string())
    .bind(points)
    .bind(base)
    .bind(refunded)
    .bind(input.channel)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    audit::record(
        &mut tx,
        &actor,
        "receipt.claim",
        "order",
        &sale,
        serde_json::json!({
            "claim_id": claim_id, "order_no": head.order_no, "points": points,
            "earned_on": Money::from_fen(base).to_string(), "channel": input.channel,
        }),
    )
    .await?;
    tx.commit().await?;
    Ok(ReceiptClaim {
        claim_id: input.id,
        sale_id: input.sale_id,
        order_no: head.order_no,
        points,
        earned_on: Money::from_fen(base),
        points_balance: members::points_balance(store, input.member_id).await?,
        claimed_at: from_ms(now),
        created: true,
    })
}

/// The base and offset a claimed sale earned its points on: (base, refunded before the claim).
pub(crate) async fn claim_basis(
    conn: &mut sqlx::AnyConnection,
    sale_id: Uuid,
) -> AppResult<Option<(i64, i64)>> {
    let row =
        sqlx::query("SELECT base_fen, refunded_before_fen FROM receipt_claims WHERE sale_id = $1")
            .bind(sale_id.to_string())
            .fetch_optional(&mut *conn)
            .await?;
    row.map(|r| Ok((col(&r, "base_fen")?, col(&r, "refunded_before_fen")?)))
        .transpose()
}
