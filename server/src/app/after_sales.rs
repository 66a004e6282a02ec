//! After-sales (售后) started by the shopper (issue 16): a refund only, a return and refund or an
//! exchange of units of a fulfilled order's lines ([`request`]), or the cancellation of a paid
//! order not yet shipped or collected ([`cancel_order`], refunded at once when the rules say so);
//! the review by a store manager of the order's store or warehouse or head office ([`approve`],
//! [`reject`], [`ask_info`]; the shopper [`answer`]s); the goods coming back (to the store, or
//! shipped with a waybill: [`ship_back`]); goods received and inspected ([`receive`]): the refund
//! goes out through the original tender — the return path of [`super::lane_sales::apply_return`]
//! — and the goods go back to stock, or to the damaged location; an exchange's replacement
//! ([`ship_replacement`]). Every step is on the case's timeline and notifies the member; every
//! decision is audited; the shopper rates the service afterwards ([`rate`]). Head office sets the
//! rules ([`set_rules`]): return windows per category, auto-approval under an amount, whether an
//! unshipped cancellation is approved at once.
//!
//! Who the shopper is, is for the adapters to check (the order's access token in the API, the
//! member's session in the shop); they call these with the actor name they act as.

use retail_domain::money::Money;
use retail_domain::order::{Channel, OrderStatus};
use serde::Deserialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::AppState;
use crate::actor::{Role, StaffActor};
use crate::error::{AppError, AppResult};
use crate::storage;
use crate::storage::after_sales::{
    AfterSale, AfterSaleKind, AfterSaleLine, AfterSaleRules, AfterSaleStatus as S, NewAfterSale,
    StepChange,
};
use crate::storage::stock::{Movement, MovementKind};

/// The reasons a shopper picks from: (code, zh, en).
pub const REASONS: &[(&str, &str, &str)] = &[
    ("not_received", "未收到货", "Not received"),
    ("damaged", "商品破损", "Arrived damaged"),
    ("wrong_item", "发错商品", "Wrong item"),
    ("quality", "质量问题", "Quality problem"),
    ("not_as_described", "与描述不符", "Not as described"),
    ("expired", "临期或过期", "Near or past its date"),
    ("changed_mind", "不想要了", "Changed my mind"),
    ("other", "其他", "Other"),
];

/// At most this many photos on a request.
pub const MAX_PHOTOS: usize = 6;
/// Longest description, answer or question, in characters.
pub const MAX_TEXT: usize = 500;
/// Longest carrier or waybill, in characters.
pub const MAX_WAYBILL: usize = 40;
/// The actor name of decisions the rules take.
pub const RULES_ACTOR: &str = "rule:auto-approve";

const DAY_MS: i64 = 86_400_000;

/// One line of a request.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RequestLine {
    /// The order's line number.
    pub line_no: i64,
    /// Units.
    pub qty: i64,
}

/// A shopper's after-sale request.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AfterSaleRequest {
    /// Client id (UUIDv7); a retry with the same id answers the first result.
    pub id: Uuid,
    /// `refund_only`, `return_refund` or `exchange` (cancelling is `POST /orders/{id}/cancel`).
    pub kind: AfterSaleKind,
    /// A reason code (`not_received`, `damaged`, `wrong_item`, `quality`, `not_as_described`,
    /// `expired`, `changed_mind`, `other`).
    pub reason: String,
    /// What happened (at most 500 characters).
    #[serde(default)]
    pub description: String,
    /// Lines and units.
    pub lines: Vec<RequestLine>,
    /// The refund the shopper expects, if they say: at most what the units were paid.
    #[serde(default)]
    pub refund: Option<Money>,
    /// Photos: ids of images uploaded before (at most 6).
    #[serde(default)]
    pub photos: Vec<String>,
}

fn text_ok(text: &str, max: usize) -> bool {
    text.chars().count() <= max && !text.chars().any(|c| c.is_control() && c != '\n')
}

fn check_text(field: &str, text: &str, max: usize) -> AppResult<()> {
    if text_ok(text, max) {
        Ok(())
    } else {
        Err(AppError::field(
            field,
            format!("at most {max} characters, no control characters"),
        ))
    }
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

/// The case `id`; 404 when there is none.
pub async fn found(state: &AppState, id: Uuid) -> AppResult<AfterSale> {
    storage::after_sales::get_fresh(&state.store, id)
        .await?
        .ok_or_else(|| AppError::not_found(format!("after-sale {id} not found")))
}

/// The return window of a SKU in days: its category's (or the nearest parent's), else the
/// default.
pub fn window_days(rules: &AfterSaleRules, chain: &[String]) -> i64 {
    chain
        .iter()
        .find_map(|c| {
            rules
                .category_windows
                .iter()
                .find(|w| &w.category_id == c)
                .map(|w| w.days)
        })
        .unwrap_or(rules.return_window_days)
}

/// What `qty` of `line_qty` units paid `amount_fen` in all cost.
fn share(amount_fen: i64, qty: i64, line_qty: i64) -> i64 {
    i64::try_from(i128::from(amount_fen) * i128::from(qty) / i128::from(line_qty.max(1)))
        .unwrap_or(0)
}

/// Opens a case for units of a fulfilled order's lines (see the module). Checks: the shape
/// (422), the order fulfilled (409 `not_fulfilled`: cancel it instead), within the return window
/// of each line's category (409 `outside_return_window`), no more than bought and not yet
/// returned (409 `return_exceeds_sale`), no other case in progress on the line (409
/// `after_sale_open`), the refund asked at most what the units were paid (422
/// `refund_exceeds_paid`). A request under the auto-approval amount is approved at once (a
/// refund only is refunded at once). A retry with the same id answers the case as it stands;
/// the id on another order is 409 `id_in_use`.
pub async fn request(
    state: &AppState,
    actor: &str,
    order_id: Uuid,
    req: &AfterSaleRequest,
) -> AppResult<AfterSale> {
    retail_domain::ids::require_v7(req.id).map_err(|e| AppError::field("id", e.to_string()))?;
    if let Some(case) = storage::after_sales::get_fresh(&state.store, req.id).await? {
        return retry_of(case, order_id);
    }
    if req.kind == AfterSaleKind::Cancel {
        return Err(AppError::field(
            "kind",
            "cancel an order with POST /orders/{id}/cancel",
        ));
    }
    if !REASONS.iter().any(|(code, _, _)| *code == req.reason) {
        return Err(AppError::field("reason", "not one of the listed reasons"));
    }
    let description = req.description.trim();
    check_text("description", description, MAX_TEXT)?;
    if req.lines.is_empty() || req.lines.len() > 50 {
        return Err(AppError::field("lines", "1 to 50 lines"));
    }
    super::media::check_uploaded(
        state,
        &req.photos,
        MAX_PHOTOS,
        "POST /orders/{id}/after-sales/photos",
    )
    .await?;
    let rules = storage::after_sales::rules(&state.store).await?;
    let mut tx = state.store.begin().await?;
    let head = storage::orders::lock_head(&mut tx, &state.store, order_id).await?;
    if !kinds_open(head.status).contains(&req.kind) {
        let message = if head.status == OrderStatus::Shipped {
            "is on its way: only a refund (parcel not received) can be asked for until it arrives"
                .to_owned()
        } else {
            format!(
                "is {}: an order not yet shipped or collected is cancelled instead",
                head.status
            )
        };
        return Err(AppError::conflict(
            "not_fulfilled",
            format!("order {} {message}", head.order_no),
        ));
    }
    let lines = storage::orders::lines_in_tx(&mut tx, order_id).await?;
    let open = storage::after_sales::open_units_in_tx(&mut tx, order_id).await?;
    let view_names: std::collections::HashMap<i64, String> =
        storage::orders::line_names_in_tx(&mut tx, order_id)
            .await?
            .into_iter()
            .collect();
    let mut case_lines: Vec<AfterSaleLine> = Vec::with_capacity(req.lines.len());
    for asked in &req.lines {
        if case_lines.iter().any(|l| l.line_no == asked.line_no) {
            return Err(AppError::field(
                "lines",
                format!("line {} appears twice", asked.line_no),
            ));
        }
        let Some(&(no, sku, qty, amount, returned)) =
            lines.iter().find(|(no, ..)| *no == asked.line_no)
        else {
            return Err(AppError::field(
                "lines",
                format!("order {} has no line {}", head.order_no, asked.line_no),
            ));
        };
        if asked.qty <= 0 {
            return Err(AppError::field(
                "lines",
                format!("line {no}: qty must be at least 1"),
            ));
        }
        if open
            .iter()
            .any(|(l, _, status)| *l == no && !status.is_final())
        {
            return Err(AppError::conflict(
                "after_sale_open",
                format!("line {no} has an after-sale in progress already"),
            ));
        }
        let left = qty - returned;
        if asked.qty > left {
            return Err(AppError::conflict(
                "return_exceeds_sale",
                format!(
                    "line {no}: {} asked, but only {} of {qty} bought are left to return",
                    asked.qty,
                    left.max(0)
                ),
            ));
        }
        case_lines.push(AfterSaleLine {
            line_no: no,
            sku_id: sku,
            name: view_names.get(&no).cloned().unwrap_or_default(),
            qty: asked.qty,
            amount: Money::from_fen(share(amount, asked.qty, qty)),
        });
    }
    let amount_fen: i64 = case_lines.iter().map(|l| l.amount.fen()).sum();
    if let Some(refund) = req.refund {
        if refund.fen() > amount_fen || refund.fen() < 0 {
            return Err(AppError::field_code(
                "refund_exceeds_paid",
                "refund",
                format!(
                    "at most {} was paid for these units",
                    Money::from_fen(amount_fen)
                ),
            ));
        }
    }
    let fulfilled_at = storage::after_sales::fulfilled_at_in_tx(&mut tx, order_id)
        .await?
        .unwrap_or(0);
    // A parcel still on its way has not been received: its window has not begun.
    let skus: Vec<Uuid> = if head.status == OrderStatus::Shipped {
        Vec::new()
    } else {
        case_lines.iter().map(|l| l.sku_id).collect()
    };
    for (sku, chain) in storage::after_sales::sku_categories_in_tx(&mut tx, &skus).await? {
        let days = window_days(&rules, &chain);
        if storage::now_ms() > fulfilled_at + days * DAY_MS {
            let name = case_lines
                .iter()
                .find(|l| l.sku_id == sku)
                .map(|l| l.name.clone())
                .unwrap_or_default();
            return Err(AppError::conflict(
                "outside_return_window",
                format!("{name}: after-sales are taken within {days} days of receipt"),
            ));
        }
    }
    let auto = rules.auto_approve_under.fen() > 0 && amount_fen < rules.auto_approve_under.fen();
    let new = NewAfterSale {
        id: req.id,
        order_id,
        order_no: &head.order_no,
        location_id: &head.location_id,
        member_id: head.member_id,
        kind: req.kind,
        reason: &req.reason,
        description,
        status: S::Requested,
        lines: &case_lines,
        photos: &req.photos,
        created_by: actor,
    };
    if !storage::after_sales::insert_in_tx(&mut tx, &new).await? {
        drop(tx);
        return retry_of(found(state, req.id).await?, order_id);
    }
    storage::audit::record(
        &mut tx,
        actor,
        "after_sale.request",
        "order",
        &order_id.to_string(),
        serde_json::json!({"after_sale_id": req.id, "order_no": head.order_no, "kind": req.kind.as_str(),
            "reason": req.reason, "amount": Money::from_fen(amount_fen).to_string()}),
    )
    .await?;
    tx.commit().await?;
    if auto {
        decide_approve(state, RULES_ACTOR, req.id, None).await?;
    }
    found(state, req.id).await
}

fn retry_of(case: AfterSale, order_id: Uuid) -> AppResult<AfterSale> {
    if case.order_id != order_id {
        return Err(AppError::conflict(
            "id_in_use",
            "this after-sale id belongs to another order",
        ));
    }
    Ok(case)
}

/// The shopper cancels an order not yet shipped or collected (see the module): unpaid, it is
/// just cancelled (no case); paid, a `cancel` case is opened with id `id` and — when the rules
/// approve unshipped cancellations at once (the default) — the order is cancelled and refunded
/// to its tenders at once; otherwise the case waits for the store's review. A shipped or
/// collected order is 409 `not_cancellable`. A retry answers the first result.
pub async fn cancel_order(
    state: &AppState,
    actor: &str,
    order_id: Uuid,
    id: Uuid,
) -> AppResult<Option<AfterSale>> {
    retail_domain::ids::require_v7(id).map_err(|e| AppError::field("id", e.to_string()))?;
    if let Some(case) = storage::after_sales::get_fresh(&state.store, id).await? {
        return retry_of(case, order_id).map(Some);
    }
    let head = storage::orders::head(state.store.writer(), order_id).await?;
    match head.status {
        OrderStatus::PendingPayment | OrderStatus::Cancelled => {
            super::orders::change_status_from(
                &state.store,
                order_id,
                Some(OrderStatus::PendingPayment),
                OrderStatus::Cancelled,
                actor,
                "cancelled by the shopper",
            )
            .await?;
            return Ok(None);
        }
        OrderStatus::Paid | OrderStatus::ReadyForPickup if head.channel == Channel::Online => {}
        other => {
            return Err(AppError::conflict(
                "not_cancellable",
                format!(
                    "order {} is {other}: only an order not yet shipped or collected is cancelled; ask for an after-sale instead",
                    head.order_no
                ),
            ));
        }
    }
    let rules = storage::after_sales::rules(&state.store).await?;
    let mut tx = state.store.begin().await?;
    let lines = storage::orders::lines_in_tx(&mut tx, order_id).await?;
    let names: std::collections::HashMap<i64, String> =
        storage::orders::line_names_in_tx(&mut tx, order_id)
            .await?
            .into_iter()
            .collect();
    let case_lines: Vec<AfterSaleLine> = lines
        .iter()
        .map(|(no, sku, qty, amount, _)| AfterSaleLine {
            line_no: *no,
            sku_id: *sku,
            name: names.get(no).cloned().unwrap_or_default(),
            qty: *qty,
            amount: Money::from_fen(*amount),
        })
        .collect();
    let new = NewAfterSale {
        id,
        order_id,
        order_no: &head.order_no,
        location_id: &head.location_id,
        member_id: head.member_id,
        kind: AfterSaleKind::Cancel,
        reason: "changed_mind",
        description: "",
        status: S::Requested,
        lines: &case_lines,
        photos: &[],
        created_by: actor,
    };
    if !storage::after_sales::insert_in_tx(&mut tx, &new).await? {
        drop(tx);
        return retry_of(found(state, id).await?, order_id).map(Some);
    }
    storage::audit::record(
        &mut tx,
        actor,
        "after_sale.request",
        "order",
        &order_id.to_string(),
        serde_json::json!({"after_sale_id": id, "order_no": head.order_no, "kind": "cancel"}),
    )
    .await?;
    tx.commit().await?;
    if rules.cancel_auto_approve {
        decide_approve(state, RULES_ACTOR, id, None).await?;
    }
    found(state, id).await.map(Some)
}

/// The stores whose cases `staff` reviews: every store (`None`) for head office, their own for
/// a store manager; 403 for anyone else.
pub fn reviewer_scope(staff: &StaffActor) -> AppResult<Option<String>> {
    // The same people as decide on refunds.
    super::refunds::approver_scope(staff)
}

/// The case `id` once `staff` is known to review it: 403 for another store's or a role that
/// does not review, 404 for an unknown case.
pub async fn reviewable(state: &AppState, staff: &StaffActor, id: Uuid) -> AppResult<AfterSale> {
    if let Some(merchant) = staff.merchant_scope().ok().flatten() {
        // A merchant reviews the cases about its own goods only; another's is unknown to it.
        let case = found(state, id).await?;
        if is_merchants_case(state, merchant, &case).await? {
            return Ok(case);
        }
        return Err(AppError::not_found(format!("after-sale {id} not found")));
    }
    reviewer_scope(staff)?;
    let case = found(state, id).await?;
    staff.require_store(&case.location_id)?;
    Ok(case)
}

/// Whether every line of `case` is one of `merchant`'s products (B2B2C: the case goes to that
/// merchant's after-sales queue).
async fn is_merchants_case(state: &AppState, merchant: &str, case: &AfterSale) -> AppResult<bool> {
    if case.lines.is_empty() {
        return Ok(false);
    }
    let skus: Vec<uuid::Uuid> = case.lines.iter().map(|l| l.sku_id).collect();
    let owners = state
        .catalog_cache
        .sku_merchants(&state.store, &skus)
        .await?;
    Ok(skus
        .iter()
        .all(|sku| owners.get(sku).map(String::as_str) == Some(merchant)))
}

/// A merchant administrator's after-sales queue: the cases about its own goods only, oldest
/// first (`all`: finished ones too).
pub async fn merchant_queue(
    state: &AppState,
    staff: &StaffActor,
    all: bool,
    cursor: Option<&crate::storage::paging::Cursor>,
    limit: i64,
) -> AppResult<crate::storage::paging::Page<AfterSale>> {
    let merchant = staff
        .merchant_scope()?
        .ok_or_else(|| AppError::Forbidden("a merchant's queue".into()))?;
    storage::after_sales::merchant_queue(&state.store, merchant, all, cursor, limit).await
}

fn wrong_state(case: &AfterSale, what: &str) -> AppError {
    AppError::conflict(
        "after_sale_state",
        format!("after-sale {} is {}: {what}", case.id, case.status.as_str()),
    )
}

/// Approves a case waiting for review (audited `after_sale.approve`): a refund only is
/// refunded at once, a cancellation cancels and refunds the order, a return or exchange waits
/// for the goods. Approving again answers the case as it stands; a rejected or finished case
/// is 409 `after_sale_state`.
pub async fn approve(state: &AppState, staff: &StaffActor, id: Uuid) -> AppResult<AfterSale> {
    let case = reviewable(state, staff, id).await?;
    if case.decided_by.is_some() && case.status != S::Rejected {
        return Ok(case);
    }
    decide_approve(state, &staff.actor(), id, Some(staff)).await?;
    found(state, id).await
}

/// The approval itself, by a person or by the rules.
async fn decide_approve(
    state: &AppState,
    actor: &str,
    id: Uuid,
    staff: Option<&StaffActor>,
) -> AppResult<()> {
    let case = found(state, id).await?;
    if !matches!(case.status, S::Requested | S::InfoRequested) {
        return Err(wrong_state(
            &case,
            "only a case waiting for review is approved",
        ));
    }
    let step = if staff.is_some() {
        "approved"
    } else {
        "auto_approved"
    };
    match case.kind {
        AfterSaleKind::ReturnRefund | AfterSaleKind::Exchange => {
            let mut tx = state.store.begin().await?;
            let change = StepChange {
                decided_by: Some(actor),
                ..Default::default()
            };
            if decide_in_tx(&mut tx, &case, S::Approved, &change, step, actor, "").await? {
                tx.commit().await?;
            }
        }
        AfterSaleKind::Cancel => {
            let mut tx = state.store.begin().await?;
            let head = storage::orders::lock_head(&mut tx, &state.store, case.order_id).await?;
            let paid = storage::payments::succeeded_of_order(&mut tx, case.order_id)
                .await?
                .iter()
                .map(|(_, _, fen)| fen)
                .sum::<i64>();
            if !matches!(
                head.status,
                OrderStatus::Paid | OrderStatus::ReadyForPickup | OrderStatus::Cancelled
            ) {
                return Err(AppError::conflict(
                    "not_cancellable",
                    format!("order {} is {} now", head.order_no, head.status),
                ));
            }
            super::orders::move_in_tx(
                &mut tx,
                &state.store,
                case.order_id,
                None,
                OrderStatus::Cancelled,
                actor,
                "cancelled by the shopper",
            )
            .await?;
            let change = StepChange {
                decided_by: Some(actor),
                refunded_fen: Some(paid),
                ..Default::default()
            };
            if decide_in_tx(&mut tx, &case, S::Refunded, &change, step, actor, "").await? {
                storage::after_sales::event_in_tx(
                    &mut tx,
                    id,
                    "refunded",
                    actor,
                    &Money::from_fen(paid).to_string(),
                )
                .await?;
                storage::after_sales::notify_in_tx(&mut tx, &case, "refunded").await?;
                tx.commit().await?;
                send_pending(state, case.order_id).await;
            }
        }
        AfterSaleKind::RefundOnly => {
            refund(
                state,
                &case,
                actor,
                staff.map_or(actor, |s| s.username.as_str()),
                None,
                step,
            )
            .await?;
        }
    }
    Ok(())
}

/// A decision on a case waiting for review: moved to `to` with `change`, its timeline step,
/// the member's notice and the audit entry (`after_sale.approve`, or `after_sale.reject` for a
/// rejection); false when the case was no longer waiting (nothing written).
async fn decide_in_tx(
    tx: &mut storage::Tx,
    case: &AfterSale,
    to: S,
    change: &StepChange<'_>,
    step: &str,
    actor: &str,
    note: &str,
) -> AppResult<bool> {
    let moved = storage::after_sales::move_in_tx(
        tx,
        case.id,
        &[S::Requested, S::InfoRequested],
        to,
        change,
    )
    .await?;
    if moved {
        let audit = if to == S::Rejected {
            "after_sale.reject"
        } else {
            "after_sale.approve"
        };
        finish_step(tx, case, step, actor, note, audit).await?;
    }
    Ok(moved)
}

/// Sends an order's pending refunds now (the background dispatcher retries what fails).
async fn send_pending(state: &AppState, order_id: Uuid) {
    match storage::refunds::of_order(&state.store, order_id).await {
        Ok(refunds) => super::refunds::send_soon(
            state,
            refunds
                .into_iter()
                .filter(|r| r.state == storage::refunds::RefundStatus::Pending)
                .map(|r| r.id)
                .collect(),
        ),
        Err(e) => tracing::warn!(order = %order_id, error = %e, "reading refunds to send failed"),
    }
}

/// The timeline step, the member's notice and the audit entry of a decision, in its
/// transaction.
async fn finish_step(
    tx: &mut storage::Tx,
    case: &AfterSale,
    step: &str,
    actor: &str,
    note: &str,
    audit: &str,
) -> AppResult<()> {
    storage::after_sales::event_in_tx(tx, case.id, step, actor, note).await?;
    storage::after_sales::notify_in_tx(tx, case, step).await?;
    storage::audit::record(
        tx,
        actor,
        audit,
        "order",
        &case.order_id.to_string(),
        serde_json::json!({"after_sale_id": case.id, "order_no": case.order_no, "kind": case.kind.as_str(),
            "step": step, "note": note, "amount": case.amount.to_string()}),
    )
    .await
}

/// What a shopper may ask for about an order in `status`: anything once it is delivered,
/// collected or completed; while a delivery is on its way, only a refund (the parcel did not
/// arrive: the order goes to after-sale, the carrier is stopped by staff); nothing before it
/// ships (an unshipped order is cancelled instead) or once it is refunded or cancelled.
pub fn kinds_open(status: OrderStatus) -> &'static [AfterSaleKind] {
    match status {
        OrderStatus::Delivered
        | OrderStatus::PickedUp
        | OrderStatus::Completed
        | OrderStatus::AfterSale => &[
            AfterSaleKind::ReturnRefund,
            AfterSaleKind::RefundOnly,
            AfterSaleKind::Exchange,
        ],
        OrderStatus::Shipped => &[AfterSaleKind::RefundOnly],
        _ => &[],
    }
}

/// The refund of a case through the return path (original tenders, points and balance, stock
/// back), then the goods' way: back to stock (`resaleable`), to the damaged location or written
/// off (`damaged`), or never came back (a refund only: the units are written off again).
async fn refund(
    state: &AppState,
    case: &AfterSale,
    actor: &str,
    approver: &str,
    inspection: Option<&str>,
    step: &str,
) -> AppResult<()> {
    let lines: Vec<retail_domain::wire::sales::ReturnLineRequest> = case
        .lines
        .iter()
        .map(|l| retail_domain::wire::sales::ReturnLineRequest {
            line_no: u32::try_from(l.line_no).unwrap_or(0),
            qty: l.qty,
        })
        .collect();
    let reason = format!("售后 after-sale {}", case.kind.as_str());
    let order = storage::orders::get(&state.store, case.order_id).await?;
    let never_arrived = order.fulfilment == retail_domain::order::Fulfilment::Delivery
        && !order.events.iter().any(|e| e.to == OrderStatus::Delivered);
    // A refund of a parcel still on its way (only a refund-only case can be one, see
    // `kinds_open`): the order leaves `shipped` for after-sale first, the return path taking
    // only fulfilled orders; an order in any other state is left as it is.
    if case.kind == AfterSaleKind::RefundOnly {
        super::orders::change_status_from(
            &state.store,
            case.order_id,
            Some(OrderStatus::Shipped),
            OrderStatus::AfterSale,
            actor,
            "refund asked before the parcel arrived",
        )
        .await?;
    }
    let result = super::lane_sales::apply_return(
        &state.store,
        &state.settings.points,
        &storage::sales::NewReturn {
            id: case.id,
            order_id: case.order_id,
            lines: &lines,
            reason: &reason,
            approved_by: approver,
            cashier: approver,
            refund_shipping: shipping_comes_back(&case.reason, never_arrived),
        },
        actor,
        |_| Ok(()),
    )
    .await?;
    let rules = storage::after_sales::rules(&state.store).await?;
    let mut tx = state.store.begin().await?;
    let from: &[S] = match case.kind {
        AfterSaleKind::RefundOnly => &[S::Requested, S::InfoRequested],
        _ => &[S::Approved, S::Returning],
    };
    let decided = (case.kind == AfterSaleKind::RefundOnly).then_some(actor);
    let change = StepChange {
        decided_by: decided,
        inspection,
        refunded_fen: Some(result.refund.fen()),
        ..Default::default()
    };
    if !storage::after_sales::move_in_tx(&mut tx, case.id, from, S::Refunded, &change).await? {
        return Ok(()); // done by a retry meanwhile
    }
    let keep = inspection == Some("resaleable");
    goods_away(&mut tx, case, &rules, actor, keep).await?;
    if case.kind == AfterSaleKind::RefundOnly {
        finish_step(&mut tx, case, step, actor, "", "after_sale.approve").await?;
    } else {
        finish_step(
            &mut tx,
            case,
            "received",
            actor,
            inspection.unwrap_or(""),
            "after_sale.receive",
        )
        .await?;
    }
    storage::after_sales::event_in_tx(
        &mut tx,
        case.id,
        "refunded",
        actor,
        &result.refund.to_string(),
    )
    .await?;
    storage::after_sales::notify_in_tx(&mut tx, case, "refunded").await?;
    tx.commit().await?;
    send_pending(state, case.order_id).await;
    Ok(())
}

/// Whether an after-sale that brings a delivery order's last units back gives its shipping fee
/// back too: yes when the parcel never arrived (refunded while on its way) or the shopper is not
/// to blame (not received, damaged, wrong item, quality, not as described, near or past its
/// date); no for a change of mind or "other". (A cancellation before shipping refunds every
/// payment, the fee with it.)
pub fn shipping_comes_back(reason: &str, never_arrived: bool) -> bool {
    never_arrived || !matches!(reason, "changed_mind" | "other")
}

/// One movement per line of `case` at `location`: `sign` × its units on hand.
fn line_movements<'a>(
    case: &'a AfterSale,
    location: &'a str,
    kind: MovementKind,
    sign: i64,
    reason: &'a str,
    actor: &'a str,
    ref_id: &'a str,
) -> impl Iterator<Item = Movement<'a>> + 'a {
    let now = storage::now_ms();
    case.lines.iter().map(move |l| Movement {
        location_id: location,
        sku_id: l.sku_id,
        kind,
        on_hand_delta: sign * l.qty,
        reserved_delta: 0,
        reason,
        actor,
        ref_id: Some(ref_id),
        client_ts: now,
    })
}

/// Applies `movements` in the lock order of every stock writer (location, then SKU).
async fn apply_sorted(tx: &mut storage::Tx, mut movements: Vec<Movement<'_>>) -> AppResult<()> {
    movements.sort_by(|a, b| (a.location_id, a.sku_id).cmp(&(b.location_id, b.sku_id)));
    storage::stock::apply_movements(tx, &movements).await
}

/// Where returned units go after the return put them back on the order location's shelf:
/// nowhere else when resaleable (`keep`); otherwise off that shelf — to the damaged location
/// when the rules name one (a transfer), else written off (an adjustment).
async fn goods_away(
    tx: &mut storage::Tx,
    case: &AfterSale,
    rules: &AfterSaleRules,
    actor: &str,
    keep: bool,
) -> AppResult<()> {
    if keep {
        return Ok(());
    }
    let ref_id = case.id.to_string();
    let (reason, damaged_to) = match case.kind {
        AfterSaleKind::RefundOnly => ("after-sale refund only: goods not returned", None),
        _ => (
            "after-sale return inspected damaged",
            rules.damaged_location_id.as_deref(),
        ),
    };
    let out_kind = if damaged_to.is_some() {
        MovementKind::TransferOut
    } else {
        MovementKind::Adjustment
    };
    let mut movements: Vec<Movement<'_>> = line_movements(
        case,
        &case.location_id,
        out_kind,
        -1,
        reason,
        actor,
        &ref_id,
    )
    .collect();
    if let Some(to) = damaged_to {
        movements.extend(line_movements(
            case,
            to,
            MovementKind::TransferIn,
            1,
            reason,
            actor,
            &ref_id,
        ));
    }
    apply_sorted(tx, movements).await
}

/// Rejects a case waiting for review with a reason (1 to 200 characters on one line; audited
/// `after_sale.reject`). Rejecting again answers the case as it stands; any other state is 409
/// `after_sale_state`.
pub async fn reject(
    state: &AppState,
    staff: &StaffActor,
    id: Uuid,
    reason: &str,
) -> AppResult<AfterSale> {
    reviewer_scope(staff)?;
    let reason = check_one_line("reason", reason, 200)?;
    let case = reviewable(state, staff, id).await?;
    if case.status == S::Rejected {
        return Ok(case);
    }
    let mut tx = state.store.begin().await?;
    let change = StepChange {
        decided_by: Some(&staff.actor()),
        reject_reason: Some(&reason),
        ..Default::default()
    };
    if !decide_in_tx(
        &mut tx,
        &case,
        S::Rejected,
        &change,
        "rejected",
        &staff.actor(),
        &reason,
    )
    .await?
    {
        drop(tx);
        return Err(wrong_state(
            &case,
            "only a case waiting for review is rejected",
        ));
    }
    tx.commit().await?;
    found(state, id).await
}

/// Asks the shopper for more information (audited `after_sale.ask_info`); the case waits for
/// their [`answer`]. Only a case waiting for review (409 `after_sale_state`).
pub async fn ask_info(
    state: &AppState,
    staff: &StaffActor,
    id: Uuid,
    question: &str,
) -> AppResult<AfterSale> {
    reviewer_scope(staff)?;
    let question = check_one_line("question", question, MAX_TEXT)?;
    let case = reviewable(state, staff, id).await?;
    if case.status == S::InfoRequested && case.question.as_deref() == Some(question.as_str()) {
        return Ok(case);
    }
    let mut tx = state.store.begin().await?;
    let change = StepChange {
        question: Some(&question),
        ..Default::default()
    };
    if !storage::after_sales::move_in_tx(&mut tx, id, &[S::Requested], S::InfoRequested, &change)
        .await?
    {
        drop(tx);
        return Err(wrong_state(
            &case,
            "only a case waiting for review takes a question",
        ));
    }
    finish_step(
        &mut tx,
        &case,
        "info_requested",
        &staff.actor(),
        &question,
        "after_sale.ask_info",
    )
    .await?;
    tx.commit().await?;
    found(state, id).await
}

/// The shopper answers the store's question; the case waits for review again. Answering a case
/// that asks nothing is 409 `after_sale_state`.
pub async fn answer(state: &AppState, actor: &str, id: Uuid, text: &str) -> AppResult<AfterSale> {
    let text = text.trim();
    if text.is_empty() {
        return Err(AppError::field("answer", "say something"));
    }
    check_text("answer", text, MAX_TEXT)?;
    let case = found(state, id).await?;
    if case.status == S::Requested && case.answer.as_deref() == Some(text) {
        return Ok(case);
    }
    let mut tx = state.store.begin().await?;
    let change = StepChange {
        answer: Some(text),
        ..Default::default()
    };
    if !storage::after_sales::move_in_tx(&mut tx, id, &[S::InfoRequested], S::Requested, &change)
        .await?
    {
        drop(tx);
        return Err(wrong_state(&case, "the store asked nothing"));
    }
    storage::after_sales::event_in_tx(&mut tx, id, "answered", actor, text).await?;
    tx.commit().await?;
    found(state, id).await
}

/// The shopper sends the goods of an approved return or exchange back with a carrier and a
/// waybill (each 1 to 40 characters on one line). Again with the same waybill answers the case.
pub async fn ship_back(
    state: &AppState,
    actor: &str,
    id: Uuid,
    carrier: &str,
    waybill: &str,
) -> AppResult<AfterSale> {
    let carrier = check_one_line("carrier", carrier, MAX_WAYBILL)?;
    let waybill = check_one_line("waybill", waybill, MAX_WAYBILL)?;
    let case = found(state, id).await?;
    if case.status == S::Returning && case.return_waybill.as_deref() == Some(waybill.as_str()) {
        return Ok(case);
    }
    let mut tx = state.store.begin().await?;
    let change = StepChange {
        return_method: Some("courier"),
        return_carrier: Some(&carrier),
        return_waybill: Some(&waybill),
        ..Default::default()
    };
    if !storage::after_sales::move_in_tx(&mut tx, id, &[S::Approved], S::Returning, &change).await?
    {
        drop(tx);
        return Err(wrong_state(
            &case,
            "only an approved return is shipped back",
        ));
    }
    storage::after_sales::event_in_tx(
        &mut tx,
        id,
        "returning",
        actor,
        &format!("{carrier} {waybill}"),
    )
    .await?;
    tx.commit().await?;
    found(state, id).await
}

/// Goods of an approved return or exchange received and inspected (`resaleable` or `damaged`;
/// audited `after_sale.receive`): a return is refunded at once through the original tenders
/// and the goods go back to stock or to the damaged location; an exchange's goods go the same
/// way and its replacement waits for [`ship_replacement`]. Receiving again answers the case.
pub async fn receive(
    state: &AppState,
    staff: &StaffActor,
    id: Uuid,
    inspection: &str,
) -> AppResult<AfterSale> {
    reviewer_scope(staff)?;
    let inspection = match inspection {
        "resaleable" => "resaleable",
        "damaged" => "damaged",
        _ => return Err(AppError::field("inspection", "resaleable or damaged")),
    };
    let case = reviewable(state, staff, id).await?;
    if matches!(case.status, S::Received | S::Refunded | S::Exchanged) && case.inspection.is_some()
    {
        return Ok(case);
    }
    if !matches!(case.status, S::Approved | S::Returning) {
        return Err(wrong_state(&case, "only an approved return is received"));
    }
    let actor = staff.actor();
    match case.kind {
        AfterSaleKind::ReturnRefund => {
            refund(
                state,
                &case,
                &actor,
                &staff.username,
                Some(inspection),
                "received",
            )
            .await?;
        }
        AfterSaleKind::Exchange => {
            let rules = storage::after_sales::rules(&state.store).await?;
            let mut tx = state.store.begin().await?;
            let change = StepChange {
                inspection: Some(inspection),
                return_method: case.return_method.is_none().then_some("store"),
                ..Default::default()
            };
            if storage::after_sales::move_in_tx(
                &mut tx,
                id,
                &[S::Approved, S::Returning],
                S::Received,
                &change,
            )
            .await?
            {
                let ref_id = id.to_string();
                let back = line_movements(
                    &case,
                    &case.location_id,
                    MovementKind::Return,
                    1,
                    "after-sale exchange: goods back",
                    &actor,
                    &ref_id,
                );
                apply_sorted(&mut tx, back.collect()).await?;
                goods_away(&mut tx, &case, &rules, &actor, inspection == "resaleable").await?;
                finish_step(
                    &mut tx,
                    &case,
                    "received",
                    &actor,
                    inspection,
                    "after_sale.receive",
                )
                .await?;
                tx.commit().await?;
            }
        }
        AfterSaleKind::RefundOnly | AfterSaleKind::Cancel => {
            return Err(wrong_state(&case, "nothing comes back"));
        }
    }
    found(state, id).await
}

/// The replacement of a received exchange leaves with a carrier and a waybill (audited
/// `after_sale.ship_replacement`): the units come off the order location's shelf. Again with the
/// same waybill answers the case.
pub async fn ship_replacement(
    state: &AppState,
    staff: &StaffActor,
    id: Uuid,
    carrier: &str,
    waybill: &str,
) -> AppResult<AfterSale> {
    reviewer_scope(staff)?;
    let carrier = check_one_line("carrier", carrier, MAX_WAYBILL)?;
    let waybill = check_one_line("waybill", waybill, MAX_WAYBILL)?;
    let case = reviewable(state, staff, id).await?;
    if case.status == S::Exchanged {
        return Ok(case);
    }
    let actor = staff.actor();
    let mut tx = state.store.begin().await?;
    let change = StepChange {
        replacement_carrier: Some(&carrier),
        replacement_waybill: Some(&waybill),
        ..Default::default()
    };
    if !storage::after_sales::move_in_tx(&mut tx, id, &[S::Received], S::Exchanged, &change).await?
    {
        drop(tx);
        return Err(wrong_state(
            &case,
            "only a received exchange gets its replacement",
        ));
    }
    let ref_id = id.to_string();
    let out = line_movements(
        &case,
        &case.location_id,
        MovementKind::Fulfilment,
        -1,
        "after-sale exchange: replacement shipped",
        &actor,
        &ref_id,
    );
    apply_sorted(&mut tx, out.collect()).await?;
    finish_step(
        &mut tx,
        &case,
        "exchanged",
        &actor,
        &format!("{carrier} {waybill}"),
        "after_sale.ship_replacement",
    )
    .await?;
    tx.commit().await?;
    found(state, id).await
}

/// The shopper rates a finished case's service, 1–5 with a comment (at most 500 characters),
/// once: rating again answers the first rating; an open case is 409 `after_sale_state`.
pub async fn rate(
    state: &AppState,
    actor: &str,
    id: Uuid,
    rating: i64,
    comment: &str,
) -> AppResult<AfterSale> {
    if !(1..=5).contains(&rating) {
        return Err(AppError::field("rating", "1 to 5"));
    }
    let comment = comment.trim();
    check_text("comment", comment, MAX_TEXT)?;
    let case = found(state, id).await?;
    if case.rating.is_some() {
        return Ok(case);
    }
    let mut tx = state.store.begin().await?;
    if !storage::after_sales::rate_in_tx(&mut tx, id, rating, comment).await? {
        drop(tx);
        return Err(wrong_state(&case, "a case is rated once it is finished"));
    }
    storage::after_sales::event_in_tx(&mut tx, id, "rated", actor, &format!("{rating}/5")).await?;
    tx.commit().await?;
    found(state, id).await
}

/// Head office replaces the rules (audited `after_sale.rules`): windows 0 to 365 days, the
/// auto-approval amount not negative, the damaged location an existing one, categories existing.
pub async fn set_rules(
    state: &AppState,
    staff: &StaffActor,
    rules: &AfterSaleRules,
) -> AppResult<AfterSaleRules> {
    staff.require(&[Role::HeadOfficeAdmin])?;
    let days_ok = |d: i64| (0..=365).contains(&d);
    if !days_ok(rules.return_window_days) {
        return Err(AppError::field("return_window_days", "0 to 365"));
    }
    if rules.auto_approve_under.fen() < 0 {
        return Err(AppError::field("auto_approve_under", "not negative"));
    }
    if rules.category_windows.len() > 500 || rules.category_windows.iter().any(|w| !days_ok(w.days))
    {
        return Err(AppError::field(
            "category_windows",
            "at most 500, each 0 to 365 days",
        ));
    }
    for window in &rules.category_windows {
        if storage::catalog::category(&state.store, &window.category_id)
            .await?
            .is_none()
        {
            return Err(AppError::field(
                "category_windows",
                format!(
                    "no category {}",
                    window.category_id.chars().take(40).collect::<String>()
                ),
            ));
        }
    }
    if let Some(location) = &rules.damaged_location_id {
        if state
            .catalog_cache
            .location(&state.store, location)
            .await?
            .is_none()
        {
            return Err(AppError::field("damaged_location_id", "no such location"));
        }
    }
    let mut tx = state.store.begin().await?;
    storage::after_sales::set_rules_in_tx(&mut tx, rules, &staff.actor()).await?;
    storage::audit::record(
        &mut tx,
        &staff.actor(),
        "after_sale.rules",
        "after_sale_rules",
        "default",
        serde_json::to_value(rules).map_err(|e| AppError::Internal(e.into()))?,
    )
    .await?;
    tx.commit().await?;
    storage::after_sales::rules(&state.store).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_follow_the_nearest_category() {
        let rules = AfterSaleRules {
            return_window_days: 7,
            auto_approve_under: Money::ZERO,
            cancel_auto_approve: true,
            damaged_location_id: None,
            category_windows: vec![
                storage::after_sales::CategoryWindow {
                    category_id: "FRESH".into(),
                    days: 1,
                },
                storage::after_sales::CategoryWindow {
                    category_id: "HOME".into(),
                    days: 30,
                },
            ],
        };
        assert_eq!(window_days(&rules, &["FRUIT".into(), "FRESH".into()]), 1);
        assert_eq!(window_days(&rules, &["HOME".into()]), 30);
        assert_eq!(window_days(&rules, &["SNACKS".into()]), 7);
        assert_eq!(window_days(&rules, &[]), 7);
    }

    #[test]
    fn shares_are_paid_amounts() {
        assert_eq!(share(1000, 1, 3), 333);
        assert_eq!(share(1000, 3, 3), 1000);
        assert_eq!(share(0, 1, 1), 0);
    }

    #[test]
    fn the_shipping_fee_comes_back_unless_the_shopper_changed_their_mind() {
        assert!(shipping_comes_back("damaged", false));
        assert!(shipping_comes_back("not_received", false));
        assert!(!shipping_comes_back("changed_mind", false));
        assert!(!shipping_comes_back("other", false));
        assert!(shipping_comes_back("changed_mind", true));
        assert!(REASONS
            .iter()
            .all(|(code, ..)| shipping_comes_back(code, true)));
    }

    #[test]
    fn texts_are_checked() {
        assert!(text_ok("碎了\n看照片", 500));
        assert!(!text_ok("a\u{7}", 500));
        assert!(check_one_line("waybill", "  SF123  ", 40).is_ok_and(|w| w == "SF123"));
        assert!(check_one_line("waybill", "", 40).is_err());
        assert!(check_one_line("waybill", "a\nb", 40).is_err());
    }
}
