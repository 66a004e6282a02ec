//! Online orders: reservation under concurrency, payment notifications, timeouts, pickup.

use reqwest::StatusCode;
use retail_server::storage::stock::{apply_movements, Movement, MovementKind};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::support::TestApp;

/// A SKU stocked at SH001 (the first the stock list shows), with its available quantity.
pub(crate) async fn some_sku(app: &TestApp) -> (Uuid, i64) {
    let token = app.login("admin").await;
    let (status, body) = app
        .get("/api/v1/stock?location_id=SH001&limit=20", Some(&token))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let rows = body
        .get("items")
        .unwrap_or(&body)
        .as_array()
        .expect("stock rows")
        .clone();
    let row = rows
        .iter()
        .find(|r| r["available"].as_i64().unwrap_or(0) > 5)
        .expect("a stocked SKU");
    (
        row["sku_id"].as_str().unwrap().parse().unwrap(),
        row["available"].as_i64().unwrap(),
    )
}

async fn available_at(app: &TestApp, sku: Uuid, store: &str) -> i64 {
    let (status, body) = app
        .get(&format!("/api/v1/skus/{sku}/availability"), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let stores = body
        .get("stores")
        .unwrap_or(&body)
        .as_array()
        .expect("stores")
        .clone();
    stores
        .iter()
        .find(|s| s["location_id"] == store || s["store"] == store || s["id"] == store)
        .and_then(|s| s["available"].as_i64())
        .expect("store availability")
}

/// Sets the available quantity of a SKU at a store through a ledgered adjustment.
async fn set_available(app: &TestApp, sku: Uuid, store: &str, target: i64) {
    let current = available_at(app, sku, store).await;
    let mut tx = app.state.store.begin().await.unwrap();
    apply_movements(
        &mut tx,
        &[Movement {
            location_id: store,
            sku_id: sku,
            kind: MovementKind::Adjustment,
            on_hand_delta: target - current,
            reserved_delta: 0,
            reason: "test setup",
            actor: "test",
            ref_id: None,
            client_ts: 0,
        }],
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(available_at(app, sku, store).await, target);
}

pub(crate) fn pickup_order(sku: Uuid, qty: i64) -> Value {
    json!({"id": Uuid::now_v7(), "fulfilment": "pickup", "store": "SH001", "lines": [{"sku_id": sku, "qty": qty}]})
}

async fn ledger_is_consistent(app: &TestApp) {
    let mismatches = retail_server::storage::stock::ledger_mismatches(&app.state.store)
        .await
        .unwrap();
    assert!(
        mismatches.is_empty(),
        "snapshot differs from ledger: {mismatches:?}"
    );
}

/// 200 concurrent buyers, 50 units: exactly 50 orders, nothing negative, ledger = snapshot.
async fn flash_sale_never_oversells(app: TestApp) {
    let (sku, _) = some_sku(&app).await;
    set_available(&app, sku, "SH001", 50).await;
    let mut tasks = Vec::new();
    for _ in 0..200 {
        let client = app.client.clone();
        let url = format!("{}/api/v1/orders", app.url);
        let body = pickup_order(sku, 1);
        tasks.push(tokio::spawn(async move {
            let resp = client.post(url).json(&body).send().await.unwrap();
            let status = resp.status();
            (status, resp.json::<Value>().await.unwrap())
        }));
    }
    let mut ok = 0;
    let mut out_of_stock = 0;
    for task in tasks {
        let (status, body) = task.await.unwrap();
        match status {
            StatusCode::OK => ok += 1,
            StatusCode::CONFLICT => {
                assert_eq!(body["error"]["code"], "out_of_stock", "{body}");
                assert!(!body["error"]["message"].as_str().unwrap().is_empty());
                out_of_stock += 1;
            }
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert_eq!((ok, out_of_stock), (50, 150));
    assert_eq!(available_at(&app, sku, "SH001").await, 0);
    ledger_is_consistent(&app).await;
}
crate::both_backends!(flash_sale_never_oversells, flash_sale_never_oversells);

/// A retry of the same order id answers the first result and reserves once.
async fn order_retry_is_idempotent(app: TestApp) {
    let (sku, before) = some_sku(&app).await;
    let order = pickup_order(sku, 2);
    let (s1, first) = app.post("/api/v1/orders", None, order.clone()).await;
    let (s2, second) = app.post("/api/v1/orders", None, order).await;
    assert_eq!(
        (s1, s2),
        (StatusCode::OK, StatusCode::OK),
        "{first} {second}"
    );
    assert_eq!(first["order_no"], second["order_no"]);
    assert_eq!(second["created"], false);
    assert_eq!(available_at(&app, sku, "SH001").await, before - 2);
    ledger_is_consistent(&app).await;
}
crate::both_backends!(order_retry_is_idempotent, order_retry_is_idempotent);

/// Bad input gets a clear error and changes nothing.
async fn bad_orders_are_refused(app: TestApp) {
    let (sku, before) = some_sku(&app).await;
    let (status, body) = app.post_raw("/api/v1/orders", None, "{not json").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"]["code"], "invalid_body");
    let (status, body) = app
        .post_raw(
            "/api/v1/orders",
            None,
            r#"{"id": 5, "fulfilment": "pickup"}"#,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let cases = [
        json!({"id": Uuid::now_v7(), "fulfilment": "pickup", "store": "SH001", "lines": [{"sku_id": sku, "qty": 0}]}),
        json!({"id": Uuid::now_v7(), "fulfilment": "pickup", "store": "SH001", "lines": [{"sku_id": Uuid::now_v7(), "qty": 1}]}),
        json!({"id": Uuid::now_v7(), "fulfilment": "pickup", "store": "XX999", "lines": [{"sku_id": sku, "qty": 1}]}),
        json!({"id": Uuid::now_v7(), "fulfilment": "pickup", "store": "WH01", "lines": [{"sku_id": sku, "qty": 1}]}),
        json!({"id": Uuid::from_u128(0x1234_5678_9abc_4def_8123_4567_89ab_cdef), "fulfilment": "pickup", "store": "SH001", "lines": [{"sku_id": sku, "qty": 1}]}),
        json!({"id": Uuid::now_v7(), "fulfilment": "delivery", "lines": [{"sku_id": sku, "qty": 1}]}),
        json!({"id": Uuid::now_v7(), "fulfilment": "pickup", "store": "SH001", "lines": []}),
    ];
    for case in cases {
        let (status, body) = app.post("/api/v1/orders", None, case.clone()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{case} → {body}");
        assert!(
            body["error"]["fields"]
                .as_object()
                .is_some_and(|f| !f.is_empty()),
            "{body}"
        );
    }
    let (status, body) = app
        .post("/api/v1/orders", None, pickup_order(sku, 1_000_000))
        .await;
    assert!(
        status == StatusCode::UNPROCESSABLE_ENTITY || status == StatusCode::CONFLICT,
        "{body}"
    );
    assert_eq!(available_at(&app, sku, "SH001").await, before);
    ledger_is_consistent(&app).await;
}
crate::both_backends!(bad_orders_are_refused, bad_orders_are_refused);

fn signed(app: &TestApp, timestamp: i64, body: &Value) -> (String, String) {
    let text = body.to_string();
    let sig = app
        .state
        .keys
        .payment_signature(timestamp, text.as_bytes())
        .unwrap_or_else(|| panic!("the demo chain's server has the sandbox provider"));
    (text, sig)
}

async fn send_notification(
    app: &TestApp,
    timestamp: i64,
    body: &str,
    signature: &str,
) -> (StatusCode, Value) {
    let resp = app
        .client
        .post(format!("{}/api/v1/payments/notify", app.url))
        .header("content-type", "application/json")
        .header("x-pay-timestamp", timestamp.to_string())
        .header("x-pay-signature", signature)
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    let status = resp.status();
    (status, resp.json().await.unwrap_or(Value::Null))
}

async fn order_status(app: &TestApp, id: &str) -> String {
    let (_, body) = app.get(&format!("/api/v1/orders/{id}"), None).await;
    body["status"].as_str().unwrap().to_owned()
}

/// Forged, stale, wrong-amount and replayed notifications are refused and change nothing.
async fn payment_notifications_are_verified(app: TestApp) {
    let (sku, _) = some_sku(&app).await;
    let (_, order) = app.post("/api/v1/orders", None, pickup_order(sku, 1)).await;
    let order_id = order["id"].as_str().unwrap().to_owned();
    let (status, intent) = app
        .post(
            &format!("/api/v1/orders/{order_id}/payments"),
            None,
            json!({"id": Uuid::now_v7()}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{intent}");
    let payment_id = intent["payment"]["id"].as_str().unwrap().to_owned();
    let amount = intent["payment"]["amount"].as_str().unwrap().to_owned();
    let now = chrono::Utc::now().timestamp();
    let notice = |notify_id: &str, amount: &str| json!({"notify_id": notify_id, "payment_id": payment_id, "provider_ref": "T1", "amount": amount, "status": "succeeded"});

    // Forged: signed with another secret.
    let body = notice("n1", &amount).to_string();
    let forged = retail_server::secrets::payment_signature(&[7u8; 32], now, body.as_bytes());
    let (status, _) = send_notification(&app, now, &body, &forged).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // Signature of a different body.
    let (_, sig) = signed(&app, now, &notice("n1", "0.01"));
    let (status, _) = send_notification(&app, now, &body, &sig).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // Stale.
    let (text, sig) = signed(&app, now - 3600, &notice("n1", &amount));
    let (status, body) = send_notification(&app, now - 3600, &text, &sig).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"]["code"], "stale_notification");
    // Wrong amount, correctly signed: taken (the provider stops sending it), nothing applied,
    // an alert for head office.
    let (text, sig) = signed(&app, now, &notice("n2", "0.01"));
    let (status, body) = send_notification(&app, now, &text, &sig).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["taken"], "alerted");
    assert_eq!(order_status(&app, &order_id).await, "pending_payment");
    let alerts = retail_server::storage::payment_review::alerts(&app.state.store, false, 0, 10)
        .await
        .unwrap()
        .0;
    assert!(
        alerts
            .iter()
            .any(|a| a.kind == "amount_mismatch"
                && a.payment_id.as_deref() == Some(payment_id.as_str())),
        "{alerts:?}"
    );
    // The genuine one.
    let (text, sig) = signed(&app, now, &notice("n3", &amount));
    let (status, body) = send_notification(&app, now, &text, &sig).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["taken"], "applied");
    assert_eq!(order_status(&app, &order_id).await, "paid");
    // Replayed, and a second notification for the same payment: answered as taken, nothing
    // changes.
    let (status, body) = send_notification(&app, now, &text, &sig).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["taken"], "duplicate");
    let (text, sig) = signed(&app, now, &notice("n4", &amount));
    let (status, body) = send_notification(&app, now, &text, &sig).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["taken"], "duplicate");
    let (_, order) = app.get(&format!("/api/v1/orders/{order_id}"), None).await;
    let paid_events = order["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["to"] == "paid")
        .count();
    assert_eq!(paid_events, 1, "{order}");
}
crate::both_backends!(
    payment_notifications_are_verified,
    payment_notifications_are_verified
);

/// `GET /orders/{id}` with the order's access token.
async fn with_order_token(app: &TestApp, order_id: &str, token: &str) -> Value {
    app.client
        .get(format!("{}/api/v1/orders/{order_id}", app.url))
        .header("x-order-token", token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// The whole pickup path through the sandbox provider: pay, ready, hand over (once).
async fn pickup_order_lifecycle(app: TestApp) {
    let (sku, before) = some_sku(&app).await;
    let (_, order) = app.post("/api/v1/orders", None, pickup_order(sku, 2)).await;
    let order_id = order["id"].as_str().unwrap().to_owned();
    // Unpaid, its placer sees the pickup code, but no QR: there is nothing to collect yet.
    let unpaid = with_order_token(&app, &order_id, order["access_token"].as_str().unwrap()).await;
    assert!(unpaid["pickup_code"].as_str().is_some(), "{unpaid}");
    assert!(unpaid["pickup_qr"].is_null(), "{unpaid}");
    let (_, intent) = app
        .post(
            &format!("/api/v1/orders/{order_id}/payments"),
            None,
            json!({"id": Uuid::now_v7()}),
        )
        .await;
    let pay_url = intent["pay_url"].as_str().unwrap().to_owned();
    let page = app
        .client
        .get(&pay_url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("沙箱支付"), "{page}");
    let page = app
        .client
        .post(&pay_url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("支付成功"), "{page}");
    assert_eq!(order_status(&app, &order_id).await, "paid");

    let cashier_sh002 = app.login("cashier1.sh002").await;
    let (status, _) = app
        .post(
            &format!("/api/v1/orders/{order_id}/ready"),
            Some(&cashier_sh002),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let manager = app.login("mgr.sh001").await;
    let (status, body) = app
        .post(
            &format!("/api/v1/orders/{order_id}/ready"),
            Some(&manager),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "ready_for_pickup");

    // Knowing the order id is not enough to see how to collect it (nor whose it is).
    let (_, bare) = app.get(&format!("/api/v1/orders/{order_id}"), None).await;
    assert_eq!(bare["status"], "ready_for_pickup");
    assert!(
        bare["pickup_code"].is_null() && bare["pickup_qr"].is_null(),
        "{bare}"
    );
    let forged = with_order_token(&app, &order_id, "ot_0000").await;
    assert!(forged["pickup_code"].is_null(), "{forged}");
    // Whoever placed it (its access token) sees the pickup code and the signed QR.
    let token = order["access_token"].as_str().unwrap();
    let detail = with_order_token(&app, &order_id, token).await;
    let code = detail["pickup_code"].as_str().unwrap().to_owned();
    let qr = detail["pickup_qr"].as_str().unwrap().to_owned();
    assert!(qr.starts_with("PK1."), "{qr}");
    let wrong = if code == "000000" { "000001" } else { "000000" };
    let (status, _) = app
        .post(
            &format!("/api/v1/orders/{order_id}/pickup"),
            Some(&manager),
            json!({"pickup_code": wrong}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, body) = app
        .post(
            &format!("/api/v1/orders/{order_id}/pickup"),
            Some(&manager),
            json!({"pickup_code": qr}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "picked_up");
    let (status, body) = app
        .post(
            &format!("/api/v1/orders/{order_id}/pickup"),
            Some(&manager),
            json!({"pickup_code": code}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(body["error"]["code"], "already_collected");
    assert_eq!(available_at(&app, sku, "SH001").await, before - 2);
    // Collected, the QR is spent and no longer handed out.
    let spent = with_order_token(&app, &order_id, token).await;
    assert!(spent["pickup_qr"].is_null(), "{spent}");
    ledger_is_consistent(&app).await;
}
crate::both_backends!(pickup_order_lifecycle, pickup_order_lifecycle);

/// An unpaid order is cancelled after the timeout even when the server restarted in between,
/// and its reservation is released.
async fn timeout_survives_restart(app: TestApp) {
    let (sku, before) = some_sku(&app).await;
    let (status, order) = app.post("/api/v1/orders", None, pickup_order(sku, 3)).await;
    assert_eq!(status, StatusCode::OK, "{order}");
    let order_id = order["id"].as_str().unwrap().to_owned();
    assert_eq!(available_at(&app, sku, "SH001").await, before - 3);
    let app = app.restart().await;
    // Still pending right after the restart; cancelled once the 5 s deadline has passed.
    assert_eq!(order_status(&app, &order_id).await, "pending_payment");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while order_status(&app, &order_id).await != "cancelled" {
        assert!(
            std::time::Instant::now() < deadline,
            "order was not cancelled"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(available_at(&app, sku, "SH001").await, before);
    let (_, detail) = app.get(&format!("/api/v1/orders/{order_id}"), None).await;
    let last = detail["events"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["reason"], "payment timeout");
    ledger_is_consistent(&app).await;
}

crate::both_backends!(timeout_survives_restart, timeout_survives_restart, |s| {
    s.orders.payment_timeout_secs = 5;
    s.orders.sweep_interval_millis = 100;
});

/// A shopper may cancel an unpaid order; the reservation comes back.
async fn cancel_releases_stock(app: TestApp) {
    let (sku, before) = some_sku(&app).await;
    let (_, order) = app.post("/api/v1/orders", None, pickup_order(sku, 1)).await;
    let order_id = order["id"].as_str().unwrap().to_owned();
    // Someone who only knows the order id cannot cancel it.
    let (status, body) = app
        .post(
            &format!("/api/v1/orders/{order_id}/cancel"),
            None,
            json!({"reason": "griefing"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(order_status(&app, &order_id).await, "pending_payment");
    let resp = app
        .client
        .post(format!("{}/api/v1/orders/{order_id}/cancel", app.url))
        .header("x-order-token", order["access_token"].as_str().unwrap())
        .json(&json!({"reason": "changed my mind"}))
        .send()
        .await
        .unwrap();
    let status = resp.status();
    let body: Value = resp.json().await.unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "cancelled");
    assert_eq!(available_at(&app, sku, "SH001").await, before);
    let (status, _) = app
        .post(
            &format!("/api/v1/orders/{order_id}/payments"),
            None,
            json!({"id": Uuid::now_v7()}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    ledger_is_consistent(&app).await;
}
crate::both_backends!(cancel_releases_stock, cancel_releases_stock);

/// A ready pickup order nobody collects is cancelled after the hold time: stock back on the
/// shelf, payment refunded (audited).
async fn uncollected_pickups_are_cancelled(app: TestApp) {
    let (sku, before) = some_sku(&app).await;
    let (_, order) = app.post("/api/v1/orders", None, pickup_order(sku, 1)).await;
    let order_id = order["id"].as_str().unwrap().to_owned();
    let (_, intent) = app
        .post(
            &format!("/api/v1/orders/{order_id}/payments"),
            None,
            json!({"id": Uuid::now_v7()}),
        )
        .await;
    app.client
        .post(intent["pay_url"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    let manager = app.login("mgr.sh001").await;
    let (status, _) = app
        .post(
            &format!("/api/v1/orders/{order_id}/ready"),
            Some(&manager),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while order_status(&app, &order_id).await != "cancelled" {
        assert!(
            std::time::Instant::now() < deadline,
            "uncollected order was not cancelled"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(available_at(&app, sku, "SH001").await, before);
    let admin = app.login("admin").await;
    let (_, audit) = app
        .get(&format!("/api/v1/audit?entity_id={order_id}"), Some(&admin))
        .await;
    assert!(
        audit
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "order.refund"),
        "{audit}"
    );
    ledger_is_consistent(&app).await;
}

crate::both_backends!(
    uncollected_pickups_are_cancelled,
    uncollected_pickups_are_cancelled,
    |s| {
        s.orders.pickup_hold_secs = 1;
        s.orders.sweep_interval_millis = 100;
    }
);
