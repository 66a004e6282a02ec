//! After-sales (售后) started by the shopper: the cases, their lines and photos, each step of
//! their timeline, the member's notices about them, the rules head office sets (return windows,
//! auto-approval) and the ratings report. The use cases are in `app::after_sales`.

use std::str::FromStr;

use retail_domain::money::Money;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::paging::{self, Cursor, Order, Page};
use super::{col, from_ms, now_ms, uuid_col, Store, Tx};
use crate::error::{AppError, AppResult};

/// What the shopper asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AfterSaleKind {
    /// Money back, the goods kept or never received (仅退款).
    RefundOnly,
    /// The goods go back, the money too (退货退款).
    ReturnRefund,
    /// The goods go back and the same goods come again (换货).
    Exchange,
    /// A paid order not yet shipped or collected, cancelled and refunded (取消订单).
    Cancel,
}

/// Where an after-sale case stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AfterSaleStatus {
    /// Waiting for the store's review.
    Requested,
    /// The store asked the shopper for more information.
    InfoRequested,
    /// Approved: the goods are to come back (return or exchange).
    Approved,
    /// The shopper shipped the goods back (a waybill).
    Returning,
    /// Goods received and inspected; an exchange's replacement is to go out.
    Received,
    /// The money went back (final).
    Refunded,
    /// The replacement went out (final).
    Exchanged,
    /// The store said no (final).
    Rejected,
}

macro_rules! names {
    ($ty:ty { $($variant:ident => $name:literal),+ $(,)? }) => {
        impl $ty {
            /// The stored name.
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $name),+ }
            }
        }
        impl FromStr for $ty {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                match s { $($name => Ok(Self::$variant),)+ other => Err(format!("unknown {other}")) }
            }
        }
    };
}

names!(AfterSaleKind {
    RefundOnly => "refund_only",
    ReturnRefund => "return_refund",
    Exchange => "exchange",
    Cancel => "cancel",
});

names!(AfterSaleStatus {
    Requested => "requested",
    InfoRequested => "info_requested",
    Approved => "approved",
    Returning => "returning",
    Received => "received",
    Refunded => "refunded",
    Exchanged => "exchanged",
    Rejected => "rejected",
});

impl AfterSaleStatus {
    /// True once nothing more happens to the case (but its rating).
    pub fn is_final(self) -> bool {
        matches!(self, Self::Refunded | Self::Exchanged | Self::Rejected)
    }
}

/// One line of a case: units of one order line.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct AfterSaleLine {
    /// The order's line number.
    pub line_no: i64,
    /// SKU.
    pub sku_id: Uuid,
    /// Name on the order.
    pub name: String,
    /// Units.
    pub qty: i64,
    /// What was paid for these units.
    pub amount: Money,
}

/// One step of a case's timeline.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct AfterSaleEvent {
    /// The step (`requested`, `approved`, `auto_approved`, `info_requested`, `answered`,
    /// `rejected`, `returning`, `received`, `refunded`, `exchanged`, `rated`).
    pub step: String,
    /// Who.
    pub actor: String,
    /// A note (reason, question, answer, waybill).
    pub note: String,
    /// When.
    pub at: chrono::DateTime<chrono::Utc>,
}

/// An after-sale case as the shopper and staff see it.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct AfterSale {
    /// Client id.
    pub id: Uuid,
    /// The order.
    pub order_id: Uuid,
    /// The order's number.
    pub order_no: String,
    /// The order's store or warehouse (who reviews).
    pub location_id: String,
    /// The member, if any.
    pub member_id: Option<Uuid>,
    /// What is asked.
    pub kind: AfterSaleKind,
    /// The reason code (see `app::after_sales::REASONS`).
    pub reason: String,
    /// The shopper's description.
    pub description: String,
    /// Where it stands.
    pub status: AfterSaleStatus,
    /// What the lines were paid: the refund asked.
    pub amount: Money,
    /// What went back.
    pub refunded: Money,
    /// Who approved or rejected it (`rule:auto-approve` for the rules).
    pub decided_by: Option<String>,
    /// Why it was rejected.
    pub reject_reason: Option<String>,
    /// The store's question.
    pub question: Option<String>,
    /// The shopper's answer.
    pub answer: Option<String>,
    /// `store` (brought back) or `courier` (shipped back).
    pub return_method: Option<String>,
    /// The return's carrier.
    pub return_carrier: Option<String>,
    /// The return's waybill.
    pub return_waybill: Option<String>,
    /// `resaleable` or `damaged`.
    pub inspection: Option<String>,
    /// The replacement's carrier.
    pub replacement_carrier: Option<String>,
    /// The replacement's waybill.
    pub replacement_waybill: Option<String>,
    /// The shopper's rating of the service, 1–5.
    pub rating: Option<i64>,
    /// The rating's comment.
    pub rating_comment: Option<String>,
    /// Lines.
    pub lines: Vec<AfterSaleLine>,
    /// Photo image ids, in order.
    pub photos: Vec<String>,
    /// Timeline, oldest first.
    pub events: Vec<AfterSaleEvent>,
    /// Created.
    pub created_at: chrono::DateTime<chrono::Utc>,
}

/// A new case, checked by the application layer.
#[derive(Clone, Debug)]
pub struct NewAfterSale<'a> {
    /// Client id.
    pub id: Uuid,
    /// The order.
    pub order_id: Uuid,
    /// The order's number.
    pub order_no: &'a str,
    /// The order's location.
    pub location_id: &'a str,
    /// The member.
    pub member_id: Option<Uuid>,
    /// Kind.
    pub kind: AfterSaleKind,
    /// Reason code.
    pub reason: &'a str,
    /// Description.
    pub description: &'a str,
    /// First status.
    pub status: AfterSaleStatus,
    /// Lines.
    pub lines: &'a [AfterSaleLine],
    /// Photo image ids.
    pub photos: &'a [String],
    /// Who asked.
    pub created_by: &'a str,
}

const COLUMNS: &str = "id, order_id, order_no, location_id, member_id, kind, reason, description, \
    status, amount_fen, refunded_fen, decided_by, reject_reason, question, answer, return_method, \
    return_carrier, return_waybill, inspection, replacement_carrier, replacement_waybill, rating, \
    rating_comment, created_at";

fn parse<T: FromStr<Err = String>>(row: &sqlx::any::AnyRow, name: &str) -> AppResult<T> {
    let text: String = col(row, name)?;
    text.parse()
        .map_err(|e: String| AppError::Internal(anyhow::anyhow!("after_sales.{name}: {e}")))
}

fn from_row(row: &sqlx::any::AnyRow) -> AppResult<AfterSale> {
    Ok(AfterSale {
        id: uuid_col(row, "id")?,
        order_id: uuid_col(row, "order_id")?,
        order_no: col(row, "order_no")?,
        location_id: col(row, "location_id")?,
        member_id: col::<Option<String>>(row, "member_id")?
            .map(|m| m.parse())
            .transpose()
            .map_err(|e: uuid::Error| AppError::Internal(e.into()))?,
        kind: parse(row, "kind")?,
        reason: col(row, "reason")?,
        description: col(row, "description")?,
        status: parse(row, "status")?,
        amount: Money::from_fen(col(row, "amount_fen")?),
        refunded: Money::from_fen(col(row, "refunded_fen")?),
        decided_by: col(row, "decided_by")?,
        reject_reason: col(row, "reject_reason")?,
        question: col(row, "question")?,
        answer: col(row, "answer")?,
        return_method: col(row, "return_method")?,
        return_carrier: col(row, "return_carrier")?,
        return_waybill: col(row, "return_waybill")?,
        inspection: col(row, "inspection")?,
        replacement_carrier: col(row, "replacement_carrier")?,
        replacement_waybill: col(row, "replacement_waybill")?,
        rating: col(row, "rating")?,
        rating_comment: col(row, "rating_comment")?,
        lines: Vec::new(),
        photos: Vec::new(),
        events: Vec::new(),
        created_at: from_ms(col(row, "created_at")?),
    })
}

/// Writes a new case with its lines, photos and first timeline step; false when its id is
/// taken already (a retry: nothing written).
pub async fn insert_in_tx(tx: &mut Tx, new: &NewAfterSale<'_>) -> AppResult<bool> {
    let now = now_ms();
    let amount: i64 = new.lines.iter().map(|l| l.amount.fen()).sum();
    let inserted = sqlx::query(
        "INSERT INTO after_sales (id, order_id, order_no, location_id, member_id, kind, reason, \
         description, status, amount_fen, created_by, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12) ON CONFLICT (id) DO NOTHING",
    )
    .bind(new.id.to_string())
    .bind(new.order_id.to_string())
    .bind(new.order_no)
    .bind(new.location_id)
    .bind(new.member_id.map(|m| m.to_string()))
    .bind(new.kind.as_str())
    .bind(new.reason)
    .bind(new.description)
    .bind(new.status.as_str())
    .bind(amount)
    .bind(new.created_by)
    .bind(now)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    if inserted == 0 {
        return Ok(false);
    }
    for line in new.lines {
        sqlx::query(
            "INSERT INTO after_sale_lines (after_sale_id, line_no, sku_id, name, qty, amount_fen) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(new.id.to_string())
        .bind(line.line_no)
        .bind(line.sku_id.to_string())
        .bind(line.name.as_str())
        .bind(line.qty)
        .bind(line.amount.fen())
        .execute(&mut **tx)
        .await?;
    }
    for (position, image) in new.photos.iter().enumerate() {
        sqlx::query(
            "INSERT INTO after_sale_photos (after_sale_id, position, image_id) VALUES ($1, $2, $3)",
        )
        .bind(new.id.to_string())
        .bind(i64::try_from(position).unwrap_or(i64::MAX))
        .bind(image.as_str())
        .execute(&mut **tx)
        .await?;
    }
    event_in_tx(tx, new.id, "requested", new.created_by, new.description).await?;
    Ok(true)
}

/// Adds a step to a case's timeline.
pub async fn event_in_tx(
    tx: &mut Tx,
    id: Uuid,
    step: &str,
    actor: &str,
    note: &str,
) -> AppResult<()> {
    sqlx::query(
        "INSERT INTO after_sale_events (id, after_sale_id, step, actor, note, at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(retail_domain::ids::new_id().to_string())
    .bind(id.to_string())
    .bind(step)
    .bind(actor)
    .bind(note)
    .bind(now_ms())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// What a step changes on the case, besides its status.
#[derive(Clone, Debug, Default)]
pub struct StepChange<'a> {
    /// Who decided (approve, reject).
    pub decided_by: Option<&'a str>,
    /// Why rejected.
    pub reject_reason: Option<&'a str>,
    /// The store's question.
    pub question: Option<&'a str>,
    /// The shopper's answer.
    pub answer: Option<&'a str>,
    /// How the goods come back.
    pub return_method: Option<&'a str>,
    /// The return's carrier.
    pub return_carrier: Option<&'a str>,
    /// The return's waybill.
    pub return_waybill: Option<&'a str>,
    /// The inspection.
    pub inspection: Option<&'a str>,
    /// The replacement's carrier.
    pub replacement_carrier: Option<&'a str>,
    /// The replacement's waybill.
    pub replacement_waybill: Option<&'a str>,
    /// What went back, in fen.
    pub refunded_fen: Option<i64>,
}

/// Moves a case from one of `from` to `to` with what the step sets (fields left `None` keep
/// their value); false when the case was not in any of `from` (nothing written).
pub async fn move_in_tx(
    tx: &mut Tx,
    id: Uuid,
    from: &[AfterSaleStatus],
    to: AfterSaleStatus,
    change: &StepChange<'_>,
) -> AppResult<bool> {
    let from_list = super::placeholders(15, from.len());
    let sql = format!(
        "UPDATE after_sales SET status = $1, updated_at = $2, \
         decided_by = COALESCE($3, decided_by), reject_reason = COALESCE($4, reject_reason), \
         question = COALESCE($5, question), answer = COALESCE($6, answer), \
         return_method = COALESCE($7, return_method), return_carrier = COALESCE($8, return_carrier), \
         return_waybill = COALESCE($9, return_waybill), inspection = COALESCE($10, inspection), \
         replacement_carrier = COALESCE($11, replacement_carrier), \
         replacement_waybill = COALESCE($12, replacement_waybill), \
         refunded_fen = COALESCE($13, refunded_fen) \
         WHERE id = $14 AND status IN ({from_list})"
    );
    let mut query = sqlx::query(&sql)
        .bind(to.as_str())
        .bind(now_ms())
        .bind(change.decided_by)
        .bind(change.reject_reason)
        .bind(change.question)
        .bind(change.answer)
        .bind(change.return_method)
        .bind(change.return_carrier)
        .bind(change.return_waybill)
        .bind(change.inspection)
        .bind(change.replacement_carrier)
        .bind(change.replacement_waybill)
        .bind(change.refunded_fen)
        .bind(id.to_string());
    for status in from {
        query = query.bind(status.as_str());
    }
    Ok(query.execute(&mut **tx).await?.rows_affected() == 1)
}

/// Records the shopper's rating, once; false when the case was rated already or is not final.
pub async fn rate_in_tx(tx: &mut Tx, id: Uuid, rating: i64, comment: &str) -> AppResult<bool> {
    Ok(sqlx::query(
        "UPDATE after_sales SET rating = $1, rating_comment = $2, rated_at = $3 \
         WHERE id = $4 AND rating IS NULL AND status IN ('refunded', 'exchanged', 'rejected')",
    )
    .bind(rating)
    .bind(comment)
    .bind(now_ms())
    .bind(id.to_string())
    .execute(&mut **tx)
    .await?
    .rows_affected()
        == 1)
}

/// Notifies the case's member of a step, once per case and step (nothing without a member).
pub async fn notify_in_tx(tx: &mut Tx, case: &AfterSale, step: &str) -> AppResult<()> {
    let Some(member) = case.member_id else {
        return Ok(());
    };
    sqlx::query(
        "INSERT INTO after_sale_notices (id, member_id, after_sale_id, order_id, order_no, step, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (after_sale_id, step) DO NOTHING",
    )
    .bind(retail_domain::ids::new_id().to_string())
    .bind(member.to_string())
    .bind(case.id.to_string())
    .bind(case.order_id.to_string())
    .bind(case.order_no.as_str())
    .bind(step)
    .bind(now_ms())
    .execute(&mut **tx)
    .await?;
    let kind = super::notifications::EventKind::AfterSale;
    super::notifications::enqueue_in_tx(
        tx,
        &[super::notifications::NewNotification {
            member,
            kind,
            event_key: format!("{}:{}:{step}", kind.as_str(), case.id),
            params: serde_json::json!({
                "order_no": case.order_no,
                "order_id": case.order_id.to_string(),
                "after_sale_id": case.id.to_string(),
                "step": step,
            }),
        }],
    )
    .await
}

/// Fills `cases` with their lines, photos and timelines: three queries for the whole set, not
/// three per case.
async fn fill_all(pool: &sqlx::AnyPool, cases: &mut [AfterSale]) -> AppResult<()> {
    if cases.is_empty() {
        return Ok(());
    }
    let ids: Vec<String> = cases.iter().map(|c| c.id.to_string()).collect();
    let index: std::collections::HashMap<Uuid, usize> =
        cases.iter().enumerate().map(|(i, c)| (c.id, i)).collect();
    let of = |row: &sqlx::any::AnyRow| -> AppResult<usize> {
        let id = uuid_col(row, "after_sale_id")?;
        index
            .get(&id)
            .copied()
            .ok_or_else(|| AppError::Internal(anyhow::anyhow!("after-sale {id} not asked for")))
    };
    let list = super::placeholders(1, ids.len());
    let fetch = |sql: String| {
        let ids = &ids;
        async move {
            let mut q = sqlx::query(&sql);
            for id in ids {
                q = q.bind(id.clone());
            }
            q.fetch_all(pool).await
        }
    };
    for row in &fetch(format!(
        "SELECT after_sale_id, line_no, sku_id, name, qty, amount_fen FROM after_sale_lines \
         WHERE after_sale_id IN ({list}) ORDER BY after_sale_id, line_no"
    ))
    .await?
    {
        cases[of(row)?].lines.push(AfterSaleLine {
            line_no: col(row, "line_no")?,
            sku_id: uuid_col(row, "sku_id")?,
            name: col(row, "name")?,
            qty: col(row, "qty")?,
            amount: Money::from_fen(col(row, "amount_fen")?),
        });
    }
    for row in &fetch(format!(
        "SELECT after_sale_id, image_id FROM after_sale_photos \
         WHERE after_sale_id IN ({list}) ORDER BY after_sale_id, position"
    ))
    .await?
    {
        cases[of(row)?].photos.push(col(row, "image_id")?);
    }
    for row in &fetch(format!(
        "SELECT after_sale_id, step, actor, note, at FROM after_sale_events \
         WHERE after_sale_id IN ({list}) ORDER BY after_sale_id, at, id"
    ))
    .await?
    {
        cases[of(row)?].events.push(AfterSaleEvent {
            step: col(row, "step")?,
            actor: col(row, "actor")?,
            note: col(row, "note")?,
            at: from_ms(col(row, "at")?),
        });
    }
    Ok(())
}

/// The cases of `rows`, each with its lines, photos and timeline.
async fn filled(pool: &sqlx::AnyPool, rows: &[sqlx::any::AnyRow]) -> AppResult<Vec<AfterSale>> {
    let mut cases = rows.iter().map(from_row).collect::<AppResult<Vec<_>>>()?;
    fill_all(pool, &mut cases).await?;
    Ok(cases)
}

/// One case with its lines, photos and timeline.
pub async fn get(store: &Store, id: Uuid) -> AppResult<Option<AfterSale>> {
    get_in(store.reader(), id).await
}

/// [`get`] on the writer, for a read right after a write (SQLite's single writer).
pub async fn get_fresh(store: &Store, id: Uuid) -> AppResult<Option<AfterSale>> {
    get_in(store.writer(), id).await
}

async fn get_in(pool: &sqlx::AnyPool, id: Uuid) -> AppResult<Option<AfterSale>> {
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM after_sales WHERE id = $1"))
        .bind(id.to_string())
        .fetch_optional(pool)
        .await?;
    let Some(row) = row else { return Ok(None) };
    Ok(filled(pool, &[row]).await?.pop())
}

/// A case's head (no lines, photos or timeline), locked inside a transaction.
pub async fn lock_in_tx(tx: &mut Tx, store: &Store, id: Uuid) -> AppResult<Option<AfterSale>> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM after_sales WHERE id = $1{}",
        store.for_update()
    ))
    .bind(id.to_string())
    .fetch_optional(&mut **tx)
    .await?;
    row.as_ref().map(from_row).transpose()
}

/// The lines of the order's cases that are still open (not rejected): (line_no, units).
pub async fn open_units_in_tx(
    tx: &mut Tx,
    order_id: Uuid,
) -> AppResult<Vec<(i64, i64, AfterSaleStatus)>> {
    let rows = sqlx::query(
        "SELECT l.line_no, l.qty, a.status FROM after_sale_lines l \
         JOIN after_sales a ON a.id = l.after_sale_id WHERE a.order_id = $1",
    )
    .bind(order_id.to_string())
    .fetch_all(&mut **tx)
    .await?;
    rows.iter()
        .map(|r| Ok((col(r, "line_no")?, col(r, "qty")?, parse(r, "status")?)))
        .collect()
}

/// An order's cases, newest first (heads with their lines; no timeline).
pub async fn of_order(store: &Store, order_id: Uuid) -> AppResult<Vec<AfterSale>> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM after_sales WHERE order_id = $1 ORDER BY created_at DESC, id DESC"
    ))
    .bind(order_id.to_string())
    .fetch_all(store.reader())
    .await?;
    filled(store.reader(), &rows).await
}

/// A page of the cases for review, oldest first (keyset on creation time then id, from
/// `cursor`): of one location (or every one), open ones only unless `all`.
pub async fn queue(
    store: &Store,
    location: Option<&str>,
    all: bool,
    cursor: Option<&Cursor>,
    limit: i64,
) -> AppResult<Page<AfterSale>> {
    queue_of(store, location, None, all, cursor, limit).await
}

/// The cases about `merchant`'s goods only (every line one of its products), oldest first.
pub async fn merchant_queue(
    store: &Store,
    merchant: &str,
    all: bool,
    cursor: Option<&Cursor>,
    limit: i64,
) -> AppResult<Page<AfterSale>> {
    queue_of(store, None, Some(merchant), all, cursor, limit).await
}

/// A case's lines not of the merchant's (`$6`) products: none means the case is its own.
const OTHER_MERCHANTS_LINES: &str = "SELECT 1 FROM after_sale_lines l \
     JOIN skus s ON s.id = l.sku_id JOIN products p ON p.id = s.product_id \
     WHERE l.after_sale_id = after_sales.id AND p.merchant_id <> $6";

async fn queue_of(
    store: &Store,
    location: Option<&str>,
    merchant: Option<&str>,
    all: bool,
    cursor: Option<&Cursor>,
    limit: i64,
) -> AppResult<Page<AfterSale>> {
    let limit = limit.clamp(1, 200);
    let rows = paging::bind(
        sqlx::query(&format!(
            "SELECT {COLUMNS} FROM after_sales WHERE ($1 = '' OR location_id = $1) \
             AND ($2 = 1 OR status NOT IN ('refunded', 'exchanged', 'rejected')) \
             AND ($6 = '' OR (EXISTS (SELECT 1 FROM after_sale_lines l \
                  WHERE l.after_sale_id = after_sales.id) \
                  AND NOT EXISTS ({OTHER_MERCHANTS_LINES}))) AND {} {} LIMIT $3",
            paging::after("created_at", "id", 4, Order::Asc),
            paging::order_by("created_at", "id", Order::Asc),
        ))
        .bind(location.unwrap_or(""))
        .bind(i64::from(all))
        .bind(paging::fetch_limit(limit)),
        cursor,
    )
    .bind(merchant.unwrap_or(""))
    .fetch_all(store.reader())
    .await?;
    let cases = filled(store.reader(), &rows).await?;
    Ok(paging::page(cases, limit, |c| {
        Cursor::new(c.created_at.timestamp_millis(), c.id)
    }))
}

/// The rules head office sets.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct AfterSaleRules {
    /// Days after delivery (or collection) a return or exchange may be asked for, where no
    /// category says otherwise.
    pub return_window_days: i64,
    /// Requests whose refund is below this amount are approved at once (`"0.00"`: never).
    pub auto_approve_under: Money,
    /// Cancelling a paid order not yet shipped or collected is approved (and refunded) at once;
    /// otherwise it waits for the store's review.
    pub cancel_auto_approve: bool,
    /// Where returned goods inspected as damaged go (a location id); written off when none.
    pub damaged_location_id: Option<String>,
    /// Return windows by category (a category's applies to the categories below it).
    #[serde(default)]
    pub category_windows: Vec<CategoryWindow>,
}

/// One category's return window.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct CategoryWindow {
    /// Category id.
    pub category_id: String,
    /// Days.
    pub days: i64,
}

/// The rules.
pub async fn rules(store: &Store) -> AppResult<AfterSaleRules> {
    let row = sqlx::query(
        "SELECT return_window_days, auto_approve_under_fen, cancel_auto_approve, damaged_location_id \
         FROM after_sale_rules WHERE id = 'default'",
    )
    .fetch_one(store.reader())
    .await?;
    let windows =
        sqlx::query("SELECT category_id, days FROM after_sale_windows ORDER BY category_id")
            .fetch_all(store.reader())
            .await?;
    Ok(AfterSaleRules {
        return_window_days: col(&row, "return_window_days")?,
        auto_approve_under: Money::from_fen(col(&row, "auto_approve_under_fen")?),
        cancel_auto_approve: col::<i64>(&row, "cancel_auto_approve")? != 0,
        damaged_location_id: col(&row, "damaged_location_id")?,
        category_windows: windows
            .iter()
            .map(|r| {
                Ok(CategoryWindow {
                    category_id: col(r, "category_id")?,
                    days: col(r, "days")?,
                })
            })
            .collect::<AppResult<_>>()?,
    })
}

/// Replaces the rules (checked by the application layer).
pub async fn set_rules_in_tx(tx: &mut Tx, rules: &AfterSaleRules, actor: &str) -> AppResult<()> {
    sqlx::query(
        "UPDATE after_sale_rules SET return_window_days = $1, auto_approve_under_fen = $2, \
         cancel_auto_approve = $3, damaged_location_id = $4, updated_by = $5, updated_at = $6 \
         WHERE id = 'default'",
    )
    .bind(rules.return_window_days)
    .bind(rules.auto_approve_under.fen())
    .bind(i64::from(rules.cancel_auto_approve))
    .bind(rules.damaged_location_id.as_deref())
    .bind(actor)
    .bind(now_ms())
    .execute(&mut **tx)
    .await?;
    sqlx::query("DELETE FROM after_sale_windows")
        .execute(&mut **tx)
        .await?;
    for window in &rules.category_windows {
        sqlx::query("INSERT INTO after_sale_windows (category_id, days) VALUES ($1, $2)")
            .bind(window.category_id.as_str())
            .bind(window.days)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// The categories of SKUs with their parents' chain: (sku id, [category, parent, grandparent]).
pub async fn sku_categories_in_tx(
    tx: &mut Tx,
    skus: &[Uuid],
) -> AppResult<Vec<(Uuid, Vec<String>)>> {
    let mut out = Vec::with_capacity(skus.len());
    for sku in skus {
        let row = sqlx::query(
            "SELECT c.id AS c0, p.id AS c1, g.id AS c2 FROM skus s \
             JOIN products pr ON pr.id = s.product_id \
             JOIN categories c ON c.id = pr.category_id \
             LEFT JOIN categories p ON p.id = c.parent_id \
             LEFT JOIN categories g ON g.id = p.parent_id WHERE s.id = $1",
        )
        .bind(sku.to_string())
        .fetch_optional(&mut **tx)
        .await?;
        let mut chain = Vec::new();
        if let Some(row) = row {
            for name in ["c0", "c1", "c2"] {
                if let Some(id) = col::<Option<String>>(&row, name)? {
                    chain.push(id);
                }
            }
        }
        out.push((*sku, chain));
    }
    Ok(out)
}

/// When the order was fulfilled (delivered, collected or completed), Unix ms, if it was.
pub async fn fulfilled_at_in_tx(tx: &mut Tx, order_id: Uuid) -> AppResult<Option<i64>> {
    let row = sqlx::query(
        "SELECT MAX(at) AS at FROM order_events WHERE order_id = $1 \
         AND to_status IN ('delivered', 'picked_up', 'completed')",
    )
    .bind(order_id.to_string())
    .fetch_one(&mut **tx)
    .await?;
    col(&row, "at")
}

/// One row of the ratings report.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct RatingRow {
    /// The store or warehouse, or the product's name.
    pub key: String,
    /// Cases.
    pub cases: i64,
    /// Rated cases.
    pub rated: i64,
    /// Sum of the ratings (average = sum / rated).
    pub rating_sum: i64,
}

/// One reason's count in the report.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ReasonRow {
    /// The store or warehouse.
    pub location_id: String,
    /// Reason code.
    pub reason: String,
    /// Cases.
    pub cases: i64,
}

/// The ratings report for head office: by store, by product, and reasons by store.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct RatingsReport {
    /// By store or warehouse.
    pub by_store: Vec<RatingRow>,
    /// By product (name on the order line).
    pub by_product: Vec<RatingRow>,
    /// Reasons by store.
    pub reasons: Vec<ReasonRow>,
}

fn rating_rows(rows: &[sqlx::any::AnyRow]) -> AppResult<Vec<RatingRow>> {
    rows.iter()
        .map(|r| {
            Ok(RatingRow {
                key: col(r, "k")?,
                cases: col(r, "cases")?,
                rated: col(r, "rated")?,
                rating_sum: col(r, "rating_sum")?,
            })
        })
        .collect()
}

/// The ratings report (at most 200 rows each).
pub async fn ratings_report(store: &Store) -> AppResult<RatingsReport> {
    let by_store = sqlx::query(
        "SELECT location_id AS k, COUNT(*) AS cases, COUNT(rating) AS rated, \
         CAST(COALESCE(SUM(rating), 0) AS BIGINT) AS rating_sum FROM after_sales \
         GROUP BY location_id ORDER BY location_id LIMIT 200",
    )
    .fetch_all(store.reader())
    .await?;
    let by_product = sqlx::query(
        "SELECT l.name AS k, COUNT(*) AS cases, COUNT(a.rating) AS rated, \
         CAST(COALESCE(SUM(a.rating), 0) AS BIGINT) AS rating_sum FROM after_sale_lines l \
         JOIN after_sales a ON a.id = l.after_sale_id GROUP BY l.name ORDER BY COUNT(*) DESC, l.name LIMIT 200",
    )
    .fetch_all(store.reader())
    .await?;
    let reasons = sqlx::query(
        "SELECT location_id, reason, COUNT(*) AS cases FROM after_sales \
         GROUP BY location_id, reason ORDER BY location_id, COUNT(*) DESC, reason LIMIT 200",
    )
    .fetch_all(store.reader())
    .await?;
    Ok(RatingsReport {
        by_store: rating_rows(&by_store)?,
        by_product: rating_rows(&by_product)?,
        reasons: reasons
            .iter()
            .map(|r| {
                Ok(ReasonRow {
                    location_id: col(r, "location_id")?,
                    reason: col(r, "reason")?,
                    cases: col(r, "cases")?,
                })
            })
            .collect::<AppResult<_>>()?,
    })
}

/// One after-sale notice of a member.
#[derive(Clone, Debug)]
pub struct CaseNotice {
    /// The notice's id.
    pub id: Uuid,
    /// The case.
    pub after_sale_id: Uuid,
    /// The order.
    pub order_id: Uuid,
    /// Its number.
    pub order_no: String,
    /// The step.
    pub step: String,
    /// When.
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// Seen.
    pub read: bool,
}

/// A page of the member's after-sale notices, newest first (keyset on time then id, from
/// `cursor`).
pub async fn notices(
    store: &Store,
    member: Uuid,
    cursor: Option<&Cursor>,
    limit: i64,
) -> AppResult<Page<CaseNotice>> {
    let limit = limit.clamp(1, 200);
    let rows = paging::bind(
        sqlx::query(&format!(
            "SELECT id, after_sale_id, order_id, order_no, step, created_at, read_at \
             FROM after_sale_notices WHERE member_id = $1 AND {} {} LIMIT $2",
            paging::after("created_at", "id", 3, Order::Desc),
            paging::order_by("created_at", "id", Order::Desc),
        ))
        .bind(member.to_string())
        .bind(paging::fetch_limit(limit)),
        cursor,
    )
    .fetch_all(store.reader())
    .await?;
    let rows = rows
        .iter()
        .map(|r| {
            Ok(CaseNotice {
                id: uuid_col(r, "id")?,
                after_sale_id: uuid_col(r, "after_sale_id")?,
                order_id: uuid_col(r, "order_id")?,
                order_no: col(r, "order_no")?,
                step: col(r, "step")?,
                created_at: from_ms(col(r, "created_at")?),
                read: col::<Option<i64>>(r, "read_at")?.is_some(),
            })
        })
        .collect::<AppResult<Vec<_>>>()?;
    Ok(paging::page(rows, limit, |n| {
        Cursor::new(n.created_at.timestamp_millis(), n.id)
    }))
}

/// How many of the member's after-sale notices are unread.
pub async fn unread(store: &Store, member: Uuid) -> AppResult<i64> {
    let row = sqlx::query(
        "SELECT COUNT(*) AS n FROM after_sale_notices WHERE member_id = $1 AND read_at IS NULL",
    )
    .bind(member.to_string())
    .fetch_one(store.reader())
    .await?;
    col(&row, "n")
}

/// Marks the member's after-sale notices read.
pub async fn mark_read(store: &Store, member: Uuid) -> AppResult<u64> {
    Ok(sqlx::query(
        "UPDATE after_sale_notices SET read_at = $1 WHERE member_id = $2 AND read_at IS NULL",
    )
    .bind(now_ms())
    .bind(member.to_string())
    .execute(store.writer())
    .await?
    .rows_affected())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for kind in [
            AfterSaleKind::RefundOnly,
            AfterSaleKind::ReturnRefund,
            AfterSaleKind::Exchange,
            AfterSaleKind::Cancel,
        ] {
            assert_eq!(kind.as_str().parse::<AfterSaleKind>(), Ok(kind));
        }
        for status in [
            AfterSaleStatus::Requested,
            AfterSaleStatus::InfoRequested,
            AfterSaleStatus::Approved,
            AfterSaleStatus::Returning,
            AfterSaleStatus::Received,
            AfterSaleStatus::Refunded,
            AfterSaleStatus::Exchanged,
            AfterSaleStatus::Rejected,
        ] {
            assert_eq!(status.as_str().parse::<AfterSaleStatus>(), Ok(status));
        }
        assert!("nonsense".parse::<AfterSaleKind>().is_err());
    }
}
