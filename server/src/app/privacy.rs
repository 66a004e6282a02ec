//! Privacy (PIPL) use cases for the member centre: a member downloads everything the shop holds
//! about them, deletes (anonymises) their account, and accepts the privacy policy
//! ([`PRIVACY_POLICY_VERSION`]).
//!
//! Deletion keeps the ledgers consistent: the member row stays (orders and ledgers reference
//! it) but loses its phone number and name; remaining points are forfeited with an `expire`
//! ledger row (so points = sum of the ledger still holds), unspent coupons expire, and shipping
//! addresses are removed. A positive stored balance is never silently taken: deletion is refused
//! while the balance is above zero or an order is still open.

use std::net::IpAddr;

use uuid::Uuid;

use crate::app::AppState;
pub use crate::config::PRIVACY_POLICY_VERSION;
use crate::error::{AppError, AppResult};
use crate::storage;

/// The confirmation a member types to delete their account (either word, case-insensitive).
pub const DELETE_CONFIRMATIONS: [&str; 2] = ["DELETE", "注销"];

/// True when `text` (trimmed) is one of [`DELETE_CONFIRMATIONS`].
pub fn is_delete_confirmation(text: &str) -> bool {
    let text = text.trim();
    DELETE_CONFIRMATIONS
        .iter()
        .any(|c| c.eq_ignore_ascii_case(text))
}

/// Records that `member` accepts the current policy version from `from` (idempotent).
pub async fn accept_policy(state: &AppState, member: Uuid, from: IpAddr) -> AppResult<()> {
    let mut tx = state.store.begin().await?;
    storage::privacy::record_consent(&mut tx, member, PRIVACY_POLICY_VERSION, &from.to_string())
        .await?;
    tx.commit().await?;
    Ok(())
}

/// True when `member` has accepted the current policy version.
pub async fn has_current_consent(state: &AppState, member: Uuid) -> AppResult<bool> {
    storage::privacy::has_consent(&state.store, member, PRIVACY_POLICY_VERSION).await
}

/// Everything the shop holds about `member`, for their own download: profile (the phone
/// decrypted), points and balance ledgers, orders with lines, coupons, notices and consents.
pub async fn export(state: &AppState, member: Uuid) -> AppResult<serde_json::Value> {
    let Some((phone_enc, name, created_at, deleted_at)) =
        storage::privacy::member_row(&state.store, member).await?
    else {
        return Err(AppError::not_found("member not found"));
    };
    if deleted_at.is_some() {
        return Err(AppError::not_found("member not found"));
    }
    let phone = state
        .keys
        .open(&phone_enc)
        .map_err(|e| AppError::Internal(e.context("member phone does not decrypt")))?;
    let summary =
        storage::members::get(&state.store, &state.keys, &state.settings.points, member).await?;
    let mut activity = storage::privacy::activity(&state.store, member).await?;
    let consents = storage::privacy::consents(&state.store, member).await?;
    let profile = serde_json::json!({
        "id": member,
        "phone": phone,
        "name": name,
        "tier": summary.tier.code,
        "growth": summary.growth,
        "points": summary.points,
        "balance": summary.balance,
        "created_at": storage::from_ms(created_at),
    });
    if let Some(obj) = activity.as_object_mut() {
        obj.insert("profile".into(), profile);
        obj.insert(
            "consents".into(),
            serde_json::to_value(consents).map_err(anyhow::Error::from)?,
        );
        obj.insert(
            "exported_at".into(),
            serde_json::to_value(chrono::Utc::now()).map_err(anyhow::Error::from)?,
        );
        obj.insert("policy_version".into(), PRIVACY_POLICY_VERSION.into());
    }
    Ok(activity)
}

/// What a deletion did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deleted {
    /// The account was anonymised now: points and coupons forfeited.
    Now {
        /// Points forfeited.
        points: i64,
        /// Coupons forfeited.
        coupons: u64,
    },
    /// It was already deleted (a retry): nothing changed.
    Already,
}

/// Deletes (anonymises) `member`'s account, audited as `member.delete` by the member.
///
/// # Errors
/// 409 `balance_remaining` while the stored balance is above zero, 409 `open_orders` while an
/// order is pending payment, paid, ready for pickup or shipped (nothing changes); 404 for an
/// unknown member.
pub async fn delete_account(state: &AppState, member: Uuid, from: IpAddr) -> AppResult<Deleted> {
    let actor = format!("member:{member}");
    let mut tx = state.store.begin().await?;
    match storage::privacy::lock_for_deletion(&mut tx, &state.store, member).await? {
        None => return Err(AppError::not_found("member not found")),
        Some(Some(_)) => return Ok(Deleted::Already),
        Some(None) => {}
    }
    let balance = storage::privacy::balance_fen(&mut tx, member).await?;
    if balance > 0 {
        return Err(AppError::conflict(
            "balance_remaining",
            "your stored balance is not zero: spend it or ask a store for a refund before deleting the account",
        ));
    }
    let open = storage::privacy::open_orders(&mut tx, member).await?;
    if open > 0 {
        return Err(AppError::conflict(
            "open_orders",
            "an order is still open: wait until it is completed or cancelled before deleting the account",
        ));
    }
    let points =
        storage::members::forfeit_points_in_tx(&mut tx, state.store.dialect(), member, &actor)
            .await?;
    let now = storage::now_ms();
    let tombstone = format!("deleted:{member}");
    let sealed = state.keys.seal(&tombstone)?;
    let coupons = storage::privacy::anonymise(&mut tx, member, &tombstone, &sealed, now).await?;
    storage::audit::record(
        &mut tx,
        &actor,
        "member.delete",
        "member",
        &member.to_string(),
        serde_json::json!({
            "points_forfeited": points,
            "coupons_forfeited": coupons,
            "client_addr": from.to_string(),
        }),
    )
    .await?;
    tx.commit().await?;
    tracing::info!(%member, points, coupons, "member account deleted (anonymised)");
    Ok(Deleted::Now { points, coupons })
}

#[cfg(test)]
mod tests {
    use super::is_delete_confirmation;

    #[test]
    fn only_the_typed_confirmation_deletes() {
        for yes in ["DELETE", "delete", " Delete ", "注销"] {
            assert!(is_delete_confirmation(yes), "{yes}");
        }
        for no in ["", "yes", "DELETE ME", "注", "删除"] {
            assert!(!is_delete_confirmation(no), "{no}");
        }
    }
}
