//! The server's side of the one pricing engine (docs/DESIGN.md §4): it gathers what the engine needs
//! from the database — the catalog records of the basket's SKUs at the location, the active
//! promotions, the member's tier and points, the chosen coupons — and calls
//! [`retail_domain::pricing::price_basket`]. It never computes a price itself.
//!
//! The lanes get the same [`PricingContext`] (`GET /api/v1/pricing/context`) and build their
//! input with the same [`PricingContext::input`] and [`BasketLine::from_sku`], so a basket costs
//! the same online, at the till and offline. Flash sales (秒杀) are online only: they are left
//! out of the lanes' context, because their quantity is counted centrally.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::Utc;
use retail_domain::money::Money;
use retail_domain::pricing::{
    price_basket, BasketLine, MemberContext, PriceSource, PricedBasket, PricingError,
    PricingSettings, TillRounding,
};
use retail_domain::wire::catalog::SkuRecord;
use retail_domain::wire::pricing::{category_path, PricingContext};
use uuid::Uuid;

use crate::app::AppState;
use crate::error::{AppError, AppResult};
use crate::storage;
use crate::storage::promotions::FlashClaim;

/// How far ahead the context lists promotions that have not started yet (so a lane that goes
/// offline tonight still knows tomorrow morning's sale).
const LOOKAHEAD_MS: i64 = 24 * 3600 * 1000;

/// Who the context is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Channel {
    /// The online shop and scan-and-go: flash sales included, no till rounding.
    Online,
    /// A store's lanes: no flash sales, the store's till rounding.
    Lane,
}

#[derive(Clone)]
struct CachedContext {
    at: Instant,
    context: Arc<PricingContext>,
    flash_sales: Arc<HashSet<Uuid>>,
}

type CategoryParents = Arc<HashMap<String, String>>;
type SkuEntries = HashMap<(String, Uuid), (Instant, Option<SkuRecord>)>;

/// Short-lived caches of what every quote reads (one second, like the catalog cache), so the
/// order hot path does not read promotions and categories for every order.
pub struct PricingCache {
    ttl: Duration,
    contexts: Mutex<HashMap<(String, Channel), CachedContext>>,
    categories: Mutex<Option<(Instant, CategoryParents)>>,
    skus: Mutex<SkuEntries>,
    /// Members' growth and points balance, for their tier and the points they may redeem: a
    /// flash-sale shopper pressing "buy" again and again is read once a second. (The order
    /// writer checks the points balance again, in the order's transaction.)
    /// Each entry: the member's tier code (see [`storage::members::effective_tier`]) and points.
    members: Mutex<HashMap<Uuid, (Instant, String, i64)>>,
    /// Held while a context or the category tree is re-read, so a burst of requests after
    /// expiry reads the database once instead of once per request.
    refresh: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for PricingCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PricingCache")
            .field("ttl", &self.ttl)
            .finish()
    }
}

fn poisoned<T>(_: T) -> AppError {
    AppError::Internal(anyhow::anyhow!("pricing cache lock poisoned"))
}

impl PricingCache {
    /// A cache whose entries live `ttl`.
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            contexts: Mutex::default(),
            categories: Mutex::default(),
            skus: Mutex::default(),
            members: Mutex::default(),
            refresh: tokio::sync::Mutex::new(()),
        }
    }

    /// Drops every entry (another instance changed promotions, prices or the catalog).
    pub fn clear(&self) {
        if let Ok(mut m) = self.contexts.lock() {
            m.clear();
        }
        if let Ok(mut m) = self.categories.lock() {
            *m = None;
        }
        if let Ok(mut m) = self.skus.lock() {
            *m = SkuEntries::default();
        }
    }
}

impl PricingCache {
    /// Forgets what was cached of a member (their tier changed: the next quote reads it again).
    pub fn forget_member(&self, id: Uuid) {
        if let Ok(mut members) = self.members.lock() {
            members.remove(&id);
        }
    }
}

/// The pricing context of `location` for `channel`, with the ids of the flash sales in it.
async fn cached_context(
    state: &AppState,
    location: &str,
    channel: Channel,
) -> AppResult<CachedContext> {
    let key = (location.to_owned(), channel);
    let cache = &state.pricing;
    let fresh = || -> AppResult<Option<CachedContext>> {
        Ok(cache
            .contexts
            .lock()
            .map_err(poisoned)?
            .get(&key)
            .filter(|hit| hit.at.elapsed() < cache.ttl)
            .cloned())
    };
    if let Some(hit) = fresh()? {
        return Ok(hit);
    }
    let _refreshing = cache.refresh.lock().await;
    if let Some(hit) = fresh()? {
        return Ok(hit);
    }
    let now = storage::now_ms();
    let version = storage::promotions::version(&state.store).await?;
    let mut promotions: Vec<_> =
        storage::promotions::overlapping(&state.store, now, now + LOOKAHEAD_MS)
            .await?
            .into_iter()
            .filter(|p| p.stores.is_empty() || p.stores.iter().any(|s| s == location))
            .collect();
    let ids: Vec<Uuid> = promotions.iter().map(|p| p.id).collect();
    let flash: HashSet<Uuid> = storage::promotions::flash_sale_ids(&state.store, &ids)
        .await?
        .into_iter()
        .collect();
    let till_rounding = match channel {
        Channel::Online => TillRounding::None,
        Channel::Lane => {
            promotions.retain(|p| !flash.contains(&p.id));
            storage::promotions::till_rounding(&state.store, location).await?
        }
    };
    let context = PricingContext {
        store: location.to_owned(),
        version,
        promotions,
        points_rules: state.settings.points.clone(),
        settings: PricingSettings {
            till_rounding,
            ..PricingSettings::default()
        },
        public_key: state.keys.verifier().public_b64(),
        variable_measure: Some(state.settings.barcodes.variable_measure.clone()),
    };
    let entry = CachedContext {
        at: Instant::now(),
        context: Arc::new(context),
        flash_sales: Arc::new(flash),
    };
    let mut contexts = cache.contexts.lock().map_err(poisoned)?;
    if contexts.len() > 10_000 {
        contexts.clear();
    }
    contexts.insert(key, entry.clone());
    Ok(entry)
}

/// The pricing context a lane (or the shop) prices with.
pub async fn context(
    state: &AppState,
    location: &str,
    channel: Channel,
) -> AppResult<Arc<PricingContext>> {
    Ok(cached_context(state, location, channel).await?.context)
}

async fn category_parents(state: &AppState) -> AppResult<CategoryParents> {
    let cache = &state.pricing;
    let fresh = || -> AppResult<Option<CategoryParents>> {
        Ok(cache
            .categories
            .lock()
            .map_err(poisoned)?
            .as_ref()
            .filter(|(at, _)| at.elapsed() < cache.ttl)
            .map(|(_, parents)| parents.clone()))
    };
    if let Some(parents) = fresh()? {
        return Ok(parents);
    }
    let _refreshing = cache.refresh.lock().await;
    if let Some(parents) = fresh()? {
        return Ok(parents);
    }
    let parents: CategoryParents = Arc::new(
        storage::catalog::categories(&state.store)
            .await?
            .into_iter()
            .filter_map(|c| c.parent_id.map(|p| (c.id, p)))
            .collect(),
    );
    *cache.categories.lock().map_err(poisoned)? = Some((Instant::now(), parents.clone()));
    Ok(parents)
}

/// SKU records at `location` (its price overrides applied), cached briefly.
pub async fn sku_records(
    state: &AppState,
    location: &str,
    ids: &[Uuid],
) -> AppResult<HashMap<Uuid, SkuRecord>> {
    let cache = &state.pricing;
    let mut found = HashMap::with_capacity(ids.len());
    let lookup = |found: &mut HashMap<Uuid, SkuRecord>| -> AppResult<Vec<Uuid>> {
        let skus = cache.skus.lock().map_err(poisoned)?;
        let mut missing = Vec::new();
        for id in ids {
            match skus.get(&(location.to_owned(), *id)) {
                Some((at, record)) if at.elapsed() < cache.ttl => {
                    if let Some(record) = record {
                        found.insert(*id, record.clone());
                    }
                }
                _ => missing.push(*id),
            }
        }
        Ok(missing)
    };
    let mut missing = lookup(&mut found)?;
    let _refreshing;
    if !missing.is_empty() {
        // One reader at a time: requests arriving together wait for the first one's answer.
        _refreshing = cache.refresh.lock().await;
        missing = lookup(&mut found)?;
    }
    if !missing.is_empty() {
        let mut fetched = storage::catalog::skus(&state.store, &missing, Some(location)).await?;
        let now = Instant::now();
        let mut skus = cache.skus.lock().map_err(poisoned)?;
        if skus.len() > 200_000 {
            skus.retain(|_, (at, _)| now.duration_since(*at) < cache.ttl);
        }
        for id in missing {
            let record = fetched.remove(&id);
            if let Some(record) = &record {
                found.insert(id, record.clone());
            }
            skus.insert((location.to_owned(), id), (now, record));
        }
    }
    Ok(found)
}

/// A basket to price.
#[derive(Clone, Debug)]
pub struct BasketRequest {
    /// Where (a store, or the warehouse for delivery orders).
    pub location: String,
    /// Which context.
    pub channel: Channel,
    /// The identified member.
    pub member_id: Option<Uuid>,
    /// SKUs and quantities, in the shopper's order.
    pub lines: Vec<(Uuid, i64)>,
    /// Lines sold by a scale's price label, by index into `lines`, with the label's price
    /// (lane sales only: see [`BasketLine::labelled`]).
    pub label_prices: HashMap<usize, Money>,
    /// The member's coupons to use.
    pub coupons: Vec<Uuid>,
    /// Points to redeem.
    pub points_to_redeem: i64,
}

/// A priced basket with what placing it as an order needs.
#[derive(Clone, Debug)]
pub struct Quote {
    /// The engine's answer.
    pub basket: PricedBasket,
    /// The catalog records of the lines, by SKU.
    pub skus: HashMap<Uuid, SkuRecord>,
    /// Flash-sale units the basket takes (one per line priced by a flash sale).
    pub flash_claims: Vec<FlashClaim>,
}

/// Turns an engine refusal into a 422 naming what is wrong.
pub fn pricing_error(err: PricingError) -> AppError {
    let field = match &err {
        PricingError::InvalidLine { line_no, .. } => {
            format!("lines[{}]", line_no.saturating_sub(1))
        }
        PricingError::InvalidBasket(_) | PricingError::DuplicateLine(_) => "lines".into(),
        PricingError::InvalidPromotion { .. }
        | PricingError::DuplicatePromotion(_)
        | PricingError::ConflictingPromotions { .. } => "promotions".into(),
        PricingError::TooMany { what, .. } => (*what).into(),
        _ if err.to_string().contains("point") => "points_to_redeem".into(),
        _ => "coupons".into(),
    };
    AppError::field(&field, err.to_string())
}

/// Prices a basket with the engine, from the database's view of the catalog, promotions,
/// member and coupons. Unknown or off-shelf SKUs, foreign or used coupons and impossible point
/// amounts are refused with a field error; nothing is changed.
pub async fn quote(state: &AppState, req: &BasketRequest) -> AppResult<Quote> {
    quote_with(state, req, None, MemberRead::Fresh, &[]).await
}

/// [`quote`] for placing an order: the member's tier and points balance may be up to one cache
/// period old (a flash-sale shopper pressing "buy" again and again is read once a second); the
/// order writer checks the points redeemed against the balance again, in the order's
/// transaction.
pub async fn quote_for_order(state: &AppState, req: &BasketRequest) -> AppResult<Quote> {
    quote_with(state, req, None, MemberRead::Cached, &[]).await
}

/// [`quote_for_order`] with promotions that are not in the location's context but apply to this
/// basket alone: a group-buy's price (拼团价, [`crate::app::group_buys`]), offered only to the
/// member opening or joining a team. The engine prices it like any sale-price promotion (the
/// lowest unit price wins, its explanation is on the result), so the group price is a price the
/// engine gives; it is never in a lane's context, so a lane never applies it.
pub async fn quote_for_order_with(
    state: &AppState,
    req: &BasketRequest,
    extra: &[retail_domain::pricing::Promotion],
) -> AppResult<Quote> {
    quote_with(state, req, None, MemberRead::Cached, extra).await
}

/// How a quote reads the member.
#[derive(Clone, Copy, PartialEq, Eq)]
enum MemberRead {
    /// From the database (what a page or an explicit quote shows).
    Fresh,
    /// Through [`PricingCache::members`].
    Cached,
}

/// A member's tier code and points balance, read fresh from the database.
async fn member_tier_and_points(state: &AppState, id: Uuid) -> AppResult<(String, i64)> {
    let (growth, points, platform_tier) = storage::members::pricing_member(&state.store, id)
        .await?
        .ok_or_else(|| AppError::field("member", "no such member"))?;
    let rules = &state.settings.points;
    let tier = storage::members::effective_tier(rules, growth, platform_tier.as_deref());
    Ok((tier.code.clone(), points))
}

/// A member's tier code and points balance, read at most once per cache period.
async fn member_tier_and_points_cached(state: &AppState, id: Uuid) -> AppResult<(String, i64)> {
    let cache = &state.pricing;
    let hit = cache
        .members
        .lock()
        .map_err(poisoned)?
        .get(&id)
        .filter(|(at, _, _)| at.elapsed() < cache.ttl)
        .map(|(_, tier, points)| (tier.clone(), *points));
    if let Some(hit) = hit {
        return Ok(hit);
    }
    let (tier, points) = member_tier_and_points(state, id).await?;
    let mut members = cache.members.lock().map_err(poisoned)?;
    if members.len() > 100_000 {
        members.retain(|_, (at, _, _)| at.elapsed() < cache.ttl);
    }
    members.insert(id, (Instant::now(), tier.clone(), points));
    Ok((tier, points))
}

/// [`quote`], with the coupons given (already checked by the caller) instead of looked up from
/// `req.coupons`.
async fn quote_with(
    state: &AppState,
    req: &BasketRequest,
    given_coupons: Option<Vec<retail_domain::pricing::Coupon>>,
    member_read: MemberRead,
    extra: &[retail_domain::pricing::Promotion],
) -> AppResult<Quote> {
    let ids: Vec<Uuid> = req.lines.iter().map(|(id, _)| *id).collect();
    let skus = sku_records(state, &req.location, &ids).await?;
    let parents = category_parents(state).await?;
    let cached = cached_context(state, &req.location, req.channel).await?;
    let mut lines = Vec::with_capacity(req.lines.len());
    for (i, (sku_id, qty)) in req.lines.iter().enumerate() {
        let sku = skus
            .get(sku_id)
            .filter(|s| s.status == retail_domain::wire::catalog::ShelfStatus::OnShelf)
            .ok_or_else(|| {
                AppError::field(&format!("lines[{i}].sku_id"), "no such product on sale")
            })?;
        let path = category_path(&sku.category_id, |c| parents.get(c).map(String::as_str));
        let line_no = u32::try_from(i + 1).unwrap_or(u32::MAX);
        let line = BasketLine::from_sku(line_no, sku, path, *qty);
        lines.push(match req.label_prices.get(&i) {
            Some(price) => line.labelled(*price),
            None => line,
        });
    }
    let member = match req.member_id {
        Some(id) => {
            let (tier, points_balance) = match member_read {
                MemberRead::Cached => member_tier_and_points_cached(state, id).await?,
                MemberRead::Fresh => member_tier_and_points(state, id).await?,
            };
            Some(MemberContext {
                member_id: id,
                tier,
                points_balance,
            })
        }
        None => None,
    };
    let coupons = match (req.member_id, given_coupons) {
        (_, Some(given)) => given,
        (Some(member_id), None) => storage::coupons::chosen(&state.store, member_id, &req.coupons)
            .await?
            .iter()
            .map(|c| c.to_engine())
            .collect(),
        (None, None) if req.coupons.is_empty() => Vec::new(),
        (None, None) => {
            return Err(AppError::field(
                "coupons",
                "coupons can only be used by a logged-in member",
            ))
        }
    };
    let mut input = cached
        .context
        .input(lines, member, coupons, req.points_to_redeem, Utc::now());
    input.promotions.extend(extra.iter().cloned());
    let basket = price_basket(&input).map_err(pricing_error)?;
    let mut flash_claims = Vec::new();
    for line in &basket.lines {
        if let PriceSource::Sale { promotion_id } = line.price_source {
            if cached.flash_sales.contains(&promotion_id) {
                let member_id = req.member_id.ok_or_else(|| {
                    AppError::field(
                        "member",
                        "flash sales (秒杀) are for logged-in members: log in to buy",
                    )
                })?;
                flash_claims.push(FlashClaim {
                    flash_sale_id: promotion_id,
                    member_id,
                    qty: line.qty,
                });
            }
        }
    }
    Ok(Quote {
        basket,
        skus,
        flash_claims,
    })
}

/// Re-prices a lane's sale with the engine and the store's current context, as a check: the
/// lane priced it (maybe offline, with the context it had), the money has been taken, so the
/// sale stands either way; a different result is reported for the store to review.
/// Returns the server's amount due when it differs from the lane's total.
pub async fn check_lane_sale(
    state: &AppState,
    sale: &retail_domain::wire::sales::PosSale,
) -> AppResult<Option<retail_domain::money::Money>> {
    let request = BasketRequest {
        location: sale.store.clone(),
        channel: Channel::Lane,
        member_id: sale.member_id,
        lines: sale.lines.iter().map(|l| (l.sku_id, l.qty)).collect(),
        label_prices: sale
            .lines
            .iter()
            .enumerate()
            .filter_map(|(i, l)| Some((i, l.label_price?)))
            .collect(),
        coupons: Vec::new(),
        points_to_redeem: 0,
    };
    // The coupons the sale used are priced as they were at the till (they are `used` by the
    // sale now, so they are not looked up as a shopper's choice).
    let coupons = storage::coupons::used_by_order(&state.store, sale.id)
        .await?
        .iter()
        .filter(|c| sale.coupons.contains(&c.id))
        .map(|c| c.to_engine())
        .collect();
    let quote = quote_with(state, &request, Some(coupons), MemberRead::Fresh, &[]).await?;
    Ok((quote.basket.total != sale.total).then_some(quote.basket.total))
}
