//! The POS catalog sync (docs/DESIGN.md §5): a lane pulls the catalog changes since its last cursor, in
//! pages, and keeps a full local copy so it can sell with the network down.
//!
//! `GET /api/v1/catalog/changes?since=<seq>&limit=<n>` answers a [`CatalogPage`]. Every change to
//! a category or a SKU (its product, prices, barcodes, status) moves that record to a new, higher
//! sequence number, so a page holds the *current* state of each record changed after `since`, and
//! a record appears at most once per pull. The lane stores [`CatalogPage::next_since`] as its new
//! cursor after applying the page and pulls again while [`CatalogPage::has_more`].

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::money::Money;

/// Records per page when the client does not say.
pub const DEFAULT_PAGE_SIZE: i64 = 500;

/// Most records in one page.
pub const MAX_PAGE_SIZE: i64 = 2000;

/// Whether a product or SKU is for sale.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ShelfStatus {
    /// On sale.
    #[default]
    OnShelf,
    /// Withdrawn from sale (the lane refuses to sell it).
    OffShelf,
}

impl ShelfStatus {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::OnShelf => "on_shelf",
            Self::OffShelf => "off_shelf",
        }
    }
}

impl std::str::FromStr for ShelfStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "on_shelf" => Ok(Self::OnShelf),
            "off_shelf" => Ok(Self::OffShelf),
            other => Err(format!("unknown shelf status {other:?}")),
        }
    }
}

/// A category (a node of the multi-level tree, as a flat record with its parent).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CategoryRecord {
    /// The record's change sequence number.
    pub seq: i64,
    /// The category code, e.g. `FOOD-SNACK-CHIPS` (its id).
    pub id: String,
    /// The parent's code; none for a top-level category.
    pub parent_id: Option<String>,
    /// Chinese name.
    pub name_zh: String,
    /// English name.
    pub name_en: String,
    /// Display order among siblings (lower first).
    pub sort: i64,
}

/// A sellable SKU with everything a lane needs to ring it up.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SkuRecord {
    /// The record's change sequence number.
    pub seq: i64,
    /// SKU id.
    pub id: Uuid,
    /// SKU code, e.g. `200123-01`.
    pub sku_code: String,
    /// The product's id.
    pub product_id: Uuid,
    /// The product's code.
    pub product_code: String,
    /// Product name in Chinese.
    pub name_zh: String,
    /// Product name in English.
    pub name_en: String,
    /// Brand.
    pub brand: String,
    /// The product's category code.
    pub category_id: String,
    /// Variant in Chinese, e.g. `500g`.
    pub spec_zh: String,
    /// Variant in English.
    pub spec_en: String,
    /// Selling unit, e.g. `件`, or `kg` for weighed SKUs.
    pub unit: String,
    /// Sold by weight; prices are then per kg.
    pub weighed: bool,
    /// `off_shelf` when the SKU or its product is withdrawn from sale.
    pub status: ShelfStatus,
    /// Chain-wide price.
    pub price: Money,
    /// Member price, if any.
    pub member_price: Option<Money>,
    /// The price override of the store the record was fetched for (the calling device's store),
    /// if that store has one; it replaces `price` there.
    pub store_price: Option<Money>,
    /// Every barcode that identifies this SKU (GTINs and internal codes).
    pub barcodes: Vec<String>,
}

impl SkuRecord {
    /// The price to charge at the store the record was fetched for: its override, else the
    /// chain price.
    pub fn effective_price(&self) -> Money {
        self.store_price.unwrap_or(self.price)
    }

    /// The name printed on receipts: product name and spec, e.g. `农夫山泉饮用天然水 550ml`.
    pub fn display_name(&self) -> String {
        format!("{} {}", self.name_zh, self.spec_zh)
            .trim()
            .to_owned()
    }
}

/// One record of the change feed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
// Unboxed on purpose: items live in a page's `Vec` and are matched by both ends of the sync.
#[allow(clippy::large_enum_variant)]
pub enum CatalogItem {
    /// A category.
    Category(CategoryRecord),
    /// A SKU.
    Sku(SkuRecord),
}

impl CatalogItem {
    /// The record's change sequence number.
    pub fn seq(&self) -> i64 {
        match self {
            Self::Category(c) => c.seq,
            Self::Sku(s) => s.seq,
        }
    }
}

/// A page of the catalog change feed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CatalogPage {
    /// Records changed after the requested cursor, in increasing `seq` order.
    pub items: Vec<CatalogItem>,
    /// The cursor for the next pull: the `seq` of the last item, or the requested cursor when
    /// the page is empty.
    pub next_since: i64,
    /// True when more records follow this page.
    pub has_more: bool,
    /// How many records were changed after the requested cursor (for a progress bar).
    pub total: i64,
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn items_are_tagged_by_kind() {
        let page = CatalogPage {
            items: vec![
                CatalogItem::Category(CategoryRecord {
                    seq: 1,
                    id: "FOOD".into(),
                    parent_id: None,
                    name_zh: "食品".into(),
                    name_en: "Food".into(),
                    sort: 0,
                }),
                CatalogItem::Sku(SkuRecord {
                    seq: 2,
                    id: Uuid::nil(),
                    sku_code: "100001-01".into(),
                    product_id: Uuid::nil(),
                    product_code: "100001".into(),
                    name_zh: "苹果".into(),
                    name_en: "Apple".into(),
                    brand: String::new(),
                    category_id: "FOOD".into(),
                    spec_zh: "500g".into(),
                    spec_en: "500g".into(),
                    unit: "袋".into(),
                    weighed: false,
                    status: ShelfStatus::OnShelf,
                    price: Money::from_fen(1250),
                    member_price: None,
                    store_price: Some(Money::from_fen(990)),
                    barcodes: vec!["6901234567892".into()],
                }),
            ],
            next_since: 2,
            has_more: false,
            total: 2,
        };
        let json = serde_json::to_value(&page).unwrap();
        assert_eq!(json["items"][0]["kind"], "category");
        assert_eq!(json["items"][1]["kind"], "sku");
        assert_eq!(json["items"][1]["price"], "12.50");
        assert_eq!(json["items"][1]["status"], "on_shelf");
        let back: CatalogPage = serde_json::from_value(json).unwrap();
        assert_eq!(back, page);
        let CatalogItem::Sku(sku) = &back.items[1] else {
            panic!("not a sku")
        };
        assert_eq!(sku.effective_price(), Money::from_fen(990));
        assert_eq!(sku.display_name(), "苹果 500g");
        assert_eq!(back.items[1].seq(), 2);
    }

    #[test]
    fn shelf_status_round_trips() {
        for s in [ShelfStatus::OnShelf, ShelfStatus::OffShelf] {
            assert_eq!(s.as_str().parse::<ShelfStatus>(), Ok(s));
        }
        assert!("gone".parse::<ShelfStatus>().is_err());
    }
}
