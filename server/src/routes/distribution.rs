//! Share links and distribution (分销) over the API: a member (their current member code in
//! `X-Member-Code`) gets their attributed share link, opens one (recorded, binding them to a
//! distributor sharer), and runs their distributor centre (apply, balances, team, ledger,
//! withdrawals); anyone resolves a share code and reads the leaderboard; head office decides
//! applications, sets commission rates, decides and pays withdrawals, and reads the report
//! ([`crate::app::shares`], [`crate::app::distribution`]).

use axum::extract::State;
use axum::http::HeaderMap;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::{Json, Path, Query};
use crate::actor::{Role, StaffActor};
use crate::app::distribution::{self, Centre, Leader, NewWithdrawal, TeamMember, WithdrawalStep};
use crate::app::shares::{self, Share, ShareTarget};
use crate::app::AppState;
use crate::error::{AppError, AppResult};
use crate::storage;
use crate::storage::distribution::{
    CommissionRate, DistributionReport, Distributor, LedgerRow, Withdrawal,
};

/// Share and distribution routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(my_link))
        .routes(routes!(resolve))
        .routes(routes!(open))
        .routes(routes!(apply))
        .routes(routes!(my_centre))
        .routes(routes!(my_team))
        .routes(routes!(my_ledger))
        .routes(routes!(withdraw, my_withdrawals))
        .routes(routes!(leaderboard))
        .routes(routes!(distributors))
        .routes(routes!(decide_distributor))
        .routes(routes!(rates, set_rate))
        .routes(routes!(withdrawals))
        .routes(routes!(decide_withdrawal))
        .routes(routes!(report))
}

const MEMBER: &str = "the member's current member code (MC1)";

/// What to share.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LinkRequest {
    /// `product:<sku id>` or `group:<team id>`.
    pub target: String,
}

/// An attributed share link.
#[derive(Debug, Serialize, ToSchema)]
pub struct ShareLink {
    /// The shop path with the share code (`/p/{product}?sku={sku}&s=…`, `/group/{team}?s=…`);
    /// the same for the same member and target every time.
    pub path: String,
    /// The share code alone.
    pub code: String,
}

/// The member's share link of a product SKU or a group-buy team (deterministic and signed).
/// 422 for a target that is not `product:<uuid>` or `group:<uuid>`, 404 when it does not exist.
#[utoipa::path(post, path = "/shares/link", tag = "distribution",
    params(("X-Member-Code" = String, Header, description = MEMBER)),
    request_body = LinkRequest,
    responses((status = 200, body = ShareLink), (status = 401, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
async fn my_link(
    State(state): State<AppState>,
    headers: HeaderMap,
    Json(req): Json<LinkRequest>,
) -> AppResult<Json<ShareLink>> {
    let member = super::member_from_headers(&state, &headers)?;
    let target = ShareTarget::parse(req.target.trim())
        .ok_or_else(|| AppError::field("target", "product:<sku id> or group:<team id>"))?;
    let path = shares::share_link(&state, member, target).await?;
    Ok(Json(ShareLink {
        path,
        code: shares::share_code(&state, member, target),
    }))
}

/// A share code to resolve or open.
#[derive(Debug, Deserialize, IntoParams, ToSchema)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct CodeQuery {
    /// The share code (`s` of a share link).
    pub code: String,
}

/// Who shared what: 400 `bad_share_code` for a tampered, truncated or unknown code. Changes
/// nothing.
#[utoipa::path(get, path = "/shares/resolve", tag = "distribution", params(CodeQuery),
    responses((status = 200, body = Share)))]
async fn resolve(
    State(state): State<AppState>,
    Query(q): Query<CodeQuery>,
) -> AppResult<Json<Share>> {
    Ok(Json(shares::resolve_or_400(&state, &q.code)?))
}

/// The member opened a share link: recorded once per member per share, and the member bound to
/// the sharer when the sharer is an active distributor and no binding is in force (first
/// touch). 400 `bad_share_code` for a code that is not valid (nothing recorded).
#[utoipa::path(post, path = "/shares/open", tag = "distribution",
    params(("X-Member-Code" = String, Header, description = MEMBER)),
    request_body = CodeQuery,
    responses((status = 200, body = Share), (status = 401, body = crate::error::ErrorBody)))]
async fn open(
    State(state): State<AppState>,
    headers: HeaderMap,
    Json(req): Json<CodeQuery>,
) -> AppResult<Json<Share>> {
    let member = super::member_from_headers(&state, &headers)?;
    Ok(Json(
        shares::open_by_api(&state, &req.code, Some(member)).await?,
    ))
}

/// The member applies to become a distributor: `active` at once by the automatic rule, else
/// `applied` for head office. A repeat answers the current state.
#[utoipa::path(post, path = "/distributor/apply", tag = "distribution",
    params(("X-Member-Code" = String, Header, description = MEMBER)),
    responses((status = 200, body = Distributor), (status = 401, body = crate::error::ErrorBody)))]
async fn apply(State(state): State<AppState>, headers: HeaderMap) -> AppResult<Json<Distributor>> {
    let member = super::member_from_headers(&state, &headers)?;
    Ok(Json(distribution::apply(&state, member).await?))
}

/// The member's distributor centre: status, balances (frozen, available, withdrawing,
/// withdrawn), share figures.
#[utoipa::path(get, path = "/distributor", tag = "distribution",
    params(("X-Member-Code" = String, Header, description = MEMBER)),
    responses((status = 200, body = Centre), (status = 401, body = crate::error::ErrorBody)))]
async fn my_centre(State(state): State<AppState>, headers: HeaderMap) -> AppResult<Json<Centre>> {
    let member = super::member_from_headers(&state, &headers)?;
    Ok(Json(distribution::centre(&state, member).await?))
}

/// The member's team: bound buyers and recruited sub-distributors, masked.
#[utoipa::path(get, path = "/distributor/team", tag = "distribution",
    params(("X-Member-Code" = String, Header, description = MEMBER)),
    responses((status = 200, body = Vec<TeamMember>), (status = 401, body = crate::error::ErrorBody)))]
async fn my_team(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> AppResult<Json<Vec<TeamMember>>> {
    let member = super::member_from_headers(&state, &headers)?;
    Ok(Json(distribution::team(&state, member).await?))
}

/// One kind of ledger row.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LedgerQuery {
    /// `commission`, `release`, `reversal`, `withdrawal_hold`, `withdrawal_paid` or
    /// `withdrawal_rejected` (none: all).
    pub kind: Option<String>,
}

/// The member's ledger (latest 200 rows): commission by order and level, releases, reversals,
/// withdrawals.
#[utoipa::path(get, path = "/distributor/ledger", tag = "distribution",
    params(LedgerQuery, ("X-Member-Code" = String, Header, description = MEMBER)),
    responses((status = 200, body = Vec<LedgerRow>), (status = 401, body = crate::error::ErrorBody)))]
async fn my_ledger(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<LedgerQuery>,
) -> AppResult<Json<Vec<LedgerRow>>> {
    let member = super::member_from_headers(&state, &headers)?;
    Ok(Json(
        distribution::ledger(&state, member, q.kind.as_deref().filter(|k| !k.is_empty())).await?,
    ))
}

/// Asks to withdraw (by client id: a retry answers the first request); the amount is held from
/// available. 403 for a member who is not an active distributor; 409 `insufficient_balance`
/// above what is available (nothing changed) or `id_in_use`; 422 for an amount not above zero.
#[utoipa::path(post, path = "/distributor/withdrawals", tag = "distribution",
    params(("X-Member-Code" = String, Header, description = MEMBER)),
    request_body = NewWithdrawal,
    responses((status = 200, body = Withdrawal), (status = 401, body = crate::error::ErrorBody),
        (status = 403, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody)))]
async fn withdraw(
    State(state): State<AppState>,
    headers: HeaderMap,
    Json(req): Json<NewWithdrawal>,
) -> AppResult<Json<Withdrawal>> {
    let member = super::member_from_headers(&state, &headers)?;
    Ok(Json(
        distribution::request_withdrawal(&state, member, &req).await?,
    ))
}

/// The member's withdrawals, latest first.
#[utoipa::path(get, path = "/distributor/withdrawals", tag = "distribution",
    params(("X-Member-Code" = String, Header, description = MEMBER)),
    responses((status = 200, body = Vec<Withdrawal>), (status = 401, body = crate::error::ErrorBody)))]
async fn my_withdrawals(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> AppResult<Json<Vec<Withdrawal>>> {
    let member = super::member_from_headers(&state, &headers)?;
    Ok(Json(
        storage::distribution::withdrawals(&state.store, None, Some(member)).await?,
    ))
}

/// The top 20 distributors by commission this month (China time), masked.
#[utoipa::path(get, path = "/distribution/leaderboard", tag = "distribution",
    responses((status = 200, body = Vec<Leader>)))]
async fn leaderboard(State(state): State<AppState>) -> AppResult<Json<Vec<Leader>>> {
    Ok(Json(distribution::leaderboard(&state, 20).await?))
}

/// A status to list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StatusQuery {
    /// Only this status (none: all).
    pub status: Option<String>,
}

/// Distributors and applications (head office), newest first, at most 500.
#[utoipa::path(get, path = "/distribution/distributors", tag = "distribution",
    security(("staff" = [])), params(StatusQuery),
    responses((status = 200, body = Vec<Distributor>), (status = 403, body = crate::error::ErrorBody)))]
async fn distributors(
    staff: StaffActor,
    State(state): State<AppState>,
    Query(q): Query<StatusQuery>,
) -> AppResult<Json<Vec<Distributor>>> {
    staff.require(&[Role::HeadOfficeAdmin])?;
    Ok(Json(
        storage::distribution::distributors(&state.store, q.status.as_deref()).await?,
    ))
}

/// Head office's decision.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DistributionDecision {
    /// `approve` or `reject` (an application); `approve`, `reject` or `paid` (a withdrawal).
    pub action: String,
    /// A rejection's reason or note; a paid withdrawal's payment reference (required).
    #[serde(default)]
    pub text: String,
}

/// Approves or rejects an application (head office; audited). 404 for none, 409 `not_waiting`
/// when it was decided otherwise already, 422 for another action.
#[utoipa::path(post, path = "/distribution/distributors/{member_id}/decide", tag = "distribution",
    security(("staff" = [])), params(("member_id" = Uuid, Path, description = "the applicant")),
    request_body = DistributionDecision,
    responses((status = 200, body = Distributor), (status = 403, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody)))]
async fn decide_distributor(
    staff: StaffActor,
    State(state): State<AppState>,
    Path(member_id): Path<Uuid>,
    Json(req): Json<DistributionDecision>,
) -> AppResult<Json<Distributor>> {
    let approve = match req.action.as_str() {
        "approve" => true,
        "reject" => false,
        _ => return Err(AppError::field("action", "approve or reject")),
    };
    Ok(Json(
        distribution::decide(&state, &staff, member_id, approve, &req.text).await?,
    ))
}

/// The commission rates (head office): the default, per category, per SKU, in basis points per
/// level.
#[utoipa::path(get, path = "/distribution/rates", tag = "distribution", security(("staff" = [])),
    responses((status = 200, body = Vec<CommissionRate>), (status = 403, body = crate::error::ErrorBody)))]
async fn rates(
    staff: StaffActor,
    State(state): State<AppState>,
) -> AppResult<Json<Vec<CommissionRate>>> {
    staff.require(&[Role::HeadOfficeAdmin])?;
    Ok(Json(storage::distribution::rates(&state.store).await?))
}

/// Sets a rate (head office; audited as `commission_rate.set`): 0 to 5000 basis points per
/// level; 422 otherwise, or for an unknown SKU.
#[utoipa::path(put, path = "/distribution/rates", tag = "distribution", security(("staff" = [])),
    request_body = CommissionRate,
    responses((status = 200, body = Vec<CommissionRate>), (status = 403, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody)))]
async fn set_rate(
    staff: StaffActor,
    State(state): State<AppState>,
    Json(req): Json<CommissionRate>,
) -> AppResult<Json<Vec<CommissionRate>>> {
    distribution::set_rate(&state, &staff, &req).await?;
    Ok(Json(storage::distribution::rates(&state.store).await?))
}

/// Withdrawals (head office): the queue by status, newest first, at most 500.
#[utoipa::path(get, path = "/distribution/withdrawals", tag = "distribution",
    security(("staff" = [])), params(StatusQuery),
    responses((status = 200, body = Vec<Withdrawal>), (status = 403, body = crate::error::ErrorBody)))]
async fn withdrawals(
    staff: StaffActor,
    State(state): State<AppState>,
    Query(q): Query<StatusQuery>,
) -> AppResult<Json<Vec<Withdrawal>>> {
    staff.require(&[Role::HeadOfficeAdmin])?;
    Ok(Json(
        storage::distribution::withdrawals(&state.store, q.status.as_deref(), None).await?,
    ))
}

/// Approves, rejects (back to available) or marks paid offline (with the payment's reference)
/// a withdrawal (head office; audited). A repeat answers it as it is; 409 `invalid_transition`
/// from another status; 404 when unknown; 422 for another action or a paid one without a
/// reference.
#[utoipa::path(post, path = "/distribution/withdrawals/{id}/decide", tag = "distribution",
    security(("staff" = [])), params(("id" = Uuid, Path, description = "the withdrawal")),
    request_body = DistributionDecision,
    responses((status = 200, body = Withdrawal), (status = 403, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody)))]
async fn decide_withdrawal(
    staff: StaffActor,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    Json(req): Json<DistributionDecision>,
) -> AppResult<Json<Withdrawal>> {
    let step = match req.action.as_str() {
        "approve" => WithdrawalStep::Approve,
        "reject" => WithdrawalStep::Reject,
        "paid" => WithdrawalStep::MarkPaid,
        _ => return Err(AppError::field("action", "approve, reject or paid")),
    };
    Ok(Json(
        distribution::decide_withdrawal(&state, &staff, id, step, &req.text).await?,
    ))
}

/// Head office's report: distributors, applications, commission credited, reversed, released,
/// frozen and available now, withdrawals waiting and paid.
#[utoipa::path(get, path = "/distribution/report", tag = "distribution", security(("staff" = [])),
    responses((status = 200, body = DistributionReport), (status = 403, body = crate::error::ErrorBody)))]
async fn report(
    staff: StaffActor,
    State(state): State<AppState>,
) -> AppResult<Json<DistributionReport>> {
    Ok(Json(distribution::report(&state, &staff).await?))
}
