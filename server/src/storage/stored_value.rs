//! Stored value online: the recharge packages head office offers (pay ¥100, get ¥110), members'
//! recharges through a payment provider and the notifications that paid them, and the payment
//! PIN that confirms spending the balance online. The balance itself is the ledger in
//! [`super::members`] (principal and bonus apart).

use retail_domain::money::Money;
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::paging::{self, Cursor, Order, Page};
use super::{audit, col, from_ms, now_ms, uuid_col, Store, Tx};
use crate::error::{AppError, AppResult};

/// A recharge package.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct RechargePackage {
    /// Id (the client's, at creation).
    pub id: Uuid,
    /// What the shopper sees, e.g. `充100送10`.
    pub name: String,
    /// What the shopper pays.
    pub pay: Money,
    /// What is added on top (bonus: spent last, never paid out).
    pub bonus: Money,
    /// Offered in the shop now.
    pub active: bool,
    /// Place in the shop's list (smaller first).
    pub sort: i64,
}

const PACKAGE_COLUMNS: &str = "id, name, pay_fen, bonus_fen, active, sort";

fn package(row: &sqlx::any::AnyRow) -> AppResult<RechargePackage> {
    Ok(RechargePackage {
        id: uuid_col(row, "id")?,
        name: col(row, "name")?,
        pay: Money::from_fen(col(row, "pay_fen")?),
        bonus: Money::from_fen(col(row, "bonus_fen")?),
        active: col::<i64>(row, "active")? != 0,
        sort: col(row, "sort")?,
    })
}

/// The packages, in the shop's order; retired ones only with `with_retired`.
pub async fn packages(store: &Store, with_retired: bool) -> AppResult<Vec<RechargePackage>> {
    sqlx::query(&format!(
        "SELECT {PACKAGE_COLUMNS} FROM recharge_packages WHERE active = 1 OR $1 = 1 \
         ORDER BY sort, pay_fen, id"
    ))
    .bind(i64::from(with_retired))
    .fetch_all(store.reader())
    .await?
    .iter()
    .map(package)
    .collect()
}

/// One package, if it exists.
pub async fn package_by_id(store: &Store, id: Uuid) -> AppResult<Option<RechargePackage>> {
    sqlx::query(&format!(
        "SELECT {PACKAGE_COLUMNS} FROM recharge_packages WHERE id = $1"
    ))
    .bind(id.to_string())
    .fetch_optional(store.writer())
    .await?
    .as_ref()
    .map(package)
    .transpose()
}

/// A package to create.
#[derive(Clone, Debug)]
pub struct NewPackage<'a> {
    /// Its id (the client's).
    pub id: Uuid,
    /// Name.
    pub name: &'a str,
    /// Paid.
    pub pay: Money,
    /// Added on top.
    pub bonus: Money,
    /// Place in the list.
    pub sort: i64,
}

/// Creates a package (audited as `recharge_package.create`), idempotent by its id: a retry
/// answers the package; the same id with other values is 409 `id_in_use`.
pub async fn create_package(
    store: &Store,
    new: &NewPackage<'_>,
    actor: &str,
) -> AppResult<RechargePackage> {
    let mut tx = store.begin().await?;
    if let Some(row) = sqlx::query(&format!(
        "SELECT {PACKAGE_COLUMNS} FROM recharge_packages WHERE id = $1"
    ))
    .bind(new.id.to_string())
    .fetch_optional(&mut *tx)
    .await?
    {
        let existing = package(&row)?;
        if existing.name != new.name || existing.pay != new.pay || existing.bonus != new.bonus {
            return Err(AppError::conflict(
                "id_in_use",
                "this id was used for another package",
            ));
        }
        return Ok(existing);
    }
    let now = now_ms();
    sqlx::query(
        "INSERT INTO recharge_packages (id, name, pay_fen, bonus_fen, active, sort, created_by, \
         created_at, updated_at) VALUES ($1, $2, $3, $4, 1, $5, $6, $7, $7)",
    )
    .bind(new.id.to_string())
    .bind(new.name)
    .bind(new.pay.fen())
    .bind(new.bonus.fen())
    .bind(new.sort)
    .bind(actor)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    audit::record(
        &mut tx,
        actor,
        "recharge_package.create",
        "recharge_package",
        &new.id.to_string(),
        serde_json::json!({"name": new.name, "pay": new.pay, "bonus": new.bonus}),
    )
    .await?;
    tx.commit().await?;
    Ok(RechargePackage {
        id: new.id,
        name: new.name.to_owned(),
        pay: new.pay,
        bonus: new.bonus,
        active: true,
        sort: new.sort,
    })
}

/// Offers (`active`) or retires a package (audited as `recharge_package.activate` /
/// `.retire`); 404 for an unknown one. Setting what it already is changes nothing.
pub async fn set_package_active(
    store: &Store,
    id: Uuid,
    active: bool,
    actor: &str,
) -> AppResult<RechargePackage> {
    let mut tx = store.begin().await?;
    let changed = sqlx::query(
        "UPDATE recharge_packages SET active = $1, updated_at = $2 WHERE id = $3 AND active <> $1",
    )
    .bind(i64::from(active))
    .bind(now_ms())
    .bind(id.to_string())
    .execute(&mut *tx)
    .await?
    .rows_affected();
    let row = sqlx::query(&format!(
        "SELECT {PACKAGE_COLUMNS} FROM recharge_packages WHERE id = $1"
    ))
    .bind(id.to_string())
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(|| AppError::not_found(format!("recharge package {id} not found")))?;
    if changed == 1 {
        audit::record(
            &mut tx,
            actor,
            if active {
                "recharge_package.activate"
            } else {
                "recharge_package.retire"
            },
            "recharge_package",
            &id.to_string(),
            serde_json::json!({}),
        )
        .await?;
    }
    tx.commit().await?;
    package(&row)
}

/// A member's recharge.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Recharge {
    /// Id (the provider's `out_trade_no`).
    pub id: Uuid,
    /// Member.
    pub member_id: Uuid,
    /// The package it bought.
    pub package_id: Option<Uuid>,
    /// Paid.
    pub pay: Money,
    /// Bonus added when paid.
    pub bonus: Money,
    /// Tender: `wechat_pay`, `alipay`, `sandbox_qr`.
    pub method: String,
    /// `pending`, `paid` or `closed`.
    pub status: String,
    /// The provider's transaction id once paid.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transaction_id: Option<String>,
    /// Started.
    pub created_at: chrono::DateTime<chrono::Utc>,
}

const RECHARGE_COLUMNS: &str =
    "id, member_id, package_id, pay_fen, bonus_fen, method, status, provider_ref, created_at";

fn recharge(row: &sqlx::any::AnyRow) -> AppResult<Recharge> {
    let package_id: Option<String> = col(row, "package_id")?;
    Ok(Recharge {
        id: uuid_col(row, "id")?,
        member_id: uuid_col(row, "member_id")?,
        package_id: package_id.and_then(|p| Uuid::try_parse(&p).ok()),
        pay: Money::from_fen(col(row, "pay_fen")?),
        bonus: Money::from_fen(col(row, "bonus_fen")?),
        method: col(row, "method")?,
        status: col(row, "status")?,
        transaction_id: col(row, "provider_ref")?,
        created_at: from_ms(col(row, "created_at")?),
    })
}

/// Starts (or, on retry with the same id, returns) a pending recharge of `package` for a
/// member through `method` in `scene`. The same id for another member, package or tender is 409
/// `id_in_use`.
pub async fn create_recharge(
    store: &Store,
    id: Uuid,
    member_id: Uuid,
    package: &RechargePackage,
    method: &str,
    scene: &str,
) -> AppResult<Recharge> {
    let mut tx = store.begin().await?;
    if let Some(row) = sqlx::query(&format!(
        "SELECT {RECHARGE_COLUMNS} FROM recharges WHERE id = $1"
    ))
    .bind(id.to_string())
    .fetch_optional(&mut *tx)
    .await?
    {
        let existing = recharge(&row)?;
        if existing.member_id != member_id
            || existing.package_id != Some(package.id)
            || existing.method != method
        {
            return Err(AppError::conflict(
                "id_in_use",
                "this id was used for another recharge",
            ));
        }
        return Ok(existing);
    }
    let now = now_ms();
    sqlx::query(
        "INSERT INTO recharges (id, member_id, package_id, pay_fen, bonus_fen, method, scene, \
         status, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending', $8, $8)",
    )
    .bind(id.to_string())
    .bind(member_id.to_string())
    .bind(package.id.to_string())
    .bind(package.pay.fen())
    .bind(package.bonus.fen())
    .bind(method)
    .bind(scene)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Recharge {
        id,
        member_id,
        package_id: Some(package.id),
        pay: package.pay,
        bonus: package.bonus,
        method: method.to_owned(),
        status: "pending".into(),
        transaction_id: None,
        created_at: from_ms(now),
    })
}

/// One recharge, if it exists.
pub async fn recharge_by_id(store: &Store, id: Uuid) -> AppResult<Option<Recharge>> {
    sqlx::query(&format!(
        "SELECT {RECHARGE_COLUMNS} FROM recharges WHERE id = $1"
    ))
    .bind(id.to_string())
    .fetch_optional(store.writer())
    .await?
    .as_ref()
    .map(recharge)
    .transpose()
}

/// A page of a member's recharges, newest first (keyset on creation time then id, from
/// `cursor`).
pub async fn recharges_of_member(
    store: &Store,
    member_id: Uuid,
    cursor: Option<&Cursor>,
    limit: i64,
) -> AppResult<Page<Recharge>> {
    let sql = format!(
        "SELECT {RECHARGE_COLUMNS} FROM recharges WHERE member_id = $1 AND {} {} LIMIT $2",
        paging::after("created_at", "id", 3, Order::Desc),
        paging::order_by("created_at", "id", Order::Desc),
    );
    let query = sqlx::query(&sql)
        .bind(member_id.to_string())
        .bind(paging::fetch_limit(limit));
    paging::fetch(store.reader(), query, cursor, limit, |row| {
        let r = recharge(row)?;
        Ok((Cursor::new(r.created_at.timestamp_millis(), r.id), r))
    })
    .await
}

/// Reads (and on PostgreSQL locks) a recharge inside a transaction, if it exists.
pub async fn lock_recharge(tx: &mut Tx, store: &Store, id: Uuid) -> AppResult<Option<Recharge>> {
    sqlx::query(&format!(
        "SELECT {RECHARGE_COLUMNS} FROM recharges WHERE id = $1{}",
        store.for_update()
    ))
    .bind(id.to_string())
    .fetch_optional(&mut **tx)
    .await?
    .as_ref()
    .map(recharge)
    .transpose()
}

/// Records a provider notification of a recharge inside the transaction that applies it: 409
/// `replayed_notification` for one taken before.
pub async fn record_recharge_notification(
    tx: &mut Tx,
    notify_id: &str,
    recharge_id: Uuid,
) -> AppResult<()> {
    let inserted = sqlx::query(
        "INSERT INTO recharge_notifications (notify_id, recharge_id, received_at) \
         VALUES ($1, $2, $3) ON CONFLICT (notify_id) DO NOTHING",
    )
    .bind(notify_id)
    .bind(recharge_id.to_string())
    .bind(now_ms())
    .execute(&mut **tx)
    .await?
    .rows_affected();
    if inserted == 0 {
        return Err(AppError::conflict(
            "replayed_notification",
            "this notification was already processed",
        ));
    }
    Ok(())
}

/// Marks a recharge paid with the provider's transaction id (also one closed meanwhile: the
/// money is real and the member wanted it).
pub async fn mark_recharge_paid(tx: &mut Tx, id: Uuid, provider_ref: &str) -> AppResult<()> {
    let now = now_ms();
    sqlx::query(
        "UPDATE recharges SET status = 'paid', provider_ref = $1, paid_at = $2, updated_at = $2 \
         WHERE id = $3",
    )
    .bind(provider_ref)
    .bind(now)
    .bind(id.to_string())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Provider recharges still pending that the settler should ask about (started, or last asked
/// about, before `before`), oldest first.
pub async fn pending_recharges(store: &Store, before: i64, limit: i64) -> AppResult<Vec<Recharge>> {
    sqlx::query(&format!(
        "SELECT {RECHARGE_COLUMNS} FROM recharges WHERE status = 'pending' \
         AND method IN ('wechat_pay', 'alipay') AND created_at <= $1 \
         AND (checked_at IS NULL OR checked_at <= $1) ORDER BY created_at, id LIMIT $2"
    ))
    .bind(before)
    .bind(limit)
    .fetch_all(store.reader())
    .await?
    .iter()
    .map(recharge)
    .collect()
}

/// Closes a recharge never paid (closed at its provider).
pub async fn mark_recharge_closed(store: &Store, id: Uuid) -> AppResult<()> {
    sqlx::query(
        "UPDATE recharges SET status = 'closed', updated_at = $1 WHERE id = $2 AND status = 'pending'",
    )
    .bind(now_ms())
    .bind(id.to_string())
    .execute(store.writer())
    .await?;
    Ok(())
}

/// A member's payment PIN as stored: its hash, wrong tries in a row, locked until when.
#[derive(Clone, Debug, Default)]
pub struct PayPin {
    /// Argon2 PHC string; none until the member sets one.
    pub hash: Option<String>,
    /// Wrong tries since the last right one.
    pub failures: i64,
    /// Locked until (ms since the epoch), after too many wrong tries.
    pub locked_until: Option<i64>,
}

/// The member's payment PIN; 404 for an unknown member.
pub async fn pay_pin(store: &Store, member_id: Uuid) -> AppResult<PayPin> {
    let row = sqlx::query(
        "SELECT pay_pin_hash, pay_pin_failures, pay_pin_locked_until FROM members WHERE id = $1",
    )
    .bind(member_id.to_string())
    .fetch_optional(store.writer())
    .await?
    .ok_or_else(|| AppError::not_found(format!("member {member_id} not found")))?;
    Ok(PayPin {
        hash: col(&row, "pay_pin_hash")?,
        failures: col(&row, "pay_pin_failures")?,
        locked_until: col(&row, "pay_pin_locked_until")?,
    })
}

/// Sets the member's payment PIN hash (audited as `member.pay_pin`), clearing wrong tries.
pub async fn set_pay_pin(store: &Store, member_id: Uuid, hash: &str, actor: &str) -> AppResult<()> {
    let mut tx = store.begin().await?;
    sqlx::query(
        "UPDATE members SET pay_pin_hash = $1, pay_pin_failures = 0, pay_pin_locked_until = NULL \
         WHERE id = $2",
    )
    .bind(hash)
    .bind(member_id.to_string())
    .execute(&mut *tx)
    .await?;
    audit::record(
        &mut tx,
        actor,
        "member.pay_pin",
        "member",
        &member_id.to_string(),
        serde_json::json!({}),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Counts a wrong PIN; from `max_failures` wrong tries in a row the PIN is locked until
/// `lock_until`. Answers the wrong tries so far.
pub async fn pay_pin_failed(
    store: &Store,
    member_id: Uuid,
    max_failures: i64,
    lock_until: i64,
) -> AppResult<i64> {
    let row = sqlx::query(
        "UPDATE members SET pay_pin_failures = pay_pin_failures + 1, \
         pay_pin_locked_until = CASE WHEN pay_pin_failures + 1 >= $1 THEN $2 ELSE pay_pin_locked_until END \
         WHERE id = $3 RETURNING pay_pin_failures",
    )
    .bind(max_failures)
    .bind(lock_until)
    .bind(member_id.to_string())
    .fetch_one(store.writer())
    .await?;
    col(&row, "pay_pin_failures")
}

/// Clears the wrong tries after a right PIN.
pub async fn pay_pin_passed(store: &Store, member_id: Uuid) -> AppResult<()> {
    sqlx::query(
        "UPDATE members SET pay_pin_failures = 0, pay_pin_locked_until = NULL \
         WHERE id = $1 AND (pay_pin_failures <> 0 OR pay_pin_locked_until IS NOT NULL)",
    )
    .bind(member_id.to_string())
    .execute(store.writer())
    .await?;
    Ok(())
}
