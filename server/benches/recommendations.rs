//! Recommendations benchmark (issue 19): an offline evaluation on held-out orders and the
//! lookup latency under load, on SQLite or PostgreSQL.
//!
//! ```sh
//! cargo bench -p retail-server --bench recommendations -- --backend sqlite
//! cargo bench -p retail-server --bench recommendations -- --backend postgres --members 2000
//! ```
//!
//! A synthetic but structured purchase history (seeded, so every run is the same): `products`
//! products (one SKU each) over the demo's leaf categories, four brands per category, prices
//! spread per category, popularity skewed (Zipf); every product has two complements in other
//! categories. `members` members each prefer two categories and one brand in each; they place
//! 3–10 orders over 150 days, baskets of 2–6 items drawn from their categories (their brand
//! three times as likely) or from everything by popularity, a complement added half the time,
//! something bought before again a quarter of the time; a fifth as many anonymous lane sales
//! (channel `pos`) beside them. Each member's last order is held out; the rest is written to the
//! database and the real job (`app::recommendations::compute`) trains on it.
//!
//! Reported: hit rate@10 (the top 10 holds at least one held-out item) and recall@10 (share of
//! the held-out items in the top 10) of "for you" (`for_you` at the member's store) and of
//! "bought together" (one held-out item as the seed, the rest of that order as the target)
//! against the popularity baseline (the store's best sellers, `popular_at`); then `clients`
//! tasks look up "for you" and "bought together" for random members and SKUs back to back
//! (`lookups` in all), with p50/p99 per lookup.

#![allow(missing_docs, clippy::unwrap_used)]

mod support;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use uuid::Uuid;

use retail_server::app::recommendations as recs;

#[global_allocator]
static ALLOCATOR: retail_server::Allocator = retail_server::Allocator;

const STORE: &str = "SH001";
const DAY: i64 = 86_400_000;

struct Args {
    backend: String,
    members: usize,
    products: usize,
    clients: usize,
    lookups: usize,
}

fn args() -> anyhow::Result<Args> {
    let flags = support::Flags::parse();
    Ok(Args {
        backend: flags.text("backend", "sqlite"),
        members: flags.number("members", 2000)?,
        products: flags.number("products", 400)?,
        clients: flags.number("clients", 8)?,
        lookups: flags.number("lookups", 20_000)?,
    })
}

fn main() -> anyhow::Result<()> {
    support::block_on(run(args()?))
}

struct Product {
    sku: Uuid,
    id: Uuid,
    category: usize,
    brand: usize,
    price_fen: i64,
    complements: [usize; 2],
}

struct Member {
    id: Uuid,
    categories: [usize; 2],
    brands: [usize; 2],
}

/// A weighted pick: `weights` cumulated, a uniform draw below the total.
fn pick(rng: &mut StdRng, cumulative: &[f64]) -> usize {
    let total = cumulative.last().copied().unwrap_or(0.0);
    let x = rng.gen::<f64>() * total;
    cumulative
        .partition_point(|&c| c <= x)
        .min(cumulative.len() - 1)
}

fn cumulate(weights: impl Iterator<Item = f64>) -> Vec<f64> {
    let mut sum = 0.0;
    weights
        .map(|w| {
            sum += w;
            sum
        })
        .collect()
}

struct World {
    products: Vec<Product>,
    members: Vec<Member>,
    /// (member index or none for a lane sale, days ago, product indexes)
    orders: Vec<(Option<usize>, f64, Vec<usize>)>,
}

fn world(categories: usize, args: &Args) -> World {
    let mut rng = StdRng::seed_from_u64(19);
    let brands = 4;
    let products: Vec<Product> = (0..args.products)
        .map(|i| {
            let category = i % categories;
            let base = 500 + (category as i64 * 997) % 5000;
            Product {
                sku: Uuid::now_v7(),
                id: Uuid::now_v7(),
                category,
                brand: rng.gen_range(0..brands),
                price_fen: base + rng.gen_range(0..base),
                complements: [0, 0],
            }
        })
        .collect();
    let mut products = products;
    for i in 0..products.len() {
        for k in 0..2 {
            let mut c = rng.gen_range(0..products.len());
            while products[c].category == products[i].category {
                c = rng.gen_range(0..products.len());
            }
            products[i].complements[k] = c;
        }
    }
    // Popularity: Zipf over a shuffled order.
    let mut order: Vec<usize> = (0..products.len()).collect();
    for i in (1..order.len()).rev() {
        let j = rng.gen_range(0..=i);
        order.swap(i, j);
    }
    let mut popularity = vec![0.0; products.len()];
    for (rank, &p) in order.iter().enumerate() {
        popularity[p] = 1.0 / (rank as f64 + 1.0);
    }
    let all = cumulate(popularity.iter().copied());
    let members: Vec<Member> = (0..args.members)
        .map(|_| {
            let a = rng.gen_range(0..categories);
            let mut b = rng.gen_range(0..categories);
            if categories > 1 {
                while b == a {
                    b = rng.gen_range(0..categories);
                }
            }
            Member {
                id: Uuid::now_v7(),
                categories: [a, b],
                brands: [rng.gen_range(0..brands), rng.gen_range(0..brands)],
            }
        })
        .collect();
    let basket = |rng: &mut StdRng, m: Option<&Member>, before: &[usize]| -> Vec<usize> {
        let n = rng.gen_range(2..=6);
        let mut items: Vec<usize> = Vec::new();
        while items.len() < n {
            let r = rng.gen::<f64>();
            let p = if r < 0.25 && !before.is_empty() {
                before[rng.gen_range(0..before.len())]
            } else if let (Some(m), true) = (m, r < 0.8) {
                let k = rng.gen_range(0..2);
                let weights = cumulate(products.iter().enumerate().map(|(i, p)| {
                    if p.category != m.categories[k] {
                        0.0
                    } else if p.brand == m.brands[k] {
                        3.0 * popularity[i]
                    } else {
                        popularity[i]
                    }
                }));
                pick(rng, &weights)
            } else {
                pick(rng, &all)
            };
            if !items.contains(&p) {
                items.push(p);
            }
            if rng.gen_bool(0.5) && items.len() < n {
                let c = products[p].complements[rng.gen_range(0..2)];
                if !items.contains(&c) {
                    items.push(c);
                }
            }
        }
        items
    };
    let mut orders = Vec::new();
    for (i, m) in members.iter().enumerate() {
        let n = rng.gen_range(3..=10);
        let mut days: Vec<f64> = (0..n).map(|_| rng.gen::<f64>() * 150.0).collect();
        days.sort_by(|a, b| b.total_cmp(a));
        let mut before: Vec<usize> = Vec::new();
        for d in days {
            let items = basket(&mut rng, Some(m), &before);
            before.extend(items.iter().copied());
            orders.push((Some(i), d, items));
        }
    }
    for _ in 0..orders.len() / 5 {
        let d = rng.gen::<f64>() * 150.0;
        let items = basket(&mut rng, None, &[]);
        orders.push((None, d, items));
    }
    World {
        products,
        members,
        orders,
    }
}

async fn load(
    state: &retail_server::app::AppState,
    w: &World,
    held: &HashSet<usize>,
    category_ids: &[String],
) -> anyhow::Result<()> {
    let store = &state.store;
    let now = retail_server::storage::now_ms();
    // One row per statement, in a few transactions.
    let mut tx = store.begin().await?;
    for (i, p) in w.products.iter().enumerate() {
        sqlx::query(
            "INSERT INTO products (id, code, name_zh, name_en, brand, category_id, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $7)",
        )
        .bind(p.id.to_string())
        .bind(format!("BENCH{i:05}"))
        .bind(format!("商品{i}"))
        .bind(format!("Product {i}"))
        .bind(format!("Brand {}-{}", p.category, p.brand))
        .bind(category_ids[p.category].clone())
        .bind(now)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO skus (id, product_id, sku_code, price_fen, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $5)",
        )
        .bind(p.sku.to_string())
        .bind(p.id.to_string())
        .bind(format!("BENCH-SKU{i:05}"))
        .bind(p.price_fen)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO stock (location_id, sku_id, on_hand, reserved, low_stock_threshold, updated_at) \
             VALUES ($1, $2, 1000, 0, 0, $3)",
        )
        .bind(STORE)
        .bind(p.sku.to_string())
        .bind(now)
        .execute(&mut *tx)
        .await?;
    }
    for m in &w.members {
        sqlx::query(
            "INSERT INTO members (id, phone_hash, phone_enc, created_at) VALUES ($1, $2, 'x', $3)",
        )
        .bind(m.id.to_string())
        .bind(format!("bench-{}", m.id))
        .bind(now)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    let mut written = 0;
    let mut tx = store.begin().await?;
    for (i, (member, days, items)) in w.orders.iter().enumerate() {
        if held.contains(&i) {
            continue;
        }
        let id = Uuid::now_v7().to_string();
        let at = now - (*days * DAY as f64) as i64;
        let (channel, fulfilment, status) = match member {
            Some(_) => ("online", "pickup", "picked_up"),
            None => ("pos", "in_store", "completed"),
        };
        sqlx::query(
            "INSERT INTO orders (id, order_no, channel, fulfilment, status, location_id, member_id, \
             created_by, subtotal_fen, total_fen, client_ts, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, 'bench', 0, 0, $8, $8, $8)",
        )
        .bind(id.clone())
        .bind(format!("B{i:08}"))
        .bind(channel)
        .bind(fulfilment)
        .bind(status)
        .bind(STORE)
        .bind(member.map(|m| w.members[m].id.to_string()))
        .bind(at)
        .execute(&mut *tx)
        .await?;
        for (line, &p) in items.iter().enumerate() {
            let price = w.products[p].price_fen;
            sqlx::query(
                "INSERT INTO order_lines (order_id, line_no, sku_id, name, qty, unit_price_fen, amount_fen) \
                 VALUES ($1, $2, $3, 'item', 1, $4, $4)",
            )
            .bind(id.clone())
            .bind(line as i64 + 1)
            .bind(w.products[p].sku.to_string())
            .bind(price)
            .execute(&mut *tx)
            .await?;
        }
        written += 1;
        if written % 500 == 0 {
            tx.commit().await?;
            tx = store.begin().await?;
        }
    }
    tx.commit().await?;
    Ok(())
}

#[derive(Default)]
struct Score {
    cases: usize,
    hits: usize,
    recall: f64,
}

impl Score {
    fn add(&mut self, top: &[Uuid], target: &HashSet<Uuid>) {
        if target.is_empty() {
            return;
        }
        let found = top.iter().filter(|s| target.contains(s)).count();
        self.cases += 1;
        self.hits += usize::from(found > 0);
        self.recall += found as f64 / target.len() as f64;
    }

    fn show(&self) -> String {
        format!(
            "hit@10 {:.3}  recall@10 {:.3}  ({} cases)",
            self.hits as f64 / self.cases.max(1) as f64,
            self.recall / self.cases.max(1) as f64,
            self.cases
        )
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() as f64 * p) as usize).min(sorted.len() - 1)]
}

async fn run(args: Args) -> anyhow::Result<()> {
    let (_dir, mut settings) = support::bench_settings(&args.backend).await?;
    settings.recommendations.every_secs = 0;
    let server = support::start(settings).await?;
    let state = server.state.clone();
    let category_ids: Vec<String> = {
        let mut tx = state.store.begin().await?;
        let rows = sqlx::query(
            "SELECT id FROM categories c WHERE NOT EXISTS \
             (SELECT 1 FROM categories d WHERE d.parent_id = c.id) ORDER BY id",
        )
        .fetch_all(&mut *tx)
        .await?;
        rows.iter()
            .map(|r| sqlx::Row::get::<String, _>(r, "id"))
            .collect()
    };
    let w = world(category_ids.len(), &args);
    // Each member's last order is held out.
    let mut last: HashMap<usize, (f64, usize)> = HashMap::new();
    for (i, (m, days, _)) in w.orders.iter().enumerate() {
        if let Some(m) = m {
            let e = last.entry(*m).or_insert((f64::MAX, i));
            if *days < e.0 {
                *e = (*days, i);
            }
        }
    }
    let held: HashSet<usize> = last.values().map(|(_, i)| *i).collect();
    println!(
        "backend {}: {} products in {} categories, {} members, {} orders ({} held out)",
        args.backend,
        w.products.len(),
        category_ids.len(),
        w.members.len(),
        w.orders.len(),
        held.len()
    );
    let t = Instant::now();
    load(&state, &w, &held, &category_ids).await?;
    println!("loaded in {:.1} s", t.elapsed().as_secs_f64());
    let t = Instant::now();
    let report = recs::compute(&state).await?;
    println!(
        "job: {} orders read, {} members, {} rows in {:.2} s",
        report.orders,
        report.members,
        report.rows,
        t.elapsed().as_secs_f64()
    );
    let t = Instant::now();
    let again = recs::compute(&state).await?;
    println!(
        "job re-run: {} rows in {:.2} s",
        again.rows,
        t.elapsed().as_secs_f64()
    );

    // Offline evaluation.
    let popular: Vec<Uuid> = recs::popular_at(&state, STORE, 20, &HashSet::new())
        .await?
        .iter()
        .map(|r| r.sku_id)
        .collect();
    let (mut fy, mut fy_base, mut bt, mut bt_base) = (
        Score::default(),
        Score::default(),
        Score::default(),
        Score::default(),
    );
    let mut rng = StdRng::seed_from_u64(7);
    let mut held_out: Vec<usize> = held.iter().copied().collect();
    held_out.sort_unstable();
    for &i in &held_out {
        let (Some(m), _, items) = &w.orders[i] else {
            continue;
        };
        let target: HashSet<Uuid> = items.iter().map(|&p| w.products[p].sku).collect();
        let mine: Vec<Uuid> = recs::for_you(&state, w.members[*m].id, STORE, 10)
            .await?
            .iter()
            .map(|r| r.sku_id)
            .collect();
        fy.add(&mine, &target);
        fy_base.add(&popular[..popular.len().min(10)], &target);
        if items.len() >= 2 {
            let seed = w.products[items[rng.gen_range(0..items.len())]].sku;
            let rest: HashSet<Uuid> = target.iter().copied().filter(|s| *s != seed).collect();
            let together: Vec<Uuid> = recs::bought_together(&state, seed, 10)
                .await?
                .iter()
                .map(|r| r.sku_id)
                .collect();
            bt.add(&together, &rest);
            let base: Vec<Uuid> = popular
                .iter()
                .copied()
                .filter(|s| *s != seed)
                .take(10)
                .collect();
            bt_base.add(&base, &rest);
        }
    }
    println!("for you          {}", fy.show());
    println!("  popularity     {}", fy_base.show());
    println!("bought together  {}", bt.show());
    println!("  popularity     {}", bt_base.show());

    // Lookup latency under load.
    let members: Arc<Vec<Uuid>> = Arc::new(w.members.iter().map(|m| m.id).collect());
    let skus: Arc<Vec<Uuid>> = Arc::new(w.products.iter().map(|p| p.sku).collect());
    let per_client = args.lookups / args.clients.max(1);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..args.clients {
        let (state, members, skus) = (state.clone(), members.clone(), skus.clone());
        tasks.push(tokio::spawn(async move {
            let mut rng = StdRng::seed_from_u64(c as u64);
            let (mut fy, mut bt) = (Vec::new(), Vec::new());
            for k in 0..per_client {
                if k % 2 == 0 {
                    let m = members[rng.gen_range(0..members.len())];
                    let t = Instant::now();
                    recs::for_you(&state, m, STORE, 10).await.unwrap();
                    fy.push(t.elapsed());
                } else {
                    let s = skus[rng.gen_range(0..skus.len())];
                    let t = Instant::now();
                    recs::bought_together(&state, s, 10).await.unwrap();
                    bt.push(t.elapsed());
                }
            }
            (fy, bt)
        }));
    }
    let (mut fy, mut bt) = (Vec::new(), Vec::new());
    for t in tasks {
        let (a, b) = t.await?;
        fy.extend(a);
        bt.extend(b);
    }
    let elapsed = started.elapsed().as_secs_f64();
    fy.sort();
    bt.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "lookups: {} clients, {} in {:.1} s ({:.0}/s)",
        args.clients,
        fy.len() + bt.len(),
        elapsed,
        (fy.len() + bt.len()) as f64 / elapsed
    );
    println!(
        "  for you          p50 {:.2} ms  p99 {:.2} ms",
        ms(percentile(&fy, 0.5)),
        ms(percentile(&fy, 0.99))
    );
    println!(
        "  bought together  p50 {:.2} ms  p99 {:.2} ms",
        ms(percentile(&bt, 0.5)),
        ms(percentile(&bt, 0.99))
    );
    server.stop().await;
    Ok(())
}
