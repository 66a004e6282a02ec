//! Stores, warehouses and the head office: listing them (public, optionally one merchant's) and
//! creating or updating one, for head office (any merchant's) and for a merchant administrator
//! (its own merchant's stores and warehouses only; B2B2C).
//!
//! Rules:
//! - a location's code, kind and merchant never change (409 `kind_mismatch`,
//!   `merchant_mismatch`);
//! - a merchant's location is a store or a warehouse, never a head office, and is created only
//!   for an existing (422) and approved (409 `merchant_not_approved`) merchant;
//! - a merchant administrator names no other merchant (403) and sees another merchant's (or the
//!   platform's) location as if it did not exist (404).

use serde::Deserialize;
use utoipa::ToSchema;

use crate::actor::{Role, StaffActor};
use crate::app::AppState;
use crate::error::{AppError, AppResult};
use crate::storage::locations::Location;
use crate::storage::merchants::{MerchantStatus, PLATFORM};
use crate::storage::{self, Store};

/// A store, warehouse or head office to create or update (`POST /api/v1/locations`).
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct LocationRequest {
    /// Short code, e.g. `SH001`: 1 to 16 of `A-Z 0-9 -`.
    pub id: String,
    /// `head_office`, `warehouse` or `store` (a merchant's: `store` or `warehouse`).
    pub kind: String,
    /// Chinese name.
    pub name_zh: String,
    /// English name.
    pub name_en: String,
    /// City.
    pub city: String,
    /// Street address.
    pub address: String,
    /// Whose location it is. Omitted: the existing location's merchant when updating; for a new
    /// one, the platform (head office) or the administrator's own merchant.
    #[serde(default)]
    pub merchant_id: Option<String>,
}

/// The locations, by code: every one, or those of `merchant` (public: the shop lists stores).
pub async fn list(state: &AppState, merchant: Option<&str>) -> AppResult<Vec<Location>> {
    storage::locations::list_of(&state.store, merchant).await
}

/// The locations `by` administers: every one for head office, its own merchant's for a merchant
/// administrator (403 for anyone else).
pub async fn list_own(state: &AppState, by: &StaffActor) -> AppResult<Vec<Location>> {
    list(state, by.merchant_scope()?).await
}

/// Checks that `by` administers the location `id` and answers it: head office any location, a
/// merchant administrator only its own merchant's (404 otherwise, as for an unknown code).
pub async fn require_own(state: &AppState, by: &StaffActor, id: &str) -> AppResult<Location> {
    own(&state.store, by, id)
        .await?
        .ok_or_else(|| AppError::not_found(format!("location {id} not found")))
}

/// The location `id` if `by` administers it (see [`require_own`]), `None` when it does not
/// exist or is another merchant's (or the platform's) for a merchant administrator; 403 for
/// anyone but head office and merchant administrators.
pub async fn own(store: &Store, by: &StaffActor, id: &str) -> AppResult<Option<Location>> {
    let scope = by.merchant_scope()?;
    Ok(storage::locations::find(store, id)
        .await?
        .filter(|l| scope.is_none_or(|own| own == l.merchant_id)))
}

fn check_fields(req: &LocationRequest) -> AppResult<()> {
    let valid_code = !req.id.is_empty()
        && req.id.len() <= 16
        && req
            .id
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-');
    if !valid_code {
        return Err(AppError::field(
            "id",
            "1 to 16 characters of A-Z, 0-9 and -",
        ));
    }
    if !matches!(req.kind.as_str(), "store" | "warehouse" | "head_office") {
        return Err(AppError::field("kind", "store, warehouse or head_office"));
    }
    for (field, value) in [("name_zh", &req.name_zh), ("name_en", &req.name_en)] {
        if value.trim().is_empty() || value.chars().count() > 64 {
            return Err(AppError::field(field, "must be 1 to 64 characters"));
        }
    }
    if req.address.chars().count() > 300 || req.city.chars().count() > 64 {
        return Err(AppError::field("address", "too long"));
    }
    Ok(())
}

/// Creates a store, warehouse or head office, or updates its names and address (audited as
/// `location.upsert`): head office for any merchant, a merchant administrator for its own.
pub async fn upsert(
    state: &AppState,
    by: &StaffActor,
    req: LocationRequest,
) -> AppResult<Location> {
    by.require(&[Role::HeadOfficeAdmin, Role::MerchantAdmin])?;
    check_fields(&req)?;
    let scope = by.merchant_scope()?;
    if let (Some(own), Some(named)) = (scope, req.merchant_id.as_deref()) {
        if named != own {
            return Err(AppError::Forbidden(format!(
                "{} may not act for merchant {named}",
                by.username
            )));
        }
    }
    let existing = storage::locations::find(&state.store, &req.id).await?;
    if let (Some(own), Some(found)) = (scope, &existing) {
        // Another merchant's or the platform's location is not there for this one.
        if found.merchant_id != own {
            return Err(AppError::not_found(format!(
                "location {} not found",
                req.id
            )));
        }
    }
    let merchant = match (&req.merchant_id, &existing, scope) {
        (Some(named), _, _) => named.clone(),
        (None, Some(existing), _) => existing.merchant_id.clone(),
        (None, None, Some(own)) => own.to_owned(),
        (None, None, None) => PLATFORM.to_owned(),
    };
    if merchant != PLATFORM {
        if req.kind == "head_office" {
            return Err(AppError::field(
                "kind",
                "a merchant's location is a store or a warehouse",
            ));
        }
        if existing.is_none() {
            let record = storage::merchants::get(&state.store, &merchant)
                .await?
                .ok_or_else(|| AppError::field("merchant_id", "no such merchant"))?;
            if record.status != MerchantStatus::Approved {
                return Err(AppError::conflict(
                    "merchant_not_approved",
                    format!(
                        "merchant {merchant} is {}: it may open stores once approved",
                        record.status.as_str()
                    ),
                ));
            }
        }
    }
    let location = Location {
        id: req.id,
        kind: req.kind,
        name_zh: req.name_zh,
        name_en: req.name_en,
        city: req.city,
        address: req.address,
        merchant_id: merchant,
    };
    storage::locations::upsert(&state.store, &location, &by.actor()).await?;
    storage::locations::get(&state.store, &location.id).await
}
