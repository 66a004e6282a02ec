//! Event ingestion benchmark (issue 19): the shop pages' tracked events (埋点) posted to the real
//! server (in this process, on an ephemeral port, on SQLite or PostgreSQL with durable commits)
//! through `POST /api/v1/events`, as the pages' `sendBeacon` sends them: batches of up to 100
//! events, from many browsers at once.
//!
//! ```sh
//! cargo bench -p retail-server --bench events -- --backend sqlite
//! cargo bench -p retail-server --bench events -- --backend postgres --clients 32 --seconds 10
//! ```
//!
//! `clients` tasks each post batches of `batch` page views (fresh event ids, one device each)
//! back to back for `seconds`. The per-address batch limit is raised for the run (every client
//! comes from 127.0.0.1). Reports the events accepted a second, the batches' p50/p99 latency, and
//! checks that the store holds exactly the accepted events.

#![allow(missing_docs, clippy::unwrap_used)]

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use uuid::Uuid;

#[global_allocator]
static ALLOCATOR: retail_server::Allocator = retail_server::Allocator;

struct Args {
    backend: String,
    clients: usize,
    batch: usize,
    seconds: u64,
}

fn args() -> anyhow::Result<Args> {
    let flags = support::Flags::parse();
    Ok(Args {
        backend: flags.text("backend", "sqlite"),
        clients: flags.number("clients", 32)?,
        batch: flags.number("batch", 100)?,
        seconds: flags.number("seconds", 10)?,
    })
}

fn main() -> anyhow::Result<()> {
    support::block_on(run(args()?))
}

/// A batch of `n` page views of one device, as the shop's script sends it.
fn batch(device: Uuid, n: usize) -> String {
    let now = chrono::Utc::now().timestamp_millis();
    let events: Vec<Value> = (0..n)
        .map(|i| {
            json!({
                "id": Uuid::now_v7(),
                "name": "page_view",
                "v": 1,
                "ts": now - i as i64,
                "device": device,
                "page": "/p/0190b5e4-0000-7000-8000-000000000001",
                "channel": "online",
                "props": {"dwell_ms": 1200 + i, "referrer": "/"},
            })
        })
        .collect();
    json!({ "events": events }).to_string()
}

async fn run(args: Args) -> anyhow::Result<()> {
    let (_dir, mut settings) = support::bench_settings(&args.backend).await?;
    // Every bench client posts from 127.0.0.1: lift the per-address limit for the run.
    settings.events.batches_per_minute_per_address = u32::MAX / 2;
    let server = support::start(settings).await?;
    let (url, state) = (server.url.clone(), server.state.clone());
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(args.clients * 2)
        .build()?;
    // Bodies made before the clock starts (the bench measures the server, not the JSON).
    let rounds = 4_000usize.max(args.clients * 8);
    println!(
        "preparing {rounds} batches of {} events on {} …",
        args.batch, args.backend
    );
    let bodies: Arc<Vec<String>> = Arc::new(
        (0..rounds)
            .map(|_| batch(Uuid::now_v7(), args.batch))
            .collect(),
    );
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let deadline = Instant::now() + Duration::from_secs(args.seconds);
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..args.clients {
        let (client, url, bodies, next) =
            (client.clone(), url.clone(), bodies.clone(), next.clone());
        tasks.spawn(async move {
            let mut accepted = 0usize;
            let mut latencies = Vec::new();
            while Instant::now() < deadline {
                let k = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(body) = bodies.get(k) else { break };
                let sent = Instant::now();
                let resp = client
                    .post(format!("{url}/api/v1/events"))
                    .header("content-type", "text/plain")
                    .body(body.clone())
                    .send()
                    .await;
                let Ok(resp) = resp else { continue };
                let ok = resp.status().is_success();
                let outcome: Value = resp.json().await.unwrap_or(Value::Null);
                latencies.push(sent.elapsed());
                if ok {
                    accepted += outcome["accepted"].as_u64().unwrap_or(0) as usize;
                }
            }
            (accepted, latencies)
        });
    }
    let mut accepted = 0;
    let mut latencies = Vec::new();
    while let Some(done) = tasks.join_next().await {
        let (a, l) = done?;
        accepted += a;
        latencies.extend(l);
    }
    let elapsed = started.elapsed();
    latencies.sort();
    // The daily counts, kept as events arrive, hold exactly the accepted page views.
    let today = retail_server::app::china_day(chrono::Utc::now().timestamp_millis());
    let stored: i64 =
        retail_server::storage::events::day_counts(&state.store, today - 1, today + 1)
            .await?
            .into_iter()
            .filter(|(_, c)| c.name == "page_view")
            .map(|(_, c)| c.events)
            .sum();
    println!(
        "backend {}: {} clients, batches of {}: {} events accepted in {:.1} s = {:.0} events/s; \
         batch p50 {:.1} ms, p99 {:.1} ms; {} page views counted",
        args.backend,
        args.clients,
        args.batch,
        accepted,
        elapsed.as_secs_f64(),
        accepted as f64 / elapsed.as_secs_f64(),
        support::percentile(&latencies, 50.0).as_secs_f64() * 1e3,
        support::percentile(&latencies, 99.0).as_secs_f64() * 1e3,
        stored,
    );
    anyhow::ensure!(
        stored == accepted as i64,
        "counted {stored} page views, accepted {accepted}"
    );
    server.stop().await;
    Ok(())
}
