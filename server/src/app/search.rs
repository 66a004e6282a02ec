//! The shop's product search: an in-memory n-gram index over names, brands, specs and codes.
//!
//! Chinese has no spaces between words, so the index keys every product by the single
//! characters and the character pairs (bigrams) of its lower-cased texts. A query's candidates
//! are the intersection of its bigrams' posting lists (its characters' for a one-character
//! query), each candidate is then confirmed by a real substring match, and the survivors are
//! filtered (price, brand, category subtree) and sorted (relevance, price, sales, newest). The
//! index is rebuilt from the database when the catalog's change sequence moves (checked at most
//! every few seconds) and at least every minute (sales counts).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use uuid::Uuid;

use crate::error::{AppError, AppResult};
use crate::storage::web::SearchRow;
use crate::storage::{self, Store};

/// One searchable product.
#[derive(Debug, Clone)]
pub struct Doc {
    /// The source row.
    pub row: SearchRow,
    /// Its category and every ancestor category.
    pub categories: Vec<String>,
    /// Lower-cased texts without whitespace (what queries match against).
    compact: String,
    /// Lower-cased names (relevance: a match in the name ranks first).
    names: String,
    /// Index into the brand list (`u32::MAX`: none).
    brand: u32,
}

/// The built index.
#[derive(Debug, Default)]
pub struct Index {
    /// The category tree as loaded with the index (pages list categories from here).
    pub categories: Vec<retail_domain::wire::catalog::CategoryRecord>,
    docs: Vec<Doc>,
    grams: HashMap<String, Vec<u32>>,
    brands: Vec<String>,
}

/// Sort orders.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Sort {
    /// Name matches first, then best sellers.
    #[default]
    Relevance,
    /// Cheapest first.
    PriceAsc,
    /// Dearest first.
    PriceDesc,
    /// Best sellers first.
    Sales,
    /// Newest first.
    Newest,
}

impl Sort {
    /// Parses the query-string value.
    pub fn parse(s: &str) -> Self {
        match s {
            "price_asc" => Self::PriceAsc,
            "price_desc" => Self::PriceDesc,
            "sales" => Self::Sales,
            "newest" => Self::Newest,
            _ => Self::Relevance,
        }
    }

    /// The query-string value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Relevance => "",
            Self::PriceAsc => "price_asc",
            Self::PriceDesc => "price_desc",
            Self::Sales => "sales",
            Self::Newest => "newest",
        }
    }
}

/// A search request.
#[derive(Debug, Clone, Default)]
pub struct Query {
    /// Text (may be empty: filters only).
    pub text: String,
    /// Category subtree.
    pub category: Option<String>,
    /// Brand (exact).
    pub brand: Option<String>,
    /// Lowest price (fen).
    pub min_fen: Option<i64>,
    /// Highest price (fen).
    pub max_fen: Option<i64>,
    /// Order.
    pub sort: Sort,
    /// Skip this many.
    pub offset: usize,
    /// Page size.
    pub limit: usize,
}

/// A page of results.
#[derive(Debug, Clone)]
pub struct Hits<'a> {
    /// Matches in order.
    pub items: Vec<&'a Doc>,
    /// All matches.
    pub total: usize,
    /// Brands among all matches (for the filter).
    pub brands: Vec<String>,
}

fn normalise(text: &str) -> String {
    text.trim().to_lowercase()
}

fn keys_of(text: &str) -> HashSet<String> {
    let chars: Vec<char> = text.chars().filter(|c| !c.is_whitespace()).collect();
    let mut out = HashSet::new();
    for (i, c) in chars.iter().enumerate() {
        out.insert(c.to_string());
        if let Some(next) = chars.get(i + 1) {
            out.insert(format!("{c}{next}"));
        }
    }
    out
}

/// The keys a query needs every match to have: its bigrams (its characters when it has one).
fn query_keys(text: &str) -> Vec<String> {
    let chars: Vec<char> = text.chars().filter(|c| !c.is_whitespace()).collect();
    if chars.len() == 1 {
        return vec![chars[0].to_string()];
    }
    let mut keys: Vec<String> = chars
        .windows(2)
        .map(|w| format!("{}{}", w[0], w[1]))
        .collect();
    keys.sort();
    keys.dedup();
    keys
}

impl Index {
    /// Builds the index from product rows and the category tree (child → parent).
    pub fn build(rows: Vec<SearchRow>, parents: &HashMap<String, Option<String>>) -> Self {
        let mut grams: HashMap<String, Vec<u32>> = HashMap::new();
        let mut docs = Vec::with_capacity(rows.len());
        let mut brands: Vec<String> = rows
            .iter()
            .map(|r| r.brand.clone())
            .filter(|b| !b.is_empty())
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        brands.sort();
        let brand_ids: HashMap<String, u32> = brands
            .iter()
            .enumerate()
            .map(|(i, b)| (b.clone(), u32::try_from(i).unwrap_or(u32::MAX)))
            .collect();
        for (i, row) in rows.into_iter().enumerate() {
            let text = normalise(&format!(
                "{} {} {} {} {}",
                row.name_zh, row.name_en, row.brand, row.code, row.extra
            ));
            let Ok(n) = u32::try_from(i) else { break };
            for key in keys_of(&text) {
                grams.entry(key).or_default().push(n);
            }
            let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
            let names = normalise(&format!("{} {}", row.name_zh, row.name_en));
            let brand = brand_ids.get(&row.brand).copied().unwrap_or(u32::MAX);
            let mut categories = vec![row.category_id.clone()];
            let mut at = row.category_id.clone();
            while let Some(Some(parent)) = parents.get(&at) {
                if categories.contains(parent) || categories.len() > 16 {
                    break;
                }
                categories.push(parent.clone());
                at = parent.clone();
            }
            docs.push(Doc {
                row,
                categories,
                compact,
                names,
                brand,
            });
        }
        Self {
            categories: Vec::new(),
            docs,
            grams,
            brands,
        }
    }

    /// Number of products indexed.
    pub fn len(&self) -> usize {
        self.docs.len()
    }

    /// True when nothing is indexed.
    pub fn is_empty(&self) -> bool {
        self.docs.is_empty()
    }

    /// Every brand.
    pub fn brands(&self) -> &[String] {
        &self.brands
    }

    /// The product with this id.
    pub fn get(&self, id: Uuid) -> Option<&Doc> {
        self.docs.iter().find(|d| d.row.id == id)
    }

    fn candidates(&self, text: &str) -> Vec<u32> {
        if text.is_empty() {
            // No text: every product (filters only).
            return (0..u32::try_from(self.docs.len()).unwrap_or(u32::MAX)).collect();
        }
        let keys = query_keys(text);
        let mut lists: Vec<&Vec<u32>> = Vec::with_capacity(keys.len());
        for key in &keys {
            match self.grams.get(key) {
                Some(list) => lists.push(list),
                None => return Vec::new(),
            }
        }
        lists.sort_by_key(|l| l.len());
        let Some((first, rest)) = lists.split_first() else {
            return Vec::new();
        };
        let mut out: Vec<u32> = (*first).clone();
        for list in rest {
            // Posting lists are sorted (documents are added in order): merge-intersect.
            let mut kept = Vec::with_capacity(out.len());
            let (mut i, mut j) = (0, 0);
            while i < out.len() && j < list.len() {
                match out[i].cmp(&list[j]) {
                    std::cmp::Ordering::Less => i += 1,
                    std::cmp::Ordering::Greater => j += 1,
                    std::cmp::Ordering::Equal => {
                        kept.push(out[i]);
                        i += 1;
                        j += 1;
                    }
                }
            }
            out = kept;
        }
        out
    }

    /// Runs a search.
    pub fn search(&self, q: &Query) -> Hits<'_> {
        let text = normalise(&q.text);
        let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
        let brand = q.brand.as_ref().map(|b| {
            self.brands
                .binary_search(b)
                .ok()
                .and_then(|i| u32::try_from(i).ok())
                .unwrap_or(u32::MAX - 1)
        });
        let mut present = vec![false; self.brands.len()];
        let mut matched: Vec<&Doc> = Vec::new();
        for i in self.candidates(&compact) {
            let Some(d) = self.docs.get(i as usize) else {
                continue;
            };
            if !(compact.is_empty() || d.compact.contains(&compact))
                || !q
                    .category
                    .as_ref()
                    .is_none_or(|c| d.categories.iter().any(|dc| dc == c))
                || q.min_fen.is_some_and(|m| d.row.price_min_fen < m)
                || q.max_fen.is_some_and(|m| d.row.price_min_fen > m)
            {
                continue;
            }
            if let Some(p) = present.get_mut(d.brand as usize) {
                *p = true;
            }
            if brand.is_none_or(|b| b == d.brand) {
                matched.push(d);
            }
        }
        let brands = self
            .brands
            .iter()
            .zip(present)
            .filter(|(_, p)| *p)
            .map(|(b, _)| b.clone())
            .collect();
        let total = matched.len();
        let order = |a: &&Doc, b: &&Doc| -> std::cmp::Ordering {
            let by = match q.sort {
                Sort::Relevance => {
                    let miss = |d: &Doc| !d.names.contains(&text);
                    miss(a).cmp(&miss(b)).then(b.row.sold.cmp(&a.row.sold))
                }
                Sort::PriceAsc => a.row.price_min_fen.cmp(&b.row.price_min_fen),
                Sort::PriceDesc => b.row.price_min_fen.cmp(&a.row.price_min_fen),
                Sort::Sales => b.row.sold.cmp(&a.row.sold),
                Sort::Newest => b.row.created_at.cmp(&a.row.created_at),
            };
            by.then_with(|| a.row.code.cmp(&b.row.code))
        };
        // Only the requested page needs ordering: select it, then sort it.
        let end = q.offset.saturating_add(q.limit).min(total);
        if end > 0 && end < total {
            matched.select_nth_unstable_by(end - 1, order);
            matched.truncate(end);
        }
        matched.sort_unstable_by(order);
        let items = matched.into_iter().skip(q.offset).take(q.limit).collect();
        Hits {
            items,
            total,
            brands,
        }
    }

    /// Up to `n` product names for the suggestion list as the shopper types.
    pub fn suggest(&self, text: &str, n: usize, english: bool) -> Vec<String> {
        let text = normalise(text);
        if text.is_empty() {
            return Vec::new();
        }
        let hits = self.search(&Query {
            text,
            limit: n * 3,
            ..Query::default()
        });
        let mut seen = HashSet::new();
        hits.items
            .into_iter()
            .map(|d| {
                if english && !d.row.name_en.is_empty() {
                    d.row.name_en.clone()
                } else {
                    d.row.name_zh.clone()
                }
            })
            .filter(|name| seen.insert(name.clone()))
            .take(n)
            .collect()
    }
}

struct Built {
    index: Arc<Index>,
    seq: i64,
    built: Instant,
    checked: Instant,
}

/// The shared, self-refreshing index.
#[derive(Default)]
pub struct SearchIndex {
    current: RwLock<Option<Built>>,
    rebuilding: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for SearchIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SearchIndex")
    }
}

const CHECK_EVERY: Duration = Duration::from_secs(2);
const REBUILD_EVERY: Duration = Duration::from_secs(60);

impl SearchIndex {
    /// The index if it was checked against the catalog within the last few seconds.
    fn fresh(&self) -> AppResult<Option<(Arc<Index>, i64, Instant)>> {
        let now = Instant::now();
        let guard = self
            .current
            .read()
            .map_err(|_| AppError::Internal(anyhow::anyhow!("search index poisoned")))?;
        Ok(guard.as_ref().and_then(|b| {
            (now.duration_since(b.checked) < CHECK_EVERY
                && now.duration_since(b.built) < REBUILD_EVERY)
                .then(|| (b.index.clone(), b.seq, b.built))
        }))
    }

    /// The current index, rebuilt first when the catalog changed since it was built (one
    /// request checks or rebuilds; the others wait for it and share the result).
    pub async fn get(&self, store: &Store) -> AppResult<Arc<Index>> {
        if let Some((index, _, _)) = self.fresh()? {
            return Ok(index);
        }
        let _one = self.rebuilding.lock().await;
        if let Some((index, _, _)) = self.fresh()? {
            return Ok(index);
        }
        let seq = storage::catalog_seq(store).await?;
        {
            let mut guard = self
                .current
                .write()
                .map_err(|_| AppError::Internal(anyhow::anyhow!("search index poisoned")))?;
            if let Some(b) = guard.as_mut() {
                if b.seq == seq && b.built.elapsed() < REBUILD_EVERY {
                    b.checked = Instant::now();
                    return Ok(b.index.clone());
                }
            }
        }
        let rows = storage::web::search_rows(store).await?;
        let categories = storage::catalog::categories(store).await?;
        let parents: HashMap<String, Option<String>> = categories
            .iter()
            .map(|c| (c.id.clone(), c.parent_id.clone()))
            .collect();
        let mut index = Index::build(rows, &parents);
        index.categories = categories;
        let index = Arc::new(index);
        let mut guard = self
            .current
            .write()
            .map_err(|_| AppError::Internal(anyhow::anyhow!("search index poisoned")))?;
        *guard = Some(Built {
            index: index.clone(),
            seq,
            built: Instant::now(),
            checked: Instant::now(),
        });
        Ok(index)
    }

    /// Forgets the index (the next search rebuilds it).
    pub fn invalidate(&self) {
        if let Ok(mut guard) = self.current.write() {
            *guard = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(code: &str, zh: &str, en: &str, brand: &str, cat: &str, price: i64) -> SearchRow {
        SearchRow {
            id: Uuid::now_v7(),
            code: code.into(),
            name_zh: zh.into(),
            name_en: en.into(),
            brand: brand.into(),
            category_id: cat.into(),
            price_min_fen: price,
            sold: 0,
            created_at: 0,
            extra: String::new(),
            image: None,
        }
    }

    fn index() -> Index {
        let parents = HashMap::from([
            ("drinks".to_owned(), None),
            ("water".to_owned(), Some("drinks".to_owned())),
            ("milk".to_owned(), Some("drinks".to_owned())),
        ]);
        Index::build(
            vec![
                row(
                    "P1",
                    "农夫山泉饮用天然水",
                    "Nongfu Spring water",
                    "农夫山泉",
                    "water",
                    200,
                ),
                row("P2", "伊利纯牛奶", "Yili pure milk", "伊利", "milk", 650),
                row("P3", "蒙牛纯牛奶", "Mengniu pure milk", "蒙牛", "milk", 600),
                row(
                    "P4",
                    "山泉纯净水",
                    "Spring purified water",
                    "",
                    "water",
                    150,
                ),
            ],
            &parents,
        )
    }

    #[test]
    fn chinese_substrings_match() {
        let idx = index();
        let hits = idx.search(&Query {
            text: "牛奶".into(),
            limit: 10,
            ..Query::default()
        });
        assert_eq!(hits.total, 2);
        let hits = idx.search(&Query {
            text: "山泉".into(),
            limit: 10,
            ..Query::default()
        });
        assert_eq!(hits.total, 2);
        // All bigrams present but not as one substring: not a match.
        let hits = idx.search(&Query {
            text: "纯牛山".into(),
            limit: 10,
            ..Query::default()
        });
        assert_eq!(hits.total, 0);
        let hits = idx.search(&Query {
            text: "水".into(),
            limit: 10,
            ..Query::default()
        });
        assert_eq!(hits.total, 2);
        let hits = idx.search(&Query {
            text: "MILK".into(),
            limit: 10,
            ..Query::default()
        });
        assert_eq!(hits.total, 2);
    }

    #[test]
    fn filters_and_sorts() {
        let idx = index();
        let hits = idx.search(&Query {
            category: Some("drinks".into()),
            sort: Sort::PriceAsc,
            limit: 10,
            ..Query::default()
        });
        let codes: Vec<&str> = hits.items.iter().map(|d| d.row.code.as_str()).collect();
        assert_eq!(codes, ["P4", "P1", "P3", "P2"]);
        let hits = idx.search(&Query {
            text: "牛奶".into(),
            brand: Some("伊利".into()),
            limit: 10,
            ..Query::default()
        });
        assert_eq!(hits.total, 1);
        assert_eq!(hits.brands, ["伊利", "蒙牛"]);
        let hits = idx.search(&Query {
            min_fen: Some(190),
            max_fen: Some(610),
            limit: 10,
            ..Query::default()
        });
        assert_eq!(hits.total, 2);
        assert_eq!(idx.suggest("纯", 5, false).len(), 3);
    }
}
