//! End-to-end acknowledgements: an event leaves the agent's outbox only when the server's
//! acknowledgement names it, not when the broker takes it. Events published while the server
//! is not subscribed arrive once it is; events whose acknowledgements are lost are published
//! again (also by an agent restarted with them) and applied once each.

use std::collections::HashMap;
use std::time::Duration;

use edge_agent::store::LocalStore;
use retail_domain::wire::bus::{acks_topic, decode, events_topic, AckMessage, EventMessage};
use retail_server::storage::bus::{applied_events, exit_pass_use, exit_passes_used_count};
use uuid::Uuid;

use crate::support::{
    agent_config, eventually, free_port, mosquitto_binary, pty, scan_passes, start_server, Agent,
    GateServer, Mosquitto, Pty, Server,
};

/// An agent configuration for SH001 in `dir/agent` with a gate on two fresh pseudo-terminals
/// (scanner, relay), on the broker at `port`, waiting 1 s for acknowledgements.
fn gate_agent(
    dir: &std::path::Path,
    server: &Server,
    device: Uuid,
    credential: &str,
    port: u16,
) -> (edge_agent::Config, Pty, Pty) {
    let scanner = pty();
    let relay = pty();
    let agent_dir = dir.join("agent");
    std::fs::create_dir_all(&agent_dir).unwrap();
    let mut config = agent_config(
        &agent_dir,
        "SH001",
        device,
        credential,
        &server.url,
        &format!("mqtt://127.0.0.1:{port}"),
        [&scanner.path, &relay.path],
    );
    config.ack_wait_secs = 1;
    (config, scanner, relay)
}

/// The message ids of the events in the agent's outbox, oldest first.
async fn outbox_ids(local: &LocalStore) -> Vec<Uuid> {
    local
        .pending(0, 1000)
        .await
        .unwrap()
        .iter()
        .map(|row| decode::<EventMessage>(&row.payload).unwrap().message_id)
        .collect()
}

/// The ids of the device's events the server has applied, sorted.
async fn applied(store: &retail_server::storage::Store, device: Uuid) -> Vec<Uuid> {
    let mut applied = applied_events(store, device).await.unwrap();
    applied.sort();
    applied
}

/// The broker is up and takes the agent's events (PUBACK) while the server's client is not
/// connected: nobody hears them. The agent keeps them, publishes them again, and once the
/// server subscribes each is applied exactly once and the outbox drains.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_published_before_the_server_subscribes_arrive_once_it_does() {
    let Some(binary) = mosquitto_binary() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let port = free_port().unwrap();
    let broker_dir = dir.path().join("broker");
    std::fs::create_dir_all(&broker_dir).unwrap();
    let mut broker = Mosquitto::anonymous(&binary, &broker_dir, port, false).unwrap();
    broker.start().await.unwrap();
    // First the server runs without its bus client.
    let mut server = start_server(dir.path(), |s| s.mqtt.enabled = false).await;
    let (device, credential) = server.register_edge("SH001").await;
    let (config, mut scanner, mut relay) =
        gate_agent(dir.path(), &server, device, &credential, port);
    let local = LocalStore::open(&config.data_dir).await.unwrap();
    let mut agent = Agent::start(config);

    let sessions = scan_passes(&server, &mut scanner, &mut relay, 5, 800).await;
    // The broker has taken every event (read beside the running agent: WAL) ...
    eventually("the broker acknowledges every event", || {
        let local = local.clone();
        async move { local.published_len().await.unwrap() == 5 }
    })
    .await;
    // ... and the agent keeps them: no server has acknowledged them.
    let produced = outbox_ids(&local).await;
    assert_eq!(produced.len(), 5);

    // The server comes back with its bus client and subscribes.
    server.stop().await.unwrap();
    let mut settings = server.settings.clone();
    settings.mqtt.enabled = true;
    settings.mqtt.url = format!("mqtt://127.0.0.1:{port}");
    let server = Server::start(settings).await.unwrap();
    server.state.bus.as_ref().unwrap().wait_subscribed().await;
    let store = server.state.store.clone();
    eventually("the outbox drains as the server acknowledges", || {
        let local = local.clone();
        async move { local.outbox_len().await.unwrap() == 0 }
    })
    .await;
    // Every event arrived, each applied once, under the id the agent gave it.
    let mut expected = produced.clone();
    expected.sort();
    assert_eq!(applied(&store, device).await, expected);
    assert_eq!(exit_passes_used_count(&store, "SH001").await.unwrap(), 5);
    for session in &sessions {
        let (_, _, decision, by) = exit_pass_use(&store, *session).await.unwrap().unwrap();
        assert_eq!(decision, "open");
        assert!(produced.contains(&by));
    }
    local.close().await;
    agent.stop().await;
    broker.stop().await;
}

/// A broker whose ACL lets the agent read its store's commands, notices and device events but
/// not its acknowledgements: the server applies the events and acknowledges them, the
/// acknowledgements never reach the agent, and the agent publishes the events again and again
/// (the same ids: the server applies each once). Stopped and started again, the agent still
/// has them and sends them again; once its acknowledgements can reach it (the generated ACL),
/// the outbox drains, each event still applied once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unacknowledged_events_are_sent_again_and_applied_once() {
    let Some(binary) = mosquitto_binary() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let port = free_port().unwrap();
    let password = Uuid::now_v7().simple().to_string();
    let server = start_server(dir.path(), |s| {
        s.mqtt.url = format!("mqtt://server:{password}@127.0.0.1:{port}");
    })
    .await;
    let (device, credential) = server.register_edge("SH001").await;
    let files = retail_server::bus::mosquitto::generate(
        &server.state.store,
        Some(("server", password.as_str())),
    )
    .await
    .unwrap();
    let broker_dir = dir.path().join("broker");
    // The device may read its acknowledgements; this broker's ACL leaves that line out.
    let acks_line = format!("topic read retail/v1/stores/SH001/acks/{device}\n");
    assert!(files.acl.contains(&acks_line), "{}", files.acl);
    let no_acks = retail_server::bus::mosquitto::MosquittoFiles {
        acl: files.acl.replace(&acks_line, ""),
        ..files.clone()
    };
    retail_server::bus::mosquitto::write(&no_acks, &broker_dir).unwrap();
    let mut broker = Mosquitto::with_logins(&binary, &broker_dir, port).unwrap();
    broker.start().await.unwrap();
    server.state.bus.as_ref().unwrap().wait_subscribed().await;

    // A listener with the server's login hears the device's events and its acknowledgements.
    let mut options = rumqttc::MqttOptions::new(
        format!("spy-{}", Uuid::now_v7().simple()),
        "127.0.0.1",
        port,
    );
    options.set_credentials("server", password.as_str());
    options.set_keep_alive(Duration::from_secs(5));
    let (spy, mut spy_events) = rumqttc::AsyncClient::new(options, 64);
    let events = events_topic("SH001", device);
    let acks = acks_topic("SH001", device);
    spy.subscribe_many([
        rumqttc::SubscribeFilter::new(events.clone(), rumqttc::QoS::AtLeastOnce),
        rumqttc::SubscribeFilter::new(acks.clone(), rumqttc::QoS::AtLeastOnce),
    ])
    .await
    .unwrap();
    loop {
        match tokio::time::timeout(Duration::from_secs(15), spy_events.poll())
            .await
            .expect("a SUBACK within 15 s")
            .unwrap()
        {
            rumqttc::Event::Incoming(rumqttc::Packet::SubAck(_)) => break,
            _ => continue,
        }
    }

    let (config, mut scanner, mut relay) =
        gate_agent(dir.path(), &server, device, &credential, port);
    let mut agent = Agent::start(config.clone());
    server.wait_online(device).await;
    let sessions = scan_passes(&server, &mut scanner, &mut relay, 3, 800).await;

    // Each event goes out more than once, and the server acknowledges each.
    let mut sent: HashMap<Uuid, usize> = HashMap::new();
    let mut acknowledged: Vec<Uuid> = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), async {
        while sent.len() < 3
            || sent.values().any(|n| *n < 2)
            || !sent.keys().all(|id| acknowledged.contains(id))
        {
            let event = spy_events.poll().await.unwrap();
            let rumqttc::Event::Incoming(rumqttc::Packet::Publish(publish)) = event else {
                continue;
            };
            if publish.topic == events {
                let message: EventMessage = decode(&publish.payload).unwrap();
                *sent.entry(message.message_id).or_default() += 1;
            } else if publish.topic == acks {
                let ack: AckMessage = decode(&publish.payload).unwrap();
                assert_eq!(ack.store, "SH001");
                acknowledged.extend(ack.received);
            }
        }
    })
    .await
    .unwrap_or_else(|_| {
        panic!("each event sent twice and acknowledged within 30 s: {sent:?}, {acknowledged:?}")
    });
    drop(spy);
    let store = server.state.store.clone();
    let mut produced: Vec<Uuid> = sent.keys().copied().collect();
    produced.sort();
    assert_eq!(
        applied(&store, device).await,
        produced,
        "each event applied once"
    );
    assert_eq!(exit_passes_used_count(&store, "SH001").await.unwrap(), 3);

    // Stopped with the events unacknowledged, the agent keeps them.
    agent.stop().await;
    let local = LocalStore::open(&config.data_dir).await.unwrap();
    let mut kept = outbox_ids(&local).await;
    kept.sort();
    assert_eq!(kept, produced);

    // The generated ACL (a device reads all its store's topics), a broker restarted with it
    // (every session gone), and the agent started again: it sends the events again, and the
    // acknowledgements reach it.
    broker.stop().await;
    retail_server::bus::mosquitto::write(&files, &broker_dir).unwrap();
    broker.start().await.unwrap();
    let mut agent = Agent::start(config);
    eventually("the outbox drains as the server acknowledges", || {
        let local = local.clone();
        async move { local.outbox_len().await.unwrap() == 0 }
    })
    .await;
    assert_eq!(
        applied(&store, device).await,
        produced,
        "still each applied once"
    );
    assert_eq!(exit_passes_used_count(&store, "SH001").await.unwrap(), 3);
    for session in &sessions {
        assert!(exit_pass_use(&store, *session).await.unwrap().is_some());
    }
    local.close().await;
    agent.stop().await;
}
