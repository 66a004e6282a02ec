//! Coupons: creating templates (head office), issuing coupons to members (staff) and claiming
//! them from the coupon centre (members), for the API and the pages alike.

use chrono::{DateTime, Utc};
use retail_domain::pricing::Coupon;
use serde::Deserialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{checkout, AppState};
use crate::error::{AppError, AppResult};
use crate::storage;
use crate::storage::coupons::{CouponTerms, CouponView, IssueOn, NewTemplate, TemplateView};

/// A new coupon template.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTemplate {
    /// Client id (UUIDv7).
    pub id: Uuid,
    /// What its coupons do.
    pub terms: CouponTerms,
    /// How they are issued: `staff`, `signup`, `tier_upgrade` or `claim`.
    pub issue_on: IssueOn,
    /// Start of the window in which coupons are issued and used.
    pub valid_from: DateTime<Utc>,
    /// End of that window.
    pub valid_until: DateTime<Utc>,
    /// Each coupon valid this many days from its issue (within the window).
    #[serde(default)]
    pub valid_days: Option<i64>,
    /// Most coupons of it one member may hold (default 1).
    #[serde(default = "one")]
    pub per_member_limit: i64,
    /// Coupons that may be issued in all (omit for unlimited).
    #[serde(default)]
    pub stock_total: Option<i64>,
}

fn one() -> i64 {
    1
}

/// Validates and stores a coupon template (the API and the console both come here); the caller
/// has checked that `actor` is head office. A retry (same id) answers the template stored first.
pub async fn create_coupon_template(
    state: &AppState,
    actor: &str,
    req: CreateTemplate,
) -> AppResult<TemplateView> {
    retail_domain::ids::require_v7(req.id).map_err(|e| AppError::field("id", e.to_string()))?;
    if req.terms.name_zh.trim().is_empty() || req.terms.name_zh.chars().count() > 64 {
        return Err(AppError::field(
            "terms.name_zh",
            "must be 1 to 64 characters",
        ));
    }
    if req.terms.name_en.chars().count() > 64 {
        return Err(AppError::field("terms.name_en", "at most 64 characters"));
    }
    if req.valid_until <= req.valid_from {
        return Err(AppError::field("valid_until", "must be after valid_from"));
    }
    if req.valid_until <= Utc::now() {
        return Err(AppError::field("valid_until", "is in the past"));
    }
    if req.valid_days.is_some_and(|d| !(1..=3650).contains(&d)) {
        return Err(AppError::field("valid_days", "must be 1 to 3650"));
    }
    if !(1..=100).contains(&req.per_member_limit) {
        return Err(AppError::field("per_member_limit", "must be 1 to 100"));
    }
    if req
        .stock_total
        .is_some_and(|s| !(1..=100_000_000).contains(&s))
    {
        return Err(AppError::field("stock_total", "must be 1 to 100000000"));
    }
    for store in &req.terms.stores {
        if !checkout::is_store(state, store).await? {
            return Err(AppError::field("terms.stores", format!("no store {store}")));
        }
    }
    // The engine's own checks of the rule and scope, on a coupon of these terms.
    Coupon {
        id: req.id,
        owner: req.id,
        name_zh: req.terms.name_zh.clone(),
        name_en: req.terms.name_en.clone(),
        valid_from: req.valid_from,
        valid_until: req.valid_until,
        stores: req.terms.stores.clone(),
        scope: req.terms.scope.clone(),
        rule: req.terms.rule.clone(),
        stacks_with_promotions: req.terms.stacks_with_promotions,
        stacks_with_coupons: req.terms.stacks_with_coupons,
    }
    .validate()
    .map_err(|e| AppError::field("terms.rule", e.to_string()))?;
    let template = NewTemplate {
        id: req.id,
        terms: req.terms,
        issue_on: req.issue_on,
        valid_from: req.valid_from.timestamp_millis(),
        valid_until: req.valid_until.timestamp_millis(),
        valid_days: req.valid_days,
        per_member_limit: req.per_member_limit,
        stock_total: req.stock_total,
    };
    let mut tx = state.store.begin().await?;
    storage::coupons::create_template(&mut tx, &template, actor).await?;
    tx.commit().await?;
    find_template(state, req.id).await
}

/// The template `id`, or 404.
pub async fn find_template(state: &AppState, id: Uuid) -> AppResult<TemplateView> {
    storage::coupons::template_by_id(&state.store, id)
        .await?
        .ok_or_else(|| AppError::not_found("no such coupon template"))
}

/// A coupon for a member.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IssueRequest {
    /// Client id of the new coupon (UUIDv7); a retry answers the coupon issued first.
    pub coupon_id: Uuid,
    /// The member.
    pub member_id: Uuid,
}

/// Issues a coupon of template `id` to a member (the API and the console both come here); the
/// caller has checked that `actor` is head office or a store manager. A retry (same coupon id)
/// answers the coupon issued first.
pub async fn issue_coupon(
    state: &AppState,
    actor: &str,
    id: Uuid,
    req: IssueRequest,
) -> AppResult<CouponView> {
    retail_domain::ids::require_v7(req.coupon_id)
        .map_err(|e| AppError::field("coupon_id", e.to_string()))?;
    if !storage::members::exists(&state.store, req.member_id).await? {
        return Err(AppError::field("member_id", "no such member"));
    }
    let mut tx = state.store.begin().await?;
    let coupon = storage::coupons::issue(&mut tx, id, req.member_id, req.coupon_id, actor).await?;
    tx.commit().await?;
    Ok(coupon)
}

/// A member claiming a coupon.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = CouponClaimRequest)]
pub struct ClaimRequest {
    /// Client id of the new coupon (UUIDv7); a retry answers the coupon claimed first.
    pub coupon_id: Uuid,
    /// The member's current member code (proves who claims).
    pub member_code: String,
}

/// The most points a coupon may cost in the points mall.
pub const MAX_POINTS_PRICE: i64 = 1_000_000;

/// Head office puts a coupon template in the points mall at `price` points (1 to
/// [`MAX_POINTS_PRICE`], 422 on `points_price` otherwise) or takes it out (`None`); 403 for
/// anyone else, 404 for no such template. Audited.
pub async fn set_points_price(
    state: &AppState,
    staff: &crate::actor::StaffActor,
    template: Uuid,
    price: Option<i64>,
) -> AppResult<()> {
    staff.require(&[crate::actor::Role::HeadOfficeAdmin])?;
    if let Some(p) = price {
        if !(1..=MAX_POINTS_PRICE).contains(&p) {
            return Err(AppError::field(
                "points_price",
                format!("1 to {MAX_POINTS_PRICE} points, or null to take it out"),
            ));
        }
    }
    storage::coupons::set_points_price(&state.store, template, price, &staff.actor()).await
}

/// The points mall (积分商城): coupons members buy with points, cheapest first.
pub async fn points_mall(state: &AppState) -> AppResult<Vec<storage::coupons::MallItem>> {
    storage::coupons::points_mall(&state.store).await
}

/// A member buys one coupon of `template` with points, by the client's `coupon_id` (UUIDv7):
/// in one transaction the points are taken (`redeem` row, ref `mall:{coupon_id}`; 409
/// `insufficient_points`) and the coupon issued (its stock and per-member limit checked: 409
/// `coupon_sold_out`, `coupon_limit`, `coupon_ended`), so neither happens without the other. 409
/// `not_in_points_mall` for a template without a points price. A retry with the same coupon id
/// answers the coupon and takes nothing more.
pub async fn redeem_with_points(
    state: &AppState,
    template: Uuid,
    member_id: Uuid,
    coupon_id: Uuid,
) -> AppResult<CouponView> {
    retail_domain::ids::require_v7(coupon_id)
        .map_err(|e| AppError::field("coupon_id", e.to_string()))?;
    let mut tx = state.store.begin().await?;
    let Some(price) = storage::coupons::points_price_in_tx(&mut tx, template).await? else {
        return Err(AppError::conflict(
            "not_in_points_mall",
            "this coupon is not in the points mall",
        ));
    };
    storage::members::redeem_in_tx(
        &mut tx,
        state.store.dialect(),
        member_id,
        price,
        &format!("mall:{coupon_id}"),
        &format!("member:{member_id}"),
    )
    .await?;
    let coupon =
        storage::coupons::issue(&mut tx, template, member_id, coupon_id, "points_mall").await?;
    tx.commit().await?;
    Ok(coupon)
}

/// A member claims a coupon of template `id` from the coupon centre (the API and the shop both
/// come here): only centre templates, once their window opened, while stock lasts, up to the
/// per-member limit. A retry (same coupon id) answers the coupon claimed first.
pub async fn claim_coupon(
    state: &AppState,
    id: Uuid,
    member_id: Uuid,
    coupon_id: Uuid,
) -> AppResult<CouponView> {
    retail_domain::ids::require_v7(coupon_id)
        .map_err(|e| AppError::field("coupon_id", e.to_string()))?;
    let template = find_template(state, id).await?;
    if template.issue_on != IssueOn::Claim {
        return Err(AppError::conflict(
            "not_claimable",
            "this coupon is not in the coupon centre",
        ));
    }
    if template.valid_from > Utc::now() {
        return Err(AppError::conflict(
            "not_yet",
            "this coupon cannot be claimed yet",
        ));
    }
    let mut tx = state.store.begin().await?;
    let coupon = storage::coupons::issue(&mut tx, id, member_id, coupon_id, "shop").await?;
    tx.commit().await?;
    crate::app::events::record(
        state,
        vec![crate::app::events::ServerEvent::new(
            "coupon_claimed",
            coupon.id,
            "online",
            serde_json::json!({"template_id": id.to_string(), "coupon_id": coupon.id.to_string()}),
        )
        .member(Some(member_id))],
    );
    Ok(coupon)
}
