//! Staff accounts, their administration (create, role and store, disable, passwords, lane PINs)
//! and their login sessions.

use retail_domain::wire::staff::LaneStaff;
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{col, now_ms, parse_col, uuid_col, Store, Tx};
use crate::actor::{Role, StaffActor};
use crate::error::AppResult;

/// A staff row with its password hash, for login.
#[derive(Debug, Clone)]
pub struct StaffLogin {
    /// Who.
    pub actor: StaffActor,
    /// Argon2 PHC string.
    pub password_hash: String,
    /// False when the account is disabled.
    pub active: bool,
}

/// A new staff account.
#[derive(Debug, Clone)]
pub struct NewStaff<'a> {
    /// Id.
    pub id: Uuid,
    /// Login name.
    pub username: &'a str,
    /// Display name.
    pub display_name: &'a str,
    /// Argon2 hash.
    pub password_hash: &'a str,
    /// Role.
    pub role: Role,
    /// Home location.
    pub location_id: Option<&'a str>,
    /// The merchant a merchant administrator works for (none for the platform's staff).
    pub merchant_id: Option<&'a str>,
}

fn actor_from_row(row: &sqlx::any::AnyRow) -> AppResult<StaffActor> {
    Ok(StaffActor {
        id: uuid_col(row, "id")?,
        username: col(row, "username")?,
        display_name: col(row, "display_name")?,
        role: parse_col(row, "role")?,
        location_id: col(row, "location_id")?,
        merchant_id: col(row, "merchant_id")?,
        must_change_password: col::<i64>(row, "must_change_password")? != 0,
    })
}

/// A staff account as head office administers it (never its password or PIN hash).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StaffRecord {
    /// Who, with role, store and whether a password change is due.
    #[serde(flatten)]
    pub actor: StaffActor,
    /// False when the account is disabled (no log-in, sessions revoked).
    pub active: bool,
    /// True when the account has a lane PIN.
    pub has_pin: bool,
    /// Created, Unix milliseconds.
    pub created_at: i64,
    /// Last changed by an administrator, Unix milliseconds.
    pub updated_at: Option<i64>,
    /// Password last set, Unix milliseconds.
    pub password_changed_at: Option<i64>,
}

const RECORD_COLUMNS: &str = "id, username, display_name, role, location_id, merchant_id, must_change_password, \
     active, CAST(CASE WHEN pin_hash IS NULL THEN 0 ELSE 1 END AS BIGINT) AS has_pin, created_at, updated_at, password_changed_at";

fn record_from_row(row: &sqlx::any::AnyRow) -> AppResult<StaffRecord> {
    Ok(StaffRecord {
        actor: actor_from_row(row)?,
        active: col::<i64>(row, "active")? != 0,
        has_pin: col::<i64>(row, "has_pin")? != 0,
        created_at: col(row, "created_at")?,
        updated_at: col(row, "updated_at")?,
        password_changed_at: col(row, "password_changed_at")?,
    })
}

/// Creates a staff account; returns false when the user name is taken.
pub async fn create(
    tx: &mut Tx,
    staff: &NewStaff<'_>,
    must_change_password: bool,
) -> AppResult<bool> {
    let now = now_ms();
    let done = sqlx::query(
        "INSERT INTO staff (id, username, display_name, password_hash, role, location_id, \
         created_at, must_change_password, password_changed_at, updated_at, merchant_id) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $7, $7, $9) ON CONFLICT DO NOTHING",
    )
    .bind(staff.id.to_string())
    .bind(staff.username)
    .bind(staff.display_name)
    .bind(staff.password_hash)
    .bind(staff.role.as_str())
    .bind(staff.location_id)
    .bind(now)
    .bind(i64::from(must_change_password))
    .bind(staff.merchant_id)
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// One staff account by id.
pub async fn record(store: &Store, id: Uuid) -> AppResult<Option<StaffRecord>> {
    let row = sqlx::query(&format!("SELECT {RECORD_COLUMNS} FROM staff WHERE id = $1"))
        .bind(id.to_string())
        .fetch_optional(store.reader())
        .await?;
    row.map(|row| record_from_row(&row)).transpose()
}

/// One staff account by id inside a transaction, locked until it ends (PostgreSQL).
pub async fn record_for_update(
    tx: &mut Tx,
    store: &Store,
    id: Uuid,
) -> AppResult<Option<StaffRecord>> {
    let row = sqlx::query(&format!(
        "SELECT {RECORD_COLUMNS} FROM staff WHERE id = $1{}",
        store.for_update()
    ))
    .bind(id.to_string())
    .fetch_optional(&mut **tx)
    .await?;
    row.map(|row| record_from_row(&row)).transpose()
}

/// Staff accounts, optionally of one location, by user name.
pub async fn records(store: &Store, location: Option<&str>) -> AppResult<Vec<StaffRecord>> {
    let rows = sqlx::query(&format!(
        "SELECT {RECORD_COLUMNS} FROM staff WHERE ($1 IS NULL OR location_id = $1) ORDER BY username"
    ))
    .bind(location)
    .fetch_all(store.reader())
    .await?;
    rows.iter().map(record_from_row).collect()
}

/// The staff accounts at the locations (stores and warehouses) of `merchant`, by user name:
/// what its merchant administrator administers (never head office, never a merchant
/// administrator, never another merchant's staff).
pub async fn records_of_merchant(store: &Store, merchant: &str) -> AppResult<Vec<StaffRecord>> {
    let rows = sqlx::query(&format!(
        "SELECT {RECORD_COLUMNS} FROM staff \
         WHERE location_id IN (SELECT id FROM locations WHERE merchant_id = $1) ORDER BY username"
    ))
    .bind(merchant)
    .fetch_all(store.reader())
    .await?;
    rows.iter().map(record_from_row).collect()
}

/// Active head-office administrators other than `except`.
pub async fn other_active_admins(tx: &mut Tx, except: Uuid) -> AppResult<i64> {
    let row = sqlx::query(
        "SELECT COUNT(*) AS n FROM staff WHERE role = 'head_office_admin' AND active = 1 AND id <> $1",
    )
    .bind(except.to_string())
    .fetch_one(&mut **tx)
    .await?;
    col(&row, "n")
}

/// Whether any staff account exists (a production database starts with none).
pub async fn any_exists(store: &Store) -> AppResult<bool> {
    let row = sqlx::query("SELECT COUNT(*) AS n FROM staff")
        .fetch_one(store.reader())
        .await?;
    Ok(col::<i64>(&row, "n")? > 0)
}

/// What an administrator changes on an account.
#[derive(Debug, Clone)]
pub struct StaffChange<'a> {
    /// Display name.
    pub display_name: &'a str,
    /// Role.
    pub role: Role,
    /// Home store or warehouse (none for head office).
    pub location_id: Option<&'a str>,
    /// Enabled.
    pub active: bool,
}

/// Applies an administrator's change to an account.
pub async fn update(tx: &mut Tx, id: Uuid, change: &StaffChange<'_>) -> AppResult<()> {
    sqlx::query(
        "UPDATE staff SET display_name = $2, role = $3, location_id = $4, active = $5, \
         updated_at = $6 WHERE id = $1",
    )
    .bind(id.to_string())
    .bind(change.display_name)
    .bind(change.role.as_str())
    .bind(change.location_id)
    .bind(i64::from(change.active))
    .bind(now_ms())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Sets an account's password hash; `must_change` forces a change at the next log-in.
pub async fn set_password(
    tx: &mut Tx,
    id: Uuid,
    password_hash: &str,
    must_change: bool,
) -> AppResult<()> {
    sqlx::query(
        "UPDATE staff SET password_hash = $2, must_change_password = $3, \
         password_changed_at = $4 WHERE id = $1",
    )
    .bind(id.to_string())
    .bind(password_hash)
    .bind(i64::from(must_change))
    .bind(now_ms())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Sets (or with `None` removes) an account's lane PIN hash.
pub async fn set_pin(tx: &mut Tx, id: Uuid, pin_hash: Option<&str>) -> AppResult<()> {
    sqlx::query("UPDATE staff SET pin_hash = $2, updated_at = $3 WHERE id = $1")
        .bind(id.to_string())
        .bind(pin_hash)
        .bind(now_ms())
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// The current password hash of an account (to check the old password on a change).
pub async fn password_hash(store: &Store, id: Uuid) -> AppResult<Option<String>> {
    let row = sqlx::query("SELECT password_hash FROM staff WHERE id = $1")
        .bind(id.to_string())
        .fetch_optional(store.reader())
        .await?;
    row.map(|row| col(&row, "password_hash")).transpose()
}

/// Revokes every live session of an account, except the one with `keep` (its own, when a
/// member of staff changes their own password).
pub async fn revoke_sessions(tx: &mut Tx, id: Uuid, keep: Option<&str>) -> AppResult<u64> {
    let done = sqlx::query(
        "UPDATE staff_sessions SET revoked_at = $2 \
         WHERE staff_id = $1 AND revoked_at IS NULL AND ($3 IS NULL OR token_hash <> $3)",
    )
    .bind(id.to_string())
    .bind(now_ms())
    .bind(keep)
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected())
}

/// Finds a staff account by username.
pub async fn by_username(store: &Store, username: &str) -> AppResult<Option<StaffLogin>> {
    let row = sqlx::query(
        "SELECT id, username, display_name, role, location_id, merchant_id, \
         must_change_password, password_hash, active FROM staff WHERE username = $1",
    )
    .bind(username)
    .fetch_optional(store.reader())
    .await?;
    row.map(|row| {
        Ok(StaffLogin {
            actor: actor_from_row(&row)?,
            password_hash: col(&row, "password_hash")?,
            active: col::<i64>(&row, "active")? != 0,
        })
    })
    .transpose()
}

/// The people who may sign in at the lanes of `location`: its active staff with a PIN, and
/// head office's active administrators with a PIN, by user name.
pub async fn lane_roster(store: &Store, location: &str) -> AppResult<Vec<LaneStaff>> {
    let rows = sqlx::query(
        "SELECT id, username, display_name, role, pin_hash FROM staff \
         WHERE active = 1 AND pin_hash IS NOT NULL \
         AND (location_id = $1 OR role = 'head_office_admin') ORDER BY username",
    )
    .bind(location)
    .fetch_all(store.reader())
    .await?;
    rows.iter().map(lane_staff_from_row).collect()
}

/// One person of a lane roster by user name, with their home location (`None`: head office):
/// active and with a PIN, or `None`.
pub async fn lane_staff(
    store: &Store,
    username: &str,
) -> AppResult<Option<(LaneStaff, Option<String>)>> {
    let row = sqlx::query(
        "SELECT id, username, display_name, role, pin_hash, location_id FROM staff \
         WHERE username = $1 AND active = 1 AND pin_hash IS NOT NULL",
    )
    .bind(username)
    .fetch_optional(store.reader())
    .await?;
    row.map(|row| Ok((lane_staff_from_row(&row)?, col(&row, "location_id")?)))
        .transpose()
}

fn lane_staff_from_row(row: &sqlx::any::AnyRow) -> AppResult<LaneStaff> {
    Ok(LaneStaff {
        id: uuid_col(row, "id")?,
        username: col(row, "username")?,
        display_name: col(row, "display_name")?,
        role: parse_col(row, "role")?,
        pin_hash: col(row, "pin_hash")?,
    })
}

/// Lists staff, optionally of one location.
pub async fn list(store: &Store, location: Option<&str>) -> AppResult<Vec<StaffActor>> {
    let rows = sqlx::query(
        "SELECT id, username, display_name, role, location_id, merchant_id, \
         must_change_password FROM staff WHERE ($1 IS NULL OR location_id = $1) ORDER BY username",
    )
    .bind(location)
    .fetch_all(store.reader())
    .await?;
    rows.iter().map(actor_from_row).collect()
}

/// Stores a new session.
pub async fn create_session(
    store: &Store,
    token_hash: &str,
    staff_id: Uuid,
    expires_at: i64,
) -> AppResult<()> {
    sqlx::query(
        "INSERT INTO staff_sessions (token_hash, staff_id, created_at, expires_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(token_hash)
    .bind(staff_id.to_string())
    .bind(now_ms())
    .bind(expires_at)
    .execute(store.writer())
    .await?;
    Ok(())
}

/// The staff member behind a live session token.
pub async fn session_actor(store: &Store, token_hash: &str) -> AppResult<Option<StaffActor>> {
    let row = sqlx::query(
        "SELECT s.id, s.username, s.display_name, s.role, s.location_id, s.merchant_id, \
         s.must_change_password \
         FROM staff_sessions t \
         JOIN staff s ON s.id = t.staff_id \
         WHERE t.token_hash = $1 AND t.revoked_at IS NULL AND t.expires_at > $2 AND s.active = 1",
    )
    .bind(token_hash)
    .bind(now_ms())
    .fetch_optional(store.reader())
    .await?;
    row.map(|row| actor_from_row(&row)).transpose()
}

/// Ends a session.
pub async fn revoke_session(store: &Store, token_hash: &str) -> AppResult<()> {
    sqlx::query(
        "UPDATE staff_sessions SET revoked_at = $2 WHERE token_hash = $1 AND revoked_at IS NULL",
    )
    .bind(token_hash)
    .bind(now_ms())
    .execute(store.writer())
    .await?;
    Ok(())
}
