//! Coupons: templates (head office), issuing to members (staff), the coupon centre where
//! members claim coupons while stock lasts, and a member's coupons.

use axum::extract::State;
use chrono::Utc;
use retail_domain::pricing::Coupon;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::{Json, PageQuery, Path, Query};
use crate::actor::{DeviceActor, DeviceKind, Role, StaffActor};
use crate::app::checkout;
use crate::app::coupons::{
    claim_coupon, create_coupon_template, find_template, issue_coupon, ClaimRequest,
    CreateTemplate, IssueRequest,
};
use crate::app::AppState;
use crate::error::{AppError, AppResult};
use crate::storage;
use crate::storage::coupons::{CouponView, IssueOn, MemberCoupons, TemplateView};
use crate::storage::paging::{self, Cursor, Page};

/// Coupon routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_templates, create_template))
        .routes(routes!(end_template))
        .routes(routes!(issue))
        .routes(routes!(coupon_centre))
        .routes(routes!(claim))
        .routes(routes!(points_mall))
        .routes(routes!(set_points_price))
        .routes(routes!(redeem))
        .routes(routes!(member_coupons))
        .routes(routes!(lane_member_coupons))
}

/// A page of the coupon templates, newest first (staff); `next_cursor` is absent on the last
/// page.
#[utoipa::path(get, path = "/coupon-templates", tag = "coupons", security(("staff" = [])), params(PageQuery),
    responses((status = 200, body = Page<TemplateView>)))]
async fn list_templates(
    staff: StaffActor,
    State(state): State<AppState>,
    Query(page): Query<PageQuery>,
) -> AppResult<Json<Page<TemplateView>>> {
    staff.require(&[Role::HeadOfficeAdmin, Role::StoreManager])?;
    let (cursor, limit) = page.read()?;
    Ok(Json(
        storage::coupons::templates(&state.store, None, cursor.as_ref(), limit).await?,
    ))
}

/// Creates a coupon template (head office; audited). Refused with 422 when its rule is
/// contradictory or absurd, its window is empty or over, or its limits make no sense.
#[utoipa::path(post, path = "/coupon-templates", tag = "coupons", security(("staff" = [])), request_body = CreateTemplate,
    responses((status = 200, body = TemplateView), (status = 422, body = crate::error::ErrorBody)))]
async fn create_template(
    staff: StaffActor,
    State(state): State<AppState>,
    Json(req): Json<CreateTemplate>,
) -> AppResult<Json<TemplateView>> {
    staff.require(&[Role::HeadOfficeAdmin])?;
    create_coupon_template(&state, &staff.actor(), req)
        .await
        .map(Json)
}

/// Stops issuing a template's coupons (issued coupons stay usable; head office; audited).
#[utoipa::path(post, path = "/coupon-templates/{id}/end", tag = "coupons", security(("staff" = [])),
    params(("id" = Uuid, Path, description = "template id")),
    responses((status = 200, body = TemplateView), (status = 404, body = crate::error::ErrorBody)))]
async fn end_template(
    staff: StaffActor,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
) -> AppResult<Json<TemplateView>> {
    staff.require(&[Role::HeadOfficeAdmin])?;
    let mut tx = state.store.begin().await?;
    storage::coupons::end_template(&mut tx, id, &staff.actor()).await?;
    tx.commit().await?;
    find_template(&state, id).await.map(Json)
}

/// Issues a coupon of a template to a member (head office or a store manager; audited).
#[utoipa::path(post, path = "/coupon-templates/{id}/issue", tag = "coupons", security(("staff" = [])),
    params(("id" = Uuid, Path, description = "template id")), request_body = IssueRequest,
    responses((status = 200, body = CouponView), (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody)))]
async fn issue(
    staff: StaffActor,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    Json(req): Json<IssueRequest>,
) -> AppResult<Json<CouponView>> {
    staff.require(&[Role::HeadOfficeAdmin, Role::StoreManager])?;
    issue_coupon(&state, &staff.actor(), id, req)
        .await
        .map(Json)
}

/// The coupon centre (领券中心): a page of the templates members may claim now, newest first
/// (public); `next_cursor` is absent on the last page.
#[utoipa::path(get, path = "/coupons/centre", tag = "coupons", params(PageQuery),
    responses((status = 200, body = Page<TemplateView>)))]
async fn coupon_centre(
    State(state): State<AppState>,
    Query(page): Query<PageQuery>,
) -> AppResult<Json<Page<TemplateView>>> {
    let (cursor, limit) = page.read()?;
    Ok(Json(
        storage::coupons::templates(&state.store, Some(IssueOn::Claim), cursor.as_ref(), limit)
            .await?,
    ))
}

/// Claims a coupon from the coupon centre while stock lasts (409 `coupon_sold_out`), up to the
/// per-member limit (409 `coupon_limit`).
#[utoipa::path(post, path = "/coupon-templates/{id}/claim", tag = "coupons",
    params(("id" = Uuid, Path, description = "template id")), request_body = ClaimRequest,
    responses((status = 200, body = CouponView), (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
async fn claim(
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    Json(req): Json<ClaimRequest>,
) -> AppResult<Json<CouponView>> {
    retail_domain::ids::require_v7(req.coupon_id)
        .map_err(|e| AppError::field("coupon_id", e.to_string()))?;
    let member_id = checkout::member_from_code(&state, &req.member_code)?;
    claim_coupon(&state, id, member_id, req.coupon_id)
        .await
        .map(Json)
}

/// The points mall (积分商城): coupons members buy with points, cheapest first (public).
#[utoipa::path(get, path = "/points-mall", tag = "coupons",
    responses((status = 200, body = [storage::coupons::MallItem])))]
async fn points_mall(
    State(state): State<AppState>,
) -> AppResult<Json<Vec<storage::coupons::MallItem>>> {
    Ok(Json(crate::app::coupons::points_mall(&state).await?))
}

/// A template's price in the points mall.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PointsPrice {
    /// Points one coupon costs (1–1,000,000); `null` takes it out of the mall.
    pub points_price: Option<i64>,
}

/// Puts a coupon template in the points mall or takes it out (head office; audited).
#[utoipa::path(put, path = "/coupon-templates/{id}/points-price", tag = "coupons", security(("staff" = [])),
    params(("id" = Uuid, Path, description = "template id")), request_body = PointsPrice,
    responses((status = 200, body = [storage::coupons::MallItem]), (status = 403, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
async fn set_points_price(
    staff: StaffActor,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    Json(req): Json<PointsPrice>,
) -> AppResult<Json<Vec<storage::coupons::MallItem>>> {
    crate::app::coupons::set_points_price(&state, &staff, id, req.points_price).await?;
    Ok(Json(crate::app::coupons::points_mall(&state).await?))
}

/// Buys one coupon of a points-mall template with the member's points (member code in the body,
/// as a claim): points taken and coupon issued together; 409 `insufficient_points`,
/// `not_in_points_mall`, `coupon_sold_out`, `coupon_limit`. A retry with the same `coupon_id`
/// answers the coupon and takes nothing more.
#[utoipa::path(post, path = "/coupon-templates/{id}/redeem", tag = "coupons",
    params(("id" = Uuid, Path, description = "template id")), request_body = ClaimRequest,
    responses((status = 200, body = CouponView), (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
async fn redeem(
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    Json(req): Json<ClaimRequest>,
) -> AppResult<Json<CouponView>> {
    let member_id = checkout::member_from_code(&state, &req.member_code)?;
    crate::app::coupons::redeem_with_points(&state, id, member_id, req.coupon_id)
        .await
        .map(Json)
}

/// Which coupons, and the page.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CouponFilter {
    /// Only unused, unexpired coupons (default false).
    pub available: Option<bool>,
    /// `next_cursor` of the previous page (with the same filter); a cursor that is not one is a
    /// 400 `bad_cursor`.
    pub cursor: Option<String>,
    /// Rows per page (default 50, at most 200).
    pub limit: Option<i64>,
}

/// A page of a member's coupons, newest first (staff); `next_cursor` is absent on the last page.
#[utoipa::path(get, path = "/members/{id}/coupons", tag = "coupons", security(("staff" = [])),
    params(("id" = Uuid, Path, description = "member id"), CouponFilter),
    responses((status = 200, body = Page<CouponView>)))]
async fn member_coupons(
    staff: StaffActor,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    Query(filter): Query<CouponFilter>,
) -> AppResult<Json<Page<CouponView>>> {
    staff.require(&[Role::HeadOfficeAdmin, Role::StoreManager, Role::Cashier])?;
    let which = match filter.available {
        Some(true) => MemberCoupons::Usable,
        _ => MemberCoupons::All,
    };
    let cursor = Cursor::parse(filter.cursor.as_deref())?;
    let limit = paging::api_limit(filter.limit);
    Ok(Json(
        storage::coupons::member_coupons(&state.store, id, which, cursor.as_ref(), limit).await?,
    ))
}

/// The coupons a member can use now, in the engine's terms, for a lane of the member's store
/// (coupons need the server: the lane lists them while online, the sale push uses them).
#[utoipa::path(get, path = "/pos/members/{id}/coupons", tag = "coupons", security(("device" = [])),
    params(("id" = Uuid, Path, description = "member id")),
    responses((status = 200, body = [Coupon]), (status = 403, body = crate::error::ErrorBody)))]
async fn lane_member_coupons(
    device: DeviceActor,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
) -> AppResult<Json<Vec<Coupon>>> {
    if device.kind != DeviceKind::Pos {
        return Err(AppError::Forbidden(
            "only POS terminals list coupons at the till".into(),
        ));
    }
    let now = Utc::now();
    Ok(Json(
        storage::coupons::usable(&state.store, id)
            .await?
            .iter()
            .filter(|c| c.valid_from <= now)
            .filter(|c| c.terms.stores.is_empty() || c.terms.stores.contains(&device.location_id))
            .map(|c| c.to_engine())
            .collect(),
    ))
}
