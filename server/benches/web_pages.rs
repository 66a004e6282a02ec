//! Shop page benchmarks (issue 5).
//!
//! 1. **Server time per page at 100 concurrent clients**: the real server (demo chain, SQLite or
//!    PostgreSQL) serves a mix of shop pages (home, search in Chinese, category, product, cart)
//!    over HTTP on loopback to 100 clients in a closed loop; an outermost middleware records the
//!    time each request spends in the server, and the clients record what they see. Each client
//!    is a shopper with a stored session and two lines in the cart (`--anonymous`: no session).
//!    The ten product pages each show `--images` photos (default 6) and every listed product has
//!    one, uploaded through the console's path (`app::product_images::add`) before the run.
//! 2. **Transferred size of the first screen**: the home page, a product page with its images
//!    and a list of products with theirs: HTML + stylesheet + script + every image the page
//!    names (at its `src`, the variant a phone's screen loads; lazy-loaded ones counted too).
//! 3. **Search over 100,000 SKUs**: the shop's n-gram index built over 100,000 generated
//!    products (Chinese names, brands, specs), queried with Chinese and English substrings,
//!    filters and sorts.
//!
//! ```sh
//! cargo bench -p retail-server --bench web_pages -- --backend sqlite --clients 100 --seconds 15
//! cargo bench -p retail-server --bench web_pages -- --backend postgres --clients 100 --seconds 15 --instances 3
//! ```
//!
//! `--instances N` (PostgreSQL only) serves the pages from N server instances in this process
//! on one database (`cluster.instances = N`), the clients spread over them (client c asks
//! instance c mod N).

#![allow(missing_docs, clippy::unwrap_used)]

mod support;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::Request;
use axum::middleware::Next;
use retail_server::app::search::{Index, Query, Sort};
use retail_server::storage::web::SearchRow;
use retail_server::Application;

#[global_allocator]
static ALLOCATOR: retail_server::Allocator = retail_server::Allocator;

struct Args {
    backend: String,
    clients: usize,
    seconds: u64,
    skus: usize,
    anonymous: bool,
    images: usize,
    noise: u32,
    instances: usize,
}

fn args() -> anyhow::Result<Args> {
    let flags = support::Flags::parse();
    Ok(Args {
        backend: flags.text("backend", "sqlite"),
        clients: flags.number("clients", 100)?,
        seconds: flags.number("seconds", 15)?,
        skus: flags.number("skus", 100_000)?,
        anonymous: flags.switch("anonymous"),
        images: flags.number("images", 6)?,
        instances: flags.number("instances", 1_usize)?.max(1),
        noise: if flags.switch("noisy-photos") {
            support::SENSOR_NOISE_HEAVY
        } else {
            support::SENSOR_NOISE_PHOTO
        },
    })
}

fn main() -> anyhow::Result<()> {
    let args = args()?;
    support::block_on(pages(&args))?;
    search(args.skus);
    Ok(())
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

type Times = Arc<Mutex<Vec<Duration>>>;
type ByPage = Arc<Mutex<HashMap<&'static str, Vec<Duration>>>>;

/// The kind of shop page a path is, for server times by page.
fn page_kind(path: &str) -> &'static str {
    match path.split('/').nth(1).unwrap_or("") {
        "" => "home",
        "search" => "search",
        "categories" => "category",
        "p" => "product",
        "cart" => "cart",
        _ => "other",
    }
}

async fn pages(args: &Args) -> anyhow::Result<()> {
    let (_dir, mut settings) = support::bench_settings(&args.backend).await?;
    settings.orders.without_client_limits();
    settings.cluster.instances = u32::try_from(args.instances)?;
    // The instances on one database (the first loads the demo chain).
    let mut states = Vec::new();
    for i in 1..=args.instances {
        let mut s = settings.clone();
        s.cluster.instance_id = format!("bench-{i}");
        let app = Application::build(s).await?;
        states.push(app.state().clone());
        drop(app);
    }
    let state = states[0].clone();
    // Serve the real router of each instance behind an outermost timing layer.
    let server_times: Times = Arc::default();
    let by_page: ByPage = Arc::default();
    let mut bases = Vec::new();
    for instance in &states {
        let recorder = server_times.clone();
        let page_recorder = by_page.clone();
        let router = retail_server::http::router(instance.clone()).layer(
            axum::middleware::from_fn(move |req: Request, next: Next| {
                let recorder = recorder.clone();
                let page_recorder = page_recorder.clone();
                let page = page_kind(req.uri().path());
                async move {
                    let started = Instant::now();
                    let resp = next.run(req).await;
                    let took = started.elapsed();
                    if let Ok(mut t) = recorder.lock() {
                        t.push(took);
                    }
                    if let Ok(mut t) = page_recorder.lock() {
                        t.entry(page).or_default().push(took);
                    }
                    resp
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        bases.push(format!("http://{addr}"));
    }
    let base = bases[0].clone();
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(args.clients)
        .build()?;

    // The pages: home, Chinese searches, categories, products, the (anonymous) cart.
    let products = retail_server::storage::catalog::list_products(
        &state.store,
        &retail_server::storage::catalog::ProductFilter {
            limit: 40,
            ..Default::default()
        },
    )
    .await?;
    let cats = retail_server::storage::catalog::categories(&state.store).await?;
    let mut paths = vec!["/".to_owned(), "/cart".to_owned()];
    for q in ["牛奶", "纯净水", "苹果", "饺子", "洗衣", "巧克力"] {
        paths.push(format!("/search?q={q}"));
    }
    paths.push("/search?q=牛奶&sort=price_asc".into());
    for c in cats.iter().take(6) {
        paths.push(format!("/categories?c={}", c.id));
    }
    for p in products.items.iter().take(10) {
        paths.push(format!("/p/{}", p.id));
    }

    // Photos: `--images` on each of the ten product pages, one on every other listed product
    // and on every product of the first category page.
    let mut listed: Vec<uuid::Uuid> = products.items.iter().map(|p| p.id).collect();
    if let Some(first) = cats.first() {
        let in_first = retail_server::storage::catalog::list_products(
            &state.store,
            &retail_server::storage::catalog::ProductFilter {
                category: Some(first.id.clone()),
                limit: 200,
                ..Default::default()
            },
        )
        .await?;
        listed.extend(in_first.items.iter().map(|p| p.id));
    }
    let mut seen = std::collections::HashSet::new();
    listed.retain(|id| seen.insert(*id));
    let started = Instant::now();
    let mut uploaded = 0u32;
    for (i, product) in listed.iter().enumerate() {
        let count = if i < 10 { args.images } else { 1 };
        for _ in 0..count {
            uploaded += 1;
            let jpeg = support::photo_jpeg(1200, 1200, uploaded, args.noise);
            retail_server::app::product_images::add(
                &state,
                "bench",
                *product,
                uuid::Uuid::now_v7(),
                bytes::Bytes::from(jpeg),
            )
            .await?;
        }
    }
    println!(
        "{uploaded} photos (1200×1200 JPEG, noise up to {} levels) uploaded in {:.1} s",
        args.noise,
        started.elapsed().as_secs_f64()
    );

    // What the first screen transfers: the page, its stylesheet and script, its images.
    // The list: the first category's page (every product on it has a photo).
    let list = format!(
        "/categories?c={}",
        cats.first().map(|c| c.id.clone()).unwrap_or_default()
    );
    for (what, path) in [
        ("home page", "/".to_owned()),
        ("product page", format!("/p/{}", products.items[0].id)),
        ("product list", list),
    ] {
        first_screen(&http, &base, what, &path).await?;
    }

    // Unless `--anonymous`, every client is a shopper with a stored session and two lines in
    // the cart (each page then reads the cart for the tab bar's badge; the cart page prices it).
    if !args.anonymous {
        let mut skus = Vec::new();
        for p in products.items.iter().take(4) {
            if let Some(detail) =
                retail_server::storage::catalog::product(&state.store, p.id).await?
            {
                skus.extend(detail.skus.iter().map(|s| s.id));
            }
        }
        for client in 0..args.clients {
            let hash = retail_server::secrets::token_hash(&sid_token(client));
            let session = retail_server::storage::web::ensure_session(
                &state.store,
                &hash,
                retail_server::app::shop_session::SESSION_TTL_MS,
            )
            .await?;
            for sku in skus.iter().skip(client % 3).take(2) {
                retail_server::storage::web::cart_add(&state.store, session.id, *sku, 1, 99)
                    .await?;
            }
        }
    }

    // Warm-up, then the measured run.
    for path in &paths {
        http.get(format!("{base}{path}"))
            .send()
            .await?
            .bytes()
            .await?;
    }
    server_times.lock().unwrap().clear();
    by_page.lock().unwrap().clear();
    let deadline = Instant::now() + Duration::from_secs(args.seconds);
    let paths = Arc::new(paths);
    let mut tasks = Vec::new();
    for client in 0..args.clients {
        let http = http.clone();
        let base = bases[client % bases.len()].clone();
        let paths = paths.clone();
        tasks.push(tokio::spawn(async move {
            let sid = format!("sid={}", sid_token(client));
            let mut seen = Vec::new();
            let mut errors = 0u64;
            let mut bytes = 0usize;
            let mut i = client;
            while Instant::now() < deadline {
                let path = &paths[i % paths.len()];
                i += 7;
                let started = Instant::now();
                match http
                    .get(format!("{base}{path}"))
                    .header("cookie", &sid)
                    .send()
                    .await
                {
                    Ok(r) if r.status().is_success() => match r.bytes().await {
                        Ok(body) => {
                            bytes += body.len();
                            seen.push(started.elapsed());
                        }
                        Err(_) => errors += 1,
                    },
                    _ => errors += 1,
                }
            }
            (seen, errors, bytes)
        }));
    }
    let mut client_times = Vec::new();
    let mut errors = 0;
    let mut bytes = 0;
    for t in tasks {
        let (seen, e, b) = t.await?;
        client_times.extend(seen);
        errors += e;
        bytes += b;
    }
    let mut server = server_times.lock().unwrap().clone();
    server.sort();
    client_times.sort();
    println!(
        "pages ({}, {} instance(s), {} clients, {} s): {} pages, {:.0} pages/s, {} errors, {:.0} B of HTML a page",
        args.backend,
        args.instances,
        args.clients,
        args.seconds,
        client_times.len(),
        client_times.len() as f64 / args.seconds as f64,
        errors,
        bytes as f64 / client_times.len().max(1) as f64
    );
    println!(
        "  server time per page: p50 {} p90 {} p99 {} max {}",
        ms(percentile(&server, 0.5)),
        ms(percentile(&server, 0.9)),
        ms(percentile(&server, 0.99)),
        ms(percentile(&server, 1.0))
    );
    let mut pages: Vec<_> = by_page.lock().unwrap().clone().into_iter().collect();
    pages.sort_by_key(|(kind, _)| *kind);
    for (kind, mut times) in pages {
        times.sort();
        println!(
            "    {kind}: {} pages, p50 {} p99 {} max {}",
            times.len(),
            ms(percentile(&times, 0.5)),
            ms(percentile(&times, 0.99)),
            ms(percentile(&times, 1.0))
        );
    }
    println!(
        "  client-observed (includes queueing for the 2 cores): p50 {} p99 {}",
        ms(percentile(&client_times, 0.5)),
        ms(percentile(&client_times, 0.99))
    );
    Ok(())
}

/// Prints what opening `path` transfers: its HTML, stylesheet, script and every image it
/// names at its `src`.
async fn first_screen(
    http: &reqwest::Client,
    base: &str,
    what: &str,
    path: &str,
) -> anyhow::Result<()> {
    let get = |path: String| async move {
        anyhow::Ok(
            http.get(format!("{base}{path}"))
                .send()
                .await?
                .error_for_status()?
                .bytes()
                .await?
                .len(),
        )
    };
    let html = http
        .get(format!("{base}{path}"))
        .send()
        .await?
        .error_for_status()?
        .text()
        .await?;
    let (css, js) = (
        get("/static/app.css".into()).await?,
        get("/static/app.js".into()).await?,
    );
    let mut images = Vec::new();
    for tag in html.split("<img ").skip(1) {
        if let Some(src) = tag.split("src=\"").nth(1).and_then(|s| s.split('"').next()) {
            images.push(get(src.replace("&amp;", "&")).await?);
        }
    }
    let pictures: usize = images.iter().sum();
    let total = html.len() + css + js + pictures;
    println!(
        "{what} {path}: HTML {} B + CSS {css} B + JS {js} B + {} images {pictures} B = {:.1} KB",
        html.len(),
        images.len(),
        total as f64 / 1024.0
    );
    Ok(())
}

/// The session token client number `client` sends.
fn sid_token(client: usize) -> String {
    format!("ws_benchclient{client:06}abcdefghijklmnop")
}

/// Generated products: Chinese names from word parts, brands, specs and categories.
fn generated(n: usize) -> Vec<SearchRow> {
    let adjectives = [
        "有机",
        "低脂",
        "全脂",
        "进口",
        "精选",
        "特级",
        "新鲜",
        "冷冻",
        "手工",
        "原味",
        "香辣",
        "无糖",
        "高钙",
        "儿童",
        "家庭装",
        "便携",
    ];
    let nouns = [
        "纯牛奶",
        "酸奶",
        "矿泉水",
        "苹果",
        "香蕉",
        "大米",
        "面粉",
        "饺子",
        "巧克力",
        "薯片",
        "洗衣液",
        "牙膏",
        "纸巾",
        "咖啡",
        "绿茶",
        "橄榄油",
        "酱油",
        "鸡蛋",
        "牛排",
        "虾仁",
    ];
    let brands = [
        "伊利",
        "蒙牛",
        "光明",
        "农夫山泉",
        "怡宝",
        "金龙鱼",
        "三全",
        "思念",
        "德芙",
        "乐事",
        "蓝月亮",
        "云南白药",
        "心相印",
        "雀巢",
        "康师傅",
        "海天",
    ];
    let specs = [
        "250ml", "500ml", "1L", "200g", "500g", "1kg", "5kg", "10片", "6个装",
    ];
    let mut rows = Vec::with_capacity(n);
    let mut seed: u64 = 0x2545_F491_4F6C_DD1D;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for i in 0..n {
        let a = adjectives[(next() % adjectives.len() as u64) as usize];
        let noun = nouns[(next() % nouns.len() as u64) as usize];
        let brand = brands[(next() % brands.len() as u64) as usize];
        let spec = specs[(next() % specs.len() as u64) as usize];
        rows.push(SearchRow {
            id: uuid::Uuid::now_v7(),
            code: format!("G{i:07}"),
            name_zh: format!("{brand}{a}{noun}"),
            name_en: format!("{brand} product {i}"),
            brand: brand.to_owned(),
            category_id: format!("C{}", i % 60),
            price_min_fen: (next() % 20_000) as i64 + 100,
            sold: (next() % 5_000) as i64,
            created_at: i as i64,
            extra: format!(" {spec} G{i:07}-1"),
            image: None,
        });
    }
    rows
}

fn search(n: usize) {
    let parents: HashMap<String, Option<String>> = (0..60)
        .map(|i| (format!("C{i}"), Some(format!("T{}", i % 6))))
        .chain((0..6).map(|i| (format!("T{i}"), None)))
        .collect();
    let rows = generated(n);
    let started = Instant::now();
    let index = Index::build(rows, &parents);
    let built = started.elapsed();
    let texts = [
        "牛奶",
        "纯牛奶",
        "有机",
        "伊利有机",
        "矿泉水",
        "巧克力",
        "水",
        "奶",
        "低脂酸奶",
        "云南白药牙膏",
        "product 123",
        "500ml",
        "家庭装洗衣液",
        "咖啡",
        "不存在的商品",
    ];
    let mut times = Vec::new();
    let mut hits_total = 0usize;
    for round in 0..700 {
        for (k, text) in texts.iter().enumerate() {
            let q = Query {
                text: (*text).to_owned(),
                category: (round % 3 == 0).then(|| format!("T{}", k % 6)),
                brand: None,
                min_fen: (round % 5 == 0).then_some(500),
                max_fen: (round % 5 == 0).then_some(10_000),
                sort: match round % 4 {
                    0 => Sort::Relevance,
                    1 => Sort::Sales,
                    2 => Sort::PriceAsc,
                    _ => Sort::Newest,
                },
                offset: 0,
                limit: 24,
            };
            let t = Instant::now();
            let hits = index.search(&q);
            times.push(t.elapsed());
            hits_total += hits.total;
        }
    }
    times.sort();
    println!(
        "search over {n} SKUs: index built in {}, {} queries, p50 {} p90 {} p99 {} max {} (avg {} hits)",
        ms(built),
        times.len(),
        ms(percentile(&times, 0.5)),
        ms(percentile(&times, 0.9)),
        ms(percentile(&times, 0.99)),
        ms(percentile(&times, 1.0)),
        hits_total / times.len().max(1)
    );
}
