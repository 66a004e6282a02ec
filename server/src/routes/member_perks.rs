//! Member perks over the API: a member checks in (their current member code in
//! `X-Member-Code`), sets their birthday once, and sees their check-ins; head office reads and
//! sets the perk rules ([`crate::app::member_perks`]).

use axum::extract::State;
use axum::http::HeaderMap;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::Json;
use crate::actor::StaffActor;
use crate::app::member_perks::{self, CheckinOutcome};
use crate::app::AppState;
use crate::error::AppResult;
use crate::storage::member_perks::{Checkin, PerkRules};

/// Member perk routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(checkin))
        .routes(routes!(my_perks))
        .routes(routes!(set_birthday))
        .routes(routes!(get_rules, set_rules))
}

/// Checks the member in for today (China time): points and growth by the rules, a streak bonus
/// every N days in a row. Once a day: a repeat answers today's check-in with `new: false`.
#[utoipa::path(post, path = "/members/me/checkin", tag = "members",
    params(("X-Member-Code" = String, Header, description = "the member's current member code (MC1)")),
    responses((status = 200, body = CheckinOutcome), (status = 401, body = crate::error::ErrorBody)))]
async fn checkin(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> AppResult<Json<CheckinOutcome>> {
    let member = super::member_from_headers(&state, &headers)?;
    Ok(Json(member_perks::checkin(&state, member).await?))
}

/// A member's perks.
#[derive(Debug, Serialize, ToSchema)]
pub struct MyPerks {
    /// Check-ins of the last seven days, latest first.
    pub checkins: Vec<Checkin>,
    /// Days in a row up to today or yesterday (0: the streak is broken).
    pub streak: i64,
    /// The birthday (`MM-DD`), once set.
    pub birthday: Option<String>,
    /// Points of this year's birthday perk, once granted.
    pub birthday_perk_points: Option<i64>,
}

/// The member's check-ins, streak and birthday.
#[utoipa::path(get, path = "/members/me/perks", tag = "members",
    params(("X-Member-Code" = String, Header, description = "the member's current member code (MC1)")),
    responses((status = 200, body = MyPerks), (status = 401, body = crate::error::ErrorBody)))]
async fn my_perks(State(state): State<AppState>, headers: HeaderMap) -> AppResult<Json<MyPerks>> {
    let member = super::member_from_headers(&state, &headers)?;
    let (checkins, streak) = member_perks::recent(&state, member).await?;
    Ok(Json(MyPerks {
        checkins,
        streak,
        birthday: member_perks::birthday(&state, member).await?,
        birthday_perk_points: member_perks::this_years_perk(&state, member)
            .await?
            .map(|(points, _)| points),
    }))
}

/// A birthday to set.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetBirthday {
    /// `MM-DD` (or `YYYY-MM-DD`; the year is not kept).
    pub birthday: String,
}

/// Sets the member's birthday, once (409 `birthday_set` afterwards; 422 for a day that does not
/// exist).
#[utoipa::path(put, path = "/members/me/birthday", tag = "members",
    params(("X-Member-Code" = String, Header, description = "the member's current member code (MC1)")),
    request_body = SetBirthday,
    responses((status = 200, body = MyPerks), (status = 401, body = crate::error::ErrorBody),
        (status = 409, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
async fn set_birthday(
    State(state): State<AppState>,
    headers: HeaderMap,
    Json(req): Json<SetBirthday>,
) -> AppResult<Json<MyPerks>> {
    let member = super::member_from_headers(&state, &headers)?;
    member_perks::set_birthday(&state, member, &req.birthday).await?;
    my_perks(State(state), headers).await
}

/// The perk rules (staff).
#[utoipa::path(get, path = "/member-perks/rules", tag = "members", security(("staff" = [])),
    responses((status = 200, body = PerkRules)))]
async fn get_rules(
    _staff: StaffActor,
    State(state): State<AppState>,
) -> AppResult<Json<PerkRules>> {
    Ok(Json(member_perks::rules(&state).await?))
}

/// Replaces the perk rules (head office; audited as `member_perks.rules`).
#[utoipa::path(put, path = "/member-perks/rules", tag = "members", security(("staff" = [])),
    request_body = PerkRules,
    responses((status = 200, body = PerkRules), (status = 403, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody)))]
async fn set_rules(
    staff: StaffActor,
    State(state): State<AppState>,
    Json(rules): Json<PerkRules>,
) -> AppResult<Json<PerkRules>> {
    member_perks::set_rules(&state, &staff, &rules).await?;
    Ok(Json(member_perks::rules(&state).await?))
}
