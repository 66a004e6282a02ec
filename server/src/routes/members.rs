//! Members: registration and look-up, points and stored-balance ledgers, manual point
//! adjustments, stored-balance top-ups, and member codes (docs/DESIGN.md §4, §7).
//!
//! Phone numbers are taken in any common form (`13800138000`, `+86 138 0013 8000`,
//! `8613800138000`), normalised to the 11-digit mainland mobile number, and never stored or
//! shown in clear: answers carry the masked form `138****8000`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use retail_domain::codes::{CodeError, SignedCode};
use retail_domain::money::Money;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::{Json, PageQuery, Path, Query};
use crate::actor::{Caller, ClientAddr, StaffActor};
use crate::app::members::MEMBER_CODE_TTL_SECS;
use crate::app::AppState;
use crate::error::{AppError, AppResult};
use crate::storage;
use crate::storage::members::{BalanceEntry, Member, Page, PointsEntry, Registration};
use crate::storage::paging;

/// Look-ups (by phone or by member code) and registrations allowed per caller per minute: a
/// registration answers whether the phone is a member, so it counts as a look-up.
const LOOKUPS_PER_MINUTE: u32 = 30;

/// Look-ups and registrations allowed per client address per minute (all callers together).
const LOOKUPS_PER_ADDRESS_PER_MINUTE: u32 = 60;

/// Members one staff account may register per day (a till signs up a few dozen).
const REGISTRATIONS_PER_STAFF_PER_DAY: u32 = 500;

/// Counts one phone look-up (or registration) of `actor` from `from`.
async fn count_lookup(state: &AppState, actor: &str, from: ClientAddr) -> AppResult<()> {
    state
        .limiter
        .check(&format!("member-lookup:{actor}"), LOOKUPS_PER_MINUTE)
        .await?;
    state
        .limiter
        .check(
            &format!("member-lookup:{}", from.limit_key()),
            LOOKUPS_PER_ADDRESS_PER_MINUTE,
        )
        .await
}

/// Member routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(register))
        .routes(routes!(lookup))
        .routes(routes!(get_member))
        .routes(routes!(points_ledger))
        .routes(routes!(balance_ledger))
        .routes(routes!(adjust_points))
        .routes(routes!(topup))
        .routes(routes!(issue_member_code))
        .routes(routes!(resolve_code))
}

/// Registration request.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterMember {
    /// Client-generated id (UUIDv7); a retry with the same id answers the same member.
    pub id: Uuid,
    /// Mainland mobile number, e.g. `13800138000` (a `+86`/`86` prefix, spaces and `-` are fine).
    pub phone: String,
    /// Name (optional, at most 64 characters).
    pub name: Option<String>,
}

/// Phone look-up (in the body: phone numbers never travel in URLs, which end up in logs).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PhoneLookup {
    /// Mobile number, as for registration.
    pub phone: String,
}

/// A manual points adjustment.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PointsAdjustment {
    /// Client-generated id (UUIDv7); a retry with the same id answers the first result.
    pub id: Uuid,
    /// Points to add (positive) or take (negative); not 0, at most 1,000,000 either way.
    pub delta: i64,
    /// Why (required, at most 200 characters).
    pub reason: String,
}

/// The adjustment as recorded, and the balance after it.
#[derive(Debug, Serialize, ToSchema)]
pub struct PointsAdjusted {
    /// The ledger row.
    pub entry: PointsEntry,
    /// Points balance after the adjustment.
    pub points: i64,
}

/// A stored-balance top-up.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TopUp {
    /// Client-generated id (UUIDv7); a retry with the same id answers the first result.
    pub id: Uuid,
    /// Amount, e.g. `"100.00"` (positive, at most `members.topup_max_per_call`, default
    /// 5000.00; each member of staff at most `members.topup_max_per_staff_per_day` a day).
    pub amount: Money,
    /// How the money was taken: `cash` or `card` (recorded in the ledger).
    pub tender: crate::app::members::TopUpTender,
}

/// The top-up as recorded, and the balance after it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ToppedUp {
    /// The ledger row.
    pub entry: BalanceEntry,
    /// Stored balance after the top-up.
    pub balance: Money,
}

/// A signed member code for the shopper's phone.
#[derive(Debug, Serialize, ToSchema)]
pub struct MemberCodeIssued {
    /// The code text (`MC1.…`), to show as a QR code.
    pub code: String,
    /// When it stops being accepted (about 60 s from now).
    pub expires_at: chrono::DateTime<chrono::Utc>,
}

/// A scanned code to resolve.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResolveCode {
    /// The scanned text (`MC1.…`).
    pub code: String,
}

/// Body of the 409 `member_exists` answer: the usual error plus the existing member's id.
#[derive(Debug, Serialize, ToSchema)]
pub struct MemberExistsBody {
    /// The error.
    pub error: MemberExistsDetail,
}

/// The error inside [`MemberExistsBody`].
#[derive(Debug, Serialize, ToSchema)]
pub struct MemberExistsDetail {
    /// `member_exists`.
    pub code: String,
    /// Human message.
    pub message: String,
    /// The member this phone number is registered to.
    pub member_id: Uuid,
}

fn check_v7(id: Uuid) -> AppResult<()> {
    retail_domain::ids::require_v7(id)
        .map(|_| ())
        .map_err(|e| AppError::field("id", e.to_string()))
}

fn phone_of(text: &str) -> AppResult<String> {
    storage::members::normalize_phone(text).map_err(|m| AppError::field("phone", m))
}

fn invalid_code(message: impl Into<String>) -> AppError {
    let message = message.into();
    AppError::Invalid {
        code: "invalid_code",
        message: format!("code: {message}"),
        fields: [("code".to_owned(), message)].into_iter().collect(),
    }
}

/// Registers a member (staff only, with the shopper present; devices may not). It answers
/// whether the phone is a member, so it counts against the caller's look-up limit.
#[utoipa::path(post, path = "/members", tag = "members", security(("staff" = [])), request_body = RegisterMember,
    responses((status = 200, description = "the member (new, or the first result of a retry)", body = Member),
        (status = 403, description = "not staff (a device)", body = crate::error::ErrorBody),
        (status = 409, description = "member_exists: the phone is registered to `member_id`; id_in_use", body = MemberExistsBody),
        (status = 422, body = crate::error::ErrorBody), (status = 429, body = crate::error::ErrorBody)))]
async fn register(
    caller: Caller,
    from: ClientAddr,
    State(state): State<AppState>,
    Json(req): Json<RegisterMember>,
) -> AppResult<Response> {
    let Caller::Staff(staff) = &caller else {
        return Err(AppError::Forbidden(
            "members are registered by staff at the till".into(),
        ));
    };
    check_v7(req.id)?;
    let phone = phone_of(&req.phone)?;
    count_lookup(&state, &staff.actor(), from).await?;
    state
        .limiter
        .check_all(&[crate::app::limits::Limit::new(
            format!("member-register:{}", staff.actor()),
            REGISTRATIONS_PER_STAFF_PER_DAY,
            std::time::Duration::from_secs(24 * 3600),
        )])
        .await?;
    let name = req.name.as_deref().unwrap_or("").trim();
    if name.chars().count() > 64 || name.chars().any(char::is_control) {
        return Err(AppError::field(
            "name",
            "must be at most 64 characters, without control characters",
        ));
    }
    let outcome = storage::members::register(
        &state.store,
        &state.keys,
        &state.settings.points,
        req.id,
        &phone,
        name,
    )
    .await?;
    Ok(match outcome {
        Registration::Created(member) => {
            tracing::info!(member = %member.id, by = %caller.actor(), "member registered");
            Json(member).into_response()
        }
        Registration::Existing(member) => Json(member).into_response(),
        Registration::PhoneTaken(member_id) => (
            StatusCode::CONFLICT,
            Json(MemberExistsBody {
                error: MemberExistsDetail {
                    code: "member_exists".into(),
                    message: format!(
                        "this phone number is already registered to member {member_id}"
                    ),
                    member_id,
                },
            }),
        )
            .into_response(),
    })
}

/// Finds a member by phone number, given in the body (rate limited per caller and per client
/// address).
#[utoipa::path(post, path = "/members/lookup", tag = "members", security(("staff" = []), ("device" = [])), request_body = PhoneLookup,
    responses((status = 200, body = Member), (status = 404, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody), (status = 429, body = crate::error::ErrorBody)))]
async fn lookup(
    caller: Caller,
    from: ClientAddr,
    State(state): State<AppState>,
    Json(query): Json<PhoneLookup>,
) -> AppResult<Json<Member>> {
    let phone = phone_of(&query.phone)?;
    count_lookup(&state, &caller.actor(), from).await?;
    storage::members::by_phone(&state.store, &state.keys, &state.settings.points, &phone)
        .await?
        .map(Json)
        .ok_or_else(|| AppError::not_found("no member with this phone number"))
}

/// One member: masked phone, tier, points and stored balance.
#[utoipa::path(get, path = "/members/{id}", tag = "members", security(("staff" = []), ("device" = [])),
    params(("id" = Uuid, Path, description = "member id")),
    responses((status = 200, body = Member), (status = 404, body = crate::error::ErrorBody)))]
async fn get_member(
    _caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
) -> AppResult<Json<Member>> {
    Ok(Json(
        storage::members::get(&state.store, &state.keys, &state.settings.points, id).await?,
    ))
}

async fn require_member(state: &AppState, id: Uuid) -> AppResult<()> {
    if storage::members::exists(&state.store, id).await? {
        Ok(())
    } else {
        Err(AppError::not_found(format!("member {id} not found")))
    }
}

/// The member's points ledger, newest first.
#[utoipa::path(get, path = "/members/{id}/points", tag = "members", security(("staff" = []), ("device" = [])),
    params(("id" = Uuid, Path, description = "member id"), PageQuery),
    responses((status = 200, body = Page<PointsEntry>), (status = 404, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
async fn points_ledger(
    _caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    Query(query): Query<PageQuery>,
) -> AppResult<Json<Page<PointsEntry>>> {
    require_member(&state, id).await?;
    let page = storage::members::points_page(
        &state.store,
        id,
        query.cursor.as_deref(),
        paging::api_limit(query.limit),
    )
    .await?;
    Ok(Json(page))
}

/// The member's stored-balance ledger, newest first.
#[utoipa::path(get, path = "/members/{id}/balance", tag = "members", security(("staff" = []), ("device" = [])),
    params(("id" = Uuid, Path, description = "member id"), PageQuery),
    responses((status = 200, body = Page<BalanceEntry>), (status = 404, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
async fn balance_ledger(
    _caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    Query(query): Query<PageQuery>,
) -> AppResult<Json<Page<BalanceEntry>>> {
    require_member(&state, id).await?;
    let page = storage::members::balance_page(
        &state.store,
        id,
        query.cursor.as_deref(),
        paging::api_limit(query.limit),
    )
    .await?;
    Ok(Json(page))
}

/// Adjusts a member's points by hand (head office or a store manager; audited).
#[utoipa::path(post, path = "/members/{id}/points/adjustments", tag = "members", security(("staff" = [])),
    params(("id" = Uuid, Path, description = "member id")), request_body = PointsAdjustment,
    responses((status = 200, body = PointsAdjusted), (status = 403, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody),
        (status = 409, description = "insufficient_points, id_in_use, member_deleted", body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody)))]
async fn adjust_points(
    staff: StaffActor,
    State(state): State<AppState>,
    Path(member_id): Path<Uuid>,
    Json(req): Json<PointsAdjustment>,
) -> AppResult<Json<PointsAdjusted>> {
    let (entry, points) = crate::app::members::adjust_points(
        &state,
        &staff,
        member_id,
        req.id,
        req.delta,
        &req.reason,
    )
    .await?;
    Ok(Json(PointsAdjusted { entry, points }))
}

/// Tops up a member's stored balance (staff of a store, at that store; audited).
#[utoipa::path(post, path = "/members/{id}/balance/topups", tag = "members", security(("staff" = [])),
    params(("id" = Uuid, Path, description = "member id")), request_body = TopUp,
    responses((status = 200, body = ToppedUp), (status = 403, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody), (status = 409, description = "id_in_use, member_deleted", body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody)))]
async fn topup(
    staff: StaffActor,
    State(state): State<AppState>,
    Path(member_id): Path<Uuid>,
    Json(req): Json<TopUp>,
) -> AppResult<Json<ToppedUp>> {
    let (entry, balance) =
        crate::app::members::top_up(&state, &staff, member_id, req.id, req.amount, req.tender)
            .await?;
    Ok(Json(ToppedUp { entry, balance }))
}

/// Issues a member code (valid about 60 s) for the member to show at a till: **demo mode only**
/// (404 otherwise), standing in for the member's phone.
#[utoipa::path(post, path = "/members/{id}/member-code", tag = "members", security(("staff" = [])),
    params(("id" = Uuid, Path, description = "member id")),
    responses((status = 200, body = MemberCodeIssued), (status = 404, body = crate::error::ErrorBody)))]
async fn issue_member_code(
    _staff: StaffActor,
    State(state): State<AppState>,
    Path(member_id): Path<Uuid>,
) -> AppResult<Json<MemberCodeIssued>> {
    // A member code spends the member's points, coupons and balance: only the member's own
    // phone shows one. Staff issuing one stands in for that phone in the demo alone.
    if !state.settings.demo {
        return Err(AppError::not_found(
            "member codes are shown by the member's phone, not issued by staff",
        ));
    }
    require_member(&state, member_id).await?;
    let code = storage::members::member_code(member_id, chrono::Utc::now(), MEMBER_CODE_TTL_SECS);
    let expires_at = code.expires_at;
    let text = state
        .keys
        .signer
        .try_sign(&SignedCode::Member(code))
        .map_err(|e| AppError::Internal(anyhow::anyhow!("signing a member code: {e}")))?;
    Ok(Json(MemberCodeIssued {
        code: text,
        expires_at,
    }))
}

/// Resolves a scanned member code to the member (staff or device; rate limited per caller).
#[utoipa::path(post, path = "/members/resolve-code", tag = "members", security(("staff" = []), ("device" = [])),
    request_body = ResolveCode,
    responses((status = 200, body = Member), (status = 404, body = crate::error::ErrorBody),
        (status = 409, description = "code_expired", body = crate::error::ErrorBody),
        (status = 422, description = "invalid_code: malformed, forged or not a member code", body = crate::error::ErrorBody),
        (status = 429, body = crate::error::ErrorBody)))]
async fn resolve_code(
    caller: Caller,
    State(state): State<AppState>,
    Json(req): Json<ResolveCode>,
) -> AppResult<Json<Member>> {
    state
        .limiter
        .check(
            &format!("member-code:{}", caller.actor()),
            LOOKUPS_PER_MINUTE,
        )
        .await?;
    let code = match state
        .keys
        .verifier()
        .verify(req.code.trim(), chrono::Utc::now())
    {
        Ok(SignedCode::Member(code)) => code,
        Ok(_) => return Err(invalid_code("not a member code")),
        Err(CodeError::Expired) => {
            return Err(AppError::conflict(
                "code_expired",
                "the member code has expired; ask for a fresh one",
            ))
        }
        Err(e) => return Err(invalid_code(e.to_string())),
    };
    storage::members::find_by_id(
        &state.store,
        &state.keys,
        &state.settings.points,
        code.member_id,
    )
    .await?
    .map(Json)
    .ok_or_else(|| AppError::not_found("the member of this code no longer exists"))
}
