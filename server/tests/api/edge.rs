//! The edge agents' gaps (issue 4): staff commands to a store's agent over HTTP (through the
//! store bus, idempotent by command id, acknowledged by the agent), revocation cutting a live
//! bus session (embedded gateway and Mosquitto), shelf locations per SKU per store (on the
//! pickup notice), and the scan-and-go visit number signed into exit passes.

use reqwest::StatusCode;
use retail_domain::codes::SignedCode;
use retail_domain::wire::bus as wire;
use retail_server::app::device_events::{self as consumer, Outcome};
use rumqttc::{ConnectReturnCode, QoS};
use serde_json::json;
use uuid::Uuid;

use crate::bus::{
    closed, connack, device_client, drive, eventually, next_publish, own_mosquitto_in, pay,
    register_at, status_payload, suback,
};
use crate::support::{Backend, TestApp};

fn ack(command: Uuid, outcome: wire::CommandOutcome, detail: &str) -> Vec<u8> {
    serde_json::to_vec(&wire::EventMessage {
        v: wire::VERSION,
        message_id: Uuid::now_v7(),
        at: chrono::Utc::now(),
        store: "SH001".into(),
        event: wire::DeviceEvent::CommandAck {
            command_id: command,
            outcome,
            detail: Some(detail.into()),
        },
    })
    .unwrap()
}

/// A SKU with stock at SH001.
async fn sku_at_sh001(app: &TestApp, token: &str) -> String {
    let (_, stock) = app
        .get("/api/v1/stock?location_id=SH001&limit=20", Some(token))
        .await;
    stock["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["available"].as_i64().unwrap() > 2)
        .unwrap()["sku_id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// A new edge agent of `store` connected to the embedded broker and subscribed to its commands.
async fn listening_agent(
    app: &TestApp,
    store: &str,
) -> (Uuid, rumqttc::AsyncClient, rumqttc::EventLoop) {
    let broker = app.state.broker.clone().unwrap();
    let (agent, credential) = register_at(app, store).await;
    let (client, mut events) = device_client(&broker.host, broker.port, agent, &credential, None);
    assert_eq!(connack(&mut events).await, Ok(ConnectReturnCode::Success));
    client
        .subscribe(wire::commands_topic(store, agent), QoS::AtLeastOnce)
        .await
        .unwrap();
    suback(&mut events).await;
    (agent, client, events)
}

/// Commands go to the store's agent over the bus under the client's id, are recorded once,
/// checked (store, role, order, gate name, which agent) and acknowledged by that agent only.
async fn commands_reach_the_agent_once(app: TestApp) {
    app.state.bus.as_ref().unwrap().wait_subscribed().await;
    let cashier = app.login("cashier1.sh001").await;
    let other = app.login("mgr.hz001").await;
    let path = "/api/v1/stores/SH001/edge/commands";

    // No edge agent yet: a conflict, nothing recorded.
    let id = Uuid::now_v7();
    let (status, body) = app
        .post(
            path,
            Some(&cashier),
            json!({"id": id, "command": {"command": "resync"}}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "no_edge_agent");
    assert_eq!(
        app.get(&format!("/api/v1/edge/commands/{id}"), Some(&cashier))
            .await
            .0,
        StatusCode::NOT_FOUND
    );

    // The agent listens to its commands.
    let (agent, _client, mut events) = listening_agent(&app, "SH001").await;

    // A cashier of the store opens the gate: recorded as sent, published under its id.
    let (status, body) = app
        .post(
            path,
            Some(&cashier),
            json!({"id": id, "command": {"command": "open_gate", "gate": "gate-1"}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        (
            body["status"].as_str(),
            body["kind"].as_str(),
            body["device_id"].as_str()
        ),
        (
            Some("sent"),
            Some("open_gate"),
            Some(agent.to_string().as_str())
        )
    );
    let (topic, heard) = next_publish(&mut events).await;
    assert_eq!(topic, wire::commands_topic("SH001", agent));
    assert_eq!(heard["message_id"], id.to_string());
    assert_eq!(
        (
            heard["command"].as_str(),
            heard["gate"].as_str(),
            heard["v"].as_i64()
        ),
        (Some("open_gate"), Some("gate-1"), Some(1))
    );
    // A retry while unacknowledged: the same record, sent again under the same id.
    let (status, again) = app
        .post(
            path,
            Some(&cashier),
            json!({"id": id, "command": {"command": "open_gate", "gate": "gate-1"}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(again["requested_at"], body["requested_at"]);
    let (_, heard) = next_publish(&mut events).await;
    assert_eq!(heard["message_id"], id.to_string());
    // On the audit log once.
    let admin = app.login("admin").await;
    let (_, audit) = app
        .get(&format!("/api/v1/audit?entity_id={agent}"), Some(&admin))
        .await;
    let entries: Vec<&serde_json::Value> = audit
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "device.command")
        .collect();
    assert_eq!(entries.len(), 1, "{audit}");
    assert_eq!(entries[0]["actor"], "staff:cashier1.sh001");
    assert_eq!(entries[0]["detail"]["command"]["gate"], "gate-1");
    // The same id for another command, or another gate: a conflict.
    for other_command in [
        json!({"command": "resync"}),
        json!({"command": "open_gate", "gate": "gate-2"}),
    ] {
        let (status, body) = app
            .post(
                path,
                Some(&cashier),
                json!({"id": id, "command": other_command}),
            )
            .await;
        assert_eq!(status, StatusCode::CONFLICT, "{body}");
        assert_eq!(body["error"]["code"], "id_in_use");
    }
    drive(events);

    // Checked before anything is sent.
    let (status, _) = app
        .post(
            path,
            Some(&other),
            json!({"id": Uuid::now_v7(), "command": {"command": "resync"}}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    for (command, field) in [
        (
            json!({"command": "open_gate", "gate": "Gate 1; rm"}),
            "command.gate",
        ),
        (
            json!({"command": "mark_ready", "order_id": Uuid::now_v7()}),
            "command.order_id",
        ),
    ] {
        let (status, body) = app
            .post(
                path,
                Some(&cashier),
                json!({"id": Uuid::now_v7(), "command": command}),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert!(body["error"]["fields"][field].is_string(), "{body}");
    }
    let (status, _) = app
        .post(
            path,
            Some(&cashier),
            json!({"id": Uuid::now_v7(), "command": {"command": "self_destruct"}}),
        )
        .await;
    assert!(status.is_client_error());

    // Acknowledgements: another device's is ignored; the agent's own counts, once.
    let store = app.state.store.clone();
    let (intruder, _) = register_at(&app, "SH001").await;
    assert_eq!(
        consumer::handle(
            &store,
            &wire::events_topic("SH001", intruder),
            &ack(id, wire::CommandOutcome::Failed, "not mine"),
        )
        .await,
        Outcome::Applied
    );
    let (_, record) = app
        .get(&format!("/api/v1/edge/commands/{id}"), Some(&cashier))
        .await;
    assert_eq!(record["status"], "sent");
    let topic = wire::events_topic("SH001", agent);
    assert_eq!(
        consumer::handle(
            &store,
            &topic,
            &ack(id, wire::CommandOutcome::Done, "gate-1 opened")
        )
        .await,
        Outcome::Applied
    );
    consumer::handle(
        &store,
        &topic,
        &ack(id, wire::CommandOutcome::Failed, "late"),
    )
    .await;
    let (_, record) = app
        .get(&format!("/api/v1/edge/commands/{id}"), Some(&cashier))
        .await;
    assert_eq!(
        (record["status"].as_str(), record["detail"].as_str()),
        (Some("done"), Some("gate-1 opened"))
    );
    assert!(record["acked_at"].is_string());
    assert_eq!(
        app.get(&format!("/api/v1/edge/commands/{id}"), Some(&other))
            .await
            .0,
        StatusCode::FORBIDDEN
    );

    // Two agents now: name one.
    let (status, body) = app
        .post(
            path,
            Some(&cashier),
            json!({"id": Uuid::now_v7(), "command": {"command": "resync"}}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body["error"]["fields"]["device_id"].is_string());
    let (status, body) = app
        .post(
            path,
            Some(&cashier),
            json!({"id": Uuid::now_v7(), "device_id": agent, "command": {"command": "resync"}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

crate::both_backends!(
    commands_reach_the_agent_once,
    commands_reach_the_agent_once,
    crate::bus::embedded_bus
);

/// Without the store bus there is nothing to send commands with.
async fn commands_need_the_bus(app: TestApp) {
    let manager = app.login("mgr.sh001").await;
    let (status, body) = app
        .post(
            "/api/v1/stores/SH001/edge/commands",
            Some(&manager),
            json!({"id": Uuid::now_v7(), "command": {"command": "resync"}}),
        )
        .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    // The new endpoints are in the OpenAPI document.
    let (status, doc) = app.get("/api/v1/openapi.json", None).await;
    assert_eq!(status, StatusCode::OK);
    for path in [
        "/api/v1/stores/{store}/edge/commands",
        "/api/v1/edge/commands/{id}",
        "/api/v1/stores/{store}/shelves",
        "/api/v1/stores/{store}/shelves/{sku_id}",
    ] {
        assert!(doc["paths"][path].is_object(), "OpenAPI lacks {path}");
    }
    assert!(doc["components"]["schemas"]["Command"].is_object());
}

crate::both_backends!(commands_need_the_bus, commands_need_the_bus);

/// Revoking a device ends its live connection through the embedded broker's gateway at once,
/// marks it offline, and the server ignores its messages from then on.
async fn revocation_cuts_the_embedded_session(app: TestApp) {
    app.state.bus.as_ref().unwrap().wait_subscribed().await;
    let broker = app.state.broker.clone().unwrap();
    let store = app.state.store.clone();
    let (device, credential) = register_at(&app, "SH001").await;
    let (client, mut events) = device_client(&broker.host, broker.port, device, &credential, None);
    assert_eq!(connack(&mut events).await, Ok(ConnectReturnCode::Success));
    client
        .subscribe(wire::commands_topic("SH001", device), QoS::AtLeastOnce)
        .await
        .unwrap();
    suback(&mut events).await;
    client
        .publish(
            wire::status_topic("SH001", device),
            QoS::AtLeastOnce,
            true,
            status_payload("SH001", wire::Presence::Online),
        )
        .await
        .unwrap();
    // Drive the connection until the broker has the status.
    loop {
        match tokio::time::timeout(std::time::Duration::from_secs(10), events.poll()).await {
            Ok(Ok(rumqttc::Event::Incoming(rumqttc::Packet::PubAck(_)))) => break,
            Ok(Ok(_)) => {}
            other => panic!("no PUBACK: {other:?}"),
        }
    }
    let sessions = app.state.device_sessions.clone().unwrap();
    eventually("the device is online", || {
        let store = store.clone();
        async move {
            matches!(retail_server::storage::bus::presence(&store, device).await,
                Ok(Some(p)) if p.status == "online")
        }
    })
    .await;
    assert_eq!(sessions.connections(device), 1);

    let admin = app.login("admin").await;
    let (status, body) = app
        .post(
            &format!("/api/v1/devices/{device}/revoke"),
            Some(&admin),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(
        closed(&mut events).await,
        "the revoked device's connection ends"
    );
    assert_eq!(sessions.connections(device), 0);
    assert_eq!(
        retail_server::storage::bus::presence(&store, device)
            .await
            .unwrap()
            .unwrap()
            .status,
        "offline"
    );
    // Its messages are ignored from now on, whatever route they take.
    let session = Uuid::now_v7();
    let scan = serde_json::to_vec(&wire::EventMessage {
        v: wire::VERSION,
        message_id: Uuid::now_v7(),
        at: chrono::Utc::now(),
        store: "SH001".into(),
        event: wire::DeviceEvent::ExitScan {
            gate: "gate-1".into(),
            session_id: Some(session),
            decision: wire::GateDecision::Open,
            reason: None,
            item_count: Some(1),
            total: None,
        },
    })
    .unwrap();
    assert!(matches!(
        consumer::handle(&store, &wire::events_topic("SH001", device), &scan).await,
        Outcome::Refused(reason) if reason.contains("revoked")
    ));
    assert!(matches!(
        consumer::handle(
            &store,
            &wire::status_topic("SH001", device),
            &status_payload("SH001", wire::Presence::Online)
        )
        .await,
        Outcome::Refused(_)
    ));
    assert!(retail_server::storage::bus::exit_pass_use(&store, session)
        .await
        .unwrap()
        .is_none());
    // And it cannot come back.
    let (_c, mut again) = device_client(&broker.host, broker.port, device, &credential, None);
    assert!(!matches!(
        connack(&mut again).await,
        Ok(ConnectReturnCode::Success)
    ));
}

crate::both_backends!(
    revocation_cuts_the_embedded_session,
    revocation_cuts_the_embedded_session,
    crate::bus::embedded_bus
);

/// With `mqtt.mosquitto_dir` and `mqtt.mosquitto_pid_file` the server rewrites Mosquitto's
/// files when a device is registered or revoked and sends it SIGHUP: Mosquitto reloads them
/// and disconnects the revoked device.
async fn revocation_reloads_mosquitto(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let port = retail_testkit::free_port().unwrap();
    let files = dir.path().to_path_buf();
    let Some(app) = TestApp::spawn_with(backend, |s| {
        s.mqtt.enabled = true;
        s.mqtt.url = format!("mqtt://server:{}@127.0.0.1:{port}", Uuid::now_v7().simple());
        s.mqtt.mosquitto_dir = files.display().to_string();
        s.mqtt.mosquitto_pid_file = files.join("mosquitto.pid").display().to_string();
    })
    .await
    else {
        return;
    };
    // Registering writes the files (Mosquitto is not running yet: no signal to send).
    let (device, credential) = register_at(&app, "SH001").await;
    let passwords = std::fs::read_to_string(dir.path().join("passwords")).unwrap();
    assert!(passwords.contains(&format!("{device}:$7$")), "{passwords}");
    assert!(passwords.starts_with("server:$7$"), "{passwords}");
    let Some(broker) = own_mosquitto_in(dir, port).await else {
        return;
    };
    app.state.bus.as_ref().unwrap().wait_subscribed().await;
    let (client, mut events) = device_client("127.0.0.1", broker.port, device, &credential, None);
    assert_eq!(connack(&mut events).await, Ok(ConnectReturnCode::Success));
    client
        .subscribe("retail/v1/stores/SH001/#", QoS::AtLeastOnce)
        .await
        .unwrap();
    suback(&mut events).await;

    let admin = app.login("admin").await;
    let (status, _) = app
        .post(
            &format!("/api/v1/devices/{device}/revoke"),
            Some(&admin),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        closed(&mut events).await,
        "Mosquitto disconnects the revoked device after the reload"
    );
    let passwords = std::fs::read_to_string(
        std::path::Path::new(&app.settings.mqtt.mosquitto_dir).join("passwords"),
    )
    .unwrap();
    assert!(!passwords.contains(&device.to_string()), "{passwords}");
    let (_c, mut again) = device_client("127.0.0.1", broker.port, device, &credential, None);
    assert!(!matches!(
        connack(&mut again).await,
        Ok(ConnectReturnCode::Success)
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revocation_reloads_mosquitto_sqlite() {
    revocation_reloads_mosquitto(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revocation_reloads_mosquitto_postgres() {
    revocation_reloads_mosquitto(Backend::Postgres).await;
}

/// Store managers (and head office) set where a SKU sits in their store; the pickup notice of a
/// paid order carries the shelf of each line.
async fn shelves_per_store(app: TestApp) {
    app.state.bus.as_ref().unwrap().wait_subscribed().await;
    let manager = app.login("mgr.sh001").await;
    let sku = sku_at_sh001(&app, &manager).await;
    let path = format!("/api/v1/stores/SH001/shelves/{sku}");

    let (status, body) = app
        .put(&path, Some(&manager), json!({"shelf": " A3-02 "}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["shelf"]["shelf"], "A3-02");
    assert_eq!(body["shelf"]["updated_by"], "staff:mgr.sh001");
    // Idempotent.
    let (status, again) = app
        .put(&path, Some(&manager), json!({"shelf": "A3-02"}))
        .await;
    assert_eq!(
        (status, &again["shelf"]["shelf"]),
        (StatusCode::OK, &body["shelf"]["shelf"])
    );
    // Refused: a cashier, another store's manager, bad text, unknown SKU, a warehouse.
    let cashier = app.login("cashier1.sh001").await;
    let other = app.login("mgr.hz001").await;
    assert_eq!(
        app.put(&path, Some(&cashier), json!({"shelf": "B1"}))
            .await
            .0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.put(&path, Some(&other), json!({"shelf": "B1"})).await.0,
        StatusCode::FORBIDDEN
    );
    for bad in [
        json!({"shelf": ""}),
        json!({"shelf": "x".repeat(33)}),
        json!({"shelf": "A\u{7}"}),
        json!({"aisle": "A"}),
    ] {
        let (status, body) = app.put(&path, Some(&manager), bad.clone()).await;
        assert!(status.is_client_error(), "{bad}: {body}");
    }
    assert_eq!(
        app.put(
            &format!("/api/v1/stores/SH001/shelves/{}", Uuid::now_v7()),
            Some(&manager),
            json!({"shelf": "B1"})
        )
        .await
        .0,
        StatusCode::NOT_FOUND
    );
    let admin = app.login("admin").await;
    assert_eq!(
        app.put(
            &format!("/api/v1/stores/WH01/shelves/{sku}"),
            Some(&admin),
            json!({"shelf": "B1"})
        )
        .await
        .0,
        StatusCode::NOT_FOUND
    );
    let (_, list) = app
        .get("/api/v1/stores/SH001/shelves", Some(&cashier))
        .await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1, "{list}");
    assert_eq!(list["items"][0]["sku_id"], sku.as_str());
    assert_eq!(
        app.get("/api/v1/stores/SH001/shelves", Some(&other))
            .await
            .0,
        StatusCode::FORBIDDEN
    );

    // A device of the store hears the paid order with the shelf on its line.
    let broker = app.state.broker.clone().unwrap();
    let (device, credential) = register_at(&app, "SH001").await;
    let (client, mut events) = device_client(&broker.host, broker.port, device, &credential, None);
    assert_eq!(connack(&mut events).await, Ok(ConnectReturnCode::Success));
    client
        .subscribe(wire::pickup_topic("SH001"), QoS::AtLeastOnce)
        .await
        .unwrap();
    suback(&mut events).await;
    let (status, order) = app
        .post(
            "/api/v1/orders",
            None,
            json!({"id": Uuid::now_v7(), "fulfilment": "pickup", "store": "SH001", "lines": [{"sku_id": sku, "qty": 1}]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{order}");
    pay(&app, order["id"].as_str().unwrap()).await;
    let (_, notice) = next_publish(&mut events).await;
    assert_eq!(notice["event"], "created");
    assert_eq!(
        (
            notice["lines"][0]["sku_id"].as_str(),
            notice["lines"][0]["shelf"].as_str(),
            notice["lines"][0]["qty"].as_i64()
        ),
        (Some(sku.as_str()), Some("A3-02"), Some(1)),
        "{notice}"
    );

    // Cleared: gone from the list.
    let (status, body) = app.put(&path, Some(&manager), json!({"shelf": null})).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body["shelf"].is_null());
    let (_, list) = app
        .get("/api/v1/stores/SH001/shelves", Some(&manager))
        .await;
    assert_eq!(list["items"], json!([]));
}

crate::both_backends!(
    shelves_per_store,
    shelves_per_store,
    crate::bus::embedded_bus
);

/// The exit pass of a paid scan-and-go order carries the shopper's scan-and-go visit number:
/// 1 for the first paid visit, counting every store; an unpaid one does not count.
async fn exit_passes_count_visits(app: TestApp) {
    let admin = app.login("admin").await;
    let (status, member) = app
        .post(
            "/api/v1/members/lookup",
            Some(&admin),
            serde_json::json!({ "phone": "13800138001" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{member}");
    let member: Uuid = member["id"].as_str().unwrap().parse().unwrap();
    let sku: Uuid = sku_at_sh001(&app, &admin).await.parse().unwrap();
    let verifier = app.state.keys.signer.verifier();
    let mut visits = Vec::new();
    let mut first_order = None;
    for paid in [true, false, true] {
        let placed = retail_server::app::checkout::place_scan_and_go(
            &app.state,
            retail_server::actor::ClientAddr(std::net::Ipv4Addr::LOCALHOST.into()),
            Uuid::now_v7(),
            "SH001",
            &[(sku, 1)],
            Some(member),
        )
        .await
        .unwrap();
        if paid {
            pay(&app, &placed.id.to_string()).await;
        }
        let order = retail_server::storage::orders::get(&app.state.store, placed.id)
            .await
            .unwrap();
        first_order.get_or_insert(order.clone());
        let text = retail_server::app::checkout::exit_pass(&app.state, Uuid::now_v7(), &order, 900)
            .await
            .unwrap();
        assert!(text.starts_with("EX2."), "{text}");
        match verifier.verify(&text, chrono::Utc::now()).unwrap() {
            SignedCode::ExitPass(pass) => {
                assert_eq!((pass.store.as_str(), pass.item_count), ("SH001", 1));
                visits.push(pass.visit);
            }
            other => panic!("{other:?}"),
        }
    }
    // First paid visit 1; the unpaid one counts only the paid one before it (and itself is not
    // a visit); the second paid visit is 2.
    assert_eq!(visits, vec![Some(1), Some(1), Some(2)]);
    // Issued again later, the first visit's pass still says 1.
    let again = retail_server::app::checkout::exit_pass(
        &app.state,
        Uuid::now_v7(),
        &first_order.unwrap(),
        900,
    )
    .await
    .unwrap();
    assert!(matches!(
        verifier.verify(&again, chrono::Utc::now()).unwrap(),
        SignedCode::ExitPass(p) if p.visit == Some(1)
    ));
}

crate::both_backends!(exit_passes_count_visits, exit_passes_count_visits);

/// The code-verifier key edge agents pin comes from a route that needs the device credential
/// (issue 15, finding 7): anonymous, wrong, staff and revoked credentials are refused, and the
/// anonymous `GET /keys/code-verifier` of old is gone (no client can be led to trust a key
/// from an unauthenticated answer).
async fn code_verifier_key_needs_a_device_credential(app: TestApp) {
    for old in ["/api/v1/keys/code-verifier"] {
        let (status, body) = app.get(old, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{old}: {body}");
        let (_, doc) = app.get("/api/v1/openapi.json", None).await;
        assert!(doc["paths"]["/keys/code-verifier"].is_null());
        assert!(doc["paths"]["/api/v1/keys/code-verifier"].is_null());
    }
    let path = "/api/v1/devices/me/code-verifier";
    let (device, credential) = register_at(&app, "SH001").await;
    let (status, body) = app.get(path, Some(&credential)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["public_key"].as_str(),
        Some(app.state.keys.verifier().public_b64().as_str())
    );
    let admin = app.login("admin").await;
    for token in [None, Some("dv_wrong"), Some(admin.as_str())] {
        let (status, body) = app.get(path, token).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{token:?}: {body}");
        assert!(body.get("public_key").is_none());
    }
    let (status, _) = app
        .post(
            &format!("/api/v1/devices/{device}/revoke"),
            Some(&admin),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        app.get(path, Some(&credential)).await.0,
        StatusCode::UNAUTHORIZED
    );
}

crate::both_backends!(
    code_verifier_key_needs_a_device_credential,
    code_verifier_key_needs_a_device_credential
);

/// The console's delivery page sends a same-city order's shipping label to the shipping store's
/// agent: the command carries the label (the full address, that reading audited), the kept and
/// audited command does not; a resubmitted form sends the same command id; an order shipping
/// from a location without an agent says so on the page and sends nothing.
async fn the_console_prints_a_label_on_the_store_printer(app: TestApp) {
    app.state.bus.as_ref().unwrap().wait_subscribed().await;
    let manager = app.login("mgr.sh001").await;
    let sku = sku_at_sh001(&app, &manager).await;
    let (agent, _client, mut events) = listening_agent(&app, "SH001").await;

    // A same-city order from SH001 (a few hundred metres away), paid.
    let near = json!({"name": "赵六", "phone": "13900002222", "province": "上海", "city": "上海",
        "address": "黄浦区西藏中路 300 号", "lat_e6": 31_233_000, "lng_e6": 121_472_000});
    let (status, placed) = app
        .post(
            "/api/v1/orders",
            None,
            json!({"id": Uuid::now_v7(), "fulfilment": "delivery",
            "address": near, "lines": [{"sku_id": sku, "qty": 1}]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{placed}");
    let order = placed["id"].as_str().unwrap().to_owned();
    let (_, view) = app
        .get(&format!("/api/v1/orders/{order}"), Some(&manager))
        .await;
    assert_eq!(view["location_id"], "SH001", "same-city from SH001: {view}");
    pay(&app, &order).await;

    let mut desk = crate::web::console(&app, "mgr.sh001").await;
    let page = desk.get(&format!("/console/orders/{order}/delivery")).await;
    assert!(page.body.contains("id=\"label-print\""), "{}", page.body);
    let command_id =
        crate::web::between(&page.body, "name=\"command_id\" value=\"", "\"").to_owned();
    let path = format!("/console/orders/{order}/label/print");
    let sent = desk.post_csrf(&path, &[("command_id", &command_id)]).await;
    assert_eq!(
        sent.location.as_deref(),
        Some(format!("/console/orders/{order}/delivery?done=label_sent").as_str())
    );
    let (topic, heard) = next_publish(&mut events).await;
    assert_eq!(topic, wire::commands_topic("SH001", agent));
    assert_eq!(heard["message_id"], command_id);
    assert_eq!(heard["command"], "print_shipping_label");
    let label = &heard["label"];
    assert_eq!(
        (
            label["recipient"].as_str(),
            label["phone"].as_str(),
            label["waybill"].as_str()
        ),
        (
            Some("赵六"),
            Some("13900002222"),
            placed["order_no"].as_str()
        )
    );
    assert!(
        label["address"]
            .as_str()
            .unwrap()
            .contains("西藏中路 300 号"),
        "{label}"
    );
    // The kept command has no label; neither has its audit entry.
    let (_, kept) = app
        .get(
            &format!("/api/v1/edge/commands/{command_id}"),
            Some(&manager),
        )
        .await;
    assert_eq!(kept["kind"], "print_shipping_label", "{kept}");
    assert!(kept["command"].get("label").is_none(), "{kept}");
    let admin = app.login("admin").await;
    let (_, audit) = app
        .get(&format!("/api/v1/audit?entity_id={agent}"), Some(&admin))
        .await;
    let text = audit.to_string();
    assert!(
        text.contains("print_shipping_label") && !text.contains("13900002222"),
        "{audit}"
    );
    // The resubmitted form: the same command, sent again under its id while unacknowledged.
    desk.post_csrf(&path, &[("command_id", &command_id)]).await;
    let (_, heard) = next_publish(&mut events).await;
    assert_eq!(heard["message_id"], command_id);
    drive(events);

    // An order shipping from the warehouse (no agent there): the page says so.
    let far = json!({"name": "钱七", "phone": "13900003333", "province": "上海", "city": "上海",
        "address": "崇明区城桥镇 1 号"});
    let (_, placed) = app
        .post(
            "/api/v1/orders",
            None,
            json!({"id": Uuid::now_v7(), "fulfilment": "delivery",
            "address": far, "lines": [{"sku_id": sku, "qty": 1}]}),
        )
        .await;
    let from_warehouse = placed["id"].as_str().unwrap().to_owned();
    pay(&app, &from_warehouse).await;
    let mut desk = crate::web::console(&app, "admin").await;
    let refused = desk
        .post_csrf(
            &format!("/console/orders/{from_warehouse}/label/print"),
            &[("command_id", &Uuid::now_v7().to_string())],
        )
        .await;
    let back = refused.location.unwrap();
    assert!(back.ends_with("error=no_edge_agent"), "{back}");
    let page = desk.get(&back).await;
    assert!(page.body.contains("发货地没有门店代理"), "{}", page.body);
}

crate::both_backends!(
    the_console_prints_a_label_on_the_store_printer,
    the_console_prints_a_label_on_the_store_printer,
    crate::bus::embedded_bus
);
