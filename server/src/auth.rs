//! Who is calling: staff (bearer session tokens from `POST /api/v1/auth/login`) and registered
//! devices (bearer device credentials), as axum extractors. Every action then checks the role
//! *and* the store with [`StaffActor::require`] and [`StaffActor::require_store`].

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::error::{AppError, AppResult};
use crate::secrets::token_hash;
use crate::state::AppState;
use crate::storage;

/// A staff role.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Head office: every store, catalog, prices, staff, devices.
    HeadOfficeAdmin,
    /// One store: its stock, devices, orders, returns approval.
    StoreManager,
    /// One store's tills.
    Cashier,
}

impl Role {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::HeadOfficeAdmin => "head_office_admin",
            Self::StoreManager => "store_manager",
            Self::Cashier => "cashier",
        }
    }
}

impl std::str::FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "head_office_admin" => Ok(Self::HeadOfficeAdmin),
            "store_manager" => Ok(Self::StoreManager),
            "cashier" => Ok(Self::Cashier),
            other => Err(format!("unknown role {other:?}")),
        }
    }
}

/// An authenticated staff member.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct StaffActor {
    /// Staff id.
    pub id: Uuid,
    /// Login name.
    pub username: String,
    /// Display name.
    pub display_name: String,
    /// Role.
    pub role: Role,
    /// The store (or warehouse) the staff member belongs to; none for head office.
    pub location_id: Option<String>,
}

impl StaffActor {
    /// Fails with 403 unless the role is one of `roles`.
    pub fn require(&self, roles: &[Role]) -> AppResult<()> {
        if roles.contains(&self.role) {
            Ok(())
        } else {
            Err(AppError::Forbidden(format!(
                "the {} role may not do this",
                self.role.as_str()
            )))
        }
    }

    /// Fails with 403 unless the actor may act for `location`: head office everywhere, everyone
    /// else only at their own store.
    pub fn require_store(&self, location: &str) -> AppResult<()> {
        match (&self.role, &self.location_id) {
            (Role::HeadOfficeAdmin, _) => Ok(()),
            (_, Some(own)) if own == location => Ok(()),
            _ => Err(AppError::Forbidden(format!(
                "{} may not act for location {location}",
                self.username
            ))),
        }
    }

    /// The name written into ledgers and the audit log.
    pub fn actor(&self) -> String {
        format!("staff:{}", self.username)
    }
}

/// Kinds of registered device.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeviceKind {
    /// A POS terminal (one checkout lane).
    Pos,
    /// A store's edge agent.
    Edge,
}

impl DeviceKind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pos => "pos",
            Self::Edge => "edge",
        }
    }
}

impl std::str::FromStr for DeviceKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "pos" => Ok(Self::Pos),
            "edge" => Ok(Self::Edge),
            other => Err(format!("unknown device kind {other:?}")),
        }
    }
}

/// An authenticated device (POS terminal or edge agent), bound to one store.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct DeviceActor {
    /// Device id.
    pub id: Uuid,
    /// The store the device belongs to.
    pub location_id: String,
    /// What it is.
    pub kind: DeviceKind,
    /// Its name, e.g. "Lane 1".
    pub name: String,
}

impl DeviceActor {
    /// The name written into ledgers and the audit log.
    pub fn actor(&self) -> String {
        format!("device:{}", self.id)
    }
}

fn bearer(parts: &Parts) -> AppResult<&str> {
    let header = parts
        .headers
        .get(axum::http::header::AUTHORIZATION)
        .ok_or_else(|| AppError::Unauthorized("missing Authorization header".into()))?;
    let value = header
        .to_str()
        .map_err(|_| AppError::Unauthorized("malformed Authorization header".into()))?;
    value
        .strip_prefix("Bearer ")
        .map(str::trim)
        .filter(|t| !t.is_empty() && t.len() <= 200)
        .ok_or_else(|| AppError::Unauthorized("expected a Bearer token".into()))
}

impl FromRequestParts<AppState> for StaffActor {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> AppResult<Self> {
        let token = bearer(parts)?;
        if !token.starts_with("st_") {
            return Err(AppError::Unauthorized("not a staff token".into()));
        }
        storage::staff::session_actor(&state.store, &token_hash(token))
            .await?
            .ok_or_else(|| {
                AppError::Unauthorized("session expired or revoked, log in again".into())
            })
    }
}

impl FromRequestParts<AppState> for DeviceActor {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> AppResult<Self> {
        let token = bearer(parts)?;
        if !token.starts_with("dv_") {
            return Err(AppError::Unauthorized("not a device credential".into()));
        }
        match storage::devices::by_secret(&state.store, &token_hash(token)).await? {
            Some((device, None)) => Ok(device),
            Some((_, Some(_revoked_at))) => Err(AppError::Unauthorized(
                "this device has been revoked".into(),
            )),
            None => Err(AppError::Unauthorized("unknown device credential".into())),
        }
    }
}

/// Either a staff member or a device: for reads both may make (e.g. stock availability).
#[derive(Clone, Debug)]
pub enum Caller {
    /// A staff member.
    Staff(StaffActor),
    /// A device.
    Device(DeviceActor),
}

impl Caller {
    /// Fails with 403 unless the caller may see `location`.
    pub fn require_store(&self, location: &str) -> AppResult<()> {
        match self {
            Self::Staff(s) => s.require_store(location),
            Self::Device(d) if d.location_id == location => Ok(()),
            Self::Device(_) => Err(AppError::Forbidden(format!(
                "this device may not act for location {location}"
            ))),
        }
    }

    /// The name written into ledgers.
    pub fn actor(&self) -> String {
        match self {
            Self::Staff(s) => s.actor(),
            Self::Device(d) => d.actor(),
        }
    }

    /// The store a request is about: a device's own store, or the store a staff member names
    /// (`named`, e.g. `?store=`; 422 when missing), checked with [`Caller::require_store`].
    pub fn store(&self, named: Option<String>) -> AppResult<String> {
        let store = match (self, named) {
            (Self::Device(device), _) => device.location_id.clone(),
            (Self::Staff(_), Some(store)) => store,
            (Self::Staff(_), None) => return Err(AppError::field("store", "which store?")),
        };
        self.require_store(&store)?;
        Ok(store)
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> AppResult<Self> {
        if bearer(parts)?.starts_with("dv_") {
            DeviceActor::from_request_parts(parts, state)
                .await
                .map(Self::Device)
        } else {
            StaffActor::from_request_parts(parts, state)
                .await
                .map(Self::Staff)
        }
    }
}

/// A fixed-window limiter for login attempts and code look-ups, per key.
#[derive(Debug, Default)]
pub struct RateLimiter {
    windows: Mutex<HashMap<String, (Instant, u32)>>,
}

impl RateLimiter {
    /// Counts one attempt for `key`; fails with 429 once `limit` attempts fall in one minute.
    pub fn check(&self, key: &str, limit: u32) -> AppResult<()> {
        let now = Instant::now();
        let mut windows = self
            .windows
            .lock()
            .map_err(|_| AppError::Internal(anyhow::anyhow!("rate limiter poisoned")))?;
        if windows.len() > 100_000 {
            windows.retain(|_, (start, _)| now.duration_since(*start) < Duration::from_secs(60));
        }
        let entry = windows.entry(key.to_owned()).or_insert((now, 0));
        if now.duration_since(entry.0) >= Duration::from_secs(60) {
            *entry = (now, 0);
        }
        if entry.1 >= limit {
            return Err(AppError::RateLimited);
        }
        entry.1 += 1;
        Ok(())
    }

    /// Forgets `key` (after a successful login).
    pub fn reset(&self, key: &str) {
        if let Ok(mut windows) = self.windows.lock() {
            windows.remove(key);
        }
    }
}

impl axum::extract::OptionalFromRequestParts<AppState> for StaffActor {
    type Rejection = AppError;

    /// No `Authorization` header → `None`; a header that does not authenticate → 401.
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> AppResult<Option<Self>> {
        if parts
            .headers
            .contains_key(axum::http::header::AUTHORIZATION)
        {
            <Self as FromRequestParts<AppState>>::from_request_parts(parts, state)
                .await
                .map(Some)
        } else {
            Ok(None)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limiter_blocks_after_the_limit() {
        let limiter = RateLimiter::default();
        for _ in 0..3 {
            assert!(limiter.check("a", 3).is_ok());
        }
        assert!(matches!(limiter.check("a", 3), Err(AppError::RateLimited)));
        assert!(limiter.check("b", 3).is_ok());
        limiter.reset("a");
        assert!(limiter.check("a", 3).is_ok());
    }

    #[test]
    fn store_scoping() {
        let manager = StaffActor {
            id: Uuid::nil(),
            username: "m".into(),
            display_name: "m".into(),
            role: Role::StoreManager,
            location_id: Some("SH001".into()),
        };
        assert!(manager.require_store("SH001").is_ok());
        assert!(manager.require_store("SH002").is_err());
        assert!(manager.require(&[Role::HeadOfficeAdmin]).is_err());
        let admin = StaffActor {
            role: Role::HeadOfficeAdmin,
            location_id: None,
            ..manager
        };
        assert!(admin.require_store("SH002").is_ok());
    }
}
