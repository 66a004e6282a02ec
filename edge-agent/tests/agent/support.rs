//! Test support: the kit's server (`retail_testkit::TestServer`, here [`Server`]) and Mosquitto,
//! and what the agent tests add — signed exit passes, pty pairs for the gate's devices, agent
//! configurations, an agent run in-process (`edge_agent::run`), the LCUS-2 relay commands and
//! the gate display's frames.

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::time::Duration;

use retail_domain::codes::{ExitPass, SignedCode};
use retail_domain::money::Money;
use retail_server::config::Settings;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use uuid::Uuid;

use retail_testkit::StoppableTask;
pub use retail_testkit::{free_port, Mosquitto};

/// A running server owned by one test.
pub type Server = retail_testkit::TestServer;

/// A server on a fresh SQLite file in `dir` with the demo chain and the store bus on (the
/// embedded broker, on a free port) unless `adjust` says otherwise.
pub async fn start_server(dir: &Path, adjust: impl FnOnce(&mut Settings)) -> Server {
    Server::sqlite_in(dir, |settings| {
        settings.mqtt.enabled = true;
        adjust(settings);
    })
    .await
}

/// The Mosquitto binary, or None (loudly) when it is not installed, outside CI.
pub fn mosquitto_binary() -> Option<PathBuf> {
    retail_testkit::broker::binary_or_skip()
}

/// What the agent tests ask of their server beyond the kit's.
pub trait GateServer {
    /// Registers an edge agent of `store` (as head office); returns (device id, credential).
    async fn register_edge(&self, store: &str) -> (Uuid, String);

    /// Opens a scan-and-go session at `store` (the server only takes a gate exit for a session
    /// of the agent's store) and signs its exit pass with the server's key, for a returning
    /// shopper (visit 2).
    async fn exit_pass(
        &self,
        store: &str,
        items: u32,
        total_fen: i64,
        expires_in: i64,
    ) -> (Uuid, String);

    /// [`GateServer::exit_pass`] with the given scan-and-go visit number.
    async fn exit_pass_visit(
        &self,
        store: &str,
        items: u32,
        total_fen: i64,
        expires_in: i64,
        visit: Option<u32>,
    ) -> (Uuid, String);

    /// An order as the server shows it (`GET /api/v1/orders/{id}`).
    async fn order(&self, order_id: Uuid) -> serde_json::Value;
}

impl GateServer for Server {
    async fn register_edge(&self, store: &str) -> (Uuid, String) {
        self.register_device("admin", store, "edge", &format!("Edge {store}"))
            .await
    }

    async fn exit_pass(
        &self,
        store: &str,
        items: u32,
        total_fen: i64,
        expires_in: i64,
    ) -> (Uuid, String) {
        self.exit_pass_visit(store, items, total_fen, expires_in, Some(2))
            .await
    }

    async fn exit_pass_visit(
        &self,
        store: &str,
        items: u32,
        total_fen: i64,
        expires_in: i64,
        visit: Option<u32>,
    ) -> (Uuid, String) {
        let session = Uuid::now_v7();
        let web = retail_server::storage::web::ensure_session(
            &self.state.store,
            &format!("test-{session}"),
            3_600_000,
        )
        .await
        .unwrap();
        retail_server::storage::web::scan_start(&self.state.store, session, web.id, store, None)
            .await
            .unwrap();
        let text = self.sign(&SignedCode::ExitPass(ExitPass {
            session_id: session,
            store: store.into(),
            item_count: items,
            total: Money::from_fen(total_fen),
            expires_at: chrono::Utc::now() + chrono::Duration::seconds(expires_in),
            visit,
        }));
        (session, text)
    }

    async fn order(&self, order_id: Uuid) -> serde_json::Value {
        self.get(&format!("/api/v1/orders/{order_id}"), None)
            .await
            .1
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
        let (session, pass) = server
            .exit_pass("SH001", 1 + i, first_total + i64::from(i), 300)
            .await;
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
            retail_testkit::firmware_dir().display(),
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

/// A running agent (`edge_agent::run`, its devices on the paths of its configuration).
pub struct Agent(StoppableTask);

impl Agent {
    /// Starts the agent.
    pub fn start(config: edge_agent::Config) -> Agent {
        Agent(StoppableTask::spawn(|stop| edge_agent::run(config, stop)))
    }

    /// Stops it and waits; it must stop cleanly.
    pub async fn stop(&mut self) {
        self.0.stop().await.unwrap();
    }
}

/// Waits (polling) until `check` holds; panics after 20 s.
pub async fn eventually<F, Fut>(what: &str, check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    retail_testkit::wait_until(what, Duration::from_secs(20), check).await;
}
