//! Devices: the real binary's virtual scanner survives garbage, overlong frames and unknown
//! codes; the receipt bytes the binary prints decode to the sale (Chinese names, QR = receipt
//! code, exact cut and drawer bytes); an MQTT catalog notice makes the lane pull at once. (A
//! serial scanner unplugged and plugged back is a unit test of `retail_devices::scanner_line`.)

use std::time::Duration;

use pos_terminal::store::LaneDb;
use retail_devices::receipt::decode_text;
use retail_domain::codes::SignedCode;
use serde_json::json;

use crate::binary::{write_config, LaneProcess};
use crate::core::qr_payload;
use crate::support::{lane_sku, member_id, LaneServer, TestApp};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn virtual_scanner_survives_bad_input_and_receipts_decode() {
    let app = TestApp::sqlite().await;
    let (_, credential) = app.register_lane("Lane 1").await;
    let dir = tempfile::tempdir().expect("dir");
    let config = write_config(&app, &credential, dir.path(), "");
    let mut lane = LaneProcess::start(&config).await;

    // Garbage, an overlong frame, an unknown code: reported, nothing added.
    lane.scan_bytes(b"\x01\x02\xff\xfegarbage\r");
    let answer = lane.answer().await;
    assert!(answer.starts_with("ERR scanner sent garbage"), "{answer}");
    lane.scan_bytes(&[b'7'; 2000]);
    lane.scan_bytes(b"\r");
    let answer = lane.answer().await;
    assert!(answer.contains("longer than"), "{answer}");
    let answer = lane.scan("6901234567891").await;
    assert!(answer.starts_with("ERR unknown code"), "{answer}");
    let answer = lane.scan("6900000000007").await;
    assert!(answer.contains("not in the catalog"), "{answer}");
    let status = lane.command("status").await;
    assert!(status.contains("lines 0"), "{status}");
    let answer = lane.command("qty 1 0").await;
    assert!(answer.starts_with("ERR"), "{answer}");
    let answer = lane.command("frobnicate").await;
    assert!(answer.starts_with("ERR unknown command"), "{answer}");

    // A real sale still works, with an AIM prefix and CR LF.
    let sku = lane_sku(&dir.path().join("data")).await;
    lane.scan_bytes(format!("]E0{}\r\n", sku.barcodes[0]).as_bytes());
    let answer = lane.answer().await;
    assert!(answer.starts_with("OK line 1"), "{answer}");
    let answer = lane.command("pay balance 1.00").await;
    assert!(answer.contains("identify the member"), "{answer}");
    lane.send("pay cash 1000.00").await;
    let sale = lane.expect_line(|l| l.starts_with("SALE ")).await;
    let sale_id = sale.split_whitespace().nth(1).expect("id").to_owned();
    let answer = lane.answer().await;
    assert!(answer.contains("receipt printed"), "{answer}");
    let answer = lane.command("reprint").await;
    assert!(answer.contains("reprinted"), "{answer}");
    lane.kill().await;

    // The receipt file: the sale's receipt (cut, then drawer kick), then the reprint (no kick).
    let bytes = std::fs::read(dir.path().join("data").join("receipts.bin")).expect("receipts");
    let cut = [0x1D, 0x56, 0x42, 0x00];
    let kick = [0x1B, 0x70, 0x00, 0x19, 0xFA];
    let first_end = bytes
        .windows(9)
        .position(|w| w[..4] == cut && w[4..] == kick)
        .expect("cut then drawer kick")
        + 9;
    let (first, reprint) = bytes.split_at(first_end);
    assert!(reprint.ends_with(&cut), "the reprint ends with the cut");
    assert!(
        !reprint.windows(5).any(|w| w == kick),
        "a reprint does not open the drawer"
    );
    assert!(
        first.starts_with(&[0x1B, 0x40, 0x1C, 0x26]),
        "init, Kanji mode"
    );
    let text = decode_text(first);
    assert!(text.contains(&sku.name_zh), "{text}");
    assert!(text.contains("鲜邻超市 上海一店"), "{text}");
    assert!(text.contains("现金"), "{text}");
    let code = qr_payload(first).expect("qr");
    let db = LaneDb::open(&dir.path().join("data").join("lane.db"))
        .await
        .expect("db");
    let signer = db.receipt_signer().await.expect("signer");
    match signer.verifier().verify(&code, chrono::Utc::now()) {
        Ok(SignedCode::Receipt(r)) => {
            assert_eq!(r.sale_id.to_string(), sale_id);
            assert_eq!(r.store, "SH001");
        }
        other => panic!("not a receipt code: {other:?}"),
    }
    let txt = std::fs::read_to_string(dir.path().join("data").join("receipts.bin.txt"))
        .expect("readable copy");
    assert!(txt.contains(&sku.name_zh), "{txt}");
}

/// A server with its embedded broker and a lane process on its bus (catalog polling off, so
/// only notices make it pull), connected.
async fn lane_on_the_bus() -> (TestApp, LaneProcess, tempfile::TempDir) {
    let app = TestApp::sqlite_with(|s| {
        s.mqtt.enabled = true;
        s.mqtt.url = String::new();
        s.mqtt.embedded_listen = "127.0.0.1:0".parse().expect("addr");
    })
    .await;
    let (host, port) = app.broker().expect("broker");
    let (_, credential) = app.register_lane("Lane 1").await;
    let dir = tempfile::tempdir().expect("dir");
    let config = write_config(
        &app,
        &credential,
        dir.path(),
        &format!("mqtt_url = \"mqtt://{host}:{port}\"\ncatalog_poll_secs = 3600"),
    );
    let lane = LaneProcess::start(&config).await;
    // Let the bus connect (the lane pulls once on connecting).
    tokio::time::sleep(Duration::from_secs(2)).await;
    (app, lane, dir)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catalog_notice_makes_the_lane_pull_at_once() {
    let (app, mut lane, dir) = lane_on_the_bus().await;
    let sku = lane_sku(&dir.path().join("data")).await;
    let admin = app.login("admin").await;
    let (status, body) = app
        .put(
            &format!("/api/v1/skus/{}/price", sku.id),
            Some(&admin),
            json!({"price": "1234.50"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    lane.expect_line(|l| l.starts_with("EVENT catalog updated"))
        .await;
    let answer = lane.scan(&sku.barcodes[0]).await;
    if sku.store_price.is_none() {
        assert!(answer.contains("total 1234.50"), "{answer}");
    }
    lane.kill().await;
}

/// Head office's middle platform changes the tier of the member on the sale: the lane hears it
/// on the store bus at once, takes the new tier and prices the sale again; a member not on the
/// sale changes nothing at the lane.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tier_change_reaches_the_lane_holding_the_member() {
    let (app, mut lane, dir) = lane_on_the_bus().await;
    let sku = lane_sku(&dir.path().join("data")).await;
    let answer = lane.scan(&sku.barcodes[0]).await;
    assert!(answer.starts_with("OK line"), "{answer}");
    let member = member_id(&app, "13800138003").await;
    let answer = lane.command("member 13800138003").await;
    assert!(answer.starts_with("OK member"), "{answer}");
    assert!(!answer.contains("钻石会员"), "{answer}");
    let admin = app.login("admin").await;
    let other = member_id(&app, "13800138001").await;
    let (status, report) = app
        .post(
            "/api/v1/sync/member-tiers",
            Some(&admin),
            json!({"batch_id": "lane-tier-1", "changes": [
                {"member_id": other, "tier": "gold", "seq": 1},
                {"member_id": member, "tier": "diamond", "seq": 1},
            ]}),
        )
        .await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["rejected"], 0, "{report}");
    let told = lane
        .expect_line(|l| l.starts_with("EVENT member's tier is now"))
        .await;
    assert!(
        told.contains("钻石会员") && told.contains("total"),
        "{told}"
    );
    // The sale goes on with the member at the new tier.
    let answer = lane.command("member 13800138003").await;
    assert!(answer.contains("钻石会员"), "{answer}");
    lane.kill().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn printer_offline_the_sale_completes_and_the_receipt_waits() {
    let app = TestApp::sqlite().await;
    let (_, credential) = app.register_lane("Lane 1").await;
    let dir = tempfile::tempdir().expect("dir");
    // Nothing listens there: the printer is "offline".
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = closed.local_addr().expect("addr");
    drop(closed);
    let config = write_config(
        &app,
        &credential,
        dir.path(),
        &format!("printer = \"tcp:{addr}\""),
    );
    let mut lane = LaneProcess::start(&config).await;
    let sku = lane_sku(&dir.path().join("data")).await;
    lane.scan(&sku.barcodes[0]).await;
    lane.send("pay cash 1000.00").await;
    let sale = lane.expect_line(|l| l.starts_with("SALE ")).await;
    let id = sale.split_whitespace().nth(1).expect("id").to_owned();
    let answer = lane.answer().await;
    assert!(
        answer.starts_with("OK sale")
            && answer.contains("printer offline")
            && answer.contains("reprint"),
        "{answer}"
    );
    let answer = lane.command("reprint").await;
    assert!(answer.starts_with("ERR printer offline"), "{answer}");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while lane.unsent().await > 0 {
        assert!(tokio::time::Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let status = lane.command("status").await;
    assert!(status.contains("unprinted 1"), "{status}");
    lane.kill().await;
    assert_eq!(app.server_sales().await.get(&id).map(|s| s.0), Some(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starts_and_sells_offline_after_the_first_sync() {
    let mut app = TestApp::sqlite().await;
    let (_, credential) = app.register_lane("Lane 1").await;
    let dir = tempfile::tempdir().expect("dir");
    let config = write_config(&app, &credential, dir.path(), "");
    let lane = LaneProcess::start(&config).await;
    lane.kill().await;
    let addr = app.addr();
    app.stop().await.expect("the server stops cleanly");

    let mut lane = LaneProcess::start(&config).await;
    let sku = lane_sku(&dir.path().join("data")).await;
    let answer = lane.scan(&sku.barcodes[0]).await;
    assert!(answer.starts_with("OK line 1"), "{answer}");
    let answer = lane.command("member 13800138002").await;
    assert!(answer.starts_with("ERR offline:"), "{answer}");
    lane.send("pay cash 500.00").await;
    let sale = lane.expect_line(|l| l.starts_with("SALE ")).await;
    let id = sale.split_whitespace().nth(1).expect("id").to_owned();
    lane.answer().await;
    let status = lane.command("status").await;
    assert!(status.starts_with("OK offline unsent 1"), "{status}");

    // The server comes back: the sale is pushed.
    app.start_again(addr).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while lane.unsent().await > 0 {
        assert!(tokio::time::Instant::now() < deadline, "not pushed");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    lane.kill().await;
    assert_eq!(app.server_sales().await.get(&id), Some(&(1, 1)));
}
