//! Handheld store operations and fresh-food processes (issue 21), through the PDA's JSON
//! endpoints (`/console/pda/api/…`, staff bearer tokens) on both backends: cycle counts with replayed
//! scans and the manager's approval, receiving a transfer and a supplier delivery with
//! differences, requisitions and head office's allocation, shrink and repacks; bad input
//! (unknown code, negative quantity, above stock) changes nothing, and the stock snapshot always
//! equals its ledger.

use reqwest::StatusCode;
use retail_server::actor::{Role, StaffActor};
use retail_server::storage::stock::ledger_mismatches;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::support::TestApp;

fn new_id() -> String {
    Uuid::now_v7().to_string()
}

/// (sku_id, sku_code, on_hand) of the first `n` SKUs stocked (on hand > 5) at `location`.
async fn stocked(
    app: &TestApp,
    token: &str,
    location: &str,
    n: usize,
) -> Vec<(String, String, i64)> {
    let (status, body) = app
        .get(
            &format!("/api/v1/stock?location_id={location}&limit=100"),
            Some(token),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let out: Vec<_> = body["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["on_hand"].as_i64().unwrap() > 5 && i["reserved"].as_i64().unwrap() == 0)
        .take(n)
        .map(|i| {
            (
                i["sku_id"].as_str().unwrap().to_owned(),
                i["sku_code"].as_str().unwrap().to_owned(),
                i["on_hand"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(out.len(), n, "{n} stocked SKUs at {location}");
    out
}

async fn on_hand(app: &TestApp, token: &str, location: &str, sku: &str) -> i64 {
    let (status, body) = app
        .get(
            &format!("/api/v1/stock?location_id={location}&sku_id={sku}"),
            Some(token),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["items"]
        .as_array()
        .unwrap()
        .first()
        .map(|i| i["on_hand"].as_i64().unwrap())
        .unwrap_or(0)
}

async fn assert_ledger(app: &TestApp) {
    let mismatches = ledger_mismatches(&app.state.store).await.unwrap();
    assert!(mismatches.is_empty(), "snapshot = ledger: {mismatches:?}");
}

fn head_office() -> StaffActor {
    StaffActor {
        id: Uuid::now_v7(),
        username: "admin".into(),
        display_name: "admin".into(),
        role: Role::HeadOfficeAdmin,
        location_id: None,
        must_change_password: false,
        merchant_id: None,
    }
}

async fn cycle_count_replays_scans_once_and_approval_posts_the_variance(app: TestApp) {
    let mgr = app.login("mgr.sh001").await;
    let cashier = app.login("cashier1.sh001").await;
    let other = app.login("mgr.sh002").await;
    let skus = stocked(&app, &mgr, "SH001", 2).await;
    let (sku_a, code_a, book_a) = skus[0].clone();
    let (sku_b, code_b, book_b) = skus[1].clone();

    // A clerk opens a count of one zone; the same id again is the same session.
    let session = new_id();
    let body = json!({"id": session, "store": "SH001", "zone": "A1 冷柜"});
    let (status, first) = app
        .post("/console/pda/api/counts", Some(&cashier), body.clone())
        .await;
    assert_eq!(status, StatusCode::OK, "{first}");
    let (status, again) = app
        .post("/console/pda/api/counts", Some(&cashier), body)
        .await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(first["id"], again["id"]);
    assert_eq!(first["status"], "open");

    // Scans: A 3 + 2, B 1; the first scan replayed twice (a lost answer) adds nothing.
    let scan_url = format!("/console/pda/api/counts/{session}/scans");
    let s1 = json!({"id": new_id(), "code": code_a, "qty": 3});
    for _ in 0..3 {
        let (status, body) = app.post(&scan_url, Some(&cashier), s1.clone()).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let (_, replay) = app.post(&scan_url, Some(&cashier), s1.clone()).await;
    assert_eq!(replay["replayed"], true, "{replay}");
    for (code, qty) in [(&code_a, 2), (&code_b, 1)] {
        let (status, body) = app
            .post(
                &scan_url,
                Some(&cashier),
                json!({"id": new_id(), "code": code, "qty": qty}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["replayed"], false);
    }

    // Bad input: an unknown code, a negative quantity, a scan id that is not UUIDv7, another
    // store's manager: refused, nothing recorded.
    let (status, body) = app
        .post(
            &scan_url,
            Some(&cashier),
            json!({"id": new_id(), "code": "0000000000000", "qty": 1}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(
        body["error"]["fields"]["code"]
            .as_str()
            .unwrap()
            .contains("unknown"),
        "{body}"
    );
    let (status, body) = app
        .post(
            &scan_url,
            Some(&cashier),
            json!({"id": new_id(), "code": code_a, "qty": -4}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body["error"]["fields"]["qty"].is_string(), "{body}");
    let (status, _) = app
        .post(
            &scan_url,
            Some(&cashier),
            json!({"id": Uuid::new_v4(), "code": code_a, "qty": 1}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) = app
        .post(
            &scan_url,
            Some(&other),
            json!({"id": new_id(), "code": code_a, "qty": 1}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // The session: 3 scans, A counted 5, B counted 1, variances against book stock.
    let (status, view) = app
        .get(&format!("/console/pda/api/counts/{session}"), Some(&mgr))
        .await;
    assert_eq!(status, StatusCode::OK, "{view}");
    assert_eq!(view["scans"], 3, "{view}");
    let line = |code: &str| {
        view["lines"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["sku_code"] == code)
            .cloned()
            .unwrap()
    };
    assert_eq!(line(&code_a)["counted"], 5);
    assert_eq!(line(&code_a)["book"], book_a);
    assert_eq!(line(&code_a)["variance"], 5 - book_a);
    assert_eq!(line(&code_b)["variance"], 1 - book_b);

    // A clerk submits but may not approve; the manager approves: on hand becomes the count.
    let (status, body) = app
        .post(
            &format!("/console/pda/api/counts/{session}/submit"),
            Some(&cashier),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "submitted");
    let (status, _) = app
        .post(
            &format!("/console/pda/api/counts/{session}/approve"),
            Some(&cashier),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(
        on_hand(&app, &mgr, "SH001", &sku_a).await,
        book_a,
        "nothing posted yet"
    );
    for _ in 0..2 {
        let (status, body) = app
            .post(
                &format!("/console/pda/api/counts/{session}/approve"),
                Some(&mgr),
                json!({}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["status"], "approved");
    }
    assert_eq!(on_hand(&app, &mgr, "SH001", &sku_a).await, 5);
    assert_eq!(on_hand(&app, &mgr, "SH001", &sku_b).await, 1);
    let (_, moves) = app
        .get(
            &format!("/api/v1/stock/movements?ref_id={session}"),
            Some(&mgr),
        )
        .await;
    assert_eq!(moves["items"].as_array().unwrap().len(), 2, "{moves}");

    // No scans after approval.
    let (status, body) = app
        .post(
            &scan_url,
            Some(&cashier),
            json!({"id": new_id(), "code": code_a, "qty": 1}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "count_closed");
    assert_ledger(&app).await;
}
crate::both_backends!(
    cycle_count_replays_scans_once_and_approval_posts_the_variance,
    cycle_count_replays_scans_once_and_approval_posts_the_variance
);

async fn receiving_records_differences_against_a_transfer_and_a_delivery(app: TestApp) {
    let admin = app.login("admin").await;
    let mgr = app.login("mgr.sh001").await;
    let skus = stocked(&app, &admin, "WH01", 2).await;
    let (sku_a, code_a, _) = skus[0].clone();
    let (sku_b, code_b, _) = skus[1].clone();
    let before_a = on_hand(&app, &admin, "SH001", &sku_a).await;
    let before_b = on_hand(&app, &admin, "SH001", &sku_b).await;

    // Head office ships 4 of A and 2 of B; the store counts 3 of A and 2 of B off the truck.
    let transfer = new_id();
    let (status, body) = app
        .post(
            "/api/v1/stock/transfers",
            Some(&admin),
            json!({"id": transfer, "from_location_id": "WH01", "to_location_id": "SH001",
                   "lines": [{"sku_id": sku_a, "qty": 4}, {"sku_id": sku_b, "qty": 2}]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, open) = app.get("/console/pda/api/receivables", Some(&mgr)).await;
    assert_eq!(status, StatusCode::OK, "{open}");
    assert!(
        open.as_array()
            .unwrap()
            .iter()
            .any(|r| r["source_id"] == transfer.as_str()),
        "{open}"
    );
    let receiving = new_id();
    let req = json!({"id": receiving, "store": "SH001", "source_kind": "transfer", "source_id": transfer,
                     "lines": [{"code": code_a, "qty": 3}, {"code": code_b, "qty": 2}]});
    let (status, got) = app
        .post("/console/pda/api/receivings", Some(&mgr), req.clone())
        .await;
    assert_eq!(status, StatusCode::OK, "{got}");
    let diff = |v: &Value, code: &str| {
        v["lines"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["sku_code"] == code)
            .unwrap()["difference"]
            .as_i64()
            .unwrap()
    };
    assert_eq!(diff(&got, &code_a), -1);
    assert_eq!(diff(&got, &code_b), 0);
    // Replayed: the same answer, nothing added; received again under another id: refused.
    let (status, again) = app
        .post("/console/pda/api/receivings", Some(&mgr), req)
        .await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again["id"], got["id"]);
    let (status, body) = app
        .post(
            "/console/pda/api/receivings",
            Some(&mgr),
            json!({"id": new_id(), "store": "SH001", "source_kind": "transfer", "source_id": transfer, "lines": []}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "already_received");
    assert_eq!(on_hand(&app, &admin, "SH001", &sku_a).await, before_a + 3);
    assert_eq!(on_hand(&app, &admin, "SH001", &sku_b).await, before_b + 2);

    // A supplier delivery expected with 10 of A; 12 arrive and an unknown code is refused.
    let delivery = retail_server::app::store_ops::create_delivery(
        &app.state,
        &head_office(),
        &retail_server::app::store_ops::DeliveryRequest {
            id: Uuid::now_v7(),
            store: "SH001".into(),
            supplier: "江南蔬果".into(),
            reference: "DN-001".into(),
            lines: vec![retail_server::app::store_ops::CodeLine {
                code: code_a.clone(),
                qty: 10,
            }],
        },
    )
    .await
    .unwrap();
    let bad = json!({"id": new_id(), "store": "SH001", "source_kind": "delivery", "source_id": delivery.source_id,
                     "lines": [{"code": "nope-nope", "qty": 1}]});
    let (status, body) = app
        .post("/console/pda/api/receivings", Some(&mgr), bad)
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (status, got) = app
        .post(
            "/console/pda/api/receivings",
            Some(&mgr),
            json!({"id": new_id(), "store": "SH001", "source_kind": "delivery", "source_id": delivery.source_id,
                   "lines": [{"code": code_a, "qty": 12}]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{got}");
    assert_eq!(diff(&got, &code_a), 2);
    assert_eq!(on_hand(&app, &admin, "SH001", &sku_a).await, before_a + 15);
    // The differences are kept for the console.
    let list = retail_server::storage::store_ops::list_receivings(&app.state.store, Some("SH001"))
        .await
        .unwrap();
    assert_eq!(list.iter().filter(|r| r.has_differences()).count(), 2);
    assert_ledger(&app).await;
}
crate::both_backends!(
    receiving_records_differences_against_a_transfer_and_a_delivery,
    receiving_records_differences_against_a_transfer_and_a_delivery
);

async fn requisitions_above_stock_are_refused_and_allocation_ships_a_transfer(app: TestApp) {
    let admin = app.login("admin").await;
    let mgr = app.login("mgr.sh001").await;
    let skus = stocked(&app, &admin, "WH01", 1).await;
    let (sku, code, wh_stock) = skus[0].clone();

    // More than the warehouse has: refused with the quantities, nothing stored.
    let too_many = new_id();
    let (status, body) = app
        .post(
            "/console/pda/api/requisitions",
            Some(&mgr),
            json!({"id": too_many, "store": "SH001", "warehouse": "WH01", "lines": [{"code": code, "qty": wh_stock + 1}]}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "insufficient_stock");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains(&format!("only {wh_stock}")),
        "{body}"
    );
    let all = retail_server::storage::store_ops::list_requisitions(&app.state.store, None, None)
        .await
        .unwrap();
    assert!(all.is_empty(), "nothing stored");
    // Not a warehouse; a negative quantity.
    let (status, _) = app
        .post(
            "/console/pda/api/requisitions",
            Some(&mgr),
            json!({"id": new_id(), "store": "SH001", "warehouse": "SH002", "lines": [{"code": code, "qty": 1}]}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) = app
        .post(
            "/console/pda/api/requisitions",
            Some(&mgr),
            json!({"id": new_id(), "store": "SH001", "warehouse": "WH01", "lines": [{"code": code, "qty": -1}]}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

    // A fair requisition, filed twice (a replay): one requisition.
    let req_id = new_id();
    let req = json!({"id": req_id, "store": "SH001", "warehouse": "WH01", "lines": [{"code": code, "qty": 5}], "note": "周末备货"});
    for _ in 0..2 {
        let (status, body) = app
            .post("/console/pda/api/requisitions", Some(&mgr), req.clone())
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["status"], "requested");
    }
    let all = retail_server::storage::store_ops::list_requisitions(&app.state.store, None, None)
        .await
        .unwrap();
    assert_eq!(all.len(), 1);
    let rid = all[0].id;
    let sku_id: Uuid = sku.parse().unwrap();

    // The warehouse sells down meanwhile: allocating more than it now has is refused.
    let (status, body) = app
        .post(
            "/api/v1/stock/adjustments",
            Some(&admin),
            json!({"id": new_id(), "location_id": "WH01", "sku_id": sku, "delta": -(wh_stock - 2), "reason": "damage"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let staff = head_office();
    let err = retail_server::app::store_ops::allocate(
        &app.state,
        &staff,
        &retail_server::storage::store_ops::AllocateInput {
            requisition_id: rid,
            transfer_id: Uuid::now_v7(),
            lines: vec![(sku_id, 5)],
        },
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("only 2"), "{err}");
    assert_eq!(on_hand(&app, &admin, "WH01", &sku).await, 2);
    // A store manager may not allocate.
    let store_mgr = StaffActor {
        role: Role::StoreManager,
        location_id: Some("SH001".into()),
        ..head_office()
    };
    assert!(retail_server::app::store_ops::allocate(
        &app.state,
        &store_mgr,
        &retail_server::storage::store_ops::AllocateInput {
            requisition_id: rid,
            transfer_id: Uuid::now_v7(),
            lines: vec![(sku_id, 1)],
        },
    )
    .await
    .is_err());

    // Allocating 2: a transfer in transit to the store, which the store then receives.
    let transfer_id = Uuid::now_v7();
    let allocated = retail_server::app::store_ops::allocate(
        &app.state,
        &staff,
        &retail_server::storage::store_ops::AllocateInput {
            requisition_id: rid,
            transfer_id,
            lines: vec![(sku_id, 2)],
        },
    )
    .await
    .unwrap();
    assert_eq!(allocated.status, "allocated");
    assert_eq!(allocated.lines[0].allocated, 2);
    assert_eq!(allocated.transfer_id, Some(transfer_id));
    assert_eq!(on_hand(&app, &admin, "WH01", &sku).await, 0);
    let (status, t) = app
        .get(
            &format!("/api/v1/stock/transfers/{transfer_id}"),
            Some(&admin),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{t}");
    assert_eq!(t["status"], "in_transit");
    assert_ledger(&app).await;
}
crate::both_backends!(
    requisitions_above_stock_are_refused_and_allocation_ships_a_transfer,
    requisitions_above_stock_are_refused_and_allocation_ships_a_transfer
);

async fn shrink_and_repacks_move_stock_once(app: TestApp) {
    let admin = app.login("admin").await;
    let clerk = app.login("cashier1.sh001").await;
    let skus = stocked(&app, &admin, "SH001", 3).await;
    let (sku_a, code_a, stock_a) = skus[0].clone();
    let (sku_b, code_b, stock_b) = skus[1].clone();
    let (sku_c, code_c, stock_c) = skus[2].clone();

    // Bad input: an unknown reason, zero, more than on hand, a photo never uploaded.
    for (body, status) in [
        (
            json!({"id": new_id(), "store": "SH001", "code": code_a, "qty": 1, "reason": "lost"}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            json!({"id": new_id(), "store": "SH001", "code": code_a, "qty": 0, "reason": "expired"}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            json!({"id": new_id(), "store": "SH001", "code": code_a, "qty": stock_a + 1, "reason": "expired"}),
            StatusCode::CONFLICT,
        ),
        (
            json!({"id": new_id(), "store": "SH001", "code": code_a, "qty": 1, "reason": "expired", "photos": ["x.jpg"]}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            json!({"id": new_id(), "store": "SH002", "code": code_a, "qty": 1, "reason": "expired"}),
            StatusCode::FORBIDDEN,
        ),
    ] {
        let (got, answer) = app
            .post("/console/pda/api/shrink", Some(&clerk), body)
            .await;
        assert_eq!(got, status, "{answer}");
    }
    assert_eq!(on_hand(&app, &admin, "SH001", &sku_a).await, stock_a);

    // Two units expired, sent twice: written off once.
    let shrink = json!({"id": new_id(), "store": "SH001", "code": code_a, "qty": 2, "reason": "expired", "note": "临期"});
    for _ in 0..2 {
        let (status, body) = app
            .post("/console/pda/api/shrink", Some(&clerk), shrink.clone())
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["reason"], "expired");
    }
    assert_eq!(on_hand(&app, &admin, "SH001", &sku_a).await, stock_a - 2);
    let rows = retail_server::storage::shrink::report(&app.state.store, Some("SH001"), 0, i64::MAX)
        .await
        .unwrap();
    assert_eq!(rows.iter().map(|r| r.qty).sum::<i64>(), 2);
    assert_eq!(rows[0].by_reason.get("expired"), Some(&2));
    assert!(rows[0].value_fen > 0);

    // A split of more than on hand: refused, nothing moved.
    let (status, body) = app
        .post(
            "/console/pda/api/repacks",
            Some(&clerk),
            json!({"id": new_id(), "store": "SH001", "inputs": [{"code": code_b, "qty": stock_b + 1}], "outputs": [{"code": code_c, "qty": 12}]}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "insufficient_stock");
    assert_eq!(on_hand(&app, &admin, "SH001", &sku_c).await, stock_c);
    // The same SKU on both sides: refused.
    let (status, _) = app
        .post(
            "/console/pda/api/repacks",
            Some(&clerk),
            json!({"id": new_id(), "store": "SH001", "inputs": [{"code": code_b, "qty": 1}], "outputs": [{"code": code_b, "qty": 1}]}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    // 1 case of B into 12 units of C, replayed: moved once, in one transaction.
    let repack = json!({"id": new_id(), "store": "SH001", "inputs": [{"code": code_b, "qty": 1}], "outputs": [{"code": code_c, "qty": 12}], "note": "拆箱"});
    for _ in 0..2 {
        let (status, body) = app
            .post("/console/pda/api/repacks", Some(&clerk), repack.clone())
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["outputs"][0]["qty"], 12);
    }
    assert_eq!(on_hand(&app, &admin, "SH001", &sku_b).await, stock_b - 1);
    assert_eq!(on_hand(&app, &admin, "SH001", &sku_c).await, stock_c + 12);

    // Price check: the engine's price for one unit.
    let (status, price) = app
        .get(
            &format!("/console/pda/api/price?code={code_c}"),
            Some(&clerk),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{price}");
    assert_eq!(price["sku_id"], sku_c.as_str());
    assert!(price["price"].as_str().unwrap().contains('.'), "{price}");
    assert_eq!(price["on_hand"], stock_c + 12);
    let (status, _) = app
        .get("/console/pda/api/price?code=nope-nope", Some(&clerk))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    // No credentials at all.
    let (status, _) = app
        .get(&format!("/console/pda/api/price?code={code_c}"), None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_ledger(&app).await;
}
crate::both_backends!(
    shrink_and_repacks_move_stock_once,
    shrink_and_repacks_move_stock_once
);
