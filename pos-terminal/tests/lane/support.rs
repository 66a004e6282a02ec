//! Test support: the kit's server (`retail_testkit::TestServer`: in-process, a fresh SQLite
//! file, the demo chain, on an ephemeral port, the store bus off) and what the lane tests add —
//! a registered lane device, a lane database synced from the server, the repository's printer
//! profiles.

use std::path::Path;

use pos_terminal::lane::{Lane, LaneSettings};
use pos_terminal::server_api::ServerApi;
use pos_terminal::store::LaneDb;
use pos_terminal::sync;
use retail_devices::receipt::ReceiptLayout;
use retail_domain::barcode::VariableMeasureLayout;
use retail_domain::profiles::DeviceCatalog;
use retail_domain::wire::catalog::{ShelfStatus, SkuRecord};
use serde_json::json;

pub use retail_testkit::firmware_dir;

/// A running server owned by one test (`TestApp::sqlite()`, `TestApp::sqlite_with(…)`).
pub type TestApp = retail_testkit::TestServer;

/// The demo lane PIN of every account (cashiers sign in with it, managers approve with it).
pub use retail_testkit::server::DEMO_PIN as PIN;
/// The cashier who signs in at test lanes.
pub const CASHIER: &str = "cashier1.sh001";
/// The store manager who approves voids and returns.
pub const MANAGER: &str = "mgr.sh001";

/// What the lane tests ask of their server beyond the kit's.
pub trait LaneServer {
    /// Registers a POS lane at SH001 (as its manager): (device id, credential).
    async fn register_lane(&self, name: &str) -> (String, String);

    /// Counts POS sales on the server by id: id → number of rows (orders) and of order lines.
    async fn server_sales(&self) -> std::collections::HashMap<String, (i64, i64)>;
}

impl LaneServer for TestApp {
    async fn register_lane(&self, name: &str) -> (String, String) {
        let (id, credential) = self
            .register_device("mgr.sh001", "SH001", "pos", name)
            .await;
        (id.to_string(), credential)
    }

    async fn server_sales(&self) -> std::collections::HashMap<String, (i64, i64)> {
        use sqlx::Row;
        let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", self.db_path().display()))
            .await
            .expect("server db");
        let rows = sqlx::query(
            "SELECT o.id, COUNT(*) FROM orders o WHERE o.channel = 'pos' GROUP BY o.id",
        )
        .fetch_all(&pool)
        .await
        .expect("orders");
        let mut out = std::collections::HashMap::new();
        for row in rows {
            let id: String = row.get(0);
            let n: i64 = row.get(1);
            let lines: i64 =
                sqlx::query_scalar("SELECT COUNT(*) FROM order_lines WHERE order_id = ?")
                    .bind(&id)
                    .fetch_one(&pool)
                    .await
                    .expect("lines");
            out.insert(id, (n, lines));
        }
        pool.close().await;
        out
    }
}

/// The receipt layout of a printer profile of the repository.
pub fn printer_layout(id: &str) -> ReceiptLayout {
    let catalog = DeviceCatalog::load_dir(&firmware_dir().join("profiles")).expect("profiles");
    ReceiptLayout::from_profile(catalog.printers.get(id).expect("printer profile"))
}

/// A lane synced with `app` in `dir`: the API client and the lane core.
pub async fn synced_lane(app: &TestApp, credential: &str, dir: &Path) -> (ServerApi, Lane) {
    let db = LaneDb::open(&dir.join("lane.db")).await.expect("lane db");
    let api = ServerApi::new(&app.url, credential);
    let identity = api.identify().await.expect("identify");
    db.save_identity(&identity).await.expect("identity");
    sync::pull_catalog(&db, &api, |_| {})
        .await
        .expect("catalog");
    sync::refresh_context(&db, &api, "SH001", None)
        .await
        .expect("context");
    let mut lane = Lane::open(db, lane_settings("epson-tm-t88v"))
        .await
        .expect("lane");
    lane.sign_in(CASHIER, PIN).expect("sign in");
    (api, lane)
}

/// Settings of a test lane.
pub fn lane_settings(printer: &str) -> LaneSettings {
    LaneSettings {
        store: "SH001".into(),
        store_name: "鲜邻超市 上海一店".into(),
        lane: 1,
        layouts: vec![VariableMeasureLayout::cn_default()],
        receipt_layout: printer_layout(printer),
        footer: vec!["谢谢惠顾".into()],
    }
}

/// On-shelf, non-weighed SKUs of the lane's catalog with a barcode.
pub async fn packaged_skus(db: &LaneDb, n: usize) -> Vec<SkuRecord> {
    let records: Vec<String> = sqlx::query_scalar("SELECT record FROM skus ORDER BY id")
        .fetch_all(db.pool())
        .await
        .expect("skus");
    records
        .iter()
        .map(|r| serde_json::from_str::<SkuRecord>(r).expect("sku"))
        .filter(|s| !s.weighed && s.status == ShelfStatus::OnShelf && !s.barcodes.is_empty())
        .take(n)
        .collect()
}

/// A demo member's id (by phone, as the store manager).
pub async fn member_id(app: &TestApp, phone: &str) -> String {
    let token = app.login("mgr.sh001").await;
    let (status, body) = app
        .post(
            "/api/v1/members/lookup",
            Some(&token),
            serde_json::json!({ "phone": phone }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    body["id"].as_str().expect("id").to_owned()
}

/// A member's current member code (MC1), as the shopper's phone shows it.
pub async fn member_code(app: &TestApp, member: &str) -> String {
    let token = app.login("mgr.sh001").await;
    let (status, issued) = app
        .post(
            &format!("/api/v1/members/{member}/member-code"),
            Some(&token),
            json!({}),
        )
        .await;
    assert_eq!(status, 200, "{issued}");
    issued["code"].as_str().expect("code").to_owned()
}

/// The first packaged SKU in the lane database under a lane's `data_dir` (opened and closed
/// again, so the running lane keeps its database to itself).
pub async fn lane_sku(data_dir: &Path) -> SkuRecord {
    let db = LaneDb::open(&data_dir.join("lane.db")).await.expect("db");
    let sku = packaged_skus(&db, 1).await.remove(0);
    db.pool().close().await;
    sku
}
