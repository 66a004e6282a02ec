//! Distribution (分销, issue 17): distributors and their applications, buyers' bindings, the
//! commission rates, each order's commission decision, the distributors' ledger with the
//! balances it adds up to, and withdrawals.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::{col, from_ms, now_ms, uuid_col, Store, Tx};
use crate::error::AppResult;

/// A distributor (or an applicant).
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Distributor {
    /// The member.
    pub member_id: Uuid,
    /// `applied`, `active` or `rejected`.
    pub status: String,
    /// The distributor who recruited this one (its share link was opened first).
    pub parent_id: Option<Uuid>,
    /// `application` (approved by head office) or `rule` (by the automatic rule).
    pub source: String,
    /// Head office's note (the reason of a rejection).
    pub note: String,
    /// Applied (or made by rule).
    pub applied_at: chrono::DateTime<chrono::Utc>,
    /// Decided.
    pub decided_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Who decided.
    pub decided_by: Option<String>,
}

const DISTRIBUTOR_COLUMNS: &str =
    "member_id, status, parent_id, source, note, applied_at, decided_at, decided_by";

fn distributor_from_row(row: &sqlx::any::AnyRow) -> AppResult<Distributor> {
    Ok(Distributor {
        member_id: uuid_col(row, "member_id")?,
        status: col(row, "status")?,
        parent_id: col::<Option<String>>(row, "parent_id")?.and_then(|p| p.parse().ok()),
        source: col(row, "source")?,
        note: col(row, "note")?,
        applied_at: from_ms(col(row, "applied_at")?),
        decided_at: col::<Option<i64>>(row, "decided_at")?.map(from_ms),
        decided_by: col(row, "decided_by")?,
    })
}

/// A member's distributor row, if any.
pub async fn distributor(store: &Store, member: Uuid) -> AppResult<Option<Distributor>> {
    let row = sqlx::query(&format!(
        "SELECT {DISTRIBUTOR_COLUMNS} FROM distributors WHERE member_id = $1"
    ))
    .bind(member.to_string())
    .fetch_optional(store.writer())
    .await?;
    row.as_ref().map(distributor_from_row).transpose()
}

/// Records an application (`applied`) or a distributor made by rule (`active`); a rejected
/// applicant may apply again. False when nothing changed (applied or active already).
pub async fn apply(
    store: &Store,
    member: Uuid,
    parent: Option<Uuid>,
    by_rule: bool,
) -> AppResult<bool> {
    let now = now_ms();
    let (status, source, decided_at, decided_by) = if by_rule {
        ("active", "rule", Some(now), Some("rule"))
    } else {
        ("applied", "application", None, None)
    };
    Ok(sqlx::query(
        "INSERT INTO distributors (member_id, status, parent_id, source, note, applied_at, decided_at, decided_by) \
         VALUES ($1, $2, $3, $4, '', $5, $6, $7) ON CONFLICT (member_id) DO UPDATE SET \
         status = excluded.status, source = excluded.source, applied_at = excluded.applied_at, \
         decided_at = excluded.decided_at, decided_by = excluded.decided_by, note = '' \
         WHERE distributors.status = 'rejected'",
    )
    .bind(member.to_string())
    .bind(status)
    .bind(parent.map(|p| p.to_string()))
    .bind(source)
    .bind(now)
    .bind(decided_at)
    .bind(decided_by)
    .execute(store.writer())
    .await?
    .rows_affected()
        == 1)
}

/// Head office decides an application (`active` or `rejected`, audited as
/// `distributor.approve` / `distributor.reject`); false when it was not waiting.
pub async fn decide(
    store: &Store,
    member: Uuid,
    approve: bool,
    note: &str,
    actor: &str,
) -> AppResult<bool> {
    let mut tx = store.begin().await?;
    let status = if approve { "active" } else { "rejected" };
    let moved = sqlx::query(
        "UPDATE distributors SET status = $1, note = $2, decided_at = $3, decided_by = $4 \
         WHERE member_id = $5 AND status = 'applied'",
    )
    .bind(status)
    .bind(note)
    .bind(now_ms())
    .bind(actor)
    .bind(member.to_string())
    .execute(&mut *tx)
    .await?
    .rows_affected()
        == 1;
    if moved {
        super::audit::record(
            &mut tx,
            actor,
            if approve {
                "distributor.approve"
            } else {
                "distributor.reject"
            },
            "member",
            &member.to_string(),
            serde_json::json!({ "note": note }),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(moved)
}

/// Distributors and applicants of one status (all when `None`), newest first, at most 500.
pub async fn distributors(store: &Store, status: Option<&str>) -> AppResult<Vec<Distributor>> {
    let rows = sqlx::query(&format!(
        "SELECT {DISTRIBUTOR_COLUMNS} FROM distributors WHERE ($1 = '' OR status = $1) \
         ORDER BY applied_at DESC LIMIT 500"
    ))
    .bind(status.unwrap_or(""))
    .fetch_all(store.reader())
    .await?;
    rows.iter().map(distributor_from_row).collect()
}

/// The sub-distributors a distributor recruited.
pub async fn children(store: &Store, parent: Uuid) -> AppResult<Vec<Distributor>> {
    let rows = sqlx::query(&format!(
        "SELECT {DISTRIBUTOR_COLUMNS} FROM distributors WHERE parent_id = $1 ORDER BY applied_at DESC LIMIT 200"
    ))
    .bind(parent.to_string())
    .fetch_all(store.reader())
    .await?;
    rows.iter().map(distributor_from_row).collect()
}

/// The buyer's binding: (distributor, expires at ms).
pub async fn binding(store: &Store, buyer: Uuid) -> AppResult<Option<(Uuid, i64)>> {
    let row = sqlx::query(
        "SELECT distributor_id, expires_at FROM distributor_bindings WHERE buyer_id = $1",
    )
    .bind(buyer.to_string())
    .fetch_optional(store.writer())
    .await?;
    row.map(|r| Ok((uuid_col(&r, "distributor_id")?, col(&r, "expires_at")?)))
        .transpose()
}

/// Binds `buyer` to `distributor` until `expires_at` unless a binding is in force at `now`
/// (first touch); true when bound now.
pub async fn bind(
    store: &Store,
    buyer: Uuid,
    distributor: Uuid,
    now: i64,
    expires_at: i64,
) -> AppResult<bool> {
    Ok(sqlx::query(
        "INSERT INTO distributor_bindings (buyer_id, distributor_id, bound_at, expires_at) \
         VALUES ($1, $2, $3, $4) ON CONFLICT (buyer_id) DO UPDATE SET \
         distributor_id = excluded.distributor_id, bound_at = excluded.bound_at, \
         expires_at = excluded.expires_at WHERE distributor_bindings.expires_at <= $3",
    )
    .bind(buyer.to_string())
    .bind(distributor.to_string())
    .bind(now)
    .bind(expires_at)
    .execute(store.writer())
    .await?
    .rows_affected()
        == 1)
}

/// A buyer bound to a distributor, as the distributor's team lists it.
#[derive(Clone, Debug)]
pub struct BoundBuyer {
    /// The buyer.
    pub buyer_id: Uuid,
    /// Bound at (ms).
    pub bound_at: i64,
    /// Until (ms).
    pub expires_at: i64,
}

/// The buyers bound to a distributor, latest first, at most 200.
pub async fn bound_buyers(store: &Store, distributor: Uuid) -> AppResult<Vec<BoundBuyer>> {
    let rows = sqlx::query(
        "SELECT buyer_id, bound_at, expires_at FROM distributor_bindings WHERE distributor_id = $1 \
         ORDER BY bound_at DESC LIMIT 200",
    )
    .bind(distributor.to_string())
    .fetch_all(store.reader())
    .await?;
    rows.iter()
        .map(|r| {
            Ok(BoundBuyer {
                buyer_id: uuid_col(r, "buyer_id")?,
                bound_at: col(r, "bound_at")?,
                expires_at: col(r, "expires_at")?,
            })
        })
        .collect()
}

/// A member's paid online orders: (how many, their totals in fen).
pub async fn paid_orders_of(store: &Store, member: Uuid) -> AppResult<(i64, i64)> {
    let row = sqlx::query(
        "SELECT COUNT(*) AS n, CAST(COALESCE(SUM(total_fen), 0) AS BIGINT) AS total FROM orders \
         WHERE member_id = $1 AND status NOT IN ('pending_payment', 'cancelled', 'refunded')",
    )
    .bind(member.to_string())
    .fetch_one(store.reader())
    .await?;
    Ok((col(&row, "n")?, col(&row, "total")?))
}

/// A commission rate: basis points (1/100 of a percent) of the paid amount per level.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CommissionRate {
    /// `default`, `sku` or `category`.
    pub scope: String,
    /// The SKU's or category's id (empty for the default).
    #[serde(default)]
    pub scope_id: String,
    /// Level 1 (the bound distributor), 0 to 5000 basis points (50%).
    pub level1_bp: i64,
    /// Level 2 (its parent).
    #[serde(default)]
    pub level2_bp: i64,
    /// Level 3 (its grandparent).
    #[serde(default)]
    pub level3_bp: i64,
}

/// Every rate (the default first).
pub async fn rates(store: &Store) -> AppResult<Vec<CommissionRate>> {
    let rows = sqlx::query(
        "SELECT scope, scope_id, level1_bp, level2_bp, level3_bp FROM commission_rates \
         ORDER BY CASE scope WHEN 'default' THEN 0 WHEN 'category' THEN 1 ELSE 2 END, scope_id",
    )
    .fetch_all(store.writer())
    .await?;
    rows.iter()
        .map(|r| {
            Ok(CommissionRate {
                scope: col(r, "scope")?,
                scope_id: col(r, "scope_id")?,
                level1_bp: col(r, "level1_bp")?,
                level2_bp: col(r, "level2_bp")?,
                level3_bp: col(r, "level3_bp")?,
            })
        })
        .collect()
}

/// Sets a rate (audited as `commission_rate.set`).
pub async fn set_rate(store: &Store, rate: &CommissionRate, actor: &str) -> AppResult<()> {
    let mut tx = store.begin().await?;
    sqlx::query(
        "INSERT INTO commission_rates (scope, scope_id, level1_bp, level2_bp, level3_bp, updated_by, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (scope, scope_id) DO UPDATE SET \
         level1_bp = excluded.level1_bp, level2_bp = excluded.level2_bp, level3_bp = excluded.level3_bp, \
         updated_by = excluded.updated_by, updated_at = excluded.updated_at",
    )
    .bind(&rate.scope)
    .bind(&rate.scope_id)
    .bind(rate.level1_bp)
    .bind(rate.level2_bp)
    .bind(rate.level3_bp)
    .bind(actor)
    .bind(now_ms())
    .execute(&mut *tx)
    .await?;
    super::audit::record(
        &mut tx,
        actor,
        "commission_rate.set",
        "commission_rate",
        &format!("{}:{}", rate.scope, rate.scope_id),
        serde_json::to_value(rate).unwrap_or_default(),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Removes a SKU's or category's rate (audited as `commission_rate.delete`); false when none.
pub async fn delete_rate(
    store: &Store,
    scope: &str,
    scope_id: &str,
    actor: &str,
) -> AppResult<bool> {
    let mut tx = store.begin().await?;
    let gone = sqlx::query(
        "DELETE FROM commission_rates WHERE scope = $1 AND scope_id = $2 AND scope <> 'default'",
    )
    .bind(scope)
    .bind(scope_id)
    .execute(&mut *tx)
    .await?
    .rows_affected()
        == 1;
    if gone {
        super::audit::record(
            &mut tx,
            actor,
            "commission_rate.delete",
            "commission_rate",
            &format!("{scope}:{scope_id}"),
            serde_json::json!({}),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(gone)
}

/// Whether an order's commission was decided already.
pub async fn order_decided_in_tx(tx: &mut Tx, order: Uuid) -> AppResult<bool> {
    Ok(
        sqlx::query("SELECT order_id FROM distribution_orders WHERE order_id = $1")
            .bind(order.to_string())
            .fetch_optional(&mut **tx)
            .await?
            .is_some(),
    )
}

/// Paid online orders of members (not cancelled or refunded) created since `created_since`,
/// last changed before `changed_before`, with no commission decision, whose buyer is bound to a
/// distributor or opened a share since `opened_since` (at most `limit`): (order, buyer, number).
pub async fn undecided_paid_orders(
    store: &Store,
    created_since: i64,
    changed_before: i64,
    opened_since: i64,
    limit: i64,
) -> AppResult<Vec<(Uuid, Uuid, String)>> {
    let rows = sqlx::query(
        "SELECT o.id, o.member_id, o.order_no FROM orders o \
         WHERE o.created_at >= $1 AND o.updated_at < $2 AND o.channel = 'online' \
         AND o.member_id IS NOT NULL \
         AND o.status NOT IN ('pending_payment', 'cancelled', 'refunded') \
         AND NOT EXISTS (SELECT 1 FROM distribution_orders d WHERE d.order_id = o.id) \
         AND (EXISTS (SELECT 1 FROM distributor_bindings b WHERE b.buyer_id = o.member_id) \
              OR EXISTS (SELECT 1 FROM share_opens s WHERE s.member_id = o.member_id \
                         AND s.opened_at >= $3)) \
         ORDER BY o.created_at, o.id LIMIT $4",
    )
    .bind(created_since)
    .bind(changed_before)
    .bind(opened_since)
    .bind(limit)
    .fetch_all(store.reader())
    .await?;
    rows.iter()
        .map(|r| {
            Ok((
                uuid_col(r, "id")?,
                uuid_col(r, "member_id")?,
                col(r, "order_no")?,
            ))
        })
        .collect()
}

/// Records an order's commission decision (once; false when decided before).
pub async fn record_order_in_tx(
    tx: &mut Tx,
    order: Uuid,
    buyer: Uuid,
    distributor: Option<Uuid>,
    commission_fen: i64,
) -> AppResult<bool> {
    Ok(sqlx::query(
        "INSERT INTO distribution_orders (order_id, buyer_id, distributor_id, outcome, commission_fen, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (order_id) DO NOTHING",
    )
    .bind(order.to_string())
    .bind(buyer.to_string())
    .bind(distributor.map(|d| d.to_string()))
    .bind(if distributor.is_some() { "commissioned" } else { "none" })
    .bind(commission_fen)
    .bind(now_ms())
    .execute(&mut **tx)
    .await?
    .rows_affected()
        == 1)
}

/// A distributor's balances in fen; each the sum of the ledger's column.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct Balances {
    /// Commission waiting for the after-sale window.
    pub frozen_fen: i64,
    /// Withdrawable (negative when a refund took back commission already released and spent).
    pub available_fen: i64,
    /// Asked for in withdrawals not yet paid or rejected.
    pub withdrawing_fen: i64,
    /// Paid out.
    pub withdrawn_fen: i64,
}

fn balances_from_row(row: &sqlx::any::AnyRow) -> AppResult<Balances> {
    Ok(Balances {
        frozen_fen: col(row, "frozen_fen")?,
        available_fen: col(row, "available_fen")?,
        withdrawing_fen: col(row, "withdrawing_fen")?,
        withdrawn_fen: col(row, "withdrawn_fen")?,
    })
}

/// A distributor's balances (zero when none yet).
pub async fn balances(store: &Store, member: Uuid) -> AppResult<Balances> {
    let row = sqlx::query(
        "SELECT frozen_fen, available_fen, withdrawing_fen, withdrawn_fen FROM distributor_accounts WHERE member_id = $1",
    )
    .bind(member.to_string())
    .fetch_optional(store.writer())
    .await?;
    row.as_ref()
        .map(balances_from_row)
        .transpose()
        .map(Option::unwrap_or_default)
}

/// The sums of a distributor's ledger rows (what [`balances`] must always equal).
pub async fn ledger_sums(store: &Store, member: Uuid) -> AppResult<Balances> {
    let row = sqlx::query(
        "SELECT CAST(COALESCE(SUM(frozen_fen), 0) AS BIGINT) AS frozen_fen, \
         CAST(COALESCE(SUM(available_fen), 0) AS BIGINT) AS available_fen, \
         CAST(COALESCE(SUM(withdrawing_fen), 0) AS BIGINT) AS withdrawing_fen, \
         CAST(COALESCE(SUM(withdrawn_fen), 0) AS BIGINT) AS withdrawn_fen \
         FROM distribution_ledger WHERE distributor_id = $1",
    )
    .bind(member.to_string())
    .fetch_one(store.writer())
    .await?;
    balances_from_row(&row)
}

/// Locks (creating it when missing) a distributor's account row: its balances.
pub async fn lock_account_in_tx(tx: &mut Tx, store: &Store, member: Uuid) -> AppResult<Balances> {
    sqlx::query(
        "INSERT INTO distributor_accounts (member_id, updated_at) VALUES ($1, $2) \
         ON CONFLICT (member_id) DO NOTHING",
    )
    .bind(member.to_string())
    .bind(now_ms())
    .execute(&mut **tx)
    .await?;
    let row = sqlx::query(&format!(
        "SELECT frozen_fen, available_fen, withdrawing_fen, withdrawn_fen FROM distributor_accounts \
         WHERE member_id = $1{}",
        store.for_update()
    ))
    .bind(member.to_string())
    .fetch_one(&mut **tx)
    .await?;
    balances_from_row(&row)
}

/// One movement of a distributor's money.
#[derive(Clone, Debug, Default)]
pub struct NewEntry {
    /// The distributor.
    pub distributor_id: Uuid,
    /// `commission`, `release`, `reversal`, `withdrawal_hold`, `withdrawal_paid`,
    /// `withdrawal_rejected`.
    pub kind: &'static str,
    /// The movement.
    pub delta: Balances,
    /// The order (commission, release, reversal).
    pub order_id: Option<Uuid>,
    /// The order line.
    pub line_no: Option<i64>,
    /// The level (1 to 3).
    pub level: Option<i64>,
    /// The buyer.
    pub buyer_id: Option<Uuid>,
    /// The line's SKU.
    pub sku_id: Option<Uuid>,
    /// The line's quantity (a commission row).
    pub line_qty: Option<i64>,
    /// The commission row released or reversed, or the withdrawal.
    pub ref_id: Option<String>,
    /// Makes the movement happen once.
    pub idem_key: String,
}

/// Writes a ledger row and moves the account's balances by it, in the caller's transaction
/// (the account locked by [`lock_account_in_tx`] first); false when a row of that key exists
/// (nothing written).
pub async fn post_in_tx(tx: &mut Tx, e: &NewEntry) -> AppResult<bool> {
    let now = now_ms();
    let written = sqlx::query(
        "INSERT INTO distribution_ledger (id, distributor_id, kind, frozen_fen, available_fen, \
         withdrawing_fen, withdrawn_fen, order_id, line_no, level, buyer_id, sku_id, line_qty, ref_id, \
         idem_key, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16) \
         ON CONFLICT (idem_key) DO NOTHING",
    )
    .bind(Uuid::now_v7().to_string())
    .bind(e.distributor_id.to_string())
    .bind(e.kind)
    .bind(e.delta.frozen_fen)
    .bind(e.delta.available_fen)
    .bind(e.delta.withdrawing_fen)
    .bind(e.delta.withdrawn_fen)
    .bind(e.order_id.map(|o| o.to_string()))
    .bind(e.line_no)
    .bind(e.level)
    .bind(e.buyer_id.map(|b| b.to_string()))
    .bind(e.sku_id.map(|s| s.to_string()))
    .bind(e.line_qty)
    .bind(e.ref_id.clone())
    .bind(&e.idem_key)
    .bind(now)
    .execute(&mut **tx)
    .await?
    .rows_affected()
        == 1;
    if written {
        sqlx::query(
            "UPDATE distributor_accounts SET frozen_fen = frozen_fen + $1, available_fen = available_fen + $2, \
             withdrawing_fen = withdrawing_fen + $3, withdrawn_fen = withdrawn_fen + $4, updated_at = $5 \
             WHERE member_id = $6",
        )
        .bind(e.delta.frozen_fen)
        .bind(e.delta.available_fen)
        .bind(e.delta.withdrawing_fen)
        .bind(e.delta.withdrawn_fen)
        .bind(now)
        .bind(e.distributor_id.to_string())
        .execute(&mut **tx)
        .await?;
    }
    Ok(written)
}

/// A commission row with what was reversed of it so far.
#[derive(Clone, Debug)]
pub struct Credit {
    /// The row.
    pub id: String,
    /// The distributor.
    pub distributor_id: Uuid,
    /// The order.
    pub order_id: Uuid,
    /// The order line.
    pub line_no: i64,
    /// The level.
    pub level: i64,
    /// The line's SKU.
    pub sku_id: Option<Uuid>,
    /// The line's quantity.
    pub line_qty: i64,
    /// The commission, in fen.
    pub amount_fen: i64,
    /// Reversed of it so far, in fen.
    pub reversed_fen: i64,
    /// Released (or closed wholly reversed).
    pub settled: bool,
}

const CREDIT_SELECT: &str = "SELECT c.id, c.distributor_id, c.order_id, c.line_no, c.level, c.sku_id, c.line_qty, \
     c.frozen_fen, c.settled_at, CAST(COALESCE((SELECT SUM(-(r.frozen_fen + r.available_fen)) \
     FROM distribution_ledger r WHERE r.ref_id = c.id AND r.kind = 'reversal'), 0) AS BIGINT) AS reversed_fen \
     FROM distribution_ledger c";

fn credit_from_row(row: &sqlx::any::AnyRow) -> AppResult<Credit> {
    Ok(Credit {
        id: col(row, "id")?,
        distributor_id: uuid_col(row, "distributor_id")?,
        order_id: uuid_col(row, "order_id")?,
        line_no: col::<Option<i64>>(row, "line_no")?.unwrap_or(0),
        level: col::<Option<i64>>(row, "level")?.unwrap_or(1),
        sku_id: col::<Option<String>>(row, "sku_id")?.and_then(|s| s.parse().ok()),
        line_qty: col::<Option<i64>>(row, "line_qty")?.unwrap_or(1),
        amount_fen: col(row, "frozen_fen")?,
        reversed_fen: col(row, "reversed_fen")?,
        settled: col::<Option<i64>>(row, "settled_at")?.is_some(),
    })
}

/// The commission rows of an order.
pub async fn credits_of_order_in_tx(tx: &mut Tx, order: Uuid) -> AppResult<Vec<Credit>> {
    let rows = sqlx::query(&format!(
        "{CREDIT_SELECT} WHERE c.order_id = $1 AND c.kind = 'commission' ORDER BY c.line_no, c.level"
    ))
    .bind(order.to_string())
    .fetch_all(&mut **tx)
    .await?;
    rows.iter().map(credit_from_row).collect()
}

/// One commission row, locked with its distributor's account by the caller.
pub async fn credit_in_tx(tx: &mut Tx, id: &str) -> AppResult<Option<Credit>> {
    let row = sqlx::query(&format!(
        "{CREDIT_SELECT} WHERE c.id = $1 AND c.kind = 'commission'"
    ))
    .bind(id)
    .fetch_optional(&mut **tx)
    .await?;
    row.as_ref().map(credit_from_row).transpose()
}

/// Marks a commission row settled (released, or wholly reversed before release); false when it
/// was settled already.
pub async fn settle_in_tx(tx: &mut Tx, id: &str) -> AppResult<bool> {
    Ok(sqlx::query(
        "UPDATE distribution_ledger SET settled_at = $1 WHERE id = $2 AND settled_at IS NULL",
    )
    .bind(now_ms())
    .bind(id)
    .execute(&mut **tx)
    .await?
    .rows_affected()
        == 1)
}

/// Commission rows not settled yet whose order was fulfilled (delivered, collected, completed)
/// at or before `fulfilled_before` ms: (row id, sku, fulfilled at ms), oldest first, at most
/// `limit`.
pub async fn unsettled_fulfilled(
    store: &Store,
    fulfilled_before: i64,
    limit: i64,
) -> AppResult<Vec<(String, Option<Uuid>, i64)>> {
    let rows = sqlx::query(
        "SELECT id, sku_id, fulfilled_at FROM (SELECT c.id, c.sku_id, c.created_at, \
         (SELECT MAX(e.at) FROM order_events e WHERE e.order_id = c.order_id \
         AND e.to_status IN ('delivered', 'picked_up', 'completed')) AS fulfilled_at \
         FROM distribution_ledger c WHERE c.kind = 'commission' AND c.settled_at IS NULL) u \
         WHERE fulfilled_at <= $1 ORDER BY created_at LIMIT $2",
    )
    .bind(fulfilled_before)
    .bind(limit)
    .fetch_all(store.reader())
    .await?;
    let mut out = Vec::new();
    for r in &rows {
        if let Some(at) = col::<Option<i64>>(r, "fulfilled_at")? {
            out.push((
                col(r, "id")?,
                col::<Option<String>>(r, "sku_id")?.and_then(|s| s.parse().ok()),
                at,
            ));
        }
    }
    Ok(out)
}

/// A ledger row as the distributor centre shows it.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct LedgerRow {
    /// Kind.
    pub kind: String,
    /// The movement.
    pub delta: Balances,
    /// The order, if any.
    pub order_id: Option<Uuid>,
    /// Its number.
    pub order_no: Option<String>,
    /// The level of a commission.
    pub level: Option<i64>,
    /// The withdrawal or commission row it belongs to.
    pub ref_id: Option<String>,
    /// When.
    pub created_at: chrono::DateTime<chrono::Utc>,
}

/// A distributor's ledger, latest first, at most `limit` rows (`kinds` empty: all).
pub async fn ledger(
    store: &Store,
    member: Uuid,
    kind: Option<&str>,
    limit: i64,
) -> AppResult<Vec<LedgerRow>> {
    let rows = sqlx::query(
        "SELECT l.kind, l.frozen_fen, l.available_fen, l.withdrawing_fen, l.withdrawn_fen, l.order_id, \
         o.order_no, l.level, l.ref_id, l.created_at FROM distribution_ledger l \
         LEFT JOIN orders o ON o.id = l.order_id WHERE l.distributor_id = $1 AND ($2 = '' OR l.kind = $2) \
         ORDER BY l.created_at DESC, l.id DESC LIMIT $3",
    )
    .bind(member.to_string())
    .bind(kind.unwrap_or(""))
    .bind(limit)
    .fetch_all(store.reader())
    .await?;
    rows.iter()
        .map(|r| {
            Ok(LedgerRow {
                kind: col(r, "kind")?,
                delta: balances_from_row(r)?,
                order_id: col::<Option<String>>(r, "order_id")?.and_then(|o| o.parse().ok()),
                order_no: col(r, "order_no")?,
                level: col(r, "level")?,
                ref_id: col(r, "ref_id")?,
                created_at: from_ms(col(r, "created_at")?),
            })
        })
        .collect()
}

/// A distributor's standing on the leaderboard.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct LeaderRow {
    /// The distributor.
    pub member_id: Uuid,
    /// Commission credited since the start (reversals taken off), in fen.
    pub commission_fen: i64,
}

/// Distributors by commission (credits less reversals) since `since_ms`, most first.
pub async fn leaderboard(store: &Store, since_ms: i64, limit: i64) -> AppResult<Vec<LeaderRow>> {
    let rows = sqlx::query(
        "SELECT distributor_id, CAST(COALESCE(SUM(frozen_fen + available_fen), 0) AS BIGINT) AS total \
         FROM distribution_ledger WHERE kind IN ('commission', 'reversal') AND created_at >= $1 \
         GROUP BY distributor_id ORDER BY total DESC, distributor_id LIMIT $2",
    )
    .bind(since_ms)
    .bind(limit)
    .fetch_all(store.reader())
    .await?;
    rows.iter()
        .map(|r| {
            Ok(LeaderRow {
                member_id: uuid_col(r, "distributor_id")?,
                commission_fen: col(r, "total")?,
            })
        })
        .collect()
}

/// A withdrawal request.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Withdrawal {
    /// Client id.
    pub id: Uuid,
    /// The distributor.
    pub distributor_id: Uuid,
    /// Amount in fen.
    pub amount_fen: i64,
    /// `requested`, `approved`, `paid` or `rejected`.
    pub status: String,
    /// The payment's reference (a bank or transfer number), once paid.
    pub reference: String,
    /// Why it was rejected.
    pub reason: String,
    /// Who decided.
    pub decided_by: Option<String>,
    /// Asked.
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// Paid.
    pub paid_at: Option<chrono::DateTime<chrono::Utc>>,
}

const WITHDRAWAL_COLUMNS: &str =
    "id, distributor_id, amount_fen, status, reference, reason, decided_by, created_at, paid_at";

fn withdrawal_from_row(row: &sqlx::any::AnyRow) -> AppResult<Withdrawal> {
    Ok(Withdrawal {
        id: uuid_col(row, "id")?,
        distributor_id: uuid_col(row, "distributor_id")?,
        amount_fen: col(row, "amount_fen")?,
        status: col(row, "status")?,
        reference: col(row, "reference")?,
        reason: col(row, "reason")?,
        decided_by: col(row, "decided_by")?,
        created_at: from_ms(col(row, "created_at")?),
        paid_at: col::<Option<i64>>(row, "paid_at")?.map(from_ms),
    })
}

/// One withdrawal.
pub async fn withdrawal(store: &Store, id: Uuid) -> AppResult<Option<Withdrawal>> {
    let row = sqlx::query(&format!(
        "SELECT {WITHDRAWAL_COLUMNS} FROM distributor_withdrawals WHERE id = $1"
    ))
    .bind(id.to_string())
    .fetch_optional(store.writer())
    .await?;
    row.as_ref().map(withdrawal_from_row).transpose()
}

/// One withdrawal, locked (PostgreSQL) inside a transaction.
pub async fn lock_withdrawal_in_tx(
    tx: &mut Tx,
    store: &Store,
    id: Uuid,
) -> AppResult<Option<Withdrawal>> {
    let row = sqlx::query(&format!(
        "SELECT {WITHDRAWAL_COLUMNS} FROM distributor_withdrawals WHERE id = $1{}",
        store.for_update()
    ))
    .bind(id.to_string())
    .fetch_optional(&mut **tx)
    .await?;
    row.as_ref().map(withdrawal_from_row).transpose()
}

/// Records a requested withdrawal.
pub async fn insert_withdrawal_in_tx(
    tx: &mut Tx,
    id: Uuid,
    distributor: Uuid,
    amount_fen: i64,
) -> AppResult<()> {
    sqlx::query(
        "INSERT INTO distributor_withdrawals (id, distributor_id, amount_fen, status, created_at) \
         VALUES ($1, $2, $3, 'requested', $4)",
    )
    .bind(id.to_string())
    .bind(distributor.to_string())
    .bind(amount_fen)
    .bind(now_ms())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Moves a withdrawal from `from` to `to` with the decider, reference and reason; false when it
/// was not in `from`.
pub async fn move_withdrawal_in_tx(
    tx: &mut Tx,
    id: Uuid,
    from: &str,
    to: &str,
    actor: &str,
    reference: &str,
    reason: &str,
) -> AppResult<bool> {
    let now = now_ms();
    Ok(sqlx::query(
        "UPDATE distributor_withdrawals SET status = $1, decided_by = $2, decided_at = $3, \
         reference = CASE WHEN $4 = '' THEN reference ELSE $4 END, reason = $5, \
         paid_at = CASE WHEN $1 = 'paid' THEN $3 ELSE paid_at END WHERE id = $6 AND status = $7",
    )
    .bind(to)
    .bind(actor)
    .bind(now)
    .bind(reference)
    .bind(reason)
    .bind(id.to_string())
    .bind(from)
    .execute(&mut **tx)
    .await?
    .rows_affected()
        == 1)
}

/// Withdrawals of a status (all when empty) or of one distributor, latest first, at most 500.
pub async fn withdrawals(
    store: &Store,
    status: Option<&str>,
    distributor: Option<Uuid>,
) -> AppResult<Vec<Withdrawal>> {
    let rows = sqlx::query(&format!(
        "SELECT {WITHDRAWAL_COLUMNS} FROM distributor_withdrawals WHERE ($1 = '' OR status = $1) \
         AND ($2 = '' OR distributor_id = $2) ORDER BY created_at DESC LIMIT 500"
    ))
    .bind(status.unwrap_or(""))
    .bind(distributor.map(|d| d.to_string()).unwrap_or_default())
    .fetch_all(store.reader())
    .await?;
    rows.iter().map(withdrawal_from_row).collect()
}

/// Head office's figures: (active distributors, applications waiting, commission credited,
/// reversed, released, paid out, frozen now, available now) in fen.
#[derive(Clone, Debug, Default, Serialize, ToSchema)]
pub struct DistributionReport {
    /// Active distributors.
    pub active: i64,
    /// Applications waiting.
    pub applied: i64,
    /// Orders commissioned.
    pub orders: i64,
    /// Commission credited, in fen.
    pub commission_fen: i64,
    /// Reversed on refunds, in fen (positive).
    pub reversed_fen: i64,
    /// Released, in fen.
    pub released_fen: i64,
    /// Paid out, in fen.
    pub withdrawn_fen: i64,
    /// Frozen now, in fen.
    pub frozen_fen: i64,
    /// Available now, in fen.
    pub available_fen: i64,
    /// Withdrawals waiting, in fen.
    pub withdrawing_fen: i64,
}

/// The distribution report.
pub async fn report(store: &Store) -> AppResult<DistributionReport> {
    let row = sqlx::query(
        "SELECT (SELECT COUNT(*) FROM distributors WHERE status = 'active') AS active, \
         (SELECT COUNT(*) FROM distributors WHERE status = 'applied') AS applied, \
         (SELECT COUNT(*) FROM distribution_orders WHERE outcome = 'commissioned') AS orders, \
         (SELECT CAST(COALESCE(SUM(frozen_fen), 0) AS BIGINT) FROM distribution_ledger WHERE kind = 'commission') AS commission_fen, \
         (SELECT CAST(COALESCE(SUM(-(frozen_fen + available_fen)), 0) AS BIGINT) FROM distribution_ledger WHERE kind = 'reversal') AS reversed_fen, \
         (SELECT CAST(COALESCE(SUM(available_fen), 0) AS BIGINT) FROM distribution_ledger WHERE kind = 'release') AS released_fen, \
         (SELECT CAST(COALESCE(SUM(frozen_fen), 0) AS BIGINT) FROM distributor_accounts) AS frozen_fen, \
         (SELECT CAST(COALESCE(SUM(available_fen), 0) AS BIGINT) FROM distributor_accounts) AS available_fen, \
         (SELECT CAST(COALESCE(SUM(withdrawing_fen), 0) AS BIGINT) FROM distributor_accounts) AS withdrawing_fen, \
         (SELECT CAST(COALESCE(SUM(withdrawn_fen), 0) AS BIGINT) FROM distributor_accounts) AS withdrawn_fen",
    )
    .fetch_one(store.reader())
    .await?;
    Ok(DistributionReport {
        active: col(&row, "active")?,
        applied: col(&row, "applied")?,
        orders: col(&row, "orders")?,
        commission_fen: col(&row, "commission_fen")?,
        reversed_fen: col(&row, "reversed_fen")?,
        released_fen: col(&row, "released_fen")?,
        withdrawn_fen: col(&row, "withdrawn_fen")?,
        frozen_fen: col(&row, "frozen_fen")?,
        available_fen: col(&row, "available_fen")?,
        withdrawing_fen: col(&row, "withdrawing_fen")?,
    })
}

/// The category chain of a SKU (its category, parent, grandparent …).
pub async fn sku_category_chain_in_tx(tx: &mut Tx, sku: Uuid) -> AppResult<Vec<String>> {
    Ok(super::after_sales::sku_categories_in_tx(tx, &[sku])
        .await?
        .into_iter()
        .next()
        .map(|(_, chain)| chain)
        .unwrap_or_default())
}
