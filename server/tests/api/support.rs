//! Test support: start a real server in-process on an ephemeral port, on its own SQLite file or
//! its own PostgreSQL database, with the demo chain loaded.

use std::time::Duration;

use reqwest::StatusCode;
use retail_server::app::AppState;
use retail_server::config::{Secrets, Settings};
use retail_server::Application;
use serde_json::Value;
use tokio::sync::oneshot;

/// Which database a test runs against.
#[derive(Clone, Copy, Debug)]
pub enum Backend {
    /// A fresh SQLite file in a temporary folder.
    Sqlite,
    /// A fresh database on the PostgreSQL server (TEST_DATABASE_URL, default
    /// postgres://postgres@127.0.0.1:5432/postgres).
    Postgres,
}

/// A running server owned by one test.
pub struct TestApp {
    /// Base URL, e.g. `http://127.0.0.1:41234`.
    pub url: String,
    /// HTTP client.
    pub client: reqwest::Client,
    /// The server's state (store, keys, settings).
    pub state: AppState,
    /// The settings it was started with (to restart it on the same database).
    pub settings: Settings,
    shutdown: Option<oneshot::Sender<()>>,
    handle: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
    _dir: tempfile::TempDir,
}

fn admin_url() -> String {
    std::env::var("TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// Creates a fresh PostgreSQL database and returns its URL, or None (loudly) when no server
/// answers outside CI. Under `CI=true` a missing server fails the test.
pub async fn fresh_postgres_database() -> Option<String> {
    use sqlx::Connection;
    let admin = admin_url();
    let mut conn = match sqlx::PgConnection::connect(&admin).await {
        Ok(conn) => conn,
        Err(err) => {
            if std::env::var("CI").as_deref() == Ok("true") {
                panic!("PostgreSQL at {admin} is required under CI=true: {err}");
            }
            eprintln!("\n!!! SKIPPING PostgreSQL test: cannot connect to {admin}: {err}\n");
            return None;
        }
    };
    drop_stale_test_databases(&mut conn).await;
    let name = format!("retail_test_{}", uuid::Uuid::now_v7().simple());
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
        .expect("create test database");
    let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(&admin);
    Some(format!("{base}/{name}"))
}

/// Drops test databases left by runs that ended more than an hour ago (their names carry the
/// UUIDv7 time), once per test process, so repeated runs do not fill the disk.
async fn drop_stale_test_databases(conn: &mut sqlx::PgConnection) {
    static ONCE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if ONCE.swap(true, std::sync::atomic::Ordering::SeqCst) {
        return;
    }
    let names: Vec<(String,)> =
        sqlx::query_as("SELECT datname FROM pg_database WHERE datname LIKE 'retail_test_%'")
            .fetch_all(&mut *conn)
            .await
            .unwrap_or_default();
    let cutoff = chrono::Utc::now().timestamp_millis() - 3_600_000;
    for (name,) in names {
        let created = name
            .strip_prefix("retail_test_")
            .and_then(|hex| hex.get(..12))
            .and_then(|ms| i64::from_str_radix(ms, 16).ok());
        if created.is_some_and(|ms| ms < cutoff) {
            // A database still in use by another run simply fails to drop; that is fine.
            let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name}"))
                .execute(&mut *conn)
                .await;
        }
    }
}

impl TestApp {
    /// Starts a server with the demo chain on the given backend; None when PostgreSQL is
    /// unavailable outside CI.
    pub async fn spawn(backend: Backend) -> Option<TestApp> {
        Self::spawn_with(backend, |_| {}).await
    }

    /// Like [`TestApp::spawn`], with a chance to adjust the settings first.
    pub async fn spawn_with(
        backend: Backend,
        adjust: impl FnOnce(&mut Settings),
    ) -> Option<TestApp> {
        let dir = tempfile::tempdir().expect("temp dir");
        let database_url = match backend {
            Backend::Sqlite => format!("sqlite://{}", dir.path().join("retail.db").display()),
            Backend::Postgres => fresh_postgres_database().await?,
        };
        let mut settings = Settings {
            listen: "127.0.0.1:0".parse().expect("addr"),
            database_url,
            data_dir: dir.path().to_path_buf(),
            secrets: Secrets::generate(),
            ..Settings::default()
        };
        // The store bus is off unless a test turns it on (see bus.rs).
        settings.mqtt.enabled = false;
        adjust(&mut settings);
        Some(Self::start(settings, dir).await)
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
        let state = app.state().clone();
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
            state,
            settings,
            shutdown: Some(tx),
            handle: Some(handle),
            _dir: dir,
        }
    }

    /// Stops the server gracefully and starts a new one on the same database and secrets
    /// (a new port). Simulates a restart.
    pub async fn restart(mut self) -> TestApp {
        self.stop().await;
        let mut settings = self.settings.clone();
        settings.listen = "127.0.0.1:0".parse().expect("addr");
        let dir = std::mem::replace(&mut self._dir, tempfile::tempdir().expect("temp dir"));
        Self::start(settings, dir).await
    }

    /// Stops the server gracefully.
    pub async fn stop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(handle) = self.handle.take() {
            handle
                .await
                .expect("server task")
                .expect("server stopped cleanly");
        }
    }

    /// Logs a demo staff member in (password demo1234) and returns the bearer token.
    pub async fn login(&self, username: &str) -> String {
        let (status, body) = self
            .post(
                "/api/v1/auth/login",
                None,
                serde_json::json!({"username": username, "password": "demo1234"}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "login {username}: {body}");
        body["token"].as_str().expect("token").to_owned()
    }

    /// GET, returning the status and the JSON body (Null when empty or not JSON).
    pub async fn get(&self, path: &str, token: Option<&str>) -> (StatusCode, Value) {
        let mut req = self.client.get(format!("{}{path}", self.url));
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        Self::finish(req).await
    }

    /// POST JSON, returning the status and the JSON body.
    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> (StatusCode, Value) {
        let mut req = self.client.post(format!("{}{path}", self.url)).json(&body);
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        Self::finish(req).await
    }

    /// PUT JSON, returning the status and the JSON body.
    pub async fn put(&self, path: &str, token: Option<&str>, body: Value) -> (StatusCode, Value) {
        let mut req = self.client.put(format!("{}{path}", self.url)).json(&body);
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        Self::finish(req).await
    }

    /// DELETE, returning the status and the JSON body.
    pub async fn delete(&self, path: &str, token: Option<&str>) -> (StatusCode, Value) {
        let mut req = self.client.delete(format!("{}{path}", self.url));
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        Self::finish(req).await
    }

    /// POST a raw body with a content type (for malformed-input tests).
    pub async fn post_raw(
        &self,
        path: &str,
        token: Option<&str>,
        body: &str,
    ) -> (StatusCode, Value) {
        let mut req = self
            .client
            .post(format!("{}{path}", self.url))
            .header("content-type", "application/json")
            .body(body.to_owned());
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        Self::finish(req).await
    }

    async fn finish(req: reqwest::RequestBuilder) -> (StatusCode, Value) {
        let resp = req.send().await.expect("request");
        let status = resp.status();
        let text = resp.text().await.expect("body");
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// Runs a test body against SQLite and PostgreSQL: `both_backends!(name, async_fn)` makes
/// `name::sqlite` and `name::postgres`, each with its own database.
/// `both_backends!(name, async_fn, |settings| { … })` adjusts the settings first.
#[macro_export]
macro_rules! both_backends {
    ($name:ident, $body:ident, $adjust:expr) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let app = $crate::support::TestApp::spawn_with($crate::support::Backend::Sqlite, $adjust)
                    .await
                    .expect("sqlite app");
                super::$body(app).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if let Some(app) =
                    $crate::support::TestApp::spawn_with($crate::support::Backend::Postgres, $adjust).await
                {
                    super::$body(app).await;
                }
            }
        }
    };
    ($name:ident, $body:ident) => {
        $crate::both_backends!($name, super::$body);
    };
    ($name:ident, $($body:ident)::+) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let app = $crate::support::TestApp::spawn($crate::support::Backend::Sqlite)
                    .await
                    .expect("sqlite app");
                $($body)::+(app).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if let Some(app) =
                    $crate::support::TestApp::spawn($crate::support::Backend::Postgres).await
                {
                    $($body)::+(app).await;
                }
            }
        }
    };
}
