//! Test support: a server, a registered edge device, pty pairs, an agent run in-process.

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::time::Duration;

use retail_domain::codes::{ExitPass, SignedCode};
use retail_domain::money::Money;
use retail_server::app::AppState;
use retail_server::config::{Secrets, Settings};
use retail_server::Application;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::oneshot;
use uuid::Uuid;

/// A running server owned by one test.
pub struct Server {
    pub url: String,
    pub state: AppState,
    pub settings: Settings,
    shutdown: Option<oneshot::Sender<()>>,
    handle: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

pub fn init_logs() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_test_writer()
        .try_init();
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Server {
    /// A server on a fresh SQLite file in `dir` with the demo chain; `adjust` sets the bus.
    pub async fn start(dir: &Path, adjust: impl FnOnce(&mut Settings)) -> Server {
        init_logs();
        let mut settings = Settings {
            listen: "127.0.0.1:0".parse().unwrap(),
            database_url: format!("sqlite://{}", dir.join("retail.db").display()),
            data_dir: dir.to_path_buf(),
            secrets: Secrets::generate(),
            ..Settings::default()
        };
        settings.mqtt.enabled = true;
        adjust(&mut settings);
        Self::start_with(settings).await
    }

    pub async fn start_with(settings: Settings) -> Server {
        let app = Application::build(settings.clone())
            .await
            .expect("build server");
        let url = format!("http://{}", app.local_addr());
        let state = app.state().clone();
        let (tx, rx) = oneshot::channel::<()>();
        let handle = tokio::spawn(app.run_until(async move {
            let _ = rx.await;
        }));
        Server {
            url,
            state,
            settings,
            shutdown: Some(tx),
            handle: Some(handle),
        }
    }

    /// Stops the server (and with it the embedded broker's gateway).
    pub async fn stop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(handle) = self.handle.take() {
            handle.await.unwrap().unwrap();
        }
    }

    /// Logs a demo staff member in (password demo1234); returns the bearer token.
    pub async fn login(&self, user: &str) -> String {
        let body: serde_json::Value = reqwest::Client::new()
            .post(format!("{}/api/v1/auth/login", self.url))
            .json(&json!({"username": user, "password": "demo1234"}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        body["token"].as_str().unwrap().to_owned()
    }

    /// Registers an edge agent of `store`; returns (device id, credential).
    pub async fn register_edge(&self, store: &str) -> (Uuid, String) {
        let http = reqwest::Client::new();
        let token = self.login("admin").await;
        let id = Uuid::now_v7();
        let body: serde_json::Value = http
            .post(format!("{}/api/v1/devices", self.url))
            .bearer_auth(&token)
            .json(&json!({"id": id, "location_id": store, "kind": "edge", "name": format!("Edge {store}")}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        (id, body["credential"].as_str().unwrap().to_owned())
    }

    /// Signs an exit pass with the server's key, for a returning shopper (visit 2).
    pub fn exit_pass(
        &self,
        store: &str,
        items: u32,
        total_fen: i64,
        expires_in: i64,
    ) -> (Uuid, String) {
        self.exit_pass_visit(store, items, total_fen, expires_in, Some(2))
    }

    /// Signs an exit pass with the server's key and the given scan-and-go visit number.
    pub fn exit_pass_visit(
        &self,
        store: &str,
        items: u32,
        total_fen: i64,
        expires_in: i64,
        visit: Option<u32>,
    ) -> (Uuid, String) {
        let session = Uuid::now_v7();
        let text = self.state.keys.signer.sign(&SignedCode::ExitPass(ExitPass {
            session_id: session,
            store: store.into(),
            item_count: items,
            total: Money::from_fen(total_fen),
            expires_at: chrono::Utc::now() + chrono::Duration::seconds(expires_in),
            visit,
        }));
        (session, text)
    }

    /// Waits until `device` has reported itself online (its presence on the bus).
    pub async fn wait_online(&self, device: Uuid) {
        let store = self.state.store.clone();
        eventually("the agent is online", || {
            let store = store.clone();
            async move {
                matches!(retail_server::storage::bus::presence(&store, device).await,
                    Ok(Some(p)) if p.status == "online")
            }
        })
        .await;
    }

    /// An order as the server shows it (`GET /api/v1/orders/{id}`).
    pub async fn order(&self, order_id: Uuid) -> serde_json::Value {
        reqwest::get(format!("{}/api/v1/orders/{order_id}", self.url))
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// The broker address devices use.
    pub fn broker_url(&self) -> String {
        let broker = self.state.broker.clone().unwrap();
        format!("mqtt://{}:{}", broker.host, broker.port)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// A pseudo-terminal pair: the test holds the master, the agent opens the slave's path.
pub struct Pty {
    pub master: tokio::fs::File,
    pub path: PathBuf,
    _slave: OwnedFd,
}

pub fn pty() -> Pty {
    let pair = nix::pty::openpty(None, None).unwrap();
    let path = nix::unistd::ttyname(&pair.slave).unwrap();
    Pty {
        master: tokio::fs::File::from_std(std::fs::File::from(pair.master)),
        path,
        _slave: pair.slave,
    }
}

impl Pty {
    /// Sends a scan (text + CR) as the scanner would.
    pub async fn scan(&mut self, text: &str) {
        self.master.write_all(text.as_bytes()).await.unwrap();
        self.master.write_all(b"\r").await.unwrap();
        self.master.flush().await.unwrap();
    }

    /// Reads exactly `n` bytes (a display message), within 15 s.
    pub async fn read_bytes(&mut self, n: usize) -> Vec<u8> {
        let mut buf = vec![0u8; n];
        tokio::time::timeout(Duration::from_secs(15), self.master.read_exact(&mut buf))
            .await
            .expect("the bytes within 15 s")
            .unwrap();
        buf
    }

    /// Reads the next relay command (4 bytes for the LCUS-2), within 15 s.
    pub async fn relay_command(&mut self) -> Vec<u8> {
        let mut buf = [0u8; 4];
        tokio::time::timeout(Duration::from_secs(15), self.master.read_exact(&mut buf))
            .await
            .expect("a relay command within 15 s")
            .unwrap();
        buf.to_vec()
    }
}

/// LCUS-2 relay commands (firmware-config/profiles/gates/lcus-2-usb-relay.toml).
pub const OPEN: [u8; 4] = [0xA0, 0x01, 0x01, 0xA2];
pub const CLOSE: [u8; 4] = [0xA0, 0x01, 0x00, 0xA1];
pub const ALARM_ON: [u8; 4] = [0xA0, 0x02, 0x01, 0xA3];
pub const ALARM_OFF: [u8; 4] = [0xA0, 0x02, 0x00, 0xA2];

/// Scans `n` valid passes at SH001's gate, the i-th with `1 + i` items worth `first_total + i`
/// fen; each opens the gate (closing it for the one before). Returns their sessions.
pub async fn scan_passes(
    server: &Server,
    scanner: &mut Pty,
    relay: &mut Pty,
    n: u32,
    first_total: i64,
) -> Vec<uuid::Uuid> {
    let mut sessions = Vec::new();
    for i in 0..n {
        let (session, pass) = server.exit_pass("SH001", 1 + i, first_total + i64::from(i), 300);
        scanner.scan(&pass).await;
        if i > 0 {
            assert_eq!(relay.relay_command().await, CLOSE);
        }
        assert_eq!(relay.relay_command().await, OPEN);
        sessions.push(session);
    }
    sessions
}

/// What the GBK 2 × 20 gate display (`vfd-2x20-gbk-dmd`) receives for a message: CLR (0C),
/// HOM (0B), then both rows in GBK, each padded with spaces to 20 bytes.
pub fn display_frame(rows: [&str; 2]) -> Vec<u8> {
    let mut out = vec![0x0C, 0x0B];
    for row in rows {
        let (bytes, _, unmappable) = encoding_rs::GBK.encode(row);
        assert!(!unmappable && bytes.len() <= 20, "{row}");
        out.extend_from_slice(&bytes);
        out.resize(out.len() + 20 - bytes.len(), b' ');
    }
    out
}

/// The display's idle message.
pub fn display_idle() -> Vec<u8> {
    display_frame(["请扫描出场码", ""])
}

pub fn firmware_config() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../firmware-config")
}

/// Writes a one-gate inventory for `store` whose scanner and relay are the given ptys, and the
/// agent's configuration file; returns the configuration.
pub fn agent_config(
    dir: &Path,
    store: &str,
    device: Uuid,
    credential: &str,
    server_url: &str,
    broker_url: &str,
    ports: [&Path; 2],
) -> edge_agent::Config {
    let printer = pick_slip_printer(dir);
    agent_config_full(
        dir, store, device, credential, server_url, broker_url, ports, None, &printer,
    )
}

/// [`agent_config`] with an optional gate display (the GBK 2 × 20 VFD profile) on `display`
/// and the pickup-counter printer given as its inventory entry (`{ model = "…", tcp = "…" }`;
/// [`pick_slip_printer`] for the XP-58 on a file).
#[allow(clippy::too_many_arguments)]
pub fn agent_config_full(
    dir: &Path,
    store: &str,
    device: Uuid,
    credential: &str,
    server_url: &str,
    broker_url: &str,
    [scanner, relay]: [&Path; 2],
    display: Option<&Path>,
    pickup_printer: &str,
) -> edge_agent::Config {
    let inventory = dir.join(format!("{store}.toml"));
    let display = display
        .map(|d| {
            format!(
                "display = {{ model = \"vfd-2x20-gbk-dmd\", port = \"{}\" }}\n",
                d.display()
            )
        })
        .unwrap_or_default();
    std::fs::write(
        &inventory,
        format!(
            "store = \"{store}\"\n\n[edge]\npickup_printer = {pickup_printer}\n\n[[edge.gates]]\ngate = 1\nscanner = {{ model = \"newland-fm430-rs232\", port = \"{}\" }}\nrelay = {{ model = \"lcus-2-usb-relay\", port = \"{}\" }}\n{display}",
            scanner.display(),
            relay.display()
        ),
    )
    .unwrap();
    let path = dir.join("edge.toml");
    std::fs::write(
        &path,
        format!(
            "store = \"{store}\"\ndevice_id = \"{device}\"\ncredential = \"{credential}\"\nserver_url = \"{server_url}\"\nbroker_url = \"{broker_url}\"\nfirmware_config = \"{}\"\ninventory = \"{}\"\ndata_dir = \"{}\"\nhealth_interval_secs = 1\n\n[gate]\naudit_share = 0.0\naudit_over = \"300.00\"\naudit_items_over = 30\n",
            firmware_config().display(),
            inventory.display(),
            dir.join("edge-data").display()
        ),
    )
    .unwrap();
    edge_agent::Config::load(&path).unwrap()
}

/// The inventory entry of an XP-58 pickup-counter printer writing to the (new, empty) file of
/// [`pick_slips`].
pub fn pick_slip_printer(dir: &Path) -> String {
    let slips = pick_slips(dir);
    std::fs::write(&slips, b"").unwrap();
    format!(
        "{{ model = \"xprinter-xp-58\", usb_lp = \"{}\" }}",
        slips.display()
    )
}

/// Where the test inventory's pickup-counter printer writes (a file standing in for
/// `/dev/usb/lp0`).
pub fn pick_slips(dir: &Path) -> PathBuf {
    dir.join("pick-slips.bin")
}

/// Waits until the pick-slip file has more than `after` bytes; returns its contents.
pub async fn wait_for_slip(path: &Path, after: usize) -> Vec<u8> {
    eventually("a pick slip is printed", || async {
        std::fs::metadata(path)
            .map(|m| m.len() as usize > after)
            .unwrap_or(false)
    })
    .await;
    std::fs::read(path).unwrap()
}

/// A running agent.
pub struct Agent {
    stop: Option<oneshot::Sender<()>>,
    handle: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

impl Agent {
    pub fn start(config: edge_agent::Config) -> Agent {
        let (tx, rx) = oneshot::channel::<()>();
        let handle = tokio::spawn(edge_agent::run(config, async move {
            let _ = rx.await;
        }));
        Agent {
            stop: Some(tx),
            handle: Some(handle),
        }
    }

    pub async fn stop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(handle) = self.handle.take() {
            handle.await.unwrap().unwrap();
        }
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}

/// Waits (polling) until `check` holds; panics after 20 s.
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..400 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{what}: not within 20 s");
}

/// A Mosquitto of the test's own on 127.0.0.1.
pub struct Mosquitto {
    conf: PathBuf,
    child: Option<std::process::Child>,
    port: u16,
}

impl Mosquitto {
    /// The binary (`MOSQUITTO_BIN`, else `/usr/sbin/mosquitto`); None (loudly) when it is not
    /// installed, outside CI.
    pub fn binary() -> Option<String> {
        let binary =
            std::env::var("MOSQUITTO_BIN").unwrap_or_else(|_| "/usr/sbin/mosquitto".into());
        if Path::new(&binary).exists() {
            return Some(binary);
        }
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("{binary} is required under CI=true");
        }
        eprintln!("\n!!! SKIPPING broker test: {binary} is not installed\n");
        None
    }

    /// A broker letting anyone in, keeping its sessions on disk across a stop when
    /// `persistent` (in `dir`).
    pub fn anonymous(dir: &Path, port: u16, persistent: bool) -> Mosquitto {
        let persistence = if persistent {
            format!(
                "persistence true\npersistence_location {}/\n",
                dir.display()
            )
        } else {
            "persistence false\n".to_owned()
        };
        Self::new(dir, port, &format!("allow_anonymous true\n{persistence}"))
    }

    /// A broker checking logins and topics with the `passwords` and `acl` files in `dir` (as
    /// `retail-server mosquitto-files` writes them), without persistence: a restart forgets
    /// every session.
    pub fn with_logins(dir: &Path, port: u16) -> Mosquitto {
        Self::new(
            dir,
            port,
            &format!(
                "allow_anonymous false\npassword_file {}\nacl_file {}\npersistence false\n",
                dir.join("passwords").display(),
                dir.join("acl").display()
            ),
        )
    }

    fn new(dir: &Path, port: u16, settings: &str) -> Mosquitto {
        // Started as root, Mosquitto would switch to its own user, which cannot read our files.
        let me = std::process::Command::new("id")
            .arg("-un")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
            .unwrap_or_default();
        let conf = dir.join("mosquitto.conf");
        std::fs::write(
            &conf,
            format!("user {me}\nlistener {port} 127.0.0.1\n{settings}log_dest none\n"),
        )
        .unwrap();
        Mosquitto {
            conf,
            child: None,
            port,
        }
    }

    /// Starts it and waits until it accepts connections.
    pub async fn start(&mut self, binary: &str) {
        self.child = Some(
            std::process::Command::new(binary)
                .arg("-c")
                .arg(&self.conf)
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap(),
        );
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(("127.0.0.1", self.port))
                .await
                .is_ok()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("mosquitto did not start");
    }

    /// SIGTERM (a persistent broker saves its sessions), then wait.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = std::process::Command::new("kill")
                .arg("-TERM")
                .arg(child.id().to_string())
                .status();
            let _ = child.wait();
        }
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
