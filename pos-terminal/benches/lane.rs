//! Lane benchmarks (issue 3), against a real in-process server on SQLite:
//!
//! 1. first full catalog sync of `--skus` (default 100,000) SKUs into an empty lane database;
//! 2. scan → sale line with that catalog: the lane core's whole path (classify the code, look
//!    the barcode up in SQLite, re-price the basket with the pricing engine), p50/p99/max over
//!    `--scans` scans (baskets voided every 20 lines);
//! 3. a backlog of `--sales` (default 10,000) sales made with the server down, pushed in
//!    batches of 500 once it is back.
//!
//! `cargo bench -p pos-terminal --bench lane [-- --skus N --scans N --sales N]`

#![allow(missing_docs, clippy::unwrap_used)]

use std::time::{Duration, Instant};

use pos_terminal::lane::{Lane, LaneSettings, PaymentOutcome};
use pos_terminal::server_api::ServerApi;
use pos_terminal::store::LaneDb;
use pos_terminal::sync;
use retail_devices::receipt::ReceiptLayout;
use retail_domain::barcode::{ean13_from_body, VariableMeasureLayout};
use retail_domain::money::Money;
use retail_domain::profiles::DeviceCatalog;
use retail_domain::wire::sales::PaymentMethod;
use retail_server::config::{Secrets, Settings};
use retail_server::Application;
use serde_json::json;
use tokio::sync::oneshot;

struct Server {
    url: String,
    stop: oneshot::Sender<()>,
    handle: tokio::task::JoinHandle<anyhow::Result<()>>,
}

async fn start(settings: &Settings) -> Server {
    let app = Application::build(settings.clone()).await.unwrap();
    let url = format!("http://{}", app.local_addr());
    let (stop, rx) = oneshot::channel::<()>();
    let handle = tokio::spawn(app.run_until(async move {
        let _ = rx.await;
    }));
    Server { url, stop, handle }
}

async fn stop(server: Server) {
    let _ = server.stop.send(());
    let _ = server.handle.await;
}

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Adds `n` products with one SKU and one EAN-13 each to the server's catalog (and its change
/// feed), straight into its SQLite file.
async fn seed(db_path: &std::path::Path, n: usize) -> Vec<String> {
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", db_path.display()))
        .await
        .unwrap();
    let mut tx = pool.begin().await.unwrap();
    let base: i64 = sqlx::query_scalar("SELECT value FROM counters WHERE name = 'catalog'")
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    let category: String = sqlx::query_scalar("SELECT id FROM categories LIMIT 1")
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    let now = chrono::Utc::now().timestamp_millis();
    let mut codes = Vec::with_capacity(n);
    for i in 0..n {
        let product = uuid::Uuid::now_v7().to_string();
        let sku = uuid::Uuid::now_v7().to_string();
        let code = ean13_from_body(&format!("699{i:09}")).unwrap();
        sqlx::query(
            "INSERT INTO products (id, code, name_zh, name_en, brand, category_id, created_at, updated_at) \
             VALUES (?, ?, ?, ?, '测试品牌', ?, ?, ?)",
        )
        .bind(&product)
        .bind(format!("B{i:07}"))
        .bind(format!("测试商品{i}"))
        .bind(format!("Bench item {i}"))
        .bind(&category)
        .bind(now)
        .bind(now)
        .execute(&mut *tx)
        .await
        .unwrap();
        sqlx::query(
            "INSERT INTO skus (id, product_id, sku_code, spec_zh, spec_en, price_fen, created_at, updated_at) \
             VALUES (?, ?, ?, '500g', '500g', ?, ?, ?)",
        )
        .bind(&sku)
        .bind(&product)
        .bind(format!("B{i:07}-01"))
        .bind(100 + (i as i64 % 5000))
        .bind(now)
        .bind(now)
        .execute(&mut *tx)
        .await
        .unwrap();
        sqlx::query("INSERT INTO barcodes (code, sku_id) VALUES (?, ?)")
            .bind(&code)
            .bind(&sku)
            .execute(&mut *tx)
            .await
            .unwrap();
        sqlx::query("INSERT INTO catalog_versions (kind, entity_id, seq) VALUES ('sku', ?, ?)")
            .bind(&sku)
            .bind(base + 1 + i as i64)
            .execute(&mut *tx)
            .await
            .unwrap();
        codes.push(code);
    }
    sqlx::query("UPDATE counters SET value = ? WHERE name = 'catalog'")
        .bind(base + n as i64)
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    pool.close().await;
    codes
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let skus = arg("--skus", 100_000);
    let scans = arg("--scans", 5_000);
    let sales = arg("--sales", 10_000);
    let dir = tempfile::tempdir().unwrap();
    let mut settings = Settings {
        listen: "127.0.0.1:0".parse().unwrap(),
        database_url: format!("sqlite://{}", dir.path().join("retail.db").display()),
        data_dir: dir.path().to_path_buf(),
        secrets: Secrets::generate(),
        ..Settings::default()
    };
    settings.mqtt.enabled = false;
    let server = start(&settings).await;
    let t = Instant::now();
    let codes = seed(&dir.path().join("retail.db"), skus).await;
    eprintln!("seeded {skus} SKUs in {:.1?}", t.elapsed());

    let client = reqwest::Client::new();
    let login: serde_json::Value = client
        .post(format!("{}/api/v1/auth/login", server.url))
        .json(&json!({"username": "mgr.sh001", "password": "demo1234"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = login["token"].as_str().unwrap();
    let device: serde_json::Value = client
        .post(format!("{}/api/v1/devices", server.url))
        .bearer_auth(token)
        .json(&json!({"id": uuid::Uuid::now_v7(), "location_id": "SH001", "kind": "pos", "name": "Bench lane"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let credential = device["credential"].as_str().unwrap().to_owned();

    // 1. First full sync.
    let lane_dir = tempfile::tempdir().unwrap();
    let db = LaneDb::open(&lane_dir.path().join("lane.db"))
        .await
        .unwrap();
    let api = ServerApi::new(&server.url, &credential);
    let t = Instant::now();
    let identity = api.identify().await.unwrap();
    db.save_identity(&identity).await.unwrap();
    let records = sync::pull_catalog(&db, &api, |_| {}).await.unwrap();
    sync::refresh_context(&db, &api, "SH001", None)
        .await
        .unwrap();
    let sync_time = t.elapsed();
    let local = db.sku_count().await.unwrap();
    println!("first full sync: {records} records ({local} SKUs in the lane) in {sync_time:.2?}");

    // 2. Scan → sale line.
    let catalog = DeviceCatalog::load_dir(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../firmware-config/profiles"),
    )
    .unwrap();
    let settings_lane = LaneSettings {
        store: "SH001".into(),
        store_name: "鲜邻超市 上海一店".into(),
        lane: 1,
        layouts: vec![VariableMeasureLayout::cn_default()],
        receipt_layout: ReceiptLayout::from_profile(&catalog.printers["epson-tm-t88v"]),
        footer: vec![],
    };
    let mut lane = Lane::open(db.clone(), settings_lane).await.unwrap();
    lane.sign_in("cashier1.sh001", retail_testkit::server::DEMO_PIN)
        .unwrap();
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut pick = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        &codes[(x % codes.len() as u64) as usize]
    };
    let mut times = Vec::with_capacity(scans);
    for i in 0..scans {
        let code = pick().clone();
        let t = Instant::now();
        lane.scan(&code).await.unwrap();
        times.push(t.elapsed());
        if i % 20 == 19 {
            lane.void_sale("mgr.sh001", retail_testkit::server::DEMO_PIN)
                .await
                .unwrap();
        }
    }
    let _ = lane
        .void_sale("mgr.sh001", retail_testkit::server::DEMO_PIN)
        .await;
    times.sort();
    println!(
        "scan → sale line ({scans} scans, baskets of up to 20 lines, {local} SKUs): p50 {:.3?} p99 {:.3?} max {:.3?}",
        percentile(&times, 0.5),
        percentile(&times, 0.99),
        times[times.len() - 1]
    );

    // 3. Offline backlog, pushed when the server is back.
    stop(server).await;
    lane.set_online(false);
    let t = Instant::now();
    for i in 0..sales {
        for _ in 0..(1 + i % 3) {
            let code = pick().clone();
            lane.scan(&code).await.unwrap();
        }
        let due = lane.due();
        match lane
            .pay(PaymentMethod::Cash, Money::from_fen(due.fen() + 1000))
            .await
            .unwrap()
        {
            PaymentOutcome::Completed(_) => {}
            PaymentOutcome::Partial(_) => panic!("not completed"),
        }
    }
    println!("{sales} offline sales journalled in {:.2?}", t.elapsed());
    settings.listen = "127.0.0.1:0".parse().unwrap();
    let server = start(&settings).await;
    let api = ServerApi::new(&server.url, &credential);
    let t = Instant::now();
    let report = sync::push_unsent(&db, &api, 500).await.unwrap();
    let push_time = t.elapsed();
    assert_eq!(report.applied, sales, "{report:?}");
    println!("backlog of {sales} sales pushed (500 per batch) in {push_time:.2?}: {report:?}");
    stop(server).await;
}
