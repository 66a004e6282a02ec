//! A POS lane and an edge agent identify themselves to a real server with their own
//! credentials; revoking a credential locks the device out at once.

#![allow(clippy::unwrap_used, missing_docs)]

use retail_server::config::{Secrets, Settings};
use serde_json::{json, Value};
use uuid::Uuid;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn devices_identify_and_are_revocable() {
    let dir = tempfile::tempdir().unwrap();
    let settings = Settings {
        listen: "127.0.0.1:0".parse().unwrap(),
        database_url: format!("sqlite://{}", dir.path().join("retail.db").display()),
        data_dir: dir.path().to_path_buf(),
        secrets: Secrets::generate(),
        ..Settings::default()
    };
    let app = retail_server::Application::build(settings).await.unwrap();
    let url = format!("http://{}", app.local_addr());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until(async move {
        let _ = stopped.await;
    }));
    let http = reqwest::Client::new();
    let login: Value = http
        .post(format!("{url}/api/v1/auth/login"))
        .json(&json!({"username": "mgr.sh001", "password": "demo1234"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = login["token"].as_str().unwrap();
    let mut credentials = Vec::new();
    for kind in ["pos", "edge"] {
        let id = Uuid::now_v7();
        let body: Value = http
            .post(format!("{url}/api/v1/devices"))
            .bearer_auth(token)
            .json(&json!({"id": id, "location_id": "SH001", "kind": kind, "name": format!("{kind} 1")}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        credentials.push((id, body["credential"].as_str().unwrap().to_owned()));
    }
    // The lane's configuration file (the lane database goes into the temporary folder).
    let lane_toml = dir.path().join("lane.toml");
    std::fs::write(
        &lane_toml,
        format!(
            "server_url = \"{url}\"\ncredential = \"{}\"\nlane = 1\ncashier = \"cashier1.sh001\"\n\
             data_dir = \"lane\"\nfirmware_dir = \"{}\"\n\
             scanner_profile = \"honeywell-voyager-1450g-cdc\"\nprinter_profile = \"epson-tm-t88v\"\n\
             printer = \"file:/dev/null\"\n",
            credentials[0].1,
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../firmware-config")
                .display()
        ),
    )
    .unwrap();
    let mut lane = pos_terminal::Config::load(&lane_toml).unwrap();
    lane.headless = true;
    let agent = edge_agent::Config {
        server_url: url.clone(),
        credential: credentials[1].1.clone(),
    };
    assert_eq!(
        pos_terminal::identify(&lane).await.unwrap().location_id,
        "SH001"
    );
    assert_eq!(
        edge_agent::identify(&agent).await.unwrap().location_id,
        "SH001"
    );
    // A lane credential does not work as an edge agent's.
    let swapped = edge_agent::Config {
        server_url: url.clone(),
        credential: credentials[0].1.clone(),
    };
    assert!(edge_agent::identify(&swapped).await.is_err());
    // Revoked: the lane refuses to start, with the server's reason.
    http.post(format!("{url}/api/v1/devices/{}/revoke", credentials[0].0))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let err = pos_terminal::run(lane, async {})
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("revoked"), "{err}");
    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
}
