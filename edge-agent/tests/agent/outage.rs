//! Broker outage: the broker (a Mosquitto of the test's own, with persistence so the server's
//! session survives) stops, the gate produces events, the broker returns, and every event is
//! applied by the server exactly once.

use std::time::Duration;

use edge_agent::store::LocalStore;
use retail_server::storage::bus::{exit_pass_use, exit_passes_used_count, presence};

use crate::support::{
    agent_config, eventually, free_port, mosquitto_binary, pty, scan_passes, start_server, Agent,
    GateServer, Mosquitto, ALARM_OFF, ALARM_ON, CLOSE, OPEN,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_survive_a_broker_outage_exactly_once() {
    let Some(binary) = mosquitto_binary() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let port = free_port().unwrap();
    let mut broker = Mosquitto::anonymous(&binary, dir.path(), port, true).unwrap();
    broker.start().await.unwrap();
    let server = start_server(dir.path(), |s| {
        s.mqtt.url = format!("mqtt://127.0.0.1:{port}");
        s.mqtt.client_id = format!("retail-server-test-{}", uuid::Uuid::now_v7().simple());
    })
    .await;
    server.state.bus.as_ref().unwrap().wait_subscribed().await;
    let (device, credential) = server.register_edge("SH001").await;
    let mut scanner = pty();
    let mut relay = pty();
    let agent_dir = dir.path().join("agent");
    std::fs::create_dir_all(&agent_dir).unwrap();
    let config = agent_config(
        &agent_dir,
        "SH001",
        device,
        &credential,
        &server.url,
        &format!("mqtt://127.0.0.1:{port}"),
        [&scanner.path, &relay.path],
    );
    let data_dir = config.data_dir.clone();
    let mut agent = Agent::start(config);
    let store = server.state.store.clone();
    eventually("the agent is online", || {
        let store = store.clone();
        async move { matches!(presence(&store, device).await, Ok(Some(p)) if p.status == "online") }
    })
    .await;

    broker.stop().await;
    let sessions = scan_passes(&server, &mut scanner, &mut relay, 12, 500).await;
    assert_eq!(exit_passes_used_count(&store, "SH001").await.unwrap(), 0);

    broker.start().await.unwrap();
    eventually("every event produced during the outage arrives", || {
        let store = store.clone();
        async move { exit_passes_used_count(&store, "SH001").await.unwrap() == 12 }
    })
    .await;
    for session in &sessions {
        assert!(exit_pass_use(&store, *session).await.unwrap().is_some());
    }
    // The outbox drains as the server acknowledges (read beside the running agent: WAL).
    let local = LocalStore::open(&data_dir).await.unwrap();
    eventually("the outbox drains", || {
        let local = local.clone();
        async move { local.outbox_len().await.unwrap() == 0 }
    })
    .await;
    local.close().await;
    agent.stop().await;
    // Applied once each: twelve exit scans recorded, no more.
    assert_eq!(exit_passes_used_count(&store, "SH001").await.unwrap(), 12);
}

/// Garbage on the command topic (malformed JSON, a wrong version, an oversized payload, an
/// unknown command) is refused with a logged reason and changes nothing; the agent keeps
/// running and executes the next valid command once, even when it is delivered twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_commands_are_refused_and_the_agent_keeps_going() {
    let Some(binary) = mosquitto_binary() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let port = free_port().unwrap();
    let mut broker = Mosquitto::anonymous(&binary, dir.path(), port, true).unwrap();
    broker.start().await.unwrap();
    let server = start_server(dir.path(), |s| {
        s.mqtt.url = format!("mqtt://127.0.0.1:{port}");
    })
    .await;
    server.state.bus.as_ref().unwrap().wait_subscribed().await;
    let (device, credential) = server.register_edge("SH001").await;
    let mut scanner = pty();
    let mut relay = pty();
    let agent_dir = dir.path().join("agent");
    std::fs::create_dir_all(&agent_dir).unwrap();
    let config = agent_config(
        &agent_dir,
        "SH001",
        device,
        &credential,
        &server.url,
        &format!("mqtt://127.0.0.1:{port}"),
        [&scanner.path, &relay.path],
    );
    let mut agent = Agent::start(config);
    let store = server.state.store.clone();
    eventually("the agent is online", || {
        let store = store.clone();
        async move { matches!(presence(&store, device).await, Ok(Some(p)) if p.status == "online") }
    })
    .await;

    // A plain client on this (anonymous, ACL-less) broker plays a misbehaving sender.
    let mut options = rumqttc::MqttOptions::new("bad-sender", "127.0.0.1", port);
    options.set_keep_alive(Duration::from_secs(5));
    options.set_max_packet_size(1024 * 1024, 1024 * 1024);
    let (client, mut events) = rumqttc::AsyncClient::new(options, 64);
    tokio::spawn(async move { while events.poll().await.is_ok() {} });
    let topic = retail_domain::wire::bus::commands_topic("SH001", device);
    let valid_id = uuid::Uuid::now_v7();
    let valid = serde_json::json!({"v": 1, "message_id": valid_id, "at": chrono::Utc::now(),
        "command": "open_gate", "gate": "gate-1"});
    let oversized = serde_json::json!({"v": 1, "message_id": uuid::Uuid::now_v7(), "at": chrono::Utc::now(),
        "command": "open_gate", "gate": "x".repeat(retail_domain::wire::bus::MAX_PAYLOAD)});
    for payload in [
        b"{not json".to_vec(),
        serde_json::to_vec(&serde_json::json!({"v": 2, "message_id": uuid::Uuid::now_v7(), "command": "resync"})).unwrap(),
        serde_json::to_vec(&serde_json::json!({"v": 1, "message_id": uuid::Uuid::now_v7(), "at": chrono::Utc::now(), "command": "self_destruct"})).unwrap(),
        serde_json::to_vec(&oversized).unwrap(),
        serde_json::to_vec(&valid).unwrap(),
        serde_json::to_vec(&valid).unwrap(),
    ] {
        client
            .publish(topic.clone(), rumqttc::QoS::AtLeastOnce, false, payload)
            .await
            .unwrap();
    }
    // Exactly one opening: the valid command, once (its redelivery is recognised). Had it run
    // twice, a second OPEN would come before the alarm of the scan below.
    assert_eq!(relay.relay_command().await, OPEN);
    assert_eq!(relay.relay_command().await, CLOSE);
    scanner.scan("not a pass").await;
    assert_eq!(relay.relay_command().await, ALARM_ON);
    assert_eq!(relay.relay_command().await, ALARM_OFF);
    agent.stop().await;
}
