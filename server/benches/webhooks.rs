//! Webhook delivery benchmark (issue 20: ≥ 1,000 deliveries/s to a local receiver): the real
//! server (in this process, SQLite or PostgreSQL) with one endpoint registered for the stock
//! feed, pointing at a local receiver (axum, same process) that checks every signature. The
//! endpoint is disabled while `--changes` stock-level changes are made (receipts), then enabled:
//! the time from enabling until the receiver has accepted every delivery is measured.
//!
//! ```sh
//! cargo bench -p retail-server --bench webhooks -- --backend sqlite
//! cargo bench -p retail-server --bench webhooks -- --backend postgres --changes 20000
//! ```

#![allow(missing_docs, clippy::unwrap_used)]

mod support;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use retail_server::storage::stock::{apply_movements, Movement, MovementKind};
use serde_json::{json, Value};
use sha2::Sha256;
use uuid::Uuid;

#[global_allocator]
static ALLOCATOR: retail_server::Allocator = retail_server::Allocator;

struct Args {
    backend: String,
    changes: usize,
    batch: i64,
    concurrency: usize,
}

fn args() -> anyhow::Result<Args> {
    let flags = support::Flags::parse();
    Ok(Args {
        backend: flags.text("backend", "sqlite"),
        changes: flags.number("changes", 10_000)?,
        batch: flags.number("batch", 500)?,
        concurrency: flags.number("concurrency", 64)?,
    })
}

fn main() -> anyhow::Result<()> {
    support::block_on(run(args()?))
}

#[derive(Default)]
struct Seen {
    secret: String,
    ids: HashSet<String>,
    bad_signatures: usize,
    repeats: usize,
}

fn verify(secret: &str, header: &str, body: &[u8]) -> bool {
    let Some((t, v1)) = header
        .split_once(',')
        .and_then(|(t, v)| Some((t.strip_prefix("t=")?, v.strip_prefix("v1=")?)))
    else {
        return false;
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(t.as_bytes());
    mac.update(b".");
    mac.update(body);
    hex::decode(v1).is_ok_and(|given| mac.verify_slice(&given).is_ok())
}

async fn run(args: Args) -> anyhow::Result<()> {
    let (_dir, mut settings) = support::bench_settings(&args.backend).await?;
    settings.webhooks.tick_millis = 10;
    settings.webhooks.batch = args.batch;
    settings.webhooks.concurrency = args.concurrency;
    let server = support::start(settings).await?;
    let (url, state) = (server.url.clone(), server.state.clone());
    let client = reqwest::Client::new();
    let token = support::login(&client, &url).await?;

    // The receiver.
    let seen = Arc::new(Mutex::new(Seen::default()));
    let shared = seen.clone();
    let receiver = axum::Router::new().route(
        "/hook",
        axum::routing::post(
            move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
                let shared = shared.clone();
                async move {
                    let header = |name: &str| {
                        headers
                            .get(name)
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or_default()
                            .to_owned()
                    };
                    let mut seen = shared.lock().unwrap();
                    if !verify(&seen.secret, &header("x-retail-signature"), &body) {
                        seen.bad_signatures += 1;
                        return axum::http::StatusCode::UNAUTHORIZED;
                    }
                    if !seen.ids.insert(header("x-retail-delivery")) {
                        seen.repeats += 1;
                    }
                    axum::http::StatusCode::OK
                }
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let hook = format!("http://{}/hook", listener.local_addr()?);
    tokio::spawn(async move {
        let _ = axum::serve(listener, receiver).await;
    });

    let registered: Value = client
        .post(format!("{url}/api/v1/webhooks"))
        .bearer_auth(&token)
        .json(&json!({"id": Uuid::now_v7(), "url": hook, "events": ["stock"]}))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    seen.lock().unwrap().secret = registered["secret"].as_str().unwrap().to_owned();
    let endpoint = registered["id"].as_str().unwrap().to_owned();
    client
        .post(format!("{url}/api/v1/webhooks/{endpoint}/disable"))
        .bearer_auth(&token)
        .send()
        .await?
        .error_for_status()?;

    // `changes` stock-level changes (receipts on distinct levels where the catalog allows).
    let body: Value = client
        .get(format!("{url}/api/v1/stock"))
        .query(&[("location_id", "SH001"), ("limit", "200")])
        .bearer_auth(&token)
        .send()
        .await?
        .json()
        .await?;
    let skus: Vec<Uuid> = body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["sku_id"].as_str().unwrap().parse().unwrap())
        .collect();
    let locations = ["SH001", "SH002", "WH01"];
    let mut made = 0usize;
    while made < args.changes {
        let n = (args.changes - made).min(500);
        let movements: Vec<Movement<'_>> = (0..n)
            .map(|i| {
                let k = made + i;
                Movement {
                    location_id: locations[(k / skus.len()) % locations.len()],
                    sku_id: skus[k % skus.len()],
                    kind: MovementKind::Receipt,
                    on_hand_delta: 1,
                    reserved_delta: 0,
                    reason: "bench receipt",
                    actor: "bench",
                    ref_id: None,
                    client_ts: 0,
                }
            })
            .collect();
        let mut tx = state.store.begin().await?;
        apply_movements(&mut tx, &movements).await?;
        tx.commit().await?;
        made += n;
    }
    println!("{made} stock changes made; enabling the endpoint …");

    let started = Instant::now();
    client
        .post(format!("{url}/api/v1/webhooks/{endpoint}/enable"))
        .bearer_auth(&token)
        .send()
        .await?
        .error_for_status()?;
    let deadline = started + Duration::from_secs(600);
    loop {
        let n = seen.lock().unwrap().ids.len();
        if n >= made || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let (accepted, bad, repeats) = {
        let seen = seen.lock().unwrap();
        (seen.ids.len(), seen.bad_signatures, seen.repeats)
    };
    println!(
        "backend {}: {accepted} deliveries accepted in {elapsed:.2} s = {:.0} deliveries/s \
         (batch {}, {} in flight); {bad} bad signatures, {repeats} repeats",
        args.backend,
        accepted as f64 / elapsed,
        args.batch,
        args.concurrency,
    );
    anyhow::ensure!(accepted >= made, "not every delivery arrived");
    server.stop().await;
    Ok(())
}
