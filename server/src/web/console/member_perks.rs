//! The console's member perks (会员权益), head office only: the daily check-in's points,
//! growth and streak bonus, and the birthday perk's points and coupon — through
//! [`crate::app::member_perks`], as the API.

use axum::extract::{Query, State};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use maud::html;
use serde::Deserialize;

use super::{saved_or_field, whole_number};
use crate::actor::Role;
use crate::app::member_perks;
use crate::app::AppState;
use crate::error::AppError;
use crate::storage::member_perks::PerkRules;
use crate::web::{console_page, Ctx, Form, Staff, WebResult};

/// Member perk routes.
pub fn router() -> Router<AppState> {
    Router::new().route("/console/member-perks", get(page).post(save))
}

#[derive(Debug, Deserialize, Default)]
struct PageParams {
    done: Option<String>,
    error: Option<String>,
}

async fn page(
    State(state): State<AppState>,
    ctx: Ctx,
    Staff(staff): Staff,
    Query(p): Query<PageParams>,
) -> WebResult<Response> {
    staff.require(&[Role::HeadOfficeAdmin])?;
    let rules = member_perks::rules(&state).await?;
    let number = |label: &str, name: &str, value: i64| {
        html! { div.field { label for=(name) { (label) } input #(name) name=(name) inputmode="numeric" value=(value); } }
    };
    let body = html! {
        @if p.done.is_some() { div.notice.ok role="status" { (ctx.t("已保存。", "Saved.")) } }
        @if let Some(field) = &p.error { div.notice.err role="alert" #perks-error {
            (ctx.t("请检查：", "Check: ")) (field) (ctx.t("（积分 0–10000，连续天数 0–31，优惠券模板须存在）", " (amounts 0–10000, streak 0–31 days, an existing coupon template)"))
        } }
        form.card #perk-rules method="post" action="/console/member-perks" {
            (ctx.csrf_field())
            b { (ctx.t("每日签到", "Daily check-in")) }
            div.two {
                (number(ctx.t("签到积分", "Points per check-in"), "checkin_points", rules.checkin_points))
                (number(ctx.t("签到成长值", "Growth per check-in"), "checkin_growth", rules.checkin_growth))
            }
            div.two {
                (number(ctx.t("每连续签到天数（0 = 无）", "Every N days in a row (0 = none)"), "streak_days", rules.streak_days))
                (number(ctx.t("连续签到奖励积分", "Streak bonus points"), "streak_bonus_points", rules.streak_bonus_points))
            }
            b { (ctx.t("生日礼", "Birthday perk")) }
            div.two {
                (number(ctx.t("生日当月积分", "Points in the birthday month"), "birthday_points", rules.birthday_points))
                div.field { label for="birthday_coupon_template_id" { (ctx.t("生日优惠券模板 ID（可空）", "Birthday coupon template id (optional)")) }
                    input #birthday_coupon_template_id name="birthday_coupon_template_id"
                        value=(rules.birthday_coupon_template_id.map(|t| t.to_string()).unwrap_or_default()); }
            }
            button.btn #save-perks type="submit" { (ctx.t("保存", "Save")) }
        }
    };
    Ok(console_page(
        &ctx,
        &staff,
        ctx.t("会员权益", "Member perks"),
        body,
    ))
}

#[derive(Debug, Deserialize)]
struct RulesForm {
    checkin_points: String,
    checkin_growth: String,
    streak_days: String,
    streak_bonus_points: String,
    birthday_points: String,
    #[serde(default)]
    birthday_coupon_template_id: String,
}

async fn save(
    State(state): State<AppState>,
    Staff(staff): Staff,
    Form(form): Form<RulesForm>,
) -> WebResult<Response> {
    let number = whole_number;
    let template = form.birthday_coupon_template_id.trim();
    let rules =
        (|| -> Result<PerkRules, AppError> {
            Ok(PerkRules {
                checkin_points: number("checkin_points", &form.checkin_points)?,
                checkin_growth: number("checkin_growth", &form.checkin_growth)?,
                streak_days: number("streak_days", &form.streak_days)?,
                streak_bonus_points: number("streak_bonus_points", &form.streak_bonus_points)?,
                birthday_points: number("birthday_points", &form.birthday_points)?,
                birthday_coupon_template_id: if template.is_empty() {
                    None
                } else {
                    Some(template.parse().map_err(|_| {
                        AppError::field("birthday_coupon_template_id", "a template id")
                    })?)
                },
            })
        })();
    let result = match rules {
        Ok(rules) => member_perks::set_rules(&state, &staff, &rules).await,
        Err(e) => Err(e),
    };
    saved_or_field(result, "/console/member-perks")
}
