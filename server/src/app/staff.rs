//! Staff log-in: checking a password (rate-limited per user name) and opening a session,
//! for the API and the console alike.

use super::AppState;
use crate::actor::StaffActor;
use crate::error::{AppError, AppResult};
use crate::secrets::{new_token, token_hash, verify_password};
use crate::storage;

/// Checks a staff member's password (rate-limited per user name) and opens a session: the
/// `st_…` token (stored hashed), when it expires, and who it is. Shared by the API login and
/// the console's login form.
pub async fn authenticate(
    state: &AppState,
    username: &str,
    password: &str,
) -> AppResult<(String, chrono::DateTime<chrono::Utc>, StaffActor)> {
    let username = username.trim().to_lowercase();
    if username.is_empty() || username.len() > 64 || password.len() > 256 {
        return Err(AppError::Unauthorized("wrong username or password".into()));
    }
    let key = format!("login:{username}");
    state
        .limiter
        .check(&key, state.settings.auth.login_attempts_per_minute)?;
    let staff = storage::staff::by_username(&state.store, &username).await?;
    let staff = match staff {
        Some(staff) if staff.active => {
            let (password, hash) = (password.to_owned(), staff.password_hash.clone());
            let ok = tokio::task::spawn_blocking(move || verify_password(&password, &hash))
                .await
                .map_err(|e| AppError::Internal(e.into()))?;
            ok.then_some(staff)
        }
        _ => None,
    }
    .ok_or_else(|| AppError::Unauthorized("wrong username or password".into()))?;
    state.limiter.reset(&key);
    let token = new_token("st_");
    let expires_at = chrono::Utc::now()
        + chrono::Duration::seconds(
            i64::try_from(state.settings.auth.token_ttl_secs).unwrap_or(i64::MAX / 2_000),
        );
    storage::staff::create_session(
        &state.store,
        &token_hash(&token),
        staff.actor.id,
        expires_at.timestamp_millis(),
    )
    .await?;
    tracing::info!(username = %staff.actor.username, "staff logged in");
    Ok((token, expires_at, staff.actor))
}
