//! Test support: a real server in-process (SQLite, demo chain), a registered lane device, and a
//! lane database synced from it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use pos_terminal::lane::{pin_hash, Lane, LaneSettings};
use pos_terminal::server_api::ServerApi;
use pos_terminal::store::LaneDb;
use pos_terminal::sync;
use retail_devices::receipt::ReceiptLayout;
use retail_domain::barcode::VariableMeasureLayout;
use retail_domain::profiles::DeviceCatalog;
use retail_domain::wire::catalog::{ShelfStatus, SkuRecord};
use retail_server::config::{Secrets, Settings};
use retail_server::Application;
use serde_json::{json, Value};
use tokio::sync::oneshot;

/// The manager PIN configured for test lanes.
pub const MANAGER_PIN: &str = "2468";

/// A running server owned by one test.
pub struct TestApp {
    /// Base URL.
    pub url: String,
    /// HTTP client.
    pub client: reqwest::Client,
    /// Settings it runs with.
    pub settings: Settings,
    /// The MQTT broker devices reach (host, port), when the bus is on.
    pub broker: Option<(String, u16)>,
    shutdown: Option<oneshot::Sender<()>>,
    handle: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
    dir: Option<tempfile::TempDir>,
}

impl TestApp {
    /// Starts a server on a fresh SQLite database with the demo chain.
    pub async fn spawn() -> TestApp {
        Self::spawn_with(|_| {}).await
    }

    /// Like [`TestApp::spawn`], adjusting the settings first.
    pub async fn spawn_with(adjust: impl FnOnce(&mut Settings)) -> TestApp {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut settings = Settings {
            listen: "127.0.0.1:0".parse().expect("addr"),
            database_url: format!("sqlite://{}", dir.path().join("retail.db").display()),
            data_dir: dir.path().to_path_buf(),
            secrets: Secrets::generate(),
            ..Settings::default()
        };
        settings.mqtt.enabled = false;
        adjust(&mut settings);
        Self::start(settings, dir).await
    }

    async fn start(settings: Settings, dir: tempfile::TempDir) -> TestApp {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(
                tracing_subscriber::EnvFilter::try_from_default_env()
                    .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
            )
            .with_test_writer()
            .try_init();
        let app = Application::build(settings.clone())
            .await
            .expect("build server");
        let url = format!("http://{}", app.local_addr());
        let broker = app
            .state()
            .broker
            .as_ref()
            .map(|b| (b.host.clone(), b.port));
        let (tx, rx) = oneshot::channel::<()>();
        let handle = tokio::spawn(app.run_until(async move {
            let _ = rx.await;
        }));
        TestApp {
            url,
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .expect("client"),
            settings,
            broker,
            shutdown: Some(tx),
            handle: Some(handle),
            dir: Some(dir),
        }
    }

    /// Stops the server (the lane is then offline).
    pub async fn stop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(handle) = self.handle.take() {
            handle.await.expect("server task").expect("server stopped");
        }
    }

    /// Starts it again on the same database, on `listen` (e.g. the old address).
    pub async fn start_again(&mut self, listen: std::net::SocketAddr) {
        self.stop().await;
        let mut settings = self.settings.clone();
        settings.listen = listen;
        let dir = self.dir.take().expect("dir");
        *self = Self::start(settings, dir).await;
    }

    /// The server's SQLite file.
    pub fn db_path(&self) -> PathBuf {
        self.settings.data_dir.join("retail.db")
    }

    /// The server's address.
    pub fn addr(&self) -> std::net::SocketAddr {
        self.url
            .trim_start_matches("http://")
            .parse()
            .expect("addr")
    }

    /// Logs a demo staff member in.
    pub async fn login(&self, username: &str) -> String {
        let (status, body) = self
            .post(
                "/api/v1/auth/login",
                None,
                json!({"username": username, "password": "demo1234"}),
            )
            .await;
        assert_eq!(status, 200, "login {username}: {body}");
        body["token"].as_str().expect("token").to_owned()
    }

    /// GET → (status, JSON).
    pub async fn get(&self, path: &str, token: Option<&str>) -> (u16, Value) {
        let mut req = self.client.get(format!("{}{path}", self.url));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        Self::finish(req).await
    }

    /// POST JSON → (status, JSON).
    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> (u16, Value) {
        let mut req = self.client.post(format!("{}{path}", self.url)).json(&body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        Self::finish(req).await
    }

    /// PUT JSON → (status, JSON).
    pub async fn put(&self, path: &str, token: Option<&str>, body: Value) -> (u16, Value) {
        let mut req = self.client.put(format!("{}{path}", self.url)).json(&body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        Self::finish(req).await
    }

    async fn finish(req: reqwest::RequestBuilder) -> (u16, Value) {
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        let text = resp.text().await.expect("body");
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// Registers a POS lane at SH001 (as its manager): (device id, credential).
    pub async fn register_lane(&self, name: &str) -> (String, String) {
        let token = self.login("mgr.sh001").await;
        let id = uuid::Uuid::now_v7().to_string();
        let (status, body) = self
            .post(
                "/api/v1/devices",
                Some(&token),
                json!({"id": id, "location_id": "SH001", "kind": "pos", "name": name}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        (
            id,
            body["credential"].as_str().expect("credential").to_owned(),
        )
    }

    /// Counts POS sales on the server by id: id → number of rows (orders) and stock movements.
    pub async fn server_sales(&self) -> std::collections::HashMap<String, (i64, i64)> {
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

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// The repository's firmware-config folder.
pub fn firmware_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("firmware-config")
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
    sync::refresh_context(&db, &api, "SH001")
        .await
        .expect("context");
    let lane = Lane::open(db, lane_settings("epson-tm-t88v"))
        .await
        .expect("lane");
    (api, lane)
}

/// Settings of a test lane.
pub fn lane_settings(printer: &str) -> LaneSettings {
    LaneSettings {
        store: "SH001".into(),
        store_name: "鲜邻超市 上海一店".into(),
        lane: 1,
        cashier: "cashier1.sh001".into(),
        manager_pin_sha256: Some(pin_hash(MANAGER_PIN)),
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
        .get(
            &format!("/api/v1/members/lookup?phone={phone}"),
            Some(&token),
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
