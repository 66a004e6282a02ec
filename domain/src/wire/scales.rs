//! The store's label-scale PLU list (docs/CONTRACTS.md, "Label scales"): what the server
//! serves to a store's edge agent (`GET /api/v1/devices/me/scale-plus`) and the agent loads
//! into each label scale. Prices come from the pricing engine at the time the list is made.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::barcode::VariableMeasureLayout;
use crate::money::Money;

/// One PLU a label scale holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScalePlu {
    /// The scale key (slot / hot key), 1–9999, unique in the chain.
    pub key: u16,
    /// The PLU the label's barcode carries (digits; also a barcode of the SKU, so the lanes
    /// find the SKU by it).
    pub plu: String,
    /// The SKU.
    pub sku_id: Uuid,
    /// The name printed (product name and spec).
    pub name: String,
    /// The unit price the lanes sell at now (per kg when weighed, per piece when counted): the
    /// pricing engine's unit price of the SKU at the store (store price, sale promotions).
    pub unit_price: Money,
    /// The list price (store price, else chain price), for the label's "was" price.
    pub list_price: Money,
    /// Sold by weight.
    pub weighed: bool,
    /// Tare in grams.
    pub tare_g: u32,
    /// Shelf life in days (0: none printed).
    pub shelf_life_days: u16,
    /// The label's two leading digits (a prefix of `layout`).
    pub barcode_flag: String,
}

/// A store's PLU list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScalePluList {
    /// The store.
    pub store: String,
    /// A digest of `layout` and `items` ([`ScalePluList::digest`]): equal versions, equal
    /// lists. Also the HTTP `ETag`.
    pub version: String,
    /// When it was made.
    pub generated_at: DateTime<Utc>,
    /// The barcode layout the scales must print (the chain's first price layout).
    pub layout: VariableMeasureLayout,
    /// Every PLU, by key.
    pub items: Vec<ScalePlu>,
}

impl ScalePluList {
    /// The version of a layout and items: the first 16 hex digits of the SHA-256 of their JSON.
    pub fn digest(layout: &VariableMeasureLayout, items: &[ScalePlu]) -> String {
        let mut hasher = Sha256::new();
        hasher.update(serde_json::to_vec(layout).unwrap_or_default());
        hasher.update(serde_json::to_vec(items).unwrap_or_default());
        hasher
            .finalize()
            .iter()
            .take(8)
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// Whether `version` is the digest of the content (a list damaged or edited in transit is
    /// not).
    pub fn is_consistent(&self) -> bool {
        self.version == Self::digest(&self.layout, &self.items)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_version_follows_the_content() {
        let item = ScalePlu {
            key: 1,
            plu: "10001".into(),
            sku_id: Uuid::nil(),
            name: "苹果".into(),
            unit_price: Money::from_fen(1290),
            list_price: Money::from_fen(1290),
            weighed: true,
            tare_g: 0,
            shelf_life_days: 7,
            barcode_flag: "20".into(),
        };
        let layout = VariableMeasureLayout::cn_default();
        let mut list = ScalePluList {
            store: "SH001".into(),
            version: ScalePluList::digest(&layout, std::slice::from_ref(&item)),
            generated_at: Utc::now(),
            layout,
            items: vec![item],
        };
        assert_eq!(list.version.len(), 16);
        assert!(list.is_consistent());
        list.items[0].unit_price = Money::from_fen(990);
        assert!(!list.is_consistent());
    }
}
