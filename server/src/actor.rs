//! Who is acting: staff members (with their role and store) and registered devices, as plain
//! values. The HTTP layer authenticates them ([`crate::actor`]); the application and storage
//! layers take them as inputs and check role *and* store with [`StaffActor::require`] and
//! [`StaffActor::require_store`].

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::error::{AppError, AppResult};

/// A staff role (the domain's, shared with the lanes' roster).
pub use retail_domain::wire::staff::StaffRole as Role;

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
    /// The merchant a merchant administrator works for (B2B2C); none for the platform's staff.
    pub merchant_id: Option<String>,
    /// An administrator reset the password: until it is changed, the session may only change
    /// it (`POST /api/v1/auth/password`, the console's password page) or log out.
    pub must_change_password: bool,
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

    /// Fails with 403 unless the actor may act for `merchant`'s own data: head office for every
    /// merchant, a merchant administrator for their own merchant only, nobody else.
    pub fn require_merchant(&self, merchant: &str) -> AppResult<()> {
        match (&self.role, &self.merchant_id) {
            (Role::HeadOfficeAdmin, _) => Ok(()),
            (Role::MerchantAdmin, Some(own)) if own == merchant => Ok(()),
            _ => Err(AppError::Forbidden(format!(
                "{} may not act for merchant {merchant}",
                self.username
            ))),
        }
    }

    /// The merchant whose data this actor is limited to: `None` for head office (every
    /// merchant), the own merchant for a merchant administrator; 403 for store staff.
    pub fn merchant_scope(&self) -> AppResult<Option<&str>> {
        match (&self.role, &self.merchant_id) {
            (Role::HeadOfficeAdmin, _) => Ok(None),
            (Role::MerchantAdmin, Some(own)) => Ok(Some(own)),
            _ => Err(AppError::Forbidden(format!(
                "the {} role may not do this",
                self.role.as_str()
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

/// The network address a request came from: the key of per-address limits (log-in attempts,
/// one-time codes, anonymous orders). It is the TCP peer, or behind one of
/// `cluster.trusted_proxies` the client that proxy forwarded for ([`crate::forwarded`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ClientAddr(pub std::net::IpAddr);

impl ClientAddr {
    /// The key prefix for a limit of this address, e.g. `ip:127.0.0.1`.
    pub fn limit_key(&self) -> String {
        format!("ip:{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_scoping() {
        let manager = StaffActor {
            id: Uuid::nil(),
            username: "m".into(),
            display_name: "m".into(),
            role: Role::StoreManager,
            location_id: Some("SH001".into()),
            merchant_id: None,
            must_change_password: false,
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

    #[test]
    fn merchant_scoping() {
        let merchant = StaffActor {
            id: Uuid::nil(),
            username: "ma".into(),
            display_name: "ma".into(),
            role: Role::MerchantAdmin,
            location_id: None,
            merchant_id: Some("m-green".into()),
            must_change_password: false,
        };
        assert!(merchant.require_merchant("m-green").is_ok());
        assert!(merchant.require_merchant("m-other").is_err());
        assert!(merchant.require_merchant("platform").is_err());
        assert_eq!(merchant.merchant_scope().ok().flatten(), Some("m-green"));
        // Never head office, never at a store.
        assert!(merchant.require(&[Role::HeadOfficeAdmin]).is_err());
        assert!(merchant.require_store("SH001").is_err());
        let manager = StaffActor {
            role: Role::StoreManager,
            location_id: Some("SH001".into()),
            merchant_id: None,
            ..merchant.clone()
        };
        assert!(manager.require_merchant("platform").is_err());
        assert!(manager.merchant_scope().is_err());
        let admin = StaffActor {
            role: Role::HeadOfficeAdmin,
            location_id: None,
            ..manager
        };
        assert!(admin.require_merchant("m-green").is_ok());
        assert_eq!(admin.merchant_scope().ok().flatten(), None);
    }
}
