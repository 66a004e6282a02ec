//! Storage for the shop's WeChat web authorisation (migrations 0020, 0022): the `state` of an
//! authorisation under way (`wechat_oauth_states`: its hash, the browser's session and what it
//! pays — an order or a member's recharge — taken once) and the openid kept with a shop session
//! (`web_sessions.wechat_openid`).

use uuid::Uuid;

use super::{col, now_ms, uuid_col, Store};
use crate::error::AppResult;

/// What an authorisation is started to pay.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PaidInWechat {
    /// An order's payment.
    Order(Uuid),
    /// A member's recharge of their stored balance.
    Recharge(Uuid),
}

/// An authorisation's `state` as stored: whose session and what it was made to pay.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OauthState {
    /// The shop session (`web_sessions.id`) that was sent to WeChat.
    pub session_id: Uuid,
    /// What it pays.
    pub target: PaidInWechat,
    /// When it stops being usable (Unix ms).
    pub expires_at: i64,
}

/// Records a new state (by its hash) for a session and what it pays, and deletes the expired
/// ones.
pub async fn put_state(
    store: &Store,
    state_hash: &str,
    session_id: Uuid,
    target: PaidInWechat,
    ttl_ms: i64,
) -> AppResult<()> {
    let (order_id, recharge_id) = match target {
        PaidInWechat::Order(id) => (Some(id.to_string()), None),
        PaidInWechat::Recharge(id) => (None, Some(id.to_string())),
    };
    let now = now_ms();
    let mut tx = store.begin().await?;
    sqlx::query("DELETE FROM wechat_oauth_states WHERE expires_at <= $1")
        .bind(now)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "INSERT INTO wechat_oauth_states (state_hash, session_id, order_id, recharge_id, \
         created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(state_hash)
    .bind(session_id.to_string())
    .bind(order_id)
    .bind(recharge_id)
    .bind(now)
    .bind(now.saturating_add(ttl_ms))
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Takes the state stored under this hash: deleted and answered in one statement, so only the
/// first of two concurrent callbacks gets it. `None` when there is none (never made, or taken
/// already); an expired one is answered too (the caller refuses it).
pub async fn take_state(store: &Store, state_hash: &str) -> AppResult<Option<OauthState>> {
    let row = sqlx::query(
        "DELETE FROM wechat_oauth_states WHERE state_hash = $1 \
         RETURNING session_id, order_id, recharge_id, expires_at",
    )
    .bind(state_hash)
    .fetch_optional(store.writer())
    .await?;
    row.map(|row| {
        let order: Option<String> = col(&row, "order_id")?;
        let target = match order {
            Some(_) => PaidInWechat::Order(uuid_col(&row, "order_id")?),
            None => PaidInWechat::Recharge(uuid_col(&row, "recharge_id")?),
        };
        Ok(OauthState {
            session_id: uuid_col(&row, "session_id")?,
            target,
            expires_at: col(&row, "expires_at")?,
        })
    })
    .transpose()
}

/// The openid kept with a live shop session, if any.
pub async fn session_openid(store: &Store, session_id: Uuid) -> AppResult<Option<String>> {
    let row =
        sqlx::query("SELECT wechat_openid FROM web_sessions WHERE id = $1 AND expires_at > $2")
            .bind(session_id.to_string())
            .bind(now_ms())
            .fetch_optional(store.reader())
            .await?;
    Ok(match row {
        Some(row) => col::<Option<String>>(&row, "wechat_openid")?,
        None => None,
    })
}

/// Keeps an openid with a shop session (replacing the one it had).
pub async fn set_session_openid(store: &Store, session_id: Uuid, openid: &str) -> AppResult<()> {
    sqlx::query("UPDATE web_sessions SET wechat_openid = $2 WHERE id = $1")
        .bind(session_id.to_string())
        .bind(openid)
        .execute(store.writer())
        .await?;
    Ok(())
}
