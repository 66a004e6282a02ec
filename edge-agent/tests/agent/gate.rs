//! The exit gate through pseudo-terminals: scans in, relay bytes out; decisions reach the
//! server; with the server and its broker down the gate keeps deciding and the events arrive
//! after they return.

use retail_server::storage::bus::{exit_pass_use, presence};

use crate::support::{
    agent_config, eventually, free_port, pty, start_server, Agent, GateServer, Server, ALARM_OFF,
    ALARM_ON, CLOSE, OPEN,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gate_decides_offline_and_reports_later() {
    let dir = tempfile::tempdir().unwrap();
    let broker_port = free_port().unwrap();
    let mut server = start_server(dir.path(), |s| {
        s.mqtt.embedded_listen = format!("127.0.0.1:{broker_port}").parse().unwrap();
    })
    .await;
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
        &server.broker_url(),
        [&scanner.path, &relay.path],
    );
    let mut agent = Agent::start(config);

    let store = server.state.store.clone();
    eventually("the agent is online at the server", || {
        let store = store.clone();
        async move { matches!(presence(&store, device).await, Ok(Some(p)) if p.status == "online") }
    })
    .await;

    // A valid pass opens the gate.
    let (first, pass) = server.exit_pass("SH001", 3, 4_250, 300).await;
    scanner.scan(&pass).await;
    assert_eq!(relay.relay_command().await, OPEN);
    // The same pass again: denied (the release of the first opening comes first).
    scanner.scan(&pass).await;
    assert_eq!(relay.relay_command().await, CLOSE);
    assert_eq!(relay.relay_command().await, ALARM_ON);
    // Forged (signature altered), another store's, expired, not a pass, garbage: denied.
    let (_, other) = server.exit_pass("SH001", 1, 100, 300).await;
    let mut forged = other.clone().into_bytes();
    let last = forged.len() - 2;
    forged[last] = if forged[last] == b'A' { b'B' } else { b'A' };
    let (_, hz) = server.exit_pass("HZ001", 1, 100, 300).await;
    let (_, expired) = server.exit_pass("SH001", 1, 100, -60).await;
    for bad in [
        String::from_utf8(forged).unwrap(),
        hz,
        expired,
        "6901234567892".to_owned(),
        "\u{1}\u{2}\u{7f}garbage".to_owned(),
    ] {
        scanner.scan(&bad).await;
        assert_eq!(
            relay.relay_command().await,
            ALARM_OFF,
            "release before {bad:?}"
        );
        assert_eq!(relay.relay_command().await, ALARM_ON, "deny for {bad:?}");
    }
    // Over the basket threshold (300.00): audit, and the pass is used.
    let (audited, big) = server.exit_pass("SH001", 12, 45_000, 300).await;
    scanner.scan(&big).await;
    assert_eq!(relay.relay_command().await, ALARM_OFF);
    assert_eq!(relay.relay_command().await, ALARM_ON);
    // The shopper's first scan-and-go visit (signed into the pass): audit, below every
    // threshold; a pass without a visit number (EX1) opens.
    let (first_visit, pass) = server.exit_pass_visit("SH001", 1, 350, 300, Some(1)).await;
    scanner.scan(&pass).await;
    assert_eq!(relay.relay_command().await, ALARM_OFF);
    assert_eq!(relay.relay_command().await, ALARM_ON);
    let (_, pass) = server.exit_pass_visit("SH001", 1, 350, 300, None).await;
    scanner.scan(&pass).await;
    assert_eq!(relay.relay_command().await, ALARM_OFF);
    assert_eq!(relay.relay_command().await, OPEN);
    assert_eq!(relay.relay_command().await, CLOSE);

    eventually("the server marks both passes used", || {
        let store = store.clone();
        async move {
            matches!(exit_pass_use(&store, first).await, Ok(Some(_)))
                && matches!(exit_pass_use(&store, audited).await, Ok(Some(_)))
        }
    })
    .await;
    let (location, gate, decision, _) = exit_pass_use(&store, first).await.unwrap().unwrap();
    assert_eq!(
        (location.as_str(), gate.as_str(), decision.as_str()),
        ("SH001", "gate-1", "open")
    );
    assert_eq!(
        exit_pass_use(&store, audited).await.unwrap().unwrap().2,
        "audit"
    );
    eventually("the first visit's audit reaches the server", || {
        let store = store.clone();
        async move { matches!(exit_pass_use(&store, first_visit).await, Ok(Some(u)) if u.2 == "audit") }
    })
    .await;

    // Server and broker down: the gate keeps deciding (the shopper paid before).
    let (offline, pass) = server.exit_pass("SH001", 2, 990, 300).await;
    server.stop().await.unwrap();
    scanner.scan(&pass).await;
    assert_eq!(relay.relay_command().await, OPEN);
    assert_eq!(relay.relay_command().await, CLOSE);
    scanner.scan(&pass).await;
    assert_eq!(
        relay.relay_command().await,
        ALARM_ON,
        "still single use offline"
    );

    // Back up (same database, same broker port): the offline decision arrives.
    let restarted = Server::start(server.settings.clone()).await.unwrap();
    let store = restarted.state.store.clone();
    eventually("the offline decision reaches the server", || {
        let store = store.clone();
        async move { matches!(exit_pass_use(&store, offline).await, Ok(Some(_))) }
    })
    .await;
    agent.stop().await;
    eventually("the agent's clean stop marks it offline", || {
        let store = store.clone();
        async move { matches!(presence(&store, device).await, Ok(Some(p)) if p.status == "offline") }
    })
    .await;
}

/// Two agents of one store (two exits): a pass used at one is refused at the other, which
/// learned of the use from the store bus.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pass_used_at_one_exit_is_refused_at_another() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(dir.path(), |s| {
        s.mqtt.embedded_listen = "127.0.0.1:0".parse().unwrap();
    })
    .await;
    let store = server.state.store.clone();
    let mut exits = Vec::new();
    for name in ["north", "south"] {
        let (device, credential) = server.register_edge("SH001").await;
        let scanner = pty();
        let relay = pty();
        let agent_dir = dir.path().join(name);
        std::fs::create_dir_all(&agent_dir).unwrap();
        let config = agent_config(
            &agent_dir,
            "SH001",
            device,
            &credential,
            &server.url,
            &server.broker_url(),
            [&scanner.path, &relay.path],
        );
        let agent = Agent::start(config);
        eventually("the agent is online", || {
            let store = store.clone();
            async move { matches!(presence(&store, device).await, Ok(Some(p)) if p.status == "online") }
        })
        .await;
        exits.push((agent, scanner, relay));
    }
    let (session, pass) = server.exit_pass("SH001", 2, 1_990, 300).await;
    {
        let (_, scanner, relay) = &mut exits[0];
        scanner.scan(&pass).await;
        assert_eq!(relay.relay_command().await, OPEN);
    }
    eventually("the use reaches the store bus", || {
        let store = store.clone();
        async move { matches!(exit_pass_use(&store, session).await, Ok(Some(_))) }
    })
    .await;
    // The other exit learns of the use from the store bus (read beside the running agent).
    let south = edge_agent::store::LocalStore::open(&dir.path().join("south").join("edge-data"))
        .await
        .unwrap();
    eventually("the other exit learns of the use", || {
        let south = south.clone();
        async move { south.pass_used(session).await.unwrap() }
    })
    .await;
    south.close().await;
    let (_, scanner, relay) = &mut exits[1];
    scanner.scan(&pass).await;
    assert_eq!(relay.relay_command().await, ALARM_ON);
    // A fresh pass still opens there.
    let (_, fresh) = server.exit_pass("SH001", 1, 100, 300).await;
    scanner.scan(&fresh).await;
    assert_eq!(relay.relay_command().await, ALARM_OFF);
    assert_eq!(relay.relay_command().await, OPEN);
    for (mut agent, _, _) in exits {
        agent.stop().await;
    }
}
