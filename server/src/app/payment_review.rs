//! Head office's review of money (issue 14): payments and refunds searched by order number,
//! provider transaction id, tender and a range of days (Beijing), page by page; payment alerts
//! listed and marked resolved (audited). Head office only.

use chrono::NaiveDate;

use crate::actor::{Role, StaffActor};
use crate::app::reconciliation::day_bounds;
use crate::app::AppState;
use crate::error::{AppError, AppResult};
use crate::storage;
use crate::storage::payment_review::{AlertRow, PaymentQuery, PaymentRow, RefundRow};

/// Rows on one page of a list.
pub const PAGE_SIZE: i64 = 50;

/// The tenders a search may narrow to.
pub const METHODS: [&str; 7] = [
    "wechat_pay",
    "alipay",
    "sandbox_qr",
    "card",
    "cash",
    "stored_balance",
    "points",
];

/// A search as head office types it.
#[derive(Clone, Debug, Default)]
pub struct PaymentSearch {
    /// Part of an order number.
    pub order_no: Option<String>,
    /// A provider's transaction or refund id.
    pub provider_ref: Option<String>,
    /// One of [`METHODS`].
    pub method: Option<String>,
    /// From this day (Beijing), inclusive.
    pub from: Option<NaiveDate>,
    /// To this day (Beijing), inclusive.
    pub to: Option<NaiveDate>,
    /// The page, from 1.
    pub page: i64,
}

/// One page of a list and how many rows there are in all.
#[derive(Clone, Debug)]
pub struct Page<T> {
    /// The rows of this page.
    pub rows: Vec<T>,
    /// Rows in all.
    pub total: i64,
    /// This page, from 1.
    pub page: i64,
}

impl<T> Page<T> {
    /// How many pages there are (at least 1).
    pub fn pages(&self) -> i64 {
        ((self.total + PAGE_SIZE - 1) / PAGE_SIZE).max(1)
    }
}

/// The offset of a page (pages count from 1).
pub fn offset_of(page: i64) -> i64 {
    (page.max(1) - 1).saturating_mul(PAGE_SIZE)
}

fn non_empty(text: Option<&str>, max: usize) -> Option<String> {
    text.map(str::trim)
        .filter(|t| !t.is_empty())
        .map(|t| t.chars().take(max).collect())
}

fn query_of(search: &PaymentSearch) -> AppResult<PaymentQuery> {
    let method = non_empty(search.method.as_deref(), 32);
    if let Some(m) = &method {
        if !METHODS.contains(&m.as_str()) {
            return Err(AppError::field("method", "unknown tender"));
        }
    }
    if let (Some(from), Some(to)) = (search.from, search.to) {
        if to < from {
            return Err(AppError::field("to", "the range ends before it begins"));
        }
    }
    Ok(PaymentQuery {
        order_no: non_empty(search.order_no.as_deref(), 32),
        provider_ref: non_empty(search.provider_ref.as_deref(), 64),
        method,
        from_ms: search.from.map(|d| day_bounds(d).0),
        to_ms: search.to.map(|d| day_bounds(d).1),
        offset: offset_of(search.page),
        limit: PAGE_SIZE,
    })
}

/// Payments matching the search, newest first (head office).
pub async fn search_payments(
    state: &AppState,
    staff: &StaffActor,
    search: &PaymentSearch,
) -> AppResult<Page<PaymentRow>> {
    staff.require(&[Role::HeadOfficeAdmin])?;
    let (rows, total) = storage::payment_review::payments(&state.store, &query_of(search)?).await?;
    Ok(Page {
        rows,
        total,
        page: search.page.max(1),
    })
}

/// Refunds matching the search, newest first (head office).
pub async fn search_refunds(
    state: &AppState,
    staff: &StaffActor,
    search: &PaymentSearch,
) -> AppResult<Page<RefundRow>> {
    staff.require(&[Role::HeadOfficeAdmin])?;
    let (rows, total) = storage::payment_review::refunds(&state.store, &query_of(search)?).await?;
    Ok(Page {
        rows,
        total,
        page: search.page.max(1),
    })
}

/// Open (or, with `resolved`, resolved) payment alerts, newest first (head office).
pub async fn alerts(
    state: &AppState,
    staff: &StaffActor,
    resolved: bool,
    page: i64,
) -> AppResult<Page<AlertRow>> {
    staff.require(&[Role::HeadOfficeAdmin])?;
    let (rows, total) =
        storage::payment_review::alerts(&state.store, resolved, offset_of(page), PAGE_SIZE).await?;
    Ok(Page {
        rows,
        total,
        page: page.max(1),
    })
}

/// Marks an open alert resolved (head office), with what was done about it; audited as
/// `payment_alert.resolve`. 404 for an unknown alert, 409 `already_resolved`.
pub async fn resolve_alert(
    state: &AppState,
    staff: &StaffActor,
    id: &str,
    note: &str,
) -> AppResult<()> {
    staff.require(&[Role::HeadOfficeAdmin])?;
    if id.is_empty() || id.len() > 300 {
        return Err(AppError::not_found("payment alert"));
    }
    let note: String = note.trim().chars().take(500).collect();
    let actor = staff.actor();
    let mut tx = state.store.begin().await?;
    if !storage::payment_review::resolve_alert(&mut tx, id, &actor).await? {
        return Err(
            if storage::payment_review::alert_exists(&mut tx, id).await? {
                AppError::conflict("already_resolved", "the alert is resolved already")
            } else {
                AppError::not_found("payment alert")
            },
        );
    }
    storage::audit::record(
        &mut tx,
        &actor,
        "payment_alert.resolve",
        "payment_alert",
        id,
        serde_json::json!({ "note": note }),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}
