//! Promotions: checking a new promotion (its own rule, its stores and SKUs, a flash sale's
//! limits, and that it fits with every promotion it overlaps) and storing it, for the API and
//! the console alike.
//!
//! Head office's promotions are the platform's. A merchant administrator's (B2B2C) are its
//! merchant's and may only touch its own goods — the pricing engine is the same for all, so the
//! isolation is in what such a promotion may say: its scope lists only SKUs of the merchant's
//! own products (no category, brand or whole basket, which would discount other merchants'
//! goods), a sale price names only those SKUs, its stores are the merchant's own stores, and it
//! is never a flash sale. It lists and ends only its own promotions; another's is 404 to it.

use chrono::Utc;
use retail_domain::pricing::{validate_promotion_set, Audience, Promotion, PromotionRule};
use serde::Deserialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{checkout, pricing, AppState};
use crate::actor::{Role, StaffActor};
use crate::error::{AppError, AppResult};
use crate::storage;
use crate::storage::merchants::PLATFORM;
use crate::storage::paging::{Cursor, Page};
use crate::storage::promotions::{FlashLimits, PromotionView};

/// A new promotion, optionally a flash sale.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreatePromotion {
    /// The promotion (its `id` is the client id, UUIDv7).
    pub promotion: Promotion,
    /// Set for a flash sale (秒杀): the promotion must be a sale price for one SKU; it is for
    /// members only and online only.
    #[serde(default)]
    pub flash_sale: Option<FlashLimits>,
}

/// Validates and stores a promotion of the platform (the console comes here); the caller has
/// checked that `actor` is head office. A retry (same id) answers the promotion stored first.
pub async fn create_promotion(
    state: &AppState,
    actor: &str,
    req: CreatePromotion,
) -> AppResult<PromotionView> {
    create_as(state, actor, PLATFORM, req).await
}

/// Validates and stores a promotion for `by` (the API's `POST /promotions`): head office's is
/// the platform's, a merchant administrator's its own merchant's, within the limits of a
/// merchant's promotion (see the module's documentation).
pub async fn create_for(
    state: &AppState,
    by: &StaffActor,
    req: CreatePromotion,
) -> AppResult<PromotionView> {
    by.require(&[Role::HeadOfficeAdmin, Role::MerchantAdmin])?;
    let merchant = by.merchant_scope()?.unwrap_or(PLATFORM).to_owned();
    create_as(state, &by.actor(), &merchant, req).await
}

/// The promotions `by` may see, newest first (the API's `GET /promotions`): every one for head
/// office and store managers, its own merchant's for a merchant administrator.
pub async fn list_for(
    state: &AppState,
    by: &StaffActor,
    current_only: bool,
    cursor: Option<&Cursor>,
    limit: i64,
) -> AppResult<Page<PromotionView>> {
    by.require(&[
        Role::HeadOfficeAdmin,
        Role::StoreManager,
        Role::MerchantAdmin,
    ])?;
    let merchant = match by.role {
        Role::MerchantAdmin => by.merchant_scope()?,
        _ => None,
    };
    storage::promotions::page(&state.store, current_only, merchant, cursor, limit).await
}

/// Ends the promotion `id` now for `by` (the API's `POST /promotions/{id}/end`; audited):
/// head office any promotion, a merchant administrator its own merchant's (404 otherwise).
pub async fn end_for(state: &AppState, by: &StaffActor, id: Uuid) -> AppResult<PromotionView> {
    by.require(&[Role::HeadOfficeAdmin, Role::MerchantAdmin])?;
    let scope = by.merchant_scope()?;
    find(state, id)
        .await?
        .filter(|p| scope.is_none_or(|own| own == p.merchant_id))
        .ok_or_else(|| AppError::not_found("no such promotion"))?;
    let mut tx = state.store.begin().await?;
    storage::promotions::end(&mut tx, id, &by.actor()).await?;
    tx.commit().await?;
    find(state, id)
        .await?
        .ok_or_else(|| AppError::not_found("no such promotion"))
}

/// Refuses (422) a promotion a merchant may not make: a flash sale; a scope other than its own
/// SKUs (a category, a brand or the whole basket would discount other merchants' goods); a
/// sale price of a SKU not its own; a store not its own. 409 `merchant_not_approved` unless it
/// is trading.
async fn check_merchant_promotion(
    state: &AppState,
    merchant: &str,
    promotion: &retail_domain::pricing::Promotion,
    flash_sale: Option<&FlashLimits>,
) -> AppResult<()> {
    super::merchants::require_trading(&state.store, merchant, "run promotions").await?;
    if flash_sale.is_some() {
        return Err(AppError::field(
            "flash_sale",
            "flash sales are the platform's: a merchant's promotion cannot be one",
        ));
    }
    let scope = &promotion.scope;
    if !scope.categories.is_empty() || !scope.brands.is_empty() || scope.skus.is_empty() {
        return Err(AppError::field(
            "promotion.scope",
            "a merchant's promotion lists its own SKUs (scope.skus) and no category or brand: \
             those, or the whole basket, would discount other merchants' goods",
        ));
    }
    let sale_skus: Vec<Uuid> = match &promotion.rule {
        PromotionRule::SalePrice { prices } => prices.iter().map(|p| p.sku_id).collect(),
        _ => Vec::new(),
    };
    let mut all: Vec<Uuid> = scope.skus.iter().chain(&sale_skus).copied().collect();
    all.sort_unstable();
    all.dedup();
    let owners = storage::merchants::sku_owners(&state.store, &all).await?;
    let not_own = |sku: &Uuid| owners.get(sku).is_none_or(|m| m != merchant);
    for (field, skus) in [
        ("promotion.scope.skus", &scope.skus),
        ("promotion.rule.prices", &sale_skus),
    ] {
        if let Some(sku) = skus.iter().find(|s| not_own(s)) {
            return Err(AppError::field(
                field,
                format!("SKU {sku} is not one of merchant {merchant}'s"),
            ));
        }
    }
    for code in &promotion.stores {
        let own_store = storage::locations::find(&state.store, code)
            .await?
            .is_some_and(|l| l.kind == "store" && l.merchant_id == merchant);
        if !own_store {
            return Err(AppError::field(
                "promotion.stores",
                format!("{code} is not a store of merchant {merchant}"),
            ));
        }
    }
    Ok(())
}

/// Validates and stores a promotion of `merchant` (the platform's, or a merchant's within
/// [`check_merchant_promotion`]). A retry (same id) answers the promotion stored first; an id
/// another merchant's promotion has is 409 `id_in_use`.
async fn create_as(
    state: &AppState,
    actor: &str,
    merchant: &str,
    req: CreatePromotion,
) -> AppResult<PromotionView> {
    let mut promotion = req.promotion;
    retail_domain::ids::require_v7(promotion.id)
        .map_err(|e| AppError::field("promotion.id", e.to_string()))?;
    if let Some(existing) = find(state, promotion.id).await? {
        if existing.merchant_id != merchant {
            return Err(AppError::conflict(
                "id_in_use",
                "a promotion of another merchant has this id",
            ));
        }
        return Ok(existing);
    }
    if merchant != PLATFORM {
        check_merchant_promotion(state, merchant, &promotion, req.flash_sale.as_ref()).await?;
    }
    for (field, value) in [
        ("promotion.name_zh", &promotion.name_zh),
        ("promotion.name_en", &promotion.name_en),
    ] {
        if value.chars().count() > 64 {
            return Err(AppError::field(field, "at most 64 characters"));
        }
    }
    if promotion.name_zh.trim().is_empty() {
        return Err(AppError::field(
            "promotion.name_zh",
            "a promotion needs a name",
        ));
    }
    if promotion.ends_at <= promotion.starts_at {
        return Err(AppError::field(
            "promotion.ends_at",
            "must be after starts_at",
        ));
    }
    if promotion.ends_at <= Utc::now() {
        return Err(AppError::field("promotion.ends_at", "is in the past"));
    }
    for store in &promotion.stores {
        if !checkout::is_store(state, store).await? {
            return Err(AppError::field(
                "promotion.stores",
                format!("no store {store}"),
            ));
        }
    }
    if let Some(flash) = &req.flash_sale {
        match &promotion.rule {
            PromotionRule::SalePrice { prices } if prices.len() == 1 => {}
            _ => {
                return Err(AppError::field(
                    "promotion.rule",
                    "a flash sale is a sale price for exactly one SKU",
                ))
            }
        }
        if !(1..=1_000_000).contains(&flash.total_qty) {
            return Err(AppError::field(
                "flash_sale.total_qty",
                "must be 1 to 1000000",
            ));
        }
        if !(1..=flash.total_qty).contains(&flash.per_member_limit) {
            return Err(AppError::field(
                "flash_sale.per_member_limit",
                "must be 1 to the total quantity",
            ));
        }
        // The per-member limit needs an identity.
        if promotion.audience == Audience::Everyone {
            promotion.audience = Audience::Members;
        }
    }
    if let PromotionRule::SalePrice { prices } = &promotion.rule {
        let ids: Vec<Uuid> = prices.iter().map(|p| p.sku_id).collect();
        let known = storage::catalog::skus(&state.store, &ids, None).await?;
        if let Some(missing) = ids.iter().find(|id| !known.contains_key(id)) {
            return Err(AppError::field(
                "promotion.rule.prices",
                format!("no SKU {missing}"),
            ));
        }
    }
    promotion.validate().map_err(pricing::pricing_error)?;
    let mut overlapping = storage::promotions::overlapping(
        &state.store,
        promotion.starts_at.timestamp_millis(),
        promotion.ends_at.timestamp_millis(),
    )
    .await?;
    overlapping.push(promotion.clone());
    validate_promotion_set(&overlapping).map_err(pricing::pricing_error)?;
    let mut tx = state.store.begin().await?;
    let created = storage::promotions::create(
        &mut tx,
        &promotion,
        req.flash_sale.as_ref(),
        merchant,
        actor,
    )
    .await?;
    if created && req.flash_sale.is_none() {
        // The shelf labels first (app::esl): queued in this transaction, before any lane can
        // read the promotion; the scheduler looks again at the boundaries from now on.
        let now = storage::now_ms();
        if promotion.starts_at.timestamp_millis() <= now {
            storage::esl::queue_promotion(&mut tx, &promotion, now, "promotion").await?;
        }
        storage::esl::rewind_schedule(&mut tx, now).await?;
    }
    tx.commit().await?;
    state.esl.kick();
    find(state, promotion.id)
        .await?
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("created promotion vanished")))
}

/// The promotion `id`, if it exists.
pub async fn find(state: &AppState, id: Uuid) -> AppResult<Option<PromotionView>> {
    storage::promotions::get(&state.store, id).await
}

/// A flash sale running now on a SKU, as the shop shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RunningFlashSale {
    /// The flash-sale price.
    pub price: retail_domain::money::Money,
    /// Units left to sell (never below 0).
    pub left: i64,
    /// When the sale ends.
    pub ends_at: chrono::DateTime<Utc>,
}

/// The flash sale running now on `sku`, if any (from the one-second flash-sale cache).
pub async fn running_flash_sale(
    state: &AppState,
    sku: Uuid,
) -> AppResult<Option<RunningFlashSale>> {
    let now = Utc::now();
    Ok(state
        .catalog_cache
        .current_flash_sales(&state.store)
        .await?
        .into_iter()
        .filter(|p| {
            p.ended_at.is_none() && p.promotion.starts_at <= now && now < p.promotion.ends_at
        })
        .find_map(|p| {
            let sale = p.flash_sale.filter(|f| f.sku_id == sku)?;
            let price = match &p.promotion.rule {
                PromotionRule::SalePrice { prices } => {
                    prices.iter().find(|sp| sp.sku_id == sku).map(|sp| sp.price)
                }
                _ => None,
            }?;
            Some(RunningFlashSale {
                price,
                left: (sale.total_qty - sale.sold_qty).max(0),
                ends_at: p.promotion.ends_at,
            })
        }))
}

/// The checks a head-office activity on a SKU (a group-buy, a bargain) shares: each of `ranges`
/// (field, value, least, most) within its bounds, the window ending after it starts and at most
/// a year later, the names at most 60 characters. The first failure is a field error.
pub fn check_activity(
    ranges: &[(&str, i64, i64, i64)],
    starts_at: chrono::DateTime<Utc>,
    ends_at: chrono::DateTime<Utc>,
    names: (&str, &str),
) -> AppResult<()> {
    for (field, value, min, max) in ranges {
        if !(min..=max).contains(&value) {
            return Err(AppError::field(field, format!("{min} to {max}")));
        }
    }
    if ends_at <= starts_at || ends_at - starts_at > chrono::Duration::days(366) {
        return Err(AppError::field(
            "ends_at",
            "after starts_at, at most a year later",
        ));
    }
    if names.0.chars().count() > 60 || names.1.chars().count() > 60 {
        return Err(AppError::field("name_zh", "at most 60 characters"));
    }
    Ok(())
}

/// The SKU a head-office activity (a group-buy, a bargain) sells at `price` (`price_field` names
/// it in the error): a known SKU that is not weighed, and a price above zero and at most its
/// chain price. Field errors otherwise.
pub async fn activity_sku(
    state: &AppState,
    sku_id: Uuid,
    (price_field, price): (&str, retail_domain::money::Money),
) -> AppResult<retail_domain::wire::catalog::SkuRecord> {
    let mut skus = storage::catalog::skus(&state.store, &[sku_id], None).await?;
    let sku = skus
        .remove(&sku_id)
        .ok_or_else(|| AppError::field("sku_id", "no such SKU"))?;
    if sku.weighed {
        return Err(AppError::field(
            "sku_id",
            "a weighed SKU is not sold in group-buys or bargains",
        ));
    }
    if price.fen() <= 0 || price > sku.price {
        return Err(AppError::field(
            price_field,
            format!("above zero and at most the SKU's price ({})", sku.price),
        ));
    }
    Ok(sku)
}
