//! The shopper's reviews (晒单) in the shop: reviewing a line of a completed order
//! (`/orders/{id}/review?line=N`: stars, a text, up to 9 photos), the review as it stands with its
//! one follow-up (追评) and the merchant's reply, "helpful" votes from the product page
//! (`/reviews/{id}/helpful`, once per member) and the member's reviews in the member centre
//! (`/me/reviews`). Thin over [`crate::app::reviews`]; what goes wrong is shown translated
//! ([`crate::web::review_text::error_text`]) and changes nothing.

use std::collections::HashMap;

use axum::extract::{DefaultBodyLimit, Multipart, Path, Query, State};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use maud::{html, Markup};
use serde::Deserialize;
use uuid::Uuid;

use super::{cart_count, require_member, session};
use crate::app::reviews::{self, FollowUpRequest, ReviewRequest, Shopper};
use crate::app::AppState;
use crate::error::AppError;
use crate::storage;
use crate::storage::paging::{Cursor, PAGE_SIZE};
use crate::storage::reviews::{Review, ReviewStatus};
use crate::web::review_text::{error_text, hold_label, stars, status_label};
use crate::web::{
    local_path, pager, redirect, shop_page, urlencode, when, Ctx, Form, Sid, WebResult,
};

/// The shopper's review routes.
pub fn router() -> Router<AppState> {
    let photo_form = DefaultBodyLimit::max(super::photo_form_limit(reviews::MAX_PHOTOS));
    Router::new()
        .route(
            "/orders/{id}/review",
            get(review_page).post(submit).layer(photo_form),
        )
        .route(
            "/reviews/{id}/follow-up",
            post(submit_follow_up).layer(photo_form),
        )
        .route("/reviews/{id}/helpful", post(helpful))
        .route("/me/reviews", get(my_reviews))
}

#[derive(Debug, Deserialize, Default)]
struct ReviewParams {
    line: Option<i64>,
    error: Option<String>,
}

/// The member's own order; 404 for anyone else's.
async fn own_order(
    state: &AppState,
    ctx: &Ctx,
    id: Uuid,
    line: Option<i64>,
) -> WebResult<(Uuid, storage::orders::OrderView)> {
    let session = session(state, ctx).await?;
    let back = match line {
        Some(line) => format!("/orders/{id}/review?line={line}"),
        None => format!("/orders/{id}"),
    };
    let (_, member) = require_member(session.as_ref(), &back)?;
    let order = storage::orders::get(&state.store, id).await?;
    if order.member_id != Some(member) {
        return Err(AppError::not_found("order").into());
    }
    Ok((member, order))
}

fn error_box(ctx: &Ctx, code: Option<&str>) -> Markup {
    html! { @if let Some(code) = code { div.notice.err role="alert" #review-error data-code=(code) { (error_text(ctx.lang, code)) } } }
}

fn photos(list: &[String], ctx: &Ctx) -> Markup {
    html! {
        @if !list.is_empty() {
            div.row.review-photos { @for photo in list {
                img src=(crate::app::media::url(photo)) width="96" loading="lazy" alt=(ctx.t("晒单照片", "Review photo"));
            } }
        }
    }
}

/// A review as its writer sees it: status, stars, text, photos, the follow-up and the reply.
fn own_review(ctx: &Ctx, r: &Review) -> Markup {
    html! {
        div.card #my-review data-status=(r.status.as_str()) {
            div.spread { (stars(r.rating)) span.status #review-status { (status_label(ctx.lang, r.status)) } }
            @if r.status == ReviewStatus::Held {
                p.muted #review-held { (ctx.t("评价正在审核，通过后展示。", "Your review is being checked; it shows once approved.")) }
            }
            @if let Some(reason) = &r.hide_reason { p.muted { (ctx.t("隐藏原因：", "Why hidden: ")) (reason) } }
            @if !r.body.is_empty() { p #review-body { (r.body) } }
            (photos(&r.photos, ctx))
            @if r.points > 0 { p.muted #review-points { (ctx.t("获得积分 ", "Points earned ")) (r.points) } }
            @if let Some(f) = &r.follow_up {
                div #review-follow-up data-status=(f.status.as_str()) {
                    b { (ctx.t("追评 ", "Follow-up ")) } span.muted { (when(f.created_at.timestamp_millis())) " · " (status_label(ctx.lang, f.status)) }
                    p { (f.body) }
                    (photos(&f.photos, ctx))
                }
            }
            @if let Some(reply) = &r.reply { p.reply #review-reply { b { (ctx.t("商家回复：", "The shop replies: ")) } (reply) } }
        }
    }
}

async fn review_page(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<Uuid>,
    Query(p): Query<ReviewParams>,
) -> WebResult<Response> {
    let (_, order) = own_order(&state, &ctx, id, p.line).await?;
    let count = cart_count(&state, session(&state, &ctx).await?.as_ref()).await?;
    let line = p
        .line
        .and_then(|no| order.lines.iter().find(|l| l.line_no == no))
        .or(order.lines.first())
        .ok_or_else(|| AppError::not_found("order line"))?;
    let existing = storage::reviews::of_order(&state.store, order.id)
        .await?
        .into_iter()
        .find(|r| r.line_no == line.line_no);
    let open = reviews::reviewable(order.channel, order.status);
    let body = html! {
        div.card {
            div.spread { b { (line.name) } a href={ "/orders/" (order.id) } { (ctx.t("返回订单", "Back to the order")) } }
            p.muted { (order.order_no) }
        }
        (error_box(&ctx, p.error.as_deref()))
        @if let Some(r) = &existing {
            (own_review(&ctx, r))
            @if r.follow_up.is_none() && r.status != ReviewStatus::Hidden {
                form.card #follow-up-form method="post" enctype="multipart/form-data" action={ "/reviews/" (r.id) "/follow-up" } {
                    (ctx.csrf_field())
                    input type="hidden" name="id" value=(retail_domain::ids::new_id());
                    div.field {
                        label for="follow-up-body" { (ctx.t("追加评价", "Add a follow-up")) }
                        textarea #follow-up-body name="body" maxlength=(reviews::MAX_TEXT) rows="3" {}
                    }
                    div.field {
                        label for="follow-up-photos" { (ctx.t("照片（最多 9 张）", "Photos (up to 9)")) }
                        input #follow-up-photos type="file" name="photos" multiple accept="image/jpeg,image/png,image/webp";
                    }
                    button.btn.block #submit-follow-up type="submit" { (ctx.t("提交追评", "Send the follow-up")) }
                }
            }
        } @else if !open {
            div.card { p.muted #not-completed { (error_text(ctx.lang, "not_completed")) } }
        } @else {
            form.card #review-form method="post" enctype="multipart/form-data" action={ "/orders/" (order.id) "/review" } {
                (ctx.csrf_field())
                input type="hidden" name="id" value=(retail_domain::ids::new_id());
                input type="hidden" name="line_no" value=(line.line_no);
                div.field {
                    label for="rating" { (ctx.t("评分", "Rating")) }
                    select #rating name="rating" { @for n in (1..=5).rev() { option value=(n) { (n) " ★" } } }
                }
                div.field {
                    label for="review-body" { (ctx.t("评价内容", "Your review")) }
                    textarea #review-body name="body" maxlength=(reviews::MAX_TEXT) rows="4"
                        placeholder=(ctx.t("说说商品怎么样（最多 500 字）", "How was it? (up to 500 characters)")) {}
                }
                div.field {
                    label for="review-photos" { (ctx.t("晒单照片（最多 9 张，JPEG/PNG/WebP）", "Photos (up to 9, JPEG/PNG/WebP)")) }
                    input #review-photos type="file" name="photos" multiple accept="image/jpeg,image/png,image/webp";
                }
                button.btn.block #submit-review type="submit" { (ctx.t("发表评价", "Post the review")) }
            }
        }
    };
    Ok(shop_page(&ctx, ctx.t("评价", "Review"), count, body))
}

fn field_i64(form: &HashMap<String, String>, name: &str) -> Result<i64, AppError> {
    form.get(name)
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| AppError::field(name, "a whole number"))
}

fn field_id(form: &HashMap<String, String>) -> Result<Uuid, AppError> {
    form.get("id")
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| AppError::field("id", "missing"))
}

/// After a failed step: the page again with the error translated (an internal error is the
/// error page).
fn failed(back: &str, e: AppError) -> WebResult<Response> {
    match e {
        AppError::Internal(e) => Err(AppError::Internal(e).into()),
        e => {
            let sep = if back.contains('?') { '&' } else { '?' };
            Ok(redirect(&format!(
                "{back}{sep}error={}",
                urlencode(e.code())
            )))
        }
    }
}

async fn submit(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<Uuid>,
    axum::Extension(sid): axum::Extension<Sid>,
    multipart: Multipart,
) -> WebResult<Response> {
    let (member, _) = own_order(&state, &ctx, id, None).await?;
    let (form, files) = match super::read_photo_form(&state, &sid.0, multipart).await? {
        Ok(read) => read,
        Err(e) => return failed(&format!("/orders/{id}/review"), e),
    };
    let line = form
        .get("line_no")
        .and_then(|v| v.trim().parse::<i64>().ok());
    let back = match line {
        Some(line) => format!("/orders/{id}/review?line={line}"),
        None => format!("/orders/{id}/review"),
    };
    let result = async {
        let mut req = ReviewRequest {
            id: field_id(&form)?,
            line_no: field_i64(&form, "line_no")?,
            rating: field_i64(&form, "rating")?,
            body: form.get("body").cloned().unwrap_or_default(),
            photos: Vec::new(),
        };
        req.photos = super::keep_photos(&state, files, reviews::MAX_PHOTOS).await?;
        reviews::write(&state, Shopper::Member(member), id, &req).await
    }
    .await;
    match result {
        Ok(_) => Ok(redirect(&back)),
        Err(e) => failed(&back, e),
    }
}

async fn submit_follow_up(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<Uuid>,
    axum::Extension(sid): axum::Extension<Sid>,
    multipart: Multipart,
) -> WebResult<Response> {
    let session = session(&state, &ctx).await?;
    let (_, member) = require_member(session.as_ref(), "/me/reviews")?;
    let review = reviews::found(&state, id).await?;
    if review.member_id != member {
        return Err(AppError::not_found("review").into());
    }
    let back = format!("/orders/{}/review?line={}", review.order_id, review.line_no);
    let (form, files) = match super::read_photo_form(&state, &sid.0, multipart).await? {
        Ok(read) => read,
        Err(e) => return failed(&back, e),
    };
    let result = async {
        let req = FollowUpRequest {
            id: field_id(&form)?,
            body: form.get("body").cloned().unwrap_or_default(),
            photos: super::keep_photos(&state, files, reviews::MAX_PHOTOS).await?,
        };
        reviews::follow_up(&state, Shopper::Member(member), id, &req).await
    }
    .await;
    match result {
        Ok(_) => Ok(redirect(&back)),
        Err(e) => failed(&back, e),
    }
}

/// A "helpful" vote from the product page; back to `back` (a local path), with `voted=1`.
async fn helpful(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<Uuid>,
    Form(form): Form<HashMap<String, String>>,
) -> WebResult<Response> {
    let back = local_path(form.get("back").map(String::as_str));
    let session = session(&state, &ctx).await?;
    let (_, member) = require_member(session.as_ref(), &back)?;
    let sep = if back.contains('?') { '&' } else { '?' };
    match reviews::vote(&state, member, id).await {
        Ok(_) => Ok(redirect(&format!("{back}{sep}voted={id}#review-{id}"))),
        Err(e @ AppError::Conflict { .. }) => Ok(redirect(&format!(
            "{back}{sep}review_error={}#review-{id}",
            urlencode(e.code())
        ))),
        Err(e) => Err(e.into()),
    }
}

#[derive(Debug, Deserialize, Default)]
struct PageParams {
    cursor: Option<String>,
}

async fn my_reviews(
    State(state): State<AppState>,
    ctx: Ctx,
    Query(p): Query<PageParams>,
) -> WebResult<Response> {
    let session = session(&state, &ctx).await?;
    let (_, member) = require_member(session.as_ref(), "/me/reviews")?;
    let cursor = Cursor::parse(p.cursor.as_deref())?;
    let page =
        storage::reviews::of_member(&state.store, member, cursor.as_ref(), PAGE_SIZE).await?;
    let count = cart_count(&state, session.as_ref()).await?;
    let body = html! {
        @if page.items.is_empty() {
            div.card { p.muted #no-reviews { (ctx.t("还没有评价。订单完成后可以在订单页评价商品。", "No reviews yet: review items from a completed order's page.")) } }
        }
        div #my-reviews {
            @for r in &page.items {
                a.card.spread.my-review style="display:flex;color:inherit" id={ "my-review-" (r.id) }
                    href={ "/orders/" (r.order_id) "/review?line=" (r.line_no) } {
                    span { b { (r.item_name) } br; (stars(r.rating)) " " span.muted { (when(r.created_at.timestamp_millis())) } }
                    span.muted {
                        (status_label(ctx.lang, r.status))
                        @if let Some(h) = r.hold_reason.as_deref().filter(|_| r.status == ReviewStatus::Held) { br; (hold_label(ctx.lang, h)) }
                    }
                }
            }
        }
        (pager(&ctx, "/me/reviews", &[], "cursor", p.cursor.as_deref(), page.next_cursor.as_deref()))
    };
    Ok(shop_page(
        &ctx,
        ctx.t("我的评价", "My reviews"),
        count,
        body,
    ))
}
