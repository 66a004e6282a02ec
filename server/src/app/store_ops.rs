//! Handheld store operations and fresh-food processes (issue 21): the use cases behind the PDA
//! page (`/console/pda`) and its JSON endpoints (`/console/pda/api/…`) and the console's store-operations and
//! shrink pages. Each checks the caller (role *and* store), validates the request (client ids
//! UUIDv7, scanned codes resolved to SKUs, quantities in range) and calls
//! [`crate::storage::store_ops`] or [`crate::storage::shrink`]; bad input is refused before
//! anything is written.
//!
//! Who may do what: store staff (managers and clerks, i.e. cashiers) of their own store count,
//! receive, file requisitions, write off shrink, split and re-pack, and check prices; approving
//! a count is for the store's manager (or head office); allocating or rejecting a requisition
//! and announcing supplier deliveries are head office's (deliveries also the store manager's).

use std::collections::HashSet;

use retail_domain::money::Money;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::actor::{Role, StaffActor};
use crate::app::pricing::{BasketRequest, Channel};
use crate::app::AppState;
use crate::error::{AppError, AppResult};
use crate::storage;
use crate::storage::shrink::{Repack, RepackInput, ShrinkInput, ShrinkRecord, SHRINK_REASONS};
use crate::storage::store_ops::{
    AllocateInput, CountSession, DeliveryInput, Receivable, ReceiveInput, Receiving, Requisition,
    RequisitionInput, ScanInput, ScanResult,
};

/// Largest quantity one scan or line may carry.
pub const MAX_QTY: i64 = 100_000;
/// Most lines one request may carry.
pub const MAX_LINES: usize = 500;
/// Most photos one write-off may carry.
pub const MAX_PHOTOS: usize = 3;

const STORE_STAFF: [Role; 3] = [Role::HeadOfficeAdmin, Role::StoreManager, Role::Cashier];
const MANAGERS: [Role; 2] = [Role::HeadOfficeAdmin, Role::StoreManager];

/// Checks that `staff` may work at store `location` (with one of `roles`), and that it is a
/// store.
async fn at_store(
    state: &AppState,
    staff: &StaffActor,
    location: &str,
    roles: &[Role],
) -> AppResult<()> {
    staff.require(roles)?;
    staff.require_store(location)?;
    match storage::store_ops::location_kind(&state.store, location)
        .await?
        .as_deref()
    {
        Some("store") => Ok(()),
        Some(_) => Err(AppError::field(
            "store",
            format!("{location} is not a store"),
        )),
        None => Err(AppError::field("store", format!("no store {location}"))),
    }
}

fn client_id(field: &str, id: Uuid) -> AppResult<Uuid> {
    retail_domain::ids::require_v7(id)
        .map_err(|e| AppError::field(field, format!("a client-generated UUIDv7: {e}")))
}

fn check_qty(field: &str, qty: i64, min: i64) -> AppResult<i64> {
    if qty < min || qty > MAX_QTY {
        return Err(AppError::field(
            field,
            format!("a whole number from {min} to {MAX_QTY}, not {qty}"),
        ));
    }
    Ok(qty)
}

fn check_text(field: &str, text: &str, max: usize) -> AppResult<String> {
    let text = text.trim();
    if text.chars().count() > max {
        return Err(AppError::field(field, format!("at most {max} characters")));
    }
    Ok(text.to_owned())
}

/// The SKU a scanned code (barcode or SKU code) names; 422 on `field` when none.
pub async fn resolve_code(state: &AppState, field: &str, code: &str) -> AppResult<Uuid> {
    let code = code.trim();
    if code.is_empty() || code.len() > 64 {
        return Err(AppError::field(field, "scan or type a barcode or SKU code"));
    }
    storage::web::sku_by_code(&state.store, code)
        .await?
        .ok_or_else(|| AppError::field(field, format!("unknown barcode or SKU code {code}")))
}

/// A scanned line: a code and a quantity.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
pub struct CodeLine {
    /// Barcode or SKU code as scanned.
    pub code: String,
    /// Quantity.
    pub qty: i64,
}

/// Resolves `lines` (each SKU once, quantities from `min`): 422 naming `field[i]` otherwise.
async fn resolve_lines(
    state: &AppState,
    field: &str,
    lines: &[CodeLine],
    min: i64,
    required: bool,
) -> AppResult<Vec<(Uuid, i64)>> {
    if required && lines.is_empty() {
        return Err(AppError::field(field, "at least one line"));
    }
    if lines.len() > MAX_LINES {
        return Err(AppError::field(field, format!("at most {MAX_LINES} lines")));
    }
    let mut seen = HashSet::new();
    let mut out = Vec::with_capacity(lines.len());
    for (i, line) in lines.iter().enumerate() {
        let name = format!("{field}[{i}]");
        let sku = resolve_code(state, &name, &line.code).await?;
        let qty = check_qty(&name, line.qty, min)?;
        if !seen.insert(sku) {
            return Err(AppError::field(
                &name,
                format!("{} is listed twice", line.code),
            ));
        }
        out.push((sku, qty));
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Counts.
// ---------------------------------------------------------------------------------------------

/// `POST /console/pda/api/counts`: open a count of one zone.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct OpenCountRequest {
    /// Client id (UUIDv7).
    pub id: Uuid,
    /// Store.
    pub store: String,
    /// Zone (aisle, shelf, chiller…), 1–40 characters.
    pub zone: String,
}

/// Opens a count session (idempotent by id).
pub async fn open_count(
    state: &AppState,
    staff: &StaffActor,
    req: &OpenCountRequest,
) -> AppResult<CountSession> {
    let id = client_id("id", req.id)?;
    at_store(state, staff, &req.store, &STORE_STAFF).await?;
    let zone = check_text("zone", &req.zone, 40)?;
    if zone.is_empty() {
        return Err(AppError::field("zone", "name the zone counted"));
    }
    storage::store_ops::open_count(&state.store, id, &req.store, &zone, &staff.actor()).await
}

/// A count session the caller may see.
pub async fn count_session(
    state: &AppState,
    staff: &StaffActor,
    id: Uuid,
) -> AppResult<CountSession> {
    let session = storage::store_ops::get_count(&state.store, id).await?;
    staff.require(&STORE_STAFF)?;
    staff.require_store(&session.location_id)?;
    Ok(session)
}

/// `POST /console/pda/api/counts/{id}/scans`: one scan.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct ScanRequest {
    /// The scan's client id (UUIDv7).
    pub id: Uuid,
    /// Barcode or SKU code.
    pub code: String,
    /// Quantity counted by this scan (0 to 100000; 1 for one item).
    pub qty: i64,
    /// The handheld's time (ms since the epoch; the server's time when absent).
    #[serde(default)]
    pub client_ts: Option<i64>,
}

/// Records a scan in an open session (idempotent by the scan's id). An unknown code or a
/// negative quantity is a 422 and records nothing.
pub async fn scan(
    state: &AppState,
    staff: &StaffActor,
    session: Uuid,
    req: &ScanRequest,
) -> AppResult<ScanResult> {
    let id = client_id("id", req.id)?;
    let found = storage::store_ops::get_count(&state.store, session).await?;
    staff.require(&STORE_STAFF)?;
    staff.require_store(&found.location_id)?;
    let qty = check_qty("qty", req.qty, 0)?;
    let sku_id = resolve_code(state, "code", &req.code).await?;
    let input = ScanInput {
        id,
        session_id: session,
        sku_id,
        code: req.code.trim().to_owned(),
        qty,
        client_ts: req.client_ts.unwrap_or_else(storage::now_ms),
    };
    storage::store_ops::add_scan(&state.store, &input, &staff.actor()).await
}

/// Submits a session for approval.
pub async fn submit_count(
    state: &AppState,
    staff: &StaffActor,
    id: Uuid,
) -> AppResult<CountSession> {
    count_session(state, staff, id).await?;
    storage::store_ops::submit_count(&state.store, id).await
}

/// Approves a session (the store's manager or head office): the stock adjustment is posted.
pub async fn approve_count(
    state: &AppState,
    staff: &StaffActor,
    id: Uuid,
) -> AppResult<CountSession> {
    let session = storage::store_ops::get_count(&state.store, id).await?;
    staff.require(&MANAGERS)?;
    staff.require_store(&session.location_id)?;
    storage::store_ops::approve_count(&state.store, id, &staff.actor()).await
}

// ---------------------------------------------------------------------------------------------
// Receiving.
// ---------------------------------------------------------------------------------------------

/// What the store has to receive.
pub async fn receivables(
    state: &AppState,
    staff: &StaffActor,
    store: &str,
) -> AppResult<Vec<Receivable>> {
    at_store(state, staff, store, &STORE_STAFF).await?;
    storage::store_ops::open_receivables(&state.store, store).await
}

/// `POST /console/pda/api/receivings`: receive a transfer or a supplier delivery.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[schema(as = StoreReceiveRequest)]
pub struct ReceiveRequest {
    /// Client id (UUIDv7).
    pub id: Uuid,
    /// Store.
    pub store: String,
    /// `transfer` or `delivery`.
    pub source_kind: String,
    /// The transfer's or delivery's id.
    pub source_id: Uuid,
    /// Received quantities (0 and up); an expected SKU not listed was received 0.
    pub lines: Vec<CodeLine>,
    /// Note.
    #[serde(default)]
    pub note: String,
}

/// Books a receiving; differences from what was expected are kept and shown.
pub async fn receive(
    state: &AppState,
    staff: &StaffActor,
    req: &ReceiveRequest,
) -> AppResult<Receiving> {
    let id = client_id("id", req.id)?;
    at_store(state, staff, &req.store, &STORE_STAFF).await?;
    if !matches!(req.source_kind.as_str(), "transfer" | "delivery") {
        return Err(AppError::field("source_kind", "transfer or delivery"));
    }
    let lines = resolve_lines(state, "lines", &req.lines, 0, false).await?;
    let note = check_text("note", &req.note, 200)?;
    let input = ReceiveInput {
        id,
        location_id: req.store.clone(),
        source_kind: req.source_kind.clone(),
        source_id: req.source_id,
        lines,
        note,
    };
    storage::store_ops::receive(&state.store, &input, &staff.actor()).await
}

/// `POST /console/store-ops/deliveries` (a form) / the delivery a supplier announced.
#[derive(Debug, Clone)]
pub struct DeliveryRequest {
    /// Client id (UUIDv7).
    pub id: Uuid,
    /// Store.
    pub store: String,
    /// Supplier.
    pub supplier: String,
    /// Delivery note number.
    pub reference: String,
    /// Expected lines (qty ≥ 1).
    pub lines: Vec<CodeLine>,
}

/// Announces a supplier delivery (head office or the store's manager).
pub async fn create_delivery(
    state: &AppState,
    staff: &StaffActor,
    req: &DeliveryRequest,
) -> AppResult<Receivable> {
    let id = client_id("id", req.id)?;
    at_store(state, staff, &req.store, &MANAGERS).await?;
    let supplier = check_text("supplier", &req.supplier, 80)?;
    if supplier.is_empty() {
        return Err(AppError::field("supplier", "name the supplier"));
    }
    let reference = check_text("reference", &req.reference, 80)?;
    let lines = resolve_lines(state, "lines", &req.lines, 1, true).await?;
    let input = DeliveryInput {
        id,
        location_id: req.store.clone(),
        supplier,
        reference,
        lines,
    };
    storage::store_ops::create_delivery(&state.store, &input, &staff.actor()).await
}

// ---------------------------------------------------------------------------------------------
// Requisitions.
// ---------------------------------------------------------------------------------------------

/// `POST /console/pda/api/requisitions`: ask a warehouse for goods.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct RequisitionRequest {
    /// Client id (UUIDv7).
    pub id: Uuid,
    /// The store asking.
    pub store: String,
    /// The warehouse asked.
    pub warehouse: String,
    /// Lines (qty ≥ 1).
    pub lines: Vec<CodeLine>,
    /// Note.
    #[serde(default)]
    pub note: String,
}

/// Files a requisition; more than the warehouse has available is a 409 `insufficient_stock`.
pub async fn create_requisition(
    state: &AppState,
    staff: &StaffActor,
    req: &RequisitionRequest,
) -> AppResult<Requisition> {
    let id = client_id("id", req.id)?;
    at_store(state, staff, &req.store, &STORE_STAFF).await?;
    if storage::store_ops::location_kind(&state.store, &req.warehouse)
        .await?
        .as_deref()
        != Some("warehouse")
    {
        return Err(AppError::field(
            "warehouse",
            format!("{} is not a warehouse", req.warehouse),
        ));
    }
    let lines = resolve_lines(state, "lines", &req.lines, 1, true).await?;
    let note = check_text("note", &req.note, 200)?;
    let input = RequisitionInput {
        id,
        location_id: req.store.clone(),
        warehouse_id: req.warehouse.clone(),
        lines,
        note,
    };
    storage::store_ops::create_requisition(&state.store, &input, &staff.actor()).await
}

/// Allocates a requisition (head office only).
pub async fn allocate(
    state: &AppState,
    staff: &StaffActor,
    input: &AllocateInput,
) -> AppResult<Requisition> {
    staff.require(&[Role::HeadOfficeAdmin])?;
    client_id("id", input.transfer_id)?;
    for &(_, qty) in &input.lines {
        check_qty("lines", qty, 0)?;
    }
    storage::store_ops::allocate(&state.store, input, &staff.actor()).await
}

/// Rejects a requisition (head office only).
pub async fn reject_requisition(
    state: &AppState,
    staff: &StaffActor,
    id: Uuid,
) -> AppResult<Requisition> {
    staff.require(&[Role::HeadOfficeAdmin])?;
    storage::store_ops::reject_requisition(&state.store, id, &staff.actor()).await
}

// ---------------------------------------------------------------------------------------------
// Shrink and repacks.
// ---------------------------------------------------------------------------------------------

/// `POST /console/pda/api/shrink`: write goods off.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct ShrinkRequest {
    /// Client id (UUIDv7).
    pub id: Uuid,
    /// Store.
    pub store: String,
    /// Barcode or SKU code.
    pub code: String,
    /// Quantity (≥ 1, at most on hand).
    pub qty: i64,
    /// `expired`, `damaged`, `quality`, `theft` or `other`.
    pub reason: String,
    /// Note (required for `other`).
    #[serde(default)]
    pub note: String,
    /// Names of photos uploaded with `POST /console/pda/api/photos` (at most 3).
    #[serde(default)]
    pub photos: Vec<String>,
}

/// Records a write-off.
pub async fn shrink(
    state: &AppState,
    staff: &StaffActor,
    req: &ShrinkRequest,
) -> AppResult<ShrinkRecord> {
    let id = client_id("id", req.id)?;
    at_store(state, staff, &req.store, &STORE_STAFF).await?;
    let sku_id = resolve_code(state, "code", &req.code).await?;
    let qty = check_qty("qty", req.qty, 1)?;
    if !SHRINK_REASONS.contains(&req.reason.as_str()) {
        return Err(AppError::field(
            "reason",
            format!("one of {}", SHRINK_REASONS.join(", ")),
        ));
    }
    let note = check_text("note", &req.note, 200)?;
    if req.reason == "other" && note.is_empty() {
        return Err(AppError::field("note", "say what happened"));
    }
    crate::app::media::check_uploaded(
        state,
        &req.photos,
        MAX_PHOTOS,
        "POST /console/pda/api/photos",
    )
    .await?;
    let input = ShrinkInput {
        id,
        location_id: req.store.clone(),
        sku_id,
        qty,
        reason: req.reason.clone(),
        note,
        photos: req.photos.clone(),
    };
    storage::shrink::record_shrink(&state.store, &input, &staff.actor()).await
}

/// `POST /console/pda/api/repacks`: split a case or re-pack.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct RepackRequest {
    /// Client id (UUIDv7).
    pub id: Uuid,
    /// Store.
    pub store: String,
    /// Taken from stock (qty ≥ 1, at most on hand).
    pub inputs: Vec<CodeLine>,
    /// Put into stock (qty ≥ 1), none of the inputs.
    pub outputs: Vec<CodeLine>,
    /// Note.
    #[serde(default)]
    pub note: String,
}

/// Books a split or re-pack.
pub async fn repack(
    state: &AppState,
    staff: &StaffActor,
    req: &RepackRequest,
) -> AppResult<Repack> {
    let id = client_id("id", req.id)?;
    at_store(state, staff, &req.store, &STORE_STAFF).await?;
    let inputs = resolve_lines(state, "inputs", &req.inputs, 1, true).await?;
    let outputs = resolve_lines(state, "outputs", &req.outputs, 1, true).await?;
    if let Some((i, _)) = outputs
        .iter()
        .enumerate()
        .find(|(_, (sku, _))| inputs.iter().any(|(s, _)| s == sku))
    {
        return Err(AppError::field(
            &format!("outputs[{i}]"),
            "a SKU cannot be both taken and put back",
        ));
    }
    let note = check_text("note", &req.note, 200)?;
    let input = RepackInput {
        id,
        location_id: req.store.clone(),
        inputs,
        outputs,
        note,
    };
    storage::shrink::repack(&state.store, &input, &staff.actor()).await
}

// ---------------------------------------------------------------------------------------------
// Price check.
// ---------------------------------------------------------------------------------------------

/// A price check's answer: what one unit costs at the store's lanes now.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PriceCheck {
    /// SKU.
    pub sku_id: Uuid,
    /// SKU code.
    pub sku_code: String,
    /// Product name (Chinese).
    pub name_zh: String,
    /// Product name (English).
    pub name_en: String,
    /// Variant spec (Chinese).
    pub spec_zh: String,
    /// Sold by weight (prices per kg).
    pub weighed: bool,
    /// The list price at the store (store override, else chain price).
    #[schema(value_type = String)]
    pub list_price: Money,
    /// What one unit costs now at the lanes (the pricing engine, no member).
    #[schema(value_type = String)]
    pub price: Money,
    /// The member price, if any.
    #[schema(value_type = Option<String>)]
    pub member_price: Option<Money>,
    /// Why the price differs from the list price (promotions applied), Chinese.
    pub explanation_zh: String,
    /// The same in English.
    pub explanation_en: String,
    /// On hand at the store.
    pub on_hand: i64,
}

/// Checks a price: the scanned SKU priced by the pricing engine for the store's lanes (one
/// unit, or 1 kg when weighed), with its on-hand quantity.
pub async fn price_check(
    state: &AppState,
    staff: &StaffActor,
    store: &str,
    code: &str,
) -> AppResult<PriceCheck> {
    at_store(state, staff, store, &STORE_STAFF).await?;
    let sku_id = resolve_code(state, "code", code).await?;
    let record = storage::catalog::sku(&state.store, sku_id, Some(store))
        .await?
        .ok_or_else(|| AppError::field("code", "this SKU is not in the catalog"))?;
    let qty = if record.weighed { 1000 } else { 1 };
    let quote = crate::app::pricing::quote(
        state,
        &BasketRequest {
            location: store.to_owned(),
            channel: Channel::Lane,
            member_id: None,
            lines: vec![(sku_id, qty)],
            label_prices: Default::default(),
            coupons: Vec::new(),
            points_to_redeem: 0,
        },
    )
    .await?;
    let line = quote
        .basket
        .lines
        .first()
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("the engine priced no line")))?;
    let on_hand = storage::store_ops::on_hand(&state.store, store, &[sku_id])
        .await?
        .get(&sku_id)
        .copied()
        .unwrap_or(0);
    let (explanation_zh, explanation_en) = if quote.basket.discount.fen() > 0 {
        (
            quote.basket.explanation.zh.clone(),
            quote.basket.explanation.en.clone(),
        )
    } else {
        (String::new(), String::new())
    };
    Ok(PriceCheck {
        sku_id,
        sku_code: record.sku_code.clone(),
        name_zh: record.name_zh.clone(),
        name_en: record.name_en.clone(),
        spec_zh: record.spec_zh.clone(),
        weighed: record.weighed,
        list_price: line.list_amount,
        price: line.amount,
        member_price: record.member_price,
        explanation_zh,
        explanation_en,
        on_hand,
    })
}
