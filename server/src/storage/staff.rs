//! Staff accounts and their login sessions.

use uuid::Uuid;

use super::{col, now_ms, parse_col, uuid_col, Store};
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
}

fn actor_from_row(row: &sqlx::any::AnyRow) -> AppResult<StaffActor> {
    Ok(StaffActor {
        id: uuid_col(row, "id")?,
        username: col(row, "username")?,
        display_name: col(row, "display_name")?,
        role: parse_col(row, "role")?,
        location_id: col(row, "location_id")?,
    })
}

/// Creates a staff account; returns false when the username is taken.
pub async fn create(store: &Store, staff: &NewStaff<'_>) -> AppResult<bool> {
    let done = sqlx::query(
        "INSERT INTO staff (id, username, display_name, password_hash, role, location_id, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (username) DO NOTHING",
    )
    .bind(staff.id.to_string())
    .bind(staff.username)
    .bind(staff.display_name)
    .bind(staff.password_hash)
    .bind(staff.role.as_str())
    .bind(staff.location_id)
    .bind(now_ms())
    .execute(store.writer())
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Finds a staff account by username.
pub async fn by_username(store: &Store, username: &str) -> AppResult<Option<StaffLogin>> {
    let row = sqlx::query(
        "SELECT id, username, display_name, role, location_id, password_hash, active \
         FROM staff WHERE username = $1",
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

/// Lists staff, optionally of one location.
pub async fn list(store: &Store, location: Option<&str>) -> AppResult<Vec<StaffActor>> {
    let rows = sqlx::query(
        "SELECT id, username, display_name, role, location_id FROM staff \
         WHERE ($1 IS NULL OR location_id = $1) ORDER BY username",
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
        "SELECT s.id, s.username, s.display_name, s.role, s.location_id FROM staff_sessions t \
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
