//! The lane's local SQLite database (docs/DESIGN.md §3 "POS local store", §5): the full catalog copy
//! with its sync cursor, the last pricing context, the lane's receipt-signing key and its
//! store's registered receipt keys, the sale journal, and the journal of payment-code attempts
//! (`code_payments`: written before the server is asked to charge a code; the code's last four
//! digits only).
//!
//! The journal is the lane's source of truth for completed sales: a sale is inserted (with the
//! receipt bytes to print) in one transaction *before* the receipt is printed, and stays until
//! the server has answered for it. WAL mode with `synchronous = FULL`, so a committed sale
//! survives a power cut or a `SIGKILL`.

use std::collections::HashMap;
use std::path::Path;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use retail_domain::money::Money;
use retail_domain::wire::catalog::{CatalogItem, CatalogPage, SkuRecord};
use retail_domain::wire::devices::DeviceIdentity;
use retail_domain::wire::pricing::PricingContext;
use retail_domain::wire::receipts::ReceiptKeys;
use retail_domain::wire::sales::{PosSale, SaleOutcome, SaleResult};
use retail_domain::wire::staff::LaneRoster;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{QueryBuilder, Row, Sqlite, SqlitePool};
use uuid::Uuid;

/// Errors of the lane database.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite failed.
    #[error("lane database: {0}")]
    Sql(#[from] sqlx::Error),
    /// A stored record could not be read back.
    #[error("lane database holds an unreadable record: {0}")]
    Corrupt(String),
}

/// Result of the lane database.
pub type StoreResult<T> = Result<T, StoreError>;

const SCHEMA: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS categories (id TEXT PRIMARY KEY, parent_id TEXT, seq INTEGER NOT NULL)",
    "CREATE TABLE IF NOT EXISTS skus (id TEXT PRIMARY KEY, seq INTEGER NOT NULL, record TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS barcodes (code TEXT PRIMARY KEY, sku_id TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS barcodes_by_sku ON barcodes (sku_id)",
    "CREATE TABLE IF NOT EXISTS sales (
        id TEXT PRIMARY KEY,
        seq INTEGER NOT NULL UNIQUE,
        sale_no TEXT NOT NULL,
        completed_at TEXT NOT NULL,
        body TEXT NOT NULL,
        receipt BLOB NOT NULL,
        open_drawer INTEGER NOT NULL,
        printed INTEGER NOT NULL DEFAULT 0,
        outcome TEXT,
        order_no TEXT,
        points_earned INTEGER,
        points_balance INTEGER,
        error TEXT,
        answered_at TEXT,
        shift_id TEXT
    )",
    "CREATE INDEX IF NOT EXISTS sales_unsent ON sales (outcome, seq)",
    "CREATE TABLE IF NOT EXISTS shifts (
        id TEXT PRIMARY KEY,
        cashier TEXT NOT NULL,
        opened_at TEXT NOT NULL,
        opening_cash INTEGER NOT NULL,
        closed_at TEXT,
        counted_cash INTEGER
    )",
    "CREATE TABLE IF NOT EXISTS parked_sales (
        id TEXT PRIMARY KEY,
        parked_at TEXT NOT NULL,
        body TEXT NOT NULL
    )",
    "CREATE TABLE IF NOT EXISTS voids (
        sale_id TEXT PRIMARY KEY,
        voided_at TEXT NOT NULL,
        cashier TEXT NOT NULL,
        approved_by TEXT NOT NULL,
        lines INTEGER NOT NULL,
        total INTEGER NOT NULL
    )",
    // Payment-code attempts (issue 14), journalled before the server is asked: `status` is
    // `asking` until the server answers, then the server's (`pending`, `user_paying`,
    // `succeeded`, `failed`, `reversed`, `cancelled`), or `unsent` when the server never took
    // it. Never the full payment code: its last four digits.
    "CREATE TABLE IF NOT EXISTS code_payments (
        id TEXT PRIMARY KEY,
        sale_id TEXT NOT NULL,
        amount INTEGER NOT NULL,
        provider TEXT NOT NULL,
        code_last4 TEXT NOT NULL,
        status TEXT NOT NULL,
        method TEXT,
        transaction_id TEXT,
        failure TEXT,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    )",
    "CREATE TABLE IF NOT EXISTS returns (
        id TEXT PRIMARY KEY,
        sale_id TEXT NOT NULL,
        created_at TEXT NOT NULL,
        refund INTEGER NOT NULL,
        tender_refund INTEGER NOT NULL,
        shift_id TEXT
    )",
];

const CURSOR_KEY: &str = "catalog_cursor";
const SYNCED_KEY: &str = "catalog_synced";
const CONTEXT_KEY: &str = "pricing_context";
const VERIFIER_KEY: &str = "code_verifier";
const IDENTITY_KEY: &str = "identity";
const SIGNER_KEY: &str = "receipt_signer_seed";
const RECEIPT_KEYS_KEY: &str = "receipt_keys";
const KEY_REGISTERED_KEY: &str = "receipt_key_registered";
const QR_SALE_KEY: &str = "sale_waiting_for_qr";
const ROSTER_KEY: &str = "lane_roster";
/// Rows per multi-row statement (three parameters each: well under SQLite's limit).
const ROWS_PER_STATEMENT: usize = 500;

/// A sale of the journal with what the server answered for it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JournalEntry {
    /// The sale as pushed.
    pub sale: PosSale,
    /// The lane's sequence number of the sale.
    pub seq: i64,
    /// Receipt bytes (without the drawer kick).
    pub receipt: Vec<u8>,
    /// Whether the drawer is kicked when it is first printed.
    pub open_drawer: bool,
    /// Whether the receipt has been printed.
    pub printed: bool,
    /// The server's answer, once there is one.
    pub outcome: Option<SaleOutcome>,
    /// The server's order number.
    pub order_no: Option<String>,
    /// Why the server rejected it.
    pub error: Option<String>,
}

/// A payment-code attempt as journalled by the lane.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CodeAttempt {
    /// The payment's id (the server's lane payment, the sale's payment once paid).
    pub id: Uuid,
    /// The sale it pays.
    pub sale_id: Uuid,
    /// Amount charged.
    pub amount: Money,
    /// Who issued the code: `wechat_pay` or `alipay`.
    pub provider: String,
    /// The code's last four digits.
    pub code_last4: String,
    /// `asking`, `pending`, `user_paying`, `succeeded`, `failed`, `reversed`, `cancelled`,
    /// `unsent`.
    pub status: String,
    /// The tender the server recorded it as, once paid.
    pub method: Option<String>,
    /// The provider's transaction id, once paid.
    pub transaction_id: Option<String>,
    /// Why it failed.
    pub failure: Option<String>,
    /// When it was journalled.
    pub created_at: DateTime<Utc>,
}

/// Counts for the status bar.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct JournalCounts {
    /// Completed sales not yet answered by the server.
    pub unsent: i64,
    /// Sales the server refused (kept for the store to look at).
    pub rejected: i64,
    /// Receipts waiting to be (re)printed.
    pub unprinted: i64,
}

/// The lane's local database.
#[derive(Clone, Debug)]
pub struct LaneDb {
    pool: SqlitePool,
}

fn corrupt(e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

impl LaneDb {
    /// Opens (creating if needed) the database file at `path`.
    pub async fn open(path: &Path) -> StoreResult<Self> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(std::time::Duration::from_secs(10));
        // One connection: the lane's writers (sale commit, push answers, catalog pages) are
        // serialised instead of failing with SQLITE_BUSY on a lock upgrade; every statement
        // is short (a catalog page of 2,000 records takes milliseconds).
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options)
            .await?;
        for statement in SCHEMA {
            sqlx::query(statement).execute(&pool).await?;
        }
        Ok(Self { pool })
    }

    /// Keeps a parked sale (its basket as JSON) until it is resumed.
    pub async fn park_sale(&self, id: Uuid, body: &str) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO parked_sales (id, parked_at, body) VALUES (?, ?, ?) \
             ON CONFLICT (id) DO UPDATE SET body = excluded.body",
        )
        .bind(id.to_string())
        .bind(Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true))
        .bind(body)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Keeps the sale whose QR payment the shopper is paying (its basket as JSON), so a crash
    /// does not lose a payment the shopper may have made; `None` forgets it.
    pub async fn save_qr_sale(&self, body: Option<&str>) -> StoreResult<()> {
        match body {
            Some(body) => self.set_meta(QR_SALE_KEY, body).await,
            None => {
                sqlx::query("DELETE FROM meta WHERE key = ?")
                    .bind(QR_SALE_KEY)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }
        }
    }

    /// Journals a payment-code attempt and keeps the sale it pays (its basket as JSON, as
    /// [`LaneDb::save_qr_sale`] does), in one transaction, before the server is asked.
    pub async fn begin_code_payment(&self, attempt: &CodeAttempt, sale: &str) -> StoreResult<()> {
        let at = attempt
            .created_at
            .to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO code_payments (id, sale_id, amount, provider, code_last4, status, \
             created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(attempt.id.to_string())
        .bind(attempt.sale_id.to_string())
        .bind(attempt.amount.fen())
        .bind(&attempt.provider)
        .bind(&attempt.code_last4)
        .bind(&attempt.status)
        .bind(&at)
        .bind(&at)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO meta (key, value) VALUES (?, ?) \
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        )
        .bind(QR_SALE_KEY)
        .bind(sale)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Records where a payment-code attempt stands (the tender, transaction id and failure are
    /// kept when not given).
    pub async fn update_code_payment(
        &self,
        id: Uuid,
        status: &str,
        method: Option<&str>,
        transaction_id: Option<&str>,
        failure: Option<&str>,
    ) -> StoreResult<()> {
        sqlx::query(
            "UPDATE code_payments SET status = ?, method = COALESCE(?, method), \
             transaction_id = COALESCE(?, transaction_id), failure = COALESCE(?, failure), \
             updated_at = ? WHERE id = ?",
        )
        .bind(status)
        .bind(method)
        .bind(transaction_id)
        .bind(failure)
        .bind(Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true))
        .bind(id.to_string())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Every payment-code attempt, oldest first.
    pub async fn code_payments(&self) -> StoreResult<Vec<CodeAttempt>> {
        let rows = sqlx::query(
            "SELECT id, sale_id, amount, provider, code_last4, status, method, transaction_id, \
             failure, created_at FROM code_payments ORDER BY created_at, id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let created_at: String = r.try_get("created_at")?;
                Ok(CodeAttempt {
                    id: Uuid::from_str(&r.try_get::<String, _>("id")?).map_err(corrupt)?,
                    sale_id: Uuid::from_str(&r.try_get::<String, _>("sale_id")?)
                        .map_err(corrupt)?,
                    amount: Money::from_fen(r.try_get("amount")?),
                    provider: r.try_get("provider")?,
                    code_last4: r.try_get("code_last4")?,
                    status: r.try_get("status")?,
                    method: r.try_get("method")?,
                    transaction_id: r.try_get("transaction_id")?,
                    failure: r.try_get("failure")?,
                    created_at: DateTime::parse_from_rfc3339(&created_at)
                        .map_err(corrupt)?
                        .with_timezone(&Utc),
                })
            })
            .collect()
    }

    /// The sale kept by [`LaneDb::save_qr_sale`], if any.
    pub async fn qr_sale(&self) -> StoreResult<Option<String>> {
        self.meta(QR_SALE_KEY).await
    }

    /// Forgets a parked sale (it was resumed).
    pub async fn unpark_sale(&self, id: Uuid) -> StoreResult<()> {
        sqlx::query("DELETE FROM parked_sales WHERE id = ?")
            .bind(id.to_string())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The parked sales, first parked first: `(id, basket JSON)`.
    pub async fn parked_sales(&self) -> StoreResult<Vec<(String, String)>> {
        let rows = sqlx::query("SELECT id, body FROM parked_sales ORDER BY parked_at, id")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("id")?, r.try_get("body")?)))
            .collect()
    }

    /// The connection pool (for read-only inspection in tests and benches).
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    async fn meta(&self, key: &str) -> StoreResult<Option<String>> {
        Ok(sqlx::query_scalar("SELECT value FROM meta WHERE key = ?")
            .bind(key)
            .fetch_optional(&self.pool)
            .await?)
    }

    async fn meta_json<T: serde::de::DeserializeOwned>(&self, key: &str) -> StoreResult<Option<T>> {
        self.meta(key)
            .await?
            .map(|t| serde_json::from_str(&t).map_err(corrupt))
            .transpose()
    }

    async fn set_meta_json<T: serde::Serialize>(&self, key: &str, value: &T) -> StoreResult<()> {
        self.set_meta(key, &serde_json::to_string(value).map_err(corrupt)?)
            .await
    }

    async fn set_meta(&self, key: &str, value: &str) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO meta (key, value) VALUES (?, ?) \
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        )
        .bind(key)
        .bind(value)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The catalog cursor (0 before the first sync).
    pub async fn catalog_cursor(&self) -> StoreResult<i64> {
        Ok(self
            .meta(CURSOR_KEY)
            .await?
            .and_then(|v| v.parse().ok())
            .unwrap_or(0))
    }

    /// True once a full catalog download has completed (the lane may then sell offline).
    pub async fn catalog_synced(&self) -> StoreResult<bool> {
        Ok(self.meta(SYNCED_KEY).await?.as_deref() == Some("1"))
    }

    /// Marks the first full download as complete.
    pub async fn mark_catalog_synced(&self) -> StoreResult<()> {
        self.set_meta(SYNCED_KEY, "1").await
    }

    /// Applies one page of the change feed and moves the cursor, in one transaction.
    ///
    /// Rows are written with multi-row statements (a few per page rather than three per SKU):
    /// each statement is a round trip to the database thread, and a first sync writes 100,000
    /// SKUs. Within a page a later record wins, as if applied one by one.
    pub async fn apply_catalog_page(&self, page: &CatalogPage) -> StoreResult<()> {
        let mut categories = Vec::new();
        let mut skus = Vec::new();
        for item in &page.items {
            match item {
                CatalogItem::Category(c) => categories.push(c),
                CatalogItem::Sku(s) => {
                    let record = serde_json::to_string(s).map_err(corrupt)?;
                    skus.push((s.id.to_string(), s.seq, record, &s.barcodes));
                }
            }
        }
        let mut tx = self.pool.begin().await?;
        for chunk in categories.chunks(ROWS_PER_STATEMENT) {
            let mut q = QueryBuilder::<Sqlite>::new("INSERT INTO categories (id, parent_id, seq) ");
            q.push_values(chunk, |mut row, c| {
                row.push_bind(&c.id)
                    .push_bind(&c.parent_id)
                    .push_bind(c.seq);
            });
            q.push(
                " ON CONFLICT (id) DO UPDATE SET parent_id = excluded.parent_id, \
                 seq = excluded.seq",
            );
            q.build().execute(&mut *tx).await?;
        }
        for chunk in skus.chunks(ROWS_PER_STATEMENT) {
            let mut q = QueryBuilder::<Sqlite>::new("INSERT INTO skus (id, seq, record) ");
            q.push_values(chunk, |mut row, (id, seq, record, _)| {
                row.push_bind(id).push_bind(seq).push_bind(record);
            });
            q.push(" ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, record = excluded.record");
            q.build().execute(&mut *tx).await?;
            // A changed SKU's barcodes replace its old ones.
            let mut q = QueryBuilder::<Sqlite>::new("DELETE FROM barcodes WHERE sku_id IN (");
            let mut ids = q.separated(", ");
            for (id, ..) in chunk {
                ids.push_bind(id);
            }
            q.push(")");
            q.build().execute(&mut *tx).await?;
        }
        let codes: Vec<(&String, &String)> = skus
            .iter()
            .flat_map(|(id, _, _, barcodes)| barcodes.iter().map(move |code| (code, id)))
            .collect();
        for chunk in codes.chunks(ROWS_PER_STATEMENT) {
            let mut q = QueryBuilder::<Sqlite>::new("INSERT INTO barcodes (code, sku_id) ");
            q.push_values(chunk, |mut row, (code, id)| {
                row.push_bind(*code).push_bind(*id);
            });
            q.push(" ON CONFLICT (code) DO UPDATE SET sku_id = excluded.sku_id");
            q.build().execute(&mut *tx).await?;
        }
        sqlx::query(
            "INSERT INTO meta (key, value) VALUES (?, ?) \
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        )
        .bind(CURSOR_KEY)
        .bind(page.next_since.to_string())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The SKU a barcode (or PLU / internal code) identifies.
    pub async fn sku_by_barcode(&self, code: &str) -> StoreResult<Option<SkuRecord>> {
        let record: Option<String> = sqlx::query_scalar(
            "SELECT s.record FROM barcodes b JOIN skus s ON s.id = b.sku_id WHERE b.code = ?",
        )
        .bind(code)
        .fetch_optional(&self.pool)
        .await?;
        record
            .map(|r| serde_json::from_str(&r).map_err(corrupt))
            .transpose()
    }

    /// Number of SKUs in the local catalog.
    pub async fn sku_count(&self) -> StoreResult<i64> {
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM skus")
            .fetch_one(&self.pool)
            .await?)
    }

    /// Every category's parent (to build category paths for the pricing engine).
    pub async fn category_parents(&self) -> StoreResult<HashMap<String, Option<String>>> {
        let rows = sqlx::query("SELECT id, parent_id FROM categories")
            .fetch_all(&self.pool)
            .await?;
        Ok(rows
            .into_iter()
            .map(|r| (r.get::<String, _>(0), r.get::<Option<String>, _>(1)))
            .collect())
    }

    /// The stored pricing context.
    pub async fn pricing_context(&self) -> StoreResult<Option<PricingContext>> {
        self.meta_json(CONTEXT_KEY).await
    }

    /// Stores the pricing context.
    pub async fn save_pricing_context(&self, context: &PricingContext) -> StoreResult<()> {
        self.set_meta_json(CONTEXT_KEY, context).await
    }

    /// The roster cashiers sign in against (offline), as last pulled from the server.
    pub async fn roster(&self) -> StoreResult<Option<LaneRoster>> {
        self.meta_json(ROSTER_KEY).await
    }

    /// Stores the roster pulled from the server.
    pub async fn save_roster(&self, roster: &LaneRoster) -> StoreResult<()> {
        self.set_meta_json(ROSTER_KEY, roster).await
    }

    /// Records a voided sale with who rang it up and who approved the void.
    pub async fn record_void(
        &self,
        sale_id: Uuid,
        cashier: &str,
        approved_by: &str,
        lines: usize,
        total_fen: i64,
    ) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO voids (sale_id, voided_at, cashier, approved_by, lines, total) \
             VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (sale_id) DO NOTHING",
        )
        .bind(sale_id.to_string())
        .bind(Utc::now().to_rfc3339())
        .bind(cashier)
        .bind(approved_by)
        .bind(i64::try_from(lines).unwrap_or(i64::MAX))
        .bind(total_fen)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Voided sales, oldest first: (sale id, cashier, approved by, total in fen).
    pub async fn voids(&self) -> StoreResult<Vec<(String, String, String, i64)>> {
        let rows = sqlx::query(
            "SELECT sale_id, cashier, approved_by, total FROM voids ORDER BY voided_at, sale_id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?, r.try_get(3)?)))
            .collect()
    }

    /// The pinned code-verifier key (base64; see `retail_domain::key_pinning`).
    pub async fn pinned_verifier_key(&self) -> StoreResult<Option<String>> {
        self.meta(VERIFIER_KEY).await
    }

    /// Pins a code-verifier key (the first fetched, or a configured rotation).
    pub async fn pin_verifier_key(&self, key: &str) -> StoreResult<()> {
        self.set_meta(VERIFIER_KEY, key).await
    }

    /// The identity the server last confirmed (to start offline).
    pub async fn identity(&self) -> StoreResult<Option<DeviceIdentity>> {
        self.meta_json(IDENTITY_KEY).await
    }

    /// Stores the identity the server confirmed.
    pub async fn save_identity(&self, identity: &DeviceIdentity) -> StoreResult<()> {
        self.set_meta_json(IDENTITY_KEY, identity).await
    }

    /// The lane's own receipt-code signing key (generated at first use and kept): the lane
    /// signs the receipt codes it prints, offline, and registers the public key with the server.
    pub async fn receipt_signer(&self) -> StoreResult<retail_domain::codes::CodeSigner> {
        use retail_domain::codes::CodeSigner;
        if self.meta(SIGNER_KEY).await?.is_none() {
            sqlx::query("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING")
                .bind(SIGNER_KEY)
                .bind(hex::encode(CodeSigner::generate().seed()))
                .execute(&self.pool)
                .await?;
        }
        // Another connection may have won the race: what is stored is the key.
        let seed = self.meta(SIGNER_KEY).await?.unwrap_or_default();
        let bytes = hex::decode(seed.trim()).map_err(corrupt)?;
        let seed: [u8; 32] = bytes
            .try_into()
            .map_err(|_| corrupt("receipt signing key is not 32 bytes"))?;
        Ok(CodeSigner::from_seed(&seed))
    }

    /// The public key (base64url) the server last confirmed as this lane's receipt key.
    pub async fn registered_receipt_key(&self) -> StoreResult<Option<String>> {
        self.meta(KEY_REGISTERED_KEY).await
    }

    /// Records that the server has registered `public_key` as this lane's receipt key.
    pub async fn mark_receipt_key_registered(&self, public_key: &str) -> StoreResult<()> {
        self.set_meta(KEY_REGISTERED_KEY, public_key).await
    }

    /// The store's registered receipt keys as last fetched (to verify other lanes' receipt
    /// codes offline).
    pub async fn receipt_keys(&self) -> StoreResult<Option<ReceiptKeys>> {
        self.meta_json(RECEIPT_KEYS_KEY).await
    }

    /// Stores the store's registered receipt keys.
    pub async fn save_receipt_keys(&self, keys: &ReceiptKeys) -> StoreResult<()> {
        self.set_meta_json(RECEIPT_KEYS_KEY, keys).await
    }

    /// Commits a completed sale to the journal, numbering it: `sale_no` is built by `number`
    /// from the lane's next sequence number. In the same transaction the payment-code attempts
    /// its provider tenders took are marked `succeeded` and the open sale kept for a provider's
    /// payment ([`LaneDb::save_qr_sale`]) is forgotten. Returns the sequence number. Committing
    /// the same sale id twice is refused by the primary key (nothing changes).
    pub async fn commit_sale(
        &self,
        sale: &mut PosSale,
        number: impl FnOnce(i64) -> String,
        receipt: impl FnOnce(&PosSale) -> Vec<u8>,
        open_drawer: bool,
        shift_id: Option<Uuid>,
    ) -> StoreResult<i64> {
        let mut tx = self.pool.begin().await?;
        let seq: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(seq), 0) + 1 FROM sales")
            .fetch_one(&mut *tx)
            .await?;
        sale.sale_no = number(seq);
        let bytes = receipt(sale);
        let body = serde_json::to_string(&*sale).map_err(corrupt)?;
        sqlx::query(
            "INSERT INTO sales (id, seq, sale_no, completed_at, body, receipt, open_drawer, shift_id) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(sale.id.to_string())
        .bind(seq)
        .bind(&sale.sale_no)
        .bind(sale.completed_at.to_rfc3339())
        .bind(body)
        .bind(bytes)
        .bind(open_drawer)
        .bind(shift_id.map(|s| s.to_string()))
        .execute(&mut *tx)
        .await?;
        // In the same transaction: the payment-code attempts the sale took are settled in their
        // journal, and the open sale kept for a provider's payment is no longer open.
        let at = Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
        for p in sale.payments.iter().filter(|p| p.method.is_provider()) {
            sqlx::query(
                "UPDATE code_payments SET status = 'succeeded', method = ?, transaction_id = ?, \
                 updated_at = ? WHERE id = ?",
            )
            .bind(p.method.as_str())
            .bind(p.provider_ref.as_deref())
            .bind(&at)
            .bind(p.id.to_string())
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query("DELETE FROM meta WHERE key = ?")
            .bind(QR_SALE_KEY)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(seq)
    }

    /// Records that a sale's receipt has been printed.
    pub async fn mark_printed(&self, sale_id: Uuid) -> StoreResult<()> {
        sqlx::query("UPDATE sales SET printed = 1 WHERE id = ?")
            .bind(sale_id.to_string())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    fn entry(row: sqlx::sqlite::SqliteRow) -> StoreResult<JournalEntry> {
        let body: String = row.try_get("body")?;
        let outcome: Option<String> = row.try_get("outcome")?;
        Ok(JournalEntry {
            sale: serde_json::from_str(&body).map_err(corrupt)?,
            seq: row.try_get("seq")?,
            receipt: row.try_get("receipt")?,
            open_drawer: row.try_get("open_drawer")?,
            printed: row.try_get("printed")?,
            outcome: outcome.as_deref().map(parse_outcome).transpose()?,
            order_no: row.try_get("order_no")?,
            error: row.try_get("error")?,
        })
    }

    /// The most recent sale.
    pub async fn last_sale(&self) -> StoreResult<Option<JournalEntry>> {
        sqlx::query("SELECT * FROM sales ORDER BY seq DESC LIMIT 1")
            .fetch_optional(&self.pool)
            .await?
            .map(Self::entry)
            .transpose()
    }

    /// The sales whose receipt has not printed yet (the printer was out of paper, open or
    /// off-line), oldest first.
    pub async fn unprinted_sales(&self) -> StoreResult<Vec<JournalEntry>> {
        sqlx::query("SELECT * FROM sales WHERE printed = 0 ORDER BY seq")
            .fetch_all(&self.pool)
            .await?
            .into_iter()
            .map(Self::entry)
            .collect()
    }

    /// A sale of the journal by id.
    pub async fn sale(&self, id: Uuid) -> StoreResult<Option<JournalEntry>> {
        sqlx::query("SELECT * FROM sales WHERE id = ?")
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await?
            .map(Self::entry)
            .transpose()
    }

    /// All sales of the journal, oldest first.
    pub async fn all_sales(&self) -> StoreResult<Vec<JournalEntry>> {
        sqlx::query("SELECT * FROM sales ORDER BY seq")
            .fetch_all(&self.pool)
            .await?
            .into_iter()
            .map(Self::entry)
            .collect()
    }

    /// Up to `limit` sales the server has not answered yet, oldest first.
    pub async fn unsent(&self, limit: i64) -> StoreResult<Vec<PosSale>> {
        let rows: Vec<String> =
            sqlx::query_scalar("SELECT body FROM sales WHERE outcome IS NULL ORDER BY seq LIMIT ?")
                .bind(limit)
                .fetch_all(&self.pool)
                .await?;
        rows.iter()
            .map(|b| serde_json::from_str(b).map_err(corrupt))
            .collect()
    }

    /// Records the server's answers for pushed sales.
    pub async fn record_results(&self, results: &[SaleResult]) -> StoreResult<()> {
        let now = Utc::now().to_rfc3339();
        let mut tx = self.pool.begin().await?;
        for r in results {
            sqlx::query(
                "UPDATE sales SET outcome = ?, order_no = ?, points_earned = ?, \
                 points_balance = ?, error = ?, answered_at = ? WHERE id = ? AND outcome IS NULL",
            )
            .bind(outcome_str(r.outcome))
            .bind(&r.order_no)
            .bind(r.points_earned)
            .bind(r.points_balance)
            .bind(&r.error)
            .bind(&now)
            .bind(r.id.to_string())
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Counts for the status bar.
    pub async fn counts(&self) -> StoreResult<JournalCounts> {
        let row = sqlx::query(
            "SELECT \
               COALESCE(SUM(CASE WHEN outcome IS NULL THEN 1 ELSE 0 END), 0), \
               COALESCE(SUM(CASE WHEN outcome = 'rejected' THEN 1 ELSE 0 END), 0), \
               COALESCE(SUM(CASE WHEN printed = 0 THEN 1 ELSE 0 END), 0) \
             FROM sales",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(JournalCounts {
            unsent: row.try_get(0)?,
            rejected: row.try_get(1)?,
            unprinted: row.try_get(2)?,
        })
    }

    /// Opens a shift.
    pub async fn open_shift(
        &self,
        id: Uuid,
        cashier: &str,
        opening_cash_fen: i64,
        at: DateTime<Utc>,
    ) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO shifts (id, cashier, opened_at, opening_cash) VALUES (?, ?, ?, ?)",
        )
        .bind(id.to_string())
        .bind(cashier)
        .bind(at.to_rfc3339())
        .bind(opening_cash_fen)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The open shift, if any: (id, cashier, opened at, opening cash in fen).
    pub async fn open_shift_info(&self) -> StoreResult<Option<(Uuid, String, DateTime<Utc>, i64)>> {
        let row = sqlx::query(
            "SELECT id, cashier, opened_at, opening_cash FROM shifts WHERE closed_at IS NULL \
             ORDER BY opened_at DESC LIMIT 1",
        )
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| -> StoreResult<_> {
            let id: String = r.try_get(0)?;
            let opened: String = r.try_get(2)?;
            Ok((
                Uuid::from_str(&id).map_err(corrupt)?,
                r.try_get(1)?,
                DateTime::parse_from_rfc3339(&opened)
                    .map_err(corrupt)?
                    .with_timezone(&Utc),
                r.try_get(3)?,
            ))
        })
        .transpose()
    }

    /// The sales of a shift, oldest first.
    pub async fn shift_sales(&self, shift: Uuid) -> StoreResult<Vec<JournalEntry>> {
        sqlx::query("SELECT * FROM sales WHERE shift_id = ? ORDER BY seq")
            .bind(shift.to_string())
            .fetch_all(&self.pool)
            .await?
            .into_iter()
            .map(Self::entry)
            .collect()
    }

    /// Records a return made at this lane (for the shift's Z report): the refund, and the part
    /// of it handed back in cash from the drawer (kept in the `tender_refund` column, which
    /// was all of the tender part before refunds went back to the sale's own tenders).
    pub async fn record_return(
        &self,
        id: Uuid,
        sale_id: Uuid,
        refund_fen: i64,
        cash_back_fen: i64,
        shift: Option<Uuid>,
    ) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO returns (id, sale_id, created_at, refund, tender_refund, shift_id) \
             VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING",
        )
        .bind(id.to_string())
        .bind(sale_id.to_string())
        .bind(Utc::now().to_rfc3339())
        .bind(refund_fen)
        .bind(cash_back_fen)
        .bind(shift.map(|s| s.to_string()))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Returns of a shift: (count, refunds in fen, refunds handed back in cash/tender in fen).
    pub async fn shift_returns(&self, shift: Uuid) -> StoreResult<(i64, i64, i64)> {
        let row = sqlx::query(
            "SELECT COUNT(*), COALESCE(SUM(refund), 0), COALESCE(SUM(tender_refund), 0) \
             FROM returns WHERE shift_id = ?",
        )
        .bind(shift.to_string())
        .fetch_one(&self.pool)
        .await?;
        Ok((row.try_get(0)?, row.try_get(1)?, row.try_get(2)?))
    }

    /// Closes a shift with the counted cash and queues `event` (its Z report for the server)
    /// in the same transaction, so a crash never leaves a closed shift whose report the server
    /// will not get.
    pub async fn close_shift(
        &self,
        id: Uuid,
        counted_fen: i64,
        at: DateTime<Utc>,
        event: &retail_domain::wire::cash_control::LaneCashEvent,
    ) -> StoreResult<()> {
        let body = serde_json::to_string(event).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "UPDATE shifts SET closed_at = ?, counted_cash = ? WHERE id = ? AND closed_at IS NULL",
        )
        .bind(at.to_rfc3339())
        .bind(counted_fen)
        .bind(id.to_string())
        .execute(&mut *tx)
        .await?;
        crate::cash::queue_in(&mut tx, event.id, &body).await?;
        tx.commit().await?;
        Ok(())
    }
}

fn outcome_str(o: SaleOutcome) -> &'static str {
    match o {
        SaleOutcome::Applied => "applied",
        SaleOutcome::Duplicate => "duplicate",
        SaleOutcome::Rejected => "rejected",
    }
}

fn parse_outcome(s: &str) -> StoreResult<SaleOutcome> {
    match s {
        "applied" => Ok(SaleOutcome::Applied),
        "duplicate" => Ok(SaleOutcome::Duplicate),
        "rejected" => Ok(SaleOutcome::Rejected),
        other => Err(corrupt(format!("unknown sale outcome {other:?}"))),
    }
}

#[cfg(test)]
mod tests {
    use retail_domain::money::Money;
    use retail_domain::wire::catalog::ShelfStatus;

    use super::*;

    fn sku(n: u32, barcodes: &[&str]) -> SkuRecord {
        SkuRecord {
            seq: i64::from(n),
            id: Uuid::from_u128(u128::from(n)),
            sku_code: format!("S{n}"),
            product_id: Uuid::from_u128(u128::from(n) + 1_000_000),
            product_code: format!("P{n}"),
            name_zh: format!("商品{n}"),
            name_en: format!("Item {n}"),
            brand: String::new(),
            category_id: "FOOD".into(),
            spec_zh: String::new(),
            spec_en: String::new(),
            unit: "件".into(),
            weighed: false,
            status: ShelfStatus::OnShelf,
            price: Money::from_fen(100),
            member_price: None,
            store_price: None,
            barcodes: barcodes.iter().map(|c| (*c).to_owned()).collect(),
        }
    }

    fn page(items: Vec<SkuRecord>, next_since: i64) -> CatalogPage {
        CatalogPage {
            total: items.len() as i64,
            items: items.into_iter().map(CatalogItem::Sku).collect(),
            next_since,
            has_more: false,
        }
    }

    async fn owner(db: &LaneDb, code: &str) -> Option<Uuid> {
        db.sku_by_barcode(code).await.expect("lookup").map(|s| s.id)
    }

    #[tokio::test]
    async fn pages_replace_barcodes_and_span_statements() {
        let dir = tempfile::tempdir().expect("dir");
        let db = LaneDb::open(&dir.path().join("lane.db")).await.expect("db");
        // More SKUs than one statement takes, each with two codes.
        let many: Vec<SkuRecord> = (1..=1_234)
            .map(|n| sku(n, &[&format!("A{n}"), &format!("B{n}")]))
            .collect();
        db.apply_catalog_page(&page(many, 1_234))
            .await
            .expect("page");
        assert_eq!(db.sku_count().await.expect("count"), 1_234);
        assert_eq!(owner(&db, "B1234").await, Some(Uuid::from_u128(1_234)));
        assert_eq!(db.catalog_cursor().await.expect("cursor"), 1_234);
        // SKU 1 drops code A1 and SKU 2 takes it; within a page the later record wins.
        let mut moved = sku(2, &["A1", "B2"]);
        moved.seq = 2_000;
        db.apply_catalog_page(&page(vec![sku(1, &["B1"]), moved], 2_000))
            .await
            .expect("page");
        assert_eq!(owner(&db, "A1").await, Some(Uuid::from_u128(2)));
        assert_eq!(owner(&db, "A2").await, None, "SKU 2's old code is gone");
        assert_eq!(owner(&db, "B1").await, Some(Uuid::from_u128(1)));
        db.apply_catalog_page(&page(vec![sku(3, &["X"]), sku(4, &["X"])], 2_001))
            .await
            .expect("page");
        assert_eq!(owner(&db, "X").await, Some(Uuid::from_u128(4)));
        assert_eq!(owner(&db, "A3").await, None);
    }
}
