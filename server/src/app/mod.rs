//! The application layer: the retail use cases (placing an order, taking a payment
//! notification, pushing lane sales, creating a return, registering a device, …), each a function
//! over explicit inputs that returns domain values or [`crate::error::AppError`]. The HTTP API
//! ([`crate::routes`]) and the pages ([`crate::web`]) are thin adapters over it; it composes
//! [`crate::storage`] and [`crate::bus`].
//!
//! [`AppState`] is what every use case shares: the store, the configuration, keys, caches and
//! the bus.

pub mod account_notices;
pub mod after_sales;
pub mod balance_pay;
pub mod bargains;
pub mod cash_control;
pub mod catalog;
pub mod catalog_cache;
pub mod catalog_import;
pub mod changes;
pub mod chat;
pub mod checkout;
pub mod checkouts;
pub mod cluster;
pub mod coupons;
pub mod delivery;
pub mod device_events;
pub mod devices;
pub mod distribution;
pub mod edge;
pub mod esl;
pub mod event_intake;
pub mod events;
pub mod export;
pub mod finance;
pub mod group_buys;
pub mod group_commit;
pub mod growth;
pub mod lane_payments;
pub mod lane_sales;
pub mod limits;
pub mod locations;
pub mod media;
pub mod member_login;
pub mod member_perks;
pub mod members;
pub mod merchant_statements;
pub mod merchants;
pub mod notifications;
pub mod order_intake;
pub mod orders;
pub mod payment_intake;
pub mod payment_providers;
pub mod payment_review;
pub mod payments;
pub mod platform_sync;
pub mod points_mall;
pub mod posters;
pub mod pricing;
pub mod privacy;
pub mod product_images;
pub mod promotions;
pub mod receipts;
pub mod recharges;
pub mod recommendations;
pub mod reconciliation;
pub mod refunds;
pub mod reviews;
pub mod sales_report;
pub mod scales;
pub mod search;
pub mod search_words;
pub mod segments;
pub mod service_bot;
pub mod shares;
pub mod shop_session;
pub mod sms;
pub mod staff;
pub mod staff_admin;
pub mod store_ops;
pub mod sweeper;
pub mod webhooks;
pub mod wechat_oauth;
pub mod wechat_subscribe;

use std::sync::Arc;

use crate::app::limits::RateLimiter;
use crate::config::Settings;
use crate::secrets::Keys;
use crate::storage::Store;
use catalog_cache::CatalogCache;
use order_intake::OrderIntake;
use payment_intake::PaymentIntake;

/// Shared by every request; cheap to clone (one reference count: every extractor and
/// middleware clones it), and reads like the [`Shared`] it points to.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl AppState {
    /// Wraps the shared parts.
    pub fn new(shared: Shared) -> Self {
        Self(Arc::new(shared))
    }
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// What every request shares: the store, the configuration, keys, caches and the bus.
pub struct Shared {
    /// The central database.
    pub store: Store,
    /// The configuration the server started with.
    pub settings: Arc<Settings>,
    /// Keys for personal data, look-up hashes, signed codes and payment notifications.
    pub keys: Arc<Keys>,
    /// Batches order creation into group commits.
    pub intake: OrderIntake,
    /// Batches providers' paid notifications into group commits.
    pub payment_intake: PaymentIntake,
    /// Stores the shop pages' tracked-event batches by group commits.
    pub event_intake: event_intake::EventIntake,
    /// Prices and locations for the order hot path (entries live one second).
    pub catalog_cache: Arc<CatalogCache>,
    /// Promotions, categories and SKU records for pricing (entries live one second).
    pub pricing: Arc<crate::app::pricing::PricingCache>,
    /// Login and look-up rate limits.
    pub limiter: Arc<RateLimiter>,
    /// The server's own base URL (for payment callbacks and links).
    pub public_url: Arc<str>,
    /// The store bus publisher (none when MQTT is turned off).
    pub bus: Option<crate::bus::Bus>,
    /// Where devices reach the MQTT broker (none when MQTT is turned off).
    pub broker: Option<crate::bus::BrokerAddress>,
    /// Devices connected through the embedded broker's gateway (none with an external broker).
    pub device_sessions: Option<crate::bus::gateway::Sessions>,
    /// Stops the background work (bus client, watchers, sweeper).
    pub shutdown: tokio_util::sync::CancellationToken,
    /// Outgoing HTTP (the sandbox payment provider's notifications).
    pub http: reqwest::Client,
    /// The shop's product search index.
    pub search: search::SearchIndex,
    /// Searches counted for the hot words, and the hot words last read.
    pub search_words: search_words::SearchWords,
    /// Server events recorded and not yet written ([`events::record`], [`events::flush`]).
    pub pending_events: events::PendingEvents,
    /// Shop sessions recently looked up.
    pub sessions: shop_session::SessionCache,
    /// Cart badges recently counted.
    pub cart_badges: shop_session::CartBadges,
    /// The payment providers (WeChat Pay, Alipay when configured; the sandbox in demo mode).
    pub payments: payment_providers::PaymentProviders,
    /// Sends one-time log-in codes (none: SMS log-in is unavailable; the sandbox only in demo
    /// mode).
    pub sms: Option<Arc<dyn sms::SmsSender>>,
    /// Sends WeChat mini-program subscribe messages (none: not configured).
    pub wechat_subscribe: Option<Arc<dyn wechat_subscribe::SubscribeSender>>,
    /// Where uploaded images are kept (the data folder or an S3-compatible bucket).
    pub media: crate::storage::media::ImageStore,
    /// The share-poster font and the posters rendered recently.
    pub posters: Arc<posters::PosterMaker>,
    /// Delivers chat messages and moves to the connected shoppers and agents.
    pub chat: Arc<chat::ChatHub>,
    /// The customer-service bot's FAQ ranking index.
    pub service_bot: service_bot::ServiceBot,
    /// The recommendation job's lock and the impressions counted and not yet written.
    pub recommendations: recommendations::Recommender,
    /// Wakes the electronic-shelf-label worker.
    pub esl: Arc<esl::EslRuntime>,
    /// This instance among several on one database: its id, job leases, cache invalidation
    /// and chat relayed through PostgreSQL.
    pub cluster: Arc<cluster::Cluster>,
}

/// The chain's day number of a Unix time in milliseconds: days since 1970-01-01 in China
/// Standard Time (UTC+8, no daylight saving), so a day turns at midnight in the stores.
pub fn china_day(ms: i64) -> i64 {
    (ms + 8 * 3_600_000).div_euclid(86_400_000)
}

/// China Standard Time (UTC+8, no daylight saving): the chain's and the providers' clock.
pub fn china_offset() -> chrono::FixedOffset {
    chrono::FixedOffset::east_opt(8 * 3600)
        .unwrap_or_else(|| chrono::FixedOffset::east_opt(0).expect("UTC"))
}
