//! Payment-notification benchmark (issue 14): WeChat Pay notifications verified, decrypted and
//! applied by the real server (in this process, on an ephemeral port, on SQLite or PostgreSQL
//! with durable commits), sent over HTTP on loopback at a fixed rate.
//!
//! ```sh
//! cargo bench -p retail-server --bench payment_notifications -- --backend sqlite --rate 500 --count 5000
//! cargo bench -p retail-server --bench payment_notifications -- --backend postgres --rate 500 --count 5000
//! ```
//!
//! Set-up: the server is configured with the local WeChat Pay fake (`retail_testkit`), `count`
//! pickup orders are placed and a WeChat Pay Native payment started for each (through the fake);
//! the fake marks every trade paid and builds its `TRANSACTION.SUCCESS` notification the way
//! WeChat Pay does (RSA-SHA256 signed headers, AES-256-GCM resource). Measured: those
//! notifications posted to `/api/v1/payments/wechat_pay/notify` at `rate` per second, open loop
//! (notification k is due at k ÷ rate seconds and its latency counts from then, so a server that
//! falls behind shows it), each one verified (signature, serial, timestamp), decrypted, checked
//! against the payment and the order, and applied (the order paid, its event, notice and the
//! notification id, in one transaction). Reports p50/p90/p99/max latency, the rate achieved,
//! and checks that every order was paid exactly once.

#![allow(missing_docs, clippy::unwrap_used)]

mod support;

use std::time::{Duration, Instant};

use retail_server::storage::stock::{apply_movements, Movement, MovementKind};
use retail_testkit::payments::wechat_settings;
use retail_testkit::wechat_pay::{FakeWechatPay, Tamper};
use serde_json::json;
use support::login;
use uuid::Uuid;

#[global_allocator]
static ALLOCATOR: retail_server::Allocator = retail_server::Allocator;

struct Args {
    backend: String,
    count: usize,
    rate: f64,
}

fn args() -> anyhow::Result<Args> {
    let flags = support::Flags::parse();
    Ok(Args {
        backend: flags.text("backend", "sqlite"),
        count: flags.number("count", 5_000)?,
        rate: flags.number("rate", 500.0)?,
    })
}

fn main() -> anyhow::Result<()> {
    support::block_on(run(args()?))
}

async fn run(args: Args) -> anyhow::Result<()> {
    let (dir, mut settings) = support::bench_settings(&args.backend).await?;
    let wechat = FakeWechatPay::start();
    settings.orders.without_client_limits();
    settings.payments.wechat = wechat_settings(&wechat, dir.path());
    // The settler must not find the trades paid before their notifications arrive.
    settings.payments.settle_after_secs = 86_400;
    let server = support::start(settings).await?;
    let (url, store) = (server.url.clone(), server.state.store.clone());

    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .build()?;
    let token = login(&client, &url).await?;
    let sku = support::stocked_sku(&client, &url, &token).await?;
    let mut tx = store.begin().await?;
    apply_movements(
        &mut tx,
        &[Movement {
            location_id: "SH001",
            sku_id: sku,
            kind: MovementKind::Adjustment,
            on_hand_delta: i64::try_from(args.count)? * 2,
            reserved_delta: 0,
            reason: "bench",
            actor: "bench",
            ref_id: None,
            client_ts: 0,
        }],
    )
    .await?;
    tx.commit().await?;

    // Set-up: orders, their WeChat Pay payments, paid at the fake, notifications built.
    println!(
        "setting up {} orders with WeChat Pay payments on {} …",
        args.count, args.backend
    );
    let started = Instant::now();
    let mut notifications = Vec::with_capacity(args.count);
    let mut set_up = tokio::task::JoinSet::new();
    let semaphore = std::sync::Arc::new(tokio::sync::Semaphore::new(16));
    for _ in 0..args.count {
        let (client, url, wechat, semaphore) = (
            client.clone(),
            url.clone(),
            wechat.clone(),
            semaphore.clone(),
        );
        set_up.spawn(async move {
            let _permit = semaphore.acquire().await.ok()?;
            let order: serde_json::Value = client
                .post(format!("{url}/api/v1/orders"))
                .json(
                    &json!({"id": Uuid::now_v7(), "fulfilment": "pickup", "store": "SH001",
                    "lines": [{"sku_id": sku, "qty": 1}]}),
                )
                .send()
                .await
                .ok()?
                .json()
                .await
                .ok()?;
            let payment = Uuid::now_v7();
            let answer = client
                .post(format!(
                    "{url}/api/v1/orders/{}/payments",
                    order["id"].as_str()?
                ))
                .json(&json!({"id": payment, "provider": "wechat_pay"}))
                .send()
                .await
                .ok()?;
            if !answer.status().is_success() {
                return None;
            }
            let out_trade_no = payment.simple().to_string();
            wechat.pay_silently(&out_trade_no);
            wechat.notification_of_payment(&out_trade_no, Tamper::None)
        });
    }
    while let Some(done) = set_up.join_next().await {
        if let Some(n) = done? {
            notifications.push(n);
        }
    }
    anyhow::ensure!(
        notifications.len() == args.count,
        "only {} of {} payments were set up",
        notifications.len(),
        args.count
    );
    println!("set up in {:.1} s", started.elapsed().as_secs_f64());

    // Measured: the notifications at `rate` per second, open loop.
    let every = Duration::from_secs_f64(1.0 / args.rate);
    let start = Instant::now() + Duration::from_millis(200);
    let mut sends = tokio::task::JoinSet::new();
    for (k, notification) in notifications.into_iter().enumerate() {
        let due = start + every * u32::try_from(k)?;
        let client = client.clone();
        sends.spawn(async move {
            tokio::time::sleep_until(due.into()).await;
            let mut request = client.post(&notification.url).body(notification.body);
            for (name, value) in &notification.headers {
                request = request.header(name.as_str(), value.as_str());
            }
            let status = request
                .send()
                .await
                .map(|r| r.status().as_u16())
                .unwrap_or(0);
            (status, due.elapsed())
        });
    }
    let mut latencies = Vec::with_capacity(args.count);
    let mut refused = 0;
    while let Some(done) = sends.join_next().await {
        let (status, latency) = done?;
        if status != 204 {
            refused += 1;
        }
        latencies.push(latency);
    }
    let elapsed = start.elapsed();
    latencies.sort();
    let paid: i64 = {
        use sqlx::Row;
        let mut tx = store.begin().await?;
        let row = sqlx::query(
            "SELECT CAST(COUNT(*) AS BIGINT) AS n FROM order_events WHERE to_status = 'paid'",
        )
        .fetch_one(&mut *tx)
        .await?;
        row.try_get("n")?
    };
    let over_5ms = latencies
        .iter()
        .filter(|l| **l > Duration::from_millis(5))
        .count();
    // How far the SQLite WAL grew (it starts again from its beginning after each checkpoint
    // that caught up).
    let wal_mib = std::fs::metadata(dir.path().join("bench.db-wal"))
        .map(|m| m.len() as f64 / 1_048_576.0)
        .unwrap_or(0.0);
    println!(
        "backend {} · {} notifications at {:.0}/s offered · {:.0}/s answered · not taken {} · \
         p50 {:.2} ms · p90 {:.2} ms · p99 {:.2} ms · max {:.2} ms · over 5 ms {over_5ms} · \
         WAL {wal_mib:.1} MiB · orders paid {} (must be {})",
        args.backend,
        args.count,
        args.rate,
        args.count as f64 / elapsed.as_secs_f64(),
        refused,
        support::percentile(&latencies, 50.0).as_secs_f64() * 1e3,
        support::percentile(&latencies, 90.0).as_secs_f64() * 1e3,
        support::percentile(&latencies, 99.0).as_secs_f64() * 1e3,
        latencies.last().copied().unwrap_or_default().as_secs_f64() * 1e3,
        paid,
        args.count
    );
    server.stop().await;
    anyhow::ensure!(refused == 0, "{refused} notifications were not taken");
    anyhow::ensure!(
        paid == i64::try_from(args.count)?,
        "{paid} orders paid, {} expected",
        args.count
    );
    Ok(())
}
