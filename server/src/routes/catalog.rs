//! The catalog: the POS change feed and barcode look-up, the shop's product and category
//! browsing, and head office's writes (categories, products, chain prices, store prices, shelf
//! status). Every write moves the changed records to the end of the change feed.

use axum::extract::State;
use retail_domain::money::Money;
use retail_domain::wire::catalog::{
    CatalogPage, CategoryRecord, ShelfStatus, SkuRecord, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE,
};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::{Json, Path, Query};
use crate::actor::{Caller, Role, StaffActor};
use crate::app::catalog::{
    add_sku_barcode, check_code, check_lookup_code, check_price, product_request, BarcodeRequest,
    ProductRequest,
};
use crate::app::{self, AppState};
use crate::error::{AppError, AppResult};
use crate::storage;
use crate::storage::catalog::{ProductDetail, ProductFilter, ProductPage};

/// Default page size of the product list.
const DEFAULT_PRODUCT_LIMIT: i64 = 50;
/// Largest page size of the product list.
const MAX_PRODUCT_LIMIT: i64 = 200;

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
        .routes(routes!(set_shelf))
}

/// A batch shelf change.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ShelfRequest {
    /// The products (1 to 500).
    pub product_ids: Vec<Uuid>,
    /// A store: on or off the shelf there only; absent: chain-wide.
    #[serde(default)]
    pub store: Option<String>,
    /// On or off the shelf.
    pub status: ShelfStatus,
}

/// How many products a batch shelf change changed.
#[derive(Debug, serde::Serialize, ToSchema)]
pub struct ShelfResult {
    /// Products whose status changed (the others already had it).
    pub changed: usize,
}

/// Puts products on or off the shelf, at one store or chain-wide (head office; audited as
/// `product.store_status` or `product.status`). A product off the shelf at a store is
/// `off_shelf` in that store's SKU records (lanes) and for orders fulfilled there. Repeating it
/// changes nothing more.
#[utoipa::path(put, path = "/products/shelf", tag = "catalog", security(("staff" = [])), request_body = ShelfRequest,
    responses((status = 200, body = ShelfResult), (status = 403, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
async fn set_shelf(
    staff: StaffActor,
    State(state): State<AppState>,
    Json(req): Json<ShelfRequest>,
) -> AppResult<Json<ShelfResult>> {
    staff.require(&[Role::HeadOfficeAdmin])?;
    let changed = crate::app::catalog::set_shelf(
        &state,
        &staff.actor(),
        &req.product_ids,
        req.store.as_deref(),
        req.status,
    )
    .await?;
    Ok(Json(ShelfResult { changed }))
}

// ---------------------------------------------------------------------------------------------
// Request types.
// ---------------------------------------------------------------------------------------------

/// Cursor and page size of the change feed.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
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
#[into_params(parameter_in = Query)]
pub struct StoreQuery {
    /// Staff only: the store whose price override to include (a device always gets its own).
    pub store: Option<String>,
}

/// Filter and page of the product list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ProductQuery {
    /// Only this category and the categories below it.
    pub category: Option<String>,
    /// Text in the product's names, brand or code, or one of its barcodes exactly.
    pub q: Option<String>,
    /// The `next_after` of the previous page.
    pub after: Option<String>,
    /// Page size (1–200, default 50).
    pub limit: Option<i64>,
    /// Only this merchant's products (a merchant administrator always sees only its own).
    pub merchant: Option<String>,
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
    #[serde(default, deserialize_with = "crate::app::catalog::present")]
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

// ---------------------------------------------------------------------------------------------
// Validation.
// ---------------------------------------------------------------------------------------------

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
    Ok(Json(
        crate::app::catalog::save_category(
            &state,
            &staff.actor(),
            &req.code,
            req.parent_id.as_deref(),
            &req.name_zh,
            &req.name_en,
            req.sort,
        )
        .await?,
    ))
}

/// Products by code, a page at a time (public: shoppers browse; staff also see off-shelf ones).
#[utoipa::path(get, path = "/products", tag = "catalog", security((), ("staff" = [])), params(ProductQuery),
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
        merchant: match staff.as_ref().map(StaffActor::merchant_scope) {
            Some(Ok(Some(own))) => Some(own.to_owned()),
            _ => query.merchant.filter(|m| !m.is_empty()),
        },
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

/// Creates a product with its SKUs and barcodes (head office, for the platform's own trade; a
/// merchant administrator, for its merchant: off the shelf until the platform approves it).
/// Idempotent by the client's id.
#[utoipa::path(post, path = "/products", tag = "catalog", security(("staff" = [])), request_body = ProductRequest,
    responses((status = 200, body = ProductDetail), (status = 403, body = crate::error::ErrorBody),
        (status = 409, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
async fn create_product(
    staff: StaffActor,
    State(state): State<AppState>,
    Json(req): Json<ProductRequest>,
) -> AppResult<Json<ProductDetail>> {
    let seller = app::merchants::seller_for_new_product(&state.store, &staff).await?;
    let mut product = product_request(req)?;
    if let Some((owner, _)) =
        storage::merchants::product_owner(&state.store, &product.id.to_string()).await?
    {
        if owner != seller {
            return Err(AppError::conflict(
                "id_conflict",
                "this id belongs to another product",
            ));
        }
    }
    product.merchant_id = seller;
    Ok(Json(
        storage::catalog::create_product(&state.store, &product, &staff.actor()).await?,
    ))
}

/// Puts a product (all its SKUs) on or off shelf (head office; a merchant administrator, its
/// own products: on the shelf only once approved).
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
    app::merchants::set_product_shelf(&state, &staff, id, req.status).await?;
    Ok(Json(product_or_404(&state, id).await?))
}

/// Sets a SKU's chain price and member price (head office; a merchant administrator, its own
/// SKUs; audited as `price.change`).
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
    app::merchants::require_sku(&state.store, &staff, sku_id).await?;
    let price = check_price("price", req.price)?;
    let member = match req.member_price {
        Some(Some(m)) => Some(Some(check_price("member_price", m)?)),
        Some(None) => Some(None),
        None => None,
    };
    storage::catalog::set_sku_price(&state.store, sku_id, price, member, &staff.actor()).await?;
    Ok(Json(sku_or_404(&state, sku_id, None).await?))
}

/// Puts one SKU on or off shelf (head office; a merchant administrator, its own SKUs).
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
    app::merchants::require_sku(&state.store, &staff, sku_id).await?;
    storage::catalog::set_sku_status(&state.store, sku_id, req.status, &staff.actor()).await?;
    Ok(Json(sku_or_404(&state, sku_id, None).await?))
}

/// Sets a store's price override of a SKU (head office; within 50%–200% of the chain price;
/// audited).
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
    crate::app::catalog::set_store_price(&state, &staff, &store, sku_id, Some(req.price)).await?;
    Ok(Json(sku_or_404(&state, sku_id, Some(&store)).await?))
}

/// Removes a store's price override of a SKU: the chain price applies again (head office;
/// audited).
#[utoipa::path(delete, path = "/stores/{store}/prices/{sku_id}", tag = "catalog", security(("staff" = [])),
    params(("store" = String, Path, description = "store code"), ("sku_id" = Uuid, Path, description = "SKU id")),
    responses((status = 200, body = SkuRecord), (status = 403, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody)))]
async fn remove_store_price(
    staff: StaffActor,
    State(state): State<AppState>,
    Path((store, sku_id)): Path<(String, Uuid)>,
) -> AppResult<Json<SkuRecord>> {
    crate::app::catalog::set_store_price(&state, &staff, &store, sku_id, None).await?;
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
}
