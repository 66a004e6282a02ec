//! The lanes' receipt keys (docs/DESIGN.md §7 "receipt code"): each POS lane signs the receipt codes it
//! prints with an Ed25519 key of its own, registers the public key with the server
//! (`PUT /api/v1/pos/receipt-key`, [`RegisterReceiptKey`] → [`ReceiptKey`]), and pulls its
//! store's registered keys (`GET /api/v1/pos/receipt-keys` → [`ReceiptKeys`]) to verify the
//! codes of every lane of the store offline ([`crate::receipts::ReceiptKeyring`]).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A lane registers the public key it signs receipt codes with (idempotent: the same key again
/// answers the registration made first).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterReceiptKey {
    /// The Ed25519 public key, base64url without padding (43 characters).
    pub public_key: String,
}

/// A registered receipt key of a lane.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ReceiptKey {
    /// The key's id as receipt codes (`RC2`) carry it
    /// ([`crate::codes::CodeVerifier::key_id`]).
    pub key_id: String,
    /// The Ed25519 public key, base64url without padding.
    pub public_key: String,
    /// The store of the lane that registered it.
    pub store: String,
    /// The lane (device) that registered it.
    pub device_id: Uuid,
    /// When it was registered.
    pub registered_at: DateTime<Utc>,
    /// When head office revoked the key, if it did: codes it signed are refused from then on.
    /// (Revoking the *device* does not revoke its keys: receipts already printed stay valid.)
    #[serde(default)]
    pub revoked_at: Option<DateTime<Utc>>,
}

/// Every receipt key registered by the lanes of one store (revoked ones included, so a verifier
/// can say a code's key was revoked rather than unknown).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ReceiptKeys {
    /// The store.
    pub store: String,
    /// Its lanes' keys, oldest first.
    pub keys: Vec<ReceiptKey>,
}
