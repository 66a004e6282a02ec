//! Promotions and flash sales (head office; a merchant administrator its own merchant's
//! promotions: `app::promotions`), the per-store till rounding, and the pricing
//! context and quotes every channel prices with.

use axum::extract::State;
use retail_domain::pricing::{PricedBasket, TillRounding};
use retail_domain::wire::pricing::PricingContext;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::{Json, Path, Query};
use crate::actor::{Caller, Role, StaffActor};
use crate::app::checkout;
use crate::app::pricing::{self, BasketRequest};
use crate::app::promotions::{self, CreatePromotion};
use crate::app::AppState;
use crate::error::{AppError, AppResult};
use crate::storage;
use crate::storage::paging::{self, Cursor, Page};
use crate::storage::promotions::PromotionView;

/// Promotion and pricing routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(end))
        .routes(routes!(set_till_rounding))
        .routes(routes!(context))
        .routes(routes!(quote))
}

/// Promotion list filter and page.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PromotionFilter {
    /// Only promotions not ended and not past their window (default true).
    pub current: Option<bool>,
    /// `next_cursor` of the previous page (with the same filter); a cursor that is not one is a
    /// 400 `bad_cursor`.
    pub cursor: Option<String>,
    /// Rows per page (default 50, at most 200).
    pub limit: Option<i64>,
}

/// A page of the promotions, newest first (head office and store managers: all; a merchant
/// administrator: its own merchant's); `next_cursor` is absent on the last page.
#[utoipa::path(get, path = "/promotions", tag = "promotions", security(("staff" = [])), params(PromotionFilter),
    responses((status = 200, body = Page<PromotionView>), (status = 403, body = crate::error::ErrorBody)))]
async fn list(
    staff: StaffActor,
    State(state): State<AppState>,
    Query(filter): Query<PromotionFilter>,
) -> AppResult<Json<Page<PromotionView>>> {
    let cursor = Cursor::parse(filter.cursor.as_deref())?;
    Ok(Json(
        promotions::list_for(
            &state,
            &staff,
            filter.current.unwrap_or(true),
            cursor.as_ref(),
            paging::api_limit(filter.limit),
        )
        .await?,
    ))
}

/// Creates a promotion (head office: the platform's; a merchant administrator: its merchant's,
/// scoped to its own SKUs and stores, never a flash sale; audited). Refused with 422 when its
/// rule is contradictory or absurd, its window is empty or over, a store is unknown (or not the
/// merchant's), it touches goods not the merchant's, or it contradicts a promotion whose window
/// overlaps. A retry (same id) answers the promotion stored first.
#[utoipa::path(post, path = "/promotions", tag = "promotions", security(("staff" = [])), request_body = CreatePromotion,
    responses((status = 200, body = PromotionView), (status = 403, body = crate::error::ErrorBody),
        (status = 409, description = "merchant_not_approved: the merchant is not trading; id_in_use: another merchant's promotion has the id", body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody)))]
async fn create(
    staff: StaffActor,
    State(state): State<AppState>,
    Json(req): Json<CreatePromotion>,
) -> AppResult<Json<PromotionView>> {
    promotions::create_for(&state, &staff, req).await.map(Json)
}

/// Ends a promotion now (head office; a merchant administrator its own merchant's; audited).
/// Lanes drop it with their next context pull.
#[utoipa::path(post, path = "/promotions/{id}/end", tag = "promotions", security(("staff" = [])),
    params(("id" = Uuid, Path, description = "promotion id")),
    responses((status = 200, body = PromotionView), (status = 403, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody)))]
async fn end(
    staff: StaffActor,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
) -> AppResult<Json<PromotionView>> {
    promotions::end_for(&state, &staff, id).await.map(Json)
}

/// A store's till rounding.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TillRoundingRequest {
    /// `none`, `down_to_jiao` (抹分) or `down_to_yuan` (抹角).
    pub till_rounding: TillRounding,
}

/// Sets a store's till rounding (抹零) (head office or the store's manager; audited).
#[utoipa::path(put, path = "/stores/{id}/pricing", tag = "promotions", security(("staff" = [])),
    params(("id" = String, Path, description = "store code")), request_body = TillRoundingRequest,
    responses((status = 200, body = PricingContext), (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)))]
async fn set_till_rounding(
    staff: StaffActor,
    State(state): State<AppState>,
    Path(id): Path<String>,
    Json(req): Json<TillRoundingRequest>,
) -> AppResult<Json<PricingContext>> {
    staff.require(&[Role::HeadOfficeAdmin, Role::StoreManager])?;
    staff.require_store(&id)?;
    if !checkout::is_store(&state, &id).await? {
        return Err(AppError::not_found("no such store"));
    }
    let mut tx = state.store.begin().await?;
    storage::promotions::set_till_rounding(&mut tx, &id, req.till_rounding, &staff.actor()).await?;
    tx.commit().await?;
    Ok(Json(
        (*pricing::context(&state, &id, pricing::Channel::Lane).await?).clone(),
    ))
}

/// Which store's context.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ContextQuery {
    /// Store code (staff; a device always gets its own store's).
    pub store: Option<String>,
}

/// The pricing context of a store's lanes: active and upcoming promotions (flash sales are
/// online only), points rules, the store's rounding and the key for signed codes.
#[utoipa::path(get, path = "/pricing/context", tag = "promotions", security(("device" = []), ("staff" = [])), params(ContextQuery),
    responses((status = 200, body = PricingContext), (status = 403, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
async fn context(
    caller: Caller,
    State(state): State<AppState>,
    Query(query): Query<ContextQuery>,
) -> AppResult<Json<PricingContext>> {
    let store = caller.store(query.store)?;
    Ok(Json(
        (*pricing::context(&state, &store, pricing::Channel::Lane).await?).clone(),
    ))
}

/// One line of a basket to price.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QuoteLine {
    /// SKU.
    pub sku_id: Uuid,
    /// Units.
    pub qty: i64,
}

/// A basket to price online (the shop's cart and checkout pages).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QuoteRequest {
    /// Where: a store code (pickup, scan-and-go) or omitted for delivery (the warehouse).
    pub store: Option<String>,
    /// The member's current member code, for member prices, coupons and points.
    #[serde(default)]
    pub member_code: Option<String>,
    /// Lines.
    pub lines: Vec<QuoteLine>,
    /// Coupons to use.
    #[serde(default)]
    pub coupons: Vec<Uuid>,
    /// Points to redeem.
    #[serde(default)]
    pub points_to_redeem: i64,
}

/// Prices a basket exactly as checkout will: every line's price and allocated discounts, the
/// promotions and coupons applied with their explanation, points earned. Changes nothing.
#[utoipa::path(post, path = "/pricing/quote", tag = "promotions", request_body = QuoteRequest,
    responses((status = 200, body = PricedBasket), (status = 422, body = crate::error::ErrorBody)))]
async fn quote(
    State(state): State<AppState>,
    Json(req): Json<QuoteRequest>,
) -> AppResult<Json<PricedBasket>> {
    let lines: Vec<(Uuid, i64)> = req.lines.iter().map(|l| (l.sku_id, l.qty)).collect();
    checkout::check_lines(&lines, state.settings.orders.max_line_qty)?;
    let location = match req.store {
        Some(store) => {
            if !checkout::is_store(&state, &store).await? {
                return Err(AppError::field("store", "no such store"));
            }
            store
        }
        None => checkout::default_delivery_location(&state).await?,
    };
    let member_id = match &req.member_code {
        Some(code) => Some(checkout::member_from_code(&state, code)?),
        None => None,
    };
    if req.points_to_redeem < 0 {
        return Err(AppError::field("points_to_redeem", "must not be negative"));
    }
    let quote = pricing::quote(
        &state,
        &BasketRequest {
            location,
            channel: pricing::Channel::Online,
            member_id,
            lines,
            label_prices: Default::default(),
            coupons: req.coupons,
            points_to_redeem: req.points_to_redeem,
        },
    )
    .await?;
    Ok(Json(quote.basket))
}
