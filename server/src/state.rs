//! The one application state shared by every handler.

use std::sync::Arc;

use crate::auth::RateLimiter;
use crate::catalog_cache::CatalogCache;
use crate::config::Settings;
use crate::order_intake::OrderIntake;
use crate::secrets::Keys;
use crate::storage::Store;

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
    /// Prices and locations for the order hot path (entries live one second).
    pub catalog_cache: Arc<CatalogCache>,
    /// Promotions, categories and SKU records for pricing (entries live one second).
    pub pricing: Arc<crate::pricing::PricingCache>,
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
    /// The shop's and console's page state (search index).
    pub web: Arc<crate::web::WebState>,
}
