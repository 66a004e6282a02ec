//! The catalog: categories, products, SKUs, barcodes, chain and store prices, and the change feed
//! the POS lanes pull (docs/DESIGN.md §4 "Products", §5).
//!
//! Every write that changes what a lane sells — a category, a product (all its SKUs), a SKU's
//! price, a store price, a barcode, a status — moves the changed records to a new sequence number
//! in `catalog_versions` ([`bump`]) inside the same transaction. The sequence comes from the
//! `catalog` counter, whose row lock is held until commit, so sequence order is commit order and a
//! lane that pulls "everything after my cursor" never misses a change.

use std::collections::{HashMap, HashSet};

use retail_domain::money::Money;
use retail_domain::wire::catalog::{
    CatalogItem, CatalogPage, CategoryRecord, ShelfStatus, SkuRecord,
};
use serde::Serialize;
use sqlx::any::AnyRow;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{
    audit, col, from_ms, is_unique_violation, next_counter, now_ms, parse_col, placeholders,
    uuid_col, Store, Tx,
};
use crate::error::{AppError, AppResult};

/// Most ids in one `IN (…)` list.
const IN_CHUNK: usize = 1000;

/// The columns of a SKU record (without `seq`), from `skus s`, `products p`, the store price
/// override `sp` and the store's shelf `ss` joined by [`SKU_JOINS`] (a product off the shelf at
/// the store is `off_shelf` there).
const SKU_COLUMNS: &str = "s.id, s.sku_code, s.spec_zh, s.spec_en, s.unit, s.weighed, \
     s.price_fen, s.member_price_fen, s.status AS sku_status, p.id AS product_id, \
     p.code AS product_code, p.name_zh, p.name_en, p.brand, p.category_id, \
     CASE WHEN ss.product_id IS NULL THEN p.status ELSE 'off_shelf' END AS product_status, \
     sp.price_fen AS store_price_fen";

/// Joins a SKU's product, its store price override and its store's shelf; `$1` is the store
/// (or NULL).
const SKU_JOINS: &str = "JOIN products p ON p.id = s.product_id \
     LEFT JOIN store_prices sp ON sp.sku_id = s.id AND sp.location_id = $1 \
     LEFT JOIN store_shelf ss ON ss.product_id = p.id AND ss.location_id = $1";

/// The columns of a category record.
const CATEGORY_SELECT: &str = "SELECT c.id, c.parent_id, c.name_zh, c.name_en, c.sort, \
     COALESCE(v.seq, 0) AS seq FROM categories c \
     LEFT JOIN catalog_versions v ON v.kind = 'category' AND v.entity_id = c.id";

// ---------------------------------------------------------------------------------------------
// The change feed
// ---------------------------------------------------------------------------------------------

/// Moves one record (`kind` is `category` or `sku`) to the end of the change feed.
async fn bump(tx: &mut Tx, kind: &str, entity_id: &str) -> AppResult<i64> {
    let seq = next_counter(tx, "catalog").await?;
    sqlx::query(
        "INSERT INTO catalog_versions (kind, entity_id, seq) VALUES ($1, $2, $3) \
         ON CONFLICT (kind, entity_id) DO UPDATE SET seq = excluded.seq",
    )
    .bind(kind)
    .bind(entity_id)
    .bind(seq)
    .execute(&mut **tx)
    .await?;
    Ok(seq)
}

/// Moves every SKU of a product to the end of the change feed.
pub(crate) async fn bump_product_skus(tx: &mut Tx, product_id: &str) -> AppResult<()> {
    let rows = sqlx::query("SELECT id FROM skus WHERE product_id = $1 ORDER BY sku_code")
        .bind(product_id)
        .fetch_all(&mut **tx)
        .await?;
    for row in &rows {
        let id: String = col(row, "id")?;
        bump(tx, "sku", &id).await?;
    }
    Ok(())
}

/// Gives every category and every SKU a (new) change-feed row: categories first (parents before
/// children when codes extend their parent's), then SKUs by code. Used after bulk-loading rows
/// with plain INSERTs (the demo chain); takes the whole range of sequence numbers at once.
pub async fn bump_all(tx: &mut Tx) -> AppResult<()> {
    let categories: i64 = col(
        &sqlx::query("SELECT COUNT(*) AS n FROM categories")
            .fetch_one(&mut **tx)
            .await?,
        "n",
    )?;
    let skus: i64 = col(
        &sqlx::query("SELECT COUNT(*) AS n FROM skus")
            .fetch_one(&mut **tx)
            .await?,
        "n",
    )?;
    let n = categories + skus;
    if n == 0 {
        return Ok(());
    }
    let row = sqlx::query("UPDATE counters SET value = value + $2 WHERE name = $1 RETURNING value")
        .bind("catalog")
        .bind(n)
        .fetch_one(&mut **tx)
        .await?;
    let end: i64 = col(&row, "value")?;
    super::cluster::notify_cached_in_tx(tx, "catalog").await?;
    let base = end - n;
    // `WHERE 1 = 1` keeps SQLite from reading ON CONFLICT as a join constraint.
    sqlx::query(
        "INSERT INTO catalog_versions (kind, entity_id, seq) \
         SELECT 'category', id, $1 + ROW_NUMBER() OVER (ORDER BY id) FROM categories WHERE 1 = 1 \
         ON CONFLICT (kind, entity_id) DO UPDATE SET seq = excluded.seq",
    )
    .bind(base)
    .execute(&mut **tx)
    .await?;
    sqlx::query(
        "INSERT INTO catalog_versions (kind, entity_id, seq) \
         SELECT 'sku', id, $1 + ROW_NUMBER() OVER (ORDER BY sku_code) FROM skus WHERE 1 = 1 \
         ON CONFLICT (kind, entity_id) DO UPDATE SET seq = excluded.seq",
    )
    .bind(base + categories)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// One page of the change feed: the records changed after `since`, at most `limit`, with SKU
/// records carrying `location`'s price override. Five statements whatever the page size, each
/// an index range or key look-up: the versions page, its count, the page's categories, and the
/// page's SKUs and their barcodes (joined from the page's sequence range).
pub async fn changes(
    store: &Store,
    since: i64,
    limit: i64,
    location: Option<&str>,
) -> AppResult<CatalogPage> {
    let limit = limit.max(1);
    let rows = sqlx::query(
        "SELECT kind, entity_id, seq FROM catalog_versions WHERE seq > $1 ORDER BY seq LIMIT $2",
    )
    .bind(since)
    .bind(limit + 1)
    .fetch_all(store.reader())
    .await?;
    let mut versions = rows
        .iter()
        .map(|row| {
            Ok((
                col::<String>(row, "kind")?,
                col::<String>(row, "entity_id")?,
                col::<i64>(row, "seq")?,
            ))
        })
        .collect::<AppResult<Vec<_>>>()?;
    let has_more = versions.len() as i64 > limit;
    versions.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    let total: i64 = col(
        &sqlx::query("SELECT COUNT(*) AS n FROM catalog_versions WHERE seq > $1")
            .bind(since)
            .fetch_one(store.reader())
            .await?,
        "n",
    )?;
    let next_since = versions.last().map_or(since, |(_, _, seq)| *seq);
    let category_ids: Vec<String> = versions
        .iter()
        .filter(|(kind, _, _)| kind == "category")
        .map(|(_, id, _)| id.clone())
        .collect();
    let mut categories = fetch_categories(store, &category_ids).await?;
    let mut skus = if versions.iter().any(|(kind, _, _)| kind == "sku") {
        fetch_sku_range(store, since, next_since, location).await?
    } else {
        HashMap::new()
    };
    let mut items = Vec::with_capacity(versions.len());
    for (kind, id, seq) in &versions {
        // A record changed again after the versions page was read has moved past this page's
        // range: it is left out here and comes with a later page, in its newer state.
        match kind.as_str() {
            "category" => {
                if let Some(mut c) = categories.remove(id) {
                    c.seq = *seq;
                    items.push(CatalogItem::Category(c));
                }
            }
            _ => {
                if let Some(s) = skus.remove(id).filter(|s| s.seq == *seq) {
                    items.push(CatalogItem::Sku(s));
                }
            }
        }
    }
    Ok(CatalogPage {
        items,
        next_since,
        has_more,
        total,
    })
}

// ---------------------------------------------------------------------------------------------
// Records
// ---------------------------------------------------------------------------------------------

fn category_record(row: &AnyRow) -> AppResult<CategoryRecord> {
    Ok(CategoryRecord {
        seq: col(row, "seq")?,
        id: col(row, "id")?,
        parent_id: col(row, "parent_id")?,
        name_zh: col(row, "name_zh")?,
        name_en: col(row, "name_en")?,
        sort: col(row, "sort")?,
    })
}

fn sku_record(row: &AnyRow) -> AppResult<SkuRecord> {
    let sku_status: ShelfStatus = parse_col(row, "sku_status")?;
    let product_status: ShelfStatus = parse_col(row, "product_status")?;
    let status = if sku_status == ShelfStatus::OnShelf && product_status == ShelfStatus::OnShelf {
        ShelfStatus::OnShelf
    } else {
        ShelfStatus::OffShelf
    };
    Ok(SkuRecord {
        seq: col(row, "seq")?,
        id: uuid_col(row, "id")?,
        sku_code: col(row, "sku_code")?,
        product_id: uuid_col(row, "product_id")?,
        product_code: col(row, "product_code")?,
        name_zh: col(row, "name_zh")?,
        name_en: col(row, "name_en")?,
        brand: col(row, "brand")?,
        category_id: col(row, "category_id")?,
        spec_zh: col(row, "spec_zh")?,
        spec_en: col(row, "spec_en")?,
        unit: col(row, "unit")?,
        weighed: col::<i64>(row, "weighed")? != 0,
        status,
        price: Money::from_fen(col(row, "price_fen")?),
        member_price: col::<Option<i64>>(row, "member_price_fen")?.map(Money::from_fen),
        store_price: col::<Option<i64>>(row, "store_price_fen")?.map(Money::from_fen),
        barcodes: Vec::new(),
    })
}

/// Categories by id.
async fn fetch_categories(
    store: &Store,
    ids: &[String],
) -> AppResult<HashMap<String, CategoryRecord>> {
    let mut out = HashMap::with_capacity(ids.len());
    for chunk in ids.chunks(IN_CHUNK) {
        let sql = format!(
            "{CATEGORY_SELECT} WHERE c.id IN ({})",
            placeholders(1, chunk.len())
        );
        let mut query = sqlx::query(&sql);
        for id in chunk {
            query = query.bind(id.as_str());
        }
        for row in query.fetch_all(store.reader()).await? {
            let record = category_record(&row)?;
            out.insert(record.id.clone(), record);
        }
    }
    Ok(out)
}

/// Barcodes of SKUs, by SKU id, each list sorted.
async fn fetch_barcodes(
    store: &Store,
    sku_ids: &[String],
) -> AppResult<HashMap<String, Vec<String>>> {
    let mut out: HashMap<String, Vec<String>> = HashMap::with_capacity(sku_ids.len());
    for chunk in sku_ids.chunks(IN_CHUNK) {
        let sql = format!(
            "SELECT code, sku_id FROM barcodes WHERE sku_id IN ({}) ORDER BY code",
            placeholders(1, chunk.len())
        );
        let mut query = sqlx::query(&sql);
        for id in chunk {
            query = query.bind(id.as_str());
        }
        for row in query.fetch_all(store.reader()).await? {
            out.entry(col(&row, "sku_id")?)
                .or_default()
                .push(col(&row, "code")?);
        }
    }
    Ok(out)
}

/// Full SKU records by id (as stored text), with `location`'s price override and barcodes.
async fn fetch_skus(
    store: &Store,
    ids: &[String],
    location: Option<&str>,
) -> AppResult<HashMap<String, SkuRecord>> {
    let mut out = HashMap::with_capacity(ids.len());
    for chunk in ids.chunks(IN_CHUNK) {
        let sql = format!(
            "SELECT {SKU_COLUMNS}, COALESCE(v.seq, 0) AS seq FROM skus s {SKU_JOINS} \
             LEFT JOIN catalog_versions v ON v.kind = 'sku' AND v.entity_id = s.id \
             WHERE s.id IN ({})",
            placeholders(2, chunk.len())
        );
        let mut query = sqlx::query(&sql).bind(location);
        for id in chunk {
            query = query.bind(id.as_str());
        }
        for row in query.fetch_all(store.reader()).await? {
            let id: String = col(&row, "id")?;
            out.insert(id, sku_record(&row)?);
        }
    }
    let found: Vec<String> = out.keys().cloned().collect();
    let mut barcodes = fetch_barcodes(store, &found).await?;
    for (id, record) in &mut out {
        record.barcodes = barcodes.remove(id).unwrap_or_default();
    }
    Ok(out)
}

/// Full SKU records of the feed range `(since, until]`, by id, with `location`'s price override
/// and barcodes. Driven by the unique index on `catalog_versions.seq`, then primary keys
/// (`kind || ''` keeps SQLite from scanning every SKU version through the primary key instead).
async fn fetch_sku_range(
    store: &Store,
    since: i64,
    until: i64,
    location: Option<&str>,
) -> AppResult<HashMap<String, SkuRecord>> {
    let rows = sqlx::query(&format!(
        "SELECT {SKU_COLUMNS}, v.seq FROM catalog_versions v JOIN skus s ON s.id = v.entity_id \
         {SKU_JOINS} WHERE v.seq > $2 AND v.seq <= $3 AND v.kind || '' = 'sku'"
    ))
    .bind(location)
    .bind(since)
    .bind(until)
    .fetch_all(store.reader())
    .await?;
    let mut out = HashMap::with_capacity(rows.len());
    for row in &rows {
        let id: String = col(row, "id")?;
        out.insert(id, sku_record(row)?);
    }
    let rows = sqlx::query(
        "SELECT b.code, b.sku_id FROM catalog_versions v JOIN barcodes b ON b.sku_id = v.entity_id \
         WHERE v.seq > $1 AND v.seq <= $2 AND v.kind || '' = 'sku' ORDER BY b.code",
    )
    .bind(since)
    .bind(until)
    .fetch_all(store.reader())
    .await?;
    for row in &rows {
        let sku_id: String = col(row, "sku_id")?;
        if let Some(record) = out.get_mut(&sku_id) {
            record.barcodes.push(col(row, "code")?);
        }
    }
    Ok(out)
}

/// One SKU record, with `location`'s price override.
pub async fn sku(store: &Store, id: Uuid, location: Option<&str>) -> AppResult<Option<SkuRecord>> {
    let id = id.to_string();
    Ok(fetch_skus(store, std::slice::from_ref(&id), location)
        .await?
        .remove(&id))
}

/// SKU records by id, with `location`'s price overrides (unknown ids are absent).
pub async fn skus(
    store: &Store,
    ids: &[Uuid],
    location: Option<&str>,
) -> AppResult<HashMap<Uuid, SkuRecord>> {
    let ids: Vec<String> = ids.iter().map(Uuid::to_string).collect();
    Ok(fetch_skus(store, &ids, location)
        .await?
        .into_values()
        .map(|s| (s.id, s))
        .collect())
}

/// The SKU a barcode identifies, with `location`'s price override.
pub async fn sku_by_barcode(
    store: &Store,
    code: &str,
    location: Option<&str>,
) -> AppResult<Option<SkuRecord>> {
    let row = sqlx::query("SELECT sku_id FROM barcodes WHERE code = $1")
        .bind(code)
        .fetch_optional(store.reader())
        .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let id: String = col(&row, "sku_id")?;
    Ok(fetch_skus(store, std::slice::from_ref(&id), location)
        .await?
        .remove(&id))
}

/// The whole category tree as a flat list (by sort order, then code).
pub async fn categories(store: &Store) -> AppResult<Vec<CategoryRecord>> {
    let rows = sqlx::query(&format!("{CATEGORY_SELECT} ORDER BY c.sort, c.id"))
        .fetch_all(store.reader())
        .await?;
    rows.iter().map(category_record).collect()
}

/// One category.
pub async fn category(store: &Store, id: &str) -> AppResult<Option<CategoryRecord>> {
    Ok(fetch_categories(store, &[id.to_owned()]).await?.remove(id))
}

// ---------------------------------------------------------------------------------------------
// Prices for orders
// ---------------------------------------------------------------------------------------------

/// What an order line needs to know about a SKU at one location.
#[derive(Debug, Clone)]
pub struct SkuPrice {
    /// The SKU.
    pub sku_id: Uuid,
    /// Product name and spec in Chinese (as printed), e.g. `农夫山泉饮用天然水 550ml`.
    pub name: String,
    /// The location's override if it has one, else the chain price (fen).
    pub price_fen: i64,
    /// Member price (fen), if any.
    pub member_price_fen: Option<i64>,
    /// True when both the SKU and its product are on shelf.
    pub on_shelf: bool,
    /// Sold by weight (prices per kg).
    pub weighed: bool,
}

/// Prices of SKUs at `location_id` (its overrides applied; off the shelf there when the product
/// is off the shelf at that store). Unknown ids are absent from the map.
pub async fn sku_prices(
    store: &Store,
    location_id: &str,
    sku_ids: &[Uuid],
) -> AppResult<HashMap<Uuid, SkuPrice>> {
    let mut out = HashMap::with_capacity(sku_ids.len());
    for chunk in sku_ids.chunks(IN_CHUNK) {
        let sql = format!(
            "SELECT s.id, p.name_zh, s.spec_zh, s.price_fen, s.member_price_fen, s.weighed, \
             s.status AS sku_status, \
             CASE WHEN ss.product_id IS NULL THEN p.status ELSE 'off_shelf' END AS product_status, \
             sp.price_fen AS store_price_fen \
             FROM skus s JOIN products p ON p.id = s.product_id \
             LEFT JOIN store_prices sp ON sp.sku_id = s.id AND sp.location_id = $1 \
             LEFT JOIN store_shelf ss ON ss.product_id = p.id AND ss.location_id = $1 \
             WHERE s.id IN ({})",
            placeholders(2, chunk.len())
        );
        let mut query = sqlx::query(&sql).bind(location_id);
        for id in chunk {
            query = query.bind(id.to_string());
        }
        for row in query.fetch_all(store.reader()).await? {
            let sku_id = uuid_col(&row, "id")?;
            let name_zh: String = col(&row, "name_zh")?;
            let spec_zh: String = col(&row, "spec_zh")?;
            let chain: i64 = col(&row, "price_fen")?;
            let sku_status: String = col(&row, "sku_status")?;
            let product_status: String = col(&row, "product_status")?;
            out.insert(
                sku_id,
                SkuPrice {
                    sku_id,
                    name: format!("{name_zh} {spec_zh}").trim().to_owned(),
                    price_fen: col::<Option<i64>>(&row, "store_price_fen")?.unwrap_or(chain),
                    member_price_fen: col(&row, "member_price_fen")?,
                    on_shelf: sku_status == "on_shelf" && product_status == "on_shelf",
                    weighed: col::<i64>(&row, "weighed")? != 0,
                },
            );
        }
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Categories
// ---------------------------------------------------------------------------------------------

/// A category to create or update (validated by the caller).
#[derive(Debug, Clone)]
pub struct NewCategory {
    /// Code (the id).
    pub code: String,
    /// Parent code.
    pub parent_id: Option<String>,
    /// Chinese name.
    pub name_zh: String,
    /// English name.
    pub name_en: String,
    /// Display order.
    pub sort: i64,
}

/// Creates or updates a category by code. The parent must exist and must not be the category
/// itself or one of its descendants. An update that changes nothing does not touch the feed.
pub async fn upsert_category(
    store: &Store,
    new: &NewCategory,
    actor: &str,
) -> AppResult<CategoryRecord> {
    let mut tx = store.begin().await?;
    if let Some(parent) = &new.parent_id {
        // Walk up from the parent: reaching the category itself would make a cycle.
        let mut current = Some(parent.clone());
        let mut depth = 0;
        while let Some(id) = current {
            if id == new.code {
                return Err(AppError::field(
                    "parent_id",
                    "a category cannot be its own ancestor",
                ));
            }
            depth += 1;
            if depth > 32 {
                return Err(AppError::field(
                    "parent_id",
                    "the category tree is too deep",
                ));
            }
            let row = sqlx::query("SELECT parent_id FROM categories WHERE id = $1")
                .bind(&id)
                .fetch_optional(&mut *tx)
                .await?;
            match row {
                Some(row) => current = col(&row, "parent_id")?,
                None if id == *parent => {
                    return Err(AppError::field(
                        "parent_id",
                        format!("no category {parent}"),
                    ))
                }
                None => current = None,
            }
        }
    }
    let existing =
        sqlx::query("SELECT parent_id, name_zh, name_en, sort FROM categories WHERE id = $1")
            .bind(&new.code)
            .fetch_optional(&mut *tx)
            .await?;
    let unchanged = match &existing {
        Some(row) => {
            col::<Option<String>>(row, "parent_id")? == new.parent_id
                && col::<String>(row, "name_zh")? == new.name_zh
                && col::<String>(row, "name_en")? == new.name_en
                && col::<i64>(row, "sort")? == new.sort
        }
        None => false,
    };
    if !unchanged {
        sqlx::query(
            "INSERT INTO categories (id, parent_id, name_zh, name_en, sort) \
             VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (id) DO UPDATE SET parent_id = excluded.parent_id, \
             name_zh = excluded.name_zh, name_en = excluded.name_en, sort = excluded.sort",
        )
        .bind(&new.code)
        .bind(new.parent_id.as_deref())
        .bind(&new.name_zh)
        .bind(&new.name_en)
        .bind(new.sort)
        .execute(&mut *tx)
        .await?;
        bump(&mut tx, "category", &new.code).await?;
        let action = if existing.is_some() {
            "category.update"
        } else {
            "category.create"
        };
        let detail = serde_json::json!({
            "parent_id": new.parent_id,
            "name_zh": new.name_zh,
            "name_en": new.name_en,
            "sort": new.sort,
        });
        audit::record(&mut tx, actor, action, "category", &new.code, detail).await?;
    }
    tx.commit().await?;
    category(store, &new.code)
        .await?
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("category {} vanished", new.code)))
}

/// The ids of a category and all its descendants; `None` when the category does not exist.
async fn category_subtree(store: &Store, root: &str) -> AppResult<Option<Vec<String>>> {
    let rows = sqlx::query("SELECT id, parent_id FROM categories")
        .fetch_all(store.reader())
        .await?;
    let mut children: HashMap<String, Vec<String>> = HashMap::new();
    let mut known = false;
    for row in &rows {
        let id: String = col(row, "id")?;
        if id == root {
            known = true;
        }
        if let Some(parent) = col::<Option<String>>(row, "parent_id")? {
            children.entry(parent).or_default().push(id);
        }
    }
    if !known {
        return Ok(None);
    }
    let mut out = vec![root.to_owned()];
    let mut seen: HashSet<String> = out.iter().cloned().collect();
    let mut i = 0;
    while let Some(id) = out.get(i).cloned() {
        for child in children.get(&id).into_iter().flatten() {
            if seen.insert(child.clone()) {
                out.push(child.clone());
            }
        }
        i += 1;
    }
    Ok(Some(out))
}

// ---------------------------------------------------------------------------------------------
// Products
// ---------------------------------------------------------------------------------------------

/// A product in a listing.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ProductSummary {
    /// Id.
    pub id: Uuid,
    /// Product code.
    pub code: String,
    /// Chinese name.
    pub name_zh: String,
    /// English name.
    pub name_en: String,
    /// Brand.
    pub brand: String,
    /// Category code.
    pub category_id: String,
    /// On or off shelf.
    pub status: ShelfStatus,
    /// The merchant selling it (`platform`: the operator's own trade).
    pub merchant_id: String,
    /// The platform's review of a merchant's product: `pending`, `approved` or `rejected`.
    pub review_status: String,
    /// Lowest chain price among its SKUs.
    pub price_min: Option<Money>,
    /// Highest chain price among its SKUs.
    pub price_max: Option<Money>,
    /// Number of SKUs.
    pub sku_count: i64,
}

/// A page of products, by product code.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ProductPage {
    /// Products.
    pub items: Vec<ProductSummary>,
    /// Pass as `after` for the next page; none on the last page.
    pub next_after: Option<String>,
}

/// A store's price override.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StorePrice {
    /// Store code.
    pub location_id: String,
    /// Price at that store.
    pub price: Money,
}

/// A SKU of a product, with all its store prices.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ProductSku {
    /// Id.
    pub id: Uuid,
    /// SKU code.
    pub sku_code: String,
    /// Variant in Chinese.
    pub spec_zh: String,
    /// Variant in English.
    pub spec_en: String,
    /// Selling unit.
    pub unit: String,
    /// Sold by weight (prices per kg).
    pub weighed: bool,
    /// The SKU's own status (the product's status applies on top).
    pub status: ShelfStatus,
    /// Chain price.
    pub price: Money,
    /// Member price.
    pub member_price: Option<Money>,
    /// Barcodes.
    pub barcodes: Vec<String>,
    /// Per-store overrides.
    pub store_prices: Vec<StorePrice>,
}

/// A product with its SKUs.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ProductDetail {
    /// Id.
    pub id: Uuid,
    /// Product code.
    pub code: String,
    /// Chinese name.
    pub name_zh: String,
    /// English name.
    pub name_en: String,
    /// Brand.
    pub brand: String,
    /// Category code.
    pub category_id: String,
    /// Description for the shop.
    pub description: String,
    /// On or off shelf.
    pub status: ShelfStatus,
    /// The merchant selling it (`platform`: the operator's own trade).
    pub merchant_id: String,
    /// The platform's review of a merchant's product: `pending`, `approved` or `rejected`.
    pub review_status: String,
    /// The platform's note at the last review (why it was rejected).
    pub review_note: String,
    /// Created (RFC 3339).
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// Last changed (RFC 3339).
    pub updated_at: chrono::DateTime<chrono::Utc>,
    /// SKUs, by code.
    pub skus: Vec<ProductSku>,
}

/// Filter and page of a product listing.
#[derive(Debug, Clone, Default)]
pub struct ProductFilter {
    /// Only this category and its descendants.
    pub category: Option<String>,
    /// Text in the names, brand or code, or an exact barcode.
    pub q: Option<String>,
    /// Products with codes after this one.
    pub after: Option<String>,
    /// Page size.
    pub limit: i64,
    /// Include off-shelf products (staff).
    pub include_off_shelf: bool,
    /// Only this merchant's products (a merchant's page; a merchant administrator's console).
    pub merchant: Option<String>,
}

/// Lists products by code, a page at a time.
pub async fn list_products(store: &Store, filter: &ProductFilter) -> AppResult<ProductPage> {
    let mut sql = String::from(
        "SELECT p.id, p.code, p.name_zh, p.name_en, p.brand, p.category_id, p.status, \
         p.merchant_id, p.review_status FROM products p WHERE 1 = 1",
    );
    let mut binds: Vec<String> = Vec::new();
    if !filter.include_off_shelf {
        sql.push_str(" AND p.status = 'on_shelf'");
    }
    if let Some(merchant) = &filter.merchant {
        sql.push_str(&format!(" AND p.merchant_id = ${}", binds.len() + 1));
        binds.push(merchant.clone());
    }
    if let Some(category) = &filter.category {
        let ids = category_subtree(store, category)
            .await?
            .ok_or_else(|| AppError::not_found(format!("category {category} not found")))?;
        sql.push_str(&format!(
            " AND p.category_id IN ({})",
            placeholders(binds.len() + 1, ids.len())
        ));
        binds.extend(ids);
    }
    if let Some(q) = filter.q.as_deref().filter(|q| !q.is_empty()) {
        let like = format!(
            "%{}%",
            q.to_lowercase()
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_")
        );
        let l = binds.len() + 1;
        let e = binds.len() + 2;
        sql.push_str(&format!(
            " AND (LOWER(p.name_zh) LIKE ${l} ESCAPE '\\' \
             OR LOWER(p.name_en) LIKE ${l} ESCAPE '\\' \
             OR LOWER(p.brand) LIKE ${l} ESCAPE '\\' OR LOWER(p.code) LIKE ${l} ESCAPE '\\' \
             OR p.id IN (SELECT s.product_id FROM skus s JOIN barcodes b ON b.sku_id = s.id \
             WHERE b.code = ${e}))"
        ));
        binds.push(like);
        binds.push(q.to_owned());
    }
    if let Some(after) = &filter.after {
        sql.push_str(&format!(" AND p.code > ${}", binds.len() + 1));
        binds.push(after.clone());
    }
    sql.push_str(&format!(" ORDER BY p.code LIMIT ${}", binds.len() + 1));
    let limit = filter.limit.max(1);
    let mut query = sqlx::query(&sql);
    for value in &binds {
        query = query.bind(value.as_str());
    }
    let rows = query.bind(limit + 1).fetch_all(store.reader()).await?;
    let has_more = rows.len() as i64 > limit;
    let mut items = Vec::with_capacity(rows.len());
    for row in rows
        .iter()
        .take(usize::try_from(limit).unwrap_or(usize::MAX))
    {
        items.push(ProductSummary {
            id: uuid_col(row, "id")?,
            code: col(row, "code")?,
            name_zh: col(row, "name_zh")?,
            name_en: col(row, "name_en")?,
            brand: col(row, "brand")?,
            category_id: col(row, "category_id")?,
            status: parse_col(row, "status")?,
            merchant_id: col(row, "merchant_id")?,
            review_status: col(row, "review_status")?,
            price_min: None,
            price_max: None,
            sku_count: 0,
        });
    }
    // Price range and SKU count in one more query.
    let ids: Vec<String> = items.iter().map(|p| p.id.to_string()).collect();
    let mut ranges: HashMap<String, (i64, i64, i64)> = HashMap::new();
    for chunk in ids.chunks(IN_CHUNK) {
        let sql = format!(
            "SELECT product_id, price_fen, status FROM skus WHERE product_id IN ({})",
            placeholders(1, chunk.len())
        );
        let mut query = sqlx::query(&sql);
        for id in chunk {
            query = query.bind(id.as_str());
        }
        for row in query.fetch_all(store.reader()).await? {
            let status: String = col(&row, "status")?;
            if !filter.include_off_shelf && status != "on_shelf" {
                continue;
            }
            let price: i64 = col(&row, "price_fen")?;
            let entry = ranges
                .entry(col(&row, "product_id")?)
                .or_insert((price, price, 0));
            entry.0 = entry.0.min(price);
            entry.1 = entry.1.max(price);
            entry.2 += 1;
        }
    }
    for item in &mut items {
        if let Some((min, max, n)) = ranges.get(&item.id.to_string()) {
            item.price_min = Some(Money::from_fen(*min));
            item.price_max = Some(Money::from_fen(*max));
            item.sku_count = *n;
        }
    }
    let next_after = if has_more {
        items.last().map(|p| p.code.clone())
    } else {
        None
    };
    Ok(ProductPage { items, next_after })
}

/// One product with its SKUs, barcodes and store prices.
pub async fn product(store: &Store, id: Uuid) -> AppResult<Option<ProductDetail>> {
    let row = sqlx::query(
        "SELECT id, code, name_zh, name_en, brand, category_id, description, status, created_at, \
         updated_at, merchant_id, review_status, review_note FROM products WHERE id = $1",
    )
    .bind(id.to_string())
    .fetch_optional(store.reader())
    .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let sku_rows = sqlx::query(
        "SELECT id, sku_code, spec_zh, spec_en, unit, weighed, price_fen, member_price_fen, status \
         FROM skus WHERE product_id = $1 ORDER BY sku_code",
    )
    .bind(id.to_string())
    .fetch_all(store.reader())
    .await?;
    let sku_ids = sku_rows
        .iter()
        .map(|r| col::<String>(r, "id"))
        .collect::<AppResult<Vec<_>>>()?;
    let mut barcodes = fetch_barcodes(store, &sku_ids).await?;
    let mut store_prices: HashMap<String, Vec<StorePrice>> = HashMap::new();
    for chunk in sku_ids.chunks(IN_CHUNK) {
        let sql = format!(
            "SELECT sku_id, location_id, price_fen FROM store_prices WHERE sku_id IN ({}) \
             ORDER BY location_id",
            placeholders(1, chunk.len())
        );
        let mut query = sqlx::query(&sql);
        for id in chunk {
            query = query.bind(id.as_str());
        }
        for r in query.fetch_all(store.reader()).await? {
            store_prices
                .entry(col(&r, "sku_id")?)
                .or_default()
                .push(StorePrice {
                    location_id: col(&r, "location_id")?,
                    price: Money::from_fen(col(&r, "price_fen")?),
                });
        }
    }
    let mut skus = Vec::with_capacity(sku_rows.len());
    for r in &sku_rows {
        let sku_id: String = col(r, "id")?;
        skus.push(ProductSku {
            id: uuid_col(r, "id")?,
            sku_code: col(r, "sku_code")?,
            spec_zh: col(r, "spec_zh")?,
            spec_en: col(r, "spec_en")?,
            unit: col(r, "unit")?,
            weighed: col::<i64>(r, "weighed")? != 0,
            status: parse_col(r, "status")?,
            price: Money::from_fen(col(r, "price_fen")?),
            member_price: col::<Option<i64>>(r, "member_price_fen")?.map(Money::from_fen),
            barcodes: barcodes.remove(&sku_id).unwrap_or_default(),
            store_prices: store_prices.remove(&sku_id).unwrap_or_default(),
        });
    }
    Ok(Some(ProductDetail {
        id: uuid_col(&row, "id")?,
        code: col(&row, "code")?,
        name_zh: col(&row, "name_zh")?,
        name_en: col(&row, "name_en")?,
        brand: col(&row, "brand")?,
        category_id: col(&row, "category_id")?,
        description: col(&row, "description")?,
        status: parse_col(&row, "status")?,
        merchant_id: col(&row, "merchant_id")?,
        review_status: col(&row, "review_status")?,
        review_note: col(&row, "review_note")?,
        created_at: from_ms(col(&row, "created_at")?),
        updated_at: from_ms(col(&row, "updated_at")?),
        skus,
    }))
}

/// A SKU of a new product (validated by the caller).
#[derive(Debug, Clone)]
pub struct NewSku {
    /// Id.
    pub id: Uuid,
    /// SKU code.
    pub sku_code: String,
    /// Variant in Chinese.
    pub spec_zh: String,
    /// Variant in English.
    pub spec_en: String,
    /// Selling unit.
    pub unit: String,
    /// Sold by weight.
    pub weighed: bool,
    /// Chain price (fen, ≥ 0).
    pub price_fen: i64,
    /// Member price (fen, ≥ 0).
    pub member_price_fen: Option<i64>,
    /// Barcodes (valid, unique within the product).
    pub barcodes: Vec<String>,
}

/// A new product with its SKUs (validated by the caller).
#[derive(Debug, Clone)]
pub struct NewProduct {
    /// Client id (UUIDv7).
    pub id: Uuid,
    /// Product code.
    pub code: String,
    /// Chinese name.
    pub name_zh: String,
    /// English name.
    pub name_en: String,
    /// Brand.
    pub brand: String,
    /// Category code.
    pub category_id: String,
    /// Description.
    pub description: String,
    /// Initial status (a merchant's product starts off the shelf, waiting for review).
    pub status: ShelfStatus,
    /// The merchant selling it: `platform` for head office's own products (approved at once);
    /// any other merchant's wait for the platform's review.
    pub merchant_id: String,
    /// SKUs.
    pub skus: Vec<NewSku>,
}

/// Creates a product with its SKUs and barcodes and puts the SKUs on the feed. Idempotent by
/// id: a retry answers the existing product. Conflicts (409) when the product code, a SKU code
/// or id, or a barcode is already taken; 422 for an unknown category.
pub async fn create_product(
    store: &Store,
    new: &NewProduct,
    actor: &str,
) -> AppResult<ProductDetail> {
    match insert_product(store, new, actor).await {
        Ok(()) => {}
        Err(
            err @ AppError::Conflict {
                code: "already_exists",
                ..
            },
        ) => {
            // Lost a race: a concurrent retry of this very create is a success.
            return existing_product(store, new).await?.ok_or(err);
        }
        Err(err) => return Err(err),
    }
    product(store, new.id)
        .await?
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("product {} vanished", new.id)))
}

/// The product with `new`'s id if it exists and is the same product (same code).
async fn existing_product(store: &Store, new: &NewProduct) -> AppResult<Option<ProductDetail>> {
    match product(store, new.id).await? {
        Some(p) if p.code == new.code => Ok(Some(p)),
        Some(_) => Err(AppError::conflict(
            "id_in_use",
            format!("product id {} belongs to another product", new.id),
        )),
        None => Ok(None),
    }
}

/// Maps a unique violation on insert to a retryable conflict.
fn insert_error(err: sqlx::Error) -> AppError {
    if is_unique_violation(&err) {
        AppError::conflict(
            "already_exists",
            "a product, SKU or barcode with these codes was created at the same time",
        )
    } else {
        err.into()
    }
}

async fn insert_product(store: &Store, new: &NewProduct, actor: &str) -> AppResult<()> {
    let mut tx = store.begin().await?;
    let existing = sqlx::query("SELECT code FROM products WHERE id = $1")
        .bind(new.id.to_string())
        .fetch_optional(&mut *tx)
        .await?;
    if existing.is_some() {
        drop(tx);
        return match existing_product(store, new).await? {
            Some(_) => Ok(()),
            None => Err(AppError::Internal(anyhow::anyhow!(
                "product {} vanished",
                new.id
            ))),
        };
    }
    insert_new_product(&mut tx, new, actor).await?;
    tx.commit().await?;
    Ok(())
}

/// Creates many products in one transaction (the console's CSV import): all of them or, on
/// the first conflict or unknown category, none. Returns how many were created.
pub async fn import_products(
    store: &Store,
    products: &[NewProduct],
    actor: &str,
) -> AppResult<usize> {
    import_products_reporting(store, products, actor, |_| {}).await
}

/// Like [`import_products`], telling `progress` how many products are written so far (still
/// one transaction: nothing is visible, and nothing stays, unless all of them are written).
pub async fn import_products_reporting(
    store: &Store,
    products: &[NewProduct],
    actor: &str,
    progress: impl Fn(usize) + Send + Sync,
) -> AppResult<usize> {
    let mut tx = store.begin().await?;
    for (i, new) in products.iter().enumerate() {
        insert_new_product(&mut tx, new, actor).await?;
        progress(i + 1);
    }
    tx.commit().await?;
    Ok(products.len())
}

/// Which of these product codes, SKU codes and barcodes are already taken.
pub async fn taken_codes(
    store: &Store,
    product_codes: &[String],
    sku_codes: &[String],
    barcodes: &[String],
) -> AppResult<HashSet<String>> {
    let mut out = HashSet::new();
    for (table, column, values) in [
        ("products", "code", product_codes),
        ("skus", "sku_code", sku_codes),
        ("barcodes", "code", barcodes),
    ] {
        for chunk in values.chunks(IN_CHUNK) {
            let sql = format!(
                "SELECT {column} AS c FROM {table} WHERE {column} IN ({})",
                placeholders(1, chunk.len())
            );
            let mut query = sqlx::query(&sql);
            for v in chunk {
                query = query.bind(v.as_str());
            }
            for row in query.fetch_all(store.reader()).await? {
                out.insert(col::<String>(&row, "c")?);
            }
        }
    }
    Ok(out)
}

/// Inserts a product that does not exist yet, inside the caller's transaction.
async fn insert_new_product(tx: &mut Tx, new: &NewProduct, actor: &str) -> AppResult<()> {
    if sqlx::query("SELECT id FROM categories WHERE id = $1")
        .bind(&new.category_id)
        .fetch_optional(&mut **tx)
        .await?
        .is_none()
    {
        return Err(AppError::field(
            "category_id",
            format!("no category {}", new.category_id),
        ));
    }
    if sqlx::query("SELECT id FROM products WHERE code = $1")
        .bind(&new.code)
        .fetch_optional(&mut **tx)
        .await?
        .is_some()
    {
        return Err(AppError::conflict(
            "product_code_in_use",
            format!(
                "product code {} is already used by another product",
                new.code
            ),
        ));
    }
    for sku in &new.skus {
        let taken = sqlx::query("SELECT sku_code FROM skus WHERE sku_code = $1 OR id = $2")
            .bind(&sku.sku_code)
            .bind(sku.id.to_string())
            .fetch_optional(&mut **tx)
            .await?;
        if taken.is_some() {
            return Err(AppError::conflict(
                "sku_code_in_use",
                format!(
                    "SKU code {} (or SKU id {}) is already used",
                    sku.sku_code, sku.id
                ),
            ));
        }
    }
    let codes: Vec<&str> = new
        .skus
        .iter()
        .flat_map(|s| s.barcodes.iter().map(String::as_str))
        .collect();
    for chunk in codes.chunks(IN_CHUNK) {
        let sql = format!(
            "SELECT b.code, s.sku_code FROM barcodes b JOIN skus s ON s.id = b.sku_id \
             WHERE b.code IN ({}) ORDER BY b.code",
            placeholders(1, chunk.len())
        );
        let mut query = sqlx::query(&sql);
        for code in chunk {
            query = query.bind(*code);
        }
        if let Some(row) = query.fetch_optional(&mut **tx).await? {
            let code: String = col(&row, "code")?;
            let sku_code: String = col(&row, "sku_code")?;
            return Err(AppError::conflict(
                "barcode_in_use",
                format!("barcode {code} is already used by SKU {sku_code}"),
            ));
        }
    }
    let now = now_ms();
    sqlx::query(
        "INSERT INTO products (id, code, name_zh, name_en, brand, category_id, description, \
         status, created_at, updated_at, merchant_id, review_status) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9, $10, $11)",
    )
    .bind(new.id.to_string())
    .bind(&new.code)
    .bind(&new.name_zh)
    .bind(&new.name_en)
    .bind(&new.brand)
    .bind(&new.category_id)
    .bind(&new.description)
    .bind(if new.merchant_id == super::merchants::PLATFORM {
        new.status.as_str()
    } else {
        ShelfStatus::OffShelf.as_str()
    })
    .bind(now)
    .bind(&new.merchant_id)
    .bind(if new.merchant_id == super::merchants::PLATFORM {
        "approved"
    } else {
        "pending"
    })
    .execute(&mut **tx)
    .await
    .map_err(insert_error)?;
    for sku in &new.skus {
        sqlx::query(
            "INSERT INTO skus (id, product_id, sku_code, spec_zh, spec_en, unit, weighed, \
             price_fen, member_price_fen, status, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'on_shelf', $10, $10)",
        )
        .bind(sku.id.to_string())
        .bind(new.id.to_string())
        .bind(&sku.sku_code)
        .bind(&sku.spec_zh)
        .bind(&sku.spec_en)
        .bind(&sku.unit)
        .bind(i64::from(sku.weighed))
        .bind(sku.price_fen)
        .bind(sku.member_price_fen)
        .bind(now)
        .execute(&mut **tx)
        .await
        .map_err(insert_error)?;
        for code in &sku.barcodes {
            sqlx::query("INSERT INTO barcodes (code, sku_id) VALUES ($1, $2)")
                .bind(code)
                .bind(sku.id.to_string())
                .execute(&mut **tx)
                .await
                .map_err(insert_error)?;
        }
        bump(tx, "sku", &sku.id.to_string()).await?;
    }
    audit::record(
        tx,
        actor,
        "product.create",
        "product",
        &new.id.to_string(),
        serde_json::json!({
            "code": new.code,
            "skus": new.skus.iter().map(|s| serde_json::json!({
                "id": s.id,
                "sku_code": s.sku_code,
                "price": Money::from_fen(s.price_fen),
                "member_price": s.member_price_fen.map(Money::from_fen),
                "barcodes": s.barcodes,
            })).collect::<Vec<_>>(),
        }),
    )
    .await?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Prices and status
// ---------------------------------------------------------------------------------------------

fn price_json(fen: Option<i64>) -> serde_json::Value {
    fen.map_or(serde_json::Value::Null, |f| {
        serde_json::Value::String(Money::from_fen(f).to_string())
    })
}

/// Sets a SKU's chain price and (when `member_price_fen` is `Some`) its member price, audited as
/// `price.change` with the values before and after. A change to the same values does nothing.
pub async fn set_sku_price(
    store: &Store,
    sku_id: Uuid,
    price_fen: i64,
    member_price_fen: Option<Option<i64>>,
    actor: &str,
) -> AppResult<()> {
    let id = sku_id.to_string();
    let mut tx = store.begin().await?;
    let row = sqlx::query(&format!(
        "SELECT price_fen, member_price_fen FROM skus WHERE id = $1{}",
        store.for_update()
    ))
    .bind(&id)
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(|| AppError::not_found(format!("SKU {sku_id} not found")))?;
    let old_price: i64 = col(&row, "price_fen")?;
    let old_member: Option<i64> = col(&row, "member_price_fen")?;
    let new_member = member_price_fen.unwrap_or(old_member);
    if old_price == price_fen && old_member == new_member {
        return Ok(());
    }
    sqlx::query(
        "UPDATE skus SET price_fen = $2, member_price_fen = $3, updated_at = $4 WHERE id = $1",
    )
    .bind(&id)
    .bind(price_fen)
    .bind(new_member)
    .bind(now_ms())
    .execute(&mut *tx)
    .await?;
    audit::record(
        &mut tx,
        actor,
        "price.change",
        "sku",
        &id,
        serde_json::json!({
            "before": {
                "price": price_json(Some(old_price)),
                "member_price": price_json(old_member),
            },
            "after": {
                "price": price_json(Some(price_fen)),
                "member_price": price_json(new_member),
            },
        }),
    )
    .await?;
    // The shelf labels first: queued in this transaction, before any lane can see the price.
    super::esl::queue(
        &mut tx,
        super::esl::Touch::Skus(&[sku_id]),
        now_ms(),
        "price",
    )
    .await?;
    bump(&mut tx, "sku", &id).await?;
    tx.commit().await?;
    Ok(())
}

/// Sets (`Some`) or removes (`None`) a store's price override of a SKU, audited as
/// `store_price.set` / `store_price.remove` with the values before and after. Setting the same
/// value, or removing an override that does not exist, does nothing.
pub async fn set_store_price(
    store: &Store,
    location_id: &str,
    sku_id: Uuid,
    price_fen: Option<i64>,
    actor: &str,
) -> AppResult<()> {
    let id = sku_id.to_string();
    let mut tx = store.begin().await?;
    if sqlx::query("SELECT id FROM skus WHERE id = $1")
        .bind(&id)
        .fetch_optional(&mut *tx)
        .await?
        .is_none()
    {
        return Err(AppError::not_found(format!("SKU {sku_id} not found")));
    }
    let before: Option<i64> = sqlx::query(&format!(
        "SELECT price_fen FROM store_prices WHERE location_id = $1 AND sku_id = $2{}",
        store.for_update()
    ))
    .bind(location_id)
    .bind(&id)
    .fetch_optional(&mut *tx)
    .await?
    .map(|row| col(&row, "price_fen"))
    .transpose()?;
    if before == price_fen {
        return Ok(());
    }
    match price_fen {
        Some(price) => {
            sqlx::query(
                "INSERT INTO store_prices (location_id, sku_id, price_fen) VALUES ($1, $2, $3) \
                 ON CONFLICT (location_id, sku_id) DO UPDATE SET price_fen = excluded.price_fen",
            )
            .bind(location_id)
            .bind(&id)
            .bind(price)
            .execute(&mut *tx)
            .await?;
        }
        None => {
            sqlx::query("DELETE FROM store_prices WHERE location_id = $1 AND sku_id = $2")
                .bind(location_id)
                .bind(&id)
                .execute(&mut *tx)
                .await?;
        }
    }
    audit::record(
        &mut tx,
        actor,
        if price_fen.is_some() {
            "store_price.set"
        } else {
            "store_price.remove"
        },
        "sku",
        &id,
        serde_json::json!({
            "store": location_id,
            "before": {"price": price_json(before)},
            "after": {"price": price_json(price_fen)},
        }),
    )
    .await?;
    // The shelf labels first: queued in this transaction, before any lane can see the price.
    let stores = [location_id.to_owned()];
    super::esl::queue(
        &mut tx,
        super::esl::Touch::StoreSkus(&stores, &[sku_id]),
        now_ms(),
        "price",
    )
    .await?;
    bump(&mut tx, "sku", &id).await?;
    tx.commit().await?;
    Ok(())
}

/// Which shelf status to change: a product (all its SKUs) or one SKU.
#[derive(Clone, Copy)]
enum ShelfEntity {
    Product,
    Sku,
}

impl ShelfEntity {
    fn table(self) -> &'static str {
        match self {
            Self::Product => "products",
            Self::Sku => "skus",
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Product => "product",
            Self::Sku => "sku",
        }
    }
}

/// Sets a product's or SKU's shelf status (row-locked), audits `<entity>.status` and moves the
/// affected SKUs to the end of the feed; a status it already has changes nothing.
async fn set_shelf_status(
    store: &Store,
    entity: ShelfEntity,
    id: Uuid,
    status: ShelfStatus,
    actor: &str,
) -> AppResult<()> {
    let (table, name) = (entity.table(), entity.name());
    let id_text = id.to_string();
    let mut tx = store.begin().await?;
    let row = sqlx::query(&format!(
        "SELECT status FROM {table} WHERE id = $1{}",
        store.for_update()
    ))
    .bind(&id_text)
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(|| match entity {
        ShelfEntity::Product => AppError::not_found(format!("product {id} not found")),
        ShelfEntity::Sku => AppError::not_found(format!("SKU {id} not found")),
    })?;
    let before: ShelfStatus = parse_col(&row, "status")?;
    if before == status {
        return Ok(());
    }
    sqlx::query(&format!(
        "UPDATE {table} SET status = $2, updated_at = $3 WHERE id = $1"
    ))
    .bind(&id_text)
    .bind(status.as_str())
    .bind(now_ms())
    .execute(&mut *tx)
    .await?;
    audit::record(
        &mut tx,
        actor,
        &format!("{name}.status"),
        name,
        &id_text,
        serde_json::json!({"before": before.as_str(), "after": status.as_str()}),
    )
    .await?;
    match entity {
        ShelfEntity::Product => bump_product_skus(&mut tx, &id_text).await?,
        ShelfEntity::Sku => {
            bump(&mut tx, "sku", &id_text).await?;
        }
    }
    tx.commit().await?;
    Ok(())
}

/// Puts a product (all its SKUs) on or off shelf, audited as `product.status`.
pub async fn set_product_status(
    store: &Store,
    product_id: Uuid,
    status: ShelfStatus,
    actor: &str,
) -> AppResult<()> {
    set_shelf_status(store, ShelfEntity::Product, product_id, status, actor).await
}

/// Puts one SKU on or off shelf, audited as `sku.status`.
pub async fn set_sku_status(
    store: &Store,
    sku_id: Uuid,
    status: ShelfStatus,
    actor: &str,
) -> AppResult<()> {
    set_shelf_status(store, ShelfEntity::Sku, sku_id, status, actor).await
}

/// Adds a (validated) barcode to a SKU, audited as `barcode.add`. Adding a code the SKU already
/// has does nothing; a code of another SKU is a 409 `barcode_in_use` (nothing changes).
pub async fn add_barcode(store: &Store, sku_id: Uuid, code: &str, actor: &str) -> AppResult<()> {
    let id = sku_id.to_string();
    let mut tx = store.begin().await?;
    lock_sku(&mut tx, store, &id).await?;
    if let Some(owner) = barcode_owner(&mut tx, code).await? {
        if owner == id {
            return Ok(());
        }
        return Err(AppError::conflict(
            "barcode_in_use",
            format!("barcode {code} belongs to another SKU"),
        ));
    }
    sqlx::query("INSERT INTO barcodes (code, sku_id) VALUES ($1, $2)")
        .bind(code)
        .bind(&id)
        .execute(&mut *tx)
        .await
        .map_err(|e| {
            if is_unique_violation(&e) {
                AppError::conflict(
                    "barcode_in_use",
                    format!("barcode {code} was given to another SKU at the same time"),
                )
            } else {
                e.into()
            }
        })?;
    audit::record(
        &mut tx,
        actor,
        "barcode.add",
        "sku",
        &id,
        serde_json::json!({ "code": code }),
    )
    .await?;
    bump(&mut tx, "sku", &id).await?;
    tx.commit().await?;
    Ok(())
}

/// Removes a barcode from a SKU, audited as `barcode.remove`. Removing a code the SKU does not
/// have does nothing; a SKU keeps at least one barcode (409 `last_barcode`).
pub async fn remove_barcode(store: &Store, sku_id: Uuid, code: &str, actor: &str) -> AppResult<()> {
    let id = sku_id.to_string();
    let mut tx = store.begin().await?;
    lock_sku(&mut tx, store, &id).await?;
    if barcode_owner(&mut tx, code).await?.as_deref() != Some(id.as_str()) {
        return Ok(());
    }
    let count: i64 = col(
        &sqlx::query("SELECT COUNT(*) AS n FROM barcodes WHERE sku_id = $1")
            .bind(&id)
            .fetch_one(&mut *tx)
            .await?,
        "n",
    )?;
    if count <= 1 {
        return Err(AppError::conflict(
            "last_barcode",
            "a SKU keeps at least one barcode: add the new one first",
        ));
    }
    sqlx::query("DELETE FROM barcodes WHERE code = $1 AND sku_id = $2")
        .bind(code)
        .bind(&id)
        .execute(&mut *tx)
        .await?;
    audit::record(
        &mut tx,
        actor,
        "barcode.remove",
        "sku",
        &id,
        serde_json::json!({ "code": code }),
    )
    .await?;
    bump(&mut tx, "sku", &id).await?;
    tx.commit().await?;
    Ok(())
}

/// Moves a product to another (existing) category, audited as `product.category` with the
/// category before and after; every SKU of it moves to the end of the change feed. An unknown
/// category is a 422 on `category_id`; the same category does nothing.
pub async fn set_product_category(
    store: &Store,
    product_id: Uuid,
    category_id: &str,
    actor: &str,
) -> AppResult<()> {
    let id = product_id.to_string();
    let mut tx = store.begin().await?;
    let row = sqlx::query(&format!(
        "SELECT category_id FROM products WHERE id = $1{}",
        store.for_update()
    ))
    .bind(&id)
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(|| AppError::not_found(format!("product {product_id} not found")))?;
    let before: String = col(&row, "category_id")?;
    if before == category_id {
        return Ok(());
    }
    if sqlx::query("SELECT id FROM categories WHERE id = $1")
        .bind(category_id)
        .fetch_optional(&mut *tx)
        .await?
        .is_none()
    {
        return Err(AppError::field("category_id", "no such category"));
    }
    sqlx::query("UPDATE products SET category_id = $2, updated_at = $3 WHERE id = $1")
        .bind(&id)
        .bind(category_id)
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
    audit::record(
        &mut tx,
        actor,
        "product.category",
        "product",
        &id,
        serde_json::json!({ "before": before, "after": category_id }),
    )
    .await?;
    bump_product_skus(&mut tx, &id).await?;
    tx.commit().await?;
    Ok(())
}

async fn lock_sku(tx: &mut Tx, store: &Store, id: &str) -> AppResult<()> {
    sqlx::query(&format!(
        "SELECT id FROM skus WHERE id = $1{}",
        store.for_update()
    ))
    .bind(id)
    .fetch_optional(&mut **tx)
    .await?
    .map(|_| ())
    .ok_or_else(|| AppError::not_found(format!("SKU {id} not found")))
}

async fn barcode_owner(tx: &mut Tx, code: &str) -> AppResult<Option<String>> {
    sqlx::query("SELECT sku_id FROM barcodes WHERE code = $1")
        .bind(code)
        .fetch_optional(&mut **tx)
        .await?
        .map(|row| col::<String>(&row, "sku_id"))
        .transpose()
}

/// A product's texts: names, brand and description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductTexts {
    /// Chinese name.
    pub name_zh: String,
    /// English name.
    pub name_en: String,
    /// Brand.
    pub brand: String,
    /// Description (plain text with simple formatting, escaped when shown).
    pub description: String,
}

/// Changes a product's texts, audited as `product.edit` with the texts before and after; the
/// same texts again change nothing. Every SKU of it moves to the end of the change feed (lanes
/// show the names).
pub async fn edit_product_texts(
    store: &Store,
    product_id: Uuid,
    texts: &ProductTexts,
    actor: &str,
) -> AppResult<()> {
    let id = product_id.to_string();
    let mut tx = store.begin().await?;
    let row = sqlx::query(&format!(
        "SELECT name_zh, name_en, brand, description FROM products WHERE id = $1{}",
        store.for_update()
    ))
    .bind(&id)
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(|| AppError::not_found(format!("product {product_id} not found")))?;
    let before = ProductTexts {
        name_zh: col(&row, "name_zh")?,
        name_en: col(&row, "name_en")?,
        brand: col(&row, "brand")?,
        description: col(&row, "description")?,
    };
    if before == *texts {
        return Ok(());
    }
    sqlx::query(
        "UPDATE products SET name_zh = $2, name_en = $3, brand = $4, description = $5, \
         updated_at = $6 WHERE id = $1",
    )
    .bind(&id)
    .bind(&texts.name_zh)
    .bind(&texts.name_en)
    .bind(&texts.brand)
    .bind(&texts.description)
    .bind(now_ms())
    .execute(&mut *tx)
    .await?;
    let json = |t: &ProductTexts| {
        serde_json::json!({ "name_zh": t.name_zh, "name_en": t.name_en, "brand": t.brand,
            "description": t.description })
    };
    audit::record(
        &mut tx,
        actor,
        "product.edit",
        "product",
        &id,
        serde_json::json!({ "before": json(&before), "after": json(texts) }),
    )
    .await?;
    bump_product_skus(&mut tx, &id).await?;
    tx.commit().await?;
    Ok(())
}

/// The stores a product is off the shelf at (by store id).
pub async fn store_shelf_off(store: &Store, product_id: Uuid) -> AppResult<Vec<String>> {
    let rows = sqlx::query(
        "SELECT location_id FROM store_shelf WHERE product_id = $1 ORDER BY location_id",
    )
    .bind(product_id.to_string())
    .fetch_all(store.reader())
    .await?;
    rows.iter().map(|r| col(r, "location_id")).collect()
}

/// Puts products on or off the shelf at one store (a batch, one transaction), each audited as
/// `product.store_status` with the store and the status; a product already so changes nothing.
/// An unknown product is a 404 and an unknown store a 422 on `store`, changing nothing.
pub async fn set_store_shelf(
    store: &Store,
    product_ids: &[Uuid],
    location_id: &str,
    status: ShelfStatus,
    actor: &str,
) -> AppResult<usize> {
    let mut tx = store.begin().await?;
    if sqlx::query("SELECT id FROM locations WHERE id = $1 AND kind = 'store'")
        .bind(location_id)
        .fetch_optional(&mut *tx)
        .await?
        .is_none()
    {
        return Err(AppError::field("store", "no such store"));
    }
    let mut changed = 0;
    for product_id in product_ids {
        let id = product_id.to_string();
        if sqlx::query(&format!(
            "SELECT id FROM products WHERE id = $1{}",
            store.for_update()
        ))
        .bind(&id)
        .fetch_optional(&mut *tx)
        .await?
        .is_none()
        {
            return Err(AppError::not_found(format!(
                "product {product_id} not found"
            )));
        }
        let done = match status {
            ShelfStatus::OffShelf => sqlx::query(
                "INSERT INTO store_shelf (location_id, product_id, updated_by, updated_at) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (location_id, product_id) DO NOTHING",
            )
            .bind(location_id)
            .bind(&id)
            .bind(actor)
            .bind(now_ms())
            .execute(&mut *tx)
            .await?
            .rows_affected(),
            ShelfStatus::OnShelf => {
                sqlx::query("DELETE FROM store_shelf WHERE location_id = $1 AND product_id = $2")
                    .bind(location_id)
                    .bind(&id)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected()
            }
        };
        if done == 0 {
            continue;
        }
        changed += 1;
        audit::record(
            &mut tx,
            actor,
            "product.store_status",
            "product",
            &id,
            serde_json::json!({ "store": location_id, "status": status.as_str() }),
        )
        .await?;
        bump_product_skus(&mut tx, &id).await?;
    }
    tx.commit().await?;
    Ok(changed)
}
