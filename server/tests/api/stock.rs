//! stock API tests: levels, ledger, availability, counts, adjustments, receipts, transfers,
//! alerts, permissions, and the snapshot = ledger invariant after every test.

use reqwest::StatusCode;
use retail_server::storage::stock::{apply_movements, ledger_mismatches, Movement, MovementKind};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::support::TestApp;

fn new_id() -> String {
    Uuid::now_v7().to_string()
}

/// The first `n` SKU ids stocked at SH001.
async fn sku_ids(app: &TestApp, admin: &str, n: usize) -> Vec<String> {
    let (status, body) = app
        .get(
            &format!("/api/v1/stock?location_id=SH001&limit={n}"),
            Some(admin),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let items = body["items"].as_array().unwrap();
    assert_eq!(items.len(), n, "{body}");
    items
        .iter()
        .map(|i| i["sku_id"].as_str().unwrap().to_owned())
        .collect()
}

/// The stock level of one SKU at one location (as head office).
async fn level(app: &TestApp, admin: &str, location: &str, sku: &str) -> Value {
    let (status, body) = app
        .get(
            &format!("/api/v1/stock?location_id={location}&sku_id={sku}"),
            Some(admin),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let items = body["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{location}/{sku}: {body}");
    items[0].clone()
}

async fn on_hand(app: &TestApp, admin: &str, location: &str, sku: &str) -> i64 {
    level(app, admin, location, sku).await["on_hand"]
        .as_i64()
        .unwrap()
}

/// Movements belonging to one operation (count, adjustment, receipt, transfer).
async fn movements_of(app: &TestApp, admin: &str, ref_id: &str) -> Vec<Value> {
    let (status, body) = app
        .get(
            &format!("/api/v1/stock/movements?ref_id={ref_id}"),
            Some(admin),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["items"].as_array().unwrap().clone()
}

async fn put(app: &TestApp, path: &str, token: &str, body: Value) -> (StatusCode, Value) {
    let resp = app
        .client
        .put(format!("{}{path}", app.url))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = resp.status();
    let text = resp.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// The snapshot equals the ledger, checked both through storage and the HTTP endpoint.
async fn assert_consistent(app: &TestApp, admin: &str) {
    let mismatches = ledger_mismatches(&app.state.store).await.unwrap();
    assert!(mismatches.is_empty(), "ledger mismatches: {mismatches:?}");
    let (status, body) = app.get("/api/v1/stock/ledger-check", Some(admin)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, json!([]));
}

async fn count_sets_on_hand_idempotently(app: TestApp) {
    let admin = app.login("admin").await;
    let mgr = app.login("mgr.sh001").await;
    let skus = sku_ids(&app, &admin, 2).await;
    let (a, b) = (&skus[0], &skus[1]);
    let before_a = on_hand(&app, &admin, "SH001", a).await;
    let before_b = on_hand(&app, &admin, "SH001", b).await;
    let counted_a = if before_a > 0 {
        before_a - 1
    } else {
        before_a + 2
    };

    let id = new_id();
    let request = json!({"id": id, "location_id": "SH001", "reason": "weekly count",
        "lines": [{"sku_id": a, "counted": counted_a}, {"sku_id": b, "counted": before_b}]});
    let (status, first) = app
        .post("/api/v1/stock/counts", Some(&mgr), request.clone())
        .await;
    assert_eq!(status, StatusCode::OK, "{first}");
    let line_a = first["lines"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["sku_id"] == a.as_str())
        .unwrap();
    assert_eq!(line_a["before"], before_a);
    assert_eq!(line_a["counted"], counted_a);
    assert_eq!(line_a["delta"], counted_a - before_a);
    assert_eq!(on_hand(&app, &admin, "SH001", a).await, counted_a);
    assert_eq!(on_hand(&app, &admin, "SH001", b).await, before_b);

    // One count_adjustment movement, for the changed line only, with the right delta.
    let moves = movements_of(&app, &admin, &id).await;
    assert_eq!(moves.len(), 1, "{moves:?}");
    assert_eq!(moves[0]["kind"], "count_adjustment");
    assert_eq!(moves[0]["sku_id"], a.as_str());
    assert_eq!(moves[0]["location_id"], "SH001");
    assert_eq!(moves[0]["on_hand_delta"], counted_a - before_a);
    assert_eq!(moves[0]["actor"], "staff:mgr.sh001");

    // Stock moves on (an adjustment), then the count is retried: the first result, no change.
    let (status, body) = app
        .post("/api/v1/stock/adjustments", Some(&mgr),
            json!({"id": new_id(), "location_id": "SH001", "sku_id": a, "delta": 4, "reason": "found in back room"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, again) = app.post("/api/v1/stock/counts", Some(&mgr), request).await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again, first);
    assert_eq!(on_hand(&app, &admin, "SH001", a).await, counted_a + 4);
    assert_eq!(movements_of(&app, &admin, &id).await.len(), 1);

    // Audited once.
    let (status, audit) = app
        .get(&format!("/api/v1/audit?entity_id={id}"), Some(&admin))
        .await;
    assert_eq!(status, StatusCode::OK, "{audit}");
    let entries = audit.as_array().unwrap();
    assert_eq!(entries.len(), 1, "{audit}");
    assert_eq!(entries[0]["action"], "stock.count");

    // A negative count is refused and changes nothing.
    let (status, body) = app
        .post("/api/v1/stock/counts", Some(&mgr),
            json!({"id": new_id(), "location_id": "SH001", "lines": [{"sku_id": b, "counted": -1}]}))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(
        body["error"]["fields"]["lines[0].counted"].is_string(),
        "{body}"
    );
    assert_eq!(on_hand(&app, &admin, "SH001", b).await, before_b);

    // An unknown SKU in the second line: 422 naming it, and the first line is not applied.
    let (status, body) = app
        .post("/api/v1/stock/counts", Some(&mgr),
            json!({"id": new_id(), "location_id": "SH001",
                "lines": [{"sku_id": b, "counted": before_b + 7}, {"sku_id": new_id(), "counted": 1}]}))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(
        body["error"]["fields"]["lines[1].sku_id"].is_string(),
        "{body}"
    );
    assert_eq!(on_hand(&app, &admin, "SH001", b).await, before_b);

    // The same SKU twice is refused.
    let (status, body) = app
        .post(
            "/api/v1/stock/counts",
            Some(&mgr),
            json!({"id": new_id(), "location_id": "SH001",
                "lines": [{"sku_id": b, "counted": 1}, {"sku_id": b, "counted": 2}]}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(on_hand(&app, &admin, "SH001", b).await, before_b);

    assert_consistent(&app, &admin).await;
}
crate::both_backends!(
    count_sets_on_hand_idempotently,
    super::count_sets_on_hand_idempotently
);

async fn adjustments_need_a_reason(app: TestApp) {
    let admin = app.login("admin").await;
    let mgr = app.login("mgr.sh001").await;
    let sku = sku_ids(&app, &admin, 1).await.remove(0);
    let before = on_hand(&app, &admin, "SH001", &sku).await;

    for reason in ["", "   "] {
        let (status, body) = app
            .post("/api/v1/stock/adjustments", Some(&mgr),
                json!({"id": new_id(), "location_id": "SH001", "sku_id": sku, "delta": -1, "reason": reason}))
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert!(body["error"]["fields"]["reason"].is_string(), "{body}");
    }
    let (status, body) = app
        .post(
            "/api/v1/stock/adjustments",
            Some(&mgr),
            json!({"id": new_id(), "location_id": "SH001", "sku_id": sku, "delta": -1}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    for delta in [0, 1_000_001, -1_000_001] {
        let (status, body) = app
            .post("/api/v1/stock/adjustments", Some(&mgr),
                json!({"id": new_id(), "location_id": "SH001", "sku_id": sku, "delta": delta, "reason": "damaged"}))
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert!(body["error"]["fields"]["delta"].is_string(), "{body}");
    }
    // Unknown SKU, unknown location, not a UUIDv7.
    let (status, body) = app
        .post("/api/v1/stock/adjustments", Some(&mgr),
            json!({"id": new_id(), "location_id": "SH001", "sku_id": new_id(), "delta": 1, "reason": "found"}))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body["error"]["fields"]["sku_id"].is_string(), "{body}");
    let (status, body) = app
        .post("/api/v1/stock/adjustments", Some(&admin),
            json!({"id": new_id(), "location_id": "NOPE1", "sku_id": sku, "delta": 1, "reason": "found"}))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body["error"]["fields"]["location_id"].is_string(), "{body}");
    let (status, body) = app
        .post("/api/v1/stock/adjustments", Some(&mgr),
            json!({"id": "6f9619ff-8b86-4011-b42d-00c04fc964ff", "location_id": "SH001", "sku_id": sku, "delta": 1, "reason": "found"}))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body["error"]["fields"]["id"].is_string(), "{body}");
    assert_eq!(on_hand(&app, &admin, "SH001", &sku).await, before);

    // A valid one applies once; the retry returns the first result.
    let id = new_id();
    let request = json!({"id": id, "location_id": "SH001", "sku_id": sku, "delta": -1, "reason": "  dropped, broken "});
    let (status, first) = app
        .post("/api/v1/stock/adjustments", Some(&mgr), request.clone())
        .await;
    assert_eq!(status, StatusCode::OK, "{first}");
    assert_eq!(first["reason"], "dropped, broken");
    assert_eq!(first["on_hand_before"], before);
    assert_eq!(first["on_hand_after"], before - 1);
    let (status, again) = app
        .post("/api/v1/stock/adjustments", Some(&mgr), request)
        .await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again, first);
    assert_eq!(on_hand(&app, &admin, "SH001", &sku).await, before - 1);
    let moves = movements_of(&app, &admin, &id).await;
    assert_eq!(moves.len(), 1);
    assert_eq!(moves[0]["kind"], "adjustment");
    assert_eq!(moves[0]["reason"], "dropped, broken");
    let (_, audit) = app
        .get(&format!("/api/v1/audit?entity_id={id}"), Some(&admin))
        .await;
    assert_eq!(audit[0]["action"], "stock.adjust", "{audit}");

    // The same id for another kind of operation is a conflict.
    let (status, body) = app
        .post(
            "/api/v1/stock/counts",
            Some(&mgr),
            json!({"id": id, "location_id": "SH001", "lines": [{"sku_id": sku, "counted": 0}]}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(on_hand(&app, &admin, "SH001", &sku).await, before - 1);

    // Removing more than is on hand is refused.
    let (status, body) = app
        .post("/api/v1/stock/adjustments", Some(&mgr),
            json!({"id": new_id(), "location_id": "SH001", "sku_id": sku, "delta": -(before + 1_000), "reason": "lost"}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(on_hand(&app, &admin, "SH001", &sku).await, before - 1);

    assert_consistent(&app, &admin).await;
}
crate::both_backends!(adjustments_need_a_reason, super::adjustments_need_a_reason);

async fn receipts_add_stock_once(app: TestApp) {
    let admin = app.login("admin").await;
    let skus = sku_ids(&app, &admin, 2).await;
    let before: Vec<i64> = vec![
        on_hand(&app, &admin, "WH01", &skus[0]).await,
        on_hand(&app, &admin, "WH01", &skus[1]).await,
    ];
    for qty in [0, -3, 1_000_001] {
        let (status, body) = app
            .post("/api/v1/stock/receipts", Some(&admin),
                json!({"id": new_id(), "location_id": "WH01", "lines": [{"sku_id": skus[0], "qty": 5}, {"sku_id": skus[1], "qty": qty}]}))
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert!(
            body["error"]["fields"]["lines[1].qty"].is_string(),
            "{body}"
        );
    }
    let id = new_id();
    let request = json!({"id": id, "location_id": "WH01", "reason": "PO-1001",
        "lines": [{"sku_id": skus[0], "qty": 24}, {"sku_id": skus[1], "qty": 6}]});
    let (status, first) = app
        .post("/api/v1/stock/receipts", Some(&admin), request.clone())
        .await;
    assert_eq!(status, StatusCode::OK, "{first}");
    let (status, again) = app
        .post("/api/v1/stock/receipts", Some(&admin), request)
        .await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again, first);
    assert_eq!(
        on_hand(&app, &admin, "WH01", &skus[0]).await,
        before[0] + 24
    );
    assert_eq!(on_hand(&app, &admin, "WH01", &skus[1]).await, before[1] + 6);
    let moves = movements_of(&app, &admin, &id).await;
    assert_eq!(moves.len(), 2);
    assert!(moves.iter().all(|m| m["kind"] == "receipt"));
    // A store manager books receipts only at their store.
    let mgr2 = app.login("mgr.sh002").await;
    let (status, body) = app
        .post("/api/v1/stock/receipts", Some(&mgr2), json!({"id": new_id(), "location_id": "WH01", "lines": [{"sku_id": skus[0], "qty": 1}]}))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_consistent(&app, &admin).await;
}
crate::both_backends!(receipts_add_stock_once, super::receipts_add_stock_once);

async fn transfers_ship_then_receive(app: TestApp) {
    let admin = app.login("admin").await;
    let mgr1 = app.login("mgr.sh001").await;
    let mgr2 = app.login("mgr.sh002").await;
    let skus = sku_ids(&app, &admin, 2).await;
    let wh = [
        level(&app, &admin, "WH01", &skus[0]).await,
        level(&app, &admin, "WH01", &skus[1]).await,
    ];
    let sh = [
        on_hand(&app, &admin, "SH001", &skus[0]).await,
        on_hand(&app, &admin, "SH001", &skus[1]).await,
    ];
    assert!(
        wh[0]["available"].as_i64().unwrap() >= 3 && wh[1]["available"].as_i64().unwrap() >= 2,
        "{wh:?}"
    );
    let wh_on_hand: Vec<i64> = wh.iter().map(|l| l["on_hand"].as_i64().unwrap()).collect();

    // Same source and destination.
    let (status, body) = app
        .post("/api/v1/stock/transfers", Some(&admin),
            json!({"id": new_id(), "from_location_id": "WH01", "to_location_id": "WH01", "lines": [{"sku_id": skus[0], "qty": 1}]}))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(
        body["error"]["fields"]["to_location_id"].is_string(),
        "{body}"
    );
    // A store manager cannot ship from the warehouse.
    let (status, body) = app
        .post("/api/v1/stock/transfers", Some(&mgr1),
            json!({"id": new_id(), "from_location_id": "WH01", "to_location_id": "SH001", "lines": [{"sku_id": skus[0], "qty": 1}]}))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");

    let id = new_id();
    let request = json!({"id": id, "from_location_id": "WH01", "to_location_id": "SH001", "note": "weekly top-up",
        "lines": [{"sku_id": skus[0], "qty": 3}, {"sku_id": skus[1], "qty": 2}]});
    let (status, shipped) = app
        .post("/api/v1/stock/transfers", Some(&admin), request.clone())
        .await;
    assert_eq!(status, StatusCode::OK, "{shipped}");
    assert_eq!(shipped["status"], "in_transit");
    assert_eq!(shipped["lines"].as_array().unwrap().len(), 2);
    // The warehouse is down at once; the store unchanged until it receives.
    assert_eq!(
        on_hand(&app, &admin, "WH01", &skus[0]).await,
        wh_on_hand[0] - 3
    );
    assert_eq!(
        on_hand(&app, &admin, "WH01", &skus[1]).await,
        wh_on_hand[1] - 2
    );
    assert_eq!(on_hand(&app, &admin, "SH001", &skus[0]).await, sh[0]);
    assert_eq!(on_hand(&app, &admin, "SH001", &skus[1]).await, sh[1]);
    // Retrying the creation changes nothing.
    let (status, again) = app
        .post("/api/v1/stock/transfers", Some(&admin), request)
        .await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again, shipped);
    assert_eq!(
        on_hand(&app, &admin, "WH01", &skus[0]).await,
        wh_on_hand[0] - 3
    );

    // The destination's manager sees it in transit; another store's manager neither sees nor
    // receives it.
    let (status, list) = app
        .get("/api/v1/stock/transfers?status=in_transit", Some(&mgr1))
        .await;
    assert_eq!(status, StatusCode::OK, "{list}");
    assert!(
        list["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["id"] == id.as_str()),
        "{list}"
    );
    let (status, _) = app
        .get(&format!("/api/v1/stock/transfers/{id}"), Some(&mgr2))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = app
        .get("/api/v1/stock/transfers?location_id=SH001", Some(&mgr2))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) = app
        .post(
            &format!("/api/v1/stock/transfers/{id}/receive"),
            Some(&mgr2),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(on_hand(&app, &admin, "SH001", &skus[0]).await, sh[0]);

    // Received by SH001's manager, twice: once.
    let (status, received) = app
        .post(
            &format!("/api/v1/stock/transfers/{id}/receive"),
            Some(&mgr1),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{received}");
    assert_eq!(received["status"], "received");
    assert_eq!(received["received_by"], "staff:mgr.sh001");
    let (status, twice) = app
        .post(
            &format!("/api/v1/stock/transfers/{id}/receive"),
            Some(&mgr1),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{twice}");
    assert_eq!(twice, received);
    assert_eq!(on_hand(&app, &admin, "SH001", &skus[0]).await, sh[0] + 3);
    assert_eq!(on_hand(&app, &admin, "SH001", &skus[1]).await, sh[1] + 2);
    assert_eq!(
        on_hand(&app, &admin, "WH01", &skus[0]).await,
        wh_on_hand[0] - 3
    );
    let moves = movements_of(&app, &admin, &id).await;
    assert_eq!(
        moves.iter().filter(|m| m["kind"] == "transfer_out").count(),
        2,
        "{moves:?}"
    );
    assert_eq!(
        moves.iter().filter(|m| m["kind"] == "transfer_in").count(),
        2,
        "{moves:?}"
    );

    let (status, got) = app
        .get(&format!("/api/v1/stock/transfers/{id}"), Some(&mgr1))
        .await;
    assert_eq!(status, StatusCode::OK, "{got}");
    assert_eq!(got, received);
    let (status, list) = app
        .get(
            "/api/v1/stock/transfers?location_id=WH01&status=received",
            Some(&admin),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{list}");
    assert!(
        list["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["id"] == id.as_str()),
        "{list}"
    );
    let (status, _) = app
        .get(
            &format!("/api/v1/stock/transfers/{}", new_id()),
            Some(&admin),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    assert_consistent(&app, &admin).await;
}
crate::both_backends!(
    transfers_ship_then_receive,
    super::transfers_ship_then_receive
);

async fn transfer_beyond_available_changes_nothing(app: TestApp) {
    let admin = app.login("admin").await;
    let skus = sku_ids(&app, &admin, 2).await;
    let a = level(&app, &admin, "WH01", &skus[0]).await;
    let b = level(&app, &admin, "WH01", &skus[1]).await;
    let too_many = b["available"].as_i64().unwrap().max(0) + 1;
    let id = new_id();
    let (status, body) = app
        .post(
            "/api/v1/stock/transfers",
            Some(&admin),
            json!({"id": id, "from_location_id": "WH01", "to_location_id": "SH002",
                "lines": [{"sku_id": skus[0], "qty": 1}, {"sku_id": skus[1], "qty": too_many}]}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "out_of_stock");
    assert_eq!(level(&app, &admin, "WH01", &skus[0]).await, a);
    assert_eq!(level(&app, &admin, "WH01", &skus[1]).await, b);
    let (status, _) = app
        .get(&format!("/api/v1/stock/transfers/{id}"), Some(&admin))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(movements_of(&app, &admin, &id).await.is_empty());
    // Unknown destination, bad quantity.
    let (status, body) = app
        .post("/api/v1/stock/transfers", Some(&admin),
            json!({"id": new_id(), "from_location_id": "WH01", "to_location_id": "ZZ999", "lines": [{"sku_id": skus[0], "qty": 1}]}))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(
        body["error"]["fields"]["to_location_id"].is_string(),
        "{body}"
    );
    let (status, body) = app
        .post("/api/v1/stock/transfers", Some(&admin),
            json!({"id": new_id(), "from_location_id": "WH01", "to_location_id": "SH002", "lines": [{"sku_id": skus[0], "qty": 0}]}))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(level(&app, &admin, "WH01", &skus[0]).await, a);
    assert_consistent(&app, &admin).await;
}
crate::both_backends!(
    transfer_beyond_available_changes_nothing,
    super::transfer_beyond_available_changes_nothing
);

async fn permissions_by_role_and_store(app: TestApp) {
    let admin = app.login("admin").await;
    let mgr1 = app.login("mgr.sh001").await;
    let mgr2 = app.login("mgr.sh002").await;
    let cashier = app.login("cashier1.sh001").await;
    let sku = sku_ids(&app, &admin, 1).await.remove(0);
    let before = on_hand(&app, &admin, "SH001", &sku).await;

    let (status, body) = app
        .post("/api/v1/stock/adjustments", Some(&mgr2),
            json!({"id": new_id(), "location_id": "SH001", "sku_id": sku, "delta": -1, "reason": "damaged"}))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, body) = app
        .post("/api/v1/stock/counts", Some(&cashier),
            json!({"id": new_id(), "location_id": "SH001", "lines": [{"sku_id": sku, "counted": 0}]}))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, body) = app
        .post("/api/v1/stock/adjustments", Some(&cashier),
            json!({"id": new_id(), "location_id": "SH001", "sku_id": sku, "delta": -1, "reason": "damaged"}))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, _) = app
        .post("/api/v1/stock/counts", None, json!({"id": new_id(), "location_id": "SH001", "lines": [{"sku_id": sku, "counted": 0}]}))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = put(
        &app,
        "/api/v1/stock/thresholds",
        &mgr2,
        json!({"location_id": "SH001", "sku_id": sku, "threshold": 3}),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(on_hand(&app, &admin, "SH001", &sku).await, before);

    // Reads: store staff see their own store only (the default); head office any.
    let (status, body) = app.get("/api/v1/stock?limit=3", Some(&cashier)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(
        body["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|l| l["location_id"] == "SH001"),
        "{body}"
    );
    let (status, _) = app
        .get("/api/v1/stock?location_id=SH002", Some(&mgr1))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = app
        .get("/api/v1/stock/movements?location_id=SH002", Some(&mgr1))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = app
        .get("/api/v1/stock/alerts?location_id=SH001", Some(&mgr2))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = app.get("/api/v1/stock", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = app.get("/api/v1/stock/ledger-check", Some(&mgr1)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) = app
        .get("/api/v1/stock?location_id=SH002&limit=2", Some(&admin))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["items"].as_array().unwrap().len(), 2);

    // A registered device reads its own store's stock, not another's.
    let (status, device) = app
        .post(
            "/api/v1/devices",
            Some(&mgr1),
            json!({"id": new_id(), "location_id": "SH001", "kind": "pos", "name": "Lane 9"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{device}");
    let credential = device["credential"].as_str().unwrap();
    let (status, body) = app
        .get(&format!("/api/v1/stock?sku_id={sku}"), Some(credential))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["items"][0]["location_id"], "SH001", "{body}");
    let (status, _) = app
        .get("/api/v1/stock?location_id=SH002", Some(credential))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = app
        .post("/api/v1/stock/counts", Some(credential), json!({"id": new_id(), "location_id": "SH001", "lines": [{"sku_id": sku, "counted": 0}]}))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    assert_consistent(&app, &admin).await;
}
crate::both_backends!(
    permissions_by_role_and_store,
    super::permissions_by_role_and_store
);

async fn availability_lists_every_store(app: TestApp) {
    let admin = app.login("admin").await;
    let mgr = app.login("mgr.sh001").await;
    let sku = sku_ids(&app, &admin, 1).await.remove(0);
    // Make SH001 differ from the others.
    let (status, body) = app
        .post("/api/v1/stock/counts", Some(&mgr), json!({"id": new_id(), "location_id": "SH001", "lines": [{"sku_id": sku, "counted": 9}]}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let (status, body) = app
        .get(&format!("/api/v1/skus/{sku}/availability"), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["sku_id"], sku.as_str());
    let stores = body["stores"].as_array().unwrap();
    let codes: Vec<&str> = stores
        .iter()
        .map(|s| s["location_id"].as_str().unwrap())
        .collect();
    for code in ["SH001", "SH002", "SH003", "HZ001"] {
        assert!(codes.contains(&code), "{code} missing: {body}");
    }
    assert!(
        !codes.contains(&"WH01"),
        "warehouses are not pickup points: {body}"
    );
    for store in stores {
        assert!(!store["name_zh"].as_str().unwrap().is_empty(), "{store}");
        let code = store["location_id"].as_str().unwrap();
        let level = level(&app, &admin, code, &sku).await;
        assert_eq!(
            store["available"],
            level["available"].as_i64().unwrap().max(0),
            "{code}"
        );
    }
    assert_eq!(
        stores.iter().find(|s| s["location_id"] == "SH001").unwrap()["available"],
        9
    );

    let (status, _) = app
        .get(&format!("/api/v1/skus/{}/availability", new_id()), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_consistent(&app, &admin).await;
}
crate::both_backends!(
    availability_lists_every_store,
    super::availability_lists_every_store
);

async fn alerts(app: &TestApp, token: &str) -> (StatusCode, Value) {
    app.get(
        "/api/v1/stock/alerts?location_id=SH001&limit=500",
        Some(token),
    )
    .await
}

async fn alerts_after_counting_down(app: TestApp) {
    let admin = app.login("admin").await;
    let mgr = app.login("mgr.sh001").await;
    let skus = sku_ids(&app, &admin, 2).await;
    let sku = &skus[0];
    let in_alerts = |body: &Value, sku: &str| -> Option<Value> {
        body["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["sku_id"] == sku)
            .cloned()
    };

    let (status, level) = put(
        &app,
        "/api/v1/stock/thresholds",
        &mgr,
        json!({"location_id": "SH001", "sku_id": sku, "threshold": 5}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{level}");
    assert_eq!(level["threshold"], 5);
    let (status, body) = put(
        &app,
        "/api/v1/stock/thresholds",
        &mgr,
        json!({"location_id": "SH001", "sku_id": sku, "threshold": -1}),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");

    let count = |counted: i64| json!({"id": new_id(), "location_id": "SH001", "lines": [{"sku_id": sku, "counted": counted}]});
    let (status, body) = app.post("/api/v1/stock/counts", Some(&mgr), count(6)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = alerts(&app, &mgr).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(in_alerts(&body, sku).is_none(), "6 > 5 is not low: {body}");

    let (status, body) = app.post("/api/v1/stock/counts", Some(&mgr), count(5)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, body) = alerts(&app, &mgr).await;
    let alert = in_alerts(&body, sku).expect("low-stock alert");
    assert_eq!(alert["low"], true);
    assert_eq!(alert["available"], 5);
    assert_eq!(alert["needs_reconciliation"], false);

    // An offline sale drives another SKU negative: flagged for reconciliation.
    let other = &skus[1];
    let current = on_hand(&app, &admin, "SH001", other).await;
    let mut tx = app.state.store.begin().await.unwrap();
    apply_movements(
        &mut tx,
        &[Movement {
            location_id: "SH001",
            sku_id: other.parse().unwrap(),
            kind: MovementKind::Sale,
            on_hand_delta: -(current + 2),
            reserved_delta: 0,
            reason: "offline sale",
            actor: "device:test",
            ref_id: None,
            client_ts: 0,
        }],
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let (_, body) = alerts(&app, &admin).await;
    let alert = in_alerts(&body, other).expect("negative stock alert");
    assert_eq!(alert["on_hand"], -2);
    assert_eq!(alert["needs_reconciliation"], true);
    // Head office sees alerts of every location by default.
    let (status, body) = app
        .get("/api/v1/stock/alerts?limit=500", Some(&admin))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(in_alerts(&body, other).is_some(), "{body}");

    assert_consistent(&app, &admin).await;
}
crate::both_backends!(
    alerts_after_counting_down,
    super::alerts_after_counting_down
);

async fn lists_are_paged(app: TestApp) {
    let admin = app.login("admin").await;
    let mgr = app.login("mgr.sh001").await;
    let (status, first) = app
        .get("/api/v1/stock?location_id=SH001&limit=5", Some(&admin))
        .await;
    assert_eq!(status, StatusCode::OK, "{first}");
    let cursor = first["next_after"].as_str().unwrap().to_owned();
    let (status, second) = app
        .get(
            &format!("/api/v1/stock?location_id=SH001&limit=5&after={cursor}"),
            Some(&admin),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{second}");
    let ids = |page: &Value| -> Vec<String> {
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["sku_id"].as_str().unwrap().to_owned())
            .collect()
    };
    let (a, b) = (ids(&first), ids(&second));
    assert_eq!(b.len(), 5);
    assert!(a.iter().all(|s| !b.contains(s)));
    assert!(a.last().unwrap() < b.first().unwrap());
    for level in first["items"].as_array().unwrap() {
        assert_eq!(
            level["available"].as_i64().unwrap(),
            level["on_hand"].as_i64().unwrap() - level["reserved"].as_i64().unwrap()
        );
    }
    let (status, _) = app.get("/api/v1/stock?limit=0", Some(&admin)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) = app.get("/api/v1/stock?after=garbage", Some(&admin)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

    // Three adjustments, then the ledger newest first, two per page.
    let sku = &a[0];
    for delta in [1, 2, 3] {
        let (status, body) = app
            .post("/api/v1/stock/adjustments", Some(&mgr),
                json!({"id": new_id(), "location_id": "SH001", "sku_id": sku, "delta": delta, "reason": "found"}))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let (status, page1) = app
        .get(
            &format!("/api/v1/stock/movements?sku_id={sku}&limit=2"),
            Some(&mgr),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{page1}");
    let deltas: Vec<i64> = page1["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["on_hand_delta"].as_i64().unwrap())
        .collect();
    assert_eq!(deltas, vec![3, 2]);
    assert!(page1["items"]
        .as_array()
        .unwrap()
        .iter()
        .all(|m| m["location_id"] == "SH001"));
    let cursor = page1["next_after"].as_str().unwrap();
    let (status, page2) = app
        .get(
            &format!("/api/v1/stock/movements?sku_id={sku}&limit=2&after={cursor}"),
            Some(&mgr),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{page2}");
    let items = page2["items"].as_array().unwrap();
    assert_eq!(items[0]["on_hand_delta"], 1);
    assert_eq!(items[1]["kind"], "opening");
    assert_consistent(&app, &admin).await;
}
crate::both_backends!(lists_are_paged, super::lists_are_paged);

/// POSTs `body` to `path` `n` times at once; answers (status, body) of each.
async fn post_concurrently(
    app: &TestApp,
    path: &str,
    token: &str,
    bodies: Vec<Value>,
) -> Vec<(StatusCode, Value)> {
    let mut set = tokio::task::JoinSet::new();
    for body in bodies {
        let request = app
            .client
            .post(format!("{}{path}", app.url))
            .bearer_auth(token)
            .json(&body);
        set.spawn(async move {
            let resp = request.send().await.unwrap();
            let status = resp.status();
            (status, resp.json::<Value>().await.unwrap_or(Value::Null))
        });
    }
    let mut out = Vec::new();
    while let Some(result) = set.join_next().await {
        out.push(result.unwrap());
    }
    out
}

async fn concurrent_retries_and_competing_transfers(app: TestApp) {
    let admin = app.login("admin").await;
    let mgr = app.login("mgr.sh001").await;
    let skus = sku_ids(&app, &admin, 2).await;

    // The same count sent six times at once: applied once, every answer the same.
    let before = on_hand(&app, &admin, "SH001", &skus[0]).await;
    let id = new_id();
    let count = json!({"id": id, "location_id": "SH001", "lines": [{"sku_id": skus[0], "counted": before + 11}]});
    let answers = post_concurrently(&app, "/api/v1/stock/counts", &mgr, vec![count; 6]).await;
    assert!(
        answers
            .iter()
            .all(|(s, b)| *s == StatusCode::OK && *b == answers[0].1),
        "{answers:?}"
    );
    assert_eq!(on_hand(&app, &admin, "SH001", &skus[0]).await, before + 11);
    assert_eq!(movements_of(&app, &admin, &id).await.len(), 1);

    // The same transfer sent four times at once: shipped once.
    let wh = on_hand(&app, &admin, "WH01", &skus[1]).await;
    let id = new_id();
    let transfer = json!({"id": id, "from_location_id": "WH01", "to_location_id": "SH003", "lines": [{"sku_id": skus[1], "qty": 1}]});
    let answers =
        post_concurrently(&app, "/api/v1/stock/transfers", &admin, vec![transfer; 4]).await;
    assert!(
        answers
            .iter()
            .all(|(s, b)| *s == StatusCode::OK && *b == answers[0].1),
        "{answers:?}"
    );
    assert_eq!(on_hand(&app, &admin, "WH01", &skus[1]).await, wh - 1);
    assert_eq!(movements_of(&app, &admin, &id).await.len(), 1);

    // Five different transfers each wanting 40% of what is available: exactly two ship, and
    // the source never goes below zero.
    let (status, body) = app
        .post("/api/v1/stock/counts", Some(&admin), json!({"id": new_id(), "location_id": "WH01", "lines": [{"sku_id": skus[1], "counted": 10}]}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let bodies = (0..5)
        .map(|_| json!({"id": new_id(), "from_location_id": "WH01", "to_location_id": "SH002", "lines": [{"sku_id": skus[1], "qty": 4}]}))
        .collect();
    let answers = post_concurrently(&app, "/api/v1/stock/transfers", &admin, bodies).await;
    let shipped = answers.iter().filter(|(s, _)| *s == StatusCode::OK).count();
    let refused = answers
        .iter()
        .filter(|(s, b)| *s == StatusCode::CONFLICT && b["error"]["code"] == "out_of_stock")
        .count();
    assert_eq!((shipped, refused), (2, 3), "{answers:?}");
    assert_eq!(on_hand(&app, &admin, "WH01", &skus[1]).await, 2);

    assert_consistent(&app, &admin).await;
}
crate::both_backends!(
    concurrent_retries_and_competing_transfers,
    super::concurrent_retries_and_competing_transfers
);

async fn documented_in_openapi(app: TestApp) {
    let (status, doc) = app.get("/api/v1/openapi.json", None).await;
    assert_eq!(status, StatusCode::OK);
    let paths = doc["paths"].as_object().unwrap();
    for path in [
        "/api/v1/stock",
        "/api/v1/stock/movements",
        "/api/v1/skus/{sku_id}/availability",
        "/api/v1/stock/counts",
        "/api/v1/stock/adjustments",
        "/api/v1/stock/receipts",
        "/api/v1/stock/transfers",
        "/api/v1/stock/transfers/{id}",
        "/api/v1/stock/transfers/{id}/receive",
        "/api/v1/stock/alerts",
        "/api/v1/stock/thresholds",
        "/api/v1/stock/ledger-check",
    ] {
        assert!(
            paths.contains_key(path),
            "{path} missing from the OpenAPI document"
        );
    }
    assert!(
        paths["/api/v1/stock/transfers"].get("get").is_some()
            && paths["/api/v1/stock/transfers"].get("post").is_some()
    );
    assert!(paths["/api/v1/stock/thresholds"].get("put").is_some());
}
crate::both_backends!(documented_in_openapi, super::documented_in_openapi);

async fn ledger_check_reports_drift(app: TestApp) {
    let admin = app.login("admin").await;
    let sku = sku_ids(&app, &admin, 1).await.remove(0);
    let before = level(&app, &admin, "SH002", &sku).await;
    assert_consistent(&app, &admin).await;

    // Corrupt the snapshot behind the ledger's back.
    let mut tx = app.state.store.begin().await.unwrap();
    sqlx::query("UPDATE stock SET on_hand = on_hand + 3, reserved = reserved + 1 WHERE location_id = $1 AND sku_id = $2")
        .bind("SH002")
        .bind(&sku)
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();

    let on_hand = before["on_hand"].as_i64().unwrap();
    let reserved = before["reserved"].as_i64().unwrap();
    let mismatches = ledger_mismatches(&app.state.store).await.unwrap();
    assert_eq!(
        mismatches,
        vec![(
            "SH002".to_owned(),
            sku.parse::<Uuid>().unwrap(),
            on_hand + 3,
            on_hand,
            reserved + 1,
            reserved
        )]
    );
    let (status, body) = app.get("/api/v1/stock/ledger-check", Some(&admin)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body.as_array().unwrap().len(), 1, "{body}");
    assert_eq!(body[0]["location_id"], "SH002");
    assert_eq!(body[0]["snapshot_on_hand"], on_hand + 3);
    assert_eq!(body[0]["ledger_on_hand"], on_hand);
    assert_eq!(body[0]["snapshot_reserved"], reserved + 1);
    assert_eq!(body[0]["ledger_reserved"], reserved);

    // Put it back.
    let mut tx = app.state.store.begin().await.unwrap();
    sqlx::query("UPDATE stock SET on_hand = on_hand - 3, reserved = reserved - 1 WHERE location_id = $1 AND sku_id = $2")
        .bind("SH002")
        .bind(&sku)
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_consistent(&app, &admin).await;
}
crate::both_backends!(
    ledger_check_reports_drift,
    super::ledger_check_reports_drift
);
