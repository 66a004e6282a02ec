//! Change-feed read benchmark (issue 20: ≥ 20,000 changes/s read): the real server (in this
//! process, on an ephemeral port, SQLite or PostgreSQL) with the demo chain, `--orders` online
//! orders placed through `POST /api/v1/orders` by `--clients` shoppers at once (the order
//! feed's changes and the stock feed's reservations), and `--levels` stock-level changes made
//! by receipts; then each feed is read from its beginning to its end through
//! `GET /api/v1/changes/{feed}` in pages of `--page`, by one reader, as a middle platform would.
//!
//! ```sh
//! cargo bench -p retail-server --bench changes -- --backend sqlite
//! cargo bench -p retail-server --bench changes -- --backend postgres --orders 5000 --levels 20000
//! cargo bench -p retail-server --bench changes -- --backend sqlite --paid
//! ```
//!
//! With `--paid` every order is then paid through the sandbox provider before the feeds are
//! read: the orders then have several changes each (placed, then the payment's updates), and
//! every record read is a paid order carrying the signed pickup QR (an Ed25519 signature per
//! record read), as a live feed's paid orders do.
//!
//! Reports the orders placed a second while the feed is written (the order path with the
//! change triggers), and per feed the changes read a second; checks the pages' positions rise
//! without a repeat.

#![allow(missing_docs, clippy::unwrap_used)]

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use retail_server::storage::stock::{apply_movements, Movement, MovementKind};
use serde_json::{json, Value};
use uuid::Uuid;

#[global_allocator]
static ALLOCATOR: retail_server::Allocator = retail_server::Allocator;

struct Args {
    backend: String,
    clients: usize,
    orders: usize,
    levels: usize,
    page: usize,
    paid: bool,
}

fn args() -> anyhow::Result<Args> {
    let flags = support::Flags::parse();
    Ok(Args {
        backend: flags.text("backend", "sqlite"),
        clients: flags.number("clients", 32)?,
        orders: flags.number("orders", 5_000)?,
        levels: flags.number("levels", 20_000)?,
        page: flags.number("page", 1000)?,
        paid: flags.switch("paid"),
    })
}

fn main() -> anyhow::Result<()> {
    support::block_on(run(args()?))
}

/// A page as a middle platform reads it: the positions and kinds checked, each record's JSON
/// checked well-formed and kept as text (for its own types), not built into a value tree.
#[derive(serde::Deserialize)]
struct FeedPage {
    items: Vec<FeedItem>,
    next_cursor: String,
    has_more: bool,
}

#[derive(serde::Deserialize)]
struct FeedItem {
    seq: i64,
    kind: String,
    record: Box<serde_json::value::RawValue>,
}

/// Reads `feed` from its beginning to its end: (changes, seconds).
async fn read_feed(
    client: &reqwest::Client,
    url: &str,
    token: &str,
    feed: &str,
    page: usize,
) -> anyhow::Result<(usize, f64)> {
    let started = Instant::now();
    let mut cursor: Option<String> = None;
    let mut read = 0usize;
    let mut last_seq = 0i64;
    loop {
        let mut request = client
            .get(format!("{url}/api/v1/changes/{feed}"))
            .query(&[("limit", page.to_string())])
            .bearer_auth(token);
        if let Some(cursor) = &cursor {
            request = request.query(&[("cursor", cursor)]);
        }
        let bytes = request.send().await?.error_for_status()?.bytes().await?;
        let body: FeedPage = serde_json::from_slice(&bytes)?;
        for item in &body.items {
            anyhow::ensure!(item.seq > last_seq, "{feed}: {} after {last_seq}", item.seq);
            anyhow::ensure!(item.record.get().starts_with('{') || item.kind == "deleted");
            last_seq = item.seq;
            read += 1;
        }
        cursor = Some(body.next_cursor);
        if !body.has_more {
            return Ok((read, started.elapsed().as_secs_f64()));
        }
    }
}

/// Pays every order through the sandbox provider (`POST /orders/{id}/payments`, then the
/// shopper's confirmation at its `pay_url`), `clients` at once.
async fn pay_all(
    client: &reqwest::Client,
    url: &str,
    orders: Vec<Uuid>,
    clients: usize,
) -> anyhow::Result<()> {
    let started = Instant::now();
    let total = orders.len();
    let orders = Arc::new(std::sync::Mutex::new(orders));
    let skipped = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..clients {
        let (client, url, orders) = (client.clone(), url.to_owned(), orders.clone());
        let skipped = skipped.clone();
        tasks.spawn(async move {
            loop {
                let Some(order) = orders.lock().unwrap().pop() else {
                    return anyhow::Ok(());
                };
                let answer = client
                    .post(format!("{url}/api/v1/orders/{order}/payments"))
                    .json(&json!({"id": Uuid::now_v7()}))
                    .send()
                    .await?;
                let status = answer.status();
                let intent: Value = answer.json().await?;
                if intent["error"]["code"] == "not_payable" {
                    // Nothing left to pay on it: counted, and left as it is.
                    skipped.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    continue;
                }
                anyhow::ensure!(status.is_success(), "paying {order}: {status} {intent}");
                let pay_url = intent["pay_url"]
                    .as_str()
                    .ok_or_else(|| anyhow::anyhow!("no pay_url: {intent}"))?;
                client.post(pay_url).send().await?.error_for_status()?;
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done??;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let skipped = skipped.load(std::sync::atomic::Ordering::Relaxed);
    println!(
        "{} orders paid at the sandbox by {clients} clients in {elapsed:.1} s = {:.0} orders/s \
         ({skipped} had nothing left to pay)",
        total - skipped,
        (total - skipped) as f64 / elapsed
    );
    Ok(())
}

async fn run(args: Args) -> anyhow::Result<()> {
    let (_dir, mut settings) = support::bench_settings(&args.backend).await?;
    settings.orders.without_client_limits();
    let server = support::start(settings).await?;
    let (url, state) = (server.url.clone(), server.state.clone());
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(args.clients * 2)
        .build()?;
    let token = support::login(&client, &url).await?;

    // Every SKU stocked at SH001 (a receipt each: stock-feed changes), in rounds until
    // `levels` level changes are made.
    let mut skus: Vec<Uuid> = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let mut request = client
            .get(format!("{url}/api/v1/stock"))
            .query(&[("location_id", "SH001"), ("limit", "200")])
            .bearer_auth(&token);
        if let Some(after) = &after {
            request = request.query(&[("after", after)]);
        }
        let body: Value = request.send().await?.json().await?;
        for row in body["items"].as_array().unwrap() {
            skus.push(row["sku_id"].as_str().unwrap().parse()?);
        }
        match body["next_after"].as_str() {
            Some(next) => after = Some(next.to_owned()),
            None => break,
        }
    }
    anyhow::ensure!(!skus.is_empty(), "no stocked SKU at SH001");
    let locations = ["SH001", "SH002", "WH01"];
    let started = Instant::now();
    let mut made = 0usize;
    while made < args.levels {
        let mut tx = state.store.begin().await?;
        let n = (args.levels - made).min(500);
        let movements: Vec<Movement<'_>> = (0..n)
            .map(|i| {
                let k = made + i;
                Movement {
                    location_id: locations[(k / skus.len()) % locations.len()],
                    sku_id: skus[k % skus.len()],
                    kind: MovementKind::Receipt,
                    on_hand_delta: 10,
                    reserved_delta: 0,
                    reason: "bench receipt",
                    actor: "bench",
                    ref_id: None,
                    client_ts: 0,
                }
            })
            .collect();
        apply_movements(&mut tx, &movements).await?;
        tx.commit().await?;
        made += n;
    }
    println!(
        "{} stock-level changes made in {:.1} s ({} SKUs)",
        made,
        started.elapsed().as_secs_f64(),
        skus.len()
    );

    // Orders from `clients` shoppers at once, one unit each of a stocked SKU.
    let skus = Arc::new(skus);
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..args.clients {
        let (client, url, skus, next) = (client.clone(), url.clone(), skus.clone(), next.clone());
        let total = args.orders;
        tasks.spawn(async move {
            let mut placed = Vec::new();
            loop {
                let k = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if k >= total {
                    return placed;
                }
                let id = Uuid::now_v7();
                let body = json!({"id": id, "fulfilment": "pickup", "store": "SH001",
                    "lines": [{"sku_id": skus[k % skus.len()], "qty": 1}]});
                let resp = client
                    .post(format!("{url}/api/v1/orders"))
                    .json(&body)
                    .timeout(Duration::from_secs(60))
                    .send()
                    .await;
                if resp.is_ok_and(|r| r.status().is_success()) {
                    placed.push(id);
                }
            }
        });
    }
    let mut placed: Vec<Uuid> = Vec::new();
    while let Some(done) = tasks.join_next().await {
        placed.extend(done?);
    }
    let elapsed = started.elapsed().as_secs_f64();
    println!(
        "{} orders placed by {} clients in {elapsed:.1} s = {:.0} orders/s (with the change triggers)",
        placed.len(),
        args.clients,
        placed.len() as f64 / elapsed
    );
    if args.paid {
        pay_all(&client, &url, placed, args.clients).await?;
    }

    let mut total = 0usize;
    let mut seconds = 0.0;
    for feed in ["orders", "stock", "members", "payments", "refunds"] {
        let (n, s) = read_feed(&client, &url, &token, feed, args.page).await?;
        println!(
            "backend {}: feed {feed}: {n} changes read in {s:.2} s = {:.0} changes/s (pages of {})",
            args.backend,
            n as f64 / s.max(1e-9),
            args.page
        );
        total += n;
        seconds += s;
    }
    println!(
        "backend {}: all feeds: {total} changes read in {seconds:.2} s = {:.0} changes/s",
        args.backend,
        total as f64 / seconds.max(1e-9)
    );
    server.stop().await;
    Ok(())
}
