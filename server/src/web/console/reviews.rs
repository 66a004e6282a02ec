//! The console's review moderation (晒单, issue 18), for head office: the queue
//! (`/console/reviews`: held reviews and follow-ups oldest first, or the published, hidden or
//! all reviews newest first, paged), a review's page (`/console/reviews/{id}`: stars, text,
//! photos, follow-up, why it was held; approve, hide with a reason, hide the follow-up, the
//! merchant's reply) and the rules (`/console/reviews/rules`: banned words, the most links, the
//! points a review earns). Thin over [`crate::app::reviews`], which checks the role and audits
//! every decision.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use maud::{html, Markup};
use serde::Deserialize;
use uuid::Uuid;

use super::NoticeParams;
use crate::app::reviews;
use crate::app::AppState;
use crate::error::AppError;
use crate::storage;
use crate::storage::paging::{Cursor, PAGE_SIZE};
use crate::storage::reviews::{QueueFilter, ReviewRules, ReviewStatus};
use crate::web::review_text::{error_text, hold_label, stars, status_label};
use crate::web::{console_page, pager, redirect, urlencode, when, Ctx, Form, Staff, WebResult};

/// Review routes of the console.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/console/reviews", get(queue))
        .route("/console/reviews/rules", get(rules_page).post(save_rules))
        .route("/console/reviews/{id}", get(review_page))
        .route("/console/reviews/{id}/{step}", post(step))
}

#[derive(Debug, Deserialize, Default)]
struct QueueParams {
    status: Option<String>,
    /// The queue's page cursor ([`storage::paging::Cursor`]); none on the first page.
    cursor: Option<String>,
}

fn photos(ctx: &Ctx, list: &[String]) -> Markup {
    html! {
        @if !list.is_empty() {
            div.row.review-photos { @for photo in list {
                a href=(crate::app::media::url(photo)) target="_blank" {
                    img.review-photo src=(crate::app::media::url(photo)) width="120" loading="lazy" alt=(ctx.t("晒单照片", "Review photo"));
                }
            } }
        }
    }
}

async fn queue(
    State(state): State<AppState>,
    ctx: Ctx,
    Staff(staff): Staff,
    Query(p): Query<QueueParams>,
) -> WebResult<Response> {
    reviews::require_moderator(&staff)?;
    let filter = QueueFilter::parse(p.status.as_deref());
    let cursor = Cursor::parse(p.cursor.as_deref())?;
    let page = storage::reviews::queue(&state.store, filter, cursor.as_ref(), PAGE_SIZE).await?;
    let tabs = [
        (QueueFilter::Held, ctx.t("待审核", "Held")),
        (QueueFilter::Published, ctx.t("已发布", "Published")),
        (QueueFilter::Hidden, ctx.t("已隐藏", "Hidden")),
        (QueueFilter::All, ctx.t("全部", "All")),
    ];
    let body = html! {
        div.row style="margin-bottom:10px" {
            @for (f, label) in tabs {
                a.chip.on[f == filter] href={ "/console/reviews?status=" (f.as_str()) } { (label) } " "
            }
            a #review-rules-link href="/console/reviews/rules" { (ctx.t("评价规则", "Rules")) }
        }
        @if page.items.is_empty() {
            p.muted #no-reviews { (ctx.t("没有评价。", "No reviews.")) }
        } @else {
            div.table-wrap { table #reviews {
                tr { th { (ctx.t("商品", "Item")) } th { (ctx.t("评分", "Rating")) } th { (ctx.t("内容", "Text")) }
                     th { (ctx.t("状态", "Status")) } th { (ctx.t("原因", "Why held")) } th { (ctx.t("时间", "Written")) } }
                @for r in &page.items {
                    @let held_follow_up = r.follow_up.as_ref().is_some_and(|f| f.status == ReviewStatus::Held);
                    tr.review-row id={ "review-" (r.id) } data-status=(r.status.as_str()) {
                        td { a href={ "/console/reviews/" (r.id) } { (r.item_name) } br; span.muted { (r.order_no) } }
                        td { (stars(r.rating)) }
                        td { (r.body.chars().take(60).collect::<String>()) @if r.body.chars().count() > 60 { "…" }
                             @if !r.photos.is_empty() { " " span.muted { "📷" (r.photos.len()) } } }
                        td { (status_label(ctx.lang, r.status)) @if held_follow_up { br; span.muted { (ctx.t("追评待审核", "Follow-up held")) } } }
                        td {
                            @if let Some(h) = &r.hold_reason { (hold_label(ctx.lang, h)) }
                            @if let Some(h) = r.follow_up.as_ref().and_then(|f| f.hold_reason.as_ref()) { br; (ctx.t("追评：", "Follow-up: ")) (hold_label(ctx.lang, h)) }
                        }
                        td { (when(r.created_at.timestamp_millis())) }
                    }
                }
            } }
        }
        (pager(&ctx, "/console/reviews", &[("status", filter.as_str())], "cursor", p.cursor.as_deref(), page.next_cursor.as_deref()))
    };
    Ok(console_page(
        &ctx,
        &staff,
        ctx.t("评价审核", "Reviews"),
        body,
    ))
}

fn done_label(ctx: &Ctx, done: &str) -> &'static str {
    match done {
        "approve" => ctx.t("已发布。", "Published."),
        "hide" => ctx.t(
            "已隐藏，积分已收回。",
            "Hidden; its points were taken back.",
        ),
        "hide-follow-up" => ctx.t("追评已隐藏。", "Follow-up hidden."),
        "reply" => ctx.t("回复已保存。", "Reply saved."),
        _ => ctx.t("已保存。", "Saved."),
    }
}

async fn review_page(
    State(state): State<AppState>,
    ctx: Ctx,
    Staff(staff): Staff,
    Path(id): Path<Uuid>,
    Query(p): Query<NoticeParams>,
) -> WebResult<Response> {
    reviews::require_moderator(&staff)?;
    let r = reviews::found(&state, id).await?;
    let action = |step: &str| format!("/console/reviews/{}/{step}", r.id);
    let held_follow_up = r
        .follow_up
        .as_ref()
        .is_some_and(|f| f.status == ReviewStatus::Held);
    let body = html! {
        @if let Some(done) = &p.done { div.notice.ok role="status" #review-done { (done_label(&ctx, done)) } }
        @if let Some(code) = &p.error { div.notice.err role="alert" #review-error { (error_text(ctx.lang, code)) } }
        div.card {
            p { b { (r.item_name) } " · " (stars(r.rating)) " · " span #review-status data-status=(r.status.as_str()) { (status_label(ctx.lang, r.status)) } }
            p.muted { (ctx.t("订单 ", "Order ")) a href={ "/console/orders/" (r.order_id) } { (r.order_no) } " · " (when(r.created_at.timestamp_millis()))
                " · " a href={ "/p/" (r.product_id) } target="_blank" { (ctx.t("商品页", "Product page")) } }
            @if let Some(h) = &r.hold_reason { p #review-hold { (ctx.t("自动暂缓：", "Held: ")) (hold_label(ctx.lang, h)) } }
            @if let Some(h) = &r.hide_reason { p #review-hide-reason { (ctx.t("隐藏原因：", "Why hidden: ")) (h) } }
            @if !r.body.is_empty() { p #review-body { (r.body) } }
            (photos(&ctx, &r.photos))
            p.muted { (ctx.t("有用 ", "Helpful ")) (r.helpful) " · " (ctx.t("积分 ", "Points ")) span #review-points { (r.points) }
                @if let Some(by) = &r.decided_by { " · " (by) } }
            @if let Some(f) = &r.follow_up {
                div #review-follow-up data-status=(f.status.as_str()) {
                    b { (ctx.t("追评 ", "Follow-up ")) } span.muted { (when(f.created_at.timestamp_millis())) " · " (status_label(ctx.lang, f.status)) }
                    @if let Some(h) = &f.hold_reason { " · " (hold_label(ctx.lang, h)) }
                    p { (f.body) }
                    (photos(&ctx, &f.photos))
                }
            }
            @if let Some(reply) = &r.reply { p.reply #review-reply { b { (ctx.t("商家回复：", "Reply: ")) } (reply) } }
        }
        div.card {
            @if r.status != ReviewStatus::Published || held_follow_up {
                form.inline method="post" action=(action("approve")) {
                    (ctx.csrf_field())
                    button.btn #approve-review type="submit" { (ctx.t("通过并发布", "Approve and publish")) }
                }
            }
            @if r.status != ReviewStatus::Hidden {
                form.row #hide-form method="post" action=(action("hide")) style="margin-top:8px" {
                    (ctx.csrf_field())
                    input #hide-reason name="text" maxlength=(reviews::MAX_REASON) placeholder=(ctx.t("隐藏原因", "Why hidden")) aria-label=(ctx.t("隐藏原因", "Why hidden"));
                    button.btn.secondary #hide-review type="submit" { (ctx.t("隐藏评价", "Hide the review")) }
                }
            }
            @if r.follow_up.as_ref().is_some_and(|f| f.status != ReviewStatus::Hidden) {
                form.row method="post" action=(action("hide-follow-up")) style="margin-top:8px" {
                    (ctx.csrf_field())
                    input name="text" maxlength=(reviews::MAX_REASON) placeholder=(ctx.t("隐藏原因", "Why hidden")) aria-label=(ctx.t("追评隐藏原因", "Why the follow-up is hidden"));
                    button.btn.secondary #hide-follow-up type="submit" { (ctx.t("隐藏追评", "Hide the follow-up")) }
                }
            }
            form #reply-form method="post" action=(action("reply")) style="margin-top:8px" {
                (ctx.csrf_field())
                div.field { textarea #reply name="text" maxlength=(reviews::MAX_TEXT) rows="2" aria-label=(ctx.t("商家回复", "Reply")) { (r.reply.as_deref().unwrap_or("")) } }
                button.btn.secondary #save-reply type="submit" { (ctx.t("保存回复", "Save the reply")) }
            }
        }
    };
    Ok(console_page(
        &ctx,
        &staff,
        ctx.t("评价详情", "Review"),
        body,
    ))
}

async fn step(
    State(state): State<AppState>,
    Staff(staff): Staff,
    Path((id, step)): Path<(Uuid, String)>,
    Form(form): Form<HashMap<String, String>>,
) -> WebResult<Response> {
    let text = form.get("text").map(String::as_str).unwrap_or("");
    let result = match step.as_str() {
        "approve" => reviews::approve(&state, &staff, id).await,
        "hide" => reviews::hide(&state, &staff, id, text).await,
        "hide-follow-up" => reviews::hide_follow_up(&state, &staff, id, text).await,
        "reply" => reviews::reply(&state, &staff, id, text).await,
        _ => return Err(AppError::not_found("no such step").into()),
    };
    match result {
        Ok(_) => Ok(redirect(&format!(
            "/console/reviews/{id}?done={}",
            urlencode(&step)
        ))),
        Err(e @ (AppError::Invalid { .. } | AppError::Conflict { .. })) => Ok(redirect(&format!(
            "/console/reviews/{id}?error={}",
            urlencode(e.code())
        ))),
        Err(e) => Err(e.into()),
    }
}

async fn rules_page(
    State(state): State<AppState>,
    ctx: Ctx,
    Staff(staff): Staff,
    Query(p): Query<NoticeParams>,
) -> WebResult<Response> {
    reviews::require_moderator(&staff)?;
    let rules = storage::reviews::rules(&state.store).await?;
    let body = html! {
        @if p.done.is_some() { div.notice.ok role="status" #rules-saved { (ctx.t("已保存。", "Saved.")) } }
        @if p.error.is_some() { div.notice.err role="alert" #rules-error { (ctx.t("请检查：违禁词每行一个（最多 500 个，每个不超过 50 字），链接数 0–100，积分 0–100000。", "Please check: one banned word a line (at most 500, each up to 50 characters), links 0–100, points 0–100000.")) } }
        form.card method="post" action="/console/reviews/rules" {
            (ctx.csrf_field())
            div.field { label for="banned" { (ctx.t("违禁词（每行一个，含则暂缓审核）", "Banned words (one a line: held for moderation)")) }
                textarea #banned name="banned" rows="6" { (rules.banned_words.join("\n")) } }
            div.field { label for="max-links" { (ctx.t("最多链接数（超过则暂缓审核）", "Most links (more: held for moderation)")) }
                input #max-links name="max_links" inputmode="numeric" value=(rules.max_links); }
            div.field { label for="points-review" { (ctx.t("发布评价获得积分（0 为不送）", "Points for a published review (0: none)")) }
                input #points-review name="points_review" inputmode="numeric" value=(rules.points_review); }
            div.field { label for="points-photos" { (ctx.t("带图再加积分（0 为不送）", "More points with photos (0: none)")) }
                input #points-photos name="points_photos" inputmode="numeric" value=(rules.points_photos); }
            button.btn #save-rules type="submit" { (ctx.t("保存", "Save")) }
        }
    };
    Ok(console_page(
        &ctx,
        &staff,
        ctx.t("评价规则", "Review rules"),
        body,
    ))
}

/// The rules a form gives; `None` when a number does not parse.
fn rules_of(form: &HashMap<String, String>) -> Option<ReviewRules> {
    let number = |k: &str| form.get(k).and_then(|v| v.trim().parse::<i64>().ok());
    Some(ReviewRules {
        banned_words: form
            .get("banned")
            .map(|text| text.lines().map(|l| l.trim().to_owned()).collect())
            .unwrap_or_default(),
        max_links: number("max_links")?,
        points_review: number("points_review")?,
        points_photos: number("points_photos")?,
    })
}

async fn save_rules(
    State(state): State<AppState>,
    Staff(staff): Staff,
    Form(form): Form<HashMap<String, String>>,
) -> WebResult<Response> {
    reviews::require_moderator(&staff)?;
    let Some(rules) = rules_of(&form) else {
        return Ok(redirect("/console/reviews/rules?error=form"));
    };
    match reviews::set_rules(&state, &staff, &rules).await {
        Ok(_) => Ok(redirect("/console/reviews/rules?done=saved")),
        Err(AppError::Invalid { .. }) => Ok(redirect("/console/reviews/rules?error=form")),
        Err(e) => Err(e.into()),
    }
}
