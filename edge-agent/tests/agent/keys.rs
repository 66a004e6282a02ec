//! The code-verifier key (issue 15, finding 7): the agent fetches it with its device credential
//! and pins the first key it trusted. A server answering another key — a LAN attacker
//! impersonating the server over plain HTTP — is refused: the agent keeps its pinned key, so
//! passes the attacker signs are denied and the chain's passes still open the gate. Only an
//! explicit rotation (the new key in the agent's configuration) changes the key.

use std::sync::{Arc, Mutex};

use retail_domain::codes::{CodeSigner, ExitPass, SignedCode};
use retail_domain::money::Money;
use retail_server::storage::bus::presence;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use uuid::Uuid;

use crate::support::{
    agent_config, eventually, free_port, pty, start_server, Agent, GateServer, ALARM_OFF, ALARM_ON,
    OPEN,
};

/// Requests a fake server saw: (path, `Authorization` header).
type RequestLog = Arc<Mutex<Vec<(String, Option<String>)>>>;

/// A fake server: answers `GET /api/v1/devices/me` with `identity` and every other request
/// with `{"public_key": key}`; records each request's path and `Authorization` header.
struct FakeServer {
    url: String,
    requests: RequestLog,
}

impl FakeServer {
    async fn start(identity: Value, key: String) -> FakeServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let requests: RequestLog = Arc::default();
        let log = requests.clone();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let (log, identity, key) = (log.clone(), identity.clone(), key.clone());
                tokio::spawn(async move {
                    let mut head = Vec::new();
                    let mut chunk = [0u8; 4096];
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                        match socket.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => head.extend_from_slice(&chunk[..n]),
                        }
                    }
                    let head = String::from_utf8_lossy(&head).into_owned();
                    let path = head.split_whitespace().nth(1).unwrap_or("").to_owned();
                    let auth = head.lines().find_map(|line| {
                        let (name, value) = line.split_once(':')?;
                        name.eq_ignore_ascii_case("authorization")
                            .then(|| value.trim().to_owned())
                    });
                    log.lock().unwrap().push((path.clone(), auth));
                    let body = if path == "/api/v1/devices/me" {
                        identity.to_string()
                    } else {
                        json!({ "public_key": key }).to_string()
                    };
                    let response = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = socket.write_all(response.as_bytes()).await;
                    let _ = socket.shutdown().await;
                });
            }
        });
        FakeServer { url, requests }
    }

    fn requests(&self) -> Vec<(String, Option<String>)> {
        self.requests.lock().unwrap().clone()
    }
}

fn pass_signed_by(signer: &CodeSigner) -> String {
    signer.sign(&SignedCode::ExitPass(ExitPass {
        session_id: Uuid::now_v7(),
        store: "SH001".into(),
        item_count: 1,
        total: Money::from_fen(990),
        expires_at: chrono::Utc::now() + chrono::Duration::seconds(300),
        visit: Some(2),
    }))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_code_verifier_key_is_refused_and_the_pinned_key_kept() {
    let dir = tempfile::tempdir().unwrap();
    let broker_port = free_port().unwrap();
    let server = start_server(dir.path(), |s| {
        s.mqtt.embedded_listen = format!("127.0.0.1:{broker_port}").parse().unwrap();
    })
    .await;
    let (device, credential) = server.register_edge("SH001").await;
    let store = server.state.store.clone();
    let agent_dir = dir.path().join("agent");
    std::fs::create_dir_all(&agent_dir).unwrap();
    let chain_key = server.state.keys.signer.verifier().public_b64();
    let online_since = |after: chrono::DateTime<chrono::Utc>| {
        let store = store.clone();
        move || {
            let store = store.clone();
            async move {
                matches!(presence(&store, device).await,
                    Ok(Some(p)) if p.status == "online" && p.received_at > after.timestamp_millis())
            }
        }
    };

    // 1. Against the real server: the key fetched with the credential is pinned.
    let (mut scanner, mut relay) = (pty(), pty());
    let config = agent_config(
        &agent_dir,
        "SH001",
        device,
        &credential,
        &server.url,
        &server.broker_url(),
        [&scanner.path, &relay.path],
    );
    let started = chrono::Utc::now();
    let mut agent = Agent::start(config);
    eventually("the agent is online", online_since(started)).await;
    let (_, pass) = server.exit_pass("SH001", 1, 990, 300).await;
    scanner.scan(&pass).await;
    assert_eq!(relay.relay_command().await, OPEN);
    agent.stop().await;

    // 2. An attacker answers for the server (the real identity, its own key).
    let attacker = CodeSigner::generate();
    let (status, identity) = server.get("/api/v1/devices/me", Some(&credential)).await;
    assert!(status.is_success(), "{identity}");
    let fake = FakeServer::start(identity, attacker.verifier().public_b64()).await;
    let (mut scanner, mut relay) = (pty(), pty());
    let config = agent_config(
        &agent_dir,
        "SH001",
        device,
        &credential,
        &fake.url,
        &server.broker_url(),
        [&scanner.path, &relay.path],
    );
    let started = chrono::Utc::now();
    let mut agent = Agent::start(config.clone());
    eventually("the agent is online again", online_since(started)).await;
    // It asked for the key with its credential, never on the anonymous route.
    let requests = fake.requests();
    assert!(
        requests.contains(&(
            "/api/v1/devices/me/code-verifier".to_owned(),
            Some(format!("Bearer {credential}"))
        )),
        "{requests:?}"
    );
    assert!(
        !requests
            .iter()
            .any(|(p, _)| p == "/api/v1/keys/code-verifier"),
        "{requests:?}"
    );
    // The attacker's pass is denied; the chain's pass still opens.
    scanner.scan(&pass_signed_by(&attacker)).await;
    assert_eq!(relay.relay_command().await, ALARM_ON, "forged pass denied");
    let (_, pass) = server.exit_pass("SH001", 1, 990, 300).await;
    scanner.scan(&pass).await;
    assert_eq!(relay.relay_command().await, ALARM_OFF);
    assert_eq!(relay.relay_command().await, OPEN, "the pinned key verifies");
    agent.stop().await;
    let local = edge_agent::store::LocalStore::open(&config.data_dir)
        .await
        .unwrap();
    assert_eq!(
        local.get("code_verifier").await.unwrap().as_deref(),
        Some(chain_key.as_str())
    );
    local.close().await;

    // 3. An explicit rotation (the new key in the configuration) is what changes the key.
    let rotated = CodeSigner::generate();
    let (mut scanner, mut relay) = (pty(), pty());
    let mut config = agent_config(
        &agent_dir,
        "SH001",
        device,
        &credential,
        &server.url,
        &server.broker_url(),
        [&scanner.path, &relay.path],
    );
    config.code_verifier_key = Some(rotated.verifier().public_b64());
    let started = chrono::Utc::now();
    let mut agent = Agent::start(config);
    eventually(
        "the agent is online after the rotation",
        online_since(started),
    )
    .await;
    scanner.scan(&pass_signed_by(&rotated)).await;
    assert_eq!(
        relay.relay_command().await,
        OPEN,
        "the rotated key verifies"
    );
    agent.stop().await;
}
