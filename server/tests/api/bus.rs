//! The store bus: pickup and catalog notices reach a store's devices over MQTT, through the
//! embedded broker (devices log in with their own credentials) and through an external
//! Mosquitto.

use std::time::Duration;

use reqwest::StatusCode;
use rumqttc::{AsyncClient, ConnectReturnCode, Event, EventLoop, MqttOptions, Packet, QoS};
use serde_json::{json, Value};
use uuid::Uuid;

use retail_testkit::Mosquitto;

use crate::support::{Backend, TestApp};

pub(crate) async fn register_device(app: &TestApp) -> (Uuid, String) {
    let admin = app.login("admin").await;
    let id = Uuid::now_v7();
    let (status, body) = app
        .post(
            "/api/v1/devices",
            Some(&admin),
            json!({"id": id, "location_id": "SH001", "kind": "edge", "name": "Edge SH001"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    (id, body["credential"].as_str().unwrap().to_owned())
}

/// A client id naming `device` (the gateway refuses any other), unique per connection.
pub(crate) fn device_client_id(device: Uuid) -> String {
    let unique = Uuid::new_v4().simple().to_string();
    format!("test-{}-{}", device.simple(), &unique[..12])
}

pub(crate) fn client(app: &TestApp, user: Option<(&str, &str)>) -> (AsyncClient, EventLoop) {
    let broker = app.state.broker.clone().expect("bus enabled");
    let client_id = match user.and_then(|(u, _)| u.parse::<Uuid>().ok()) {
        Some(device) => device_client_id(device),
        None => format!("test-{}", Uuid::now_v7().simple()),
    };
    let mut options = MqttOptions::new(client_id, broker.host, broker.port);
    options.set_keep_alive(Duration::from_secs(5));
    if let Some((u, p)) = user {
        options.set_credentials(u, p);
    }
    AsyncClient::new(options, 64)
}

/// Polls until the CONNACK; returns its code.
pub(crate) async fn connack(eventloop: &mut EventLoop) -> Result<ConnectReturnCode, String> {
    loop {
        match tokio::time::timeout(Duration::from_secs(10), eventloop.poll()).await {
            Ok(Ok(Event::Incoming(Packet::ConnAck(ack)))) => return Ok(ack.code),
            Ok(Ok(_)) => {}
            Ok(Err(err)) => return Err(err.to_string()),
            Err(_) => return Err("timed out".into()),
        }
    }
}

/// Waits for the next publish on any subscribed topic; returns (topic, JSON payload).
pub(crate) async fn next_publish(eventloop: &mut EventLoop) -> (String, Value) {
    loop {
        let event = tokio::time::timeout(Duration::from_secs(15), eventloop.poll())
            .await
            .expect("a notice within 15 s")
            .expect("connection");
        if let Event::Incoming(Packet::Publish(p)) = event {
            return (
                p.topic.clone(),
                serde_json::from_slice(&p.payload).expect("JSON payload"),
            );
        }
    }
}

pub(crate) async fn paid_pickup_order(app: &TestApp) -> String {
    let admin = app.login("admin").await;
    let (_, stock) = app
        .get("/api/v1/stock?location_id=SH001&limit=20", Some(&admin))
        .await;
    let sku = stock["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["available"].as_i64().unwrap() > 2)
        .unwrap()["sku_id"]
        .clone();
    let (status, order) = app
        .post("/api/v1/orders", None, json!({"id": Uuid::now_v7(), "fulfilment": "pickup", "store": "SH001", "lines": [{"sku_id": sku, "qty": 1}]}))
        .await;
    assert_eq!(status, StatusCode::OK, "{order}");
    let order_id = order["id"].as_str().unwrap().to_owned();
    pay(app, &order_id).await;
    order_id
}

/// Pays an order through the sandbox provider.
pub(crate) async fn pay(app: &TestApp, order_id: &str) {
    let (status, intent) = app
        .post(
            &format!("/api/v1/orders/{order_id}/payments"),
            None,
            json!({"id": Uuid::now_v7()}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{intent}");
    confirm_at_sandbox(app, intent["pay_url"].as_str().unwrap()).await;
}

/// The shopper confirms at the sandbox provider's page `pay_url`: paid.
pub(crate) async fn confirm_at_sandbox(app: &TestApp, pay_url: &str) {
    let page = app
        .client
        .post(pay_url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("支付成功"), "{page}");
}

/// Settings with the store bus on the embedded broker, on a free port.
pub(crate) fn embedded_bus(s: &mut retail_server::config::Settings) {
    s.mqtt.enabled = true;
    s.mqtt.embedded_listen = "127.0.0.1:0".parse().unwrap();
}

pub(crate) async fn embedded(backend: Backend) -> Option<TestApp> {
    TestApp::spawn_with(backend, embedded_bus).await
}

/// A store's device, logged in with its own credential, hears a paid pickup order and a catalog
/// change; a wrong or revoked credential is refused by the embedded broker.
async fn notices_reach_the_store(app: TestApp) {
    let (device_id, credential) = register_device(&app).await;
    let user = device_id.to_string();

    let (_, mut refused) = client(&app, Some((&user, "dv_wrong")));
    assert!(!matches!(
        connack(&mut refused).await,
        Ok(ConnectReturnCode::Success)
    ));

    let (device, mut events) = client(&app, Some((&user, &credential)));
    assert_eq!(connack(&mut events).await, Ok(ConnectReturnCode::Success));
    device
        .subscribe_many([
            rumqttc::SubscribeFilter::new(wire::pickup_topic("SH001"), QoS::AtLeastOnce),
            rumqttc::SubscribeFilter::new(wire::catalog_topic("SH001"), QoS::AtLeastOnce),
        ])
        .await
        .unwrap();
    // Let the subscription settle before producing notices.
    loop {
        if let Ok(Ok(Event::Incoming(Packet::SubAck(_)))) =
            tokio::time::timeout(Duration::from_secs(10), events.poll()).await
        {
            break;
        }
    }

    let order_id = paid_pickup_order(&app).await;
    let (topic, notice) = next_publish(&mut events).await;
    assert_eq!(topic, "retail/v1/stores/SH001/pickup");
    assert_eq!(notice["event"], "created");
    assert_eq!(notice["order_id"], order_id.as_str());
    assert_eq!(notice["v"], 1);
    assert!(notice["message_id"].is_string());

    let admin = app.login("admin").await;
    let (_, stock) = app
        .get("/api/v1/stock?location_id=SH001&limit=1", Some(&admin))
        .await;
    let sku = stock["items"][0]["sku_id"].as_str().unwrap().to_owned();
    let status = app
        .client
        .put(format!("{}/api/v1/skus/{sku}/price", app.url))
        .bearer_auth(&admin)
        .json(&json!({"price": "8.80"}))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, StatusCode::OK);
    let (topic, notice) = next_publish(&mut events).await;
    assert_eq!(topic, "retail/v1/stores/SH001/catalog");
    assert!(notice["seq"].as_i64().unwrap() > 0);

    // Revoked: the broker refuses the next login.
    app.post(
        &format!("/api/v1/devices/{device_id}/revoke"),
        Some(&admin),
        json!({}),
    )
    .await;
    let (_, mut again) = client(&app, Some((&user, &credential)));
    assert!(!matches!(
        connack(&mut again).await,
        Ok(ConnectReturnCode::Success)
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notices_reach_the_store_sqlite() {
    notices_reach_the_store(embedded(Backend::Sqlite).await.unwrap()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notices_reach_the_store_postgres() {
    if let Some(app) = embedded(Backend::Postgres).await {
        notices_reach_the_store(app).await;
    }
}

/// With `MQTT_URL` the server publishes through an external broker: the Mosquitto running on
/// this machine (127.0.0.1:1883, or TEST_MQTT_URL).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notices_through_external_mosquitto() {
    let url = std::env::var("TEST_MQTT_URL").unwrap_or_else(|_| "mqtt://127.0.0.1:1883".into());
    let address = retail_server::bus::parse_mqtt_url(&url).unwrap();
    if tokio::net::TcpStream::connect((address.host.as_str(), address.port))
        .await
        .is_err()
    {
        retail_testkit::skip_unless_ci(&format!(
            "external broker test: no Mosquitto listens at {url}"
        ));
        return;
    }
    let app = TestApp::spawn_with(Backend::Sqlite, |s| {
        s.mqtt.enabled = true;
        s.mqtt.url = url.clone();
    })
    .await
    .unwrap();
    let mut options = MqttOptions::new(
        format!("test-{}", Uuid::now_v7().simple()),
        address.host,
        address.port,
    );
    options.set_keep_alive(Duration::from_secs(5));
    let (listener, mut events) = AsyncClient::new(options, 64);
    assert_eq!(connack(&mut events).await, Ok(ConnectReturnCode::Success));
    listener
        .subscribe("retail/v1/stores/SH001/pickup", QoS::AtLeastOnce)
        .await
        .unwrap();
    loop {
        if let Ok(Ok(Event::Incoming(Packet::SubAck(_)))) =
            tokio::time::timeout(Duration::from_secs(10), events.poll()).await
        {
            break;
        }
    }
    let order_id = paid_pickup_order(&app).await;
    loop {
        let (topic, notice) = next_publish(&mut events).await;
        // Other runs may share the broker: wait for this order's notice.
        if notice["order_id"] == order_id.as_str() {
            assert_eq!(topic, "retail/v1/stores/SH001/pickup");
            assert_eq!(notice["event"], "created");
            break;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Per-store access, device status and events (issue 4).

use retail_domain::wire::bus as wire;
use retail_server::app::device_events::{self as consumer, Outcome};

pub(crate) async fn register_at(app: &TestApp, store: &str) -> (Uuid, String) {
    let admin = app.login("admin").await;
    let id = Uuid::now_v7();
    let (status, body) = app
        .post(
            "/api/v1/devices",
            Some(&admin),
            json!({"id": id, "location_id": store, "kind": "edge", "name": format!("Edge {store}")}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    (id, body["credential"].as_str().unwrap().to_owned())
}

pub(crate) fn device_client(
    host: &str,
    port: u16,
    device: Uuid,
    credential: &str,
    will: Option<rumqttc::LastWill>,
) -> (AsyncClient, EventLoop) {
    let mut options = MqttOptions::new(device_client_id(device), host, port);
    options.set_keep_alive(Duration::from_secs(5));
    options.set_credentials(device.to_string(), credential);
    if let Some(will) = will {
        options.set_last_will(will);
    }
    AsyncClient::new(options, 64)
}

/// Polls until the connection ends (the gateway or broker closed it); true if it did.
pub(crate) async fn closed(eventloop: &mut EventLoop) -> bool {
    loop {
        match tokio::time::timeout(Duration::from_secs(10), eventloop.poll()).await {
            Ok(Ok(_)) => {}
            Ok(Err(_)) => return true,
            Err(_) => return false,
        }
    }
}

pub(crate) async fn suback(eventloop: &mut EventLoop) -> Vec<rumqttc::SubscribeReasonCode> {
    loop {
        match tokio::time::timeout(Duration::from_secs(10), eventloop.poll()).await {
            Ok(Ok(Event::Incoming(Packet::SubAck(ack)))) => return ack.return_codes,
            Ok(Ok(_)) => {}
            other => panic!("no SUBACK: {other:?}"),
        }
    }
}

/// Drives an event loop in the background (so QoS 1 publishes complete).
pub(crate) fn drive(mut eventloop: EventLoop) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move { while eventloop.poll().await.is_ok() {} })
}

pub(crate) fn status_payload(store: &str, status: wire::Presence) -> Vec<u8> {
    serde_json::to_vec(&wire::StatusMessage {
        v: wire::VERSION,
        message_id: Uuid::now_v7(),
        at: chrono::Utc::now(),
        store: store.into(),
        status,
        version: Some("test".into()),
        health: vec![wire::ComponentHealth {
            name: "gate-1".into(),
            state: "ok".into(),
            detail: None,
        }],
    })
    .unwrap()
}

fn exit_scan(store: &str, message_id: Uuid, session: Uuid) -> Vec<u8> {
    serde_json::to_vec(&wire::EventMessage {
        v: wire::VERSION,
        message_id,
        at: chrono::Utc::now(),
        store: store.into(),
        event: wire::DeviceEvent::ExitScan {
            gate: "gate-1".into(),
            session_id: Some(session),
            decision: wire::GateDecision::Open,
            reason: None,
            item_count: Some(2),
            total: None,
        },
    })
    .unwrap()
}

/// Waits (polling the database) until `check` holds; panics after 15 s.
pub(crate) async fn eventually<F, Fut>(what: &str, check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    retail_testkit::wait_until(what, Duration::from_secs(15), check).await;
}

/// The embedded broker's gateway keeps each device inside its store: publishing or
/// subscribing under another store, or a Last Will there, ends the connection and nothing
/// reaches the other store; the device's own status is stored, and its Last Will marks it
/// offline when it vanishes.
async fn devices_stay_in_their_store(app: TestApp) {
    app.state.bus.as_ref().unwrap().wait_subscribed().await;
    let broker = app.state.broker.clone().unwrap();
    let (sh, sh_cred) = register_at(&app, "SH001").await;
    let (hz, hz_cred) = register_at(&app, "HZ001").await;

    // The HZ001 device listens to its own store's device topics.
    let (hz_client, mut hz_events) = device_client(&broker.host, broker.port, hz, &hz_cred, None);
    assert_eq!(
        connack(&mut hz_events).await,
        Ok(ConnectReturnCode::Success)
    );
    hz_client
        .subscribe_many([
            rumqttc::SubscribeFilter::new(
                "retail/v1/stores/HZ001/devices/+/status".into(),
                QoS::AtLeastOnce,
            ),
            rumqttc::SubscribeFilter::new(wire::store_events_filter("HZ001"), QoS::AtLeastOnce),
        ])
        .await
        .unwrap();
    assert_eq!(
        suback(&mut hz_events).await,
        vec![rumqttc::SubscribeReasonCode::Success(QoS::AtLeastOnce); 2]
    );

    // SH001 publishing into HZ001: cut off.
    let (sh_client, mut sh_events) = device_client(&broker.host, broker.port, sh, &sh_cred, None);
    assert_eq!(
        connack(&mut sh_events).await,
        Ok(ConnectReturnCode::Success)
    );
    sh_client
        .publish(
            wire::events_topic("HZ001", hz),
            QoS::AtLeastOnce,
            false,
            exit_scan("HZ001", Uuid::now_v7(), Uuid::now_v7()),
        )
        .await
        .unwrap();
    assert!(
        closed(&mut sh_events).await,
        "cross-store publish must end the connection"
    );

    // SH001 subscribing to HZ001: cut off.
    let (sh_client, mut sh_events) = device_client(&broker.host, broker.port, sh, &sh_cred, None);
    assert_eq!(
        connack(&mut sh_events).await,
        Ok(ConnectReturnCode::Success)
    );
    sh_client
        .subscribe("retail/v1/stores/HZ001/#", QoS::AtLeastOnce)
        .await
        .unwrap();
    assert!(
        closed(&mut sh_events).await,
        "cross-store subscribe must end the connection"
    );
    // A wildcard over every store: cut off too.
    let (sh_client, mut sh_events) = device_client(&broker.host, broker.port, sh, &sh_cred, None);
    assert_eq!(
        connack(&mut sh_events).await,
        Ok(ConnectReturnCode::Success)
    );
    sh_client
        .subscribe("retail/v1/stores/+/pickup", QoS::AtLeastOnce)
        .await
        .unwrap();
    assert!(closed(&mut sh_events).await);

    // A Last Will on another store's topic: refused at login.
    let will = rumqttc::LastWill::new(
        wire::status_topic("HZ001", hz),
        status_payload("HZ001", wire::Presence::Offline),
        QoS::AtLeastOnce,
        true,
    );
    let (_c, mut sh_events) = device_client(&broker.host, broker.port, sh, &sh_cred, Some(will));
    assert!(matches!(connack(&mut sh_events).await, Err(e) if e.contains("NotAuthorized")));

    // The first thing HZ001 hears is its own device's status, not the forged event.
    hz_client
        .publish(
            wire::status_topic("HZ001", hz),
            QoS::AtLeastOnce,
            true,
            status_payload("HZ001", wire::Presence::Online),
        )
        .await
        .unwrap();
    let (topic, _) = next_publish(&mut hz_events).await;
    assert_eq!(topic, wire::status_topic("HZ001", hz));
    drive(hz_events);

    // SH001's own status with a Last Will: online, then offline when it vanishes.
    let will = rumqttc::LastWill::new(
        wire::status_topic("SH001", sh),
        status_payload("SH001", wire::Presence::Offline),
        QoS::AtLeastOnce,
        true,
    );
    let (sh_client, mut sh_events) =
        device_client(&broker.host, broker.port, sh, &sh_cred, Some(will));
    assert_eq!(
        connack(&mut sh_events).await,
        Ok(ConnectReturnCode::Success)
    );
    sh_client
        .publish(
            wire::status_topic("SH001", sh),
            QoS::AtLeastOnce,
            true,
            status_payload("SH001", wire::Presence::Online),
        )
        .await
        .unwrap();
    let driver = drive(sh_events);
    let store = app.state.store.clone();
    eventually("SH001 device online", || {
        let store = store.clone();
        async move {
            matches!(retail_server::storage::bus::presence(&store, sh).await,
                Ok(Some(p)) if p.status == "online" && p.health[0]["name"] == "gate-1")
        }
    })
    .await;
    // Vanish without DISCONNECT: the broker publishes the Will.
    driver.abort();
    drop(sh_client);
    eventually("SH001 device offline by its Last Will", || {
        let store = store.clone();
        async move {
            matches!(retail_server::storage::bus::presence(&store, sh).await,
                Ok(Some(p)) if p.status == "offline")
        }
    })
    .await;
    // Nothing about HZ001 was taken from SH001.
    assert_eq!(
        retail_server::storage::bus::exit_passes_used_count(&app.state.store, "HZ001")
            .await
            .unwrap(),
        0
    );
}

crate::both_backends!(
    devices_stay_in_their_store,
    devices_stay_in_their_store,
    crate::bus::embedded_bus
);

/// Device events are applied once per message id; malformed, oversized, other-store and
/// unknown-device messages are refused and change nothing.
async fn device_events_are_checked_and_applied_once(app: TestApp) {
    app.state.bus.as_ref().unwrap().wait_subscribed().await;
    let broker = app.state.broker.clone().unwrap();
    let store = app.state.store.clone();
    let (sh, sh_cred) = register_at(&app, "SH001").await;

    // Over the bus: the same event twice (a redelivery) marks the pass used once.
    let (client, mut events) = device_client(&broker.host, broker.port, sh, &sh_cred, None);
    assert_eq!(connack(&mut events).await, Ok(ConnectReturnCode::Success));
    drive(events);
    let (session, _) = paid_scan_session(&app, "SH001").await;
    let message = Uuid::now_v7();
    for _ in 0..2 {
        client
            .publish(
                wire::events_topic("SH001", sh),
                QoS::AtLeastOnce,
                false,
                exit_scan("SH001", message, session),
            )
            .await
            .unwrap();
    }
    eventually("exit pass marked used", || {
        let store = store.clone();
        async move {
            matches!(
                retail_server::storage::bus::exit_pass_use(&store, session).await,
                Ok(Some(_))
            )
        }
    })
    .await;
    let (location, gate, decision, by) =
        retail_server::storage::bus::exit_pass_use(&store, session)
            .await
            .unwrap()
            .unwrap();
    assert_eq!(
        (location.as_str(), gate.as_str(), decision.as_str(), by),
        ("SH001", "gate-1", "open", message)
    );

    // Straight through the consumer (same checks, no broker in between).
    let topic = wire::events_topic("SH001", sh);
    assert_eq!(
        consumer::handle(&store, &topic, &exit_scan("SH001", message, session)).await,
        Outcome::Duplicate
    );
    // A second use of the same pass (another message): still one use, the first.
    assert_eq!(
        consumer::handle(&store, &topic, &exit_scan("SH001", Uuid::now_v7(), session)).await,
        Outcome::Applied
    );
    assert_eq!(
        retail_server::storage::bus::exit_pass_use(&store, session)
            .await
            .unwrap()
            .unwrap()
            .3,
        message
    );
    let refused = |o: Outcome| matches!(o, Outcome::Refused(_));
    assert!(refused(
        consumer::handle(&store, &topic, b"{not json").await
    ));
    assert!(refused(
        consumer::handle(&store, &topic, br#"{"v":2,"message_id":"x"}"#).await
    ));
    assert!(refused(
        consumer::handle(&store, &topic, &vec![b' '; wire::MAX_PAYLOAD + 1]).await
    ));
    // Payload store differs from the topic's.
    let other = Uuid::now_v7();
    assert!(refused(
        consumer::handle(&store, &topic, &exit_scan("HZ001", Uuid::now_v7(), other)).await
    ));
    // Topic store differs from the device's registered store.
    assert!(refused(
        consumer::handle(
            &store,
            &wire::events_topic("HZ001", sh),
            &exit_scan("HZ001", Uuid::now_v7(), other)
        )
        .await
    ));
    // Unknown device; not a device topic.
    assert!(refused(
        consumer::handle(
            &store,
            &wire::events_topic("SH001", Uuid::now_v7()),
            &exit_scan("SH001", Uuid::now_v7(), other)
        )
        .await
    ));
    assert!(refused(
        consumer::handle(&store, "retail/v1/stores/SH001/pickup", b"{}").await
    ));
    assert!(retail_server::storage::bus::exit_pass_use(&store, other)
        .await
        .unwrap()
        .is_none());

    // A printer fault is recorded once.
    let fault = serde_json::to_vec(&wire::EventMessage {
        v: wire::VERSION,
        message_id: Uuid::now_v7(),
        at: chrono::Utc::now(),
        store: "SH001".into(),
        event: wire::DeviceEvent::PrinterFault {
            printer: "pickup-printer".into(),
            fault: "paper out".into(),
        },
    })
    .unwrap();
    assert_eq!(
        consumer::handle(&store, &topic, &fault).await,
        Outcome::Applied
    );
    assert_eq!(
        consumer::handle(&store, &topic, &fault).await,
        Outcome::Duplicate
    );
    assert_eq!(
        retail_server::storage::bus::faults(&store, sh)
            .await
            .unwrap(),
        vec![("pickup-printer".to_owned(), "paper out".to_owned())]
    );
}

crate::both_backends!(
    device_events_are_checked_and_applied_once,
    device_events_are_checked_and_applied_once,
    crate::bus::embedded_bus
);

/// Starts a Mosquitto of the test's own (the kit's) on `port` with the generated files, in a
/// folder of its own; None (loudly) when it is not installed, outside CI.
pub async fn own_mosquitto(
    files: &retail_server::bus::mosquitto::MosquittoFiles,
    port: u16,
) -> Option<Mosquitto> {
    let binary = retail_testkit::broker::binary_or_skip()?;
    let dir = tempfile::tempdir().unwrap();
    let broker = Mosquitto::serve_files(&binary, dir.path(), files, port)
        .await
        .unwrap();
    Some(broker.owning(dir))
}

/// Starts Mosquitto on `port` with the `passwords` and `acl` files already in `dir` (and its pid
/// in `dir/mosquitto.pid`); None (loudly) when it is not installed, outside CI.
pub async fn own_mosquitto_in(dir: tempfile::TempDir, port: u16) -> Option<Mosquitto> {
    let binary = retail_testkit::broker::binary_or_skip()?;
    let mut broker = Mosquitto::with_logins(&binary, dir.path(), port)
        .unwrap()
        .owning(dir);
    broker.start().await.unwrap();
    Some(broker)
}

/// With the generated password and ACL files, Mosquitto refuses wrong credentials and keeps a
/// store's device out of other stores; the server (its login from `MQTT_URL`) hears the
/// device's own status through it.
async fn mosquitto_files_confine_devices(app: TestApp) {
    let address = retail_server::bus::parse_mqtt_url(&app.settings.mqtt.url).unwrap();
    let (sh, sh_cred) = register_at(&app, "SH001").await;
    let (hz, hz_cred) = register_at(&app, "HZ001").await;
    let (neighbour, neighbour_cred) = register_at(&app, "SH001").await;
    let files = retail_server::bus::mosquitto::generate(
        &app.state.store,
        Some(("server", address.password.as_deref().unwrap())),
    )
    .await
    .unwrap();
    // Each device reads its own commands, never a whole store.
    assert!(files.acl.contains(&format!(
        "user {sh}\ntopic read retail/v1/stores/SH001/commands/{sh}\n"
    )));
    assert!(!files.acl.contains("topic read retail/v1/stores/SH001/#"));
    assert!(!files
        .acl
        .contains(&format!("commands/{hz}\ntopic read retail/v1/stores/SH001")));
    // The server's client has been retrying this port since it started.
    let Some(broker) = own_mosquitto(&files, address.port).await else {
        return;
    };
    app.state.bus.as_ref().unwrap().wait_subscribed().await;

    // Wrong password: refused.
    let (_c, mut wrong) = device_client("127.0.0.1", broker.port, sh, "dv_wrong", None);
    assert!(!matches!(
        connack(&mut wrong).await,
        Ok(ConnectReturnCode::Success)
    ));

    // HZ001 listens to its store.
    let (hz_client, mut hz_events) = device_client("127.0.0.1", broker.port, hz, &hz_cred, None);
    assert_eq!(
        connack(&mut hz_events).await,
        Ok(ConnectReturnCode::Success)
    );
    hz_client
        .subscribe("retail/v1/stores/HZ001/#", QoS::AtLeastOnce)
        .await
        .unwrap();
    assert_eq!(
        suback(&mut hz_events).await,
        vec![rumqttc::SubscribeReasonCode::Success(QoS::AtLeastOnce)]
    );

    // SH001 subscribing to HZ001 (Mosquitto 2.0 may grant the subscription but delivers
    // nothing the ACL does not let it read) and to its own store's statuses.
    let (sh_client, mut sh_events) = device_client("127.0.0.1", broker.port, sh, &sh_cred, None);
    assert_eq!(
        connack(&mut sh_events).await,
        Ok(ConnectReturnCode::Success)
    );
    sh_client
        .subscribe_many([
            rumqttc::SubscribeFilter::new("retail/v1/stores/HZ001/#".into(), QoS::AtLeastOnce),
            rumqttc::SubscribeFilter::new(
                "retail/v1/stores/SH001/devices/+/status".into(),
                QoS::AtLeastOnce,
            ),
        ])
        .await
        .unwrap();
    let codes = suback(&mut sh_events).await;
    assert_eq!(
        codes[1],
        rumqttc::SubscribeReasonCode::Success(QoS::AtLeastOnce)
    );
    // SH001 publishing into HZ001: dropped by the broker.
    sh_client
        .publish(
            wire::events_topic("HZ001", hz),
            QoS::AtLeastOnce,
            false,
            exit_scan("HZ001", Uuid::now_v7(), Uuid::now_v7()),
        )
        .await
        .unwrap();
    // HZ001's own status is the first thing HZ001 hears: the forged event never arrived.
    hz_client
        .publish(
            wire::status_topic("HZ001", hz),
            QoS::AtLeastOnce,
            true,
            status_payload("HZ001", wire::Presence::Online),
        )
        .await
        .unwrap();
    let (topic, _) = next_publish(&mut hz_events).await;
    assert_eq!(topic, wire::status_topic("HZ001", hz));
    drive(hz_events);
    // SH001's own status is the first thing SH001 hears: HZ001's status was not delivered to it.
    sh_client
        .publish(
            wire::status_topic("SH001", sh),
            QoS::AtLeastOnce,
            true,
            status_payload("SH001", wire::Presence::Online),
        )
        .await
        .unwrap();
    let (topic, _) = next_publish(&mut sh_events).await;
    assert_eq!(topic, wire::status_topic("SH001", sh));
    drive(sh_events);
    // Within SH001 (issue 15, finding 9): a neighbour subscribing to SH001's device's commands,
    // and to the whole store, hears the store's pickup notice first — never the command sent to
    // the device before it (the ACL lets a device read only its own commands).
    let (nb_client, mut nb_events) =
        device_client("127.0.0.1", broker.port, neighbour, &neighbour_cred, None);
    assert_eq!(
        connack(&mut nb_events).await,
        Ok(ConnectReturnCode::Success)
    );
    nb_client
        .subscribe_many([
            rumqttc::SubscribeFilter::new(wire::commands_topic("SH001", sh), QoS::AtLeastOnce),
            rumqttc::SubscribeFilter::new("retail/v1/stores/SH001/#".into(), QoS::AtLeastOnce),
            rumqttc::SubscribeFilter::new(wire::pickup_topic("SH001"), QoS::AtLeastOnce),
        ])
        .await
        .unwrap();
    suback(&mut nb_events).await;
    let bus = app.state.bus.clone().unwrap();
    bus.command(
        "SH001",
        sh,
        wire::Command::OpenGate {
            gate: "gate-1".into(),
        },
    )
    .await;
    let order_id = Uuid::now_v7();
    bus.pickup(
        "SH001",
        retail_server::bus::PickupNotice {
            event: "ready",
            order_id,
            order_no: "T-ACL",
            lines: &[],
        },
    )
    .await;
    // (Retained device statuses of the store are readable; skip them.)
    let (topic, notice) = loop {
        let (topic, notice) = next_publish(&mut nb_events).await;
        if wire::parse_device_topic(&topic).is_none() {
            break (topic, notice);
        }
    };
    assert_eq!(topic, wire::pickup_topic("SH001"), "{notice}");
    assert_eq!(notice["order_id"], json!(order_id));
    // And the server heard it through Mosquitto with its own login.
    let store = app.state.store.clone();
    eventually("the server hears SH001's status through Mosquitto", || {
        let store = store.clone();
        async move {
            matches!(retail_server::storage::bus::presence(&store, sh).await,
                Ok(Some(p)) if p.status == "online")
        }
    })
    .await;
}

/// Settings for a server whose bus is a Mosquitto of the test's own ([`own_mosquitto`]) on a
/// free port, the server logging in as `server` with a random password.
pub(crate) fn own_mosquitto_bus(s: &mut retail_server::config::Settings) {
    let port = retail_testkit::free_port().unwrap();
    s.mqtt.enabled = true;
    s.mqtt.url = format!(
        "mqtt://server:{}@127.0.0.1:{port}",
        uuid::Uuid::now_v7().simple()
    );
}

crate::both_backends!(
    mosquitto_files_confine_devices,
    mosquitto_files_confine_devices,
    crate::bus::own_mosquitto_bus
);

// ---------------------------------------------------------------------------------------------
// End-to-end acknowledgements of device events.

fn event_payload(store: &str, message_id: Uuid, event: wire::DeviceEvent) -> Vec<u8> {
    serde_json::to_vec(&wire::EventMessage {
        v: wire::VERSION,
        message_id,
        at: chrono::Utc::now(),
        store: store.into(),
        event,
    })
    .unwrap()
}

fn printer_fault(store: &str, message_id: Uuid) -> Vec<u8> {
    event_payload(
        store,
        message_id,
        wire::DeviceEvent::PrinterFault {
            printer: "pickup-printer".into(),
            fault: "paper out".into(),
        },
    )
}

/// Waits for acknowledgements on `topic` until every id of `expected` has been named; returns
/// every id named meanwhile.
pub(crate) async fn acknowledged(
    eventloop: &mut EventLoop,
    topic: &str,
    store: &str,
    expected: &[Uuid],
) -> Vec<Uuid> {
    let mut named = Vec::new();
    while !expected.iter().all(|id| named.contains(id)) {
        let (at, payload) = next_publish(eventloop).await;
        assert_eq!(at, topic, "{payload}");
        let ack: wire::AckMessage = wire::decode(&serde_json::to_vec(&payload).unwrap()).unwrap();
        assert_eq!(ack.store, store);
        named.extend(ack.received);
    }
    named
}

/// The consumer acknowledges applied, duplicate and content-refused events of a registered
/// device of the right store on that device's acks topic, and nothing else: not a revoked or
/// unknown device, not another store's topic, not a payload without a readable id, not a
/// status. Over the embedded broker a device reads its own acknowledgements, and a device of
/// another store may not subscribe to them.
async fn events_are_acknowledged_to_their_device(app: TestApp) {
    app.state.bus.as_ref().unwrap().wait_subscribed().await;
    let broker = app.state.broker.clone().unwrap();
    let store = app.state.store.clone();
    let (sh, sh_cred) = register_at(&app, "SH001").await;
    let (hz, hz_cred) = register_at(&app, "HZ001").await;
    let topic = wire::events_topic("SH001", sh);
    let ack_of = |message_id: Uuid| {
        Some(consumer::Ack {
            store: "SH001".into(),
            device: sh,
            message_id,
        })
    };

    // Straight through the consumer: what is decided and what is acknowledged.
    let applied = Uuid::now_v7();
    let decision = consumer::decide(&store, &topic, &printer_fault("SH001", applied)).await;
    assert_eq!(
        (decision.outcome, decision.ack),
        (Outcome::Applied, ack_of(applied))
    );
    let decision = consumer::decide(&store, &topic, &printer_fault("SH001", applied)).await;
    assert_eq!(
        (decision.outcome, decision.ack),
        (Outcome::Duplicate, ack_of(applied))
    );
    // Refused for its content, the id read: acknowledged, so it is not sent for ever.
    let wrong_payload_store = Uuid::now_v7();
    let unknown_event = Uuid::now_v7();
    let later_version = Uuid::now_v7();
    for (payload, id) in [
        (
            printer_fault("HZ001", wrong_payload_store),
            wrong_payload_store,
        ),
        (
            serde_json::to_vec(
                &json!({"v": 1, "message_id": unknown_event, "at": chrono::Utc::now(),
                "store": "SH001", "event": "self_destruct"}),
            )
            .unwrap(),
            unknown_event,
        ),
        (
            serde_json::to_vec(&json!({"v": 2, "message_id": later_version, "store": "SH001"}))
                .unwrap(),
            later_version,
        ),
    ] {
        let decision = consumer::decide(&store, &topic, &payload).await;
        assert!(
            matches!(decision.outcome, Outcome::Refused(_)),
            "{decision:?}"
        );
        assert_eq!(decision.ack, ack_of(id));
    }
    // No readable id, another store's topic, an unknown device, a status: no acknowledgement.
    let mut oversized = printer_fault("SH001", Uuid::now_v7());
    oversized.resize(wire::MAX_PAYLOAD + 1, b' ');
    for (at, payload) in [
        (topic.clone(), b"{not json".to_vec()),
        (topic.clone(), br#"{"v":1,"message_id":"x"}"#.to_vec()),
        (topic.clone(), oversized),
        (
            wire::events_topic("HZ001", sh),
            printer_fault("HZ001", Uuid::now_v7()),
        ),
        (
            wire::events_topic("SH001", Uuid::now_v7()),
            printer_fault("SH001", Uuid::now_v7()),
        ),
        (
            wire::status_topic("SH001", sh),
            status_payload("SH001", wire::Presence::Online),
        ),
    ] {
        let decision = consumer::decide(&store, &at, &payload).await;
        assert_eq!(decision.ack, None, "{at}: {decision:?}");
    }

    // Over the bus: the device hears its acknowledgements on its own acks topic.
    let acks = wire::acks_topic("SH001", sh);
    let (device, mut events) = device_client(&broker.host, broker.port, sh, &sh_cred, None);
    assert_eq!(connack(&mut events).await, Ok(ConnectReturnCode::Success));
    device.subscribe(&acks, QoS::AtLeastOnce).await.unwrap();
    assert_eq!(
        suback(&mut events).await,
        vec![rumqttc::SubscribeReasonCode::Success(QoS::AtLeastOnce)]
    );
    let first = Uuid::now_v7();
    device
        .publish(
            &topic,
            QoS::AtLeastOnce,
            false,
            printer_fault("SH001", first),
        )
        .await
        .unwrap();
    assert_eq!(
        acknowledged(&mut events, &acks, "SH001", &[first]).await,
        vec![first]
    );
    // Sent again (its acknowledgement was lost): acknowledged again, applied once.
    device
        .publish(
            &topic,
            QoS::AtLeastOnce,
            false,
            printer_fault("SH001", first),
        )
        .await
        .unwrap();
    assert_eq!(
        acknowledged(&mut events, &acks, "SH001", &[first]).await,
        vec![first]
    );
    // Garbage first (no acknowledgement), then an event refused for its content (one).
    let refused = Uuid::now_v7();
    device
        .publish(&topic, QoS::AtLeastOnce, false, b"{not json".to_vec())
        .await
        .unwrap();
    device
        .publish(
            &topic,
            QoS::AtLeastOnce,
            false,
            printer_fault("HZ001", refused),
        )
        .await
        .unwrap();
    assert_eq!(
        acknowledged(&mut events, &acks, "SH001", &[refused]).await,
        vec![refused]
    );
    let faults = retail_server::storage::bus::faults(&store, sh)
        .await
        .unwrap();
    assert_eq!(
        faults.len(),
        2,
        "the first fault and the one decided directly: {faults:?}"
    );

    // A device of another store may not read them: the gateway ends its connection.
    let (other, mut other_events) = device_client(&broker.host, broker.port, hz, &hz_cred, None);
    assert_eq!(
        connack(&mut other_events).await,
        Ok(ConnectReturnCode::Success)
    );
    other.subscribe(&acks, QoS::AtLeastOnce).await.unwrap();
    assert!(closed(&mut other_events).await);

    // A revoked device: its events are neither applied nor acknowledged.
    let admin = app.login("admin").await;
    app.post(
        &format!("/api/v1/devices/{sh}/revoke"),
        Some(&admin),
        json!({}),
    )
    .await;
    let decision = consumer::decide(&store, &topic, &printer_fault("SH001", Uuid::now_v7())).await;
    assert!(
        matches!(decision.outcome, Outcome::Refused(_)),
        "{decision:?}"
    );
    assert_eq!(decision.ack, None);
}

crate::both_backends!(
    events_are_acknowledged_to_their_device,
    events_are_acknowledged_to_their_device,
    crate::bus::embedded_bus
);

/// Through a Mosquitto with the generated password and ACL files: a device reads the
/// acknowledgements of its events, and a device of another store subscribed to them hears
/// nothing of them.
async fn mosquitto_delivers_acknowledgements_to_their_store_only(app: TestApp) {
    let address = retail_server::bus::parse_mqtt_url(&app.settings.mqtt.url).unwrap();
    let (sh, sh_cred) = register_at(&app, "SH001").await;
    let (hz, hz_cred) = register_at(&app, "HZ001").await;
    let files = retail_server::bus::mosquitto::generate(
        &app.state.store,
        Some(("server", address.password.as_deref().unwrap())),
    )
    .await
    .unwrap();
    let Some(broker) = own_mosquitto(&files, address.port).await else {
        return;
    };
    app.state.bus.as_ref().unwrap().wait_subscribed().await;
    let acks = wire::acks_topic("SH001", sh);

    // HZ001 asks for SH001's acknowledgements (Mosquitto may grant it, and delivers nothing)
    // and for its own store's statuses.
    let (hz_client, mut hz_events) = device_client("127.0.0.1", broker.port, hz, &hz_cred, None);
    assert_eq!(
        connack(&mut hz_events).await,
        Ok(ConnectReturnCode::Success)
    );
    hz_client
        .subscribe_many([
            rumqttc::SubscribeFilter::new(acks.clone(), QoS::AtLeastOnce),
            rumqttc::SubscribeFilter::new(
                "retail/v1/stores/HZ001/devices/+/status".into(),
                QoS::AtLeastOnce,
            ),
        ])
        .await
        .unwrap();
    assert_eq!(
        suback(&mut hz_events).await[1],
        rumqttc::SubscribeReasonCode::Success(QoS::AtLeastOnce)
    );

    let (sh_client, mut sh_events) = device_client("127.0.0.1", broker.port, sh, &sh_cred, None);
    assert_eq!(
        connack(&mut sh_events).await,
        Ok(ConnectReturnCode::Success)
    );
    sh_client.subscribe(&acks, QoS::AtLeastOnce).await.unwrap();
    assert_eq!(
        suback(&mut sh_events).await,
        vec![rumqttc::SubscribeReasonCode::Success(QoS::AtLeastOnce)]
    );
    let event = Uuid::now_v7();
    sh_client
        .publish(
            wire::events_topic("SH001", sh),
            QoS::AtLeastOnce,
            false,
            printer_fault("SH001", event),
        )
        .await
        .unwrap();
    assert_eq!(
        acknowledged(&mut sh_events, &acks, "SH001", &[event]).await,
        vec![event]
    );
    // The acknowledgement went out before this status: HZ001 hears the status first, so the
    // acknowledgement was not delivered to it.
    hz_client
        .publish(
            wire::status_topic("HZ001", hz),
            QoS::AtLeastOnce,
            true,
            status_payload("HZ001", wire::Presence::Online),
        )
        .await
        .unwrap();
    let (topic, _) = next_publish(&mut hz_events).await;
    assert_eq!(topic, wire::status_topic("HZ001", hz));
}

crate::both_backends!(
    mosquitto_delivers_acknowledgements_to_their_store_only,
    mosquitto_delivers_acknowledgements_to_their_store_only,
    crate::bus::own_mosquitto_bus
);

// ---------------------------------------------------------------------------------------------
// Client ids bound to their device; gate exits only from the session's store agent (issue 15).

/// Options of a persistent device session under `client_id`, logged in as `device`.
fn session_options(
    broker: &retail_server::bus::BrokerAddress,
    client_id: &str,
    device: Uuid,
    credential: &str,
) -> MqttOptions {
    let mut options = MqttOptions::new(client_id, broker.host.clone(), broker.port);
    options.set_keep_alive(Duration::from_secs(5));
    options.set_clean_session(false);
    options.set_credentials(device.to_string(), credential);
    options
}

/// Polls until the connection ends; panics on any message delivered before (the device got
/// something it may not read) or when the connection stays open.
async fn closed_having_received_nothing(eventloop: &mut EventLoop) {
    loop {
        match tokio::time::timeout(Duration::from_secs(10), eventloop.poll()).await {
            Ok(Ok(Event::Incoming(Packet::Publish(p)))) => {
                panic!("received {:?} before being cut off", p.topic)
            }
            Ok(Ok(_)) => {}
            Ok(Err(_)) => return,
            Err(_) => panic!("the connection stayed open"),
        }
    }
}

/// Finding 9 (issue 15): a device of another store (or of the same store) connecting under an
/// edge agent's client id is refused with CONNACK "identifier rejected" before the broker sees
/// it, so the agent keeps its session and still receives its commands; subscribing to another
/// device's commands (another store's or its own store's) ends the subscriber's connection
/// and delivers nothing.
async fn client_ids_are_bound_to_their_device(app: TestApp) {
    let bus = app.state.bus.clone().unwrap();
    bus.wait_subscribed().await;
    let broker = app.state.broker.clone().unwrap();
    let sessions = app.state.device_sessions.clone().unwrap();
    let (agent, agent_cred) = register_at(&app, "SH001").await;
    let (intruder, intruder_cred) = register_at(&app, "HZ001").await;
    let (neighbour, neighbour_cred) = register_at(&app, "SH001").await;
    let agent_id = format!("edge-{}", agent.simple());
    let commands = wire::commands_topic("SH001", agent);

    // The agent: a persistent session under its own client id, listening to its commands.
    let (agent_client, mut agent_events) =
        AsyncClient::new(session_options(&broker, &agent_id, agent, &agent_cred), 64);
    assert_eq!(
        connack(&mut agent_events).await,
        Ok(ConnectReturnCode::Success)
    );
    agent_client
        .subscribe(&commands, QoS::AtLeastOnce)
        .await
        .unwrap();
    assert_eq!(
        suback(&mut agent_events).await,
        vec![rumqttc::SubscribeReasonCode::Success(QoS::AtLeastOnce)]
    );
    // Keep it polled; report what it hears, and whether it was ever knocked off.
    let (heard_tx, mut heard) = tokio::sync::mpsc::unbounded_channel::<Result<String, String>>();
    tokio::spawn(async move {
        loop {
            match agent_events.poll().await {
                Ok(Event::Incoming(Packet::Publish(p))) => {
                    let _ = heard_tx.send(Ok(String::from_utf8_lossy(&p.payload).into_owned()));
                }
                Ok(_) => {}
                Err(err) => {
                    let _ = heard_tx.send(Err(err.to_string()));
                    return;
                }
            }
        }
    });
    assert_eq!(sessions.connections(agent), 1);

    // Take-over attempts: the agent's client id in every spelling, from another store's device
    // and from a device of the same store, with valid credentials of their own.
    for (device, credential) in [(intruder, &intruder_cred), (neighbour, &neighbour_cred)] {
        for client_id in [
            agent_id.clone(),
            format!("edge-{agent}"),
            format!("pos-{agent}"),
            format!("edge-{}-2", agent.simple()),
            agent.to_string(),
            "retail-server".to_owned(),
        ] {
            let (_c, mut events) =
                AsyncClient::new(session_options(&broker, &client_id, device, credential), 64);
            let answer = connack(&mut events).await;
            assert!(
                matches!(&answer, Err(e) if e.contains("BadClientId")),
                "{client_id:?} from {device}: {answer:?}"
            );
        }
    }
    assert_eq!(sessions.connections(agent), 1);
    assert_eq!(sessions.connections(intruder), 0);
    assert_eq!(sessions.connections(neighbour), 0);

    // Under their own client ids they connect, but reading the agent's commands (or any
    // filter covering them) cuts them off.
    for (device, credential, filter) in [
        (intruder, &intruder_cred, commands.clone()),
        (
            intruder,
            &intruder_cred,
            "retail/v1/stores/+/commands/+".to_owned(),
        ),
        (neighbour, &neighbour_cred, commands.clone()),
        (
            neighbour,
            &neighbour_cred,
            "retail/v1/stores/SH001/commands/+".to_owned(),
        ),
        (
            neighbour,
            &neighbour_cred,
            "retail/v1/stores/SH001/#".to_owned(),
        ),
        (neighbour, &neighbour_cred, wire::acks_topic("SH001", agent)),
    ] {
        let own = format!("edge-{}", device.simple());
        let (client, mut events) =
            AsyncClient::new(session_options(&broker, &own, device, credential), 64);
        assert_eq!(connack(&mut events).await, Ok(ConnectReturnCode::Success));
        client.subscribe(&filter, QoS::AtLeastOnce).await.unwrap();
        closed_having_received_nothing(&mut events).await;
    }

    // The agent was never knocked off and still receives its command, once.
    bus.command(
        "SH001",
        agent,
        wire::Command::OpenGate {
            gate: "gate-1".into(),
        },
    )
    .await;
    let first = tokio::time::timeout(Duration::from_secs(15), heard.recv())
        .await
        .expect("the command within 15 s")
        .expect("the agent's loop");
    let payload: Value = serde_json::from_str(&first.expect("still connected")).unwrap();
    assert_eq!(
        (payload["command"].as_str(), payload["gate"].as_str()),
        (Some("open_gate"), Some("gate-1")),
        "{payload}"
    );
    assert!(heard.try_recv().is_err(), "nothing else, no disconnection");
    assert_eq!(sessions.connections(agent), 1);
}

crate::both_backends!(
    client_ids_are_bound_to_their_device,
    client_ids_are_bound_to_their_device,
    crate::bus::embedded_bus
);

/// A paid scan-and-go order of `store` and its scan session (as the shop's scan-and-go pages
/// leave them); returns (session, order).
async fn paid_scan_session(app: &TestApp, store_code: &str) -> (Uuid, Uuid) {
    let store = &app.state.store;
    let admin = app.login("admin").await;
    let (_, stock) = app
        .get(
            &format!("/api/v1/stock?location_id={store_code}&limit=20"),
            Some(&admin),
        )
        .await;
    let sku: Uuid = stock["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["available"].as_i64().unwrap() > 2)
        .unwrap()["sku_id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let web = retail_server::storage::web::ensure_session(
        store,
        &format!("test-{}", Uuid::now_v7()),
        3_600_000,
    )
    .await
    .unwrap();
    let session = Uuid::now_v7();
    retail_server::storage::web::scan_start(store, session, web.id, store_code, None)
        .await
        .unwrap();
    let placed = retail_server::app::checkout::place_scan_and_go(
        &app.state,
        retail_server::actor::ClientAddr(std::net::Ipv4Addr::LOCALHOST.into()),
        Uuid::now_v7(),
        store_code,
        &[(sku, 1)],
        None,
    )
    .await
    .unwrap();
    retail_server::storage::web::scan_set_order(store, session, Some(placed.id), "checkout")
        .await
        .unwrap();
    pay(app, &placed.id.to_string()).await;
    (session, placed.id)
}

async fn order_status(app: &TestApp, order: Uuid) -> retail_domain::order::OrderStatus {
    retail_server::storage::orders::get(&app.state.store, order)
        .await
        .unwrap()
        .status
}

/// Publishes `payload` as `device` on its own events topic and waits for the server's
/// acknowledgement of `message_id` (the server decided on it).
async fn report_and_wait_for_ack(
    app: &TestApp,
    store: &str,
    device: Uuid,
    credential: &str,
    message_id: Uuid,
    payload: Vec<u8>,
) {
    let broker = app.state.broker.clone().unwrap();
    let (client, mut events) = device_client(&broker.host, broker.port, device, credential, None);
    assert_eq!(connack(&mut events).await, Ok(ConnectReturnCode::Success));
    client
        .subscribe(wire::acks_topic(store, device), QoS::AtLeastOnce)
        .await
        .unwrap();
    suback(&mut events).await;
    client
        .publish(
            wire::events_topic(store, device),
            QoS::AtLeastOnce,
            false,
            payload,
        )
        .await
        .unwrap();
    loop {
        let (topic, ack) = next_publish(&mut events).await;
        assert_eq!(topic, wire::acks_topic(store, device));
        if ack["received"]
            .as_array()
            .unwrap()
            .iter()
            .any(|id| id == &json!(message_id))
        {
            return;
        }
    }
}

/// Finding 13 (issue 15): a gate exit for a scan-and-go session is taken only from an edge
/// agent of the session's store. Another store's agent and a POS device of the same store
/// report it over the bus: each is refused and acknowledged (decided, not to be sent again),
/// and nothing changes — the pass stays unused and the order paid. The store's own agent is
/// then taken, completing the order.
async fn gate_exits_only_from_the_sessions_store_agent(app: TestApp) {
    use retail_domain::order::OrderStatus;
    app.state.bus.as_ref().unwrap().wait_subscribed().await;
    let store = app.state.store.clone();
    let (sh_edge, sh_edge_cred) = register_at(&app, "SH001").await;
    let (hz_edge, hz_edge_cred) = register_at(&app, "HZ001").await;
    let admin = app.login("admin").await;
    let sh_pos = Uuid::now_v7();
    let (status, body) = app
        .post(
            "/api/v1/devices",
            Some(&admin),
            json!({"id": sh_pos, "location_id": "SH001", "kind": "pos", "name": "Lane 9"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let sh_pos_cred = body["credential"].as_str().unwrap().to_owned();
    let (session, order) = paid_scan_session(&app, "SH001").await;
    assert_eq!(order_status(&app, order).await, OrderStatus::Paid);

    // Another store's agent, under its own store's topic and payload.
    let forged = Uuid::now_v7();
    report_and_wait_for_ack(
        &app,
        "HZ001",
        hz_edge,
        &hz_edge_cred,
        forged,
        exit_scan("HZ001", forged, session),
    )
    .await;
    // A POS device of the session's own store.
    let from_pos = Uuid::now_v7();
    report_and_wait_for_ack(
        &app,
        "SH001",
        sh_pos,
        &sh_pos_cred,
        from_pos,
        exit_scan("SH001", from_pos, session),
    )
    .await;
    // Decided, and nothing changed.
    assert!(retail_server::storage::bus::exit_pass_use(&store, session)
        .await
        .unwrap()
        .is_none());
    assert_eq!(order_status(&app, order).await, OrderStatus::Paid);
    for (topic, payload) in [
        (
            wire::events_topic("HZ001", hz_edge),
            exit_scan("HZ001", Uuid::now_v7(), session),
        ),
        (
            wire::events_topic("SH001", sh_pos),
            exit_scan("SH001", Uuid::now_v7(), session),
        ),
    ] {
        let decision = consumer::decide(&store, &topic, &payload).await;
        assert!(
            matches!(&decision.outcome, Outcome::Refused(r) if r.contains("edge agent") || r.contains("belongs to SH001")),
            "{decision:?}"
        );
        assert!(decision.ack.is_some(), "a refusal is acknowledged");
    }
    // Not even their message ids were recorded.
    for device in [hz_edge, sh_pos] {
        assert_eq!(
            retail_server::storage::bus::applied_events(&store, device)
                .await
                .unwrap(),
            Vec::<Uuid>::new()
        );
    }

    // The store's own agent, for a session the server never opened: refused too.
    let nowhere = Uuid::now_v7();
    let decision = consumer::decide(
        &store,
        &wire::events_topic("SH001", sh_edge),
        &exit_scan("SH001", Uuid::now_v7(), nowhere),
    )
    .await;
    assert!(
        matches!(&decision.outcome, Outcome::Refused(r) if r.contains("no scan-and-go session")),
        "{decision:?}"
    );
    assert!(retail_server::storage::bus::exit_pass_use(&store, nowhere)
        .await
        .unwrap()
        .is_none());

    // The store's own agent: taken; the pass is used and the order completed.
    let genuine = Uuid::now_v7();
    report_and_wait_for_ack(
        &app,
        "SH001",
        sh_edge,
        &sh_edge_cred,
        genuine,
        exit_scan("SH001", genuine, session),
    )
    .await;
    let (location, _, decision, by) = retail_server::storage::bus::exit_pass_use(&store, session)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (location.as_str(), decision.as_str(), by),
        ("SH001", "open", genuine)
    );
    assert_eq!(order_status(&app, order).await, OrderStatus::Completed);
}

crate::both_backends!(
    gate_exits_only_from_the_sessions_store_agent,
    gate_exits_only_from_the_sessions_store_agent,
    crate::bus::embedded_bus
);
