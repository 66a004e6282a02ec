//! TLS everywhere (issue 15, finding 7), with the real server, lanes and edge agents, on SQLite
//! and on PostgreSQL:
//!
//! * a lane pinning the chain's CA syncs, sells and pushes over HTTPS, and hears the store bus
//!   over MQTT over TLS; pinning another CA, it is refused before anything is sent (its first
//!   start fails naming the certificate; a journalled sale stays unsent until the right CA);
//! * an edge agent pinning the chain's CA comes online on the embedded broker over TLS and on a
//!   private Mosquitto's TLS listener (the server itself connecting over `mqtts://` too);
//!   another CA's trust, or plain MQTT on the TLS port, gets no session.

use std::time::Duration;

use retail_devices::server_link::ServerTrust;
use retail_domain::money::Money;
use retail_testkit::edge::{EdgeHandle, EdgeOptions};
use retail_testkit::lane::{LaneHandle, LaneOptions};
use retail_testkit::tls::{pki_dir, serve_tls, CaFiles, TestPki};
use retail_testkit::{Backend, Mosquitto, TestServer};
use rumqttc::{AsyncClient, Event, MqttOptions, Packet};
use uuid::Uuid;

/// Generous: conditions are waited for, never timed.
const WAIT: Duration = Duration::from_secs(60);

/// Whether the server has a lane sale (`GET /pos/sales/{id}` as head office).
async fn server_has_sale(app: &TestServer, token: &str, id: Uuid) -> bool {
    app.get(&format!("/api/v1/pos/sales/{id}"), Some(token))
        .await
        .0
        .is_success()
}

fn lane_options(
    app: &TestServer,
    credential: &str,
    ca: &CaFiles,
    dir: &std::path::Path,
) -> LaneOptions {
    LaneOptions {
        store: "SH001".into(),
        number: 1,
        cashier: "cashier1.sh001".into(),
        server_url: app.url.clone(),
        ca_file: Some(ca.ca_file.clone()),
        credential: credential.to_owned(),
        mqtt_url: Some(app.broker_url()),
        data_dir: dir.to_path_buf(),
        pin: retail_testkit::server::DEMO_PIN.into(),
        store_name: "鲜邻超市 上海一店".into(),
    }
}

async fn a_lane_sells_over_https_pinning_the_chain_ca(backend: Backend) {
    let Some(app) = TestServer::spawn_with(backend, |s| {
        serve_tls(s);
        s.mqtt.enabled = true;
    })
    .await
    else {
        return;
    };
    app.wait_subscribed().await;
    let pki = app.pki();
    assert!(app.url.starts_with("https://") && app.broker_url().starts_with("mqtts://"));
    let (device, credential) = app
        .register_device("mgr.sh001", "SH001", "pos", "Lane 1 (TLS)")
        .await;
    let admin = app.login("admin").await;
    let barcode = app.packaged_barcode("SH001", 10).await;
    let dir = tempfile::tempdir().unwrap();
    let lane_dir = dir.path().join("lane");

    // 1. Pinning the chain's CA: catalog, pricing context, the store bus over TLS, a sale pushed.
    let mut lane = LaneHandle::start(
        lane_options(&app, &credential, &pki.chain, &lane_dir),
        false,
    )
    .await
    .unwrap();
    let sessions = app.state.device_sessions.clone().unwrap();
    retail_testkit::wait_until("the lane is on the store bus over TLS", WAIT, || {
        let sessions = sessions.clone();
        async move { sessions.connections(device) > 0 }
    })
    .await;
    lane.ok("shift open 100.00").await.unwrap();
    let first = lane.sell_one_for_cash(&barcode).await.unwrap().id;
    retail_testkit::wait_until("the sale reaches the server over HTTPS", WAIT, || {
        let (app, admin) = (&app, &admin);
        async move { server_has_sale(app, admin, first).await }
    })
    .await;
    lane.stop().await.unwrap();

    // 2. The same lane pinning an unrelated CA: the server's certificate is refused, so the lane
    //    starts offline (it has its catalog) and sells into its journal.
    let mut lane = LaneHandle::start(
        lane_options(&app, &credential, &pki.other, &lane_dir),
        false,
    )
    .await
    .unwrap();
    let second = lane.sell_one_for_cash(&barcode).await.unwrap().id;
    lane.stop().await.unwrap();
    // Its push (the lane's own code, this trust) is refused in the handshake: nothing sent.
    let db = pos_terminal::store::LaneDb::open(&lane_dir.join("lane.db"))
        .await
        .unwrap();
    let other =
        pos_terminal::server_api::ServerApi::with_trust(&app.url, &credential, &pki.other.trust());
    let err = pos_terminal::sync::push_unsent(&db, &other, 500)
        .await
        .expect_err("the other CA's trust refuses the server");
    assert!(err.is_offline(), "{err}");
    let text = err.to_string();
    assert!(
        text.contains("certificate") && text.contains("nothing was sent"),
        "{text}"
    );
    assert_eq!(db.counts().await.unwrap().unsent, 1);
    assert!(!server_has_sale(&app, &admin, second).await);
    // With the chain's CA the same sale goes through: it was there to send all along.
    let chain =
        pos_terminal::server_api::ServerApi::with_trust(&app.url, &credential, &pki.chain.trust());
    let report = pos_terminal::sync::push_unsent(&db, &chain, 500)
        .await
        .unwrap();
    assert_eq!(report.applied, 1);
    assert!(server_has_sale(&app, &admin, second).await);
    db.pool().close().await;

    // 3. A new lane pinning the other CA cannot even start: the first start needs the server.
    let err = LaneHandle::start(
        lane_options(&app, &credential, &pki.other, &dir.path().join("new-lane")),
        false,
    )
    .await
    .err()
    .map(|e| format!("{e:#}"))
    .expect("the first start is refused");
    assert!(err.contains("certificate"), "{err}");
    assert!(
        err.contains(&pki.other.ca_file.display().to_string()),
        "the refusal names the pinned CA: {err}"
    );
}

mod a_lane_sells_over_https_pinning_the_chain_ca {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        super::a_lane_sells_over_https_pinning_the_chain_ca(retail_testkit::Backend::Sqlite).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        super::a_lane_sells_over_https_pinning_the_chain_ca(retail_testkit::Backend::Postgres)
            .await;
    }
}

/// Connects a device's MQTT client with `transport` to `host:port` and returns how the first
/// answer went: `Ok(())` for a CONNACK accepting it, else the error's text.
async fn mqtt_connect(
    host: &str,
    port: u16,
    device: Uuid,
    credential: &str,
    transport: rumqttc::Transport,
) -> Result<(), String> {
    let mut options = MqttOptions::new(format!("edge-{}", device.simple()), host, port);
    options.set_credentials(device.to_string(), credential);
    options.set_transport(transport);
    let (_client, mut events) = AsyncClient::new(options, 10);
    loop {
        match tokio::time::timeout(WAIT, events.poll()).await {
            Err(_) => return Err("no answer".into()),
            Ok(Ok(Event::Incoming(Packet::ConnAck(ack)))) => {
                return if ack.code == rumqttc::ConnectReturnCode::Success {
                    Ok(())
                } else {
                    Err(format!("{:?}", ack.code))
                };
            }
            Ok(Ok(_)) => {}
            Ok(Err(err)) => return Err(retail_devices::server_link::error_chain(&err)),
        }
    }
}

/// The edge agent of SH001 pinning `ca`, on `broker_url`.
async fn edge_agent(
    app: &TestServer,
    device: Uuid,
    credential: &str,
    broker_url: String,
    ca: &CaFiles,
    dir: &std::path::Path,
) -> EdgeHandle {
    EdgeHandle::start(
        EdgeOptions {
            store: "SH001".into(),
            device_id: device,
            credential: credential.to_owned(),
            server_url: app.url.clone(),
            broker_url,
            ca_file: Some(ca.ca_file.clone()),
            data_dir: dir.to_path_buf(),
            audit_over: Money::from_fen(30_000),
        },
        false,
    )
    .await
    .unwrap()
}

/// What a device pinning the other CA gets from the broker at `host:port` (TLS): the handshake
/// refused, naming the certificate; and plain MQTT on that port gets no session either.
async fn refused_on(host: &str, port: u16, device: Uuid, credential: &str, pki: &TestPki) {
    let other = pki.other.trust();
    let err = mqtt_connect(host, port, device, credential, other.mqtt_transport(true))
        .await
        .expect_err("the other CA's trust refuses the broker");
    assert!(err.contains("certificate"), "{err}");
    let plain = mqtt_connect(host, port, device, credential, rumqttc::Transport::Tcp).await;
    assert!(plain.is_err(), "plain MQTT on the TLS port: {plain:?}");
    // The chain's trust on the same port is accepted (the refusals above are the CA's doing).
    assert_eq!(
        mqtt_connect(
            host,
            port,
            device,
            credential,
            pki.chain.trust().mqtt_transport(true)
        )
        .await,
        Ok(())
    );
}

async fn an_edge_agent_on_the_embedded_broker_over_tls(backend: Backend) {
    let Some(app) = TestServer::spawn_with(backend, |s| {
        serve_tls(s);
        s.mqtt.enabled = true;
    })
    .await
    else {
        return;
    };
    app.wait_subscribed().await;
    let pki = app.pki();
    let (device, credential) = app
        .register_device("admin", "SH001", "edge", "Edge SH001 (TLS)")
        .await;
    let dir = tempfile::tempdir().unwrap();
    let (host, port) = app.broker().unwrap();

    let mut agent = edge_agent(
        &app,
        device,
        &credential,
        app.broker_url(),
        &pki.chain,
        dir.path(),
    )
    .await;
    app.wait_online(device).await;
    agent.stop().await.unwrap();
    // It fetched the code-verifier key over HTTPS with its credential (before going online).
    let local = edge_agent::store::LocalStore::open(&dir.path().join("agent"))
        .await
        .unwrap();
    assert_eq!(
        local.get("code_verifier").await.unwrap(),
        Some(app.state.keys.verifier().public_b64())
    );
    local.close().await;

    refused_on(&host, port, device, &credential, &pki).await;
    // The agent's identity check with the other CA's trust names the refused certificate.
    let http = edge_agent::http_client(&pki.other.trust()).unwrap();
    let err = edge_agent::identify(&http, &app.url, &credential)
        .await
        .expect_err("refused");
    let text = err.to_string();
    assert!(
        text.contains("certificate") && text.contains("nothing was sent"),
        "{text}"
    );
}

mod an_edge_agent_on_the_embedded_broker_over_tls {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        super::an_edge_agent_on_the_embedded_broker_over_tls(retail_testkit::Backend::Sqlite).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        super::an_edge_agent_on_the_embedded_broker_over_tls(retail_testkit::Backend::Postgres)
            .await;
    }
}

async fn an_edge_agent_on_mosquittos_tls_listener(backend: Backend) {
    let Some(binary) = retail_testkit::broker::binary_or_skip() else {
        return;
    };
    let (port, tls_port) = (
        retail_testkit::free_port().unwrap(),
        retail_testkit::free_port().unwrap(),
    );
    let password = format!("sv_{}", Uuid::now_v7().simple());
    let server_password = password.clone();
    // The server too reaches Mosquitto over TLS (`mqtts://`, pinning the chain's CA).
    let Some(app) = TestServer::spawn_with(backend, move |s| {
        serve_tls(s);
        let pki = TestPki::at(&pki_dir(s));
        s.mqtt.enabled = true;
        s.mqtt.url = format!("mqtts://server:{server_password}@127.0.0.1:{tls_port}");
        s.mqtt.ca_file = pki.chain.ca_file.display().to_string();
        s.mqtt.client_id = format!("retail-server-{}", Uuid::now_v7().simple());
    })
    .await
    else {
        return;
    };
    let pki = app.pki();
    let (device, credential) = app
        .register_device("admin", "SH001", "edge", "Edge SH001 (Mosquitto TLS)")
        .await;
    let dir = tempfile::tempdir().unwrap();
    let files = app
        .mosquitto_files(Some(("server", &password)))
        .await
        .unwrap();
    let broker_dir = dir.path().join("mosquitto");
    retail_server::bus::mosquitto::write(&files, &broker_dir).unwrap();
    let mut broker = Mosquitto::with_logins(&binary, &broker_dir, port)
        .unwrap()
        .with_tls(tls_port, &pki.chain)
        .unwrap();
    broker.start().await.unwrap();
    tokio::time::timeout(WAIT, app.wait_subscribed())
        .await
        .expect("the server subscribes on Mosquitto over TLS");

    let mut agent = edge_agent(
        &app,
        device,
        &credential,
        broker.tls_url(),
        &pki.chain,
        &dir.path().join("agent"),
    )
    .await;
    // Its presence travels device → Mosquitto (TLS) → server (TLS).
    app.wait_online(device).await;
    agent.stop().await.unwrap();

    refused_on("127.0.0.1", tls_port, device, &credential, &pki).await;
    broker.stop().await;
}

mod an_edge_agent_on_mosquittos_tls_listener {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        super::an_edge_agent_on_mosquittos_tls_listener(retail_testkit::Backend::Sqlite).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        super::an_edge_agent_on_mosquittos_tls_listener(retail_testkit::Backend::Postgres).await;
    }
}

/// Whom a device trusts with no `ca_file`: the operating system's roots, which do not include
/// the test chain's CA — so even without pinning a private CA's certificate is not accepted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_ca_file_the_system_roots_do_not_trust_a_private_ca() {
    let app = TestServer::sqlite_with(serve_tls).await;
    let system = ServerTrust::load(None).unwrap();
    let client = system.http_client(reqwest::Client::builder()).unwrap();
    let err = client
        .get(format!("{}/healthz", app.url))
        .send()
        .await
        .expect_err("not a publicly trusted certificate");
    assert!(
        system.explain(&err).contains("certificate"),
        "{}",
        system.explain(&err)
    );
}
