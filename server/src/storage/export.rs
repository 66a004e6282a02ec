//! The export to a big-data platform (issue 19): the datasets' rows of one day read page by page
//! in key order (keyset paging, so a day of a million events is never held at once and every
//! run reads the same rows in the same order), the export runs' log, and member tags computed
//! outside and imported back (`imported_member_tags`, `member_tag_imports`). The application
//! side (Parquet, the destination, the manifest, the checks of an import) is `app::export`.

use std::collections::HashSet;

use sqlx::any::AnyRow;

use super::{col, placeholders, Store};
use crate::error::AppResult;

/// What a column holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ColumnKind {
    /// A 64-bit integer (counts, money in fen, flags 0/1).
    Int,
    /// Unix milliseconds (exported as a UTC timestamp in milliseconds).
    Millis,
    /// Text.
    Text,
    /// A member id: never exported as is, but as its pseudonymous key (`app::export`).
    Member,
}

/// One exported column: its name in the file, the SQL expression it is read from, its kind and
/// whether it may be null.
#[derive(Clone, Copy, Debug)]
pub struct Column {
    /// The column's name in the Parquet file.
    pub name: &'static str,
    /// The SQL expression (over the dataset's `FROM`).
    pub expr: &'static str,
    /// What it holds.
    pub kind: ColumnKind,
    /// True when it may be null.
    pub nullable: bool,
}

const fn c(name: &'static str, expr: &'static str, kind: ColumnKind, nullable: bool) -> Column {
    Column {
        name,
        expr,
        kind,
        nullable,
    }
}

use ColumnKind::{Int, Member, Millis, Text};

/// One exported dataset: its columns, where its rows come from, the time column that puts a row
/// in a day, and the key that orders the rows (unique, the index's order).
#[derive(Debug)]
pub struct Dataset {
    /// The dataset's name (the folder in the export).
    pub name: &'static str,
    /// The columns, in file order.
    pub columns: &'static [Column],
    /// `FROM …` and joins.
    from: &'static str,
    /// A condition every row meets besides its day (`""`: none).
    filter: &'static str,
    /// The time column whose China day is the row's day.
    time: &'static str,
    /// The ordering key's SQL expressions (unique together; the first one is `time`).
    key: &'static [&'static str],
}

const EVENTS: Dataset = Dataset {
    name: "events",
    columns: &[
        c("event_id", "e.event_id", Text, false),
        c("name", "e.name", Text, false),
        c("source", "e.source", Text, false),
        c("schema_version", "e.schema_version", Int, false),
        c("occurred_at", "e.occurred_at", Millis, false),
        c("received_at", "e.received_at", Millis, false),
        c("device_id", "e.device_id", Text, true),
        c("member_key", "e.member_id", Member, true),
        c("store_id", "e.store_id", Text, true),
        c("channel", "e.channel", Text, false),
        c("page", "e.page", Text, true),
        c("props", "e.props", Text, false),
    ],
    from: "events e",
    filter: "",
    time: "e.occurred_at",
    key: &["e.occurred_at", "e.event_id"],
};

const ORDERS: Dataset = Dataset {
    name: "orders",
    columns: &[
        c("order_id", "o.id", Text, false),
        c("order_no", "o.order_no", Text, false),
        c("channel", "o.channel", Text, false),
        c("fulfilment", "o.fulfilment", Text, false),
        c("status", "o.status", Text, false),
        c("store_id", "o.location_id", Text, false),
        c("member_key", "o.member_id", Member, true),
        c("subtotal_fen", "o.subtotal_fen", Int, false),
        c("discount_fen", "o.discount_fen", Int, false),
        c("total_fen", "o.total_fen", Int, false),
        c("points_earned", "o.points_earned", Int, false),
        c("points_redeemed", "o.points_redeemed", Int, false),
        c("device_id", "o.device_id", Text, true),
        c("created_at", "o.created_at", Millis, false),
        c("updated_at", "o.updated_at", Millis, false),
    ],
    from: "orders o",
    filter: "",
    time: "o.created_at",
    key: &["o.created_at", "o.id"],
};

const ORDER_LINES: Dataset = Dataset {
    name: "order_lines",
    columns: &[
        c("order_id", "l.order_id", Text, false),
        c("line_no", "l.line_no", Int, false),
        c("channel", "o.channel", Text, false),
        c("store_id", "o.location_id", Text, false),
        c("sku_id", "l.sku_id", Text, false),
        c("name", "l.name", Text, false),
        c("qty", "l.qty", Int, false),
        c("unit_price_fen", "l.unit_price_fen", Int, false),
        c("discount_fen", "l.discount_fen", Int, false),
        c("amount_fen", "l.amount_fen", Int, false),
        c("returned_qty", "l.returned_qty", Int, false),
        c("order_created_at", "o.created_at", Millis, false),
    ],
    from: "order_lines l JOIN orders o ON o.id = l.order_id",
    filter: "",
    time: "o.created_at",
    key: &["o.created_at", "l.order_id", "l.line_no"],
};

const LANE_SALES: Dataset = Dataset {
    name: "lane_sales",
    columns: &[
        c("sale_no", "o.order_no", Text, false),
        c("order_id", "o.id", Text, false),
        c("store_id", "o.location_id", Text, false),
        c("lane_device_id", "o.device_id", Text, true),
        c("cashier", "o.cashier", Text, true),
        c("member_key", "o.member_id", Member, true),
        c("status", "o.status", Text, false),
        c("sale_total_fen", "o.total_fen", Int, false),
        c("line_no", "l.line_no", Int, false),
        c("sku_id", "l.sku_id", Text, false),
        c("qty", "l.qty", Int, false),
        c("unit_price_fen", "l.unit_price_fen", Int, false),
        c("discount_fen", "l.discount_fen", Int, false),
        c("amount_fen", "l.amount_fen", Int, false),
        c("returned_qty", "l.returned_qty", Int, false),
        c("sold_at", "o.created_at", Millis, false),
    ],
    from: "order_lines l JOIN orders o ON o.id = l.order_id",
    filter: "o.channel = 'pos'",
    time: "o.created_at",
    key: &["o.created_at", "l.order_id", "l.line_no"],
};

const STOCK_MOVEMENTS: Dataset = Dataset {
    name: "stock_movements",
    columns: &[
        c("movement_id", "m.id", Text, false),
        c("store_id", "m.location_id", Text, false),
        c("sku_id", "m.sku_id", Text, false),
        c("kind", "m.kind", Text, false),
        c("on_hand_delta", "m.on_hand_delta", Int, false),
        c("reserved_delta", "m.reserved_delta", Int, false),
        c("reason", "m.reason", Text, false),
        c("actor", "m.actor", Text, false),
        c("ref_id", "m.ref_id", Text, true),
        c("created_at", "m.created_at", Millis, false),
    ],
    from: "stock_movements m",
    filter: "",
    time: "m.created_at",
    key: &["m.created_at", "m.id"],
};

const MEMBERS: Dataset = Dataset {
    name: "members",
    columns: &[
        c("member_key", "m.id", Member, false),
        c("growth", "m.growth", Int, false),
        c(
            "personalisation_opt_out",
            "m.personalisation_opt_out",
            Int,
            false,
        ),
        c(
            "deleted",
            "CASE WHEN m.deleted_at IS NULL THEN 0 ELSE 1 END",
            Int,
            false,
        ),
        c("created_at", "m.created_at", Millis, false),
    ],
    from: "members m",
    filter: "",
    time: "m.created_at",
    key: &["m.created_at", "m.id"],
};

/// Every dataset, in the order they are exported and listed in the manifest.
pub const DATASETS: [&Dataset; 6] = [
    &EVENTS,
    &ORDERS,
    &ORDER_LINES,
    &LANE_SALES,
    &STOCK_MOVEMENTS,
    &MEMBERS,
];

/// One value read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cell {
    /// An integer (or null).
    Int(Option<i64>),
    /// Text (or null).
    Text(Option<String>),
}

/// One page of a dataset's rows in key order, and the key to read the next page after.
#[derive(Debug, Default)]
pub struct Page {
    /// The rows, each its columns in [`Dataset::columns`] order.
    pub rows: Vec<Vec<Cell>>,
    /// The last row's key (`None` when the page is empty).
    pub last_key: Option<Vec<Cell>>,
}

fn select_sql(ds: &Dataset, after: bool) -> String {
    let mut select: Vec<String> = ds
        .columns
        .iter()
        .enumerate()
        .map(|(i, c)| format!("{} AS c{i}", c.expr))
        .collect();
    select.extend(
        ds.key
            .iter()
            .enumerate()
            .map(|(i, k)| format!("{k} AS k{i}")),
    );
    let mut conditions = vec![format!("{t} >= $1 AND {t} < $2", t = ds.time)];
    if !ds.filter.is_empty() {
        conditions.push(ds.filter.to_owned());
    }
    if after {
        conditions.push(format!(
            "({}) > ({})",
            ds.key.join(", "),
            placeholders(4, ds.key.len())
        ));
    }
    format!(
        "SELECT {} FROM {} WHERE {} ORDER BY {} LIMIT $3",
        select.join(", "),
        ds.from,
        conditions.join(" AND "),
        ds.key.join(", ")
    )
}

fn cell(row: &AnyRow, name: &str, int: bool) -> AppResult<Cell> {
    Ok(if int {
        Cell::Int(col::<Option<i64>>(row, name)?)
    } else {
        Cell::Text(col::<Option<String>>(row, name)?)
    })
}

/// The key expressions are the time column (an integer) then text ids, except a line number
/// (an integer) last.
fn key_is_int(expr: &str) -> bool {
    expr.ends_with("_at") || expr.ends_with("line_no")
}

/// Up to `limit` rows of `ds` whose time falls in `[from_ms, to_ms)`, in key order, after the
/// key `after` (the previous page's [`Page::last_key`]; `None` for the first page).
pub async fn page(
    store: &Store,
    ds: &Dataset,
    from_ms: i64,
    to_ms: i64,
    after: Option<&[Cell]>,
    limit: i64,
) -> AppResult<Page> {
    let sql = select_sql(ds, after.is_some());
    let mut query = sqlx::query(&sql).bind(from_ms).bind(to_ms).bind(limit);
    for k in after.unwrap_or_default() {
        query = match k {
            Cell::Int(v) => query.bind(*v),
            Cell::Text(v) => query.bind(v.clone()),
        };
    }
    let rows = query.fetch_all(store.reader()).await?;
    let mut page = Page {
        rows: Vec::with_capacity(rows.len()),
        last_key: None,
    };
    for row in &rows {
        let mut cells = Vec::with_capacity(ds.columns.len());
        for (i, c) in ds.columns.iter().enumerate() {
            let int = matches!(c.kind, ColumnKind::Int | ColumnKind::Millis);
            cells.push(cell(row, &format!("c{i}"), int)?);
        }
        page.rows.push(cells);
    }
    if let Some(last) = rows.last() {
        let mut key = Vec::with_capacity(ds.key.len());
        for (i, k) in ds.key.iter().enumerate() {
            key.push(cell(last, &format!("k{i}"), key_is_int(k))?);
        }
        page.last_key = Some(key);
    }
    Ok(page)
}

/// One export run.
#[derive(Clone, Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ExportRun {
    /// The run's id.
    pub id: String,
    /// The China day exported (`YYYY-MM-DD`).
    pub day: String,
    /// `running`, `succeeded` or `failed`.
    pub status: String,
    /// `schedule`, `console` or `cli`.
    pub trigger: String,
    /// Who asked (a staff username, `schedule`, `operator:command-line`).
    pub requested_by: String,
    /// Where it was written (a folder, or `s3://bucket/prefix`).
    pub destination: String,
    /// Rows written over every dataset.
    pub rows: i64,
    /// Bytes written over every data file.
    pub bytes: i64,
    /// The SHA-256 of the manifest written.
    pub manifest_sha256: Option<String>,
    /// Why it failed.
    pub error: Option<String>,
    /// When it started (Unix ms).
    pub started_at: i64,
    /// When it finished (Unix ms).
    pub finished_at: Option<i64>,
}

fn run_of(row: &AnyRow) -> AppResult<ExportRun> {
    Ok(ExportRun {
        id: col(row, "id")?,
        day: col(row, "day")?,
        status: col(row, "status")?,
        trigger: col(row, "origin")?,
        requested_by: col(row, "requested_by")?,
        destination: col(row, "destination")?,
        rows: col(row, "row_count")?,
        bytes: col(row, "byte_count")?,
        manifest_sha256: col(row, "manifest_sha256")?,
        error: col(row, "error")?,
        started_at: col(row, "started_at")?,
        finished_at: col(row, "finished_at")?,
    })
}

const RUN_COLUMNS: &str =
    "id, day, status, origin, requested_by, destination, row_count, byte_count, \
                           manifest_sha256, error, started_at, finished_at";

/// Records a run that starts now.
pub async fn start_run(
    store: &Store,
    id: &str,
    day: &str,
    trigger: &str,
    requested_by: &str,
    destination: &str,
    now_ms: i64,
) -> AppResult<()> {
    sqlx::query(
        "INSERT INTO export_runs (id, day, status, origin, requested_by, destination, started_at) \
         VALUES ($1, $2, 'running', $3, $4, $5, $6)",
    )
    .bind(id)
    .bind(day)
    .bind(trigger)
    .bind(requested_by)
    .bind(destination)
    .bind(now_ms)
    .execute(store.writer())
    .await?;
    Ok(())
}

/// Records how a run ended: succeeded with its totals and manifest, or failed with `error`.
#[allow(clippy::too_many_arguments)]
pub async fn finish_run(
    store: &Store,
    id: &str,
    succeeded: bool,
    rows: i64,
    bytes: i64,
    manifest_sha256: Option<&str>,
    error: Option<&str>,
    now_ms: i64,
) -> AppResult<()> {
    sqlx::query(
        "UPDATE export_runs SET status = $2, row_count = $3, byte_count = $4, manifest_sha256 = $5, \
         error = $6, finished_at = $7 WHERE id = $1",
    )
    .bind(id)
    .bind(if succeeded { "succeeded" } else { "failed" })
    .bind(rows)
    .bind(bytes)
    .bind(manifest_sha256)
    .bind(error)
    .bind(now_ms)
    .execute(store.writer())
    .await?;
    Ok(())
}

/// The latest `limit` runs, newest first.
pub async fn recent_runs(store: &Store, limit: i64) -> AppResult<Vec<ExportRun>> {
    let rows = sqlx::query(&format!(
        "SELECT {RUN_COLUMNS} FROM export_runs ORDER BY started_at DESC, id DESC LIMIT $1"
    ))
    .bind(limit)
    .fetch_all(store.reader())
    .await?;
    rows.iter().map(run_of).collect()
}

/// One run by id.
pub async fn run_by_id(store: &Store, id: &str) -> AppResult<Option<ExportRun>> {
    let row = sqlx::query(&format!(
        "SELECT {RUN_COLUMNS} FROM export_runs WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(store.reader())
    .await?;
    row.as_ref().map(run_of).transpose()
}

/// True when a run with `trigger` started at or after `since_ms` (the scheduled run of a day
/// happens once, across restarts).
pub async fn triggered_since(store: &Store, trigger: &str, since_ms: i64) -> AppResult<bool> {
    let row =
        sqlx::query("SELECT COUNT(*) AS n FROM export_runs WHERE origin = $1 AND started_at >= $2")
            .bind(trigger)
            .bind(since_ms)
            .fetch_one(store.reader())
            .await?;
    Ok(col::<i64>(&row, "n")? > 0)
}

/// Runs left `running` by a server that stopped mid-run are marked failed at start.
pub async fn fail_unfinished(store: &Store, now_ms: i64) -> AppResult<u64> {
    let done = sqlx::query(
        "UPDATE export_runs SET status = 'failed', error = 'the server stopped during the run', \
         finished_at = $1 WHERE status = 'running'",
    )
    .bind(now_ms)
    .execute(store.writer())
    .await?;
    Ok(done.rows_affected())
}

/// Which of `ids` are members (not deleted).
pub async fn known_members(store: &Store, ids: &[String]) -> AppResult<HashSet<String>> {
    let mut known = HashSet::new();
    for chunk in ids.chunks(500) {
        let sql = format!(
            "SELECT id FROM members WHERE deleted_at IS NULL AND id IN ({})",
            placeholders(1, chunk.len())
        );
        let mut query = sqlx::query(&sql);
        for id in chunk {
            query = query.bind(id.as_str());
        }
        for row in query.fetch_all(store.reader()).await? {
            known.insert(col::<String>(&row, "id")?);
        }
    }
    Ok(known)
}

/// Up to `limit` member ids (not deleted) after `after`, in id order (the import maps
/// pseudonymous keys back by walking them).
pub async fn member_ids_after(
    store: &Store,
    after: Option<&str>,
    limit: i64,
) -> AppResult<Vec<String>> {
    let rows =
        match after {
            Some(after) => sqlx::query(
                "SELECT id FROM members WHERE deleted_at IS NULL AND id > $1 ORDER BY id LIMIT $2",
            )
            .bind(after)
            .bind(limit)
            .fetch_all(store.reader())
            .await?,
            None => {
                sqlx::query("SELECT id FROM members WHERE deleted_at IS NULL ORDER BY id LIMIT $1")
                    .bind(limit)
                    .fetch_all(store.reader())
                    .await?
            }
        };
    rows.iter().map(|r| col(r, "id")).collect()
}

/// A tag of a member, imported.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct ImportedTag {
    /// The tag's name.
    pub tag: String,
    /// Its value.
    pub value: String,
    /// The import batch that set it (the file's SHA-256).
    pub batch_id: String,
    /// When it was set (Unix ms).
    pub imported_at: i64,
}

/// One import batch's log row.
#[derive(Clone, Debug)]
pub struct TagImportBatch {
    /// The file's SHA-256 (hex).
    pub batch_id: String,
    /// The uploaded file's name.
    pub file_name: String,
    /// `csv` or `parquet`.
    pub format: String,
    /// Data rows in the file.
    pub rows_total: i64,
    /// Rows accepted.
    pub rows_accepted: i64,
    /// Rows rejected.
    pub rows_rejected: i64,
    /// Who imported it (staff username).
    pub imported_by: String,
}

/// Applies an import batch's accepted rows `(member id, tag, value)` in one transaction (all or
/// nothing) and logs the batch once (a second import of the same file keeps the first log
/// row). A tag already holding the same value from the same batch is left alone, so importing
/// the same file again changes nothing. Returns how many tags were set or changed.
pub async fn apply_tag_import(
    store: &Store,
    batch: &TagImportBatch,
    rows: &[(String, String, String)],
    now_ms: i64,
) -> AppResult<u64> {
    let mut tx = store.begin().await?;
    sqlx::query(
        "INSERT INTO member_tag_imports (batch_id, file_name, format, rows_total, rows_accepted, \
         rows_rejected, imported_by, imported_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
         ON CONFLICT (batch_id) DO NOTHING",
    )
    .bind(&batch.batch_id)
    .bind(&batch.file_name)
    .bind(&batch.format)
    .bind(batch.rows_total)
    .bind(batch.rows_accepted)
    .bind(batch.rows_rejected)
    .bind(&batch.imported_by)
    .bind(now_ms)
    .execute(&mut *tx)
    .await?;
    let mut changed = 0;
    for (member, tag, value) in rows {
        let done = sqlx::query(
            "INSERT INTO imported_member_tags (member_id, tag, value, batch_id, imported_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (member_id, tag) DO UPDATE SET \
             value = excluded.value, batch_id = excluded.batch_id, \
             imported_at = excluded.imported_at \
             WHERE imported_member_tags.value <> excluded.value \
             OR imported_member_tags.batch_id <> excluded.batch_id",
        )
        .bind(member)
        .bind(tag)
        .bind(value)
        .bind(&batch.batch_id)
        .bind(now_ms)
        .execute(&mut *tx)
        .await?;
        changed += done.rows_affected();
    }
    tx.commit().await?;
    Ok(changed)
}

/// The imported tags of a member, by tag name.
pub async fn imported_tags_of_member(
    store: &Store,
    member_id: &str,
) -> AppResult<Vec<ImportedTag>> {
    let rows = sqlx::query(
        "SELECT tag, value, batch_id, imported_at FROM imported_member_tags \
         WHERE member_id = $1 ORDER BY tag",
    )
    .bind(member_id)
    .fetch_all(store.reader())
    .await?;
    rows.iter()
        .map(|r| {
            Ok(ImportedTag {
                tag: col(r, "tag")?,
                value: col(r, "value")?,
                batch_id: col(r, "batch_id")?,
                imported_at: col(r, "imported_at")?,
            })
        })
        .collect()
}
