//! Catalog use cases shared by the API and the console: what a new product, SKU or barcode must
//! look like (codes, texts, prices, GTIN check digits) and adding a barcode to a SKU.

use std::collections::HashSet;

use retail_domain::barcode::{validate_gtin, MAX_INTERNAL_CODE_LEN};
use retail_domain::money::Money;
use retail_domain::pricing::MAX_UNIT_PRICE_FEN;
use retail_domain::wire::catalog::ShelfStatus;
use serde::{Deserialize, Deserializer};
use utoipa::ToSchema;
use uuid::Uuid;

use super::AppState;
use crate::error::{AppError, AppResult};
use crate::storage;
use crate::storage::catalog::{NewProduct, NewSku};

/// Most SKUs one product may have.
const MAX_SKUS: usize = 50;

/// Most barcodes one SKU may have.
const MAX_BARCODES: usize = 20;

/// Longest product, SKU or category code.
const MAX_CODE_LEN: usize = 32;

/// A barcode of a new SKU.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BarcodeRequest {
    /// The code: a GTIN (EAN-13, EAN-8, UPC-A, check digit validated) unless `internal`.
    pub code: String,
    /// A retailer-internal code: letters, digits and `-`, up to 32.
    #[serde(default)]
    pub internal: bool,
}

/// A SKU of a new product.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SkuRequest {
    /// Client id (UUIDv7); generated when absent.
    #[serde(default)]
    pub id: Option<Uuid>,
    /// SKU code: letters, digits and `-`, up to 32.
    pub sku_code: String,
    /// Variant in Chinese, e.g. `500g`.
    #[serde(default)]
    pub spec_zh: String,
    /// Variant in English.
    #[serde(default)]
    pub spec_en: String,
    /// Selling unit (default `件`).
    #[serde(default)]
    pub unit: Option<String>,
    /// Sold by weight (prices per kg).
    #[serde(default)]
    pub weighed: bool,
    /// Chain price.
    pub price: Money,
    /// Member price.
    #[serde(default)]
    pub member_price: Option<Money>,
    /// One or more barcodes.
    pub barcodes: Vec<BarcodeRequest>,
}

/// A new product with its SKUs.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProductRequest {
    /// Client id (UUIDv7); a retry with the same id answers the product created first.
    pub id: Uuid,
    /// Product code: letters, digits and `-`, up to 32.
    pub code: String,
    /// Chinese name.
    pub name_zh: String,
    /// English name.
    #[serde(default)]
    pub name_en: String,
    /// Brand.
    #[serde(default)]
    pub brand: String,
    /// Category code.
    pub category_id: String,
    /// Description for the shop.
    #[serde(default)]
    pub description: String,
    /// Initial status (default on shelf).
    #[serde(default)]
    pub status: ShelfStatus,
    /// One or more SKUs.
    pub skus: Vec<SkuRequest>,
}

/// Tells a present field (even `null`) from an absent one (`None`, via `default`).
pub fn present<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

/// A code of letters, digits and `-`.
fn is_code(text: &str, max: usize) -> bool {
    !text.is_empty()
        && text.len() <= max
        && text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// A code (letters, digits, `-`) of at most the longest code length, or a 422 on `field`.
pub fn check_code(field: &str, text: &str) -> AppResult<String> {
    let text = text.trim();
    if is_code(text, MAX_CODE_LEN) {
        Ok(text.to_owned())
    } else {
        Err(AppError::field(
            field,
            format!("must be 1 to {MAX_CODE_LEN} letters, digits or '-'"),
        ))
    }
}

/// Trimmed text of at most `max` characters (and not empty when `required`), or a 422.
pub fn check_text(field: &str, text: &str, required: bool, max: usize) -> AppResult<String> {
    let text = text.trim();
    let n = text.chars().count();
    if (required && n == 0) || n > max || text.chars().any(char::is_control) {
        let least = if required { 1 } else { 0 };
        return Err(AppError::field(
            field,
            format!("must be {least} to {max} characters, without control characters"),
        ));
    }
    Ok(text.to_owned())
}

/// A description: at most 2000 characters with line breaks (`\r\n` kept as `\n`) but no other
/// control characters, trimmed, or a 422. Pages escape it and render only paragraphs, lines,
/// `- ` bullets and `**bold**`.
pub fn check_description(field: &str, text: &str) -> AppResult<String> {
    let text = text.replace("\r\n", "\n");
    let text = text.trim();
    if text.chars().count() > 2000 || text.chars().any(|c| c.is_control() && c != '\n') {
        return Err(AppError::field(
            field,
            "must be at most 2000 characters, without control characters other than line breaks",
        ));
    }
    Ok(text.to_owned())
}

/// A price in fen (not negative), or a 422.
pub fn check_price(field: &str, price: Money) -> AppResult<i64> {
    if price.is_negative() {
        Err(AppError::field(field, "must not be negative"))
    } else if price.fen() > MAX_UNIT_PRICE_FEN {
        Err(AppError::field(field, too_dear()))
    } else {
        Ok(price.fen())
    }
}

/// What a price above the pricing engine's largest unit price is told: the engine refuses a
/// basket holding one, so the catalog never takes it (else the SKU could not be sold).
fn too_dear() -> String {
    format!("must be at most {}", Money::from_fen(MAX_UNIT_PRICE_FEN))
}

/// A barcode of a new SKU: a valid GTIN, or an internal code that cannot be mistaken for one.
pub fn check_barcode(field: &str, barcode: &BarcodeRequest) -> AppResult<String> {
    let code = barcode.code.trim();
    if barcode.internal {
        if !is_code(code, MAX_INTERNAL_CODE_LEN) {
            return Err(AppError::field(
                field,
                format!("an internal code is 1 to {MAX_INTERNAL_CODE_LEN} letters, digits or '-'"),
            ));
        }
        if looks_like_gtin(code) {
            if let Err(e) = validate_gtin(code) {
                return Err(AppError::field(
                    field,
                    format!("an internal code of 8, 12 or 13 digits is scanned as a GTIN: {e}"),
                ));
            }
        }
    } else {
        validate_gtin(code)
            .map_err(|e| AppError::field(field, format!("not a valid GTIN: {e}")))?;
    }
    Ok(code.to_owned())
}

/// Could `code` be a GTIN (8, 12 or 13 digits)? Such codes are scanned as GTINs.
pub fn looks_like_gtin(code: &str) -> bool {
    matches!(code.len(), 8 | 12 | 13) && code.bytes().all(|b| b.is_ascii_digit())
}

/// A code to look up: 400 when it could not be any barcode we store.
pub fn check_lookup_code(code: &str) -> AppResult<()> {
    if !is_code(code, MAX_INTERNAL_CODE_LEN) {
        return Err(AppError::bad_request(
            "bad_barcode",
            format!(
                "not a barcode: expected a GTIN or an internal code of 1 to \
                 {MAX_INTERNAL_CODE_LEN} letters, digits or '-'"
            ),
        ));
    }
    if looks_like_gtin(code) {
        validate_gtin(code)
            .map_err(|e| AppError::bad_request("bad_barcode", format!("not a valid GTIN: {e}")))?;
    }
    Ok(())
}

/// Checks a new product with its SKUs and barcodes, into what storage creates.
pub fn product_request(req: ProductRequest) -> AppResult<NewProduct> {
    retail_domain::ids::require_v7(req.id).map_err(|e| AppError::field("id", e.to_string()))?;
    let code = check_code("code", &req.code)?;
    let name_zh = check_text("name_zh", &req.name_zh, true, 128)?;
    let name_en = check_text("name_en", &req.name_en, false, 128)?;
    let brand = check_text("brand", &req.brand, false, 64)?;
    let category_id = check_code("category_id", &req.category_id)?;
    let description = check_description("description", &req.description)?;
    if req.skus.is_empty() || req.skus.len() > MAX_SKUS {
        return Err(AppError::field(
            "skus",
            format!("must have 1 to {MAX_SKUS} SKUs"),
        ));
    }
    let mut sku_codes = HashSet::new();
    let mut sku_ids = HashSet::new();
    let mut all_barcodes = HashSet::new();
    let mut skus = Vec::with_capacity(req.skus.len());
    for (i, sku) in req.skus.into_iter().enumerate() {
        let f = |name: &str| format!("skus[{i}].{name}");
        let id = match sku.id {
            Some(id) => retail_domain::ids::require_v7(id)
                .map_err(|e| AppError::field(&f("id"), e.to_string()))?,
            None => retail_domain::ids::new_id(),
        };
        if !sku_ids.insert(id) {
            return Err(AppError::field(&f("id"), "appears twice"));
        }
        let sku_code = check_code(&f("sku_code"), &sku.sku_code)?;
        if !sku_codes.insert(sku_code.clone()) {
            return Err(AppError::field(&f("sku_code"), "appears twice"));
        }
        let unit = match &sku.unit {
            Some(unit) => check_text(&f("unit"), unit, true, 8)?,
            None => "件".to_owned(),
        };
        let price_fen = check_price(&f("price"), sku.price)?;
        let member_price_fen = sku
            .member_price
            .map(|m| check_price(&f("member_price"), m))
            .transpose()?;
        if sku.barcodes.is_empty() || sku.barcodes.len() > MAX_BARCODES {
            return Err(AppError::field(
                &f("barcodes"),
                format!("must have 1 to {MAX_BARCODES} barcodes"),
            ));
        }
        let mut barcodes = Vec::with_capacity(sku.barcodes.len());
        for (j, barcode) in sku.barcodes.iter().enumerate() {
            let field = f(&format!("barcodes[{j}].code"));
            let code = check_barcode(&field, barcode)?;
            if !all_barcodes.insert(code.clone()) {
                return Err(AppError::field(&field, "appears twice"));
            }
            barcodes.push(code);
        }
        skus.push(NewSku {
            id,
            sku_code,
            spec_zh: check_text(&f("spec_zh"), &sku.spec_zh, false, 64)?,
            spec_en: check_text(&f("spec_en"), &sku.spec_en, false, 64)?,
            unit,
            weighed: sku.weighed,
            price_fen,
            member_price_fen,
            barcodes,
        });
    }
    Ok(NewProduct {
        id: req.id,
        code,
        name_zh,
        name_en,
        brand,
        category_id,
        description,
        status: req.status,
        merchant_id: crate::storage::merchants::PLATFORM.to_owned(),
        skus,
    })
}

/// Validates and adds a barcode to a SKU (the API and the console both come here); the caller
/// has checked that `actor` is head office.
pub async fn add_sku_barcode(
    state: &AppState,
    actor: &str,
    sku_id: Uuid,
    req: &BarcodeRequest,
) -> AppResult<()> {
    let code = check_barcode("code", req)?;
    storage::catalog::add_barcode(&state.store, sku_id, &code, actor).await
}

/// A store's price may be set between this share of the chain price…
pub const STORE_PRICE_MIN_PERCENT: i64 = 50;
/// …and this share of it (a typo such as 0.00 or an extra zero is refused, not sold).
pub const STORE_PRICE_MAX_PERCENT: i64 = 200;

/// Sets (`Some`) or removes (`None`) a store's price override of a SKU. Prices are head office's
/// (docs/DESIGN.md §1: chain-wide and per store), so only head office may; the store must be a
/// store, and the price positive and within [`STORE_PRICE_MIN_PERCENT`]–
/// [`STORE_PRICE_MAX_PERCENT`] of the chain price. Audited by the storage write.
pub async fn set_store_price(
    state: &super::AppState,
    staff: &crate::actor::StaffActor,
    store: &str,
    sku_id: uuid::Uuid,
    price: Option<Money>,
) -> AppResult<()> {
    staff.require(&[crate::actor::Role::HeadOfficeAdmin])?;
    let location = crate::storage::locations::get(&state.store, store)
        .await
        .map_err(|_| AppError::not_found(format!("store {store} not found")))?;
    if location.kind != "store" {
        return Err(AppError::not_found(format!("{store} is not a store")));
    }
    let sku = crate::storage::catalog::sku(&state.store, sku_id, None)
        .await?
        .ok_or_else(|| AppError::not_found(format!("SKU {sku_id} not found")))?;
    let fen = match price {
        None => None,
        Some(p) => Some(check_store_price(p, sku.price)?),
    };
    crate::storage::catalog::set_store_price(&state.store, store, sku_id, fen, &staff.actor()).await
}

/// Checks a store price against the chain price (see [`set_store_price`]).
pub fn check_store_price(price: Money, chain: Money) -> AppResult<i64> {
    if price.is_negative() || price.is_zero() {
        return Err(AppError::field("price", "must be more than 0.00"));
    }
    if price.fen() > MAX_UNIT_PRICE_FEN {
        return Err(AppError::field("price", too_dear()));
    }
    let (low, high) = (
        (chain.fen() * STORE_PRICE_MIN_PERCENT + 99) / 100,
        chain.fen() * STORE_PRICE_MAX_PERCENT / 100,
    );
    if chain.fen() > 0 && !(low..=high).contains(&price.fen()) {
        return Err(AppError::field(
            "price",
            format!(
                "must be between {} and {} ({STORE_PRICE_MIN_PERCENT}% to \
                 {STORE_PRICE_MAX_PERCENT}% of the chain price {chain})",
                Money::from_fen(low),
                Money::from_fen(high)
            ),
        ));
    }
    Ok(price.fen())
}

/// Checks and saves a product's texts (names, brand, description) as `actor` (head office;
/// audited as `product.edit`). The description keeps its line breaks; pages escape it and
/// render only paragraphs, lines, `- ` bullets and `**bold**`.
pub async fn edit_product_texts(
    state: &AppState,
    actor: &str,
    product_id: Uuid,
    name_zh: &str,
    name_en: &str,
    brand: &str,
    description: &str,
) -> AppResult<()> {
    let texts = crate::storage::catalog::ProductTexts {
        name_zh: check_text("name_zh", name_zh, true, 128)?,
        name_en: check_text("name_en", name_en, false, 128)?,
        brand: check_text("brand", brand, false, 64)?,
        description: check_description("description", description)?,
    };
    crate::storage::catalog::edit_product_texts(&state.store, product_id, &texts, actor).await?;
    state.search.invalidate();
    Ok(())
}

/// Most products one batch shelf change names.
pub const MAX_SHELF_BATCH: usize = 500;

/// Puts products on or off the shelf as `actor` (head office; audited), in one batch: at one
/// store when `store` is given (`product.store_status`; the store's lanes and pickup orders see
/// it), else chain-wide (`product.status`). Answers how many products changed.
pub async fn set_shelf(
    state: &AppState,
    actor: &str,
    product_ids: &[Uuid],
    store: Option<&str>,
    status: ShelfStatus,
) -> AppResult<usize> {
    if product_ids.is_empty() || product_ids.len() > MAX_SHELF_BATCH {
        return Err(AppError::field(
            "product_ids",
            format!("name 1 to {MAX_SHELF_BATCH} products"),
        ));
    }
    let changed = match store {
        Some(store) => {
            let store = check_code("store", store)?;
            storage::catalog::set_store_shelf(&state.store, product_ids, &store, status, actor)
                .await?
        }
        None => {
            for id in product_ids {
                super::merchants::check_shelf_move(&state.store, *id, status).await?;
            }
            for id in product_ids {
                storage::catalog::set_product_status(&state.store, *id, status, actor).await?;
            }
            product_ids.len()
        }
    };
    state.search.invalidate();
    Ok(changed)
}

/// Deepest category tree: top level, second and third.
pub const MAX_CATEGORY_LEVELS: usize = 3;

/// Creates, renames, moves or reorders a category as `actor` (head office; audited as
/// `category.create` / `category.update`, on the change feed). The tree stays at most
/// [`MAX_CATEGORY_LEVELS`] deep (the category's level plus the depth of what is under it): a
/// 422 on `parent_id` otherwise, as for an unknown parent or a cycle.
pub async fn save_category(
    state: &AppState,
    actor: &str,
    code: &str,
    parent_id: Option<&str>,
    name_zh: &str,
    name_en: &str,
    sort: i64,
) -> AppResult<retail_domain::wire::catalog::CategoryRecord> {
    let category = storage::catalog::NewCategory {
        code: check_code("code", code)?,
        parent_id: parent_id
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(|p| check_code("parent_id", p))
            .transpose()?,
        name_zh: check_text("name_zh", name_zh, true, 64)?,
        name_en: check_text("name_en", name_en, false, 64)?,
        sort,
    };
    let all = storage::catalog::categories(&state.store).await?;
    let parent_of = |id: &str| {
        all.iter()
            .find(|c| c.id == id)
            .and_then(|c| c.parent_id.clone())
    };
    // Levels above: the parent's chain (bounded: a cycle is refused by the store).
    let mut level = 1;
    let mut up = category.parent_id.clone();
    while let Some(p) = up {
        level += 1;
        if level > MAX_CATEGORY_LEVELS + 1 || p == category.code {
            break;
        }
        up = parent_of(&p);
    }
    // Levels below: the deepest descendant.
    fn height(all: &[retail_domain::wire::catalog::CategoryRecord], id: &str, n: usize) -> usize {
        if n > MAX_CATEGORY_LEVELS {
            return n;
        }
        all.iter()
            .filter(|c| c.parent_id.as_deref() == Some(id))
            .map(|c| 1 + height(all, &c.id, n + 1))
            .max()
            .unwrap_or(0)
    }
    if level + height(&all, &category.code, 0) > MAX_CATEGORY_LEVELS {
        return Err(AppError::field(
            "parent_id",
            format!("categories are at most {MAX_CATEGORY_LEVELS} levels deep"),
        ));
    }
    let saved = storage::catalog::upsert_category(&state.store, &category, actor).await?;
    state.search.invalidate();
    Ok(saved)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_codes() {
        assert!(check_lookup_code("6901234567892").is_ok());
        assert!(check_lookup_code("6901234567891").is_err());
        assert!(check_lookup_code("PLU-1234").is_ok());
        assert!(check_lookup_code("a b").is_err());
        assert!(check_lookup_code("").is_err());
        assert!(check_lookup_code(&"1".repeat(40)).is_err());
    }

    #[test]
    fn barcodes_of_new_skus() {
        let gtin = |code: &str| BarcodeRequest {
            code: code.into(),
            internal: false,
        };
        let internal = |code: &str| BarcodeRequest {
            code: code.into(),
            internal: true,
        };
        assert!(check_barcode("b", &gtin("6901234567892")).is_ok());
        assert!(check_barcode("b", &gtin("6901234567891")).is_err());
        assert!(check_barcode("b", &gtin("ABC-1")).is_err());
        assert!(check_barcode("b", &internal("ABC-1")).is_ok());
        assert!(check_barcode("b", &internal("6901234567891")).is_err());
        assert!(check_barcode("b", &internal("12345")).is_ok());
        assert!(check_barcode("b", &internal("a/b")).is_err());
    }
}
