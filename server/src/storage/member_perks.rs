//! Member perks: daily check-ins with their streak, members' birthdays (month and day, set
//! once) and the birthday perk granted once a year, and head office's rules for both.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::{col, from_ms, now_ms, uuid_col, Store, Tx};
use crate::error::AppResult;

/// Head office's rules for the perks.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PerkRules {
    /// Points for a day's check-in (0 = none).
    pub checkin_points: i64,
    /// Growth for a day's check-in.
    pub checkin_growth: i64,
    /// Every this many days in a row (0 = no streak bonus) …
    pub streak_days: i64,
    /// … this many more points.
    pub streak_bonus_points: i64,
    /// Points for the birthday perk (once a year, in the birthday month).
    pub birthday_points: i64,
    /// A coupon template whose coupon comes with the birthday perk (none: points only).
    pub birthday_coupon_template_id: Option<Uuid>,
}

/// The rules.
pub async fn rules(store: &Store) -> AppResult<PerkRules> {
    let row = sqlx::query(
        "SELECT checkin_points, checkin_growth, streak_days, streak_bonus_points, birthday_points, \
         birthday_coupon_template_id FROM member_perk_rules WHERE id = 1",
    )
    .fetch_one(store.reader())
    .await?;
    Ok(PerkRules {
        checkin_points: col(&row, "checkin_points")?,
        checkin_growth: col(&row, "checkin_growth")?,
        streak_days: col(&row, "streak_days")?,
        streak_bonus_points: col(&row, "streak_bonus_points")?,
        birthday_points: col(&row, "birthday_points")?,
        birthday_coupon_template_id: col::<Option<String>>(&row, "birthday_coupon_template_id")?
            .and_then(|t| t.parse().ok()),
    })
}

/// Replaces the rules (audited as `member_perks.rules`).
pub async fn set_rules(store: &Store, rules: &PerkRules, actor: &str) -> AppResult<()> {
    let mut tx = store.begin().await?;
    sqlx::query(
        "UPDATE member_perk_rules SET checkin_points = $1, checkin_growth = $2, streak_days = $3, \
         streak_bonus_points = $4, birthday_points = $5, birthday_coupon_template_id = $6, \
         updated_by = $7, updated_at = $8 WHERE id = 1",
    )
    .bind(rules.checkin_points)
    .bind(rules.checkin_growth)
    .bind(rules.streak_days)
    .bind(rules.streak_bonus_points)
    .bind(rules.birthday_points)
    .bind(rules.birthday_coupon_template_id.map(|t| t.to_string()))
    .bind(actor)
    .bind(now_ms())
    .execute(&mut *tx)
    .await?;
    super::audit::record(
        &mut tx,
        actor,
        "member_perks.rules",
        "member_perk_rules",
        "1",
        serde_json::to_value(rules).unwrap_or_default(),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// One day's check-in.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct Checkin {
    /// The China day number (days since 1970-01-01 in UTC+8).
    pub day: i64,
    /// Days in a row up to this one.
    pub streak: i64,
    /// Points it brought (a streak bonus included).
    pub points: i64,
    /// Growth it brought.
    pub growth: i64,
    /// When.
    pub at: chrono::DateTime<chrono::Utc>,
}

fn checkin_from_row(row: &sqlx::any::AnyRow) -> AppResult<Checkin> {
    Ok(Checkin {
        day: col(row, "day")?,
        streak: col(row, "streak")?,
        points: col(row, "points")?,
        growth: col(row, "growth")?,
        at: from_ms(col(row, "created_at")?),
    })
}

/// The streak of the member's check-in on `day`, if they checked in then.
pub async fn streak_on_in_tx(tx: &mut Tx, member: Uuid, day: i64) -> AppResult<Option<i64>> {
    let row = sqlx::query("SELECT streak FROM member_checkins WHERE member_id = $1 AND day = $2")
        .bind(member.to_string())
        .bind(day)
        .fetch_optional(&mut **tx)
        .await?;
    row.map(|r| col(&r, "streak")).transpose()
}

/// Records a check-in; false when the member had checked in that day already (nothing
/// written).
pub async fn insert_checkin_in_tx(tx: &mut Tx, member: Uuid, checkin: &Checkin) -> AppResult<bool> {
    Ok(sqlx::query(
        "INSERT INTO member_checkins (member_id, day, streak, points, growth, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (member_id, day) DO NOTHING",
    )
    .bind(member.to_string())
    .bind(checkin.day)
    .bind(checkin.streak)
    .bind(checkin.points)
    .bind(checkin.growth)
    .bind(checkin.at.timestamp_millis())
    .execute(&mut **tx)
    .await?
    .rows_affected()
        == 1)
}

/// The member's check-ins from `since_day` on, latest first.
pub async fn checkins_since(
    store: &Store,
    member: Uuid,
    since_day: i64,
) -> AppResult<Vec<Checkin>> {
    let rows = sqlx::query(
        "SELECT day, streak, points, growth, created_at FROM member_checkins \
         WHERE member_id = $1 AND day >= $2 ORDER BY day DESC",
    )
    .bind(member.to_string())
    .bind(since_day)
    .fetch_all(store.writer())
    .await?;
    rows.iter().map(checkin_from_row).collect()
}

/// The member's birthday (`MM-DD`) and when they set it.
pub async fn birthday(store: &Store, member: Uuid) -> AppResult<Option<(String, i64)>> {
    let row = sqlx::query(
        "SELECT birthday, birthday_set_at FROM members WHERE id = $1 AND birthday IS NOT NULL",
    )
    .bind(member.to_string())
    .fetch_optional(store.writer())
    .await?;
    row.map(|r| Ok((col(&r, "birthday")?, col(&r, "birthday_set_at")?)))
        .transpose()
}

/// Sets a member's birthday (`MM-DD`) once; false when it was set already or the account is
/// deleted (nothing changed).
pub async fn set_birthday(store: &Store, member: Uuid, month_day: &str) -> AppResult<bool> {
    Ok(sqlx::query(
        "UPDATE members SET birthday = $2, birthday_set_at = $3 \
         WHERE id = $1 AND birthday IS NULL AND deleted_at IS NULL",
    )
    .bind(member.to_string())
    .bind(month_day)
    .bind(now_ms())
    .execute(store.writer())
    .await?
    .rows_affected()
        == 1)
}

/// Members whose birthday falls in `month` (`MM`), set before `set_before` (ms), not deleted,
/// with no perk for `year` yet: at most `limit`, by id.
pub async fn birthdays_due(
    store: &Store,
    month: &str,
    year: i64,
    set_before: i64,
    limit: i64,
) -> AppResult<Vec<Uuid>> {
    let rows = sqlx::query(
        "SELECT m.id FROM members m WHERE m.birthday LIKE $1 AND m.birthday_set_at < $2 \
         AND m.deleted_at IS NULL AND NOT EXISTS (SELECT 1 FROM member_birthday_perks p \
         WHERE p.member_id = m.id AND p.year = $3) ORDER BY m.id LIMIT $4",
    )
    .bind(format!("{month}-%"))
    .bind(set_before)
    .bind(year)
    .bind(limit)
    .fetch_all(store.reader())
    .await?;
    rows.iter().map(|r| uuid_col(r, "id")).collect()
}

/// Records the member's birthday perk of `year`; false when it was granted already.
pub async fn insert_birthday_perk_in_tx(
    tx: &mut Tx,
    member: Uuid,
    year: i64,
    points: i64,
    coupon: Option<Uuid>,
) -> AppResult<bool> {
    Ok(sqlx::query(
        "INSERT INTO member_birthday_perks (member_id, year, points, coupon_id, granted_at) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (member_id, year) DO NOTHING",
    )
    .bind(member.to_string())
    .bind(year)
    .bind(points)
    .bind(coupon.map(|c| c.to_string()))
    .bind(now_ms())
    .execute(&mut **tx)
    .await?
    .rows_affected()
        == 1)
}

/// Sets the coupon of a granted birthday perk (issued after its row, in the same transaction).
pub async fn set_birthday_coupon_in_tx(
    tx: &mut Tx,
    member: Uuid,
    year: i64,
    coupon: Uuid,
) -> AppResult<()> {
    sqlx::query(
        "UPDATE member_birthday_perks SET coupon_id = $3 WHERE member_id = $1 AND year = $2",
    )
    .bind(member.to_string())
    .bind(year)
    .bind(coupon.to_string())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The birthday perk a member got in `year`: (points, coupon, when).
pub async fn birthday_perk(
    store: &Store,
    member: Uuid,
    year: i64,
) -> AppResult<Option<(i64, Option<Uuid>, chrono::DateTime<chrono::Utc>)>> {
    let row = sqlx::query(
        "SELECT points, coupon_id, granted_at FROM member_birthday_perks WHERE member_id = $1 AND year = $2",
    )
    .bind(member.to_string())
    .bind(year)
    .fetch_optional(store.reader())
    .await?;
    row.map(|r| {
        Ok((
            col(&r, "points")?,
            col::<Option<String>>(&r, "coupon_id")?.and_then(|c| c.parse().ok()),
            from_ms(col(&r, "granted_at")?),
        ))
    })
    .transpose()
}
