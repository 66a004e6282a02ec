//! Staff log-in: checking a password (rate-limited per client address, per user name from
//! that address, and per user name overall) and opening a session, for the API and the console
//! alike.

use retail_domain::wire::staff::{LaneStaff, StaffRole};

use super::AppState;
use crate::actor::{ClientAddr, StaffActor};
use crate::error::{AppError, AppResult};
use crate::secrets::{new_token, token_hash, verify_password};
use crate::storage;

/// Checks a staff member's password and opens a session: the `st_…` token (stored hashed),
/// when it expires, and who it is. Shared by the API login and the console's login form.
///
/// Attempts are limited (429 with `Retry-After`, checked before the password, so a throttled
/// caller learns nothing and changes nothing) per client address (failed attempts only, any
/// user name: `auth.login_attempts_per_address_per_minute`), per user name from that address
/// (`auth.login_attempts_per_minute`) and per user name from everywhere
/// (`auth.login_attempts_per_user_per_minute`, higher than one address may reach). An attacker
/// guessing from one address is throttled there while the user logs in from another.
pub async fn authenticate(
    state: &AppState,
    client: ClientAddr,
    username: &str,
    password: &str,
) -> AppResult<(String, chrono::DateTime<chrono::Utc>, StaffActor)> {
    let limits = &state.settings.auth;
    let address_key = format!("login:{}", client.limit_key());
    // The address first: a throttled address creates no per-user-name entries.
    state
        .limiter
        .check(&address_key, limits.login_attempts_per_address_per_minute)
        .await?;
    let username = username.trim().to_lowercase();
    if username.is_empty() || username.len() > 64 || password.len() > 256 {
        return Err(AppError::Unauthorized("wrong username or password".into()));
    }
    let pair_key = format!("login:{}:{username}", client.limit_key());
    let user_key = format!("login:user:{username}");
    state
        .limiter
        .check(&pair_key, limits.login_attempts_per_minute)
        .await?;
    state
        .limiter
        .check(&user_key, limits.login_attempts_per_user_per_minute)
        .await?;
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
    // Only failures count against the address (staff behind one office NAT log in together);
    // the attempt is counted first and given back here, so parallel guesses cannot slip past.
    state.limiter.refund(&address_key).await;
    state.limiter.reset(&pair_key).await;
    state.limiter.reset(&user_key).await;
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

/// Checks a lane approval: `username` is an active store manager of `store` (or a head-office
/// administrator) with a lane PIN, and `pin` is that PIN (the same Argon2 hash the lanes hold,
/// checked with the same function). Wrong tries are limited per approver
/// (`auth.login_attempts_per_minute`, 429 with `Retry-After`), so a lane credential cannot guess
/// a manager's PIN. Answers the approver.
pub async fn check_approval(
    state: &AppState,
    store: &str,
    username: &str,
    pin: &str,
) -> AppResult<LaneStaff> {
    let username = username.trim().to_lowercase();
    let refused = || {
        AppError::Forbidden(
            "approval refused: wrong user name or PIN, or not a manager of this store".into(),
        )
    };
    if username.is_empty() || username.len() > 64 {
        return Err(refused());
    }
    let key = format!("approval:{username}");
    state
        .limiter
        .check(&key, state.settings.auth.login_attempts_per_minute)
        .await?;
    let approver = match storage::staff::lane_staff(&state.store, &username).await? {
        Some((person, location))
            if person.role == StaffRole::HeadOfficeAdmin
                || (person.role.approves() && location.as_deref() == Some(store)) =>
        {
            let (candidate, pin) = (person.clone(), pin.to_owned());
            let ok = tokio::task::spawn_blocking(move || candidate.pin_matches(&pin))
                .await
                .map_err(|e| AppError::Internal(e.into()))?;
            ok.then_some(person)
        }
        _ => None,
    }
    .ok_or_else(refused)?;
    state.limiter.reset(&key).await;
    Ok(approver)
}

/// Checks that `username` names someone who may sign in at the lanes of `store` (on its lane
/// roster): the cashier a lane says rang something up. Answers their user name as stored.
pub async fn lane_person(state: &AppState, store: &str, username: &str) -> AppResult<String> {
    let username = username.trim().to_lowercase();
    match storage::staff::lane_staff(&state.store, &username).await? {
        Some((person, location))
            if person.role == StaffRole::HeadOfficeAdmin || location.as_deref() == Some(store) =>
        {
            Ok(person.username)
        }
        _ => Err(AppError::field(
            "cashier",
            format!("{username} may not sign in at the lanes of {store}"),
        )),
    }
}
