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
use crate::secrets::SealedField;
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
    let Some((phone_enc, name, name_enc, created_at, deleted_at)) =
        storage::privacy::member_row(&state.store, member).await?
    else {
        return Err(AppError::not_found("member not found"));
    };
    if deleted_at.is_some() {
        return Err(AppError::not_found("member not found"));
    }
    let phone = state
        .keys
        .open(SealedField::MemberPhone, member, &phone_enc)
        .map_err(|e| AppError::Internal(e.context("member phone does not decrypt")))?;
    let name = storage::members::member_name(&state.keys, member, name, name_enc)?;
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
        obj.insert(
            "personalisation_opt_out".into(),
            storage::events::opted_out(&state.store, member)
                .await?
                .into(),
        );
        obj.insert(
            "tracked_events".into(),
            storage::events::of_member(&state.store, member, 1000)
                .await?
                .into(),
        );
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
    let sealed = state
        .keys
        .seal(SealedField::MemberPhone, member, &tombstone)?;
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

/// What [`reseal`] did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ResealReport {
    /// Members whose phone number and name were sealed again.
    pub members: u64,
    /// Delivery addresses (orders' and members' saved ones) sealed again.
    pub addresses: u64,
    /// Webhook endpoints' signing secrets sealed (again, or for the first time).
    pub webhook_secrets: u64,
    /// Values that did not open (a data key missing from the configuration): left as they are.
    pub failed: u64,
}

/// Rows read per round of [`reseal`].
const RESEAL_BATCH: i64 = 500;

/// Seals again, with the current data key and bound to their rows, every personal value sealed
/// with a retired key or before key ids, and every member name stored before names were sealed.
/// Runs in the background at every start (finding nothing once done); a value changed in
/// between is left to its newer writer. After a rotation, once this reports nothing left, the
/// retired key can be removed from the configuration.
pub async fn reseal(state: &AppState) -> AppResult<ResealReport> {
    let keys = &state.keys;
    let current = keys.current_seal_prefix();
    let mut report = ResealReport::default();
    let mut after = String::new();
    loop {
        let rows =
            storage::privacy::members_to_reseal(&state.store, &current, &after, RESEAL_BATCH)
                .await?;
        let Some(last) = rows.last() else { break };
        after = last.0.to_string();
        for (id, phone_enc, name, name_enc) in &rows {
            let opened = keys
                .open(SealedField::MemberPhone, *id, phone_enc)
                .and_then(|phone| {
                    let name = match name_enc {
                        Some(sealed) => keys.open(SealedField::MemberName, *id, sealed)?,
                        None => name.clone(),
                    };
                    Ok((phone, name))
                });
            let (phone, plain_name) = match opened {
                Ok(values) => values,
                Err(e) => {
                    tracing::error!(member = %id, error = %e, "a sealed member field does not open");
                    report.failed += 1;
                    continue;
                }
            };
            let new_phone = keys.seal(SealedField::MemberPhone, *id, &phone)?;
            let new_name = if plain_name.trim().is_empty() {
                None
            } else {
                Some(keys.seal(SealedField::MemberName, *id, plain_name.trim())?)
            };
            if storage::privacy::reseal_member(
                &state.store,
                *id,
                (phone_enc, name, name_enc.as_deref()),
                (&new_phone, new_name.as_deref()),
            )
            .await?
            {
                report.members += 1;
            }
        }
    }
    use storage::privacy::SealedColumn;
    for (column, field) in [
        (SealedColumn::Orders, SealedField::OrderAddress),
        (SealedColumn::Saved, SealedField::MemberAddress),
        (SealedColumn::WebhookSecrets, SealedField::WebhookSecret),
    ] {
        let mut after = String::new();
        loop {
            let rows = storage::privacy::sealed_to_reseal(
                &state.store,
                column,
                &current,
                &after,
                RESEAL_BATCH,
            )
            .await?;
            let Some(last) = rows.last() else { break };
            after = last.0.to_string();
            for (id, sealed) in &rows {
                let opened = if column == SealedColumn::WebhookSecrets {
                    super::webhooks::open_secret(keys, *id, sealed)
                } else {
                    keys.open(field, *id, sealed)
                };
                let plain = match opened {
                    Ok(plain) => plain,
                    Err(e) => {
                        tracing::error!(row = %id, error = %e, "a sealed value does not open");
                        report.failed += 1;
                        continue;
                    }
                };
                let new = keys.seal(field, *id, &plain)?;
                if storage::privacy::reseal_value(&state.store, column, *id, sealed, &new).await? {
                    if column == SealedColumn::WebhookSecrets {
                        report.webhook_secrets += 1;
                    } else {
                        report.addresses += 1;
                    }
                }
            }
        }
    }
    if report != ResealReport::default() {
        tracing::info!(
            members = report.members,
            addresses = report.addresses,
            webhook_secrets = report.webhook_secrets,
            failed = report.failed,
            key = keys.data_key_id(),
            "personal data and secrets sealed again with the current data key"
        );
    }
    Ok(report)
}
