//! Shift open/close with a printed Z report, and a return by scanning a receipt code (online),
//! through the real binary.

use std::time::Duration;

use pos_terminal::store::LaneDb;
use retail_devices::receipt::decode_text;

use crate::binary::{write_config, LaneProcess};
use crate::core::qr_payload;
use crate::support::{packaged_skus, LaneServer, TestApp};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shift_sales_a_return_and_the_z_report() {
    let app = TestApp::sqlite().await;
    let (_, credential) = app.register_lane("Lane 1").await;
    let dir = tempfile::tempdir().expect("dir");
    let config = write_config(&app, &credential, dir.path(), "");
    let mut lane = LaneProcess::start(&config).await;
    let sku = {
        let db = LaneDb::open(&dir.path().join("data").join("lane.db"))
            .await
            .expect("db");
        let sku = packaged_skus(&db, 1).await.remove(0);
        db.pool().close().await;
        sku
    };
    let price = sku.effective_price();

    let answer = lane.command("shift close 1.00").await;
    assert!(answer.contains("no shift is open"), "{answer}");
    let answer = lane.command("shift open 100.00").await;
    assert!(answer.starts_with("OK shift opened"), "{answer}");
    let answer = lane.command("return 1:1 mgr.sh001 246810").await;
    assert!(answer.contains("scan the receipt code"), "{answer}");

    // Two units, cash.
    lane.scan(&sku.barcodes[0]).await;
    lane.scan(&sku.barcodes[0]).await;
    lane.send("pay cash 5000.00").await;
    lane.expect_line(|l| l.starts_with("SALE ")).await;
    lane.answer().await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while lane.unsent().await > 0 {
        assert!(tokio::time::Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // Scan the receipt's QR code: return one unit.
    let receipts = std::fs::read(dir.path().join("data").join("receipts.bin")).expect("receipts");
    let code = qr_payload(&receipts).expect("qr");
    let answer = lane.scan(&code).await;
    assert!(answer.starts_with("OK return from sale"), "{answer}");
    let answer = lane.command("return 1:5 mgr.sh001 246810").await;
    assert!(answer.contains("1 to 2 can be returned"), "{answer}");
    // Without a manager's approval, or with a cashier's PIN, nothing is returned.
    let answer = lane.command("return 1:1").await;
    assert!(answer.contains("MANAGER PIN"), "{answer}");
    let answer = lane.command("return 1:1 cashier1.sh001 246810").await;
    assert!(answer.starts_with("ERR return refused"), "{answer}");
    let answer = lane.command("return 1:1 mgr.sh001 111111").await;
    assert!(answer.starts_with("ERR return refused"), "{answer}");
    let answer = lane.command("return 1:1 mgr.sh001 246810").await;
    assert!(
        answer.starts_with(&format!(
            "OK return recorded: refund {price} ({price} cash); hand back {price} in cash; approved by mgr.sh001"
        )),
        "{answer}"
    );

    // Close with the counted cash: expected = 100 + 2 × price − price.
    let expected = 10_000 + price.fen();
    let counted = retail_domain::money::Money::from_fen(expected - 50);
    let answer = lane.command(&format!("shift close {counted}")).await;
    assert!(answer.contains("Z report printed"), "{answer}");
    lane.kill().await;
    let receipts = std::fs::read(dir.path().join("data").join("receipts.bin")).expect("receipts");
    let text = decode_text(&receipts);
    assert!(text.contains("退货单 RETURN"), "{text}");
    let slip = &text[text.find("退货单 RETURN").expect("slip")..];
    assert!(slip.contains("退现 Cash back"), "{slip}");
    assert!(slip.contains("cashier1.sh001"), "{slip}");
    assert!(slip.contains("mgr.sh001"), "{slip}");
    let z = &text[text.find("Z REPORT").expect("Z report")..];
    let row = |label: &str| -> String {
        z.lines()
            .find(|l| l.contains(label))
            .unwrap_or_else(|| panic!("no {label} in {z}"))
            .split_whitespace()
            .last()
            .unwrap_or("")
            .to_owned()
    };
    assert_eq!(
        row("Sales total"),
        price.checked_mul_qty(2).expect("x2").to_string()
    );
    assert_eq!(row("Returns"), "1");
    assert_eq!(
        row("Expected cash"),
        retail_domain::money::Money::from_fen(expected).to_string()
    );
    assert_eq!(row("Difference"), "-0.50");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pickup_handover_by_scanning_the_pickup_code() {
    let app = TestApp::sqlite().await;
    let (_, credential) = app.register_lane("Lane 1").await;
    let dir = tempfile::tempdir().expect("dir");
    let config = write_config(&app, &credential, dir.path(), "");
    let mut lane = LaneProcess::start(&config).await;
    let sku = {
        let db = LaneDb::open(&dir.path().join("data").join("lane.db"))
            .await
            .expect("db");
        let sku = packaged_skus(&db, 1).await.remove(0);
        db.pool().close().await;
        sku
    };
    let (status, order) = app
        .post(
            "/api/v1/orders",
            None,
            serde_json::json!({"id": uuid::Uuid::now_v7(), "fulfilment": "pickup", "store": "SH001",
                "lines": [{"sku_id": sku.id, "qty": 1}]}),
        )
        .await;
    assert_eq!(status, 200, "{order}");
    let order_id = order["id"].as_str().expect("id").to_owned();
    // Paid, the shopper's phone shows the QR (the order's staff see it too); unpaid, there is
    // nothing to collect yet.
    let admin = app.login("admin").await;
    let (_, detail) = app
        .get(&format!("/api/v1/orders/{order_id}"), Some(&admin))
        .await;
    assert!(detail["pickup_qr"].is_null(), "{detail}");

    // Paid through the sandbox provider.
    let (_, intent) = app
        .post(
            &format!("/api/v1/orders/{order_id}/payments"),
            None,
            serde_json::json!({"id": uuid::Uuid::now_v7()}),
        )
        .await;
    let pay_url = intent["pay_url"].as_str().expect("pay url").to_owned();
    let page = app
        .client
        .post(&pay_url)
        .send()
        .await
        .expect("pay")
        .text()
        .await
        .expect("page");
    assert!(page.contains("支付成功"), "{page}");
    let (_, detail) = app
        .get(&format!("/api/v1/orders/{order_id}"), Some(&admin))
        .await;
    let qr = detail["pickup_qr"].as_str().expect("pickup qr").to_owned();

    // Paid, not yet marked ready by the store: not ready.
    let answer = lane.scan(&qr).await;
    assert!(
        answer.starts_with("ERR pickup:") && answer.contains("not ready"),
        "{answer}"
    );
    // A forged pickup code.
    let mut forged = qr.clone();
    let c = forged.pop().expect("char");
    forged.push(if c == 'A' { 'B' } else { 'A' });
    let answer = lane.scan(&forged).await;
    assert!(answer.contains("forged"), "{answer}");

    // Marked ready: handed over once.
    let manager = app.login("mgr.sh001").await;
    let (status, body) = app
        .post(
            &format!("/api/v1/orders/{order_id}/ready"),
            Some(&manager),
            serde_json::json!({}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let answer = lane.scan(&qr).await;
    assert!(
        answer.starts_with("OK pickup order") && answer.contains("handed over"),
        "{answer}"
    );
    let answer = lane.scan(&qr).await;
    assert!(answer.contains("already collected"), "{answer}");
    lane.kill().await;
}

/// Closing a shift and queueing its Z report for the server are one transaction: when the
/// queue cannot be written, the shift stays open (nothing half done), and the next close
/// queues exactly one report.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shift_closes_with_its_z_report_queued_or_not_at_all() {
    let app = TestApp::sqlite().await;
    let (_, credential) = app.register_lane("Lane 1").await;
    let dir = tempfile::tempdir().expect("dir");
    let config = write_config(&app, &credential, dir.path(), "");
    let mut lane = LaneProcess::start(&config).await;
    let answer = lane.command("shift open 100.00").await;
    assert!(answer.starts_with("OK shift opened"), "{answer}");

    let db = LaneDb::open(&dir.path().join("data").join("lane.db"))
        .await
        .expect("db");
    let reports = |db: LaneDb| async move {
        sqlx::query_scalar::<_, i64>(
            "SELECT COUNT(*) FROM cash_outbox WHERE body LIKE '%shift_closed%'",
        )
        .fetch_one(db.pool())
        .await
        .expect("count")
    };
    // The outbox refuses writes (as a full disk would).
    sqlx::query(
        "CREATE TRIGGER outbox_full BEFORE INSERT ON cash_outbox \
         BEGIN SELECT RAISE(ABORT, 'disk full'); END",
    )
    .execute(db.pool())
    .await
    .expect("trigger");
    let answer = lane.command("shift close 100.00").await;
    assert!(answer.starts_with("ERR"), "{answer}");
    assert!(
        db.open_shift_info().await.expect("read").is_some(),
        "the shift is still open"
    );
    assert_eq!(reports(db.clone()).await, 0);

    sqlx::query("DROP TRIGGER outbox_full")
        .execute(db.pool())
        .await
        .expect("drop");
    let answer = lane.command("shift close 100.00").await;
    assert!(answer.starts_with("OK shift closed"), "{answer}");
    assert!(db.open_shift_info().await.expect("read").is_none());
    assert_eq!(reports(db.clone()).await, 1, "one Z report queued");
    db.pool().close().await;
}
