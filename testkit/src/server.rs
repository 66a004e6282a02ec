//! The central server in-process: [`retail_server::Application::build`] and `run_until`, on its
//! own SQLite file or PostgreSQL database with the demo chain loaded, stopped cleanly (HTTP
//! drained, background work ended, database pools closed).
//!
//! [`test_settings`] never uses a fixed port: HTTP and the embedded MQTT broker listen on port
//! 0, and the store bus is off unless the test turns it on, so tests run beside a server on the
//! defaults (`cargo run -p retail-server`: 127.0.0.1:8080 and 127.0.0.1:1884). Only [`settings`]
//! with an address the caller chose (the store-day harness) binds a given port.
//!
//! This module is where test support touches the server's internals (its configuration,
//! state, keys, bus and Mosquitto files); keep it that way.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use reqwest::StatusCode;
use retail_domain::codes::SignedCode;
use retail_server::app::AppState;
use retail_server::bus::mosquitto::MosquittoFiles;
use retail_server::config::{Secrets, Settings};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::task::StoppableTask;

/// 127.0.0.1, port 0: the operating system picks a free port.
pub const EPHEMERAL: SocketAddr = SocketAddr::V4(std::net::SocketAddrV4::new(
    std::net::Ipv4Addr::LOCALHOST,
    0,
));

/// The demo chain's password for every staff account.
pub const DEMO_PASSWORD: &str = "demo1234";

/// The demo chain's lane PIN of every staff account (cashiers sign in with it, managers approve
/// with it).
pub const DEMO_PIN: &str = "246810";

/// A return request as a lane of `store` sends it: rung up by the store's first demo cashier and
/// approved by its demo manager with their lane PIN ([`DEMO_PIN`]).
pub fn approved_return(mut request: serde_json::Value, store: &str) -> serde_json::Value {
    let store = store.to_ascii_lowercase();
    request["cashier"] = json!(format!("cashier1.{store}"));
    request["approval"] = json!({"username": format!("mgr.{store}"), "pin": DEMO_PIN});
    request
}

/// Which database a test runs against (see [`crate::both_backends!`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// A fresh SQLite file in a temporary folder.
    Sqlite,
    /// A fresh database on the PostgreSQL server ([`crate::postgres`]).
    Postgres,
}

/// Which database a server runs on, once it exists.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Database {
    /// `retail.db` in the server's data folder.
    Sqlite,
    /// A PostgreSQL URL (an empty database gets the demo chain).
    Postgres(String),
}

/// Which store bus a server uses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Bus {
    /// None: the server does not connect to a bus (most API tests).
    Off,
    /// The embedded broker, listening here ([`EPHEMERAL`]: any free port).
    Embedded(SocketAddr),
    /// An external broker on `127.0.0.1:port`, the server logging in as `server` with this
    /// password, with a persistent session under a client id of its own; it retries until the
    /// broker answers (see [`crate::broker`]).
    External {
        /// Port on 127.0.0.1.
        port: u16,
        /// The server's broker password.
        password: String,
    },
}

/// Settings for a server with the demo chain: data (and the SQLite file) under `data_dir`,
/// HTTP on `listen`, the embedded broker (when it is the bus) where `bus` says and on a free
/// port otherwise. With SQLite the secrets are generated into `data_dir` on the first start
/// and kept there (a second start on the folder reuses them); with PostgreSQL they are
/// generated now.
pub fn settings(data_dir: &Path, database: &Database, listen: SocketAddr, bus: &Bus) -> Settings {
    let mut settings = Settings {
        listen,
        data_dir: data_dir.to_path_buf(),
        demo: true,
        ..Settings::default()
    };
    match database {
        Database::Sqlite => {
            settings.database_url = format!("sqlite://{}", data_dir.join("retail.db").display());
        }
        Database::Postgres(url) => {
            settings.database_url = url.clone();
            settings.secrets = Secrets::generate();
        }
    }
    // Every simulated shopper, lane and agent of a test talks from 127.0.0.1: the per-address
    // order limits would make one address of them all. A test of the limits sets its own.
    settings.orders.without_client_limits();
    // Never the default 127.0.0.1:1884, even when a test turns the embedded bus on later.
    settings.mqtt.embedded_listen = EPHEMERAL;
    match bus {
        Bus::Off => settings.mqtt.enabled = false,
        Bus::Embedded(addr) => {
            settings.mqtt.enabled = true;
            settings.mqtt.embedded_listen = *addr;
        }
        Bus::External { port, password } => {
            settings.mqtt.enabled = true;
            settings.mqtt.url = format!("mqtt://server:{password}@127.0.0.1:{port}");
            settings.mqtt.client_id = format!("retail-server-{}", Uuid::now_v7().simple());
        }
    }
    settings
}

/// Settings for a test's server: [`settings`] on free ports with the store bus off and fresh
/// secrets. A test turns the bus on with `settings.mqtt.enabled = true` (the embedded broker,
/// on a free port) or points `settings.mqtt.url` at a broker of its own.
pub fn test_settings(data_dir: &Path, database: &Database) -> Settings {
    let mut settings = settings(data_dir, database, EPHEMERAL, &Bus::Off);
    settings.secrets = Secrets::generate();
    settings
}

/// A server running in this process, owned by one test (or the store-day harness). Dropping it
/// tells it to stop; [`TestServer::stop`] also waits until it has.
pub struct TestServer {
    /// Base URL, e.g. `http://127.0.0.1:41234` (`https://…` with `[tls]`).
    pub url: String,
    /// An HTTP client (30 s timeout).
    pub client: reqwest::Client,
    /// The server's shared state (store, keys, bus).
    pub state: AppState,
    /// The settings it runs with (to start it again on the same database).
    pub settings: Settings,
    task: StoppableTask,
    dir: Option<tempfile::TempDir>,
}

impl TestServer {
    /// Starts a server with the demo chain on `backend`, in a temporary folder of its own, the
    /// store bus off; `None` when PostgreSQL is unavailable outside CI.
    ///
    /// # Panics
    /// When the server does not start, and under `CI=true` without PostgreSQL.
    pub async fn spawn(backend: Backend) -> Option<TestServer> {
        Self::spawn_with(backend, |_| {}).await
    }

    /// Like [`TestServer::spawn`], with a chance to adjust the [`test_settings`] first.
    ///
    /// # Panics
    /// As [`TestServer::spawn`].
    pub async fn spawn_with(
        backend: Backend,
        adjust: impl FnOnce(&mut Settings),
    ) -> Option<TestServer> {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let database = match backend {
            Backend::Sqlite => Database::Sqlite,
            Backend::Postgres => {
                Database::Postgres(crate::postgres::fresh_database_or_skip().await?)
            }
        };
        let mut settings = test_settings(dir.path(), &database);
        adjust(&mut settings);
        let mut server = Self::start(settings).await.expect("the test server starts");
        server.dir = Some(dir);
        Some(server)
    }

    /// A server on a fresh SQLite file (see [`TestServer::spawn`]).
    ///
    /// # Panics
    /// When the server does not start.
    pub async fn sqlite() -> TestServer {
        Self::sqlite_with(|_| {}).await
    }

    /// [`TestServer::sqlite`] with a chance to adjust the [`test_settings`] first.
    ///
    /// # Panics
    /// When the server does not start.
    pub async fn sqlite_with(adjust: impl FnOnce(&mut Settings)) -> TestServer {
        Self::spawn_with(Backend::Sqlite, adjust)
            .await
            .expect("SQLite is always available")
    }

    /// A server on a fresh SQLite file in `data_dir` (which the caller keeps), adjusting the
    /// [`test_settings`] first.
    ///
    /// # Panics
    /// When the server does not start.
    pub async fn sqlite_in(data_dir: &Path, adjust: impl FnOnce(&mut Settings)) -> TestServer {
        let mut settings = test_settings(data_dir, &Database::Sqlite);
        adjust(&mut settings);
        Self::start(settings).await.expect("the test server starts")
    }

    /// Builds the server (migrations, the demo chain on an empty database) with exactly these
    /// settings and starts serving.
    pub async fn start(settings: Settings) -> anyhow::Result<TestServer> {
        crate::init_logs();
        let app = retail_server::Application::build(settings.clone())
            .await
            .context("starting the server")?;
        let builder = reqwest::Client::builder().timeout(Duration::from_secs(30));
        let (url, client) = if settings.tls.enabled() {
            // The kit's certificates keep the CA beside the server's certificate.
            let ca = crate::tls::own_ca(&settings.tls).context(
                "a TLS test server needs its CA as ca.pem beside its certificate \
                 (retail_testkit::tls::TestPki)",
            )?;
            let trust = retail_devices::server_link::ServerTrust::load(Some(&ca))?;
            (
                format!("https://{}", app.local_addr()),
                trust.http_client(builder),
            )
        } else {
            (format!("http://{}", app.local_addr()), builder.build())
        };
        let state = app.state().clone();
        let task = StoppableTask::spawn(|stop| app.run_until(stop));
        Ok(TestServer {
            url,
            client: client.context("building the HTTP client")?,
            state,
            settings,
            task,
            dir: None,
        })
    }

    /// Stops serving and waits until the server has stopped (its database closed); an error
    /// when it did not stop cleanly. Stopping a stopped server does nothing.
    pub async fn stop(&mut self) -> anyhow::Result<()> {
        self.task.stop().await.context("the server")
    }

    /// Kills the server mid-flight, as a crashed process: its serving task is aborted (open
    /// connections drop, in-flight requests end where they are) and its background loops are
    /// cancelled at their next await point, without draining anything.
    pub fn kill(&mut self) {
        self.task.abort();
        self.state.shutdown.cancel();
    }

    /// Stops the server (when running) and starts it again on the same database, secrets and
    /// folder, listening on `listen` (e.g. its old address, so devices find it again).
    ///
    /// # Panics
    /// When it does not stop cleanly or does not start again.
    pub async fn start_again(&mut self, listen: SocketAddr) {
        self.stop().await.expect("the server stops cleanly");
        let mut settings = self.settings.clone();
        settings.listen = listen;
        let mut again = Self::start(settings)
            .await
            .expect("the server starts again");
        again.dir = self.dir.take();
        *self = again;
    }

    /// A restart: [`TestServer::start_again`] on a new free port.
    ///
    /// # Panics
    /// As [`TestServer::start_again`].
    pub async fn restart(mut self) -> TestServer {
        self.start_again(EPHEMERAL).await;
        self
    }

    /// The address it listens on.
    ///
    /// # Panics
    /// Never for a server this kit started (its URL is `http(s)://` and an address).
    pub fn addr(&self) -> SocketAddr {
        self.url
            .trim_start_matches("https://")
            .trim_start_matches("http://")
            .parse()
            .expect("the server's address")
    }

    /// The SQLite file of a server on [`Database::Sqlite`].
    pub fn db_path(&self) -> PathBuf {
        self.settings.data_dir.join("retail.db")
    }

    /// The MQTT broker devices reach, (host, port), when the store bus is on.
    pub fn broker(&self) -> Option<(String, u16)> {
        self.state.broker.as_ref().map(|b| (b.host.clone(), b.port))
    }

    /// The broker devices reach as `mqtt://host:port` (`mqtts://…` with `[tls]`).
    ///
    /// # Panics
    /// When the store bus is off.
    pub fn broker_url(&self) -> String {
        self.state
            .broker
            .as_ref()
            .expect("the store bus is on")
            .url()
    }

    /// The certificates of a server started with [`crate::tls::serve_tls`].
    ///
    /// # Panics
    /// When the server was not.
    pub fn pki(&self) -> crate::tls::TestPki {
        let dir = crate::tls::pki_dir(&self.settings);
        assert!(
            dir.exists(),
            "the server was not started with tls::serve_tls"
        );
        crate::tls::TestPki::at(&dir)
    }

    /// Waits until the server's bus client has subscribed (at once when the bus is off).
    pub async fn wait_subscribed(&self) {
        if let Some(bus) = &self.state.bus {
            bus.wait_subscribed().await;
        }
    }

    /// Waits until `device` has reported itself online (its presence on the bus).
    ///
    /// # Panics
    /// When it has not within 20 s.
    pub async fn wait_online(&self, device: Uuid) {
        let store = self.state.store.clone();
        crate::wait_until("the device is online", Duration::from_secs(20), || {
            let store = store.clone();
            async move {
                matches!(retail_server::storage::bus::presence(&store, device).await,
                    Ok(Some(p)) if p.status == "online")
            }
        })
        .await;
    }

    /// Signs a code (a member code, an exit pass, …) with the server's key.
    pub fn sign(&self, code: &SignedCode) -> String {
        self.state.keys.signer.sign(code)
    }

    /// The password and ACL files for an external Mosquitto serving this server's devices,
    /// with a login for the server itself when given (user, password).
    pub async fn mosquitto_files(
        &self,
        server_login: Option<(&str, &str)>,
    ) -> anyhow::Result<MosquittoFiles> {
        retail_server::bus::mosquitto::generate(&self.state.store, server_login)
            .await
            .context("generating the Mosquitto files")
    }

    /// Logs a demo staff member in ([`DEMO_PASSWORD`]) and returns the bearer token.
    ///
    /// # Panics
    /// When the login fails.
    pub async fn login(&self, username: &str) -> String {
        let (status, body) = self
            .post(
                "/api/v1/auth/login",
                None,
                json!({"username": username, "password": DEMO_PASSWORD}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "login {username}: {body}");
        body["token"].as_str().expect("a token").to_owned()
    }

    /// The barcode of a packaged SKU on the shelf at `store` with at least `min_available`
    /// units available.
    ///
    /// # Panics
    /// When there is none.
    pub async fn packaged_barcode(&self, store: &str, min_available: i64) -> String {
        let token = self.login("admin").await;
        let (_, page) = self
            .get(
                &format!("/api/v1/stock?location_id={store}&limit=300"),
                Some(&token),
            )
            .await;
        for level in page["items"].as_array().into_iter().flatten() {
            if level["available"].as_i64().unwrap_or(0) < min_available {
                continue;
            }
            let Some(id) = level["sku_id"].as_str().and_then(|s| s.parse().ok()) else {
                continue;
            };
            let Ok(Some(sku)) =
                retail_server::storage::catalog::sku(&self.state.store, id, Some(store)).await
            else {
                continue;
            };
            if !sku.weighed
                && sku.status == retail_domain::wire::catalog::ShelfStatus::OnShelf
                && !sku.barcodes.is_empty()
            {
                return sku.barcodes[0].clone();
            }
        }
        panic!("no packaged item with {min_available} available at {store}");
    }

    /// Registers a device of `kind` (`pos`, `edge`) at `store`, as staff member `user`;
    /// returns its id and credential.
    ///
    /// # Panics
    /// When the registration is refused.
    pub async fn register_device(
        &self,
        user: &str,
        store: &str,
        kind: &str,
        name: &str,
    ) -> (Uuid, String) {
        let token = self.login(user).await;
        let id = Uuid::now_v7();
        let (status, body) = self
            .post(
                "/api/v1/devices",
                Some(&token),
                json!({"id": id, "location_id": store, "kind": kind, "name": name}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "registering {name}: {body}");
        (
            id,
            body["credential"]
                .as_str()
                .expect("a credential")
                .to_owned(),
        )
    }

    /// GET, returning the status and the JSON body (Null when empty or not JSON).
    pub async fn get(&self, path: &str, token: Option<&str>) -> (StatusCode, Value) {
        self.send(self.client.get(self.at(path)), token).await
    }

    /// POST JSON, returning the status and the JSON body.
    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> (StatusCode, Value) {
        self.send(self.client.post(self.at(path)).json(&body), token)
            .await
    }

    /// PUT JSON, returning the status and the JSON body.
    pub async fn put(&self, path: &str, token: Option<&str>, body: Value) -> (StatusCode, Value) {
        self.send(self.client.put(self.at(path)).json(&body), token)
            .await
    }

    /// DELETE, returning the status and the JSON body.
    pub async fn delete(&self, path: &str, token: Option<&str>) -> (StatusCode, Value) {
        self.send(self.client.delete(self.at(path)), token).await
    }

    /// POST a raw body as `application/json` (for malformed-input tests).
    pub async fn post_raw(
        &self,
        path: &str,
        token: Option<&str>,
        body: &str,
    ) -> (StatusCode, Value) {
        let req = self
            .client
            .post(self.at(path))
            .header("content-type", "application/json")
            .body(body.to_owned());
        self.send(req, token).await
    }

    fn at(&self, path: &str) -> String {
        format!("{}{path}", self.url)
    }

    /// Sends a request (with the bearer token, when given) and reads the status and JSON body.
    ///
    /// # Panics
    /// When the server cannot be reached or the body cannot be read.
    async fn send(
        &self,
        mut req: reqwest::RequestBuilder,
        token: Option<&str>,
    ) -> (StatusCode, Value) {
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status();
        let text = resp.text().await.expect("body");
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }
}
