//! A short-lived read-through cache of what the hot paths read on every request: SKU prices at
//! a location and the locations themselves (every order), and products with their SKUs, images,
//! availability by store, the current flash sales and the stores (every shop page). Entries live
//! `ttl` (one second by default), so a price or stock change reaches online checkout on every
//! server instance within that time and the shop's pages within two (a page's expired entry
//! serves while one request re-reads it), while a flash sale or a busy product page reads the
//! database once per second instead of once per request. Stock is still checked for real when
//! an order reserves it; the cached availability is only what a product page shows.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use uuid::Uuid;

use crate::error::{AppError, AppResult};
use crate::storage::catalog::{ProductDetail, SkuPrice};
use crate::storage::locations::Location;
use crate::storage::product_images::ProductImage;
use crate::storage::promotions::PromotionView;
use crate::storage::stock::StoreAvailability;
use crate::storage::{self, Store};

type Entry<T> = (Instant, Option<T>);

/// The cache; shared through `AppState`.
#[derive(Debug)]
pub struct CatalogCache {
    ttl: Duration,
    prices: Mutex<HashMap<(String, Uuid), Entry<SkuPrice>>>,
    locations: Mutex<HashMap<String, Entry<Location>>>,
    products: Mutex<HashMap<Uuid, Entry<Option<ProductDetail>>>>,
    stores: Mutex<HashMap<(), Entry<Vec<Location>>>>,
    availability: Mutex<HashMap<Uuid, Entry<Vec<StoreAvailability>>>>,
    images: Mutex<HashMap<Uuid, Entry<Vec<ProductImage>>>>,
    flash_sales: Mutex<HashMap<(), Entry<Vec<PromotionView>>>>,
    /// The merchant of each SKU's product, kept without expiry: a product's merchant is set when
    /// it is created and never changes, and SKU ids are never reused.
    sku_merchants: Mutex<HashMap<Uuid, String>>,
    refresh: tokio::sync::Mutex<()>,
    /// Held while a shop page's entry is re-read ([`CatalogCache::read_through`]), apart from
    /// the order path's `refresh`.
    page_refresh: tokio::sync::Mutex<()>,
}

/// The fresh entry under `key`, if there is one (`Some(None)`: known to be absent).
fn fresh<K: std::hash::Hash + Eq, T: Clone>(
    map: &Mutex<HashMap<K, Entry<T>>>,
    key: &K,
    ttl: Duration,
) -> AppResult<Option<Option<T>>> {
    Ok(map
        .lock()
        .map_err(poisoned)?
        .get(key)
        .filter(|(at, _)| at.elapsed() < ttl)
        .map(|(_, value)| value.clone()))
}

/// Stores `value` under `key`, dropping stale entries when the map has grown past `cap`.
fn remember<K: std::hash::Hash + Eq, T>(
    map: &Mutex<HashMap<K, Entry<T>>>,
    key: K,
    at: Instant,
    value: Option<T>,
    ttl: Duration,
    cap: usize,
) -> AppResult<()> {
    let mut map = map.lock().map_err(poisoned)?;
    if map.len() >= cap {
        map.retain(|_, (seen, _)| at.duration_since(*seen) < ttl);
        if map.len() >= cap {
            map.clear();
        }
    }
    map.insert(key, (at, value));
    Ok(())
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
            products: Mutex::default(),
            availability: Mutex::default(),
            images: Mutex::default(),
            flash_sales: Mutex::default(),
            sku_merchants: Mutex::default(),
            refresh: tokio::sync::Mutex::new(()),
            page_refresh: tokio::sync::Mutex::new(()),
            stores: Mutex::default(),
        }
    }

    /// Drops every entry but stock (another instance changed the catalog, prices or
    /// promotions; stock is re-read every `ttl` anyway).
    pub fn clear(&self) {
        fn drop_all<K, T>(map: &Mutex<HashMap<K, Entry<T>>>) {
            if let Ok(mut m) = map.lock() {
                m.clear();
            }
        }
        drop_all(&self.prices);
        drop_all(&self.locations);
        drop_all(&self.products);
        drop_all(&self.stores);
        drop_all(&self.images);
        drop_all(&self.flash_sales);
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

    /// The merchant (`platform`: the operator's own) of each of `skus` that exists, reading
    /// only those not seen before.
    pub async fn sku_merchants(
        &self,
        store: &Store,
        skus: &[Uuid],
    ) -> AppResult<HashMap<Uuid, String>> {
        let mut found = HashMap::with_capacity(skus.len());
        let mut missing = Vec::new();
        {
            let known = self.sku_merchants.lock().map_err(poisoned)?;
            for sku in skus {
                match known.get(sku) {
                    Some(merchant) => {
                        found.insert(*sku, merchant.clone());
                    }
                    None => missing.push(*sku),
                }
            }
        }
        if !missing.is_empty() {
            let fetched = storage::merchants::sku_owners(store, &missing).await?;
            let mut known = self.sku_merchants.lock().map_err(poisoned)?;
            if known.len() > 200_000 {
                known.clear();
            }
            for (sku, merchant) in fetched {
                known.insert(sku, merchant.clone());
                found.insert(sku, merchant);
            }
        }
        Ok(found)
    }

    /// A location, or `None` when there is no such location.
    pub async fn location(&self, store: &Store, id: &str) -> AppResult<Option<Location>> {
        let key = id.to_owned();
        if let Some(location) = fresh(&self.locations, &key, self.ttl)? {
            return Ok(location);
        }
        // Requests arriving together after expiry wait for one read instead of each reading.
        let _refreshing = self.refresh.lock().await;
        if let Some(location) = fresh(&self.locations, &key, self.ttl)? {
            return Ok(location);
        }
        let now = Instant::now();
        let location = match storage::locations::get(store, id).await {
            Ok(location) => Some(location),
            Err(AppError::NotFound(_)) => None,
            Err(err) => return Err(err),
        };
        remember(
            &self.locations,
            key,
            now,
            location.clone(),
            self.ttl,
            10_000,
        )?;
        Ok(location)
    }

    /// The platform's first warehouse by code (a merchant's never), or `None` when the chain
    /// has none (cached like a location, under a key no location code can have).
    pub async fn first_warehouse(&self, store: &Store) -> AppResult<Option<Location>> {
        let key = "\0first-warehouse".to_owned();
        if let Some(location) = fresh(&self.locations, &key, self.ttl)? {
            return Ok(location);
        }
        let now = Instant::now();
        let location = storage::locations::list_of(store, Some(storage::merchants::PLATFORM))
            .await?
            .into_iter()
            .find(|l| l.kind == "warehouse");
        remember(
            &self.locations,
            key,
            now,
            location.clone(),
            self.ttl,
            10_000,
        )?;
        Ok(location)
    }

    /// A product with its SKUs, or `None` when there is no such product.
    pub async fn product(&self, store: &Store, id: Uuid) -> AppResult<Option<ProductDetail>> {
        self.read_through(&self.products, id, storage::catalog::product(store, id))
            .await
    }

    /// The chain's stores, by code (the shop's pickup choices).
    pub async fn stores(&self, store: &Store) -> AppResult<Vec<Location>> {
        self.read_through(&self.stores, (), async {
            Ok(storage::locations::list(store)
                .await?
                .into_iter()
                .filter(|l| l.kind == "store")
                .collect())
        })
        .await
    }

    /// Available quantity of `sku_id` at every store, as a product page shows it.
    pub async fn availability(
        &self,
        store: &Store,
        sku_id: Uuid,
    ) -> AppResult<Vec<StoreAvailability>> {
        self.read_through(
            &self.availability,
            sku_id,
            storage::stock::availability(store, sku_id),
        )
        .await
    }

    /// A product's images in their order, as the product page shows them.
    pub async fn product_images(
        &self,
        store: &Store,
        product_id: Uuid,
    ) -> AppResult<Vec<ProductImage>> {
        self.read_through(
            &self.images,
            product_id,
            storage::product_images::list(store, product_id),
        )
        .await
    }

    /// Drops a product's images (changed on this instance: its next page shows the change at
    /// once; other instances show it within the cache's `ttl`).
    pub fn forget_images(&self, product_id: Uuid) {
        if let Ok(mut images) = self.images.lock() {
            images.remove(&product_id);
        }
    }

    /// The current flash sales (running or about to, every one of them), as the product page
    /// reads a running one.
    pub async fn current_flash_sales(&self, store: &Store) -> AppResult<Vec<PromotionView>> {
        self.read_through(
            &self.flash_sales,
            (),
            storage::promotions::current_flash_sales(store),
        )
        .await
    }

    /// The fresh entry of `map` under `key`, else what `load` reads, kept for the cache's `ttl`.
    /// After expiry one request re-reads it while the others go on with the entry they had (for
    /// at most another `ttl`; a page may then show what was true up to two `ttl`s ago), and
    /// requests finding nothing wait for one read instead of each reading: on PostgreSQL a
    /// hundred shoppers on one product page otherwise re-read it together every second.
    async fn read_through<K, T>(
        &self,
        map: &Mutex<HashMap<K, Entry<T>>>,
        key: K,
        load: impl std::future::Future<Output = AppResult<T>>,
    ) -> AppResult<T>
    where
        K: std::hash::Hash + Eq,
        T: Clone,
    {
        if let Some(Some(value)) = fresh(map, &key, self.ttl)? {
            return Ok(value);
        }
        let _refreshing = match self.page_refresh.try_lock() {
            Ok(refreshing) => refreshing,
            Err(_) => {
                // Another request is re-reading: the entry just expired is still good enough.
                if let Some(Some(value)) = fresh(map, &key, self.ttl * 2)? {
                    return Ok(value);
                }
                self.page_refresh.lock().await
            }
        };
        if let Some(Some(value)) = fresh(map, &key, self.ttl)? {
            return Ok(value);
        }
        let now = Instant::now();
        let value = load.await?;
        remember(map, key, now, Some(value.clone()), self.ttl, 50_000)?;
        Ok(value)
    }
}
