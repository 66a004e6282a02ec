//! Store pickup: a paid pickup order makes the agent print a pick slip (ESC/POS, GB18030, the
//! pickup code as a QR raster on the XP-58); a `mark_ready` command marks the order ready at the
//! server with the agent's credential. A network pick-slip printer out of paper (a virtual
//! printer speaking the ESC/POS real-time status protocol) gets nothing, and the agent reports a
//! `printer_fault` event and the fault in its health; once the paper is loaded a
//! `print_pick_slip` command prints the slip and the health is `ok` again.

use retail_domain::wire::bus::Command;
use serde_json::{json, Value};
use uuid::Uuid;

use retail_devices::printer_status::PrinterStatus;
use retail_devices::virtual_printer::VirtualPrinter;

use crate::support::{
    agent_config_full, eventually, pick_slip_printer, pick_slips, pty, start_server, wait_for_slip,
    Agent, GateServer, Pty, Server,
};

/// Places and pays (through the sandbox provider) a pickup order at SH001; returns its id.
async fn paid_pickup_order(server: &Server) -> Uuid {
    let sku = pickup_sku(server).await;
    pay_pickup(server, &sku).await
}

/// A SKU with stock at SH001.
pub async fn pickup_sku(server: &Server) -> String {
    let http = reqwest::Client::new();
    let login: Value = http
        .post(format!("{}/api/v1/auth/login", server.url))
        .json(&json!({"username": "admin", "password": "demo1234"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let stock: Value = http
        .get(format!(
            "{}/api/v1/stock?location_id=SH001&limit=20",
            server.url
        ))
        .bearer_auth(login["token"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let sku = stock["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["available"].as_i64().unwrap() > 2)
        .unwrap()["sku_id"]
        .as_str()
        .unwrap()
        .to_owned();
    sku
}

/// Places and pays a pickup order of two units of `sku` at SH001; returns its id.
pub async fn pay_pickup(server: &Server, sku: &str) -> Uuid {
    pay_order(
        server,
        json!({"id": Uuid::now_v7(), "fulfilment": "pickup", "store": "SH001", "lines": [{"sku_id": sku, "qty": 2}]}),
    )
    .await
}

/// Places the order `body` and pays it through the sandbox provider; returns its id.
pub async fn pay_order(server: &Server, body: Value) -> Uuid {
    let http = reqwest::Client::new();
    let order: Value = http
        .post(format!("{}/api/v1/orders", server.url))
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let order_id: Uuid = order["id"].as_str().unwrap().parse().unwrap();
    let intent: Value = http
        .post(format!("{}/api/v1/orders/{order_id}/payments", server.url))
        .json(&json!({"id": Uuid::now_v7()}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let page = http
        .post(intent["pay_url"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("支付成功"), "{page}");
    order_id
}

/// A server and an online agent of SH001 with one gate (on pseudo-terminals) and the pickup
/// printer `pickup_printer` (an inventory entry; `None`: the XP-58 on the file of
/// [`pick_slips`]).
struct Counter {
    server: Server,
    agent: Agent,
    device: Uuid,
    agent_dir: std::path::PathBuf,
    _ports: [Pty; 2],
}

async fn counter(dir: &std::path::Path, pickup_printer: Option<String>) -> Counter {
    let server = start_server(dir, |s| {
        s.mqtt.embedded_listen = "127.0.0.1:0".parse().unwrap();
    })
    .await;
    let (device, credential) = server.register_edge("SH001").await;
    let (scanner, relay) = (pty(), pty());
    let agent_dir = dir.join("agent");
    std::fs::create_dir_all(&agent_dir).unwrap();
    let (url, broker) = (server.url.clone(), server.broker_url());
    let ports = [scanner.path.as_path(), relay.path.as_path()];
    let printer = pickup_printer.unwrap_or_else(|| pick_slip_printer(&agent_dir));
    let config = agent_config_full(
        &agent_dir,
        "SH001",
        device,
        &credential,
        &url,
        &broker,
        ports,
        None,
        &printer,
    );
    let agent = Agent::start(config);
    server.wait_online(device).await;
    Counter {
        server,
        agent,
        device,
        agent_dir,
        _ports: [scanner, relay],
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paid_pickup_prints_a_pick_slip_and_staff_mark_it_ready() {
    let dir = tempfile::tempdir().unwrap();
    let Counter {
        server,
        mut agent,
        device,
        agent_dir,
        ..
    } = counter(dir.path(), None).await;

    let order_id = paid_pickup_order(&server).await;
    let order = server.order(order_id).await;
    let order_no = order["order_no"].as_str().unwrap().to_owned();
    let line_name = order["lines"][0]["name"].as_str().unwrap().to_owned();
    let bytes = wait_for_slip(&pick_slips(&agent_dir), 0).await;
    assert_eq!(&bytes[..2], &[0x1B, 0x40], "starts with ESC @");
    assert_eq!(&bytes[2..4], &[0x1C, 0x26], "then Kanji (GB18030) mode");
    let text = retail_devices::receipt::decode_text(&bytes);
    assert!(text.contains("拣货单"), "{text}");
    assert!(text.contains(&order_no), "{text}");
    assert!(text.contains(&line_name), "{text}");
    assert!(text.contains("x2"), "{text}");
    assert!(
        bytes.windows(3).any(|w| w == [0x1D, 0x76, 0x30]),
        "the pickup code as a raster QR (XP-58 has no native QR)"
    );

    // Staff mark it ready through the agent.
    server
        .state
        .bus
        .as_ref()
        .unwrap()
        .command("SH001", device, Command::MarkReady { order_id })
        .await;
    let url = format!("{}/api/v1/orders/{order_id}", server.url);
    eventually("the order is ready for pickup", || {
        let url = url.clone();
        async move {
            let order: Value = reqwest::get(&url).await.unwrap().json().await.unwrap();
            order["status"] == "ready_for_pickup"
        }
    })
    .await;
    agent.stop().await;
}

/// The pickup printer's entry in the agent's last reported health.
async fn printer_health(server: &Server, device: Uuid) -> Option<Value> {
    let presence = retail_server::storage::bus::presence(&server.state.store, device)
        .await
        .ok()??;
    presence
        .health
        .as_array()?
        .iter()
        .find(|h| h["name"] == "pickup-printer")
        .cloned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pick_slip_printer_out_of_paper_is_a_printer_fault() {
    let dir = tempfile::tempdir().unwrap();
    let printer = VirtualPrinter::start().await.unwrap();
    printer.set_status(PrinterStatus::paper_out());
    // A TM-T88V on the network: its profile has real-time status.
    let entry = format!(
        "{{ model = \"epson-tm-t88v\", tcp = \"{}\" }}",
        printer.addr().unwrap()
    );
    let Counter {
        server,
        mut agent,
        device,
        ..
    } = counter(dir.path(), Some(entry)).await;
    let store = server.state.store.clone();

    let order_id = paid_pickup_order(&server).await;
    eventually("the agent reports a printer_fault", || {
        let store = store.clone();
        async move {
            retail_server::storage::bus::faults(&store, device)
                .await
                .unwrap()
                .iter()
                .any(|(component, fault)| {
                    component == "pickup-printer"
                        && fault.contains("打印机缺纸 printer out of paper")
                })
        }
    })
    .await;
    eventually("the health says what is wrong", || async {
        printer_health(&server, device).await.is_some_and(|h| {
            h["state"] == "fault"
                && h["detail"]
                    .as_str()
                    .is_some_and(|d| d.contains("out of paper"))
        })
    })
    .await;
    assert!(printer.status_requests() >= 1, "the agent asked");
    assert_eq!(printer.received(), b"", "nothing was printed");

    // Paper loaded; staff print the slip again.
    printer.set_status(PrinterStatus::READY);
    server
        .state
        .bus
        .as_ref()
        .unwrap()
        .command(
            "SH001",
            device,
            Command::PrintPickSlip {
                order_id,
                lines: Vec::new(),
            },
        )
        .await;
    eventually("the slip is printed", || async {
        !printer.received().is_empty()
    })
    .await;
    let order = server.order(order_id).await;
    eventually("the health is ok again", || async {
        printer_health(&server, device)
            .await
            .is_some_and(|h| h["state"] == "ok" && h.get("detail").is_none())
    })
    .await;
    let text = retail_devices::receipt::decode_text(&printer.received());
    assert!(text.contains("拣货单"), "{text}");
    assert!(text.contains(order["order_no"].as_str().unwrap()), "{text}");
    agent.stop().await;
}
