//! The export to a big-data platform (issue 19; docs/CONTRACTS.md "Export to a big-data
//! platform"): one China day (UTC+8) of events, orders, order lines, lane sales, stock
//! movements and members as Apache Parquet files, `<dataset>/dt=YYYY-MM-DD/part-0.parquet`,
//! and `manifests/dt=YYYY-MM-DD/manifest.json` (datasets, files, row counts, sizes, SHA-256,
//! schema version, generated_at) written last, to a folder or an S3-compatible bucket.
//!
//! Rows are read page by page in key order ([`storage::export::page`]) and each page becomes
//! one Parquet row group, so a day of a million events is never held in memory at once. The
//! files hold no time of their own (no write time, a fixed `created_by`), so exporting an
//! unchanged day again writes byte-identical files; only the manifest's `generated_at` differs.
//! Member ids never leave as they are: every member column is the member's pseudonym
//! ([`crate::secrets::Pseudonymiser`]); no phone, name, address or birthday is exported.
//!
//! Also here: the daily schedule ([`run`]), and the import of member tags computed by the
//! platform from CSV or Parquet ([`import_member_tags`]): checked row by row, the accepted rows
//! applied in one transaction, a report of the rejected ones.

use std::collections::{HashMap, HashSet};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use arrow_array::cast::AsArray;
use arrow_array::{ArrayRef, Int64Array, RecordBatch, StringArray, TimestampMillisecondArray};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use bytes::Bytes;
use chrono::NaiveDate;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use serde::Serialize;
use sha2::{Digest, Sha256};
use tokio_util::sync::CancellationToken;
use utoipa::ToSchema;

use crate::app::AppState;
use crate::config::Settings;
use crate::error::{AppError, AppResult};
use crate::secrets::{Keys, Pseudonymiser};
use crate::storage::export::{self as store, Cell, ColumnKind, Dataset, ExportRun, DATASETS};
use crate::storage::s3::S3Bucket;
use crate::storage::{self, Store};

/// The version of the datasets' schemas (the manifest's and each file's `schema_version`).
pub const SCHEMA_VERSION: i64 = 1;

/// The `created_by` written into every file: fixed, so files do not change with the writer.
const CREATED_BY: &str = "retail-server export (parquet-rs)";

/// One export at a time per process (the schedule, the console and a test may ask at once).
static EXPORTS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Who asked for a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// The daily schedule.
    Schedule,
    /// Head office's "run now" in the console.
    Console,
    /// `retail-server export --day`.
    Cli,
}

impl Origin {
    fn as_str(self) -> &'static str {
        match self {
            Self::Schedule => "schedule",
            Self::Console => "console",
            Self::Cli => "cli",
        }
    }
}

/// Where the files go.
#[derive(Clone, Debug)]
pub enum Destination {
    /// A folder (files written beside, then renamed into place).
    Folder(PathBuf),
    /// A bucket, object keys under a prefix (`""` or ending in `/`).
    Bucket {
        /// The bucket.
        bucket: Box<S3Bucket>,
        /// The keys' prefix.
        prefix: String,
    },
}

impl Destination {
    /// The destination the settings name.
    pub fn from_settings(settings: &Settings, http: reqwest::Client) -> anyhow::Result<Self> {
        let export = &settings.export;
        if export.destination == "s3" {
            let bucket = Box::new(S3Bucket::from_settings(&export.s3, "export.s3", http)?);
            let prefix = export.s3_prefix.trim().trim_matches('/');
            let prefix = if prefix.is_empty() {
                String::new()
            } else {
                format!("{prefix}/")
            };
            return Ok(Self::Bucket { bucket, prefix });
        }
        Ok(Self::Folder(if export.folder.as_os_str().is_empty() {
            settings.data_dir.join("export")
        } else {
            export.folder.clone()
        }))
    }

    /// Where it is, for the runs' log.
    pub fn describe(&self) -> String {
        match self {
            Self::Folder(root) => root.display().to_string(),
            Self::Bucket { bucket, prefix } => format!("s3://{}/{prefix}", bucket.name()),
        }
    }

    /// Puts the finished local file `tmp` at `rel` (removing `tmp`).
    async fn put_file(&self, rel: &str, tmp: &Path, content_type: &str) -> anyhow::Result<()> {
        match self {
            Self::Folder(root) => {
                let path = root.join(rel);
                tokio::fs::rename(tmp, &path)
                    .await
                    .with_context(|| format!("renaming to {}", path.display()))
            }
            Self::Bucket { bucket, prefix } => {
                let bytes = tokio::fs::read(tmp)
                    .await
                    .with_context(|| format!("reading {}", tmp.display()))?;
                let done = bucket
                    .put(&format!("{prefix}{rel}"), Bytes::from(bytes), content_type)
                    .await;
                let _ = tokio::fs::remove_file(tmp).await;
                done
            }
        }
    }

    /// A folder for the files being written: beside their final place for a folder (so the
    /// rename is atomic), `data_dir/tmp/export` for a bucket.
    fn work_dir(&self, data_dir: &Path, rel_dir: &str) -> PathBuf {
        match self {
            Self::Folder(root) => root.join(rel_dir),
            Self::Bucket { .. } => data_dir.join("tmp").join("export").join(rel_dir),
        }
    }
}

/// One dataset's entry in the manifest.
#[derive(Clone, Debug, Serialize, serde::Deserialize, ToSchema)]
pub struct ManifestDataset {
    /// The dataset's name.
    pub name: String,
    /// The file, relative to the export's root.
    pub path: String,
    /// Rows in the file.
    pub rows: i64,
    /// Row groups in the file.
    pub row_groups: i64,
    /// The file's size in bytes.
    pub bytes: i64,
    /// The file's SHA-256 (hex).
    pub sha256: String,
    /// The columns: name, type (`string`, `int64`, `timestamp_ms_utc`) and nullability.
    pub columns: Vec<ManifestColumn>,
}

/// One column in the manifest.
#[derive(Clone, Debug, Serialize, serde::Deserialize, ToSchema)]
pub struct ManifestColumn {
    /// The column's name.
    pub name: String,
    /// `string`, `int64` or `timestamp_ms_utc`.
    #[serde(rename = "type")]
    pub kind: String,
    /// True when it may be null.
    pub nullable: bool,
}

/// A day's manifest (`manifests/dt=YYYY-MM-DD/manifest.json`).
#[derive(Clone, Debug, Serialize, serde::Deserialize, ToSchema)]
pub struct Manifest {
    /// [`SCHEMA_VERSION`].
    pub schema_version: i64,
    /// The China day (`YYYY-MM-DD`).
    pub day: String,
    /// `+08:00`: the day's time zone.
    pub timezone: String,
    /// The day's first millisecond (Unix ms, inclusive).
    pub from_ms: i64,
    /// The next day's first millisecond (exclusive).
    pub to_ms: i64,
    /// When this manifest was written (RFC 3339, UTC): the only value that differs between
    /// two exports of an unchanged day.
    pub generated_at: String,
    /// How member ids were pseudonymised.
    pub pseudonymisation: String,
    /// The datasets, in export order.
    pub datasets: Vec<ManifestDataset>,
}

/// The day's first millisecond in China time and the next day's.
pub fn day_range(day: NaiveDate) -> (i64, i64) {
    let from = day
        .and_hms_opt(0, 0, 0)
        .map(|t| t.and_utc().timestamp_millis() - 8 * 3_600_000)
        .unwrap_or_default();
    (from, from + 86_400_000)
}

/// Parses `YYYY-MM-DD`.
pub fn parse_day(text: &str) -> AppResult<NaiveDate> {
    NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d")
        .map_err(|_| AppError::field("day", "must be a date, YYYY-MM-DD"))
}

fn arrow_type(kind: ColumnKind) -> DataType {
    match kind {
        ColumnKind::Int => DataType::Int64,
        ColumnKind::Millis => DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
        ColumnKind::Text | ColumnKind::Member => DataType::Utf8,
    }
}

fn type_name(kind: ColumnKind) -> &'static str {
    match kind {
        ColumnKind::Int => "int64",
        ColumnKind::Millis => "timestamp_ms_utc",
        ColumnKind::Text | ColumnKind::Member => "string",
    }
}

/// The Arrow schema of a dataset (with `schema_version` in its metadata).
pub fn schema(ds: &Dataset) -> SchemaRef {
    let fields: Vec<Field> = ds
        .columns
        .iter()
        .map(|c| Field::new(c.name, arrow_type(c.kind), c.nullable))
        .collect();
    let metadata = HashMap::from([
        ("schema_version".to_owned(), SCHEMA_VERSION.to_string()),
        ("dataset".to_owned(), ds.name.to_owned()),
    ]);
    Arc::new(Schema::new_with_metadata(fields, metadata))
}

/// One page of rows as a record batch, member ids pseudonymised.
fn to_batch(
    ds: &Dataset,
    schema: &SchemaRef,
    rows: &[Vec<Cell>],
    pseudonyms: &Pseudonymiser,
) -> anyhow::Result<RecordBatch> {
    let mut arrays: Vec<ArrayRef> = Vec::with_capacity(ds.columns.len());
    for (i, column) in ds.columns.iter().enumerate() {
        let ints = || {
            rows.iter()
                .map(|r| match r.get(i) {
                    Some(Cell::Int(v)) => *v,
                    _ => None,
                })
                .collect::<Vec<Option<i64>>>()
        };
        let texts = || {
            rows.iter().map(|r| match r.get(i) {
                Some(Cell::Text(v)) => v.as_deref(),
                _ => None,
            })
        };
        let array: ArrayRef = match column.kind {
            ColumnKind::Int => Arc::new(Int64Array::from(ints())),
            ColumnKind::Millis => {
                Arc::new(TimestampMillisecondArray::from(ints()).with_timezone("UTC"))
            }
            ColumnKind::Text => Arc::new(texts().collect::<StringArray>()),
            ColumnKind::Member => Arc::new(
                texts()
                    .map(|id| id.map(|id| pseudonyms.of(id)))
                    .collect::<StringArray>(),
            ),
        };
        arrays.push(array);
    }
    RecordBatch::try_new(schema.clone(), arrays)
        .with_context(|| format!("building a batch of {}", ds.name))
}

fn writer_properties(rows_per_group: usize) -> WriterProperties {
    WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_created_by(CREATED_BY.to_owned())
        .set_max_row_group_size(rows_per_group)
        .build()
}

/// Writes one dataset's day into the local file `tmp`: `(rows, row groups)`.
async fn write_dataset(
    store: &Store,
    ds: &'static Dataset,
    range: (i64, i64),
    rows_per_group: usize,
    pseudonyms: &Pseudonymiser,
    tmp: &Path,
) -> anyhow::Result<(i64, i64)> {
    let schema = schema(ds);
    let file = std::fs::File::create(tmp).with_context(|| format!("creating {}", tmp.display()))?;
    let mut writer = ArrowWriter::try_new(
        file,
        schema.clone(),
        Some(writer_properties(rows_per_group)),
    )?;
    let limit = i64::try_from(rows_per_group).unwrap_or(65_536);
    let (mut rows, mut groups) = (0i64, 0i64);
    let mut page = store::page(store, ds, range.0, range.1, None, limit)
        .await
        .map_err(|e| anyhow::anyhow!("reading {}: {e}", ds.name))?;
    while !page.rows.is_empty() {
        let n = page.rows.len();
        rows += i64::try_from(n).unwrap_or(i64::MAX);
        groups += 1;
        let last = i64::try_from(n).unwrap_or(0) < limit;
        let after = page.last_key.take();
        // Encoding and compressing is CPU work: off the async threads, and while the next page
        // is read (the database and the encoder each keep a core busy).
        let (schema_c, pseudonyms_c) = (schema.clone(), pseudonyms.clone());
        let page_rows = std::mem::take(&mut page.rows);
        let encoding = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
            let batch = to_batch(ds, &schema_c, &page_rows, &pseudonyms_c)?;
            writer.write(&batch)?;
            writer.flush()?;
            Ok(writer)
        });
        let next = if last {
            None
        } else {
            Some(store::page(store, ds, range.0, range.1, after.as_deref(), limit).await)
        };
        writer = encoding.await.context("the Parquet writer stopped")??;
        match next {
            None => break,
            Some(next) => page = next.map_err(|e| anyhow::anyhow!("reading {}: {e}", ds.name))?,
        }
    }
    tokio::task::spawn_blocking(move || writer.close())
        .await
        .context("the Parquet writer stopped")??;
    Ok((rows, groups))
}

/// The size and SHA-256 of a local file, read in chunks.
async fn size_and_sha256(path: &Path) -> anyhow::Result<(i64, String)> {
    let path = path.to_owned();
    tokio::task::spawn_blocking(move || -> anyhow::Result<(i64, String)> {
        let mut file =
            std::fs::File::open(&path).with_context(|| format!("opening {}", path.display()))?;
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; 1 << 20];
        let mut size = 0u64;
        loop {
            let n = file.read(&mut buf)?;
            if n == 0 {
                break;
            }
            size += n as u64;
            hasher.update(&buf[..n]);
        }
        Ok((
            i64::try_from(size).unwrap_or(i64::MAX),
            hex::encode(hasher.finalize()),
        ))
    })
    .await
    .context("hashing stopped")?
}

/// What an export needs, apart from the application state (the command line has no state).
pub struct ExportContext<'a> {
    /// The database.
    pub store: &'a Store,
    /// The settings (`[export]`, `data_dir`).
    pub settings: &'a Settings,
    /// The keys (the pseudonyms' key is derived from the look-up key unless configured).
    pub keys: &'a Keys,
    /// Outgoing HTTP (the bucket).
    pub http: reqwest::Client,
}

/// Exports `day` through the application state.
pub async fn export_day(
    state: &AppState,
    day: NaiveDate,
    origin: Origin,
    requested_by: &str,
) -> AppResult<ExportRun> {
    let cx = ExportContext {
        store: &state.store,
        settings: &state.settings,
        keys: &state.keys,
        http: state.http.clone(),
    };
    export_day_leased(&cx, &state.cluster.instance_id, day, origin, requested_by).await
}

/// Exports `day` under the `export` job lease, taken as `holder`: one export at a time across
/// the server instances and the command line.
pub async fn export_day_leased(
    cx: &ExportContext<'_>,
    holder: &str,
    day: NaiveDate,
    origin: Origin,
    requested_by: &str,
) -> AppResult<ExportRun> {
    super::cluster::leased_as(
        cx.store,
        holder,
        EXPORT_JOB,
        Duration::ZERO,
        export_day_with(cx, day, origin, requested_by),
    )
    .await?
    .ok_or_else(|| {
        AppError::conflict(
            "export_running",
            "an export is running on another server instance; try again when it is done",
        )
    })
}

/// The job lease every export runs under.
const EXPORT_JOB: &str = "export";

/// Exports `day`: every dataset's file, then the manifest; the run is logged (`export_runs`)
/// as running, then succeeded or failed. A failed run is answered as a run whose `error`
/// says why (the files it had written stay; the manifest is written only when all are).
async fn export_day_with(
    cx: &ExportContext<'_>,
    day: NaiveDate,
    origin: Origin,
    requested_by: &str,
) -> AppResult<ExportRun> {
    let _one_at_a_time = EXPORTS.lock().await;
    let destination =
        Destination::from_settings(cx.settings, cx.http.clone()).map_err(AppError::Internal)?;
    let day_text = day.format("%Y-%m-%d").to_string();
    let id = retail_domain::ids::new_id().to_string();
    store::start_run(
        cx.store,
        &id,
        &day_text,
        origin.as_str(),
        requested_by,
        &destination.describe(),
        storage::now_ms(),
    )
    .await?;
    let outcome = write_day(cx, &destination, day).await;
    let now = storage::now_ms();
    match &outcome {
        Ok((manifest, sha)) => {
            let rows = manifest.datasets.iter().map(|d| d.rows).sum();
            let bytes = manifest.datasets.iter().map(|d| d.bytes).sum();
            store::finish_run(cx.store, &id, true, rows, bytes, Some(sha), None, now).await?;
            tracing::info!(day = %day_text, rows, bytes, "export written");
        }
        Err(err) => {
            let text = format!("{err:#}");
            let text: String = text.chars().take(500).collect();
            tracing::warn!(day = %day_text, error = %text, "export failed");
            store::finish_run(cx.store, &id, false, 0, 0, None, Some(&text), now).await?;
        }
    }
    store::run_by_id(cx.store, &id)
        .await?
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("export run {id} vanished")))
}

async fn write_day(
    cx: &ExportContext<'_>,
    destination: &Destination,
    day: NaiveDate,
) -> anyhow::Result<(Manifest, String)> {
    let export = &cx.settings.export;
    let pseudonyms = cx.keys.pseudonymiser(&export.pseudonym_key)?;
    let range = day_range(day);
    let dt = format!("dt={}", day.format("%Y-%m-%d"));
    let mut datasets = Vec::new();
    for ds in DATASETS {
        let rel_dir = format!("{}/{dt}", ds.name);
        let work = destination.work_dir(&cx.settings.data_dir, &rel_dir);
        tokio::fs::create_dir_all(&work)
            .await
            .with_context(|| format!("creating {}", work.display()))?;
        let tmp = work.join(format!(".part-0.parquet.{}.tmp", uuid::Uuid::now_v7()));
        let written = write_dataset(
            cx.store,
            ds,
            range,
            export.rows_per_group,
            &pseudonyms,
            &tmp,
        )
        .await;
        let (rows, row_groups) = match written {
            Ok(w) => w,
            Err(e) => {
                let _ = tokio::fs::remove_file(&tmp).await;
                return Err(e);
            }
        };
        let (bytes, sha256) = size_and_sha256(&tmp).await?;
        let path = format!("{rel_dir}/part-0.parquet");
        destination
            .put_file(&path, &tmp, "application/vnd.apache.parquet")
            .await?;
        datasets.push(ManifestDataset {
            name: ds.name.to_owned(),
            path,
            rows,
            row_groups,
            bytes,
            sha256,
            columns: ds
                .columns
                .iter()
                .map(|c| ManifestColumn {
                    name: c.name.to_owned(),
                    kind: type_name(c.kind).to_owned(),
                    nullable: c.nullable,
                })
                .collect(),
        });
    }
    let manifest = Manifest {
        schema_version: SCHEMA_VERSION,
        day: day.format("%Y-%m-%d").to_string(),
        timezone: "+08:00".into(),
        from_ms: range.0,
        to_ms: range.1,
        generated_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        pseudonymisation: "member_key = hex(HMAC-SHA256(export key, member id))".into(),
        datasets,
    };
    let json = serde_json::to_vec_pretty(&manifest)?;
    let sha = hex::encode(Sha256::digest(&json));
    let rel_dir = format!("manifests/{dt}");
    let work = destination.work_dir(&cx.settings.data_dir, &rel_dir);
    tokio::fs::create_dir_all(&work)
        .await
        .with_context(|| format!("creating {}", work.display()))?;
    let tmp = work.join(format!(".manifest.json.{}.tmp", uuid::Uuid::now_v7()));
    tokio::fs::write(&tmp, &json)
        .await
        .with_context(|| format!("writing {}", tmp.display()))?;
    destination
        .put_file(
            &format!("{rel_dir}/manifest.json"),
            &tmp,
            "application/json",
        )
        .await?;
    Ok((manifest, sha))
}

/// The latest runs, newest first (head office's console).
pub async fn recent_runs(state: &AppState, limit: i64) -> AppResult<Vec<ExportRun>> {
    store::recent_runs(&state.store, limit).await
}

/// Runs the scheduled export when it is due: once a China day, at or after `[export] hour`,
/// the `days_back` days before today, oldest first.
pub async fn run_due(state: &AppState, now_ms: i64) -> AppResult<Vec<ExportRun>> {
    let settings = &state.settings.export;
    let local = storage::from_ms(now_ms).with_timezone(&crate::app::china_offset());
    let today_start = {
        let day = crate::app::china_day(now_ms);
        day * 86_400_000 - 8 * 3_600_000
    };
    use chrono::Timelike;
    if local.hour() < settings.hour
        || store::triggered_since(&state.store, Origin::Schedule.as_str(), today_start).await?
    {
        return Ok(Vec::new());
    }
    let today = local.date_naive();
    let mut runs = Vec::new();
    for back in (1..=settings.days_back).rev() {
        if let Some(day) = today.checked_sub_days(chrono::Days::new(u64::from(back))) {
            runs.push(export_day(state, day, Origin::Schedule, "schedule").await?);
        }
    }
    Ok(runs)
}

/// The daily export's loop (when `[export] enabled`): checks once a minute whether the day's
/// run is due. Runs a stopped server left `running` are marked failed first.
pub async fn run(state: AppState, cancel: CancellationToken) {
    // Under the export lease no instance is exporting: a run left `running` is a stopped one's.
    let unfinished = super::cluster::leased(&state, EXPORT_JOB, Duration::ZERO, async {
        store::fail_unfinished(&state.store, storage::now_ms()).await
    });
    if let Err(err) = unfinished.await {
        tracing::warn!(error = %err, "could not close unfinished export runs");
    }
    if !state.settings.export.enabled {
        return;
    }
    loop {
        tokio::select! {
            () = cancel.cancelled() => break,
            done = run_due(&state, storage::now_ms()) => {
                if let Err(err) = done {
                    tracing::warn!(error = %err, "the daily export failed; will retry");
                }
            }
        }
        tokio::select! {
            () = cancel.cancelled() => break,
            () = tokio::time::sleep(Duration::from_secs(60)) => {}
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Member tags imported from the platform.

/// Largest tag import file.
pub const MAX_TAG_FILE_BYTES: usize = 16 << 20;

/// Most data rows in one tag import file.
pub const MAX_TAG_ROWS: usize = 200_000;

/// Longest tag value, in characters.
pub const MAX_TAG_VALUE_CHARS: usize = 200;

/// A row of a tag import refused, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct RejectedRow {
    /// The CSV line (the header is line 1) or the Parquet row (the first is row 1).
    pub line: u64,
    /// Why it was refused.
    pub reason: String,
}

/// What a tag import did.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct TagImportReport {
    /// The batch's id: the file's SHA-256 (hex); importing the same file again is the same
    /// batch.
    pub batch_id: String,
    /// `csv` or `parquet`.
    pub format: String,
    /// Data rows in the file.
    pub rows: u64,
    /// Rows accepted and applied (all in one transaction).
    pub accepted: u64,
    /// Tags set or changed by this import (0 when the same file was imported before).
    pub changed: u64,
    /// The rows refused, with their line and reason.
    pub rejected: Vec<RejectedRow>,
}

/// One data row as read: its line, member, tag, value (`None`: missing or null).
type RawRow = (u64, Option<String>, Option<String>, Option<String>);

fn whole_file(message: impl Into<String>) -> AppError {
    AppError::field_code("invalid_file", "file", message)
}

fn read_csv(bytes: &[u8]) -> AppResult<Vec<RawRow>> {
    let text = std::str::from_utf8(bytes).map_err(|_| whole_file("the CSV is not UTF-8"))?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .from_reader(text.as_bytes());
    let headers = reader
        .headers()
        .map_err(|e| whole_file(format!("the CSV header cannot be read: {e}")))?
        .clone();
    let find = |name: &str| headers.iter().position(|h| h.trim() == name);
    let (Some(m), Some(t), Some(v)) = (find("member"), find("tag"), find("value")) else {
        return Err(whole_file(
            "the CSV header must name the columns member, tag and value",
        ));
    };
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| whole_file(format!("the CSV cannot be read: {e}")))?;
        let line = record.position().map(|p| p.line()).unwrap_or(0);
        if rows.len() >= MAX_TAG_ROWS {
            return Err(whole_file(format!(
                "more than {MAX_TAG_ROWS} rows in one file"
            )));
        }
        if record.len() != headers.len() {
            rows.push((line, None, None, None));
            continue;
        }
        let get = |i: usize| record.get(i).map(str::to_owned);
        rows.push((line, get(m), get(t), get(v)));
    }
    Ok(rows)
}

fn read_parquet(bytes: Bytes) -> AppResult<Vec<RawRow>> {
    let bad = |e: &dyn std::fmt::Display| whole_file(format!("not a readable Parquet file: {e}"));
    let builder = ParquetRecordBatchReaderBuilder::try_new(bytes).map_err(|e| bad(&e))?;
    let total = builder.metadata().file_metadata().num_rows();
    if usize::try_from(total).map_or(true, |n| n > MAX_TAG_ROWS) {
        return Err(whole_file(format!(
            "more than {MAX_TAG_ROWS} rows in one file"
        )));
    }
    let reader = builder.with_batch_size(8192).build().map_err(|e| bad(&e))?;
    let mut rows = Vec::new();
    let mut line = 0u64;
    for batch in reader {
        let batch = batch.map_err(|e| bad(&e))?;
        let column = |name: &str| -> AppResult<Vec<Option<String>>> {
            let array = batch.column_by_name(name).ok_or_else(|| {
                whole_file("the Parquet file must have the columns member, tag and value")
            })?;
            let strings: Vec<Option<String>> = if let Some(a) = array.as_string_opt::<i32>() {
                a.iter().map(|v| v.map(str::to_owned)).collect()
            } else if let Some(a) = array.as_string_opt::<i64>() {
                a.iter().map(|v| v.map(str::to_owned)).collect()
            } else {
                return Err(whole_file(format!(
                    "the Parquet column {name} must be a string column"
                )));
            };
            Ok(strings)
        };
        let (members, tags, values) = (column("member")?, column("tag")?, column("value")?);
        for ((m, t), v) in members.into_iter().zip(tags).zip(values) {
            line += 1;
            rows.push((line, m, t, v));
        }
    }
    Ok(rows)
}

/// True for a tag name: a lowercase letter, then up to 63 lowercase letters, digits, `_`, `-`,
/// `.` or `:`.
pub fn is_tag_name(tag: &str) -> bool {
    let mut bytes = tag.bytes();
    matches!(bytes.next(), Some(b'a'..=b'z'))
        && tag.len() <= 64
        && bytes.all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'_' | b'-' | b'.' | b':'))
}

fn is_pseudonym(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Imports member tags from a CSV (`member,tag,value` with a header line) or Parquet file
/// (string columns `member`, `tag`, `value`; recognised by its `PAR1` magic): `member` is the
/// member's id or the pseudonym the export gave it. Each row is checked (member known, tag
/// name, value at most 200 characters without control characters, a member's tag once in the
/// file); the accepted rows are applied in one transaction and the others reported with their
/// line and reason. A file that cannot be read at all is refused whole (422 `invalid_file`).
pub async fn import_member_tags(
    state: &AppState,
    imported_by: &str,
    file_name: &str,
    bytes: Bytes,
) -> AppResult<TagImportReport> {
    if bytes.is_empty() {
        return Err(whole_file("the file is empty"));
    }
    if bytes.len() > MAX_TAG_FILE_BYTES {
        return Err(whole_file(format!(
            "the file is larger than {} MiB",
            MAX_TAG_FILE_BYTES >> 20
        )));
    }
    let batch_id = hex::encode(Sha256::digest(&bytes));
    let parquet = bytes.starts_with(b"PAR1");
    let format = if parquet { "parquet" } else { "csv" };
    let raw = if parquet {
        tokio::task::spawn_blocking(move || read_parquet(bytes))
            .await
            .map_err(|e| AppError::Internal(e.into()))??
    } else {
        read_csv(&bytes)?
    };

    // Members named by pseudonym are mapped back by walking the members once.
    let wanted_pseudonyms: HashSet<String> = raw
        .iter()
        .filter_map(|r| r.1.as_deref().map(str::trim))
        .filter(|m| is_pseudonym(m))
        .map(str::to_owned)
        .collect();
    let mut by_pseudonym: HashMap<String, String> = HashMap::new();
    if !wanted_pseudonyms.is_empty() {
        let pseudonyms = state
            .keys
            .pseudonymiser(&state.settings.export.pseudonym_key)
            .map_err(AppError::Internal)?;
        let mut after: Option<String> = None;
        loop {
            let ids = store::member_ids_after(&state.store, after.as_deref(), 10_000).await?;
            let Some(last) = ids.last().cloned() else {
                break;
            };
            for id in ids {
                let key = pseudonyms.of(&id);
                if wanted_pseudonyms.contains(&key) {
                    by_pseudonym.insert(key, id);
                }
            }
            if by_pseudonym.len() == wanted_pseudonyms.len() {
                break;
            }
            after = Some(last);
        }
    }
    let ids: Vec<String> = raw
        .iter()
        .filter_map(|r| r.1.as_deref().map(str::trim))
        .filter(|m| !is_pseudonym(m) && uuid::Uuid::parse_str(m).is_ok())
        .map(str::to_owned)
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let known = store::known_members(&state.store, &ids).await?;

    let mut rejected = Vec::new();
    let mut accepted: Vec<(String, String, String)> = Vec::new();
    let mut seen: HashMap<(String, String), u64> = HashMap::new();
    for (line, member, tag, value) in &raw {
        let reject = |reason: String| RejectedRow {
            line: *line,
            reason,
        };
        let (Some(member), Some(tag), Some(value)) = (member, tag, value) else {
            rejected.push(reject(
                "a row must have member, tag and value (as the header)".into(),
            ));
            continue;
        };
        let member = member.trim();
        let member_id = if is_pseudonym(member) {
            by_pseudonym.get(member).cloned()
        } else {
            known.get(member).cloned()
        };
        let Some(member_id) = member_id else {
            rejected.push(reject(if member.is_empty() {
                "member is empty".into()
            } else {
                "unknown member".into()
            }));
            continue;
        };
        let tag = tag.trim();
        if !is_tag_name(tag) {
            rejected.push(reject(
                "bad tag name (a lowercase letter, then up to 63 of a-z 0-9 _ - . :)".into(),
            ));
            continue;
        }
        if value.chars().count() > MAX_TAG_VALUE_CHARS {
            rejected.push(reject(format!(
                "value too long (at most {MAX_TAG_VALUE_CHARS} characters)"
            )));
            continue;
        }
        if value.chars().any(char::is_control) {
            rejected.push(reject("value has control characters".into()));
            continue;
        }
        match seen.entry((member_id.clone(), tag.to_owned())) {
            std::collections::hash_map::Entry::Occupied(first) => {
                rejected.push(reject(format!(
                    "duplicate: this member's tag is already on line {}",
                    first.get()
                )));
                continue;
            }
            std::collections::hash_map::Entry::Vacant(slot) => {
                slot.insert(*line);
            }
        }
        accepted.push((member_id, tag.to_owned(), value.clone()));
    }
    let batch = store::TagImportBatch {
        batch_id: batch_id.clone(),
        file_name: file_name
            .chars()
            .filter(|c| !c.is_control())
            .take(200)
            .collect(),
        format: format.into(),
        rows_total: i64::try_from(raw.len()).unwrap_or(i64::MAX),
        rows_accepted: i64::try_from(accepted.len()).unwrap_or(i64::MAX),
        rows_rejected: i64::try_from(rejected.len()).unwrap_or(i64::MAX),
        imported_by: imported_by.to_owned(),
    };
    let changed =
        store::apply_tag_import(&state.store, &batch, &accepted, storage::now_ms()).await?;
    Ok(TagImportReport {
        batch_id,
        format: format.into(),
        rows: raw.len() as u64,
        accepted: accepted.len() as u64,
        changed,
        rejected,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_china_day_starts_at_16_utc_the_day_before() {
        let day = NaiveDate::from_ymd_opt(2026, 12, 5).expect("date");
        let (from, to) = day_range(day);
        assert_eq!(
            storage::from_ms(from).to_rfc3339(),
            "2026-12-04T16:00:00+00:00"
        );
        assert_eq!(to - from, 86_400_000);
        assert_eq!(crate::app::china_day(from), crate::app::china_day(to - 1));
    }

    #[test]
    fn tag_names() {
        assert!(is_tag_name("rfm.champion"));
        assert!(is_tag_name("churn_risk"));
        assert!(!is_tag_name("Churn"));
        assert!(!is_tag_name("1abc"));
        assert!(!is_tag_name(""));
        assert!(!is_tag_name(&"a".repeat(65)));
        assert!(!is_tag_name("has space"));
    }

    #[test]
    fn csv_rows_keep_their_line_numbers() {
        let rows = read_csv(b"member,tag,value\na,b,c\n\"x\ny\",t,v\nonly,two\n").expect("csv");
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[0].0, 2);
        assert_eq!(rows[1].0, 3);
        assert_eq!(rows[2], (5, None, None, None));
        assert!(read_csv(b"id,tag\n1,2\n").is_err());
    }

    #[test]
    fn a_corrupt_parquet_is_refused_whole() {
        let err = read_parquet(Bytes::from_static(b"PAR1 not really")).expect_err("corrupt");
        assert!(matches!(err, AppError::Invalid { .. }), "{err:?}");
    }
}
