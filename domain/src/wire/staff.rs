//! Who may work a lane: the roster a POS terminal pulls with its credential
//! (`GET /api/v1/devices/me/roster`) and checks offline when a cashier signs in with their user
//! name and PIN, or when a store manager approves a void or a return with theirs.
//!
//! The roster carries each person's PIN only as an Argon2id hash (PHC string); the lane keeps it
//! in its database and verifies a PIN against it without the server, so signing in works while
//! the network is down. The server checks the same hash with the same function
//! ([`LaneStaff::pin_matches`]) when a return's approval reaches it.

use argon2::password_hash::{PasswordHash, PasswordVerifier};
use argon2::Argon2;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// A staff role: what a person may do in the console, the API and at a lane.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StaffRole {
    /// Head office: every store, catalog, prices, staff, devices; approves at any store.
    HeadOfficeAdmin,
    /// One store: its stock, devices, orders; approves voids and returns in their store.
    StoreManager,
    /// One store's tills: rings up sales, takes payments, opens and closes shifts.
    Cashier,
    /// A merchant's head office on the platform (B2B2C): that merchant's products, stores,
    /// orders, after-sales and statements, never another merchant's; never at a lane.
    MerchantAdmin,
}

impl StaffRole {
    /// Whether this role approves voids and returns with its PIN.
    pub fn approves(self) -> bool {
        matches!(self, Self::StoreManager | Self::HeadOfficeAdmin)
    }

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Cashier => "cashier",
            Self::StoreManager => "store_manager",
            Self::HeadOfficeAdmin => "head_office_admin",
            Self::MerchantAdmin => "merchant_admin",
        }
    }
}

impl std::str::FromStr for StaffRole {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "cashier" => Ok(Self::Cashier),
            "store_manager" => Ok(Self::StoreManager),
            "head_office_admin" => Ok(Self::HeadOfficeAdmin),
            "merchant_admin" => Ok(Self::MerchantAdmin),
            other => Err(format!("unknown role {other:?}")),
        }
    }
}

/// One person who may sign in at the lanes of a store.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct LaneStaff {
    /// Staff id.
    pub id: Uuid,
    /// Log-in name, e.g. `cashier1.sh001`.
    pub username: String,
    /// Name shown on the screen and printed on receipts.
    pub display_name: String,
    /// What they may do at a lane.
    pub role: StaffRole,
    /// Argon2id hash of their six-digit PIN (PHC string).
    pub pin_hash: String,
}

impl LaneStaff {
    /// Whether `pin` is this person's PIN (Argon2 verification; a malformed hash matches
    /// nothing). Takes tens of milliseconds by design: run it off the async threads.
    pub fn pin_matches(&self, pin: &str) -> bool {
        if pin.is_empty() || pin.len() > 32 {
            return false;
        }
        PasswordHash::new(&self.pin_hash)
            .map(|hash| {
                Argon2::default()
                    .verify_password(pin.as_bytes(), &hash)
                    .is_ok()
            })
            .unwrap_or(false)
    }
}

/// The people who may sign in at a store's lanes: its active staff with a PIN, and head
/// office's administrators with a PIN.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct LaneRoster {
    /// Everyone, by user name.
    pub staff: Vec<LaneStaff>,
}

impl LaneRoster {
    /// The person with this user name (case-insensitive), if they are on the roster.
    pub fn find(&self, username: &str) -> Option<&LaneStaff> {
        let username = username.trim();
        self.staff
            .iter()
            .find(|s| s.username.eq_ignore_ascii_case(username))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use argon2::password_hash::{PasswordHasher, SaltString};

    fn staff(pin: &str, role: StaffRole) -> LaneStaff {
        let salt = SaltString::encode_b64(b"lane-roster-test").unwrap();
        LaneStaff {
            id: Uuid::nil(),
            username: "cashier1.sh001".into(),
            display_name: "林小燕".into(),
            role,
            pin_hash: Argon2::default()
                .hash_password(pin.as_bytes(), &salt)
                .unwrap()
                .to_string(),
        }
    }

    #[test]
    fn a_pin_matches_only_its_hash() {
        let s = staff("135790", StaffRole::Cashier);
        assert!(s.pin_matches("135790"));
        assert!(!s.pin_matches("135791"));
        assert!(!s.pin_matches(""));
        assert!(!s.pin_matches(&"1".repeat(1000)));
        let broken = LaneStaff {
            pin_hash: "not a hash".into(),
            ..s
        };
        assert!(!broken.pin_matches("135790"));
    }

    #[test]
    fn only_managers_and_head_office_approve() {
        assert!(!StaffRole::Cashier.approves());
        assert!(StaffRole::StoreManager.approves());
        assert!(StaffRole::HeadOfficeAdmin.approves());
        for role in [
            StaffRole::Cashier,
            StaffRole::StoreManager,
            StaffRole::HeadOfficeAdmin,
        ] {
            assert_eq!(role.as_str().parse::<StaffRole>(), Ok(role));
        }
    }

    #[test]
    fn the_roster_finds_people_by_user_name() {
        let roster = LaneRoster {
            staff: vec![staff("135790", StaffRole::Cashier)],
        };
        assert!(roster.find(" Cashier1.SH001 ").is_some());
        assert!(roster.find("cashier2.sh001").is_none());
    }
}
