//! Merchants (B2B2C): the platform's tenants, their review by head office, and the platform's
//! commission rates per merchant and category. `platform` is the operator's own trade.

use serde::Serialize;
use utoipa::ToSchema;

use super::{col, now_ms, Store, Tx};
use crate::error::AppResult;

/// The platform operator's own merchant: every store, product and order that predates
/// multi-merchant, and everything head office sells itself.
pub const PLATFORM: &str = "platform";

/// Where a merchant stands with the platform.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MerchantStatus {
    /// Applied; waiting for head office.
    Pending,
    /// Trading: its approved products may be on the shelf.
    Approved,
    /// Turned down at review.
    Rejected,
    /// Stopped by head office: its products are off the shelf until it is reinstated.
    Suspended,
}

impl MerchantStatus {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Approved => "approved",
            Self::Rejected => "rejected",
            Self::Suspended => "suspended",
        }
    }
}

impl std::str::FromStr for MerchantStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "pending" => Ok(Self::Pending),
            "approved" => Ok(Self::Approved),
            "rejected" => Ok(Self::Rejected),
            "suspended" => Ok(Self::Suspended),
            other => Err(format!("unknown merchant status {other:?}")),
        }
    }
}

/// A merchant as head office and its own administrators see it.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct MerchantRecord {
    /// Short code, e.g. `m-green-farm`; `platform` for the operator's own trade.
    pub id: String,
    /// Chinese name (shown in the shop).
    pub name_zh: String,
    /// English name.
    pub name_en: String,
    /// Contact person.
    pub contact_name: String,
    /// Contact phone.
    pub contact_phone: String,
    /// Review status.
    pub status: MerchantStatus,
    /// Head office's note at the last review.
    pub review_note: String,
    /// Created, Unix milliseconds.
    pub created_at: i64,
    /// Last reviewed, Unix milliseconds.
    pub reviewed_at: Option<i64>,
    /// Who reviewed it last.
    pub reviewed_by: Option<String>,
}

const COLUMNS: &str = "id, name_zh, name_en, contact_name, contact_phone, status, review_note, \
     created_at, reviewed_at, reviewed_by";

fn from_row(row: &sqlx::any::AnyRow) -> AppResult<MerchantRecord> {
    Ok(MerchantRecord {
        id: col(row, "id")?,
        name_zh: col(row, "name_zh")?,
        name_en: col(row, "name_en")?,
        contact_name: col(row, "contact_name")?,
        contact_phone: col(row, "contact_phone")?,
        status: super::parse_col(row, "status")?,
        review_note: col(row, "review_note")?,
        created_at: col(row, "created_at")?,
        reviewed_at: col(row, "reviewed_at")?,
        reviewed_by: col(row, "reviewed_by")?,
    })
}

/// A new merchant's details, checked by the application layer.
#[derive(Clone, Debug)]
pub struct NewMerchant<'a> {
    /// Short code.
    pub id: &'a str,
    /// Chinese name.
    pub name_zh: &'a str,
    /// English name.
    pub name_en: &'a str,
    /// Contact person.
    pub contact_name: &'a str,
    /// Contact phone.
    pub contact_phone: &'a str,
}

/// One merchant by id.
pub async fn get(store: &Store, id: &str) -> AppResult<Option<MerchantRecord>> {
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM merchants WHERE id = $1"))
        .bind(id)
        .fetch_optional(store.reader())
        .await?;
    row.map(|r| from_row(&r)).transpose()
}

/// One merchant by id inside a transaction, locked until it ends (PostgreSQL).
pub async fn get_for_update(
    tx: &mut Tx,
    store: &Store,
    id: &str,
) -> AppResult<Option<MerchantRecord>> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM merchants WHERE id = $1{}",
        store.for_update()
    ))
    .bind(id)
    .fetch_optional(&mut **tx)
    .await?;
    row.map(|r| from_row(&r)).transpose()
}

/// Every merchant (optionally of one status), the platform first, then by id.
pub async fn list(store: &Store, status: Option<MerchantStatus>) -> AppResult<Vec<MerchantRecord>> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM merchants WHERE ($1 IS NULL OR status = $1) \
         ORDER BY CASE WHEN id = 'platform' THEN 0 ELSE 1 END, id"
    ))
    .bind(status.map(MerchantStatus::as_str))
    .fetch_all(store.reader())
    .await?;
    rows.iter().map(from_row).collect()
}

/// Creates a merchant waiting for review; false when the id is taken.
pub async fn create(tx: &mut Tx, merchant: &NewMerchant<'_>) -> AppResult<bool> {
    let done = sqlx::query(
        "INSERT INTO merchants (id, name_zh, name_en, contact_name, contact_phone, status, \
         created_at) VALUES ($1, $2, $3, $4, $5, 'pending', $6) ON CONFLICT DO NOTHING",
    )
    .bind(merchant.id)
    .bind(merchant.name_zh)
    .bind(merchant.name_en)
    .bind(merchant.contact_name)
    .bind(merchant.contact_phone)
    .bind(now_ms())
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Records a review: the new status, the note and who decided.
pub async fn set_status(
    tx: &mut Tx,
    id: &str,
    status: MerchantStatus,
    note: &str,
    actor: &str,
) -> AppResult<()> {
    sqlx::query(
        "UPDATE merchants SET status = $2, review_note = $3, reviewed_at = $4, reviewed_by = $5 \
         WHERE id = $1",
    )
    .bind(id)
    .bind(status.as_str())
    .bind(note)
    .bind(now_ms())
    .bind(actor)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The products of `merchant` now on the shelf.
pub async fn on_shelf_products(store: &Store, merchant: &str) -> AppResult<Vec<uuid::Uuid>> {
    let rows = sqlx::query(
        "SELECT id FROM products WHERE merchant_id = $1 AND status = 'on_shelf' ORDER BY id",
    )
    .bind(merchant)
    .fetch_all(store.writer())
    .await?;
    rows.iter().map(|r| super::uuid_col(r, "id")).collect()
}

/// One platform commission rate: basis points of the paid amount of a merchant's sales in a
/// category (`merchant_id = "*"`: the default for every merchant).
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct PlatformCommissionRate {
    /// A merchant, or `*` for every merchant without a rate of its own.
    pub merchant_id: String,
    /// Category id.
    pub category_id: String,
    /// Basis points (1/100 of a percent): 600 is 6 %.
    pub rate_bp: i64,
    /// Last set, Unix milliseconds.
    pub updated_at: i64,
    /// Who set it.
    pub updated_by: String,
}

/// Every commission rate, by merchant then category.
pub async fn commission_rates(store: &Store) -> AppResult<Vec<PlatformCommissionRate>> {
    let rows = sqlx::query(
        "SELECT merchant_id, category_id, rate_bp, updated_at, updated_by \
         FROM platform_commission_rates ORDER BY merchant_id, category_id",
    )
    .fetch_all(store.reader())
    .await?;
    rows.iter()
        .map(|r| {
            Ok(PlatformCommissionRate {
                merchant_id: col(r, "merchant_id")?,
                category_id: col(r, "category_id")?,
                rate_bp: col(r, "rate_bp")?,
                updated_at: col(r, "updated_at")?,
                updated_by: col(r, "updated_by")?,
            })
        })
        .collect()
}

/// Sets (or, with `None`, removes) the rate of `merchant` (or `*`) in `category`.
pub async fn set_commission_rate(
    tx: &mut Tx,
    merchant: &str,
    category: &str,
    rate_bp: Option<i64>,
    actor: &str,
) -> AppResult<()> {
    match rate_bp {
        Some(rate) => {
            sqlx::query(
                "INSERT INTO platform_commission_rates (merchant_id, category_id, rate_bp, \
                 updated_at, updated_by) VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (merchant_id, category_id) DO UPDATE SET rate_bp = excluded.rate_bp, \
                 updated_at = excluded.updated_at, updated_by = excluded.updated_by",
            )
            .bind(merchant)
            .bind(category)
            .bind(rate)
            .bind(now_ms())
            .bind(actor)
            .execute(&mut **tx)
            .await?;
        }
        None => {
            sqlx::query(
                "DELETE FROM platform_commission_rates WHERE merchant_id = $1 AND category_id = $2",
            )
            .bind(merchant)
            .bind(category)
            .execute(&mut **tx)
            .await?;
        }
    }
    Ok(())
}

/// The rate that applies to `merchant`'s sales in `category`: its own, else the default (`*`),
/// else none (0).
pub async fn commission_rate_of(store: &Store, merchant: &str, category: &str) -> AppResult<i64> {
    let row = sqlx::query(
        "SELECT rate_bp FROM platform_commission_rates \
         WHERE category_id = $2 AND merchant_id IN ($1, '*') \
         ORDER BY CASE WHEN merchant_id = '*' THEN 1 ELSE 0 END LIMIT 1",
    )
    .bind(merchant)
    .bind(category)
    .fetch_optional(store.reader())
    .await?;
    row.map(|r| col(&r, "rate_bp"))
        .transpose()
        .map(Option::unwrap_or_default)
}

/// The merchant a product belongs to and its review status.
pub async fn product_owner(store: &Store, product: &str) -> AppResult<Option<(String, String)>> {
    let row = sqlx::query("SELECT merchant_id, review_status FROM products WHERE id = $1")
        .bind(product)
        .fetch_optional(store.reader())
        .await?;
    row.map(|r| Ok((col(&r, "merchant_id")?, col(&r, "review_status")?)))
        .transpose()
}

/// The merchant a SKU's product belongs to.
pub async fn sku_owner(store: &Store, sku: &str) -> AppResult<Option<String>> {
    let row = sqlx::query(
        "SELECT p.merchant_id FROM skus s JOIN products p ON p.id = s.product_id WHERE s.id = $1",
    )
    .bind(sku)
    .fetch_optional(store.reader())
    .await?;
    row.map(|r| col(&r, "merchant_id")).transpose()
}

/// Records a product review: its new review status and note.
pub async fn set_product_review(
    tx: &mut Tx,
    product: &str,
    status: &str,
    note: &str,
) -> AppResult<()> {
    sqlx::query(
        "UPDATE products SET review_status = $2, review_note = $3, updated_at = $4 WHERE id = $1",
    )
    .bind(product)
    .bind(status)
    .bind(note)
    .bind(now_ms())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// A merchant's product waiting for (or past) the platform's review, as the review queue shows
/// it.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ProductForReview {
    /// Product id.
    pub id: uuid::Uuid,
    /// Product code.
    pub code: String,
    /// Chinese name.
    pub name_zh: String,
    /// English name.
    pub name_en: String,
    /// Category id.
    pub category_id: String,
    /// The merchant selling it.
    pub merchant_id: String,
    /// Created, Unix milliseconds.
    pub created_at: i64,
}

/// Merchants' products with the review status `status` (e.g. `pending`), oldest first, at most
/// `limit`.
pub async fn products_in_review(
    store: &Store,
    status: &str,
    limit: i64,
) -> AppResult<Vec<ProductForReview>> {
    let rows = sqlx::query(
        "SELECT id, code, name_zh, name_en, category_id, merchant_id, created_at FROM products \
         WHERE review_status = $1 AND merchant_id <> 'platform' ORDER BY created_at, id LIMIT $2",
    )
    .bind(status)
    .bind(limit)
    .fetch_all(store.reader())
    .await?;
    rows.iter()
        .map(|r| {
            Ok(ProductForReview {
                id: super::uuid_col(r, "id")?,
                code: col(r, "code")?,
                name_zh: col(r, "name_zh")?,
                name_en: col(r, "name_en")?,
                category_id: col(r, "category_id")?,
                merchant_id: col(r, "merchant_id")?,
                created_at: col(r, "created_at")?,
            })
        })
        .collect()
}

/// The merchants the products of `skus` belong to, by SKU (unknown SKUs are left out).
pub async fn sku_owners(
    store: &Store,
    skus: &[uuid::Uuid],
) -> AppResult<std::collections::HashMap<uuid::Uuid, String>> {
    let keys: Vec<String> = skus.iter().map(uuid::Uuid::to_string).collect();
    super::rows_by_keys(
        store,
        "SELECT s.id AS sku_id, p.merchant_id FROM skus s JOIN products p ON p.id = s.product_id",
        "s.id",
        "",
        &keys,
    )
    .await?
    .iter()
    .map(|r| Ok((super::uuid_col(r, "sku_id")?, col(r, "merchant_id")?)))
    .collect()
}
