//! Handheld store operations (issue 21): cycle counts by zone (sessions of scans, approved into
//! `count_adjustment` movements), receiving against a transfer or a supplier delivery (expected,
//! received and the difference kept per SKU), and store requisitions (要货) with head office's
//! allocation (配货), which ships a transfer from the warehouse.
//!
//! Every write is keyed by its client id (UUIDv7): a replayed scan, receiving or requisition is
//! stored once and answers with what the first one did. Stock changes go through
//! [`super::stock::apply_movements`] in the same transaction as the record.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::any::AnyRow;
use utoipa::ToSchema;
use uuid::Uuid;

use super::stock::{apply_movements, lock_rows, Movement, MovementKind};
use super::{audit, col, from_ms, now_ms, placeholders, uuid_col, Store, Tx};
use crate::error::{AppError, AppResult};

/// How many rows a list answers at most.
pub const LIST_LIMIT: i64 = 200;

/// A SKU's names, for the pages.
#[derive(Debug, Clone, Default, Serialize, ToSchema)]
pub struct SkuLabel {
    /// SKU code.
    pub sku_code: String,
    /// Product name (Chinese).
    pub name_zh: String,
    /// Product name (English).
    pub name_en: String,
    /// Variant spec (Chinese).
    pub spec_zh: String,
    /// Its barcodes (what a scanner reads).
    pub barcodes: Vec<String>,
}

/// The names of `skus` (missing SKUs are left out).
pub async fn sku_labels(store: &Store, skus: &[Uuid]) -> AppResult<HashMap<Uuid, SkuLabel>> {
    let mut unique: Vec<String> = skus.iter().map(Uuid::to_string).collect();
    unique.sort();
    unique.dedup();
    let mut out = HashMap::new();
    for chunk in unique.chunks(500) {
        let sql = format!(
            "SELECT s.id, s.sku_code, s.spec_zh, p.name_zh, p.name_en FROM skus s \
             JOIN products p ON p.id = s.product_id WHERE s.id IN ({})",
            placeholders(1, chunk.len())
        );
        let mut query = sqlx::query(&sql);
        for id in chunk {
            query = query.bind(id);
        }
        for row in query.fetch_all(store.reader()).await? {
            out.insert(
                uuid_col(&row, "id")?,
                SkuLabel {
                    sku_code: col(&row, "sku_code")?,
                    name_zh: col(&row, "name_zh")?,
                    name_en: col(&row, "name_en")?,
                    spec_zh: col(&row, "spec_zh")?,
                    barcodes: Vec::new(),
                },
            );
        }
        let sql = format!(
            "SELECT sku_id, code FROM barcodes WHERE sku_id IN ({}) ORDER BY code",
            placeholders(1, chunk.len())
        );
        let mut query = sqlx::query(&sql);
        for id in chunk {
            query = query.bind(id);
        }
        for row in query.fetch_all(store.reader()).await? {
            if let Some(label) = out.get_mut(&uuid_col(&row, "sku_id")?) {
                label.barcodes.push(col(&row, "code")?);
            }
        }
    }
    Ok(out)
}

/// A line of a store document that names one SKU (a delivery's, a receiving's, a
/// requisition's).
trait SkuLine {
    /// The SKU.
    fn sku_id(&self) -> Uuid;
    /// Fills in the SKU's names.
    fn set_label(&mut self, label: SkuLabel);
}

impl SkuLine for ExpectedLine {
    fn sku_id(&self) -> Uuid {
        self.sku_id
    }
    fn set_label(&mut self, label: SkuLabel) {
        self.label = label;
    }
}

impl SkuLine for ReceivingLine {
    fn sku_id(&self) -> Uuid {
        self.sku_id
    }
    fn set_label(&mut self, label: SkuLabel) {
        self.label = label;
    }
}

impl SkuLine for RequisitionLine {
    fn sku_id(&self) -> Uuid {
        self.sku_id
    }
    fn set_label(&mut self, label: SkuLabel) {
        self.label = label;
    }
}

/// The lines of each document in `docs` (the query that reads one document's lines, with
/// `sku_id` and the line's own columns, and the document's id), each made by `line` from its
/// row and SKU, then named with one look-up for all of them and sorted by SKU code.
async fn read_named_lines<L: SkuLine>(
    store: &Store,
    docs: &[(&str, Uuid)],
    line: impl Fn(&AnyRow, Uuid) -> AppResult<L>,
) -> AppResult<Vec<Vec<L>>> {
    let mut out = Vec::with_capacity(docs.len());
    let mut all = Vec::new();
    for (sql, id) in docs {
        let rows = sqlx::query(sql)
            .bind(id.to_string())
            .fetch_all(store.reader())
            .await?;
        let mut lines = Vec::with_capacity(rows.len());
        for r in &rows {
            let sku_id = uuid_col(r, "sku_id")?;
            all.push(sku_id);
            lines.push(line(r, sku_id)?);
        }
        out.push(lines);
    }
    let labels = sku_labels(store, &all).await?;
    let code = |l: &L| labels.get(&l.sku_id()).map(|label| label.sku_code.as_str());
    for lines in &mut out {
        lines.sort_by(|a, b| code(a).cmp(&code(b)));
        for l in lines.iter_mut() {
            l.set_label(labels.get(&l.sku_id()).cloned().unwrap_or_default());
        }
    }
    Ok(out)
}

/// On hand of `skus` at `location` (0 where there is no stock row).
pub async fn on_hand(
    store: &Store,
    location: &str,
    skus: &[Uuid],
) -> AppResult<HashMap<Uuid, i64>> {
    let mut out = HashMap::new();
    let ids: Vec<String> = skus.iter().map(Uuid::to_string).collect();
    for chunk in ids.chunks(500) {
        let sql = format!(
            "SELECT sku_id, on_hand FROM stock WHERE location_id = $1 AND sku_id IN ({})",
            placeholders(2, chunk.len())
        );
        let mut query = sqlx::query(&sql).bind(location);
        for id in chunk {
            query = query.bind(id);
        }
        for row in query.fetch_all(store.reader()).await? {
            out.insert(uuid_col(&row, "sku_id")?, col(&row, "on_hand")?);
        }
    }
    Ok(out)
}

/// The kind of a location (`store`, `warehouse`, `head_office`), if it exists.
pub async fn location_kind(store: &Store, id: &str) -> AppResult<Option<String>> {
    let row = sqlx::query("SELECT kind FROM locations WHERE id = $1")
        .bind(id)
        .fetch_optional(store.reader())
        .await?;
    row.map(|r| col(&r, "kind")).transpose()
}

fn id_in_use(id: Uuid, what: &str) -> AppError {
    AppError::conflict(
        "id_in_use",
        format!("id {id} was already used for another {what}"),
    )
}

// ---------------------------------------------------------------------------------------------
// Cycle counts.
// ---------------------------------------------------------------------------------------------

/// One SKU of a count session.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CountSessionLine {
    /// SKU.
    pub sku_id: Uuid,
    /// Names.
    #[serde(flatten)]
    pub label: SkuLabel,
    /// Counted (the sum of the scans).
    pub counted: i64,
    /// Book stock: on hand now (open or submitted), on hand at approval (approved).
    pub book: i64,
    /// `counted − book`.
    pub variance: i64,
}

/// A count of one zone of a store.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CountSession {
    /// Client id.
    pub id: Uuid,
    /// Store.
    pub location_id: String,
    /// Zone (aisle, shelf, chiller…).
    pub zone: String,
    /// `open`, `submitted` or `approved`.
    pub status: String,
    /// Who opened it.
    pub created_by: String,
    /// When (RFC 3339).
    pub created_at: DateTime<Utc>,
    /// Who approved it.
    pub approved_by: Option<String>,
    /// When (RFC 3339).
    pub approved_at: Option<DateTime<Utc>>,
    /// Scans recorded.
    pub scans: i64,
    /// Counted SKUs, by SKU code.
    pub lines: Vec<CountSessionLine>,
}

const SESSION_COLUMNS: &str =
    "id, location_id, zone, status, created_by, created_at, approved_by, approved_at";

fn session_from_row(row: &AnyRow) -> AppResult<CountSession> {
    Ok(CountSession {
        id: uuid_col(row, "id")?,
        location_id: col(row, "location_id")?,
        zone: col(row, "zone")?,
        status: col(row, "status")?,
        created_by: col(row, "created_by")?,
        created_at: from_ms(col(row, "created_at")?),
        approved_by: col(row, "approved_by")?,
        approved_at: col::<Option<i64>>(row, "approved_at")?.map(from_ms),
        scans: 0,
        lines: Vec::new(),
    })
}

/// Opens a count session (idempotent by id; the id of a session at another store is a
/// conflict).
pub async fn open_count(
    store: &Store,
    id: Uuid,
    location_id: &str,
    zone: &str,
    actor: &str,
) -> AppResult<CountSession> {
    sqlx::query(
        "INSERT INTO count_sessions (id, location_id, zone, status, created_by, created_at) \
         VALUES ($1, $2, $3, 'open', $4, $5) ON CONFLICT (id) DO NOTHING",
    )
    .bind(id.to_string())
    .bind(location_id)
    .bind(zone)
    .bind(actor)
    .bind(now_ms())
    .execute(store.writer())
    .await?;
    let session = get_count(store, id).await?;
    if session.location_id != location_id {
        return Err(id_in_use(id, "count session"));
    }
    Ok(session)
}

/// One count session with its lines.
pub async fn get_count(store: &Store, id: Uuid) -> AppResult<CountSession> {
    let row = sqlx::query(&format!(
        "SELECT {SESSION_COLUMNS} FROM count_sessions WHERE id = $1"
    ))
    .bind(id.to_string())
    .fetch_optional(store.reader())
    .await?
    .ok_or_else(|| AppError::not_found(format!("count session {id} not found")))?;
    let mut session = session_from_row(&row)?;
    let scans = sqlx::query(
        "SELECT sku_id, COUNT(*) AS scans, CAST(COALESCE(SUM(qty), 0) AS BIGINT) AS counted \
         FROM count_scans WHERE session_id = $1 GROUP BY sku_id",
    )
    .bind(id.to_string())
    .fetch_all(store.reader())
    .await?;
    let mut counted: BTreeMap<Uuid, i64> = BTreeMap::new();
    for row in &scans {
        session.scans += col::<i64>(row, "scans")?;
        counted.insert(uuid_col(row, "sku_id")?, col(row, "counted")?);
    }
    let skus: Vec<Uuid> = counted.keys().copied().collect();
    let book: HashMap<Uuid, i64> = if session.status == "approved" {
        let rows = sqlx::query("SELECT sku_id, book FROM count_lines WHERE session_id = $1")
            .bind(id.to_string())
            .fetch_all(store.reader())
            .await?;
        rows.iter()
            .map(|r| Ok((uuid_col(r, "sku_id")?, col(r, "book")?)))
            .collect::<AppResult<_>>()?
    } else {
        on_hand(store, &session.location_id, &skus).await?
    };
    let labels = sku_labels(store, &skus).await?;
    session.lines = counted
        .into_iter()
        .map(|(sku_id, counted)| {
            let book = book.get(&sku_id).copied().unwrap_or(0);
            CountSessionLine {
                sku_id,
                label: labels.get(&sku_id).cloned().unwrap_or_default(),
                counted,
                book,
                variance: counted - book,
            }
        })
        .collect();
    session
        .lines
        .sort_by(|a, b| a.label.sku_code.cmp(&b.label.sku_code));
    Ok(session)
}

/// Count sessions, newest first (without lines).
pub async fn list_counts(
    store: &Store,
    location_id: Option<&str>,
    status: Option<&str>,
) -> AppResult<Vec<CountSession>> {
    let rows = sqlx::query(&format!(
        "SELECT {SESSION_COLUMNS} FROM count_sessions \
         WHERE ($1 IS NULL OR location_id = $1) AND ($2 IS NULL OR status = $2) \
         ORDER BY created_at DESC, id DESC LIMIT $3"
    ))
    .bind(location_id)
    .bind(status)
    .bind(LIST_LIMIT)
    .fetch_all(store.reader())
    .await?;
    rows.iter().map(session_from_row).collect()
}

/// One scan of a count.
#[derive(Debug, Clone)]
pub struct ScanInput {
    /// The scan's client id (UUIDv7).
    pub id: Uuid,
    /// The session.
    pub session_id: Uuid,
    /// What was scanned (resolved).
    pub sku_id: Uuid,
    /// The code as scanned.
    pub code: String,
    /// Quantity counted by this scan (0 and up).
    pub qty: i64,
    /// The handheld's time (ms).
    pub client_ts: i64,
}

/// A recorded scan.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ScanResult {
    /// The scan's client id.
    pub id: Uuid,
    /// The session.
    pub session_id: Uuid,
    /// SKU.
    pub sku_id: Uuid,
    /// Quantity.
    pub qty: i64,
    /// True when this id had been recorded before (a replay): nothing was added.
    pub replayed: bool,
}

async fn prior_scan(tx: &mut Tx, id: Uuid) -> AppResult<Option<ScanResult>> {
    let row = sqlx::query("SELECT session_id, sku_id, qty FROM count_scans WHERE id = $1")
        .bind(id.to_string())
        .fetch_optional(&mut **tx)
        .await?;
    row.map(|r| {
        Ok(ScanResult {
            id,
            session_id: uuid_col(&r, "session_id")?,
            sku_id: uuid_col(&r, "sku_id")?,
            qty: col(&r, "qty")?,
            replayed: true,
        })
    })
    .transpose()
}

/// Records a scan in an open session. A replayed id answers with the first scan (`replayed`)
/// and adds nothing; a scan into a submitted or approved session is refused (409
/// `count_closed`).
pub async fn add_scan(store: &Store, input: &ScanInput, actor: &str) -> AppResult<ScanResult> {
    let mut tx = store.begin().await?;
    if let Some(prior) = prior_scan(&mut tx, input.id).await? {
        tx.rollback().await?;
        if prior.session_id != input.session_id {
            return Err(id_in_use(input.id, "scan"));
        }
        return Ok(prior);
    }
    let status: Option<String> = sqlx::query(&format!(
        "SELECT status FROM count_sessions WHERE id = $1{}",
        store.for_update()
    ))
    .bind(input.session_id.to_string())
    .fetch_optional(&mut *tx)
    .await?
    .map(|r| col(&r, "status"))
    .transpose()?;
    match status.as_deref() {
        None => {
            return Err(AppError::not_found(format!(
                "count session {} not found",
                input.session_id
            )))
        }
        Some("open") => {}
        Some(other) => {
            return Err(AppError::conflict(
                "count_closed",
                format!(
                    "count session {} is {other}: no more scans",
                    input.session_id
                ),
            ))
        }
    }
    let inserted = sqlx::query(
        "INSERT INTO count_scans (id, session_id, sku_id, code, qty, actor, client_ts, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (id) DO NOTHING",
    )
    .bind(input.id.to_string())
    .bind(input.session_id.to_string())
    .bind(input.sku_id.to_string())
    .bind(&input.code)
    .bind(input.qty)
    .bind(actor)
    .bind(input.client_ts)
    .bind(now_ms())
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if inserted == 0 {
        // The same scan, replayed concurrently.
        let prior = prior_scan(&mut tx, input.id).await?;
        tx.rollback().await?;
        return prior.ok_or_else(|| AppError::Internal(anyhow::anyhow!("scan vanished")));
    }
    tx.commit().await?;
    Ok(ScanResult {
        id: input.id,
        session_id: input.session_id,
        sku_id: input.sku_id,
        qty: input.qty,
        replayed: false,
    })
}

/// Marks an open session submitted for approval (a submitted or approved one is answered as
/// it is).
pub async fn submit_count(store: &Store, id: Uuid) -> AppResult<CountSession> {
    sqlx::query(
        "UPDATE count_sessions SET status = 'submitted', submitted_at = $2 WHERE id = $1 AND status = 'open'",
    )
    .bind(id.to_string())
    .bind(now_ms())
    .execute(store.writer())
    .await?;
    get_count(store, id).await
}

/// Approves a session: on hand of each counted SKU becomes the counted quantity, with a
/// `count_adjustment` movement per SKU whose variance is not 0 (ref_id: the session), the
/// variances kept in `count_lines`, audited as `stock.count_session`; all in one transaction.
/// Approving an approved session answers it unchanged.
pub async fn approve_count(store: &Store, id: Uuid, actor: &str) -> AppResult<CountSession> {
    let mut tx = store.begin().await?;
    let row = sqlx::query(&format!(
        "SELECT location_id, status FROM count_sessions WHERE id = $1{}",
        store.for_update()
    ))
    .bind(id.to_string())
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(|| AppError::not_found(format!("count session {id} not found")))?;
    let location: String = col(&row, "location_id")?;
    let status: String = col(&row, "status")?;
    if status == "approved" {
        tx.rollback().await?;
        return get_count(store, id).await;
    }
    let rows = sqlx::query(
        "SELECT sku_id, CAST(COALESCE(SUM(qty), 0) AS BIGINT) AS counted FROM count_scans \
         WHERE session_id = $1 GROUP BY sku_id ORDER BY sku_id",
    )
    .bind(id.to_string())
    .fetch_all(&mut *tx)
    .await?;
    let counted: Vec<(Uuid, i64)> = rows
        .iter()
        .map(|r| Ok((uuid_col(r, "sku_id")?, col(r, "counted")?)))
        .collect::<AppResult<_>>()?;
    if counted.is_empty() {
        return Err(AppError::conflict(
            "count_empty",
            format!("count session {id} has no scans: nothing to approve"),
        ));
    }
    let skus: Vec<Uuid> = counted.iter().map(|(s, _)| *s).collect();
    let levels = lock_rows(&mut tx, store, &location, &skus, true).await?;
    let now = now_ms();
    let ref_id = id.to_string();
    let reason = "cycle count".to_owned();
    let mut movements = Vec::new();
    let mut detail = Vec::new();
    for &(sku_id, qty) in &counted {
        let book = levels.get(&sku_id).map(|l| l.0).unwrap_or(0);
        let variance = qty - book;
        sqlx::query(
            "INSERT INTO count_lines (session_id, sku_id, book, counted, variance) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&ref_id)
        .bind(sku_id.to_string())
        .bind(book)
        .bind(qty)
        .bind(variance)
        .execute(&mut *tx)
        .await?;
        detail.push(serde_json::json!({"sku_id": sku_id, "book": book, "counted": qty, "variance": variance}));
        if variance != 0 {
            movements.push(Movement {
                location_id: &location,
                sku_id,
                kind: MovementKind::CountAdjustment,
                on_hand_delta: variance,
                reserved_delta: 0,
                reason: &reason,
                actor,
                ref_id: Some(&ref_id),
                client_ts: now,
            });
        }
    }
    apply_movements(&mut tx, &movements).await?;
    sqlx::query(
        "UPDATE count_sessions SET status = 'approved', approved_by = $2, approved_at = $3 WHERE id = $1",
    )
    .bind(&ref_id)
    .bind(actor)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    audit::record(
        &mut tx,
        actor,
        "stock.count_session",
        "count_session",
        &ref_id,
        serde_json::json!({"location_id": location, "lines": detail}),
    )
    .await?;
    tx.commit().await?;
    get_count(store, id).await
}

// ---------------------------------------------------------------------------------------------
// Supplier deliveries and receiving.
// ---------------------------------------------------------------------------------------------

/// One expected line.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ExpectedLine {
    /// SKU.
    pub sku_id: Uuid,
    /// Names.
    #[serde(flatten)]
    pub label: SkuLabel,
    /// Expected quantity.
    pub qty: i64,
}

/// Something a store can receive: a transfer in transit to it, or a supplier delivery.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Receivable {
    /// `transfer` or `delivery`.
    pub source_kind: String,
    /// The transfer's or delivery's id.
    pub source_id: Uuid,
    /// The store receiving.
    pub location_id: String,
    /// Where it comes from: the sending location, or the supplier.
    pub from: String,
    /// The supplier's reference (deliveries) or the transfer's note.
    pub reference: String,
    /// `in_transit` / `expected` while open, `received` after.
    pub status: String,
    /// The expected lines.
    pub lines: Vec<ExpectedLine>,
}

/// A supplier delivery to announce.
#[derive(Debug, Clone)]
pub struct DeliveryInput {
    /// Client id (UUIDv7).
    pub id: Uuid,
    /// The store.
    pub location_id: String,
    /// Supplier name.
    pub supplier: String,
    /// The supplier's reference (delivery note number).
    pub reference: String,
    /// (SKU, qty > 0), each SKU once.
    pub lines: Vec<(Uuid, i64)>,
}

/// Announces a supplier delivery (idempotent by id).
pub async fn create_delivery(
    store: &Store,
    input: &DeliveryInput,
    actor: &str,
) -> AppResult<Receivable> {
    let mut tx = store.begin().await?;
    let inserted = sqlx::query(
        "INSERT INTO supplier_deliveries (id, location_id, supplier, reference, status, created_by, created_at) \
         VALUES ($1, $2, $3, $4, 'expected', $5, $6) ON CONFLICT (id) DO NOTHING",
    )
    .bind(input.id.to_string())
    .bind(&input.location_id)
    .bind(&input.supplier)
    .bind(&input.reference)
    .bind(actor)
    .bind(now_ms())
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if inserted == 1 {
        for &(sku, qty) in &input.lines {
            sqlx::query(
                "INSERT INTO delivery_lines (delivery_id, sku_id, qty) VALUES ($1, $2, $3)",
            )
            .bind(input.id.to_string())
            .bind(sku.to_string())
            .bind(qty)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
    } else {
        tx.rollback().await?;
    }
    let found = receivable(store, "delivery", input.id).await?;
    if found.location_id != input.location_id {
        return Err(id_in_use(input.id, "delivery"));
    }
    Ok(found)
}

async fn attach_expected(store: &Store, items: &mut [Receivable]) -> AppResult<()> {
    let docs: Vec<(&str, Uuid)> = items
        .iter()
        .map(|item| {
            let sql = if item.source_kind == "transfer" {
                "SELECT sku_id, qty FROM transfer_lines WHERE transfer_id = $1"
            } else {
                "SELECT sku_id, qty FROM delivery_lines WHERE delivery_id = $1"
            };
            (sql, item.source_id)
        })
        .collect();
    let lines = read_named_lines(store, &docs, |r, sku_id| {
        Ok(ExpectedLine {
            sku_id,
            label: SkuLabel::default(),
            qty: col(r, "qty")?,
        })
    })
    .await?;
    for (item, lines) in items.iter_mut().zip(lines) {
        item.lines = lines;
    }
    Ok(())
}

fn receivable_from_row(kind: &str, row: &AnyRow) -> AppResult<Receivable> {
    Ok(Receivable {
        source_kind: kind.to_owned(),
        source_id: uuid_col(row, "id")?,
        location_id: col(row, "location_id")?,
        from: col(row, "origin")?,
        reference: col(row, "reference")?,
        status: col(row, "status")?,
        lines: Vec::new(),
    })
}

const TRANSFER_RECEIVABLE: &str = "SELECT id, to_location AS location_id, from_location AS origin, note AS reference, status FROM transfers";
const DELIVERY_RECEIVABLE: &str =
    "SELECT id, location_id, supplier AS origin, reference, status FROM supplier_deliveries";

/// One transfer (`kind` `transfer`) or delivery (`delivery`) with its expected lines.
pub async fn receivable(store: &Store, kind: &str, id: Uuid) -> AppResult<Receivable> {
    let sql = match kind {
        "transfer" => format!("{TRANSFER_RECEIVABLE} WHERE id = $1"),
        _ => format!("{DELIVERY_RECEIVABLE} WHERE id = $1"),
    };
    let row = sqlx::query(&sql)
        .bind(id.to_string())
        .fetch_optional(store.reader())
        .await?
        .ok_or_else(|| AppError::not_found(format!("{kind} {id} not found")))?;
    let mut items = [receivable_from_row(kind, &row)?];
    attach_expected(store, &mut items).await?;
    let [item] = items;
    Ok(item)
}

/// What `location` has to receive: transfers in transit to it and expected deliveries, oldest
/// first.
pub async fn open_receivables(store: &Store, location: &str) -> AppResult<Vec<Receivable>> {
    let mut items = Vec::new();
    let rows = sqlx::query(&format!(
        "{TRANSFER_RECEIVABLE} WHERE to_location = $1 AND status = 'in_transit' ORDER BY shipped_at, id LIMIT $2"
    ))
    .bind(location)
    .bind(LIST_LIMIT)
    .fetch_all(store.reader())
    .await?;
    for r in &rows {
        items.push(receivable_from_row("transfer", r)?);
    }
    let rows = sqlx::query(&format!(
        "{DELIVERY_RECEIVABLE} WHERE location_id = $1 AND status = 'expected' ORDER BY created_at, id LIMIT $2"
    ))
    .bind(location)
    .bind(LIST_LIMIT)
    .fetch_all(store.reader())
    .await?;
    for r in &rows {
        items.push(receivable_from_row("delivery", r)?);
    }
    attach_expected(store, &mut items).await?;
    Ok(items)
}

/// A receiving to book.
#[derive(Debug, Clone)]
pub struct ReceiveInput {
    /// Client id (UUIDv7).
    pub id: Uuid,
    /// The store receiving.
    pub location_id: String,
    /// `transfer` or `delivery`.
    pub source_kind: String,
    /// The transfer or delivery.
    pub source_id: Uuid,
    /// (SKU, received ≥ 0), each SKU once; an expected SKU not listed was received 0.
    pub lines: Vec<(Uuid, i64)>,
    /// Note.
    pub note: String,
}

/// One SKU of a receiving.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ReceivingLine {
    /// SKU.
    pub sku_id: Uuid,
    /// Names.
    #[serde(flatten)]
    pub label: SkuLabel,
    /// Expected.
    pub expected: i64,
    /// Received.
    pub received: i64,
    /// `received − expected` (negative: short, positive: over).
    pub difference: i64,
}

/// A booked receiving.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Receiving {
    /// Client id (`ref_id` of its movements is the source's id for transfers, this id for
    /// deliveries).
    pub id: Uuid,
    /// The store.
    pub location_id: String,
    /// `transfer` or `delivery`.
    pub source_kind: String,
    /// The transfer or delivery.
    pub source_id: Uuid,
    /// Note.
    pub note: String,
    /// Who.
    pub received_by: String,
    /// When (RFC 3339).
    pub received_at: DateTime<Utc>,
    /// Lines, by SKU code.
    pub lines: Vec<ReceivingLine>,
}

impl Receiving {
    /// True when some line differs from what was expected.
    pub fn has_differences(&self) -> bool {
        self.lines.iter().any(|l| l.difference != 0)
    }
}

const RECEIVING_COLUMNS: &str =
    "id, location_id, source_kind, source_id, note, received_by, received_at";

fn receiving_from_row(row: &AnyRow) -> AppResult<Receiving> {
    Ok(Receiving {
        id: uuid_col(row, "id")?,
        location_id: col(row, "location_id")?,
        source_kind: col(row, "source_kind")?,
        source_id: uuid_col(row, "source_id")?,
        note: col(row, "note")?,
        received_by: col(row, "received_by")?,
        received_at: from_ms(col(row, "received_at")?),
        lines: Vec::new(),
    })
}

async fn attach_receiving_lines(store: &Store, items: &mut [Receiving]) -> AppResult<()> {
    const SQL: &str =
        "SELECT sku_id, expected, received, difference FROM receiving_lines WHERE receiving_id = $1";
    let docs: Vec<(&str, Uuid)> = items.iter().map(|item| (SQL, item.id)).collect();
    let lines = read_named_lines(store, &docs, |r, sku_id| {
        Ok(ReceivingLine {
            sku_id,
            label: SkuLabel::default(),
            expected: col(r, "expected")?,
            received: col(r, "received")?,
            difference: col(r, "difference")?,
        })
    })
    .await?;
    for (item, lines) in items.iter_mut().zip(lines) {
        item.lines = lines;
    }
    Ok(())
}

/// One receiving.
pub async fn get_receiving(store: &Store, id: Uuid) -> AppResult<Receiving> {
    let row = sqlx::query(&format!(
        "SELECT {RECEIVING_COLUMNS} FROM receivings WHERE id = $1"
    ))
    .bind(id.to_string())
    .fetch_optional(store.reader())
    .await?
    .ok_or_else(|| AppError::not_found(format!("receiving {id} not found")))?;
    let mut items = [receiving_from_row(&row)?];
    attach_receiving_lines(store, &mut items).await?;
    let [item] = items;
    Ok(item)
}

/// Receivings, newest first, of one location or all.
pub async fn list_receivings(store: &Store, location: Option<&str>) -> AppResult<Vec<Receiving>> {
    let rows = sqlx::query(&format!(
        "SELECT {RECEIVING_COLUMNS} FROM receivings WHERE ($1 IS NULL OR location_id = $1) \
         ORDER BY received_at DESC, id DESC LIMIT $2"
    ))
    .bind(location)
    .bind(LIST_LIMIT)
    .fetch_all(store.reader())
    .await?;
    let mut items = rows
        .iter()
        .map(receiving_from_row)
        .collect::<AppResult<Vec<_>>>()?;
    attach_receiving_lines(store, &mut items).await?;
    Ok(items)
}

/// Books a receiving against a transfer in transit to the store (`transfer_in` movements of
/// the received quantities, the transfer marked received) or an expected supplier delivery
/// (`receipt` movements, the delivery marked received), with expected, received and their
/// difference kept per SKU; audited as `stock.receiving`; one transaction. Idempotent by id; a
/// source received before (under another id) is a 409 `already_received`; a source for another
/// store a 409 `wrong_location`.
pub async fn receive(store: &Store, input: &ReceiveInput, actor: &str) -> AppResult<Receiving> {
    let mut tx = store.begin().await?;
    let prior = sqlx::query("SELECT location_id, source_id FROM receivings WHERE id = $1")
        .bind(input.id.to_string())
        .fetch_optional(&mut *tx)
        .await?;
    if let Some(prior) = prior {
        tx.rollback().await?;
        let location: String = col(&prior, "location_id")?;
        if location != input.location_id || uuid_col(&prior, "source_id")? != input.source_id {
            return Err(id_in_use(input.id, "receiving"));
        }
        return get_receiving(store, input.id).await;
    }
    let source = input.source_id.to_string();
    let (sql, lines_sql, open_status) = match input.source_kind.as_str() {
        "transfer" => (
            "SELECT to_location AS location_id, from_location AS origin, status FROM transfers WHERE id = $1",
            "SELECT sku_id, qty FROM transfer_lines WHERE transfer_id = $1",
            "in_transit",
        ),
        _ => (
            "SELECT location_id, supplier AS origin, status FROM supplier_deliveries WHERE id = $1",
            "SELECT sku_id, qty FROM delivery_lines WHERE delivery_id = $1",
            "expected",
        ),
    };
    let row = sqlx::query(&format!("{sql}{}", store.for_update()))
        .bind(&source)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(|| {
            AppError::not_found(format!(
                "{} {} not found",
                input.source_kind, input.source_id
            ))
        })?;
    let location: String = col(&row, "location_id")?;
    let origin: String = col(&row, "origin")?;
    let status: String = col(&row, "status")?;
    if location != input.location_id {
        return Err(AppError::conflict(
            "wrong_location",
            format!(
                "{} {} goes to {location}, not {}",
                input.source_kind, input.source_id, input.location_id
            ),
        ));
    }
    if status != open_status {
        return Err(AppError::conflict(
            "already_received",
            format!(
                "{} {} was received already",
                input.source_kind, input.source_id
            ),
        ));
    }
    let mut expected: BTreeMap<Uuid, i64> = BTreeMap::new();
    for r in sqlx::query(lines_sql)
        .bind(&source)
        .fetch_all(&mut *tx)
        .await?
    {
        expected.insert(uuid_col(&r, "sku_id")?, col(&r, "qty")?);
    }
    let received: HashMap<Uuid, i64> = input.lines.iter().copied().collect();
    let mut skus: Vec<Uuid> = expected.keys().copied().collect();
    for sku in received.keys() {
        if !expected.contains_key(sku) {
            skus.push(*sku);
        }
    }
    skus.sort();
    let now = now_ms();
    let id = input.id.to_string();
    sqlx::query(
        "INSERT INTO receivings (id, location_id, source_kind, source_id, note, received_by, received_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&id)
    .bind(&input.location_id)
    .bind(&input.source_kind)
    .bind(&source)
    .bind(&input.note)
    .bind(actor)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    let (kind, ref_id, reason) = if input.source_kind == "transfer" {
        sqlx::query(
            "UPDATE transfers SET status = 'received', received_by = $2, received_at = $3 WHERE id = $1",
        )
        .bind(&source)
        .bind(actor)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        (
            MovementKind::TransferIn,
            source.clone(),
            format!("transfer from {origin}"),
        )
    } else {
        sqlx::query("UPDATE supplier_deliveries SET status = 'received' WHERE id = $1")
            .bind(&source)
            .execute(&mut *tx)
            .await?;
        (
            MovementKind::Receipt,
            id.clone(),
            format!("delivery from {origin}"),
        )
    };
    let mut movements = Vec::new();
    let mut detail = Vec::new();
    for sku_id in &skus {
        let exp = expected.get(sku_id).copied().unwrap_or(0);
        let got = received.get(sku_id).copied().unwrap_or(0);
        sqlx::query(
            "INSERT INTO receiving_lines (receiving_id, sku_id, expected, received, difference) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&id)
        .bind(sku_id.to_string())
        .bind(exp)
        .bind(got)
        .bind(got - exp)
        .execute(&mut *tx)
        .await?;
        detail.push(serde_json::json!({"sku_id": sku_id, "expected": exp, "received": got}));
        if got > 0 {
            movements.push(Movement {
                location_id: &input.location_id,
                sku_id: *sku_id,
                kind,
                on_hand_delta: got,
                reserved_delta: 0,
                reason: &reason,
                actor,
                ref_id: Some(&ref_id),
                client_ts: now,
            });
        }
    }
    apply_movements(&mut tx, &movements).await?;
    audit::record(
        &mut tx,
        actor,
        "stock.receiving",
        "receiving",
        &id,
        serde_json::json!({
            "location_id": input.location_id,
            "source_kind": input.source_kind,
            "source_id": source,
            "lines": detail,
        }),
    )
    .await?;
    tx.commit().await?;
    get_receiving(store, input.id).await
}

// ---------------------------------------------------------------------------------------------
// Requisitions (要货) and allocation (配货).
// ---------------------------------------------------------------------------------------------

/// One line of a requisition.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RequisitionLine {
    /// SKU.
    pub sku_id: Uuid,
    /// Names.
    #[serde(flatten)]
    pub label: SkuLabel,
    /// Asked for.
    pub requested: i64,
    /// Allocated by head office (0 until allocated).
    pub allocated: i64,
}

/// A store's requisition to a warehouse.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Requisition {
    /// Client id.
    pub id: Uuid,
    /// The store asking.
    pub location_id: String,
    /// The warehouse asked.
    pub warehouse_id: String,
    /// `requested`, `allocated` or `rejected`.
    pub status: String,
    /// Note.
    pub note: String,
    /// Who asked.
    pub created_by: String,
    /// When (RFC 3339).
    pub created_at: DateTime<Utc>,
    /// Who allocated or rejected it.
    pub decided_by: Option<String>,
    /// The transfer allocation shipped.
    pub transfer_id: Option<Uuid>,
    /// Lines, by SKU code.
    pub lines: Vec<RequisitionLine>,
}

const REQUISITION_COLUMNS: &str =
    "id, location_id, warehouse_id, status, note, created_by, created_at, decided_by, transfer_id";

fn requisition_from_row(row: &AnyRow) -> AppResult<Requisition> {
    let transfer: Option<String> = col(row, "transfer_id")?;
    Ok(Requisition {
        id: uuid_col(row, "id")?,
        location_id: col(row, "location_id")?,
        warehouse_id: col(row, "warehouse_id")?,
        status: col(row, "status")?,
        note: col(row, "note")?,
        created_by: col(row, "created_by")?,
        created_at: from_ms(col(row, "created_at")?),
        decided_by: col(row, "decided_by")?,
        transfer_id: transfer.and_then(|t| Uuid::parse_str(&t).ok()),
        lines: Vec::new(),
    })
}

async fn attach_requisition_lines(store: &Store, items: &mut [Requisition]) -> AppResult<()> {
    const SQL: &str =
        "SELECT sku_id, requested, allocated FROM requisition_lines WHERE requisition_id = $1";
    let docs: Vec<(&str, Uuid)> = items.iter().map(|item| (SQL, item.id)).collect();
    let lines = read_named_lines(store, &docs, |r, sku_id| {
        Ok(RequisitionLine {
            sku_id,
            label: SkuLabel::default(),
            requested: col(r, "requested")?,
            allocated: col(r, "allocated")?,
        })
    })
    .await?;
    for (item, lines) in items.iter_mut().zip(lines) {
        item.lines = lines;
    }
    Ok(())
}

/// One requisition.
pub async fn get_requisition(store: &Store, id: Uuid) -> AppResult<Requisition> {
    let row = sqlx::query(&format!(
        "SELECT {REQUISITION_COLUMNS} FROM requisitions WHERE id = $1"
    ))
    .bind(id.to_string())
    .fetch_optional(store.reader())
    .await?
    .ok_or_else(|| AppError::not_found(format!("requisition {id} not found")))?;
    let mut items = [requisition_from_row(&row)?];
    attach_requisition_lines(store, &mut items).await?;
    let [item] = items;
    Ok(item)
}

/// Requisitions, newest first, of one store or all, in one status or any.
pub async fn list_requisitions(
    store: &Store,
    location: Option<&str>,
    status: Option<&str>,
) -> AppResult<Vec<Requisition>> {
    let rows = sqlx::query(&format!(
        "SELECT {REQUISITION_COLUMNS} FROM requisitions \
         WHERE ($1 IS NULL OR location_id = $1) AND ($2 IS NULL OR status = $2) \
         ORDER BY created_at DESC, id DESC LIMIT $3"
    ))
    .bind(location)
    .bind(status)
    .bind(LIST_LIMIT)
    .fetch_all(store.reader())
    .await?;
    let mut items = rows
        .iter()
        .map(requisition_from_row)
        .collect::<AppResult<Vec<_>>>()?;
    attach_requisition_lines(store, &mut items).await?;
    Ok(items)
}

/// Available (on hand − reserved) of `skus` at `location`, reading locked rows inside `tx`
/// (0 where there is no row).
async fn available_locked(
    tx: &mut Tx,
    store: &Store,
    location: &str,
    skus: &[Uuid],
) -> AppResult<HashMap<Uuid, i64>> {
    Ok(lock_rows(tx, store, location, skus, false)
        .await?
        .into_iter()
        .map(|(sku, (on_hand, reserved))| (sku, on_hand - reserved))
        .collect())
}

fn short_of_stock(
    location: &str,
    label: Option<&SkuLabel>,
    sku: Uuid,
    available: i64,
    qty: i64,
    verb: &str,
) -> AppError {
    let what = label
        .map(|l| format!("{} {}", l.sku_code, l.name_zh))
        .unwrap_or_else(|| sku.to_string());
    AppError::conflict(
        "insufficient_stock",
        format!(
            "{location} has only {} of {what} available: cannot {verb} {qty}",
            available.max(0)
        ),
    )
}

/// A requisition to file.
#[derive(Debug, Clone)]
pub struct RequisitionInput {
    /// Client id (UUIDv7).
    pub id: Uuid,
    /// The store asking.
    pub location_id: String,
    /// The warehouse asked.
    pub warehouse_id: String,
    /// (SKU, qty > 0), each SKU once.
    pub lines: Vec<(Uuid, i64)>,
    /// Note.
    pub note: String,
}

/// Files a requisition. Refused (409 `insufficient_stock`, nothing stored) when a line asks for
/// more than the warehouse has available. Idempotent by id.
pub async fn create_requisition(
    store: &Store,
    input: &RequisitionInput,
    actor: &str,
) -> AppResult<Requisition> {
    let mut tx = store.begin().await?;
    let prior = sqlx::query("SELECT location_id FROM requisitions WHERE id = $1")
        .bind(input.id.to_string())
        .fetch_optional(&mut *tx)
        .await?;
    if let Some(prior) = prior {
        tx.rollback().await?;
        if col::<String>(&prior, "location_id")? != input.location_id {
            return Err(id_in_use(input.id, "requisition"));
        }
        return get_requisition(store, input.id).await;
    }
    let skus: Vec<Uuid> = input.lines.iter().map(|(s, _)| *s).collect();
    let available = available_locked(&mut tx, store, &input.warehouse_id, &skus).await?;
    for &(sku, qty) in &input.lines {
        let have = available.get(&sku).copied().unwrap_or(0);
        if qty > have {
            let labels = sku_labels(store, &[sku]).await?;
            return Err(short_of_stock(
                &input.warehouse_id,
                labels.get(&sku),
                sku,
                have,
                qty,
                "request",
            ));
        }
    }
    let id = input.id.to_string();
    sqlx::query(
        "INSERT INTO requisitions (id, location_id, warehouse_id, status, note, created_by, created_at) \
         VALUES ($1, $2, $3, 'requested', $4, $5, $6)",
    )
    .bind(&id)
    .bind(&input.location_id)
    .bind(&input.warehouse_id)
    .bind(&input.note)
    .bind(actor)
    .bind(now_ms())
    .execute(&mut *tx)
    .await?;
    for &(sku, qty) in &input.lines {
        sqlx::query(
            "INSERT INTO requisition_lines (requisition_id, sku_id, requested, allocated) VALUES ($1, $2, $3, 0)",
        )
        .bind(&id)
        .bind(sku.to_string())
        .bind(qty)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    get_requisition(store, input.id).await
}

/// Head office's allocation of a requisition.
#[derive(Debug, Clone)]
pub struct AllocateInput {
    /// The requisition.
    pub requisition_id: Uuid,
    /// Client id of the transfer to ship (UUIDv7).
    pub transfer_id: Uuid,
    /// (SKU, allocated ≥ 0) for SKUs of the requisition; a SKU not listed gets 0.
    pub lines: Vec<(Uuid, i64)>,
}

/// Allocates a requisition: ships a transfer from the warehouse to the store with the allocated
/// quantities (`transfer_out` movements, audited `stock.transfer`), keeps them on the lines and
/// marks the requisition allocated, in one transaction. Refused, nothing changed: a SKU not on
/// the requisition or more than requested (422 on `lines`), nothing allocated at all (422), more
/// than the warehouse has available (409 `insufficient_stock`), a rejected requisition (409
/// `requisition_closed`). Allocating an allocated requisition answers it unchanged.
pub async fn allocate(store: &Store, input: &AllocateInput, actor: &str) -> AppResult<Requisition> {
    let mut tx = store.begin().await?;
    let rid = input.requisition_id.to_string();
    let row = sqlx::query(&format!(
        "SELECT location_id, warehouse_id, status FROM requisitions WHERE id = $1{}",
        store.for_update()
    ))
    .bind(&rid)
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(|| AppError::not_found(format!("requisition {rid} not found")))?;
    let location: String = col(&row, "location_id")?;
    let warehouse: String = col(&row, "warehouse_id")?;
    let status: String = col(&row, "status")?;
    match status.as_str() {
        "allocated" => {
            tx.rollback().await?;
            return get_requisition(store, input.requisition_id).await;
        }
        "requested" => {}
        _ => {
            return Err(AppError::conflict(
                "requisition_closed",
                format!("requisition {rid} is {status}"),
            ))
        }
    }
    let mut requested: BTreeMap<Uuid, i64> = BTreeMap::new();
    for r in
        sqlx::query("SELECT sku_id, requested FROM requisition_lines WHERE requisition_id = $1")
            .bind(&rid)
            .fetch_all(&mut *tx)
            .await?
    {
        requested.insert(uuid_col(&r, "sku_id")?, col(&r, "requested")?);
    }
    let mut allocated: BTreeMap<Uuid, i64> = BTreeMap::new();
    for &(sku, qty) in &input.lines {
        let Some(&asked) = requested.get(&sku) else {
            return Err(AppError::field(
                "lines",
                format!("SKU {sku} is not on requisition {rid}"),
            ));
        };
        if qty < 0 || qty > asked {
            return Err(AppError::field(
                "lines",
                format!("allocate 0 to {asked} of SKU {sku}, not {qty}"),
            ));
        }
        if qty > 0 {
            allocated.insert(sku, qty);
        }
    }
    if allocated.is_empty() {
        return Err(AppError::field(
            "lines",
            "allocate at least one unit (or reject the requisition)",
        ));
    }
    let skus: Vec<Uuid> = allocated.keys().copied().collect();
    let available = available_locked(&mut tx, store, &warehouse, &skus).await?;
    for (&sku, &qty) in &allocated {
        let have = available.get(&sku).copied().unwrap_or(0);
        if qty > have {
            let labels = sku_labels(store, &[sku]).await?;
            return Err(short_of_stock(
                &warehouse,
                labels.get(&sku),
                sku,
                have,
                qty,
                "allocate",
            ));
        }
    }
    let now = now_ms();
    let tid = input.transfer_id.to_string();
    let note = format!("requisition {rid}");
    let inserted = sqlx::query(
        "INSERT INTO transfers (id, from_location, to_location, status, note, created_by, shipped_at) \
         VALUES ($1, $2, $3, 'in_transit', $4, $5, $6) ON CONFLICT (id) DO NOTHING",
    )
    .bind(&tid)
    .bind(&warehouse)
    .bind(&location)
    .bind(&note)
    .bind(actor)
    .bind(now)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if inserted != 1 {
        return Err(id_in_use(input.transfer_id, "transfer"));
    }
    let reason = format!("transfer to {location}");
    let mut movements = Vec::new();
    for (&sku, &qty) in &allocated {
        sqlx::query("INSERT INTO transfer_lines (transfer_id, sku_id, qty) VALUES ($1, $2, $3)")
            .bind(&tid)
            .bind(sku.to_string())
            .bind(qty)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "UPDATE requisition_lines SET allocated = $3 WHERE requisition_id = $1 AND sku_id = $2",
        )
        .bind(&rid)
        .bind(sku.to_string())
        .bind(qty)
        .execute(&mut *tx)
        .await?;
        movements.push(Movement {
            location_id: &warehouse,
            sku_id: sku,
            kind: MovementKind::TransferOut,
            on_hand_delta: -qty,
            reserved_delta: 0,
            reason: &reason,
            actor,
            ref_id: Some(&tid),
            client_ts: now,
        });
    }
    apply_movements(&mut tx, &movements).await?;
    sqlx::query(
        "UPDATE requisitions SET status = 'allocated', decided_by = $2, decided_at = $3, transfer_id = $4 WHERE id = $1",
    )
    .bind(&rid)
    .bind(actor)
    .bind(now)
    .bind(&tid)
    .execute(&mut *tx)
    .await?;
    let lines: Vec<serde_json::Value> = allocated
        .iter()
        .map(|(sku, qty)| serde_json::json!({"sku_id": sku, "qty": qty}))
        .collect();
    audit::record(
        &mut tx,
        actor,
        "stock.transfer",
        "transfer",
        &tid,
        serde_json::json!({"from_location_id": warehouse, "to_location_id": location, "lines": lines, "note": note}),
    )
    .await?;
    audit::record(
        &mut tx,
        actor,
        "stock.allocate",
        "requisition",
        &rid,
        serde_json::json!({"transfer_id": tid, "lines": lines}),
    )
    .await?;
    tx.commit().await?;
    get_requisition(store, input.requisition_id).await
}

/// Rejects a requested requisition (a rejected one answers unchanged; an allocated one is a
/// 409 `requisition_closed`).
pub async fn reject_requisition(store: &Store, id: Uuid, actor: &str) -> AppResult<Requisition> {
    let changed = sqlx::query(
        "UPDATE requisitions SET status = 'rejected', decided_by = $2, decided_at = $3 \
         WHERE id = $1 AND status = 'requested'",
    )
    .bind(id.to_string())
    .bind(actor)
    .bind(now_ms())
    .execute(store.writer())
    .await?
    .rows_affected();
    let req = get_requisition(store, id).await?;
    if changed == 0 && req.status == "allocated" {
        return Err(AppError::conflict(
            "requisition_closed",
            format!("requisition {id} is allocated already"),
        ));
    }
    Ok(req)
}
