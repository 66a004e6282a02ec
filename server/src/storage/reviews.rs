//! Reviews with photos (晒单, issue 18): a member's rating and text of an order line with its
//! photos, its one follow-up (追评), the merchant's reply, "helpful" votes, the product page's
//! summary and pages, the moderation queue and head office's rules (banned words, links, points).
//! The use cases are in `app::reviews`.

use std::collections::HashMap;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::paging::{self, Cursor, Order, Page};
use super::{col, from_ms, now_ms, uuid_col, Store, Tx};
use crate::error::{AppError, AppResult};

/// Where a review (or its follow-up) stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReviewStatus {
    /// Held by an automatic rule, waiting for head office's moderation.
    Held,
    /// Shown on the product page.
    Published,
    /// Hidden by head office (with a reason).
    Hidden,
}

impl ReviewStatus {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Held => "held",
            Self::Published => "published",
            Self::Hidden => "hidden",
        }
    }
}

impl FromStr for ReviewStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "held" => Ok(Self::Held),
            "published" => Ok(Self::Published),
            "hidden" => Ok(Self::Hidden),
            other => Err(format!("unknown review status {other}")),
        }
    }
}

/// A review's follow-up (追评).
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct FollowUp {
    /// Client id.
    pub id: Uuid,
    /// The text.
    pub body: String,
    /// Photo image names, in order.
    pub photos: Vec<String>,
    /// Where it stands.
    pub status: ReviewStatus,
    /// Why it was held (`banned_word`, `too_many_links`, `repeated`).
    pub hold_reason: Option<String>,
    /// Why head office hid it.
    pub hide_reason: Option<String>,
    /// Written.
    pub created_at: chrono::DateTime<chrono::Utc>,
}

/// A review as its writer and head office see it.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Review {
    /// Client id.
    pub id: Uuid,
    /// The order.
    pub order_id: Uuid,
    /// The order's number.
    pub order_no: String,
    /// The order's line reviewed.
    pub line_no: i64,
    /// The member who wrote it.
    pub member_id: Uuid,
    /// The product.
    pub product_id: Uuid,
    /// The SKU bought.
    pub sku_id: Uuid,
    /// The line's name on the order.
    pub item_name: String,
    /// 1 to 5.
    pub rating: i64,
    /// The text (may be empty).
    pub body: String,
    /// Photo image names, in order (at most 9).
    pub photos: Vec<String>,
    /// Where it stands.
    pub status: ReviewStatus,
    /// Why it was held (`banned_word`, `too_many_links`, `repeated`).
    pub hold_reason: Option<String>,
    /// Why head office hid it.
    pub hide_reason: Option<String>,
    /// Who approved or hid it last.
    pub decided_by: Option<String>,
    /// The merchant's reply.
    pub reply: Option<String>,
    /// When the reply was written.
    pub replied_at: Option<chrono::DateTime<chrono::Utc>>,
    /// "Helpful" votes.
    pub helpful: i64,
    /// Points it earned and that were not taken back.
    pub points: i64,
    /// The follow-up, once written.
    pub follow_up: Option<FollowUp>,
    /// Written.
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// First published.
    pub published_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// A published follow-up as the product page shows it.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct PublicFollowUp {
    /// The text.
    pub body: String,
    /// Photo image names.
    pub photos: Vec<String>,
    /// Written.
    pub created_at: chrono::DateTime<chrono::Utc>,
}

/// A published review as anyone sees it (no member, no order).
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct PublicReview {
    /// Id (for a "helpful" vote).
    pub id: Uuid,
    /// 1 to 5.
    pub rating: i64,
    /// The text.
    pub body: String,
    /// Photo image names (served at `/media/{name}`).
    pub photos: Vec<String>,
    /// What was bought (the order line's name: product and option).
    pub item_name: String,
    /// "Helpful" votes.
    pub helpful: i64,
    /// The merchant's reply.
    pub reply: Option<String>,
    /// The follow-up, when published.
    pub follow_up: Option<PublicFollowUp>,
    /// Written.
    pub created_at: chrono::DateTime<chrono::Utc>,
}

impl From<Review> for PublicReview {
    fn from(r: Review) -> Self {
        Self {
            id: r.id,
            rating: r.rating,
            body: r.body,
            photos: r.photos,
            item_name: r.item_name,
            helpful: r.helpful,
            reply: r.reply,
            follow_up: r
                .follow_up
                .filter(|f| f.status == ReviewStatus::Published)
                .map(|f| PublicFollowUp {
                    body: f.body,
                    photos: f.photos,
                    created_at: f.created_at,
                }),
            created_at: r.created_at,
        }
    }
}

/// How many published reviews gave one rating.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct StarCount {
    /// 1 to 5.
    pub rating: i64,
    /// Reviews.
    pub count: i64,
}

/// A product's published reviews in numbers.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ReviewSummary {
    /// Published reviews.
    pub count: i64,
    /// Their average rating, one decimal (0 when there is none).
    pub average: f64,
    /// Counts per rating, 5 down to 1 (always five entries).
    pub by_star: Vec<StarCount>,
    /// Published reviews with photos.
    pub with_photos: i64,
}

/// A new review, checked by the application layer.
#[derive(Clone, Debug)]
pub struct NewReview<'a> {
    /// Client id.
    pub id: Uuid,
    /// The order.
    pub order_id: Uuid,
    /// Its number.
    pub order_no: &'a str,
    /// The line.
    pub line_no: i64,
    /// The order's member.
    pub member_id: Uuid,
    /// The line's SKU.
    pub sku_id: Uuid,
    /// The line's name.
    pub item_name: &'a str,
    /// 1 to 5.
    pub rating: i64,
    /// The text.
    pub body: &'a str,
    /// Its normalised hash ('' for none).
    pub body_hash: &'a str,
    /// Photo image names.
    pub photos: &'a [String],
    /// Published or held.
    pub status: ReviewStatus,
    /// Why held.
    pub hold_reason: Option<&'a str>,
    /// Who wrote it (actor name).
    pub created_by: &'a str,
}

/// A new follow-up, checked by the application layer.
#[derive(Clone, Debug)]
pub struct NewFollowUp<'a> {
    /// Client id.
    pub id: Uuid,
    /// The text.
    pub body: &'a str,
    /// Its normalised hash.
    pub body_hash: &'a str,
    /// Photo image names.
    pub photos: &'a [String],
    /// Published or held.
    pub status: ReviewStatus,
    /// Why held.
    pub hold_reason: Option<&'a str>,
}

const COLUMNS: &str = "id, order_id, order_no, line_no, member_id, product_id, sku_id, item_name, \
    rating, body, photo_count, status, hold_reason, hide_reason, decided_by, reply, replied_at, \
    helpful, points, follow_up_id, follow_up_body, follow_up_status, follow_up_hold, \
    follow_up_hide, follow_up_at, created_at, published_at";

fn opt_ms(row: &sqlx::any::AnyRow, name: &str) -> AppResult<Option<chrono::DateTime<chrono::Utc>>> {
    Ok(col::<Option<i64>>(row, name)?.map(from_ms))
}

fn from_row(row: &sqlx::any::AnyRow) -> AppResult<Review> {
    let follow_up = match col::<Option<String>>(row, "follow_up_id")? {
        Some(id) => Some(FollowUp {
            id: id
                .parse()
                .map_err(|e: uuid::Error| AppError::Internal(e.into()))?,
            body: col::<Option<String>>(row, "follow_up_body")?.unwrap_or_default(),
            photos: Vec::new(),
            status: super::parse_col(row, "follow_up_status")?,
            hold_reason: col(row, "follow_up_hold")?,
            hide_reason: col(row, "follow_up_hide")?,
            created_at: from_ms(col::<Option<i64>>(row, "follow_up_at")?.unwrap_or(0)),
        }),
        None => None,
    };
    Ok(Review {
        id: uuid_col(row, "id")?,
        order_id: uuid_col(row, "order_id")?,
        order_no: col(row, "order_no")?,
        line_no: col(row, "line_no")?,
        member_id: uuid_col(row, "member_id")?,
        product_id: uuid_col(row, "product_id")?,
        sku_id: uuid_col(row, "sku_id")?,
        item_name: col(row, "item_name")?,
        rating: col(row, "rating")?,
        body: col(row, "body")?,
        photos: Vec::new(),
        status: super::parse_col(row, "status")?,
        hold_reason: col(row, "hold_reason")?,
        hide_reason: col(row, "hide_reason")?,
        decided_by: col(row, "decided_by")?,
        reply: col(row, "reply")?,
        replied_at: opt_ms(row, "replied_at")?,
        helpful: col(row, "helpful")?,
        points: col(row, "points")?,
        follow_up,
        created_at: from_ms(col(row, "created_at")?),
        published_at: opt_ms(row, "published_at")?,
    })
}

/// Reads the reviews of `rows` with their photos (one query for all of them).
async fn filled<'c, E>(exec: E, rows: &[sqlx::any::AnyRow]) -> AppResult<Vec<Review>>
where
    E: sqlx::Executor<'c, Database = sqlx::Any>,
{
    let mut reviews = rows.iter().map(from_row).collect::<AppResult<Vec<_>>>()?;
    if reviews.is_empty() {
        return Ok(reviews);
    }
    let sql = format!(
        "SELECT review_id, part, image_id FROM review_photos WHERE review_id IN ({}) \
         ORDER BY review_id, part, position",
        super::placeholders(1, reviews.len())
    );
    let mut query = sqlx::query(&sql);
    for r in &reviews {
        query = query.bind(r.id.to_string());
    }
    let photos = query.fetch_all(exec).await?;
    let mut by_review: HashMap<String, (Vec<String>, Vec<String>)> = HashMap::new();
    for row in &photos {
        let entry = by_review.entry(col(row, "review_id")?).or_default();
        let image: String = col(row, "image_id")?;
        if col::<String>(row, "part")? == "follow_up" {
            entry.1.push(image);
        } else {
            entry.0.push(image);
        }
    }
    for review in &mut reviews {
        if let Some((own, follow)) = by_review.remove(&review.id.to_string()) {
            review.photos = own;
            if let Some(f) = review.follow_up.as_mut() {
                f.photos = follow;
            }
        }
    }
    Ok(reviews)
}

async fn insert_photos(tx: &mut Tx, id: Uuid, part: &str, photos: &[String]) -> AppResult<()> {
    for (position, image) in photos.iter().enumerate() {
        sqlx::query(
            "INSERT INTO review_photos (review_id, part, position, image_id) VALUES ($1, $2, $3, $4)",
        )
        .bind(id.to_string())
        .bind(part)
        .bind(i64::try_from(position).unwrap_or(i64::MAX))
        .bind(image.as_str())
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// What [`insert_in_tx`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Inserted {
    /// Written.
    Written,
    /// The id is taken already (a retry): nothing written.
    IdTaken,
    /// The order line has a review already (under another id): nothing written, and the
    /// transaction is to be dropped (PostgreSQL aborted it).
    LineTaken,
}

/// Writes a new review with its photos (see [`Inserted`]).
pub async fn insert_in_tx(tx: &mut Tx, new: &NewReview<'_>) -> AppResult<Inserted> {
    let now = now_ms();
    let published_at = (new.status == ReviewStatus::Published).then_some(now);
    let inserted = sqlx::query(
        "INSERT INTO reviews (id, order_id, order_no, line_no, member_id, product_id, sku_id, \
         item_name, rating, body, body_hash, photo_count, status, hold_reason, created_by, \
         created_at, published_at, updated_at) \
         SELECT $1, $2, $3, $4, $5, s.product_id, s.id, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $15 \
         FROM skus s WHERE s.id = $6 ON CONFLICT (id) DO NOTHING",
    )
    .bind(new.id.to_string())
    .bind(new.order_id.to_string())
    .bind(new.order_no)
    .bind(new.line_no)
    .bind(new.member_id.to_string())
    .bind(new.sku_id.to_string())
    .bind(new.item_name)
    .bind(new.rating)
    .bind(new.body)
    .bind(new.body_hash)
    .bind(i64::try_from(new.photos.len()).unwrap_or(i64::MAX))
    .bind(new.status.as_str())
    .bind(new.hold_reason)
    .bind(new.created_by)
    .bind(now)
    .bind(published_at)
    .execute(&mut **tx)
    .await;
    let inserted = match inserted {
        Ok(done) => done.rows_affected(),
        Err(e) if super::is_unique_violation(&e) => return Ok(Inserted::LineTaken),
        Err(e) => return Err(e.into()),
    };
    if inserted == 0 {
        return Ok(Inserted::IdTaken);
    }
    insert_photos(tx, new.id, "review", new.photos).await?;
    Ok(Inserted::Written)
}

/// Adds the follow-up to a review that has none; false when it has one already (nothing
/// written).
pub async fn add_follow_up_in_tx(
    tx: &mut Tx,
    review: Uuid,
    new: &NewFollowUp<'_>,
) -> AppResult<bool> {
    let now = now_ms();
    let done = sqlx::query(
        "UPDATE reviews SET follow_up_id = $1, follow_up_body = $2, follow_up_hash = $3, \
         follow_up_status = $4, follow_up_hold = $5, follow_up_at = $6, updated_at = $6 \
         WHERE id = $7 AND follow_up_id IS NULL",
    )
    .bind(new.id.to_string())
    .bind(new.body)
    .bind(new.body_hash)
    .bind(new.status.as_str())
    .bind(new.hold_reason)
    .bind(now)
    .bind(review.to_string())
    .execute(&mut **tx)
    .await?
    .rows_affected();
    if done == 0 {
        return Ok(false);
    }
    insert_photos(tx, review, "follow_up", new.photos).await?;
    Ok(true)
}

/// True when the member wrote this text (its normalised hash) before, in another review or a
/// follow-up (`except` is the review being written or followed up).
pub async fn repeated_in_tx(
    tx: &mut Tx,
    member: Uuid,
    hash: &str,
    except: Uuid,
) -> AppResult<bool> {
    if hash.is_empty() {
        return Ok(false);
    }
    let row = sqlx::query(
        "SELECT COUNT(*) AS n FROM reviews WHERE member_id = $1 AND id <> $3 \
         AND (body_hash = $2 OR follow_up_hash = $2)",
    )
    .bind(member.to_string())
    .bind(hash)
    .bind(except.to_string())
    .fetch_one(&mut **tx)
    .await?;
    Ok(col::<i64>(&row, "n")? > 0)
}

/// The review of an order's line, if any.
pub async fn of_line_in_tx(tx: &mut Tx, order_id: Uuid, line_no: i64) -> AppResult<Option<Uuid>> {
    let row = sqlx::query("SELECT id FROM reviews WHERE order_id = $1 AND line_no = $2")
        .bind(order_id.to_string())
        .bind(line_no)
        .fetch_optional(&mut **tx)
        .await?;
    row.map(|r| uuid_col(&r, "id")).transpose()
}

/// What a moderation step changes (fields left `None` keep their value).
#[derive(Clone, Debug, Default)]
pub struct Moderation<'a> {
    /// The review's new status.
    pub status: Option<ReviewStatus>,
    /// The follow-up's new status.
    pub follow_up_status: Option<ReviewStatus>,
    /// Why hidden.
    pub hide_reason: Option<&'a str>,
    /// Why the follow-up was hidden.
    pub follow_up_hide: Option<&'a str>,
    /// Who decided.
    pub decided_by: Option<&'a str>,
}

/// Applies a moderation step; `published_at` is set the first time the review is published.
pub async fn moderate_in_tx(tx: &mut Tx, id: Uuid, change: &Moderation<'_>) -> AppResult<()> {
    let now = now_ms();
    sqlx::query(
        "UPDATE reviews SET status = COALESCE($1, status), \
         follow_up_status = CASE WHEN follow_up_id IS NULL THEN NULL ELSE COALESCE($2, follow_up_status) END, \
         hide_reason = COALESCE($3, hide_reason), follow_up_hide = COALESCE($4, follow_up_hide), \
         decided_by = COALESCE($5, decided_by), \
         published_at = CASE WHEN published_at IS NULL AND $1 = 'published' THEN $6 ELSE published_at END, \
         updated_at = $6 WHERE id = $7",
    )
    .bind(change.status.map(ReviewStatus::as_str))
    .bind(change.follow_up_status.map(ReviewStatus::as_str))
    .bind(change.hide_reason)
    .bind(change.follow_up_hide)
    .bind(change.decided_by)
    .bind(now)
    .bind(id.to_string())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Records the points the review holds now (credited, or 0 once taken back).
pub async fn set_points_in_tx(tx: &mut Tx, id: Uuid, points: i64) -> AppResult<()> {
    sqlx::query("UPDATE reviews SET points = $1 WHERE id = $2")
        .bind(points)
        .bind(id.to_string())
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Writes (or replaces) the merchant's reply.
pub async fn reply_in_tx(tx: &mut Tx, id: Uuid, text: &str, by: &str) -> AppResult<()> {
    let now = now_ms();
    sqlx::query(
        "UPDATE reviews SET reply = $1, replied_by = $2, replied_at = $3, updated_at = $3 WHERE id = $4",
    )
    .bind(text)
    .bind(by)
    .bind(now)
    .bind(id.to_string())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// A member's "helpful" vote, once: false when they voted already (nothing changes).
pub async fn vote_in_tx(tx: &mut Tx, id: Uuid, member: Uuid) -> AppResult<bool> {
    let done = sqlx::query(
        "INSERT INTO review_votes (review_id, member_id, created_at) VALUES ($1, $2, $3) \
         ON CONFLICT (review_id, member_id) DO NOTHING",
    )
    .bind(id.to_string())
    .bind(member.to_string())
    .bind(now_ms())
    .execute(&mut **tx)
    .await?
    .rows_affected();
    if done == 0 {
        return Ok(false);
    }
    sqlx::query("UPDATE reviews SET helpful = helpful + 1 WHERE id = $1")
        .bind(id.to_string())
        .execute(&mut **tx)
        .await?;
    Ok(true)
}

/// Which of `ids` the member voted helpful.
pub async fn voted(store: &Store, member: Uuid, ids: &[Uuid]) -> AppResult<Vec<Uuid>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT review_id FROM review_votes WHERE member_id = $1 AND review_id IN ({})",
        super::placeholders(2, ids.len())
    );
    let mut query = sqlx::query(&sql).bind(member.to_string());
    for id in ids {
        query = query.bind(id.to_string());
    }
    query
        .fetch_all(store.reader())
        .await?
        .iter()
        .map(|r| uuid_col(r, "review_id"))
        .collect()
}

/// One review with its photos.
pub async fn get(store: &Store, id: Uuid) -> AppResult<Option<Review>> {
    get_in(store.reader(), id).await
}

/// [`get`] on the writer, for a read right after a write (SQLite's single writer).
pub async fn get_fresh(store: &Store, id: Uuid) -> AppResult<Option<Review>> {
    get_in(store.writer(), id).await
}

async fn get_in(pool: &sqlx::AnyPool, id: Uuid) -> AppResult<Option<Review>> {
    let rows = sqlx::query(&format!("SELECT {COLUMNS} FROM reviews WHERE id = $1"))
        .bind(id.to_string())
        .fetch_all(pool)
        .await?;
    Ok(filled(pool, &rows).await?.pop())
}

/// A review with its photos, locked inside a transaction.
pub async fn lock_in_tx(tx: &mut Tx, store: &Store, id: Uuid) -> AppResult<Option<Review>> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM reviews WHERE id = $1{}",
        store.for_update()
    ))
    .bind(id.to_string())
    .fetch_all(&mut **tx)
    .await?;
    Ok(filled(&mut **tx, &rows).await?.pop())
}

/// An order's reviews, by line.
pub async fn of_order(store: &Store, order_id: Uuid) -> AppResult<Vec<Review>> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM reviews WHERE order_id = $1 ORDER BY line_no"
    ))
    .bind(order_id.to_string())
    .fetch_all(store.reader())
    .await?;
    filled(store.reader(), &rows).await
}

/// A page of a member's reviews, newest first.
pub async fn of_member(
    store: &Store,
    member: Uuid,
    cursor: Option<&Cursor>,
    limit: i64,
) -> AppResult<Page<Review>> {
    let limit = limit.clamp(1, paging::MAX_API_LIMIT);
    let rows = paging::bind(
        sqlx::query(&format!(
            "SELECT {COLUMNS} FROM reviews WHERE member_id = $1 AND {} {} LIMIT $2",
            paging::after("created_at", "id", 3, Order::Desc),
            paging::order_by("created_at", "id", Order::Desc),
        ))
        .bind(member.to_string())
        .bind(paging::fetch_limit(limit)),
        cursor,
    )
    .fetch_all(store.reader())
    .await?;
    let reviews = filled(store.reader(), &rows).await?;
    Ok(paging::page(reviews, limit, |r| {
        Cursor::new(r.created_at.timestamp_millis(), r.id)
    }))
}

/// Which reviews a product page lists.
#[derive(Clone, Copy, Debug, Default)]
pub struct ProductFilter {
    /// Only those with photos.
    pub with_photos: bool,
    /// Only this rating (1–5).
    pub rating: Option<i64>,
}

/// A page of a product's published reviews, newest first.
pub async fn product_page(
    store: &Store,
    product: Uuid,
    filter: ProductFilter,
    cursor: Option<&Cursor>,
    limit: i64,
) -> AppResult<Page<PublicReview>> {
    let limit = limit.clamp(1, paging::MAX_API_LIMIT);
    let rows = paging::bind(
        sqlx::query(&format!(
            "SELECT {COLUMNS} FROM reviews WHERE product_id = $1 AND status = 'published' \
             AND ($2 = 0 OR photo_count > 0) AND ($3 = 0 OR rating = $3) AND {} {} LIMIT $4",
            paging::after("created_at", "id", 5, Order::Desc),
            paging::order_by("created_at", "id", Order::Desc),
        ))
        .bind(product.to_string())
        .bind(i64::from(filter.with_photos))
        .bind(filter.rating.unwrap_or(0))
        .bind(paging::fetch_limit(limit)),
        cursor,
    )
    .fetch_all(store.reader())
    .await?;
    let reviews = filled(store.reader(), &rows).await?;
    let page = paging::page(reviews, limit, |r| {
        Cursor::new(r.created_at.timestamp_millis(), r.id)
    });
    Ok(Page {
        items: page.items.into_iter().map(PublicReview::from).collect(),
        next_cursor: page.next_cursor,
    })
}

/// A product's published reviews in numbers.
pub async fn summary(store: &Store, product: Uuid) -> AppResult<ReviewSummary> {
    let rows = sqlx::query(
        "SELECT rating, COUNT(*) AS n, \
         CAST(COALESCE(SUM(CASE WHEN photo_count > 0 THEN 1 ELSE 0 END), 0) AS BIGINT) AS photos \
         FROM reviews WHERE product_id = $1 AND status = 'published' GROUP BY rating",
    )
    .bind(product.to_string())
    .fetch_all(store.reader())
    .await?;
    let mut by_star: Vec<StarCount> = (1..=5)
        .rev()
        .map(|rating| StarCount { rating, count: 0 })
        .collect();
    let (mut count, mut sum, mut with_photos) = (0_i64, 0_i64, 0_i64);
    for row in &rows {
        let rating: i64 = col(row, "rating")?;
        let n: i64 = col(row, "n")?;
        count += n;
        sum += rating * n;
        with_photos += col::<i64>(row, "photos")?;
        if let Some(star) = by_star.iter_mut().find(|s| s.rating == rating) {
            star.count = n;
        }
    }
    let average = if count == 0 {
        0.0
    } else {
        // One decimal, rounded half up (f64 is exact enough for counts of reviews).
        ((sum as f64 / count as f64) * 10.0).round() / 10.0
    };
    Ok(ReviewSummary {
        count,
        average,
        by_star,
        with_photos,
    })
}

/// Which reviews the moderation queue lists.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum QueueFilter {
    /// Held reviews and reviews with a held follow-up (the default).
    #[default]
    Held,
    /// Published ones.
    Published,
    /// Hidden ones.
    Hidden,
    /// Every review.
    All,
}

impl QueueFilter {
    /// The name in a query string.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Held => "held",
            Self::Published => "published",
            Self::Hidden => "hidden",
            Self::All => "all",
        }
    }

    /// Reads a query string's value; anything else is the default.
    pub fn parse(text: Option<&str>) -> Self {
        match text {
            Some("published") => Self::Published,
            Some("hidden") => Self::Hidden,
            Some("all") => Self::All,
            _ => Self::Held,
        }
    }
}

/// A page of the moderation queue: held ones oldest first (the queue's order), the others
/// newest first.
pub async fn queue(
    store: &Store,
    filter: QueueFilter,
    cursor: Option<&Cursor>,
    limit: i64,
) -> AppResult<Page<Review>> {
    let limit = limit.clamp(1, paging::MAX_API_LIMIT);
    let (condition, order) = match filter {
        QueueFilter::Held => ("(status = 'held' OR follow_up_status = 'held')", Order::Asc),
        QueueFilter::Published => ("status = 'published'", Order::Desc),
        QueueFilter::Hidden => ("status = 'hidden'", Order::Desc),
        QueueFilter::All => ("1 = 1", Order::Desc),
    };
    let rows = paging::bind(
        sqlx::query(&format!(
            "SELECT {COLUMNS} FROM reviews WHERE {condition} AND {} {} LIMIT $1",
            paging::after("created_at", "id", 2, order),
            paging::order_by("created_at", "id", order),
        ))
        .bind(paging::fetch_limit(limit)),
        cursor,
    )
    .fetch_all(store.reader())
    .await?;
    let reviews = filled(store.reader(), &rows).await?;
    Ok(paging::page(reviews, limit, |r| {
        Cursor::new(r.created_at.timestamp_millis(), r.id)
    }))
}

/// Head office's review rules.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReviewRules {
    /// A review (or follow-up) containing one of these (case-insensitive) is held.
    #[serde(default)]
    pub banned_words: Vec<String>,
    /// A text with more links than this is held.
    pub max_links: i64,
    /// Points a published review earns (0: none).
    pub points_review: i64,
    /// Points more when it has photos (0: none).
    pub points_photos: i64,
}

/// The rules.
pub async fn rules(store: &Store) -> AppResult<ReviewRules> {
    let row = sqlx::query(
        "SELECT banned_words, max_links, points_review, points_photos FROM review_rules WHERE id = 'default'",
    )
    .fetch_one(store.reader())
    .await?;
    Ok(ReviewRules {
        banned_words: col::<String>(&row, "banned_words")?
            .lines()
            .map(str::trim)
            .filter(|w| !w.is_empty())
            .map(str::to_owned)
            .collect(),
        max_links: col(&row, "max_links")?,
        points_review: col(&row, "points_review")?,
        points_photos: col(&row, "points_photos")?,
    })
}

/// Replaces the rules (checked by the application layer).
pub async fn set_rules_in_tx(tx: &mut Tx, rules: &ReviewRules, actor: &str) -> AppResult<()> {
    sqlx::query(
        "UPDATE review_rules SET banned_words = $1, max_links = $2, points_review = $3, \
         points_photos = $4, updated_by = $5, updated_at = $6 WHERE id = 'default'",
    )
    .bind(rules.banned_words.join("\n"))
    .bind(rules.max_links)
    .bind(rules.points_review)
    .bind(rules.points_photos)
    .bind(actor)
    .bind(now_ms())
    .execute(&mut **tx)
    .await?;
    Ok(())
}
