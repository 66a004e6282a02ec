//! The catalog: the POS change feed and barcode look-up, the shop's product and category
//! browsing, and head office's writes (categories, products, chain prices, store prices, shelf
//! status). Every write moves the changed records to the end of the change feed.

use std::collections::HashSet;

use axum::extract::State;
use retail_domain::barcode::{validate_gtin, MAX_INTERNAL_CODE_LEN};
use retail_domain::money::Money;
use retail_domain::wire::catalog::{
    CatalogPage, CategoryRecord, ShelfStatus, SkuRecord, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE,
};
use serde::{Deserialize, Deserializer};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::{Json, Path, Query};
use crate::auth::{Caller, Role, StaffActor};
use crate::error::{AppError, AppResult};
use crate::state::AppState;
use crate::storage;
use crate::storage::catalog::{
    NewCategory, NewProduct, NewSku, ProductDetail, ProductFilter, ProductPage,
};

/// Default page size of the product list.
const DEFAULT_PRODUCT_LIMIT: i64 = 50;
/// Largest page size of the product list.
const MAX_PRODUCT_LIMIT: i64 = 200;
/// Most SKUs one product may have.
const MAX_SKUS: usize = 50;
/// Most barcodes one SKU may have.
const MAX_BARCODES: usize = 20;
/// Longest product, SKU or category code.
const MAX_CODE_LEN: usize = 32;

/// Catalog routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(changes))
        .routes(routes!(by_barcode))
        .routes(routes!(list_categories, upsert_category))
        .routes(routes!(list_products, create_product))
        .routes(routes!(get_product))
        .routes(routes!(set_product_status))
        .routes(routes!(set_sku_price))
        .routes(routes!(set_sku_status))
        .routes(routes!(set_store_price, remove_store_price))
        .routes(routes!(add_barcode))
        .routes(routes!(remove_barcode))
        .routes(routes!(set_product_category))
}

// ---------------------------------------------------------------------------------------------
// Request types.
// ---------------------------------------------------------------------------------------------

/// Cursor and page size of the change feed.
#[derive(Debug, Deserialize, IntoParams)]
pub struct ChangesQuery {
    /// The `next_since` of the previous page; 0 (the default) for a full sync.
    pub since: Option<i64>,
    /// Records per page (1–2000, default 500).
    pub limit: Option<i64>,
    /// Staff only: the store whose price overrides to include (a device always gets its own).
    pub store: Option<String>,
}

/// Which store's prices to show.
#[derive(Debug, Deserialize, IntoParams)]
pub struct StoreQuery {
    /// Staff only: the store whose price override to include (a device always gets its own).
    pub store: Option<String>,
}

/// Filter and page of the product list.
#[derive(Debug, Deserialize, IntoParams)]
pub struct ProductQuery {
    /// Only this category and the categories below it.
    pub category: Option<String>,
    /// Text in the product's names, brand or code, or one of its barcodes exactly.
    pub q: Option<String>,
    /// The `next_after` of the previous page.
    pub after: Option<String>,
    /// Page size (1–200, default 50).
    pub limit: Option<i64>,
}

/// A category to create or update (by code).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CategoryRequest {
    /// Code, e.g. `FOOD-SNACK-CHIPS`: letters, digits and `-`, up to 32.
    pub code: String,
    /// Parent's code; absent for a top-level category.
    #[serde(default)]
    pub parent_id: Option<String>,
    /// Chinese name.
    pub name_zh: String,
    /// English name.
    #[serde(default)]
    pub name_en: String,
    /// Display order among siblings.
    #[serde(default)]
    pub sort: i64,
}

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

/// A product's new category.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CategoryChange {
    /// An existing category's code.
    pub category_id: String,
}

/// A new chain price.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PriceRequest {
    /// Chain price.
    pub price: Money,
    /// Member price: a value sets it, `null` removes it, absent keeps it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<Money>)]
    pub member_price: Option<Option<Money>>,
}

/// A store's price override.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StorePriceRequest {
    /// Price at the store.
    pub price: Money,
}

/// A new shelf status.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StatusRequest {
    /// `on_shelf` or `off_shelf`.
    pub status: ShelfStatus,
}

/// Tells a present field (even `null`) from an absent one (`None`, via `default`).
fn present<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

// ---------------------------------------------------------------------------------------------
// Validation.
// ---------------------------------------------------------------------------------------------

/// A code of letters, digits and `-`.
fn is_code(text: &str, max: usize) -> bool {
    !text.is_empty()
        && text.len() <= max
        && text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

fn check_code(field: &str, text: &str) -> AppResult<String> {
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

fn check_text(field: &str, text: &str, required: bool, max: usize) -> AppResult<String> {
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

fn check_price(field: &str, price: Money) -> AppResult<i64> {
    if price.is_negative() {
        Err(AppError::field(field, "must not be negative"))
    } else {
        Ok(price.fen())
    }
}

/// A barcode of a new SKU: a valid GTIN, or an internal code that cannot be mistaken for one.
fn check_barcode(field: &str, barcode: &BarcodeRequest) -> AppResult<String> {
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

fn looks_like_gtin(code: &str) -> bool {
    matches!(code.len(), 8 | 12 | 13) && code.bytes().all(|b| b.is_ascii_digit())
}

/// A code to look up: 400 when it could not be any barcode we store.
fn check_lookup_code(code: &str) -> AppResult<()> {
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

/// The store whose price overrides a caller sees: a device its own (asking for another is
/// refused), staff the one they ask for (within their scope), or none.
fn price_store(caller: &Caller, requested: Option<String>) -> AppResult<Option<String>> {
    match (caller, requested) {
        (Caller::Device(device), None) => Ok(Some(device.location_id.clone())),
        (caller, Some(store)) => {
            caller.require_store(&store)?;
            Ok(Some(store))
        }
        (Caller::Staff(_), None) => Ok(None),
    }
}

pub(crate) fn product_request(req: ProductRequest) -> AppResult<NewProduct> {
    retail_domain::ids::require_v7(req.id).map_err(|e| AppError::field("id", e.to_string()))?;
    let code = check_code("code", &req.code)?;
    let name_zh = check_text("name_zh", &req.name_zh, true, 128)?;
    let name_en = check_text("name_en", &req.name_en, false, 128)?;
    let brand = check_text("brand", &req.brand, false, 64)?;
    let category_id = check_code("category_id", &req.category_id)?;
    let description = check_text("description", &req.description, false, 2000)?;
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
        skus,
    })
}

async fn sku_or_404(state: &AppState, id: Uuid, store: Option<&str>) -> AppResult<SkuRecord> {
    storage::catalog::sku(&state.store, id, store)
        .await?
        .ok_or_else(|| AppError::not_found(format!("SKU {id} not found")))
}

async fn product_or_404(state: &AppState, id: Uuid) -> AppResult<ProductDetail> {
    storage::catalog::product(&state.store, id)
        .await?
        .ok_or_else(|| AppError::not_found(format!("product {id} not found")))
}

// ---------------------------------------------------------------------------------------------
// Handlers.
// ---------------------------------------------------------------------------------------------

/// The catalog change feed: every category and SKU changed after `since`, in sequence order,
/// a page at a time. A device's SKU records carry its store's price overrides.
#[utoipa::path(get, path = "/catalog/changes", tag = "catalog", security(("device" = []), ("staff" = [])),
    params(ChangesQuery),
    responses((status = 200, body = CatalogPage), (status = 400, body = crate::error::ErrorBody),
        (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody)))]
async fn changes(
    caller: Caller,
    State(state): State<AppState>,
    Query(query): Query<ChangesQuery>,
) -> AppResult<Json<CatalogPage>> {
    let since = query.since.unwrap_or(0);
    if since < 0 {
        return Err(AppError::bad_request(
            "invalid_query",
            "since must not be negative",
        ));
    }
    let limit = query
        .limit
        .unwrap_or(DEFAULT_PAGE_SIZE)
        .clamp(1, MAX_PAGE_SIZE);
    let store = price_store(&caller, query.store)?;
    Ok(Json(
        storage::catalog::changes(&state.store, since, limit, store.as_deref()).await?,
    ))
}

/// The SKU a barcode identifies (a device sees its store's price override).
#[utoipa::path(get, path = "/catalog/barcodes/{code}", tag = "catalog", security(("device" = []), ("staff" = [])),
    params(("code" = String, Path, description = "GTIN or internal code"), StoreQuery),
    responses((status = 200, body = SkuRecord), (status = 400, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody)))]
async fn by_barcode(
    caller: Caller,
    State(state): State<AppState>,
    Path(code): Path<String>,
    Query(query): Query<StoreQuery>,
) -> AppResult<Json<SkuRecord>> {
    check_lookup_code(&code)?;
    let store = price_store(&caller, query.store)?;
    storage::catalog::sku_by_barcode(&state.store, &code, store.as_deref())
        .await?
        .map(Json)
        .ok_or_else(|| AppError::not_found(format!("no product has barcode {code}")))
}

/// The category tree as a flat list with parent codes (public).
#[utoipa::path(get, path = "/categories", tag = "catalog",
    responses((status = 200, body = [CategoryRecord])))]
async fn list_categories(State(state): State<AppState>) -> AppResult<Json<Vec<CategoryRecord>>> {
    Ok(Json(storage::catalog::categories(&state.store).await?))
}

/// Creates or updates a category by code (head office).
#[utoipa::path(post, path = "/categories", tag = "catalog", security(("staff" = [])), request_body = CategoryRequest,
    responses((status = 200, body = CategoryRecord), (status = 403, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody)))]
async fn upsert_category(
    staff: StaffActor,
    State(state): State<AppState>,
    Json(req): Json<CategoryRequest>,
) -> AppResult<Json<CategoryRecord>> {
    staff.require(&[Role::HeadOfficeAdmin])?;
    let category = NewCategory {
        code: check_code("code", &req.code)?,
        parent_id: req
            .parent_id
            .as_deref()
            .map(|p| check_code("parent_id", p))
            .transpose()?,
        name_zh: check_text("name_zh", &req.name_zh, true, 64)?,
        name_en: check_text("name_en", &req.name_en, false, 64)?,
        sort: req.sort,
    };
    Ok(Json(
        storage::catalog::upsert_category(&state.store, &category, &staff.actor()).await?,
    ))
}

/// Products by code, a page at a time (public: shoppers browse; staff also see off-shelf ones).
#[utoipa::path(get, path = "/products", tag = "catalog", params(ProductQuery),
    responses((status = 200, body = ProductPage), (status = 400, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody)))]
async fn list_products(
    staff: Option<StaffActor>,
    State(state): State<AppState>,
    Query(query): Query<ProductQuery>,
) -> AppResult<Json<ProductPage>> {
    let q = query
        .q
        .map(|q| q.trim().to_owned())
        .filter(|q| !q.is_empty());
    if q.as_ref().is_some_and(|q| q.chars().count() > 64) {
        return Err(AppError::bad_request(
            "invalid_query",
            "q must be at most 64 characters",
        ));
    }
    let filter = ProductFilter {
        category: query.category.filter(|c| !c.is_empty()),
        q,
        after: query.after.filter(|a| !a.is_empty()),
        limit: query
            .limit
            .unwrap_or(DEFAULT_PRODUCT_LIMIT)
            .clamp(1, MAX_PRODUCT_LIMIT),
        include_off_shelf: staff.is_some(),
    };
    Ok(Json(
        storage::catalog::list_products(&state.store, &filter).await?,
    ))
}

/// One product with its SKUs, barcodes and per-store prices (public).
#[utoipa::path(get, path = "/products/{id}", tag = "catalog",
    params(("id" = Uuid, Path, description = "product id")),
    responses((status = 200, body = ProductDetail), (status = 404, body = crate::error::ErrorBody)))]
async fn get_product(
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
) -> AppResult<Json<ProductDetail>> {
    Ok(Json(product_or_404(&state, id).await?))
}

/// Creates a product with its SKUs and barcodes (head office). Idempotent by the client's id.
#[utoipa::path(post, path = "/products", tag = "catalog", security(("staff" = [])), request_body = ProductRequest,
    responses((status = 200, body = ProductDetail), (status = 403, body = crate::error::ErrorBody),
        (status = 409, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
async fn create_product(
    staff: StaffActor,
    State(state): State<AppState>,
    Json(req): Json<ProductRequest>,
) -> AppResult<Json<ProductDetail>> {
    staff.require(&[Role::HeadOfficeAdmin])?;
    let product = product_request(req)?;
    Ok(Json(
        storage::catalog::create_product(&state.store, &product, &staff.actor()).await?,
    ))
}

/// Puts a product (all its SKUs) on or off shelf (head office).
#[utoipa::path(put, path = "/products/{id}/status", tag = "catalog", security(("staff" = [])), request_body = StatusRequest,
    params(("id" = Uuid, Path, description = "product id")),
    responses((status = 200, body = ProductDetail), (status = 403, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody)))]
async fn set_product_status(
    staff: StaffActor,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    Json(req): Json<StatusRequest>,
) -> AppResult<Json<ProductDetail>> {
    staff.require(&[Role::HeadOfficeAdmin])?;
    storage::catalog::set_product_status(&state.store, id, req.status, &staff.actor()).await?;
    Ok(Json(product_or_404(&state, id).await?))
}

/// Sets a SKU's chain price and member price (head office; audited as `price.change`).
#[utoipa::path(put, path = "/skus/{sku_id}/price", tag = "catalog", security(("staff" = [])), request_body = PriceRequest,
    params(("sku_id" = Uuid, Path, description = "SKU id")),
    responses((status = 200, body = SkuRecord), (status = 403, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
async fn set_sku_price(
    staff: StaffActor,
    State(state): State<AppState>,
    Path(sku_id): Path<Uuid>,
    Json(req): Json<PriceRequest>,
) -> AppResult<Json<SkuRecord>> {
    staff.require(&[Role::HeadOfficeAdmin])?;
    let price = check_price("price", req.price)?;
    let member = match req.member_price {
        Some(Some(m)) => Some(Some(check_price("member_price", m)?)),
        Some(None) => Some(None),
        None => None,
    };
    storage::catalog::set_sku_price(&state.store, sku_id, price, member, &staff.actor()).await?;
    Ok(Json(sku_or_404(&state, sku_id, None).await?))
}

/// Puts one SKU on or off shelf (head office).
#[utoipa::path(put, path = "/skus/{sku_id}/status", tag = "catalog", security(("staff" = [])), request_body = StatusRequest,
    params(("sku_id" = Uuid, Path, description = "SKU id")),
    responses((status = 200, body = SkuRecord), (status = 403, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody)))]
async fn set_sku_status(
    staff: StaffActor,
    State(state): State<AppState>,
    Path(sku_id): Path<Uuid>,
    Json(req): Json<StatusRequest>,
) -> AppResult<Json<SkuRecord>> {
    staff.require(&[Role::HeadOfficeAdmin])?;
    storage::catalog::set_sku_status(&state.store, sku_id, req.status, &staff.actor()).await?;
    Ok(Json(sku_or_404(&state, sku_id, None).await?))
}

/// Checks the caller may set `store`'s prices and that it is a store.
async fn check_price_store(staff: &StaffActor, state: &AppState, store: &str) -> AppResult<()> {
    staff.require(&[Role::HeadOfficeAdmin, Role::StoreManager])?;
    staff.require_store(store)?;
    let location = storage::locations::get(&state.store, store)
        .await
        .map_err(|_| AppError::not_found(format!("store {store} not found")))?;
    if location.kind != "store" {
        return Err(AppError::not_found(format!("{store} is not a store")));
    }
    Ok(())
}

/// Sets a store's price override of a SKU (head office, or that store's manager; audited).
#[utoipa::path(put, path = "/stores/{store}/prices/{sku_id}", tag = "catalog", security(("staff" = [])), request_body = StorePriceRequest,
    params(("store" = String, Path, description = "store code"), ("sku_id" = Uuid, Path, description = "SKU id")),
    responses((status = 200, body = SkuRecord), (status = 403, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
async fn set_store_price(
    staff: StaffActor,
    State(state): State<AppState>,
    Path((store, sku_id)): Path<(String, Uuid)>,
    Json(req): Json<StorePriceRequest>,
) -> AppResult<Json<SkuRecord>> {
    check_price_store(&staff, &state, &store).await?;
    let price = check_price("price", req.price)?;
    storage::catalog::set_store_price(&state.store, &store, sku_id, Some(price), &staff.actor())
        .await?;
    Ok(Json(sku_or_404(&state, sku_id, Some(&store)).await?))
}

/// Removes a store's price override of a SKU: the chain price applies again (head office, or
/// that store's manager; audited).
#[utoipa::path(delete, path = "/stores/{store}/prices/{sku_id}", tag = "catalog", security(("staff" = [])),
    params(("store" = String, Path, description = "store code"), ("sku_id" = Uuid, Path, description = "SKU id")),
    responses((status = 200, body = SkuRecord), (status = 403, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody)))]
async fn remove_store_price(
    staff: StaffActor,
    State(state): State<AppState>,
    Path((store, sku_id)): Path<(String, Uuid)>,
) -> AppResult<Json<SkuRecord>> {
    check_price_store(&staff, &state, &store).await?;
    storage::catalog::set_store_price(&state.store, &store, sku_id, None, &staff.actor()).await?;
    Ok(Json(sku_or_404(&state, sku_id, Some(&store)).await?))
}

/// Adds a barcode to a SKU (head office; audited): a GTIN with a valid check digit, or an
/// internal code; 409 `barcode_in_use` when another SKU has it.
#[utoipa::path(post, path = "/skus/{sku_id}/barcodes", tag = "catalog", security(("staff" = [])), request_body = BarcodeRequest,
    params(("sku_id" = Uuid, Path, description = "SKU id")),
    responses((status = 200, body = SkuRecord), (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody),
        (status = 409, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
async fn add_barcode(
    staff: StaffActor,
    State(state): State<AppState>,
    Path(sku_id): Path<Uuid>,
    Json(req): Json<BarcodeRequest>,
) -> AppResult<Json<SkuRecord>> {
    staff.require(&[Role::HeadOfficeAdmin])?;
    add_sku_barcode(&state, &staff.actor(), sku_id, &req).await?;
    Ok(Json(sku_or_404(&state, sku_id, None).await?))
}

/// Validates and adds a barcode to a SKU (the API and the console both come here); the caller
/// has checked that `actor` is head office.
pub(crate) async fn add_sku_barcode(
    state: &AppState,
    actor: &str,
    sku_id: Uuid,
    req: &BarcodeRequest,
) -> AppResult<()> {
    let code = check_barcode("code", req)?;
    storage::catalog::add_barcode(&state.store, sku_id, &code, actor).await
}

/// Removes a barcode from a SKU (head office; audited); 409 `last_barcode` for its only one.
#[utoipa::path(delete, path = "/skus/{sku_id}/barcodes/{code}", tag = "catalog", security(("staff" = [])),
    params(("sku_id" = Uuid, Path, description = "SKU id"), ("code" = String, Path, description = "the barcode")),
    responses((status = 200, body = SkuRecord), (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody),
        (status = 409, body = crate::error::ErrorBody)))]
async fn remove_barcode(
    staff: StaffActor,
    State(state): State<AppState>,
    Path((sku_id, code)): Path<(Uuid, String)>,
) -> AppResult<Json<SkuRecord>> {
    staff.require(&[Role::HeadOfficeAdmin])?;
    storage::catalog::remove_barcode(&state.store, sku_id, code.trim(), &staff.actor()).await?;
    Ok(Json(sku_or_404(&state, sku_id, None).await?))
}

/// Moves a product to another category (head office; audited); 422 for an unknown category.
#[utoipa::path(put, path = "/products/{id}/category", tag = "catalog", security(("staff" = [])), request_body = CategoryChange,
    params(("id" = Uuid, Path, description = "product id")),
    responses((status = 200, body = ProductDetail), (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody)))]
async fn set_product_category(
    staff: StaffActor,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    Json(req): Json<CategoryChange>,
) -> AppResult<Json<ProductDetail>> {
    staff.require(&[Role::HeadOfficeAdmin])?;
    let category = check_code("category_id", &req.category_id)?;
    storage::catalog::set_product_category(&state.store, id, &category, &staff.actor()).await?;
    Ok(Json(product_or_404(&state, id).await?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documented_in_the_openapi_document() {
        let (_, doc) = crate::routes::api();
        for path in [
            "/api/v1/catalog/changes",
            "/api/v1/catalog/barcodes/{code}",
            "/api/v1/categories",
            "/api/v1/products",
            "/api/v1/products/{id}",
            "/api/v1/products/{id}/status",
            "/api/v1/skus/{sku_id}/price",
            "/api/v1/skus/{sku_id}/status",
            "/api/v1/stores/{store}/prices/{sku_id}",
        ] {
            assert!(doc.paths.paths.contains_key(path), "{path} missing");
        }
        let schemas = doc.components.map(|c| c.schemas).unwrap_or_default();
        for schema in ["CatalogPage", "CatalogItem", "SkuRecord", "CategoryRecord"] {
            assert!(schemas.contains_key(schema), "{schema} missing");
        }
    }

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
