//! Catalog CSV imports: reading a file line by line into new products, checking every line
//! (the file's own errors, codes already in the catalog, categories that do not exist) and,
//! only when every line is good, importing all of it in one transaction — as a background job
//! whose progress the console polls.
//!
//! Jobs and their progress are kept in the database for an hour (`catalog_import_jobs`), so
//! any server instance can show a job another instance runs. The instance running a job writes
//! its progress every [`PROGRESS_EVERY`]; a job not written for [`STALE_AFTER`] was running on
//! an instance that stopped and is shown refused (its one transaction rolled back, so nothing
//! was imported). A job's id is the form's client id, so a resent form finds the job already
//! started.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use retail_domain::money::Money;
use uuid::Uuid;

use super::catalog::{BarcodeRequest, ProductRequest, SkuRequest};
use super::AppState;
use crate::error::AppError;
use crate::storage;

/// One problem with an import file, by line number (1 is the header line).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct LineError {
    /// Line in the file.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

/// Checks an import file line by line: the products whose lines are good (with their first
/// line number) and every bad line.
pub fn parse_catalog_csv(bytes: &[u8]) -> (Vec<(usize, ProductRequest)>, Vec<LineError>) {
    let text = bytes.strip_prefix(&[0xEF, 0xBB, 0xBF]).unwrap_or(bytes);
    let mut errors = Vec::new();
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .from_reader(text);
    let header: Vec<String> = match reader.headers() {
        Ok(h) => h.iter().map(|c| c.trim().to_owned()).collect(),
        Err(e) => {
            return (
                Vec::new(),
                vec![LineError {
                    line: 1,
                    message: format!("the header line cannot be read: {e}"),
                }],
            )
        }
    };
    if header != CATALOG_COLUMNS {
        return (
            Vec::new(),
            vec![LineError {
                line: 1,
                message: format!("the header must be: {}", CATALOG_COLUMNS.join(",")),
            }],
        );
    }
    let mut products: Vec<(usize, ProductRequest, Vec<usize>)> = Vec::new();
    let mut by_code: HashMap<String, usize> = HashMap::new();
    for (i, record) in reader.records().enumerate() {
        let line = i + 2;
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                errors.push(LineError {
                    line,
                    message: format!("cannot be read: {e}"),
                });
                continue;
            }
        };
        if record.len() != CATALOG_COLUMNS.len() {
            errors.push(LineError {
                line,
                message: format!(
                    "has {} fields, expected {}",
                    record.len(),
                    CATALOG_COLUMNS.len()
                ),
            });
            continue;
        }
        let f = |i: usize| record.get(i).unwrap_or("").trim().to_owned();
        let price = match f(9).parse::<Money>() {
            Ok(m) => m,
            Err(_) => {
                errors.push(LineError {
                    line,
                    message: format!("price: {:?} is not an amount like 12.50", f(9)),
                });
                continue;
            }
        };
        let member_price = if f(10).is_empty() {
            None
        } else {
            match f(10).parse::<Money>() {
                Ok(m) => Some(m),
                Err(_) => {
                    errors.push(LineError {
                        line,
                        message: format!("member_price: {:?} is not an amount like 12.50", f(10)),
                    });
                    continue;
                }
            }
        };
        let sku = SkuRequest {
            id: None,
            sku_code: f(5),
            spec_zh: f(6),
            spec_en: f(7),
            unit: Some(f(8)).filter(|u| !u.is_empty()),
            weighed: false,
            price,
            member_price,
            // The export writes GTINs and internal codes alike: a code that cannot be a GTIN
            // is an internal one (a GTIN-shaped code is still checked as a GTIN).
            barcodes: f(11)
                .split_whitespace()
                .map(|c| BarcodeRequest {
                    code: c.to_owned(),
                    internal: !super::catalog::looks_like_gtin(c),
                })
                .collect(),
        };
        let code = f(0);
        match by_code.get(&code) {
            Some(&at) => {
                let entry = &mut products[at];
                entry.1.skus.push(sku);
                entry.2.push(line);
            }
            None => {
                by_code.insert(code.clone(), products.len());
                products.push((
                    line,
                    ProductRequest {
                        id: retail_domain::ids::new_id(),
                        code,
                        name_zh: f(1),
                        name_en: f(2),
                        brand: f(3),
                        category_id: f(4),
                        description: String::new(),
                        status: Default::default(),
                        skus: vec![sku],
                    },
                    vec![line],
                ));
            }
        }
    }
    if products.is_empty() && errors.is_empty() {
        errors.push(LineError {
            line: 2,
            message: "the file has no product lines".into(),
        });
    }
    // Field checks shared with the API: a field error names the SKU index, which is a line.
    let mut out = Vec::new();
    for (first, req, lines) in products {
        let copy = ProductRequest {
            id: req.id,
            code: req.code.clone(),
            name_zh: req.name_zh.clone(),
            name_en: req.name_en.clone(),
            brand: req.brand.clone(),
            category_id: req.category_id.clone(),
            description: req.description.clone(),
            status: req.status,
            skus: req
                .skus
                .iter()
                .map(|s| SkuRequest {
                    id: s.id,
                    sku_code: s.sku_code.clone(),
                    spec_zh: s.spec_zh.clone(),
                    spec_en: s.spec_en.clone(),
                    unit: s.unit.clone(),
                    weighed: s.weighed,
                    price: s.price,
                    member_price: s.member_price,
                    barcodes: s
                        .barcodes
                        .iter()
                        .map(|b| BarcodeRequest {
                            code: b.code.clone(),
                            internal: b.internal,
                        })
                        .collect(),
                })
                .collect(),
        };
        match crate::app::catalog::product_request(copy) {
            Ok(_) => out.push((first, req)),
            Err(AppError::Invalid {
                fields, message, ..
            }) => {
                for (name, msg) in fields.iter().take(1) {
                    let line = name
                        .strip_prefix("skus[")
                        .and_then(|r| r.split(']').next())
                        .and_then(|n| n.parse::<usize>().ok())
                        .and_then(|n| lines.get(n).copied())
                        .unwrap_or(first);
                    let column = name.rsplit('.').next().unwrap_or(name);
                    let column = if column.starts_with("barcodes") || name.contains("barcodes") {
                        "barcodes"
                    } else if column == "code" {
                        "product_code"
                    } else {
                        column
                    };
                    errors.push(LineError {
                        line,
                        message: format!("{column}: {msg}"),
                    });
                }
                if fields.is_empty() {
                    errors.push(LineError {
                        line: first,
                        message,
                    });
                }
            }
            Err(e) => errors.push(LineError {
                line: first,
                message: e.to_string(),
            }),
        }
    }
    errors.sort_by_key(|e| e.line);
    (out, errors)
}

/// Checks every line of a catalog CSV — the file's own errors, then codes already in the
/// catalog and categories that do not exist, all by line — and, only when every line is good,
/// imports all of it in one transaction, telling `progress` how many products are written.
/// Answers the number imported, or the errors by line (nothing imported).
pub async fn check_and_import(
    state: &AppState,
    actor: &str,
    bytes: &[u8],
    progress: impl Fn(usize, usize) + Send + Sync,
) -> Result<Result<usize, Vec<LineError>>, AppError> {
    let (parsed, mut errors) = parse_catalog_csv(bytes);
    let categories: HashSet<String> = storage::catalog::categories(&state.store)
        .await?
        .into_iter()
        .map(|c| c.id)
        .collect();
    let product_codes: Vec<String> = parsed.iter().map(|(_, p)| p.code.clone()).collect();
    let sku_codes: Vec<String> = parsed
        .iter()
        .flat_map(|(_, p)| p.skus.iter().map(|s| s.sku_code.clone()))
        .collect();
    let barcodes: Vec<String> = parsed
        .iter()
        .flat_map(|(_, p)| {
            p.skus
                .iter()
                .flat_map(|s| s.barcodes.iter().map(|b| b.code.clone()))
        })
        .collect();
    let taken =
        storage::catalog::taken_codes(&state.store, &product_codes, &sku_codes, &barcodes).await?;
    let mut seen_skus = HashSet::new();
    let mut seen_barcodes = HashSet::new();
    let mut products = Vec::new();
    for (line, req) in parsed {
        if !categories.contains(&req.category_id) {
            errors.push(LineError {
                line,
                message: format!("category_id: no category {}", req.category_id),
            });
        }
        if taken.contains(&req.code) {
            errors.push(LineError {
                line,
                message: format!("product_code: {} already exists", req.code),
            });
        }
        for s in &req.skus {
            if taken.contains(&s.sku_code) || !seen_skus.insert(s.sku_code.clone()) {
                errors.push(LineError {
                    line,
                    message: format!("sku_code: {} is already used", s.sku_code),
                });
            }
            for b in &s.barcodes {
                if taken.contains(&b.code) || !seen_barcodes.insert(b.code.clone()) {
                    errors.push(LineError {
                        line,
                        message: format!("barcodes: {} is already used", b.code),
                    });
                }
            }
        }
        products.push(req);
    }
    if !errors.is_empty() {
        errors.sort_by_key(|e| e.line);
        return Ok(Err(errors));
    }
    let mut news = Vec::with_capacity(products.len());
    for req in products {
        news.push(super::catalog::product_request(req)?);
    }
    let total = news.len();
    progress(0, total);
    match storage::catalog::import_products_reporting(&state.store, &news, actor, |done| {
        progress(done, total)
    })
    .await
    {
        Ok(n) => {
            state.search.invalidate();
            // A bulk load: refresh the planner's statistics (issue 15, finding 22).
            if let Err(err) = state.store.analyze().await {
                tracing::warn!(error = %err, "refreshing statistics after an import failed");
            }
            Ok(Ok(n))
        }
        Err(e @ (AppError::Conflict { .. } | AppError::Invalid { .. })) => {
            Ok(Err(vec![LineError {
                line: 0,
                message: e.to_string(),
            }]))
        }
        Err(e) => Err(e),
    }
}

/// How long a job is kept.
const KEEP: Duration = Duration::from_secs(3600);

/// How often the running instance writes a job's progress.
pub const PROGRESS_EVERY: Duration = Duration::from_millis(500);

/// A running job not written for this long belongs to an instance that stopped.
pub const STALE_AFTER: Duration = Duration::from_secs(30);

/// Where a job is.
#[derive(Clone, Debug)]
pub enum Phase {
    /// Reading and checking every line.
    Checking,
    /// Writing the products (see the counters).
    Importing,
    /// Done: this many products imported.
    Imported(usize),
    /// Done: nothing imported, for these reasons.
    Refused(Vec<LineError>),
}

/// One import, as last written by the instance running it.
#[derive(Debug)]
pub struct ImportJob {
    /// Who started it (`staff:…`): only they may see it.
    pub owner: String,
    /// Products to write (known once every line is checked).
    pub total: AtomicUsize,
    /// Products written so far.
    pub done: AtomicUsize,
    phase: Mutex<Phase>,
}

impl ImportJob {
    fn new(owner: &str, phase: Phase, total: usize, done: usize) -> Self {
        Self {
            owner: owner.to_owned(),
            total: AtomicUsize::new(total),
            done: AtomicUsize::new(done),
            phase: Mutex::new(phase),
        }
    }

    /// Where the job is now.
    pub fn phase(&self) -> Phase {
        self.phase
            .lock()
            .map(|p| p.clone())
            .unwrap_or_else(|e| e.into_inner().clone())
    }

    fn set(&self, phase: Phase) {
        match self.phase.lock() {
            Ok(mut p) => *p = phase,
            Err(e) => *e.into_inner() = phase,
        }
    }
}

fn as_usize(n: i64) -> usize {
    usize::try_from(n).unwrap_or(0)
}

/// The job `id` as stored (whichever instance runs it), if it is kept.
pub async fn job(state: &AppState, id: Uuid) -> Result<Option<Arc<ImportJob>>, AppError> {
    let Some(row) = storage::cluster::import_job(&state.store, &id.to_string()).await? else {
        return Ok(None);
    };
    let stale = storage::now_ms() - row.heartbeat_at
        > i64::try_from(STALE_AFTER.as_millis()).unwrap_or(i64::MAX);
    let phase = match row.phase.as_str() {
        "checking" | "importing" if stale => Phase::Refused(vec![LineError {
            line: 0,
            message: "the server running the import stopped; nothing was imported, try again"
                .into(),
        }]),
        "checking" => Phase::Checking,
        "importing" => Phase::Importing,
        "imported" => Phase::Imported(as_usize(row.imported.unwrap_or(row.done))),
        _ => Phase::Refused(
            row.errors
                .as_deref()
                .and_then(|e| serde_json::from_str(e).ok())
                .unwrap_or_default(),
        ),
    };
    Ok(Some(Arc::new(ImportJob::new(
        &row.owner,
        phase,
        as_usize(row.total),
        as_usize(row.done),
    ))))
}

/// Deletes jobs older than an hour (the sweeper); answers how many.
pub async fn sweep(state: &AppState) -> Result<u64, AppError> {
    let keep = i64::try_from(KEEP.as_millis()).unwrap_or(i64::MAX / 2);
    storage::cluster::sweep_import_jobs(&state.store, storage::now_ms() - keep).await
}

fn phase_name(phase: &Phase) -> &'static str {
    match phase {
        Phase::Checking => "checking",
        Phase::Importing => "importing",
        Phase::Imported(_) => "imported",
        Phase::Refused(_) => "refused",
    }
}

/// Starts checking and importing `bytes` as job `id` for `actor` (nothing happens when the
/// job already exists: a resent form). The job is recorded before this returns, so its page
/// shows it on any instance.
pub async fn start(
    state: &AppState,
    id: Uuid,
    actor: &str,
    bytes: Vec<u8>,
) -> Result<(), AppError> {
    let key = id.to_string();
    if !storage::cluster::insert_import_job(
        &state.store,
        &key,
        actor,
        &state.cluster.instance_id,
        storage::now_ms(),
    )
    .await?
    {
        return Ok(());
    }
    let job = Arc::new(ImportJob::new(actor, Phase::Checking, 0, 0));
    let state = state.clone();
    let actor = actor.to_owned();
    tokio::spawn(async move {
        let finished = Arc::new(AtomicBool::new(false));
        let writer = {
            let (state, job, key, finished) =
                (state.clone(), job.clone(), key.clone(), finished.clone());
            tokio::spawn(async move {
                while !finished.load(Ordering::Acquire) {
                    tokio::time::sleep(PROGRESS_EVERY).await;
                    // Two counters read one after the other: never more done than in total.
                    let total = job.total.load(Ordering::Relaxed);
                    let done = job.done.load(Ordering::Relaxed).min(total);
                    let written = storage::cluster::import_progress(
                        &state.store,
                        &key,
                        phase_name(&job.phase()),
                        i64::try_from(total).unwrap_or(0),
                        i64::try_from(done).unwrap_or(0),
                        storage::now_ms(),
                    )
                    .await;
                    if let Err(err) = written {
                        tracing::warn!(error = %err, job = %key, "writing import progress failed");
                    }
                }
            })
        };
        let counters = job.clone();
        let result = check_and_import(&state, &actor, &bytes, move |done, total| {
            counters.total.store(total, Ordering::Relaxed);
            counters.done.store(done, Ordering::Relaxed);
            if done == 0 {
                counters.set(Phase::Importing);
            }
        })
        .await;
        finished.store(true, Ordering::Release);
        writer.abort();
        let (imported, errors) = match result {
            Ok(Ok(n)) => (Some(i64::try_from(n).unwrap_or(i64::MAX)), None),
            Ok(Err(errors)) => (None, Some(errors)),
            Err(e) => {
                tracing::error!(error = ?e, job = %id, "catalog import failed");
                (
                    None,
                    Some(vec![LineError {
                        line: 0,
                        message: "the import failed; nothing was imported, try again".into(),
                    }]),
                )
            }
        };
        let errors = errors.map(|e| serde_json::to_string(&e).unwrap_or_else(|_| "[]".into()));
        // The last progress as counted here (the progress writer may not have written it).
        let total = job.total.load(Ordering::Relaxed);
        let counted = (
            i64::try_from(total).unwrap_or(i64::MAX),
            i64::try_from(job.done.load(Ordering::Relaxed).min(total)).unwrap_or(i64::MAX),
        );
        if let Err(err) = storage::cluster::finish_import(
            &state.store,
            &key,
            imported,
            errors.as_deref(),
            counted,
            storage::now_ms(),
        )
        .await
        {
            tracing::error!(error = %err, job = %id, "recording the end of a catalog import failed");
        }
    });
    Ok(())
}

/// The catalog CSV columns (export and import): one line per SKU.
pub const CATALOG_COLUMNS: [&str; 12] = [
    "product_code",
    "name_zh",
    "name_en",
    "brand",
    "category_id",
    "sku_code",
    "spec_zh",
    "spec_en",
    "unit",
    "price",
    "member_price",
    "barcodes",
];

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const HEADER: &str = "product_code,name_zh,name_en,brand,category_id,sku_code,spec_zh,spec_en,unit,price,member_price,barcodes";

    #[test]
    fn groups_skus_and_reports_lines() {
        let file = format!(
            "\u{FEFF}{HEADER}\nP1,酸奶,Yogurt,乳,C1,P1-1,200g,200g,盒,6.50,6.00,6901234567892\n\
             P1,酸奶,Yogurt,乳,C1,P1-2,400g,400g,盒,12.00,,6901234567915\n\
             P2,面包,Bread,焙,C1,P2-1,1个,1 pc,个,x,,6901234567908\n\
             P3,牛奶,Milk,乳,C1,P3-1,1L,1L,盒,9.00,,6901234567891\n\
             P4,短行\n"
        );
        let (ok, errors) = parse_catalog_csv(file.as_bytes());
        assert_eq!(ok.len(), 1);
        assert_eq!(ok[0].0, 2);
        assert_eq!(ok[0].1.skus.len(), 2);
        let lines: Vec<usize> = errors.iter().map(|e| e.line).collect();
        assert_eq!(lines, [4, 5, 6], "{errors:?}");
        assert!(errors[0].message.starts_with("price"));
        assert!(errors[1].message.starts_with("barcodes"));
    }

    #[test]
    fn header_must_match() {
        let (ok, errors) = parse_catalog_csv(b"code,name\nA,B\n");
        assert!(ok.is_empty());
        assert_eq!(errors[0].line, 1);
        let (ok, errors) = parse_catalog_csv(format!("{HEADER}\n").as_bytes());
        assert!(ok.is_empty());
        assert_eq!(errors.len(), 1, "an empty file is an error");
    }

    /// A catalog file as the console's export writes it: a byte-order mark, the header, one
    /// record per SKU (quoted where needed).
    fn exported(rows: &[Vec<String>]) -> Vec<u8> {
        let mut w = csv::WriterBuilder::new()
            .flexible(true)
            .from_writer(vec![0xEF, 0xBB, 0xBF]);
        w.write_record(CATALOG_COLUMNS).unwrap();
        for row in rows {
            w.write_record(row).unwrap();
        }
        w.into_inner().unwrap()
    }

    /// Text a product field may hold: printable characters (commas, quotes and Chinese
    /// included), without surrounding spaces.
    fn text(max: usize) -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::strategy::Strategy;
        proptest::string::string_regex(&format!(
            "[\\PC&&[^\\s]]([\\PC]{{0,{}}}[\\PC&&[^\\s]])?",
            max.saturating_sub(2)
        ))
        .unwrap()
        .prop_map(|t| t.trim().to_owned())
        .prop_filter("not empty", |t| !t.is_empty())
    }

    /// One exported SKU row's fields (product code and barcodes are filled in by the caller).
    #[derive(Clone, Debug)]
    struct Row {
        name_zh: String,
        name_en: String,
        brand: String,
        spec_zh: String,
        spec_en: String,
        unit: String,
        price: i64,
        member_price: Option<i64>,
        internal_barcode: bool,
    }

    fn row() -> impl proptest::strategy::Strategy<Value = Row> {
        use proptest::prelude::*;
        (
            (
                text(40),
                proptest::option::of(text(40)),
                proptest::option::of(text(20)),
            ),
            (
                proptest::option::of(text(20)),
                proptest::option::of(text(20)),
                text(8),
            ),
            (
                0..=retail_domain::pricing::MAX_UNIT_PRICE_FEN,
                proptest::option::of(0..=retail_domain::pricing::MAX_UNIT_PRICE_FEN),
                any::<bool>(),
            ),
        )
            .prop_map(
                |(
                    (name_zh, name_en, brand),
                    (spec_zh, spec_en, unit),
                    (price, member_price, internal_barcode),
                )| Row {
                    name_zh,
                    name_en: name_en.unwrap_or_default(),
                    brand: brand.unwrap_or_default(),
                    spec_zh: spec_zh.unwrap_or_default(),
                    spec_en: spec_en.unwrap_or_default(),
                    unit: unit.chars().take(8).collect::<String>().trim().to_owned(),
                    price,
                    member_price,
                    internal_barcode,
                },
            )
            .prop_filter("a unit", |r| !r.unit.is_empty())
    }

    proptest::proptest! {
        /// Any bytes uploaded as a catalog file are read line by line into products or errors
        /// naming a line, never a panic.
        #[test]
        fn any_file_is_read_or_refused_by_line(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..2000)) {
            let (ok, errors) = parse_catalog_csv(&bytes);
            proptest::prop_assert!(!ok.is_empty() || !errors.is_empty());
            let last_line = bytes.iter().filter(|b| **b == b'\n').count() + 2;
            for e in &errors {
                proptest::prop_assert!((1..=last_line).contains(&e.line), "{e:?}");
            }
        }

        /// The same for records of any cells (any text, any count) after a good header.
        #[test]
        fn any_records_are_read_or_refused_by_line(records in proptest::collection::vec(proptest::collection::vec(proptest::prelude::any::<String>(), 0..14), 0..12)) {
            let (ok, errors) = parse_catalog_csv(&exported(&records));
            proptest::prop_assert!(!ok.is_empty() || !errors.is_empty());
            for e in &errors {
                proptest::prop_assert!((2..=records.len() + 2).contains(&e.line), "{e:?}");
            }
        }

        /// What the export writes, the import reads back: every product with its SKUs, names,
        /// prices and barcodes (GTINs and internal codes), without an error.
        #[test]
        fn exported_catalogs_import_back(products in proptest::collection::vec(proptest::collection::vec(row(), 1..4), 1..5)) {
            let mut rows = Vec::new();
            let mut n = 0u64;
            for (p, skus) in products.iter().enumerate() {
                for (s, r) in skus.iter().enumerate() {
                    n += 1;
                    let barcode = if r.internal_barcode {
                        format!("IN-{p}-{s}")
                    } else {
                        retail_domain::barcode::ean13_from_body(&format!("{:012}", 690_000_000_000 + n)).unwrap()
                    };
                    rows.push(vec![
                        format!("P{p}"), r.name_zh.clone(), r.name_en.clone(), r.brand.clone(),
                        "C1".into(), format!("P{p}-{s}"), r.spec_zh.clone(), r.spec_en.clone(),
                        r.unit.clone(), Money::from_fen(r.price).to_string(),
                        r.member_price.map(|m| Money::from_fen(m).to_string()).unwrap_or_default(),
                        barcode,
                    ]);
                }
            }
            let (ok, errors) = parse_catalog_csv(&exported(&rows));
            proptest::prop_assert!(errors.is_empty(), "{errors:?}");
            proptest::prop_assert_eq!(ok.len(), products.len());
            let mut at = 0;
            for ((line, product), skus) in ok.iter().zip(&products) {
                proptest::prop_assert_eq!(*line, at + 2);
                proptest::prop_assert_eq!(&product.name_zh, &skus[0].name_zh);
                proptest::prop_assert_eq!(&product.name_en, &skus[0].name_en);
                proptest::prop_assert_eq!(&product.brand, &skus[0].brand);
                proptest::prop_assert_eq!(product.skus.len(), skus.len());
                for (sku, r) in product.skus.iter().zip(skus) {
                    let row = &rows[at];
                    at += 1;
                    proptest::prop_assert_eq!(&sku.sku_code, &row[5]);
                    proptest::prop_assert_eq!(&sku.spec_zh, &r.spec_zh);
                    proptest::prop_assert_eq!(&sku.spec_en, &r.spec_en);
                    proptest::prop_assert_eq!(sku.unit.as_deref(), Some(r.unit.as_str()));
                    proptest::prop_assert_eq!(sku.price.fen(), r.price);
                    proptest::prop_assert_eq!(sku.member_price.map(|m| m.fen()), r.member_price);
                    proptest::prop_assert_eq!(sku.barcodes.len(), 1);
                    proptest::prop_assert_eq!(&sku.barcodes[0].code, &row[11]);
                    proptest::prop_assert_eq!(sku.barcodes[0].internal, r.internal_barcode);
                }
            }
        }
    }
}
