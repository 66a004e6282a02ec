//! Server configuration: a TOML file and `RETAIL_*` environment variables over safe defaults.
//!
//! Precedence, lowest first: built-in defaults, the file named by `RETAIL_CONFIG` (or
//! `retail.toml` in the working directory when present), `RETAIL_…` variables (nested keys
//! separated by `__`, e.g. `RETAIL_ORDERS__PAYMENT_TIMEOUT_SECS=600`), and finally the
//! conventional `DATABASE_URL` and `MQTT_URL`.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use retail_domain::barcode::VariableMeasureLayout;
use retail_domain::points::PointsRules;
use serde::{Deserialize, Serialize};

/// The version of the privacy policy the shop shows at `/privacy` (PIPL). A member accepts it
/// when signing up; when it changes, a logged-in member accepts the new version before using the
/// member centre again. Change it together with the policy text in `web::shop::member`.
pub const PRIVACY_POLICY_VERSION: &str = "2026-12-01";

/// The embedded database of the one-step start.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://data/retail.db";

/// Everything the server needs to start.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Settings {
    /// Address to listen on; port 0 picks a free port (tests).
    pub listen: SocketAddr,
    /// The URL shoppers and devices use to reach this server (links, payment callbacks).
    /// Empty means "derive from the bound address".
    pub public_url: String,
    /// `sqlite://path` (default, embedded) or `postgres://…` (production).
    pub database_url: String,
    /// Folder for the embedded defaults (SQLite file, generated secrets).
    pub data_dir: PathBuf,
    /// Demo mode: load the demo chain (with its shared demo password) into an empty database,
    /// and turn on the sandbox payment provider and the sandbox SMS that shows log-in codes on
    /// screen. Off unless set, except for the README's one-step start: with no `database_url`
    /// configured at all (the embedded `sqlite://data/retail.db`), [`Settings::load`] turns it
    /// on. Any other configuration starts empty, in production mode.
    pub demo: bool,
    /// Log as JSON lines instead of human-readable text.
    pub log_json: bool,
    /// Secrets; generated into `data_dir/secrets.toml` on first start with SQLite when absent.
    pub secrets: Secrets,
    /// Order rules.
    pub orders: OrderSettings,
    /// Staff authentication.
    pub auth: AuthSettings,
    /// Payment providers (WeChat Pay, Alipay; the sandbox in demo mode) and refund rules.
    pub payments: PaymentSettings,
    /// Points, tiers and redemption.
    pub points: PointsRules,
    /// The store bus (MQTT).
    pub mqtt: MqttSettings,
    /// Receipt codes: claiming a sale's points after the fact.
    #[serde(default)]
    pub receipts: ReceiptSettings,
    /// The chain's barcodes: how the scales' labels are laid out.
    #[serde(default)]
    pub barcodes: BarcodeSettings,
    /// Who may read the Prometheus `/metrics`.
    #[serde(default)]
    pub metrics: MetricsSettings,
    /// SMS log-in codes: the provider and the limits.
    #[serde(default)]
    pub sms: SmsSettings,
    /// What staff may do to a member's account by hand (top-ups, point adjustments).
    #[serde(default)]
    pub members: MemberAccountSettings,
    /// Request and database time limits under overload.
    #[serde(default)]
    pub load: LoadSettings,
    /// TLS on the server's own listeners (HTTPS, and MQTT over TLS on the embedded broker).
    #[serde(default)]
    pub tls: TlsSettings,
    /// Uploaded images (product images, return photos): limits and where they are kept.
    #[serde(default)]
    pub media: MediaSettings,
    /// Delivery: same-city delivery from stores and the carrier webhook.
    #[serde(default)]
    pub delivery: DeliverySettings,
    /// Event tracking (埋点): how long raw events are kept, how often a client may send them.
    #[serde(default)]
    pub events: EventSettings,
    /// Sales analytics: how often the sales rollup runs.
    #[serde(default)]
    pub sales_report: SalesReportSettings,
    /// Merchants (B2B2C): the after-sale window their settlement statements stay frozen.
    #[serde(default)]
    pub merchants: MerchantSettings,
    /// Bargains (砍价): how many helps a member gives a day.
    #[serde(default)]
    pub bargains: BargainSettings,
    /// Distribution (分销): how buyers are bound, how many levels earn, who becomes a
    /// distributor by rule.
    #[serde(default)]
    pub distribution: DistributionSettings,
    /// Customer-service chat: default working hours, message and connection limits.
    #[serde(default)]
    pub chat: ChatSettings,
    /// The customer-service bot: when it answers, when it hands over.
    #[serde(default)]
    pub service_bot: ServiceBotSettings,
    /// Notifications that reach the shopper: the outbox's retries, the reminders, and the
    /// WeChat mini-program whose subscribe messages are sent.
    #[serde(default)]
    pub notifications: NotificationSettings,
    /// Member tags and segments: how often RFM and the rule tags are computed, the rules'
    /// thresholds.
    #[serde(default)]
    pub segments: SegmentSettings,
    /// The daily export to a big-data platform (Parquet files per China day) and its schedule.
    #[serde(default)]
    pub export: ExportSettings,
    /// Recommendations: how often the job recomputes the lists, what it reads and keeps.
    #[serde(default)]
    pub recommendations: RecommendationSettings,
    /// Electronic shelf labels: the vendor adapter, batches, retries, the markdown scheduler.
    #[serde(default)]
    pub esl: EslSettings,
    /// Webhooks: how often the deliverers look, batches, timeouts, retries, auto-disable.
    #[serde(default)]
    pub webhooks: WebhookSettings,
    /// The change feeds: how long their changes are kept.
    #[serde(default)]
    pub changes: ChangeFeedSettings,
    /// Running as several identical instances on one PostgreSQL database (docs/OPERATIONS.md).
    #[serde(default)]
    pub cluster: ClusterSettings,
}

/// Webhook deliveries (issue 20, `app::webhooks`): each active endpoint's deliverer looks for
/// new changes and due deliveries every `tick_millis`, sends up to `batch` at a time
/// (`concurrency` in flight), waits `timeout_millis` for an answer, retries a failed delivery
/// after `backoff_millis`, doubling up to `max_backoff_millis`, for `retry_secs` (then it is
/// failed), and disables an endpoint whose attempts failed `disable_after_failures` times in a
/// row over at least `disable_after_secs`.
///
/// ```toml
/// [webhooks]
/// tick_millis = 200
/// batch = 200
/// concurrency = 32
/// timeout_millis = 10000
/// backoff_millis = 5000
/// max_backoff_millis = 3600000
/// retry_secs = 86400
/// disable_after_failures = 20
/// disable_after_secs = 86400
/// ```
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct WebhookSettings {
    /// How often a deliverer looks for work when idle (ms, 10 to 60000).
    pub tick_millis: u64,
    /// Deliveries claimed at a time per endpoint (1 to 1000).
    pub batch: i64,
    /// Requests in flight per endpoint (1 to 256).
    pub concurrency: usize,
    /// How long to wait for the receiver's answer (ms, 100 to 60000).
    pub timeout_millis: u64,
    /// First retry delay (ms, at least 1).
    pub backoff_millis: u64,
    /// Longest retry delay (ms, at least `backoff_millis`).
    pub max_backoff_millis: u64,
    /// How long a delivery is retried before it is failed (s, at least 1).
    pub retry_secs: u64,
    /// Failed attempts in a row (at least 1) …
    pub disable_after_failures: i64,
    /// … over at least this long (s) that disable an endpoint.
    pub disable_after_secs: u64,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        Self {
            tick_millis: 200,
            batch: 200,
            concurrency: 32,
            timeout_millis: 10_000,
            backoff_millis: 5_000,
            max_backoff_millis: 3_600_000,
            retry_secs: 86_400,
            disable_after_failures: 20,
            disable_after_secs: 86_400,
        }
    }
}

/// The change feeds (`GET /api/v1/changes/{feed}`, webhooks): a change is kept
/// `retention_days` after its commit and for as long as an active webhook endpoint of its feed
/// has not turned it into a delivery, then pruned hourly (docs/CONTRACTS.md, "Change feeds").
/// 0 keeps every change.
///
/// ```toml
/// [changes]
/// retention_days = 30   # RETAIL_CHANGES__RETENTION_DAYS
/// ```
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct ChangeFeedSettings {
    /// Days a change is kept after its commit (0: for ever).
    pub retention_days: u32,
}

impl Default for ChangeFeedSettings {
    fn default() -> Self {
        Self { retention_days: 30 }
    }
}

/// Several server instances behind a load balancer on one PostgreSQL database and one external
/// MQTT broker (docs/OPERATIONS.md). With `instances = 1` (the default) nothing changes; with
/// more, rate limits and log-in throttles are counted in the database, caches are invalidated
/// across instances through PostgreSQL `LISTEN/NOTIFY`, and chat messages reach sockets held by
/// any instance. Periodic jobs are guarded by database leases whatever the count.
///
/// ```toml
/// [cluster]
/// instances = 3          # RETAIL_CLUSTER__INSTANCES
/// instance_id = "web-1"  # RETAIL_CLUSTER__INSTANCE_ID; empty: a random id per start
/// trusted_proxies = ["10.0.0.0/8"]  # the load balancers whose X-Forwarded-For is believed
/// ```
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct ClusterSettings {
    /// How many instances share the database (1: a single process).
    pub instances: u32,
    /// This instance's name in job leases and logs (empty: a random id at each start). Distinct
    /// per instance when set.
    pub instance_id: String,
    /// The reverse proxies and load balancers in front of the instances (addresses or CIDR
    /// blocks): a request from one of them counts as coming from the address in its
    /// `X-Forwarded-For` ([`crate::forwarded::client_address`]), so per-address limits see the
    /// shopper, not the proxy. Empty (the default): the TCP peer, whatever the header says.
    pub trusted_proxies: Vec<crate::forwarded::TrustedProxy>,
}

impl Default for ClusterSettings {
    fn default() -> Self {
        Self {
            instances: 1,
            instance_id: String::new(),
            trusted_proxies: Vec::new(),
        }
    }
}

impl WebhookSettings {
    /// Checks the ranges.
    pub fn validate(&self) -> anyhow::Result<()> {
        anyhow::ensure!(
            (10..=60_000).contains(&self.tick_millis),
            "webhooks.tick_millis must be 10 to 60000"
        );
        anyhow::ensure!(
            (1..=1000).contains(&self.batch),
            "webhooks.batch must be 1 to 1000"
        );
        anyhow::ensure!(
            (1..=256).contains(&self.concurrency),
            "webhooks.concurrency must be 1 to 256"
        );
        anyhow::ensure!(
            (100..=60_000).contains(&self.timeout_millis),
            "webhooks.timeout_millis must be 100 to 60000"
        );
        anyhow::ensure!(
            self.backoff_millis >= 1 && self.max_backoff_millis >= self.backoff_millis,
            "webhooks.backoff_millis must be at least 1 and max_backoff_millis at least backoff_millis"
        );
        anyhow::ensure!(
            self.retry_secs >= 1 && self.disable_after_failures >= 1,
            "webhooks.retry_secs and webhooks.disable_after_failures must be at least 1"
        );
        Ok(())
    }
}

impl ClusterSettings {
    /// True when more than one instance is declared.
    pub fn is_shared(&self) -> bool {
        self.instances > 1
    }
}

/// Electronic shelf labels (issue 21, `app::esl`): which vendor receives the label updates
/// queued per store, how many go in one batch, how a rejected batch is retried (after
/// `retry_secs`, doubling up to `max_retry_secs`), and how long before a scheduled price change
/// (a promotion's start or end, a markdown's daily window opening or closing) the labels are
/// sent the new price (`lead_secs`: the shelf gets it before the lanes apply it).
///
/// `vendor` is `none` (labels are queued, nothing is sent), `pricer` (the Pricer Plaza public
/// REST API, `[esl.pricer]`), or `virtual` (accepts every update: the demo's virtual label
/// wall; demo mode only). With `none` in demo mode the virtual wall is used.
///
/// ```toml
/// [esl]
/// vendor = "pricer"
/// batch_size = 500
/// retry_secs = 10
/// max_retry_secs = 600
/// lead_secs = 60
/// tick_millis = 1000
///
/// [esl.pricer]
/// auth_url = "https://central-manager.mytenant.pcm.pricer-plaza.com/api/public/auth/v1/login"
/// store_url = "https://{store}.mytenant.pcm.pricer-plaza.com"
/// username = "api@example.com"
/// password = "…"              # RETAIL_ESL__PRICER__PASSWORD
/// presentation = "NORMAL"
/// timeout_secs = 10
/// ```
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct EslSettings {
    /// `none`, `pricer` or `virtual` (demo mode only).
    pub vendor: String,
    /// Label updates per batch (1 to 5000).
    pub batch_size: usize,
    /// Seconds before the first retry of a rejected batch (at least 1).
    pub retry_secs: u64,
    /// Longest wait between retries (at least `retry_secs`).
    pub max_retry_secs: u64,
    /// Seconds before a scheduled price change that the labels get it (0 to 3600).
    pub lead_secs: u64,
    /// How often the worker looks for due labels and boundaries (ms, 50 to 60000).
    pub tick_millis: u64,
    /// The Pricer Plaza API.
    pub pricer: PricerSettings,
}

impl Default for EslSettings {
    fn default() -> Self {
        Self {
            vendor: "none".into(),
            batch_size: 500,
            retry_secs: 10,
            max_retry_secs: 600,
            lead_secs: 60,
            tick_millis: 1000,
            pricer: PricerSettings::default(),
        }
    }
}

/// The Pricer Plaza public REST API (`[esl.pricer]`): the tenant's log-in URL (Basic auth
/// answers a JWT), the store's API base (`{store}` is replaced by the store code in lower
/// case, Pricer's store identifier), the API account, and the template name items are shown
/// with.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct PricerSettings {
    /// `https://central-manager.<tenant>.pcm.pricer-plaza.com/api/public/auth/v1/login`.
    pub auth_url: String,
    /// `https://{store}.<tenant>.pcm.pricer-plaza.com`.
    pub store_url: String,
    /// The API account's login.
    pub username: String,
    /// Its password.
    pub password: String,
    /// The Pricer template (presentation) name; empty: `NORMAL`.
    pub presentation: String,
    /// Request timeout in seconds (0: 10).
    pub timeout_secs: u64,
}

impl EslSettings {
    /// Refuses an unknown vendor, the virtual wall outside demo mode, a half-configured Pricer
    /// and out-of-range numbers.
    pub fn validate(&self, demo: bool) -> anyhow::Result<()> {
        match self.vendor.as_str() {
            "none" => {}
            "virtual" => anyhow::ensure!(
                demo,
                "esl.vendor = \"virtual\" (the virtual label wall) is for demo mode only"
            ),
            "pricer" => {
                for (name, value) in [
                    ("auth_url", &self.pricer.auth_url),
                    ("store_url", &self.pricer.store_url),
                    ("username", &self.pricer.username),
                    ("password", &self.pricer.password),
                ] {
                    anyhow::ensure!(
                        !value.trim().is_empty(),
                        "esl.pricer.{name} is missing (RETAIL_ESL__PRICER__{})",
                        name.to_uppercase()
                    );
                }
                for (name, value) in [
                    ("auth_url", &self.pricer.auth_url),
                    ("store_url", &self.pricer.store_url),
                ] {
                    anyhow::ensure!(
                        value.starts_with("https://") || value.starts_with("http://"),
                        "esl.pricer.{name} must be an http(s):// address"
                    );
                }
                anyhow::ensure!(
                    self.pricer.store_url.contains("{store}"),
                    "esl.pricer.store_url must contain {{store}} (the store's Pricer id)"
                );
            }
            other => anyhow::bail!("esl.vendor must be none, pricer or virtual, not {other:?}"),
        }
        anyhow::ensure!(
            (1..=5000).contains(&self.batch_size),
            "esl.batch_size must be 1 to 5000"
        );
        anyhow::ensure!(
            self.retry_secs >= 1 && self.max_retry_secs >= self.retry_secs,
            "esl.retry_secs must be at least 1 and esl.max_retry_secs at least esl.retry_secs"
        );
        anyhow::ensure!(self.lead_secs <= 3600, "esl.lead_secs must be 0 to 3600");
        anyhow::ensure!(
            (50..=60_000).contains(&self.tick_millis),
            "esl.tick_millis must be 50 to 60000"
        );
        Ok(())
    }
}

/// Member tags and segments (issue 19, `app::segments`): every `every_secs` (0: never; the
/// first run at start) the job computes every member's RFM scores and rule tags from the paid
/// orders of all channels, `batch` members per transaction. Scores are fixed thresholds: R is 5
/// when the last purchase is at most `recency_days[0]` days ago, 4 at most `recency_days[1]`, …,
/// 1 beyond `recency_days[3]`; F and M are 1 below `frequency[0]` / `monetary_fen[0]`, 2 from
/// it, …, 5 from the fourth. Tags: `new` (first purchase within `new_days`), `lapsed_60` (no
/// purchase for `lapsed_days`), `bargain_hunter` and `pickup_first` (more than half of at least
/// `habit_min_orders` orders), `high_value` (M score at least `high_value_m_score`).
///
/// ```toml
/// [segments]
/// every_secs = 3600
/// batch = 500
/// new_days = 30
/// lapsed_days = 60
/// habit_min_orders = 2
/// high_value_m_score = 5
/// recency_days = [7, 14, 30, 60]
/// frequency = [2, 4, 8, 16]
/// monetary_fen = [10000, 50000, 100000, 300000]
/// ```
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct SegmentSettings {
    /// Seconds between runs (0: this server never runs the job).
    pub every_secs: u64,
    /// Members per transaction.
    pub batch: u32,
    /// `new`: the first purchase at most this many days ago.
    pub new_days: i64,
    /// `lapsed_60`: no purchase for more than this many days.
    pub lapsed_days: i64,
    /// `bargain_hunter`, `pickup_first`: the fewest orders (online orders) that show a habit.
    pub habit_min_orders: i64,
    /// `high_value`: the lowest M score.
    pub high_value_m_score: i64,
    /// R score thresholds (days since the last purchase, ascending): 5, 4, 3, 2 at or under.
    pub recency_days: [i64; 4],
    /// F score thresholds (paid orders, ascending): 2, 3, 4, 5 from.
    pub frequency: [i64; 4],
    /// M score thresholds (fen spent, ascending): 2, 3, 4, 5 from.
    pub monetary_fen: [i64; 4],
}

impl Default for SegmentSettings {
    fn default() -> Self {
        Self {
            every_secs: 3600,
            batch: 500,
            new_days: 30,
            lapsed_days: 60,
            habit_min_orders: 2,
            high_value_m_score: 5,
            recency_days: [7, 14, 30, 60],
            frequency: [2, 4, 8, 16],
            monetary_fen: [10_000, 50_000, 100_000, 300_000],
        }
    }
}

/// The daily export to a big-data platform (issue 19, `app::export`, docs/CONTRACTS.md "Export
/// to a big-data platform"): events, orders, order lines, lane sales, stock movements and
/// members (pseudonymised) of one China day as Parquet files with a manifest, to a folder or
/// an S3-compatible bucket. When `enabled`, the server exports every day at `hour` (China
/// time) the `days_back` days before today (1: yesterday; more re-exports days whose late
/// events or order changes arrived since). `retail-server export --day YYYY-MM-DD` and the
/// console's "run now" export one day whatever `enabled` says.
///
/// ```toml
/// [export]
/// enabled = false
/// destination = "folder"        # or "s3"
/// folder = ""                   # empty: data_dir/export
/// hour = 3                      # China time, 0–23
/// days_back = 1
/// rows_per_group = 65536        # rows read per page and written per Parquet row group
/// pseudonym_key = ""            # 64 hex digits; empty: derived from secrets.lookup_key
/// s3_prefix = "retail"          # object keys start with it (empty: the bucket's root)
///
/// [export.s3]                   # destination = "s3": the bucket, keys as in [media.s3]
/// endpoint = "https://oss-cn-shanghai.aliyuncs.com"
/// bucket = "retail-export"
/// ```
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct ExportSettings {
    /// Export every day at `hour`.
    pub enabled: bool,
    /// `folder` or `s3`.
    pub destination: String,
    /// The folder written (empty: `data_dir/export`).
    pub folder: PathBuf,
    /// The bucket written when `destination = "s3"`.
    pub s3: S3Settings,
    /// The object keys' prefix in the bucket (no leading or trailing `/` needed).
    pub s3_prefix: String,
    /// The hour (China time, 0–23) of the daily run.
    pub hour: u32,
    /// How many days before today the daily run exports (1: yesterday only).
    pub days_back: u32,
    /// Rows read per page and written per Parquet row group.
    pub rows_per_group: usize,
    /// The key members' pseudonyms are computed with (HMAC-SHA256), 64 hex digits; empty:
    /// derived from `secrets.lookup_key`. Changing it changes every member's pseudonym.
    pub pseudonym_key: String,
}

impl Default for ExportSettings {
    fn default() -> Self {
        Self {
            enabled: false,
            destination: "folder".into(),
            folder: PathBuf::new(),
            s3: S3Settings::default(),
            s3_prefix: "retail".into(),
            hour: 3,
            days_back: 1,
            rows_per_group: 65_536,
            pseudonym_key: String::new(),
        }
    }
}

impl ExportSettings {
    /// Checks the settings.
    pub fn validate(&self) -> anyhow::Result<()> {
        anyhow::ensure!(
            matches!(self.destination.as_str(), "folder" | "s3"),
            "export.destination must be \"folder\" or \"s3\""
        );
        anyhow::ensure!(
            self.destination != "s3" || self.s3.enabled(),
            "export.destination = \"s3\" needs export.s3.endpoint and the bucket"
        );
        if self.destination == "s3" {
            self.s3.validate()?;
        }
        anyhow::ensure!(self.hour <= 23, "export.hour must be 0 to 23");
        anyhow::ensure!(
            (1..=366).contains(&self.days_back),
            "export.days_back must be 1 to 366"
        );
        anyhow::ensure!(
            (1_000..=1_048_576).contains(&self.rows_per_group),
            "export.rows_per_group must be 1000 to 1048576"
        );
        anyhow::ensure!(
            self.pseudonym_key.is_empty()
                || (self.pseudonym_key.len() == 64
                    && self.pseudonym_key.bytes().all(|b| b.is_ascii_hexdigit())),
            "export.pseudonym_key must be 64 hex digits (or empty)"
        );
        Ok(())
    }
}

/// Recommendations (issue 19, `app::recommendations`): the job recomputes the precomputed
/// lists every `every_secs` seconds (the first run `first_run_secs` after start; 0 turns the
/// job off) from the sold orders and lane sales of the last `history_days` days and the
/// members' product-page views of the last `view_days` days, writing `batch` subjects per
/// transaction. A pair of SKUs is "bought together" once it shares at least `min_support`
/// orders; a list keeps `list_len` items. "For you" leaves out what the member bought in the
/// last `exclude_bought_days` days; "popular at your store" counts the last `popular_days` days.
///
/// ```toml
/// [recommendations]
/// every_secs = 3600
/// first_run_secs = 60
/// history_days = 180
/// view_days = 60
/// popular_days = 30
/// min_support = 2
/// list_len = 20
/// exclude_bought_days = 14
/// batch = 500
/// ```
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct RecommendationSettings {
    /// Seconds between runs of the job (0: never).
    pub every_secs: u64,
    /// Seconds after start before the first run.
    pub first_run_secs: u64,
    /// Days of sold orders read.
    pub history_days: u32,
    /// Days of product-page views read.
    pub view_days: u32,
    /// Days of sales "popular at your store" counts.
    pub popular_days: u32,
    /// Orders a pair must share to count as bought together.
    pub min_support: u32,
    /// Items kept per list.
    pub list_len: usize,
    /// Days a bought SKU is left out of the member's "for you".
    pub exclude_bought_days: u32,
    /// Orders read, and subjects written, per statement or transaction.
    pub batch: usize,
}

impl Default for RecommendationSettings {
    fn default() -> Self {
        Self {
            every_secs: 3600,
            first_run_secs: 60,
            history_days: 180,
            view_days: 60,
            popular_days: 30,
            min_support: 2,
            list_len: 20,
            exclude_bought_days: 14,
            batch: 500,
        }
    }
}

/// Customer-service chat (issue 18, `app::chat`): a queue without hours of its own set in the
/// console is open from `opens` to `closes` (China time, `HH:MM`); outside them the shopper is
/// told and messages wait. A text holds at most `max_text_chars` characters; one connection
/// sends at most `messages_per_second` messages a second with bursts of `burst` (more is
/// refused with `rate_limited`, and a connection that keeps flooding is closed).
///
/// ```toml
/// [chat]
/// opens = "09:00"
/// closes = "21:00"
/// max_text_chars = 1000
/// messages_per_second = 5
/// burst = 20
/// ```
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct ChatSettings {
    /// When queues open by default (`HH:MM`, China time).
    pub opens: String,
    /// When queues close by default (`HH:MM`, China time; `24:00` for midnight).
    pub closes: String,
    /// The longest text message, in characters.
    pub max_text_chars: usize,
    /// Messages one connection may send a second.
    pub messages_per_second: u32,
    /// Messages one connection may send at once.
    pub burst: u32,
}

impl Default for ChatSettings {
    fn default() -> Self {
        Self {
            opens: "09:00".into(),
            closes: "21:00".into(),
            max_text_chars: 1000,
            messages_per_second: 5,
            burst: 20,
        }
    }
}

/// The customer-service bot (issue 18, `app::service_bot`): an FAQ entry answers when its
/// ranking score (about 0 to 1: how much of the question the entry explains, plus keyword
/// boosts) reaches `min_score`, otherwise a person takes over; a question holding one of
/// `handover_keywords` (case-insensitive) goes to a person at once; one client address may ask
/// `asks_per_minute_per_address` questions a minute through `POST /api/v1/faq/ask` (more: 429).
///
/// ```toml
/// [service_bot]
/// min_score = 0.2
/// handover_keywords = ["投诉", "12315", "律师", "起诉", "曝光", "消协", "complaint", "lawyer"]
/// asks_per_minute_per_address = 30
/// ```
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct ServiceBotSettings {
    /// The lowest score an FAQ answer needs (0 to 2; below it the bot hands over).
    pub min_score: f32,
    /// Words that hand a question over to a person at once.
    pub handover_keywords: Vec<String>,
    /// Questions one client address may ask a minute through the API.
    pub asks_per_minute_per_address: u32,
}

impl Default for ServiceBotSettings {
    fn default() -> Self {
        Self {
            min_score: 0.2,
            handover_keywords: [
                "投诉",
                "12315",
                "律师",
                "起诉",
                "曝光",
                "消协",
                "complaint",
                "lawyer",
            ]
            .into_iter()
            .map(str::to_owned)
            .collect(),
            asks_per_minute_per_address: 30,
        }
    }
}

impl ChatSettings {
    /// The default hours as minutes after midnight.
    ///
    /// # Errors
    /// When `opens` or `closes` is not `HH:MM`, or the queue would close before it opens.
    pub fn default_hours(&self) -> anyhow::Result<(i64, i64)> {
        let opens = parse_clock(&self.opens)
            .ok_or_else(|| anyhow::anyhow!("chat.opens must be HH:MM, not {:?}", self.opens))?;
        let closes = parse_clock(&self.closes)
            .ok_or_else(|| anyhow::anyhow!("chat.closes must be HH:MM, not {:?}", self.closes))?;
        anyhow::ensure!(opens < closes, "chat.opens must come before chat.closes");
        anyhow::ensure!(
            self.max_text_chars > 0 && self.messages_per_second > 0 && self.burst > 0,
            "chat.max_text_chars, messages_per_second and burst must be at least 1"
        );
        Ok((opens, closes))
    }
}

/// Minutes after midnight of an `HH:MM` clock time (`24:00` allowed); `None` when it is not one.
pub fn parse_clock(text: &str) -> Option<i64> {
    let (h, m) = text.trim().split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let h: i64 = h.parse().ok()?;
    let m: i64 = m.parse().ok()?;
    match (h, m) {
        (24, 0) => Some(1440),
        (0..=23, 0..=59) => Some(h * 60 + m),
        _ => None,
    }
}

/// Notifications (issue 18): how the outbox delivers (batches, retries with exponential
/// backoff, then the dead-letter list), when reminders go out, and the WeChat mini-program
/// (its app id and secret) that sends subscribe messages. SMS goes through `[sms]`.
///
/// ```toml
/// [notifications]
/// max_attempts = 5                 # then the row is dead-lettered with its reason
/// retry_base_millis = 30000        # the first retry after this; each next one twice as late
/// retry_max_millis = 3600000       # … but never later than this
/// deliver_every_millis = 1000      # how often the outbox is swept (0: not by this server)
/// batch = 200                      # rows claimed per round
/// concurrency = 32                 # messages in flight at once
/// lease_secs = 300                 # a row left "sending" this long is dead-lettered (never re-sent)
/// pickup_reminder_hours = 2        # remind this long before an uncollected pickup is cancelled (0: never)
/// points_expiry_notice_days = 7    # tell members of points expiring within this many days (0: never)
///
/// [notifications.wechat]
/// app_id = "wx…"                   # the mini-program's AppID (empty: no subscribe messages)
/// app_secret = "…"
/// api_base_url = "https://api.weixin.qq.com"
/// miniprogram_state = "formal"     # developer | trial | formal
/// lang = "zh_CN"                   # zh_CN | en_US | zh_HK | zh_TW
/// ```
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct NotificationSettings {
    /// Attempts before a row is dead-lettered.
    pub max_attempts: u32,
    /// The first retry's delay (ms); each next one doubles.
    pub retry_base_millis: u64,
    /// The longest retry delay (ms).
    pub retry_max_millis: u64,
    /// How often the outbox is swept (ms); 0: this server does not sweep it (nor send
    /// reminders).
    pub deliver_every_millis: u64,
    /// Rows claimed per round.
    pub batch: u32,
    /// Messages in flight at once.
    pub concurrency: u32,
    /// A row left `sending` this long (the server stopped mid-send) is dead-lettered.
    pub lease_secs: u64,
    /// Hours before an uncollected pickup is cancelled that its member is reminded (0: never).
    pub pickup_reminder_hours: u32,
    /// Days before points expire that their member is told (0: never).
    pub points_expiry_notice_days: u32,
    /// The WeChat mini-program that sends subscribe messages.
    pub wechat: WechatSubscribeSettings,
}

impl Default for NotificationSettings {
    fn default() -> Self {
        Self {
            max_attempts: 5,
            retry_base_millis: 30_000,
            retry_max_millis: 3_600_000,
            deliver_every_millis: 1_000,
            batch: 200,
            concurrency: 32,
            lease_secs: 300,
            pickup_reminder_hours: 2,
            points_expiry_notice_days: 7,
            wechat: WechatSubscribeSettings::default(),
        }
    }
}

/// The WeChat mini-program whose subscribe messages (订阅消息) are sent.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct WechatSubscribeSettings {
    /// The mini-program's AppID; empty: no subscribe messages.
    pub app_id: String,
    /// The mini-program's AppSecret.
    pub app_secret: String,
    /// The API's base URL (default `https://api.weixin.qq.com`).
    pub api_base_url: String,
    /// `developer`, `trial` or `formal`: which version of the mini-program the message opens.
    pub miniprogram_state: String,
    /// `zh_CN`, `en_US`, `zh_HK` or `zh_TW`.
    pub lang: String,
}

impl Default for WechatSubscribeSettings {
    fn default() -> Self {
        Self {
            app_id: String::new(),
            app_secret: String::new(),
            api_base_url: "https://api.weixin.qq.com".into(),
            miniprogram_state: "formal".into(),
            lang: "zh_CN".into(),
        }
    }
}

/// Bargains (砍价, issue 17): a member helps at most this many bargains a China day (a help
/// beyond it is refused with 409 `daily_help_limit`, nothing changed).
///
/// ```toml
/// [bargains]
/// daily_help_limit = 5
/// ```
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct BargainSettings {
    /// Helps one member gives a day (at least 1).
    pub daily_help_limit: u32,
}

impl Default for BargainSettings {
    fn default() -> Self {
        Self {
            daily_help_limit: 5,
        }
    }
}

/// Distribution (分销, issue 17; `app::distribution`): a buyer who opens a distributor's share
/// link is bound to that distributor for `bind_days` (first touch: a binding in force is never
/// taken over); commission is paid on `levels` levels (1 to 3: the bound distributor, its
/// parent, its grandparent); a member becomes a distributor by rule after `auto_after_paid_orders`
/// paid orders or `auto_after_spent` spent (0: that rule off), otherwise by application and
/// head office's approval. Commission stays frozen until the after-sale window of the line's
/// category (the after-sale rules) has passed since the order was fulfilled, plus
/// `settle_after_days`.
///
/// ```toml
/// [distribution]
/// bind_days = 15
/// levels = 1
/// auto_after_paid_orders = 0
/// auto_after_spent = "0.00"
/// settle_after_days = 0
/// ```
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct DistributionSettings {
    /// Days a buyer stays bound to the distributor whose link they opened first.
    pub bind_days: u32,
    /// Levels that earn commission: 1 to 3 (values outside are clamped).
    pub levels: u32,
    /// Paid orders after which a member becomes a distributor without applying (0: off).
    pub auto_after_paid_orders: u32,
    /// Spent (paid orders' totals) after which a member becomes a distributor (0: off).
    pub auto_after_spent: retail_domain::money::Money,
    /// Days added to the after-sale window before frozen commission is released.
    pub settle_after_days: u32,
}

impl Default for DistributionSettings {
    fn default() -> Self {
        Self {
            bind_days: 15,
            levels: 1,
            auto_after_paid_orders: 0,
            auto_after_spent: retail_domain::money::Money::ZERO,
            settle_after_days: 0,
        }
    }
}

/// Event tracking (issue 19, `docs/EVENTS.md`): raw events are deleted by the sweeper this many
/// days after they happened (the daily counts stay), and one client address sends at most this
/// many batches a minute (more: 429).
///
/// ```toml
/// [events]
/// retention_days = 90
/// batches_per_minute_per_address = 120
/// ```
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct EventSettings {
    /// Days raw events are kept (at least 1).
    pub retention_days: u32,
    /// Batches one client address may send in a minute.
    pub batches_per_minute_per_address: u32,
}

impl Default for EventSettings {
    fn default() -> Self {
        Self {
            retention_days: 90,
            batches_per_minute_per_address: 120,
        }
    }
}

/// Sales analytics (issue 19): the rollup job that keeps the daily sales
/// (`app::sales_report::run_rollup`).
///
/// ```toml
/// [sales_report]
/// rollup_interval_millis = 10000
/// ```
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct SalesReportSettings {
    /// How often the sweeper adds the new sales to the rollup (ms, at least the sweep interval).
    pub rollup_interval_millis: u64,
}

impl Default for SalesReportSettings {
    fn default() -> Self {
        Self {
            rollup_interval_millis: 10_000,
        }
    }
}

/// Merchants (issue 20): a merchant's daily settlement statement stays `frozen` until the end
/// of its day plus `after_sale_days` (refunds may still come), then head office may pay it out
/// (`app::merchant_statements`).
///
/// ```toml
/// [merchants]
/// after_sale_days = 7
/// ```
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct MerchantSettings {
    /// Days after a statement's day before it may be paid out (0–365).
    pub after_sale_days: u32,
}

impl Default for MerchantSettings {
    fn default() -> Self {
        Self { after_sale_days: 7 }
    }
}

/// Uploaded images (issue 16): product images and after-sales photos are checked against these
/// limits before they are decoded, re-encoded and thumbnailed, then kept under
/// `data_dir/media/`, or in an S3-compatible bucket when `[media.s3]` names one.
///
/// ```toml
/// [media]
/// max_upload_bytes = 15728640   # 15 MiB per image
/// max_pixels = 50000000         # width × height
/// max_side = 12000              # either side, in pixels
/// poster_font = "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"   # share posters' CJK font
/// poster_cache_mib = 32         # rendered posters kept in memory (about 320 KB each)
///
/// [media.s3]
/// endpoint = "https://oss-cn-shanghai.aliyuncs.com"   # any S3-compatible service
/// bucket = "retail-media"
/// region = "cn-shanghai"
/// access_key_id = "…"
/// secret_access_key = "…"       # or RETAIL_MEDIA__S3__SECRET_ACCESS_KEY
/// path_style = true             # bucket in the path (MinIO and most others) or in the host
/// ```
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct MediaSettings {
    /// Largest upload of one image, in bytes.
    pub max_upload_bytes: usize,
    /// Most pixels (width × height) an image may declare.
    pub max_pixels: u64,
    /// Longest side an image may declare, in pixels.
    pub max_side: u32,
    /// An S3-compatible bucket (empty endpoint: the data folder).
    pub s3: S3Settings,
    /// The font share posters are drawn with: a TrueType/OpenType file or collection covering
    /// Chinese (the default is WenQuanYi Micro Hei, Debian's `fonts-wqy-microhei`).
    pub poster_font: PathBuf,
    /// How much memory rendered share posters may take, in MiB (a poster is about 320 KB).
    pub poster_cache_mib: usize,
}

impl Default for MediaSettings {
    fn default() -> Self {
        Self {
            max_upload_bytes: 15 * 1024 * 1024,
            max_pixels: 50_000_000,
            max_side: 12_000,
            s3: S3Settings::default(),
            poster_font: PathBuf::from("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"),
            poster_cache_mib: 32,
        }
    }
}

/// An S3-compatible bucket (requests signed with AWS Signature Version 4).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct S3Settings {
    /// The service's base URL, e.g. `https://s3.eu-west-1.amazonaws.com`; empty: no bucket.
    pub endpoint: String,
    /// The bucket's name.
    pub bucket: String,
    /// The region the signature names (`us-east-1` when the service does not care).
    pub region: String,
    /// The access key id.
    pub access_key_id: String,
    /// The secret access key.
    pub secret_access_key: String,
    /// The bucket in the URL's path (true) or in its host name (false).
    pub path_style: bool,
}

impl Default for S3Settings {
    fn default() -> Self {
        Self {
            endpoint: String::new(),
            bucket: String::new(),
            region: "us-east-1".into(),
            access_key_id: String::new(),
            secret_access_key: String::new(),
            path_style: true,
        }
    }
}

impl S3Settings {
    /// True when images go to a bucket.
    pub fn enabled(&self) -> bool {
        !self.endpoint.trim().is_empty()
    }

    /// A configured bucket names itself and its credentials.
    pub fn validate(&self) -> anyhow::Result<()> {
        if !self.enabled() {
            return Ok(());
        }
        for (name, value) in [
            ("bucket", &self.bucket),
            ("region", &self.region),
            ("access_key_id", &self.access_key_id),
            ("secret_access_key", &self.secret_access_key),
        ] {
            anyhow::ensure!(
                !value.trim().is_empty(),
                "media.s3.{name} is missing (RETAIL_MEDIA__S3__{}): the bucket is half \
                 configured",
                name.to_uppercase()
            );
        }
        Ok(())
    }
}

/// Delivery (issue 16): how far a store delivers in its own city, and the secret carriers sign
/// their tracking webhooks with.
///
/// ```toml
/// [delivery]
/// same_city_radius_m = 5000      # 0: never from a store, always the region's warehouse
/// carrier_webhook_secret = "…"   # HMAC-SHA256 key of `POST /api/v1/carriers/tracking`;
///                                # empty: the webhook answers 401 to everything
/// ```
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct DeliverySettings {
    /// A delivery address with coordinates within this many metres of a store of its city that
    /// has every item is delivered from that store (the nearest), the same day.
    pub same_city_radius_m: u32,
    /// The shared secret of the carrier webhook (see CONTRACTS "Carrier tracking webhook").
    pub carrier_webhook_secret: String,
}

impl Default for DeliverySettings {
    fn default() -> Self {
        Self {
            same_city_radius_m: 5000,
            carrier_webhook_secret: String::new(),
        }
    }
}

/// TLS at the server itself (issue 15, finding 7): with a certificate and its key the HTTP
/// listener serves HTTPS only, and the embedded broker's device listener MQTT over TLS only
/// (`mqtts://`), both with this certificate (rustls). Lanes and edge agents pin the chain's CA
/// (their `ca_file`).
///
/// ```toml
/// [tls]
/// cert_file = "/etc/retail/tls/server.pem"  # the server's certificate first, then any
///                                           # intermediates (PEM)
/// key_file = "/etc/retail/tls/server.key"   # its private key (PEM: PKCS#8, PKCS#1 or SEC1)
/// ```
///
/// Or `RETAIL_TLS__CERT_FILE` and `RETAIL_TLS__KEY_FILE`. Both empty (the default): plain HTTP
/// and MQTT, for the demo, a laptop, or behind a TLS-terminating proxy.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct TlsSettings {
    /// PEM file with the server's certificate chain, the server's own certificate first.
    pub cert_file: String,
    /// PEM file with the certificate's private key.
    pub key_file: String,
}

impl TlsSettings {
    /// True when the server terminates TLS itself.
    pub fn enabled(&self) -> bool {
        !self.cert_file.trim().is_empty() || !self.key_file.trim().is_empty()
    }

    /// Both files or neither.
    pub fn validate(&self) -> anyhow::Result<()> {
        anyhow::ensure!(
            self.cert_file.trim().is_empty() == self.key_file.trim().is_empty(),
            "tls.cert_file and tls.key_file go together: set both (RETAIL_TLS__CERT_FILE, \
             RETAIL_TLS__KEY_FILE) or neither"
        );
        Ok(())
    }
}

/// Limits on staff acting on members' accounts (issue 15, finding 5): a till's top-up takes real
/// money (its tender is recorded), and nobody moves large amounts without head office.
///
/// ```toml
/// [members]
/// topup_max_per_call = "5000.00"        # one top-up at a till
/// topup_max_per_staff_per_day = "20000.00"   # all top-ups one member of staff takes in a day
/// manager_points_adjustment_max = 5000  # a store manager's adjustment, either way (head office: 1,000,000)
/// coupon_expiry_notice_days = 3         # a member is told this many days before a coupon expires (0: never)
/// ```
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct MemberAccountSettings {
    /// Largest single top-up.
    pub topup_max_per_call: retail_domain::money::Money,
    /// Largest sum of top-ups one member of staff takes in a day (China time).
    pub topup_max_per_staff_per_day: retail_domain::money::Money,
    /// Largest points adjustment a store manager makes, either way.
    pub manager_points_adjustment_max: i64,
    /// A member is told this many days before an unused coupon expires (0: never).
    pub coupon_expiry_notice_days: u32,
}

impl Default for MemberAccountSettings {
    fn default() -> Self {
        Self {
            topup_max_per_call: retail_domain::money::Money::from_fen(500_000),
            topup_max_per_staff_per_day: retail_domain::money::Money::from_fen(2_000_000),
            manager_points_adjustment_max: 5_000,
            coupon_expiry_notice_days: 3,
        }
    }
}

/// Access to the Prometheus `/metrics` endpoint, which is never public.
///
/// ```toml
/// [metrics]
/// token = "a long random string"   # the scraper sends Authorization: Bearer <token>
/// ```
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct MetricsSettings {
    /// The bearer token a scraper presents. Empty (the default): only a scraper on this host
    /// (a loopback peer) may read `/metrics` without credentials. Set: the token is required
    /// from every address, loopback included (a reverse proxy on this host makes every
    /// request look local). A head-office staff session token is accepted either way.
    pub token: String,
}

/// SMS log-in (the shop's member log-in and sign-up by phone): the provider that sends the
/// one-time codes and the limits on them.
///
/// ```toml
/// [sms]
/// provider = "aliyun"                       # Alibaba Cloud SMS (dysmsapi SendSms)
/// endpoint = "https://dysmsapi.aliyuncs.com/"
/// access_key_id = "LTAI…"
/// access_key_secret = "…"                   # or RETAIL_SMS__ACCESS_KEY_SECRET
/// sign_name = "某某零售"
/// template_code = "SMS_123456789"           # a template with one parameter, ${code}
/// ```
///
/// With no provider, only demo mode logs members in, through the sandbox that shows the code on
/// the page; outside demo mode SMS log-in is then unavailable.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct SmsSettings {
    /// `aliyun`, or empty for none.
    pub provider: String,
    /// The provider's API endpoint (default `https://dysmsapi.aliyuncs.com/`).
    pub endpoint: String,
    /// The AccessKey id.
    pub access_key_id: String,
    /// The AccessKey secret.
    pub access_key_secret: String,
    /// The approved signature name (签名) shown in the message.
    pub sign_name: String,
    /// The approved template (模板) code; its one parameter is `code`.
    pub template_code: String,
    /// A phone gets a new code at most this often (default 60 s).
    pub resend_after_secs: u64,
    /// Codes per phone per day (default 10).
    pub codes_per_phone_per_day: u32,
    /// Codes per client address per hour (default 20).
    pub codes_per_address_per_hour: u32,
    /// Codes per client address per day (default 100).
    pub codes_per_address_per_day: u32,
    /// Sign-ups per client address per day that receive the sign-up coupons (default 3); later
    /// sign-ups from the address become members without them.
    pub signup_gifts_per_address_per_day: u32,
}

impl Default for SmsSettings {
    fn default() -> Self {
        Self {
            provider: String::new(),
            endpoint: "https://dysmsapi.aliyuncs.com/".into(),
            access_key_id: String::new(),
            access_key_secret: String::new(),
            sign_name: String::new(),
            template_code: String::new(),
            resend_after_secs: 60,
            codes_per_phone_per_day: 10,
            codes_per_address_per_hour: 20,
            codes_per_address_per_day: 100,
            signup_gifts_per_address_per_day: 3,
        }
    }
}

impl SmsSettings {
    /// Refuses an unknown provider and a half-configured one, naming the missing setting.
    pub fn validate(&self) -> anyhow::Result<()> {
        let credentials = [
            ("access_key_id", &self.access_key_id),
            ("access_key_secret", &self.access_key_secret),
            ("sign_name", &self.sign_name),
            ("template_code", &self.template_code),
        ];
        match self.provider.as_str() {
            "aliyun" => {
                for (name, value) in credentials {
                    anyhow::ensure!(
                        !value.trim().is_empty(),
                        "sms.provider is \"aliyun\" but sms.{name} is missing \
                         (RETAIL_SMS__{})",
                        name.to_uppercase()
                    );
                }
                anyhow::ensure!(
                    self.endpoint.starts_with("http://") || self.endpoint.starts_with("https://"),
                    "sms.endpoint must be an http:// or https:// URL"
                );
            }
            "" => {
                if let Some((name, _)) = credentials.iter().find(|(_, v)| !v.trim().is_empty()) {
                    anyhow::bail!(
                        "sms.{name} is set but sms.provider is missing (RETAIL_SMS__PROVIDER=aliyun)"
                    );
                }
            }
            other => anyhow::bail!(
                "sms.provider \"{other}\" is unknown: use \"aliyun\" or leave it empty"
            ),
        }
        anyhow::ensure!(
            self.resend_after_secs >= 1
                && self.codes_per_phone_per_day >= 1
                && self.codes_per_address_per_hour >= 1
                && self.codes_per_address_per_day >= 1,
            "sms limits (resend_after_secs, codes_per_*) must be at least 1"
        );
        Ok(())
    }
}

/// The chain's barcode conventions, sent to every lane with its pricing context
/// (`GET /api/v1/pricing/context`), so the lanes read the scales' labels the same way.
///
/// ```toml
/// [[barcodes.variable_measure]]      # a scale label: 28 + PLU + weight in grams
/// prefixes = ["28"]
/// plu_digits = 5
/// value_digits = 5
/// value = "weight"                   # or "price"
/// decimals = 3
/// ```
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct BarcodeSettings {
    /// The variable-measure EAN-13 layouts the chain's scales print (prefix, PLU, price or
    /// weight); default: the common Chinese price label, prefixes 20–29 + 5-digit PLU + price in
    /// fen ([`VariableMeasureLayout::cn_default`]). An empty list: no scale labels. A lane's
    /// own `variable_measure` setting overrides this for that lane.
    pub variable_measure: Vec<VariableMeasureLayout>,
}

impl Default for BarcodeSettings {
    fn default() -> Self {
        Self {
            variable_measure: vec![VariableMeasureLayout::cn_default()],
        }
    }
}

/// Receipt codes (docs/DESIGN.md §7): the shopper claims the points of a sale made without a member.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ReceiptSettings {
    /// Points of a sale can be claimed up to this many days after the sale (default 30).
    pub claim_window_days: u32,
}

impl Default for ReceiptSettings {
    fn default() -> Self {
        Self {
            claim_window_days: 30,
        }
    }
}

impl ReceiptSettings {
    /// The claim window in milliseconds.
    pub fn claim_window_ms(&self) -> i64 {
        i64::from(self.claim_window_days) * 24 * 3600 * 1000
    }
}

/// The store bus: the embedded broker by default, or an external one.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MqttSettings {
    /// Connect to the bus at all (tests that do not need it turn it off).
    pub enabled: bool,
    /// An external broker, `mqtt://[user:password@]host[:port]`, or `mqtts://…` for MQTT over
    /// TLS (also `MQTT_URL`); empty means start the embedded broker.
    pub url: String,
    /// With an `mqtts://` external broker: the PEM file of the CA to trust for its certificate,
    /// and no other (empty: the operating system's trusted roots).
    #[serde(default)]
    pub ca_file: String,
    /// Where the embedded broker listens for devices (port 0 picks a free port); MQTT over TLS
    /// when `[tls]` is configured.
    pub embedded_listen: SocketAddr,
    /// The server's MQTT client id on an external broker. Empty (the default): a random id and a
    /// clean session. Set (distinct per server instance): a persistent session, so device
    /// events published while the server was away are queued by the broker for it.
    #[serde(default)]
    pub client_id: String,
    /// With an external Mosquitto: a folder where the server keeps its `passwords` and `acl`
    /// files current, rewriting them whenever a device is registered or revoked (empty: off;
    /// then run `retail-server mosquitto-files` by hand).
    #[serde(default)]
    pub mosquitto_dir: String,
    /// Mosquitto's pid file: after rewriting the files the server sends that process `SIGHUP`,
    /// so Mosquitto reloads them and disconnects a revoked device (empty: no signal).
    #[serde(default)]
    pub mosquitto_pid_file: String,
}

/// Key material, each a hex string of 32 bytes.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Secrets {
    /// AES-256-GCM key for personal data at rest (phone numbers, names, addresses).
    pub data_key: String,
    /// The id of `data_key`, written into every value it seals (default `k1`). To rotate: set
    /// a new `data_key` with a new id and move the old key to `retired_data_keys` under its id;
    /// the server seals everything again with the new key in the background, after which the
    /// retired key can go (docs/SECURITY.md, "Keys at rest").
    #[serde(default)]
    pub data_key_id: String,
    /// Earlier data keys by id (hex), kept only to open what they sealed until it is sealed
    /// again with `data_key`.
    #[serde(default)]
    pub retired_data_keys: std::collections::BTreeMap<String, String>,
    /// HMAC-SHA256 key for the phone-number look-up hash.
    pub lookup_key: String,
    /// Ed25519 seed for signed codes (member codes, pickup codes, exit passes).
    pub code_signing_seed: String,
    /// Shared secret the sandbox payment provider signs notifications with.
    pub payment_provider_secret: String,
}

/// Order rules.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct OrderSettings {
    /// Unpaid orders are cancelled (and their reservations released) after this many seconds.
    pub payment_timeout_secs: u64,
    /// How often the database is swept for unpaid orders past their deadline.
    pub sweep_interval_millis: u64,
    /// A pickup order ready but not collected for this long is cancelled, its stock released and
    /// its payment refunded (default three days).
    pub pickup_hold_secs: u64,
    /// Most orders written in one database commit by the order writer.
    pub max_batch: usize,
    /// Most units of one SKU in one order (an order names a SKU on one line only; default 99).
    pub max_line_qty: i64,
    /// Orders one client address may place per minute (online and scan-and-go; default 30);
    /// more are answered 429 with `Retry-After`. The address is the TCP peer (see
    /// [`crate::actor::ClientAddr`]): behind a reverse proxy every shopper shares the proxy's
    /// address, so raise this there.
    pub orders_per_minute_per_address: u32,
    /// Orders one member may place per minute (default 10); 429 beyond.
    pub orders_per_minute_per_member: u32,
    /// Payment intents one client address may create per minute (default 30); 429 beyond.
    pub payment_intents_per_minute_per_address: u32,
    /// Payment intents for one member's orders per minute (default 10); 429 beyond.
    pub payment_intents_per_minute_per_member: u32,
    /// Unpaid orders one client address may hold at once (default 10); a new order beyond is
    /// answered 409 `too_many_unpaid_orders` until one is paid, cancelled or expires. This and
    /// `max_unpaid_units_per_address` both at `i64::MAX` (9223372036854775807): no cap.
    pub max_unpaid_orders_per_address: i64,
    /// Units one client address may hold reserved in unpaid orders (default 300).
    pub max_unpaid_units_per_address: i64,
    /// Unpaid orders one member may hold at once (default 5).
    pub max_unpaid_orders_per_member: i64,
    /// Units one member may hold reserved in unpaid orders (default 200).
    pub max_unpaid_units_per_member: i64,
}

impl OrderSettings {
    /// Lifts the per-address and per-member order limits (rates and unpaid caps): for test
    /// servers and benchmarks, whose simulated shoppers all come from 127.0.0.1.
    pub fn without_client_limits(&mut self) {
        self.orders_per_minute_per_address = 1_000_000;
        self.orders_per_minute_per_member = 1_000_000;
        self.payment_intents_per_minute_per_address = 1_000_000;
        self.payment_intents_per_minute_per_member = 1_000_000;
        self.max_unpaid_orders_per_address = i64::MAX;
        self.max_unpaid_units_per_address = i64::MAX;
        self.max_unpaid_orders_per_member = i64::MAX;
        self.max_unpaid_units_per_member = i64::MAX;
    }
}

/// Limits that keep an overloaded server answering instead of hanging.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LoadSettings {
    /// A request not answered within this many seconds is answered 503 with `Retry-After`
    /// (default 30; its work is cancelled, and a retry with the same client id is safe).
    pub request_timeout_secs: u64,
    /// Longest wait for a database connection, in milliseconds (default 5000); a request that
    /// waits longer is answered 503 with `Retry-After`.
    pub db_acquire_timeout_millis: u64,
}

impl Default for LoadSettings {
    fn default() -> Self {
        Self {
            request_timeout_secs: 30,
            db_acquire_timeout_millis: 5_000,
        }
    }
}

/// Staff authentication settings.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AuthSettings {
    /// Lifetime of a staff session token.
    pub token_ttl_secs: u64,
    /// Log-in attempts allowed per user name *from one client address* per minute before that
    /// address gets 429 for that user name (a successful log-in clears the count), so an
    /// attacker elsewhere cannot lock a user out.
    pub login_attempts_per_minute: u32,
    /// Failed log-in attempts allowed from one client address per minute, whatever the user
    /// names, before the address gets 429 (successful log-ins do not count).
    #[serde(default = "default_login_attempts_per_address")]
    pub login_attempts_per_address_per_minute: u32,
    /// Log-in attempts allowed per user name per minute from all addresses together: a ceiling
    /// against guessing from many addresses, above what one address may try.
    #[serde(default = "default_login_attempts_per_user")]
    pub login_attempts_per_user_per_minute: u32,
}

fn default_login_attempts_per_address() -> u32 {
    30
}

fn default_login_attempts_per_user() -> u32 {
    100
}

/// Payment providers and the rules around them (issue 14).
///
/// ```toml
/// [payments]
/// reconcile_at = "10:00"                    # reconcile yesterday's bills after this (Beijing)
///
/// [payments.wechat]                         # WeChat Pay API v3, direct merchant (直连商户)
/// mch_id = "1900000001"
/// app_id = "wx8888888888888888"
/// merchant_serial_no = "5157F09EFDC096DE15EBE81A47057A7232F1B8E1"
/// merchant_private_key_file = "/etc/retail/wechatpay/apiclient_key.pem"
/// api_v3_key = "…"                          # better: RETAIL_PAYMENTS__WECHAT__API_V3_KEY
/// wechatpay_public_key_file = "/etc/retail/wechatpay/pub_key.pem"
/// wechatpay_public_key_id = "PUB_KEY_ID_0114232134912410000000000000"
/// # platform_certificates_file = "/etc/retail/wechatpay/platform.pem"  # instead of, or beside
/// app_secret_file = "/etc/retail/wechatpay/app_secret"  # or RETAIL_PAYMENTS__WECHAT__APP_SECRET:
///                                           # the shop in WeChat's browser pays by JSAPI
///
/// [payments.alipay]                         # Alipay open platform, RSA2
/// app_id = "2021000000000000"
/// app_private_key_file = "/etc/retail/alipay/app_private_key.pem"
/// alipay_public_key_file = "/etc/retail/alipay/alipay_public_key.pem"
/// seller_id = "2088000000000000"            # optional: notifications must name it
/// ```
///
/// A provider with none of its settings is off; one with some but not all is refused at start,
/// naming the missing setting. The sandbox provider exists in demo mode only.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PaymentSettings {
    /// A notification whose timestamp is further than this from now is refused (the sandbox's;
    /// WeChat Pay's is fixed at 5 minutes by the client).
    pub notification_tolerance_secs: i64,
    /// WeChat Pay; off unless configured.
    #[serde(default)]
    pub wechat: WechatPaySettings,
    /// Alipay; off unless configured.
    #[serde(default)]
    pub alipay: AlipaySettings,
    /// A refund above this amount waits for a store manager's approval (default ¥500).
    #[serde(default = "default_refund_approval_above")]
    pub refund_approval_above: retail_domain::money::Money,
    /// A provider payment still pending this long after it was started, or after it was last
    /// asked about, is queried at the provider by the background settler (default 30 s).
    #[serde(default = "default_settle_after_secs")]
    pub settle_after_secs: u64,
    /// How long one call to a provider may take before its outcome counts as unknown (then
    /// asked again, never guessed); default 10 000 ms.
    #[serde(default = "default_provider_timeout_millis")]
    pub provider_timeout_millis: u64,
    /// The time of day (Beijing, `HH:MM`) after which the daily reconciliation matches each
    /// configured provider's bill of the day before against the payments and refunds on record
    /// (default `10:00`: both providers have made the bill by then).
    #[serde(default = "default_reconcile_at")]
    pub reconcile_at: String,
    /// How often the reconciliation job looks for a day to reconcile or to try again (default
    /// 60 s); 0 turns the background job off (days are then reconciled by hand only).
    #[serde(default = "default_reconcile_every_secs")]
    pub reconcile_every_secs: u64,
    /// How long the job waits before asking again for a bill that was not ready or a provider
    /// that was unavailable (default 1 800 s).
    #[serde(default = "default_reconcile_retry_secs")]
    pub reconcile_retry_secs: u64,
    /// How many times the job asks for one day's bill before it gives up on that day and leaves
    /// it to a person (default 24).
    #[serde(default = "default_reconcile_attempts")]
    pub reconcile_attempts: u32,
}

impl PaymentSettings {
    /// [`PaymentSettings::reconcile_at`] as a time of day.
    pub fn reconcile_time(&self) -> anyhow::Result<chrono::NaiveTime> {
        chrono::NaiveTime::parse_from_str(self.reconcile_at.trim(), "%H:%M").map_err(|_| {
            anyhow::anyhow!(
                "payments.reconcile_at must be a time of day like 10:00, not {:?}",
                self.reconcile_at
            )
        })
    }
}

fn default_reconcile_at() -> String {
    "10:00".into()
}

fn default_reconcile_every_secs() -> u64 {
    60
}

fn default_reconcile_retry_secs() -> u64 {
    1_800
}

fn default_reconcile_attempts() -> u32 {
    24
}

fn default_provider_timeout_millis() -> u64 {
    10_000
}

fn default_refund_approval_above() -> retail_domain::money::Money {
    retail_domain::money::Money::from_fen(50_000)
}

fn default_settle_after_secs() -> u64 {
    30
}

/// WeChat Pay API v3 settings ([`PaymentSettings`]); keys are read from the files named.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct WechatPaySettings {
    /// The merchant id (商户号).
    pub mch_id: String,
    /// The app id payments are made for (公众号 / 小程序 AppID).
    pub app_id: String,
    /// The serial number of the merchant's API certificate.
    pub merchant_serial_no: String,
    /// The merchant's API private key (`apiclient_key.pem`).
    pub merchant_private_key_file: String,
    /// The API v3 key (32 characters).
    pub api_v3_key: String,
    /// The WeChat Pay public key (`pub_key.pem`), with its id below.
    pub wechatpay_public_key_file: String,
    /// The WeChat Pay public key's id (`PUB_KEY_ID_…`).
    pub wechatpay_public_key_id: String,
    /// WeChat Pay platform certificates (PEM), instead of or beside the public key.
    pub platform_certificates_file: String,
    /// The API's address (empty: WeChat Pay's own; tests point it at a fake).
    pub base_url: String,
    /// The official account's AppSecret (of `app_id`), for the shop's web authorisation
    /// (网页授权, `snsapi_base`) inside WeChat: with it, the shop in WeChat's browser pays by
    /// JSAPI; without it, by QR code. Best given in the environment
    /// (`RETAIL_PAYMENTS__WECHAT__APP_SECRET`), or as a file ([`Self::app_secret_file`]); never
    /// both.
    pub app_secret: String,
    /// A file holding the AppSecret, instead of [`Self::app_secret`].
    pub app_secret_file: String,
    /// The address of WeChat's authorisation page (empty: `https://open.weixin.qq.com`; tests
    /// point it at a fake).
    pub oauth_base_url: String,
    /// The address of WeChat's official-account API, where the authorisation code is exchanged
    /// for the openid (empty: `https://api.weixin.qq.com`; tests point it at a fake).
    pub oauth_api_base_url: String,
}

impl WechatPaySettings {
    /// True when any setting is given (then all that are needed must be).
    pub fn is_set(&self) -> bool {
        self.required().iter().any(|(_, v)| !v.trim().is_empty())
            || !self.wechatpay_public_key_file.trim().is_empty()
            || !self.wechatpay_public_key_id.trim().is_empty()
            || !self.platform_certificates_file.trim().is_empty()
            || self.oauth_is_set()
    }

    /// True when the shop's web authorisation is configured (an AppSecret is given).
    pub fn oauth_is_set(&self) -> bool {
        !self.app_secret.trim().is_empty() || !self.app_secret_file.trim().is_empty()
    }

    fn required(&self) -> [(&'static str, &str); 5] {
        [
            ("mch_id", &self.mch_id),
            ("app_id", &self.app_id),
            ("merchant_serial_no", &self.merchant_serial_no),
            ("merchant_private_key_file", &self.merchant_private_key_file),
            ("api_v3_key", &self.api_v3_key),
        ]
    }

    /// Refuses a half-configured WeChat Pay, naming the missing setting.
    pub fn validate(&self) -> anyhow::Result<()> {
        if !self.is_set() {
            return Ok(());
        }
        for (name, value) in self.required() {
            anyhow::ensure!(
                !value.trim().is_empty(),
                "payments.wechat.{name} is missing (RETAIL_PAYMENTS__WECHAT__{}): WeChat Pay is \
                 half configured",
                name.to_uppercase()
            );
        }
        anyhow::ensure!(
            !self.wechatpay_public_key_file.trim().is_empty()
                || !self.platform_certificates_file.trim().is_empty(),
            "payments.wechat.wechatpay_public_key_file (with wechatpay_public_key_id) or \
             payments.wechat.platform_certificates_file is missing: WeChat Pay's key is needed \
             to verify its answers and notifications"
        );
        anyhow::ensure!(
            self.wechatpay_public_key_file.trim().is_empty()
                == self.wechatpay_public_key_id.trim().is_empty(),
            "payments.wechat.wechatpay_public_key_file and payments.wechat.wechatpay_public_key_id \
             go together (RETAIL_PAYMENTS__WECHAT__WECHATPAY_PUBLIC_KEY_ID)"
        );
        anyhow::ensure!(
            self.app_secret.trim().is_empty() || self.app_secret_file.trim().is_empty(),
            "payments.wechat.app_secret and payments.wechat.app_secret_file are both set: give \
             the AppSecret one way"
        );
        for (name, value) in [
            ("oauth_base_url", &self.oauth_base_url),
            ("oauth_api_base_url", &self.oauth_api_base_url),
        ] {
            anyhow::ensure!(
                value.trim().is_empty() || self.oauth_is_set(),
                "payments.wechat.app_secret is missing (RETAIL_PAYMENTS__WECHAT__APP_SECRET, or \
                 payments.wechat.app_secret_file): payments.wechat.{name} is set, so the shop's \
                 WeChat authorisation is half configured"
            );
        }
        Ok(())
    }
}

/// Alipay open-platform settings ([`PaymentSettings`]); keys are read from the files named.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct AlipaySettings {
    /// The app's id (`app_id`).
    pub app_id: String,
    /// The app's private key (应用私钥), PEM or the bare base64 Alipay's key tool writes.
    pub app_private_key_file: String,
    /// Alipay's public key for the app (支付宝公钥).
    pub alipay_public_key_file: String,
    /// The merchant's PID (`2088…`); optional: when set, notifications must name it.
    pub seller_id: String,
    /// The gateway (empty: Alipay's production gateway; tests point it at a fake).
    pub gateway: String,
}

impl AlipaySettings {
    /// True when any setting is given (then all that are needed must be).
    pub fn is_set(&self) -> bool {
        self.required().iter().any(|(_, v)| !v.trim().is_empty())
            || !self.seller_id.trim().is_empty()
            || !self.gateway.trim().is_empty()
    }

    fn required(&self) -> [(&'static str, &str); 3] {
        [
            ("app_id", &self.app_id),
            ("app_private_key_file", &self.app_private_key_file),
            ("alipay_public_key_file", &self.alipay_public_key_file),
        ]
    }

    /// Refuses a half-configured Alipay, naming the missing setting.
    pub fn validate(&self) -> anyhow::Result<()> {
        if !self.is_set() {
            return Ok(());
        }
        for (name, value) in self.required() {
            anyhow::ensure!(
                !value.trim().is_empty(),
                "payments.alipay.{name} is missing (RETAIL_PAYMENTS__ALIPAY__{}): Alipay is half \
                 configured",
                name.to_uppercase()
            );
        }
        Ok(())
    }
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            public_url: String::new(),
            database_url: DEFAULT_DATABASE_URL.into(),
            data_dir: PathBuf::from("data"),
            demo: false,
            log_json: false,
            secrets: Secrets::default(),
            orders: OrderSettings {
                payment_timeout_secs: 15 * 60,
                sweep_interval_millis: 1_000,
                pickup_hold_secs: 3 * 24 * 3600,
                max_batch: 512,
                max_line_qty: 99,
                orders_per_minute_per_address: 30,
                orders_per_minute_per_member: 10,
                payment_intents_per_minute_per_address: 30,
                payment_intents_per_minute_per_member: 10,
                max_unpaid_orders_per_address: 10,
                max_unpaid_units_per_address: 300,
                max_unpaid_orders_per_member: 5,
                max_unpaid_units_per_member: 200,
            },
            auth: AuthSettings {
                token_ttl_secs: 12 * 3600,
                login_attempts_per_minute: 10,
                login_attempts_per_address_per_minute: default_login_attempts_per_address(),
                login_attempts_per_user_per_minute: default_login_attempts_per_user(),
            },
            payments: PaymentSettings {
                notification_tolerance_secs: 300,
                wechat: WechatPaySettings::default(),
                alipay: AlipaySettings::default(),
                refund_approval_above: default_refund_approval_above(),
                settle_after_secs: default_settle_after_secs(),
                provider_timeout_millis: default_provider_timeout_millis(),
                reconcile_at: default_reconcile_at(),
                reconcile_every_secs: default_reconcile_every_secs(),
                reconcile_retry_secs: default_reconcile_retry_secs(),
                reconcile_attempts: default_reconcile_attempts(),
            },
            points: PointsRules::default(),
            mqtt: MqttSettings {
                enabled: true,
                url: String::new(),
                ca_file: String::new(),
                embedded_listen: SocketAddr::from(([127, 0, 0, 1], 1884)),
                client_id: String::new(),
                mosquitto_dir: String::new(),
                mosquitto_pid_file: String::new(),
            },
            receipts: ReceiptSettings::default(),
            barcodes: BarcodeSettings::default(),
            members: MemberAccountSettings::default(),
            metrics: MetricsSettings::default(),
            sms: SmsSettings::default(),
            load: LoadSettings::default(),
            media: MediaSettings::default(),
            tls: TlsSettings::default(),
            delivery: DeliverySettings::default(),
            events: EventSettings::default(),
            sales_report: SalesReportSettings::default(),
            merchants: MerchantSettings::default(),
            bargains: BargainSettings::default(),
            distribution: DistributionSettings::default(),
            chat: ChatSettings::default(),
            service_bot: ServiceBotSettings::default(),
            recommendations: RecommendationSettings::default(),
            notifications: NotificationSettings::default(),
            segments: SegmentSettings::default(),
            export: ExportSettings::default(),
            esl: EslSettings::default(),
            webhooks: WebhookSettings::default(),
            changes: ChangeFeedSettings::default(),
            cluster: ClusterSettings::default(),
        }
    }
}

impl Settings {
    /// Reads the configuration from defaults, file and environment.
    pub fn load() -> anyhow::Result<Self> {
        let file = std::env::var("RETAIL_CONFIG").unwrap_or_else(|_| "retail.toml".into());
        let mut provided = Figment::new()
            .merge(Toml::file(&file))
            .merge(Env::prefixed("RETAIL_").split("__"));
        if let Ok(url) = std::env::var("DATABASE_URL") {
            provided = provided.merge(("database_url", url));
        }
        if let Ok(url) = std::env::var("MQTT_URL") {
            provided = provided.merge(("mqtt.url", url));
        }
        Self::from_provided(provided)
            .with_context(|| format!("invalid configuration (file {file}, RETAIL_* variables)"))
    }

    /// The settings from what the operator provided (file and environment) over the defaults.
    /// Demo mode, unless set, is on only when no database is configured (the one-step start on
    /// the embedded SQLite file); every other configuration starts in production mode.
    pub fn from_provided(provided: Figment) -> anyhow::Result<Self> {
        let demo_set = provided.find_value("demo").is_ok();
        let database_set = provided.find_value("database_url").is_ok();
        let mut settings: Settings = Figment::from(Serialized::defaults(Settings::default()))
            .merge(provided)
            .extract()?;
        if !demo_set {
            settings.demo = !database_set;
        }
        settings.validate()?;
        Ok(settings)
    }

    /// Checks values that would otherwise fail later in confusing ways.
    pub fn validate(&self) -> anyhow::Result<()> {
        anyhow::ensure!(
            self.database_url.starts_with("sqlite:")
                || self.database_url.starts_with("postgres://")
                || self.database_url.starts_with("postgresql://"),
            "database_url must start with sqlite: or postgres://"
        );
        anyhow::ensure!(
            self.orders.max_batch > 0,
            "orders.max_batch must be at least 1"
        );
        anyhow::ensure!(
            self.orders.max_line_qty > 0,
            "orders.max_line_qty must be at least 1"
        );
        let o = &self.orders;
        anyhow::ensure!(
            o.orders_per_minute_per_address > 0
                && o.orders_per_minute_per_member > 0
                && o.payment_intents_per_minute_per_address > 0
                && o.payment_intents_per_minute_per_member > 0,
            "orders.*_per_minute_* must be at least 1"
        );
        anyhow::ensure!(
            o.max_unpaid_orders_per_address > 0
                && o.max_unpaid_orders_per_member > 0
                && o.max_unpaid_units_per_address >= o.max_line_qty
                && o.max_unpaid_units_per_member >= o.max_line_qty,
            "orders.max_unpaid_orders_* must be at least 1 and orders.max_unpaid_units_* at least orders.max_line_qty"
        );
        anyhow::ensure!(
            self.load.request_timeout_secs > 0 && self.load.db_acquire_timeout_millis > 0,
            "load.request_timeout_secs and load.db_acquire_timeout_millis must be at least 1"
        );
        self.points
            .validate()
            .map_err(|e| anyhow::anyhow!("points rules: {e}"))?;
        self.webhooks.validate()?;
        anyhow::ensure!(
            self.changes.retention_days <= 3650,
            "changes.retention_days must be 0 (keep every change) to 3650"
        );
        anyhow::ensure!(
            (1..=3650).contains(&self.receipts.claim_window_days),
            "receipts.claim_window_days must be 1 to 3650"
        );
        for layout in &self.barcodes.variable_measure {
            layout
                .validate()
                .map_err(|e| anyhow::anyhow!("barcodes.variable_measure: {e}"))?;
        }
        anyhow::ensure!(
            self.auth.login_attempts_per_minute > 0
                && self.auth.login_attempts_per_address_per_minute > 0
                && self.auth.login_attempts_per_user_per_minute > 0,
            "auth.login_attempts_* must be at least 1"
        );
        anyhow::ensure!(
            self.metrics.token.is_empty() || self.metrics.token.trim().len() >= 16,
            "metrics.token must be at least 16 characters (or empty: local scrapers only)"
        );
        anyhow::ensure!(
            self.mqtt.mosquitto_dir.is_empty() || !self.mqtt.url.is_empty(),
            "mqtt.mosquitto_dir is for an external Mosquitto: set MQTT_URL too"
        );
        anyhow::ensure!(
            self.mqtt.mosquitto_pid_file.is_empty() || !self.mqtt.mosquitto_dir.is_empty(),
            "mqtt.mosquitto_pid_file needs mqtt.mosquitto_dir (the files to reload)"
        );
        self.sms.validate()?;
        self.payments.wechat.validate()?;
        self.payments.alipay.validate()?;
        anyhow::ensure!(
            self.payments.settle_after_secs >= 1 && self.payments.provider_timeout_millis >= 100,
            "payments.settle_after_secs must be at least 1 and payments.provider_timeout_millis at least 100"
        );
        self.payments.reconcile_time()?;
        anyhow::ensure!(
            self.payments.reconcile_retry_secs >= 1 && self.payments.reconcile_attempts >= 1,
            "payments.reconcile_retry_secs and payments.reconcile_attempts must be at least 1"
        );
        self.tls.validate()?;
        self.media.s3.validate()?;
        self.export.validate()?;
        self.esl.validate(self.demo)?;
        self.chat.default_hours()?;
        anyhow::ensure!(
            (0.0..=2.0).contains(&self.service_bot.min_score)
                && self.service_bot.asks_per_minute_per_address >= 1,
            "service_bot.min_score must be 0 to 2 and service_bot.asks_per_minute_per_address at least 1"
        );
        anyhow::ensure!(
            (1..=65_536).contains(&self.media.poster_cache_mib),
            "media.poster_cache_mib must be 1 to 65536"
        );
        anyhow::ensure!(
            !self.tls.enabled()
                || self.public_url.is_empty()
                || self.public_url.starts_with("https://"),
            "public_url must be an https:// address when the server serves TLS itself ([tls])"
        );
        anyhow::ensure!(
            self.mqtt.ca_file.is_empty() || self.mqtt.url.starts_with("mqtts://"),
            "mqtt.ca_file is for an external broker over TLS: MQTT_URL=mqtts://…"
        );
        self.validate_cluster()
    }

    /// Several instances need a database they can share and a broker outside every one of them.
    fn validate_cluster(&self) -> anyhow::Result<()> {
        let cluster = &self.cluster;
        anyhow::ensure!(
            (1..=64).contains(&cluster.instances),
            "cluster.instances must be 1 to 64"
        );
        anyhow::ensure!(
            cluster.instance_id.len() <= 64
                && cluster
                    .instance_id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)),
            "cluster.instance_id must be at most 64 letters, digits, '-', '_' or '.'"
        );
        if cluster.is_shared() {
            anyhow::ensure!(
                !self.is_sqlite(),
                "cluster.instances = {} needs PostgreSQL: a SQLite file has one writer and is \
                 never shared between server processes (set DATABASE_URL=postgres://…, or \
                 cluster.instances = 1)",
                cluster.instances
            );
            anyhow::ensure!(
                !self.mqtt.enabled || !self.mqtt.url.is_empty(),
                "cluster.instances = {} with the embedded MQTT broker: each instance would start \
                 its own broker, and commands published by one would never reach devices \
                 connected to another. Run one external broker (Mosquitto) and set \
                 MQTT_URL=mqtt://… on every instance (or mqtt.enabled = false)",
                cluster.instances
            );
        }
        Ok(())
    }

    /// True when the database is the embedded SQLite file.
    pub fn is_sqlite(&self) -> bool {
        self.database_url.starts_with("sqlite:")
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn demo_mode_only_for_the_one_step_start() {
        let settings = |toml: &str| {
            Settings::from_provided(Figment::new().merge(Toml::string(toml)))
                .unwrap_or_else(|e| panic!("{e}"))
        };
        assert!(settings("").demo, "no configuration: the embedded demo");
        assert!(!settings("database_url = \"postgres://db/retail\"").demo);
        assert!(!settings("database_url = \"sqlite:///var/lib/retail/retail.db\"").demo);
        assert!(!settings("database_url = \"sqlite://data/retail.db\"").demo);
        assert!(!settings("demo = false").demo);
        assert!(settings("demo = true\ndatabase_url = \"postgres://db/retail\"").demo);
        assert!(!Settings::default().demo, "built in code: production");
    }

    #[test]
    fn several_instances_need_postgres_and_an_external_broker() {
        let err = |s: &Settings| s.validate().err().map(|e| e.to_string());
        let mut settings = Settings::default();
        settings.cluster.instances = 3;
        assert!(
            err(&settings).is_some_and(|e| e.contains("needs PostgreSQL")),
            "SQLite with three instances: {:?}",
            err(&settings)
        );
        settings.database_url = "postgres://db/retail".into();
        assert!(
            err(&settings)
                .is_some_and(|e| e.contains("embedded MQTT broker") && e.contains("MQTT_URL")),
            "the embedded broker with a shared database: {:?}",
            err(&settings)
        );
        settings.mqtt.url = "mqtt://server:pw@broker:1883".into();
        assert!(settings.validate().is_ok(), "{:?}", err(&settings));
        settings.cluster.instance_id = "web 1".into();
        assert!(err(&settings).is_some_and(|e| e.contains("cluster.instance_id")));
        settings.cluster.instance_id = "web-1".into();
        settings.cluster.instances = 0;
        assert!(err(&settings).is_some_and(|e| e.contains("1 to 64")));
        // One instance: the embedded broker and SQLite stay the default.
        let mut one = Settings::default();
        one.cluster.instances = 1;
        assert!(one.validate().is_ok());
        // From the environment's nested keys, as docs/OPERATIONS.md shows.
        let provided = Figment::new()
            .merge(("cluster.instances", 2))
            .merge(("database_url", "postgres://db/retail"));
        let refused = Settings::from_provided(provided)
            .err()
            .map(|e| format!("{e:#}"));
        assert!(
            refused
                .as_deref()
                .is_some_and(|e| e.contains("embedded MQTT broker")),
            "{refused:?}"
        );
    }

    #[test]
    fn trusted_proxies_are_read_as_blocks_and_bad_ones_refused() {
        let settings = |toml: &str| {
            Settings::from_provided(Figment::new().merge(Toml::string(toml)))
                .map_err(|e| format!("{e:#}"))
        };
        let ok = settings("[cluster]\ntrusted_proxies = [\"10.0.0.0/8\", \"::1\"]").unwrap();
        let shown: Vec<String> = ok
            .cluster
            .trusted_proxies
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(shown, ["10.0.0.0/8", "::1/128"]);
        // The environment's form (figment reads the array from the variable's value).
        let from_env = Settings::from_provided(Figment::new().merge((
            "cluster.trusted_proxies",
            figment::value::Value::from(vec!["172.16.0.0/12".to_owned()]),
        )))
        .unwrap();
        assert_eq!(from_env.cluster.trusted_proxies.len(), 1);
        let err = settings("[cluster]\ntrusted_proxies = [\"10.0.0.0/40\"]").unwrap_err();
        assert!(err.contains("prefix length"), "{err}");
    }

    #[test]
    fn mosquitto_files_need_an_external_broker() {
        let mut settings = Settings::default();
        assert!(settings.validate().is_ok());
        settings.mqtt.mosquitto_pid_file = "/run/mosquitto.pid".into();
        assert!(settings.validate().is_err(), "a pid file without a folder");
        settings.mqtt.mosquitto_dir = "/etc/mosquitto/retail".into();
        assert!(
            settings.validate().is_err(),
            "files without an external broker"
        );
        settings.mqtt.url = "mqtt://server:pw@127.0.0.1:1883".into();
        assert!(settings.validate().is_ok());
    }

    #[test]
    fn a_half_configured_sms_provider_is_refused_by_name() {
        let mut settings = Settings::default();
        settings.sms.provider = "aliyun".into();
        settings.sms.access_key_id = "LTAI".into();
        settings.sms.access_key_secret = "secret".into();
        settings.sms.sign_name = "零售".into();
        let err = settings.validate().err().map(|e| e.to_string());
        assert!(
            err.as_deref()
                .is_some_and(|e| e.contains("sms.template_code is missing")),
            "{err:?}"
        );
        settings.sms.template_code = "SMS_1".into();
        assert!(settings.validate().is_ok());
        settings.sms.provider = String::new();
        let err = settings.validate().err().map(|e| e.to_string());
        assert!(
            err.as_deref()
                .is_some_and(|e| e.contains("sms.provider is missing")),
            "{err:?}"
        );
        settings.sms.provider = "tencent".into();
        assert!(settings.validate().is_err(), "an unknown provider");
        // From the environment, as the README shows.
        let from_env: Settings = Figment::from(Serialized::defaults(Settings::default()))
            .merge(("sms.provider", "aliyun"))
            .merge(("sms.access_key_id", "LTAI"))
            .extract()
            .unwrap_or_else(|e| panic!("{e}"));
        let err = from_env.validate().err().map(|e| e.to_string());
        assert!(
            err.as_deref()
                .is_some_and(|e| e.contains("sms.access_key_secret is missing")
                    && e.contains("RETAIL_SMS__ACCESS_KEY_SECRET")),
            "{err:?}"
        );
    }

    #[test]
    fn a_half_configured_payment_provider_is_refused_by_name() {
        let err = |settings: &Settings| settings.validate().err().map(|e| e.to_string());
        let mut settings = Settings::default();
        settings.payments.wechat.mch_id = "1900000001".into();
        settings.payments.wechat.app_id = "wx1".into();
        settings.payments.wechat.merchant_serial_no = "ABC".into();
        settings.payments.wechat.merchant_private_key_file = "/k.pem".into();
        let e = err(&settings);
        assert!(
            e.as_deref()
                .is_some_and(|e| e.contains("payments.wechat.api_v3_key is missing")
                    && e.contains("RETAIL_PAYMENTS__WECHAT__API_V3_KEY")),
            "{e:?}"
        );
        settings.payments.wechat.api_v3_key = "k".repeat(32);
        let e = err(&settings);
        assert!(
            e.as_deref()
                .is_some_and(|e| e.contains("wechatpay_public_key_file")),
            "{e:?}"
        );
        settings.payments.wechat.wechatpay_public_key_file = "/pub.pem".into();
        let e = err(&settings);
        assert!(
            e.as_deref()
                .is_some_and(|e| e.contains("wechatpay_public_key_id")),
            "{e:?}"
        );
        settings.payments.wechat.wechatpay_public_key_id = "PUB_KEY_ID_1".into();
        assert!(settings.validate().is_ok());
        // The shop's WeChat authorisation: its addresses need the AppSecret, given one way.
        settings.payments.wechat.oauth_api_base_url = "http://127.0.0.1:9".into();
        let e = err(&settings);
        assert!(
            e.as_deref()
                .is_some_and(|e| e.contains("payments.wechat.app_secret is missing")
                    && e.contains("RETAIL_PAYMENTS__WECHAT__APP_SECRET")
                    && e.contains("oauth_api_base_url")),
            "{e:?}"
        );
        settings.payments.wechat.app_secret = "secret".into();
        assert!(settings.validate().is_ok());
        settings.payments.wechat.app_secret_file = "/secret".into();
        let e = err(&settings);
        assert!(
            e.as_deref()
                .is_some_and(|e| e.contains("app_secret and payments.wechat.app_secret_file")),
            "{e:?}"
        );
        settings.payments.wechat.app_secret_file = String::new();
        // An AppSecret alone is a half-configured WeChat Pay.
        let alone = Settings {
            payments: PaymentSettings {
                wechat: WechatPaySettings {
                    app_secret: "secret".into(),
                    ..WechatPaySettings::default()
                },
                ..Settings::default().payments
            },
            ..Settings::default()
        };
        let e = err(&alone);
        assert!(
            e.as_deref()
                .is_some_and(|e| e.contains("payments.wechat.mch_id is missing")),
            "{e:?}"
        );

        settings.payments.alipay.seller_id = "2088000000000000".into();
        let e = err(&settings);
        assert!(
            e.as_deref()
                .is_some_and(|e| e.contains("payments.alipay.app_id is missing")),
            "{e:?}"
        );
        settings.payments.alipay.app_id = "2021".into();
        settings.payments.alipay.app_private_key_file = "/app.pem".into();
        let e = err(&settings);
        assert!(
            e.as_deref().is_some_and(|e| e.contains(
                "payments.alipay.alipay_public_key_file is missing (RETAIL_PAYMENTS__ALIPAY__ALIPAY_PUBLIC_KEY_FILE)"
            )),
            "{e:?}"
        );
        settings.payments.alipay.alipay_public_key_file = "/alipay.pem".into();
        assert!(settings.validate().is_ok());
    }

    #[test]
    fn scale_label_layouts_default_to_the_chinese_one_and_are_checked() {
        let mut settings = Settings::default();
        assert_eq!(
            settings.barcodes.variable_measure,
            [VariableMeasureLayout::cn_default()]
        );
        // What a `retail.toml` sets replaces the default list.
        settings = Figment::from(Serialized::defaults(settings))
            .merge(Toml::string(
                "[[barcodes.variable_measure]]\nprefixes = [\"28\"]\nplu_digits = 5\n\
                 value_digits = 5\nvalue = \"weight\"\ndecimals = 3\n",
            ))
            .extract()
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(settings.barcodes.variable_measure.len(), 1);
        assert_eq!(settings.barcodes.variable_measure[0].prefixes, ["28"]);
        assert!(settings.validate().is_ok());
        settings.barcodes.variable_measure[0].plu_digits = 6;
        let err = settings.validate().err().map(|e| e.to_string());
        assert!(
            err.as_deref()
                .is_some_and(|e| e.contains("barcodes.variable_measure")),
            "{err:?}"
        );
    }
}
