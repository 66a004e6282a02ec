//! Stock: levels and the movement ledger, pickup availability, counts, adjustments, supplier
//! receipts, transfers between locations, low-stock alerts and the ledger consistency check.
//!
//! Every write is one transaction through `storage::stock` (which records the ledger and the
//! snapshot together), idempotent by the client's id, and checked against role *and* location.

use std::collections::HashSet;

use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::{Json, Path, Query};
use crate::actor::{Caller, Role, StaffActor};
use crate::app::AppState;
use crate::error::{AppError, AppResult};
use crate::storage;
use crate::storage::stock::{
    AdjustInput, AdjustmentResult, CountInput, CountResult, LevelFilter, MovementFilter,
    MovementRecord, ReceiptInput, ReceiptResult, StockLevel, StoreAvailability, Transfer,
    TransferFilter, TransferInput, MAX_QTY,
};

/// Default page size of the lists.
const DEFAULT_LIMIT: i64 = 100;
/// Largest page size of the lists.
const MAX_LIMIT: i64 = 500;
/// Most lines one count, receipt or transfer may carry.
const MAX_LINES: usize = 500;
/// Longest reason or note, in characters.
const MAX_TEXT: usize = 200;

/// Stock routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_levels))
        .routes(routes!(list_movements))
        .routes(routes!(availability))
        .routes(routes!(count))
        .routes(routes!(adjust))
        .routes(routes!(receipt))
        .routes(routes!(create_transfer, list_transfers))
        .routes(routes!(get_transfer))
        .routes(routes!(receive_transfer))
        .routes(routes!(alerts))
        .routes(routes!(set_threshold))
        .routes(routes!(ledger_check))
}

// ---------------------------------------------------------------------------------------------
// Wire types.
// ---------------------------------------------------------------------------------------------

/// Filter and page of stock levels.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LevelQuery {
    /// Only this location (store staff and devices: their own, the default).
    pub location_id: Option<String>,
    /// Only this SKU.
    pub sku_id: Option<Uuid>,
    /// The `next_after` of the previous page.
    pub after: Option<String>,
    /// Page size (1–500, default 100).
    pub limit: Option<i64>,
}

/// One page of a list, newest or lowest first as the list says.
#[derive(Debug, Serialize, ToSchema)]
pub struct Page<T: ToSchema> {
    /// The items of this page.
    pub items: Vec<T>,
    /// Pass as `after` for the next page; absent on the last page.
    pub next_after: Option<String>,
}

/// Filter and page of the movement ledger.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MovementQuery {
    /// Only this location (store staff: their own, the default).
    pub location_id: Option<String>,
    /// Only this SKU.
    pub sku_id: Option<Uuid>,
    /// Only movements of this order, sale, transfer, count, adjustment or receipt.
    pub ref_id: Option<String>,
    /// The `next_after` of the previous page.
    pub after: Option<String>,
    /// Page size (1–500, default 100).
    pub limit: Option<i64>,
}

/// Where one SKU can be picked up today.
#[derive(Debug, Serialize, ToSchema)]
pub struct Availability {
    /// SKU.
    pub sku_id: Uuid,
    /// Every store, by code.
    pub stores: Vec<StoreAvailability>,
}

/// One counted SKU.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CountLine {
    /// SKU.
    pub sku_id: Uuid,
    /// What is on the shelf (0–1,000,000).
    pub counted: i64,
}

/// A stock count.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCount {
    /// Client id (UUIDv7); a retry returns the first result.
    pub id: Uuid,
    /// Location code.
    pub location_id: String,
    /// Counted SKUs, each once (1–500 lines).
    pub lines: Vec<CountLine>,
    /// Why (optional).
    pub reason: Option<String>,
}

/// A manual adjustment.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAdjustment {
    /// Client id (UUIDv7); a retry returns the first result.
    pub id: Uuid,
    /// Location code.
    pub location_id: String,
    /// SKU.
    pub sku_id: Uuid,
    /// Change to on hand (≠ 0, at most 1,000,000 either way).
    pub delta: i64,
    /// Why: damage, loss, found… (required).
    pub reason: String,
}

/// One line of a receipt or transfer.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QtyLine {
    /// SKU.
    pub sku_id: Uuid,
    /// Quantity (1–1,000,000).
    pub qty: i64,
}

/// Goods received from a supplier.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewReceipt {
    /// Client id (UUIDv7); a retry returns the first result.
    pub id: Uuid,
    /// Location code.
    pub location_id: String,
    /// Received SKUs, each once (1–500 lines).
    pub lines: Vec<QtyLine>,
    /// Supplier reference or note (optional).
    pub reason: Option<String>,
}

/// A transfer to ship.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTransfer {
    /// Client id (UUIDv7); a retry returns the transfer.
    pub id: Uuid,
    /// Source location.
    pub from_location_id: String,
    /// Destination location.
    pub to_location_id: String,
    /// SKUs shipped, each once (1–500 lines).
    pub lines: Vec<QtyLine>,
    /// Note (optional).
    pub note: Option<String>,
}

/// Filter and page of transfers.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TransferQuery {
    /// Only transfers from or to this location (store staff: their own, the default).
    pub location_id: Option<String>,
    /// `in_transit` or `received`.
    pub status: Option<String>,
    /// The `next_after` of the previous page.
    pub after: Option<String>,
    /// Page size (1–500, default 100).
    pub limit: Option<i64>,
}

/// A low-stock threshold.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewThreshold {
    /// Location code.
    pub location_id: String,
    /// SKU.
    pub sku_id: Uuid,
    /// Alert when available ≤ this (0: never; at most 1,000,000).
    pub threshold: i64,
}

/// A (location, SKU) whose snapshot differs from its ledger.
#[derive(Debug, Serialize, ToSchema)]
pub struct LedgerMismatch {
    /// Location code.
    pub location_id: String,
    /// SKU.
    pub sku_id: Uuid,
    /// On hand in the snapshot.
    pub snapshot_on_hand: i64,
    /// Sum of the ledger's on-hand deltas.
    pub ledger_on_hand: i64,
    /// Reserved in the snapshot.
    pub snapshot_reserved: i64,
    /// Sum of the ledger's reserved deltas.
    pub ledger_reserved: i64,
}

// ---------------------------------------------------------------------------------------------
// Checks shared by the handlers.
// ---------------------------------------------------------------------------------------------

/// The location a read is scoped to: head office any (None: all), store staff and devices
/// their own (the default when none is asked for).
fn read_scope(caller: &Caller, requested: Option<String>) -> AppResult<Option<String>> {
    match caller {
        Caller::Staff(staff) => staff_read_scope(staff, requested),
        Caller::Device(device) => {
            let location = requested.unwrap_or_else(|| device.location_id.clone());
            caller.require_store(&location)?;
            Ok(Some(location))
        }
    }
}

fn staff_read_scope(staff: &StaffActor, requested: Option<String>) -> AppResult<Option<String>> {
    if staff.role == Role::HeadOfficeAdmin {
        return Ok(requested);
    }
    let location = requested
        .or_else(|| staff.location_id.clone())
        .ok_or_else(|| AppError::Forbidden(format!("{} belongs to no location", staff.username)))?;
    staff.require_store(&location)?;
    Ok(Some(location))
}

/// Head office, or the manager of `location`.
fn require_manager(staff: &StaffActor, location: &str) -> AppResult<()> {
    staff.require(&[Role::HeadOfficeAdmin, Role::StoreManager])?;
    staff.require_store(location)
}

fn page_limit(limit: Option<i64>) -> AppResult<i64> {
    let limit = limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(AppError::field(
            "limit",
            format!("must be between 1 and {MAX_LIMIT}"),
        ));
    }
    Ok(limit)
}

/// Parses a `{number}/{uuid}` cursor.
fn time_cursor(after: Option<&str>) -> AppResult<Option<(i64, Uuid)>> {
    after
        .map(|text| {
            text.split_once('/')
                .and_then(|(at, id)| Some((at.parse().ok()?, id.parse().ok()?)))
                .ok_or_else(|| AppError::field("after", "malformed cursor"))
        })
        .transpose()
}

fn require_v7(field: &str, id: Uuid) -> AppResult<()> {
    retail_domain::ids::require_v7(id).map_err(|e| AppError::field(field, e.to_string()))?;
    Ok(())
}

/// Trims a reason or note; `required` ones must not be empty.
fn text(field: &str, value: Option<&str>, required: bool) -> AppResult<String> {
    let value = value.unwrap_or_default().trim();
    if required && value.is_empty() {
        return Err(AppError::field(field, "must not be empty"));
    }
    if value.chars().count() > MAX_TEXT {
        return Err(AppError::field(
            field,
            format!("must be at most {MAX_TEXT} characters"),
        ));
    }
    Ok(value.to_owned())
}

fn check_qty(field: &str, qty: i64) -> AppResult<()> {
    if !(1..=MAX_QTY).contains(&qty) {
        return Err(AppError::field(
            field,
            format!("must be between 1 and {MAX_QTY}"),
        ));
    }
    Ok(())
}

/// 1–500 lines, each SKU once.
fn check_lines(skus: &[Uuid]) -> AppResult<()> {
    if skus.is_empty() {
        return Err(AppError::field("lines", "must have at least one line"));
    }
    if skus.len() > MAX_LINES {
        return Err(AppError::field(
            "lines",
            format!("must have at most {MAX_LINES} lines"),
        ));
    }
    let mut seen = HashSet::new();
    for (i, sku) in skus.iter().enumerate() {
        if !seen.insert(sku) {
            return Err(AppError::field(
                &format!("lines[{i}].sku_id"),
                "SKU appears twice",
            ));
        }
    }
    Ok(())
}

/// The location exists and can hold stock (a store or a warehouse).
async fn stock_location(state: &AppState, field: &str, id: &str) -> AppResult<()> {
    match storage::locations::get(&state.store, id).await {
        Ok(location) if location.kind == "head_office" => {
            Err(AppError::field(field, "the head office holds no stock"))
        }
        Ok(_) => Ok(()),
        Err(AppError::NotFound(_)) => Err(AppError::field(field, format!("no location {id}"))),
        Err(other) => Err(other),
    }
}

/// Every SKU exists; the first unknown one is named (`lines[i].sku_id`, or `sku_id` alone).
async fn check_skus(state: &AppState, skus: &[Uuid], in_lines: bool) -> AppResult<()> {
    let missing = storage::stock::missing_skus(&state.store, skus).await?;
    if let Some(sku) = missing.first() {
        let field = match skus.iter().position(|s| s == sku) {
            Some(i) if in_lines => format!("lines[{i}].sku_id"),
            _ => "sku_id".to_owned(),
        };
        return Err(AppError::field(&field, format!("no SKU {sku}")));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Reads.
// ---------------------------------------------------------------------------------------------

/// Stock levels: on hand, reserved, available, threshold and flags, by (location, SKU). Store
/// staff and devices see their own location; head office any.
#[utoipa::path(get, path = "/stock", tag = "stock", security(("staff" = []), ("device" = [])), params(LevelQuery),
    responses((status = 200, body = Page<StockLevel>), (status = 403, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
async fn list_levels(
    caller: Caller,
    State(state): State<AppState>,
    Query(q): Query<LevelQuery>,
) -> AppResult<Json<Page<StockLevel>>> {
    let location = read_scope(&caller, q.location_id)?;
    levels_page(&state, location, q.sku_id, q.after, q.limit, false).await
}

async fn levels_page(
    state: &AppState,
    location_id: Option<String>,
    sku_id: Option<Uuid>,
    after: Option<String>,
    limit: Option<i64>,
    alerts_only: bool,
) -> AppResult<Json<Page<StockLevel>>> {
    let limit = page_limit(limit)?;
    let after = after
        .map(|text| {
            text.rsplit_once('/')
                .and_then(|(location, sku)| Some((location.to_owned(), sku.parse().ok()?)))
                .ok_or_else(|| AppError::field("after", "malformed cursor"))
        })
        .transpose()?;
    let filter = LevelFilter {
        location_id,
        sku_id,
        after,
        alerts_only,
        limit,
    };
    let items = storage::stock::list_levels(&state.store, &filter).await?;
    let next_after = match items.last() {
        Some(last) if items.len() as i64 == limit => {
            Some(format!("{}/{}", last.location_id, last.sku_id))
        }
        _ => None,
    };
    Ok(Json(Page { items, next_after }))
}

/// The movement ledger, newest first. Store staff see their own location; head office any.
#[utoipa::path(get, path = "/stock/movements", tag = "stock", security(("staff" = [])), params(MovementQuery),
    responses((status = 200, body = Page<MovementRecord>), (status = 403, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
async fn list_movements(
    staff: StaffActor,
    State(state): State<AppState>,
    Query(q): Query<MovementQuery>,
) -> AppResult<Json<Page<MovementRecord>>> {
    let location_id = staff_read_scope(&staff, q.location_id)?;
    let filter = MovementFilter {
        location_id,
        sku_id: q.sku_id,
        ref_id: q.ref_id,
        after: time_cursor(q.after.as_deref())?,
        limit: page_limit(q.limit)?,
    };
    let items = storage::stock::list_movements(&state.store, &filter).await?;
    let next_after = match items.last() {
        Some(last) if items.len() as i64 == filter.limit => {
            Some(format!("{}/{}", last.created_ms, last.id))
        }
        _ => None,
    };
    Ok(Json(Page { items, next_after }))
}

/// Where a SKU can be picked up today: its available quantity at every store (public: the shop
/// shows it).
#[utoipa::path(get, path = "/skus/{sku_id}/availability", tag = "stock",
    params(("sku_id" = Uuid, Path, description = "SKU id")),
    responses((status = 200, body = Availability), (status = 404, body = crate::error::ErrorBody)))]
async fn availability(
    State(state): State<AppState>,
    Path(sku_id): Path<Uuid>,
) -> AppResult<Json<Availability>> {
    if !storage::stock::missing_skus(&state.store, &[sku_id])
        .await?
        .is_empty()
    {
        return Err(AppError::not_found(format!("SKU {sku_id} not found")));
    }
    let stores = storage::stock::availability(&state.store, sku_id).await?;
    Ok(Json(Availability { sku_id, stores }))
}

/// Low-stock alerts: rows whose available quantity is at or below their threshold (threshold >
/// 0), and rows with negative on hand (`needs_reconciliation`, e.g. after offline sales).
#[utoipa::path(get, path = "/stock/alerts", tag = "stock", security(("staff" = []), ("device" = [])), params(LevelQuery),
    responses((status = 200, body = Page<StockLevel>), (status = 403, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
async fn alerts(
    caller: Caller,
    State(state): State<AppState>,
    Query(q): Query<LevelQuery>,
) -> AppResult<Json<Page<StockLevel>>> {
    let location = read_scope(&caller, q.location_id)?;
    levels_page(&state, location, q.sku_id, q.after, q.limit, true).await
}

/// Ledger consistency: every (location, SKU) whose snapshot differs from the sums of its ledger
/// (empty: consistent). Head office only.
#[utoipa::path(get, path = "/stock/ledger-check", tag = "stock", security(("staff" = [])),
    responses((status = 200, body = [LedgerMismatch]), (status = 403, body = crate::error::ErrorBody)))]
async fn ledger_check(
    staff: StaffActor,
    State(state): State<AppState>,
) -> AppResult<Json<Vec<LedgerMismatch>>> {
    staff.require(&[Role::HeadOfficeAdmin])?;
    let rows = storage::stock::ledger_mismatches(&state.store).await?;
    Ok(Json(
        rows.into_iter()
            .map(
                |(
                    location_id,
                    sku_id,
                    snapshot_on_hand,
                    ledger_on_hand,
                    snapshot_reserved,
                    ledger_reserved,
                )| LedgerMismatch {
                    location_id,
                    sku_id,
                    snapshot_on_hand,
                    ledger_on_hand,
                    snapshot_reserved,
                    ledger_reserved,
                },
            )
            .collect(),
    ))
}

// ---------------------------------------------------------------------------------------------
// Writes.
// ---------------------------------------------------------------------------------------------

/// A stock count: on hand of each line becomes the counted quantity (a `count_adjustment`
/// movement per changed line). The location's manager or head office; idempotent by id; audited
/// (`stock.count`).
#[utoipa::path(post, path = "/stock/counts", tag = "stock", security(("staff" = [])), request_body = NewCount,
    responses((status = 200, body = CountResult), (status = 403, body = crate::error::ErrorBody),
        (status = 409, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
async fn count(
    staff: StaffActor,
    State(state): State<AppState>,
    Json(req): Json<NewCount>,
) -> AppResult<Json<CountResult>> {
    require_manager(&staff, &req.location_id)?;
    require_v7("id", req.id)?;
    let skus: Vec<Uuid> = req.lines.iter().map(|l| l.sku_id).collect();
    check_lines(&skus)?;
    for (i, line) in req.lines.iter().enumerate() {
        if !(0..=MAX_QTY).contains(&line.counted) {
            return Err(AppError::field(
                &format!("lines[{i}].counted"),
                format!("must be between 0 and {MAX_QTY}"),
            ));
        }
    }
    let reason = text("reason", req.reason.as_deref(), false)?;
    stock_location(&state, "location_id", &req.location_id).await?;
    check_skus(&state, &skus, true).await?;
    let input = CountInput {
        id: req.id,
        location_id: req.location_id,
        lines: req.lines.iter().map(|l| (l.sku_id, l.counted)).collect(),
        reason,
    };
    Ok(Json(
        storage::stock::count(&state.store, &input, &staff.actor()).await?,
    ))
}

/// A manual adjustment (damage, loss, found) with a required reason. The location's manager or
/// head office; refused (409 `insufficient_stock`) below zero on hand; idempotent by id; audited
/// (`stock.adjust`).
#[utoipa::path(post, path = "/stock/adjustments", tag = "stock", security(("staff" = [])), request_body = NewAdjustment,
    responses((status = 200, body = AdjustmentResult), (status = 403, body = crate::error::ErrorBody),
        (status = 409, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
async fn adjust(
    staff: StaffActor,
    State(state): State<AppState>,
    Json(req): Json<NewAdjustment>,
) -> AppResult<Json<AdjustmentResult>> {
    require_manager(&staff, &req.location_id)?;
    require_v7("id", req.id)?;
    if req.delta == 0 || req.delta.abs() > MAX_QTY {
        return Err(AppError::field(
            "delta",
            format!("must be non-zero and at most {MAX_QTY} either way"),
        ));
    }
    let reason = text("reason", Some(&req.reason), true)?;
    stock_location(&state, "location_id", &req.location_id).await?;
    check_skus(&state, &[req.sku_id], false).await?;
    let input = AdjustInput {
        id: req.id,
        location_id: req.location_id,
        sku_id: req.sku_id,
        delta: req.delta,
        reason,
    };
    Ok(Json(
        storage::stock::adjust(&state.store, &input, &staff.actor()).await?,
    ))
}

/// Goods received from a supplier (`receipt` movements). The location's manager or head office;
/// idempotent by id; audited (`stock.receipt`).
#[utoipa::path(post, path = "/stock/receipts", tag = "stock", security(("staff" = [])), request_body = NewReceipt,
    responses((status = 200, body = ReceiptResult), (status = 403, body = crate::error::ErrorBody),
        (status = 409, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
async fn receipt(
    staff: StaffActor,
    State(state): State<AppState>,
    Json(req): Json<NewReceipt>,
) -> AppResult<Json<ReceiptResult>> {
    require_manager(&staff, &req.location_id)?;
    require_v7("id", req.id)?;
    let skus: Vec<Uuid> = req.lines.iter().map(|l| l.sku_id).collect();
    check_lines(&skus)?;
    for (i, line) in req.lines.iter().enumerate() {
        check_qty(&format!("lines[{i}].qty"), line.qty)?;
    }
    let reason = text("reason", req.reason.as_deref(), false)?;
    stock_location(&state, "location_id", &req.location_id).await?;
    check_skus(&state, &skus, true).await?;
    let input = ReceiptInput {
        id: req.id,
        location_id: req.location_id,
        lines: req.lines.iter().map(|l| (l.sku_id, l.qty)).collect(),
        reason,
    };
    Ok(Json(
        storage::stock::receive_goods(&state.store, &input, &staff.actor()).await?,
    ))
}

/// Ships a transfer at once (status `in_transit`, `transfer_out` movements at the source). The
/// source's manager or head office; 409 `out_of_stock` when a line exceeds the source's
/// available quantity; idempotent by id.
#[utoipa::path(post, path = "/stock/transfers", tag = "stock", security(("staff" = [])), request_body = NewTransfer,
    responses((status = 200, body = Transfer), (status = 403, body = crate::error::ErrorBody),
        (status = 409, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
async fn create_transfer(
    staff: StaffActor,
    State(state): State<AppState>,
    Json(req): Json<NewTransfer>,
) -> AppResult<Json<Transfer>> {
    require_manager(&staff, &req.from_location_id)?;
    require_v7("id", req.id)?;
    if req.from_location_id == req.to_location_id {
        return Err(AppError::field(
            "to_location_id",
            "must differ from from_location_id",
        ));
    }
    let skus: Vec<Uuid> = req.lines.iter().map(|l| l.sku_id).collect();
    check_lines(&skus)?;
    for (i, line) in req.lines.iter().enumerate() {
        check_qty(&format!("lines[{i}].qty"), line.qty)?;
    }
    let note = text("note", req.note.as_deref(), false)?;
    stock_location(&state, "from_location_id", &req.from_location_id).await?;
    stock_location(&state, "to_location_id", &req.to_location_id).await?;
    check_skus(&state, &skus, true).await?;
    let input = TransferInput {
        id: req.id,
        from_location_id: req.from_location_id,
        to_location_id: req.to_location_id,
        lines: req.lines.iter().map(|l| (l.sku_id, l.qty)).collect(),
        note,
    };
    Ok(Json(
        storage::stock::create_transfer(&state.store, &input, &staff.actor()).await?,
    ))
}

/// Transfers from or to a location, newest first (store staff: their own location).
#[utoipa::path(get, path = "/stock/transfers", tag = "stock", security(("staff" = [])), params(TransferQuery),
    responses((status = 200, body = Page<Transfer>), (status = 403, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
async fn list_transfers(
    staff: StaffActor,
    State(state): State<AppState>,
    Query(q): Query<TransferQuery>,
) -> AppResult<Json<Page<Transfer>>> {
    let location_id = staff_read_scope(&staff, q.location_id)?;
    if let Some(status) = q.status.as_deref() {
        if status != "in_transit" && status != "received" {
            return Err(AppError::field("status", "must be in_transit or received"));
        }
    }
    let filter = TransferFilter {
        location_id,
        status: q.status,
        after: time_cursor(q.after.as_deref())?,
        limit: page_limit(q.limit)?,
    };
    let items = storage::stock::list_transfers(&state.store, &filter).await?;
    let next_after = match items.last() {
        Some(last) if items.len() as i64 == filter.limit => {
            Some(format!("{}/{}", last.shipped_ms, last.id))
        }
        _ => None,
    };
    Ok(Json(Page { items, next_after }))
}

/// One transfer (store staff: only transfers from or to their location).
#[utoipa::path(get, path = "/stock/transfers/{id}", tag = "stock", security(("staff" = [])),
    params(("id" = Uuid, Path, description = "transfer id")),
    responses((status = 200, body = Transfer), (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)))]
async fn get_transfer(
    staff: StaffActor,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
) -> AppResult<Json<Transfer>> {
    let transfer = storage::stock::get_transfer(&state.store, id).await?;
    if staff.require_store(&transfer.from_location_id).is_err() {
        staff.require_store(&transfer.to_location_id)?;
    }
    Ok(Json(transfer))
}

/// Receives a transfer at its destination (`transfer_in` movements, status `received`). The
/// destination's manager or head office; receiving again returns the received transfer.
#[utoipa::path(post, path = "/stock/transfers/{id}/receive", tag = "stock", security(("staff" = [])),
    params(("id" = Uuid, Path, description = "transfer id")),
    responses((status = 200, body = Transfer), (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)))]
async fn receive_transfer(
    staff: StaffActor,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
) -> AppResult<Json<Transfer>> {
    staff.require(&[Role::HeadOfficeAdmin, Role::StoreManager])?;
    let transfer = storage::stock::get_transfer(&state.store, id).await?;
    staff.require_store(&transfer.to_location_id)?;
    Ok(Json(
        storage::stock::receive_transfer(&state.store, id, &staff.actor()).await?,
    ))
}

/// Sets a low-stock threshold (the location's manager or head office; audited as
/// `stock.threshold`). Answers the stock level.
#[utoipa::path(put, path = "/stock/thresholds", tag = "stock", security(("staff" = [])), request_body = NewThreshold,
    responses((status = 200, body = StockLevel), (status = 403, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
async fn set_threshold(
    staff: StaffActor,
    State(state): State<AppState>,
    Json(req): Json<NewThreshold>,
) -> AppResult<Json<StockLevel>> {
    require_manager(&staff, &req.location_id)?;
    if !(0..=MAX_QTY).contains(&req.threshold) {
        return Err(AppError::field(
            "threshold",
            format!("must be between 0 and {MAX_QTY}"),
        ));
    }
    stock_location(&state, "location_id", &req.location_id).await?;
    check_skus(&state, &[req.sku_id], false).await?;
    storage::stock::set_threshold(
        &state.store,
        &req.location_id,
        req.sku_id,
        req.threshold,
        &staff.actor(),
    )
    .await?;
    storage::stock::get_level(&state.store, &req.location_id, req.sku_id)
        .await?
        .map(Json)
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("stock row vanished")))
}
