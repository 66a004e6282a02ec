//! Members: what staff may do to a member's account by hand (top-ups at a till, point
//! adjustments, with their limits) and how long a member code lives.

use retail_domain::money::Money;
use uuid::Uuid;

use super::AppState;
use crate::actor::{Role, StaffActor};
use crate::error::{AppError, AppResult};
use crate::storage;
use crate::storage::members::{BalanceEntry, PointsEntry};

/// How long a member code stays valid.
pub const MEMBER_CODE_TTL_SECS: i64 = 60;

/// How money for a top-up was taken at the till.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum TopUpTender {
    /// Cash into the drawer.
    Cash,
    /// A bank card on the store's terminal.
    Card,
}

impl TopUpTender {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Cash => "cash",
            Self::Card => "card",
        }
    }
}

/// Tops up a member's stored balance at a till: store staff at their own store, with the tender
/// the money came in (recorded in the ledger and the audit log), at most
/// `members.topup_max_per_call` at once and `members.topup_max_per_staff_per_day` per member
/// of staff a day (China time). Idempotent by `id`.
pub async fn top_up(
    state: &AppState,
    staff: &StaffActor,
    member_id: Uuid,
    id: Uuid,
    amount: Money,
    tender: TopUpTender,
) -> AppResult<(BalanceEntry, Money)> {
    staff.require(&[Role::StoreManager, Role::Cashier])?;
    let Some(location) = staff.location_id.clone() else {
        return Err(AppError::Forbidden("top-ups are taken at a store".into()));
    };
    staff.require_store(&location)?;
    retail_domain::ids::require_v7(id).map_err(|e| AppError::field("id", e.to_string()))?;
    let limits = &state.settings.members;
    if amount.fen() <= 0 || amount > limits.topup_max_per_call {
        return Err(AppError::field(
            "amount",
            format!(
                "must be more than 0.00 and at most {}",
                limits.topup_max_per_call
            ),
        ));
    }
    let actor = staff.actor();
    let (today, retry) = storage::members::topups_by_actor_since(
        &state.store,
        &actor,
        storage::today_start_ms(),
        &id.to_string(),
    )
    .await?;
    let after = today.fen().saturating_add(amount.fen());
    if !retry && after > limits.topup_max_per_staff_per_day.fen() {
        return Err(AppError::conflict(
            "daily_topup_limit",
            format!(
                "{} took {today} of top-ups today; the daily limit is {} (head office raises it)",
                staff.username, limits.topup_max_per_staff_per_day
            ),
        ));
    }
    storage::members::topup(
        &state.store,
        member_id,
        id,
        amount,
        tender.as_str(),
        &location,
        &actor,
    )
    .await
}

/// Adjusts a member's points by hand, with a reason: head office up to
/// [`storage::members::MAX_ADJUSTMENT`] either way, a store manager up to
/// `members.manager_points_adjustment_max`. Idempotent by `id`; audited.
pub async fn adjust_points(
    state: &AppState,
    staff: &StaffActor,
    member_id: Uuid,
    id: Uuid,
    delta: i64,
    reason: &str,
) -> AppResult<(PointsEntry, i64)> {
    staff.require(&[Role::HeadOfficeAdmin, Role::StoreManager])?;
    retail_domain::ids::require_v7(id).map_err(|e| AppError::field("id", e.to_string()))?;
    let max = match staff.role {
        Role::HeadOfficeAdmin => storage::members::MAX_ADJUSTMENT,
        _ => state
            .settings
            .members
            .manager_points_adjustment_max
            .min(storage::members::MAX_ADJUSTMENT),
    };
    if delta == 0 || delta.unsigned_abs() > max.unsigned_abs() {
        return Err(AppError::field(
            "delta",
            format!("must be non-zero and at most {max} either way for your role"),
        ));
    }
    let reason = reason.trim();
    if reason.is_empty() || reason.chars().count() > 200 {
        return Err(AppError::field("reason", "must be 1 to 200 characters"));
    }
    storage::members::adjust_points(
        &state.store,
        &state.settings.points,
        member_id,
        id,
        delta,
        reason,
        &staff.actor(),
    )
    .await
}
