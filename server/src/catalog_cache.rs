//! A short-lived read-through cache of what the order hot path reads for every order: SKU
//! prices at a location and the locations themselves. Entries live `ttl` (one second by
//! default), so a price change reaches online checkout on every server instance within that
//! time, while a flash sale reads the database once per second instead of once per order.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use uuid::Uuid;

use crate::error::{AppError, AppResult};
use crate::storage::catalog::SkuPrice;
use crate::storage::locations::Location;
use crate::storage::{self, Store};

type Entry<T> = (Instant, Option<T>);

/// The cache; shared through `AppState`.
#[derive(Debug)]
pub struct CatalogCache {
    ttl: Duration,
    prices: Mutex<HashMap<(String, Uuid), Entry<SkuPrice>>>,
    locations: Mutex<HashMap<String, Entry<Location>>>,
    refresh: tokio::sync::Mutex<()>,
}

fn poisoned<T>(_: T) -> AppError {
    AppError::Internal(anyhow::anyhow!("catalog cache lock poisoned"))
}

impl CatalogCache {
    /// A cache whose entries live `ttl`.
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            prices: Mutex::default(),
            locations: Mutex::default(),
            refresh: tokio::sync::Mutex::new(()),
        }
    }

    /// Prices of `skus` at `location` (unknown SKUs are absent), fetching what is missing or
    /// stale in one query.
    pub async fn sku_prices(
        &self,
        store: &Store,
        location: &str,
        skus: &[Uuid],
    ) -> AppResult<HashMap<Uuid, SkuPrice>> {
        let now = Instant::now();
        let mut found = HashMap::with_capacity(skus.len());
        let mut missing = Vec::new();
        {
            let prices = self.prices.lock().map_err(poisoned)?;
            for sku in skus {
                match prices.get(&(location.to_owned(), *sku)) {
                    Some((at, price)) if now.duration_since(*at) < self.ttl => {
                        if let Some(price) = price {
                            found.insert(*sku, price.clone());
                        }
                    }
                    _ => missing.push(*sku),
                }
            }
        }
        if !missing.is_empty() {
            let fetched = storage::catalog::sku_prices(store, location, &missing).await?;
            let mut prices = self.prices.lock().map_err(poisoned)?;
            if prices.len() > 200_000 {
                prices.retain(|_, (at, _)| now.duration_since(*at) < self.ttl);
            }
            for sku in missing {
                let price = fetched.get(&sku).cloned();
                if let Some(price) = &price {
                    found.insert(sku, price.clone());
                }
                prices.insert((location.to_owned(), sku), (now, price));
            }
        }
        Ok(found)
    }

    /// A location, or `None` when there is no such location.
    pub async fn location(&self, store: &Store, id: &str) -> AppResult<Option<Location>> {
        let fresh = || -> AppResult<Option<Option<Location>>> {
            Ok(self
                .locations
                .lock()
                .map_err(poisoned)?
                .get(id)
                .filter(|(at, _)| at.elapsed() < self.ttl)
                .map(|(_, location)| location.clone()))
        };
        if let Some(location) = fresh()? {
            return Ok(location);
        }
        // Requests arriving together after expiry wait for one read instead of each reading.
        let _refreshing = self.refresh.lock().await;
        if let Some(location) = fresh()? {
            return Ok(location);
        }
        let now = Instant::now();
        let location = match storage::locations::get(store, id).await {
            Ok(location) => Some(location),
            Err(AppError::NotFound(_)) => None,
            Err(err) => return Err(err),
        };
        let mut locations = self.locations.lock().map_err(poisoned)?;
        if locations.len() > 10_000 {
            locations.clear();
        }
        locations.insert(id.to_owned(), (now, location.clone()));
        Ok(location)
    }
}
