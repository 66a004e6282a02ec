//! Reviews with photos (晒单, issue 18). Once an order is fulfilled (delivered, collected, or
//! completed in store; see [`reviewable`]) its member rates each line 1–5 with a text of at most
//! [`MAX_TEXT`] characters and up to [`MAX_PHOTOS`] photos kept by [`super::media`] ([`write`]),
//! once per line, and may add one follow-up (追评, [`follow_up`]). Every write is idempotent by
//! its client id (UUIDv7).
//!
//! A text is held for moderation by the automatic rules head office sets ([`hold_reason`]): a
//! banned word, more links than allowed, or a text the member wrote before (repeated content);
//! anything else is published at once. Head office approves ([`approve`]) or hides with a reason
//! ([`hide`], [`hide_follow_up`]), writes the merchant's reply ([`reply`]) and edits the rules
//! ([`set_rules`]); every decision is audited. A published review earns the points of the rule
//! (`points_review`, plus `points_photos` with photos) once, through the points ledger (`earn`,
//! `ref_id` `review:{id}`), and they are taken back (`reverse`, same ref) when it is hidden; a
//! review hidden and published again earns nothing more. Members vote a published review
//! helpful once each ([`vote`]).
//!
//! Who the shopper is, is for the adapters to check (the order's access token in the API, the
//! member's session in the shop, which passes [`Shopper::Member`] so another member's order is
//! not found).

use retail_domain::order::{Channel, OrderStatus};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use utoipa::ToSchema;
use uuid::Uuid;

use super::AppState;
use crate::actor::{Role, StaffActor};
use crate::error::{AppError, AppResult};
use crate::storage;
use crate::storage::reviews::{
    Inserted, Moderation, NewFollowUp, NewReview, Review, ReviewRules, ReviewStatus as S,
};

/// At most this many photos on a review (and on its follow-up).
pub const MAX_PHOTOS: usize = 9;
/// Longest review, follow-up or reply, in characters.
pub const MAX_TEXT: usize = 500;
/// Longest hiding reason, in characters.
pub const MAX_REASON: usize = 200;
/// Most banned words, and the longest one.
pub const MAX_BANNED_WORDS: usize = 500;
/// The longest banned word, in characters.
pub const MAX_BANNED_WORD: usize = 50;
/// Where a shopper uploads review photos (for error messages).
const UPLOAD: &str = "POST /orders/{id}/reviews/photos";

/// Who writes: whoever holds the order's access token (the API), or a member in the shop (whose
/// own order it must be).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shopper {
    /// The holder of the order's access token.
    OrderToken,
    /// A logged-in member of the shop.
    Member(Uuid),
}

impl Shopper {
    /// The actor name written on the review.
    pub fn actor(self) -> String {
        match self {
            Self::OrderToken => "shopper".to_owned(),
            Self::Member(m) => format!("member:{m}"),
        }
    }
}

/// A shopper's review of one order line.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReviewRequest {
    /// Client id (UUIDv7); a retry with the same id answers the first review.
    pub id: Uuid,
    /// The order's line reviewed.
    pub line_no: i64,
    /// 1 to 5.
    pub rating: i64,
    /// The text (at most 500 characters; may be empty).
    #[serde(default)]
    pub body: String,
    /// Photos: names of images uploaded before with `POST /orders/{id}/reviews/photos` (at
    /// most 9).
    #[serde(default)]
    pub photos: Vec<String>,
}

/// A shopper's follow-up (追评) to their review.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FollowUpRequest {
    /// Client id (UUIDv7); a retry with the same id answers the review.
    pub id: Uuid,
    /// The text (1 to 500 characters).
    pub body: String,
    /// Photos, as for a review (at most 9).
    #[serde(default)]
    pub photos: Vec<String>,
}

/// True when an order's lines may be reviewed: a shop order (online or scan-and-go) whose goods
/// reached the shopper — delivered, picked up or completed — or that is in after-sale since
/// (the same "fulfilled" as [`super::after_sales::kinds_open`]).
pub fn reviewable(channel: Channel, status: OrderStatus) -> bool {
    channel != Channel::Pos && (status.is_fulfilled() || status == OrderStatus::AfterSale)
}

/// The review `id`; 404 when there is none.
pub async fn found(state: &AppState, id: Uuid) -> AppResult<Review> {
    storage::reviews::get_fresh(&state.store, id)
        .await?
        .ok_or_else(|| AppError::not_found(format!("review {id} not found")))
}

fn check_text(field: &str, text: &str, max: usize) -> AppResult<()> {
    if text.chars().count() > max || text.chars().any(|c| c.is_control() && c != '\n') {
        return Err(AppError::field(
            field,
            format!("at most {max} characters, no control characters"),
        ));
    }
    Ok(())
}

fn check_one_line(field: &str, text: &str, max: usize) -> AppResult<String> {
    let text = text.trim();
    if text.is_empty() || text.chars().count() > max || text.chars().any(char::is_control) {
        return Err(AppError::field(
            field,
            format!("1 to {max} characters on one line"),
        ));
    }
    Ok(text.to_owned())
}

/// The text as the repeat check compares it: letters and digits only, lower case.
fn normalised(text: &str) -> String {
    text.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

/// The SHA-256 of the normalised text ('' when nothing is left of it).
pub fn text_hash(text: &str) -> String {
    let norm = normalised(text);
    if norm.is_empty() {
        String::new()
    } else {
        hex::encode(Sha256::digest(norm.as_bytes()))
    }
}

/// How many links a text carries: each `http://` or `https://`, and each `www.` not right
/// after one of those.
pub fn link_count(text: &str) -> usize {
    let lower = text.to_lowercase();
    let schemes = lower.matches("http://").count() + lower.matches("https://").count();
    let bare = lower
        .match_indices("www.")
        .filter(|(at, _)| !lower[..*at].ends_with("://"))
        .count();
    schemes + bare
}

/// Why the rules hold a text, if they do (checked in this order): `banned_word` (a banned word
/// in it, ignoring case), `too_many_links` (more links than `max_links`). The repeat check needs
/// the database (see [`write`]).
pub fn hold_reason(rules: &ReviewRules, text: &str) -> Option<&'static str> {
    let lower = text.to_lowercase();
    if rules
        .banned_words
        .iter()
        .map(|w| w.trim().to_lowercase())
        .any(|w| !w.is_empty() && lower.contains(&w))
    {
        return Some("banned_word");
    }
    if i64::try_from(link_count(text)).unwrap_or(i64::MAX) > rules.max_links {
        return Some("too_many_links");
    }
    None
}

/// The points a published review earns under `rules`.
fn points_for(rules: &ReviewRules, photos: usize) -> i64 {
    let more = if photos > 0 { rules.points_photos } else { 0 };
    rules.points_review.max(0).saturating_add(more.max(0))
}

fn points_ref(id: Uuid) -> String {
    format!("review:{id}")
}

/// The reason on the points ledger.
const POINTS_REASON: &str = "评价奖励 review";

/// Credits the review's points (once per review: a repeat, or a review whose points were taken
/// back before, earns nothing more).
async fn credit_in_tx(
    state: &AppState,
    tx: &mut storage::Tx,
    review: &Review,
    rules: &ReviewRules,
    actor: &str,
) -> AppResult<()> {
    let points = points_for(rules, review.photos.len());
    if storage::members::credit_points_in_tx(
        tx,
        &state.settings.points,
        review.member_id,
        points,
        0,
        POINTS_REASON,
        &points_ref(review.id),
        actor,
    )
    .await?
    {
        storage::reviews::set_points_in_tx(tx, review.id, points).await?;
    }
    Ok(())
}

fn retry_of(review: Review, order_id: Uuid) -> AppResult<Review> {
    if review.order_id != order_id {
        return Err(AppError::conflict(
            "id_in_use",
            "this review id belongs to another order",
        ));
    }
    Ok(review)
}

/// Writes the shopper's review of one line of order `order_id` (see the module). Checks, each
/// changing nothing: the shape (422: `rating` 1–5, `body` at most 500 characters, `photos` at
/// most 9 — `too_many_photos` — each uploaded before, `line_no` a line of the order), the
/// order the member's (404 for a [`Shopper::Member`] and another's order), a member's order
/// (409 `no_member`), fulfilled (409 `not_completed`), the line not reviewed yet (409
/// `already_reviewed`). Held or published by the rules; published, it earns its points. A retry
/// with the same id answers the review as it stands; the id on another order is 409 `id_in_use`.
pub async fn write(
    state: &AppState,
    shopper: Shopper,
    order_id: Uuid,
    req: &ReviewRequest,
) -> AppResult<Review> {
    retail_domain::ids::require_v7(req.id).map_err(|e| AppError::field("id", e.to_string()))?;
    if let Some(review) = storage::reviews::get_fresh(&state.store, req.id).await? {
        return retry_of(review, order_id);
    }
    if !(1..=5).contains(&req.rating) {
        return Err(AppError::field("rating", "1 to 5"));
    }
    let body = req.body.trim();
    check_text("body", body, MAX_TEXT)?;
    super::media::check_uploaded(state, &req.photos, MAX_PHOTOS, UPLOAD).await?;
    let rules = storage::reviews::rules(&state.store).await?;
    let actor = shopper.actor();
    let mut tx = state.store.begin().await?;
    let head = storage::orders::lock_head(&mut tx, &state.store, order_id).await?;
    if let Shopper::Member(member) = shopper {
        if head.member_id != Some(member) {
            return Err(AppError::not_found(format!("order {order_id} not found")));
        }
    }
    let Some(member) = head.member_id else {
        return Err(AppError::conflict(
            "no_member",
            format!("order {} has no member: only members review", head.order_no),
        ));
    };
    if !reviewable(head.channel, head.status) {
        return Err(AppError::conflict(
            "not_completed",
            format!(
                "order {} is {}: a line is reviewed once the order is completed",
                head.order_no, head.status
            ),
        ));
    }
    let lines = storage::orders::lines_in_tx(&mut tx, order_id).await?;
    let Some(&(line_no, sku_id, ..)) = lines.iter().find(|(no, ..)| *no == req.line_no) else {
        return Err(AppError::field(
            "line_no",
            format!("order {} has no line {}", head.order_no, req.line_no),
        ));
    };
    if storage::reviews::of_line_in_tx(&mut tx, order_id, line_no)
        .await?
        .is_some()
    {
        return Err(already_reviewed(line_no));
    }
    let name = storage::orders::line_names_in_tx(&mut tx, order_id)
        .await?
        .into_iter()
        .find(|(no, _)| *no == line_no)
        .map(|(_, name)| name)
        .unwrap_or_default();
    let hash = text_hash(body);
    let mut hold = hold_reason(&rules, body);
    if hold.is_none() && storage::reviews::repeated_in_tx(&mut tx, member, &hash, req.id).await? {
        hold = Some("repeated");
    }
    let new = NewReview {
        id: req.id,
        order_id,
        order_no: &head.order_no,
        line_no,
        member_id: member,
        sku_id,
        item_name: &name,
        rating: req.rating,
        body,
        body_hash: &hash,
        photos: &req.photos,
        status: if hold.is_some() {
            S::Held
        } else {
            S::Published
        },
        hold_reason: hold,
        created_by: &actor,
    };
    match storage::reviews::insert_in_tx(&mut tx, &new).await? {
        Inserted::Written => {}
        Inserted::LineTaken => return Err(already_reviewed(line_no)),
        Inserted::IdTaken => {
            drop(tx);
            return retry_of(found(state, req.id).await?, order_id);
        }
    }
    if hold.is_none() {
        let review = storage::reviews::lock_in_tx(&mut tx, &state.store, req.id)
            .await?
            .ok_or_else(|| AppError::Internal(anyhow::anyhow!("review {} vanished", req.id)))?;
        credit_in_tx(state, &mut tx, &review, &rules, &actor).await?;
    }
    tx.commit().await?;
    found(state, req.id).await
}

fn already_reviewed(line_no: i64) -> AppError {
    AppError::conflict(
        "already_reviewed",
        format!("line {line_no} is reviewed already: add a follow-up to its review instead"),
    )
}

/// Adds the one follow-up (追评) to review `id` (see the module): 1 to 500 characters and up to 9
/// photos (422 otherwise), held or published by the same rules as a review. A retry with the
/// same id answers the review; another follow-up is 409 `follow_up_exists`, and a hidden review
/// takes none (409 `review_hidden`). A [`Shopper::Member`] who did not write it gets 404.
pub async fn follow_up(
    state: &AppState,
    shopper: Shopper,
    id: Uuid,
    req: &FollowUpRequest,
) -> AppResult<Review> {
    retail_domain::ids::require_v7(req.id).map_err(|e| AppError::field("id", e.to_string()))?;
    let review = found(state, id).await?;
    if let Shopper::Member(member) = shopper {
        if review.member_id != member {
            return Err(AppError::not_found(format!("review {id} not found")));
        }
    }
    if let Some(existing) = &review.follow_up {
        return if existing.id == req.id {
            Ok(review)
        } else {
            Err(follow_up_exists())
        };
    }
    let body = req.body.trim();
    if body.is_empty() {
        return Err(AppError::field("body", "say something"));
    }
    check_text("body", body, MAX_TEXT)?;
    super::media::check_uploaded(state, &req.photos, MAX_PHOTOS, UPLOAD).await?;
    if review.status == S::Hidden {
        return Err(AppError::conflict(
            "review_hidden",
            "this review is hidden: it takes no follow-up",
        ));
    }
    let rules = storage::reviews::rules(&state.store).await?;
    let hash = text_hash(body);
    let mut tx = state.store.begin().await?;
    let mut hold = hold_reason(&rules, body);
    if hold.is_none()
        && (hash == text_hash(&review.body)
            || storage::reviews::repeated_in_tx(&mut tx, review.member_id, &hash, id).await?)
    {
        hold = Some("repeated");
    }
    let new = NewFollowUp {
        id: req.id,
        body,
        body_hash: &hash,
        photos: &req.photos,
        status: if hold.is_some() {
            S::Held
        } else {
            S::Published
        },
        hold_reason: hold,
    };
    if !storage::reviews::add_follow_up_in_tx(&mut tx, id, &new).await? {
        drop(tx);
        let review = found(state, id).await?;
        return match &review.follow_up {
            Some(f) if f.id == req.id => Ok(review),
            _ => Err(follow_up_exists()),
        };
    }
    tx.commit().await?;
    found(state, id).await
}

fn follow_up_exists() -> AppError {
    AppError::conflict(
        "follow_up_exists",
        "this review has its follow-up already: one follow-up per review",
    )
}

/// Only head office moderates (403 otherwise).
pub fn require_moderator(staff: &StaffActor) -> AppResult<()> {
    staff.require(&[Role::HeadOfficeAdmin])
}

async fn audit(
    tx: &mut storage::Tx,
    staff: &StaffActor,
    action: &str,
    review: &Review,
    detail: serde_json::Value,
) -> AppResult<()> {
    let mut detail = detail;
    detail["order_no"] = review.order_no.clone().into();
    detail["line_no"] = review.line_no.into();
    storage::audit::record(
        tx,
        &staff.actor(),
        action,
        "review",
        &review.id.to_string(),
        detail,
    )
    .await
}

/// Publishes what of review `id` is held or hidden — the review (which then earns its points,
/// once) and a held follow-up (audited `review.approve`). A review with nothing to publish is
/// answered as it stands.
pub async fn approve(state: &AppState, staff: &StaffActor, id: Uuid) -> AppResult<Review> {
    require_moderator(staff)?;
    let rules = storage::reviews::rules(&state.store).await?;
    let mut tx = state.store.begin().await?;
    let review = locked(state, &mut tx, id).await?;
    let publish_review = review.status != S::Published;
    let publish_follow_up = review
        .follow_up
        .as_ref()
        .is_some_and(|f| f.status == S::Held);
    if !publish_review && !publish_follow_up {
        drop(tx);
        return found(state, id).await;
    }
    let actor = staff.actor();
    storage::reviews::moderate_in_tx(
        &mut tx,
        id,
        &Moderation {
            status: publish_review.then_some(S::Published),
            follow_up_status: publish_follow_up.then_some(S::Published),
            decided_by: Some(&actor),
            ..Default::default()
        },
    )
    .await?;
    if publish_review {
        credit_in_tx(state, &mut tx, &review, &rules, &actor).await?;
    }
    audit(
        &mut tx,
        staff,
        "review.approve",
        &review,
        serde_json::json!({"review": publish_review, "follow_up": publish_follow_up,
            "was": review.status.as_str(), "hold_reason": review.hold_reason}),
    )
    .await?;
    tx.commit().await?;
    found(state, id).await
}

/// Review `id` under its row lock for a moderation step (404 when there is none).
async fn locked(state: &AppState, tx: &mut storage::Tx, id: Uuid) -> AppResult<Review> {
    storage::reviews::lock_in_tx(tx, &state.store, id)
        .await?
        .ok_or_else(|| AppError::not_found(format!("review {id} not found")))
}

/// Hides review `id` (and its follow-up) from the product page with a reason (1 to 200
/// characters on one line; audited `review.hide`); the points it earned are taken back. Hiding
/// a hidden review answers it as it stands.
pub async fn hide(
    state: &AppState,
    staff: &StaffActor,
    id: Uuid,
    reason: &str,
) -> AppResult<Review> {
    require_moderator(staff)?;
    let reason = check_one_line("reason", reason, MAX_REASON)?;
    let mut tx = state.store.begin().await?;
    let review = locked(state, &mut tx, id).await?;
    if review.status == S::Hidden {
        drop(tx);
        return found(state, id).await;
    }
    let actor = staff.actor();
    storage::reviews::moderate_in_tx(
        &mut tx,
        id,
        &Moderation {
            status: Some(S::Hidden),
            hide_reason: Some(&reason),
            decided_by: Some(&actor),
            ..Default::default()
        },
    )
    .await?;
    if review.points > 0 {
        storage::members::reverse_in_tx(
            &mut tx,
            review.member_id,
            review.points,
            0,
            &points_ref(id),
            &actor,
        )
        .await?;
        storage::reviews::set_points_in_tx(&mut tx, id, 0).await?;
    }
    audit(
        &mut tx,
        staff,
        "review.hide",
        &review,
        serde_json::json!({"reason": reason, "was": review.status.as_str(), "points_taken_back": review.points}),
    )
    .await?;
    tx.commit().await?;
    found(state, id).await
}

/// Hides only the follow-up of review `id` with a reason (audited `review.hide_follow_up`); the
/// review keeps its place and its points. No follow-up is 409 `no_follow_up`; hiding it again
/// answers the review.
pub async fn hide_follow_up(
    state: &AppState,
    staff: &StaffActor,
    id: Uuid,
    reason: &str,
) -> AppResult<Review> {
    require_moderator(staff)?;
    let reason = check_one_line("reason", reason, MAX_REASON)?;
    let mut tx = state.store.begin().await?;
    let review = locked(state, &mut tx, id).await?;
    let Some(follow) = &review.follow_up else {
        return Err(AppError::conflict(
            "no_follow_up",
            "this review has no follow-up",
        ));
    };
    if follow.status == S::Hidden {
        drop(tx);
        return found(state, id).await;
    }
    let actor = staff.actor();
    storage::reviews::moderate_in_tx(
        &mut tx,
        id,
        &Moderation {
            follow_up_status: Some(S::Hidden),
            follow_up_hide: Some(&reason),
            decided_by: Some(&actor),
            ..Default::default()
        },
    )
    .await?;
    audit(
        &mut tx,
        staff,
        "review.hide_follow_up",
        &review,
        serde_json::json!({"reason": reason}),
    )
    .await?;
    tx.commit().await?;
    found(state, id).await
}

/// Writes (or replaces) the merchant's reply under review `id`: 1 to 500 characters (audited
/// `review.reply`).
pub async fn reply(
    state: &AppState,
    staff: &StaffActor,
    id: Uuid,
    text: &str,
) -> AppResult<Review> {
    require_moderator(staff)?;
    let text = text.trim();
    if text.is_empty() {
        return Err(AppError::field("reply", "say something"));
    }
    check_text("reply", text, MAX_TEXT)?;
    let review = found(state, id).await?;
    if review.reply.as_deref() == Some(text) {
        return Ok(review);
    }
    let mut tx = state.store.begin().await?;
    storage::reviews::reply_in_tx(&mut tx, id, text, &staff.actor()).await?;
    audit(
        &mut tx,
        staff,
        "review.reply",
        &review,
        serde_json::json!({"reply": text}),
    )
    .await?;
    tx.commit().await?;
    found(state, id).await
}

/// A member votes review `id` helpful, once: a second vote changes nothing. Only a published
/// review (404 otherwise), not one's own (409 `own_review`). Answers whether the vote counted.
pub async fn vote(state: &AppState, member: Uuid, id: Uuid) -> AppResult<bool> {
    let review = storage::reviews::get_fresh(&state.store, id)
        .await?
        .filter(|r| r.status == S::Published)
        .ok_or_else(|| AppError::not_found(format!("review {id} not found")))?;
    if review.member_id == member {
        return Err(AppError::conflict(
            "own_review",
            "a member does not vote for their own review",
        ));
    }
    let mut tx = state.store.begin().await?;
    let counted = storage::reviews::vote_in_tx(&mut tx, id, member).await?;
    tx.commit().await?;
    Ok(counted)
}

/// Head office replaces the rules (audited `review.rules`): at most 500 banned words of 1 to 50
/// characters (blank ones dropped, duplicates once), links 0 to 100, points 0 to 100,000 each.
pub async fn set_rules(
    state: &AppState,
    staff: &StaffActor,
    rules: &ReviewRules,
) -> AppResult<ReviewRules> {
    require_moderator(staff)?;
    let mut words: Vec<String> = Vec::new();
    for word in rules.banned_words.iter().map(|w| w.trim()) {
        if word.is_empty() {
            continue;
        }
        if word.chars().count() > MAX_BANNED_WORD || word.chars().any(char::is_control) {
            return Err(AppError::field(
                "banned_words",
                format!("each 1 to {MAX_BANNED_WORD} characters on one line"),
            ));
        }
        if !words.iter().any(|w| w == word) {
            words.push(word.to_owned());
        }
    }
    if words.len() > MAX_BANNED_WORDS {
        return Err(AppError::field(
            "banned_words",
            format!("at most {MAX_BANNED_WORDS}"),
        ));
    }
    if !(0..=100).contains(&rules.max_links) {
        return Err(AppError::field("max_links", "0 to 100"));
    }
    for (field, points) in [
        ("points_review", rules.points_review),
        ("points_photos", rules.points_photos),
    ] {
        if !(0..=100_000).contains(&points) {
            return Err(AppError::field(field, "0 to 100000"));
        }
    }
    let rules = ReviewRules {
        banned_words: words,
        ..rules.clone()
    };
    let mut tx = state.store.begin().await?;
    storage::reviews::set_rules_in_tx(&mut tx, &rules, &staff.actor()).await?;
    storage::audit::record(
        &mut tx,
        &staff.actor(),
        "review.rules",
        "review_rules",
        "default",
        serde_json::to_value(&rules).map_err(|e| AppError::Internal(e.into()))?,
    )
    .await?;
    tx.commit().await?;
    storage::reviews::rules(&state.store).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> ReviewRules {
        ReviewRules {
            banned_words: vec!["垃圾".into(), "Spam".into()],
            max_links: 1,
            points_review: 10,
            points_photos: 5,
        }
    }

    #[test]
    fn holds_follow_the_rules() {
        let r = rules();
        assert_eq!(hold_reason(&r, "很好喝"), None);
        assert_eq!(hold_reason(&r, "太垃圾了"), Some("banned_word"));
        assert_eq!(hold_reason(&r, "buy SPAM here"), Some("banned_word"));
        assert_eq!(hold_reason(&r, "see https://a.cn"), None);
        assert_eq!(
            hold_reason(&r, "see https://a.cn and www.b.cn"),
            Some("too_many_links")
        );
        assert_eq!(
            hold_reason(&ReviewRules { max_links: 0, ..r }, "www.a.cn"),
            Some("too_many_links")
        );
    }

    #[test]
    fn links_are_counted_once_each() {
        assert_eq!(link_count("http://www.a.cn"), 1);
        assert_eq!(link_count("HTTPS://A.CN http://b.cn www.c.cn"), 3);
        assert_eq!(link_count("没有链接"), 0);
    }

    #[test]
    fn repeats_ignore_case_spaces_and_punctuation() {
        assert_eq!(text_hash("很好喝！"), text_hash(" 很好 喝"));
        assert_eq!(text_hash("Great milk."), text_hash("great MILK"));
        assert_ne!(text_hash("很好喝"), text_hash("不好喝"));
        assert_eq!(text_hash("  !!! "), "");
    }

    #[test]
    fn points_follow_the_rule() {
        assert_eq!(points_for(&rules(), 0), 10);
        assert_eq!(points_for(&rules(), 3), 15);
        let off = ReviewRules {
            points_review: 0,
            points_photos: 0,
            ..rules()
        };
        assert_eq!(points_for(&off, 9), 0);
    }

    #[test]
    fn only_fulfilled_shop_orders_are_reviewed() {
        assert!(reviewable(Channel::Online, OrderStatus::Delivered));
        assert!(reviewable(Channel::Online, OrderStatus::PickedUp));
        assert!(reviewable(Channel::ScanAndGo, OrderStatus::Completed));
        assert!(reviewable(Channel::Online, OrderStatus::AfterSale));
        assert!(!reviewable(Channel::Online, OrderStatus::Paid));
        assert!(!reviewable(Channel::Online, OrderStatus::Shipped));
        assert!(!reviewable(Channel::Pos, OrderStatus::Completed));
        assert!(!reviewable(Channel::Online, OrderStatus::Refunded));
    }
}
