//! One store's day wired together: the server, the store bus, store SH001's edge agent and two
//! POS lanes, each device registered with its own credential.
//!
//! Lane 1 and the edge agent reach the server directly; lane 2 reaches it through a
//! [`Proxy`] ([`StoreDay::lane2_network`]) so a scenario can cut lane 2 off the network and let
//! it back. The demo runs on the embedded broker; a scenario can ask for a private Mosquitto
//! ([`DayBus::Mosquitto`]) instead, to kill and restart it mid-day.
//!
//! Device credentials are kept in `<data dir>/devices.json`, so a second start on the same
//! folder (the demo's SQLite database and lane databases) reuses the same devices.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context};
use retail_domain::money::Money;
use retail_domain::wire::catalog::SkuRecord;
use serde_json::{json, Value};
use uuid::Uuid;

use retail_testkit::edge::{EdgeHandle, EdgeOptions};
use retail_testkit::lane::{LaneHandle, LaneOptions};
use retail_testkit::{Bus, Database, Mosquitto, TestServer};

use crate::proxy::Proxy;
use crate::web::Api;

/// The store of the day.
pub const STORE: &str = "SH001";
/// Its name on receipts.
pub const STORE_NAME: &str = "鲜邻超市 上海一店";
/// The store manager (registers the devices).
pub const MANAGER: &str = "mgr.sh001";
/// The demo lane PIN of every account: cashiers sign in with it, the manager approves voids and
/// returns with it.
pub const PIN: &str = retail_testkit::server::DEMO_PIN;
/// The scale's PLU of the demo chain's loose apples (烟台红富士苹果), sold by price label
/// (`20` + PLU + price).
pub const SCALE_PLU: u32 = retail_server::demo_data::FIRST_PLU;

/// Which store bus the day runs on.
#[derive(Clone, Debug)]
pub enum DayBus {
    /// The server's embedded broker on this address (port 0: any free port).
    Embedded(SocketAddr),
    /// A private Mosquitto (this binary) on a free port, with the server's generated password
    /// and ACL files.
    Mosquitto(PathBuf),
}

/// How to start the day.
#[derive(Clone, Debug)]
pub struct DayOptions {
    /// Everything goes under here: server data, lane and agent folders, `devices.json`.
    pub data_dir: PathBuf,
    /// The server's database.
    pub database: Database,
    /// Where the server listens.
    pub listen: SocketAddr,
    /// The store bus.
    pub bus: DayBus,
    /// Print the lanes' answers, gate decisions, relay commands and pick slips as they happen.
    pub echo: bool,
    /// Scan-and-go passes over this total are sent to audit at the gate.
    pub audit_over: Money,
    /// Promotions head office creates before the devices start (`POST /promotions` bodies'
    /// `promotion`), so the lanes price with them from their first pull.
    pub promotions: Vec<Value>,
}

/// A device's registration.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Registration {
    /// Device id.
    pub id: Uuid,
    /// Device credential.
    pub credential: String,
}

/// The store's devices.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Registrations {
    /// The edge agent.
    pub edge: Registration,
    /// Lanes 1 and 2.
    pub lanes: Vec<Registration>,
}

/// The demo's loose item sold by scale label ([`SCALE_PLU`]).
#[derive(Clone, Debug)]
pub struct ScaleItem {
    /// Its SKU.
    pub sku_id: Uuid,
    /// Price per kg at [`STORE`].
    pub price_per_kg: Money,
}

/// A scale's price label for the demo's loose item: EAN-13 `20` + PLU + price in fen (the
/// chain's layout, which the lanes get from the server: `VariableMeasureLayout::cn_default`).
pub fn scale_label(price: Money) -> anyhow::Result<String> {
    let fen = price.fen();
    if !(1..=99_999).contains(&fen) {
        bail!("a price label holds ¥0.01 to ¥999.99, not {price}");
    }
    retail_domain::barcode::ean13_from_body(&format!("20{SCALE_PLU}{fen:05}"))
        .map_err(|e| anyhow::anyhow!("{e}"))
}

/// Everything of the day, running.
pub struct StoreDay {
    /// The server.
    pub server: TestServer,
    /// An API client of it.
    pub api: Api,
    /// The private broker, when the day runs on Mosquitto.
    pub broker: Option<Mosquitto>,
    /// Lane 2's network to the server.
    pub lane2_network: Proxy,
    /// Lanes 1 and 2.
    pub lanes: Vec<LaneHandle>,
    /// The edge agent.
    pub edge: EdgeHandle,
    /// The devices' registrations.
    pub devices: Registrations,
    /// The loose item sold by scale label.
    pub scale_item: ScaleItem,
    /// The broker URL devices use.
    pub broker_url: String,
    /// Where lanes and agent keep their files.
    pub data_dir: PathBuf,
}

async fn register(api: &Api, token: &str, kind: &str, name: &str) -> anyhow::Result<Registration> {
    let id = retail_domain::ids::new_id();
    let body = api
        .post_ok(
            "/devices",
            Some(token),
            &json!({"id": id, "location_id": STORE, "kind": kind, "name": name}),
        )
        .await?;
    Ok(Registration {
        id,
        credential: body["credential"]
            .as_str()
            .with_context(|| format!("no credential in {body}"))?
            .to_owned(),
    })
}

async fn registrations(api: &Api, path: &Path) -> anyhow::Result<Registrations> {
    if let Ok(text) = std::fs::read_to_string(path) {
        return serde_json::from_str(&text).with_context(|| format!("reading {}", path.display()));
    }
    let token = api.login(MANAGER).await?;
    let devices = Registrations {
        edge: register(api, &token, "edge", "Edge SH001 (store day)").await?,
        lanes: vec![
            register(api, &token, "pos", "Lane 1 (store day)").await?,
            register(api, &token, "pos", "Lane 2 (store day)").await?,
        ],
    };
    std::fs::write(path, serde_json::to_string_pretty(&devices)?)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(devices)
}

/// The demo chain's loose item sold by price label (PLU [`SCALE_PLU`], an internal code of a
/// weighed SKU), with its price per kg at the store.
async fn scale_item(api: &Api) -> anyhow::Result<ScaleItem> {
    let admin = api.login("admin").await?;
    let body = api
        .get_ok(
            &format!("/catalog/barcodes/{SCALE_PLU}?store={STORE}"),
            Some(&admin),
        )
        .await
        .with_context(|| {
            format!(
                "the demo chain has no scale PLU {SCALE_PLU} (a database from before the demo \
                 had weighed items' PLUs: start on an empty --data folder)"
            )
        })?;
    let sku: SkuRecord = serde_json::from_value(body).context("the SKU of the scale PLU")?;
    anyhow::ensure!(sku.weighed, "PLU {SCALE_PLU} is not a weighed item");
    Ok(ScaleItem {
        sku_id: sku.id,
        price_per_kg: sku.effective_price(),
    })
}

impl StoreDay {
    /// Starts the server, the broker, registers the devices (first start), and starts the edge
    /// agent and both lanes; returns when the lanes are ready to sell.
    pub async fn start(options: DayOptions) -> anyhow::Result<StoreDay> {
        std::fs::create_dir_all(&options.data_dir)
            .with_context(|| format!("creating {}", options.data_dir.display()))?;
        let data_dir = std::path::absolute(&options.data_dir)?;
        let server_dir = data_dir.join("server");
        std::fs::create_dir_all(&server_dir)?;
        let (bus, mosquitto) = match &options.bus {
            DayBus::Embedded(addr) => (Bus::Embedded(*addr), None),
            DayBus::Mosquitto(binary) => {
                let port = retail_testkit::free_port()?;
                let password = format!("sv_{}", Uuid::new_v4().simple());
                (
                    Bus::External {
                        port,
                        password: password.clone(),
                    },
                    Some((binary.clone(), port, password)),
                )
            }
        };
        let settings =
            retail_testkit::server::settings(&server_dir, &options.database, options.listen, &bus);
        let server = TestServer::start(settings).await?;
        let api = Api::new(&server.url)?;
        let devices = registrations(&api, &data_dir.join("devices.json")).await?;
        let (broker, broker_url) = match mosquitto {
            Some((binary, port, password)) => {
                let files = server.mosquitto_files(Some(("server", &password))).await?;
                let broker =
                    Mosquitto::serve_files(&binary, &data_dir.join("mosquitto"), &files, port)
                        .await?;
                let url = broker.url();
                (Some(broker), url)
            }
            None => {
                let (host, port) = server.broker().context("the bus is off")?;
                (None, format!("mqtt://{host}:{port}"))
            }
        };
        tokio::time::timeout(Duration::from_secs(30), server.wait_subscribed())
            .await
            .context("the server did not subscribe to the store bus")?;
        let scale_item = scale_item(&api).await?;
        if !options.promotions.is_empty() {
            let admin = api.login("admin").await?;
            for promotion in &options.promotions {
                api.post_ok(
                    "/promotions",
                    Some(&admin),
                    &json!({ "promotion": promotion }),
                )
                .await?;
            }
        }
        let lane2_network = Proxy::start(server.addr()).await?;
        let edge = EdgeHandle::start(
            EdgeOptions {
                store: STORE.into(),
                device_id: devices.edge.id,
                credential: devices.edge.credential.clone(),
                server_url: server.url.clone(),
                broker_url: broker_url.clone(),
                ca_file: None,
                data_dir: data_dir.join("edge"),
                audit_over: options.audit_over,
            },
            options.echo,
        )
        .await?;
        let mut lanes = Vec::new();
        for (i, registration) in devices.lanes.iter().enumerate() {
            let number = u32::try_from(i + 1)?;
            let server_url = if number == 2 {
                lane2_network.url()
            } else {
                server.url.clone()
            };
            lanes.push(
                LaneHandle::start(
                    LaneOptions {
                        store: STORE.into(),
                        number,
                        cashier: format!("cashier{number}.sh001"),
                        server_url,
                        ca_file: None,
                        credential: registration.credential.clone(),
                        mqtt_url: broker.is_none().then(|| broker_url.clone()),
                        data_dir: data_dir.join(format!("lane{number}")),
                        pin: PIN.into(),
                        store_name: STORE_NAME.into(),
                    },
                    options.echo,
                )
                .await?,
            );
        }
        Ok(StoreDay {
            server,
            api,
            broker,
            lane2_network,
            lanes,
            edge,
            devices,
            scale_item,
            broker_url,
            data_dir,
        })
    }

    /// Lane `n` (1 or 2).
    pub fn lane(&self, n: usize) -> &LaneHandle {
        &self.lanes[n - 1]
    }

    /// Stops everything in order — lanes, edge agent, server (database closed), broker — and
    /// reports the first failure.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        let mut result = Ok(());
        for lane in &mut self.lanes {
            let stopped = lane.stop().await;
            if result.is_ok() {
                result = stopped;
            }
        }
        let stopped = self.edge.stop().await;
        if result.is_ok() {
            result = stopped;
        }
        self.lane2_network.go_offline().await;
        let stopped = self.server.stop().await;
        if result.is_ok() {
            result = stopped;
        }
        if let Some(broker) = &mut self.broker {
            broker.kill().await;
        }
        result
    }
}
