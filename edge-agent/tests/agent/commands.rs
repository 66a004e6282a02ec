//! Staff commands over HTTP reach the store's agent through the store bus and come back
//! acknowledged; the gate's display shows each decision with its reason (bytes from the GBK
//! display profile); shelf locations set through the API are printed on pick slips; a same-city
//! delivery order's shipping label prints on the counter printer.

use reqwest::StatusCode;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::pickup::{pay_order, pay_pickup, pickup_sku};
use crate::support::{
    agent_config_full, display_frame, display_idle, pick_slip_printer, pick_slips, pty,
    start_server, wait_for_slip, Agent, GateServer, Server, ALARM_OFF, ALARM_ON, CLOSE, OPEN,
};

async fn send(server: &Server, token: &str, id: Uuid, command: Value) -> (StatusCode, Value) {
    let response = reqwest::Client::new()
        .post(format!("{}/api/v1/stores/SH001/edge/commands", server.url))
        .bearer_auth(token)
        .json(&json!({"id": id, "command": command}))
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Waits until the agent acknowledged command `id`; returns the command record.
async fn acknowledged(server: &Server, token: &str, id: Uuid) -> Value {
    let url = format!("{}/api/v1/edge/commands/{id}", server.url);
    let mut last = Value::Null;
    for _ in 0..400 {
        last = reqwest::Client::new()
            .get(&url)
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if last["status"] != "sent" {
            return last;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("command {id} not acknowledged within 20 s: {last}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_commands_reach_the_agent_and_the_gate_display_shows_reasons() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(dir.path(), |s| {
        s.mqtt.embedded_listen = "127.0.0.1:0".parse().unwrap();
    })
    .await;
    let (device, credential) = server.register_edge("SH001").await;
    let mut scanner = pty();
    let mut relay = pty();
    let mut display = pty();
    let agent_dir = dir.path().join("agent");
    std::fs::create_dir_all(&agent_dir).unwrap();
    let config = agent_config_full(
        &agent_dir,
        "SH001",
        device,
        &credential,
        &server.url,
        &server.broker_url(),
        [&scanner.path, &relay.path],
        Some(&display.path),
        &pick_slip_printer(&agent_dir),
    );
    let mut agent = Agent::start(config);
    // ESC @ once, then the idle message.
    assert_eq!(display.read_bytes(2).await, [0x1B, 0x40]);
    assert_eq!(display.read_bytes(42).await, display_idle());
    server.wait_online(device).await;

    // A first scan-and-go visit goes to audit: the reason is on the display.
    let (_, first) = server.exit_pass_visit("SH001", 1, 350, 300, Some(1)).await;
    scanner.scan(&first).await;
    assert_eq!(relay.relay_command().await, ALARM_ON);
    assert_eq!(
        display.read_bytes(42).await,
        display_frame(["请稍候 工作人员核验", "first scan-and-go"])
    );
    // An expired pass: the release of the audit, then the refusal and why.
    let (_, expired) = server.exit_pass("SH001", 1, 100, -60).await;
    scanner.scan(&expired).await;
    assert_eq!(relay.relay_command().await, ALARM_OFF);
    assert_eq!(display.read_bytes(42).await, display_idle());
    assert_eq!(relay.relay_command().await, ALARM_ON);
    assert_eq!(
        display.read_bytes(42).await,
        display_frame(["禁止通行", "pass expired"])
    );

    // Staff open the gate over HTTP: the command goes through the bus, the agent acknowledges.
    let manager = server.login("mgr.sh001").await;
    let open_id = Uuid::now_v7();
    let (status, sent) = send(
        &server,
        &manager,
        open_id,
        json!({"command": "open_gate", "gate": "gate-1"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{sent}");
    assert_eq!(sent["device_id"], device.to_string());
    assert_eq!(relay.relay_command().await, ALARM_OFF);
    assert_eq!(display.read_bytes(42).await, display_idle());
    assert_eq!(relay.relay_command().await, OPEN);
    assert_eq!(
        display.read_bytes(42).await,
        display_frame(["请通行", "opened by staff"])
    );
    let acked = acknowledged(&server, &manager, open_id).await;
    assert_eq!(acked["status"], "done", "{acked}");
    assert_eq!(acked["detail"], "gate-1 opened");
    // A retry of the same command answers the record and opens nothing (the next thing on the
    // relay is the release of this opening, then the alarm of the scan below).
    let (status, again) = send(
        &server,
        &manager,
        open_id,
        json!({"command": "open_gate", "gate": "gate-1"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(again["status"], "done");
    scanner.scan("not a pass").await;
    assert_eq!(relay.relay_command().await, CLOSE);
    assert_eq!(relay.relay_command().await, ALARM_ON);
    // A gate this agent does not have: acknowledged as failed, with the reason.
    let unknown = Uuid::now_v7();
    send(
        &server,
        &manager,
        unknown,
        json!({"command": "open_gate", "gate": "gate-9"}),
    )
    .await;
    let acked = acknowledged(&server, &manager, unknown).await;
    assert_eq!(
        (acked["status"].as_str(), acked["detail"].as_str()),
        (Some("failed"), Some("no gate gate-9 at this agent"))
    );
    // Another store's manager may not command this store's agent.
    let other = server.login("mgr.hz001").await;
    let (status, _) = send(
        &server,
        &other,
        Uuid::now_v7(),
        json!({"command": "resync"}),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // A shelf location set by the manager is printed on the pick slip of a paid pickup order.
    let sku = pickup_sku(&server).await;
    let response = reqwest::Client::new()
        .put(format!("{}/api/v1/stores/SH001/shelves/{sku}", server.url))
        .bearer_auth(&manager)
        .json(&json!({"shelf": "A3-02"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let order_id = pay_pickup(&server, &sku).await;
    let slips = pick_slips(&agent_dir);
    let first_slip = wait_for_slip(&slips, 0).await;
    let text = retail_devices::receipt::decode_text(&first_slip);
    assert!(text.contains("货架 A3-02"), "{text}");

    // Reprint over HTTP: a second slip, with the shelf too.
    let reprint = Uuid::now_v7();
    let (status, body) = send(
        &server,
        &manager,
        reprint,
        json!({"command": "print_pick_slip", "order_id": order_id}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["command"]["lines"][0]["shelf"], "A3-02", "{body}");
    let acked = acknowledged(&server, &manager, reprint).await;
    assert_eq!(acked["status"], "done", "{acked}");
    let all = wait_for_slip(&slips, first_slip.len()).await;
    let second = retail_devices::receipt::decode_text(&all[first_slip.len()..]);
    assert!(second.contains("货架 A3-02"), "{second}");

    // Mark it ready over HTTP: the agent asks the server with its credential.
    let ready = Uuid::now_v7();
    send(
        &server,
        &manager,
        ready,
        json!({"command": "mark_ready", "order_id": order_id}),
    )
    .await;
    let acked = acknowledged(&server, &manager, ready).await;
    assert_eq!(acked["status"], "done", "{acked}");
    let order = server.order(order_id).await;
    assert_eq!(order["status"], "ready_for_pickup");

    // A same-city delivery order from SH001 (an address a few hundred metres from the store):
    // its shipping label prints on the counter printer, and the kept command has no address.
    let near_sh001 = json!({"name": "赵六", "phone": "13900002222", "province": "上海", "city": "上海",
        "address": "黄浦区西藏中路 300 号", "lat_e6": 31_233_000, "lng_e6": 121_472_000});
    let delivery = pay_order(
        &server,
        json!({"id": Uuid::now_v7(), "fulfilment": "delivery", "address": near_sh001,
               "lines": [{"sku_id": sku, "qty": 1}]}),
    )
    .await;
    let order = server.order(delivery).await;
    assert_eq!(order["location_id"], "SH001", "{order}");
    let printed_before = std::fs::read(&slips).unwrap().len();
    let label = Uuid::now_v7();
    let (status, body) = send(
        &server,
        &manager,
        label,
        json!({"command": "print_shipping_label", "order_id": delivery}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["kind"], "print_shipping_label");
    assert!(body["command"].get("label").is_none(), "{body}");
    let acked = acknowledged(&server, &manager, label).await;
    assert_eq!(acked["status"], "done", "{acked}");
    let all = wait_for_slip(&slips, printed_before).await;
    let printed = retail_devices::receipt::decode_text(&all[printed_before..]);
    let order_no = order["order_no"].as_str().unwrap();
    for expected in [
        "收件人",
        "赵六",
        "13900002222",
        "西藏中路",
        order_no,
        "人民广场店",
    ] {
        assert!(printed.contains(expected), "{expected} missing:\n{printed}");
    }
    // A pickup order has no shipping label: refused, nothing sent.
    let (status, body) = send(
        &server,
        &manager,
        Uuid::now_v7(),
        json!({"command": "print_shipping_label", "order_id": order_id}),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    agent.stop().await;
}
