//! Members, their points ledger and their stored-balance ledger (docs/DESIGN.md §4 "Members and points").
//!
//! * The phone number is the natural key but is never stored in clear: `phone_enc` holds it
//!   sealed with the data key ([`Keys::seal`]), `phone_hash` the keyed look-up hash
//!   ([`Keys::lookup_hash`]) of the normalised number (see [`normalize_phone`]).
//! * Both ledgers are append-only; a balance is the sum of its ledger. Every row a caller may
//!   retry carries a `ref_id`, and `UNIQUE (kind, ref_id)` makes each write idempotent: the
//!   `*_in_tx` functions insert with `ON CONFLICT (kind, ref_id) DO NOTHING` and report whether
//!   the row was applied.
//! * Debits that must not overdraw (redeeming points, paying with stored balance, negative
//!   adjustments) read the balance after locking the member row (PostgreSQL
//!   `SELECT … FOR UPDATE`; SQLite's single writer connection already serialises writers), so two
//!   concurrent debits cannot both spend the same points.
//! * **Points debt.** A reversal (points earned on a refunded order or sale taken back) is
//!   recorded whole, even when the member has spent those points already: it is the one write
//!   that may take the points balance below zero, and that negative balance *is* the member's
//!   points debt (积分欠款). Its row's reason says how many of the points became debt. While the
//!   balance is negative nothing can be redeemed (every debit above needs a balance at least as
//!   large as itself), and later earnings pay the debt off first (the balance is a sum).
//!
//! # Points expiry (FIFO)
//!
//! Positive `earn` and `adjust` rows are *lots* that carry `expires_at` (their time plus
//! `points.expiry_months`; no expiry when that is 0). Rows without `expires_at` (opening balances
//! of the demo loader) never expire. Every other row is *consumption*: `redeem`, `reverse`,
//! negative `adjust` and earlier `expire` rows count positively, `refund` (redeemed points given
//! back) negatively.
//!
//! Consumption is attributed to the lots in order of expiry (first in, first out: the oldest
//! points are spent first). So at time `now` the points that expired unspent are
//! `max(0, due(now) − consumed)`, where `due(now)` is the sum of the lots with
//! `expires_at ≤ now` and `consumed` the net consumption so far (including what was already
//! expired). [`expire_points`] writes one `expire` row with exactly that amount for each member
//! where it is positive; afterwards `due(now) ≤ consumed`, so a second run at the same (or any
//! earlier) time expires nothing more. The balance afterwards equals the still-valid lots minus
//! any consumption beyond the expired ones.
//!
//! A points debt is consumption beyond every lot, so it never expires and is never expired
//! against: the balance is `lots − consumed`, and `due(now) ≤ lots`, so what expires is at most
//! the balance — nothing while the balance is zero or negative. A lot earned while in debt is
//! consumed by the debt first; only what is left of it beyond the debt can expire.

use chrono::Months;
use retail_domain::codes::MemberCode;
use retail_domain::money::Money;
use retail_domain::points::PointsRules;
use rust_decimal::Decimal;
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::paging::{self, Cursor, Order};
use super::{audit, col, from_ms, now_ms, uuid_col, Dialect, Store, Tx};
use crate::error::{AppError, AppResult};
use crate::secrets::{Keys, SealedField};

/// Largest manual point adjustment, either way (head office; store managers have a smaller
/// configured limit).
pub const MAX_ADJUSTMENT: i64 = 1_000_000;

/// Normalises a mainland-China mobile number: spaces and `-` are ignored, a `+86`, `0086` or
/// `86` country prefix is dropped, and what remains must be 11 digits `1[3-9]xxxxxxxxx`.
pub fn normalize_phone(text: &str) -> Result<String, &'static str> {
    const MESSAGE: &str = "must be a mainland mobile number: 11 digits starting with 13–19";
    if text.len() > 32 {
        return Err(MESSAGE);
    }
    let trimmed = text.trim();
    let (plus, rest) = match trimmed.strip_prefix('+') {
        Some(rest) => (true, rest),
        None => (false, trimmed),
    };
    let mut digits = String::with_capacity(rest.len());
    for c in rest.chars() {
        match c {
            '0'..='9' => digits.push(c),
            ' ' | '-' => {}
            _ => return Err(MESSAGE),
        }
    }
    let national = if plus {
        digits.strip_prefix("86").ok_or(MESSAGE)?
    } else if digits.len() == 15 {
        digits.strip_prefix("0086").ok_or(MESSAGE)?
    } else if digits.len() == 13 {
        digits.strip_prefix("86").ok_or(MESSAGE)?
    } else {
        &digits
    };
    let bytes = national.as_bytes();
    if bytes.len() != 11 || bytes[0] != b'1' || !(b'3'..=b'9').contains(&bytes[1]) {
        return Err(MESSAGE);
    }
    Ok(national.to_owned())
}

/// `138****8000` for display; anything unexpected is fully masked.
pub fn mask_phone(phone: &str) -> String {
    if phone.len() == 11 && phone.is_ascii() {
        format!("{}****{}", &phone[..3], &phone[7..])
    } else {
        "***********".to_owned()
    }
}

/// A member's tier as shown to staff.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TierView {
    /// Stable machine code, e.g. `silver`.
    pub code: String,
    /// Display name, e.g. `银卡会员`.
    pub name: String,
    /// Points multiplier on the base earn rate.
    #[schema(value_type = String, example = "1.2")]
    pub multiplier: Decimal,
    /// Price factor for tier discounts (1 = none, 0.95 = 9.5折).
    #[schema(value_type = String, example = "0.98")]
    pub discount: Decimal,
}

/// A member as shown to staff and devices (the phone number masked).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Member {
    /// Id.
    pub id: Uuid,
    /// Masked phone number, e.g. `138****8000`.
    pub phone: String,
    /// Name (may be empty).
    pub name: String,
    /// Growth value (decides the tier).
    pub growth: i64,
    /// Current tier.
    pub tier: TierView,
    /// Points balance: the signed sum of the points ledger. Negative while the member owes
    /// points (a refund took back points already spent: points debt, 积分欠款).
    pub points: i64,
    /// Stored balance (the sum of the balance ledger).
    pub balance: Money,
    /// Registration time (RFC 3339).
    pub created_at: chrono::DateTime<chrono::Utc>,
}

/// One row of the points ledger.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PointsEntry {
    /// Row id.
    pub id: Uuid,
    /// Points added (positive) or taken (negative).
    pub delta: i64,
    /// `earn`, `redeem`, `expire`, `adjust`, `reverse` or `refund`.
    pub kind: String,
    /// Why (adjustments; a reversal that became points debt says how much).
    pub reason: String,
    /// What it belongs to (order, sale, return, adjustment id).
    pub ref_id: Option<String>,
    /// Who.
    pub actor: String,
    /// When earned points expire.
    pub expires_at: Option<chrono::DateTime<chrono::Utc>>,
    /// When (RFC 3339).
    pub created_at: chrono::DateTime<chrono::Utc>,
}

/// One row of the stored-balance ledger.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BalanceEntry {
    /// Row id.
    pub id: Uuid,
    /// Amount added (positive) or taken (negative).
    pub amount: Money,
    /// The part of `amount` that is bonus (a recharge package's 赠送金额; same sign, zero for
    /// plain money). Spending takes principal first and bonus last.
    pub bonus: Money,
    /// `topup`, `pay`, `refund` or `adjust`.
    pub kind: String,
    /// Why.
    pub reason: String,
    /// What it belongs to (top-up id, order id, refund id).
    pub ref_id: Option<String>,
    /// Who.
    pub actor: String,
    /// When (RFC 3339).
    pub created_at: chrono::DateTime<chrono::Utc>,
}

/// A page of a ledger, newest first (the shared keyset page).
pub use super::paging::Page;

/// The outcome of a registration.
#[derive(Debug, Clone)]
pub enum Registration {
    /// A new member.
    Created(Member),
    /// A retry with the same id and phone: the member registered the first time.
    Existing(Member),
    /// The phone number belongs to another member (this id).
    PhoneTaken(Uuid),
}

/// Unix milliseconds `expiry_months` after `at_ms`; `None` when points do not expire.
pub fn expiry_for(rules: &PointsRules, at_ms: i64) -> Option<i64> {
    if rules.expiry_months == 0 {
        return None;
    }
    Some(
        from_ms(at_ms)
            .checked_add_months(Months::new(rules.expiry_months))
            .map(|t| t.timestamp_millis())
            .unwrap_or(i64::MAX),
    )
}

fn member_from_row(row: &sqlx::any::AnyRow, keys: &Keys, rules: &PointsRules) -> AppResult<Member> {
    let id = uuid_col(row, "id")?;
    let phone_enc: String = col(row, "phone_enc")?;
    let phone = keys
        .open(SealedField::MemberPhone, id, &phone_enc)
        .map(|p| mask_phone(&p))
        .map_err(|e| AppError::Internal(e.context("member phone does not decrypt")))?;
    let name = member_name(keys, id, col(row, "name")?, col(row, "name_enc")?)?;
    let growth: i64 = col(row, "growth")?;
    let platform_tier: Option<String> = col(row, "platform_tier")?;
    let tier = effective_tier(rules, growth, platform_tier.as_deref());
    Ok(Member {
        id,
        phone,
        name,
        growth,
        tier: TierView {
            code: tier.code.clone(),
            name: tier.name.clone(),
            multiplier: tier.points_multiplier,
            discount: tier.discount,
        },
        points: col(row, "points")?,
        balance: Money::from_fen(col(row, "balance_fen")?),
        created_at: from_ms(col(row, "created_at")?),
    })
}

/// A member's name: sealed (`name_enc`), or written before names were sealed (`name`).
pub fn member_name(
    keys: &Keys,
    id: Uuid,
    name: String,
    name_enc: Option<String>,
) -> AppResult<String> {
    match name_enc {
        Some(sealed) => keys
            .open(SealedField::MemberName, id, &sealed)
            .map_err(|e| AppError::Internal(e.context("member name does not decrypt"))),
        None => Ok(name),
    }
}

/// A name sealed for `members.name_enc` (`None` for no name).
fn seal_name(keys: &Keys, id: Uuid, name: &str) -> AppResult<Option<String>> {
    let name = name.trim();
    if name.is_empty() {
        return Ok(None);
    }
    Ok(Some(keys.seal(SealedField::MemberName, id, name)?))
}

/// The tier a member has: the one the middle platform set (`member_platform_tiers`, see
/// docs/CONTRACTS.md "Middle-platform sync"), when it set one the rules know; else the tier of
/// the member's growth.
pub fn effective_tier<'a>(
    rules: &'a PointsRules,
    growth: i64,
    platform_tier: Option<&str>,
) -> &'a retail_domain::points::Tier {
    platform_tier
        .and_then(|code| rules.tier(code))
        .unwrap_or_else(|| rules.tier_for_growth(growth))
}

/// The column `platform_tier`: the tier code the middle platform set for member `m`, if any.
const PLATFORM_TIER: &str =
    "(SELECT t.tier_code FROM member_platform_tiers t WHERE t.member_id = m.id) AS platform_tier";

const MEMBER_SELECT: &str = "SELECT m.id, m.phone_enc, m.name, m.name_enc, m.growth, m.created_at, \
     (SELECT t.tier_code FROM member_platform_tiers t WHERE t.member_id = m.id) AS platform_tier, \
     (SELECT CAST(COALESCE(SUM(p.delta), 0) AS BIGINT) FROM points_ledger p WHERE p.member_id = m.id) AS points, \
     (SELECT CAST(COALESCE(SUM(b.delta_fen), 0) AS BIGINT) FROM balance_ledger b WHERE b.member_id = m.id) AS balance_fen \
     FROM members m";

/// One member, with tier and balances; 404 when unknown.
pub async fn get(store: &Store, keys: &Keys, rules: &PointsRules, id: Uuid) -> AppResult<Member> {
    find_by_id(store, keys, rules, id)
        .await?
        .ok_or_else(|| AppError::not_found(format!("member {id} not found")))
}

/// One member, if it exists.
pub async fn find_by_id(
    store: &Store,
    keys: &Keys,
    rules: &PointsRules,
    id: Uuid,
) -> AppResult<Option<Member>> {
    // Through the writer pool: read-your-writes right after a registration or a ledger write
    // (the SQLite reader pool may lag a committed WAL frame by a moment).
    let row = sqlx::query(&format!("{MEMBER_SELECT} WHERE m.id = $1"))
        .bind(id.to_string())
        .fetch_optional(store.writer())
        .await?;
    row.map(|row| member_from_row(&row, keys, rules))
        .transpose()
}

/// The members with these ids that exist (for the change feed).
pub async fn find_many(
    store: &Store,
    keys: &Keys,
    rules: &PointsRules,
    ids: &[Uuid],
) -> AppResult<Vec<Member>> {
    let wanted: Vec<String> = ids.iter().map(Uuid::to_string).collect();
    super::rows_by_keys(store, MEMBER_SELECT, "m.id", "", &wanted)
        .await?
        .iter()
        .map(|row| member_from_row(row, keys, rules))
        .collect()
}

/// The member with this (normalised) phone number, if any.
pub async fn by_phone(
    store: &Store,
    keys: &Keys,
    rules: &PointsRules,
    phone: &str,
) -> AppResult<Option<Member>> {
    let row = sqlx::query(&format!("{MEMBER_SELECT} WHERE m.phone_hash = $1"))
        .bind(keys.lookup_hash(phone))
        .fetch_optional(store.reader())
        .await?;
    row.map(|row| member_from_row(&row, keys, rules))
        .transpose()
}

/// Registers a member with a normalised phone number (see [`normalize_phone`]). Idempotent by
/// id: a retry with the same id and phone answers [`Registration::Existing`]; the same id with
/// another phone is a 409 `id_in_use`.
pub async fn register(
    store: &Store,
    keys: &Keys,
    rules: &PointsRules,
    id: Uuid,
    phone: &str,
    name: &str,
) -> AppResult<Registration> {
    register_with_gifts(store, keys, rules, id, phone, name, true).await
}

/// [`register`], with the sign-up coupons (新人券) only when `signup_gifts` (the shop gives
/// them to a limited number of sign-ups per client address and day).
pub async fn register_with_gifts(
    store: &Store,
    keys: &Keys,
    rules: &PointsRules,
    id: Uuid,
    phone: &str,
    name: &str,
    signup_gifts: bool,
) -> AppResult<Registration> {
    let hash = keys.lookup_hash(phone);
    let sealed = keys.seal(SealedField::MemberPhone, id, phone)?;
    let sealed_name = seal_name(keys, id, name)?;
    let mut tx = store.begin().await?;
    // No conflict target: a clash on the id or on the phone hash both leave the table unchanged.
    let inserted = sqlx::query(
        "INSERT INTO members (id, phone_hash, phone_enc, name, name_enc, growth, created_at) \
         VALUES ($1, $2, $3, '', $4, 0, $5) ON CONFLICT DO NOTHING",
    )
    .bind(id.to_string())
    .bind(&hash)
    .bind(&sealed)
    .bind(sealed_name)
    .bind(now_ms())
    .execute(&mut *tx)
    .await?
    .rows_affected()
        == 1;
    if inserted && signup_gifts {
        // Sign-up coupons (新人券) come with the membership, in the same transaction.
        super::coupons::issue_automatic(&mut tx, id, super::coupons::IssueOn::Signup).await?;
    }
    tx.commit().await?;
    if inserted {
        return Ok(Registration::Created(get(store, keys, rules, id).await?));
    }
    let by_id = sqlx::query("SELECT phone_hash FROM members WHERE id = $1")
        .bind(id.to_string())
        .fetch_optional(store.writer())
        .await?;
    if let Some(row) = by_id {
        let stored: String = col(&row, "phone_hash")?;
        return if stored == hash {
            Ok(Registration::Existing(get(store, keys, rules, id).await?))
        } else {
            Err(AppError::conflict(
                "id_in_use",
                "a member with this id is registered with another phone number",
            ))
        };
    }
    let by_phone = sqlx::query("SELECT id FROM members WHERE phone_hash = $1")
        .bind(&hash)
        .fetch_optional(store.writer())
        .await?;
    match by_phone {
        Some(row) => Ok(Registration::PhoneTaken(uuid_col(&row, "id")?)),
        None => Err(AppError::Internal(anyhow::anyhow!(
            "member insert conflicted but neither the id nor the phone is registered"
        ))),
    }
}

/// A member's growth, points balance and the tier code the middle platform set (if any) in one
/// read (for pricing: see [`effective_tier`]), or None when unknown.
pub async fn pricing_member(
    store: &Store,
    member_id: Uuid,
) -> AppResult<Option<(i64, i64, Option<String>)>> {
    let row = sqlx::query(&format!(
        "SELECT m.growth, (SELECT CAST(COALESCE(SUM(l.delta), 0) AS BIGINT) FROM points_ledger l \
         WHERE l.member_id = m.id) AS points, {PLATFORM_TIER} FROM members m WHERE m.id = $1"
    ))
    .bind(member_id.to_string())
    .fetch_optional(store.reader())
    .await?;
    row.map(|row| {
        Ok((
            col(&row, "growth")?,
            col(&row, "points")?,
            col(&row, "platform_tier")?,
        ))
    })
    .transpose()
}

/// A member's growth and points balance in one read (for pricing), or None when unknown.
pub async fn growth_and_points(store: &Store, member_id: Uuid) -> AppResult<Option<(i64, i64)>> {
    let row = sqlx::query(
        "SELECT m.growth, (SELECT CAST(COALESCE(SUM(l.delta), 0) AS BIGINT) FROM points_ledger l \
         WHERE l.member_id = m.id) AS points FROM members m WHERE m.id = $1",
    )
    .bind(member_id.to_string())
    .fetch_optional(store.reader())
    .await?;
    row.map(|row| Ok((col(&row, "growth")?, col(&row, "points")?)))
        .transpose()
}

/// True when the member exists.
pub async fn exists(store: &Store, member_id: Uuid) -> AppResult<bool> {
    let row = sqlx::query("SELECT id FROM members WHERE id = $1")
        .bind(member_id.to_string())
        .fetch_optional(store.reader())
        .await?;
    Ok(row.is_some())
}

/// The member's points balance (the sum of the ledger; 0 for an unknown member).
pub async fn points_balance(store: &Store, member_id: Uuid) -> AppResult<i64> {
    let row = sqlx::query(
        "SELECT CAST(COALESCE(SUM(delta), 0) AS BIGINT) AS total FROM points_ledger WHERE member_id = $1",
    )
    .bind(member_id.to_string())
    .fetch_one(store.writer())
    .await?;
    col(&row, "total")
}

async fn points_balance_tx(tx: &mut Tx, member_id: Uuid) -> AppResult<i64> {
    let row = sqlx::query(
        "SELECT CAST(COALESCE(SUM(delta), 0) AS BIGINT) AS total FROM points_ledger WHERE member_id = $1",
    )
    .bind(member_id.to_string())
    .fetch_one(&mut **tx)
    .await?;
    col(&row, "total")
}

async fn balance_fen_tx(tx: &mut Tx, member_id: Uuid) -> AppResult<i64> {
    let (principal, bonus) = balance_split_tx(tx, member_id).await?;
    Ok(principal + bonus)
}

/// The member's stored balance as `(principal, bonus)` in fen.
async fn balance_split_tx(tx: &mut Tx, member_id: Uuid) -> AppResult<(i64, i64)> {
    let row = sqlx::query(
        "SELECT CAST(COALESCE(SUM(delta_fen - bonus_fen), 0) AS BIGINT) AS principal, \
         CAST(COALESCE(SUM(bonus_fen), 0) AS BIGINT) AS bonus FROM balance_ledger WHERE member_id = $1",
    )
    .bind(member_id.to_string())
    .fetch_one(&mut **tx)
    .await?;
    Ok((col(&row, "principal")?, col(&row, "bonus")?))
}

/// A member's stored balance, principal and bonus apart.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct BalanceSplit {
    /// Money the member paid in (refundable to its tender).
    pub principal: Money,
    /// Bonus given with recharges: spent last, never paid out.
    pub bonus: Money,
}

impl BalanceSplit {
    /// Principal and bonus together: what can be spent.
    pub fn total(&self) -> Money {
        Money::from_fen(self.principal.fen() + self.bonus.fen())
    }
}

/// The member's stored balance, principal and bonus apart.
pub async fn balance_split(store: &Store, member_id: Uuid) -> AppResult<BalanceSplit> {
    let row = sqlx::query(
        "SELECT CAST(COALESCE(SUM(delta_fen - bonus_fen), 0) AS BIGINT) AS principal, \
         CAST(COALESCE(SUM(bonus_fen), 0) AS BIGINT) AS bonus FROM balance_ledger WHERE member_id = $1",
    )
    .bind(member_id.to_string())
    .fetch_one(store.writer())
    .await?;
    Ok(BalanceSplit {
        principal: Money::from_fen(col(&row, "principal")?),
        bonus: Money::from_fen(col(&row, "bonus")?),
    })
}

fn unknown_member(member_id: Uuid) -> AppError {
    AppError::field("member_id", format!("no member {member_id}"))
}

/// Locks the member row until the transaction ends (PostgreSQL `FOR UPDATE`; SQLite's single
/// writer needs nothing) and returns its growth; `None` for an unknown member.
async fn lock_member(tx: &mut Tx, dialect: Dialect, member_id: Uuid) -> AppResult<Option<i64>> {
    let lock = match dialect {
        Dialect::Sqlite => "",
        Dialect::Postgres => " FOR UPDATE",
    };
    let row = sqlx::query(&format!("SELECT growth FROM members WHERE id = $1{lock}"))
        .bind(member_id.to_string())
        .fetch_optional(&mut **tx)
        .await?;
    row.map(|row| col(&row, "growth")).transpose()
}

/// 409 `member_deleted` when the member deleted their account (privacy): staff credit nothing
/// new to an anonymised member (a retry of an earlier write still answers its first result).
async fn refuse_deleted(tx: &mut Tx, member_id: Uuid) -> AppResult<()> {
    let row = sqlx::query("SELECT deleted_at FROM members WHERE id = $1")
        .bind(member_id.to_string())
        .fetch_optional(&mut **tx)
        .await?;
    let deleted: Option<i64> = match row {
        Some(r) => col(&r, "deleted_at")?,
        None => None,
    };
    if deleted.is_some() {
        return Err(AppError::conflict(
            "member_deleted",
            "this member deleted their account",
        ));
    }
    Ok(())
}

/// Locks the member row without knowing the dialect: a no-op `UPDATE` takes the row lock on
/// PostgreSQL (and is harmless on SQLite). False for an unknown member.
async fn lock_member_by_update(tx: &mut Tx, member_id: Uuid) -> AppResult<bool> {
    let touched = sqlx::query("UPDATE members SET growth = growth WHERE id = $1")
        .bind(member_id.to_string())
        .execute(&mut **tx)
        .await?
        .rows_affected();
    Ok(touched == 1)
}

/// A new points row; `Ok(true)` when inserted, `Ok(false)` when `(kind, ref_id)` already exists.
#[allow(clippy::too_many_arguments)]
async fn insert_points(
    tx: &mut Tx,
    member_id: Uuid,
    delta: i64,
    kind: &str,
    reason: &str,
    ref_id: &str,
    actor: &str,
    expires_at: Option<i64>,
    created_at: i64,
) -> AppResult<bool> {
    let done = sqlx::query(
        "INSERT INTO points_ledger (id, member_id, delta, kind, reason, ref_id, actor, expires_at, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (kind, ref_id) DO NOTHING",
    )
    .bind(retail_domain::ids::new_id().to_string())
    .bind(member_id.to_string())
    .bind(delta)
    .bind(kind)
    .bind(reason)
    .bind(ref_id)
    .bind(actor)
    .bind(expires_at)
    .bind(created_at)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    Ok(done == 1)
}

/// A balance row to write.
struct NewBalanceRow<'a> {
    member_id: Uuid,
    delta_fen: i64,
    /// The part of `delta_fen` that is bonus (same sign).
    bonus_fen: i64,
    kind: &'a str,
    reason: &'a str,
    ref_id: &'a str,
    order_id: Option<Uuid>,
    actor: &'a str,
    created_at: i64,
}

/// A new balance row; `Ok(true)` when inserted, `Ok(false)` when `(kind, ref_id)` already exists.
async fn insert_balance(tx: &mut Tx, row: &NewBalanceRow<'_>) -> AppResult<bool> {
    let done = sqlx::query(
        "INSERT INTO balance_ledger (id, member_id, delta_fen, bonus_fen, kind, reason, ref_id, \
         order_id, actor, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
         ON CONFLICT (kind, ref_id) DO NOTHING",
    )
    .bind(retail_domain::ids::new_id().to_string())
    .bind(row.member_id.to_string())
    .bind(row.delta_fen)
    .bind(row.bonus_fen)
    .bind(row.kind)
    .bind(row.reason)
    .bind(row.ref_id)
    .bind(row.order_id.map(|o| o.to_string()))
    .bind(row.actor)
    .bind(row.created_at)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    if done == 1 && row.delta_fen != 0 && row.actor != "system:demo" {
        // The member is told (in-app, and SMS or WeChat as they chose), once per ledger row;
        // not of the demo chain's opening balances.
        let sign = if row.delta_fen > 0 { "+" } else { "-" };
        let amount = retail_domain::money::Money::from_fen(row.delta_fen.saturating_abs());
        super::notifications::notify_account_in_tx(
            tx,
            row.member_id,
            super::notifications::EventKind::BalanceChanged,
            &format!("{}:{}", row.kind, row.ref_id),
            &serde_json::json!({
                "amount": format!("{sign}{amount}"),
                "change": row.kind,
                "reason": row.reason,
            }),
        )
        .await?;
    }
    Ok(done == 1)
}

/// Members whose points would expire by `until_ms` unless spent: `(member, points, total due
/// by then)` (the total names the batch: it grows when more points fall due).
pub async fn points_expiring(store: &Store, until_ms: i64) -> AppResult<Vec<(Uuid, i64, i64)>> {
    let rows = sqlx::query(&format!(
        "SELECT member_id, {EXPIRY_SUMS} FROM points_ledger \
         WHERE member_id IN (SELECT id FROM members WHERE deleted_at IS NULL) GROUP BY member_id"
    ))
    .bind(until_ms)
    .fetch_all(store.reader())
    .await?;
    let mut out = Vec::new();
    for row in rows {
        let due: i64 = col(&row, "due")?;
        let consumed: i64 = col(&row, "consumed")?;
        if due > consumed {
            out.push((uuid_col(&row, "member_id")?, due - consumed, due));
        }
    }
    Ok(out)
}

/// How much of `amount` (fen) a payment takes from bonus: principal first, bonus last.
fn bonus_taken(amount: i64, principal: i64) -> i64 {
    (amount - principal.max(0)).clamp(0, amount.max(0))
}

/// How much of a refund of `amount` (fen) to an order's balance payments is bonus: the share of
/// bonus those payments took (`paid`, `paid_bonus`), applied to everything refunded so far
/// (`refunded_before`, of which `bonus_before` was bonus) plus this refund, rounded down; so
/// the refunds of one order never give back more bonus than it took, and all of them together
/// give back exactly what it took.
fn bonus_refunded(
    amount: i64,
    paid: i64,
    paid_bonus: i64,
    refunded_before: i64,
    bonus_before: i64,
) -> i64 {
    if paid <= 0 || paid_bonus <= 0 {
        return 0;
    }
    let after = (refunded_before + amount).min(paid);
    let bonus_after = i64::try_from(i128::from(after) * i128::from(paid_bonus) / i128::from(paid))
        .unwrap_or(paid_bonus);
    (bonus_after - bonus_before).clamp(0, amount)
}

const POINTS_COLUMNS: &str =
    "id, member_id, delta, kind, reason, ref_id, actor, expires_at, created_at";
const BALANCE_COLUMNS: &str =
    "id, member_id, delta_fen, bonus_fen, kind, reason, ref_id, actor, created_at";

fn points_entry(row: &sqlx::any::AnyRow) -> AppResult<PointsEntry> {
    Ok(PointsEntry {
        id: uuid_col(row, "id")?,
        delta: col(row, "delta")?,
        kind: col(row, "kind")?,
        reason: col(row, "reason")?,
        ref_id: col(row, "ref_id")?,
        actor: col(row, "actor")?,
        expires_at: col::<Option<i64>>(row, "expires_at")?.map(from_ms),
        created_at: from_ms(col(row, "created_at")?),
    })
}

fn balance_entry(row: &sqlx::any::AnyRow) -> AppResult<BalanceEntry> {
    Ok(BalanceEntry {
        id: uuid_col(row, "id")?,
        amount: Money::from_fen(col(row, "delta_fen")?),
        bonus: Money::from_fen(col(row, "bonus_fen")?),
        kind: col(row, "kind")?,
        reason: col(row, "reason")?,
        ref_id: col(row, "ref_id")?,
        actor: col(row, "actor")?,
        created_at: from_ms(col(row, "created_at")?),
    })
}

/// The existing points row of `(kind, ref_id)`, with its member.
async fn points_row_by_ref(
    tx: &mut Tx,
    kind: &str,
    ref_id: &str,
) -> AppResult<Option<(Uuid, PointsEntry)>> {
    let row = sqlx::query(&format!(
        "SELECT {POINTS_COLUMNS} FROM points_ledger WHERE kind = $1 AND ref_id = $2"
    ))
    .bind(kind)
    .bind(ref_id)
    .fetch_optional(&mut **tx)
    .await?;
    row.map(|row| Ok((uuid_col(&row, "member_id")?, points_entry(&row)?)))
        .transpose()
}

/// The existing balance row of `(kind, ref_id)`, with its member.
async fn balance_row_by_ref(
    tx: &mut Tx,
    kind: &str,
    ref_id: &str,
) -> AppResult<Option<(Uuid, BalanceEntry)>> {
    let row = sqlx::query(&format!(
        "SELECT {BALANCE_COLUMNS} FROM balance_ledger WHERE kind = $1 AND ref_id = $2"
    ))
    .bind(kind)
    .bind(ref_id)
    .fetch_optional(&mut **tx)
    .await?;
    row.map(|row| Ok((uuid_col(&row, "member_id")?, balance_entry(&row)?)))
        .transpose()
}

fn ref_of_other_member(kind: &str) -> AppError {
    AppError::conflict(
        "ref_in_use",
        format!("this {kind} reference is already recorded for another member"),
    )
}

/// Earns points for `paid` on an order or sale `ref_id`: `rules.points_earned(paid, tier)` with
/// the tier of the member's current growth, as an `earn` row expiring `points.expiry_months`
/// after `now_ms`, and adds `rules.growth_for(paid)` to the member's growth. Idempotent by
/// `ref_id`: a repeat adds nothing and answers the points of the existing row.
pub async fn earn_in_tx(
    tx: &mut Tx,
    rules: &PointsRules,
    member_id: Uuid,
    paid: Money,
    ref_id: &str,
    actor: &str,
    now_ms: i64,
) -> AppResult<i64> {
    let row = sqlx::query(&format!(
        "SELECT m.growth, {PLATFORM_TIER} FROM members m WHERE m.id = $1"
    ))
    .bind(member_id.to_string())
    .fetch_optional(&mut **tx)
    .await?;
    let Some(row) = row else {
        return Err(unknown_member(member_id));
    };
    let growth: i64 = col(&row, "growth")?;
    let platform_tier: Option<String> = col(&row, "platform_tier")?;
    let points = rules.points_earned(
        paid,
        effective_tier(rules, growth, platform_tier.as_deref()),
    );
    let applied = insert_points(
        tx,
        member_id,
        points,
        "earn",
        "",
        ref_id,
        actor,
        expiry_for(rules, now_ms),
        now_ms,
    )
    .await?;
    if applied {
        let add = rules.growth_for(paid);
        if add > 0 {
            sqlx::query("UPDATE members SET growth = growth + $2 WHERE id = $1")
                .bind(member_id.to_string())
                .bind(add)
                .execute(&mut **tx)
                .await?;
            // Reaching a higher tier brings its welcome coupons (升级礼券), in this transaction.
            let before = &rules.tier_for_growth(growth).code;
            if rules.tier_for_growth(growth.saturating_add(add)).code != *before {
                super::coupons::issue_automatic(
                    tx,
                    member_id,
                    super::coupons::IssueOn::TierUpgrade,
                )
                .await?;
            }
        }
        return Ok(points);
    }
    match points_row_by_ref(tx, "earn", ref_id).await? {
        Some((owner, _)) if owner != member_id => Err(ref_of_other_member("earn")),
        Some((_, entry)) => Ok(entry.delta),
        None => Err(AppError::Internal(anyhow::anyhow!(
            "earn row {ref_id} vanished"
        ))),
    }
}

/// Credits what a member earned by something else than a purchase — a published review
/// (`ref_id` `review:{id}`), a daily check-in (`checkin:{member}:{day}`), a birthday
/// (`birthday:{member}:{year}`): `points` as an `earn` row with `reason` that expires like
/// purchase points, and `growth` added (a higher tier bringing its welcome coupons). Idempotent
/// by `ref_id`: a repeat adds nothing and answers false (as does nothing to credit); a `ref_id`
/// recorded for another member is 409 `ref_in_use`. Call inside the transaction that records
/// what earned it.
#[allow(clippy::too_many_arguments)]
pub async fn credit_points_in_tx(
    tx: &mut Tx,
    rules: &PointsRules,
    member_id: Uuid,
    points: i64,
    growth: i64,
    reason: &str,
    ref_id: &str,
    actor: &str,
) -> AppResult<bool> {
    if points < 0 {
        return Err(AppError::field("points", "must not be negative"));
    }
    if growth < 0 {
        return Err(AppError::field("growth", "must not be negative"));
    }
    if points == 0 && growth == 0 {
        return Ok(false);
    }
    if !lock_member_by_update(tx, member_id).await? {
        return Err(unknown_member(member_id));
    }
    let now = now_ms();
    if points > 0
        && !insert_points(
            tx,
            member_id,
            points,
            "earn",
            reason,
            ref_id,
            actor,
            expiry_for(rules, now),
            now,
        )
        .await?
    {
        if let Some((owner, _)) = points_row_by_ref(tx, "earn", ref_id).await? {
            if owner != member_id {
                return Err(ref_of_other_member("earn"));
            }
        }
        return Ok(false);
    }
    if growth > 0 {
        let row = sqlx::query("SELECT growth FROM members WHERE id = $1")
            .bind(member_id.to_string())
            .fetch_one(&mut **tx)
            .await?;
        let before: i64 = col(&row, "growth")?;
        sqlx::query("UPDATE members SET growth = growth + $2 WHERE id = $1")
            .bind(member_id.to_string())
            .bind(growth)
            .execute(&mut **tx)
            .await?;
        if rules.tier_for_growth(before.saturating_add(growth)).code
            != rules.tier_for_growth(before).code
        {
            super::coupons::issue_automatic(tx, member_id, super::coupons::IssueOn::TierUpgrade)
                .await?;
        }
    }
    Ok(true)
}

/// Takes back `points` earned points and `growth` growth (a return or a refunded order,
/// `ref_id` the return or cancellation), as one `reverse` row of `-points`. The whole reversal
/// is recorded: points the member already spent are not kept, they become points debt (the
/// balance goes below zero, see the module documentation), and the row's reason then says how
/// many (`N of the M points reversed were already spent: owed as points debt`). Growth is
/// reduced but not below zero. Returns whether it applied (false on a repeat of `ref_id`, which
/// changes nothing).
pub async fn reverse_in_tx(
    tx: &mut Tx,
    member_id: Uuid,
    points: i64,
    growth: i64,
    ref_id: &str,
    actor: &str,
) -> AppResult<bool> {
    if points < 0 {
        return Err(AppError::field("points", "must not be negative"));
    }
    if growth < 0 {
        return Err(AppError::field("growth", "must not be negative"));
    }
    if !lock_member_by_update(tx, member_id).await? {
        return Err(unknown_member(member_id));
    }
    if let Some((owner, _)) = points_row_by_ref(tx, "reverse", ref_id).await? {
        return if owner == member_id {
            Ok(false)
        } else {
            Err(ref_of_other_member("reverse"))
        };
    }
    let balance = points_balance_tx(tx, member_id).await?;
    let owed = debt_of_reversal(balance, points);
    let reason = if owed > 0 {
        format!("{owed} of the {points} points reversed were already spent: owed as points debt")
    } else {
        String::new()
    };
    let applied = insert_points(
        tx,
        member_id,
        -points,
        "reverse",
        &reason,
        ref_id,
        actor,
        None,
        now_ms(),
    )
    .await?;
    if applied && growth > 0 {
        sqlx::query(
            "UPDATE members SET growth = CASE WHEN growth > $2 THEN growth - $2 ELSE 0 END WHERE id = $1",
        )
        .bind(member_id.to_string())
        .bind(growth)
        .execute(&mut **tx)
        .await?;
    }
    Ok(applied)
}

/// How many of `points` reversed from a member holding `balance` points become points debt:
/// what the balance (never counted below zero: an earlier debt is not this reversal's) does not
/// cover.
fn debt_of_reversal(balance: i64, points: i64) -> i64 {
    points.saturating_sub(balance.max(0)).max(0)
}

/// Redeems `points` against an order (`ref_id`), as a `redeem` row. 409 `insufficient_points`
/// when the balance, read under the member's row lock, is too low (always while the member is in
/// points debt). `dialect` (from
/// [`Store::dialect`]) selects the row lock (`FOR UPDATE` on PostgreSQL). Idempotent: a repeat
/// of `ref_id` succeeds without redeeming again. Zero points is a no-op.
pub async fn redeem_in_tx(
    tx: &mut Tx,
    dialect: Dialect,
    member_id: Uuid,
    points: i64,
    ref_id: &str,
    actor: &str,
) -> AppResult<()> {
    if points < 0 {
        return Err(AppError::field("points", "must not be negative"));
    }
    if points == 0 {
        return Ok(());
    }
    if lock_member(tx, dialect, member_id).await?.is_none() {
        return Err(unknown_member(member_id));
    }
    if let Some((owner, _)) = points_row_by_ref(tx, "redeem", ref_id).await? {
        return if owner == member_id {
            Ok(())
        } else {
            Err(ref_of_other_member("redeem"))
        };
    }
    let balance = points_balance_tx(tx, member_id).await?;
    if balance < points {
        return Err(AppError::conflict(
            "insufficient_points",
            format!("the member has {balance} points, {points} needed"),
        ));
    }
    insert_points(
        tx,
        member_id,
        -points,
        "redeem",
        "",
        ref_id,
        actor,
        None,
        now_ms(),
    )
    .await?;
    Ok(())
}

/// Gives back redeemed points (e.g. of a cancelled order, `ref_id` the cancellation or order
/// id), as a `refund` row of `+points`. Returns whether it applied (false on a repeat, or for
/// zero points).
pub async fn refund_points_in_tx(
    tx: &mut Tx,
    member_id: Uuid,
    points: i64,
    ref_id: &str,
    actor: &str,
) -> AppResult<bool> {
    if points < 0 {
        return Err(AppError::field("points", "must not be negative"));
    }
    if points == 0 {
        return Ok(false);
    }
    if !lock_member_by_update(tx, member_id).await? {
        return Err(unknown_member(member_id));
    }
    let applied = insert_points(
        tx,
        member_id,
        points,
        "refund",
        "",
        ref_id,
        actor,
        None,
        now_ms(),
    )
    .await?;
    if !applied {
        if let Some((owner, _)) = points_row_by_ref(tx, "refund", ref_id).await? {
            if owner != member_id {
                return Err(ref_of_other_member("refund"));
            }
        }
    }
    Ok(applied)
}

/// Pays `amount` of an order (`ref_id`, the payment's id; `order_id` the order it pays) from the
/// stored balance, as a `pay` row: principal first, bonus last. 409 `insufficient_balance` when
/// the balance, read under the member's row lock, is too low. Idempotent: a repeat of `ref_id`
/// succeeds without paying again.
pub async fn pay_balance_in_tx(
    tx: &mut Tx,
    dialect: Dialect,
    member_id: Uuid,
    amount: Money,
    ref_id: &str,
    order_id: Option<Uuid>,
    actor: &str,
) -> AppResult<()> {
    if amount.fen() <= 0 {
        return Err(AppError::field("amount", "must be positive"));
    }
    if lock_member(tx, dialect, member_id).await?.is_none() {
        return Err(unknown_member(member_id));
    }
    if let Some((owner, _)) = balance_row_by_ref(tx, "pay", ref_id).await? {
        return if owner == member_id {
            Ok(())
        } else {
            Err(ref_of_other_member("pay"))
        };
    }
    let (principal, bonus) = balance_split_tx(tx, member_id).await?;
    if principal + bonus < amount.fen() {
        return Err(AppError::conflict(
            "insufficient_balance",
            format!(
                "the stored balance is {}, {} needed",
                Money::from_fen(principal + bonus),
                amount
            ),
        ));
    }
    insert_balance(
        tx,
        &NewBalanceRow {
            member_id,
            delta_fen: -amount.fen(),
            bonus_fen: -bonus_taken(amount.fen(), principal),
            kind: "pay",
            reason: "",
            ref_id,
            order_id,
            actor,
            created_at: now_ms(),
        },
    )
    .await?;
    Ok(())
}

/// Refunds `amount` to the stored balance (`ref_id` the refund, return or cancellation;
/// `order_id` the order whose balance payments it gives back), as a `refund` row. The bonus in
/// it is the share of bonus the order's payments took ([`bonus_refunded`]); with no order, or
/// none of its payments from the balance, it is all principal. Returns whether it applied
/// (false on a repeat, or for a zero amount).
pub async fn refund_balance_in_tx(
    tx: &mut Tx,
    member_id: Uuid,
    amount: Money,
    ref_id: &str,
    order_id: Option<Uuid>,
    actor: &str,
) -> AppResult<bool> {
    if amount.is_negative() {
        return Err(AppError::field("amount", "must not be negative"));
    }
    if amount.is_zero() {
        return Ok(false);
    }
    if !lock_member_by_update(tx, member_id).await? {
        return Err(unknown_member(member_id));
    }
    let bonus_fen = match order_id {
        Some(order) => {
            let row = sqlx::query(
                "SELECT CAST(COALESCE(SUM(CASE WHEN kind = 'pay' THEN -delta_fen ELSE 0 END), 0) AS BIGINT) AS paid, \
                 CAST(COALESCE(SUM(CASE WHEN kind = 'pay' THEN -bonus_fen ELSE 0 END), 0) AS BIGINT) AS paid_bonus, \
                 CAST(COALESCE(SUM(CASE WHEN kind = 'refund' THEN delta_fen ELSE 0 END), 0) AS BIGINT) AS refunded, \
                 CAST(COALESCE(SUM(CASE WHEN kind = 'refund' THEN bonus_fen ELSE 0 END), 0) AS BIGINT) AS refunded_bonus \
                 FROM balance_ledger WHERE order_id = $1 AND member_id = $2",
            )
            .bind(order.to_string())
            .bind(member_id.to_string())
            .fetch_one(&mut **tx)
            .await?;
            bonus_refunded(
                amount.fen(),
                col(&row, "paid")?,
                col(&row, "paid_bonus")?,
                col(&row, "refunded")?,
                col(&row, "refunded_bonus")?,
            )
        }
        None => 0,
    };
    let applied = insert_balance(
        tx,
        &NewBalanceRow {
            member_id,
            delta_fen: amount.fen(),
            bonus_fen,
            kind: "refund",
            reason: "",
            ref_id,
            order_id,
            actor,
            created_at: now_ms(),
        },
    )
    .await?;
    if !applied {
        if let Some((owner, _)) = balance_row_by_ref(tx, "refund", ref_id).await? {
            if owner != member_id {
                return Err(ref_of_other_member("refund"));
            }
        }
    }
    Ok(applied)
}

/// Credits a paid recharge (`recharge_id`): `pay` principal plus `bonus`, as one `topup` row
/// whose tender is the provider (`tender`). Returns whether it applied (false on a repeat).
pub async fn credit_recharge_in_tx(
    tx: &mut Tx,
    member_id: Uuid,
    pay: Money,
    bonus: Money,
    recharge_id: Uuid,
    tender: &str,
    actor: &str,
) -> AppResult<bool> {
    if !lock_member_by_update(tx, member_id).await? {
        return Err(unknown_member(member_id));
    }
    let ref_id = recharge_id.to_string();
    let reason = if bonus.is_zero() {
        format!("充值 recharge {pay}")
    } else {
        format!("充值 recharge {pay} + 赠送 bonus {bonus}")
    };
    let applied = insert_balance(
        tx,
        &NewBalanceRow {
            member_id,
            delta_fen: pay.fen() + bonus.fen(),
            bonus_fen: bonus.fen(),
            kind: "topup",
            reason: &reason,
            ref_id: &ref_id,
            order_id: None,
            actor,
            created_at: now_ms(),
        },
    )
    .await?;
    if applied {
        sqlx::query("UPDATE balance_ledger SET tender = $1 WHERE kind = 'topup' AND ref_id = $2")
            .bind(tender)
            .bind(&ref_id)
            .execute(&mut **tx)
            .await?;
    }
    Ok(applied)
}

/// A manual points adjustment (audited as `points.adjust`), idempotent by its client id: the
/// row is kind `adjust` with `ref_id = id`. Positive adjustments are lots that expire like
/// earned points. A negative one may not take the balance below zero (409
/// `insufficient_points`). A retry answers the first row; the same id with a different member,
/// delta or reason is a 409 `id_in_use`. Returns the row and the balance after it.
#[allow(clippy::too_many_arguments)]
pub async fn adjust_points(
    store: &Store,
    rules: &PointsRules,
    member_id: Uuid,
    id: Uuid,
    delta: i64,
    reason: &str,
    actor: &str,
) -> AppResult<(PointsEntry, i64)> {
    let ref_id = id.to_string();
    let mut tx = store.begin().await?;
    if lock_member(&mut tx, store.dialect(), member_id)
        .await?
        .is_none()
    {
        return Err(AppError::not_found(format!("member {member_id} not found")));
    }
    if let Some((owner, entry)) = points_row_by_ref(&mut tx, "adjust", &ref_id).await? {
        if owner != member_id || entry.delta != delta || entry.reason != reason {
            return Err(AppError::conflict(
                "id_in_use",
                "this id was used for a different adjustment",
            ));
        }
        let balance = points_balance_tx(&mut tx, member_id).await?;
        tx.commit().await?;
        return Ok((entry, balance));
    }
    refuse_deleted(&mut tx, member_id).await?;
    let balance = points_balance_tx(&mut tx, member_id).await?;
    let after = balance.saturating_add(delta);
    if delta < 0 && after < 0 {
        return Err(AppError::conflict(
            "insufficient_points",
            format!("the member has {balance} points; cannot take {}", -delta),
        ));
    }
    let now = now_ms();
    let expires_at = if delta > 0 {
        expiry_for(rules, now)
    } else {
        None
    };
    insert_points(
        &mut tx, member_id, delta, "adjust", reason, &ref_id, actor, expires_at, now,
    )
    .await?;
    audit::record(
        &mut tx,
        actor,
        "points.adjust",
        "member",
        &member_id.to_string(),
        serde_json::json!({"adjustment": ref_id, "delta": delta, "reason": reason, "balance_before": balance, "balance_after": after}),
    )
    .await?;
    let entry = points_row_by_ref(&mut tx, "adjust", &ref_id)
        .await?
        .map(|(_, entry)| entry)
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("adjustment row vanished")))?;
    tx.commit().await?;
    Ok((entry, after))
}

/// Tops up the stored balance (audited as `balance.topup`), idempotent by the client id (kind
/// `topup`, `ref_id = id`): a retry answers the first row; the same id with a different member or
/// amount is a 409 `id_in_use`. Returns the row and the balance after it.
pub async fn topup(
    store: &Store,
    member_id: Uuid,
    id: Uuid,
    amount: Money,
    tender: &str,
    location: &str,
    actor: &str,
) -> AppResult<(BalanceEntry, Money)> {
    let ref_id = id.to_string();
    let mut tx = store.begin().await?;
    if lock_member(&mut tx, store.dialect(), member_id)
        .await?
        .is_none()
    {
        return Err(AppError::not_found(format!("member {member_id} not found")));
    }
    if let Some((owner, entry)) = balance_row_by_ref(&mut tx, "topup", &ref_id).await? {
        if owner != member_id || entry.amount != amount {
            return Err(AppError::conflict(
                "id_in_use",
                "this id was used for a different top-up",
            ));
        }
        let balance = balance_fen_tx(&mut tx, member_id).await?;
        tx.commit().await?;
        return Ok((entry, Money::from_fen(balance)));
    }
    refuse_deleted(&mut tx, member_id).await?;
    let reason = format!("top-up at {location} ({tender})");
    insert_balance(
        &mut tx,
        &NewBalanceRow {
            member_id,
            delta_fen: amount.fen(),
            bonus_fen: 0,
            kind: "topup",
            reason: &reason,
            ref_id: &ref_id,
            order_id: None,
            actor,
            created_at: now_ms(),
        },
    )
    .await?;
    sqlx::query("UPDATE balance_ledger SET tender = $1 WHERE kind = 'topup' AND ref_id = $2")
        .bind(tender)
        .bind(&ref_id)
        .execute(&mut *tx)
        .await?;
    let balance = balance_fen_tx(&mut tx, member_id).await?;
    audit::record(
        &mut tx,
        actor,
        "balance.topup",
        "member",
        &member_id.to_string(),
        serde_json::json!({"topup": ref_id, "amount": amount, "tender": tender, "location": location, "balance_after": Money::from_fen(balance)}),
    )
    .await?;
    let entry = balance_row_by_ref(&mut tx, "topup", &ref_id)
        .await?
        .map(|(_, entry)| entry)
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("top-up row vanished")))?;
    tx.commit().await?;
    Ok((entry, Money::from_fen(balance)))
}

/// The sum of the top-ups `actor` took since `since_ms`, and whether `ref_id` is one of them
/// (a retry, which the daily limit does not count twice).
pub async fn topups_by_actor_since(
    store: &Store,
    actor: &str,
    since_ms: i64,
    ref_id: &str,
) -> AppResult<(Money, bool)> {
    let row = sqlx::query(
        "SELECT CAST(COALESCE(SUM(delta_fen), 0) AS BIGINT) AS total, \
         CAST(COALESCE(SUM(CASE WHEN ref_id = $3 THEN 1 ELSE 0 END), 0) AS BIGINT) AS retried \
         FROM balance_ledger WHERE kind = 'topup' AND actor = $1 AND created_at >= $2",
    )
    .bind(actor)
    .bind(since_ms)
    .bind(ref_id)
    .fetch_one(store.reader())
    .await?;
    Ok((
        Money::from_fen(col(&row, "total")?),
        col::<i64>(&row, "retried")? > 0,
    ))
}

/// A page of one member's rows of a ledger table, newest first (keyset on time then id).
async fn ledger_page<T>(
    store: &Store,
    select: &str,
    member_id: Uuid,
    cursor: Option<&str>,
    limit: i64,
    entry: fn(&sqlx::any::AnyRow) -> AppResult<T>,
    key: impl Fn(&T) -> Cursor,
) -> AppResult<Page<T>> {
    let cursor = Cursor::<i64>::parse(cursor)?;
    let rows = paging::bind(
        sqlx::query(&format!(
            "{select} WHERE member_id = $1 AND {} {} LIMIT $2",
            paging::after("created_at", "id", 3, Order::Desc),
            paging::order_by("created_at", "id", Order::Desc),
        ))
        .bind(member_id.to_string())
        .bind(paging::fetch_limit(limit)),
        cursor.as_ref(),
    )
    .fetch_all(store.reader())
    .await?;
    let items = rows.iter().map(entry).collect::<AppResult<Vec<_>>>()?;
    Ok(paging::page(items, limit, key))
}

/// A page of the member's points ledger, newest first.
pub async fn points_page(
    store: &Store,
    member_id: Uuid,
    cursor: Option<&str>,
    limit: i64,
) -> AppResult<Page<PointsEntry>> {
    let select = format!("SELECT {POINTS_COLUMNS} FROM points_ledger");
    ledger_page(
        store,
        &select,
        member_id,
        cursor,
        limit,
        points_entry,
        |e| Cursor::new(e.created_at.timestamp_millis(), e.id),
    )
    .await
}

/// A page of the member's stored-balance ledger, newest first.
pub async fn balance_page(
    store: &Store,
    member_id: Uuid,
    cursor: Option<&str>,
    limit: i64,
) -> AppResult<Page<BalanceEntry>> {
    let select = format!("SELECT {BALANCE_COLUMNS} FROM balance_ledger");
    ledger_page(
        store,
        &select,
        member_id,
        cursor,
        limit,
        balance_entry,
        |e| Cursor::new(e.created_at.timestamp_millis(), e.id),
    )
    .await
}

/// `(due, consumed, expired)` of one member at `now_ms` (see the module documentation).
const EXPIRY_SUMS: &str = "CAST(COALESCE(SUM(CASE WHEN kind IN ('earn', 'adjust') AND delta > 0 \
        AND expires_at IS NOT NULL AND expires_at <= $1 THEN delta ELSE 0 END), 0) AS BIGINT) AS due, \
     CAST(COALESCE(SUM(CASE WHEN kind IN ('earn', 'adjust') AND delta > 0 THEN 0 ELSE -delta END), 0) AS BIGINT) AS consumed, \
     CAST(COALESCE(SUM(CASE WHEN kind = 'expire' THEN -delta ELSE 0 END), 0) AS BIGINT) AS expired";

/// Expires the points that were not spent before they expired, as of `now_ms`, with the FIFO
/// rule of the module documentation; returns the number of points expired. Idempotent: a second
/// run at the same time expires nothing more. Each member is handled in its own transaction
/// under the member's row lock, with the amount recomputed there, so concurrent sweeps (several
/// server instances) and concurrent redemptions cannot expire twice or overdraw; the `expire`
/// row's `ref_id` (`expire:<member>:<total expired after it>`) makes a duplicate impossible even
/// so. This reads the whole points ledger: run it every few minutes or hours, not every second.
pub async fn expire_points(store: &Store, now_ms: i64) -> AppResult<i64> {
    let candidates = sqlx::query(&format!(
        "SELECT member_id, {EXPIRY_SUMS} FROM points_ledger GROUP BY member_id"
    ))
    .bind(now_ms)
    .fetch_all(store.reader())
    .await?;
    let mut total = 0i64;
    for row in candidates {
        let due: i64 = col(&row, "due")?;
        let consumed: i64 = col(&row, "consumed")?;
        if due <= consumed {
            continue;
        }
        let member_id = uuid_col(&row, "member_id")?;
        let mut tx = store.begin().await?;
        if lock_member(&mut tx, store.dialect(), member_id)
            .await?
            .is_none()
        {
            continue;
        }
        let sums = sqlx::query(&format!(
            "SELECT {EXPIRY_SUMS} FROM points_ledger WHERE member_id = $2"
        ))
        .bind(now_ms)
        .bind(member_id.to_string())
        .fetch_one(&mut *tx)
        .await?;
        let due: i64 = col(&sums, "due")?;
        let consumed: i64 = col(&sums, "consumed")?;
        let expired: i64 = col(&sums, "expired")?;
        let amount = due.saturating_sub(consumed);
        if amount <= 0 {
            continue;
        }
        let ref_id = format!("expire:{member_id}:{}", expired.saturating_add(amount));
        let applied = insert_points(
            &mut tx,
            member_id,
            -amount,
            "expire",
            "points expired unspent",
            &ref_id,
            "system:expiry",
            None,
            now_ms,
        )
        .await?;
        tx.commit().await?;
        if applied {
            total = total.saturating_add(amount);
        }
    }
    if total > 0 {
        tracing::info!(points = total, "expired unspent points");
    }
    Ok(total)
}

/// Inserts a demo member (for the demo loader) with opening balances: `points` as an `adjust`
/// row with reason "opening balance" (no expiry), `balance_fen` as a `topup` row. Idempotent by
/// member id.
#[allow(clippy::too_many_arguments)]
pub async fn insert_demo_member(
    tx: &mut Tx,
    keys: &Keys,
    id: Uuid,
    phone: &str,
    name: &str,
    growth: i64,
    points: i64,
    balance_fen: i64,
) -> AppResult<()> {
    let phone = normalize_phone(phone).map_err(|m| AppError::field("phone", m))?;
    let now = now_ms();
    sqlx::query(
        "INSERT INTO members (id, phone_hash, phone_enc, name, name_enc, growth, created_at) \
         VALUES ($1, $2, $3, '', $4, $5, $6) ON CONFLICT DO NOTHING",
    )
    .bind(id.to_string())
    .bind(keys.lookup_hash(&phone))
    .bind(keys.seal(SealedField::MemberPhone, id, &phone)?)
    .bind(seal_name(keys, id, name)?)
    .bind(growth.max(0))
    .bind(now)
    .execute(&mut **tx)
    .await?;
    let opening = format!("opening:{id}");
    if points != 0 {
        insert_points(
            tx,
            id,
            points,
            "adjust",
            "opening balance",
            &opening,
            "system:demo",
            None,
            now,
        )
        .await?;
    }
    if balance_fen != 0 {
        insert_balance(
            tx,
            &NewBalanceRow {
                member_id: id,
                delta_fen: balance_fen,
                bonus_fen: 0,
                kind: "topup",
                reason: "opening balance",
                ref_id: &opening,
                order_id: None,
                actor: "system:demo",
                created_at: now,
            },
        )
        .await?;
    }
    Ok(())
}

/// Forfeits all of a deleted member's remaining points with one `expire` row (reason
/// "account deleted", ref `forfeit:{member_id}`), so points = sum of the ledger still holds and a
/// retry writes nothing more. Call inside the deletion's transaction; returns the points taken.
pub async fn forfeit_points_in_tx(
    tx: &mut Tx,
    dialect: Dialect,
    member_id: Uuid,
    actor: &str,
) -> AppResult<i64> {
    if lock_member(tx, dialect, member_id).await?.is_none() {
        return Err(AppError::not_found(format!("member {member_id} not found")));
    }
    let row = sqlx::query(
        "SELECT CAST(COALESCE(SUM(delta), 0) AS BIGINT) AS points FROM points_ledger WHERE member_id = $1",
    )
    .bind(member_id.to_string())
    .fetch_one(&mut **tx)
    .await?;
    let points: i64 = col(&row, "points")?;
    if points <= 0 {
        return Ok(0);
    }
    let applied = insert_points(
        tx,
        member_id,
        -points,
        "expire",
        "account deleted",
        &format!("forfeit:{member_id}"),
        actor,
        None,
        now_ms(),
    )
    .await?;
    Ok(if applied { points } else { 0 })
}

/// A member code for `member_id` valid for `ttl_secs` from `now` (whole seconds, as encoded).
pub fn member_code(
    member_id: Uuid,
    now: chrono::DateTime<chrono::Utc>,
    ttl_secs: i64,
) -> MemberCode {
    let expires = now.timestamp().saturating_add(ttl_secs);
    MemberCode {
        member_id,
        expires_at: chrono::DateTime::from_timestamp(expires, 0).unwrap_or(now),
    }
}

/// Which of these member ids exist.
pub async fn known_ids(
    store: &Store,
    ids: &[String],
) -> AppResult<std::collections::HashSet<Uuid>> {
    let mut known = std::collections::HashSet::new();
    for chunk in ids.chunks(super::MAX_PARAMS) {
        let sql = format!(
            "SELECT id FROM members WHERE id IN ({})",
            super::placeholders(1, chunk.len())
        );
        let mut query = sqlx::query(&sql);
        for id in chunk {
            query = query.bind(id.as_str());
        }
        for row in query.fetch_all(store.reader()).await? {
            known.insert(super::uuid_col(&row, "id")?);
        }
    }
    Ok(known)
}

/// The points a reversal recorded under `ref_id` moved (negative for points taken back).
pub async fn reversal_delta(tx: &mut Tx, ref_id: &str) -> AppResult<Option<i64>> {
    match sqlx::query("SELECT delta FROM points_ledger WHERE kind = 'reverse' AND ref_id = $1")
        .bind(ref_id)
        .fetch_optional(&mut **tx)
        .await?
    {
        Some(row) => Ok(Some(super::col(&row, "delta")?)),
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payments_take_principal_first_and_bonus_last() {
        assert_eq!(bonus_taken(5_000, 10_000), 0);
        assert_eq!(bonus_taken(10_000, 10_000), 0);
        assert_eq!(bonus_taken(10_500, 10_000), 500);
        assert_eq!(bonus_taken(800, 0), 800);
        assert_eq!(bonus_taken(800, -100), 800);
    }

    #[test]
    fn refunds_give_bonus_back_in_the_share_it_was_taken() {
        // Paid 110.00 of which 10.00 bonus; refunded in three parts.
        let (paid, bonus) = (11_000, 1_000);
        let first = bonus_refunded(3_300, paid, bonus, 0, 0);
        assert_eq!(first, 300);
        let second = bonus_refunded(3_333, paid, bonus, 3_300, first);
        assert_eq!(second, 303);
        let third = bonus_refunded(4_367, paid, bonus, 6_633, first + second);
        assert_eq!(
            first + second + third,
            bonus,
            "all of it comes back, no more"
        );
        // Nothing from the balance, or no bonus in it: all principal.
        assert_eq!(bonus_refunded(500, 0, 0, 0, 0), 0);
        assert_eq!(bonus_refunded(500, 11_000, 0, 0, 0), 0);
        // More refunded than paid (a cash part refunded to the balance) gives no extra bonus.
        assert_eq!(bonus_refunded(20_000, paid, bonus, 0, 0), bonus);
        assert_eq!(bonus_refunded(500, paid, bonus, paid, bonus), 0);
    }

    #[test]
    fn phones_normalise() {
        assert_eq!(normalize_phone("13800138000").as_deref(), Ok("13800138000"));
        assert_eq!(
            normalize_phone("+86 138-0013-8000").as_deref(),
            Ok("13800138000")
        );
        assert_eq!(
            normalize_phone("8613800138000").as_deref(),
            Ok("13800138000")
        );
        assert_eq!(
            normalize_phone("008613800138000").as_deref(),
            Ok("13800138000")
        );
        assert_eq!(
            normalize_phone(" 19912345678 ").as_deref(),
            Ok("19912345678")
        );
        for bad in [
            "",
            "1380013800",
            "138001380001",
            "12800138000",
            "23800138000",
            "+1 13800138000",
            "+8613800138000x",
            "138OO138000",
            "１３８００１３８０００",
            "+",
            "86",
        ] {
            assert!(normalize_phone(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn phones_mask() {
        assert_eq!(mask_phone("13800138000"), "138****8000");
        assert_eq!(mask_phone("123"), "***********");
    }

    #[test]
    fn the_unspent_part_of_a_reversal_is_not_debt() {
        assert_eq!(debt_of_reversal(500, 200), 0);
        assert_eq!(debt_of_reversal(200, 200), 0);
        assert_eq!(debt_of_reversal(54, 1234), 1180);
        assert_eq!(debt_of_reversal(0, 100), 100);
        // Already in debt: all of this reversal adds to it.
        assert_eq!(debt_of_reversal(-30, 100), 100);
        assert_eq!(debt_of_reversal(10, 0), 0);
    }

    #[test]
    fn expiry_adds_months() {
        let rules = PointsRules::default();
        let at = chrono::DateTime::parse_from_rfc3339("2024-01-31T10:00:00Z")
            .map(|t| t.timestamp_millis())
            .unwrap_or_default();
        let exp = expiry_for(&rules, at).map(from_ms).map(|t| t.to_rfc3339());
        assert_eq!(exp.as_deref(), Some("2026-01-31T10:00:00+00:00"));
        let never = PointsRules {
            expiry_months: 0,
            ..PointsRules::default()
        };
        assert_eq!(expiry_for(&never, at), None);
    }
}
