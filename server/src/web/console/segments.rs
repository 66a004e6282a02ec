//! The console's member segments (issue 19), head office only: the tags in use, the segments
//! with their live member counts, creating and editing a segment from tags (all of / any of /
//! none of) and RFM score ranges, a segment's page with a masked preview of its members, and
//! its actions — issue a coupon to the segment, notify the segment — through
//! [`crate::app::segments`]. Every form carries the CSRF token; saves and actions are audited.

use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use maud::{html, Markup};
use serde::Deserialize;
use uuid::Uuid;

use super::NoticeParams;
use crate::actor::{Role, StaffActor};
use crate::app::segments::{self, ScoreRange, Segment, SegmentRules};
use crate::app::AppState;
use crate::error::AppError;
use crate::storage;
use crate::web::{console_page, redirect, urlencode, when, yuan, Ctx, Form, Staff, WebResult};

/// Segment routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/console/segments", get(list).post(create))
        .route("/console/segments/{id}", get(detail).post(edit))
        .route("/console/segments/{id}/coupon", post(issue_coupon))
        .route("/console/segments/{id}/notify", post(notify))
}

/// The rule fields of the segment form.
#[derive(Debug, Deserialize, Default, Clone)]
struct SegmentForm {
    #[serde(default)]
    id: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    all_of: String,
    #[serde(default)]
    any_of: String,
    #[serde(default)]
    none_of: String,
    #[serde(default)]
    r_min: String,
    #[serde(default)]
    r_max: String,
    #[serde(default)]
    f_min: String,
    #[serde(default)]
    f_max: String,
    #[serde(default)]
    m_min: String,
    #[serde(default)]
    m_max: String,
}

fn tag_list(text: &str) -> Vec<String> {
    text.split([',', '，', ' '])
        .map(|t| t.trim().to_lowercase())
        .filter(|t| !t.is_empty())
        .collect()
}

fn range(field: &'static str, lo: &str, hi: &str) -> Result<Option<ScoreRange>, AppError> {
    let (lo, hi) = (lo.trim(), hi.trim());
    if lo.is_empty() && hi.is_empty() {
        return Ok(None);
    }
    let parse = |t: &str, default: i64| {
        if t.is_empty() {
            Ok(default)
        } else {
            t.parse::<i64>()
                .map_err(|_| AppError::field(field, "a score from 1 to 5"))
        }
    };
    Ok(Some(ScoreRange {
        min: parse(lo, 1)?,
        max: parse(hi, 5)?,
    }))
}

impl SegmentForm {
    fn rules(&self) -> Result<SegmentRules, AppError> {
        Ok(SegmentRules {
            all_of: tag_list(&self.all_of),
            any_of: tag_list(&self.any_of),
            none_of: tag_list(&self.none_of),
            r: range("r", &self.r_min, &self.r_max)?,
            f: range("f", &self.f_min, &self.f_max)?,
            m: range("m", &self.m_min, &self.m_max)?,
        })
    }

    fn of(s: &Segment) -> Self {
        let lo = |r: Option<ScoreRange>| r.map(|r| r.min.to_string()).unwrap_or_default();
        let hi = |r: Option<ScoreRange>| r.map(|r| r.max.to_string()).unwrap_or_default();
        Self {
            id: s.id.to_string(),
            name: s.name.clone(),
            all_of: s.rules.all_of.join(", "),
            any_of: s.rules.any_of.join(", "),
            none_of: s.rules.none_of.join(", "),
            r_min: lo(s.rules.r),
            r_max: hi(s.rules.r),
            f_min: lo(s.rules.f),
            f_max: hi(s.rules.f),
            m_min: lo(s.rules.m),
            m_max: hi(s.rules.m),
        }
    }
}

/// The rules in words.
fn describe(ctx: &Ctx, r: &SegmentRules) -> String {
    let mut parts = Vec::new();
    if !r.all_of.is_empty() {
        parts.push(format!(
            "{} {}",
            ctx.t("全部：", "all of:"),
            r.all_of.join(", ")
        ));
    }
    if !r.any_of.is_empty() {
        parts.push(format!(
            "{} {}",
            ctx.t("任一：", "any of:"),
            r.any_of.join(", ")
        ));
    }
    if !r.none_of.is_empty() {
        parts.push(format!(
            "{} {}",
            ctx.t("排除：", "none of:"),
            r.none_of.join(", ")
        ));
    }
    for (name, range) in [("R", r.r), ("F", r.f), ("M", r.m)] {
        if let Some(ScoreRange { min, max }) = range {
            parts.push(format!("{name} {min}–{max}"));
        }
    }
    parts.join(" · ")
}

fn segment_form(ctx: &Ctx, action: &str, form: &SegmentForm, button: &str) -> Markup {
    let score = |label: &str, lo_name: &str, lo: &str, hi_name: &str, hi: &str| {
        html! {
            div.field { label { (label) }
                input name=(lo_name) value=(lo) inputmode="numeric" size="2" placeholder="1";
                " – "
                input name=(hi_name) value=(hi) inputmode="numeric" size="2" placeholder="5";
            }
        }
    };
    html! {
        form.card #segment-form method="post" action=(action) {
            (ctx.csrf_field())
            input type="hidden" name="id" value=(form.id);
            div.field { label for="name" { (ctx.t("名称", "Name")) } input #name name="name" value=(form.name) required; }
            div.field { label for="all_of" { (ctx.t("包含全部标签（逗号分隔）", "Has all of these tags (comma-separated)")) } input #all_of name="all_of" value=(form.all_of); }
            div.field { label for="any_of" { (ctx.t("包含任一标签", "Has any of these tags")) } input #any_of name="any_of" value=(form.any_of); }
            div.field { label for="none_of" { (ctx.t("不含这些标签", "Has none of these tags")) } input #none_of name="none_of" value=(form.none_of); }
            div.two {
                (score(ctx.t("R 分（最近购买）", "R score (recency)"), "r_min", &form.r_min, "r_max", &form.r_max))
                (score(ctx.t("F 分（频次）", "F score (frequency)"), "f_min", &form.f_min, "f_max", &form.f_max))
            }
            (score(ctx.t("M 分（金额）", "M score (monetary)"), "m_min", &form.m_min, "m_max", &form.m_max))
            button.btn #save-segment type="submit" { (button) }
        }
    }
}

fn notices(ctx: &Ctx, p: &NoticeParams) -> Markup {
    html! {
        @if p.done.is_some() { div.notice.ok role="status" #segment-done { (ctx.t("已完成。", "Done.")) } }
        @if let Some(field) = &p.error { div.notice.err role="alert" #segment-error {
            (ctx.t("请检查：", "Check: ")) (field)
        } }
    }
}

async fn list(
    State(state): State<AppState>,
    ctx: Ctx,
    Staff(staff): Staff,
    Query(p): Query<NoticeParams>,
) -> WebResult<Response> {
    staff.require(&[Role::HeadOfficeAdmin])?;
    let all = segments::segments(&state, &staff).await?;
    let mut counts = Vec::with_capacity(all.len());
    for s in &all {
        counts.push((
            segments::count(&state, &s.rules, false).await?,
            segments::count(&state, &s.rules, true).await?,
        ));
    }
    let tags = segments::tag_names(&state).await?;
    let form = SegmentForm {
        id: Uuid::now_v7().to_string(),
        ..SegmentForm::default()
    };
    let body = html! {
        (notices(&ctx, &p))
        div.card #tags { b { (ctx.t("标签", "Tags")) } " "
            @for (tag, n) in &tags { span.tag data-tag=(tag) { code { (tag) } " " (n) } " " }
            p.muted { (ctx.t(
                "RFM 与规则标签由定时任务根据所有渠道的已付款订单计算；关闭个性化推荐的会员不会被营销触达。",
                "RFM and the rule tags are computed by a scheduled job from the paid orders of every channel; members who opted out of personalisation are never targeted.")) }
        }
        div.table-wrap { table #segments {
            tr { th { (ctx.t("名称", "Name")) } th { (ctx.t("规则", "Rules")) } th.num { (ctx.t("会员数", "Members")) } th.num { (ctx.t("可触达", "Reachable")) } th { (ctx.t("更新", "Updated")) } }
            @for (s, (n, reachable)) in all.iter().zip(&counts) {
                tr data-id=(s.id) {
                    td { a href={ "/console/segments/" (s.id) } { (s.name) } }
                    td { (describe(&ctx, &s.rules)) }
                    td.num.count { (n) }
                    td.num.reachable { (reachable) }
                    td { (when(s.updated_at.timestamp_millis())) }
                }
            }
        } }
        h2 { (ctx.t("新建分群", "New segment")) }
        (segment_form(&ctx, "/console/segments", &form, ctx.t("创建", "Create")))
    };
    Ok(console_page(
        &ctx,
        &staff,
        ctx.t("会员分群", "Segments"),
        body,
    ))
}

async fn create(
    State(state): State<AppState>,
    Staff(staff): Staff,
    Form(form): Form<SegmentForm>,
) -> WebResult<Response> {
    staff.require(&[Role::HeadOfficeAdmin])?;
    save(&state, &staff, form, None, "/console/segments").await
}

async fn edit(
    State(state): State<AppState>,
    Staff(staff): Staff,
    Path(id): Path<Uuid>,
    Form(form): Form<SegmentForm>,
) -> WebResult<Response> {
    staff.require(&[Role::HeadOfficeAdmin])?;
    save(
        &state,
        &staff,
        form,
        Some(id),
        &format!("/console/segments/{id}"),
    )
    .await
}

async fn save(
    state: &AppState,
    staff: &StaffActor,
    form: SegmentForm,
    existing: Option<Uuid>,
    back: &str,
) -> WebResult<Response> {
    let result = async {
        let id = match existing {
            Some(id) => id,
            None => form
                .id
                .trim()
                .parse()
                .map_err(|_| AppError::field("id", "an id"))?,
        };
        let rules = form.rules()?;
        segments::save_segment(state, staff, id, &form.name, &rules, existing.is_some()).await
    }
    .await;
    match result {
        Ok(s) => Ok(redirect(&format!("/console/segments/{}?done=1", s.id))),
        Err(AppError::Invalid { fields, .. }) => {
            let field = fields.keys().next().cloned().unwrap_or_default();
            Ok(redirect(&format!("{back}?error={}", urlencode(&field))))
        }
        Err(e) => Err(e.into()),
    }
}

async fn detail(
    State(state): State<AppState>,
    ctx: Ctx,
    Staff(staff): Staff,
    Path(id): Path<Uuid>,
    Query(p): Query<NoticeParams>,
) -> WebResult<Response> {
    staff.require(&[Role::HeadOfficeAdmin])?;
    let s = segments::segment(&state, &staff, id).await?;
    let n = segments::count(&state, &s.rules, false).await?;
    let reachable = segments::count(&state, &s.rules, true).await?;
    let preview = segments::preview(&state, &staff, &s.rules, 20).await?;
    let actions = segments::actions(&state, &staff, id).await?;
    let templates = storage::coupons::templates(
        &state.store,
        Some(storage::coupons::IssueOn::Staff),
        None,
        100,
    )
    .await?
    .items;
    let path = format!("/console/segments/{id}");
    let body = html! {
        (notices(&ctx, &p))
        div.kpis {
            div.kpi { span.muted { (ctx.t("会员数", "Members")) } b #segment-count { (n) } }
            div.kpi { span.muted { (ctx.t("可触达（未关闭个性化）", "Reachable (not opted out)")) } b #segment-reachable { (reachable) } }
        }
        p #segment-rules { (describe(&ctx, &s.rules)) }
        div.card { b { (ctx.t("会员预览（前 20 位，已脱敏）", "Preview (first 20, masked)")) }
            div.table-wrap { table #segment-preview {
                tr { th { (ctx.t("手机", "Phone")) } th.num { "R" } th.num { "F" } th.num { "M" } th.num { (ctx.t("消费", "Spent")) } th { (ctx.t("标签", "Tags")) } }
                @for m in &preview {
                    tr {
                        td { a href={ "/console/members/" (m.id) } { (m.phone) } }
                        @if let Some(r) = &m.rfm {
                            td.num { (r.r_score) } td.num { (r.f_score) } td.num { (r.m_score) } td.num { (yuan(r.monetary_fen)) }
                        } @else { td {} td {} td {} td {} }
                        td { (m.tags.join(", ")) }
                    }
                }
            } }
        }
        div.two {
            form.card #segment-coupon method="post" action={ (path) "/coupon" } {
                (ctx.csrf_field())
                input type="hidden" name="action_id" value=(Uuid::now_v7());
                b { (ctx.t("向分群发券", "Issue a coupon to the segment")) }
                div.field { label for="template_id" { (ctx.t("优惠券", "Coupon")) }
                    select #template_id name="template_id" {
                        @for t in &templates { option value=(t.id) { (ctx.lang.pick(&t.terms.name_zh, &t.terms.name_en)) } }
                    }
                }
                p.muted { (ctx.t("每位会员只发一次（重复提交不会重复发券）。", "Each member gets one (submitting again issues nothing twice).")) }
                button.btn #issue-coupon type="submit" { (ctx.t("发券", "Issue")) }
            }
            form.card #segment-notify method="post" action={ (path) "/notify" } {
                (ctx.csrf_field())
                input type="hidden" name="action_id" value=(Uuid::now_v7());
                b { (ctx.t("通知分群", "Notify the segment")) }
                div.field { label for="text_zh" { (ctx.t("内容（中文）", "Text (Chinese)")) } input #text_zh name="text_zh" required; }
                div.field { label for="text_en" { (ctx.t("内容（英文）", "Text (English)")) } input #text_en name="text_en"; }
                p.muted { (ctx.t("站内消息，以及会员允许的短信/订阅消息。", "In-app, and SMS or subscribe messages where the member allows them.")) }
                button.btn #notify-segment type="submit" { (ctx.t("发送", "Send")) }
            }
        }
        div.table-wrap { table #segment-actions {
            tr { th { (ctx.t("时间", "When")) } th { (ctx.t("动作", "Action")) } th { (ctx.t("操作人", "By")) } th { (ctx.t("结果", "Outcome")) } }
            @for a in &actions {
                tr {
                    td { (when(a.action.created_at)) }
                    td { (a.action.kind) }
                    td { (a.action.created_by) }
                    td { @for (outcome, n) in &a.outcomes { (outcome) " " (n) "; " } }
                }
            }
        } }
        h2 { (ctx.t("修改规则", "Edit")) }
        (segment_form(&ctx, &path, &SegmentForm::of(&s), ctx.t("保存", "Save")))
    };
    Ok(console_page(&ctx, &staff, &s.name, body))
}

#[derive(Debug, Deserialize)]
struct CouponForm {
    #[serde(default)]
    action_id: String,
    #[serde(default)]
    template_id: String,
}

async fn issue_coupon(
    State(state): State<AppState>,
    Staff(staff): Staff,
    Path(id): Path<Uuid>,
    Form(form): Form<CouponForm>,
) -> WebResult<Response> {
    staff.require(&[Role::HeadOfficeAdmin])?;
    let back = format!("/console/segments/{id}");
    let result = async {
        let action: Uuid = form
            .action_id
            .trim()
            .parse()
            .map_err(|_| AppError::field("action_id", "an id"))?;
        let template: Uuid = form
            .template_id
            .trim()
            .parse()
            .map_err(|_| AppError::field("template_id", "a coupon template"))?;
        segments::issue_coupon_to_segment(&state, &staff, id, action, template)
            .await
            .map(|_| ())
    }
    .await;
    super::saved_or_field(result, &back)
}

#[derive(Debug, Deserialize)]
struct NotifyForm {
    #[serde(default)]
    action_id: String,
    #[serde(default)]
    text_zh: String,
    #[serde(default)]
    text_en: String,
}

async fn notify(
    State(state): State<AppState>,
    Staff(staff): Staff,
    Path(id): Path<Uuid>,
    Form(form): Form<NotifyForm>,
) -> WebResult<Response> {
    staff.require(&[Role::HeadOfficeAdmin])?;
    let back = format!("/console/segments/{id}");
    let result = async {
        let action: Uuid = form
            .action_id
            .trim()
            .parse()
            .map_err(|_| AppError::field("action_id", "an id"))?;
        segments::notify_segment(&state, &staff, id, action, &form.text_zh, &form.text_en)
            .await
            .map(|_| ())
    }
    .await;
    super::saved_or_field(result, &back)
}
