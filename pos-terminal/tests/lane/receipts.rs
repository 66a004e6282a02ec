//! Receipt codes every lane of the store verifies fully: each lane signs with its own key
//! (`RC2`), registers it with the server (retried until it succeeds) and keeps its store's
//! registered keys, so another lane verifies the receipt offline and refuses a forged one, a
//! code of an unknown key or of another store with a clear message, changing nothing. Through
//! the real binary, a lane that does not know a newer lane's key yet fetches it when it scans.

use std::time::Duration;

use pos_terminal::lane::{Lane, LaneError, PaymentOutcome, ScanOutcome};
use pos_terminal::sync;
use retail_domain::codes::{read_receipt_code, CodeSigner};
use retail_domain::money::Money;
use retail_domain::wire::sales::PaymentMethod;

use crate::binary::{write_config, LaneProcess};
use crate::core::qr_payload;
use crate::support::{lane_settings, packaged_skus, synced_lane, LaneServer, TestApp};

/// Changes one character inside a code's signature (well-formed, but a forgery).
fn forge(code: &str) -> String {
    let mut bytes = code.as_bytes().to_vec();
    let at = bytes.len() - 20;
    bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
    String::from_utf8(bytes).expect("ascii")
}

/// Sells one unit of the first packaged SKU for cash; answers the receipt's code.
async fn sell_one(lane: &mut Lane) -> (uuid::Uuid, String) {
    let sku = packaged_skus(lane.db(), 1).await.remove(0);
    lane.scan(&sku.barcodes[0]).await.expect("scan");
    let due = lane.due();
    let PaymentOutcome::Completed(done) = lane
        .pay(PaymentMethod::Cash, Money::from_fen(due.fen() + 100))
        .await
        .expect("pay")
    else {
        panic!("not completed");
    };
    let code = qr_payload(&done.receipt).expect("receipt QR");
    (done.sale.id, code)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_lanes_receipt_is_verified_fully_offline() {
    let mut app = TestApp::sqlite().await;
    let (_, credential1) = app.register_lane("Lane 1").await;
    let (_, credential2) = app.register_lane("Lane 2").await;
    let (dir1, dir2) = (
        tempfile::tempdir().expect("dir"),
        tempfile::tempdir().expect("dir"),
    );
    let (api1, mut lane1) = synced_lane(&app, &credential1, dir1.path()).await;
    let (api2, mut lane2) = synced_lane(&app, &credential2, dir2.path()).await;

    // Each lane registers its key once (the second round asks nothing).
    assert!(sync::register_receipt_key(lane1.db(), &api1)
        .await
        .expect("register 1"));
    assert!(!sync::register_receipt_key(lane1.db(), &api1)
        .await
        .expect("again"));
    assert!(sync::register_receipt_key(lane2.db(), &api2)
        .await
        .expect("register 2"));
    // Lane 2 keeps its store's keys.
    assert!(sync::refresh_receipt_keys(lane2.db(), &api2, "SH001")
        .await
        .expect("keys"));
    assert!(!sync::refresh_receipt_keys(lane2.db(), &api2, "SH001")
        .await
        .expect("unchanged"));
    let keys = lane2.db().receipt_keys().await.expect("db").expect("keys");
    assert_eq!(keys.keys.len(), 2);
    lane2.reload_receipt_keys().await.expect("reload");

    // Lane 1 sells; its receipt carries an RC2 code naming lane 1's key.
    let (sale_id, code) = sell_one(&mut lane1).await;
    let read = read_receipt_code(&code).expect("receipt code");
    let lane1_key = lane1
        .db()
        .receipt_signer()
        .await
        .expect("signer")
        .verifier()
        .key_id();
    assert!(code.starts_with("RC2."), "{code}");
    assert_eq!(read.key_id.as_deref(), Some(lane1_key.as_str()));

    // The server goes away: lane 2 verifies lane 1's receipt fully, offline.
    app.stop().await.expect("the server stops cleanly");
    let before = lane2.basket().clone();
    assert!(matches!(
        lane2.scan(&code).await.expect("verified"),
        ScanOutcome::Receipt(r) if r.sale_id == sale_id
    ));
    // Forged: a changed signature, or this signature on another sale.
    let err = lane2.scan(&forge(&code)).await.unwrap_err();
    assert!(matches!(err, LaneError::Forged(_)), "{err}");
    assert!(err.to_string().contains("forged"), "{err}");
    let signer1 = lane1.db().receipt_signer().await.expect("signer");
    let other = signer1
        .sign_receipt(uuid::Uuid::now_v7(), "SH001")
        .expect("code");
    let spliced = format!(
        "{}.{}",
        other.rsplit_once('.').expect("sig").0,
        code.rsplit_once('.').expect("sig").1
    );
    assert!(matches!(
        lane2.scan(&spliced).await,
        Err(LaneError::Forged(_))
    ));
    // A key no lane of the store registered.
    let stranger = CodeSigner::generate();
    let err = lane2
        .scan(
            &stranger
                .sign_receipt(uuid::Uuid::now_v7(), "SH001")
                .expect("code"),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&err, LaneError::UnknownReceiptKey(Some(k)) if *k == stranger.verifier().key_id()),
        "{err}"
    );
    assert!(err.to_string().contains("does not know"), "{err}");
    // Another store's receipt.
    let err = lane2
        .scan(&signer1.sign_receipt(sale_id, "SH002").expect("code"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, LaneError::NotUsableHere(m) if m.contains("store SH002")),
        "{err}"
    );
    // Garbage that looks like a receipt code.
    let err = lane2.scan("RC2.nonsense.SH001").await.unwrap_err();
    assert!(matches!(err, LaneError::UnknownCode { .. }), "{err}");
    assert_eq!(lane2.basket(), &before, "refusals change nothing");

    // A restart offline keeps the store's keys; a lane that never fetched them does not know
    // lane 1's key (and says so), though it trusts its own.
    let reopened = lane2.db().clone();
    drop(lane2);
    let mut lane2 = Lane::open(reopened, lane_settings("epson-tm-t88v"))
        .await
        .expect("reopen");
    lane2
        .sign_in(crate::support::CASHIER, crate::support::PIN)
        .expect("sign in");
    assert!(matches!(
        lane2.scan(&code).await.expect("still verified"),
        ScanOutcome::Receipt(_)
    ));
    assert!(matches!(
        lane1.scan(&code).await.expect("own receipt"),
        ScanOutcome::Receipt(_)
    ));
    let (_, own) = sell_one(&mut lane2).await;
    assert!(matches!(
        lane1.scan(&own).await,
        Err(LaneError::UnknownReceiptKey(_))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registration_is_retried_until_the_server_has_the_key() {
    let mut app = TestApp::sqlite().await;
    let (_, credential) = app.register_lane("Lane 1").await;
    let dir = tempfile::tempdir().expect("dir");
    let (api, lane) = synced_lane(&app, &credential, dir.path()).await;
    let addr = app.addr();
    app.stop().await.expect("the server stops cleanly");
    let err = sync::register_receipt_key(lane.db(), &api)
        .await
        .unwrap_err();
    assert!(err.is_offline(), "{err}");
    assert_eq!(lane.db().registered_receipt_key().await.expect("db"), None);
    app.start_again(addr).await;
    assert!(sync::register_receipt_key(lane.db(), &api)
        .await
        .expect("registered"));
    let public_key = lane
        .db()
        .receipt_signer()
        .await
        .expect("signer")
        .verifier()
        .public_b64();
    assert_eq!(
        lane.db().registered_receipt_key().await.expect("db"),
        Some(public_key.clone())
    );
    let (status, keys) = app.get("/api/v1/pos/receipt-keys", Some(&credential)).await;
    assert_eq!(status, 200, "{keys}");
    assert_eq!(keys["keys"][0]["public_key"], public_key.as_str());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lane_fetches_a_newer_lanes_key_when_it_scans_its_receipt() {
    let app = TestApp::sqlite().await;
    let (_, credential1) = app.register_lane("Lane 1").await;
    let (_, credential2) = app.register_lane("Lane 2").await;
    let (dir1, dir2) = (
        tempfile::tempdir().expect("dir"),
        tempfile::tempdir().expect("dir"),
    );
    // Lane 1 starts first: lane 2's key does not exist yet.
    let mut lane1 = LaneProcess::start(&write_config(&app, &credential1, dir1.path(), "")).await;
    let mut lane2 = LaneProcess::start(&write_config(&app, &credential2, dir2.path(), "")).await;
    let sku = crate::support::lane_sku(&dir2.path().join("data")).await;
    lane2.scan(&sku.barcodes[0]).await;
    lane2.send("pay cash 5000.00").await;
    lane2.expect_line(|l| l.starts_with("SALE ")).await;
    lane2.answer().await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while lane2.unsent().await > 0 {
        assert!(tokio::time::Instant::now() < deadline, "lane 2 pushes");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let receipts = std::fs::read(dir2.path().join("data").join("receipts.bin")).expect("receipts");
    let code = qr_payload(&receipts).expect("qr");
    assert!(code.starts_with("RC2."), "{code}");

    // The server verifies the real lane's code with the key the lane registered.
    let (status, body) = app
        .get(&format!("/api/v1/receipts?code={code}"), None)
        .await;
    assert_eq!(status, 200, "{body}");
    // Lane 1 refuses a forgery in words, and learns lane 2's key to verify the real receipt.
    let answer = lane1.scan(&forge(&code)).await;
    assert!(
        answer.starts_with("ERR forged or damaged receipt code"),
        "{answer}"
    );
    let answer = lane1.scan(&code).await;
    assert!(answer.starts_with("OK return from sale"), "{answer}");
    lane1.kill().await;
    lane2.kill().await;
}
