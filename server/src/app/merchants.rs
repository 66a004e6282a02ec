//! Multi-merchant (B2B2C): head office, the platform operator, admits merchants (created
//! `pending`, then approved, rejected, suspended or reinstated), reviews their products before
//! they may go on the shelf, and sets the platform's commission per category. A merchant
//! administrator ([`Role::MerchantAdmin`]) manages its own merchant's products and nothing of
//! another merchant's: every use case here checks [`StaffActor::require_merchant`], and a
//! product or SKU id of another merchant answers 404, as if it did not exist.
//!
//! Rules:
//! - a merchant's new product starts off the shelf and `pending`; only an `approved` product of
//!   an `approved` merchant goes on the shelf;
//! - suspending a merchant takes every product of it off the shelf (audited one by one, and the
//!   lanes' catalog feed carries the change); reinstating it leaves them off until it puts them
//!   back;
//! - the platform's own trade (`platform`) is always approved and never reviewed.

use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::actor::{Role, StaffActor};
use crate::app::AppState;
use crate::error::{AppError, AppResult};
use crate::storage::catalog::ProductDetail;
use crate::storage::merchants::{
    self, MerchantRecord, MerchantStatus, NewMerchant, PlatformCommissionRate, PLATFORM,
};
use crate::storage::{self, Store};
use retail_domain::wire::catalog::ShelfStatus;

/// A merchant head office admits (it starts `pending`).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MerchantRequest {
    /// Short code chosen by head office: 3–32 of `a-z 0-9 -`, starting with a letter, e.g.
    /// `m-green-farm`. A retry with the same code and names answers the merchant made first.
    pub id: String,
    /// Chinese name, shown in the shop.
    pub name_zh: String,
    /// English name.
    #[serde(default)]
    pub name_en: String,
    /// Contact person.
    #[serde(default)]
    pub contact_name: String,
    /// Contact phone.
    #[serde(default)]
    pub contact_phone: String,
}

/// Head office's decision on a merchant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MerchantDecision {
    /// Admit a pending merchant, or reinstate a suspended one.
    Approve,
    /// Turn a pending merchant down.
    Reject,
    /// Stop an approved merchant: its products leave the shelf.
    Suspend,
}

/// A review of a merchant or of a merchant's product.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReviewDecision<D> {
    /// The decision.
    pub decision: D,
    /// Why (required to reject or suspend; shown to the merchant).
    #[serde(default)]
    pub note: String,
}

/// Head office's decision on a merchant's product.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ProductDecision {
    /// The product may be sold (the merchant puts it on the shelf).
    Approve,
    /// The product may not be sold; it leaves the shelf if it was on it.
    Reject,
}

/// A commission rate head office sets (or removes with `rate_bp: null`).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CommissionRateRequest {
    /// A merchant, or `*` for the default of every merchant without a rate of its own.
    pub merchant_id: String,
    /// Category id.
    pub category_id: String,
    /// Basis points of the paid amount (0–10,000; 600 is 6 %); null removes the rate.
    pub rate_bp: Option<i64>,
}

fn check_merchant_id(id: &str) -> AppResult<String> {
    let id = id.trim().to_lowercase();
    let ok = (3..=32).contains(&id.len())
        && id.as_bytes()[0].is_ascii_lowercase()
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !ok {
        return Err(AppError::field(
            "id",
            "3 to 32 of a-z, 0-9 or '-', starting with a letter",
        ));
    }
    if id == PLATFORM {
        return Err(AppError::field(
            "id",
            "reserved for the platform's own trade",
        ));
    }
    Ok(id)
}

fn check_line(field: &str, text: &str, required: bool, max: usize) -> AppResult<String> {
    let text = text.trim();
    if (required && text.is_empty())
        || text.chars().count() > max
        || text.chars().any(char::is_control)
    {
        return Err(AppError::field(
            field,
            if required {
                format!("1 to {max} characters")
            } else {
                format!("at most {max} characters")
            },
        ));
    }
    Ok(text.to_owned())
}

/// Admits a merchant, `pending` until approved (head office; idempotent by its code).
pub async fn create(
    store: &Store,
    by: &StaffActor,
    req: &MerchantRequest,
) -> AppResult<MerchantRecord> {
    by.require(&[Role::HeadOfficeAdmin])?;
    let id = check_merchant_id(&req.id)?;
    let name_zh = check_line("name_zh", &req.name_zh, true, 64)?;
    let name_en = check_line("name_en", &req.name_en, false, 64)?;
    let contact_name = check_line("contact_name", &req.contact_name, false, 32)?;
    let contact_phone = check_line("contact_phone", &req.contact_phone, false, 20)?;
    if !contact_phone
        .bytes()
        .all(|b| b.is_ascii_digit() || b"+- ".contains(&b))
    {
        return Err(AppError::field(
            "contact_phone",
            "digits, '+', '-' or spaces",
        ));
    }
    let mut tx = store.begin().await?;
    let created = merchants::create(
        &mut tx,
        &NewMerchant {
            id: &id,
            name_zh: &name_zh,
            name_en: &name_en,
            contact_name: &contact_name,
            contact_phone: &contact_phone,
        },
    )
    .await?;
    if created {
        storage::audit::record(
            &mut tx,
            &by.actor(),
            "merchant.create",
            "merchant",
            &id,
            json!({ "name_zh": name_zh, "name_en": name_en }),
        )
        .await?;
        tx.commit().await?;
    } else {
        drop(tx);
    }
    let merchant = merchants::get(store, &id)
        .await?
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("merchant {id} vanished")))?;
    if !created && merchant.name_zh != name_zh {
        return Err(AppError::conflict(
            "merchant_exists",
            format!("the merchant code {id} is taken"),
        ));
    }
    Ok(merchant)
}

/// The merchants `by` may see: all of them for head office (optionally of one status), the
/// own one for a merchant administrator.
pub async fn list(
    store: &Store,
    by: &StaffActor,
    status: Option<MerchantStatus>,
) -> AppResult<Vec<MerchantRecord>> {
    match by.merchant_scope()? {
        None => merchants::list(store, status).await,
        Some(own) => Ok(merchants::get(store, own)
            .await?
            .into_iter()
            .filter(|m| status.is_none_or(|s| m.status == s))
            .collect()),
    }
}

/// One merchant for `by` (404 for another merchant's administrator, as for an unknown code).
pub async fn get(store: &Store, by: &StaffActor, id: &str) -> AppResult<MerchantRecord> {
    by.merchant_scope()?;
    let found = match by.require_merchant(id) {
        Ok(()) => merchants::get(store, id).await?,
        Err(_) => None,
    };
    found.ok_or_else(|| AppError::not_found(format!("merchant {id} not found")))
}

/// A merchant as the shop shows it: only an approved one (404 otherwise).
pub async fn trading(store: &Store, id: &str) -> AppResult<MerchantRecord> {
    merchants::get(store, id)
        .await?
        .filter(|m| m.status == MerchantStatus::Approved)
        .ok_or_else(|| AppError::not_found(format!("merchant {id} not found")))
}

/// Head office decides on a merchant. Approve admits a pending merchant or reinstates a
/// suspended one; reject turns a pending one down; suspend stops an approved one and takes its
/// products off the shelf. Repeating the decision already in force changes nothing (and a
/// repeated suspension takes down anything put back on the shelf meanwhile).
pub async fn review(
    state: &AppState,
    by: &StaffActor,
    id: &str,
    req: &ReviewDecision<MerchantDecision>,
) -> AppResult<MerchantRecord> {
    by.require(&[Role::HeadOfficeAdmin])?;
    let store = &state.store;
    if id == PLATFORM {
        return Err(AppError::conflict(
            "platform_merchant",
            "the platform's own trade is not reviewed",
        ));
    }
    let note = check_line("note", &req.note, false, 200)?;
    if req.decision != MerchantDecision::Approve && note.is_empty() {
        return Err(AppError::field("note", "say why (the merchant sees it)"));
    }
    let mut tx = store.begin().await?;
    let current = merchants::get_for_update(&mut tx, store, id)
        .await?
        .ok_or_else(|| AppError::not_found(format!("merchant {id} not found")))?;
    use MerchantStatus as S;
    let next = match (req.decision, current.status) {
        (MerchantDecision::Approve, S::Pending | S::Suspended | S::Approved) => S::Approved,
        (MerchantDecision::Reject, S::Pending | S::Rejected) => S::Rejected,
        (MerchantDecision::Suspend, S::Approved | S::Suspended) => S::Suspended,
        (decision, status) => {
            return Err(AppError::conflict(
                "merchant_state",
                format!(
                    "a {} merchant cannot be given {decision:?}",
                    status.as_str()
                ),
            ))
        }
    };
    if next != current.status {
        merchants::set_status(&mut tx, id, next, &note, &by.actor()).await?;
        storage::audit::record(
            &mut tx,
            &by.actor(),
            "merchant.review",
            "merchant",
            id,
            json!({ "before": current.status.as_str(), "after": next.as_str(), "note": note }),
        )
        .await?;
    }
    tx.commit().await?;
    if next == S::Suspended {
        // After the commit: a product put back on the shelf from now on is refused, and each
        // one taken down is audited and reaches the lanes like any other shelf change.
        for product in merchants::on_shelf_products(store, id).await? {
            storage::catalog::set_product_status(
                store,
                product,
                ShelfStatus::OffShelf,
                &by.actor(),
            )
            .await?;
        }
        state.search.invalidate();
    }
    merchants::get(store, id)
        .await?
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("merchant {id} vanished")))
}

/// 409 `merchant_not_approved` unless `merchant` is trading (approved): what a pending,
/// rejected or suspended merchant may not do yet, or any more, says `doing`.
pub async fn require_trading(store: &Store, merchant: &str, doing: &str) -> AppResult<()> {
    let trading = merchants::get(store, merchant)
        .await?
        .is_some_and(|m| m.status == MerchantStatus::Approved);
    if trading {
        Ok(())
    } else {
        Err(AppError::conflict(
            "merchant_not_approved",
            format!("merchant {merchant} is not trading: it may {doing} once approved"),
        ))
    }
}

/// The merchant a new product of `by` belongs to: the platform for head office, the own
/// merchant (which must be approved) for a merchant administrator.
pub async fn seller_for_new_product(store: &Store, by: &StaffActor) -> AppResult<String> {
    match by.merchant_scope()? {
        None => Ok(PLATFORM.to_owned()),
        Some(own) => {
            let merchant = merchants::get(store, own)
                .await?
                .ok_or_else(|| AppError::Forbidden(format!("no merchant {own}")))?;
            if merchant.status != MerchantStatus::Approved {
                return Err(AppError::conflict(
                    "merchant_not_approved",
                    format!(
                        "merchant {own} is {}: it may list products once approved",
                        merchant.status.as_str()
                    ),
                ));
            }
            Ok(own.to_owned())
        }
    }
}

/// Checks that `by` may change `product` (head office: any; a merchant administrator: its own
/// merchant's, else 404) and returns the product's merchant and review status.
pub async fn require_product(
    store: &Store,
    by: &StaffActor,
    product: Uuid,
) -> AppResult<(String, String)> {
    let scope = by.merchant_scope()?;
    match merchants::product_owner(store, &product.to_string()).await? {
        Some((merchant, review)) if scope.is_none_or(|own| own == merchant) => {
            Ok((merchant, review))
        }
        _ => Err(AppError::not_found(format!("product {product} not found"))),
    }
}

/// Checks that `by` may change `sku` (as [`require_product`], for the SKU's product).
pub async fn require_sku(store: &Store, by: &StaffActor, sku: Uuid) -> AppResult<()> {
    let scope = by.merchant_scope()?;
    match merchants::sku_owner(store, &sku.to_string()).await? {
        Some(merchant) if scope.is_none_or(|own| own == merchant) => Ok(()),
        _ => Err(AppError::not_found(format!("SKU {sku} not found"))),
    }
}

/// Refuses (409) to put `product` of `merchant` on the shelf unless the platform approved it
/// and the merchant is trading; taking it off is always allowed.
pub async fn check_shelf_move(store: &Store, product: Uuid, status: ShelfStatus) -> AppResult<()> {
    if status != ShelfStatus::OnShelf {
        return Ok(());
    }
    let Some((merchant, review)) = merchants::product_owner(store, &product.to_string()).await?
    else {
        return Err(AppError::not_found(format!("product {product} not found")));
    };
    if review != "approved" {
        return Err(AppError::conflict(
            "product_not_approved",
            format!("product {product} is {review} at the platform's review"),
        ));
    }
    require_trading(store, &merchant, "sell it").await
}

/// Puts a product on or off the shelf for `by` (head office: any; a merchant administrator:
/// its own): on the shelf only an approved product of an approved merchant.
pub async fn set_product_shelf(
    state: &AppState,
    by: &StaffActor,
    product: Uuid,
    status: ShelfStatus,
) -> AppResult<()> {
    require_product(&state.store, by, product).await?;
    check_shelf_move(&state.store, product, status).await?;
    storage::catalog::set_product_status(&state.store, product, status, &by.actor()).await?;
    state.search.invalidate();
    Ok(())
}

/// Head office reviews a merchant's product: approve lets the merchant put it on the shelf,
/// reject (with a note) takes it off and keeps it off.
pub async fn review_product(
    state: &AppState,
    by: &StaffActor,
    product: Uuid,
    req: &ReviewDecision<ProductDecision>,
) -> AppResult<ProductDetail> {
    by.require(&[Role::HeadOfficeAdmin])?;
    let store = &state.store;
    let note = check_line("note", &req.note, false, 200)?;
    if req.decision == ProductDecision::Reject && note.is_empty() {
        return Err(AppError::field("note", "say why (the merchant sees it)"));
    }
    let (merchant, before) = require_product(store, by, product).await?;
    if merchant == PLATFORM {
        return Err(AppError::conflict(
            "platform_product",
            "the platform's own products are not reviewed",
        ));
    }
    let after = match req.decision {
        ProductDecision::Approve => "approved",
        ProductDecision::Reject => "rejected",
    };
    if req.decision == ProductDecision::Reject {
        storage::catalog::set_product_status(store, product, ShelfStatus::OffShelf, &by.actor())
            .await?;
        state.search.invalidate();
    }
    let mut tx = store.begin().await?;
    merchants::set_product_review(&mut tx, &product.to_string(), after, &note).await?;
    storage::audit::record(
        &mut tx,
        &by.actor(),
        "product.review",
        "product",
        &product.to_string(),
        json!({ "merchant_id": merchant, "before": before, "after": after, "note": note }),
    )
    .await?;
    tx.commit().await?;
    storage::catalog::product(store, product)
        .await?
        .ok_or_else(|| AppError::not_found(format!("product {product} not found")))
}

/// The commission rates `by` may see: all for head office, the defaults and its own for a
/// merchant administrator.
pub async fn commission_rates(
    store: &Store,
    by: &StaffActor,
) -> AppResult<Vec<PlatformCommissionRate>> {
    let scope = by.merchant_scope()?;
    Ok(merchants::commission_rates(store)
        .await?
        .into_iter()
        .filter(|r| scope.is_none_or(|own| r.merchant_id == "*" || r.merchant_id == own))
        .collect())
}

/// Head office sets or removes a commission rate (audited as `commission.rate`).
pub async fn set_commission_rate(
    store: &Store,
    by: &StaffActor,
    req: &CommissionRateRequest,
) -> AppResult<Vec<PlatformCommissionRate>> {
    by.require(&[Role::HeadOfficeAdmin])?;
    if let Some(rate) = req.rate_bp {
        if !(0..=10_000).contains(&rate) {
            return Err(AppError::field("rate_bp", "0 to 10000 basis points"));
        }
    }
    if req.merchant_id != "*" && merchants::get(store, &req.merchant_id).await?.is_none() {
        return Err(AppError::field(
            "merchant_id",
            format!("no merchant {}", req.merchant_id),
        ));
    }
    if storage::catalog::category(store, &req.category_id)
        .await?
        .is_none()
    {
        return Err(AppError::field(
            "category_id",
            format!("no category {}", req.category_id),
        ));
    }
    let mut tx = store.begin().await?;
    merchants::set_commission_rate(
        &mut tx,
        &req.merchant_id,
        &req.category_id,
        req.rate_bp,
        &by.actor(),
    )
    .await?;
    storage::audit::record(
        &mut tx,
        &by.actor(),
        "commission.rate",
        "commission_rate",
        &format!("{}/{}", req.merchant_id, req.category_id),
        json!({ "rate_bp": req.rate_bp }),
    )
    .await?;
    tx.commit().await?;
    merchants::commission_rates(store).await
}

/// The review queue: merchants' products waiting for head office, oldest first (head office).
pub async fn products_to_review(
    store: &Store,
    by: &StaffActor,
) -> AppResult<Vec<merchants::ProductForReview>> {
    by.require(&[Role::HeadOfficeAdmin])?;
    merchants::products_in_review(store, "pending", 200).await
}

/// The orders of the merchant administrator's own merchant (every line one of its products),
/// newest first, a page at a time: what it fulfils. 403 for anyone else.
pub async fn orders(
    state: &AppState,
    staff: &StaffActor,
    status: Option<retail_domain::order::OrderStatus>,
    before: Option<Uuid>,
    limit: i64,
) -> AppResult<Vec<storage::orders::OrderPlaced>> {
    let own = staff.merchant_scope()?.ok_or_else(|| {
        AppError::Forbidden("only a merchant administrator has its own orders".into())
    })?;
    storage::orders::list_of_merchant(&state.store, own, status, before, limit).await
}

/// The order `order_id` for a member of staff who may fulfil it (read its address, ship it):
/// head office, the manager of the location it is fulfilled from, or the administrator of the
/// merchant whose goods it holds (another merchant's order, or one of several merchants'
/// goods, answers 404 to a merchant administrator). 403 for other roles.
pub async fn require_fulfiller(
    state: &AppState,
    staff: &StaffActor,
    order_id: Uuid,
) -> AppResult<storage::orders::OrderView> {
    if staff.role == Role::MerchantAdmin {
        let own = staff.merchant_scope()?.unwrap_or_default().to_owned();
        let order = storage::orders::get(&state.store, order_id).await?;
        if storage::orders::merchant_of(&state.store, order_id)
            .await?
            .as_deref()
            != Some(&own)
        {
            return Err(AppError::not_found(format!("order {order_id} not found")));
        }
        return Ok(order);
    }
    staff.require(&[Role::HeadOfficeAdmin, Role::StoreManager])?;
    let order = storage::orders::get(&state.store, order_id).await?;
    staff.require_store(&order.location_id)?;
    Ok(order)
}

/// The paid delivery orders a merchant administrator has to ship, each with its address (every
/// reading audited, as for any staff) and delivery: its merchant's orders waiting in `paid`,
/// newest first (at most `limit`).
pub async fn orders_to_ship(
    state: &AppState,
    staff: &StaffActor,
    limit: i64,
) -> AppResult<
    Vec<(
        storage::orders::OrderView,
        Option<storage::delivery::Address>,
        Option<storage::delivery::OrderDelivery>,
    )>,
> {
    let paid = orders(
        state,
        staff,
        Some(retail_domain::order::OrderStatus::Paid),
        None,
        limit,
    )
    .await?;
    let mut out = Vec::with_capacity(paid.len());
    for order in paid {
        match crate::app::delivery::order_to_ship(state, staff, order.id).await {
            Ok(ship) => out.push(ship),
            // A pickup order is handed over by its store.
            Err(AppError::NotFound(_)) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

/// Ships an order with its carrier and waybill for a member of staff who may fulfil it
/// ([`require_fulfiller`]; the rules of shipping: [`crate::app::delivery::ship_with_waybill`]).
pub async fn ship(
    state: &AppState,
    staff: &StaffActor,
    order_id: Uuid,
    carrier: &str,
    waybill: &str,
) -> AppResult<storage::orders::OrderView> {
    require_fulfiller(state, staff, order_id).await?;
    crate::app::delivery::ship_with_waybill(state, order_id, carrier, waybill, &staff.actor()).await
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn merchant_codes_are_checked() {
        assert_eq!(check_merchant_id(" M-Green-1 ").unwrap(), "m-green-1");
        for bad in [
            "ab",
            "1abc",
            "m_green",
            "platform",
            "m green",
            &"m".repeat(33),
        ] {
            assert!(check_merchant_id(bad).is_err(), "{bad}");
        }
    }
}
