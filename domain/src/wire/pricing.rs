//! The pricing context a client needs to price baskets itself (docs/DESIGN.md §4 "one pricing engine"):
//! the active promotions for its store, the points rules and the store's rounding settings.
//!
//! Served by `GET /api/v1/pricing/context` (device credential or staff token; a device gets its
//! own store's context). The POS keeps the last context it fetched in its local database and
//! prices offline with [`crate::pricing::price_basket`] from it; coupons and points redemption
//! need the server and are not part of the context.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::points::PointsRules;
use crate::pricing::{BasketLine, Coupon, MemberContext, PricingInput, PricingSettings, Promotion};

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
    /// (member codes, pickup codes, exit passes; receipt codes are signed by the lanes).
    pub public_key: String,
}

impl PricingContext {
    /// The engine's input for a basket priced under this context: the one place where a
    /// client's basket, member, coupons and points meet the context, used by the server's
    /// checkout and by the lanes alike, so both price from the same input.
    pub fn input(
        &self,
        lines: Vec<BasketLine>,
        member: Option<MemberContext>,
        coupons: Vec<Coupon>,
        points_to_redeem: i64,
        at: DateTime<Utc>,
    ) -> PricingInput {
        PricingInput {
            store: self.store.clone(),
            at,
            member,
            lines,
            promotions: self.promotions.clone(),
            coupons,
            points_to_redeem,
            points_rules: self.points_rules.clone(),
            settings: self.settings,
        }
    }
}

/// A catalog SKU's category with its ancestors, nearest first (`[leaf, parent, …, root]`), for
/// [`BasketLine::from_sku`]. `parent_of` answers a category's parent; cycles and unknown
/// categories end the walk.
pub fn category_path<'a>(
    category_id: &'a str,
    parent_of: impl Fn(&str) -> Option<&'a str>,
) -> Vec<String> {
    let mut path = vec![category_id.to_owned()];
    let mut current = category_id;
    while let Some(parent) = parent_of(current) {
        if path.iter().any(|p| p == parent) || path.len() >= 16 {
            break;
        }
        path.push(parent.to_owned());
        current = parent;
    }
    path
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn category_path_walks_to_the_root_and_survives_cycles() {
        let parents = |c: &str| match c {
            "leaf" => Some("mid"),
            "mid" => Some("root"),
            "a" => Some("b"),
            "b" => Some("a"),
            _ => None,
        };
        assert_eq!(category_path("leaf", parents), ["leaf", "mid", "root"]);
        assert_eq!(category_path("a", parents), ["a", "b"]);
        assert_eq!(category_path("solo", parents), ["solo"]);
    }
}
