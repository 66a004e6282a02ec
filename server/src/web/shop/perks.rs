//! The member centre's perks card: the daily check-in (签到) with the streak and the last seven
//! days, and the birthday (set once; the birthday perk comes in its month). Writes go through
//! [`crate::app::member_perks`].

use axum::extract::State;
use axum::response::Response;
use axum::routing::post;
use axum::Router;
use maud::{html, Markup};
use serde::Deserialize;
use uuid::Uuid;

use super::{require_member, session};
use crate::app::member_perks;
use crate::app::AppState;
use crate::error::AppError;
use crate::web::{redirect, Ctx, Form, WebResult};

/// Perk routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/me/checkin", post(checkin))
        .route("/me/birthday", post(set_birthday))
}

/// The perks card of the member centre, with the notice of the last perk action (`perk`).
pub async fn card(
    state: &AppState,
    ctx: &Ctx,
    member: Uuid,
    perk: Option<&str>,
) -> WebResult<Markup> {
    let (recent, streak) = member_perks::recent(state, member).await?;
    let today = crate::app::china_day(crate::storage::now_ms());
    let checked_today = recent.first().is_some_and(|c| c.day == today);
    let birthday = member_perks::birthday(state, member).await?;
    let perk_this_year = member_perks::this_years_perk(state, member).await?;
    let rules = member_perks::rules(state).await?;
    let days: Vec<(i64, bool)> = (0..member_perks::SHOWN_DAYS)
        .rev()
        .map(|back| {
            let day = today - back;
            (day, recent.iter().any(|c| c.day == day))
        })
        .collect();
    Ok(html! {
        div.card #perks {
            @match perk {
                Some("checked_in") => div.notice.ok role="status" { (ctx.t("签到成功！", "Checked in!")) }
                Some("already") => div.notice.ok role="status" { (ctx.t("今天已经签到过了。", "You have checked in today already.")) }
                Some("birthday_set") => div.notice.ok role="status" { (ctx.t("生日已保存，生日当月送上生日礼。", "Birthday saved: your birthday perk comes in its month.")) }
                Some("birthday_bad") => div.notice.err role="alert" #birthday-error { (ctx.t("请输入有效的生日，如 05-20。", "Enter a real birthday, e.g. 05-20.")) }
                Some("birthday_locked") => div.notice.err role="alert" #birthday-error { (ctx.t("生日设置后不可修改，请联系客服。", "The birthday cannot be changed here; ask customer service.")) }
                _ => {}
            }
            div.spread {
                div {
                    b { (ctx.t("每日签到", "Daily check-in")) }
                    br;
                    span.muted #streak { (ctx.t("已连续签到 ", "Days in a row: ")) (streak) (ctx.t(" 天", "")) }
                }
                @if checked_today {
                    button.btn.secondary #checkin disabled { (ctx.t("今日已签到", "Checked in today")) }
                } @else {
                    form method="post" action="/me/checkin" {
                        (ctx.csrf_field())
                        button.btn #checkin type="submit" { (ctx.t("签到 +", "Check in +")) (rules.checkin_points) }
                    }
                }
            }
            div.chips #checkin-days {
                @for (day, done) in &days {
                    span.chip.on[*done] title=(day) { @if *done { "✓" } @else { "·" } }
                }
            }
            @if rules.streak_days > 0 && rules.streak_bonus_points > 0 {
                p.muted { (ctx.t("每连续签到 ", "Every ")) (rules.streak_days) (ctx.t(" 天额外奖励 ", " days in a row: ")) (rules.streak_bonus_points) (ctx.t(" 积分", " bonus points")) }
            }
            hr;
            @match &birthday {
                Some(md) => p #birthday { (ctx.t("生日 ", "Birthday ")) b { (md) }
                    @if let Some((points, coupon)) = perk_this_year {
                        " · " span #birthday-perk { (ctx.t("今年的生日礼已送达：", "This year's birthday perk: ")) (points) (ctx.t(" 积分", " points"))
                            @if coupon.is_some() { (ctx.t("和一张优惠券", " and a coupon")) } }
                    } },
                None => form.row #birthday-form method="post" action="/me/birthday" {
                    (ctx.csrf_field())
                    label for="birthday" { (ctx.t("生日（月-日）", "Birthday (month-day)")) }
                    input #birthday name="birthday" placeholder="05-20" inputmode="numeric" style="max-width:120px";
                    button.btn.secondary #save-birthday type="submit" { (ctx.t("保存", "Save")) }
                    p.muted { (ctx.t("生日当月送积分", "Points in your birthday month")) (rules.birthday_points) (ctx.t("；设置后不可修改。", "; it cannot be changed once set.")) }
                },
            }
        }
    })
}

async fn checkin(
    State(state): State<AppState>,
    ctx: Ctx,
    Form(_): Form<std::collections::HashMap<String, String>>,
) -> WebResult<Response> {
    let (_, member) = require_member(session(&state, &ctx).await?.as_ref(), "/me")?;
    let outcome = member_perks::checkin(&state, member).await?;
    Ok(redirect(if outcome.new {
        "/me?perk=checked_in#perks"
    } else {
        "/me?perk=already#perks"
    }))
}

#[derive(Debug, Deserialize)]
struct BirthdayForm {
    #[serde(default)]
    birthday: String,
}

async fn set_birthday(
    State(state): State<AppState>,
    ctx: Ctx,
    Form(form): Form<BirthdayForm>,
) -> WebResult<Response> {
    let (_, member) = require_member(session(&state, &ctx).await?.as_ref(), "/me")?;
    match member_perks::set_birthday(&state, member, &form.birthday).await {
        Ok(_) => Ok(redirect("/me?perk=birthday_set#perks")),
        Err(AppError::Invalid { .. }) => Ok(redirect("/me?perk=birthday_bad#perks")),
        Err(AppError::Conflict { .. }) => Ok(redirect("/me?perk=birthday_locked#perks")),
        Err(e) => Err(e.into()),
    }
}
