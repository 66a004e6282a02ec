//! Recommendations (issue 19): "frequently bought together", "for you", "similar items" and
//! "popular at your store", computed by a scheduled job ([`run`], [`compute`]) into
//! precomputed lists (`storage::recommendations`, `rec_lists`) and served from them.
//!
//! The job reads the sold orders (paid online and scan-and-go orders and lane sales, not
//! cancelled) of the last `history_days` in pages of `batch` orders, and the members'
//! product-page views; it computes in a blocking thread (never on the shop's request
//! threads) and writes the lists `batch` subjects per short transaction, then deletes what an
//! earlier run wrote and this one did not. The same input gives the same lists, so a re-run
//! changes nothing. A member who opted out of personalisation has no "for you" list (their
//! views never carry their id; their purchases are left out) and is shown what is popular.
//!
//! - bought together: SKUs a and b sharing at least `min_support` orders, scored by the
//!   cosine `n(a,b) / sqrt(n(a) n(b))` of their order counts;
//! - similar: SKUs of other products in the same category, the same brand and the same price
//!   band (a factor of 1.5 either way) first, then the better sellers;
//! - popular: a store's best sellers (orders holding the SKU) over `popular_days`, and the
//!   chain's (subject `''`);
//! - for you: every SKU bought together with, or similar to, what the member bought
//!   (weight 1, fading with age) or viewed (weight ½), plus the viewed SKUs themselves; served
//!   without what they bought in the last `exclude_bought_days` and what is out of stock at
//!   their store, filled up with what is popular there.
//!
//! Tiles are marked `data-track="recommendation"` with `data-track-list` (the list kind) and
//! `data-track-sku`, so click-through comes from the `click` events; impressions (a list
//! shown) are counted in memory per China day and list and written by the job's loop.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::{china_day, AppState};
use crate::actor::{Role, StaffActor};
use crate::error::{AppError, AppResult};
use crate::storage::recommendations::{self as recs, CatalogSku, ListItem};
use crate::storage::{now_ms, Store};

/// The list kinds (`rec_lists.kind`, the `list` of a recommendation click).
pub const TOGETHER: &str = "together";
/// "For you".
pub const FOR_YOU: &str = "for_you";
/// "Similar items".
pub const SIMILAR: &str = "similar";
/// "Popular at your store".
pub const POPULAR: &str = "popular";
/// Every list kind, as the console shows them.
pub const KINDS: &[&str] = &[FOR_YOU, TOGETHER, SIMILAR, POPULAR];

const DAY_MS: i64 = 86_400_000;

/// The job's shared parts: one run at a time, and the impressions not yet written.
#[derive(Debug, Default)]
pub struct Recommender {
    running: tokio::sync::Mutex<()>,
    impressions: Mutex<HashMap<(i64, String), i64>>,
}

impl Recommender {
    /// Counts one showing of the list `kind` (today, China time).
    pub fn shown(&self, kind: &str) {
        if let Ok(mut map) = self.impressions.lock() {
            *map.entry((china_day(now_ms()), kind.to_owned()))
                .or_default() += 1;
        }
    }

    fn take(&self) -> Vec<((i64, String), i64)> {
        match self.impressions.lock() {
            Ok(mut map) => map.drain().collect(),
            Err(_) => Vec::new(),
        }
    }
}

/// A recommended SKU and the list it came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rec {
    /// The SKU.
    pub sku_id: Uuid,
    /// Its product.
    pub product_id: Uuid,
    /// The list kind ([`FOR_YOU`], [`TOGETHER`], [`SIMILAR`], [`POPULAR`]).
    pub list: &'static str,
}

impl Rec {
    fn of(item: &ListItem, list: &'static str) -> Self {
        Self {
            sku_id: item.sku_id,
            product_id: item.product_id,
            list,
        }
    }
}

/// What a run of the job did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RunReport {
    /// The run's id (its start, Unix ms).
    pub run_id: i64,
    /// Sold orders read.
    pub orders: i64,
    /// Members given a "for you" list.
    pub members: i64,
    /// List rows written.
    pub rows: i64,
    /// Rows of earlier runs deleted.
    pub deleted: i64,
}

/// The job's loop: the first run `first_run_secs` after start, then every `every_secs`;
/// impressions written every ten seconds and at shutdown.
pub async fn run(state: AppState, cancel: CancellationToken) {
    let settings = &state.settings.recommendations;
    let mut next = if settings.every_secs == 0 {
        None
    } else {
        Some(now_ms() + settings.first_run_secs as i64 * 1000)
    };
    loop {
        if let Some(at) = next {
            if now_ms() >= at {
                let hold = Duration::from_secs(settings.every_secs);
                let run = super::cluster::leased(&state, "recommendations", hold, compute(&state));
                if let Err(err) = run.await {
                    tracing::warn!(error = %err, "computing recommendations failed; will retry");
                }
                next = Some(now_ms() + settings.every_secs as i64 * 1000);
            }
        }
        if let Err(err) = flush_impressions(&state).await {
            tracing::warn!(error = %err, "writing recommendation impressions failed");
        }
        tokio::select! {
            () = cancel.cancelled() => break,
            () = tokio::time::sleep(Duration::from_secs(10)) => {}
        }
    }
    if let Err(err) = flush_impressions(&state).await {
        tracing::warn!(error = %err, "writing recommendation impressions failed");
    }
}

/// The last finished run: (run id, finished at, orders read, members, rows written).
pub async fn last_run(state: &AppState) -> AppResult<Option<(i64, i64, i64, i64, i64)>> {
    recs::last_run(&state.store).await
}

/// Writes the impressions counted so far (put back when the write fails).
pub async fn flush_impressions(state: &AppState) -> AppResult<()> {
    let counts = state.recommendations.take();
    if let Err(err) = recs::add_impressions(&state.store, &counts).await {
        if let Ok(mut map) = state.recommendations.impressions.lock() {
            for (key, n) in counts {
                *map.entry(key).or_default() += n;
            }
        }
        return Err(err);
    }
    Ok(())
}

/// What the job reads, gathered from the store.
#[derive(Debug, Default)]
pub struct History {
    /// The on-shelf catalog.
    pub catalog: Vec<CatalogSku>,
    /// Sold orders: (created at, member, store, SKUs).
    pub orders: Vec<(i64, Option<String>, String, Vec<String>)>,
    /// Product-page views: (member, product id).
    pub views: Vec<(String, String)>,
    /// Members who opted out.
    pub opted_out: HashSet<String>,
}

/// The computed lists, per kind: (subject, items best first).
#[derive(Debug, Default)]
pub struct Lists {
    /// Bought together, per SKU.
    pub together: Vec<(String, Vec<ListItem>)>,
    /// Similar, per SKU.
    pub similar: Vec<(String, Vec<ListItem>)>,
    /// Popular, per store and `''` (the chain).
    pub popular: Vec<(String, Vec<ListItem>)>,
    /// For you, per member.
    pub for_you: Vec<(String, Vec<ListItem>)>,
}

/// Reads what the job needs: sold orders since `now - history_days`, in pages of `batch`.
async fn gather(
    store: &Store,
    settings: &crate::config::RecommendationSettings,
    now: i64,
) -> AppResult<History> {
    let mut history = History {
        catalog: recs::catalog(store).await?,
        opted_out: recs::opted_out_members(store).await?,
        ..History::default()
    };
    let batch = settings.batch.max(1) as i64;
    let since = now - i64::from(settings.history_days) * DAY_MS;
    let mut after: Option<(i64, String)> = None;
    loop {
        let page = recs::sold_orders(store, since, after.as_ref(), batch).await?;
        let Some(last) = page.last() else { break };
        after = Some((last.created_at, last.id.clone()));
        let full = page.len() as i64 == batch;
        for o in page {
            let skus = o.lines.into_iter().map(|(s, _)| s).collect();
            history
                .orders
                .push((o.created_at, o.member_id, o.location_id, skus));
        }
        if !full {
            break;
        }
        tokio::task::yield_now().await;
    }
    let since = now - i64::from(settings.view_days) * DAY_MS;
    let mut after = String::new();
    loop {
        let page = recs::member_views(store, since, &after, batch * 4).await?;
        let Some(last) = page.last() else { break };
        after = last.0.clone();
        let full = page.len() as i64 == batch * 4;
        for (_, member, page) in page {
            if let Some(product) = page.strip_prefix("/p/") {
                history.views.push((member, product.to_owned()));
            }
        }
        if !full {
            break;
        }
        tokio::task::yield_now().await;
    }
    Ok(history)
}

/// Computes every list from `history` as at `now` (pure: the same history gives the same
/// lists).
pub fn lists_from(
    history: &History,
    settings: &crate::config::RecommendationSettings,
    now: i64,
) -> Lists {
    let len = settings.list_len.max(1);
    // SKU indexes over the on-shelf catalog (what is off the shelf is never recommended).
    let cat = &history.catalog;
    let index: HashMap<String, u32> = cat
        .iter()
        .enumerate()
        .map(|(i, s)| (s.sku_id.to_string(), i as u32))
        .collect();
    let item = |i: u32, score: f64| ListItem {
        sku_id: cat[i as usize].sku_id,
        product_id: cat[i as usize].product_id,
        score: (score * 1_000_000.0).round() as i64,
    };
    let popular_since = now - i64::from(settings.popular_days) * DAY_MS;
    let mut count = vec![0u32; cat.len()];
    let mut pairs: HashMap<(u32, u32), u32> = HashMap::new();
    let mut sold_at: HashMap<&str, HashMap<u32, u32>> = HashMap::new();
    let mut chain: HashMap<u32, u32> = HashMap::new();
    let mut bought: HashMap<&str, Vec<(i64, u32)>> = HashMap::new();
    for (at, member, location, skus) in &history.orders {
        let mut basket: Vec<u32> = skus.iter().filter_map(|s| index.get(s).copied()).collect();
        basket.sort_unstable();
        basket.dedup();
        for &a in &basket {
            count[a as usize] += 1;
        }
        for (x, &a) in basket.iter().enumerate().take(50) {
            for &b in basket.iter().skip(x + 1).take(50) {
                *pairs.entry((a, b)).or_default() += 1;
            }
        }
        if *at >= popular_since {
            let here = sold_at.entry(location.as_str()).or_default();
            for &a in &basket {
                *here.entry(a).or_default() += 1;
                *chain.entry(a).or_default() += 1;
            }
        }
        if let Some(m) = member.as_deref() {
            if !history.opted_out.contains(m) {
                bought
                    .entry(m)
                    .or_default()
                    .extend(basket.iter().map(|&a| (*at, a)));
            }
        }
    }
    // Bought together: cosine over order counts, pairs with enough support.
    let mut together: HashMap<u32, Vec<(u32, f64)>> = HashMap::new();
    for (&(a, b), &n) in &pairs {
        if n < settings.min_support.max(1) {
            continue;
        }
        let score =
            f64::from(n) / (f64::from(count[a as usize]) * f64::from(count[b as usize])).sqrt();
        together.entry(a).or_default().push((b, score));
        together.entry(b).or_default().push((a, score));
    }
    let rank = |list: &mut Vec<(u32, f64)>| {
        list.sort_by(|x, y| y.1.total_cmp(&x.1).then(x.0.cmp(&y.0)));
    };
    for list in together.values_mut() {
        rank(list);
        list.truncate(len);
    }
    // Similar: one SKU per other product (its best seller) in the same category.
    let mut best_of_product: HashMap<Uuid, u32> = HashMap::new();
    for (i, s) in cat.iter().enumerate() {
        let i = i as u32;
        best_of_product
            .entry(s.product_id)
            .and_modify(|b| {
                if count[i as usize] > count[*b as usize] {
                    *b = i;
                }
            })
            .or_insert(i);
    }
    let mut by_category: HashMap<&str, Vec<u32>> = HashMap::new();
    let mut reps: Vec<u32> = best_of_product.values().copied().collect();
    reps.sort_unstable();
    for &r in &reps {
        by_category
            .entry(cat[r as usize].category_id.as_str())
            .or_default()
            .push(r);
    }
    let max_count = f64::from(count.iter().copied().max().unwrap_or(0).max(1));
    let mut similar: HashMap<u32, Vec<(u32, f64)>> = HashMap::new();
    for (i, s) in cat.iter().enumerate() {
        let i = i as u32;
        let Some(peers) = by_category.get(s.category_id.as_str()) else {
            continue;
        };
        let mut list: Vec<(u32, f64)> = peers
            .iter()
            .filter(|&&p| cat[p as usize].product_id != s.product_id)
            .map(|&p| {
                let other = &cat[p as usize];
                let mut score = 1.0;
                if !s.brand.is_empty() && other.brand == s.brand {
                    score += 1.0;
                }
                let (lo, hi) = (
                    s.price_fen.min(other.price_fen),
                    s.price_fen.max(other.price_fen),
                );
                if hi == 0 || (lo > 0 && hi * 2 <= lo * 3) {
                    score += 0.5;
                }
                score += 0.25 * f64::from(count[p as usize]) / max_count;
                (p, score)
            })
            .collect();
        rank(&mut list);
        list.truncate(len);
        if !list.is_empty() {
            similar.insert(i, list);
        }
    }
    // Popular: per store and for the chain, twice as long (out-of-stock ones are skipped when
    // served).
    let top = |counts: &HashMap<u32, u32>| -> Vec<ListItem> {
        let mut list: Vec<(u32, f64)> = counts.iter().map(|(&a, &n)| (a, f64::from(n))).collect();
        rank(&mut list);
        list.truncate(len * 2);
        list.into_iter()
            .map(|(a, s)| item(a, s / max_count))
            .collect()
    };
    let mut popular: Vec<(String, Vec<ListItem>)> = sold_at
        .iter()
        .map(|(loc, counts)| ((*loc).to_owned(), top(counts)))
        .collect();
    popular.push((String::new(), top(&chain)));
    // For you: from purchases (fading over the history) and views.
    let products: HashMap<String, u32> = best_of_product
        .iter()
        .map(|(p, &i)| (p.to_string(), i))
        .collect();
    let mut seeds: HashMap<&str, HashMap<u32, f64>> = HashMap::new();
    let horizon = (i64::from(settings.history_days).max(1) * DAY_MS) as f64;
    for (member, items) in &bought {
        let mine = seeds.entry(member).or_default();
        for &(at, a) in items {
            let age = (now - at).max(0) as f64 / horizon;
            *mine.entry(a).or_default() += 1.0 / (1.0 + 2.0 * age);
        }
    }
    let mut viewed: HashMap<&str, HashMap<u32, f64>> = HashMap::new();
    for (member, product) in &history.views {
        if history.opted_out.contains(member) {
            continue;
        }
        if let Some(&a) = products.get(product) {
            *viewed.entry(member).or_default().entry(a).or_default() += 0.5;
        }
    }
    for (member, views) in &viewed {
        let mine = seeds.entry(member).or_default();
        for (&a, &w) in views {
            *mine.entry(a).or_default() += w;
        }
    }
    let mut for_you = Vec::new();
    let mut members: Vec<&&str> = seeds.keys().collect();
    members.sort_unstable();
    for member in members {
        let mine = &seeds[*member];
        let mut score: HashMap<u32, f64> = HashMap::new();
        for (&seed, &w) in mine {
            for &(b, s) in together.get(&seed).map(Vec::as_slice).unwrap_or(&[]) {
                *score.entry(b).or_default() += w * s;
            }
            for (r, &(b, _)) in similar
                .get(&seed)
                .map(Vec::as_slice)
                .unwrap_or(&[])
                .iter()
                .enumerate()
            {
                *score.entry(b).or_default() += w * 0.1 / (1.0 + r as f64);
            }
        }
        if let Some(views) = viewed.get(*member) {
            for (&a, &w) in views {
                *score.entry(a).or_default() += w * 0.5;
            }
        }
        let mut list: Vec<(u32, f64)> = score.into_iter().collect();
        rank(&mut list);
        list.truncate(len * 2);
        if !list.is_empty() {
            for_you.push((
                (*member).to_owned(),
                list.into_iter().map(|(a, s)| item(a, s)).collect(),
            ));
        }
    }
    let keyed = |map: HashMap<u32, Vec<(u32, f64)>>| -> Vec<(String, Vec<ListItem>)> {
        let mut out: Vec<(String, Vec<ListItem>)> = map
            .into_iter()
            .map(|(a, list)| {
                (
                    cat[a as usize].sku_id.to_string(),
                    list.into_iter().map(|(b, s)| item(b, s)).collect(),
                )
            })
            .collect();
        out.sort_by(|x, y| x.0.cmp(&y.0));
        out
    };
    popular.sort_by(|x, y| x.0.cmp(&y.0));
    Lists {
        together: keyed(together),
        similar: keyed(similar),
        popular,
        for_you,
    }
}

/// One run of the job: reads the history, computes the lists off the request threads, writes
/// them `batch` subjects per transaction and deletes what earlier runs wrote and this one did
/// not. One run at a time; a re-run on the same data writes the same lists.
pub async fn compute(state: &AppState) -> AppResult<RunReport> {
    let _one = state.recommendations.running.lock().await;
    let settings = state.settings.recommendations.clone();
    // A run id above every earlier one, even within the same millisecond.
    let last = recs::last_run(&state.store)
        .await?
        .map(|r| r.0)
        .unwrap_or(0);
    let run_id = now_ms().max(last + 1);
    let now = now_ms();
    let history = gather(&state.store, &settings, now).await?;
    let orders = history.orders.len() as i64;
    let lists = {
        let settings = settings.clone();
        tokio::task::spawn_blocking(move || lists_from(&history, &settings, now))
            .await
            .map_err(|e| AppError::Internal(anyhow::anyhow!("computing recommendations: {e}")))?
    };
    let mut report = RunReport {
        run_id,
        orders,
        members: lists.for_you.len() as i64,
        ..RunReport::default()
    };
    let batch = settings.batch.max(1);
    for (kind, kind_lists) in [
        (TOGETHER, &lists.together),
        (SIMILAR, &lists.similar),
        (POPULAR, &lists.popular),
        (FOR_YOU, &lists.for_you),
    ] {
        for chunk in kind_lists.chunks(batch) {
            report.rows += recs::replace_lists(&state.store, kind, run_id, chunk).await? as i64;
            tokio::task::yield_now().await;
        }
        report.deleted += recs::delete_older(&state.store, kind, run_id).await? as i64;
    }
    recs::record_run(&state.store, run_id, orders, report.members, report.rows).await?;
    tracing::info!(
        orders,
        members = report.members,
        rows = report.rows,
        "recommendations computed"
    );
    Ok(report)
}

/// "Frequently bought together" with `sku`: up to `limit`.
pub async fn bought_together(state: &AppState, sku: Uuid, limit: usize) -> AppResult<Vec<Rec>> {
    let items = recs::list(&state.store, TOGETHER, &sku.to_string(), limit as i64).await?;
    Ok(items.iter().map(|i| Rec::of(i, TOGETHER)).collect())
}

/// "Frequently bought together" with a cart's SKUs: their lists merged by score, without what
/// is in the cart.
pub async fn cart_together(state: &AppState, skus: &[Uuid], limit: usize) -> AppResult<Vec<Rec>> {
    let subjects: Vec<String> = skus.iter().map(Uuid::to_string).collect();
    let items = recs::lists(&state.store, TOGETHER, &subjects, limit as i64).await?;
    let mut score: HashMap<Uuid, (i64, Uuid)> = HashMap::new();
    for i in &items {
        if skus.contains(&i.sku_id) {
            continue;
        }
        score.entry(i.sku_id).or_insert((0, i.product_id)).0 += i.score;
    }
    let mut merged: Vec<(Uuid, (i64, Uuid))> = score.into_iter().collect();
    merged.sort_by(|x, y| y.1 .0.cmp(&x.1 .0).then(x.0.cmp(&y.0)));
    Ok(merged
        .into_iter()
        .take(limit)
        .map(|(sku, (_, product))| Rec {
            sku_id: sku,
            product_id: product,
            list: TOGETHER,
        })
        .collect())
}

/// "Similar items" to `sku` (same category; same brand and price band first).
pub async fn similar(state: &AppState, sku: Uuid, limit: usize) -> AppResult<Vec<Rec>> {
    let items = recs::list(&state.store, SIMILAR, &sku.to_string(), limit as i64).await?;
    Ok(items.iter().map(|i| Rec::of(i, SIMILAR)).collect())
}

/// "Popular at your store": the store's best sellers in stock there, filled up with the
/// chain's, leaving out `skip`.
pub async fn popular_at(
    state: &AppState,
    location: &str,
    limit: usize,
    skip: &HashSet<Uuid>,
) -> AppResult<Vec<Rec>> {
    popular_for(state, location, limit, skip, None).await
}

/// [`popular_at`], also leaving out what `member` ordered since `since` (when given).
async fn popular_for(
    state: &AppState,
    location: &str,
    limit: usize,
    skip: &HashSet<Uuid>,
    member: Option<(Uuid, i64)>,
) -> AppResult<Vec<Rec>> {
    let ranks = (state.settings.recommendations.list_len.max(1) * 2) as i64;
    let want = (limit + skip.len()) as i64;
    let (who, since) = match member {
        Some((m, since)) => (Some(m), since),
        None => (None, i64::MAX),
    };
    let mut out: Vec<Rec> = Vec::new();
    let mut seen: HashSet<Uuid> = skip.clone();
    for subject in [location, ""] {
        let items = recs::available_list(
            &state.store,
            POPULAR,
            subject,
            location,
            who,
            since,
            ranks,
            want,
        )
        .await?;
        for i in &items {
            if out.len() < limit && seen.insert(i.sku_id) {
                out.push(Rec::of(i, POPULAR));
            }
        }
        if out.len() >= limit {
            break;
        }
    }
    Ok(out)
}

/// "For you" for `member` shopping at `location`: their list without what they bought in the
/// last `exclude_bought_days` days and what is out of stock at `location`, filled up with
/// what is popular there (those tiles are [`POPULAR`]). A member who opted out of
/// personalisation gets only what is popular.
pub async fn for_you(
    state: &AppState,
    member: Uuid,
    location: &str,
    limit: usize,
) -> AppResult<Vec<Rec>> {
    let settings = &state.settings.recommendations;
    let since = now_ms() - i64::from(settings.exclude_bought_days) * DAY_MS;
    // One statement: the member's list (only while they have not opted out), in stock here,
    // without what they just bought.
    let items = recs::available_list(
        &state.store,
        FOR_YOU,
        &member.to_string(),
        location,
        Some(member),
        since,
        (settings.list_len.max(1) * 2) as i64,
        limit as i64,
    )
    .await?;
    let mut recs: Vec<Rec> = items.iter().map(|i| Rec::of(i, FOR_YOU)).collect();
    if recs.len() < limit {
        let skip: HashSet<Uuid> = recs.iter().map(|r| r.sku_id).collect();
        // Nothing personal for a member who opted out: not even their purchases left out.
        let mine = if recs.is_empty() && super::events::opted_out(state, member).await? {
            None
        } else {
            Some((member, since))
        };
        let more = popular_for(state, location, limit - recs.len(), &skip, mine).await?;
        recs.extend(more);
    }
    Ok(recs)
}

/// The home page's lists at `location`: "for you" for a logged-in member who has not opted out
/// of personalisation (empty otherwise, and when nothing personal is left: then popular
/// only), and "popular at your store" without what "for you" shows.
pub async fn for_home(
    state: &AppState,
    member: Option<Uuid>,
    location: &str,
    limit: usize,
) -> AppResult<(Vec<Rec>, Vec<Rec>)> {
    let mine = match member {
        Some(m) if !super::events::opted_out(state, m).await? => {
            for_you(state, m, location, limit).await?
        }
        _ => Vec::new(),
    };
    let mine = if mine.iter().any(|r| r.list == FOR_YOU) {
        mine
    } else {
        Vec::new()
    };
    let skip: HashSet<Uuid> = mine.iter().map(|r| r.sku_id).collect();
    let popular = popular_at(state, location, limit, &skip).await?;
    Ok((mine, popular))
}

/// Click-through of one list kind over a range of days.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClickThrough {
    /// The list kind.
    pub list: String,
    /// Times the list was shown.
    pub impressions: i64,
    /// Clicks on its tiles (`click` events with target `recommendation`).
    pub clicks: i64,
}

/// Click-through per list kind over the China days `from..=to` (at most 366), head office
/// only: impressions counted when pages show a list, clicks from the tracked events.
pub async fn click_through(
    state: &AppState,
    staff: &StaffActor,
    from: i64,
    to: i64,
) -> AppResult<Vec<ClickThrough>> {
    staff.require(&[Role::HeadOfficeAdmin])?;
    if to < from || to - from >= 366 {
        return Err(AppError::field(
            "to",
            "on or after from, at most 366 days after",
        ));
    }
    flush_impressions(state).await?;
    let shown = recs::impressions(&state.store, from, to).await?;
    // China days to Unix ms: day d starts at d days less 8 hours.
    let start = from * DAY_MS - 8 * 3_600_000;
    let end = (to + 1) * DAY_MS - 8 * 3_600_000;
    let mut clicks: HashMap<String, i64> = HashMap::new();
    for props in recs::recommendation_clicks(&state.store, start, end).await? {
        let Ok(value) = serde_json::from_str::<serde_json::Value>(&props) else {
            continue;
        };
        if value["target"] != "recommendation" {
            continue;
        }
        if let Some(list) = value["list"].as_str() {
            *clicks.entry(list.to_owned()).or_default() += 1;
        }
    }
    Ok(KINDS
        .iter()
        .map(|k| ClickThrough {
            list: (*k).to_owned(),
            impressions: shown.get(*k).copied().unwrap_or(0),
            clicks: clicks.get(*k).copied().unwrap_or(0),
        })
        .collect())
}
