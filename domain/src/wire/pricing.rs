//! The pricing context a client needs to price baskets itself (DESIGN §4 "one pricing engine"):
//! the active promotions for its store, the points rules and the store's rounding settings.
//!
//! Served by `GET /api/v1/pricing/context` (device credential or staff token; a device gets its
//! own store's context). The POS keeps the last context it fetched in its local database and
//! prices offline with [`crate::pricing::price_basket`] from it; coupons and points redemption
//! need the server and are not part of the context.

use serde::{Deserialize, Serialize};

use crate::points::PointsRules;
use crate::pricing::{PricingSettings, Promotion};

/// Everything a lane needs, besides its catalog, to price a basket exactly as the server does.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PricingContext {
    /// The store this context is for.
    pub store: String,
    /// A version that changes whenever promotions or settings change (compare to skip work).
    pub version: i64,
    /// Promotions that are active now or start within the next day, for this store.
    pub promotions: Vec<Promotion>,
    /// Tiers, earning and redemption rules.
    pub points_rules: PointsRules,
    /// The store's rounding settings (fen rounding, optional till rounding 抹零).
    pub settings: PricingSettings,
    /// The server's Ed25519 public key (base64url) for verifying signed codes offline
    /// (member codes, pickup codes, receipt codes, exit passes).
    pub public_key: String,
}
