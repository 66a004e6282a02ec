//! Label scales (issue 21): the agent loads the store's PLU list into a virtual Dahua scale
//! (full download), sends only what changed after a price change at head office, gives a scale
//! that was switched off and lost its memory the full list when it is back, and survives a
//! scale that answers garbage or hangs up in the middle of a download; each scale's state is in
//! the agent's health on the bus.

use std::time::Duration;

use retail_devices::label_scale::PluMode;
use retail_devices::virtual_label_scale::{Behaviour, VirtualLabelScale};
use retail_domain::barcode::VariableMeasureLayout;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::support::{agent_config, eventually, pty, start_server, Agent, GateServer, Server};

/// The agent's last reported health entry of `scale-1`: (state, detail).
async fn scale_health(server: &Server, device: Uuid) -> Option<(String, String)> {
    let presence = retail_server::storage::bus::presence(&server.state.store, device)
        .await
        .ok()??;
    presence
        .health
        .as_array()?
        .iter()
        .find(|h| h["name"] == "label-scale-scale-1")
        .map(|h| {
            (
                h["state"].as_str().unwrap_or_default().to_owned(),
                h["detail"].as_str().unwrap_or_default().to_owned(),
            )
        })
}

async fn plu_list(server: &Server, token: &str) -> Value {
    let (status, list) = server
        .get("/api/v1/stores/SH001/scale-plus", Some(token))
        .await;
    assert!(status.is_success(), "{list}");
    list
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_agent_keeps_the_label_scales_loaded() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(dir.path(), |s| {
        s.mqtt.embedded_listen = "127.0.0.1:0".parse().unwrap();
    })
    .await;
    let admin = server.login("admin").await;
    let (device, credential) = server.register_edge("SH001").await;
    let scale = VirtualLabelScale::start().await.unwrap();
    let scanner = pty();
    let relay = pty();
    let agent_dir = dir.path().join("agent");
    std::fs::create_dir_all(&agent_dir).unwrap();
    let mut config = agent_config(
        &agent_dir,
        "SH001",
        device,
        &credential,
        &server.url,
        &server.broker_url(),
        [&scanner.path, &relay.path],
    );
    config.label_scales = vec![edge_agent::config::LabelScale {
        name: "scale-1".into(),
        model: "dahua-tm-a30".into(),
        addr: scale.addr().to_string(),
    }];
    config.scale_poll_secs = 1;
    let list = plu_list(&server, &admin).await;
    let total = list["items"].as_array().unwrap().len();
    assert!(total >= 22, "{total} PLUs in the demo");
    let mut agent = Agent::start(config);

    // 1. Full download: clear, then every PLU.
    eventually("the scale holds the full list", || async {
        scale.table().len() == total
    })
    .await;
    assert_eq!(scale.clears(), 1);
    assert_eq!(scale.commands(), total + 1);
    let apples = scale.table()[&1].clone();
    assert_eq!(
        (
            apples.item_code,
            apples.unit_price_fen,
            apples.mode,
            apples.barcode_flag
        ),
        (10001, 1290, PluMode::Weighed, 20)
    );
    assert!(apples.name.contains("苹果"), "{}", apples.name);
    let version = list["version"].as_str().unwrap().to_owned();
    eventually("the health names the loaded version", || async {
        scale_health(&server, device)
            .await
            .is_some_and(|(state, detail)| state == "ok" && detail.contains(&version))
    })
    .await;
    // A label printed by the scale reads back as the PLU and the printed price.
    let (label, fen) = scale
        .print_label(1, 1500, &VariableMeasureLayout::cn_default())
        .unwrap();
    assert_eq!(fen, 1935, "1.5 kg at ¥12.90");
    assert!(label.starts_with("2010001"), "{label}");

    // 2. A price change at head office: only that PLU is sent.
    let sku = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["key"] == 1)
        .unwrap()["sku_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, body) = server
        .put(
            &format!("/api/v1/stores/SH001/prices/{sku}"),
            Some(&admin),
            json!({"price": "9.90"}),
        )
        .await;
    assert!(status.is_success(), "{body}");
    eventually("the new price reaches the scale", || async {
        scale.table()[&1].unit_price_fen == 990
    })
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(scale.clears(), 1, "no full download for a price change");
    assert_eq!(scale.commands(), total + 2, "one record sent");

    // 3. The scale is switched off and comes back with an empty memory: the full list.
    scale.power_off();
    eventually("the health says the scale is unreachable", || async {
        scale_health(&server, device)
            .await
            .is_some_and(|(state, detail)| state == "fault" && detail.contains("cannot connect"))
    })
    .await;
    scale.power_on(false).await.unwrap();
    eventually("the restarted scale gets the full list", || async {
        scale.table().len() == total
    })
    .await;
    assert_eq!(scale.clears(), 2);
    assert_eq!(scale.table()[&1].unit_price_fen, 990);

    // 4. Garbage answers: a clear fault, nothing assumed; then back to normal, the full list.
    scale.set_behaviour(Behaviour::Garbage);
    let (status, _) = server
        .put(
            &format!("/api/v1/stores/SH001/prices/{sku}"),
            Some(&admin),
            json!({"price": "10.90"}),
        )
        .await;
    assert!(status.is_success());
    eventually("the health reports the garbage", || async {
        scale_health(&server, device)
            .await
            .is_some_and(|(state, detail)| state == "fault" && detail.contains("garbage"))
    })
    .await;
    let clears = scale.clears();
    scale.set_behaviour(Behaviour::Normal);
    eventually("after garbage the scale gets the full list", || async {
        scale.clears() > clears && scale.table().len() == total
    })
    .await;
    assert_eq!(scale.table()[&1].unit_price_fen, 1090);

    // 5. A disconnect in the middle of a full download: retried, the list completes.
    scale.power_off();
    eventually("the agent saw the scale off", || async {
        scale_health(&server, device)
            .await
            .is_some_and(|(state, _)| state == "fault")
    })
    .await;
    let clears = scale.clears();
    scale.set_behaviour(Behaviour::DisconnectAfter(5));
    scale.power_on(false).await.unwrap();
    eventually("the interrupted download is done again", || async {
        scale.clears() >= clears + 2 && scale.table().len() == total
    })
    .await;
    eventually("healthy again", || async {
        scale_health(&server, device)
            .await
            .is_some_and(|(state, _)| state == "ok")
    })
    .await;
    agent.stop().await;
}

/// `edge-agent check` validates the label-scale profiles with the other device profiles: the
/// repository's pass, and a broken one fails the check with the file named.
#[test]
fn check_validates_the_label_scale_profiles() {
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../firmware-config");
    let run = |folder: &std::path::Path| {
        std::process::Command::new(env!("CARGO_BIN_EXE_edge-agent"))
            .arg("check")
            .arg(folder)
            .output()
            .expect("edge-agent check runs")
    };
    let out = run(&repo);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("OK    label-scales/dahua-tm-a30.toml"),
        "{text}"
    );

    let dir = tempfile::tempdir().expect("dir");
    std::fs::create_dir(dir.path().join("label-scales")).expect("mkdir");
    let good = std::fs::read_to_string(repo.join("label-scales/dahua-tm-a30.toml")).expect("read");
    std::fs::write(
        dir.path().join("label-scales/dahua-tm-a30.toml"),
        good.replace("protocol = \"dahua-tm\"", "protocol = \"morse\""),
    )
    .expect("write");
    let out = run(dir.path());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{text}");
    assert!(
        text.contains("ERROR label-scales/dahua-tm-a30.toml"),
        "{text}"
    );
}
