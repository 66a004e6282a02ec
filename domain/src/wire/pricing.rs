//! The pricing context a client needs to price baskets itself (docs/DESIGN.md §4 "one pricing engine"):
//! the active promotions for its store, the points rules and the store's rounding settings.
//!
//! Served by `GET /api/v1/pricing/context` (device credential or staff token; a device gets its
//! own store's context). The POS keeps the last context it fetched in its local database and
//! prices offline with [`crate::pricing::price_basket`] from it; coupons and points redemption
//! need the server and are not part of the context. The context also carries the chain's
//! variable-measure barcode layouts (how the lanes read a scale's labels), so a lane reads them
//! as the chain configured them, offline too.

use std::borrow::Cow;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::barcode::VariableMeasureLayout;
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
    /// The chain's variable-measure EAN-13 layouts (the `2x…` labels a scale prints for a
    /// weighed item: PLU and price or weight), a server setting. Absent from a server that
    /// predates it (see [`PricingContext::layouts`]); an empty list: no such labels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variable_measure: Option<Vec<VariableMeasureLayout>>,
}

impl PricingContext {
    /// The variable-measure layouts to read scale labels with: the chain's, or
    /// [`VariableMeasureLayout::cn_default`] when the server did not send any (an older server,
    /// whose lanes read labels with that default).
    pub fn layouts(&self) -> Cow<'_, [VariableMeasureLayout]> {
        match &self.variable_measure {
            Some(layouts) => Cow::Borrowed(layouts),
            None => Cow::Owned(vec![VariableMeasureLayout::cn_default()]),
        }
    }

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

    #[test]
    fn the_layouts_field_is_optional_on_the_wire() {
        use crate::barcode::MeasureKind;
        let weight = VariableMeasureLayout {
            prefixes: vec!["28".into()],
            value: MeasureKind::Weight,
            decimals: 3,
            ..VariableMeasureLayout::cn_default()
        };
        let context = PricingContext {
            store: "SH001".into(),
            version: 7,
            promotions: Vec::new(),
            points_rules: PointsRules::default(),
            settings: PricingSettings::default(),
            public_key: "key".into(),
            variable_measure: Some(vec![weight.clone()]),
        };
        let json = serde_json::to_value(&context).unwrap_or_default();
        assert_eq!(json["variable_measure"][0]["prefixes"][0], "28");
        assert_eq!(json["variable_measure"][0]["value"], "weight");
        let back: PricingContext = serde_json::from_value(json.clone()).unwrap_or_else(|e| {
            panic!("{e}");
        });
        assert_eq!(back, context);
        assert_eq!(*back.layouts(), [weight]);

        // A context from a server (or a lane database) from before the field: still read, and
        // labels are read with the Chinese default layout, as before.
        let mut old = json;
        old.as_object_mut().map(|o| o.remove("variable_measure"));
        let back: PricingContext = serde_json::from_value(old).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(back.variable_measure, None);
        assert_eq!(*back.layouts(), [VariableMeasureLayout::cn_default()]);
        let none = PricingContext {
            variable_measure: None,
            ..context.clone()
        };
        let json = serde_json::to_value(&none).unwrap_or_default();
        assert!(json.get("variable_measure").is_none(), "{json}");

        // A chain whose scales print no labels says so with an empty list.
        let empty = PricingContext {
            variable_measure: Some(Vec::new()),
            ..context
        };
        assert!(empty.layouts().is_empty());
    }
}
