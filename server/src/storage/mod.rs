//! The storage layer: every SQL statement of the server lives below this module.
//!
//! One [`Store`] serves both backends through sqlx's `Any` driver. The SQL is written in the
//! dialect both share (`$1` placeholders, `ON CONFLICT`, `RETURNING`, BIGINT/TEXT columns); the
//! few places that differ ask [`Store::dialect`]. SQLite runs in WAL mode with full sync and a
//! single writer connection (SQLite allows one writer at a time anyway; queueing in the pool is
//! cheaper than busy retries), PostgreSQL with a shared pool.

use std::borrow::Cow;
use std::str::FromStr;
use std::time::Duration;

use anyhow::Context;
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::{Any, AnyPool, Executor, Row, Transaction};

use crate::error::{AppError, AppResult};

pub mod account_notices;
pub mod after_sales;
pub mod audit;
pub mod backup;
pub mod bargains;
pub mod bus;
pub mod cash_control;
pub mod catalog;
pub mod changes;
pub mod chat;
pub mod checkouts;
pub mod cluster;
pub mod coupons;
pub mod delivery;
pub mod demo;
pub mod devices;
pub mod distribution;
pub mod edge;
pub mod esl;
pub mod events;
pub mod export;
pub mod faq;
pub mod finance;
pub mod group_buys;
pub mod growth;
pub mod lane_payments;
pub mod locations;
pub mod media;
pub mod member_perks;
pub mod members;
pub mod merchant_statements;
pub mod merchants;
pub mod notices;
pub mod notifications;
pub mod orders;
pub mod paging;
pub mod payment_review;
pub mod payments;
pub mod platform_sync;
pub mod points_mall;
pub mod privacy;
pub mod product_images;
pub mod promotions;
pub mod receipts;
pub mod recommendations;
pub mod reconciliation;
pub mod refunds;
pub mod reviews;
pub mod s3;
pub mod sales;
pub mod sales_report;
pub mod scales;
pub mod search_words;
pub mod segments;
pub mod shares;
pub mod shrink;
pub mod staff;
pub mod stock;
pub mod store_ops;
pub mod stored_value;
pub mod web;
pub mod webhooks;
pub mod wechat_oauth;

/// A transaction on either backend.
pub type Tx = Transaction<'static, Any>;

/// Which database the store talks to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    /// The embedded SQLite file.
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

/// The migrations, embedded in the binary, shared by both backends.
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "foundation",
        include_str!("../../../migrations/0001_foundation.sql"),
    ),
    (
        2,
        "lookup indexes",
        include_str!("../../../migrations/0002_lookup_indexes.sql"),
    ),
    (
        3,
        "promotions",
        include_str!("../../../migrations/0003_promotions.sql"),
    ),
    (
        4,
        "store bus",
        include_str!("../../../migrations/0004_store_bus.sql"),
    ),
    (5, "web", include_str!("../../../migrations/0005_web.sql")),
    (
        6,
        "edge commands and shelves",
        include_str!("../../../migrations/0006_edge_commands_shelves.sql"),
    ),
    (
        7,
        "lane payments",
        include_str!("../../../migrations/0007_lane_payments.sql"),
    ),
    (
        8,
        "receipt codes",
        include_str!("../../../migrations/0008_receipt_codes.sql"),
    ),
    (
        9,
        "member notices",
        include_str!("../../../migrations/0009_member_notices.sql"),
    ),
    (
        10,
        "flash sale holdings",
        include_str!("../../../migrations/0010_flash_sale_holdings.sql"),
    ),
    (
        11,
        "staff administration",
        include_str!("../../../migrations/0011_staff_admin.sql"),
    ),
    (
        12,
        "top-up tender",
        include_str!("../../../migrations/0012_topup_tender.sql"),
    ),
    (
        13,
        "unpaid order caps",
        include_str!("../../../migrations/0013_unpaid_order_caps.sql"),
    ),
    (
        14,
        "privacy",
        include_str!("../../../migrations/0014_privacy.sql"),
    ),
    (
        15,
        "lane_sign_in_returns",
        include_str!("../../../migrations/0015_lane_sign_in_returns.sql"),
    ),
    (
        16,
        "sealed_member_names",
        include_str!("../../../migrations/0016_sealed_member_names.sql"),
    ),
    (
        17,
        "real_payments",
        include_str!("../../../migrations/0017_real_payments.sql"),
    ),
    (
        18,
        "reconciliation",
        include_str!("../../../migrations/0018_reconciliation.sql"),
    ),
    (
        19,
        "stored_value_online",
        include_str!("../../../migrations/0019_stored_value_online.sql"),
    ),
    (
        20,
        "wechat_oauth",
        include_str!("../../../migrations/0020_wechat_oauth.sql"),
    ),
    (
        21,
        "refund rejection",
        include_str!("../../../migrations/0021_refund_rejection.sql"),
    ),
    (
        22,
        "wechat_oauth_recharges",
        include_str!("../../../migrations/0022_wechat_oauth_recharges.sql"),
    ),
    (
        23,
        "product images",
        include_str!("../../../migrations/0023_product_images.sql"),
    ),
    (
        24,
        "store shelf",
        include_str!("../../../migrations/0024_store_shelf.sql"),
    ),
    (
        25,
        "after sales",
        include_str!("../../../migrations/0025_after_sales.sql"),
    ),
    (
        27,
        "delivery",
        include_str!("../../../migrations/0027_delivery.sql"),
    ),
    (
        28,
        "tracking events",
        include_str!("../../../migrations/0028_tracking_events.sql"),
    ),
    (
        29,
        "orders by time",
        include_str!("../../../migrations/0029_orders_by_time.sql"),
    ),
    (
        30,
        "pickup store",
        include_str!("../../../migrations/0030_pickup_store.sql"),
    ),
    (
        31,
        "tracking notices",
        include_str!("../../../migrations/0031_tracking_notices.sql"),
    ),
    (
        32,
        "reviews",
        include_str!("../../../migrations/0032_reviews.sql"),
    ),
    (
        35,
        "search words",
        include_str!("../../../migrations/0035_search_words.sql"),
    ),
    (
        36,
        "member perks",
        include_str!("../../../migrations/0036_member_perks.sql"),
    ),
    (
        37,
        "group buys",
        include_str!("../../../migrations/0037_group_buys.sql"),
    ),
    (
        38,
        "events",
        include_str!("../../../migrations/0038_events.sql"),
    ),
    (
        39,
        "account notices",
        include_str!("../../../migrations/0039_account_notices.sql"),
    ),
    (
        40,
        "points mall",
        include_str!("../../../migrations/0040_points_mall.sql"),
    ),
    (
        41,
        "bargains",
        include_str!("../../../migrations/0041_bargains.sql"),
    ),
    (
        42,
        "distribution",
        include_str!("../../../migrations/0042_distribution.sql"),
    ),
    (
        44,
        "group-buy virtual fill",
        include_str!("../../../migrations/0044_group_virtual_fill.sql"),
    ),
    (
        45,
        "points mall goods",
        include_str!("../../../migrations/0045_points_mall_goods.sql"),
    ),
    (
        46,
        "faq knowledge base",
        include_str!("../../../migrations/0046_faq.sql"),
    ),
    (
        47,
        "notifications",
        include_str!("../../../migrations/0047_notifications.sql"),
    ),
    (
        48,
        "customer-service chat",
        include_str!("../../../migrations/0048_chat.sql"),
    ),
    (
        49,
        "sales rollup",
        include_str!("../../../migrations/0049_sales_rollup.sql"),
    ),
    (
        50,
        "growth analytics rollups",
        include_str!("../../../migrations/0050_growth_rollups.sql"),
    ),
    (
        51,
        "recommendations",
        include_str!("../../../migrations/0051_recommendations.sql"),
    ),
    (
        52,
        "member tags and segments",
        include_str!("../../../migrations/0052_segments.sql"),
    ),
    (
        53,
        "export to a big-data platform",
        include_str!("../../../migrations/0053_export.sql"),
    ),
    (
        54,
        "label-scale items",
        include_str!("../../../migrations/0054_scale_items.sql"),
    ),
    (
        55,
        "lane cash control",
        include_str!("../../../migrations/0055_lane_cash_control.sql"),
    ),
    (
        56,
        "electronic shelf labels",
        include_str!("../../../migrations/0056_esl.sql"),
    ),
    (
        57,
        "handheld store operations",
        include_str!("../../../migrations/0057_store_ops.sql"),
    ),
    (
        58,
        "shrink and re-packing",
        include_str!("../../../migrations/0058_shrink_repack.sql"),
    ),
    (
        59,
        "scale labels in scan-and-go",
        include_str!("../../../migrations/0059_scan_labels.sql"),
    ),
    (
        61,
        "electronic shelf label batches",
        include_str!("../../../migrations/0061_esl_batches.sql"),
    ),
    (
        63,
        "webhooks",
        include_str!("../../../migrations/0063_webhooks.sql"),
    ),
    (
        64,
        "several instances: job leases, shared rate windows, import jobs",
        include_str!("../../../migrations/0064_instances.sql"),
    ),
    (
        66,
        "middle-platform inbound sync",
        include_str!("../../../migrations/0066_platform_sync.sql"),
    ),
    (
        68,
        "event indexes",
        include_str!("../../../migrations/0068_event_indexes.sql"),
    ),
    (
        70,
        "merchant statements",
        include_str!("../../../migrations/0070_merchant_statements.sql"),
    ),
    (
        71,
        "checkouts",
        include_str!("../../../migrations/0071_checkouts.sql"),
    ),
    (
        72,
        "merchant promotions",
        include_str!("../../../migrations/0072_merchant_promotions.sql"),
    ),
];

/// The migrations whose SQL differs by backend (triggers, a rebuilt table): version, name, SQLite's, PostgreSQL's.
/// Each database only ever runs its own variant, so its checksum never changes.
const DIALECT_MIGRATIONS: &[(i64, &str, &str, &str)] = &[
    (
        62,
        "change feeds",
        include_str!("../../../migrations/0062_change_feeds.sqlite.sql"),
        include_str!("../../../migrations/0062_change_feeds.postgres.sql"),
    ),
    (
        69,
        "merchants",
        include_str!("../../../migrations/0069_merchants.sqlite.sql"),
        include_str!("../../../migrations/0069_merchants.postgres.sql"),
    ),
];

/// The central database.
#[derive(Clone, Debug)]
pub struct Store {
    write: AnyPool,
    read: AnyPool,
    dialect: Dialect,
    url: std::sync::Arc<str>,
    acquire_timeout: Duration,
}

/// Pool options for PostgreSQL: each connection plans every statement with its parameters
/// (see [`Store::connect_with`]).
fn postgres_pool_options() -> AnyPoolOptions {
    AnyPoolOptions::new().after_connect(|conn, _| {
        Box::pin(async move {
            conn.execute("SET plan_cache_mode = force_custom_plan")
                .await?;
            Ok(())
        })
    })
}

impl Store {
    /// Connects to `url` (creating the SQLite file and its folder when needed) and applies the
    /// migrations.
    pub async fn connect(url: &str) -> anyhow::Result<Self> {
        Self::connect_with(url, Duration::from_secs(5)).await
    }

    /// [`Store::connect`] with the longest wait for a pooled connection: a request that waits
    /// longer is answered 503 with `Retry-After` (`sqlx::Error::PoolTimedOut`, see
    /// [`crate::error::is_transient`]) instead of queueing without end.
    ///
    /// On PostgreSQL every connection plans each statement with its parameters
    /// (`plan_cache_mode = force_custom_plan`): a generic plan cached while a table was small
    /// would otherwise be kept by the connection however large the table grows — a
    /// sequential scan of `orders` per batch for the writer's look-ups, and per inserted row
    /// for the foreign-key checks of `order_lines` and `order_events` (their plans are cached
    /// too). The statistics are refreshed (`ANALYZE`) after the migrations.
    pub async fn connect_with(url: &str, acquire_timeout: Duration) -> anyhow::Result<Self> {
        sqlx::any::install_default_drivers();
        let dialect = if url.starts_with("sqlite:") {
            Dialect::Sqlite
        } else {
            Dialect::Postgres
        };
        let (write, read) = match dialect {
            Dialect::Sqlite => {
                let url = sqlite_url(url)?;
                // The writer does not checkpoint the WAL itself (that would stall a commit now
                // and then); `Store::checkpoint` does it from a background loop instead.
                let options = |pragmas: &'static str| {
                    AnyPoolOptions::new().after_connect(move |conn, _| {
                        Box::pin(async move {
                            conn.execute(pragmas).await?;
                            Ok(())
                        })
                    })
                };
                let write = options(
                    "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; \
                     PRAGMA busy_timeout = 10000; PRAGMA cache_size = -65536; PRAGMA temp_store = MEMORY; \
                     PRAGMA wal_autocheckpoint = 0;",
                )
                    .max_connections(1)
                    .acquire_timeout(acquire_timeout)
                    .connect(&url)
                    .await
                    .with_context(|| format!("opening {url}"))?;
                let read = options(
                    "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000; \
                     PRAGMA cache_size = -16384; PRAGMA temp_store = MEMORY;",
                )
                .max_connections(8)
                    .acquire_timeout(acquire_timeout)
                    .connect(&url)
                    .await
                    .with_context(|| format!("opening {url}"))?;
                (write, read)
            }
            Dialect::Postgres => {
                let pool = postgres_pool_options()
                    .max_connections(16)
                    .acquire_timeout(acquire_timeout)
                    .connect(url)
                    .await
                    .context("connecting to PostgreSQL")?;
                (pool.clone(), pool)
            }
        };
        let store = Self {
            write,
            read,
            dialect,
            url: url.into(),
            acquire_timeout,
        };
        store.migrate().await?;
        store.analyze().await?;
        Ok(store)
    }

    /// Refreshes the planner's statistics (`ANALYZE`; on SQLite `PRAGMA optimize`), after the
    /// migrations and after bulk loads (the demo chain, a catalog import), so no plan rests on
    /// statistics from when the tables were empty: this machine's PostgreSQL may run without
    /// autovacuum, and then nothing else ever analyzes.
    pub async fn analyze(&self) -> anyhow::Result<()> {
        let sql = match self.dialect {
            Dialect::Sqlite => "PRAGMA optimize",
            Dialect::Postgres => "ANALYZE",
        };
        sqlx::query(sql)
            .execute(&self.write)
            .await
            .context("refreshing the planner statistics")?;
        Ok(())
    }

    /// This store for a task that runs on a runtime of its own (the order and payment writers): on
    /// PostgreSQL its writes get a small pool of their own, opened here, so their connections'
    /// I/O is driven by that runtime; on SQLite the one writer connection is shared (SQLite
    /// connections run on their own threads, whatever runtime asks).
    pub async fn for_own_runtime(&self, connections: u32) -> anyhow::Result<Self> {
        match self.dialect {
            Dialect::Sqlite => Ok(self.clone()),
            Dialect::Postgres => Ok(Self {
                write: postgres_pool_options()
                    .max_connections(connections.max(1))
                    .acquire_timeout(self.acquire_timeout)
                    .connect(&self.url)
                    .await
                    .context("connecting a writer of its own to PostgreSQL")?,
                read: self.read.clone(),
                dialect: self.dialect,
                url: self.url.clone(),
                acquire_timeout: self.acquire_timeout,
            }),
        }
    }

    async fn migrate(&self) -> anyhow::Result<()> {
        let dialect = self.dialect;
        let mut all: Vec<(i64, &str, &str)> = MIGRATIONS.to_vec();
        all.extend(DIALECT_MIGRATIONS.iter().map(
            |(version, name, sqlite, postgres)| match dialect {
                Dialect::Sqlite => (*version, *name, *sqlite),
                Dialect::Postgres => (*version, *name, *postgres),
            },
        ));
        all.sort_by_key(|(version, _, _)| *version);
        let migrations: Vec<Migration> = all
            .iter()
            .map(|(version, name, sql)| {
                Migration::new(
                    *version,
                    Cow::Borrowed(*name),
                    MigrationType::Simple,
                    Cow::Borrowed(*sql),
                    false,
                )
            })
            .collect();
        let migrator = Migrator {
            migrations: Cow::Owned(migrations),
            ..Migrator::DEFAULT
        };
        migrator
            .run(&self.write)
            .await
            .context("applying migrations")?;
        Ok(())
    }

    /// The backend in use.
    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// The database URL this store connected to.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The pool for reads.
    pub(crate) fn reader(&self) -> &AnyPool {
        &self.read
    }

    /// The pool for single-statement writes.
    pub(crate) fn writer(&self) -> &AnyPool {
        &self.write
    }

    /// Starts a write transaction.
    pub async fn begin(&self) -> AppResult<Tx> {
        Ok(self.write.begin().await?)
    }

    /// ` FOR UPDATE` on PostgreSQL (row locks inside a transaction); nothing on SQLite, whose
    /// single writer already serialises write transactions.
    pub(crate) fn for_update(&self) -> &'static str {
        match self.dialect {
            Dialect::Sqlite => "",
            Dialect::Postgres => " FOR UPDATE",
        }
    }

    /// Closes the pools.
    pub async fn close(&self) {
        self.write.close().await;
        self.read.close().await;
    }

    /// Copies committed WAL pages back into the SQLite database file without blocking the
    /// writer (a passive checkpoint, on a reading connection); answers how many frames the WAL
    /// holds (0 on PostgreSQL, where there is nothing to do). Called every 100 ms by
    /// `app::sweeper::run_checkpoints`.
    pub async fn checkpoint(&self) -> AppResult<i64> {
        if self.dialect != Dialect::Sqlite {
            return Ok(0);
        }
        let row = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
            .fetch_one(&self.read)
            .await?;
        Ok(row.try_get::<i64, _>(1).unwrap_or(0))
    }

    /// Checkpoints the whole SQLite WAL and has the next commit write it from its beginning
    /// again (`wal_checkpoint(RESTART)`, on the writer connection, so no commit waits for it
    /// halfway; it waits for readers of older snapshots, which are short). Passive checkpoints
    /// alone never let the WAL start again while commits keep coming (one always lands while
    /// the checkpoint syncs), and then every commit appends to a growing file: its fsync also
    /// commits the file system's journal (the file's new size and blocks). A reader that keeps
    /// an old snapshot longer than 100 ms (a backup's `VACUUM INTO`) makes it give up, so the
    /// writer is never held longer: it is tried again later. Nothing to do on PostgreSQL.
    ///
    /// Says whether the WAL was started again (`false`: a reader or a checkpoint kept it busy).
    pub async fn restart_wal(&self) -> AppResult<bool> {
        if self.dialect != Dialect::Sqlite {
            return Ok(true);
        }
        let mut conn = self.write.acquire().await?;
        conn.execute("PRAGMA busy_timeout = 100").await?;
        let restarted = sqlx::query("PRAGMA wal_checkpoint(RESTART)")
            .fetch_one(&mut *conn)
            .await;
        if let Err(err) = conn.execute("PRAGMA busy_timeout = 10000").await {
            // Never back in the pool with the short wait.
            conn.close_on_drop();
            return Err(err.into());
        }
        // The first column is 1 when the checkpoint could not finish (SQLITE_BUSY).
        Ok(restarted?.try_get::<i64, _>(0)? == 0)
    }

    /// Checks the database answers (for `/healthz`).
    pub async fn ping(&self) -> AppResult<()> {
        sqlx::query("SELECT 1").execute(&self.read).await?;
        Ok(())
    }
}

/// Normalises a SQLite URL so the file (and its folder) is created when missing.
fn sqlite_url(url: &str) -> anyhow::Result<String> {
    let path = url
        .trim_start_matches("sqlite://")
        .trim_start_matches("sqlite:");
    let path = path.split('?').next().unwrap_or(path);
    if path != ":memory:" && !path.is_empty() {
        if let Some(parent) = std::path::Path::new(path).parent() {
            if !parent.as_os_str().is_empty() {
                std::fs::create_dir_all(parent)
                    .with_context(|| format!("creating {}", parent.display()))?;
            }
        }
    }
    Ok(if url.contains('?') {
        url.to_owned()
    } else {
        format!("sqlite://{path}?mode=rwc")
    })
}

/// Sets the `status` (and `updated_at`) of row `id` of a head-office activity table (a
/// group-buy's, a bargain's), audited as `action` on `entity` in the same transaction; false when
/// there is no such row. `table` is one of this crate's table names, never input.
pub(crate) async fn set_status_audited(
    store: &Store,
    table: &'static str,
    (action, entity): (&str, &str),
    id: uuid::Uuid,
    status: &str,
    actor: &str,
) -> AppResult<bool> {
    let mut tx = store.begin().await?;
    let done = sqlx::query(&format!(
        "UPDATE {table} SET status = $1, updated_at = $2 WHERE id = $3"
    ))
    .bind(status)
    .bind(now_ms())
    .bind(id.to_string())
    .execute(&mut *tx)
    .await?
    .rows_affected()
        == 1;
    if done {
        audit::record(
            &mut tx,
            actor,
            action,
            entity,
            &id.to_string(),
            serde_json::json!({ "status": status }),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(done)
}

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Start of today in China time (UTC+8), in Unix milliseconds: the business day of daily
/// limits and dashboards.
pub fn today_start_ms() -> i64 {
    let now = now_ms();
    let day = 24 * 3600 * 1000;
    let shifted = now + 8 * 3600 * 1000;
    shifted - shifted.rem_euclid(day) - 8 * 3600 * 1000
}

/// Converts Unix milliseconds to a UTC time.
pub fn from_ms(ms: i64) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

/// Reads a column, turning a decoding failure into an internal error.
pub(crate) fn col<'r, T>(row: &'r AnyRow, name: &str) -> AppResult<T>
where
    T: sqlx::Decode<'r, Any> + sqlx::Type<Any>,
{
    row.try_get(name)
        .map_err(|e| AppError::Internal(anyhow::Error::new(e).context(format!("column {name}"))))
}

/// Parses a stored enum-like text column.
pub(crate) fn parse_col<T>(row: &AnyRow, name: &str) -> AppResult<T>
where
    T: FromStr,
    T::Err: std::fmt::Display,
{
    let text: String = col(row, name)?;
    text.parse()
        .map_err(|e| AppError::Internal(anyhow::anyhow!("column {name}: {e}")))
}

/// Reads a stored UUID column.
pub(crate) fn uuid_col(row: &AnyRow, name: &str) -> AppResult<uuid::Uuid> {
    parse_col(row, name)
}

/// The catalog change sequence's current value.
pub async fn catalog_seq(store: &Store) -> AppResult<i64> {
    counter_value(store, "catalog").await
}

/// A named counter's current value.
pub(crate) async fn counter_value(store: &Store, name: &str) -> AppResult<i64> {
    let row = sqlx::query("SELECT value FROM counters WHERE name = $1")
        .bind(name)
        .fetch_one(store.reader())
        .await?;
    col(&row, "value")
}

/// True when the error is a unique-constraint violation.
pub(crate) fn is_unique_violation(err: &sqlx::Error) -> bool {
    err.as_database_error()
        .map(|e| e.is_unique_violation())
        .unwrap_or(false)
}

/// The largest power of two not above `n` (`n` ≥ 1).
pub(crate) fn prev_power_of_two(n: usize) -> usize {
    if n.is_power_of_two() {
        n
    } else {
        n.next_power_of_two() / 2
    }
}

/// `$from, $from+1, …` placeholders for an `IN (…)` list of `n` values.
pub(crate) fn placeholders(from: usize, n: usize) -> String {
    (from..from + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The placeholders of `n` parameters of a bulk statement, the first numbered `from`: anonymous
/// `?` on SQLite (bound in order: SQLite finds a `$N` name by walking the statement's list of
/// names, quadratic in a statement of thousands), `$from, $from+1, …` on PostgreSQL.
pub(crate) fn bulk_marks(sqlite: bool, from: usize, n: usize) -> Vec<String> {
    (from..from + n)
        .map(|i| {
            if sqlite {
                "?".to_owned()
            } else {
                format!("${i}")
            }
        })
        .collect()
}

/// Takes the next value of a named counter (under its row lock until the transaction ends).
pub(crate) async fn next_counter(tx: &mut Tx, name: &str) -> AppResult<i64> {
    let row = sqlx::query("UPDATE counters SET value = value + 1 WHERE name = $1 RETURNING value")
        .bind(name)
        .fetch_one(&mut **tx)
        .await?;
    cluster::notify_cached_in_tx(tx, name).await?;
    col(&row, "value")
}

/// Most bind parameters in one statement. SQLite allows 32,766 (PostgreSQL 65,535), but it
/// resolves `$N` names with a linear scan per parameter, so long lists get quadratic: chunks of
/// 2,000 keep statements fast on both.
pub(crate) const MAX_PARAMS: usize = 2_000;

/// Inserts rows with a multi-row `VALUES` list, chunked to stay under the parameter limit.
/// `row` binds one row's values (exactly `columns.len()` of them) onto the query.
pub(crate) async fn insert_rows<T>(
    tx: &mut Tx,
    table: &str,
    columns: &[&str],
    rows: &[T],
    bind: impl for<'q> Fn(
        sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
        &'q T,
    ) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
) -> AppResult<()> {
    upsert_rows(tx, table, columns, rows, "", bind).await
}

/// Placeholders for a list of `n` values starting at parameter `from`: anonymous `?` on SQLite
/// (bound in order; SQLite resolves `$N` names with a linear scan per parameter), `$N` on
/// PostgreSQL.
pub(crate) fn list_placeholders(tx: &Tx, from: usize, n: usize) -> String {
    if tx.backend_name() == "SQLite" {
        vec!["?"; n].join(", ")
    } else {
        placeholders(from, n)
    }
}

/// `column IN (…)` for a list of text values, as SQL text and the values to bind in order.
///
/// On PostgreSQL: one array parameter, `column IN (SELECT unnest($from::text[]))`, the array
/// bound as its text literal (the `Any` driver binds no arrays), so the statement is the same
/// whatever the length. The sub-select turns the literal into an array once; the plainer
/// `column = ANY($from::text[])` re-parses it for every row a sequential scan looks at (the
/// text-to-array cast is not folded into a constant), which made a 1,000-key read of a
/// 1,000-row table take 300 ms instead of 1 ms. On SQLite: anonymous placeholders, the list padded to
/// a power of two (repeating the last value) so a few statement shapes are reused; callers
/// chunk by [`MAX_PARAMS`] there. `values` must not be empty.
pub(crate) fn text_in<S: AsRef<str>>(
    tx: &Tx,
    column: &str,
    from: usize,
    values: &[S],
) -> (String, Vec<String>) {
    if tx.backend_name() == "SQLite" {
        let n = values.len().next_power_of_two();
        let binds = (0..n)
            .map(|i| values[i.min(values.len() - 1)].as_ref().to_owned())
            .collect();
        (format!("{column} IN ({})", vec!["?"; n].join(", ")), binds)
    } else {
        (
            format!("{column} IN (SELECT unnest(${from}::text[]))"),
            vec![pg_text_array(values)],
        )
    }
}

/// Values per look-up of many records by key outside a transaction ([`text_in_store`]).
pub(crate) const READ_CHUNK: usize = 500;

/// [`text_in`] for a read outside a transaction, by the store's dialect. `values` must not be
/// empty; chunk by [`READ_CHUNK`].
pub(crate) fn text_in_store<S: AsRef<str>>(
    store: &Store,
    column: &str,
    from: usize,
    values: &[S],
) -> (String, Vec<String>) {
    match store.dialect() {
        Dialect::Sqlite => {
            let n = values.len().next_power_of_two();
            let binds = (0..n)
                .map(|i| values[i.min(values.len() - 1)].as_ref().to_owned())
                .collect();
            (format!("{column} IN ({})", vec!["?"; n].join(", ")), binds)
        }
        Dialect::Postgres => (
            format!("{column} IN (SELECT unnest(${from}::text[]))"),
            vec![pg_text_array(values)],
        ),
    }
}

/// The rows of `select` (a `SELECT … FROM …` without `WHERE`, followed by `rest`, e.g. an
/// `ORDER BY`) whose `column` is one of `keys`, read in chunks of [`READ_CHUNK`] on the reader.
pub(crate) async fn rows_by_keys(
    store: &Store,
    select: &str,
    column: &str,
    rest: &str,
    keys: &[String],
) -> AppResult<Vec<AnyRow>> {
    let mut out = Vec::new();
    for chunk in keys.chunks(READ_CHUNK) {
        let (cond, binds) = text_in_store(store, column, 1, chunk);
        let sql = format!("{select} WHERE {cond} {rest}");
        let mut query = sqlx::query(&sql);
        for bind in &binds {
            query = query.bind(bind.as_str());
        }
        out.extend(query.fetch_all(store.reader()).await?);
    }
    Ok(out)
}

/// A PostgreSQL array literal of text values: `{"a","b"}`, each element quoted, `"` and `\`
/// escaped.
pub(crate) fn pg_text_array<S: AsRef<str>>(values: &[S]) -> String {
    let mut out = String::from("{");
    for (i, value) in values.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push('"');
        for c in value.as_ref().chars() {
            if c == '"' || c == '\\' {
                out.push('\\');
            }
            out.push(c);
        }
        out.push('"');
    }
    out.push('}');
    out
}

/// How many values one [`text_in`] list takes: the whole list on PostgreSQL (one parameter),
/// [`MAX_PARAMS`] `- reserved` on SQLite.
pub(crate) fn text_in_chunk(tx: &Tx, reserved: usize) -> usize {
    if tx.backend_name() == "SQLite" {
        MAX_PARAMS - reserved
    } else {
        usize::MAX
    }
}

/// [`insert_rows`] with a conflict clause after the `VALUES` list (e.g. `ON CONFLICT (k) DO
/// UPDATE SET …`); the rows of one call must not repeat a key the clause updates.
pub(crate) async fn upsert_rows<T>(
    tx: &mut Tx,
    table: &str,
    columns: &[&str],
    rows: &[T],
    on_conflict: &str,
    bind: impl for<'q> Fn(
        sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
        &'q T,
    ) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
) -> AppResult<()> {
    // SQLite gets anonymous `?` placeholders (bound in order, no name look-ups, so long lists
    // stay linear); PostgreSQL gets `$N`. Rows go in chunks whose sizes are powers of two, so a
    // table has only a few statement shapes and the prepared statements are reused (preparing a
    // new thousand-parameter statement for every batch costs more than a few extra statements).
    let sqlite = tx.backend_name() == "SQLite";
    let max_params = if sqlite { 30_000 } else { 10_000 };
    let largest = prev_power_of_two((max_params / columns.len()).max(1));
    let row_sql =
        |first: usize| format!("({})", bulk_marks(sqlite, first, columns.len()).join(", "));
    let mut rest = rows;
    while !rest.is_empty() {
        let size = prev_power_of_two(rest.len()).min(largest);
        let (chunk, tail) = rest.split_at(size);
        rest = tail;
        let mut sql = format!("INSERT INTO {table} ({}) VALUES ", columns.join(", "));
        for i in 0..chunk.len() {
            if i > 0 {
                sql.push_str(", ");
            }
            sql.push_str(&row_sql(1 + i * columns.len()));
        }
        if !on_conflict.is_empty() {
            sql.push(' ');
            sql.push_str(on_conflict);
        }
        let mut query = sqlx::query(&sql);
        for row in chunk {
            query = bind(query, row);
        }
        query.execute(&mut **tx).await?;
    }
    Ok(())
}

/// Runs `sql` for `values` in chunks, collecting the rows: `{in}` in it stands for
/// `column IN (…)` written by [`text_in`] (one array parameter on PostgreSQL), the only
/// parameters of the statement.
pub(crate) async fn fetch_where_in<S: AsRef<str>>(
    tx: &mut Tx,
    sql: &str,
    column: &str,
    values: &[S],
) -> AppResult<Vec<AnyRow>> {
    let mut out = Vec::new();
    for chunk in values.chunks(text_in_chunk(tx, 0)) {
        let (list, binds) = text_in(tx, column, 1, chunk);
        let text = sql.replace("{in}", &list);
        let mut query = sqlx::query(&text);
        for value in &binds {
            query = query.bind(value.as_str());
        }
        out.extend(query.fetch_all(&mut **tx).await?);
    }
    Ok(out)
}

/// Runs `sql` (with `{}` where the `IN` list goes) for `values` in chunks, collecting the rows.
pub(crate) async fn fetch_in(tx: &mut Tx, sql: &str, values: &[String]) -> AppResult<Vec<AnyRow>> {
    let mut out = Vec::new();
    for chunk in values.chunks(MAX_PARAMS) {
        let text = sql.replace("{}", &placeholders(1, chunk.len()));
        let mut query = sqlx::query(&text);
        for value in chunk {
            query = query.bind(value.as_str());
        }
        out.extend(query.fetch_all(&mut **tx).await?);
    }
    Ok(out)
}

/// A page of rows (the `page` query, each row read by `row`) and how many there are in all (the
/// `count` query, one `n` column).
pub(crate) async fn fetch_page<'q, T>(
    store: &Store,
    page: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    count: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    row: impl Fn(&AnyRow) -> AppResult<T>,
) -> AppResult<(Vec<T>, i64)> {
    let rows = page.fetch_all(store.reader()).await?;
    let total = col(&count.fetch_one(store.reader()).await?, "n")?;
    Ok((rows.iter().map(row).collect::<AppResult<_>>()?, total))
}

/// Opens a savepoint `name` inside the transaction.
pub async fn savepoint(tx: &mut Tx, name: &str) -> AppResult<()> {
    sqlx::query(&format!("SAVEPOINT {name}"))
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Undoes everything since savepoint `name` and releases it.
pub async fn rollback_to_savepoint(tx: &mut Tx, name: &str) -> AppResult<()> {
    sqlx::query(&format!("ROLLBACK TO SAVEPOINT {name}"))
        .execute(&mut **tx)
        .await?;
    release_savepoint(tx, name).await
}

/// Keeps everything since savepoint `name` and releases it.
pub async fn release_savepoint(tx: &mut Tx, name: &str) -> AppResult<()> {
    sqlx::query(&format!("RELEASE SAVEPOINT {name}"))
        .execute(&mut **tx)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn powers_of_two() {
        assert_eq!(prev_power_of_two(1), 1);
        assert_eq!(prev_power_of_two(250), 128);
        assert_eq!(prev_power_of_two(256), 256);
    }

    #[test]
    fn placeholder_lists() {
        assert_eq!(placeholders(1, 3), "$1, $2, $3");
        assert_eq!(placeholders(4, 1), "$4");
    }

    #[test]
    fn sqlite_urls_create_the_file() {
        let url = sqlite_url("sqlite://target/x/y.db").unwrap_or_default();
        assert_eq!(url, "sqlite://target/x/y.db?mode=rwc");
    }
}
