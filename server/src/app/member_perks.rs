//! Member perks (issue 17): the **daily check-in** (签到) — once per China day, points and
//! growth by head office's rules, a streak of days in a row with a bonus every N days — and the
//! **birthday perk** (生日礼): a member sets their birthday (month and day) once; in their
//! birthday month they get points and, when head office names one, a coupon, once a year.
//!
//! The check-in is one transaction: the day's row (one per member and day, so a double tap or
//! two devices at once check in once) and the points and growth, idempotent by
//! `checkin:{member}:{day}` (an `earn` row). The birthday perks are granted by the sweeper from the database
//! ([`grant_birthdays`], hourly), each in its own transaction guarded by the year's row, so a
//! restart or a second server instance never grants twice; the member is told in the message
//! centre ([`super::account_notices`]). A birthday set during its own month
//! waits for next year (no perk for changing the date to this month).

use chrono::{Datelike, TimeZone, Utc};
use uuid::Uuid;

use super::{china_day, china_offset, AppState};
use crate::actor::{Role, StaffActor};
use crate::error::{AppError, AppResult};
use crate::storage;
use crate::storage::member_perks::{Checkin, PerkRules};

/// The actor name of perks the server grants.
pub const PERKS_ACTOR: &str = "system:perks";

/// How many days of check-ins the member centre shows.
pub const SHOWN_DAYS: i64 = 7;

/// What a check-in on a day with `streak` days in a row brings under `rules`: (points, growth).
pub fn checkin_reward(rules: &PerkRules, streak: i64) -> (i64, i64) {
    let bonus = if rules.streak_days > 0 && streak > 0 && streak % rules.streak_days == 0 {
        rules.streak_bonus_points
    } else {
        0
    };
    (rules.checkin_points + bonus, rules.checkin_growth)
}

/// A check-in's answer: the day's check-in and whether this request made it.
#[derive(Clone, Debug, serde::Serialize, utoipa::ToSchema)]
pub struct CheckinOutcome {
    /// Today's check-in.
    pub checkin: Checkin,
    /// False when the member had checked in today already (nothing more given).
    pub new: bool,
}

/// Checks the member in for today (China time): points and growth by the rules, the streak
/// continued from yesterday's check-in or started again. Once per day: a repeat answers the
/// day's check-in with `new: false`. A deleted account: 404.
pub async fn checkin(state: &AppState, member: Uuid) -> AppResult<CheckinOutcome> {
    let rules = storage::member_perks::rules(&state.store).await?;
    let now = Utc::now();
    let day = china_day(now.timestamp_millis());
    let mut tx = state.store.begin().await?;
    if !storage::members::exists(&state.store, member).await? {
        return Err(AppError::not_found("member not found"));
    }
    let streak = storage::member_perks::streak_on_in_tx(&mut tx, member, day - 1)
        .await?
        .unwrap_or(0)
        + 1;
    let (points, growth) = checkin_reward(&rules, streak);
    let checkin = Checkin {
        day,
        streak,
        points,
        growth,
        at: now,
    };
    let new = storage::member_perks::insert_checkin_in_tx(&mut tx, member, &checkin).await?;
    if new {
        let reason = if points > rules.checkin_points {
            format!("每日签到 daily check-in, {streak} days in a row")
        } else {
            "每日签到 daily check-in".to_owned()
        };
        storage::members::credit_points_in_tx(
            &mut tx,
            &state.settings.points,
            member,
            points,
            growth,
            &reason,
            &format!("checkin:{member}:{day}"),
            &format!("member:{member}"),
        )
        .await?;
        tx.commit().await?;
        return Ok(CheckinOutcome { checkin, new });
    }
    drop(tx);
    let today = storage::member_perks::checkins_since(&state.store, member, day)
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("check-in of day {day} vanished")))?;
    Ok(CheckinOutcome {
        checkin: today,
        new: false,
    })
}

/// The member's check-ins of the last [`SHOWN_DAYS`] days, latest first, and the current
/// streak (0 when they checked in neither today nor yesterday).
pub async fn recent(state: &AppState, member: Uuid) -> AppResult<(Vec<Checkin>, i64)> {
    let today = china_day(storage::now_ms());
    let list =
        storage::member_perks::checkins_since(&state.store, member, today - (SHOWN_DAYS - 1))
            .await?;
    let streak = list
        .first()
        .filter(|c| c.day >= today - 1)
        .map_or(0, |c| c.streak);
    Ok((list, streak))
}

/// `MM-DD` of a birthday typed as `MM-DD`, `M-D` or `YYYY-MM-DD` (the year is dropped), a real
/// day of the year (29 February allowed); 422 on `birthday` otherwise.
pub fn parse_birthday(text: &str) -> AppResult<String> {
    let bad = || AppError::field("birthday", "a date like 05-20 (month-day)");
    let parts: Vec<&str> = text.trim().split('-').collect();
    let (m, d) = match parts.as_slice() {
        [m, d] => (*m, *d),
        [y, m, d] if y.len() == 4 && y.bytes().all(|b| b.is_ascii_digit()) => (*m, *d),
        _ => return Err(bad()),
    };
    let m: u32 = m.parse().map_err(|_| bad())?;
    let d: u32 = d.parse().map_err(|_| bad())?;
    // 2024 is a leap year: 02-29 is a birthday too.
    chrono::NaiveDate::from_ymd_opt(2024, m, d).ok_or_else(bad)?;
    Ok(format!("{m:02}-{d:02}"))
}

/// Sets the member's birthday, once (409 `birthday_set` when it is set already: a change goes
/// through customer service).
pub async fn set_birthday(state: &AppState, member: Uuid, text: &str) -> AppResult<String> {
    let month_day = parse_birthday(text)?;
    if !storage::member_perks::set_birthday(&state.store, member, &month_day).await? {
        return Err(AppError::conflict(
            "birthday_set",
            "the birthday is set already; ask customer service to change it",
        ));
    }
    Ok(month_day)
}

/// The member's birthday (`MM-DD`), if set.
pub async fn birthday(state: &AppState, member: Uuid) -> AppResult<Option<String>> {
    Ok(storage::member_perks::birthday(&state.store, member)
        .await?
        .map(|(md, _)| md))
}

/// The birthday perk the member got this year (China time): points and coupon.
pub async fn this_years_perk(
    state: &AppState,
    member: Uuid,
) -> AppResult<Option<(i64, Option<Uuid>)>> {
    let year = i64::from(Utc::now().with_timezone(&china_offset()).year());
    Ok(
        storage::member_perks::birthday_perk(&state.store, member, year)
            .await?
            .map(|(points, coupon, _)| (points, coupon)),
    )
}

/// Grants this month's birthday perks (the sweeper, hourly): every member whose birthday is in
/// the current China month, set before the month began, without this year's perk — points
/// (`birthday:{member}:{year}`) and, when head office names a template, one coupon of it. Each
/// in its own transaction guarded by the year's row. Returns how many were granted.
pub async fn grant_birthdays(state: &AppState) -> AppResult<usize> {
    let rules = storage::member_perks::rules(&state.store).await?;
    let now = Utc::now().with_timezone(&china_offset());
    let year = i64::from(now.year());
    let month_start = china_offset()
        .with_ymd_and_hms(now.year(), now.month(), 1, 0, 0, 0)
        .single()
        .map_or(0, |t| t.timestamp_millis());
    let month = format!("{:02}", now.month());
    let mut granted = 0;
    loop {
        let due =
            storage::member_perks::birthdays_due(&state.store, &month, year, month_start, 200)
                .await?;
        if due.is_empty() {
            return Ok(granted);
        }
        for member in due {
            if grant_one(state, &rules, member, year).await? {
                granted += 1;
            }
        }
    }
}

async fn grant_one(
    state: &AppState,
    rules: &PerkRules,
    member: Uuid,
    year: i64,
) -> AppResult<bool> {
    let mut tx = state.store.begin().await?;
    if !storage::member_perks::insert_birthday_perk_in_tx(
        &mut tx,
        member,
        year,
        rules.birthday_points,
        None,
    )
    .await?
    {
        return Ok(false);
    }
    storage::members::credit_points_in_tx(
        &mut tx,
        &state.settings.points,
        member,
        rules.birthday_points,
        0,
        &format!("生日礼 birthday perk {year}"),
        &format!("birthday:{member}:{year}"),
        PERKS_ACTOR,
    )
    .await?;
    let mut coupon_issued = None;
    if let Some(template) = rules.birthday_coupon_template_id {
        match storage::coupons::issue(
            &mut tx,
            template,
            member,
            retail_domain::ids::new_id(),
            PERKS_ACTOR,
        )
        .await
        {
            Ok(coupon) => {
                storage::member_perks::set_birthday_coupon_in_tx(&mut tx, member, year, coupon.id)
                    .await?;
                coupon_issued = Some(coupon.terms.name_zh);
            }
            // Ended, sold out or the member's limit reached: the points still come.
            Err(AppError::Conflict { code, .. }) => {
                tracing::warn!(%member, %template, code, "the birthday coupon was not issued");
            }
            Err(other) => return Err(other),
        }
    }
    storage::account_notices::record_in_tx(
        &mut tx,
        member,
        storage::account_notices::BIRTHDAY_PERK,
        &year.to_string(),
        &serde_json::json!({"points": rules.birthday_points, "coupon": coupon_issued}),
    )
    .await?;
    tx.commit().await?;
    Ok(true)
}

/// The perk rules.
pub async fn rules(state: &AppState) -> AppResult<PerkRules> {
    storage::member_perks::rules(&state.store).await
}

/// Head office replaces the perk rules (403 for anyone else): amounts 0–10,000, a streak of
/// 0–31 days, the birthday coupon a template that exists (422 on the field otherwise). Audited.
pub async fn set_rules(state: &AppState, staff: &StaffActor, rules: &PerkRules) -> AppResult<()> {
    staff.require(&[Role::HeadOfficeAdmin])?;
    for (field, value, max) in [
        ("checkin_points", rules.checkin_points, 10_000),
        ("checkin_growth", rules.checkin_growth, 10_000),
        ("streak_days", rules.streak_days, 31),
        ("streak_bonus_points", rules.streak_bonus_points, 10_000),
        ("birthday_points", rules.birthday_points, 10_000),
    ] {
        if !(0..=max).contains(&value) {
            return Err(AppError::field(field, format!("0 to {max}")));
        }
    }
    if let Some(template) = rules.birthday_coupon_template_id {
        if storage::coupons::template_by_id(&state.store, template)
            .await?
            .is_none()
        {
            return Err(AppError::field(
                "birthday_coupon_template_id",
                "no such coupon template",
            ));
        }
    }
    storage::member_perks::set_rules(&state.store, rules, &staff.actor()).await
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn rules() -> PerkRules {
        PerkRules {
            checkin_points: 5,
            checkin_growth: 1,
            streak_days: 7,
            streak_bonus_points: 20,
            birthday_points: 100,
            birthday_coupon_template_id: None,
        }
    }

    #[test]
    fn every_seventh_day_in_a_row_brings_the_bonus() {
        let r = rules();
        assert_eq!(checkin_reward(&r, 1), (5, 1));
        assert_eq!(checkin_reward(&r, 6), (5, 1));
        assert_eq!(checkin_reward(&r, 7), (25, 1));
        assert_eq!(checkin_reward(&r, 14), (25, 1));
        let no_streak = PerkRules {
            streak_days: 0,
            ..rules()
        };
        assert_eq!(checkin_reward(&no_streak, 7), (5, 1));
    }

    #[test]
    fn birthdays_are_month_and_day() {
        assert_eq!(parse_birthday("5-20").unwrap(), "05-20");
        assert_eq!(parse_birthday("1990-12-01").unwrap(), "12-01");
        assert_eq!(parse_birthday("02-29").unwrap(), "02-29");
        for bad in [
            "02-30",
            "13-01",
            "",
            "12",
            "ab-cd",
            "19-90-12-01",
            "90-12-01",
        ] {
            assert!(parse_birthday(bad).is_err(), "{bad}");
        }
    }
}
